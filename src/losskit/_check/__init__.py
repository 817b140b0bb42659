"""The property checker: ``lk.check(loss, task=...)``.

Modules:

* ``_adapt``: the loss under test (``Subject``), one ``Engine`` per array library (conversion,
  autodiff; NumPy: float64 finite differences) and the ``Evaluator`` that runs many independent
  calls at once (``reduction="none"``, ``vmap``, or a loop; JAX/TF compiled per padded shape);
* ``_problem``: the task's array layout and the prediction domain; ``_llm``: the layouts of the
  language-model tasks and the adapters that call their losses;
* ``_optimize``: vectorised NumPy minimisers (golden section, compass search on the simplex);
* ``_context``: what the property functions share;
* ``_properties`` (the loss as a function, and the registry), ``_proper`` (minima, properness,
  link, calibration, canonical link, symmetry), ``_elicit`` (regression statistics, scaling);
* ``_preference``, ``_policy``, ``_distillation``: the properties of the language-model tasks
  (gathered by ``_llm_properties``);
* ``_report``: ``Report`` and ``Finding``, text / Markdown / HTML;
* ``_plots``: the figures (matplotlib, imported lazily).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import validation
from . import _llm, _llm_properties, _properties
from ._adapt import (
    BACKENDS,
    FRAMEWORKS,
    Engine,
    Evaluator,
    Subject,
    installed,
    library_of,
    make_engine,
)
from ._adapt import quiet as _quiet
from ._adapt import resolve as _resolve
from ._problem import LM_TASKS, MODES, TASKS, Problem, domain_for
from ._report import PROPERTIES, REQUIREMENTS, TASK_PROPERTIES, Finding, Report

__all__ = [
    "PROPERTIES",
    "REQUIREMENTS",
    "TASK_PROPERTIES",
    "Finding",
    "Report",
    "Session",
    "check",
    "prepare",
    "session_data",
]


@dataclass
class Session:
    """A loss made ready for probing: the subject, its backend, the problem, an evaluator."""

    subject: Subject
    engine: Engine
    problem: Problem | _llm.Layout
    evaluator: Evaluator
    from_logits: bool
    seed: int
    probe: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def context(self) -> _properties.Context:
        return _properties.Context(
            subject=self.subject,
            engine=self.engine,
            problem=self.problem,
            ev=self.evaluator,
            rng=np.random.default_rng(self.seed),
            notes=self.notes,
        )


def _check_arguments(task: Any, backend: Any, from_logits: Any, seed: Any) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(map(repr, TASKS))}; got {task!r}")
    if backend not in BACKENDS:
        raise ValueError(
            f"backend must be one of {', '.join(map(repr, BACKENDS))}; got {backend!r}"
        )
    if not isinstance(from_logits, bool):
        raise TypeError(f"from_logits must be True or False; got {from_logits!r}")
    if from_logits and task in LM_TASKS:
        raise ValueError(
            f"from_logits does not apply to task={task!r}: its losses take log-probabilities "
            "(distillation: logits) as they are"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an integer; got {seed!r}")


def _kwargs_candidates(subject: Subject, task: str, from_logits: bool) -> list[dict[str, Any]]:
    """The keyword arguments to try: from_logits when the loss has it, the task's mode."""
    base: dict[str, Any] = {}
    if from_logits and "from_logits" in subject.parameters:
        base["from_logits"] = True
    if "mode" in subject.parameters and task in MODES:
        options = [MODES[task]] + (["binary"] if task == "multilabel" else [])
        return [{**base, "mode": m} for m in options] + [base]
    return [base]


def _variants(task: str) -> list[dict[str, bool]]:
    """Target formats to try: one-hot then class indices; any then positive regression
    targets."""
    if task == "multiclass":
        return [{"sparse": False}, {"sparse": True}]
    if task == "regression":
        return [{"positive_targets": False}, {"positive_targets": True}]
    return [{}]


def _setups(
    subject: Subject, task: str, from_logits: bool, engine: Engine
) -> Iterator[tuple[Subject, Problem | _llm.Layout]]:
    """The ways to call the loss, in the order they are tried: keyword arguments and target
    formats (classic tasks), or the language-model adapters and layouts."""
    if task in LM_TASKS:
        yield from _llm.setups(subject, task, engine)
        return
    domain = domain_for(task, from_logits, subject.info)
    for kwargs in _kwargs_candidates(subject, task, from_logits):
        subject.kwargs = kwargs
        for variant in _variants(task):
            problem = Problem(
                task,
                domain,
                sparse=variant.get("sparse", False),
                positive_targets=variant.get("positive_targets", False),
            )
            yield subject, problem


