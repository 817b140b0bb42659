"""Scoring rules (Brier, Gaussian and ensemble CRPS, β-NLL) and the ``erf`` primitive.

Values and gradients are compared with float64 formulas written here from the definitions
(Brier 1950; Gneiting et al. 2005 for the Gaussian CRPS, with SciPy's normal distribution;
the energy form of the ensemble CRPS as a loop over member pairs; Seitzer et al. 2022), on
inputs rounded to the tested dtype, and with the anchors: scikit-learn's
``brier_score_loss``, scoringrules' ``brier_score``, ``crps_normal`` and ``crps_ensemble``
(values, and gradients through its torch backend), and torch's ``gaussian_nll_loss``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import losskit as lk
from conftest import tolerance

RNG = np.random.default_rng(11)
N = 6
OBS = RNG.normal(size=N)
MU = RNG.normal(size=N)
SIGMA = RNG.uniform(0.2, 2.5, size=N)
ENSEMBLE = RNG.normal(size=(N, 7)) * 1.5
PROBS = RNG.uniform(0.02, 0.98, size=N)
OUTCOMES = (RNG.random(N) > 0.5).astype(float)
LOGITS = RNG.normal(size=N) * 3
CLASS_LOGITS = RNG.normal(size=(N, 4)) * 2
CLASS_PROBS = np.exp(CLASS_LOGITS - CLASS_LOGITS.max(-1, keepdims=True))
CLASS_PROBS /= CLASS_PROBS.sum(-1, keepdims=True)
CLASS_LABELS = RNG.integers(0, 4, size=N)
ONE_HOT = np.eye(4)[CLASS_LABELS]
SOFT = np.exp(RNG.normal(size=(N, 4)))
SOFT /= SOFT.sum(-1, keepdims=True)
VARIANCE = RNG.uniform(0.1, 3.0, size=N)

#: Gradients: relative 1e-6 (float32) / 1e-10 (float64), with an absolute floor.
GRAD_TOL = {"float32": {"rtol": 1e-5, "atol": 1e-6}, "float64": {"rtol": 1e-10, "atol": 1e-12}}


def rounded(x: Any, dtype: str) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).astype(dtype).astype(np.float64)


def total(backend: Any, x: Any) -> Any:
    if backend.name == "tensorflow":
        import tensorflow as tf

        return tf.reduce_sum(x)
    return x.sum()


# ====================================================================== float64 references
def sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=np.float64)))


def softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def crps_normal_ref(y, mu, sigma):
    from scipy.stats import norm

    z = (y - mu) / sigma
    return sigma * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / math.sqrt(math.pi))


def crps_normal_grads(y, mu, sigma):
    from scipy.stats import norm

    z = (y - mu) / sigma
    return -(2 * norm.cdf(z) - 1), 2 * norm.pdf(z) - 1 / math.sqrt(math.pi)


def crps_ensemble_ref(y, x, fair=False):
    """Energy form, a loop over member pairs."""
    out = np.zeros(len(y))
    for n in range(len(y)):
        m = x.shape[-1]
        error = sum(abs(x[n, i] - y[n]) for i in range(m)) / m
        spread = sum(abs(x[n, i] - x[n, j]) for i in range(m) for j in range(m))
        out[n] = error - spread / (2 * (m * (m - 1) if fair else m * m))
    return out


def crps_ensemble_grad(y, x, fair=False):
    m = x.shape[-1]
    pairs = m * (m - 1) if fair else m * m
    spread = np.sign(x[..., :, None] - x[..., None, :]).sum(-1)
    return np.sign(x - y[:, None]) / m - spread / pairs


def beta_nll_ref(y, mu, v, beta, full=False):
    nll = 0.5 * (np.log(v) + (y - mu) ** 2 / v) + (0.5 * math.log(2 * math.pi) if full else 0)
    return v**beta * nll


def beta_nll_grads(y, mu, v, beta):
    """∂/∂μ and ∂/∂v with the weight v^β held constant (Seitzer et al.'s stop-gradient)."""
    w = v**beta
    return w * (mu - y) / v, w * 0.5 * (1 / v - (y - mu) ** 2 / v**2)


# ====================================================================== values
def _value_cases(dtype: str) -> dict[str, tuple[str, tuple, dict, np.ndarray]]:
    names = ("PROBS", "LOGITS", "CLASS_PROBS", "CLASS_LOGITS", "SOFT", "OBS", "MU", "SIGMA")
    r = {k: rounded(globals()[k], dtype) for k in (*names, "ENSEMBLE", "VARIANCE")}
    return {
        "brier-binary": ("brier", (OUTCOMES, r["PROBS"]), {}, (r["PROBS"] - OUTCOMES) ** 2),
        "brier-binary-logits": (
            "brier",
            (OUTCOMES, r["LOGITS"]),
            {"from_logits": True},
            (sigmoid(r["LOGITS"]) - OUTCOMES) ** 2,
        ),
        "brier-onehot": (
            "brier",
            (ONE_HOT, r["CLASS_PROBS"]),
            {"mode": "multiclass"},
            ((r["CLASS_PROBS"] - ONE_HOT) ** 2).sum(-1),
        ),
        "brier-labels": (
            "brier",
            (CLASS_LABELS, r["CLASS_PROBS"]),
            {"mode": "multiclass"},
            ((r["CLASS_PROBS"] - ONE_HOT) ** 2).sum(-1),
        ),
        "brier-soft-logits": (
            "brier",
            (r["SOFT"], r["CLASS_LOGITS"]),
            {"mode": "multiclass", "from_logits": True},
            ((softmax(r["CLASS_LOGITS"]) - r["SOFT"]) ** 2).sum(-1),
        ),
        "brier-labels-axis0": (
            "brier",
            (CLASS_LABELS, r["CLASS_LOGITS"].T),
            {"mode": "multiclass", "from_logits": True, "axis": 0},
            ((softmax(r["CLASS_LOGITS"]) - ONE_HOT) ** 2).sum(-1),
        ),
        "crps_gaussian": (
            "crps_gaussian",
            (r["OBS"], r["MU"], r["SIGMA"]),
            {},
            crps_normal_ref(r["OBS"], r["MU"], r["SIGMA"]),
        ),
        "crps_ensemble-nrg": (
            "crps_ensemble",
            (r["OBS"], r["ENSEMBLE"]),
            {},
            crps_ensemble_ref(r["OBS"], r["ENSEMBLE"]),
        ),
        "crps_ensemble-fair-axis0": (
            "crps_ensemble",
            (r["OBS"], r["ENSEMBLE"].T),
            {"estimator": "fair", "axis": 0},
            crps_ensemble_ref(r["OBS"], r["ENSEMBLE"], fair=True),
        ),
        "crps_ensemble-pwm-keepdims": (
            "crps_ensemble",
            (r["OBS"][:, None], r["ENSEMBLE"]),
            {"estimator": "pwm"},
            crps_ensemble_ref(r["OBS"], r["ENSEMBLE"], fair=True),
        ),
        "beta_nll": (
            "beta_nll",
            (r["OBS"], r["MU"], r["VARIANCE"]),
            {},
            beta_nll_ref(r["OBS"], r["MU"], r["VARIANCE"], 0.5),
        ),
        "beta_nll-0-full": (
            "beta_nll",
            (r["OBS"], r["MU"], r["VARIANCE"]),
            {"beta": 0.0, "full": True},
            beta_nll_ref(r["OBS"], r["MU"], r["VARIANCE"], 0.0, full=True),
        ),
        "beta_nll-1": (
            "beta_nll",
            (r["OBS"], r["MU"], r["VARIANCE"]),
            {"beta": 1.0},
            beta_nll_ref(r["OBS"], r["MU"], r["VARIANCE"], 1.0),
        ),
    }


CASE_IDS = list(_value_cases("float64"))


@pytest.mark.parametrize("case", CASE_IDS)
def test_values_match_float64_formula(backend, dtype, case):
    name, args, params, expected = _value_cases(dtype)[case]
    native = [backend.array(a, None if np.asarray(a).dtype.kind == "i" else dtype) for a in args]
    out = lk.get(name)(*native, reduction="none", **params)
    assert dtype in str(out.dtype)
    got = backend.to_numpy(out)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, **tolerance(dtype))
    mean = backend.to_numpy(lk.get(name)(*native, **params))
    np.testing.assert_allclose(mean, expected.mean(), **tolerance(dtype))


