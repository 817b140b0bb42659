"""Generate docs/catalogue.md from the loss registry (never edit that page by hand).

python scripts/catalogue.py            # print the page
python scripts/catalogue.py --write    # rewrite docs/catalogue.md
python scripts/catalogue.py --check    # exit 1 if docs/catalogue.md is out of date
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path

import losskit as lk
from losskit._rst import tidy_tex, to_markdown

PAGE = Path(__file__).resolve().parent.parent / "docs" / "catalogue.md"
CONTRACT = {"sample_weight", "mask", "reduction", "normalizer"}
POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def summary(function: object) -> str:
    """The first sentence of a docstring, on one line."""
    doc = inspect.getdoc(function) or ""
    first = doc.split("\n\n")[0].replace("\n", " ").strip()
    return to_markdown(first).replace("|", "\\|")


def formula(function: object) -> str:
    """The docstring's first displayed formula (``.. math::``), else its first inline one."""
    doc = inspect.getdoc(function) or ""
    block = re.search(r"\.\. math::\s*(.+?)(?:\n\s*\n|\Z)", doc, flags=re.S)
    inline = re.search(r":math:`([^`]+)`", doc)
    text = block.group(1) if block else inline.group(1) if inline else ""
    text = tidy_tex(" ".join(text.split())).replace("|", "\\|")
    return f"${text}$" if text else "—"


def inputs(function: object) -> str:
    """The loss's positional inputs, in order."""
    found = [p for p in inspect.signature(function).parameters.values() if p.kind in POSITIONAL]  # type: ignore[arg-type]
    return ", ".join(f"`{p.name}`" for p in found)


def parameters(function: object) -> str:
    found = []
    for p in inspect.signature(function).parameters.values():  # type: ignore[arg-type]
        if p.name in CONTRACT or p.kind in POSITIONAL:
            continue
        default = "" if p.default is inspect.Parameter.empty else f"={p.default!r}"
        found.append(f"`{p.name}{default}`")
    return ", ".join(found) or "—"


def properties(info: lk.LossInfo) -> str:
    shown = [f"{k}: {v}" for k, v in sorted(info.properties.items())]
    return "; ".join(shown) or "—"


def render() -> str:
    lines = [
        "# Loss catalogue",
        "",
        "Generated from the registry by `python scripts/catalogue.py --write`. Every loss takes",
        "its inputs positionally (most take `(y_true, y_pred)`), its parameters as keywords, and",
        "the reduction contract's `sample_weight=None`, `mask=None`, `reduction='mean'` and",
        "`normalizer=None`. The references name the paper and the anchor implementations the",
        "loss is tested against; the docstrings (`help(lk.<name>)`) say how anchors differ and",
        "which option reproduces each.",
        "",
    ]
    families: dict[str, list[lk.LossInfo]] = {}
    for name in lk.names():
        info = lk.info(name)
        families.setdefault(info.family, []).append(info)
    lines.append(f"{len(lk.names())} losses.")
    for family in sorted(families):
        lines += [
            "",
            f"## {family}",
            "",
            "| loss | aliases | inputs | parameters | formula | summary | kind | task | domain |"
            " properties | references |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for info in families[family]:
            aliases = ", ".join(f"`{a}`" for a in info.aliases) or "—"
            refs = "; ".join(info.references).replace("|", "\\|") or "—"
            lines.append(
                f"| `{info.name}` | {aliases} | {inputs(info.function)} | "
                f"{parameters(info.function)} | {formula(info.function)} | "
                f"{summary(info.function)} | {info.kind} | {info.task} | {info.domain} | "
                f"{properties(info)} | {refs} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite docs/catalogue.md")
    parser.add_argument("--check", action="store_true", help="fail if docs/catalogue.md is stale")
    args = parser.parse_args()
    page = render()
    if args.write:
        PAGE.write_text(page, encoding="utf-8")
    elif args.check:
        if not PAGE.exists() or PAGE.read_text(encoding="utf-8") != page:
            print("docs/catalogue.md is out of date: run python scripts/catalogue.py --write")
            return 1
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
