"""The boundary-aware losses (boundary loss, Hausdorff distance-transform loss, soft clDice):
the distance transforms against SciPy's exact ones, the losses against MONAI (values and
gradients), and bad inputs. Tracing: test_segmentation_boundary_traced.py (slow)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import losskit as lk
from losskit._backend import backend_of
from losskit._backend._generic import ArrayAPIBackend
from losskit.losses._segmentation._boundary import _distances, _squared_distance_to

RNG = np.random.default_rng(3)
N, C, H, W = 3, 3, 9, 11
LOGITS = RNG.normal(scale=2.0, size=(N, C, H, W))  # NCHW
LABELS = RNG.integers(0, C, (N, H, W))
LABELS[1][LABELS[1] == 2] = 0  # class 2 absent from image 1
LABELS[2] = 1  # image 2: class 1 fills the image, 0 and 2 are empty
KW = {"axis": 1, "from_logits": True}


# ---------------------------------------------------------------------- distance transforms
@pytest.mark.parametrize("shape", [(2, 17), (2, 7, 9), (2, 4, 5, 6)])
def test_distance_transforms_equal_scipy(shape):
    """Both paths: the array one (traced calls) and the host one (eager calls)."""
    ndimage = pytest.importorskip("scipy.ndimage")
    fg = (RNG.random(shape) > 0.7).astype(np.float64)
    fg[0] = 0.0  # an empty mask: zero maps
    axes = tuple(range(1, len(shape)))
    backend = backend_of(fg)
    mask = fg[1] > 0
    to_fg = np.sqrt(_squared_distance_to(backend, fg, axes))
    to_bg = np.sqrt(_squared_distance_to(backend, 1.0 - fg, axes))
    np.testing.assert_allclose(to_bg[1][mask], ndimage.distance_transform_edt(mask)[mask])
    np.testing.assert_allclose(to_fg[1][~mask], ndimage.distance_transform_edt(~mask)[~mask])
    inside, outside, split = _distances(backend, fg, axes)
    assert not split[0].any() and np.all(inside[0] == 0) and np.all(outside[0] == 0)
    np.testing.assert_allclose(inside[1], ndimage.distance_transform_edt(mask), rtol=1e-15)
    np.testing.assert_allclose(outside[1], ndimage.distance_transform_edt(~mask), rtol=1e-15)


def test_closed_forms_on_a_line():
    y = np.array([[0, 1, 1, 1, 0]])
    # class 1: φ = (1, 0, -1, 0, 1), sum 1; class 0: (0, 1, 2, 1, 0), sum 4
    p = np.full((1, 5, 2), 0.5)
    np.testing.assert_allclose(float(lk.boundary_loss(y, p)), (0.5 * 1 + 0.5 * 4) / 10)
    # Hausdorff: a prediction of 0.5 everywhere thresholds to an empty mask (d_P = 0);
    # class 1: d_G = (1, 1, 2, 1, 1), squared errors 0.25: 0.25·(1+1+4+1+1)/5 = 0.4, class 0 alike
    np.testing.assert_allclose(float(lk.hausdorff_dt(y, p)), 0.4)


# ---------------------------------------------------------------------- against MONAI
def _monai() -> tuple[Any, Any]:
    torch = pytest.importorskip("torch")
    losses = pytest.importorskip("monai.losses")
    return torch, losses


def _max_difference(torch: Any, ours: Any, theirs: Any, x: np.ndarray) -> float:
    results = []
    for fn in (ours, theirs):
        t = torch.as_tensor(x).requires_grad_(True)
        value = fn(t)
        (grad,) = torch.autograd.grad(value.sum(), t)
        results.append((value.detach().numpy().reshape(-1), grad.numpy()))
    (a, ga), (b, gb) = results
    assert a.shape == b.shape
    return float(max(np.max(np.abs(a - b)), np.max(np.abs(ga - gb))))


def monai_cases(torch: Any, losses: Any) -> list[tuple[str, Any, Any, np.ndarray]]:
    labels = torch.as_tensor(LABELS)
    column = labels[:, None]
    hard = (RNG.random((2, 2, 5, 6, 7)) > 0.6) * 1.0  # 3-d multilabel
    hard_t = torch.as_tensor(hard)
    logits_3d = RNG.normal(size=hard.shape)
    soft_t = torch.as_tensor(RNG.uniform(size=hard.shape))
    sm = {"softmax": True, "to_onehot_y": True}
    no_background = [0.0, 1.0, 1.0]

    def monai(cls: str, target: Any = column, **options: Any) -> Any:
        anchor = getattr(losses, cls)(**options)
        return lambda t: anchor(t, target)

    def ours(loss: Any, target: Any = labels, **options: Any) -> Any:
        return lambda t: loss(target, t, **KW, **options)

    def without_background(table: Any) -> Any:  # MONAI drops class 0 from its table
        return lambda t: table(t)[:, 1:]

    return [
        ("boundary_loss", ours(lk.boundary_loss), monai("BoundaryLoss", **sm), LOGITS),
        (
            "boundary_loss-no-background-none",
            without_background(
                ours(lk.boundary_loss, class_weight=no_background, per_class=True, reduction="none")
            ),
            monai("BoundaryLoss", **sm, include_background=False, reduction="none"),
            LOGITS,
        ),
        (
            "boundary_loss-3d-sigmoid",
            ours(lk.boundary_loss, hard_t, mode="multilabel"),
            monai("BoundaryLoss", hard_t, sigmoid=True),
            logits_3d,
        ),
        (
            "hausdorff_dt-include-background",
            ours(lk.hausdorff_dt),
            monai("HausdorffDTLoss", **sm, include_background=True),
            LOGITS,
        ),
        (
            "hausdorff_dt-monai-default-none",
            without_background(
                ours(lk.hausdorff_dt, class_weight=no_background, per_class=True, reduction="none")
            ),
            monai("HausdorffDTLoss", **sm, reduction="none"),
            LOGITS,
        ),
        ("soft_cldice", ours(lk.soft_cldice), monai("SoftclDiceLoss", **sm), LOGITS),
        (
            "soft_cldice-options-no-background",
            ours(lk.soft_cldice, iter_=5, smooth_nr=0.1, smooth=1e-3, class_weight=no_background),
            monai(
                "SoftclDiceLoss",
                **sm,
                iter_=5,
                smooth_nr=0.1,
                smooth=1e-3,
                include_background=False,
            ),
            LOGITS,
        ),
        (
            "soft_cldice-3d-soft-targets",
            ours(lk.soft_cldice, soft_t, mode="multilabel", reduction="none"),
            monai("SoftclDiceLoss", soft_t, sigmoid=True, reduction="none"),
            logits_3d,
        ),
        (
            "hausdorff_dt-alpha-3d-sigmoid",
            ours(lk.hausdorff_dt, hard_t, mode="multilabel", alpha=1.5),
            monai("HausdorffDTLoss", hard_t, sigmoid=True, alpha=1.5, include_background=True),
            logits_3d,
        ),
    ]


def test_against_monai():
    torch, losses = _monai()
    # MONAI's distance maps are float32: agreement to float32 rounding of the distances
    failures = []
    for name, ours, theirs, x in monai_cases(torch, losses):
        difference = _max_difference(torch, ours, theirs, x)
        if not difference <= 1e-6:
            failures.append(f"{name}: {difference:.3g}")
    assert not failures, failures


# ---------------------------------------------------------------------- pooling primitives
POOL_LAYOUTS = [  # (shape, spatial axes): NCHW, NHWC, no class axis, 1-d, 3-d, sides 1 and 2
    ((2, 3, 6, 7), (2, 3)),
    ((2, 6, 7, 3), (1, 2)),
    ((3, 6, 7), (1, 2)),
    ((2, 9, 3), (1,)),
    ((2, 4, 5, 6, 2), (1, 2, 3)),
    ((2, 1, 2, 5), (1, 2)),
    ((2, 2, 3, 4, 5), (2, 3)),
]


def _footprint(kind: str, d: int) -> np.ndarray:
    if kind == "box":
        return np.ones((3,) * d, bool)
    cross = np.zeros((3,) * d, bool)
    for k in range(d):
        cross[tuple(slice(None) if i == k else 1 for i in range(d))] = True
    return cross


@pytest.mark.parametrize(("shape", "axes"), POOL_LAYOUTS)
@pytest.mark.parametrize("kind", ["box", "cross"])
def test_pooling_equals_scipy_filters(shape, axes, kind):
    """The backends' 3-wide min/max pooling against SciPy's rank filters (edge pixels
    repeated: the same extreme as leaving the outside out); torch's kernels and the generic
    slices on torch agree on the gradient too."""
    ndimage = pytest.importorskip("scipy.ndimage")
    torch = pytest.importorskip("torch")
    x = RNG.normal(size=shape)
    size = [3 if a in axes else 1 for a in range(len(shape))]
    footprint = _footprint(kind, len(axes)).reshape(size)
    expected = {
        "max_pool": ndimage.maximum_filter(x, footprint=footprint, mode="nearest"),
        "min_pool": ndimage.minimum_filter(x, footprint=footprint, mode="nearest"),
    }
    t = torch.as_tensor(x).requires_grad_(True)
    backend = backend_of(t)
    for name, want in expected.items():
        got_numpy = getattr(backend_of(x), name)(x, axes, kind)
        native = getattr(backend, name)(t, axes, kind)
        generic = getattr(ArrayAPIBackend, name)(backend, t, axes, kind)
        np.testing.assert_array_equal(got_numpy, want)
        np.testing.assert_array_equal(native.detach().numpy(), want)
        weights = torch.as_tensor(RNG.normal(size=shape))
        (g_native,) = torch.autograd.grad((native * weights).sum(), t)
        (g_generic,) = torch.autograd.grad((generic * weights).sum(), t)
        np.testing.assert_allclose(g_native.numpy(), g_generic.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("shape", "axes"), POOL_LAYOUTS)
@pytest.mark.parametrize("kind", ["box", "cross"])
@pytest.mark.parametrize("library", ["jax", "tensorflow"])
def test_native_pooling_equals_the_generic_slices(shape, axes, kind, library):
    """JAX's reduce_window and TensorFlow's max_pool (float32, and float64 where 3-d pooling
    falls back to the slices) give the slices' values."""
    module = pytest.importorskip(library)
    for dtype in ("float32", "float64"):
        if library == "jax" and dtype == "float64":
            continue  # jax keeps float32 unless x64 is enabled
        _compare_pooling(
            module.constant if library == "tensorflow" else module.numpy.asarray,
            RNG.normal(size=shape).astype(dtype),
            axes,
            kind,
        )


