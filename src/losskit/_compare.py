"""``losskit compare``: train one small classifier per loss and compare the results.

Every loss trains the same network (a one-hidden-layer tanh MLP, or logistic regression) on a
data set that ships with scikit-learn (``digits`` or ``breast_cancer``, no download), from the
same initial weights, on the same mini-batches, with the same optimiser (Adam). Only the loss
differs. The training loop is written once per framework (PyTorch, JAX, TensorFlow) and calls the
losskit loss on that framework's arrays; data, initial weights, batches and metrics are shared
NumPy code, so the frameworks agree to float32 round-off.

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
* **time**: wall time of the clean training run in seconds (including JIT compilation on JAX and
  TensorFlow).

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
import html
import importlib.util
import inspect
import itertools
import json
import math
import re
import textwrap
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
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
        for name in ("epochs", "batch_size", "hidden", "rounds"):
            if getattr(self, name) < 1:
                raise CompareError(f"--{name.replace('_', '-')} must be >= 1")
        if not self.learning_rate > 0:
            raise CompareError(f"--lr must be > 0; got {self.learning_rate}")
        if not self.losses:
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
    """One loss to train with: how to call it on integer labels and logits.

    ``target`` is ``"index"`` (class indices) or ``"onehot"`` (float one-hot rows); ``inputs`` is
    ``"logits"`` (the raw network outputs, with ``from_logits=True`` where the loss has it) or
    ``"probabilities"`` (``softmax`` of the outputs).
    """

    label: str
    name: str
    params: dict[str, Any]
    target: str
    inputs: str

    def objective(self) -> Callable[[Any, Any], Any]:
        """``f(targets, logits) -> scalar loss`` on any backend's arrays."""
        loss = Loss(self.name, **self.params)
        if self.inputs == "probabilities":
            return lambda targets, logits: loss(targets, softmax(logits))
        return loss


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
    indices or one-hot targets.
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
    return LossSpec(text.strip(), entry.name, params, target, inputs)


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
def init_params(config: Config, num_features: int, num_classes: int) -> list[np.ndarray]:
    """Glorot-normal weights and zero biases ``[w1, b1, (w2, b2)]``, the same for every loss."""
    rng = np.random.default_rng(config.seed)
    sizes = (
        [num_features, config.hidden, num_classes]
        if config.model == "mlp"
        else [
            num_features,
            num_classes,
        ]
    )
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        params.append(rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), (fan_in, fan_out)))
        params.append(np.zeros(fan_out))
    return [p.astype(np.float32) for p in params]


def forward(params: Sequence[Any], x: Any, activation: Callable[[Any], Any]) -> Any:
    """Logits of the network for any array library: ``activation`` between the layers."""
    h = x
    for i in range(0, len(params) - 2, 2):
        h = activation(h @ params[i] + params[i + 1])
    return h @ params[-2] + params[-1]


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
    """One training run: per-epoch curves and the final test scores."""

    train_loss: list[float]
    test_accuracy: list[float]
    test_log_loss: list[float]
    scores: Scores
    seconds: float


