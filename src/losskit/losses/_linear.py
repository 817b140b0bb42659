"""Cross-entropy over a large vocabulary straight from hidden states, without the logits.

``linear_cross_entropy(hidden, weight, targets)`` is
``sparse_categorical_crossentropy(targets, hidden @ weight.T + bias, from_logits=True)`` (with an
optional soft cap and z-loss) computed a chunk of tokens at a time, so the ``(N, V)`` logits never
exist at once. Layout:

* this module: the public function (arguments, checks, the reduction contract), the per-chunk
  formula and its gradient written once against the array API, the plain (unchunked) path and the
  chunked forward used by NumPy and other array-API libraries;
* ``_torch_linear``: autograd Functions with in-place chunk buffers;
* ``_jax_linear``: ``custom_vjp`` functions over a ``lax.scan``;
* ``_tensorflow_linear``: a ``custom_gradient`` op that recomputes the chunks in its backward.

A framework module is imported only when an input of that framework arrives (the ``_torch*``,
``_jax*``, ``_tensorflow*`` names mark them as framework-specific, as in ``_backend``, so tools
that import every module, such as the docstring tests, skip them).

Every kernel has the same interface on flat inputs ``h (M, d)``, ``W (V, d)``, ``b (V,)`` or None,
``labels (M,)`` (valid indices), ``valid (M,)`` bool or None (``False`` rows are excluded: their
hidden state is replaced by 0 before the product, so an inf or NaN there never reaches a sum):

* ``token_losses(...)`` → the per-token loss ``(M,)``, differentiable under any upstream gradient;
* ``weighted_sum(..., coef)`` (torch and JAX) → ``Σ_valid coef·ℓ``: the scalar reductions, with the
  gradients computed during the forward pass (three products of ``N·V·d`` in all, as the plain
  path) and scaled by the upstream gradient in the backward.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any, NamedTuple

from .. import _validate
from .._backend import ArrayAPIBackend, backend_of
from .._inputs import gatherable
from .._reduce import _safe_divide, check_reduction, normalizer_argument, reduce_loss
from .._registry import register

#: Defaults when ``chunk_size`` is not given: at least this many tokens per chunk (matrix
#: products with fewer rows run well below peak on CPUs) and this many bytes of float32 logits.
CHUNK_ROWS = 512
CHUNK_BYTES = 8 * 2**20

_REFERENCES = (
    "Wijmans et al. (2025), Cut Your Losses in Large-Vocabulary Language Models; "
    "torch.nn.functional.linear_cross_entropy",
    "Chowdhery et al. (2022), PaLM: Scaling Language Modeling with Pathways, §5 (z-loss)",
    "Gemma Team (2024), Gemma 2: Improving Open Language Models at a Practical Size "
    "(logit soft-capping)",
)


class Plan(NamedTuple):
    """The static part of a call: chunking and the loss's options (hashable, for JAX)."""

    rows: int
    num_classes: int
    label_smoothing: float
    z_loss: float
    softcap: float | None


