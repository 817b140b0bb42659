"""Overlap losses (Dice, Jaccard, Tversky, focal Tversky, generalized Dice, Lovász) against
float64 formulas written from the papers, and against MONAI and kornia.

The references loop over images and classes in plain NumPy; the implementation is vectorised.
smp parity lives in test_anchor_smp.py (smp needs torchvision, in the vision environment).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

import losskit as lk
import reference as ref
from conftest import get_backend, tolerance

RNG = np.random.default_rng(11)
N, C, H, W = 3, 3, 4, 5
LOGITS = RNG.normal(scale=2.0, size=(N, C, H, W))  # NCHW
LABELS = RNG.integers(0, C, (N, H, W))
LABELS[1][LABELS[1] == 2] = 0  # class 2 absent from image 1
LABELS[2, 0, :] = 2
IGNORED = LABELS.copy()
IGNORED[0, 1, :3] = 255
IGNORED[2, 3, 4] = 255
SOFT = RNG.uniform(0.0, 1.0, (N, H, W, C))  # multilabel soft targets, channels-last
SOFT[0, ..., 1] = 0.0  # an empty channel in image 0
MULTILABEL_LOGITS = RNG.normal(scale=2.0, size=(N, H, W, C))
BINARY = (RNG.random((N, H, W)) > 0.6).astype(float)
BINARY[1] = 0.0  # an empty image
BINARY_LOGITS = RNG.normal(scale=2.0, size=(N, H, W))

OVERLAP = {
    "dice": lk.dice,
    "jaccard": lk.jaccard,
    "tversky": lk.tversky,
    "focal_tversky": lk.focal_tversky,
    "generalized_dice": lk.generalized_dice,
}
ALL = {**OVERLAP, "lovasz_softmax": lk.lovasz_softmax}


# ---------------------------------------------------------------------- float64 references
def softmax(z: np.ndarray, axis: int) -> np.ndarray:
    return np.exp(ref.log_softmax(z, axis=axis))


def one_hot_nchw(labels: np.ndarray, c: int) -> np.ndarray:
    """(N, H, W) indices -> (N, C, H, W) 0/1 (any out-of-range label -> all zeros)."""
    return (labels[:, None] == np.arange(c)[None, :, None, None]).astype(float)


def rows(x: np.ndarray) -> np.ndarray:
    """(N, C, ...) -> (N, C, P)."""
    return x.reshape(x.shape[0], x.shape[1], -1)


def score_ref(name: str, i: float, sp: float, sy: float, fp: float, fn: float, opts: dict) -> float:
    """One class's score, from its paper."""
    s = opts.get("smooth", 0.0)
    eps = opts.get("eps", 1e-7)
    if name == "dice":  # Milletari et al.: (2I + s) / (Σp + Σy + s); eps bounds half of it
        return (2 * i + s) / (2 * max((sp + sy + s) / 2, eps))
    if name == "jaccard":  # |A ∩ B| / |A ∪ B|
        return (i + s) / max(sp + sy - i + s, eps)
    a, b = opts.get("alpha", 0.5), opts.get("beta", 0.5)
    if name == "focal_tversky":
        a, b = opts.get("alpha", 0.3), opts.get("beta", 0.7)
    return (i + s) / max(i + a * fp + b * fn + s, eps)  # Salehi et al.


def overlap_ref(name: str, y: np.ndarray, p: np.ndarray, valid: np.ndarray, **opts: Any):
    """Per-image losses (per_image) or the batch loss, and validity; y, p, valid: (N, C, P)."""
    per_image = opts.get("per_image", False)
    empty = opts.get("empty", "ignore")
    weight = np.ones(y.shape[1]) if opts.get("class_weight") is None else opts["class_weight"]
    gamma = opts.get("gamma", 0.75) if name == "focal_tversky" else 1.0
    groups = [[n] for n in range(y.shape[0])] if per_image else [list(range(y.shape[0]))]
    out, ok = [], []
    for g in groups:
        losses, weights = [], []
        for c in range(y.shape[1]):
            v = valid[g, c].ravel()
            yc, pc = y[g, c].ravel()[v], p[g, c].ravel()[v]
            i = np.minimum(yc, pc).sum()
            fp, fn = np.maximum(pc - yc, 0).sum(), np.maximum(yc - pc, 0).sum()
            loss = (1 - score_ref(name, i, pc.sum(), yc.sum(), fp, fn, opts)) ** gamma
            counted = True
            if yc.sum() == 0:
                if empty == "zero":
                    loss = 0.0
                elif empty == "one":
                    loss = 1.0
                elif empty == "ignore":
                    counted = False
            losses.append(loss)
            weights.append(weight[c] if counted else 0.0)
        total = sum(weights)
        out.append(np.dot(weights, losses) / total if total > 0 else 0.0)
        ok.append(total > 0)
    return np.array(out), np.array(ok)


def gdl_ref(y: np.ndarray, p: np.ndarray, valid: np.ndarray, **opts: Any):
    """Sudre et al. (2017) with MONAI's weight for empty classes: the image's largest weight."""
    per_image = opts.get("per_image", False)
    s = opts.get("smooth", 0.0)
    empty = opts.get("empty", "ignore")
    power = {"square": 2, "simple": 1, "uniform": 0}[opts.get("w_type", "square")]
    cw = np.ones(y.shape[1]) if opts.get("class_weight") is None else opts["class_weight"]
    groups = [[n] for n in range(y.shape[0])] if per_image else [list(range(y.shape[0]))]
    out, ok = [], []
    for g in groups:
        yy, pp = np.where(valid[g], y[g], 0), np.where(valid[g], p[g], 0)
        sy, sp = yy.sum(axis=(0, 2)), pp.sum(axis=(0, 2))
        inter = np.minimum(yy, pp).sum(axis=(0, 2))
        if not (sy > 0).any():
            loss = {"zero": 0.0, "one": 1.0, "ignore": 0.0, "keep": sp.sum() / (sp.sum() + s)}
            out.append(loss[empty] if sp.sum() + s > 0 else 0.0)
            ok.append(empty != "ignore")
            continue
        with np.errstate(divide="ignore"):
            w = 1.0 / sy.astype(float) ** power
        w[~np.isfinite(w)] = w[np.isfinite(w)].max()
        w = w * cw
        out.append(1 - (2 * np.dot(w, inter) + s) / (np.dot(w, sp + sy) + s))
        ok.append(True)
    return np.array(out), np.array(ok)


def lovasz_row(errors: np.ndarray, fg: np.ndarray) -> float:
    """Berman et al. (2018), Alg. 1, on one row."""
    order = np.argsort(-errors, kind="stable")
    e, g = errors[order], fg[order]
    gts = g.sum()
    inter = gts - np.cumsum(g)
    union = gts + np.cumsum(1 - g)
    jac = 1 - inter / union
    jac[1:] = jac[1:] - jac[:-1]
    return float(np.dot(e, jac))


