"""``losskit compare``: train one small classifier per loss and compare the results.

Every loss trains the same network (a one-hidden-layer tanh MLP, or logistic regression) on a
data set that ships with scikit-learn (``digits`` or ``breast_cancer``, no download), from the
same initial weights, on the same mini-batches, with the same optimiser (Adam). Only the loss
differs. The training loop is written once per framework (PyTorch, JAX, TensorFlow) and calls the
losskit loss on that framework's arrays; data, initial weights, batches and metrics are shared
NumPy code, so the frameworks agree to float32 round-off.

Every loss is trained with ``seeds`` seeds (``seed, seed + 1, ...``); each seed draws its own
stratified train/test split, initial weights, mini-batch order and label flips, the same for
every loss, so the losses are compared on paired runs. The seeds' networks train together as one
batched model (weights stacked on a leading seed axis, one optimiser step for all): Adam is
elementwise and the training objective is the sum of the seeds' batch losses, so every seed's
weights follow exactly their own training, at little more than the cost of one. Every metric is
reported as mean ± sample standard deviation over the seeds.

**Class-centre losses** (ArcFace, CosFace, SphereFace, Sub-center ArcFace, :data:`CENTRE_HEADS`)
train the same hidden layer, followed by the loss's own class-centre matrix ``W`` ``(C·K, D)``
instead of the linear output layer: the loss takes the hidden layer's output as the embeddings and
``W`` as its centres. For the metrics the model's logits are the scaled cosines ``s · cos θ_c``
(unit embedding · unit centre, the closest of a class's K sub-centres, SphereFace's ``s · ‖x‖ ·
cos θ_c``) without the margin, which only shapes training: accuracy is their argmax, log-loss and
ECE use their softmax, the probabilities the loss's own softmax gives at margin 0.

Reported per loss, on the untouched test split:

* **accuracy**: fraction of test samples whose largest score is the true class;
* **log-loss**: mean ``-log softmax(z)_y`` of the test logits (computed in float64 from the
  logits, so it is exact even for hinge scores, whose softmax is not meant to be calibrated);
* **ECE**: expected calibration error of ``softmax(z)`` with 15 equal-width confidence bins,
  ``Σ_b (n_b / N) |accuracy_b - confidence_b|`` (Guo et al., 2017);
* **robustness**: with ``noise = r > 0`` every loss is trained a second time with a fraction ``r``
  of the training labels flipped to a uniformly chosen other class (symmetric noise, training
  set only; same initial weights and batches). ``noisy accuracy`` is the test accuracy of that
  run and ``drop = accuracy - noisy accuracy`` in percentage points: the accuracy the loss loses
  to label noise. Smaller is more robust (a negative drop means noise did not hurt);
* **time**: wall time of the clean training of all seeds together in seconds (including JIT
  compilation on JAX and TensorFlow).

With ``model = "gbdt"`` every loss trains gradient-boosted trees instead (XGBoost, LightGBM or
CatBoost through :mod:`losskit.boost`): the same data, the same K-class margins and the same
report, with boosting rounds in place of epochs. Each tree starts from the loss's own best
constant (``init_score``); a loss that cannot be a boosting objective is skipped, with the
reason in the report. With ``hessian = "auto"`` the Hessian is the exact one for a loss convex
in the margins, 1 for a piecewise-linear loss (exact Hessian 0), and the exact one floored at
1e-6 (``"clip"``; the trees' L2 term bounds the leaves) for the non-convex rest: on digits,
``"clip"`` trained Brier, focal and generalized cross-entropy to a lower test log-loss than
``"constant"`` and, for Brier, than the expected Hessian (``"fisher"``), which also costs K
autodiff passes per class loss and round.

``imbalance = R > 1`` subsamples the training set to a long-tailed distribution: class ``k`` of
``K`` keeps ``m·R^(-k/(K-1))`` samples (``m`` as large as the data allows), so class 0 is ``R``
times as large as class ``K-1``. The test set stays as it is.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import importlib.util
import inspect
import itertools
import math
import re
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import _validate
from ._object import Loss
from ._registry import info as registry_info
from .ops import softmax

#: The losses compared by default (names or aliases, ``name:param=value,...``).
DEFAULT_LOSSES = (
    "crossentropy",
    "softmax_focal_loss",
    "crossentropy:label_smoothing=0.1",
    "brier",
    "multiclass_hinge",
    "gce",
)
#: Seeds per loss by default: seeds ``seed, seed + 1, ...`` each draw their own split, initial
#: weights, mini-batches and label flips. The networks of all seeds train together as one batched
#: model, so eight seeds cost what one seed cost before seeds existed (see DEFAULT_BUDGET).
DEFAULT_SEEDS = 8
#: The time budget the default number of seeds was chosen for (stated in ``--help``).
DEFAULT_BUDGET = (
    "The default of 8 seeds keeps the default run (6 losses, clean and noisy) in the time "
    "budget of the single-seed run it replaced: about 20 s of CPU time on one core for either "
    "(measured on a busy two-core machine: 20-22 s CPU, 80-100 s wall)."
)
#: The angular-margin losses whose model ends in the loss's class centres instead of a linear
#: layer, and whether the loss's logits keep the embedding's norm (SphereFace).
CENTRE_HEADS = {"arcface": False, "cosface": False, "sphereface": True, "subcenter_arcface": False}
BACKENDS = ("torch", "jax", "tensorflow")
MODELS = ("mlp", "linear", "gbdt")
#: The boosting libraries of ``model="gbdt"``, in the order ``library="auto"`` tries them.
GBDT_LIBRARIES = ("xgboost", "lightgbm", "catboost")
GBDT_HESSIANS = ("auto", "exact", "fisher", "clip", "constant")
#: The trees of ``model="gbdt"``, the same for every loss: depth, shrinkage and the L2 penalty
#: on leaf values (λ, in Hessian units), set alike in each library.
TREE_DEPTH, TREE_LEARNING_RATE, TREE_L2 = 4, 0.3, 1.0
DATASETS = ("digits", "breast_cancer")
CLASSIFICATION_TASKS = ("multiclass", "binary", "classification", "multilabel")
ECE_BINS = 15
ADAM = (0.9, 0.999, 1e-8)  # beta1, beta2, epsilon

ProgressCallback = Callable[[str], None]


class CompareError(ValueError):
    """A problem with the comparison's configuration that the user can fix."""


