"""Every docstring example in the package runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import losskit

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(losskit.__path__, prefix="losskit.")
    if not m.name.split(".")[-1].startswith(("_torch", "_jax", "_tensorflow"))
)


@pytest.mark.parametrize("name", ["losskit", *MODULES])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_catalogue_page_is_generated_from_the_registry():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "scripts" / "catalogue.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_docstring_examples_import_public_names_only():
    import re
    from pathlib import Path

    private = re.compile(r">>> .*\b(?:from|import) (losskit(?:\.\w+)*\._\w+)")
    found = [
        f"{path.relative_to(Path(losskit.__file__).parent)}:{number}: {match.group(1)}"
        for path in sorted(Path(losskit.__file__).parent.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if (match := private.search(line))
    ]
    assert not found, found
