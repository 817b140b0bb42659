"""PyTorch modules for every registered loss: ``losskit.torch.BinaryCrossentropy(...)``, ...

One ``nn.Module`` class per registered loss is generated from the registry (its CamelCase name,
its keyword parameters as constructor arguments), plus ``Module(loss)`` for any name, function or
``lk.Loss`` object. The modules follow torch's conventions:

- ``forward(input, target)`` for losses on a ``(y_true, y_pred)`` pair (the prediction first);
  other losses keep their own positional order (``TripletMargin()(anchor, positive, negative)``),
  and data passed by keyword (``GaussianNLL()(input, target, var=v)``) goes through;
- the class/feature axis is 1 (``(N, C, d1, ...)``), where the loss has an ``axis``;
- tensor and NumPy-array parameters (``class_weight``, ``pos_weight``, ...) are buffers, so they
  follow ``.to(device)`` and ``state_dict``;
- the per-call arguments ``sample_weight``, ``mask``, ``reduction``, ``normalizer`` may be given
  to ``forward``; ``reduction`` may also be set at construction;
- the angular-margin losses (``ArcFace``, ``CosFace``, ``SphereFace``, ``SubCenterArcFace``)
  own their class centres as a learnable ``nn.Parameter`` when given ``num_classes`` and
  ``embedding_size``: ``ArcFace(num_classes=10, embedding_size=64)(embeddings, labels)``.

>>> import torch, losskit.torch as lkt
>>> criterion = lkt.SparseCategoricalCrossentropy(from_logits=True)
>>> logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
>>> round(float(criterion(logits, torch.tensor([0, 1]))), 4)
0.6691
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch
from torch import nn

from . import _registry
from ._object import Loss
from ._wrapping import (
    CENTRE_LOSSES,
    centre_shape,
    class_name,
    constructor_signature,
    loss_parameters,
    takes_pair,
    wrapper_doc,
)

#: torch's layout puts the class axis at 1.
TORCH_AXIS = 1


class Module(nn.Module):
    """A losskit loss as a ``torch.nn.Module``.

    ``loss`` is a registered name, a loss function, or an ``lk.Loss`` object (then without
    ``params``). Array parameters become buffers. ``forward(input, target, ...)`` swaps the pair
    into losskit's ``(y_true, y_pred)`` order for pair losses.
    """

    def __init__(self, loss: Any, /, **params: Any) -> None:
        super().__init__()
        if isinstance(loss, Loss):
            if params:
                raise TypeError(
                    "give parameters either to lk.Loss(...) or to Module(...), not both"
                )
            self.loss = loss
        else:
            Loss(loss, **params)  # checks every parameter name now
            arrays = {k: v for k, v in params.items() if isinstance(v, (torch.Tensor, np.ndarray))}
            for key, value in arrays.items():
                self.register_buffer(key, torch.as_tensor(value))
            self.loss = Loss(loss, **{k: v for k, v in params.items() if k not in arrays})
        self._buffered = tuple(k for k in params if k in dict(self.named_buffers()))
        self._swap = all(takes_pair(term.function) for _, term in self.loss.terms())

    def forward(self, *inputs: Any, **call: Any) -> Any:
        if self._swap and len(inputs) >= 2:
            inputs = (inputs[1], inputs[0], *inputs[2:])
        buffers = {key: getattr(self, key) for key in self._buffered}
        return self.loss(*inputs, **buffers, **call)

    def extra_repr(self) -> str:
        return repr(self.loss)


class CentresModule(Module):
    """The module of an angular-margin loss (``ArcFace``, ``CosFace``, ...).

    Without sizes it is like every generated module: ``forward(embeddings, labels, weight)``.
    With ``num_classes`` and ``embedding_size`` it owns the class centres as a learnable
    ``nn.Parameter`` ``weight`` of shape ``(num_classes · sub_centers, embedding_size)``
    (standard normal at first; only their directions matter), trained with the model's optimizer,
    and is called as ``forward(embeddings, labels)``.
    """

    weight: nn.Parameter | None

    def __init__(
        self,
        loss: Any,
        /,
        *,
        num_classes: int | None = None,
        embedding_size: int | None = None,
        **params: Any,
    ) -> None:
        super().__init__(loss, **params)
        self.register_parameter("weight", None)
        if num_classes is None and embedding_size is None:
            return
        function = self.loss.terms()[0][1].function
        shape = centre_shape(function, num_classes, embedding_size, params)
        self.weight = nn.Parameter(torch.randn(shape))

    def forward(self, *inputs: Any, **call: Any) -> Any:
        if self.weight is not None:
            if len(inputs) != 2:
                raise TypeError(
                    f"this module owns its class centres: call it with (embeddings, labels); "
                    f"got {len(inputs)} inputs"
                )
            inputs = (*inputs, self.weight)
        return super().forward(*inputs, **call)


def _module_class(info: _registry.LossInfo) -> type[Module]:
    defaults = {p.name: p.default for p in loss_parameters(info.function)}
    overrides = {"axis": TORCH_AXIS} if defaults.get("axis") == -1 else {}
    extra = [inspect.Parameter("reduction", inspect.Parameter.KEYWORD_ONLY, default="mean")]
    base = CentresModule if info.name in CENTRE_LOSSES else Module
    if base is CentresModule:
        extra += [
            inspect.Parameter(size, inspect.Parameter.KEYWORD_ONLY, default=None)
            for size in ("num_classes", "embedding_size")
        ]
    signature = constructor_signature(info.function, overrides, extra)
    name = info.name

    def __init__(self: Any, **params: Any) -> None:
        base.__init__(self, name, **{**overrides, **params})

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    cls = type(
        class_name(name),
        (base,),
        {
            "__init__": __init__,
            "__doc__": wrapper_doc(name, info.function, "a torch module (class axis 1)"),
            "__module__": __name__,
            "loss_name": name,
        },
    )
    return cls


def _generate() -> dict[str, type[Module]]:
    return {class_name(n): _module_class(_registry.info(n)) for n in _registry.names()}


_CLASSES = _generate()
globals().update(_CLASSES)


def __getattr__(attr: str) -> Any:
    """Classes for losses registered after this module was imported (``@lk.loss``)."""
    for name in _registry.names():
        if class_name(name) == attr:
            cls = _module_class(_registry.info(name))
            globals()[attr] = cls
            return cls
    raise AttributeError(f"module 'losskit.torch' has no attribute {attr!r}")


__all__ = ["CentresModule", "Module", *sorted(_CLASSES)]
