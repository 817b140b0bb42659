"""The fused torch paths (losskit/_backend/_torch_fused.py) against the generic array-API path.

Eager torch calls of the overlap losses, the Lovász losses and the binary focal loss from logits
go through hand-written ``autograd.Function``s. They must give the generic formulas' values and
gradients (float32 and float64, every option they cover), pass ``gradcheck`` and
``gradgradcheck`` in float64, and be left out where they do not apply (traced calls, targets
that require grad, options they do not cover): the generic path then runs.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402

import losskit as lk  # noqa: E402
import reference as ref  # noqa: E402
from losskit._backend import _torch_fused as fused  # noqa: E402
from losskit._backend._torch import TorchBackend  # noqa: E402

FUSED_METHODS = (
    "overlap_statistics",
    "lovasz_rows",
    "binary_focal_logits",
    "softmax_crossentropy",
)
DTYPES = (torch.float32, torch.float64)
#: value and gradient tolerances of fused against generic (the same formulas, evaluated in a
#: different order: a few ulps, more where soft targets cancel in the focal derivative)
TOL = {torch.float32: {"rtol": 2e-5, "atol": 1e-7}, torch.float64: {"rtol": 1e-12, "atol": 1e-15}}


@contextlib.contextmanager
def generic_path() -> Iterator[None]:
    """Switch the torch backend's fused paths off: every call takes the generic formulas."""
    saved = {name: getattr(TorchBackend, name) for name in FUSED_METHODS}
    for name in FUSED_METHODS:
        setattr(TorchBackend, name, lambda self, *args, **kwargs: None)
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(TorchBackend, name, method)


@contextlib.contextmanager
def counting(function: Any) -> Iterator[list[int]]:
    """Count the calls of a fused ``autograd.Function``."""
    calls = [0]
    original = function.apply

    def apply(*args: Any) -> Any:
        calls[0] += 1
        return original(*args)

    function.apply = apply
    try:
        yield calls
    finally:
        function.apply = original


def value_and_grad(loss: Callable[..., Any], y: Any, z: Any, **options: Any) -> tuple[Any, Any]:
    z = z.detach().clone().requires_grad_(True)
    value = loss(y, z, **options)
    (grad,) = torch.autograd.grad(value.sum(), z)
    return value.detach(), grad


def assert_fused_equals_generic(
    loss: Callable[..., Any], y: Any, z: Any, function: Any, **options: Any
) -> None:
    with counting(function) as calls:
        value, grad = value_and_grad(loss, y, z, **options)
    assert calls[0] == 1, "the fused path was not taken"
    with generic_path():
        expected_value, expected_grad = value_and_grad(loss, y, z, **options)
    tol = TOL[z.dtype]
    torch.testing.assert_close(value, expected_value, **tol)
    scale = expected_grad.abs().max().item() or 1.0
    torch.testing.assert_close(grad / scale, expected_grad / scale, **tol)


# ---------------------------------------------------------------------- data
def data(dtype: Any, seed: int = 0) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(seed)
    n, c, h, w = 3, 4, 5, 6
    logits = 2.0 * torch.randn(n, c, h, w, generator=gen, dtype=dtype)
    labels = torch.randint(0, c, (n, h, w), generator=gen)
    labels[1][labels[1] == 2] = 0  # class 2 absent from image 1
    ignored = labels.clone()
    ignored[0, 1, :3] = 255
    ignored[2, 4, 5] = 255
    soft = torch.rand(n, c, h, w, generator=gen, dtype=dtype)
    soft[0, 1] = 0.0  # an empty channel
    return {
        "logits": logits,
        "labels": labels,
        "ignored": ignored,
        "soft": soft,
        "hard": (soft > 0.5).to(dtype),
        "distribution": torch.softmax(3.0 * soft, dim=1),
        "mask": torch.rand(n, h, w, generator=gen) > 0.3,
    }


OVERLAP = {
    "dice": lk.dice,
    "jaccard": lk.jaccard,
    "tversky": lambda y, z, **o: lk.tversky(y, z, alpha=0.3, beta=0.7, **o),
    "focal_tversky": lk.focal_tversky,
    "generalized_dice": lk.generalized_dice,
}


def overlap_cases(d: dict[str, Any]) -> Iterator[tuple[Any, Any, dict[str, Any]]]:
    """(y_true, y_pred, options) over targets, modes and exclusions."""
    z = d["logits"]
    yield d["labels"], z, {}
    yield d["ignored"], z, {"ignore_index": 255}
    yield d["labels"], z, {"mask": d["mask"], "smooth": 1.0}
    yield d["labels"][:, None], z, {"class_weight": [1.0, 2.0, 0.0, 0.5]}
    yield d["distribution"], z, {}  # soft multiclass targets
    yield d["distribution"], z, {"mask": d["mask"]}
    yield d["soft"], z, {"mode": "multilabel"}
    yield d["hard"], z, {"mode": "multilabel", "ignore_index": 1}
    yield d["hard"][:, 0], z[:, 0], {"mode": "binary"}
    yield d["soft"][:, :1], z[:, :1], {"mode": "binary", "mask": d["mask"][:, None]}


