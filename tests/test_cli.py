"""The ``losskit`` command: every subcommand end to end, run in-process through ``main([...])``,
and once through ``python -m losskit`` and the installed console script."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import losskit as lk
from losskit import _compare
from losskit.cli import Progress, main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``main(argv)``: exit status, stdout, stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code: int, err: str, *fragments: str) -> None:
    """Exit status 2, a one-line message naming ``fragments``, no traceback."""
    assert code == 2, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


# --------------------------------------------------------------------------- list and info
def test_list_prints_the_catalogue(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    header = out.splitlines()[0].split()
    assert header == ["name", "family", "kind", "task", "properties"]
    for name in lk.names():
        assert re.search(rf"^{name}\s", out, re.MULTILINE), name
    assert re.search(
        r"^binary_crossentropy\s+crossentropy\s+elementwise\s+binary\s+.*proper", out, re.M
    )


def test_list_filters_and_json(capsys):
    code, out, _ = run(capsys, "list", "--family", "robust", "--json")
    assert code == 0
    entries = json.loads(out)
    assert {e["family"] for e in entries} == {"robust"}
    assert "generalized_crossentropy" in {e["name"] for e in entries}
    assert run(capsys, "list", "--task", "regression")[1].count("regression") >= 5
    code, _, err = run(capsys, "list", "--family", "nonsense")
    assert_user_error(code, err, "families:")


def test_info_shows_formula_parameters_and_references(capsys):
    code, out, _ = run(capsys, "info", "bce")  # an alias
    assert code == 0
    assert out.startswith("binary_crossentropy\n")
    assert "aliases: bce" in out
    assert "from_logits = False" in out and "label_smoothing = 0.0" in out
    assert "Properties:" in out and "References:" in out
    assert ">>>" not in out  # doctest examples are left out
    # the docstring's reStructuredText is rendered as plain text: the formula on its own
    # indented line, no directive, role or double backquote left
    assert "\n    ℓ = " in out
    for raw in (".. math::", ":math:", ":func:", "``", "\\frac", "\\log"):
        assert raw not in out, raw


@pytest.mark.parametrize("name", ["huber", "dice", "info_nce", "lambda_loss", "dpo"])
def test_info_prints_no_raw_markup(capsys, name):
    code, out, _ = run(capsys, "info", name)
    assert code == 0
    for raw in (".. math::", ":math:`", ":func:`", "``", "\\begin", "\\frac"):
        assert raw not in out, raw


def test_info_unknown_name_suggests(capsys):
    code, out, err = run(capsys, "info", "focal")
    assert_user_error(code, err, "unknown loss 'focal'", "did you mean", "focal_loss")
    assert out == ""


def test_help_and_no_command(capsys):
    assert main(["--help"]) == 0
    assert "compare" in capsys.readouterr().out
    assert main([]) == 2
    assert "usage: losskit" in capsys.readouterr().err
    assert main(["compare", "--backend", "nope"]) == 2  # argparse choices


# ------------------------------------------------------------------------------------ eval
@pytest.fixture
def binary_files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1001).astype(np.float64)
    p = rng.uniform(0.001, 0.999, 1001)
    files = {"y": y, "p": p}
    paths = {}
    for key, values in files.items():
        np.save(tmp_path / f"{key}.npy", values)
        np.savetxt(tmp_path / f"{key}.csv", values, delimiter=",", header=key, comments="")
        paths[key + "_npy"], paths[key + "_csv"] = tmp_path / f"{key}.npy", tmp_path / f"{key}.csv"
    np.save(tmp_path / "p_short.npy", p[:-1])
    paths["p_short"] = tmp_path / "p_short.npy"
    return paths


def eval_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    code, out, err = run(capsys, "eval", "--json", "--no-progress", *argv)
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("kind", ["npy", "csv"])
@pytest.mark.parametrize("chunk", ["0", "1", "7", "1000", "5000"])
def test_eval_chunked_mean_equals_one_shot(capsys, binary_files, kind, chunk):
    y, p = np.load(binary_files["y_npy"]), np.load(binary_files["p_npy"])
    expected = float(lk.binary_crossentropy(y, p))
    files = ["--y-true", str(binary_files[f"y_{kind}"]), "--y-pred", str(binary_files[f"p_{kind}"])]
    result = eval_json(capsys, "--loss", "bce", *files, "--chunk-size", chunk)
    assert result["value"] == pytest.approx(expected, rel=1e-12)
    assert result["count"] == 1001
    total = eval_json(capsys, "--loss", "bce", *files, "--chunk-size", chunk, "--reduction", "sum")
    assert total["value"] == pytest.approx(float(lk.binary_crossentropy(y, p, reduction="sum")))


def test_eval_multiclass_csv_and_parameters(capsys, tmp_path):
    rng = np.random.default_rng(1)
    labels, logits = rng.integers(0, 5, 333), rng.normal(size=(333, 5))
    labels[::10] = -1
    np.save(tmp_path / "labels.npy", labels)
    np.savetxt(tmp_path / "logits.csv", logits, delimiter=",")
    params = {"from_logits": True, "label_smoothing": 0.1, "ignore_index": -1}
    expected = float(lk.sparse_categorical_crossentropy(labels, logits, **params))
    argv = ["--loss", "scce", "--y-true", str(tmp_path / "labels.npy")]
    argv += ["--y-pred", str(tmp_path / "logits.csv"), "--chunk-size", "16"]
    argv += [f"--param={k}={v}" for k, v in params.items()]
    result = eval_json(capsys, *argv)
    assert result["value"] == pytest.approx(expected, rel=1e-12)
    assert result["count"] == 333 - 34  # ignored labels leave the mean's denominator


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_eval_reduction_none_writes_every_value(capsys, binary_files, tmp_path, suffix):
    out_file = tmp_path / f"losses{suffix}"
    argv = ["eval", "--loss", "mse", "--y-true", str(binary_files["y_npy"])]
    argv += ["--y-pred", str(binary_files["p_npy"]), "--reduction", "none", "--chunk-size", "100"]
    code, out, err = run(capsys, *argv, "--output", str(out_file))
    assert code == 0, err
    written = np.load(out_file) if suffix == ".npy" else np.loadtxt(out_file, delimiter=",")
    y, p = np.load(binary_files["y_npy"]), np.load(binary_files["p_npy"])
    np.testing.assert_allclose(written, (p - y) ** 2, rtol=1e-15)
    assert "wrote 1001 values" in out


def test_eval_prints_a_progress_bar(capsys, binary_files):
    argv = ["eval", "--loss", "bce", "--y-true", str(binary_files["y_npy"])]
    code, out, err = run(
        capsys, *argv, "--y-pred", str(binary_files["p_npy"]), "--chunk-size", "100"
    )
    assert code == 0
    assert "binary_crossentropy (mean over 1001 values)" in out
    assert "eval [" in err and "1001/1001" in err


def test_eval_errors_a_user_can_act_on(capsys, binary_files, tmp_path):
    y, p, short = (str(binary_files[k]) for k in ("y_npy", "p_npy", "p_short"))
    code, _, err = run(capsys, "eval", "--loss", "bcee", "--y-true", y, "--y-pred", p)
    assert_user_error(code, err, "unknown loss 'bcee'", "did you mean", "'bce'")
    code, _, err = run(capsys, "eval", "--loss", "bce", "--y-true", y, "--y-pred", short)
    assert_user_error(code, err, "shape mismatch", "1001 rows", "1000")
    missing = str(tmp_path / "missing.npy")
    code, _, err = run(capsys, "eval", "--loss", "bce", "--y-true", y, "--y-pred", missing)
    assert_user_error(code, err, "not found", "missing.npy")
    code, _, err = run(capsys, "eval", "--loss", "bce", "--y-true", y, "--y-pred", "p.txt")
    assert_user_error(code, err, "unknown file type '.txt'")
    code, _, err = run(
        capsys, "eval", "--loss", "bce", "--y-true", y, "--y-pred", p, "--param", "gama=2"
    )
    assert_user_error(code, err, "no parameter 'gama'")
    code, _, err = run(
        capsys, "eval", "--loss", "bce", "--y-true", y, "--y-pred", p, "--reduction", "none"
    )
    assert_user_error(code, err, "--output")
    logits = tmp_path / "logits.npy"
    np.save(logits, np.full(1001, 3.0))
    code, _, err = run(capsys, "eval", "--loss", "bce", "--y-true", y, "--y-pred", str(logits))
    assert_user_error(code, err, "from_logits=True")


def test_eval_unreadable_files(capsys, binary_files, tmp_path):
    y = str(binary_files["y_npy"])
    pickled = tmp_path / "objects.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    code, _, err = run(capsys, "eval", "--loss", "mse", "--y-true", y, "--y-pred", str(pickled))
    assert_user_error(code, err, "objects.npy", "only numeric arrays")
    fake = tmp_path / "fake.npy"
    fake.write_bytes(b"not numpy")
    code, _, err = run(capsys, "eval", "--loss", "mse", "--y-true", y, "--y-pred", str(fake))
    assert_user_error(code, err, "not a .npy file")
    bad = tmp_path / "bad.csv"
    bad.write_text("1.0\n" * 1000 + "x\n")
    code, _, err = run(capsys, "eval", "--loss", "mse", "--y-true", y, "--y-pred", str(bad))
    assert_user_error(code, err, "bad.csv", "could not convert string 'x'", "line 1001")


def bce_closed_form(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return -(y * np.log(p) + (1.0 - y) * np.log1p(-p))


def bce_from_logits_closed_form(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    return y * np.logaddexp(0.0, -z) + (1.0 - y) * np.logaddexp(0.0, z)


@pytest.mark.parametrize("text", ["false", "False", "FALSE", "0", "true", "True", "1"])
def test_eval_boolean_parameters_take_true_false_1_0_in_any_case(capsys, binary_files, text):
    y, p = np.load(binary_files["y_npy"]), np.load(binary_files["p_npy"])
    files = ["--y-true", str(binary_files["y_npy"]), "--y-pred", str(binary_files["p_npy"])]
    result = eval_json(capsys, "--loss", "bce", *files, "--param", f"from_logits={text}")
    logits = text.lower() in ("true", "1")
    losses = bce_from_logits_closed_form(y, p) if logits else bce_closed_form(y, p)
    assert result["value"] == pytest.approx(np.mean(losses), rel=1e-12)


@pytest.mark.parametrize("text", ["no", "maybe", "2", "yes", "", "None", "[]"])
def test_eval_refuses_a_boolean_parameter_that_is_not_a_boolean(capsys, binary_files, text):
    files = ["--y-true", str(binary_files["y_npy"]), "--y-pred", str(binary_files["p_npy"])]
    code, out, err = run(
        capsys, "eval", "--loss", "bce", *files, "--param", f"from_logits={text}", "--no-progress"
    )
    assert_user_error(code, err, "from_logits is a boolean parameter", "true, false, 1 or 0")
    assert out == "" and len(err.strip().splitlines()) == 1


def test_eval_boolean_parameters_are_read_from_the_signature(capsys, tmp_path):
    rng = np.random.default_rng(3)
    y, z = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "z.npy", z)
    files = ["--y-true", str(tmp_path / "y.npy"), "--y-pred", str(tmp_path / "z.npy")]
    code, _, err = run(capsys, "eval", "--loss", "mse", *files, "--param", "from_logits=false")
    assert_user_error(code, err, "no parameter 'from_logits'")
    code, _, err = run(
        capsys, "eval", "--loss", "kl_divergence", *files, "--param", "log_target=nope"
    )
    assert_user_error(code, err, "log_target is a boolean parameter")


def test_eval_takes_from_logits_as_check_does(capsys, binary_files):
    y, z = np.load(binary_files["y_npy"]), np.load(binary_files["p_npy"])
    files = ["--y-true", str(binary_files["y_npy"]), "--y-pred", str(binary_files["p_npy"])]
    flag = eval_json(capsys, "--loss", "bce", *files, "--from-logits")
    param = eval_json(capsys, "--loss", "bce", *files, "--param", "from_logits=true")
    expected = np.mean(bce_from_logits_closed_form(y, z))
    assert flag["value"] == pytest.approx(expected, rel=1e-12)
    assert param["value"] == flag["value"]
    both = ["--from-logits", "--param", "from_logits=false", "--no-progress"]
    code, _, err = run(capsys, "eval", "--loss", "bce", *files, *both)
    assert_user_error(code, err, "--from-logits contradicts --param from_logits=false")
    code, _, err = run(capsys, "eval", "--loss", "mse", *files, "--from-logits", "--no-progress")
    assert_user_error(code, err, "--from-logits", "no parameter 'from_logits'")


def test_an_unknown_option_prints_the_subcommands_usage(capsys):
    code = main(["eval", "--loss", "bce", "--y-true", "y.npy", "--y-pred", "p.npy", "--bogus"])
    err = capsys.readouterr().err
    assert code == 2
    assert "usage: losskit eval" in err and "--from-logits" in err
    assert "losskit eval: error: unrecognized arguments: --bogus" in err
    assert main(["check", "bce", "--frm-logits"]) == 2
    assert "usage: losskit check" in capsys.readouterr().err
    assert main(["--bogus"]) == 2  # before a command: the top-level usage
    assert "usage: losskit [-h]" in capsys.readouterr().err


def test_info_suggests_names_that_contain_the_word_first(capsys):
    code, _, err = run(capsys, "info", "focal")
    assert code == 2
    suggested = re.findall(r"'(\w+)'", err.split("did you mean", 1)[1])
    assert suggested[0] == "focal_loss"
    assert {lk.info(name).name for name in suggested} >= {
        "binary_focal_crossentropy",
        "categorical_focal_crossentropy",
        "sparse_categorical_focal_crossentropy",
    }
    assert all("focal" in name for name in suggested)  # no "asl"


def test_eval_output_that_is_an_input_is_refused_and_the_input_kept(capsys, binary_files):
    for kind in ("npy", "csv"):
        target = binary_files[f"p_{kind}"]
        before = target.read_bytes()
        argv = ["eval", "--loss", "bce", "--y-true", str(binary_files[f"y_{kind}"])]
        argv += ["--y-pred", str(target), "--reduction", "none", "--chunk-size", "100"]
        code, _, err = run(capsys, *argv, "--output", str(target), "--no-progress")
        assert_user_error(code, err, "--output", "is the input file", target.name)
        assert target.read_bytes() == before
        code, _, err = run(
            capsys, *argv, "--output", str(target.parent / "." / target.name), "--no-progress"
        )
        assert_user_error(code, err, "is the input file")
        assert target.read_bytes() == before


def test_eval_output_is_replaced_only_when_every_value_is_written(capsys, binary_files, tmp_path):
    p = np.load(binary_files["p_npy"])
    p[700] = np.nan
    folder = tmp_path / "run"
    folder.mkdir()
    np.save(folder / "poisoned.npy", p)
    output = folder / "losses.npy"
    np.save(output, np.arange(3.0))
    argv = ["eval", "--loss", "bce", "--y-true", str(binary_files["y_npy"]), "--no-progress"]
    argv += ["--reduction", "none", "--chunk-size", "100", "--output", str(output)]
    code, _, err = run(capsys, *argv, "--y-pred", str(folder / "poisoned.npy"))
    assert_user_error(code, err, "poisoned.npy, row 700", "NaN")
    np.testing.assert_array_equal(np.load(output), np.arange(3.0))
    code, _, err = run(capsys, *argv, "--y-pred", str(binary_files["p_npy"]))
    assert code == 0, err
    y, p = np.load(binary_files["y_npy"]), np.load(binary_files["p_npy"])
    np.testing.assert_allclose(np.load(output), bce_closed_form(y, p), rtol=1e-12)
    assert sorted(f.name for f in folder.iterdir()) == ["losses.npy", "poisoned.npy"]


def test_eval_csv_comment_lines_are_skipped(capsys, binary_files, tmp_path):
    y, p = np.load(binary_files["y_npy"]), np.load(binary_files["p_npy"])
    lines = [repr(float(v)) for v in p]
    text = ["# predictions of run 7", "p", *lines[:500], "# second half", *lines[500:], "# end"]
    (tmp_path / "p.csv").write_text("\n".join(text) + "\n")
    out_file = tmp_path / "losses.csv"
    argv = ["eval", "--loss", "bce", "--y-true", str(binary_files["y_npy"]), "--no-progress"]
    argv += ["--y-pred", str(tmp_path / "p.csv"), "--reduction", "none", "--chunk-size", "64"]
    code, out, err = run(capsys, *argv, "--output", str(out_file))
    assert code == 0, err
    np.testing.assert_allclose(
        np.loadtxt(out_file, delimiter=","), bce_closed_form(y, p), rtol=1e-12
    )
    assert "wrote 1001 values" in out


def test_eval_csv_blank_ragged_and_nan_lines_are_named(capsys, binary_files, tmp_path):
    lines = [repr(float(v)) for v in np.load(binary_files["p_npy"])]
    y = ["--loss", "bce", "--y-true", str(binary_files["y_npy"]), "--no-progress"]
    cases = {
        "blank.csv": (["p", *lines[:300], "", *lines[300:]], ("blank.csv, line 302", "blank")),
        "ragged.csv": (
            [*lines[:400], "0.5,0.25", *lines[401:]],
            ("ragged.csv, line 401", "2 columns", "first row (line 1) has 1"),
        ),
        "nan.csv": (
            ["p", *lines[:600], "nan", *lines[601:]],
            ("nan.csv, row 600", "line 602", "NaN"),
        ),
    }
    for name, (text, fragments) in cases.items():
        (tmp_path / name).write_text("\n".join(text) + "\n")
        code, _, err = run(
            capsys, "eval", *y, "--y-pred", str(tmp_path / name), "--chunk-size", "64"
        )
        assert_user_error(code, err, *fragments)
        assert len(err.strip().splitlines()) == 1
    (tmp_path / "trailing.csv").write_text("\n".join(lines) + "\n\n\n")
    result = eval_json(capsys, *y[:-1], "--y-pred", str(tmp_path / "trailing.csv"))
    assert result["count"] == 1001


def test_eval_nan_in_a_npy_file_names_its_row(capsys, binary_files, tmp_path):
    y = np.load(binary_files["y_npy"])
    y[123] = np.nan
    np.save(tmp_path / "y_nan.npy", y)
    argv = ["eval", "--loss", "bce", "--y-true", str(tmp_path / "y_nan.npy"), "--no-progress"]
    code, _, err = run(capsys, *argv, "--y-pred", str(binary_files["p_npy"]), "--chunk-size", "50")
    assert_user_error(code, err, "y_nan.npy, row 123", "NaN")


def test_eval_a_directory_is_not_reported_as_missing(capsys, binary_files, tmp_path):
    (tmp_path / "preds.npy").mkdir()
    argv = ["eval", "--loss", "bce", "--y-true", str(binary_files["y_npy"])]
    code, _, err = run(capsys, *argv, "--y-pred", str(tmp_path / "preds.npy"))
    assert_user_error(code, err, "preds.npy is a directory")
    assert "not found" not in err
    code, _, err = run(capsys, *argv, "--y-pred", str(tmp_path))
    assert_user_error(code, err, "is a directory")


def test_eval_output_needs_reduction_none(capsys, binary_files, tmp_path):
    argv = ["eval", "--loss", "bce", "--y-true", str(binary_files["y_npy"])]
    argv += ["--y-pred", str(binary_files["p_npy"]), "--output", str(tmp_path / "o.npy")]
    for reduction in ("mean", "sum"):
        code, out, err = run(capsys, *argv, "--reduction", reduction)
        assert_user_error(code, err, "--output", "--reduction none")
        assert out == ""
    assert not (tmp_path / "o.npy").exists()


def test_eval_bad_output_directory_is_reported_before_reading_the_inputs(
    capsys, binary_files, tmp_path, monkeypatch
):
    from losskit import cli

    def unreachable(*args, **kwargs):
        raise AssertionError("the inputs were read before the output was checked")

    monkeypatch.setattr(cli, "open_array", unreachable)
    argv = ["eval", "--loss", "bce", "--y-true", str(binary_files["y_npy"]), "--no-progress"]
    argv += ["--y-pred", str(binary_files["p_npy"]), "--reduction", "none", "--output"]
    outputs = {
        str(tmp_path / "missing" / "o.npy"): ("directory", "does not exist"),
        str(binary_files["y_csv"] / "o.npy"): ("does not exist",),
        str(tmp_path): ("is a directory",),
        str(tmp_path / "o.txt"): (".npy or .csv",),
    }
    for output, fragments in outputs.items():
        code, out, err = run(capsys, *argv, output)
        assert_user_error(code, err, "--output", *fragments)
        assert out == "" and len(err.strip().splitlines()) == 1


def test_eval_parquet(capsys, binary_files, tmp_path):
    path = tmp_path / "p.parquet"
    argv = ["--loss", "bce", "--y-true", str(binary_files["y_npy"]), "--y-pred", str(path)]
    if importlib.util.find_spec("pyarrow") is None:
        path.write_bytes(b"")
        code, _, err = run(capsys, "eval", *argv)
        assert code == 1 and "pip install pyarrow" in err
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = np.load(binary_files["p_npy"])
    pq.write_table(pa.table({"p": p}), path, row_group_size=100)
    result = eval_json(capsys, *argv, "--chunk-size", "64")
    assert result["value"] == pytest.approx(
        float(lk.binary_crossentropy(np.load(binary_files["y_npy"]), p))
    )


def test_progress_bar_off_a_terminal_prints_quarters():
    stream = io.StringIO()
    progress = Progress(8, "work", stream=stream)
    for _ in range(8):
        progress.advance(1, "step")
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("work [" + "#" * 30 + "] 8/8")


# --------------------------------------------------------------------------------- compare
TINY = [
    "compare", "--epochs", "2", "--seeds", "1", "--losses", "crossentropy", "gce:q=0.5",
    "--no-progress",
]  # fmt: skip


def table_of(out: str) -> list[list[str]]:
    """The compare table's header and rows, split on runs of 2+ spaces."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("loss "))
    end = next(i for i in range(start + 2, len(lines)) if lines[i].startswith("-"))  # the rule
    rows = [lines[start], *lines[start + 2 : end]]
    return [re.split(r"\s{2,}", row.strip()) for row in rows]


