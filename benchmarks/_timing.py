"""The one timing helper: warm-up, alternating paired samples, medians.

``compare(native, losskit)`` calls the two functions alternately (native, losskit, native, ...),
first for warm-up (JIT compilation, allocator and cache warm-up), then for ``repeats`` timed pairs.
Each timed sample runs a function ``number`` times back to back, with ``number`` calibrated so a
sample lasts about ``sample_s`` seconds. The ratio is the median of the per-pair ratios, which
cancels slow drifts of the machine's speed (other processes, frequency scaling) that hit both
members of a pair alike.

On a GPU (``Settings.device`` ``"cuda"``) every timed sample waits for the device before its
clock starts and before it stops (``torch.cuda.synchronize()``): the steps only queue kernels,
and the time of a sample is the time until its last kernel has finished. On the CPU nothing is
added to the timed loop.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from ._device import CPU, synchronizer

Step = Callable[[], object]
#: A device's ``synchronize`` (wait for its queued work), or None where there is nothing to wait
Sync = Callable[[], None] | None


@dataclass(frozen=True)
class Settings:
    """How long and how often to measure."""

    repeats: int = 11
    warmup: int = 3
    sample_s: float = 0.1
    max_number: int = 10_000
    #: where the torch suites' tensors live; "cuda" synchronises around each timed sample
    device: str = CPU


@dataclass(frozen=True)
class Timing:
    """Per-call medians (seconds), the median paired ratio ``losskit / native``, the samples."""

    native_s: float
    losskit_s: float
    ratio: float
    repeats: int
    number: int
    native_samples: tuple[float, ...]
    losskit_samples: tuple[float, ...]


def per_call(step: Step, number: int, sync: Sync = None) -> float:
    """Seconds per call of ``step``, run ``number`` times with the garbage collector paused.

    The collector runs once per comparison (``compare``), not before every sample: with
    TensorFlow loaded one full collection takes about 0.5 s, more than most samples. ``sync``
    (a device's ``synchronize``, or None on the CPU) runs before the clock starts and before it
    stops, outside the loop of calls.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        if sync is not None:
            sync()
        start = time.perf_counter()
        for _ in range(number):
            step()
        if sync is not None:
            sync()
        elapsed = time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()
    return elapsed / number


def calls_per_sample(native: Step, losskit: Step, settings: Settings, sync: Sync = None) -> int:
    """Calls per timed sample so that one sample lasts about ``settings.sample_s``."""
    estimate = statistics.median(
        (per_call(native, 1, sync) + per_call(losskit, 1, sync)) / 2 for _ in range(3)
    )
    if estimate <= 0.0:
        return settings.max_number
    return max(1, min(settings.max_number, math.ceil(settings.sample_s / estimate)))


def compare(native: Step, losskit: Step, settings: Settings) -> Timing:
    """Warm both steps up, then time ``settings.repeats`` alternating pairs."""
    sync = synchronizer(settings.device)
    for _ in range(settings.warmup):
        native()
        losskit()
    gc.collect()
    number = calls_per_sample(native, losskit, settings, sync)
    native_times, losskit_times = [], []
    for _ in range(settings.repeats):
        native_times.append(per_call(native, number, sync))
        losskit_times.append(per_call(losskit, number, sync))
    ratios = [b / a for a, b in zip(native_times, losskit_times, strict=True)]
    return Timing(
        native_s=statistics.median(native_times),
        losskit_s=statistics.median(losskit_times),
        ratio=statistics.median(ratios),
        repeats=settings.repeats,
        number=number,
        native_samples=tuple(native_times),
        losskit_samples=tuple(losskit_times),
    )


def time_once(step: Step, sync: Sync = None) -> float:
    """Seconds of one call of ``step``, waiting for the device (``sync``) before and after."""
    if sync is not None:
        sync()
    start = time.perf_counter()
    step()
    if sync is not None:
        sync()
    return time.perf_counter() - start
