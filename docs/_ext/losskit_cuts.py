"""One-dimensional cuts through losses that are not called as ``f(y_true, y_pred)`` on one
prediction per target: metric learning, ranking, boxes, sequences, images, point clouds,
ensembles and quantile sets, fused linear heads.

A cut is chosen from what the registry says about a loss (its task, domain and calling
convention), not per loss: it fixes every input but one scalar ``t`` (an angle, a score, a shift,
a logit, a noise level) and evaluates the loss along ``t`` with NumPy in float64. The derivative
``d loss / d t`` is taken by central finite differences on the cut's grid. The documentation
site draws each cut as the loss (top) and its derivative (bottom).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

import losskit as lk

Curve = Callable[[float], float]


@dataclasses.dataclass
class Cut:
    """A one-dimensional cut: the grid of ``t``, what ``t`` is, one curve per setting, and a
    sentence for the page saying what is held fixed."""

    kind: str
    grid: np.ndarray
    xlabel: str
    curves: dict[str, Curve]
    sentence: str
    marks: dict[float, str] = dataclasses.field(default_factory=dict)  # vertical lines
    top_ticks: dict[float, str] = dataclasses.field(default_factory=dict)  # a second x-axis
    top_label: str = ""


def _scalar(value: Any) -> float:
    return float(np.asarray(value, dtype=np.float64))


def _unit(degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    return np.array([np.cos(a), np.sin(a)])


def _positional(entry: lk.LossInfo) -> tuple[str, ...]:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = inspect.signature(entry.function).parameters.values()
    return tuple(p.name for p in params if p.kind in kinds)


# ---------------------------------------------------------------------- embeddings
ANGLES = np.linspace(0.0, 180.0, 121)
# Four classes on the unit circle; class k's members sit at k·90°. The moving embedding is a
# member of class 0 turned by t from its positive (at 0°) through class 1 (at 90°).
CENTRES = np.stack([_unit(90.0 * k) for k in range(4)])
ANGLE_LABEL = "angle t of one embedding from its positive (°)"
ANGLE_MARKS = {90.0: "negative", 180.0: "negative"}


def _labelled_batch(t: float) -> tuple[np.ndarray, np.ndarray]:
    """Two members per class; the second member of class 0 at angle t."""
    moving = _unit(t)[None, :]
    embeddings = np.concatenate([CENTRES, moving, CENTRES[1:]], axis=0)
    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    return embeddings, labels


def embedding_cut(entry: lk.LossInfo) -> Cut | None:
    f, names = entry.function, _positional(entry)
    curves: dict[str, Curve]
    sentence = (
        "The loss as one embedding turns on the unit circle from its positive (t = 0°) past the "
        "embeddings of other classes (t = 90°, 180°); four classes at 0°, 90°, 180°, 270°"
    )
    if names[:3] == ("embeddings", "labels", "weight"):  # angular-margin classifiers

        def curve(t: float) -> float:
            return _scalar(f(_unit(t)[None, :], np.array([0]), _class_weight(entry)))

        sentence = (
            "The loss of one embedding of class 0 as it turns on the unit circle from its class "
            "centre (t = 0°) towards and past other classes' centres (90°, 180°); four class "
            "centres at 0°, 90°, 180°, 270°, default margin and scale"
        )
        curves = {"label 0": curve}
    elif names[:3] == ("embeddings", "labels", "proxies"):

        def curve(t: float) -> float:
            embeddings, labels = _labelled_batch(t)
            return _scalar(f(embeddings, labels, CENTRES))

        sentence += ", one proxy per class at its centre"
        curves = {"batch of 8": curve}
    elif names[:2] == ("embeddings", "labels"):

        def curve(t: float) -> float:
            return _scalar(f(*_labelled_batch(t)))

        sentence += ", two members per class (a batch of 8)"
        curves = {"batch of 8": curve}
    elif names[:2] == ("z_a", "z_b"):  # two views of the same items

        def curve(t: float) -> float:
            z_b = CENTRES.copy()
            z_b[0] = _unit(t)
            return _scalar(f(CENTRES, z_b))

        sentence = (
            "The loss as the second view of item 0 turns on the unit circle away from its first "
            "view (t = 0°) towards and past other items' views (90°, 180°); four items at 0°, "
            "90°, 180°, 270°"
        )
        curves = {"4 items": curve}
    elif names[:3] == ("anchor", "positive", "negative"):

        def curve(t: float) -> float:
            return _scalar(f(_unit(t)[None, :], _unit(0.0)[None, :], _unit(90.0)[None, :]))

        sentence = (
            "The loss as the anchor turns on the unit circle from its positive (t = 0°) past its "
            "negative (t = 90°)"
        )
        curves = {"one triplet": curve}
    elif names[:3] == ("x1", "x2", "y"):

        def pair(y: float) -> Curve:
            return lambda t: _scalar(f(_unit(t)[None, :], _unit(0.0)[None, :], np.array([y])))

        sentence = "The loss as x1 turns on the unit circle away from x2 (t = 0°: the same vector)"
        curves = {"similar pair (y = 1)": pair(1.0), "dissimilar pair (y = -1)": pair(-1.0)}
        return Cut("angle", ANGLES, "angle t between x1 and x2 (°)", curves, sentence + ".")
    else:
        return None
    return Cut("angle", ANGLES, ANGLE_LABEL, curves, sentence + ".", marks=ANGLE_MARKS)


def _class_weight(entry: lk.LossInfo) -> np.ndarray:
    """Class centres in the layout the loss's weight takes (sub-centres: copies per class)."""
    if "sub_centers" in inspect.signature(entry.function).parameters:
        sub = int(inspect.signature(entry.function).parameters["sub_centers"].default)
        return np.repeat(CENTRES, sub, axis=0)
    return CENTRES