def test_compare_table_and_html_report(capsys, tmp_path):
    code, out, err = run(capsys, *TINY, "--report", str(tmp_path / "report"))
    assert code == 0, err
    header, *rows = table_of(out)
    assert header == [
        "loss",
        "accuracy %",
        "log-loss",
        "ECE %",
        "acc. 30% noise %",
        "drop (pp)",
        "time (s)",
    ]
    assert [r[0] for r in rows] == ["crossentropy", "gce:q=0.5"]
    for row in rows:
        accuracy, log_loss, ece, noisy, drop = (float(v) for v in row[1:6])
        assert 50 < accuracy <= 100 and log_loss > 0 and 0 <= ece <= 100
        assert drop == pytest.approx(accuracy - noisy, abs=0.11)
    index = tmp_path / "report" / "index.html"
    assert f"HTML report: {index}" in out
    page = index.read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert "curves.png" in images and len(images) == 3  # curves + one reliability per loss
    for name in images:
        data = (tmp_path / "report" / name).read_bytes()
        assert data.startswith(b"\x89PNG")
    assert "gce:q=0.5" in page and "ECE" in page
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    assert results["results"][1]["name"] == "generalized_crossentropy"
    assert results["results"][1]["params"]["q"] == 0.5


def test_compare_is_deterministic(capsys):
    argv = [*TINY, "--imbalance", "3", "--seed", "3"]
    first, second = (table_of(run(capsys, *argv)[1]) for _ in range(2))
    assert [r[:-1] for r in first] == [r[:-1] for r in second]  # all but the time column


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_compare_backends_agree_with_torch(backend):
    pytest.importorskip("torch")
    pytest.importorskip(backend)
    config = _compare.Config(
        losses=("scce", "brier", "arcface"), epochs=2, noise=0.0, model="linear", seeds=2
    )
    reference = _compare.run(config)
    other = _compare.run(dataclasses.replace(config, backend=backend))
    assert reference.backend == "torch" and other.backend == backend
    for a, b in zip(reference.rows, other.rows, strict=True):
        np.testing.assert_allclose(a.clean.train_loss, b.clean.train_loss, rtol=1e-4)
        log_losses = a.clean.values("log_loss"), b.clean.values("log_loss")
        np.testing.assert_allclose(*log_losses, rtol=1e-4)


