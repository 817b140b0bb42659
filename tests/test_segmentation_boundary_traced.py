"""The boundary-aware losses under jax.jit, tf.function(jit_compile=True) and torch.compile
(slow: each compiles the distance transforms)."""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk
from test_segmentation_boundary import KW, LABELS, LOGITS


def test_jax_jit_and_tf_function_agree_with_eager():
    jax = pytest.importorskip("jax")
    tf = pytest.importorskip("tensorflow")
    for loss in (lk.boundary_loss, lk.hausdorff_dt, lk.soft_cldice):
        eager = float(loss(LABELS, LOGITS, **KW))
        jitted = jax.jit(lambda y, z, loss=loss: loss(y, z, **KW))(LABELS, LOGITS)
        compiled = tf.function(lambda y, z, loss=loss: loss(y, z, **KW), jit_compile=True)(
            tf.constant(LABELS), tf.constant(LOGITS)
        )
        np.testing.assert_allclose([float(jitted), float(compiled)], eager, rtol=1e-12)


def test_torch_compile_agrees_with_eager():
    torch = pytest.importorskip("torch")
    z = torch.as_tensor(LOGITS)
    labels = torch.as_tensor(LABELS)
    eager = lk.hausdorff_dt(labels, z, **KW)
    compiled = torch.compile(lambda y, t: lk.hausdorff_dt(y, t, **KW), backend="eager")
    np.testing.assert_allclose(float(compiled(labels, z)), float(eager), rtol=1e-12)
