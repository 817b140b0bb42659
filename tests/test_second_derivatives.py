"""Every registered loss has second derivatives in eager PyTorch: a Hessian-vector product taken
by differentiating the gradient (``create_graph=True``, boosting's Hessians, gradient penalties)
equals the one ``torch.func`` takes through the generic formulas.

Eager calls take the backend's fused ``autograd.Function``s, whose backward must itself be
differentiable; under ``torch.func`` the generic array-API formulas are traced instead, so the
two products come from independent implementations of the same derivative.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import losskit as lk  # noqa: E402
from cases import case  # noqa: E402


def _inputs(name: str) -> tuple[Any, list[Any], dict[str, Any]]:
    c = case(name)
    inputs = [
        torch.as_tensor(x, dtype=torch.float64) if np.issubdtype(x.dtype, np.floating) else
        torch.as_tensor(x)
        for x in c.inputs
    ]  # fmt: skip
    return c, inputs, c.params


def _eager_hvp(loss: Any, x: Any, v: Any) -> Any:
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss(x), x, create_graph=True)
    if not g.requires_grad:  # a gradient that does not depend on x: the Hessian is 0
        return torch.zeros_like(x)
    (hv,) = torch.autograd.grad((g * v).sum(), x, allow_unused=True)
    return torch.zeros_like(x) if hv is None else hv


@pytest.mark.parametrize("name", lk.names())
def test_eager_second_derivative_equals_the_traced_one(name):
    c, inputs, params = _inputs(name)
    f = lk.get(name)
    gen = torch.Generator().manual_seed(0)
    for i in c.differentiable:
        x = inputs[i]
        v = torch.randn(x.shape, generator=gen, dtype=torch.float64)

        def loss(t: Any, i: int = i) -> Any:
            return f(*inputs[:i], t, *inputs[i + 1 :], **params)

        with lk.validation(False):
            eager = _eager_hvp(loss, x, v)
            traced = torch.func.jvp(torch.func.grad(loss), (x,), (v,))[1]
        assert torch.isfinite(eager).all(), (name, i)
        scale = float(traced.abs().max()) or 1.0
        torch.testing.assert_close(
            eager / scale, traced / scale, rtol=1e-7, atol=1e-9, msg=f"{name}, input {i}"
        )
