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
