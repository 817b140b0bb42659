"""Figures drawn from the checker's data (matplotlib, Agg canvas, no pyplot state).

matplotlib is imported inside the functions: importing losskit never imports it. Each builder
takes ``{label: data}`` (one entry per loss) and returns a ``matplotlib.figure.Figure``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._problem import logit
from ._report import format_number

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ._report import Report

#: η values drawn in the expected-loss plot (they lie on the checker's η grid)
ETAS = (0.1, 0.3, 0.5, 0.7, 0.9)


def new_figure(rows: int, cols: int, *, width: float = 4.2, height: float = 3.2) -> tuple[Any, Any]:
    """A Figure on an Agg canvas and its ``(rows, cols)`` array of axes."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - matplotlib is an optional dependency
        raise ImportError("losskit plots need matplotlib: pip install 'losskit[plot]'") from error
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def save(fig: Figure, path: str | Path | None) -> None:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)


def _limits(ax: Axes, values: list[np.ndarray]) -> None:
    """y-limits from the bulk of the finite values (clamped edges such as 100 stay off)."""
    parts = [v[np.isfinite(v)] for v in values if v.size]
    finite = np.concatenate(parts) if parts else np.zeros(0)
    if len(finite) == 0:
        return
    lo, hi = np.quantile(finite, [0.0, 0.97])
    if hi <= lo:
        hi = lo + 1.0
    pad = 0.05 * (hi - lo)
    ax.set_ylim(lo - pad, hi + pad)


