"""The one registry of named model cases: a data set, a model, and REML or ML.

refimpl's tools (``python -m refimpl.gradcheck``, ``refimpl.compare_methods``),
the validation suite (``validation/``, which re-exports this module as
``validation.cases``) and the certified values (``certified/``) all read this
registry, so a case means the same data and model everywhere.

A :class:`Case` is everything an engine needs to fit one model:

* ``data()`` -- the pandas DataFrame (loaded once per process, then cached);
* ``spec`` -- statsmodels' ``from_formula`` arguments ``formula``, ``groups``
  (a column name), ``re_formula`` and ``vc_formula``;
* ``reml`` -- fit by REML (True) or ML (False);
* ``lme4_formula`` -- the same model in lme4's syntax, derived from ``spec``
  by :func:`refimpl.lme4_formula.to_lme4` unless stored beside the case;
* ``boundary`` -- the optimum lies on the boundary (a variance of 0); in the
  registry ``boundary="ml"`` (or ``"reml"``) flags one criterion only;
* ``well_conditioned`` -- parameters are gated at ``PARAM_LRE_MIN`` only where
  the problem is well conditioned; elsewhere the parameter LREs are shown but
  only the log-likelihood is gated;
* ``heavy`` -- a large case (InstEval) that :func:`select` leaves out unless it
  is named or ``LMM_HEAVY_CASES=1`` is set.

A model may be given in lme4's syntax (``lme4=...``) instead of a spec: it is
translated by :func:`refimpl.lme4_formula.from_lme4`, and the case fits the
translated spec on the translated data (which adds a constant ``group``
column for crossed designs).

Names follow ``<model>/<reml|ml>``, e.g. ``dietox_slope/reml``.  The registry
is :data:`REGISTRY` (an ordered dict); :func:`select` filters it by glob
patterns.  :data:`CASES` is the tools' view: model name -> how to build it
(:func:`build_case`).

Naming of estimates (shared by every engine): fixed effects by patsy's column
names (``Intercept``, ``Time``); ``cov_re`` indexed by statsmodels'
``exog_re_names``; ``vcomp`` by variance-component name (the keys of
``vc_formula``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import hashlib
import os
from collections.abc import Callable
from typing import Any

import pandas as pd

from .case_data import (dataset_loader, design_loader, generated_loader, preset_loader,
                        preset_spec)
from .lme4_formula import Lme4Terms, from_lme4, to_lme4

__all__ = ["Case", "REGISTRY", "CASES", "MODELS", "select", "build_case", "data_sha256",
           "Lme4Terms", "derive_lme4", "SIM_SEED", "HEAVY_ENV"]

#: The statsmodels spec -> lme4 direction under its historical name.
derive_lme4 = to_lme4

#: Environment variable that makes :func:`select` include heavy cases by default.
HEAVY_ENV = "LMM_HEAVY_CASES"


def data_sha256(df: pd.DataFrame) -> str:
    """SHA-256 of a canonical CSV rendering of ``df`` (floats as repr).

    This identifies the data an engine *fitted*, whichever file or simulator it
    came from; the reference store records it and a run compares it, so a
    reference computed on other data is detected (``stale``).
    """
    text = df.to_csv(index=False, lineterminator="\n", float_format=None)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------
# The Case record
# --------------------------------------------------------------------------

@dataclasses.dataclass(eq=False)
class Case:
    """One model fit: data + statsmodels spec + REML/ML (+ its lme4 twin)."""

    name: str
    loader: Callable[[], pd.DataFrame]
    spec_source: dict | Callable[[], dict]
    reml: bool
    description: str
    boundary: bool = False
    well_conditioned: bool = True
    lme4_formula: str | None = None
    lme4_map: dict[tuple[str, str], tuple[str, str]] | None = None
    source: str = ""
    heavy: bool = False

    @property
    def model(self) -> str:
        """The case name without ``/reml`` or ``/ml``."""
        return self.name.rsplit("/", 1)[0]

    @property
    def method(self) -> str:
        return "REML" if self.reml else "ML"

    def data(self) -> pd.DataFrame:
        """The data (a fresh copy each call; loading is cached)."""
        return self.loader()

    @property
    def spec(self) -> dict[str, Any]:
        """statsmodels ``from_formula`` arguments: formula, groups, re_formula, vc_formula."""
        s = self.spec_source() if callable(self.spec_source) else self.spec_source
        return {
            "formula": s["formula"],
            "groups": s["groups"],
            "re_formula": s.get("re_formula"),
            "vc_formula": dict(s["vc_formula"]) if s.get("vc_formula") else None,
        }

    def lme4(self) -> Lme4Terms:
        """lme4 formula and VarCorr name map (stored, or derived from the spec)."""
        if self.lme4_formula is not None:
            if self.lme4_map is None:
                raise ValueError(f"case {self.name}: lme4_formula stored without lme4_map")
            return Lme4Terms(self.lme4_formula, dict(self.lme4_map))
        return to_lme4(self.spec, self.data())

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description (used in reports and the reference store)."""
        out: dict[str, Any] = {
            "name": self.name,
            "method": self.method,
            "description": self.description,
            "source": self.source,
            "boundary": self.boundary,
            "well_conditioned": self.well_conditioned,
        }
        if self.heavy:
            out["heavy"] = True
        try:
            out["spec"] = self.spec
            out["lme4_formula"] = self.lme4().formula
        except Exception as exc:  # e.g. the simulator is not importable yet
            out["unavailable"] = f"{type(exc).__name__}: {exc}"
        return out


