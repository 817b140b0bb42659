"""``losskit.keras``: a Keras loss for every registered loss, under each Keras backend.

Keras picks its backend once per process, so each backend runs ``scripts/keras_check.py`` in a
subprocess; a second, fresh process loads the saved model without importing losskit.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "scripts"
BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("keras") is None, reason="keras is not installed"
)


def _run(script: str, *args: str, backend: str) -> str:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_every_loss_fit_save_and_load(backend, tmp_path):
    if importlib.util.find_spec(BACKENDS[backend]) is None:
        pytest.skip(f"{backend} is not installed")
    path = str(tmp_path / "model.keras")
    out = _run("keras_check.py", path, backend=backend)
    assert "all ok" in out, out
    loaded = _run("keras_load_check.py", path, backend=backend).splitlines()
    assert loaded[0] == "losskit.keras CategoricalCrossentropy"
    config = json.loads(loaded[1])
    assert config.pop("name").startswith("categorical_crossentropy")
    assert config == {
        "reduction": "sum_over_batch_size",
        "from_logits": True,
        "label_smoothing": 0.05,
        "class_weight": [1.0, 2.0, 0.5],
    }
    assert loaded[2] == "0.5 * Loss('mean_squared_error') + Loss('huber', delta=0.5)"
