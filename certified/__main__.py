"""``python -m certified build [--cases PATTERN...] [--force]`` and ``python -m certified check``.

``build`` certifies the selected cases (default: :data:`certified.store.DEFAULT_CASES`,
each by REML and ML; about two minutes in all) and writes ``refimpl/data/certified/``;
it refuses to overwrite an existing file without ``--force``.  ``check``
re-verifies the stored files (data checksum, stationarity at the stored
point, values reproduced to their claimed digits) in a few seconds per case.
Exit status 0 when everything passed, 1 otherwise, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
import time

from . import store


def _cases(patterns):
    from refimpl.cases import select

    return select(patterns or store.DEFAULT_CASES)


def cmd_build(args) -> int:
    from .certify import certify

    cases = _cases(args.cases)
    t0 = time.perf_counter()
    bad = 0
    for case in cases:
        p = store.path_for(case.name)
        if p.exists() and not args.force:
            print(f"  {case.name}: {p.name} exists (pass --force to overwrite); skipped")
            bad += 1
            continue
        t = time.perf_counter()
        try:
            entry = certify(case, log=print if args.verbose else (lambda *a: None))
        except Exception as exc:  # noqa: BLE001 -- report and go on with the others
            print(f"  {case.name}: FAILED: {type(exc).__name__}: {exc}")
            bad += 1
            continue
        store.save(entry, force=True)
        extra = ""
        if entry["second_path"]:
            extra = f"; ANOVA path agrees to {entry['second_path']['min_agreement']} digits"
        print(f"  {case.name}: {entry['min_digits']} digits (min over quantities)"
              f"{' [boundary: ' + ', '.join(entry['boundary_parameters']) + ']' if entry['boundary'] else ''}"
              f"{extra}  ({time.perf_counter() - t:.1f} s) -> {p.relative_to(store.STORE_DIR.parent.parent)}")
    print(f"built {len(cases) - bad} of {len(cases)} in {time.perf_counter() - t0:.1f} s")
    return 1 if bad else 0


def cmd_check(args) -> int:
    cases = _cases(args.cases)
    t0 = time.perf_counter()
    n_bad = 0
    for case in cases:
        entry = store.load(case.name)
        if entry is None:
            print(f"  {case.name}: MISSING ({store.path_for(case.name).name}); "
                  f"run `python -m certified build --cases {case.name}`")
            n_bad += 1
            continue
        problems = store.check_entry(case, entry)
        n_bad += bool(problems)
        print(f"  {case.name}: " + ("ok" if not problems else "FAILED\n      "
                                    + "\n      ".join(problems)))
    print(f"checked {len(cases)} in {time.perf_counter() - t0:.1f} s: "
          f"{'all ok' if not n_bad else f'{n_bad} FAILED'}")
    return 1 if n_bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m certified", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="compute and store certified values")
    b.add_argument("--cases", nargs="+", metavar="PATTERN")
    b.add_argument("--force", action="store_true", help="overwrite existing files")
    b.add_argument("--verbose", action="store_true")
    b.set_defaults(func=cmd_build)
    c = sub.add_parser("check", help="re-verify the stored values")
    c.add_argument("--cases", nargs="+", metavar="PATTERN")
    c.set_defaults(func=cmd_check)
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except KeyError as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
