"""JAX: optax losses against losskit, each as ``jax.jit(jax.value_and_grad(...))``.

Under ``jit`` the inputs are tracers, so losskit skips its value checks by design. Each optax
loss returns per-example values; the native side takes their mean, and losskit is called with
the options that compute the same number (checked before timing). Two suites: large inputs and
N=32 (per-call dispatch overhead).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import optax

import losskit as lk

from ._suite import LARGE, QUICK, SMALL, TRACED, Case, size_label
from ._timing import Step

Sizes = dict[str, tuple[int, ...]]
#: (loss, size, native name, native fn, losskit fn, x, y): both fns take ``(x, y)``, and the
#: gradient is taken with respect to ``x``.
Spec = tuple[str, str, str, Callable[[Any, Any], Any], Callable[[Any, Any], Any], Any, Any]


def _step(loss_fn: Callable[[Any, Any], Any], x: Any, y: Any) -> Step:
    """Compiled value and gradient with respect to ``x``, run to completion."""
    compiled = jax.jit(jax.value_and_grad(loss_fn))

    def step() -> Any:
        return jax.block_until_ready(compiled(x, y))

    return step


def _mean(fn: Callable[..., Any]) -> Callable[..., Any]:
    return lambda *args, **kw: jnp.mean(fn(*args, **kw))


def _classification(sizes: Sizes, keys: Iterator[Any]) -> list[Spec]:
    n, c = sizes["classes"]
    size = size_label((n, c))
    z = jax.random.normal(next(keys), (n, c))
    labels = jax.random.randint(next(keys), (n,), 0, c)
    probs = jax.nn.softmax(jax.random.normal(next(keys), (n, c)))
    return [
        (
            "sparse CE (logits)",
            size,
            "optax.softmax_cross_entropy_with_integer_labels",
            lambda z, y: _mean(optax.softmax_cross_entropy_with_integer_labels)(z, y),
            lambda z, y: lk.sparse_categorical_crossentropy(y, z, from_logits=True),
            z,
            labels,
        ),
        (
            "categorical CE (logits)",
            size,
            "optax.softmax_cross_entropy",
            lambda z, y: _mean(optax.softmax_cross_entropy)(z, y),
            lambda z, y: lk.categorical_crossentropy(y, z, from_logits=True),
            z,
            probs,
        ),
        (
            "kl_divergence (logits)",
            size,
            "optax.kl_divergence(log_softmax)",
            lambda z, y: _mean(optax.kl_divergence)(jax.nn.log_softmax(z), y),
            lambda z, y: lk.kl_divergence(y, z, from_logits=True),
            z,
            probs,
        ),
        (
            "multiclass_hinge",
            size,
            "optax.losses.multiclass_hinge_loss",
            lambda z, y: _mean(optax.losses.multiclass_hinge_loss)(z, y),
            lambda z, y: lk.multiclass_hinge(y, z, variant="crammer_singer"),
            z,
            labels,
        ),
        (
            "sparsemax_loss",
            size,
            "optax.losses.multiclass_sparsemax_loss",
            lambda z, y: _mean(optax.losses.multiclass_sparsemax_loss)(z, y),
            lambda z, y: lk.sparsemax_loss(y, z),
            z,
            labels,
        ),
    ]


def _elementwise(sizes: Sizes, keys: Iterator[Any]) -> list[Spec]:
    shape = sizes["elements"]
    size = size_label(shape)
    x = jax.random.normal(next(keys), shape)
    hard = (jax.random.uniform(next(keys), shape) < 0.5).astype(jnp.float32)
    target = jax.random.normal(next(keys), shape)
    signs = jnp.where(jax.random.uniform(next(keys), shape) < 0.5, -1.0, 1.0)
    return [
        (
            "binary CE (logits)",
            size,
            "optax.sigmoid_binary_cross_entropy",
            lambda z, y: _mean(optax.sigmoid_binary_cross_entropy)(z, y),
            lambda z, y: lk.binary_crossentropy(y, z, from_logits=True),
            x,
            hard,
        ),
        (
            "binary focal (logits)",
            size,
            "optax.sigmoid_focal_loss",
            lambda z, y: _mean(optax.sigmoid_focal_loss)(z, y, alpha=0.25, gamma=2.0),
            lambda z, y: lk.binary_focal_crossentropy(
                y, z, gamma=2.0, alpha=0.25, from_logits=True
            ),
            x,
            hard,
        ),
        (
            "MSE",
            size,
            "optax.squared_error",
            lambda p, y: _mean(optax.squared_error)(p, y),
            lambda p, y: lk.mean_squared_error(y, p),
            x,
            target,
        ),
        (
            "huber",
            size,
            "optax.huber_loss",
            lambda p, y: _mean(optax.huber_loss)(p, y),
            lambda p, y: lk.huber(y, p),
            x,
            target,
        ),
        (
            "log_cosh",
            size,
            "optax.log_cosh",
            lambda p, y: _mean(optax.log_cosh)(p, y),
            lambda p, y: lk.log_cosh(y, p),
            x,
            target,
        ),
        (
            "hinge",
            size,
            "optax.hinge_loss",
            lambda s, y: _mean(optax.hinge_loss)(s, y),
            lambda s, y: lk.hinge(y, s),
            x,
            signs,
        ),
    ]


def _embeddings(sizes: Sizes, keys: Iterator[Any]) -> list[Spec]:
    n, f = sizes["embeddings"]
    size = size_label((n, f))
    a = jax.random.normal(next(keys), (n, f))
    b = jax.random.normal(next(keys), (n, f))
    neg = jax.random.normal(next(keys), (n, f))
    # optax's ntxent materialises a (2N, 2N, D) array: a smaller batch
    m, g = sizes["batch"]
    za = jax.random.normal(next(keys), (m, g))
    zb = jax.random.normal(next(keys), (m, g))
    labels = jnp.tile(jnp.arange(m), 2)
    return [
        (
            "info_nce (ntxent)",
            size_label((m, g)),
            "optax.losses.ntxent",
            lambda za, zb: optax.losses.ntxent(jnp.concatenate([za, zb]), labels, 0.07),
            lambda za, zb: lk.info_nce(za, zb, temperature=0.07),
            za,
            zb,
        ),
        (
            "triplet_margin",
            size,
            "optax.losses.triplet_margin_loss",
            lambda a, pn: _mean(optax.losses.triplet_margin_loss)(a, *pn, eps=1e-6),
            lambda a, pn: lk.triplet_margin(a, *pn, eps_mode="sum"),
            a,
            (b, neg),
        ),
        (
            "cosine_similarity",
            size,
            "optax.cosine_distance - 1",
            lambda p, y: _mean(optax.cosine_distance)(p, y, epsilon=1e-12) - 1.0,
            lambda p, y: lk.cosine_similarity(y, p),
            a,
            b,
        ),
    ]


def _ctc(sizes: Sizes, keys: Iterator[Any]) -> list[Spec]:
    n, t, k, s = sizes["sequences"]
    z = 2.0 * jax.random.normal(next(keys), (n, t, k))
    labels = jax.random.randint(next(keys), (n, s), 1, k)  # 0 is the blank
    label_lengths = jax.random.randint(next(keys), (n,), max(1, s // 2), s + 1)
    logit_lengths = jnp.full((n,), t)
    label_paddings = (jnp.arange(s) >= label_lengths[:, None]).astype(jnp.float32)
    logit_paddings = jnp.zeros((n, t))

    def native(z: Any, y: Any) -> Any:
        return jnp.mean(optax.ctc_loss(z, logit_paddings, y, label_paddings))

    def ours(z: Any, y: Any) -> Any:
        return lk.ctc(y, z, label_lengths, logit_lengths)

    return [("ctc", f"N{n} T{t} C{k} S{s}", "optax.ctc_loss", native, ours, z, labels)]


def _cases(suite: str, sizes: Sizes, quick: bool = False) -> Iterator[Case]:
    keys = iter(jax.random.split(jax.random.key(0), 32))
    specs = [
        *_classification(sizes, keys),
        *_elementwise(sizes, keys),
        *_embeddings(sizes, keys),
        *([] if quick else _ctc(sizes, keys)),  # CTC compiles slowly: not in the smoke run
    ]
    for loss, size, native_name, native, ours, x, y in specs:
        yield Case(
            suite, loss, size, native_name, TRACED, _step(native, x, y), _step(ours, x, y), float
        )


def cases(quick: bool) -> Iterator[Case]:
    """Every optax anchor at large (or, quick, tiny) sizes, then at N=32."""
    yield from _cases("jax jit", QUICK if quick else LARGE, quick)
    if not quick:  # the smoke run (CI) skips the N=32 rows: the same code at another size
        yield from _cases("jax overhead", SMALL)


def versions() -> dict[str, str]:
    """Library versions for the results file."""
    return {
        "jax": jax.__version__,
        "jaxlib_backend": jax.default_backend(),
        "optax": optax.__version__,
    }
