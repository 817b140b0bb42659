"""NumPy backend: the array-API code on ``array_api_compat.numpy``, plus SciPy-free fast paths."""

from __future__ import annotations

from typing import Any

import array_api_compat.numpy as xp
import numpy as np

from ._generic import ArrayAPIBackend, _to_numpy


def is_extension_float(dtype: Any) -> bool:
    """Whether ``dtype`` is one of ml_dtypes' floats (``bfloat16``, the float8 types), which
    NumPy sees as opaque (kind ``"V"``); like float16 they compute in float32."""
    dtype = np.dtype(dtype)
    return dtype.kind == "V" and "float" in dtype.name and dtype.type.__module__ == "ml_dtypes"


def _extension_finfo(dtype: Any) -> Any:
    import ml_dtypes  # present whenever an array of its dtypes exists

    return ml_dtypes.finfo(dtype)


class NumpyBackend(ArrayAPIBackend):
    name = "numpy"

    def __init__(self) -> None:
        super().__init__(xp)

    def owns(self, x: Any) -> bool:
        return isinstance(x, np.ndarray)

    def asarray(self, x: Any, like: Any, name: str = "input") -> Any:
        return np.asarray(_to_numpy(x, name))

    def compute_dtype(self, x: Any) -> Any:
        return np.float64 if x.dtype == np.float64 else np.float32

    def eps(self, dtype: Any) -> float:
        value = self._eps.get(dtype)
        if value is None:
            finfo = _extension_finfo(dtype) if is_extension_float(dtype) else np.finfo(dtype)
            value = self._eps[dtype] = float(finfo.eps)
        return value

    def is_floating(self, x: Any) -> bool:
        return x.dtype.kind == "f" or is_extension_float(x.dtype)

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

    def sparse_log_softmax_parts(self, x: Any, labels: Any) -> tuple[Any, Any, Any]:
        # leaving out the first maximum's term (below) is as exact here, without NumPy's
        # warnings for an infinite logit
        d, r = self.log_softmax_parts(x, axis=-1)
        return d, r, np.take_along_axis(d, np.expand_dims(labels, -1), -1)

    def log_softmax_parts(self, x: Any, axis: int = -1) -> tuple[Any, Any]:
        # the generic form with one maximum (the first) left out of s instead of all of them
        # and their count: tied maxima then add exp(0) = 1 each by themselves
        first = np.expand_dims(np.argmax(x, axis=axis), axis)
        m = np.take_along_axis(x, first, axis)
        with np.errstate(invalid="ignore"):
            d = np.subtract(x, m)
        if np.isinf(m).any():
            d[x == m] = 0.0  # +inf maxima: inf - inf -> 0
        rest = np.exp(d)
        np.put_along_axis(rest, first, 0.0, axis)
        return d, np.log1p(np.sum(rest, axis=axis, keepdims=True))