def lovasz_ref(y: np.ndarray, p: np.ndarray, valid: np.ndarray, *, hinge: bool = False, **opts):
    """Lovász-Softmax (errors |y - p|) or hinge (errors relu(1 - z(2y - 1))) per class."""
    per_image = opts.get("per_image", False)
    classes = opts.get("classes", "present")
    weight = np.ones(y.shape[1]) if opts.get("class_weight") is None else opts["class_weight"]
    groups = [[n] for n in range(y.shape[0])] if per_image else [list(range(y.shape[0]))]
    out, ok = [], []
    for g in groups:
        losses, weights = [], []
        for c in range(y.shape[1]):
            v = valid[g, c].ravel()
            yc, pc = y[g, c].ravel()[v], p[g, c].ravel()[v]
            errors = np.maximum(1 - pc * (2 * yc - 1), 0) if hinge else np.abs(yc - pc)
            losses.append(lovasz_row(errors, yc) if v.any() else 0.0)
            counted = classes != "present" or yc.sum() > 0
            if not isinstance(classes, str):
                counted = c in classes
            weights.append(weight[c] if counted and v.any() else 0.0)
        total = sum(weights)
        out.append(np.dot(weights, losses) / total if total > 0 else 0.0)
        ok.append(total > 0)
    return np.array(out), np.array(ok)


def multiclass_inputs(labels: np.ndarray, logits: np.ndarray, ignore: int | None = None):
    """NCHW one-hot targets, softmax probabilities and validity as (N, C, P) rows."""
    valid = np.ones_like(logits, dtype=bool)
    if ignore is not None:
        valid = np.broadcast_to((labels != ignore)[:, None], logits.shape)
    return rows(one_hot_nchw(labels, C)), rows(softmax(logits, 1)), rows(valid)


def reduce_ref(per: np.ndarray, ok: np.ndarray) -> float:
    return float(per[ok].mean()) if ok.any() else 0.0


def reference_for(name: str, y, p, valid, **opts):
    if name == "generalized_dice":
        return gdl_ref(y, p, valid, **opts)
    if name == "lovasz_softmax":
        return lovasz_ref(y, p, valid, **opts)
    return overlap_ref(name, y, p, valid, **opts)


def rounded(x: np.ndarray, dtype: str) -> np.ndarray:
    return x.astype(dtype).astype(np.float64)


#: JAX and TensorFlow run op by op (a compilation per new shape): they get the first options of
#: each list, the other backends all of them
SLOW = ("jax", "tensorflow")


def options_for(backend: Any, options: list[dict], slow: int = 1) -> list[dict]:
    return options[:slow] + options[-1:] if backend.name in SLOW else options


@pytest.fixture(params=["numpy", "array_api_strict", "torch"])
def fast_backend(request: pytest.FixtureRequest) -> Any:
    """For properties of the shared code path (the value, gradient, tracing and extreme-input
    tests cover JAX and TensorFlow too)."""
    return get_backend(request.param)


def check(got: Any, backend: Any, expected: np.ndarray, dtype: str, msg: str = "") -> None:
    tol = tolerance(dtype)
    np.testing.assert_allclose(backend.to_numpy(got), expected, err_msg=msg, **tol)


# ---------------------------------------------------------------------- values
MULTICLASS_OPTIONS = [
    {},
    {"per_image": True},
    {"per_image": True, "empty": "zero"},
    {"per_image": True, "empty": "one"},
    {"per_image": True, "empty": "keep", "smooth": 1.0},
    {"empty": "zero", "class_weight": np.array([0.5, 2.0, 1.0])},
    {"per_image": True, "ignore_index": 255},
    {"ignore_index": 255, "smooth": 0.5, "empty": "keep"},
]


@pytest.mark.parametrize("name", list(OVERLAP))
def test_multiclass_values_against_float64(backend, dtype, name):
    z = rounded(LOGITS, dtype)
    for opts in options_for(backend, MULTICLASS_OPTIONS):
        ignore = opts.get("ignore_index")
        labels = IGNORED if ignore is not None else LABELS
        y, p, valid = multiclass_inputs(labels, z, ignore)
        per, ok = reference_for(name, y, p, valid, **opts)
        kw = {k: v for k, v in opts.items() if k != "class_weight"}
        if "class_weight" in opts:
            kw["class_weight"] = backend.array(opts["class_weight"], dtype)
        fn = OVERLAP[name]
        args = (backend.array(labels), backend.array(LOGITS, dtype))
        common = {"axis": 1, "from_logits": True, **kw}
        got = fn(*args, reduction="none", **common)
        expected = per if opts.get("per_image") else per[0]
        check(got, backend, np.where(ok, expected, 0.0), dtype, f"{name} {opts}")
        check(fn(*args, **common), backend, reduce_ref(per, ok), dtype, f"{name} mean {opts}")


@pytest.mark.parametrize("name", list(OVERLAP))
def test_dense_values_against_float64(backend, dtype, name):
    """Multilabel soft targets (channels-last, sigmoid) and binary maps."""
    z = rounded(MULTILABEL_LOGITS, dtype)
    y = rounded(SOFT, dtype)
    to_rows = lambda a: rows(np.moveaxis(a, -1, 1))  # noqa: E731
    fn = OVERLAP[name]
    dense = [{"per_image": True}, {"empty": "zero"}, {"per_image": True, "smooth": 0.3}]
    for opts in options_for(backend, dense, 1):
        per, ok = reference_for(
            name, to_rows(y), to_rows(ref.sigmoid(z)), np.ones_like(to_rows(y), bool), **opts
        )
        got = fn(
            backend.array(SOFT, dtype),
            backend.array(MULTILABEL_LOGITS, dtype),
            mode="multilabel",
            from_logits=True,
            reduction="none",
            **opts,
        )
        check(got, backend, np.where(ok, per if opts.get("per_image") else per[0], 0), dtype)
    zb = rounded(BINARY_LOGITS, dtype)
    binary = [{"per_image": True}, {"per_image": True, "empty": "keep", "smooth": 1.0}, {}]
    for opts in options_for(backend, binary, 1):
        yb, pb = BINARY.reshape(N, 1, -1), ref.sigmoid(zb).reshape(N, 1, -1)
        per, ok = reference_for(name, yb, pb, np.ones_like(yb, bool), **opts)
        got = fn(
            backend.array(BINARY, dtype),
            backend.array(ref.sigmoid(zb), dtype),  # probabilities
            mode="binary",
            reduction="none",
            **opts,
        )
        check(got, backend, np.where(ok, per if opts.get("per_image") else per[0], 0), dtype)


