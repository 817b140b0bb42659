"""Run in its own process (see test_distributed_vocab_parallel.py):
``python distributed_vocab_parallel.py W`` spawns a gloo process group of W CPU processes and checks
the vocabulary-parallel cross-entropies against single-process computations on the full
vocabulary, in float64.

Every process builds the same seeded full logits (or full output weight) and targets, takes its
rank's slice of the vocabulary, and computes both the parallel loss on its slice and the
references on everything: ``losskit.sparse_categorical_crossentropy`` /
``losskit.linear_cross_entropy`` and ``torch.nn.functional.cross_entropy`` on the full logits.
Each check is a comparison inside one process (values within 1e-6, gradients within 1e-5).

``torch.distributed``'s collectives are wrapped by a counter, so each check also asserts what
the parallel loss communicates: two all-reduces of O(N) numbers in the forward, none in the
logits' backward, one of the (N, d) hidden gradient in the linear layer's backward.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from typing import Any

import gloo_group  # tests/scripts: the spawned gloo group
import torch
import torch.distributed as dist
import torch.nn.functional as F

import losskit as lk
from losskit.distributed import _vocab_parallel as vp

torch.set_default_dtype(torch.float64)
VALUE, GRAD = 1e-6, 1e-5
IGNORE = -100
SHAPE = (3, 5)  # tokens: (batch, sequence), N = 15
FEATURES = 4
REDUCTIONS = ("mean", "sum", "none", "sum_over_batch_size", "normalizer")
COLLECTIVES = (
    "all_reduce",
    "all_gather",
    "all_gather_into_tensor",
    "all_gather_object",
    "broadcast",
    "reduce",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "all_to_all",
    "all_to_all_single",
    "gather",
    "scatter",
    "send",
    "recv",
    "isend",
    "irecv",
    "batch_isend_irecv",
)


# ---------------------------------------------------------------------- collectives counted
class Counter:
    """Every call of a torch.distributed collective: ``(name, op, numel)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []
        for name in COLLECTIVES:
            original = getattr(dist, name, None)
            if original is not None:
                setattr(dist, name, self._wrap(name, original))

    def _wrap(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            first = args[0] if args else None
            numel = first.numel() if isinstance(first, torch.Tensor) else -1
            self.calls.append((name, str(kwargs.get("op", "")), numel))
            return original(*args, **kwargs)

        return counted

    def take(self) -> list[tuple[str, str, int]]:
        calls, self.calls = self.calls, []
        return calls


COUNTER: Counter


def close(actual: Any, expected: Any, tol: float, what: str) -> None:
    actual = torch.as_tensor(actual, dtype=torch.float64)
    expected = torch.as_tensor(expected, dtype=torch.float64)
    assert torch.isfinite(actual).all(), f"{what}: non-finite {actual}"
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol, msg=lambda m: f"{what}: {m}")


def check_forward_collectives(calls: list[tuple[str, str, int]], tokens: int, what: str) -> None:
    world = dist.get_world_size()
    names = [c[0] for c in calls]
    assert names == ["all_reduce", "all_reduce"], f"{what}: forward collectives {calls}"
    assert "MAX" in calls[0][1].upper() and "SUM" in calls[1][1].upper(), f"{what}: {calls}"
    limit = 3 * tokens + 2 * world + 8  # O(N): three numbers per token and the bookkeeping
    assert all(c[2] <= limit for c in calls), f"{what}: all-reduce sizes {calls} > {limit}"


# ---------------------------------------------------------------------- data
class Layout:
    """How the vocabulary is split: every rank's ``(start, size)``, and whether ``vocab_start``
    is passed (None: the default ``rank · V_local``)."""

    def __init__(self, name: str, sizes: list[int], order: list[int], explicit: bool) -> None:
        self.name, self.sizes, self.explicit = name, sizes, explicit
        self.vocab = sum(sizes)
        self.starts = [0] * len(sizes)
        position = 0
        for r in order:  # ranks in the order their shards follow each other
            self.starts[r] = position
            position += sizes[r]

    def part(self, rank: int) -> slice:
        return slice(self.starts[rank], self.starts[rank] + self.sizes[rank])

    def start(self, rank: int) -> int | None:
        return self.starts[rank] if self.explicit else None


