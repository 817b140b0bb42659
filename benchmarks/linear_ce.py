"""Large-vocabulary cross-entropy: extra peak memory and time of forward + backward.

    python -m benchmarks.linear_ce [--quick] [--only torch,jax] [--repeats 3] [--json PATH]
                                   [--options '{"z_loss": 1e-4, "softcap": 30.0}']
                                   [--device cuda] [--dtypes bfloat16,float32]

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

**On a GPU** (``--device cuda``; torch only, the JAX rows are skipped): the inputs are drawn on
the device, in bfloat16 and in float32 (``--dtypes``), at language-model shapes (``GPU_SHAPES``:
8192 tokens, d = 4096, V = 32k, 128k and 256k), and every method runs on the same tensors.
Liger-Kernel's ``liger_fused_linear_cross_entropy`` (Triton) joins as method ``liger`` where
``liger_kernel`` imports (``.venv-vision``); it takes ``label_smoothing``, ``z_loss`` (as
``lse_square_scale``) and ``softcap`` too. Each method's loss must first agree with the plain
path's (relative 1e-3 in float32, 2e-2 in bfloat16). **Memory** there is the extra peak of the
CUDA caching allocator's allocated bytes during one step over what was allocated before it
(``torch.cuda.reset_peak_memory_stats`` / ``max_memory_allocated``), in this process: tensors
only, not the allocator's cached blocks. **Time** waits for the device
(``torch.cuda.synchronize()``) before and after each call. A method that disagrees, runs out of
GPU memory or fails is reported as skipped with why (table and JSON), and the others go on.

``cases(quick)`` gives the ``python -m benchmarks`` suite the time comparisons at the first
shape (the second takes minutes per repeat; this command covers it).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ._device import (
    DeviceUnavailable,
    check_device,
    describe,
    device,
    is_cpu,
    synchronizer,
    to_device,
    use_device,
)
from ._suite import OFF, TRACED, Case
from ._timing import Step, time_once

Shape = tuple[int, int, int]
SHAPES: tuple[Shape, ...] = ((4096, 32768, 256), (8192, 65536, 512))
QUICK_SHAPES: tuple[Shape, ...] = ((1024, 8192, 128),)
#: On a GPU: language-model shapes, 8192 tokens of a 4096-wide model, vocabularies of 32k, 128k
#: and 256k (the float32 plain path at 256k holds three or four 8 GiB logit-sized arrays at
#: once, about 30 GiB by estimate: it fits an 80 GB card).
GPU_SHAPES: tuple[Shape, ...] = ((8192, 32768, 4096), (8192, 131072, 4096), (8192, 262144, 4096))
GPU_QUICK_SHAPES: tuple[Shape, ...] = ((2048, 32768, 1024),)
GPU_DTYPES = ("bfloat16", "float32")
METHODS = {"torch": ("plain", "torch", "losskit"), "jax": ("plain", "losskit")}
#: On a GPU, Liger-Kernel's fused (Triton) linear cross-entropy too, where it imports.
GPU_METHODS = ("plain", "torch", "losskit", "liger")
TORCH_CHUNK = 1024
#: Relative tolerance of the loss values of the methods against the plain path, per dtype
#: (a bfloat16 loss of about log V ≈ 12 is rounded to 1/16 by the plain path).
AGREEMENT = {"float32": 1e-3, "bfloat16": 2e-2}


def label(shape: Shape) -> str:
    """``(4096, 32768, 256)`` as ``"N=4096 V=32768 d=256"``."""
    return "N={} V={} d={}".format(*shape)


# ---------------------------------------------------------------------- the steps
Options = dict[str, Any]


def unavailable(framework: str, options: Options | None = None) -> dict[str, str]:
    """The methods left out for ``framework`` here, with why: torch's own function without the
    options it does not have (``z_loss``, ``softcap``) or in a torch without it, Liger-Kernel
    where it does not import."""
    options = options or {}
    out: dict[str, str] = {}
    if framework != "torch":
        return out
    import torch.nn.functional as F

    if options.get("z_loss") or options.get("softcap") is not None:
        out["torch"] = "F.linear_cross_entropy has no z_loss or softcap"
    elif not hasattr(F, "linear_cross_entropy"):
        out["torch"] = "this torch has no F.linear_cross_entropy"
    if not is_cpu():
        try:
            _liger()
        except Exception as exc:  # ImportError, or triton failing to initialise
            out["liger"] = f"liger_kernel does not import ({type(exc).__name__}: {exc})"
    return out


def methods(framework: str, options: Options | None = None) -> tuple[str, ...]:
    """The methods compared for ``framework`` (see :func:`unavailable` for those left out)."""
    names = GPU_METHODS if framework == "torch" and not is_cpu() else METHODS[framework]
    missing = unavailable(framework, options)
    return tuple(m for m in names if m not in missing)


def torch_inputs(shape: Shape, seed: int = 0, dtype: str = "float32") -> tuple[Any, Any, Any]:
    """Seeded ``hidden (N, d)``, ``weight (V, d)`` (both requiring gradients) and ``targets``.

    They are drawn in float32 from a CPU generator and put on the device (``--device``), except
    on a GPU, where they are drawn there from the device's own generator (a 256k x 4096 weight
    would take seconds to draw on the CPU and copy); then cast to ``dtype``.
    """
    import torch

    n, v, d = shape
    if device().startswith("cuda"):
        gen = torch.Generator(device()).manual_seed(seed)
        hidden = torch.randn(n, d, generator=gen, device=device())
        weight = torch.randn(v, d, generator=gen, device=device()) / d**0.5
        targets = torch.randint(0, v, (n,), generator=gen, device=device())
    else:
        gen = torch.Generator().manual_seed(seed)
        hidden = to_device(torch.randn(n, d, generator=gen))
        weight = to_device(torch.randn(v, d, generator=gen) / d**0.5)
        targets = to_device(torch.randint(0, v, (n,), generator=gen))
    if dtype != "float32":
        hidden, weight = hidden.to(getattr(torch, dtype)), weight.to(getattr(torch, dtype))
    return hidden.requires_grad_(True), weight.requires_grad_(True), targets


def _liger() -> Any:
    """Liger-Kernel's fused linear cross-entropy (Triton, GPU only); ImportError without it."""
    from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy

    return liger_fused_linear_cross_entropy


