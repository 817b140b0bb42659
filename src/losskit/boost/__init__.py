r"""Any catalogue loss as a gradient-boosting objective for XGBoost, LightGBM and CatBoost.

A booster grows each tree from the per-row gradient :math:`g_i = \partial \ell_i / \partial m_i`
and Hessian :math:`h_i = \partial^2 \ell_i / \partial m_i^2` of the loss at the current raw
margins :math:`m_i`, and sets a leaf to :math:`-\sum g_i / (\sum h_i + λ)`.
:func:`objective` computes both for a loss of the catalogue (or an ``@lk.loss`` function), in
float64, in the calling convention of the library:

- **derivatives of the loss as defined**, no hidden factors: ``mean_squared_error`` gives
  :math:`g = 2(m - y)`, :math:`h = 2` where XGBoost's ``reg:squarederror`` uses
  :math:`m - y` and 1 (the trees agree once the built-in's λ, ``min_child_weight`` and ``gamma``
  are doubled, or with λ = 0);
- **link**: a loss with ``from_logits`` is called with ``from_logits=True`` (the margin is the
  logit; a class loss takes ``(N, K)`` margins); a loss predicting a positive quantity (Poisson,
  Tweedie, gamma-type) takes :math:`\exp(m)`; any other loss takes the margin itself (so
  ``poisson_nll`` takes the log-rate it already expects). A class loss whose target is a
  distribution receives one-hot rows built from the integer labels;
- **weights** multiply both :math:`g` and :math:`h` (the libraries leave a custom objective's
  output unweighted);
- ``hessian=``: ``"exact"`` (the true second derivative; it warns once, at construction, when
  the loss is not known to be convex in the margin), ``"fisher"`` (the expected Hessian under the
  model's own prediction: :math:`p(1-p)` for binary cross-entropy, :math:`μ` for Poisson,
  :math:`2μ^{2-p}` for the Tweedie deviance, 2 for squared error), ``"clip"``
  (:math:`\max(h, \text{floor})`, ``hessian_floor=`` defaulting to 1e-6), ``"constant"``
  (:math:`h = 1`, for absolute or pinball losses whose Hessian is 0 almost everywhere).

Common losses have closed forms (one NumPy pass, no framework imported); every other loss is
differentiated automatically with PyTorch (``torch.func``) or JAX, whichever is installed.
Losses that are not a sum of per-row terms of one target and one margin (``info_nce``, ``ctc``,
overlap and ranking losses...) are refused with the reason.

:meth:`Objective.init_score` is the constant margin minimising the loss (the mean, median,
quantile, ``logit`` of the mean, log of the mean, log class frequencies... or a numerical
minimiser), :meth:`Objective.transform` turns margins into predictions, and :func:`metric`
gives the matching evaluation metric. Per library:

- XGBoost: ``xgb.train(params, dtrain, obj=objective, custom_metric=metric)`` with
  ``params["base_score"] = objective.init_score(y)`` (a margin, for a custom objective; for K
  classes ``DMatrix(..., base_margin=np.tile(start, (N, 1)))``), or
  ``XGBRegressor(objective=objective.sklearn)``;
- LightGBM: ``params["objective"] = objective``, ``feval=metric``,
  ``Dataset(..., init_score=np.full(N, start))`` (its raw predictions leave the init score
  out: add it back), or ``LGBMRegressor(objective=objective.sklearn)``;
- CatBoost: ``CatBoostRegressor(loss_function=objective, eval_metric=metric)`` with
  ``Pool(..., baseline=...)``; a class loss needs ``classes_count=K``.

References: Friedman (2001), *Greedy function approximation: a gradient boosting machine*;
Chen & Guestrin (2016), *XGBoost* (the second-order leaf); Ke et al. (2017), *LightGBM*;
Prokhorenkova et al. (2018), *CatBoost*.

>>> import numpy as np, losskit as lk
>>> mse = lk.boost.objective("mse", library="xgboost")
>>> grad, hess = mse.grad_hess(np.array([1.0, 2.0]), np.array([1.5, 0.0]))
>>> grad.tolist(), hess.tolist()
([1.0, -4.0], [2.0, 2.0])
>>> lk.boost.objective("poisson", library="lightgbm").init_score(np.array([1.0, 3.0]))
0.693147...

With XGBoost (the labels and weights come from the DMatrix; ``base_score`` is a margin for a
custom objective):

>>> import xgboost as xgb
>>> X = np.arange(40.0).reshape(20, 2)
>>> y = (X[:, 0] > 18).astype(float)
>>> bce = lk.boost.objective("binary_crossentropy", library="xgboost")
>>> booster = xgb.train({"base_score": bce.init_score(y)}, xgb.DMatrix(X, label=y), 10,
...                     obj=bce, custom_metric=lk.boost.metric("bce", library="xgboost"))
>>> p = bce.transform(booster.predict(xgb.DMatrix(X), output_margin=True))
>>> bool(np.all((p > 0.5) == (y == 1)))
True
"""

