"""Angular-margin classification losses: a softmax over the cosines between each embedding and a
matrix of class centres, with a margin on the true class's angle (ArcFace, CosFace, SphereFace,
Sub-center ArcFace).

The class centres ``weight`` ``(C, D)`` (``(C·K, D)`` with K sub-centres per class) are a plain
input of the functions, like the output weight of ``linear_cross_entropy``: pass the model's
learnable parameter and it receives gradients. ``losskit.torch`` and ``losskit.keras`` also have
wrappers that own the centres as a learnable parameter.

All four share one formula: with unit rows :math:`\\hat x_i` and :math:`\\hat w_c`, cosines
:math:`\\cos θ_{ic} = \\hat x_i\\cdot\\hat w_c`, the logits are
:math:`z_{ic} = s_i \\cos θ_{ic}` for :math:`c \\ne y_i` and :math:`z_{iy_i} = s_i\\,ψ(θ_{iy_i})`
for the true class; the loss is the cross-entropy :math:`-\\log\\operatorname{softmax}(z_i)_{y_i}`,
computed by the backend's exact sparse cross-entropy (its sum leaves the true class's term out),
so that a confident prediction's tiny loss is exact. Unreduced shape ``(N,)``; ``mask`` and
``sample_weight`` ``(N,)`` act per embedding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ... import _inputs, _validate
from ..._backend import ArrayAPIBackend
from ..._registry import register
from .._common import enter_arrays
from ._base import (
    _METRIC,
    _PML,
    _batch,
    _finish_anchors,
    _gram,
    _labels,
    _positive,
    _row_mask,
    _sqrt0,
    _unit,
)

#: The margin of the true class: ``ψ(cos θ)`` from the clipped cosine.
Margin = Callable[[ArrayAPIBackend, Any], Any]


def _enter_centres(
    embeddings: Any,
    labels: Any,
    weight: Any,
    sub_centers: int,
    mask: Any,
    reduction: str,
    normalizer: Any,
) -> tuple[ArrayAPIBackend, Any, Any, Any, Any, int]:
    """Backend, embeddings ``(N, D)``, centres ``(C·K, D)``, labels in ``[0, C)``, the row mask
    and the number of classes C."""
    backend, (x, w), checking = enter_arrays(
        reduction, normalizer, {"embeddings": embeddings, "weight": weight}, (labels, mask)
    )
    n = _batch(backend, x, "embeddings", allow_empty=True)
    _batch(backend, w, "weight")
    (rows, features), size = backend.shape(w), backend.shape(x)[1]
    if None not in (features, size) and features != size:
        raise ValueError(
            f"weight must hold one class centre of the embeddings' size per row, shape (C, "
            f"{size}); got shape {backend.shape(w)}"
        )
    if rows is None or rows % sub_centers:
        raise ValueError(
            f"weight must have num_classes × sub_centers rows (a static multiple of "
            f"sub_centers={sub_centers}); got shape {backend.shape(w)}"
        )
    classes = rows // sub_centers
    labels = _labels(backend, labels, x, n, checking)
    if checking:
        note = f" (weight has {classes} classes)"
        rule = _validate.labels_rule(classes, "labels", note)
        _validate.require_bounds(backend, labels, rule)
    labels = _inputs.gatherable(backend, labels, classes, None, checking)
    rows_kept = None if mask is None else _row_mask(backend, mask, x, n, checking)
    return backend, x, w, labels, rows_kept, classes


def _margin_softmax(
    backend: ArrayAPIBackend,
    x: Any,
    w: Any,
    labels: Any,
    classes: int,
    sub_centers: int,
    margin: Margin,
    scale: Any,
) -> Any:
    """``-log softmax(z)_y`` per row, ``z`` the scaled cosines with ``ψ`` on the true class;
    ``scale`` a number or an ``(N, 1)`` array."""
    xp = backend.xp
    cosine = _gram(xp, _unit(xp, x), _unit(xp, w))
    if sub_centers > 1:  # rows c·K ... c·K + K - 1 of weight are class c's sub-centres
        cosine = xp.max(xp.reshape(cosine, (-1, classes, sub_centers)), axis=2)
    index = xp.expand_dims(labels, axis=1)
    target = index == xp.expand_dims(backend.arange(labels, classes, dtype=labels.dtype), axis=0)
    psi = margin(backend, xp.clip(backend.take_along_axis(cosine, index, axis=1), -1.0, 1.0))
    logits = xp.where(target, psi, cosine) * scale
    # -log softmax(z)_y = softplus(logsumexp_{c≠y}(z_c - z_y)): the cross-entropy's exact kernel
    return backend.sparse_crossentropy_logits(labels, logits, 0.0)


def _arc_margin(m: float) -> Margin:
    """``cos(θ + m)`` while ``θ ≤ π - m``, else ``cos θ - m·sin m`` (InsightFace, pml): the
    logit keeps decreasing in θ. ``cos(θ + m) = c·cos m - sin θ·sin m`` with
    ``sin θ = √(1 - c²)``, no arccos, so the gradient is finite at ``c = ±1``."""
    cos_m, sin_m, threshold = math.cos(m), math.sin(m), -math.cos(m)

    def psi(backend: ArrayAPIBackend, c: Any) -> Any:
        xp = backend.xp
        sine = _sqrt0(xp, 1.0 - c * c)
        return xp.where(c >= threshold, c * cos_m - sine * sin_m, c - m * sin_m)

    return psi


def _chebyshev(xp: Any, c: Any, m: int) -> Any:
    """``cos(m·θ) = T_m(cos θ)``, the Chebyshev polynomial, by its recurrence."""
    previous, current = xp.ones_like(c), c
    for _ in range(m - 1):
        previous, current = current, 2.0 * c * current - previous
    return current


def _sphere_margin(m: int) -> Margin:
    """``(-1)^k cos(mθ) - 2k`` with ``k = ⌊mθ/π⌋`` (capped at m - 1, for θ = π), monotonic in θ
    over ``[0, π]``. k counts the thresholds ``θ ≥ jπ/m``, i.e. ``cos θ ≤ cos(jπ/m)``: no
    arccos, and k is piecewise constant (no gradient), as in the paper."""
    thresholds = [math.cos(j * math.pi / m) for j in range(1, m)]

    def psi(backend: ArrayAPIBackend, c: Any) -> Any:
        xp = backend.xp
        k = xp.zeros_like(c)
        for threshold in thresholds:
            k = k + xp.astype(c <= threshold, c.dtype)
        sign = 1.0 - 2.0 * (k - 2.0 * xp.floor(k / 2.0))
        return sign * _chebyshev(xp, c, m) - 2.0 * k

    return psi


def _cos_margin(m: float) -> Margin:
    def psi(backend: ArrayAPIBackend, c: Any) -> Any:
        return c - m

    return psi


def _angular_margin_loss(
    embeddings: Any,
    labels: Any,
    weight: Any,
    *,
    margin: Margin,
    scale: float,
    sub_centers: int,
    by_norm: bool,
    sample_weight: Any,
    mask: Any,
    reduction: str,
    normalizer: Any,
) -> Any:
    backend, x, w, labels, rows, classes = _enter_centres(
        embeddings, labels, weight, sub_centers, mask, reduction, normalizer
    )
    xp = backend.xp
    factor: Any = scale
    if by_norm:  # SphereFace: the logits keep the embedding's norm
        factor = _sqrt0(xp, xp.sum(x * x, axis=1, keepdims=True)) * scale
    loss = _margin_softmax(backend, x, w, labels, classes, sub_centers, margin, factor)
    return _finish_anchors(backend, loss, rows, sample_weight, reduction, normalizer)


_FACE = {
    "kind": "anchors",
    "task": "classification",
    "properties": {"bounded": False},
    **_METRIC,
}


@register(
    "arcface",
    aliases=("arcface_loss", "additive_angular_margin"),
    references=(
        "Deng, Guo, Xue & Zafeiriou (2019), ArcFace: Additive Angular Margin Loss for Deep Face "
        "Recognition",
        f"{_PML} ArcFaceLoss",
    ),
    **_FACE,
)
def arcface(
    embeddings: Any,
    labels: Any,
    weight: Any,
    *,
    margin: float = 0.5,
    scale: float = 64.0,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""ArcFace: softmax cross-entropy with an additive angular margin on the true class.

    .. math:: \ell_i = -\log\frac{e^{s\cos(θ_{iy_i} + m)}}{e^{s\cos(θ_{iy_i} + m)}
              + \sum_{c \ne y_i} e^{s\cos θ_{ic}}}

    with :math:`\cos θ_{ic}` the cosine between embedding ``i`` and row ``c`` of ``weight``.
    Past :math:`θ > π - m` the true logit is :math:`\cos θ - m\sin m` instead, so it keeps
    decreasing with θ (InsightFace's rule, as pml). Inputs: ``embeddings`` ``(N, D)``,
    integer ``labels`` ``(N,)`` in ``[0, C)``, ``weight`` ``(C, D)`` — the class centres, the
    model's learnable parameter (``losskit.torch.ArcFace`` and ``losskit.keras.ArcFace`` own
    it). Parameters: ``margin`` m in radians, in ``[0, π)`` (the paper's 0.5); ``scale`` s > 0.

    Unreduced shape ``(N,)``. Reference: Deng et al. (2019). Matches pytorch-metric-learning
    ``ArcFaceLoss(num_classes, embedding_size, margin=math.degrees(m), scale=s)`` (pml takes
    the margin in degrees, 28.6 by default, and stores the centres as ``W`` ``(D, C)``: pass
    ``loss.W.T``), values and gradients.

    >>> import numpy as np, losskit as lk
    >>> x, w = np.array([[1.0, 0.0], [0.6, 0.8]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> lk.arcface(x, np.array([0, 1]), w, margin=0.5, scale=2.0,
    ...            reduction="none").round(6).tolist()
    [0.159461, 0.89586]
    """
    margin = _validate.check_range("margin", margin, 0.0, math.pi, high_open=True)
    scale = _positive("scale", scale)
    return _angular_margin_loss(
        embeddings,
        labels,
        weight,
        margin=_arc_margin(margin),
        scale=scale,
        sub_centers=1,
        by_norm=False,
        sample_weight=sample_weight,
        mask=mask,
        reduction=reduction,
        normalizer=normalizer,
    )


