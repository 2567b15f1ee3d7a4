"""The gate: how many digits each quantity must have, and why (one table).

:data:`CERTIFIED_GATE` is the LRE a *gated* engine (a plug-in, refimpl's
second-order engines) needs on each quantity kind -- against the certified
values where a case has them, against the lme4-tight store otherwise
(``compare.py``).  ``validation/CONTRACT.md`` section 4 prints it
(``contract.py``).  :func:`lre_certified` is the score against a certified
value, including the rule for a certified zero.
"""

from __future__ import annotations

import math

from refimpl.tolerances import LRE_CAP

__all__ = ["INFERENCE_LRE_MIN", "CERTIFIED_GATE", "CERTIFIED_GATED", "CERTIFIED_KNOWN_SHORTFALLS", "CERTIFIED_KINDS",
           "ZERO_REFERENCE_NOTE", "lre_certified", "gate_for"]

#: Engines held to CERTIFIED_LRE_MIN (8 digits) on every quantity of every
#: non-boundary certified case, beyond the per-quantity gate below.
CERTIFIED_GATED = ("refimpl_default",)

#: (engine, case) pairs that fall short for a known reason being fixed
#: elsewhere: shown (with the reason) but not gated.  Keep it empty or short;
#: tests/test_certified.py fails when an entry no longer falls short.
CERTIFIED_KNOWN_SHORTFALLS: dict[tuple[str, str], str] = {
    # None at present. oneway_tiny/reml (variance ratio 1e-6) was listed here
    # until Newton stopped refusing to take a large step on a flat likelihood
    # (refimpl/newton.py); it now reaches LRE 9.
}

#: Quantity kinds scored against certified values, in table order.
CERTIFIED_KINDS = ("fe", "bse", "cov_re", "vcomp", "scale", "llf")

#: The gate for every gated engine (plug-ins, refimpl): the smallest LRE
#: against the certified values, per quantity kind, and why.  CONTRACT.md
#: section 4 prints this table (validation/contract.py); change it here
#: only.  An optimizer stopping with a relative gradient tolerance eps leaves parameter errors of about
#: sqrt(eps) and llf errors of about eps (the llf is flat to first order at
#: the optimum), which is why llf asks for more digits than the parameters.
CERTIFIED_GATE: dict[str, tuple[float, str]] = {
    "fe": (5.0, "the fixed effects are GLS estimates given the covariance; they inherit "
                "its error damped by the design, so a converged fit gets 5 or more digits "
                "(lme4's default lmer: 5.3 at worst on these cases)"),
    "bse": (3.0, "standard errors are reported and used to 2-3 digits; they are graded "
                 "against the definition the engine declares (conditional: lme4's vcov; "
                 "observed: statsmodels' inverse observed information), else shown only"),
    "cov_re": (3.0, "covariance parameters are the least determined quantities: an "
                    "optimizer stopping at a relative gradient of 1e-6 leaves about 3 digits; "
                    "fewer means it stopped early (a 3% shortfall scores 1.5, a 0.5% units "
                    "slip 2.3)"),
    "vcomp": (3.0, "as cov_re: variance components are covariance parameters"),
    "scale": (4.0, "the residual variance is fixed by n - p residual degrees of freedom "
                   "and is better determined than the random-effects variances"),
    "llf": (8.0, "the log-likelihood is flat to first order at the optimum: parameters "
                 "right to 4 digits give llf right to about 8; fewer means a wrong "
                 "constant or a point short of the optimum"),
}

#: refimpl's profile limits and Satterthwaite / Kenward-Roger numbers at its
#: default tolerances against the stored inference references: the digits
#: needed on every quantity (why 7: validation/inference_grading.py).
INFERENCE_LRE_MIN = 7.0

#: A zero certified value (a variance on the boundary) has no relative error:
#: its LRE is -log10(|x| / sigma2), sigma2 the certified residual variance --
#: digits of zero *on the scale of the residual variance*, so it does not
#: depend on the data's units.  Other zero references use the absolute error.
ZERO_REFERENCE_NOTE = ("zero certified value: LRE = -log10(|x| / certified scale) for "
                       "variances, -log10|x| otherwise")


def lre_certified(x: float, c: float, digits: int, zero_scale: float | None) -> float:
    """LRE of ``x`` against a certified value ``c`` with ``digits`` certified digits.

    Relative for c != 0; for c == 0 relative to ``zero_scale`` (the certified
    residual variance, for variances) or absolute.  Capped at
    min(LRE_CAP, digits): no engine can have more right digits than the
    reference has certified.
    """
    cap = min(LRE_CAP, float(digits))
    if x == c:
        return cap
    if not (math.isfinite(x) and math.isfinite(c)):
        return 0.0
    if c != 0:
        err = abs(x - c) / abs(c)
    else:
        err = abs(x) / (zero_scale if zero_scale else 1.0)
    return min(cap, max(0.0, -math.log10(err)))


def gate_for(engine: str, kind: str, boundary: bool) -> float:
    """The LRE a gated engine needs on one quantity kind of a certified case."""
    need = CERTIFIED_GATE[kind][0]
    if engine in CERTIFIED_GATED and not boundary:
        from certified import CERTIFIED_LRE_MIN

        need = max(need, CERTIFIED_LRE_MIN)
    return need


