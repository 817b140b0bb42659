"""Where the loss is minimal: minima at the target, properness, the recovered link,
classification calibration, the canonical link, symmetry.

Binary properness: the expected loss ``E(η, x) = η·ℓ(1, x) + (1 - η)·ℓ(0, x)`` is minimised
over a grid of 1001 probabilities (1201 logits or scores in [-15, 15]) for η = 0.02, ..., 0.98,
and each minimiser is refined by golden-section search. Multiclass: 8 class distributions η on
the 3-class simplex; a simplex grid then a compass search (steps along ``e_i - e_j``, projected
onto the simplex); scores are searched in [-30, 30]^K.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._adapt import quiet
from ._context import (
    _SINGULAR,
    ETA,
    Context,
    _finding,
    _finite,
    _fmt,
    _na,
    _softmax_grad,
    _through_link,
    _varying_grad,
)
from ._optimize import compass, grid_then_golden, project_simplex, simplex_grid
from ._problem import LOGIT, POSITIVE, PROB, SCORE, Problem, logit, sigmoid, softmax
from ._report import Finding


# ====================================================================== minima at the target
def _binary_grid(problem: Problem, wide: bool = False) -> np.ndarray:
    if problem.domain == PROB:
        return np.linspace(0.0, 1.0, 1001)
    limit = 30.0 if wide else 15.0
    return np.linspace(-limit, limit, int(limit * 80) + 1)


def _binary_minimise(
    ctx: Context, labels: np.ndarray, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """argmin over the prediction of ℓ(label, x) for each label (grid, then golden section)."""
    problem = ctx.problem
    n, g = len(labels), len(grid)
    yt, yp = problem.binary_calls(np.repeat(labels, g), np.tile(grid, n))
    table = ctx.values(yt, yp).reshape(n, g)

    def fun(x: np.ndarray) -> np.ndarray:
        return ctx.values(*problem.binary_calls(labels, x))

    return grid_then_golden(fun, grid, table)


def _class_values(ctx: Context, targets: np.ndarray, q: np.ndarray) -> np.ndarray:
    """ℓ(target_t, prediction) for every target row and every row of ``q`` (probabilities,
    or scores for a score domain): ``(T, M)``."""
    problem = ctx.problem
    t, m = len(targets), len(q)
    preds = q if problem.domain == SCORE else problem.encode(q)
    yt, yp = problem.class_calls(np.repeat(targets, m, axis=0), np.tile(preds, (t, 1)))
    return ctx.values(yt, yp).reshape(t, m)


def _class_minimise(
    ctx: Context, weights: np.ndarray, targets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``Σ_t weights[p, t]·ℓ(targets[t], x)`` over the prediction for each row ``p``:
    over the simplex (probabilities, logits) or over scores in [-30, 30]^K."""
    problem = ctx.problem
    k = problem.classes
    count = len(weights)

    def fun(x: np.ndarray) -> np.ndarray:  # (P, M, K) → (P, M)
        m = x.shape[1]
        table = _class_values(ctx, targets, x.reshape(-1, k))  # (T, P·M)
        return np.einsum("pt,tpm->pm", weights, table.reshape(len(targets), count, m))

    if problem.domain == SCORE:
        x0 = np.zeros((count, k))
        directions = np.eye(k)
        return compass(
            fun,
            x0,
            directions,
            2.0,
            project=lambda x: np.clip(x, -30.0, 30.0),
            min_step=1e-6,
            iters=150,
        )
    grid = simplex_grid(k, 30)
    table = _class_values(ctx, targets, grid)
    start = grid[np.argmin(_nan_inf(weights @ table), axis=1)]
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    directions = np.array([np.eye(k)[i] - np.eye(k)[j] for i, j in pairs])
    return compass(
        fun, start, directions, 1.0 / 30, project=project_simplex, min_step=1e-7, iters=150
    )


def _nan_inf(x: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(x), np.inf, x)


def _target_minima(ctx: Context) -> list[dict[str, Any]]:
    """For each reference target: the loss at the target, its minimiser and minimum."""
    return ctx.once("target_minima", lambda: _compute_target_minima(ctx))


