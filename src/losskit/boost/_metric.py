"""The loss as an evaluation metric on raw margins: ``Σ w·ℓ / Σ w`` in each library's form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._spec import Spec, as_class_indices


class Metric:
    """A loss as a boosting evaluation metric (built by :func:`losskit.boost.metric`).

    :meth:`value` is the library-independent core: the weighted mean loss of raw margins (the
    link applied as in :func:`losskit.boost.objective`). Lower is better.
    """

    library = ""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        return f"<{self.library} metric {self.name!r}>"

    def value(self, y_true: Any, margins: Any, sample_weight: Any = None) -> float:
        """``Σ w·ℓ / Σ w`` over the rows (0 when the weights sum to 0)."""
        total, weight = self._sums(y_true, margins, sample_weight)
        return total / weight if weight > 0 else 0.0

    def _sums(self, y_true: Any, margins: Any, sample_weight: Any) -> tuple[float, float]:
        z = np.asarray(margins, dtype=np.float64)
        labels = np.asarray(y_true, dtype=np.float64)
        if self.spec.structure == "class":
            if z.ndim != 2:
                raise ValueError(
                    f"the {self.name} metric is a class loss: it needs (N, K) margins; got "
                    f"shape {z.shape}"
                )
            labels = labels.reshape(-1)
            as_class_indices(labels, z.shape[1])
        elif labels.size == z.size:
            labels = labels.reshape(z.shape)
        losses = self.spec.losses(labels, z)
        w = _row_weights(sample_weight, losses)
        return float(np.sum(w * losses)), float(np.sum(w))

    @property
    def sklearn(self) -> Callable[..., Any]:
        """The scikit-learn-API form ``(y_true, y_pred, sample_weight=None) → value``."""

        def metric(y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
            return self.value(y_true, y_pred, sample_weight)

        metric.__name__ = self.name
        return metric


class XGBoostMetric(Metric):
    """``xgb.train(..., custom_metric=metric)``: ``(predt, DMatrix) → (name, value)``."""

    library = "xgboost"

    def __call__(self, predt: Any, dmatrix: Any) -> tuple[str, float]:
        weights = dmatrix.get_weight()
        return self.name, self.value(dmatrix.get_label(), predt, weights if weights.size else None)


class LightGBMMetric(Metric):
    """``lgb.train(..., feval=metric)``: ``(preds, Dataset) → (name, value, False)``."""

    library = "lightgbm"

    def __call__(self, preds: Any, dataset: Any) -> tuple[str, float, bool]:
        return self.name, self.value(dataset.get_label(), preds, dataset.get_weight()), False

    @property
    def sklearn(self) -> Callable[..., Any]:
        """``eval_metric=metric.sklearn``: ``(y_true, y_pred, weight) → (name, value, False)``."""

        def metric(y_true: Any, y_pred: Any, weight: Any = None) -> tuple[str, float, bool]:
            return self.name, self.value(y_true, y_pred, weight), False

        metric.__name__ = self.name
        return metric


class CatBoostMetric(Metric):
    """``eval_metric=metric``: ``evaluate`` returns ``(Σ w·ℓ, Σ w)``, ``get_final_error`` their
    ratio; lower is better."""

    library = "catboost"

    def is_max_optimal(self) -> bool:
        return False

    def evaluate(self, approxes: Any, target: Any, weight: Any) -> tuple[float, float]:
        columns = [np.asarray(a, dtype=np.float64) for a in approxes]
        margins = np.stack(columns, axis=-1) if self.spec.structure == "class" else columns[0]
        return self._sums(target, margins, weight)

    def get_final_error(self, error: float, weight: float) -> float:
        return error / weight if weight > 0 else 0.0

    @property
    def sklearn(self) -> Any:
        """CatBoost's scikit-learn API takes the metric object itself."""
        return self


LIBRARIES: dict[str, type[Metric]] = {
    "xgboost": XGBoostMetric,
    "lightgbm": LightGBMMetric,
    "catboost": CatBoostMetric,
}


def _row_weights(sample_weight: Any, losses: np.ndarray) -> np.ndarray:
    if sample_weight is None or np.size(sample_weight) == 0:
        return np.ones_like(losses)
    w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if w.shape[0] != losses.shape[0]:
        raise ValueError(f"{w.shape[0]} sample weights for {losses.shape[0]} rows")
    return w.reshape(w.shape + (1,) * (losses.ndim - 1)) * np.ones_like(losses)
