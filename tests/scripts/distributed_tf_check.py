"""Run in its own process (see test_distributed_tensorflow.py): losskit under a two-replica
``tf.distribute.MirroredStrategy`` on two logical CPU devices (configured before TensorFlow
starts), against one replica computing the whole batch. Everything runs in float64.

``python distributed_tf_check.py loop``: custom training loops with
``losskit.distributed.tensorflow.replica_loss`` — the strategy's sum of the replicas' losses and
gradients is the full-batch value and gradient, also when the replicas hold different numbers of
valid labels (one none), and a Keras optimizer's step equals the full-batch step.

``python distributed_tf_check.py keras``: the ``losskit.keras`` classes in ``model.fit`` — the first
step's weight update and logged loss on two replicas equal those on one (Keras's own loss, the
control, passes the same check).

Prints ``all ok`` at the end.
"""

from __future__ import annotations

import functools
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["KERAS_BACKEND"] = "tensorflow"

import tensorflow as tf

tf.get_logger().setLevel("ERROR")  # retracing notes: each check traces its own step
_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import losskit as lk  # noqa: E402
import losskit.keras as lkk  # noqa: E402
from losskit.distributed import mean_denominator  # noqa: E402
from losskit.distributed import tensorflow as lktf  # noqa: E402

REPLICAS = 2
N = 8  # global batch: 4 rows per replica
VALUE = {"rtol": 1e-6, "atol": 1e-12}
GRAD = {"rtol": 1e-5, "atol": 1e-10}
SUM = tf.distribute.ReduceOp.SUM


def check(label: str, got, expected, tolerance) -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    assert np.all(np.isfinite(got)), f"{label}: non-finite {got}"
    np.testing.assert_allclose(got, expected, err_msg=label, **tolerance)


@functools.cache
def mirrored() -> tf.distribute.Strategy:
    """The one MirroredStrategy of the process (two of them in a process can mix up their
    collectives' instance keys)."""
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == REPLICAS
    return strategy


def per_replica(strategy, array):
    """Rows ``[4r, 4r + 4)`` of ``array`` on replica ``r``."""
    rows = array.shape[0] // REPLICAS

    def part(context):
        start = context.replica_id_in_sync_group * rows
        return tf.constant(array[start : start + rows])

    return strategy.experimental_distribute_values_from_function(part)


# ---------------------------------------------------------------------- custom loops
def linear_cases():
    """label → (this replica's share of (logits, *data), the full-batch loss, data arrays)."""
    r = np.random.default_rng(0)
    labels = r.integers(0, 4, N)
    labels[[4, 5, 6]] = -100  # replica 1 (rows 4-7): one label left, and it is masked
    keep = np.ones(N, bool)
    keep[[1, 7]] = False
    options = {"from_logits": True, "ignore_index": -100, "class_weight": [1.0, 2.0, 0.5, 3.0]}
    sce = lk.Loss("sparse_categorical_crossentropy", **options)
    targets, weights = r.normal(size=(N, 4)), r.random(N)
    weights[:4] = 0.0  # replica 0 weighs nothing
    both = 0.5 * lk.Loss("huber", delta=0.5) + lk.Loss("mse")
    # the count of the global batch, taken before distributing it
    global_count = mean_denominator(sce, labels, np.zeros((N, 4)), mask=keep)
    return {
        "sparse CE, ignore_index, mask, class_weight": (
            lambda z, y, m: lktf.replica_loss(sce, y, z, mask=m),
            lambda z, y, m: sce(y, z, mask=m),
            [labels, keep],
        ),
        "sparse CE, global_count given": (
            lambda z, y, m: lktf.replica_loss(sce, y, z, mask=m, global_count=global_count),
            lambda z, y, m: sce(y, z, mask=m),
            [labels, keep],
        ),
        "mse, sample_weight": (
            lambda z, t, w: lktf.replica_loss("mse", t, z, sample_weight=w),
            lambda z, t, w: lk.mean_squared_error(t, z, sample_weight=w),
            [targets, weights],
        ),
        "lk.Loss sum": (
            lambda z, t: lktf.replica_loss(both, t, z),
            lambda z, t: both(t, z),
            [targets],
        ),
        "no valid label anywhere": (
            lambda z, y, m: lktf.replica_loss(sce, y, z, mask=m),
            lambda z, y, m: sce(y, z, mask=m),
            [np.full(N, -100), keep],
        ),
    }


def custom_loops() -> None:
    strategy = mirrored()
    r = np.random.default_rng(1)
    x = r.normal(size=(N, 5))
    w0, b0 = r.normal(size=(5, 4)), r.normal(size=(4,))
    with strategy.scope():
        w, b = tf.Variable(w0), tf.Variable(b0)
    for label, (share, full, data) in linear_cases().items():

        def replica(x_r, *data_r, share=share):
            with tf.GradientTape() as tape:
                value = share(x_r @ w + b, *data_r)
            return value, tape.gradient(value, [w, b])

        @tf.function
        def step(x_d, *data_d, replica=replica):
            value, grads = strategy.run(replica, args=(x_d, *data_d))
            return strategy.reduce(SUM, value, axis=None), [
                strategy.reduce(SUM, g, axis=None) for g in grads
            ]

        got_value, got_grads = step(
            per_replica(strategy, x), *(per_replica(strategy, d) for d in data)
        )
        # one replica: the whole batch, plain losskit, no strategy
        w1, b1 = tf.Variable(w0), tf.Variable(b0)
        with tf.GradientTape() as tape:
            expected = full(tf.constant(x) @ w1 + b1, *(tf.constant(d) for d in data))
        expected_grads = tape.gradient(expected, [w1, b1])
        check(f"{label} value", got_value, expected, VALUE)
        for g, e in zip(got_grads, expected_grads, strict=True):
            check(f"{label} gradient", g, e, GRAD)
        if label == "no valid label anywhere":
            assert float(got_value) == 0.0 and not np.any(got_grads[0].numpy())


