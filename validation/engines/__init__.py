"""Engines: things that fit a :class:`~validation.cases.Case` and return an
:class:`~validation.record.EngineResult`.

Built-in engine names (see :data:`BUILTIN`):

* ``statsmodels`` -- ``smf.mixedlm(...).fit(reml=...)`` exactly as a user calls it;
* ``statsmodels_<method>`` -- the same with ``fit(method=...)`` for each of
  ``bfgs``, ``lbfgs``, ``cg``, ``nm``, ``powell``;
* ``lme4`` -- ``lmer`` with default settings; ``lme4_bobyqa``,
  ``lme4_Nelder_Mead``, ``lme4_nloptwrap`` -- each of lmer's optimizers;
  ``lme4_tight`` -- bobyqa with tight tolerances, then verified by a restart
  (produces the reference store);
* ``nlme`` -- ``nlme::lme`` through rpy2 (the worked R adapter of
  CONTRACT.md, ``validation/examples/nlme_adapter.py``);
* ``glmmTMB`` -- ``glmmTMB(..., REML = reml)`` through rpy2;
* ``refimpl_default``, ``refimpl_em``, ``refimpl_steepest``, ``refimpl_bfgs``,
  ``refimpl_newton`` -- the reference implementation, one engine per optimizer;
* any user adapter, named by its dotted path ``package.module:function`` (or
  ``label=package.module:function``), see ``validation/CONTRACT.md``.

Every engine is an object with ``name``, ``kind`` and ``fit(case)``.  Engines
are built lazily (:func:`get_engine`) so that importing this package never
imports statsmodels, rpy2 or refimpl's fitter.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..cases import Case
from ..record import EngineResult

__all__ = ["Engine", "BUILTIN", "DEFAULT_ENGINES", "OPT_IN_ENGINES", "REFIMPL_METHODS",
           "STATSMODELS_METHODS", "LME4_OPTIMIZERS", "COMPARISON_ENGINES", "get_engine",
           "is_plugin"]


class Engine(Protocol):
    name: str
    #: "refimpl", "statsmodels", "lme4" or "plugin" (used for gating defaults)
    kind: str

    def fit(self, case: Case) -> EngineResult | dict[str, Any]: ...


#: refimpl optimizer names, one engine each (``refimpl_<method>``).
REFIMPL_METHODS = ("default", "em", "steepest", "bfgs", "newton")

#: statsmodels' optimizers and lmer's, one engine each.
STATSMODELS_METHODS = ("bfgs", "lbfgs", "cg", "nm", "powell")
LME4_OPTIMIZERS = ("bobyqa", "Nelder_Mead", "nloptwrap")

BUILTIN = (["statsmodels"] + [f"statsmodels_{m}" for m in STATSMODELS_METHODS]
           + ["lme4"] + [f"lme4_{o}" for o in LME4_OPTIMIZERS] + ["lme4_tight", "nlme", "glmmTMB"]
           + [f"refimpl_{m}" for m in REFIMPL_METHODS])

#: Engines a default run leaves out because they are slow (``--engines`` or
#: ``--all-engines`` adds them): statsmodels' derivative-free methods take
#: minutes on the crossed cases and are not competitive anywhere.
OPT_IN_ENGINES = ("statsmodels_nm", "statsmodels_powell", "lme4_tight")

#: Engines that are there to be compared (each optimizer of statsmodels and
#: lme4, nlme, glmmTMB): fitted on the certified cases only, the ones the
#: ranking is about; the large uncertified designs (timing and scale cases)
#: would cost minutes per engine and add nothing to the ranking.
COMPARISON_ENGINES = tuple([f"statsmodels_{m}" for m in STATSMODELS_METHODS]
                           + [f"lme4_{o}" for o in LME4_OPTIMIZERS] + ["nlme", "glmmTMB"])

#: What ``python -m validation run`` fits when no --engines are given.  The
#: tight lme4 fit is not refitted on every run: its values are the reference
#: store (``refimpl/data/references/lme4_tight.json``).
DEFAULT_ENGINES = [e for e in BUILTIN if e not in OPT_IN_ENGINES]


def is_plugin(name: str) -> bool:
    return ":" in name


def get_engine(name: str) -> Engine:
    """The engine called ``name`` (built-in name or plugin dotted path)."""
    if is_plugin(name):
        from .plugin import PluginEngine

        return PluginEngine(name)
    if name == "statsmodels":
        from .statsmodels_engine import StatsmodelsEngine

        return StatsmodelsEngine()
    if name.startswith("statsmodels_") and name[len("statsmodels_"):] in STATSMODELS_METHODS:
        from .statsmodels_engine import StatsmodelsEngine

        return StatsmodelsEngine(name[len("statsmodels_"):])
    if name in ("lme4", "lme4_tight"):
        from .lme4_engine import Lme4Engine

        return Lme4Engine(tight=(name == "lme4_tight"))
    if name.startswith("lme4_") and name[len("lme4_"):] in LME4_OPTIMIZERS:
        from .lme4_engine import Lme4Engine

        return Lme4Engine(optimizer=name[len("lme4_"):])
    if name == "nlme":
        from .plugin import PluginEngine

        return PluginEngine("nlme=validation.examples.nlme_adapter:fit", kind="nlme")
    if name == "glmmTMB":
        from .glmmtmb_engine import GlmmTMBEngine

        return GlmmTMBEngine()
    if name.startswith("refimpl_") and name[len("refimpl_"):] in REFIMPL_METHODS:
        from .refimpl_engine import RefimplEngine

        return RefimplEngine(name[len("refimpl_"):])
    raise KeyError(f"unknown engine {name!r}; built-in engines: {', '.join(BUILTIN)}; "
                   "a plug-in is given as package.module:function")