def torch_step(
    method: str,
    shape: Shape,
    seed: int = 0,
    options: Options | None = None,
    dtype: str = "float32",
    inputs: tuple[Any, Any, Any] | None = None,
) -> Step:
    """One forward + backward of ``method`` on ``inputs`` (default: fresh ones of ``dtype``, see
    :func:`torch_inputs`); returns (loss, grads)."""
    import torch
    import torch.nn.functional as F

    from losskit.losses._linear import linear_cross_entropy

    hidden, weight, targets = inputs or torch_inputs(shape, seed, dtype)
    liger = _liger() if method == "liger" else None
    chunking = (
        torch.nn.LinearCrossEntropyOptions(batch_chunk_size=TORCH_CHUNK)
        if method == "torch"
        else None
    )
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
        if liger is not None:
            return liger(
                hidden,
                weight,
                targets,
                label_smoothing=smoothing,
                lse_square_scale=z_loss,
                softcap=cap,
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
    framework: str,
    shape: Shape,
    repeats: int,
    options: Options | None = None,
    steps: dict[str, Step] | None = None,
) -> dict[str, dict[str, Any]]:
    """Median seconds per call of each method, the median per-round ratios to the others, and
    the samples. On a GPU each call is timed until its last kernel has finished."""
    if steps is None:
        steps = {
            m: STEPS[framework](m, shape, options=options) for m in methods(framework, options)
        }
    names = tuple(steps)
    sync = synchronizer(device()) if framework == "torch" else None
    for step in steps.values():
        step()
    times: dict[str, list[float]] = {m: [] for m in names}
    for round_ in range(repeats):
        for i in range(len(names)):
            method = names[(round_ + i) % len(names)]
            gc.collect()
            times[method].append(time_once(steps[method], sync))
    out: dict[str, dict[str, Any]] = {}
    for m in names:
        out[m] = {"seconds": statistics.median(times[m]), "samples": times[m]}
        for other in names:
            ratios = [a / b for a, b in zip(times[m], times[other], strict=True)]
            out[m][f"time_vs_{other}"] = statistics.median(ratios)
    return out


# ---------------------------------------------------------------------- on a GPU
def cuda_extra_peak_bytes(step: Step) -> int:
    """The extra peak of allocated GPU memory during one call of ``step`` (already warmed up)
    over what was allocated before it (the inputs): ``torch.cuda.max_memory_allocated`` after
    ``reset_peak_memory_stats``. It counts tensors, not the allocator's cache."""
    import torch

    _release_free_memory()
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    result = step()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    del result
    return peak - before


def disagreements(values: dict[str, float], dtype: str) -> dict[str, str]:
    """The methods whose loss differs from the plain path's by more than ``AGREEMENT[dtype]``
    (relative), each with both values."""
    reference = values["plain"]
    return {
        method: f"loss {value!r} disagrees with the plain path's {reference!r}"
        for method, value in values.items()
        if not math.isclose(value, reference, rel_tol=AGREEMENT[dtype])
    }


