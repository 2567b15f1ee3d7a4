"""Seeded simulation of data from the linear mixed model.

Group i has n_i rows and

    y_i = X_i beta + Z_i b_i + sum_a Z_ia u_ia + e_i,
    b_i ~ N(0, cov_re),  u_ia ~ N(0, vcomp_a I),  e_i ~ N(0, scale I),

in statsmodels' *user* parameterization (``cov_re`` and ``vcomp`` are
covariances of the effects themselves, not divided by ``scale``).

* ``X_i = [1, x1, ..., x_{p-1}]`` with covariates ``x_j ~ N(0, 1)`` drawn per row.
* ``Z_i = [1, x1, ..., x_{k-1}]``: a random intercept plus correlated random
  slopes on the first ``k - 1`` covariates, ``k = cov_re.shape[0]`` (``k = 0``
  means no correlated random effects: ``re_formula = "0"``).
* Each variance component ``a`` has ``n_levels`` levels *within each group*;
  ``u_ia`` holds one independent effect per level, so the component adds
  ``u_ia[level]`` to a row (a random intercept per level, statsmodels'
  ``vc_formula={"a": "0 + C(a)"}``, lme4's ``(1 | g:a)``), or, when the
  component names a covariate (``(variance, n_levels, "x1")``), adds
  ``u_ia[level] * x1`` (a random *slope* per level, ``"0 + C(a):x1"``, lme4's
  ``(0 + x1 | g:a)``).
* Levels are laid out factorially inside a group: the first component cycles
  fastest (row r of the group gets level ``r % L_1``), the second cycles over
  blocks of ``L_1`` rows (``(r // L_1) % L_2``), and so on.  A group with at
  least ``L_1 * L_2 * ...`` rows therefore sees every combination, and a group
  of ``L_1 * L_2 * reps`` rows is a balanced crossed design.  Smaller groups
  simply see fewer levels (statsmodels and lme4 only use the levels present).

A crossed design (two factors crossed with each other, not nested in groups)
is fitted, as in statsmodels, as ONE group holding every row with the factors
as variance components and no correlated random effects: see
``preset("crossed")``.

Everything random comes from ``numpy.random.default_rng(seed)``, drawn in a
fixed order (covariates, b, each variance component in the order given, e), so
the same arguments give bit-identical data on every platform numpy supports.

Pure numpy/pandas; nothing here imports statsmodels or rpy2.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["SimulatedData", "simulate", "preset", "PRESETS"]


@dataclasses.dataclass(frozen=True)
class SimulatedData:
    """One simulated data set, the parameters that made it, and how to fit it.

    ``data``: columns ``y``, ``x1 .. xm``, ``g`` (group labels ``"g000"``...,
    strings, zero-padded so they sort in group order) and one integer column per variance component (its level within
    the group).

    ``truth``: ``fe_params`` (ndarray, order ``Intercept, x1, ...``),
    ``cov_re`` (k x k ndarray), ``vcomp`` (dict name -> variance, in the order
    given), ``scale`` (float), plus ``fe_names`` and ``re_names``.

    ``spec``: keyword arguments for
    ``statsmodels.MixedLM.from_formula(**spec, data=sim.data)``: ``formula``,
    ``groups``, ``re_formula``, ``vc_formula`` (``None`` when there are no
    variance components).

    ``lme4_formula``: the same model in lme4 syntax.

    ``effects``: the realized random effects, ``"re"`` -> (n_groups, k) array
    and, per variance component, name -> (n_groups, n_levels) array.
    """

    data: pd.DataFrame
    truth: dict
    spec: dict
    lme4_formula: str
    effects: dict


def _group_sizes(n_groups: int, group_sizes, rng: np.random.Generator) -> np.ndarray:
    """Per-group row counts from an int, a (min, max) pair, or an explicit list."""
    if np.ndim(group_sizes) == 0:
        sizes = np.full(n_groups, int(group_sizes))
    elif isinstance(group_sizes, tuple) and len(group_sizes) == 2:
        lo, hi = (int(v) for v in group_sizes)
        if lo > hi:
            raise ValueError(f"group_sizes=(min, max) needs min <= max, got {group_sizes}")
        sizes = rng.integers(lo, hi, size=n_groups, endpoint=True)
    else:
        sizes = np.asarray(group_sizes, dtype=np.int64)
        if sizes.shape != (n_groups,):
            raise ValueError(
                f"group_sizes as a list needs one size per group ({n_groups}), "
                f"got {sizes.shape[0] if sizes.ndim == 1 else sizes.shape}"
            )
    if sizes.min(initial=1) < 1:
        raise ValueError(f"every group needs at least one row; got sizes {sizes.tolist()}")
    return sizes.astype(np.int64)


def _chol_psd(cov: np.ndarray, what: str) -> np.ndarray:
    """A factor L with L L' = cov; allows singular (PSD) cov via eigh."""
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(cov)
        if w.min(initial=0.0) < -1e-12 * max(1.0, w.max(initial=0.0)):
            raise ValueError(f"{what} is not positive semi-definite (eigenvalues {w})") from None
        return v * np.sqrt(np.clip(w, 0.0, None))


