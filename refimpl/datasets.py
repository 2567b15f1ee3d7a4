"""The real data sets the project fits, loaded exactly as R holds them.

The CSV files in ``refimpl/data/`` were exported from R by ``scripts/export_r_datasets.py``
(provenance, licences and checksums: ``refimpl/data/README.md`` and
``refimpl/data/MANIFEST.json``).  This module reads them back:

* **Checked on every load.**  The file's SHA-256 is compared with the manifest
  before it is parsed (the bytes that are hashed are the bytes that are
  parsed).  A mismatch raises :class:`DataChecksumError`, naming the file, both
  hashes and the command that regenerates the data.
* **Bit-identical numbers.**  Doubles were written as shortest round-trip
  decimals and are parsed with ``float_precision="round_trip"``, so every value
  is the double R had.
* **Types from the manifest, not guessed.**  R factors load as ``str`` columns
  holding R's level labels (so ``dietox.Pig`` is ``"4601"``, not ``4601``, and
  ``dietox.Litter`` is ``"1"``); R integer columns load as ``int64`` (``Int64``
  if they had missing values); R doubles load as ``float64`` with ``NA`` as
  NaN (``dietox.Feed`` has 72).  The factor level order is in the manifest
  (:func:`info`).

Canonical names: ``"dietox"``, ``"sleepstudy"``, ``"Dyestuff"``,
``"Dyestuff2"``, ``"Pastes"``, ``"Penicillin"``,
``"InstEval"``; lookup ignores case (``load("dyestuff")``).

Pure pandas/numpy: nothing here imports statsmodels or rpy2.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pandas as pd

__all__ = ["DataChecksumError", "DATA_DIR", "REGENERATE", "available", "info", "load", "path"]

#: Directory holding the CSVs and MANIFEST.json.  The environment variable
#: ``LMM_DATA_DIR`` overrides it (tests use this to work on a copy).
DATA_DIR = Path(__file__).resolve().parent / "data"

#: The command that regenerates the CSVs from R.
REGENERATE = ".venv/bin/python scripts/export_r_datasets.py"


class DataChecksumError(ValueError):
    """A data file's SHA-256 differs from the one recorded in MANIFEST.json."""


def _data_dir() -> Path:
    return Path(os.environ.get("LMM_DATA_DIR", DATA_DIR))


def _manifest() -> dict:
    mpath = _data_dir() / "MANIFEST.json"
    try:
        return json.loads(mpath.read_text(encoding="utf-8"))["datasets"]
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{mpath} is missing; regenerate the data with `{REGENERATE}`"
        ) from None


def available() -> list[str]:
    """Canonical names of the data sets listed in the manifest."""
    return list(_manifest())


def _canonical(name: str) -> str:
    entries = _manifest()
    if name in entries:
        return name
    folded = {k.lower(): k for k in entries}
    try:
        return folded[str(name).lower()]
    except KeyError:
        raise ValueError(
            f"unknown data set {name!r}; available: {', '.join(entries)}"
        ) from None


def info(name: str) -> dict:
    """The manifest entry of a data set (source, licence, columns, levels...)."""
    return dict(_manifest()[_canonical(name)])


def path(name: str) -> Path:
    """Path of the data set's CSV file (not checked; :func:`load` checks)."""
    return _data_dir() / _manifest()[_canonical(name)]["file"]


def load(name: str) -> pd.DataFrame:
    """Load a data set after verifying its SHA-256 against MANIFEST.json."""
    canon = _canonical(name)
    entry = _manifest()[canon]
    fpath = _data_dir() / entry["file"]
    raw = fpath.read_bytes()
    actual = hashlib.sha256(raw).hexdigest()
    if actual != entry["sha256"]:
        raise DataChecksumError(
            f"{fpath}: SHA-256 mismatch for data set {canon!r}: expected "
            f"{entry['sha256']} (refimpl/data/MANIFEST.json), got {actual}. The file was "
            f"modified or corrupted; restore it from git or regenerate all data "
            f"from R with `{REGENERATE}`."
        )
    cols = entry["columns"]
    str_cols = [c["name"] for c in cols if c["dtype"] == "str"]
    df = pd.read_csv(
        io.BytesIO(raw),
        dtype={c: str for c in str_cols},
        keep_default_na=False,
        na_values={c["name"]: [""] for c in cols if c["dtype"] != "str"},
        float_precision="round_trip",
    )
    for c in cols:
        if c["dtype"] != "str":
            df[c["name"]] = df[c["name"]].astype(c["dtype"])
        elif c.get("n_missing"):
            df[c["name"]] = df[c["name"]].replace("", None)
    if list(df.columns) != [c["name"] for c in cols] or len(df) != entry["n_rows"]:
        raise ValueError(
            f"{fpath}: parsed shape/columns differ from refimpl/data/MANIFEST.json; "
            f"regenerate with `{REGENERATE}`"
        )
    return df