# ---------------------------------------------------------------------- overlap losses
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", sorted(OVERLAP))
@pytest.mark.parametrize("per_image", [True, False])
@pytest.mark.parametrize("empty", ["ignore", "zero", "one", "keep"])
def test_overlap_from_logits_equals_generic(dtype, name, per_image, empty):
    d = data(dtype)
    for y, z, options in overlap_cases(d):
        opts = {"axis": 1, "from_logits": True, "per_image": per_image, "empty": empty, **options}
        if opts.get("mode") == "binary":
            del opts["axis"]
        assert_fused_equals_generic(OVERLAP[name], y, z, fused._OverlapSums, **opts)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", sorted(OVERLAP))
def test_overlap_from_probabilities_equals_generic(dtype, name):
    d = data(dtype)
    p = torch.softmax(d["logits"], dim=1)
    for y, options in [
        (d["labels"], {}),
        (d["ignored"], {"ignore_index": 255, "per_image": True}),
        (d["distribution"], {"mask": d["mask"]}),
    ]:
        assert_fused_equals_generic(OVERLAP[name], y, p, fused._OverlapSums, axis=1, **options)
    sigmoid = torch.sigmoid(d["logits"])
    assert_fused_equals_generic(
        OVERLAP[name], d["soft"], sigmoid, fused._OverlapSums, axis=1, mode="multilabel"
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_overlap_channels_last_and_other_layouts(dtype):
    d = data(dtype)
    z = d["logits"].permute(0, 2, 3, 1)  # NHWC, not contiguous
    for loss in (lk.dice, lk.jaccard):
        assert_fused_equals_generic(loss, d["labels"], z, fused._OverlapSums, from_logits=True)
        assert_fused_equals_generic(
            loss, d["labels"], z.contiguous(), fused._OverlapSums, from_logits=True, per_image=True
        )
    volume = torch.randn(2, 3, 4, 5, 6, dtype=dtype)  # 3-D images, classes on axis 1
    labels = torch.randint(0, 3, (2, 4, 5, 6))
    assert_fused_equals_generic(
        lk.dice, labels, volume, fused._OverlapSums, axis=1, from_logits=True
    )


def _overlap_inputs(dtype: Any) -> dict[str, Any]:
    d = data(dtype, seed=1)
    d["logits"] = d["logits"][:2, :3, :3, :4].contiguous()
    d["labels"] = d["ignored"][:2, :3, :4].clone().clamp(max=2)
    d["labels"][0, 0, 0] = 255
    d["soft"] = d["soft"][:2, :3, :3, :4].contiguous()
    d["keep"] = (d["mask"][:2, None, :3, :4]).to(dtype)
    return d


@pytest.mark.parametrize("activation", ["softmax", "sigmoid", None])
@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("axes", [(2, 3), (0, 2, 3)], ids=["per_image", "batch"])
def test_overlap_function_gradcheck(activation, dense, masked, axes):
    d = _overlap_inputs(torch.float64)
    x = d["logits"].clone().requires_grad_(True)
    if activation is None:
        x = torch.softmax(d["logits"], 1).detach().requires_grad_(True)
    target = d["soft"] if dense else d["labels"][:, None]
    keep = d["keep"] if masked else None

    def sums(x: Any) -> Any:
        i, p, _ = fused._OverlapSums.apply(x, target, keep, activation, 1, axes, 3)
        return i, p

    assert torch.autograd.gradcheck(sums, (x,))
    assert torch.autograd.gradgradcheck(sums, (x,))


def test_overlap_target_mass_counts_labels_and_is_not_differentiable():
    d = _overlap_inputs(torch.float64)
    x = d["logits"].clone().requires_grad_(True)
    labels = d["labels"]  # 255 at one pixel: counted in no class
    i, p, y = fused._OverlapSums.apply(x, labels[:, None], None, "softmax", 1, (2, 3), 3)
    assert i.requires_grad and p.requires_grad and not y.requires_grad
    counts = torch.stack([(labels == c).sum((1, 2)) for c in range(3)], dim=1)
    assert torch.equal(y, counts.double())


def test_overlap_backward_twice_with_retained_graph():
    d = data(torch.float32)
    z = d["logits"].clone().requires_grad_(True)
    loss = lk.dice(d["labels"], z, axis=1, from_logits=True)
    (first,) = torch.autograd.grad(loss, z, retain_graph=True)
    (second,) = torch.autograd.grad(loss, z)
    assert torch.equal(first, second)


# ---------------------------------------------------------------------- Lovász
@pytest.fixture(params=[1, 2], ids=["one_thread", "two_threads"])
def threads(request: Any) -> Iterator[int]:
    """float32 Lovász keys are sorted in one 1-D (radix) sort with one thread, per row with
    several: both must agree with the generic path."""
    previous = torch.get_num_threads()
    torch.set_num_threads(request.param)
    try:
        yield request.param
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("per_image", [True, False])
@pytest.mark.parametrize("classes", ["present", "all", (0, 2)])
def test_lovasz_softmax_equals_generic(dtype, per_image, classes, threads):
    d = data(dtype)
    z = d["logits"]
    opts = {"axis": 1, "per_image": per_image, "classes": classes}
    cases = [
        (d["labels"], z, {"from_logits": True}),
        (d["ignored"], z, {"from_logits": True, "ignore_index": 255}),
        (d["labels"], torch.softmax(z, 1), {"mask": d["mask"]}),
        (d["labels"], z, {"from_logits": True, "class_weight": [1.0, 0.5, 2.0, 1.0]}),
        (d["hard"], z, {"from_logits": True, "mode": "multilabel"}),
        (d["labels"], z.permute(0, 2, 3, 1), {"from_logits": True, "axis": -1}),
    ]
    for y, pred, options in cases:
        assert_fused_equals_generic(lk.lovasz_softmax, y, pred, fused._LovaszRows, **opts | options)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("per_image", [True, False])
def test_lovasz_hinge_equals_generic(dtype, per_image, threads):
    d = data(dtype)
    z, y = d["logits"], d["hard"]
    for options in [
        {},
        {"mask": d["mask"][:, None]},
        {"mode": "multilabel", "axis": 1, "class_weight": [1.0, 2.0, 0.5, 1.0]},
        {"mode": "multilabel", "axis": 1, "ignore_index": 1},
    ]:
        assert_fused_equals_generic(
            lk.lovasz_hinge, y, z, fused._LovaszRows, per_image=per_image, **options
        )


def test_lovasz_ties_all_background_and_large_errors(threads):
    """Tied errors (the value does not depend on their order), rows without foreground and
    hinge errors far above 1 (float32 keys use every exponent bit)."""
    for dtype in DTYPES:
        p = torch.full((2, 3, 4, 4), 1.0 / 3.0, dtype=dtype)
        labels = torch.zeros(2, 4, 4, dtype=torch.int64)
        labels[1, :2] = 2
        value, _ = value_and_grad(lk.lovasz_softmax, labels, p, axis=1, classes="all")
        with generic_path():
            expected, _ = value_and_grad(lk.lovasz_softmax, labels, p, axis=1, classes="all")
        torch.testing.assert_close(value, expected, **TOL[dtype])
        z = torch.linspace(-1e4, 1e4, 48, dtype=dtype).reshape(2, 24)
        y = (torch.arange(48).reshape(2, 24) % 3 == 0).to(dtype)
        assert_fused_equals_generic(lk.lovasz_hinge, y, z, fused._LovaszRows, per_image=True)


def test_lovasz_rows_gradcheck_float64():
    gen = torch.Generator().manual_seed(3)
    errors = torch.rand(3, 2, 7, generator=gen, dtype=torch.float64).requires_grad_(True)
    fg = (torch.rand(3, 2, 7, generator=gen) > 0.5).double()
    valid = torch.rand(3, 2, 7, generator=gen) > 0.2

    for v in (None, valid):

        def rows(e: Any, v: Any = v) -> Any:
            return fused.lovasz_rows(e, fg, v)[0]  # type: ignore[index]

        def from_prediction(p: Any, v: Any = v) -> Any:
            return fused.lovasz_rows(None, fg, v, prediction=p)[0]  # type: ignore[index]

        assert torch.autograd.gradcheck(rows, (errors,))
        assert torch.autograd.gradgradcheck(rows, (errors,))
        assert torch.autograd.gradcheck(from_prediction, (errors,))
        assert torch.autograd.gradgradcheck(from_prediction, (errors,))


def test_lovasz_float32_keys_propagate_nan_and_keep_rows_apart(threads):
    errors = torch.rand(2, 3, 50, dtype=torch.float32)
    fg = (torch.rand(2, 3, 50) > 0.5).float()
    errors[0, 1, 7] = float("nan")
    errors[1, 2, :] *= 1e30  # large: the keys use every exponent bit
    errors[1, 0, 3] = float("inf")
    loss, present = fused.lovasz_rows(errors, fg, None)  # type: ignore[misc]
    assert torch.isnan(loss[0, 1])
    expected, expected_present = lk_generic_lovasz(errors, fg)
    finite = ~torch.isnan(expected)
    assert torch.equal(torch.isnan(loss), ~finite)
    torch.testing.assert_close(loss[finite], expected[finite], rtol=1e-6, atol=0.0)
    assert torch.equal(present, expected_present)


def lk_generic_lovasz(errors: Any, fg: Any) -> tuple[Any, Any]:
    from losskit._backend import backend_of
    from losskit.losses._segmentation import _lovasz_sorted

    with generic_path():
        return _lovasz_sorted(backend_of(errors), errors, fg, None)


def test_lovasz_backward_twice_with_retained_graph(threads):
    d = data(torch.float32)
    z = d["logits"].clone().requires_grad_(True)
    loss = lk.lovasz_softmax(d["labels"], z, axis=1, from_logits=True)
    (first,) = torch.autograd.grad(loss, z, retain_graph=True)
    (second,) = torch.autograd.grad(loss, z)
    assert torch.equal(first, second)


# ---------------------------------------------------------------------- binary focal
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 1.1, 2.0, 3.5])
@pytest.mark.parametrize("alpha", [None, 0.25, 1])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "sum_over_batch_size"])
def test_binary_focal_equals_generic(dtype, gamma, alpha, reduction):
    d = data(dtype)
    z = 4.0 * d["logits"]
    opts = {"from_logits": True, "gamma": gamma, "alpha": alpha, "reduction": reduction}
    for y, extra in [
        (d["hard"], {}),
        (d["soft"], {}),
        (d["hard"], {"label_smoothing": 0.1}),
        (d["hard"][:, :1], {}),  # targets broadcast to the logits
        (d["soft"], {"sample_weight": torch.rand(3, 1, 1, 1, dtype=dtype)}),
        (d["hard"], {"mask": d["mask"][:, None].expand(3, 4, 5, 6)}),
    ]:
        assert_fused_equals_generic(
            lk.binary_focal_crossentropy, y, z, fused._BinaryFocalLogits, **opts | extra
        )
    if reduction == "mean":
        assert_fused_equals_generic(
            lk.binary_focal_crossentropy,
            d["hard"],
            z,
            fused._BinaryFocalLogits,
            normalizer=7.0,
            **opts,
        )


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_binary_focal_extreme_logits_and_chunks(dtype, monkeypatch):
    """Saturated logits (the floor of the modulation, both tails of the cross-entropy), and
    inputs spread over several chunks of the elementwise passes."""
    monkeypatch.setattr(fused, "_CHUNK_BYTES", 64)  # with one thread: chunks of 8 or 16
    z = torch.tensor([-120.0, -90.0, -30.0, -1e-3, 0.0, 1e-3, 30.0, 90.0, 120.0], dtype=dtype)
    z = z.repeat(7)
    y = torch.tensor([0.0, 1.0, 0.3]).repeat(21).to(dtype)
    threads = torch.get_num_threads()
    for gamma, alpha, one_thread in itertools.product(
        (0.0, 0.5, 1.0, 1.2, 2.0, 3.0), (None, 0.25), (True, False)
    ):
        torch.set_num_threads(1 if one_thread else max(2, threads))
        try:
            opts = {"from_logits": True, "gamma": gamma, "alpha": alpha}
            assert_fused_equals_generic(
                lk.binary_focal_crossentropy, y, z, fused._BinaryFocalLogits, **opts
            )
            assert_fused_equals_generic(
                lk.binary_focal_crossentropy,
                y,
                z,
                fused._BinaryFocalLogits,
                reduction="none",
                **opts,
            )
        finally:
            torch.set_num_threads(threads)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 2.5])
