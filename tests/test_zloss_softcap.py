"""z-loss and logit soft-capping on the cross-entropies from logits.

``sparse_categorical_crossentropy``, ``categorical_crossentropy`` and ``linear_cross_entropy``
take ``z_loss=ζ`` (PaLM: ``ζ·logsumexp(z)²`` added to each position's loss) and ``softcap=c``
(Gemma 2: logits replaced by ``c·tanh(z / c)`` before the softmax). The references here are
written from that mathematics only:

* values: each row in mpmath at 40 digits, ``-Σ_k y_k (z̃_k - lse(z̃)) + ζ lse(z̃)²`` with
  ``z̃ = c tanh(z / c)``, then the reduction contract written out in NumPy;
* gradients: the closed form ``(softmax(z̃)(1 + 2ζ lse) - y)·(1 - tanh²(z / c))`` in NumPy
  float64, checked itself against central differences of the mpmath reference;
* ``linear_cross_entropy``: the chunked kernels against the plain (unchunked) path, and against
  the sparse cross-entropy of the explicit logits, values and gradients of hidden, weight and
  bias, for every option.

With both options off the default path must be untouched: its result is compared bit for bit
with the backend primitive it used before the options existed.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import mpmath
import numpy as np
import pytest

import losskit as lk
from conftest import AUTODIFF_BACKENDS, get_backend, tolerance

N, K = 7, 5
SPARSE, CATEGORICAL = "sparse_categorical_crossentropy", "categorical_crossentropy"
LOSSES = (SPARSE, CATEGORICAL)
REDUCTIONS = ("none", "mean", "sum", "sum_over_batch_size")
GRAD32 = {"rtol": 1e-5, "atol": 1e-7}

#: (z_loss, softcap, label_smoothing): every combination of off / PaLM-like / strong.
GRID = list(itertools.product((0.0, 1e-4, 0.05), (None, 30.0, 1.5), (0.0, 0.1)))


def _grid_id(option: tuple[float, float | None, float]) -> str:
    return "z{}-cap{}-eps{}".format(*option)


# ---------------------------------------------------------------------- data
def _data(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, K, N)
    labels[2] = -100
    soft = rng.dirichlet(np.ones(K), N)
    return {
        "logits": rng.normal(0.0, 3.0, (N, K)),
        "labels": labels,
        "soft": soft,
        "class_weight": rng.uniform(0.5, 2.0, K),
        "sample_weight": rng.uniform(0.0, 2.0, N),
        "mask": np.array([True, True, False, True, True, False, True]),
        "cotangent": rng.uniform(-1.0, 2.0, N),
    }


def _targets(data: dict[str, np.ndarray], loss: str, ignore: bool) -> tuple[np.ndarray, Any]:
    """The target argument of ``loss`` and the valid rows (None: every row counts)."""
    if loss == CATEGORICAL:
        return data["soft"], None
    labels = data["labels"] if ignore else np.where(data["labels"] < 0, 1, data["labels"])
    return labels, (labels != -100 if ignore else None)


def _distribution(data: dict[str, np.ndarray], loss: str, targets: np.ndarray) -> np.ndarray:
    """Target rows as distributions over the classes (ignored labels as class 0)."""
    if loss == CATEGORICAL:
        return np.asarray(targets, dtype=np.float64)
    return np.eye(K)[np.where(targets < 0, 0, targets)]


# ---------------------------------------------------------------------- references
def reference_rows(logits: np.ndarray, target: np.ndarray, z_loss: float, cap: Any) -> np.ndarray:
    """``-Σ_k y_k (z̃_k - lse(z̃)) + ζ lse(z̃)²`` per row, ``z̃ = c tanh(z / c)``, in mpmath."""
    out = np.empty(logits.shape[0])
    with mpmath.workdps(40):
        for i in range(logits.shape[0]):
            z = [mpmath.mpf(float(v)) for v in logits[i]]
            if cap is not None:
                c = mpmath.mpf(cap)
                z = [c * mpmath.tanh(v / c) for v in z]
            lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in z))
            ce = -mpmath.fsum(
                mpmath.mpf(float(y)) * (v - lse) for y, v in zip(target[i], z, strict=True)
            )
            out[i] = float(ce + mpmath.mpf(z_loss) * lse**2)
    return out


def smoothed(target: np.ndarray, epsilon: float) -> np.ndarray:
    return (1.0 - epsilon) * target + epsilon / target.shape[-1]


def row_weights(
    data: dict[str, np.ndarray], target: np.ndarray, valid: Any, class_weight: bool, weights: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The contract's per-row weights and the rows that count (class weights from the targets
    before smoothing)."""
    w = np.ones(N)
    keep = np.ones(N, bool) if valid is None else np.asarray(valid, bool)
    if class_weight:
        w = w * (target @ data["class_weight"])
    if weights:
        w = w * data["sample_weight"]
        keep = keep & data["mask"]
    return w, keep


