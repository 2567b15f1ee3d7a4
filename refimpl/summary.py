"""The text summary of a fit, in statsmodels' layout.

Built here so refimpl never imports statsmodels: a table of fixed effects
(coef, std. err., z, p, interval) and the covariance rows, the fit's facts
(sizes, method, scale, llf, converged), and notes for singular or
non-converged fits.
"""

import textwrap

import numpy as np
import pandas as pd
from scipy import stats as sps

from . import arguments


class Summary:
    """Holds the pieces of a summary; ``str()`` is the text table."""

    def __init__(self, title, info, table, notes):
        self.title, self.info, self.table, self.notes = title, info, table, notes
        self.tables = [pd.DataFrame(list(info.items())), table]

    def as_text(self):
        left, right = list(self.info.items())[:6], list(self.info.items())[6:]
        right += [("", "")] * (len(left) - len(right))
        kw = max(len(k) for k, _ in left) + 1
        vw = max(len(v) for _, v in left) + 1
        rk = max(len(k) for k, _ in right) + 1
        info = [f"{a:<{kw}}{b:<{vw}}{c:<{rk}}{d}" for (a, b), (c, d) in zip(left, right)]
        names = [str(i) for i in self.table.index]
        nw = max(len(n) for n in names) + 1
        cw = [max(len(c), *(len(v) for v in self.table[c])) for c in self.table.columns]
        head = " " * nw + " ".join(f"{c:>{w}}" for c, w in zip(self.table.columns, cw))
        rows = [f"{n:<{nw}}" + " ".join(f"{v:>{w}}" for v, w in zip(r, cw))
                for n, r in zip(names, self.table.itertuples(index=False))]
        width = max(len(s) for s in info + [head] + rows)
        lines = [self.title.center(width).rstrip(), "=" * width, *info, "-" * width, head,
                 "-" * width, *rows, "=" * width]
        lines += [textwrap.fill(note, width) for note in self.notes]
        return "\n".join(lines)

    __str__ = as_text

    def __repr__(self):
        return self.as_text()


def build_summary(res, yname=None, xname_fe=None, xname_re=None, title=None, alpha=0.05):
    """statsmodels' ``summary`` arguments: xname_fe / xname_re rename the rows (same lengths)."""
    alpha = arguments.probability("alpha", alpha)
    names = list(res.param_names)
    for arg, value, rows in (("xname_fe", xname_fe, slice(0, res.k_fe)),
                             ("xname_re", xname_re, slice(res.k_fe, len(names)))):
        if value is None:
            continue
        if isinstance(value, str) or len(value) != len(names[rows]):
            raise ValueError(f"{arg} should be a list of length {len(names[rows])} "
                             f"(to rename {names[rows]}), got {value!r}")
        names[rows] = [str(v) for v in value]
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string, got {title!r}")
    if yname is not None and not isinstance(yname, str):
        raise TypeError(f"yname must be a string, got {yname!r}")
    sizes = res.model.stats.group_sizes
    info = {
        "Model:": "MixedLM", "No. Observations:": str(res.nobs), "No. Groups:": str(res.ngroups),
        "Min. group size:": f"{sizes.min():.0f}", "Max. group size:": f"{sizes.max():.0f}",
        "Mean group size:": f"{sizes.mean():.1f}",
        "Dependent Variable:": yname or getattr(res.model, "endog_names", None) or "y",
        "Method:": res.method, "Optimizer:": str(res.optimizer), "Scale:": f"{res.scale:.4f}",
        "Log-Likelihood:": f"{res.llf:.4f}", "Converged:": "Yes" if res.converged else "No",
    }
    p, z = res.k_fe, sps.norm.ppf(1.0 - alpha / 2.0)
    sdf = np.full((len(names), 6), np.nan)
    b, se = res._beta, res._bse[:p]
    with np.errstate(divide="ignore", invalid="ignore"):
        sdf[:p, 0], sdf[:p, 1], sdf[:p, 2] = b, se, b / se
        sdf[:p, 3] = 2.0 * sps.norm.sf(np.abs(b / se))
    sdf[:p, 4], sdf[:p, 5] = b - z * se, b + z * se
    rows, cols = np.tril_indices(res.k_re)
    sdf[p:p + res.k_re2, 0] = res._Psi_re[rows, cols] * res.scale
    sdf[p + res.k_re2:, 0] = res._psi_vc * res.scale
    with np.errstate(invalid="ignore"):
        sdf[p:, 1] = np.sqrt(res.scale * np.diag(res._cov_params)[p:])    # bse_re
    table = pd.DataFrame([["%.3f" % v if np.isfinite(v) else "" for v in r] for r in sdf],
                         index=names,
                         columns=["Coef.", "Std.Err.", "z", "P>|z|", f"[{alpha / 2}", f"{1 - alpha / 2}]"])
    notes = []
    if res.singular:
        held = [n for n, m in zip(res.cov_param_names, res.on_boundary) if m]
        notes.append("singular fit: the optimum is on the boundary of the parameter space"
                     + (f"; {', '.join(held)} at zero (no std. err.)" if held else ""))
    if not res.converged:
        notes.append(f"Not converged: {res.convergence.reason}")
    return Summary(title or "Mixed Linear Model Regression Results", info, table, notes)
