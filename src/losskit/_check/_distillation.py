"""Distillation losses (``task="distillation"``): ``generalized_jsd``, ``distillation_kl``,
``linear_distillation`` (fed as linear heads with identity weights), or a user's
``f(teacher_logits, student_logits)`` with the class axis last.

A distillation loss is a divergence between the teacher's distribution ``p = softmax(z_t)`` and
the student's ``q = softmax(z_s)``. What its user wants checked:

* ``minimum_at_target``: 0 at ``student = teacher`` with a zero gradient there, and nothing
  smaller nearby or far away;
* ``teacher_gradient``: the teacher is a constant (no gradient reaches it);
* ``scaling``: adding a constant to a row of logits (teacher or student) changes nothing;
* ``proper`` and ``elicits``: with the teacher drawn at random (several teachers, weights ``w``),
  the expected loss ``Σ w·ℓ(p_i, q)`` is minimised by the mean teacher ``Σ w·p_i`` (forward KL,
  as cross-entropy is proper), or by another statistic (reverse KL: the normalised geometric
  mean); found on 3 classes by a compass search on the simplex (``_proper._class_minimise``);
* ``canonical_link``: ``dℓ/dz_s = c·(q - p)``, the cross-entropy gradient of forward KL;
* ``symmetric``: ``ℓ(p, q) = ℓ(q, p)`` (the JSD at β = 1/2);
* ``finite``: logits of ±1e4 and ``-inf`` (a masked vocabulary entry, in both), and an epsilon
  floor (``log(q + eps)``) on an ever more wrong student.

The probes are positions over a vocabulary of 4 classes (``_llm.DistillationLayout``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from ._adapt import Evaluator, quiet
from ._context import Context, _close, _finding, _fmt, _na
from ._llm import DistillationLayout, difference_step, epsilon_floor, not_applicable, swapped
from ._problem import LOGIT, Problem, softmax
from ._proper import _class_minimise, _fit_scale, format_value_short
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

#: how far the student's logit of the teacher's top class falls, for the epsilon-floor check
WRONG = np.geomspace(0.1, 1e4, 51)
#: the student's probability of class 0 in the plotted curves
CURVE = np.linspace(0.01, 0.99, 99)


def _layout(ctx: Context) -> DistillationLayout:
    layout = ctx.problem
    assert isinstance(layout, DistillationLayout)
    return layout


def _peaked(k: int, top: float = 3.0) -> np.ndarray:
    z = np.zeros(k)
    z[0] = top
    return z


def _teachers(layout: DistillationLayout, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    k = layout.classes
    out = [(f"random teacher {i}", rng.normal(0.0, 2.0, k)) for i in range(4)]
    out.append(("a peaked teacher", _peaked(k, 8.0)))
    if layout.infinite:
        masked = rng.normal(0.0, 2.0, k)
        masked[1] = -np.inf
        out.append(("a teacher with a masked entry", masked))
    return out


# ---------------------------------------------------------------------- the minimum
def minimum_at_target(ctx: Context) -> Finding:
    """The loss is smallest at ``student = teacher`` (against random and nearby students), with
    a zero gradient there."""
    layout = _layout(ctx)
    rng = np.random.default_rng(7)
    teachers = _teachers(layout, rng)
    t = np.stack([z for _, z in teachers])
    at, g = ctx.grads(*layout.pack(t, t))
    rows: list[dict[str, Any]] = []
    bad = None
    for i, (name, z) in enumerate(teachers):
        finite = np.isfinite(z)
        students = [z + s * rng.normal(0.0, 1.0, (16, len(z))) for s in (1e-3, 0.1, 1.0, 3.0)]
        students.append(rng.normal(0.0, 3.0, (16, len(z))))
        others = np.where(finite, np.concatenate(students), -np.inf)
        values = ctx.values(*layout.pack(np.broadcast_to(z, others.shape), others))
        j = int(np.argmin(np.where(np.isnan(values), np.inf, values)))
        lowest = float(values[j])
        grad = float(np.max(np.abs(np.where(np.isfinite(g[i]), g[i], np.inf))))
        tol = max(ctx.rtol * 1e3, 1e-12) * max(1.0, abs(lowest))
        ok = bool(at[i] <= lowest + tol) and grad <= (1e-7 if ctx.f64 else 1e-3)
        rows.append(
            {"teacher": name, "at target": float(at[i]), "minimum": lowest, "gradient": grad}
        )
        if not ok and bad is None:
            bad = {
                "teacher": z,
                "loss at student = teacher": float(at[i]),
                "|gradient| there": grad,
                "student with a lower loss": others[j] if lowest < at[i] else None,
                "its loss": lowest,
            }
    largest = float(max(r["at target"] for r in rows))
    if bad is not None:
        lower = bad["student with a lower loss"] is not None
        return _finding(
            "minimum_at_target",
            "fail",
            largest,
            (
                "A student other than the teacher has a lower loss: the loss is not minimal at "
                "student = teacher."
                if lower
                else "At student = teacher the gradient is not 0: the student is pushed away "
                "from the teacher."
            ),
            {k: v for k, v in bad.items() if v is not None},
            rows=rows,
        )
    return _finding(
        "minimum_at_target",
        "pass",
        largest,
        f"The loss is smallest at student = teacher, with a zero gradient there, for "
        f"{len(rows)} teachers"
        + (" (a masked vocabulary entry included)" if layout.infinite else "")
        + f"; its largest value there is {_fmt(largest)}.",
        rows=rows,
    )


def nonnegative(ctx: Context) -> Finding:
    """A fact: whether the loss is non-negative (the smallest value seen)."""
    layout = _layout(ctx)
    t, s = layout.typical(ctx.rng, 32)
    values = ctx.values(*layout.pack(t, s))
    at = ctx.values(*layout.pack(t, t))
    smallest = float(np.nanmin(np.concatenate([values, at])))
    tol = 1e-9 * max(1.0, float(np.nanmax(np.abs(at))))
    if smallest < -tol:
        text = f"The loss takes negative values (down to {_fmt(smallest)}): not a divergence."
    elif float(np.nanmax(np.abs(at))) <= tol:
        text = "The loss is non-negative and 0 at student = teacher, as a divergence."
    else:
        text = (
            "The loss is non-negative but not 0 at student = teacher (up to "
            f"{_fmt(float(np.nanmax(at)))}): a cross-entropy, whose regret form (minus the "
            "teacher's entropy) is the divergence."
        )
    return Finding("nonnegative", "no" if smallest < -tol else "yes", smallest, text)


# ---------------------------------------------------------------------- random teachers
def _mixtures(ctx: Context) -> dict[str, Any]:
    return ctx.once("mixtures", lambda: _compute_mixtures(ctx))


def _compute_mixtures(ctx: Context) -> dict[str, Any]:
    """For 4 sets of 3 random teachers on 3 classes with random weights: the student minimising
    the expected loss, the mean teacher and the normalised geometric mean."""
    rng = np.random.default_rng(11)
    sets, count, k = 4, 3, 3
    teachers = rng.dirichlet(np.full(k, 2.0), sets * count)
    weights = np.zeros((sets, sets * count))
    for i in range(sets):
        weights[i, i * count : (i + 1) * count] = rng.dirichlet(np.ones(count))
    three = replace(ctx, problem=Problem("multiclass", LOGIT, classes=k))
    q, expected = _class_minimise(three, weights, np.log(teachers))
    mean = weights @ teachers
    geometric = softmax(weights @ np.log(teachers))
    return {
        "weights": weights,
        "teachers": teachers,
        "q_star": q,
        "expected_min": expected,
        "mean": mean,
        "geometric": geometric,
        "error_mean": np.max(np.abs(q - mean), axis=1),
        "error_geometric": np.max(np.abs(q - geometric), axis=1),
    }


def proper(ctx: Context) -> Finding:
    """The expected loss over random teachers is minimised by the mean teacher distribution."""
    data = _mixtures(ctx)
    errors = data["error_mean"]
    worst = int(np.argmax(errors))
    err = float(errors[worst])
    ok = err <= (1e-4 if ctx.f64 else 1e-2)
    return _finding(
        "proper",
        "pass" if ok else "fail",
        err,
        (
            "With the teacher drawn at random (4 sets of 3 teachers on 3 classes), the expected "
            f"loss Σ w·ℓ(p_i, q) is minimised by the mean teacher Σ w·p_i (largest error "
            f"{_fmt(err)}): distilling from sampled or noisy teachers converges to their average."
            if ok
            else "With the teacher drawn at random, the expected loss is not minimised by the "
            f"mean teacher {format_value_short(data['mean'][worst])} but by "
            f"{format_value_short(data['q_star'][worst])}: averaging teachers is not the same "
            "as averaging their losses."
        ),
        {"mean teacher": data["mean"][worst], "minimiser": data["q_star"][worst]},
        **data,
    )


def elicits(ctx: Context) -> Finding:
    """Information: which statistic of the random teacher the minimising student is."""
    data = _mixtures(ctx)
    tol = 1e-4 if ctx.f64 else 1e-2
    mean, geometric = float(np.max(data["error_mean"])), float(np.max(data["error_geometric"]))
    if mean <= tol:
        name, text = "mean", "the mean teacher distribution Σ w·p_i (mass-covering)"
    elif geometric <= tol:
        name, text = (
            "geometric mean",
            "the normalised geometric mean of the teachers ∝ Π p_i^w (mode-seeking: classes "
            "one teacher rules out get little mass)",
        )
    else:
        name = "none"
        text = (
            "neither the mean teacher (largest error "
            f"{_fmt(mean)}) nor the normalised geometric mean ({_fmt(geometric)})"
        )
    return Finding(
        "elicits",
        "info",
        name,
        f"With the teacher drawn at random, the student minimising the expected loss is {text}.",
        None,
        dict(data),
    )


def canonical_link(ctx: Context) -> Finding:
    """``dℓ/dz_s = c·(softmax(z_s) - softmax(z_t))``: forward KL's (cross-entropy's) gradient."""
    layout = _layout(ctx)
    rng = np.random.default_rng(5)
    t, s = rng.normal(0.0, 2.0, (24, layout.classes)), rng.normal(0.0, 2.0, (24, layout.classes))
    _, g = ctx.grads(*layout.pack(t, s))
    g = g.reshape(24, -1)
    direction = softmax(s) - softmax(t)
    c, residual = _fit_scale(g.reshape(-1), direction.reshape(-1))
    ok = residual <= (1e-6 if ctx.f64 else 1e-3) and c > 0
    factor = "" if abs(c - 1) < 1e-6 else f" (times {_fmt(c)})"
    worst = int(np.argmax(np.max(np.abs(g - c * direction), axis=1)))
    return _finding(
        "canonical_link",
        "pass" if ok else "fail",
        residual,
        (
            f"d loss/d student logits = softmax(z_s) - softmax(z_t){factor}: the cross-entropy "
            "gradient of forward KL, linear in the probability error."
            if ok
            else "d loss/d student logits is not proportional to softmax(z_s) - softmax(z_t) "
            f"(relative residual {_fmt(residual)}): not forward KL's cross-entropy gradient."
        ),
        {
            "teacher logits": t[worst],
            "student logits": s[worst],
            "gradient": g[worst],
            "softmax(z_s) - softmax(z_t)": direction[worst],
        },
    )


def symmetric(ctx: Context) -> Finding:
    """ℓ(p, q) = ℓ(q, p): teacher and student play the same role."""
    layout = _layout(ctx)
    t, s = np.random.default_rng(9).normal(0.0, 2.0, (2, 24, layout.classes))
    forward = ctx.values(*layout.pack(t, s))
    backward = ctx.values(*layout.pack(s, t))
    gap = float(
        np.max(np.abs(forward - backward) / np.maximum(1e-12, np.abs(forward) + np.abs(backward)))
    )
    ok = gap <= (1e-9 if ctx.f64 else 1e-5) * 100
    i = int(np.argmax(np.abs(forward - backward)))
    return _finding(
        "symmetric",
        "pass" if ok else "fail",
        gap,
        (
            "ℓ(teacher, student) = ℓ(student, teacher): a symmetric divergence."
            if ok
            else f"ℓ(teacher, student) ≠ ℓ(student, teacher) (relative gap {_fmt(gap)}): the "
            "direction matters (forward KL covers the teacher's modes, reverse KL seeks one)."
        ),
        {
            "logits a": t[i],
            "logits b": s[i],
            "ℓ(a, b)": float(forward[i]),
            "ℓ(b, a)": float(backward[i]),
        },
    )


def scaling(ctx: Context) -> Finding:
    """Adding a constant to a row of teacher or student logits leaves the loss unchanged."""
    layout = _layout(ctx)
    rng = np.random.default_rng(13)
    t, s = layout.typical(rng, 24)
    base = ctx.values(*layout.pack(t, s))
    teacher = ctx.values(*layout.pack(t + rng.normal(0.0, 10.0, (24, 1)), s))
    student = ctx.values(*layout.pack(t, s + rng.normal(0.0, 10.0, (24, 1))))
    rtol = 1e-8 if ctx.f64 else 1e-4
    moved = [
        name
        for name, values in (("teacher", teacher), ("student", student))
        if not all(_close(float(a), float(b), rtol) for a, b in zip(values, base, strict=True))
    ]
    if not moved:
        return _finding(
            "scaling",
            "pass",
            "shift invariant",
            "Adding a constant to a row of teacher or student logits leaves the loss unchanged: "
            "it depends on the distributions only.",
        )
    values = teacher if moved[0] == "teacher" else student
    i = int(np.argmax(np.abs(values - base)))
    return _finding(
        "scaling",
        "fail",
        "not shift invariant",
        f"Adding a constant to a row of {' and '.join(moved)} logits changes the loss: it "
        "reads the logits, not only the distributions they define.",
        {"loss": float(base[i]), f"loss with the {moved[0]}'s row shifted": float(values[i])},
    )


def teacher_gradient(ctx: Context) -> Finding:
    """No gradient reaches the teacher's logits."""
    if not ctx.engine.autodiff:
        return _na(
            "teacher_gradient",
            "NumPy has no autodiff: whether a gradient reaches the teacher cannot be observed.",
        )
    layout = _layout(ctx)
    t, s = layout.typical(np.random.default_rng(17), 8)
    teacher_calls, student_calls = layout.pack(t, s)
    ev = Evaluator(swapped(ctx.subject), ctx.engine, scalarise=ctx.ev.scalarise)
    with quiet():
        _, g = ev.grads(student_calls, teacher_calls)  # differentiates the teacher
    largest = float(np.max(np.abs(g))) if np.all(np.isfinite(g)) else math.inf
    if largest == 0.0:
        return _finding(
            "teacher_gradient",
            "pass",
            0.0,
            "The teacher's logits receive no gradient: the teacher is a constant.",
        )
    i = int(np.argmax(np.max(np.abs(g.reshape(len(g), -1)), axis=1)))
    return _finding(
        "teacher_gradient",
        "fail",
        largest,
        f"A gradient reaches the teacher's logits (up to {_fmt(largest)}): detach the teacher, "
        "or training moves it (and a frozen teacher wastes the backward pass).",
        {"teacher logits": t[i], "student logits": s[i], "d loss/d teacher": g[i].reshape(-1)},
    )


