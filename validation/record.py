"""The common record every engine returns: :class:`EngineResult`.

Whatever fitted a case (refimpl, statsmodels, lme4, a user's adapter), its
answer is put into the same record with the same names, so comparisons never
need to know who produced it:

=================  =========================================================
field              meaning (statsmodels' names and units)
=================  =========================================================
engine, case       who fitted what (``"lme4"``, ``"dietox_slope/reml"``)
status             ``"ok"``, ``"failed"`` (raised, timed out, non-finite),
                   ``"unavailable"`` (the engine cannot run here: say why) or
                   ``"unsupported"`` (the engine cannot express this model:
                   the adapter raised :class:`Unsupported` or returned
                   ``{"unsupported": "reason"}``; shown, never a failure)
error              the message for failed/unavailable rows
fe_params          {name: value}: ``Intercept``, ``Time``, ...
bse_fe             {name: standard error} of the fixed effects
cov_re             {row: {col: value}}: random-effects covariance on the data
                   scale (not divided by the residual variance), indexed by
                   statsmodels' ``exog_re_names`` (``Pig``, ``Time``)
vcomp              {component: variance} on the data scale
scale              residual variance sigma2
llf                maximized log-likelihood (REML or ML as the case asks)
converged          the engine's own convergence flag (informative only)
random_effects     {group label: {name: BLUP}} for the ``cov_re`` block
warnings           warnings/messages the engine emitted while fitting
time_s             wall time of the fit itself, seconds
extra              anything engine-specific (R's own fit time, isSingular...)
=================  =========================================================

``to_json``/``from_json`` keep every float at full precision: Python's
``json`` writes ``repr(float)``, the shortest string that reads back to the
same double.  Non-finite numbers are written as the strings ``"NaN"``,
``"Infinity"``, ``"-Infinity"`` so the file stays standard JSON.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["EngineResult", "Unsupported", "STATUSES", "from_any", "nonfinite_fields", "answer_problems",
           "encode_floats", "decode_floats"]

STATUSES = ("ok", "failed", "unavailable", "unsupported")


class Unsupported(Exception):
    """Raised by an adapter for a model its engine cannot express.

    ``raise Unsupported("crossed random effects")`` (or returning
    ``{"unsupported": "crossed random effects"}``) makes the row
    ``unsupported``: shown with the reason, never graded, never a failure.
    """

_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


@dataclasses.dataclass
class EngineResult:
    """One engine's answer for one case (see the module docstring)."""

    engine: str
    case: str
    status: str = "ok"
    error: str | None = None
    fe_params: dict[str, float] = dataclasses.field(default_factory=dict)
    bse_fe: dict[str, float] | None = None
    cov_re: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    vcomp: dict[str, float] = dataclasses.field(default_factory=dict)
    scale: float | None = None
    llf: float | None = None
    converged: bool | None = None
    random_effects: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)
    time_s: float | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    # -- construction helpers ------------------------------------------------

    @classmethod
    def failed(cls, engine: str, case: str, error: str, **kw: Any) -> "EngineResult":
        return cls(engine=engine, case=case, status="failed", error=error, **kw)

    @classmethod
    def unavailable(cls, engine: str, case: str, error: str) -> "EngineResult":
        return cls(engine=engine, case=case, status="unavailable", error=error)

    @classmethod
    def unsupported(cls, engine: str, case: str, reason: str) -> "EngineResult":
        return cls(engine=engine, case=case, status="unsupported", error=reason)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    # -- JSON ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return encode_floats(dataclasses.asdict(self))

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "EngineResult":
        d = decode_floats(dict(d))
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown EngineResult fields {sorted(unknown)}; "
                             f"allowed: {sorted(names)}")
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "EngineResult":
        return cls.from_dict(json.loads(text))


# --------------------------------------------------------------------------
# Float encoding (full precision, standard JSON)
# --------------------------------------------------------------------------

