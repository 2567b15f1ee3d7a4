"""A small, quiet bridge to R (lme4, nlme, geepack) through rpy2.

Three jobs, nothing more:

1. **Start R lazily and fail clearly.**  Nothing here imports rpy2 at module
   import time.  :func:`require_r` starts the embedded R on first use and
   loads the R packages asked for.  When R, rpy2 or an R package is missing it
   raises :class:`RUnavailable`, whose message names the missing piece and the
   exact command that installs it -- never an rpy2 traceback.
2. **Move data across.**  :func:`to_r_dataframe` turns a pandas DataFrame into
   an R ``data.frame`` column by column, with no rounding and no guessing:
   float -> double (NaN -> ``NA``), integer -> integer, bool -> logical,
   str/object -> character (``None``/NaN -> ``NA``), pandas Categorical ->
   factor with the same level order.
3. **Keep R's console out of the test log.**  rpy2's default callbacks print
   R's output to stdout and log R's messages as ``R callback write-console``
   warnings.  This module installs its own callbacks once, routes everything R
   writes into a list, and hands that list to the caller: inside
   ``with capture_console() as out:`` the lines are in ``out.lines`` (and
   ``out.warnings`` for R's stderr stream); what R printed while starting is in
   :func:`startup_messages`.  :func:`call` additionally collects R
   ``warning()`` and ``message()`` conditions of one call as strings.

Example::

    from validation import rbridge
    ro = rbridge.require_r(["lme4"])
    res = rbridge.call(
        "function(d) lme4::lmer(Weight ~ Time + (1 | Pig), data = d, REML = FALSE)",
        rbridge.to_r_dataframe(df),
    )
    llf = float(ro.r["logLik"](res.value)[0]); res.warnings  # list of str
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "RUnavailable",
    "RResult",
    "ConsoleCapture",
    "INSTALL_R",
    "INSTALL_RPY2",
    "require_r",
    "r_available",
    "r_version",
    "package_version",
    "to_r_dataframe",
    "capture_console",
    "startup_messages",
    "call",
    "environment_before_r",
]

#: The Debian command that installs R and the R packages the suite uses.
INSTALL_R = "apt-get install --no-install-recommends r-base-core r-cran-lme4"
#: The pip command that installs rpy2 (and the rest of the validation extra).
INSTALL_RPY2 = "pip install -e .[validation]"
#: Debian package that ships each R package we know about.
DEBIAN_PACKAGE = {
    "lme4": "r-cran-lme4",
    "nlme": "r-cran-nlme",
    "geepack": "r-cran-geepack",
    "Matrix": "r-cran-matrix",
}


class RUnavailable(Exception):
    """R, rpy2 or an R package cannot be used; the message says how to fix it."""


@dataclasses.dataclass
class ConsoleCapture:
    """What R wrote to its console while the capture was active.

    The two streams are kept apart: ``output`` holds the chunks R wrote to
    standard output (``print``, ``cat``), ``warnings`` the chunks it wrote to
    its error stream (``message()``, deferred ``warning()`` text, start-up
    notes).  ``lines`` gives both as stripped, non-blank lines.
    """

    output: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        """All non-blank lines, output first then warnings, stripped."""
        text = "".join(self.output) + "\n" + "".join(self.warnings)
        return [ln.strip() for ln in text.splitlines() if ln.strip()]


@dataclasses.dataclass
class RResult:
    """The value of an R call, and what R said while computing it."""

    value: Any
    warnings: list[str]
    messages: list[str]
    console: ConsoleCapture


# --- console routing -------------------------------------------------------

_captures: list[ConsoleCapture] = []
_startup = ConsoleCapture()
# env_changes: what starting R did to os.environ, {name: value before (None: absent)}.
_state: dict[str, Any] = {"ro": None, "loaded": set(), "env_changes": {}}


def _sink() -> ConsoleCapture:
    return _captures[-1] if _captures else _startup


def _write_print(s: str) -> None:
    _sink().output.append(s)


def _write_warnerror(s: str) -> None:
    _sink().warnings.append(s)


def _quiet_message(s: str) -> None:
    _sink().warnings.append(s + "\n")


@contextlib.contextmanager
def capture_console() -> Iterator[ConsoleCapture]:
    """Route everything R writes to its console into the yielded object."""
    cap = ConsoleCapture()
    _captures.append(cap)
    try:
        yield cap
    finally:
        _captures.remove(cap)


def startup_messages() -> list[str]:
    """Lines R wrote outside any :func:`capture_console` (e.g. at start-up)."""
    return _startup.lines


# --- starting R --------------------------------------------------------------


class _SinkHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        _sink().warnings.append(f"rpy2: {record.getMessage()}\n")


@contextlib.contextmanager
def _rpy2_logging_to_sink() -> Iterator[None]:
    """While R starts, send rpy2's own log records (e.g. 'Unable to determine
    R library path') to the capture instead of stderr."""
    log = logging.getLogger("rpy2")
    handler, propagate = _SinkHandler(), log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.propagate = propagate


