"""Run in its own process with KERAS_BACKEND set (see test_wrappers_keras.py).

``python keras_check.py SAVE_PATH``: every registered loss as a ``losskit.keras`` class gives the
function's value on this backend's tensors and survives a serialisation round trip; a model
compiled with losskit losses fits, and is saved to SAVE_PATH for a fresh process to load.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras
import numpy as np

import losskit as lk
import losskit.keras as lkk
from cases import case
from losskit._wrapping import (
    CENTRE_LOSSES,
    NOT_A_PAIR,
    TARGET_NAMES,
    class_name,
    positional_inputs,
)

BACKEND = keras.backend.backend()


def tensor(x: np.ndarray):
    dtype = "int32" if x.dtype.kind in "iu" else "float32"
    return keras.ops.convert_to_tensor(x.astype(dtype), dtype=dtype)


def keras_pair(name: str, inputs: list[np.ndarray]):
    """(y_true, y_pred) in the Keras wrappers' convention for ``name``'s inputs."""
    names = positional_inputs(lk.get(name))
    targets = [x for n, x in zip(names, inputs, strict=True) if n in TARGET_NAMES]
    predictions = [x for n, x in zip(names, inputs, strict=True) if n not in TARGET_NAMES]
    y_true = targets[0] if targets else None
    y_pred = predictions[0] if len(predictions) == 1 else np.stack(predictions, axis=1)
    return y_true, y_pred


def check_every_loss() -> None:
    for name in lk.names():
        if name in CENTRE_LOSSES:  # layers that own the class centres (test_metric_keras.py)
            assert issubclass(getattr(lkk, class_name(name)), keras.layers.Layer), name
            continue
        if name in NOT_A_PAIR:
            assert not hasattr(lkk, class_name(name)), name
            continue
        c = case(name)
        expected = lk.get(name)(*c.inputs, **c.params, reduction="sum_over_batch_size")
        loss = getattr(lkk, class_name(name))(**c.params)
        y_true, y_pred = keras_pair(name, c.inputs)
        args = (None if y_true is None else tensor(y_true), tensor(y_pred))
        value = keras.ops.convert_to_numpy(loss(*args))
        np.testing.assert_allclose(value, expected, rtol=2e-5, atol=1e-6, err_msg=name)
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
        assert type(clone) is type(loss) and clone.get_config() == loss.get_config(), name
        np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(*args)), value, rtol=1e-6)
        if np.ndim(lk.get(name)(*c.inputs, **c.params, reduction="none")) == 0:
            continue  # one value for the batch (VICReg, batch Dice): no per-sample weights
        weights = np.linspace(0.5, 1.5, c.inputs[0].shape[0] if y_true is not None else 6)
        weighted = loss(*args, sample_weight=tensor(weights))
        assert np.isfinite(keras.ops.convert_to_numpy(weighted)), name
    print(f"{len(lk.names())} losses ok")


def check_reductions() -> None:
    """Keras's reductions of the per-sample values (MSE: the mean over the last axis)."""
    y, p = np.array([[0.0, 1.0], [1.0, 1.0]]), np.array([[0.5, 0.0], [2.0, 1.0]])
    w = np.array([1.0, 3.0])
    per_sample = ((p - y) ** 2).mean(axis=-1) * w
    expected = {
        "sum_over_batch_size": per_sample.sum() / 2,
        "mean": per_sample.sum() / 2,
        "mean_with_sample_weight": per_sample.sum() / w.sum(),
        "sum": per_sample.sum(),
        None: per_sample,
    }
    for reduction, value in expected.items():
        loss = lkk.MeanSquaredError(reduction=reduction)
        got = keras.ops.convert_to_numpy(loss(tensor(y), tensor(p), sample_weight=tensor(w)))
        np.testing.assert_allclose(got, value, rtol=1e-6, err_msg=str(reduction))
        native = keras.losses.MeanSquaredError(reduction=reduction)
        ref = keras.ops.convert_to_numpy(native(tensor(y), tensor(p), sample_weight=tensor(w)))
        np.testing.assert_allclose(got, ref, rtol=1e-6, err_msg=str(reduction))
    print("reductions ok")


