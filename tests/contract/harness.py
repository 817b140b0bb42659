"""The contract suite's view of the catalogue: sample inputs per loss, and calling a loss on them.

Every registered loss has a :class:`Spec`, built from its ordinary call in ``tests/cases.py``, its
independent float64 reference (``reference_pointwise.py`` / ``reference_sets.py``), and what the
registry declares about it. From a spec the suite derives the other samples it needs: edge
inputs (:func:`edge_samples`), empty and permuted batches, a batch split in two, bad inputs.

Inputs are NumPy arrays; :func:`native` puts a sample on a backend in a dtype (float inputs take
the dtype, integer labels stay integers).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np

import losskit as lk
from cases import FACTORIES, Case
from losskit import _registry

CONTRACT_ARGUMENTS = ("sample_weight", "mask", "reduction", "normalizer")

#: Logits that break naive formulas; every one has a finite loss with a finite gradient.
EDGE_LOGITS = np.array([1e4, -1e4, 100.0, -100.0, 0.0, 30.0, -30.0, 17.0, -17.0, 1e-3])
#: Probabilities at and next to the ends of [0, 1], a subnormal one included.
EDGE_PROBABILITIES = np.array([0.0, 1.0, 1e-45, 1 - 2.0**-24, 0.5, 1e-12])
#: Log-probabilities from a nearly certain completion to a hopeless one. Each input of a
#: preference loss takes them in its own order (rolled by its position), so log-ratios and
#: margins reach ±1e3 while no two inputs cancel.
EDGE_LOG_PROBABILITIES = np.array([-1e-9, -1e3, -0.5, -30.0, -1e-3, -300.0])


#: Real-valued predictions whose loss overflows for a reason of its own at ±1e4: a log-rate
#: (exp(1e4) is inf, in any precision).
REAL_EDGE_OVERRIDES = {"poisson_nll": [80.0, -1e4, 0.0, 1.0]}


@dataclass(frozen=True)
class Spec:
    """What the suite knows about one loss."""

    name: str
    function: Callable[..., Any]
    info: _registry.LossInfo
    inputs: tuple[str, ...]  # positional parameter names, in order
    options: dict[str, Any]  # keyword-only parameters of the loss itself, with their defaults

    def case(self) -> Case:
        return FACTORIES[self.name]()

    def declares(self, promise: str) -> bool:
        return promise in self.info.contract_exceptions

    @property
    def takes_from_logits(self) -> bool:
        return "from_logits" in self.options


@cache
def spec(name: str) -> Spec:
    entry = _registry.info(name)
    parameters = inspect.signature(entry.function).parameters.values()
    inputs = tuple(p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD)
    options = {
        p.name: p.default
        for p in parameters
        if p.kind is p.KEYWORD_ONLY and p.name not in CONTRACT_ARGUMENTS
    }
    return Spec(name, entry.function, entry, inputs, options)


NAMES = lk.names()


# ----------------------------------------------------------------------------- calling
def native(backend: Any, inputs: list[np.ndarray], dtype: str) -> list[Any]:
    """The sample's inputs on ``backend``: float arrays in ``dtype``, integer arrays as int64."""
    return [backend.array(x, dtype if np.asarray(x).dtype.kind == "f" else None) for x in inputs]


def run(spec_: Spec, backend: Any, inputs: list[np.ndarray], dtype: str, **kwargs: Any) -> Any:
    return spec_.function(*native(backend, inputs, dtype), **kwargs)


def gradient(
    spec_: Spec, backend: Any, inputs: list[np.ndarray], dtype: str, index: int, **kwargs: Any
) -> np.ndarray:
    """d(loss)/d(inputs[index]) with the framework's autodiff (the loss must be a scalar)."""
    arrays = native(backend, inputs, dtype)

    def of_input(x: Any) -> Any:
        return spec_.function(*arrays[:index], x, *arrays[index + 1 :], **kwargs)

    return backend.to_numpy(backend.grad(of_input, arrays[index]))


def to_numpy(backend: Any, value: Any) -> np.ndarray:
    return np.asarray(backend.to_numpy(value), dtype=np.float64)


# ----------------------------------------------------------------------------- batches
def batch_inputs(case: Case) -> list[int]:
    """Indices of the inputs that hold one row per example (all but the shared ones)."""
    return [i for i in range(len(case.inputs)) if i not in case.shared]


def batch_size(case: Case) -> int:
    return int(np.asarray(case.inputs[batch_inputs(case)[0]]).shape[0])


