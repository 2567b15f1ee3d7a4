"""refimpl: a literate reference implementation of the linear mixed model.

    from refimpl import MixedLM
    model = MixedLM.from_formula("Weight ~ Time", data, groups="Pig", re_formula="~Time")
    result = model.fit(reml=True)          # statsmodels' attribute names

The book (book/) derives every formula; each module cites its equation labels.
"""

from .model import MixedLM
from .parameters import MixedLMParams
from .inputs import VCSpec
from .lmer import lmer  # lme4 syntax: refimpl.lmer("y ~ x + (1 | s) + (1 | d)", data)

#: ``statsmodels.formula.api.mixedlm``'s counterpart.
mixedlm = MixedLM.from_formula

__all__ = ["MixedLM", "MixedLMParams", "VCSpec", "mixedlm", "lmer"]
__version__ = "0.1.0"
