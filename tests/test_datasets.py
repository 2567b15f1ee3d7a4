"""refimpl.datasets: checksums, types, names, and agreement with R."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from refimpl import datasets

ROOT = Path(__file__).resolve().parent.parent
CANONICAL = ["dietox", "sleepstudy", "Dyestuff", "Dyestuff2", "Pastes", "Penicillin",
             "InstEval"]
SHAPES = {"dietox": (861, 8), "sleepstudy": (180, 3), "Dyestuff": (30, 2),
          "Dyestuff2": (30, 2), "Pastes": (60, 4), "Penicillin": (144, 3),
          "InstEval": (73421, 7)}


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A private copy of data/ that load() reads instead of the real one."""
    for f in (ROOT / "refimpl" / "data").iterdir():
        if f.suffix in {".csv", ".json"}:
            shutil.copy(f, tmp_path / f.name)
    monkeypatch.setenv("LMM_DATA_DIR", str(tmp_path))
    return tmp_path


def test_available_lists_the_canonical_names():
    assert datasets.available() == CANONICAL


@pytest.mark.parametrize("name", CANONICAL)
def test_load_shape_and_checksum(name):
    df = datasets.load(name)
    assert df.shape == SHAPES[name]
    entry = datasets.info(name)
    assert hashlib.sha256(datasets.path(name).read_bytes()).hexdigest() == entry["sha256"]
    assert list(df.columns) == [c["name"] for c in entry["columns"]]


def test_types_follow_r():
    d = datasets.load("dietox")
    # R factors -> str labels; R integer -> int64; R double -> float64 with NaN for NA.
    assert d["Pig"].map(type).eq(str).all() and d["Pig"].iloc[0] == "4601"
    assert d["Litter"].map(type).eq(str).all()
    assert d["Evit"].iloc[0] == "Evit000" and d["Cu"].iloc[0] == "Cu000"
    assert d["Time"].dtype == np.int64
    assert d["Weight"].dtype == np.float64 and d["Start"].dtype == np.float64
    assert d["Feed"].isna().sum() == 72
    assert d.groupby("Pig").ngroups == 72
    s = datasets.load("sleepstudy")
    assert s["Days"].dtype == np.float64 and s["Subject"].iloc[0] == "308"
    p = datasets.load("Pastes")
    assert p["sample"].iloc[0] == "A:a"
    assert datasets.info("Pastes")["columns"][2]["levels"] == ["a", "b", "c"]


def test_floats_are_full_precision():
    # Weight was recorded in single precision upstream; the CSV keeps every bit
    # of the double R holds, so the value is not the rounded 27.6.
    w = datasets.load("dietox")["Weight"].iloc[1]
    assert w == 27.59999 and w != 27.6


def test_names_are_case_insensitive():
    pd.testing.assert_frame_equal(datasets.load("dyestuff"), datasets.load("Dyestuff"))
    assert datasets.path("DIETOX").name == "dietox.csv"


def test_unknown_name_lists_available():
    with pytest.raises(ValueError, match="unknown data set 'nope'") as exc:
        datasets.load("nope")
    for name in CANONICAL:
        assert name in str(exc.value)


def test_corrupted_copy_fails_naming_file_and_hashes(data_copy):
    target = data_copy / "Dyestuff.csv"
    raw = target.read_bytes()
    expected = hashlib.sha256(raw).hexdigest()
    target.write_bytes(raw.replace(b"1545.0", b"1545.1", 1))
    actual = hashlib.sha256(target.read_bytes()).hexdigest()
    assert actual != expected
    with pytest.raises(datasets.DataChecksumError) as exc:
        datasets.load("Dyestuff")
    msg = str(exc.value)
    assert str(target) in msg and expected in msg and actual in msg
    assert datasets.REGENERATE in msg
    assert isinstance(exc.value, ValueError)
    # The other data sets in the same copy still load.
    assert datasets.load("Dyestuff2").shape == (30, 2)


def test_manifest_edit_is_detected(data_copy):
    m = json.loads((data_copy / "MANIFEST.json").read_text())
    m["datasets"]["Pastes"]["sha256"] = "0" * 64
    (data_copy / "MANIFEST.json").write_text(json.dumps(m))
    with pytest.raises(datasets.DataChecksumError, match="0" * 64):
        datasets.load("Pastes")


def test_data_readme_lists_current_checksums():
    readme = (ROOT / "refimpl" / "data" / "README.md").read_text()
    for name in CANONICAL:
        assert datasets.info(name)["sha256"] in readme, f"refimpl/data/README.md: stale hash for {name}"


def test_refimpl_imports_neither_statsmodels_nor_rpy2():
    code = ("import sys, refimpl.datasets, refimpl.simulate; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('statsmodels', 'rpy2')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.r
def test_csvs_match_r_byte_for_byte(r):
    """Re-export from R in memory; the committed CSVs must be identical."""
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "export_r_datasets.py"), "--check"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_crossed_data_sets_have_their_levels():
    """Penicillin: 24 plates x 6 samples, fully crossed; InstEval: lme4's level counts."""
    pen = datasets.load("Penicillin")
    assert pen.groupby(["plate", "sample"]).size().eq(1).all()
    assert (pen.plate.nunique(), pen["sample"].nunique()) == (24, 6)
    ie = datasets.load("InstEval")
    assert {c: ie[c].nunique() for c in ("s", "d", "dept")} == {"s": 2972, "d": 1128, "dept": 14}
    assert ie.y.dtype == "int64" and ie.studage.dtype == object  # ordered factor -> labels
    assert datasets.info("InstEval")["columns"][2]["r_class"] == "ordered"
