"""lme4's formula syntax, both ways: ``(1 + x | g)`` <-> statsmodels' spec.

statsmodels (and so refimpl) specifies a linear mixed model by

* ``groups``: ONE grouping factor; the rows of different groups are independent;
* ``re_formula``: one block of correlated random effects per group (``"1"``,
  ``"~x"``, ``"0 + x + z"``, or ``"0"`` for none), with a full covariance;
* ``vc_formula``: variance components ``{name: formula}``, each an independent
  family of random effects with ONE variance, one effect per column its
  formula makes inside a group: ``"0 + C(f)"`` (an intercept per level of
  ``f``), ``"0 + C(f):x"`` (a slope on ``x`` per level of ``f``) or ``"0 + x"``
  (one independent slope per group).

lme4 writes the same models as bar terms ``(lhs | factor)``.  What the
statsmodels spec can express, in lme4 terms, is exactly this:

1. correlated terms (``(1 + x | g)``, ``(x | g)``, ``(0 + x + z | g)``) on at
   most ONE grouping factor ``g``, which becomes ``groups``, and one such block;
2. every other bar term has a single column (``(1 | f)`` or ``(0 + x | f)``,
   which is what ``(1 + x || f)`` expands to), on a factor ``f`` that is
   either ``g`` itself (a slope: ``"0 + x"``) or nested in ``g`` (each level of
   ``f`` inside one level of ``g``: ``(1 | g/f)``, ``(1 | g:f)``, or a ``f`` whose
   labels are unique across ``g``);
3. if the factors are crossed (no factor has all the others nested in it), all
   rows form one group (statsmodels' way of fitting crossed designs) and every
   bar term must have a single column.

:func:`from_lme4` translates an lme4 formula into that spec, or raises
``ValueError`` naming the term it cannot express and why.  :func:`to_lme4`
(refimpl/lme4_spec.py, re-exported here) goes the other way (the validation
suite fits lme4 from each case's spec with it) and also returns how lme4's
``VarCorr`` rows map to statsmodels' names.  :func:`refimpl.lmer`
(refimpl/lmer.py) translates and fits; ``from_lme4_formula`` is the
``MixedLM`` constructor.  The two directions are tested as round trips on
every validation case (``tests/test_lme4_formula.py``).

R's fixed-effects syntax is passed to patsy almost unchanged; ``factor(x)``
becomes ``C(x)``.  Other R-only functions in the fixed part are not
translated.
"""

from __future__ import annotations

import dataclasses
import re

import pandas as pd

from .lme4_spec import Lme4Terms, factor_columns, split_top, to_lme4

__all__ = ["Lme4Terms", "Translation", "BarTerm", "from_lme4", "to_lme4", "parse_bars",
           "factor_columns"]

_NAME = r"[A-Za-z_.][A-Za-z0-9_.]*"


# --------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class BarTerm:
    """One single-bar lme4 term ``(lhs | factor)`` after ``||`` and ``/`` expansion.

    ``factor`` is a tuple of column names (``("batch", "cask")`` for
    ``batch:cask``); ``covariates`` the non-intercept columns of the lhs.
    """

    intercept: bool
    covariates: tuple[str, ...]
    factor: tuple[str, ...]

    @property
    def n_columns(self) -> int:
        return int(self.intercept) + len(self.covariates)

    def __str__(self) -> str:
        lhs = " + ".join((["1"] if self.intercept else ["0"]) + list(self.covariates))
        return f"({lhs} | {':'.join(self.factor)})"


@dataclasses.dataclass(frozen=True)
class Translation:
    """An lme4 formula as statsmodels' ``from_formula`` arguments.

    ``data`` is the caller's frame, or a copy with the columns the spec needs
    added (a constant group column for crossed designs, ``"a:b"`` columns for
    interaction factors); the caller's frame is never modified.
    """

    formula: str
    groups: str
    re_formula: str | None
    vc_formula: dict[str, str] | None
    data: pd.DataFrame
    terms: tuple[BarTerm, ...]
    crossed: bool

    @property
    def spec(self) -> dict:
        return {"formula": self.formula, "groups": self.groups,
                "re_formula": self.re_formula, "vc_formula": self.vc_formula}

    def lme4(self) -> Lme4Terms:
        """The canonical lme4 formula of the translated spec, and its VarCorr map."""
        return to_lme4(self.spec, self.data)


# --------------------------------------------------------------------------
# Small parsing helpers
# --------------------------------------------------------------------------

