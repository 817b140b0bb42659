"""Independent float64 references for the segmentation, metric-learning and ranking losses.

``REFERENCES[name](inputs, params)`` returns the unreduced loss (the shape of
``reduction="none"``) of the registered loss ``name`` for its positional ``inputs`` (NumPy,
channels last, as ``tests/cases.py`` builds them) and keyword ``params``. Each reference is
written from the loss's mathematics (the paper and the documented conventions), with loops over
images, classes, pairs and lists for clarity; an option it does not model raises
``NotImplementedError``. Entries the loss leaves out of the reduction (an image with no counted
class, a list with nothing to score) are 0, as in ``reduction="none"``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np

import reference as ref

Reference = Callable[[list[np.ndarray], dict[str, Any]], np.ndarray]

#: options every loss accepts whose neutral value leaves the unreduced loss unchanged
NEUTRAL: dict[str, Any] = {"sample_weight": None, "normalizer": None, "reduction": "none"}


def options(params: dict[str, Any], **modelled: Any) -> dict[str, Any]:
    """``params`` over the ``modelled`` defaults; anything else must be neutral."""
    merged = dict(modelled)
    for key, value in params.items():
        if key in modelled:
            merged[key] = value
        elif key in NEUTRAL and (value is None or value == NEUTRAL[key]):
            continue
        else:
            raise NotImplementedError(f"the reference does not model {key}={value!r}")
    return merged


def f64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def softmax(z: np.ndarray) -> np.ndarray:
    """``exp(z_k - logsumexp(z))`` over the last axis."""
    return np.exp(ref.log_softmax(z, axis=-1))


def logsumexp(x: np.ndarray) -> float:
    """``m + log Σ exp(x - m)``, ``m = max x``, of a 1-d array."""
    x = f64(x)
    m = float(np.max(x))
    return m + math.log(float(np.sum(np.exp(x - m))))


def neg_log_softmax_at(row: np.ndarray, k: int) -> float:
    """``-log softmax(row)_k = log(1 + Σ_{j≠k} exp(row_j - row_k))``, in mpmath at 40 digits
    (exact also when the loss is tiny, where ``logsumexp(row) - row_k`` cancels)."""
    with mpmath.workdps(40):
        pivot = mpmath.mpf(float(row[k]))
        others = (mpmath.mpf(float(v)) - pivot for j, v in enumerate(row) if j != k)
        return float(mpmath.log1p(mpmath.fsum(mpmath.exp(d) for d in others)))


def unit(x: np.ndarray) -> np.ndarray:
    """``x / max(‖x‖₂, 1e-12)`` row by row."""
    x = f64(x)
    norms = np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
    return x / np.maximum(norms, 1e-12)


# ====================================================================== segmentation
def segmentation_arrays(
    inputs: list[np.ndarray], opts: dict[str, Any], activation: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(p, y, keep)`` as (images, pixels, classes): probabilities (or raw scores when
    ``activation`` is False), dense targets and the kept entries (``mask``, ``ignore_index``)."""
    y_pred = f64(inputs[1])
    if opts["mode"] == "binary":
        z, y, keep = binary_arrays(inputs[0], y_pred, opts)
        squash = ref.sigmoid
    else:
        z, y, keep = class_arrays(inputs[0], y_pred, opts)
        squash = softmax if opts["mode"] == "multiclass" else ref.sigmoid
    p = squash(z) if activation and opts.get("from_logits") else z
    n, c = y_pred.shape[0], z.shape[-1]
    p, y, keep = (a.reshape(n, -1, c) for a in (p, y, keep))
    return p, np.where(keep, y, 0.0), keep


def kept(target: np.ndarray, opts: dict[str, Any], mask_shape: tuple[int, ...]) -> Any:
    """Entries whose target is not ``ignore_index`` and whose pixel ``mask`` (read with
    ``mask_shape``) is True."""
    ignore, mask = opts.get("ignore_index"), opts.get("mask")
    keep = np.ones(target.shape, bool) if ignore is None else target != ignore
    if mask is not None:
        keep = keep & np.asarray(mask, bool).reshape(mask_shape)
    return keep