from __future__ import annotations

import math
from typing import Any

from .. import _validate
from . import _metric, _objective, _spec
from ._metric import Metric
from ._objective import DEFAULT_FLOOR, HESSIANS, Objective
from ._spec import NotAnObjective

__all__ = ["HESSIANS", "LIBRARIES", "Metric", "NotAnObjective", "Objective", "metric", "objective"]

#: The boosting libraries an objective or metric can be built for.
LIBRARIES = ("xgboost", "lightgbm", "catboost")


def objective(loss: Any, *, library: str, hessian: str = "exact", **params: Any) -> Objective:
    """The loss ``loss`` as a gradient-boosting objective for ``library``.

    ``loss`` is a registered name, an ``lk.Loss`` or an ``@lk.loss`` function; ``params`` are
    the loss's own parameters, named as in the catalogue (``delta=`` for Huber, ``quantiles=``
    for pinball, ``power=`` for Tweedie...), plus ``hessian_floor=`` for ``hessian="clip"``.
    The result is what ``library`` expects (see the module docstring); ``.sklearn`` is its
    scikit-learn-API form, ``.init_score(y, sample_weight=None)`` the best constant margin,
    ``.grad_hess(y, margins, sample_weight=None)`` the weighted float64 derivatives, and
    ``.transform(margins)`` the prediction (probability, mean, or the margin itself).

    >>> import numpy as np, losskit as lk
    >>> obj = lk.boost.objective("bce", library="lightgbm")
    >>> g, h = obj.grad_hess(np.array([1.0, 0.0]), np.array([0.0, 0.0]), np.array([1.0, 3.0]))
    >>> g.tolist(), h.tolist()
    ([-0.5, 1.5], [0.25, 0.75])
    >>> lk.boost.objective("info_nce", library="xgboost")
    Traceback (most recent call last):
    ...
    losskit.boost.NotAnObjective: info_nce cannot be a boosting objective: it compares rows ...
    """
    _validate.check_choice("library", library, LIBRARIES)
    _validate.check_choice("hessian", hessian, HESSIANS)
    floor = _floor(hessian, params.pop("hessian_floor", None))
    spec = _spec.resolve(loss, params)
    return _objective.make(spec, library, hessian, floor)


def metric(loss: Any, *, library: str, **params: Any) -> Metric:
    """The loss ``loss`` as an evaluation metric for ``library``: the weighted mean loss
    ``Σ w·ℓ / Σ w`` of raw margins (the link applied as in :func:`objective`; lower is better).

    XGBoost: ``custom_metric=metric``, ``(predt, DMatrix) → (name, value)``; LightGBM:
    ``feval=metric``, ``(preds, Dataset) → (name, value, False)``; CatBoost:
    ``eval_metric=metric`` (``evaluate``, ``get_final_error``, ``is_max_optimal``).
    ``.sklearn`` is the scikit-learn-API form and ``.value(y, margins, sample_weight=None)``
    the number itself.

    >>> import numpy as np, losskit as lk
    >>> m = lk.boost.metric("poisson", library="catboost")
    >>> round(m.value(np.array([2.0, 0.0]), np.array([0.0, 0.0])), 6)
    1.0
    """
    _validate.check_choice("library", library, LIBRARIES)
    spec = _spec.resolve(loss, params)
    return _metric.LIBRARIES[library](spec)


def _floor(hessian: str, floor: Any) -> float:
    if floor is None:
        return DEFAULT_FLOOR
    if hessian != "clip":
        raise TypeError(f"hessian_floor= applies to hessian='clip'; got hessian={hessian!r}")
    return _validate.check_range("hessian_floor", floor, 0.0, math.inf, high_open=True)
