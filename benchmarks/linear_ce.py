"""Large-vocabulary cross-entropy: extra peak memory and time of forward + backward.

    python -m benchmarks.linear_ce [--quick] [--only torch,jax] [--repeats 3] [--json PATH]
                                   [--options '{"z_loss": 1e-4, "softcap": 30.0}']

Methods, on the same float32 inputs ``hidden (N, d)``, ``weight (V, d)``, ``targets (N,)``:

* torch ``plain``: ``F.cross_entropy(F.linear(hidden, weight), targets)``;
* torch ``torch``: PyTorch's own ``F.linear_cross_entropy`` with
  ``nn.LinearCrossEntropyOptions(batch_chunk_size=1024)``;
* torch ``losskit``: ``linear_cross_entropy(hidden, weight, targets)`` (default chunking);
* jax ``plain``: ``optax.softmax_cross_entropy_with_integer_labels(hidden @ weight.T, targets)``
  averaged, and jax ``losskit``, each as ``jax.jit(jax.value_and_grad(..., argnums=(0, 1)))``.

``--options`` (a JSON object of ``label_smoothing``, ``z_loss``, ``softcap``) passes the loss's
options to every method that has them: losskit, and the plain paths written out (soft cap
``c·tanh(z / c)`` on the logits, ``label_smoothing`` of ``F.cross_entropy``/optax's smoothed
targets, ``+ z_loss·mean(logsumexp(z)²)``). PyTorch's own function has no z-loss or soft cap: it
is left out when either is set.

**Memory** is the extra peak resident memory of one forward + backward (gradients of hidden and
weight included, as they are in every method) over what the process holds before it. Each
(method, shape) runs in a fresh subprocess: it builds the inputs, runs one warm-up step (library
initialisation, thread pools, JIT compilation and first-touch of allocator arenas are not
counted), frees it, returns free heap pages to the system (``malloc_trim``), reads ``VmRSS``,
resets the kernel's high-water mark (``/proc/self/clear_refs``, Linux ≥ 4.0), runs one step and
reads ``VmHWM``. This counts every byte the step touches — framework temporaries, BLAS buffers,
allocator slack — not just tensors; it is Linux-only. For JAX the compiled program's own temp
buffer size (XLA's ``memory_analysis``) is reported as well.

**Time** is measured in one process per (framework, shape): after a warm-up call of each method,
``repeats`` rounds call every method once, in an order that rotates between rounds; a ratio is
the median over rounds of the per-round ratio, which cancels slow drifts of a shared machine.

``cases(quick)`` gives the ``python -m benchmarks`` suite the time comparisons at the first
shape (the second takes minutes per repeat; this command covers it).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
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

from ._suite import OFF, TRACED, Case
from ._timing import Step

Shape = tuple[int, int, int]
SHAPES: tuple[Shape, ...] = ((4096, 32768, 256), (8192, 65536, 512))
QUICK_SHAPES: tuple[Shape, ...] = ((1024, 8192, 128),)
METHODS = {"torch": ("plain", "torch", "losskit"), "jax": ("plain", "losskit")}
TORCH_CHUNK = 1024


def label(shape: Shape) -> str:
    """``(4096, 32768, 256)`` as ``"N=4096 V=32768 d=256"``."""
    return "N={} V={} d={}".format(*shape)


# ---------------------------------------------------------------------- the steps
Options = dict[str, Any]


def methods(framework: str, options: Options | None = None) -> tuple[str, ...]:
    """The methods compared for ``framework``; torch's own function only without the options
    it does not have (``z_loss``, ``softcap``)."""
    options = options or {}
    if options.get("z_loss") or options.get("softcap") is not None:
        return tuple(m for m in METHODS[framework] if m != "torch")
    return METHODS[framework]


def torch_step(method: str, shape: Shape, seed: int = 0, options: Options | None = None) -> Step:
    """One forward + backward of ``method`` on fresh float32 inputs; returns (loss, grads)."""
    import torch
    import torch.nn.functional as F

    from losskit.losses._linear import linear_cross_entropy

    n, v, d = shape
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, d, generator=gen).requires_grad_(True)
    weight = (torch.randn(v, d, generator=gen) / d**0.5).requires_grad_(True)
    targets = torch.randint(0, v, (n,), generator=gen)
    chunking = torch.nn.LinearCrossEntropyOptions(batch_chunk_size=TORCH_CHUNK)
    kw = dict(options or {})
    cap, z_loss, smoothing = kw.get("softcap"), kw.get("z_loss", 0.0), kw.get("label_smoothing", 0)

    def loss() -> Any:
        if method == "plain":
            z = F.linear(hidden, weight)
            if cap is not None:
                z = cap * torch.tanh(z / cap)
            value = F.cross_entropy(z, targets, label_smoothing=smoothing)
            return value + z_loss * torch.logsumexp(z, dim=-1).square().mean() if z_loss else value
        if method == "torch":
            return F.linear_cross_entropy(
                hidden, weight, targets, label_smoothing=smoothing, options=chunking
            )
        return linear_cross_entropy(hidden, weight, targets, **kw)

    def step() -> tuple[Any, Any]:
        value = loss()
        return value, torch.autograd.grad(value, (hidden, weight))

    return step


def _jax_program(
    method: str, shape: Shape, seed: int = 0, options: Options | None = None
) -> tuple[Any, tuple[Any, ...]]:
    import jax
    import jax.numpy as jnp
    import optax

    from losskit.losses._linear import linear_cross_entropy

    n, v, d = shape
    keys = jax.random.split(jax.random.key(seed), 3)
    hidden = jax.random.normal(keys[0], (n, d))
    weight = jax.random.normal(keys[1], (v, d)) / d**0.5
    targets = jax.random.randint(keys[2], (n,), 0, v)

    kw = dict(options or {})
    cap, z_loss, smoothing = kw.get("softcap"), kw.get("z_loss", 0.0), kw.get("label_smoothing", 0)

    def plain(h: Any, w: Any, y: Any) -> Any:
        z = h @ w.T
        if cap is not None:
            z = cap * jnp.tanh(z / cap)
        if smoothing:
            target = optax.smooth_labels(jax.nn.one_hot(y, v), smoothing)
            value = jnp.mean(optax.softmax_cross_entropy(z, target))
        else:
            value = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(z, y))
        lse = jax.nn.logsumexp(z, axis=-1)
        return value + z_loss * jnp.mean(lse * lse) if z_loss else value

    def ours(h: Any, w: Any, y: Any) -> Any:
        return linear_cross_entropy(h, w, y, **kw)

    fn = plain if method == "plain" else ours
    return jax.jit(jax.value_and_grad(fn, argnums=(0, 1))), (hidden, weight, targets)


def jax_step(method: str, shape: Shape, seed: int = 0, options: Options | None = None) -> Step:
    """One compiled value-and-gradient call of ``method``, run to completion."""
    import jax

    compiled, args = _jax_program(method, shape, seed, options)

    def step() -> Any:
        return jax.block_until_ready(compiled(*args))

    return step


STEPS = {"torch": torch_step, "jax": jax_step}


# ---------------------------------------------------------------------- memory
def _status() -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of this process, in bytes."""
    fields = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024
    return fields