def test_compare_without_noise_has_no_robustness_columns(capsys):
    code, out, _ = run(capsys, *TINY, "--noise", "0", "--model", "linear")
    assert code == 0
    assert table_of(out)[0] == ["loss", "accuracy %", "log-loss", "ECE %", "time (s)"]


def test_compare_rejects_bad_losses(capsys):
    code, _, err = run(capsys, "compare", "--losses", "crossentropy", "focl", "--epochs", "1")
    assert_user_error(code, err, "unknown loss 'focl'", "did you mean")
    code, _, err = run(capsys, "compare", "--losses", "mse", "--epochs", "1")
    assert_user_error(code, err, "regression loss", "classification loss")
    code, _, err = run(capsys, "compare", "--losses", "gce:qq=1", "--epochs", "1")
    assert_user_error(code, err, "no parameter 'qq'", "'q'")
    code, _, err = run(capsys, "compare", "--noise", "1.5")
    assert_user_error(code, err, "--noise")


def test_compare_boolean_parameters_are_parsed_strictly():
    for text in ("false", "FALSE", "0"):
        spec = _compare.parse_loss(f"crossentropy:from_logits={text}")
        assert spec.params["from_logits"] is False and spec.inputs == "probabilities"
    for text in ("True", "1"):
        spec = _compare.parse_loss(f"crossentropy:from_logits={text},label_smoothing=0.1")
        assert spec.params == {"from_logits": True, "label_smoothing": 0.1}
        assert spec.inputs == "logits"
    for text in ("no", "maybe", "2", "yes"):
        with pytest.raises(_compare.CompareError, match="from_logits is a boolean parameter"):
            _compare.parse_loss(f"crossentropy:from_logits={text}")


