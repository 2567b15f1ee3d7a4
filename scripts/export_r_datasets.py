"""Export the R data sets the project uses to CSV, with a manifest.

Run from the repository root (needs R with geepack and lme4, and rpy2)::

    .venv/bin/python scripts/export_r_datasets.py          # write CSVs + MANIFEST.json
    .venv/bin/python scripts/export_r_datasets.py --check  # only compare, write nothing

What it guarantees, so that an auditor can trust every digit downstream:

* **No rounding.**  Doubles are taken from R as IEEE-754 values (not via R's
  printing) and written with Python's ``repr``, the shortest decimal string
  that reads back to the same double.  After writing, every file is read back
  with :func:`refimpl.datasets.load` and compared with R's values bit for bit;
  the script fails if a single bit differs.
* **Factors stay labels.**  R factor columns are written as their level labels
  (strings); the level order is recorded in the manifest.  R integer columns
  stay integers; R double columns stay doubles even when they hold whole
  numbers (``sleepstudy$Days`` is ``0.0, 1.0, ...``).
* **Missing values** (``NA``) are written as empty fields.
* **Safe names.**  A column whose name is a Python keyword, is not an
  identifier, or clashes with a patsy built-in (``C``, ``I``, ``Q``) is renamed
  by appending ``_``; renames are recorded in the manifest.  (None of the
  current data sets needs one.)
* **Provenance.**  ``refimpl/data/MANIFEST.json`` records, per data set, the file, its
  SHA-256, shape, columns, the R package and version it came from, R's version,
  the original source and the licence.  The export date of an entry is kept
  when its CSV comes out byte-identical to the one already recorded.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import hashlib
import io
import json
import keyword
import math
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from validation import rbridge  # noqa: E402

DATA_DIR = ROOT / "refimpl" / "data"
MANIFEST = DATA_DIR / "MANIFEST.json"

#: Names patsy's formula namespace defines; a column with one of these names
#: would be shadowed inside a formula (``C(x)``, ``I(x)``, ``Q("x")``).
PATSY_RESERVED = {"C", "I", "Q"}

DAVIES_GOLDSMITH = (
    "O.L. Davies and P.L. Goldsmith (eds), Statistical Methods in Research and "
    "Production, 4th ed., Oliver and Boyd (1972)"
)

#: What to export.  ``source`` is the original study, as cited by the R package's
#: own help page; ``licence`` is the licence under which the package ships it.
DATASETS: list[dict] = [
    {
        "name": "dietox",
        "r_package": "geepack",
        "title": "Growth curves of pigs in a 3x3 factorial experiment",
        "source": (
            "Lauridsen, C., Hojsgaard, S., Sorensen, M.T. (1999). Influence of "
            "Dietary Rapeseed Oil, Vitamin E, and Copper on Performance and "
            "Antioxidant and Oxidative Status of Pigs. J. Anim. Sci. 77:906-916."
        ),
    },
    {
        "name": "sleepstudy",
        "r_package": "lme4",
        "title": "Reaction times in a sleep deprivation study",
        "source": (
            "Belenky, G., Wesensten, N.J., Thorne, D.R., Thomas, M.L., Sing, H.C., "
            "Redmond, D.P., Russo, M.B., Balkin, T.J. (2003). Patterns of "
            "performance degradation and restoration during sleep restriction and "
            "subsequent recovery: a sleep dose-response study. Journal of Sleep "
            "Research 12, 1-12."
        ),
    },
    {
        "name": "Dyestuff",
        "r_package": "lme4",
        "title": "Yield of dyestuff by batch",
        "source": DAVIES_GOLDSMITH + ", section 6.4.",
    },
    {
        "name": "Dyestuff2",
        "r_package": "lme4",
        "title": "Yield of dyestuff by batch (constructed; residual variance large)",
        "source": (
            "G.E.P. Box and G.C. Tiao, Bayesian Inference in Statistical Analysis, "
            "Addison-Wesley (1973), section 5.1.2 (constructed data)."
        ),
    },
    {
        "name": "Pastes",
        "r_package": "lme4",
        "title": "Paste strength by batch and cask",
        "source": DAVIES_GOLDSMITH + ", section 6.5.",
    },
    {
        "name": "Penicillin",
        "r_package": "lme4",
        "title": "Penicillin potency: 24 plates crossed with 6 samples",
        "source": DAVIES_GOLDSMITH + ", section 6.6.",
    },
    {
        "name": "InstEval",
        "r_package": "lme4",
        "title": "Lecture evaluations at ETH Zurich: students crossed with instructors",
        "source": (
            "University lecture evaluations by students at ETH Zurich, anonymised; "
            "distributed with lme4 (help page ?InstEval). Used by Bates, Maechler, "
            "Bolker and Walker (2015), Fitting Linear Mixed-Effects Models Using lme4, "
            "J. Stat. Softw. 67(1)."
        ),
    },
]


def safe_name(name: str) -> str:
    """A column name usable in Python and in a patsy formula (see module doc)."""
    new = re.sub(r"\W", "_", name)
    if not new or new[0].isdigit():
        new = "x" + new
    while keyword.iskeyword(new) or new in PATSY_RESERVED:
        new += "_"
    return new


def fetch(ro, name: str, package: str) -> list[dict]:
    """The columns of an R data set, as exact numpy arrays plus their R types."""
    get = ro.r(
        "function(name, pkg) { e <- new.env(); "
        "utils::data(list = name, package = pkg, envir = e); "
        "as.data.frame(get(name, envir = e)) }"
    )
    df = get(name, package)
    cols = []
    for r_name in list(ro.r["names"](df)):
        col = df.rx2(r_name)
        na = np.asarray(ro.r["is.na"](col), dtype=bool)
        r_class = str(ro.r["class"](col)[0])
        info = {"r_name": str(r_name), "r_class": r_class, "na": na}
        if r_class in ("factor", "ordered"):  # ordered: class c("ordered", "factor")
            levels = [str(v) for v in ro.r["levels"](col)]
            codes = np.asarray(ro.r["as.integer"](col))
            info.update(dtype="str", levels=levels,
                        values=[None if m else levels[c - 1] for c, m in zip(codes, na)])
        elif r_class == "character":
            info.update(dtype="str", values=[None if m else str(v) for v, m in zip(col, na)])
        elif r_class == "integer":
            raw = np.asarray(col, dtype=np.int64)
            info.update(dtype="Int64" if na.any() else "int64",
                        values=[None if m else int(v) for v, m in zip(raw, na)])
        elif r_class == "numeric":
            raw = np.array(col, dtype=np.float64)
            raw[na] = np.nan
            info.update(dtype="float64", values=raw)
        elif r_class == "logical":
            info.update(dtype="bool", values=[None if m else bool(v) for v, m in zip(col, na)])
        else:
            raise TypeError(f"{package}::{name}${r_name}: unsupported R class {r_class!r}")
        cols.append(info)
    return cols


def _field(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        return "" if math.isnan(v) else repr(float(v))
    return str(v)


def to_csv_bytes(cols: list[dict]) -> bytes:
    """The CSV text: header of safe names, then rows; LF line ends, UTF-8."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c["name"] for c in cols])
    n = len(cols[0]["values"]) if cols else 0
    for i in range(n):
        w.writerow([_field(c["values"][i]) for c in cols])
    return buf.getvalue().encode("utf-8")


