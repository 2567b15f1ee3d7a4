"""Certify one validation case: Newton at two precisions, digits, a second path.

:func:`certify` returns the JSON-ready entry that ``refimpl/data/certified/`` stores
(book chapter "Certified values"):

1. **Start.**  refimpl's default fit gives phi (double precision).  Diagonal
   entries of L and s_vc with |phi_j| < BOUNDARY_PHI are boundary candidates:
   they, and the entries below a zero pivot in its column (which the
   likelihood no longer identifies), are held at exactly 0.
2. **Refine.**  :func:`certified.newton.newton_refine` maximises the mpmath
   profiled log-likelihood over the other coordinates, at ``dps = 50`` and
   again at ``dps = 80``, each until the relative Newton step is below
   ``10^-(dps-5)``.  At each end point: every quantity in user units
   (:meth:`MpModel.estimates`), the Hessian (negative definite at an interior
   maximum), and along each held coordinate the second derivative, which must
   be <= 0 (the KKT condition: moving off the boundary does not raise the
   likelihood, (eq:cert-kkt)).
3. **Digits.**  A quantity's certified digits are the digits on which the two
   runs agree, ``floor(-log10 |x50 - x80| / |x80|)``, capped at DIGITS_CAP = 30 (eq:cert-digits);
   the stored value is the dps-80 value with STORE_DIGITS = 34 significant digits.
4. **Second path.**  For a balanced one-way design, the ANOVA closed form
   (:mod:`certified.anova`) at dps 80; its agreement with step 2 is stored,
   and the tests require it to reach the claimed digits.

Standard errors, two definitions (validation/compare.py names them):

* ``conditional`` = sqrt(diag(sigma2 (X'V^{-1}X)^{-1})), lme4's ``vcov``;
* ``observed`` = sqrt(diag(inv(-H)))[beta], H the Hessian of statsmodels'
  sigma2-profiled l(beta, theta) (eq:full-ml), (eq:full-reml) at the optimum,
  statsmodels' and refimpl's ``bse_fe``.  The beta block of inv(-H) does not
  depend on how theta is parameterized at a stationary point (eq:cert-bse), so
  it is computed in (beta, phi).  Certified for interior optima only.
"""

from __future__ import annotations

import datetime as _dt
import platform

from mpmath import mp

from .anova import anova_estimates, is_balanced_oneway
from .mp_likelihood import MpModel
from .newton import gradient_hessian, newton_refine, second_derivative
from .mp_linalg import lu_solve, eye
from .spec import build_spec

__all__ = ["certify", "DPS", "DIGITS_CAP", "STORE_DIGITS", "agreement_digits"]

DPS = (50, 80)
DIGITS_CAP = 30
STORE_DIGITS = 34
BOUNDARY_PHI = 1e-6
FORMAT = 1

PARAMETERIZATION = (
    "phi = [tril(L) row by row, s_vc], Psi_re = L L' and psi_vc = s_vc**2 in units of "
    "sigma2 (statsmodels' sqrt parameterization, lme4's theta); beta and sigma2 profiled out")


def agreement_digits(a, b, cap: int = DIGITS_CAP) -> int:
    """Significant digits on which a and b agree (absolute decimals when b == 0), capped."""
    if a == b:
        return cap
    err = abs(a - b) if b == 0 else abs(a - b) / abs(b)
    return max(0, min(cap, int(mp.floor(-mp.log10(err)))))


def _phi_index(i: int, j: int) -> int:
    return i * (i + 1) // 2 + j


def held_coordinates(phi, k_re: int, k_vc: int) -> tuple[list[int], list[str]]:
    """Indices of phi to hold at 0 (zero pivots with their columns, zero s_vc) and their names."""
    held, names = [], []
    for j in range(k_re):
        if abs(phi[_phi_index(j, j)]) < BOUNDARY_PHI:
            for i in range(j, k_re):
                held.append(_phi_index(i, j))
                names.append(f"L[{i},{j}]")
    base = k_re * (k_re + 1) // 2
    for v in range(k_vc):
        if abs(phi[base + v]) < BOUNDARY_PHI:
            held.append(base + v)
            names.append(f"s_vc[{v}]")
    return held, names