def reduce_reference(rows: np.ndarray, w: np.ndarray, keep: np.ndarray, reduction: str) -> Any:
    weighted = np.where(keep, w * rows, 0.0)
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    if reduction == "sum_over_batch_size":
        return weighted.sum() / max(keep.sum(), 1)
    denominator = np.where(keep, w, 0.0).sum()
    return weighted.sum() / denominator if denominator else 0.0


def reference_gradient(
    logits: np.ndarray, target: np.ndarray, z_loss: float, cap: Any, coef: np.ndarray
) -> np.ndarray:
    """``coef_i · ∂ℓ_i/∂z`` in closed form: ``(softmax(z̃)(1 + 2ζ lse(z̃)) - y)·(1 - tanh²(z/c))``
    (the target rows sum to 1)."""
    z = logits if cap is None else cap * np.tanh(logits / cap)
    top = z.max(-1, keepdims=True)
    lse = top + np.log(np.exp(z - top).sum(-1, keepdims=True))
    grad = np.exp(z - lse) * (1.0 + 2.0 * z_loss * lse) - target
    if cap is not None:
        grad = grad * (1.0 - np.tanh(logits / cap) ** 2)
    return coef[:, None] * grad


# ---------------------------------------------------------------------- calling losskit
def _call(backend: Any, loss: str, data: dict, dtype: str, targets: np.ndarray, **kw: Any) -> Any:
    kw = {k: (backend.array(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    target = backend.array(targets, dtype if loss == CATEGORICAL else None)
    return lk.get(loss)(target, backend.array(data["logits"], dtype), from_logits=True, **kw)


def _keywords(data: dict, option: tuple, class_weight: bool, weights: bool, ignore: bool) -> dict:
    z_loss, cap, epsilon = option
    kw: dict[str, Any] = {"z_loss": z_loss, "softcap": cap, "label_smoothing": epsilon}
    if class_weight:
        kw["class_weight"] = data["class_weight"]
    if weights:
        kw["sample_weight"] = data["sample_weight"]
        kw["mask"] = data["mask"]
    if ignore:
        kw["ignore_index"] = -100
    return kw


# ---------------------------------------------------------------------- values, every backend
@pytest.mark.parametrize("option", GRID, ids=_grid_id)
@pytest.mark.parametrize("loss", LOSSES)
def test_values_match_the_float64_reference(backend, dtype, loss: str, option: tuple) -> None:
    data = _data(0)
    z_loss, cap, epsilon = option
    rounded = data["logits"].astype(dtype).astype(np.float64)
    for class_weight, weights, ignore in ((False, False, False), (True, True, True)):
        targets, valid = _targets(data, loss, ignore)
        if loss == CATEGORICAL:
            targets = targets.astype(dtype).astype(np.float64)
        dist = _distribution(data, loss, targets)
        rows = reference_rows(rounded, smoothed(dist, epsilon), z_loss, cap)
        w, keep = row_weights(data, dist, valid, class_weight, weights)
        kw = _keywords(data, option, class_weight, weights, ignore and loss == SPARSE)
        for reduction in REDUCTIONS:
            got = _call(backend, loss, data, dtype, targets, reduction=reduction, **kw)
            want = reduce_reference(rows, w, keep, reduction)
            np.testing.assert_allclose(
                np.asarray(backend.to_numpy(got), dtype=np.float64),
                want,
                **tolerance(dtype),
                err_msg=f"{reduction} class_weight={class_weight} weights={weights}",
            )


@pytest.mark.parametrize("loss", LOSSES)
def test_channels_first_axis(backend, loss: str) -> None:
    """``axis=1`` on ``(N, C, T)`` logits: the options act along the class axis."""
    rng = np.random.default_rng(3)
    logits = rng.normal(0.0, 4.0, (3, K, 2))
    labels = rng.integers(0, K, (3, 2))
    classes_last = np.moveaxis(logits, 1, -1).reshape(-1, K)
    target = np.eye(K)[labels.reshape(-1)]
    want = reference_rows(classes_last, target, 0.01, 2.0).reshape(3, 2)
    y = labels if loss == SPARSE else np.moveaxis(np.eye(K)[labels], -1, 1)
    got = lk.get(loss)(
        backend.array(y),
        backend.array(logits),
        from_logits=True,
        z_loss=0.01,
        softcap=2.0,
        axis=1,
        reduction="none",
    )
    np.testing.assert_allclose(backend.to_numpy(got), want, **tolerance("float64"))


# ---------------------------------------------------------------------- the default path
def _plain_formula(loss: str, targets: Any, logits: Any, fused: str) -> Any:
    """What the loss computed before it had the options: the backend's own primitives."""
    from losskit._backend import backend_of

    kernel = backend_of(logits)
    if loss == SPARSE:
        labels = kernel.astype(targets, kernel.index_dtype)
        return kernel.sparse_crossentropy_logits(labels, logits, 0.1, fused)
    smooth = targets * 0.9 + 0.1 / K
    fused_rows = getattr(kernel, "softmax_crossentropy", None)  # a backend's fused Σ y·log p
    rows = fused_rows(smooth, logits) if fused_rows is not None else None
    if rows is None:
        rows = kernel.sum_times_log(smooth, kernel.log_softmax(logits, axis=-1), axis=-1)
    if fused == "none":
        return -rows
    total = -kernel.xp.sum(rows)
    return total / N if fused == "mean" else total


@pytest.mark.parametrize("loss", LOSSES)
def test_defaults_are_the_plain_formula_bit_for_bit(backend, dtype, loss: str) -> None:
    """``z_loss=0`` and ``softcap=None`` (given or left out) run the pre-existing kernels: the
    same bits as the backend's primitive, and the float64 truth within the contract."""
    data = _data(1)
    targets, _ = _targets(data, loss, ignore=False)
    dist = _distribution(data, loss, targets)
    rounded = data["logits"].astype(dtype).astype(np.float64)
    if loss == CATEGORICAL:
        dist = targets.astype(dtype).astype(np.float64)
    truth = reference_rows(rounded, smoothed(dist, 0.1), 0.0, None)
    for reduction in ("none", "mean", "sum"):
        kw = {"label_smoothing": 0.1, "reduction": reduction}
        omitted = _call(backend, loss, data, dtype, targets, **kw)
        given = _call(backend, loss, data, dtype, targets, z_loss=0.0, softcap=None, **kw)
        logits = backend.array(data["logits"], dtype)
        target = backend.array(targets, dtype if loss == CATEGORICAL else None)
        plain = _plain_formula(loss, target, logits, reduction)
        assert np.array_equal(backend.to_numpy(omitted), backend.to_numpy(plain)), reduction
        assert np.array_equal(backend.to_numpy(omitted), backend.to_numpy(given)), reduction
        want = reduce_reference(truth, np.ones(N), np.ones(N, bool), reduction)
        np.testing.assert_allclose(backend.to_numpy(omitted), want, **tolerance(dtype))


def test_defaults_keep_torch_gradients_bit_for_bit() -> None:
    torch = pytest.importorskip("torch")
    data = _data(2)
    labels = torch.as_tensor(np.where(data["labels"] < 0, 1, data["labels"]))
    grads = []
    for kw in ({}, {"z_loss": 0.0, "softcap": None}):
        z = torch.tensor(data["logits"], dtype=torch.float32, requires_grad=True)
        lk.sparse_categorical_crossentropy(labels, z, from_logits=True, **kw).backward()
        grads.append(z.grad)
    assert torch.equal(grads[0], grads[1])


# ---------------------------------------------------------------------- gradients
def test_the_closed_form_gradient_is_the_derivative_of_the_reference() -> None:
    """The gradient reference itself, against central differences of the mpmath rows."""
    data = _data(4)
    target = smoothed(np.eye(K)[np.abs(data["labels"]) % K], 0.1)
    coef = data["cotangent"]
    for z_loss, cap in ((0.05, None), (0.0, 1.5), (0.05, 1.5), (1e-4, 30.0)):
        closed = reference_gradient(data["logits"], target, z_loss, cap, coef)
        step = 1e-6
        numeric = np.empty_like(closed)
        for i, k in itertools.product(range(N), range(K)):
            plus, minus = data["logits"].copy(), data["logits"].copy()
            plus[i, k] += step
            minus[i, k] -= step
            diff = reference_rows(plus, target, z_loss, cap) - reference_rows(
                minus, target, z_loss, cap
            )
            numeric[i, k] = coef[i] * diff[i] / (2 * step)
        np.testing.assert_allclose(closed, numeric, rtol=1e-7, atol=1e-9)


def _gradient(backend: Any, loss: str, data: dict, targets: np.ndarray, kw: dict) -> np.ndarray:
    """d/dz of ``Σ cotangent·ℓ`` (``reduction="none"``) with the framework's autodiff."""
    cot = backend.array(data["cotangent"])
    target = backend.array(targets, "float64" if loss == CATEGORICAL else None)

    def scalar(z: Any) -> Any:
        out = lk.get(loss)(target, z, from_logits=True, reduction="none", **kw)
        return (out * cot).sum() if hasattr(out, "sum") else _tf_sum(out * cot)

    return np.asarray(backend.to_numpy(backend.grad(scalar, backend.array(data["logits"]))))


def _tf_sum(x: Any) -> Any:
    import tensorflow as tf

    return tf.reduce_sum(x)


@pytest.mark.parametrize("backend_name", AUTODIFF_BACKENDS)
@pytest.mark.parametrize("option", GRID, ids=_grid_id)
@pytest.mark.parametrize("loss", LOSSES)
def test_gradients_match_the_closed_form(backend_name: str, loss: str, option: tuple) -> None:
    backend = get_backend(backend_name)
    data = _data(5)
    z_loss, cap, epsilon = option
    for class_weight, ignore in ((False, False), (True, True)):
        targets, valid = _targets(data, loss, ignore)
        dist = _distribution(data, loss, targets)
        w, keep = row_weights(data, dist, valid, class_weight, False)
        coef = np.where(keep, w * data["cotangent"], 0.0)
        want = reference_gradient(data["logits"], smoothed(dist, epsilon), z_loss, cap, coef)
        kw = _keywords(data, option, class_weight, False, ignore and loss == SPARSE)
        got = _gradient(backend, loss, data, targets, kw)
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13, err_msg=str(class_weight))


@pytest.mark.parametrize("backend_name", AUTODIFF_BACKENDS)
def test_mean_gradient_through_the_fused_reduction(backend_name: str) -> None:
    """A plain ``"mean"`` (the fused kernels' case) with both options: ``∂/∂z`` of the mean."""
    backend = get_backend(backend_name)
    data = _data(6)
    labels = np.where(data["labels"] < 0, 1, data["labels"])
    want = reference_gradient(data["logits"], np.eye(K)[labels], 0.05, 1.5, np.full(N, 1.0 / N))
    for dtype, tol in (("float64", {"rtol": 1e-11, "atol": 1e-13}), ("float32", GRAD32)):
        y = backend.array(labels)

        def mean(z: Any, y: Any = y) -> Any:
            return lk.sparse_categorical_crossentropy(y, z, from_logits=True, z_loss=0.05,
                                                      softcap=1.5)  # fmt: skip

        got = backend.grad(mean, backend.array(data["logits"], dtype))
        np.testing.assert_allclose(
            np.asarray(backend.to_numpy(got), np.float64), want, **tol, err_msg=dtype
        )


@pytest.mark.parametrize("backend_name", AUTODIFF_BACKENDS)
@pytest.mark.parametrize("loss", LOSSES)
def test_extreme_logits_give_finite_values_and_gradients(backend_name: str, loss: str) -> None:
    backend = get_backend(backend_name)
    edges = np.array([1e4, -1e4, 100.0, -100.0, 0.0, 30.0, -30.0, 17.0, -17.0, 1e-3])
    logits = np.resize(edges, (6, K))
    labels = np.arange(6) % K
    targets = labels if loss == SPARSE else np.eye(K)[labels]
    for dtype, (z_loss, cap) in itertools.product(
        ("float32", "float64"), ((1e-4, None), (0.0, 30.0), (1e-4, 30.0))
    ):
        kw = {"from_logits": True, "z_loss": z_loss, "softcap": cap}
        target = backend.array(targets, dtype if loss == CATEGORICAL else None)
        value = lk.get(loss)(target, backend.array(logits, dtype), reduction="none", **kw)
        rounded = logits.astype(dtype).astype(np.float64)
        want = reference_rows(rounded, np.eye(K)[labels], z_loss, cap)
        got = np.asarray(backend.to_numpy(value), np.float64)
        assert np.all(np.isfinite(got)), (dtype, z_loss, cap, got)
        # with a soft cap a confident row's tiny loss is a difference of capped logits, each
        # rounded to the dtype: its relative accuracy is that of the capped logits
        rtol = 1e-12 if dtype == "float64" else (1e-6 if cap is None else 1e-5)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-30, err_msg=f"{dtype} {kw}")

        def total(z: Any, target: Any = target, kw: dict = kw) -> Any:
            return lk.get(loss)(target, z, reduction="sum", **kw)

        grad = backend.to_numpy(backend.grad(total, backend.array(logits, dtype)))
        assert np.all(np.isfinite(np.asarray(grad, np.float64))), (dtype, kw)


# ---------------------------------------------------------------------- ignore_index and masks
@pytest.mark.parametrize("backend_name", AUTODIFF_BACKENDS)
def test_ignored_and_masked_positions_drop_the_z_loss_too(backend_name: str) -> None:
    """An ignored or masked row contributes neither cross-entropy nor z-loss, to the value, the
    mean's denominator or the gradient, however large its logits."""
    backend = get_backend(backend_name)
    data = _data(7)
    logits = data["logits"].copy()
    logits[2] = [1e4, -1e4, 50.0, 0.0, 1.0]  # ignored (label -100)
    logits[5] = [-3e3, 2e3, 0.0, 0.0, 7.0]  # masked
    labels = data["labels"]
    mask = np.ones(N, bool)
    mask[5] = False
    keep = (labels != -100) & mask
    y, m, z = backend.array(labels), backend.array(mask), backend.array(logits)
    target = np.eye(K)[np.where(keep, labels, 0)]
    for cap in (None, 4.0):
        kw = {"from_logits": True, "z_loss": 0.05, "softcap": cap, "ignore_index": -100}

        def mean(z: Any, kw: dict = kw) -> Any:
            return lk.sparse_categorical_crossentropy(y, z, mask=m, **kw)

        value = float(np.asarray(backend.to_numpy(mean(z))))
        want = reference_rows(logits[keep], target[keep], 0.05, cap).mean()
        np.testing.assert_allclose(value, want, rtol=1e-12)
        grad = np.asarray(backend.to_numpy(backend.grad(mean, z)))
        assert np.all(grad[~keep] == 0.0), cap
        coef = np.where(keep, 1.0 / keep.sum(), 0.0)
        expected = reference_gradient(logits, target, 0.05, cap, coef)
        np.testing.assert_allclose(grad[keep], expected[keep], rtol=1e-11, atol=1e-13)
        none = lk.sparse_categorical_crossentropy(y, z, mask=m, reduction="none", **kw)
        assert np.all(np.asarray(backend.to_numpy(none))[~keep] == 0.0), cap


def test_all_ignored_gives_zero_with_zero_gradient() -> None:
    torch = pytest.importorskip("torch")
    z = torch.randn(4, K, dtype=torch.float64, requires_grad=True)
    labels = torch.full((4,), -100)
    for reduction in REDUCTIONS:
        out = lk.sparse_categorical_crossentropy(
            labels, z, from_logits=True, ignore_index=-100, z_loss=0.1, softcap=2.0,
            reduction=reduction,
        )  # fmt: skip
        assert torch.all(out == 0.0)
        (grad,) = torch.autograd.grad(out.sum(), z)
        assert torch.all(grad == 0.0)


# ---------------------------------------------------------------------- traced
def test_under_jax_jit_and_tf_function() -> None:
    jax = pytest.importorskip("jax")
    tf = pytest.importorskip("tensorflow")
    data = _data(8)
    labels = np.where(data["labels"] < 0, 1, data["labels"])
    want = reference_rows(data["logits"], np.eye(K)[labels], 1e-3, 3.0).mean()
    kw = {"from_logits": True, "z_loss": 1e-3, "softcap": 3.0}

    def loss(z: Any, y: Any) -> Any:
        return lk.sparse_categorical_crossentropy(y, z, **kw)

    got = jax.jit(loss)(jax.numpy.asarray(data["logits"]), jax.numpy.asarray(labels))
    np.testing.assert_allclose(float(got), want, rtol=1e-12)
    traced = tf.function(loss)(tf.constant(data["logits"]), tf.constant(labels))
    np.testing.assert_allclose(float(traced), want, rtol=1e-12)


def test_torch_module_takes_the_options() -> None:
    torch = pytest.importorskip("torch")
    import losskit.torch as lkt

    data = _data(9)
    labels = np.where(data["labels"] < 0, 1, data["labels"])
    module = lkt.SparseCategoricalCrossentropy(from_logits=True, z_loss=1e-3, softcap=3.0)
    got = module(torch.tensor(data["logits"]), torch.as_tensor(labels))
    want = reference_rows(data["logits"], np.eye(K)[labels], 1e-3, 3.0).mean()
    np.testing.assert_allclose(float(got), want, rtol=1e-12)


# ---------------------------------------------------------------------- validation
BAD_Z_LOSS = [(-1e-4, ValueError), (math.nan, ValueError), (math.inf, ValueError),
              ("1e-4", TypeError), (True, TypeError), (None, TypeError)]  # fmt: skip
BAD_SOFTCAP = [(0.0, ValueError), (-30.0, ValueError), (math.nan, ValueError),
               (math.inf, ValueError), ("30", TypeError), (True, TypeError)]  # fmt: skip


def _linear_call(**kw: Any) -> Any:
    rng = np.random.default_rng(10)
    hidden, weight = rng.normal(size=(4, 3)), rng.normal(size=(K, 3))
    return lk.linear_cross_entropy(hidden, weight, np.array([0, 1, 2, 3]), **kw)


def _call_named(name: str, **kw: Any) -> Any:
    if name == "linear_cross_entropy":
        return _linear_call(**kw)
    data = _data(10)
    targets, _ = _targets(data, name, ignore=False)
    return lk.get(name)(targets, data["logits"], from_logits=True, **kw)


@pytest.mark.parametrize("name", [*LOSSES, "linear_cross_entropy"])
@pytest.mark.parametrize(("option", "value", "error"), [
    *[("z_loss", v, e) for v, e in BAD_Z_LOSS],
    *[("softcap", v, e) for v, e in BAD_SOFTCAP],
])  # fmt: skip
def test_bad_values_raise_naming_the_argument(name: str, option: str, value: Any, error: type):
    with pytest.raises(error, match=option):
        _call_named(name, **{option: value})


@pytest.mark.parametrize("loss", LOSSES)
def test_options_need_logits(loss: str) -> None:
    data = _data(11)
    targets, _ = _targets(data, loss, ignore=False)
    probabilities = np.exp(data["logits"]) / np.exp(data["logits"]).sum(-1, keepdims=True)
    with pytest.raises(ValueError, match=r"z_loss=0.0001 needs from_logits=True"):
        lk.get(loss)(targets, probabilities, z_loss=1e-4)
    with pytest.raises(ValueError, match=r"softcap=30 needs from_logits=True"):
        lk.get(loss)(targets, probabilities, softcap=30.0)
    # the "off" values are fine from probabilities
    plain = lk.get(loss)(targets, probabilities)
    assert lk.get(loss)(targets, probabilities, z_loss=0.0, softcap=None) == plain


# ---------------------------------------------------------------------- linear_cross_entropy
T, D = 13, 4  # tokens (not a multiple of the chunk), features
CHUNK = 4
LINEAR_OPTIONS = [
    {"z_loss": 0.05},
    {"softcap": 1.5},
    {"label_smoothing": 0.1},
    {"z_loss": 1e-4, "softcap": 30.0, "label_smoothing": 0.1},
    {"z_loss": 0.05, "softcap": 1.5, "label_smoothing": 0.2, "class_weight": True,
     "weights": True},
]  # fmt: skip


def _linear_data(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, K, T)
    labels[[1, 6]] = -100
    return {
        "hidden": rng.normal(0.0, 1.5, (T, D)),
        "weight": rng.normal(0.0, 1.5, (K, D)),
        "bias": rng.normal(0.0, 1.0, K),
        "labels": labels,
        "class_weight": rng.uniform(0.5, 2.0, K),
        "sample_weight": rng.uniform(0.0, 2.0, T),
        "mask": rng.random(T) > 0.2,
        "cotangent": rng.uniform(-1.0, 2.0, T),
    }


def _linear_keywords(data: dict, options: dict, convert: Any, ignore: Any) -> dict[str, Any]:
    kw = {k: v for k, v in options.items() if k in ("z_loss", "softcap", "label_smoothing")}
    kw["ignore_index"] = ignore
    if options.get("class_weight"):
        kw["class_weight"] = convert(data["class_weight"])
    if options.get("weights"):
        kw["sample_weight"] = convert(data["sample_weight"])
        kw["mask"] = convert(data["mask"])
    return kw


def _linear_torch(data: dict, kw: dict, reduction: str, chunk: Any) -> tuple[Any, list[Any]]:
    import torch

    params = [torch.tensor(data[k], requires_grad=True) for k in ("hidden", "weight", "bias")]
    out = lk.linear_cross_entropy(
        params[0], params[1], torch.as_tensor(data["labels"]), bias=params[2],
        reduction=reduction, chunk_size=chunk, **kw,
    )  # fmt: skip
    scalar = (out * torch.tensor(data["cotangent"])).sum() if reduction == "none" else out
    grads = torch.autograd.grad(scalar, params)
    return out.detach().numpy(), [g.numpy() for g in grads]


def _linear_jax(data: dict, kw: dict, reduction: str, chunk: Any) -> tuple[Any, list[Any]]:
    import jax
    import jax.numpy as jnp

    labels, cot = jnp.asarray(data["labels"]), jnp.asarray(data["cotangent"])

    def loss(h: Any, w: Any, b: Any) -> Any:
        out = lk.linear_cross_entropy(h, w, labels, bias=b, reduction=reduction,
                                      chunk_size=chunk, **kw)  # fmt: skip
        return (jnp.sum(out * cot) if reduction == "none" else out), out

    fn = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))
    (_, out), grads = fn(*(jnp.asarray(data[k]) for k in ("hidden", "weight", "bias")))
    return np.asarray(out), [np.asarray(g) for g in grads]