def test_compare_refuses_a_boolean_parameter_that_is_not_a_boolean(capsys):
    argv = ["compare", "--epochs", "1", "--losses", "crossentropy:from_logits=maybe"]
    code, _, err = run(capsys, *argv)
    assert_user_error(code, err, "crossentropy:from_logits=maybe", "from_logits is a boolean")
    assert len(err.strip().splitlines()) == 1


def test_compare_data_noise_and_imbalance():
    data = _compare.load_data("digits", seed=0, imbalance=10.0)
    counts = np.bincount(data.y_train)
    assert counts.max() / counts.min() == pytest.approx(10, rel=0.1)
    balanced = _compare.load_data("digits", seed=0)
    np.testing.assert_array_equal(data.y_test, balanced.y_test)  # the test set is untouched
    noisy = _compare.flip_labels(data.y_train, 0.3, 10, seed=0)
    changed = noisy != data.y_train
    assert changed.sum() == round(0.3 * len(noisy))
    assert noisy.min() >= 0 and noisy.max() <= 9


def test_compare_metrics():
    logits = np.log(np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.3, 0.7]]))
    labels = np.array([0, 1, 1, 1])
    scores = _compare.score(logits, labels)
    assert scores.accuracy == 0.75
    expected = -np.mean(np.log([0.9, 0.4, 0.8, 0.7]))
    assert scores.log_loss == pytest.approx(expected)
    # bins (lo, hi] of width 1/15: 0.9 → bin 13, 0.6 → 8, 0.8 → 11, 0.7 → 10, one sample each
    assert scores.ece == pytest.approx((0.1 + 0.6 + 0.2 + 0.3) / 4)
    assert sum(scores.reliability.count) == 4


