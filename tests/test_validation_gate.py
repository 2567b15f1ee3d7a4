"""The validation gate cannot be gamed: invalid answers fail, bad arguments stop the run early.

* an answer that is not a valid covariance (negative variance, asymmetric or
  non-PSD cov_re, strings, NaN) is a gated failure naming the key and the rule;
* an audit that cannot run on a gated engine's row is a failure, not "unavailable";
* an answer placed on the boundary where the likelihood rises off it is not stationary;
* every command-line argument is checked before anything is fitted, with one
  line naming it;
* a run where every engine failed still writes its report.
"""

import io
import json

import pytest

from validation import __main__ as cli
from validation import suite
from validation.audit import Auditor
from validation.cases import CASES
from validation.examples import _as_dict, _reference
from validation.record import EngineResult
from validation.report import terminal, write_html, write_json
from validation.runner import normalise

CORR, VC = CASES["sleepstudy_corr/reml"], CASES["pastes/reml"]


def _grade(case, answer, engine="plug"):
    """What suite.run does with one adapter's answer, without processes or the CLI."""
    r = normalise(answer, engine, case.name)
    ref = _reference(case)
    _, verdict, comps = suite.grade_result(case, r, ref, None, Auditor(), gated=True)
    return r, verdict, comps


# --------------------------------------------------------------------------
# Invalid answers
# --------------------------------------------------------------------------

@pytest.mark.parametrize("plugin, case, words", [
    ("negative_variance", CORR, "cov_re[Subject,Subject] = -"),
    ("negative_variance", CASES["dyestuff/reml"], "is a negative variance"),
    # parameters are shown only on these cases, so before the fix the rows PASSED:
    ("negative_variance", CASES["oneway_tiny/reml"], "cov_re[g,g] = -"),
    ("correlation_above_one", CASES["sim_near_singular/reml"], "not positive semi-definite"),
    ("asymmetric_cov_re", CORR, "cov_re is not symmetric"),
    ("correlation_above_one", CORR, "cov_re is not positive semi-definite"),
    ("string_scale", VC, "scale must be a number"),
    ("returns_nan", VC, "llf"),
])
def test_invalid_answer_is_a_gated_failure_naming_key_and_rule(plugin, case, words):
    out = suite.run([case], [f"bad=validation.examples:{plugin}"], jobs=0)
    (row,) = out.rows
    assert row.gated and row.passed is False and out.exit_code == 1, row.reasons
    assert any(words in r for r in row.reasons), row.reasons


def test_valid_reference_answer_still_passes():
    r, verdict, _ = _grade(CORR, _as_dict(_reference(CORR)))
    assert r.status == "ok" and verdict.passed, verdict.reasons


def test_negative_vcomp_is_a_gated_failure():
    ans = _as_dict(_reference(VC))
    ans["vcomp"]["cask"] = -ans["vcomp"]["cask"]
    r, verdict, _ = _grade(VC, ans)
    assert r.status == "failed" and not verdict.passed
    assert "vcomp[cask] = -" in r.error and "negative variance" in r.error


def test_audit_that_cannot_run_on_an_ok_row_is_a_failure():
    """A row that skipped normalise (e.g. read from a file) with a negative variance."""
    ref = _reference(CORR)
    bad = EngineResult.from_dict({**ref.to_dict(), "engine": "plug"})
    bad.cov_re["Days"]["Days"] = -1.0
    a, verdict, comps = suite.grade_result(CORR, bad, ref, None, Auditor(), gated=True)
    assert a.failed and not a.available and "not a valid covariance" in a.message
    audit = [c for c in comps if c.kind == "audit"]
    assert audit and audit[0].passed is False and audit[0].gated
    assert verdict.passed is False and any("negative variance" in r for r in verdict.reasons)


def test_an_answer_placed_on_the_boundary_is_not_stationary():
    """Dyestuff's optimum is interior: a plug-in saying 'variance 0' must fail the audit."""
    case = CASES["dyestuff/reml"]
    ans = _as_dict(_reference(case))
    ans["cov_re"] = {a: {b: 0.0 for b in row} for a, row in ans["cov_re"].items()}
    r, verdict, comps = _grade(case, ans)
    st = [c for c in comps if c.kind == "stationary"]
    assert st and st[0].passed is False and "rises off" in st[0].note, st
    assert verdict.passed is False


