"""``losskit.plots``: every plot renders a non-trivial PNG (Agg), returns its Figure, and
matplotlib is imported only when a plot is drawn."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import matplotlib.figure
import matplotlib.image

import losskit as lk
import losskit.plots as lkp


def _assert_image(path, min_bytes: int = 8000) -> None:
    """The file is a PNG with real content: large enough, and its pixels vary."""
    assert path.exists()
    assert path.stat().st_size > min_bytes
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(str(path))
    assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 200
    assert float(np.std(pixels[..., :3])) > 0.05  # not a blank canvas


def _lines(fig) -> int:
    return sum(len(ax.get_lines()) for ax in fig.axes)


def test_importing_losskit_and_its_plots_does_not_import_matplotlib():
    code = (
        "import sys, losskit, losskit.plots; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_plot_loss_with_gradients(tmp_path):
    path = tmp_path / "loss.png"
    fig = lkp.plot_loss(["bce", "brier", "binary_focal_crossentropy"], grad=True, path=path)
    _assert_image(path)
    assert len(fig.axes) == 6  # targets 0, 1, 0.5; loss and gradient rows
    assert [ax.get_title() for ax in fig.axes[:3]] == ["y_true=0", "y_true=1", "y_true=0.5"]
    assert _lines(fig) >= 18
    # the plotted gradient of the Brier score at y = 1 is 2(p - 1)
    ax = fig.axes[4]
    x, g = ax.get_lines()[1].get_data()
    np.testing.assert_allclose(g, 2 * (np.asarray(x) - 1), atol=1e-6)


def test_plot_loss_without_a_path_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fig = lkp.plot_loss("mse", task="regression")
    assert isinstance(fig, matplotlib.figure.Figure)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "losses, task", [(["mse", "mae", "huber"], "regression"), (["dice", "jaccard"], "segmentation")]
)
def test_plot_loss_other_tasks(tmp_path, losses, task):
    path = tmp_path / f"{task}.png"
    lkp.plot_loss(losses, task=task, grad=True, path=path)
    _assert_image(path)


def test_plot_loss_of_a_multiclass_loss_from_logits(tmp_path):
    path = tmp_path / "cce.png"
    fig = lkp.plot_loss("cce", task="multiclass", from_logits=True, path=path)
    _assert_image(path)
    assert fig.axes[0].get_xlabel() == "predicted probability of class 0"


def test_plot_expected_loss_marks_the_minimisers(tmp_path):
    path = tmp_path / "expected.png"
    fig = lkp.plot_expected_loss(["bce", "binary_focal_crossentropy"], path=path)
    _assert_image(path)
    # the minimiser dot of η = 0.7 for the focal loss sits at its minimiser (≈ 0.578)
    focal = fig.axes[1]
    dots = [line for line in focal.get_lines() if line.get_marker() == "o"]
    assert len(dots) == 5
    x07 = float(dots[3].get_xdata()[0])
    assert 0.57 < x07 < 0.585
    bce = fig.axes[0]
    dots = [line for line in bce.get_lines() if line.get_marker() == "o"]
    np.testing.assert_allclose(
        [float(d.get_xdata()[0]) for d in dots], [0.1, 0.3, 0.5, 0.7, 0.9], atol=1e-6
    )


def test_plot_link(tmp_path):
    path = tmp_path / "link.png"
    fig = lkp.plot_link(["bce", "binary_focal_crossentropy", "hinge"], path=path)
    _assert_image(path)
    x, y = fig.axes[0].get_lines()[0].get_data()
    np.testing.assert_allclose(y, x, atol=1e-6)  # cross-entropy lies on the diagonal
    multiclass = tmp_path / "link_multiclass.png"
    lkp.plot_link(["cce", "categorical_focal_crossentropy"], task="multiclass", path=multiclass)
    _assert_image(multiclass, min_bytes=5000)


def test_plot_gradient_weight(tmp_path):
    path = tmp_path / "weight.png"
    fig = lkp.plot_gradient_weight(["bce", "binary_focal_crossentropy"], path=path)
    _assert_image(path)
    p, w = fig.axes[0].get_lines()[0].get_data()
    np.testing.assert_allclose(w, 1 - np.asarray(p), atol=1e-6)  # CE: |σ(z) - 1| = 1 - p


def test_plot_elicited(tmp_path):
    path = tmp_path / "elicited.png"
    fig = lkp.plot_elicited(["mse", "mae", "huber", "mape"], path=path)
    _assert_image(path)
    assert [ax.get_title() for ax in fig.axes] == [
        "lognormal(0, 1)",
        "exponential(1)",
        "weibull(0.6)",
    ]


def test_plots_of_a_user_function(tmp_path):
    torch = pytest.importorskip("torch")

    def squared_logit_error(y_true, y_pred):
        return torch.mean((torch.sigmoid(y_pred) - y_true) ** 2)

    path = tmp_path / "user.png"
    fig = lkp.plot_loss(
        [squared_logit_error, "bce"], task="binary", from_logits=True, grad=True, path=path
    )
    _assert_image(path)
    assert fig.axes[0].get_legend_handles_labels()[1] == [
        "squared_logit_error",
        "binary_crossentropy",
    ]


def test_report_html_renders_its_plots(tmp_path):
    page = lk.check("binary_focal_crossentropy", task="binary").to_html(tmp_path)
    for name in ("loss.png", "expected_loss.png", "link.png", "gradient_weight.png"):
        _assert_image(tmp_path / name, min_bytes=5000)
    assert page.exists()


def test_plot_arguments_are_checked():
    with pytest.raises(ValueError, match="task must be 'binary' or 'multilabel'"):
        lkp.plot_expected_loss("cce", task="multiclass")
    with pytest.raises(ValueError, match="etas must be probabilities"):
        lkp.plot_expected_loss("bce", etas=(0.0, 0.5))
    with pytest.raises(ValueError, match="task must be one of"):
        lkp.plot_loss("bce", task="classification")
    with pytest.raises(ValueError, match="losses must name at least one loss"):
        lkp.plot_loss([])
    with pytest.raises(ValueError, match="plot_link draws classification links"):
        lkp.plot_link("mse", task="regression")


def test_a_margin_loss_gets_its_own_axis_not_probabilities():
    fig = lkp.plot_loss(["binary_focal_crossentropy", "bce", "hinge"], task="binary", grad=True)
    # probabilities: loss and gradient rows of 3 targets; the hinge's scores: 2 rows of 2
    assert len(fig.axes) == 10
    for ax in fig.axes:
        labels = ax.get_legend_handles_labels()[1] or [line.get_label() for line in ax.lines]
        if "hinge" in labels:
            assert "binary_crossentropy" not in labels
            (line,) = [line for line in ax.lines if line.get_label() == "hinge"]
            assert line.get_xdata().min() == -6.0 and line.get_xdata().max() == 6.0
    hinge_axes = [ax for ax in fig.axes if any(li.get_label() == "hinge" for li in ax.lines)]
    assert {ax.get_xlabel() for ax in hinge_axes if ax.get_xlabel()} == {
        "score f (margin m = y·f, labels y = ±1)"
    }
    probability_axes = [ax for ax in fig.axes if ax.get_xlabel() == "predicted probability"]
    assert probability_axes and all(
        li.get_label() != "hinge" for ax in probability_axes for li in ax.lines
    )


def test_gradient_panels_share_one_symmetric_range():
    fig = lkp.plot_loss(["bce", "binary_focal_crossentropy"], task="binary", grad=True)
    limits = {tuple(round(v, 9) for v in ax.get_ylim()) for ax in fig.axes[3:]}
    assert len(limits) == 1  # the same range in every gradient panel
    ((lo, hi),) = limits
    assert lo == pytest.approx(-hi)  # cut symmetrically, not 30 above and -200 below
    # BCE's gradient -1/p at p = 0.005 is -200: the range shows the bulk, not the blow-up
    assert hi < 100


def test_a_constant_panel_is_explained():
    fig = lkp.plot_loss("dice", task="segmentation")
    empty = fig.axes[0]
    assert empty.get_title() == "y_true=0"
    (note,) = [" ".join(t.get_text().split()) for t in empty.texts]
    assert "constant" in note and "empty mask" in note
    assert all(not ax.texts for ax in fig.axes[1:])  # the other targets are not constant


def test_the_report_links_its_figures_at_full_size(tmp_path):
    page = lk.check("huber", task="regression", backend="numpy").to_html(tmp_path)
    html = page.read_text(encoding="utf-8")
    # three panels side by side: drawn across the page, and linked to the full image
    assert '<figure class="wide"><a href="elicited.png"><img src="elicited.png"' in html
    assert "\nimg { max-width: 520px" not in html and "figure.wide img { width: 100%; }" in html


NUMPY_ONLY_PLOT = """
import sys, warnings
warnings.simplefilter("error")
import numpy as np
import losskit.plots as lkp


def mape(y_true, y_pred):
    return np.mean(np.abs((y_true - y_pred) / y_true))


lkp.plot_loss(mape, task="regression", grad=True)
print(*sorted(set(sys.modules) & {"torch", "jax", "tensorflow"}))
"""


def test_plotting_a_numpy_function_imports_no_framework():
    done = subprocess.run(
        [sys.executable, "-c", NUMPY_ONLY_PLOT], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []
    assert done.stderr == ""
