"""Every Python block of docs/boost.md runs as written, each in a fresh process."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).parent.parent / "docs" / "boost.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)
LIBRARIES = ("xgboost", "lightgbm", "catboost", "sklearn")


def test_page_has_a_worked_example_per_library():
    for library in ("xgboost", "lightgbm", "catboost"):
        assert any(f"import {library}" in b or f"from {library} import" in b for b in BLOCKS)


@pytest.mark.slow
@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_block_runs(number, tmp_path):
    block = BLOCKS[number]
    for library in LIBRARIES:
        uses = f"import {library}" in block or f"from {library}" in block
        if uses and importlib.util.find_spec(library) is None:
            pytest.skip(f"{library} is not installed")
    script = tmp_path / f"boost_{number}.py"
    script.write_text(block, encoding="utf-8")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, f"docs/boost.md block {number}:\n{block}\n{result.stderr}"
