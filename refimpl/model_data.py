"""``model.data``: the names statsmodels' MixedLM keeps on its data object.

statsmodels stores the variable names on ``model.data`` (a
``statsmodels.base.data.ModelData``); code written for it reads
``model.data.xnames``, ``exog_re_names``, ``exog_re_names_full`` and
``param_names``. This small object gives the same names, with statsmodels'
meanings, read from refimpl's design:

    xnames              names of the columns of exog (fixed effects)
    ynames              name of endog
    exog_re_names       names of the columns of exog_re
    exog_re_names_full  names of tril(cov_re): 'a Var', then 'a x b Cov' (row-major lower triangle)
    vcomp_names         names of the variance components
    param_names         xnames + exog_re_names_full + ['v Var' for each variance component]
"""


def covariance_names(exog_re_names, vc_names=()):
    """statsmodels' names of theta: 'a Var', 'a x b Cov' (tril order), then 'v Var'."""
    names = []
    for i, ni in enumerate(exog_re_names):
        for j in range(i + 1):
            names.append(f"{ni} Var" if i == j else f"{exog_re_names[j]} x {ni} Cov")
    return names + [f"{v} Var" for v in vc_names]


class ModelData:
    """Names of the model's variables, read from its design (never stale)."""

    def __init__(self, model):
        self._design = model.design

    @property
    def xnames(self):
        return list(self._design.exog_names)

    @property
    def ynames(self):
        return self._design.endog_name

    @property
    def exog_re_names(self):
        return list(self._design.exog_re_names)

    @property
    def exog_re_names_full(self):
        return covariance_names(self._design.exog_re_names)

    @property
    def vcomp_names(self):
        return list(self._design.vc_names)

    @property
    def param_names(self):
        return self.xnames + covariance_names(self._design.exog_re_names, self._design.vc_names)

    def __repr__(self):
        return f"ModelData(xnames={self.xnames}, exog_re_names={self.exog_re_names})"