# ------------------------------------------------------------------------------ configuration
@dataclass(frozen=True)
class Config:
    """What to compare and how: every field has the command line's default."""

    losses: tuple[str, ...] = DEFAULT_LOSSES
    dataset: str = "digits"
    backend: str = "auto"
    model: str = "mlp"
    hidden: int = 32
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 0.01
    noise: float = 0.3
    imbalance: float = 1.0
    seed: int = 0
    seeds: int = DEFAULT_SEEDS
    #: Registry families (any case) whose classification losses join ``losses``.
    families: tuple[str, ...] = ()
    library: str = "auto"
    rounds: int = 50
    hessian: str = "auto"

    def check(self) -> None:
        """Raise :class:`CompareError` for values out of range."""
        if self.dataset not in DATASETS:
            raise CompareError(f"unknown dataset {self.dataset!r}; choose one of {DATASETS}")
        if self.model not in MODELS:
            raise CompareError(f"unknown model {self.model!r}; choose one of {MODELS}")
        if self.library not in ("auto", *GBDT_LIBRARIES):
            raise CompareError(
                f"unknown library {self.library!r}; choose one of {('auto', *GBDT_LIBRARIES)}"
            )
        if self.hessian not in GBDT_HESSIANS:
            raise CompareError(f"unknown hessian {self.hessian!r}; choose one of {GBDT_HESSIANS}")
        if not 0.0 <= self.noise < 1.0:
            raise CompareError(f"--noise must be in [0, 1); got {self.noise}")
        if self.imbalance < 1.0:
            raise CompareError(
                f"--imbalance must be >= 1 (largest/smallest class); got {self.imbalance}"
            )
        for name in ("epochs", "batch_size", "hidden", "rounds", "seeds"):
            if getattr(self, name) < 1:
                raise CompareError(f"--{name.replace('_', '-')} must be >= 1")
        if not self.learning_rate > 0:
            raise CompareError(f"--lr must be > 0; got {self.learning_rate}")
        if not self.losses and not self.families:
            raise CompareError("--losses needs at least one loss")


def resolve_backend(backend: str) -> str:
    """``backend``, or for ``"auto"`` the first installed of torch, jax, tensorflow."""
    if backend == "auto":
        for name in BACKENDS:
            if importlib.util.find_spec(name) is not None:
                return name
        raise CompareError(
            "losskit compare trains a network and needs PyTorch, JAX or TensorFlow: "
            "pip install torch (or jax, or tensorflow-cpu)"
        )
    if backend not in BACKENDS:
        raise CompareError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if importlib.util.find_spec(backend) is None:
        raise CompareError(f"backend {backend!r} is not installed: pip install {backend}")
    return backend


def resolve_library(library: str) -> str:
    """``library``, or for ``"auto"`` the first installed of XGBoost, LightGBM, CatBoost."""
    if library == "auto":
        for name in GBDT_LIBRARIES:
            if importlib.util.find_spec(name) is not None:
                return name
        raise CompareError(
            "losskit compare --model gbdt trains gradient-boosted trees and needs XGBoost, "
            "LightGBM or CatBoost: pip install xgboost (or lightgbm, or catboost)"
        )
    if library not in GBDT_LIBRARIES:
        raise CompareError(f"unknown library {library!r}; choose one of {GBDT_LIBRARIES}")
    if importlib.util.find_spec(library) is None:
        raise CompareError(f"library {library!r} is not installed: pip install {library}")
    return library


# ----------------------------------------------------------------------------- loss specs
@dataclass(frozen=True)
class LossSpec:
    """One loss to train with: how to call it on integer labels and the network's outputs.

    ``target`` is ``"index"`` (class indices) or ``"onehot"`` (float one-hot rows); ``inputs`` is
    ``"logits"`` (the raw network outputs, with ``from_logits=True`` where the loss has it),
    ``"probabilities"`` (``softmax`` of the outputs) or ``"embeddings"`` (an angular-margin loss:
    the network ends in the loss's class centres, see :data:`CENTRE_HEADS`). ``separable``: the
    loss of a batch is the mean of its samples' losses, so the seeds' batches can go through one
    call (checked numerically by :func:`parse_loss`).
    """

    label: str
    name: str
    params: dict[str, Any]
    target: str
    inputs: str
    separable: bool = False

    @property
    def centres(self) -> bool:
        """Whether the model's last layer is the loss's class-centre matrix."""
        return self.inputs == "embeddings"

    def objective(self) -> Callable[..., Any]:
        """``f(targets, logits) -> scalar loss`` on any backend's arrays, or for class-centre
        losses ``f(targets, embeddings, centres)``."""
        loss = Loss(self.name, **self.params)
        if self.centres:
            return lambda targets, embeddings, centres: loss(embeddings, targets, centres)
        if self.inputs == "probabilities":
            return lambda targets, logits: loss(targets, softmax(logits))
        return loss

    def parameter(self, name: str) -> Any:
        """The value of one of the loss's parameters: given, or the function's default."""
        if name in self.params:
            return self.params[name]
        default = inspect.signature(registry_info(self.name).function).parameters.get(name)
        return None if default is None else default.default

    def centre_rows(self, num_classes: int) -> int:
        """Rows of the class-centre matrix: ``num_classes`` times the sub-centres per class."""
        return num_classes * int(self.parameter("sub_centers") or 1)

    def predict(self, params: Sequence[np.ndarray], x: np.ndarray) -> np.ndarray:
        """The logits the metrics score, computed in float64 NumPy from the trained weights
        (float64 also keeps OpenBLAS's single-precision threads, slow on a busy machine, out of
        the loop)."""
        params, x = [np.asarray(p, np.float64) for p in params], np.asarray(x, np.float64)
        if not self.centres:
            return forward(params, x, np.tanh)
        return centre_logits(self, embed(params[:-1], x, np.tanh), params[-1])


