"""``losskit.keras`` reductions against Keras's own loss classes, under each Keras backend.

Every Keras reduction (``None``, ``"none"``, ``"sum"``, ``"sum_over_batch_size"``, ``"mean"``,
``"mean_with_sample_weight"``), without and with ``(N,)`` and ``(N, 1)`` sample weights, on the
losses Keras has (MSE, MAE, MAPE, MSLE, Huber, LogCosh, Poisson, cosine similarity, binary and
categorical (focal) cross-entropy, sparse cross-entropy with and without ``ignore_class``, KL
divergence, the hinge family, Dice, Tversky, Circle): the same values and shapes. Keras picks its
backend once per process, so each backend runs ``scripts/keras_reduction_parity.py`` in a
subprocess. The rest is checked here in process, on NumPy inputs under the default backend.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parent / "scripts" / "keras_reduction_parity.py"
BACKENDS = ("tensorflow", "jax", "torch")

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("keras") is None, reason="keras is not installed"
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_reductions_match_keras(backend: str) -> None:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "parity ok" in result.stdout, result.stdout


def test_plain_function_keeps_the_elementwise_contract() -> None:
    """Only the Keras class averages the last axis; the plain function stays elementwise."""
    lk = pytest.importorskip("losskit")
    lkk = pytest.importorskip("losskit.keras")
    y, p = np.zeros((2, 3)), np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 3.0]])
    assert np.shape(lk.mean_squared_error(y, p, reduction="none")) == (2, 3)
    np.testing.assert_allclose(float(lk.mean_squared_error(y, p, reduction="sum")), 23.0)
    per_sample = np.asarray(lkk.MeanSquaredError(reduction=None)(y, p))
    np.testing.assert_allclose(per_sample, [14.0 / 3, 3.0], rtol=1e-6)
    np.testing.assert_allclose(float(lkk.MeanSquaredError(reduction="sum")(y, p)), 23.0 / 3)


def test_rank_one_batch_has_one_value_per_entry() -> None:
    """A deliberate difference: Keras averages a rank-1 batch into one value; losskit.keras
    treats each entry as a sample (what Keras does for the same batch as ``(N, 1)``)."""
    lkk = pytest.importorskip("losskit.keras")
    y, p = np.zeros(3), np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(np.asarray(lkk.MeanSquaredError(reduction=None)(y, p)), p**2)
    column = lkk.MeanSquaredError(reduction="sum")(y[:, None], p[:, None])
    np.testing.assert_allclose(float(lkk.MeanSquaredError(reduction="sum")(y, p)), float(column))


def test_target_without_trailing_axis_meets_a_column_prediction() -> None:
    """``y`` of shape ``(N,)`` against a ``Dense(1)`` output ``(N, 1)``, as in ``model.fit``."""
    lkk = pytest.importorskip("losskit.keras")
    y, p = np.zeros(3), np.array([[1.0], [2.0], [3.0]])
    np.testing.assert_allclose(float(lkk.Huber(reduction="sum")(y, p)), 0.5 + 1.5 + 2.5)
    assert np.shape(lkk.MeanSquaredError(reduction=None)(y, p)) == (3,)


def test_batch_loss_is_its_own_per_sample_value() -> None:
    """VICReg gives one value per batch: every reduction returns it."""
    lk = pytest.importorskip("losskit")
    lkk = pytest.importorskip("losskit.keras")
    rng = np.random.default_rng(0)
    views = rng.normal(size=(8, 2, 4))
    expected = float(lk.vicreg(views[:, 0], views[:, 1]))
    for reduction in (None, "sum", "sum_over_batch_size", "mean_with_sample_weight"):
        got = lkk.Vicreg(reduction=reduction)(None, views)
        np.testing.assert_allclose(float(got), expected, rtol=1e-6, err_msg=str(reduction))
