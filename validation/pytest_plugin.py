"""pytest plug-in: grade an adapter inside a project's own test suite.

Installed with the package (entry point ``pytest11``), inactive unless asked::

    pytest --lmm-validate mypkg.adapter:fit [--lmm-validate-cases dyestuff,sleepstudy]
           [--lmm-validate-jobs 2] [--lmm-validate-timeout 120]

adds one test per case, ``lmm-validate::<case>``: it passes when every
gated check of that case passed, fails with the reasons (quantity, LRE,
what it needed; the audit's verdict) otherwise, and is skipped for a case the
adapter declares unsupported.  The suite runs once, at the first of these
tests, for all selected cases.

For a fixture instead: ``validation.testing.grade(adapter, cases)`` returns
the whole outcome (see its docstring).
"""

from __future__ import annotations

import pytest

_STATE: dict = {}


def pytest_addoption(parser) -> None:
    g = parser.getgroup("lmm-validate", "grade a linear mixed model adapter")
    g.addoption("--lmm-validate", metavar="MOD:FUNC", default=None,
                help="grade this adapter (package.module:function) against the certified values")
    g.addoption("--lmm-validate-cases", action="append", metavar="PATTERN[,PATTERN]",
                default=None, help="case names or prefixes, comma-separated or repeated "
                                   "(default: every case)")
    g.addoption("--lmm-validate-jobs", type=int, default=0,
                help="worker processes (default 0: in the pytest process)")
    g.addoption("--lmm-validate-timeout", type=float, default=120.0,
                help="seconds per fit when --lmm-validate-jobs >= 1")


class LmmCaseItem(pytest.Item):
    """One validation case of the adapter under test."""

    def __init__(self, *, case: str, **kw):
        super().__init__(**kw)
        self.case = case

    def _outcome(self):
        if "out" not in _STATE:
            from .testing import grade

            opt = self.config.getoption
            _STATE["out"] = grade(opt("--lmm-validate"), _patterns(self.config),
                                  jobs=opt("--lmm-validate-jobs"),
                                  timeout=opt("--lmm-validate-timeout"))
        return _STATE["out"]

    def runtest(self) -> None:
        rows = [v for v in self._outcome().rows if v.case == self.case]
        if not rows:
            raise AssertionError(f"no result for {self.case}")
        v = rows[0]
        if v.status in ("unsupported", "unavailable"):
            pytest.skip(f"{v.status}: {' '.join(v.reasons)}")
        if v.passed is False:
            raise AssertionError(f"{self.case}: " + "; ".join(
                r for r in v.reasons if "[not graded" not in r))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, AssertionError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return "lmm-validate", None, f"lmm-validate::{self.case}"


def _patterns(config) -> list[str] | None:
    given = config.getoption("--lmm-validate-cases") or []
    pats = [p.strip() for g in given for p in g.split(",") if p.strip()]
    return pats or None


def pytest_collection_modifyitems(session, config, items) -> None:
    adapter = config.getoption("--lmm-validate")
    if not adapter:
        return
    from .cases import select

    try:
        cases = select(_patterns(config))
    except KeyError as exc:
        raise pytest.UsageError(f"--lmm-validate-cases: {exc.args[0]}") from None
    for case in cases:
        items.append(LmmCaseItem.from_parent(session, name=f"lmm-validate::{case.name}",
                                             case=case.name))
