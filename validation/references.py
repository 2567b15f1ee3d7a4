"""The reference store: tight lme4 optima at full precision, with provenance.

``refimpl/data/references/lme4_tight.json`` holds, per case, the
:class:`~validation.record.EngineResult` of the ``lme4_tight`` engine (bobyqa
with tight tolerances, verified by Nelder-Mead fits from its optimum and
from the default start;
see ``engines/lme4_engine.py``), the SHA-256 of the data it fitted
(:func:`validation.cases.data_sha256`) and the lme4 formula used.  The file's
``provenance`` records R, lme4, Matrix, rpy2, Python and numpy versions, the
optimizer settings, the date and the command.

Runs compare every engine against this store; they never refit it.  The
store changes only through ``python -m validation regenerate-references``,
which refuses to overwrite an existing file without ``--force`` and then keeps
the previous file as ``refimpl/data/references/backup/lme4_tight-<UTC time>.json``.
With ``--cases`` only those cases are refitted and merged into the store.

A stored case whose ``data_sha256`` differs from the data a run fits is
*stale*: gated comparisons on it fail and say to regenerate.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

from .cases import Case, data_sha256
from .record import EngineResult, encode_floats

__all__ = ["STORE", "ReferenceStore", "load", "regenerate", "RefusedOverwrite"]

ROOT = Path(__file__).resolve().parent.parent
#: The committed reference store.
STORE = (Path(__file__).resolve().parent.parent / "refimpl" / "data" / "references"
         / "lme4_tight.json")
FORMAT = 1


class RefusedOverwrite(RuntimeError):
    """The store exists and --force was not given."""


class ReferenceStore:
    """Loaded reference values: ``get(case_name)`` -> (EngineResult, entry)."""

    def __init__(self, doc: dict[str, Any], path: Path):
        self.doc = doc
        self.path = path
        self.provenance = doc.get("provenance", {})
        self.cases: dict[str, dict[str, Any]] = doc.get("cases", {})

    def result(self, case_name: str) -> EngineResult | None:
        entry = self.cases.get(case_name)
        return EngineResult.from_dict(entry["result"]) if entry else None

    def check(self, case: Case, current_sha: str | None = None) -> str | None:
        """``None`` if the store has a current reference for ``case``, else why not."""
        entry = self.cases.get(case.name)
        if entry is None:
            return (f"no reference for {case.name} in {self.path.name}; run "
                    f"`python -m validation regenerate-references --force --cases {case.name}`")
        sha = current_sha if current_sha is not None else data_sha256(case.data())
        if entry.get("data_sha256") != sha:
            return (f"stale reference for {case.name}: the data fitted now (SHA-256 "
                    f"{sha[:12]}...) differs from the data the reference was computed "
                    f"on ({str(entry.get('data_sha256'))[:12]}...); regenerate with "
                    f"`python -m validation regenerate-references --force --cases {case.name}`")
        return None


def load(path: Path | str = STORE) -> ReferenceStore | None:
    """The store at ``path`` or ``None`` if there is none."""
    path = Path(path)
    if not path.exists():
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown reference format {doc.get('format')!r}")
    return ReferenceStore(doc, path)


def _provenance() -> dict[str, Any]:
    import numpy
    import pandas

    from .engines.lme4_engine import TIGHT_BOBYQA, TIGHT_RESTART, r_versions

    return {
        "generated_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m validation regenerate-references",
        "engine": "lme4_tight",
        "versions": {**r_versions(), "python": platform.python_version(),
                     "numpy": numpy.__version__, "pandas": pandas.__version__},
        "platform": platform.platform(),
        "optimizer": {"lmerControl(optimizer=)": "bobyqa", "optCtrl": TIGHT_BOBYQA,
                      "verification": "refit with Nelder_Mead from the bobyqa optimum and "
                                      "from lme4's default start; keep the lowest criterion",
                      "restart_optCtrl": TIGHT_RESTART},
        "float_format": "repr (shortest round-trip decimal)",
        "data_sha256": "SHA-256 of the fitted DataFrame written by "
                       "DataFrame.to_csv(index=False, lineterminator='\\n')",
    }


def regenerate(cases: list[Case], path: Path | str = STORE, force: bool = False,
               jobs: int = 1, timeout: float = 300.0,
               log=print) -> tuple[Path, list[str]]:
    """Refit ``cases`` with lme4_tight and write the store.

    Returns (path written, messages about cases that could not be fitted).
    Raises :class:`RefusedOverwrite` when the file exists and not ``force``.
    """
    from . import rbridge
    from .runner import run_tasks

    path = Path(path)
    if path.exists() and not force:
        raise RefusedOverwrite(
            f"{path} exists; it is the committed reference. Pass --force to refit "
            "and overwrite it (the current file is kept as a timestamped backup).")
    reason = rbridge.r_available(["lme4"])
    if reason:
        raise RuntimeError(f"cannot regenerate references: {reason}")

    old = load(path)
    doc: dict[str, Any] = {"format": FORMAT, "provenance": _provenance(), "cases": {}}
    if old is not None:  # keep cases not refitted now, with their own provenance
        for name, entry in old.cases.items():
            entry = dict(entry)
            entry.setdefault("provenance", old.provenance)
            doc["cases"][name] = entry

    results = run_tasks([("lme4_tight", c.name) for c in cases], jobs=jobs, timeout=timeout)
    problems: list[str] = []
    by_name = {r.case: r for r in results}
    for case in cases:
        r = by_name[case.name]
        if r.status != "ok":
            problems.append(f"{case.name}: {r.status}: {r.error}")
            log(f"  {case.name}: NOT stored ({r.status}: {r.error})")
            continue
        doc["cases"][case.name] = {
            "data_sha256": data_sha256(case.data()),
            "description": case.describe(),
            "result": r.to_dict(),
        }
        v = r.extra.get("verification", {})
        log(f"  {case.name}: llf={r.llf!r} kept={v.get('kept')} criterion change: "
            f"restart {v.get('restart_criterion_change')!r}, independent "
            f"{v.get('independent_criterion_change')!r}")
    order = list(doc["cases"])
    doc["cases"] = {k: doc["cases"][k] for k in sorted(order)}

    if path.exists():
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        backup = path.parent / "backup" / f"{path.stem}-{stamp}{path.suffix}"
        backup.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, backup)
        log(f"previous store kept as {backup}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(encode_floats(doc), indent=1, sort_keys=False) + "\n",
                    encoding="utf-8")
    return path, problems


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `python -m validation regenerate-references`")