def test_true_boundary_answer_is_stationary():
    case = CASES["dyestuff2/reml"]
    _, verdict, comps = _grade(case, _as_dict(_reference(case)))
    st = [c for c in comps if c.kind == "stationary"]
    assert st and st[0].passed, st


# --------------------------------------------------------------------------
# Arguments are checked before any fit
# --------------------------------------------------------------------------

@pytest.fixture
def no_fitting(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a fit started before the arguments were checked")

    monkeypatch.setattr(suite, "run_tasks", refuse)
    monkeypatch.setattr("validation.runner.run_tasks", refuse)


@pytest.mark.parametrize("extra, argument", [
    (["--timeout", "nan"], "--timeout"),
    (["--timeout", "0"], "--timeout"),
    (["--jobs", "-1"], "--jobs"),
    (["--plugin", "validation.examples"], "--plugin"),
    (["--plugin", "validation.examples:"], "--plugin"),
    (["--plugin", "no_such_module_xyz:fit"], "--plugin"),
    (["--plugin", "validation.examples:no_such_function"], "--plugin"),
    (["--engines", "lme5"], "--engines"),
    (["--gate", "nobody"], "--gate"),
    (["--junit", "/proc/no/such/dir/out.xml"], "--junit"),
])
def test_bad_argument_is_one_line_naming_it(extra, argument, no_fitting, capsys, tmp_path):
    argv = ["run", "--cases", "dyestuff/reml", "--out", str(tmp_path)] + extra
    try:
        code = cli.main(argv)
    except SystemExit as exc:                       # argparse's type functions
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {argument}" in err, err


def test_corrupt_reference_is_refused_before_fitting(no_fitting, capsys, tmp_path):
    bad = tmp_path / "ref.json"
    bad.write_text('{"format": ', encoding="utf-8")
    code = cli.main(["run", "--cases", "dyestuff/reml", "--engines", "refimpl_default",
                     "--reference", str(bad), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "argument --reference" in err and "JSONDecodeError" in err
    with pytest.raises(ValueError, match="cannot be read"):
        suite.run([CORR], ["refimpl_default"], jobs=0, store_path=bad)


def test_unwritable_out_is_refused_before_fitting(no_fitting, capsys, tmp_path):
    f = tmp_path / "a_file"
    f.write_text("", encoding="utf-8")
    code = cli.main(["run", "--cases", "dyestuff/reml", "--engines", "refimpl_default",
                     "--out", str(f / "sub")])
    assert code == 2 and "argument --out" in capsys.readouterr().err


# --------------------------------------------------------------------------
# The report survives any run
# --------------------------------------------------------------------------

def test_report_of_a_run_where_every_engine_failed(tmp_path):
    out = suite.run([CORR, VC], ["bad=validation.examples:raises"], jobs=0)
    assert out.exit_code == 1
    s = io.StringIO()
    terminal(out, s)
    assert "GATE FAIL" in s.getvalue()
    doc = json.loads(write_json(out, tmp_path / "v.json").read_text())
    assert doc["gate"]["exit_code"] == 1
    assert "bad" in write_html(out, tmp_path / "v.html").read_text()


def test_report_of_invalid_answers_renders(tmp_path):
    plugins = [f"{p}=validation.examples:{p}" for p in
               ("negative_variance", "asymmetric_cov_re", "correlation_above_one", "string_scale",
                "returns_nan", "reference_values")]
    out = suite.run([CORR], plugins, jobs=0)
    assert out.exit_code == 1
    by = {v.engine: v for v in out.rows}
    assert by["reference_values"].passed
    assert all(by[p.split("=")[0]].passed is False for p in plugins[:-1])
    s = io.StringIO()
    terminal(out, s)
    assert "cov_re is not symmetric" in s.getvalue()
    json.loads(write_json(out, tmp_path / "v.json").read_text())
    assert "negative variance" in write_html(out, tmp_path / "v.html").read_text()
