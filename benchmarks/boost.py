"""Gradient boosting with a losskit objective against the library's built-in objective.

    python -m benchmarks.boost [--quick] [--only xgboost,lightgbm,catboost] [--repeats 5]
                               [--json PATH]

One step is a whole training run: ``ROUNDS`` boosting rounds on ``ROWS × FEATURES`` float32
features (a linear signal plus noise: a real target for squared error, a 0/1 target drawn from
its sigmoid for binary cross-entropy), depth-6 trees, the library's histogram method on every
core. The two sides grow the same trees: the same data, rounds and starting margin (``base_score``
/ ``init_score`` / ``baseline`` from ``objective.init_score``), and where losskit's derivatives
are a multiple of the built-in's (squared error: ``2(p − y)`` and 2 against ``p − y`` and 1) the
built-in's L2 penalty and minimum child Hessian are scaled to match. Before timing, both models
must predict the same margins (relative difference below 1e-4).

Rows: ``lk.boost.objective`` (closed form: one NumPy pass per round) and the autodiff path,
forced with an ``@lk.loss`` formula of the same loss (no closed form: differentiated by PyTorch
``torch.func``, or JAX when ``losskit.boost._autodiff.ENGINES`` is narrowed to it). Timing
alternates the two sides (built-in first on even rounds, losskit first on odd ones) after one
warm-up run of each; the ratio is the median of the per-pair ratios (:mod:`benchmarks._timing`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

import losskit as lk

from ._report import duration, load_average
from ._suite import ON, Case
from ._timing import Timing

ROWS, FEATURES, ROUNDS = 200_000, 20, 100
QUICK_SIZE = (2_000, 20, 5)
LIBRARIES = ("xgboost", "lightgbm", "catboost")
DEPTH = 6
#: Rounds of the warm-up pair (which also checks that the two models agree).
WARM_ROUNDS = 10
#: losskit's paths (``numpy``: a hand-written NumPy objective, the floor any custom objective
#: pays for the library's custom-objective protocol).
PATHS = ("closed", "torch", "jax", "numpy")
#: Threads per library (``--threads``; every core by default).
THREADS = os.cpu_count() or 1
#: Registered names of the autodiff-only formulas (removed from the registry after use).
USER_SQUARED, USER_LOGISTIC = "bench_boost_squared_error", "bench_boost_logistic"

Size = tuple[int, int, int]
Train = Callable[[], Any]
#: A training run's two sides (each returns the trained model) and the model's training margins.
Pair = tuple[Train, Train, Callable[[Any], np.ndarray]]


# ---------------------------------------------------------------------- data and losses
def make_data(task: str, size: Size, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features and a target: ``"mse"`` real, ``"bce"`` 0/1."""
    rows, features, _ = size
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    signal = x @ rng.normal(size=features) / np.sqrt(features) + 0.5 * np.sin(3.0 * x[:, 0])
    if task == "mse":
        return x, (signal + 0.3 * rng.normal(size=rows)).astype(np.float32)
    return x, (rng.random(rows) < 1.0 / (1.0 + np.exp(-2.0 * signal))).astype(np.float32)


@contextlib.contextmanager
def autodiff_losses() -> Iterator[dict[str, Any]]:
    """Squared error and the logistic loss of a logit as ``@lk.loss`` formulas: no closed form,
    so their objectives are differentiated automatically. Registered for the block only."""
    from losskit import _registry

    convex = {"convex": True}  # in the margin: the exact Hessian, as the catalogue's losses

    @lk.loss(name=USER_SQUARED, replace=True, properties=convex)
    def squared(y_true: Any, y_pred: Any, *, xp: Any) -> Any:
        return (y_pred - y_true) ** 2

    @lk.loss(name=USER_LOGISTIC, replace=True, properties=convex)
    def logistic(y_true: Any, y_pred: Any, *, xp: Any) -> Any:
        return lk.ops.softplus(y_pred) - y_true * y_pred  # the margin is the logit

    try:
        yield {"mse": squared, "bce": logistic}
    finally:
        for name in (USER_SQUARED, USER_LOGISTIC):
            _registry._remove(name)


@contextlib.contextmanager
def engine(name: str) -> Iterator[None]:
    """Autodiff with ``name`` only (``_autodiff.ENGINES`` narrowed for the block); PyTorch on
    ``THREADS`` intra-op threads, as the boosting library (on a loaded 2-core machine its
    default of one thread per core, next to the library's own, was 12 times slower)."""
    from losskit.boost import _autodiff

    saved = _autodiff.ENGINES
    _autodiff.ENGINES = (name,)
    threads = None
    if name == "torch":
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(THREADS)
    try:
        yield
    finally:
        _autodiff.ENGINES = saved
        if threads is not None:
            import torch

            torch.set_num_threads(threads)