def _bar_of(term: str) -> tuple[str, str, str] | None:
    """``(lhs, bar, factor)`` if ``term`` is ``( lhs | factor )`` or ``( lhs || factor )``."""
    if not (term.startswith("(") and term.endswith(")")):
        return None
    inner, depth = term[1:-1], 0
    for i, ch in enumerate(inner):
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return None  # "(a) + (b)" is not one parenthesised term
        if ch == "|" and depth == 0:
            bar = "||" if inner[i + 1:i + 2] == "|" else "|"
            return inner[:i].strip(), bar, inner[i + len(bar):].strip()
    return None


def _lhs(lhs: str, term: str) -> tuple[bool, tuple[str, ...]]:
    intercept, cov = True, []
    for sign, t in split_top(lhs):
        if t in ("0", "1"):
            intercept = (t == "1") == (sign == "+")
        elif sign == "-":
            raise ValueError(f"random-effects term {term!r}: cannot remove {t!r}")
        else:
            cov.append(t)
    return intercept, tuple(cov)


def _factors(expr: str, term: str) -> list[tuple[str, ...]]:
    """``a/b/c`` -> [(a,), (a, b), (a, b, c)]; ``a:b`` -> [(a, b)]."""
    parts = [p.strip() for p in expr.split("/")]
    out, prefix = [], ()
    for p in parts:
        cols = tuple(c.strip() for c in p.split(":"))
        if not all(re.fullmatch(_NAME, c) for c in cols):
            raise ValueError(f"random-effects term {term!r}: grouping factor {expr!r} must be "
                             "column names joined by ':' or '/' (e.g. school/class)")
        prefix = prefix + cols
        out.append(prefix)
    return out


def parse_bars(formula: str) -> tuple[str, str, list[BarTerm]]:
    """(response, fixed-effects right-hand side, bar terms) of an lme4 formula.

    ``||`` is expanded as lme4 does, into one term for the intercept and one
    per covariate; ``(x | a/b)`` into ``(x | a) + (x | a:b)``.
    """
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise ValueError(f"formula must be a string 'y ~ fixed + (lhs | factor)', got {formula!r}")
    response, rhs = (s.strip() for s in formula.split("~"))
    fixed, bars = [], []
    for sign, term in split_top(rhs):
        bar = _bar_of(term)
        if bar is None:
            fixed.append((sign, term))
            continue
        if sign == "-":
            raise ValueError(f"formula {formula!r}: a random-effects term cannot be subtracted")
        lhs, kind, fexpr = bar
        intercept, cov = _lhs(lhs, term)
        for factor in _factors(fexpr, term):
            if kind == "|":
                bars.append(BarTerm(intercept, cov, factor))
            else:  # (1 + x || g) = (1 | g) + (0 + x | g)
                if intercept:
                    bars.append(BarTerm(True, (), factor))
                bars += [BarTerm(False, (c,), factor) for c in cov]
    if not bars:
        raise ValueError(f"formula {formula!r} has no random-effects term '(lhs | factor)'")
    text = " ".join(f"{s} {t}" for s, t in fixed).strip()
    text = text[1:].strip() if text.startswith("+") else (text or "1")
    text = re.sub(r"\bfactor\(", "C(", text)
    return response, text, bars


# --------------------------------------------------------------------------
# lme4 -> statsmodels
# --------------------------------------------------------------------------

def _codes(data: pd.DataFrame, cols: tuple[str, ...]):
    return data.groupby(list(cols), sort=False, dropna=False).ngroup().to_numpy()


def _nested(data, inner: tuple[str, ...], outer: tuple[str, ...]) -> bool:
    """Is every level of ``inner`` inside one level of ``outer``?"""
    if set(outer) <= set(inner):
        return True
    frame = pd.DataFrame({"i": _codes(data, inner), "o": _codes(data, outer)})
    return bool((frame.groupby("i")["o"].nunique() <= 1).all())


def _unique_name(base: str, taken) -> str:
    name = base
    while name in taken:
        name += "_"
    return name


def _column(data, extra: dict, cols: tuple[str, ...]) -> str:
    """A column holding the factor ``cols`` (added to ``extra`` if it is an interaction)."""
    if len(cols) == 1:
        return cols[0]
    name = ":".join(cols)
    if name not in data.columns and name not in extra:
        label = data[cols[0]].astype(str)
        for c in cols[1:]:
            label = label + ":" + data[c].astype(str)
        extra[name] = label
    return name


def _patsy_factor(col: str) -> str:
    return f"C({col})" if re.fullmatch(r"\w+", col) else f'C(Q("{col}"))'


