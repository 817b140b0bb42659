"""``losskit compare --model gbdt``: the compare experiment with gradient-boosted trees.

The cross-entropy row is checked against XGBoost's own ``multi:softprob`` (an independent
implementation of the same Newton boosting), the rest end to end: eligible losses train, the
ineligible ones are skipped with their reason, and the report says how each loss was used.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from losskit import _compare, _compare_gbdt
from losskit.cli import main

pytest.importorskip("sklearn")

SMALL = _compare.Config(
    losses=("crossentropy",), model="gbdt", library="xgboost", rounds=8, noise=0.0, seeds=1
)


def test_config_checks_the_gbdt_options():
    with pytest.raises(_compare.CompareError, match="unknown library 'sklearn'"):
        dataclasses.replace(SMALL, library="sklearn").check()
    with pytest.raises(_compare.CompareError, match="unknown hessian 'diagonal'"):
        dataclasses.replace(SMALL, hessian="diagonal").check()
    with pytest.raises(_compare.CompareError, match="--rounds must be >= 1"):
        dataclasses.replace(SMALL, rounds=0).check()


def test_auto_library_is_the_first_installed(monkeypatch):
    installed = {"lightgbm", "catboost"}
    monkeypatch.setattr(
        _compare.importlib.util, "find_spec", lambda name: object() if name in installed else None
    )
    assert _compare.resolve_library("auto") == "lightgbm"
    installed.clear()
    with pytest.raises(_compare.CompareError, match="needs XGBoost, LightGBM or CatBoost"):
        _compare.resolve_library("auto")
    with pytest.raises(_compare.CompareError, match="'xgboost' is not installed"):
        _compare.resolve_library("xgboost")


def test_cross_entropy_trees_are_xgboosts_multi_softprob():
    xgb = pytest.importorskip("xgboost")
    result = _compare.run(SMALL)
    (row,) = result.rows
    data = result.data
    # the same trees from XGBoost's built-in objective: its Hessian is 2p(1 - p), ours p(1 - p),
    # so its leaf -G/(2H + λ') equals ours -G/(H + λ) with λ' = 2λ and twice the learning rate
    # (min_child_weight, in Hessian units, doubles too)
    counts = np.bincount(data.y_train, minlength=data.num_classes)
    start = np.log(counts / counts.sum())
    params = {
        "objective": "multi:softprob",
        "num_class": data.num_classes,
        "max_depth": _compare.TREE_DEPTH,
        "eta": 2 * _compare.TREE_LEARNING_RATE,
        "lambda": 2 * _compare.TREE_L2,
        "min_child_weight": 2.0,
        "tree_method": "hist",
        "nthread": 1,
        "seed": 0,
    }
    base = np.tile(start, (len(data.y_train), 1))
    booster = xgb.train(params, xgb.DMatrix(data.x_train, data.y_train, base_margin=base), 8)
    test = xgb.DMatrix(data.x_test, base_margin=np.tile(start, (len(data.y_test), 1)))
    probabilities = booster.predict(test)
    labels = data.y_test
    log_loss = -np.mean(np.log(probabilities[np.arange(len(labels)), labels]))
    accuracy = np.mean(probabilities.argmax(axis=1) == labels)
    (run,) = row.clean.runs
    assert run.scores.log_loss == pytest.approx(log_loss, rel=1e-4)
    assert run.scores.accuracy == accuracy
    assert row.objective == "hessian=exact, closed form"
    assert len(run.test_log_loss) == 8
    assert run.test_log_loss[-1] < run.test_log_loss[0]


def test_hessian_modes_follow_the_loss():
    specs = {text: _compare.parse_loss(text) for text in ("brier", "multiclass_hinge", "gce")}
    chosen = {
        text: _compare_gbdt.gbdt_objective(spec, "xgboost", "auto", 10).hessian
        for text, spec in specs.items()
    }
    # brier and gce: not convex in the logits (the exact Hessian floored); hinge: convex but
    # piecewise linear (Hessian 0 everywhere: 1 instead)
    assert chosen == {"brier": "clip", "multiclass_hinge": "constant", "gce": "clip"}
    explicit = _compare_gbdt.gbdt_objective(specs["brier"], "xgboost", "fisher", 10)
    assert explicit.hessian == "fisher"
    with pytest.raises(_compare.CompareError, match="hessian='fisher' needs"):
        _compare_gbdt.gbdt_objective(specs["gce"], "xgboost", "fisher", 10)


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_cli_trains_eligible_losses_and_skips_the_others(capsys, tmp_path, library):
    pytest.importorskip(library)
    seeds = "2" if library == "xgboost" else "1"  # one library is enough for the seeds
    argv = [
        "compare", "--model", "gbdt", "--library", library, "--rounds", "5", "--seeds", seeds,
        "--dataset", "breast_cancer", "--noise", "0.2", "--no-progress",
        "--losses", "crossentropy", "multiclass_hinge", "crossentropy:from_logits=false",
        "binary_crossentropy",
        "--report", str(tmp_path),
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"gbdt on {library}, 5 rounds" in out
    assert "5 boosting rounds of depth-4 trees" in " ".join(out.split())  # the legend wraps
    assert "skipped crossentropy:from_logits=false: categorical_crossentropy: the objective" in out
    assert "skipped binary_crossentropy: binary_crossentropy is an elementwise loss" in out
    results = json.loads((tmp_path / "results.json").read_text())
    rows = {r["loss"]: r for r in results["results"]}
    assert set(rows) == {"crossentropy", "multiclass_hinge"}
    assert rows["multiclass_hinge"]["objective"] == "hessian=constant, autodiff"
    assert rows["crossentropy"]["summary"]["accuracy"]["mean"] > 0.9
    runs = rows["crossentropy"]["clean"]["runs"]
    assert [run["seed"] for run in runs] == list(range(int(seeds)))
    assert rows["crossentropy"]["noisy"] is not None
    assert [s["loss"] for s in results["skipped"]] == [
        "crossentropy:from_logits=false",
        "binary_crossentropy",
    ]
    page = (tmp_path / "index.html").read_text()
    assert "<h2>Skipped</h2>" in page and "boosting objective" in page


@pytest.mark.slow
def test_catboost_multiclass_trains():
    pytest.importorskip("catboost")
    config = dataclasses.replace(SMALL, library="catboost", rounds=5)
    (row,) = _compare.run(config).rows
    assert row.clean.runs[0].scores.accuracy > 0.8
    binary = _compare.run(dataclasses.replace(config, dataset="breast_cancer"))
    assert not binary.rows and "a single margin" in binary.skipped[0][1]
    assert len(row.clean.train_loss) == 5 and row.clean.train_loss[-1] < row.clean.train_loss[0]


def test_network_mode_is_unchanged_by_default():
    config = _compare.Config()
    assert config.model == "mlp"
    assert _compare.total_steps(config) == len(config.losses) * config.epochs * 2