def losskit_objective(task: str, library: str, user: dict[str, Any] | None) -> Any:
    """``lk.boost.objective`` of the catalogue loss, or of its ``@lk.loss`` formula."""
    if user is not None:
        return lk.boost.objective(user[task], library=library)
    name = "mean_squared_error" if task == "mse" else "binary_crossentropy"
    return lk.boost.objective(name, library=library)


class HandWritten:
    """The textbook custom objective in a few NumPy lines (``2(p − y), 2`` for squared error,
    ``σ(m) − y, σ(1 − σ)`` for the logistic loss), starting from losskit's ``init_score``: what
    the library's custom-objective protocol costs with the least work per round."""

    def __init__(self, task: str, library: str) -> None:
        self.task, self.init_score = task, losskit_objective(task, library, None).init_score

    def gradients(self, y: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.task == "mse":
            return 2.0 * (m - y), np.full_like(m, 2.0)
        p = 1.0 / (1.0 + np.exp(-m))
        return p - y, p * (1.0 - p)

    def __call__(self, predictions: np.ndarray, data: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.gradients(data.get_label(), predictions)


# ---------------------------------------------------------------------- training runs
def xgboost_pair(task: str, size: Size, objective: Any) -> Pair:
    """Built-in and losskit training runs with XGBoost; each returns the training margins."""
    import xgboost as xgb

    x, y = make_data(task, size)
    start = float(objective.init_score(y))
    common = {"tree_method": "hist", "max_depth": DEPTH, "eta": 0.3, "nthread": THREADS}
    if task == "mse":  # reg:squarederror's derivatives are half of 2(p - y), 2
        native = {"objective": "reg:squarederror", "base_score": start}
        ours = {"lambda": 2.0, "min_child_weight": 2.0, "base_score": start}
    else:  # binary:logistic takes base_score as a probability
        native = {"objective": "binary:logistic", "base_score": 1.0 / (1.0 + np.exp(-start))}
        ours = {"base_score": start}
    rounds = size[2]
    dtrain = xgb.DMatrix(x, label=y)

    def built_in() -> Any:
        return xgb.train({**common, **native}, dtrain, rounds)

    def losskit() -> Any:
        return xgb.train({**common, **ours}, dtrain, rounds, obj=objective)

    def margins(booster: Any) -> np.ndarray:
        return np.asarray(booster.predict(dtrain, output_margin=True))

    return built_in, losskit, margins


def lightgbm_pair(task: str, size: Size, objective: Any) -> Pair:
    """Built-in and losskit training runs with LightGBM (``init_score`` on both sides)."""
    import lightgbm as lgb

    x, y = make_data(task, size)
    init = np.full(len(y), float(objective.init_score(y)))
    common = {
        "max_depth": DEPTH,
        "num_leaves": 2**DEPTH,
        "learning_rate": 0.3,
        "num_threads": THREADS,
        "force_row_wise": True,
        "deterministic": True,
        "verbose": -1,
    }
    if task == "mse":  # "regression" uses p - y and 1: its Hessian-unit settings are halved
        native = {"objective": "regression", "lambda_l2": 1.0, "min_sum_hessian_in_leaf": 1e-3}
        ours = {"lambda_l2": 2.0, "min_sum_hessian_in_leaf": 2e-3}
    else:
        native = {"objective": "binary"}
        ours = {}
    rounds = size[2]
    data = lgb.Dataset(x, label=y, init_score=init, free_raw_data=False).construct()

    def built_in() -> Any:
        return lgb.train({**common, **native}, data, rounds)

    def losskit() -> Any:
        return lgb.train({**common, **ours, "objective": objective}, data, rounds)

    def margins(booster: Any) -> np.ndarray:
        return np.asarray(booster.predict(x, raw_score=True)) + init

    return built_in, losskit, margins


def catboost_pair(task: str, size: Size, objective: Any) -> Pair:
    """Built-in (RMSE, Logloss) and losskit training runs with CatBoost (Newton leaves, no
    bootstrap or random strength, the same ``baseline``)."""
    import catboost as cb

    x, y = make_data(task, size)
    start = float(objective.init_score(y))
    pool = cb.Pool(x, y, baseline=np.full(len(y), start))
    common = {
        "iterations": size[2],
        "depth": DEPTH,
        "learning_rate": 0.3,
        "leaf_estimation_method": "Newton",
        "leaf_estimation_iterations": 1,
        "bootstrap_type": "No",
        "random_strength": 0.0,
        "boost_from_average": False,
        "thread_count": THREADS,
        "verbose": False,
        "allow_writing_files": False,
    }
    if task == "mse":  # RMSE's derivatives are half of ours; CatBoost's Newton leaf is
        # scale-free only without its L2 term (also applied, unscaled, to the split scores)
        native = {"loss_function": "RMSE", "l2_leaf_reg": 0.0}
        ours = {"l2_leaf_reg": 0.0}
    else:
        native = {"loss_function": "Logloss", "l2_leaf_reg": 3.0}
        ours = {"l2_leaf_reg": 3.0}
    metric = "RMSE" if task == "mse" else "Logloss"

    def built_in() -> Any:
        return cb.CatBoost({**common, **native}).fit(pool)

    def losskit() -> Any:
        params = {**common, **ours, "loss_function": objective, "eval_metric": metric}
        return cb.CatBoost(params).fit(pool)

    def margins(model: Any) -> np.ndarray:
        return np.asarray(model.predict(pool, prediction_type="RawFormulaVal"))

    return built_in, losskit, margins


PAIRS = {"xgboost": xgboost_pair, "lightgbm": lightgbm_pair, "catboost": catboost_pair}
NATIVE = {
    "xgboost": {"mse": "reg:squarederror", "bce": "binary:logistic"},
    "lightgbm": {"mse": "regression", "bce": "binary"},
    "catboost": {"mse": "RMSE", "bce": "Logloss"},
}


# ---------------------------------------------------------------------- measurement
@dataclass(frozen=True)
class Result:
    """One measured pair: the library, the loss, which losskit path, the timing and how far
    the two models' margins are apart."""

    library: str
    loss: str
    path: str
    size: str
    native: str
    difference: float
    timing: Timing
    cpu: Timing


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(a))), 1e-12))


