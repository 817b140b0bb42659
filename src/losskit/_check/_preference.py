"""Preference losses (``task="preference"``): DPO and its variants, KTO, ORPO, SimPO, CPO, or a
user's loss of the same inputs.

A preference loss sees one pair of completions: the policy's log-probabilities ``c`` (chosen)
and ``r`` (rejected) and, for the losses with a reference model, the reference's ``c_ref`` and
``r_ref``. Its one-dimensional view is the *margin* ``δ = (c - c_ref) - (r - r_ref)`` (``c - r``
without a reference): the checker moves a pair along the margin as described in
``_llm.PreferenceLayout.at_margin`` (both log-ratios ``±δ/2``, the better completion kept at
log-probability -0.5), on a symmetric grid from -1000 to 1000 that is dense near 0. The label
of a pair is which completion was preferred: swapping the pair's roles is the pair at ``-δ``.

What a user of these losses wants to know, and where the report says it:

* ``direction``: every gradient step raises the chosen completion's log-probability and lowers
  the rejected one's (``∂ℓ/∂c ≤ 0 ≤ ∂ℓ/∂r``), and where that stops (a finite target margin,
  as IPO's ``1/(2β)``, beyond which the loss pulls the margin back);
* ``minimum_at_target``: the margin that minimises the loss of one pair (``+inf`` for DPO: it
  keeps pushing the margin up), and the implicit reward margin ``β·δ`` there when ``β`` is known;
* ``proper``, ``link``, ``calibrated``: with preference labels that are right with probability
  η (the Bradley-Terry model), the expected loss ``η·ℓ(δ) + (1-η)·ℓ(-δ)`` is minimised at a
  margin that identifies η (DPO: ``logit(η)/β``), and on the side of the majority label;
* ``symmetric``: ``ℓ(δ) + ℓ(-δ)`` constant (robust to flipped preference labels, as KTO);
* ``scaling``: the loss depends on the log-ratios only (shifting a completion's policy and
  reference log-probabilities together changes nothing), and on the margin only;
* ``finite``, ``lipschitz``, ``bounded``: log-ratios of ±1e3 and ±1e4, log-probabilities of
  -1e-9 and 0 (ORPO's and SimPO's averages), and an epsilon floor on ever more wrong pairs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._context import ETA, Context, _close, _finding, _fmt
from ._llm import PreferenceLayout, difference_step, epsilon_floor, known_parameter, not_applicable
from ._optimize import grid_then_golden
from ._problem import logit
from ._properties import (
    FLOOR_PROBLEM,
    decomposable,
    gradient,
    ladder_bounded,
    ladder_lipschitz,
    midpoint_convexity,
    scan_edges,
)
from ._report import Finding

#: margins of the searches: symmetric (``-δ`` is exactly the negated ``δ``), from -1000 to 1000,
#: spacing 0.005 near 0 and 6 at the ends
_HALF = np.sinh(np.linspace(0.0, math.asinh(1e3), 801))
MARGINS = np.concatenate([-_HALF[:0:-1], _HALF])
#: margins of the plotted curves
CURVE = np.linspace(-30.0, 30.0, 241)
#: ever more wrong pairs, for the epsilon-floor check
WRONG = -np.geomspace(0.1, 1e4, 51)


def _layout(ctx: Context) -> PreferenceLayout:
    layout = ctx.problem
    assert isinstance(layout, PreferenceLayout)
    return layout


def _beta(ctx: Context) -> float | None:
    beta = known_parameter(ctx.subject, "beta")
    return float(beta) if isinstance(beta, int | float) and beta > 0 else None


# ---------------------------------------------------------------------- the margin
def margin_values(ctx: Context, margins: np.ndarray) -> np.ndarray:
    """The loss of the pair at each margin."""
    return ctx.values(*_layout(ctx).at_margin(margins))


def margin_slopes(ctx: Context, margins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The loss at each margin and its derivative along the margin (central differences of the
    pair moved as in ``at_margin``)."""
    d = np.asarray(margins, dtype=np.float64)
    h = difference_step(ctx, d)
    values = margin_values(ctx, np.concatenate([d, d + h, d - h]))
    n = len(d)
    return values[:n], (values[n : 2 * n] - values[2 * n :]) / (2 * h)