def _parse_vcomp(vcomp, n_cov: int) -> list[tuple[str, float, int, str | None]]:
    out = []
    for name, val in (vcomp or {}).items():
        if not (isinstance(name, str) and name.isidentifier()) or name in {"y", "g"} or (
            name.startswith("x") and name[1:].isdigit()
        ):
            raise ValueError(f"variance component name {name!r} must be an identifier "
                             "other than y, g, x1, x2, ...")
        var, levels, *rest = val
        slope = rest[0] if rest else None
        if var < 0 or int(levels) < 1:
            raise ValueError(f"vcomp[{name!r}] = {val}: need variance >= 0 and n_levels >= 1")
        if slope is not None and slope not in [f"x{j}" for j in range(1, n_cov + 1)]:
            raise ValueError(f"vcomp[{name!r}]: slope covariate {slope!r} is not one of "
                             f"x1..x{n_cov}")
        out.append((name, float(var), int(levels), slope))
    return out


def simulate(
    n_groups: int,
    group_sizes: int | tuple[int, int] | Sequence[int] = 8,
    fe_params: Sequence[float] = (1.0, 0.5),
    cov_re: Sequence[Sequence[float]] | np.ndarray | None = ((1.0,),),
    vcomp: Mapping[str, tuple] | None = None,
    scale: float = 1.0,
    seed: int = 0,
) -> SimulatedData:
    """Simulate one data set (see the module docstring for the model).

    Parameters
    ----------
    n_groups : number of groups (1 for a crossed design).
    group_sizes : rows per group: an int (balanced), a ``(min, max)`` tuple
        (sizes drawn uniformly from min..max inclusive; ``min=1`` allows
        singleton groups), or a list with one size per group.
    fe_params : ``beta`` = (intercept, coefficient of x1, ...).
    cov_re : k x k covariance of (random intercept, slope on x1, ...); ``None``
        or a 0 x 0 array for no correlated random effects.
    vcomp : ``{name: (variance, n_levels)}`` for a random intercept per level,
        or ``{name: (variance, n_levels, "x1")}`` for a random slope on x1 per
        level.
    scale : residual variance ``sigma2``.
    seed : seed for ``numpy.random.default_rng``.
    """
    if n_groups < 1:
        raise ValueError(f"n_groups must be >= 1, got {n_groups}")
    beta = np.asarray(fe_params, dtype=float).reshape(-1)
    if beta.size < 1:
        raise ValueError("fe_params needs at least the intercept")
    cov = np.zeros((0, 0)) if cov_re is None else np.atleast_2d(np.asarray(cov_re, float))
    if cov.size == 0:
        cov = np.zeros((0, 0))
    k = cov.shape[0]
    if cov.shape != (k, k) or not np.allclose(cov, cov.T, rtol=0, atol=0):
        raise ValueError(f"cov_re must be a symmetric k x k matrix, got {cov.tolist()}")
    if not scale > 0:
        raise ValueError(f"scale (residual variance) must be > 0, got {scale}")
    n_cov = max(beta.size - 1, k - 1, 0)
    vcs = _parse_vcomp(vcomp, n_cov)
    rng = np.random.default_rng(seed)

    sizes = _group_sizes(n_groups, group_sizes, rng)
    n = int(sizes.sum())
    gidx = np.repeat(np.arange(n_groups), sizes)
    row_in_group = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes)

    x = rng.standard_normal((n, n_cov))
    design = np.column_stack([np.ones(n), x])  # [1, x1, ..., x_m]
    y = design[:, : beta.size] @ beta

    L = _chol_psd(cov, "cov_re") if k else np.zeros((0, 0))
    b = rng.standard_normal((n_groups, k)) @ L.T
    y += np.einsum("nk,nk->n", design[:, :k], b[gidx])

    data = {"y": None}
    data.update({f"x{j}": x[:, j - 1] for j in range(1, n_cov + 1)})
    width = max(3, len(str(n_groups - 1)))  # zero-padded: labels sort in group order
    data["g"] = np.array([f"g{i:0{width}d}" for i in range(n_groups)], dtype=object)[gidx]
    effects = {"re": b}
    block = 1
    for name, var, levels, slope in vcs:
        level = (row_in_group // block) % levels
        block *= levels
        u = np.sqrt(var) * rng.standard_normal((n_groups, levels))
        mult = 1.0 if slope is None else data[slope]
        y += u[gidx, level] * mult
        data[name] = level
        effects[name] = u
    y += np.sqrt(scale) * rng.standard_normal(n)
    data["y"] = y

    fe_names = ["Intercept"] + [f"x{j}" for j in range(1, beta.size)]
    re_names = ["Intercept"] + [f"x{j}" for j in range(1, k)] if k else []
    rhs = " + ".join(["1"] + fe_names[1:])
    re_formula = "0" if k == 0 else " + ".join(["1"] + re_names[1:])
    vc_formula = {
        name: f"0 + C({name})" if slope is None else f"0 + C({name}):{slope}"
        for name, _, _, slope in vcs
    } or None
    lme4_terms = [f"({re_formula} | g)"] if k else []
    lme4_terms += [f"(1 | g:{name})" if slope is None else f"(0 + {slope} | g:{name})"
                   for name, _, _, slope in vcs]
    return SimulatedData(
        data=pd.DataFrame(data),
        truth={
            "fe_params": beta,
            "cov_re": cov,
            "vcomp": {name: var for name, var, _, _ in vcs},
            "scale": float(scale),
            "fe_names": fe_names,
            "re_names": re_names,
        },
        spec={"formula": f"y ~ {rhs}", "groups": "g", "re_formula": re_formula,
              "vc_formula": vc_formula},
        lme4_formula=f"y ~ {rhs} + " + " + ".join(lme4_terms) if lme4_terms
        else f"y ~ {rhs}",
        effects=effects,
    )


def _near_singular_cov() -> np.ndarray:
    sd = np.array([1.0, 0.5])
    corr = np.array([[1.0, 0.999], [0.999, 1.0]])
    return corr * np.outer(sd, sd)


def _singleton_sizes(seed: int, n_groups: int = 40, n_singletons: int = 5) -> list[int]:
    """Sizes 1..9 with at least ``n_singletons`` groups of one row."""
    rng = np.random.default_rng([seed, 1])
    sizes = rng.integers(1, 9, size=n_groups, endpoint=True)
    sizes[rng.choice(n_groups, n_singletons, replace=False)] = 1
    return sizes.tolist()


#: name -> function(seed) -> keyword arguments for :func:`simulate`.
PRESETS = {
    # 30 groups of 8, random intercept.
    "balanced": lambda seed: dict(
        n_groups=30, group_sizes=8, fe_params=(1.0, 0.5), cov_re=[[1.0]], scale=1.0),
    # 40 groups of 1..9 rows, at least 5 of them singletons; intercept + slope.
    "unbalanced_singletons": lambda seed: dict(
        n_groups=40, group_sizes=_singleton_sizes(seed), fe_params=(2.0, -1.0, 0.5),
        cov_re=[[1.0, 0.3], [0.3, 0.5]], scale=0.8),
    # 3 x 3 correlated intercept + two slopes.
    "slopes3": lambda seed: dict(
        n_groups=50, group_sizes=10, fe_params=(1.0, 0.5, -0.3),
        cov_re=[[1.0, 0.3, -0.2], [0.3, 0.6, 0.1], [-0.2, 0.1, 0.4]], scale=0.5),
    # intercept + slope with correlation 0.999: Psi close to singular.
    "near_singular": lambda seed: dict(
        n_groups=40, group_sizes=6, fe_params=(1.0, 0.5), cov_re=_near_singular_cov(),
        scale=1.0),
    # random intercept plus two variance components: an intercept per level of
    # a (3 levels per group) and a slope on x1 per level of s (2 levels).
    "vc_slope": lambda seed: dict(
        n_groups=30, group_sizes=12, fe_params=(1.0, 0.5), cov_re=[[0.8]],
        vcomp={"a": (0.5, 3), "s": (0.4, 2, "x1")}, scale=1.0),
    # one group; factors a (10 levels) and b (8 levels) fully crossed, 2 reps.
    "crossed": lambda seed: dict(
        n_groups=1, group_sizes=160, fe_params=(1.0, 0.5), cov_re=None,
        vcomp={"a": (1.0, 10), "b": (0.5, 8)}, scale=1.0),
}


def preset(name: str, seed: int = 0) -> SimulatedData:
    """A named design (see :data:`PRESETS`), simulated with ``seed``."""
    try:
        make = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}") from None
    return simulate(**make(seed), seed=seed)
