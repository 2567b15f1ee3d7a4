"""Build the book strictly: ``python -m book.build [--out DIR] [--incremental]``.

Runs ``jupyter-book build book --warningiserror --nitpick --keep-going --quiet --all``:
every page is executed (``execute_notebooks: force`` in ``_config.yml``), any
warning fails the build, and the last cell of each derivation page asserts its
result against refimpl, so a broken derivation fails the build too.

Output: ``book/_build/html`` (or ``DIR/_build/html`` with ``--out DIR``).
MathJax is served from the local npm package (see ``_ext/local_mathjax.py``);
after building we check that no page references a MathJax CDN.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

BOOK_DIR = Path(__file__).resolve().parent
REPO_ROOT = BOOK_DIR.parent
DEFAULT_MATHJAX_ES5 = REPO_ROOT / ".cache" / "mathjax" / "node_modules" / "mathjax" / "es5"


def mathjax_dir() -> Path:
    """The es5/ directory of the local MathJax (``LMM_MATHJAX_ES5`` overrides it)."""
    return Path(os.environ.get("LMM_MATHJAX_ES5", DEFAULT_MATHJAX_ES5))

# A <script src=...> or any URL that would load MathJax from the network.
CDN_MATHJAX = re.compile(r"(https?:)?//[^\"'\s>]*mathjax", re.IGNORECASE)


class BuildError(RuntimeError):
    """The book did not build, or built output that breaks a promise."""


def check_mathjax(es5: Path | None = None) -> None:
    """Fail early, with the fix, when the local MathJax copy is missing."""
    es5 = mathjax_dir() if es5 is None else Path(es5)
    if not (es5 / "tex-chtml.js").is_file():
        raise BuildError(
            f"Local MathJax is missing ({es5}/tex-chtml.js not found).\n"
            "The book serves MathJax from a local copy, never a CDN.\n"
            "Run `make setup` (it runs `npm install --prefix .cache/mathjax mathjax@3`"
            " in the repository root), then build again."
        )


def html_dir(out: Path | None = None) -> Path:
    """Where the HTML lands for a given ``--out`` (default: the book folder)."""
    return (out if out is not None else BOOK_DIR) / "_build" / "html"


def cdn_references(html: Path) -> list[str]:
    """``file: url`` for every MathJax URL found in the built pages."""
    hits = []
    for page in sorted(html.rglob("*.html")):
        for m in CDN_MATHJAX.finditer(page.read_text(encoding="utf-8", errors="replace")):
            hits.append(f"{page.relative_to(html)}: {m.group(0)}")
    return hits


def jupyter_book_command(out: Path | None, incremental: bool) -> list[str]:
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(BOOK_DIR)]
    # --quiet: no Sphinx status lines (among them myst's and myst-nb's dumps of
    # their whole configuration); warnings still print, and fail the build.
    cmd += ["--warningiserror", "--nitpick", "--keep-going", "--quiet"]
    if not incremental:
        cmd.append("--all")
    if out is not None:
        cmd += ["--path-output", str(out)]
    return cmd


def build(out: Path | None = None, incremental: bool = False, quiet: bool = False) -> Path:
    """Build the book; return the HTML directory. Raises BuildError on failure."""
    check_mathjax()
    # If a test started R in this process (rpy2), R's settings are in
    # os.environ; passed on, they break jupyter-book's theme step ("Invalid
    # character 'l'"), so undo them.
    from validation import rbridge

    env = rbridge.environment_before_r(os.environ)
    # Kernels import refimpl and book.labels from this checkout.
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    # Kernels must use matplotlib's inline backend (ipykernel's default), or
    # figures vanish from the pages: never inherit a headless MPLBACKEND.
    env.pop("MPLBACKEND", None)
    # The book's matrices are small: BLAS threads only add overhead (measured:
    # one q = 204 likelihood evaluation takes 2 ms single-threaded and 20-70 ms
    # with OpenBLAS threads on a 2-core machine). Printed timings stay honest.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    cmd = jupyter_book_command(out, incremental)
    proc = subprocess.run(
        cmd,
        cwd=REPO_ROOT,
        env=env,
        text=True,
        capture_output=quiet,
    )
    if proc.returncode != 0:
        detail = ""
        if quiet:
            detail = "\n" + (proc.stdout or "")[-20000:] + (proc.stderr or "")[-20000:]
        raise BuildError(
            f"`{' '.join(cmd)}` failed with exit code {proc.returncode}. "
            "Warnings are errors here: fix every warning above (a failed assert in a "
            "page's check cell shows up as a notebook execution error)." + detail
        )
    html = html_dir(out)
    if not (html / "index.html").is_file():
        raise BuildError(f"The build reported success but {html}/index.html is missing.")
    hits = cdn_references(html)
    if hits:
        raise BuildError(
            "The built pages reference MathJax on the network; they must use the local "
            "copy in _static/mathjax:\n  " + "\n  ".join(hits[:20])
        )
    return html


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m book.build", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="output root; HTML goes to OUT/_build/html (default: book/)")
    parser.add_argument("--incremental", action="store_true",
                        help="only rebuild changed pages (default: rebuild all)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        html = build(args.out, incremental=args.incremental)
    except BuildError as err:
        print(f"\nbook build FAILED: {err}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - start
    print(f"\nbook built in {elapsed:.1f} s: {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
