"""Every Python example in the README runs as written (each in a fresh interpreter)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
TF_QUIETING = ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")
TF_START_UP = r"oneDNN custom operations|absl::InitializeLog|cpu_feature_guard"
NEEDS = {
    "torch": "torch",
    "jax": "jax",
    "tensorflow": "tensorflow",
    "array_api_strict": "array_api_strict",
}


def _missing(code: str) -> list[str]:
    import importlib.util

    return [
        m
        for key, m in NEEDS.items()
        if f"import {key}" in code and importlib.util.find_spec(m) is None
    ]


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index):
    code = BLOCKS[index]
    missing = _missing(code)
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    # as a reader runs it: no variables that quiet TensorFlow from the test environment
    env = {k: v for k, v in os.environ.items() if k not in TF_QUIETING}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # a snippet that imports TensorFlow quiets its start-up log itself
    assert not re.search(TF_START_UP, done.stderr), done.stderr[-3000:]


def test_readme_has_examples():
    assert len(BLOCKS) >= 5
