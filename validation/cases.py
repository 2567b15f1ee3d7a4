"""Validation cases: a data set, a model, and REML or ML.

A :class:`Case` is everything an engine needs to fit one model:

* ``data()`` -- the pandas DataFrame (loaded once per process, then cached);
* ``spec`` -- statsmodels' ``from_formula`` arguments ``formula``, ``groups``
  (a column name), ``re_formula`` and ``vc_formula``;
* ``reml`` -- fit by REML (True) or ML (False);
* ``lme4_formula`` -- the same model in lme4's syntax, derived from ``spec``
  by :func:`derive_lme4` unless stored beside the case;
* ``boundary`` -- the optimum lies on the boundary (a variance of 0); in the
  registry ``boundary="ml"`` (or ``"reml"``) flags one criterion only;
* ``well_conditioned`` -- parameters are gated at ``PARAM_LRE_MIN`` only where
  the problem is well conditioned (DESIGN.md, tolerance tiers); elsewhere the
  parameter LREs are shown but only the log-likelihood is gated.

Names follow ``<model>/<reml|ml>``, e.g. ``dietox_slope/reml``.  The registry
is :data:`CASES` (an ordered dict); :func:`select` filters it by glob patterns.

Naming of estimates (shared by every engine, see ``record.py``): fixed effects
by patsy's column names (``Intercept``, ``Time``); ``cov_re`` indexed by
statsmodels' ``exog_re_names``, i.e. the random-effects design columns with
``Intercept`` replaced by the group column's name (``Pig``, ``Time``);
``vcomp`` by variance-component name (the keys of ``vc_formula``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import hashlib
import re
from collections.abc import Callable
from typing import Any

import pandas as pd

__all__ = ["Case", "CASES", "select", "derive_lme4", "data_sha256", "Lme4Terms"]


# --------------------------------------------------------------------------
# Data loaders (cached per process: engines run in worker processes)
# --------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _load_dataset(name: str) -> pd.DataFrame:
    from refimpl import datasets

    return datasets.load(name)


@functools.lru_cache(maxsize=None)
def _load_preset(name: str, seed: int):
    try:
        from refimpl import simulate
    except ImportError as exc:
        raise LookupError(
            f"simulated case needs refimpl.simulate, which is not importable ({exc})"
        ) from None
    return simulate.preset(name, seed)


def dataset_loader(name: str) -> Callable[[], pd.DataFrame]:
    """A loader for one of the real data sets in ``data/``."""
    def load() -> pd.DataFrame:
        return _load_dataset(name).copy()
    load.__qualname__ = f"dataset_loader({name!r})"
    return load


def preset_loader(name: str, seed: int) -> Callable[[], pd.DataFrame]:
    """A loader for a ``refimpl.simulate`` preset (data only; the spec is separate)."""
    def load() -> pd.DataFrame:
        return _load_preset(name, seed).data.copy()
    load.__qualname__ = f"preset_loader({name!r}, {seed})"
    return load


@functools.lru_cache(maxsize=None)
def _load_design(name: str) -> pd.DataFrame:
    from certified import designs

    return designs.load(name)


def design_loader(name: str) -> Callable[[], pd.DataFrame]:
    """A loader for a seeded data set of ``certified.designs`` (``data/certified/``)."""
    def load() -> pd.DataFrame:
        return _load_design(name).copy()
    load.__qualname__ = f"design_loader({name!r})"
    return load


def preset_spec(name: str, seed: int) -> Callable[[], dict]:
    def spec() -> dict:
        return dict(_load_preset(name, seed).spec)
    return spec


def data_sha256(df: pd.DataFrame) -> str:
    """SHA-256 of a canonical CSV rendering of ``df`` (floats as repr).

    This identifies the data an engine *fitted*, whichever file or simulator it
    came from; the reference store records it and a run compares it, so a
    reference computed on other data is detected (``stale``).
    """
    text = df.to_csv(index=False, lineterminator="\n", float_format=None)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------
# The statsmodels spec -> lme4 formula, with the name map back
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Lme4Terms:
    """An lme4 formula and how its VarCorr rows map to statsmodels' names.

    ``varcorr_map`` maps ``(grp, var)`` as in ``as.data.frame(VarCorr(fit))``
    (``grp`` with lme4's ``.1``/``.2`` suffix for repeated factors removed,
    ``var`` as lme4 spells it, e.g. ``(Intercept)``) to ``("cov_re", name)``
    or ``("vcomp", name)``.
    """

    formula: str
    varcorr_map: dict[tuple[str, str], tuple[str, str]]


def _strip_tilde(s: str) -> str:
    return s.strip().lstrip("~").strip()


def _r_fixed(formula: str) -> str:
    """patsy's fixed-effects formula in R syntax (``C(x)`` -> ``factor(x)``)."""
    return re.sub(r"\bC\(", "factor(", formula)


def _terms(rhs: str) -> tuple[bool, list[str]]:
    """(has intercept, variable terms) of a simple ``a + b`` right-hand side."""
    parts = [p.strip() for p in rhs.split("+") if p.strip()]
    intercept = True
    out = []
    for p in parts:
        if p in ("0", "-1"):
            intercept = False
        elif p == "1":
            intercept = True
        else:
            out.append(p)
    return intercept, out


