"""``losskit.distributed.jax``: global means and InfoNCE over a batch split across devices.

In this process the collectives run under ``jax.vmap(..., axis_name=...)`` (each lane plays a
device); ``scripts/distributed_jax_check.py`` runs ``jax.jit`` on ``NamedSharding`` inputs and
``shard_map`` on four host devices, in its own process since the device count is fixed when JAX
starts. References are the full-batch losskit losses in float64.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

import losskit as lk  # noqa: E402
from cases import FACTORIES, case  # noqa: E402
from losskit.distributed import jax as lkj  # noqa: E402

SCRIPTS = Path(__file__).parent / "scripts"
AXIS = "devices"


def shards(x, devices: int):
    """``(N, ...)`` → ``(devices, N / devices, ...)``: the batch as equal shards."""
    return jnp.reshape(jnp.asarray(x), (devices, x.shape[0] // devices, *x.shape[1:]))


def on_devices(function, inputs: list, shared: tuple[int, ...] = (), devices: int = 2):
    """``function(*shard_inputs)`` on each of ``devices`` vmap lanes bound to ``AXIS``; inputs at
    ``shared`` are the same on every lane. Returns every lane's result."""
    mapped = [None if i in shared else shards(x, devices) for i, x in enumerate(inputs)]
    in_axes = tuple(None if m is None else 0 for m in mapped)
    arguments = [x if m is None else m for x, m in zip(inputs, mapped, strict=True)]
    return jax.jit(jax.vmap(function, in_axes=in_axes, axis_name=AXIS))(*arguments)


def close(got, expected, rtol=1e-9, atol=1e-12):
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=rtol, atol=atol)


def same_value_and_gradients(sharded, full, args, argnums=(0,)):
    """``sharded`` (lane 0 of the devices) and ``full`` (the whole batch): equal values and
    gradients with respect to ``args[argnums]``."""
    got = jax.jit(jax.value_and_grad(sharded, argnums=argnums))(*args)
    expected = jax.jit(jax.value_and_grad(full, argnums=argnums))(*args)
    close(got[0], expected[0])
    for g, e in zip(got[1], expected[1], strict=True):
        assert np.all(np.isfinite(np.asarray(g)))
        close(g, e)


# ---------------------------------------------------------------------- global_mean
REGISTERED = sorted(set(FACTORIES) & set(lk.names()))


def _couples_the_batch(name: str, inputs: list, params: dict) -> bool:
    if lk.info(name).properties.get("batch"):
        return True
    return np.shape(lk.get(name)(*inputs, reduction="none", **params)) == ()


@pytest.mark.parametrize("name", REGISTERED)
def test_every_loss_splits_into_sums_and_counts(name):
    """Every loss that is a sum over its examples: the shards' sums over their counts is the
    full-batch "mean" (so global_mean's psums give it); the others (batch losses, one value per
    batch) are refused by global_mean, naming what to do."""
    c = case(name)
    if _couples_the_batch(name, c.inputs, c.params):
        with pytest.raises(ValueError, match=r"global_mean: .*(batch|per_image)"):
            lkj.global_mean(name, *c.inputs, axis_name=AXIS, **c.params)
        return
    halves = [
        [x if i in c.shared else np.array_split(x, 2)[half] for i, x in enumerate(c.inputs)]
        for half in (0, 1)
    ]
    parts = [lkj.sum_and_count(name, *inputs, **c.params) for inputs in halves]
    total = sum(float(s) for s, _ in parts) / sum(float(n) for _, n in parts)
    close(total, lk.get(name)(*c.inputs, **c.params))


SPARSE_OPTIONS = {
    "sparse_categorical_crossentropy": {"from_logits": True, "class_weight": [1.0, 2.0, 0.5, 3.0]},
    "sparse_categorical_focal_crossentropy": {"gamma": 2.0, "alpha": [0.2, 0.3, 0.4, 0.1]},
    "multiclass_hinge": {"class_weight": [1.0, 2.0, 0.5, 3.0]},
    "sparsemax_loss": {},
}


