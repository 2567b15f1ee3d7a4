"""``python -m validation bench --distributed``: refimpl on a Parquet data set through Dask.

Steps, each timed:

1. write the data set (seeded, ``--rows`` rows in ``--groups`` groups, model
   y ~ x + (x | g) with the grouped section's parameters) as Parquet files
   under ``reports/bench/distributed/``, one chunk of groups at a time, so no
   more than ``CHUNK_ROWS`` rows are ever in memory (skipped when the files
   are there already);
2. start a ``dask.distributed.LocalCluster`` (``--workers`` processes, one
   thread each, ``--memory-limit`` each);
3. read the Parquet files alone (every column, nothing computed): the floor;
4. ``MixedLM.from_formula`` on ``dd.read_parquet``: the one pass that reduces
   the data to per-group statistics (and the pre-fit checks);
5. ``fit()`` on the driver;
6. the in-memory fit (pandas, the same generator) at ``--compare-rows`` rows,
   for the time per row.

Peak memory: the driver's and each worker's peak resident set size
(``getrusage``, read in each process; a worker restarted by its nanny would
show only its new life, so restarts are reported too).
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import data as D

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT / "reports" / "bench" / "distributed"
#: Rows generated (and written as one Parquet file) at a time.
CHUNK_ROWS = 1_000_000
FORMULA, RE_FORMULA = "y ~ x", "~x"


def generate(rows, groups, seed=D.SEED, chunk_rows=CHUNK_ROWS):
    """Yield pandas frames of consecutive whole groups: the data set, chunk by chunk.

    Group g has rows_per_group = rows // groups rows (the last groups take the
    remainder); chunk c is drawn from its own stream of SeedSequence(seed).spawn,
    so the data do not depend on how many chunks are held at once.
    """
    if groups < 1 or rows < groups:
        raise ValueError(f"--rows ({rows}) must be at least --groups ({groups}) >= 1")
    sizes = np.full(groups, rows // groups, dtype=np.int64)
    sizes[:rows - sizes.sum()] += 1
    starts = np.concatenate([[0], np.cumsum(sizes)])
    per_chunk = max(1, chunk_rows // int(sizes.max()))
    L = np.linalg.cholesky(np.array(D.COV_RE))
    n_chunks = -(-groups // per_chunk)
    streams = np.random.SeedSequence(seed).spawn(n_chunks)
    for c in range(n_chunks):
        rng = np.random.default_rng(streams[c])
        g0, g1 = c * per_chunk, min(groups, (c + 1) * per_chunk)
        n = int(starts[g1] - starts[g0])
        g = np.repeat(np.arange(g0, g1), sizes[g0:g1])
        b = rng.standard_normal((g1 - g0, 2)) @ L.T
        x = rng.standard_normal(n)
        gl = g - g0
        y = (D.FE_PARAMS[0] + b[gl, 0] + (D.FE_PARAMS[1] + b[gl, 1]) * x
             + np.sqrt(D.SCALE) * rng.standard_normal(n))
        yield pd.DataFrame({"y": y, "x": x, "g": g})


def write_parquet(rows, groups, out_dir, seed=D.SEED):
    """The data set as Parquet files in out_dir (reused when its manifest matches); seconds taken."""
    out_dir = Path(out_dir)
    manifest = out_dir / "manifest.json"
    want = dict(rows=int(rows), groups=int(groups), seed=int(seed), chunk_rows=CHUNK_ROWS)
    if manifest.exists() and json.loads(manifest.read_text()) == want:
        return 0.0
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("part-*.parquet"):
        old.unlink()
    t0 = time.perf_counter()
    for i, frame in enumerate(generate(rows, groups, seed)):
        frame.to_parquet(out_dir / f"part-{i:05d}.parquet", index=False)
    manifest.write_text(json.dumps(want))
    return time.perf_counter() - t0


def _peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024       # Linux: kB


def run(args):
    """The ``--distributed`` benchmark; prints a table and writes distributed.json next to the data."""
    import dask
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    from refimpl import MixedLM

    rows, groups = int(args.rows), int(args.groups or max(1, args.rows // D.ROWS_PER_GROUP))
    compare_rows = int(args.compare_rows or min(rows, 10 * CHUNK_ROWS))
    data_dir = Path(args.data_dir) if args.data_dir else DEFAULT_DIR / f"rows{rows}_groups{groups}"
    print(f"distributed benchmark: {rows:,} rows, {groups:,} groups, y ~ x + (x | g), REML; "
          f"{args.workers} workers x {args.memory_limit}")
    t_gen = write_parquet(rows, groups, data_dir)
    print(f"  parquet data set in {data_dir} ({'written in %.1f s' % t_gen if t_gen else 'reused'})")
    out = dict(rows=rows, groups=groups, workers=args.workers, memory_limit=args.memory_limit,
               data_dir=str(data_dir), generate_s=t_gen)
    with dask.config.set({"distributed.worker.memory.target": False,
                          "distributed.worker.memory.spill": False}):
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               memory_limit=args.memory_limit, dashboard_address=None)
        client = Client(cluster)
    try:
        files = str(data_dir / "part-*.parquet")
        t0 = time.perf_counter()
        dd.read_parquet(files).map_partitions(len).sum().compute()
        out["read_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        model = MixedLM.from_formula(FORMULA, dd.read_parquet(files), groups="g", re_formula=RE_FORMULA)
        out["statistics_s"] = time.perf_counter() - t0
        out["statistics_parts_s"] = {k: float(v) for k, v in model.dask_timings.items()}
        t0 = time.perf_counter()
        res = model.fit()
        out["fit_s"] = time.perf_counter() - t0
        out["llf"], out["fe_params"] = float(res.llf), [float(v) for v in np.asarray(res.fe_params)]
        out["converged"] = bool(res.converged)
        out["driver_peak_bytes"] = _peak_rss_bytes()
        out["worker_peak_bytes"] = {str(k): v for k, v in client.run(_peak_rss_bytes).items()}
        del model, res
    finally:
        client.close()
        cluster.close()
    out["wall_s"] = out["statistics_s"] + out["fit_s"]           # the pass and the fit (reading is in the pass)

    frame = pd.concat(list(generate(compare_rows, max(1, compare_rows * groups // rows))))
    t0 = time.perf_counter()
    MixedLM.from_formula(FORMULA, frame, groups="g", re_formula=RE_FORMULA).fit()
    out["in_memory_rows"], out["in_memory_s"] = compare_rows, time.perf_counter() - t0
    out["in_memory_scaled_s"] = out["in_memory_s"] * rows / compare_rows
    print(report(out))
    (data_dir / "distributed.json").write_text(json.dumps(out, indent=1))
    print(f"wrote {data_dir / 'distributed.json'}")
    return 0


def report(o):
    gib = 2.0 ** 30
    lines = [
        f"  read Parquet alone            {o['read_s']:8.1f} s",
        f"  one-pass statistics (+checks) {o['statistics_s']:8.1f} s   "
        f"({o['statistics_s'] / max(o['read_s'], 1e-9):.1f}x reading alone)",
        "    of which " + ", ".join(f"{k} {v:.1f} s" for k, v in o["statistics_parts_s"].items()),
        f"  fit on the driver             {o['fit_s']:8.1f} s   converged={o['converged']}",
        f"  wall (statistics + fit)       {o['statistics_s'] + o['fit_s']:8.1f} s",
        f"  in-memory fit at {o['in_memory_rows']:,} rows   {o['in_memory_s']:8.1f} s   "
        f"-> scaled linearly to {o['rows']:,} rows: {o['in_memory_scaled_s']:.1f} s",
        f"  driver peak RSS               {o['driver_peak_bytes'] / gib:8.2f} GiB",
    ] + [f"  worker {k} peak RSS {v / gib:8.2f} GiB" for k, v in o["worker_peak_bytes"].items()]
    lines.append(f"  llf {o['llf']:.6f}, fe_params {o['fe_params']}")
    return "\n".join(lines)


def add_arguments(p):
    """The --distributed options of ``bench`` (validation/bench/main.py adds them)."""
    p.add_argument("--distributed", action="store_true",
                   help="fit a Parquet data set through a Dask LocalCluster instead of the engine "
                        "comparison (see validation/bench/distributed.py)")
    p.add_argument("--rows", type=int, default=1_000_000, help="--distributed: rows (default 1e6)")
    p.add_argument("--groups", type=int, default=None,
                   help=f"--distributed: groups (default rows / {D.ROWS_PER_GROUP})")
    p.add_argument("--workers", type=int, default=2, help="--distributed: worker processes (default 2)")
    p.add_argument("--memory-limit", dest="memory_limit", default="6GiB",
                   help="--distributed: memory limit per worker (default 6GiB)")
    p.add_argument("--compare-rows", dest="compare_rows", type=int, default=None,
                   help="--distributed: rows of the in-memory comparison fit (default min(rows, 1e7))")
    p.add_argument("--data-dir", dest="data_dir", default=None,
                   help="--distributed: where the Parquet files go "
                        "(default reports/bench/distributed/rows<R>_groups<G>/)")
