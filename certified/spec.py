"""The model specification of a case, per group, in plain Python floats.

This is the *spec* the certified path shares with every engine: the response
``y_i``, the fixed-effects design ``X_i`` and the random-effects design
``Z_i`` of each group, and which columns of ``Z_i`` carry which variance.  It
is built here with patsy from the case's DataFrame, with statsmodels'
meanings (``MixedLM.from_formula``):

* ``re_formula`` ``None`` with no ``vc_formula``, or ``"1"``: a random
  intercept; ``"~x + z"``: correlated intercept and slopes (``k_re`` columns);
  ``None`` with a ``vc_formula``: no correlated block;
* each variance component ``name: "0 + C(f)"`` (or ``"0 + x"``, ``"0 +
  C(f):x"``) is evaluated on the group's own rows; every column it has in that
  group is an independent effect with the same variance ``psi_vc[name]``;
* groups are sorted by label, components by name (statsmodels' order).

Names follow ``validation/cases.py``: fixed effects by patsy's column names,
``cov_re`` by the random-effects columns with ``Intercept`` replaced by the
group column's name, ``vcomp`` by component name.

Nothing here does any likelihood algebra.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

__all__ = ["GroupData", "ModelSpec", "build_spec"]


@dataclasses.dataclass(frozen=True)
class GroupData:
    """One group: rows of y, X and Z (lists of floats), and each Z column's variance slot.

    ``slot[c]`` is ``("re", j)`` for column j of the correlated block or
    ``("vc", v)`` for a column of variance component v.
    """

    label: object
    y: list[float]
    X: list[list[float]]
    Z: list[list[float]]
    slot: list[tuple[str, int]]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """The whole model: groups, names, sizes and REML/ML."""

    groups: list[GroupData]
    fe_names: list[str]
    re_names: list[str]
    vc_names: list[str]
    reml: bool

    @property
    def n(self) -> int:
        return sum(len(g.y) for g in self.groups)

    @property
    def p(self) -> int:
        return len(self.fe_names)

    @property
    def k_re(self) -> int:
        return len(self.re_names)

    @property
    def k_vc(self) -> int:
        return len(self.vc_names)

    @property
    def n_phi(self) -> int:
        """Length of the sqrt vector phi = [tril(L) row by row, s_vc]."""
        return self.k_re * (self.k_re + 1) // 2 + self.k_vc


def _sorted_labels(values) -> list:
    uniq = list(pd.unique(values))
    try:
        return sorted(uniq)
    except TypeError:
        return sorted(uniq, key=lambda v: (type(v).__name__, str(v)))


def build_spec(data: pd.DataFrame, spec: dict, reml: bool) -> ModelSpec:
    """The :class:`ModelSpec` of statsmodels' ``from_formula(**spec, data=data)``."""
    import patsy

    gname = spec["groups"]
    re_formula = spec.get("re_formula")
    vc_formula = spec.get("vc_formula") or {}
    y_df, X_df = patsy.dmatrices(spec["formula"], data, return_type="dataframe")
    fe_names = list(X_df.columns)
    n = len(y_df)
    if re_formula is None and not vc_formula or (re_formula or "").strip() == "1":
        Zre, re_names = np.ones((n, 1)), [gname]
    elif re_formula is None or re_formula.strip() in ("0", "~0", "-1"):
        Zre, re_names = np.zeros((n, 0)), []
    else:
        Zre_df = patsy.dmatrix(re_formula, data, return_type="dataframe")
        Zre = Zre_df.to_numpy(float)
        re_names = [c.replace("Intercept", gname) for c in Zre_df.columns]
    vc_names = sorted(vc_formula)
    y = y_df.to_numpy(float)[:, 0]
    X = X_df.to_numpy(float)
    labels = data[gname].to_numpy()
    groups = []
    for label in _sorted_labels(labels):
        rows = np.flatnonzero(labels == label)
        Z = [Zre[rows]]
        slot = [("re", j) for j in range(len(re_names))]
        for v, name in enumerate(vc_names):
            m = patsy.dmatrix(vc_formula[name], data.iloc[rows], return_type="matrix")
            Z.append(np.asarray(m, float))
            slot += [("vc", v)] * m.shape[1]
        Zi = np.hstack(Z)
        groups.append(GroupData(label, y[rows].tolist(), X[rows].tolist(), Zi.tolist(), slot))
    return ModelSpec(groups, fe_names, re_names, vc_names, bool(reml))
