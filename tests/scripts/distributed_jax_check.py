"""Run in its own process (see test_distributed_jax.py): losskit on a batch sharded over four
host devices (``XLA_FLAGS=--xla_force_host_platform_device_count=4``, set before JAX starts).

1. ``jax.jit`` on ``NamedSharding`` inputs: every kind of loss gives the full-batch value and
   gradients (reference: the same loss on one device, unsharded).
2. ``shard_map`` with ``losskit.distributed.jax``: ``global_mean`` and ``info_nce`` on each
   device's shard give the full-batch ``losskit`` value and gradients, including shards with no
   valid entry and a batch with none at all.

Everything runs in float64. Prints ``all ok`` at the end.
"""

from __future__ import annotations

import os

FLAG = "--xla_force_host_platform_device_count=4"
if FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FLAG}".strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import AxisType, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

jax.config.update("jax_enable_x64", True)

import losskit as lk  # noqa: E402
from losskit.distributed import jax as lkj  # noqa: E402

if hasattr(jax, "shard_map"):
    shard_map, set_mesh = jax.shard_map, jax.set_mesh
else:  # JAX < 0.7
    from jax.experimental.shard_map import shard_map
    from jax.sharding import use_mesh as set_mesh

DEVICES = 4
N = 8  # global batch: 2 rows per device
VALUE = {"rtol": 1e-6, "atol": 1e-12}
GRAD = {"rtol": 1e-5, "atol": 1e-10}


def check(label: str, got: object, expected: object, tolerance: dict[str, float]) -> None:
    got_leaves, expected_leaves = jax.tree.leaves(got), jax.tree.leaves(expected)
    assert len(got_leaves) == len(expected_leaves), label
    for g, e in zip(got_leaves, expected_leaves, strict=True):
        g, e = np.asarray(g), np.asarray(e)
        assert np.all(np.isfinite(g)), f"{label}: non-finite values {g}"
        np.testing.assert_allclose(g, e, err_msg=label, **tolerance)


# ---------------------------------------------------------------------- the data
def data() -> dict[str, tuple]:
    """name → (loss of the inputs, inputs, the differentiated inputs, the inputs' specs)."""
    r = np.random.default_rng(7)
    labels = r.integers(0, 5, N)
    labels[[0, 5]] = -100
    keep = np.ones(N, bool)
    keep[[3, 6]] = False
    tokens = r.integers(0, 11, N)
    tokens[[1, 2]] = -100
    long_tokens = r.integers(0, 11, 4 * N)
    long_tokens[:5] = -100
    label_lengths = r.integers(1, 4, N)
    batch, rep = P("data"), P()
    return {
        "sparse CE, ignore_index and mask": (
            lambda y, z, m: lk.sparse_categorical_crossentropy(
                y, z, from_logits=True, ignore_index=-100, mask=m, label_smoothing=0.1
            ),
            [labels, r.normal(size=(N, 5)), keep],
            (1,),
            [batch] * 3,
        ),
        "binary focal": (
            lambda y, z: lk.binary_focal_crossentropy(
                y, z, gamma=2.0, alpha=0.25, from_logits=True
            ),
            [(r.random((N, 3)) > 0.5) * 1.0, r.normal(size=(N, 3))],
            (1,),
            [batch] * 2,
        ),
        "dice, per_image=False": (
            lambda y, z: lk.dice(y, z, from_logits=True, smooth=1.0),
            [r.integers(0, 3, (N, 4, 4)), r.normal(size=(N, 4, 4, 3))],
            (1,),
            [batch] * 2,
        ),
        "dice, per_image=True": (
            lambda y, z: lk.dice(y, z, from_logits=True, per_image=True),
            [r.integers(0, 3, (N, 4, 4)), r.normal(size=(N, 4, 4, 3))],
            (1,),
            [batch] * 2,
        ),
        "mse with sample_weight": (
            lambda y, z, w: lk.mean_squared_error(y, z, sample_weight=w),
            [r.normal(size=(N, 3)), r.normal(size=(N, 3)), r.random(N)],
            (1,),
            [batch] * 3,
        ),
        "info_nce": (
            lambda a, b: lk.info_nce(a, b, temperature=0.5),
            [r.normal(size=(N, 4)), r.normal(size=(N, 4))],
            (0, 1),
            [batch] * 2,
        ),
        "supervised_contrastive": (
            lambda e, y: lk.supervised_contrastive(e, y, temperature=0.5),
            [r.normal(size=(N, 4)), r.integers(0, 3, N)],
            (0,),
            [batch] * 2,
        ),
        "linear_cross_entropy": (
            lambda h, w, t: lk.linear_cross_entropy(h, w, t, z_loss=1e-3),
            [r.normal(size=(N, 6)), r.normal(size=(11, 6)), tokens],
            (0, 1),
            [batch, rep, batch],
        ),
        "linear_cross_entropy, chunked": (
            lambda h, w, t: lk.linear_cross_entropy(h, w, t, chunk_size=8),
            [r.normal(size=(4 * N, 6)), r.normal(size=(11, 6)), long_tokens],
            (0, 1),
            [batch, rep, batch],
        ),
        "listnet": (
            lambda y, z: lk.listnet(y, z),
            [r.random((N, 6)), r.normal(size=(N, 6))],
            (1,),
            [batch] * 2,
        ),
        "ctc": (
            lambda y, z, ly, lz: lk.ctc(y, z, ly, lz),
            [r.integers(1, 5, (N, 3)), r.normal(size=(N, 9, 5)), label_lengths, np.full(N, 9)],
            (1,),
            [batch] * 4,
        ),
    }


