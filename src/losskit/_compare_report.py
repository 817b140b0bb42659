"""The HTML report of ``losskit compare``: the tables, training curves (mean ± standard
deviation over seeds) and reliability diagrams (every seed's test predictions pooled), with
``results.json`` beside them."""

from __future__ import annotations

import html
import importlib.util
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ._compare import (
    ECE_BINS,
    CompareError,
    Comparison,
    Reliability,
    Row,
    Trial,
    format_cell,
    legend,
    slug,
    table_rows,
    to_json,
)


def write_report(comparison: Comparison, directory: str | Path) -> Path:
    """Write ``index.html``, ``curves.png``, one reliability PNG per loss and ``results.json``
    into ``directory``; return the path of ``index.html``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    images = [_plot_curves(plt, comparison, out / "curves.png")]
    for i, row in enumerate(comparison.rows):
        path = out / f"reliability_{i}_{slug(row.spec.label)}.png"
        images.append(_plot_reliability(plt, row, path))
    (out / "results.json").write_text(json.dumps(to_json(comparison), indent=2), encoding="utf-8")
    index = out / "index.html"
    index.write_text(_html(comparison, [p.name for p in images]), encoding="utf-8")
    return index


def _pyplot() -> Any:
    if importlib.util.find_spec("matplotlib") is None:
        raise CompareError("the HTML report draws with matplotlib: pip install matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_curves(plt: Any, comparison: Comparison, path: Path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2), layout="constrained")
    several = len(comparison.seeds) > 1
    titles = (
        "training loss (relative to epoch 1)",
        "test accuracy" + (" (mean ± std over seeds)" if several else ""),
        "test log-loss" + (" (mean ± std over seeds)" if several else ""),
    )
    config = comparison.config
    epochs = np.arange(1, (config.rounds if config.model == "gbdt" else config.epochs) + 1)
    for i, row in enumerate(comparison.rows):
        color = f"C{i % 10}"
        for trial, style in ((row.clean, "-"), (row.noisy, "--")):
            if trial is None:
                continue
            label = row.spec.label + (" (noisy)" if style == "--" else "")
            first = trial.train_loss[0] if trial.train_loss[0] != 0 else 1.0
            axes[0].plot(epochs, np.asarray(trial.train_loss) / first, style, color=color)
            for ax, key in ((axes[1], "test_accuracy"), (axes[2], "test_log_loss")):
                curves = np.array([getattr(run, key) for run in trial.runs])
                mean = curves.mean(axis=0)
                ax.plot(epochs, mean, style, color=color, label=label)
                if several:
                    std = curves.std(axis=0, ddof=1)
                    ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.12)
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title)
        ax.set_xlabel("boosting round" if config.model == "gbdt" else "epoch")
        ax.grid(alpha=0.3)
    fig.legend(*axes[1].get_legend_handles_labels(), loc="outside right upper", fontsize=7)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def pooled_reliability(trial: Trial) -> Reliability:
    """The reliability table of every seed's test predictions together: counts added, bin
    confidence and accuracy weighted by the counts."""
    count = np.sum([run.scores.reliability.count for run in trial.runs], axis=0)
    safe = np.maximum(count, 1)

    def pooled(key: str) -> list[float]:
        weighted = [
            np.asarray(getattr(run.scores.reliability, key)) * run.scores.reliability.count
            for run in trial.runs
        ]
        return (np.sum(weighted, axis=0) / safe).tolist()

    return Reliability(pooled("confidence"), pooled("accuracy"), count.tolist())


def _plot_reliability(plt: Any, row: Row, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(3.6, 3.6))
    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    table = pooled_reliability(row.clean)
    filled = np.asarray(table.count) > 0
    ax.bar(
        edges[:-1][filled],
        np.asarray(table.accuracy)[filled],
        width=1.0 / ECE_BINS,
        align="edge",
        edgecolor="k",
        alpha=0.6,
        label="clean labels",
    )
    if row.noisy is not None:
        noisy = pooled_reliability(row.noisy)
        used = np.asarray(noisy.count) > 0
        ax.plot(
            np.asarray(noisy.confidence)[used],
            np.asarray(noisy.accuracy)[used],
            "o--",
            color="C3",
            label="noisy labels",
        )
    ax.plot([0, 1], [0, 1], ":", color="gray")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy")
    ax.set_title(f"{row.spec.label}\nECE {format_cell(row, 'ece')} %", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


#: Settings that only one kind of model uses (left out of the other's report).
GBDT_ONLY = ("library", "rounds", "hessian")
NETWORK_ONLY = ("hidden", "epochs", "batch_size", "learning_rate")


def _html(comparison: Comparison, images: list[str]) -> str:
    config = comparison.config
    header, cells = table_rows(comparison)
    unused = GBDT_ONLY if config.model != "gbdt" else NETWORK_ONLY
    settings = ", ".join(
        f"{k}={v}"
        for k, v in asdict(config).items()
        if k not in ("losses", "families", "backend", *unused)
    )
    figures = "\n".join(
        f'<figure><img src="{html.escape(name)}" alt="{html.escape(name)}"></figure>'
        for name in images[1:]
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>losskit compare</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td:first-child{{text-align:left}}figure{{display:inline-block;margin:4px}}</style></head>
<body><h1>losskit compare</h1>
<p>{html.escape(comparison.data.summary())}; backend {html.escape(comparison.backend)};
{html.escape(settings)}.</p>
{_html_table(header, cells)}
<p>{html.escape(legend(comparison))}</p>
{_noisy_table(comparison)}
{_skipped_list(comparison)}
<h2>How each loss was called</h2>
{_calls_table(comparison)}
<h2>Training curves</h2>
<p>Solid: clean labels; dashed: noisy labels.</p>
<img src="{html.escape(images[0])}" alt="training curves" style="max-width:100%">
<h2>Reliability diagrams</h2>
<p>Accuracy against confidence in {ECE_BINS} bins, the test predictions of every seed
pooled; a calibrated model follows the diagonal.</p>
{figures}
<p>Data: <a href="results.json">results.json</a>.</p>
</body></html>
"""


