"""Policy-gradient losses (``task="policy"``): GRPO and its variants, or a user's loss of the same
inputs, ``f(logps, old_logps, advantages, mask=...)``.

Such a loss is a *surrogate*: its value is of little interest, its gradient is the update. At
``π = π_old`` the gradient must be the policy gradient ``-A·w`` per valid token (``w > 0``: the
normalisation, GRPO's ``1/(B·|o_b|)``); away from it the importance ratio ``ρ = π/π_old`` is
clipped to a trust region ``[1 - ε_low, 1 + ε_high]`` on the side the advantage selects (PPO's
pessimistic ``min``: for ``A > 0`` no gradient above ``1 + ε_high``, for ``A < 0`` none below
``1 - ε_low``, and the gradient kept on the other side); padding (the completion mask) must
reach neither the value nor the gradient. The probes are calls of 2 sequences of 4 tokens
(``_llm.PolicyLayout``); a ratio "for every token" sets every token of both sequences.

The report's properties: ``policy_gradient`` (the gradient at ``π = π_old`` and the
normalisation it implies), ``advantage_sign`` (every token's gradient has the sign of ``-A``),
``clipping`` (the trust region, found numerically), ``masking``; ``scaling`` (the loss depends
on the ratio only), ``finite`` (log-ratios of ±50 and ±1e3, zero advantages, log-probabilities 0
and -1e3, all-masked sequences, padding that holds extreme values), and the shared properties of
the loss as a function.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._context import Context, _close, _finding, _fmt, _na
from ._llm import PolicyLayout, difference_step, not_applicable
from ._properties import (
    decomposable,
    gradient,
    ladder_bounded,
    ladder_lipschitz,
    midpoint_convexity,
    scan_edges,
)
from ._report import Finding

#: log-ratios of the clipping search: ratios from 0.37 to 2.7
LOG_RATIOS = np.linspace(-1.0, 1.0, 801)
#: ratios of the plotted curves
CURVE = np.linspace(0.5, 1.5, 201)


def _layout(ctx: Context) -> PolicyLayout:
    layout = ctx.problem
    assert isinstance(layout, PolicyLayout)
    return layout


def _draw(
    layout: PolicyLayout, rng: np.random.Generator, m: int, spread: float = 0.15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``m`` calls' log-probabilities, old log-probabilities (``N(0, spread)`` apart), and
    advantages."""
    shape = (m, layout.batch, layout.tokens)
    logps = np.log(rng.uniform(0.05, 0.95, shape))
    old = np.minimum(logps + rng.normal(0.0, spread, shape), -1e-3)
    return logps, old, rng.normal(0.0, 1.0, shape[:2])


def _mask(layout: PolicyLayout, rng: np.random.Generator, m: int) -> np.ndarray:
    """Completion masks of ``m`` calls: random lengths, the first sequence full."""
    t = layout.tokens
    if not layout.masked:
        return np.ones((m, layout.batch, t))
    lengths = rng.integers(1, t + 1, (m, layout.batch))
    lengths[:, 0] = t
    return layout.lengths_mask(lengths)


# ---------------------------------------------------------------------- the policy gradient
#: the per-token weight ``w`` of each normalisation, from the mask ``(M, B, T)``
_NORMALISATIONS = {
    "grpo": (
        "token mean per sequence, then mean over sequences (GRPO)",
        lambda mask: 1.0 / (mask.shape[1] * np.maximum(mask.sum(2, keepdims=True), 1.0)),
    ),
    "bnpo": (
        "mean over the batch's valid tokens (BNPO, DAPO)",
        lambda mask: 1.0 / np.maximum(mask.sum((1, 2), keepdims=True), 1.0),
    ),
    "dr_grpo": (
        "token sum per sequence over T, then mean over sequences (Dr. GRPO)",
        lambda mask: np.full(mask.shape, 1.0 / (mask.shape[1] * mask.shape[2])),
    ),
    "sequence sum": (
        "token sum per sequence, then mean over sequences",
        lambda mask: np.full(mask.shape, 1.0 / mask.shape[1]),
    ),
    "sum": ("sum over every token", lambda mask: np.ones(mask.shape)),
}


def _normalisation(weights: np.ndarray, mask: np.ndarray) -> list[str]:
    """The normalisations whose per-token weights match ``weights`` on the valid tokens."""
    valid = mask > 0
    found = []
    for name, (_, rule) in _NORMALISATIONS.items():
        expected = np.broadcast_to(rule(mask), mask.shape)
        scale = float(np.max(expected[valid]))
        if np.max(np.abs(weights[valid] - expected[valid])) <= 1e-6 * scale:
            found.append(name)
    return found


