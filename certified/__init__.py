"""Certified reference values for linear mixed models, in the manner of NIST's StRD.

An auditor wants to know *which digits are right*, not only that two programs
agree.  This package computes, for the small cases of the validation suite,
the ML/REML estimates to 30 significant digits by a path that shares the
model specification with ``refimpl`` but none of its algebra:

* :mod:`certified.spec` -- the model spec: per-group ``y_i``, ``X_i``,
  ``Z_i`` and the block structure of Psi, built with patsy from the case's
  DataFrame (statsmodels' meanings and names);
* :mod:`certified.mp_likelihood` -- the profiled log-likelihood in mpmath at
  any precision, through the push-through and Sylvester identities (and a
  dense twin that forms every ``V_i``), book chapter "Certified values";
* :mod:`certified.newton` -- derivatives by central differences at raised
  working precision, and Newton refinement from refimpl's optimum to a
  stationary point, repeated at two precisions to count correct digits;
* :mod:`certified.anova` -- the closed-form ML and REML estimates of a
  balanced one-way design from the ANOVA mean squares (book chapter "The
  balanced one-way design"), a second, independent certification path;
* :mod:`certified.designs` -- seeded one-way data sets with hard numerics;
* :mod:`certified.store` -- ``refimpl/data/certified/*.json``: values as decimal
  strings, digits per quantity, method, precision and the data checksum;
* ``python -m certified build [--cases ...] [--force]`` and
  ``python -m certified check``.

Nothing here imports refimpl's likelihood, score, Hessian, sufficient
statistics or parameter algebra; refimpl's fitted optimum is used only as the
starting point of Newton's method.
"""

__all__ = ["CERTIFIED_LRE_MIN"]

#: refimpl's default fit must reach this LRE on every quantity of every
#: certified case that is not on the boundary (the validation report gates it).
CERTIFIED_LRE_MIN = 8.0
