"""statsmodels' spec -> lme4's formula: the direction the validation suite uses to fit lme4.

:func:`to_lme4` writes the lme4 formula equivalent to a ``from_formula``
spec (``formula``, ``groups``, ``re_formula``, ``vc_formula``) and returns
how lme4's ``VarCorr`` rows map back to statsmodels' names;
:func:`factor_columns` lists the columns lme4 must see as factors.  The other
direction (an lme4 formula -> a spec, with the rules of what a spec can
express) is :mod:`refimpl.lme4_formula`, which re-exports these names.
"""

from __future__ import annotations

import dataclasses
import re

import pandas as pd

__all__ = ["Lme4Terms", "to_lme4", "factor_columns", "split_top"]


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


def split_top(text: str) -> list[tuple[str, str]]:
    """``[(sign, term)]`` of a ``+``/``-`` separated expression, outside parentheses."""
    out, depth, sign, start = [], 0, "+", 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch in "+-" and depth == 0:
            if text[start:i].strip():
                out.append((sign, text[start:i].strip()))
            sign, start = ch, i + 1
    if depth != 0:
        raise ValueError(f"unbalanced parentheses in {text!r}")
    if text[start:].strip():
        out.append((sign, text[start:].strip()))
    return out



# --------------------------------------------------------------------------
# statsmodels -> lme4
# --------------------------------------------------------------------------

def _strip_tilde(s: str) -> str:
    return s.strip().lstrip("~").strip()


def _terms(rhs: str) -> tuple[bool, list[str]]:
    """(has intercept, variable terms) of a simple ``a + b`` right-hand side."""
    intercept, out = True, []
    for sign, p in split_top(rhs):
        if p in ("0", "1"):
            intercept = (p == "1") == (sign == "+")
        else:
            out.append(p)
    return intercept, out


_VC_FACTOR = re.compile(r'C\((\w+|Q\("([^"]+)"\))\)(?::(\w+))?')


def factor_columns(spec: dict) -> set[str]:
    """Columns a spec uses as factors (``groups`` and every ``C(...)``): R factors for lme4."""
    cols = {spec["groups"]}
    for text in [spec["formula"], *(spec.get("vc_formula") or {}).values()]:
        cols |= {m.group(2) or m.group(1) for m in _VC_FACTOR.finditer(text)}
    return cols


def to_lme4(spec: dict, data: pd.DataFrame | None = None) -> Lme4Terms:
    """The lme4 formula equivalent to a statsmodels ``from_formula`` spec.

    Handles ``re_formula`` ``None``/``"1"`` (random intercept), ``"~x + z"``
    (correlated intercept and slopes), ``"0 + x"`` (slopes without
    intercept), ``"0"`` (no correlated block); and variance components
    ``"0 + C(f)"`` (lme4 ``(1 | g:f)``, or ``(1 | f)`` when all rows are one
    group, statsmodels' way of fitting crossed designs), ``"0 + C(f):x"``
    (lme4 ``(0 + x | g:f)``) and ``"0 + x"`` (lme4 ``(0 + x | g)``).  Anything
    else raises ``ValueError``.
    """
    g = spec["groups"]
    fixed = re.sub(r"\bC\(", "factor(", spec["formula"])
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
        m = _VC_FACTOR.fullmatch(vterms[0]) if len(vterms) == 1 else None
        if not vi and m:
            f = m.group(2) or m.group(1)
            slope = m.group(3)
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
                f"cannot translate vc_formula {name!r}: {vf!r} to lme4; accepted forms are "
                "'0 + C(f)', '0 + C(f):x' and '0 + x'")
    return Lme4Terms(f"{fixed} + " + " + ".join(bars), vmap)