# ---------------------------------------------------------------------- loss and gradient
def _domain_groups(data: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The losses grouped by the axis their curves are drawn on (probabilities, logits, scores
    or margins, ...), in the order first seen: each group gets its own row of panels."""
    groups: dict[str, dict[str, Any]] = {}
    for label, curves in data.items():
        groups.setdefault(curves.get("xlabel", "y_pred"), {})[label] = curves
    return list(groups.items())


def _targets(members: dict[str, Any]) -> list[str]:
    targets: list[str] = []
    for curves in members.values():
        targets += [t for t in curves.get("curves", {}) if t not in targets]
    return targets


def _gradient_limits(lines: list[np.ndarray]) -> tuple[float, float] | None:
    """One y-range for every gradient panel of a row: the bulk of the finite values (2% cut at
    each end, where a gradient runs off to infinity at a domain edge), symmetric about 0 when
    the gradients take both signs."""
    parts = [v[np.isfinite(v)] for v in lines if v.size]
    finite = np.concatenate(parts) if parts else np.zeros(0)
    if len(finite) == 0:
        return None
    lo, hi = (float(q) for q in np.quantile(finite, [0.02, 0.98]))
    if lo < 0 < hi:
        lo, hi = -max(-lo, hi), max(-lo, hi)
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def _flat_note(members: dict[str, Any], target: str) -> str:
    """A note for the losses whose curve is constant at ``target`` (no gradient there)."""
    flat = []
    for label, curves in members.items():
        values = np.asarray(curves.get("curves", {}).get(target, ([], []))[0], dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size and np.ptp(values) <= 1e-9 * max(1.0, float(np.max(np.abs(values)))):
            flat.append(f"{label} = {format_number(float(values[0]))}")
    if not flat:
        return ""
    note = f"constant: {', '.join(flat)} for every prediction (no gradient)"
    why = next((c.get("flat_notes", {}).get(target) for c in members.values()), None)
    return f"{note}; {why}" if why else note


def loss_figure(data: dict[str, dict[str, Any]], *, grad: bool = False) -> Figure:
    """Loss (and gradient) against the prediction; one column per target value, one row (two
    with the gradient) per prediction axis: a margin loss is not drawn on probabilities."""
    groups = _domain_groups(data)
    per = 2 if grad else 1
    cols = max(1, *(len(_targets(members)) for _, members in groups))
    fig, axes = new_figure(per * len(groups), cols)
    for g, (xlabel, members) in enumerate(groups):
        targets = _targets(members)
        row = axes[per * g]
        titles = {}
        for curves in members.values():
            titles.update(curves.get("titles", {}))
        glim = None
        if grad:
            glim = _gradient_limits(
                [np.asarray(c["curves"][t][1]) for c in members.values() for t in c["curves"]]
            )
        for j, target in enumerate(targets):
            ax = row[j]
            seen = []
            for label, curves in members.items():
                if target not in curves.get("curves", {}):
                    continue
                values, grads = curves["curves"][target]
                ax.plot(curves["x"], values, label=label)
                seen.append(np.asarray(values))
                if grad:
                    axes[per * g + 1, j].plot(curves["x"], grads, label=label)
            _limits(ax, seen)
            ax.set_title(titles.get(target, target), fontsize=10)
            ax.set_ylabel("loss")
            ax.grid(alpha=0.3)
            note = _flat_note(members, target)
            if note:
                ax.text(
                    0.5,
                    0.5,
                    textwrap.fill(note, 38),
                    transform=ax.transAxes,
                    ha="center",
                    va="center",
                    fontsize=8,
                    bbox={"fc": "white", "ec": "0.7", "alpha": 0.9},
                )
            if grad:
                gax = axes[per * g + 1, j]
                first = next(iter(members.values()))
                gax.set_ylabel(first.get("gradient_label", "d loss / d y_pred"))
                gax.set_xlabel(xlabel)
                gax.axhline(0.0, color="0.6", lw=0.8)
                gax.grid(alpha=0.3)
                if glim is not None:
                    gax.set_ylim(*glim)
            else:
                ax.set_xlabel(xlabel)
        for j in range(len(targets), cols):
            for r in range(per):
                fig.delaxes(axes[per * g + r, j])
        row[0].legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------- properness
def expected_loss_figure(
    data: dict[str, dict[str, Any]], *, etas: tuple[float, ...] = ETAS
) -> Figure:
    """Expected loss η·ℓ(1, x) + (1 - η)·ℓ(0, x) against the prediction, minimiser marked;
    one panel per loss."""
    fig, axes = new_figure(1, max(1, len(data)))
    # two short lines: one panel is narrower than the title on one line (it was cut off)
    title = "Expected loss η·ℓ(1, x) + (1 - η)·ℓ(0, x)\ndots: minimisers, dotted: x = η"
    fig.suptitle(title, fontsize=10)
    for ax, (label, link) in zip(axes[0], data.items(), strict=False):
        grid = np.asarray(link["grid"])
        seen = []
        for eta in etas:
            curve = eta * np.asarray(link["loss_1"]) + (1 - eta) * np.asarray(link["loss_0"])
            (line,) = ax.plot(grid, curve, label=f"η = {eta:g}")
            seen.append(curve)
            i = int(np.argmin(np.abs(np.asarray(link["eta"]) - eta)))
            x_star = float(link["x_star"][i])
            ax.plot([x_star], [float(link["expected_min"][i])], "o", color=line.get_color())
            if link.get("q_star") is not None:
                truth = eta if link.get("domain", "probability") == "probability" else None
                if truth is None:
                    truth = float(logit(np.array(eta)))
                ax.axvline(truth, color=line.get_color(), lw=0.6, ls=":")
        _limits(ax, seen)
        ax.set_xlim(float(grid[0]), float(grid[-1]))  # minimisers beyond the grid stay off
        ax.set_title(label, fontsize=10)
        ax.set_xlabel(link.get("xlabel", "prediction"))
        ax.set_ylabel("expected loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def link_figure(data: dict[str, dict[str, Any]]) -> Figure:
    """The recovered link η ↦ minimiser of the expected loss, against the diagonal."""
    fig, axes = new_figure(1, 1, width=5.0, height=4.2)
    ax = axes[0, 0]
    probability = True
    ylabel = None
    for label, link in data.items():
        ylabel = ylabel or link.get("ylabel")
        eta = np.asarray(link["eta"])
        if link.get("q_star") is not None:
            q = np.asarray(link["q_star"])
            if eta.ndim == 2:
                ax.plot(eta.reshape(-1), q.reshape(-1), "o", label=label, ms=4)
            else:
                ax.plot(eta, q, "-o", ms=2.5, label=label)
        else:
            probability = False
            x = np.asarray(link["x_star"])
            if eta.ndim == 2:
                ax.plot(eta.reshape(-1), x.reshape(-1), "o", label=label, ms=4)
            else:
                ax.plot(eta, x, "-o", ms=2.5, label=label if ylabel else f"{label} (score)")
    if probability:
        ax.plot([0, 1], [0, 1], color="0.5", ls="--", lw=1, label="proper: q* = η")
        ax.set_ylabel("minimiser q* (probability)")
    else:
        ax.axhline(0.0, color="0.5", ls="--", lw=1)
        ax.axvline(0.5, color="0.5", ls=":", lw=1)
        ax.set_ylabel(ylabel or "minimiser (score / probability)")
    ax.set_xlabel("true probability η")
    ax.set_title("Recovered link")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def weight_figure(data: dict[str, dict[str, Any]]) -> Figure:
    """Per-sample gradient weight |d loss / d logit| against the confidence in the label."""
    fig, axes = new_figure(1, 1, width=5.0, height=4.0)
    ax = axes[0, 0]
    axis = "probability"
    for label, weight in data.items():
        ax.plot(weight["confidence"], weight["weight"], label=label)
        axis = weight.get("axis", axis)
    xlabels = {
        "probability": "predicted probability of the true label",
        "score": "score of the label",
        "margin": "margin δ of the pair",
    }
    ax.set_xlabel(xlabels.get(axis, axis))
    ax.set_ylabel(
        "|d loss / d δ| (gradient weight)"
        if axis == "margin"
        else "|d loss / d logit| (gradient weight)"
    )
    ax.set_title("Per-sample gradient weight")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------- elicitation
def elicited_figure(data: dict[str, dict[str, Any]]) -> Figure:
    """Expected loss (rescaled to [0, 1]) against the point forecast, on each reference
    distribution, with the mean, median and 0.1 / 0.9 quantiles; dots: minimisers."""
    names: list[str] = []
    for rows in data.values():
        names += [n for n in rows if n not in names]
    title = "Expected loss on reference distributions (dots: minimisers; dashed: mean; "
    title += "dotted: median; grey: 0.1 / 0.9 quantiles)"
    fig, axes = new_figure(1, max(1, len(names)))
    fig.suptitle(title, fontsize=10)
    for ax, name in zip(axes[0], names, strict=False):
        rows_here = [(label, rows[name]) for label, rows in data.items() if name in rows]
        reference = rows_here[0][1] if rows_here else None
        right = 1.0
        if reference is not None:
            right = 1.6 * max(
                reference["quantiles"].get(0.9, reference["mean"]),
                *[row["minimiser"] for _, row in rows_here],
            )
        for label, row in rows_here:
            grid = np.asarray(row["grid"], dtype=np.float64)
            e = np.asarray(row["expected"], dtype=np.float64)
            shown = (grid <= right) & np.isfinite(e)
            lo, hi = (float(e[shown].min()), float(e[shown].max())) if shown.any() else (0.0, 1.0)
            scale = hi - lo if hi > lo else 1.0
            (line,) = ax.plot(grid[shown], (e[shown] - lo) / scale, label=label)
            ax.plot(
                [row["minimiser"]], [(row["minimum"] - lo) / scale], "o", color=line.get_color()
            )
        if reference is not None:
            ax.axvline(reference["mean"], color="k", ls="--", lw=1, label="mean")
            ax.axvline(reference["median"], color="k", ls=":", lw=1.2, label="median")
            for tau in (0.1, 0.9):
                q = reference["quantiles"].get(tau)
                if q is not None:
                    ax.axvline(q, color="0.6", ls="-.", lw=0.8)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("point forecast c")
        ax.set_ylabel("expected loss (rescaled)")
        ax.set_xlim(0.0, right)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------- the report's plots
def report_figures(report: Report, directory: Path) -> list[tuple[str, str]]:
    """Render the report's plots into ``directory``: (title, file name) of each."""
    label = report.loss_name
    out: list[tuple[str, str]] = []

    def write(fig: Figure, name: str, title: str) -> None:
        save(fig, directory / name)
        out.append((title, name))

    if report.curves:
        write(loss_figure({label: report.curves}, grad=True), "loss.png", "Loss and gradient")
    link = report["link"].data if "link" in report else {}
    if link.get("loss_1") is not None:
        write(
            expected_loss_figure({label: link}), "expected_loss.png", "Expected loss and minimiser"
        )
    if link.get("eta") is not None:
        write(link_figure({label: link}), "link.png", "Recovered link")
    weight = report["lipschitz"].data.get("weight") if "lipschitz" in report else None
    if weight is not None:
        write(weight_figure({label: weight}), "gradient_weight.png", "Per-sample gradient weight")
    elicited = report["elicits"].data.get("distributions") if "elicits" in report else None
    if elicited:
        write(elicited_figure({label: elicited}), "elicited.png", "Elicited statistic")
    return out