def _table(ctx: Context) -> dict[str, np.ndarray]:
    def compute() -> dict[str, np.ndarray]:
        values, slopes = margin_slopes(ctx, MARGINS)
        return {"margin": MARGINS, "loss": values, "slope": slopes}

    return ctx.once("margin_table", compute)


def _clean(x: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(x), np.inf, x)


def _minimum(ctx: Context) -> dict[str, Any]:
    """The margin minimising one pair's loss: +inf (-inf) when the loss still decreases at the
    grid's upper (lower) end, the start of a plateau of minimal values (hinge), or an interior
    minimiser refined by golden section."""
    return ctx.once("margin_minimum", lambda: _compute_minimum(ctx))


def _compute_minimum(ctx: Context) -> dict[str, Any]:
    table = _table(ctx)
    d, v = table["margin"], _clean(table["loss"])
    i = int(np.argmin(v))
    lowest = float(v[i])
    last = len(d) - 1
    # a plateau whose loss falls by a negligible amount before it is the underflow of a loss
    # that keeps decreasing (e^{-δ} reaching 0), not a target margin
    negligible = 1e-10 * max(1.0, abs(lowest))
    if (i == last and v[last] < v[last - 1]) or (i > 0 and v[i - 1] - lowest <= negligible):
        return {"margin": math.inf, "minimum": lowest, "plateau": False}
    if (i == 0 and v[0] < v[1]) or (i < last and v[i + 1] - lowest <= negligible and i == 0):
        return {"margin": -math.inf, "minimum": lowest, "plateau": False}
    if i < last and v[i + 1] == lowest:  # a plateau: its lower end
        lo, hi = (d[i - 1], d[i]) if i > 0 else (d[0], d[0])
        for _ in range(5):
            points = np.linspace(lo, hi, 33)
            above = margin_values(ctx, points) > lowest
            k = int(np.nonzero(~above)[0][0]) if (~above).any() else len(points) - 1
            lo, hi = points[max(k - 1, 0)], points[k]
        return {"margin": float(hi), "minimum": lowest, "plateau": True}

    def fun(x: np.ndarray) -> np.ndarray:
        return margin_values(ctx, x)

    x, fx = grid_then_golden(fun, d, v[None])
    return {"margin": float(x[0]), "minimum": float(fx[0]), "plateau": False}


def minimum_at_target(ctx: Context) -> Finding:
    """The margin at which one pair's loss is smallest; it should be positive (``+inf``
    included): the loss prefers the chosen completion."""
    row = _minimum(ctx)
    margin = row["margin"]
    beta = _beta(ctx)
    reward = beta * margin if beta is not None else None
    data = {**row, "beta": beta, "reward_margin": reward}
    with_beta = (
        f"; implicit reward margin β·δ = {_fmt(reward)} for β = {_fmt(beta)}"
        if reward is not None and math.isfinite(margin)
        else ""
    )
    if margin == math.inf:
        text = (
            "The loss of a pair decreases as the margin grows, to "
            f"{_fmt(row['minimum'])} at margin 1000: its minimum is approached as δ → +∞, so "
            "it keeps pushing the chosen completion above the rejected one (no target margin)"
        )
    elif row["plateau"]:
        text = (
            f"The loss is at its minimum {_fmt(row['minimum'])} for every margin from δ = "
            f"{_fmt(margin)} on ({with_beta[2:] or 'β unknown'}): a target margin beyond which "
            "the gradient is 0"
        )
    else:
        text = (
            f"The loss of a pair is minimal at the finite margin δ = {_fmt(margin)} (value "
            f"{_fmt(row['minimum'])}{with_beta}): a target margin, beyond which it pulls the "
            "margin back"
        )
    if margin > 0:
        return _finding("minimum_at_target", "pass", margin, text + ".", **data)
    return _finding(
        "minimum_at_target",
        "fail",
        margin,
        f"The loss of a pair is smallest at margin δ = {_fmt(margin)} ≤ 0: it prefers the "
        "rejected completion (chosen and rejected swapped, or a sign error).",
        {"margin at the minimum": margin, "minimum": row["minimum"]},
        **data,
    )