def _reason(exc: BaseException) -> str:
    if type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc):
        return "out of GPU memory"
    lines = str(exc).strip().splitlines()
    return f"failed: {type(exc).__name__}: {lines[0][:300] if lines else ''}"


def _gpu_methods(
    names: Sequence[str], shape: Shape, dtype: str, options: Options | None, skipped: dict[str, str]
) -> tuple[dict[str, Step], dict[str, dict[str, Any]]]:
    """Each method's step on shared inputs, with its loss value and extra peak memory; a method
    that fails (out of memory, an operation the device lacks) is left out (``skipped``, with
    why) and the others go on."""
    inputs = torch_inputs(shape, dtype=dtype)
    steps: dict[str, Step] = {}
    measured: dict[str, dict[str, Any]] = {}
    for method in names:
        step = torch_step(method, shape, options=options, inputs=inputs)
        try:
            value = _loss_value(step())  # warm-up (Triton and cuBLAS set-up) and the value
            measured[method] = {"loss": value, "extra_peak_bytes": cuda_extra_peak_bytes(step)}
        except Exception as exc:
            skipped[f"{method} {label(shape)} {dtype}"] = _reason(exc)
            print(f"  {method}: {_reason(exc)}", file=sys.stderr, flush=True)
            _release_free_memory()
            continue
        steps[method] = step
    return steps, measured


