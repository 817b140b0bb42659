"""Run in its own process (see test_distributed_torch.py): ``python distributed_torch_check.py W``
spawns a gloo process group of W CPU processes and checks every feature of
``losskit.distributed`` against the single-process computation on the full batch, in float64.

Each rank holds a contiguous slice of one global batch (the same seeded data in every process)
and computes its share; every rank also computes the full-batch reference itself, so each check
is a comparison inside one process. Tolerances: 1e-6 on values, 1e-5 on gradients.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from typing import Any

import gloo_group  # tests/scripts: the spawned gloo group
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

import losskit as lk
from losskit import distributed as lkd

torch.set_default_dtype(torch.float64)
VALUE, GRAD = 1e-6, 1e-5
IGNORE = -100


def close(actual: Any, expected: Any, tol: float, what: str) -> None:
    actual = torch.as_tensor(actual, dtype=torch.float64)
    expected = torch.as_tensor(expected, dtype=torch.float64)
    assert torch.isfinite(actual).all(), f"{what}: non-finite {actual}"
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol, msg=lambda m: f"{what}: {m}")


def slices(sizes: list[int]) -> list[slice]:
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    return [slice(s, s + n) for s, n in zip(starts, sizes, strict=True)]


def average(x: torch.Tensor) -> torch.Tensor:
    total = x.detach().clone()
    dist.all_reduce(total)
    return total / dist.get_world_size()


# ---------------------------------------------------------------------- 1. normaliser
class Problem:
    """A loss on a model's predictions, with a global batch whose pieces may hold nothing."""

    def __init__(
        self,
        name: str,
        model: Callable[[], torch.nn.Module],
        data: Callable[[torch.Generator], dict[str, torch.Tensor]],
        call: Callable[..., Any],
        count: Callable[..., Any],
    ) -> None:
        self.name, self.model, self.data, self.call, self.count = name, model, data, call, count


def token_data(g: torch.Generator) -> dict[str, torch.Tensor]:
    x = torch.randn(16, 5, 4, generator=g)
    y = torch.randint(0, 3, (16, 5), generator=g)
    y[torch.rand(16, 5, generator=g) < 0.3] = IGNORE
    y[2:4] = IGNORE  # rank 0's second quarter: a micro-batch without a valid token
    return {"x": x, "y": y}


def token_loss(net: Any, d: dict[str, torch.Tensor], **kw: Any) -> Any:
    return lk.sparse_categorical_crossentropy(
        d["y"], net(d["x"]), from_logits=True, ignore_index=IGNORE, **kw
    )


def token_count(d: dict[str, torch.Tensor]) -> Any:
    placeholder = torch.zeros(*d["y"].shape, 3)  # the count depends on the labels only
    return lkd.mean_denominator(
        lk.sparse_categorical_crossentropy, d["y"], placeholder, from_logits=True,
        ignore_index=IGNORE,
    )  # fmt: skip


def segmentation_data(g: torch.Generator) -> dict[str, torch.Tensor]:
    x = torch.randn(16, 4, 4, 3, generator=g)
    y = torch.nn.functional.one_hot(torch.randint(0, 3, (16, 4, 4), generator=g), 3).double()
    mask = torch.rand(16, 4, 4, generator=g) > 0.3
    mask[2:4] = False  # images without a pixel: not counted
    return {"x": x, "y": y, "mask": mask}


def segmentation_loss(net: Any, d: dict[str, torch.Tensor], **kw: Any) -> Any:
    return lk.dice(d["y"], net(d["x"]), from_logits=True, per_image=True, mask=d["mask"], **kw)


def segmentation_count(d: dict[str, torch.Tensor], net: Any) -> Any:
    with torch.no_grad():
        prediction = net(d["x"])
    return lkd.mean_denominator(
        "dice", d["y"], prediction, from_logits=True, per_image=True, mask=d["mask"]
    )


def regression_data(g: torch.Generator) -> dict[str, torch.Tensor]:
    x = torch.randn(16, 4, generator=g)
    y = torch.randn(16, 3, generator=g)
    w = torch.rand(16, generator=g) * 2
    w[2:4] = 0.0
    return {"x": x, "y": y, "w": w}


def regression_loss(net: Any, d: dict[str, torch.Tensor], **kw: Any) -> Any:
    return lk.Loss("mse")(d["y"], net(d["x"]), sample_weight=d["w"], **kw)


def regression_count(d: dict[str, torch.Tensor], net: Any) -> Any:
    return lkd.mean_denominator(lk.Loss("mse"), d["y"], net(d["x"]), sample_weight=d["w"])


