"""One small set of argument validators, shared by every public entry point.

Each public method checks all of its arguments once, at the top, with these
functions, so a wrong argument fails early with a message that names the
argument, shows the value it got, and says what is accepted:

    maxiter = arguments.positive_int("maxiter", maxiter, allow_none=True)
    reml = arguments.boolean("reml", reml)
    alpha = arguments.probability("alpha", alpha)

Wrong *type* raises TypeError; right type but wrong *value* raises ValueError.
Validators return the cleaned value (a Python int, bool, float or a fresh
float array), never a view of the caller's data, so nothing downstream can
mutate what the caller passed.
"""

import numbers

import numpy as np


def _show(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def boolean(name, value):
    """True/False (numpy bools too). Strings like "no" and the numbers 0/1 are refused."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {_show(value)} of type {type(value).__name__}")


def integer(name, value, minimum=None, allow_none=False):
    """An integer (numpy ints too, not bools, not 2.5) >= minimum, or None when allowed."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        accepted = "an integer" + (" or None" if allow_none else "")
        raise TypeError(f"{name} must be {accepted}, got {_show(value)} of type {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def positive_int(name, value, allow_none=False):
    """An integer >= 1 (an iteration count, a number of replicates)."""
    return integer(name, value, minimum=1, allow_none=allow_none)


def real(name, value, minimum=None, maximum=None, open_interval=False, allow_none=False):
    """A finite real number in [minimum, maximum] (open ends when open_interval)."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_show(value)} of type {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    lo_bad = minimum is not None and (value <= minimum if open_interval else value < minimum)
    hi_bad = maximum is not None and (value >= maximum if open_interval else value > maximum)
    if lo_bad or hi_bad:
        lo = "(" if open_interval else "["
        hi = ")" if open_interval else "]"
        rng = f"{lo}{'-inf' if minimum is None else minimum}, {'inf' if maximum is None else maximum}{hi}"
        raise ValueError(f"{name} must be in {rng}, got {value}")
    return value


def probability(name, value):
    """A level such as alpha in the open interval (0, 1); alpha=95 or alpha=0 is refused."""
    return real(name, value, minimum=0.0, maximum=1.0, open_interval=True)


def choice(name, value, accepted):
    """One of a fixed set of strings."""
    if not isinstance(value, str) or value not in accepted:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, accepted))}; got {_show(value)}")
    return value


def _real_array(name, value):
    """np.asarray(value), refusing complex numbers, strings and objects with a TypeError."""
    arr = np.asarray(value)
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be real, got complex values")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype} ({_show(value)})")
    return arr


def float_vector(name, value, length=None, finite=True):
    """A 1-d float array (a fresh copy) of the given length; complex, strings and NaN refused."""
    arr = _real_array(name, value)
    if arr.ndim > 1 and sum(s > 1 for s in arr.shape) > 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    arr = np.array(arr, dtype=float).ravel()
    if length is not None and arr.size != length:
        raise ValueError(f"{name} must have length {length}, got {arr.size}")
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {_show(arr.tolist())}")
    return arr


def float_matrix(name, value, shape=None, finite=True):
    """A 2-d float array (a fresh copy) of the given shape."""
    arr = _real_array(name, value)
    if arr.ndim == 1 and shape is not None and shape[0] == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-d array, got shape {arr.shape}")
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {arr.shape}")
    arr = np.array(arr, dtype=float)
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr
