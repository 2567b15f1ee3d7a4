"""``lmm-validate init-adapter NAME``: a skeleton adapter and a test for it.

The skeleton fits nothing yet: it raises :class:`validation.Unsupported`
for every case, so the suite runs end to end at once (every row
"unsupported", exit status 2: nothing graded) and the user replaces one
marked block with a call to their engine.
"""

from __future__ import annotations

import keyword
from pathlib import Path

__all__ = ["write_adapter"]

ADAPTER = '''"""Adapter: {name} for the lmm-refimpl validation suite (see validation/CONTRACT.md)."""

from validation import Unsupported


def fit(case):
    """Fit one validation case; return the dict of CONTRACT.md "What you return"."""
    spec = case.spec              # formula, groups, re_formula, vc_formula (statsmodels' words)
    data = case.data()            # fresh pandas DataFrame; factor columns are str
    reml = case.reml              # True: REML, False: ML
    if spec["vc_formula"]:        # delete when your engine handles variance components
        raise Unsupported("variance components are not implemented yet")

    # ---- replace this block with a call to your engine ---------------------
    raise Unsupported("{name}: the adapter is a skeleton (edit {name}.py)")
    # result = myengine.fit(spec["formula"], data, groups=spec["groups"], ...)
    # ------------------------------------------------------------------------

    return {{
        "fe_params": {{}},          # {{"Intercept": ..., "Time": ...}} (patsy's names)
        "cov_re": {{}},             # {{"Pig": {{"Pig": ..., "Time": ...}}, "Time": {{...}}}} data scale
        "vcomp": {{}},              # {{"cask": ...}} named by the vc_formula keys, data scale
        "scale": None,            # residual variance sigma^2
        "llf": None,              # maximized log-likelihood, REML or ML as case.reml says
        # optional: "bse_fe": {{...}}, "converged": True,
        #           "extra": {{"bse_fe_definition": "conditional" or "observed"}},
    }}
'''

TEST = '''"""Grades the {name} adapter with the validation suite (pytest {name}_test file)."""

from validation.testing import failures, grade

import {name}


def test_{name}_passes_the_gate():
    out = grade({name}.fit, cases=["dyestuff", "sleepstudy"])
    graded = [v for v in out.rows if v.status == "ok"]
    assert graded, "nothing graded: every case unsupported or failed; " + \\
        "; ".join(f"{{v.case}}: {{v.reasons}}" for v in out.rows)
    assert not failures(out), failures(out)
'''


def write_adapter(name: str, directory: Path, force: bool = False) -> list[Path]:
    """Write ``NAME.py`` and ``test_NAME.py`` into ``directory``; return their paths."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"NAME must be a Python module name (letters, digits, _), got {name!r}")
    directory.mkdir(parents=True, exist_ok=True)
    files = [(directory / f"{name}.py", ADAPTER.format(name=name)),
             (directory / f"test_{name}.py", TEST.format(name=name))]
    for path, _ in files:
        if path.exists() and not force:
            raise FileExistsError(f"{path} exists; pass --force to overwrite it")
    for path, text in files:
        path.write_text(text, encoding="utf-8")
    return [p for p, _ in files]
