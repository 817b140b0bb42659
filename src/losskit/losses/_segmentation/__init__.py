"""Segmentation losses, one module per sub-family.

* :mod:`._overlap`: the overlap losses (Dice, Jaccard, Tversky, focal Tversky, generalized Dice),
  soft-label correct statistics per (image, class);
* :mod:`._lovasz`: the Lovász extensions of the Jaccard loss (Lovász-Softmax, Lovász hinge);
* :mod:`._boundary`: the boundary-aware losses: on distance transforms of the masks (boundary
  loss, Hausdorff distance-transform loss) and on soft skeletons (soft clDice);
* :mod:`._common`: what they share: reading the inputs (``mode``, the class axis, index or dense
  targets, ``ignore_index``, ``mask``), the overlap statistics, the class average and the
  reduction of the per-image (or per-batch) losses.
"""

from ._boundary import boundary_loss, hausdorff_dt, soft_cldice
from ._lovasz import _lovasz_sorted, lovasz_hinge, lovasz_softmax
from ._overlap import dice, focal_tversky, generalized_dice, jaccard, tversky

__all__ = [
    "_lovasz_sorted",
    "boundary_loss",
    "dice",
    "focal_tversky",
    "generalized_dice",
    "hausdorff_dt",
    "jaccard",
    "lovasz_hinge",
    "lovasz_softmax",
    "soft_cldice",
    "tversky",
]
