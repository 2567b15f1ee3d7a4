"""Serve MathJax from a local copy of the npm ``mathjax@3`` package.

Without a network a CDN MathJax leaves every formula as raw TeX, so the book
ships its own: ``make setup`` runs
``npm install --prefix .cache/mathjax mathjax@3`` and this extension copies
``.cache/mathjax/node_modules/mathjax/es5/`` to ``_static/mathjax/`` of the
HTML output. ``mathjax_path`` (set in ``_config.yml``) is relative to
``_static``, so pages load ``_static/mathjax/tex-chtml.js``. It is loaded on
every page (``set_html_assets_policy("always")``) because chapter titles in the
navigation sidebar contain math.

The source directory can be overridden with the environment variable
``LMM_MATHJAX_ES5``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sphinx.errors import ConfigError, ExtensionError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ES5 = REPO_ROOT / ".cache" / "mathjax" / "node_modules" / "mathjax" / "es5"
TARGET = "mathjax"  # inside the output's _static/


def mathjax_source() -> Path:
    """The es5/ directory of the local MathJax package."""
    return Path(os.environ.get("LMM_MATHJAX_ES5", DEFAULT_ES5))


def missing_message(src: Path) -> str:
    return (
        f"Local MathJax not found: {src}/tex-chtml.js does not exist. "
        "The book serves MathJax from a local copy (no CDN). "
        "Run `make setup` (or `npm install --prefix .cache/mathjax mathjax@3` "
        "from the repository root) and build again."
    )


def _check_config(app, config):
    path = config.mathjax_path or ""
    if "://" in path or path.startswith("//"):
        raise ConfigError(
            f"mathjax_path = {path!r} points at a remote URL; the book must use "
            f"the local copy. Set `sphinx: config: mathjax_path: {TARGET}/tex-chtml.js` "
            "in book/_config.yml."
        )


def _check_source(app):
    if app.builder.format != "html":
        return
    src = mathjax_source()
    if not (src / "tex-chtml.js").is_file():
        raise ExtensionError(missing_message(src))


def _copy(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    src = mathjax_source()
    dest = Path(app.outdir) / "_static" / TARGET
    shutil.copytree(src, dest, dirs_exist_ok=True)


def setup(app):
    # Load MathJax on every page, not only on pages whose body has math: the
    # navigation sidebar shows chapter titles with math on every page.
    app.set_html_assets_policy("always")
    app.connect("config-inited", _check_config)
    app.connect("builder-inited", _check_source)
    app.connect("build-finished", _copy)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
