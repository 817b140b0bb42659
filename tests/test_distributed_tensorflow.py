"""``losskit.distributed.tensorflow``: per-replica shares of the global mean under tf.distribute.

In this process TensorFlow has one device (the default strategy); the two-replica
``MirroredStrategy`` runs in ``scripts/distributed_tf_check.py``, in its own process since the
logical devices are fixed when TensorFlow starts: custom loops with ``replica_loss``, and the
``losskit.keras`` classes in ``model.fit``. References are the full-batch losskit losses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import losskit as lk  # noqa: E402
from losskit.distributed import tensorflow as lktf  # noqa: E402

SCRIPTS = Path(__file__).parent / "scripts"


def close(got, expected, rtol=1e-9, atol=1e-12):
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=rtol, atol=atol)


# ---------------------------------------------------------------------- sum_and_count
SPLITS = {
    "sparse CE, ignore_index, class_weight, mask": (
        "sparse_categorical_crossentropy",
        [np.array([0, -100, 2, 1, -100, -100]), np.random.default_rng(0).normal(size=(6, 3))],
        {
            "from_logits": True,
            "ignore_index": -100,
            "class_weight": [1.0, 3.0, 0.5],
            "mask": np.array([True, True, True, False, True, True]),
        },
        (),
    ),
    "mse, sample_weight": (
        "mean_squared_error",
        [np.zeros((6, 2)), np.random.default_rng(1).normal(size=(6, 2))],
        {"sample_weight": np.array([0.0, 0.0, 0.0, 1.0, 2.0, 0.5])},
        (),
    ),
    "linear_cross_entropy": (
        "linear_cross_entropy",
        [
            np.random.default_rng(2).normal(size=(6, 4)),
            np.random.default_rng(3).normal(size=(5, 4)),
            np.array([-100, -100, -100, 1, 4, 0]),
        ],
        {},
        (1,),
    ),
    "dice, per_image=True": (
        "dice",
        [
            np.random.default_rng(4).integers(0, 3, (6, 4, 4)),
            np.random.default_rng(5).normal(size=(6, 4, 4, 3)),
        ],
        {"from_logits": True, "per_image": True},
        (),
    ),
}


@pytest.mark.parametrize("label", sorted(SPLITS))
def test_sums_over_counts_of_the_halves_are_the_full_mean(label):
    name, inputs, kwargs, shared = SPLITS[label]
    per_example = {k: v for k, v in kwargs.items() if isinstance(v, np.ndarray)}
    options = {k: v for k, v in kwargs.items() if k not in per_example}
    parts = []
    for half in (0, 1):
        arrays = [x if i in shared else np.array_split(x, 2)[half] for i, x in enumerate(inputs)]
        extra = {k: np.array_split(v, 2)[half] for k, v in per_example.items()}
        parts.append(
            lktf.sum_and_count(name, *[tf.constant(x) for x in arrays], **extra, **options)
        )
    total = sum(float(s) for s, _ in parts) / sum(float(c) for _, c in parts)
    close(total, lk.get(name)(*[tf.constant(x) for x in inputs], **kwargs))


def test_count_is_the_weight_of_the_valid_entries():
    labels, logits = tf.constant([0, -100, 2, 1]), tf.zeros((4, 3), tf.float64)
    loss_sum, count = lktf.sum_and_count(
        lk.sparse_categorical_crossentropy,
        labels,
        logits,
        from_logits=True,
        ignore_index=-100,
        class_weight=[1.0, 3.0, 0.5],
    )
    close(count, 1.0 + 0.5 + 3.0)
    close(loss_sum, (1.0 + 0.5 + 3.0) * np.log(3.0))


# ---------------------------------------------------------------------- global_batch_mean
def test_global_batch_mean_divides_the_local_sum_by_the_global_count():
    close(lktf.global_batch_mean(tf.constant([1.0, 2.0, 0.5], tf.float64), 7), 3.5 / 7)
    close(lktf.global_batch_mean(tf.constant(3.0, tf.float64), tf.constant(6)), 0.5)


def test_a_zero_global_count_gives_zero_and_a_zero_gradient():
    x = tf.Variable([1.0, 2.0])
    with tf.GradientTape() as tape:
        value = lktf.global_batch_mean(tf.reduce_sum(x * x), 0)
    grad = tape.gradient(value, x)
    assert float(value) == 0.0
    assert np.all(grad.numpy() == 0.0)


# ---------------------------------------------------------------------- replica_loss
def test_one_replica_share_is_the_loss_value_and_gradient():
    """With one replica the share is the whole mean; eager and in a tf.function whose batch size
    is unknown while tracing."""
    rng = np.random.default_rng(6)
    labels = tf.constant([1, -100, 0, 2, -100])
    w = tf.Variable(rng.normal(size=(4, 3)))
    x = tf.constant(rng.normal(size=(5, 4)))
    options = {"from_logits": True, "ignore_index": -100, "label_smoothing": 0.1}

    def value_and_grad(function):
        with tf.GradientTape() as tape:
            value = function(labels, x @ w)
        return value, tape.gradient(value, w)

    def share(y, z):
        return lktf.replica_loss(lk.sparse_categorical_crossentropy, y, z, **options)

    def full(y, z):
        return lk.sparse_categorical_crossentropy(y, z, **options)

    expected = value_and_grad(full)
    traced = tf.function(
        share,
        input_signature=[
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None, 3], tf.float64),
        ],
    )
    for function in (share, traced):
        got = value_and_grad(function)
        close(got[0], expected[0])
        close(got[1], expected[1])


def test_a_sum_of_losses_shares_each_term():
    rng = np.random.default_rng(7)
    y, p = tf.constant(rng.normal(size=(4, 2))), tf.constant(rng.normal(size=(4, 2)))
    weights = tf.constant([1.0, 0.0, 2.0, 0.5], tf.float64)
    both = 0.5 * lk.Loss("mse") + lk.Loss("huber", delta=0.5)
    close(lktf.replica_loss(both, y, p, sample_weight=weights), both(y, p, sample_weight=weights))


def test_a_global_count_given_replaces_the_all_reduce():
    y, p = tf.zeros(4, tf.float64), tf.ones(4, tf.float64)
    close(lktf.replica_loss("mse", y, p, global_count=8), 0.5)


# ---------------------------------------------------------------------- errors
def test_bad_arguments_name_the_argument():
    y, p = tf.zeros(4), tf.ones(4)
    with pytest.raises(TypeError, match="reduction="):
        lktf.replica_loss("mse", y, p, reduction="sum")
    with pytest.raises(TypeError, match="normalizer="):
        lktf.sum_and_count("mse", y, p, normalizer=2.0)
    with pytest.raises(ValueError, match="terms"):
        lktf.sum_and_count(lk.Loss("mse") + lk.Loss("mae"), y, p)
    with pytest.raises(ValueError, match="global_count is one denominator"):
        lktf.replica_loss(lk.Loss("mse") + lk.Loss("mae"), y, p, global_count=4)
    with pytest.raises(TypeError, match="global_count must be a number"):
        lktf.global_batch_mean(tf.constant(1.0), True)
    with pytest.raises(ValueError, match="global_count must be a 0-d count"):
        lktf.global_batch_mean(tf.constant(1.0), tf.ones(2))
    with pytest.raises(TypeError, match="losses must be a floating-point tensor"):
        lktf.global_batch_mean(tf.constant([1, 2]), 2)
    with pytest.raises(TypeError, match="local_count must be a number"):
        lktf.all_reduce_count("three")


def test_losses_that_couple_the_batch_are_refused():
    rng = np.random.default_rng(8)
    z = tf.constant(rng.normal(size=(4, 3)))
    with pytest.raises(ValueError, match="replica_loss: info_nce compares the examples"):
        lktf.replica_loss("info_nce", z, z)
    labels, logits = tf.constant(rng.integers(0, 3, (2, 4, 4))), tf.zeros((2, 4, 4, 3))
    with pytest.raises(ValueError, match="per_image=True"):
        lktf.replica_loss("dice", labels, logits, from_logits=True)


def test_all_reduce_count_outside_a_replica_context_says_where_to_call_it():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope(), pytest.raises(ValueError, match=r"inside strategy\.run"):
        lktf.all_reduce_count(3)
    close(strategy.run(lambda: lktf.all_reduce_count(tf.constant(3))), 3.0)


# ---------------------------------------------------------------------- two replicas
def _run_script(part: str) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "distributed_tf_check.py"), part],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "all ok" in result.stdout, result.stdout


@pytest.mark.slow
def test_custom_loops_on_two_replicas():
    """replica_loss under MirroredStrategy (two logical CPUs) equals one replica: values and
    gradients, replicas with different numbers of valid labels, a Keras optimizer's step."""
    _run_script("loop")


@pytest.mark.slow
def test_keras_wrappers_take_one_replicas_step_on_two_replicas():
    """losskit.keras classes in model.fit on two replicas: the first step's update and logged
    loss equal one replica's, as for Keras's own losses."""
    pytest.importorskip("keras")
    _run_script("keras")