def refimpl_start(case):
    """refimpl's default optimum phi for the case (a starting point only)."""
    import warnings

    from refimpl.model import MixedLM

    s = case.spec
    model = MixedLM.from_formula(s["formula"], case.data(), groups=s["groups"],
                                 re_formula=s["re_formula"], vc_formula=s["vc_formula"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(reml=case.reml)
    return [float(v) for v in res.phi]


def _observed_bse(model: MpModel, x, free, beta, dps):
    """statsmodels' bse_fe: sqrt(diag(inv(-H)))[beta], H of l(beta, phi_free) (module docstring)."""
    p = len(beta)

    def f(z):
        phi = list(x)
        for i, v in zip(free, z[p:]):
            phi[i] = v
        return model.loglike_beta(z[:p], phi)

    _, _, H = gradient_hessian(f, list(beta) + [x[i] for i in free], dps)
    negH = [[-v for v in row] for row in H]
    C, _, _ = lu_solve(negH, eye(len(negH)))
    return [mp.sqrt(C[i][i]) for i in range(p)]


def _run(model: MpModel, phi0, held, dps: int) -> dict:
    spec = model.spec
    free = [i for i in range(spec.n_phi) if i not in held]
    start = [0.0 if i in held else v for i, v in enumerate(phi0)]
    nr = newton_refine(model.profiled_loglike, start, free, dps)
    mp.dps = dps
    est = model.estimates(nr.x)
    if not held:
        se = _observed_bse(model, nr.x, free, est["beta"], dps)
        est["bse_fe_observed"] = dict(zip(spec.fe_names, se))
    kkt = {i: second_derivative(model.profiled_loglike, nr.x, i, dps) for i in held}
    eig = []
    if nr.hessian:
        eig = sorted(mp.eigsy(mp.matrix(nr.hessian), eigvals_only=True))
    return {"newton": nr, "estimates": est, "kkt": kkt, "eigenvalues": eig}


def _flatten(est: dict) -> dict[str, object]:
    """{"fe_params[Intercept]": value, ...} over the certified quantities."""
    out = {}
    for k, v in est["fe_params"].items():
        out[f"fe_params[{k}]"] = v
    for conv in ("conditional", "observed"):
        for k, v in est.get(f"bse_fe_{conv}", {}).items():
            out[f"bse_fe.{conv}[{k}]"] = v
    names = list(est["cov_re"])
    for i, a in enumerate(names):
        for b in names[: i + 1]:
            out[f"cov_re[{a},{b}]"] = est["cov_re"][a][b]
    for k, v in est["vcomp"].items():
        out[f"vcomp[{k}]"] = v
    out["scale"] = est["scale"]
    out["llf"] = est["llf"]
    return out


def _nested(flat: dict, est: dict, fmt) -> dict:
    """The stored layout: fe_params, bse_fe{conditional, observed}, cov_re (full), vcomp, scale, llf."""
    names = list(est["cov_re"])
    cov = {a: {} for a in names}
    for i, a in enumerate(names):
        for b in names[: i + 1]:
            cov[a][b] = cov[b][a] = fmt(flat[f"cov_re[{a},{b}]"])
    bse = {conv: {k: fmt(flat[f"bse_fe.{conv}[{k}]"]) for k in est["fe_params"]}
           for conv in ("conditional", "observed") if f"bse_fe_{conv}" in est}
    return {"fe_params": {k: fmt(flat[f"fe_params[{k}]"]) for k in est["fe_params"]},
            "bse_fe": bse, "cov_re": cov,
            "vcomp": {k: fmt(flat[f"vcomp[{k}]"]) for k in est["vcomp"]},
            "scale": fmt(flat["scale"]), "llf": fmt(flat["llf"])}


def _num(v) -> str:
    return mp.nstr(v, 12)


def certify(case, log=print) -> dict:
    """The stored entry of one case (module docstring).  Raises if a check fails."""
    from refimpl.cases import data_sha256

    df = case.data()
    spec = build_spec(df, case.spec, case.reml)
    model = MpModel(spec)
    phi0 = refimpl_start(case)
    held, held_names = held_coordinates(phi0, spec.k_re, spec.k_vc)
    runs = {}
    for dps in DPS:
        runs[dps] = _run(model, phi0, held, dps)
        nr = runs[dps]["newton"]
        log(f"  {case.name}: dps={dps}: {len(nr.steps)} Newton steps, last "
            f"{_num(nr.steps[-1]) if nr.steps else '-'}")
        if not nr.converged:
            raise RuntimeError(f"{case.name}: Newton did not converge at dps={dps}")
        if any(e >= 0 for e in runs[dps]["eigenvalues"]):
            raise RuntimeError(f"{case.name}: the Hessian at the refined point is not negative "
                               f"definite (eigenvalues {runs[dps]['eigenvalues']})")
        bad = {i: v for i, v in runs[dps]["kkt"].items() if v > 0}
        if bad:
            raise RuntimeError(f"{case.name}: held coordinates {bad} would raise the likelihood "
                               "off the boundary: the optimum is interior; refit more tightly")
    lo, hi = (_flatten(runs[d]["estimates"]) for d in DPS)
    mp.dps = DPS[-1]
    digits = {k: agreement_digits(lo[k], hi[k]) for k in hi}
    est_hi = runs[DPS[-1]]["estimates"]
    entry = {
        "format": FORMAT,
        "case": case.name,
        "method": case.method,
        "description": case.description,
        "spec": case.spec,
        "data_source": case.source,
        "data_sha256": data_sha256(df),
        "n_obs": spec.n, "n_groups": len(spec.groups),
        "boundary": bool(held),
        "boundary_parameters": held_names,
        "parameterization": PARAMETERIZATION,
        "values": _nested(hi, est_hi, lambda v: mp.nstr(v, STORE_DIGITS)),
        "digits": _nested(digits, est_hi, int),
        "min_digits": min(digits.values()),
        "certification": {
            "method": (f"mpmath Newton refinement of the profiled "
                       f"{'REML' if case.reml else 'ML'} log-likelihood from refimpl's optimum, "
                       f"dps={DPS[0]} vs dps={DPS[1]}; digits = agreement of the two runs, "
                       f"capped at {DIGITS_CAP}"),
            "dps": list(DPS),
            "derivatives": "central differences at 3*dps+10 digits, steps 10^-(dps+5)",
            "runs": {str(d): {
                "newton_steps": len(r["newton"].steps),
                "relative_steps": [_num(s) for s in r["newton"].steps],
                "final_gradient": [_num(g) for g in r["newton"].gradient],
                "hessian_eigenvalues": [_num(e) for e in r["eigenvalues"]],
                "kkt_second_derivatives": {held_names[held.index(i)]: _num(v)
                                           for i, v in r["kkt"].items()},
            } for d, r in runs.items()},
            "phi": [mp.nstr(v, STORE_DIGITS) for v in runs[DPS[-1]]["newton"].x],
        },
        "second_path": None,
        "generator": f"python -m certified build --force --cases {case.name}",
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"mpmath": mp.__version__ if hasattr(mp, "__version__") else
                     __import__("mpmath").__version__, "python": platform.python_version()},
    }
    if is_balanced_oneway(spec):
        mp.dps = DPS[-1]
        an = anova_estimates(spec)
        flat = _flatten(an)
        agree = {k: agreement_digits(flat[k], hi[k]) for k in flat}
        entry["second_path"] = {
            "method": "ANOVA closed form for the balanced one-way design (book: anova)",
            "dps": DPS[-1],
            "boundary": bool(an["boundary"]),
            "mean_squares": {k: mp.nstr(v, STORE_DIGITS) if not isinstance(v, int) else v
                             for k, v in an["mean_squares"].items()},
            "agreement_digits": agree,
            "min_agreement": min(agree.values()),
        }
        if an["boundary"] != bool(held):
            raise RuntimeError(f"{case.name}: the ANOVA path says boundary={an['boundary']}, "
                               f"Newton held {held_names}")
    return entry
