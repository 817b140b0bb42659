r"""Cross-entropy with the vocabulary split over the ranks of a torch.distributed group.

Tensor (Megatron-style) parallelism splits the output layer along the vocabulary: rank ``r`` of a
group of ``W`` holds the logits (or the rows of the output weight) of the classes
``[s_r, s_r + V_r)`` — ``s_r = r·V/W`` for even shards — while the tokens, their targets and the
hidden states are replicated on every rank. Each rank returns the *whole* loss (the same value on
every rank), and the gradients of its own shard.

Forward, per token: each rank computes on its shard the local maximum ``m_r``, the scaled sum
``Σ exp(z - m_r)``, the target logit (on the rank that owns the target, 0 elsewhere) and, with
label smoothing, ``Σ (z - m_r)``. Two all-reduces of ``O(N)`` values combine them:

1. MAX of the ``N`` local maxima (no gradient flows through it: the maximum cancels), and of
   four numbers that fingerprint the targets (to check that every rank has the same);
2. SUM of one stacked ``(k, N)`` tensor — the sums rescaled to the global maximum, the target
   logits, the smoothing sums — and ``2W + 1`` to ``2W + 3`` numbers of bookkeeping (each rank's
   ``(s_r, V_r)``, which give ``V`` and check that the shards tile the vocabulary; NaN flags).

Backward: the gradient of a logit shard is local, ``(softmax − (1−ε)·onehot − ε/V)·g`` with the
global ``logsumexp`` kept from the forward. For :func:`vocab_parallel_linear_cross_entropy` the
weight and bias shards' gradients are local too (chunk logits recomputed), and the hidden states'
gradient, a sum over the vocabulary shards, takes one all-reduce of ``(N, d)`` in the backward —
the backward of Megatron's "copy to tensor-parallel region".

With checks on (eager, :func:`losskit.set_validation`), value errors are found after the
all-reduces from numbers every rank holds, so every rank raises the same error instead of one
rank leaving the others waiting on a collective.

Reference: Shoeybi et al. (2019), *Megatron-LM: Training Multi-Billion Parameter Language Models
Using Model Parallelism*, §3 (parallel cross-entropy fused with the output embedding GEMM).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.distributed as dist
from torch.autograd.function import once_differentiable

from .. import _validate
from .._backend import ArrayAPIBackend, backend_of
from .._reduce import check_reduction, reduce_loss
from ..losses import _linear
from ..losses._torch_linear import logits as _logits
from ._torch_collectives import rank_and_world

#: Weights of the second targets fingerprint (positions modulo a prime, so a permutation of the
#: targets between ranks changes it).
_FINGERPRINT_PERIOD = 251


class _Shard(NamedTuple):
    """This rank's part of the vocabulary: classes ``[start, start + size)`` of the group."""

    group: Any
    rank: int
    world: int
    start: int
    size: int