@dataclass
class Problem:
    """One loss on one data set: what every framework's training loop needs."""

    spec: LossSpec
    data: Data
    config: Config
    cache: dict[str, Any] = field(default_factory=dict)  # compiled steps, reused across runs

    def targets(self, labels: np.ndarray) -> np.ndarray:
        """Training targets in the loss's format: int64 indices or float32 one-hot rows."""
        if self.spec.target == "index":
            return labels
        return np.eye(self.data.num_classes, dtype=np.float32)[labels]

    def initial_params(self) -> list[np.ndarray]:
        """The initial weights, identical for every loss and framework."""
        return init_params(self.config, self.data.x_train.shape[1], self.data.num_classes)

    def batches(self, epoch: int) -> Iterator[np.ndarray]:
        """Index arrays of one shuffled epoch, all of the same size (the remainder is dropped,
        so compiled steps see one shape); the order depends only on the seed and the epoch."""
        n = len(self.data.y_train)
        size = min(self.config.batch_size, n)
        order = np.random.default_rng((self.config.seed, 3, epoch)).permutation(n)
        for start in range(0, n - size + 1, size):
            yield order[start : start + size]

    def fit(
        self,
        epoch_step: Callable[[int], tuple[float, list[np.ndarray]]],
        progress: ProgressCallback,
        what: str,
    ) -> Run:
        """Run ``epoch_step(epoch) -> (mean training loss, params as NumPy)`` for every epoch,
        scoring the test set after each one."""
        curves: tuple[list[float], list[float], list[float]] = ([], [], [])
        start = time.perf_counter()
        logits = np.zeros((0, self.data.num_classes))
        with _validate.validation(False):  # checked once by parse_loss; hot loop unchecked
            for epoch in range(self.config.epochs):
                loss, params = epoch_step(epoch)
                logits = forward(params, self.data.x_test, np.tanh)
                scores = score(logits, self.data.y_test)
                for curve, value in zip(
                    curves, (loss, scores.accuracy, scores.log_loss), strict=True
                ):
                    curve.append(value)
                progress(f"{what} epoch {epoch + 1}/{self.config.epochs}")
        seconds = time.perf_counter() - start
        return Run(*curves, scores=score(logits, self.data.y_test), seconds=seconds)