# ---------------------------------------------------------------------- check and plot (API)
class FakeReport:
    def __str__(self) -> str:
        return "proper: pass"

    def to_markdown(self) -> str:
        return "| property | verdict |"

    def to_html(self, directory: str) -> str:
        path = Path(directory) / "index.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("<html></html>")
        return str(path)


def test_check_calls_the_checker_api(capsys, tmp_path, monkeypatch):
    calls = []

    def fake_check(loss, *, task, from_logits=False, backend="auto", seed=0):
        calls.append((loss, task, from_logits, backend, seed))
        return FakeReport()

    monkeypatch.setattr(lk, "check", fake_check)
    module = tmp_path / "my_losses.py"
    module.write_text("def my_loss(y_true, y_pred):\n    return ((y_true - y_pred) ** 2).mean()\n")
    argv = ["check", f"{module}:my_loss", "--task", "regression", "--report", str(tmp_path / "r")]
    code, out, err = run(capsys, *argv, "--markdown", str(tmp_path / "r.md"), "--seed", "3")
    assert code == 0, err
    assert calls[0][0].__name__ == "my_loss" and calls[0][1:] == ("regression", False, "auto", 3)
    assert "proper: pass" in out and (tmp_path / "r" / "index.html").exists()
    assert (tmp_path / "r.md").read_text().startswith("| property")
    code, out, _ = run(capsys, "check", "focal_loss", "--from-logits")  # registered: task known
    assert code == 0 and calls[1][0] is lk.binary_focal_crossentropy
    assert calls[1][1:3] == ("binary", True)


