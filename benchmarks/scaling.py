"""Scaling: time and extra peak memory of forward + backward against problem size (torch, CPU).

    python -m benchmarks.scaling [--quick] [--plot docs/scaling.png] [--json PATH]

Two families of rows, losskit with its default value checks against the plain torch form:

* **core losses** over N input elements, N from 32 to 4M: MSE and binary CE from logits on
  ``(N,)``, sparse CE from logits on ``(N / 1000, 1000)`` (1000 classes, so its N starts at
  1000);
* **large vocabulary**: ``linear_cross_entropy(hidden, weight, targets)`` against
  ``F.cross_entropy(F.linear(hidden, weight), targets)`` at fixed 2048 tokens × 32 hidden (four
  of losskit's default 512-token chunks), the vocabulary V from 1k to 256k.

**Time** per call is the median of alternating (native, losskit) samples (``_timing.compare``;
for the large vocabulary, whose calls take seconds, three alternating single calls).
**Memory** is the extra peak resident memory of one step over what the process holds before it,
inputs excluded (``VmHWM`` after resetting it with ``/proc/self/clear_refs``; Linux only, like
``linear_ce``): it counts every byte the step touches. Below a few hundred KiB it reads the
allocator's arenas rather than the step (glibc serves small blocks from memory it already holds),
so only the large sizes are meaningful. The **slope** is the least-squares fit of
``log(time)`` (or ``log(memory)``) on ``log(size)`` over the sizes of at least 64k, where the
fixed per-call cost no longer dominates: 1 is linear cost.

``cases(quick)`` gives the ``python -m benchmarks`` suite the time ratios of the core losses at
a few sizes (only N = 32 and 4096 in the smoke run).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ._suite import ON, Case
from ._timing import Settings, Step, Timing, compare, per_call
from .linear_ce import _release_free_memory, _status
from .linear_ce import torch_step as linear_step

SIZES = (32, 256, 2048, 16384, 131072, 1048576, 4194304)
CLASSES = 1000
VOCABULARIES = (1024, 4096, 16384, 65536, 262144)
TOKENS, HIDDEN = 2048, 32
SUITE_SIZES = (32, 16384, 1048576, 4194304)
QUICK_SIZES = (32, 4096)
FIT_FROM = 65536
TIMING = Settings(repeats=5, warmup=1, sample_s=0.02)
CORE = ("MSE", "binary CE (logits)", "sparse CE (logits)")
NATIVE = {
    "MSE": "F.mse_loss",
    "binary CE (logits)": "F.binary_cross_entropy_with_logits",
    "sparse CE (logits)": "F.cross_entropy",
}


# ---------------------------------------------------------------------- the steps
def _core_step(loss: str, size: int, ours: bool) -> Step:
    """One forward + backward of ``loss`` on ``size`` elements; returns (loss, gradient)."""
    import torch
    import torch.nn.functional as F

    import losskit as lk

    gen = torch.Generator().manual_seed(0)
    if loss == "sparse CE (logits)":
        x = torch.randn(size // CLASSES, CLASSES, generator=gen).requires_grad_(True)
        y: Any = torch.randint(0, CLASSES, (size // CLASSES,), generator=gen)
        fn: Callable[[Any, Any], Any] = (
            (lambda x, y: lk.sparse_categorical_crossentropy(y, x, from_logits=True))
            if ours
            else F.cross_entropy
        )
    elif loss == "binary CE (logits)":
        x = torch.randn(size, generator=gen).requires_grad_(True)
        y = (torch.rand(size, generator=gen) < 0.5).float()
        fn = (
            (lambda x, y: lk.binary_crossentropy(y, x, from_logits=True))
            if ours
            else F.binary_cross_entropy_with_logits
        )
    else:
        x = torch.randn(size, generator=gen).requires_grad_(True)
        y = torch.randn(size, generator=gen)
        fn = (lambda x, y: lk.mean_squared_error(y, x)) if ours else F.mse_loss

    def step() -> tuple[Any, Any]:
        value = fn(x, y)
        return value, torch.autograd.grad(value, x)

    return step


def _sizes(loss: str, sizes: Sequence[int]) -> list[int]:
    """The sizes a loss runs at: sparse CE needs whole rows of 1000 classes."""
    if loss != "sparse CE (logits)":
        return list(sizes)
    return sorted({max(1, s // CLASSES) * CLASSES for s in sizes if s >= CLASSES // 2})


def _steps(family: str, loss: str, size: int) -> tuple[Step, Step]:
    """(native, losskit) steps of one row."""
    if family == "linear CE":
        shape = (TOKENS, size, HIDDEN)
        return linear_step("plain", shape), linear_step("losskit", shape)
    return _core_step(loss, size, ours=False), _core_step(loss, size, ours=True)


# ---------------------------------------------------------------------- measuring
def extra_peak_bytes(step: Step) -> int:
    """The extra peak resident bytes of one call of ``step`` (already warmed up)."""
    _release_free_memory()
    before = _status()["VmRSS"]
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")  # reset VmHWM to the current VmRSS
    result = step()
    peak = _status()["VmHWM"]
    del result
    return max(0, peak - before)


def _single_calls(native: Step, losskit: Step, repeats: int = 3) -> Timing:
    """One warm-up call each, then ``repeats`` alternating pairs of single calls."""
    native()
    losskit()
    pairs = [(per_call(native, 1), per_call(losskit, 1)) for _ in range(repeats)]
    native_times, losskit_times = zip(*pairs, strict=True)
    return Timing(
        native_s=statistics.median(native_times),
        losskit_s=statistics.median(losskit_times),
        ratio=statistics.median(b / a for a, b in pairs),
        repeats=repeats,
        number=1,
        native_samples=native_times,
        losskit_samples=losskit_times,
    )


def measure(family: str, loss: str, size: int, settings: Settings) -> dict[str, Any]:
    """Time and memory of one row, native and losskit."""
    native, ours = _steps(family, loss, size)
    timing = (
        _single_calls(native, ours) if family == "linear CE" else compare(native, ours, settings)
    )
    row = {
        "family": family,
        "loss": loss,
        "size": size,
        "native_s": timing.native_s,
        "losskit_s": timing.losskit_s,
        "ratio": timing.ratio,
        "native_bytes": extra_peak_bytes(native),
        "losskit_bytes": extra_peak_bytes(ours),
    }
    del native, ours
    gc.collect()
    return row


def plan(
    quick: bool, families: Sequence[str] = ("core", "linear CE")
) -> list[tuple[str, str, int]]:
    """(family, loss, size) of every row."""
    sizes = QUICK_SIZES if quick else SIZES
    rows = []
    if "core" in families:
        rows += [("core", loss, size) for loss in CORE for size in _sizes(loss, sizes)]
    if "linear CE" in families:
        vocabularies = VOCABULARIES[:1] if quick else VOCABULARIES
        rows += [("linear CE", "linear_cross_entropy", v) for v in vocabularies]
    return rows


def slope(sizes: Sequence[int], values: Sequence[float]) -> float | None:
    """Least-squares slope of log(value) on log(size), over sizes ≥ ``FIT_FROM``."""
    points = [
        (math.log(s), math.log(v)) for s, v in zip(sizes, values, strict=True) if s >= FIT_FROM
    ]
    points = [p for p in points if math.isfinite(p[1])]
    if len(points) < 2:
        return None
    mx = sum(p[0] for p in points) / len(points)
    my = sum(p[1] for p in points) / len(points)
    sxx = sum((p[0] - mx) ** 2 for p in points)
    return sum((p[0] - mx) * (p[1] - my) for p in points) / sxx


def slopes(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Fitted slopes of time and memory, per loss and side."""
    out: dict[str, dict[str, float | None]] = {}
    for loss in dict.fromkeys(r["loss"] for r in rows):
        mine = [r for r in rows if r["loss"] == loss]
        sizes = [r["size"] for r in mine]
        out[loss] = {
            f"{side}_{what}": slope(sizes, [max(r[f"{side}_{what}"], 1e-30) for r in mine])
            for side in ("native", "losskit")
            for what in ("s", "bytes")
        }
    return out


