"""Grading an adapter from Python (tests, notebooks, the pytest plug-in).

:func:`grade` runs the suite for one adapter exactly as ``lmm-validate run
--plugin`` does -- fits, audit, grading against the certified values, gate
-- and returns the :class:`~validation.suite.RunOutcome`.
:func:`failures` turns it into ``{case: [reasons]}`` for an ``assert``.
"""

from __future__ import annotations

from collections.abc import Callable

from .cases import select
from .suite import RunOutcome, run

__all__ = ["grade", "failures", "spec_of"]


def spec_of(adapter: str | Callable) -> str:
    """``package.module:function`` for an adapter given as a string or a function."""
    if isinstance(adapter, str):
        return adapter
    mod, name = getattr(adapter, "__module__", None), getattr(adapter, "__qualname__", None)
    if not mod or not name or "<" in name:
        raise TypeError(f"adapter {adapter!r} must be a module-level function "
                        "(or 'package.module:function'), so worker processes can import it")
    return f"{mod}:{name}"


def grade(adapter: str | Callable, cases: list[str] | None = None, jobs: int = 0,
          timeout: float = 120.0, label: str | None = None) -> RunOutcome:
    """Run the suite on ``adapter`` alone (it is the gated engine).

    ``jobs=0`` fits in this process (no timeout; fastest for a few cases);
    ``jobs>=1`` uses worker processes with ``timeout`` seconds per fit.
    """
    spec = spec_of(adapter)
    if label:
        spec = f"{label}={spec}"
    return run(select(cases), [spec], jobs=jobs, timeout=timeout)


def failures(out: RunOutcome) -> dict[str, list[str]]:
    """{case: reasons} for every gated row that did not pass."""
    return {v.case: v.reasons for v in out.rows if v.gated and v.passed is False}
