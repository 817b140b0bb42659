"""Where the torch suites put their tensors (``--device``), and how timing waits for the device.

The suites draw their inputs on the CPU from seeded generators, as they always have, and pass
each tensor through :func:`to_device`, so a CUDA run compares the same numbers as a CPU run.
On the CPU :func:`to_device` returns the tensor itself and :func:`synchronizer` returns
``None``: the CPU path does exactly what it did before ``--device`` existed.

A GPU runs kernels asynchronously: a step returns once its kernels are queued. The timing
helper therefore waits for the device (``torch.cuda.synchronize()``) before it starts and
before it stops the clock of each timed sample; see :func:`benchmarks._timing.per_call`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

CPU = "cpu"
_current = {"device": CPU}


class DeviceUnavailable(RuntimeError):
    """The requested device is not there (no CUDA build of torch, no GPU visible)."""


def device() -> str:
    """The device the torch suites build their tensors on (``"cpu"`` unless set)."""
    return _current["device"]


def use_device(name: str) -> str:
    """Make ``name`` the torch suites' device; returns the previous one."""
    previous, _current["device"] = _current["device"], name
    return previous


def is_cpu(name: str | None = None) -> bool:
    """Whether ``name`` (default: the current device) is the CPU."""
    return (name or device()).split(":")[0] == CPU


def to_device(tensor: Any) -> Any:
    """``tensor`` on the current device; on the CPU the tensor itself, untouched."""
    if is_cpu():
        return tensor
    return tensor.to(device())


def _torch() -> Any:
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        raise DeviceUnavailable(f"torch does not import ({exc})") from None


def check_device(name: str) -> None:
    """Raise :class:`DeviceUnavailable` (a one-line reason) unless ``name`` can be used."""
    kind = name.split(":")[0]
    if kind == CPU:
        return
    if kind != "cuda":
        raise DeviceUnavailable(f"unknown device {name!r}; use cpu or cuda (cuda:N)")
    torch = _torch()
    if not torch.cuda.is_available():
        build = torch.version.cuda
        why = "this torch is a CPU-only build" if build is None else "no CUDA GPU is visible"
        raise DeviceUnavailable(
            f"--device {name}: CUDA is not available ({why}; torch {torch.__version__})"
        )
    index = torch.device(name).index
    if index is not None and index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise DeviceUnavailable(f"--device {name}: only {count} CUDA device(s) visible")


def synchronizer(name: str) -> Callable[[], None] | None:
    """What waits until ``name`` has finished its queued work: ``None`` for the CPU (and for
    devices without a queue, such as ``meta``), ``torch.cuda.synchronize`` for CUDA."""
    if name.split(":")[0] != "cuda":
        return None
    torch = _torch()
    target = torch.device(name)

    def synchronize() -> None:
        torch.cuda.synchronize(target)

    return synchronize


def describe(name: str) -> dict[str, Any]:
    """The device and, for a GPU, the card's name and memory, for the results file."""
    info: dict[str, Any] = {"device": name}
    if name.split(":")[0] == "cuda":
        torch = _torch()
        props = torch.cuda.get_device_properties(torch.device(name))
        info["device_name"] = torch.cuda.get_device_name(torch.device(name))
        info["device_memory_bytes"] = int(props.total_memory)
        info["cuda"] = torch.version.cuda
    return info