def distance_cut(entry: lk.LossInfo) -> Cut:
    f = entry.function

    def pair(y: float) -> Curve:
        return lambda t: _scalar(f(np.array([t]), np.array([y])))

    curves: dict[str, Curve] = {
        "similar pair (y = 1)": pair(1.0),
        "dissimilar pair (y = -1)": pair(-1.0),
    }
    sentence = "The loss against the distance t of one pair, for a similar and a dissimilar pair."
    return Cut("distance", np.linspace(0.0, 3.0, 121), "distance t", curves, sentence)


# ---------------------------------------------------------------------- ranking
RELEVANCE = np.array([[2.0, 1.0, 0.0]])


def ranking_cut(entry: lk.LossInfo) -> Cut:
    f, names = entry.function, _positional(entry)
    grid = np.linspace(-3.0, 4.0, 141)
    if names[:3] == ("x1", "x2", "y"):

        def curve(t: float) -> float:
            return _scalar(f(np.array([t]), np.array([0.0]), np.array([1.0])))

        sentence = (
            "The loss as x1's score t moves past x2's (fixed at 0), with x1 ranked higher (y = 1)."
        )
        return Cut(
            "score",
            grid,
            "score t of the item ranked higher (other: 0)",
            {"y = 1": curve},
            sentence,
            marks={0.0: "other item"},
        )

    def list_curve(t: float) -> float:
        return _scalar(f(RELEVANCE, np.array([[t, 1.0, 0.0]])))

    sentence = (
        "The loss of one list of three items with relevance 2, 1, 0 as the score t of the most "
        "relevant item moves past the other two (scored 1 and 0)."
    )
    return Cut(
        "score",
        grid,
        "score t of the most relevant item",
        {"relevance 2, 1, 0": list_curve},
        sentence,
        marks={0.0: "item 3", 1.0: "item 2"},
    )


# ---------------------------------------------------------------------- boxes
def _iou_of_shift(shift: float) -> float:
    overlap = max(0.0, 1.0 - abs(shift))
    return overlap / (2.0 - overlap)