def test_half_precision_computes_in_float32():
    torch = pytest.importorskip("torch")
    out = lk.crps_gaussian(
        torch.tensor(OBS, dtype=torch.float16),
        torch.tensor(MU, dtype=torch.float16),
        torch.tensor(SIGMA, dtype=torch.float16),
        reduction="none",
    )
    assert out.dtype == torch.float32
    r = [rounded(a, "float16") for a in (OBS, MU, SIGMA)]
    np.testing.assert_allclose(out.numpy(), crps_normal_ref(*r), rtol=1e-6, atol=1e-7)


# ====================================================================== gradients
def test_crps_gaussian_gradients(autodiff_backend, dtype):
    b = autodiff_backend
    y, mu, sigma = (rounded(a, dtype) for a in (OBS, MU, SIGMA))
    by, bmu, bsigma = (b.array(a, dtype) for a in (y, mu, sigma))
    g_mu = b.grad(lambda t: lk.crps_gaussian(by, t, bsigma, reduction="sum"), bmu)
    g_sigma = b.grad(lambda t: lk.crps_gaussian(by, bmu, t, reduction="sum"), bsigma)
    e_mu, e_sigma = crps_normal_grads(y, mu, sigma)
    np.testing.assert_allclose(b.to_numpy(g_mu), e_mu, **GRAD_TOL[dtype])
    np.testing.assert_allclose(b.to_numpy(g_sigma), e_sigma, **GRAD_TOL[dtype])


