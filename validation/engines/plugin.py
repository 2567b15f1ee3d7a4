"""User adapters: any function ``f(case) -> EngineResult | dict``.

Named on the command line as ``package.module:function`` (the engine is then
called by that string) or ``label=package.module:function`` (called
``label``).  The contract is in ``validation/CONTRACT.md``; the short version:
return a dict with ``fe_params``, ``cov_re``, ``vcomp``, ``scale``, ``llf`` (and
optionally ``bse_fe``, ``converged``, ``random_effects``, ``warnings``) using
statsmodels' names and units.  Raising, hanging past the timeout or returning
NaN turns that one row into a failed row; the run goes on.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable

from ..cases import Case
from ..record import EngineResult, from_any


def parse(spec: str) -> tuple[str, str]:
    """(engine name, 'module:function') from ``[label=]module:function``."""
    label, _, target = spec.rpartition("=")
    target = target.strip()
    if ":" not in target:
        raise ValueError(f"plug-in {spec!r} must look like package.module:function")
    return (label.strip() or target), target


def load_adapter(target: str) -> Callable[[Case], object]:
    """Import ``package.module:function`` and return the function."""
    mod_name, _, attr = target.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ImportError(f"cannot import plug-in module {mod_name!r} ({exc}); is it "
                          "installed or on PYTHONPATH?") from None
    fn = mod
    for part in attr.split("."):
        try:
            fn = getattr(fn, part)
        except AttributeError:
            raise AttributeError(f"plug-in module {mod_name!r} has no {attr!r}") from None
    if not callable(fn):
        raise TypeError(f"plug-in {target!r} is not callable")
    return fn


class PluginEngine:
    kind = "plugin"

    def __init__(self, spec: str):
        self.name, self.target = parse(spec)
        self.spec = spec

    def fit(self, case: Case) -> EngineResult:
        fn = load_adapter(self.target)
        t0 = time.perf_counter()
        out = fn(case)
        elapsed = time.perf_counter() - t0
        res = from_any(out, self.name, case.name)
        if res.time_s is None:
            res.time_s = elapsed
        res.extra.setdefault("adapter", self.target)
        return res
