"""exog_vc as statsmodels' VCSpec, and the dict-of-dicts form statsmodels deprecates."""

import warnings

import numpy as np
import pytest

from refimpl import MixedLM, VCSpec
from refimpl.inputs import DeprecatedVCFormatWarning


def _data(seed=0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(6), 8)
    c = rng.permutation(np.tile(np.arange(4), 12))
    y = rng.normal(size=6)[g] + rng.normal(size=(6, 4))[g, c] + rng.normal(size=48)
    mats = [np.eye(4)[c[g == k]] for k in range(6)]
    return y, np.ones((48, 1)), g, mats


def test_vcspec_and_dict_give_the_same_model():
    y, X, g, mats = _data()
    spec = VCSpec(["c"], [[["0", "1", "2", "3"]] * 6], [mats])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = MixedLM(y, X, g, exog_vc=spec)
    with pytest.warns(DeprecatedVCFormatWarning, match="deprecated variance components format"):
        b = MixedLM(y, X, g, exog_vc={"c": dict(enumerate(mats))})
    assert np.array_equal(a.design.Z, b.design.Z)
    assert a.design.vc_column_names == b.design.vc_column_names
    theta = np.array([0.7])          # no exog_re: the only parameter is the component
    assert a.loglike_profile(theta) == b.loglike_profile(theta)


def test_statsmodels_vcspec_is_accepted():
    from statsmodels.regression.mixed_linear_model import VCSpec as SmVCSpec

    y, X, g, mats = _data(1)
    m = MixedLM(y, X, g, exog_vc=SmVCSpec(["c"], [[["0", "1", "2", "3"]] * 6], [mats]))
    assert m.k_vc == 1 and m.vc_names == ["c"]


def test_vcspec_of_the_wrong_shape_is_refused():
    y, X, g, mats = _data()
    with pytest.raises(ValueError, match="6 groups"):
        MixedLM(y, X, g, exog_vc=VCSpec(["c"], [[["0", "1", "2", "3"]] * 5], [mats[:5]]))
    with pytest.raises(ValueError, match="one of each"):
        MixedLM(y, X, g, exog_vc=VCSpec(["c", "d"], [[["0"]] * 6], [mats]))