def centre_logits(spec: LossSpec, embeddings: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The scores of a class-centre head: ``s · cos θ`` between the unit embeddings and the unit
    class centres (the closest sub-centre of each class for Sub-center ArcFace; SphereFace's
    ``s · ‖x‖ · cos θ``), without the margin, which only the training target gets. Accuracy is
    their argmax and ECE the calibration of their softmax."""
    x, w = np.asarray(embeddings, np.float64), np.asarray(centres, np.float64)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    cosine = (x / np.maximum(norm, 1e-12)) @ (
        w / np.maximum(np.linalg.norm(w, axis=-1, keepdims=True), 1e-12)
    ).T
    sub_centers = int(spec.parameter("sub_centers") or 1)
    if sub_centers > 1:
        cosine = cosine.reshape(len(x), -1, sub_centers).max(axis=-1)
    scale = float(spec.parameter("scale"))
    return scale * (norm if CENTRE_HEADS[spec.name] else 1.0) * cosine


def parse_value(text: str) -> Any:
    """A Python literal (number, bool, None, list...) or, failing that, the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


#: The spellings of a boolean parameter's value (compared in lower case).
BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def parse_bool(text: str, name: str, where: str) -> bool:
    """``true``/``false``/``1``/``0`` in any case; anything else is a :class:`CompareError`."""
    value = BOOLEANS.get(text.strip().lower())
    if value is None:
        raise CompareError(
            f"{where}: {name} is a boolean parameter; expected true, false, 1 or 0 (any case), "
            f"got {text.strip()!r}"
        )
    return value


def boolean_parameters(function: Callable[..., Any] | None) -> set[str]:
    """The parameters of ``function`` that take a bool: a bool default or a ``bool``
    annotation."""
    if function is None:
        return set()
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return set()
    return {
        p.name for p in parameters if isinstance(p.default, bool) or p.annotation in (bool, "bool")
    }


def parse_params(
    items: Sequence[str], where: str, function: Callable[..., Any] | None = None
) -> dict[str, Any]:
    """``["k=v", ...]`` as a dict: the boolean parameters of ``function`` strictly (see
    :func:`parse_bool`), every other value as a literal (see :func:`parse_value`)."""
    booleans = boolean_parameters(function)
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise CompareError(f"{where}: expected PARAM=VALUE, got {item!r}")
        params[key] = (
            parse_bool(value, key, where) if key in booleans else parse_value(value.strip())
        )
    return params


def parse_loss(text: str, num_classes: int = 10) -> LossSpec:
    """A :class:`LossSpec` from ``"name"`` or ``"name:param=value,param=value"``.

    The name may be an alias. It must be a classification loss; its parameters are checked
    against its signature, and one call on a small NumPy batch decides whether it takes class
    indices or one-hot targets, a second whether it is separable (the batch's loss the mean of
    its samples'). An angular-margin loss (:data:`CENTRE_HEADS`) takes class indices, the
    hidden layer's output as embeddings and the last layer as its class centres.
    """
    name, _, rest = text.partition(":")
    try:
        entry = registry_info(name.strip())
    except KeyError as error:
        raise CompareError(error.args[0]) from None
    items = [p for p in rest.split(",") if p.strip()]
    params = parse_params(items, f"loss {text!r}", entry.function)
    if entry.task not in CLASSIFICATION_TASKS:
        raise CompareError(
            f"loss {entry.name!r} is a {entry.task} loss; compare trains a classifier and needs a "
            f"classification loss (see: losskit list --task multiclass)"
        )
    if entry.name in CENTRE_HEADS:
        try:
            Loss(entry.name, **params)
        except (TypeError, ValueError) as error:
            raise CompareError(f"loss {text!r}: {error}") from None
        _probe_centres(entry.name, params, num_classes)
        return LossSpec(text.strip(), entry.name, params, "index", "embeddings")
    signature = inspect.signature(entry.function).parameters
    if "mode" in signature and "mode" not in params:
        params["mode"] = "multiclass"
    if "from_logits" in signature:
        params.setdefault("from_logits", True)
        inputs = "logits" if params["from_logits"] else "probabilities"
    else:
        inputs = "probabilities" if entry.domain == "probability" else "logits"
    try:
        Loss(entry.name, **params)
    except (TypeError, ValueError) as error:
        raise CompareError(f"loss {text!r}: {error}") from None
    target = _probe_target(entry.name, params, inputs, num_classes)
    spec = LossSpec(text.strip(), entry.name, params, target, inputs)
    return dataclasses.replace(spec, separable=_separable(spec, num_classes))


def _probe_centres(name: str, params: dict[str, Any], num_classes: int) -> None:
    """One call of a class-centre loss on NumPy embeddings, labels and centres."""
    rng = np.random.default_rng(0)
    spec = LossSpec(name, name, params, "index", "embeddings")
    labels = rng.integers(0, num_classes, num_classes + 3)
    centres = rng.normal(size=(spec.centre_rows(num_classes), 4))
    try:
        with _validate.validation(True):
            value = np.asarray(spec.objective()(labels, rng.normal(size=(labels.size, 4)), centres))
    except (ValueError, TypeError) as error:
        raise CompareError(f"loss {name!r} cannot train a class-centre head: {error}") from None
    if value.shape != () or not np.isfinite(value):
        raise CompareError(f"loss {name!r} returned shape {value.shape} on a class-centre head")


def _separable(spec: LossSpec, num_classes: int) -> bool:
    """Whether the loss of a batch is the mean of the losses of its two halves (then the seeds'
    batches can share one call)."""
    rng = np.random.default_rng(1)
    n = 2 * (num_classes + 3)
    labels = rng.integers(0, num_classes, n)
    y = labels if spec.target == "index" else np.eye(num_classes)[labels]
    z = 3.0 * rng.normal(size=(n, num_classes))
    objective = spec.objective()
    with _validate.validation(False):
        whole = float(objective(y, z))
        halves = 0.5 * (
            float(objective(y[: n // 2], z[: n // 2])) + float(objective(y[n // 2 :], z[n // 2 :]))
        )
    return math.isclose(whole, halves, rel_tol=1e-9, abs_tol=1e-12)


def _probe_target(name: str, params: dict[str, Any], inputs: str, num_classes: int) -> str:
    """``"index"`` or ``"onehot"``: the target format the loss accepts on a NumPy batch."""
    rng = np.random.default_rng(0)
    n = num_classes + 3  # never equal to the number of classes: no accidental broadcasting
    labels = rng.integers(0, num_classes, n)
    candidates = {"index": labels, "onehot": np.eye(num_classes)[labels]}
    spec_errors = []
    for target, y in candidates.items():
        spec = LossSpec(name, name, params, target, inputs)
        try:
            with _validate.validation(True):
                value = np.asarray(spec.objective()(y, rng.normal(size=(n, num_classes))))
        except (ValueError, TypeError) as error:
            spec_errors.append(f"{target} targets: {error}")
            continue
        if value.shape == () and np.isfinite(value):
            return target
        spec_errors.append(f"{target} targets: the loss returned shape {value.shape}")
    raise CompareError(
        f"loss {name!r} cannot train a {num_classes}-class classifier on labels and scores: "
        + "; ".join(spec_errors)
    )


# ------------------------------------------------------------------------------------ data
@dataclass
class Data:
    """Standardised float32 features and int64 labels, split into train and test."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    def summary(self) -> str:
        """One line: the data set, its sizes and class counts."""
        counts = np.bincount(self.y_train, minlength=self.num_classes)
        return (
            f"{self.name}: {len(self.y_train)} training / {len(self.y_test)} test samples, "
            f"{self.x_train.shape[1]} features, {self.num_classes} classes "
            f"(training class sizes {counts.min()}–{counts.max()})"
        )


def load_data(dataset: str, seed: int, imbalance: float = 1.0) -> Data:
    """Load a scikit-learn data set, split 75/25 (stratified), optionally make the training set
    long-tailed, and standardise with the training statistics."""
    if importlib.util.find_spec("sklearn") is None:
        raise CompareError(
            "losskit compare takes its data from scikit-learn: pip install scikit-learn"
        )
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    x, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=seed, stratify=y
    )
    num_classes = int(y.max()) + 1
    if imbalance > 1.0:
        keep = long_tail(y_train, num_classes, imbalance, seed)
        x_train, y_train = x_train[keep], y_train[keep]
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
    return Data(
        dataset,
        ((x_train - mean) / std).astype(np.float32),
        y_train.astype(np.int64),
        ((x_test - mean) / std).astype(np.float32),
        y_test.astype(np.int64),
        num_classes,
    )


def long_tail(labels: np.ndarray, num_classes: int, ratio: float, seed: int) -> np.ndarray:
    """Sorted indices of a long-tailed subsample: class ``k`` keeps ``m·ratio^(-k/(K-1))`` rows,
    with ``m`` as large as the class sizes allow, so the first class is ``ratio`` times the
    last one."""
    rng = np.random.default_rng((seed, 2))
    shares = ratio ** (-np.arange(num_classes) / max(num_classes - 1, 1))
    counts = np.bincount(labels, minlength=num_classes)
    scale = np.min(counts / shares)
    keep = []
    for k in range(num_classes):
        rows = np.flatnonzero(labels == k)
        size = min(len(rows), max(1, round(scale * shares[k])))
        keep.append(rng.choice(rows, size=size, replace=False))
    return np.sort(np.concatenate(keep))


def flip_labels(labels: np.ndarray, rate: float, num_classes: int, seed: int) -> np.ndarray:
    """A copy of ``labels`` with ``round(rate·n)`` of them moved to a uniformly chosen other
    class (symmetric label noise)."""
    rng = np.random.default_rng((seed, 1))
    noisy = labels.copy()
    flipped = rng.choice(len(labels), size=round(rate * len(labels)), replace=False)
    shift = rng.integers(1, num_classes, size=len(flipped))
    noisy[flipped] = (labels[flipped] + shift) % num_classes
    return noisy


# ---------------------------------------------------------------------------------- model
def init_params(
    config: Config, spec: LossSpec, seed: int, num_features: int, num_classes: int
) -> list[np.ndarray]:
    """Glorot-normal weights and zero biases ``[w1, b1, (w2, b2)]`` drawn from ``seed``, the
    same for every loss; biases are rows ``(1, n)``. A class-centre loss's last layer is its
    centre matrix ``(C·K, D)`` instead (no bias), ``D`` the hidden width (the features for
    ``model="linear"``)."""
    rng = np.random.default_rng(seed)
    sizes = [num_features, config.hidden] if config.model == "mlp" else [num_features]
    if not spec.centres:
        sizes.append(num_classes)
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        params.append(rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), (fan_in, fan_out)))
        params.append(np.zeros((1, fan_out)))
    if spec.centres:
        rows, width = spec.centre_rows(num_classes), sizes[-1]
        params.append(rng.normal(0.0, math.sqrt(2.0 / (rows + width)), (rows, width)))
    return [p.astype(np.float32) for p in params]


def embed(params: Sequence[Any], x: Any, activation: Callable[[Any], Any]) -> Any:
    """The hidden layers ``[w, b, w, b, ...]`` on ``x``, ``activation`` after each."""
    h = x
    for i in range(0, len(params), 2):
        h = activation(h @ params[i] + params[i + 1])
    return h


def forward(params: Sequence[Any], x: Any, activation: Callable[[Any], Any]) -> Any:
    """Logits of the network for any array library: ``activation`` between the layers. With
    stacked parameters (a leading seed axis) and ``x`` ``(seeds, batch, features)`` every seed's
    network runs at once."""
    return embed(params[:-2], x, activation) @ params[-2] + params[-1]


def seeds_loss(
    spec: LossSpec,
    objective: Callable[..., Any],
    params: Sequence[Any],
    x: Any,
    targets: Any,
    activation: Callable[[Any], Any],
    reshape: Callable[[Any, tuple[int, ...]], Any],
) -> Any:
    """The sum over seeds of each seed's batch loss, for stacked parameters and batches
    ``(seeds, batch, ...)``: each seed's parameters receive exactly their own gradient. A
    separable loss sees all seeds' rows in one call (times the number of seeds); the others,
    and class-centre losses (each seed has its own centres), one call per seed."""
    seeds, batch = int(x.shape[0]), int(x.shape[1])
    if spec.centres:
        h = embed(params[:-1], x, activation)
        return sum(objective(targets[s], h[s], params[-1][s]) for s in range(seeds))
    logits = forward(params, x, activation)
    if spec.separable:
        rows = (seeds * batch, *(int(d) for d in targets.shape[2:]))
        flat = objective(reshape(targets, rows), reshape(logits, (seeds * batch, -1)))
        return flat * float(seeds)
    return sum(objective(targets[s], logits[s]) for s in range(seeds))


def adam_update(p: Any, g: Any, m: Any, v: Any, step: Any, lr: float, sqrt: Any) -> tuple:
    """One Adam step on any array library: the new ``(p, m, v)`` (``step`` counts from 1)."""
    beta1, beta2, eps = ADAM
    m = beta1 * m + (1.0 - beta1) * g
    v = beta2 * v + (1.0 - beta2) * g * g
    m_hat = m / (1.0 - beta1**step)
    v_hat = v / (1.0 - beta2**step)
    return p - lr * m_hat / (sqrt(v_hat) + eps), m, v


# -------------------------------------------------------------------------------- metrics
def log_softmax64(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@dataclass
class Reliability:
    """Per-bin mean confidence, accuracy and count of a reliability diagram."""

    confidence: list[float]
    accuracy: list[float]
    count: list[int]


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> Reliability:
    """Bin the top-class confidence into ``bins`` equal-width bins ``(lo, hi]``."""
    confidence = probs.max(axis=-1)
    correct = probs.argmax(axis=-1) == labels
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    safe = np.maximum(count, 1)
    return Reliability(
        (np.bincount(index, confidence, bins) / safe).tolist(),
        (np.bincount(index, correct.astype(float), bins) / safe).tolist(),
        count.tolist(),
    )


def expected_calibration_error(table: Reliability) -> float:
    """``Σ_b (n_b/N) |accuracy_b - confidence_b|`` of a reliability table."""
    count = np.asarray(table.count, dtype=float)
    gap = np.abs(np.asarray(table.accuracy) - np.asarray(table.confidence))
    return float(np.sum(count * gap) / max(count.sum(), 1.0))


@dataclass
class Scores:
    """Test-set metrics of one set of logits."""

    accuracy: float
    log_loss: float
    ece: float
    reliability: Reliability


def score(logits: np.ndarray, labels: np.ndarray) -> Scores:
    """Accuracy, log-loss (from the logits, float64) and 15-bin ECE of ``softmax(logits)``."""
    log_p = log_softmax64(logits)
    table = reliability(np.exp(log_p), labels)
    return Scores(
        accuracy=float(np.mean(log_p.argmax(axis=-1) == labels)),
        log_loss=float(-np.mean(log_p[np.arange(len(labels)), labels])),
        ece=expected_calibration_error(table),
        reliability=table,
    )


# ------------------------------------------------------------------------------- training
@dataclass
class Run:
    """One seed's training run: test accuracy and log-loss after every epoch (boosting round)
    and the final test scores."""

    seed: int
    test_accuracy: list[float]
    test_log_loss: list[float]
    scores: Scores


@dataclass
class Trial:
    """One loss trained on one kind of labels (clean or noisy) with every seed: the mean
    training loss over seeds per epoch, each seed's :class:`Run` and the wall time of the whole
    (the seeds' networks train together)."""

    train_loss: list[float]
    runs: list[Run]
    seconds: float

    def values(self, metric: str) -> np.ndarray:
        """``accuracy``, ``log_loss`` or ``ece`` of every seed."""
        return np.array([getattr(run.scores, metric) for run in self.runs])


@dataclass
class Problem:
    """One loss on the data sets of every seed: what every framework's training loop needs."""

    spec: LossSpec
    datasets: list[Data]
    config: Config
    cache: dict[str, Any] = field(default_factory=dict)  # compiled steps, reused across runs

    @property
    def seeds(self) -> list[int]:
        """The seeds, one per data set."""
        return seeds_of(self.config)

    @property
    def num_classes(self) -> int:
        return self.datasets[0].num_classes

    def x_train(self) -> np.ndarray:
        """The training features of every seed, ``(seeds, n, features)``."""
        return np.stack([d.x_train for d in self.datasets])

    def targets(self, labels: np.ndarray) -> np.ndarray:
        """Training targets in the loss's format: int64 indices or float32 one-hot rows
        (``labels`` ``(seeds, n)``)."""
        if self.spec.target == "index":
            return labels
        return np.eye(self.num_classes, dtype=np.float32)[labels]

    def initial_params(self) -> list[np.ndarray]:
        """The initial weights of every seed, stacked on a leading axis; seed ``s``'s are the
        same for every loss and framework."""
        data = self.datasets[0]
        per_seed = [
            init_params(self.config, self.spec, seed, data.x_train.shape[1], self.num_classes)
            for seed in self.seeds
        ]
        return [np.stack(layer) for layer in zip(*per_seed, strict=True)]

    def batches(self, epoch: int) -> Iterator[np.ndarray]:
        """Index arrays ``(seeds, batch)`` of one shuffled epoch, all of the same size (the
        remainder is dropped, so compiled steps see one shape); seed ``s``'s order depends only
        on ``s`` and the epoch."""
        n = len(self.datasets[0].y_train)
        size = min(self.config.batch_size, n)
        orders = np.stack(
            [np.random.default_rng((seed, 3, epoch)).permutation(n) for seed in self.seeds]
        )
        for start in range(0, n - size + 1, size):
            yield orders[:, start : start + size]

    def fit(
        self,
        epoch_step: Callable[[int], tuple[float, list[np.ndarray]]],
        progress: ProgressCallback,
        what: str,
    ) -> Trial:
        """Run ``epoch_step(epoch) -> (mean training loss, stacked params as NumPy)`` for every
        epoch, scoring each seed's test set after each one."""
        train_loss: list[float] = []
        curves: list[tuple[list[float], list[float]]] = [([], []) for _ in self.seeds]
        params: list[np.ndarray] = []
        start = time.perf_counter()
        with _validate.validation(False):  # checked once by parse_loss; hot loop unchecked
            for epoch in range(self.config.epochs):
                loss, params = epoch_step(epoch)
                train_loss.append(loss)
                for i, (accuracy, log_loss) in enumerate(curves):
                    data = self.datasets[i]
                    log_p = log_softmax64(self.spec.predict([p[i] for p in params], data.x_test))
                    accuracy.append(float(np.mean(log_p.argmax(axis=-1) == data.y_test)))
                    log_loss.append(float(-np.mean(log_p[np.arange(len(log_p)), data.y_test])))
                progress(f"{what} epoch {epoch + 1}/{self.config.epochs}")
        seconds = time.perf_counter() - start
        runs = [
            Run(seed, *curve, scores=self.score(params, i))
            for i, (seed, curve) in enumerate(zip(self.seeds, curves, strict=True))
        ]
        return Trial(train_loss, runs, seconds)

    def score(self, params: Sequence[np.ndarray], i: int) -> Scores:
        """Test scores of seed number ``i`` from the stacked parameters."""
        data = self.datasets[i]
        return score(self.spec.predict([p[i] for p in params], data.x_test), data.y_test)


def seeds_of(config: Config) -> list[int]:
    """``seed, seed + 1, ..., seed + seeds - 1``."""
    return [config.seed + i for i in range(config.seeds)]


def _gather(array: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Rows ``idx[s]`` of ``array[s]`` for every seed ``s``."""
    return array[np.arange(len(idx))[:, None], idx]


def train_torch(
    problem: Problem, labels: np.ndarray, progress: ProgressCallback, what: str
) -> Trial:
    """PyTorch: autograd and ``torch.optim.Adam`` (elementwise, so every seed's parameters
    follow their own Adam), one thread (tiny matrices)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        params = [torch.tensor(p, requires_grad=True) for p in problem.initial_params()]
        optimizer = torch.optim.Adam(params, lr=problem.config.learning_rate, betas=ADAM[:2])
        objective = problem.spec.objective()
        x, targets = problem.x_train(), problem.targets(labels)
        seeds = len(problem.seeds)

        def epoch_step(epoch: int) -> tuple[float, list[np.ndarray]]:
            total, count = 0.0, 0
            for idx in problem.batches(epoch):
                loss = seeds_loss(
                    problem.spec,
                    objective,
                    params,
                    torch.from_numpy(_gather(x, idx)),
                    torch.from_numpy(_gather(targets, idx)),
                    torch.tanh,
                    torch.reshape,
                )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total, count = total + loss.item(), count + 1
            return total / count / seeds, [p.detach().numpy().copy() for p in params]

        return problem.fit(epoch_step, progress, what)
    finally:
        torch.set_num_threads(threads)


def train_jax(problem: Problem, labels: np.ndarray, progress: ProgressCallback, what: str) -> Trial:
    """JAX: ``jax.value_and_grad`` and an Adam step, compiled once per loss by ``jax.jit``."""
    import jax
    import jax.numpy as jnp

    if "jax" not in problem.cache:
        objective = problem.spec.objective()
        lr = problem.config.learning_rate

        def batch_loss(params: list, x: Any, y: Any) -> Any:
            return seeds_loss(problem.spec, objective, params, x, y, jnp.tanh, jnp.reshape)

        def step(state: tuple, x: Any, y: Any) -> tuple:
            params, m, v, t = state
            loss, grads = jax.value_and_grad(batch_loss)(params, x, y)
            new = [
                adam_update(*args, t + 1, lr, jnp.sqrt)
                for args in zip(params, grads, m, v, strict=True)
            ]
            return ([n[0] for n in new], [n[1] for n in new], [n[2] for n in new], t + 1), loss

        problem.cache["jax"] = jax.jit(step)
    step = problem.cache["jax"]
    params = [jnp.asarray(p) for p in problem.initial_params()]
    zeros = [jnp.zeros_like(p) for p in params]
    state = (params, zeros, zeros, jnp.asarray(0.0, dtype=jnp.float32))
    x, targets = problem.x_train(), problem.targets(labels)
    seeds = len(problem.seeds)

    def epoch_step(epoch: int) -> tuple[float, list[np.ndarray]]:
        nonlocal state
        losses = []
        for idx in problem.batches(epoch):
            state, loss = step(state, _gather(x, idx), _gather(targets, idx))
            losses.append(loss)
        mean = float(np.mean(np.asarray(losses))) / seeds
        return mean, [np.asarray(p) for p in state[0]]

    return problem.fit(epoch_step, progress, what)


def train_tensorflow(
    problem: Problem, labels: np.ndarray, progress: ProgressCallback, what: str
) -> Trial:
    """TensorFlow: ``tf.GradientTape`` and an Adam step, traced once per loss by
    ``tf.function``."""
    import tensorflow as tf

    if "tensorflow" not in problem.cache:
        objective = problem.spec.objective()
        lr = problem.config.learning_rate

        @tf.function
        def step(params: list, m: list, v: list, t: Any, x: Any, y: Any) -> tuple:
            with tf.GradientTape() as tape:
                tape.watch(params)
                loss = seeds_loss(problem.spec, objective, params, x, y, tf.tanh, tf.reshape)
            grads = tape.gradient(loss, params)
            new = [
                adam_update(*args, t, lr, tf.sqrt) for args in zip(params, grads, m, v, strict=True)
            ]
            return [n[0] for n in new], [n[1] for n in new], [n[2] for n in new], loss

        problem.cache["tensorflow"] = step
    step = problem.cache["tensorflow"]
    params = [tf.constant(p) for p in problem.initial_params()]
    m = v = [tf.zeros_like(p) for p in params]
    x, targets = problem.x_train(), problem.targets(labels)
    seeds = len(problem.seeds)
    count = 0

    def epoch_step(epoch: int) -> tuple[float, list[np.ndarray]]:
        nonlocal params, m, v, count
        losses = []
        for idx in problem.batches(epoch):
            count += 1
            t = tf.constant(count, dtype=tf.float32)
            batch = tf.constant(_gather(x, idx)), _gather(targets, idx)
            params, m, v, loss = step(params, m, v, t, *batch)
            losses.append(loss)
        mean = float(np.mean([float(v) for v in losses])) / seeds
        return mean, [p.numpy() for p in params]

    return problem.fit(epoch_step, progress, what)


TRAINERS = {"torch": train_torch, "jax": train_jax, "tensorflow": train_tensorflow}


# ------------------------------------------------------------------------------ comparison
#: The metrics summarised over seeds (the last two only with label noise).
METRICS = ("accuracy", "log_loss", "ece", "noisy_accuracy", "drop")


@dataclass
class Row:
    """One loss's results: the clean trial and, with label noise, the noisy trial."""

    spec: LossSpec
    clean: Trial
    noisy: Trial | None
    #: How the boosted model used the loss (``model="gbdt"``): the Hessian mode and whether
    #: the derivatives are a closed form or autodiff.
    objective: str = ""

    def values(self, metric: str) -> np.ndarray | None:
        """One of :data:`METRICS` for every seed (accuracy and ECE as fractions, drop in
        percentage points); ``None`` for the noisy metrics without noise."""
        if metric in ("accuracy", "log_loss", "ece"):
            return self.clean.values(metric)
        if self.noisy is None:
            return None
        noisy = self.noisy.values("accuracy")
        return (
            noisy if metric == "noisy_accuracy" else 100.0 * (self.clean.values("accuracy") - noisy)
        )

    def summary(self, metric: str) -> tuple[float, float] | None:
        """Mean and sample standard deviation over seeds (0 for one seed) of ``metric``."""
        values = self.values(metric)
        if values is None:
            return None
        std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        return float(np.mean(values)), std

    @property
    def drop(self) -> float | None:
        """Mean accuracy lost to label noise, in percentage points (``None`` without noise)."""
        summary = self.summary("drop")
        return None if summary is None else summary[0]


@dataclass
class Comparison:
    """The configuration, the data it ran on (the first seed's split) and one :class:`Row` per
    loss."""

    config: Config
    backend: str
    data: Data
    rows: list[Row]
    #: ``(loss, reason)`` for each loss that could not train this model.
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        return seeds_of(self.config)


def total_steps(config: Config) -> int:
    """How many progress steps (epochs, or boosting rounds) :func:`run` reports (a
    ``--family`` adds its losses' steps once they are known: see :class:`Plan`)."""
    return len(config.losses) * steps_per_loss(config)


def steps_per_loss(config: Config) -> int:
    """Progress steps of one loss: its epochs (all seeds at once), or its boosting rounds of
    every seed, twice with label noise."""
    steps = config.rounds * config.seeds if config.model == "gbdt" else config.epochs
    return steps * (2 if config.noise > 0 else 1)


@dataclass
class Plan:
    """What :func:`run` trains: the backend (boosting library), every seed's data, the losses
    and the losses of a ``--family`` that cannot train this classifier, with the reason."""

    backend: str
    datasets: list[Data]
    specs: list[LossSpec]
    skipped: list[tuple[str, str]]

    def steps(self, config: Config) -> int:
        return len(self.specs) * steps_per_loss(config)


def family_losses(family: str) -> list[str]:
    """The classification losses of a registry family (any case), in catalogue order."""
    from ._registry import names

    wanted = family.strip().lower()
    members = [n for n in names() if registry_info(n).family.lower() == wanted]
    if not members:
        families = sorted({registry_info(n).family for n in names()})
        raise CompareError(f"unknown family {family!r}; choose one of {', '.join(families)}")
    chosen = [n for n in members if registry_info(n).task in CLASSIFICATION_TASKS]
    if not chosen:
        raise CompareError(f"family {family!r} has no classification loss to train")
    return chosen


def prepare(config: Config) -> Plan:
    """Validate everything before training: backend (the boosting library for
    ``model="gbdt"``), data, loss names and parameters, and the losses of the families."""
    config.check()
    if config.model == "gbdt":
        backend = resolve_library(config.library)
    else:
        backend = resolve_backend(config.backend)
    datasets = [load_data(config.dataset, seed, config.imbalance) for seed in seeds_of(config)]
    num_classes = datasets[0].num_classes
    specs = [parse_loss(text, num_classes) for text in config.losses]
    skipped = []
    for family in config.families:
        for name in family_losses(family):
            if any(spec.name == name for spec in specs):
                continue
            try:
                specs.append(parse_loss(name, num_classes))
            except CompareError as error:
                skipped.append((name, str(error)))
    if not specs:
        raise CompareError("no loss to train: give --losses or a --family with trainable losses")
    return Plan(backend, datasets, specs, skipped)


def run(
    config: Config, progress: ProgressCallback | None = None, plan: Plan | None = None
) -> Comparison:
    """Train one network (or boosted model) per loss and seed, twice with label noise, and
    score each on its seed's test set. With ``model="gbdt"`` a loss that cannot be a boosting
    objective is skipped, its reason in :attr:`Comparison.skipped`."""
    progress = progress or (lambda _: None)
    plan = plan or prepare(config)
    with one_blas_thread():
        return _run(config, progress, plan)


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """NumPy's BLAS on one thread (``threadpoolctl``, which scikit-learn brings): the test-set
    products are tiny, and BLAS threads waiting for work cost ten times the product's own time
    on a busy machine."""
    if importlib.util.find_spec("threadpoolctl") is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def _run(config: Config, progress: ProgressCallback, plan: Plan) -> Comparison:
    backend, datasets = plan.backend, plan.datasets
    if config.model == "gbdt":
        from ._compare_gbdt import describe_objective, gbdt_objective, train_gbdt
    train = train_gbdt if config.model == "gbdt" else TRAINERS[backend]
    clean_labels = np.stack([d.y_train for d in datasets])
    noisy_labels = (
        np.stack(
            [
                flip_labels(d.y_train, config.noise, d.num_classes, seed)
                for seed, d in zip(seeds_of(config), datasets, strict=True)
            ]
        )
        if config.noise > 0
        else None
    )
    rows, skipped = [], list(plan.skipped)
    for spec in plan.specs:
        problem = Problem(spec, datasets, config)
        how = ""
        if config.model == "gbdt":
            try:
                objective = gbdt_objective(spec, backend, config.hessian, datasets[0].num_classes)
            except CompareError as error:
                skipped.append((spec.label, str(error)))
                for _ in range(steps_per_loss(config)):
                    progress(f"{spec.label} skipped")
                continue
            problem.cache.update(library=backend, objective=objective)
            how = describe_objective(objective)
        clean = train(problem, clean_labels, progress, f"{spec.label} (clean)")
        noisy = None
        if noisy_labels is not None:
            noisy = train(problem, noisy_labels, progress, f"{spec.label} (noisy)")
        rows.append(Row(spec, clean, noisy, how))
    return Comparison(config, backend, datasets[0], rows, skipped)


# ---------------------------------------------------------------------------------- output
def _percent(value: float) -> str:
    return f"{100.0 * value:.1f}"


#: How each metric is printed: its column header and the format of its mean (the standard
#: deviation shares the format, without the sign); accuracies and ECE are in percent.
COLUMNS = {
    "accuracy": ("accuracy %", "{:.1f}", 100.0),
    "log_loss": ("log-loss", "{:.3f}", 1.0),
    "ece": ("ECE %", "{:.1f}", 100.0),
    "noisy_accuracy": ("acc. {noise:.0%} noise %", "{:.1f}", 100.0),
    "drop": ("drop (pp)", "{:+.1f}", 1.0),
}


def metric_columns(comparison: Comparison) -> list[str]:
    """The metrics the table shows: the clean ones, and the robustness ones with noise."""
    clean = ["accuracy", "log_loss", "ece"]
    return clean + (["noisy_accuracy", "drop"] if comparison.config.noise > 0 else [])


def format_cell(row: Row, metric: str) -> str:
    """``mean ± std`` of a metric over seeds, rounded as printed (the mean alone for one seed)."""
    summary = row.summary(metric)
    if summary is None:
        return ""
    _, fmt, factor = COLUMNS[metric]
    mean, std = summary
    text = fmt.format(factor * mean)
    if len(row.clean.runs) > 1:
        text += " ± " + fmt.replace("+", "").format(factor * std)
    return text


def table_rows(comparison: Comparison, time: bool = True) -> tuple[list[str], list[list[str]]]:
    """The table's header and cells (time last, unless ``time`` is false)."""
    metrics = metric_columns(comparison)
    noise = comparison.config.noise
    header = ["loss", *(COLUMNS[m][0].format(noise=noise) for m in metrics)]
    if time:
        header.append("time (s)")
    cells = []
    for row in comparison.rows:
        line = [row.spec.label, *(format_cell(row, m) for m in metrics)]
        if time:
            line.append(f"{row.clean.seconds:.2f}")
        cells.append(line)
    return header, cells


def format_table(comparison: Comparison) -> str:
    """The results as an aligned text table followed by a legend."""
    header, cells = table_rows(comparison)
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]

    def line(values: list[str]) -> str:
        first = values[0].ljust(widths[0])
        rest = [v.rjust(w) for v, w in zip(values[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest])

    rule = "-" * len(line(header))
    notes = textwrap.fill(legend(comparison), width=max(len(rule), 80))
    skipped = [
        textwrap.fill(f"skipped {label}: {reason}", width=max(len(rule), 80))
        for label, reason in comparison.skipped
    ]
    return "\n".join([line(header), rule, *(line(c) for c in cells), rule, notes, *skipped])


def format_markdown(comparison: Comparison, time: bool = True) -> str:
    """The results as a Markdown table and the legend (``time=False`` leaves out the timing,
    the one column a rerun does not reproduce)."""
    header, cells = table_rows(comparison, time=time)
    escape = lambda text: text.replace("|", "\\|")  # noqa: E731
    lines = [
        "| " + " | ".join(escape(h) for h in header) + " |",
        "|" + "|".join([":---", *["---:"] * (len(header) - 1)]) + "|",
        *("| " + " | ".join(escape(c) for c in line) + " |" for line in cells),
        "",
        legend(comparison, time=time),
    ]
    lines += [f"Skipped {label}: {reason}" for label, reason in comparison.skipped]
    return "\n".join(lines)


def _seed_range(comparison: Comparison) -> str:
    seeds = comparison.seeds
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"{len(seeds)} seeds ({seeds[0]}–{seeds[-1]})"


def legend(comparison: Comparison, time: bool = True) -> str:
    """What the columns mean, for the terminal and the report."""
    config = comparison.config
    trained = f"{config.epochs} epoch" + ("" if config.epochs == 1 else "s")
    if config.model == "gbdt":
        trained = (
            f"{config.rounds} boosting rounds of depth-{TREE_DEPTH} trees (learning rate "
            f"{TREE_LEARNING_RATE}, L2 {TREE_L2}) from each loss's best constant"
        )
    seeds = _seed_range(comparison)
    if len(comparison.seeds) > 1:
        seeds = (
            f"Mean ± standard deviation over {seeds}, each with its own train/test split, "
            "initial weights, batch order and label flips"
        )
    else:
        seeds = f"One run, {seeds}"
    text = (
        f"{seeds}. Test set of {len(comparison.data.y_test)} samples after {trained} on "
        f"clean labels; ECE: {ECE_BINS} equal-width bins of softmax confidence"
    )
    if any(row.spec.centres for row in comparison.rows):
        text += (
            " (for the class-centre losses the softmax of s·cos θ, the scaled cosines to the "
            "class centres without the margin)"
        )
    if time:
        several = len(comparison.seeds) > 1 and config.model != "gbdt"
        together = " (all seeds train together)" if several else ""
        text += f"; time: clean training on {comparison.backend}{together}"
    text += "."
    if config.noise > 0:
        text += (
            f" Robustness: the same training with {config.noise:.0%} of the training labels "
            "flipped to another class; drop = accuracy - noisy accuracy (smaller is more robust)."
        )
    return text


def to_json(comparison: Comparison) -> dict[str, Any]:
    """Everything measured, as plain data: per loss the summary over seeds (accuracy and ECE
    as fractions, drop in percentage points) and every seed's run."""
    results = []
    for row in comparison.rows:
        summary = {}
        for metric in METRICS:
            values = row.summary(metric)
            if values is not None:
                summary[metric] = {"mean": values[0], "std": values[1]}
        results.append(
            {
                "loss": row.spec.label,
                "name": row.spec.name,
                "params": row.spec.params,
                "head": "class centres" if row.spec.centres else "linear",
                "seeds": [run.seed for run in row.clean.runs],
                "summary": summary,
                "clean": asdict(row.clean),
                "noisy": asdict(row.noisy) if row.noisy is not None else None,
                "drop_pp": row.drop,
                **({"objective": row.objective} if row.objective else {}),
            }
        )
    return {
        "config": asdict(comparison.config),
        "backend": comparison.backend,
        "data": comparison.data.summary(),
        "results": results,
        "skipped": [{"loss": label, "reason": reason} for label, reason in comparison.skipped],
    }


# ------------------------------------------------------------------------------------ names
def slug(text: str) -> str:
    """A file-name-safe version of ``text``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "loss"
