"""Losses over a batch spread across devices and micro-batches, with the single-batch numbers.

Split a batch over gradient-accumulation micro-batches or data-parallel ranks and two things
change: a mean over each piece weighs the pieces equally whatever they hold, and a contrastive
loss sees only its piece's negatives. This package restores the full-batch loss and gradient
exactly:

* :func:`mean_denominator` — the denominator ``"mean"`` uses for a call of any loss (any
  framework); :func:`global_normalizer` — its sum over the micro-batches and ranks of a step
  (one all-reduce, torch.distributed), to pass as ``normalizer=``.
* :func:`all_gather` — a differentiable gather whose gradient reaches every rank's rows.
* :func:`info_nce` and :func:`sigmoid_contrastive` (alias :func:`siglip`) — InfoNCE / CLIP and
  SigLIP over the global batch of a process group (SigLIP's negatives passed around the ring).
* :func:`vocab_parallel_cross_entropy` and :func:`vocab_parallel_linear_cross_entropy` —
  cross-entropy with the vocabulary (the logits, or the output weight) split over the ranks of a
  tensor-parallel group: two all-reduces of O(N) numbers per call.

JAX meshes and ``shard_map`` have :mod:`losskit.distributed.jax`; TensorFlow distribution
strategies :mod:`losskit.distributed.tensorflow`.

The torch functions import torch when first used: ``import losskit.distributed`` needs only
NumPy. See ``docs/scaling-out.md`` for the recipes.

>>> import numpy as np
>>> from losskit.distributed import mean_denominator
>>> float(mean_denominator("sparse_categorical_crossentropy", np.array([1, -100, 0]),
...                        np.zeros((3, 2)), from_logits=True, ignore_index=-100))
2.0
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._normalize import global_normalizer, mean_denominator

if TYPE_CHECKING:  # the torch functions, imported on first use (see __getattr__)
    from ._contrastive import info_nce, siglip, sigmoid_contrastive
    from ._torch_collectives import all_gather
    from ._vocab_parallel import vocab_parallel_cross_entropy, vocab_parallel_linear_cross_entropy

#: name → private module, for the functions that import torch
_LAZY = {
    "all_gather": "._torch_collectives",
    "info_nce": "._contrastive",
    "sigmoid_contrastive": "._contrastive",
    "siglip": "._contrastive",
    "vocab_parallel_cross_entropy": "._vocab_parallel",
    "vocab_parallel_linear_cross_entropy": "._vocab_parallel",
}

__all__ = [
    "all_gather",
    "global_normalizer",
    "info_nce",
    "mean_denominator",
    "siglip",
    "sigmoid_contrastive",
    "vocab_parallel_cross_entropy",
    "vocab_parallel_linear_cross_entropy",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