# ---------------------------------------------------------------------- 1. jit + NamedSharding
#: the cases also run on a mesh with Explicit axes (jax.make_mesh's default): a loss over a class
#: axis, one coupling the whole batch, and a token loss with a replicated weight. Batch losses
#: (info_nce, supervised_contrastive) and the chunked linear_cross_entropy do not trace there:
#: JAX asks for an out_sharding on the Gram matrix of two row-sharded views, and for a
#: replicated scan axis.
EXPLICIT = ("sparse CE, ignore_index and mask", "dice, per_image=False", "linear_cross_entropy")


def jit_on_sharded_inputs() -> None:
    meshes = {
        kind: jax.make_mesh((DEVICES,), ("data",), axis_types=(kind,))
        for kind in (AxisType.Auto, AxisType.Explicit)
    }
    for label, (loss, inputs, argnums, specs) in data().items():
        step = jax.value_and_grad(loss, argnums=argnums)
        expected = jax.jit(step)(*inputs)  # one device, the whole batch
        for kind, mesh in meshes.items():
            if kind == AxisType.Explicit and label not in EXPLICIT:
                continue
            sharded = [
                jax.device_put(x, NamedSharding(mesh, spec))
                for x, spec in zip(inputs, specs, strict=True)
            ]
            assert len(sharded[0].sharding.device_set) == DEVICES
            assert sharded[0].addressable_shards[0].data.shape[0] == sharded[0].shape[0] // DEVICES
            with set_mesh(mesh):
                got = jax.jit(step)(*sharded)
            check(f"jit {kind.name}: {label} value", got[0], expected[0], VALUE)
            check(f"jit {kind.name}: {label} gradient", got[1], expected[1], GRAD)


# ---------------------------------------------------------------------- 2. shard_map
def shard_map_step(mesh, body, specs, argnums):
    """jit(value_and_grad(shard_map(body))) over the mesh, on inputs sharded by ``specs``."""
    mapped = shard_map(body, mesh=mesh, in_specs=tuple(specs), out_specs=P())
    step = jax.jit(jax.value_and_grad(mapped, argnums=argnums))

    def run(*inputs):
        placed = [
            jax.device_put(x, NamedSharding(mesh, s)) for x, s in zip(inputs, specs, strict=True)
        ]
        with set_mesh(mesh):
            return step(*placed)

    return run


