"""NumPy backend: the array-API code on ``array_api_compat.numpy``, plus SciPy-free fast paths."""

from __future__ import annotations

from typing import Any

import array_api_compat.numpy as xp
import numpy as np

from ._generic import ArrayAPIBackend, _to_numpy


class NumpyBackend(ArrayAPIBackend):
    name = "numpy"

    def __init__(self) -> None:
        super().__init__(xp)

    def owns(self, x: Any) -> bool:
        return isinstance(x, np.ndarray)

    def asarray(self, x: Any, like: Any, name: str = "input") -> Any:
        return np.asarray(_to_numpy(x))

    def compute_dtype(self, x: Any) -> Any:
        return np.float64 if x.dtype == np.float64 else np.float32

    def is_floating(self, x: Any) -> bool:
        return x.dtype.kind == "f"

    def is_integral(self, x: Any) -> bool:
        return x.dtype.kind in "iu"

    def is_bool(self, x: Any) -> bool:
        return x.dtype.kind == "b"

    def logsumexp(self, x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        with np.errstate(divide="ignore"):
            out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
        return out if keepdims else np.squeeze(out, axis=axis)
