"""The validation suite: fit registered cases with several engines (refimpl,
statsmodels, lme4, nlme, glmmTMB, user plug-ins), grade every answer against
the certified values (lme4-tight as a second opinion), audit each with
refimpl's analytic score, and report.

Command line: ``python -m validation --help`` (or ``lmm-validate``).  Plug-in
contract: ``validation/CONTRACT.md``.  Module map:

* ``cases`` -- the case registry; ``record`` -- the common EngineResult;
* ``engines/`` -- statsmodels, lme4 (+ tight), refimpl (per optimizer), plug-ins;
* ``runner`` -- safe fits in worker processes with timeouts;
* ``references`` -- the lme4-tight store ``refimpl/data/references/lme4_tight.json``;
* ``audit``, ``gate``, ``compare``, ``suite`` -- audit, the per-quantity gate, grading,
  one run and its exit status;
* ``cells`` -- how a graded row is written (one home for both reports);
* ``report``, ``html_report``, ``junit`` -- terminal, JSON, HTML and JUnit output;
* ``examples/`` -- the worked adapters of CONTRACT.md (statsmodels, nlme) and
  deliberately broken ones;
* ``testing``, ``pytest_plugin``, ``scaffold`` -- grading from Python, from
  pytest (``--lmm-validate``), and ``lmm-validate init-adapter``;
* ``contract`` -- the generated tables of CONTRACT.md;
* ``rbridge`` -- the bridge to R (rpy2);
* ``inference_cases``, ``inference_values``, ``inference_references``,
  ``inference_grading``, ``inference_report`` -- the "Inference" section: profile
  limits, Satterthwaite and Kenward-Roger tests of refimpl, lme4, lmerTest and
  pbkrtest graded by LRE against ``refimpl/data/certified/inference/``;
* ``bench/`` -- ``python -m validation bench`` (timings, ``--distributed``).
"""

from .record import Unsupported  # noqa: E402  -- `raise validation.Unsupported("why")`

__all__ = ["Unsupported"]
