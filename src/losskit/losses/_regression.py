"""Regression losses (elementwise, like the source article's mean squared error)."""

from __future__ import annotations

from typing import Any

from .. import _inputs, _validate
from .._reduce import check_reduction, fused_reduction, reduce_loss
from .._registry import register


@register(
    "mean_squared_error",
    aliases=("mse", "mean_square_error", "l2", "squared_error"),
    family="regression",
    kind="elementwise",
    task="regression",
    domain="real",
    properties={"elicits": "mean", "convex": True, "bounded": False},
    references=("Gauss (1809); torch.nn.MSELoss; keras.losses.MeanSquaredError",),
)
def mean_squared_error(
    y_true: Any,
    y_pred: Any,
    *,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Squared error, elementwise; its ``"mean"`` is the mean squared error.

    .. math:: \ell = (\hat y - y)^2

    Unlike Keras it does not first average the last axis per sample: ``reduction="none"`` keeps
    the broadcast shape and ``"mean"`` averages every element (torch's ``mse_loss``). The
    minimiser of its expectation is the mean of ``y``.

    References: torch ``MSELoss``; Keras ``MeanSquaredError``.

    >>> import numpy as np, losskit as lk
    >>> float(lk.mean_squared_error(np.array([0.0, 1.0]), np.array([1.0, 3.0])))
    2.5
    """
    check_reduction(reduction, normalizer)
    backend, y_pred, _ = _inputs.prediction(y_pred)
    y_true = _inputs.targets(backend, y_true, y_pred)
    _validate.check_target_shape(backend.shape(y_true), backend.shape(y_pred))
    if _validate.checking_values(backend, y_pred):
        _validate.check_no_nan(backend, y_true, "y_true")
        _validate.check_no_nan(backend, y_pred, "y_pred")
    fused = fused_reduction(backend, y_pred, reduction, normalizer, sample_weight, mask)
    if fused != "none":
        return backend.squared_error(y_true, y_pred, fused)
    loss = backend.squared_error(y_true, y_pred)
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        mask=mask,
    )