@register(
    "linear_cross_entropy",
    aliases=("fused_linear_cross_entropy",),
    family="crossentropy",
    kind="axis",
    task="multiclass",
    domain="logit",
    properties={"proper": True, "bounded": False, "memory_efficient": True},
    references=_REFERENCES,
)
def linear_cross_entropy(
    hidden: Any,
    weight: Any,
    targets: Any,
    *,
    bias: Any = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    class_weight: Any = None,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
    chunk_size: int | None = None,
) -> Any:
    r"""Cross-entropy of a linear output layer over a large vocabulary, logits never stored.

    With logits :math:`z = h W^\top + b` (softcapped to :math:`c \tanh(z / c)` when
    ``softcap=c``), each token's loss is

    .. math:: \ell = \operatorname{logsumexp}(z) - (1-ε)\, z_y - \tfrac{ε}{V}\sum_k z_k
              + ζ \operatorname{logsumexp}(z)^2

    (ε = ``label_smoothing``, ζ = ``z_loss``), so that it equals
    ``sparse_categorical_crossentropy(targets, hidden @ weight.T + bias, from_logits=True, ...)``
    for every shared option (``z_loss`` and ``softcap`` included), with the same reduction
    contract. The z-term is part of the token's loss: class and sample weights multiply it too,
    and an ignored or masked token contributes neither term. The chunked kernels compute both
    options and their gradients inside each chunk: ``∂(ζ lse²)/∂z = 2ζ·lse·softmax(z)``, and the
    soft cap multiplies the logits' gradient by ``1 - tanh²(z / c)``.

    Tokens are processed ``chunk_size`` at a time, so memory beyond the inputs and gradients is
    one chunk of logits instead of ``N × V``. PyTorch: for ``"mean"``/``"sum"``/
    ``"sum_over_batch_size"`` each chunk's logits are computed once and turned into its loss and
    its gradients for ``hidden``, ``weight`` and ``bias`` (accumulated in float32, or float64),
    which the backward pass scales (three matrix products, as the plain path); for ``"none"``
    the backward recomputes each chunk under the upstream gradient. JAX: the same two rules as
    ``custom_vjp`` functions over a ``lax.scan`` (``jit``, ``grad`` and ``vmap`` work).
    TensorFlow: a ``custom_gradient`` op that recomputes the chunks. NumPy and array-API
    libraries: the chunked value. When the batch fits in one chunk, or while a torch input is
    traced (``torch.compile``, ``torch.func``), the plain path (all logits, then the formula,
    differentiated by the framework) runs instead. The chunked torch path has no double
    backward, and its scalar reductions free their gradients in the first backward (for
    ``retain_graph=True`` use ``reduction="none"`` and reduce yourself).

    Args:
        hidden: hidden states ``(..., d)``; its library, device and dtype decide the computation
            (half types compute in float32).
        weight: the output projection ``(V, d)`` (``torch.nn.Linear(d, V).weight``).
        targets: class indices, ``hidden``'s shape without the last axis.
        bias: optional ``(V,)`` bias of the projection.
        ignore_index: a target value excluded from the loss and the mean's denominator (torch's
            default -100; ``None`` excludes nothing). An all-ignored batch gives 0, not NaN.
        label_smoothing: ε in [0, 1].
        z_loss: ζ ≥ 0, the weight of ``logsumexp(z)²`` (PaLM uses 1e-4).
        softcap: c > 0 or None: logits become ``c·tanh(z / c)`` (Gemma 2 uses c = 30).
        class_weight: length-V weights; each token's loss is multiplied by ``w[y]``.
        sample_weight, mask, reduction, normalizer: the reduction contract (weights and masks
            have ``targets``' shape, a prefix of it, or broadcast to it).
        chunk_size: tokens per chunk. By default ``max(d, 512)`` (a chunk of logits then takes
            about as much memory as ``weight``; ``d // 4`` on JAX), and never so few that a
            chunk holds less than 8 MiB of float32 logits.

    References: Wijmans et al., *Cut Your Losses in Large-Vocabulary Language Models* (2025);
    torch ``linear_cross_entropy``; Chowdhery et al., *PaLM* (2022) §5 for the z-loss; Gemma
    Team, *Gemma 2* (2024) for logit soft-capping.

    >>> import numpy as np, losskit as lk
    >>> from losskit import linear_cross_entropy
    >>> hidden = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> weight = np.array([[2.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    >>> round(float(linear_cross_entropy(hidden, weight, np.array([0, -100]))), 6)
    0.239545
    >>> round(float(lk.sparse_categorical_crossentropy(
    ...     [0, -100], hidden @ weight.T, from_logits=True, ignore_index=-100)), 6)
    0.239545
    >>> options = {"z_loss": 1e-4, "softcap": 30.0, "label_smoothing": 0.1}
    >>> round(float(linear_cross_entropy(hidden, weight, np.array([0, -100]), **options)), 6)
    0.373812
    >>> round(float(lk.sparse_categorical_crossentropy(
    ...     [0, -100], hidden @ weight.T, from_logits=True, ignore_index=-100, **options)), 6)
    0.373812
    """
    check_reduction(reduction, normalizer)
    _check_ignore_index(ignore_index)
    options = _check_options(label_smoothing, z_loss, softcap, chunk_size)
    backend, hidden, weight, bias, labels, valid, checking = prepare(
        hidden, weight, bias, targets, ignore_index
    )
    num_classes = backend.shape(weight)[0]
    token_weight = None
    if class_weight is not None:
        token_weight = _class_weights(backend, class_weight, hidden, labels, num_classes, checking)
    module = _framework(backend)
    plan = _plan(module, num_classes, backend.shape(weight)[1], options)
    tokens, count = _flatten(backend, hidden, weight, bias, labels, valid)
    kernels = _kernels(backend, module, tokens, count, plan)
    shape = backend.shape(labels)
    if reduction != "none" and kernels.weighted_sum is not None:
        return _reduce_fused(
            backend,
            kernels.weighted_sum,
            tokens,
            shape,
            reduction,
            normalizer,
            sample_weight,
            mask,
            token_weight,
            valid,
        )
    loss = backend.reshape_like(kernels.token_losses(), labels)
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        mask=mask,
        weight=token_weight,
        valid=valid,
    )