def _start_r() -> Any:
    """Import rpy2 with our console callbacks in place; return rpy2.robjects."""
    if _state["ro"] is not None:
        return _state["ro"]
    before = dict(os.environ)
    try:
        with _rpy2_logging_to_sink():
            from rpy2.rinterface_lib import callbacks
    except ImportError as exc:
        raise RUnavailable(
            f"rpy2 is not installed in this Python ({exc}). "
            f"Install it with `{INSTALL_RPY2}` (R itself comes from `{INSTALL_R}`)."
        ) from None
    except Exception as exc:  # rpy2 present but cannot find/link R
        raise RUnavailable(
            f"rpy2 is installed but cannot load R ({type(exc).__name__}: {exc}). "
            f"Install R with `{INSTALL_R}`, then reinstall rpy2 with `{INSTALL_RPY2}`."
        ) from None
    callbacks.consolewrite_print = _write_print
    callbacks.consolewrite_warnerror = _write_warnerror
    callbacks.showmessage = _quiet_message
    try:
        with _rpy2_logging_to_sink():
            import rpy2.robjects as ro
    except Exception as exc:
        raise RUnavailable(
            f"rpy2 could not start R ({type(exc).__name__}: {exc}). "
            f"Install R with `{INSTALL_R}`; if R is installed, reinstall rpy2 "
            f"against it with `{INSTALL_RPY2}` (rpy2-rinterface<3.6.6 for R 4.2)."
        ) from None
    _state["ro"] = ro
    _state["env_changes"] = {k: before.get(k) for k in set(before) | set(os.environ)
                             if before.get(k) != os.environ.get(k)}
    return ro


def environment_before_r(environ: dict[str, str]) -> dict[str, str]:
    """``environ`` with what starting R wrote into this process's environment undone.

    Embedded R sets ``R_HOME``, ``R_*``, ``LD_LIBRARY_PATH``, ``MAKE``, rpy2's
    ``PYTHON_SESSION_INITIALIZED``... in ``os.environ``; a subprocess that is
    not R (a jupyter-book build) should not inherit them. A variable changed
    again since then is left as it is now.
    """
    env = dict(environ)
    for name, value_before in _state["env_changes"].items():
        if name not in env or env[name] != os.environ.get(name):
            continue
        if value_before is None:
            del env[name]
        else:
            env[name] = value_before
    return env


def require_r(packages: Iterable[str] = ("lme4",)) -> Any:
    """Start R (once) and load ``packages``; return the ``rpy2.robjects`` module.

    Raises :class:`RUnavailable` naming what is missing and the command that
    installs it.
    """
    ro = _start_r()
    for pkg in packages:
        if pkg in _state["loaded"]:
            continue
        with capture_console() as cap:
            ok = ro.r["suppressPackageStartupMessages"](
                ro.r["requireNamespace"](pkg, quietly=True)
            )
        if not bool(ok[0]):
            deb = DEBIAN_PACKAGE.get(pkg, f"r-cran-{pkg.lower()}")
            detail = " ".join(cap.lines)
            raise RUnavailable(
                f"R is available but the R package {pkg!r} is not installed"
                f"{' (' + detail + ')' if detail else ''}. Install it with "
                f"`apt-get install --no-install-recommends {deb}`."
            )
        _state["loaded"].add(pkg)
    return ro