def test_check_errors(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "check", "no_such_module:f", "--task", "binary")
    assert_user_error(code, err, "cannot import module 'no_such_module'")
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    code, _, err = run(capsys, "check", "broken:f", "--task", "binary")
    assert_user_error(code, err, "importing 'broken' failed", "RuntimeError: boom")
    (tmp_path / "fine.py").write_text("def my_loss(y_true, y_pred):\n    return 0.0\n")
    code, _, err = run(capsys, "check", "fine:my_los", "--task", "binary")
    assert_user_error(code, err, "no attribute 'my_los'", "my_loss")
    code, _, err = run(capsys, "check", "fine:my_loss")
    assert_user_error(code, err, "--task")
    code, _, err = run(capsys, "check", "binary_crossentropyy")
    assert_user_error(code, err, "did you mean")


def test_report_paths_are_checked_before_the_work(capsys, tmp_path, monkeypatch):
    def unreachable(*args, **kwargs):
        raise AssertionError("the work ran before the output path was checked")

    monkeypatch.setattr(lk, "check", unreachable)
    monkeypatch.setattr(_compare, "run", unreachable)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    calls = {
        ("check", "mse", "--report", str(a_file / "report")): "cannot create the directory",
        ("check", "mse", "--report", str(a_file)): "is a file",
        ("check", "mse", "--markdown", str(tmp_path / "missing" / "r.md")): "does not exist",
        ("check", "mse", "--markdown", str(tmp_path)): "is a directory",
        (*TINY, "--report", str(a_file / "report")): "cannot create the directory",
        ("plot", "bce", "-o", str(tmp_path / "missing" / "bce.png")): "does not exist",
    }
    if Path("/proc").is_dir():
        calls["check", "mse", "--report", "/proc/nope"] = "cannot create the directory"
    for argv, fragment in calls.items():
        code, out, err = run(capsys, *argv)
        assert_user_error(code, err, fragment)
        assert len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in out