def _compute_target_minima(ctx: Context) -> list[dict[str, Any]]:
    problem = ctx.problem
    task, domain = problem.task, problem.domain
    rows: list[dict[str, Any]] = []
    if task in ("binary", "multilabel"):
        labels = np.array([0.0, 1.0]) if domain == SCORE else np.array([0.0, 1.0, 0.3, 0.7])
        grid = _binary_grid(problem, wide=True)
        x, fx = _binary_minimise(ctx, labels, grid)
        if domain == SCORE:
            at = np.where(labels > 0.5, 30.0, -30.0)
        else:
            at = problem.encode(labels) if domain == PROB else np.clip(logit(labels), -30, 30)
        v_at = ctx.values(*problem.binary_calls(labels, at))
        for i, label in enumerate(labels):
            rows.append(
                {
                    "target": float(label),
                    "minimiser": float(x[i]),
                    "minimum": float(fx[i]),
                    "at target": float(v_at[i]),
                    "side": domain == SCORE,
                    "right side": bool((x[i] > 0) == (label > 0.5)),
                }
            )
    elif task == "multiclass":
        k = problem.classes
        targets = [np.eye(k)[0], np.eye(k)[1]]
        if not problem.sparse and domain != SCORE:
            soft = np.array([0.7, 0.2, 0.1] + [0.0] * (k - 3))[:k]
            targets += [soft / soft.sum(), np.full(k, 1.0 / k)]
        t = np.array(targets)
        x, fx = _class_minimise(ctx, np.eye(len(t)), t)
        v_at = fx if domain == SCORE else np.diag(_class_values(ctx, t, t))
        for i in range(len(t)):
            rows.append(
                {
                    "target": t[i],
                    "minimiser": x[i],
                    "minimum": float(fx[i]),
                    "at target": float(v_at[i]),
                    "side": domain == SCORE,
                    "right side": bool(np.argmax(x[i]) == np.argmax(t[i])),
                }
            )
    elif task == "regression":
        targets_r = [0.5, 1.5, 10.0] if problem.targets_positive else [-2.0, 0.0, 1.5, 10.0]
        for target in targets_r:
            rows.append(_regression_minimum(ctx, target))
    else:
        rows += _segmentation_minima(ctx)
    return rows


def _regression_minimum(ctx: Context, target: float) -> dict[str, Any]:
    problem = ctx.problem
    scale = 1.0 + abs(target)
    if problem.domain == POSITIVE:
        grid = target * np.geomspace(1e-2, 1e2, 801)
    else:
        grid = np.linspace(target - 5 * scale, target + 5 * scale, 801)
    yt = np.full((len(grid), 1), target)
    table = ctx.values(yt, grid[:, None])[None]

    def fun(x: np.ndarray) -> np.ndarray:
        return ctx.values(np.full((len(x), 1), target), x[:, None])

    x, fx = grid_then_golden(fun, grid, table)
    at = ctx.values(np.array([[target]]), np.array([[target]]))[0]
    return {
        "target": target,
        "minimiser": float(x[0]),
        "minimum": float(fx[0]),
        "at target": float(at),
        "side": False,
        "right side": True,
    }


