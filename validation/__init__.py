"""The validation suite: fit registered cases with several engines (refimpl,
statsmodels, lme4, user plug-ins), compare every answer with tight lme4
reference values, audit each with refimpl's analytic score, and report.

Command line: ``python -m validation --help`` (or ``lmm-validate``).  Plug-in
contract: ``validation/CONTRACT.md``.  Module map:

* ``cases`` -- the case registry; ``record`` -- the common EngineResult;
* ``engines/`` -- statsmodels, lme4 (+ tight), refimpl (per optimizer), plug-ins;
* ``runner`` -- safe fits in worker processes with timeouts;
* ``references`` -- the reference store ``refimpl/data/references/lme4_tight.json``;
* ``audit``, ``compare``, ``suite`` -- audit, grading, one run and its exit status;
* ``report``, ``html_report`` -- terminal, JSON and HTML output;
* ``examples`` -- example adapters, good and deliberately broken;
* ``rbridge`` -- the bridge to R (rpy2).
"""

from .record import Unsupported  # noqa: E402  -- `raise validation.Unsupported("why")`

__all__ = ["Unsupported"]