def binary_arrays(y_true: Any, y_pred: np.ndarray, opts: dict[str, Any]) -> tuple[Any, Any, Any]:
    """One foreground map: ``(N, H, W)`` targets are accepted against ``(N, H, W, 1)``; a
    mask is a prefix of ``y_pred``'s shape or broadcasts to it."""
    axis = opts["axis"] % y_pred.ndim
    y = f64(y_true)
    if y.ndim == y_pred.ndim - 1 and y_pred.ndim > 1 and y_pred.shape[axis] == 1:
        y = np.expand_dims(y, axis=axis)
    y = np.broadcast_to(y, y_pred.shape)
    mask = opts.get("mask")
    mask_shape: tuple[int, ...] = () if mask is None else np.shape(mask)
    if len(mask_shape) < y.ndim and mask_shape == y.shape[: len(mask_shape)]:
        mask_shape = mask_shape + (1,) * (y.ndim - len(mask_shape))
    keep = np.broadcast_to(kept(y, opts, mask_shape), y.shape)
    return y_pred[..., None], y[..., None], keep[..., None]


def class_arrays(y_true: Any, y_pred: np.ndarray, opts: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Classes on ``axis`` (moved last); index targets become one-hot."""
    axis = opts["axis"]
    z = np.moveaxis(y_pred, axis, -1)
    y_true = np.asarray(y_true)
    if opts["mode"] == "multiclass" and y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        y_true = np.squeeze(y_true, axis=axis)
    if opts["mode"] == "multiclass" and y_true.ndim == y_pred.ndim - 1:
        y = (y_true[..., None] == np.arange(z.shape[-1])).astype(np.float64)
        keep = kept(y_true, opts, y_true.shape)[..., None]
    else:
        y = np.moveaxis(f64(y_true), axis, -1)
        keep = kept(y, opts, (*y.shape[:-1], 1))
    return z, y, np.broadcast_to(keep, y.shape)


def groups(a: np.ndarray, per_image: bool) -> list[np.ndarray]:
    """The (pixels, classes) arrays the statistics are summed over: one per image, or one
    for the whole batch."""
    return list(a) if per_image else [a.reshape(-1, a.shape[-1])]


def overlap_statistics(
    p: np.ndarray, y: np.ndarray, keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class: ``I = Σ min(p, y)``, ``Σp`` and ``Σy`` over the kept pixels.

    Wang et al. (2023), Dice Semimetric Losses."""
    p, y = np.where(keep, p, 0.0), np.where(keep, y, 0.0)
    return np.minimum(p, y).sum(0), p.sum(0), y.sum(0)


def class_average(losses: np.ndarray, counted: np.ndarray, weight: np.ndarray) -> float | None:
    """``Σ_c w_c ℓ_c / Σ_c w_c`` over the counted classes; None when nothing is counted."""
    w = np.where(counted, weight, 0.0)
    if w.sum() <= 0:
        return None
    return float(np.sum(w * np.where(counted, losses, 0.0)) / w.sum())


def class_weights(opts: dict[str, Any], c: int) -> np.ndarray:
    weight = opts.get("class_weight")
    return np.ones(c) if weight is None else f64(weight) * np.ones(c)


def empty_policy(losses: np.ndarray, target_mass: np.ndarray, empty: str) -> tuple[Any, Any]:
    """An empty-target class: left out (``ignore``), 0, 1, or its own value (``keep``)."""
    absent = target_mass == 0
    if empty == "ignore":
        return losses, ~absent
    if empty == "zero":
        return np.where(absent, 0.0, losses), np.ones_like(absent)
    if empty == "one":
        return np.where(absent, 1.0, losses), np.ones_like(absent)
    return losses, np.ones_like(absent)


def per_group(
    inputs: list[np.ndarray], opts: dict[str, Any], class_loss: Callable[..., np.ndarray]
) -> np.ndarray:
    """Class losses per image (or for the batch), the empty policy, the class average."""
    p, y, keep = segmentation_arrays(inputs, opts)
    out = []
    for pg, yg, kg in zip(*(groups(a, opts["per_image"]) for a in (p, y, keep)), strict=True):
        stats = overlap_statistics(pg, yg, kg)
        losses, counted = empty_policy(class_loss(*stats), stats[2], opts["empty"])
        value = class_average(losses, counted, class_weights(opts, pg.shape[-1]))
        out.append(0.0 if value is None else value)
    return f64(out) if opts["per_image"] else f64(out[0])


OVERLAP_DEFAULTS: dict[str, Any] = dict(
    mode="multiclass",
    from_logits=False,
    smooth=0.0,
    eps=1e-7,
    per_image=False,
    empty="ignore",
    ignore_index=None,
    class_weight=None,
    axis=-1,
    mask=None,
)


def dice_score_loss(i: Any, sp: Any, sy: Any, s: float, eps: float) -> Any:
    """``1 - (2I + s) / max(Σp + Σy + s, 2ε)``.

    Milletari et al. (2016), V-Net."""
    return 1.0 - (2.0 * i + s) / np.maximum(sp + sy + s, 2.0 * eps)


def jaccard_score_loss(i: Any, sp: Any, sy: Any, s: float, eps: float) -> Any:
    """``1 - (I + s) / max(Σp + Σy - I + s, ε)``.

    Rahman & Wang (2016), Optimizing Intersection-over-Union."""
    return 1.0 - (i + s) / np.maximum(sp + sy - i + s, eps)


def tversky_score_loss(i: Any, sp: Any, sy: Any, a: float, b: float, s: float, eps: float) -> Any:
    """``1 - (I + s) / max(I + α(Σp - I) + β(Σy - I) + s, ε)``.

    Salehi et al. (2017), Tversky Loss Function for Image Segmentation."""
    return 1.0 - (i + s) / np.maximum(i + a * (sp - i) + b * (sy - i) + s, eps)


def dice(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    o = options(params, **OVERLAP_DEFAULTS)
    return per_group(inputs, o, lambda i, sp, sy: dice_score_loss(i, sp, sy, o["smooth"], o["eps"]))


def jaccard(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    o = options(params, **OVERLAP_DEFAULTS)
    s, eps = o["smooth"], o["eps"]
    return per_group(inputs, o, lambda i, sp, sy: jaccard_score_loss(i, sp, sy, s, eps))


def tversky(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    o = options(params, alpha=0.5, beta=0.5, **OVERLAP_DEFAULTS)
    a, b, s, eps = o["alpha"], o["beta"], o["smooth"], o["eps"]
    return per_group(inputs, o, lambda i, sp, sy: tversky_score_loss(i, sp, sy, a, b, s, eps))


def focal_tversky(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``(1 - TI_c)^γ`` per class.

    Abraham & Khan (2019), A Novel Focal Tversky Loss Function."""
    o = options(params, alpha=0.3, beta=0.7, gamma=0.75, **OVERLAP_DEFAULTS)
    a, b, s, eps, g = o["alpha"], o["beta"], o["smooth"], o["eps"], o["gamma"]

    def focal(i: Any, sp: Any, sy: Any) -> Any:
        return np.asarray(tversky_score_loss(i, sp, sy, a, b, s, eps)) ** g

    return per_group(inputs, o, focal)


def generalized_dice_group(
    i: np.ndarray, sp: np.ndarray, sy: np.ndarray, o: dict[str, Any], weight: np.ndarray
) -> float | None:
    """``1 - (2 Σ w_c I_c + s) / max(Σ w_c (Σp_c + Σy_c) + s, ε)``, ``w_c = (Σy_c)^-k``, an
    empty class weighted like the smallest non-empty one.

    Sudre et al. (2017), Generalised Dice Overlap."""
    power = {"square": 2, "simple": 1, "uniform": 0}[o["w_type"]]
    present = sy > 0
    if not present.any() and o["empty"] != "keep":
        return {"ignore": None, "zero": 0.0, "one": 1.0}[o["empty"]]
    if weight.sum() <= 0:
        return None
    with mpmath.workdps(40):
        mp = lambda v: mpmath.mpf(float(v))  # noqa: E731
        volumes = [mp(v) ** power for v in sy]
        largest = (
            1 / min(v for v, here in zip(volumes, present, strict=True) if here)
            if any(present)
            else mpmath.mpf(1)
        )
        w = [
            mp(cw) * (1 / v if here else largest)
            for v, here, cw in zip(volumes, present, weight, strict=True)
        ]
        numerator = 2 * mpmath.fsum(wc * mp(ic) for wc, ic in zip(w, i, strict=True))
        numerator += mp(o["smooth"])
        mass = mpmath.fsum(wc * (mp(a) + mp(b)) for wc, a, b in zip(w, sp, sy, strict=True))
        return float(1 - numerator / max(mass + mp(o["smooth"]), mp(o["eps"])))


def generalized_dice(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    o = options(params, w_type="square", **OVERLAP_DEFAULTS)
    p, y, keep = segmentation_arrays(inputs, o)
    out = []
    for pg, yg, kg in zip(*(groups(a, o["per_image"]) for a in (p, y, keep)), strict=True):
        weight = class_weights(o, pg.shape[-1])
        value = generalized_dice_group(*overlap_statistics(pg, yg, kg), o, weight)
        out.append(0.0 if value is None else value)
    return f64(out) if o["per_image"] else f64(out[0])


# ---------------------------------------------------------------------- Lovász
def jaccard_set_loss(chosen: set[int], foreground: set[int]) -> float:
    """``Δ_J(M) = |M| / |G ∪ M|`` of a set of mispredicted pixels ``M``.

    Berman, Rannen Triki & Blaschko (2018), The Lovász-Softmax Loss."""
    union = foreground | chosen
    return len(chosen) / len(union) if union else 0.0


def lovasz_extension(errors: np.ndarray, fg: np.ndarray) -> float:
    """``Σ_i e_(i) (Δ_J({1..i}) - Δ_J({1..i-1}))`` with the errors sorted decreasingly.

    Berman, Rannen Triki & Blaschko (2018), Algorithm 1."""
    order = sorted(range(len(errors)), key=lambda k: -float(errors[k]))
    foreground = {k for k in range(len(fg)) if fg[k] > 0.5}
    total, previous, chosen = 0.0, 0.0, set()
    for k in order:
        chosen.add(k)
        current = jaccard_set_loss(chosen, foreground)
        total += float(errors[k]) * (current - previous)
        previous = current
    return total


def lovasz_groups(
    errors: np.ndarray,
    fg: np.ndarray,
    keep: np.ndarray,
    opts: dict[str, Any],
    class_mask: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """One Lovász extension per (image or batch, class) over the kept pixels, averaged over
    the classes ``class_mask(present)`` selects, weighted by ``class_weight``."""
    out = []
    split = (groups(a, opts["per_image"]) for a in (errors, fg, keep))
    for eg, fgg, kg in zip(*split, strict=True):
        c = eg.shape[-1]
        losses = np.array([lovasz_extension(eg[kg[:, j], j], fgg[kg[:, j], j]) for j in range(c)])
        present = np.array([fgg[kg[:, j], j].sum() > 0 for j in range(c)])
        value = None
        if kg.any():
            value = class_average(losses, class_mask(present), class_weights(opts, c))
        out.append(0.0 if value is None else value)
    return f64(out) if opts["per_image"] else f64(out[0])


def lovasz_softmax(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """Per class: the Lovász extension of ``Δ_J`` on ``e_c = |[y = c] - p_c|``.

    Berman, Rannen Triki & Blaschko (2018), The Lovász-Softmax Loss."""
    o = options(
        params,
        mode="multiclass",
        from_logits=False,
        classes="present",
        per_image=False,
        ignore_index=None,
        class_weight=None,
        axis=-1,
        mask=None,
    )
    p, y, keep = segmentation_arrays(inputs, o)
    classes = o["classes"]

    def class_mask(present: np.ndarray) -> np.ndarray:
        if isinstance(classes, str):
            return present if classes == "present" else np.ones_like(present)
        return np.isin(np.arange(len(present)), list(classes))

    return lovasz_groups(np.abs(y - p), y, keep, o, class_mask)


def lovasz_hinge(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """The Lovász extension of ``Δ_J`` on the hinge errors ``[1 - z (2y - 1)]_+``.

    Berman, Rannen Triki & Blaschko (2018), The Lovász-Softmax Loss."""
    o = options(
        params,
        mode="binary",
        per_image=False,
        ignore_index=None,
        class_weight=None,
        axis=-1,
        mask=None,
    )
    if o["mode"] not in ("binary", "multilabel"):
        raise NotImplementedError(f"mode={o['mode']!r}")
    z, y, keep = segmentation_arrays(inputs, o, activation=False)
    errors = np.maximum(1.0 - z * (2.0 * y - 1.0), 0.0)
    return lovasz_groups(errors, y, keep, o, np.ones_like)


# ====================================================================== metric learning
def same_label_pairs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(positive, negative)`` over ordered pairs ``i ≠ j``."""
    labels = np.asarray(labels)
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    return same & off, ~same & off


def contrastive(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``[d_ij - m₊]_+`` for equal labels, ``[m₋ - d_ij]_+`` otherwise (½[·]² when squared).

    Hadsell, Chopra & LeCun (2006), Dimensionality Reduction by Learning an Invariant Mapping."""
    o = options(params, pos_margin=0.0, neg_margin=1.0, normalize=True, squared=False, mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    x, labels = inputs
    u = unit(x) if o["normalize"] else f64(x)
    positive, _ = same_label_pairs(labels)
    out = np.zeros((len(u), len(u)))
    for i, j in itertools.permutations(range(len(u)), 2):
        d = float(np.linalg.norm(u[i] - u[j]))
        hinge = max(d - o["pos_margin"], 0.0) if positive[i, j] else max(o["neg_margin"] - d, 0.0)
        out[i, j] = 0.5 * hinge * hinge if o["squared"] else hinge
    return out


def supervised_contrastive(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``-1/|P(i)| Σ_{p∈P(i)} (s_ip - log Σ_{a≠i} exp s_ia)``, ``s = cos / τ``.

    Khosla et al. (2020), Supervised Contrastive Learning."""
    o = options(params, temperature=0.1, mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    x, labels = inputs
    u = unit(x)
    s = u @ u.T / o["temperature"]
    positive, _ = same_label_pairs(labels)
    out = np.zeros(len(u))
    for i in range(len(u)):
        if not positive[i].any():
            continue
        candidates = np.delete(s[i], i)
        at = [int(j) - int(j > i) for j in np.flatnonzero(positive[i])]
        out[i] = math.fsum(neg_log_softmax_at(candidates, k) for k in at) / len(at)
    return out


def circle(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``softplus(logsumexp_p -γα_p(s_p - Δ_p) + logsumexp_n γα_n(s_n - Δ_n))``.

    Sun et al. (2020), Circle Loss: A Unified Perspective of Pair Similarity Optimization."""
    o = options(params, m=0.25, gamma=256.0, mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    m, gamma = o["m"], o["gamma"]
    x, labels = inputs
    u = unit(x)
    s = u @ u.T
    positive, negative = same_label_pairs(labels)
    out = np.zeros(len(u))
    for i in range(len(u)):
        if not (positive[i].any() and negative[i].any()):
            continue
        sp, sn = s[i][positive[i]], s[i][negative[i]]
        pull = -gamma * np.maximum(1.0 + m - sp, 0.0) * (sp - (1.0 - m))
        push = gamma * np.maximum(sn + m, 0.0) * (sn - m)
        out[i] = float(np.logaddexp(0.0, logsumexp(pull) + logsumexp(push)))
    return out


def triplet_distance(x: np.ndarray, y: np.ndarray, p: float, eps: float, eps_mode: str) -> float:
    """``‖x - y + ε‖_p`` (``eps_mode="difference"``) or ``(Σ|x - y|^p + ε)^(1/p)`` (``"sum"``)."""
    if eps_mode == "sum":
        return float((np.sum(np.abs(x - y) ** p) + eps) ** (1.0 / p))
    d = np.abs(x - y + eps)
    return float(d.max()) if math.isinf(p) else float(np.sum(d**p) ** (1.0 / p))


def triplet_margin(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``[m + d(a, p) - d(a, n)]_+``; with ``swap``, ``d(a, n)`` → ``min(d(a, n), d(p, n))``.

    Schroff et al. (2015), FaceNet; Balntas et al. (2016), distance swap."""
    o = options(params, margin=1.0, p=2.0, eps=1e-6, swap=False, eps_mode="difference", mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    a, pos, neg = (f64(v) for v in inputs)
    a, pos, neg = np.broadcast_arrays(a, pos, neg)
    flat = [v.reshape(-1, v.shape[-1]) for v in (a, pos, neg)]
    out = []
    for ai, pi, ni in zip(*flat, strict=True):
        dist = lambda x, y: triplet_distance(x, y, o["p"], o["eps"], o["eps_mode"])  # noqa: E731
        d_an = min(dist(ai, ni), dist(pi, ni)) if o["swap"] else dist(ai, ni)
        out.append(max(o["margin"] + dist(ai, pi) - d_an, 0.0))
    return f64(out).reshape(a.shape[:-1])


def margin_ranking(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``[m - y (x₁ - x₂)]_+``.

    Herbrich et al. (1999), Support Vector Learning for Ordinal Regression."""
    o = options(params, margin=0.0, mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    x1, x2, y = (f64(v) for v in inputs)
    return np.maximum(o["margin"] - y * (x1 - x2), 0.0)


#: torch's cosine epsilon: the single-precision constant ``1e-12``, added in every dtype
TORCH_COSINE_EPS = float(np.float32(1e-12))


def cosine_embedding(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``1 - cos`` for ``y = 1``, ``[cos - m]_+`` for ``y = -1``, with
    ``cos = x₁·x₂ / √((‖x₁‖² + ε)(‖x₂‖² + ε))``, ``ε`` torch's ``float32(1e-12)``.

    Cosine embedding criterion (PyTorch CosineEmbeddingLoss)."""
    o = options(params, margin=0.0, mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    x1, x2 = np.broadcast_arrays(f64(inputs[0]), f64(inputs[1]))
    y = np.broadcast_to(f64(inputs[2]), x1.shape[:-1]).ravel()
    rows = zip(x1.reshape(-1, x1.shape[-1]), x2.reshape(-1, x2.shape[-1]), y, strict=True)
    out = []
    for a, b, label in rows:
        eps = TORCH_COSINE_EPS
        cos = float(a @ b) / math.sqrt((float(a @ a) + eps) * (float(b @ b) + eps))
        out.append(1.0 - cos if label > 0 else max(cos - o["margin"], 0.0))
    return f64(out).reshape(x1.shape[:-1])


def hinge_embedding(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``x`` for ``y = 1``, ``[m - x]_+`` for ``y = -1``.

    Hinge embedding criterion (PyTorch HingeEmbeddingLoss)."""
    o = options(params, margin=1.0, mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    x, y = (f64(v) for v in inputs)
    return np.where(y > 0, x, np.maximum(o["margin"] - x, 0.0))


def info_nce(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``-s(k, pos(k)) + log Σ_{c ∈ C(k)} exp s(k, c)`` per anchor ``k``, ``s = cos / τ``.

    van den Oord et al. (2018), CPC; Chen et al. (2020), SimCLR (NT-Xent)."""
    o = options(params, temperature=0.1, negatives="all", symmetric=True, normalize=True, mask=None)
    if o["mask"] is not None or o["negatives"] not in ("all", "cross_view"):
        raise NotImplementedError(f"mask={o['mask']!r}, negatives={o['negatives']!r}")
    z_a, z_b = (unit(v) if o["normalize"] else f64(v) for v in inputs)
    n = len(z_a)
    views = np.concatenate([z_a, z_b])
    s = views @ views.T / o["temperature"]
    out = np.zeros((n, 2))
    for k in range(2 * n):
        partner = (k + n) % (2 * n)
        if o["negatives"] == "all":
            candidates = [c for c in range(2 * n) if c != k]
        else:
            candidates = list(range(n, 2 * n)) if k < n else list(range(n))
        out[k % n, k // n] = neg_log_softmax_at(s[k, candidates], candidates.index(partner))
    return out if o["symmetric"] else out[:, 0]


def sigmoid_contrastive(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``Σ_j log(1 + exp(-z_ij (t â_i·b̂_j + b)))``, ``z_ii = 1``, ``z_ij = -1`` otherwise
    (elementwise in mpmath).

    Zhai et al. (2023), Sigmoid Loss for Language Image Pre-Training."""
    o = options(params, logit_scale=10.0, bias=-10.0, normalize=True, mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    a, b = (unit(v) if o["normalize"] else f64(v) for v in inputs)
    t, bias = float(o["logit_scale"]), float(o["bias"])
    out = []
    with mpmath.workdps(40):
        for i in range(len(a)):
            total = mpmath.mpf(0)
            for j in range(len(b)):
                sign = 1 if i == j else -1
                pairs = zip(a[i], b[j], strict=True)
                x = t * mpmath.fsum(mpmath.mpf(float(u)) * float(v) for u, v in pairs) + bias
                total += mpmath.log1p(mpmath.exp(-sign * x))
            out.append(float(total))
    return f64(out)


# ====================================================================== ranking
def lists(inputs: list[np.ndarray], axis: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each list's valid ``(labels, scores)`` (label ≥ 0), the list on ``axis``."""
    y, s = (np.moveaxis(f64(v), axis, -1) for v in inputs)
    y, s = np.broadcast_arrays(y, s)
    flat_y, flat_s = y.reshape(-1, y.shape[-1]), s.reshape(-1, s.shape[-1])
    return [(yl[yl >= 0], sl[yl >= 0]) for yl, sl in zip(flat_y, flat_s, strict=True)]


def per_list(
    inputs: list[np.ndarray], axis: int, loss: Callable[[np.ndarray, np.ndarray], float]
) -> np.ndarray:
    """``loss(labels, scores)`` of every list, in the batch shape (0 for an empty list)."""
    y = np.moveaxis(f64(inputs[0]), axis, -1)
    shape = np.broadcast_shapes(y.shape, np.moveaxis(f64(inputs[1]), axis, -1).shape)[:-1]
    values = [loss(yl, sl) if len(yl) else 0.0 for yl, sl in lists(inputs, axis)]
    return f64(values).reshape(shape)


def ordered_pairs(y: np.ndarray) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` with ``y_i > y_j``."""
    return [(i, j) for i, j in itertools.permutations(range(len(y)), 2) if y[i] > y[j]]


def pairwise_sum(
    y: np.ndarray, s: np.ndarray, term: Callable[[float], float], normalize: bool
) -> float:
    """``Σ_{y_i > y_j} term(s_i - s_j)``, divided by the number of pairs when ``normalize``."""
    pairs = ordered_pairs(y)
    total = math.fsum(term(float(s[i] - s[j])) for i, j in pairs)
    return total / len(pairs) if normalize and pairs else total


def pairwise_logistic(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``Σ_{y_i > y_j} log(1 + exp(-(s_i - s_j)))``.

    Burges et al. (2005), Learning to Rank using Gradient Descent (RankNet)."""
    o = options(params, normalize_pairs=False, axis=-1, mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    term = lambda g: float(np.logaddexp(0.0, -g))  # noqa: E731
    return per_list(inputs, o["axis"], lambda y, s: pairwise_sum(y, s, term, o["normalize_pairs"]))


def pairwise_hinge(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``Σ_{y_i > y_j} [m - (s_i - s_j)]_+``.

    Herbrich et al. (1999); Joachims (2002), Optimizing Search Engines (RankSVM)."""
    o = options(params, margin=1.0, normalize_pairs=False, axis=-1, mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    term = lambda g: max(o["margin"] - g, 0.0)  # noqa: E731
    return per_list(inputs, o["axis"], lambda y, s: pairwise_sum(y, s, term, o["normalize_pairs"]))


def listnet(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``-Σ_i P_y(i) log softmax(s)_i``, ``P_y = softmax(y)`` or ``y / Σy``.

    Cao et al. (2007), Learning to Rank: From Pairwise Approach to Listwise Approach."""
    o = options(params, target="softmax", axis=-1, mask=None)
    if o["mask"] is not None or o["target"] not in ("softmax", "normalize"):
        raise NotImplementedError(f"mask={o['mask']!r}, target={o['target']!r}")

    def loss(y: np.ndarray, s: np.ndarray) -> float:
        if o["target"] == "normalize":
            if y.sum() == 0:
                return 0.0
            target = y / y.sum()
        else:
            target = softmax(y)
        return math.fsum(t * neg_log_softmax_at(s, i) for i, t in enumerate(target))

    return per_list(inputs, o["axis"], loss)


def listmle(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``Σ_k (log Σ_{l ≥ k} exp s_π(l) - s_π(k))``, π the labels' order (ties by position).

    Xia et al. (2008), Listwise Approach to Learning to Rank (ListMLE)."""
    o = options(params, axis=-1, mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")

    def loss(y: np.ndarray, s: np.ndarray) -> float:
        order = sorted(range(len(y)), key=lambda k: (-y[k], k))
        ranked = s[order]
        return math.fsum(neg_log_softmax_at(ranked[k:], 0) for k in range(len(ranked)))

    return per_list(inputs, o["axis"], loss)


def ideal_dcg(y: np.ndarray) -> float:
    """``Σ_r (2^{y_(r)} - 1) / log₂(1 + r)`` with the labels sorted decreasingly.

    Järvelin & Kekäläinen (2002), Cumulated Gain-Based Evaluation of IR Techniques."""
    gains = sorted((2.0**v - 1.0 for v in y), reverse=True)
    return math.fsum(g / math.log2(1.0 + r) for r, g in enumerate(gains, start=1))


def approx_ndcg(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``1 - Σ_i (2^{y_i} - 1) / log₂(1 + π̂_i) / IDCG``, ``π̂_i = 1 + Σ_{j≠i} σ((s_j - s_i)/T)``
    (elementwise in mpmath).

    Qin, Liu & Li (2010), A General Approximation Framework for Direct Optimization of IR
    Measures."""
    o = options(params, temperature=0.1, axis=-1, mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    temperature = mpmath.mpf(o["temperature"])

    def loss(y: np.ndarray, s: np.ndarray) -> float:
        idcg = ideal_dcg(y)
        if idcg == 0:
            return 0.0
        with mpmath.workdps(40):
            dcg = mpmath.mpf(0)
            for i in range(len(y)):
                rank = 1 + mpmath.fsum(
                    1 / (1 + mpmath.exp(-(mpmath.mpf(s[j]) - s[i]) / temperature))
                    for j in range(len(y))
                    if j != i
                )
                dcg += (2 ** mpmath.mpf(y[i]) - 1) / mpmath.log(1 + rank, 2)
            return float(1 - dcg / mpmath.mpf(idcg))

    return per_list(inputs, o["axis"], loss)


def lambda_pair_weight(ri: int, rj: int, gain_gap: float, weighting: str, mu: float) -> float:
    """``|G_i - G_j|`` times ``ρ_ij + μ δ_ij``, ``δ_ij`` or ``ρ_ij``, with
    ``ρ_ij = |1/D(r_i) - 1/D(r_j)|`` and ``δ_ij = 1/D(|r_i - r_j|) - 1/D(|r_i - r_j| + 1)``,
    ``D(r) = log₂(1 + r)``.

    Wang et al. (2018), The LambdaLoss Framework for Ranking Metric Optimization."""
    discount = lambda r: 1.0 / math.log2(1.0 + r)  # noqa: E731
    rho = abs(discount(ri) - discount(rj))
    gap = abs(ri - rj)
    delta = discount(gap) - discount(gap + 1)
    factor = {"ndcg_loss2++": rho + mu * delta, "ndcg_loss2": delta, "lambdarank": rho}
    return gain_gap * factor[weighting]


def lambda_loss(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``Σ_{y_i > y_j} w_ij log₂(1 + exp(-σ(s_i - s_j)))`` with ``G = (2^y - 1)/IDCG`` and
    ranks by score (ties by position).

    Wang et al. (2018), The LambdaLoss Framework for Ranking Metric Optimization."""
    o = options(params, weighting="ndcg_loss2++", mu=10.0, sigma=1.0, axis=-1, mask=None)
    if o["mask"] is not None or o["weighting"] not in ("ndcg_loss2++", "ndcg_loss2", "lambdarank"):
        raise NotImplementedError(f"mask={o['mask']!r}, weighting={o['weighting']!r}")

    def loss(y: np.ndarray, s: np.ndarray) -> float:
        idcg = ideal_dcg(y)
        if idcg == 0:
            return 0.0
        gains = (2.0**y - 1.0) / idcg
        order = sorted(range(len(s)), key=lambda k: (-s[k], k))
        rank = {item: r for r, item in enumerate(order, start=1)}
        total = 0.0
        for i, j in ordered_pairs(y):
            gap = abs(gains[i] - gains[j])
            w = lambda_pair_weight(rank[i], rank[j], gap, o["weighting"], o["mu"])
            total += w * float(np.logaddexp(0.0, -o["sigma"] * (s[i] - s[j]))) / math.log(2.0)
        return total

    return per_list(inputs, o["axis"], loss)


REFERENCES: dict[str, Reference] = {
    "dice": dice,
    "jaccard": jaccard,
    "tversky": tversky,
    "focal_tversky": focal_tversky,
    "generalized_dice": generalized_dice,
    "lovasz_softmax": lovasz_softmax,
    "lovasz_hinge": lovasz_hinge,
    "contrastive": contrastive,
    "supervised_contrastive": supervised_contrastive,
    "circle": circle,
    "triplet_margin": triplet_margin,
    "margin_ranking": margin_ranking,
    "cosine_embedding": cosine_embedding,
    "hinge_embedding": hinge_embedding,
    "info_nce": info_nce,
    "sigmoid_contrastive": sigmoid_contrastive,
    "pairwise_logistic": pairwise_logistic,
    "pairwise_hinge": pairwise_hinge,
    "listnet": listnet,
    "listmle": listmle,
    "approx_ndcg": approx_ndcg,
    "lambda_loss": lambda_loss,
}
