"""Parity with ``torch.nn.functional``: values and autograd gradients, float32 and float64.

The reference numbers always come from torch itself. Where losskit documents a different
semantics (weighted means, class weights together with label smoothing, an all-ignored batch),
the test pins losskit to a reference *built from torch's own outputs* and checks the documented
difference explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import losskit as lk  # noqa: E402
from conftest import get_backend  # noqa: E402

TOL = {"float32": {"rtol": 1e-5, "atol": 1e-6}, "float64": {"rtol": 1e-10, "atol": 1e-12}}
REDUCTIONS = ["mean", "sum", "none"]


def _tensor(x: Any, dtype: str) -> Any:
    return torch.as_tensor(np.asarray(x)).to(getattr(torch, dtype))


def _value_and_grad(fn: Callable[[Any], Any], x: Any, cotangent: np.ndarray | None) -> tuple:
    x = x.detach().clone().requires_grad_(True)
    out = fn(x)
    cot = torch.ones_like(out) if cotangent is None else torch.as_tensor(cotangent, dtype=out.dtype)
    (g,) = torch.autograd.grad(out, x, grad_outputs=cot)
    return out.detach().numpy(), g.numpy()


def _assert_parity(
    ours: Callable[[Any], Any],
    theirs: Callable[[Any], Any],
    x: Any,
    dtype: str,
    grad_tol: dict[str, float] | None = None,
) -> None:
    """Values and vector-Jacobian products (same random cotangent) agree."""
    with torch.no_grad():
        shape = tuple(theirs(x).shape)
    cotangent = None if shape == () else np.random.default_rng(7).uniform(0.5, 1.5, shape)
    value, grad = _value_and_grad(ours, x, cotangent)
    ref_value, ref_grad = _value_and_grad(theirs, x, cotangent)
    assert value.shape == ref_value.shape
    np.testing.assert_allclose(value, ref_value, **TOL[dtype])
    np.testing.assert_allclose(grad, ref_grad, **(grad_tol or TOL[dtype]))
    assert np.all(np.isfinite(grad))


def _binary_data(dtype: str, n: int = 5, c: int = 3, scale: float = 4.0) -> tuple:
    rng = np.random.default_rng(0)
    y = rng.uniform(0.0, 1.0, (n, c))
    y[0] = [0.0, 1.0, 1.0]
    z = rng.normal(0.0, scale, (n, c))
    z[1] = [30.0, -30.0, 0.0]  # confidently wrong, confidently right, exactly 0
    return _tensor(y, dtype), _tensor(z, dtype)


def _index_data(dtype: str, ignore: int | None = None) -> tuple:
    rng = np.random.default_rng(1)
    n, c, d1, d2 = 3, 4, 2, 5
    z = rng.normal(0.0, 2.0, (n, c, d1, d2))
    labels = rng.integers(0, c, (n, d1, d2))
    if ignore is not None:
        labels[0, 0, :3] = ignore
        labels[2, 1, 1] = ignore
    return torch.as_tensor(labels), _tensor(z, dtype)


# ------------------------------------------------------------------ binary, from logits
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits(dtype: str, reduction: str) -> None:
    y, z = _binary_data(dtype)
    _assert_parity(
        lambda t: lk.binary_crossentropy(y, t, from_logits=True, reduction=reduction),
        lambda t: F.binary_cross_entropy_with_logits(t, y, reduction=reduction),
        z,
        dtype,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_bce_with_logits_pos_weight(dtype: str, reduction: str, smoothing: float) -> None:
    y, z = _binary_data(dtype)
    pos_weight = _tensor([0.5, 2.0, 3.5], dtype)  # one per class of the (N, C) input
    smoothed = y * (1.0 - smoothing) + 0.5 * smoothing  # torch has no smoothing argument
    _assert_parity(
        lambda t: lk.binary_crossentropy(
            y,
            t,
            from_logits=True,
            pos_weight=pos_weight,
            label_smoothing=smoothing,
            reduction=reduction,
        ),
        lambda t: F.binary_cross_entropy_with_logits(
            t, smoothed, pos_weight=pos_weight, reduction=reduction
        ),
        z,
        dtype,
    )


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("per_sample", [True, False])
def test_bce_sample_weight_matches_torch_weight(
    dtype: str, from_logits: bool, per_sample: bool
) -> None:
    """torch's ``weight`` rescales elementwise; its ``mean`` divides by N (losskit: Σw).

    So torch ``none``/``sum`` ↔ losskit ``none``/``sum``, torch ``mean`` ↔ losskit
    ``sum_over_batch_size``, and losskit ``mean`` ↔ torch ``sum`` / Σw.
    """
    y, z = _binary_data(dtype)
    x = z if from_logits else torch.sigmoid(z).clamp(0.02, 0.98).detach()
    rng = np.random.default_rng(3)
    n, c = y.shape
    # (N,) per sample: losskit expands a prefix shape on the right, torch needs (N, 1).
    w_np = rng.uniform(0.1, 2.0, (n,) if per_sample else (n, c))
    w_lk = _tensor(w_np, dtype)
    w_torch = w_lk[:, None] if per_sample else w_lk
    ref = F.binary_cross_entropy_with_logits if from_logits else F.binary_cross_entropy

    def ours(reduction: str) -> Callable[[Any], Any]:
        return lambda t: lk.binary_crossentropy(
            y, t, from_logits=from_logits, sample_weight=w_lk, reduction=reduction
        )

    def theirs(reduction: str) -> Callable[[Any], Any]:
        return lambda t: ref(t, y, weight=w_torch, reduction=reduction)

    _assert_parity(ours("none"), theirs("none"), x, dtype)
    _assert_parity(ours("sum"), theirs("sum"), x, dtype)
    _assert_parity(ours("sum_over_batch_size"), theirs("mean"), x, dtype)
    total_weight = torch.broadcast_to(w_torch, y.shape).sum()
    _assert_parity(ours("mean"), lambda t: theirs("sum")(t) / total_weight, x, dtype)
    # the documented difference is real: losskit's mean is not torch's weighted mean
    with torch.no_grad():
        assert not np.isclose(float(ours("mean")(x)), float(theirs("mean")(x)), rtol=1e-3)


# ------------------------------------------------------------------ binary, from probabilities
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_probabilities_interior(dtype: str, reduction: str) -> None:
    rng = np.random.default_rng(4)
    y = _tensor(rng.uniform(0.0, 1.0, (4, 3)), dtype)
    p = _tensor(rng.uniform(0.01, 0.99, (4, 3)), dtype)
    _assert_parity(
        lambda t: lk.binary_crossentropy(y, t, reduction=reduction),
        lambda t: F.binary_cross_entropy(t, y, reduction=reduction),
        p,
        dtype,
    )


#: torch's slope bound is the float32 constant 1e-12 (9.99999996e-13), also in float64.
TORCH_BOUND_RTOL = 1e-8
#: (y, p) at the boundary of [0, 1] where torch's fused backward, ``(p - y) / max(p(1-p), 1e-12)``,
#: is the per-term slope bound: logs clamped at -100, slopes at 1e12.
BOUNDARY = [(1.0, 0.0), (0.0, 1.0), (0.5, 0.0), (0.5, 1.0), (0.3, 0.0), (0.7, 1.0)]
#: p equal to a hard target: the loss is 0; torch's fused backward gives 0 there, losskit the
#: derivative of the only active log term, -1/p at (1, 1) and 1/(1-p) at (0, 0) (documented).
AT_TARGET = [(1.0, 1.0), (0.0, 0.0)]


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_bce_probabilities_at_zero_and_one(dtype: str, reduction: str) -> None:
    y = _tensor([b[0] for b in BOUNDARY], dtype)
    p = _tensor([b[1] for b in BOUNDARY], dtype)
    _assert_parity(
        lambda t: lk.binary_crossentropy(y, t, reduction=reduction),
        lambda t: F.binary_cross_entropy(t, y, reduction=reduction),
        p,
        dtype,
        grad_tol={"rtol": max(TOL[dtype]["rtol"], TORCH_BOUND_RTOL), "atol": 0.0},
    )
    value, grad = _value_and_grad(lambda t: lk.binary_crossentropy(y, t, reduction="none"), p, None)
    assert value[0] == pytest.approx(100.0) and value[1] == pytest.approx(100.0)  # clamp at -100
    assert grad[0] == pytest.approx(-1e12) and grad[1] == pytest.approx(1e12)  # slope bound


def _bce_probs_grad(variant: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    be = get_backend("torch" if variant.startswith("torch") else variant)
    pos_weight = be.array(np.ones(len(y))) if variant == "torch_pos_weight_ones" else None
    return be.to_numpy(
        be.grad(
            lambda t: lk.binary_crossentropy(
                be.array(y), t, pos_weight=pos_weight, reduction="sum"
            ),
            be.array(p),
        )
    )


@pytest.mark.parametrize("variant", ["torch", "torch_pos_weight_ones", "jax", "tensorflow"])
def test_bce_probabilities_boundary_gradient_every_backend(variant: str) -> None:
    """Every backend (and the pos_weight path) has the same gradient at p in {0, 1}.

    It is torch's where torch's fused formula bounds a slope; at p equal to a hard target it is
    the active term's derivative (torch: 0, the documented difference).
    """
    points = BOUNDARY + AT_TARGET
    y = np.array([b[0] for b in points])
    p = np.array([b[1] for b in points])
    pt = torch.as_tensor(p).requires_grad_(True)
    (ref,) = torch.autograd.grad(
        F.binary_cross_entropy(pt, torch.as_tensor(y), reduction="sum"), pt
    )
    ref = ref.numpy().copy()
    k = len(BOUNDARY)
    np.testing.assert_array_equal(ref[k:], [0.0, 0.0])  # torch's fused backward at p == y
    # the active term alone, differentiated by torch: -log p at p = 1, -log(1 - p) at p = 0
    one = torch.ones((), dtype=torch.float64, requires_grad=True)
    zero = torch.zeros((), dtype=torch.float64, requires_grad=True)
    ref[k] = torch.autograd.grad(-torch.log(one), one)[0].item()
    ref[k + 1] = torch.autograd.grad(-torch.log1p(-zero), zero)[0].item()
    np.testing.assert_allclose(_bce_probs_grad(variant, y, p), ref, rtol=TORCH_BOUND_RTOL, atol=0)


# ------------------------------------------------------------------ cross-entropy, index targets
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"ignore_index": -100},
        {"ignore_index": 1},
        {"label_smoothing": 0.1},
        {"label_smoothing": 0.25, "ignore_index": -100},
        {"class_weight": [0.2, 1.0, 2.5, 0.7]},
        {"class_weight": [0.2, 1.0, 2.5, 0.7], "ignore_index": -100},
    ],
    ids=["plain", "ignore-100", "ignore1", "smooth", "smooth+ignore", "weight", "weight+ignore"],
)
def test_cross_entropy_index_targets(dtype: str, reduction: str, options: dict) -> None:
    ignore = options.get("ignore_index")
    labels, z = _index_data(dtype, ignore if ignore is not None and ignore < 0 else None)
    kwargs: dict[str, Any] = {}
    if "class_weight" in options:
        kwargs["weight"] = _tensor(options["class_weight"], dtype)
    if ignore is not None:
        kwargs["ignore_index"] = ignore
    if "label_smoothing" in options:
        kwargs["label_smoothing"] = options["label_smoothing"]
    ours_kwargs = dict(options)
    if "class_weight" in options:
        ours_kwargs["class_weight"] = kwargs["weight"]
    _assert_parity(
        lambda t: lk.sparse_categorical_crossentropy(
            labels, t, from_logits=True, axis=1, reduction=reduction, **ours_kwargs
        ),
        lambda t: F.cross_entropy(t, labels, reduction=reduction, **kwargs),
        z,
        dtype,
    )


@pytest.mark.parametrize("ignore_index", [None, -100])
def test_cross_entropy_class_weight_with_smoothing_documented_difference(
    dtype: str, ignore_index: int | None
) -> None:
    """No torch parity with both options: torch weights the smoothing term per class.

    losskit multiplies each sample's *whole* smoothed loss by ``w[y]`` (weights taken before
    smoothing), so it equals the ``w[y]``-weighted mean of torch's *unweighted* smoothed loss.
    """
    labels, z = _index_data(dtype, ignore_index)
    weight = _tensor([0.2, 1.0, 2.5, 0.7], dtype)
    eps = 0.3
    extra = {} if ignore_index is None else {"ignore_index": ignore_index}
    valid = labels != -100
    w_y = torch.where(valid, weight[labels.clamp(min=0)], torch.zeros((), dtype=weight.dtype))

    def reference(t: Any) -> Any:
        per_sample = F.cross_entropy(t, labels, label_smoothing=eps, reduction="none", **extra)
        return (w_y * per_sample).sum() / w_y.sum()

    def ours(t: Any) -> Any:
        return lk.sparse_categorical_crossentropy(
            labels,
            t,
            from_logits=True,
            axis=1,
            class_weight=weight,
            label_smoothing=eps,
            **extra,
        )

    _assert_parity(ours, reference, z, dtype)
    with torch.no_grad():
        torch_value = F.cross_entropy(z, labels, weight=weight, label_smoothing=eps, **extra)
        assert not np.isclose(float(ours(z)), float(torch_value), rtol=1e-3)
        # one-hot targets give the same number in losskit (torch's probability-target path
        # would not: it divides by N instead of Σ w[y])
        if ignore_index is None:
            onehot = F.one_hot(labels, 4).movedim(-1, 1).to(z.dtype)
            same = lk.categorical_crossentropy(
                onehot, z, from_logits=True, axis=1, class_weight=weight, label_smoothing=eps
            )
            np.testing.assert_allclose(same.numpy(), ours(z).numpy(), **TOL[dtype])


def test_cross_entropy_all_ignored_is_zero_not_nan(dtype: str) -> None:
    labels, z = _index_data(dtype)
    labels = torch.full_like(labels, -100)
    value, grad = _value_and_grad(
        lambda t: lk.sparse_categorical_crossentropy(
            labels, t, from_logits=True, axis=1, ignore_index=-100
        ),
        z,
        None,
    )
    ref_value, ref_grad = _value_and_grad(
        lambda t: F.cross_entropy(t, labels, ignore_index=-100), z, None
    )
    assert np.isnan(ref_value)  # torch: 0/0 (the documented difference)
    assert value == 0.0 and not np.isnan(value)
    assert np.all(grad == 0.0)
    np.testing.assert_array_equal(grad, ref_grad)  # both gradients are exactly zero
    # with class weights as well (denominator Σ w[y] over an empty set)
    weighted = lk.sparse_categorical_crossentropy(
        labels,
        z,
        from_logits=True,
        axis=1,
        ignore_index=-100,
        class_weight=_tensor([1.0, 2.0, 3.0, 4.0], dtype),
    )
    assert float(weighted) == 0.0


# ------------------------------------------------------------ cross-entropy, probability targets
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
def test_cross_entropy_probability_targets(dtype: str, reduction: str, smoothing: float) -> None:
    rng = np.random.default_rng(5)
    _, z = _index_data(dtype)
    target = torch.softmax(_tensor(rng.normal(0.0, 1.5, tuple(z.shape)), dtype), dim=1)
    _assert_parity(
        lambda t: lk.categorical_crossentropy(
            target, t, from_logits=True, axis=1, label_smoothing=smoothing, reduction=reduction
        ),
        lambda t: F.cross_entropy(t, target, label_smoothing=smoothing, reduction=reduction),
        z,
        dtype,
    )


def test_cross_entropy_onehot_targets_with_class_weight(dtype: str) -> None:
    """One-hot probability targets + ``weight``: none/sum agree; torch's mean divides by N."""
    labels, z = _index_data(dtype)
    onehot = F.one_hot(labels, 4).movedim(-1, 1).to(z.dtype)
    weight = _tensor([0.2, 1.0, 2.5, 0.7], dtype)

    def ours(reduction: str) -> Callable[[Any], Any]:
        return lambda t: lk.categorical_crossentropy(
            onehot, t, from_logits=True, axis=1, class_weight=weight, reduction=reduction
        )

    def theirs(reduction: str) -> Callable[[Any], Any]:
        return lambda t: F.cross_entropy(t, onehot, weight=weight, reduction=reduction)

    _assert_parity(ours("none"), theirs("none"), z, dtype)
    _assert_parity(ours("sum"), theirs("sum"), z, dtype)
    # losskit's mean divides by Σ w[y] like torch's *index*-target path
    _assert_parity(ours("mean"), lambda t: F.cross_entropy(t, labels, weight=weight), z, dtype)
    with torch.no_grad():
        assert not np.isclose(float(ours("mean")(z)), float(theirs("mean")(z)), rtol=1e-3)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sparse_from_probabilities_matches_nll_of_log(dtype: str, reduction: str) -> None:
    labels, z = _index_data(dtype, -100)
    p = torch.softmax(z, dim=1).detach()
    _assert_parity(
        lambda t: lk.sparse_categorical_crossentropy(
            labels, t, axis=1, ignore_index=-100, reduction=reduction
        ),
        lambda t: F.nll_loss(torch.log(t), labels, ignore_index=-100, reduction=reduction),
        p,
        dtype,
    )


