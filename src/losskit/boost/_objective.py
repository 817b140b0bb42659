"""The objective: a loss's per-row gradient and Hessian, in each library's calling convention."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _autodiff, _init
from ._closed import ClosedForm, closed_form
from ._spec import Spec, apply, as_class_indices

HESSIANS = ("exact", "fisher", "clip", "constant")
#: The floor of ``hessian="clip"`` unless ``hessian_floor=`` says otherwise.
DEFAULT_FLOOR = 1e-6

Derivatives = tuple[np.ndarray, np.ndarray, np.ndarray | None]


class Objective:
    """A loss as a gradient-boosting objective (built by :func:`losskit.boost.objective`).

    :meth:`grad_hess` is the library-independent core: float64 ``(gradient, hessian)`` of the
    loss at the margins, each multiplied by the sample weight. Subclasses add the calling
    convention of one library; :attr:`sklearn` is the scikit-learn-API form, :meth:`init_score`
    the best constant margin, :meth:`transform` the model's prediction (probability, mean, or
    the margin itself) from margins.
    """

    library = ""

    def __init__(self, spec: Spec, *, hessian: str, floor: float) -> None:
        self.spec = spec
        self.hessian = hessian
        self.floor = floor
        self._closed = _builtin_closed_form(spec)
        self._fisher = _fisher_rule(spec, self._closed) if hessian == "fisher" else None
        self._checked: set[tuple[Any, ...]] = set()
        self._warned_zero = False
        if hessian == "exact" and not self.convex:
            warnings.warn(_negative_hessian_message(spec, self._closed), UserWarning, stacklevel=4)

    # ------------------------------------------------------------------ description
    @property
    def name(self) -> str:
        """The loss's name."""
        return self.spec.name

    @property
    def closed_form(self) -> bool:
        """Whether the derivatives come from a closed form (else from autodiff)."""
        return self._closed is not None

    @property
    def convex(self) -> bool:
        """Whether the loss is known to be convex in the margin (its Hessian is never < 0)."""
        if self._closed is not None:
            return self._closed.convex
        spec = self.spec  # the registry's convexity is in y_pred: it carries over to the margin
        identity = spec.link == "identity" and "from_logits" not in spec.params
        return identity and spec.properties.get("convex") is True

    def __repr__(self) -> str:
        return f"<{self.library} objective {self.name!r}, hessian={self.hessian!r}>"

    # ------------------------------------------------------------------ the core
    def grad_hess(
        self, y_true: Any, margins: Any, sample_weight: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(gradient, hessian)`` of the loss with respect to the margins, float64, the shape of
        ``margins``, multiplied by ``sample_weight`` (per row) when given."""
        labels, z, weights = self._inputs(y_true, margins, sample_weight)
        self._check_labels(labels, z)
        g, h, _ = self._derivatives(labels, z, full=False)
        return _weighted(g, weights), _weighted(h, weights)

    def transform(self, margins: Any) -> np.ndarray:
        """The prediction for raw margins: probabilities (sigmoid, softmax) for classifiers, the
        mean (``exp``) for log-link losses, the margin itself otherwise."""
        return apply(self.spec.response, np.asarray(margins, dtype=np.float64))

    def init_score(
        self, y: Any, sample_weight: Any = None, *, num_classes: int | None = None
    ) -> Any:
        """The constant margin minimising the weighted mean loss on ``y``: a float, or a
        ``(K,)`` array for a class loss (``K`` is ``num_classes`` or ``max(y) + 1``)."""
        labels = np.asarray(y, dtype=np.float64).reshape(-1)
        if labels.size == 0:
            raise ValueError("init_score needs at least one target")
        weights = _weights(sample_weight, labels.shape[0])
        weights = np.ones(labels.shape[0]) if weights is None else weights
        if not np.sum(weights) > 0:
            raise ValueError("init_score needs a positive total sample weight")
        classes = 0
        if self.spec.structure == "class":
            classes = num_classes if num_classes is not None else int(np.max(labels)) + 1
            as_class_indices(labels, classes)
        self._check_labels(labels, np.zeros(labels.shape + ((classes,) if classes else ())))

        def derivatives(labels: np.ndarray, margins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            g, h, _ = self._raw(labels, margins, full=False)
            return g, h

        return _init.init_score(self.spec, self._closed, labels, weights, classes, derivatives)

    @property
    def sklearn(self) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
        """The scikit-learn-API form: ``(y_true, y_pred, sample_weight=None) → (grad, hess)``
        (XGBoost passes ``sample_weight`` by name, LightGBM as the third argument)."""

        def objective(
            y_true: Any, y_pred: Any, sample_weight: Any = None
        ) -> tuple[np.ndarray, np.ndarray]:
            return self.grad_hess(y_true, y_pred, sample_weight)

        objective.__name__ = self.name
        return objective

    # ------------------------------------------------------------------ internals
    def _inputs(
        self, y_true: Any, margins: Any, sample_weight: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        z = np.asarray(margins, dtype=np.float64)
        labels = np.asarray(y_true, dtype=np.float64)
        if self.spec.structure == "class":
            if z.ndim != 2 or z.shape[1] < 2:
                raise ValueError(
                    f"the {self.name} objective is a class loss: it needs (N, K) margins, one "
                    f"per class (set num_class / the number of classes); got shape {z.shape}"
                )
            labels = labels.reshape(-1)
            expected: tuple[int, ...] = z.shape[:1]
        else:
            expected = z.shape
            if labels.size == z.size:
                labels = labels.reshape(z.shape)
        if labels.shape != expected:
            raise ValueError(
                f"{labels.size} labels for margins of shape {z.shape}: the {self.name} objective "
                f"needs labels of shape {expected}"
            )
        return labels, z, _weights(sample_weight, z.shape[0])

    def _check_labels(self, labels: np.ndarray, margins: np.ndarray) -> None:
        """The loss's own value checks (label range, counts...), once per set of labels
        (recognised by shape, sum and range: boosters pass the same labels every round)."""
        bounds = (float(np.min(labels, initial=0.0)), float(np.max(labels, initial=0.0)))
        key = (labels.shape, float(np.sum(labels)), *bounds)
        if key in self._checked:
            return
        if self.spec.structure == "class":
            as_class_indices(labels, margins.shape[-1])
        try:
            self.spec.losses(labels, margins)
        except (ValueError, TypeError) as error:
            raise ValueError(f"the labels do not fit the {self.name} objective: {error}") from None
        if len(self._checked) >= 4096:  # CatBoost passes chunks of rows: keep the recent ones
            self._checked.clear()
        self._checked.add(key)

    def _raw(self, labels: np.ndarray, margins: np.ndarray, *, full: bool) -> Derivatives:
        """The exact gradient, Hessian diagonal and (``full``) per-row Hessian, unweighted."""
        spec = self.spec
        classes = margins.shape[-1] if spec.structure == "class" else 0
        targets = spec.targets_for(labels, classes)
        if self._closed is None:
            return _autodiff.derivatives(spec, targets, margins, full=full)
        if spec.structure == "class" and spec.targets == "labels":
            targets = np.eye(classes)[targets]
        g, h = self._closed.derivatives(targets, margins, spec.settings)
        whole = None
        if full and spec.structure == "class":
            assert self._closed.full is not None
            whole = self._closed.full(targets, margins, spec.settings)
        return g, h, whole

    def _derivatives(self, labels: np.ndarray, margins: np.ndarray, *, full: bool) -> Derivatives:
        """Gradient and the Hessian of the chosen ``hessian`` mode (unweighted)."""
        if self.hessian == "exact":
            g, h, whole = self._raw(labels, margins, full=full)
            if not self._warned_zero and h.size and not np.any(h):
                self._warned_zero = True
                warnings.warn(
                    f"the exact Hessian of {self.name} is 0 on every row (a piecewise-linear "
                    "loss): boosters then grow no tree; pass hessian='constant'",
                    UserWarning,
                    stacklevel=4,
                )
            return g, h, whole
        if self.hessian == "constant":
            g, _, _ = self._raw(labels, margins, full=False)
            h = np.ones_like(g)
        elif self.hessian == "clip":
            g, h, _ = self._raw(labels, margins, full=False)
            h = np.maximum(h, self.floor)
        else:
            g, _, _ = self._raw(labels, margins, full=False)
            h = self._expected_hessian(labels, margins)
        whole = _diagonal_matrices(h) if full and self.spec.structure == "class" else None
        return g, h, whole

    def _expected_hessian(self, labels: np.ndarray, margins: np.ndarray) -> np.ndarray:
        """The Hessian averaged over targets drawn from the model's own prediction."""
        spec = self.spec
        if self._fisher == "closed":
            assert self._closed is not None and self._closed.fisher is not None
            classes = margins.shape[-1] if spec.structure == "class" else 0
            targets = spec.targets_for(labels, classes)
            if spec.structure == "class" and spec.targets == "labels":
                targets = np.eye(classes)[targets]
            return self._closed.fisher(targets, margins, spec.settings)
        if self._fisher == "mean":
            return self._raw(apply(spec.response, margins), margins, full=False)[1]
        p = apply(spec.response, margins)
        if self._fisher == "binary":
            h1 = self._raw(np.ones_like(labels), margins, full=False)[1]
            h0 = self._raw(np.zeros_like(labels), margins, full=False)[1]
            return p * h1 + (1.0 - p) * h0
        expected = np.zeros_like(margins)
        for k in range(margins.shape[-1]):
            expected += p[:, k : k + 1] * self._raw(np.full_like(labels, k), margins, full=False)[1]
        return expected


# ---------------------------------------------------------------------- libraries
class XGBoostObjective(Objective):
    """``xgb.train(params, dtrain, obj=objective)``: ``(predt, dtrain) → (grad, hess)``; labels
    and weights from the DMatrix; ``(N, K)`` margins for a class loss (set ``num_class``)."""

    library = "xgboost"

    def __call__(self, predt: Any, dtrain: Any) -> tuple[np.ndarray, np.ndarray]:
        weights = dtrain.get_weight()
        return self.grad_hess(dtrain.get_label(), predt, weights if np.size(weights) else None)


class LightGBMObjective(Objective):
    """``params["objective"] = objective`` for ``lgb.train``: ``(preds, Dataset) → (grad,
    hess)``; labels and weights from the Dataset; ``(N, K)`` margins for a class loss."""

    library = "lightgbm"

    def __call__(self, preds: Any, train_data: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.grad_hess(train_data.get_label(), preds, train_data.get_weight())


class CatBoostObjective(Objective):
    """``CatBoostRegressor(loss_function=objective)``: ``calc_ders_range`` returns, per row,
    CatBoost's *negated* derivatives ``(-grad·w, -hess·w)``."""

    library = "catboost"

    def calc_ders_range(
        self, approxes: Any, targets: Any, weights: Any
    ) -> list[tuple[float, float]]:
        g, h = self.grad_hess(targets, approxes, weights)
        return list(zip((-g).tolist(), (-h).tolist(), strict=True))

    @property
    def sklearn(self) -> Any:
        """CatBoost's scikit-learn API takes the objective object itself."""
        return self


class CatBoostMultiObjective(CatBoostObjective):
    """``CatBoostClassifier(loss_function=objective, classes_count=K)`` for a class loss
    (CatBoost needs ``classes_count`` to know a custom objective's dimension):
    ``calc_ders_multi`` returns one row's negated gradient (K) and Hessian (K × K: the full
    Hessian with ``hessian="exact"``, as CatBoost's own MultiClass uses; diagonal otherwise).
    CatBoost calls it once per row, so an objective differentiated by autodiff is slow here."""

    def calc_ders_multi(
        self, approxes: Any, target: Any, weight: Any
    ) -> tuple[list[float], list[list[float]]]:
        margins = np.asarray(approxes, dtype=np.float64).reshape(1, -1)
        labels = np.array([float(target)])
        as_class_indices(labels, margins.shape[1])
        g, _, whole = self._derivatives(labels, margins, full=True)
        w = 1.0 if weight is None else float(weight)
        assert whole is not None
        return (-w * g[0]).tolist(), (-w * whole[0]).tolist()


LIBRARIES: dict[str, type[Objective]] = {
    "xgboost": XGBoostObjective,
    "lightgbm": LightGBMObjective,
    "catboost": CatBoostObjective,
}


def make(spec: Spec, library: str, hessian: str, floor: float) -> Objective:
    cls = LIBRARIES[library]
    if cls is CatBoostObjective and spec.structure == "class":
        cls = CatBoostMultiObjective
    return cls(spec, hessian=hessian, floor=floor)


# ---------------------------------------------------------------------- helpers
def _builtin_closed_form(spec: Spec) -> ClosedForm | None:
    """The closed form of a catalogue loss (a user loss registered under a catalogue name with
    ``replace=True`` is differentiated as written)."""
    if not getattr(spec.function, "__module__", "").startswith("losskit.losses"):
        return None
    return closed_form(spec.name, spec.settings)


def _fisher_rule(spec: Spec, closed: ClosedForm | None) -> str:
    if closed is not None and closed.fisher is not None:
        return "closed"
    proper = spec.properties.get("proper") is True
    mean = spec.structure == "elementwise" and spec.properties.get("elicits") == "mean"
    if mean and spec.response in ("identity", "exp"):
        return "mean"
    if proper and spec.structure == "elementwise" and spec.response == "sigmoid":
        return "binary"
    if proper and spec.structure == "class" and spec.response == "softmax":
        return "class"
    raise ValueError(
        f"hessian='fisher' needs a loss with an expected Hessian: a proper scoring rule for "
        f"classes or a loss eliciting the mean; {spec.name} is neither — pass hessian='clip' "
        "or hessian='constant'"
    )


def _negative_hessian_message(spec: Spec, closed: ClosedForm | None) -> str:
    try:
        _fisher_rule(spec, closed)
        advice = "pass hessian='fisher' (the expected Hessian) or hessian='clip'"
    except ValueError:
        advice = "pass hessian='clip' (floored at hessian_floor) or hessian='constant'"
    return (
        f"hessian='exact' with {spec.name}: the loss is not known to be convex in the margin, "
        f"so its exact Hessian can be negative (XGBoost and LightGBM then step the wrong way or "
        f"clip it silently); {advice}"
    )


def _weights(sample_weight: Any, rows: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if w.size == 0:
        return None
    if w.shape[0] != rows:
        raise ValueError(f"{w.shape[0]} sample weights for {rows} rows")
    if np.any(~(w >= 0)):
        raise ValueError("sample weights must be non-negative and not NaN")
    return w


def _weighted(x: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    if weights is None:
        return x
    return x * weights.reshape(weights.shape + (1,) * (x.ndim - 1))


def _diagonal_matrices(h: np.ndarray) -> np.ndarray:
    return h[:, :, None] * np.eye(h.shape[-1])
