"""The one case registry (refimpl/cases.py) that refimpl's tools, validation/ and
certified/ all read; its heavy flag; the seeded designs behind the new cases."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

import validation.cases
from refimpl import case_data, cases, datasets
from refimpl.lme4_formula import from_lme4

ROOT = Path(__file__).resolve().parents[1]


def test_validation_reads_the_same_registry():
    assert validation.cases.CASES is cases.REGISTRY
    assert validation.cases.select is cases.select
    assert validation.cases.derive_lme4 is cases.derive_lme4


@pytest.mark.parametrize("package", ["certified", "refimpl"])
def test_no_import_arrow_up_into_validation(package):
    """certified/ and refimpl/ never import validation/ (validation imports them)."""
    for path in sorted((ROOT / package).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("validation"), f"{path.name}: {node.module}"
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("validation") for a in node.names), path.name


def test_heavy_cases_are_left_out_of_the_default_selection(monkeypatch):
    monkeypatch.delenv(cases.HEAVY_ENV, raising=False)
    default = {c.name for c in cases.select()}
    assert "insteval/reml" not in default and "penicillin/reml" in default
    assert cases.REGISTRY["insteval/reml"].heavy
    assert [c.name for c in cases.select(["insteval"])] == ["insteval/reml"]
    assert "insteval/reml" in {c.name for c in cases.select(heavy=True)}
    monkeypatch.setenv(cases.HEAVY_ENV, "1")
    assert "insteval/reml" in {c.name for c in cases.select()}
    assert "insteval/ml" not in cases.REGISTRY          # REML only, as lme4's example


@pytest.mark.parametrize("name, formula, raw", [
    ("penicillin/ml", "diameter ~ 1 + (1 | plate) + (1 | sample)",
     lambda: datasets.load("Penicillin")),
    ("subjects_items/reml", "y ~ x + (x || subj) + (x || item)", case_data.subjects_items),
    ("schools_nested/reml", "y ~ x + (1 | school/classroom)", case_data.schools),
])
def test_cases_given_in_lme4_syntax_fit_the_translated_spec(name, formula, raw):
    c = cases.REGISTRY[name]
    t = from_lme4(formula, raw())
    assert c.spec == t.spec
    pd.testing.assert_frame_equal(c.data(), t.data)
    assert formula in c.source and c.describe()["lme4_formula"]


def test_tools_accept_model_names_and_aliases():
    assert {"dietox_slope", "sleepstudy", "sim_vc", "penicillin", "insteval"} <= set(cases.CASES)
    m = cases.build_case("penicillin")
    assert m.k_vc == 2 and m.n_groups == 1
    assert cases.build_case("sleepstudy").k_re == 2
    with pytest.raises(ValueError, match="unknown case 'nope'"):
        cases.build_case("nope")


def test_seeded_designs():
    a, b = case_data.subjects_items(), case_data.subjects_items()
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 600 and a.groupby(["subj", "item"]).size().eq(1).all()
    s = case_data.schools(12)
    assert len(s) == 12 * 5 * 10 and s.classroom.nunique() == 5      # labels repeat per school
    assert s.groupby(["school", "classroom"]).size().eq(10).all()
    assert case_data.schools(12, seed=1).y.iloc[0] != s.y.iloc[0]


def test_loaders_hand_out_copies():
    c = cases.REGISTRY["penicillin/reml"]
    d = c.data()
    d.loc[0, "diameter"] = -1.0
    assert c.data().loc[0, "diameter"] != -1.0
