"""The cases and quantities of the inference grading (issue #18, item 4).

Which numbers of refimpl's inference layer are graded, on which models, and
how each is named in refimpl and in R:

* **profile** -- the 95% profile-likelihood limits of every parameter on
  lme4's scale (sd and correlation of the random effects, sd of each variance
  component, sigma, the fixed effects): refimpl's
  ``conf_int_profile`` (refimpl/profile_ci.py), lme4's
  ``confint(method = "profile")``. Quantity names ``profile:<param>:lower``
  and ``profile:<param>:upper``.
* **ddf** -- t tests of every fixed effect and the F test of every term
  (refimpl/ddf_tests.py), with Satterthwaite (lmerTest) and Kenward-Roger
  (pbkrtest, through lmerTest's ``ddf = "Kenward-Roger"``) denominator
  degrees of freedom: ``satterthwaite:t:<coef>:df|p``,
  ``satterthwaite:F:<term>:DenDF|F|p``, ``kr:t:<coef>:df|p``,
  ``kr:F:<term>:DenDF|F|p``.

Every model is fitted by REML, as lmerTest and pbkrtest assume (the profile
itself is always of the ML likelihood, lme4's convention: a REML fit is
refitted by ML).

The cases are the registry's (refimpl/cases.py) plus one balanced
within-subject design in the spirit of nlme's ``ergoStool`` (9 subjects each
trying 4 stool types, a random intercept per subject), stored as
``ergostool_like.csv`` beside the references and made by
:func:`ergostool_like_data`. A balanced design is a check in itself: its
Satterthwaite and Kenward-Roger df are the integers of the classical
split-plot ANOVA (sleepstudy: 17 = 18 subjects - 1; ergoStool: 24 =
(9 - 1)(4 - 1) for the Type contrasts).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
import pandas as pd

import refimpl

__all__ = ["InferenceCase", "INFERENCE_CASES", "REFERENCE_DIR", "ergostool_like_data",
           "select_inference", "FAMILIES", "family_of"]

#: Where the stored references live (one JSON file per case; the CSV of the
#: ergoStool-like design).
REFERENCE_DIR = Path(refimpl.__file__).resolve().parent / "data" / "certified" / "inference"

#: Column groups of the report table: family -> what it holds.
FAMILIES = {
    "profile": "profile CI limits (lower and upper) of every parameter, lme4's scale",
    "satt_df": "Satterthwaite df of each fixed effect's t test",
    "satt_p": "Satterthwaite p-value of each fixed effect's t test",
    "satt_F": "Satterthwaite F test of each term: F, DenDF, p",
    "kr_df": "Kenward-Roger df of each fixed effect's t test",
    "kr_F": "Kenward-Roger F test of each term: F, DenDF, p (and the t tests' p)",
}


def family_of(quantity: str) -> str:
    """The report column of one quantity name (``satterthwaite:t:Days:df`` -> ``satt_df``)."""
    parts = quantity.split(":")
    if parts[0] == "profile":
        return "profile"
    prefix = "satt" if parts[0] == "satterthwaite" else "kr"
    if parts[1] == "t":
        if parts[-1] == "df":
            return f"{prefix}_df"
        return "satt_p" if prefix == "satt" else "kr_F"
    return f"{prefix}_F"


@dataclasses.dataclass(frozen=True)
class InferenceCase:
    """One model and which inference quantities are graded on it."""

    key: str                          # e.g. "sleepstudy_corr/reml"
    profile: bool                     # grade the profile limits
    ddf: bool                         # grade Satterthwaite and Kenward-Roger tests
    registry: str | None = None       # the refimpl.cases registry name; None: a design here
    #: refimpl's profile row name -> lme4's confint row name (signames = FALSE)
    lme4_profile_names: tuple[tuple[str, str], ...] = ()
    description: str = ""

    def data(self) -> pd.DataFrame:
        if self.registry is not None:
            from refimpl.cases import REGISTRY

            return REGISTRY[self.registry].data()
        return ergostool_like_data()

    @property
    def spec(self) -> dict:
        if self.registry is not None:
            from refimpl.cases import REGISTRY

            return REGISTRY[self.registry].spec
        return {"formula": "effort ~ C(Type)", "groups": "Subject", "re_formula": None,
                "vc_formula": None}

    @property
    def lme4_formula(self) -> str:
        if self.registry is not None:
            from refimpl.cases import REGISTRY

            return REGISTRY[self.registry].lme4().formula
        return "effort ~ Type + (1 | Subject)"

    def model(self):
        from refimpl.model import MixedLM

        return MixedLM.from_formula(data=self.data(), **self.spec)


def _sd(term: str) -> str:
    return f"sd_(Intercept)|{term}"


INFERENCE_CASES: dict[str, InferenceCase] = {c.key: c for c in [
    InferenceCase("dyestuff/reml", profile=True, ddf=False, registry="dyestuff/reml",
                  lme4_profile_names=(("sd_Batch", _sd("Batch")), ("sigma", "sigma"),
                                      ("Intercept", "(Intercept)")),
                  description="one-way random intercept (balanced: the profile has a "
                              "closed form, tests/test_profile_ci.py)"),
    InferenceCase("sleepstudy_corr/reml", profile=True, ddf=True, registry="sleepstudy_corr/reml",
                  lme4_profile_names=(("sd_Subject", _sd("Subject")),
                                      ("cor_Subject.Days", "cor_Days.(Intercept)|Subject"),
                                      ("sd_Days", "sd_Days|Subject"), ("sigma", "sigma"),
                                      ("Intercept", "(Intercept)"), ("Days", "Days")),
                  description="correlated random intercept and slope (balanced: df = 17)"),
    InferenceCase("pastes/reml", profile=True, ddf=False, registry="pastes/reml",
                  lme4_profile_names=(("sd_batch", _sd("batch")), ("sd_cask", _sd("batch:cask")),
                                      ("sigma", "sigma"), ("Intercept", "(Intercept)")),
                  description="casks nested in batches (sd_batch's lower limit is 0)"),
    InferenceCase("penicillin/reml", profile=True, ddf=False, registry="penicillin/reml",
                  lme4_profile_names=(("sd_plate", _sd("plate")), ("sd_sample", _sd("sample")),
                                      ("sigma", "sigma"), ("Intercept", "(Intercept)")),
                  description="plates crossed with samples"),
    InferenceCase("sim_slopes3/reml", profile=True, ddf=False, registry="sim_slopes3/reml",
                  lme4_profile_names=(("sd_g", _sd("g")), ("cor_g.x1", "cor_x1.(Intercept)|g"),
                                      ("cor_g.x2", "cor_x2.(Intercept)|g"), ("sd_x1", "sd_x1|g"),
                                      ("cor_x1.x2", "cor_x2.x1|g"), ("sd_x2", "sd_x2|g"),
                                      ("sigma", "sigma"), ("Intercept", "(Intercept)"),
                                      ("x1", "x1"), ("x2", "x2")),
                  description="3 x 3 correlated random effects: three correlations, each "
                              "profiled with the others free (refimpl/profile_correlation.py)"),
    InferenceCase("ergostool_like/reml", profile=False, ddf=True, registry=None,
                  description="9 subjects x 4 stool types, random intercept (balanced "
                              "within-subject factor: Type df = 24, a 3-df F test)"),
    InferenceCase("sim_unbalanced_singletons/reml", profile=False, ddf=True,
                  registry="sim_unbalanced_singletons/reml",
                  description="simulated unbalanced groups with singletons, correlated "
                              "intercept and slope (df not integers)"),
]}


def select_inference(case_names: list[str], full_selection: bool) -> list[InferenceCase]:
    """The inference cases of a run: those whose registry case was selected, and the
    designs kept here (ergoStool-like) when the run covers every default case."""
    chosen = set(case_names)
    return [c for c in INFERENCE_CASES.values()
            if (c.registry in chosen) or (c.registry is None and full_selection)]


# --------------------------------------------------------------------------
# The ergoStool-like design
# --------------------------------------------------------------------------

#: Seed and true values of the ergoStool-like simulation (nlme's ergoStool
#: estimates, rounded: Type effects, sd of the subject effect, residual sd).
ERGO_SEED = 20261130
ERGO_TRUTH = {"intercept": 8.56, "type": (0.0, 3.89, 2.22, 0.67), "sd_subject": 1.33,
              "sigma": 1.10}


def simulate_ergostool_like(seed: int = ERGO_SEED) -> pd.DataFrame:
    """9 subjects x 4 types, effort rounded to 0.1 (so the CSV holds it exactly)."""
    rng = np.random.default_rng(seed)
    t = ERGO_TRUTH
    rows = []
    for s in range(1, 10):
        b = t["sd_subject"] * rng.standard_normal()
        for j, eff in enumerate(t["type"], start=1):
            y = t["intercept"] + eff + b + t["sigma"] * rng.standard_normal()
            rows.append((round(float(y), 1), f"T{j}", f"S{s}"))
    return pd.DataFrame(rows, columns=["effort", "Type", "Subject"])


@functools.lru_cache(maxsize=None)
def _ergostool_cached() -> pd.DataFrame:
    path = REFERENCE_DIR / "ergostool_like.csv"
    if path.exists():
        return pd.read_csv(path, dtype={"effort": float, "Type": str, "Subject": str})
    return simulate_ergostool_like()


def ergostool_like_data() -> pd.DataFrame:
    """The stored design (regenerated bit for bit by :func:`simulate_ergostool_like`)."""
    return _ergostool_cached().copy()
