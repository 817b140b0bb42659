"""The loss catalogue: one private module per family; importing this registers them all."""

from ._classification import categorical_hinge, hinge, kl_divergence, squared_hinge
from ._crossentropy import (
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
)
from ._regression import (
    cosine_similarity,
    expectile,
    gaussian_nll,
    huber,
    laplace_nll,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    poisson_nll,
    quantile,
    smooth_l1,
    tweedie,
)

__all__ = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "categorical_hinge",
    "cosine_similarity",
    "expectile",
    "gaussian_nll",
    "hinge",
    "huber",
    "kl_divergence",
    "laplace_nll",
    "log_cosh",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "poisson",
    "poisson_nll",
    "quantile",
    "smooth_l1",
    "sparse_categorical_crossentropy",
    "squared_hinge",
    "tweedie",
]
