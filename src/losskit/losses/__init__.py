"""The loss catalogue: one private module per family; importing this registers them all."""

from ._crossentropy import (
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
)
from ._regression import mean_squared_error

__all__ = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "mean_squared_error",
    "sparse_categorical_crossentropy",
]
