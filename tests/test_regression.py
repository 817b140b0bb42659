"""Regression losses: values and gradients against float64 formulas written here, parity with
torch / Keras / optax / scikit-learn, extremes, parameter validation and aliases.

Every formula below is written from the mathematics of the loss (not from losskit's code), in
float64 (``np.longdouble`` where a closed form cancels), on the inputs *after* rounding to the
tested dtype. Values are compared with ``reduction="none"`` at the contract's exactness
(``tolerance(dtype)``); gradients of the summed loss with respect to ``y_pred`` on every autodiff
backend, away from kinks (where the loss is not differentiable only finiteness is required).

Anchor conventions handled here:

* Keras averages the last axis per sample: Keras's value is losskit's ``reduction="none"``
  averaged over the last axis (``cosine_similarity`` already reduces it).
* ``keras.losses.poisson`` uses ``log(ŷ + 1e-7)``: compared in the interior with rtol 1e-5.
* ``optax.cosine_distance`` is ``1 + cosine_similarity`` (losskit's, Keras's sign);
  ``torch.nn.functional.cosine_similarity`` is ``-cosine_similarity`` away from zero vectors.
* sklearn's ``mean_absolute_percentage_error`` is a fraction, losskit's a percentage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import losskit as lk
import reference as ref
from conftest import get_backend, tolerance

LOG_FLOOR = -100.0
#: Gradients: relative 1e-6 (float32) / 1e-10 (float64), with an absolute floor for the
#: entries whose exact gradient is 0 or the difference of two O(1) terms.
GRAD_TOL = {"float32": {"rtol": 1e-6, "atol": 1e-6}, "float64": {"rtol": 1e-10, "atol": 1e-12}}
#: Anchor libraries compute in the input dtype with their own operation order.
ANCHOR_TOL = {"float32": {"rtol": 1e-5, "atol": 1e-6}, "float64": {"rtol": 1e-10, "atol": 1e-12}}


def f64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def rounded(x: Any, dtype: str) -> np.ndarray:
    """The float64 value of ``x`` after rounding to ``dtype`` (what losskit is given)."""
    return np.asarray(x, dtype=np.float64).astype(dtype).astype(np.float64)


def total(backend: Any, x: Any) -> Any:
    """Sum of a native array (TF tensors have no ``.sum``)."""
    if backend.name == "tensorflow":
        import tensorflow as tf

        return tf.reduce_sum(x)
    return x.sum()


# ====================================================================== float64 formulas
def mae(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.abs(p - y)


def mae_grad(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.sign(p - y)


def mape(y: np.ndarray, p: np.ndarray, epsilon: float = 1e-7) -> np.ndarray:
    return 100.0 * np.abs(y - p) / np.maximum(np.abs(y), epsilon)


def mape_grad(y: np.ndarray, p: np.ndarray, epsilon: float = 1e-7) -> np.ndarray:
    return 100.0 * np.sign(p - y) / np.maximum(np.abs(y), epsilon)


def msle(y: np.ndarray, p: np.ndarray, epsilon: float = 1e-7) -> np.ndarray:
    return (np.log1p(np.maximum(p, epsilon)) - np.log1p(np.maximum(y, epsilon))) ** 2


def msle_grad(y: np.ndarray, p: np.ndarray, epsilon: float = 1e-7) -> np.ndarray:
    diff = np.log1p(np.maximum(p, epsilon)) - np.log1p(np.maximum(y, epsilon))
    return np.where(p > epsilon, 2.0 * diff / (1.0 + p), 0.0)


def huber(y: np.ndarray, p: np.ndarray, delta: float = 1.0) -> np.ndarray:
    d = p - y
    a = np.abs(d)
    return np.where(a <= delta, 0.5 * d**2, delta * (a - 0.5 * delta))


def huber_grad(y: np.ndarray, p: np.ndarray, delta: float = 1.0) -> np.ndarray:
    d = p - y
    return np.where(np.abs(d) <= delta, d, delta * np.sign(d))


def smooth_l1(y: np.ndarray, p: np.ndarray, beta: float = 1.0) -> np.ndarray:
    d = p - y
    a = np.abs(d)
    if beta == 0:
        return a
    return np.where(a < beta, 0.5 * d**2 / beta, a - 0.5 * beta)


def smooth_l1_grad(y: np.ndarray, p: np.ndarray, beta: float = 1.0) -> np.ndarray:
    d = p - y
    if beta == 0:
        return np.sign(d)
    return np.where(np.abs(d) < beta, d / beta, np.sign(d))


def log_cosh(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``log cosh d``: ``log1p(2 sinh²(d/2))`` for |d| < 1, ``|d| + log1p(e^{-2|d|}) - log 2``."""
    a = np.abs(p - y)
    small = a < 1.0
    near = np.log1p(2.0 * np.sinh(np.where(small, a, 0.0) / 2.0) ** 2)
    far = a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0)
    return np.where(small, near, far)