def _short_error(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > 160:
        first = first[:157] + "..."
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def _probe(
    subject: Subject, engine: Engine, problem: Problem | _llm.Layout, seed: int
) -> dict[str, Any]:
    """Call the loss once on a typical batch; raise if the result is unusable here."""
    y, p = problem.typical(np.random.default_rng(seed), 6)
    out = subject.call(engine.asarray(y), engine.asarray(p))
    if not engine.is_native(out):
        kind = "a NumPy array or number" if engine.name == "numpy" else f"a {engine.name} array"
        raise TypeError(f"returned {type(out).__name__}, not {kind}")
    try:
        arr = engine.to_numpy(out)
    except Exception as error:
        raise TypeError(f"returned {type(out).__name__}, which is not numeric") from error
    if arr.size == 0:
        raise ValueError("returned an empty array")
    scalarise = arr.ndim > 0
    ev = Evaluator(subject, engine, scalarise=scalarise)
    if engine.autodiff:
        _, grad = ev.value_and_grad(y, p)
        if grad.shape != p.shape:
            raise ValueError(f"gradient of shape {grad.shape} for y_pred of shape {p.shape}")
    return {"y_true": y, "y_pred": p, "shape": tuple(arr.shape), "evaluator": ev}


def _backends(subject: Subject, prefer_numpy: bool) -> list[str]:
    """The backends ``backend="auto"`` tries, in order.

    A losskit loss runs on every library: the installed frameworks, then NumPy (NumPy first
    with ``prefer_numpy``). A plain function runs on the library its code uses only (NumPy, or
    one framework), so that a NumPy function never meets a framework's tensors and no framework
    is imported for it; a function that names no library (operators and methods only) tries
    NumPy first, then the frameworks.
    """
    frameworks = [n for n in FRAMEWORKS if installed(n)]
    if subject.info is not None or subject.wrapped:
        return ["numpy", *frameworks] if prefer_numpy else [*frameworks, "numpy"]
    library = library_of(subject.function if subject.original is None else subject.original)
    if library is not None:
        return [library]
    return ["numpy", *frameworks]


def prepare(
    loss: Any,
    *,
    task: str,
    from_logits: bool = False,
    backend: str = "auto",
    seed: int = 0,
    prefer_numpy: bool = False,
) -> Session:
    """Resolve ``loss``, choose its backend and target format, and return a :class:`Session`.

    ``backend="auto"`` tries the backends of :func:`_backends`: for a losskit loss torch, jax
    and tensorflow (those installed) in that order, then NumPy (``prefer_numpy`` puts NumPy
    first: the plots use it, no framework import, finite-difference gradients); for a plain
    function the library its code uses.
    """
    _check_arguments(task, backend, from_logits, seed)
    subject = _resolve(loss)
    names = _backends(subject, prefer_numpy) if backend == "auto" else [backend]
    errors: list[str] = []
    for name in names:
        if not installed(name):
            errors.append(f"{name}: not installed")
            continue
        try:
            engine = make_engine(name)
        except Exception as error:  # an installed framework that fails to import
            errors.append(f"{name}: {_short_error(error)}")
            continue
        failure = ""
        for candidate, problem in _setups(subject, task, from_logits, engine):
            for dtype in ("float64", "float32"):
                engine.dtype = dtype
                try:
                    with engine.context(), _quiet():
                        probe = _probe(candidate, engine, problem, seed)
                except Exception as error:
                    failure = failure or _short_error(error)
                    continue
                notes = []
                if dtype == "float32":
                    notes.append(
                        "The loss fails in float64 on this backend; it was checked in "
                        "float32 with looser tolerances."
                    )
                ev = probe["evaluator"]
                lower, upper = problem.bounds
                ev.lower, ev.upper = lower, upper
                ev.relative_steps = getattr(problem, "relative_steps", False)
                if ev.scalarise:
                    notes.append(
                        f"The loss returned shape {probe['shape']} for a batch; the other "
                        "properties use its mean."
                    )
                return Session(candidate, engine, problem, ev, from_logits, seed, probe, notes)
        errors.append(f"{name}: {failure or 'no way to call it for this task'}")
    tried = "; ".join(errors)
    signature = _llm.SIGNATURES.get(task, "f(y_true, y_pred)")
    raise TypeError(
        f"loss {subject.name!r} could not be called as {signature} for task={task!r} "
        f"on {'any backend' if backend == 'auto' else f'backend={backend!r}'} ({tried})"
    )


def session_data(
    loss: Any,
    compute: Any,
    *,
    task: str,
    from_logits: bool = False,
    backend: str = "auto",
    seed: int = 0,
) -> tuple[str, Any]:
    """``compute(context)`` for one loss (what the plots draw): its label and the result.

    A losskit loss runs on NumPy (float64, finite-difference gradients) when ``backend`` is
    ``"auto"``: no framework import for a plot.
    """
    session = prepare(
        loss, task=task, from_logits=from_logits, backend=backend, seed=seed, prefer_numpy=True
    )
    with session.engine.context(), validation(False), _quiet():
        value = compute(session.context())
    return session.subject.name, value


def check(
    loss: Any,
    *,
    task: str,
    from_logits: bool = False,
    backend: str = "auto",
    seed: int = 0,
) -> Report:
    """Check a loss's properties numerically and return a :class:`Report`.

    ``loss`` is a registered name, a losskit function, an ``@lk.loss`` function, an ``lk.Loss``
    object, or a plain function ``f(y_true, y_pred)`` in NumPy, PyTorch, JAX or TensorFlow that
    returns a scalar (arguments in that order: wrap a torch module as
    ``lambda y, p: module(p, y)``). ``task`` is ``"binary"``, ``"multiclass"``,
    ``"multilabel"``, ``"regression"``, ``"segmentation"``, or one of the language-model tasks
    ``"preference"``, ``"policy"`` and ``"distillation"`` (below). Classification losses receive
    probabilities unless ``from_logits=True`` (a loss with a ``from_logits`` parameter gets
    ``from_logits=True``; any other function receives logits); a registered loss whose
    registered domain is real-valued scores, such as the hinge, receives scores (decision
    threshold 0). A loss with a ``mode`` parameter (Brier, Dice, ...) gets the task's mode.
    ``backend="auto"`` runs a plain function on the library its code uses (NumPy, with float64
    finite differences, or the one framework it names; a function that names none tries NumPy
    first, then the frameworks), and a losskit loss on the first of torch, jax and tensorflow
    it works with (and differentiates), or NumPy; ``seed`` draws the random batches. Losses
    are checked in float64 (in float32, with looser tolerances, if they fail in float64); JAX
    runs with 64-bit types enabled for the check's duration only.

    Every report holds all properties, in this order: ``scalar``, ``finite``,
    ``minimum_at_target``, ``nonnegative``, ``proper``, ``link``, ``calibrated``,
    ``canonical_link``, ``gradient``, ``convex``, ``lipschitz``, ``symmetric``, ``bounded``,
    ``elicits``, ``scaling``, ``decomposable`` (``losskit._check.PROPERTIES``). None is
    omitted: a property that does not apply has verdict ``"info"`` and a sentence saying why.
    The requirements (``scalar``, ``finite``, ``minimum_at_target``, ``gradient``, and the
    language-model tasks' ``direction``, ``policy_gradient``, ``advantage_sign``, ``clipping``,
    ``masking``, ``teacher_gradient``: ``losskit._check.REQUIREMENTS``) have verdict ``"pass"`` or
    ``"fail"``; every other property is a fact about the loss, ``"yes"`` or ``"no"`` with its
    measured value (an unbounded or improper loss is not a broken one).

    * always information: ``link`` (the recovered link's name), ``elicits``; ``nonnegative`` is
      ``"yes"`` or ``"no"`` with the smallest value (the regret form when the minimum is not 0);
    * regression: ``proper``, ``link``, ``calibrated`` do not apply; ``canonical_link`` and
      ``symmetric`` report a measurement as information (gradient ∝ y_pred - y; residual
      symmetry); ``elicits`` names the statistic (``"mean"``, ``"median"``,
      ``"quantile(0.9)"``, ``"expectile(0.9)"`` or ``"none"``); ``scaling`` is translation and
      scale equivariance of the minimiser;
    * segmentation: ``proper``, ``link``, ``calibrated``, ``canonical_link``, ``symmetric``,
      ``elicits`` do not apply; ``scaling`` is independence of the image resolution;
    * classification: ``elicits`` and ``scaling`` do not apply; ``canonical_link`` does not
      apply to scores (no known link);
    * the NumPy backend: ``gradient`` does not apply (no autodiff to compare).

    The language-model tasks call the loss with their own inputs and report task-specific
    properties after the shared ones (``losskit._check.TASK_PROPERTIES``):

    * ``"preference"``: ``f(chosen_logps, rejected_logps, ref_chosen_logps,
      ref_rejected_logps)`` or ``f(chosen_logps, rejected_logps)`` (``dpo``, ``kto`` with
      ``kl=0``, ``orpo``, ``simpo``, ``cpo``), one pair per sample. ``direction``: every step
      raises the chosen completion's log-probability and lowers the rejected one's, or where it
      stops; ``minimum_at_target``: the margin ``δ = (c - c_ref) - (r - r_ref)`` minimising a
      pair's loss (``+inf`` for DPO, ``1/(2β)`` for IPO) and the implicit reward margin ``β·δ``;
      ``proper``, ``link``, ``calibrated``: the Bradley-Terry view, labels right with
      probability η (DPO's minimiser is ``logit(η)/β``); ``symmetric``: ``ℓ(δ) + ℓ(-δ)``
      constant; ``scaling``: the loss depends on the log-ratios (and on the margin) only;
      ``finite``: log-ratios of ±1e3, log-probabilities of -1e-9 and 0, epsilon floors.
    * ``"policy"``: ``f(logps, old_logps, advantages, mask=...)`` (``grpo``), per-token
      log-probabilities ``(B, T)``. ``policy_gradient`` (at ``π = π_old`` the gradient is
      ``-A·w`` per token; the normalisation ``w`` is named), ``advantage_sign``, ``clipping``
      (the trust region ``[1 - ε_low, 1 + ε_high]``, found numerically), ``masking``;
      ``scaling``: the loss depends on the ratio only.
    * ``"distillation"``: ``f(teacher_logits, student_logits)`` with the classes last
      (``generalized_jsd``, ``distillation_kl``; ``linear_distillation`` gets the logits as
      hidden states of identity heads). ``minimum_at_target``: 0 with a zero gradient at
      ``student = teacher``; ``teacher_gradient``: the teacher is a constant; ``proper`` and
      ``elicits``: the student minimising the expected loss over random teachers (forward KL:
      their mean); ``canonical_link``: ``d loss/d z_s ∝ softmax(z_s) - softmax(z_t)``;
      ``symmetric``: in teacher and student; ``scaling``: invariance to a constant added to a
      row of logits; ``finite``: logits of ±1e4 and ``-inf`` (a masked vocabulary entry).

    Properties without a meaning for a task (``elicits`` for preferences, ``link`` for
    distillation, ...) have verdict ``"info"`` and say why; ``from_logits`` does not apply to
    these tasks.

    >>> import numpy as np, losskit as lk
    >>> def squared(y_true, y_pred):
    ...     return np.mean((y_pred - y_true) ** 2)
    >>> report = lk.check(squared, task="regression", backend="numpy")
    >>> report["elicits"].value, report["convex"].verdict, report["bounded"].verdict
    ('mean', 'yes', 'no')
    >>> report["scalar"].value
    'mean'
    >>> report = lk.check(lk.Loss("dpo", variant="ipo", beta=0.1), task="preference",
    ...                   backend="numpy")
    >>> round(report["minimum_at_target"].value, 6)  # IPO's target margin 1/(2β)
    5.0
    >>> report["link"].value
    '(2η - 1)/(2β) (β = 0.1)'
    """
    start = time.perf_counter()
    session = prepare(loss, task=task, from_logits=from_logits, backend=backend, seed=seed)
    findings: dict[str, Finding] = {}
    functions = (
        _llm_properties.PROPERTY_FUNCTIONS[task]
        if task in LM_TASKS
        else _properties.PROPERTY_FUNCTIONS
    )
    with session.engine.context(), validation(False), _quiet():
        ctx = session.context()
        findings["scalar"] = _properties.scalar(ctx, session.probe)
        for name, function in functions.items():
            try:
                findings[name] = function(ctx)
            except Exception as error:  # one property's failure does not hide the others
                findings[name] = Finding(
                    name,
                    "fail",
                    "error",
                    f"The check could not evaluate the loss here: {_short_error(error)}.",
                    {"error": _short_error(error)},
                )
        try:
            curves = _properties.loss_curves(ctx)
        except Exception:
            curves = {}
    return Report(
        loss_name=session.subject.name,
        task=task,
        backend=session.engine.name,
        findings=findings,
        domain=session.problem.describe(),
        from_logits=from_logits,
        dtype=session.engine.dtype,
        seconds=time.perf_counter() - start,
        notes=session.notes,
        curves=curves,
    )
