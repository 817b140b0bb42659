"""Generate docs/catalogue.md from the loss registry (never edit that page by hand).

python scripts/catalogue.py            # print the page
python scripts/catalogue.py --write    # rewrite docs/catalogue.md
python scripts/catalogue.py --check    # exit 1 if docs/catalogue.md is out of date
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

import losskit as lk

PAGE = Path(__file__).resolve().parent.parent / "docs" / "catalogue.md"
CONTRACT = {"y_true", "y_pred", "sample_weight", "mask", "reduction", "normalizer"}


def summary(function: object) -> str:
    """The first sentence of a docstring, on one line."""
    doc = inspect.getdoc(function) or ""
    first = doc.split("\n\n")[0].replace("\n", " ").strip()
    return first.replace("|", "\\|")


def parameters(function: object) -> str:
    found = []
    for p in inspect.signature(function).parameters.values():  # type: ignore[arg-type]
        if p.name in CONTRACT:
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
        "`(y_true, y_pred, *, ...)` plus the reduction contract's `sample_weight=None`,",
        "`mask=None`, `reduction='mean'` and `normalizer=None`.",
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
            "| loss | aliases | kind | task | domain | parameters |"
            " properties | summary | references |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for info in families[family]:
            aliases = ", ".join(f"`{a}`" for a in info.aliases) or "—"
            refs = "; ".join(info.references).replace("|", "\\|") or "—"
            lines.append(
                f"| `{info.name}` | {aliases} | {info.kind} | {info.task} | {info.domain} | "
                f"{parameters(info.function)} | {properties(info)} | {summary(info.function)} | "
                f"{refs} |"
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
