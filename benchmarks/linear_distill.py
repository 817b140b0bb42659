"""Distillation between two output layers over a large vocabulary: extra peak memory and time.

    python -m benchmarks.linear_distill [--quick] [--only torch,jax] [--repeats 3]
                                        [--shapes NxVxd,...] [--json PATH]

Methods, on the same float32 inputs (a student and a teacher head, ``hidden (N, d)`` and
``weight (V, d)`` each; labels with every eighth token -100), each one forward + backward
(gradients of the student's hidden states and weight) of the generalised JSD at β = 0.5,
averaged over the unmasked tokens:

* torch ``plain``: both heads' logits with ``F.linear`` (the teacher's without gradient), then
  TRL 1.16's ``GKDTrainer.generalized_jsd_loss`` formula (``benchmarks.llm_losses``);
  torch ``losskit``: ``linear_distillation`` (default chunking);
* jax ``plain``: the same formula on both logits under ``jax.jit``; jax ``losskit``:
  ``linear_distillation``; each as ``jax.jit(jax.value_and_grad(..., argnums=(0, 1)))``.

Memory and time are measured with the machinery of :mod:`benchmarks.linear_log_probs`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import Any

from . import linear_log_probs as machinery
from ._device import is_cpu, to_device
from ._suite import OFF, TRACED, Case
from ._timing import Step

Shape = tuple[int, int, int]
BETA = 0.5


def torch_step(method: str, shape: Shape, seed: int = 0) -> Step:
    """One forward + backward of ``method`` on fresh float32 inputs; returns (value, grads)."""
    import torch
    import torch.nn.functional as F

    from losskit.losses._linear_distill import linear_distillation

    from .llm_losses import _trl_generalized_jsd

    n, v, d = shape
    gen = torch.Generator().manual_seed(seed)
    hidden = to_device(torch.randn(n, d, generator=gen)).requires_grad_(True)
    weight = to_device(torch.randn(v, d, generator=gen) / d**0.5).requires_grad_(True)
    teacher_hidden = to_device(torch.randn(n, d, generator=gen))
    teacher_weight = to_device(torch.randn(v, d, generator=gen) / d**0.5)
    labels = torch.randint(0, v, (n,), generator=gen)
    labels[::8] = -100
    labels = to_device(labels)

    def loss() -> Any:
        if method == "plain":
            with torch.no_grad():
                teacher = F.linear(teacher_hidden, teacher_weight)
            return _trl_generalized_jsd(F.linear(hidden, weight), teacher, labels, BETA)
        return linear_distillation(
            hidden, weight, teacher_hidden, teacher_weight, targets=labels, beta=BETA
        )

    def step() -> tuple[Any, Any]:
        value = loss()
        return value, torch.autograd.grad(value, (hidden, weight))

    return step


def _jax_program(method: str, shape: Shape, seed: int = 0) -> tuple[Any, tuple[Any, ...]]:
    import jax
    import jax.numpy as jnp

    from losskit.losses._linear_distill import linear_distillation

    n, v, d = shape
    keys = jax.random.split(jax.random.key(seed), 5)
    hidden = jax.random.normal(keys[0], (n, d))
    weight = jax.random.normal(keys[1], (v, d)) / d**0.5
    teacher_hidden = jax.random.normal(keys[2], (n, d))
    teacher_weight = jax.random.normal(keys[3], (v, d)) / d**0.5
    labels = jax.random.randint(keys[4], (n,), 0, v).at[::8].set(-100)

    def plain(h: Any, w: Any, ht: Any, wt: Any, y: Any) -> Any:
        log_s = jax.nn.log_softmax(h @ w.T, axis=-1)
        log_t = jax.lax.stop_gradient(jax.nn.log_softmax(ht @ wt.T, axis=-1))
        log_m = jnp.logaddexp(log_s + jnp.log1p(-BETA), log_t + jnp.log(BETA))
        kl_t = jnp.exp(log_t) * (log_t - log_m)
        kl_s = jnp.exp(log_s) * (log_s - log_m)
        jsd = jnp.sum(BETA * kl_t + (1 - BETA) * kl_s, axis=-1)
        valid = y != -100
        return jnp.sum(jnp.where(valid, jsd, 0.0)) / jnp.maximum(jnp.sum(valid), 1)

    def ours(h: Any, w: Any, ht: Any, wt: Any, y: Any) -> Any:
        return linear_distillation(h, w, ht, wt, targets=y, beta=BETA)

    fn = plain if method == "plain" else ours
    program = jax.jit(jax.value_and_grad(fn, argnums=(0, 1)))
    return program, (hidden, weight, teacher_hidden, teacher_weight, labels)


def jax_step(method: str, shape: Shape, seed: int = 0) -> Step:
    """One compiled value-and-gradient call of ``method``, run to completion."""
    import jax

    compiled, args = _jax_program(method, shape, seed)

    def step() -> Any:
        return jax.block_until_ready(compiled(*args))

    return step


STEPS = {"torch": torch_step, "jax": jax_step}


def cases(quick: bool) -> Iterator[Case]:
    """Time-only cases for ``python -m benchmarks``: losskit against the plain two-head
    computation, torch eager and under ``jax.jit`` (the JAX row on the CPU only)."""
    shape = machinery.QUICK_SHAPES[0] if quick else machinery.SHAPES[0]
    size = "x".join(map(str, shape))
    natives = {"torch": "two F.linear → TRL GKD formula", "jax": "jit(two heads → JSD)"}
    for framework, name in natives.items():
        if framework == "jax" and not is_cpu():
            continue
        try:
            native, ours = STEPS[framework]("plain", shape), STEPS[framework]("losskit", shape)
        except ImportError:
            continue
        suite = "torch eager" if framework == "torch" else "jax jit"
        validation = OFF if framework == "torch" else TRACED
        value = machinery._loss_value
        yield Case(suite, "linear distillation", size, name, validation, native, ours, value)


versions = machinery.versions


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table and write the JSON file."""
    return machinery.main(argv, sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