def nonnegative(ctx: Context) -> Finding:
    """A fact: whether the loss is non-negative (the smallest value over the margins and random
    pairs)."""
    layout = _layout(ctx)
    y, p = layout.typical(ctx.rng, 16)
    sample = ctx.values(y[:, None], p[:, None])
    table = _table(ctx)["loss"]
    lowest = _minimum(ctx)["minimum"]
    smallest = float(np.nanmin(np.concatenate([table, sample, [lowest]])))
    tol = 1e-9 * max(1.0, abs(lowest))
    if smallest < -tol:
        text = (
            f"The loss takes negative values (down to {_fmt(smallest)}); only its differences "
            "matter to training."
        )
    elif abs(lowest) <= tol:
        text = "The loss is non-negative; its infimum over the margin is 0."
    else:
        text = f"The loss is non-negative; its smallest value over the margin is {_fmt(lowest)}."
    return Finding("nonnegative", "no" if smallest < -tol else "yes", smallest, text)


# ---------------------------------------------------------------------- Bradley-Terry
def _bradley_terry(ctx: Context) -> dict[str, Any]:
    return ctx.once("bradley_terry", lambda: _compute_bradley_terry(ctx))


def _compute_bradley_terry(ctx: Context) -> dict[str, Any]:
    """Minimisers of ``η·ℓ(δ) + (1-η)·ℓ(-δ)`` over the margin for η = 0.02, ..., 0.98."""
    table = _table(ctx)
    grid, loss = table["margin"], table["loss"]
    with np.errstate(all="ignore"):
        expected = ETA[:, None] * loss[None, :] + (1 - ETA)[:, None] * loss[None, ::-1]
    count = len(ETA)

    def fun(x: np.ndarray) -> np.ndarray:
        v = margin_values(ctx, np.concatenate([x, -x]))
        return ETA * v[:count] + (1 - ETA) * v[count:]

    x, fx = grid_then_golden(fun, grid, expected)
    spacing = np.gradient(grid)
    tol = (1e-9 if ctx.f64 else 1e-6) * np.maximum(1.0, np.abs(fx))
    near = _clean(expected) <= (fx + tol)[:, None]
    flat = (near * spacing[None, :]).sum(axis=1)
    local = np.interp(x, grid, spacing)
    # the minimal values reach the end of the margins searched: the minimiser is ±∞
    edge = near[:, 0] | near[:, -1] | (np.abs(x) >= grid[-2])
    curve = margin_values(ctx, np.concatenate([CURVE, -CURVE]))
    return {
        "domain": "margin",
        "xlabel": "margin δ",
        "ylabel": "minimising margin δ*",
        "eta": ETA.copy(),
        "x_star": x,
        "q_star": None,
        "expected_min": fx,
        "flat": flat,
        "step": local,
        "edge": edge,
        "grid": CURVE,
        "loss_1": curve[: len(CURVE)],
        "loss_0": curve[len(CURVE) :],
    }


def proper(ctx: Context) -> Finding:
    """Bradley-Terry consistency: the minimiser of the expected loss increases strictly with the
    probability η that the chosen completion is the better one."""
    data = _bradley_terry(ctx)
    eta, x = data["eta"], data["x_star"]
    steps = np.diff(x)
    worst = int(np.argmin(steps))
    gap = float(steps[worst])
    strict = bool(np.all(data["flat"] <= 3 * data["step"]))
    edge = bool(np.any(data["edge"]))
    ok = gap > 1e-6 and strict and not edge
    shown = int(np.argmax(data["edge"])) if edge else worst
    witness: dict[str, Any] = {"eta": float(eta[shown]), "minimising margin": float(x[shown])}
    if not edge:
        witness = {
            "eta": [eta[worst], eta[worst + 1]],
            "minimising margin": [x[worst], x[worst + 1]],
        }
    model = (
        "With preference labels right with probability η (the Bradley-Terry model), the "
        "expected loss η·ℓ(δ) + (1-η)·ℓ(-δ)"
    )
    if ok:
        text = (
            f"{model} is minimised at a margin that increases strictly with η (from "
            f"{_fmt(x[0])} to {_fmt(x[-1])}): the implicit reward identifies the preference "
            "probability."
        )
    elif edge:
        i = int(np.argmax(data["edge"]))
        text = (
            f"{model} is minimised at the edge of the margins searched (δ = {_fmt(x[i])} for "
            f"η = {_fmt(eta[i])}): the loss drives the margin to ±∞ whenever η ≠ 1/2, and the "
            "preference probability is lost."
        )
    else:
        text = (
            f"{model} has minimisers that do not identify η: η = {_fmt(eta[worst])} and "
            f"{_fmt(eta[worst + 1])} share the margin {_fmt(x[worst])}."
        )
    return _finding(
        "proper",
        "pass" if ok else "fail",
        gap,
        text,
        witness,
        **data,
    )


