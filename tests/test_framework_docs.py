"""Every Python snippet of the "using losskit with X" pages runs, each page in a fresh process."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGES = Path(__file__).parent.parent / "docs" / "frameworks"
NEEDS = {"pytorch": "torch", "jax": "jax", "tensorflow": "tensorflow", "keras": "keras"}


@pytest.mark.slow
@pytest.mark.parametrize("page", sorted(NEEDS))
def test_page_snippets_run(page, tmp_path):
    if importlib.util.find_spec(NEEDS[page]) is None:
        pytest.skip(f"{NEEDS[page]} is not installed")
    text = (PAGES / f"{page}.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, f"no snippets in {page}.md"
    for number, block in enumerate(blocks):
        script = tmp_path / f"{page}_{number}.py"
        script.write_text(block, encoding="utf-8")
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "jax"}
        result = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
        )
        assert result.returncode == 0, f"{page}.md block {number}:\n{block}\n{result.stderr}"


SCALING_OUT = Path(__file__).parent.parent / "docs" / "scaling-out.md"
#: section heading -> (module it needs, environment): JAX on 4 host devices, so the shardings and
#: shard_map split the batch for real
SCALING_SECTIONS = {
    "## JAX": ("jax", {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}),
    "## TensorFlow": ("tensorflow", {"KERAS_BACKEND": "tensorflow"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("heading", sorted(SCALING_SECTIONS))
def test_scaling_out_sections_run(heading, tmp_path):
    """The JAX and TensorFlow recipes of docs/scaling-out.md (the torch ones are run under
    torchrun by tests/test_distributed_torch.py), each section's blocks as one script."""
    module, extra_env = SCALING_SECTIONS[heading]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    sections = re.split(r"\n(?=## )", SCALING_OUT.read_text(encoding="utf-8"))
    (section,) = [s for s in sections if s.startswith(heading)]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) >= 1, heading
    script = tmp_path / "recipe.py"
    script.write_text("\n".join(blocks), encoding="utf-8")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **extra_env}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, f"{heading}:\n{result.stderr[-3000:]}"
