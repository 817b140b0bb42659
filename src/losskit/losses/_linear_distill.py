"""Distillation between two linear output layers over a large vocabulary, without the logits.

``linear_distillation`` is :func:`losskit.generalized_jsd` of the teacher's and the student's
logits (``hidden @ weight.T + bias`` of each head, soft-capped, then divided by the temperature),
computed a chunk of tokens at a time: per chunk, the teacher's logits (a constant) and the
student's are formed, :class:`losskit.losses._distillation.DivergencePair` gives the chunk's
per-token values and, in closed form, their gradient with respect to the student's logits, which
the explicit products ``∂/∂h = g W`` and ``∂/∂W = gᵀ h`` carry to the student's parameters (the
chunk kernels ``head_losses`` / ``head_weighted_sum`` of ``_torch_linear`` and ``_jax_linear``).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from .. import _validate
from .._backend import ArrayAPIBackend
from .._reduce import check_reduction, reduce_loss
from .._registry import register
from ._distillation import DivergencePair
from ._linear import (
    CHUNK_BYTES,
    _check_ignore_index,
    _check_options,
    _framework,
    _generic_logits,
    _reduce_fused,
    _Tokens,
    excluded_zero,
    labels_of,
    operands,
)
from ._linear_logps import fold_temperature

STUDENT = ("student_hidden", "student_weight", "student_bias")
TEACHER = ("teacher_hidden", "teacher_weight", "teacher_bias")


class JSDHead(NamedTuple):
    """One chunk's generalised JSD from the student's logits ``z`` and the teacher's hidden
    states; hashable, so JAX can take it as a static argument."""

    rows: int
    beta: float
    softcap: float | None

    def __call__(
        self,
        backend: ArrayAPIBackend,
        logits: Any,
        z: Any,
        h_t: Any,
        w_t: Any,
        b_t: Any,
        coef: Any = None,
    ) -> tuple[Any, Any]:
        """The per-token values ``(C,)`` and, given ``coef (C,)``, ``coef·∂ℓ/∂z`` (closed form:
        :meth:`DivergencePair.generalized_and_gradient`, times ``1 - tanh²`` under a cap)."""
        xp = backend.xp
        teacher = backend.stop_gradient(logits(h_t, w_t, b_t))
        student, tanh = z, None
        if self.softcap is not None:
            cap = self.softcap
            tanh = xp.tanh(z / cap)
            teacher, student = cap * xp.tanh(teacher / cap), cap * tanh
        pair = DivergencePair(  # finite logits: no masked vocabulary entries
            backend,
            backend.log_softmax(teacher, axis=-1),
            backend.log_softmax(student, axis=-1),
            finite=True,
        )
        if coef is None:
            return pair.generalized(self.beta), None
        loss, grad = pair.generalized_and_gradient(self.beta)
        grad = grad * xp.expand_dims(coef, axis=-1)
        if tanh is not None:
            grad = grad * (1.0 - tanh * tanh)
        return loss, grad


def default_rows(num_classes: int) -> int:
    """Tokens per chunk by default: :data:`~losskit.losses._linear.CHUNK_BYTES` of float32
    logits (the divergence and its gradient hold a few dozen chunk-sized temporaries), a
    multiple of 8."""
    rows = max(CHUNK_BYTES // (4 * num_classes), 8)
    return rows - rows % 8


@register(
    "linear_distillation",
    aliases=("fused_linear_jsd", "linear_generalized_jsd"),
    family="distillation",
    kind="axis",
    task="distillation",
    domain="logit",
    properties={"bounded": False, "teacher_gradient": False, "memory_efficient": True},
    references=(
        "Agarwal et al. (2024), On-Policy Distillation of Language Models: Learning from "
        "Self-Generated Mistakes (GKD)",
        "Wijmans et al. (2025), Cut Your Losses in Large-Vocabulary Language Models",
    ),
)
def linear_distillation(
    student_hidden: Any,
    student_weight: Any,
    teacher_hidden: Any,
    teacher_weight: Any,
    *,
    targets: Any = None,
    ignore_index: int | None = -100,
    beta: float = 0.5,
    temperature: float = 1.0,
    softcap: float | None = None,
    student_bias: Any = None,
    teacher_bias: Any = None,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
    chunk_size: int | None = None,
) -> Any:
    r"""Generalised JSD between a teacher's and a student's output layers, logits never stored.

    With each head's logits :math:`z = h W^\top + b`, soft-capped first
    (:math:`c \tanh(z / c)` when ``softcap=c``) and then divided by the temperature :math:`τ`,
    :math:`p_t = \mathrm{softmax}(z_t / τ)`, :math:`p_s = \mathrm{softmax}(z_s / τ)` and
    :math:`m = β\,p_t + (1 - β)\,p_s`, each token's value is

    .. math:: \mathrm{JSD}_β = β\,\mathrm{KL}(p_t \,\|\, m) + (1 - β)\,\mathrm{KL}(p_s \,\|\, m)

    with ``beta=0`` the forward :math:`\mathrm{KL}(p_t \| p_s)` and ``beta=1`` the reverse
    :math:`\mathrm{KL}(p_s \| p_t)`: exactly :func:`losskit.generalized_jsd` of the two heads'
    logits (the same log-space formula), so it equals ``generalized_jsd(teacher_hidden @
    teacher_weight.T, student_hidden @ student_weight.T, beta=..., temperature=...)``. The
    gradient flows to ``student_hidden``, ``student_weight`` and ``student_bias`` only; the
    teacher is a constant.

    Tokens are processed ``chunk_size`` at a time: per chunk both heads' logits are formed, the
    chunk's divergence and (for the scalar reductions, in the forward pass) its gradient with
    respect to the student's logits are computed, and the explicit products carry it to the
    student's parameters, so memory beyond the inputs and gradients is a few chunks of logits
    instead of two ``N × V`` arrays and their temporaries. PyTorch: autograd Functions
    (``reduction="none"`` recomputes each chunk in the backward); JAX: ``custom_vjp`` functions
    over a ``lax.scan``; TensorFlow: a ``custom_gradient`` op that recomputes the chunks in its
    backward; NumPy and array-API libraries: the chunked value. A batch that fits in one chunk
    and traced torch inputs take the plain path (all logits, differentiated by the framework).

    ``targets`` (optional, ``student_hidden``'s shape without the last axis) marks the tokens
    to exclude: those equal to ``ignore_index`` (padding and prompt tokens, TRL's ``labels ==
    -100``) give 0 and leave the mean's denominator; ``mask``, ``sample_weight``,
    ``reduction`` and ``normalizer`` follow the reduction contract over the tokens.

    Args:
        student_hidden: the student's hidden states ``(..., d_s)``; its library, device and
            dtype decide the computation (half types compute in float32).
        student_weight: the student's output projection ``(V, d_s)``.
        teacher_hidden: the teacher's hidden states ``(..., d_t)``, the same tokens.
        teacher_weight: the teacher's output projection ``(V, d_t)``, the same vocabulary.
        targets: optional token indices; positions equal to ``ignore_index`` are excluded.
        ignore_index: the excluded target value (-100; ``None`` excludes nothing).
        beta: β in [0, 1].
        temperature: τ > 0, dividing both heads' (capped) logits; no τ² factor.
        softcap: c > 0 or None, applied to both heads' logits before the temperature.
        student_bias, teacher_bias: optional ``(V,)`` biases.
        sample_weight, mask, reduction, normalizer: the reduction contract over the tokens.
        chunk_size: tokens per chunk (default: 8 MiB of float32 logits per chunk).

    Anchors: TRL ``GKDTrainer.generalized_jsd_loss`` on the two heads' logits
    (``reduction="batchmean"`` over the tokens whose label is not -100); Liger-Kernel's fused
    linear JSD. References: Agarwal et al., *On-Policy Distillation of Language Models* (2024);
    Wijmans et al., *Cut Your Losses in Large-Vocabulary Language Models* (2025).

    >>> import numpy as np, losskit as lk
    >>> hs, ws = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[2.0, 0.0], [0.0, 1.0]])
    >>> ht, wt = np.array([[0.5], [1.0]]), np.array([[1.0], [-1.0]])
    >>> round(float(lk.linear_distillation(hs, ws, ht, wt, beta=0.5)), 6)
    0.113216
    >>> round(float(lk.generalized_jsd(ht @ wt.T, hs @ ws.T, beta=0.5)), 6)
    0.113216
    >>> out = lk.linear_distillation(hs, ws, ht, wt, targets=np.array([1, -100]), reduction="none")
    >>> np.round(out, 6)  # the second token is ignored
    array([0.018306, 0.      ])
    """
    check_reduction(reduction, normalizer)
    _check_ignore_index(ignore_index)
    beta = _validate.check_range("beta", beta, 0.0, 1.0)
    temperature = _validate.check_range(
        "temperature", temperature, 0.0, math.inf, low_open=True, high_open=True
    )
    _, _, softcap, chunk_size = _check_options(0.0, 0.0, softcap, chunk_size)
    backend, h_s, w_s, b_s = operands(student_hidden, student_weight, student_bias, STUDENT)
    _, h_t, w_t, b_t = operands(
        teacher_hidden, teacher_weight, teacher_bias, TEACHER, like=(backend, h_s)
    )
    _check_heads(backend, h_s, w_s, h_t, w_t)
    checking = _validate.checking_values(backend, h_s)
    valid = _excluded(backend, targets, ignore_index, h_s, checking)
    if checking:  # the divergence assumes finite logits (no masked vocabulary entry)
        named = zip((*STUDENT, *TEACHER), (h_s, w_s, b_s, h_t, w_t, b_t), strict=True)
        arrays = {name: x for name, x in named if x is not None}
        _validate.check_finite_in(backend, arrays, ": both heads need finite inputs")
    h_s, w_s, b_s, cap = fold_temperature(backend, h_s, w_s, b_s, softcap, temperature)
    h_t, w_t, b_t, _ = fold_temperature(backend, h_t, w_t, b_t, softcap, temperature)
    w_t, b_t = backend.stop_gradient(w_t), None if b_t is None else backend.stop_gradient(b_t)
    h_t = backend.stop_gradient(h_t)
    shape = backend.shape(h_s)[:-1]
    count = None if any(n is None for n in shape) else math.prod(shape)
    xp = backend.xp
    flat = [
        xp.reshape(h, (-1 if count is None else count, backend.shape(h)[-1])) for h in (h_s, h_t)
    ]
    flat_valid = None if valid is None else xp.reshape(valid, (-1,))
    head = JSDHead(chunk_size or default_rows(backend.shape(w_s)[0]), beta, cap)
    module = _framework(backend)
    chunked = count is not None and count > head.rows
    kernel = getattr(module, "head_losses", None) if module is not None else None
    if chunked and kernel is not None and module.can_chunk(backend, flat[0]):
        fused = getattr(module, "head_weighted_sum", None)
        args = (flat[0], w_s, b_s, (flat[1],), (w_t, b_t), flat_valid)
        if reduction != "none" and fused is not None:
            ones = flat[0][:, 0]
            tokens = _Tokens(flat[0], w_s, b_s, ones, flat_valid)
            return _reduce_fused(
                backend,
                lambda coef: fused(backend, *args, coef, head),
                tokens,
                shape,
                reduction,
                normalizer,
                sample_weight,
                mask,
                None,
                valid,
            )
        loss = kernel(backend, *args, head)
    elif chunked and module is None:
        loss = _chunked_value(backend, head, flat[0], w_s, b_s, flat[1], w_t, b_t, flat_valid)
    else:
        logits = module.logits if module is not None else _generic_logits(backend)
        h = excluded_zero(backend, flat[0], flat_valid)
        loss = head(backend, logits, logits(h, w_s, b_s), flat[1], w_t, b_t)[0]
        if flat_valid is not None:  # an excluded token's inputs never reach its value
            loss = xp.where(flat_valid, loss, xp.zeros_like(loss))
    return reduce_loss(
        backend,
        backend.reshape_like(loss, h_s[..., 0]),
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        mask=mask,
        valid=valid,
    )


def _check_heads(backend: ArrayAPIBackend, h_s: Any, w_s: Any, h_t: Any, w_t: Any) -> None:
    """The two heads read the same tokens and share the vocabulary."""
    s_shape, t_shape = backend.shape(h_s), backend.shape(h_t)
    if not _validate.same_shape(s_shape[:-1], t_shape[:-1]):
        raise ValueError(
            f"teacher_hidden of shape {t_shape} does not match student_hidden of shape "
            f"{s_shape}: both must hold the same tokens, shape (..., d) with the same leading "
            "axes (their feature sizes may differ)"
        )
    vocab_s, vocab_t = backend.shape(w_s)[0], backend.shape(w_t)[0]
    if not _validate.same_shape((vocab_s,), (vocab_t,)):
        raise ValueError(
            f"teacher_weight has {vocab_t} rows and student_weight {vocab_s}: both heads must "
            "cover the same vocabulary"
        )


def _excluded(
    backend: ArrayAPIBackend, targets: Any, ignore_index: Any, hidden: Any, checking: bool
) -> Any:
    """``targets != ignore_index`` (None: nothing excluded)."""
    if targets is None or ignore_index is None:
        return None
    labels = labels_of(backend, targets, hidden, checking, "student_hidden")
    return labels != ignore_index


def _chunked_value(
    backend: ArrayAPIBackend,
    head: JSDHead,
    h_s: Any,
    w_s: Any,
    b_s: Any,
    h_t: Any,
    w_t: Any,
    b_t: Any,
    valid: Any,
) -> Any:
    """The per-token values, ``head.rows`` tokens at a time (no autodiff: NumPy and array-API
    libraries)."""
    logits = _generic_logits(backend)
    xp = backend.xp
    parts = []
    tokens = backend.shape(h_s)[0]
    for start in range(0, tokens, head.rows):
        stop = min(start + head.rows, tokens)
        part = None if valid is None else valid[start:stop]
        h = excluded_zero(backend, h_s[start:stop, ...], part)
        teacher = excluded_zero(backend, h_t[start:stop, ...], part)
        value = head(backend, logits, logits(h, w_s, b_s), teacher, w_t, b_t)[0]
        parts.append(value if part is None else xp.where(part, value, xp.zeros_like(value)))
    return xp.concat(parts, axis=0)
