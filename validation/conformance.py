"""``python -m validation conformance``: statsmodels' own MixedLM tests, run against refimpl.

statsmodels ships ``statsmodels/regression/tests/test_lme.py``. The harness in
``tests/statsmodels_suite/`` runs that file byte for byte unchanged (checked
by SHA-256), with ``MixedLM``, ``MixedLMParams``, ``statsmodels.api.MixedLM``
and ``statsmodels.formula.api.mixedlm`` rebound to refimpl's, and counts
passed / failed / not applicable / xfail. The not-applicable and xfail lists
are explicit, with a reason each (``tests/statsmodels_suite/expectations.py``).

    python -m validation conformance [-k EXPR] [--failures] [--json PATH]

Exit status 0 when no test failed, 1 when some did, 2 when the suite could
not be run (statsmodels missing, or its test file not the recorded one).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "tests" / "statsmodels_suite" / "harness.py"


def load_harness():
    """The harness module (it lives with the tests, outside the installed packages)."""
    if not HARNESS.exists():
        raise FileNotFoundError(f"{HARNESS} not found: run from a clone of the repository")
    spec = importlib.util.spec_from_file_location("refimpl_conformance_harness", HARNESS)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod            # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def cmd_conformance(args) -> int:
    try:
        harness = load_harness()
        summary = harness.run_suite(keyword=args.k, verbose=args.verbose)
    except FileNotFoundError as exc:
        print(f"conformance unavailable: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - SuiteUnavailable and a run that wrote nothing
        print(f"conformance unavailable: {exc}", file=sys.stderr)
        return 2
    if args.failures or args.all:
        for name, rec in sorted(summary.tests.items()):
            if args.all or rec["outcome"] in ("failed", "xpassed"):
                msg = f"  {rec['message']}" if rec.get("message") else ""
                print(f"{rec['outcome']:<15}{name}{msg}")
    if args.json:
        Path(args.json).write_text(json.dumps({"statsmodels": summary.statsmodels_version,
                                               "counts": summary.counts,
                                               "tests": summary.tests}, indent=1))
    print(f"statsmodels {summary.statsmodels_version} test_lme.py with refimpl's MixedLM: "
          f"{summary.line()}")
    return 1 if summary.failed else 0


def add_parser(sub) -> None:
    p = sub.add_parser("conformance", help="run statsmodels' own test_lme.py against refimpl")
    p.add_argument("-k", metavar="EXPR", default=None, help="pytest -k expression (a subset)")
    p.add_argument("--failures", action="store_true", help="list the failing tests")
    p.add_argument("--all", action="store_true", help="list every test with its outcome")
    p.add_argument("--verbose", action="store_true", help="show pytest's own output")
    p.add_argument("--json", metavar="PATH", default=None, help="write the outcomes as JSON")
    p.set_defaults(func=cmd_conformance)
