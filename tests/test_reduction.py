"""The reduction contract against its float64 transcription, on every backend, plus properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import losskit as lk
import reference as ref
from cases import FACTORIES, case
from conftest import get_backend, tolerance

REDUCTIONS = ["mean", "sum", "none", "sum_over_batch_size"]
RNG = np.random.default_rng(1)
Y = (RNG.random((4, 3)) > 0.5).astype(float)
Z = RNG.normal(size=(4, 3)) * 3


def _bce(backend, dtype, **kwargs):
    return lk.binary_crossentropy(
        backend.array(Y, dtype), backend.array(Z, dtype), from_logits=True, **kwargs
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_plain_reductions(backend, dtype, reduction):
    got = backend.to_numpy(_bce(backend, dtype, reduction=reduction))
    expected = ref.reduce(ref.bce_logits(Y, Z.astype(dtype)), reduction)
    np.testing.assert_allclose(got, expected, **tolerance(dtype))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight_shape", [(4,), (4, 3), (1, 3), (4, 1)])
def test_sample_weight_and_mask(backend, dtype, reduction, weight_shape):
    weight = RNG.random(weight_shape) * 2
    mask = np.array([True, False, True, True])
    got = _bce(
        backend,
        dtype,
        sample_weight=backend.array(weight, dtype),
        mask=backend.array(mask),
        reduction=reduction,
    )
    expanded = weight.reshape(weight_shape + (1,) * (2 - len(weight_shape)))
    expected = ref.reduce(
        ref.bce_logits(Y, Z.astype(dtype)),
        reduction,
        weight=expanded.astype(dtype),
        valid=mask[:, None],
    )
    np.testing.assert_allclose(backend.to_numpy(got), expected, **tolerance(dtype))


def test_prefix_rule_wins_over_broadcasting(backend):
    """(N,) weights on an (N, N) loss weight rows (prefix), not columns (broadcasting)."""
    y = np.zeros((3, 3))
    z = np.arange(9.0).reshape(3, 3) / 4
    weight = np.array([1.0, 0.0, 0.0])
    got = lk.mean_squared_error(
        backend.array(y), backend.array(z), sample_weight=backend.array(weight), reduction="sum"
    )
    np.testing.assert_allclose(backend.to_numpy(got), np.sum(z[0] ** 2), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_keras_style_column_weights_weight_samples(backend, reduction):
    """(N, 1) weights and masks on an (N,) loss weight its samples, as in Keras (broadcasting
    would make an (N, N) table); (N, T, 1) on (N, T) likewise."""
    logits = RNG.normal(size=(4, 5)) * 2
    labels = np.array([0, 3, 4, 1])
    per_sample = -ref.log_softmax(logits, axis=-1)[np.arange(4), labels]
    w = np.array([0.5, 2.0, 0.0, 1.5])
    keep = np.array([True, True, True, False])
    got = lk.sparse_categorical_crossentropy(
        backend.array(labels),
        backend.array(logits),
        from_logits=True,
        sample_weight=backend.array(w[:, None]),
        mask=backend.array(keep[:, None]),
        reduction=reduction,
    )
    expected = ref.reduce(per_sample, reduction, weight=w, valid=keep)
    np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=1e-12)
    sequences = lk.sparse_categorical_crossentropy(
        backend.array(np.stack([labels, labels[::-1]])),
        backend.array(np.stack([logits, logits[::-1]])),
        from_logits=True,
        sample_weight=backend.array(np.stack([w, w[::-1]])[..., None]),
        reduction=reduction,
    )
    twice = ref.reduce(np.stack([per_sample, per_sample[::-1]]), reduction, np.stack([w, w[::-1]]))
    np.testing.assert_allclose(backend.to_numpy(sequences), twice, rtol=1e-12)


def test_column_weights_of_another_width_are_refused():
    logits, labels = RNG.normal(size=(4, 5)), np.array([0, 3, 4, 1])
    with pytest.raises(ValueError, match=r"sample_weight of shape \(4, 2\) does not fit"):
        lk.sparse_categorical_crossentropy(
            labels, logits, from_logits=True, sample_weight=np.ones((4, 2))
        )
    with pytest.raises(ValueError, match=r"mask of shape \(4, 1, 1\) does not fit"):
        lk.sparse_categorical_crossentropy(
            labels, logits, from_logits=True, mask=np.ones((4, 1, 1), bool)
        )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "sum_over_batch_size"])
def test_ignore_index_with_class_weight(backend, dtype, reduction):
    logits = RNG.normal(size=(2, 4, 3)) * 2  # (N, C=4 on axis 1, d=3)
    labels = np.array([[0, 3, -1], [2, -1, 1]])
    class_weight = np.array([1.0, 2.0, 0.5, 3.0])
    got = lk.sparse_categorical_crossentropy(
        backend.array(labels),
        backend.array(logits, dtype),
        from_logits=True,
        axis=1,
        ignore_index=-1,
        class_weight=backend.array(class_weight, dtype),
        reduction=reduction,
    )
    valid = labels != -1
    safe = np.where(valid, labels, 0)
    per_element = ref.cce_logits(ref.one_hot(safe, 4), np.moveaxis(logits.astype(dtype), 1, -1))
    expected = ref.reduce(per_element, reduction, weight=class_weight[safe], valid=valid)
    np.testing.assert_allclose(backend.to_numpy(got), expected, **tolerance(dtype))


def test_normalizer_replaces_the_mean_denominator(backend, dtype):
    got = _bce(backend, dtype, normalizer=7)
    expected = ref.reduce(ref.bce_logits(Y, Z.astype(dtype)), "sum") / 7
    np.testing.assert_allclose(backend.to_numpy(got), expected, **tolerance(dtype))
    as_array = _bce(backend, dtype, normalizer=backend.array(np.array(7.0), dtype))
    np.testing.assert_allclose(backend.to_numpy(as_array), expected, **tolerance(dtype))
    zero = _bce(backend, dtype, normalizer=0)
    assert backend.to_numpy(zero) == 0.0


def test_zero_normalizer_gives_zero_gradient(autodiff_backend):
    b = autodiff_backend
    grad = b.grad(
        lambda t: lk.binary_crossentropy(b.array(Y), t, from_logits=True, normalizer=0.0),
        b.array(Z),
    )
    np.testing.assert_array_equal(b.to_numpy(grad), np.zeros_like(Z))


def test_empty_batch_is_zero(backend, dtype):
    empty = np.zeros((0, 3))
    for reduction in ("mean", "sum", "sum_over_batch_size"):
        got = lk.mean_squared_error(
            backend.array(empty, dtype), backend.array(empty, dtype), reduction=reduction
        )
        assert backend.to_numpy(got) == 0.0


def _empty_batch_case(name: str) -> tuple[list[np.ndarray], dict, tuple[int, ...]]:
    """``cases``'s call of ``name`` with every per-example input cut to an empty batch."""
    c = case(name)
    inputs = [x if i in c.shared else x[:0] for i, x in enumerate(c.inputs)]
    return inputs, c.params, c.differentiable


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_every_loss_gives_zero_on_an_empty_batch(backend, name):
    inputs, params, differentiable = _empty_batch_case(name)
    fn = lk.get(name)
    full = np.shape(fn(*case(name).inputs, reduction="none", **case(name).params))
    for reduction in ("mean", "sum", "sum_over_batch_size"):
        arrays = [backend.array(x) for x in inputs]
        assert backend.to_numpy(fn(*arrays, reduction=reduction, **params)).tolist() == 0.0
        for i in differentiable if backend.grad is not None else ():

            def f(t, i=i, arrays=arrays, reduction=reduction):
                return fn(*arrays[:i], t, *arrays[i + 1 :], reduction=reduction, **params)

            grad = backend.grad(f, arrays[i])
            assert grad is not None, (name, i)
            grad = backend.to_numpy(grad)
            assert grad.shape == inputs[i].shape and np.all(grad == 0.0), (name, i)
    unreduced = backend.to_numpy(
        fn(*[backend.array(x) for x in inputs], reduction="none", **params)
    )
    assert unreduced.ndim == len(full) and np.all(unreduced == 0.0), (name, unreduced.shape)
    if name == "proxy_anchor":  # one value per proxy, whatever the batch
        assert unreduced.shape == full, (name, unreduced.shape)
    else:
        assert unreduced.size == 0 or unreduced.ndim == 0, (name, unreduced.shape)