def paired(native: Train, ours: Train, repeats: int, warm: Pair) -> tuple[Timing, Timing, float]:
    """One warm-up run of each side of ``warm`` (the same pair with at most ``WARM_ROUNDS``
    rounds: imports, JIT compilation, the libraries' data preparation), then ``repeats`` pairs
    of training runs (no prediction) in alternating order. Returns the wall-time and the
    CPU-time timings (the process's CPU seconds: with one thread per library, what other
    processes on a shared machine change least) and the margins' relative difference from the
    warm-up models."""
    difference = relative_difference(warm[2](warm[0]()), warm[2](warm[1]()))
    wall: dict[str, list[float]] = {"native": [], "ours": []}
    cpu: dict[str, list[float]] = {"native": [], "ours": []}
    steps = {"native": native, "ours": ours}
    for round_ in range(repeats):
        order = ("native", "ours") if round_ % 2 == 0 else ("ours", "native")
        for side in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            steps[side]()
            cpu[side].append(time.process_time() - start_cpu)
            wall[side].append(time.perf_counter() - start)
    return _timing(wall, repeats), _timing(cpu, repeats), difference


def _timing(times: dict[str, list[float]], repeats: int) -> Timing:
    ratios = [b / a for a, b in zip(times["native"], times["ours"], strict=True)]
    return Timing(
        native_s=statistics.median(times["native"]),
        losskit_s=statistics.median(times["ours"]),
        ratio=statistics.median(ratios),
        repeats=repeats,
        number=1,
        native_samples=tuple(times["native"]),
        losskit_samples=tuple(times["ours"]),
    )


def paths(library: str, wanted: Sequence[str] = PATHS) -> list[tuple[str, str]]:
    """``(label, path)`` of the ``wanted`` paths that are installed; autodiff and the
    hand-written objective on XGBoost and LightGBM only (CatBoost is timed with the closed
    form)."""
    out: list[tuple[str, str]] = []
    if "closed" in wanted:
        out.append(("closed form", "closed"))
    if library != "catboost":
        for name in ("torch", "jax"):
            if name in wanted and importlib.util.find_spec(name) is not None:
                out.append((f"autodiff ({name})", name))
        if "numpy" in wanted:
            out.append(("hand-written NumPy", "numpy"))
    return out


def measure(
    library: str, size: Size, repeats: int, wanted: Sequence[str] = PATHS
) -> Iterator[Result]:
    """Every loss and wanted path of ``library``."""
    label = f"{size[0]}x{size[1]}, {size[2]} rounds"
    short = (size[0], size[1], min(size[2], WARM_ROUNDS))
    for task in ("mse", "bce"):
        for path, key in paths(library, wanted):
            with contextlib.ExitStack() as stack:
                user = None
                if key in ("torch", "jax"):
                    user = stack.enter_context(autodiff_losses())
                    stack.enter_context(engine(key))
                objective: Any = losskit_objective(task, library, user)
                if key == "numpy":
                    objective = HandWritten(task, library)
                native, ours, _ = PAIRS[library](task, size, objective)
                warm = PAIRS[library](task, short, objective)
                timing, cpu, difference = paired(native, ours, repeats, warm)
            if difference > 1e-4:
                raise AssertionError(
                    f"{library} {task} ({path}): the models differ (relative {difference:.2e})"
                )
            native_name = NATIVE[library][task]
            yield Result(library, task, path, label, native_name, difference, timing, cpu)


