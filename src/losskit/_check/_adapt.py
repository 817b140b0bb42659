"""Calling the loss under test: which callable, on which backend, and how to batch it.

* :func:`resolve` turns what the user passed (a registered name, a losskit function, an
  ``@lk.loss`` function, an ``lk.Loss`` object, or a plain ``f(y_true, y_pred)``) into a
  :class:`Subject`.
* An :class:`Engine` holds one array library: conversion from and to NumPy, and the gradient of
  the loss with respect to ``y_pred`` by that library's autodiff. The NumPy engine has no
  autodiff; its gradients are float64 central finite differences.
* An :class:`Evaluator` evaluates *many independent loss calls at once*: with
  ``reduction="none"`` when the loss has the losskit contract, with the library's ``vmap``
  otherwise, and with a Python loop as the last resort; every fast path is verified against
  direct calls before it is trusted.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._object import Loss
from .._registry import LossInfo, info, name_of

FRAMEWORKS = ("torch", "jax", "tensorflow")
BACKENDS = ("auto", *FRAMEWORKS, "numpy")


# ---------------------------------------------------------------------- the subject
@dataclass
class Subject:
    """The loss under test and the keyword arguments the checker adds to every call."""

    function: Callable[..., Any]
    name: str
    info: LossInfo | None
    parameters: frozenset[str]
    any_keyword: bool
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: the user's loss when ``function`` adapts it to ``f(y_true, y_pred)`` (language-model
    #: tasks, see ``_llm``)
    original: Any = None

    @property
    def is_losskit(self) -> bool:
        """Whether the loss follows losskit's contract (``reduction=`` and friends)."""
        return self.accepts("reduction") and (self.info is not None or self.wrapped)

    @property
    def wrapped(self) -> bool:
        function = self.function if self.original is None else self.original
        return isinstance(function, Loss) or hasattr(function, "formula")

    def accepts(self, name: str) -> bool:
        return name in self.parameters or self.any_keyword

    def call(self, y_true: Any, y_pred: Any, **extra: Any) -> Any:
        return self.function(y_true, y_pred, **self.kwargs, **extra)


def _signature_of(function: Any) -> tuple[frozenset[str], bool]:
    """Parameter names a callable accepts, and whether it takes ``**kwargs``."""
    if isinstance(function, Loss):
        terms = [t for _, t in function.terms()]
        sets = [_signature_of(t.function) for t in terms]
        names = frozenset.intersection(*[s for s, _ in sets])
        return names, all(k for _, k in sets)
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return frozenset(), True
    names = frozenset(p.name for p in signature.parameters.values())
    any_keyword = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    return names, any_keyword


def resolve(loss: Any) -> Subject:
    """The :class:`Subject` for ``loss``: a name, a loss function or an ``lk.Loss`` object."""
    entry: LossInfo | None
    name: str
    if isinstance(loss, str):
        entry = info(loss)  # KeyError with close matches for an unknown name
        function: Callable[..., Any] = entry.function
        name = entry.name
    elif isinstance(loss, Loss):
        function = loss
        entry = info(loss.name) if loss.name is not None else None
        name = repr(loss)
    elif callable(loss):
        function = loss
        registered = name_of(loss)
        entry = info(registered) if registered is not None else None
        name = registered or str(getattr(loss, "__name__", type(loss).__name__))
    else:
        raise TypeError(
            "loss must be a registered loss name, a loss function f(y_true, y_pred) or an "
            f"lk.Loss object; got {type(loss).__name__}"
        )
    names, any_keyword = _signature_of(function)
    return Subject(function, name, entry, names, any_keyword)


