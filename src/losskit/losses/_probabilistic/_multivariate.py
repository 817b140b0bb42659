"""Multivariate ensemble scores: the energy score and the variogram score.

Both take an ensemble of M members of a V-dimensional forecast (members on ``m_axis``,
variables on ``v_axis``, as scoringrules' ``es_ensemble`` / ``vs_ensemble``) and the observed
vector; the unreduced loss has the ensemble's shape without those two axes.
"""

from __future__ import annotations

import math
from typing import Any

from ... import _inputs, _validate
from ..._backend import ArrayAPIBackend
from ..._reduce import check_reduction
from ..._registry import register
from .._common import finish
from ._base import FAMILY

_ENERGY_ESTIMATORS = ("nrg", "fair", "akr", "akr_circperm")
_VARIOGRAM_ESTIMATORS = ("nrg", "fair")


# ---------------------------------------------------------------------- energy score
@register(
    "energy_score",
    aliases=("es_ensemble",),
    kind="axis",
    task="regression",
    domain="real",
    properties={"proper": True, "strictly_proper": True, "bounded": False},
    references=(
        "Gneiting & Raftery (2007), Strictly Proper Scoring Rules, Prediction, and Estimation; "
        "Zamo & Naveau (2018), Estimation of the Continuous Ranked Probability Score with "
        "Limited Information; scoringrules.es_ensemble",
    ),
    **FAMILY,
)
def energy_score(
    y_true: Any,
    ensemble: Any,
    *,
    m_axis: int = -2,
    v_axis: int = -1,
    estimator: str = "nrg",
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Energy score of a multivariate ensemble: the CRPS's generalisation to vectors.

    .. math:: \ell = \frac1M\sum_m \lVert x_m - y\rVert
              - \frac{1}{2M^2}\sum_{m,m'} \lVert x_m - x_{m'}\rVert \quad(\text{``nrg''})

    with the Euclidean norm over the variables. ``"nrg"`` (default) scores the ensemble's
    empirical distribution; ``"fair"`` divides the spread by ``M(M - 1)`` instead (unbiased for
    the distribution the members are drawn from; needs two members); ``"akr"`` and
    ``"akr_circperm"`` (Zamo & Naveau 2018) estimate the spread from the ``M`` pairs
    ``(x_m, x_{m-s})`` only, ``s = 1`` or ``⌊M/2⌋``: O(M·V) memory instead of O(M²·V), at
    the price of a noisier estimate. Each is scoringrules' ``es_ensemble(obs, fct, m_axis,
    v_axis, estimator=...)`` (formerly ``energy_score``). With one variable ``"nrg"`` and
    ``"fair"`` are :func:`crps_ensemble`; with one member, ``||x - y||``.

    ``ensemble`` holds the members on ``m_axis`` and the variables on ``v_axis``; ``y_true``
    has its shape without ``m_axis`` (or with size 1 there), ``v_axis`` counting the axes of
    ``ensemble``. Memory: ``"nrg"`` and ``"fair"`` build the M × M member differences, O(M²·V)
    per example (torch eager: ``cdist``, O(M²)). The norm is taken safely: where two members
    coincide (always on the diagonal) its gradient is 0, never NaN. Strictly proper. Reference:
    Gneiting & Raftery (2007).

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[0.0, 0.0]])
    >>> x = np.array([[[3.0, 4.0], [0.0, 0.0]]])  # two members of a 2-vector
    >>> round(float(lk.energy_score(y, x)), 6)
    1.25
    """
    _validate.check_choice("estimator", estimator, _ENERGY_ESTIMATORS)
    least = 2 if estimator == "fair" else 1
    backend, y, x, _ = _members(
        "energy_score", y_true, ensemble, m_axis, v_axis, least, reduction, normalizer
    )
    xp = backend.xp
    size = backend.shape(x)[-2]
    norm = _norm_of(backend)
    error = xp.mean(norm(x - xp.expand_dims(y, axis=-2)), axis=-1)
    if estimator in ("akr", "akr_circperm"):
        shift = 1 if estimator == "akr" else size // 2
        spread = xp.mean(norm(x - _roll_members(xp, x, shift)), axis=-1)
    else:
        pairs = size * (size - 1) if estimator == "fair" else size * size
        spread = xp.sum(_member_distances(backend, x, norm), axis=(-2, -1)) / float(pairs)
    return finish(backend, error - 0.5 * spread, sample_weight, mask, reduction, normalizer)


def _norm_of(backend: ArrayAPIBackend) -> Any:
    """The backend's Euclidean norm over the last axis (torch, JAX: a fused kernel, a single
    guard in the gradient), else :func:`_norm`; gradient 0 at a zero vector either way."""
    fused = getattr(backend, "euclidean_norm", None)
    return fused if fused is not None else lambda z: _norm(backend.xp, z)


def _member_distances(backend: ArrayAPIBackend, x: Any, norm: Any) -> Any:
    """``‖x_m - x_m'‖`` of all member pairs, ``(..., M, M)``: the backend's pairwise distances
    where it has them (torch: ``cdist``, without the ``(..., M, M, V)`` differences), else the
    norm of the broadcast differences."""
    fused = getattr(backend, "pairwise_distances", None)
    distances = fused(x) if fused is not None else None
    if distances is not None:
        return distances
    xp = backend.xp
    return norm(xp.expand_dims(x, axis=-2) - xp.expand_dims(x, axis=-3))


def _norm(xp: Any, z: Any) -> Any:
    """The Euclidean norm over the last axis, with gradient 0 (not NaN) at ``z = 0``."""
    squares = xp.sum(z * z, axis=-1)
    positive = squares > 0
    safe = xp.where(positive, squares, xp.ones_like(squares))
    return xp.where(positive, xp.sqrt(safe), xp.zeros_like(squares))


def _roll_members(xp: Any, x: Any, shift: int) -> Any:
    """The members (axis -2) rolled by ``shift``: member ``m`` takes member ``m - shift``."""
    if shift == 0:
        return x
    return xp.concat([x[..., -shift:, :], x[..., :-shift, :]], axis=-2)


# ---------------------------------------------------------------------- variogram score
@register(
    "variogram_score",
    aliases=("vs_ensemble",),
    kind="axis",
    task="regression",
    domain="real",
    properties={"proper": True, "bounded": False},
    references=(
        "Scheuerer & Hamill (2015), Variogram-Based Proper Scoring Rules for Probabilistic "
        "Forecasts of Multivariate Quantities; scoringrules.vs_ensemble",
    ),
    **FAMILY,
)
def variogram_score(
    y_true: Any,
    ensemble: Any,
    *,
    w: Any = None,
    m_axis: int = -2,
    v_axis: int = -1,
    p: float = 0.5,
    estimator: str = "nrg",
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Variogram score of order ``p`` of a multivariate ensemble.

    .. math:: \ell = \sum_{i,j} w_{ij}\Bigl(|y_i - y_j|^p
              - \frac1M\sum_m |x_{m,i} - x_{m,j}|^p\Bigr)^2 \quad(\text{``nrg''})

    over all ordered pairs of variables ``(i, j)`` (each unordered pair counts twice, as in
    scoringrules). It compares the ensemble's p-variogram with the observation's, so it
    sees the dependence between variables that the energy score hardly does; it is proper,
    not strictly (it is blind to a common shift of all variables). ``"fair"`` subtracts the
    members' sampling noise: per pair, ``(γ_y - γ̄)² - s²/M`` with ``s²`` the unbiased variance
    of the members' ``|x_{m,i} - x_{m,j}|^p`` (algebraically scoringrules' ``"fair"``; needs
    two members). ``w`` holds non-negative pair weights, shape ``(V, V)`` or broadcasting to the
    loss's shape followed by ``(V, V)`` (default: all ones). ``p > 0`` (default 0.5, as
    scoringrules and Scheuerer & Hamill). Each is scoringrules' ``vs_ensemble(obs, fct, w,
    m_axis, v_axis, p=..., estimator=...)`` (formerly ``variogram_score``).

    Shapes as :func:`energy_score`. Memory: O(M·V²) per example (the members' pairwise
    differences of variables). ``|d|^p`` is taken safely: its gradient at ``d = 0`` (always on
    the diagonal ``i = j``) is 0, never inf or NaN. Reference: Scheuerer & Hamill (2015).

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[0.0, 1.0]])
    >>> x = np.array([[[0.0, 4.0], [0.0, 0.0]]])  # two members of a 2-vector
    >>> round(float(lk.variogram_score(y, x, p=1.0)), 6)
    2.0
    """
    _validate.check_choice("estimator", estimator, _VARIOGRAM_ESTIMATORS)
    p = _validate.check_range("p", p, 0.0, math.inf, low_open=True, high_open=True)
    least = 2 if estimator == "fair" else 1
    backend, y, x, checking = _members(
        "variogram_score", y_true, ensemble, m_axis, v_axis, least, reduction, normalizer
    )
    xp = backend.xp
    observed = _variogram(backend, y, p)  # (..., V, V)
    members = _variogram(backend, x, p)  # (..., M, V, V)
    size = backend.shape(x)[-2]
    # a sum and a division of the (..., V, V) sum, not a mean: torch's mean divides the
    # broadcast gradient at full (..., M, V, V) size in the backward pass
    mean = xp.sum(members, axis=-3) / float(size)
    per_pair = (observed - mean) ** 2
    if estimator == "fair":
        spread = xp.sum((members - xp.expand_dims(mean, axis=-3)) ** 2, axis=-3)
        per_pair = per_pair - spread / float(size * (size - 1))
    if w is not None:
        per_pair = _pair_weights(backend, w, per_pair, checking) * per_pair
    loss = xp.sum(per_pair, axis=(-2, -1))
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


