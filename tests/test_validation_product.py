"""The suite as a product: shipped example adapters pass their gates, Unsupported,
dtypes an adapter receives, init-adapter, JUnit XML, the pytest plug-in, and the
generated tables of CONTRACT.md."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from validation import Unsupported
from validation.cases import CASES, select
from validation.engines.plugin import AdapterCase
from validation.record import from_any
from validation.runner import fit_safely
from validation.suite import run
from validation.testing import failures, grade

ROOT = Path(__file__).resolve().parents[1]
def _certified_cases() -> list[str]:
    from certified import store

    return [c.name for c in select() if store.path_for(c.name).exists()]


CERTIFIED = _certified_cases()


# --------------------------------------------------------------------------
# The two worked adapters of CONTRACT.md pass the gate as shipped
# --------------------------------------------------------------------------

@pytest.mark.slow
def test_statsmodels_example_passes_the_gate_on_every_certified_case():
    out = grade("validation.examples.statsmodels_adapter:fit", cases=CERTIFIED, jobs=2)
    assert not failures(out), failures(out)
    assert out.exit_code == 0
    graded = [v for v in out.rows if v.status == "ok"]
    unsupported = [v for v in out.rows if v.status == "unsupported"]
    assert len(graded) >= len(CERTIFIED) - 6, [(v.case, v.reasons) for v in unsupported]
    assert all(v.reasons and v.reasons[0] for v in unsupported)   # always with its reason


@pytest.mark.r
@pytest.mark.slow
def test_nlme_example_passes_the_gate_on_every_certified_case(r):
    out = grade("validation.examples.nlme_adapter:fit", cases=CERTIFIED, jobs=2)
    assert not failures(out), failures(out)
    assert out.exit_code == 0
    not_ok = [(v.case, v.status, v.reasons) for v in out.rows if v.status != "ok"]
    # only the singular-covariance optimum, which pdSymm cannot represent
    assert [c for c, *_ in not_ok] == ["sim_near_singular/ml"], not_ok
    assert not_ok[0][1] == "unsupported" and "singular" in not_ok[0][2][0]


# --------------------------------------------------------------------------
# What an adapter receives
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["crossed/reml", "sim_vc_slope/ml", "pastes/reml"])
def test_factor_columns_arrive_as_str(name):
    ac = AdapterCase(CASES[name])
    df = ac.data()
    for c in ac.factor_columns():
        assert df[c].dtype == object and all(isinstance(x, str) for x in df[c]), c
    assert CASES[name].data_sha256 if hasattr(CASES[name], "data_sha256") else True
    assert ac.spec == CASES[name].spec and ac.reml == CASES[name].reml


def test_adapter_data_is_a_fresh_copy():
    ac = AdapterCase(CASES["crossed/reml"])
    df = ac.data()
    df.loc[:, "y"] = 0.0
    assert (ac.data()["y"] != 0.0).any()


# --------------------------------------------------------------------------
# Unsupported
# --------------------------------------------------------------------------

def unsupported_by_raising(case):
    raise Unsupported("no variance components here")


def unsupported_by_dict(case):
    return {"unsupported": "crossed designs"}


@pytest.mark.parametrize("fn", ["unsupported_by_raising", "unsupported_by_dict"])
def test_unsupported_is_shown_never_failed(fn):
    r = fit_safely(f"tests.test_validation_product:{fn}", "dyestuff/reml")
    assert r.status == "unsupported" and r.error
    out = run([CASES["dyestuff/reml"]], [f"x=tests.test_validation_product:{fn}"], jobs=0)
    v = out.rows[0]
    assert v.status == "unsupported" and v.passed is None
    assert out.exit_code == 2          # nothing graded, not a failure


def test_unsupported_dict_needs_a_reason():
    with pytest.raises(TypeError, match="unsupported"):
        from_any({"unsupported": ""}, "x", "dyestuff/reml")


# --------------------------------------------------------------------------
# JUnit XML, exit codes, terminal summary
# --------------------------------------------------------------------------

def lowball(case):
    """The statsmodels example with a units slip in the residual variance (fails scale)."""
    from validation.examples.statsmodels_adapter import fit

    out = fit(case)
    out["scale"] = float(out["scale"]) * 1.01
    return out


def test_junit_one_test_per_case_and_quantity_with_failures_named(tmp_path):
    from validation.junit import render
    from validation.report import terminal

    out = run([CASES["dyestuff/ml"], CASES["sleepstudy_corr/reml"]],
              ["low=tests.test_validation_product:lowball",
               "x=tests.test_validation_product:unsupported_by_dict"], jobs=0)
    assert out.exit_code == 1
    root = ET.fromstring(render(out))
    names = {tc.get("name"): tc for tc in root.iter("testcase")}
    assert {"dyestuff/ml scale", "dyestuff/ml llf", "dyestuff/ml stationary",
            "sleepstudy_corr/reml cov_re"} <= set(names)
    fail = names["dyestuff/ml scale"].find("failure")
    assert fail is not None and "LRE" in fail.get("message") and "scale" in fail.get("message")
    skipped = [tc for tc in root.iter("testcase") if tc.find("skipped") is not None]
    assert len(skipped) == 2
    assert int(root.get("failures")) >= 2
    import io

    buf = io.StringIO()
    terminal(out, buf)
    text = buf.getvalue()
    assert text.index("Digits of agreement with certified values") < text.index("GATE")
    assert "[GATED] low dyestuff/ml" in text and "scale vs certified" in text


# --------------------------------------------------------------------------
# init-adapter, the pytest plug-in, CONTRACT.md tables
# --------------------------------------------------------------------------

def _env(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{tmp_path}"
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


def test_init_adapter_writes_a_skeleton_that_runs(tmp_path):
    from validation.__main__ import main

    assert main(["init-adapter", "myeng", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "myeng.py").exists() and (tmp_path / "test_myeng.py").exists()
    assert main(["init-adapter", "myeng", "--dir", str(tmp_path)]) == 2   # no overwrite
    assert main(["init-adapter", "not-a-name", "--dir", str(tmp_path)]) == 2
    sys.path.insert(0, str(tmp_path))
    try:
        r = fit_safely("myeng:fit", "dyestuff/reml")
    finally:
        sys.path.remove(str(tmp_path))
    assert r.status == "unsupported" and "skeleton" in r.error


def test_pytest_plugin_adds_one_test_per_case(tmp_path):
    from importlib.metadata import entry_points

    registered = any(ep.value == "validation.pytest_plugin"
                     for ep in entry_points(group="pytest11"))
    load = [] if registered else ["-p", "validation.pytest_plugin"]   # a clone not reinstalled
    (tmp_path / "lowball_adapter.py").write_text(
        "from tests.test_validation_product import lowball as fit\n")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *load,
         "--lmm-validate", "lowball_adapter:fit", "--lmm-validate-cases", "dyestuff/ml,dyestuff2/ml",
         str(tmp_path)], cwd=tmp_path, env=_env(tmp_path),
        capture_output=True, text=True, timeout=300)
    text = out.stdout + out.stderr
    assert "lmm-validate::dyestuff/ml" in text, text[-3000:]
    assert out.returncode == 1 and "scale" in text, text[-3000:]


def test_contract_tables_are_current():
    from validation.contract import render_into

    text = (ROOT / "validation" / "CONTRACT.md").read_text(encoding="utf-8")
    assert render_into(text) == text, "run `python -m validation.contract --write`"
    assert "| `crossed` |" in text and "pdIdent(~0 + a)" in text
