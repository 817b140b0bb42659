"""Per-token log-probabilities of a linear output layer's targets, without the logits.

``linear_log_probs(hidden, weight, targets)`` is ``log_softmax(hidden @ weight.T + bias)`` picked at
``targets`` (after an optional soft cap and a temperature), computed a chunk of tokens at a time
by the kernels of :mod:`losskit.losses._linear`: a target's log-probability is minus its token's
unsmoothed cross-entropy, so the per-token kernels (``token_losses``: an autograd Function on
torch, a ``custom_vjp`` over a ``lax.scan`` on JAX, a ``custom_gradient`` op on TensorFlow, the
chunked value elsewhere) run unchanged under the upstream gradient ``-g``.

The temperature needs no kernel of its own: with ``z = h Wᵀ + b`` and a cap ``c``,

    c·tanh(z / c) / T = (c / T)·tanh((z / T) / (c / T)),   z / T = (h / T) Wᵀ + b / T,

so dividing ``hidden`` (or ``weight``, whichever is smaller) and ``bias`` by ``T`` and the cap
by ``T`` gives the same logits; the framework differentiates the division
(:func:`fold_temperature`).
"""

from __future__ import annotations

import math
from typing import Any

from .. import _validate
from .._backend import ArrayAPIBackend
from ._linear import (
    _check_ignore_index,
    _check_options,
    _flatten,
    _framework,
    _kernels,
    _plan,
    prepare,
)


