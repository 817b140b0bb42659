"""Metric-learning losses on embeddings, pairs and triplets, one module per sub-family:

* ``_pairs``: pairs and triplets (``contrastive``, ``triplet_margin``, ``margin_ranking``,
  ``cosine_embedding``, ``hinge_embedding``);
* ``_self_supervised``: two views of the same items (``info_nce``, ``sigmoid_contrastive``,
  ``vicreg``, ``barlow_twins``);
* ``_margins``: angular-margin classification against class centres (``arcface``,
  ``cosface``, ``sphereface``, ``subcenter_arcface``);
* ``_proxies``: a learnable proxy per class (``proxy_anchor``);
* ``_contrastive``: labelled batches (``supervised_contrastive``, ``grouped_info_nce``,
  ``circle``, ``multi_similarity``);
* ``_base``: the input checks and numerics they share.

Three input forms, each documented with its unreduced shape (what ``reduction="none"`` returns):

* pairs and triplets of vectors (``triplet_margin``, ``cosine_embedding``): one loss per row, the
  feature axis (last) reduced;
* scores and ±1 labels (``margin_ranking``, ``hinge_embedding``): elementwise;
* a batch of embeddings ``(N, D)`` with integer ``labels`` (``contrastive``: one loss per ordered
  pair, ``(N, N)``; ``supervised_contrastive`` and ``circle``: one per anchor, ``(N,)``) or two
  views ``(N, D)`` of the same items (``info_nce``: ``(N, 2)``, one per anchor of each view;
  ``vicreg`` and ``barlow_twins``: ``()``, one statistic of the whole batch).

For the batch forms a ``mask`` of shape ``(N,)`` removes embeddings from the batch altogether (as
anchors and as partners), so padding rows never act as negatives; ``sample_weight`` of shape
``(N,)`` weights each anchor's losses. Everything is computed with masks over all pairs (no
data-dependent shapes), so the losses run under ``jax.jit`` and ``tf.function(jit_compile=True)``.
"""

# private helpers that other modules import from here (_preference, losskit.distributed)
from .._common import check_float as _check_float  # noqa: F401
from .._common import enter_arrays as _enter  # noqa: F401
from .._common import relu as _relu  # noqa: F401
from ._base import _batch, _positive, _row_mask, _unit  # noqa: F401
from ._contrastive import circle, grouped_info_nce, multi_similarity, supervised_contrastive
from ._margins import arcface, cosface, sphereface, subcenter_arcface
from ._pairs import contrastive, cosine_embedding, hinge_embedding, margin_ranking, triplet_margin
from ._proxies import proxy_anchor
from ._self_supervised import (
    _scalar_parameter,  # noqa: F401
    _sigmoid_rows,  # noqa: F401
    barlow_twins,
    global_nce_losses,
    info_nce,
    sigmoid_contrastive,
    vicreg,
)

__all__ = [
    "arcface",
    "barlow_twins",
    "circle",
    "contrastive",
    "cosface",
    "cosine_embedding",
    "global_nce_losses",
    "grouped_info_nce",
    "hinge_embedding",
    "info_nce",
    "margin_ranking",
    "multi_similarity",
    "proxy_anchor",
    "sigmoid_contrastive",
    "sphereface",
    "subcenter_arcface",
    "supervised_contrastive",
    "triplet_margin",
    "vicreg",
]
