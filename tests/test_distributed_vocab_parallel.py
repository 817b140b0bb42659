"""Vocabulary-parallel cross-entropy (``losskit.distributed._vocab_parallel``).

In this process (no process group, world size 1: the whole vocabulary is one shard): values and
gradients against ``losskit.sparse_categorical_crossentropy`` / ``losskit.linear_cross_entropy``
and ``torch.nn.functional.cross_entropy`` in float64, shapes, dtypes, the argument checks, that
nothing is communicated and that the linear layer's logits are chunked. The process-group checks
(gloo, world sizes 2 and 4, even and uneven shards, every option, collectives counted) run
``scripts/distributed_vocab_parallel.py`` in a subprocess.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

import losskit as lk  # noqa: E402
from losskit.distributed import _vocab_parallel as vp  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
F64 = {"rtol": 1e-12, "atol": 1e-13}
REDUCTIONS = ("mean", "sum", "none", "sum_over_batch_size")


def _distributed_available() -> bool:
    import torch.distributed as dist

    return bool(dist.is_available())


def _data(seed: int, shape: tuple[int, ...] = (3, 4), vocab: int = 7) -> dict[str, Any]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, vocab, shape, generator=g)
    y[torch.rand(shape, generator=g) < 0.3] = -100
    return {
        "logits": torch.randn(*shape, vocab, generator=g, dtype=torch.float64) * 2,
        "hidden": torch.randn(*shape, 5, generator=g, dtype=torch.float64),
        "weight": torch.randn(vocab, 5, generator=g, dtype=torch.float64),
        "bias": torch.randn(vocab, generator=g, dtype=torch.float64),
        "targets": y,
        "upstream": torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 0.5,
        "sample_weight": torch.rand(shape, generator=g, dtype=torch.float64),
        "mask": torch.rand(shape, generator=g) > 0.2,
    }


def _grads(value: Any, upstream: Any, *inputs: Any) -> tuple[Any, ...]:
    return torch.autograd.grad(value, inputs, None if value.dim() == 0 else upstream)


# ---------------------------------------------------------------------- one process
@pytest.mark.parametrize(
    ("reduction", "smoothing", "ignore"),
    list(itertools.product([*REDUCTIONS, "normalizer"], (0.0, 0.1), ("some", "none", "all"))),
)
def test_logits_equal_the_full_computation(reduction: str, smoothing: float, ignore: str) -> None:
    d = _data(1)
    y = d["targets"]
    if ignore == "none":
        y = torch.where(y < 0, 2, y)
    elif ignore == "all":
        y = torch.full_like(y, -100)
    options: dict[str, Any] = {"label_smoothing": smoothing, "reduction": reduction}
    if reduction == "normalizer":
        options.update(reduction="mean", normalizer=5.0)
    z = d["logits"].clone().requires_grad_()
    value = vp.vocab_parallel_cross_entropy(z, y, **options)
    (grad,) = _grads(value, d["upstream"], z)
    ref = d["logits"].clone().requires_grad_()
    expected = lk.sparse_categorical_crossentropy(
        y, ref, from_logits=True, ignore_index=-100, **options
    )
    (expected_grad,) = _grads(expected, d["upstream"], ref)
    torch.testing.assert_close(value, expected, **F64)
    torch.testing.assert_close(grad, expected_grad, **F64)
    if ignore == "all":
        assert float(value.detach().abs().sum()) == 0.0 == float(grad.abs().sum())
    if reduction in ("mean", "sum", "none") and ignore != "all":
        anchor = F.cross_entropy(
            d["logits"].reshape(-1, 7),
            y.reshape(-1),
            label_smoothing=smoothing,
            reduction=reduction,
        )
        torch.testing.assert_close(value.detach().reshape(anchor.shape), anchor, **F64)


@pytest.mark.parametrize(("smoothing", "chunk"), [(0.0, None), (0.1, 5), (0.0, 1), (0.1, 12)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_linear_equals_the_full_computation(
    reduction: str, smoothing: float, chunk: int | None
) -> None:
    d = _data(2)
    leaves = [d[k].clone().requires_grad_() for k in ("hidden", "weight", "bias")]
    value = vp.vocab_parallel_linear_cross_entropy(
        leaves[0],
        leaves[1],
        d["targets"],
        bias_shard=leaves[2],
        label_smoothing=smoothing,
        reduction=reduction,
        chunk_size=chunk,
    )
    grads = _grads(value, d["upstream"], *leaves)
    ref = [d[k].clone().requires_grad_() for k in ("hidden", "weight", "bias")]
    logits = ref[0] @ ref[1].T + ref[2]
    expected = F.cross_entropy(
        logits.reshape(-1, 7),
        d["targets"].reshape(-1),
        label_smoothing=smoothing,
        # losskit's sum_over_batch_size divides by the unignored count, as torch's mean
        reduction="mean" if reduction == "sum_over_batch_size" else reduction,
    )
    if reduction == "none":
        expected = expected.reshape(d["targets"].shape)
    expected_grads = _grads(expected, d["upstream"], *ref)
    torch.testing.assert_close(value, expected, **F64)
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, **F64)


def test_weights_masks_and_shapes() -> None:
    d = _data(3, shape=(2, 3, 2))
    z = d["logits"].clone().requires_grad_()
    options = {"sample_weight": d["sample_weight"], "mask": d["mask"], "label_smoothing": 0.2}
    value = vp.vocab_parallel_cross_entropy(z, d["targets"][..., None], **options)
    (grad,) = _grads(value, None, z)
    ref = d["logits"].clone().requires_grad_()
    expected = lk.sparse_categorical_crossentropy(
        d["targets"], ref, from_logits=True, ignore_index=-100, **options
    )
    (expected_grad,) = _grads(expected, None, ref)
    torch.testing.assert_close(value, expected, **F64)
    torch.testing.assert_close(grad, expected_grad, **F64)

    h, w = d["hidden"].clone().requires_grad_(), d["weight"].clone().requires_grad_()
    value = vp.vocab_parallel_linear_cross_entropy(h, w, d["targets"], chunk_size=4, **options)
    grads = _grads(value, None, h, w)
    rh, rw = d["hidden"].clone().requires_grad_(), d["weight"].clone().requires_grad_()
    expected = lk.linear_cross_entropy(rh, rw, d["targets"], **options)
    for got, want in zip((value, *grads), (expected, *_grads(expected, None, rh, rw)), strict=True):
        torch.testing.assert_close(got, want, **F64)


def test_half_types_compute_in_float32() -> None:
    d = _data(4)
    z = d["logits"].to(torch.bfloat16).requires_grad_()
    value = vp.vocab_parallel_cross_entropy(z, d["targets"], label_smoothing=0.1)
    (grad,) = _grads(value, None, z)
    assert value.dtype == torch.float32 and grad.dtype == torch.bfloat16
    ref = d["logits"].to(torch.bfloat16).float().requires_grad_()
    expected = F.cross_entropy(ref.reshape(-1, 7), d["targets"].reshape(-1), label_smoothing=0.1)
    (expected_grad,) = _grads(expected, None, ref)
    torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(grad.float(), expected_grad, rtol=1e-2, atol=1e-3)

    h = d["hidden"].to(torch.float16).requires_grad_()
    w = d["weight"].to(torch.float16).requires_grad_()
    value = vp.vocab_parallel_linear_cross_entropy(h, w, d["targets"], chunk_size=5)
    assert value.dtype == torch.float32
    value.backward()
    assert h.grad is not None and h.grad.dtype == torch.float16
    assert w.grad is not None and w.grad.dtype == torch.float16


def test_inputs_are_not_modified_and_extreme_logits_stay_finite() -> None:
    d = _data(5)
    z = d["logits"].clone()
    z[0, 0, 3] = 1e4  # a dominant class
    z[1, 1] = -torch.inf  # an ignored token with no finite logit
    y = d["targets"].clone()
    y[1, 1] = -100
    y[0, 0] = 3
    before = z.clone()
    z.requires_grad_()
    value = vp.vocab_parallel_cross_entropy(z, y, label_smoothing=0.1)
    (grad,) = _grads(value, None, z)
    torch.testing.assert_close(z.detach(), before, rtol=0, atol=0)
    assert torch.isfinite(value) and torch.isfinite(grad).all()
    assert float(grad[1, 1].abs().sum()) == 0.0


def test_nothing_is_communicated_on_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch.distributed as dist

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a collective was called without a process group")

    monkeypatch.setattr(dist, "all_reduce", forbidden)
    d = _data(6)
    h = d["hidden"].clone().requires_grad_()
    vp.vocab_parallel_linear_cross_entropy(h, d["weight"], d["targets"]).backward()
    z = d["logits"].clone().requires_grad_()
    vp.vocab_parallel_cross_entropy(z, d["targets"]).backward()


class _Allocations(torch.utils._python_dispatch.TorchDispatchMode):
    """Records the element count of the largest tensor any operator produces."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for leaf in torch.utils._pytree.tree_leaves(out):
            if isinstance(leaf, torch.Tensor):
                self.largest = max(self.largest, leaf.numel())
        return out