@pytest.mark.parametrize("w_type", ["simple", "uniform"])
def test_generalized_dice_weight_types(fast_backend, w_type):
    y, p, valid = multiclass_inputs(LABELS, LOGITS)
    for opts in ({"per_image": True, "w_type": w_type}, {"w_type": w_type, "smooth": 1e-3}):
        per, ok = gdl_ref(y, p, valid, **opts)
        got = lk.generalized_dice(
            fast_backend.array(LABELS), fast_backend.array(LOGITS), axis=1, from_logits=True, **opts
        )
        check(got, fast_backend, reduce_ref(per, ok), "float64")


LOVASZ_OPTIONS = [
    {},
    {"per_image": True},
    {"per_image": True, "classes": "all"},
    {"classes": [0, 2]},
    {"per_image": True, "ignore_index": 255},
    {"class_weight": np.array([1.0, 0.5, 2.0]), "classes": "all"},
]


def test_lovasz_softmax_against_float64(backend, dtype):
    z = rounded(LOGITS, dtype)
    for opts in options_for(backend, LOVASZ_OPTIONS):
        ignore = opts.get("ignore_index")
        labels = IGNORED if ignore is not None else LABELS
        y, p, valid = multiclass_inputs(labels, z, ignore)
        per, ok = lovasz_ref(y, p, valid, **opts)
        kw = dict(opts)
        if "class_weight" in kw:
            kw["class_weight"] = backend.array(kw["class_weight"], dtype)
        got = lk.lovasz_softmax(
            backend.array(labels),
            backend.array(LOGITS, dtype),
            axis=1,
            from_logits=True,
            reduction="none",
            **kw,
        )
        check(got, backend, np.where(ok, per if opts.get("per_image") else per[0], 0), dtype)


def test_lovasz_hinge_against_float64(backend, dtype):
    zb = rounded(BINARY_LOGITS, dtype)
    for opts in ({}, {"per_image": True}):
        yb, zr = BINARY.reshape(N, 1, -1), zb.reshape(N, 1, -1)
        per, _ = lovasz_ref(yb, zr, np.ones_like(yb, bool), hinge=True, classes="all", **opts)
        got = lk.lovasz_hinge(
            backend.array(BINARY, dtype),
            backend.array(BINARY_LOGITS, dtype),
            reduction="none",
            **opts,
        )
        check(got, backend, per if opts.get("per_image") else per[0], dtype)
    if backend.name in SLOW and dtype == "float32":
        return
    # multilabel: one problem per channel, channels-last, hard targets, an ignored value
    hard = (SOFT > 0.5).astype(float)
    hard[0, 0, :2, 1] = 255.0
    zm = rounded(MULTILABEL_LOGITS, dtype)
    to_rows = lambda a: rows(np.moveaxis(a, -1, 1))  # noqa: E731
    valid = to_rows(hard != 255)
    per, _ = lovasz_ref(
        to_rows(np.where(hard == 255, 0, hard)),
        to_rows(zm),
        valid,
        hinge=True,
        per_image=True,
        classes="all",
    )
    got = lk.lovasz_hinge(
        backend.array(hard, dtype),
        backend.array(MULTILABEL_LOGITS, dtype),
        mode="multilabel",
        per_image=True,
        ignore_index=255,
        reduction="none",
    )
    check(got, backend, per, dtype)


