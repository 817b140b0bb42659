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
    p: np.ndarray, y: np.ndarray, keep: np.ndarray, squared: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class: ``I = Σ min(p, y)``, ``Σp`` and ``Σy`` over the kept pixels; ``squared``:
    ``Σ p·y``, ``Σp²``, ``Σy²``.

    Wang et al. (2023), Dice Semimetric Losses; Milletari et al. (2016), V-Net (squared)."""
    p, y = np.where(keep, p, 0.0), np.where(keep, y, 0.0)
    if squared:
        return (p * y).sum(0), (p * p).sum(0), (y * y).sum(0)
    return np.minimum(p, y).sum(0), p.sum(0), y.sum(0)


def class_average(
    losses: np.ndarray, counted: np.ndarray, weight: np.ndarray, normalize: bool = True
) -> float | None:
    """``Σ_c w_c ℓ_c / Σ_c w_c`` over the counted classes (``normalize=False``: divided by
    their number, MONAI's weighting); None when nothing is counted."""
    w = np.where(counted, weight, 0.0)
    total = w.sum() if normalize else float(np.sum(counted))
    if total <= 0:
        return None
    return float(np.sum(w * np.where(counted, losses, 0.0)) / total)


def smoothing(opts: dict[str, Any]) -> tuple[float, float]:
    """``(numerator, denominator)`` smoothing: ``smooth_nr``/``smooth_dr`` or ``smooth``."""
    nr, dr = opts.get("smooth_nr"), opts.get("smooth_dr")
    return (opts["smooth"] if nr is None else nr, opts["smooth"] if dr is None else dr)


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
    """Class losses per image (or for the batch), the empty policy, the class average; with
    ``per_class`` the class losses themselves, times their weight (0 where not counted)."""
    p, y, keep = segmentation_arrays(inputs, opts)
    out: list[Any] = []
    squared = opts.get("squared_pred", False)
    for pg, yg, kg in zip(*(groups(a, opts["per_image"]) for a in (p, y, keep)), strict=True):
        stats = overlap_statistics(pg, yg, kg, squared)
        losses, counted = empty_policy(class_loss(*stats), stats[2], opts["empty"])
        weight = class_weights(opts, pg.shape[-1])
        if opts.get("per_class"):
            out.append(np.where(counted, weight * losses, 0.0) if len(pg) else 0.0 * losses)
            continue
        value = class_average(losses, counted, weight, opts.get("normalize_class_weight", True))
        out.append(0.0 if value is None else value)
    if opts.get("per_class") and not out:
        return np.zeros((0, p.shape[-1]))
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
    smooth_nr=None,
    smooth_dr=None,
    per_class=False,
)
#: the Tversky family's own options (generalized Dice has neither)
TVERSKY_DEFAULTS: dict[str, Any] = dict(squared_pred=False, normalize_class_weight=True)
Smoothing = tuple[float, float]


def dice_score_loss(i: Any, sp: Any, sy: Any, s: Smoothing, eps: float) -> Any:
    """``1 - (2I + s_nr) / max(Σp + Σy + s_dr, 2ε)``.

    Milletari et al. (2016), V-Net."""
    return 1.0 - (2.0 * i + s[0]) / np.maximum(sp + sy + s[1], 2.0 * eps)


def jaccard_score_loss(i: Any, sp: Any, sy: Any, s: Smoothing, eps: float) -> Any:
    """``1 - (I + s_nr) / max(Σp + Σy - I + s_dr, ε)``.

    Rahman & Wang (2016), Optimizing Intersection-over-Union."""
    return 1.0 - (i + s[0]) / np.maximum(sp + sy - i + s[1], eps)


def tversky_score_loss(
    i: Any, sp: Any, sy: Any, a: float, b: float, s: Smoothing, eps: float
) -> Any:
    """``1 - (I + s_nr) / max(I + α(Σp - I) + β(Σy - I) + s_dr, ε)``.

    Salehi et al. (2017), Tversky Loss Function for Image Segmentation."""
    return 1.0 - (i + s[0]) / np.maximum(i + a * (sp - i) + b * (sy - i) + s[1], eps)


