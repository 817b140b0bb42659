"""Backend × dtype fixtures shared by the test suite.

Each backend is a small adapter: make an array from NumPy, read one back, and (where the library
has autodiff) take the gradient of a scalar function. A backend whose library is not installed is
skipped cleanly. ``LOSSKIT_TEST_BACKENDS=numpy,array_api_strict`` restricts the run.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


if _installed("jax"):  # float64 tests need it; set once, before any JAX array exists
    import jax

    jax.config.update("jax_enable_x64", True)


@dataclass
class Backend:
    name: str
    make: Callable[[np.ndarray, Any], Any]  # (numpy array, dtype name) -> native array
    to_numpy: Callable[[Any], np.ndarray]
    grad: Callable[[Callable[[Any], Any], Any], Any] | None  # (f, x) -> df/dx, or None
    dtypes: tuple[str, ...]

    def array(self, x: Any, dtype: str | None = None) -> Any:
        x = np.asarray(x)
        if dtype is None:
            dtype = (
                "int64" if x.dtype.kind in "iu" else ("bool" if x.dtype.kind == "b" else "float64")
            )
        return self.make(x, dtype)


def _numpy() -> Backend:
    return Backend(
        "numpy",
        lambda x, d: np.asarray(x, dtype=d),
        np.asarray,
        None,
        ("float32", "float64", "float16"),
    )


def _strict() -> Backend:
    import array_api_strict as xs

    def make(x: np.ndarray, d: str) -> Any:
        return xs.asarray(x.astype(d), dtype=getattr(xs, d))

    return Backend("array_api_strict", make, lambda a: np.asarray(a), None, ("float32", "float64"))


def _torch() -> Backend:
    import torch

    def make(x: np.ndarray, d: str) -> Any:
        return torch.as_tensor(x.astype(d) if d != "bfloat16" else x.astype("float32")).to(
            getattr(torch, d)
        )

    def to_numpy(a: Any) -> np.ndarray:
        a = a.detach()
        return (a.float() if a.dtype in (torch.bfloat16, torch.float16) else a).numpy()

    def grad(f: Callable[[Any], Any], x: Any) -> Any:
        x = x.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(f(x), x)
        return g

    return Backend("torch", make, to_numpy, grad, ("float32", "float64", "float16", "bfloat16"))


def _jax() -> Backend:
    import jax
    import jax.numpy as jnp

    def make(x: np.ndarray, d: str) -> Any:
        return jnp.asarray(x.astype(d if d != "bfloat16" else "float32"), dtype=getattr(jnp, d))

    def to_numpy(a: Any) -> np.ndarray:
        a = np.asarray(a)
        return a.astype(np.float32) if a.dtype.kind == "V" or str(a.dtype) == "bfloat16" else a

    return Backend(
        "jax",
        make,
        to_numpy,
        lambda f, x: jax.grad(f)(x),
        ("float32", "float64", "float16", "bfloat16"),
    )


def _tensorflow() -> Backend:
    import tensorflow as tf

    def make(x: np.ndarray, d: str) -> Any:
        return tf.constant(x.astype(d if d != "bfloat16" else "float32"), dtype=getattr(tf, d))

    def to_numpy(a: Any) -> np.ndarray:
        a = tf.convert_to_tensor(a)
        if a.dtype in (tf.bfloat16, tf.float16):
            a = tf.cast(a, tf.float32)
        return a.numpy()

    def grad(f: Callable[[Any], Any], x: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = f(x)
        return tape.gradient(value, x)

    return Backend(
        "tensorflow", make, to_numpy, grad, ("float32", "float64", "float16", "bfloat16")
    )


_FACTORIES = {
    "numpy": (None, _numpy),
    "array_api_strict": ("array_api_strict", _strict),
    "torch": ("torch", _torch),
    "jax": ("jax", _jax),
    "tensorflow": ("tensorflow", _tensorflow),
}
_SELECTED = [
    n.strip()
    for n in os.environ.get("LOSSKIT_TEST_BACKENDS", ",".join(_FACTORIES)).split(",")
    if n.strip()
]
_CACHE: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    module, factory = _FACTORIES[name]
    if name not in _SELECTED:
        pytest.skip(f"backend {name} not selected (LOSSKIT_TEST_BACKENDS)")
    if module is not None and not _installed(module):
        pytest.skip(f"{module} is not installed")
    if name not in _CACHE:
        _CACHE[name] = factory()
    return _CACHE[name]


ALL_BACKENDS = list(_FACTORIES)
AUTODIFF_BACKENDS = ["torch", "jax", "tensorflow"]


@pytest.fixture(params=ALL_BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    return get_backend(request.param)


@pytest.fixture(params=AUTODIFF_BACKENDS)
def autodiff_backend(request: pytest.FixtureRequest) -> Backend:
    return get_backend(request.param)


@pytest.fixture(params=["float32", "float64"])
def dtype(request: pytest.FixtureRequest) -> str:
    return request.param


def tolerance(dtype: str) -> dict[str, float]:
    """The contract's exactness: 1e-6 relative / 1e-7 absolute in float32, 1e-12 in float64."""
    if dtype == "float64":
        return {"rtol": 1e-12, "atol": 1e-14}
    return {"rtol": 1e-6, "atol": 1e-7}


# ----------------------------------------------------------------------------- the slow rest
#: Files whose tests start subprocesses, compile, or run examples and documentation end to end:
#: marked ``slow``, so the README's test command (``-m "not slow"``) leaves them to CI.
SLOW_FILES = {
    "test_distributed_jax.py",
    "test_distributed_tensorflow.py",
    "test_distributed_torch.py",
    "test_distributed_vocab_parallel.py",
    "test_every_loss_traced.py",
    "test_examples.py",
    "test_framework_docs.py",
    "test_readme.py",
    "test_tracing.py",
    "test_wrappers_keras.py",
    "test_anchor_optax.py",
    "test_metric_keras.py",
    "test_anchor_liger.py",
    # the boundary losses compiled by JAX, XLA (TensorFlow) and torch.compile
    "test_segmentation_boundary_traced.py",
    # gradient boosting: every catalogue loss against finite differences and scipy.optimize;
    # CatBoost calls a class objective once per row
    "test_boost_catalogue.py",
    "test_boost_catboost.py",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the slow rest: the files above, and every case parametrised with the JAX backend
    (JAX runs each operation eagerly in these tests, one dispatch at a time: about two thirds of
    the suite's time). The README's command runs the other four backends; CI runs them all."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        values = () if callspec is None else callspec.params.values()
        jax_case = any(isinstance(v, str) and v == "jax" for v in values)
        if item.path.name in SLOW_FILES or jax_case:
            item.add_marker(pytest.mark.slow)