@register(
    "subcenter_arcface",
    aliases=("sub_center_arcface", "subcenter_arcface_loss"),
    references=(
        "Deng, Guo, Liu, Xue, Kotsia & Zafeiriou (2020), Sub-center ArcFace: Boosting Face "
        "Recognition by Large-scale Noisy Web Faces",
        f"{_PML} SubCenterArcFaceLoss",
    ),
    **_FACE,
)
def subcenter_arcface(
    embeddings: Any,
    labels: Any,
    weight: Any,
    *,
    margin: float = 0.5,
    scale: float = 64.0,
    sub_centers: int = 3,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Sub-center ArcFace: ArcFace with K centres per class, the closest one counting.

    .. math:: \cos θ_{ic} = \max_{k < K} \hat x_i\cdot\hat w_{cK + k},\qquad
              \ell_i = -\log\frac{e^{s\cos(θ_{iy_i} + m)}}{e^{s\cos(θ_{iy_i} + m)}
              + \sum_{c \ne y_i} e^{s\cos θ_{ic}}}

    with the margin rule of :func:`arcface` past :math:`θ > π - m`. ``weight`` ``(C·K, D)``:
    rows ``c·K ... c·K + K - 1`` are class c's sub-centres (pml's layout); ``sub_centers`` K ≥ 1
    (K = 1 is :func:`arcface`). Parameters as :func:`arcface`: ``margin`` in radians,
    ``scale``. Unreduced shape ``(N,)``.

    Reference: Deng et al. (2020). Matches pytorch-metric-learning
    ``SubCenterArcFaceLoss(num_classes=C, embedding_size=D, margin=math.degrees(m), scale=s,
    sub_centers=K)`` with ``weight = loss.W.T``, values and gradients (the gradient flows to
    the closest sub-centre only, as in both).

    >>> import numpy as np, losskit as lk
    >>> x = np.array([[1.0, 0.0], [0.6, 0.8]])
    >>> w = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    >>> lk.subcenter_arcface(x, np.array([0, 1]), w, sub_centers=2, margin=0.5, scale=2.0,
    ...                      reduction="none").round(6).tolist()
    [0.159461, 0.89586]
    """
    margin = _validate.check_range("margin", margin, 0.0, math.pi, high_open=True)
    scale = _positive("scale", scale)
    sub_centers = _validate.check_int("sub_centers", sub_centers)
    if sub_centers < 1:
        raise ValueError(f"sub_centers must be ≥ 1; got {sub_centers}")
    return _angular_margin_loss(
        embeddings,
        labels,
        weight,
        margin=_arc_margin(margin),
        scale=scale,
        sub_centers=sub_centers,
        by_norm=False,
        sample_weight=sample_weight,
        mask=mask,
        reduction=reduction,
        normalizer=normalizer,
    )


@register(
    "cosface",
    aliases=("cosface_loss", "large_margin_cosine"),
    references=(
        "Wang et al. (2018), CosFace: Large Margin Cosine Loss for Deep Face Recognition",
        f"{_PML} CosFaceLoss",
    ),
    **_FACE,
)
def cosface(
    embeddings: Any,
    labels: Any,
    weight: Any,
    *,
    margin: float = 0.35,
    scale: float = 64.0,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""CosFace (large margin cosine loss): an additive margin on the true class's cosine.

    .. math:: \ell_i = -\log\frac{e^{s(\cos θ_{iy_i} - m)}}{e^{s(\cos θ_{iy_i} - m)}
              + \sum_{c \ne y_i} e^{s\cos θ_{ic}}}

    Inputs as :func:`arcface`: ``embeddings`` ``(N, D)``, ``labels`` ``(N,)``, class centres
    ``weight`` ``(C, D)``. Parameters: ``margin`` m ≥ 0 (default 0.35), ``scale`` s > 0
    (default 64). Unreduced shape ``(N,)``.

    Reference: Wang et al. (2018). Matches pytorch-metric-learning ``CosFaceLoss(num_classes,
    embedding_size, margin=m, scale=s)`` with ``weight = loss.W.T``, values and gradients.

    >>> import numpy as np, losskit as lk
    >>> x, w = np.array([[1.0, 0.0], [0.6, 0.8]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> lk.cosface(x, np.array([0, 1]), w, margin=0.35, scale=2.0,
    ...            reduction="none").round(6).tolist()
    [0.241008, 0.854355]
    """
    margin = _validate.check_range("margin", margin, 0.0, math.inf, high_open=True)
    scale = _positive("scale", scale)
    return _angular_margin_loss(
        embeddings,
        labels,
        weight,
        margin=_cos_margin(margin),
        scale=scale,
        sub_centers=1,
        by_norm=False,
        sample_weight=sample_weight,
        mask=mask,
        reduction=reduction,
        normalizer=normalizer,
    )


