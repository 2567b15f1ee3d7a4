"""Validation cases: the registry lives in :mod:`refimpl.cases`.

refimpl's tools, the validation suite and ``certified/`` read one registry;
this module re-exports it under the names the suite has always used
(``CASES`` here is :data:`refimpl.cases.REGISTRY`: case names like
``dietox_slope/reml``).
"""

from __future__ import annotations

from refimpl.case_data import dataset_loader, design_loader, preset_loader, preset_spec
from refimpl.cases import (HEAVY_ENV, REGISTRY, SIM_SEED, Case, Lme4Terms, data_sha256,
                           derive_lme4, select)

CASES = REGISTRY

__all__ = ["Case", "CASES", "select", "derive_lme4", "data_sha256", "Lme4Terms", "SIM_SEED",
           "HEAVY_ENV", "dataset_loader", "design_loader", "preset_loader", "preset_spec"]
