"""Run in a fresh process (see test_wrappers_keras.py): load models saved by keras_check.py with
plain ``keras.models.load_model`` (no ``custom_objects``) and print their losses.

Keras imports only its own packages while loading, so the classes are found through their
registration, which ``import losskit.keras`` performs.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

import losskit.keras  # noqa: F401  (registers the serializable classes)

model = keras.models.load_model(sys.argv[1])
compound = keras.models.load_model(sys.argv[1].replace(".keras", "_compound.keras"))
print(type(model.loss).__module__, type(model.loss).__name__)
print(json.dumps(model.loss.get_config()))
print(repr(compound.loss.loss))
