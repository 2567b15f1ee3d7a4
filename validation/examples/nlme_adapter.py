"""A worked adapter for an R package through rpy2: nlme's ``lme``.

This file is the second example of ``validation/CONTRACT.md`` and the
built-in engine ``nlme``.  Use it as a plug-in like any other::

    lmm-validate run --plugin validation.examples.nlme_adapter:fit

How a case becomes an ``lme`` call (the whole translation is
:func:`nlme_random`): every case has one grouping column ``g``
(``case.spec["groups"]``); within it,

* ``re_formula`` (correlated random effects) is one ``pdSymm`` block:
  ``None`` or ``"1"`` -> ``pdSymm(~1)``, ``"~Time"`` -> ``pdSymm(~Time)``,
  ``"0"`` -> no block;
* each ``vc_formula`` entry ``name: "0 + C(f)"`` is one ``pdIdent`` block
  ``pdIdent(~0 + f)`` (one common variance for all levels of ``f`` inside
  each group: exactly statsmodels' variance component); ``"0 + C(f):x"`` is
  ``pdIdent(~0 + f:x)``; ``"0 + x"`` is ``pdIdent(~0 + x)``;
* several blocks are joined by ``pdBlocked``: ``random = list(g =
  pdBlocked(list(pdSymm(~1), pdIdent(~0 + f))))``.

A case whose optimum is a singular covariance matrix of several random
effects (``sim_near_singular/ml``) is declared unsupported: ``pdSymm``'s
log-Cholesky parameterization cannot reach it (a single zero variance, as
in ``dyestuff2``, it approaches closely enough).

A crossed design is then one group holding every row and a ``pdIdent``
block per factor (statsmodels' way too).  nlme builds these blocks densely,
so a model with more than :data:`MAX_COLUMNS` random-effect columns in one
group is declared unsupported (:class:`validation.Unsupported`) instead of
being left to run for minutes.

Units: ``lme`` holds the random-effects covariance relative to the residual
variance; it is multiplied by ``sigma^2`` here.  ``vcov(fit)`` is
``sigma^2 (X' V^-1 X)^-1`` (conditional on the covariance parameters), so
``bse_fe_definition`` is declared ``"conditional"``.
"""

from __future__ import annotations

import re

import numpy as np

from validation import Unsupported

#: More random-effect columns than this in one group: declared unsupported.
MAX_COLUMNS = 400

#: lme's control: more iterations and tighter tolerances than the defaults,
#: so that the answer is the optimum and not where the optimizer gave up.
CONTROL = "nlme::lmeControl(maxIter = 500, msMaxIter = 500, niterEM = 50, tolerance = 1e-12, " \
          "msTol = 1e-14, msMaxEval = 2000, rel.tol = 1e-15, returnObject = TRUE, opt = 'nlminb')"

_R_FIT = r"""
function(d, fixed, random, reml, groups, blocks) {
  rnd <- eval(parse(text = random))
  fit <- nlme::lme(stats::as.formula(fixed), data = d, random = rnd,
                   method = if (reml) "REML" else "ML", control = %s)
  s2 <- fit$sigma^2
  pd <- fit$modelStruct$reStruct[[1]]
  parts <- if (inherits(pd, "pdBlocked")) as.list(pd) else list(pd)
  mats <- lapply(parts, function(p) as.matrix(p) * s2)
  list(fixef = nlme::fixef(fit), fixef_names = names(nlme::fixef(fit)),
       se = sqrt(diag(as.matrix(stats::vcov(fit)))),
       sigma2 = s2, llf = as.numeric(stats::logLik(fit)),
       mats = lapply(mats, as.numeric), dims = vapply(mats, nrow, 0L),
       names = lapply(mats, rownames),
       iterations = fit$numIter)
}
""" % CONTROL

_C = re.compile(r"C\((\w+)\)")