def encode_floats(obj: Any) -> Any:
    """Replace non-finite floats by strings, numpy scalars by Python ones."""
    if isinstance(obj, dict):
        return {str(k): encode_floats(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [encode_floats(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if math.isnan(x):
            return "NaN"
        if math.isinf(x):
            return "Infinity" if x > 0 else "-Infinity"
        return x
    return obj


def decode_floats(obj: Any) -> Any:
    """Inverse of :func:`encode_floats` for the non-finite markers."""
    if isinstance(obj, dict):
        return {k: decode_floats(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_floats(v) for v in obj]
    if isinstance(obj, str) and obj in _NONFINITE:
        return _NONFINITE[obj]
    return obj


# --------------------------------------------------------------------------
# Normalising whatever an adapter returns
# --------------------------------------------------------------------------

def _vector(x: Any, what: str) -> dict[str, float]:
    """A name -> float dict from a dict or pandas Series."""
    if x is None:
        return {}
    if hasattr(x, "to_dict") and not hasattr(x, "columns"):  # pandas Series
        x = x.to_dict()
    if not isinstance(x, Mapping):
        raise TypeError(f"{what} must be a dict or pandas Series keyed by name, "
                        f"got {type(x).__name__}")
    return {str(k): _number(v, f"{what}[{k}]") for k, v in x.items()}


def _number(v: Any, what: str) -> float:
    """float(v), or a TypeError naming the key: a string or a list is not an estimate."""
    if isinstance(v, (str, bytes)) or not np.ndim(v) == 0:
        raise TypeError(f"{what} must be a number, got {type(v).__name__} {v!r:.60}")
    try:
        return float(v)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be a number, got {type(v).__name__} {v!r:.60}") from exc


def _matrix(x: Any, what: str) -> dict[str, dict[str, float]]:
    """A row -> {col -> float} dict from a nested dict or pandas DataFrame."""
    if x is None:
        return {}
    if hasattr(x, "columns"):  # DataFrame: its to_dict is column-major
        return {str(r): {str(c): float(x.loc[r, c]) for c in x.columns} for r in x.index}
    if not isinstance(x, Mapping):
        raise TypeError(f"{what} must be a nested dict or pandas DataFrame "
                        f"indexed by name, got {type(x).__name__}")
    out = {}
    for r, row in x.items():
        if hasattr(row, "to_dict") and not hasattr(row, "columns"):
            row = row.to_dict()
        if not isinstance(row, Mapping):
            raise TypeError(f"{what}[{r}] must be a dict of column -> value, "
                            f"got {type(row).__name__} {row!r:.60}")
        out[str(r)] = {str(c): _number(v, f"{what}[{r},{c}]") for c, v in row.items()}
    return out


def from_any(obj: Any, engine: str, case: str) -> EngineResult:
    """An :class:`EngineResult` from an adapter's return value.

    Accepts an EngineResult or a mapping with the same keys (``fe_params``,
    ``cov_re``, ``vcomp``, ``scale``, ``llf`` ...); pandas Series/DataFrames
    and numpy scalars are converted.  ``engine``/``case`` are filled in.
    """
    if isinstance(obj, EngineResult):
        d = dataclasses.asdict(obj)
    elif isinstance(obj, Mapping):
        d = dict(obj)
    else:
        raise TypeError(f"an adapter must return an EngineResult or a dict, "
                        f"got {type(obj).__name__}")
    if set(d) == {"unsupported"}:                 # {"unsupported": "reason"}
        why = d["unsupported"]
        if not isinstance(why, str) or not why.strip():
            raise TypeError("'unsupported' must be a non-empty reason string, got "
                            f"{why!r:.60}")
        return EngineResult.unsupported(engine, case, why.strip())
    names = {f.name for f in dataclasses.fields(EngineResult)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"unknown result keys {sorted(unknown)}; "
                         f"allowed: {sorted(names)}")
    d["engine"], d["case"] = engine, case
    d.setdefault("status", "ok")
    if d["status"] not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {d['status']!r:.60}")
    d["fe_params"] = _vector(d.get("fe_params"), "fe_params")
    d["bse_fe"] = _vector(d["bse_fe"], "bse_fe") if d.get("bse_fe") is not None else None
    d["cov_re"] = _matrix(d.get("cov_re"), "cov_re")
    d["vcomp"] = _vector(d.get("vcomp"), "vcomp")
    d["random_effects"] = {str(g): _vector(v, "random_effects")
                           for g, v in (d.get("random_effects") or {}).items()}
    for k in ("scale", "llf", "time_s"):
        if d.get(k) is not None:
            d[k] = _number(d[k], k)
    if not isinstance(d.get("extra") or {}, Mapping):
        raise TypeError(f"extra must be a dict, got {type(d['extra']).__name__}")
    if isinstance(d.get("warnings"), (str, bytes)):
        d["warnings"] = [d["warnings"]]
    if d.get("converged") is not None:
        d["converged"] = bool(d["converged"])
    d["warnings"] = [str(w) for w in (d.get("warnings") or [])]
    d["extra"] = dict(d.get("extra") or {})
    return EngineResult(**d)


def nonfinite_fields(r: EngineResult) -> list[str]:
    """Names of the estimates that are missing or not finite (NaN, inf)."""
    bad: list[str] = []
    for k, v in r.fe_params.items():
        if not math.isfinite(v):
            bad.append(f"fe_params[{k}]")
    for k, v in (r.bse_fe or {}).items():
        if not math.isfinite(v):
            bad.append(f"bse_fe[{k}]")
    for i, row in r.cov_re.items():
        for j, v in row.items():
            if not math.isfinite(v):
                bad.append(f"cov_re[{i},{j}]")
    for k, v in r.vcomp.items():
        if not math.isfinite(v):
            bad.append(f"vcomp[{k}]")
    for k in ("scale", "llf"):
        v = getattr(r, k)
        if v is None or not math.isfinite(v):
            bad.append(k)
    if not r.fe_params:
        bad.append("fe_params (empty)")
    return bad


def answer_problems(r: EngineResult) -> list[str]:
    """Why the answer is not a valid covariance (refimpl.covariance_check); [] if it is.

    ``cov_re`` must be square (every row names the same columns as the rows)
    and symmetric positive semi-definite, every ``vcomp`` >= 0, ``scale`` > 0,
    all finite.  An answer with any of these problems is not a point of the
    model: it fails, with these reasons, before anything is compared.
    """
    from refimpl.covariance_check import covariance_problems

    names = list(r.cov_re)
    for a in names:
        cols = list(r.cov_re[a])
        if sorted(cols) != sorted(names):
            return [f"cov_re must be square with the same names for rows and columns: row "
                    f"{a!r} has columns {cols}, the rows are {names}"]
    import pandas as pd

    cov = pd.DataFrame([[r.cov_re[a][b] for b in names] for a in names], index=names,
                       columns=names, dtype=float)
    vc = pd.Series(r.vcomp, dtype=float)
    return covariance_problems(cov, vc, r.scale if r.scale is not None else float("nan"))
