"""Every loss's independent float64 reference, merged from the family modules.

``REFERENCES[name](inputs, params)`` is the unreduced loss of the sample ``inputs`` with keyword
options ``params``, written from the mathematics (never from losskit's code paths); it raises
``NotImplementedError`` for an option it does not model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from reference_box import REFERENCES as _BOX
from reference_forecast import REFERENCES as _FORECAST
from reference_image import REFERENCES as _IMAGE
from reference_llm_policy import REFERENCES as _LLM_POLICY
from reference_pointwise import REFERENCES as _POINTWISE
from reference_preference import REFERENCES as _PREFERENCE
from reference_sets import REFERENCES as _SETS
from reference_transport import REFERENCES as _TRANSPORT

Reference = Callable[[list[np.ndarray], dict[str, Any]], np.ndarray]

REFERENCES: dict[str, Reference] = {
    **_POINTWISE,
    **_SETS,
    **_PREFERENCE,
    **_LLM_POLICY,
    **_BOX,
    **_FORECAST,
    **_TRANSPORT,
    **_IMAGE,
}