# ------------------------------------------------------------------ mean squared error
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss(dtype: str, reduction: str) -> None:
    rng = np.random.default_rng(6)
    y = _tensor(rng.normal(size=(4, 3, 2)), dtype)
    x = _tensor(rng.normal(size=(4, 3, 2)), dtype)
    _assert_parity(
        lambda t: lk.mean_squared_error(y, t, reduction=reduction),
        lambda t: F.mse_loss(t, y, reduction=reduction),
        x,
        dtype,
    )
    # gradient with respect to the target too
    _assert_parity(
        lambda t: lk.mean_squared_error(t, x, reduction=reduction),
        lambda t: F.mse_loss(x, t, reduction=reduction),
        y,
        dtype,
    )


# ------------------------------------------------------------------ gradcheck (float64)
def _gradcheck_cases() -> dict[str, tuple[Callable[[Any], Any], Any]]:
    rng = np.random.default_rng(8)
    y = torch.as_tensor(rng.uniform(0.0, 1.0, (3, 4)))
    labels = torch.as_tensor(rng.integers(0, 4, (3, 2)))
    labels[0, 1] = -100
    soft = torch.softmax(torch.as_tensor(rng.normal(size=(3, 4, 2))), dim=1)
    w = torch.as_tensor(rng.uniform(0.5, 2.0, (3,)))
    cw = torch.as_tensor([0.5, 1.0, 2.0, 1.5])
    logits = torch.as_tensor(rng.normal(0.0, 2.0, (3, 4)))
    logits3 = torch.as_tensor(rng.normal(0.0, 2.0, (3, 4, 2)))
    probs = torch.as_tensor(rng.uniform(0.1, 0.9, (3, 4)))
    probs3 = torch.softmax(logits3, dim=1) * 0.8 + 0.05  # interior; rows sum to 0.8 + 4·0.05 = 1
    return {
        "bce_logits": (
            lambda t: lk.binary_crossentropy(
                y, t, from_logits=True, pos_weight=cw, label_smoothing=0.1, sample_weight=w
            ),
            logits,
        ),
        "bce_probs": (lambda t: lk.binary_crossentropy(y, t, sample_weight=w), probs),
        "bce_probs_pos_weight": (
            lambda t: lk.binary_crossentropy(y, t, pos_weight=cw, reduction="sum"),
            probs,
        ),
        "cce_logits": (
            lambda t: lk.categorical_crossentropy(
                soft, t, from_logits=True, axis=1, label_smoothing=0.1, class_weight=cw
            ),
            logits3,
        ),
        "cce_probs": (
            lambda t: lk.categorical_crossentropy(soft, t, axis=1, label_smoothing=0.1),
            probs3,
        ),
        "scce_logits": (
            lambda t: lk.sparse_categorical_crossentropy(
                labels,
                t,
                from_logits=True,
                axis=1,
                ignore_index=-100,
                class_weight=cw,
                label_smoothing=0.2,
            ),
            logits3,
        ),
        "scce_probs": (
            lambda t: lk.sparse_categorical_crossentropy(
                labels, t, axis=1, ignore_index=-100, label_smoothing=0.2
            ),
            probs3,
        ),
        "mse": (lambda t: lk.mean_squared_error(y, t, sample_weight=w), logits),
    }


GRADCHECK = list(_gradcheck_cases())


@pytest.mark.parametrize("case", GRADCHECK)
def test_gradcheck(case: str) -> None:
    fn, x0 = _gradcheck_cases()[case]
    x = x0.detach().clone().requires_grad_(True)
    with lk.validation(False):  # perturbed probabilities no longer sum to 1 exactly
        assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("case", GRADCHECK)
def test_gradgradcheck(case: str) -> None:
    fn, x0 = _gradcheck_cases()[case]
    x = x0.detach().clone().requires_grad_(True)
    with lk.validation(False):
        assert torch.autograd.gradgradcheck(fn, (x,), eps=1e-6, atol=1e-6, rtol=1e-5)
