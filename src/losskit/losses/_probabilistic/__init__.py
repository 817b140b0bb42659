"""Scoring rules for probabilistic forecasts, one module per sub-family:

* ``_univariate``: scores of one real outcome (``brier``, ``crps_gaussian``, ``crps_ensemble``,
  ``twcrps_ensemble``, ``beta_nll``);
* ``_multivariate``: scores of a vector outcome against an ensemble (``energy_score``,
  ``variogram_score``);
* ``_quantiles``: quantile forecasts (``multi_quantile``);
* ``_base``: the registry fields, parameter and observation handling they share.
"""

from ._multivariate import energy_score, variogram_score
from ._quantiles import multi_quantile
from ._univariate import (
    _spread_sum,  # noqa: F401  (the tests check it against the pairwise sum)
    beta_nll,
    brier,
    crps_ensemble,
    crps_gaussian,
    twcrps_ensemble,
)

__all__ = [
    "beta_nll",
    "brier",
    "crps_ensemble",
    "crps_gaussian",
    "energy_score",
    "multi_quantile",
    "twcrps_ensemble",
    "variogram_score",
]
