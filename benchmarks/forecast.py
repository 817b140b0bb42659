"""Forecast scores against scoringrules' torch and JAX backends, on the same arrays.

Energy score (``"nrg"`` and ``"fair"``), variogram score and threshold-weighted CRPS of
ensembles: forward + backward with respect to the ensemble, in torch eager and under
``jax.jit(jax.value_and_grad(...))``. scoringrules returns one score per example; the native
side takes their mean, which is losskit's ``"mean"`` (checked before timing). The thresholds are
exact in float32 (scoringrules' torch backend makes them float32 tensors).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import scoringrules as sr
import torch

import losskit as lk

from ._device import is_cpu, to_device
from ._suite import OFF, ON, TRACED, Case
from ._timing import Step

#: (batch, members, variables): per example the energy score holds M²·V differences and the
#: variogram score M·V².
LARGE = (256, 32, 16)
QUICK = (8, 8, 4)
#: (batch, members) of the univariate twCRPS.
LARGE_1D = (4096, 64)
QUICK_1D = (64, 8)
THRESHOLD = 0.5

#: (loss, native name, native fn, losskit fn, univariate): both fns take ``(y, x)``, the native
#: one also the scoringrules backend.
Spec = tuple[str, str, Callable[[Any, Any, str], Any], Callable[[Any, Any], Any], bool]

SPECS: list[Spec] = [
    (
        "energy_score",
        "sr.es_ensemble",
        lambda y, x, b: sr.es_ensemble(y, x, backend=b),
        lambda y, x: lk.energy_score(y, x),
        False,
    ),
    (
        "energy_score (fair)",
        "sr.es_ensemble(fair)",
        lambda y, x, b: sr.es_ensemble(y, x, estimator="fair", backend=b),
        lambda y, x: lk.energy_score(y, x, estimator="fair"),
        False,
    ),
    (
        "variogram_score",
        "sr.vs_ensemble",
        lambda y, x, b: sr.vs_ensemble(y, x, backend=b),
        lambda y, x: lk.variogram_score(y, x),
        False,
    ),
    (
        "twcrps_ensemble",
        "sr.twcrps_ensemble",
        lambda y, x, b: sr.twcrps_ensemble(y, x, THRESHOLD, backend=b),
        lambda y, x: lk.twcrps_ensemble(y, x, a=THRESHOLD),
        True,
    ),
]


def _size(univariate: bool, quick: bool) -> tuple[int, ...]:
    if univariate:
        return QUICK_1D if quick else LARGE_1D
    return QUICK if quick else LARGE


def _label(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


# ---------------------------------------------------------------------- torch eager
def _torch_step(fn: Callable[[Any, Any], Any], y: torch.Tensor, x: torch.Tensor) -> Step:
    def step() -> tuple[torch.Tensor, torch.Tensor]:
        loss = fn(y, x)
        (grad,) = torch.autograd.grad(loss, x)
        return loss, grad

    return step


def _torch_cases(quick: bool) -> Iterator[Case]:
    gen = torch.Generator().manual_seed(0)
    for validation in (OFF,) if quick else (OFF, ON):
        for loss, native_name, native, ours, univariate in SPECS:
            shape = _size(univariate, quick)
            obs = shape[:1] if univariate else shape[:1] + shape[2:]
            y = to_device(torch.randn(obs, generator=gen))
            x = to_device(torch.randn(shape, generator=gen)).requires_grad_(True)

            def theirs(y: Any, x: Any, fn: Callable[..., Any] = native) -> Any:
                return fn(y, x, "torch").mean()

            yield Case(
                "forecast torch",
                loss,
                _label(shape),
                native_name,
                validation,
                _torch_step(theirs, y, x),
                _torch_step(ours, y, x),
                lambda v: float(v.detach()),
            )


# ---------------------------------------------------------------------- jax jit
def _jax_step(fn: Callable[[Any, Any], Any], y: Any, x: Any) -> Step:
    compiled = jax.jit(jax.value_and_grad(lambda x, y: fn(y, x)))

    def step() -> Any:
        return jax.block_until_ready(compiled(x, y))

    return step


def _jax_cases(quick: bool) -> Iterator[Case]:
    keys = iter(jax.random.split(jax.random.PRNGKey(0), 2 * len(SPECS)))
    for loss, native_name, native, ours, univariate in SPECS:
        shape = _size(univariate, quick)
        obs = shape[:1] if univariate else shape[:1] + shape[2:]
        y = jax.random.normal(next(keys), obs)
        x = jax.random.normal(next(keys), shape)

        def theirs(y: Any, x: Any, fn: Callable[..., Any] = native) -> Any:
            return jnp.mean(fn(y, x, "jax"))

        yield Case(
            "forecast jax jit",
            loss,
            _label(shape),
            native_name,
            TRACED,
            _jax_step(theirs, y, x),
            _jax_step(ours, y, x),
            float,
        )


def cases(quick: bool) -> Iterator[Case]:
    """Each score in torch eager (checks off, then on) and under jax.jit (on the CPU only: the
    JAX rows are left out under ``--device cuda``)."""
    yield from _torch_cases(quick)
    if is_cpu():
        yield from _jax_cases(quick)


def versions() -> dict[str, str]:
    """Library versions for the results file."""
    return {"scoringrules": sr.__version__, "torch": torch.__version__, "jax": jax.__version__}
