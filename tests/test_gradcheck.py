"""refimpl.gradcheck: the checker passes right derivatives and catches wrong ones.

A checker that cannot fail is worse than none, so most tests here feed it a
deliberately wrong derivative and require a FAILED verdict that names the row.
"""

import subprocess
import sys

import numpy as np
import pytest

from refimpl import gradcheck
from refimpl.gradcheck import COLUMNS, check_gradient, check_hessian
from refimpl.tolerances import FD, FD_HESSIAN


def f(x):
    """A smooth test function with coupled coordinates and a wide range of scales."""
    return np.sin(x[0]) * x[1] ** 2 + np.exp(0.3 * x[2]) * x[0] + 50.0 * np.log1p(x[3] ** 2) + x[1] * x[3]


def grad(x):
    return np.array([np.cos(x[0]) * x[1] ** 2 + np.exp(0.3 * x[2]),
                     2 * np.sin(x[0]) * x[1] + x[3],
                     0.3 * np.exp(0.3 * x[2]) * x[0],
                     100.0 * x[3] / (1 + x[3] ** 2) + x[1]])


def hess(x):
    H = np.zeros((4, 4))
    H[0, 0] = -np.sin(x[0]) * x[1] ** 2
    H[0, 1] = H[1, 0] = 2 * np.cos(x[0]) * x[1]
    H[0, 2] = H[2, 0] = 0.3 * np.exp(0.3 * x[2])
    H[1, 1] = 2 * np.sin(x[0])
    H[1, 3] = H[3, 1] = 1.0
    H[2, 2] = 0.09 * np.exp(0.3 * x[2]) * x[0]
    H[3, 3] = 100.0 * (1 - x[3] ** 2) / (1 + x[3] ** 2) ** 2
    return H


X0 = np.array([0.7, -1.3, 2.0, 250.0])       # one coordinate far from 1: the scaled step matters


def test_passes_a_right_gradient_and_hessian():
    res = check_gradient(f, grad, X0)
    assert res.passed, str(res)
    assert res.worst_rel_err < 1e-7          # rounding-limited: about 3e-8 here
    assert res.tol == FD
    res = check_hessian(grad, hess, X0)
    assert res.passed, str(res)
    assert res.tol == FD_HESSIAN


@pytest.mark.parametrize("i", range(4))
def test_catches_a_sign_flip_in_one_coordinate(i):
    def wrong(x):
        g = grad(x)
        g[i] = -g[i]
        return g

    res = check_gradient(f, wrong, X0, directions=0)
    assert not res.passed
    bad = res.table.loc[~res.table["ok"], "coordinate"].tolist()
    assert bad == [f"x[{i}]"]
    assert res.worst_row == f"x[{i}]"
    assert "FAILED" in str(res) and f"failing rows: x[{i}]" in str(res)


def test_catches_a_missing_factor_one_half():
    # d/dx (x'Ax / 2) = A x; the classic slip is to forget the 1/2 in f
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    x = np.array([0.4, -1.1])
    ok = check_gradient(lambda x: 0.5 * x @ A @ x, lambda x: A @ x, x)
    bad = check_gradient(lambda x: x @ A @ x, lambda x: A @ x, x)
    assert ok.passed and not bad.passed
    assert bad.worst_rel_err == pytest.approx(0.5, rel=1e-6)


def test_directions_are_seeded_and_agree():
    res = check_gradient(f, grad, X0, directions=4, seed=3)
    assert res.table["coordinate"].str.startswith("direction").sum() == 4
    dirs = res.table[res.table["coordinate"].str.startswith("direction")]
    assert np.allclose(dirs["analytic"], dirs["numeric"], rtol=1e-8, atol=0)
    # same seed, same directions; another seed, other directions
    again = check_gradient(f, grad, X0, directions=4, seed=3)
    other = check_gradient(f, grad, X0, directions=4, seed=4)
    assert np.array_equal(res.table["analytic"], again.table["analytic"])
    assert not np.array_equal(res.table["analytic"].iloc[4:], other.table["analytic"].iloc[4:])


