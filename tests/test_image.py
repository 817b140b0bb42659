"""SSIM and MS-SSIM: parity with their anchors (pytorch-msssim, MONAI, kornia, TensorFlow),
exactness at equal images, finite gradients where the anchors' are not, and argument checks."""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk

torch = pytest.importorskip("torch")


def _pair(shape, seed=0, dtype=None):
    """A target in [0, 1] and a prediction correlated with it, NCHW torch tensors."""
    g = torch.Generator().manual_seed(seed)
    dtype = dtype or torch.float64
    x = torch.rand(shape, generator=g, dtype=dtype)
    return x, 0.7 * x + 0.3 * torch.rand(shape, generator=g, dtype=dtype)


def _window(size=11, sigma=1.5, channels=3, spatial=2):
    """pytorch-msssim's window in float64 (its own is built in float32)."""
    offsets = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(offsets**2) / (2 * sigma**2))
    return (g / g.sum()).view(1, 1, -1).repeat([channels, 1] + [1] * spatial)


def _max_diff(a, b):
    return float((a.reshape(-1).double() - b.reshape(-1).double()).abs().max())


# ---------------------------------------------------------------------- pytorch-msssim
@pytest.mark.parametrize(("size", "sigma"), [(11, 1.5), (7, 1.0)])
@pytest.mark.parametrize("nonnegative", [False, True])
def test_ssim_matches_pytorch_msssim(size, sigma, nonnegative):
    pm = pytest.importorskip("pytorch_msssim")
    x, y = _pair((4, 3, 40, 36))
    x, y = 255 * x, 255 * y
    anchor = 1 - pm.ssim(
        x,
        y,
        data_range=255,
        win=_window(size, sigma),
        size_average=False,
        nonnegative_ssim=nonnegative,
    )
    ours = lk.ssim(y, x, win_size=size, sigma=sigma, data_range=255.0, axis=1,
                   nonnegative=nonnegative, reduction="none")  # fmt: skip
    assert _max_diff(anchor, ours) < 1e-13


def test_ssim_3d_matches_pytorch_msssim():
    pm = pytest.importorskip("pytorch_msssim")
    x, y = _pair((2, 2, 14, 16, 18))
    anchor = 1 - pm.ssim(x, y, data_range=1.0, win=_window(5, 1.5, 2, 3), size_average=False)
    ours = lk.ssim(y, x, win_size=5, axis=1, reduction="none")
    assert _max_diff(anchor, ours) < 1e-13


@pytest.mark.parametrize("shape", [(3, 3, 176, 176), (2, 3, 200, 186)])
def test_ms_ssim_matches_pytorch_msssim(shape):
    """pytorch-msssim pads an odd side with a zero in front (``odd="zero_pad"``); the second
    shape is odd at the third and fourth scales."""
    pm = pytest.importorskip("pytorch_msssim")
    x, y = _pair(shape)
    anchor = 1 - pm.ms_ssim(x, y, data_range=1.0, win=_window(), size_average=False)
    ours = lk.ms_ssim(y, x, axis=1, odd="zero_pad", reduction="none")
    assert _max_diff(anchor, ours) < 1e-13
    if shape[-1] % 2 == 0 and shape[-2] % 16 == 0:
        assert _max_diff(anchor, lk.ms_ssim(y, x, axis=1, reduction="none")) < 1e-13


def test_ms_ssim_weights_and_window_match_pytorch_msssim():
    pm = pytest.importorskip("pytorch_msssim")
    x, y = _pair((2, 1, 72, 72), seed=3)
    weights = [0.2, 0.3, 0.5]
    anchor = 1 - pm.ms_ssim(
        x, y, data_range=1.0, win=_window(5, 0.9, 1), weights=weights, size_average=False
    )
    ours = lk.ms_ssim(y, x, axis=1, win_size=5, sigma=0.9, weights=weights, reduction="none")
    assert _max_diff(anchor, ours) < 1e-13