@pytest.mark.parametrize("estimator", ["nrg", "fair"])
def test_crps_ensemble_gradients(autodiff_backend, dtype, estimator):
    b = autodiff_backend
    y, x = rounded(OBS, dtype), rounded(ENSEMBLE, dtype)
    by = b.array(y, dtype)
    g = b.grad(
        lambda t: lk.crps_ensemble(by, t, estimator=estimator, reduction="sum"), b.array(x, dtype)
    )
    expected = crps_ensemble_grad(y, x, fair=estimator == "fair")
    np.testing.assert_allclose(b.to_numpy(g), expected, **GRAD_TOL[dtype])


def test_beta_nll_gradients_hold_the_weight_constant(autodiff_backend, dtype):
    b = autodiff_backend
    y, mu, v = (rounded(a, dtype) for a in (OBS, MU, VARIANCE))
    by, bmu, bv = (b.array(a, dtype) for a in (y, mu, v))
    for beta in (0.0, 0.5, 1.0):
        g_mu = b.grad(lambda t, be=beta: lk.beta_nll(by, t, bv, beta=be, reduction="sum"), bmu)
        g_v = b.grad(lambda t, be=beta: lk.beta_nll(by, bmu, t, beta=be, reduction="sum"), bv)
        e_mu, e_v = beta_nll_grads(y, mu, v, beta)
        np.testing.assert_allclose(b.to_numpy(g_mu), e_mu, **GRAD_TOL[dtype])
        np.testing.assert_allclose(b.to_numpy(g_v), e_v, **GRAD_TOL[dtype])
    # β = 1: the mean's gradient is the squared error's, (μ - y), whatever the variance
    g = b.grad(lambda t: lk.beta_nll(by, t, bv, beta=1.0, reduction="sum"), bmu)
    np.testing.assert_allclose(b.to_numpy(g), mu - y, **GRAD_TOL[dtype])


def test_brier_gradients_from_logits(autodiff_backend, dtype):
    b = autodiff_backend
    z, zc = rounded(LOGITS, dtype), rounded(CLASS_LOGITS, dtype)
    g = b.grad(
        lambda t: lk.brier(b.array(OUTCOMES, dtype), t, from_logits=True, reduction="sum"),
        b.array(z, dtype),
    )
    p = sigmoid(z)
    np.testing.assert_allclose(b.to_numpy(g), 2 * (p - OUTCOMES) * p * (1 - p), **GRAD_TOL[dtype])
    g = b.grad(
        lambda t: lk.brier(
            b.array(CLASS_LABELS), t, mode="multiclass", from_logits=True, reduction="sum"
        ),
        b.array(zc, dtype),
    )
    p = softmax(zc)
    d = 2 * (p - ONE_HOT)
    expected = p * (d - (d * p).sum(-1, keepdims=True))  # Jacobian of the softmax
    np.testing.assert_allclose(b.to_numpy(g), expected, **GRAD_TOL[dtype])


