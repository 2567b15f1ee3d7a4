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
* declares unsupported (:class:`validation.Unsupported`) what statsmodels
  cannot do: a case whose optimum has a zero variance (statsmodels works
  with ``cov_re``'s inverse and stops near, not on, the boundary: on
  ``oneway_tiny/ml`` it reports converged at a point the audit finds 4e-7
  short in llf), an ill-conditioned case where L-BFGS hits a singular
  matrix, and any case where statsmodels' own flag says it did not converge
  -- shown as such, counted in the report's "unsupported" column, never a
  pass;
* when L-BFGS hits a singular matrix on a well-conditioned case
  (``dyestuff/reml``), it retries with statsmodels' default optimizer chain;
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
    if case.boundary:                                    # a zero variance at the optimum
        raise Unsupported("statsmodels cannot put a variance at exactly zero (it works "
                          "with cov_re's inverse); it stops near, not on, the boundary")
    try:
        model, res = _fit(case, method="lbfgs", maxiter=5000, factr=10.0, pgtol=1e-12)
    except np.linalg.LinAlgError as exc:
        if not case.well_conditioned:                    # a flat likelihood near a zero variance
            raise Unsupported(f"statsmodels hits a singular matrix on this ill-conditioned "
                              f"case: {exc}") from None
        model, res = _fit(case)                          # bfgs, lbfgs, cg: the defaults
    if not res.converged:                                # it knows: say so, do not guess
        raise Unsupported("statsmodels did not converge on this model "
                          "(its own convergence flag is False)")
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