def global_means(mesh) -> None:
    r = np.random.default_rng(11)
    batch, rep = P("data"), P()
    # shard 1 (rows 2, 3): every label ignored or masked; shard 3 (rows 6, 7): one valid row
    labels = r.integers(0, 5, N)
    labels[[2, 6]] = -100
    keep = np.ones(N, bool)
    keep[[3, 7]] = False
    logits = r.normal(size=(N, 5))
    options = {"from_logits": True, "ignore_index": -100, "class_weight": np.arange(1.0, 6.0)}

    def sce_body(y, z, m):
        return lkj.global_mean(
            lk.sparse_categorical_crossentropy, y, z, axis_name="data", mask=m, **options
        )

    def sce_full(y, z, m):
        return lk.sparse_categorical_crossentropy(y, z, mask=m, **options)

    cases = [
        (
            "sparse CE, ignore_index, mask, class_weight",
            sce_body,
            sce_full,
            [labels, logits, keep],
            [batch] * 3,
            (1,),
        ),
    ]
    weights = r.random(N)
    weights[[4, 5]] = 0.0  # shard 2 weighs nothing
    cases.append(
        (
            "mse, sample_weight",
            lambda y, z, w: lkj.global_mean("mse", y, z, axis_name="data", sample_weight=w),
            lambda y, z, w: lk.mean_squared_error(y, z, sample_weight=w),
            [r.normal(size=(N, 3)), r.normal(size=(N, 3)), weights],
            [batch] * 3,
            (1,),
        )
    )
    focal = lk.Loss("binary_focal_crossentropy", gamma=2.0, from_logits=True)
    pixel_mask = r.random((N, 3)) > 0.3
    pixel_mask[0:2] = False
    cases.append(
        (
            "binary focal, mask",
            lambda y, z, m: lkj.global_mean(focal, y, z, axis_name="data", mask=m),
            lambda y, z, m: focal(y, z, mask=m),
            [(r.random((N, 3)) > 0.5) * 1.0, r.normal(size=(N, 3)), pixel_mask],
            [batch] * 3,
            (1,),
        )
    )
    tokens = r.integers(0, 11, (N, 3))
    tokens[0:2] = -100  # shard 0: every token ignored
    cases.append(
        (
            "linear_cross_entropy (replicated weight)",
            lambda h, w, t: lkj.global_mean(lk.linear_cross_entropy, h, w, t, axis_name="data"),
            lambda h, w, t: lk.linear_cross_entropy(h, w, t),
            [r.normal(size=(N, 3, 6)), r.normal(size=(11, 6)), tokens],
            [batch, rep, batch],
            (0, 1),
        )
    )
    # 48 tokens per device, 8 per chunk: the weight and bias gradients are a scan's carry
    long_tokens = r.integers(0, 11, (N, 24))
    long_tokens[0:2, :20] = -100
    chunked = {"chunk_size": 8, "label_smoothing": 0.1}
    cases.append(
        (
            "linear_cross_entropy, chunked (replicated weight and bias)",
            lambda h, w, b, t: lkj.global_mean(
                lk.linear_cross_entropy, h, w, t, axis_name="data", bias=b, **chunked
            ),
            lambda h, w, b, t: lk.linear_cross_entropy(h, w, t, bias=b, **chunked),
            [r.normal(size=(N, 24, 6)), r.normal(size=(11, 6)), r.normal(size=11), long_tokens],
            [batch, rep, rep, batch],
            (0, 1, 2),
        )
    )
    distill = {"chunk_size": 8, "beta": 0.3, "temperature": 1.5}
    cases.append(
        (
            "linear_distillation, chunked (replicated weights)",
            lambda h, w, ht, wt, t: lkj.global_mean(
                lk.linear_distillation, h, w, ht, wt, axis_name="data", targets=t, **distill
            ),
            lambda h, w, ht, wt, t: lk.linear_distillation(h, w, ht, wt, targets=t, **distill),
            [
                r.normal(size=(N, 24, 6)),
                r.normal(size=(11, 6)),
                r.normal(size=(N, 24, 7)),
                r.normal(size=(11, 7)),
                long_tokens,
            ],
            [batch, rep, batch, rep, batch],
            (0, 1),
        )
    )
    token_weights = r.random((N, 24))

    def unreduced_body(h, w, t, v):
        losses = lk.linear_cross_entropy(h, w, t, reduction="none", chunk_size=8)
        return jax.lax.psum(jnp.sum(jnp.where(t >= 0, v * losses, 0.0)), "data")

    def unreduced_full(h, w, t, v):
        losses = lk.linear_cross_entropy(h, w, t, reduction="none", chunk_size=8)
        return jnp.sum(jnp.where(t >= 0, v * losses, 0.0))

    cases.append(
        (
            "linear_cross_entropy, chunked, reduction='none' (replicated weight)",
            unreduced_body,
            unreduced_full,
            [r.normal(size=(N, 24, 6)), r.normal(size=(11, 6)), long_tokens, token_weights],
            [batch, rep, batch, batch],
            (0, 1),
        )
    )
    both = 0.5 * lk.Loss("mse") + lk.Loss("huber", delta=0.5)
    cases.append(
        (
            "lk.Loss sum",
            lambda y, z: lkj.global_mean(both, y, z, axis_name="data"),
            lambda y, z: both(y, z),
            [r.normal(size=(N, 2)), r.normal(size=(N, 2))],
            [batch] * 2,
            (1,),
        )
    )
    cases.append(
        (
            "ctc",
            lambda y, z, ly, lz: lkj.global_mean("ctc", y, z, ly, lz, axis_name="data"),
            lambda y, z, ly, lz: lk.ctc(y, z, ly, lz),
            [
                r.integers(1, 5, (N, 3)),
                r.normal(size=(N, 9, 5)),
                r.integers(1, 4, N),
                np.full(N, 9),
            ],
            [batch] * 4,
            (1,),
        )
    )
    none_valid = np.full(N, -100)
    cases.append(
        (
            "no valid label anywhere",
            lambda y, z, m: lkj.global_mean(
                lk.sparse_categorical_crossentropy, y, z, axis_name="data", mask=m, **options
            ),
            sce_full,
            [none_valid, logits, keep],
            [batch] * 3,
            (1,),
        )
    )
    for label, body, full, inputs, specs, argnums in cases:
        got = shard_map_step(mesh, body, specs, argnums)(*inputs)
        expected = jax.jit(jax.value_and_grad(full, argnums=argnums))(*inputs)
        check(f"shard_map global_mean: {label} value", got[0], expected[0], VALUE)
        check(f"shard_map global_mean: {label} gradient", got[1], expected[1], GRAD)
        if label == "no valid label anywhere":
            assert float(got[0]) == 0.0 and not np.any(np.asarray(got[1][0])), got


