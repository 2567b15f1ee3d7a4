"""The shared argument validators (refimpl/arguments.py)."""

import numpy as np
import pytest

from refimpl import arguments as A


def test_boolean():
    assert A.boolean("reml", np.bool_(True)) is True
    for bad in ("no", 1, 0, None):
        with pytest.raises(TypeError, match="reml"):
            A.boolean("reml", bad)


def test_integer():
    assert A.positive_int("maxiter", np.int64(3)) == 3
    assert A.positive_int("maxiter", None, allow_none=True) is None
    with pytest.raises(TypeError, match="maxiter.*2.5"):
        A.positive_int("maxiter", 2.5)
    with pytest.raises(TypeError, match="maxiter"):
        A.positive_int("maxiter", True)
    with pytest.raises(ValueError, match="maxiter.*>= 1.*0"):
        A.positive_int("maxiter", 0)


def test_probability():
    assert A.probability("alpha", 0.05) == 0.05
    for bad in (95, 0, 1, float("nan")):
        with pytest.raises(ValueError, match="alpha"):
            A.probability("alpha", bad)
    with pytest.raises(TypeError, match="alpha"):
        A.probability("alpha", "0.05")


def test_vectors_copy_and_refuse():
    x = np.array([1.0, 2.0])
    y = A.float_vector("start_params", x, length=2)
    y[0] = 9
    assert x[0] == 1.0
    with pytest.raises(ValueError, match="start_params.*length 3"):
        A.float_vector("start_params", x, length=3)
    with pytest.raises(ValueError, match="finite"):
        A.float_vector("free", [1.0, np.nan])
    with pytest.raises(TypeError, match="complex"):
        A.float_vector("exog", [1j])
    with pytest.raises(TypeError, match="numeric"):
        A.float_vector("exog", ["a"])
    with pytest.raises(ValueError, match="shape"):
        A.float_matrix("cov_re", np.eye(2), shape=(3, 3))
