"""``losskit compare``: several seeds per loss, the class-centre losses, families, and the
Markdown and JSON outputs (the single-seed table and the report: ``test_cli.py``)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

import losskit as lk
from losskit import _compare
from losskit.cli import main, split_losses

pytest.importorskip("sklearn")
pytest.importorskip("torch")

TINY = _compare.Config(losses=("crossentropy",), epochs=2, noise=0.0, seeds=1)


def one_seed(config: _compare.Config, seed: int) -> _compare.Comparison:
    return _compare.run(dataclasses.replace(config, seed=seed, seeds=1))


@pytest.mark.parametrize(
    "loss",
    ["crossentropy", "crossentropy:reduction=sum", "arcface:scale=16"],
    ids=["one call", "call per seed", "class centres"],
)
def test_seeds_trained_together_equal_seeds_trained_alone(loss):
    # the seeds share one batched network and one optimiser; each must still follow its own
    # training exactly: the same split, weights, batches and Adam steps as a run of that seed
    config = dataclasses.replace(TINY, losses=(loss,), model="linear", noise=0.3, seeds=2)
    (row,) = _compare.run(config).rows
    alone = [one_seed(config, seed).rows[0] for seed in (0, 1)]
    assert [run.seed for run in row.clean.runs] == [0, 1]
    for i, single in enumerate(alone):
        for trial, own in ((row.clean, single.clean), (row.noisy, single.noisy)):
            a, b = trial.runs[i], own.runs[0]
            np.testing.assert_allclose(a.test_log_loss, b.test_log_loss, rtol=2e-4)
            assert a.scores.accuracy == pytest.approx(b.scores.accuracy, abs=1 / 450 + 1e-9)
    expected = np.mean([single.clean.train_loss for single in alone], axis=0)
    np.testing.assert_allclose(row.clean.train_loss, expected, rtol=2e-4)


def test_separable_losses_share_one_call():
    assert _compare.parse_loss("crossentropy").separable
    assert _compare.parse_loss("gce").separable
    assert not _compare.parse_loss("crossentropy:reduction=sum").separable
    assert not _compare.parse_loss("arcface").separable  # each seed has its own centres


def test_summary_is_mean_and_sample_standard_deviation():
    config = dataclasses.replace(TINY, noise=0.3, seeds=3)
    (row,) = _compare.run(config).rows
    accuracy = np.array([run.scores.accuracy for run in row.clean.runs])
    noisy = np.array([run.scores.accuracy for run in row.noisy.runs])
    assert row.summary("accuracy") == pytest.approx((accuracy.mean(), accuracy.std(ddof=1)))
    drop = 100 * (accuracy - noisy)
    assert row.summary("drop") == pytest.approx((drop.mean(), drop.std(ddof=1)))
    assert row.summary("log_loss")[1] > 0  # the seeds differ
    mean, std = row.summary("ece")
    assert _compare.format_cell(row, "ece") == f"{100 * mean:.1f} ± {100 * std:.1f}"


def test_seeds_draw_their_own_split():
    first, second = (_compare.load_data("digits", seed) for seed in (0, 1))
    assert not np.array_equal(first.y_test, second.y_test)
    assert len(first.y_train) == len(second.y_train)  # stratified: equal sizes


# --------------------------------------------------------------------- class-centre losses
def test_centre_losses_are_parsed_with_a_centre_head():
    for name in ("arcface", "cosface", "sphereface", "subcenter_arcface"):
        spec = _compare.parse_loss(name)
        assert spec.centres and spec.target == "index" and spec.inputs == "embeddings"
    spec = _compare.parse_loss("subcenter_arcface:sub_centers=2")
    assert spec.centre_rows(10) == 20
    params = _compare.init_params(TINY, spec, 0, 64, 10)
    assert [p.shape for p in params] == [(64, 32), (1, 32), (20, 32)]
    with pytest.raises(_compare.CompareError, match="margin"):
        _compare.parse_loss("arcface:margin=-1")


def test_centre_logits_are_scaled_cosines_without_the_margin():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(7, 5)), rng.normal(size=(8, 5))
    cos = np.array([[a @ b / np.linalg.norm(a) / np.linalg.norm(b) for b in w] for a in x])
    arc = _compare.parse_loss("arcface:scale=3")
    np.testing.assert_allclose(_compare.centre_logits(arc, x, w), 3 * cos, rtol=1e-12)
    sub = _compare.parse_loss("subcenter_arcface:scale=2,sub_centers=2")
    closest = np.maximum(cos[:, 0::2], cos[:, 1::2])  # rows c·K + k are class c's sub-centres
    np.testing.assert_allclose(_compare.centre_logits(sub, x, w), 2 * closest, rtol=1e-12)
    sphere = _compare.parse_loss("sphereface")  # scale 1, the embedding's norm kept
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.testing.assert_allclose(_compare.centre_logits(sphere, x, w), norms * cos, rtol=1e-12)


def test_centre_logits_are_what_the_loss_trains_without_margin():
    # with margin 0, ArcFace and CosFace are the cross-entropy of exactly these logits
    rng = np.random.default_rng(1)
    x, w, y = rng.normal(size=(9, 4)), rng.normal(size=(3, 4)), rng.integers(0, 3, 9)
    for name in ("arcface", "cosface"):
        spec = _compare.parse_loss(f"{name}:margin=0.0,scale=5.0", num_classes=3)
        z = _compare.centre_logits(spec, x, w)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        expected = -np.mean(log_p[np.arange(9), y])
        assert getattr(lk, name)(x, y, w, margin=0.0, scale=5.0) == pytest.approx(expected)


def test_centre_losses_train_a_classifier():
    config = dataclasses.replace(TINY, losses=("cosface:scale=16", "sphereface"), epochs=3)
    result = _compare.run(config)
    for row in result.rows:
        assert row.clean.runs[0].scores.accuracy > 0.8, row.spec.label
    assert "s·cos θ" in _compare.legend(result)


# ------------------------------------------------------------------------- command line
def test_losses_split_on_commas_that_start_a_new_loss():
    assert split_losses(["arcface,cosface"]) == ("arcface", "cosface")
    assert split_losses(["gce:q=0.5,cosface", "brier"]) == ("gce:q=0.5", "cosface", "brier")
    assert split_losses(["crossentropy:label_smoothing=0.1,from_logits=true"]) == (
        "crossentropy:label_smoothing=0.1,from_logits=true",
    )


def test_family_adds_its_classification_losses_in_any_case():
    assert _compare.family_losses("Metric") == [
        "arcface",
        "cosface",
        "sphereface",
        "subcenter_arcface",
    ]
    with pytest.raises(_compare.CompareError, match="unknown family 'metrik'; choose one of"):
        _compare.family_losses("metrik")
    with pytest.raises(_compare.CompareError, match="no classification loss"):
        _compare.family_losses("regression")


def test_cli_family_seeds_json(capsys):
    argv = ["compare", "--family", "METRIC", "--losses", "crossentropy", "--seeds", "2"]
    argv += ["--epochs", "1", "--noise", "0", "--model", "linear", "--json", "--no-progress"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)  # stdout holds the JSON alone
    assert "1 epoch, 2 seeds" in err
    losses = [r["loss"] for r in result["results"]]
    assert losses == ["crossentropy", "arcface", "cosface", "sphereface", "subcenter_arcface"]
    arcface = result["results"][1]
    assert arcface["head"] == "class centres" and arcface["seeds"] == [0, 1]
    accuracy = [run["scores"]["accuracy"] for run in arcface["clean"]["runs"]]
    summary = arcface["summary"]["accuracy"]
    assert summary["mean"] == pytest.approx(np.mean(accuracy))
    assert summary["std"] == pytest.approx(np.std(accuracy, ddof=1))
    assert result["config"]["seeds"] == 2 and arcface["noisy"] is None


def test_cli_markdown_and_report_show_mean_and_std(capsys, tmp_path):
    argv = ["compare", "--losses", "crossentropy,brier", "--seeds", "2", "--epochs", "1"]
    argv += ["--markdown", str(tmp_path / "t.md"), "--report", str(tmp_path / "r")]
    assert main([*argv, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Mean ± standard deviation over 2 seeds (0–1)" in out.replace("\n", " ")
    markdown = (tmp_path / "t.md").read_text()
    lines = markdown.splitlines()
    assert lines[0].startswith("| loss | accuracy % | log-loss | ECE % | acc. 30% noise % |")
    assert lines[1] == "|:---|---:|---:|---:|---:|---:|---:|"
    assert lines[2].startswith("| crossentropy | ") and " ± " in lines[2]
    page = (tmp_path / "r" / "index.html").read_text()
    assert page.count(" ± ") >= 2 * 5 + 2 * 3  # both tables, every metric
    assert "pooled" in page


def test_cli_seeds_must_be_positive(capsys):
    assert main(["compare", "--seeds", "0", "--no-progress"]) == 2
    assert "--seeds must be >= 1" in capsys.readouterr().err


def test_default_seeds_and_budget_are_stated():
    assert _compare.Config().seeds == _compare.DEFAULT_SEEDS
    assert math.isfinite(_compare.DEFAULT_SEEDS)
    assert str(_compare.DEFAULT_SEEDS) in _compare.DEFAULT_BUDGET
