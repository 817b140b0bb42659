"""Which losses can be boosting objectives, and how a margin reaches each one.

Everything here is read off the registry (``LossInfo.kind``, ``task``, ``domain``,
``properties``) and the loss's signature, so a loss added to the catalogue, or written with
``@lk.loss``, gets the right treatment without being listed:

- **structure**: ``"elementwise"`` (one margin per row, or per entry of a multi-output target) or
  ``"class"`` (a class axis: ``(N, K)`` margins, integer labels from the library);
- **link** (margin → the loss's ``y_pred``): a loss with ``from_logits`` is called with
  ``from_logits=True`` (the margin *is* the logit); a positive or non-negative prediction domain
  takes ``exp(margin)``; a probability domain without ``from_logits`` takes the sigmoid (softmax
  over classes); everything else takes the margin as it is;
- **response** (margin → what the model predicts: probability, mean, or the margin itself), for
  :meth:`Objective.transform`, the expected Hessian and the starting constant;
- **targets**: values, integer labels (class losses with ``ignore_index``, and ``mode=
  "multiclass"``), or one-hot rows built from the labels (class losses on distributions).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _object, _registry, _wrapping

#: Keyword parameters an objective sets itself (the per-call contract of the loss).
_PER_CALL = ("sample_weight", "mask", "reduction", "normalizer")

#: Why a loss of each registry ``kind`` cannot be an objective (one margin per row, a sum of
#: per-row losses).
_KIND_REASONS = {
    "image": (
        "its value compares whole images (windowed statistics over neighbouring pixels), not one "
        "margin per row"
    ),
    "point_clouds": (
        "it compares two point clouds as distributions (optimal transport between all points), "
        "not one margin per row"
    ),
    "overlap": (
        "its value is an overlap score of the whole batch (a ratio of sums over rows), not a sum "
        "of per-row losses, so a row has no gradient and Hessian of its own"
    ),
    "anchors": (
        "it compares rows with each other (anchors, positives and negatives drawn from the "
        "batch): its inputs are embeddings, not one margin per row"
    ),
    "pairs": "it scores pairs of rows (embeddings), not one margin per row",
    "sequence": (
        "it scores whole sequences (a variable-length alignment or per-token inputs), not one "
        "margin per row"
    ),
    "concatenated": (
        "its inputs are separate batches (chosen and rejected completions, a reference model), "
        "not one target and one margin per row"
    ),
}

_AXIS_TASK_REASONS = {
    "ranking": (
        "it ranks the items of a list held along an axis; a booster gives one margin per row and "
        "keeps query groups to itself (use the library's own rank:* / lambdarank objectives)"
    ),
    "regression": (
        "it reduces a vector of predictions per row (a direction or an ensemble), which a "
        "one-margin-per-row objective cannot produce"
    ),
}

#: Class-axis tasks an objective accepts (``"any"``: an ``@lk.loss(kind="axis")`` function).
_CLASS_TASKS = ("multiclass", "classification", "any")

#: Data a loss needs per row besides the pair, and what to do instead.
_DATA_HINTS = {
    "var": (
        "pass var= as one number (a constant variance); a per-row variance is a second output "
        "per row, which a one-margin objective cannot learn (a known per-row variance v is the "
        "sample weight 1/v on mean_squared_error)"
    ),
    "scale": (
        "pass scale= as one number (a constant scale); a per-row scale is a second output per "
        "row, which a one-margin objective cannot learn (a known per-row scale b is the sample "
        "weight 1/b on mean_absolute_error)"
    ),
}


class NotAnObjective(ValueError):
    """A loss that cannot be a gradient-boosting objective, with the reason."""

    __module__ = "losskit.boost"


@dataclass
class Spec:
    """A loss as an objective: the function, its bound parameters and how margins reach it."""

    name: str
    function: Callable[..., Any]
    params: dict[str, Any]
    structure: str  # "elementwise" | "class"
    link: str  # "identity" | "exp" | "sigmoid" | "softmax": margin -> the loss's y_pred
    response: str  # "identity" | "exp" | "sigmoid" | "softmax": margin -> prediction
    targets: str  # "values" | "labels" | "one_hot"
    info: _registry.LossInfo | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    #: compiled derivative functions (JAX), kept with the spec they were traced for
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def settings(self) -> dict[str, Any]:
        """Every keyword parameter of the loss: its signature's defaults, then ``params``."""
        if "settings" not in self.cache:
            defaults = _keyword_defaults(self.function)
            given = {k: v for k, v in defaults.items() if v is not inspect.Parameter.empty}
            self.cache["settings"] = {**given, **self.params}
        return dict(self.cache["settings"])

    @property
    def task(self) -> str:
        return self.info.task if self.info is not None else "any"

    def prediction(self, margins: np.ndarray) -> np.ndarray:
        """The loss's ``y_pred`` for ``margins`` (NumPy, float64)."""
        return apply(self.link, margins)

    def targets_for(self, labels: np.ndarray, num_classes: int) -> np.ndarray:
        """The loss's ``y_true`` from the library's labels."""
        if self.targets == "values":
            return labels
        index = as_class_indices(labels, num_classes)
        if self.targets == "labels":
            return index
        return np.eye(num_classes)[index]

    def losses(self, labels: np.ndarray, margins: np.ndarray) -> np.ndarray:
        """Per-row losses (``reduction="none"``) of ``margins`` through the public loss."""
        num_classes = margins.shape[-1] if self.structure == "class" else 0
        y = self.targets_for(labels, num_classes)
        return np.asarray(
            self.function(y, self.prediction(margins), reduction="none", **self.params),
            dtype=np.float64,
        )


