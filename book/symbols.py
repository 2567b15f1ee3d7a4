"""Which symbols a page's math uses, and which the notation table defines.

One notation for the book and the code: every symbol in a chapter's math must
be in ``refimpl.notation.NOTATION``, and no symbol may be defined twice on a
page (tests/test_notation.py). This module turns LaTeX into *symbols*:

* a symbol is a Latin letter (``Q``), a Greek letter or ``\\ell``
  (``\\Psi``), or a calligraphic / fraktur letter (``\\mathcal{P}``);
* accents do not make a new symbol: ``\\hat\\beta``, ``\\tilde B_i`` and
  ``\\bar n`` are ``\\beta``, ``B`` and ``n`` (an estimate, a transformed
  statistic, a common value);
* subscripts and superscripts are indices or exponents and are dropped
  (``E_k`` is ``E``, ``\\sigma^2`` is ``\\sigma``), except the *labels* in
  :data:`LABELS`, which name a different object (``\\Psi_{re}``, ``k_{vc}``,
  ``b_{ols}``);
* text is not math: ``\\text{...}``, ``\\operatorname{...}``,
  ``\\mathrm{...}`` (SSE, AIC, df), ``\\texttt{...}`` (code names such as
  ``qf``), ``\\mathbb E`` (expectation) and **bold** letters, which the book
  uses only for placeholders in a generic identity (``\\mathbf u'V^{-1}\\mathbf v``),
  are skipped.

The notation table's own ``symbol`` strings are parsed the same way, so a
table entry ``r"y_i,\\ X_i,\\ Z_i"`` defines ``y``, ``X`` and ``Z``.
"""

from __future__ import annotations

import re
from pathlib import Path

GREEK = set("""alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa
lambda mu nu xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega
Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega ell""".split())

#: Subscripts that name a different object rather than index one.
LABELS = {"re", "vc", "ols", "cask", "big", "small"}

#: Letters that are operators, not symbols: the differential d.
OPERATORS = {"d"}

_CODE = re.compile(r"```\{code-cell\}.*?\n```|```(?!\{).*?\n```|`[^`\n]*`", re.S)
# inline math may run over a line break, never over a blank line (a new paragraph)
_MATH = re.compile(r"\$\$(.+?)\$\$|\$((?:[^$\n]|\n(?![ \t]*\n))+?)\$", re.S)
_TEXT_CMDS = ("operatorname", "text", "mathrm", "texttt", "textrm", "textit", "mathbf",
              "boldsymbol", "label", "tag")


def math_spans(markdown: str) -> list[str]:
    """The TeX of every ``$...$`` and ``$$...$$`` outside code cells and code spans."""
    text = _CODE.sub(" ", markdown)
    return [m.group(1) or m.group(2) for m in _MATH.finditer(text)]


def _strip_scripts(tex: str) -> str:
    """Replace sub/superscripts by a space, keeping label subscripts as ``@label``."""
    out, i = [], 0
    while i < len(tex):
        c = tex[i]
        if c not in "_^":
            out.append(c)
            i += 1
            continue
        j = i + 1
        while j < len(tex) and tex[j] == " ":
            j += 1
        if j < len(tex) and tex[j] == "{":
            depth, k = 0, j
            while k < len(tex):
                depth += {"{": 1, "}": -1}.get(tex[k], 0)
                if depth == 0:
                    break
                k += 1
            content, i = tex[j + 1:k], k + 1
        elif j < len(tex) and tex[j] == "\\":
            m = re.match(r"\\[A-Za-z]+", tex[j:])
            content = m.group(0) if m else tex[j:j + 1]
            i = j + len(content)
        else:
            content, i = tex[j:j + 1], j + 1
        out.append("@" + content.strip() if c == "_" and content.strip() in LABELS else " ")
    return "".join(out)


def symbols(tex: str) -> list[str]:
    """The symbols of one TeX fragment, in order, e.g. ``['\\Psi_{re}', 'L']``."""
    t = tex
    for cmd in _TEXT_CMDS:
        t = re.sub(r"\\" + cmd + r"\*?\s*\{[^{}]*\}", " ", t)
        t = re.sub(r"\\" + cmd + r"\s+[A-Za-z0-9]", " ", t)
    t = re.sub(r"\\(begin|end)\{[^{}]*\}", " ", t)
    t = re.sub(r"\\mathbb\s*\{?[A-Za-z]\}?", " ", t)
    t = re.sub(r"\\math(cal|frak)\s*\{?([A-Za-z])\}?", r"\\MATH\1\2 ", t)
    t = _strip_scripts(t)
    found = []
    pattern = r"\\MATH(cal|frak)([A-Za-z])|\\([A-Za-z]+)(@\w+)?|([A-Za-z])(@\w+)?"
    for m in re.finditer(pattern, t):
        if m.group(2):
            found.append(rf"\math{m.group(1)}{{{m.group(2)}}}")
        elif m.group(3):
            if m.group(3) in GREEK:
                found.append("\\" + m.group(3) + (f"_{{{m.group(4)[1:]}}}" if m.group(4) else ""))
        elif m.group(5) not in OPERATORS:
            found.append(m.group(5) + (f"_{{{m.group(6)[1:]}}}" if m.group(6) else ""))
    return found


def page_symbols(path: Path) -> set[str]:
    """Every symbol used in the math of one book page."""
    return {s for span in math_spans(Path(path).read_text(encoding="utf-8")) for s in symbols(span)}