def _link_name(eta: np.ndarray, x: np.ndarray, beta: float | None, edge: np.ndarray) -> str:
    """The minimising margin as a function of η: a multiple of logit(η) or of 2η - 1 (named
    with β when the factor is 1/β or 1/(2β)), a step (to ±∞ when the minimisers lie beyond the
    margins searched), or monotone."""
    decided = ~np.isclose(eta, 0.5)
    if np.all(edge[decided]):
        return "step to ±∞ (not invertible)"
    if len(np.unique(np.round(x, 6))) <= 3:
        return "step (not invertible)"
    if np.any(edge):
        return "±∞ for some η"
    size = max(1.0, float(np.max(np.abs(x))))
    for feature, label, factor in ((logit(eta), "logit(η)", 1.0), (2 * eta - 1, "(2η - 1)", 0.5)):
        a, b = np.polyfit(feature, x, 1)
        if np.max(np.abs(a * feature + b - x)) < 1e-4 * size:
            offset = f" + {_fmt(b)}" if abs(b) > 1e-6 * size else ""
            if beta is not None and abs(a * beta / factor - 1) < 1e-4:
                scale = "β" if factor == 1.0 else "(2β)"
                return f"{label}/{scale}{offset} (β = {_fmt(beta)})"
            return f"{_fmt(a)}·{label}{offset}"
    return "monotone (invertible)" if bool(np.all(np.diff(x) > 1e-9)) else "not invertible"


def link(ctx: Context) -> Finding:
    """Information: the minimising margin as a function of η."""
    data = _bradley_terry(ctx)
    name = _link_name(data["eta"], data["x_star"], _beta(ctx), data["edge"])
    return Finding(
        "link",
        "info",
        name,
        "The margin minimising the expected loss, as a function of the probability η that the "
        f"chosen completion is the better one: {name} (DPO's is logit(η)/β, IPO's "
        "(2η - 1)/(2β)).",
        None,
        dict(data),
    )


def calibrated(ctx: Context) -> Finding:
    """The minimiser of the expected loss prefers the completion that is more often preferred."""
    data = _bradley_terry(ctx)
    eta, x = data["eta"], data["x_star"]
    decided = ~np.isclose(eta, 0.5)
    agree = np.sign(x) == np.sign(eta - 0.5)
    fraction = float(np.mean(agree[decided]))
    bad = np.nonzero(decided & ~agree)[0]
    if len(bad):
        i = int(bad[0])
        return _finding(
            "calibrated",
            "fail",
            fraction,
            f"At η = {_fmt(eta[i])} the margin minimising the expected loss is {_fmt(x[i])}: it "
            "prefers the completion that is preferred less often.",
            {"eta": float(eta[i]), "minimising margin": float(x[i])},
        )
    return _finding(
        "calibrated",
        "pass",
        fraction,
        "For every η ≠ 1/2 the minimising margin has the sign of 2η - 1: the loss prefers the "
        "completion that is preferred more often (consistent for the preference decision).",
    )