def train_torch(problem: Problem, labels: np.ndarray, progress: ProgressCallback, what: str) -> Run:
    """PyTorch: autograd and ``torch.optim.Adam``, one thread (tiny matrices)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        params = [torch.tensor(p, requires_grad=True) for p in problem.initial_params()]
        optimizer = torch.optim.Adam(params, lr=problem.config.learning_rate, betas=ADAM[:2])
        objective = problem.spec.objective()
        x = torch.from_numpy(problem.data.x_train)
        targets = torch.from_numpy(problem.targets(labels))

        def epoch_step(epoch: int) -> tuple[float, list[np.ndarray]]:
            total, count = 0.0, 0
            for idx in problem.batches(epoch):
                index = torch.from_numpy(idx)
                loss = objective(targets[index], forward(params, x[index], torch.tanh))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total, count = total + loss.item(), count + 1
            return total / count, [p.detach().numpy().copy() for p in params]

        return problem.fit(epoch_step, progress, what)
    finally:
        torch.set_num_threads(threads)


def train_jax(problem: Problem, labels: np.ndarray, progress: ProgressCallback, what: str) -> Run:
    """JAX: ``jax.value_and_grad`` and an Adam step, compiled once per loss by ``jax.jit``."""
    import jax
    import jax.numpy as jnp

    if "jax" not in problem.cache:
        objective = problem.spec.objective()
        lr = problem.config.learning_rate

        def batch_loss(params: list, x: Any, y: Any) -> Any:
            return objective(y, forward(params, x, jnp.tanh))

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
    x, targets = problem.data.x_train, problem.targets(labels)

    def epoch_step(epoch: int) -> tuple[float, list[np.ndarray]]:
        nonlocal state
        losses = []
        for idx in problem.batches(epoch):
            state, loss = step(state, x[idx], targets[idx])
            losses.append(loss)
        return float(np.mean(np.asarray(losses))), [np.asarray(p) for p in state[0]]

    return problem.fit(epoch_step, progress, what)


def train_tensorflow(
    problem: Problem, labels: np.ndarray, progress: ProgressCallback, what: str
) -> Run:
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
                loss = objective(y, forward(params, x, tf.tanh))
            grads = tape.gradient(loss, params)
            new = [
                adam_update(*args, t, lr, tf.sqrt) for args in zip(params, grads, m, v, strict=True)
            ]
            return [n[0] for n in new], [n[1] for n in new], [n[2] for n in new], loss

        problem.cache["tensorflow"] = step
    step = problem.cache["tensorflow"]
    params = [tf.constant(p) for p in problem.initial_params()]
    m = v = [tf.zeros_like(p) for p in params]
    x, targets = problem.data.x_train, problem.targets(labels)
    count = 0

    def epoch_step(epoch: int) -> tuple[float, list[np.ndarray]]:
        nonlocal params, m, v, count
        losses = []
        for idx in problem.batches(epoch):
            count += 1
            t = tf.constant(count, dtype=tf.float32)
            params, m, v, loss = step(params, m, v, t, tf.constant(x[idx]), targets[idx])
            losses.append(loss)
        return float(np.mean([float(v) for v in losses])), [p.numpy() for p in params]

    return problem.fit(epoch_step, progress, what)


TRAINERS = {"torch": train_torch, "jax": train_jax, "tensorflow": train_tensorflow}


# ------------------------------------------------------------------ gradient-boosted trees
def gbdt_objective(spec: LossSpec, library: str, hessian: str, num_classes: int) -> Any:
    """The loss as a ``library`` objective over ``num_classes`` margins (Hessian mode
    ``hessian``, or for ``"auto"``: exact when the loss is convex in the margins and curved,
    1 when its Hessian is 0, else the exact Hessian floored, ``"clip"``). Raises
    :class:`CompareError` with the reason when the loss cannot be such an objective."""
    from . import boost

    if library == "catboost" and num_classes < 3:
        raise CompareError(
            "CatBoost gives a custom objective over two classes a single margin (its "
            "classes_count=2 is one dimension): use --library xgboost or lightgbm, or digits"
        )

    def build(mode: str) -> Any:
        with warnings.catch_warnings():  # the choice below replaces the warning's advice
            warnings.simplefilter("ignore", UserWarning)
            return boost.objective(spec.name, library=library, hessian=mode, **spec.params)

    try:
        exact = build("exact")
    except (boost.NotAnObjective, ValueError, TypeError) as error:
        raise CompareError(str(error)) from None
    if exact.spec.structure != "class":
        raise CompareError(
            f"{spec.name} is an elementwise loss (one margin per entry of the "
            f"{'one-hot target' if spec.target == 'onehot' else 'target'}); the "
            f"boosted model has one margin per class and needs a loss over the class axis"
        )
    if hessian != "auto":
        try:
            return exact if hessian == "exact" else build(hessian)
        except ValueError as error:
            raise CompareError(f"{spec.label}: {error}") from None
    if not _curved(exact, num_classes):
        return build("constant")
    return exact if exact.convex else build("clip")


def _curved(objective: Any, num_classes: int) -> bool:
    """Whether the exact Hessian is non-zero somewhere (not a piecewise-linear loss)."""
    rng = np.random.default_rng(0)
    labels = np.arange(2 * num_classes) % num_classes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        _, h = objective.grad_hess(labels, rng.normal(size=(labels.size, num_classes)))
    return bool(np.any(h != 0))


def describe_objective(objective: Any) -> str:
    """``hessian=exact, closed form``: how a boosted loss was differentiated."""
    how = "closed form" if objective.closed_form else "autodiff"
    return f"hessian={objective.hessian}, {how}"


class XGBoostTrees:
    """``xgb.train`` with the objective, ``base_margin`` the starting constant on every row."""

    def __init__(
        self, objective: Any, x: np.ndarray, y: np.ndarray, start: np.ndarray, config: Config
    ) -> None:
        import xgboost as xgb

        self.xgb, self.start = xgb, start
        params = {
            "num_class": start.size,
            "max_depth": TREE_DEPTH,
            "eta": TREE_LEARNING_RATE,
            "lambda": TREE_L2,
            "tree_method": "hist",
            "nthread": 1,
            "seed": config.seed,
            "disable_default_eval_metric": True,
        }
        dtrain = xgb.DMatrix(x, label=y, base_margin=self._base(len(y)))
        self.model = xgb.train(params, dtrain, config.rounds, obj=objective)

    def _base(self, rows: int) -> np.ndarray:
        return np.tile(self.start, (rows, 1))

    def margins(self, x: np.ndarray, rounds: int) -> np.ndarray:
        dmatrix = self.xgb.DMatrix(x, base_margin=self._base(len(x)))
        return np.asarray(
            self.model.predict(dmatrix, output_margin=True, iteration_range=(0, rounds))
        )


class LightGBMTrees:
    """``lgb.train`` with the objective, ``init_score`` the starting constant on every row
    (LightGBM's raw predictions leave it out: added back)."""

    def __init__(
        self, objective: Any, x: np.ndarray, y: np.ndarray, start: np.ndarray, config: Config
    ) -> None:
        import lightgbm as lgb

        self.start = start
        params = {
            "objective": objective,
            "num_class": start.size,
            "max_depth": TREE_DEPTH,
            "num_leaves": 2**TREE_DEPTH,
            "learning_rate": TREE_LEARNING_RATE,
            "lambda_l2": TREE_L2,
            "num_threads": 1,
            "seed": config.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }
        data = lgb.Dataset(x, label=y, init_score=np.tile(start, (len(y), 1)))
        self.model = lgb.train(params, data, config.rounds)

    def margins(self, x: np.ndarray, rounds: int) -> np.ndarray:
        raw = self.model.predict(x, raw_score=True, num_iteration=rounds)
        return np.asarray(raw).reshape(len(x), -1) + self.start


class CatBoostTrees:
    """``CatBoost`` with the objective (and the loss as its metric), the pool's ``baseline`` the
    starting constant on every row."""

    def __init__(
        self, objective: Any, x: np.ndarray, y: np.ndarray, start: np.ndarray, config: Config
    ) -> None:
        import catboost as cb

        from . import boost

        self.cb, self.start = cb, start
        metric = boost.metric(objective.spec.name, library="catboost", **objective.spec.params)
        params = {
            "loss_function": objective,
            "eval_metric": metric,
            "classes_count": start.size,
            "iterations": config.rounds,
            "depth": TREE_DEPTH,
            "learning_rate": TREE_LEARNING_RATE,
            "l2_leaf_reg": TREE_L2,
            "boost_from_average": False,
            "random_seed": config.seed,
            "thread_count": 1,
            "verbose": False,
            "allow_writing_files": False,
        }
        self.model = cb.CatBoost(params)
        self.model.fit(cb.Pool(x, y, baseline=np.tile(start, (len(y), 1))))

    def margins(self, x: np.ndarray, rounds: int) -> np.ndarray:
        pool = self.cb.Pool(x, baseline=np.tile(self.start, (len(x), 1)))
        raw = self.model.predict(pool, prediction_type="RawFormulaVal", ntree_end=rounds)
        return np.asarray(raw).reshape(len(x), -1)


GBDT_TRAINERS: dict[str, Any] = {
    "xgboost": XGBoostTrees,
    "lightgbm": LightGBMTrees,
    "catboost": CatBoostTrees,
}


def train_gbdt(problem: Problem, labels: np.ndarray, progress: ProgressCallback, what: str) -> Run:
    """Boost ``config.rounds`` rounds of trees from the loss's best constant; the curves are
    the staged models' training loss and test scores after each round (outside the timing)."""
    library, objective = problem.cache["library"], problem.cache["objective"]
    data, rounds = problem.data, problem.config.rounds
    from . import boost

    metric = boost.metric(objective.spec.name, library=library, **objective.spec.params)
    start = time.perf_counter()
    first = np.asarray(objective.init_score(labels, num_classes=data.num_classes), np.float64)
    trees = GBDT_TRAINERS[library](objective, data.x_train, labels, first, problem.config)
    seconds = time.perf_counter() - start
    curves: tuple[list[float], list[float], list[float]] = ([], [], [])
    logits = np.zeros((0, data.num_classes))
    for done in range(1, rounds + 1):
        loss = metric.value(labels, trees.margins(data.x_train, done))
        logits = trees.margins(data.x_test, done)
        scores = score(logits, data.y_test)
        for curve, value in zip(curves, (loss, scores.accuracy, scores.log_loss), strict=True):
            curve.append(value)
        progress(f"{what} round {done}/{rounds}")
    return Run(*curves, scores=score(logits, data.y_test), seconds=seconds)


# ------------------------------------------------------------------------------ comparison
@dataclass
class Row:
    """One loss's results: the clean run and, with label noise, the noisy run."""

    spec: LossSpec
    clean: Run
    noisy: Run | None
    #: How the boosted model used the loss (``model="gbdt"``): the Hessian mode and whether
    #: the derivatives are a closed form or autodiff.
    objective: str = ""

    @property
    def drop(self) -> float | None:
        """Accuracy lost to label noise, in percentage points (``None`` without noise)."""
        if self.noisy is None:
            return None
        return 100.0 * (self.clean.scores.accuracy - self.noisy.scores.accuracy)


@dataclass
class Comparison:
    """The configuration, the data it ran on and one :class:`Row` per loss."""

    config: Config
    backend: str
    data: Data
    rows: list[Row]
    #: ``(loss, reason)`` for each loss that could not train this model (``model="gbdt"``).
    skipped: list[tuple[str, str]] = field(default_factory=list)


def total_steps(config: Config) -> int:
    """How many progress steps (epochs, or boosting rounds) :func:`run` reports."""
    return len(config.losses) * steps_per_loss(config)


def steps_per_loss(config: Config) -> int:
    """Progress steps of one loss: its epochs (boosting rounds), twice with label noise."""
    steps = config.rounds if config.model == "gbdt" else config.epochs
    return steps * (2 if config.noise > 0 else 1)


def prepare(config: Config) -> tuple[str, Data, list[LossSpec]]:
    """Validate everything before training: backend (the boosting library for
    ``model="gbdt"``), data, loss names and parameters."""
    config.check()
    if config.model == "gbdt":
        backend = resolve_library(config.library)
    else:
        backend = resolve_backend(config.backend)
    data = load_data(config.dataset, config.seed, config.imbalance)
    specs = [parse_loss(text, data.num_classes) for text in config.losses]
    return backend, data, specs


def run(config: Config, progress: ProgressCallback | None = None) -> Comparison:
    """Train one network (or boosted model) per loss, twice with label noise, and score each
    on the test set. With ``model="gbdt"`` a loss that cannot be a boosting objective is
    skipped, its reason in :attr:`Comparison.skipped`."""
    progress = progress or (lambda _: None)
    backend, data, specs = prepare(config)
    train = train_gbdt if config.model == "gbdt" else TRAINERS[backend]
    noisy_labels = (
        flip_labels(data.y_train, config.noise, data.num_classes, config.seed)
        if config.noise > 0
        else None
    )
    rows, skipped = [], []
    for spec in specs:
        problem = Problem(spec, data, config)
        how = ""
        if config.model == "gbdt":
            try:
                objective = gbdt_objective(spec, backend, config.hessian, data.num_classes)
            except CompareError as error:
                skipped.append((spec.label, str(error)))
                for _ in range(steps_per_loss(config)):
                    progress(f"{spec.label} skipped")
                continue
            problem.cache.update(library=backend, objective=objective)
            how = describe_objective(objective)
        clean = train(problem, data.y_train, progress, f"{spec.label} (clean)")
        noisy = None
        if noisy_labels is not None:
            noisy = train(problem, noisy_labels, progress, f"{spec.label} (noisy)")
        rows.append(Row(spec, clean, noisy, how))
    return Comparison(config, backend, data, rows, skipped)


# ---------------------------------------------------------------------------------- output
def _percent(value: float) -> str:
    return f"{100.0 * value:.1f}"


def table_rows(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    """The terminal table's header and cells (time last)."""
    noise = comparison.config.noise
    header = ["loss", "accuracy %", "log-loss", "ECE %"]
    if noise > 0:
        header += [f"acc. {noise:.0%} noise %", "drop (pp)"]
    header.append("time (s)")
    cells = []
    for row in comparison.rows:
        s = row.clean.scores
        line = [row.spec.label, _percent(s.accuracy), f"{s.log_loss:.3f}", _percent(s.ece)]
        if row.noisy is not None:
            line += [_percent(row.noisy.scores.accuracy), f"{row.drop:+.1f}"]
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


def legend(comparison: Comparison) -> str:
    """What the columns mean, for the terminal and the report."""
    config = comparison.config
    trained = f"{config.epochs} epoch" + ("" if config.epochs == 1 else "s")
    if config.model == "gbdt":
        trained = (
            f"{config.rounds} boosting rounds of depth-{TREE_DEPTH} trees (learning rate "
            f"{TREE_LEARNING_RATE}, L2 {TREE_L2}) from each loss's best constant"
        )
    text = (
        f"Test set of {len(comparison.data.y_test)} samples after {trained} on "
        f"clean labels; ECE: {ECE_BINS} equal-width bins of softmax confidence; "
        f"time: clean training run on {comparison.backend}."
    )
    if config.noise > 0:
        text += (
            f" Robustness: the same training with {config.noise:.0%} of the training labels "
            "flipped to another class; drop = accuracy - noisy accuracy (smaller is more robust)."
        )
    return text


def to_json(comparison: Comparison) -> dict[str, Any]:
    """Everything measured, as plain data."""
    return {
        "config": asdict(comparison.config),
        "backend": comparison.backend,
        "data": comparison.data.summary(),
        "results": [
            {
                "loss": row.spec.label,
                "name": row.spec.name,
                "params": row.spec.params,
                "clean": asdict(row.clean),
                "noisy": asdict(row.noisy) if row.noisy is not None else None,
                "drop_pp": row.drop,
                **({"objective": row.objective} if row.objective else {}),
            }
            for row in comparison.rows
        ],
        "skipped": [{"loss": label, "reason": reason} for label, reason in comparison.skipped],
    }


# ----------------------------------------------------------------------------- HTML report
def slug(text: str) -> str:
    """A file-name-safe version of ``text``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "loss"


def write_report(comparison: Comparison, directory: str | Path) -> Path:
    """Write ``index.html``, ``curves.png``, one reliability PNG per loss and ``results.json``
    into ``directory``; return the path of ``index.html``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    images = [_plot_curves(plt, comparison, out / "curves.png")]
    for i, row in enumerate(comparison.rows):
        path = out / f"reliability_{i}_{slug(row.spec.label)}.png"
        images.append(_plot_reliability(plt, row, path))
    (out / "results.json").write_text(json.dumps(to_json(comparison), indent=2), encoding="utf-8")
    index = out / "index.html"
    index.write_text(_html(comparison, [p.name for p in images]), encoding="utf-8")
    return index


def _pyplot() -> Any:
    if importlib.util.find_spec("matplotlib") is None:
        raise CompareError("the HTML report draws with matplotlib: pip install matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_curves(plt: Any, comparison: Comparison, path: Path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2), layout="constrained")
    titles = (
        "training loss (relative to epoch 1)",
        "test accuracy",
        "test log-loss",
    )
    config = comparison.config
    epochs = np.arange(1, (config.rounds if config.model == "gbdt" else config.epochs) + 1)
    for i, row in enumerate(comparison.rows):
        color = f"C{i % 10}"
        for run, style in ((row.clean, "-"), (row.noisy, "--")):
            if run is None:
                continue
            first = run.train_loss[0] if run.train_loss[0] != 0 else 1.0
            curves = (np.asarray(run.train_loss) / first, run.test_accuracy, run.test_log_loss)
            for ax, curve in zip(axes, curves, strict=True):
                label = row.spec.label + (" (noisy)" if style == "--" else "")
                ax.plot(epochs, curve, style, color=color, label=label)
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title)
        ax.set_xlabel("boosting round" if config.model == "gbdt" else "epoch")
        ax.grid(alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=7)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _plot_reliability(plt: Any, row: Row, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(3.6, 3.6))
    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    table = row.clean.scores.reliability
    filled = np.asarray(table.count) > 0
    ax.bar(
        edges[:-1][filled],
        np.asarray(table.accuracy)[filled],
        width=1.0 / ECE_BINS,
        align="edge",
        edgecolor="k",
        alpha=0.6,
        label="clean labels",
    )
    if row.noisy is not None:
        noisy = row.noisy.scores.reliability
        used = np.asarray(noisy.count) > 0
        ax.plot(
            np.asarray(noisy.confidence)[used],
            np.asarray(noisy.accuracy)[used],
            "o--",
            color="C3",
            label="noisy labels",
        )
    ax.plot([0, 1], [0, 1], ":", color="gray")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy")
    ax.set_title(f"{row.spec.label}\nECE {100 * row.clean.scores.ece:.1f} %", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


#: Settings that only one kind of model uses (left out of the other's report).
GBDT_ONLY = ("library", "rounds", "hessian")
NETWORK_ONLY = ("hidden", "epochs", "batch_size", "learning_rate")


def _html(comparison: Comparison, images: list[str]) -> str:
    config = comparison.config
    header, cells = table_rows(comparison)
    unused = GBDT_ONLY if config.model != "gbdt" else NETWORK_ONLY
    settings = ", ".join(
        f"{k}={v}" for k, v in asdict(config).items() if k not in ("losses", "backend", *unused)
    )
    figures = "\n".join(
        f'<figure><img src="{html.escape(name)}" alt="{html.escape(name)}"></figure>'
        for name in images[1:]
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>losskit compare</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td:first-child{{text-align:left}}figure{{display:inline-block;margin:4px}}</style></head>
<body><h1>losskit compare</h1>
<p>{html.escape(comparison.data.summary())}; backend {html.escape(comparison.backend)};
{html.escape(settings)}.</p>
{_html_table(header, cells)}
<p>{html.escape(legend(comparison))}</p>
{_noisy_table(comparison)}
{_skipped_list(comparison)}
<h2>How each loss was called</h2>
{_calls_table(comparison)}
<h2>Training curves</h2>
<p>Solid: clean labels; dashed: noisy labels.</p>
<img src="{html.escape(images[0])}" alt="training curves" style="max-width:100%">
<h2>Reliability diagrams</h2>
<p>Accuracy against confidence in {ECE_BINS} bins; a calibrated model follows the diagonal.</p>
{figures}
<p>Data: <a href="results.json">results.json</a>.</p>
</body></html>
"""


def _html_table(header: Sequence[str], cells: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in line) + "</tr>\n" for line in cells
    )
    return f"<table><tr>{head}</tr>\n{body}</table>"


def _noisy_table(comparison: Comparison) -> str:
    noisy = [(row.spec.label, row.noisy) for row in comparison.rows if row.noisy is not None]
    if not noisy:
        return ""
    cells = [
        [
            label,
            _percent(run.scores.accuracy),
            f"{run.scores.log_loss:.3f}",
            _percent(run.scores.ece),
        ]
        for label, run in noisy
    ]
    title = f"<h2>Trained with {comparison.config.noise:.0%} label noise</h2>"
    return title + _html_table(["loss", "accuracy %", "log-loss", "ECE %"], cells)


def _skipped_list(comparison: Comparison) -> str:
    if not comparison.skipped:
        return ""
    items = "".join(
        f"<li><b>{html.escape(label)}</b>: {html.escape(reason)}</li>"
        for label, reason in comparison.skipped
    )
    return f"<h2>Skipped</h2><ul>{items}</ul>"


def _calls_table(comparison: Comparison) -> str:
    if comparison.config.model == "gbdt":
        cells = [
            [
                row.spec.label,
                row.spec.name,
                ", ".join(f"{k}={v!r}" for k, v in row.spec.params.items()) or "—",
                row.objective,
            ]
            for row in comparison.rows
        ]
        return _html_table(["loss", "function", "parameters", "boosting objective"], cells)
    cells = [
        [
            row.spec.label,
            row.spec.name,
            ", ".join(f"{k}={v!r}" for k, v in row.spec.params.items()) or "—",
            "class indices" if row.spec.target == "index" else "one-hot",
            row.spec.inputs,
        ]
        for row in comparison.rows
    ]
    return _html_table(["loss", "function", "parameters", "targets", "network outputs as"], cells)
