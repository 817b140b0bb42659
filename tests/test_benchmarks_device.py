"""``--device`` of the benchmarks (``python -m benchmarks``, ``python -m benchmarks.linear_ce``),
checked without a GPU.

* ``--device cpu`` is the default and runs as before; ``--device cuda`` where CUDA is missing
  stops with a one-line error.
* Every torch suite, built with the ``meta`` device as its device, holds only ``meta`` tensors
  (inputs, anchors' parameters): none was left on the host, which on a GPU would fail (or time a
  host-to-device copy). ``meta`` goes through the same ``to_device`` path as ``cuda``.
* The timing helper synchronises the device around every timed sample, and not on the CPU.
* ``linear_ce``'s GPU path (shared inputs, value agreement, allocator memory, dtypes, Liger's
  method) runs on the CPU with the CUDA memory counters and Liger's function replaced by fakes.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the benchmarks package lives beside tests/, outside src/

from benchmarks import __main__ as cli  # noqa: E402
from benchmarks import _device, _timing  # noqa: E402
from benchmarks import linear_ce as lce  # noqa: E402

NO_CUDA = not torch.cuda.is_available()
#: The suites whose tensors follow ``--device`` (module names under ``benchmarks``).
TORCH_SUITES = [
    "torch_losses",
    "metric_learning",
    "self_supervised",
    "segmentation",
    "image",
    "transport",
    "linear_ce",
    "linear_log_probs",
    "linear_distill",
    "llm_losses",
    "forecast",
]


@pytest.fixture
def meta_device() -> Iterator[str]:
    previous = _device.use_device("meta")
    try:
        yield "meta"
    finally:
        _device.use_device(previous)


# ---------------------------------------------------------------------- the command line
def test_device_cpu_is_the_default_and_runs(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert cli.parse_args([]).device == "cpu"
    assert cli.main(["--quick", "--only", "llm", "--device", "cpu", "--json", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["meta"]["device"] == "cpu"
    assert document["meta"]["settings"]["device"] == "cpu"
    assert "device_name" not in document["meta"]
    assert {row["loss"] for row in document["rows"]} >= {"dpo (sigmoid)", "generalized_jsd"}
    assert _device.device() == "cpu"


@pytest.mark.skipif(not NO_CUDA, reason="CUDA is available here")
@pytest.mark.parametrize("module", ["benchmarks", "benchmarks.linear_ce"])
def test_device_cuda_without_cuda_stops_with_one_line(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--device", "cuda", "--quick"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"python -m {module}: error: --device cuda: CUDA is not available")


def test_unknown_device_is_refused() -> None:
    with pytest.raises(_device.DeviceUnavailable, match="unknown device 'tpu'"):
        _device.check_device("tpu")
    _device.check_device("cpu")


def test_cpu_only_suites_are_skipped_with_why_off_the_cpu() -> None:
    settings = _timing.Settings(device="cuda")
    rows, skipped, _ = cli.run_all(["jax", "tf", "boost", "scaling"], True, settings)
    assert rows == []
    assert set(skipped) == {"jax", "tf", "boost", "scaling"}
    assert all(reason.startswith("CPU only: ") for reason in skipped.values())


def test_off_the_cpu_a_failing_case_is_recorded_and_the_run_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks._suite import OFF, Case

    def broken() -> Any:
        raise RuntimeError("Expected all tensors to be on the same device\nmore")

    def fine() -> Any:
        return torch.ones(()), None

    def cases(quick: bool) -> Iterator[Case]:
        yield Case("s", "broken", "1", "n", OFF, broken, fine, float)
        yield Case("s", "fine", "1", "n", OFF, fine, fine, lambda v: float(v))

    fake = type(sys)("fake_suite")
    fake.cases, fake.versions = cases, dict  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_suite", fake)
    monkeypatch.setitem(cli.SUITES, "fake", "fake_suite")
    quick = _timing.Settings(repeats=1, warmup=1, sample_s=0.001)
    failed: dict[str, str] = {}
    rows = cli.run_suite("fake", True, dataclasses.replace(quick, device="meta"), {}, failed)
    assert [row.loss for row in rows] == ["fine"]
    (reason,) = failed.values()
    assert reason == "failed on meta: RuntimeError: Expected all tensors to be on the same device"
    with pytest.raises(RuntimeError):  # on the CPU a failure stops the run
        cli.run_suite("fake", True, quick, {}, {})


# ---------------------------------------------------------------------- the suites' tensors
def _tensors(obj: Any, seen: set[int]) -> Iterator[Any]:
    """The torch tensors a step holds: through closures, defaults, partials, containers and
    modules (parameters and buffers)."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, torch.nn.Module):
        yield from obj.parameters()
        yield from obj.buffers()
    elif isinstance(obj, functools.partial):
        for part in (obj.func, *obj.args, *obj.keywords.values()):
            yield from _tensors(part, seen)
    elif inspect.ismethod(obj):
        yield from _tensors(obj.__self__, seen)
    elif inspect.isfunction(obj):
        cells = [cell.cell_contents for cell in obj.__closure__ or () if _filled(cell)]
        defaults = [*(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values()]
        for part in (*cells, *defaults):
            yield from _tensors(part, seen)
    elif isinstance(obj, (tuple, list)):
        for part in obj:
            yield from _tensors(part, seen)
    elif isinstance(obj, dict):
        for part in obj.values():
            yield from _tensors(part, seen)


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:  # a closure variable not assigned yet
        return False
    return True


@pytest.mark.parametrize("suite", TORCH_SUITES)
def test_every_torch_suite_puts_its_tensors_on_the_device(suite: str, meta_device: str) -> None:
    try:
        module = importlib.import_module(f"benchmarks.{suite}")
        cases = list(module.cases(True))
    except ImportError as exc:
        pytest.skip(f"{suite}: {exc}")
    if not cases:
        pytest.skip(f"{suite}: none of its anchors is installed")
    torch_cases = [c for c in cases if "jax" not in c.suite]
    assert len(torch_cases) == len(cases), "the JAX rows are left out off the CPU"
    for case in torch_cases:
        tensors = list(_tensors((case.native, case.losskit), set()))
        assert tensors, f"{suite} / {case.loss}: no tensor found in its steps"
        left = {str(t.device) for t in tensors if t.device.type != meta_device}
        assert not left, f"{suite} / {case.loss}: tensors left on {left}"


def test_torch_compile_hands_the_device_to_its_subprocess(
    meta_device: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled = importlib.import_module("benchmarks.torch_compile")
    commands = []

    def run(command: list[str], **_: Any) -> Any:
        commands.append(command)
        return subprocess.CompletedProcess(command, 0, '{"rows": []}\n', "")

    monkeypatch.setattr(compiled.subprocess, "run", run)
    assert list(compiled.cases(True)) == []
    assert commands[0][-3:] == ["--device", meta_device, "--quick"]
    for _, _, _, native, ours in compiled._pairs(small=False, quick=True):
        left = {str(t.device) for t in _tensors((native, ours), set()) if t.device.type != "meta"}
        assert not left


def test_cpu_inputs_are_untouched() -> None:
    x = torch.ones(3)
    assert _device.to_device(x) is x
    assert _device.synchronizer("cpu") is None
    assert _device.describe("cpu") == {"device": "cpu"}


# ---------------------------------------------------------------------- timing
class _Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def test_per_call_synchronises_before_and_after_each_sample() -> None:
    sync, calls = _Counter(), _Counter()
    _timing.per_call(calls, 5, sync)
    assert (sync.calls, calls.calls) == (2, 5)
    assert _timing.time_once(calls, sync) >= 0.0
    assert sync.calls == 4


def test_compare_synchronises_every_sample_on_a_device(monkeypatch: pytest.MonkeyPatch) -> None:
    sync = _Counter()
    asked = []

    def synchronizer(name: str) -> Any:
        asked.append(name)
        return None if name == "cpu" else sync

    monkeypatch.setattr(_timing, "synchronizer", synchronizer)
    settings = _timing.Settings(repeats=3, warmup=1, sample_s=0.001, device="cuda")
    _timing.compare(_Counter(), _Counter(), settings)
    # 3 calibration rounds and 3 timed pairs, two samples each, two synchronisations a sample
    assert sync.calls == 2 * (2 * 3 + 2 * 3)
    _timing.compare(_Counter(), _Counter(), _timing.Settings(repeats=2, warmup=1, sample_s=0.001))
    assert asked == ["cuda", "cpu"]
    assert sync.calls == 24


# ---------------------------------------------------------------------- linear_ce on a GPU
def _fake_liger(
    input: Any,
    weight: Any,
    target: Any,
    *,
    label_smoothing: float = 0.0,
    lse_square_scale: float = 0.0,
    softcap: float | None = None,
) -> Any:
    """Liger's fused linear cross-entropy, written out in plain torch (float32 logits)."""
    z = F.linear(input, weight).float()
    if softcap is not None:
        z = softcap * torch.tanh(z / softcap)
    loss = F.cross_entropy(z, target, label_smoothing=label_smoothing)
    return loss + lse_square_scale * torch.logsumexp(z, -1).square().mean()


class _FakeCudaMemory:
    """``torch.cuda``'s allocator counters, counting nothing but their calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        for name in (
            "synchronize",
            "memory_allocated",
            "reset_peak_memory_stats",
            "max_memory_allocated",
            "empty_cache",
        ):
            monkeypatch.setattr(torch.cuda, name, functools.partial(self.call, name))

    def call(self, name: str, *_: Any) -> int:
        self.calls.append(name)
        return 1000 if name == "max_memory_allocated" else 100


@pytest.fixture
def gpu_path(monkeypatch: pytest.MonkeyPatch) -> _FakeCudaMemory:
    """linear_ce's GPU path on the CPU: its methods and shapes, fake memory counters, a fake
    Liger function."""
    monkeypatch.setattr(lce, "is_cpu", lambda name=None: False)
    monkeypatch.setattr(lce, "_liger", lambda: _fake_liger)
    # full collections before each call take 0.3 s each once every suite is imported
    monkeypatch.setattr(lce.gc, "collect", lambda: 0)
    return _FakeCudaMemory(monkeypatch)


@pytest.mark.parametrize("options", [{}, {"z_loss": 1e-4, "softcap": 30.0}])
def test_linear_ce_gpu_path_runs_every_method_and_dtype(
    gpu_path: _FakeCudaMemory, options: dict[str, Any]
) -> None:
    skipped: dict[str, str] = {}
    shape = (64, 512, 32)
    rows = lce.run_gpu([shape], ["bfloat16", "float32"], 1, options, skipped)
    expected = ["plain", "losskit", "liger"] if options else ["plain", "torch", "losskit", "liger"]
    assert [r["method"] for r in rows] == expected * 2
    assert [r.get("dtype", "float32") for r in rows] == ["bfloat16"] * len(expected) + [
        "float32"
    ] * len(expected)
    assert skipped == {}
    for row in rows:
        assert row["extra_peak_bytes"] == 900  # max_memory_allocated - memory_allocated
        assert row["memory_vs_liger"] == 1.0 and row["time_vs_liger"] > 0
    assert gpu_path.calls.count("reset_peak_memory_stats") == 2 * len(expected)
    table = lce.table(rows)
    assert "memory / liger" in table and "N=64 V=512 d=32 bfloat16" in table


def test_linear_ce_gpu_path_reports_a_failing_method_and_goes_on(
    gpu_path: _FakeCudaMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def out_of_memory(*_: Any, **__: Any) -> Any:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 8 GiB")

    monkeypatch.setattr(lce, "_liger", lambda: out_of_memory)
    skipped: dict[str, str] = {}
    rows = lce.run_gpu([(32, 256, 16)], ["float32"], 1, None, skipped)
    assert [r["method"] for r in rows] == ["plain", "torch", "losskit"]
    assert skipped == {"liger N=32 V=256 d=16 float32": "out of GPU memory"}


def test_linear_ce_values_must_agree() -> None:
    values = {"plain": 10.0, "losskit": 10.02, "liger": 10.3}
    assert set(lce.disagreements(values, "float32")) == {"losskit", "liger"}
    assert set(lce.disagreements(values, "bfloat16")) == {"liger"}


def test_linear_ce_dtypes_need_a_gpu() -> None:
    with pytest.raises(SystemExit):
        lce.parse_args(["--dtypes", "bfloat16"])
    assert lce.parse_args([]).dtypes == ["float32"]
    assert lce.parse_args(["--device", "cuda"]).dtypes == ["bfloat16", "float32"]


def test_liger_takes_the_arguments_passed_to_it() -> None:
    """Where Liger-Kernel is installed (``.venv-vision``): its function takes the keywords the
    benchmark passes (the call itself needs a GPU)."""
    functional = pytest.importorskip("liger_kernel.transformers.functional")
    signature = inspect.signature(functional.liger_fused_linear_cross_entropy)
    signature.bind(1, 2, 3, label_smoothing=0.1, lse_square_scale=1e-4, softcap=30.0)
    assert lce._liger() is functional.liger_fused_linear_cross_entropy