# ---------------------------------------------------------------------- reporting
def _size(n: int) -> str:
    for unit, scale in (("M", 1 << 20), ("k", 1 << 10)):
        if n >= scale and n % (scale // 4) == 0:
            return f"{n / scale:g}{unit}"
    return str(n)


def _time(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f}"


def table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of the rows: per-call time, ns per element, extra peak MiB."""
    head = (
        "| loss | size | native | losskit | ratio | losskit ns/elem | native MiB | losskit MiB |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        elements = r["size"] * (TOKENS if r["family"] == "linear CE" else 1)
        size = f"V={_size(r['size'])}" if r["family"] == "linear CE" else f"N={_size(r['size'])}"
        lines.append(
            f"| {r['loss']} | {size} | {_time(r['native_s'])} | {_time(r['losskit_s'])} | "
            f"{r['ratio']:.2f} | {r['losskit_s'] / elements * 1e9:.2f} | "
            f"{_mib(r['native_bytes'])} | {_mib(r['losskit_bytes'])} |"
        )
    return "\n".join(lines)


def slope_table(fits: dict[str, dict[str, float | None]]) -> str:
    """The fitted slopes (sizes ≥ 64k) as a Markdown table."""

    def cell(x: float | None) -> str:
        return "—" if x is None else f"{x:.2f}"

    lines = [
        "| loss | time slope native | time slope losskit | memory slope native | "
        "memory slope losskit |",
        "|---|---:|---:|---:|---:|",
    ]
    for loss, f in fits.items():
        lines.append(
            f"| {loss} | {cell(f['native_s'])} | {cell(f['losskit_s'])} | "
            f"{cell(f['native_bytes'])} | {cell(f['losskit_bytes'])} |"
        )
    return "\n".join(lines)


def plot(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Log-log time and memory against size, one line per (loss, side)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for column, family in enumerate(("core", "linear CE")):
        mine = [r for r in rows if r["family"] == family]
        for loss in dict.fromkeys(r["loss"] for r in mine):
            pts = [r for r in mine if r["loss"] == loss]
            sizes = [r["size"] for r in pts]
            for side, style in (("native", "--"), ("losskit", "-")):
                name = "torch" if side == "native" else "losskit"
                tag = f"{loss} ({name})"
                axes[0][column].plot(
                    sizes, [r[f"{side}_s"] for r in pts], style, marker="o", label=tag
                )
                memory = [max(r[f"{side}_bytes"], 4096) / (1 << 20) for r in pts]
                axes[1][column].plot(sizes, memory, style, marker="o", label=tag)
        xlabel = "elements N" if family == "core" else f"vocabulary V ({TOKENS} tokens × {HIDDEN})"
        for row, ylabel in ((0, "seconds per forward+backward"), (1, "extra peak memory (MiB)")):
            ax = axes[row][column]
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle("losskit scaling on CPU (torch): time and memory against size")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------- entry points
def run(
    quick: bool, settings: Settings = TIMING, families: Sequence[str] = ("core", "linear CE")
) -> list[dict[str, Any]]:
    """Measure every row of :func:`plan`, printing progress to stderr."""
    rows = []
    for family, loss, size in plan(quick, families):
        row = measure(family, loss, size, settings)
        rows.append(row)
        print(
            f"  {loss:22} {size:>8}  native {_time(row['native_s']):>10}  "
            f"losskit {_time(row['losskit_s']):>10}  ratio {row['ratio']:.2f}  "
            f"MiB {_mib(row['native_bytes'])}/{_mib(row['losskit_bytes'])}",
            file=sys.stderr,
            flush=True,
        )
    return rows


def cases(quick: bool) -> Iterator[Case]:
    """The core losses' time ratios for ``python -m benchmarks`` (checks on)."""
    for loss in CORE:
        for size in _sizes(loss, QUICK_SIZES if quick else SUITE_SIZES):
            native, ours = _steps("core", loss, size)
            yield Case("scaling", loss, f"N={size}", NATIVE[loss], ON, native, ours, float)


def versions() -> dict[str, str]:
    """Library versions for the results file."""
    import torch

    return {"torch": torch.__version__}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scaling rows, print the tables, write the JSON and (optionally) the plot."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="two small sizes only")
    parser.add_argument("--plot", type=Path, help="write the log-log plot here (PNG)")
    parser.add_argument("--json", type=Path, default=Path("scaling-results.json"))
    parser.add_argument(
        "--only", default="core,linear CE", help="families to run (default: %(default)s)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads (default: torch's). On a loaded machine 1 thread avoids waiting "
        "for a starved second worker, which shows as a step where torch starts to parallelise",
    )
    args = parser.parse_args(argv)
    import os

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    load = os.getloadavg()
    rows = run(args.quick, families=args.only.split(","))
    fits = slopes(rows)
    print(table(rows))
    print()
    print(slope_table(fits))
    print(f"\nload average at start {load[0]:.2f}, at end {os.getloadavg()[0]:.2f}")
    args.json.write_text(json.dumps({"rows": rows, "slopes": fits}, indent=1), encoding="utf-8")
    if args.plot is not None:
        plot(rows, args.plot)
        print(f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
