"""refimpl.parameters: the three parameterizations, their packing order and Jacobians.

Round trips and packing are algebraic identities (tier IDENTITY). The
Jacobians are checked against central differences: theta is quadratic in phi,
so the differences are exact up to rounding and the FD tier is generous.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.gradcheck import check_hessian
from refimpl.linalg import psd_cholesky
from refimpl.parameters import (
    MixedLMParams, hessian_sqrt_to_profile, jacobian_profile_to_user, jacobian_sqrt_to_profile,
    pack_profile, pack_sqrt, profile_to_sqrt, profile_to_user, sqrt_to_profile, unpack_profile,
    unpack_sqrt, user_to_profile)
from refimpl.tolerances import FD, IDENTITY


def random_sqrt(rng, k_re, k_vc, positive_diagonal=True):
    """(L, s_vc): L lower triangular, diagonal in [0.2, 2] (sign random unless positive)."""
    L = np.tril(rng.standard_normal((k_re, k_re)))
    d = rng.uniform(0.2, 2.0, k_re)
    if not positive_diagonal:
        d *= rng.choice([-1.0, 1.0], k_re)
    L[np.diag_indices(k_re)] = d
    return L, rng.uniform(0.0, 2.0, k_vc)


sizes = st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 2 ** 32 - 1)).filter(
    lambda t: t[0] + t[1] > 0)


def assert_close(a, b, tol=IDENTITY):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape
    scale = max(np.max(np.abs(b), initial=0.0), 1.0)
    assert np.max(np.abs(a - b), initial=0.0) <= tol * scale, (a, b)


# --------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------

@given(sizes)
def test_round_trip_sqrt_profile_sqrt(s):
    k_re, k_vc, seed = s
    L, s_vc = random_sqrt(np.random.default_rng(seed), k_re, k_vc)
    phi = pack_sqrt(L, s_vc)
    theta = sqrt_to_profile(phi, k_re)
    assert_close(profile_to_sqrt(theta, k_re), phi)
    Psi_re, psi_vc = unpack_profile(theta, k_re)
    assert_close(Psi_re, L @ L.T)
    assert_close(psi_vc, s_vc ** 2)


@given(sizes, st.floats(1e-3, 1e3))
def test_round_trip_profile_user_profile(s, scale):
    k_re, k_vc, seed = s
    L, s_vc = random_sqrt(np.random.default_rng(seed), k_re, k_vc)
    theta = sqrt_to_profile(pack_sqrt(L, s_vc), k_re)
    cov_re, vcomp = profile_to_user(theta, k_re, scale)
    assert_close(user_to_profile(cov_re, vcomp, scale), theta)
    p = MixedLMParams.from_user(np.zeros(2), cov_re, vcomp, scale)
    assert_close(p.profile(), theta)
    assert_close(MixedLMParams.from_sqrt(p.sqrt(), k_re).profile(), theta)
    assert_close(p.cov_re_user, cov_re)          # statsmodels' cov_re is the profile one
    assert_close(p.vcomp_user, vcomp)
    assert_close(p.get_packed(use_sqrt=False), theta)


def test_sqrt_with_negative_diagonal_maps_to_the_same_profile_point():
    # phi is not unique (columns of L may flip sign); the profile point is.
    rng = np.random.default_rng(3)
    L, s_vc = random_sqrt(rng, 3, 2)
    flip = L * np.array([1.0, -1.0, 1.0])             # flip column 1
    t1 = sqrt_to_profile(pack_sqrt(L, s_vc), 3)
    t2 = sqrt_to_profile(pack_sqrt(flip, -s_vc), 3)
    assert_close(t1, t2)
    assert_close(profile_to_sqrt(t2, 3), pack_sqrt(L, s_vc))   # canonical: positive diagonal


def test_unpack_profile_symmetrizes():
    Psi = np.array([[2.0, 0.5, -0.1], [0.5, 1.0, 0.3], [-0.1, 0.3, 4.0]])
    theta = pack_profile(Psi, [1.5])
    assert theta.tolist() == [2.0, 0.5, 1.0, -0.1, 0.3, 4.0, 1.5]   # row by row, lower triangle
    back, vc = unpack_profile(theta, 3)
    assert np.array_equal(back, Psi) and vc.tolist() == [1.5]
    L, s = unpack_sqrt(pack_sqrt(np.tril(Psi), [2.0]), 3)
    assert np.array_equal(L, np.tril(Psi)) and s.tolist() == [2.0]


# --------------------------------------------------------------------------
# Packing order is statsmodels' order
# --------------------------------------------------------------------------

@given(sizes)
def test_packing_order_matches_statsmodels(s):
    from statsmodels.regression.mixed_linear_model import MixedLMParams as SMParams

    k_re, k_vc, seed = s
    L, s_vc = random_sqrt(np.random.default_rng(seed), k_re, k_vc)
    Psi_re = L @ L.T
    psi_vc = s_vc ** 2 + 0.1          # statsmodels' sqrt of vcomp: keep it positive
    sm = SMParams.from_components(fe_params=np.array([1.0, 2.0]), cov_re=Psi_re, vcomp=psi_vc)
    ours = MixedLMParams(Psi_re, psi_vc)
    assert_close(ours.profile(), sm.get_packed(use_sqrt=False, has_fe=False))
    assert_close(ours.sqrt(), sm.get_packed(use_sqrt=True, has_fe=False))
    back = SMParams.from_packed(ours.sqrt(), k_fe=0, k_re=k_re, use_sqrt=True, has_fe=False)
    assert_close(back.cov_re, Psi_re)
    assert_close(back.vcomp, psi_vc)


# --------------------------------------------------------------------------
# Jacobians
# --------------------------------------------------------------------------

@given(sizes)
def test_jacobian_sqrt_to_profile_vs_finite_differences(s):
    k_re, k_vc, seed = s
    L, s_vc = random_sqrt(np.random.default_rng(seed), k_re, k_vc, positive_diagonal=False)
    phi = pack_sqrt(L, s_vc)
    res = check_hessian(lambda p: sqrt_to_profile(p, k_re),
                        lambda p: jacobian_sqrt_to_profile(p, k_re), phi, tol=FD, seed=seed)
    assert res.passed, str(res)


@given(sizes)
def test_hessian_sqrt_to_profile_vs_finite_differences_of_the_jacobian(s):
    k_re, k_vc, seed = s
    L, s_vc = random_sqrt(np.random.default_rng(seed), k_re, k_vc, positive_diagonal=False)
    phi = pack_sqrt(L, s_vc)
    D2 = hessian_sqrt_to_profile(phi, k_re)
    K = len(phi)
    h = 1e-4     # J is linear in phi: central differences are exact but for rounding
    for j in range(K):
        e = np.zeros(K)
        e[j] = h
        dJ = (jacobian_sqrt_to_profile(phi + e, k_re) - jacobian_sqrt_to_profile(phi - e, k_re)) / (2 * h)
        assert_close(D2[:, :, j], dJ, tol=FD)
    assert_close(D2, np.swapaxes(D2, 1, 2))          # symmetric in (i, j)


def test_jacobian_profile_to_user():
    theta, scale = np.array([2.0, 0.3, 1.0, 0.5]), 1.7
    J = jacobian_profile_to_user(theta, scale)
    h = 1e-5
    x = np.append(theta, scale)
    f = lambda x: x[:-1] * x[-1]                                    # noqa: E731
    num = np.column_stack([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))])
    assert_close(J, num, tol=FD)


# --------------------------------------------------------------------------
# The boundary: singular but PSD matrices
# --------------------------------------------------------------------------

@pytest.mark.parametrize("A", [
    np.zeros((3, 3)),
    np.diag([1.0, 0.0, 2.0]),
    np.outer([1.0, 2.0, -1.0], [1.0, 2.0, -1.0]),                  # rank 1
    np.array([[4.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),  # rank 1, zero last row
    (lambda B: B @ B.T)(np.random.default_rng(1).standard_normal((4, 2))),   # rank 2 of 4
], ids=["zero", "diag-with-zero", "rank1", "rank1-zero-row", "rank2of4"])
def test_psd_cholesky_on_singular_matrices(A):
    L = psd_cholesky(A)
    assert np.array_equal(L, np.tril(L))
    assert np.all(np.diag(L) >= 0)
    assert_close(L @ L.T, A)
    # and the profile <-> sqrt round trip goes through the boundary cleanly
    theta = pack_profile(A, [0.0])
    assert_close(sqrt_to_profile(profile_to_sqrt(theta, A.shape[0]), A.shape[0]), theta)


@pytest.mark.parametrize("A, message", [
    (np.array([[1.0, 2.0], [2.0, 1.0]]), "not positive semi-definite"),
    (np.array([[1.0, 0.0], [0.0, -1e-3]]), "not positive semi-definite"),
    (np.array([[0.0, 1.0], [1.0, 1.0]]), "not positive semi-definite"),   # zero pivot, nonzero rest
    (np.array([[1.0, 0.5], [0.4, 1.0]]), "not symmetric"),
    (np.ones((2, 3)), "square"),
])
def test_psd_cholesky_refuses_bad_matrices(A, message):
    with pytest.raises(ValueError, match=message):
        psd_cholesky(A)


def test_clear_errors_for_invalid_parameters():
    with pytest.raises(ValueError, match=r"not positive semi-definite"):
        profile_to_sqrt(pack_profile(np.array([[1.0, 2.0], [2.0, 1.0]]), []), 2)
    with pytest.raises(ValueError, match=r"variance components must be >= 0"):
        profile_to_sqrt(np.array([1.0, -0.5]), 1)
    with pytest.raises(ValueError, match=r"variance components must be >= 0"):
        MixedLMParams(np.eye(1), [-1.0]).sqrt()
    with pytest.raises(ValueError, match=r"scale \(sigma2\) must be positive"):
        user_to_profile(np.eye(1), [], 0.0)
    with pytest.raises(ValueError, match=r"scale \(sigma2\) must be positive"):
        MixedLMParams.from_user([0.0], np.eye(1), [], -2.0)
    with pytest.raises(ValueError, match=r"has no scale"):
        MixedLMParams(np.eye(1), []).cov_re_user
    with pytest.raises(ValueError, match=r"must be a square matrix"):
        MixedLMParams(np.ones((2, 3)), [])


def test_psd_cholesky_tiny_variance_perfectly_correlated():
    """Found by make test-long: a variance of 3.6e-15 perfectly correlated with one of 1 is PSD.

    The zero-pivot rule alone refused it (the off-diagonal 6e-8 is above 1e-8);
    Cauchy-Schwarz (|a_ij| <= sqrt(a_ii a_jj)) says it is a valid covariance.
    """
    from refimpl.linalg import psd_cholesky

    A = np.array([[3.552713678800501e-15, 5.960464477539063e-08], [5.960464477539063e-08, 1.0]])
    L = psd_cholesky(A)
    assert np.max(np.abs(L @ L.T - A)) <= 1e-15
    with pytest.raises(ValueError, match="positive semi-definite"):
        psd_cholesky(np.array([[1e-15, 1e-6], [1e-6, 1.0]]))     # |a_12| > sqrt(a_11 a_22)