def _html_table(header: Sequence[str], cells: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in line) + "</tr>\n" for line in cells
    )
    return f"<table><tr>{head}</tr>\n{body}</table>"


def _noisy_table(comparison: Comparison) -> str:
    noisy = [row for row in comparison.rows if row.noisy is not None]
    if not noisy:
        return ""
    cells = []
    for row in noisy:
        assert row.noisy is not None
        as_clean = Row(row.spec, row.noisy, None)  # the noisy trial summarised as a clean one
        metrics = ("accuracy", "log_loss", "ece")
        cells.append([row.spec.label, *(format_cell(as_clean, m) for m in metrics)])
    title = f"<h2>Trained with {comparison.config.noise:.0%} label noise</h2>"
    return title + _html_table(["loss", "accuracy %", "log-loss", "ECE %"], cells)


def _skipped_list(comparison: Comparison) -> str:
    if not comparison.skipped:
        return ""
    items = "".join(
        f"<li><b>{html.escape(label)}</b>: {html.escape(reason)}</li>"
        for label, reason in comparison.skipped
    )
    return f"<h2>Skipped</h2><ul>{items}</ul>"


def _calls_table(comparison: Comparison) -> str:
    if comparison.config.model == "gbdt":
        cells = [
            [
                row.spec.label,
                row.spec.name,
                ", ".join(f"{k}={v!r}" for k, v in row.spec.params.items()) or "—",
                row.objective,
            ]
            for row in comparison.rows
        ]
        return _html_table(["loss", "function", "parameters", "boosting objective"], cells)
    cells = [
        [
            row.spec.label,
            row.spec.name,
            ", ".join(f"{k}={v!r}" for k, v in row.spec.params.items()) or "—",
            "class indices" if row.spec.target == "index" else "one-hot",
            "embeddings (last layer: the loss's class centres)"
            if row.spec.centres
            else row.spec.inputs,
        ]
        for row in comparison.rows
    ]
    return _html_table(["loss", "function", "parameters", "targets", "network outputs as"], cells)