# ====================================================================== extremes
def test_crps_gaussian_extremes_are_finite_and_exact(autodiff_backend, dtype):
    b = autodiff_backend
    tiny = 1e-30 if dtype == "float32" else 1e-300
    y = np.array([0.0, 1.0, -2.0, 0.0, 1e6, 3.0, 0.0])
    mu = np.array([0.0, 0.0, 0.0, 1e-3, -1e6, 3.0, 5.0])
    sigma = np.array([tiny, tiny, tiny, 1e-3, 1.0, 1e30, 1e-12])
    by, bmu, bs = (b.array(a, dtype) for a in (y, mu, sigma))
    value = b.to_numpy(lk.crps_gaussian(by, bmu, bs, reduction="none"))
    y, mu, sigma = (rounded(a, dtype) for a in (y, mu, sigma))
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        expected = np.where(
            np.abs(y - mu) > 40 * sigma,  # z beyond 40: the point-forecast limit
            np.abs(y - mu) - sigma / math.sqrt(math.pi),
            crps_normal_ref(y, mu, sigma),
        )
    np.testing.assert_allclose(value, expected, rtol=1e-6 if dtype == "float32" else 1e-12)
    for arg in (1, 2):
        args = [by, bmu, bs]

        def f(t, k=arg, a=args):
            return lk.crps_gaussian(*[t if i == k else a[i] for i in range(3)], reduction="sum")

        grad = b.to_numpy(b.grad(f, args[arg]))
        assert np.all(np.isfinite(grad)), grad
        assert np.all(np.abs(grad) <= 1.0 + 1e-6)  # |∂/∂μ| <= 1, ∂/∂σ in [-1/√π, 2φ(0) - 1/√π]


def test_crps_ensemble_ties_give_finite_gradients(autodiff_backend, dtype):
    b = autodiff_backend
    y = np.array([0.0, 1.0, 2.0])
    x = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 2.0], [0.0, 2.0, 2.0]])
    for estimator in ("nrg", "fair"):
        value = b.to_numpy(
            lk.crps_ensemble(b.array(y, dtype), b.array(x, dtype), estimator=estimator)
        )
        assert np.isfinite(value)
        grad = b.to_numpy(
            b.grad(
                lambda t, e=estimator: lk.crps_ensemble(b.array(y, dtype), t, estimator=e),
                b.array(x, dtype),
            )
        )
        assert np.all(np.isfinite(grad))
    # all members equal the observation: loss 0
    zero = lk.crps_ensemble(b.array(y, dtype), b.array(np.repeat(y[:, None], 4, 1), dtype))
    assert float(b.to_numpy(zero)) == 0.0


def test_brier_and_beta_nll_extremes(autodiff_backend, dtype):
    b = autodiff_backend
    z = np.array([-100.0, -40.0, 0.0, 40.0, 100.0])
    y = np.array([0.0, 0.0, 1.0, 1.0, 0.0])
    value = b.to_numpy(
        lk.brier(b.array(y, dtype), b.array(z, dtype), from_logits=True, reduction="none")
    )
    if dtype == "float64":  # relative accuracy in both tails: no 1 - σ cancellation
        # |σ(z) - y| is σ(-z) for y = 1 and σ(z) for y = 0
        np.testing.assert_allclose(
            value, np.where(y == 1, sigmoid(-z), sigmoid(z)) ** 2, rtol=1e-12
        )
    grad = b.grad(lambda t: lk.brier(b.array(y, dtype), t, from_logits=True), b.array(z, dtype))
    assert np.all(np.isfinite(b.to_numpy(grad)))
    var = np.array([0.0, 1e-30, 1e-8, 1.0, 1e30])
    mu = np.array([1.0, 1.0, 0.0, 1e3, -1e3])
    for arg in ("mean", "variance"):
        bm, bv = b.array(mu, dtype), b.array(var, dtype)

        def f(t, which=arg, bm=bm, bv=bv):
            m, v = (t, bv) if which == "mean" else (bm, t)
            return lk.beta_nll(b.array(np.zeros(5), dtype), m, v, beta=0.5)

        assert np.isfinite(float(b.to_numpy(f(bm if arg == "mean" else bv))))
        grad = b.to_numpy(b.grad(f, bm if arg == "mean" else bv))
        assert np.all(np.isfinite(grad)), grad