def test_catches_a_wrong_hessian_entry():
    def wrong(x):
        H = hess(x)
        H[2, 0] *= 1.001                      # one entry, 1e-3 off, and no longer symmetric
        return H

    res = check_hessian(grad, wrong, X0)
    assert not res.passed
    failing = res.table.loc[~res.table["ok"], "coordinate"].tolist()
    assert "dx[2]/dx[0]" in failing
    assert "dx[0]/dx[2]" not in failing
    assert "max |H - H'| / max |H|" in str(res)


def test_table_columns_and_str():
    res = check_gradient(f, grad, X0, names=["a", "b", "c", "d"])
    assert list(res.table.columns) == COLUMNS
    for col in ["coordinate", "analytic", "numeric", "abs err", "rel err", "est. truncation error"]:
        assert col in res.table.columns
    assert res.table["coordinate"].tolist()[:4] == ["a", "b", "c", "d"]
    text = str(res)
    assert "PASSED" in text and "worst relative error" in text and "tier refimpl.tolerances.FD" in text
    # the step rule: h_i = eps^(1/3) * max(|x_i|, 1)
    h = res.table["h"].to_numpy()[:4]
    assert np.allclose(h, np.finfo(float).eps ** (1 / 3) * np.maximum(np.abs(X0), 1.0))
    assert bool(res) is True


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_refuses_non_finite_points_naming_the_coordinate(bad):
    x = X0.copy()
    x[2] = bad
    with pytest.raises(ValueError, match=rf"non-finite point: x\[2\] = {bad}"):
        check_gradient(f, grad, x)
    with pytest.raises(ValueError, match=rf"non-finite point: c = {bad}"):
        check_hessian(grad, hess, x, names=["a", "b", "c", "d"])


@pytest.mark.filterwarnings("ignore:invalid value encountered in log")
def test_refuses_functions_that_are_not_finite_near_x():
    # log is undefined left of 0: the step from x = 1e-7 leaves the domain
    with pytest.raises(ValueError, match=r"f is not finite at x - .*e_0"):
        check_gradient(lambda x: np.log(x[0]), lambda x: 1 / x, np.array([1e-7]))
    with pytest.raises(ValueError, match=r"grad\(x\) has shape"):
        check_gradient(f, lambda x: grad(x)[:3], X0)


def test_at_an_optimum_rows_below_the_rounding_floor_are_checked_absolutely():
    # f has its minimum at c and a large constant; 1e-9 from c the gradient
    # (2e-6) is far below what differences of values near 1e6 can resolve:
    # relative errors are meaningless, the verdict must still be PASSED, and say why.
    c = np.array([1 / 3, 2 / 3, 0.1])
    fq = lambda x: 1e3 * np.sum((x - c) ** 2) + 1e6                    # noqa: E731
    res = check_gradient(fq, lambda x: 2e3 * (x - c), c + 1e-9)
    assert res.passed and res.n_below_noise == len(res.table)
    assert (res.table["rel err"] > FD).all()          # a relative check alone would fail
    assert "below the rounding floor" in str(res)
    # ... but a gradient that is wrong by more than the noise still fails there
    res = check_gradient(fq, lambda x: 2e3 * (x - c) + 1e-3, c + 1e-9)
    assert not res.passed


def test_cli_main_on_dietox_slope(capsys):
    rc = gradcheck.main(["dietox_slope", "--at", "random", "--seed", "1"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "case dietox_slope" in out and "overall: PASSED" in out
    assert "est. truncation error" in out


def test_cli_profile_ml_on_pastes(capsys):
    assert gradcheck.main(["pastes", "--ml", "--param", "profile"]) == 0
    assert "ML, profile parameterization" in capsys.readouterr().out


def test_cli_as_a_module_exits_zero():
    proc = subprocess.run([sys.executable, "-m", "refimpl.gradcheck", "dietox_slope", "--at", "random"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "overall: PASSED" in proc.stdout


def test_cli_rejects_an_unknown_case(capsys):
    with pytest.raises(SystemExit) as exc:
        gradcheck.main(["no_such_case"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
