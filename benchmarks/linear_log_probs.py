"""Per-token target log-probabilities over a large vocabulary: extra peak memory and time.

    python -m benchmarks.linear_log_probs [--quick] [--only torch,jax] [--repeats 3]
                                          [--shapes NxVxd,...] [--json PATH]

Methods, on the same float32 inputs ``hidden (N, d)``, ``weight (V, d)``, ``targets (N,)``, each
one forward + backward (gradients of hidden and weight) of ``Σ cotangent·log p`` with a fixed
random per-token cotangent (the upstream gradient of a sequence loss such as DPO's):

* torch ``plain``: ``F.linear → log_softmax → gather``; torch ``losskit``:
  ``linear_log_probs(hidden, weight, targets)`` (default chunking);
* jax ``plain``: ``jax.nn.log_softmax(hidden @ weight.T)`` gathered, and jax ``losskit``, each as
  ``jax.jit(jax.grad(..., argnums=(0, 1)))`` with the value.

Memory and time are measured as in :mod:`benchmarks.linear_ce` (a fresh subprocess per method
and shape for the extra peak resident memory, ``VmHWM`` over ``VmRSS``, Linux only; rotating
rounds in one process for the time, ratios the median of per-round ratios).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ._device import is_cpu, to_device
from ._suite import OFF, TRACED, Case
from ._timing import Step
from .linear_ce import _release_free_memory, _status, label

Shape = tuple[int, int, int]
SHAPES: tuple[Shape, ...] = ((4096, 32768, 256),)
QUICK_SHAPES: tuple[Shape, ...] = ((1024, 4096, 64),)
METHODS = ("plain", "losskit")


# ---------------------------------------------------------------------- the steps
def torch_step(method: str, shape: Shape, seed: int = 0) -> Step:
    """One forward + backward of ``method`` on fresh float32 inputs; returns (value, grads)."""
    import torch
    import torch.nn.functional as F

    from losskit.losses._linear_logps import linear_log_probs

    n, v, d = shape
    gen = torch.Generator().manual_seed(seed)
    hidden = to_device(torch.randn(n, d, generator=gen)).requires_grad_(True)
    weight = to_device(torch.randn(v, d, generator=gen) / d**0.5).requires_grad_(True)
    targets = to_device(torch.randint(0, v, (n,), generator=gen))
    cotangent = to_device(torch.rand(n, generator=gen))

    def logps() -> Any:
        if method == "plain":
            return F.log_softmax(F.linear(hidden, weight), dim=-1).gather(1, targets[:, None])[:, 0]
        return linear_log_probs(hidden, weight, targets)

    def step() -> tuple[Any, Any]:
        value = torch.dot(logps(), cotangent)
        return value, torch.autograd.grad(value, (hidden, weight))

    return step


def _jax_program(method: str, shape: Shape, seed: int = 0) -> tuple[Any, tuple[Any, ...]]:
    import jax
    import jax.numpy as jnp

    from losskit.losses._linear_logps import linear_log_probs

    n, v, d = shape
    keys = jax.random.split(jax.random.key(seed), 4)
    hidden = jax.random.normal(keys[0], (n, d))
    weight = jax.random.normal(keys[1], (v, d)) / d**0.5
    targets = jax.random.randint(keys[2], (n,), 0, v)
    cotangent = jax.random.uniform(keys[3], (n,))

    def plain(h: Any, w: Any, y: Any, g: Any) -> Any:
        logp = jax.nn.log_softmax(h @ w.T, axis=-1)
        return jnp.dot(jnp.take_along_axis(logp, y[:, None], axis=1)[:, 0], g)

    def ours(h: Any, w: Any, y: Any, g: Any) -> Any:
        return jnp.dot(linear_log_probs(h, w, y), g)

    fn = plain if method == "plain" else ours
    program = jax.jit(jax.value_and_grad(fn, argnums=(0, 1)))
    return program, (hidden, weight, targets, cotangent)


def jax_step(method: str, shape: Shape, seed: int = 0) -> Step:
    """One compiled value-and-gradient call of ``method``, run to completion."""
    import jax

    compiled, args = _jax_program(method, shape, seed)

    def step() -> Any:
        return jax.block_until_ready(compiled(*args))

    return step


STEPS = {"torch": torch_step, "jax": jax_step}


# ---------------------------------------------------------------------- memory and time
def probe(framework: str, method: str, shape: Shape, bench: Any = None) -> dict[str, Any]:
    """In this (fresh) process: the extra peak resident bytes of one step of ``bench`` (a
    module with ``STEPS`` and, for JAX, ``_jax_program``; this one by default)."""
    bench = bench or sys.modules[__name__]
    step = bench.STEPS[framework](method, shape)
    step()  # warm-up
    _release_free_memory()
    before = _status()["VmRSS"]
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")  # reset VmHWM to the current VmRSS
    result = step()
    peak = _status()["VmHWM"]
    del result
    out: dict[str, Any] = {"extra_peak_bytes": peak - before}
    if framework == "jax":
        compiled, args = bench._jax_program(method, shape)
        analysis = compiled.lower(*args).compile().memory_analysis()
        out["xla_temp_bytes"] = None if analysis is None else int(analysis.temp_size_in_bytes)
    return out


def measure_memory(
    framework: str, method: str, shape: Shape, module: str = __name__
) -> dict[str, Any]:
    """:func:`probe` of the benchmark ``module`` in a fresh subprocess."""
    spec = f"{framework}:{method}:{'x'.join(map(str, shape))}"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-m", module, "--probe", spec],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory probe {spec} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure_time(
    framework: str, shape: Shape, repeats: int, bench: Any = None
) -> dict[str, dict[str, Any]]:
    """Median seconds per call of each method and the median per-round ratio to the other."""
    bench = bench or sys.modules[__name__]
    steps = {m: bench.STEPS[framework](m, shape) for m in METHODS}
    for step in steps.values():
        step()
    times: dict[str, list[float]] = {m: [] for m in METHODS}
    for round_ in range(repeats):
        for i in range(len(METHODS)):
            method = METHODS[(round_ + i) % len(METHODS)]
            gc.collect()
            start = time.perf_counter()
            steps[method]()
            times[method].append(time.perf_counter() - start)
    out: dict[str, dict[str, Any]] = {}
    for m in METHODS:
        out[m] = {"seconds": statistics.median(times[m]), "samples": times[m]}
        for other in METHODS:
            ratios = [a / b for a, b in zip(times[m], times[other], strict=True)]
            out[m][f"time_vs_{other}"] = statistics.median(ratios)
    return out


# ---------------------------------------------------------------------- the suite's cases
def _loss_value(result: Any) -> float:
    loss = result[0] if isinstance(result, tuple) else result
    loss = loss[0] if isinstance(loss, tuple) else loss
    return float(loss.detach()) if hasattr(loss, "detach") else float(loss)


def cases(quick: bool) -> Iterator[Case]:
    """Time-only cases for ``python -m benchmarks``: losskit against the plain path, torch
    eager and under ``jax.jit`` (the JAX row on the CPU only)."""
    shape = QUICK_SHAPES[0] if quick else SHAPES[0]
    size = "x".join(map(str, shape))
    natives = {"torch": "F.linear → log_softmax → gather", "jax": "jit(log_softmax → gather)"}
    for framework, name in natives.items():
        if framework == "jax" and not is_cpu():
            continue
        try:
            native, ours = STEPS[framework]("plain", shape), STEPS[framework]("losskit", shape)
        except ImportError:
            continue
        suite = "torch eager" if framework == "torch" else "jax jit"
        validation = OFF if framework == "torch" else TRACED
        yield Case(suite, "linear log-probs", size, name, validation, native, ours, _loss_value)


def versions() -> dict[str, str]:
    """Library versions (and torch's thread count) for the results file."""
    out = {}
    if "torch" in sys.modules:
        out["torch_threads"] = str(sys.modules["torch"].get_num_threads())
    for name in ("torch", "jax"):
        with contextlib.suppress(ImportError):
            out[name] = __import__(name).__version__
    return out


# ---------------------------------------------------------------------- command line
def run(
    frameworks: Sequence[str], shapes: Sequence[Shape], repeats: int, bench: Any = None
) -> list[dict[str, Any]]:
    """Memory (subprocesses) and time (this process) of both methods at every shape."""
    bench = bench or sys.modules[__name__]
    rows = []
    for framework in frameworks:
        for shape in shapes:
            print(f"{framework} {label(shape)}: memory", file=sys.stderr, flush=True)
            name = _module_name(bench)
            memory = {m: measure_memory(framework, m, shape, name) for m in METHODS}
            print(f"{framework} {label(shape)}: time", file=sys.stderr, flush=True)
            timing = measure_time(framework, shape, repeats, bench)
            for method in METHODS:
                row = {"framework": framework, "shape": list(shape), "method": method}
                row |= memory[method] | timing[method]
                base = memory["plain"]["extra_peak_bytes"]
                row["memory_vs_plain"] = memory[method]["extra_peak_bytes"] / base
                rows.append(row)
    return rows


def table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of the rows, with the ratios to the plain path."""
    lines = [
        "| framework | shape | method | extra peak | XLA temp | memory / plain | time | "
        "time / plain |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        temp = r.get("xla_temp_bytes")
        temp_text = "—" if temp is None else f"{temp / 2**20:.0f} MiB"
        lines.append(
            f"| {r['framework']} | {label(tuple(r['shape']))} | {r['method']} | "
            f"{r['extra_peak_bytes'] / 2**20:.0f} MiB | {temp_text} | "
            f"{r['memory_vs_plain']:.3f} | {r['seconds']:.3f} s | {r['time_vs_plain']:.2f} |"
        )
    return "\n".join(lines)


def _shape(text: str) -> Shape:
    n, v, d = (int(x) for x in text.split("x"))
    return n, v, d


def _module_name(bench: Any) -> str:
    """The importable name of a benchmark module (also when it runs as ``__main__``)."""
    spec = getattr(bench, "__spec__", None)
    return spec.name if spec is not None else str(bench.__name__)


def parse_args(argv: Sequence[str] | None, bench: Any = None) -> argparse.Namespace:
    """The command-line options."""
    bench = bench or sys.modules[__name__]
    name = _module_name(bench)
    parser = argparse.ArgumentParser(prog=f"python -m {name}", description=bench.__doc__)
    parser.add_argument("--quick", action="store_true", help=f"only the shape {QUICK_SHAPES[0]}")
    parser.add_argument("--only", default="torch,jax", help="frameworks (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (default: 3)")
    parser.add_argument("--shapes", help="override, e.g. 4096x32768x256")
    default_json = f"bench-{name.rsplit('.', 1)[-1].replace('_', '-')}.json"
    parser.add_argument("--json", type=Path, default=Path(default_json))
    parser.add_argument("--probe", help=argparse.SUPPRESS)  # framework:method:NxVxd (internal)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, bench: Any = None) -> int:
    """Run the benchmark ``bench`` (this module by default), print the table and write the
    JSON file."""
    bench = bench or sys.modules[__name__]
    args = parse_args(argv, bench)
    if args.probe:
        framework, method, shape = args.probe.split(":")
        print(json.dumps(probe(framework, method, _shape(shape), bench)))
        return 0
    if args.shapes:
        shapes: Sequence[Shape] = [_shape(s) for s in args.shapes.split(",")]
    else:
        shapes = QUICK_SHAPES if args.quick else SHAPES
    frameworks = [f for f in args.only.split(",") if f]
    load = os.getloadavg()
    rows = run(frameworks, shapes, args.repeats, bench)
    print(table(rows))
    print(f"\nload average at start {load}, at end {os.getloadavg()} ({os.cpu_count()} CPUs)")
    document = {"rows": rows, "versions": versions(), "load_average": [load, os.getloadavg()]}
    args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
