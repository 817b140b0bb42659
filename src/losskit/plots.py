"""Pictures of losses: curves, expected losses, recovered links, elicited statistics.

Each function takes one loss or a list of losses (registered names, loss functions, ``@lk.loss``
functions, ``lk.Loss`` objects or plain ``f(y_true, y_pred)`` functions), returns the
``matplotlib.figure.Figure`` (drawn on an Agg canvas, so no display is needed and pyplot's
global state is untouched) and saves it to ``path`` when one is given. matplotlib is imported
only when a function is called (``pip install 'losskit[plot]'``); ``import losskit`` never
imports it.

The numbers come from the property checker (``lk.check``): a losskit loss is evaluated with
NumPy in float64 (gradients by central finite differences) unless ``backend`` names a
framework; any other function on the library its code uses (a NumPy function on NumPy: no
framework is imported for it). Losses whose predictions live on different axes (probabilities,
logits, scores or margins) are drawn in separate rows of panels.

>>> import losskit.plots as lkp
>>> fig = lkp.plot_loss(["mse", "mae", "huber"], task="regression", grad=True)
>>> [ax.get_title() for ax in fig.axes][:1]
['y_true=0']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._check import session_data

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "plot_elicited",
    "plot_expected_loss",
    "plot_gradient_weight",
    "plot_link",
    "plot_loss",
]

Losses = Any  # a loss, or a list / tuple of losses


def _many(losses: Losses) -> list[Any]:
    if isinstance(losses, list | tuple):
        if not losses:
            raise ValueError("losses must name at least one loss")
        return list(losses)
    return [losses]


def _collect(
    losses: Losses,
    compute: Callable[[Any], Any],
    **prepare: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for loss in _many(losses):
        label, value = session_data(loss, compute, **prepare)
        while label in out:
            label += "'"
        out[label] = value
    return out


def plot_loss(
    losses: Losses,
    *,
    task: str = "binary",
    from_logits: bool = False,
    grad: bool = False,
    backend: str = "auto",
    path: str | Path | None = None,
) -> Figure:
    """Loss (and with ``grad=True`` its derivative) against the prediction, one panel per
    target value (binary: y = 0, 1 and the soft target 0.5; multiclass: the probability of
    class 0 for true class 0 and 1; regression: ``y_true = 0``; segmentation: a uniform
    prediction against uniform targets).

    >>> import losskit.plots as lkp
    >>> fig = lkp.plot_loss(["bce", "brier"], task="binary", grad=True)
    >>> len(fig.axes)
    6
    """
    from ._check import _plots, _properties

    data = _collect(
        losses, _properties.loss_curves, task=task, from_logits=from_logits, backend=backend
    )
    fig = _plots.loss_figure(data, grad=grad)
    _plots.save(fig, path)
    return fig


def plot_expected_loss(
    losses: Losses,
    *,
    task: str = "binary",
    from_logits: bool = False,
    etas: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9),
    backend: str = "auto",
    path: str | Path | None = None,
) -> Figure:
    """The expected loss ``η·ℓ(1, x) + (1 - η)·ℓ(0, x)`` against the prediction ``x`` for a
    few true probabilities η, with each minimiser marked (dotted lines: where a proper loss's
    minimiser lies). ``task`` is ``"binary"`` or ``"multilabel"``; η values are rounded to the
    checker's grid (multiples of 0.02).

    >>> import losskit.plots as lkp
    >>> fig = lkp.plot_expected_loss("binary_focal_crossentropy")
    >>> fig.axes[0].get_xlabel()
    'predicted probability'
    """
    if task not in ("binary", "multilabel"):
        raise ValueError(
            f"plot_expected_loss draws binary expected losses: task must be 'binary' or "
            f"'multilabel'; got {task!r}"
        )
    etas = tuple(float(e) for e in etas)
    if not etas or not all(0.0 < e < 1.0 for e in etas):
        raise ValueError(f"etas must be probabilities strictly between 0 and 1; got {etas}")
    from ._check import _plots, _properties

    data = _collect(
        losses, _properties.binary_link, task=task, from_logits=from_logits, backend=backend
    )
    fig = _plots.expected_loss_figure(data, etas=etas)
    _plots.save(fig, path)
    return fig


def plot_link(
    losses: Losses,
    *,
    task: str = "binary",
    from_logits: bool = False,
    backend: str = "auto",
    path: str | Path | None = None,
) -> Figure:
    """The recovered link: the minimiser of the expected loss against the true probability η,
    with the diagonal (a proper loss lies on it). Scores (hinge-type losses) are drawn as
    scores. ``task``: ``"binary"``, ``"multilabel"`` or ``"multiclass"`` (one dot per class
    of each reference distribution).

    >>> import losskit.plots as lkp
    >>> fig = lkp.plot_link(["bce", "binary_focal_crossentropy"])
    >>> fig.axes[0].get_xlabel()
    'true probability η'
    """
    if task not in ("binary", "multilabel", "multiclass"):
        raise ValueError(
            f"plot_link draws classification links: task must be 'binary', 'multilabel' or "
            f"'multiclass'; got {task!r}"
        )
    from ._check import _plots, _properties

    compute = _properties.class_link if task == "multiclass" else _properties.binary_link
    data = _collect(losses, compute, task=task, from_logits=from_logits, backend=backend)
    fig = _plots.link_figure(data)
    _plots.save(fig, path)
    return fig


def plot_gradient_weight(
    losses: Losses,
    *,
    task: str = "binary",
    from_logits: bool = False,
    backend: str = "auto",
    path: str | Path | None = None,
) -> Figure:
    """Per-sample gradient weight ``|d loss / d logit|`` against the predicted probability of
    the true label (how much a sample pushes the model, by its confidence).

    >>> import losskit.plots as lkp
    >>> fig = lkp.plot_gradient_weight(["bce", "binary_focal_crossentropy"])
    >>> fig.axes[0].get_title()
    'Per-sample gradient weight'
    """
    if task not in ("binary", "multilabel", "multiclass"):
        raise ValueError(
            f"plot_gradient_weight is for classification: task must be 'binary', 'multilabel' "
            f"or 'multiclass'; got {task!r}"
        )
    from ._check import _plots, _properties

    data = _collect(
        losses, _properties.gradient_weight, task=task, from_logits=from_logits, backend=backend
    )
    fig = _plots.weight_figure(data)
    _plots.save(fig, path)
    return fig


def plot_elicited(
    losses: Losses,
    *,
    backend: str = "auto",
    path: str | Path | None = None,
) -> Figure:
    """The statistic a regression loss elicits: its expected loss (rescaled to [0, 1]) against
    the point forecast on skewed reference distributions (lognormal, exponential, Weibull),
    with the minimiser marked against the mean, the median and the 0.1 / 0.9 quantiles.

    >>> import losskit.plots as lkp
    >>> fig = lkp.plot_elicited(["mse", "mae"])
    >>> len(fig.axes)
    3
    """
    from ._check import _plots, _properties

    data = _collect(losses, _properties.elicitation, task="regression", backend=backend)
    fig = _plots.elicited_figure(data)
    _plots.save(fig, path)
    return fig
