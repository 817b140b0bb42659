"""The backend seam: which array library an input belongs to, found lazily by its type.

``backend_of(x)`` looks ``type(x)`` up in a cache; on a miss it checks the frameworks that are
*already imported* (``sys.modules``), so importing losskit never imports a framework. Each backend
module is imported only when an array of its library is first seen.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ._generic import ArrayAPIBackend

__all__ = ["ArrayAPIBackend", "backend_of"]

_BY_TYPE: dict[type, ArrayAPIBackend] = {}
_BY_NAME: dict[str, ArrayAPIBackend] = {}


def backend_of(x: Any, name: str = "input") -> ArrayAPIBackend:
    """The backend of ``x``: its framework, NumPy for lists/scalars, or the array-API fallback.

    ``name`` (the argument ``x`` was passed as) is only read by the error for an unusable type.
    """
    kind = type(x)
    backend = _BY_TYPE.get(kind)
    if backend is None:
        backend = _BY_TYPE[kind] = _detect(x, name)
    return backend


def _detect(x: Any, name: str) -> ArrayAPIBackend:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return _named("torch")
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(x, jax.Array):
        return _named("jax")
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(x, tf.Tensor | tf.Variable):
        return _named("tensorflow")
    if isinstance(x, np.ndarray | np.generic | list | tuple | int | float | bool):
        return _named("numpy")
    if hasattr(x, "__array_namespace__"):
        return _generic(x.__array_namespace__())
    raise TypeError(
        f"{name} must be a NumPy, PyTorch, JAX or TensorFlow array, an array-API array, a list "
        f"or a number; got {type(x).__name__}"
    )


def _named(name: str) -> ArrayAPIBackend:
    backend = _BY_NAME.get(name)
    if backend is None:
        backend = _BY_NAME[name] = _create(name)
    return backend


def _create(name: str) -> ArrayAPIBackend:
    if name == "torch":
        from ._torch import TorchBackend

        return TorchBackend()
    if name == "jax":
        from ._jax import JaxBackend

        return JaxBackend()
    if name == "tensorflow":
        from ._tensorflow import TensorFlowBackend

        return TensorFlowBackend()
    from ._numpy import NumpyBackend

    return NumpyBackend()


def _generic(xp: Any) -> ArrayAPIBackend:
    key = f"array_api:{xp.__name__}"
    backend = _BY_NAME.get(key)
    if backend is None:
        short = xp.__name__.split(".")[-1]
        backend = _BY_NAME[key] = ArrayAPIBackend(xp, name=short)
    return backend
