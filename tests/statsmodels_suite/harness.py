"""Run statsmodels' own MixedLM test suite against refimpl, unchanged, and count the outcomes.

    from harness import run_suite
    summary = run_suite()          # Summary(passed=..., failed=..., ...)

Steps:
1. locate the installed ``statsmodels/regression/tests/test_lme.py`` and its
   ``results/`` package;
2. check the file's SHA-256 against the value recorded for the installed
   statsmodels version (expectations.TEST_FILE_SHA256): the test bodies are
   statsmodels', untouched;
3. copy the file and ``results/`` into a temporary package, next to a
   ``conftest.py`` that loads rebind.py (refimpl's classes swapped in before
   the test module imports them);
4. run pytest on it in a subprocess (its own ini file: no -m filter, so the
   tests statsmodels marks slow run too) and read back each test's outcome.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

sys.path.insert(0, str(HERE))
from expectations import NOT_APPLICABLE, TEST_FILE_SHA256, XFAIL  # noqa: E402

OUTCOMES = ("passed", "failed", "not_applicable", "xfailed", "xpassed", "skipped")


class SuiteUnavailable(RuntimeError):
    """statsmodels or its test file is missing, or the test file is not the recorded one."""


@dataclass
class Summary:
    counts: dict
    tests: dict = field(default_factory=dict)   # short node id -> {"outcome", "message"}
    statsmodels_version: str = ""
    returncode: int = 0

    def __getattr__(self, name):
        if name in OUTCOMES:
            return self.counts.get(name, 0)
        raise AttributeError(name)

    @property
    def total(self):
        return sum(self.counts.values())

    def line(self):
        return ", ".join(f"{k}: {self.counts.get(k, 0)}" for k in OUTCOMES) + f" (of {self.total})"


def locate():
    """(path of test_lme.py, statsmodels version); SuiteUnavailable if absent or changed."""
    try:
        import statsmodels
    except ImportError as exc:
        raise SuiteUnavailable(f"statsmodels is not installed: {exc}") from None
    path = Path(statsmodels.__file__).parent / "regression" / "tests" / "test_lme.py"
    if not path.exists() or not (path.parent / "results" / "lme_r_results.py").exists():
        raise SuiteUnavailable(f"statsmodels {statsmodels.__version__} has no {path} with results/ "
                               "(was it installed without its tests?)")
    version = statsmodels.__version__
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    expected = TEST_FILE_SHA256.get(version)
    if expected is None:
        raise SuiteUnavailable(f"no SHA-256 recorded for statsmodels {version}'s test_lme.py "
                               f"(recorded: {sorted(TEST_FILE_SHA256)}). Read the new file, update "
                               f"expectations.py, and record {digest}")
    if digest != expected:
        raise SuiteUnavailable(f"{path} has SHA-256 {digest}, not the {expected} recorded for "
                               f"statsmodels {version}: the tests were changed")
    return path, version


def _write_tree(tmp: Path, test_file: Path):
    pkg = tmp / "smsuite"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    shutil.copy2(test_file, pkg / "test_lme.py")
    shutil.copytree(test_file.parent / "results", pkg / "results",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp / "conftest.py").write_text("from rebind import *  # noqa: F401,F403 (refimpl swapped in)\n"
                                     "from rebind import pytest_collection_modifyitems, "
                                     "pytest_runtest_logreport, pytest_sessionfinish  # noqa: F401\n")
    (tmp / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: statsmodels' slow tests\n"
                                    "    smoke: statsmodels' smoke tests\n"
                                    "filterwarnings =\n    default\n")


def run_suite(keyword: str | None = None, timeout: float = 900.0, verbose: bool = False) -> Summary:
    """Run the suite; ``keyword`` is passed to pytest -k (for a quick look at a few tests)."""
    test_file, version = locate()
    with tempfile.TemporaryDirectory(prefix="refimpl-conformance-") as tmpdir:
        tmp = Path(tmpdir)
        _write_tree(tmp, test_file)
        out = tmp / "outcomes.json"
        env = dict(os.environ)
        env["REFIMPL_CONFORMANCE_OUT"] = str(out)
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE), str(tmp)]
                                            + [p for p in [env.get("PYTHONPATH")] if p])
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        cmd = [sys.executable, "-m", "pytest", "-c", str(tmp / "pytest.ini"), "--rootdir", str(tmp),
               "-p", "no:cacheprovider", "-q", "--tb=line" if not verbose else "--tb=short",
               str(tmp / "smsuite" / "test_lme.py")]
        if keyword:
            cmd += ["-k", keyword]
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=not verbose, text=True,
                              timeout=timeout)
        if not out.exists():
            raise RuntimeError("the conformance run wrote no outcomes:\n"
                               + (proc.stdout or "")[-3000:] + (proc.stderr or "")[-3000:])
        tests = json.loads(out.read_text())
    counts = {k: 0 for k in OUTCOMES}
    for rec in tests.values():
        counts[rec["outcome"]] = counts.get(rec["outcome"], 0) + 1
    return Summary(counts, tests, version, proc.returncode)


def expectations_table():
    """The explicit lists, for printing."""
    return ([("not applicable", k, v) for k, v in NOT_APPLICABLE.items()]
            + [("xfail", k, v) for k, v in XFAIL.items()])