def policy_gradient(ctx: Context) -> Finding:
    """At ``π = π_old`` the gradient is ``-A·w`` per valid token with ``w > 0``, 0 on padding."""
    layout = _layout(ctx)
    rng = np.random.default_rng(13)
    m = 8
    lengths = np.tile([layout.tokens, 2 if layout.masked else layout.tokens], (m, 1))
    mask = layout.lengths_mask(lengths)
    logps, _, _ = _draw(layout, rng, m)
    advantages = rng.choice([-1.0, 1.0], (m, layout.batch)) * rng.uniform(0.5, 2.0, (m, 2))
    _, g = ctx.grads(*layout.pack(logps, logps, advantages, mask))
    valid = mask > 0
    scale = max(float(np.max(np.abs(g))), 1e-300) if np.all(np.isfinite(g)) else math.inf
    tol = (1e-9 if ctx.engine.autodiff else 1e-6) * (1.0 if ctx.f64 else 1e3) * scale
    weights = -g / advantages[:, :, None]
    wrong = valid & ~(weights > tol)
    padded = float(np.max(np.abs(g[~valid]))) if (~valid).any() else 0.0
    names = _normalisation(weights, mask)
    if not np.isfinite(scale) or wrong.any() or padded > tol:
        i: tuple[int, ...]
        if not np.isfinite(scale):
            i = (0, 0, 0)
            text = "The gradient at π = π_old is not finite."
        elif wrong.any():
            i = tuple(int(k) for k in np.argwhere(wrong)[0])
            text = (
                "At π = π_old the gradient of a valid token does not have the sign of -A: a "
                "step does not follow the advantage (the policy gradient is -A per token)."
            )
        else:
            i = tuple(int(k) for k in np.argwhere(~valid & (np.abs(g) > tol))[0])
            text = "At π = π_old a padded (masked) token receives a gradient."
        return _finding(
            "policy_gradient",
            "fail",
            names[0] if names else "other",
            text,
            {
                "advantage": float(advantages[i[0], i[1]]),
                "masked": bool(not valid[i]),
                "gradient": float(g[i]),
                "sequence, token": f"{i[1]}, {i[2]}",
            },
        )
    if names:
        name = names[0]
        how = _NORMALISATIONS[name][0]
        if len(names) > 1:
            how += f" (with these lengths also: {', '.join(names[1:])})"
    else:
        name = "other"
        w = weights[valid]
        how = f"per-token weights from {_fmt(float(np.min(w)))} to {_fmt(float(np.max(w)))}"
    lengths_text = " and 2" if layout.masked else ""
    return _finding(
        "policy_gradient",
        "pass",
        name,
        f"At π = π_old the gradient is the policy gradient -A·w per valid token, w > 0, and 0 "
        f"on padding: {how} (2 sequences of {layout.tokens}{lengths_text} tokens).",
    )


def advantage_sign(ctx: Context) -> Finding:
    """Every valid token's gradient has the sign of ``-A`` (or is 0); a zero advantage gives no
    gradient."""
    layout = _layout(ctx)
    rng = np.random.default_rng(17)
    m = 32
    logps, old, advantages = _draw(layout, rng, m, spread=0.3)
    advantages[::4, 1] = 0.0
    mask = _mask(layout, rng, m)
    _, g = ctx.grads(*layout.pack(logps, old, advantages, mask))
    valid = mask > 0
    finite = np.isfinite(g)
    scale = float(np.max(np.abs(g[finite]))) if finite.any() else 1.0
    tol = (1e-9 if ctx.engine.autodiff else 1e-6) * (1.0 if ctx.f64 else 1e3) * scale
    side = -np.sign(advantages)[:, :, None]
    against = valid & ((g * side < -tol) | ((side == 0) & (np.abs(g) > tol)) | ~finite)
    fraction = float(np.mean(against[valid]))
    if against.any():
        i = tuple(int(k) for k in np.argwhere(against)[0])
        return _finding(
            "advantage_sign",
            "fail",
            fraction,
            f"At {_fmt(100 * fraction)}% of the valid tokens of {m} random batches the gradient "
            "does not have the sign of -A: a step moves those tokens against their advantage, "
            "or a zero advantage still moves them (a penalty such as a KL to a reference does "
            "that too).",
            {
                "advantage": float(advantages[i[0], i[1]]),
                "log-ratio": float(logps[i] - old[i]),
                "gradient": float(g[i]),
            },
        )
    return _finding(
        "advantage_sign",
        "pass",
        0.0,
        f"At every valid token of {m} random batches (ratios inside and outside the trust "
        "region) the gradient has the sign of -A or is 0: a step raises the log-probability of "
        "tokens with a positive advantage and lowers the others; a zero advantage gives none.",
    )