def layouts(world: int) -> list[Layout]:
    uneven = [5, 8] if world == 2 else [4, 0, 6, 3]  # a rank may hold no class at all
    return [
        Layout("even", [3] * world, list(range(world)), explicit=False),
        Layout("uneven", uneven, list(reversed(range(world))), explicit=True),
    ]


def targets_for(vocab: int, ignore: str, g: torch.Generator) -> torch.Tensor:
    y = torch.randint(0, vocab, SHAPE, generator=g)
    if ignore == "some":
        y[torch.rand(SHAPE, generator=g) < 0.3] = IGNORE
        y[0, 0] = IGNORE
    elif ignore == "all":
        y[:] = IGNORE
    return y


def options_for(reduction: str, smoothing: float, ignore: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "label_smoothing": smoothing,
        "ignore_index": None if ignore == "none" else IGNORE,
    }
    if reduction == "normalizer":
        options.update(reduction="mean", normalizer=7.0)
    else:
        options["reduction"] = reduction
    return options


def torch_reference(logits: torch.Tensor, y: torch.Tensor, options: dict[str, Any]) -> Any:
    """``F.cross_entropy`` where it has the option (None otherwise)."""
    reduction = options["reduction"]
    if options.get("normalizer") is not None or reduction == "sum_over_batch_size":
        return None
    if reduction == "mean" and options["ignore_index"] is not None and bool((y == IGNORE).all()):
        return None  # torch's mean over nothing is NaN; losskit's is 0
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        y.reshape(-1),
        ignore_index=IGNORE,  # absent from the targets when losskit's ignore_index is None
        label_smoothing=options["label_smoothing"],
        reduction=reduction,
    ).reshape(() if reduction != "none" else y.shape)


def grad_of(value: Any, upstream: torch.Tensor | None, *inputs: torch.Tensor) -> list[Any]:
    return list(torch.autograd.grad(value, inputs, upstream, allow_unused=True))


# ---------------------------------------------------------------------- 1. logits shards
def check_logits(rank: int, world: int) -> list[str]:
    done = []
    cases = itertools.product(layouts(world), ("none", "some", "all"), (0.0, 0.1), REDUCTIONS)
    for number, (layout, ignore, smoothing, reduction) in enumerate(cases):
        g = torch.Generator().manual_seed(number)
        full = torch.randn(*SHAPE, layout.vocab, generator=g) * 3.0
        y = targets_for(layout.vocab, ignore, g)
        options = options_for(reduction, smoothing, ignore)
        what = f"logits {layout.name}, ignore {ignore}, ε={smoothing}, {reduction}"
        upstream = torch.rand(SHAPE, generator=g) * 2 - 0.5 if reduction == "none" else None

        shard = full[..., layout.part(rank)].clone().requires_grad_()
        COUNTER.take()
        loss = vp.vocab_parallel_cross_entropy(shard, y, vocab_start=layout.start(rank), **options)
        check_forward_collectives(COUNTER.take(), y.numel(), what)
        (grad,) = grad_of(loss, upstream, shard)
        assert COUNTER.take() == [], f"{what}: the backward communicated"

        reference = full.clone().requires_grad_()
        expected = lk.sparse_categorical_crossentropy(y, reference, from_logits=True, **options)
        (expected_grad,) = grad_of(expected, upstream, reference)
        close(loss, expected, VALUE, f"{what}: value")
        close(grad, expected_grad[..., layout.part(rank)], GRAD, f"{what}: gradient")
        anchor = torch_reference(full, y, options)
        if anchor is not None:
            close(loss, anchor, VALUE, f"{what}: value against F.cross_entropy")
        if ignore == "all":
            assert float(loss.detach().abs().sum()) == 0.0 == float(grad.abs().sum()), what
    done.append(f"vocab_parallel_cross_entropy: {number + 1} cases")
    return done


