"""Run in its own process (see test_wrappers_torch.py): losskit.torch modules under
torch.compile(fullgraph=True) give eager values and gradients.

A representative module of each input convention: a pair loss with a buffer, an NCHW overlap
loss, a triplet of embeddings, embeddings with labels, and a compound loss object.
"""

from __future__ import annotations

import torch

import losskit as lk
import losskit.torch as lkt

torch.manual_seed(0)
N, C = 6, 4


def cases():
    logits = torch.randn(N, C, dtype=torch.float64)
    labels = torch.randint(0, C, (N,))
    weight = torch.tensor([1.0, 2.0, 0.5, 1.5], dtype=torch.float64)
    yield (
        "sparse_ce_with_buffer",
        lkt.SparseCategoricalCrossentropy(from_logits=True, class_weight=weight),
        [logits, labels],
    )
    seg = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    seg_labels = torch.nn.functional.one_hot(torch.randint(0, 3, (2, 8, 8)), 3).permute(0, 3, 1, 2)
    yield "dice_nchw", lkt.Dice(from_logits=True), [seg, seg_labels.double()]
    emb = [torch.randn(N, 5, dtype=torch.float64) for _ in range(3)]
    yield "triplet", lkt.TripletMargin(margin=0.5), emb
    yield (
        "supcon",
        lkt.SupervisedContrastive(temperature=0.5),
        [emb[0], torch.tensor([0, 0, 1, 1, 2, 2])],
    )
    compound = lkt.Module(
        0.5 * lk.Loss("binary_crossentropy", from_logits=True) + lk.Loss("mean_squared_error")
    )
    yield "compound", compound, [logits, (torch.rand(N, C) > 0.5).double()]


def main() -> None:
    for name, module, inputs in cases():
        x = inputs[0].clone().requires_grad_(True)
        eager = module(x, *inputs[1:])
        (eager_grad,) = torch.autograd.grad(eager, x)
        compiled = torch.compile(module, fullgraph=True, backend="aot_eager")
        x2 = inputs[0].clone().requires_grad_(True)
        value = compiled(x2, *inputs[1:])
        (grad,) = torch.autograd.grad(value, x2)
        torch.testing.assert_close(value, eager, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(grad, eager_grad, rtol=1e-10, atol=1e-12)
        print(name, "ok")
    print("all ok")


if __name__ == "__main__":
    main()