# ---------------------------------------------------------------------- clipping
def _along_ratio(ctx: Context, u: np.ndarray, advantage: float) -> tuple[np.ndarray, np.ndarray]:
    """The loss with every token at log-ratio ``u``, and its derivative with respect to ``u``:
    the sum of the tokens' gradients (autodiff), or central differences along ``u`` (NumPy,
    three evaluations instead of one per token)."""
    layout = _layout(ctx)
    if ctx.engine.autodiff:
        values, g = ctx.grads(*layout.uniform(u, advantage))
        return values, g.reshape(len(u), -1).sum(axis=1)
    h = difference_step(ctx, u)
    n = len(u)
    values = ctx.values(*layout.uniform(np.concatenate([u, u + h, u - h]), advantage))
    return values[:n], (values[n : 2 * n] - values[2 * n :]) / (2 * h)


def _vanishes(ctx: Context, u: np.ndarray, advantage: float) -> np.ndarray:
    """Whether d loss / d log ρ is 0 with every token at log-ratio ``u``."""
    _, slope = _along_ratio(ctx, u, advantage)
    scale = ctx.once(f"clip_scale{advantage:+g}", lambda: float(np.max(np.abs(slope))))
    return np.abs(slope) <= 1e-12 * scale + 1e-300


def _boundary(ctx: Context, lo: float, hi: float, advantage: float) -> float:
    """The log-ratio between ``lo`` and ``hi`` where the gradient starts or stops vanishing."""
    start = bool(_vanishes(ctx, np.array([lo]), advantage)[0])
    for _ in range(4):
        points = np.linspace(lo, hi, 33)
        changed = np.nonzero(_vanishes(ctx, points, advantage) != start)[0]
        k = int(changed[0]) if len(changed) else len(points) - 1
        lo, hi = points[max(k - 1, 0)], points[k]
    return 0.5 * (lo + hi)


def _clip_side(ctx: Context, advantage: float) -> dict[str, Any]:
    """Where the gradient vanishes for one sign of the advantage: ``bound`` (a ratio) when it
    vanishes exactly beyond it on the side the sign selects, ``wrong`` the ratio of a vanishing
    gradient on the other side."""
    zero = _vanishes(ctx, LOG_RATIOS, advantage)
    u = LOG_RATIOS
    clipped_side = u > 0 if advantage > 0 else u < 0
    wrong = zero & ~clipped_side
    out: dict[str, Any] = {"bound": None, "wrong": None, "irregular": False}
    if wrong.any():
        out["wrong"] = float(np.exp(u[np.argmax(wrong)] if advantage > 0 else u[wrong][-1]))
    if not zero.any():
        return out
    ordered = zero if advantage > 0 else zero[::-1]
    k = int(np.argmax(ordered))
    if not ordered[k:].all():
        out["irregular"] = True
        return out
    if k == 0:
        return out
    if advantage > 0:
        out["bound"] = math.exp(_boundary(ctx, float(u[k - 1]), float(u[k]), advantage))
    else:
        j = len(u) - k
        out["bound"] = math.exp(_boundary(ctx, float(u[j]), float(u[j - 1]), advantage))
    return out


