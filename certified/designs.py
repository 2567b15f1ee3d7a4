"""Balanced one-way data sets with hard numerics, generated from fixed seeds.

* ``oneway_offset`` -- 10 groups of 6 rows, between-group and residual
  standard deviations 2 and 1, around a constant **1e8**: the sums of squares
  a naive program forms (y'y ~ 6e17) cancel to O(60), so a program that does
  not centre its data loses about 16 digits before it starts.
* ``oneway_tiny`` -- 20 groups of 5 rows built so that the REML estimate of
  the variance ratio sigma_a^2 / sigma_e^2 is **1e-6**: interior, but an
  optimizer has to resolve a square-root parameter of 1e-3 next to the
  boundary.  The group means are set so that MSA = MSE (1 + m 1e-6)
  exactly (up to rounding to doubles); the ML estimate is then on the
  boundary (SSA / a < MSE), a second hard case from the same data.

The CSV files in ``refimpl/data/certified/`` are the committed data (written with
``repr`` floats, read back bit for bit); :func:`generate` rebuilds them from
the seed, and ``tests/test_certified.py`` checks that both agree.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["DESIGNS", "generate", "load", "path", "write"]

DATA_DIR = Path(__file__).resolve().parent.parent / "refimpl" / "data" / "certified"

#: name -> (seed, description)
DESIGNS = {
    "oneway_offset": (20240901, "balanced one-way, 10 x 6, y around 1e8"),
    "oneway_tiny": (20240902, "balanced one-way, 20 x 5, REML variance ratio 1e-6"),
}


def _labels(a: int, m: int) -> np.ndarray:
    return np.repeat(np.array([f"g{i:02d}" for i in range(a)], dtype=object), m)


def generate(name: str) -> pd.DataFrame:
    """The data set ``name`` rebuilt from its seed (columns ``y`` and ``g``)."""
    seed = DESIGNS[name][0]
    rng = np.random.default_rng(seed)
    if name == "oneway_offset":
        a, m = 10, 6
        y = 1e8 + np.repeat(2.0 * rng.standard_normal(a), m) + rng.standard_normal(a * m)
    elif name == "oneway_tiny":
        a, m, ratio = 20, 5, 1e-6
        e = rng.standard_normal((a, m))
        d = e - e.mean(axis=1, keepdims=True)               # within-group deviations
        mse = (d ** 2).sum() / (a * (m - 1))
        z = rng.standard_normal(a)
        z -= z.mean()
        msa = mse * (1.0 + m * ratio)
        c = np.sqrt(msa * (a - 1) / (m * (z ** 2).sum()))   # SSA = m c^2 sum z^2
        y = (10.0 + c * z[:, None] + d).ravel()
    else:
        raise KeyError(f"unknown design {name!r}; choose from {', '.join(DESIGNS)}")
    return pd.DataFrame({"y": y, "g": _labels(a, m)})


def path(name: str) -> Path:
    return DATA_DIR / f"{name}.csv"


def _csv_text(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, lineterminator="\n", float_format=None)


def write(name: str) -> Path:
    """Write ``refimpl/data/certified/<name>.csv`` from :func:`generate`."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    p = path(name)
    p.write_text(_csv_text(generate(name)), encoding="utf-8")
    return p


def load(name: str) -> pd.DataFrame:
    """The committed data set (bit-identical doubles)."""
    if name not in DESIGNS:
        raise KeyError(f"unknown design {name!r}; choose from {', '.join(DESIGNS)}")
    text = path(name).read_text(encoding="utf-8")
    df = pd.read_csv(io.StringIO(text), float_precision="round_trip", dtype={"g": str})
    df["g"] = df["g"].astype(object)
    return df


def file_sha256(name: str) -> str:
    return hashlib.sha256(path(name).read_bytes()).hexdigest()
