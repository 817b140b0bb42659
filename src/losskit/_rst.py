"""The reStructuredText that docstrings use, rewritten for places that do not render it: plain
text for the terminal (``losskit info``) and Markdown with ``$...$`` mathematics (the catalogue
page). Only the markup losskit's docstrings contain: ``.. math::`` blocks, the ``:math:`` role,
cross-reference roles (``:func:``, ``:class:``, ...) and double-backquoted literals.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_MATH_BLOCK = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<first>.*)$")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_XREF_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|data|mod|obj|exc):`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def _math_blocks(text: str, render: Callable[[list[str], str], list[str]]) -> str:
    """Replace each ``.. math::`` block (its first line and the indented lines that follow) by
    ``render(formula_lines, indent)``'s lines."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _MATH_BLOCK.match(lines[i])
        if match is None:
            out.append(lines[i])
            i += 1
            continue
        indent = match.group("indent")
        formula = [match.group("first").strip()] if match.group("first").strip() else []
        i += 1
        while i < len(lines) and lines[i].strip() and _deeper(lines[i], indent):
            formula.append(lines[i].strip())
            i += 1
        out += render(formula, indent)
    return "\n".join(out)


def _deeper(line: str, indent: str) -> bool:
    return len(line) - len(line.lstrip()) > len(indent)


_TEX_SYMBOLS = {
    "ell": "ℓ",
    "sum": "Σ",
    "prod": "Π",
    "sigma": "σ",
    "beta": "β",
    "gamma": "γ",
    "delta": "δ",
    "lambda": "λ",
    "tau": "τ",
    "varepsilon": "ε",
    "epsilon": "ε",
    "alpha": "α",
    "mu": "μ",
    "in": "∈",
    "notin": "∉",
    "setminus": "∖",
    "cdot": "·",
    "ne": "≠",
    "le": "≤",
    "ge": "≥",
    "top": "ᵀ",
    "lVert": "‖",
    "rVert": "‖",
    "lfloor": "⌊",
    "rfloor": "⌋",
    "infty": "∞",
    "quad": "   ",
    "qquad": "    ",
    "sqrt": "√",
}
_TEX_DROPPED = ("left", "right", "big", "Big", "bigl", "bigr", "Bigl", "Bigr", "mathcal")
_ACCENTS = {"hat": "\u0302", "bar": "\u0304", "tilde": "\u0303"}  # combining marks
_TEX_ACCENT = re.compile(r"\\(hat|bar|tilde)(?:\{(\w)\}|\s*(\w))")
_TEX_TEXT = re.compile(r"\\(?:mathrm|operatorname|text|texttt|mathbf)\{([^{}]*)\}")
_TEX_FRAC = re.compile(r"\\t?frac\{([^{}]*)\}\{([^{}]*)\}")
_TEX_COMMAND = re.compile(r"\\([A-Za-z]+)")


_TEX_QUOTED = re.compile(r"``([^`']+)''")
_TEX_LITERAL = re.compile(r"``([^`']+)``")


def tidy_tex(formula: str) -> str:
    """TeX that MathJax renders as written: LaTeX quotes (````nrg''``) as typographic ones and a
    reStructuredText literal inside a formula as ``\\texttt``."""
    formula = _TEX_QUOTED.sub(r"“\1”", formula)
    return _TEX_LITERAL.sub(r"\\texttt{\1}", formula)


def _tex_to_text(formula: str) -> str:
    """A TeX formula made readable in a terminal: Greek letters and operators as Unicode,
    ``\\frac{a}{b}`` as ``(a)/(b)``, spacing and sizing commands dropped; the rest kept."""
    formula = tidy_tex(formula)
    formula = re.sub(r"\\begin\{\w+\}", "{ ", formula)
    formula = re.sub(r"\\end\{\w+\}", " }", formula)
    formula = formula.replace("\\\\", " ; ").replace("&", " ")
    formula = _TEX_TEXT.sub(r"\1", formula)
    formula = re.sub(r"\\t?frac(\w)(\w)", r"\1/\2", formula)
    formula = _TEX_ACCENT.sub(lambda m: (m.group(2) or m.group(3)) + _ACCENTS[m.group(1)], formula)
    formula = _TEX_FRAC.sub(lambda m: f"{_group(m.group(1))}/{_group(m.group(2))}", formula)
    formula = re.sub(r"\\[,;! ]", " ", formula)

    def command(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _TEX_SYMBOLS:
            symbol = _TEX_SYMBOLS[name]
            before = match.string[match.start() - 1] if match.start() else " "
            return f" {symbol}" if name in ("sum", "prod") and before not in " ({[" else symbol
        return "" if name in _TEX_DROPPED else name

    return _TEX_COMMAND.sub(command, formula)


def _group(text: str) -> str:
    return text if re.fullmatch(r"[\w.]+", text) else f"({text})"


def to_text(text: str) -> str:
    """Docstring markup as plain text for a terminal: a displayed formula on its own lines,
    indented, without the directive; roles and literals as their bare content."""

    def block(formula: list[str], indent: str) -> list[str]:
        return [f"{indent}    {_tex_to_text(line)}" for line in formula]

    text = _math_blocks(text, block)
    text = _MATH_ROLE.sub(lambda m: _tex_to_text(m.group(1)), text)
    text = _XREF_ROLE.sub(r"\1", text)
    return _LITERAL.sub(r"\1", text)


def to_markdown(text: str) -> str:
    """Docstring markup as Markdown: ``$...$`` for inline mathematics, ``$$...$$`` for a
    displayed formula, backquoted code for roles and literals."""

    def block(formula: list[str], indent: str) -> list[str]:
        return [f"{indent}$${tidy_tex(' '.join(formula))}$$"]

    text = _math_blocks(text, block)
    text = _MATH_ROLE.sub(lambda m: f"${tidy_tex(m.group(1))}$", text)
    text = _XREF_ROLE.sub(r"`\1`", text)
    return _LITERAL.sub(r"`\1`", text)
