"""The reference implementation, one engine per optimizer.

``refimpl_<method>`` calls ``refimpl.MixedLM.from_formula(...).fit(reml=...,
method=...)`` (``method=None`` for ``refimpl_default``, the default pipeline).
Its results carry statsmodels' attribute names, so the mapping is direct.  The
convergence verdict refimpl computes from its analytic gradient (not an
optimizer flag) is kept in ``extra["verdict"]``; ``converged`` is the verdict's
``passed``.

While refimpl's fitter is not importable (it is being written), the engine
reports ``unavailable`` with the reason rather than failing.
"""

from __future__ import annotations

import time
import warnings

from ..cases import Case
from ..record import EngineResult

NOT_YET = "refimpl fit not implemented yet"


class RefimplUnavailable(Exception):
    pass


def mixedlm_class():
    """refimpl.MixedLM, or RefimplUnavailable saying why it cannot be used."""
    try:
        import refimpl

        cls = getattr(refimpl, "MixedLM", None)
        if cls is None:
            from refimpl.model import MixedLM as cls  # noqa: N813
    except ImportError as exc:
        raise RefimplUnavailable(f"{NOT_YET} (refimpl.MixedLM: {exc})") from None
    if not hasattr(cls, "from_formula") or not hasattr(cls, "fit"):
        raise RefimplUnavailable(f"{NOT_YET} (refimpl.MixedLM has no from_formula/fit)")
    return cls


def build_model(case: Case, data=None):
    """refimpl's model object for a case (also used by the audit)."""
    cls = mixedlm_class()
    spec = case.spec
    return cls.from_formula(spec["formula"], case.data() if data is None else data,
                            groups=spec["groups"], re_formula=spec["re_formula"],
                            vc_formula=spec["vc_formula"])


def _vector(x) -> dict:
    if x is None:
        return {}
    if hasattr(x, "items"):
        return {str(k): float(v) for k, v in x.items()}
    raise TypeError(f"expected a pandas Series, got {type(x).__name__}")


class RefimplEngine:
    kind = "refimpl"

    def __init__(self, method: str = "default"):
        self.method = method
        self.name = f"refimpl_{method}"

    def fit(self, case: Case) -> EngineResult:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                t0 = time.perf_counter()
                model = build_model(case)
                res = model.fit(reml=case.reml,
                                method=None if self.method == "default" else self.method)
                elapsed = time.perf_counter() - t0
        except (RefimplUnavailable, NotImplementedError, ImportError) as exc:
            if isinstance(exc, ImportError) and not str(getattr(exc, "name", "") or
                                                        "").startswith("refimpl"):
                raise  # a missing third-party module is a real failure
            msg = str(exc) if isinstance(exc, RefimplUnavailable) else \
                f"{NOT_YET} ({type(exc).__name__}: {exc})"
            return EngineResult.unavailable(self.name, case.name, msg)
        cov = res.cov_re
        re_names = [str(n) for n in cov.index] if cov is not None else []
        verdict = getattr(res, "convergence", None)
        ranef = {}
        for g, s in (getattr(res, "random_effects", None) or {}).items():
            ranef[str(g)] = {n: float(s[n]) for n in re_names if n in s}
        extra = {"method": self.method}
        bse_def = getattr(res, "bse_fe_definition", None)
        if bse_def is not None:  # "conditional": sigma2 (X'V^-1X)^-1, as lme4
            extra["bse_fe_definition"] = str(bse_def)
        if verdict is not None:
            extra["verdict"] = {"passed": bool(getattr(verdict, "passed", False)),
                                "reason": str(getattr(verdict, "reason", ""))}
        return EngineResult(
            engine=self.name, case=case.name,
            fe_params=_vector(res.fe_params),
            bse_fe=_vector(getattr(res, "bse_fe", None)) or None,
            cov_re={r: {c: float(cov.loc[r, c]) for c in cov.columns} for r in re_names},
            vcomp=_vector(getattr(res, "vcomp", None)),
            scale=float(res.scale), llf=float(res.llf),
            converged=(bool(verdict.passed) if verdict is not None
                       else bool(getattr(res, "converged", False))),
            random_effects=ranef,
            warnings=[f"{w.category.__name__}: {w.message}" for w in caught],
            time_s=elapsed, extra=extra,
        )
