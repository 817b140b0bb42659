r"""Global means of losskit losses in sharded JAX programs (``jax.jit`` and ``shard_map``).

**jax.jit with sharded inputs** (``NamedSharding``, GSPMD): call the loss on the global arrays
as usual. The program describes the global batch, so its value and gradients are the
full-batch ones, for every kind of loss (elementwise, over a class axis, per image, per
sequence, batch losses such as ``info_nce``); nothing in this module is needed. (On a mesh
with ``AxisType.Explicit`` axes, batch losses and a chunked ``linear_cross_entropy`` do not
trace yet — JAX asks for the sharding of their Gram matrix and scan; use ``AxisType.Auto``.)

**shard_map** (also ``pmap``, and ``vmap`` with ``axis_name``): the body sees one device's shard,
and a loss's ``"mean"`` there is the *local* mean — a shard holding fewer valid entries (tokens
at ``ignore_index``, masked pixels) weighs as much as a full one, and a batch loss sees only its
shard's negatives. The functions here restore the global quantities with collectives over
``axis_name``:

* :func:`global_mean` — ``Σ_d S_d / Σ_d c_d`` of a registered loss: each device's weighted sum
  ``S_d`` (``reduction="sum"``) and its ``"mean"`` denominator ``c_d``
  (:func:`losskit.distributed.mean_denominator`), both ``psum``-ed; :func:`sum_and_count` and
  :func:`psum_mean` are its two halves, for code that accumulates sums itself.
* :func:`info_nce` — InfoNCE / NT-Xent / CLIP over the global batch: each device's anchors
  against every device's candidates, gathered with ``jax.lax.all_gather(..., tiled=True)``.

The results are replicated (the same on every device: ``out_specs=P()``), and ``jax.grad``
through them is the gradient of the full-batch loss: ``psum`` and ``all_gather`` transpose to
the matching collectives under ``shard_map``'s replication checking (the default).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .. import _validate
from .._object import Loss
from .._reduce import _safe_divide, recording_denominators, reduce_loss
from .._registry import info, name_of
from ..losses._metric import (
    _batch,
    _enter,
    _positive,
    _row_mask,
    _unit,
    global_nce_losses,
)
from . import mean_denominator
from ._normalize import single_term

__all__ = ["global_mean", "info_nce", "psum_mean", "sum_and_count"]

AxisName = Any  # a mesh axis name, or a tuple of them


def psum_mean(loss_sum: Any, count: Any, axis_name: AxisName) -> Any:
    r"""The mean over all devices of ``axis_name``: :math:`\sum_d S_d / \sum_d c_d`.

    ``loss_sum`` is this device's weighted sum :math:`S_d = \sum w\ell` and ``count`` its
    denominator :math:`c_d = \sum w` (from :func:`sum_and_count`, or counted directly, e.g.
    ``jnp.sum(labels != -100)``). Both are ``psum``-ed over ``axis_name``; when the global count is
    0 the result is exactly 0 with a zero gradient, never NaN. Call it inside ``shard_map``
    (or ``pmap``, or ``vmap`` with ``axis_name``); the result is the same on every device.

    Args:
        loss_sum: this device's sum, a 0-d array.
        count: this device's count, a 0-d array or number (cast to ``loss_sum``'s dtype).
        axis_name: the mesh axis (or tuple of axes) the batch is sharded over.

    Reference: Goyal et al. (2017), *Accurate, Large Minibatch SGD* (one mean over the global
    batch in data-parallel training).

    >>> import jax, jax.numpy as jnp
    >>> from losskit.distributed.jax import psum_mean
    >>> sums, counts = jnp.array([3.0, 0.0, 5.0]), jnp.array([2.0, 0.0, 2.0])  # 3 devices
    >>> jax.vmap(lambda s, c: psum_mean(s, c, "batch"), axis_name="batch")(sums, counts)
    Array([2., 2., 2.], dtype=float...)
    """
    loss_sum = jnp.asarray(loss_sum)
    _check_scalar(loss_sum, "loss_sum")
    if not jnp.issubdtype(loss_sum.dtype, jnp.floating):
        raise TypeError(f"loss_sum must be a floating-point 0-d array; got dtype {loss_sum.dtype}")
    count = jnp.asarray(count)
    _check_scalar(count, "count")
    if count.dtype == jnp.bool_ or not jnp.issubdtype(count.dtype, jnp.number):
        raise TypeError(f"count must be a number or a numeric 0-d array; got dtype {count.dtype}")
    total = _psum(loss_sum, axis_name, "psum_mean")
    denominator = _psum(count.astype(loss_sum.dtype), axis_name, "psum_mean")
    positive = denominator > 0
    safe = jnp.where(positive, denominator, jnp.ones_like(denominator))
    return jnp.where(positive, total / safe, jnp.zeros_like(total))


def sum_and_count(loss: Any, /, *inputs: Any, **kwargs: Any) -> tuple[Any, Any]:
    r"""This device's ``(Σ w·ℓ, Σ w)``: a loss's ``reduction="sum"`` and ``"mean"`` denominator.

    ``sum / count`` is ``loss(*inputs, **kwargs)`` (its ``"mean"``) on these inputs, and
    :func:`psum_mean` of the pair is the mean over the global batch. The count is
    :func:`losskit.distributed.mean_denominator`: ``Σ w`` over the entries that are not masked,
    not at ``ignore_index`` and not excluded by the loss itself, weighted by ``sample_weight``
    and ``class_weight``; it carries no gradient.

    Args:
        loss: a registered loss function, its name, an ``@lk.loss`` function, or an
            ``lk.Loss`` object with one term.
        inputs, kwargs: the loss's arguments, without ``reduction`` and ``normalizer``.

    >>> import numpy as np, losskit as lk
    >>> from losskit.distributed.jax import sum_and_count
    >>> labels, logits = np.array([2, -100, 0]), np.zeros((3, 4))
    >>> s, c = sum_and_count(lk.sparse_categorical_crossentropy, labels, logits,
    ...                      from_logits=True, ignore_index=-100)
    >>> round(float(s), 6), float(c)  # two tokens at log 4 each
    (2.772589, 2.0)
    """
    _check_call_arguments("sum_and_count", kwargs)
    function = single_term(
        loss, "sum_and_count", "call it for each term of loss.terms(), or use global_mean"
    )
    return function(*inputs, reduction="sum", **kwargs), mean_denominator(loss, *inputs, **kwargs)


def global_mean(loss: Any, /, *inputs: Any, axis_name: AxisName, **kwargs: Any) -> Any:
    r"""A loss's ``"mean"`` over the global batch, called on one shard inside ``shard_map``.

    .. math:: \bar\ell = \frac{\sum_d \sum_{i \in d} w_i \ell_i}{\sum_d \sum_{i \in d} w_i}

    over the devices ``d`` of ``axis_name``: exactly ``loss(*global_inputs, **kwargs)``, value
    and gradient, whatever each shard holds — a shard with no valid entry adds 0, and a global
    batch with none gives 0 with a zero gradient. The result is replicated (``out_specs=P()``).
    An ``lk.Loss`` sum ``Σ λ_t L_t`` gives ``Σ λ_t`` (global mean of ``L_t``), as on one device.

    The loss must be a sum over the examples of the batch: a batch loss (``info_nce`` — use
    :func:`info_nce` here —, ``supervised_contrastive``, ``contrastive``, ``circle``,
    ``sigmoid_contrastive``) or one value for the whole batch (overlap losses with
    ``per_image=False``) couples the shards and is refused; compute those under ``jax.jit`` on
    sharded global arrays instead.

    Args:
        loss: a registered loss function, its name, an ``@lk.loss`` function or an ``lk.Loss``.
        inputs: this shard's inputs (arrays shared by every shard, such as
            ``linear_cross_entropy``'s output weight, replicated with ``P()``).
        axis_name: the mesh axis (or tuple of axes) the batch is sharded over.
        kwargs: the loss's parameters and the contract's ``sample_weight`` and ``mask`` (this
            shard's part); ``reduction`` and ``normalizer`` are not accepted.

    Reference: the global-batch normalisation of data-parallel training (Goyal et al., 2017,
    *Accurate, Large Minibatch SGD*; token-count normalisation across devices in T5X/MaxText).

    >>> import jax, numpy as np, losskit as lk
    >>> from losskit.distributed.jax import global_mean
    >>> labels = np.array([[1, -100], [-100, -100], [0, 2]])  # 3 shards of 2 tokens
    >>> logits = np.random.default_rng(0).normal(size=(3, 2, 4))
    >>> per_shard = jax.vmap(
    ...     lambda y, z: global_mean(lk.sparse_categorical_crossentropy, y, z, axis_name="data",
    ...                              from_logits=True, ignore_index=-100),
    ...     axis_name="data")(labels, logits)
    >>> full = lk.sparse_categorical_crossentropy(labels.reshape(6), logits.reshape(6, 4),
    ...                                           from_logits=True, ignore_index=-100)
    >>> bool(np.allclose(per_shard, float(full)))
    True
    """
    _check_call_arguments("global_mean", kwargs)
    terms = loss.terms() if isinstance(loss, Loss) else [(1.0, Loss(loss))]
    value: Any = 0.0
    for weight, term in terms:
        _check_decomposable(term, inputs, kwargs)
        loss_sum, count = sum_and_count(term, *inputs, **kwargs)
        term_mean = psum_mean(loss_sum, count, axis_name)
        value = value + (term_mean if weight == 1.0 else weight * term_mean)
    return value


def info_nce(
    z_a: Any,
    z_b: Any,
    *,
    axis_name: AxisName,
    temperature: float = 0.1,
    negatives: str = "all",
    symmetric: bool = True,
    normalize: bool = True,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""InfoNCE / NT-Xent / CLIP over the global batch, called on one shard inside ``shard_map``.

    Device ``d`` holds rows :math:`o_d, …, o_d + n - 1` of the global views ``Z_a``, ``Z_b``
    (:math:`o_d = n ·` ``jax.lax.axis_index(axis_name)``). Its anchors are its own rows; their
    candidates are the rows of every device, gathered with
    ``jax.lax.all_gather(..., tiled=True)``. Each anchor's loss is :func:`losskit.info_nce`'s,

    .. math:: \ell_i = \log\Bigl(1 + \sum_{c \in C(i) \setminus \{p(i)\}}
              e^{s(i, c) - s(i, p(i))}\Bigr),\qquad s(u, v) = \hat u \cdot \hat v / τ,

    with the positive :math:`p(i)` at global column :math:`o_d + i` and the candidates
    :math:`C(i)` from the global batch (``negatives="all"``: the other :math:`2N - 1`
    embeddings of both views, SimCLR's NT-Xent; ``"cross_view"``: the N rows of the other
    view — CLIP's loss with ``symmetric=True``). The result equals
    ``losskit.info_nce(Z_a, Z_b, ...)`` on the global batch, value and gradients.

    Args:
        z_a, z_b: this shard's ``(n, D)`` views (row ``i`` of each is a positive pair).
        axis_name: the mesh axis (or tuple of axes) the batch is sharded over.
        temperature, negatives, symmetric, normalize: as in :func:`losskit.info_nce`.
        sample_weight, mask: this shard's ``(n,)`` part; a masked pair is neither an anchor
            nor a candidate anywhere.
        reduction: ``"mean"`` (global, replicated), ``"sum"`` (global, replicated) or
            ``"none"`` (this shard's rows of the global unreduced loss: ``(n, 2)``, or ``(n,)``
            with ``symmetric=False``).
        normalizer: replaces the global denominator of ``"mean"`` (the global sum is divided
            by it).

    The candidate matrix is ``n × 2N`` per device (``n × N`` with ``"cross_view"``); the
    all-gathered views are ``N × D``.

    References: Chen et al. (2020), SimCLR (negatives gathered across cores); Radford et al.
    (2021), CLIP.

    >>> import jax, numpy as np, losskit as lk
    >>> from losskit.distributed.jax import info_nce
    >>> rng = np.random.default_rng(0)
    >>> z_a, z_b = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    >>> shards = jax.vmap(lambda a, b: info_nce(a, b, axis_name="data"), axis_name="data")(
    ...     z_a.reshape(3, 2, 4), z_b.reshape(3, 2, 4))  # 3 devices of 2 pairs
    >>> bool(np.allclose(shards, float(lk.info_nce(z_a, z_b))))
    True
    """
    temperature = _positive("temperature", temperature)
    _validate.check_choice("negatives", negatives, ("all", "cross_view"))
    _validate.check_choice("reduction", reduction, ("mean", "sum", "none"))
    backend, (a, b), checking = _enter(reduction, normalizer, {"z_a": z_a, "z_b": z_b}, (mask,))
    n = _batch(backend, a, "z_a")
    _batch(backend, b, "z_b")
    if not _validate.same_shape(backend.shape(a), backend.shape(b)):
        raise ValueError(
            f"z_a and z_b must have the same shape (two views of this shard's batch); got "
            f"{backend.shape(a)} and {backend.shape(b)}"
        )
    rows = None if mask is None else _row_mask(backend, mask, a, n, checking)
    xp = backend.xp
    if normalize:
        a, b = _unit(xp, a), _unit(xp, b)
    offset = _axis_index(axis_name, "info_nce") * n
    keep_local = jnp.ones((n,), dtype=bool) if rows is None else rows
    all_a = jax.lax.all_gather(a, axis_name, tiled=True)
    all_b = jax.lax.all_gather(b, axis_name, tiled=True)
    all_rows = jax.lax.all_gather(keep_local, axis_name, tiled=True)
    indices = (offset + jnp.arange(n), jnp.arange(all_a.shape[0]))
    loss, valid = global_nce_losses(
        backend, (a, b), (all_a, all_b, all_rows), indices, rows, temperature, negatives, symmetric
    )
    if reduction == "none":
        return reduce_loss(
            backend, loss, reduction="none", sample_weight=sample_weight, valid=valid
        )
    with recording_denominators() as found:
        local_sum = reduce_loss(
            backend, loss, reduction="sum", sample_weight=sample_weight, valid=valid
        )
    if normalizer is not None:
        return _safe_divide(backend, _psum(local_sum, axis_name, "info_nce"), normalizer)
    if reduction == "sum":
        return _psum(local_sum, axis_name, "info_nce")
    return psum_mean(local_sum, jax.lax.stop_gradient(found[0]), axis_name)


# ---------------------------------------------------------------------- helpers
def _check_scalar(x: Any, name: str) -> None:
    if x.ndim != 0:
        raise ValueError(f"{name} must be a 0-d array (this device's total); got shape {x.shape}")


def _check_call_arguments(function: str, kwargs: dict[str, Any]) -> None:
    for name in ("reduction", "normalizer"):
        if name in kwargs:
            raise TypeError(
                f"{function} computes the global mean itself; remove {name}= (for a global sum "
                f"use jax.lax.psum(loss(..., reduction='sum'), axis_name), and divide that by "
                f"a fixed normalizer if you have one)"
            )


def _check_decomposable(term: Loss, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse losses whose value on the global batch is not the sum of per-shard sums."""
    name = term.name or name_of(term.function)
    if name is not None and info(name).properties.get("batch"):
        hint = (
            "use losskit.distributed.jax.info_nce"
            if name == "info_nce"
            else "call it under jax.jit on the sharded global arrays"
        )
        raise ValueError(
            f"global_mean: {name} compares the examples of a batch with each other (its "
            f"negatives come from the batch), so a shard's sum is not its part of the global "
            f"loss; {hint}"
        )
    if _unreduced_shape(term, inputs, kwargs) == ():
        raise ValueError(
            f"global_mean: {term!r} is one value for the whole batch with these arguments (e.g. "
            f"an overlap loss with per_image=False), not a sum over its examples; pass "
            f"per_image=True, or call it under jax.jit on the sharded global arrays"
        )


def _unreduced_shape(term: Loss, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The shape of ``term(*inputs, reduction="none", **kwargs)``, traced, never computed (the
    arrays are the traced arguments, so the loss sees tracers and skips its value checks)."""
    at = [i for i, x in enumerate(inputs) if _is_array(x)]
    arrays = {k: v for k, v in kwargs.items() if _is_array(v)}
    rest = {k: v for k, v in kwargs.items() if k not in arrays}

    def unreduced(traced: list[Any], traced_kwargs: dict[str, Any]) -> Any:
        full = list(inputs)
        for i, x in zip(at, traced, strict=True):
            full[i] = x
        return term(*full, reduction="none", **traced_kwargs, **rest)

    return jax.eval_shape(unreduced, [inputs[i] for i in at], arrays).shape


def _is_array(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype")


def _psum(x: Any, axis_name: AxisName, function: str) -> Any:
    try:
        return jax.lax.psum(x, axis_name)
    except NameError as error:
        raise _unbound(axis_name, function) from error


def _axis_index(axis_name: AxisName, function: str) -> Any:
    try:
        return jax.lax.axis_index(axis_name)
    except NameError as error:
        raise _unbound(axis_name, function) from error


def _unbound(axis_name: AxisName, function: str) -> ValueError:
    return ValueError(
        f"{function}: axis_name={axis_name!r} is not a bound axis here; call it inside "
        f"jax.shard_map over a mesh with that axis (or pmap / vmap with axis_name={axis_name!r})"
    )