def clipping(ctx: Context) -> Finding:
    """The trust region: for ``A > 0`` no gradient above ``1 + ε_high``, for ``A < 0`` none below
    ``1 - ε_low``, and a gradient on the other side of each."""
    upper, lower = _clip_side(ctx, 1.0), _clip_side(ctx, -1.0)
    hi, lo = upper["bound"], lower["bound"]
    data = {
        "epsilon_high": None if hi is None else hi - 1.0,
        "epsilon_low": None if lo is None else 1.0 - lo,
    }
    for advantage, side, other in ((1.0, upper, "below 1"), (-1.0, lower, "above 1")):
        if side["wrong"] is not None:
            return _finding(
                "clipping",
                "fail",
                "both sides",
                f"For A = {advantage:+g} the gradient also vanishes at ratio "
                f"{_fmt(side['wrong'])}, {other}: the ratio is clipped on both sides, so tokens "
                "moved the wrong way are not pulled back (PPO's min with the unclipped ratio is "
                "missing).",
                {"advantage": advantage, "ratio": side["wrong"], "d loss/d log ρ": 0.0},
                **data,
            )
    if hi is None and lo is None:
        return _finding(
            "clipping",
            "fail",
            "none",
            "The gradient never vanishes for ratios from 0.37 to 2.7 (every token at that "
            "ratio): no trust region, the update is not clipped (or a penalty such as a KL "
            "term keeps a gradient beyond the clip).",
            {"ratios searched": "0.37 to 2.7", "advantages": "+1 and -1"},
            **data,
        )
    if hi is None or lo is None or upper["irregular"] or lower["irregular"]:
        found = "A > 0" if hi is not None else "A < 0"
        return _finding(
            "clipping",
            "fail",
            f"[{_fmt(lo) if lo else '-'}, {_fmt(hi) if hi else '-'}]",
            f"The gradient vanishes outside a trust region only for {found} (or not on a "
            "half-line): the clip is one-sided.",
            {"lower bound": lo, "upper bound": hi},
            **data,
        )
    return _finding(
        "clipping",
        "pass",
        f"[{_fmt(lo)}, {_fmt(hi)}]",
        f"The gradient vanishes exactly above ratio {_fmt(hi)} for A > 0 and below {_fmt(lo)} "
        f"for A < 0 (ε_high = {_fmt(hi - 1)}, ε_low = {_fmt(1 - lo)}), and stays on the other "
        "side: a trust region clipped on the side the advantage selects.",
        **data,
    )


# ---------------------------------------------------------------------- padding
def masking(ctx: Context) -> Finding:
    """Padding reaches neither the value nor the gradient; how an all-masked sequence counts."""
    layout = _layout(ctx)
    if not layout.masked:
        return _na(
            "masking",
            "The loss takes no completion mask (a parameter named mask or completion_mask): "
            "padding was not checked.",
        )
    rng = np.random.default_rng(19)
    m = 8
    logps, old, advantages = _draw(layout, rng, m)
    advantages = np.where(advantages == 0, 1.0, advantages)
    lengths = np.stack([rng.integers(1, layout.tokens, m), np.zeros(m, dtype=np.int64)], 1)
    mask = layout.lengths_mask(lengths)
    pad = mask == 0
    results = []
    for _ in range(2):
        lp = np.where(pad, -np.exp(rng.normal(0.0, 1.5, mask.shape)), logps)
        ol = np.where(pad, -np.exp(rng.normal(0.0, 1.5, mask.shape)), old)
        results.append(ctx.grads(*layout.pack(lp, ol, advantages, mask)))
    (v1, g1), (v2, g2) = results
    gap = float(np.max(np.abs(v1 - v2) / np.maximum(1.0, np.abs(v1))))
    both = np.concatenate([g1[pad], g2[pad]])
    leak = float(np.max(np.abs(both))) if np.all(np.isfinite(both)) else math.inf
    scale = float(np.max(np.abs(g1[~pad])))
    tol = (1e-12 if ctx.engine.autodiff else 1e-7) * (1.0 if ctx.f64 else 1e5) * max(scale, 1e-300)
    ok = gap <= ctx.rtol * 100 and leak <= tol
    alone_y, alone_p = layout.pack(logps[:1, :1], old[:1, :1], advantages[:1, :1], mask[:1, :1])
    alone = ctx.ev.value(alone_y[0], alone_p[0])
    counts = _all_masked_counts(float(v1[0]), alone)
    if not ok:
        return _finding(
            "masking",
            "fail",
            max(gap, leak),
            (
                f"Changing what padded tokens hold changes the loss (relative {_fmt(gap)}): "
                "padding reaches the value."
                if gap > ctx.rtol * 100
                else f"Padded tokens receive a gradient (up to {_fmt(leak)}): padding reaches "
                "the update."
            ),
            {
                "loss": float(v1[0]),
                "loss with other padding": float(v2[0]),
                "padding gradient": leak,
            },
        )
    return _finding(
        "masking",
        "pass",
        0.0,
        "Whatever padded tokens hold, the loss is the same and they get no gradient; an "
        f"all-masked sequence gets none either{counts}.",
    )