@register(
    "sphereface",
    aliases=("sphereface_loss", "angular_softmax"),
    references=(
        "Liu et al. (2017), SphereFace: Deep Hypersphere Embedding for Face Recognition",
        f"{_PML} SphereFaceLoss",
    ),
    **_FACE,
)
def sphereface(
    embeddings: Any,
    labels: Any,
    weight: Any,
    *,
    margin: int = 4,
    scale: float = 1.0,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""SphereFace (A-Softmax): a multiplicative angular margin, logits scaled by the embedding's
    norm.

    .. math:: \ell_i = -\log\frac{e^{s\lVert x_i\rVert ψ(θ_{iy_i})}}{e^{s\lVert x_i\rVert
              ψ(θ_{iy_i})} + \sum_{c \ne y_i} e^{s\lVert x_i\rVert\cos θ_{ic}}},\qquad
              ψ(θ) = (-1)^k\cos(mθ) - 2k,\quad k = \lfloor mθ/π \rfloor

    ``cos(mθ)`` is the Chebyshev polynomial :math:`T_m(\cos θ)` and k counts the thresholds
    :math:`\cos θ \le \cos(jπ/m)` (no arccos; k is piecewise constant, as in the paper). Inputs
    as :func:`arcface`; the centres are unit-normalised (the paper's normalised weights).
    Parameters: ``margin`` m, an integer ≥ 1 (default 4; m = 1 is the normalised-weight
    softmax), ``scale`` s > 0 (default 1). Unreduced shape ``(N,)``.

    Reference: Liu et al. (2017). Matches pytorch-metric-learning ``SphereFaceLoss(num_classes,
    embedding_size, margin=m, scale=s)`` with ``weight = loss.W.T``, values and gradients.

    >>> import numpy as np, losskit as lk
    >>> x, w = np.array([[1.0, 0.0], [0.6, 0.8]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> lk.sphereface(x, np.array([0, 1]), w, margin=2, reduction="none").round(6).tolist()
    [0.313262, 0.865893]
    """
    margin = _validate.check_int("margin", margin)
    if margin < 1:
        raise ValueError(f"margin must be an integer ≥ 1; got {margin}")
    scale = _positive("scale", scale)
    return _angular_margin_loss(
        embeddings,
        labels,
        weight,
        margin=_sphere_margin(margin),
        scale=scale,
        sub_centers=1,
        by_norm=True,
        sample_weight=sample_weight,
        mask=mask,
        reduction=reduction,
        normalizer=normalizer,
    )
