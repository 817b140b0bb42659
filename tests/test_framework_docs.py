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