def linear_log_probs(
    hidden: Any,
    weight: Any,
    targets: Any,
    *,
    bias: Any = None,
    temperature: float = 1.0,
    softcap: float | None = None,
    ignore_index: int | None = -100,
    chunk_size: int | None = None,
) -> Any:
    r"""Log-probabilities of the target tokens under a linear output layer, logits never stored.

    With logits :math:`z = h W^\top + b`, soft-capped first (:math:`c \tanh(z / c)` when
    ``softcap=c``) and then divided by the temperature :math:`T`, each token's value is

    .. math:: \log p_y = z_y - \operatorname{logsumexp}(z)

    in the exact form ``(z_y - m) - log Σ exp(z - m)`` (``m`` the row maximum), so it equals
    ``take_along_axis(log_softmax(cap(hidden @ weight.T + bias) / T), targets)``; an ignored
    token (``targets == ignore_index``) gives exactly 0, with zero gradient. The gradient with
    respect to the logits is :math:`\mathrm{onehot}(y) - \mathrm{softmax}(z)`, chained through the
    temperature and the cap (:math:`1 - \tanh^2`), and flows to ``hidden``, ``weight`` and
    ``bias``.

    It is a building block, not a reduced loss: no reduction arguments, one value per token
    (``targets``' shape). Summed over each sequence's completion tokens it gives the sequence
    log-probabilities that :func:`losskit.dpo` (and the other preference losses) read;
    per token, the ``logps`` of :func:`losskit.grpo`. Tokens are processed ``chunk_size`` at a
    time with the kernels of :func:`losskit.linear_cross_entropy` (the value is minus its
    unreduced, unsmoothed loss), so memory beyond the inputs and gradients is one chunk of
    logits instead of ``N × V``: an autograd Function on PyTorch (its backward recomputes each
    chunk), a ``custom_vjp`` over a ``lax.scan`` on JAX (``jit``, ``grad``, ``vmap``), a
    ``custom_gradient`` op on TensorFlow, the chunked value on NumPy and array-API libraries.
    When the tokens fit in one chunk, or while a torch input is traced, the plain path (all
    logits, differentiated by the framework) runs instead.

    Args:
        hidden: hidden states ``(..., d)``; its library, device and dtype decide the computation
            (half types compute in float32, and the result is float32).
        weight: the output projection ``(V, d)`` (``torch.nn.Linear(d, V).weight``).
        targets: token indices, ``hidden``'s shape without the last axis.
        bias: optional ``(V,)`` bias of the projection.
        temperature: T > 0; the (capped) logits are divided by it, as samplers do.
        softcap: c > 0 or None: logits become ``c·tanh(z / c)`` before the temperature
            (Gemma 2 uses c = 30).
        ignore_index: a target value whose token gives 0 (torch's default -100; ``None``
            ignores nothing).
        chunk_size: tokens per chunk; the default is that of
            :func:`losskit.linear_cross_entropy`.

    References: Rafailov et al., *Direct Preference Optimization* (2023), for the sequence
    log-probabilities; Wijmans et al., *Cut Your Losses in Large-Vocabulary Language Models*
    (2025), for the chunked computation.

    >>> import numpy as np, losskit as lk
    >>> hidden = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> weight = np.array([[2.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    >>> targets = np.array([0, 2, -100])
    >>> np.round(lk.linear_log_probs(hidden, weight, targets), 6)
    array([-0.239545, -0.551445,  0.      ])
    >>> z = hidden @ weight.T
    >>> picked = (z - np.log(np.exp(z).sum(-1, keepdims=True)))[[0, 1], [0, 2]]
    >>> np.round(picked, 6)
    array([-0.239545, -0.551445])
    >>> options = {"temperature": 0.7, "softcap": 30.0}
    >>> np.round(lk.linear_log_probs(hidden, weight, targets, **options), 6)
    array([-0.10917 , -0.391742,  0.      ])

    Sequence log-probabilities for DPO: sum each completion's tokens (here one pair, two tokens
    each, with a reference model's weight):

    >>> ref_weight = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    >>> chosen = np.array([[0, 2]])
    >>> rejected = np.array([[1, 1]])
    >>> h = hidden[None, :2]  # (pairs, tokens, d)
    >>> logps = {
    ...     name: lk.linear_log_probs(h, w, y).sum(-1)
    ...     for name, w, y in [("c", weight, chosen), ("r", weight, rejected),
    ...                        ("rc", ref_weight, chosen), ("rr", ref_weight, rejected)]}
    >>> round(float(lk.dpo(logps["c"], logps["r"], logps["rc"], logps["rr"])), 6)
    0.644397
    """
    _check_ignore_index(ignore_index)
    temperature = _validate.check_range(
        "temperature", temperature, 0.0, math.inf, low_open=True, high_open=True
    )
    _, _, softcap, chunk_size = _check_options(0.0, 0.0, softcap, chunk_size)
    backend, hidden, weight, bias, labels, valid, _ = prepare(
        hidden, weight, bias, targets, ignore_index
    )
    num_classes = backend.shape(weight)[0]
    xp = backend.xp
    hidden, weight, bias, softcap = fold_temperature(
        backend, hidden, weight, bias, softcap, temperature
    )
    module = _framework(backend)
    plan = _plan(module, num_classes, backend.shape(weight)[1], (0.0, 0.0, softcap, chunk_size))
    tokens, count = _flatten(backend, hidden, weight, bias, labels, valid)
    loss = _kernels(backend, module, tokens, count, plan).token_losses()
    logps = backend.reshape_like(-loss, labels)
    if valid is not None:
        logps = xp.where(valid, logps, xp.zeros_like(logps))
    return logps


def fold_temperature(
    backend: ArrayAPIBackend,
    hidden: Any,
    weight: Any,
    bias: Any,
    softcap: float | None,
    temperature: float,
) -> tuple[Any, Any, Any, float | None]:
    """``(hidden, weight, bias, softcap)`` whose capped logits are those of the arguments divided
    by ``temperature``: ``c·tanh(z/c)/T = (c/T)·tanh((z/T)/(c/T))`` with ``z/T = h Wᵀ/T + b/T``.

    The smaller of ``hidden (N, d)`` and ``weight (V, d)`` is divided (``weight`` when ``N`` is
    unknown while tracing), so the extra memory is one copy of it; ``T = 1`` changes nothing.
    """
    if temperature == 1.0:
        return hidden, weight, bias, softcap
    shape = backend.shape(hidden)
    tokens = None if any(n is None for n in shape[:-1]) else math.prod(shape[:-1])
    if tokens is not None and tokens <= backend.shape(weight)[0]:
        hidden = hidden / temperature
    else:
        weight = weight / temperature
    if bias is not None:
        bias = bias / temperature
    if softcap is not None:
        scaled = softcap / temperature
        if not 0.0 < scaled < math.inf:
            raise ValueError(
                f"softcap / temperature must be a positive finite number; got {scaled} "
                f"(softcap={softcap}, temperature={temperature})"
            )
        softcap = scaled
    return hidden, weight, bias, softcap
