"""What the framework wrappers (``losskit.torch``, ``losskit.keras``) read off a registered loss."""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable
from typing import Any

from ._object import CALL_ARGUMENTS

#: Name parts written in capitals in class names (``kl_divergence`` → ``KLDivergence``).
_ACRONYMS = {"kl", "js", "nll", "ctc", "nce", "ndcg", "crps", "mle", "l1", "iou"}
_ACRONYMS |= {"dpo", "kto", "orpo", "cpo"}  # preference optimisation
_ACRONYMS |= {"grpo", "jsd"}  # policy optimisation, distillation
#: Whole names whose class name is not the plain CamelCase of their parts.
_CLASS_NAMES = {"listnet": "ListNet", "listmle": "ListMLE", "ntxent": "NTXent"}
_CLASS_NAMES["simpo"] = "SimPO"
_CLASS_NAMES |= {"arcface": "ArcFace", "cosface": "CosFace", "sphereface": "SphereFace"}
_CLASS_NAMES["subcenter_arcface"] = "SubCenterArcFace"
_CLASS_NAMES |= {"ssim": "SSIM", "ms_ssim": "MSSSIM"}


def class_name(name: str) -> str:
    """CamelCase class name of a loss: ``binary_crossentropy`` → ``BinaryCrossentropy``."""
    if name in _CLASS_NAMES:
        return _CLASS_NAMES[name]
    return "".join(p.upper() if p in _ACRONYMS else p[:1].upper() + p[1:] for p in name.split("_"))


def loss_parameters(function: Callable[..., Any]) -> list[inspect.Parameter]:
    """The keyword-only parameters a wrapper binds at construction (the contract's excluded)."""
    return [
        p
        for p in inspect.signature(function).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name not in CALL_ARGUMENTS
    ]


def takes_pair(function: Callable[..., Any]) -> bool:
    """Whether the loss's leading inputs are the ``(y_true, y_pred)`` pair."""
    names = [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return names[:2] == ["y_true", "y_pred"]


#: Losses whose inputs cannot travel as one ``(y_true, y_pred)`` pair (so have no Keras class),
#: and why.
NOT_A_PAIR = {
    "kto": (
        "its chosen and rejected completions are separate, unpaired batches of any lengths, "
        "and its kl reference point is estimated per batch; call losskit.kto in a custom "
        "train_step"
    ),
    "grpo": (
        "its inputs are per-token log-probabilities (B, T) under the policy and the sampling "
        "policy and one advantage per sequence (B,), which no single y_pred tensor can carry; "
        "call losskit.grpo in a custom train_step"
    ),
    "linear_cross_entropy": (
        "its inputs are hidden states (N, d) and the output weight (V, d), which no single "
        "y_pred tensor can carry; call losskit.linear_cross_entropy in a custom train_step"
    ),
    "linear_distillation": (
        "its inputs are two heads' hidden states and output weights, which no single y_pred "
        "tensor can carry; call losskit.linear_distillation in a custom train_step"
    ),
}

#: Losses whose last positional input is a model parameter: the class centres ``weight``
#: ``(num_classes · sub_centers, embedding_size)`` of the angular-margin losses, Proxy Anchor's
#: ``proxies`` ``(num_classes, embedding_size)``. Their torch
#: modules can own it (``ArcFace(num_classes=C, embedding_size=D)``); in Keras they are layers
#: that own it, since a Keras loss holds no weights.
CENTRE_LOSSES = ("arcface", "cosface", "sphereface", "subcenter_arcface", "proxy_anchor")
for _name in CENTRE_LOSSES:
    NOT_A_PAIR[_name] = (
        "its class centres are a model parameter, not a (y_true, y_pred) input; use the layer "
        f"losskit.keras.{class_name(_name)}(num_classes=..., embedding_size=...), which owns "
        "them, or call the losskit function in a custom train_step"
    )


def centre_shape(
    function: Callable[..., Any], num_classes: Any, embedding_size: Any, params: dict[str, Any]
) -> tuple[int, int]:
    """The shape of an angular-margin loss's class centres for a wrapper that owns them:
    ``(num_classes · sub_centers, embedding_size)``, with the loss's own ``sub_centers``."""
    sizes = {"num_classes": num_classes, "embedding_size": embedding_size}
    for key, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{key} must be a positive int; got {value!r}")
    defaults = inspect.signature(function).parameters
    sub_centers = params.get("sub_centers", getattr(defaults.get("sub_centers"), "default", 1))
    return int(num_classes) * int(sub_centers), int(embedding_size)


#: Positional parameter names that hold targets or labels (the rest hold predictions).
TARGET_NAMES = ("y_true", "labels", "y", "target", "targets", "teacher_logits")


def positional_inputs(function: Callable[..., Any]) -> list[str]:
    """The required positional parameters: the loss's data inputs, in order."""
    return [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]


def from_target_and_prediction(
    names: list[str], y_true: Any, y_pred: Any, unstack: Callable[[Any, int], Any]
) -> list[Any]:
    """A loss's positional inputs from one ``(y_true, y_pred)`` pair (Keras's calling convention).

    Parameters named like targets (``y_true``, ``labels``, ``y``) get ``y_true``; a single
    prediction parameter gets ``y_pred``; several (``anchor, positive, negative``; ``x1, x2``;
    ``mu, sigma``) get the slices ``y_pred[:, 0], y_pred[:, 1], ...`` (``unstack(y_pred, i)``).
    ``names`` are the loss's :func:`positional_inputs`, read once when the wrapper is built.
    """
    predictions = [n for n in names if n not in TARGET_NAMES]
    inputs = []
    for name in names:
        if name in TARGET_NAMES:
            inputs.append(y_true)
        elif len(predictions) == 1:
            inputs.append(y_pred)
        else:
            inputs.append(unstack(y_pred, predictions.index(name)))
    return inputs


def constructor_signature(
    function: Callable[..., Any], overrides: dict[str, Any], extra: list[inspect.Parameter]
) -> inspect.Signature:
    """``(self, *, <loss parameters with defaults replaced by overrides>, <extra>)``."""
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)]
    for p in loss_parameters(function):
        parameters.append(p.replace(default=overrides[p.name]) if p.name in overrides else p)
    return inspect.Signature([*parameters, *extra])


def wrapper_doc(name: str, function: Callable[..., Any], convention: str) -> str:
    """A wrapper class's docstring: the convention, then the function's own summary."""
    summary = (inspect.getdoc(function) or "").split("\n\n")[0]
    see = f"See ``losskit.{name}`` for the formula and parameters."
    return f"``losskit.{name}`` as {convention}.\n\n{summary}\n\n{see}"
