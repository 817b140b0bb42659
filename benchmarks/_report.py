"""The results table (an aligned Markdown table) and the JSON results file."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import losskit as lk

from ._suite import Row
from ._timing import Settings

TIMES = ("native/call", "losskit/call", "extra/call", "ratio")
HEADER = ("suite", "loss", "size", "native", "checks", *TIMES)
RIGHT_ALIGNED = set(TIMES)


def duration(seconds: float) -> str:
    """A per-call time in the unit that reads best (us or ms)."""
    if abs(seconds) < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e3:.2f} ms"


def _cells(row: Row) -> tuple[str, ...]:
    t = row.timing
    return (
        row.suite,
        row.loss,
        row.size,
        row.native,
        row.validation,
        duration(t.native_s),
        duration(t.losskit_s),
        duration(t.losskit_s - t.native_s),
        f"{t.ratio:.2f}",
    )


def table(rows: Sequence[Row]) -> str:
    """An aligned Markdown table of the rows."""
    body = [_cells(row) for row in rows]
    widths = [max(len(line[i]) for line in [HEADER, *body]) for i in range(len(HEADER))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.rjust(w) if name in RIGHT_ALIGNED else cell.ljust(w)
            for name, cell, w in zip(HEADER, cells, widths, strict=True)
        )
        return "| " + " | ".join(padded) + " |"

    dashes = (
        "-" * (w + 1) + ":" if name in RIGHT_ALIGNED else "-" * (w + 2)
        for name, w in zip(HEADER, widths, strict=True)
    )
    rule = "|" + "|".join(dashes) + "|"
    return "\n".join([line(HEADER), rule, *(line(cells) for cells in body)])


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, where the system reports them."""
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def busy_warning(load: list[float] | None) -> str | None:
    """A warning when other processes already keep the CPUs busy (timings will be noisy)."""
    cores = os.cpu_count() or 1
    if load is None or load[0] <= 0.5 * cores:
        return None
    return (
        f"warning: 1-minute load average {load[0]} on {cores} CPUs; other processes compete "
        "for the cores and the timings (multi-threaded kernels above all) will be noisy"
    )


def metadata(
    settings: Settings, quick: bool, versions: dict[str, str], load: dict[str, Any]
) -> dict[str, Any]:
    """Where and how the numbers were taken."""
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "losskit": lk.__version__,
        "quick": quick,
        "settings": asdict(settings),
        "versions": versions,
        "load_average": load,
    }


def _flat(row: Row) -> dict[str, Any]:
    """A row as one flat JSON object (times in seconds per call)."""
    out = asdict(row)
    timing = out.pop("timing")
    return out | timing | {"extra_s": row.timing.losskit_s - row.timing.native_s}


def write_json(
    path: Path, rows: Sequence[Row], skipped: dict[str, str], meta: dict[str, Any]
) -> None:
    """Write the rows (times in seconds) with the metadata and the skipped suites."""
    results = [_flat(row) for row in rows]
    document = {"meta": meta, "rows": results, "skipped": skipped}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