@pytest.mark.parametrize("name", ["brier", "crps_gaussian", "crps_ensemble", "beta_nll"])
def test_all_masked_is_zero_with_zero_gradient(autodiff_backend, name):
    b = autodiff_backend
    args = {
        "brier": (OUTCOMES, PROBS),
        "crps_gaussian": (OBS, MU, SIGMA),
        "crps_ensemble": (OBS, ENSEMBLE),
        "beta_nll": (OBS, MU, VARIANCE),
    }[name]
    native = [b.array(a) for a in args]
    mask = np.zeros(N, dtype=bool)

    def f(t):
        return lk.get(name)(native[0], t, *native[2:], mask=mask)

    assert float(b.to_numpy(f(native[1]))) == 0.0
    assert np.all(b.to_numpy(b.grad(f, native[1])) == 0.0)


# ====================================================================== anchors
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sklearn_brier_score_loss(dtype):
    metrics = pytest.importorskip("sklearn.metrics")
    w = RNG.uniform(0.5, 2.0, size=N)
    p = PROBS.astype(dtype)
    rtol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(
        float(lk.brier(OUTCOMES, p)), metrics.brier_score_loss(OUTCOMES, p), rtol=rtol
    )
    np.testing.assert_allclose(
        float(lk.brier(OUTCOMES, p, sample_weight=w)),
        metrics.brier_score_loss(OUTCOMES, p, sample_weight=w),
        rtol=rtol,
    )
    q = CLASS_PROBS.astype(dtype)
    labels = [0, 1, 2, 3]
    theirs = metrics.brier_score_loss(CLASS_LABELS, q, labels=labels)  # [0, 2] range
    np.testing.assert_allclose(
        float(lk.brier(CLASS_LABELS, q, mode="multiclass")), theirs, rtol=rtol
    )
    half = metrics.brier_score_loss(CLASS_LABELS, q, labels=labels, scale_by_half=True)
    np.testing.assert_allclose(float(lk.brier(ONE_HOT, q, mode="multiclass")) / 2, half, rtol=rtol)


def test_scoringrules_brier_crps_normal_and_ensemble():
    sr = pytest.importorskip("scoringrules")
    np.testing.assert_allclose(
        lk.brier(OUTCOMES, PROBS, reduction="none"), sr.brier_score(OUTCOMES, PROBS), rtol=1e-12
    )
    np.testing.assert_allclose(
        lk.crps_gaussian(OBS, MU, SIGMA, reduction="none"),
        sr.crps_normal(OBS, MU, SIGMA),
        rtol=1e-12,
    )
    # scoringrules' default ("qd"), "nrg" and "int" are the CRPS of the empirical distribution;
    # its "fair" and "pwm" the fair estimator.
    nrg = lk.crps_ensemble(OBS, ENSEMBLE, reduction="none")
    fair = lk.crps_ensemble(OBS, ENSEMBLE, estimator="fair", reduction="none")
    np.testing.assert_allclose(nrg, sr.crps_ensemble(OBS, ENSEMBLE), rtol=1e-12)
    for theirs, ours in (("nrg", nrg), ("qd", nrg), ("int", nrg), ("fair", fair), ("pwm", fair)):
        np.testing.assert_allclose(
            ours, sr.crps_ensemble(OBS, ENSEMBLE, estimator=theirs), rtol=1e-12, err_msg=theirs
        )
    np.testing.assert_allclose(
        lk.crps_ensemble(OBS, ENSEMBLE.T, axis=0, estimator="pwm", reduction="none"),
        sr.crps_ensemble(OBS, ENSEMBLE.T, m_axis=0, estimator="pwm"),
        rtol=1e-12,
    )