@pytest.mark.parametrize("alpha", [None, 0.3])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_binary_focal_function_gradcheck(gamma, alpha, reduction):
    gen = torch.Generator().manual_seed(2)
    z = (3.0 * torch.randn(4, 5, generator=gen, dtype=torch.float64)).requires_grad_(True)
    y = torch.rand(4, 5, generator=gen, dtype=torch.float64)
    y[0] = (y[0] > 0.5).double()

    def focal(z: Any) -> Any:
        return fused._BinaryFocalLogits.apply(y, z, gamma, alpha, reduction)

    assert torch.autograd.gradcheck(focal, (z,))
    assert torch.autograd.gradgradcheck(focal, (z,))


def test_binary_focal_backward_twice_and_leaf_accumulation():
    """backward hands its derivative buffer over as the gradient; a retained graph's second
    backward recomputes it, and ``.grad`` accumulates as usual."""
    d = data(torch.float32)
    z = d["logits"].clone().requires_grad_(True)
    loss = lk.binary_focal_crossentropy(d["hard"], z, from_logits=True, alpha=0.25)
    (first,) = torch.autograd.grad(loss, z, retain_graph=True)
    (second,) = torch.autograd.grad(loss, z, retain_graph=True)
    torch.testing.assert_close(first, second, rtol=1e-6, atol=1e-12)
    loss.backward(retain_graph=True)
    loss.backward()
    torch.testing.assert_close(z.grad, 2.0 * first, rtol=1e-6, atol=1e-12)
    again = lk.binary_focal_crossentropy(d["hard"], z, from_logits=True, alpha=0.25)
    (z * 2.0).sum().add(again).backward()  # z gets two gradients in one pass
    torch.testing.assert_close(z.grad, 3.0 * first + 2.0, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------- binary cross-entropy
def bce_data(dtype: Any) -> tuple[Any, Any]:
    """Logits over both tails, saturated ones included, against soft and hard targets; 4 x 39
    entries."""
    tails = [1e4, 120.0, 40.0, 17.0, 1.0, 1e-3]
    z = torch.tensor([-t for t in tails] + [0.0] + tails[::-1], dtype=dtype).repeat(4, 3)
    y = torch.tensor([0.0, 1.0, 0.25], dtype=dtype).repeat_interleave(13).repeat(4, 1)
    return y, z


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("block_bytes", [None, 40], ids=["whole", "blocks"])
def test_binary_crossentropy_logits_against_closed_form(dtype, block_bytes, monkeypatch):
    """Values and gradients of the fused kernel (whole, and in blocks of 10 or 5 entries, the
    last one short) against the float64 closed form, for every reduction, with and without a
    gradient recorded."""
    if block_bytes is not None:
        monkeypatch.setattr(fused, "_BLOCK_BYTES", block_bytes)
    y, z = bce_data(dtype)
    want = ref.bce_logits(y.numpy(), z.numpy())
    want_grad = ref.bce_logits_grad(y.numpy(), z.numpy())
    tol = {"rtol": 4e-6, "atol": 1e-30} if dtype == torch.float32 else {"rtol": 1e-13, "atol": 0}
    for reduction, scale in (("none", None), ("sum", 1.0), ("mean", 1.0 / z.numel())):
        value, grad = value_and_grad(
            lk.binary_crossentropy, y, z, from_logits=True, reduction=reduction
        )
        expected = want if scale is None else want.sum() * scale
        np.testing.assert_allclose(value.double().numpy(), expected, **tol)
        np.testing.assert_allclose(grad.double().numpy(), want_grad * (scale or 1.0), **tol)
        with torch.no_grad():  # inference: the same blocks without the autograd function
            value = lk.binary_crossentropy(y, z, from_logits=True, reduction=reduction)
        np.testing.assert_allclose(value.double().numpy(), expected, **tol)


def test_binary_crossentropy_logits_broadcast_nan_and_second_derivatives():
    y, z = bce_data(torch.float64)
    row = y[:1]  # targets broadcast over the rows: one pass over the whole tensors
    value, grad = value_and_grad(lk.binary_crossentropy, row, z, from_logits=True)
    expected, expected_grad = value_and_grad(
        lk.binary_crossentropy, row.expand_as(z), z, from_logits=True
    )
    torch.testing.assert_close(value, expected, rtol=1e-14, atol=0)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-14, atol=0)
    saturated = torch.tensor([-math.inf, math.inf], dtype=torch.float64)  # on their labels
    value, grad = value_and_grad(
        lk.binary_crossentropy, torch.tensor([0.0, 1.0]).double(), saturated, from_logits=True
    )
    assert value == 0.0 and torch.equal(grad, torch.zeros(2, dtype=torch.float64))
    with lk.validation(False):  # a NaN in either input is the loss's NaN
        for a, b in ((y.clone().fill_(math.nan), z), (y, z.clone().fill_(math.nan))):
            assert torch.isnan(lk.binary_crossentropy(a, b, from_logits=True))
            assert torch.isnan(
                lk.binary_crossentropy(a, b, from_logits=True, reduction="none")
            ).all()
    finite = torch.linspace(-30.0, 30.0, 12, dtype=torch.float64).requires_grad_(True)
    target = torch.rand(12, dtype=torch.float64)

    def loss(t: Any) -> Any:
        return fused.binary_crossentropy_logits(target, t, "none", False)

    assert torch.autograd.gradcheck(loss, (finite,))
    assert torch.autograd.gradgradcheck(loss, (finite,))
    total = fused.binary_crossentropy_logits(target, finite, "mean", False)
    (first,) = torch.autograd.grad(total, finite, retain_graph=True)
    (second,) = torch.autograd.grad(total, finite)
    assert torch.equal(first, second)


