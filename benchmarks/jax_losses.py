"""JAX: optax losses against losskit, each as ``jax.jit(jax.value_and_grad(...))``.

Under ``jit`` the inputs are tracers, so losskit skips its value checks by design.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import optax

import losskit as lk

from ._suite import LARGE, QUICK, TRACED, Case, size_label
from ._timing import Step

SUITE = "jax jit"


def _step(loss_fn: Callable[[Any, Any], Any], x: Any, y: Any) -> Step:
    """Compiled value and gradient with respect to ``x``, run to completion."""
    compiled = jax.jit(jax.value_and_grad(loss_fn))

    def step() -> Any:
        return jax.block_until_ready(compiled(x, y))

    return step


def _optax_ce(logits: Any, labels: Any) -> Any:
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def _losskit_ce(logits: Any, labels: Any) -> Any:
    return lk.sparse_categorical_crossentropy(labels, logits, from_logits=True)


def _optax_bce(logits: Any, targets: Any) -> Any:
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, targets))


def _losskit_bce(logits: Any, targets: Any) -> Any:
    return lk.binary_crossentropy(targets, logits, from_logits=True)


def _optax_mse(pred: Any, target: Any) -> Any:
    return jnp.mean(optax.squared_error(pred, target))


def _losskit_mse(pred: Any, target: Any) -> Any:
    return lk.mean_squared_error(target, pred)


def _case(loss: str, shape: tuple[int, ...], native_name: str, fns: tuple, x: Any, y: Any) -> Case:
    native, ours = fns
    return Case(
        SUITE,
        loss,
        size_label(shape),
        native_name,
        TRACED,
        _step(native, x, y),
        _step(ours, x, y),
        float,
    )


def cases(quick: bool) -> Iterator[Case]:
    """Cross-entropy, binary cross-entropy and MSE at large (or, quick, tiny) sizes."""
    sizes = QUICK if quick else LARGE
    keys = jax.random.split(jax.random.key(0), 5)
    n, c = sizes["classes"]
    logits = jax.random.normal(keys[0], (n, c))
    labels = jax.random.randint(keys[1], (n,), 0, c)
    yield _case(
        "sparse CE (logits)",
        (n, c),
        "optax.softmax_cross_entropy_with_integer_labels",
        (_optax_ce, _losskit_ce),
        logits,
        labels,
    )
    shape = sizes["elements"]
    x = jax.random.normal(keys[2], shape)
    targets = (jax.random.uniform(keys[3], shape) < 0.5).astype(jnp.float32)
    yield _case(
        "binary CE (logits)",
        shape,
        "optax.sigmoid_binary_cross_entropy",
        (_optax_bce, _losskit_bce),
        x,
        targets,
    )
    values = jax.random.normal(keys[4], shape)
    yield _case("MSE", shape, "optax.squared_error", (_optax_mse, _losskit_mse), x, values)


def versions() -> dict[str, str]:
    """Library versions for the results file."""
    return {
        "jax": jax.__version__,
        "jaxlib_backend": jax.default_backend(),
        "optax": optax.__version__,
    }
