"""The certified store: one JSON file per case in ``refimpl/data/certified/``.

``refimpl/data/certified/<model>.<reml|ml>.json`` (e.g. ``dietox_slope.reml.json``)
holds the entry :func:`certified.certify.certify` returns: values as decimal
strings (34 significant digits of the dps-80 run), ``digits`` per quantity
(how many of them are certified, at most 30), the method, the precisions,
the Newton history, the KKT checks of boundary cases, the ANOVA second path
where it applies, the SHA-256 of the data (``validation.cases.data_sha256``),
the generator command and the creation date.

The store changes only through ``python -m certified build``, which refuses
to overwrite an existing file without ``--force``; ``python -m certified
check`` re-verifies every file without rebuilding it (:func:`check_entry`).
"""

from __future__ import annotations

import json
from pathlib import Path

from mpmath import mp

__all__ = ["STORE_DIR", "path_for", "load", "load_all", "save", "RefusedOverwrite",
           "check_entry", "flat_values", "DEFAULT_CASES"]

STORE_DIR = Path(__file__).resolve().parent.parent / "refimpl" / "data" / "certified"

#: The models certified by default (each by REML and by ML).
DEFAULT_CASES = [
    "dietox_intercept", "dietox_slope", "sleepstudy_corr", "sleepstudy_uncorr",
    "dyestuff", "dyestuff2", "pastes", "sim_balanced", "sim_unbalanced_singletons",
    "sim_slopes3", "sim_near_singular", "sim_vc_slope", "crossed",
    "oneway_offset", "oneway_tiny", "penicillin",
]


class RefusedOverwrite(RuntimeError):
    """The file exists and --force was not given."""


def path_for(case_name: str, store_dir: Path = STORE_DIR) -> Path:
    model, method = case_name.rsplit("/", 1)
    return Path(store_dir) / f"{model}.{method}.json"


def load(case_name: str, store_dir: Path = STORE_DIR) -> dict | None:
    p = path_for(case_name, store_dir)
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else None


def load_all(store_dir: Path = STORE_DIR) -> dict[str, dict]:
    """case name -> entry, for every certified file in ``store_dir``."""
    out = {}
    for p in sorted(Path(store_dir).glob("*.json")):
        e = json.loads(p.read_text(encoding="utf-8"))
        if isinstance(e, dict) and "case" in e and "values" in e:
            out[e["case"]] = e
    return out


def save(entry: dict, force: bool = False, store_dir: Path = STORE_DIR) -> Path:
    p = path_for(entry["case"], store_dir)
    if p.exists() and not force:
        raise RefusedOverwrite(f"{p} exists; pass --force to recompute and overwrite it")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(entry, indent=1) + "\n", encoding="utf-8")
    return p


def flat_values(entry: dict) -> dict[str, tuple[str, int]]:
    """{"fe[Intercept]": (decimal string, digits), "bse.conditional[..]": ..., "cov_re[a,b]": ...}.

    Quantity names follow validation/compare.py (lower triangle of cov_re).
    """
    v, d = entry["values"], entry["digits"]
    out = {}
    for k in v["fe_params"]:
        out[f"fe[{k}]"] = (v["fe_params"][k], d["fe_params"][k])
    for conv, row in v["bse_fe"].items():
        for k in row:
            out[f"bse.{conv}[{k}]"] = (row[k], d["bse_fe"][conv][k])
    names = list(v["cov_re"])
    for i, a in enumerate(names):
        for b in names[: i + 1]:
            out[f"cov_re[{a},{b}]"] = (v["cov_re"][a][b], d["cov_re"][a][b])
    for k in v["vcomp"]:
        out[f"vcomp[{k}]"] = (v["vcomp"][k], d["vcomp"][k])
    out["scale"] = (v["scale"], d["scale"])
    out["llf"] = (v["llf"], d["llf"])
    return out


def check_entry(case, entry: dict, dps: int = 60) -> list[str]:
    """Problems with a stored entry ([] when it holds up), without rerunning Newton.

    * the case's data still hash to ``data_sha256``;
    * at the stored phi the mpmath profiled log-likelihood is stationary in
      the free coordinates (predicted relative Newton step < 1e-25 at ``dps``
      digits), held coordinates are exactly 0 with a KKT second derivative <= 0;
    * every stored value is reproduced at the stored phi to its claimed digits
      (to ``dps - 8`` digits when that is fewer).

    ``dps = 60`` leaves room for cancellation: on ``oneway_offset`` (y around
    1e8) forming y'V^{-1}y and subtracting loses about 17 digits.
    """
    from refimpl.cases import data_sha256

    from .certify import _flatten, _observed_bse, agreement_digits, held_coordinates
    from .mp_likelihood import MpModel
    from .mp_linalg import lu_solve
    from .newton import gradient_hessian, second_derivative
    from .spec import build_spec

    problems = []
    df = case.data()
    if data_sha256(df) != entry["data_sha256"]:
        return [f"{case.name}: the data hash to {data_sha256(df)[:12]}..., the certified values "
                f"were computed on {entry['data_sha256'][:12]}...: rebuild with "
                f"`python -m certified build --force --cases {case.name}`"]
    spec = build_spec(df, case.spec, case.reml)
    model = MpModel(spec)
    old = mp.dps
    try:
        mp.dps = dps
        phi = [mp.mpf(s) for s in entry["certification"]["phi"]]
        held, names = held_coordinates(phi, spec.k_re, spec.k_vc)
        if names != entry["boundary_parameters"]:
            problems.append(f"{case.name}: held coordinates {names} != stored "
                            f"{entry['boundary_parameters']}")
        free = [i for i in range(spec.n_phi) if i not in held]
        if any(phi[i] != 0 for i in held):
            problems.append(f"{case.name}: held coordinates are not exactly 0")
        if free:
            def f(z):
                y = list(phi)
                for i, v in zip(free, z):
                    y[i] = v
                return model.profiled_loglike(y)
            _, g, H = gradient_hessian(f, [phi[i] for i in free], dps)
            step, _, _ = lu_solve(H, [[v] for v in g])
            rel = max(abs(step[j][0]) / max(1, abs(phi[i])) for j, i in enumerate(free))
            if rel > mp.mpf("1e-25"):
                problems.append(f"{case.name}: not stationary at the stored phi "
                                f"(relative Newton step {mp.nstr(rel, 3)})")
        for i, name in zip(held, names):
            if second_derivative(model.profiled_loglike, phi, i, dps) > 0:
                problems.append(f"{case.name}: KKT fails along {name}")
        est = model.estimates(phi)
        if not held:
            se = _observed_bse(model, phi, free, est["beta"], dps)
            est["bse_fe_observed"] = dict(zip(spec.fe_names, se))
        flat = _flatten(est)
        stored = flat_values(entry)
        for k, v in flat.items():
            q = (k.replace("fe_params[", "fe[").replace("bse_fe.", "bse."))
            s, dg = stored[q]
            if agreement_digits(v, mp.mpf(s)) < min(dg, dps - 8):   # dps digits resolve ~dps - 8
                problems.append(f"{case.name}: {q} recomputed {mp.nstr(v, 20)} vs stored {s} "
                                f"(claimed {dg} digits)")
    finally:
        mp.dps = old
    return problems
