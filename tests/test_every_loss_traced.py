"""Every registered loss under JAX's and TensorFlow's transformations, from ``cases.CASES``.

JAX: ``jit`` equals eager, ``grad`` is finite, ``vmap`` over an extra leading axis equals a loop.
TensorFlow: ``GradientTape`` gradients are finite, ``tf.function(jit_compile=True)`` equals eager,
and the loss runs as a metric inside a ``tf.data`` pipeline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import losskit as lk
from cases import FACTORIES, case
from conftest import get_backend

NAMES = lk.names()


def test_every_registered_loss_has_a_case():
    missing = sorted(set(NAMES) - set(FACTORIES))
    assert not missing, f"add these losses to tests/cases.py: {missing}"


def _native(backend, inputs):
    return [backend.array(x) for x in inputs]


@pytest.mark.parametrize("name", NAMES)
def test_jax_jit_grad_vmap(name):
    b = get_backend("jax")
    import jax

    c, f = case(name), lk.get(name)
    inputs = _native(b, c.inputs)
    eager = f(*inputs, **c.params)
    jitted = jax.jit(lambda *xs: f(*xs, **c.params))(*inputs)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-10, atol=1e-12)
    for i in c.differentiable:

        def of_input(x, i=i):
            return f(*inputs[:i], x, *inputs[i + 1 :], **c.params)

        g = jax.grad(of_input)(inputs[i])
        assert np.isfinite(np.asarray(g)).all(), (name, i)
    # a second example with the same domain: the predictions' rows in reverse order
    shifted = [np.flip(x, 0).copy() if k in c.differentiable else x for k, x in enumerate(c.inputs)]
    stacked = [b.array(np.stack([x, y])) for x, y in zip(c.inputs, shifted, strict=True)]
    mapped = jax.vmap(lambda *xs: f(*xs, **c.params))(*stacked)
    looped = [f(*_native(b, xs), **c.params) for xs in (c.inputs, shifted)]
    np.testing.assert_allclose(
        np.asarray(mapped), np.asarray(looped), rtol=1e-10, atol=1e-12, err_msg=name
    )


@pytest.mark.parametrize("name", NAMES)
def test_tensorflow_tape_xla_and_dataset(name):
    b = get_backend("tensorflow")
    import tensorflow as tf

    c, f = case(name), lk.get(name)
    inputs = _native(b, c.inputs)
    eager = f(*inputs, **c.params)
    compiled = tf.function(lambda *xs: f(*xs, **c.params), jit_compile=True)(*inputs)
    np.testing.assert_allclose(compiled.numpy(), eager.numpy(), rtol=1e-10, atol=1e-12)
    variables = [tf.Variable(inputs[i]) for i in c.differentiable]
    with tf.GradientTape() as tape:
        args = list(inputs)
        for i, v in zip(c.differentiable, variables, strict=True):
            args[i] = tf.convert_to_tensor(v)
        value = f(*args, **c.params)
    for g in tape.gradient(value, variables):
        assert g is not None and np.isfinite(g.numpy()).all(), name
    batch = c.inputs[0].shape[0] // 2
    sliced = [i for i in range(len(inputs)) if i not in c.shared]

    def with_shared(xs: tuple[Any, ...]) -> list[Any]:
        args = list(inputs)
        for i, x in zip(sliced, xs, strict=True):
            args[i] = x
        return args

    per_batch = tf.data.Dataset.from_tensor_slices(tuple(inputs[i] for i in sliced)).batch(batch)
    sums = [
        float(s)
        for s in per_batch.map(lambda *xs: f(*with_shared(xs), **c.params, reduction="sum"))
    ]
    expected = [
        float(
            f(
                *[x if j in c.shared else x[i : i + batch] for j, x in enumerate(c.inputs)],
                **c.params,
                reduction="sum",
            )
        )
        for i in range(0, c.inputs[0].shape[0], batch)
    ]
    np.testing.assert_allclose(sums, expected, rtol=1e-10, atol=1e-12, err_msg=name)
