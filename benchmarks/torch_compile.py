"""PyTorch ``torch.compile``: both sides compiled (inductor), forward + backward.

The cases run in a subprocess (``python -m benchmarks.torch_compile``): with some torch builds
``torch.compile`` crashed once TensorFlow had been imported in the same process, and the
compile-time state (inductor caches, worker threads) then stays out of the other suites. The
subprocess checks that both sides compute the same loss, times them with the shared helper and
prints the timings as JSON; this module turns them back into rows. Inductor needs a few seconds
per graph on a 2-core CPU, so the suite is time-boxed: a few losses, and the losses left when
the budget is spent are reported as skipped on stderr. Under ``torch.compile`` losskit skips
its value checks by design ("traced"). ``--device`` is handed on to the subprocess.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from typing import Any

from ._device import device, is_cpu, to_device, use_device
from ._suite import TRACED, Case, size_label
from ._timing import Settings, Timing

SUITE = "torch compile"
QUICK_SETTINGS = Settings(repeats=2, warmup=1, sample_s=0.005)
#: Seconds for the whole subprocess (compilation included), full and quick.
BUDGET_S = {False: 240.0, True: 45.0}


def _missing(*_: Any) -> float:
    raise RuntimeError("measured in a subprocess")


def cases(quick: bool) -> Iterator[Case]:
    """Run the compiled cases in a subprocess and yield them with their timings."""
    import torch  # noqa: F401  (ImportError here: the suite is reported as skipped)

    command = [sys.executable, "-m", "benchmarks.torch_compile", "--device", device()]
    command += ["--quick"] if quick else []
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=BUDGET_S[quick] + 60.0, check=False
        )
    except subprocess.TimeoutExpired:
        print("  torch compile: the subprocess ran out of time", file=sys.stderr)
        return
    sys.stderr.write(done.stderr[-4000:] if done.returncode else "")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        print(f"  torch compile: subprocess failed (exit {done.returncode})", file=sys.stderr)
        return
    for row in json.loads(lines[-1])["rows"]:
        timing = row.pop("timing")
        for key in ("native_samples", "losskit_samples"):
            timing[key] = tuple(timing[key])
        yield Case(**row, native=_missing, losskit=_missing, loss_value=_missing,
                   timing=Timing(**timing))  # fmt: skip


# ------------------------------------------------------------------ in the subprocess
def _pairs(small: bool, quick: bool) -> list[tuple[str, str, str, Callable, Callable]]:
    import torch
    import torch.nn.functional as F

    import losskit as lk

    gen = torch.Generator().manual_seed(0)
    n, c = (32, 10) if small else (64, 10) if quick else (4096, 1000)
    shape = (32,) if small else (64, 64) if quick else (4096, 1024)
    z = to_device(torch.randn(n, c, generator=gen)).requires_grad_(True)
    labels = to_device(torch.randint(0, c, (n,), generator=gen))
    x = to_device(torch.randn(shape, generator=gen)).requires_grad_(True)
    y = to_device(torch.randn(shape, generator=gen))
    hard = to_device((torch.rand(shape, generator=gen) < 0.5).float())

    def step(fn: Callable[..., Any], leaf: Any, *args: Any) -> Callable[[], Any]:
        compiled = torch.compile(fn, dynamic=False)

        def run() -> Any:
            loss = compiled(leaf, *args)
            return loss, torch.autograd.grad(loss, leaf)[0]

        return run

    csize, esize = size_label((n, c)), size_label(shape)
    pairs = [
        (
            "MSE",
            esize,
            "F.mse_loss",
            step(lambda p, t: F.mse_loss(p, t), x, y),
            step(lambda p, t: lk.mean_squared_error(t, p), x, y),
        ),
        (
            "sparse CE (logits)",
            csize,
            "F.cross_entropy",
            step(lambda s, t: F.cross_entropy(s, t), z, labels),
            step(
                lambda s, t: lk.sparse_categorical_crossentropy(t, s, from_logits=True), z, labels
            ),
        ),
        (
            "binary CE (logits)",
            esize,
            "F.binary_cross_entropy_with_logits",
            step(lambda s, t: F.binary_cross_entropy_with_logits(s, t), x, hard),
            step(lambda s, t: lk.binary_crossentropy(t, s, from_logits=True), x, hard),
        ),
        (
            "huber",
            esize,
            "F.huber_loss",
            step(lambda p, t: F.huber_loss(p, t), x, y),
            step(lambda p, t: lk.huber(t, p), x, y),
        ),
    ]
    return pairs[:1] if quick else pairs


def _measure(quick: bool) -> list[dict[str, Any]]:
    from ._suite import check_same_loss
    from ._timing import compare

    settings = QUICK_SETTINGS if quick else Settings()
    if not is_cpu():
        settings = replace(settings, device=device())
    deadline = time.perf_counter() + BUDGET_S[quick]
    rows = []
    for suite, small in ((SUITE, False), ("torch compile overhead", True)):
        if quick and small:
            continue
        for loss, size, native_name, native, ours in _pairs(small, quick):
            if time.perf_counter() > deadline:
                print(f"  torch compile: out of time, skipped {loss} {size}", file=sys.stderr)
                continue
            case = Case(suite, loss, size, native_name, TRACED, native, ours,
                        lambda v: float(v.detach()))  # fmt: skip
            start = time.perf_counter()
            check_same_loss(case)  # compiles both sides (forward and backward)
            compiled_s = time.perf_counter() - start
            timing = compare(native, ours, settings)
            print(
                f"  {suite:15} {loss:20} compiled in {compiled_s:.1f} s, ratio {timing.ratio:.2f}",
                file=sys.stderr,
                flush=True,
            )
            rows.append(
                {
                    "suite": suite,
                    "loss": loss,
                    "size": size,
                    "native_name": native_name,
                    "validation": TRACED,
                    "timing": asdict(timing),
                }
            )
    return rows


def versions() -> dict[str, str]:
    """The compiler backend used."""
    return {"torch_compile_backend": "inductor"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.torch_compile")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    use_device(args.device)
    print(json.dumps({"rows": _measure(args.quick)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
