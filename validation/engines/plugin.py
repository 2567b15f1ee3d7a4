"""User adapters: any function ``f(case) -> EngineResult | dict``.

Named on the command line as ``package.module:function`` (the engine is then
called by that string) or ``label=package.module:function`` (called
``label``).  The contract is in ``validation/CONTRACT.md``; the short version:
return a dict with ``fe_params``, ``cov_re``, ``vcomp``, ``scale``, ``llf`` (and
optionally ``bse_fe``, ``converged``, ``random_effects``, ``warnings``) using
statsmodels' names and units.  Raising, hanging past the timeout or returning
NaN turns that one row into a failed row; the run goes on.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable

from ..cases import Case
from ..record import EngineResult, from_any


def parse(spec: str) -> tuple[str, str]:
    """(engine name, 'module:function') from ``[label=]module:function``."""
    label, _, target = spec.rpartition("=")
    target = target.strip()
    if ":" not in target:
        raise ValueError(f"plug-in {spec!r} must look like package.module:function")
    return (label.strip() or target), target


def load_adapter(target: str) -> Callable[[Case], object]:
    """Import ``package.module:function`` and return the function."""
    mod_name, _, attr = target.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ImportError(f"cannot import plug-in module {mod_name!r} ({exc}); is it "
                          "installed or on PYTHONPATH?") from None
    fn = mod
    for part in attr.split("."):
        try:
            fn = getattr(fn, part)
        except AttributeError:
            raise AttributeError(f"plug-in module {mod_name!r} has no {attr!r}") from None
    if not callable(fn):
        raise TypeError(f"plug-in {target!r} is not callable")
    return fn


class AdapterCase:
    """The case an adapter receives: the registry's case, with typed data.

    ``data()`` returns a fresh DataFrame in which every *factor column* --
    the ``groups`` column and every column named in ``C(...)`` of
    ``formula`` or ``vc_formula`` (:func:`factor_columns`) -- holds ``str``
    (pandas ``object`` dtype), whatever dtype the registry stores it in
    (``crossed`` and ``sim_vc_slope`` store theirs as int64).  Every other
    column is float64 or int64 as stored.  ``boundary`` is true when the
    registry or the certified values put the optimum on the boundary.
    Everything else is the case's (``name``, ``spec``, ``reml``, ``lme4()`` ...).
    """

    def __init__(self, case: Case):
        self._case = case

    def __getattr__(self, attr):
        return getattr(self._case, attr)

    @property
    def boundary(self) -> bool:
        """The optimum is on the boundary: the registry says so, or the certified
        values do (a zero variance or a singular covariance matrix)."""
        if self._case.boundary:
            return True
        try:
            from certified import store

            entry = store.load(self._case.name)
        except Exception:  # noqa: BLE001 -- no certified values: the registry decides
            return False
        return bool(entry and entry.get("boundary"))

    def factor_columns(self) -> list[str]:
        from refimpl.lme4_formula import factor_columns

        return sorted(factor_columns(self._case.spec))

    def data(self):
        df = self._case.data()
        for c in self.factor_columns():
            if c in df.columns and df[c].dtype != object:
                df[c] = df[c].astype(str).astype(object)
        return df

    def __repr__(self) -> str:
        return f"<case {self._case.name}>"


class PluginEngine:
    kind = "plugin"

    def __init__(self, spec: str, kind: str = "plugin"):
        self.name, self.target = parse(spec)
        self.spec = spec
        self.kind = kind

    def fit(self, case: Case) -> EngineResult:
        import warnings

        fn = load_adapter(self.target)
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:   # into the row, not the terminal
            warnings.simplefilter("always")
            out = fn(AdapterCase(case))
        elapsed = time.perf_counter() - t0
        res = from_any(out, self.name, case.name)
        if res.status == "ok":
            res.warnings += list(dict.fromkeys(f"{w.category.__name__}: {w.message}"
                                               for w in caught))
        if res.time_s is None:
            res.time_s = elapsed
        res.extra.setdefault("adapter", self.target)
        return res