def test_linear_never_allocates_the_logits() -> None:
    n, v, d, rows = 96, 500, 8, 16
    g = torch.Generator().manual_seed(7)
    h = torch.randn(n, d, generator=g, requires_grad=True)
    w = torch.randn(v, d, generator=g, requires_grad=True)
    y = torch.randint(0, v, (n,), generator=g)
    with _Allocations() as record:
        loss = vp.vocab_parallel_linear_cross_entropy(h, w, y, chunk_size=rows)
        loss.backward()
    assert record.largest <= max(rows * v, v * d), record.largest  # a chunk, or the weight


def test_argument_errors_name_the_argument() -> None:
    d = _data(8)
    z, y, h, w = d["logits"], d["targets"], d["hidden"], d["weight"]
    cases: list[tuple[type[Exception], str, Any]] = [
        (TypeError, "logits_shard must be a torch tensor", lambda: vp_ce(z.numpy(), y)),
        (TypeError, "logits_shard must be a floating-point", lambda: vp_ce(y, y)),
        (ValueError, "logits_shard must have shape", lambda: vp_ce(z[0, 0, 0], y)),
        (ValueError, "targets of shape (4,) do not match logits_shard", lambda: vp_ce(z, y[0])),
        (TypeError, "targets must hold integer", lambda: vp_ce(z, y > 0)),
        (ValueError, "targets must be global class indices in [0, 7)", lambda: vp_ce(z, y + 7)),
        (ValueError, "targets must hold integer class", lambda: vp_ce(z, y.double() + 0.5)),
        (TypeError, "vocab_start must be an int", lambda: vp_ce(z, y, vocab_start=1.0)),
        (TypeError, "vocab_start must be an int", lambda: vp_ce(z, y, vocab_start=True)),
        (ValueError, "vocab_start must be a non-negative", lambda: vp_ce(z, y, vocab_start=-1)),
        (ValueError, "vocab_start=", lambda: vp_ce(z, y, vocab_start=2)),
        (ValueError, "label_smoothing must be in", lambda: vp_ce(z, y, label_smoothing=1.5)),
        (TypeError, "ignore_index must be an int", lambda: vp_ce(z, y, ignore_index=1.0)),
        (ValueError, "reduction must be one of", lambda: vp_ce(z, y, reduction="avg")),
        (ValueError, "normalizer replaces", lambda: vp_ce(z, y, reduction="sum", normalizer=2)),
        (ValueError, "logits_shard contains NaN", lambda: vp_ce(z * torch.nan, y)),
        (RuntimeError, "torch.distributed is not initialised", lambda: vp_ce(z, y, group=1)),
        (
            ValueError,
            "sample_weight of shape (5,)",
            lambda: vp_ce(z, y, sample_weight=torch.ones(5)),
        ),
        (TypeError, "weight_shard must be a floating-point", lambda: vp_lin(h, y, y)),
        (TypeError, "hidden must be a torch tensor", lambda: vp_lin(h.numpy(), w, y)),
        (ValueError, "weight_shard of shape (5,) does not match", lambda: vp_lin(h, w[0], y)),
        (ValueError, "weight_shard of shape (7, 4) does not match", lambda: vp_lin(h, w[:, 1:], y)),
        (ValueError, "bias_shard of shape (6,)", lambda: vp_lin(h, w, y, bias_shard=w[:6, 0])),
        (ValueError, "targets of shape (4,) do not match hidden", lambda: vp_lin(h, w, y[0, :4])),
        (ValueError, "chunk_size must be a positive", lambda: vp_lin(h, w, y, chunk_size=0)),
        (TypeError, "chunk_size must be an int", lambda: vp_lin(h, w, y, chunk_size=2.0)),
        (ValueError, "targets must be global class", lambda: vp_lin(h, w, y - 200)),
        (
            ValueError,
            "bias_shard contains NaN",
            lambda: vp_lin(h, w, y, bias_shard=w[:, 0] / 0 * 0),
        ),
    ]
    for error, message, call in cases:
        with pytest.raises(error) as raised:
            call()
        assert message in str(raised.value), (message, str(raised.value))