def psum_means(mesh) -> None:
    """psum_mean on counts written directly: tokens that are not padding."""
    r = np.random.default_rng(3)
    tokens = r.integers(0, 7, (N, 4))
    tokens[2:4] = 0  # 0 is padding: shard 1 holds only padding
    logits = r.normal(size=(N, 4, 7))

    def body(t, z):
        loss_sum = lk.sparse_categorical_crossentropy(
            t, z, from_logits=True, ignore_index=0, reduction="sum"
        )
        return lkj.psum_mean(loss_sum, jnp.sum(t != 0), "data")

    got = shard_map_step(mesh, body, [P("data")] * 2, (1,))(tokens, logits)
    expected = jax.jit(
        jax.value_and_grad(
            lambda t, z: lk.sparse_categorical_crossentropy(t, z, from_logits=True, ignore_index=0),
            argnums=(1,),
        )
    )(tokens, logits)
    check("psum_mean value", got[0], expected[0], VALUE)
    check("psum_mean gradient", got[1], expected[1], GRAD)


def contrastive(mesh) -> None:
    r = np.random.default_rng(5)
    z_a, z_b = r.normal(size=(N, 4)), r.normal(size=(N, 4))
    keep = np.ones(N, bool)
    keep[[1, 6]] = False
    weights = r.random(N) + 0.5
    settings = [
        {"negatives": "all", "symmetric": True},
        {"negatives": "cross_view", "symmetric": True, "temperature": 0.07},  # CLIP
        {"negatives": "all", "symmetric": False, "mask": keep, "sample_weight": weights},
        {"negatives": "cross_view", "normalize": False, "mask": keep, "reduction": "sum"},
    ]
    for options in settings:
        arrays = {k: options[k] for k in ("mask", "sample_weight") if k in options}
        rest = {k: v for k, v in options.items() if k not in arrays}
        names = list(arrays)

        def body(a, b, *extra, names=names, rest=rest):
            return lkj.info_nce(
                a, b, axis_name="data", **dict(zip(names, extra, strict=True)), **rest
            )

        def full(a, b, *extra, names=names, rest=rest):
            return lk.info_nce(a, b, **dict(zip(names, extra, strict=True)), **rest)

        inputs = [z_a, z_b, *arrays.values()]
        specs = [P("data")] * len(inputs)
        got = shard_map_step(mesh, body, specs, (0, 1))(*inputs)
        expected = jax.jit(jax.value_and_grad(full, argnums=(0, 1)))(*inputs)
        check(f"shard_map info_nce {options} value", got[0], expected[0], VALUE)
        check(f"shard_map info_nce {options} gradient", got[1], expected[1], GRAD)

    # reduction="none": each device's rows of the global unreduced loss
    mapped = shard_map(
        lambda a, b: lkj.info_nce(a, b, axis_name="data", reduction="none"),
        mesh=mesh,
        in_specs=(P("data"), P("data")),
        out_specs=P("data"),
    )
    with set_mesh(mesh):
        rows = jax.jit(mapped)(
            *(jax.device_put(x, NamedSharding(mesh, P("data"))) for x in (z_a, z_b))
        )
    check("shard_map info_nce rows", rows, lk.info_nce(z_a, z_b, reduction="none"), VALUE)