def _release_free_memory() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def probe(
    framework: str, method: str, shape: Shape, options: Options | None = None
) -> dict[str, Any]:
    """In this (fresh) process: the extra peak resident bytes of one step (see the module doc)."""
    step = STEPS[framework](method, shape, options=options)
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
        out["xla_temp_bytes"] = _xla_temp_bytes(method, shape, options)
    return out


def _xla_temp_bytes(method: str, shape: Shape, options: Options | None = None) -> int | None:
    compiled, args = _jax_program(method, shape, options=options)
    analysis = compiled.lower(*args).compile().memory_analysis()
    return None if analysis is None else int(analysis.temp_size_in_bytes)


def measure_memory(
    framework: str, method: str, shape: Shape, options: Options | None = None
) -> dict[str, Any]:
    """:func:`probe` in a fresh subprocess."""
    spec = f"{framework}:{method}:{'x'.join(map(str, shape))}"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.linear_ce",
            "--probe",
            spec,
            "--options",
            json.dumps(options or {}),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory probe {spec} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------- time
def measure_time(
    framework: str, shape: Shape, repeats: int, options: Options | None = None
) -> dict[str, dict[str, Any]]:
    """Median seconds per call of each method, the median per-round ratios to the others, and
    the samples."""
    names = methods(framework, options)
    steps = {m: STEPS[framework](m, shape, options=options) for m in names}
    for step in steps.values():
        step()
    times: dict[str, list[float]] = {m: [] for m in names}
    for round_ in range(repeats):
        for i in range(len(names)):
            method = names[(round_ + i) % len(names)]
            gc.collect()
            start = time.perf_counter()
            steps[method]()
            times[method].append(time.perf_counter() - start)
    out: dict[str, dict[str, Any]] = {}
    for m in names:
        out[m] = {"seconds": statistics.median(times[m]), "samples": times[m]}
        for other in names:
            ratios = [a / b for a, b in zip(times[m], times[other], strict=True)]
            out[m][f"time_vs_{other}"] = statistics.median(ratios)
    return out


# ---------------------------------------------------------------------- the suite's cases
def _timed_pair(framework: str, shape: Shape, native: str) -> tuple[Step, Step]:
    return STEPS[framework](native, shape), STEPS[framework]("losskit", shape)


def _loss_value(result: Any) -> float:
    loss = result[0] if isinstance(result, tuple) else result
    loss = loss[0] if isinstance(loss, tuple) else loss
    return float(loss.detach()) if hasattr(loss, "detach") else float(loss)


