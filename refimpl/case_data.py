"""Where each validation case's data comes from: loaders and seeded designs.

Loaders are cached per process (engines run in worker processes) and hand
out a fresh copy on every call, so no caller can change another's data.

Two seeded designs live here because the validation cases, the bench and the
book all use them:

* :func:`subjects_items` -- subjects crossed with items (a psycholinguistics
  design): every subject sees every item once, a covariate ``x`` varies from
  trial to trial, and intercepts and slopes vary by subject and by item.
* :func:`schools` -- pupils in classrooms in schools: classrooms are nested
  in schools, and their labels (``c1``..``c5``) repeat from school to school,
  as in real data, so the nesting must be written ``(1 | school/classroom)``.

Pure numpy/pandas.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = ["dataset_loader", "preset_loader", "design_loader", "generated_loader",
           "subjects_items", "schools", "GENERATORS"]


def subjects_items(n_subjects: int = 30, n_items: int = 20, seed: int = 20241101) -> pd.DataFrame:
    """Subjects x items, one trial per pair: ``y ~ x + (x || subj) + (x || item)``.

    Standard deviations: by-subject intercept 1.0 and slope 0.5, by-item
    intercept 0.7 and slope 0.3, residual 1.0; fixed effects (1.0, 0.5).
    """
    rng = np.random.default_rng(seed)
    subj = np.repeat(np.arange(n_subjects), n_items)
    item = np.tile(np.arange(n_items), n_subjects)
    x = rng.standard_normal(subj.size)
    u, v = rng.normal(0, 1.0, n_subjects), rng.normal(0, 0.5, n_subjects)
    w, z = rng.normal(0, 0.7, n_items), rng.normal(0, 0.3, n_items)
    e = rng.normal(0, 1.0, subj.size)
    y = 1.0 + 0.5 * x + u[subj] + v[subj] * x + w[item] + z[item] * x + e
    return pd.DataFrame({"y": y, "x": x,
                         "subj": [f"s{i:03d}" for i in subj],
                         "item": [f"i{i:03d}" for i in item]})


def schools(n_schools: int = 1000, n_classrooms: int = 5, n_pupils: int = 10,
            seed: int = 20241102) -> pd.DataFrame:
    """Pupils in classrooms in schools: ``y ~ x + (1 | school/classroom)``.

    Standard deviations: school 1.0, classroom 0.5, residual 1.0; fixed
    effects (1.0, 0.3).  Rows: ``n_schools * n_classrooms * n_pupils``.
    """
    rng = np.random.default_rng(seed)
    n_rooms = n_schools * n_classrooms
    school = np.repeat(np.arange(n_schools), n_classrooms * n_pupils)
    room = np.repeat(np.arange(n_rooms), n_pupils)  # global classroom index
    x = rng.standard_normal(school.size)
    u = rng.normal(0, 1.0, n_schools)
    v = rng.normal(0, 0.5, n_rooms)
    y = 1.0 + 0.3 * x + u[school] + v[room] + rng.normal(0, 1.0, school.size)
    width = len(str(n_schools - 1))
    labels = np.array([f"s{i:0{width}d}" for i in range(n_schools)], dtype=object)
    rooms = np.array([f"c{j + 1}" for j in range(n_classrooms)], dtype=object)
    return pd.DataFrame({"y": y, "x": x, "school": labels[school],
                         "classroom": rooms[room % n_classrooms]})


#: name -> generator (called with its defaults by the validation cases).
GENERATORS: dict[str, Callable[..., pd.DataFrame]] = {
    "subjects_items": subjects_items,
    "schools_1e3": schools,
}


@functools.lru_cache(maxsize=None)
def _load_dataset(name: str) -> pd.DataFrame:
    from . import datasets

    return datasets.load(name)


@functools.lru_cache(maxsize=None)
def _load_preset(name: str, seed: int):
    from . import simulate

    return simulate.preset(name, seed)


@functools.lru_cache(maxsize=None)
def _load_design(name: str) -> pd.DataFrame:
    from certified import designs  # the seeded CSVs of refimpl/data/certified/

    return designs.load(name)


@functools.lru_cache(maxsize=None)
def _load_generated(name: str) -> pd.DataFrame:
    return GENERATORS[name]()


def _copying(fn, label: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        return fn().copy()
    load.__qualname__ = label
    return load


def dataset_loader(name: str) -> Callable[[], pd.DataFrame]:
    """A loader for one of the real data sets in ``refimpl/data/``."""
    return _copying(lambda: _load_dataset(name), f"dataset_loader({name!r})")


def preset_loader(name: str, seed: int) -> Callable[[], pd.DataFrame]:
    """A loader for a ``refimpl.simulate`` preset (data only; the spec is separate)."""
    return _copying(lambda: _load_preset(name, seed).data, f"preset_loader({name!r}, {seed})")


def design_loader(name: str) -> Callable[[], pd.DataFrame]:
    """A loader for a seeded data set of ``certified.designs`` (``refimpl/data/certified/``)."""
    return _copying(lambda: _load_design(name), f"design_loader({name!r})")


def generated_loader(name: str) -> Callable[[], pd.DataFrame]:
    """A loader for one of :data:`GENERATORS`."""
    return _copying(lambda: _load_generated(name), f"generated_loader({name!r})")


def preset_spec(name: str, seed: int) -> Callable[[], dict]:
    def spec() -> dict:
        return dict(_load_preset(name, seed).spec)
    return spec