def r_available(packages: Iterable[str] = ("lme4",)) -> str | None:
    """``None`` when R and ``packages`` are usable, else the reason (a message)."""
    try:
        require_r(packages)
    except RUnavailable as exc:
        return str(exc)
    return None


def r_version() -> str:
    """R's version, e.g. ``'4.2.2'``."""
    ro = require_r(())
    return str(ro.r("paste(R.version$major, R.version$minor, sep='.')")[0])


def package_version(name: str) -> str:
    """Installed version of an R package as its DESCRIPTION spells it
    (``package_version('lme4') == '1.1-31'``)."""
    ro = require_r([name])
    return str(ro.r["packageDescription"](name).rx2("Version")[0])


# --- data ------------------------------------------------------------------


def _column_to_r(ro: Any, s: pd.Series) -> Any:
    """One pandas column as an R vector, with missing values as R's NA."""
    na = s.isna().to_numpy()
    if isinstance(s.dtype, pd.CategoricalDtype):
        levels = [str(v) for v in s.cat.categories]
        codes = s.cat.codes.to_numpy().astype(np.int64) + 1  # R codes are 1-based
        vec = ro.IntVector([int(c) if c > 0 else ro.NA_Integer for c in codes])
        return ro.r("function(c, l) factor(l[c], levels = l)")(vec, ro.StrVector(levels))
    if pd.api.types.is_bool_dtype(s.dtype) and not na.any():
        return ro.BoolVector(s.to_numpy(dtype=bool).tolist())
    if pd.api.types.is_integer_dtype(s.dtype):
        vals = s.to_numpy(dtype=object)
        return ro.IntVector([ro.NA_Integer if m else int(v) for v, m in zip(vals, na)])
    if pd.api.types.is_float_dtype(s.dtype):
        vals = s.to_numpy(dtype=np.float64)
        return ro.FloatVector([ro.NA_Real if m else float(v) for v, m in zip(vals, na)])
    vals = s.to_numpy(dtype=object)
    return ro.StrVector([ro.NA_Character if m else str(v) for v, m in zip(vals, na)])


def to_r_dataframe(df: pd.DataFrame) -> Any:
    """An R ``data.frame`` with the same columns, names and values as ``df``.

    Names are kept as they are (``check.names = FALSE``); strings stay
    character vectors (lme4 turns grouping variables into factors itself).
    """
    ro = require_r(())
    cols = {str(name): _column_to_r(ro, df[name]) for name in df.columns}
    lst = ro.ListVector(cols) if cols else ro.ListVector({})
    make = ro.r(
        "function(x) data.frame(x, check.names = FALSE, stringsAsFactors = FALSE)"
    )
    return make(lst)


# --- calling R ---------------------------------------------------------------

_CALL_WRAPPER = """
function(f, args) {
  warns <- character(0); msgs <- character(0)
  value <- withCallingHandlers(
    do.call(f, args),
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning")
    },
    message = function(m) {
      msgs <<- c(msgs, conditionMessage(m)); invokeRestart("muffleMessage")
    })
  list(value = value, warnings = warns, messages = msgs)
}
"""


def call(function: str | Any, *args: Any, **kwargs: Any) -> RResult:
    """Call an R function; collect its warnings and messages instead of printing.

    ``function`` is R source for a function (``"function(d) lme4::lmer(...)"``)
    or an R function object.  ``args``/``kwargs`` must already be R objects or
    values rpy2 converts by itself (numbers, strings, bools).  R errors
    propagate as ``rpy2.rinterface_lib.embedded.RRuntimeError`` with R's own
    message; the console text is attached to the result otherwise.
    """
    ro = require_r(())
    f = ro.r(function) if isinstance(function, str) else function
    wrapper = _state.get("wrapper")
    if wrapper is None:
        wrapper = _state["wrapper"] = ro.r(_CALL_WRAPPER)
    rargs = ro.r["list"](*args, **kwargs)
    with capture_console() as cap:
        out = wrapper(f, rargs)
    value = out.rx2("value")
    warns = [str(w) for w in out.rx2("warnings")]
    msgs = [str(m).rstrip("\n") for m in out.rx2("messages")]
    return RResult(value=value, warnings=warns, messages=msgs, console=cap)