def _segmentation_minima(ctx: Context) -> list[dict[str, Any]]:
    """Uniform soft target 0.5 (line search over a uniform prediction); a hard mask and a soft
    random map (lines from the target towards other predictions)."""
    problem = ctx.problem
    h, w = problem.image
    rows = []
    # uniform 0.5: minimise over a uniform prediction c
    if problem.domain != SCORE:
        grid = np.linspace(0.0, 1.0, 1001)
        preds = grid if problem.domain == PROB else np.clip(logit(grid), -30, 30)
        x, fx = _binary_minimise(ctx, np.array([0.5]), preds)
        at = ctx.values(*problem.binary_calls(np.array([0.5]), problem.encode(np.array([0.5]))))
        c = float(problem.decode(x)[0])
        rows.append(
            {
                "target": "0.5 everywhere",
                "minimiser": f"{_fmt(c)} everywhere",
                "minimiser value": c,
                "minimum": float(fx[0]),
                "at target": float(at[0]),
                "side": False,
                "right side": True,
            }
        )
    rng = np.random.default_rng(7)
    hard = np.zeros((h, w))
    hard[: h // 2] = 1.0
    hard[h // 2, : w // 2] = 1.0
    soft = rng.uniform(0.05, 0.95, (h, w))
    targets = [("hard mask", hard)]
    if problem.domain != SCORE:
        targets.append(("soft random map", soft))
    s = np.linspace(0.0, 1.0, 41)
    for name, t in targets:
        end_names = ["all 0", "all 1", "the complement"] + [f"random map {i}" for i in range(5)]
        if problem.domain == SCORE:
            start = np.where(t > 0.5, 30.0, -30.0)
            ends = [np.full((h, w), -30.0), np.full((h, w), 30.0), -start]
            ends += [rng.normal(0.0, 5.0, (h, w)) for _ in range(5)]
        else:
            start = problem.encode(t) if problem.domain == PROB else np.clip(logit(t), -30, 30)
            ends_p = [np.zeros((h, w)), np.ones((h, w)), 1.0 - t]
            ends_p += [rng.uniform(0.0, 1.0, (h, w)) for _ in range(5)]
            ends = [p if problem.domain == PROB else np.clip(logit(p), -30, 30) for p in ends_p]
        lines = np.stack([(1 - s)[:, None, None] * start + s[:, None, None] * e for e in ends])
        preds = lines.reshape(-1, 1, h, w)
        values = ctx.values(np.broadcast_to(t, preds.shape).copy(), preds)
        best = int(np.argmin(_nan_inf(values)))
        at = ctx.values(t[None, None], start[None, None])[0]
        rows.append(
            {
                "target": name,
                "minimiser": f"{_fmt(s[best % len(s)])} of the way from the target towards "
                f"{end_names[best // len(s)]}",
                "minimum": float(values[best]),
                "at target": float(at),
                "side": False,
                "right side": True,
            }
        )
    return rows


def minimum_at_target(ctx: Context) -> Finding:
    """The loss is minimal at the target (soft targets included); its value there."""
    problem = ctx.problem
    rows = _target_minima(ctx)
    bad = []
    for row in rows:
        if row["side"]:
            ok = row["right side"]
        else:
            tol = max(ctx.rtol * 1e3, 1e-12) * max(1.0, abs(row["minimum"]))
            ok = row["at target"] <= row["minimum"] + tol
        if not ok:
            bad.append(row)
    at_values = [r["at target"] if not r["side"] else r["minimum"] for r in rows]
    worst_value = max(at_values, key=lambda v: abs(v) if np.isfinite(v) else np.inf)
    if bad:
        row = bad[0]
        minimiser = row.get("minimiser value", row["minimiser"])
        if problem.task in ("binary", "multilabel") and problem.domain == LOGIT:
            minimiser = float(sigmoid(np.array(row["minimiser"])))
        witness = {
            "target": row["target"],
            "minimiser": minimiser,
            "loss at target": row["at target"],
            "minimum": row["minimum"],
        }
        text = (
            "A wrong-side score minimises the loss"
            if row["side"]
            else f"For target {format_value_short(row['target'])} the loss is minimised at "
            f"{format_value_short(minimiser)} (loss {_fmt(row['minimum'])}), not at the target "
            f"(loss {_fmt(row['at target'])})"
        )
        return _finding(
            "minimum_at_target",
            "fail",
            worst_value,
            text + ".",
            witness,
            rows=rows,
        )
    if problem.domain == SCORE:
        text = (
            "For each label the loss is minimised by a score on the label's side of the threshold 0"
        )
    else:
        soft_used = (
            any(
                (isinstance(r["target"], str) and "soft" in r["target"])
                or (
                    not isinstance(r["target"], str)
                    and np.any((np.asarray(r["target"]) > 0) & (np.asarray(r["target"]) < 1))
                )
                for r in rows
            )
            and problem.task != "regression"
        )
        soft = " (soft targets included)" if soft_used else ""
        text = f"The loss is minimal at the target{soft}"
    return _finding(
        "minimum_at_target",
        "pass",
        worst_value,
        f"{text}; its largest value there is {_fmt(worst_value)}.",
        rows=rows,
    )


def format_value_short(x: Any) -> str:
    if isinstance(x, str):
        return x
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        return _fmt(float(arr))
    return "(" + ", ".join(_fmt(v) for v in arr.reshape(-1)) + ")"


def nonnegative(ctx: Context) -> Finding:
    """A fact: whether the loss is non-negative (the smallest value seen), and the regret form
    when the minimum is not 0."""
    rows = _target_minima(ctx)
    y, p = ctx.problem.typical(ctx.rng, 6)
    calls = [ctx.problem.one_call(y[i], p[i]) for i in range(len(p))]
    sample = ctx.values(np.stack([c[0] for c in calls]), np.stack([c[1] for c in calls]))
    minima = [r["minimum"] for r in rows]
    smallest = float(np.nanmin([*minima, *sample]))
    where = rows[int(np.nanargmin(minima))] if minima else None
    tol = 1e-6 * max(1.0, max(abs(m) for m in minima)) if minima else 1e-6
    nonzero = [r for r in rows if abs(r["minimum"]) > tol]
    if smallest < -tol:
        text = (
            f"The loss takes negative values (down to {_fmt(smallest)}); its regret form "
            "ℓ(y, p) - min_q ℓ(y, q) is non-negative and 0 at the minimum."
        )
    elif nonzero:
        r = nonzero[0]
        text = (
            f"The loss is non-negative, but its minimum is not 0 for every target (target "
            f"{format_value_short(r['target'])}: {_fmt(r['minimum'])}); the regret form "
            "ℓ(y, p) - min_q ℓ(y, q) is 0 at the minimum (for cross-entropy: the KL divergence)."
        )
    else:
        text = "The loss is non-negative and 0 at the target."
    witness = None
    if where is not None and smallest < -tol:
        witness = {"target": where["target"], "value": where["minimum"]}
    verdict = "no" if smallest < -tol else "yes"
    return Finding("nonnegative", verdict, smallest, text, witness, {"minima": minima})


# ====================================================================== properness and link
def _binary_link(ctx: Context) -> dict[str, Any]:
    return ctx.once("binary_link", lambda: _compute_binary_link(ctx))


def _binary_curves(ctx: Context) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        problem = ctx.problem
        grid = _binary_grid(problem)
        g = len(grid)
        labels = np.concatenate([np.ones(g), np.zeros(g)])
        values = ctx.values(*problem.binary_calls(labels, np.concatenate([grid, grid])))
        return {"grid": grid, "loss_1": values[:g], "loss_0": values[g:]}

    return ctx.once("binary_curves", compute)


def _compute_binary_link(ctx: Context) -> dict[str, Any]:
    problem = ctx.problem
    curves = _binary_curves(ctx)
    grid, l1, l0 = curves["grid"], curves["loss_1"], curves["loss_0"]
    with quiet():
        table = ETA[:, None] * l1[None, :] + (1 - ETA)[:, None] * l0[None, :]
    count = len(ETA)

    def fun(x: np.ndarray) -> np.ndarray:
        v = ctx.values(*problem.binary_calls(np.r_[np.ones(count), np.zeros(count)], np.r_[x, x]))
        return ETA * v[:count] + (1 - ETA) * v[count:]

    x, fx = grid_then_golden(fun, grid, table)
    step = float(grid[1] - grid[0])
    clean = _nan_inf(table)
    tol = (1e-9 if ctx.f64 else 1e-6) * np.maximum(1.0, np.abs(fx))
    flat = (clean <= (fx + tol)[:, None]).sum(axis=1) * step
    edge = (np.abs(x - grid[0]) < step) | (np.abs(x - grid[-1]) < step)
    q = problem.decode(x) if problem.has_link else None
    return {
        "domain": problem.domain,
        "xlabel": {PROB: "predicted probability", LOGIT: "logit", SCORE: "score"}[problem.domain],
        "eta": ETA.copy(),
        "x_star": x,
        "q_star": q,
        "expected_min": fx,
        "flat": flat,
        "step": step,
        "edge": edge,
        "grid": grid,
        "loss_1": l1,
        "loss_0": l0,
    }


def _class_link(ctx: Context) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        k = ctx.problem.classes
        rng = np.random.default_rng(11)
        fixed = np.array([[0.6, 0.3, 0.1], [0.2, 0.35, 0.45]])[:, :k]
        eta = np.vstack([fixed / fixed.sum(1, keepdims=True), rng.dirichlet(np.full(k, 2.0), 6)])
        x, fx = _class_minimise(ctx, eta, np.eye(k))
        q = None
        if ctx.problem.domain != SCORE:
            q = x
        return {"eta": eta, "x_star": x, "q_star": q, "expected_min": fx}

    return ctx.once("class_link", compute)


def _link_name(problem: Problem, link: dict[str, Any], proper_ok: bool) -> str:
    eta, x = link["eta"], link["x_star"]
    if proper_ok:
        return "identity" if problem.domain == PROB else "logit (σ⁻¹)"
    distinct = len(np.unique(np.round(x, 6)))
    if distinct <= 3:
        return "step (not invertible)"
    increasing = bool(np.all(np.diff(x) > 1e-9))
    for feature, label in ((2 * eta - 1, "2η - 1"), (logit(eta), "logit(η)")):
        a, b = np.polyfit(feature, x, 1)
        if np.max(np.abs(a * feature + b - x)) < 1e-4 * max(1.0, np.max(np.abs(x))):
            return f"{_fmt(a)}·{label} + {_fmt(b)}" if abs(b) > 1e-6 else f"{_fmt(a)}·{label}"
    return "monotone (invertible)" if increasing else "not invertible"


def proper(ctx: Context) -> Finding:
    """The expected loss is minimised by the true probability (binary, multiclass)."""
    problem = ctx.problem
    if problem.task in ("regression", "segmentation"):
        why = (
            "Properness of a point forecast is about the statistic it elicits: see elicits."
            if problem.task == "regression"
            else "Overlap losses score whole images, not one probability: see "
            "minimum_at_target and decomposable."
        )
        return _na("proper", why)
    tol = 1e-5 if ctx.f64 else 1e-3
    if problem.task == "multiclass":
        link = _class_link(ctx)
        eta = link["eta"]
        if problem.domain == SCORE:
            centred = link["x_star"] - link["x_star"].mean(axis=1, keepdims=True)
            gaps = [
                np.max(np.abs(centred[i] - centred[j]))
                for i in range(len(eta))
                for j in range(i + 1, len(eta))
            ]
            gap = float(min(gaps))
            ok = gap > 1e-3
            return _finding(
                "proper",
                "pass" if ok else "fail",
                gap,
                (
                    "Distinct class distributions have distinct score minimisers, so a link "
                    "recovers the probabilities (proper composite)"
                    if ok
                    else "Different class distributions share one score minimiser: the "
                    "probabilities cannot be recovered from the scores (not proper)"
                )
                + f"; smallest gap between minimisers {_fmt(gap)}.",
                {"eta": eta[0], "minimiser": link["x_star"][0]},
                eta=eta,
                x_star=link["x_star"],
            )
        errors = np.max(np.abs(link["q_star"] - eta), axis=1)
        worst = int(np.argmax(errors))
        err = float(errors[worst])
        ok = err <= 10 * tol
        return _finding(
            "proper",
            "pass" if ok else "fail",
            err,
            (
                f"For {len(eta)} class distributions η the expected loss is minimised at q = η "
                f"(largest error {_fmt(err)})."
                if ok
                else f"The expected loss is not minimised at the true distribution: for η = "
                f"{format_value_short(eta[worst])} its minimiser is "
                f"{format_value_short(link['q_star'][worst])}."
            ),
            {
                "eta": eta[worst],
                "minimiser": link["q_star"][worst],
                "expected loss at minimiser": float(link["expected_min"][worst]),
            },
            eta=eta,
            q_star=link["q_star"],
        )
    link = _binary_link(ctx)
    eta, x = link["eta"], link["x_star"]
    strict = bool(np.all(link["flat"] <= 3 * link["step"]))
    if problem.domain == SCORE:
        steps = np.diff(x)
        gap = float(np.min(steps))
        ok = gap > 1e-6 and strict and not bool(np.any(link["edge"]))
        worst = int(np.argmin(steps))
        return _finding(
            "proper",
            "pass" if ok else "fail",
            gap,
            (
                "The score minimising the expected loss increases strictly with η, so an "
                "invertible link recovers the probability (proper composite)."
                if ok
                else f"The minimising score does not identify η: η = {_fmt(eta[worst])} and "
                f"{_fmt(eta[worst + 1])} share the minimiser {_fmt(x[worst])} (not proper)."
            ),
            {"eta": [eta[worst], eta[worst + 1]], "minimiser": [x[worst], x[worst + 1]]},
            **link,
        )
    q = link["q_star"]
    errors = np.abs(q - eta)
    worst = int(np.argmax(errors))
    err = float(errors[worst])
    ok = err <= tol
    strictly = "strictly proper" if strict else "proper (not strictly: flat minima)"
    meaning = (
        f"The expected loss η·ℓ(1, q) + (1-η)·ℓ(0, q) is minimised at q = η for every η "
        f"({strictly}; largest error {_fmt(err)})."
        if ok
        else f"The expected loss is not minimised at the true probability: at η = "
        f"{_fmt(eta[worst])} its minimiser is q = {_fmt(q[worst])}."
    )
    return _finding(
        "proper",
        "pass" if ok else "fail",
        err,
        meaning,
        {
            "eta": float(eta[worst]),
            "minimiser": float(q[worst]),
            "expected loss at eta": _expected_at(ctx, eta[worst]),
            "expected loss at minimiser": float(link["expected_min"][worst]),
        },
        strict=strict,
        **link,
    )


def _expected_at(ctx: Context, eta: float) -> float:
    problem = ctx.problem
    x = problem.encode(np.array([eta, eta]))
    v = ctx.values(*problem.binary_calls(np.array([1.0, 0.0]), x))
    return float(eta * v[0] + (1 - eta) * v[1])


def link(ctx: Context) -> Finding:
    """Information: the recovered link η ↦ minimiser of the expected loss."""
    problem = ctx.problem
    if problem.task in ("regression", "segmentation"):
        return _na(
            "link", f"A link maps class probabilities to predictions: not for {problem.task}."
        )
    if problem.task == "multiclass":
        data = _class_link(ctx)
        if data["q_star"] is not None:
            err = float(np.max(np.abs(data["q_star"] - data["eta"])))
            name = "identity" if err <= 1e-4 else "not the identity"
            text = (
                f"The minimiser of the expected loss as a function of η is {name}"
                + (" (softmax of the logits)" if problem.domain == LOGIT else "")
                + f"; largest |q* - η| {_fmt(err)}."
            )
        else:
            name = "scores"
            text = "The minimising scores for each η are in the data (no known link)."
        return Finding("link", "info", name, text, None, dict(data))
    data = _binary_link(ctx)
    tol = 1e-5 if ctx.f64 else 1e-3
    proper_ok = (
        data["q_star"] is not None and float(np.max(np.abs(data["q_star"] - data["eta"]))) <= tol
    )
    name = _link_name(problem, data, proper_ok)
    unit = {PROB: "probability", LOGIT: "logit", SCORE: "score"}[problem.domain]
    return Finding(
        "link",
        "info",
        name,
        f"The {unit} minimising the expected loss, as a function of the true probability η, is "
        f"{name} (plotted against the diagonal in the HTML report).",
        None,
        dict(data),
    )


def calibrated(ctx: Context) -> Finding:
    """Classification calibration: the minimiser of the expected loss takes the Bayes decision."""
    problem = ctx.problem
    if not problem.classification:
        return _na(
            "calibrated",
            f"Classification calibration concerns the 0-1 decision: not for {problem.task}.",
        )
    if problem.task == "multiclass":
        data = _class_link(ctx)
        eta = data["eta"]
        ordered = np.sort(eta, axis=1)
        clear = ordered[:, -1] - ordered[:, -2] >= 0.05
        agree = np.argmax(data["x_star"], axis=1) == np.argmax(eta, axis=1)
        bad = np.nonzero(clear & ~agree)[0]
        fraction = float(np.mean(agree[clear]))
        if len(bad):
            i = int(bad[0])
            return _finding(
                "calibrated",
                "fail",
                fraction,
                f"For η = {format_value_short(eta[i])} the minimiser "
                f"{format_value_short(data['x_star'][i])} predicts another class than the most "
                "probable one: not classification-calibrated.",
                {"eta": eta[i], "minimiser": data["x_star"][i]},
            )
        return _finding(
            "calibrated",
            "pass",
            fraction,
            "For every class distribution the minimiser of the expected loss ranks the most "
            "probable class first (Fisher-consistent for the 0-1 decision).",
        )
    data = _binary_link(ctx)
    eta, x = data["eta"], data["x_star"]
    thr = problem.threshold
    decided = ~np.isclose(eta, 0.5)
    agree = np.sign(x - thr) == np.sign(eta - 0.5)
    fraction = float(np.mean(agree[decided]))
    bad = np.nonzero(decided & ~agree)[0]
    if len(bad):
        i = int(bad[0])
        return _finding(
            "calibrated",
            "fail",
            fraction,
            f"At η = {_fmt(eta[i])} the minimiser of the expected loss ({_fmt(x[i])}) is on the "
            f"wrong side of the decision threshold {thr:g}: not classification-calibrated.",
            {"eta": float(eta[i]), "minimiser": float(x[i]), "threshold": thr},
        )
    return _finding(
        "calibrated",
        "pass",
        fraction,
        f"For every η ≠ 0.5 the minimising {_SINGULAR[problem.domain]} is on the "
        f"side of the threshold {thr:g} that the Bayes decision takes (Fisher-consistent for "
        "the 0-1 loss).",
    )


# ====================================================================== canonical link
def canonical_link(ctx: Context) -> Finding:
    """Logit losses: d loss / d logit = c·(σ(z) - y) (softmax: c·(softmax(z) - y)), and shift
    invariance of softmax losses. Probability losses are tested through σ / softmax."""
    problem = ctx.problem
    if problem.task == "segmentation":
        return _na(
            "canonical_link",
            "The canonical-link pairing is checked per sample for "
            "classification and regression, not for overlap losses.",
        )
    if problem.domain == SCORE:
        return _na(
            "canonical_link",
            "Scores have no known link; pass from_logits=True to test a logit loss against σ "
            "or softmax.",
        )
    rng = np.random.default_rng(5)
    if problem.task == "regression":
        y = rng.lognormal(0, 0.5, 24) if problem.targets_positive else rng.normal(0, 1, 24)
        pred = (
            y * np.exp(rng.normal(0, 0.5, 24))
            if problem.domain == POSITIVE
            else y + rng.normal(0, 1.5, 24)
        )
        _, g = ctx.grads(y[:, None], pred[:, None])
        g = g.reshape(-1)
        r = pred - y
        c, residual = _fit_scale(g, r)
        ok = residual <= 1e-6 and c > 0
        return Finding(
            "canonical_link",
            "info",
            residual,
            (
                f"d loss/d y_pred = {_fmt(c)}·(y_pred - y): the squared-error form, canonical for "
                "the identity link."
                if ok
                else "d loss/d y_pred is not proportional to y_pred - y: not the canonical loss "
                f"of the identity link (relative residual {_fmt(residual)})."
            ),
        )
    if problem.task == "multiclass":
        k = problem.classes
        z = rng.normal(0.0, 2.0, (24, k))
        labels = rng.integers(0, k, 24)
        y = np.eye(k)[labels]
        if not problem.sparse:
            y[:8] = 0.6 * y[:8] + 0.4 * rng.dirichlet(np.ones(k), 8)
        q = softmax(z)
        pred = z if problem.domain == LOGIT else q
        _, g = ctx.grads(*problem.class_calls(y if not problem.sparse else labels, pred))
        g = g.reshape(24, k)
        if problem.domain == PROB:
            g = _softmax_grad(q, g)
        c, residual = _fit_scale(g.reshape(-1), (q - y).reshape(-1))
        shift_gap = 0.0
        if problem.domain == LOGIT:
            base = ctx.values(*problem.class_calls(y if not problem.sparse else labels, z))
            for shift in (-3.0, 5.0, 100.0):
                moved = ctx.values(
                    *problem.class_calls(y if not problem.sparse else labels, z + shift)
                )
                shift_gap = max(
                    shift_gap, float(np.max(np.abs(moved - base) / np.maximum(1.0, np.abs(base))))
                )
        tol = 1e-6 if ctx.f64 else 1e-3
        ok = residual <= tol and c > 0 and shift_gap <= tol
        factor = "" if abs(c - 1) < 1e-6 else f" (times {_fmt(c)})"
        through = "" if problem.domain == LOGIT else " through the softmax"
        if ok:
            text = (
                f"d loss/d logits = softmax(z) - y{factor}{through}: the canonical loss for the "
                "softmax link"
                + (
                    "; adding a constant to every logit leaves it unchanged"
                    if problem.domain == LOGIT
                    else ""
                )
                + "."
            )
        elif shift_gap > tol and residual <= tol:
            text = (
                "The gradient is softmax(z) - y but shifting every logit changes the loss by "
                f"{_fmt(shift_gap)}."
            )
        else:
            text = (
                f"d loss/d logits{through} is not proportional to softmax(z) - y (relative "
                f"residual {_fmt(residual)}): not the canonical loss for the softmax link."
            )
        return _finding(
            "canonical_link",
            "pass" if ok else "fail",
            max(residual, shift_gap),
            text,
            {"logits": z[0], "y_true": y[0], "gradient": g[0], "softmax(z) - y": (q - y)[0]},
        )
    z = rng.normal(0.0, 3.0, 32)
    y = np.r_[np.zeros(12), np.ones(12), rng.uniform(0, 1, 8)]
    p = sigmoid(z)
    pred = z if problem.domain == LOGIT else p
    _, g = ctx.grads(*problem.binary_calls(y, pred))
    g = _through_link(problem, pred, _varying_grad(problem, g))
    c, residual = _fit_scale(g, p - y)
    tol = 1e-6 if ctx.f64 else 1e-3
    ok = residual <= tol and c > 0
    factor = "" if abs(c - 1) < 1e-6 else f" (times {_fmt(c)})"
    through = "" if problem.domain == LOGIT else " through the sigmoid"
    worst = int(np.argmax(np.abs(g - c * (p - y))))
    return _finding(
        "canonical_link",
        "pass" if ok else "fail",
        residual,
        (
            f"d loss/d z = σ(z) - y{factor}{through}: the canonical loss for the logistic link."
            if ok
            else f"d loss/d z{through} is not proportional to σ(z) - y (relative residual "
            f"{_fmt(residual)}): not the canonical loss for the logistic link."
        ),
        {
            "logit": float(z[worst]),
            "y_true": float(y[worst]),
            "d loss/d z": float(g[worst]),
            "σ(z) - y": float(p[worst] - y[worst]),
        },
    )


def _fit_scale(g: np.ndarray, r: np.ndarray) -> tuple[float, float]:
    """The least-squares factor c in g ≈ c·r and the relative residual."""
    denom = float(np.dot(r, r))
    if denom == 0 or not _finite(g):
        return 0.0, math.inf
    c = float(np.dot(g, r) / denom)
    residual = float(np.max(np.abs(g - c * r)) / max(np.max(np.abs(c * r)), 1e-300))
    return c, residual


# ====================================================================== symmetry, boundedness
def symmetric(ctx: Context) -> Finding:
    """Σ_k ℓ(k, p) is constant in p (symmetric losses tolerate symmetric label noise)."""
    problem = ctx.problem
    if problem.task == "segmentation":
        return _na("symmetric", "Label-noise symmetry is checked for classification tasks.")
    if problem.task == "regression":
        rng = np.random.default_rng(9)
        y = rng.lognormal(0, 0.5, 16) if problem.targets_positive else rng.normal(0, 1, 16)
        if problem.domain == POSITIVE:
            d = y * rng.uniform(0.05, 0.9, 16)
        else:
            d = np.abs(rng.normal(0, 2, 16))
        up = ctx.values(y[:, None], (y + d)[:, None])
        down = ctx.values(y[:, None], (y - d)[:, None])
        gap = float(np.max(np.abs(up - down) / np.maximum(1e-12, np.abs(up) + np.abs(down))))
        same = gap <= 1e-6
        return Finding(
            "symmetric",
            "info",
            gap,
            "Label-noise symmetry is a classification property; here "
            + (
                "over- and under-prediction by the same amount cost the same."
                if same
                else "over- and under-prediction by the same amount cost differently "
                f"(relative gap {_fmt(gap)})."
            ),
        )
    if problem.task == "multiclass":
        k = problem.classes
        if problem.domain == SCORE:
            points = np.random.default_rng(9).normal(0, 3, (200, k))
        else:
            points = simplex_grid(k, 20)
            if problem.domain == LOGIT:
                points = points[np.all(points > 0, axis=1)]
        table = _class_values(ctx, np.eye(k), points)
        total = table.sum(axis=0)
        where = points
    else:
        curves = _binary_curves(ctx)
        total = curves["loss_1"] + curves["loss_0"]
        where = curves["grid"]
    if not _finite(total):
        bad = int(np.argmax(~np.isfinite(total)))
        return _finding(
            "symmetric",
            "fail",
            math.inf,
            "Σ_k ℓ(k, p) is not finite everywhere: not symmetric.",
            {"y_pred": where[bad], "sum over labels": float(total[bad])},
        )
    spread = float((np.max(total) - np.min(total)) / max(1.0, abs(float(np.mean(total)))))
    tol = 1e-6 if ctx.f64 else 1e-4
    ok = spread <= tol
    lo, hi = int(np.argmin(total)), int(np.argmax(total))
    return _finding(
        "symmetric",
        "pass" if ok else "fail",
        spread,
        (
            f"Σ_k ℓ(k, p) = {_fmt(float(np.mean(total)))} for every prediction: symmetric, so "
            "symmetric label noise does not move the minimiser."
            if ok
            else f"Σ_k ℓ(k, p) varies with the prediction (relative spread {_fmt(spread)}): not "
            "symmetric."
        ),
        {
            "y_pred (smallest sum)": where[lo],
            "smallest sum": float(total[lo]),
            "y_pred (largest sum)": where[hi],
            "largest sum": float(total[hi]),
        },
    )
