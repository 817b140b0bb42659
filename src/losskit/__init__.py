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
    categorical_crossentropy,
    mean_squared_error,
    sparse_categorical_crossentropy,
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
    "categorical_crossentropy",
    "category_crossentropy",
    "get",
    "info",
    "loss",
    "mean_square_error",
    "mean_squared_error",
    "names",
    "ops",
    "set_validation",
    "sparse_categorical_crossentropy",
    "validation",
]
