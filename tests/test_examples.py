"""The framework examples train to sensible results, each in a fresh process (as CI runs them)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


#: the environment variables that quiet a library's start-up (each example sets its own)
QUIETING = ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")


def _run(script: str, needs: str, **env: str) -> str:
    """Run an example as a user would (no quieting variables from the test environment) and
    check that it prints nothing on stderr: no warnings, no framework start-up log."""
    if importlib.util.find_spec(needs) is None:
        pytest.skip(f"{needs} is not installed")
    plain = {k: v for k, v in os.environ.items() if k not in QUIETING}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**plain, **env},
    )
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    assert result.stderr == "", result.stderr[-5000:]
    return result.stdout


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, text
    return float(match.group(1))


@pytest.mark.slow
def test_torch_segmentation():
    out = _run("torch_segmentation.py", "torch")
    assert _number(r"test Dice score: ([\d.]+)", out) > 0.9


@pytest.mark.slow
def test_jax_optax_quantile_regression():
    out = _run("jax_optax_regression.py", "optax")
    for level in (0.1, 0.5, 0.9):
        fraction = _number(rf"level {level:.1f}: ([\d.]+)% of points", out) / 100
        assert abs(fraction - level) < 0.03, out


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_keras_classifier(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    out = _run("keras_classifier.py", "keras", KERAS_BACKEND=backend)
    assert f"backend {backend}" in out
    assert _number(r"accuracy ([\d.]+)", out) > 0.8


@pytest.mark.slow
def test_tensorflow_custom_loop():
    out = _run("tf_custom_loop.py", "tensorflow")
    losses = [float(v) for v in re.findall(r"epoch \d+: loss ([\d.]+)", out)]
    assert len(losses) == 5 and losses[-1] < losses[0], out
    assert _number(r"validation loss ([\d.]+)", out) < losses[0]


@pytest.mark.slow
def test_dpo_tiny():
    out = _run("dpo_tiny.py", "torch")
    margins = [float(v) for v in re.findall(r"reward margin (-?[\d.]+)", out)]
    accuracies = [float(v) for v in re.findall(r"preference accuracy ([\d.]+)", out)]
    assert len(margins) == len(accuracies) == 11, out
    assert margins[0] == 0.0 and accuracies[0] == 0.0, out  # the policy starts as the reference
    assert margins[-1] > 1.0 and accuracies[-1] > 0.75, out
    assert margins[-1] > margins[len(margins) // 2] > margins[0], out


@pytest.mark.slow
def test_boost_quickstart():
    out = _run("boost_quickstart.py", "xgboost")
    # losskit's Tweedie objective grows the built-in's trees: the same test deviance
    pairs = re.findall(r"losskit tweedie ([\d.]+)   built-in tweedie ([\d.]+)", out)
    assert pairs and all(ours == theirs for ours, theirs in pairs), out
    for accuracy in re.findall(r"losskit focal +accuracy ([\d.]+)%", out):
        assert float(accuracy) > 90.0, out