def box_cut(entry: lk.LossInfo) -> Cut:
    f = entry.function
    target = np.array([[0.0, 0.0, 1.0, 1.0]])

    def curve(t: float) -> float:
        return _scalar(f(target, np.array([[t, 0.0, t + 1.0, 1.0]])))

    ticks = {s: f"{_iou_of_shift(s):.2f}" for s in (-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5)}
    sentence = (
        "The loss as a unit predicted box slides horizontally across its unit target box "
        "(x1, y1, x2, y2 = 0, 0, 1, 1); the top axis gives the IoU at each shift (0 once the "
        "boxes no longer overlap)."
    )
    return Cut(
        "shift",
        np.linspace(-2.0, 2.0, 161),
        "horizontal shift t of the predicted box",
        {"unit boxes": curve},
        sentence,
        top_ticks=ticks,
        top_label="IoU",
    )


# ---------------------------------------------------------------------- sequences
def sequence_cut(entry: lk.LossInfo) -> Cut:
    f = entry.function

    def curve(t: float) -> float:
        logits = np.zeros((1, 4, 3))
        logits[0, 1, 1] = t  # frame 1, label "a"
        return _scalar(f(np.array([[1, 2]]), logits))

    sentence = (
        'The loss of the label sequence "a b" over four frames of uniform logits over '
        '{blank, a, b}, as frame 1\'s logit for "a" grows.'
    )
    return Cut(
        "logit",
        np.linspace(-6.0, 8.0, 141),
        "frame 1's logit t for the right label",
        {'"a b", 4 frames': curve},
        sentence,
    )


# ---------------------------------------------------------------------- images
def _image(size: int) -> np.ndarray:
    rows, cols = np.meshgrid(
        np.linspace(0.0, 1.0, size), np.linspace(0.0, 1.0, size), indexing="ij"
    )
    picture = 0.5 + 0.25 * np.sin(6.0 * rows) * np.cos(4.0 * cols)
    return picture[None, :, :, None]


def image_cut(entry: lk.LossInfo) -> Cut:
    f = entry.function
    multiscale = "weights" in inspect.signature(f).parameters
    size = 176 if multiscale else 48  # five scales of an 11-pixel window need 176 pixels
    clean = _image(size)
    noise = np.random.default_rng(0).standard_normal(clean.shape)

    def shifted(t: float) -> float:
        return _scalar(f(clean, clean + t))

    def noisy(t: float) -> float:
        return _scalar(f(clean, clean + t * noise))

    sentence = (
        f"The loss of a smooth {size}×{size} test image against itself brightened by t (the "
        "same t added to every pixel) and against itself with Gaussian noise of standard "
        "deviation t added (one fixed noise draw, data range 1)."
    )
    curves: dict[str, Curve] = {"brightness shift t": shifted, "noise of std t": noisy}
    grid = np.linspace(0.0, 0.5, 26 if multiscale else 51)  # the multiscale one is slow
    return Cut("perturbation", grid, "perturbation size t", curves, sentence)


# ---------------------------------------------------------------------- point clouds
def cloud_cut(entry: lk.LossInfo) -> Cut:
    f = entry.function
    cloud = np.random.default_rng(0).standard_normal((16, 2)) * 0.5

    def curve(t: float) -> float:
        return _scalar(f(cloud, cloud + np.array([t, 0.0])))

    sentence = "The loss between a cloud of 16 points and a copy of it translated by t along x."
    return Cut(
        "translation",
        np.linspace(-2.0, 2.0, 81),
        "translation t of the predicted cloud",
        {"16 points": curve},
        sentence,
    )


# ---------------------------------------------------------------------- forecasts
MEMBERS = np.linspace(-1.0, 1.0, 9)  # an ensemble spread around its own mean