# ---------------------------------------------------------------------- arguments
def prepare(
    hidden: Any, weight: Any, bias: Any, targets: Any, ignore_index: Any
) -> tuple[ArrayAPIBackend, Any, Any, Any, Any, Any, bool]:
    """``(backend, hidden, weight, bias, labels, valid, checking)``: the operands on one backend
    in the compute dtype, the target labels checked (when value checks run; clipped into range
    otherwise, so no gather is out of range) and set to 0 where ``valid`` (None: every token)
    excludes them."""
    backend, hidden, weight, bias = operands(hidden, weight, bias)
    checking = _validate.checking_values(backend, hidden)
    labels = labels_of(backend, targets, hidden, checking)
    num_classes = backend.shape(weight)[0]
    valid = None if ignore_index is None else labels != ignore_index
    if checking:
        _check_values(backend, hidden, weight, bias, labels, valid, num_classes)
    labels = gatherable(backend, labels, num_classes, valid, checking)
    return backend, hidden, weight, bias, labels, valid, checking


def _check_ignore_index(ignore_index: Any) -> None:
    _validate.check_int("ignore_index", ignore_index, optional=True)


def _check_options(
    label_smoothing: Any, z_loss: Any, softcap: Any, chunk_size: Any
) -> tuple[float, float, float | None, int | None]:
    """The scalar options, checked: ``(label_smoothing, z_loss, softcap, chunk_size)``."""
    label_smoothing = _validate.check_range("label_smoothing", label_smoothing, 0.0, 1.0)
    z_loss = _validate.check_z_loss(z_loss)
    softcap = _validate.check_softcap(softcap)
    if chunk_size is not None:
        chunk_size = _validate.check_int("chunk_size", chunk_size, optional=True)
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be a positive number of tokens; got {chunk_size}")
    return label_smoothing, z_loss, softcap, chunk_size


def _float_array(backend: ArrayAPIBackend, x: Any, like: Any, name: str) -> Any:
    x = backend.asarray(x, like, name)
    if not backend.is_floating(x):
        raise TypeError(f"{name} must be a floating-point array; got dtype {x.dtype}")
    return x


HEAD_NAMES = ("hidden", "weight", "bias")


def operands(
    hidden: Any,
    weight: Any,
    bias: Any,
    names: tuple[str, str, str] = HEAD_NAMES,
    like: tuple[ArrayAPIBackend, Any] | None = None,
) -> tuple[ArrayAPIBackend, Any, Any, Any]:
    """Backend of ``hidden``; ``hidden``, ``weight``, ``bias`` on it in the compute dtype.
    ``names`` are the three arguments' names (for messages); ``like=(backend, array)`` converts
    them to that backend and the compute dtype of ``array`` instead (a second head)."""
    hidden_name, weight_name, bias_name = names
    if like is None:
        backend = backend_of(hidden, hidden_name)
        hidden = _float_array(backend, hidden, hidden, hidden_name)
        dtype = backend.compute_dtype(hidden)
    else:
        backend, reference = like
        hidden = _float_array(backend, hidden, reference, hidden_name)
        dtype = reference.dtype
    hidden_shape = backend.shape(hidden)
    if len(hidden_shape) < 1:
        raise ValueError(
            f"{hidden_name} must have shape (..., d) with a feature axis last; got a scalar"
        )
    weight = _float_array(backend, weight, hidden, weight_name)
    weight_shape = backend.shape(weight)
    if len(weight_shape) != 2 or not _validate.same_shape(weight_shape[1:], hidden_shape[-1:]):
        raise ValueError(
            f"{weight_name} of shape {weight_shape} does not match {hidden_name} of shape "
            f"{hidden_shape}: it must have shape (num_classes, {hidden_shape[-1]}), the layout "
            "of torch.nn.Linear(d, num_classes).weight"
        )
    if weight_shape[0] == 0:
        raise ValueError(
            f"{weight_name} must have at least one class (row); got shape {weight_shape}"
        )
    if bias is not None:
        bias = _float_array(backend, bias, hidden, bias_name)
        if not _validate.same_shape(backend.shape(bias), weight_shape[:1]):
            raise ValueError(
                f"{bias_name} of shape {backend.shape(bias)} does not match {weight_name} of "
                f"shape {weight_shape}: it must have shape ({weight_shape[0]},), one entry per "
                "class"
            )
        bias = backend.astype(bias, dtype)
    return backend, backend.astype(hidden, dtype), backend.astype(weight, dtype), bias