def _variogram(backend: ArrayAPIBackend, v: Any, p: float) -> Any:
    """``|v_i - v_j|^p`` over the last axis (shape ``(..., V, V)``), with gradient 0 at 0."""
    xp = backend.xp
    return backend.abs_power(xp.expand_dims(v, axis=-1) - xp.expand_dims(v, axis=-2), p)


def _pair_weights(backend: ArrayAPIBackend, w: Any, per_pair: Any, checking: bool) -> Any:
    """``w`` on ``per_pair``'s backend and dtype, checked to broadcast to it and be ≥ 0."""
    w = backend.asarray(w, per_pair, "w")
    if not (backend.is_floating(w) or backend.is_integral(w)):
        raise TypeError(f"w must be a numeric array; got dtype {w.dtype}")
    w = backend.astype(w, per_pair.dtype)
    shape, target = backend.shape(w), backend.shape(per_pair)
    joint = _validate.broadcast_shapes(shape, target)
    if len(shape) < 2 or joint is None or not _validate.same_shape(joint, target):
        raise ValueError(
            f"w of shape {shape} must be the pair weights (V, V) = {target[-2:]}, or broadcast "
            f"to the loss's shape followed by them, {target}"
        )
    if checking:

        def negative(low: Any, _: Any) -> Any:
            return (low < 0) | (low != low)  # NaN fails too

        def describe(bounds: Any) -> str:
            found = "" if bounds is None else f"; got a minimum of {bounds[0]:g}"
            return f"w must be non-negative{found}"

        _validate.require_bounds(backend, w, (negative, describe))
    return w