# ---------------------------------------------------------------------- gradients
def numeric_grad(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[idx] = h
        g[idx] = (f(x + step) - f(x - step)) / (2 * h)
    return g


@functools.cache
def _finite_difference_gradient(name: str, items: tuple) -> np.ndarray:
    opts = dict(items)
    ignore = opts.get("ignore_index")
    labels = IGNORED if ignore is not None else LABELS

    def reference(z: np.ndarray) -> float:
        y, p, valid = multiclass_inputs(labels, z, ignore)
        return reduce_ref(*reference_for(name, y, p, valid, **opts))

    return numeric_grad(reference, LOGITS)


GRAD_CASES = [
    ("dice", {"per_image": True}),
    ("jaccard", {"empty": "zero"}),
    ("tversky", {"alpha": 0.3, "beta": 0.7, "ignore_index": 255}),
    ("focal_tversky", {"per_image": True}),
    ("generalized_dice", {"per_image": True, "smooth": 1e-3}),
    ("lovasz_softmax", {"per_image": True}),
]


@pytest.mark.parametrize(("name", "opts"), GRAD_CASES)
def test_gradients_against_finite_differences(autodiff_backend, name, opts):
    b = autodiff_backend
    ignore = opts.get("ignore_index")
    labels = IGNORED if ignore is not None else LABELS
    logits = LOGITS

    expected = _finite_difference_gradient(name, tuple(sorted(opts.items())))
    grad = b.grad(
        lambda t: ALL[name](b.array(labels), t, axis=1, from_logits=True, **opts),
        b.array(logits),
    )
    # central differences with h = 1e-6 on the float64 reference: accurate to ~1e-9
    np.testing.assert_allclose(b.to_numpy(grad), expected, rtol=1e-6, atol=1e-8)


@functools.cache
def _hinge_finite_difference_gradient() -> np.ndarray:
    y = BINARY

    def reference(z: np.ndarray) -> float:
        per, _ = lovasz_ref(
            y.reshape(N, 1, -1),
            z.reshape(N, 1, -1),
            np.ones((N, 1, H * W), bool),
            hinge=True,
            per_image=True,
            classes="all",
        )
        return float(per.mean())

    return numeric_grad(reference, BINARY_LOGITS)


def test_lovasz_hinge_gradient_against_finite_differences(autodiff_backend):
    b = autodiff_backend
    grad = b.grad(
        lambda t: lk.lovasz_hinge(b.array(BINARY), t, per_image=True),
        b.array(BINARY_LOGITS),
    )
    # piecewise linear: exact away from ties and kinks (none within h of these logits)
    np.testing.assert_allclose(
        b.to_numpy(grad), _hinge_finite_difference_gradient(), rtol=1e-6, atol=1e-8
    )


# ---------------------------------------------------------------------- properties
@pytest.mark.parametrize("name", list(OVERLAP))
def test_soft_target_minimum_is_at_the_target(fast_backend, name):
    """Soft Dice written with Σ p·y is minimised at p = 1 for y = ½; the min(p, y) form at
    p = y, where the loss is 0."""
    y = np.full((2, 6, 1), 0.5)
    fn = OVERLAP[name]

    def loss(q: float) -> float:
        return float(
            fast_backend.to_numpy(
                fn(fast_backend.array(y), fast_backend.array(np.full_like(y, q)), mode="binary")
            )
        )

    grid = np.linspace(0.0, 1.0, 21)
    values = [loss(q) for q in grid]
    assert abs(values[10]) < 1e-12 and np.argmin(values) == 10
    assert min(values[:10] + values[11:]) > 0.01
    product_dice = [1 - 2 * (q * 0.5) / (q + 0.5) for q in grid[1:]]  # the pitfall
    assert np.argmin(product_dice) == len(product_dice) - 1


def test_gradient_is_zero_at_a_soft_target(autodiff_backend):
    b = autodiff_backend
    y = RNG.uniform(0.1, 0.9, (N, H, W))
    for fn in (lk.dice, lk.jaccard, lk.generalized_dice):
        grad = b.grad(lambda t, fn=fn: fn(b.array(y), t, mode="binary"), b.array(y))
        np.testing.assert_allclose(b.to_numpy(grad), 0.0, atol=1e-15)  # rounding only


def test_perfect_prediction_gives_zero(fast_backend):
    hot = np.moveaxis(one_hot_nchw(LABELS, C), 1, -1)  # channels-last probabilities
    labels = fast_backend.array(LABELS)
    for name, fn in ALL.items():
        for opts in ({}, {"per_image": True}):
            got = fast_backend.to_numpy(fn(labels, fast_backend.array(hot), **opts))
            assert got == 0.0, (name, opts)
    z = np.where(BINARY > 0, 3.0, -3.0)
    assert (
        fast_backend.to_numpy(lk.lovasz_hinge(fast_backend.array(BINARY), fast_backend.array(z)))
        == 0.0
    )


def test_ignore_index_removes_pixels(fast_backend):
    """Ignoring row 0 of every image equals cropping it away; it changes the loss."""
    labels = LABELS.copy()
    labels[:, 0, :] = -1
    crop_labels, crop_logits = LABELS[:, 1:], LOGITS[:, :, 1:]
    for name, fn in ALL.items():
        kw = {"axis": 1, "from_logits": True, "per_image": True}
        ignored = fn(fast_backend.array(labels), fast_backend.array(LOGITS), ignore_index=-1, **kw)
        cropped = fn(fast_backend.array(crop_labels), fast_backend.array(crop_logits), **kw)
        whole = fn(fast_backend.array(LABELS), fast_backend.array(LOGITS), **kw)
        masked = fn(fast_backend.array(LABELS), fast_backend.array(LOGITS), mask=labels != -1, **kw)
        check(ignored, fast_backend, float(fast_backend.to_numpy(cropped)), "float64", name)
        check(masked, fast_backend, float(fast_backend.to_numpy(cropped)), "float64", name)
        assert (
            abs(float(fast_backend.to_numpy(ignored)) - float(fast_backend.to_numpy(whole))) > 1e-3
        )
    # dense targets: entries equal to ignore_index are excluded
    y = BINARY.copy()
    y[:, 0, :] = 255
    got = lk.dice(
        fast_backend.array(y),
        fast_backend.array(BINARY_LOGITS),
        mode="binary",
        from_logits=True,
        ignore_index=255,
        per_image=True,
    )
    want = lk.dice(
        fast_backend.array(BINARY[:, 1:]),
        fast_backend.array(BINARY_LOGITS[:, 1:]),
        mode="binary",
        from_logits=True,
        per_image=True,
    )
    check(got, fast_backend, float(fast_backend.to_numpy(want)), "float64")


def test_layouts_and_target_forms_agree(fast_backend):
    nhwc = np.moveaxis(LOGITS, 1, -1)
    hot = one_hot_nchw(LABELS, C)
    for name, fn in ALL.items():
        base = float(
            fast_backend.to_numpy(
                fn(fast_backend.array(LABELS), fast_backend.array(LOGITS), axis=1, from_logits=True)
            )
        )
        variants = [
            fn(fast_backend.array(LABELS), fast_backend.array(nhwc), from_logits=True),
            fn(fast_backend.array(hot), fast_backend.array(LOGITS), axis=1, from_logits=True),
            fn(
                fast_backend.array(LABELS[:, None]),
                fast_backend.array(LOGITS),
                axis=1,
                from_logits=True,
            ),
            fn(
                fast_backend.array(LABELS.astype(float)), fast_backend.array(nhwc), from_logits=True
            ),
        ]
        for v in variants:
            check(v, fast_backend, base, "float64", name)
    # binary: (N, H, W) targets against (N, 1, H, W) predictions
    p = ref.sigmoid(BINARY_LOGITS)
    a = lk.dice(fast_backend.array(BINARY), fast_backend.array(p[:, None]), mode="binary", axis=1)
    b = lk.dice(fast_backend.array(BINARY[:, None]), fast_backend.array(p[:, None]), mode="binary")
    check(a, fast_backend, float(fast_backend.to_numpy(b)), "float64")


def test_empty_policies():
    """Image 1 has no class 2; the prediction puts some mass on it."""
    y, p, _ = multiclass_inputs(LABELS, LOGITS)
    values = {}
    for empty in ("ignore", "zero", "one", "keep"):
        values[empty] = lk.dice(
            LABELS, LOGITS, axis=1, from_logits=True, per_image=True, empty=empty, reduction="none"
        )
    per_class = [
        1 - 2 * np.minimum(y[1, c], p[1, c]).sum() / (y[1, c].sum() + p[1, c].sum())
        for c in range(2)
    ]
    np.testing.assert_allclose(values["ignore"][1], np.mean(per_class), rtol=1e-12)
    np.testing.assert_allclose(values["zero"][1], np.sum(per_class) / 3, rtol=1e-12)
    np.testing.assert_allclose(values["one"][1], (np.sum(per_class) + 1) / 3, rtol=1e-12)
    np.testing.assert_allclose(values["keep"][1], values["one"][1], rtol=1e-12)  # smooth 0
    for empty in ("ignore", "zero", "one", "keep"):  # images with every class agree
        np.testing.assert_allclose(values[empty][[0, 2]], values["ignore"][[0, 2]], rtol=1e-12)
    # keep + smooth: an empty prediction on an empty target scores 1 (loss 0)
    zero = np.zeros((1, 4))
    assert float(lk.dice(zero, zero, mode="binary", empty="keep", smooth=1.0)) == 0.0
    assert float(lk.dice(zero, zero, mode="binary", empty="one")) == 1.0
    got = float(lk.dice(zero, zero + 0.5, mode="binary", empty="keep", smooth=1.0))
    assert got == pytest.approx(2 / 3, rel=1e-15)  # false positives cost Σp / (Σp + s)


def test_sample_weight_reduction_and_output_shapes():
    kw = {"axis": 1, "from_logits": True}
    per = lk.tversky(LABELS, LOGITS, per_image=True, reduction="none", **kw)
    assert per.shape == (N,)
    w = np.array([1.0, 3.0, 0.5])
    got = lk.tversky(LABELS, LOGITS, per_image=True, sample_weight=w, **kw)
    np.testing.assert_allclose(got, np.dot(w, per) / w.sum(), rtol=1e-12)
    total = lk.tversky(LABELS, LOGITS, per_image=True, reduction="sum", **kw)
    np.testing.assert_allclose(total, per.sum(), rtol=1e-12)
    assert np.shape(lk.tversky(LABELS, LOGITS, reduction="none", **kw)) == ()
    np.testing.assert_allclose(
        lk.tversky(LABELS, LOGITS, per_image=True, normalizer=10.0, **kw), per.sum() / 10.0
    )
    with pytest.raises(ValueError, match="per_image=True"):
        lk.tversky(LABELS, LOGITS, sample_weight=w, **kw)


def test_half_precision_computes_in_float32():
    torch = pytest.importorskip("torch")
    z = torch.as_tensor(LOGITS, dtype=torch.float16)
    for fn in ALL.values():
        out = fn(torch.as_tensor(LABELS), z, axis=1, from_logits=True)
        assert out.dtype == torch.float32
        want = fn(LABELS, LOGITS.astype(np.float16).astype(np.float64), axis=1, from_logits=True)
        np.testing.assert_allclose(float(out), want, rtol=1e-5)


def test_registry_names_and_aliases():
    assert lk.get("iou") is lk.jaccard
    assert lk.get("dice_loss") is lk.dice
    assert lk.get("gdl") is lk.generalized_dice
    assert lk.get("lovasz_hinge_loss") is lk.lovasz_hinge
    info = lk.info("focal_tversky")
    assert info.family == "segmentation" and info.task == "segmentation" and info.references
    assert lk.info("lovasz_hinge").properties["convex"]


# ---------------------------------------------------------------------- extremes
def stress_inputs() -> tuple[np.ndarray, np.ndarray]:
    """Huge logits, exact zeros, ties; the shape of LOGITS (JAX reuses its compilations)."""
    z = RNG.normal(scale=50.0, size=(N, C, H, W))
    z[0, :, 0, :4] = [[1e4, -1e4, 0.0, 100.0], [-1e4, 1e4, 0.0, -100.0], [0.0, 0.0, 0.0, 0.0]]
    z[0, :, 1] = 30.0  # ties
    z[1] = 0.0  # all tied
    labels = LABELS.copy()
    labels[2] = 2  # one class only
    return labels, z


@pytest.mark.parametrize("name", list(ALL))
def test_extreme_inputs_give_finite_values_and_gradients(autodiff_backend, name):
    b = autodiff_backend
    labels, z = stress_inputs()
    every = {"classes": "all"} if name == "lovasz_softmax" else {"empty": "keep"}
    cases = [{}, {"per_image": True, **every}, {"ignore_index": 2}]
    for opts in cases[1:] if b.name in SLOW else cases:
        kw = {"axis": 1, "from_logits": True, **opts}
        grad = b.grad(lambda t, kw=kw: ALL[name](b.array(labels), t, **kw), b.array(z))
        value = b.to_numpy(ALL[name](b.array(labels), b.array(z), **kw))
        assert np.isfinite(value) and np.all(np.isfinite(b.to_numpy(grad))), (name, opts)
    # probabilities at exactly 0 and 1
    p = np.moveaxis(one_hot_nchw(labels, C), 1, -1)
    grad = b.grad(lambda t: ALL[name](b.array(labels), t), b.array(p))
    assert np.all(np.isfinite(b.to_numpy(grad)))


def test_extreme_scores_for_lovasz_hinge(autodiff_backend):
    b = autodiff_backend
    z, y = BINARY_LOGITS.copy(), BINARY.copy()  # the shapes of other tests: JAX reuses kernels
    z[0, :2, :3] = [[1e4, -1e4, 0.0], [0.0, 100.0, 1.0]]
    y[0, :2, :3] = [[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]]
    z[2] = 0.0  # all tied
    grad = b.grad(lambda t: lk.lovasz_hinge(b.array(y), t), b.array(z))
    assert np.all(np.isfinite(b.to_numpy(grad)))
    value = float(b.to_numpy(lk.lovasz_hinge(b.array(y), b.array(z))))
    errors = np.maximum(1 - z * (2 * y - 1), 0).ravel()
    np.testing.assert_allclose(value, lovasz_row(errors, y.ravel()), rtol=1e-12)


@pytest.mark.parametrize("name", [*ALL, "lovasz_hinge"])
def test_all_masked_gives_zero_with_zero_gradient(autodiff_backend, name):
    b = autodiff_backend
    mask = np.zeros((N, H, W), dtype=bool)
    if name == "lovasz_hinge":

        def f(t):
            return lk.lovasz_hinge(b.array(BINARY), t, mask=b.array(mask))

        x = BINARY_LOGITS
    else:

        def f(t):
            return ALL[name](b.array(LABELS), t, axis=1, from_logits=True, mask=b.array(mask))

        x = LOGITS
    assert float(b.to_numpy(f(b.array(x)))) == 0.0
    np.testing.assert_array_equal(b.to_numpy(b.grad(f, b.array(x))), 0.0)


EMPTY_POLICIES = ("ignore", "zero", "one", "keep")
EMPTY_BATCH_CALLS = [
    *[(name, "multiclass", True) for name in ALL],
    *[(name, "multiclass", False) for name in ALL],
    *[(name, "multilabel", True) for name in ALL],
    *[(name, "binary", False) for name in ALL],
    ("lovasz_hinge", "binary", True),
    ("lovasz_hinge", "binary", False),
    ("lovasz_hinge", "multilabel", False),
]


def _empty_batch_call(name: str, mode: str, index_targets: bool) -> tuple[np.ndarray, np.ndarray]:
    """Targets and predictions of an empty batch of 4×4 images (3 classes channels-last)."""
    if mode == "binary":
        return np.zeros((0, 4, 4)), np.full((0, 4, 4), 0.5 if name != "lovasz_hinge" else 0.3)
    y = np.zeros((0, 4, 4), dtype=int) if index_targets else np.zeros((0, 4, 4, 3))
    return y, np.full((0, 4, 4, 3), 1 / 3)


@pytest.mark.parametrize(("name", "mode", "per_image"), EMPTY_BATCH_CALLS)
def test_empty_batch_gives_zero_with_finite_gradient(backend, name, mode, per_image):
    fn = {**ALL, "lovasz_hinge": lk.lovasz_hinge}[name]
    y, p = _empty_batch_call(name, mode, mode == "multiclass")
    policies = [{}] if name.startswith("lovasz") else [{"empty": e} for e in EMPTY_POLICIES]
    for options in policies:
        kw = {"mode": mode, "per_image": per_image, **options}
        for reduction in ("mean", "sum", "sum_over_batch_size"):

            def f(t, kw=kw, reduction=reduction):
                return fn(backend.array(y), t, reduction=reduction, **kw)

            assert backend.to_numpy(f(backend.array(p))).tolist() == 0.0, (kw, reduction)
            if backend.grad is not None:
                grad = backend.grad(f, backend.array(p))
                assert grad is not None and backend.to_numpy(grad).shape == p.shape
        unreduced = backend.to_numpy(fn(backend.array(y), backend.array(p), reduction="none", **kw))
        assert unreduced.shape == ((0,) if per_image else ()), kw
        assert np.all(unreduced == 0.0)


def test_empty_batch_of_the_issue_and_with_weights_and_masks():
    y, p = np.zeros((0, 4, 4), int), np.full((0, 4, 4, 3), 1 / 3)
    assert float(lk.dice(y, p)) == 0.0
    kw = {"per_image": True, "class_weight": [1.0, 2.0, 0.0], "ignore_index": 255}
    for fn in ALL.values():
        weighted = fn(y, p, sample_weight=np.zeros(0), mask=np.zeros((0, 4, 4), bool), **kw)
        assert float(weighted) == 0.0
        assert float(fn(y, p, normalizer=4.0, **kw)) == 0.0


def test_empty_batch_with_unknown_batch_size_under_tf_function():
    tf = pytest.importorskip("tensorflow")
    get_backend("tensorflow")
    spec = tf.TensorSpec([None, H, W, C], tf.float64)
    label_spec = tf.TensorSpec([None, H, W], tf.int64)

    @tf.function(input_signature=[label_spec, spec])
    def losses(y, z):
        kw = {"from_logits": True, "empty": "one"}
        return tf.stack(
            [
                lk.dice(y, z, **kw),
                lk.generalized_dice(y, z, **kw),
                lk.lovasz_softmax(y, z, from_logits=True, classes="all"),
            ]
        )

    empty = losses(tf.zeros((0, H, W), tf.int64), tf.zeros((0, H, W, C), tf.float64))
    np.testing.assert_array_equal(empty.numpy(), 0.0)
    z = np.moveaxis(LOGITS, 1, -1)
    full = losses(tf.constant(LABELS), tf.constant(z)).numpy()
    kw = {"from_logits": True, "empty": "one"}
    eager = [
        lk.dice(LABELS, z, **kw),
        lk.generalized_dice(LABELS, z, **kw),
        lk.lovasz_softmax(LABELS, z, from_logits=True, classes="all"),
    ]
    np.testing.assert_allclose(full, eager, rtol=1e-12)


# ---------------------------------------------------------------------- validation
def test_validation_errors():
    p = softmax(np.moveaxis(LOGITS, 1, -1), -1)
    with pytest.raises(ValueError, match="mode must be one of"):
        lk.dice(LABELS, p, mode="softmax")
    with pytest.raises(ValueError, match="empty must be one of"):
        lk.dice(LABELS, p, empty="nan")
    with pytest.raises(TypeError, match="per_image must be a bool"):
        lk.dice(LABELS, p, per_image=1)
    with pytest.raises(TypeError, match="ignore_index must be an int"):
        lk.dice(LABELS, p, ignore_index=1.5)
    with pytest.raises(ValueError, match="smooth must be in"):
        lk.jaccard(LABELS, p, smooth=-1.0)
    with pytest.raises(ValueError, match="eps must be in"):
        lk.jaccard(LABELS, p, eps=0.0)
    with pytest.raises(ValueError, match="alpha and beta cannot both be 0"):
        lk.tversky(LABELS, p, alpha=0.0, beta=0.0)
    with pytest.raises(ValueError, match="alpha must be in"):
        lk.tversky(LABELS, p, alpha=-0.1)
    with pytest.raises(ValueError, match="gamma must be in"):
        lk.focal_tversky(LABELS, p, gamma=0.0)
    with pytest.raises(ValueError, match="w_type must be one of"):
        lk.generalized_dice(LABELS, p, w_type="cubic")
    with pytest.raises(ValueError, match="class indices in"):
        lk.dice(LABELS + 1, p)
    with pytest.raises(ValueError, match="from_logits=True"):
        lk.dice(LABELS, np.moveaxis(LOGITS, 1, -1))
    with pytest.raises(ValueError, match="does not match"):
        lk.dice(LABELS[:, :2], p)
    with pytest.raises(ValueError, match="one channel per class"):
        lk.dice(np.ones((N, H, W, 2)), p, mode="multilabel")
    with pytest.raises(ValueError, match="batch axis"):
        lk.dice(LABELS, p, axis=0)
    with pytest.raises(ValueError, match="at least 2 classes"):
        lk.dice(LABELS[..., None] * 0, p[..., :1])
    with pytest.raises(ValueError, match="empty axis after the batch axis"):
        lk.dice(np.zeros((2, 0), dtype=int), np.zeros((2, 0, 3)))
    with pytest.raises(ValueError, match=r"y_true \(targets\) must lie in \[0, 1\]"):
        lk.dice(2.0 * BINARY, ref.sigmoid(BINARY_LOGITS), mode="binary")
    with pytest.raises(ValueError, match="class_weight must have one entry per class"):
        lk.dice(LABELS, p, class_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="class_weight must be non-negative"):
        lk.dice(LABELS, p, class_weight=[1.0, -2.0, 1.0])
    with pytest.raises(ValueError, match="mask must be boolean"):
        lk.dice(LABELS, p, mask=np.full((N, H, W), 0.5))
    with pytest.raises(ValueError, match="mask of shape"):
        lk.dice(LABELS, p, mask=np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="classes must be class indices"):
        lk.lovasz_softmax(LABELS, p, classes=[0, 5])
    with pytest.raises(ValueError, match="classes must be one of"):
        lk.lovasz_softmax(LABELS, p, classes="some")
    with pytest.raises(ValueError, match="hard targets"):
        lk.lovasz_softmax(SOFT, p, mode="multilabel")
    with pytest.raises(ValueError, match="lovasz_hinge is binary"):
        lk.lovasz_hinge(LABELS, p, mode="multiclass")
    with pytest.raises(ValueError, match="y_pred contains NaN"):
        lk.dice(BINARY, np.full((N, H, W), np.nan), mode="binary")
    with pytest.raises(TypeError, match="floating-point"):
        lk.dice(LABELS, LABELS[..., None].repeat(3, -1))
    with pytest.raises(ValueError, match="normalizer"):
        lk.dice(LABELS, p, reduction="sum", normalizer=2.0)


# ---------------------------------------------------------------------- tracing
TRACED = [*ALL, "lovasz_hinge"]


def _all_losses(inputs: dict[str, Any]) -> list[Any]:
    """Every loss, from the logits in ``inputs`` (a dict so that one gradient covers all)."""
    out = [lk.lovasz_hinge(inputs["binary"], inputs["binary_logits"], per_image=True)]
    for name in ALL:
        out.append(
            ALL[name](
                inputs["labels"],
                inputs["logits"],
                axis=1,
                from_logits=True,
                per_image=True,
                ignore_index=255,
            )
        )
    return out


def test_jax_jit_agrees_with_eager_for_every_loss():
    jax = pytest.importorskip("jax")
    get_backend("jax")
    jnp = jax.numpy
    labels, binary = jnp.asarray(IGNORED), jnp.asarray(BINARY)

    def losses(logits, binary_logits):
        inputs = {
            "labels": labels,
            "binary": binary,
            "logits": logits,
            "binary_logits": binary_logits,
        }
        return jnp.stack(_all_losses(inputs))

    def value_and_grads(logits, binary_logits):
        values, pullback = jax.vjp(losses, logits, binary_logits)
        return values, pullback(jnp.arange(1.0, len(TRACED) + 1))

    args = (jnp.asarray(LOGITS), jnp.asarray(BINARY_LOGITS))
    eager = value_and_grads(*args)
    traced = jax.jit(value_and_grads)(*args)
    np.testing.assert_allclose(np.asarray(traced[0]), np.asarray(eager[0]), rtol=1e-12)
    for t, e in zip(traced[1], eager[1], strict=True):
        np.testing.assert_allclose(np.asarray(t), np.asarray(e), rtol=1e-9, atol=1e-15)


def test_tf_function_jit_compile_agrees_with_eager_for_every_loss():
    tf = pytest.importorskip("tensorflow")
    get_backend("tensorflow")
    labels, binary = tf.constant(IGNORED), tf.constant(BINARY)

    def value_and_grads(logits, binary_logits):
        with tf.GradientTape() as tape:
            tape.watch([logits, binary_logits])
            inputs = {
                "labels": labels,
                "binary": binary,
                "logits": logits,
                "binary_logits": binary_logits,
            }
            values = tf.stack(_all_losses(inputs))
            total = tf.reduce_sum(values * tf.range(1.0, len(TRACED) + 1, dtype=tf.float64))
        return values, tape.gradient(total, [logits, binary_logits])

    args = (tf.constant(LOGITS), tf.constant(BINARY_LOGITS))
    eager = value_and_grads(*args)
    traced = tf.function(value_and_grads, jit_compile=True)(*args)
    np.testing.assert_allclose(traced[0].numpy(), eager[0].numpy(), rtol=1e-12)
    for t, e in zip(traced[1], eager[1], strict=True):
        np.testing.assert_allclose(t.numpy(), e.numpy(), rtol=1e-9, atol=1e-15)


def test_tf_function_with_unknown_batch_size():
    tf = pytest.importorskip("tensorflow")
    get_backend("tensorflow")
    spec = tf.TensorSpec([None, C, H, W], tf.float64)
    label_spec = tf.TensorSpec([None, H, W], tf.int64)

    @tf.function(input_signature=[label_spec, spec])
    def losses(y, z):
        kw = {"axis": 1, "from_logits": True, "per_image": True}
        return tf.stack([lk.dice(y, z, **kw), lk.lovasz_softmax(y, z, **kw)])

    got = losses(tf.constant(LABELS), tf.constant(LOGITS)).numpy()
    kw = {"axis": 1, "from_logits": True, "per_image": True}
    np.testing.assert_allclose(
        got, [lk.dice(LABELS, LOGITS, **kw), lk.lovasz_softmax(LABELS, LOGITS, **kw)], rtol=1e-12
    )


# ---------------------------------------------------------------------- anchors
def _torch_pair(dtype: str = "float64"):
    torch = pytest.importorskip("torch")
    z = torch.as_tensor(LOGITS, dtype=getattr(torch, dtype)).requires_grad_(True)
    return torch, z, torch.as_tensor(LABELS)


def _value_and_grad(torch: Any, fn: Any, z: Any) -> tuple[float, np.ndarray]:
    x = z.detach().clone().requires_grad_(True)
    value = fn(x)
    (g,) = torch.autograd.grad(value, x)
    return float(value.detach()), g.numpy()


def _assert_same(torch: Any, ours: Any, theirs: Any, z: Any, rtol: float = 1e-10) -> None:
    a, ga = _value_and_grad(torch, ours, z)
    b, gb = _value_and_grad(torch, theirs, z)
    np.testing.assert_allclose(a, b, rtol=rtol)
    np.testing.assert_allclose(ga, gb, rtol=max(rtol, 1e-9) * 100, atol=1e-12)


MONAI_CASES = [
    # (losskit kwargs, monai kwargs)
    ({"per_image": True}, {}),
    ({"per_image": False}, {"batch": True}),
    ({"per_image": True, "smooth": 1.0}, {"smooth_nr": 1.0, "smooth_dr": 1.0}),
]


@pytest.mark.parametrize(("ours", "theirs"), MONAI_CASES)
def test_monai_dice_tversky_jaccard(ours, theirs):
    monai = pytest.importorskip("monai.losses")
    torch, z, labels = _torch_pair()
    labels = labels.clone()
    labels[1][labels[1] == 2] = 0  # absent class: MONAI's formula, our empty="keep"
    column = labels[:, None]
    smooth = theirs.get("smooth_nr", 1e-5)
    kw = {"axis": 1, "from_logits": True, "empty": "keep", **ours, "smooth": smooth}
    cases = [
        (
            lambda t: lk.dice(labels, t, **kw),
            monai.DiceLoss(softmax=True, to_onehot_y=True, **theirs),
        ),
        (
            lambda t: lk.jaccard(labels, t, **{**kw, "smooth": smooth / 2}),
            monai.DiceLoss(softmax=True, to_onehot_y=True, jaccard=True, **theirs),
        ),
        (
            lambda t: lk.tversky(labels, t, alpha=0.3, beta=0.7, **kw),
            monai.TverskyLoss(softmax=True, to_onehot_y=True, alpha=0.3, beta=0.7, **theirs),
        ),
    ]
    for mine, anchor in cases:
        _assert_same(torch, mine, lambda t, anchor=anchor: anchor(t, column), z)


def test_monai_options_ignore_index_weights_sigmoid():
    monai = pytest.importorskip("monai.losses")
    torch, z, _ = _torch_pair()
    labels = torch.as_tensor(IGNORED)
    column = labels[:, None]
    kw = {"axis": 1, "from_logits": True, "per_image": True, "empty": "keep", "smooth": 1e-5}
    anchor = monai.DiceLoss(softmax=True, to_onehot_y=True, ignore_index=255)
    _assert_same(
        torch, lambda t: lk.dice(labels, t, ignore_index=255, **kw), lambda t: anchor(t, column), z
    )
    # MONAI's weight multiplies the per-class loss before a plain mean: weights summing to C
    w = np.array([0.6, 1.5, 0.9])
    anchor = monai.DiceLoss(softmax=True, to_onehot_y=True, weight=torch.as_tensor(w))
    plain = torch.as_tensor(LABELS)
    _assert_same(
        torch,
        lambda t: lk.dice(plain, t, class_weight=w, **kw),
        lambda t: anchor(t, plain[:, None]),
        z,
    )
    # include_background=False is a zero class weight
    anchor = monai.DiceLoss(softmax=True, to_onehot_y=True, include_background=False)
    _assert_same(
        torch,
        lambda t: lk.dice(plain, t, class_weight=[0.0, 1.0, 1.0], **kw),
        lambda t: anchor(t, plain[:, None]),
        z,
    )
    # multilabel with sigmoid and soft labels (MONAI soft_label=True is the |p - y| form)
    y = torch.as_tensor(np.moveaxis(SOFT, -1, 1))
    zm = torch.as_tensor(np.moveaxis(MULTILABEL_LOGITS, -1, 1))
    anchor = monai.DiceLoss(sigmoid=True, soft_label=True)
    _assert_same(
        torch, lambda t: lk.dice(y, t, mode="multilabel", **kw), lambda t: anchor(t, y), zm
    )


@pytest.mark.parametrize("batch", [False, True])
def test_monai_generalized_dice(batch):
    monai = pytest.importorskip("monai.losses")
    torch, z, labels = _torch_pair()
    labels = labels.clone()
    labels[1][labels[1] == 2] = 0  # an empty class: MONAI's largest-weight rule
    anchor = monai.GeneralizedDiceLoss(softmax=True, to_onehot_y=True, batch=batch)
    kw = {"axis": 1, "from_logits": True, "per_image": not batch, "smooth": 1e-5, "empty": "zero"}
    # MONAI computes the weights in float32: agreement to float32 precision
    _assert_same(
        torch,
        lambda t: lk.generalized_dice(labels, t, **kw),
        lambda t: anchor(t, labels[:, None]),
        z,
        rtol=1e-7,
    )
    simple = monai.GeneralizedDiceLoss(softmax=True, to_onehot_y=True, w_type="simple")
    _assert_same(
        torch,
        lambda t: lk.generalized_dice(labels, t, w_type="simple", **kw),
        lambda t: simple(t, labels[:, None]),
        z,
        rtol=1e-7,
    ) if not batch else None


def test_monai_focal_is_binary_focal_crossentropy():
    monai = pytest.importorskip("monai.losses")
    torch, z, _ = _torch_pair()
    hot = torch.as_tensor(one_hot_nchw(LABELS, C))
    anchor = monai.FocalLoss(alpha=0.25, gamma=2.0)
    _assert_same(
        torch,
        lambda t: lk.binary_focal_crossentropy(hot, t, alpha=0.25, gamma=2.0, from_logits=True),
        lambda t: anchor(t, hot),
        z,
        rtol=1e-6,  # MONAI computes in float32 (input.float())
    )


def test_kornia_dice_tversky():
    kornia = pytest.importorskip("kornia.losses")
    torch, z, labels = _torch_pair()
    labels = torch.as_tensor(IGNORED).clone()
    labels[1][labels[1] == 2] = 0
    kw = {"axis": 1, "from_logits": True, "per_image": True, "empty": "ignore"}
    # kornia adds eps = 1e-8 to the denominators; ours clamps: agreement to ~1e-9
    _assert_same(
        torch,
        lambda t: lk.dice(labels, t, ignore_index=255, **kw),
        lambda t: kornia.dice_loss(t, labels, average="macro", ignore_index=255),
        z,
        rtol=1e-8,
    )
    _assert_same(
        torch,
        lambda t: lk.tversky(labels, t, alpha=0.3, beta=0.7, ignore_index=255, **kw),
        lambda t: kornia.tversky_loss(t, labels, 0.3, 0.7, ignore_index=255),
        z,
        rtol=1e-8,
    )
    # kornia's micro Dice pools the classes of an image: uniform-weight generalized Dice
    plain = torch.as_tensor(LABELS)
    _assert_same(
        torch,
        lambda t: lk.generalized_dice(
            plain, t, w_type="uniform", axis=1, from_logits=True, per_image=True
        ),
        lambda t: kornia.dice_loss(t, plain, average="micro"),
        z,
        rtol=1e-8,
    )


def test_kornia_lovasz():
    kornia = pytest.importorskip("kornia.losses")
    torch, z, labels = _torch_pair()
    kw = {"axis": 1, "from_logits": True, "per_image": True, "classes": "all"}
    _assert_same(
        torch,
        lambda t: lk.lovasz_softmax(labels, t, **kw),
        lambda t: kornia.lovasz_softmax_loss(t, labels),
        z,
    )
    w = np.array([0.5, 1.0, 1.5])  # kornia: Σ w_c ℓ_c / C, ours Σ w_c ℓ_c / Σ w_c: Σ w = C
    _assert_same(
        torch,
        lambda t: lk.lovasz_softmax(labels, t, class_weight=w, **kw),
        lambda t: kornia.lovasz_softmax_loss(t, labels, weight=torch.as_tensor(w)),
        z,
    )
    y = torch.as_tensor(BINARY)
    zb = torch.as_tensor(BINARY_LOGITS[:, None])
    _assert_same(
        torch,
        lambda t: lk.lovasz_hinge(y[:, None], t, per_image=True, axis=1),
        lambda t: kornia.lovasz_hinge_loss(t, y),
        zb,
    )


@pytest.mark.parametrize(
    "name", ["dice", "jaccard", "tversky", "focal_tversky", "generalized_dice"]
)
@pytest.mark.parametrize("empty", ["zero", "one", "ignore", "keep"])
@pytest.mark.parametrize("per_image", [True, False])
def test_a_zero_class_weight_is_the_class_sliced_off(name, empty, per_image):
    """Weight 0 removes a class everywhere: from the loss, from the volumes that set the
    generalized Dice weights, and from deciding whether an image is empty."""
    r = np.random.default_rng(3)
    y = r.integers(0, 3, (3, 4, 4))
    y[1] = 0  # an image holding only the class that is removed
    logits = r.normal(size=(3, 3, 4, 4))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    options = {"axis": 1, "per_image": per_image, "empty": empty}
    loss = lk.get(name)
    weighted = loss(y, p, class_weight=[0.0, 1.0, 1.0], **options)
    onehot = np.moveaxis(np.eye(3)[y], -1, 1)[:, 1:]
    sliced = loss(onehot, p[:, 1:], mode="multilabel", **options)
    np.testing.assert_allclose(weighted, sliced, rtol=1e-12)


def test_generalized_dice_zero_class_weight_matches_monai_without_background():
    torch = pytest.importorskip("torch")
    monai_losses = pytest.importorskip("monai.losses")
    z = np.array([[[0.2, -1.0, 0.5, 1.5], [1.0, 0.3, -0.2, 0.1], [-0.5, 0.8, 0.0, -1.2]]])
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = np.array([[0, 1, 1, 1]])
    got = lk.generalized_dice(
        y, p, axis=1, per_image=True, empty="zero", smooth=1e-5, class_weight=[0.0, 1.0, 1.0]
    )
    anchor = monai_losses.GeneralizedDiceLoss(
        include_background=False, to_onehot_y=True, smooth_nr=1e-5, smooth_dr=1e-5
    )(torch.tensor(p), torch.tensor(y[:, None]))
    np.testing.assert_allclose(float(got), float(anchor), rtol=1e-10)
    assert float(got) == pytest.approx(0.716308, abs=1e-6)