def log_cosh_grad(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.tanh(p - y)


def pinball(y: np.ndarray, p: np.ndarray, quantiles: Any = 0.5) -> np.ndarray:
    q = f64(quantiles)
    if q.ndim == 1 and np.shape(y)[-1:] != (1,):
        y = y[..., None]
    d = y - p
    return np.maximum(q * d, (q - 1.0) * d)


def pinball_grad(y: np.ndarray, p: np.ndarray, quantiles: Any = 0.5) -> np.ndarray:
    q = f64(quantiles)
    if q.ndim == 1 and np.shape(y)[-1:] != (1,):
        y = y[..., None]
    d = np.broadcast_to(y - p, np.broadcast_shapes(np.shape(y), np.shape(p)))
    return np.where(d > 0, -q, 1.0 - q) * np.ones_like(d)


def expectile(y: np.ndarray, p: np.ndarray, tau: float = 0.5) -> np.ndarray:
    return np.abs(tau - (y < p)) * (y - p) ** 2


def expectile_grad(y: np.ndarray, p: np.ndarray, tau: float = 0.5) -> np.ndarray:
    return -2.0 * np.abs(tau - (y < p)) * (y - p)


def poisson(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return p - y * np.maximum(np.log(p), LOG_FLOOR)


def poisson_grad(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - y / p  # compared only where log p > -100


def stirling(y: np.ndarray) -> np.ndarray:
    safe = np.where(y > 1, y, 2.0)
    return np.where(y > 1, safe * np.log(safe) - safe + 0.5 * np.log(2 * np.pi * safe), 0.0)


def poisson_nll(
    y: np.ndarray, p: np.ndarray, log_input: bool = True, full: bool = False, eps: float = 1e-8
) -> np.ndarray:
    loss = np.exp(p) - y * p if log_input else p - y * np.log(p + eps)
    return loss + stirling(y) if full else loss


def poisson_nll_grad(
    y: np.ndarray, p: np.ndarray, log_input: bool = True, full: bool = False, eps: float = 1e-8
) -> np.ndarray:
    return np.exp(p) - y if log_input else 1.0 - y / (p + eps)


def gaussian_nll(
    y: np.ndarray, p: np.ndarray, var: np.ndarray, full: bool = False, eps: float = 1e-6
) -> np.ndarray:
    v = np.maximum(var, eps)
    loss = 0.5 * (np.log(v) + (p - y) ** 2 / v)
    return loss + 0.5 * np.log(2 * np.pi) if full else loss


def gaussian_nll_grad(
    y: np.ndarray, p: np.ndarray, var: np.ndarray, full: bool = False, eps: float = 1e-6
) -> np.ndarray:
    return np.broadcast_to((p - y) / np.maximum(var, eps), np.broadcast_shapes(y.shape, p.shape))


def gaussian_nll_var_grad(
    y: np.ndarray, p: np.ndarray, var: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """d(Σ loss)/d var, torch's convention: the clamp passes the gradient through unchanged."""
    v = np.maximum(var, eps)
    g = 0.5 * (1.0 / v - (p - y) ** 2 / v**2)
    return _sum_to_shape(g, np.shape(var))


def laplace_nll(
    y: np.ndarray, p: np.ndarray, scale: np.ndarray, full: bool = False, eps: float = 1e-6
) -> np.ndarray:
    b = np.maximum(scale, eps)
    loss = np.log(b) + np.abs(p - y) / b
    return loss + np.log(2.0) if full else loss


def laplace_nll_grad(
    y: np.ndarray, p: np.ndarray, scale: np.ndarray, full: bool = False, eps: float = 1e-6
) -> np.ndarray:
    return np.sign(p - y) / np.maximum(scale, eps) * np.ones(np.broadcast_shapes(y.shape, p.shape))


def laplace_nll_scale_grad(y: np.ndarray, p: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """d(Σ loss)/d scale where scale > eps (entries at scale 0 are not compared)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        g = 1.0 / scale - np.abs(p - y) / scale**2
    return _sum_to_shape(g, np.shape(scale))


def _sum_to_shape(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    g = np.asarray(g)
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def tweedie(y: np.ndarray, mu: np.ndarray, power: float = 1.5) -> np.ndarray:
    """sklearn's unit deviance, in extended precision (the general closed form cancels)."""
    y, mu = np.asarray(y, np.longdouble), np.asarray(mu, np.longdouble)
    if power == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            ylog = np.where(y == 0, 0.0, y * np.log(y / mu))
        dev = 2 * (ylog - y + mu)
    elif power == 2:
        dev = 2 * (np.log(mu / y) + y / mu - 1)
    else:
        pw = np.longdouble(power)
        dev = 2 * (
            np.maximum(y, 0) ** (2 - pw) / ((1 - pw) * (2 - pw))
            - y * mu ** (1 - pw) / (1 - pw)
            + mu ** (2 - pw) / (2 - pw)
        )
    return np.asarray(dev, np.float64)


def tweedie_grad(y: np.ndarray, mu: np.ndarray, power: float = 1.5) -> np.ndarray:
    return 2.0 * mu ** (-power) * (mu - y)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt(np.maximum(np.sum(x**2, axis=-1, keepdims=True), 1e-12))


def cosine(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return -np.sum(_unit(y) * _unit(p), axis=-1)


def cosine_grad(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    u = _unit(y)
    s = np.sum(p**2, axis=-1, keepdims=True)
    n = np.sqrt(np.maximum(s, 1e-12))
    dot = np.sum(u * p, axis=-1, keepdims=True)
    return np.where(s > 1e-12, -u / n + dot * p / n**3, -u / n)


# ====================================================================== data (float64)
#: Every elementwise case uses this one shape: JAX compiles each eager operation per shape.
SHAPE = (5, 6)


def real_data(kinks: tuple[float, ...] = (1.0,)) -> tuple[np.ndarray, np.ndarray]:
    """Random pairs; a row with |d| = 1e4, 100, 38, 20 and a tie (d = 0); a row with d = ±k
    for each kink k (up to three)."""
    rng = np.random.default_rng(0)
    y = rng.normal(0.0, 2.0, (3, 6))
    p = y + rng.normal(0.0, 1.5, (3, 6))
    y_far = np.array([0.0, 0.0, 1.25, -2.0, 50.0, -30.0])
    p_far = np.array([1e4, -1e4, 1.25, -40.0, -50.0, -10.0])
    y_kink = np.array([0.0, 0.5, -1.0, 2.0, 0.0, 3.0])
    d_kink = np.array([kinks[(i // 2) % len(kinks)] * (-1) ** i for i in range(6)])
    return np.vstack([y, y_far, y_kink]), np.vstack([p, p_far, y_kink + d_kink])


def percentage_data() -> tuple[np.ndarray, np.ndarray]:
    y, p = real_data()
    y[0, :3] = [0.0, 1e-9, -1e-9]  # |y| below epsilon
    return y, p


def count_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    y = rng.poisson(2.0, SHAPE).astype(float)
    y[0, :4] = [0.0, 1.0, 0.5, 3.7]
    mu = rng.uniform(0.1, 6.0, SHAPE)
    return y, mu


def poisson_data() -> tuple[np.ndarray, np.ndarray]:
    y, mu = count_data()
    mu[1, :3] = [0.0, 1e-50, 0.0]  # log clamped at -100 (1e-50 is 0 in float32)
    y[1, :3] = [2.0, 3.0, 0.0]
    return y, mu


def log_input_data() -> tuple[np.ndarray, np.ndarray]:
    y, _ = count_data()
    z = np.random.default_rng(2).normal(0.0, 1.5, SHAPE)
    z[0, :3] = [-30.0, 20.0, 0.0]
    return y, z


def rate_data() -> tuple[np.ndarray, np.ndarray]:
    y, mu = count_data()
    mu[2, :2] = [0.0, 1e-3]  # log(0 + eps) is finite
    return y, mu


def positive_data() -> tuple[np.ndarray, np.ndarray]:
    """Strictly positive targets (the Gamma deviance needs y > 0)."""
    rng = np.random.default_rng(3)
    return rng.uniform(0.2, 4.0, SHAPE), rng.uniform(0.2, 5.0, SHAPE)


def tweedie_data(power: float) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    def data() -> tuple[np.ndarray, np.ndarray]:
        y, mu = positive_data() if power == 2 else count_data()
        if power != 2:
            y[2, :2] = [0.0, 0.0]
        return y, mu

    return data


QUANTILES = [0.05, 0.1, 0.3, 0.5, 0.75, 0.9]  # K = SHAPE[-1]


def multi_quantile_data(y_shape: str) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    def data() -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(4)
        y = rng.normal(0.0, 2.0, SHAPE[:1])
        p = y[:, None] + rng.normal(0.0, 1.5, SHAPE)
        p[0, 1] += 2e4
        return (y[:, None] if y_shape == "N1" else y), p

    return data


def gaussian_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    y = rng.normal(0.0, 2.0, SHAPE)
    return y, y + rng.normal(0.0, 1.0, SHAPE)


def _scales(seed: int) -> np.ndarray:
    s = np.random.default_rng(seed).uniform(0.2, 3.0, SHAPE)
    s[1, 0], s[2, 0] = 1e-8, 0.0  # below eps: clamped
    return s


# ====================================================================== the table
@dataclass(frozen=True)
class Case:
    id: str
    name: str  # losskit's canonical name
    data: Callable[[], tuple[np.ndarray, np.ndarray]]
    value: Callable[..., np.ndarray]
    grad: Callable[..., np.ndarray]
    params: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # array-valued keywords
    #: where the gradient is defined (elsewhere only finiteness is checked)
    smooth: Callable[[np.ndarray, np.ndarray], np.ndarray] = field(
        default=lambda y, p: _everywhere(y, p)
    )


def _everywhere(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.ones(np.broadcast_shapes(y.shape, p.shape), bool)


def _off_tie(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.broadcast_to(y != p, np.broadcast_shapes(y.shape, p.shape))


def _off_tie_multi(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    yy = y if y.shape[-1:] == (1,) or y.ndim == p.ndim else y[..., None]
    return yy != p


_VAR = np.array([[0.5], [1.0], [0.0], [2.5], [1e-8]])  # (N, 1) on (N, D); 0, 1e-8 clamped
_VAR_FULL = _scales(6)
_SCALE = _scales(7)

CASES = [
    Case("mae", "mean_absolute_error", real_data, mae, mae_grad, smooth=_off_tie),
    Case("mape", "mean_absolute_percentage_error", percentage_data, mape, mape_grad,
         smooth=_off_tie),
    Case("mape_eps", "mean_absolute_percentage_error", percentage_data, mape, mape_grad,
         params={"epsilon": 1e-3}, smooth=_off_tie),
    Case("msle", "mean_squared_logarithmic_error", real_data, msle, msle_grad,
         smooth=lambda y, p: np.abs(p - 1e-7) > 1e-9),
    Case("msle_eps", "mean_squared_logarithmic_error", real_data, msle, msle_grad,
         params={"epsilon": 0.5}, smooth=lambda y, p: np.abs(p - 0.5) > 1e-9),
    *(
        Case(f"huber_{d}", "huber", lambda d=d: real_data((d,)), huber, huber_grad,
             params={"delta": d})
        for d in (1.0, 0.5, 2.5)
    ),
    *(
        Case(f"smooth_l1_{b}", "smooth_l1", lambda b=b: real_data((b or 1.0,)), smooth_l1,
             smooth_l1_grad, params={"beta": b}, smooth=_off_tie if b == 0 else _everywhere)
        for b in (1.0, 0.3, 0.0)
    ),
    Case("log_cosh", "log_cosh", real_data, log_cosh, log_cosh_grad),
    *(
        Case(f"quantile_{q}", "quantile", real_data, pinball, pinball_grad,
             params={"quantiles": q}, smooth=_off_tie)
        for q in (0.5, 0.1, 0.9)
    ),
    Case("quantile_K_N", "quantile", multi_quantile_data("N"), pinball, pinball_grad,
         params={"quantiles": QUANTILES}, smooth=_off_tie_multi),
    Case("quantile_K_N1", "quantile", multi_quantile_data("N1"), pinball, pinball_grad,
         params={"quantiles": np.array(QUANTILES[::-1])}, smooth=_off_tie_multi),
    *(
        Case(f"expectile_{t}", "expectile", real_data, expectile, expectile_grad,
             params={"tau": t})
        for t in (0.5, 0.2, 0.9)
    ),
    Case("poisson", "poisson", poisson_data, poisson, poisson_grad,
         smooth=lambda y, p: p > 1e-30),
    *(
        Case(f"poisson_nll_log_full{int(full)}", "poisson_nll", log_input_data, poisson_nll,
             poisson_nll_grad, params={"log_input": True, "full": full})
        for full in (False, True)
    ),
    *(
        Case(f"poisson_nll_rate_full{int(full)}", "poisson_nll", rate_data, poisson_nll,
             poisson_nll_grad, params={"log_input": False, "full": full, "eps": eps})
        for full, eps in ((False, 1e-8), (True, 1e-3))
    ),
    Case("gaussian_nll_N1", "gaussian_nll", gaussian_data, gaussian_nll, gaussian_nll_grad,
         arrays={"var": _VAR}),
    Case("gaussian_nll_full", "gaussian_nll", gaussian_data, gaussian_nll, gaussian_nll_grad,
         params={"full": True, "eps": 1e-4}, arrays={"var": _VAR_FULL}),
    Case("laplace_nll", "laplace_nll", gaussian_data, laplace_nll, laplace_nll_grad,
         arrays={"scale": _SCALE}, smooth=_off_tie),
    Case("laplace_nll_full", "laplace_nll", gaussian_data, laplace_nll, laplace_nll_grad,
         params={"full": True, "eps": 1e-3}, arrays={"scale": _SCALE}, smooth=_off_tie),
    *(
        Case(f"tweedie_{p}", "tweedie", tweedie_data(p), tweedie, tweedie_grad,
             params={"power": p})
        for p in (1.0, 1.2, 1.5, 1.8, 2.0)
    ),
    Case("tweedie_default", "tweedie", tweedie_data(1.5), tweedie, tweedie_grad),
]  # fmt: skip


def _cosine_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(6)
    y = rng.normal(0.0, 1.0, (7, 4))
    p = rng.normal(0.0, 1.0, (7, 4))
    y[0] = 0.0  # zero target
    p[1] = 0.0  # zero prediction
    y[2] = p[2] = 0.0  # both
    p[3] = 3.0 * y[3]  # parallel: -1
    p[4] = -0.5 * y[4]  # antiparallel: +1
    p[5] = 1e4 * p[5]  # large norms
    return y, p


CASES.append(Case("cosine_similarity", "cosine_similarity", _cosine_data, cosine, cosine_grad))


def _inputs(case: Case, dtype: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    y, p = case.data()
    return (
        rounded(y, dtype),
        rounded(p, dtype),
        {k: rounded(v, dtype) for k, v in case.arrays.items()},
    )


def _call(case: Case, backend: Any, dtype: str, y: Any, p: Any, arrays: dict, **kw: Any) -> Any:
    native = {k: backend.array(v, dtype) for k, v in arrays.items()}
    return lk.get(case.name)(y, p, **case.params, **native, **kw)


# ====================================================================== (a) values
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_values_match_float64_formula(backend: Any, dtype: str, case: Case) -> None:
    y, p, arrays = _inputs(case, dtype)
    out = _call(
        case,
        backend,
        dtype,
        backend.array(y, dtype),
        backend.array(p, dtype),
        arrays,
        reduction="none",
    )
    expected = case.value(y, p, **case.params, **arrays)
    got = backend.to_numpy(out)
    assert dtype in str(out.dtype)
    assert got.shape == expected.shape
    assert np.all(np.isfinite(got)), f"non-finite values: {got}"
    np.testing.assert_allclose(got, expected, **tolerance(dtype))


# ====================================================================== (b) gradients
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_gradients_match_analytic(autodiff_backend: Any, dtype: str, case: Case) -> None:
    b = autodiff_backend
    y, p, arrays = _inputs(case, dtype)
    yy = b.array(y, dtype)
    grad = b.grad(
        lambda t: total(b, _call(case, b, dtype, yy, t, arrays, reduction="none")),
        b.array(p, dtype),
    )
    got = b.to_numpy(grad)
    expected = np.broadcast_to(case.grad(y, p, **case.params, **arrays), p.shape)
    assert got.shape == p.shape
    assert np.all(np.isfinite(got)), f"non-finite gradient: {got}"
    where = np.broadcast_to(case.smooth(y, p), p.shape)
    np.testing.assert_allclose(got[where], expected[where], **GRAD_TOL[dtype])


def test_gaussian_nll_gradient_wrt_var(autodiff_backend: Any, dtype: str) -> None:
    b = autodiff_backend
    y, p = (rounded(a, dtype) for a in gaussian_data())
    for var, eps in ((_VAR, 1e-6), (_VAR_FULL, 1e-4)):
        v = rounded(var, dtype)
        grad = b.grad(
            lambda t, eps=eps: total(
                b,
                lk.gaussian_nll(
                    b.array(y, dtype), b.array(p, dtype), var=t, eps=eps, reduction="none"
                ),
            ),
            b.array(v, dtype),
        )
        got = b.to_numpy(grad)
        assert got.shape == v.shape
        np.testing.assert_allclose(got, gaussian_nll_var_grad(y, p, v, eps), **GRAD_TOL[dtype])


def test_laplace_nll_gradient_wrt_scale(autodiff_backend: Any, dtype: str) -> None:
    b = autodiff_backend
    y, p = (rounded(a, dtype) for a in gaussian_data())
    s = rounded(_SCALE, dtype)
    grad = b.grad(
        lambda t: total(
            b, lk.laplace_nll(b.array(y, dtype), b.array(p, dtype), scale=t, reduction="none")
        ),
        b.array(s, dtype),
    )
    got = b.to_numpy(grad)
    assert np.all(np.isfinite(got)), f"non-finite gradient: {got}"
    above = s > 1e-6
    np.testing.assert_allclose(
        got[above], laplace_nll_scale_grad(y, p, s)[above], **GRAD_TOL[dtype]
    )


# ====================================================================== reductions
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_reductions_follow_the_contract(case: Case) -> None:
    """``mean``/``sum``, with a per-sample weight and a mask, from the formula (NumPy, float64)."""
    b = get_backend("numpy")
    y, p, arrays = _inputs(case, "float64")
    values = case.value(y, p, **case.params, **arrays)
    n = values.shape[0]
    weight = np.linspace(0.5, 2.0, n)
    mask = np.arange(n) != 1
    w_full = weight.reshape((n,) + (1,) * (values.ndim - 1))
    m_full = mask.reshape((n,) + (1,) * (values.ndim - 1))
    for kwargs, w, v in (
        ({}, None, None),
        ({"sample_weight": weight}, w_full, None),
        ({"sample_weight": weight, "mask": mask}, w_full, m_full),
    ):
        for reduction in ("mean", "sum", "none"):
            got = _call(case, b, "float64", y, p, arrays, reduction=reduction, **kwargs)
            expected = ref.reduce(values, reduction, w, v)
            np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12, atol=1e-12)


# ====================================================================== (c) anchors: torch
def _torch() -> Any:
    return pytest.importorskip("torch")


def _torch_vjp(fn: Callable[..., Any], inputs: list[Any], cotangent: np.ndarray | None) -> tuple:
    torch = _torch()
    xs = [x.detach().clone().requires_grad_(True) for x in inputs]
    out = fn(*xs)
    cot = torch.ones_like(out) if cotangent is None else torch.as_tensor(cotangent, dtype=out.dtype)
    grads = torch.autograd.grad(out, xs, grad_outputs=cot)
    return out.detach().numpy(), [g.numpy() for g in grads]


def _torch_parity(ours: Callable, theirs: Callable, inputs: list[Any], dtype: str) -> None:
    """Values and vector-Jacobian products (one random cotangent) w.r.t. every input agree."""
    torch = _torch()
    with torch.no_grad():
        shape = tuple(theirs(*inputs).shape)
    cot = None if shape == () else np.random.default_rng(7).uniform(0.5, 1.5, shape)
    value, grads = _torch_vjp(ours, inputs, cot)
    ref_value, ref_grads = _torch_vjp(theirs, inputs, cot)
    assert value.shape == ref_value.shape
    np.testing.assert_allclose(value, ref_value, **ANCHOR_TOL[dtype])
    for g, rg in zip(grads, ref_grads, strict=True):
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g, rg, **ANCHOR_TOL[dtype])


def _t(x: np.ndarray, dtype: str) -> Any:
    torch = _torch()
    return torch.as_tensor(np.asarray(x, dtype=dtype))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_torch_l1_huber_smooth_l1(dtype: str, reduction: str) -> None:
    F = _torch().nn.functional
    y, p = real_data((0.5, 1.0, 2.5))
    yt, pt = _t(y, dtype), _t(p, dtype)
    _torch_parity(
        lambda t: lk.mean_absolute_error(yt, t, reduction=reduction),
        lambda t: F.l1_loss(t, yt, reduction=reduction),
        [pt],
        dtype,
    )
    for delta in (1.0, 0.5, 2.5):
        _torch_parity(
            lambda t, d=delta: lk.huber(yt, t, delta=d, reduction=reduction),
            lambda t, d=delta: F.huber_loss(t, yt, delta=d, reduction=reduction),
            [pt],
            dtype,
        )
    for beta in (1.0, 0.5, 0.0):
        _torch_parity(
            lambda t, b=beta: lk.smooth_l1(yt, t, beta=b, reduction=reduction),
            lambda t, b=beta: F.smooth_l1_loss(t, yt, beta=b, reduction=reduction),
            [pt],
            dtype,
        )


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_torch_poisson_nll(dtype: str, reduction: str, log_input: bool, full: bool) -> None:
    F = _torch().nn.functional
    y, p = log_input_data() if log_input else rate_data()
    yt = _t(y, dtype)
    for eps in (1e-8, 1e-2):
        _torch_parity(
            lambda t, e=eps: lk.poisson_nll(
                yt, t, log_input=log_input, full=full, eps=e, reduction=reduction
            ),
            lambda t, e=eps: F.poisson_nll_loss(
                t, yt, log_input=log_input, full=full, eps=e, reduction=reduction
            ),
            [_t(p, dtype)],
            dtype,
        )


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("var_shape", ["N1", "ND"])
def test_torch_gaussian_nll(dtype: str, reduction: str, full: bool, var_shape: str) -> None:
    """Values and gradients w.r.t. the prediction *and* the variance (clamped entries too)."""
    F = _torch().nn.functional
    y, p = gaussian_data()
    var = _VAR if var_shape == "N1" else _VAR_FULL
    yt = _t(y, dtype)
    for eps in (1e-6, 1e-2):
        _torch_parity(
            lambda t, v, e=eps: lk.gaussian_nll(
                yt, t, var=v, full=full, eps=e, reduction=reduction
            ),
            lambda t, v, e=eps: F.gaussian_nll_loss(
                t, yt, v, full=full, eps=e, reduction=reduction
            ),
            [_t(p, dtype), _t(var, dtype)],
            dtype,
        )


def test_torch_cosine_similarity(dtype: str) -> None:
    F = _torch().nn.functional
    y, p = _cosine_data()
    nonzero = (np.abs(y).sum(-1) > 0) & (np.abs(p).sum(-1) > 0)
    y, p = y[nonzero], p[nonzero]
    yt = _t(y, dtype)
    _torch_parity(
        lambda t: -lk.cosine_similarity(yt, t, reduction="none"),
        lambda t: F.cosine_similarity(t, yt, dim=-1),
        [_t(p, dtype)],
        dtype,
    )
    _torch_parity(  # along axis 1 of (N, C, L)
        lambda t: -lk.cosine_similarity(_t(y.T[None], dtype), t, axis=1, reduction="none"),
        lambda t: F.cosine_similarity(t, _t(y.T[None], dtype), dim=1),
        [_t(p.T[None], dtype)],
        dtype,
    )


# ====================================================================== (c) anchors: Keras
def _keras() -> Any:
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("Keras is not on its TensorFlow backend")
    return keras


def _keras_parity(ours: Any, theirs: Any, dtype: str, per_element: bool = True, tol=None) -> None:
    got = np.asarray(ours, np.float64)
    if per_element:
        got = got.mean(axis=-1)
    expected = np.asarray(theirs, np.float64)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, **(tol or ANCHOR_TOL[dtype]))


def test_keras_elementwise_losses(dtype: str) -> None:
    keras = _keras()
    tf = get_backend("tensorflow")
    y, p = real_data((1.0, 0.5))
    yt, pt = tf.array(y, dtype), tf.array(p, dtype)
    pairs = [
        (lk.mean_absolute_error, keras.losses.mean_absolute_error, {}, {}),
        (lk.log_cosh, keras.losses.log_cosh, {}, {}),
        (lk.huber, keras.losses.huber, {}, {}),
        (lk.huber, keras.losses.huber, {"delta": 0.5}, {"delta": 0.5}),
    ]
    for ours, theirs, kw, their_kw in pairs:
        out = ours(yt, pt, reduction="none", **kw)
        expected = theirs(yt, pt, **their_kw).numpy().astype(np.float64)
        if theirs is keras.losses.log_cosh:  # Keras subtracts log 2 rounded to float32
            expected += np.float64(np.float32(np.log(2.0))) - np.log(2.0)
        _keras_parity(tf.to_numpy(out), expected, dtype)
    y, p = percentage_data()
    yt, pt = tf.array(y, dtype), tf.array(p, dtype)
    out = lk.mean_absolute_percentage_error(yt, pt, reduction="none")
    _keras_parity(
        tf.to_numpy(out), keras.losses.mean_absolute_percentage_error(yt, pt).numpy(), dtype
    )
    out = lk.mean_squared_logarithmic_error(yt, pt, reduction="none")
    _keras_parity(
        tf.to_numpy(out), keras.losses.mean_squared_logarithmic_error(yt, pt).numpy(), dtype
    )


def test_keras_poisson_in_the_interior(dtype: str) -> None:
    keras = _keras()
    tf = get_backend("tensorflow")
    rng = np.random.default_rng(8)
    y = rng.poisson(2.0, (4, 5)).astype(float)
    p = rng.uniform(0.5, 5.0, (4, 5))
    yt, pt = tf.array(y, dtype), tf.array(p, dtype)
    _keras_parity(
        tf.to_numpy(lk.poisson(yt, pt, reduction="none")),
        keras.losses.poisson(yt, pt).numpy(),
        dtype,
        tol={"rtol": 1e-5, "atol": 1e-6},
    )


def test_keras_cosine_similarity(dtype: str) -> None:
    keras = _keras()
    tf = get_backend("tensorflow")
    y, p = _cosine_data()  # zero vectors give 0 on both sides
    yt, pt = tf.array(y, dtype), tf.array(p, dtype)
    out = lk.cosine_similarity(yt, pt, reduction="none")
    _keras_parity(
        tf.to_numpy(out), keras.losses.cosine_similarity(yt, pt).numpy(), dtype, per_element=False
    )
    y3, p3 = y.T[None], p.T[None]  # (1, D, N): similarity along axis 1
    out = lk.cosine_similarity(tf.array(y3, dtype), tf.array(p3, dtype), axis=1, reduction="none")
    theirs = keras.losses.cosine_similarity(tf.array(y3, dtype), tf.array(p3, dtype), axis=1)
    _keras_parity(tf.to_numpy(out), theirs.numpy(), dtype, per_element=False)


# ====================================================================== (c) anchors: optax
def _optax_parity(ours: Callable, theirs: Callable, x: np.ndarray, dtype: str) -> None:
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    xj = jnp.asarray(x, dtype=dtype)
    value, vjp = jax.vjp(ours, xj)
    ref_value, ref_vjp = jax.vjp(theirs, xj)
    assert isinstance(value, jax.Array) and value.dtype == xj.dtype
    assert value.shape == ref_value.shape
    np.testing.assert_allclose(np.asarray(value), np.asarray(ref_value), **ANCHOR_TOL[dtype])
    cot = jnp.asarray(np.random.default_rng(9).uniform(0.5, 1.5, value.shape), dtype=dtype)
    (g,), (rg,) = vjp(cot), ref_vjp(cot)
    assert np.all(np.isfinite(np.asarray(g)))
    np.testing.assert_allclose(np.asarray(g), np.asarray(rg), **ANCHOR_TOL[dtype])


def test_optax_huber_log_cosh_cosine(dtype: str) -> None:
    optax = pytest.importorskip("optax")
    jnp = pytest.importorskip("jax.numpy")
    y, p = real_data((1.0, 0.5, 2.0))
    yj = jnp.asarray(y, dtype=dtype)
    for delta in (1.0, 0.5, 2.0):
        _optax_parity(
            lambda t, d=delta: lk.huber(yj, t, delta=d, reduction="none"),
            lambda t, d=delta: optax.huber_loss(t, yj, delta=d),
            p,
            dtype,
        )
    _optax_parity(
        lambda t: lk.log_cosh(yj, t, reduction="none"),
        lambda t: optax.log_cosh(t, yj),
        p,
        dtype,
    )
    # optax clips the squared norm at epsilon: with 1e-12 it is Keras's normalisation, so the
    # zero vectors agree too (value 0 and the gradient -u / 1e-6 at a zero prediction)
    yc, pc = _cosine_data()
    ycj = jnp.asarray(yc, dtype=dtype)
    _optax_parity(
        lambda t: 1.0 + lk.cosine_similarity(ycj, t, reduction="none"),
        lambda t: optax.cosine_distance(t, ycj, epsilon=1e-12),
        pc,
        dtype,
    )


# ====================================================================== (c) anchors: sklearn
SK_TOL = {"float32": {"rtol": 2e-6, "atol": 1e-7}, "float64": {"rtol": 1e-12, "atol": 1e-14}}


def _sk() -> Any:
    return pytest.importorskip("sklearn.metrics")


def _scalar(backend: Any, out: Any) -> float:
    return float(backend.to_numpy(out))


def _sk_assert(ours: float, expected: float, dtype: str) -> None:
    assert ours == pytest.approx(expected, rel=SK_TOL[dtype]["rtol"], abs=SK_TOL[dtype]["atol"])


def test_sklearn_mape_and_msle(backend: Any, dtype: str) -> None:
    """sklearn averages the outputs of 2-D inputs uniformly: the mean over every element."""
    metrics = _sk()
    rng = np.random.default_rng(10)
    y = rounded(rng.uniform(0.1, 5.0, SHAPE) * rng.choice([-1.0, 1.0], SHAPE), dtype)
    p = rounded(rng.normal(0.0, 3.0, SHAPE), dtype)
    yy, pp = backend.array(y, dtype), backend.array(p, dtype)
    ours = _scalar(backend, lk.mean_absolute_percentage_error(yy, pp))
    _sk_assert(ours, 100.0 * metrics.mean_absolute_percentage_error(y, p), dtype)
    y, p = np.abs(y), rounded(rng.uniform(0.01, 6.0, SHAPE), dtype)  # sklearn needs y, p >= 0
    ours = _scalar(
        backend,
        lk.mean_squared_logarithmic_error(backend.array(y, dtype), backend.array(p, dtype)),
    )
    _sk_assert(ours, metrics.mean_squared_log_error(y, p), dtype)


def test_sklearn_pinball(backend: Any, dtype: str) -> None:
    metrics = _sk()
    y, p = (rounded(a, dtype) for a in multi_quantile_data("N")())
    yy = backend.array(y, dtype)
    for k, q in enumerate(QUANTILES):
        ours = _scalar(backend, lk.quantile(yy, backend.array(p[:, k], dtype), quantiles=q))
        _sk_assert(ours, metrics.mean_pinball_loss(y, p[:, k], alpha=q), dtype)
    per_quantile = backend.to_numpy(
        lk.quantile(yy, backend.array(p, dtype), quantiles=QUANTILES, reduction="none")
    )
    assert per_quantile.shape == SHAPE
    expected = [metrics.mean_pinball_loss(y, p[:, k], alpha=q) for k, q in enumerate(QUANTILES)]
    np.testing.assert_allclose(per_quantile.mean(axis=0), expected, **SK_TOL[dtype])


@pytest.mark.parametrize("power", [1.0, 1.2, 1.5, 1.8, 2.0])
def test_sklearn_tweedie(backend: Any, dtype: str, power: float) -> None:
    metrics = _sk()
    y, mu = (rounded(a, dtype) for a in tweedie_data(power)())
    ours = _scalar(
        backend, lk.tweedie(backend.array(y, dtype), backend.array(mu, dtype), power=power)
    )
    _sk_assert(ours, metrics.mean_tweedie_deviance(y.ravel(), mu.ravel(), power=power), dtype)


# ====================================================================== (d) extremes
@pytest.mark.parametrize(("power", "limit"), [(1 + 1e-9, 1.0), (2 - 1e-9, 2.0)])
def test_tweedie_near_the_poisson_and_gamma_limits(backend: Any, dtype: str, power, limit) -> None:
    y, mu = tweedie_data(2.0)() if limit == 2 else tweedie_data(1.0)()
    y, mu = rounded(y, dtype), rounded(mu, dtype)
    out = lk.tweedie(
        backend.array(y, dtype), backend.array(mu, dtype), power=power, reduction="none"
    )
    got = backend.to_numpy(out)
    assert np.all(np.isfinite(got)), f"power={power}: non-finite deviance {got}"
    tol = {"rtol": 1e-6, "atol": 1e-9} if dtype == "float64" else {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(got, tweedie(y, mu, limit), **tol)
    if backend.grad is not None:
        grad = backend.grad(
            lambda t: total(
                backend, lk.tweedie(backend.array(y, dtype), t, power=power, reduction="none")
            ),
            backend.array(mu, dtype),
        )
        g = backend.to_numpy(grad)
        assert np.all(np.isfinite(g)), f"power={power}: non-finite gradient {g}"
        np.testing.assert_allclose(g, tweedie_grad(y, mu, limit), **tol)


def test_cosine_similarity_zero_vectors_are_zero_with_finite_gradients(
    backend: Any, dtype: str
) -> None:
    """Rows 0-2 of the cosine data hold a zero target, a zero prediction and both."""
    y, p = (rounded(a, dtype) for a in _cosine_data())
    out = backend.to_numpy(
        lk.cosine_similarity(backend.array(y, dtype), backend.array(p, dtype), reduction="none")
    )
    np.testing.assert_array_equal(out[:3], np.zeros(3))
    if backend.grad is None:
        return
    g = backend.grad(  # symmetric in its arguments: the gradient w.r.t. the target too
        lambda t: total(
            backend, lk.cosine_similarity(t, backend.array(p, dtype), reduction="none")
        ),
        backend.array(y, dtype),
    )
    g = backend.to_numpy(g)
    assert np.all(np.isfinite(g)), f"non-finite gradient w.r.t. y_true: {g}"
    np.testing.assert_allclose(g, cosine_grad(p, y), **GRAD_TOL[dtype])


def test_log_cosh_is_exact_far_out_and_flat_at_zero(autodiff_backend: Any, dtype: str) -> None:
    """|d| = 1e4 gives |d| - log 2 (cosh overflows there); the gradient at d = 0 is exactly 0."""
    b = autodiff_backend
    y, p = (rounded(a, dtype) for a in real_data())
    out = b.to_numpy(lk.log_cosh(b.array(y, dtype), b.array(p, dtype), reduction="none"))
    np.testing.assert_allclose(out[3, :2], 1e4 - np.log(2.0), **tolerance(dtype))
    g = b.grad(
        lambda t: total(b, lk.log_cosh(b.array(y, dtype), t, reduction="none")),
        b.array(p, dtype),
    )
    assert y[3, 2] == p[3, 2] and b.to_numpy(g)[3, 2] == 0.0


def test_log_cosh_is_relatively_exact_everywhere(autodiff_backend: Any, dtype: str) -> None:
    """One chain, log1p(e²/(2 + 2e)) with e = expm1(min(|d|, 40)), then |d| - 40 beyond: a few
    ulp relative to log cosh d from tiny d through the switch at 40; the gradient is tanh(d)."""
    b = autodiff_backend
    d = np.concatenate([np.geomspace(1e-6, 100.0, 241), [39.9999, 40.0, 40.0001, 1e6]])
    d = rounded(np.concatenate([d, -d]), dtype)
    # log cosh d = |d| - log 2 + log1p(e^{-2|d|}), exact in float64 beyond |d| = 1 ...
    a = np.abs(d)
    far = a - np.log(2.0) + np.log1p(np.exp(-2.0 * a))
    # ... and log1p(2 sinh²(d/2)) (no cancellation) below it
    expected = np.where(a < 1.0, np.log1p(2.0 * np.sinh(np.minimum(a, 1.0) / 2.0) ** 2), far)
    zero = b.array(np.zeros_like(d), dtype)
    got = b.to_numpy(lk.log_cosh(zero, b.array(d, dtype), reduction="none"))
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(got, expected, rtol=8 * eps, atol=0)
    g = b.grad(lambda t: total(b, lk.log_cosh(zero, t, reduction="none")), b.array(d, dtype))
    np.testing.assert_allclose(b.to_numpy(g), np.tanh(d), rtol=8 * eps, atol=eps)


def test_expectile_minimiser_is_the_tau_expectile() -> None:
    """argmin_c mean ρ_τ(y - c) over a skewed sample is the τ-expectile (found by bisection)."""
    y = np.random.default_rng(12).exponential(1.0, 400)
    for tau in (0.2, 0.5, 0.8):
        lo, hi = y.min(), y.max()
        for _ in range(200):  # τ Σ(y - c)₊ = (1 - τ) Σ(c - y)₊
            c = 0.5 * (lo + hi)
            if tau * np.maximum(y - c, 0).sum() > (1 - tau) * np.maximum(c - y, 0).sum():
                lo = c
            else:
                hi = c
        grid = c + np.linspace(-0.05, 0.05, 101)
        losses = [float(lk.expectile(y, np.full_like(y, g), tau=tau)) for g in grid]
        assert abs(grid[int(np.argmin(losses))] - c) <= 1e-3 + 1e-12
        if tau != 0.5:
            assert abs(c - y.mean()) > 0.05  # the test can tell the expectile from the mean
        else:
            assert c == pytest.approx(y.mean(), rel=1e-9)


# ====================================================================== (e) invalid parameters
_POS = np.array([[0.5, 1.0], [2.0, 3.0], [1.5, 0.25]])
INVALID = [
    ("huber", {"delta": 0.0}, "delta"),
    ("huber", {"delta": -1.0}, "delta"),
    ("smooth_l1", {"beta": -0.5}, "beta"),
    ("quantile", {"quantiles": 1.5}, "quantiles"),
    ("quantile", {"quantiles": -0.1}, "quantiles"),
    ("quantile", {"quantiles": [0.2, 1.1]}, "quantiles"),
    ("quantile", {"quantiles": np.array([-0.2, 0.5])}, "quantiles"),
    ("expectile", {"tau": 1.2}, "tau"),
    ("expectile", {"tau": -0.1}, "tau"),
    ("tweedie", {"power": 0.5}, "power"),
    ("tweedie", {"power": 2.5}, "power"),
    ("tweedie", {"power": 3.0}, "power"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "params", "word"),
    INVALID,
    ids=[f"{n}-{next(iter(p.values()))}" for n, p, _ in INVALID],
)
def test_invalid_parameter_raises_naming_it(backend: Any, name: str, params: dict, word: str):
    y, p = backend.array(_POS, "float64"), backend.array(_POS + 0.5, "float64")
    if name == "quantile" and np.ndim(params["quantiles"]) == 1:
        y = backend.array(_POS[:, 0], "float64")
    with pytest.raises(ValueError, match=word):
        lk.get(name)(y, p, **params)


def test_gaussian_nll_negative_variance_raises(backend: Any) -> None:
    y, p = backend.array(_POS, "float64"), backend.array(_POS + 0.5, "float64")
    var = backend.array(np.array([[1.0, 0.5], [-0.1, 1.0], [2.0, 0.0]]), "float64")
    with pytest.raises(ValueError, match="var"):
        lk.gaussian_nll(y, p, var=var)


def test_quantile_count_must_match_the_trailing_axis() -> None:
    with pytest.raises(ValueError):
        lk.quantile(_POS[:, 0], np.zeros((3, 3)), quantiles=[0.1, 0.9])


def test_parameter_boundaries_are_accepted() -> None:
    y, p = _POS, _POS * np.array([[1.5, 0.5]])
    for name, params, formula in (
        ("quantile", {"quantiles": 0.0}, pinball),
        ("quantile", {"quantiles": 1.0}, pinball),
        ("expectile", {"tau": 0.0}, expectile),
        ("expectile", {"tau": 1.0}, expectile),
        ("smooth_l1", {"beta": 0.0}, smooth_l1),
        ("tweedie", {"power": 1.0}, tweedie),
        ("tweedie", {"power": 2.0}, tweedie),
    ):
        out = lk.get(name)(y, p, reduction="none", **params)
        np.testing.assert_allclose(out, formula(y, p, *params.values()), rtol=1e-12, atol=1e-14)


# ====================================================================== (f) names and aliases
CANONICAL = [
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "huber",
    "smooth_l1",
    "log_cosh",
    "quantile",
    "expectile",
    "poisson",
    "poisson_nll",
    "gaussian_nll",
    "laplace_nll",
    "tweedie",
    "cosine_similarity",
]  # fmt: skip
ALIASES = {
    "mae": "mean_absolute_error",
    "l1": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "logcosh": "log_cosh",
    "pinball": "quantile",
    "tweedie_deviance": "tweedie",
}


@pytest.mark.parametrize("name", CANONICAL)
def test_canonical_name_is_registered_and_exported(name: str) -> None:
    assert name in lk.names()
    assert lk.get(name) is getattr(lk, name)


@pytest.mark.parametrize(("alias", "canonical"), ALIASES.items())
def test_alias_resolves(alias: str, canonical: str) -> None:
    assert lk.get(alias) is lk.get(canonical)