def _available(libraries: Sequence[str]) -> list[str]:
    return [name for name in libraries if importlib.util.find_spec(name) is not None]


# ---------------------------------------------------------------------- the suite's cases
def cases(quick: bool) -> Iterator[Case]:
    """Cases for ``python -m benchmarks``, timed here: XGBoost and LightGBM with the closed
    form, one thread per library (as ``docs/benchmarks.md``'s numbers: on a shared machine
    several OpenMP threads per library measure the contention), 3 pairs of whole training runs
    (84 s on 2 cores at load 5; 1 pair of tiny runs, 3 s, with ``--quick``). The autodiff,
    hand-written and CatBoost rows: ``python -m benchmarks.boost``."""
    global THREADS
    size = QUICK_SIZE if quick else (ROWS, FEATURES, ROUNDS)
    libraries = _available(("xgboost", "lightgbm"))
    if not libraries:
        raise ImportError("neither xgboost nor lightgbm is installed")
    threads, THREADS = THREADS, 1
    try:
        results = [
            r
            for library in libraries
            for r in measure(library, size, 1 if quick else 3, ("closed",))
        ]
    finally:
        THREADS = threads
    for r in results:
        loss = {"mse": "MSE", "bce": "binary CE"}[r.loss] + f" ({r.path})"
        yield Case(
            f"boost {r.library}", loss, r.size, r.native, ON, _unused, _unused, float, r.timing
        )


def _unused() -> None:
    raise AssertionError("timed in benchmarks.boost")


def versions() -> dict[str, str]:
    """Library versions for the results file."""
    out = {"boost_threads": str(THREADS)}
    for name in ("xgboost", "lightgbm", "catboost", "torch", "jax"):
        if name in sys.modules:
            out[name] = sys.modules[name].__version__
    return out


# ---------------------------------------------------------------------- command line
def table(results: Sequence[Result]) -> str:
    """A Markdown table of the results."""
    lines = [
        "| library | loss | losskit path | built-in | built-in (wall) | losskit (wall) | "
        "ratio (wall) | ratio (CPU) | extra CPU per round | margins Δ |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        t, c = r.timing, r.cpu
        rounds = int(r.size.rsplit(", ", 1)[1].split()[0])
        extra = (c.losskit_s - c.native_s) / rounds
        lines.append(
            f"| {r.library} | {r.loss} | {r.path} | {r.native} | {duration(t.native_s)} | "
            f"{duration(t.losskit_s)} | {t.ratio:.2f} | {c.ratio:.2f} | {duration(extra)} | "
            f"{r.difference:.1e} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every library's pairs, print the table and write the JSON file."""
    global THREADS
    parser = argparse.ArgumentParser(prog="python -m benchmarks.boost", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"tiny runs: {QUICK_SIZE}")
    parser.add_argument("--only", default=",".join(LIBRARIES), help="libraries (%(default)s)")
    parser.add_argument("--paths", default=",".join(PATHS), help="losskit paths (%(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed pairs (default: 3)")
    parser.add_argument("--threads", type=int, default=THREADS, help="per library (%(default)s)")
    parser.add_argument("--json", type=Path, default=Path("bench-boost.json"))
    args = parser.parse_args(argv)
    THREADS = args.threads
    if THREADS == 1 and "jax" not in sys.modules:  # XLA's CPU pool to one thread as well
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
    size = QUICK_SIZE if args.quick else (ROWS, FEATURES, ROUNDS)
    load = {"start": load_average()}
    results = []
    for library in _available(args.only.split(",")):
        for r in measure(library, size, args.repeats, args.paths.split(",")):
            results.append(r)
            print(
                f"  {r.library:9} {r.loss} {r.path:16} built-in {duration(r.timing.native_s)}  "
                f"losskit {duration(r.timing.losskit_s)}  ratio {r.timing.ratio:.2f} "
                f"(CPU {r.cpu.ratio:.2f})",
                file=sys.stderr,
                flush=True,
            )
    load["end"] = load_average()
    print(table(results))
    print(
        f"\nload average (1, 5, 15 min) at start {load['start']}, at end {load['end']}, "
        f"{os.cpu_count()} CPUs; {THREADS} threads per library"
    )
    document = {
        "results": [asdict(r) for r in results],
        "versions": versions(),
        "load_average": load,
    }
    args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
