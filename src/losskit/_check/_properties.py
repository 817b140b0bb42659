"""One function per property: each takes the check's :class:`Context` and returns a Finding.

Conventions. Every probe is a loss call on one sample (see ``_problem``); values are float64.
Tolerances are relative: ``ctx.rtol`` is 1e-9 for a loss computed in float64 and 1e-5 in
float32. A property that does not apply to the task is reported with verdict ``"info"`` and a
sentence saying why (never omitted).

This module holds the properties of the loss as a function (scalar contract, finite edges,
gradients, convexity, gradient scale, boundedness, decomposability) and the registry
``PROPERTY_FUNCTIONS``; ``_proper`` holds minima, properness, links, calibration and symmetry,
``_elicit`` the regression statistics.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _elicit, _proper
from ._adapt import numerical_gradient, quiet
from ._context import (
    Context,
    _close,
    _finding,
    _finite,
    _fmt,
    _na,
    _softmax_grad,
    _through_link,
    _varying_grad,
)
from ._problem import LM_TASKS, LOGIT, POSITIVE, PROB, SCORE, Problem, sigmoid, softmax
from ._report import Finding


# ====================================================================== scalar
def scalar(ctx: Context, probe: dict[str, Any]) -> Finding:
    """A scalar for a batch; permutation invariant; mean (batch-size invariant) or sum."""
    problem = ctx.problem
    shape = probe["shape"]
    y, p = probe["y_true"], probe["y_pred"]
    n = len(p)
    if int(np.prod(shape)) != 1:
        return _finding(
            "scalar",
            "fail",
            f"shape {shape}",
            f"For a batch of {n} samples the loss returns an array of shape {shape}, not one "
            "number: reduce it (mean) before returning; the other properties use its mean.",
            {"y_true shape": str(y.shape), "y_pred shape": str(p.shape), "output": str(shape)},
        )
    value = ctx.ev.value(y, p)
    perm = ctx.rng.permutation(n)
    permuted = ctx.ev.value(y[perm], p[perm])
    doubled = ctx.ev.value(np.concatenate([y, y]), np.concatenate([p, p]))
    rtol = max(ctx.rtol, 1e-12) * 100
    if not _close(value, permuted, rtol):
        return _finding(
            "scalar",
            "fail",
            "order-dependent",
            "Shuffling the samples of a batch changes the loss: it depends on the order of the "
            "samples.",
            {"loss": value, "loss of the shuffled batch": permuted},
        )
    if _close(doubled, value, rtol):
        kind, text = "mean", "a mean over the batch (the same batch twice gives the same loss)"
    elif _close(doubled, 2 * value, rtol):
        kind, text = (
            "sum",
            "a sum over the batch: it grows with the batch size, so the learning rate must "
            "follow the batch size",
        )
    else:
        return _finding(
            "scalar",
            "fail",
            "other",
            "The loss of a batch repeated twice is neither the same (mean) nor twice (sum): "
            "its reduction depends on the batch size in another way.",
            {"loss": value, "loss of the batch repeated twice": doubled},
        )
    extra = "" if len(shape) == 0 else f" (returned with shape {shape})"
    return _finding(
        "scalar",
        "pass",
        kind,
        f"One number per batch{extra}, independent of sample order; {text}.",
        batch=n,
        problem=problem.task,
    )


# ====================================================================== finite
def _edge_calls(problem: Problem) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(description, y_true, y_pred) of one call at each edge of the domain."""
    calls: list[tuple[str, np.ndarray, np.ndarray]] = []
    task, domain = problem.task, problem.domain
    k = problem.classes
    if task in ("binary", "multilabel"):
        preds = (
            [0.0, 1e-12, 0.5, 1 - 1e-12, 1.0]
            if domain == PROB
            else [-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4]
        )
        for label in (0.0, 1.0):
            for x in preds:
                yt, yp = problem.binary_calls(np.array([label]), np.array([x]))
                calls.append((f"y_true={label:g}, y_pred={x:g}", yt[0], yp[0]))
        if task == "multilabel":
            zero = np.zeros((1, k))
            for x in (preds[0], problem.neutral(), preds[-1]):
                calls.append((f"no positive label, y_pred={x:g}", zero, np.full((1, k), x)))
    elif task == "multiclass":
        targets: list[tuple[str, np.ndarray]] = [("class 0", np.eye(k)[0])]
        if not problem.sparse:
            soft = np.full(k, 0.3 / (k - 1))
            soft[0] = 0.7
            targets.append(("soft target", soft))
        if domain == PROB:
            tiny = np.full(k, 1e-12)
            near = tiny.copy()
            near[0] = 1 - (k - 1) * 1e-12
            wrong = tiny.copy()
            wrong[1] = 1 - (k - 1) * 1e-12
            preds_k = [
                ("one-hot on class 0", np.eye(k)[0]),
                ("one-hot on class 1", np.eye(k)[1]),
                ("uniform", np.full(k, 1.0 / k)),
                ("1-1e-12 on class 0", near),
                ("1-1e-12 on class 1", wrong),
            ]
        else:
            preds_k = [("zero vector", np.zeros(k))]
            for s in (100.0, 1e4):
                for sign in (1.0, -1.0):
                    z = np.zeros(k)
                    z[0] = sign * s
                    preds_k.append((f"logit {sign * s:g} on class 0", z))
            preds_k.append(("all logits 1e4", np.full(k, 1e4)))
        for tname, t in targets:
            for pname, q in preds_k:
                yt, yp = problem.class_calls(t[None], q[None])
                calls.append((f"{tname}, y_pred {pname}", yt[0], yp[0]))
    elif task == "regression":
        preds_r = [1e-12, 1.0, 1e4, 1e8] if domain == POSITIVE else [0.0, 1.0, -1e4, 1e4, -1e8, 1e8]
        for label in (0.0, 1.0):
            for x in preds_r:
                calls.append((f"y_true={label:g}, y_pred={x:g}", np.array([label]), np.array([x])))
    else:  # segmentation
        h, w = problem.image
        empty = np.zeros((1, h, w))
        full = np.ones((1, h, w))
        half = np.zeros((1, h, w))
        half[:, : h // 2] = 1.0
        if domain == PROB:
            preds_s = [("all 0", empty), ("all 1", full), ("all 0.5", np.full((1, h, w), 0.5))]
        else:
            preds_s = [
                ("all -100", np.full((1, h, w), -100.0)),
                ("all 100", np.full((1, h, w), 100.0)),
                ("all 0", empty),
            ]
        for tname, t in (("empty mask", empty), ("full mask", full), ("half mask", half)):
            for pname, q in preds_s:
                calls.append((f"{tname}, y_pred {pname}", t, q))
    return calls


def _saturation_calls(problem: Problem) -> list[tuple[str, float, np.ndarray, np.ndarray]]:
    """A confidently right prediction (logit +30) and confidently wrong ones (logit -5, -30),
    through σ/softmax for probabilities: (description, logit towards the label, y_true,
    y_pred), three per label."""
    out = []
    if problem.task in ("binary", "multilabel", "segmentation"):
        for label, sign in ((1.0, 1.0), (0.0, -1.0)):
            for z in (30.0, -5.0, -30.0):
                x = sign * z
                pred = sigmoid(np.array([x])) if problem.domain == PROB else np.array([x])
                yt, yp = problem.binary_calls(np.array([label]), pred)
                out.append((f"y_true={label:g}", x, yt[0], yp[0]))
    elif problem.task == "multiclass":
        k = problem.classes
        for z in (30.0, -5.0, -30.0):
            logits = np.zeros(k)
            logits[0] = z
            pred = softmax(logits) if problem.domain == PROB else logits
            yt, yp = problem.class_calls(np.eye(k)[:1], pred[None])
            out.append(("class 0", z, yt[0], yp[0]))
    return out


def _logit_gradient(problem: Problem, y_pred: np.ndarray, grad: np.ndarray) -> float:
    """|d loss / d logit| of a saturation call."""
    if problem.task == "multiclass":
        g = grad.reshape(-1)
        if problem.domain == PROB:
            g = _softmax_grad(y_pred.reshape(-1), g)
        return float(np.linalg.norm(g))
    slope = float(_varying_grad(problem, grad[None])[0])
    p = float(y_pred.reshape(-1)[0])
    return abs(_through_link(problem, np.array(p), np.array(slope)).item())


def _evaluate_calls(
    ctx: Context, calls: list[tuple[np.ndarray, np.ndarray]]
) -> list[tuple[float, np.ndarray | None, str]]:
    """(value, gradient, error) of each call; a call that raises gets its error message."""
    yt = np.stack([c[0] for c in calls])
    yp = np.stack([c[1] for c in calls])
    try:
        values, grads = ctx.grads(yt, yp)
        return [(float(values[i]), grads[i], "") for i in range(len(calls))]
    except Exception:
        pass
    out: list[tuple[float, np.ndarray | None, str]] = []
    for y, p in calls:
        try:
            v, g = ctx.grads(y[None], p[None])
            out.append((float(v[0]), g[0], ""))
        except Exception as error:  # reported as the edge's failure
            out.append((math.nan, None, f"{type(error).__name__}: {error}"))
    return out


class EdgeScan:
    """The failures found at edge points; the worst one is kept (rank 4: the loss raises, 3: NaN,
    2: infinite value or gradient, 1: a vanished gradient), and the largest finite gradient."""

    def __init__(self) -> None:
        self.failures = 0
        self.rank = 0
        self.worst: dict[str, Any] | None = None
        self.largest = (0.0, "")

    def note(self, rank: int, worst: dict[str, Any]) -> None:
        self.failures += 1
        if rank > self.rank:
            self.rank, self.worst = rank, worst

    def finding(self, count: int, keeps: str = "") -> Finding:
        """The ``finite`` finding over ``count`` points; ``keeps`` adds what else was checked."""
        worst = self.worst
        if self.failures:
            what = worst["problem"] if worst else "a failure"
            return _finding(
                "finite",
                "fail",
                self.failures,
                f"{self.failures} of {count} edge points fail; the worst: "
                f"{worst['point'] if worst else ''}: {what}.",
                worst,
            )
        size, text = self.largest
        where = f"; largest |gradient| {_fmt(size)} at {text}" if text else ""
        return _finding(
            "finite",
            "pass",
            0,
            f"Values and gradients are finite at all {count} edge points of the domain"
            f"{keeps}{where}.",
        )


def scan_edges(ctx: Context, edges: list[tuple[str, np.ndarray, np.ndarray]]) -> EdgeScan:
    """Evaluate ``(description, y_true, y_pred)`` calls: errors, NaN and infinite values or
    gradients."""
    scan = EdgeScan()
    results = _evaluate_calls(ctx, [(y, p) for _, y, p in edges])
    for (text, _, _), (value, grad, error) in zip(edges, results, strict=True):
        problem_rank, reason = 0, ""
        if error:
            problem_rank, reason = 4, f"raises {error}"
        elif math.isnan(value):
            problem_rank, reason = 3, "the loss is NaN"
        elif math.isinf(value):
            problem_rank, reason = 2, "the loss is infinite"
        elif grad is not None and not _finite(grad):
            problem_rank, reason = 2, "the gradient is not finite"
        if problem_rank:
            worst: dict[str, Any] = {"point": text, "loss": value, "problem": reason}
            if grad is not None:
                worst["gradient"] = grad.reshape(-1)[:4]
            scan.note(problem_rank, worst)
        elif grad is not None:
            size = float(np.max(np.abs(grad)))
            if size > scan.largest[0]:
                scan.largest = (size, text)
    return scan


#: what a vanished gradient at a confidently wrong prediction means
FLOOR_PROBLEM = (
    "the loss is still growing but its gradient vanishes at a confidently wrong prediction (an "
    "epsilon floor such as log(p + eps))"
)


def finite(ctx: Context) -> Finding:
    """Finite values and gradients at the domain's edges; no vanishing gradient at a confidently
    wrong prediction of a loss that is still growing there (an epsilon floor)."""
    problem = ctx.problem
    edges = _edge_calls(problem)
    scan = scan_edges(ctx, edges)
    saturation = _saturation_calls(problem)
    if saturation:
        sat = _evaluate_calls(ctx, [(y, p) for _, _, y, p in saturation])
        for i in range(0, len(saturation), 3):
            (text, _, _, _), (_, _, _, p5), (_, z30, _, p30) = saturation[i : i + 3]
            (v0, _, e0), (v5, g5, e5), (v30, g30, e30) = sat[i : i + 3]
            if e0 or e5 or e30 or g5 is None or g30 is None or not _finite([v0, v5, v30]):
                continue
            d5 = _logit_gradient(problem, p5, g5)
            d30 = _logit_gradient(problem, p30, g30)
            # regret above a confidently right prediction: still growing from logit -5 to -30
            # (an unbounded loss) while its gradient has vanished: an epsilon floor
            growing = (v30 - v0) > 1.5 * (v5 - v0) and v5 > v0
            if growing and d30 < 1e-3 * d5:
                wrong_p = float(sigmoid(np.array(-abs(z30))))
                p_text = (
                    f" (p = {_fmt(wrong_p)} for the label)"
                    if problem.domain == PROB and problem.task != "multiclass"
                    else ""
                )
                scan.note(
                    1,
                    {
                        "point": f"{text}, logit {abs(z30):g} on the wrong side{p_text}",
                        "loss": v30,
                        "|d loss/d logit|": d30,
                        "loss 5 logits on the wrong side": v5,
                        "|d loss/d logit| there": d5,
                        "problem": FLOOR_PROBLEM,
                    },
                )
    keeps = (
        ", and a confidently wrong prediction keeps a gradient unless the loss levels off"
        if saturation
        else ""
    )
    return scan.finding(len(edges) + len(saturation), keeps)


# ====================================================================== gradient
def gradient(ctx: Context) -> Finding:
    """Autodiff gradients against float64 central finite differences."""
    if not ctx.engine.autodiff:
        return _na(
            "gradient",
            "NumPy has no autodiff: the checker's gradients are float64 finite differences, so "
            "there is nothing to compare.",
        )
    problem = ctx.problem
    calls = [problem.typical(ctx.rng, 4) for _ in range(3)]
    yt = np.stack([c[0] for c in calls])
    yp = np.stack([c[1] for c in calls])
    _, auto = ctx.grads(yt, yp)
    lower, upper = problem.bounds
    with quiet():
        numeric = numerical_gradient(ctx.ev, yt, yp, lower=lower, upper=upper)
    scale = max(float(np.max(np.abs(numeric))), 1e-300)
    diff = np.abs(auto - numeric)
    error = float(np.max(diff) / scale) if _finite(auto) and _finite(numeric) else math.inf
    tol = 1e-5 if ctx.f64 else 2e-2
    ok = error <= tol
    index = np.unravel_index(int(np.argmax(np.where(np.isnan(diff), np.inf, diff))), diff.shape)
    sample = index[0]
    return _finding(
        "gradient",
        "pass" if ok else "fail",
        error,
        (
            f"{ctx.engine.name} autodiff matches central finite differences (largest relative "
            f"error {_fmt(error)})."
            if ok
            else f"{ctx.engine.name} autodiff disagrees with central finite differences "
            f"(relative error {_fmt(error)}): the gradient is wrong, or the loss is "
            "non-differentiable at a sampled point (a stop-gradient, a custom gradient)."
        ),
        {
            "y_true": yt[sample],
            "y_pred": yp[sample],
            "autodiff": float(auto[index]),
            "finite difference": float(numeric[index]),
        },
    )


# ====================================================================== convexity
def _pairs(ctx: Context, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Targets and two predictions per pair, in the optimised parametrisation."""
    problem = ctx.problem
    rng = np.random.default_rng(3)
    k = problem.classes
    if problem.task == "regression":
        if problem.domain == POSITIVE:
            y = rng.lognormal(0, 0.5, n)
            a, b = (y * np.exp(rng.normal(0, 1, n)) for _ in range(2))
        else:
            y = rng.lognormal(0, 0.5, n) if problem.targets_positive else rng.normal(0, 1, n)
            a, b = (y + rng.normal(0, 3, n) for _ in range(2))
        return y[:, None], a[:, None], b[:, None]
    if problem.task == "multiclass":
        labels = rng.integers(0, k, n)
        if problem.domain == PROB:
            a, b = rng.dirichlet(np.ones(k), n), rng.dirichlet(np.ones(k), n)
        else:
            a, b = rng.normal(0, 3, (n, k)), rng.normal(0, 3, (n, k))
        yt, ya = problem.class_calls(labels, a)
        _, yb = problem.class_calls(labels, b)
        return yt, ya, yb
    if problem.task == "segmentation":
        h, w = problem.image
        y = rng.integers(0, 2, (n, 1, h, w)).astype(np.float64)
        if problem.domain == PROB:
            return y, rng.uniform(0, 1, y.shape), rng.uniform(0, 1, y.shape)
        return y, rng.normal(0, 3, y.shape), rng.normal(0, 3, y.shape)
    labels = rng.integers(0, 2, n).astype(np.float64)
    if problem.domain == PROB:
        a, b = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    else:
        a, b = rng.normal(0, 4, n), rng.normal(0, 4, n)
    yt, ya = problem.binary_calls(labels, a)
    _, yb = problem.binary_calls(labels, b)
    return yt, ya, yb


def convex(ctx: Context) -> Finding:
    """Midpoint convexity in the optimised parametrisation, on random pairs."""
    problem = ctx.problem
    space = {PROB: "the probabilities", LOGIT: "the logits", SCORE: "the scores"}.get(
        problem.domain, "the prediction"
    )
    return midpoint_convexity(ctx, *_pairs(ctx, 256), space)


def midpoint_convexity(
    ctx: Context, yt: np.ndarray, a: np.ndarray, b: np.ndarray, space: str
) -> Finding:
    """The ``convex`` finding from stacked calls at ``a``, ``b`` and their midpoints (the same
    ``y_true`` for the three); ``space`` names what ``a`` and ``b`` are."""
    n = len(a)
    m = 0.5 * (a + b)
    values = ctx.values(np.concatenate([yt, yt, yt]), np.concatenate([a, b, m]))
    fa, fb, fm = values[:n], values[n : 2 * n], values[2 * n :]
    valid = np.isfinite(fa) & np.isfinite(fb) & np.isfinite(fm)
    slack = 0.5 * (fa + fb) - fm
    tol = ctx.rtol * 10 * (1.0 + np.abs(fa) + np.abs(fb))
    violations = valid & (slack < -tol)
    fraction = float(np.mean(violations[valid])) if valid.any() else math.nan
    if violations.any():
        i = int(np.argmin(np.where(violations, slack / (1 + np.abs(fa) + np.abs(fb)), np.inf)))
        return _finding(
            "convex",
            "fail",
            fraction,
            f"{_fmt(100 * fraction)}% of {int(valid.sum())} random midpoints lie above the chord: "
            f"the loss is not convex in {space}.",
            {
                "y_true": yt[i].reshape(-1)[:6],
                "a": a[i].reshape(-1)[:6],
                "b": b[i].reshape(-1)[:6],
                "loss(a)": float(fa[i]),
                "loss(b)": float(fb[i]),
                "loss((a+b)/2)": float(fm[i]),
            },
        )
    return _finding(
        "convex",
        "pass",
        0.0,
        f"No midpoint violation in {int(valid.sum())} random pairs: convex in {space} (as far "
        "as sampled).",
    )


# ====================================================================== gradient scale
def _ladders(ctx: Context, extreme: bool) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(description, parameter values, y_true, y_pred) of predictions moving towards an edge:
    confidently wrong (and right) predictions, or ever larger residuals."""
    problem = ctx.problem
    task, domain = problem.task, problem.domain
    out = []
    if task in ("binary", "multilabel", "segmentation") or task == "multiclass":
        if domain == PROB:
            steps = np.array([0.5, 1e-1, 1e-2, 1e-4, 1e-6, 1e-8, 1e-10])
            if extreme:
                steps = np.array([0.5, 1e-1, 1e-2, 1e-4, 1e-8, 1e-12, 1e-16, 0.0])
        else:
            steps = np.array([0.0, 1.0, 3.0, 10.0, 30.0, 100.0])
            if extreme:
                steps = np.array([0.0, 1.0, 10.0, 100.0, 1e3, 1e4])
        if task == "multiclass":
            k = problem.classes
            if domain == PROB:
                q = np.column_stack([steps] + [(1 - steps) / (k - 1)] * (k - 1))
                yt, yp = problem.class_calls(np.zeros(len(steps), dtype=np.int64), q)
                out.append(("true-class probability", steps, yt, yp))
                right = 1 - steps[1:] if not extreme else 1 - steps[1:-1]
                q = np.column_stack([right] + [(1 - right) / (k - 1)] * (k - 1))
                yt, yp = problem.class_calls(np.zeros(len(right), dtype=np.int64), q)
                out.append(("true-class probability", right, yt, yp))
            else:
                for sign in (-1.0, 1.0):
                    z = np.zeros((len(steps), k))
                    z[:, 0] = sign * steps
                    yt, yp = problem.class_calls(np.zeros(len(steps), dtype=np.int64), z)
                    out.append(("true-class logit", sign * steps, yt, yp))
            return out
        if task == "segmentation":
            h, w = problem.image
            t = np.zeros((h, w))
            t[: h // 2] = 1.0
            if domain == PROB:
                preds = np.stack([t * c + (1 - t) * (1 - c) for c in steps])
            else:
                preds = np.stack([-(2 * t - 1) * c for c in steps])
            yt = np.broadcast_to(t, preds.shape).copy()[:, None]
            out.append(("wrong-pixel confidence", steps, yt, preds[:, None]))
            return out
        for label in (1.0, 0.0):
            if domain == PROB:
                p = steps if label == 1.0 else 1 - steps
                yt, yp = problem.binary_calls(np.full(len(p), label), p)
                out.append((f"y_true={label:g}, y_pred", p, yt, yp))
            else:
                for sign in (-1.0, 1.0):
                    z = sign * steps * (1 if label == 1.0 else -1)
                    yt, yp = problem.binary_calls(np.full(len(z), label), z)
                    out.append((f"y_true={label:g}, y_pred", z, yt, yp))
        return out
    # regression
    if domain == POSITIVE:
        up = np.array([1.0, 10.0, 1e2, 1e3, 1e4]) if not extreme else np.geomspace(1, 1e8, 5)
        down = (
            np.array([1.0, 1e-1, 1e-2, 1e-4, 1e-6, 1e-8])
            if not extreme
            else np.array([1.0, 1e-2, 1e-4, 1e-8, 1e-12])
        )
        for preds in (up, down):
            out.append(("y_true=1, y_pred", preds, np.ones((len(preds), 1)), preds[:, None]))
        return out
    residuals = np.array([0.1, 1.0, 10.0, 1e2, 1e3, 1e4])
    if extreme:
        residuals = np.array([1.0, 10.0, 1e2, 1e4, 1e6, 1e8])
    for label in (1.0, 0.0):
        for sign in (1.0, -1.0):
            preds = label + sign * residuals
            out.append(
                (
                    f"y_true={label:g}, y_pred",
                    preds,
                    np.full((len(preds), 1), label),
                    preds[:, None],
                )
            )
    return out


def _grad_norms(grads: np.ndarray) -> np.ndarray:
    return np.linalg.norm(grads.reshape(len(grads), -1), axis=1)


def lipschitz(ctx: Context) -> Finding:
    """Bounded gradients (towards every edge), and the per-sample gradient weight against the
    confidence of the prediction."""
    weight = _gradient_weight(ctx) if ctx.problem.classification else None
    return ladder_lipschitz(ctx, _ladders(ctx, extreme=False), weight)


Ladder = tuple[str, np.ndarray, np.ndarray, np.ndarray]


def ladder_lipschitz(ctx: Context, ladders: list[Ladder], weight: dict[str, Any] | None) -> Finding:
    """The ``lipschitz`` finding from ladders ``(description, parameter values, y_true,
    y_pred)`` of calls moving towards an edge; ``weight`` (the gradient weight curve) goes into
    the finding's data."""
    largest, growing = 0.0, None
    for text, params, yt, yp in ladders:
        _, g = ctx.grads(yt, yp)
        norms = _grad_norms(g)
        if not _finite(norms):
            growing = (text, params, norms)
            largest = math.inf
            break
        largest = max(largest, float(np.max(norms)))
        if norms[-1] > 1.5 * norms[-2] and norms[-1] > 1e-12:
            growing = growing or (text, params, norms)
    data: dict[str, Any] = {"weight": weight} if weight is not None else {}
    extra = ""
    if weight is not None:
        conf, w = weight["confidence"], weight["weight"]
        if weight["axis"] == "probability":
            w5 = float(np.interp(0.5, conf, w))
            w9 = float(np.interp(0.9, conf, w))
            if w5 > 0:
                extra = (
                    f" A sample predicted right with p = 0.9 gets {_fmt(w9 / w5)}× the gradient "
                    "weight of one at p = 0.5."
                )
    if growing is not None:
        text, params, norms = growing
        return _finding(
            "lipschitz",
            "fail",
            largest,
            f"The gradient grows without bound as {text} goes to {_fmt(params[-1])} "
            f"(|gradient| {_fmt(norms[-2])} then {_fmt(norms[-1])}): no Lipschitz bound." + extra,
            {
                "point": f"{text} = {_fmt(params[-1])}",
                "|gradient|": float(norms[-1]),
                "previous point": f"{text} = {_fmt(params[-2])}",
                "previous |gradient|": float(norms[-2]),
            },
            **data,
        )
    return _finding(
        "lipschitz",
        "pass",
        largest,
        f"The gradient stays bounded towards every edge of the domain (largest |gradient| "
        f"{_fmt(largest)}: a Lipschitz constant)." + extra,
        **data,
    )


def _gradient_weight(ctx: Context) -> dict[str, Any]:
    """|d loss / d logit| (or / d score) of one sample against the probability of its label."""
    problem = ctx.problem
    if problem.domain == SCORE:
        conf = np.linspace(-4.0, 4.0, 81)
        axis = "score"
    else:
        conf = np.linspace(0.01, 0.99, 99)
        axis = "probability"
    if problem.task == "multiclass":
        k = problem.classes
        if problem.domain == SCORE:
            z = np.zeros((len(conf), k))
            z[:, 0] = conf
            pred = z
        else:
            q = np.column_stack([conf] + [(1 - conf) / (k - 1)] * (k - 1))
            pred = problem.encode(q)
        _, g = ctx.grads(*problem.class_calls(np.zeros(len(conf), dtype=np.int64), pred))
        g = g.reshape(len(conf), k)
        if problem.domain == PROB:
            g = _softmax_grad(pred, g)
        weight = np.linalg.norm(g, axis=1)
    else:
        pred = conf if problem.domain == SCORE else problem.encode(conf)
        _, g = ctx.grads(*problem.binary_calls(np.ones(len(conf)), pred))
        g = _varying_grad(problem, g)
        weight = np.abs(_through_link(problem, pred, g))
    return {"confidence": conf, "weight": weight, "axis": axis}


def bounded(ctx: Context) -> Finding:
    """The supremum of the loss over the domain is finite."""
    return ladder_bounded(ctx, _ladders(ctx, extreme=True))


def ladder_bounded(ctx: Context, ladders: list[Ladder]) -> Finding:
    """The ``bounded`` finding from ladders of calls moving towards an edge."""
    sup = -math.inf
    growing = None
    for text, params, yt, yp in ladders:
        values = ctx.values(yt, yp)
        if np.any(np.isnan(values)):
            growing = growing or (text, params, values)
            continue
        sup = max(sup, float(np.max(values)))
        last, prev = values[-1], values[-2]
        if not np.isfinite(last) or last - prev > 1e-6 * max(1.0, abs(last)):
            growing = growing or (text, params, values)
    if growing is not None:
        text, params, values = growing
        return _finding(
            "bounded",
            "fail",
            sup,
            f"The loss keeps growing as {text} goes to {_fmt(params[-1])} ({_fmt(values[-2])} "
            f"then {_fmt(values[-1])}): unbounded.",
            {
                "point": f"{text} = {_fmt(params[-1])}",
                "loss": float(values[-1]),
                "previous point": f"{text} = {_fmt(params[-2])}",
                "previous loss": float(values[-2]),
            },
        )
    return _finding(
        "bounded",
        "pass",
        sup + 0.0,
        f"The loss levels off towards every edge of the domain: bounded by {_fmt(sup + 0.0)} "
        "(robust to outliers and noisy labels, but confident mistakes stop being pushed).",
    )


# ====================================================================== decomposability
#: what pooling over the batch usually is, per task
_POOLED = {
    "segmentation": "e.g. batch Dice",
    "policy": "e.g. a mean over all the batch's tokens, which weights a sequence by its length",
}


def decomposable(ctx: Context) -> Finding:
    """The loss of a batch is the mean (or sum) of the per-sample losses."""
    problem = ctx.problem
    y, p = problem.typical(ctx.rng, 6)
    batch = ctx.ev.value(y, p)
    calls = [problem.one_call(y[i], p[i]) for i in range(len(p))]
    singles = ctx.values(np.stack([c[0] for c in calls]), np.stack([c[1] for c in calls]))
    mean, total = float(np.mean(singles)), float(np.sum(singles))
    rtol = ctx.rtol * 100
    unit = problem.unit
    if _close(batch, mean, rtol) or _close(batch, total, rtol):
        how = "mean" if _close(batch, mean, rtol) else "sum"
        return _finding(
            "decomposable",
            "pass",
            0.0,
            f"The loss of a batch is the {how} of its per-{unit} losses: a {unit}'s loss does "
            "not depend on the rest of the batch.",
        )
    gap = min(abs(batch - mean), abs(batch - total)) / max(abs(batch), 1e-300)
    pooled = _POOLED.get(problem.task, "batch statistics")
    return _finding(
        "decomposable",
        "fail",
        gap,
        f"The loss of a batch is neither the mean nor the sum of the per-{unit} losses: "
        f"statistics are pooled over the batch ({pooled}), so each "
        f"{unit}'s loss depends on the others and on the batch size.",
        {
            "batch loss": batch,
            f"mean of per-{unit} losses": mean,
            f"sum of per-{unit} losses": total,
        },
    )


# ====================================================================== curves for plots
def loss_curves(ctx: Context) -> dict[str, Any]:
    """Loss and gradient against the prediction, one curve per target value (the language-model
    tasks: against the pair's margin, the policy ratio, the student's probability)."""
    problem = ctx.problem
    if problem.task in LM_TASKS:
        from . import _llm_properties  # imports this module: loaded on first use

        return _llm_properties.CURVES[problem.task](ctx)
    if problem.task == "regression":
        if problem.domain == POSITIVE:
            x = np.linspace(0.05, 4.0, 160)
            targets = [1.0]
        else:
            x = np.linspace(-3.0, 3.0, 161)
            targets = [0.0]
        curves = {}
        for t in targets:
            v, g = ctx.grads(np.full((len(x), 1), t), x[:, None])
            curves[f"y_true={t:g}"] = (v, g.reshape(-1))
        return {"x": x, "xlabel": "y_pred", "curves": curves}
    if problem.task == "multiclass":
        k = problem.classes
        x = np.linspace(0.01, 0.99, 99) if problem.domain != SCORE else np.linspace(-6, 6, 121)
        if problem.domain == SCORE:
            pred = np.zeros((len(x), k))
            pred[:, 0] = x
        else:
            pred = problem.encode(np.column_stack([x] + [(1 - x) / (k - 1)] * (k - 1)))
        curves = {}
        for label in (0, 1):
            v, g = ctx.grads(*problem.class_calls(np.full(len(x), label, dtype=np.int64), pred))
            curves[f"true class {label}"] = (v, g.reshape(len(x), -1)[:, 0])
        xlabel = (
            "score of class 0" if problem.domain == SCORE else "predicted probability of class 0"
        )
        return {"x": x, "xlabel": xlabel, "curves": curves}
    extra: dict[str, Any] = {}
    if problem.domain == PROB:
        x = np.linspace(0.0, 1.0, 201)[1:-1]
        xlabel = "predicted probability"
    else:
        x = np.linspace(-6.0, 6.0, 121)
        xlabel = "logit" if problem.domain == LOGIT else "score f (margin m = y·f, labels y = ±1)"
    targets = [0.0, 1.0] if problem.domain == SCORE else [0.0, 1.0, 0.5]
    if problem.domain == SCORE and problem.task != "segmentation":
        extra["titles"] = {"y_true=0": "y_true=0, label -1: m = -f", "y_true=1": "y_true=1: m = f"}
    if problem.task == "segmentation":
        targets = [0.0, 1.0, 0.5]
        xlabel = f"uniform {xlabel}"
        extra["flat_notes"] = {
            "y_true=0": "an empty mask: an overlap (set) loss compares foregrounds and has none "
            "here, so it follows its empty-target rule (Dice: empty=)"
        }
    curves = {}
    for t in targets:
        v, g = ctx.grads(*problem.binary_calls(np.full(len(x), t), x))
        curves[f"y_true={t:g}"] = (v, _varying_grad(problem, g))
    return {"x": x, "xlabel": xlabel, "curves": curves, **extra}


def binary_link(ctx: Context) -> dict[str, Any]:
    """The binary expected-loss minimisers and curves (what ``proper`` and ``link`` read)."""
    return _proper._binary_link(ctx)


def class_link(ctx: Context) -> dict[str, Any]:
    """The multiclass expected-loss minimisers for the reference distributions η."""
    return _proper._class_link(ctx)


def gradient_weight(ctx: Context) -> dict[str, Any]:
    """|d loss / d logit| of one sample against its confidence in the label."""
    return _gradient_weight(ctx)


def elicitation(ctx: Context) -> dict[str, Any]:
    """Per reference distribution: the expected-loss curve, its minimiser, the statistics."""
    return _elicit._elicitation(ctx)


PROPERTY_FUNCTIONS: dict[str, Callable[[Context], Finding]] = {
    "finite": finite,
    "minimum_at_target": _proper.minimum_at_target,
    "nonnegative": _proper.nonnegative,
    "proper": _proper.proper,
    "link": _proper.link,
    "calibrated": _proper.calibrated,
    "canonical_link": _proper.canonical_link,
    "gradient": gradient,
    "convex": convex,
    "lipschitz": lipschitz,
    "symmetric": _proper.symmetric,
    "bounded": bounded,
    "elicits": _elicit.elicits,
    "scaling": _elicit.scaling,
    "decomposable": decomposable,
}

__all__ = [
    "PROPERTY_FUNCTIONS",
    "Context",
    "binary_link",
    "class_link",
    "elicitation",
    "gradient_weight",
    "loss_curves",
    "scalar",
]