def cases(quick: bool) -> Iterator[Case]:
    """Time-only cases for ``python -m benchmarks``: losskit against the plain path and against
    torch's own chunked function (torch eager), and against the plain path under ``jax.jit``."""
    shape = QUICK_SHAPES[0] if quick else SHAPES[0]
    size = "x".join(map(str, shape))
    natives = {
        ("torch", "plain"): "F.linear + F.cross_entropy",
        ("torch", "torch"): f"F.linear_cross_entropy(chunk {TORCH_CHUNK})",
        ("jax", "plain"): "jit(h @ w.T → optax CE)",
    }
    for (framework, native), name in natives.items():
        try:
            native_step, ours = _timed_pair(framework, shape, native)
        except ImportError:
            continue
        suite = "torch eager" if framework == "torch" else "jax jit"
        validation = OFF if framework == "torch" else TRACED
        yield Case(suite, "linear CE", size, name, validation, native_step, ours, _loss_value)


def versions() -> dict[str, str]:
    """Library versions (and torch's thread count) for the results file."""
    out = {}
    if "torch" in sys.modules:
        out["torch_threads"] = str(sys.modules["torch"].get_num_threads())
    for name in ("torch", "jax", "optax"):
        with contextlib.suppress(ImportError):
            out[name] = __import__(name).__version__
    return out


# ---------------------------------------------------------------------- command line
def run(
    frameworks: Sequence[str],
    shapes: Sequence[Shape],
    repeats: int,
    options: Options | None = None,
) -> list[dict[str, Any]]:
    """Memory (subprocesses) and time (this process) of every method at every shape."""
    rows = []
    for framework in frameworks:
        names = methods(framework, options)
        for shape in shapes:
            print(f"{framework} {label(shape)}: memory", file=sys.stderr, flush=True)
            memory = {m: measure_memory(framework, m, shape, options) for m in names}
            print(f"{framework} {label(shape)}: time", file=sys.stderr, flush=True)
            timing = measure_time(framework, shape, repeats, options)
            for method in names:
                row = {"framework": framework, "shape": list(shape), "method": method}
                row |= memory[method] | timing[method]
                for other in names:
                    base = memory[other]["extra_peak_bytes"]
                    row[f"memory_vs_{other}"] = memory[method]["extra_peak_bytes"] / base
                rows.append(row)
    return rows


def table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of the rows (ratios against the plain path and against torch's own)."""
    header = (
        "| framework | shape | method | extra peak | memory / plain | memory / torch | time | "
        "time / plain | time / torch |"
    )
    lines = [header, "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        mem_torch = f"{r['memory_vs_torch']:.3f}" if "memory_vs_torch" in r else "—"
        time_torch = f"{r['time_vs_torch']:.2f}" if "time_vs_torch" in r else "—"
        lines.append(
            f"| {r['framework']} | {label(tuple(r['shape']))} | {r['method']} | "
            f"{r['extra_peak_bytes'] / 2**20:.0f} MiB | {r['memory_vs_plain']:.3f} | "
            f"{mem_torch} | {r['seconds']:.2f} s | {r['time_vs_plain']:.2f} | {time_torch} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.linear_ce", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"only the shape {QUICK_SHAPES[0]}")
    parser.add_argument("--only", default="torch,jax", help="frameworks (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (default: 3)")
    parser.add_argument("--shapes", help="override, e.g. 4096x32768x256,8192x65536x512")
    parser.add_argument(
        "--threads", type=int, help="torch threads (default: torch's own); 1 resists load"
    )
    parser.add_argument("--json", type=Path, default=Path("bench-linear-ce.json"))
    parser.add_argument(
        "--options",
        type=json.loads,
        default={},
        help='the loss\'s options as JSON, e.g. \'{"z_loss": 1e-4, "softcap": 30.0}\'',
    )
    parser.add_argument("--probe", help=argparse.SUPPRESS)  # framework:method:NxVxd (internal)
    return parser.parse_args(argv)


def _shape(text: str) -> Shape:
    n, v, d = (int(x) for x in text.split("x"))
    return n, v, d


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table and write the JSON file."""
    args = parse_args(argv)
    if args.threads:  # before torch is imported here, and inherited by the probes
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
    if args.probe:
        framework, method, shape = args.probe.split(":")
        print(json.dumps(probe(framework, method, _shape(shape), args.options)))
        return 0
    if args.shapes:
        shapes: Sequence[Shape] = [_shape(s) for s in args.shapes.split(",")]
    else:
        shapes = QUICK_SHAPES if args.quick else SHAPES
    frameworks = [f for f in args.only.split(",") if f]
    load = os.getloadavg()
    rows = run(frameworks, shapes, args.repeats, args.options)
    print(table(rows))
    print(f"\nload average at start {load}, at end {os.getloadavg()} ({os.cpu_count()} CPUs)")
    document = {
        "rows": rows,
        "versions": versions(),
        "threads": args.threads,
        "options": args.options,
        "load_average": [load, os.getloadavg()],
    }
    args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
