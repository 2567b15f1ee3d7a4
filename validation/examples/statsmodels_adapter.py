"""A worked adapter for a Python engine: statsmodels' ``MixedLM``.

The first example of ``validation/CONTRACT.md``; it passes the gate as
shipped (tests/test_validation_examples.py runs it on every case)::

    lmm-validate run --plugin validation.examples.statsmodels_adapter:fit

What it does, and why:

* fits ``case.spec`` exactly as given (``formula``, ``groups``,
  ``re_formula``, ``vc_formula`` are statsmodels' own arguments);
* uses L-BFGS with tight tolerances (``factr``, ``pgtol``): statsmodels'
  defaults stop 3-4 digits short of the optimum on the covariance
  parameters, which the gate (4 digits) would catch;
* when L-BFGS hits a singular matrix (statsmodels works with ``cov_re``'s
  inverse, which does not exist at or near a zero variance), it retries
  with statsmodels' default optimizer chain; if that fails too, or does not
  converge, on a case whose optimum is on the boundary, it declares the case
  unsupported
  (:class:`validation.Unsupported`) -- honest, and shown as such in the
  report, never as a pass;
* declares its standard errors' definition: statsmodels inverts the
  observed information of all parameters (``"observed"``).
"""

from __future__ import annotations

import numpy as np

from validation import Unsupported


def _fit(case, **options):
    import statsmodels.formula.api as smf

    s = case.spec
    model = smf.mixedlm(s["formula"], case.data(), groups=s["groups"],
                        re_formula=s["re_formula"], vc_formula=s["vc_formula"])
    return model, model.fit(reml=case.reml, **options)


def fit(case) -> dict:
    """Fit one case with statsmodels; the dict of CONTRACT.md, "What you return"."""
    try:
        model, res = _fit(case, method="lbfgs", maxiter=5000, factr=10.0, pgtol=1e-12)
    except np.linalg.LinAlgError:
        try:
            model, res = _fit(case)                      # bfgs, lbfgs, cg: the defaults
        except np.linalg.LinAlgError as exc:
            if case.boundary:
                raise Unsupported("statsmodels cannot fit a zero random-effects variance "
                                  f"(it inverts cov_re): {exc}") from None
            raise
        if case.boundary and not res.converged:
            raise Unsupported("statsmodels' optimizers do not converge at a zero "
                              "random-effects variance (boundary optimum)")
    return {
        "fe_params": res.fe_params,                      # Series: Intercept, Time, ...
        "bse_fe": res.bse_fe,
        "cov_re": res.cov_re,                            # DataFrame, data scale
        "vcomp": dict(zip(model.exog_vc.names, res.vcomp)) if model.k_vc else {},
        "scale": res.scale,                              # residual variance
        "llf": res.llf,                                  # REML or ML, as case.reml says
        "converged": res.converged,                      # informative only
        "extra": {"bse_fe_definition": "observed"},
    }
