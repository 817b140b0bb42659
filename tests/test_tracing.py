"""Losses inside jax.jit / grad / vmap, tf.function(jit_compile=True), torch.func and torch.compile.

Value checks need concrete values, so they are skipped while tracing: invalid values passed to a
traced loss do not raise. torch.compile runs in its own process (it was seen to crash once
TensorFlow had been imported in the same process).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import losskit as lk
import reference as ref

RNG = np.random.default_rng(3)
LOGITS = RNG.normal(size=(5, 4)) * 3
LABELS = np.array([0, 3, -1, 2, 1])
TARGETS = (RNG.random((5, 4)) > 0.5).astype(float)


def _expected_sparse() -> float:
    valid = LABELS != -1
    per = ref.cce_logits(ref.one_hot(LABELS[valid], 4), LOGITS[valid])
    return float(per.mean())


def test_jax_jit_grad_vmap():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    labels, logits = jnp.asarray(LABELS), jnp.asarray(LOGITS)

    def loss(z):
        return lk.sparse_categorical_crossentropy(labels, z, from_logits=True, ignore_index=-1)

    value, grad = jax.jit(jax.value_and_grad(loss))(logits)
    np.testing.assert_allclose(float(value), _expected_sparse(), rtol=1e-12)
    valid = (LABELS != -1)[:, None]
    expected_grad = (
        np.where(
            valid, ref.cce_logits_grad(ref.one_hot(np.where(LABELS < 0, 0, LABELS), 4), LOGITS), 0
        )
        / valid.sum()
    )
    np.testing.assert_allclose(np.asarray(grad), expected_grad, rtol=1e-10, atol=1e-14)
    per_sample = jax.vmap(lambda y, z: lk.binary_crossentropy(y, z, from_logits=True))(
        jnp.asarray(TARGETS), logits
    )
    np.testing.assert_allclose(
        np.asarray(per_sample), ref.bce_logits(TARGETS, LOGITS).mean(axis=1), rtol=1e-12
    )


def test_jax_jit_skips_value_checks():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    bad = jnp.asarray([0.5, 2.0])  # not a probability: eager raises, traced cannot look
    with pytest.raises(ValueError):
        lk.binary_crossentropy(jnp.asarray([0.0, 1.0]), bad)
    out = jax.jit(lambda p: lk.binary_crossentropy(jnp.asarray([0.0, 1.0]), p))(bad)
    assert out.shape == ()


@pytest.mark.parametrize("name", ["mean_squared_error", "binary_crossentropy", "dice"])
def test_jax_jit_of_a_closure_over_concrete_arrays(name):
    """Arrays captured by a jitted function are concrete, but what the checks compute from them
    is traced: the checks must notice and skip, not read a tracer back."""
    jax = pytest.importorskip("jax")
    y, p = np.array([[0.0, 1.0]]), np.array([[0.3, 0.6]])
    if name == "dice":
        y, p = np.array([[0, 1]]), np.array([[[0.7, 0.3], [0.2, 0.8]]])
    y_jax, p_jax = jax.numpy.asarray(y), jax.numpy.asarray(p)
    loss = lk.get(name)
    traced = jax.jit(lambda: loss(y_jax, p_jax))()
    np.testing.assert_allclose(float(traced), float(loss(y, p)), rtol=1e-6)


def test_tf_function_jit_compile():
    tf = pytest.importorskip("tensorflow")
    labels = tf.constant(LABELS)
    logits = tf.constant(LOGITS)

    @tf.function(jit_compile=True)
    def step(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            value = lk.sparse_categorical_crossentropy(
                labels, z, from_logits=True, ignore_index=-1, label_smoothing=0.0
            )
            value = value + lk.binary_crossentropy(
                tf.constant(TARGETS), z, from_logits=True, reduction="sum"
            )
            value = value + lk.mean_squared_error(tf.constant(TARGETS), z)
        return value, tape.gradient(value, z)

    value, grad = step(logits)
    expected = (
        _expected_sparse()
        + ref.bce_logits(TARGETS, LOGITS).sum()
        + ref.squared_error(TARGETS, LOGITS).mean()
    )
    np.testing.assert_allclose(float(value), expected, rtol=1e-12)
    assert np.all(np.isfinite(grad.numpy()))


def test_tf_function_with_unknown_batch_size():
    tf = pytest.importorskip("tensorflow")

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float64)])
    def mean_loss(z):
        return lk.binary_crossentropy(tf.constant(TARGETS[:2]), z[:2], from_logits=True) + (
            lk.mean_squared_error(tf.zeros_like(z), z)
        )

    got = mean_loss(tf.constant(LOGITS))
    expected = ref.bce_logits(TARGETS[:2], LOGITS[:2]).mean() + (LOGITS**2).mean()
    np.testing.assert_allclose(float(got), expected, rtol=1e-12)


def test_tf_variable_is_accepted():
    tf = pytest.importorskip("tensorflow")
    z = tf.Variable(LOGITS)
    with tf.GradientTape() as tape:
        value = lk.binary_crossentropy(TARGETS, z, from_logits=True)
    grad = tape.gradient(value, z)
    np.testing.assert_allclose(grad.numpy(), ref.bce_logits_grad(TARGETS, LOGITS) / LOGITS.size)


def test_torch_func_grad_and_vmap():
    torch = pytest.importorskip("torch")
    from torch.func import grad, vmap

    labels = torch.as_tensor(np.where(LABELS < 0, 0, LABELS))
    logits = torch.as_tensor(LOGITS)
    g = grad(lambda z: lk.sparse_categorical_crossentropy(labels, z, from_logits=True))(logits)
    expected = ref.cce_logits_grad(ref.one_hot(labels.numpy(), 4), LOGITS) / len(LOGITS)
    np.testing.assert_allclose(g.numpy(), expected, rtol=1e-12, atol=1e-15)
    per_sample = vmap(lambda y, z: lk.binary_crossentropy(y, z, from_logits=True))(
        torch.as_tensor(TARGETS), logits
    )
    np.testing.assert_allclose(
        per_sample.numpy(), ref.bce_logits(TARGETS, LOGITS).mean(axis=1), rtol=1e-12
    )


@pytest.mark.slow
def test_torch_compile_fullgraph_in_subprocess():
    pytest.importorskip("torch")
    script = Path(__file__).parent / "scripts" / "torch_compile_check.py"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, str(script), "--inductor"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("ok ") == 10


def test_import_losskit_imports_no_framework():
    code = (
        "import sys, losskit, losskit.ops\n"
        "loaded = [m for m in ('torch', 'jax', 'tensorflow', 'keras') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "import numpy as np\n"
        "losskit.binary_crossentropy(np.array([1.0]), np.array([0.5]))\n"
        "assert not [m for m in ('torch', 'jax', 'tensorflow') if m in sys.modules]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