def mask_length(spec_: Spec, case: Case) -> int:
    """Entries of a mask with one value per example: the batch size, or for a loss whose unreduced
    value concatenates its inputs' examples (kind ``"concatenated"``: ``kto``'s chosen, then
    rejected completions) the length of that value."""
    if spec_.info.kind == "concatenated":
        return int(np.shape(spec_.function(*case.inputs, **case.params, reduction="none"))[0])
    return batch_size(case)


def take(case: Case, rows: np.ndarray | slice) -> Case:
    """The same sample restricted (or permuted) to ``rows`` of its batch."""
    keep = set(batch_inputs(case))
    inputs = [np.asarray(x)[rows] if i in keep else x for i, x in enumerate(case.inputs)]
    return replace(case, inputs=inputs)


# ----------------------------------------------------------------------------- edges
def _cycle(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    size = int(np.prod(shape))
    return np.resize(values, size).reshape(shape)


def _edge_distribution_rows(shape: tuple[int, ...], target: np.ndarray | None) -> np.ndarray:
    """Probability rows (class axis last) at the edges: one-hot on the target, one-hot on a
    wrong class, 1 - 2^-24 with the rest on one class, a subnormal entry, uniform."""
    classes = shape[-1]
    rows = np.full(shape, 1.0 / classes)
    flat = rows.reshape(-1, classes)
    labels = None if target is None else np.asarray(target).reshape(-1)
    for r in range(flat.shape[0]):
        right = int(labels[r]) if labels is not None else 0
        wrong = (right + 1) % classes
        kind = r % 5
        if kind == 0:
            flat[r] = np.eye(classes)[right]
        elif kind == 1:
            flat[r] = np.eye(classes)[wrong]
        elif kind == 2:
            flat[r] = 0.0
            flat[r, right], flat[r, wrong] = 1 - 2.0**-24, 2.0**-24
        elif kind == 3:
            flat[r] = 0.0
            flat[r, wrong], flat[r, right] = 1.0 - 1e-45, 1e-45
    return flat.reshape(shape)


def _target_labels(case: Case, pred_shape: tuple[int, ...]) -> np.ndarray | None:
    """Class labels of an (N, ..., C) sample, from index or one-hot targets."""
    y = np.asarray(case.inputs[0])
    if y.shape == pred_shape:
        return y.argmax(-1) if y.dtype.kind == "f" else None
    if y.shape == pred_shape[:-1] and y.dtype.kind in "iu":
        return y
    return None


def edge_samples(spec_: Spec) -> list[tuple[str, Case]]:
    """Samples whose predictions sit at the edges of the loss's domain.

    Logits (``from_logits=True`` or a logit domain): ±1e4, ±100, ±30, ±17, 0, 1e-3. Probabilities:
    0, 1, subnormal, 1 - 2⁻²⁴ (rows of a distribution stay distributions). Log-probabilities:
    -1e-9 to -1e3, in a different order for each input. Real-valued
    predictions: ±1e4 and 0 (positive scales such as a variance: 1e-6 and 1e4). Embeddings: zero
    vectors and vectors of norm 1e4. Positive means: 1e-8 and 1e4. Boxes: the target itself, point,
    flat, 1e4-wide and far-away boxes. Point clouds: identical, collapsed and far-apart clouds.
    Plus a batch of one example.
    """
    base = spec_.case()
    out: list[tuple[str, Case]] = [("batch of one", take(base, slice(0, 1)))]
    domain = spec_.info.domain
    inputs = list(base.inputs)
    if spec_.takes_from_logits or domain == "logit":
        params = {**base.params, "from_logits": True} if spec_.takes_from_logits else base.params
        for i in base.differentiable:
            inputs[i] = _cycle(EDGE_LOGITS, np.shape(inputs[i]))
        out.append(("logits ±1e4", replace(base, inputs=inputs, params=params)))
        if spec_.takes_from_logits and domain == "probability":
            out.append(_probability_edges(spec_, base))
        return out
    if domain == "embedding":
        for i in base.differentiable:
            x = np.array(inputs[i], dtype=float)
            x[0::2] = 0.0
            x[1::2] *= 1e4 / np.linalg.norm(x[1::2], axis=-1, keepdims=True)
            inputs[i] = x
        out.append(("zero and 1e4-norm embeddings", replace(base, inputs=inputs)))
        return out
    if domain == "point_cloud":
        inputs[1] = _edge_clouds(np.asarray(inputs[0], dtype=float))
        out.append(("identical, collapsed and 1e3-apart clouds", replace(base, inputs=inputs)))
        return out
    if domain == "log_probability":
        for shift, i in enumerate(base.differentiable):
            inputs[i] = _cycle(np.roll(EDGE_LOG_PROBABILITIES, shift), np.shape(inputs[i]))
        out.append(("log-probabilities -1e-9 to -1e3", replace(base, inputs=inputs)))
        return out
    if domain == "box":
        inputs[1] = _edge_boxes(np.asarray(inputs[0], dtype=float), np.shape(inputs[1]))
        out.append(
            ("boxes: identical, point, flat, 1e4-wide, 1e4 away", replace(base, inputs=inputs))
        )
        return out
    if domain in ("positive", "non-negative"):
        low = 1e-8 if domain == "positive" else 0.0
        for i in base.differentiable:
            inputs[i] = _cycle(np.array([low, 1e4, 1.0]), np.shape(inputs[i]))
        out.append((f"means {low:g} and 1e4", replace(base, inputs=inputs)))
        return out
    for i in base.differentiable:  # a scale (variance, sigma, distance) stays positive
        positive = bool(np.all(np.asarray(inputs[i]) >= 0))
        edges = [1e-6, 1e4, 1.0] if positive else [1e4, -1e4, 0.0, 1.0]
        edges = REAL_EDGE_OVERRIDES.get(spec_.name, edges)
        inputs[i] = _cycle(np.array(edges), np.shape(inputs[i]))
    out.append(("predictions ±1e4, scales 1e-6 and 1e4", replace(base, inputs=inputs)))
    return out


def _edge_clouds(target: np.ndarray) -> np.ndarray:
    """Predicted point clouds ``(B, M, D)`` at the edges, cloud by cloud against the target's:
    the target itself (a divergence of exactly 0, every point on a point of the other cloud),
    every point on the target's first point, and the target moved 1e3 away in every coordinate."""
    edges = [lambda t: t, lambda t: np.broadcast_to(t[:1], t.shape), lambda t: t + 1e3]
    return np.stack([edges[k % len(edges)](t) for k, t in enumerate(target)])


def _edge_boxes(target: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Predicted boxes ``(x1, y1, x2, y2)`` at the edges, row by row against the target: the
    target itself, a point box at its corner, a zero-height and a zero-width box across it, a
    box 2e4 wide around it, and a box 1e4 away."""
    t = np.broadcast_to(target, shape).reshape(-1, 4)
    edges = [
        lambda b: b,
        lambda b: np.array([b[0], b[1], b[0], b[1]]),
        lambda b: np.array([b[0] - 1.0, b[1] + 0.5, b[2] + 1.0, b[1] + 0.5]),
        lambda b: np.array([b[0] + 0.5, b[1] - 1.0, b[0] + 0.5, b[3] + 1.0]),
        lambda b: np.array([-1e4, -1e4, 1e4, 1e4]),
        lambda b: b + 1e4,
    ]
    rows = [edges[r % len(edges)](t[r]) for r in range(t.shape[0])]
    return np.array(rows, dtype=float).reshape(shape)


def _probability_edges(spec_: Spec, base: Case) -> tuple[str, Case]:
    inputs = list(base.inputs)
    for i in base.differentiable:
        shape = np.shape(inputs[i])
        if spec_.info.kind == "elementwise" and spec_.name != "brier":
            inputs[i] = _cycle(EDGE_PROBABILITIES, shape)
        else:
            inputs[i] = _edge_distribution_rows(shape, _target_labels(base, shape))
    params = {**base.params, "from_logits": False}
    return ("probabilities 0, 1, subnormal", replace(base, inputs=inputs, params=params))


# ----------------------------------------------------------------------------- options
#: Annotations of an optional float option (strings under ``from __future__ import annotations``).
_OPTIONAL_FLOAT = ("float | None", "Optional[float]", "None | float")


def option_kinds(spec_: Spec) -> dict[str, str]:
    """Each keyword option's kind from its default: bool, int, float, str, or other. An option
    annotated ``float | None`` with the default None (such as ``softcap``) counts as a float:
    None is its "off" value, and a bad number must still be refused."""
    kinds = {}
    parameters = inspect.signature(spec_.function).parameters
    for key, default in spec_.options.items():
        if default is None and str(parameters[key].annotation) in _OPTIONAL_FLOAT:
            kinds[key] = "float"
        elif isinstance(default, bool):
            kinds[key] = "bool"
        elif isinstance(default, int):
            kinds[key] = "int"
        elif isinstance(default, float):
            kinds[key] = "float"
        elif isinstance(default, str):
            kinds[key] = "str"
        else:
            kinds[key] = "other"
    return kinds