def _compare_pooling(convert: Any, values: np.ndarray, axes: tuple[int, ...], kind: str) -> None:
    x = convert(values)
    backend = backend_of(x)
    for name in ("max_pool", "min_pool"):
        want = getattr(ArrayAPIBackend, name)(backend, x, axes, kind)
        np.testing.assert_array_equal(getattr(backend, name)(x, axes, kind), want)


# ---------------------------------------------------------------------- inputs
@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: lk.boundary_loss(np.full((2, 4, 3), 0.3), np.full((2, 4, 3), 1 / 3)),
            ValueError,
            "hard targets",
        ),
        (lambda: lk.hausdorff_dt(LABELS, LOGITS, **KW, alpha=0.0), ValueError, "alpha"),
        (lambda: lk.hausdorff_dt(LABELS, LOGITS, **KW, alpha="2"), TypeError, "alpha"),
        (lambda: lk.boundary_loss(LABELS, LOGITS, **KW, per_class="yes"), TypeError, "per_class"),
        (lambda: lk.boundary_loss(LABELS, LOGITS, **KW, mode="soft"), ValueError, "mode"),
        (lambda: lk.soft_cldice(LABELS, LOGITS, **KW, iter_=-1), ValueError, "iter_"),
        (lambda: lk.soft_cldice(LABELS, LOGITS, **KW, iter_=1.5), TypeError, "iter_"),
        (lambda: lk.soft_cldice(LABELS, LOGITS, **KW, smooth=0.0), ValueError, "smooth"),
        (lambda: lk.soft_cldice(LABELS, LOGITS, **KW, smooth_dr=-1.0), ValueError, "smooth_dr"),
        (
            lambda: lk.boundary_loss(LABELS, LOGITS, **KW, class_weight=[1.0, 2.0]),
            ValueError,
            "class_weight",
        ),
    ],
)
def test_bad_inputs_name_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_masked_pixels_leave_the_mean():
    mask = np.ones((N, H, W), bool)
    mask[:, :, :3] = False
    got = lk.boundary_loss(LABELS, LOGITS, **KW, mask=mask, per_class=True, reduction="none")
    full = lk.boundary_loss(LABELS, LOGITS, **KW, per_class=True, reduction="none")
    assert got.shape == full.shape == (N, C)
    assert not np.allclose(got, full)