def _all_masked_counts(both: float, alone: float) -> str:
    """How a batch of one sequence and one all-masked sequence relates to the sequence alone."""
    if alone == 0 or not (math.isfinite(both) and math.isfinite(alone)):
        return ""
    ratio = both / alone
    if abs(ratio - 0.5) < 1e-6:
        return " and counts among the sequences (its 0 is averaged in, as in TRL's GRPO)"
    if abs(ratio - 1.0) < 1e-6:
        return " and is left out of the mean"
    return f" (a batch with one all-masked sequence gives {_fmt(ratio)}× the other's loss)"


# ---------------------------------------------------------------------- the rest
def scaling(ctx: Context) -> Finding:
    """The loss depends on the ratio only (``logps`` and ``old_logps`` shifted together); whether
    it scales with the advantages."""
    layout = _layout(ctx)
    rng = np.random.default_rng(23)
    m = 16
    logps, old, advantages = _draw(layout, rng, m)
    mask = _mask(layout, rng, m)
    base = ctx.values(*layout.pack(logps, old, advantages, mask))
    shifted = ctx.values(*layout.pack(logps - 2.5, old - 2.5, advantages, mask))
    tripled = ctx.values(*layout.pack(logps, old, 3.0 * advantages, mask))
    rtol = 1e-8 if ctx.f64 else 1e-4
    ratio_only = all(_close(float(a), float(b), rtol) for a, b in zip(shifted, base, strict=True))
    linear = all(_close(float(a), 3.0 * float(b), rtol) for a, b in zip(tripled, base, strict=True))
    scales = (
        "; scaling the advantages by 3 scales the loss by 3"
        if linear
        else "; scaling the advantages by 3 does not scale the loss by 3 (a penalty or a baseline "
        "that does not scale with them)"
    )
    if ratio_only:
        return _finding(
            "scaling",
            "pass",
            "ratio only",
            "Shifting the new and old log-probabilities by the same constant leaves the loss "
            f"unchanged: it depends on the ratio π/π_old only{scales}.",
        )
    i = int(np.argmax(np.abs(shifted - base)))
    return _finding(
        "scaling",
        "fail",
        "log-probabilities",
        "Shifting the new and old log-probabilities by the same constant changes the loss: it "
        f"reads the log-probabilities themselves, not only the ratio{scales}.",
        {"loss": float(base[i]), "loss with both shifted by -2.5": float(shifted[i])},
    )


def _edges(layout: PolicyLayout) -> list[tuple[str, np.ndarray, np.ndarray]]:
    calls: list[tuple[str, np.ndarray, np.ndarray]] = []
    for u in (-1e3, -50.0, 50.0, 1e3):
        for a in (-1.0, 0.0, 1.0):
            if a < 0 and u > 700:  # the unclipped surrogate -A·ρ itself overflows there
                continue
            yt, yp = layout.uniform([u], [a])
            calls.append((f"log-ratio {u:g} at every token, advantage {a:g}", yt[0], yp[0]))
    shape = (1, layout.batch, layout.tokens)
    full = np.ones(shape)
    for a in (1.0, -1.0):
        for level in (0.0, -1e3):
            yt, yp = layout.pack(
                np.full(shape, level), np.full(shape, level), np.full((1, 2), a), full
            )
            calls.append((f"every log-probability {level:g}, advantage {a:g}", yt[0], yp[0]))
    if layout.masked:
        half = full.copy()
        half[:, 1] = 0.0
        lp = np.full(shape, -0.7)
        yt, yp = layout.pack(lp, lp - 0.1, np.array([[1.0, -1.0]]), half)
        calls.append(("the second sequence all masked", yt[0], yp[0]))
        yt, yp = layout.pack(lp, lp - 0.1, np.array([[1.0, -1.0]]), np.zeros(shape))
        calls.append(("every token masked", yt[0], yp[0]))
        for u in (1e3, -1e3):
            for a in (1.0, -1.0):
                new = np.where(half > 0, -0.7, -1.0 - max(u, 0.0) + u)
                old = np.where(half > 0, -0.8, -1.0 - max(u, 0.0))
                yt, yp = layout.pack(new, old, np.full((1, 2), a), half)
                calls.append(
                    (f"masked tokens holding log-ratio {u:g}, advantage {a:g}", yt[0], yp[0])
                )
    return calls