# --------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------

SIM_SEED = 20240601  # one fixed seed per preset; the store records the data hash

_MODELS: list[dict[str, Any]] = [
    dict(name="dietox_intercept", dataset="dietox",
         spec=dict(formula="Weight ~ Time", groups="Pig"),
         description="Pig growth: random intercept per pig."),
    dict(name="dietox_slope", dataset="dietox",
         spec=dict(formula="Weight ~ Time", groups="Pig", re_formula="~Time"),
         description="Pig growth: correlated random intercept and slope in Time. "
                     "statsmodels' default optimizer chain stops short here."),
    dict(name="sleepstudy_corr", dataset="sleepstudy",
         spec=dict(formula="Reaction ~ Days", groups="Subject", re_formula="~Days"),
         description="Sleep deprivation: correlated intercept and slope per subject."),
    dict(name="sleepstudy_uncorr", dataset="sleepstudy",
         spec=dict(formula="Reaction ~ Days", groups="Subject", re_formula="1",
                   vc_formula={"Days": "0 + Days"}),
         lme4_formula="Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)",
         lme4_map={("Subject", "(Intercept)"): ("cov_re", "Subject"),
                   ("Subject", "Days"): ("vcomp", "Days")},
         description="Sleep deprivation: independent intercept and slope "
                     "(statsmodels: slope as a variance component)."),
    dict(name="dyestuff", dataset="Dyestuff",
         spec=dict(formula="Yield ~ 1", groups="Batch"),
         description="Dyestuff yield: one-way random effects by batch."),
    dict(name="dyestuff2", dataset="Dyestuff2", boundary=True,
         spec=dict(formula="Yield ~ 1", groups="Batch"),
         description="Simulated dyestuff: the batch variance estimate is 0 (boundary)."),
    dict(name="pastes", dataset="Pastes",
         spec=dict(formula="strength ~ 1", groups="batch", re_formula="1",
                   vc_formula={"cask": "0 + C(cask)"}),
         lme4_formula="strength ~ 1 + (1 | batch) + (1 | batch:cask)",
         lme4_map={("batch", "(Intercept)"): ("cov_re", "batch"),
                   ("batch:cask", "(Intercept)"): ("vcomp", "cask")},
         description="Paste strength: casks nested in batches (variance component)."),
    dict(name="penicillin", dataset="Penicillin",
         lme4="diameter ~ 1 + (1 | plate) + (1 | sample)",
         description="Penicillin potency: 24 plates crossed with 6 samples "
                     "(one group, two variance components)."),
    dict(name="insteval", dataset="InstEval", methods=("reml",), heavy=True,
         lme4="y ~ 1 + (1 | s) + (1 | d) + (1 | dept)",
         description="Lecture evaluations: 2,972 students crossed with 1,128 instructors "
                     "and 14 departments, 73,421 rows. Heavy: run only when named "
                     "or with LMM_HEAVY_CASES=1."),
    dict(name="subjects_items", generated="subjects_items",
         lme4="y ~ x + (x || subj) + (x || item)",
         description="Simulated 30 subjects x 20 items, by-subject and by-item "
                     "intercepts and slopes (four independent variance components)."),
    dict(name="schools_nested", generated="schools_1e3",
         lme4="y ~ x + (1 | school/classroom)",
         description="Simulated 1,000 schools x 5 classrooms x 10 pupils: classrooms "
                     "nested in schools (a variance component per school)."),
    dict(name="crossed", preset="crossed",
         description="Simulated crossed factors: one group holding all rows, "
                     "the crossed factors as variance components."),
    dict(name="sim_balanced", preset="balanced",
         description="Simulated balanced random-intercept design."),
    dict(name="sim_unbalanced_singletons", preset="unbalanced_singletons",
         description="Simulated unbalanced groups, some with one row."),
    dict(name="sim_slopes3", preset="slopes3",
         description="Simulated 3x3 correlated random effects."),
    dict(name="sim_near_singular", preset="near_singular", well_conditioned=False,
         description="Simulated random-effects covariance close to singular."),
    dict(name="sim_vc_slope", preset="vc_slope",
         description="Simulated random slope as a variance component."),
    # Balanced one-way designs with hard numerics (certified/designs.py). lme4's
    # optimum is not accurate enough here to grade parameters by (a variance
    # ratio of 1e-6; y around 1e8): the certified values grade them instead.
    dict(name="oneway_offset", design="oneway_offset", well_conditioned=False,
         spec=dict(formula="y ~ 1", groups="g"),
         description="Balanced one-way, 10 x 6, y around 1e8 (certified by ANOVA too)."),
    dict(name="oneway_tiny", design="oneway_tiny", well_conditioned=False, boundary="ml",
         spec=dict(formula="y ~ 1", groups="g"),
         description="Balanced one-way, 20 x 5: REML variance ratio 1e-6 (interior); "
                     "the ML estimate is on the boundary."),
]


