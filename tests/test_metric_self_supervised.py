"""VICReg and Barlow Twins against their anchors — pytorch-metric-learning's ``VICRegLoss`` and
MONAI's ``BarlowTwinsLoss`` — in values and gradients with respect to both views, float64 and
float32; the batch-statistic conventions (mask, fewer than two rows, reductions); and bad inputs.

MONAI builds its ``lambd`` as a float32 tensor, so in float64 its off-diagonal weight is
``float32(lambd)``: the float64 comparisons pass that same number to losskit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import losskit as lk

torch = pytest.importorskip("torch")
pml_losses = pytest.importorskip("pytorch_metric_learning.losses")
monai_losses = pytest.importorskip("monai.losses")

RNG = np.random.default_rng(11)
N, D = 16, 8
#: the second view close to the first; columns scaled from 0.4 to 1.6 so that the variance hinge
#: of VICReg is active for some and not for others
Z_A = np.linspace(0.4, 1.6, D) * RNG.normal(size=(N, D))
Z_B = Z_A + 0.4 * RNG.normal(size=(N, D))
TOL = {"float32": {"rtol": 2e-5, "atol": 2e-6}, "float64": {"rtol": 1e-11, "atol": 1e-13}}

#: (pml options, losskit options)
VICREG_CASES = [
    ({}, {}),
    (
        {"invariance_lambda": 10.0, "variance_mu": 5.0, "covariance_v": 3.0, "eps": 1e-3},
        {"sim_coeff": 10.0, "std_coeff": 5.0, "cov_coeff": 3.0, "eps": 1e-3},
    ),
]
LAMBDAS = [5e-3, 0.05]


@pytest.fixture(params=["float32", "float64"])
def dtype(request: pytest.FixtureRequest) -> str:
    return request.param


def _views(dtype: str) -> tuple[Any, Any]:
    torch_dtype = getattr(torch, dtype)
    a = torch.tensor(Z_A, dtype=torch_dtype, requires_grad=True)
    b = torch.tensor(Z_B, dtype=torch_dtype, requires_grad=True)
    return a, b


def _value_and_gradients(loss: Any, dtype: str) -> tuple[float, np.ndarray, np.ndarray]:
    a, b = _views(dtype)
    value = loss(a, b)
    assert value.dtype == getattr(torch, dtype)
    value.backward()
    assert a.grad is not None and b.grad is not None
    return float(value.detach()), a.grad.numpy().astype(float), b.grad.numpy().astype(float)


def _assert_same(got: tuple, expected: tuple, dtype: str) -> None:
    for g, e, what in zip(got, expected, ("value", "d/dz_a", "d/dz_b"), strict=True):
        np.testing.assert_allclose(g, e, **TOL[dtype], err_msg=what)


# ---------------------------------------------------------------------- anchors
@pytest.mark.parametrize(("pml_options", "options"), VICREG_CASES)
def test_vicreg_matches_pml(pml_options: dict, options: dict, dtype: str) -> None:
    anchor = pml_losses.VICRegLoss(**pml_options)
    expected = _value_and_gradients(lambda a, b: anchor(a, ref_emb=b), dtype)
    got = _value_and_gradients(lambda a, b: lk.vicreg(a, b, **options), dtype)
    _assert_same(got, expected, dtype)


def test_vicreg_sample_exercises_every_term() -> None:
    """The variance hinge is active for some columns and not for others in the parity sample."""
    for z in (Z_A, Z_B):
        std = np.sqrt(z.var(axis=0, ddof=1) + 1e-4)
        assert np.any(std < 1.0) and np.any(std > 1.0)


@pytest.mark.parametrize("lambd", LAMBDAS)
def test_barlow_twins_matches_monai(lambd: float, dtype: str) -> None:
    anchor = monai_losses.BarlowTwinsLoss(lambd=lambd)
    weight = float(np.float32(lambd))  # MONAI's lambd is a float32 tensor
    expected = _value_and_gradients(anchor, dtype)
    got = _value_and_gradients(
        lambda a, b: lk.barlow_twins(a, b, off_diagonal_weight=weight), dtype
    )
    _assert_same(got, expected, dtype)


def test_barlow_twins_default_weight_is_the_papers() -> None:
    a, b = _views("float64")
    expected = monai_losses.BarlowTwinsLoss()(a, b)  # lambd = float32(5e-3)
    got = lk.barlow_twins(a, b)
    np.testing.assert_allclose(float(got.detach()), float(expected.detach()), rtol=1e-8)


# ---------------------------------------------------------------------- batch statistics
@pytest.mark.parametrize("name", ["vicreg", "barlow_twins"])
def test_mask_equals_the_batch_without_the_masked_rows(name: str) -> None:
    loss = lk.get(name)
    keep = np.ones(N, dtype=bool)
    keep[[2, 7, 11]] = False
    z_a = Z_A.copy()
    z_a[2] = np.inf  # a masked row never reaches the statistics
    masked = loss(z_a, Z_B, mask=keep)
    np.testing.assert_allclose(float(masked), float(loss(Z_A[keep], Z_B[keep])), rtol=1e-13)


@pytest.mark.parametrize("name", ["vicreg", "barlow_twins"])
def test_every_reduction_returns_the_batch_value(name: str) -> None:
    loss = lk.get(name)
    value = float(loss(Z_A, Z_B))
    unreduced = np.asarray(loss(Z_A, Z_B, reduction="none"))
    assert unreduced.shape == ()
    assert float(unreduced) == value
    assert float(loss(Z_A, Z_B, reduction="sum")) == value
    np.testing.assert_allclose(float(loss(Z_A, Z_B, sample_weight=2.0, reduction="sum")), 2 * value)


@pytest.mark.parametrize("name", ["vicreg", "barlow_twins"])
@pytest.mark.parametrize("rows", [0, 1])
def test_fewer_than_two_rows_give_zero_with_zero_gradients(name: str, rows: int) -> None:
    a, b = _views("float64")
    value = lk.get(name)(a[:rows], b[:rows])
    value.backward()
    assert float(value.detach()) == 0.0
    assert a.grad is not None and torch.all(a.grad == 0)


def test_barlow_twins_constant_column_has_finite_gradients() -> None:
    a, b = _views("float64")
    with torch.no_grad():
        a[:, 3] = 1.5  # zero variance: standardised to 0, not NaN
    value = lk.barlow_twins(a, b)
    value.backward()
    assert torch.isfinite(value) and torch.all(torch.isfinite(a.grad))


# ---------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    ("name", "option", "value"),
    [
        ("vicreg", "sim_coeff", -1.0),
        ("vicreg", "std_coeff", float("nan")),
        ("vicreg", "cov_coeff", "one"),
        ("vicreg", "eps", 0.0),
        ("barlow_twins", "off_diagonal_weight", -5e-3),
        ("barlow_twins", "eps", -1e-6),
    ],
)
def test_bad_option_raises_naming_it(name: str, option: str, value: Any) -> None:
    with pytest.raises((TypeError, ValueError), match=option):
        lk.get(name)(Z_A, Z_B, **{option: value})


@pytest.mark.parametrize("name", ["vicreg", "barlow_twins"])
def test_bad_views_raise_naming_them(name: str) -> None:
    loss = lk.get(name)
    with pytest.raises(ValueError, match="z_a and z_b must have the same shape"):
        loss(Z_A, Z_B[:, :-1])
    with pytest.raises(ValueError, match="z_b must be a 2-D"):
        loss(Z_A, Z_B[None])
    with pytest.raises(TypeError, match="z_a must be a floating-point"):
        loss(np.ones((N, D), dtype=int), Z_B)
    with pytest.raises(ValueError, match="mask"):
        loss(Z_A, Z_B, mask=np.ones(N - 1, dtype=bool))
    with pytest.raises(ValueError, match="sample_weight"):
        loss(Z_A, Z_B, sample_weight=np.ones(N))