# ---------------------------------------------------------------------- MONAI (float32)
@pytest.mark.parametrize("window", ["gaussian", "uniform"])
@pytest.mark.parametrize("spatial", [2, 3])
def test_ssim_matches_monai(window, spatial):
    monai = pytest.importorskip("monai")
    shape = (3, 2, 30, 28) if spatial == 2 else (2, 2, 16, 15, 14)
    x, y = _pair(shape, dtype=torch.float32)
    loss = monai.losses.SSIMLoss(spatial_dims=spatial, kernel_type=window, reduction="none")
    anchor = loss(x, y)
    ours = lk.ssim(y, x, axis=1, window=window, reduction="none")
    assert _max_diff(anchor, ours) < 5e-6  # MONAI computes in float32
    assert _max_diff(anchor, lk.ssim(y.double(), x.double(), axis=1, window=window,
                                     reduction="none")) < 5e-6  # fmt: skip
    mean = monai.losses.SSIMLoss(spatial_dims=spatial, kernel_type=window)(x, y)
    assert abs(float(mean) - float(lk.ssim(y, x, axis=1, window=window))) < 5e-6


@pytest.mark.parametrize("shape", [(3, 3, 176, 176), (2, 3, 200, 186)])
def test_ms_ssim_matches_monai_metric(shape):
    """MONAI averages each scale's term over the channels (``per_channel=False``) and crops an
    odd side (``odd="crop"``)."""
    regression = pytest.importorskip("monai.metrics.regression")
    x, y = _pair(shape, dtype=torch.float32)
    anchor = 1 - regression.compute_ms_ssim(x, y, spatial_dims=2)
    ours = lk.ms_ssim(y.double(), x.double(), axis=1, per_channel=False, reduction="none")
    assert _max_diff(anchor, ours) < 2e-5  # float32 moments: E[x²] - μ² loses ~1e-6


# ---------------------------------------------------------------------- kornia
@pytest.mark.parametrize("size", [11, 5])
def test_ssim_matches_kornia(size):
    """kornia's loss is ``(1 - SSIM) / 2`` with reflected borders and ``eps`` in the
    denominator: half of ``ssim(padding="reflect", eps=1e-12)``."""
    kornia = pytest.importorskip("kornia")
    x, y = _pair((3, 3, 24, 20))
    anchor = kornia.losses.ssim_loss(x, y, size, reduction="none").mean(dim=(1, 2, 3))
    ours = lk.ssim(y, x, win_size=size, axis=1, padding="reflect", eps=1e-12, reduction="none")
    assert _max_diff(anchor, 0.5 * ours) < 1e-13
    mean = kornia.losses.ssim_loss(x, y, size, max_val=2.0)
    ours = lk.ssim(y, x, win_size=size, axis=1, padding="reflect", eps=1e-12, data_range=2.0)
    assert abs(float(mean) - 0.5 * float(ours)) < 1e-13


def test_ssim_3d_matches_kornia():
    kornia = pytest.importorskip("kornia")
    x, y = _pair((2, 2, 9, 10, 11))
    anchor = kornia.losses.ssim3d_loss(x, y, 5, reduction="none").mean(dim=(1, 2, 3, 4))
    ours = lk.ssim(y, x, win_size=5, axis=1, padding="reflect", eps=1e-12, reduction="none")
    assert _max_diff(anchor, 0.5 * ours) < 1e-13


# ---------------------------------------------------------------------- TensorFlow
def test_ms_ssim_matches_tensorflow_edge_padding():
    """``tf.image.ssim_multiscale``: channels last, an odd side padded with its last pixel."""
    tf = pytest.importorskip("tensorflow")
    x, y = _pair((2, 3, 181, 166))
    x_nhwc, y_nhwc = (t.permute(0, 2, 3, 1).numpy() for t in (x, y))
    anchor = (
        1
        - tf.image.ssim_multiscale(
            tf.constant(x_nhwc), tf.constant(y_nhwc), max_val=1.0, filter_size=11
        ).numpy()
    )
    ours = lk.ms_ssim(y_nhwc, x_nhwc, odd="edge_pad", reduction="none")
    np.testing.assert_allclose(ours, anchor, rtol=0, atol=5e-6)  # TF computes in float32


# ---------------------------------------------------------------------- numerics
@pytest.mark.parametrize("name", ["ssim", "ms_ssim"])
@pytest.mark.parametrize("value", [0.0, 0.5, 1.0, 255.0])
def test_equal_constant_images_give_exactly_zero_with_finite_gradient(name, value):
    x = torch.full((2, 3, 40, 40), value, dtype=torch.float32, requires_grad=True)
    kwargs = {"win_size": 3, "weights": (0.5, 0.5)} if name == "ms_ssim" else {}
    loss = lk.get(name)(x.detach().clone(), x, axis=1, **kwargs)
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert torch.isfinite(x.grad).all()
    y = torch.rand((2, 3, 40, 40), generator=torch.Generator().manual_seed(1))
    assert float(lk.get(name)(y, y.clone(), axis=1, **kwargs)) == 0.0


