"""``lk.Loss``: configured, composable, picklable loss objects."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

import losskit as lk

RNG = np.random.default_rng(11)
Y = (RNG.random((6, 3)) > 0.5).astype(float)
Z = RNG.normal(scale=2.0, size=(6, 3))
W = RNG.random(6)


def test_bound_parameters_and_call_arguments(backend, dtype):
    f = backend.array
    huber = lk.Loss("huber", delta=0.3)
    got = huber(f(Y, dtype), f(Z, dtype), sample_weight=f(W, dtype), reduction="sum")
    expected = lk.huber(Y, Z, delta=0.3, sample_weight=W, reduction="sum")
    np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=1e-6)


def test_sum_passes_call_arguments_to_every_term(backend):
    f = backend.array
    combo = 0.5 * lk.Loss("mse") + lk.Loss("binary_crossentropy", from_logits=True) * 2
    got = combo(f(Y), f(Z), sample_weight=f(W), reduction="none")
    expected = 0.5 * lk.mean_squared_error(
        Y, Z, sample_weight=W, reduction="none"
    ) + 2 * lk.binary_crossentropy(Y, Z, from_logits=True, sample_weight=W, reduction="none")
    np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=1e-12)


def test_sum_gradient_is_the_weighted_sum(autodiff_backend):
    b = autodiff_backend
    combo = 3.0 * lk.Loss("log_cosh") + lk.Loss("mae")
    g = b.grad(lambda z: combo(b.array(Y), z, reduction="sum"), b.array(Z))
    np.testing.assert_allclose(b.to_numpy(g), 3 * np.tanh(Z - Y) + np.sign(Z - Y), rtol=1e-12)


def test_repr_shows_the_parts():
    combo = 0.25 * lk.Loss("binary_focal_crossentropy", gamma=3.0) + lk.Loss("mse")
    assert repr(combo) == (
        "0.25 * Loss('binary_focal_crossentropy', gamma=3.0) + Loss('mean_squared_error')"
    )
    assert repr(lk.Loss("cce", class_weight=np.ones(3))) == (
        "Loss('categorical_crossentropy', class_weight=<array shape=(3,)>)"
    )


def test_builtin_sum_and_nested_weights():
    a, b = lk.Loss("mse"), lk.Loss("mae")
    total = sum([a, b])
    assert [w for w, _ in total.terms()] == [1.0, 1.0]
    nested = 2 * (a + 0.5 * b)
    assert [w for w, _ in nested.terms()] == [2.0, 1.0]
    np.testing.assert_allclose(
        nested(Y, Z), 2 * lk.mean_squared_error(Y, Z) + lk.mean_absolute_error(Y, Z), rtol=1e-12
    )


def test_config_is_plain_data_and_round_trips():
    combo = 0.5 * lk.Loss("categorical_crossentropy", class_weight=np.array([1.0, 2.0, 3.0])) + (
        lk.Loss("huber", delta=2.0)
    )
    config = combo.get_config()
    restored = lk.Loss.from_config(json.loads(json.dumps(config)))
    assert restored == combo
    p = np.exp(Z) / np.exp(Z).sum(-1, keepdims=True)
    np.testing.assert_allclose(restored(Y, p), combo(Y, p), rtol=1e-12)


def test_pickles_by_name_and_parameters():
    combo = lk.Loss("quantile", quantiles=0.9) + 2 * lk.Loss("mse")
    restored = pickle.loads(pickle.dumps(combo))
    assert restored == combo
    np.testing.assert_allclose(restored(Y, Z), combo(Y, Z), rtol=1e-12)


def test_custom_registered_loss_is_configurable():
    @lk.loss(name="test_object_scaled_error", replace=True)
    def scaled(y_true, y_pred, *, xp, scale=1.0):
        return scale * (y_pred - y_true) ** 2

    obj = lk.Loss(scaled, scale=3.0)
    assert obj.get_config() == {"loss": "test_object_scaled_error", "params": {"scale": 3.0}}
    np.testing.assert_allclose(obj(Y, Z), 3 * np.mean((Z - Y) ** 2), rtol=1e-12)


def test_unregistered_function_is_callable_but_has_no_config():
    def plain(y_true, y_pred, *, reduction="mean"):
        return np.mean((y_pred - y_true) ** 2)

    obj = lk.Loss(plain)
    np.testing.assert_allclose(obj(Y, Z), np.mean((Z - Y) ** 2))
    with pytest.raises(ValueError, match="not registered"):
        obj.get_config()


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: lk.Loss("huber", detla=1.0), TypeError, "did you mean 'delta'"),
        (lambda: lk.Loss("hubr"), KeyError, "did you mean 'huber'"),
        (lambda: lk.Loss("mse", sample_weight=np.ones(3)), TypeError, "per-call argument"),
        (lambda: lk.Loss(lk.Loss("mse")), TypeError, "not a Loss object"),
        (lambda: lk.Loss("mse") * "2", TypeError, "multiply"),
        (lambda: lk.Loss("mse") + 1.0, TypeError, "unsupported operand"),
        (lambda: lk.Loss.from_config({"loss": "hubber"}), KeyError, "did you mean 'huber'"),
        (lambda: lk.Loss.from_config({"params": {}}), ValueError, "'loss' key"),
        (lambda: lk.Loss.from_config("mse"), TypeError, "mapping"),
    ],
)
def test_bad_input(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_unknown_call_argument_is_rejected():
    with pytest.raises(TypeError, match="delta"):
        lk.Loss("mse")(Y, Z, delta=1.0)


def test_data_keywords_and_overrides_at_call_time():
    var = RNG.random((6, 3)) + 0.5
    nll = lk.Loss("gaussian_nll")
    expected = np.mean(0.5 * (np.log(var) + (Z - Y) ** 2 / var))
    np.testing.assert_allclose(nll(Y, Z, var=var), expected, rtol=1e-12)
    huber = lk.Loss("huber", delta=0.3, reduction="sum")
    np.testing.assert_allclose(huber(Y, Z, reduction="mean"), huber(Y, Z) / Y.size, rtol=1e-12)
