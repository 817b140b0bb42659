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
  to ``forward``; ``reduction`` may also be set at construction.

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
from ._wrapping import class_name, constructor_signature, loss_parameters, takes_pair, wrapper_doc

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


def _module_class(info: _registry.LossInfo) -> type[Module]:
    defaults = {p.name: p.default for p in loss_parameters(info.function)}
    overrides = {"axis": TORCH_AXIS} if defaults.get("axis") == -1 else {}
    reduction = inspect.Parameter("reduction", inspect.Parameter.KEYWORD_ONLY, default="mean")
    signature = constructor_signature(info.function, overrides, [reduction])
    name = info.name

    def __init__(self: Module, **params: Any) -> None:
        Module.__init__(self, name, **{**overrides, **params})

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    cls = type(
        class_name(name),
        (Module,),
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


__all__ = ["Module", *sorted(_CLASSES)]