def test_scoringrules_torch_gradients():
    sr = pytest.importorskip("scoringrules")
    torch = pytest.importorskip("torch")

    def grads(fn, *arrays):
        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
        (out,) = [fn(*tensors).sum()]
        return [g.numpy() for g in torch.autograd.grad(out, tensors[1:])]

    theirs = grads(lambda y, m, s: sr.crps_normal(y, m, s, backend="torch"), OBS, MU, SIGMA)
    ours = grads(lambda y, m, s: lk.crps_gaussian(y, m, s, reduction="none"), OBS, MU, SIGMA)
    # scoringrules' torch backend takes √2, √π and √(2π) as float32 constants: ~1e-7 off
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=5e-8, atol=1e-7)
    for estimator in ("nrg", "fair"):
        theirs = grads(
            lambda y, x, e=estimator: sr.crps_ensemble(y, x, estimator=e, backend="torch"),
            OBS,
            ENSEMBLE,
        )
        ours = grads(
            lambda y, x, e=estimator: lk.crps_ensemble(y, x, estimator=e, reduction="none"),
            OBS,
            ENSEMBLE,
        )
        np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_gaussian_nll_is_beta_nll_at_zero(dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    tdt = getattr(torch, dtype)
    var = np.concatenate([VARIANCE[:-1], [1e-8]])  # one variance below eps: both clamp
    y = torch.tensor(OBS, dtype=tdt)
    for full in (False, True):
        mu = torch.tensor(MU, dtype=tdt, requires_grad=True)
        v = torch.tensor(var, dtype=tdt, requires_grad=True)
        theirs = F.gaussian_nll_loss(mu, y, v, full=full, eps=1e-6)
        g_theirs = torch.autograd.grad(theirs, [mu, v])
        mu2 = torch.tensor(MU, dtype=tdt, requires_grad=True)
        v2 = torch.tensor(var, dtype=tdt, requires_grad=True)
        ours = lk.beta_nll(y, mu2, v2, beta=0.0, full=full)
        g_ours = torch.autograd.grad(ours, [mu2, v2])
        rtol = 1e-6 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(float(ours), float(theirs), rtol=rtol)
        for a, b in zip(g_ours, g_theirs, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=rtol * 10, atol=1e-7)
        np.testing.assert_allclose(
            float(ours), float(lk.gaussian_nll(y, mu2, var=v2, full=full)), rtol=rtol
        )


def test_beta_nll_matches_seitzer_detached_weight_in_torch():
    torch = pytest.importorskip("torch")
    mu = torch.tensor(MU, requires_grad=True)
    v = torch.tensor(VARIANCE, requires_grad=True)
    y = torch.tensor(OBS)
    # Seitzer et al.'s formulation, elementwise: NLL · variance.detach() ** β
    theirs = ((0.5 * ((y - mu) ** 2 / v + v.log())) * v.detach() ** 0.5).mean()
    g_theirs = torch.autograd.grad(theirs, [mu, v])
    ours = lk.beta_nll(y, mu, v, beta=0.5)
    g_ours = torch.autograd.grad(ours, [mu, v])
    np.testing.assert_allclose(float(ours), float(theirs), rtol=1e-12)
    for a, b in zip(g_ours, g_theirs, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    # without the stop-gradient the variance gradient would differ
    undetached = ((0.5 * ((y - mu) ** 2 / v + v.log())) * v**0.5).mean()
    (g_v,) = torch.autograd.grad(undetached, [v])
    assert not np.allclose(g_v.numpy(), g_ours[1].numpy())


# ====================================================================== erf
def test_generic_erf_is_accurate_in_float64():
    import array_api_compat.numpy as xp

    from losskit._backend import ArrayAPIBackend

    generic = ArrayAPIBackend(xp)
    x = np.concatenate(
        [
            np.linspace(-7, 7, 20001),
            np.logspace(-300, 1.5, 3000),
            -np.logspace(-30, 1.4, 500),
            [0.0, 0.46875, 4.0, 26.0, 27.0, 40.0, 1e300],
        ]
    )
    got = generic.erf(x)
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)  # measured: 6.5e-16
    assert generic.erf(np.array([np.inf]))[0] == 1.0 and generic.erf(np.array([-np.inf]))[0] == -1.0
    assert np.isnan(generic.erf(np.array([np.nan]))[0])
    x32 = x.astype(np.float32)
    got32 = generic.erf(x32)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, [math.erf(float(v)) for v in x32], rtol=1e-6, atol=1e-30)