def labels_of(
    backend: ArrayAPIBackend, targets: Any, hidden: Any, checking: bool, hidden_name: str = "hidden"
) -> Any:
    """Integer class indices of ``hidden``'s shape without the feature axis."""
    labels = backend.asarray(targets, hidden, "targets")
    _validate.check_integer_dtype(backend, labels, "targets")
    if backend.is_floating(labels) and checking:
        _validate.check_no_nan(backend, labels, "targets")
        _validate.check_integer_valued(backend, labels, "targets")
    labels = backend.astype(labels, backend.index_dtype)
    expected = backend.shape(hidden)[:-1]
    shape = backend.shape(labels)
    if _validate.same_shape(shape, expected):
        return labels
    if _validate.same_shape(shape, (*expected, 1)):
        return backend.xp.reshape(labels, expected)
    raise ValueError(
        f"targets of shape {shape} do not match {hidden_name} of shape {backend.shape(hidden)}: "
        f"targets must have shape {expected}, one class index per hidden state"
    )


def _check_values(
    backend: ArrayAPIBackend,
    hidden: Any,
    weight: Any,
    bias: Any,
    labels: Any,
    valid: Any,
    num_classes: int,
) -> None:
    """Eager value checks: labels in range (or ignored), no NaN in the operands."""
    xp = backend.xp
    checked = labels if valid is None else xp.where(valid, labels, xp.zeros_like(labels))
    _validate.require_bounds(backend, checked, _validate.labels_rule(num_classes, "targets"))
    for name, x in (("hidden", hidden), ("weight", weight), ("bias", bias)):
        if x is not None:
            _validate.check_no_nan(backend, x, name)


def _class_weights(
    backend: ArrayAPIBackend, class_weight: Any, hidden: Any, labels: Any, num: int, checking: bool
) -> Any:
    """``class_weight[labels]``, after checking the vector."""
    xp = backend.xp
    vector = backend.asarray(class_weight, hidden, "class_weight")
    if backend.shape(vector) != (num,):
        raise ValueError(
            f"class_weight must have one entry per class, shape ({num},); got shape "
            f"{backend.shape(vector)}"
        )
    vector = backend.astype(vector, hidden.dtype)
    if checking:
        _validate.check_weights(backend, vector, "class_weight")
    flat = xp.take(vector, xp.reshape(labels, (-1,)), axis=0)
    return xp.reshape(flat, backend.shape(labels))


