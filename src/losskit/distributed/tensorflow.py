r"""losskit losses in ``tf.distribute`` custom training loops (``MirroredStrategy`` and others).

Under a ``tf.distribute`` strategy each replica computes the loss on its part of the global
batch, and the strategy *sums* the replicas' gradients (``optimizer.apply_gradients`` inside
``strategy.run``; ``strategy.reduce(SUM, ...)``). TensorFlow's and Keras's convention follows:
each replica's loss is its weighted *sum* over the *global* count,

.. math:: L_r = \frac{S_r}{N},\qquad S_r = \sum_{i \in r} w_i \ell_i,\qquad N = \sum_r c_r,

so :math:`\sum_r L_r` is the mean over the global batch and :math:`\sum_r \nabla L_r` its
gradient — whatever number of valid entries (labels not at ``ignore_index``, unmasked pixels)
each replica holds. A local ``"mean"`` on every replica would instead average the replicas'
means (and, summed by the strategy, give ``num_replicas`` times the gradient).

* :func:`replica_loss` — :math:`L_r` for a losskit loss, called inside ``strategy.run``; the
  global count is all-reduced over the replicas (or given).
* :func:`sum_and_count`, :func:`all_reduce_count`, :func:`global_batch_mean` — its parts:
  this replica's :math:`(S_r, c_r)`, :math:`N` from the :math:`c_r`, and :math:`S_r / N`
  (``tf.nn.compute_average_loss`` for losskit's weighted counts).

For Keras's ``model.fit`` use the ``losskit.keras`` classes, which follow Keras's own scaling.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from .._object import Loss
from .._registry import info, name_of
from . import mean_denominator
from ._normalize import single_term

__all__ = ["all_reduce_count", "global_batch_mean", "replica_loss", "sum_and_count"]

#: These functions hold no Python control flow on tensors: AutoGraph leaves them (and the
#: losskit code they call) as written inside a ``tf.function``.
_graph_ready = tf.autograph.experimental.do_not_convert


@_graph_ready
def sum_and_count(loss: Any, /, *inputs: Any, **kwargs: Any) -> tuple[Any, Any]:
    r"""This replica's ``(Σ w·ℓ, Σ w)``: a loss's ``reduction="sum"`` and ``"mean"`` denominator.

    ``sum / count`` is ``loss(*inputs, **kwargs)`` (its ``"mean"``). The count is
    :func:`losskit.distributed.mean_denominator`: ``Σ w`` over the entries that are not masked,
    not at ``ignore_index`` and not excluded by the loss itself, weighted by ``sample_weight``
    and ``class_weight``; it carries no gradient. Add the counts of the replicas with
    :func:`all_reduce_count` (inside ``strategy.run``) or ``strategy.reduce(SUM, ...)``.

    Args:
        loss: a registered loss function, its name, an ``@lk.loss`` function, or an
            ``lk.Loss`` object with one term.
        inputs, kwargs: the loss's arguments, without ``reduction`` and ``normalizer``.

    >>> import tensorflow as tf, losskit as lk
    >>> from losskit.distributed.tensorflow import sum_and_count
    >>> labels, logits = tf.constant([2, -100, 0]), tf.zeros((3, 4))
    >>> s, c = sum_and_count(lk.sparse_categorical_crossentropy, labels, logits,
    ...                      from_logits=True, ignore_index=-100)
    >>> round(float(s), 5), float(c)  # two tokens at log 4 each
    (2.77259, 2.0)
    """
    _check_call_arguments("sum_and_count", kwargs)
    function = single_term(
        loss, "sum_and_count", "call it for each term of loss.terms(), or use replica_loss"
    )
    return function(*inputs, reduction="sum", **kwargs), mean_denominator(loss, *inputs, **kwargs)


@_graph_ready
def all_reduce_count(local_count: Any) -> Any:
    r"""The global count :math:`N = \sum_r c_r`: ``local_count`` summed over the replicas.

    Call it inside ``strategy.run`` (a replica context); it is one all-reduce, and with no
    strategy (one replica) it returns ``local_count``. In a cross-replica context, reduce the
    per-replica counts with ``strategy.reduce(tf.distribute.ReduceOp.SUM, counts, axis=None)``
    instead. The result is a float tensor without gradient.

    Args:
        local_count: this replica's count: a number or a 0-d tensor (any real dtype).

    >>> import tensorflow as tf
    >>> from losskit.distributed.tensorflow import all_reduce_count
    >>> float(all_reduce_count(tf.constant(3)))  # no strategy: one replica
    3.0
    """
    count = _count_tensor(local_count, "local_count")
    context = tf.distribute.get_replica_context()
    if context is None:
        raise ValueError(
            "all_reduce_count sums local_count over the replicas, so it runs inside "
            "strategy.run; in a cross-replica context use strategy.reduce(SUM, counts, axis=None)"
        )
    return tf.stop_gradient(context.all_reduce(tf.distribute.ReduceOp.SUM, count))


@_graph_ready
def global_batch_mean(losses: Any, global_count: Any) -> Any:
    r"""This replica's share of the global mean: :math:`\sum` ``losses`` / ``global_count``.

    ``losses`` is this replica's weighted sum :math:`S_r` (a 0-d tensor) or its weighted
    per-example losses (``reduction="none"``, summed here); ``global_count`` is the global
    batch's denominator :math:`N` (:func:`all_reduce_count` of the replicas' counts, or the
    count of the global batch before it was distributed). The strategy's sum of the replicas'
    values, and of their gradients, is the global mean and its gradient. When
    ``global_count`` is 0 the result is exactly 0 with a zero gradient, never NaN. Like
    ``tf.nn.compute_average_loss(per_example_loss, global_batch_size=N)``, with losskit's
    weighted count in place of the batch size.

    Reference: TensorFlow guide, *Custom training with tf.distribute.Strategy* (scale each
    replica's loss by the global batch size, not the per-replica one).

    >>> import tensorflow as tf
    >>> from losskit.distributed.tensorflow import global_batch_mean
    >>> float(global_batch_mean(tf.constant([1.0, 2.0, 0.0]), 4))  # this replica's 3 of 4
    0.75
    >>> float(global_batch_mean(tf.constant(0.0), 0))
    0.0
    """
    losses = tf.convert_to_tensor(losses)
    if not losses.dtype.is_floating:
        raise TypeError(f"losses must be a floating-point tensor; got dtype {losses.dtype.name}")
    total = tf.reduce_sum(losses)
    count = _count_tensor(global_count, "global_count", total.dtype)
    return tf.math.divide_no_nan(total, count)


@_graph_ready
def replica_loss(loss: Any, /, *inputs: Any, global_count: Any = None, **kwargs: Any) -> Any:
    r"""A loss's share of the global-batch mean on this replica, inside ``strategy.run``.

    .. math:: L_r = \frac{\sum_{i \in r} w_i \ell_i}{\sum_{r'} \sum_{i \in r'} w_i}

    Differentiate it with ``tf.GradientTape`` on each replica and apply the gradients with a
    Keras optimizer (which sums them over the replicas), or reduce with
    ``strategy.reduce(SUM, ...)``: the result is the gradient (and value) of
    ``loss(*global_inputs, **kwargs)`` on the global batch. A replica with no valid entry
    contributes 0; a global batch with none gives 0 with a zero gradient.

    An ``lk.Loss`` sum ``Σ λ_t L_t`` gives ``Σ λ_t`` (share of ``L_t``), each term over its own
    global count. The loss must be a sum over the examples of the batch: batch losses
    (``info_nce``, ``supervised_contrastive``, ...) and losses that are one value per batch
    (overlap losses with ``per_image=False``) are refused.

    Args:
        loss: a registered loss function, its name, an ``@lk.loss`` function or an ``lk.Loss``.
        inputs: this replica's inputs.
        global_count: the global denominator, if known (e.g. counted on the global batch
            before distributing it); None all-reduces the replicas' counts (one all-reduce per
            term).
        kwargs: the loss's parameters and the contract's ``sample_weight`` and ``mask`` (this
            replica's part); ``reduction`` and ``normalizer`` are not accepted.

    Reference: TensorFlow's distributed custom training loop guide (per-replica losses divided
    by the global batch size, ``tf.nn.compute_average_loss``).

    >>> import tensorflow as tf, losskit as lk
    >>> from losskit.distributed.tensorflow import replica_loss
    >>> labels = tf.constant([1, -100, 0])
    >>> logits = tf.constant([[0.0, 2.0], [1.0, 0.0], [0.0, 0.0]])
    >>> options = {"from_logits": True, "ignore_index": -100}
    >>> strategy = tf.distribute.get_strategy()  # one replica here; MirroredStrategy in training
    >>> value = strategy.run(
    ...     lambda y, z: replica_loss(lk.sparse_categorical_crossentropy, y, z, **options),
    ...     args=(labels, logits))
    >>> full = lk.sparse_categorical_crossentropy(labels, logits, **options)
    >>> bool(abs(float(value) - float(full)) < 1e-6)
    True
    """
    _check_call_arguments("replica_loss", kwargs)
    terms = loss.terms() if isinstance(loss, Loss) else [(1.0, Loss(loss))]
    if global_count is not None and len(terms) > 1:
        raise ValueError(
            f"global_count is one denominator, but {loss!r} has {len(terms)} terms, each "
            f"averaged over its own count; leave global_count=None to all-reduce each term's"
        )
    value: Any = 0.0
    for weight, term in terms:
        losses = _decomposable_losses(term, inputs, kwargs)
        count = global_count
        if count is None:
            count = all_reduce_count(mean_denominator(term, *inputs, **kwargs))
        share = global_batch_mean(losses, count)
        value = value + (share if weight == 1.0 else weight * share)
    return value


# ---------------------------------------------------------------------- helpers
def _check_call_arguments(function: str, kwargs: dict[str, Any]) -> None:
    for name in ("reduction", "normalizer"):
        if name in kwargs:
            raise TypeError(
                f"{function} computes this replica's share of the global mean itself; remove "
                f"{name}= (for a global sum reduce loss(..., reduction='sum') with "
                f"strategy.reduce(SUM, ...))"
            )


def _decomposable_losses(term: Loss, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The weighted unreduced losses of a loss that is a sum over its examples."""
    name = term.name or name_of(term.function)
    if name is not None and info(name).properties.get("batch"):
        raise ValueError(
            f"replica_loss: {name} compares the examples of a batch with each other (its "
            f"negatives come from the batch), so a replica's sum is not its part of the global "
            f"loss; compute it on the global batch (all-gather the embeddings to every replica)"
        )
    losses = term(*inputs, reduction="none", **kwargs)
    if losses.shape.rank == 0:
        raise ValueError(
            f"replica_loss: {term!r} is one value for the whole batch with these arguments "
            f"(e.g. an overlap loss with per_image=False), not a sum over its examples; pass "
            f"per_image=True"
        )
    return losses


def _count_tensor(count: Any, name: str, dtype: Any = None) -> Any:
    if isinstance(count, bool):
        raise TypeError(f"{name} must be a number or a numeric 0-d tensor; got a bool")
    count = tf.convert_to_tensor(count)
    if count.dtype == tf.bool or not (count.dtype.is_floating or count.dtype.is_integer):
        raise TypeError(f"{name} must be a number or a numeric 0-d tensor; got {count.dtype.name}")
    if count.shape.rank not in (0, None):
        raise ValueError(f"{name} must be a 0-d count; got shape {count.shape}")
    if dtype is None:
        dtype = count.dtype if count.dtype.is_floating else tf.float64
    return tf.cast(count, dtype)
