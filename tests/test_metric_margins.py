"""The angular-margin losses (ArcFace, CosFace, SphereFace, Sub-center ArcFace) and Proxy Anchor
against pytorch-metric-learning (pml), per embedding and in mean, values and gradients with
respect to the embeddings and the class centres (proxies); and the torch modules that own them.

pml stores the centres as ``W`` ``(D, C·K)`` and takes ArcFace's margin in degrees: losskit's
``weight`` is ``W.T`` and its margin ``math.radians(pml_margin)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import losskit as lk

torch = pytest.importorskip("torch")
pml_losses = pytest.importorskip("pytorch_metric_learning.losses")
reducers = pytest.importorskip("pytorch_metric_learning.reducers")

RNG = np.random.default_rng(5)
N, D, C = 12, 6, 5
X = RNG.normal(size=(N, D))
LABELS = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 0])
TOL = {"float32": {"rtol": 2e-5, "atol": 2e-5}, "float64": {"rtol": 1e-10, "atol": 1e-11}}

#: (losskit name, pml class, pml options, losskit options)
CASES = [
    ("arcface", "ArcFaceLoss", {}, {"margin": math.radians(28.6)}),  # pml's defaults
    (
        "arcface",
        "ArcFaceLoss",
        {"margin": 40.0, "scale": 10},
        {"margin": math.radians(40.0), "scale": 10.0},
    ),
    ("cosface", "CosFaceLoss", {}, {}),
    ("cosface", "CosFaceLoss", {"margin": 0.2, "scale": 8}, {"margin": 0.2, "scale": 8.0}),
    ("sphereface", "SphereFaceLoss", {}, {}),
    ("sphereface", "SphereFaceLoss", {"margin": 3, "scale": 2}, {"margin": 3, "scale": 2.0}),
    (
        "subcenter_arcface",
        "SubCenterArcFaceLoss",
        {},
        {"margin": math.radians(28.6), "sub_centers": 3},
    ),
    (
        "subcenter_arcface",
        "SubCenterArcFaceLoss",
        {"margin": 20.0, "scale": 16, "sub_centers": 2},
        {"margin": math.radians(20.0), "scale": 16.0, "sub_centers": 2},
    ),
]
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


@pytest.fixture(params=["float32", "float64"])
def dtype(request: pytest.FixtureRequest) -> str:
    return request.param


def _pml(cls: str, options: dict[str, Any], dtype: str, reducer: Any = None) -> Any:
    torch.manual_seed(0)
    extra = {} if reducer is None else {"reducer": reducer}
    loss = getattr(pml_losses, cls)(num_classes=C, embedding_size=D, **options, **extra)
    return loss.to(getattr(torch, dtype))


@pytest.mark.parametrize(("name", "cls", "pml_options", "options"), CASES, ids=IDS)
def test_per_embedding_values_match_pml(dtype, name, cls, pml_options, options):
    theirs = _pml(cls, pml_options, dtype, reducers.DoNothingReducer())
    x = torch.tensor(X, dtype=getattr(torch, dtype))
    labels = torch.as_tensor(LABELS)
    expected = theirs(x, labels)["loss"]["losses"].detach().numpy()
    weight = theirs.W.detach().T
    got = getattr(lk, name)(x, labels, weight, reduction="none", **options).numpy()
    np.testing.assert_allclose(got, expected, **TOL[dtype])


@pytest.mark.parametrize(("name", "cls", "pml_options", "options"), CASES, ids=IDS)
def test_mean_and_gradients_match_pml(dtype, name, cls, pml_options, options):
    theirs = _pml(cls, pml_options, dtype)  # pml's MeanReducer: the plain mean
    labels = torch.as_tensor(LABELS)
    x1 = torch.tensor(X, dtype=getattr(torch, dtype), requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    w = theirs.W.detach().T.clone().requires_grad_(True)
    ours = getattr(lk, name)(x1, labels, w, **options)
    expected = theirs(x2, labels)
    np.testing.assert_allclose(ours.item(), expected.item(), **TOL[dtype])
    ours.backward()
    expected.backward()
    np.testing.assert_allclose(x1.grad.numpy(), x2.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(w.grad.numpy(), theirs.W.grad.T.numpy(), **TOL[dtype])


def test_arcface_past_pi_minus_m_keeps_decreasing():
    # an embedding opposite its centre: θ = π > π - m, where the logit is cos θ - m·sin m
    m, s = 0.5, 2.0
    weight = np.eye(2)
    x = np.array([[-1.0, 0.0]])
    z_true = s * (-1.0 - m * math.sin(m))
    expected = -z_true + math.log(math.exp(z_true) + math.exp(0.0))
    got = float(lk.arcface(x, np.array([0]), weight, margin=m, scale=s))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_sub_centers_of_one_is_arcface():
    weight = RNG.normal(size=(C, D))
    np.testing.assert_allclose(
        lk.subcenter_arcface(X, LABELS, weight, sub_centers=1, reduction="none"),
        lk.arcface(X, LABELS, weight, reduction="none"),
        rtol=1e-12,
    )


def test_bad_inputs_name_the_argument():
    weight = RNG.normal(size=(C, D))
    with pytest.raises(ValueError, match="labels must be class indices in \\[0, 5\\)"):
        lk.arcface(X, LABELS + 1, weight)
    with pytest.raises(ValueError, match="weight must hold one class centre"):
        lk.cosface(X, LABELS, weight[:, :3])
    with pytest.raises(ValueError, match="weight must have num_classes × sub_centers rows"):
        lk.subcenter_arcface(X, LABELS, weight, sub_centers=2)
    with pytest.raises(ValueError, match="margin"):
        lk.arcface(X, LABELS, weight, margin=4.0)
    with pytest.raises(ValueError, match="margin must be an integer ≥ 1"):
        lk.sphereface(X, LABELS, weight, margin=0)
    with pytest.raises(TypeError, match="margin must be an int"):
        lk.sphereface(X, LABELS, weight, margin=1.5)
    with pytest.raises(ValueError, match="scale"):
        lk.cosface(X, LABELS, weight, scale=0.0)
    with pytest.raises(TypeError, match="weight must be a floating-point array"):
        lk.arcface(X, LABELS, np.ones((C, D), dtype=int))
    with pytest.raises(ValueError, match="sub_centers must be ≥ 1"):
        lk.subcenter_arcface(X, LABELS, weight, sub_centers=0)


# ---------------------------------------------------------------- proxy anchor
@pytest.mark.parametrize(("margin", "alpha"), [(0.1, 32.0), (0.3, 8.0)])
def test_proxy_anchor_matches_pml_values_and_gradients(dtype, margin, alpha):
    torch.manual_seed(0)
    pml = pml_losses.ProxyAnchorLoss(
        num_classes=C + 1, embedding_size=D, margin=margin, alpha=alpha
    )
    pml = pml.to(getattr(torch, dtype))  # class C has no embedding: the 1/|P⁺| rule
    labels = torch.as_tensor(LABELS)
    x1 = torch.tensor(X, dtype=getattr(torch, dtype), requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    proxies = pml.proxies.detach().clone().requires_grad_(True)
    ours = lk.proxy_anchor(x1, labels, proxies, margin=margin, alpha=alpha)
    expected = pml(x2, labels)  # its default DivisorReducer
    np.testing.assert_allclose(ours.item(), expected.item(), **TOL[dtype])
    ours.backward()
    expected.backward()
    np.testing.assert_allclose(x1.grad.numpy(), x2.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(proxies.grad.numpy(), pml.proxies.grad.numpy(), **TOL[dtype])


def test_proxy_anchor_bad_inputs_name_the_argument():
    proxies = RNG.normal(size=(C, D))
    with pytest.raises(ValueError, match="labels must be class indices in \\[0, 5\\)"):
        lk.proxy_anchor(X, LABELS + 1, proxies)
    with pytest.raises(ValueError, match="proxies must hold one proxy"):
        lk.proxy_anchor(X, LABELS, proxies[:, :2])
    with pytest.raises(ValueError, match="alpha"):
        lk.proxy_anchor(X, LABELS, proxies, alpha=0.0)
    with pytest.raises(TypeError, match="margin must be a number"):
        lk.proxy_anchor(X, LABELS, proxies, margin=None)


def test_torch_proxy_anchor_module_owns_its_proxies():
    lkt = pytest.importorskip("losskit.torch")
    module = lkt.ProxyAnchor(num_classes=C, embedding_size=D, alpha=8.0)
    assert module.weight.shape == (C, D)
    x, labels = torch.tensor(X, dtype=torch.float32), torch.as_tensor(LABELS)
    loss = module(x, labels)
    assert torch.equal(loss, lk.proxy_anchor(x, labels, module.weight, alpha=8.0))
    loss.backward()
    assert torch.isfinite(module.weight.grad).all() and module.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- torch modules
def test_torch_module_owns_learnable_centres():
    lkt = pytest.importorskip("losskit.torch")
    module = lkt.SubCenterArcFace(num_classes=C, embedding_size=D, sub_centers=2, scale=8.0)
    assert [n for n, _ in module.named_parameters()] == ["weight"]
    assert module.weight.shape == (2 * C, D)
    x, labels = torch.tensor(X, dtype=torch.float32), torch.as_tensor(LABELS)
    loss = module(x, labels)
    expected = lk.subcenter_arcface(x, labels, module.weight, sub_centers=2, scale=8.0)
    assert torch.equal(loss, expected)
    loss.backward()
    assert module.weight.grad is not None and torch.isfinite(module.weight.grad).all()
    # trained by an optimizer like any parameter
    optimizer = torch.optim.SGD(module.parameters(), lr=0.5)
    before = float(module(x, labels).detach())
    for _ in range(20):
        optimizer.zero_grad()
        module(x, labels).backward()
        optimizer.step()
    assert float(module(x, labels).detach()) < before
    assert "weight" in module.state_dict()


def test_torch_module_without_sizes_takes_the_centres_as_input():
    lkt = pytest.importorskip("losskit.torch")
    module = lkt.ArcFace(margin=0.3)
    assert list(module.parameters()) == []
    weight = torch.tensor(RNG.normal(size=(C, D)))
    x, labels = torch.tensor(X), torch.as_tensor(LABELS)
    assert torch.equal(module(x, labels, weight), lk.arcface(x, labels, weight, margin=0.3))


def test_torch_module_bad_sizes_and_calls():
    lkt = pytest.importorskip("losskit.torch")
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        lkt.CosFace(num_classes=0, embedding_size=D)
    with pytest.raises(ValueError, match="embedding_size must be a positive int"):
        lkt.CosFace(num_classes=C, embedding_size=None)
    module = lkt.SphereFace(num_classes=C, embedding_size=D)
    with pytest.raises(TypeError, match="call it with \\(embeddings, labels\\)"):
        module(torch.tensor(X), torch.as_tensor(LABELS), module.weight)
