"""losskit: deep-learning loss functions, written once, exact on every framework.

>>> import numpy as np
>>> import losskit as lk
>>> float(lk.mean_squared_error(np.array([0.0, 0.0]), np.array([1.0, 3.0])))
5.0
"""

from . import ops
from ._custom import loss
from ._registry import LossInfo, aliases, get, info, names
from ._validate import set_validation, validation
from .losses import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    cosine_similarity,
    expectile,
    gaussian_nll,
    hinge,
    huber,
    js_divergence,
    kl_divergence,
    laplace_nll,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    poisson_nll,
    poly_loss,
    quantile,
    smooth_l1,
    soft_margin,
    sparse_categorical_crossentropy,
    sparse_categorical_focal_crossentropy,
    squared_hinge,
    tweedie,
)

#: The source article's names for two of the losses.
category_crossentropy = categorical_crossentropy
mean_square_error = mean_squared_error

__version__ = "0.1.0"

__all__ = [
    "LossInfo",
    "__version__",
    "aliases",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "category_crossentropy",
    "cosine_similarity",
    "expectile",
    "gaussian_nll",
    "get",
    "hinge",
    "huber",
    "info",
    "js_divergence",
    "kl_divergence",
    "laplace_nll",
    "log_cosh",
    "loss",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_square_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "names",
    "ops",
    "poisson",
    "poisson_nll",
    "poly_loss",
    "quantile",
    "set_validation",
    "smooth_l1",
    "soft_margin",
    "sparse_categorical_crossentropy",
    "sparse_categorical_focal_crossentropy",
    "squared_hinge",
    "tweedie",
    "validation",
]