def test_report_write_errors_are_one_line(capsys, tmp_path, monkeypatch):
    def full_disk(self, directory):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(lk, "check", lambda *args, **kwargs: FakeReport())
    monkeypatch.setattr(FakeReport, "to_html", full_disk)
    code, _, err = run(capsys, "check", "mse", "--report", str(tmp_path / "r"))
    assert_user_error(code, err, "cannot write the report", "No space left on device")


def test_plot_calls_the_plot_api(capsys, tmp_path, monkeypatch):
    calls = []

    class Figure:
        def savefig(self, path):
            Path(path).write_bytes(b"\x89PNG")

    def plot_loss(names_or_losses, *, task, grad=False, path=None):
        calls.append((names_or_losses, task, grad, path))
        return Figure()

    fake = types.ModuleType("losskit.plots")
    fake.plot_loss = plot_loss  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "losskit.plots", fake)
    monkeypatch.setattr(lk, "plots", fake, raising=False)
    target = tmp_path / "curves.png"
    code, out, err = run(capsys, "plot", "bce", "focal_loss", "--grad", "-o", str(target))
    assert code == 0, err
    assert calls == [
        (["binary_crossentropy", "binary_focal_crossentropy"], "binary", True, str(target))
    ]
    assert target.exists() and f"wrote {target}" in out
    code, _, err = run(capsys, "plot", "bce", "mse")
    assert_user_error(code, err, "different tasks", "--task")
    code, _, err = run(capsys, "plot", "bcee")
    assert_user_error(code, err, "did you mean")