def refusals(mesh) -> None:
    r = np.random.default_rng(0)
    attempts = [
        (
            lambda a, b: lkj.global_mean("info_nce", a, b, axis_name="data"),
            [r.normal(size=(N, 4)), r.normal(size=(N, 4))],
            "losskit.distributed.jax.info_nce",
        ),
        (
            lambda y, z: lkj.global_mean("dice", y, z, axis_name="data", from_logits=True),
            [r.integers(0, 3, (N, 4, 4)), r.normal(size=(N, 4, 4, 3))],
            "per_image=True",
        ),
    ]
    for body, inputs, message in attempts:
        mapped = shard_map(body, mesh=mesh, in_specs=(P("data"),) * 2, out_specs=P())
        try:
            with set_mesh(mesh):
                jax.jit(mapped)(
                    *(jax.device_put(x, NamedSharding(mesh, P("data"))) for x in inputs)
                )
        except ValueError as error:
            assert message in str(error), error
        else:
            raise AssertionError(f"global_mean accepted a loss that couples the shards ({message})")


def main() -> None:
    assert jax.device_count() == DEVICES, jax.devices()
    jit_on_sharded_inputs()
    mesh = jax.make_mesh((DEVICES,), ("data",), axis_types=(AxisType.Explicit,))
    global_means(mesh)
    psum_means(mesh)
    contrastive(mesh)
    refusals(mesh)
    print("all ok")


if __name__ == "__main__":
    main()