# ---------------------------------------------------------------------- the edges
def _edges(layout: DistillationLayout) -> list[tuple[str, np.ndarray, np.ndarray]]:
    k = layout.classes
    big = np.zeros(k)
    big[0] = 1e4
    mixed = np.zeros(k)
    mixed[:2] = (1e4, -1e4)
    pairs = [
        ("teacher logit 1e4, student 0", big, np.zeros(k)),
        ("teacher logit 1e4, student -1e4", big, -big),
        ("teacher logit -1e4, student 1e4", -big, big),
        ("every logit 1e4", np.full(k, 1e4), np.full(k, 1e4)),
        ("teacher = student with logits ±1e4", mixed, mixed),
        ("teacher 1e4 on class 0, student 1e4 on class 1", big, np.roll(big, 1)),
    ]
    if layout.infinite:
        t = np.array([2.0, -np.inf, 0.0, 1.0] + [0.0] * (k - 4))[:k]
        s = np.array([0.0, -np.inf, 3.0, -1.0] + [0.0] * (k - 4))[:k]
        two = t.copy()
        two[2] = -np.inf
        pairs += [
            ("a masked entry (-inf in both)", t, s),
            ("teacher = student with a masked entry", t, t),
            ("two masked entries, teacher = student", two, two),
            ("a masked entry and student logits ±1e4", t, np.where(np.isinf(t), -np.inf, mixed)),
        ]
    calls = []
    for text, teacher, student in pairs:
        yt, yp = layout.pack(teacher[None], student[None])
        calls.append((text, yt[0], yp[0]))
    return calls


