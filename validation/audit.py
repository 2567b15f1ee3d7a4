"""Audit an engine's answer with refimpl's analytic score.

``refimpl.audit.audit_point(model, fe_params, cov_re, vcomp, scale, reml)``
evaluates, at the point an engine reported, our profiled log-likelihood
(``llf``), our analytic profiled score (``score``), a scale-free stationarity
measure (``scaled_gradient``, max over coordinates) and a verdict
(``stationary``, ``message``).  This turns "engine X says it converged" into
"at X's answer the gradient is (or is not) zero", and lets us check that the
log-likelihood an engine *reports* is the one at the point it reports.

The audit runs in the main process after the fits (it is cheap: one score
evaluation per row).  While refimpl's audit or model is not importable, every
audit says ``unavailable`` with the reason; nothing else changes.  An audit
that is attempted and cannot run -- the answer is not a valid covariance
(refimpl.covariance_check), or the likelihood cannot be evaluated there -- is
``failed``: the row fails with the audit's reason (compare.compare_audit).
An answer on the boundary is stationary only if the likelihood does not rise
off the boundary (refimpl.convergence, the KKT conditions).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

from .cases import Case
from .record import EngineResult

__all__ = ["AuditOutcome", "Auditor"]


@dataclasses.dataclass
class AuditOutcome:
    engine: str
    case: str
    available: bool
    llf: float | None = None
    scaled_gradient: float | None = None
    stationary: bool | None = None
    score: list[float] | None = None
    message: str = ""
    #: the audit was attempted on an ``ok`` row and could not run (the answer is
    #: not a valid covariance, or the likelihood cannot be evaluated there): a
    #: failure of the row, not "unavailable" (compare.compare_audit)
    failed: bool = False
    boundary: bool | None = None
    #: predicted llf gain of one Newton step from the point (refimpl.audit);
    #: the stationarity verdict compares it with the tolerance
    newton_gain: float | None = None
    #: measured llf gain off the boundary (0 in the interior)
    boundary_gain: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Auditor:
    """Audits results, building refimpl's model once per case."""

    def __init__(self) -> None:
        self._models: dict[str, Any] = {}
        self._reason: str | None = None
        try:
            from refimpl import audit  # noqa: F401

            self._audit_point = audit.audit_point
        except (ImportError, AttributeError) as exc:
            self._audit_point = None
            self._reason = f"refimpl audit not implemented yet ({exc})"

    @property
    def available(self) -> bool:
        return self._audit_point is not None

    def _model(self, case: Case):
        if case.name not in self._models:
            from .engines.refimpl_engine import build_model

            self._models[case.name] = build_model(case)
        return self._models[case.name]

    def audit(self, case: Case, r: EngineResult) -> AuditOutcome:
        if self._audit_point is None:
            return AuditOutcome(r.engine, case.name, False, message=self._reason or "")
        if r.status != "ok":
            return AuditOutcome(r.engine, case.name, False, message=f"row {r.status}")
        try:
            model = self._model(case)
            names = list(r.cov_re)
            fe = pd.Series(r.fe_params, dtype=float)
            cov = pd.DataFrame([[r.cov_re[a][b] for b in names] for a in names],
                               index=names, columns=names, dtype=float)
            vc = pd.Series(r.vcomp, dtype=float)
            out = self._audit_point(model, fe, cov, vc, float(r.scale), bool(case.reml))
        except Exception as exc:  # noqa: BLE001 -- an audit failure is reported, not raised
            return AuditOutcome(r.engine, case.name, False, failed=True,
                                message=f"audit failed: {type(exc).__name__}: {exc}")
        score = getattr(out, "score", None)
        return AuditOutcome(
            r.engine, case.name, True,
            llf=_f(getattr(out, "llf", None)),
            scaled_gradient=_f(getattr(out, "scaled_gradient", None)),
            stationary=(bool(out.stationary) if getattr(out, "stationary", None) is not None
                        else None),
            score=[float(x) for x in np.ravel(score)] if score is not None else None,
            message=str(getattr(out, "message", "")),
            boundary=(bool(out.boundary) if getattr(out, "boundary", None) is not None
                      else None),
            newton_gain=_f(getattr(out, "newton_gain", None)),
            boundary_gain=_f(getattr(out, "boundary_gain", None)),
        )


def _f(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None
