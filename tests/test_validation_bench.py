"""Smoke test of ``python -m validation bench --quick``: the JSON, table and plot are
written and hold what they should. No timing is asserted (machines differ)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from validation.__main__ import main
from validation.bench import QUICK, simulate

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parent.parent


def run_quick(tmp_path, engines, subprocess_=False, section="grouped"):
    """``bench --quick``; with R in a subprocess, so that R's start-up (which
    sets LD_LIBRARY_PATH and R_* variables in this process's environment) does
    not leak into later tests' subprocesses."""
    out = tmp_path / "bench"
    argv = ["bench", "--quick", "--no-dietox", "--section", section, "--engines", *engines,
            "--out", str(out)]
    if subprocess_:
        proc = subprocess.run([sys.executable, "-m", "validation", *argv], cwd=ROOT,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    else:
        assert main(argv) == 0
    for name in ("bench.json", "bench.md", "bench.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert (out / "bench.png").read_bytes()[:8] == PNG_MAGIC
    return json.loads((out / "bench.json").read_text()), (out / "bench.md").read_text()


def test_simulated_data_is_seeded_and_shaped():
    a, b = simulate(30), simulate(30)
    assert a["y"].shape == (300,) and a["X"].shape == (300, 2) and a["Z"].shape == (300, 2)
    assert (a["y"] == b["y"]).all() and (a["g"] == b["g"]).all()
    assert set(a["g"]) == set(range(30))


def test_quick_bench_python_engines(tmp_path):
    res, md = run_quick(tmp_path, ["refimpl", "statsmodels"])
    ok = [r for r in res["rows"] if r["status"] == "ok"]
    # every quick size for both engines, and refimpl alone at the extra size
    for G in QUICK["sizes"]:
        for e in ("refimpl", "statsmodels"):
            (r,) = [r for r in ok if r["n_groups"] == G and r["engine"] == e and r["case"] == "sim"]
            assert r["runs"] >= 1 and len(r["times_s"]) == r["runs"]
            assert r["median_s"] > 0 and r["peak_bytes"] > 0 and r["input_bytes"] > 0
            assert r["llf"] < 0 and r["converged"]
    (big,) = [r for r in ok if r["n_groups"] == QUICK["refimpl_sizes"][0] and r["case"] == "sim"]
    assert big["engine"] == "refimpl" and "build_s" in big and "fit_s" in big
    # both engines found the same optimum, and the ratio is the one in the table
    for c in res["comparisons"]:
        if "refimpl_over_statsmodels" in c:
            assert abs(c["llf_refimpl_minus_statsmodels"]) < 1e-4
            assert c["refimpl_over_statsmodels"] == pytest.approx(c["refimpl_s"] / c["statsmodels_s"])
    assert {t["status"] for t in res["targets"]} <= {"PASS", "MISS", "n/a"}
    assert len(res["targets"]) == 6
    # from_formula with string labels at the largest quick size, refimpl only (no lme4 here)
    (f,) = [r for r in ok if r["case"] == "sim_formula"]
    assert f["n_groups"] == max(QUICK["sizes"]) and f["engine"] == "refimpl"
    for heading in ("Fit time and ratios", "Every run", "Targets", "refimpl / statsmodels",
                    "peak / input", "Reproduce: `python -m validation bench --quick"):
        assert heading in md, heading


@pytest.mark.r
def test_quick_bench_with_lme4(tmp_path):
    res, md = run_quick(tmp_path, ["refimpl", "lme4"], subprocess_=True)
    lme = [r for r in res["rows"] if r["engine"] == "lme4" and r["status"] == "ok"]
    assert sorted(r["n_groups"] for r in lme) == sorted(QUICK["sizes"])
    for r in lme:
        assert r["median_s"] > 0 and r["conversion_s"] >= 0 and r["peak_bytes"] > 0
    for c in res["comparisons"]:
        if c["n_groups"] in QUICK["sizes"]:
            assert c["llf_refimpl_minus_lme4"] > -1e-6       # refimpl's optimum is no lower
            assert c["refimpl_over_lme4"] > 0
    assert "lme4 (in R)" in md


def _check_formula_sections(res, engines):
    ok = [r for r in res["rows"] if r["status"] == "ok"]
    keys = {"crossed": [a + b for a, b in QUICK["crossed_sizes"]], "nested": QUICK["nested_sizes"]}
    for case, sizes in keys.items():
        for G in sizes:
            rows = [r for r in ok if r["case"] == case and r["n_groups"] == G]
            assert sorted(r["engine"] for r in rows) == sorted(engines), (case, G)
            llfs = [r["llf"] for r in rows]
            assert max(llfs) - min(llfs) < 1e-4 and all(r["converged"] for r in rows)
            assert all(r["median_s"] > 0 and r["n_rows"] > 0 for r in rows)
    assert not [r for r in res["rows"] if r["case"] == "InstEval"]   # --quick leaves it out
    names = [t["target"] for t in res["targets"]]
    assert "InstEval REML: refimpl faster than lme4" in names
    assert any(n.startswith("nested 10000 schools") for n in names)
    assert {t["status"] for t in res["targets"]} == {"n/a"}          # no target size in --quick


def test_quick_bench_crossed_and_nested_python_engines(tmp_path):
    res, md = run_quick(tmp_path, ["refimpl", "statsmodels"], section="all")
    _check_formula_sections(res, ["refimpl", "statsmodels"])
    assert "| crossed | 20x10 |" in md and "| nested | 50 schools |" in md


@pytest.mark.r
@pytest.mark.slow
def test_quick_bench_crossed_and_nested_with_lme4(tmp_path):
    res, _ = run_quick(tmp_path, ["refimpl", "lme4"], subprocess_=True, section="crossed")
    ok = [r for r in res["rows"] if r["status"] == "ok"]
    for a, b in QUICK["crossed_sizes"]:
        ref, lme = ([r for r in ok if r["n_groups"] == a + b and r["engine"] == e]
                    for e in ("refimpl", "lme4"))
        assert ref[0]["llf"] > lme[0]["llf"] - 1e-6 and lme[0]["peak_bytes"] > 0