def default_rows(num_classes: int, features: int) -> int:
    """Tokens per chunk by default: ``features`` (a chunk of logits then takes as much memory as
    the weight, whose gradient is held anyway), at least :data:`CHUNK_ROWS` and
    :data:`CHUNK_BYTES` of float32 logits; a multiple of 8."""
    rows = max(features, CHUNK_ROWS, CHUNK_BYTES // (4 * num_classes))
    return rows - rows % 8


def _plan(module: Any, num_classes: int, features: int, options: tuple[Any, ...]) -> Plan:
    """The options, and the chunk size: ``chunk_size``, else the kernel module's default."""
    label_smoothing, z_loss, softcap, chunk_size = options
    if chunk_size is not None:
        rows = chunk_size
    elif isinstance(num_classes, int) and isinstance(features, int):
        rows = getattr(module, "default_rows", default_rows)(num_classes, features)
    else:  # sizes unknown while tracing: no chunking
        rows = 2**62
    return Plan(rows, num_classes, label_smoothing, z_loss, softcap)


# ---------------------------------------------------------------------- dispatch
_KERNEL_MODULES = {
    "torch": "_torch_linear",
    "jax": "_jax_linear",
    "tensorflow": "_tensorflow_linear",
}


def _framework(backend: ArrayAPIBackend) -> Any:
    """The kernel module of a framework backend (imported on first use), or None."""
    name = _KERNEL_MODULES.get(backend.name)
    return None if name is None else importlib.import_module(f"{__package__}.{name}")


class _Tokens(NamedTuple):
    """The operands over ``M`` flat tokens: ``hidden (M, d)``, ``labels (M,)``, ``valid (M,)``
    (None: nothing excluded), with ``weight`` and ``bias`` as given."""

    hidden: Any
    weight: Any
    bias: Any
    labels: Any
    valid: Any


class _Kernels(NamedTuple):
    """What a call runs: the per-token losses, and (torch and JAX, chunked) ``Σ coef·ℓ``."""

    token_losses: Callable[[], Any]
    weighted_sum: Callable[[Any], Any] | None


def _flatten(
    backend: ArrayAPIBackend, hidden: Any, weight: Any, bias: Any, labels: Any, valid: Any
) -> tuple[_Tokens, int | None]:
    """The operands over flat tokens, and the token count (None while unknown in a trace)."""
    xp = backend.xp
    shape = backend.shape(hidden)
    count = None if any(d is None for d in shape[:-1]) else math.prod(shape[:-1])
    flat_hidden = xp.reshape(hidden, (-1 if count is None else count, shape[-1]))
    flat_valid = None if valid is None else xp.reshape(valid, (-1,))
    return _Tokens(flat_hidden, weight, bias, xp.reshape(labels, (-1,)), flat_valid), count


def _kernels(
    backend: ArrayAPIBackend, module: Any, tokens: _Tokens, count: int | None, plan: Plan
) -> _Kernels:
    """Chunked where that saves memory (more tokens than one chunk, and the framework can run
    its kernel on these inputs); else the plain path, differentiated by the framework."""
    logits = module.logits if module is not None else _generic_logits(backend)
    chunked = count is not None and count > plan.rows
    if not chunked or (module is not None and not module.can_chunk(backend, tokens.hidden)):
        return _Kernels(lambda: plain_token_losses(backend, logits, *tokens, plan), None)
    if module is None:  # NumPy and array-API libraries: the chunked value, no autodiff
        return _Kernels(lambda: chunked_token_losses(backend, logits, *tokens, plan), None)
    fused = getattr(module, "weighted_sum", None)
    return _Kernels(
        lambda: module.token_losses(backend, *tokens, plan),
        None if fused is None else lambda coef: fused(backend, *tokens, coef, plan),
    )


def _reduce_fused(
    backend: ArrayAPIBackend,
    weighted_sum: Callable[[Any], Any],
    tokens: _Tokens,
    shape: tuple[Any, ...],
    reduction: str,
    normalizer: Any,
    sample_weight: Any,
    mask: Any,
    token_weight: Any,
    valid: Any,
) -> Any:
    """A scalar reduction as ``Σ r·ℓ`` with ``r = ∂(reduced loss)/∂ℓ``: the contract's token
    weights (zero where excluded) over its denominator, known before the loss is, so the kernel
    can fold them into the gradients it computes in its forward pass (and, under ``jax.grad``,
    its backward scales them by a constant 1 that XLA removes)."""
    xp = backend.xp
    ones = xp.reshape(xp.ones_like(tokens.labels, dtype=tokens.hidden.dtype), shape)
    coef = reduce_loss(
        backend,
        ones,
        reduction="none",
        sample_weight=sample_weight,
        mask=mask,
        weight=token_weight,
        valid=valid,
    )
    if reduction == "sum":
        denominator: Any = 1.0
    elif normalizer is not None:
        denominator = normalizer_argument(backend, normalizer, coef)
    elif reduction == "mean":
        denominator = xp.sum(coef)
    elif mask is None and valid is None:  # sum_over_batch_size: the unmasked count
        denominator = float(math.prod(shape))
    else:
        denominator = xp.sum(reduce_loss(backend, ones, reduction="none", mask=mask, valid=valid))
    return weighted_sum(xp.reshape(_safe_divide(backend, coef, denominator), (-1,)))


# ---------------------------------------------------------------------- the formula
def chunk_terms(
    backend: ArrayAPIBackend, logits: Any, labels: Any, plan: Plan, coef: Any = None
) -> tuple[Any, Any]:
    """Per-token losses of a chunk of logits ``(C, V)`` and, given ``coef (C,)``, the gradient
    ``coef_i · ∂ℓ_i/∂logits`` (an explicit formula, for the kernels' backward passes).

    With ``m`` the row maximum, ``s = Σ exp(z - m)`` and ``lse = m + log s``:
    ``ℓ = log s - (1-ε)(z_y - m) - ε(mean z - m) + ζ lse²`` (no cancellation between ``lse``
    and ``z_y``), and ``∂ℓ/∂z = softmax(z)(1 + 2ζ lse) - (1-ε) onehot(y) - ε/V`` (``z`` the
    capped logits), times ``1 - tanh²(z₀/c) = 1 - (z/c)²`` with respect to the logits ``z₀``
    before a soft cap.
    """
    xp = backend.xp
    label_smoothing, z_loss, cap = plan.label_smoothing, plan.z_loss, plan.softcap
    capped = None
    if cap is not None:
        capped = xp.tanh(logits / cap)
        logits = cap * capped
    top = xp.max(logits, axis=-1, keepdims=True)
    top = backend.stop_gradient(xp.where(xp.isfinite(top), top, xp.zeros_like(top)))
    shifted = logits - top
    exp = xp.exp(shifted)
    total = xp.sum(exp, axis=-1)
    log_total = xp.log(total)
    picked = backend.take_along_axis(shifted, xp.expand_dims(labels, axis=-1), axis=-1)[:, 0]
    loss = log_total - (1.0 - label_smoothing) * picked
    if label_smoothing:
        loss = loss - label_smoothing * xp.mean(shifted, axis=-1)
    lse = log_total + top[:, 0]
    if z_loss:
        loss = loss + z_loss * lse * lse
    if coef is None:
        return loss, None
    scale = coef * (1.0 + 2.0 * z_loss * lse) / total
    grad = exp * xp.expand_dims(scale, axis=-1)
    if label_smoothing:
        grad = grad - xp.expand_dims(coef * (label_smoothing / plan.num_classes), axis=-1)
    classes = backend.arange(labels, plan.num_classes, dtype=labels.dtype)
    hot = xp.expand_dims(labels, axis=-1) == classes
    target = xp.expand_dims(coef * (1.0 - label_smoothing), axis=-1)
    grad = xp.where(hot, grad - target, grad)
    if capped is not None:
        grad = grad * (1.0 - capped * capped)
    return loss, grad


class CrossEntropyHead(NamedTuple):
    """:func:`chunk_terms` as a head for the generic chunk kernels (``head(backend, logits, z,
    labels, coef) → (losses, coef·∂ℓ/∂z)``, ``rows`` tokens per chunk)."""

    rows: int
    plan: Plan

    def __call__(
        self, backend: ArrayAPIBackend, logits: Any, z: Any, labels: Any, coef: Any = None
    ) -> tuple[Any, Any]:
        return chunk_terms(backend, z, labels, self.plan, coef)


def _generic_logits(backend: ArrayAPIBackend) -> Callable[[Any, Any, Any], Any]:
    xp = backend.xp

    def logits(h: Any, w: Any, b: Any) -> Any:
        z = xp.matmul(h, xp.permute_dims(w, (1, 0)))
        return z if b is None else z + b

    return logits


def excluded_zero(backend: ArrayAPIBackend, hidden: Any, valid: Any) -> Any:
    """``hidden`` with the rows of excluded tokens replaced by 0 (their loss stays finite)."""
    if valid is None:
        return hidden
    xp = backend.xp
    return xp.where(xp.expand_dims(valid, axis=-1), hidden, xp.zeros_like(hidden))


def plain_token_losses(
    backend: ArrayAPIBackend,
    logits: Callable[[Any, Any, Any], Any],
    hidden: Any,
    weight: Any,
    bias: Any,
    labels: Any,
    valid: Any,
    plan: Plan,
) -> Any:
    """All logits at once, then the formula: the framework's autodiff gives the gradients."""
    z = logits(excluded_zero(backend, hidden, valid), weight, bias)
    return chunk_terms(backend, z, labels, plan)[0]


def chunked_token_losses(
    backend: ArrayAPIBackend,
    logits: Callable[[Any, Any, Any], Any],
    hidden: Any,
    weight: Any,
    bias: Any,
    labels: Any,
    valid: Any,
    plan: Plan,
) -> Any:
    """The per-token losses, ``plan.rows`` tokens at a time (value only)."""
    tokens = backend.shape(hidden)[0]
    parts = []
    for start in range(0, tokens, plan.rows):
        stop = min(start + plan.rows, tokens)
        part = None if valid is None else valid[start:stop]
        h = excluded_zero(backend, hidden[start:stop, ...], part)
        z = logits(h, weight, bias)
        parts.append(chunk_terms(backend, z, labels[start:stop], plan)[0])
    return backend.xp.concat(parts, axis=0)