# ---------------------------------------------------------------------- engines
class Engine:
    """One array library: conversion, scalar reduction, autodiff, vectorised calls."""

    name = "numpy"
    autodiff = False

    def __init__(self, dtype: str = "float64") -> None:
        self.dtype = dtype

    # conversion ------------------------------------------------------------------------------
    def asarray(self, x: np.ndarray) -> Any:
        return np.asarray(x, dtype=self.dtype if x.dtype.kind == "f" else x.dtype)

    def is_native(self, value: Any) -> bool:
        return isinstance(value, np.ndarray | np.generic | float | int) and not isinstance(
            value, bool
        )

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.asarray(value, dtype=np.float64)

    def mean(self, value: Any) -> Any:
        return np.mean(value)

    def context(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    # calls -----------------------------------------------------------------------------------
    def call(self, f: Callable[..., Any], y_true: np.ndarray, y_pred: np.ndarray) -> Any:
        """``f`` on native arrays; the raw (unconverted) result."""
        return f(self.asarray(y_true), self.asarray(y_pred))

    def looped(self, f: Callable[..., Any]) -> Callable[..., Any]:
        """``f`` prepared for many single calls (JAX: compiled once per shape)."""
        return f

    def value_and_grad(
        self, f: Callable[..., Any], y_true: np.ndarray, y_pred: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """``f`` (a scalar function) and its gradient with respect to ``y_pred``."""
        raise NotImplementedError  # the NumPy engine differentiates numerically (Evaluator)

    def vmap(self, f: Callable[..., Any]) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
        """``f`` mapped over a leading axis, or ``None``."""
        return None

    #: whether gradients of vmapped calls are cheap (TensorFlow's vectorised backward pass
    #: traces slowly: it differentiates call by call instead)
    vmap_grad_fast = True

    def vmap_grad(
        self, f: Callable[..., Any]
    ) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None:
        return None

    def batch_grad_of_sum(
        self, f: Callable[..., Any], y_true: np.ndarray, y_pred: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``f`` returns a vector of independent values; their gradients in one pass."""
        raise NotImplementedError


class TorchEngine(Engine):
    name = "torch"
    autodiff = True

    def __init__(self, dtype: str = "float64") -> None:
        import torch

        self.torch = torch
        super().__init__(dtype)

    def asarray(self, x: np.ndarray) -> Any:
        t = self.torch
        if x.dtype.kind == "f":
            return t.as_tensor(np.asarray(x, dtype=self.dtype))
        return t.as_tensor(x)

    def is_native(self, value: Any) -> bool:
        return isinstance(value, self.torch.Tensor)

    def to_numpy(self, value: Any) -> np.ndarray:
        if isinstance(value, self.torch.Tensor):
            return value.detach().cpu().double().numpy()
        return np.asarray(value, dtype=np.float64)

    def mean(self, value: Any) -> Any:
        return value.mean()

    def value_and_grad(
        self, f: Callable[..., Any], y_true: np.ndarray, y_pred: np.ndarray
    ) -> tuple[float, np.ndarray]:
        x = self.asarray(y_pred).requires_grad_(True)
        value = f(self.asarray(y_true), x)
        grad = self._grad(value, x)
        return float(self.to_numpy(value)), self.to_numpy(grad)

    def _grad(self, value: Any, x: Any) -> Any:
        """d sum(value) / dx; zeros when ``value`` does not depend on ``x`` (detached)."""
        if not (isinstance(value, self.torch.Tensor) and value.requires_grad):
            return self.torch.zeros_like(x)
        (grad,) = self.torch.autograd.grad(value.sum(), x, allow_unused=True)
        return self.torch.zeros_like(x) if grad is None else grad

    def vmap(self, f: Callable[..., Any]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        mapped = self.torch.func.vmap(f)

        def run(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
            return self.to_numpy(mapped(self.asarray(y_true), self.asarray(y_pred)))

        return run

    def vmap_grad(
        self, f: Callable[..., Any]
    ) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        mapped = self.torch.func.vmap(f)

        def run(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            x = self.asarray(y_pred).requires_grad_(True)
            values = mapped(self.asarray(y_true), x)
            return self.to_numpy(values), self.to_numpy(self._grad(values, x))

        return run

    def batch_grad_of_sum(
        self, f: Callable[..., Any], y_true: np.ndarray, y_pred: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        x = self.asarray(y_pred).requires_grad_(True)
        values = f(self.asarray(y_true), x)
        return self.to_numpy(values), self.to_numpy(self._grad(values, x))


class JaxEngine(Engine):
    name = "jax"
    autodiff = True

    def __init__(self, dtype: str = "float64") -> None:
        import jax
        import jax.numpy as jnp

        self.jax = jax
        self.jnp = jnp
        self._cache: dict[tuple[Any, ...], Any] = {}
        super().__init__(dtype)

    def context(self) -> contextlib.AbstractContextManager[Any]:
        # float64 for the check's duration, without changing the user's global setting
        return self.jax.enable_x64(True) if self.dtype == "float64" else contextlib.nullcontext()

    def asarray(self, x: np.ndarray) -> Any:
        if x.dtype.kind == "f":
            return self.jnp.asarray(np.asarray(x, dtype=self.dtype))
        return self.jnp.asarray(x)

    def is_native(self, value: Any) -> bool:
        return isinstance(value, self.jax.Array)

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.asarray(value, dtype=np.float64)

    def mean(self, value: Any) -> Any:
        return self.jnp.mean(value)

    def _cached(self, key: tuple[Any, ...], build: Callable[[], Callable[..., Any]]) -> Any:
        function = self._cache.get(key)
        if function is None:
            function = self._cache[key] = self._jit(build())
        return function

    def value_and_grad(
        self, f: Callable[..., Any], y_true: np.ndarray, y_pred: np.ndarray
    ) -> tuple[float, np.ndarray]:
        run = self._cached(("vg", f), lambda: self.jax.value_and_grad(f, argnums=1))
        value, grad = run(self.asarray(y_true), self.asarray(y_pred))
        return float(np.asarray(value)), self.to_numpy(grad)

    def looped(self, f: Callable[..., Any]) -> Callable[..., Any]:
        return self._cached(("f", f), lambda: f)

    def _jit(self, g: Callable[..., Any]) -> Callable[..., Any]:
        """``jax.jit(g)``, falling back to eager calls for a function that cannot be traced
        (Python control flow on values): one compile per shape instead of one per primitive."""
        jitted = self.jax.jit(g)
        untraceable = self.jax.errors.JAXTypeError  # tracer conversions: float(x), np.asarray
        state = {"jit": True}

        def run(*args: Any) -> Any:
            if state["jit"]:
                try:
                    return jitted(*args)
                except untraceable:
                    state["jit"] = False
            return g(*args)

        return run

    def vmap(self, f: Callable[..., Any]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        mapped = self._jit(self.jax.vmap(f))

        def run(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
            return self.to_numpy(mapped(self.asarray(y_true), self.asarray(y_pred)))

        return run

    def vmap_grad(
        self, f: Callable[..., Any]
    ) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        mapped = self._jit(self.jax.vmap(self.jax.value_and_grad(f, argnums=1)))

        def run(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            values, grad = mapped(self.asarray(y_true), self.asarray(y_pred))
            return self.to_numpy(values), self.to_numpy(grad)

        return run

    def batch_grad_of_sum(
        self, f: Callable[..., Any], y_true: np.ndarray, y_pred: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        def build() -> Callable[..., Any]:
            def total(x: Any, target: Any) -> tuple[Any, Any]:
                values = f(target, x)
                return self.jnp.sum(values), values

            return self.jax.value_and_grad(total, has_aux=True)

        run = self._cached(("sum", f), build)
        (_, values), grad = run(self.asarray(y_pred), self.asarray(y_true))
        return self.to_numpy(values), self.to_numpy(grad)


class TensorFlowEngine(Engine):
    name = "tensorflow"
    autodiff = True
    vmap_grad_fast = False

    def __init__(self, dtype: str = "float64") -> None:
        import tensorflow as tf

        self.tf = tf
        self._cache: dict[tuple[Any, ...], Any] = {}
        super().__init__(dtype)

    def asarray(self, x: np.ndarray) -> Any:
        if x.dtype.kind == "f":
            return self.tf.constant(np.asarray(x, dtype=self.dtype))
        return self.tf.constant(x)

    def is_native(self, value: Any) -> bool:
        return isinstance(value, self.tf.Tensor | self.tf.Variable)

    def to_numpy(self, value: Any) -> np.ndarray:
        if isinstance(value, self.tf.Tensor | self.tf.Variable):
            return np.asarray(value.numpy(), dtype=np.float64)
        return np.asarray(value, dtype=np.float64)

    def mean(self, value: Any) -> Any:
        return self.tf.reduce_mean(value)

    def _compiled(self, key: tuple[Any, ...], build: Callable[[], Callable[..., Any]]) -> Any:
        """``tf.function(build())`` (no autograph), once per key; a function that cannot be
        traced (Python control flow on tensor values) runs eagerly instead."""
        function = self._cache.get(key)
        if function is not None:
            return function
        eager = build()
        graph = self.tf.function(eager, autograph=False)
        state = {"graph": True}

        def run(*args: Any) -> Any:
            if state["graph"]:
                try:
                    return graph(*args)
                except Exception:
                    state["graph"] = False
            return eager(*args)

        self._cache[key] = run
        return run

    def looped(self, f: Callable[..., Any]) -> Callable[..., Any]:
        return self._compiled(("f", f), lambda: f)

    def value_and_grad(
        self, f: Callable[..., Any], y_true: np.ndarray, y_pred: np.ndarray
    ) -> tuple[float, np.ndarray]:
        tf = self.tf

        def build() -> Callable[..., Any]:
            def value_and_grad(target: Any, x: Any) -> tuple[Any, Any]:
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    value = f(target, x)
                grad = tape.gradient(value, x)
                return value, tf.zeros_like(x) if grad is None else grad

            return value_and_grad

        run = self._compiled(("vg", f), build)
        value, grad = run(self.asarray(y_true), self.asarray(y_pred))
        return float(self.to_numpy(value)), self.to_numpy(grad)

    def _mapped(self, f: Callable[..., Any]) -> Callable[..., Any]:
        """``f`` over a leading axis (``vectorized_map``) in one ``tf.function``, traced once per
        shape (the stacked calls are padded to a few shapes)."""
        tf = self.tf
        plain = tf.autograph.experimental.do_not_convert(f)  # no autograph of user code

        def mapped(y_true: Any, y_pred: Any) -> Any:
            return tf.vectorized_map(lambda args: plain(args[0], args[1]), (y_true, y_pred))

        return tf.function(mapped, autograph=False)

    def vmap(self, f: Callable[..., Any]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        mapped = self._mapped(f)

        def run(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
            return self.to_numpy(mapped(self.asarray(y_true), self.asarray(y_pred)))

        return run

    def batch_grad_of_sum(
        self, f: Callable[..., Any], y_true: np.ndarray, y_pred: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        tf = self.tf
        x = self.asarray(y_pred)
        target = self.asarray(y_true)
        with tf.GradientTape() as tape:
            tape.watch(x)
            values = f(target, x)
            total = tf.reduce_sum(values)
        grad = tape.gradient(total, x)
        grad = np.zeros(y_pred.shape) if grad is None else self.to_numpy(grad)
        return self.to_numpy(values), grad


_ENGINES: dict[str, type[Engine]] = {
    "torch": TorchEngine,
    "jax": JaxEngine,
    "tensorflow": TensorFlowEngine,
    "numpy": Engine,
}


#: top-level packages whose use names a function's array library
_LIBRARY_ROOTS = {
    "numpy": "numpy",
    "scipy": "numpy",
    "torch": "torch",
    "jax": "jax",
    "jaxlib": "jax",
    "optax": "jax",
    "flax": "jax",
    "tensorflow": "tensorflow",
    "keras": "tensorflow",
    "tf_keras": "tensorflow",
}


def library_of(function: Any) -> str | None:
    """The array library a plain function is written with, read from what its code refers to
    (global names, closure cells, the bound object of a method; nested functions and lambdas
    too): ``"torch"``, ``"jax"``, ``"tensorflow"``, ``"numpy"``, or ``None`` when it names none
    (a function of operators and methods only, such as ``((p - y) ** 2).mean()``). losskit's
    own functions name none: they run on every library.
    """
    found: set[str] = set()
    seen: set[int] = set()
    _scan(function, found, seen, depth=0)
    for name in FRAMEWORKS:  # a framework named anywhere wins over NumPy helpers next to it
        if name in found:
            return name
    return "numpy" if "numpy" in found else None


def _module_of(value: Any) -> str:
    """The top-level package a referenced object comes from (a module, a function, a class, an
    instance)."""
    module: Any = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
    if not isinstance(module, str) or not module:
        module = type(value).__module__
    return str(module).partition(".")[0]


def _scan(value: Any, found: set[str], seen: set[int], depth: int) -> None:
    """Add the libraries ``value``'s code refers to (a few levels of user functions deep)."""
    if id(value) in seen or depth > 3:
        return
    seen.add(id(value))
    root = _module_of(value)
    if root in _LIBRARY_ROOTS:
        found.add(_LIBRARY_ROOTS[root])
        return
    if root == "losskit" or inspect.ismodule(value):
        return  # losskit's own functions run on every library: they say nothing
    if inspect.isclass(value):  # a user class: the library of its bases (autograd.Function)
        roots = {_module_of(base) for base in value.__mro__[1:]}
        found.update(_LIBRARY_ROOTS[r] for r in roots if r in _LIBRARY_ROOTS)
        return
    if inspect.ismethod(value):
        _scan(value.__self__, found, seen, depth + 1)
        _scan(value.__func__, found, seen, depth + 1)
    elif isinstance(value, functools.partial):
        for part in (value.func, *value.args, *value.keywords.values()):
            _scan(part, found, seen, depth + 1)
    elif inspect.isfunction(value):
        namespace = value.__globals__
        for name in _code_names(value.__code__):
            if name in namespace:
                _scan(namespace[name], found, seen, depth + 1)
        for cell in value.__closure__ or ():
            try:
                _scan(cell.cell_contents, found, seen, depth + 1)
            except ValueError:  # an empty cell
                continue
    elif callable(value):  # a callable object: its class's __call__, what it holds
        _scan(type(value).__call__, found, seen, depth + 1)
        for attribute in getattr(value, "__dict__", {}).values():
            _scan(attribute, found, seen, depth + 1)


def _code_names(code: Any) -> Iterator[str]:
    """The global names a code object (and the code nested in it) refers to."""
    yield from code.co_names
    for constant in code.co_consts:
        if inspect.iscode(constant):
            yield from _code_names(constant)


def installed(name: str) -> bool:
    return name == "numpy" or importlib.util.find_spec(name) is not None


def make_engine(name: str, dtype: str = "float64") -> Engine:
    return _ENGINES[name](dtype)


# ---------------------------------------------------------------------- evaluation
class Evaluator:
    """Scalar loss values and gradients (float64 NumPy) of one subject on one engine.

    ``values(YT, YP)`` and ``grads(YT, YP)`` take ``B`` independent calls stacked on a new
    leading axis (``YT[i]``, ``YP[i]`` are the arguments of call ``i``) and return one value
    (and one gradient with ``YP[i]``'s shape) per call. A loss that does not return a scalar is
    reduced by its mean (and fails the scalar contract).
    """

    #: the largest number of calls sent to one vectorised evaluation
    CHUNK = 8192

    def __init__(self, subject: Subject, engine: Engine, *, scalarise: bool = False) -> None:
        self.subject = subject
        self.engine = engine
        self.scalarise = scalarise
        self.mode: str | None = None  # "none", "vmap" or "loop", decided on first use
        self.grad_mode: str | None = None
        self.calls = 0
        self._vmap: Any = None
        self._vmap_grad: Any = None
        self._looped: Any = None
        self._scalar: Callable[[Any, Any], Any] | None = None

    # one call -----------------------------------------------------------------------------
    def scalar_function(self) -> Callable[[Any, Any], Any]:
        """The loss as a scalar function (its mean when it returns an array); one object, so
        that compiled versions are reused."""
        if self._scalar is not None:
            return self._scalar
        subject, engine = self.subject, self.engine
        if not self.scalarise:
            self._scalar = subject.call
            return self._scalar

        def reduced(y_true: Any, y_pred: Any) -> Any:
            out = subject.call(y_true, y_pred)
            return out if getattr(out, "ndim", 0) == 0 else engine.mean(out)

        self._scalar = reduced
        return reduced

    def raw(self, y_true: np.ndarray, y_pred: np.ndarray, **extra: Any) -> Any:
        """The loss's own result (native type), no reduction applied by the checker."""
        self.calls += 1
        return self.subject.function(
            self.engine.asarray(y_true),
            self.engine.asarray(y_pred),
            **self.subject.kwargs,
            **extra,
        )

    def value(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        self.calls += 1
        out = self.engine.call(self.engine.looped(self.scalar_function()), y_true, y_pred)
        return float(self.engine.to_numpy(out).reshape(()))

    def value_and_grad(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, np.ndarray]:
        if self.engine.autodiff:
            self.calls += 1
            return self.engine.value_and_grad(self.scalar_function(), y_true, y_pred)
        value = self.value(y_true, y_pred)
        grad = self._fd(y_true[None], y_pred[None])[0]
        return value, grad

    # many calls ---------------------------------------------------------------------------
    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """One scalar per stacked call, ``(B,)``."""
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred, dtype=np.float64)
        if len(y_pred) > self.CHUNK:
            parts = [
                self.values(y_true[i : i + self.CHUNK], y_pred[i : i + self.CHUNK])
                for i in range(0, len(y_pred), self.CHUNK)
            ]
            return np.concatenate(parts)
        if self.mode is None:
            self.mode = self._choose_mode(y_true, y_pred)
        try:
            return self._values(self.mode, *self._padded(self.mode, y_true, y_pred))[: len(y_pred)]
        except Exception:
            if self.mode == "loop":
                raise
            self.mode = "loop"
            return self._values("loop", y_true, y_pred)

    def grads(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values ``(B,)`` and gradients (``y_pred``'s shape) of each stacked call."""
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred, dtype=np.float64)
        if not self.engine.autodiff:
            return self.values(y_true, y_pred), self._fd(y_true, y_pred)
        if self.grad_mode is None:
            self.grad_mode = self._choose_grad_mode(y_true, y_pred)
        try:
            values, grads = self._grads(
                self.grad_mode, *self._padded(self.grad_mode, y_true, y_pred)
            )
            return values[: len(y_pred)], grads[: len(y_pred)]
        except Exception:
            if self.grad_mode == "loop":
                raise
            self.grad_mode = "loop"
            return self._grads("loop", y_true, y_pred)

    def _padded(
        self, mode: str, y_true: np.ndarray, y_pred: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stacked calls padded (repeating the last) to 8·4^k calls: JAX and TensorFlow compile
        per shape, and a few shapes compile once."""
        count = len(y_pred)
        if mode == "loop" or self.engine.name not in ("jax", "tensorflow") or count == 0:
            return y_true, y_pred
        size = 8
        while size < count:  # powers of 4: few shapes, at most 4x the work (cheap here)
            size *= 4
        if size == count:
            return y_true, y_pred
        extra = size - count
        return (
            np.concatenate([y_true, np.repeat(y_true[-1:], extra, axis=0)]),
            np.concatenate([y_pred, np.repeat(y_pred[-1:], extra, axis=0)]),
        )

    # modes --------------------------------------------------------------------------------
    def _modes(self) -> list[str]:
        modes = []
        if self.subject.accepts("reduction") and not self.scalarise:
            modes.append("none")
        if self.engine.name != "numpy":
            modes.append("vmap")
        return [*modes, "loop"]

    def _choose_mode(self, y_true: np.ndarray, y_pred: np.ndarray) -> str:
        probe = min(len(y_pred), 3)
        if probe < 2:
            return "loop"
        direct = self._values("loop", y_true[:probe], y_pred[:probe])
        for mode in self._modes()[:-1]:
            try:
                got = self._values(mode, y_true[:probe], y_pred[:probe])
            except Exception:
                continue
            if _agree(got, direct):
                return mode
        return "loop"

    def _choose_grad_mode(self, y_true: np.ndarray, y_pred: np.ndarray) -> str:
        probe = min(len(y_pred), 3)
        if probe < 2:
            return "loop"
        direct = self._grads("loop", y_true[:probe], y_pred[:probe])
        modes = [m for m in self._modes()[:-1] if m != "vmap" or self.engine.vmap_grad_fast]
        for mode in modes:
            try:
                got = self._grads(mode, y_true[:probe], y_pred[:probe])
            except Exception:
                continue
            if _agree(got[0], direct[0]) and _agree(got[1], direct[1]):
                return mode
        return "loop"

    def _none_call(self, y_true: Any, y_pred: Any) -> Any:
        out = self.subject.call(y_true, y_pred, reduction="none")
        batch = y_pred.shape[0]
        if tuple(out.shape[:1]) != (batch,):
            raise ValueError("reduction='none' did not keep the calls apart")
        if len(out.shape) > 1:
            out = _mean_trailing(self.engine, out)
        return out

    def _values(self, mode: str, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        self.calls += 1 if mode != "loop" else len(y_pred)
        if mode == "none":
            out = self.engine.call(self.engine.looped(self._none_call), y_true, y_pred)
            return self.engine.to_numpy(out).reshape(len(y_pred))
        if mode == "vmap":
            if self._vmap is None:
                self._vmap = self.engine.vmap(self.scalar_function())
            return np.asarray(self._vmap(y_true, y_pred), dtype=np.float64).reshape(len(y_pred))
        engine = self.engine
        if self._looped is None:
            self._looped = engine.looped(self.scalar_function())
        f = self._looped
        return np.array(
            [
                float(engine.to_numpy(engine.call(f, y_true[i], y_pred[i])).reshape(()))
                for i in range(len(y_pred))
            ]
        )

    def _grads(
        self, mode: str, y_true: np.ndarray, y_pred: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1 if mode != "loop" else len(y_pred)
        if mode == "none":
            values, grad = self.engine.batch_grad_of_sum(self._none_call, y_true, y_pred)
            return values.reshape(len(y_pred)), grad
        if mode == "vmap":
            if self._vmap_grad is None:
                self._vmap_grad = self.engine.vmap_grad(self.scalar_function())
            values, grad = self._vmap_grad(y_true, y_pred)
            return np.asarray(values).reshape(len(y_pred)), np.asarray(grad)
        f = self.scalar_function()
        pairs = [self.engine.value_and_grad(f, y_true[i], y_pred[i]) for i in range(len(y_pred))]
        return np.array([v for v, _ in pairs]), np.stack([g for _, g in pairs])

    # numerical gradients (NumPy functions) ------------------------------------------------
    def fd_step(self, x: np.ndarray) -> np.ndarray:
        """Finite-difference steps: relative to ``|x|`` above 1; below 1 the same as at 1, or
        relative to ``|x|`` itself with :attr:`relative_steps` (log-probabilities just below
        0, where a loss can change on the scale of ``|x|``). Infinite entries get a finite step
        (they do not move)."""
        base = 1e-6 if self.engine.dtype == "float64" else 3e-3
        size = np.abs(np.where(np.isfinite(x), x, 0.0))
        if self.relative_steps:
            return base * np.where((size > 0) & (size < 1), size, np.maximum(1.0, size))
        return base * np.maximum(1.0, size)

    #: whether :meth:`fd_step` shrinks with ``|x|`` below 1 (set by the task's layout)
    relative_steps: bool = False

    def _fd(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """Central differences of each call's value (one-sided next to a domain bound)."""
        return numerical_gradient(self, y_true, y_pred, lower=self.lower, upper=self.upper)

    #: bounds of the prediction domain, set by the problem (probabilities: 0 and 1)
    lower: float = -np.inf
    upper: float = np.inf


def numerical_gradient(
    ev: Evaluator,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    lower: float = -np.inf,
    upper: float = np.inf,
) -> np.ndarray:
    """Finite-difference gradients of ``B`` stacked calls: central differences, and second-order
    one-sided differences where a central step would leave ``[lower, upper]``."""
    y_pred = np.asarray(y_pred, dtype=np.float64)
    batch = len(y_pred)
    flat = y_pred.reshape(batch, -1)
    size = flat.shape[1]
    h = ev.fd_step(flat)
    forward = flat - h < lower
    backward = flat + h > upper
    sign = np.where(backward & ~forward, -1.0, 1.0)
    one_sided = forward | backward
    # points: x + s·h, x + 2s·h (one-sided) or x + h, x - h (central), per coordinate
    offsets_a = np.where(one_sided, sign * h, h)
    offsets_b = np.where(one_sided, 2 * sign * h, -h)
    eye = np.eye(size)
    cand_a = flat[:, None, :] + eye[None] * offsets_a[:, :, None]
    cand_b = flat[:, None, :] + eye[None] * offsets_b[:, :, None]
    stacked = np.concatenate([cand_a, cand_b], axis=1).reshape(batch * 2 * size, *y_pred.shape[1:])
    targets = np.repeat(y_true, 2 * size, axis=0)
    values = ev.values(targets, stacked).reshape(batch, 2, size)
    fa, fb = values[:, 0], values[:, 1]
    f0 = ev.values(y_true, y_pred)[:, None] if one_sided.any() else np.zeros((batch, 1))
    central = (fa - fb) / (2 * h)
    side = sign * (-3 * f0 + 4 * fa - fb) / (2 * h)
    return np.where(one_sided, side, central).reshape(y_pred.shape)


def _mean_trailing(engine: Engine, out: Any) -> Any:
    """Mean over every axis but the first (the per-call value of an unreduced loss)."""
    if engine.name == "torch":
        return out.reshape(out.shape[0], -1).mean(dim=1)
    if engine.name == "jax":
        return engine.jnp.mean(out.reshape(out.shape[0], -1), axis=1)  # type: ignore[attr-defined]
    if engine.name == "tensorflow":
        tf = engine.tf  # type: ignore[attr-defined]
        return tf.reduce_mean(tf.reshape(out, (tf.shape(out)[0], -1)), axis=1)
    return np.mean(np.reshape(out, (out.shape[0], -1)), axis=1)


def _agree(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    both_nan = np.isnan(a) & np.isnan(b)
    same = np.isclose(a, b, rtol=1e-6, atol=1e-9) | both_nan | (a == b)
    return bool(np.all(same))


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence NumPy floating-point warnings while probing edge cases."""
    with np.errstate(all="ignore"):
        yield
