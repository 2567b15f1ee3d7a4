"""Running engines on cases: one safe fit, and a pool of worker processes.

:func:`fit_safely` turns anything that can go wrong in one fit into a row:
an exception becomes ``failed`` (with its type, message and where it was
raised), non-finite or missing estimates become ``failed`` (naming them), an
answer that is not a valid covariance (negative variance, asymmetric or
non-PSD ``cov_re``) becomes ``failed`` with the key and the rule
(:func:`check_answer`, run by suite.run in the main process), a
missing R or refimpl fitter becomes ``unavailable`` (with the install hint).

:class:`WorkerPool` runs fits in separate processes so that one fit that
hangs can be stopped: each task has a deadline; past it the worker process is
killed (it is our own child, by its pid), the row becomes ``failed: timeout
after S s``, a fresh worker takes its place and the run goes on.  Workers are
started with the ``spawn`` method (embedded R is not fork-safe) and kept for
many tasks, so the start-up cost (imports, starting R) is paid once per worker.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection, wait

from .record import EngineResult, answer_problems, from_any, nonfinite_fields

__all__ = ["fit_safely", "normalise", "read_answer", "check_answer", "WorkerPool", "run_tasks", "engine_label"]


def engine_label(engine_spec: str) -> str:
    """The name a result row carries for an engine spec (plug-in label or name)."""
    if ":" in engine_spec:
        from .engines.plugin import parse

        return parse(engine_spec)[0]
    return engine_spec


def _where(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return ""
    f = tb[-1]
    return f" (at {os.path.basename(f.filename)}:{f.lineno} in {f.name})"


def fit_safely(engine_spec: str, case_name: str) -> EngineResult:
    """Fit one case with one engine; never raises (see the module docstring)."""
    from .cases import CASES

    label = engine_label(engine_spec)
    try:
        case = CASES[case_name]
    except KeyError:
        return EngineResult.failed(label, case_name, f"unknown case {case_name!r}")
    try:
        from .engines import get_engine

        engine = get_engine(engine_spec)
        t0, c0 = time.perf_counter(), time.process_time()
        out = engine.fit(case)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    except Exception as exc:  # noqa: BLE001 -- every failure becomes a row
        if type(exc).__name__ == "Unsupported":
            return EngineResult.unsupported(label, case_name, str(exc) or "unsupported")
        if type(exc).__name__ in ("RUnavailable", "RefimplUnavailable"):
            return EngineResult.unavailable(label, case_name, str(exc))
        if type(exc).__name__ == "LookupError" and "refimpl.simulate" in str(exc):
            return EngineResult.unavailable(label, case_name, str(exc))
        return EngineResult.failed(label, case_name,
                                   f"{type(exc).__name__}: {exc}{_where(exc)}")
    res = read_answer(out, label, case_name)
    res.extra.setdefault("cpu_s", cpu)  # load-independent cost of the whole call
    if res.time_s is None:
        res.time_s = elapsed
    return res


def read_answer(out: object, label: str, case_name: str) -> EngineResult:
    """The row for whatever an engine returned; never raises.

    An answer that cannot be read (unknown keys, strings where numbers belong,
    a matrix that is not a nested dict, an unknown status) or that holds NaN,
    inf or a missing estimate becomes a ``failed`` row naming the key. Runs in
    the worker process, so it imports nothing heavy (see :func:`check_answer`).
    """
    try:
        res = from_any(out, label, case_name)
    except Exception as exc:  # noqa: BLE001 -- a malformed answer is a failed row
        return EngineResult.failed(label, case_name, f"invalid answer: {exc}")
    if res.status == "ok":
        bad = nonfinite_fields(res)
        if bad:
            res.status = "failed"
            res.error = ("non-finite or missing estimates: " + ", ".join(bad)
                         + " (the row is kept but not compared)")
    return res


def check_answer(res: EngineResult) -> EngineResult:
    """``res``, made ``failed`` if its answer is not a valid covariance; never raises.

    A negative variance, an asymmetric or non-PSD ``cov_re``, ``scale <= 0``
    (record.answer_problems, i.e. refimpl.covariance_check) is not a point of
    the model: the row fails with the key and the rule; its values are kept but
    not compared. Run in the main process (suite.run), where refimpl is
    imported anyway: importing it in every fresh worker would eat into the
    per-fit timeout.
    """
    if res.status != "ok":
        return res
    try:
        problems = answer_problems(res)
    except Exception as exc:  # noqa: BLE001
        problems = [f"cannot check the covariance: {type(exc).__name__}: {exc}"]
    if problems:
        res.status = "failed"
        res.error = ("invalid answer: " + "; ".join(problems)
                     + " (the row is kept but not compared)")
    return res


def normalise(out: object, label: str, case_name: str) -> EngineResult:
    """What the suite makes of an engine's answer: :func:`read_answer`, then :func:`check_answer`."""
    return check_answer(read_answer(out, label, case_name))


