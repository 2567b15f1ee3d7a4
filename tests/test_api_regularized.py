"""fit_regularized: statsmodels' L1 coordinate descent, checked against statsmodels and at alpha=0."""

import warnings

import numpy as np
import pytest

from refimpl import MixedLM

sm_mlm = pytest.importorskip("statsmodels.regression.mixed_linear_model")


def _data():
    np.random.seed(3453)                      # statsmodels' test_regularized data
    exog = np.random.normal(size=(400, 5))
    groups = np.kron(np.arange(100), np.ones(4))
    endog = exog[:, 0] - exog[:, 2] + np.kron(np.random.normal(size=100), np.ones(4)) \
        + np.random.normal(size=400)
    return endog, exog, groups


def test_alpha_zero_is_the_unpenalised_fit():
    y, X, g = _data()
    m = MixedLM(y, X, g)
    r0 = m.fit_regularized(alpha=0.0)
    r = m.fit()
    np.testing.assert_allclose(np.asarray(r0.fe_params), np.asarray(r.fe_params), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("alpha", [1.0, 10.0, 40.0])
def test_l1_matches_statsmodels(alpha):
    y, X, g = _data()
    ours = MixedLM(y, X, g).fit_regularized(alpha=alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = sm_mlm.MixedLM(y, X, g).fit_regularized(alpha=alpha)
    # statsmodels' own test tolerance for its regularized fits is a smoke test; its
    # unpenalised optimum differs from refimpl's in the 4th digit, so 1e-3 here.
    np.testing.assert_allclose(np.asarray(ours.fe_params), np.asarray(theirs.fe_params), atol=1e-3)
    assert np.array_equal(np.asarray(ours.fe_params) == 0, np.asarray(theirs.fe_params) == 0)


def test_smooth_penalty_objects_as_statsmodels():
    """method=<penalty>: fit(fe_pen=penalty with alpha); alpha=0 is the unpenalised fit, and
    the caller's penalty object is not changed."""
    from statsmodels.base import _penalties as penalties

    y, X, g = _data()
    m = MixedLM(y, X, g)
    pen = penalties.L2()
    before = getattr(pen, "alpha", None)
    r0 = m.fit_regularized(method=pen, alpha=0.0)
    assert getattr(pen, "alpha", None) is before
    assert r0.converged, r0.convergence.reason
    assert r0.llf == pytest.approx(m.fit().llf, abs=1e-7)
    r = m.fit_regularized(method=penalties.L2(), alpha=10.0)
    assert r.converged and "penalised" in r.convergence.reason
    assert r.llf < r0.llf                      # the penalty moves theta away from the optimum
    with pytest.raises(ValueError, match="method must be 'l1'"):
        m.fit_regularized(method="l2")