def _linear_tf(data: dict, kw: dict, reduction: str, chunk: Any) -> tuple[Any, list[Any]]:
    import tensorflow as tf

    params = [tf.Variable(data[k]) for k in ("hidden", "weight", "bias")]
    with tf.GradientTape() as tape:
        out = lk.linear_cross_entropy(
            params[0], params[1], tf.constant(data["labels"]), bias=params[2],
            reduction=reduction, chunk_size=chunk, **kw,
        )  # fmt: skip
        scalar = tf.reduce_sum(out * data["cotangent"]) if reduction == "none" else out
    return out.numpy(), [g.numpy() for g in tape.gradient(scalar, params)]


LINEAR_RUNS = {"torch": _linear_torch, "jax": _linear_jax, "tensorflow": _linear_tf}


def _assert_same(got: tuple, want: tuple, what: str) -> None:
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=1e-14, err_msg=what)
    for name, g, w in zip(("hidden", "weight", "bias"), got[1], want[1], strict=True):
        scale = max(float(np.abs(w).max()), 1e-30)
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-13 * scale, err_msg=f"{what} {name}")


@pytest.mark.parametrize("framework", [*LINEAR_RUNS, "torch-blocks"])
@pytest.mark.parametrize("options", LINEAR_OPTIONS, ids=lambda o: "-".join(sorted(o)))
def test_linear_chunked_equals_unchunked(
    framework: str, options: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chunked kernel (torch autograd.Function, JAX custom_vjp, TF custom_gradient) against
    the plain path on all logits, differentiated by the framework: values and the gradients of
    hidden, weight and bias, float64, every reduction, with and without ignored tokens.
    ``torch-blocks``: the torch kernel with a capped chunk finished one row at a time (on these
    small inputs a block is otherwise the whole chunk)."""
    if framework == "torch-blocks":
        kernels = pytest.importorskip("losskit.losses._torch_linear")
        monkeypatch.setattr(kernels, "CAPPED_BLOCK_ELEMENTS", 1)
        framework = "torch"
    get_backend(framework)
    run = LINEAR_RUNS[framework]
    data = _linear_data(12)
    convert = {"torch": _torch_tensor, "jax": _jax_array, "tensorflow": _tf_constant}[framework]
    for ignore, reduction in itertools.product((-100, None), REDUCTIONS):
        if ignore is None:
            data = dict(data, labels=np.where(data["labels"] < 0, 0, data["labels"]))
        kw = _linear_keywords(data, options, convert, ignore)
        chunked = run(data, kw, reduction, CHUNK)
        plain = run(data, kw, reduction, None)
        _assert_same(chunked, plain, f"{framework} {reduction} ignore={ignore}")


def _torch_tensor(x: Any) -> Any:
    import torch

    return torch.as_tensor(x)


def _jax_array(x: Any) -> Any:
    import jax.numpy as jnp

    return jnp.asarray(x)


def _tf_constant(x: Any) -> Any:
    import tensorflow as tf

    return tf.constant(x)


@pytest.mark.parametrize("options", LINEAR_OPTIONS, ids=lambda o: "-".join(sorted(o)))
def test_linear_equals_sparse_crossentropy_of_the_logits(options: dict) -> None:
    """The defining identity with the new options: the chunked linear loss and the sparse
    cross-entropy of ``h Wᵀ + b`` agree in value and in the gradients of hidden, weight, bias."""
    torch = pytest.importorskip("torch")
    data = _linear_data(13)
    kw = _linear_keywords(data, options, torch.as_tensor, -100)
    for reduction in REDUCTIONS:
        chunked = _linear_torch(data, kw, reduction, CHUNK)
        params = [torch.tensor(data[k], requires_grad=True) for k in ("hidden", "weight", "bias")]
        out = lk.sparse_categorical_crossentropy(
            torch.as_tensor(data["labels"]), params[0] @ params[1].T + params[2],
            from_logits=True, reduction=reduction, **kw,
        )  # fmt: skip
        scalar = (out * torch.tensor(data["cotangent"])).sum() if reduction == "none" else out
        grads = [g.numpy() for g in torch.autograd.grad(scalar, params)]
        _assert_same(chunked, (out.detach().numpy(), grads), reduction)


@pytest.mark.parametrize("options", LINEAR_OPTIONS[:4], ids=lambda o: "-".join(sorted(o)))
def test_linear_numpy_chunked_value(options: dict) -> None:
    data = _linear_data(14)
    kw = _linear_keywords(data, options, np.asarray, -100)
    valid = data["labels"] != -100
    z = data["hidden"] @ data["weight"].T + data["bias"]
    target = smoothed(np.eye(K)[np.where(valid, data["labels"], 0)], kw.get("label_smoothing", 0))
    rows = reference_rows(z, target, kw.get("z_loss", 0.0), kw.get("softcap"))
    for reduction, chunk in itertools.product(("none", "mean"), (None, CHUNK, 1)):
        got = lk.linear_cross_entropy(
            data["hidden"], data["weight"], data["labels"], bias=data["bias"],
            reduction=reduction, chunk_size=chunk, **kw,
        )  # fmt: skip
        want = reduce_reference(rows, np.ones(T), valid, reduction)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=str(chunk))


def test_linear_chunks_never_hold_the_logits_with_the_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With z-loss, soft cap and smoothing on, no tensor larger than one chunk of logits is
    created (the plain path creates all ``N × V``), for both kinds of backward; and a capped
    chunk's gradient needs only one chunk-sized buffer (the cap's ``tanh`` and the softmax meet
    a block of rows at a time), not two."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    from losskit.losses import _torch_linear

    # blocks of an eighth of a chunk however small the chunk (here 4 of 32 rows)
    monkeypatch.setattr(_torch_linear, "CAPPED_BLOCK_ELEMENTS", 1)

    class Record(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.largest = 0
            self.storages: dict[int, int] = {}

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None):
            out = func(*args, **(kwargs or {}))
            for leaf in tree_leaves(out):
                if isinstance(leaf, torch.Tensor):
                    self.largest = max(self.largest, leaf.numel())
                    storage = leaf.untyped_storage()
                    self.storages[storage.data_ptr()] = storage.nbytes()
            return out

    n, v, d, rows = 96, 500, 8, 32  # the weight (16 kB) is under half a chunk (64 kB)
    rng = np.random.default_rng(15)
    h = torch.tensor(rng.normal(size=(n, d)), dtype=torch.float32, requires_grad=True)
    w = torch.tensor(rng.normal(size=(v, d)), dtype=torch.float32, requires_grad=True)
    labels = torch.as_tensor(rng.integers(0, v, n))
    kw = {"z_loss": 1e-4, "softcap": 30.0, "label_smoothing": 0.1}
    for reduction in ("mean", "none"):
        with Record() as record:
            out = lk.linear_cross_entropy(h, w, labels, reduction=reduction, chunk_size=rows, **kw)
            torch.autograd.grad(out.sum(), (h, w))
        assert record.largest == rows * v, (reduction, record.largest)
        if reduction == "mean":  # one sweep: the chunk buffer is the only storage of its size
            half_chunk = rows * v * 4 // 2
            big = [size for size in record.storages.values() if size > half_chunk]
            assert len(big) == 1, big