def _choose_group(terms: list[BarTerm], data) -> tuple[str, ...] | None:
    """The factor every other factor is nested in, or None (crossed)."""
    factors = list(dict.fromkeys(t.factor for t in terms))
    wide = list(dict.fromkeys(t.factor for t in terms if t.n_columns > 1))
    if len(wide) > 1:
        raise ValueError(
            "correlated random effects on more than one grouping factor ("
            + ", ".join(str(t) for t in terms if t.n_columns > 1)
            + ") cannot be expressed: statsmodels has ONE correlated block, on its groups "
            "factor; make all but one independent with '||' (e.g. (1 + x || item))")
    candidates = wide or factors
    for g in candidates:
        if all(_nested(data, f, g) for f in factors):
            return g
    if wide:
        w = wide[0]
        others = [f for f in factors if not _nested(data, f, w)]
        if all(_nested(data, w, f) for f in others):
            raise ValueError(
                f"correlated random effects {[str(t) for t in terms if t.factor == w]} are on "
                f"{':'.join(w)}, which is nested in {', '.join(':'.join(f) for f in others)}: "
                "statsmodels' groups factor must be the outermost one, and the variance "
                "components inside it are independent; write the term with '||'")
        others = [":".join(f) for f in others]
        raise ValueError(
            f"correlated random effects {[str(t) for t in terms if t.factor == wide[0]]} need "
            f"{':'.join(wide[0])} to be statsmodels' groups factor, but {', '.join(others)} "
            f"{'is' if len(others) == 1 else 'are'} not nested in it (crossed); a crossed design "
            "is fitted as one group with independent variance components: write the "
            "correlated term with '||'")
    return None


def from_lme4(formula: str, data: pd.DataFrame) -> Translation:
    """Translate an lme4 formula into statsmodels' ``from_formula`` arguments.

    Raises ``ValueError`` naming the term the statsmodels spec cannot express.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    response, fixed, terms = parse_bars(formula)
    missing = sorted({c for t in terms for c in t.factor} - set(data.columns))
    if missing:
        raise ValueError(f"formula {formula!r}: grouping column(s) {missing} not in data; "
                         f"columns are {list(data.columns)}")
    if len(set(terms)) != len(terms):
        raise ValueError(f"formula {formula!r} repeats a random-effects term")
    g = _choose_group(terms, data)
    extra: dict[str, pd.Series] = {}
    if g is None:
        groups = _unique_name("group", set(data.columns))
        extra[groups] = pd.Series("all", index=data.index)
    else:
        groups = _column(data, extra, g)

    on_g = [t for t in terms if t.factor == g]
    # the correlated block: the term with the intercept, else one with several
    # columns, else a lone (0 + x | g); other single columns on g are VCs
    block = [t for t in on_g if t.intercept or t.n_columns > 1] or (on_g if len(on_g) == 1 else [])
    if len(block) > 1:
        raise ValueError(f"{block[0]} and {block[1]}: two correlated blocks on {':'.join(g)}; "
                         "statsmodels allows one (merge them, or use '||')")
    re_formula = "0"
    if block:
        b = block[0]
        re_formula = " + ".join((["1"] if b.intercept else ["0"]) + list(b.covariates))

    vc: dict[str, str] = {}
    slopes: list[tuple[str, str, str]] = []  # (base name, covariate, factor formula)
    for t in terms:
        if block and t is block[0]:
            continue
        if t.n_columns > 1:
            where = ("inside each group" if g is None else
                     f"and {':'.join(t.factor)} is not the groups factor {':'.join(g)}")
            raise ValueError(
                f"{t}: correlated random effects can only be on statsmodels' groups factor "
                f"({'none: the factors are crossed, so all rows form one group' if g is None else ':'.join(g)}); "
                f"variance components are independent {where}. Write it with '||' for "
                "independent intercept and slopes")
        for c in t.covariates:
            if c not in data.columns or not pd.api.types.is_numeric_dtype(data[c]):
                raise ValueError(f"{t}: the random slope {c!r} must be a numeric column of data")
        if t.factor == g:  # (0 + x | g): an independent slope per group
            vc[_unique_name(t.covariates[0], vc)] = f"0 + {t.covariates[0]}"
            continue
        inner = t.factor[len(g):] if g is not None and t.factor[:len(g)] == g else t.factor
        col = _column(data, extra, inner)
        if t.intercept:
            vc[_unique_name(col, vc)] = f"0 + {_patsy_factor(col)}"
        else:
            slopes.append((col, t.covariates[0], f"0 + {_patsy_factor(col)}:{t.covariates[0]}"))
    for base, x, vf in slopes:  # a slope takes the factor's name unless an intercept has it
        vc[_unique_name(base if base not in vc else f"{base}:{x}", vc)] = vf

    out = data.assign(**extra) if extra else data
    return Translation(formula=f"{response} ~ {fixed}", groups=groups,
                       re_formula=re_formula, vc_formula=dict(sorted(vc.items())) or None,
                       data=out, terms=tuple(terms), crossed=g is None)