def check_logits_weighted_and_half(rank: int, world: int) -> list[str]:
    layout = layouts(world)[1]
    g = torch.Generator().manual_seed(100)
    full = torch.randn(*SHAPE, layout.vocab, generator=g)
    y = targets_for(layout.vocab, "some", g)
    weight, mask = torch.rand(SHAPE, generator=g), torch.rand(SHAPE, generator=g) > 0.2
    options = {"sample_weight": weight, "mask": mask, "label_smoothing": 0.1}
    shard = full[..., layout.part(rank)].clone().requires_grad_()
    loss = vp.vocab_parallel_cross_entropy(shard, y, vocab_start=layout.start(rank), **options)
    (grad,) = grad_of(loss, None, shard)
    reference = full.clone().requires_grad_()
    expected = lk.sparse_categorical_crossentropy(
        y, reference, from_logits=True, ignore_index=IGNORE, **options
    )
    (expected_grad,) = grad_of(expected, None, reference)
    close(loss, expected, VALUE, "sample_weight and mask: value")
    close(grad, expected_grad[..., layout.part(rank)], GRAD, "sample_weight and mask: gradient")

    # bfloat16 shards compute in float32: compare with float32 on the rounded logits
    rounded = full.to(torch.bfloat16)
    half = rounded[..., layout.part(rank)].clone().requires_grad_()
    loss = vp.vocab_parallel_cross_entropy(half, y, vocab_start=layout.start(rank))
    (grad,) = grad_of(loss, None, half)
    assert loss.dtype == torch.float32 and grad.dtype == torch.bfloat16
    reference = rounded.float().requires_grad_()
    expected = F.cross_entropy(reference.reshape(-1, layout.vocab), y.reshape(-1))
    (expected_grad,) = grad_of(expected, None, reference)
    close(loss, expected, 1e-5, "bfloat16: value")
    close(grad, expected_grad[..., layout.part(rank)], 1e-2, "bfloat16: gradient")
    return ["vocab_parallel_cross_entropy: sample_weight, mask, bfloat16"]


# ---------------------------------------------------------------------- 2. weight shards
def check_linear(rank: int, world: int) -> list[str]:
    cases = itertools.product(layouts(world), ("none", "some", "all"), (0.0, 0.1), REDUCTIONS)
    for number, (layout, ignore, smoothing, reduction) in enumerate(cases):
        g = torch.Generator().manual_seed(1000 + number)
        hidden = torch.randn(*SHAPE, FEATURES, generator=g)
        weight = torch.randn(layout.vocab, FEATURES, generator=g)
        bias = torch.randn(layout.vocab, generator=g) if number % 2 else None
        y = targets_for(layout.vocab, ignore, g)
        options = options_for(reduction, smoothing, ignore)
        chunk = (4, 7, None)[number % 3]  # chunks that do not divide N, and the default
        what = (
            f"linear {layout.name}, ignore {ignore}, ε={smoothing}, {reduction}, "
            f"bias {bias is not None}, chunk {chunk}"
        )
        upstream = torch.rand(SHAPE, generator=g) * 2 - 0.5 if reduction == "none" else None
        part = layout.part(rank)

        h = hidden.clone().requires_grad_()
        w = weight[part].clone().requires_grad_()
        b = None if bias is None else bias[part].clone().requires_grad_()
        COUNTER.take()
        loss = vp.vocab_parallel_linear_cross_entropy(
            h, w, y, bias_shard=b, vocab_start=layout.start(rank), chunk_size=chunk, **options
        )
        check_forward_collectives(COUNTER.take(), y.numel(), what)
        leaves = [h, w] if b is None else [h, w, b]
        grads = grad_of(loss, upstream, *leaves)
        backward = COUNTER.take()
        assert [(c[0], c[2]) for c in backward] == [("all_reduce", h.numel())], (what, backward)

        ref = [hidden.clone().requires_grad_(), weight.clone().requires_grad_()]
        if bias is not None:
            ref.append(bias.clone().requires_grad_())
        expected = lk.linear_cross_entropy(
            ref[0], ref[1], y, bias=None if bias is None else ref[2], **options
        )
        expected_grads = grad_of(expected, upstream, *ref)
        close(loss, expected, VALUE, f"{what}: value")
        close(grads[0], expected_grads[0], GRAD, f"{what}: hidden gradient")
        close(grads[1], expected_grads[1][part], GRAD, f"{what}: weight_shard gradient")
        if bias is not None:
            close(grads[2], expected_grads[2][part], GRAD, f"{what}: bias_shard gradient")
        logits = hidden @ weight.T + (0.0 if bias is None else bias)
        anchor = torch_reference(logits, y, options)
        if anchor is not None:
            close(loss, anchor, VALUE, f"{what}: value against F.cross_entropy")
        if ignore == "all":
            assert float(loss.detach().abs().sum()) == 0.0, what
            assert all(float(x.abs().sum()) == 0.0 for x in grads), what

    # only the weight shard trains (frozen hidden states): no all-reduce in the backward
    layout = layouts(world)[0]
    g = torch.Generator().manual_seed(999)
    hidden = torch.randn(*SHAPE, FEATURES, generator=g)
    weight = torch.randn(layout.vocab, FEATURES, generator=g)
    y = targets_for(layout.vocab, "some", g)
    w = weight[layout.part(rank)].clone().requires_grad_()
    loss = vp.vocab_parallel_linear_cross_entropy(hidden, w, y, label_smoothing=0.1)
    COUNTER.take()
    loss.backward()
    assert COUNTER.take() == [], "frozen hidden: the backward communicated"
    return [f"vocab_parallel_linear_cross_entropy: {number + 1} cases, frozen hidden"]


