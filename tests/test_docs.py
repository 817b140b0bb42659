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
    page = (script.parent.parent / "docs" / "catalogue.md").read_text(encoding="utf-8")
    # the docstrings' reStructuredText is rendered: $...$ mathematics and backquoted code
    for raw in (":math:`", ":func:`", ":class:`", "``", ".. math::"):
        assert raw not in page, raw


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


def test_docstring_markup_as_text_and_markdown():
    from losskit._rst import to_markdown, to_text

    doc = (
        "Loss :math:`\\ell = \\tfrac12 d^2` of ``y_pred``, see :func:`~losskit.huber`.\n\n"
        ".. math:: \\ell = \\frac{1}{n}\\sum_i \\hat y_i\n"
        "          \\quad (\\text{``nrg''})\n\n"
        "Next paragraph."
    )
    text = to_text(doc)
    assert text.splitlines()[0] == "Loss ℓ = 1/2 d^2 of y_pred, see losskit.huber."
    assert "\n    ℓ = 1/n Σ_i y\u0302_i\n" in text and "(“nrg”)" in text  # a combining hat
    assert "\n\nNext paragraph." in text
    markdown = to_markdown(doc)
    assert markdown.startswith("Loss $\\ell = \\tfrac12 d^2$ of `y_pred`, see `losskit.huber`.")
    assert "$$\\ell = \\frac{1}{n}\\sum_i \\hat y_i \\quad (\\text{“nrg”})$$" in markdown
