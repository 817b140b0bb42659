"""The image similarity references against losskit in float64 NumPy: each loss's case from
``tests/cases.py`` and variants with non-default options (every padding, the uniform window,
the negative-term rules, odd sizes pooled each way, pooled channels, channels first, volumes)."""

from __future__ import annotations

import numpy as np
import pytest

import cases
import losskit as lk
from reference_image import REFERENCES


def _odd_images(inputs):
    """Sides 19 × 17: odd at the first and second poolings."""
    r = np.random.default_rng(11)
    y = r.random((2, 19, 17, 2))
    return [y, np.clip(0.5 * y + 0.5 * r.random(y.shape), 0.0, 1.0)]


def _anti_correlated(inputs):
    return [inputs[0], 1.0 - inputs[0]]


def _channels_first(inputs):
    return [np.moveaxis(a, -1, 1) for a in inputs]


def _volumes(inputs):
    r = np.random.default_rng(5)
    y = r.random((2, 7, 8, 9, 1))
    return [y, 0.8 * y + 0.2 * r.random(y.shape)]


def _same(inputs):
    return inputs


VARIANTS = [
    ("ssim", "reflect", _same, {"padding": "reflect", "eps": 1e-12}),
    ("ssim", "symmetric", _same, {"padding": "symmetric"}),
    ("ssim", "zeros", _same, {"padding": "zeros"}),
    ("ssim", "uniform", _same, {"window": "uniform", "win_size": 3}),
    ("ssim", "constants", _same, {"k1": 0.05, "k2": 0.2, "data_range": 2.0, "sigma": 0.7}),
    ("ssim", "nonnegative", _anti_correlated, {"nonnegative": True}),
    ("ssim", "negative", _anti_correlated, {}),
    ("ssim", "channels_first", _channels_first, {"axis": 1}),
    ("ssim", "volumes", _volumes, {"win_size": 3}),
    ("ms_ssim", "crop", _odd_images, {"odd": "crop"}),
    ("ms_ssim", "zero_pad", _odd_images, {"odd": "zero_pad"}),
    ("ms_ssim", "edge_pad", _odd_images, {"odd": "edge_pad"}),
    ("ms_ssim", "pooled_channels", _same, {"per_channel": False}),
    ("ms_ssim", "shift", _anti_correlated, {"negative": "shift"}),
    ("ms_ssim", "relu", _anti_correlated, {}),
    ("ms_ssim", "reflect", _same, {"padding": "reflect", "weights": (0.1, 0.0, 0.9)}),
    ("ms_ssim", "volumes", _volumes, {"weights": (0.4, 0.6)}),
]


@pytest.mark.parametrize(("name", "label", "transform", "options"), VARIANTS)
def test_image_losses_match_their_reference(name, label, transform, options):
    case = cases.FACTORIES[name]()
    inputs = transform(case.inputs)
    params = {**case.params, **options}
    got = lk.get(name)(*inputs, **params, reduction="none")
    expected = REFERENCES[name](inputs, params)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14, err_msg=label)