# --------------------------------------------------------------------------
# Worker processes with per-task deadlines
# --------------------------------------------------------------------------

def _worker_main(conn: Connection) -> None:
    """Loop: receive (engine_spec, case_name), send back the result as JSON."""
    import warnings

    warnings.simplefilter("ignore")  # engines record their own warnings
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        res = fit_safely(*task)
        conn.send(res.to_json())


#: One BLAS thread per worker: the workers already use every core, and the
#: matrices are small (the user's own setting wins if given).
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class _Worker:
    def __init__(self, ctx):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        added = [v for v in _THREAD_VARS if v not in os.environ]
        os.environ.update({v: "1" for v in added})
        try:
            self.proc.start()  # the spawned child copies the environment now
        finally:
            for v in added:
                os.environ.pop(v, None)
        child.close()
        self.task: tuple[str, str] | None = None
        self.deadline = 0.0
        self.started = 0.0

    def submit(self, task: tuple[str, str], timeout: float) -> None:
        self.task = task
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.conn.send(task)

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.kill()


class WorkerPool:
    """``n`` worker processes; :meth:`run` yields results as tasks finish."""

    def __init__(self, n: int = 2, timeout: float = 120.0):
        self.n = max(1, int(n))
        self.timeout = float(timeout)
        self.ctx = mp.get_context("spawn")
        self.workers: list[_Worker] = []

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        for w in self.workers:
            w.stop()
        self.workers = []

    def run(self, tasks: Iterable[tuple[str, str]]) -> Iterator[EngineResult]:
        pending = list(tasks)
        pending.reverse()
        while len(self.workers) < min(self.n, len(pending)):
            self.workers.append(_Worker(self.ctx))
        idle = list(self.workers)
        busy: list[_Worker] = []
        while pending or busy:
            while idle and pending:
                w = idle.pop()
                w.submit(pending.pop(), self.timeout)
                busy.append(w)
            now = time.monotonic()
            wait_for = max(0.0, min(w.deadline for w in busy) - now)
            ready = wait([w.conn for w in busy], timeout=wait_for)
            for w in list(busy):
                engine_spec, case_name = w.task
                label = engine_label(engine_spec)
                if w.conn in ready:
                    try:
                        yield EngineResult.from_json(w.conn.recv())
                        busy.remove(w)
                        idle.append(w)
                        continue
                    except (EOFError, OSError):
                        msg = (f"worker process died while fitting (exit code "
                               f"{w.proc.exitcode}); a crash inside the engine?")
                elif time.monotonic() >= w.deadline:
                    msg = (f"timeout: no answer after {self.timeout:g} s; the fit "
                           "was stopped (raise --timeout if it is just slow)")
                else:
                    continue
                busy.remove(w)
                w.kill()
                self.workers.remove(w)
                fresh = _Worker(self.ctx)
                self.workers.append(fresh)
                idle.append(fresh)
                yield EngineResult.failed(label, case_name, msg,
                                          time_s=time.monotonic() - w.started)


def run_tasks(tasks: list[tuple[str, str]], jobs: int = 2, timeout: float = 120.0,
              progress: Callable[[EngineResult], None] | None = None) -> list[EngineResult]:
    """Fit every (engine_spec, case_name); ``jobs=0`` runs in this process
    (no timeout: for debugging)."""
    out: list[EngineResult] = []
    if jobs == 0:
        it: Iterable[EngineResult] = (fit_safely(*t) for t in tasks)
        for r in it:
            out.append(r)
            if progress:
                progress(r)
        return out
    with WorkerPool(jobs, timeout) as pool:
        for r in pool.run(tasks):
            out.append(r)
            if progress:
                progress(r)
    return out