def symmetric(ctx: Context) -> Finding:
    """ℓ(δ) + ℓ(-δ) is constant: flipped preference labels do not move the minimiser."""
    table = _table(ctx)
    total = table["loss"] + table["loss"][::-1]
    finite = np.isfinite(total)
    if not finite.all():
        i = int(np.argmax(~finite))
        return _finding(
            "symmetric",
            "fail",
            math.inf,
            "ℓ(δ) + ℓ(-δ) is not finite everywhere: not symmetric.",
            {"margin": float(table["margin"][i]), "ℓ(δ) + ℓ(-δ)": float(total[i])},
        )
    spread = float((np.max(total) - np.min(total)) / max(1.0, abs(float(np.mean(total)))))
    ok = spread <= (1e-6 if ctx.f64 else 1e-4)
    lo, hi = int(np.argmin(total)), int(np.argmax(total))
    return _finding(
        "symmetric",
        "pass" if ok else "fail",
        spread,
        (
            f"ℓ(δ) + ℓ(-δ) = {_fmt(float(np.mean(total)))} at every margin: symmetric, so "
            "preference labels flipped at random (with probability below 1/2) do not move the "
            "minimiser."
            if ok
            else f"ℓ(δ) + ℓ(-δ) varies with the margin (relative spread {_fmt(spread)}): not "
            "symmetric, so flipped preference labels move the minimiser."
        ),
        {
            "margin (smallest sum)": float(table["margin"][lo]),
            "smallest sum": float(total[lo]),
            "margin (largest sum)": float(table["margin"][hi]),
            "largest sum": float(total[hi]),
        },
    )


# ---------------------------------------------------------------------- the gradient's direction
def direction(ctx: Context) -> Finding:
    """∂ℓ/∂chosen ≤ 0 ≤ ∂ℓ/∂rejected at every margin of the grid and at random pairs."""
    layout = _layout(ctx)
    y, p = layout.typical(ctx.rng, 64)
    yt_m, yp_m = layout.at_margin(MARGINS)
    yt = np.concatenate([yt_m, y[:, None]])
    yp = np.concatenate([yp_m, p[:, None]])
    _, g = ctx.grads(yt, yp)
    g = g.reshape(len(yp), 2)
    usable = np.all(np.isfinite(g), axis=1)
    scale = float(np.max(np.abs(g[usable]))) if usable.any() else 1.0
    tol = (1e-7 if ctx.engine.autodiff else 1e-5) * (1.0 if ctx.f64 else 1e3) * scale
    wrong = usable & ((g[:, 0] > tol) | (g[:, 1] < -tol))
    margins = (yp[:, 0, 0] - yt[:, 0, 0]) - (yp[:, 0, 1] - yt[:, 0, 1])
    if not layout.references:
        margins = yp[:, 0, 0] - yp[:, 0, 1]
    fraction = float(np.mean(wrong[usable])) if usable.any() else math.nan
    count = int(usable.sum())
    if not wrong.any():
        return _finding(
            "direction",
            "pass",
            0.0,
            f"∂ℓ/∂chosen ≤ 0 ≤ ∂ℓ/∂rejected at all {count} pairs sampled (margins from -1000 to "
            "1000 and random pairs): every step raises the chosen completion's log-probability "
            "and lowers the rejected one's.",
        )
    first = np.nonzero(wrong)[0]
    on_grid = first[first < len(MARGINS)]
    where = ""
    if len(on_grid):
        lowest = float(np.min(margins[on_grid]))
        target = _minimum(ctx)
        beyond = math.isfinite(target["margin"]) and lowest >= target["margin"] - 1e-6 * max(
            1.0, abs(target["margin"])
        )
        where = (
            f" on the margin grid from δ = {_fmt(lowest)} on, beyond the loss's target margin "
            f"{_fmt(target['margin'])}, where it pulls the margin back (by design for a loss "
            "with a target margin such as IPO's; a bug otherwise)"
            if beyond
            else f" on the margin grid from δ = {_fmt(lowest)}"
        )
    i = int(on_grid[0]) if len(on_grid) else int(first[0])
    sign = "raises the rejected" if g[i, 1] < -tol else "lowers the chosen"
    return _finding(
        "direction",
        "fail",
        fraction,
        f"At {_fmt(100 * fraction)}% of {count} sampled pairs a gradient step {sign} "
        f"completion's log-probability{where}.",
        {
            "chosen": float(yp[i, 0, 0]),
            "rejected": float(yp[i, 0, 1]),
            "ref chosen": float(yt[i, 0, 0]),
            "ref rejected": float(yt[i, 0, 1]),
            "margin": float(margins[i]),
            "∂ℓ/∂chosen": float(g[i, 0]),
            "∂ℓ/∂rejected": float(g[i, 1]),
        },
    )


