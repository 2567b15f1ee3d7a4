"""Tables of ``validation/CONTRACT.md``, generated from the code.

The registry (:mod:`refimpl.cases`), the lme4 translation
(:func:`refimpl.lme4_formula.to_lme4`), the nlme translation
(``examples/nlme_adapter.py``), the dtypes an adapter receives
(``engines/plugin.py:AdapterCase``) and the gate
(``gate.CERTIFIED_GATE``) are the single sources; this module writes
them as Markdown between ``<!-- BEGIN name -->`` / ``<!-- END name -->``
markers.  ``python -m validation.contract --write`` rewrites the files;
tests/test_validation_contract.py fails when they are out of date.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

__all__ = ["model_table", "dtype_table", "gate_table", "render_into", "FILES"]

HERE = Path(__file__).resolve().parent
FILES = {"model-table": HERE / "CONTRACT.md", "dtype-table": HERE / "CONTRACT.md",
         "gate-table": HERE / "CONTRACT.md"}


def _models():
    from .cases import CASES

    seen = {}
    for name, case in CASES.items():
        seen.setdefault(case.model, (name, case))
    return seen


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a pipe would end the cell."""
    return str(text).replace("|", "\\|")


def model_table() -> str:
    """One row per model: statsmodels spec, lme4 formula, nlme random, result names."""
    from .examples.nlme_adapter import nlme_random
    from .record import Unsupported

    lines = ["| model | `re_formula` | `vc_formula` | lme4 formula | nlme `random` | "
             "`cov_re` names | `vcomp` names |", "|---|---|---|---|---|---|---|"]
    for model, (name, case) in _models().items():
        s = case.spec
        try:
            lme4 = case.lme4().formula
        except Exception as exc:  # noqa: BLE001
            lme4 = f"(none: {exc})"
        try:
            nl = nlme_random(s)[0]
        except Unsupported as exc:
            nl = f"unsupported: {exc}"
        terms = case.lme4()
        cov = [n for (kind, n) in terms.varcorr_map.values() if kind == "cov_re"]
        vc = list(s.get("vc_formula") or {})
        fmt = (lambda x: f"`{x}`" if x is not None else "`None`")
        vcf = ", ".join(f"`{k}: {v}`" for k, v in (s.get("vc_formula") or {}).items()) or "-"
        lines.append(f"| `{model}` | {fmt(s.get('re_formula'))} | {vcf} | `{_cell(lme4)}` | "
                     f"`{nl}` | {', '.join(dict.fromkeys(cov)) or '-'} | "
                     f"{', '.join(vc) or '-'} |")
    return "\n".join(lines)


def dtype_table() -> str:
    """Per model: the columns of ``case.data()`` as an adapter receives them, with dtypes."""
    from .engines.plugin import AdapterCase

    lines = ["| model | columns (dtype) | factor columns (always `str`) |", "|---|---|---|"]
    for model, (name, case) in _models().items():
        ac = AdapterCase(case)
        try:
            df = ac.data()
        except Exception as exc:  # noqa: BLE001
            lines.append(f"| `{model}` | (cannot load: {exc}) | |")
            continue
        cols = ", ".join(f"`{c}` ({'str' if df[c].dtype == object else df[c].dtype})"
                         for c in df.columns)
        lines.append(f"| `{model}` | {cols} | {', '.join(ac.factor_columns())} |")
    return "\n".join(lines)


def gate_table() -> str:
    """The certified-value gate: quantity, LRE needed, why."""
    from certified import CERTIFIED_LRE_MIN

    from .gate import CERTIFIED_GATE, CERTIFIED_GATED

    lines = ["| quantity | LRE needed | why |", "|---|---:|---|"]
    for kind, (need, why) in CERTIFIED_GATE.items():
        lines.append(f"| `{kind}` | {need:g} | {why} |")
    lines.append(f"\n{', '.join(CERTIFIED_GATED)} is held to LRE >= {CERTIFIED_LRE_MIN:g} on "
                 "every quantity of every certified case not on the boundary.")
    return "\n".join(lines)


_TABLES = {"model-table": model_table, "dtype-table": dtype_table, "gate-table": gate_table}


def render_into(text: str) -> str:
    """``text`` with every marked table replaced by its current rendering."""
    for name, fn in _TABLES.items():
        pat = re.compile(rf"(<!-- BEGIN {name} -->\n)(?:.*?\n)?(<!-- END {name} -->)", re.S)
        if pat.search(text):
            table = fn()
            text = pat.sub(lambda m: m.group(1) + table + "\n" + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    stale = []
    for path in dict.fromkeys(FILES.values()):
        old = path.read_text(encoding="utf-8")
        new = render_into(old)
        if new != old:
            stale.append(path)
            if "--write" in argv:
                path.write_text(new, encoding="utf-8")
    verb = "rewrote" if "--write" in argv else "out of date"
    for p in stale:
        print(f"{verb}: {p}")
    return 0 if ("--write" in argv or not stale) else 1


if __name__ == "__main__":
    sys.exit(main())
