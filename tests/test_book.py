"""The book: it builds strictly, serves MathJax locally, and its labels match the code.

* ``@pytest.mark.book`` tests build the whole book once per session (every page
  executed, warnings are errors; about a minute) into a temporary directory.
  A page whose check cell fails makes the build, and so these tests, fail.
* The label tests need no build: every ``(eq:name)`` cited in ``refimpl/``
  must be defined in the book (``book/labels.py``), and the labels the code
  was written against must exist.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

# `book` is not an installed package (pyproject lists refimpl and validation):
# import it from this checkout.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from book import build as book_build  # noqa: E402
from book import labels  # noqa: E402

BOOK_DIR = Path(book_build.__file__).resolve().parent

#: The labels the code was written against (the brief of the book); more may exist.
REQUIRED_LABELS = """
eq:model eq:marginal eq:psi eq:lambda eq:param-user eq:param-profile eq:param-sqrt
eq:jac-sqrt eq:C eq:woodbury eq:det-lemma eq:suffstats eq:ols-centering eq:gls-beta
eq:quad-form eq:profiled-sigma2 eq:profiled-ml eq:profiled-reml eq:full-ml eq:full-reml
eq:score-psi eq:score-profile eq:score-sqrt eq:score-full eq:hess-logdet eq:hess-quad
eq:hess-profile eq:hess-sqrt eq:hess-full eq:richardson eq:blup eq:blup-cov
eq:em-update eq:newton-step eq:vc-padding
""".split()

#: Pages that derive something and so must end with a checking cell.
DERIVATION_PAGES = [
    "model", "parameterizations", "likelihood", "profiling", "woodbury", "score",
    "hessian", "gradcheck", "em", "optimizers", "blups", "variance_components", "boundary",
    "shrinkage", "centring", "diagnostics", "prediction", "crossed",
]

#: Chapters that end with a "## Exercises" section (2-4 exercises, each with an
#: executed solution that asserts its answer).
EXERCISE_PAGES = [
    "model", "parameterizations", "likelihood", "profiling", "woodbury", "score",
    "hessian", "gradcheck", "em", "optimizers", "centring", "variance_components",
    "blups", "shrinkage", "diagnostics", "anova", "certified",
    "prediction", "boundary", "crossed", "intervals",
]

CODE_CELL = re.compile(r"```\{code-cell\}[^\n]*\n(.*?)\n```", re.S)
EXERCISE = re.compile(r"```\{exercise\}[^\n]*\n:label: (\S+)")
CAPTION = re.compile(r"\n\*What to see:.*\Z", re.S)
SOLUTION = re.compile(r"````\{solution-start\} (\S+)\n(.*?)````\{solution-end\}", re.S)


def split_exercises(text):
    """(derivation, exercises): the page before and after its "## Exercises" heading."""
    head, sep, tail = text.partition("\n## Exercises\n")
    return head, tail if sep else ""


# --------------------------------------------------------------------------
# Labels (no build needed)
# --------------------------------------------------------------------------

def test_every_label_cited_in_code_is_defined_in_the_book():
    a = labels.audit()
    broken = {k: [str(loc) for loc in a.code[k]] for k in a.cited_not_defined}
    assert not broken, (
        f"refimpl cites equation labels the book does not define: {broken}. "
        "Define them in a book page ($$ ... $$ (eq:name)) or fix the comment.")
    assert not a.defined_twice, f"labels defined on more than one page: {a.defined_twice}"


def test_required_labels_are_defined():
    missing = sorted(set(REQUIRED_LABELS) - set(labels.book_definitions()))
    assert not missing, f"the book no longer defines {missing}; the code cites these names"


def test_label_scanner_finds_both_kinds_of_mismatch(tmp_path):
    code, book = tmp_path / "refimpl", tmp_path / "book"
    code.mkdir()
    book.mkdir()
    (code / "a.py").write_text("x = 1  # (eq:alpha)\n\n# (eq:beta), (eq:gamma)\n")
    (book / "p.md").write_text("$$\nx\n$$ (eq:alpha)\n\n(eq:delta)=\n\nsee {eq}`eq:alpha`\n")
    (book / "q.md").write_text("$$ y $$ (eq:beta)\n$$ z $$ (eq:beta)\n")
    a = labels.audit(root=tmp_path, book_dir=book)
    assert [str(loc) for loc in a.code["eq:alpha"]] == ["refimpl/a.py:1"]
    assert [str(loc) for loc in a.code["eq:gamma"]] == ["refimpl/a.py:3"]
    assert a.cited_not_defined == ["eq:gamma"]
    assert a.defined_not_cited == ["eq:delta"]
    assert a.defined_twice == ["eq:beta"]
    assert not a.ok
    assert "eq:gamma" in labels.markdown_report(a)
    assert labels.book_citations(book)["eq:alpha"][0].line == 7


def test_every_derivation_page_ends_with_an_asserting_cell():
    """The derivation ends with its check cell; exercises may follow it."""
    for page in DERIVATION_PAGES:
        text, _ = split_exercises((BOOK_DIR / f"{page}.md").read_text())
        text = CAPTION.sub("", text.rstrip())          # a figure's one-line caption may follow
        cells = CODE_CELL.findall(text)
        assert cells, f"book/{page}.md has no code cell"
        assert "assert" in cells[-1], f"the last cell of book/{page}.md checks nothing"
        assert text.rstrip().endswith("```"), f"book/{page}.md does not end with its check cell"


def exercises_of(text):
    """{label: solution code cells} for the exercises section of a page."""
    _, tail = split_exercises(text)
    solutions = {label: CODE_CELL.findall(body) for label, body in SOLUTION.findall(tail)}
    return {label: solutions.get(label) for label in EXERCISE.findall(tail)}


def test_chapters_end_with_exercises_whose_solutions_assert():
    for page in EXERCISE_PAGES:
        found = exercises_of((BOOK_DIR / f"{page}.md").read_text())
        assert 2 <= len(found) <= 4, f"book/{page}.md has {len(found)} exercises, not 2-4"
        for label, cells in found.items():
            assert label.startswith(f"ex-"), f"{page}: exercise label {label!r} should start with 'ex-'"
            assert cells, f"{page}: exercise {label} has no solution with a code cell"
            assert any("assert" in c for c in cells), f"{page}: the solution of {label} asserts nothing"


def test_exercise_scanner_sees_a_missing_solution():
    page = ("intro\n\n## Exercises\n\n```{exercise} A\n:label: ex-a\n\nDo it.\n```\n\n"
            "````{solution-start} ex-a\n:class: dropdown\n````\n\n```{code-cell} ipython3\nassert 1\n```\n\n"
            "````{solution-end}\n````\n\n```{exercise} B\n:label: ex-b\n\nAnd this.\n```\n")
    assert exercises_of(page) == {"ex-a": ["assert 1"], "ex-b": None}


def test_exercise_labels_are_unique():
    seen = {}
    for path in sorted(BOOK_DIR.glob("*.md")):
        for label in EXERCISE.findall(path.read_text()):
            assert label not in seen, f"exercise label {label} on {seen.get(label)} and {path.name}"
            seen[label] = path.name


def test_build_environment_drops_what_an_embedded_r_added(monkeypatch):
    """After rpy2 starts R in-process, jupyter-book must not inherit R's settings
    (they break its theme step); without an embedded R nothing is touched."""
    from validation import rbridge

    plain = {"PATH": "/usr/bin", "EDITOR": "vi", "LD_LIBRARY_PATH": "/opt/lib"}
    monkeypatch.setitem(rbridge._state, "env_changes", {})
    assert rbridge.environment_before_r(plain) == plain
    r_added = dict(R_HOME="/usr/lib/R", R_SESSION_TMPDIR="/tmp/Rtmp1", R_PAPERSIZE="a4",
                   _R_CHECK_X_="1", PYTHON_SESSION_INITIALIZED="pid=1", SED="/bin/sed",
                   LD_LIBRARY_PATH="/usr/lib/R/lib:/opt/lib")
    embedded = dict(plain, **r_added)
    for name, value in r_added.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(rbridge._state, "env_changes",
                        {name: plain.get(name) for name in r_added})
    env = rbridge.environment_before_r(embedded)
    assert not [k for k in env if k.startswith(("R_", "_R_"))]
    assert "PYTHON_SESSION_INITIALIZED" not in env and "SED" not in env
    assert env["LD_LIBRARY_PATH"] == "/opt/lib" and env["PATH"] == "/usr/bin"


def test_missing_mathjax_gives_the_fix(tmp_path):
    with pytest.raises(book_build.BuildError, match="make setup"):
        book_build.check_mathjax(tmp_path / "no-such-es5")


# --------------------------------------------------------------------------
# The build
# --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def built_html(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    try:
        return book_build.build(out=out, quiet=True)
    except book_build.BuildError as err:
        pytest.fail(f"the book did not build: {err}", pytrace=False)


@pytest.mark.book
def test_book_builds_every_page(built_html):
    assert (built_html / "index.html").is_file()
    toc = "\n".join(line for line in (BOOK_DIR / "_toc.yml").read_text().splitlines()
                     if not line.lstrip().startswith("#"))          # commented: pages to come
    pages = re.findall(r"(?:root|file):\s*(\S+)", toc)
    missing = [p for p in pages if not (built_html / f"{p}.html").is_file()]
    assert not missing, f"pages in _toc.yml without HTML output: {missing}"


@pytest.mark.book
def test_no_page_references_a_mathjax_cdn(built_html):
    assert book_build.cdn_references(built_html) == []
    local = built_html / "_static" / "mathjax" / "tex-chtml.js"
    assert local.is_file(), "the local MathJax was not copied into _static/mathjax"
    with_math = 0
    for page in built_html.glob("*.html"):
        text = page.read_text(encoding="utf-8", errors="replace")
        if 'class="math' in text:
            with_math += 1
            assert '_static/mathjax/tex-chtml.js' in text, f"{page.name} has math but no local MathJax"
    assert with_math >= 10


@pytest.mark.book
def test_implementation_map_lists_code_locations(built_html):
    text = (built_html / "implementation.html").read_text(encoding="utf-8")
    assert "refimpl/likelihood.py:" in text
    assert "eq:profiled-reml" in text


@pytest.mark.book
def test_pages_with_plots_show_their_figures(built_html):
    # A headless MPLBACKEND inherited by the kernels once made every figure vanish.
    for page, figures in {"gradcheck": 1, "em": 1, "optimizers": 2, "boundary": 1, "likelihood": 1,
                          "shrinkage": 2, "centring": 1, "diagnostics": 2}.items():
        text = (built_html / f"{page}.html").read_text(encoding="utf-8")
        assert text.count("<img") >= figures, f"{page}.html lost a figure"


@pytest.mark.book
def test_exercises_are_rendered_with_collapsed_solutions(built_html):
    for page in EXERCISE_PAGES:
        text = (built_html / f"{page}.html").read_text(encoding="utf-8")
        assert text.count('class="exercise admonition"') >= 2, f"{page}.html lost its exercises"
        assert 'class="solution dropdown admonition"' in text, f"{page}.html shows no collapsed solution"