# ---------------------------------------------------------------------- invariances
def scaling(ctx: Context) -> Finding:
    """Depends on the log-ratios only (a completion's policy and reference log-probabilities
    shifted together), and on the margin only (both log-ratios shifted together)."""
    layout = _layout(ctx)
    y, p = layout.typical(ctx.rng, 32)
    yt, yp = y[:, None], p[:, None]
    shift = np.array([-3.0, -40.0])
    base = ctx.values(yt, yp)
    margin = ctx.values(yt, yp + shift.mean())
    ratio = ctx.values(yt + shift, yp + shift) if layout.references else base
    rtol = 1e-8 if ctx.f64 else 1e-4

    def same(a: np.ndarray) -> bool:
        return all(_close(float(u), float(v), rtol) for u, v in zip(a, base, strict=True))

    margin_ok, ratio_ok = same(margin), same(ratio)
    if not layout.references and not margin_ok:
        return Finding(
            "scaling",
            "info",
            "log-probabilities",
            "The loss changes when both completions' log-probabilities shift by the same "
            "constant: it reads the log-probabilities themselves, not only their margin.",
        )
    if margin_ok and ratio_ok:
        value = "margin only"
        text = (
            "Shifting both completions' log-probabilities by the same constant leaves the loss "
            "unchanged"
            + (
                ", and so does shifting a completion's policy and reference log-probabilities "
                "together"
                if layout.references
                else ""
            )
            + ": it depends on the margin only."
        )
    elif ratio_ok:
        value = "log-ratios only"
        text = (
            "Shifting a completion's policy and reference log-probabilities together leaves the "
            "loss unchanged: it depends on the log-ratios log π/π_ref, but on each of them, not "
            "on their margin alone."
        )
    else:
        value = "log-probabilities"
        text = (
            "The loss changes when a completion's policy and reference log-probabilities shift "
            "together: it reads the absolute log-probabilities although it takes a reference."
        )
    verdict = ("pass" if ratio_ok else "fail") if layout.references else "info"
    witness = None
    if verdict == "fail":
        i = int(np.argmax(np.abs(ratio - base)))
        witness = {
            "policy": p[i],
            "reference": y[i],
            "loss": float(base[i]),
            "loss with both of each completion shifted": float(ratio[i]),
        }
    return Finding("scaling", verdict, value, text, witness)


# ---------------------------------------------------------------------- the edges
def _edges(layout: PreferenceLayout) -> list[tuple[str, np.ndarray, np.ndarray]]:
    calls: list[tuple[str, np.ndarray, np.ndarray]] = []
    for d in (-1e4, -1e3, 1e3, 1e4):
        yt, yp = layout.at_margin([d], level=1e-9)
        calls.append((f"margin {d:g} (log-ratios {d / 2:+g}, {-d / 2:+g})", yt[0], yp[0]))
    points = [
        ("every log-probability -1e-9", (-1e-9, -1e-9, -1e-9, -1e-9)),
        ("every log-probability 0", (0.0, 0.0, 0.0, 0.0)),
        ("chosen 0, rejected -1e-9", (0.0, -1e-9, -1e-9, -1e-9)),
        ("chosen -1e-9, rejected 0", (-1e-9, 0.0, -1e-9, -1e-9)),
        ("chosen -1e-9, rejected -1e3", (-1e-9, -1e3, -1e-9, -1e-9)),
        ("chosen -1e3, rejected -1e-9", (-1e3, -1e-9, -1e-9, -1e-9)),
        ("chosen and rejected -1e3", (-1e3, -1e3, -1e-9, -1e-9)),
    ]
    if layout.references:
        points += [
            ("both log-ratios +1e3 (policy -1e-9, reference -1e3)", (-1e-9, -1e-9, -1e3, -1e3)),
            ("log-ratios +1e3 and -1e3", (-1e-9, -1e3, -1e3, -1e-9)),
        ]
    for text, values in points:
        yt, yp = layout.pack(*values)
        calls.append((text, yt[0], yp[0]))
    return calls


