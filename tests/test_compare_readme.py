"""The README's ``losskit compare`` table is what a fresh run prints.

``scripts/compare_table.py`` generates the table (``--write README.md``); this test reruns the
same deterministic run (PyTorch, CPU, one thread, deterministic algorithms) and checks every
number in the README against the fresh, unrounded value: it must be that value rounded as
printed (within half a unit of the last printed digit), nothing looser.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NUMBER = re.compile(r"^([+-]?\d+(?:\.(\d+))?)(?: ± (\d+(?:\.(\d+))?))?$")

pytest.importorskip("sklearn")
pytest.importorskip("torch")


def _script():
    spec = importlib.util.spec_from_file_location(
        "compare_table", ROOT / "scripts" / "compare_table.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_table(text: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the first Markdown table in ``text``."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    cells = [
        [c.strip().replace("\\|", "|") for c in line.strip("|").split(" | ")] for line in lines
    ]
    return cells[0], cells[2:]


def printed_as(value: float, text: str) -> bool:
    """Whether ``text`` (``d.ddd``) is ``value`` rounded to the printed decimals."""
    decimals = len(text.partition(".")[2])
    return abs(value - float(text)) <= 0.5 * 10.0**-decimals * (1 + 1e-9) + 1e-12


def check_cell(cell: str, mean: float, std: float | None, where: str) -> list[str]:
    match = NUMBER.match(cell)
    if match is None:
        return [f"{where}: cannot read {cell!r}"]
    problems = []
    if not printed_as(mean, match.group(1)):
        problems.append(f"{where}: README {match.group(1)}, fresh {mean:.6g}")
    if std is not None and (match.group(3) is None or not printed_as(std, match.group(3))):
        problems.append(f"{where} (std): README {match.group(3)}, fresh {std:.6g}")
    return problems


def test_parse_and_rounding_rules():
    header, rows = parse_table("| loss | a |\n|:---|---:|\n| x | 96.7 ± 0.5 |\n")
    assert header == ["loss", "a"] and rows == [["x", "96.7 ± 0.5"]]
    assert printed_as(96.74, "96.7") and printed_as(96.65, "96.7")
    assert not printed_as(96.76, "96.7") and not printed_as(1.74, "1.8")
    assert check_cell("+18.9 ± 1.2", 18.94, 1.16, "x") == []
    assert check_cell("1.8 ± 0.2", 1.7, 0.2, "brier ECE") == ["brier ECE: README 1.8, fresh 1.7"]


@pytest.mark.slow
def test_readme_compare_table_is_fresh():
    from losskit import _compare

    script = _script()
    result = script.comparison()
    header, rows = parse_table(script.block(ROOT / "README.md"))
    fresh_header, fresh_rows = parse_table(script.table(result))
    assert header == fresh_header, "regenerate: python scripts/compare_table.py --write README.md"
    assert [r[0] for r in rows] == [r[0] for r in fresh_rows]
    problems = []
    metrics = _compare.metric_columns(result)
    several = len(result.seeds) > 1
    for row, cells in zip(result.rows, rows, strict=True):
        for metric, cell in zip(metrics, cells[1:], strict=True):
            mean, std = row.summary(metric)
            factor = _compare.COLUMNS[metric][2]
            where = f"{row.spec.label} {metric}"
            problems += check_cell(cell, factor * mean, factor * std if several else None, where)
    assert not problems, (
        "the README's compare table is stale (python scripts/compare_table.py --write "
        "README.md):\n" + "\n".join(problems)
    )
    assert (
        script.table(result).splitlines()[-3:] == script.block(ROOT / "README.md").splitlines()[-3:]
    )