def test_erf_on_every_backend_and_its_gradient(backend, dtype):
    from losskit._backend import ArrayAPIBackend, backend_of

    x = np.linspace(-5, 5, 41)
    arr = backend.array(x, dtype)
    impl = backend_of(arr)
    got = backend.to_numpy(impl.erf(arr))
    expected = [math.erf(v) for v in rounded(x, dtype)]
    np.testing.assert_allclose(got, expected, rtol=1e-15 if dtype == "float64" else 1e-6, atol=0)
    if backend.name == "torch":
        generic = ArrayAPIBackend(impl.xp)  # the generic formula under torch's autodiff
        g = backend.grad(lambda t: total(backend, generic.erf(t)), arr)
        slope = 2 / math.sqrt(math.pi) * np.exp(-(rounded(x, dtype) ** 2))
        rtol = 1e-5 if dtype == "float32" else 1e-13
        np.testing.assert_allclose(backend.to_numpy(g), slope, rtol=rtol, atol=1e-30)


# ====================================================================== tracing
def _all_losses(xp_array: Any) -> list[tuple[str, Any]]:
    a = xp_array
    return [
        ("brier", lambda t: lk.brier(a(OUTCOMES), t, from_logits=True)),
        (
            "brier-multiclass",
            lambda t: lk.brier(
                a(CLASS_LABELS), t[:, None] * a(np.ones(4)), mode="multiclass", from_logits=True
            ),
        ),
        ("crps_gaussian", lambda t: lk.crps_gaussian(a(OBS), t, a(SIGMA))),
        ("crps_ensemble", lambda t: lk.crps_ensemble(a(OBS), t[:, None] + a(ENSEMBLE))),
        (
            "crps_ensemble-fair",
            lambda t: lk.crps_ensemble(a(OBS), t[:, None] + a(ENSEMBLE), estimator="fair"),
        ),
        ("beta_nll", lambda t: lk.beta_nll(a(OBS), t, a(VARIANCE))),
    ]


def test_jax_jit_agrees_with_eager():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    for name, f in _all_losses(jnp.asarray):
        eager = f(jnp.asarray(MU))
        value, grad = jax.jit(jax.value_and_grad(f))(jnp.asarray(MU))
        np.testing.assert_allclose(float(value), float(eager), rtol=1e-12, err_msg=name)
        assert np.all(np.isfinite(np.asarray(grad))), name


def test_tf_function_jit_compile_agrees_with_eager():
    tf = pytest.importorskip("tensorflow")
    losses = _all_losses(tf.constant)

    @tf.function(jit_compile=True)
    def run(t):
        return tf.stack([f(t) for _, f in losses])

    values = run(tf.constant(MU))
    for k, (name, f) in enumerate(losses):
        eager = f(tf.constant(MU))
        np.testing.assert_allclose(values[k].numpy(), eager.numpy(), rtol=1e-12, err_msg=name)