def derive_lme4(spec: dict, data: pd.DataFrame | None = None) -> Lme4Terms:
    """The lme4 formula equivalent to a statsmodels ``from_formula`` spec.

    Handles the forms the registry uses: ``re_formula`` ``None``/``"1"``
    (random intercept), ``"~x + z"`` (correlated intercept and slopes),
    ``"0 + x"`` (slopes without intercept), ``"0"`` (no correlated block); and
    variance components ``"0 + C(f)"`` (a variance for the levels of ``f``
    within each group: lme4 ``(1|g:f)``, or ``(1|f)`` when all rows are one
    group, statsmodels' way of fitting crossed designs), ``"0 + C(f):x"`` (a
    random slope on ``x`` per level of ``f``: lme4 ``(0 + x|g:f)``) and
    ``"0 + x"`` (an independent random slope: lme4 ``(0 + x|g)``).  Anything else raises
    ``ValueError``: store ``lme4_formula`` and ``lme4_map`` in the Case instead.
    """
    g = spec["groups"]
    fixed = _r_fixed(spec["formula"])
    single_group = data is not None and data[g].nunique() == 1
    bars: list[str] = []
    vmap: dict[tuple[str, str], tuple[str, str]] = {}

    re_formula = spec.get("re_formula")
    intercept, slopes = _terms(_strip_tilde(re_formula)) if re_formula else (True, [])
    if intercept or slopes:
        lhs = " + ".join((["1"] if intercept else ["0"]) + slopes)
        bars.append(f"({lhs} | {g})")
        if intercept:
            vmap[(g, "(Intercept)")] = ("cov_re", g)
        for s in slopes:
            vmap[(g, s)] = ("cov_re", s)

    for name, vf in (spec.get("vc_formula") or {}).items():
        vi, vterms = _terms(_strip_tilde(vf))
        m = re.fullmatch(r"C\((\w+)\)(?::(\w+))?", vterms[0]) if len(vterms) == 1 else None
        if not vi and m:
            f, slope = m.groups()
            grp = f if single_group else f"{g}:{f}"
            if slope is None:
                bars.append(f"(1 | {grp})")
                vmap[(grp, "(Intercept)")] = ("vcomp", name)
            else:
                bars.append(f"(0 + {slope} | {grp})")
                vmap[(grp, slope)] = ("vcomp", name)
        elif not vi and len(vterms) == 1 and re.fullmatch(r"\w+", vterms[0]):
            bars.append(f"(0 + {vterms[0]} | {g})")
            vmap[(g, vterms[0])] = ("vcomp", name)
        else:
            raise ValueError(
                f"cannot translate vc_formula {name!r}: {vf!r} to lme4; "
                "store lme4_formula and lme4_map in the Case"
            )
    return Lme4Terms(f"{fixed} + " + " + ".join(bars), vmap)


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
        return derive_lme4(self.spec, self.data())

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


def _build() -> dict[str, Case]:
    cases: dict[str, Case] = {}
    for m in _MODELS:
        for reml in (True, False):
            if "dataset" in m:
                loader = dataset_loader(m["dataset"])
                spec: dict | Callable[[], dict] = m["spec"]
                source = f"refimpl.datasets.load({m['dataset']!r})"
            elif "design" in m:
                loader = design_loader(m["design"])
                spec = m["spec"]
                source = f"certified.designs.load({m['design']!r})"
            else:
                loader = preset_loader(m["preset"], SIM_SEED)
                spec = preset_spec(m["preset"], SIM_SEED)
                source = f"refimpl.simulate.preset({m['preset']!r}, {SIM_SEED})"
            name = f"{m['name']}/{'reml' if reml else 'ml'}"
            cases[name] = Case(
                name=name, loader=loader, spec_source=spec, reml=reml,
                description=m["description"],
                # True, or "reml"/"ml" when only that criterion's optimum is on the boundary
                boundary=m.get("boundary", False) in (True, "reml" if reml else "ml"),
                well_conditioned=m.get("well_conditioned", True),
                lme4_formula=m.get("lme4_formula"), lme4_map=m.get("lme4_map"),
                source=source,
            )
    return cases


#: Every registered case, in a fixed order.
CASES: dict[str, Case] = _build()


def select(patterns: list[str] | None = None) -> list[Case]:
    """Cases whose name matches any glob pattern (all cases when none given).

    A pattern without ``/`` or ``*`` also matches as a prefix, so ``dietox``
    selects all four dietox cases.  An unmatched pattern raises ``KeyError``.
    """
    if not patterns:
        return list(CASES.values())
    chosen: list[Case] = []
    for pat in patterns:
        hits = [c for n, c in CASES.items()
                if fnmatch.fnmatchcase(n, pat) or n.startswith(pat)]
        if not hits:
            raise KeyError(f"no case matches {pat!r}; see `python -m validation list`")
        chosen += [c for c in hits if c not in chosen]
    return chosen