def test_excluded_entries_never_reach_the_sum(backend):
    """An ignored row whose loss would be inf (class 0 has logit -inf) contributes exactly 0."""
    logits = np.array([[-np.inf, 0.0, 0.0], [1.0, 2.0, 3.0]])
    labels = np.array([-1, 2])
    for reduction in ("mean", "sum", "none"):
        got = backend.to_numpy(
            lk.sparse_categorical_crossentropy(
                backend.array(labels),
                backend.array(logits),
                from_logits=True,
                ignore_index=-1,
                reduction=reduction,
            )
        )
        row = ref.cce_logits(ref.one_hot(labels[1:], 3), logits[1:])[0]
        expected = [0.0, row] if reduction == "none" else row
        np.testing.assert_allclose(got, expected, rtol=1e-12)


# ---------------------------------------------------------------------- properties
finite = st.floats(-50, 50, allow_nan=False, width=64)


@settings(max_examples=40, deadline=None)
@given(
    z=hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 4)), elements=finite),
    data=st.data(),
)
def test_reductions_are_consistent(z, data):
    y = data.draw(hnp.arrays(np.float64, z.shape, elements=st.floats(0, 1)))
    w = data.draw(hnp.arrays(np.float64, z.shape[:1], elements=st.floats(0.1, 3)))
    kwargs = {"from_logits": True, "sample_weight": w}
    none = lk.binary_crossentropy(y, z, reduction="none", **kwargs)
    total = lk.binary_crossentropy(y, z, reduction="sum", **kwargs)
    mean = lk.binary_crossentropy(y, z, reduction="mean", **kwargs)
    np.testing.assert_allclose(np.sum(none), total, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mean * np.sum(w) * z.shape[1], total, rtol=1e-10, atol=1e-10)
    # permutation of the batch changes nothing
    order = data.draw(st.permutations(range(z.shape[0])))
    permuted = lk.binary_crossentropy(
        y[order], z[order], reduction="mean", from_logits=True, sample_weight=w[order]
    )
    np.testing.assert_allclose(permuted, mean, rtol=1e-12, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(
    z=hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.just(4)), elements=finite),
    data=st.data(),
)
def test_mean_is_batch_size_invariant(z, data):
    labels = data.draw(hnp.arrays(np.int64, z.shape[:1], elements=st.integers(0, 3)))
    single = lk.sparse_categorical_crossentropy(labels, z, from_logits=True)
    doubled = lk.sparse_categorical_crossentropy(
        np.concatenate([labels, labels]), np.concatenate([z, z]), from_logits=True
    )
    np.testing.assert_allclose(single, doubled, rtol=1e-12)


