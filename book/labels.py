"""Where each equation is implemented: scan code for ``(eq:NAME)`` citations.

The code cites the book by stable labels, e.g. ``# (eq:profiled-reml)``; the
book defines them with ``$$ ... $$ (eq:profiled-reml)`` or a ``(eq:name)=``
target. One grep finds both; this module does the grep properly:

- :func:`code_citations` -- label -> [file:line] over ``refimpl/**/*.py``;
- :func:`book_definitions` -- label -> [page:line] over the book's ``*.md``;
- :func:`audit` -- labels cited in code but not defined in the book (a broken
  link: the test suite fails on these) and labels defined but never cited;
- :func:`markdown_report` -- the generated page "Where each equation is
  implemented" (rendered at build time by ``implementation.md``).

``python -m book.labels`` prints the audit and exits 1 on a broken link.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

BOOK_DIR = Path(__file__).resolve().parent
REPO_ROOT = BOOK_DIR.parent
CODE_PACKAGES = ("refimpl", "certified")

NAME = r"eq:[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?"
# A citation in code: "(eq:name)" anywhere on a line (comment or docstring).
CODE_CITE = re.compile(r"\((" + NAME + r")\)")
# Definitions in MyST: "$$ (eq:name)" closing a display, "(eq:name)=" target,
# or ":label: eq:name" in a {math} directive.
BOOK_DEFS = [
    re.compile(r"\$\$\s*\((" + NAME + r")\)\s*$"),
    re.compile(r"^\((" + NAME + r")\)=\s*$"),
    re.compile(r"^:label:\s*(" + NAME + r")\s*$"),
]
# Citations in the book: {eq}`eq:name` or {eq}`text <eq:name>`.
BOOK_CITE = re.compile(r"\{eq\}`(?:[^`<]*<)?(" + NAME + r")>?`")


@dataclass(frozen=True)
class Location:
    path: str  # relative to the repository root (code) or the book folder (pages)
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class Audit:
    code: dict[str, list[Location]]
    book: dict[str, list[Location]]
    cited_not_defined: list[str] = field(default_factory=list)
    defined_not_cited: list[str] = field(default_factory=list)
    defined_twice: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No label is cited in code without a definition in the book."""
        return not self.cited_not_defined and not self.defined_twice


def _scan(files, root: Path, patterns) -> dict[str, list[Location]]:
    found: dict[str, list[Location]] = {}
    for path in files:
        rel = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8", errors="replace")
        for lineno, line in enumerate(text.splitlines(), start=1):
            for pattern in patterns:
                for m in pattern.finditer(line):
                    found.setdefault(m.group(1), []).append(Location(rel, lineno))
    return dict(sorted(found.items()))


def code_files(root: Path = REPO_ROOT, packages=CODE_PACKAGES) -> list[Path]:
    files = []
    for pkg in packages:
        files += sorted((root / pkg).rglob("*.py"))
    return [f for f in files if "__pycache__" not in f.parts]


def book_pages(book_dir: Path = BOOK_DIR) -> list[Path]:
    return sorted(
        p for p in book_dir.glob("*.md") if p.name.lower() != "readme.md"
    )


def code_citations(root: Path = REPO_ROOT, packages=CODE_PACKAGES) -> dict[str, list[Location]]:
    """label -> locations of ``(eq:label)`` in ``<root>/<package>/**/*.py``."""
    return _scan(code_files(root, packages), root, [CODE_CITE])


def book_definitions(book_dir: Path = BOOK_DIR) -> dict[str, list[Location]]:
    """label -> pages (and lines) of the book that define it."""
    return _scan(book_pages(book_dir), book_dir, BOOK_DEFS)


def book_citations(book_dir: Path = BOOK_DIR) -> dict[str, list[Location]]:
    """label -> places in the book's text that cite it with {eq}."""
    return _scan(book_pages(book_dir), book_dir, [BOOK_CITE])


def audit(root: Path = REPO_ROOT, book_dir: Path = BOOK_DIR, packages=CODE_PACKAGES) -> Audit:
    code = code_citations(root, packages)
    book = book_definitions(book_dir)
    return Audit(
        code=code,
        book=book,
        cited_not_defined=sorted(set(code) - set(book)),
        defined_not_cited=sorted(set(book) - set(code)),
        defined_twice=sorted(k for k, v in book.items() if len(v) > 1),
    )


def _page_link(loc: Location) -> str:
    return f"[{loc.path}]({loc.path})"


def markdown_report(result: Audit | None = None) -> str:
    """The MyST text of the generated page (tables and the two lists)."""
    a = result if result is not None else audit()
    n_sites = sum(len(v) for v in a.code.values())
    out = [
        f"The book defines **{len(a.book)}** equation labels; the code in "
        f"`{', '.join(CODE_PACKAGES)}/` cites **{len(a.code)}** distinct labels "
        f"at **{n_sites}** places.",
        "",
    ]
    if a.cited_not_defined:
        out += [
            ":::{warning}",
            "Cited in code but **not defined in the book** (broken links; the test "
            "suite fails on these):",
            "",
        ]
        out += [f"- `{k}` at " + ", ".join(f"`{loc}`" for loc in a.code[k]) for k in a.cited_not_defined]
        out += [":::", ""]
    if a.defined_twice:
        out += [":::{warning}", "Defined more than once in the book:", ""]
        out += [f"- `{k}`: " + ", ".join(f"`{loc}`" for loc in a.book[k]) for k in a.defined_twice]
        out += [":::", ""]
    out += ["| equation | label | derived in | implemented at |", "|---|---|---|---|"]
    for label, locs in a.book.items():
        sites = a.code.get(label, [])
        where = "<br>".join(f"`{loc}`" for loc in sites) if sites else "*not cited in code*"
        out.append(f"| {{eq}}`{label}` | `{label}` | {_page_link(locs[0])} | {where} |")
    out.append("")
    if a.defined_not_cited:
        out += [
            "**Defined in the book, not (yet) cited in code:** "
            + ", ".join(f"`{k}`" for k in a.defined_not_cited) + ".",
            "",
        ]
    else:
        out += ["Every label defined in the book is cited somewhere in the code.", ""]
    if not a.cited_not_defined:
        out += ["Every label cited in the code is defined in the book.", ""]
    return "\n".join(out)


def main(argv=None) -> int:
    a = audit()
    print(f"book defines {len(a.book)} labels; code cites {len(a.code)}")
    for k in a.cited_not_defined:
        print(f"CITED NOT DEFINED {k}: " + ", ".join(map(str, a.code[k])))
    for k in a.defined_twice:
        print(f"DEFINED TWICE {k}: " + ", ".join(map(str, a.book[k])))
    for k in a.defined_not_cited:
        print(f"defined, not cited in code: {k} ({a.book[k][0]})")
    return 0 if a.ok else 1


if __name__ == "__main__":
    sys.exit(main())
