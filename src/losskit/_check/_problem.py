"""What the checker feeds a loss: the task's array layout and the prediction domain.

Every probe is a *call* of the loss on a batch of one sample (segmentation: one image); many calls
are stacked on a new leading axis and evaluated together (see ``_adapt.Evaluator``). The layouts of
the language-model tasks (preference, policy, distillation) are in ``_llm``.

=============  ==========================  ==============================================
task           y_true of one call          y_pred of one call
=============  ==========================  ==============================================
binary         ``(1,)`` label 0/1 or soft   ``(1,)``
multiclass     ``(1, K)`` one-hot or soft   ``(1, K)``; class indices ``(1,)`` when the
                                           loss takes them (sparse losses)
multilabel     ``(1, K)`` labels 0/1        ``(1, K)``
regression     ``(1,)``                     ``(1,)``
segmentation   ``(1, H, W)`` mask in [0,1]  ``(1, H, W)`` foreground map
=============  ==========================  ==============================================

The prediction domain is one of: ``probability`` (the default for classification tasks),
``logit`` (``from_logits=True``: σ, or softmax over the classes, is the link), ``score`` (a
registered loss whose domain is real-valued scores, like the hinge: decision threshold 0, link
unknown), ``real`` and ``positive`` (regression).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

TASKS = (
    "binary",
    "multiclass",
    "multilabel",
    "regression",
    "segmentation",
    # the language-model tasks: their layouts are in ``_llm``
    "preference",
    "policy",
    "distillation",
)
CLASSIFICATION = ("binary", "multiclass", "multilabel")
LM_TASKS = ("preference", "policy", "distillation")

PROB, LOGIT, SCORE, REAL, POSITIVE = "probability", "logit", "score", "real", "positive"

DOMAIN_TEXT = {
    PROB: "probabilities",
    LOGIT: "logits",
    SCORE: "real-valued scores (decision threshold 0)",
    REAL: "real values",
    POSITIVE: "positive values",
}

#: the mode= argument a registered loss with modes (Brier, Dice, ...) gets for each task
MODES = {
    "binary": "binary",
    "multiclass": "multiclass",
    "multilabel": "multilabel",
    "segmentation": "binary",
}


def domain_for(task: str, from_logits: bool, entry: Any) -> str:
    """The prediction domain: logits when asked, a registered loss's own real-valued domain
    when it is registered for this task, probabilities otherwise (regression: real or positive).
    """
    registered = getattr(entry, "domain", None) if entry is not None else None
    if task == "regression":
        return POSITIVE if registered in ("positive", "non-negative") else REAL
    if from_logits:
        return LOGIT
    entry_task = getattr(entry, "task", None)
    fits = entry_task in (task, "any") or (
        entry_task == "classification" and task in CLASSIFICATION
    )
    if fits and registered == "real":
        return SCORE
    if fits and registered == "logit":
        return LOGIT
    return PROB


def sigmoid(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def logit(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


@dataclass
class Problem:
    """The task, the prediction domain and the layout of one call."""

    task: str
    domain: str
    classes: int = 3
    image: tuple[int, int] = (4, 4)
    sparse: bool = False
    positive_targets: bool = False  # regression losses on counts or amounts (Poisson NLL, ...)

    # domain -------------------------------------------------------------------------------
    @property
    def threshold(self) -> float:
        """The decision threshold of a binary prediction."""
        return 0.5 if self.domain == PROB else 0.0

    @property
    def bounds(self) -> tuple[float, float]:
        if self.domain == PROB:
            return 0.0, 1.0
        if self.domain == POSITIVE:
            return 0.0, np.inf
        return -np.inf, np.inf

    @property
    def targets_positive(self) -> bool:
        """Whether regression targets must be positive (positive predictions, or a loss that
        rejects negative targets)."""
        return self.positive_targets or self.domain == POSITIVE

    @property
    def has_link(self) -> bool:
        """Whether a prediction maps to a probability (probabilities, or logits through σ)."""
        return self.domain in (PROB, LOGIT)

    @property
    def classification(self) -> bool:
        return self.task in CLASSIFICATION

    @property
    def unit(self) -> str:
        """What one call's batch is made of."""
        return "image" if self.task == "segmentation" else "sample"

    def encode(self, q: np.ndarray) -> np.ndarray:
        """Probabilities ``q`` as predictions (logits: σ⁻¹, or log q over the classes)."""
        if self.domain != LOGIT:
            return np.asarray(q, dtype=np.float64)
        if self.task == "multiclass":
            with np.errstate(divide="ignore"):
                return np.maximum(np.log(q), -700.0)
        return np.clip(logit(q), -700.0, 700.0)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Predictions as probabilities (the inverse of :meth:`encode`)."""
        if self.domain != LOGIT:
            return np.asarray(z, dtype=np.float64)
        return softmax(z) if self.task == "multiclass" else sigmoid(z)

    def describe(self) -> str:
        text = DOMAIN_TEXT[self.domain]
        if self.task == "multiclass":
            text += f" over {self.classes} classes"
            text += ", class-index targets" if self.sparse else ""
        if self.task == "multilabel":
            text += f" for {self.classes} labels"
        if self.task == "segmentation":
            text += f" on {self.image[0]}x{self.image[1]} images"
        if self.positive_targets:
            text += ", positive targets"
        return text

    # layouts ------------------------------------------------------------------------------
    def neutral(self) -> float:
        """A prediction that says nothing: probability 0.5, logit or score 0."""
        return 0.5 if self.domain == PROB else 0.0

    def binary_calls(self, labels: np.ndarray, preds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stacked calls in which one binary prediction varies (``labels``, ``preds``: ``(B,)``).

        Binary: the call's only sample. Multilabel: label 0 varies, the other labels are fixed
        (targets alternate 0, 1, ...; predictions neutral). Segmentation: every pixel.
        """
        labels = np.asarray(labels, dtype=np.float64).reshape(-1)
        preds = np.asarray(preds, dtype=np.float64).reshape(-1)
        if self.task == "multilabel":
            batch = len(preds)
            y = np.tile((np.arange(self.classes) % 2).astype(np.float64), (batch, 1))
            p = np.full((batch, self.classes), self.neutral())
            y[:, 0], p[:, 0] = labels, preds
            return y[:, None, :], p[:, None, :]
        if self.task == "segmentation":
            shape = (len(preds), 1, *self.image)
            return (
                np.broadcast_to(labels[:, None, None, None], shape).copy(),
                np.broadcast_to(preds[:, None, None, None], shape).copy(),
            )
        return labels[:, None], preds[:, None]

    def class_calls(self, targets: np.ndarray, preds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stacked multiclass calls: ``targets`` ``(B, K)`` distributions (or ``(B,)`` labels),
        ``preds`` ``(B, K)`` in the prediction domain."""
        targets = np.asarray(targets)
        preds = np.asarray(preds, dtype=np.float64)
        if self.sparse:
            labels = targets if targets.ndim == 1 else np.argmax(targets, axis=-1)
            return labels.astype(np.int64)[:, None], preds[:, None, :]
        if targets.ndim == 1:
            targets = np.eye(self.classes)[targets.astype(np.int64)]
        return targets.astype(np.float64)[:, None, :], preds[:, None, :]

    def regression_calls(
        self, targets: np.ndarray, preds: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stacked regression calls: ``targets`` ``(B, n)`` against predictions ``(B, n)``."""
        targets = np.asarray(targets, dtype=np.float64)
        preds = np.asarray(preds, dtype=np.float64)
        return targets.reshape(len(targets), -1), preds.reshape(len(preds), -1)

    def typical(self, rng: np.random.Generator, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
        """A valid batch of ``n`` samples (one call), away from the domain's edges."""
        k = self.classes
        if self.task == "regression":
            if self.domain == POSITIVE:
                y = rng.lognormal(0.0, 0.5, n)
                return y, y * np.exp(rng.normal(0.0, 0.5, n))
            if self.positive_targets:
                y = rng.lognormal(0.0, 0.5, n)
                return y, y + rng.normal(0.0, 0.5, n)
            y = rng.normal(0.0, 1.0, n)
            return y, y + rng.normal(0.0, 1.0, n)
        if self.task == "multiclass":
            labels = np.arange(n) % k
            rng.shuffle(labels)
            q = 0.8 * rng.dirichlet(np.ones(k), n) + 0.2 / k
            preds = rng.normal(0.0, 2.0, (n, k)) if self.domain == SCORE else self.encode(q)
            y = labels.astype(np.int64) if self.sparse else np.eye(k)[labels]
            return y, preds
        shape = {"binary": (n,), "multilabel": (n, k), "segmentation": (n, *self.image)}[self.task]
        y = rng.integers(0, 2, shape).astype(np.float64)
        y.reshape(-1)[:2] = [0.0, 1.0]
        if self.domain == SCORE:
            return y, rng.normal(0.0, 2.0, shape)
        return y, self.encode(rng.uniform(0.05, 0.95, shape))

    def one_call(self, y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sample ``i`` of a typical batch as a call of batch size one."""
        return np.asarray(y)[None], np.asarray(p)[None]
