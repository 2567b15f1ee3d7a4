"""Command line of the validation suite (``python -m validation`` or ``lmm-validate``).

    python -m validation run [--cases PATTERN...] [--engines NAME... | --all-engines]
                             [--plugin [LABEL=]pkg.mod:func ...] [--gate NAME... | --gate none]
                             [--out DIR] [--junit FILE] [--timeout S] [--jobs N] [-v]
                             [--no-html] [--no-audit] [--no-inference]
    python -m validation list
    python -m validation init-adapter NAME [--dir DIR]
    python -m validation audit [--cases PATTERN...] [--engines NAME...] [--plugin ...]
    python -m validation regenerate-references [--force] [--cases PATTERN...]
    python -m validation bench [--quick] [--sizes G...] [--engines NAME...] [--out DIR]
    python -m validation conformance [-k EXPR] [--failures]
    python -m validation inference-references [--force] [--cases KEY...]

``run`` fits every selected case with every engine (in worker processes, each
fit with a timeout), audits each answer with refimpl's analytic score,
grades it against the certified values (the lme4-tight store is a second
opinion beside them, and the grade where a case has no certified values)
and writes ``DIR/validation.json``, ``DIR/validation.html`` and, with
``--junit``, JUnit XML.

Exit status (:data:`EXIT_CODES`): 0 every gated check passed, 1 a gated
check failed, 2 nothing was graded or a usage error.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from . import references
from .cases import CASES, select
from .engines import BUILTIN, DEFAULT_ENGINES

#: The exit statuses of ``run`` (and what ``--help`` prints).
EXIT_CODES = {
    0: "every gated check passed (informative engines never change this)",
    1: "a gated check failed: a quantity below its LRE gate, a point the audit calls not "
       "stationary, or a gated engine that raised, timed out or returned an invalid answer",
    2: "nothing was graded (no gated engine produced a row), or a usage error (bad argument, "
       "plug-in that does not import, unwritable --out)",
}


# --------------------------------------------------------------------------
# Argument checks: every argument is checked before anything is fitted, and a
# bad one gives one line naming it (argparse type functions, then check_run_args)
# --------------------------------------------------------------------------

def positive_seconds(text: str) -> float:
    """--timeout: a finite number of seconds > 0 (nan would never time out)."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not (math.isfinite(x) and x > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text!r}")
    return x