def dice(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    o = options(params, **OVERLAP_DEFAULTS, **TVERSKY_DEFAULTS)
    s, eps = smoothing(o), o["eps"]
    return per_group(inputs, o, lambda i, sp, sy: dice_score_loss(i, sp, sy, s, eps))


def jaccard(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    o = options(params, **OVERLAP_DEFAULTS, **TVERSKY_DEFAULTS)
    s, eps = smoothing(o), o["eps"]
    return per_group(inputs, o, lambda i, sp, sy: jaccard_score_loss(i, sp, sy, s, eps))


def tversky(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    o = options(params, alpha=0.5, beta=0.5, **OVERLAP_DEFAULTS, **TVERSKY_DEFAULTS)
    a, b, s, eps = o["alpha"], o["beta"], smoothing(o), o["eps"]
    return per_group(inputs, o, lambda i, sp, sy: tversky_score_loss(i, sp, sy, a, b, s, eps))


def focal_tversky(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``(1 - TI_c)^γ`` per class.

    Abraham & Khan (2019), A Novel Focal Tversky Loss Function."""
    o = options(params, alpha=0.3, beta=0.7, gamma=0.75, **OVERLAP_DEFAULTS, **TVERSKY_DEFAULTS)
    a, b, s, eps, g = o["alpha"], o["beta"], smoothing(o), o["eps"], o["gamma"]

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
        nr, dr = smoothing(o)
        numerator = 2 * mpmath.fsum(wc * mp(ic) for wc, ic in zip(w, i, strict=True)) + mp(nr)
        mass = mpmath.fsum(wc * (mp(a) + mp(b)) for wc, a, b in zip(w, sp, sy, strict=True))
        return float(1 - numerator / max(mass + mp(dr), mp(o["eps"])))


def generalized_dice(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """One value per image (or for the batch); ``per_class`` keeps a class axis of size 1."""
    o = options(params, w_type="square", **OVERLAP_DEFAULTS)
    p, y, keep = segmentation_arrays(inputs, o)
    out = []
    for pg, yg, kg in zip(*(groups(a, o["per_image"]) for a in (p, y, keep)), strict=True):
        weight = class_weights(o, pg.shape[-1])
        value = generalized_dice_group(*overlap_statistics(pg, yg, kg), o, weight)
        out.append(0.0 if value is None or not len(pg) else value)
    result = f64(out) if o["per_image"] else f64(out[0])
    return result[..., None] if o["per_class"] else result


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


# ---------------------------------------------------------------------- boundary-aware
BOUNDARY_DEFAULTS: dict[str, Any] = dict(
    mode="multiclass", from_logits=False, class_weight=None, per_class=False, axis=-1, mask=None
)


def spatial_arrays(
    inputs: list[np.ndarray], o: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(p, y, keep)`` as (images, *spatial, classes): probabilities, 0/1 targets, the pixels
    the mask keeps (broadcast over the classes)."""
    y_pred, y_true = f64(inputs[1]), np.asarray(inputs[0])
    if o["mode"] == "binary":
        z, y = y_pred[..., None], np.broadcast_to(f64(y_true), y_pred.shape)[..., None]
        squash = ref.sigmoid
    else:
        z = np.moveaxis(y_pred, o["axis"], -1)
        if y_true.ndim == y_pred.ndim - 1:
            y = (y_true[..., None] == np.arange(z.shape[-1])).astype(np.float64)
        else:
            y = np.moveaxis(f64(y_true), o["axis"], -1)
        squash = softmax if o["mode"] == "multiclass" else ref.sigmoid
    p = squash(z) if o["from_logits"] else z
    keep = np.ones(p.shape[:-1], bool)
    if o["mask"] is not None:
        keep = np.broadcast_to(np.asarray(o["mask"], bool), p.shape[:-1])
    return p, y, keep


def distance_maps(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """SciPy's exact Euclidean distance transforms: each foreground pixel's distance to the
    background, each background pixel's to the foreground, and whether the mask has both
    (an empty or full mask has zero maps)."""
    from scipy import ndimage

    if not mask.any() or mask.all():
        return np.zeros(mask.shape), np.zeros(mask.shape), False
    return ndimage.distance_transform_edt(mask), ndimage.distance_transform_edt(~mask), True


def per_image_class(
    inputs: list[np.ndarray], o: dict[str, Any], term: Callable[..., np.ndarray]
) -> np.ndarray:
    """``term(p, y)`` (one image and class, spatial arrays) averaged over the kept pixels, then
    the class average (or the per-class table, times the class weights)."""
    p, y, keep = spatial_arrays(inputs, o)
    n, c = p.shape[0], p.shape[-1]
    out = []
    for i in range(n):
        values = np.zeros(c)
        for k in range(c):
            kept = keep[i]
            if kept.any():
                values[k] = float(np.mean(term(p[i, ..., k], y[i, ..., k])[kept]))
        weight = class_weights(o, c)
        if o["per_class"]:
            out.append(np.where(keep[i].any(), weight * values, 0.0))
            continue
        value = class_average(values, np.full(c, bool(keep[i].any())), weight)
        out.append(0.0 if value is None else value)
    if o["per_class"]:
        return f64(out).reshape(n, c)
    return f64(out)


def boundary_loss(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``mean_x p(x) φ(x)``, ``φ = 1 - d(x, background)`` on the object and
    ``d(x, object)`` outside, per image and class.

    Kervadec et al. (2019), Boundary Loss for Highly Unbalanced Segmentation."""
    o = options(params, **BOUNDARY_DEFAULTS)

    def term(p: np.ndarray, y: np.ndarray) -> np.ndarray:
        inside, outside, split = distance_maps(y > 0.5)
        phi = np.where(y > 0.5, 1.0 - inside, outside) if split else np.zeros(y.shape)
        return p * phi

    return per_image_class(inputs, o, term)


def hausdorff_dt(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``mean_x (p - y)² (d_P^α + d_G^α)``, ``d`` the distance to a mask's boundary, ``P`` the
    mask ``p > 0.5``.

    Karimi & Salcudean (2019), Reducing the Hausdorff Distance in Medical Image Segmentation."""
    o = options(params, alpha=2.0, **BOUNDARY_DEFAULTS)

    def term(p: np.ndarray, y: np.ndarray) -> np.ndarray:
        d_p = sum(distance_maps(p > 0.5)[:2])
        d_g = sum(distance_maps(y > 0.5)[:2])
        return (p - y) ** 2 * (d_p ** o["alpha"] + d_g ** o["alpha"])

    return per_image_class(inputs, o, term)


def soft_skeleton(img: np.ndarray, steps: int) -> np.ndarray:
    """Soft skeleton of one image (spatial axes only) with SciPy's rank filters: erosion by the
    cross of 3-pixel segments, dilation by the 3 × 3 box, edges repeated.

    Shit et al. (2021), clDice, Algorithm 1."""
    from scipy import ndimage

    cross = ndimage.generate_binary_structure(img.ndim, 1)

    def erode(x: np.ndarray) -> np.ndarray:
        return ndimage.minimum_filter(x, footprint=cross, mode="nearest")

    def ridge(x: np.ndarray) -> np.ndarray:
        opened = ndimage.maximum_filter(erode(x), size=3, mode="nearest")
        return np.maximum(x - opened, 0.0)

    skeleton = ridge(img)
    for _ in range(steps):
        img = erode(img)
        delta = ridge(img)
        skeleton = skeleton + np.maximum(delta - skeleton * delta, 0.0)
    return skeleton


def soft_cldice(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``1 - 2 T_prec T_sens / (T_prec + T_sens + s)`` per image, the classes pooled.

    Shit et al. (2021), clDice - a Novel Topology-Preserving Loss Function."""
    o = options(
        params,
        iter_=3,
        smooth_nr=1.0,
        smooth_dr=1.0,
        smooth=1e-4,
        **{k: v for k, v in BOUNDARY_DEFAULTS.items() if k != "per_class"},
    )
    p, y, keep = spatial_arrays(inputs, {**o, "per_class": False})
    weight = class_weights(o, p.shape[-1])
    out = []
    for i in range(p.shape[0]):
        sums = np.zeros(4)  # Σ S_P·Y, Σ S_P, Σ S_Y·P, Σ S_Y
        for k in range(p.shape[-1]):
            w = weight[k] * keep[i]
            sp, sy = (
                soft_skeleton(p[i, ..., k], o["iter_"]),
                soft_skeleton(y[i, ..., k], o["iter_"]),
            )
            sums += [
                np.sum(w * sp * y[i, ..., k]),
                np.sum(w * sp),
                np.sum(w * sy * p[i, ..., k]),
                np.sum(w * sy),
            ]
        precision = (sums[0] + o["smooth_nr"]) / (sums[1] + o["smooth_dr"])
        sensitivity = (sums[2] + o["smooth_nr"]) / (sums[3] + o["smooth_dr"])
        out.append(1.0 - 2.0 * precision * sensitivity / (precision + sensitivity + o["smooth"]))
    return f64(out)


# ====================================================================== metric learning
def same_label_pairs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(positive, negative)`` over ordered pairs ``i ≠ j``."""
    labels = np.asarray(labels)
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    return same & off, ~same & off


def contrastive(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``[d_ij - m₊]_+`` for equal labels, ``[m₋ - d_ij]_+`` otherwise (½[·]² when squared);
    ``d`` the Euclidean distance, its square, or for ``distance="cosine"`` the similarity
    ``s = u_i·u_j`` with the hinges ``[m₊ - s]_+`` and ``[s - m₋]_+``.

    Hadsell, Chopra & LeCun (2006), Dimensionality Reduction by Learning an Invariant Mapping."""
    o = options(
        params,
        pos_margin=0.0,
        neg_margin=1.0,
        normalize=True,
        squared=False,
        distance="euclidean",
        mask=None,
    )
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    x, labels = inputs
    u = unit(x) if o["normalize"] else f64(x)
    positive, _ = same_label_pairs(labels)
    out = np.zeros((len(u), len(u)))
    for i, j in itertools.permutations(range(len(u)), 2):
        if o["distance"] == "cosine":
            s = math.fsum(u[i] * u[j])
            pull, push = o["pos_margin"] - s, s - o["neg_margin"]
        else:
            d2 = math.fsum((u[i] - u[j]) ** 2)
            d = d2 if o["distance"] == "squared_euclidean" else math.sqrt(d2)
            pull, push = d - o["pos_margin"], o["neg_margin"] - d
        hinge = max(pull if positive[i, j] else push, 0.0)
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
    """``softplus(logsumexp_p -γα_p(s_p - Δ_p) + logsumexp_n γα_n(s_n - Δ_n))``; the partners of
    each anchor are the batch or a separate reference set, pairs ``j = i`` left out of the
    positives when ``remove_diagonal``.

    Sun et al. (2020), Circle Loss: A Unified Perspective of Pair Similarity Optimization."""
    o = options(
        params,
        m=0.25,
        gamma=256.0,
        ref_embeddings=None,
        ref_labels=None,
        remove_diagonal=True,
        mask=None,
    )
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    m, gamma = o["m"], o["gamma"]
    x, labels = inputs
    refs, ref_labels = o["ref_embeddings"], o["ref_labels"]
    if refs is None:
        refs, ref_labels = x, labels
    u, v = unit(x), unit(refs)
    out = np.zeros(len(u))
    for i in range(len(u)):
        partners = [j for j in range(len(v)) if not (j == i and o["remove_diagonal"])]
        sp = [u[i] @ v[j] for j in partners if ref_labels[j] == labels[i]]
        sn = [u[i] @ v[j] for j in range(len(v)) if ref_labels[j] != labels[i]]
        if not (sp and sn):
            continue
        sp, sn = np.array(sp), np.array(sn)
        pull = -gamma * np.maximum(1.0 + m - sp, 0.0) * (sp - (1.0 - m))
        push = gamma * np.maximum(sn + m, 0.0) * (sn - m)
        out[i] = float(np.logaddexp(0.0, logsumexp(pull) + logsumexp(push)))
    return out


def multi_similarity(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``(1/α) log(1 + Σ_p e^{-α(s_p - λ)}) + (1/β) log(1 + Σ_n e^{β(s_n - λ)})``, ``s = cos``.

    Wang et al. (2019), Multi-Similarity Loss with General Pair Weighting."""
    o = options(params, alpha=2.0, beta=50.0, base=0.5, mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    a, b, lam = o["alpha"], o["beta"], o["base"]
    x, labels = inputs
    u = unit(x)
    s = u @ u.T
    positive, negative = same_label_pairs(labels)
    out = np.zeros(len(u))
    for i in range(len(u)):
        # log(1 + Σ e^t) = -log softmax([0, t...])_0, exact in mpmath
        pull = np.concatenate([[0.0], -a * (s[i][positive[i]] - lam)])
        push = np.concatenate([[0.0], b * (s[i][negative[i]] - lam)])
        out[i] = neg_log_softmax_at(pull, 0) / a + neg_log_softmax_at(push, 0) / b
    return out


def grouped_info_nce(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``-log(e^{s_ij} / (e^{s_ij} + Σ_{n: y_n ≠ y_i} e^{s_in}))`` for each ordered pair ``i ≠ j``
    with ``y_i = y_j``, ``s = cos / τ`` (dot products without ``normalize``); 0 elsewhere.

    Chen et al. (2020), A Simple Framework for Contrastive Learning (SimCLR)."""
    o = options(params, temperature=0.07, normalize=True, mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    x, labels = inputs
    u = unit(x) if o["normalize"] else f64(x)
    s = u @ u.T / o["temperature"]
    positive, negative = same_label_pairs(labels)
    out = np.zeros((len(u), len(u)))
    for i, j in zip(*np.nonzero(positive), strict=True):
        row = np.concatenate([[s[i, j]], s[i][negative[i]]])
        out[i, j] = neg_log_softmax_at(row, 0)
    return out


def angular_margin_softmax(inputs: list[np.ndarray], o: dict[str, Any], psi: Any) -> np.ndarray:
    """``-log softmax(z)_y`` with ``z_c = s·cos θ_c`` and ``z_y = s·ψ(θ_y)``: the cosines between
    each unit embedding and the unit class centres (the closest of a class's K sub-centres,
    rows ``cK ... cK + K - 1``); ``s`` times the embedding's norm when ``o["by_norm"]``."""
    x, labels, weight = inputs
    k = o.get("sub_centers", 1)
    cosine = unit(x) @ unit(weight).T
    cosine = cosine.reshape(len(x), -1, k).max(axis=2)
    out = np.zeros(len(x))
    for i, y in enumerate(np.asarray(labels)):
        theta = math.acos(min(max(cosine[i, y], -1.0), 1.0))
        z = cosine[i].copy()
        z[y] = psi(theta)
        scale = o["scale"] * (float(np.linalg.norm(x[i])) if o.get("by_norm") else 1.0)
        out[i] = neg_log_softmax_at(z * scale, int(y))
    return out


def arcface(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``ψ(θ) = cos(θ + m)`` for ``θ ≤ π - m``, else ``cos θ - m·sin m``.

    Deng et al. (2019), ArcFace: Additive Angular Margin Loss for Deep Face Recognition."""
    o = options(params, margin=0.5, scale=64.0, mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    m = o["margin"]
    return angular_margin_softmax(
        inputs,
        o,
        lambda t: math.cos(t + m) if t <= math.pi - m else math.cos(t) - m * math.sin(m),
    )


def subcenter_arcface(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """ArcFace on the closest of each class's sub-centres.

    Deng et al. (2020), Sub-center ArcFace."""
    o = options(params, margin=0.5, scale=64.0, sub_centers=3, mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    m = o["margin"]
    return angular_margin_softmax(
        inputs,
        o,
        lambda t: math.cos(t + m) if t <= math.pi - m else math.cos(t) - m * math.sin(m),
    )


def cosface(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``ψ(θ) = cos θ - m``.

    Wang et al. (2018), CosFace: Large Margin Cosine Loss for Deep Face Recognition."""
    o = options(params, margin=0.35, scale=64.0, mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    return angular_margin_softmax(inputs, o, lambda t: math.cos(t) - o["margin"])


def sphereface(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``ψ(θ) = (-1)^k cos(mθ) - 2k``, ``k = ⌊mθ/π⌋``; logits scaled by ``s·‖x‖``.

    Liu et al. (2017), SphereFace: Deep Hypersphere Embedding for Face Recognition."""
    o = options(params, margin=4, scale=1.0, mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    m = o["margin"]

    def psi(theta: float) -> float:
        k = min(math.floor(m * theta / math.pi), m - 1)
        return (-1) ** k * math.cos(m * theta) - 2 * k

    return angular_margin_softmax(inputs, {**o, "by_norm": True}, psi)


def proxy_anchor(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """Per proxy c: ``C/|P⁺| · log(1 + Σ_{y_i = c} e^{-α(s_ic - δ)}) + log(1 + Σ_{y_i ≠ c}
    e^{α(s_ic + δ)})``, ``P⁺`` the proxies with an embedding in the batch.

    Kim, Kim, Cho & Kwak (2020), Proxy Anchor Loss for Deep Metric Learning."""
    o = options(params, margin=0.1, alpha=32.0, mask=None)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    x, labels, proxies = inputs
    labels = np.asarray(labels)
    a, delta = o["alpha"], o["margin"]
    s = unit(x) @ unit(proxies).T
    classes = len(proxies)
    present = [c for c in range(classes) if np.any(labels == c)]
    out = np.zeros(classes)
    for c in range(classes):
        # log(1 + Σ e^t) = -log softmax([0, t...])_0, exact in mpmath
        pull = np.concatenate([[0.0], -a * (s[labels == c, c] - delta)])
        push = np.concatenate([[0.0], a * (s[labels != c, c] + delta)])
        share = classes / len(present) if present else 0.0
        out[c] = share * neg_log_softmax_at(pull, 0) + neg_log_softmax_at(push, 0)
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


def _kept_views(inputs: list[np.ndarray], mask: Any) -> tuple[np.ndarray, np.ndarray]:
    z_a, z_b = (f64(v) for v in inputs)
    if mask is None:
        return z_a, z_b
    keep = np.asarray(mask, dtype=bool)
    return z_a[keep], z_b[keep]


def vicreg(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``λ·mean((a - b)²) + μ·Σ_views mean(max(0, 1 - √(var + ε))) / 2
    + ν·Σ_views Σ_{k≠l} cov_kl² / D``, unbiased variance and covariance (``np.cov``); 0 for
    fewer than two rows.

    Bardes, Ponce & LeCun (2022), VICReg."""
    o = options(params, sim_coeff=25.0, std_coeff=25.0, cov_coeff=1.0, eps=1e-4, mask=None)
    a, b = _kept_views(inputs, o["mask"])
    n, d = a.shape
    if n < 2:
        return f64(0.0)
    invariance = np.mean((a - b) ** 2)
    variance = covariance = 0.0
    for z in (a, b):
        variance += np.mean(np.maximum(0.0, 1.0 - np.sqrt(z.var(axis=0, ddof=1) + o["eps"]))) / 2
        cov = np.atleast_2d(np.cov(z, rowvar=False))
        covariance += (np.sum(cov**2) - np.sum(np.diag(cov) ** 2)) / d
    total = o["sim_coeff"] * invariance + o["std_coeff"] * variance
    return f64(total + o["cov_coeff"] * covariance)


def barlow_twins(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``Σ_k (1 - c_kk)² + λ Σ_{k≠l} c_kl²`` for ``c = ãᵀ b̃ / N``, columns standardised as
    ``(z - mean) / (std_unbiased + ε)``; 0 for fewer than two rows.

    Zbontar et al. (2021), Barlow Twins (MONAI's standardisation)."""
    o = options(params, off_diagonal_weight=5e-3, eps=1e-6, mask=None)
    a, b = _kept_views(inputs, o["mask"])
    n, d = a.shape
    if n < 2:
        return f64(0.0)
    a_std, b_std = ((z - z.mean(axis=0)) / (z.std(axis=0, ddof=1) + o["eps"]) for z in (a, b))
    total = 0.0
    for k in range(d):
        for m in range(d):
            c = float(np.dot(a_std[:, k], b_std[:, m])) / n
            total += (1.0 - c) ** 2 if k == m else o["off_diagonal_weight"] * c**2
    return f64(total)


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
    "boundary_loss": boundary_loss,
    "hausdorff_dt": hausdorff_dt,
    "soft_cldice": soft_cldice,
    "contrastive": contrastive,
    "supervised_contrastive": supervised_contrastive,
    "circle": circle,
    "grouped_info_nce": grouped_info_nce,
    "multi_similarity": multi_similarity,
    "arcface": arcface,
    "subcenter_arcface": subcenter_arcface,
    "cosface": cosface,
    "sphereface": sphereface,
    "proxy_anchor": proxy_anchor,
    "triplet_margin": triplet_margin,
    "margin_ranking": margin_ranking,
    "cosine_embedding": cosine_embedding,
    "hinge_embedding": hinge_embedding,
    "info_nce": info_nce,
    "sigmoid_contrastive": sigmoid_contrastive,
    "vicreg": vicreg,
    "barlow_twins": barlow_twins,
    "pairwise_logistic": pairwise_logistic,
    "pairwise_hinge": pairwise_hinge,
    "listnet": listnet,
    "listmle": listmle,
    "approx_ndcg": approx_ndcg,
    "lambda_loss": lambda_loss,
}
