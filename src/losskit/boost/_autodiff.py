"""Per-row gradients and Hessian diagonals of any loss by automatic differentiation (float64).

A boosting loss is a sum of per-row terms, so the gradient of the *summed* loss with respect to
the margins is every row's own gradient, and a Hessian-vector product with a tangent that is 1 on
one class column of every row gives that column of every row's Hessian: one forward-over-reverse
pass for an elementwise loss (the Hessian is diagonal), K passes for a K-class loss (which also
give CatBoost the full K × K Hessian of each row). This is what ``vmap`` of the per-row Hessian
computes, without a per-row batch of traces.

The engine is PyTorch (``torch.func``: reverse over reverse, since several of torch's fused
backward kernels have no forward mode) when installed, else JAX (``jax.jit``, forward over
reverse with the tangents ``vmap``-ped; float64 inside ``jax.enable_x64``, so the caller's JAX
setting is untouched). Neither is imported before an
objective without a closed form first needs it.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from ._spec import Spec

ENGINES = ("torch", "jax")


def engine() -> str:
    """The autodiff library to use: the first of :data:`ENGINES` that is installed."""
    for name in ENGINES:
        if importlib.util.find_spec(name) is not None:
            return name
    raise ImportError(
        "this loss has no closed-form gradient and Hessian, so its objective differentiates the "
        "loss automatically: install torch or jax (pip install 'losskit[torch]')"
    )


#: Losses whose gradient is exact but built by a first-order device: bi-tempered logistic's
#: normaliser (``t2 != 1``) is iterated on detached logits and given its implicit-function
#: gradient as a linear term, so autodiff's second derivative misses the normaliser's curvature.
#: Their Hessian is a central difference of the exact gradient (error ~1e-9 relative).
FIRST_ORDER_GRADIENTS: dict[str, Any] = {
    "bi_tempered_logistic": lambda params: params.get("t2", 1.0) != 1.0,
}
_STEP = 1e-5


def derivatives(
    spec: Spec, targets: np.ndarray, margins: np.ndarray, *, full: bool = False, using: str = ""
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(gradient, Hessian diagonal, full per-row Hessian or None)`` of the loss at ``margins``,
    each the shape of ``margins`` (the full Hessian ``(N, K, K)``, only for class losses when
    ``full``)."""
    using = using or engine()
    if using not in ENGINES:
        raise ValueError(f"unknown autodiff engine {using!r}; expected one of {ENGINES}")
    gradient_at, hessian_columns = (
        _torch(spec, targets) if using == "torch" else _jax(spec, targets)
    )
    z = margins.astype(np.float64)
    tangents = _tangents(z.shape, spec.structure)
    first_order = FIRST_ORDER_GRADIENTS.get(spec.name)
    if first_order is not None and first_order(spec.settings):
        step = _STEP * (1.0 + np.abs(z))
        columns = []
        for t in tangents:
            h = np.sum(step * t, axis=-1, keepdims=True) if spec.structure == "class" else step
            columns.append((gradient_at(z + h * t) - gradient_at(z - h * t)) / (2.0 * h))
        return _assemble(spec.structure, gradient_at(z), columns, full)
    gradient, columns = hessian_columns(z, np.stack(tangents))
    return _assemble(spec.structure, gradient, list(columns), full)


def _tangents(shape: tuple[int, ...], structure: str) -> list[np.ndarray]:
    """One tangent per Hessian column: all ones (elementwise: the Hessian is diagonal), or 1 on
    one class column of every row."""
    if structure == "elementwise":
        return [np.ones(shape)]
    columns = []
    for c in range(shape[-1]):
        t = np.zeros(shape)
        t[..., c] = 1.0
        columns.append(t)
    return columns


def _assemble(
    structure: str, gradient: Any, columns: list[Any], full: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    g = np.asarray(gradient, dtype=np.float64)
    if structure == "elementwise":
        return g, np.asarray(columns[0], dtype=np.float64), None
    hessian = np.stack([np.asarray(c, dtype=np.float64) for c in columns], axis=-1)
    return g, np.diagonal(hessian, axis1=-2, axis2=-1).copy(), hessian if full else None


# ---------------------------------------------------------------------- PyTorch
def _torch(spec: Spec, targets: np.ndarray) -> tuple[Any, Any]:
    import torch
    from torch.func import grad, vjp

    links = {"identity": lambda z: z, "exp": torch.exp, "sigmoid": torch.sigmoid}
    links["softmax"] = lambda z: torch.softmax(z, dim=-1)
    link = links[spec.link]
    y = torch.as_tensor(targets)
    y = y.to(torch.float64) if y.is_floating_point() else y

    def total(z: Any) -> Any:
        return spec.function(y, link(z), reduction="sum", **spec.params)

    gradient_of = grad(total)

    def gradient_at(z: np.ndarray) -> np.ndarray:
        return gradient_of(torch.as_tensor(z)).detach().numpy()

    def hessian_columns(z: np.ndarray, tangents: np.ndarray) -> tuple[Any, list[Any]]:
        # reverse over reverse (several fused torch backward kernels have no forward mode);
        # H is symmetric, so the vector-Jacobian product vᵀH is the column Hv
        gradient, product = vjp(gradient_of, torch.as_tensor(z))[:2]
        # force=True: a piecewise-linear loss (F.l1_loss) gives a ZeroTensor second derivative
        columns = [product(torch.as_tensor(t))[0].detach().numpy(force=True) for t in tangents]
        return gradient.detach().numpy(), columns

    return gradient_at, hessian_columns


# ---------------------------------------------------------------------- JAX
def _jax(spec: Spec, targets: np.ndarray) -> tuple[Any, Any]:
    import jax

    compiled = spec.cache.get("jax")
    if compiled is None:
        compiled = spec.cache["jax"] = _jax_functions(spec)
    gradient_of, columns_of = compiled

    def gradient_at(z: np.ndarray) -> np.ndarray:
        with _x64(jax):
            return np.asarray(gradient_of(z, targets))

    def hessian_columns(z: np.ndarray, tangents: np.ndarray) -> tuple[Any, Any]:
        with _x64(jax):
            gradient, columns = columns_of(z, targets, tangents)
            return np.asarray(gradient), np.asarray(columns)

    return gradient_at, hessian_columns


def _x64(jax: Any) -> Any:
    """float64 for this block only (``jax.enable_x64``; ``jax.experimental`` in older JAX)."""
    scope: Any = getattr(jax, "enable_x64", None)
    if scope is None:
        import jax.experimental

        scope = getattr(jax.experimental, "enable_x64")  # noqa: B009 (gone from new JAX)
    return scope(True)


def _jax_functions(spec: Spec) -> tuple[Any, Any]:
    import jax
    import jax.numpy as jnp

    links = {"identity": lambda z: z, "exp": jnp.exp, "sigmoid": jax.nn.sigmoid}
    links["softmax"] = lambda z: jax.nn.softmax(z, axis=-1)
    link = links[spec.link]

    def gradient(z: Any, y: Any) -> Any:
        return jax.grad(lambda m: spec.function(y, link(m), reduction="sum", **spec.params))(z)

    def columns(z: Any, y: Any, tangents: Any) -> tuple[Any, Any]:
        # forward over reverse, one tangent per Hessian column, vmap-ped
        product = jax.vmap(lambda t: jax.jvp(lambda m: gradient(m, y), (z,), (t,))[1])
        return gradient(z, y), product(tangents)

    return jax.jit(gradient), jax.jit(columns)