def job_count(text: str) -> int:
    """--jobs: an integer >= 0 (0 = fit in this process, without a timeout)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return n


def plugin_spec(text: str) -> str:
    """--plugin: [LABEL=]package.module:function, both parts non-empty."""
    label, _, target = text.rpartition("=")
    mod, colon, fn = target.strip().partition(":")
    if not (colon and mod.strip() and fn.strip()) or (_ and not label.strip()):
        raise argparse.ArgumentTypeError(
            f"{text!r} must look like [LABEL=]package.module:function (e.g. "
            "mypkg.adapter:fit or mine=mypkg.adapter:fit)")
    return text


def check_run_args(args) -> str | None:
    """The first problem with the arguments of ``run``/``audit``, as one line; None if none.

    Imports every plug-in (a typo would otherwise fail every row after all the
    fits), checks engine and --gate names, reads the reference store and makes
    sure --out is a writable directory.
    """
    from .engines import is_plugin
    from .engines.plugin import load_adapter, parse

    for spec in _engine_specs(args, []):
        where = "--plugin" if spec in args.plugin else "--engines"
        if not is_plugin(spec):
            if spec not in BUILTIN:
                return (f"argument {where}: unknown engine {spec!r}; built-in engines: "
                        f"{', '.join(BUILTIN)}; a plug-in is [LABEL=]package.module:function")
            continue
        try:
            load_adapter(parse(plugin_spec(spec))[1])
        except Exception as exc:  # noqa: BLE001 -- any import problem is a usage error
            return f"argument {where}: {spec}: {type(exc).__name__}: {exc}"
    gate = getattr(args, "gate", None)
    if gate and gate != ["none"]:
        from .runner import engine_label

        labels = [engine_label(e) for e in _engine_specs(args, DEFAULT_ENGINES)]
        unknown = [g for g in gate if g not in labels]
        if unknown:
            return (f"argument --gate: {', '.join(map(repr, unknown))} is not an engine of this "
                    f"run ({', '.join(labels)}), or 'none'")
    reference = getattr(args, "reference", None)
    if reference is not None:
        from .suite import load_store

        try:
            load_store(Path(reference))
        except ValueError as exc:
            return f"argument --reference: {' '.join(str(exc).split())}"
    junit = getattr(args, "junit", None)
    if junit is not None:
        parent = Path(junit).parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"argument --junit: cannot create {str(parent)!r}: {exc.strerror or exc}"
        if Path(junit).is_dir():
            return f"argument --junit: {junit!r} is a directory; give a file name (e.g. out.xml)"
    out = getattr(args, "out", None)
    if out is not None:
        d = Path(out)
        try:
            d.mkdir(parents=True, exist_ok=True)
            probe = d / ".validation-write-test"
            probe.write_text("", encoding="utf-8")
            probe.unlink()
        except OSError as exc:
            return f"argument --out: cannot write reports to {out!r}: {exc.strerror or exc}"
    return None


def _usage_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _common(p: argparse.ArgumentParser, engines_default: list[str]) -> None:
    p.add_argument("--cases", nargs="+", metavar="PATTERN",
                   help="glob patterns or prefixes of case names (default: all)")
    p.add_argument("--engines", nargs="+", metavar="NAME", default=None,
                   help=f"engines to fit (default: {' '.join(engines_default)}); "
                        f"built-in: {' '.join(BUILTIN)}")
    p.add_argument("--all-engines", action="store_true",
                   help="every built-in engine, the slow opt-in ones too "
                        "(statsmodels_nm, statsmodels_powell, lme4_tight)")
    p.add_argument("--plugin", action="append", default=[], metavar="[LABEL=]MOD:FUNC",
                   type=plugin_spec,
                   help="a user adapter function(case) -> result dict; repeatable")
    p.add_argument("--timeout", type=positive_seconds, default=120.0, metavar="S",
                   help="seconds allowed per fit before it is stopped (default 120)")
    p.add_argument("--jobs", type=job_count, default=min(2, os.cpu_count() or 1), metavar="N",
                   help="worker processes (default: min(2, cores)); 0 = in this "
                        "process, no timeout")


def _engine_specs(args, default: list[str]) -> list[str]:
    if getattr(args, "all_engines", False) and not args.engines:
        default = list(BUILTIN)
    specs = list(args.engines) if args.engines else list(default)
    for p in args.plugin:
        if p not in specs:
            specs.append(p)
    return specs


def cmd_list(args) -> int:
    w = max(len(n) for n in CASES) + 2
    for name, c in CASES.items():
        d = c.describe()
        flags = (" [boundary]" if c.boundary else "") + \
                ("" if c.well_conditioned else " [params informative]")
        formula = d.get("lme4_formula") or d.get("unavailable", "")
        print(f"{name.ljust(w)}{formula}{flags}")
    print(f"\nengines: {' '.join(BUILTIN)}  (+ plug-ins: [LABEL=]package.module:function)")
    print(f"default run: {' '.join(DEFAULT_ENGINES)}")
    return 0


def cmd_init_adapter(args) -> int:
    from .scaffold import write_adapter

    try:
        written = write_adapter(args.name, Path(args.dir), force=args.force)
    except (ValueError, FileExistsError) as exc:
        return _usage_error(str(exc))
    for path in written:
        print(f"wrote {path}")
    mod = args.name
    print(f"next: edit {written[0].name}, then\n"
          f"  lmm-validate run --plugin {mod}:fit --cases dyestuff sleepstudy   (from {args.dir})\n"
          f"  python -m pytest {written[1].name}")
    return 0


def cmd_run(args) -> int:
    from .report import Progress, terminal, write_html, write_json
    from .suite import cost_hint_from, run

    cases = select(args.cases)
    problem = check_run_args(args)
    if problem:
        return _usage_error(problem)
    specs = _engine_specs(args, DEFAULT_ENGINES)
    gated = None
    if args.gate is not None:
        gated = [] if args.gate == ["none"] else list(args.gate)
    progress = None if args.quiet else Progress(len(cases) * len(specs))
    outdir = Path(args.out)
    out = run(cases, specs, gated=gated, jobs=args.jobs, timeout=args.timeout,
              store_path=Path(args.reference), progress=progress, audit=not args.no_audit,
              cost_hint=cost_hint_from(outdir / "validation.json"),
              inference=not args.no_inference)
    j = write_json(out, outdir / "validation.json")
    written = [str(j)]
    if not args.no_html:
        written.append(str(write_html(out, outdir / "validation.html")))
    if args.junit:
        from .report import write_junit

        written.append(str(write_junit(out, Path(args.junit))))
    terminal(out, details=not args.quiet, verbose=args.verbose)
    print("wrote " + ", ".join(written))
    return out.exit_code


def cmd_audit(args) -> int:
    from .audit import Auditor
    from .runner import check_answer, engine_label, run_tasks

    cases = select(args.cases)
    problem = check_run_args(args)
    if problem:
        return _usage_error(problem)
    specs = _engine_specs(args, ["statsmodels", "lme4", "refimpl_default"])
    auditor = Auditor()
    if not auditor.available:
        print(f"audit unavailable: {auditor._reason}")
        return 2
    store = references.load()
    results = [check_answer(r) for r in run_tasks([(e, c.name) for c in cases for e in specs],
                                                  jobs=args.jobs, timeout=args.timeout)]
    print(f"{'engine':<18}{'case':<34}{'reported llf':>20}{'llf at point':>20}"
          f"{'scaled grad':>13}  stationary")
    for c in cases:
        rows = sorted((r for r in results if r.case == c.name),
                      key=lambda r: [engine_label(e) for e in specs].index(r.engine))
        if store is not None and store.result(c.name) is not None:
            ref = store.result(c.name)
            ref.engine = "reference"
            rows.insert(0, ref)
        for r in rows:
            if r.status != "ok":
                print(f"{r.engine:<18}{c.name:<34}  {r.status}: {r.error}")
                continue
            a = auditor.audit(c, r)
            if not a.available:
                print(f"{r.engine:<18}{c.name:<34}  {a.message}")
                continue
            sg = "" if a.scaled_gradient is None else f"{a.scaled_gradient:.3g}"
            print(f"{r.engine:<18}{c.name:<34}{r.llf:>20.10f}"
                  f"{(a.llf if a.llf is not None else float('nan')):>20.10f}{sg:>13}  "
                  f"{'yes' if a.stationary else 'NO'} {a.message}")
    return 0


def cmd_regenerate(args) -> int:
    cases = select(args.cases)
    print(f"refitting {len(cases)} cases with lme4_tight -> {args.reference}")
    try:
        path, problems = references.regenerate(cases, Path(args.reference), force=args.force,
                                               jobs=args.jobs, timeout=args.timeout)
    except references.RefusedOverwrite as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    if problems:
        print("not stored:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="lmm-validate", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Grade linear mixed model engines against certified values (lme4-tight "
                    "as a second opinion), with an analytic audit of every answer.",
        epilog="exit status of run:\n" + "\n".join(f"  {k}  {v}" for k, v in EXIT_CODES.items()))
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="fit, audit, compare, report")
    _common(p, DEFAULT_ENGINES)
    p.add_argument("--gate", nargs="+", metavar="NAME",
                   help="engines whose failures set the exit status (default: refimpl_* "
                        "and plug-ins); 'none' for an informative run")
    p.add_argument("--out", default="reports", metavar="DIR",
                   help="where validation.json/.html go (default: ./reports)")
    p.add_argument("--junit", metavar="FILE", default=None,
                   help="also write JUnit XML: one test per gated engine, case and quantity")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="every engine's case table and every row that did not pass")
    p.add_argument("--reference", default=str(references.STORE), metavar="PATH")
    p.add_argument("--no-html", action="store_true")
    p.add_argument("--no-audit", action="store_true")
    p.add_argument("--no-inference", action="store_true",
                   help="skip the Inference section (profile intervals, Satterthwaite and "
                        "Kenward-Roger tests graded against stored references)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or details")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("list", help="list the cases and engines")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("init-adapter", help="write a skeleton adapter NAME.py and its test")
    p.add_argument("name", help="module name of the adapter, e.g. myengine_adapter")
    p.add_argument("--dir", default=".", help="where to write the two files (default: .)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=cmd_init_adapter)

    p = sub.add_parser("audit", help="audit each engine's answer with refimpl's score")
    _common(p, ["statsmodels", "lme4", "refimpl_default"])
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("regenerate-references", help="refit the lme4-tight reference store")
    p.add_argument("--force", action="store_true", help="overwrite the existing store")
    p.add_argument("--cases", nargs="+", metavar="PATTERN")
    p.add_argument("--reference", default=str(references.STORE), metavar="PATH")
    p.add_argument("--jobs", type=job_count, default=1)
    p.add_argument("--timeout", type=positive_seconds, default=300.0)
    p.set_defaults(func=cmd_regenerate)

    from . import bench

    bench.add_parser(sub)        # time refimpl, statsmodels and lme4 side by side (bench.py)
    from . import conformance

    conformance.add_parser(sub)  # statsmodels' own test_lme.py against refimpl (conformance.py)
    from . import inference_references

    inference_references.add_parser(sub)  # stored references of the inference grading
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # plug-ins in the current directory import, as with `python -m validation`
    # (the `lmm-validate` script alone would put only its own bin/ on sys.path)
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    args = build_parser().parse_args(argv)
    args.argv_echo = argv[1:]            # the command line, for reports that say how to reproduce them
    try:
        return int(args.func(args))
    except KeyError as exc:  # unknown case pattern or engine
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