def finite(ctx: Context) -> Finding:
    """Finite values and gradients at extreme log-ratios and log-probabilities near 0; no
    epsilon floor on ever more wrong pairs."""
    layout = _layout(ctx)
    edges = _edges(layout)
    scan = scan_edges(ctx, edges)
    values, slopes = margin_slopes(ctx, WRONG)
    lowest = float(np.nanmin(_table(ctx)["loss"]))
    base = float(margin_values(ctx, np.zeros(1))[0]) - lowest
    found = epsilon_floor(WRONG, values, slopes, lowest, base)
    if found is not None:
        a, j = found
        scan.note(
            1,
            {
                "point": f"margin {_fmt(WRONG[j])}",
                "margin": float(WRONG[j]),
                "loss": float(values[j]),
                "|d loss/d margin|": abs(float(slopes[j])),
                f"loss at margin {_fmt(WRONG[a])}": float(values[a]),
                "|d loss/d margin| there": abs(float(slopes[a])),
                "problem": FLOOR_PROBLEM.replace("prediction", "pair"),
            },
        )
    return scan.finding(
        len(edges) + 1,
        ", and an ever more wrong pair keeps a gradient unless the loss levels off",
    )


def _ladders(ctx: Context, extreme: bool) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Pairs moving towards an edge: ever larger margins of either sign, and one completion's
    log-probability towards 0."""
    layout = _layout(ctx)
    if extreme:
        steps = np.array([0.0, 1.0, 10.0, 100.0, 1e3, 1e4])
        near = np.array([1.0, 1e-2, 1e-4, 1e-8, 1e-12])
    else:
        steps = np.array([0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3])
        near = np.array([1.0, 1e-1, 1e-2, 1e-4, 1e-6, 1e-9])
    out = []
    for sign, name in ((-1.0, "a wrong margin"), (1.0, "a right margin")):
        yt, yp = layout.at_margin(sign * steps)
        out.append((name, sign * steps, yt, yp))
    one = np.ones_like(near)
    for which, values in (
        ("chosen", (-near, -one, -one, -one)),
        ("rejected", (-one, -near, -one, -one)),
    ):
        yt, yp = layout.pack(*values)
        out.append((f"the {which} log-probability", -near, yt, yp))
    return out


def lipschitz(ctx: Context) -> Finding:
    """Bounded gradients towards large margins and log-probabilities near 0; the gradient
    weight |dℓ/dδ| of a pair against its margin (plotted)."""
    _, slopes = margin_slopes(ctx, CURVE)
    weight = {"confidence": CURVE, "weight": np.abs(slopes), "axis": "margin"}
    return ladder_lipschitz(ctx, _ladders(ctx, extreme=False), weight)


def bounded(ctx: Context) -> Finding:
    return ladder_bounded(ctx, _ladders(ctx, extreme=True))


def convex(ctx: Context) -> Finding:
    """Midpoint convexity in the policy's log-probabilities (the reference fixed)."""
    rng = np.random.default_rng(3)
    n = 256
    reference = -np.exp(rng.normal(0.5, 1.5, (n, 2)))
    a, b = (-np.exp(rng.normal(0.5, 1.5, (n, 2))) for _ in range(2))
    return midpoint_convexity(
        ctx,
        reference[:, None],
        a[:, None],
        b[:, None],
        "the chosen and rejected log-probabilities",
    )


def curves(ctx: Context) -> dict[str, Any]:
    """The loss of a pair and its derivative against the margin."""
    layout = _layout(ctx)
    values, slopes = margin_slopes(ctx, CURVE)
    xlabel = (
        "margin δ (chosen minus rejected log-ratio)"
        if layout.references
        else "margin δ (chosen minus rejected log-probability)"
    )
    return {
        "x": CURVE,
        "xlabel": xlabel,
        "gradient_label": "d loss / d δ",
        "curves": {"chosen preferred": (values, slopes)},
    }


PROPERTY_FUNCTIONS = {
    "finite": finite,
    "minimum_at_target": minimum_at_target,
    "nonnegative": nonnegative,
    "proper": proper,
    "link": link,
    "calibrated": calibrated,
    "canonical_link": not_applicable(
        "canonical_link",
        "The canonical link pairs a classification loss with a probability link; a preference "
        "loss's Bradley-Terry link is in proper and link.",
    ),
    "gradient": gradient,
    "convex": convex,
    "lipschitz": lipschitz,
    "symmetric": symmetric,
    "bounded": bounded,
    "elicits": not_applicable(
        "elicits",
        "The elicited statistic of a point forecast is checked for regression; what a "
        "preference loss recovers is in link.",
    ),
    "scaling": scaling,
    "decomposable": decomposable,
    "direction": direction,
}