# ---------------------------------------------------------------------- public functions
def vocab_parallel_cross_entropy(
    logits_shard: Any,
    targets: Any,
    *,
    group: Any = None,
    vocab_start: int | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Sparse cross-entropy from logits split along the vocabulary over a process group.

    Rank ``r`` holds the logits :math:`z_{s_r}, …, z_{s_r + V_r - 1}` of the ``V`` classes; the
    loss of a token with global target ``y`` is :func:`losskit.sparse_categorical_crossentropy`'s
    with ``from_logits=True``,

    .. math:: \ell = \log \sum_{k<V} e^{z_k - M} - (1-ε)(z_y - M)
              - \tfrac{ε}{V} \sum_{k<V} (z_k - M),\qquad M = \max_k z_k,

    each sum over the whole vocabulary assembled from the ranks' partial sums (ε =
    ``label_smoothing``, spread uniformly over all ``V`` classes as in losskit and torch). Forward:
    two all-reduces of ``O(N)`` numbers (MAX of the per-token maxima, then one SUM of the stacked
    partial sums); backward: none, the shard's gradient
    :math:`(\operatorname{softmax}(z) - (1-ε)\,\mathbb 1_y - ε/V)\,g` is computed locally.

    Every rank returns the loss of the whole vocabulary (the same value); calling
    ``backward()`` on it on every rank gives each shard its gradient — exactly the slice of the
    single-process gradient of the gathered logits.

    Args:
        logits_shard: this rank's logits ``(..., V_r)`` (a torch tensor; half types compute in
            float32; the result is in the compute dtype).
        targets: global class indices in ``[0, V)``, shape ``(...)``, the same on every rank.
        group: the tensor-parallel process group (None: the default group). Without an
            initialised process group this is the single-process loss (``W = 1``).
        vocab_start: this rank's first class ``s_r``. None: ``rank · V_r`` (even shards). Give it
            for uneven shards; the shards must tile ``[0, V)`` (checked).
        ignore_index: a target value excluded from the loss and the mean's denominator (torch's
            default -100; None excludes nothing). An all-ignored batch gives 0 with a zero
            gradient.
        label_smoothing: ε in [0, 1].
        sample_weight, mask, reduction, normalizer: losskit's reduction contract on ``targets``'
            shape (``"mean"``, ``"sum"``, ``"none"``, ``"sum_over_batch_size"``); weights and
            masks must be the same on every rank.

    Every rank of ``group`` must call it with the same targets and options. With checks on, a
    target outside ``[0, V)``, a NaN in any rank's shard, shards that do not tile the vocabulary
    or targets that differ between ranks raise ``ValueError`` on every rank.

    Reference: Shoeybi et al. (2019), *Megatron-LM* (vocabulary-parallel cross-entropy).

    >>> import torch, losskit as lk
    >>> from losskit.distributed import vocab_parallel_cross_entropy
    >>> logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> targets = torch.tensor([0, -100])
    >>> round(float(vocab_parallel_cross_entropy(logits, targets)), 6)  # one process: W = 1
    0.239545
    >>> round(float(lk.sparse_categorical_crossentropy(targets, logits, from_logits=True,
    ...                                                ignore_index=-100)), 6)
    0.239545
    """
    check_reduction(reduction, normalizer)
    _linear._check_ignore_index(ignore_index)
    smoothing = _validate.check_range("label_smoothing", label_smoothing, 0.0, 1.0)
    z = _float_tensor(logits_shard, "logits_shard")
    if z.dim() < 1:
        raise ValueError("logits_shard must have shape (..., V_local) with classes last; got 0-d")
    backend = backend_of(z)
    shard = _shard(group, vocab_start, z.shape[-1])
    checking = _validate.checking_values(backend, z)
    labels = _labels(backend, targets, z, "logits_shard", checking)
    valid = None if ignore_index is None else labels != ignore_index
    tokens = labels.numel()
    loss = _LogitShard.apply(
        z.reshape(tokens, shard.size),
        labels.reshape(tokens),
        None if valid is None else valid.reshape(tokens),
        shard,
        smoothing,
        checking,
    )
    return _reduce(backend, loss, labels, valid, sample_weight, mask, reduction, normalizer)


def vocab_parallel_linear_cross_entropy(
    hidden: Any,
    weight_shard: Any,
    targets: Any,
    *,
    group: Any = None,
    vocab_start: int | None = None,
    bias_shard: Any = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
    chunk_size: int | None = None,
) -> Any:
    r"""Cross-entropy of an output layer split along the vocabulary, logits never stored.

    Rank ``r`` holds the rows ``[s_r, s_r + V_r)`` of the output projection (``weight_shard``,
    ``(V_r, d)``, ``torch.nn.Linear`` layout, and optionally ``bias_shard``); ``hidden`` is the
    same on every rank. The loss is that of :func:`vocab_parallel_cross_entropy` on the logits
    :math:`z = h W^\top + b`,

    .. math:: \ell = \log \sum_{k<V} e^{z_k - M} - (1-ε)(z_y - M)
              - \tfrac{ε}{V} \sum_{k<V} (z_k - M),

    i.e. :func:`losskit.linear_cross_entropy` with the full weight on one process. Each rank
    computes its logits ``chunk_size`` tokens at a time (one ``(chunk, V_r)`` buffer, never
    ``N × V_r``), keeping per token its local maximum and partial sums; then the same two
    all-reduces of ``O(N)`` numbers as :func:`vocab_parallel_cross_entropy` combine them.

    Backward: each chunk's logits are recomputed and turned into the softmax with the global
    ``logsumexp``; the gradients of ``weight_shard`` and ``bias_shard`` are local. The gradient of
    ``hidden`` is a sum over the vocabulary shards, :math:`\sum_r G_r W_r`: it is all-reduced
    (one all-reduce of ``(N, d)``), so every rank's ``hidden`` receives the full gradient — do
    not also all-reduce it yourself (e.g. through Megatron's ``copy_to_tensor_model_parallel_
    region``, whose backward is this same all-reduce).

    Args:
        hidden: hidden states ``(..., d)``, the same on every rank (its dtype decides the compute
            dtype: half types compute in float32).
        weight_shard: this rank's ``(V_r, d)`` rows of the output projection.
        targets: global class indices, ``hidden``'s shape without the last axis.
        group, vocab_start: as in :func:`vocab_parallel_cross_entropy`.
        bias_shard: optional ``(V_r,)`` bias of this rank's classes.
        ignore_index, label_smoothing, sample_weight, mask, reduction, normalizer: as in
            :func:`vocab_parallel_cross_entropy`.
        chunk_size: tokens per chunk (default: :func:`losskit.linear_cross_entropy`'s, for
            ``V_r`` classes).

    The backward recomputes the logits (four matrix products of ``N·V_r·d`` in all) and has no
    double backward.

    Reference: Shoeybi et al. (2019), *Megatron-LM*; Wijmans et al. (2025), *Cut Your Losses in
    Large-Vocabulary Language Models* (chunked logits).

    >>> import torch, losskit as lk
    >>> from losskit.distributed import vocab_parallel_linear_cross_entropy
    >>> hidden = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> weight = torch.tensor([[2.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    >>> targets = torch.tensor([0, -100])
    >>> round(float(vocab_parallel_linear_cross_entropy(hidden, weight, targets)), 6)  # W = 1
    0.239545
    >>> round(float(lk.linear_cross_entropy(hidden, weight, targets)), 6)
    0.239545
    """
    check_reduction(reduction, normalizer)
    _linear._check_ignore_index(ignore_index)
    smoothing, _, _, chunk_size = _linear._check_options(label_smoothing, 0.0, None, chunk_size)
    h = _float_tensor(hidden, "hidden")
    if h.dim() < 1:
        raise ValueError("hidden must have shape (..., d) with a feature axis last; got 0-d")
    w = _float_tensor(weight_shard, "weight_shard")
    features = h.shape[-1]
    if w.dim() != 2 or w.shape[1] != features:
        raise ValueError(
            f"weight_shard of shape {tuple(w.shape)} does not match hidden of shape "
            f"{tuple(h.shape)}: it must have shape (V_local, {features}), this rank's rows of "
            "torch.nn.Linear(d, V).weight"
        )
    _same_device(w, h, "weight_shard")
    b = None
    if bias_shard is not None:
        b = _float_tensor(bias_shard, "bias_shard")
        if tuple(b.shape) != (w.shape[0],):
            raise ValueError(
                f"bias_shard of shape {tuple(b.shape)} does not match weight_shard of shape "
                f"{tuple(w.shape)}: it must have shape ({w.shape[0]},), one entry per local class"
            )
        _same_device(b, h, "bias_shard")
    backend = backend_of(h)
    dtype = backend.compute_dtype(h)
    h, w = backend.astype(h, dtype), backend.astype(w, dtype)
    b = None if b is None else backend.astype(b, dtype)
    shard = _shard(group, vocab_start, w.shape[0])
    checking = _validate.checking_values(backend, h)
    labels = _labels(backend, targets, h, "hidden", checking)
    valid = None if ignore_index is None else labels != ignore_index
    tokens = labels.numel()
    rows = chunk_size or _linear.default_rows(max(shard.size, 1), features)
    loss = _LinearShard.apply(
        h.reshape(tokens, features),
        w,
        b,
        labels.reshape(tokens),
        None if valid is None else valid.reshape(tokens),
        shard,
        smoothing,
        rows,
        checking,
    )
    return _reduce(backend, loss, labels, valid, sample_weight, mask, reduction, normalizer)


# ---------------------------------------------------------------------- arguments
def _float_tensor(x: Any, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch tensor (the vocabulary-parallel losses run on "
            f"torch.distributed); got {type(x).__module__}.{type(x).__name__}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {x.dtype}")
    return x


def _same_device(x: torch.Tensor, like: torch.Tensor, name: str) -> None:
    if x.device != like.device:
        raise ValueError(f"{name} is on device {x.device} but hidden is on {like.device}")


def _shard(group: Any, vocab_start: Any, size: int) -> _Shard:
    if vocab_start is not None:
        if isinstance(vocab_start, bool) or not isinstance(vocab_start, int):
            raise TypeError(
                f"vocab_start must be an int (this rank's first class) or None; got "
                f"{type(vocab_start).__name__}"
            )
        if vocab_start < 0:
            raise ValueError(f"vocab_start must be a non-negative class index; got {vocab_start}")
    rank, world = rank_and_world(group)
    start = rank * size if vocab_start is None else vocab_start
    return _Shard(group, rank, world, start, size)


def _labels(
    backend: ArrayAPIBackend, targets: Any, like: torch.Tensor, like_name: str, checking: bool
) -> torch.Tensor:
    """Integer class indices of ``like``'s shape without its last axis (a trailing size-1 axis
    is accepted)."""
    labels = backend.asarray(targets, like, "targets")
    _validate.check_integer_dtype(backend, labels, "targets")
    if backend.is_floating(labels) and checking:
        _validate.check_no_nan(backend, labels, "targets")
        _validate.check_integer_valued(backend, labels, "targets")
    labels = backend.astype(labels, backend.index_dtype)
    expected = tuple(like.shape[:-1])
    shape = tuple(labels.shape)
    if shape == expected:
        return labels
    if shape == (*expected, 1):
        return labels.reshape(expected)
    raise ValueError(
        f"targets of shape {shape} do not match {like_name} of shape {tuple(like.shape)}: "
        f"targets must have shape {expected}, one global class index per token"
    )


def _reduce(
    backend: ArrayAPIBackend,
    loss: torch.Tensor,
    labels: torch.Tensor,
    valid: Any,
    sample_weight: Any,
    mask: Any,
    reduction: str,
    normalizer: Any,
) -> Any:
    return reduce_loss(
        backend,
        loss.reshape(labels.shape),
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        mask=mask,
        valid=valid,
    )


# ---------------------------------------------------------------------- the local part
def _local_targets(labels: Any, valid: Any, shard: _Shard) -> tuple[Any, Any]:
    """Column of each token's target in this shard (0 where not owned), and whether owned."""
    offset = labels - shard.start
    owned = (offset >= 0) & (offset < shard.size)
    if valid is not None:
        owned &= valid
    return torch.where(owned, offset, 0), owned


def _chunk_stats(
    z: Any, local: Any, owned: Any, smoothing: float, out: Any, overwrite: bool
) -> None:
    """Per-token statistics of logits ``z (C, V_r)`` into ``out (4, C)``: the maximum ``m``;
    ``Σ exp(z - m')``; ``z_y - m'`` (0 where the target is elsewhere); ``Σ (z - m')`` (with
    smoothing) — ``m'`` is ``m``, or 0 where ``m`` is not finite. ``overwrite``: ``z`` may be
    modified in place."""
    if z.shape[1] == 0:  # a rank without classes
        out[0].fill_(-torch.inf)
        out[1:].zero_()
        return
    top = torch.amax(z, dim=1)
    shift = torch.where(torch.isfinite(top), top, 0.0)
    out[0] = top
    out[2] = torch.where(owned, z.gather(1, local[:, None])[:, 0] - shift, 0.0)
    z = z.sub_(shift[:, None]) if overwrite else z - shift[:, None]
    if smoothing:
        out[3] = z.sum(dim=1)
    else:
        out[3].zero_()
    out[1] = z.exp_().sum(dim=1)


def _softmax_grad_(
    z: Any,
    lse: Any,
    local: Any,
    owned: Any,
    valid: Any,
    coef: Any,
    smoothing: float,
    classes: Any,
) -> Any:
    """``coef·(softmax(z) − (1−ε)·onehot − ε/V)`` in place of the logits ``z (C, V_r)``, with
    the global ``lse``; rows of excluded tokens are 0."""
    z.sub_(lse[:, None]).exp_()
    if smoothing:
        z.sub_(smoothing / classes)
    z.mul_(coef[:, None])
    if z.shape[1]:
        target = torch.where(owned, coef * (smoothing - 1.0), 0.0)
        z.scatter_add_(1, local[:, None], target[:, None])
    if valid is not None:  # an inf logit of an ignored token must not leave a NaN here
        z.masked_fill_(~valid[:, None], 0.0)
    return z


# ---------------------------------------------------------------------- communication
def _fingerprint(labels: Any, dtype: Any) -> Any:
    """Two numbers that differ between ranks whose targets differ (almost always)."""
    weights = torch.arange(labels.shape[0], device=labels.device) % _FINGERPRINT_PERIOD + 1
    return torch.stack([labels.sum(), (labels * weights).sum()]).to(dtype)


def _combine(
    stats: Any,
    labels: Any,
    valid: Any,
    owned: Any,
    shard: _Shard,
    smoothing: float,
    nan_flags: Sequence[tuple[str, Any]],
    checking: bool,
) -> tuple[Any, Any, Any]:
    """The per-token loss, the global ``logsumexp`` and ``V`` (a 0-d tensor) from this rank's
    ``stats`` (``_chunk_stats``'s rows over all tokens): the two all-reduces."""
    top, total, picked, centred = stats
    tokens, dtype, world = top.shape[0], stats.dtype, shard.world
    fingerprint = _fingerprint(labels, dtype)
    payload = torch.cat([top, fingerprint, -fingerprint])
    if world > 1:  # 1: MAX of the maxima (and of the fingerprints, both signs)
        dist.all_reduce(payload, op=dist.ReduceOp.MAX, group=shard.group)
    peak = payload[:tokens]
    peak = torch.where(torch.isfinite(peak), peak, 0.0)
    delta = torch.where(torch.isfinite(top), top, 0.0) - peak
    columns = [
        torch.where(total > 0, total * torch.exp(delta), 0.0),
        torch.where(owned, picked + delta, 0.0),
    ]
    if smoothing:
        columns.append(centred + shard.size * delta)
    table = torch.zeros(2 * world, dtype=dtype, device=top.device)
    table[2 * shard.rank] = shard.start
    table[2 * shard.rank + 1] = shard.size
    flags = torch.stack([flag.to(dtype) for _, flag in nan_flags])
    summed = torch.cat([torch.stack(columns).reshape(-1), table, flags])
    if world > 1:  # 2: SUM of everything else
        dist.all_reduce(summed, op=dist.ReduceOp.SUM, group=shard.group)
    parts = summed[: len(columns) * tokens].reshape(len(columns), tokens)
    table = summed[len(columns) * tokens : len(columns) * tokens + 2 * world]
    classes = table[1::2].sum()
    if checking:
        counts = summed[len(columns) * tokens + 2 * world :]
        _check(labels, valid, table, payload[tokens:], counts, nan_flags, world)
    log_total = torch.log(parts[0])
    loss = log_total - (1.0 - smoothing) * parts[1]
    if smoothing:
        loss = loss - (smoothing / classes) * parts[2]
    return loss, peak + log_total, classes


def _check(
    labels: Any,
    valid: Any,
    table: Any,
    fingerprints: Any,
    counts: Any,
    nan_flags: Sequence[tuple[str, Any]],
    world: int,
) -> None:
    """Value checks on numbers every rank holds after the all-reduces (so all raise alike)."""
    pairs = [(int(s), int(n)) for s, n in table.reshape(world, 2).tolist()]
    end = 0
    for start, size in sorted(pairs):
        if start != end:
            listing = ", ".join(f"rank {r}: [{s}, {s + n})" for r, (s, n) in enumerate(pairs))
            raise ValueError(
                "the ranks' vocabulary shards must be disjoint and together cover [0, V) "
                f"without gaps; got {listing}. Pass vocab_start= (this rank's first class) "
                "when the shards have different sizes"
            )
        end = start + size
    high, negated_low = fingerprints.reshape(2, 2).tolist()
    if high != [-x for x in negated_low]:
        raise ValueError(
            "targets differ between the ranks of the group: under vocabulary parallelism every "
            "rank must pass the same (replicated) targets"
        )
    for (name, _), count in zip(nan_flags, counts.tolist(), strict=True):
        if count:
            raise ValueError(f"{name} contains NaN (on {int(count)} rank(s) of the group)")
    checked = labels if valid is None else torch.where(valid, labels, 0)
    if checked.numel():
        low, high_label = int(checked.min()), int(checked.max())
        if low < 0 or high_label >= end:
            raise ValueError(
                f"targets must be global class indices in [0, {end}) (or ignore_index); found "
                f"labels in [{low}, {high_label}]"
            )


def _nan_flag(x: Any, checking: bool) -> Any:
    """Whether ``x`` holds a NaN (one reduction; the exact scan only if its sum is NaN)."""
    found = x is not None and checking and backend_of(x).has_nan(x)
    return torch.tensor(found)


# ---------------------------------------------------------------------- autograd
class _LogitShard(torch.autograd.Function):
    """Per-token loss from a logit shard; the backward is local."""

    @staticmethod
    def forward(
        ctx: Any,
        z: Any,
        labels: Any,
        valid: Any,
        shard: _Shard,
        smoothing: float,
        checking: bool,
    ) -> Any:
        dtype = torch.float64 if z.dtype == torch.float64 else torch.float32
        computed = z.to(dtype)
        local, owned = _local_targets(labels, valid, shard)
        stats = torch.empty((4, z.shape[0]), dtype=dtype, device=z.device)
        _chunk_stats(computed, local, owned, smoothing, stats, overwrite=computed is not z)
        flags = [("logits_shard", _nan_flag(z, checking).to(z.device))]
        loss, lse, classes = _combine(
            stats, labels, valid, owned, shard, smoothing, flags, checking
        )
        ctx.save_for_backward(z, lse, local, owned, valid, classes)
        ctx.smoothing = smoothing
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, upstream: Any) -> Any:
        z, lse, local, owned, valid, classes = ctx.saved_tensors
        coef = upstream.to(lse.dtype)
        grad = z.to(lse.dtype, copy=True)
        _softmax_grad_(grad, lse, local, owned, valid, coef, ctx.smoothing, classes)
        return grad.to(z.dtype), None, None, None, None, None


class _LinearShard(torch.autograd.Function):
    """Per-token loss from hidden states and a weight shard, a chunk of tokens at a time; the
    backward recomputes the chunks and all-reduces the hidden states' gradient."""

    @staticmethod
    def forward(
        ctx: Any,
        h: Any,
        w: Any,
        b: Any,
        labels: Any,
        valid: Any,
        shard: _Shard,
        smoothing: float,
        rows: int,
        checking: bool,
    ) -> Any:
        tokens = h.shape[0]
        local, owned = _local_targets(labels, valid, shard)
        stats = torch.empty((4, tokens), dtype=h.dtype, device=h.device)
        buffer = torch.empty((min(rows, tokens), shard.size), dtype=h.dtype, device=h.device)
        for start in range(0, tokens, rows):
            stop = min(start + rows, tokens)
            z = _logits(_rows(h, valid, start, stop), w, b, out=buffer[: stop - start])
            part = slice(start, stop)
            _chunk_stats(z, local[part], owned[part], smoothing, stats[:, part], overwrite=True)
        flags = [
            ("hidden", _nan_flag(h, checking)),
            ("weight_shard", _nan_flag(w, checking)),
            ("bias_shard", _nan_flag(b, checking)),
        ]
        flags = [(name, flag.to(h.device)) for name, flag in flags]
        loss, lse, classes = _combine(
            stats, labels, valid, owned, shard, smoothing, flags, checking
        )
        ctx.save_for_backward(h, w, b, local, owned, valid, lse, classes)
        ctx.shard, ctx.smoothing, ctx.rows = shard, smoothing, rows
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, upstream: Any) -> Any:
        h, w, b, local, owned, valid, lse, classes = ctx.saved_tensors
        shard, rows = ctx.shard, ctx.rows
        needs = ctx.needs_input_grad[:3]
        tokens = h.shape[0]
        coef = upstream.to(h.dtype)
        grad_h = torch.empty_like(h, memory_format=torch.contiguous_format) if needs[0] else None
        grad_w = torch.zeros_like(w, memory_format=torch.contiguous_format) if needs[1] else None
        grad_b = None
        if b is not None and needs[2]:
            grad_b = torch.zeros_like(b, memory_format=torch.contiguous_format)
        buffer = torch.empty((min(rows, tokens), shard.size), dtype=h.dtype, device=h.device)
        for start in range(0, tokens, rows):
            stop = min(start + rows, tokens)
            chunk = _rows(h, valid, start, stop)
            z = _logits(chunk, w, b, out=buffer[: stop - start])
            part = slice(start, stop)
            _softmax_grad_(
                z,
                lse[part],
                local[part],
                owned[part],
                None if valid is None else valid[part],
                coef[part],
                ctx.smoothing,
                classes,
            )
            if grad_h is not None:
                torch.mm(z, w, out=grad_h[part])
            if grad_w is not None:
                grad_w.addmm_(z.T, chunk)
            if grad_b is not None:
                grad_b += z.sum(dim=0)
        if grad_h is not None and shard.world > 1:  # Σ over the vocabulary shards
            dist.all_reduce(grad_h, op=dist.ReduceOp.SUM, group=shard.group)
        return grad_h, grad_w, grad_b, None, None, None, None, None, None


def _rows(h: Any, valid: Any, start: int, stop: int) -> Any:
    """Hidden states of tokens ``[start, stop)``, excluded ones replaced by 0 (an inf or NaN
    there never reaches a sum)."""
    chunk = h[start:stop]
    return chunk if valid is None else torch.where(valid[start:stop, None], chunk, 0.0)
