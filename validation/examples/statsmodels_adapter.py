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
  with statsmodels' default optimizer chain; if that fails too on a case
  whose optimum is on the boundary, it declares the case unsupported
  (:class:`validation.Unsupported`);
* when statsmodels says it did not converge (``res.converged`` is False:
  a zero variance at the optimum, or ``sim_near_singular/ml`` where L-BFGS
  stops with a predicted Newton gain of 3e-8 and statsmodels' llf is off by
  1e-6 near the singular ``cov_re``), it declares the case unsupported
  rather than return a point it knows is not the optimum -- shown as such,
  counted in the report's "unsupported" column, never a pass;
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
    except np.linalg.LinAlgError as exc:
        if not case.well_conditioned:                    # a flat likelihood near a zero variance
            raise Unsupported(f"statsmodels hits a singular matrix on this ill-conditioned "
                              f"case: {exc}") from None
        try:
            model, res = _fit(case)                      # bfgs, lbfgs, cg: the defaults
        except np.linalg.LinAlgError as exc:
            if case.boundary:
                raise Unsupported("statsmodels cannot fit a zero random-effects variance "
                                  f"(it inverts cov_re): {exc}") from None
            raise
    if not res.converged:                                # it knows: say so, do not guess
        raise Unsupported("statsmodels did not converge on this model "
                          f"({'zero variance at the optimum' if case.boundary else 'ill-conditioned'})")
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