def same_bits(a, b) -> bool:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(a.view(np.uint64) == b.view(np.uint64)))


def verify_roundtrip(name: str, cols: list[dict]) -> None:
    """Read the written CSV back through refimpl.datasets and compare with R."""
    from refimpl import datasets

    df = datasets.load(name)
    assert list(df.columns) == [c["name"] for c in cols], f"{name}: column names differ"
    for c in cols:
        got = df[c["name"]]
        if c["dtype"] == "float64":
            exp = np.asarray(c["values"], dtype=np.float64)
            # NaN payloads differ between R's NA and numpy's NaN; compare them apart.
            ok = np.array_equal(np.isnan(got), np.isnan(exp)) and same_bits(
                got[~np.isnan(exp)], exp[~np.isnan(exp)])
        else:
            ok = [None if (v is None or (isinstance(v, float) and math.isnan(v))) else v
                  for v in got.astype(object).where(got.notna(), None)] == list(c["values"])
        if not ok:
            raise SystemExit(f"{name}: column {c['name']} does not read back identical to R")


def dumps(obj) -> str:
    """JSON with 2-space indent, but lists of scalars (factor levels) on one line."""
    text = json.dumps(obj, indent=2, ensure_ascii=False)
    return re.sub(
        r"\[\s*\n\s*((?:\"[^\"\n]*\"|[-\w.]+)(?:,\s*\n\s*(?:\"[^\"\n]*\"|[-\w.]+))*)\s*\n\s*\]",
        lambda m: "[" + re.sub(r",\s*\n\s*", ", ", m.group(1)) + "]",
        text,
    ) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="compare R's data with the committed CSVs; write nothing")
    args = ap.parse_args(argv)

    ro = rbridge.require_r(sorted({d["r_package"] for d in DATASETS}))
    old = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {"datasets": {}}
    today = _dt.date.today().isoformat()
    r_version = rbridge.r_version()
    manifest = {
        "format": 1,
        "generated_by": "scripts/export_r_datasets.py",
        "regenerate": ".venv/bin/python scripts/export_r_datasets.py",
        "r_version": r_version,
        "float_format": "Python repr (shortest round-trip); read with "
                        "float_precision='round_trip' for bit-identical values",
        "datasets": {},
    }
    stale = []
    for spec in DATASETS:
        name, pkg = spec["name"], spec["r_package"]
        cols = fetch(ro, name, pkg)
        renames = {}
        for c in cols:
            c["name"] = safe_name(c["r_name"])
            if c["name"] != c["r_name"]:
                renames[c["r_name"]] = c["name"]
        data = to_csv_bytes(cols)
        sha = hashlib.sha256(data).hexdigest()
        path = DATA_DIR / f"{name}.csv"
        prev = old.get("datasets", {}).get(name, {})
        if args.check:
            current = path.read_bytes() if path.exists() else b""
            if current != data:
                stale.append(name)
            continue
        path.write_bytes(data)
        pkg_version = rbridge.package_version(pkg)
        licence = str(ro.r["packageDescription"](pkg).rx2("License")[0])
        manifest["datasets"][name] = {
            "name": name,
            "file": path.name,
            "sha256": sha,
            "n_rows": len(cols[0]["values"]),
            "n_cols": len(cols),
            "title": spec["title"],
            "columns": [
                {k: v for k, v in {
                    "name": c["name"],
                    "r_name": c["r_name"],
                    "dtype": c["dtype"],
                    "r_class": c["r_class"],
                    "n_missing": int(c["na"].sum()),
                    "levels": c.get("levels"),
                }.items() if v is not None}
                for c in cols
            ],
            "renames": renames,
            "r_package": pkg,
            "r_package_version": pkg_version,
            "r_object": f"{pkg}::{name}",
            "r_version": r_version,
            "source": spec["source"],
            "licence": f"distributed in the R package {pkg} {pkg_version} under {licence}",
            "exported_on": prev.get("exported_on", today) if prev.get("sha256") == sha
            else today,
        }
        # Write the manifest as we go so verify_roundtrip sees the new checksum.
        MANIFEST.write_text(dumps({**manifest, "datasets": {
            **old.get("datasets", {}), **manifest["datasets"]}}))
        verify_roundtrip(name, cols)
        print(f"{name:<10} {len(cols[0]['values']):>4} rows  sha256 {sha}  "
              f"({pkg} {pkg_version})")
    if args.check:
        if stale:
            print("out of date with R: " + ", ".join(stale) +
                  "; regenerate with `.venv/bin/python scripts/export_r_datasets.py`")
            return 1
        print("all CSVs match R byte for byte")
        return 0
    MANIFEST.write_text(dumps(manifest))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