# ---------------------------------------------------------------------- inputs
def _members(
    name: str,
    y_true: Any,
    ensemble: Any,
    m_axis: int,
    v_axis: int,
    least: int,
    reduction: str,
    normalizer: Any,
) -> tuple[ArrayAPIBackend, Any, Any, bool]:
    """Backend, the observation ``(..., V)`` and the members ``(..., M, V)``, and whether value
    checks run."""
    check_reduction(reduction, normalizer)
    backend, ensemble, _ = _inputs.prediction(ensemble, "ensemble")
    ndim = ensemble.ndim
    if ndim < 2:
        raise ValueError(
            f"{name} needs an ensemble with a member axis and a variable axis; got shape "
            f"{backend.shape(ensemble)}"
        )
    m = _validate.check_axis(m_axis, ndim, name="m_axis")
    v = _validate.check_axis(v_axis, ndim, name="v_axis")
    if m == v:
        raise ValueError(f"m_axis and v_axis must be different axes of the ensemble; both are {m}")
    shape = backend.shape(ensemble)
    if shape[m] is None or shape[v] is None:
        raise ValueError(f"{name} needs the member and variable axes to have static sizes")
    if shape[m] < least:
        raise ValueError(
            f"{name} needs at least {least} member(s) on m_axis={m_axis}; got {shape[m]}"
        )
    x = backend.moveaxis(backend.moveaxis(ensemble, v, -1), m if m < v else m - 1, -2)
    y = _inputs.targets(backend, y_true, ensemble)
    own = backend.shape(y)
    if len(own) == ndim and own[m] == 1:  # the member axis kept with size 1
        y = backend.xp.squeeze(y, axis=m)
        own = backend.shape(y)
    expected = shape[:m] + shape[m + 1 :]
    joint = _validate.broadcast_shapes(own, expected)
    if len(own) != len(expected) or joint is None or not _validate.same_shape(joint, expected):
        raise ValueError(
            f"y_true of shape {own} does not match the ensemble of shape {shape} with members on "
            f"m_axis={m_axis}: y_true must have the ensemble's shape without that axis, {expected}"
        )
    y = backend.moveaxis(y, v if v < m else v - 1, -1)
    if backend.shape(y) != backend.shape(x[..., 0, :]):
        y = backend.broadcast_like(y, x[..., 0, :])
    checking = _validate.checking_values(backend, ensemble)
    if checking:
        _validate.check_no_nan(backend, y, "y_true")
        _validate.check_no_nan(backend, x, "ensemble")
    return backend, y, x, checking
