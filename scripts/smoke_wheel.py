"""Smoke test of an installed losskit distribution (run outside the source tree, in an
environment holding only the wheel and its dependencies): the version, the type marker, a loss
on NumPy arrays against its closed form, and the ``losskit`` command."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import math
import subprocess
import sys

import numpy as np

import losskit as lk


def main() -> int:
    """Exit 0 when every check passes; raise otherwise."""
    assert "site-packages" in lk.__file__, f"losskit imported from {lk.__file__}, not the wheel"
    assert importlib.metadata.version("losskit") == lk.__version__
    assert importlib.resources.files("losskit").joinpath("py.typed").is_file()
    value = float(lk.binary_crossentropy(np.array([1.0, 0.0]), np.array([0.8, 0.4])))
    expected = -(math.log(0.8) + math.log(0.6)) / 2
    assert abs(value - expected) < 1e-12, (value, expected)
    listing = subprocess.run(
        [sys.executable, "-m", "losskit", "list"], capture_output=True, text=True, check=True
    )
    assert "binary_crossentropy" in listing.stdout
    print(f"losskit {lk.__version__} wheel: ok ({len(lk.names())} losses)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
