"""Smoke test: lme4 (through rpy2) and statsmodels agree on dietox, and the R
bridge behaves (clear errors, exact data transfer, quiet console)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from refimpl import datasets
from refimpl.tolerances import LLF_VS_LME4
from validation import rbridge

ROOT = Path(__file__).resolve().parent.parent


def lme4_llf(data: pd.DataFrame, formula: str, reml: bool) -> tuple[float, list[str]]:
    ro = rbridge.require_r(["lme4"])
    res = rbridge.call(
        "function(d, f, reml) lme4::lmer(as.formula(f), data = d, REML = reml, "
        "control = lme4::lmerControl(optimizer = 'bobyqa', "
        "optCtrl = list(rhoend = 1e-10)))",
        rbridge.to_r_dataframe(data), formula, reml,
    )
    return float(ro.r["logLik"](res.value)[0]), res.warnings


@pytest.mark.r
@pytest.mark.parametrize("reml", [False, True], ids=["ML", "REML"])
def test_dietox_random_intercept_lme4_vs_statsmodels(r, reml):
    import statsmodels.formula.api as smf

    data = datasets.load("dietox")
    llf_r, warns = lme4_llf(data, "Weight ~ Time + (1 | Pig)", reml)
    assert warns == []
    fit = smf.mixedlm("Weight ~ Time", data, groups="Pig").fit(reml=reml)
    assert abs(fit.llf - llf_r) < LLF_VS_LME4, (fit.llf, llf_r)
    # Known value (lme4 1.1-31, R 4.2): guards against both engines drifting together.
    expected = -2404.775337139 if reml else -2402.932452097
    assert llf_r == pytest.approx(expected, abs=1e-6)


def test_missing_rpy2_raises_runavailable_with_install_command():
    code = (
        "import sys; sys.modules['rpy2'] = None\n"
        "from validation import rbridge\n"
        "try:\n    rbridge.require_r()\n"
        "except rbridge.RUnavailable as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert rbridge.INSTALL_RPY2 in out.stdout and "Traceback" not in out.stdout + out.stderr


def test_missing_r_raises_runavailable_with_install_command():
    code = (
        "from validation import rbridge\n"
        "try:\n    rbridge.require_r()\n"
        "except rbridge.RUnavailable as e:\n    print(e)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "R_HOME": str(ROOT / "no-such-R")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env=env, check=True)
    assert rbridge.INSTALL_R in out.stdout, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert out.stderr == ""


@pytest.mark.r
def test_missing_r_package_names_debian_package(r):
    msg = rbridge.r_available(["geepack", "surely.not.installed"])
    assert msg is not None and "surely.not.installed" in msg and "apt-get install" in msg


@pytest.mark.r
def test_console_and_conditions_are_captured(r, capfd):
    res = rbridge.call("function(x) { warning('careful'); message('note'); print(x); x + 1 }", 41)
    assert res.warnings == ["careful"] and res.messages == ["note"]
    assert res.console.lines == ["[1] 41"]
    assert float(res.value[0]) == 42.0
    with rbridge.capture_console() as cap:
        r.r("cat('to stdout\\n'); message('to stderr')")
    assert "to stdout" in cap.lines and "to stderr" in cap.lines
    captured = capfd.readouterr()
    assert "to stdout" not in captured.out and "R callback" not in captured.err


@pytest.mark.r
def test_to_r_dataframe_is_exact(r):
    df = pd.DataFrame({
        "x": [0.1, np.nan, 1e-300, -2.5],
        "i": np.array([1, 2, 3, 4], dtype=np.int64),
        "s": ["a", None, "c", "a"],
        "f": pd.Categorical(["lo", "hi", "lo", None], categories=["lo", "hi"]),
        "b": [True, False, True, True],
    })
    rdf = rbridge.to_r_dataframe(df)
    col = dict(zip(r.r["names"](rdf), rdf))
    assert list(r.r["class"](col["x"])) == ["numeric"]
    x = np.asarray(col["x"])
    assert x[0] == 0.1 and x[2] == 1e-300 and bool(r.r["is.na"](col["x"])[1])
    assert list(r.r["class"](col["i"])) == ["integer"] and list(col["i"]) == [1, 2, 3, 4]
    assert list(r.r["is.na"](col["s"])) == [False, True, False, False]
    assert list(r.r["levels"](col["f"])) == ["lo", "hi"]
    assert list(r.r["as.integer"](col["f"]))[:3] == [1, 2, 1] and bool(r.r["is.na"](col["f"])[3])
    assert list(col["b"]) == [True, False, True, True]