def test_negative_scale_terms_follow_the_anchor_and_keep_gradients_finite():
    """Anti-correlated images: a negative mean cs at a scale. relu gives that term 0 with a zero
    gradient, as pytorch-msssim does (its relu's backward masks pow's infinite slope at 0);
    shift keeps a gradient there."""
    pm = pytest.importorskip("pytorch_msssim")
    x, _ = _pair((2, 1, 64, 64), seed=5)
    y = 1.0 - x
    weights = [0.5, 0.5]
    p = y.clone().requires_grad_(True)
    anchor = 1 - pm.ms_ssim(x, p, data_range=1.0, win=_window(3, 1.5, 1), weights=weights)
    anchor.backward()
    for negative in ("relu", "shift"):
        q = y.clone().requires_grad_(True)
        loss = lk.ms_ssim(x, q, axis=1, win_size=3, weights=weights, negative=negative)
        loss.backward()
        assert torch.isfinite(q.grad).all() and 0.0 < float(loss.detach()) <= 1.0
        if negative == "relu":
            assert abs(float(loss.detach()) - float(anchor.detach())) < 1e-12
            assert _max_diff(q.grad, p.grad) < 1e-12
        else:
            assert float(q.grad.abs().sum()) > 0


def test_channel_axis_and_layout():
    x, y = _pair((2, 3, 20, 22))
    nchw = lk.ssim(y, x, axis=1, win_size=5, reduction="none")
    nhwc = lk.ssim(y.permute(0, 2, 3, 1), x.permute(0, 2, 3, 1), win_size=5, reduction="none")
    assert _max_diff(nchw, nhwc) < 1e-14
    per_image = lk.ssim(y, x, axis=1, win_size=5, reduction="none")
    assert per_image.shape == (2,)
    channels = [lk.ssim(y[:, c : c + 1], x[:, c : c + 1], axis=1, win_size=5, reduction="none")
                for c in range(3)]  # fmt: skip
    assert _max_diff(per_image, sum(channels) / 3) < 1e-14


def test_torch_module_defaults_to_nchw():
    import losskit.torch as lkt

    x, y = _pair((2, 3, 20, 20))
    module = lkt.SSIM(win_size=5)
    assert abs(float(module(y, x)) - float(lk.ssim(x, y, axis=1, win_size=5))) < 1e-14
    assert type(lkt.MSSSIM()).__name__ == "MSSSIM"


# ---------------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"win_size": 4}, "win_size must be a positive odd int"),
        ({"win_size": 0}, "win_size must be a positive odd int"),
        ({"sigma": 0.0}, "sigma must be in"),
        ({"k1": 0.0}, "k1 must be in"),
        ({"data_range": -1.0}, "data_range must be in"),
        ({"padding": "same"}, "padding must be one of"),
        ({"window": "box"}, "window must be one of"),
        ({"axis": 0}, "axis=0 is the batch axis"),
        ({"win_size": 31}, "at least win_size=31"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    x = np.random.default_rng(0).random((2, 20, 20, 1))
    with pytest.raises((ValueError, TypeError), match=message):
        lk.ssim(x, x, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": (0.5, -0.1)}, "weights must be finite and non-negative"),
        ({"weights": ()}, "at least one scale"),
        ({"weights": "abc"}, "weights must be a sequence"),
        ({"negative": "abs"}, "negative must be one of"),
        ({"odd": "floor"}, "odd must be one of"),
        ({}, "at scale 4 of 5"),
    ],
)
def test_bad_ms_ssim_arguments_are_refused(kwargs, message):
    x = np.random.default_rng(0).random((2, 64, 64, 1))
    with pytest.raises((ValueError, TypeError), match=message):
        lk.ms_ssim(x, x, **kwargs)


def test_images_need_a_channel_and_a_spatial_axis():
    with pytest.raises(ValueError, match="at least one spatial axis"):
        lk.ssim(np.zeros((2, 5)), np.zeros((2, 5)))