def run_gpu(
    shapes: Sequence[Shape],
    dtypes: Sequence[str],
    repeats: int,
    options: Options | None = None,
    skipped: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """On the current CUDA device: every method at every shape and dtype on the same inputs,
    the loss values checked to agree, then extra peak memory and time."""
    import torch

    skipped = {} if skipped is None else skipped
    names = methods("torch", options)
    rows = []
    for dtype in dtypes:
        for shape in shapes:
            where = f"torch {label(shape)} {dtype}"
            print(f"{where}: values and memory", file=sys.stderr, flush=True)
            steps, measured = _gpu_methods(names, shape, dtype, options, skipped)
            if "plain" in measured:
                values = {m: r["loss"] for m, r in measured.items()}
                for method, why in disagreements(values, dtype).items():
                    skipped[f"{method} {label(shape)} {dtype}"] = why
                    del steps[method], measured[method]
            print(f"{where}: time", file=sys.stderr, flush=True)
            timing = measure_time("torch", shape, repeats, options, steps=steps)
            rows += _rows("torch", shape, list(steps), measured, timing, dtype)
            del steps
            _release_free_memory()
            torch.cuda.empty_cache()
    return rows


def _rows(
    framework: str,
    shape: Shape,
    names: Sequence[str],
    memory: dict[str, dict[str, Any]],
    timing: dict[str, dict[str, Any]],
    dtype: str = "float32",
) -> list[dict[str, Any]]:
    rows = []
    for method in names:
        row = {"framework": framework, "shape": list(shape), "method": method}
        if dtype != "float32":
            row["dtype"] = dtype
        row |= memory[method] | timing[method]
        for other in names:
            base = memory[other]["extra_peak_bytes"]
            if base > 0:
                row[f"memory_vs_{other}"] = memory[method]["extra_peak_bytes"] / base
        rows.append(row)
    return rows


# ---------------------------------------------------------------------- the suite's cases
def _timed_pair(framework: str, shape: Shape, native: str) -> tuple[Step, Step]:
    return STEPS[framework](native, shape), STEPS[framework]("losskit", shape)


def _loss_value(result: Any) -> float:
    loss = result[0] if isinstance(result, tuple) else result
    loss = loss[0] if isinstance(loss, tuple) else loss
    return float(loss.detach()) if hasattr(loss, "detach") else float(loss)


def cases(quick: bool) -> Iterator[Case]:
    """Time-only cases for ``python -m benchmarks``: losskit against the plain path and against
    torch's own chunked function (torch eager), and against the plain path under ``jax.jit``.
    Under ``--device cuda``: the torch rows on the GPU, Liger-Kernel's fused function too where
    it imports, and no JAX row."""
    shape = QUICK_SHAPES[0] if quick else SHAPES[0]
    size = "x".join(map(str, shape))
    natives = {
        ("torch", "plain"): "F.linear + F.cross_entropy",
        ("torch", "torch"): f"F.linear_cross_entropy(chunk {TORCH_CHUNK})",
        ("torch", "liger"): "Liger fused linear CE",
        ("jax", "plain"): "jit(h @ w.T → optax CE)",
    }
    for (framework, native), name in natives.items():
        if framework == "jax" and not is_cpu():
            continue
        try:
            if framework == "torch" and native not in methods("torch"):
                continue
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
            rows += _rows(framework, shape, names, memory, timing)
    return rows


def _ratio(row: dict[str, Any], key: str, digits: int) -> str:
    return f"{row[key]:.{digits}f}" if key in row else "—"


def table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of the rows (ratios against the plain path and against torch's own, and
    against Liger-Kernel's where it ran); a dtype other than float32 follows the shape."""
    bases = ["plain", "torch"] + (["liger"] if any("memory_vs_liger" in r for r in rows) else [])
    header = (
        "| framework | shape | method | extra peak | "
        + "".join(f"memory / {b} | " for b in bases)
        + "time | "
        + " | ".join(f"time / {b}" for b in bases)
        + " |"
    )
    lines = [header, "|---|---|---|" + "---:|" * (2 + 2 * len(bases))]
    for r in rows:
        shape = label(tuple(r["shape"])) + (f" {r['dtype']}" if "dtype" in r else "")
        memory = "".join(f"{_ratio(r, f'memory_vs_{b}', 3)} | " for b in bases)
        times = " | ".join(_ratio(r, f"time_vs_{b}", 2) for b in bases)
        lines.append(
            f"| {r['framework']} | {shape} | {r['method']} | "
            f"{r['extra_peak_bytes'] / 2**20:.0f} MiB | {memory}{r['seconds']:.2f} s | {times} |"
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
    parser.add_argument(
        "--device",
        default="cpu",
        help="cpu, or cuda (cuda:N): torch on the GPU, its memory from the CUDA allocator, "
        f"shapes {GPU_SHAPES}, Liger-Kernel where it imports (default: %(default)s)",
    )
    parser.add_argument(
        "--dtypes",
        help=f"comma-separated input dtypes (GPU only; default there: {','.join(GPU_DTYPES)})",
    )
    parser.add_argument("--probe", help=argparse.SUPPRESS)  # framework:method:NxVxd (internal)
    args = parser.parse_args(argv)
    cpu = args.device.split(":")[0] == "cpu"
    dtypes = args.dtypes.split(",") if args.dtypes else ["float32"] if cpu else list(GPU_DTYPES)
    if cpu and dtypes != ["float32"]:
        parser.error("--dtypes other than float32 need --device cuda")
    if set(dtypes) - set(AGREEMENT):
        parser.error(f"--dtypes: choose from {sorted(AGREEMENT)}")
    args.dtypes = dtypes
    return args


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
    try:
        check_device(args.device)
    except DeviceUnavailable as exc:
        sys.exit(f"python -m benchmarks.linear_ce: error: {exc}")
    previous = use_device(args.device)
    try:
        document = _run_and_report(args)
    finally:
        use_device(previous)
    args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {args.json}")
    return 0


def _shapes(args: argparse.Namespace) -> Sequence[Shape]:
    if args.shapes:
        return [_shape(s) for s in args.shapes.split(",")]
    if is_cpu():
        return QUICK_SHAPES if args.quick else SHAPES
    return GPU_QUICK_SHAPES if args.quick else GPU_SHAPES


def _run_and_report(args: argparse.Namespace) -> dict[str, Any]:
    """Measure on the current device and print the table; returns the results document."""
    shapes = _shapes(args)
    frameworks = [f for f in args.only.split(",") if f]
    skipped: dict[str, str] = {}
    load = os.getloadavg()
    if is_cpu():
        rows = run(frameworks, shapes, args.repeats, args.options)
    else:
        for framework in sorted(set(frameworks) - {"torch"}):
            skipped[framework] = "CPU only: run it without --device"
        rows = []
        if "torch" in frameworks:
            skipped |= unavailable("torch", args.options)
            rows = run_gpu(shapes, args.dtypes, args.repeats, args.options, skipped)
    print(table(rows))
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")
    print(f"\nload average at start {load}, at end {os.getloadavg()} ({os.cpu_count()} CPUs)")
    document = {
        "rows": rows,
        "versions": versions(),
        "threads": args.threads,
        "options": args.options,
        "load_average": [load, os.getloadavg()],
    }
    if not is_cpu():
        info = describe(device())
        print(f"device {device()}: {info['device_name']}")
        document |= info | {"dtypes": args.dtypes, "skipped": skipped}
    return document


if __name__ == "__main__":
    sys.exit(main())
