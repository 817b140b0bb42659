"""Regression: the statistic a loss elicits, and how its minimiser follows shifts and
rescalings of the targets (and, for segmentation, of the image resolution).

The reference distributions are deterministic samples: 1001 quantile-spaced points of
lognormal(0, 1), exponential(1) and Weibull(0.6). The minimiser ``c*`` of the mean loss over a
sample is found on a grid then by golden-section search; its implied quantile level (its rank in
the sample) and expectile level ``E(c - y)+ / (E(y - c)+ + E(c - y)+)`` name the statistic when
they are the same on every distribution.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np

from ._context import Context, _close, _finding, _fmt, _na
from ._optimize import grid_then_golden
from ._problem import POSITIVE
from ._report import Finding


# ====================================================================== regression
def _inverse_normal(u: np.ndarray) -> np.ndarray:
    dist = statistics.NormalDist()
    return np.array([dist.inv_cdf(float(v)) for v in u])


def reference_distributions(n: int = 1001) -> dict[str, np.ndarray]:
    """Skewed reference distributions as ``n`` quantile-spaced samples (deterministic)."""
    u = (np.arange(n) + 0.5) / n
    return {
        "lognormal(0, 1)": np.exp(_inverse_normal(u)),
        "exponential(1)": -np.log1p(-u),
        "weibull(0.6)": (-np.log1p(-u)) ** (1 / 0.6),
    }


def _expected_minimiser(ctx: Context, y: np.ndarray, points: int = 241) -> dict[str, Any]:
    """argmin_c mean_i ℓ(y_i, c) (one call per c on the whole sample)."""
    lo = float(np.min(y))
    lo = max(lo, 1e-9) if ctx.problem.domain == POSITIVE else lo
    grid = np.linspace(lo, np.quantile(y, 0.999), points)
    yt = np.broadcast_to(y, (points, len(y))).copy()
    table = ctx.values(yt, np.broadcast_to(grid[:, None], yt.shape).copy())

    def fun(x: np.ndarray) -> np.ndarray:
        return ctx.values(y[None], np.full((1, len(y)), x[0]))

    x, fx = grid_then_golden(fun, grid, table[None], iters=45)
    return {"grid": grid, "expected": table, "minimiser": float(x[0]), "minimum": float(fx[0])}


def _levels(y: np.ndarray, c: float) -> tuple[float, float]:
    """The quantile level and the expectile level of ``c`` in the sample ``y``."""
    ys = np.sort(y)
    n = len(ys)
    u = (np.arange(n) + 0.5) / n
    tau_q = float(np.interp(c, ys, u, left=0.0, right=1.0))
    below = float(np.mean(np.maximum(c - ys, 0.0)))
    above = float(np.mean(np.maximum(ys - c, 0.0)))
    tau_e = below / (below + above) if below + above > 0 else 0.5
    return tau_q, tau_e


def _elicitation(ctx: Context) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        rows = {}
        for name, y in reference_distributions().items():
            result = _expected_minimiser(ctx, y)
            tau_q, tau_e = _levels(y, result["minimiser"])
            rows[name] = {
                **result,
                "mean": float(np.mean(y)),
                "median": float(np.median(y)),
                "quantiles": {t: float(np.quantile(y, t)) for t in (0.1, 0.25, 0.75, 0.9)},
                "tau_quantile": tau_q,
                "tau_expectile": tau_e,
            }
        return rows

    return ctx.once("elicitation", compute)


def _identify(rows: dict[str, Any], tol: float) -> tuple[str, str]:
    """The statistic named by the implied levels: the same level on every distribution (for a
    quantile or expectile loss they agree to ~1e-9; ``tol`` is 1e-4 in float64)."""
    tq = np.array([r["tau_quantile"] for r in rows.values()])
    te = np.array([r["tau_expectile"] for r in rows.values()])
    if np.all(np.abs(te - 0.5) <= tol):
        return "mean", "the mean"
    if np.all(np.abs(tq - 0.5) <= tol):
        return "median", "the median"
    spread_q, spread_e = float(np.ptp(tq)), float(np.ptp(te))
    if min(spread_q, spread_e) <= tol:
        if spread_q <= spread_e:
            tau = round(float(np.mean(tq)), 2)
            return f"quantile({tau:g})", f"the {tau:g}-quantile"
        tau = round(float(np.mean(te)), 2)
        return f"expectile({tau:g})", f"the {tau:g}-expectile"
    return "none", ""


#: the weighted medians recognised: the median of the target distribution reweighted by y^β
#: (Gneiting's β-median; MAPE elicits β = -1, the relative error |y - c|/y)
WEIGHTED_MEDIANS = {-1: "1/y", 1: "y", -2: "1/y²"}


def _weighted_median(rows: dict[str, Any], tol: float) -> int | None:
    """The β of :data:`WEIGHTED_MEDIANS` whose weighted median is the minimiser on every
    reference distribution: the sample's weight below the minimiser is at most one half and
    the weight up to it at least one half (a weighted median of the sample is a sample point,
    where the mean loss has its kink)."""
    samples = reference_distributions()
    for beta in WEIGHTED_MEDIANS:
        fits = True
        for name, row in rows.items():
            y = samples[name]
            if np.any(y <= 0):
                return None
            w = y**beta / np.sum(y**beta)
            c = row["minimiser"]
            eps = 1e-6 * (1.0 + abs(c))
            below, upto = float(np.sum(w[y < c - eps])), float(np.sum(w[y <= c + eps]))
            fits = fits and below <= 0.5 + tol and upto >= 0.5 - tol
        if fits:
            return beta
    return None


def elicits(ctx: Context) -> Finding:
    """Regression: the statistic whose value minimises the expected loss."""
    problem = ctx.problem
    if problem.task != "regression":
        return _na(
            "elicits", "The elicited statistic of a point forecast is checked for regression."
        )
    rows = _elicitation(ctx)
    name, text = _identify(rows, 1e-4 if ctx.f64 else 2e-3)
    beta = _weighted_median(rows, 1e-4 if ctx.f64 else 2e-3) if name == "none" else None
    if beta is not None:
        weight = WEIGHTED_MEDIANS[beta]
        name = f"{weight}-weighted median"
        text = (
            f"the median of the target distribution reweighted by {weight}, the β-median with "
            f"β = {beta}"
        )
    names = list(rows)
    detail = "; ".join(
        f"{n}: minimiser {_fmt(r['minimiser'])}, median {_fmt(r['median'])}, mean {_fmt(r['mean'])}"
        for n, r in rows.items()
    )
    if beta is not None:
        below = all(r["minimiser"] < r["median"] for r in rows.values())
        side = "; it lies below the median (the loss under-forecasts)" if below else ""
        meaning = f"The expected loss is minimised by {text}{side}; checked on {', '.join(names)}."
    elif name != "none":
        meaning = (
            f"The expected loss is minimised by {text} of the target distribution (on "
            f"{', '.join(names)})."
        )
    else:
        below = all(r["minimiser"] < r["median"] for r in rows.values())
        above = all(r["minimiser"] > r["median"] for r in rows.values())
        levels = ", ".join(f"{_fmt(r['tau_quantile'])} on {n}" for n, r in rows.items())
        where = (
            "below the median on every reference distribution (it under-forecasts)"
            if below
            else "above the median on every reference distribution (it over-forecasts)"
            if above
            else "neither the mean nor the median"
        )
        meaning = (
            f"No mean, median, quantile or expectile: the minimiser lies {where}; its quantile "
            f"level changes with the distribution ({levels})."
        )
    return Finding(
        "elicits",
        "info",
        name,
        meaning,
        None,
        {"distributions": rows, "detail": detail},
    )


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def scaling(ctx: Context) -> Finding:
    """Regression: translation / scale equivariance of the minimiser; segmentation:
    independence of the image resolution."""
    problem = ctx.problem
    if problem.task == "segmentation":
        y, p = problem.typical(ctx.rng, 2)
        base = ctx.ev.value(y, p)
        up = ctx.ev.value(np.kron(y, np.ones((1, 2, 2))), np.kron(p, np.ones((1, 2, 2))))
        ratio = up / base if base != 0 else math.inf
        ok = _close(up, base, ctx.rtol * 100)
        return _finding(
            "scaling",
            "pass" if ok else "fail",
            ratio,
            (
                "Upsampling the images 2× (each pixel repeated) leaves the loss unchanged: it "
                "does not depend on the image resolution."
                if ok
                else f"Upsampling the images 2× multiplies the loss by {_fmt(ratio)}: it depends "
                "on the image resolution (a sum over pixels?)."
            ),
            {"loss": base, "loss at 2x resolution": up},
        )
    if problem.task != "regression":
        return _na(
            "scaling",
            "Translation and scale behaviour concern regression targets (and image size "
            "segmentation); not checked for classification.",
        )
    y = reference_distributions()["lognormal(0, 1)"]
    base = _elicitation(ctx)["lognormal(0, 1)"]["minimiser"]
    shift, factor = 3.0, 10.0
    moved = _expected_minimiser(ctx, y + shift)["minimiser"]
    scaled = _expected_minimiser(ctx, y * factor)["minimiser"]
    tol = 1e-4
    translation = abs(moved - (base + shift)) <= tol * (1 + abs(base) + shift)
    scale = abs(scaled - factor * base) <= tol * factor * (1 + abs(base))
    value = (
        "translation and scale equivariant"
        if translation and scale
        else "translation equivariant only"
        if translation
        else "scale equivariant only"
        if scale
        else "neither"
    )
    missing = []
    if not translation:
        missing.append(
            f"shifting the targets by {shift:g} moves the minimiser by {_fmt(moved - base)}"
        )
    if not scale:
        missing.append(
            f"scaling the targets by {factor:g} scales the minimiser by {_fmt(scaled / base)}"
        )
    return _finding(
        "scaling",
        "pass" if translation and scale else "fail",
        value,
        (
            "Shifting or rescaling the targets shifts or rescales the minimiser: units and "
            "offsets of the target do not matter."
            if translation and scale
            else _sentence("; ".join(missing))
            + ": the result depends on the targets' units or offset (standardise them)."
        ),
        {"minimiser": base, "after shift": moved, "after scaling": scaled},
    )