# ====================================================================== validation and names
def test_validation_errors():
    with pytest.raises(ValueError, match="mode"):
        lk.brier(OUTCOMES, PROBS, mode="multilabel")
    with pytest.raises(ValueError, match="from_logits=True"):
        lk.brier(OUTCOMES, LOGITS)
    with pytest.raises(ValueError, match="y_true"):
        lk.brier(OUTCOMES * 2, PROBS)
    with pytest.raises(ValueError, match="sum to 1"):
        lk.brier(ONE_HOT, CLASS_PROBS * 0.9, mode="multiclass")
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        lk.brier(CLASS_LABELS + 1, CLASS_PROBS, mode="multiclass")
    with pytest.raises(ValueError, match="does not match"):
        lk.brier(ONE_HOT[:, :3], CLASS_PROBS, mode="multiclass")
    with pytest.raises(ValueError, match="sigma must be positive"):
        lk.crps_gaussian(OBS, MU, np.where(SIGMA > 1, 0.0, SIGMA))
    with pytest.raises(ValueError, match="sigma must be positive"):
        lk.crps_gaussian(OBS, MU, -1.0)
    with pytest.raises(ValueError, match="sigma of shape"):
        lk.crps_gaussian(OBS, MU, np.ones(3))
    with pytest.raises(ValueError, match="estimator"):
        lk.crps_ensemble(OBS, ENSEMBLE, estimator="akr")
    with pytest.raises(ValueError, match="at least one member"):
        lk.crps_ensemble(OBS, ENSEMBLE[:, :0])
    with pytest.raises(ValueError, match="at least two members"):
        lk.crps_ensemble(OBS, ENSEMBLE[:, :1], estimator="fair")
    with pytest.raises(ValueError, match="does not match the ensemble"):
        lk.crps_ensemble(OBS[:4], ENSEMBLE)
    with pytest.raises(ValueError, match="NaN"):
        lk.crps_ensemble(OBS, np.where(ENSEMBLE > 1, np.nan, ENSEMBLE))
    with pytest.raises(ValueError, match="beta"):
        lk.beta_nll(OBS, MU, VARIANCE, beta=1.5)
    with pytest.raises(ValueError, match="variance must be non-negative"):
        lk.beta_nll(OBS, MU, -VARIANCE)
    with pytest.raises(ValueError, match="variance must be positive"):
        lk.beta_nll(OBS, MU, np.zeros(N), eps=0.0)
    with pytest.raises(ValueError, match="eps"):
        lk.beta_nll(OBS, MU, VARIANCE, eps=-1.0)


def test_ensemble_spread_without_sort_is_the_pairwise_sum():
    """A namespace without ``sort`` takes the O(m²) pairwise form: the same value."""
    import types

    import array_api_compat.numpy as xp

    from losskit._backend import ArrayAPIBackend
    from losskit.losses._probabilistic import _spread_sum

    no_sort = types.SimpleNamespace(**{k: getattr(xp, k) for k in dir(xp) if k != "sort"})
    d = ENSEMBLE - OBS[:, None]
    m = d.shape[-1]
    pairwise = _spread_sum(ArrayAPIBackend(no_sort), d, m)
    sorted_ = _spread_sum(ArrayAPIBackend(xp), d, m)
    expected = 0.5 * np.abs(d[:, :, None] - d[:, None, :]).sum((-2, -1))
    np.testing.assert_allclose(pairwise, expected, rtol=1e-13)
    np.testing.assert_allclose(sorted_, expected, rtol=1e-13)


def test_single_member_nrg_is_the_absolute_error_and_prefix_parameters():
    np.testing.assert_allclose(
        lk.crps_ensemble(OBS, MU[:, None], reduction="none"), np.abs(OBS - MU), rtol=1e-15
    )
    # a per-sample σ / variance (a prefix of the shape) is expanded on the right
    y, mu = np.tile(OBS[:, None], (1, 3)), np.tile(MU[:, None], (1, 3))
    np.testing.assert_allclose(
        lk.crps_gaussian(y, mu, SIGMA, reduction="none"),
        np.tile(crps_normal_ref(OBS, MU, SIGMA)[:, None], (1, 3)),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        lk.beta_nll(y, mu, VARIANCE, reduction="none")[:, 0],
        beta_nll_ref(OBS, MU, VARIANCE, 0.5),
        rtol=1e-12,
    )


ALIASES = {
    "brier_score": "brier",
    "brier_score_loss": "brier",
    "crps_normal": "crps_gaussian",
    "ensemble_crps": "crps_ensemble",
    "beta_nll_loss": "beta_nll",
}


def test_names_aliases_and_metadata():
    for name in ("brier", "crps_gaussian", "crps_ensemble", "beta_nll"):
        assert name in lk.names() and lk.get(name) is getattr(lk, name)
        assert lk.info(name).family == "probabilistic" and lk.info(name).references
    for alias, canonical in ALIASES.items():
        assert lk.get(alias) is lk.get(canonical)
    assert lk.info("brier").properties["strictly_proper"] is True
    assert lk.info("crps_gaussian").properties["strictly_proper"] is True
