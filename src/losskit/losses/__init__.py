"""The loss catalogue: one private module per family; importing this registers them all."""

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
    "cosine_similarity",
    "expectile",
    "gaussian_nll",
    "huber",
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
    "tweedie",
]