PROBLEMS = [
    Problem(
        "sparse CE + ignore_index",
        lambda: torch.nn.Linear(4, 3),
        token_data,
        token_loss,
        lambda d, net: token_count(d),
    ),
    Problem(
        "dice per image + mask",
        lambda: torch.nn.Linear(3, 3),
        segmentation_data,
        segmentation_loss,
        segmentation_count,
    ),
    Problem(
        "mse + sample_weight",
        lambda: torch.nn.Linear(4, 3),
        regression_data,
        regression_loss,
        regression_count,
    ),
]


def seeded_model(problem: Problem) -> torch.nn.Module:
    torch.manual_seed(7)
    return problem.model()


def check_normalizer(rank: int, world: int) -> list[str]:
    done = []
    for problem in PROBLEMS:
        data = problem.data(torch.Generator().manual_seed(3))
        reference_net = seeded_model(problem)
        reference = problem.call(reference_net, data)  # one process, the full batch, "mean"
        reference.backward()
        expected = [p.grad.clone() for p in reference_net.parameters()]
        local = {k: v[rank * 16 // world : (rank + 1) * 16 // world] for k, v in data.items()}
        for micro in (1, 2, 4):
            net = DistributedDataParallel(seeded_model(problem))
            size = 16 // world // micro
            pieces = [
                {k: v[m * size : (m + 1) * size] for k, v in local.items()} for m in range(micro)
            ]
            counts = [problem.count(p, net.module) for p in pieces]
            normalizer = lkd.global_normalizer(counts)
            total = torch.zeros(())
            for m, piece in enumerate(pieces):
                sync = contextlib.nullcontext() if m == micro - 1 else net.no_sync()
                with sync:
                    value = problem.call(net, piece, normalizer=normalizer)
                    value.backward()
                total = total + value.detach()
            what = f"{problem.name}, world {world}, {micro} micro-batch(es)"
            close(average(total), reference.detach(), VALUE, what + ": value")
            for p, e in zip(net.module.parameters(), expected, strict=True):
                close(p.grad, e, GRAD, what + ": DDP gradient")
        done.append(f"normaliser: {problem.name} (1, 2, 4 micro-batches)")

    # summed gradients (no DDP): average_gradients=False
    problem = PROBLEMS[0]
    data = problem.data(torch.Generator().manual_seed(3))
    local = {k: v[rank * 16 // world : (rank + 1) * 16 // world] for k, v in data.items()}
    net = seeded_model(problem)
    normalizer = lkd.global_normalizer(problem.count(local, net), average_gradients=False)
    value = problem.call(net, local, normalizer=normalizer)
    value.backward()
    reference_net = seeded_model(problem)
    reference = problem.call(reference_net, data)
    reference.backward()
    total = value.detach().clone()
    dist.all_reduce(total)
    close(total, reference.detach(), VALUE, "average_gradients=False: value")
    for p, e in zip(net.parameters(), reference_net.parameters(), strict=True):
        grad = p.grad.clone()
        dist.all_reduce(grad)
        close(grad, e.grad, GRAD, "average_gradients=False: summed gradient")
    # a step with no valid token anywhere: 0, zero gradient, no NaN
    data["y"][:] = IGNORE
    local = {k: v[rank * 16 // world : (rank + 1) * 16 // world] for k, v in data.items()}
    net = DistributedDataParallel(seeded_model(problem))
    normalizer = lkd.global_normalizer(problem.count(local, net))
    close(normalizer, 0.0, 0.0, "empty step: normaliser")
    value = problem.call(net, local, normalizer=normalizer)
    value.backward()
    close(value, 0.0, 0.0, "empty step: value")
    for p in net.module.parameters():
        close(p.grad, torch.zeros_like(p), 0.0, "empty step: gradient")
    done.append("normaliser: summed gradients; a step with no valid element")
    return done


# ---------------------------------------------------------------------- 2. all_gather
def check_all_gather(rank: int, world: int) -> list[str]:
    done = []
    for sizes in ([3] * world, [1 + (r % 3) for r in range(world)]):
        g = torch.Generator().manual_seed(11)
        full = torch.randn(sum(sizes), 2, generator=g)
        weights = [torch.randn(sum(sizes), 2, generator=g) for _ in range(world)]
        part = slices(sizes)[rank]
        for given in (None, sizes):
            x = full[part].clone().requires_grad_(True)
            gathered = lkd.all_gather(x, sizes=given)
            close(gathered, full, 0.0, f"all_gather sizes {sizes}: value")
            (gathered * weights[rank]).sum().backward()  # rank r's share of Σ_r <w_r, X>
            close(x.grad, sum(weights)[part], GRAD, f"all_gather sizes {sizes}: gradient")
        done.append(f"all_gather, sizes {sizes}")
    return done


def expect_error(call: Callable[[], Any], message: str, what: str) -> None:
    try:
        call()
    except ValueError as error:
        assert message in str(error), f"{what}: {error}"
    else:
        raise AssertionError(f"{what}: no ValueError")


def check_sizes_errors(rank: int, world: int) -> list[str]:
    """A ``sizes`` that is wrong on one rank only raises on every rank (none is left waiting)."""
    sizes = [2 + r for r in range(world)]
    full = torch.randn(sum(sizes) + 1, 3, generator=torch.Generator().manual_seed(3))
    part = slices(sizes)[rank]
    z = full[part]
    last = world - 1
    longer = full[part.start : part.stop + (rank == last)]
    whose = "this rank's" if rank == last else f"rank {last}'s"
    wrong_row = f"sizes[{last}] = {sizes[last]} but {whose} batch has {sizes[last] + 1} rows"
    expect_error(lambda: lkd.all_gather(longer, sizes=sizes), wrong_row, "all_gather")
    expect_error(lambda: lkd.info_nce(longer, longer, sizes=sizes), wrong_row, "info_nce")
    expect_error(lambda: lkd.sigmoid_contrastive(longer, longer, sizes=sizes), wrong_row, "siglip")
    mine = sizes if rank != last else [sizes[0] + 1, *sizes[1:]]
    expect_error(
        lambda: lkd.info_nce(z, z, sizes=mine),
        f"sizes differ between the ranks (rank 0: {sizes}; ",
        "sizes differ between the ranks",
    )
    malformed = sizes if rank != 0 else sizes[:-1]
    expect_error(
        lambda: lkd.all_gather(z, sizes=malformed),
        "sizes is not one non-negative int per rank of the group",
        "malformed sizes on rank 0",
    )
    with lk.validation(False):  # trusted: nothing is gathered before the data
        close(lkd.all_gather(z, sizes=sizes), full[: sum(sizes)], 0.0, "unchecked all_gather")
    return ["sizes that disagree with the batches: ValueError on every rank"]


# ---------------------------------------------------------------------- 3. contrastive
def views(sizes: list[int], seed: int = 5) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    n = sum(sizes)
    z_a, z_b = torch.randn(n, 6, generator=g), torch.randn(n, 6, generator=g)
    mask = torch.rand(n, generator=g) > 0.25
    mask[0] = False
    weight = torch.rand(n, generator=g) + 0.5
    return z_a, z_b, mask, weight


def compare_shares(
    name: str,
    single: Callable[..., Any],
    distributed: Callable[..., Any],
    sizes: list[int],
    rank: int,
    world: int,
    extras: dict[str, Any],
    masked: bool,
    reduction: str = "mean",
    average_gradients: bool = True,
) -> None:
    z_a, z_b, mask, weight = views(sizes)
    part = slices(sizes)[rank]
    kw: dict[str, Any] = {"reduction": reduction}
    if masked:
        kw.update(mask=mask, sample_weight=weight)
    params = {k: v.clone().requires_grad_(True) for k, v in extras.items()}
    ga, gb = z_a.clone().requires_grad_(True), z_b.clone().requires_grad_(True)
    reference = single(ga, gb, **kw, **params)
    (reference.sum() if reduction == "none" else reference).backward()
    local_kw = {k: (v[part] if k in ("mask", "sample_weight") else v) for k, v in kw.items()}
    la, lb = z_a[part].clone().requires_grad_(True), z_b[part].clone().requires_grad_(True)
    local_params = {k: v.clone().requires_grad_(True) for k, v in extras.items()}
    share = distributed(
        la, lb, sizes=sizes if masked else None, average_gradients=average_gradients,
        **local_kw, **local_params,
    )  # fmt: skip
    what = f"{name} {'(learnt t, b) ' if extras else ''}{kw.get('reduction')} sizes {sizes}"
    what += f"{' masked' if masked else ''} average_gradients={average_gradients}"
    if reduction == "none":
        close(share, reference.detach()[part], VALUE, what + ": value")
        share.sum().backward()
        close(la.grad, ga.grad[part], GRAD, what + ": gradient z_a")  # Σ_r shares = the sum
        close(lb.grad, gb.grad[part], GRAD, what + ": gradient z_b")
        return
    scale = world if average_gradients else 1
    total = share.detach().clone()
    dist.all_reduce(total)
    close(total / scale, reference.detach(), VALUE, what + ": value")
    share.backward()
    close(la.grad / scale, ga.grad[part], GRAD, what + ": gradient z_a")
    close(lb.grad / scale, gb.grad[part], GRAD, what + ": gradient z_b")
    for key, p in local_params.items():
        grad = p.grad.clone()
        dist.all_reduce(grad)
        close(grad / scale, params[key].grad, GRAD, what + f": gradient {key}")


def check_contrastive(rank: int, world: int) -> list[str]:
    done = []
    equal, unequal = [3] * world, [2 + (r % 3) for r in range(world)]
    for negatives in ("all", "cross_view"):
        for symmetric in (True, False):
            for sizes, masked in ((equal, False), (unequal, True)):
                options = {"temperature": 0.3, "negatives": negatives, "symmetric": symmetric}
                single = functools.partial(lk.info_nce, **options)
                distributed = functools.partial(lkd.info_nce, **options)
                compare_shares("info_nce", single, distributed, sizes, rank, world, {}, masked)
            done.append(f"info_nce negatives={negatives} symmetric={symmetric}")
    for reduction, average_gradients in (("sum", True), ("sum", False), ("mean", False)):
        compare_shares(
            "info_nce", lk.info_nce, lkd.info_nce, unequal, rank, world, {}, True,
            reduction, average_gradients,
        )  # fmt: skip
    compare_shares("info_nce", lk.info_nce, lkd.info_nce, unequal, rank, world, {}, True, "none")
    done.append("info_nce reductions sum/none, average_gradients=False")

    learnt = {"logit_scale": torch.tensor(3.0), "bias": torch.tensor(-2.0)}
    for sizes, masked in ((equal, False), (unequal, True)):
        for extras in ({}, learnt):
            compare_shares(
                "siglip", lk.sigmoid_contrastive, lkd.siglip, sizes, rank, world, extras, masked
            )
    compare_shares(
        "siglip", lk.sigmoid_contrastive, lkd.sigmoid_contrastive, unequal, rank, world, learnt,
        True, "mean", False,
    )  # fmt: skip
    compare_shares(
        "siglip", lk.sigmoid_contrastive, lkd.sigmoid_contrastive, unequal, rank, world, {}, True,
        "none",
    )  # fmt: skip
    done.append("sigmoid_contrastive (ring exchange), learnt logit_scale and bias")
    return done


class TwoTowers(torch.nn.Module):
    """Two linear encoders and SigLIP's learnt log-scale and bias."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(9)
        self.image, self.text = torch.nn.Linear(5, 4), torch.nn.Linear(5, 4)
        self.log_scale = torch.nn.Parameter(torch.tensor(1.0))
        self.bias = torch.nn.Parameter(torch.tensor(-1.0))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.image(x), self.text(y)


def check_ddp_contrastive(rank: int, world: int) -> list[str]:
    """DistributedDataParallel on shares of info_nce and SigLIP: the full-batch gradient."""
    sizes = [2 + (r % 3) for r in range(world)]
    g = torch.Generator().manual_seed(13)
    x, y = torch.randn(sum(sizes), 5, generator=g), torch.randn(sum(sizes), 5, generator=g)
    part = slices(sizes)[rank]

    def losses(a: Any, b: Any, model: TwoTowers, library: Any) -> Any:
        clip = library.info_nce(a, b, temperature=0.2, negatives="cross_view")
        sig = library.sigmoid_contrastive(a, b, logit_scale=model.log_scale.exp(), bias=model.bias)
        return clip + 0.5 * sig

    reference_model = TwoTowers()
    losses(*reference_model(x, y), reference_model, lk).backward()
    model = TwoTowers()
    net = DistributedDataParallel(model)
    losses(*net(x[part], y[part]), model, lkd).backward()
    for p, e in zip(model.parameters(), reference_model.parameters(), strict=True):
        close(p.grad, e.grad, GRAD, f"DDP info_nce + siglip, sizes {sizes}: gradient")
    return [f"DDP: info_nce + sigmoid_contrastive with learnt scale, sizes {sizes}"]


# ---------------------------------------------------------------------- driver
if __name__ == "__main__":
    sys.exit(
        gloo_group.run(
            [
                check_normalizer,
                check_all_gather,
                check_sizes_errors,
                check_contrastive,
                check_ddp_contrastive,
            ]
        )
    )