# ---------------------------------------------------------------------- 3. errors, on every rank
def expect_error(call: Callable[[], Any], message: str, what: str) -> None:
    try:
        call()
    except ValueError as error:
        assert message in str(error), f"{what}: {error}"
    else:
        raise AssertionError(f"{what}: no ValueError")


def check_errors(rank: int, world: int) -> list[str]:
    layout = layouts(world)[0]
    g = torch.Generator().manual_seed(7)
    full = torch.randn(4, layout.vocab, generator=g)
    y = torch.randint(0, layout.vocab, (4,), generator=g)
    shard = full[:, layout.part(rank)]
    too_big = y.clone()
    too_big[1] = layout.vocab
    expect_error(
        lambda: vp.vocab_parallel_cross_entropy(shard, too_big),
        f"targets must be global class indices in [0, {layout.vocab})",
        "target out of range",
    )
    expect_error(
        lambda: vp.vocab_parallel_cross_entropy(shard, y, vocab_start=0),
        "vocab_start",
        "overlapping shards",
    )
    mine = y.clone()
    mine[0] = rank % layout.vocab
    expect_error(
        lambda: vp.vocab_parallel_cross_entropy(shard, mine),
        "targets differ between the ranks",
        "targets not replicated",
    )
    poisoned = shard.clone()
    if rank == world - 1:
        poisoned[2, 0] = torch.nan
    expect_error(
        lambda: vp.vocab_parallel_cross_entropy(poisoned, y),
        "logits_shard contains NaN (on 1 rank(s)",
        "NaN on one rank",
    )
    hidden = torch.randn(4, FEATURES, generator=g)
    weight = torch.randn(layout.vocab, FEATURES, generator=g)[layout.part(rank)]
    if rank == 0:
        weight[0, 0] = torch.nan
    expect_error(
        lambda: vp.vocab_parallel_linear_cross_entropy(hidden, weight, y),
        "weight_shard contains NaN",
        "NaN in a weight shard",
    )
    with lk.validation(False):  # unchecked: no host read, no error, no out-of-range gather
        value = vp.vocab_parallel_cross_entropy(shard, too_big, reduction="none")
    assert torch.isfinite(value).all()
    return ["errors raised on every rank: targets, vocab_start, replicated targets, NaN"]


# ---------------------------------------------------------------------- driver
def new_counter() -> None:
    """Every rank counts its own collectives from the start."""
    global COUNTER
    COUNTER = Counter()


if __name__ == "__main__":
    sys.exit(
        gloo_group.run(
            [check_logits, check_logits_weighted_and_half, check_linear, check_errors], new_counter
        )
    )
