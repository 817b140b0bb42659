"""Command line: ``python -m benchmarks [--quick] [--json PATH] [--only torch,jax,tf]
[--device cpu|cuda]``.

Each framework's suite is imported on its own; a framework that is not installed is reported as
skipped and the other suites still run. ``--device cuda`` puts the torch suites' tensors on the
GPU; the JAX, TensorFlow and gradient-boosting suites are then reported as skipped (``CPU_ONLY``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ._device import DeviceUnavailable, check_device, describe, is_cpu, use_device
from ._report import busy_warning, duration, load_average, metadata, table, write_json
from ._suite import Row, run_case
from ._timing import Settings

SUITES = {
    "torch": "benchmarks.torch_losses",
    "torch_compile": "benchmarks.torch_compile",
    "metric_learning": "benchmarks.metric_learning",
    "self_supervised": "benchmarks.self_supervised",
    "transport": "benchmarks.transport",
    "jax": "benchmarks.jax_losses",
    "tf": "benchmarks.tf_losses",
    "segmentation": "benchmarks.segmentation",
    "image": "benchmarks.image",
    "linear_ce": "benchmarks.linear_ce",
    "linear_log_probs": "benchmarks.linear_log_probs",
    "linear_distill": "benchmarks.linear_distill",
    "llm": "benchmarks.llm_losses",
    "boost": "benchmarks.boost",
    "forecast": "benchmarks.forecast",
    "scaling": "benchmarks.scaling",
}
QUICK = Settings(repeats=2, warmup=1, sample_s=0.005)
#: Suites that run on the CPU only, with why: under ``--device cuda`` they are skipped. (The
#: torch rows of ``forecast``, ``linear_ce``, ``linear_log_probs`` and ``linear_distill`` follow
#: ``--device``; their JAX rows are left out there.)
CPU_ONLY = {
    "jax": "JAX picks its own device (a CUDA build of jaxlib); run it without --device",
    "tf": "TensorFlow picks its own device (a GPU build of TensorFlow); run it without --device",
    "boost": "XGBoost and LightGBM training runs on the CPU; run it without --device",
    "scaling": "it measures the resident memory (VmHWM) of CPU steps; run it without --device",
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Forward+backward time of losskit's losses relative to native ones "
        "(ratio = losskit / native; below 1 means losskit is faster).",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=Path("bench-results.json"),
        help="where to write the results (default: %(default)s)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke mode: tiny sizes, 2 repeats, 5 ms samples"
    )
    parser.add_argument(
        "--only",
        default=",".join(SUITES),
        help="comma-separated suites to run (default: %(default)s)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=Settings.repeats,
        help="timed pairs per case (default: %(default)s)",
    )
    parser.add_argument(
        "--sample-s",
        type=float,
        default=Settings.sample_s,
        help="target seconds per timed sample (default: %(default)s)",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="where the torch suites put their tensors: cpu or cuda (cuda:N) "
        "(default: %(default)s)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(SUITES)
    if unknown:
        parser.error(f"unknown suite(s) {sorted(unknown)}; choose from {sorted(SUITES)}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def run_suite(
    name: str,
    quick: bool,
    settings: Settings,
    versions: dict[str, str],
    failed: dict[str, str] | None = None,
) -> list[Row]:
    """Import one framework's suite and time its cases; raises ImportError if it is missing.

    On a GPU a case that fails (an operation the device lacks, a tensor left on the host, out of
    memory) is recorded in ``failed`` and the run goes on; on the CPU a failure stops the run.
    """
    module = importlib.import_module(SUITES[name])
    rows = []
    for case in module.cases(quick):
        try:
            row = run_case(case, settings)
        except Exception as exc:
            if failed is None or is_cpu(settings.device):
                raise
            key = f"{name}: {case.suite} / {case.loss} {case.size} checks {case.validation}"
            failed[key] = f"failed on {settings.device}: {type(exc).__name__}: {_first_line(exc)}"
            print(f"  {key}: {failed[key]}", file=sys.stderr, flush=True)
            continue
        rows.append(row)
        t = row.timing
        print(
            f"  {row.suite:15} {row.loss:20} checks {row.validation:6} "
            f"native {duration(t.native_s):>10}  losskit {duration(t.losskit_s):>10}  "
            f"ratio {t.ratio:.2f}",
            file=sys.stderr,
            flush=True,
        )
    versions.update(module.versions())
    return rows


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else ""


def run_all(
    names: Sequence[str], quick: bool, settings: Settings
) -> tuple[list[Row], dict[str, str], dict[str, str]]:
    """Run the named suites; returns the rows, the skipped suites (with why) and versions."""
    rows: list[Row] = []
    skipped: dict[str, str] = {}
    versions: dict[str, str] = {}
    for name in names:
        print(f"suite {name}", file=sys.stderr, flush=True)
        if name in CPU_ONLY and not is_cpu(settings.device):
            skipped[name] = f"CPU only: {CPU_ONLY[name]}"
            print(f"  skipped: {skipped[name]}", file=sys.stderr, flush=True)
            continue
        try:
            rows.extend(run_suite(name, quick, settings, versions, skipped))
        except ImportError as exc:
            skipped[name] = f"{type(exc).__name__}: {exc}"
            print(f"  skipped: {skipped[name]}", file=sys.stderr, flush=True)
    return rows, skipped, versions


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected suites, print the table and write the JSON file."""
    args = parse_args(argv)
    try:
        check_device(args.device)
    except DeviceUnavailable as exc:
        sys.exit(f"python -m benchmarks: error: {exc}")
    settings = QUICK if args.quick else Settings(repeats=args.repeats, sample_s=args.sample_s)
    settings = replace(settings, device=args.device)
    previous = use_device(args.device)
    try:
        run_and_report(args, settings)
    finally:
        use_device(previous)
    return 0


def run_and_report(args: argparse.Namespace, settings: Settings) -> None:
    """Run the suites, print the table and write the JSON file."""
    start, load = time.perf_counter(), {"start": load_average()}
    warning = busy_warning(load["start"])
    if warning:
        print(warning, file=sys.stderr, flush=True)
    rows, skipped, versions = run_all(args.only.split(","), args.quick, settings)
    load["end"] = load_average()
    print(table(rows) if rows else "no results")
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")
    print(
        f"\nratio = losskit / native (median of {settings.repeats} alternating pairs; "
        f"< 1 means losskit is faster); total {time.perf_counter() - start:.0f} s"
    )
    if warning:
        print(warning)
    device = describe(args.device)
    if not is_cpu(args.device):
        print(f"device {args.device}: {device['device_name']}")
    write_json(args.json, rows, skipped, metadata(settings, args.quick, versions, load) | device)
    print(f"results written to {args.json}")


if __name__ == "__main__":
    sys.exit(main())