def vp_ce(*args: Any, **kwargs: Any) -> Any:
    return vp.vocab_parallel_cross_entropy(*args, **kwargs)


def vp_lin(*args: Any, **kwargs: Any) -> Any:
    return vp.vocab_parallel_linear_cross_entropy(*args, **kwargs)


def test_unchecked_targets_never_index_out_of_range() -> None:
    d = _data(9)
    with lk.validation(False):
        value = vp.vocab_parallel_cross_entropy(d["logits"], d["targets"] + 50, reduction="none")
        linear = vp.vocab_parallel_linear_cross_entropy(
            d["hidden"], d["weight"], d["targets"] - 50, reduction="none"
        )
    assert torch.isfinite(value).all() and torch.isfinite(linear).all()


def test_empty_batch() -> None:
    z = torch.zeros(0, 7, dtype=torch.float64, requires_grad=True)
    y = torch.zeros(0, dtype=torch.int64)
    assert vp.vocab_parallel_cross_entropy(z, y, reduction="sum").item() == 0.0
    h = torch.zeros(0, 5, dtype=torch.float64, requires_grad=True)
    w = torch.ones(7, 5, dtype=torch.float64, requires_grad=True)
    value = vp.vocab_parallel_linear_cross_entropy(h, w, y, reduction="sum")
    value.backward()
    assert value.item() == 0.0 and float(w.grad.abs().sum()) == 0.0


# ---------------------------------------------------------------------- process groups
@pytest.mark.slow
@pytest.mark.skipif(not _distributed_available(), reason="torch.distributed is unavailable")
@pytest.mark.parametrize("world", [2, 4])
def test_process_group_equals_the_full_vocabulary(world: int) -> None:
    script = ROOT / "tests" / "scripts" / "distributed_vocab_parallel.py"
    done = subprocess.run(
        [sys.executable, str(script), str(world)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=240,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-6000:]
    assert f"world {world}: all ok" in done.stdout
    for feature in ("vocab_parallel_cross_entropy: 60 cases", "linear_cross_entropy: 60 cases"):
        assert feature in done.stdout, done.stdout