def _falling(ctx: Context, drops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A peaked teacher (class 0); the student's logit of class 0 at ``-drop`` (the others 0):
    the loss, and its derivative with respect to the drop."""
    layout = _layout(ctx)
    k = layout.classes
    d = np.asarray(drops, dtype=np.float64)
    h = difference_step(ctx, d)
    points = np.concatenate([d, d + h, d - h])
    student = np.zeros((len(points), k))
    student[:, 0] = -points
    values = ctx.values(*layout.pack(np.broadcast_to(_peaked(k), student.shape), student))
    n = len(d)
    return values[:n], (values[n : 2 * n] - values[2 * n :]) / (2 * h), points[:n]


def finite(ctx: Context) -> Finding:
    """Finite values and gradients at logits of ±1e4 and ``-inf``; no epsilon floor as the
    student's logit of the teacher's class falls."""
    layout = _layout(ctx)
    edges = _edges(layout)
    scan = scan_edges(ctx, edges)
    values, slopes, _ = _falling(ctx, WRONG)
    k = layout.classes
    peaked = _peaked(k)
    lowest = float(ctx.values(*layout.pack(peaked[None], peaked[None]))[0])
    base = float(ctx.values(*layout.pack(peaked[None], np.zeros((1, k))))[0]) - lowest
    found = epsilon_floor(WRONG, values, slopes, lowest, base)
    if found is not None:
        a, j = found
        scan.note(
            1,
            {
                "point": f"student logit {_fmt(-WRONG[j])} on the teacher's class "
                f"(p = {_fmt(float(softmax(peaked)[0]))})",
                "student logits": np.r_[-WRONG[j], np.zeros(k - 1)],
                "teacher logits": peaked,
                "loss": float(values[j]),
                "|d loss/d logit|": abs(float(slopes[j])),
                f"loss at logit {_fmt(-WRONG[a])}": float(values[a]),
                "|d loss/d logit| there": abs(float(slopes[a])),
                "problem": FLOOR_PROBLEM,
            },
        )
    return scan.finding(
        len(edges) + 1,
        ", and an ever more wrong student keeps a gradient unless the loss levels off",
    )


def _ladders(ctx: Context, extreme: bool) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """One logit of the student (or of the teacher) moving away from the other's peak."""
    layout = _layout(ctx)
    k = layout.classes
    steps = (
        np.array([0.0, 1.0, 10.0, 100.0, 1e3, 1e4])
        if extreme
        else np.array([0.0, 1.0, 3.0, 10.0, 30.0, 100.0])
    )
    moving = np.zeros((len(steps), k))
    peaked = np.broadcast_to(_peaked(k), moving.shape)
    out = []
    for sign, way in ((-1.0, "falls"), (1.0, "rises")):
        moving[:, 0] = sign * steps
        yt, yp = layout.pack(peaked, moving)
        out.append((f"the student's logit of the teacher's class ({way})", sign * steps, yt, yp))
    moving[:, 0] = -steps
    yt, yp = layout.pack(moving, peaked)
    out.append(("the teacher's logit of the student's class (falls)", -steps, yt, yp))
    return out


def lipschitz(ctx: Context) -> Finding:
    return ladder_lipschitz(ctx, _ladders(ctx, extreme=False), None)


def bounded(ctx: Context) -> Finding:
    return ladder_bounded(ctx, _ladders(ctx, extreme=True))


def convex(ctx: Context) -> Finding:
    """Midpoint convexity in the student's logits (the teacher fixed)."""
    layout = _layout(ctx)
    rng = np.random.default_rng(3)
    n, k = 256, layout.classes
    t = rng.normal(0.0, 2.0, (n, k))
    a, b = rng.normal(0.0, 3.0, (n, k)), rng.normal(0.0, 3.0, (n, k))
    yt, ya = layout.pack(t, a)
    _, yb = layout.pack(t, b)
    return midpoint_convexity(ctx, yt, ya, yb, "the student's logits")


def curves(ctx: Context) -> dict[str, Any]:
    """The loss and d loss / d z_0 against the student's probability of class 0 (the others
    equal), for a teacher with p_0 = 0.7 and a uniform teacher."""
    layout = _layout(ctx)
    k = layout.classes
    rest = (1.0 - CURVE) / (k - 1)
    student = np.log(np.column_stack([CURVE] + [rest] * (k - 1)))
    out = {}
    for name, p0 in (("teacher p₀ = 0.7", 0.7), ("uniform teacher", 1.0 / k)):
        teacher = np.log(np.array([p0] + [(1.0 - p0) / (k - 1)] * (k - 1)))
        values, g = ctx.grads(*layout.pack(np.broadcast_to(teacher, student.shape), student))
        out[name] = (values, g.reshape(len(CURVE), -1)[:, 0])
    return {
        "x": CURVE,
        "xlabel": "student's probability of class 0",
        "gradient_label": "d loss / d z₀ (student logit)",
        "curves": out,
    }


PROPERTY_FUNCTIONS = {
    "finite": finite,
    "minimum_at_target": minimum_at_target,
    "nonnegative": nonnegative,
    "proper": proper,
    "link": not_applicable(
        "link", "The student's distribution is the prediction itself: there is no link."
    ),
    "calibrated": not_applicable(
        "calibrated",
        "Classification calibration concerns a 0-1 decision; a distilled student matches a "
        "distribution (see proper).",
    ),
    "canonical_link": canonical_link,
    "gradient": gradient,
    "convex": convex,
    "lipschitz": lipschitz,
    "symmetric": symmetric,
    "bounded": bounded,
    "elicits": elicits,
    "scaling": scaling,
    "decomposable": decomposable,
    "teacher_gradient": teacher_gradient,
}
