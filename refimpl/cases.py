"""Named model cases for refimpl's command-line tools (gradcheck, compare_methods).

A name maps to a data set and statsmodels' from_formula arguments; "sim:<preset>"
builds a refimpl.simulate preset. The validation suite has its own, larger
registry (validation/cases.py) with lme4 formulas beside each case.
"""

from . import datasets, simulate
from .model import MixedLM

#: name -> (data set, from_formula arguments), or a simulate preset name.
CASES = {
    "dietox_intercept": ("dietox", dict(formula="Weight ~ Time", groups="Pig")),
    "dietox_slope": ("dietox", dict(formula="Weight ~ Time", groups="Pig", re_formula="~Time")),
    "sleepstudy": ("sleepstudy", dict(formula="Reaction ~ Days", groups="Subject", re_formula="~Days")),
    "dyestuff": ("Dyestuff", dict(formula="Yield ~ 1", groups="Batch")),
    "dyestuff2": ("Dyestuff2", dict(formula="Yield ~ 1", groups="Batch")),
    "pastes": ("Pastes", dict(formula="strength ~ 1", groups="batch", re_formula="1",
                              vc_formula={"cask": "0 + C(cask)"})),
    "sim_vc": "vc_slope",
}


def build_case(name, seed=0):
    """The MixedLM of a named case; "sim:<preset>" for any refimpl.simulate preset."""
    preset = name[4:] if name.startswith("sim:") else CASES.get(name)
    if isinstance(preset, str):
        sim = simulate.preset(preset, seed=seed)
        return MixedLM.from_formula(data=sim.data, **sim.spec)
    if preset is None:
        raise ValueError(f"unknown case {name!r}; choose from {', '.join(sorted(CASES))} "
                         "or sim:<preset>")
    data_name, spec = preset
    return MixedLM.from_formula(data=datasets.load(data_name), **spec)
