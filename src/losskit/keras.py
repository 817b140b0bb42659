"""Keras 3 losses for every registered loss: ``losskit.keras.Dice(...)``, ...

One ``keras.losses.Loss`` subclass per registered loss is generated from the registry (its
CamelCase name, its keyword parameters as constructor arguments), plus ``Loss(loss_object)`` for
any ``lk.Loss`` object. They follow Keras's conventions: ``call(y_true, y_pred)``, channels last,
``reduction="sum_over_batch_size"`` by default, and work under every Keras backend (TensorFlow,
JAX, PyTorch), since losskit dispatches on the tensors Keras passes.

Losses whose inputs are not a ``(y_true, y_pred)`` pair take labels as ``y_true`` and the model's
output as ``y_pred``: ``SupervisedContrastive()(labels, embeddings)``; several predicted inputs
are stacked on axis 1 of ``y_pred``: ``TripletMargin()(None, stack([a, p, n], axis=1))``,
``CRPSGaussian()(y, stack([mu, sigma], axis=1))``. The angular-margin losses (``ArcFace``,
``CosFace``, ``SphereFace``, ``SubCenterArcFace``) are layers instead, which own their class
centres as a trainable weight: ``ArcFace(num_classes=10, embedding_size=64)(embeddings, labels)``.

Reductions are Keras's, on Keras's per-sample values: an elementwise loss (``kind="elementwise"``
in the registry: MSE, binary cross-entropy, ...) is averaged over the last axis first, as
``keras.losses.MeanSquaredError`` does (a rank-1 batch has one value per entry); other losses
give their unreduced value (one per sample for a class axis, one per batch for VICReg).
``reduction=None``/``"none"`` returns those values weighted by ``sample_weight``, ``"sum"`` their
sum, ``"sum_over_batch_size"`` and ``"mean"`` their sum over the number that count,
``"mean_with_sample_weight"`` over the sum of the weights. ``sample_weight`` and a Keras mask on
``y_pred`` are the contract's ``sample_weight`` and ``mask``. The plain functions keep losskit's
elementwise contract.

Every class is registered as Keras-serializable (package ``losskit``), so a model compiled with
one saves and loads with ``keras.models.load_model(path)``, every parameter restored, without
``custom_objects``.

>>> import numpy as np, losskit.keras as lkk
>>> loss = lkk.Huber(delta=0.5)
>>> float(loss(np.array([[0.0, 0.0]]), np.array([[0.25, 2.0]])))
0.453125
"""

from __future__ import annotations

import inspect
from typing import Any

import keras

from . import _object, _registry
from ._backend import backend_of
from ._wrapping import (
    CENTRE_LOSSES,
    NOT_A_PAIR,
    centre_shape,
    class_name,
    constructor_signature,
    from_target_and_prediction,
    positional_inputs,
    wrapper_doc,
)

#: Keras reduction → losskit reduction.
REDUCTIONS: dict[str | None, str] = {
    "sum_over_batch_size": "sum_over_batch_size",
    "mean": "sum_over_batch_size",
    "mean_with_sample_weight": "mean",
    "sum": "sum",
    "none": "none",
    None: "none",
}
#: The array library each Keras backend computes with.
_LIBRARIES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy"}


