"""One notation: every symbol in a chapter's math is in the notation table, once.

The table is ``refimpl.notation.NOTATION`` (book/notation.md renders it);
``book/symbols.py`` says what a symbol is. An entry with ``pages`` defines its
symbols on those pages only.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from book.symbols import math_spans, page_symbols, symbols  # noqa: E402
from refimpl.notation import NOTATION  # noqa: E402

BOOK = ROOT / "book"
PAGES = sorted(p for p in BOOK.glob("*.md") if p.stem != "README")


def definitions(table=NOTATION):
    """symbol -> list of (entry index, pages or None for everywhere)."""
    defs = defaultdict(list)
    for k, entry in enumerate(table):
        scope = set(entry["pages"].split()) if entry.get("pages") else None
        for s in set(symbols(entry["symbol"])):
            defs[s].append((k, scope))
    return defs


def applying(defs, symbol, page):
    return [k for k, scope in defs.get(symbol, []) if scope is None or page in scope]


def undefined_symbols(pages=PAGES, table=NOTATION):
    defs = definitions(table)
    return {p.stem: sorted(s for s in page_symbols(p) if not applying(defs, s, p.stem))
            for p in pages if any(not applying(defs, s, p.stem) for s in page_symbols(p))}


def doubly_defined(pages=PAGES, table=NOTATION):
    defs = definitions(table)
    twice = {s: [table[k]["symbol"] for k, scope in d if scope is None]
             for s, d in defs.items() if sum(scope is None for _, scope in d) > 1}
    for p in pages:
        for s in defs:
            if len(applying(defs, s, p.stem)) > 1:
                twice.setdefault(s, [table[k]["symbol"] for k in applying(defs, s, p.stem)])
    return twice


def test_every_symbol_in_the_book_is_in_the_notation_table():
    missing = undefined_symbols()
    assert not missing, (
        f"symbols used in a chapter's math but missing from refimpl/notation.py: {missing}. "
        "Add an entry (symbol, code, statsmodels, meaning), or rename the symbol to one the table has.")


def test_no_symbol_is_defined_twice():
    twice = doubly_defined()
    assert not twice, f"symbols with more than one meaning in refimpl/notation.py: {twice}"


def test_every_entry_is_complete():
    for entry in NOTATION:
        assert {"symbol", "code", "statsmodels", "meaning"} <= set(entry), entry
        assert symbols(entry["symbol"]), f"entry defines no symbol: {entry['symbol']!r}"
        assert entry["meaning"].strip(), entry


def test_the_symbol_parser():
    assert symbols(r"\hat\Psi_{re} + \tilde B_i'C_i^{-1}\sigma^2") == [r"\Psi_{re}", "B", "C", r"\sigma"]
    assert symbols(r"\mathbf u'V^{-1}\mathbf v + \mathbb E[b] + \text{const} + \mathrm{SSE}") == ["V", "b"]
    assert symbols(r"\mathcal P(\mathbf F,\mathbf H)_{kl} + d\hat\beta/d\theta") == [r"\mathcal{P}", r"\beta", r"\theta"]
    assert math_spans("a $x$ b `$y$` c\n```{code-cell} ipython3\n$z$\n```\n$$\nQ\n$$") == ["x", "\nQ\n"]


def test_the_checks_catch_a_missing_and_a_doubled_symbol(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("Here $Y + \\beta$ and $t$.\n")
    table = [dict(symbol=r"\beta", code="", statsmodels="", meaning="one"),
             dict(symbol=r"t", code="", statsmodels="", meaning="local", pages="p"),
             dict(symbol=r"t", code="", statsmodels="", meaning="other page", pages="q")]
    assert undefined_symbols([page], table) == {"p": ["Y"]}
    assert doubly_defined([page], table) == {}
    table.append(dict(symbol=r"\beta,\ Y", code="", statsmodels="", meaning="again"))
    assert undefined_symbols([page], table) == {}
    assert set(doubly_defined([page], table)) == {r"\beta"}
    table.append(dict(symbol=r"t", code="", statsmodels="", meaning="global t"))
    assert set(doubly_defined([page], table)) == {r"\beta", "t"}