def nlme_random(spec: dict) -> tuple[str, list[tuple[str, str]]]:
    """(R expression for ``random``, [(block kind, block name)]) for a case spec."""
    g = spec["groups"]
    pieces, blocks = [], []
    re_formula = spec.get("re_formula")
    re_rhs = "1" if re_formula is None else re_formula.strip().lstrip("~").strip()
    if re_rhs not in ("0", "-1", "0 + 1"):
        pieces.append(f"nlme::pdSymm(~{re_rhs})")
        blocks.append(("cov_re", ""))
    for name, vf in (spec.get("vc_formula") or {}).items():
        rhs = _C.sub(r"\1", vf.strip().lstrip("~"))
        if not re.fullmatch(r"0\s*\+\s*\w+(\s*:\s*\w+)?", rhs):
            raise Unsupported(f"vc_formula {name!r}: {vf!r} has no pdIdent translation here")
        pieces.append(f"nlme::pdIdent(~{rhs})")
        blocks.append(("vcomp", name))
    if not pieces:
        raise Unsupported("a model without random effects")
    inner = pieces[0] if len(pieces) == 1 else f"nlme::pdBlocked(list({', '.join(pieces)}))"
    return f"list({g} = {inner})", blocks


def fit(case) -> dict:
    """Fit ``case`` with ``nlme::lme``; the dict of CONTRACT.md."""
    from validation import rbridge

    spec = case.spec
    random, blocks = nlme_random(spec)
    re_formula = (spec.get("re_formula") or "1").strip().lstrip("~")
    if case.boundary and re.search(r"[A-Za-z_]", re.sub(r"^\s*[01]\s*\+?", "", re_formula)):
        raise Unsupported("the optimum is a singular covariance matrix, which nlme's pdSymm "
                          "(log-Cholesky) cannot represent: it stops near it, not on it")
    data = case.data()
    # str columns and every C(f) column become R factors (an integer column in
    # pdIdent(~0 + f) would silently be a slope on f)
    factors = {c for c in data.columns if data[c].dtype == object}
    factors |= {m.group(1) for v in (spec.get("vc_formula") or {}).values()
                for m in _C.finditer(v)}
    n_cols = sum(data[_C.search(v).group(1)].nunique() if _C.search(v) else 1
                 for v in (spec.get("vc_formula") or {}).values())
    if n_cols > MAX_COLUMNS:
        raise Unsupported(f"{n_cols} variance-component columns in one group: nlme's dense "
                          f"pdBlocked is impractical above {MAX_COLUMNS}")
    for c in factors:
        data[c] = data[c].astype(str).astype("category")
    ro = rbridge.require_r(["nlme"])
    fixed = re.sub(r"\bC\(", "factor(", spec["formula"])
    out = rbridge.call(_R_FIT, rbridge.to_r_dataframe(data), fixed, random, bool(case.reml),
                       spec["groups"], ro.NULL)
    v = out.value
    get = {k: v.rx2(k) for k in v.names}
    fe_names = ["Intercept" if n == "(Intercept)" else str(n) for n in get["fixef_names"]]
    cov_re: dict[str, dict[str, float]] = {}
    vcomp: dict[str, float] = {}
    for (kind, name), m, k, rn in zip(blocks, get["mats"], get["dims"], get["names"]):
        M = np.asarray(m, dtype=float).reshape(int(k), int(k)).T
        if kind == "cov_re":
            names = [spec["groups"] if n == "(Intercept)" else str(n) for n in rn]
            cov_re = {a: {b: float(M[i, j]) for j, b in enumerate(names)}
                      for i, a in enumerate(names)}
        else:
            vcomp[name] = float(M[0, 0])
    return {
        "fe_params": dict(zip(fe_names, map(float, get["fixef"]))),
        "bse_fe": dict(zip(fe_names, map(float, get["se"]))),
        "cov_re": cov_re,
        "vcomp": vcomp,
        "scale": float(get["sigma2"][0]),
        "llf": float(get["llf"][0]),
        "warnings": out.warnings,
        "extra": {"bse_fe_definition": "conditional", "random": random},
    }
