"""Stored references for the inference quantities: write, read, check.

``python -m validation inference-references [--force] [--cases KEY...]``
writes one JSON file per case of ``inference_cases.INFERENCE_CASES`` to
``refimpl/data/certified/inference/`` (and the ergoStool-like CSV).

How a reference is made
    refimpl's *analytic* values (the Satterthwaite df from the analytic
    Jacobian of C = sigma2 (X'V^-1X)^-1 and the analytic Hessian in
    (theta, sigma2); Kenward-Roger from its closed-form pieces; profile limits
    as roots of zeta with the analytic gradient inside each constrained fit),
    computed twice:

    * path 1 (stored): the REML fit (Newton to a relative gradient of 1e-13),
      profile root finder XTOL = 1e-13 and inner quasi-Newton INNER_GTOL = 1e-13
      (the defaults are 1e-9 and 1e-9);
    * path 2 (agreement only): the fit restarted from theta x 1.3, XTOL = 1e-11,
      INNER_GTOL = 1e-11.

    The stated ``digits`` of a value are the digits on which the two paths
    agree, floored, capped at :data:`DIGITS_CAP` = 12. A limit that is exactly
    0 (lme4's rule: an sd whose profile does not reach -z above 0) is exact.

Independent confirmation (not by refimpl's own algebra), recorded per case in
``independent_check`` and run by tests/test_validation_inference.py:

* Dyestuff profile limits: the balanced one-way ML profile in closed form
  from the ANOVA sums of squares, mpmath at 50 digits
  (tests/test_profile_ci.py, ``oneway_profile_limits``);
* sim_unbalanced_singletons, Satterthwaite df of x1: eq:satterthwaite with
  every derivative by mpmath differentiation of an independent mpmath REML
  likelihood (certified/mp_likelihood.py) at 30 digits
  (tests/test_ddf.py, ``mp_satterthwaite_df``);
* sleepstudy and the ergoStool-like design are balanced: the Satterthwaite and
  Kenward-Roger df of the slope (17) and of the Type contrasts and F test (24)
  are the integers of the split-plot ANOVA.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import sys
from pathlib import Path

from .inference_cases import INFERENCE_CASES, REFERENCE_DIR, InferenceCase, simulate_ergostool_like

__all__ = ["DIGITS_CAP", "TIGHT", "SECOND_PATH", "path_for", "load", "load_all", "build",
           "write", "agreement_digits", "add_parser"]

#: No stored value claims more digits than this (float64 carries ~15.6; the
#: two paths agree to 12-15 on these cases).
DIGITS_CAP = 12
#: Path 1: the stored values.
TIGHT = {"xtol": 1e-13, "inner_gtol": 1e-13}
#: Path 2: another start, looser iteration tolerances; only the agreement is kept.
SECOND_PATH = {"tolerances": {"xtol": 1e-11, "inner_gtol": 1e-11}, "start_scale": 1.3}

INDEPENDENT_CHECKS = {
    "dyestuff/reml": "balanced one-way ML profile in closed form, mpmath 50 digits "
                     "(tests/test_profile_ci.py oneway_profile_limits; asserted in "
                     "tests/test_validation_inference.py)",
    "sim_unbalanced_singletons/reml": "Satterthwaite df of x1 by mpmath differentiation of an "
                                      "independent mpmath REML likelihood, 30 digits "
                                      "(tests/test_ddf.py mp_satterthwaite_df; asserted in "
                                      "tests/test_validation_inference.py)",
    "sleepstudy_corr/reml": "balanced: Satterthwaite and KR df of Days and of its F test are "
                            "exactly 17 (asserted in tests/test_validation_inference.py)",
    "sim_slopes3/reml": "each correlation limit: an SLSQP fit of the ML likelihood over the "
                        "whole Cholesky factor with the correlation as an equality constraint "
                        "gives the deviance gap z^2 to 1e-9 (not refimpl's parameterization "
                        "or root finder; asserted in tests/test_validation_inference.py)",
    "ergostool_like/reml": "balanced: Satterthwaite and KR df of the Type contrasts and "
                           "DenDF of its F test are exactly 24 (asserted in "
                           "tests/test_validation_inference.py)",
}


def path_for(key: str, directory: Path = REFERENCE_DIR) -> Path:
    return directory / (key.replace("/", ".") + ".json")


def agreement_digits(a: float, b: float, scale: float | None = None) -> float:
    """Agreeing significant digits of two runs (15 when equal); absolute on ``scale`` at 0."""
    if a == b:
        return 15.0
    ref = abs(b) if b != 0 else (scale or 1.0)
    return max(0.0, -math.log10(abs(a - b) / ref))


def build(case: InferenceCase) -> dict:
    """The reference entry of one case (both paths; a few seconds)."""
    from refimpl.cases import data_sha256

    from .inference_values import refimpl_values

    v1, scales = refimpl_values(case, tolerances=TIGHT)
    v2, _ = refimpl_values(case, tolerances=SECOND_PATH["tolerances"],
                           start_scale=SECOND_PATH["start_scale"])
    agree = {q: agreement_digits(v2[q], v1[q], scales.get(q)) for q in v1}
    digits = {q: int(min(DIGITS_CAP, math.floor(a))) for q, a in agree.items()}
    return {
        "case": case.key, "description": case.description,
        "registry_case": case.registry, "spec": case.spec, "lme4_formula": case.lme4_formula,
        "data_sha256": data_sha256(case.data()),
        "method": ("refimpl's analytic values at tight tolerances: REML fit by Newton to a "
                   "relative gradient of 1e-13; profile root finder XTOL and inner "
                   "quasi-Newton INNER_GTOL 1e-13 (defaults 1e-9); alpha = 0.05"),
        "tolerances": {"fit_gtol": 1e-13, "profile_xtol": TIGHT["xtol"],
                       "profile_inner_gtol": TIGHT["inner_gtol"]},
        "second_path": {**SECOND_PATH, "min_agreement": round(min(agree.values()), 2)},
        "digits_rule": f"digits = floor(agreement of the two paths), capped at {DIGITS_CAP}",
        "independent_check": INDEPENDENT_CHECKS.get(case.key, "none beyond the second path"),
        "values": {q: repr(x) for q, x in v1.items()},
        "scales": {q: repr(x) for q, x in scales.items()},
        "digits": digits,
        "generator": "python -m validation inference-references",
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
    }


def _versions() -> dict:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for d in ("numpy", "scipy", "pandas"):
        try:
            out[d] = version(d)
        except PackageNotFoundError:
            pass
    return out


def write(keys: list[str] | None = None, force: bool = False, directory: Path = REFERENCE_DIR,
          log=print) -> list[Path]:
    """Build and write the references of ``keys`` (default: every case)."""
    directory.mkdir(parents=True, exist_ok=True)
    csv = directory / "ergostool_like.csv"
    if not csv.exists():
        simulate_ergostool_like().to_csv(csv, index=False, lineterminator="\n")
        log(f"wrote {csv}")
    written = []
    for key in keys or list(INFERENCE_CASES):
        if key not in INFERENCE_CASES:
            raise KeyError(f"unknown inference case {key!r}; choose from "
                           f"{', '.join(INFERENCE_CASES)}")
        path = path_for(key, directory)
        if path.exists() and not force:
            raise FileExistsError(f"{path} exists; pass --force to overwrite it")
        entry = build(INFERENCE_CASES[key])
        path.write_text(json.dumps(entry, indent=1) + "\n", encoding="utf-8")
        log(f"wrote {path}: {len(entry['values'])} values, two paths agree to "
            f">= {entry['second_path']['min_agreement']} digits")
        written.append(path)
    return written


def load(key: str, directory: Path = REFERENCE_DIR) -> dict | None:
    """The stored entry with floats decoded (``values``, ``scales``); None if absent."""
    path = path_for(key, directory)
    if not path.exists():
        return None
    entry = json.loads(path.read_text(encoding="utf-8"))
    entry["values"] = {q: float(x) for q, x in entry["values"].items()}
    entry["scales"] = {q: float(x) for q, x in entry.get("scales", {}).items()}
    return entry


def load_all(directory: Path = REFERENCE_DIR) -> dict[str, dict]:
    return {k: e for k in INFERENCE_CASES if (e := load(k, directory)) is not None}


def add_parser(sub) -> None:
    p = sub.add_parser("inference-references",
                       help="rebuild the stored references of the inference grading")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument("--cases", nargs="+", metavar="KEY",
                   help=f"inference cases (default: all): {' '.join(INFERENCE_CASES)}")
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    try:
        write(args.cases, force=args.force)
    except (FileExistsError, KeyError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    return 0