def _translated(loader: Callable[[], pd.DataFrame], formula: str):
    """(loader, spec source) of a model given in lme4 syntax, translated once."""
    once = functools.lru_cache(maxsize=None)(lambda: from_lme4(formula, loader()))

    def load() -> pd.DataFrame:
        return once().data.copy()
    load.__qualname__ = f"lme4_loader({formula!r})"
    return load, lambda: once().spec


def _source(m: dict[str, Any]) -> tuple[Callable[[], pd.DataFrame], dict | Callable, str]:
    """(loader, spec or spec source, provenance text) of one registry entry."""
    if "dataset" in m:
        loader, spec, src = dataset_loader(m["dataset"]), m.get("spec"), \
            f"refimpl.datasets.load({m['dataset']!r})"
    elif "design" in m:
        loader, spec, src = design_loader(m["design"]), m.get("spec"), \
            f"certified.designs.load({m['design']!r})"
    elif "generated" in m:
        loader, spec, src = generated_loader(m["generated"]), m.get("spec"), \
            f"refimpl.case_data.GENERATORS[{m['generated']!r}]()"
    else:
        loader, spec = preset_loader(m["preset"], SIM_SEED), preset_spec(m["preset"], SIM_SEED)
        src = f"refimpl.simulate.preset({m['preset']!r}, {SIM_SEED})"
    if "lme4" in m:
        loader, spec = _translated(loader, m["lme4"])
        src += f", model refimpl.lme4_formula.from_lme4({m['lme4']!r})"
    return loader, spec, src


def _build() -> dict[str, Case]:
    cases: dict[str, Case] = {}
    for m in _MODELS:
        loader, spec, source = _source(m)
        for method in m.get("methods", ("reml", "ml")):
            reml = method == "reml"
            name = f"{m['name']}/{method}"
            cases[name] = Case(
                name=name, loader=loader, spec_source=spec, reml=reml,
                description=m["description"],
                # True, or "reml"/"ml" when only that criterion's optimum is on the boundary
                boundary=m.get("boundary", False) in (True, method),
                well_conditioned=m.get("well_conditioned", True),
                lme4_formula=m.get("lme4_formula"), lme4_map=m.get("lme4_map"),
                source=source, heavy=m.get("heavy", False),
            )
    return cases


#: Every registered case, in a fixed order.
REGISTRY: dict[str, Case] = _build()


def select(patterns: list[str] | None = None, heavy: bool | None = None) -> list[Case]:
    """Cases whose name matches any glob pattern (all cases when none given).

    A pattern without ``/`` or ``*`` also matches as a prefix, so ``dietox``
    selects all four dietox cases.  An unmatched pattern raises ``KeyError``.
    Heavy cases are left out of the default selection (no patterns) unless
    ``heavy=True`` or the environment has ``LMM_HEAVY_CASES=1``; a pattern
    that names one selects it.
    """
    if heavy is None:
        heavy = os.environ.get(HEAVY_ENV, "") == "1"
    if not patterns:
        return [c for c in REGISTRY.values() if heavy or not c.heavy]
    chosen: list[Case] = []
    for pat in patterns:
        hits = [c for n, c in REGISTRY.items()
                if fnmatch.fnmatchcase(n, pat) or n.startswith(pat)]
        if not hits:
            raise KeyError(f"no case matches {pat!r}; see `python -m validation list`")
        chosen += [c for c in hits if c not in chosen]
    return chosen


# --------------------------------------------------------------------------
# The tools' view: a model name -> a MixedLM
# --------------------------------------------------------------------------

#: Model names (without /reml or /ml), in registry order.
MODELS: list[str] = list(dict.fromkeys(c.model for c in REGISTRY.values()))
#: Older short names the tools accept.
_ALIASES = {"sleepstudy": "sleepstudy_corr", "sim_vc": "sim_vc_slope"}
#: Names :func:`build_case` accepts: every model and the aliases.
CASES: dict[str, str] = {**{m: m for m in MODELS}, **_ALIASES}


def build_case(name: str, seed: int = 0):
    """The MixedLM of a named model; ``"sim:<preset>"`` for any refimpl.simulate preset."""
    from . import simulate
    from .model import MixedLM

    if name.startswith("sim:"):
        sim = simulate.preset(name[4:], seed=seed)
        return MixedLM.from_formula(data=sim.data, **sim.spec)
    if name not in CASES:
        raise ValueError(f"unknown case {name!r}; choose from {', '.join(sorted(CASES))} "
                         "or sim:<preset>")
    model = CASES[name]
    case = REGISTRY.get(f"{model}/reml") or REGISTRY[f"{model}/ml"]
    return MixedLM.from_formula(data=case.data(), **case.spec)