@pytest.mark.parametrize("name", sorted(SPARSE_OPTIONS))
def test_global_mean_with_ignore_index_mask_and_weights(name):
    """Shards with different numbers of valid entries, one with none: the global mean weighs
    every valid entry once, as the full batch does — value and gradient."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 8)
    labels[[2, 3, 4]] = -1  # shard 1 (rows 2, 3): nothing valid
    mask = np.array([True, True, True, True, True, False, True, True])
    weights = rng.random(8) + 0.1
    z = rng.normal(size=(8, 4))
    if name == "sparse_categorical_focal_crossentropy":
        z = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    options = {"ignore_index": -1, **SPARSE_OPTIONS[name]}
    loss = lk.get(name)

    def full(y_pred):
        return loss(labels, y_pred, mask=mask, sample_weight=weights, **options)

    def body(y, y_pred, m, w):
        return lkj.global_mean(loss, y, y_pred, axis_name=AXIS, mask=m, sample_weight=w, **options)

    close(on_devices(body, [labels, z, mask, weights], devices=4), jnp.full(4, full(z)))
    if name == "sparse_categorical_crossentropy":
        lane0 = lambda p: on_devices(body, [labels, p, mask, weights], devices=4)[0]  # noqa: E731
        same_value_and_gradients(lane0, full, [z])


def test_global_mean_of_a_token_loss_with_a_shared_weight():
    rng = np.random.default_rng(2)
    hidden, weight = rng.normal(size=(8, 3, 5)), rng.normal(size=(7, 5))
    targets = rng.integers(0, 7, (8, 3))
    targets[:2] = -100  # shard 0: padding only

    def body(h, w, t):
        return lkj.global_mean(lk.linear_cross_entropy, h, w, t, axis_name=AXIS, z_loss=1e-3)

    def full(h, w):
        return lk.linear_cross_entropy(h, w, targets, z_loss=1e-3)

    def lane0(h, w):
        return on_devices(body, [h, w, targets], shared=(1,), devices=4)[0]

    same_value_and_gradients(lane0, full, [hidden, weight], argnums=(0, 1))


@pytest.mark.parametrize("chunk_size", [None, 2])
def test_global_mean_of_distillation_between_two_heads(chunk_size):
    """The student's hidden states and the teacher's split across devices, both weights shared;
    chunked (``chunk_size=2``) and plain."""
    rng = np.random.default_rng(5)
    student, weight = rng.normal(size=(8, 3, 5)), rng.normal(size=(7, 5))
    teacher, teacher_weight = rng.normal(size=(8, 3, 6)), rng.normal(size=(7, 6))
    targets = rng.integers(0, 7, (8, 3))
    targets[:2] = -100  # shard 0: padding only
    options = {"beta": 0.3, "temperature": 1.5, "chunk_size": chunk_size}

    def body(h, w, ht, wt, t):
        return lkj.global_mean(
            lk.linear_distillation, h, w, ht, wt, axis_name=AXIS, targets=t, **options
        )

    def full(h, w):
        return lk.linear_distillation(h, w, teacher, teacher_weight, targets=targets, **options)

    def lane0(h, w):
        inputs = [h, w, teacher, teacher_weight, targets]
        return on_devices(body, inputs, shared=(1, 3), devices=4)[0]

    same_value_and_gradients(lane0, full, [student, weight], argnums=(0, 1))


def test_global_mean_of_a_sum_of_losses_adds_the_global_means():
    rng = np.random.default_rng(3)
    y, p = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    weights = np.array([1.0, 0.0, 0.0, 0.0, 2.0, 1.0])
    both = 0.5 * lk.Loss("mse") + lk.Loss("huber", delta=0.5)

    def body(a, b, w):
        return lkj.global_mean(both, a, b, axis_name=AXIS, sample_weight=w)

    close(
        on_devices(body, [y, p, weights], devices=3), jnp.full(3, both(y, p, sample_weight=weights))
    )


def test_no_valid_entry_anywhere_gives_zero_and_a_zero_gradient():
    labels, z = np.full(6, -100), np.random.default_rng(4).normal(size=(6, 3))

    def lane0(p):
        return on_devices(
            lambda y, q: lkj.global_mean(
                "sparse_categorical_crossentropy",
                y,
                q,
                axis_name=AXIS,
                from_logits=True,
                ignore_index=-100,
            ),
            [labels, p],
            devices=3,
        )[0]

    value, grad = jax.value_and_grad(lane0)(z)
    assert float(value) == 0.0
    assert np.all(np.asarray(grad) == 0.0)


# ---------------------------------------------------------------------- sum_and_count, psum_mean
def test_sum_over_count_is_the_loss_mean():
    rng = np.random.default_rng(5)
    labels = np.array([0, -100, 2, 1])
    logits = jnp.asarray(rng.normal(size=(4, 3)))
    kwargs = {"from_logits": True, "ignore_index": -100, "class_weight": [1.0, 3.0, 0.5]}
    loss_sum, count = lkj.sum_and_count("sparse_categorical_crossentropy", labels, logits, **kwargs)
    close(count, 1.0 + 0.5 + 3.0)  # the weights of the three valid labels
    close(loss_sum / count, lk.sparse_categorical_crossentropy(labels, logits, **kwargs))


def test_psum_mean_with_counts_written_directly():
    rng = np.random.default_rng(6)
    tokens = rng.integers(0, 5, (6, 4))
    tokens[2:4] = 0  # 0 is padding; shard 1 holds only padding
    logits = rng.normal(size=(6, 4, 5))

    def body(t, z):
        total = lk.sparse_categorical_crossentropy(
            t, z, from_logits=True, ignore_index=0, reduction="sum"
        )
        return lkj.psum_mean(total, jnp.sum(t != 0), AXIS)

    full = lk.sparse_categorical_crossentropy(tokens, logits, from_logits=True, ignore_index=0)
    close(on_devices(body, [tokens, logits], devices=3), jnp.full(3, full))


def test_psum_mean_of_zero_counts_is_zero_without_nan():
    def lane0(s):
        return jax.vmap(lambda v: lkj.psum_mean(v, 0.0, AXIS), axis_name=AXIS)(s)[0]

    value, grad = jax.value_and_grad(lane0)(jnp.array([0.0, 0.0]))
    assert float(value) == 0.0 and np.all(np.asarray(grad) == 0.0)


# ---------------------------------------------------------------------- info_nce
INFO_NCE_OPTIONS = [
    {},
    {"negatives": "cross_view", "temperature": 0.07},  # CLIP
    {"negatives": "cross_view", "symmetric": False, "normalize": False, "reduction": "sum"},
    {"symmetric": False, "normalizer": 5.0},
]


@pytest.mark.parametrize("options", INFO_NCE_OPTIONS, ids=str)
def test_info_nce_over_the_shards_is_the_global_batch_loss(options):
    rng = np.random.default_rng(7)
    z_a, z_b = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))

    def lane0(a, b):
        return on_devices(
            lambda x, y: lkj.info_nce(x, y, axis_name=AXIS, **options), [a, b], devices=3
        )[0]

    def full(a, b):
        return lk.info_nce(a, b, **options)

    same_value_and_gradients(lane0, full, [z_a, z_b], argnums=(0, 1))


def test_info_nce_with_mask_and_sample_weight():
    """A masked pair is neither an anchor nor a candidate on any device."""
    rng = np.random.default_rng(8)
    z_a, z_b = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
    mask = np.array([True, False, True, True, False, False, True, True])
    weights = rng.random(8) + 0.5

    def lane0(a, b):
        return on_devices(
            lambda x, y, m, w: lkj.info_nce(x, y, axis_name=AXIS, mask=m, sample_weight=w),
            [a, b, mask, weights],
            devices=4,
        )[0]

    def full(a, b):
        return lk.info_nce(a, b, mask=mask, sample_weight=weights)

    same_value_and_gradients(lane0, full, [z_a, z_b], argnums=(0, 1))


def test_info_nce_rows_are_the_shards_rows_of_the_global_loss():
    rng = np.random.default_rng(9)
    z_a, z_b = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    rows = on_devices(
        lambda a, b: lkj.info_nce(a, b, axis_name=AXIS, reduction="none"), [z_a, z_b], devices=3
    )
    close(rows.reshape(6, 2), lk.info_nce(z_a, z_b, reduction="none"))


# ---------------------------------------------------------------------- errors
def test_bad_arguments_name_the_argument():
    y, p = jnp.zeros(4), jnp.ones(4)
    with pytest.raises(TypeError, match="reduction="):
        lkj.global_mean("mse", y, p, axis_name=AXIS, reduction="sum")
    with pytest.raises(TypeError, match="normalizer="):
        lkj.sum_and_count("mse", y, p, normalizer=4.0)
    with pytest.raises(ValueError, match="terms"):
        lkj.sum_and_count(lk.Loss("mse") + lk.Loss("mae"), y, p)
    with pytest.raises(ValueError, match="loss_sum must be a 0-d array"):
        lkj.psum_mean(jnp.ones(3), 1.0, AXIS)
    with pytest.raises(TypeError, match="count must be a number"):
        lkj.psum_mean(jnp.ones(()), True, AXIS)
    with pytest.raises(ValueError, match="axis_name='nowhere' is not a bound axis"):
        lkj.global_mean("mse", y, p, axis_name="nowhere")
    with pytest.raises(ValueError, match="axis_name='nowhere' is not a bound axis"):
        lkj.info_nce(jnp.ones((2, 3)), jnp.ones((2, 3)), axis_name="nowhere")


def test_bad_info_nce_arguments_name_the_argument():
    a = jnp.ones((2, 3))
    with pytest.raises(ValueError, match="temperature"):
        lkj.info_nce(a, a, axis_name=AXIS, temperature=0.0)
    with pytest.raises(ValueError, match="negatives"):
        lkj.info_nce(a, a, axis_name=AXIS, negatives="some")
    with pytest.raises(ValueError, match="reduction"):
        lkj.info_nce(a, a, axis_name=AXIS, reduction="sum_over_batch_size")
    with pytest.raises(ValueError, match="z_a and z_b must have the same shape"):
        lkj.info_nce(a, jnp.ones((2, 4)), axis_name=AXIS)
    with pytest.raises(ValueError, match="mask must have one entry"):
        lkj.info_nce(a, a, axis_name=AXIS, mask=jnp.ones(3, bool))


# ---------------------------------------------------------------------- four devices
@pytest.mark.slow
def test_jit_and_shard_map_on_four_devices():
    """jit on NamedSharding inputs and shard_map with this module, four host devices."""
    env = {
        **os.environ,
        "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
    }
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "distributed_jax_check.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "all ok" in result.stdout, result.stdout