def forecast_cut(entry: lk.LossInfo) -> Cut | None:
    f, names = entry.function, _positional(entry)
    parameters = inspect.signature(f).parameters
    grid = np.linspace(-4.0, 4.0, 161)
    label = "shift t of the forecast from the observation"
    if "m_axis" in parameters:  # multivariate ensembles: members × variables

        def curve(t: float) -> float:
            ensemble = np.stack([MEMBERS + t, MEMBERS], axis=-1)[None]
            return _scalar(f(np.zeros((1, 2)), ensemble))

        sentence = (
            "The score of a 9-member ensemble of 2-vectors (members spread over [-1, 1] in each "
            "variable) against the observation (0, 0), as the ensemble's first variable shifts "
            "by t."
        )
        return Cut("shift", grid, label, {"9 members, 2 variables": curve}, sentence)
    if len(names) >= 2 and names[1] == "ensemble":

        def curve(t: float) -> float:
            return _scalar(f(np.zeros(1), (MEMBERS + t)[None]))

        sentence = (
            "The score of a 9-member ensemble (spread over [-1, 1]) against the observation 0, "
            "as the whole ensemble shifts by t."
        )
        return Cut("shift", grid, label, {"9 members": curve}, sentence)
    if "quantiles" in parameters:
        levels = np.asarray(parameters["quantiles"].default, dtype=np.float64)
        offsets = np.linspace(-1.0, 1.0, len(levels))

        def curve(t: float) -> float:
            return _scalar(f(np.zeros(1), (offsets + t)[None]))

        sentence = (
            f"The loss of the quantile forecasts for levels {', '.join(f'{q:g}' for q in levels)} "
            f"(at {', '.join(f'{o:g}' for o in offsets)} plus t) against the observation 0, as "
            "the whole set shifts by t."
        )
        return Cut("shift", grid, label, {"default levels": curve}, sentence)
    return None


def linear_head_cut(entry: lk.LossInfo) -> Cut:
    f = entry.function

    def curve(t: float) -> float:
        hidden = np.array([[t, 0.0, 0.0]])
        return _scalar(f(hidden, np.eye(3), np.array([0])))

    sentence = (
        "The loss of one token over 3 classes through an identity head (logits = hidden), as the "
        "true class's logit t moves while the other two stay at 0."
    )
    return Cut(
        "logit",
        np.linspace(-6.0, 6.0, 121),
        "logit t of the true class (others 0)",
        {"3 classes": curve},
        sentence,
    )


# ---------------------------------------------------------------------- choosing and drawing
def cut_for(entry: lk.LossInfo) -> Cut | None:
    """The cut for a loss the generic curve plots cannot draw, or ``None``."""
    names = _positional(entry)
    if entry.domain == "embedding":
        return embedding_cut(entry)
    if entry.task == "metric_learning" and names[:2] == ("x", "y"):
        return distance_cut(entry)
    if entry.task == "ranking":
        return ranking_cut(entry)
    if entry.domain == "box":
        return box_cut(entry)
    if entry.task == "sequence":
        return sequence_cut(entry)
    if entry.task == "image":
        return image_cut(entry)
    if entry.domain == "point_cloud":
        return cloud_cut(entry)
    if entry.task == "regression":
        return forecast_cut(entry)
    if names[:3] == ("hidden", "weight", "targets"):
        return linear_head_cut(entry)
    return None


def evaluate(cut: Cut) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each curve's values and derivative (central differences on the grid)."""
    out = {}
    for label, curve in cut.curves.items():
        values = np.array([curve(float(t)) for t in cut.grid])
        out[label] = (values, np.gradient(values, cut.grid))
    return out


def figure(cut: Cut, title: str) -> Any:
    """The loss (top) and its derivative (bottom) along the cut, on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2, 6.4), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True)
    for label, (values, slope) in evaluate(cut).items():
        top.plot(cut.grid, values, label=label)
        bottom.plot(cut.grid, slope, label=label)
    for ax in (top, bottom):
        for where in cut.marks:
            ax.axvline(where, color="0.5", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
    top.set_title(title, fontsize=10)
    top.set_ylabel("loss")
    top.legend(fontsize=8)
    bottom.set_ylabel("d loss / d t" + (" (per degree)" if cut.kind == "angle" else ""))
    bottom.set_xlabel(cut.xlabel)
    if cut.top_ticks:
        second = top.secondary_xaxis("top")
        second.set_xticks(list(cut.top_ticks), labels=list(cut.top_ticks.values()), fontsize=7)
        second.set_xlabel(cut.top_label, fontsize=8)
    return fig
