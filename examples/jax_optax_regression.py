"""JAX + optax: fit quantile regression lines with a jitted losskit loss.

The data are heteroscedastic: y = 2x + noise whose spread grows with x. A linear model with one
output per level (0.1, 0.5, 0.9) is trained with ``lk.quantile`` under ``jax.jit`` and
``jax.value_and_grad`` with optax's Adam; the parameters are a pytree (a dict of ``jax.Array``).
The fitted lines bracket about 10 %, 50 % and 90 % of the points, which the script prints.

Run from the repository root::

    python examples/jax_optax_regression.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

import losskit as lk

LEVELS = (0.1, 0.5, 0.9)
STEPS = 600


def data(key: jax.Array, n: int = 2000) -> tuple[jax.Array, jax.Array]:
    kx, kn = jax.random.split(key)
    x = jax.random.uniform(kx, (n,), minval=0.0, maxval=4.0)
    y = 2.0 * x + (0.2 + 0.5 * x) * jax.random.normal(kn, (n,))
    return x, y


def predict(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    """One line per quantile level: (N, K)."""
    return x[:, None] * params["slope"] + params["intercept"]


def loss_fn(params: dict[str, jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
    return lk.quantile(y, predict(params, x), quantiles=LEVELS)


def main() -> list[float]:
    x, y = data(jax.random.key(0))
    params = {"slope": jnp.zeros(3), "intercept": jnp.zeros(3)}
    optimiser = optax.adam(0.05)
    state = optimiser.init(params)

    @jax.jit
    def step(params, state):  # type: ignore[no-untyped-def]
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = optimiser.update(grads, state)
        return optax.apply_updates(params, updates), state, loss

    for i in range(STEPS):
        params, state, loss = step(params, state)
        if (i + 1) % 150 == 0:
            print(f"step {i + 1}: pinball loss {float(loss):.4f}")
    below = [float(jnp.mean(y <= predict(params, x)[:, k])) for k in range(3)]
    for level, fraction in zip(LEVELS, below, strict=True):
        print(f"level {level:.1f}: {fraction:.1%} of points below the line")
    return below


if __name__ == "__main__":
    main()