def finite(ctx: Context) -> Finding:
    """Finite values and gradients at extreme ratios, zero advantages, log-probabilities of 0 and
    -1e3, all-masked sequences and padding holding extreme log-ratios."""
    edges = _edges(_layout(ctx))
    return scan_edges(ctx, edges).finding(len(edges))


def nonnegative(ctx: Context) -> Finding:
    """A fact: whether the loss is non-negative (the smallest value of random batches)."""
    layout = _layout(ctx)
    rng = np.random.default_rng(29)
    logps, old, advantages = _draw(layout, rng, 16)
    values = ctx.values(*layout.pack(logps, old, advantages, _mask(layout, rng, 16)))
    smallest = float(np.nanmin(values))
    text = (
        f"The surrogate takes negative values (down to {_fmt(smallest)}): it is an objective "
        "whose gradient is the update, not a distance (at π = π_old its value is -A averaged)."
        if smallest < 0
        else f"The loss is non-negative on random batches (smallest value {_fmt(smallest)})."
    )
    return Finding("nonnegative", "no" if smallest < 0 else "yes", smallest, text)


def _ladders(ctx: Context, extreme: bool) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Every token's log-ratio moving away from 0, for each sign of the advantage."""
    layout = _layout(ctx)
    steps = (
        np.array([0.0, 1.0, 10.0, 100.0, 300.0, 600.0])
        if extreme
        else np.array([0.0, 1.0, 3.0, 10.0, 30.0, 50.0])
    )
    out = []
    for advantage in (-1.0, 1.0):
        for sign, way in ((1.0, "growing"), (-1.0, "vanishing")):
            yt, yp = layout.uniform(sign * steps, advantage)
            out.append((f"the log-ratio ({way} ratio, A = {advantage:+g})", sign * steps, yt, yp))
    return out


def lipschitz(ctx: Context) -> Finding:
    return ladder_lipschitz(ctx, _ladders(ctx, extreme=False), None)


def bounded(ctx: Context) -> Finding:
    return ladder_bounded(ctx, _ladders(ctx, extreme=True))


def convex(ctx: Context) -> Finding:
    """Midpoint convexity in the log-probabilities (old ones, advantages and mask fixed)."""
    layout = _layout(ctx)
    rng = np.random.default_rng(3)
    n = 128
    _, old, advantages = _draw(layout, rng, n)
    yt, _ = layout.pack(old, old, advantages, _mask(layout, rng, n))
    a, b = (np.log(rng.uniform(0.05, 0.95, old.shape)) for _ in range(2))
    return midpoint_convexity(ctx, yt, a, b, "the log-probabilities")


def curves(ctx: Context) -> dict[str, Any]:
    """The loss and d loss / d ρ against the ratio (every token), for A = +1 and -1."""
    out = {}
    for advantage in (1.0, -1.0):
        values, slope = _along_ratio(ctx, np.log(CURVE), advantage)
        out[f"advantage {advantage:+g}"] = (values, slope / CURVE)
    return {
        "x": CURVE,
        "xlabel": "ratio ρ = π/π_old (every token)",
        "gradient_label": "d loss / d ρ",
        "curves": out,
    }


_TRUST = "see clipping for the trust region of the ratio"

PROPERTY_FUNCTIONS = {
    "finite": finite,
    "minimum_at_target": not_applicable(
        "minimum_at_target",
        f"A policy-gradient surrogate has no target value to be minimal at ({_TRUST}).",
    ),
    "nonnegative": nonnegative,
    "proper": not_applicable(
        "proper", "Properness concerns forecasts of an outcome; a policy surrogate forecasts none."
    ),
    "link": not_applicable("link", "A policy surrogate has no link to a probability."),
    "calibrated": not_applicable(
        "calibrated", "Classification calibration concerns a 0-1 decision: not for policies."
    ),
    "canonical_link": not_applicable(
        "canonical_link",
        "The canonical-link form of the gradient is a classification property; the "
        "policy-gradient form is in policy_gradient.",
    ),
    "gradient": gradient,
    "convex": convex,
    "lipschitz": lipschitz,
    "symmetric": not_applicable(
        "symmetric", "Label-noise symmetry is a classification property: not for policies."
    ),
    "bounded": bounded,
    "elicits": not_applicable(
        "elicits", "The elicited statistic of a point forecast is checked for regression."
    ),
    "scaling": scaling,
    "decomposable": decomposable,
    "policy_gradient": policy_gradient,
    "advantage_sign": advantage_sign,
    "clipping": clipping,
    "masking": masking,
}