def apply(link: str, margins: np.ndarray) -> np.ndarray:
    """A link or response on NumPy margins."""
    if link == "identity":
        return margins
    if link == "exp":
        return np.exp(margins)
    if link == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * margins))  # exact in both tails, never overflows
    shifted = margins - np.max(margins, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def as_class_indices(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Class labels (floats from the library) as int64 indices in ``[0, num_classes)``."""
    index = np.asarray(labels)
    rounded = np.rint(index)
    if index.size and (
        not np.all(rounded == index) or rounded.min() < 0 or rounded.max() >= num_classes
    ):
        bad = index[(rounded != index) | (rounded < 0) | (rounded >= num_classes)][0]
        raise ValueError(
            f"class labels must be integers in [0, {num_classes}) (one margin per class); got "
            f"{bad!r}"
        )
    return rounded.astype(np.int64)


# ---------------------------------------------------------------------- resolving a loss
def resolve(loss: Any, params: dict[str, Any]) -> Spec:
    """The :class:`Spec` of ``loss`` (a name, an ``lk.Loss``, or a loss function) with the
    loss's own ``params``; :class:`NotAnObjective` (a ``ValueError``) when it cannot be one."""
    function, bound, name = _unpack(loss)
    params = {**bound, **params}
    info = _info_of(function, name)
    label = info.name if info is not None else str(name or getattr(function, "__name__", "loss"))
    kind = info.kind if info is not None else "elementwise"
    if kind in _KIND_REASONS:
        raise NotAnObjective(f"{label} cannot be a boosting objective: {_KIND_REASONS[kind]}")
    _check_pair(label, function)
    _check_per_call(label, params)
    _check_data_arguments(label, function, params)
    _object._check_params(function, params)
    structure = _structure(label, info, kind, params)
    properties = dict(info.properties) if info is not None else {}
    link, response = _links(label, function, info, structure, params)
    return Spec(
        name=label,
        function=function,
        params=params,
        structure=structure,
        link=link,
        response=response,
        targets=_targets(function, structure, params),
        info=info,
        properties=properties,
    )


def _unpack(loss: Any) -> tuple[Callable[..., Any], dict[str, Any], str | None]:
    if isinstance(loss, _object.SumLoss):
        raise NotAnObjective(
            f"{loss!r} is a sum of losses, which an objective does not take yet; write the sum as "
            "one @lk.loss function (its derivatives then come from autodiff)"
        )
    if isinstance(loss, _object.Loss):
        return loss.function, dict(loss.params), loss.name
    if isinstance(loss, str):
        return _registry.get(loss), {}, _registry.info(loss).name
    if callable(loss):
        return loss, {}, _registry.name_of(loss)
    raise TypeError(
        f"loss must be a registered name, an lk.Loss or a loss function; got {type(loss).__name__}"
    )


def _info_of(function: Callable[..., Any], name: str | None) -> _registry.LossInfo | None:
    if name is not None:
        return _registry.info(name)
    found = _registry.name_of(function)
    return _registry.info(found) if found is not None else None


def _check_pair(label: str, function: Callable[..., Any]) -> None:
    if not _wrapping.takes_pair(function):
        inputs = ", ".join(_wrapping.positional_inputs(function))
        raise NotAnObjective(
            f"{label} cannot be a boosting objective: its inputs are ({inputs}), not one target "
            "and one prediction per row, and a booster gives exactly one margin per row"
        )


def _check_per_call(label: str, params: dict[str, Any]) -> None:
    given = [k for k in (*_PER_CALL, "axis") if k in params]
    if given:
        raise TypeError(
            f"{given[0]!r} is not a parameter of the {label} objective: the objective calls the "
            "loss itself (sample weights come from the library's dataset)"
        )


def _check_data_arguments(label: str, function: Callable[..., Any], params: dict[str, Any]) -> None:
    """Keyword arguments without a default (per-row data such as ``gaussian_nll``'s ``var``)."""
    for p in _wrapping.loss_parameters(function):
        if p.default is not inspect.Parameter.empty:
            continue
        hint = _DATA_HINTS.get(p.name, f"pass {p.name}= as one number")
        if p.name not in params:
            raise NotAnObjective(f"{label} needs {p.name}= (data beside each row): {hint}")
        if np.ndim(params[p.name]) != 0:
            raise NotAnObjective(
                f"{label}: {p.name}= must be one number for a boosting objective; {hint}"
            )


def _structure(
    label: str, info: _registry.LossInfo | None, kind: str, params: dict[str, Any]
) -> str:
    task = info.task if info is not None else "any"
    if kind == "axis":
        if task not in _CLASS_TASKS:
            reason = _AXIS_TASK_REASONS.get(
                task, f"its axis holds {task} inputs, not the classes of one row"
            )
            raise NotAnObjective(f"{label} cannot be a boosting objective: {reason}")
        return "class"
    if params.get("mode") == "multiclass":  # brier over a class axis
        return "class"
    quantiles = params.get("quantiles")
    if quantiles is not None and np.ndim(quantiles) != 0 and np.size(quantiles) != 1:
        raise NotAnObjective(
            f"{label} with several quantiles predicts one value per level; a boosting objective "
            "has one margin per row: train one model per level"
        )
    return "elementwise"


def _signature_names(function: Callable[..., Any]) -> set[str]:
    try:
        return set(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return set()


def _links(
    label: str,
    function: Callable[..., Any],
    info: _registry.LossInfo | None,
    structure: str,
    params: dict[str, Any],
) -> tuple[str, str]:
    probability = "softmax" if structure == "class" else "sigmoid"
    domain = info.domain if info is not None else "real"
    if "from_logits" in _signature_names(function):
        if params.get("from_logits", True) is not True:
            raise ValueError(
                f"{label}: the objective calls the loss with from_logits=True (boosting margins "
                "are logits); leave from_logits out"
            )
        params["from_logits"] = True
        return "identity", probability
    if domain == "probability":
        return probability, probability
    defaults = _keyword_defaults(function)
    if "log_input" in defaults:  # poisson_nll: a log-rate (the margin itself) or a rate
        log_input = params.get("log_input", defaults["log_input"])
        return ("identity", "exp") if log_input is True else ("exp", "exp")
    if domain in ("positive", "non-negative"):
        return "exp", "exp"
    if info is not None and info.properties.get("proper") and info.task == "binary":
        return "identity", "sigmoid"  # soft margin: the logistic loss on ±1 labels
    return "identity", "identity"


def _keyword_defaults(function: Callable[..., Any]) -> dict[str, Any]:
    return {p.name: p.default for p in _wrapping.loss_parameters(function)}


def _targets(function: Callable[..., Any], structure: str, params: dict[str, Any]) -> str:
    if structure == "elementwise":
        return "values"
    names = _signature_names(function)
    if "ignore_index" in names or params.get("mode") == "multiclass":
        return "labels"
    return "one_hot"