@pytest.mark.parametrize("name", ["torch", "jax", "tensorflow", "array_api_strict"])
@settings(max_examples=15, deadline=None)
@given(
    z=hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.just(3)), elements=finite),
    data=st.data(),
)
def test_backends_agree_with_numpy(name, z, data):
    backend = get_backend(name)
    labels = data.draw(hnp.arrays(np.int64, z.shape[:1], elements=st.integers(-1, 2)))
    reduction = data.draw(st.sampled_from(REDUCTIONS))
    kwargs = {
        "from_logits": True,
        "ignore_index": -1,
        "reduction": reduction,
        "label_smoothing": 0.1,
    }
    expected = lk.sparse_categorical_crossentropy(labels, z, **kwargs)
    got = lk.sparse_categorical_crossentropy(backend.array(labels), backend.array(z), **kwargs)
    np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "sum_over_batch_size"])
def test_fused_reductions_match_the_unreduced_path(autodiff_backend, reduction):
    """Kernels that reduce while computing (no weights or masks) give the contract's numbers."""
    b = autodiff_backend
    labels = b.array(np.array([0, 2, 1, 1]))
    scale = 1.0 if reduction == "sum" else 1.0 / Z.size
    losses = {
        "bce": (
            lambda t, **kw: lk.binary_crossentropy(b.array(Y), t, from_logits=True, **kw),
            ref.bce_logits_grad(Y, Z) * scale,
        ),
        "mse": (
            lambda t, **kw: lk.mean_squared_error(b.array(Y), t, **kw),
            ref.squared_error_grad(Y, Z) * scale,
        ),
        "scce": (
            lambda t, **kw: lk.sparse_categorical_crossentropy(labels, t, from_logits=True, **kw),
            ref.cce_logits_grad(ref.one_hot([0, 2, 1, 1], 3), Z)
            * (1.0 if reduction == "sum" else 0.25),
        ),
    }
    for name, (loss, expected_grad) in losses.items():
        fused = loss(b.array(Z), reduction=reduction)
        unfused = loss(b.array(Z), reduction=reduction, sample_weight=b.array(np.ones(4)))
        np.testing.assert_allclose(b.to_numpy(fused), b.to_numpy(unfused), rtol=1e-12, err_msg=name)
        grad = b.grad(lambda t, loss=loss: loss(t, reduction=reduction), b.array(Z))
        np.testing.assert_allclose(b.to_numpy(grad), expected_grad, rtol=1e-12, err_msg=name)