# ---------------------------------------------------------------------- soft cross-entropy
def soft_rows(dtype: Any, seed: int = 0) -> tuple[Any, Any]:
    """Soft targets and logits over several kinds of rows: random, confident (a loss far below
    float32's resolution of 1), tied maxima, uniform, and a masked class (-inf) without mass."""
    gen = torch.Generator().manual_seed(seed)
    n, k = 40, 7
    z = 3.0 * torch.randn(n, k, generator=gen, dtype=dtype)
    y = torch.softmax(2.0 * torch.randn(n, k, generator=gen, dtype=dtype), dim=1)
    z[0] = torch.tensor([40.0, 0.0, -3.0, 1.0, -40.0, 2.0, 0.5])  # confident: loss ~ e^-38
    y[0] = torch.tensor([1.0, 0, 0, 0, 0, 0, 0])
    z[1, :3] = 5.0  # three tied maxima
    z[2] = 0.0  # uniform
    y[3] = 0.0  # no target mass at all
    return y, z


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("block_rows", [None, 3], ids=["one_block", "blocks"])
def test_soft_crossentropy_equals_generic(dtype, block_rows, monkeypatch):
    """The fused rows and gradients (in one block, and in blocks of 3 rows: 14 blocks, the last
    one short) equal the generic exact path's; the confident row against its closed form."""
    if block_rows is not None:
        monkeypatch.setattr(fused, "_BLOCK_BYTES", 7 * block_rows * torch.finfo(dtype).bits // 8)
    y, z = soft_rows(dtype)
    for reduction in ("none", "mean", "sum"):
        options = {"from_logits": True, "reduction": reduction}
        assert_fused_equals_generic(
            lk.categorical_crossentropy, y, z, fused._SoftCrossentropy, **options
        )
    rows = lk.categorical_crossentropy(y, z, from_logits=True, reduction="none")
    d = z[0].double() - 40.0
    closed_form = torch.log1p(torch.exp(d[1:]).sum())  # -log p_0, the label the maximum
    torch.testing.assert_close(
        rows[0].double(), closed_form, rtol=4e-6 if dtype == torch.float32 else 1e-13, atol=0
    )
    assert rows[3] == 0.0


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_kl_divergence_from_logits_takes_the_soft_kernel(dtype):
    """KL from logits is Σ y·log y minus the soft kernel's rows: equal to the generic path's
    guarded Σ y (log y - log q), along the last axis and along another one."""
    y, z = soft_rows(dtype)
    for reduction in ("none", "mean"):
        options = {"from_logits": True, "reduction": reduction}
        assert_fused_equals_generic(lk.kl_divergence, y, z, fused._SoftCrossentropy, **options)
        assert_fused_equals_generic(
            lk.kl_divergence, y.T, z.T, fused._SoftCrossentropy, axis=0, **options
        )


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("block_rows", [None, 3], ids=["one_block", "blocks"])
def test_sparse_crossentropy_blocks(dtype, block_rows, monkeypatch):
    """The sparse kernel in one block and in blocks of 3 rows: values and gradients against
    the generic exact path (no kernel: ``torch.func`` traces the generic formula), smoothing
    and every reduction; a retained graph's second backward gives the same gradient."""
    if block_rows is not None:
        monkeypatch.setattr(fused, "_BLOCK_BYTES", 7 * block_rows * torch.finfo(dtype).bits // 8)
    _, z = soft_rows(dtype)
    labels = torch.arange(z.shape[0]) % z.shape[1]
    labels[0] = 0  # the confident row's maximum
    for smoothing, reduction in itertools.product((0.0, 0.2), ("none", "mean", "sum")):
        options = {"from_logits": True, "label_smoothing": smoothing, "reduction": reduction}

        def loss(t: Any, options: dict[str, Any] = options) -> Any:
            return lk.sparse_categorical_crossentropy(labels, t, **options).sum()

        with counting(fused._SparseCrossentropy) as calls:
            x = z.detach().clone().requires_grad_(True)
            value = loss(x)
            (first,) = torch.autograd.grad(value, x, retain_graph=True)
            (second,) = torch.autograd.grad(value, x)
        assert calls[0] == 1
        assert torch.equal(first, second)
        expected, expected_grad = torch.func.grad_and_value(loss)(z)[::-1]
        tol = TOL[dtype]
        torch.testing.assert_close(value.detach(), expected, **tol)
        torch.testing.assert_close(first, expected_grad, **tol)


def test_soft_crossentropy_gradcheck_and_retained_graph():
    y, z = soft_rows(torch.float64)
    z = z[:6].clone().requires_grad_(True)
    y = y[:6]

    def rows(t: Any) -> Any:
        return fused.soft_crossentropy(y, t, False)

    assert torch.autograd.gradcheck(rows, (z,))
    assert torch.autograd.gradgradcheck(rows, (z,))
    value = rows(z).sum()
    (first,) = torch.autograd.grad(value, z, retain_graph=True)
    (second,) = torch.autograd.grad(value, z)
    assert torch.equal(first, second)


def test_soft_crossentropy_masked_class():
    """A -inf logit without target mass: 0·(-inf) counts 0. On the CPU the kernel's NaN sends
    the call to the generic path; on a device the kernel zeroes those entries itself."""
    y, z = soft_rows(torch.float64)
    z[:, 4] = -math.inf
    y[:, 4] = 0.0
    with counting(fused._SoftCrossentropy) as calls:
        value, grad = value_and_grad(
            lk.categorical_crossentropy, y, z, from_logits=True, reduction="none"
        )
    assert calls[0] == 1
    with generic_path():
        expected, expected_grad = value_and_grad(
            lk.categorical_crossentropy, y, z, from_logits=True, reduction="none"
        )
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()
    torch.testing.assert_close(value, expected, **TOL[torch.float64])
    zz = z.clone().requires_grad_(True)
    on_device = fused.soft_crossentropy(y, zz, True)  # the device form, run on the CPU
    torch.testing.assert_close(-on_device, expected, **TOL[torch.float64])
    (device_grad,) = torch.autograd.grad(on_device.sum(), zz)
    torch.testing.assert_close(-device_grad, expected_grad, **TOL[torch.float64])


def distillation_logits(dtype: Any) -> tuple[Any, Any]:
    """Teacher and student logits (2, 7, 5): ordinary rows, logits at ±1e4, a vocabulary entry
    masked (-inf) in both, a student equal to its teacher."""
    gen = torch.Generator().manual_seed(3)
    teacher = torch.randn(2, 7, 5, generator=gen, dtype=dtype) * 3
    student = torch.randn(2, 7, 5, generator=gen, dtype=dtype) * 3
    teacher[0, 1], student[0, 1] = torch.tensor([1e4, -1e4, 0.0, 3.0, -2.0], dtype=dtype), 0.0
    student[0, 2] = torch.tensor([-1e4, 1e4, 0.0, 3.0, -2.0], dtype=dtype)
    teacher[1, :, 3] = student[1, :, 3] = -math.inf
    student[1, 4] = teacher[1, 4]
    return teacher, student


DISTILLATION = [
    (lk.generalized_jsd, {"beta": 0.5}),
    (lk.generalized_jsd, {"beta": 0.1, "temperature": 2.0}),
    (lk.generalized_jsd, {"beta": 0.0}),
    (lk.generalized_jsd, {"beta": 1.0}),
    (lk.distillation_kl, {"direction": "forward", "temperature": 0.5}),
    (lk.distillation_kl, {"direction": "reverse", "axis": 1}),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("block_rows", [None, 3], ids=["one_block", "blocks"])
@pytest.mark.parametrize(("loss", "options"), DISTILLATION, ids=lambda v: getattr(v, "__name__", v))
def test_distillation_closed_form_gradient(dtype, block_rows, loss, options, monkeypatch):
    """The distillation losses' eager gradient is the closed form, computed block by block with
    the values: equal to autodiff through the generic formulas (``torch.func`` traces them) in
    float64, masked entries and ±1e4 logits included; a retained graph's second backward is the
    same. Gradient entries of a ±1e4 row reach 2e3 and cancel (``r - Σ p r``): float32 is held
    to its resolution at the largest entry."""
    if block_rows is not None:
        monkeypatch.setattr(fused, "_BLOCK_BYTES", 5 * block_rows * torch.finfo(dtype).bits // 8)
    teacher, student = distillation_logits(torch.float64)
    if options.get("axis") == 1:  # the vocabulary on the middle axis
        teacher, student = teacher.transpose(1, 2), student.transpose(1, 2)

    def total(s: Any) -> Any:
        return loss(teacher.to(s.dtype), s, reduction="sum", **options)

    expected_grad, expected = torch.func.grad_and_value(total)(student)
    student = student.to(dtype)

    with counting(fused._RowsWithGradient) as calls:
        x = student.clone().requires_grad_(True)
        value = total(x)
        (first,) = torch.autograd.grad(value, x, retain_graph=True)
        (second,) = torch.autograd.grad(value, x)
    assert calls[0] == 1
    assert torch.equal(first, second)
    assert torch.isfinite(first).all()
    rtol, scale = TOL[dtype]["rtol"], float(expected_grad.abs().max())
    torch.testing.assert_close(value.double(), expected, rtol=rtol, atol=0.0)
    torch.testing.assert_close(first.double(), expected_grad, rtol=rtol, atol=rtol * scale)
    with torch.no_grad():  # inference: the values alone, block by block
        torch.testing.assert_close(total(student).double(), expected, rtol=rtol, atol=0.0)


@pytest.mark.parametrize("beta", [0.0, 0.4, 1.0])
def test_distillation_closed_form_gradcheck(beta):
    """gradcheck and gradgradcheck (float64): the backward's create_graph branch differentiates
    the closed form itself."""
    teacher, student = distillation_logits(torch.float64)
    student = student[:, :3].clone().requires_grad_(True)
    teacher = teacher[:, :3]

    def rows(s: Any) -> Any:
        return lk.generalized_jsd(teacher, s, beta=beta, reduction="none")

    with counting(fused._RowsWithGradient) as calls:
        assert torch.autograd.gradcheck(rows, (student,))
        assert torch.autograd.gradgradcheck(rows, (student,))
    assert calls[0] > 0


# ---------------------------------------------------------------------- fallbacks
def test_fallbacks_take_the_generic_path():
    d = data(torch.float64)
    z = d["logits"]
    soft_target = d["soft"].clone().requires_grad_(True)
    cases: list[tuple[Any, Callable[[], Any]]] = [
        # a target that needs its own gradient
        (
            fused._OverlapSums,
            lambda: lk.dice(soft_target, z, axis=1, mode="multilabel", from_logits=True),
        ),
        (
            fused._BinaryFocalLogits,
            lambda: lk.binary_focal_crossentropy(soft_target, z, from_logits=True),
        ),
        # a per-class alpha, probabilities
        (
            fused._BinaryFocalLogits,
            lambda: lk.binary_focal_crossentropy(
                d["hard"].permute(0, 2, 3, 1),
                z.permute(0, 2, 3, 1),
                from_logits=True,
                alpha=[0.1, 0.2, 0.3, 0.4],
            ),
        ),
        (
            fused._BinaryFocalLogits,
            lambda: lk.binary_focal_crossentropy(d["hard"], torch.sigmoid(z)),
        ),
        # binary mode, one pixel per image: no summed axis
        (
            fused._OverlapSums,
            lambda: lk.dice(
                d["hard"][:, 0, 0, 0],
                z[:, 0, 0, 0],
                mode="binary",
                per_image=True,
                from_logits=True,
            ),
        ),
    ]
    for function, call in cases:
        with counting(function) as calls:
            call()
        assert calls[0] == 0, call


def test_functorch_transforms_take_the_generic_path():
    d = data(torch.float64)

    def losses(z: Any, labels: Any, hard: Any) -> Any:
        return (
            lk.dice(labels, z, axis=1, from_logits=True)
            + lk.lovasz_softmax(labels, z, axis=1, from_logits=True)
            + lk.binary_focal_crossentropy(hard, z, from_logits=True)
        )

    args = (d["logits"], d["labels"], d["hard"])
    counters = [fused._OverlapSums, fused._LovaszRows, fused._BinaryFocalLogits]
    with contextlib.ExitStack() as stack:
        calls = [stack.enter_context(counting(f)) for f in counters]
        traced = torch.func.grad(losses)(*args)
        assert [c[0] for c in calls] == [0, 0, 0]
        per_image = torch.func.vmap(losses)(*(a[:, None] for a in args))
        assert [c[0] for c in calls] == [0, 0, 0]
        with torch.no_grad():  # eager: the fused paths
            expected = torch.stack([losses(*(a[i : i + 1] for a in args)) for i in range(3)])
        assert [c[0] for c in calls] == [3, 3, 3]
    z = d["logits"].clone().requires_grad_(True)
    (eager,) = torch.autograd.grad(losses(z, *args[1:]), z)
    torch.testing.assert_close(traced, eager, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(per_image, expected, rtol=1e-10, atol=1e-14)


def test_validation_still_runs_on_the_fused_paths():
    """The overlap losses check labels and NaN logits from the fused sums (one host read) and
    fall back to the full checks on a doubt: the same errors as the generic path."""
    d = data(torch.float32)
    z = d["logits"]
    for bad_label in (9, -1):
        bad = d["labels"].clone()
        bad[0, 0, 0] = bad_label
        for options in ({}, {"per_image": True}, {"ignore_index": 255}):
            with pytest.raises(ValueError, match="class indices"):
                lk.dice(bad, z, axis=1, from_logits=True, **options)
            with generic_path(), pytest.raises(ValueError, match="class indices"):
                lk.dice(bad, z, axis=1, from_logits=True, **options)
    nan = z.clone()
    nan[1, 2, 3, 4] = float("nan")
    for loss in (lk.dice, lk.generalized_dice):
        with pytest.raises(ValueError, match="NaN"):
            loss(d["labels"], nan, axis=1, from_logits=True)
    infinite = z.clone()
    infinite[1, 2, 3, 4] = float("inf")  # not an input error: the loss is NaN, as generic
    assert torch.isnan(lk.dice(d["labels"], infinite, axis=1, from_logits=True))
    with lk.validation(False):  # unchecked: an out-of-range label is in no class
        bad = d["labels"].clone()
        bad[0, 0, 0] = 9
        value = lk.dice(bad, z, axis=1, from_logits=True)
        with generic_path():
            torch.testing.assert_close(value, lk.dice(bad, z, axis=1, from_logits=True))
    with pytest.raises(ValueError, match="NaN"):
        lk.binary_focal_crossentropy(d["hard"], d["logits"] * float("nan"), from_logits=True)


@pytest.mark.slow
def test_torch_compile_fullgraph_of_the_fused_losses_in_subprocess():
    script = Path(__file__).parent / "scripts" / "torch_compile_check.py"
    code = f"import runpy; runpy.run_path({str(script)!r})['check_fused']()"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("compiled-fused ") == 7