def token_loss() -> None:
    """linear_cross_entropy with its output weight a mirrored variable; replica 0 holds only
    padding."""
    strategy = mirrored()
    r = np.random.default_rng(2)
    hidden, weight0 = r.normal(size=(N, 3, 6)), r.normal(size=(9, 6))
    targets = r.integers(0, 9, (N, 3))
    targets[:4] = -100
    with strategy.scope():
        weight = tf.Variable(weight0)

    def replica(h, t):
        with tf.GradientTape() as tape:
            value = lktf.replica_loss(lk.linear_cross_entropy, h, weight, t)
        return value, tape.gradient(value, weight)

    @tf.function
    def step(h, t):
        value, grad = strategy.run(replica, args=(h, t))
        return strategy.reduce(SUM, value, axis=None), strategy.reduce(SUM, grad, axis=None)

    got = step(per_replica(strategy, hidden), per_replica(strategy, targets))
    single = tf.Variable(weight0)
    with tf.GradientTape() as tape:
        expected = lk.linear_cross_entropy(tf.constant(hidden), single, tf.constant(targets))
    check("linear_cross_entropy value", got[0], expected, VALUE)
    check("linear_cross_entropy gradient", got[1], tape.gradient(expected, single), GRAD)


def keras_optimizer_step() -> None:
    """The recipe: replica_loss per replica, a Keras optimizer applies the summed gradients."""
    keras.config.set_floatx("float64")
    strategy = mirrored()
    r = np.random.default_rng(3)
    x, y = r.normal(size=(N, 5)), r.integers(0, 3, N)
    y[4:7] = -1
    initial = [r.normal(size=(5, 3)), r.normal(size=(3,))]
    options = {"from_logits": True, "ignore_index": -1}

    def model_and_optimizer():
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
        model.set_weights(initial)
        return model, keras.optimizers.SGD(learning_rate=1.0)

    with strategy.scope():
        model, optimizer = model_and_optimizer()

    def replica(x_r, y_r):
        with tf.GradientTape() as tape:
            loss = lktf.replica_loss(
                lk.sparse_categorical_crossentropy, y_r, model(x_r, training=True), **options
            )
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def train_step(x_d, y_d):
        return strategy.reduce(SUM, strategy.run(replica, args=(x_d, y_d)), axis=None)

    loss = train_step(per_replica(strategy, x), per_replica(strategy, y))
    reference, reference_optimizer = model_and_optimizer()
    with tf.GradientTape() as tape:
        expected = lk.sparse_categorical_crossentropy(y, reference(x, training=True), **options)
    grads = tape.gradient(expected, reference.trainable_variables)
    reference_optimizer.apply_gradients(zip(grads, reference.trainable_variables, strict=True))
    check("Keras optimizer step: loss", loss, expected, VALUE)
    for got, want in zip(model.get_weights(), reference.get_weights(), strict=True):
        check("Keras optimizer step: weights", got, want, GRAD)


# ---------------------------------------------------------------------- model.fit
def fit_one_step(strategy, make_loss, x, y, initial):
    with strategy.scope():
        model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(3)])
        model.set_weights(initial)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss=make_loss())
    history = model.fit(x, y, batch_size=N, epochs=1, shuffle=False, verbose=0)
    update = [w - w0 for w, w0 in zip(model.get_weights(), initial, strict=True)]
    return update, history.history["loss"][0]


def keras_fit() -> None:
    keras.config.set_floatx("float64")
    r = np.random.default_rng(4)
    x = r.normal(size=(N, 5))
    labels, targets = r.integers(0, 3, N), r.normal(size=(N, 3))
    initial = [r.normal(size=(5, 3)), r.normal(size=(3,))]
    one = tf.distribute.OneDeviceStrategy("/cpu:0")
    two = mirrored()
    cases = [
        # Keras's own loss first: the control for the comparison itself
        ("keras SparseCategoricalCrossentropy",
         lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True), labels),
        ("losskit.keras SparseCategoricalCrossentropy",
         lambda: lkk.SparseCategoricalCrossentropy(from_logits=True), labels),
        ("losskit.keras Huber", lambda: lkk.Huber(delta=0.5), targets),
        ("losskit.keras Loss(sum)",
         lambda: lkk.Loss(0.5 * lk.Loss("mse") + lk.Loss("huber", delta=0.5)), targets),
    ]  # fmt: skip
    for label, make_loss, y in cases:
        update_one, loss_one = fit_one_step(one, make_loss, x, y, initial)
        update_two, loss_two = fit_one_step(two, make_loss, x, y, initial)
        ratio = float(np.sum(update_two[0] * update_one[0]) / np.sum(update_one[0] ** 2))
        scaled = f" (2 replicas / 1: {ratio:.3g}× the update)"
        check(f"{label}: logged loss{scaled}", loss_two, loss_one, VALUE)
        for got, expected in zip(update_two, update_one, strict=True):
            check(f"{label}: first-step update{scaled}", got, expected, GRAD)


def main(part: str) -> None:
    if part == "loop":
        custom_loops()
        token_loss()
        keras_optimizer_step()
    elif part == "keras":
        keras_fit()
    else:
        raise SystemExit(f"usage: {sys.argv[0]} loop|keras")
    print("all ok")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
