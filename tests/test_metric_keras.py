"""Metric learning with Keras (its TensorFlow backend, in process; slow only because it imports
TensorFlow): ``circle`` with a separate reference set against Keras's own ``circle``, and the
angular-margin layers of ``losskit.keras`` that own their class centres (the other Keras backends
were checked to train, save and load the same way; tests/test_wrappers_keras.py runs each backend
in its own process for the loss classes)."""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk
from test_metric_options import LABELS, REF, REF_LABELS, X


@pytest.mark.parametrize("remove_diagonal", [True, False])
def test_circle_reference_set_against_keras(remove_diagonal):
    keras = pytest.importorskip("keras")
    theirs = keras.losses.circle(
        LABELS,
        (X / np.linalg.norm(X, axis=1, keepdims=True)).astype("float32"),
        ref_labels=REF_LABELS,
        ref_embeddings=(REF / np.linalg.norm(REF, axis=1, keepdims=True)).astype("float32"),
        gamma=80.0,
        margin=0.4,
        remove_diagonal=remove_diagonal,
    )
    ours = lk.circle(
        X,
        LABELS,
        ref_embeddings=REF,
        ref_labels=REF_LABELS,
        m=0.4,
        gamma=80.0,
        remove_diagonal=remove_diagonal,
        reduction="none",
    )
    # Keras computes in float32 from γ-scaled logits: absolute agreement ~ γ·ε₃₂
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-5, atol=80 * 1e-6)


def test_arcface_layer_trains_its_centres_saves_and_loads(tmp_path):
    keras = pytest.importorskip("keras")
    lkk = pytest.importorskip("losskit.keras")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8)).astype("float32"), rng.integers(0, 4, 64)
    embeddings_in, labels_in = keras.Input((8,)), keras.Input((), dtype="int32")
    head = lkk.ArcFace(num_classes=4, embedding_size=5, margin=0.3, scale=8.0)
    embeddings = keras.layers.Dense(5)(embeddings_in)
    model = keras.Model([embeddings_in, labels_in], head(embeddings, labels_in))
    model.compile(optimizer=keras.optimizers.Adam(0.05))  # the layer adds its loss
    before = keras.ops.convert_to_numpy(head.centres.value).copy()
    history = model.fit([x, y], epochs=4, batch_size=16, verbose=0).history["loss"]
    after = keras.ops.convert_to_numpy(head.centres.value)
    assert history[-1] < history[0] and not np.allclose(before, after)
    features = keras.ops.convert_to_numpy(model.layers[1](x))
    np.testing.assert_allclose(
        float(head(features, y)),
        float(lk.arcface(features, y, after, margin=0.3, scale=8.0)),
        rtol=1e-5,
    )
    path = str(tmp_path / "arcface.keras")
    model.save(path)
    loaded = keras.models.load_model(path).layers[-1]
    assert type(loaded).__name__ == "ArcFace" and loaded.get_config()["margin"] == 0.3
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded.centres.value), after)


def test_centre_layers_refuse_bad_sizes_and_options():
    pytest.importorskip("keras")
    lkk = pytest.importorskip("losskit.keras")
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        lkk.CosFace(num_classes=0, embedding_size=4)
    with pytest.raises(ValueError, match="reduction must be one of"):
        lkk.CosFace(num_classes=3, embedding_size=4, reduction="avg")
    with pytest.raises(TypeError, match="has no parameter 'temperature'"):
        lkk.SphereFace(num_classes=3, embedding_size=4, temperature=0.1)
    assert lkk.SubCenterArcFace(num_classes=3, embedding_size=4).centres.shape == (9, 4)
    assert lkk.ProxyAnchor(num_classes=3, embedding_size=4).centres.shape == (3, 4)
