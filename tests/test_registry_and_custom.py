"""The registry, the ``@lk.loss`` decorator and the public ``lk.ops`` primitives."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import losskit as lk
import reference as ref
from conftest import tolerance
from losskit import ops

API_SIGNATURES = {
    "binary_crossentropy": "(y_true, y_pred, *, from_logits=False, label_smoothing=0.0, "
    "pos_weight=None, sample_weight=None, mask=None, reduction='mean', normalizer=None)",
    # API.md's signatures, extended by keyword-only options: z_loss and softcap (PaLM, Gemma 2),
    # class_weight_rule (torch's weighting of the smoothing term and of the mean)
    "categorical_crossentropy": "(y_true, y_pred, *, from_logits=False, label_smoothing=0.0, "
    "class_weight=None, class_weight_rule='losskit', axis=-1, z_loss=0.0, softcap=None, "
    "sample_weight=None, mask=None, reduction='mean', normalizer=None)",
    "sparse_categorical_crossentropy": "(y_true, y_pred, *, from_logits=False, "
    "label_smoothing=0.0, class_weight=None, class_weight_rule='losskit', ignore_index=None, "
    "axis=-1, z_loss=0.0, softcap=None, sample_weight=None, mask=None, reduction='mean', "
    "normalizer=None)",
    "mean_squared_error": "(y_true, y_pred, *, sample_weight=None, mask=None, reduction='mean', "
    "normalizer=None)",
}


@pytest.mark.parametrize("name", sorted(API_SIGNATURES))
def test_public_signatures_match_the_contract(name):
    function = getattr(lk, name)
    bare = [
        p.replace(annotation=inspect.Parameter.empty)
        for p in inspect.signature(function).parameters.values()
    ]
    assert str(inspect.Signature(bare)) == API_SIGNATURES[name]
    assert lk.get(name) is function


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("bce", "binary_crossentropy"),
        ("cce", "categorical_crossentropy"),
        ("category_crossentropy", "categorical_crossentropy"),
        ("scce", "sparse_categorical_crossentropy"),
        ("mse", "mean_squared_error"),
        ("mean_square_error", "mean_squared_error"),
    ],
)
def test_aliases(alias, canonical):
    assert lk.get(alias) is lk.get(canonical)
    assert lk.aliases()[alias] == canonical


def test_article_names_are_exported():
    assert lk.category_crossentropy is lk.categorical_crossentropy
    assert lk.mean_square_error is lk.mean_squared_error


def test_names_are_sorted_canonical_names():
    names = lk.names()
    assert names == sorted(names)
    assert {"binary_crossentropy", "mean_squared_error"} <= set(names)
    assert "bce" not in names


def test_metadata():
    info = lk.info("scce")
    assert info.name == "sparse_categorical_crossentropy"
    assert info.kind == "axis" and info.family == "crossentropy" and info.references


def test_get_passes_callables_through_and_rejects_unknown():
    assert lk.get(len) is len
    with pytest.raises(KeyError, match="did you mean 'mse'"):
        lk.get("mze")


def test_custom_elementwise_loss_on_every_backend(backend, dtype):
    @lk.loss(name="test_abs_error", replace=True)
    def test_abs_error(y_true, y_pred, *, xp, scale=1.0):
        return scale * xp.abs(y_pred - y_true)

    y = np.array([[0.0, 1.0], [2.0, -1.0]])
    p = np.array([[0.5, 1.0], [0.0, 1.0]])
    got = test_abs_error(
        backend.array(y, dtype),
        backend.array(p, dtype),
        scale=2.0,
        sample_weight=backend.array(np.array([1.0, 3.0]), dtype),
    )
    expected = ref.reduce(2 * np.abs(p - y), "mean", weight=np.array([[1.0], [3.0]]))
    np.testing.assert_allclose(backend.to_numpy(got), expected, **tolerance(dtype))
    assert lk.get("test_abs_error") is test_abs_error


def test_custom_axis_loss_moves_the_axis_last(backend, dtype):
    @lk.loss(name="test_brier", kind="axis", replace=True)
    def test_brier(y_true, y_pred, *, xp):
        return xp.sum((y_pred - y_true) ** 2, axis=-1)

    p = np.random.default_rng(0).random((2, 3, 4))
    y = np.zeros_like(p)
    got = test_brier(backend.array(y, dtype), backend.array(p, dtype), axis=1, reduction="none")
    np.testing.assert_allclose(backend.to_numpy(got), np.sum(p**2, axis=1), **tolerance(dtype))


def test_custom_loss_gradient(autodiff_backend):
    @lk.loss(name="test_softplus_margin", replace=True)
    def test_softplus_margin(y_true, y_pred):
        return ops.softplus(-y_true * y_pred)

    b = autodiff_backend
    y, z = np.array([1.0, -1.0, 1.0]), np.array([0.0, 3.0, -40.0])
    grad = b.grad(lambda t: test_softplus_margin(b.array(y), t, reduction="sum"), b.array(z))
    np.testing.assert_allclose(b.to_numpy(grad), -y * ref.sigmoid(-y * z), rtol=1e-12)


def test_custom_loss_signature_and_errors():
    @lk.loss(name="test_sig", kind="axis", replace=True)
    def test_sig(y_true, y_pred, *, xp, margin=1.0):
        """Docstring kept."""
        return xp.sum(y_pred, axis=-1)

    params = inspect.signature(test_sig).parameters
    assert list(params) == [
        "y_true",
        "y_pred",
        "margin",
        "axis",
        "sample_weight",
        "mask",
        "reduction",
        "normalizer",
    ]
    assert test_sig.__doc__ == "Docstring kept."
    with pytest.raises(TypeError, match="unexpected keyword argument 'gamma'"):
        test_sig(np.ones((2, 2)), np.ones((2, 2)), gamma=2)
    with pytest.raises(ValueError, match="already registered"):
        lk.loss(name="test_sig")(lambda y_true, y_pred: y_pred)
    with pytest.raises(ValueError, match="already registered"):
        lk.loss(name="mse")(lambda y_true, y_pred: y_pred)

    @lk.loss(name="test_bad_shape", replace=True)
    def test_bad_shape(y_true, y_pred, *, xp):
        return xp.sum(y_pred)

    with pytest.raises(ValueError, match="must return the unreduced shape"):
        test_bad_shape(np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="clashes with the reduction contract"):
        lk.loss(name="test_clash")(lambda y_true, y_pred, *, mask=None: y_pred)
    with pytest.raises(ValueError, match="kind must be one of"):
        lk.loss(name="test_kind", kind="pairwise")


# ---------------------------------------------------------------------- ops
def test_ops_against_float64(backend, dtype):
    x = np.array([[-1e4, -30.0, 0.0, 1.0, 30.0, 1e4], [0.5, -0.5, 2.0, -2.0, 0.0, 0.0]])
    native = backend.array(x, dtype)
    xd = x.astype(dtype).astype(np.float64)
    tol = tolerance(dtype)
    check = {
        "softplus": (ops.softplus(native), ref.softplus(xd)),
        "log_sigmoid": (ops.log_sigmoid(native), -ref.softplus(-xd)),
        "sigmoid": (ops.sigmoid(native), ref.sigmoid(xd)),
        "log_softmax": (ops.log_softmax(native, axis=-1), ref.log_softmax(xd)),
        "softmax": (ops.softmax(native, axis=0), np.exp(ref.log_softmax(xd, axis=0))),
        "logsumexp": (ops.logsumexp(native, axis=1), [1e4, np.log(np.sum(np.exp(xd[1])))]),
        "logsumexp_all": (ops.logsumexp(native), np.float64(1e4)),
    }
    for name, (got, expected) in check.items():
        got = backend.to_numpy(got)
        assert np.all(np.isfinite(got)), name
        np.testing.assert_allclose(got, expected, err_msg=name, **tol)


def test_xlogy_one_hot_take_along_axis(backend, dtype):
    x = backend.array(np.array([0.0, 2.0, 0.0]), dtype)
    y = backend.array(np.array([0.0, 3.0, 5.0]), dtype)
    np.testing.assert_allclose(
        backend.to_numpy(ops.xlogy(x, y)), [0.0, 2 * np.log(3.0), 0.0], **tolerance(dtype)
    )
    hot = ops.one_hot(backend.array(np.array([2, 0])), 3)
    np.testing.assert_array_equal(backend.to_numpy(hot), np.eye(3)[[2, 0]])
    table = backend.array(np.arange(6.0).reshape(2, 3), dtype)
    picked = ops.take_along_axis(table, backend.array(np.array([[2], [0]])), axis=-1)
    np.testing.assert_array_equal(backend.to_numpy(picked), [[2.0], [3.0]])


def test_ops_gradients_are_finite_at_the_edges(autodiff_backend):
    b = autodiff_backend
    x = np.array([-1e4, 0.0, 1e4])
    for name, fn, expected in (
        ("softplus", ops.softplus, ref.sigmoid(x)),
        ("log_sigmoid", ops.log_sigmoid, ref.sigmoid(-x)),
    ):
        grad = b.to_numpy(b.grad(lambda t, fn=fn: _total(fn(t)), b.array(x)))
        np.testing.assert_allclose(grad, expected, rtol=1e-12, err_msg=name)
    grad = b.to_numpy(
        b.grad(
            lambda t: _total(ops.xlogy(b.array(np.zeros(3)), t)), b.array(np.array([0.0, 1.0, 2.0]))
        )
    )
    np.testing.assert_array_equal(grad, np.zeros(3))
    grad = b.to_numpy(
        b.grad(lambda t: _total(ops.clamped_log(t)), b.array(np.array([0.0, 1e-30, 0.5])))
    )
    np.testing.assert_allclose(grad, [1e12, 1e12, 2.0], rtol=1e-12)


def _total(x):
    return x.sum() if hasattr(x, "sum") else __import__("tensorflow").reduce_sum(x)
