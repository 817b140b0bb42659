"""Run in its own process (see test_tracing.py): every loss under torch.compile(fullgraph=True).

fullgraph=True turns any graph break into an error, so a pass means the loss, its validation
switch and its reduction trace into one graph. Values and gradients must equal eager mode.
"""

from __future__ import annotations

import sys

import torch

import losskit as lk

torch.manual_seed(0)
LOGITS = torch.randn(6, 4, dtype=torch.float64) * 3
LABELS = torch.tensor([0, 3, 1, -100, 2, 2])
PROBS = torch.softmax(LOGITS, dim=-1)
TARGETS = (torch.rand(6, 4, dtype=torch.float64) > 0.5).double()
WEIGHTS = torch.rand(6, dtype=torch.float64)

CASES = {
    "sparse_logits": lambda z: lk.sparse_categorical_crossentropy(
        LABELS,
        z,
        from_logits=True,
        ignore_index=-100,
        label_smoothing=0.1,
        class_weight=torch.tensor([1.0, 2.0, 0.5, 1.5], dtype=torch.float64),
    ),
    "sparse_probs": lambda z: lk.sparse_categorical_crossentropy(
        LABELS.clamp(min=0), torch.softmax(z, -1)
    ),
    "dense_logits": lambda z: lk.categorical_crossentropy(
        torch.softmax(LOGITS, -1), z, from_logits=True, sample_weight=WEIGHTS
    ),
    "bce_logits": lambda z: lk.binary_crossentropy(
        TARGETS,
        z,
        from_logits=True,
        pos_weight=torch.full((4,), 2.0, dtype=torch.float64),
        mask=WEIGHTS > 0.3,
    ),
    "bce_probs": lambda z: lk.binary_crossentropy(TARGETS, torch.sigmoid(z), reduction="sum"),
    "mse": lambda z: lk.mean_squared_error(TARGETS, z, normalizer=10.0),
    "bce_logits_fused": lambda z: lk.binary_crossentropy(TARGETS, z, from_logits=True),
    "mse_fused": lambda z: lk.mean_squared_error(TARGETS, z, reduction="sum"),
}


def check(name: str, backend: str) -> None:
    loss = CASES[name]
    compiled = torch.compile(loss, fullgraph=True, backend=backend)
    z1 = LOGITS.clone().requires_grad_(True)
    z2 = LOGITS.clone().requires_grad_(True)
    eager, traced = loss(z1), compiled(z2)
    eager.backward()
    traced.backward()
    torch.testing.assert_close(traced, eager, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(z2.grad, z1.grad, rtol=1e-12, atol=1e-12)
    print(f"ok {name} {backend}")


if __name__ == "__main__":
    for case in CASES:
        check(case, "aot_eager")
    if "--inductor" in sys.argv:
        check("sparse_logits", "inductor")
        check("bce_logits", "inductor")


# ---------------------------------------------------------------------- fused torch paths
# Appended for the fused segmentation and focal paths (tests/test_torch_fused.py runs
# check_fused() through runpy, not as __main__, so the counts above are unchanged): eager calls
# take the fused autograd.Functions, compiled ones the generic formulas; both must agree.
SEG_LOGITS = torch.randn(2, 3, 4, 5, dtype=torch.float64) * 2
SEG_LABELS = torch.tensor([[0, 1, 2, 1, 0]] * 4).expand(2, 4, 5).contiguous()
SEG_LABELS[1, 0, :2] = 255
SEG_DENSE = torch.rand(2, 3, 4, 5, dtype=torch.float64)

FUSED_CASES = {
    "dice": lambda z: lk.dice(SEG_LABELS, z, axis=1, from_logits=True, ignore_index=255),
    "jaccard_per_image": lambda z: lk.jaccard(
        SEG_LABELS,
        z,
        axis=1,
        from_logits=True,
        per_image=True,
        empty="keep",
        smooth=1e-5,
        ignore_index=255,
    ),
    "tversky_dense_multilabel": lambda z: lk.tversky(
        SEG_DENSE, z, axis=1, mode="multilabel", from_logits=True, alpha=0.3, beta=0.7
    ),
    "generalized_dice": lambda z: lk.generalized_dice(
        SEG_LABELS, z, axis=1, from_logits=True, per_image=True, ignore_index=255
    ),
    "lovasz_softmax": lambda z: lk.lovasz_softmax(
        SEG_LABELS, z, axis=1, from_logits=True, per_image=True, ignore_index=255
    ),
    "lovasz_hinge": lambda z: lk.lovasz_hinge((SEG_DENSE > 0.5).double(), z, per_image=True),
    "binary_focal": lambda z: lk.binary_focal_crossentropy(
        (SEG_DENSE > 0.5).double(), z, from_logits=True, gamma=2.0, alpha=0.25
    ),
}


def check_fused(backend: str = "aot_eager") -> None:
    """Every fused loss under torch.compile(fullgraph=True) equals eager (fused) mode."""
    for name, loss in FUSED_CASES.items():
        compiled = torch.compile(loss, fullgraph=True, backend=backend)
        z1 = SEG_LOGITS.clone().requires_grad_(True)
        z2 = SEG_LOGITS.clone().requires_grad_(True)
        eager, traced = loss(z1), compiled(z2)
        eager.backward()
        traced.backward()
        torch.testing.assert_close(traced, eager, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(z2.grad, z1.grad, rtol=1e-10, atol=1e-12)
        print(f"compiled-fused {name} {backend}")


if __name__ == "__main__" and "--fused" in sys.argv:
    check_fused()