@keras.saving.register_keras_serializable(package="losskit")
class Loss(keras.losses.Loss):
    """A losskit loss (an ``lk.Loss`` object, a name or a function) as a Keras loss."""

    def __init__(
        self,
        loss: Any,
        *,
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        if isinstance(loss, dict):  # from a saved config
            loss = _object.Loss.from_config(loss)
        elif not isinstance(loss, _object.Loss):
            loss = _object.Loss(loss)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.loss = loss
        # for a sum, the first term's input convention (the terms must agree)
        self._input_names = positional_inputs(loss.terms()[0][1].function)
        self._elementwise = all(_is_elementwise(term.function) for _, term in loss.terms())

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        _check_library(y_true, y_pred)
        mask = keras.backend.get_keras_mask(y_pred) if hasattr(y_pred, "_keras_mask") else None
        inputs = self._inputs(y_true, y_pred)
        if self.reduction in _AVERAGES:
            # Σ w·ℓ over the count (or the weights) of the entries that count equals Keras's
            # average of the per-sample values: averaging the last axis first changes nothing
            reduction = REDUCTIONS[self.reduction]
            value = self.loss(*inputs, sample_weight=sample_weight, mask=mask, reduction=reduction)
            return _scale_for_replicas(value)
        value = self.loss(*inputs, sample_weight=sample_weight, mask=mask, reduction="none")
        per_sample = self._per_sample(value)
        if self.reduction == "sum":
            return backend_of(per_sample).xp.sum(per_sample)
        return _keras_rank(per_sample, sample_weight)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """Keras's per-sample values, unweighted."""
        _check_library(y_true, y_pred)
        return self._per_sample(self.loss(*self._inputs(y_true, y_pred), reduction="none"))

    def _per_sample(self, value: Any) -> Any:
        """Keras's per-sample values from the unreduced loss: an elementwise loss of rank ≥ 2 is
        averaged over its last axis (the features, as Keras's own losses do)."""
        if not self._elementwise or len(value.shape) < 2:
            return value
        return backend_of(value).xp.mean(value, axis=-1)

    def _inputs(self, y_true: Any, y_pred: Any) -> list[Any]:
        """The loss's positional inputs from Keras's ``(y_true, y_pred)``; for an elementwise
        pair, a ``(N,)`` target against a ``(N, 1)`` prediction gets its trailing axis, as
        Keras's own losses do (``model.fit`` with ``y`` of shape ``(N,)`` and a ``Dense(1)``)."""
        if self._elementwise and self._input_names[:2] == ["y_true", "y_pred"]:
            y_true, y_pred = _same_rank(y_true, y_pred)
        return from_target_and_prediction(self._input_names, y_true, y_pred, _unstack)

    def get_config(self) -> dict[str, Any]:
        return {"loss": self.loss.get_config(), "name": self.name, "reduction": self.reduction}


class _RegisteredLoss(Loss):
    """Base of the generated classes: the loss name is fixed, its parameters are arguments."""

    loss_name: str = ""

    def __init__(self, **kwargs: Any) -> None:
        keras_args = {k: kwargs.pop(k) for k in ("name", "reduction", "dtype") if k in kwargs}
        self.params = kwargs
        super().__init__(_object.Loss(self.loss_name, **kwargs), **keras_args)

    def get_config(self) -> dict[str, Any]:
        config = {"name": self.name, "reduction": self.reduction}
        return {**config, **_object.Loss(self.loss_name, **self.params).get_config()["params"]}


#: The Keras reductions that average; under tf.distribute Keras divides them by the replicas.
_AVERAGES = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


def _scale_for_replicas(value: Any) -> Any:
    """Keras's convention under ``tf.distribute``: an averaged loss is divided by the number of
    replicas in sync, because the strategy sums the replicas' gradients (and the trainer
    multiplies the logged loss back). Other Keras backends do not sum replicas' gradients."""
    if keras.backend.backend() != "tensorflow":
        return value
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return value if replicas == 1 else value * (1.0 / replicas)


def _keras_rank(value: Any, sample_weight: Any) -> Any:
    """Keras's shape for unreduced losses weighted per sample: an ``(N,)`` loss weighted by
    ``(N, 1)`` comes back as ``(N, 1)`` (losskit drops the weight's axis instead)."""
    if sample_weight is None or len(value.shape) != 1:
        return value
    weight_shape = keras.ops.shape(sample_weight)
    if len(weight_shape) != 2 or weight_shape[-1] != 1:
        return value
    return backend_of(value).xp.expand_dims(value, axis=-1)


def _is_elementwise(function: Any) -> bool:
    """Whether ``function`` is registered as an elementwise loss (unregistered: not known)."""
    name = _registry.name_of(function)
    return name is not None and _registry.info(name).kind == "elementwise"


def _same_rank(y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """Keras's rule for a pair whose ranks differ by one, the longer ending in an axis of size
    1: a rank-1 array gets a trailing axis, otherwise the size-1 axis is dropped."""
    if not hasattr(y_true, "shape") or not hasattr(y_pred, "shape"):
        return y_true, y_pred
    true_rank, pred_rank = len(y_true.shape), len(y_pred.shape)
    if pred_rank == true_rank + 1 and y_pred.shape[-1] == 1:
        if true_rank == 1:
            return backend_of(y_true).xp.expand_dims(y_true, axis=-1), y_pred
        return y_true, backend_of(y_pred).xp.squeeze(y_pred, axis=-1)
    if true_rank == pred_rank + 1 and y_true.shape[-1] == 1:
        if pred_rank == 1:
            return y_true, backend_of(y_pred).xp.expand_dims(y_pred, axis=-1)
        return backend_of(y_true).xp.squeeze(y_true, axis=-1), y_pred
    return y_true, y_pred


def _unstack(y_pred: Any, index: int) -> Any:
    return y_pred[:, index]


def _check_library(y_true: Any, y_pred: Any) -> None:
    expected = _LIBRARIES.get(keras.backend.backend())
    for argument, value in (("y_pred", y_pred), ("y_true", y_true)):
        if not hasattr(value, "shape") or type(value).__module__.startswith("numpy"):
            continue
        library = backend_of(value).name
        if expected is not None and library not in (expected, "numpy"):
            raise TypeError(
                f"{argument} is a {type(value).__module__}.{type(value).__name__}, but Keras runs "
                f"on the {keras.backend.backend()!r} backend; pass {expected} tensors (or NumPy "
                "arrays) to a Keras loss, or call the losskit function directly"
            )


def _loss_class(info: _registry.LossInfo) -> type[Loss]:
    keras_parameters = [
        inspect.Parameter("name", inspect.Parameter.KEYWORD_ONLY, default=None),
        inspect.Parameter(
            "reduction", inspect.Parameter.KEYWORD_ONLY, default="sum_over_batch_size"
        ),
        inspect.Parameter("dtype", inspect.Parameter.KEYWORD_ONLY, default=None),
    ]
    cls_name = class_name(info.name)

    def __init__(self: _RegisteredLoss, **kwargs: Any) -> None:
        _RegisteredLoss.__init__(self, **kwargs)

    __init__.__signature__ = constructor_signature(  # type: ignore[attr-defined]
        info.function, {}, keras_parameters
    )
    cls = type(
        cls_name,
        (_RegisteredLoss,),
        {
            "__init__": __init__,
            "__doc__": wrapper_doc(info.name, info.function, "a Keras loss"),
            "__module__": __name__,
            "loss_name": info.name,
        },
    )
    return keras.saving.register_keras_serializable(package="losskit", name=cls_name)(cls)


#: Keyword arguments of ``keras.layers.Layer`` that a layer's config carries.
_LAYER_ARGUMENTS = ("trainable", "autocast")


@keras.saving.register_keras_serializable(package="losskit")
class CentresLayer(keras.layers.Layer):
    """An angular-margin loss (``ArcFace``, ``CosFace``, ...) as a Keras layer that owns the class
    centres: a trainable weight ``(num_classes · sub_centers, embedding_size)``.

    ``layer(embeddings, labels, sample_weight=None)`` returns the loss, reduced as ``reduction``
    (Keras's names, as the Keras losses), and adds it to the layer's losses (``add_loss``), so a
    model holding the layer trains its embeddings and the centres with ``model.fit`` and no
    ``loss=`` in ``compile``. The other arguments are the loss's parameters.
    """

    loss_name: str = ""

    def __init__(
        self,
        num_classes: int,
        embedding_size: int,
        *,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: Any = None,
        **params: Any,
    ) -> None:
        layer_args = {k: params.pop(k) for k in _LAYER_ARGUMENTS if k in params}
        super().__init__(name=name, dtype=dtype, **layer_args)
        if reduction not in REDUCTIONS:
            options = ", ".join(repr(r) for r in REDUCTIONS)
            raise ValueError(f"reduction must be one of {options}; got {reduction!r}")
        self.loss = _object.Loss(self.loss_name, **params)  # checks every parameter name
        self.params = params
        self.num_classes, self.embedding_size = num_classes, embedding_size
        self.reduction = reduction
        shape = centre_shape(self.loss.function, num_classes, embedding_size, params)
        self.centres = self.add_weight(shape=shape, initializer="random_normal", name="centres")

    def call(self, embeddings: Any, labels: Any, sample_weight: Any = None) -> Any:
        value = self.loss(
            embeddings,
            labels,
            self.centres.value,
            sample_weight=sample_weight,
            reduction=REDUCTIONS[self.reduction],
        )
        self.add_loss(value if REDUCTIONS[self.reduction] != "none" else keras.ops.mean(value))
        return value

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        sizes = {"num_classes": self.num_classes, "embedding_size": self.embedding_size}
        return {**config, **sizes, "reduction": self.reduction, **self.params}


def _layer_class(info: _registry.LossInfo) -> type[CentresLayer]:
    cls_name = class_name(info.name)

    def __init__(self: CentresLayer, num_classes: int, embedding_size: int, **kwargs: Any) -> None:
        CentresLayer.__init__(self, num_classes, embedding_size, **kwargs)

    cls = type(
        cls_name,
        (CentresLayer,),
        {
            "__init__": __init__,
            "__doc__": wrapper_doc(
                info.name, info.function, "a Keras layer that owns the class centres"
            ),
            "__module__": __name__,
            "loss_name": info.name,
        },
    )
    return keras.saving.register_keras_serializable(package="losskit", name=cls_name)(cls)


_CLASSES = {
    class_name(n): _loss_class(_registry.info(n)) for n in _registry.names() if n not in NOT_A_PAIR
}
_CLASSES |= {class_name(n): _layer_class(_registry.info(n)) for n in CENTRE_LOSSES}
globals().update(_CLASSES)


def __getattr__(attr: str) -> Any:
    """Classes for losses registered after this module was imported (``@lk.loss``)."""
    for name in _registry.names():
        if class_name(name) == attr and name in NOT_A_PAIR:
            raise AttributeError(f"losskit.keras has no {attr}: {NOT_A_PAIR[name]}")
        if class_name(name) == attr:
            cls = _loss_class(_registry.info(name))
            globals()[attr] = cls
            return cls
    raise AttributeError(f"module 'losskit.keras' has no attribute {attr!r}")


__all__ = ["REDUCTIONS", "CentresLayer", "Loss", *sorted(_CLASSES)]