# End to end with the real checker and plots.
def test_check_end_to_end_with_the_real_checker(capsys, tmp_path):
    code, out, err = run(capsys, "check", "mse", "--report", str(tmp_path / "report"))
    assert code == 0, err
    assert "elicits" in out
    page = (tmp_path / "report" / "index.html").read_text()
    for name in re.findall(r'<img src="([^"]+)"', page):
        assert (tmp_path / "report" / name).exists()


NUMPY_LOSS = """import numpy as np


def mape(y_true, y_pred):
    return np.mean(np.abs((y_true - y_pred) / y_true))
"""


def test_check_and_plot_of_a_numpy_function_stay_on_numpy(tmp_path):
    """In a fresh process: no framework imported, no warning, facts as yes/no."""
    pytest.importorskip("matplotlib")
    (tmp_path / "numpy_loss.py").write_text(NUMPY_LOSS)
    probe = (
        "import sys\n"
        "from losskit.cli import main\n"
        "codes = [main(['check', 'numpy_loss:mape', '--task', 'regression']),\n"
        "         main(['plot', 'numpy_loss:mape', '--task', 'regression', '--grad'])]\n"
        "print('codes', *codes)\n"
        "print('frameworks', *sorted(set(sys.modules) & {'torch', 'jax', 'tensorflow'}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "codes 0 0" in lines and "frameworks" in lines, done.stdout
    assert "backend numpy" in done.stdout and "backend jax" not in done.stdout
    rows = {
        line.split()[0]: line.split()[1] for line in lines if line[:1].isalpha() and "  " in line
    }
    assert rows["bounded"] == "no" and rows["finite"] == "fail" and rows["nonnegative"] == "yes"
    assert "1/y-weighted median" in done.stdout
    assert done.stderr == ""


def test_plot_end_to_end_with_the_real_plots(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "bce.png"
    code, _, err = run(capsys, "plot", "bce", "--grad", "-o", str(target))
    assert code == 0, err
    assert target.read_bytes().startswith(b"\x89PNG")


# ----------------------------------------------------------------------------- subprocesses
def test_python_dash_m_and_the_console_script(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "losskit", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and "usage: losskit" in result.stdout
    script = Path(sys.executable).parent / "losskit"
    if not script.exists():
        pytest.skip("the losskit console script is not installed (pip install -e .)")
    result = subprocess.run(
        [str(script), "info", "nope"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and "unknown loss 'nope'" in result.stderr
    assert "Traceback" not in result.stderr
    result = subprocess.run([str(script), "list"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "binary_crossentropy" in result.stdout