def _per_sample_pairs():
    """(losskit.keras class, Keras class, options, y_true, y_pred) for the per-sample losses
    (a class axis) and the elementwise ones."""
    rng = np.random.default_rng(5)
    one_hot = np.eye(4)[rng.integers(0, 4, 5)]
    logits = rng.normal(size=(5, 4)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    target = rng.random((5, 4)) + 0.05
    target /= target.sum(-1, keepdims=True)
    bits = (rng.random((5, 3)) > 0.5) * 1.0
    scores = rng.normal(size=(5, 3))
    per_sample = [
        ("CategoricalCrossentropy", {"from_logits": True}, one_hot, logits),
        ("SparseCategoricalCrossentropy", {"from_logits": True}, one_hot.argmax(-1), logits),
        ("CategoricalFocalCrossentropy", {"alpha": 0.25, "gamma": 2.0}, one_hot, probs),
        ("KLDivergence", {}, target, probs),
        ("CategoricalHinge", {}, one_hot, logits),
    ]
    elementwise = [
        ("MeanSquaredError", {}, scores, scores * 0.5 + 0.2),
        ("MeanAbsoluteError", {}, scores, scores * 0.5 + 0.2),
        ("Huber", {"delta": 0.5}, scores, scores * 0.5 + 0.2),
        ("LogCosh", {}, scores, scores * 0.5 + 0.2),
        ("BinaryCrossentropy", {"from_logits": True}, bits, scores),
    ]
    return per_sample, elementwise


def check_per_sample_weights() -> None:
    """Keras-style (N, 1) and (N,) sample weights give Keras's own values (and shapes)."""
    per_sample, elementwise = _per_sample_pairs()
    reductions = ("sum_over_batch_size", "sum", None)
    calls = [(*row, r) for row in [*per_sample, *elementwise] for r in reductions]
    for w in (np.linspace(0.5, 2.5, 5)[:, None], np.linspace(0.5, 2.5, 5)):
        for cls, options, y, p, reduction in calls:
            ours = getattr(lkk, cls)(reduction=reduction, **options)
            theirs = getattr(keras.losses, cls)(reduction=reduction, **options)
            args = (tensor(y), tensor(p))
            got = keras.ops.convert_to_numpy(ours(*args, sample_weight=tensor(w)))
            want = keras.ops.convert_to_numpy(theirs(*args, sample_weight=tensor(w)))
            message = f"{cls} {reduction} weights {w.shape}"
            assert got.shape == want.shape, (message, got.shape, want.shape)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=message)
    print("per-sample weights ok")


def check_wrong_library() -> None:
    other = {"jax": "torch", "torch": "jax", "tensorflow": "torch"}[BACKEND]
    if other == "torch":
        import torch

        foreign = torch.ones(2, 3)
    else:
        import jax.numpy as jnp

        foreign = jnp.ones((2, 3))
    try:
        lkk.MeanSquaredError()(tensor(np.ones((2, 3))), foreign)
    except TypeError as error:
        assert "y_pred" in str(error) and BACKEND in str(error), error
    else:
        raise AssertionError("a foreign tensor was accepted")
    print("wrong library ok")


def check_fit_and_save(path: str) -> None:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    loss = lkk.CategoricalCrossentropy(
        from_logits=True, label_smoothing=0.05, class_weight=[1.0, 2.0, 0.5]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=loss)
    history = model.fit(x, y, epochs=5, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0], losses
    compound = lkk.Loss(0.5 * lk.Loss("mean_squared_error") + lk.Loss("huber", delta=0.5))
    regression = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    regression.compile(optimizer="adam", loss=compound)
    regression.fit(x, y, epochs=1, verbose=0)
    model.save(path)
    regression.save(path.replace(".keras", "_compound.keras"))
    print("fit ok", loss.get_config())


if __name__ == "__main__":
    check_every_loss()
    check_reductions()
    check_per_sample_weights()
    check_wrong_library()
    check_fit_and_save(sys.argv[1])
    print("all ok")
