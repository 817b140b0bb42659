"""The ``losskit`` command: browse the catalogue, plot and check losses, evaluate a loss over
prediction files, and compare losses by training the same classifier with each.

::

    losskit list [--family F] [--task T] [--json]
    losskit info NAME
    losskit plot NAME... [--task T] [--grad] [-o FILE]
    losskit check MODULE:FUNCTION|NAME [--task T] [--from-logits] [--report DIR]
    losskit eval --loss NAME --y-true FILE --y-pred FILE [--param K=V ...] [--from-logits]
                 [--reduction R] [--chunk-size N] [--output FILE] [--json]
    losskit compare [--losses SPEC ...] [--family F] [--seeds N] [--dataset D] [--backend B]
                    [--epochs N] [--noise R] [--imbalance R] [--seed S] [--report DIR]
                    [--markdown FILE] [--json]
                    [--model gbdt [--library L] [--rounds N] [--hessian H]]

Exit status: 0 on success, 2 for a usage error or input the user can fix (unknown loss names,
unreadable files, mismatched shapes, a module that does not import), 1 when a feature is not
available in this installation. Errors are one line on stderr, without a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import importlib.util
import inspect
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from . import _compare, _compare_report
from ._object import Loss
from ._registry import LossInfo, info, names
from ._rst import to_text
from ._wrapping import positional_inputs

CHECK_TASKS = (
    "binary",
    "multiclass",
    "multilabel",
    "regression",
    "segmentation",
    "preference",
    "policy",
    "distillation",
)
#: a registered task the checker knows under another name
CHECK_TASK_OF = {"policy_optimization": "policy"}
CONTRACT = ("y_true", "y_pred", "sample_weight", "mask", "reduction", "normalizer")
REDUCTIONS = ("mean", "sum", "sum_over_batch_size", "none")
DECOMPOSABLE_KINDS = ("elementwise", "axis")  # a row's loss depends on that row only
AUTO_CHUNK_ELEMENTS = 1 << 22  # ~32 MiB of float64 per file per chunk


class CLIError(Exception):
    """An error reported as one line on stderr; ``code`` is the exit status. The library's
    pointer to ``lk.names()`` becomes the command's own, ``losskit list``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message.replace(LIBRARY_HINT, COMMAND_HINT))
        self.code = code


LIBRARY_HINT, COMMAND_HINT = "(lk.names() lists them all)", "(`losskit list` shows them all)"


# ------------------------------------------------------------------------------- progress
class Progress:
    """A dependency-free progress bar on stderr.

    On a terminal it redraws one line (at most ten times a second); otherwise it prints a line
    at each quarter, so logs stay short. ``enabled=False`` prints nothing.
    """

    def __init__(
        self, total: int, label: str, enabled: bool = True, stream: TextIO | None = None
    ) -> None:
        self.total, self.label, self.enabled = max(total, 1), label, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.done, self._drawn, self._quarter = 0, 0.0, 0
        self.start = time.perf_counter()

    def advance(self, steps: int = 1, note: str = "") -> None:
        """Count ``steps`` more units of work; ``note`` says what is running."""
        self.done = min(self.done + steps, self.total)
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty and (now - self._drawn > 0.1 or self.done == self.total):
            self._drawn = now
            width = shutil.get_terminal_size().columns - 1
            self.stream.write("\r" + self._line(note)[:width].ljust(width))
            self.stream.flush()
        elif not self.tty and 4 * self.done // self.total > self._quarter:
            self._quarter = 4 * self.done // self.total
            self.stream.write(self._line(note) + "\n")

    def _line(self, note: str) -> str:
        filled = 30 * self.done // self.total
        bar = "#" * filled + "-" * (30 - filled)
        elapsed = time.perf_counter() - self.start
        return f"{self.label} [{bar}] {self.done}/{self.total} {elapsed:5.1f}s {note}"

    def close(self) -> None:
        """End the bar's line on a terminal."""
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


# ------------------------------------------------------------------------------- helpers
def lookup(name: str) -> LossInfo:
    """The registry entry of ``name``; an unknown name is a :class:`CLIError` with suggestions."""
    try:
        return info(name)
    except KeyError as error:
        raise CLIError(error.args[0]) from None


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, ["-" * w for w in widths], *rows]
    ]
    return "\n".join(lines)


def describe_properties(properties: dict[str, Any]) -> str:
    """``proper, convex, not-bounded, elicits=mean``: true flags by name, false ones negated."""
    shown = []
    for key, value in sorted(properties.items()):
        if value is True:
            shown.append(key)
        elif value is False:
            shown.append(f"not-{key}")
        else:
            shown.append(f"{key}={value}")
    return ", ".join(shown)


def user_parameters(function: Callable[..., Any]) -> list[inspect.Parameter]:
    """The loss's own keyword parameters (not the inputs nor the reduction contract)."""
    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p for p in params if p.name not in CONTRACT and p.kind is p.KEYWORD_ONLY]


def description(function: Callable[..., Any]) -> str:
    """The docstring without its doctest examples, its reStructuredText markup as plain text
    (a displayed formula indented on its own lines)."""
    paragraphs = (inspect.getdoc(function) or "").split("\n\n")
    kept = [p for p in paragraphs if not p.lstrip().startswith(">>>")]
    text = to_text("\n\n".join(kept).strip())
    return "\n".join(line.rstrip() for line in text.splitlines())


def writable_directory(directory: str, option: str) -> Path:
    """``directory``, created if needed, where files can be written: checked before any
    computation, so a bad path is one line on stderr, not a traceback after the work."""
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CLIError(f"{option} {directory} is a file; name a directory") from None
    except OSError as error:
        raise CLIError(
            f"{option} {directory}: cannot create the directory: {error.strerror or error}"
        ) from None
    _probe(path, f"{option} {directory}")
    return path


def writable_file(name: str, option: str) -> Path:
    """``name``, a file whose directory exists and can be written in (checked before any
    computation)."""
    path = Path(name)
    if path.is_dir():
        raise CLIError(f"{option} {name} is a directory; name a file")
    if not path.parent.is_dir():
        raise CLIError(f"{option} {name}: directory {path.parent} does not exist")
    _probe(path.parent, f"{option} {name}")
    return path


def _probe(directory: Path, what: str) -> None:
    """A :class:`CLIError` unless a file can be created (and removed) in ``directory``."""
    try:
        handle, name = tempfile.mkstemp(prefix=".losskit-", dir=directory)
    except OSError as error:
        raise CLIError(f"{what}: cannot write in {directory}: {error.strerror or error}") from None
    os.close(handle)
    os.unlink(name)


def written(what: str, write: Callable[[], Any]) -> Any:
    """``write()``, its ``OSError`` (a full disk, a path removed meanwhile) a :class:`CLIError`."""
    try:
        return write()
    except OSError as error:
        raise CLIError(f"cannot write {what}: {error.strerror or error}") from None


# ---------------------------------------------------------------------------------- list
def cmd_list(args: argparse.Namespace) -> int:
    """Print the catalogue as a table (or JSON), optionally filtered by family and task."""
    entries = [info(n) for n in names()]
    family = None if args.family is None else args.family.lower()  # --family Robust works too
    task = None if args.task is None else args.task.lower()
    entries = [e for e in entries if family in (None, e.family)]
    entries = [e for e in entries if task in (None, e.task)]
    if not entries:
        families = sorted({info(n).family for n in names()})
        tasks = sorted({info(n).task for n in names()})
        raise CLIError(
            f"no loss matches; families: {', '.join(families)}; tasks: {', '.join(tasks)}"
        )
    if args.json:
        print(json.dumps([_entry_json(e) for e in entries], indent=2, default=str))
        return 0
    rows = [[e.name, e.family, e.kind, e.task, describe_properties(e.properties)] for e in entries]
    print(table(["name", "family", "kind", "task", "properties"], rows))
    print(f"\n{len(entries)} losses; `losskit info NAME` describes one.")
    return 0


def _entry_json(entry: LossInfo) -> dict[str, Any]:
    return {
        "name": entry.name,
        "aliases": list(entry.aliases),
        "family": entry.family,
        "kind": entry.kind,
        "task": entry.task,
        "domain": entry.domain,
        "properties": entry.properties,
        "parameters": {p.name: _default(p) for p in user_parameters(entry.function)},
        "references": list(entry.references),
        "contract_exceptions": entry.contract_exceptions,
    }


# ---------------------------------------------------------------------------------- info
def cmd_info(args: argparse.Namespace) -> int:
    """Print a loss's formula and summary, parameters, aliases, properties and references."""
    entry = lookup(args.name)
    lines = [entry.name]
    if entry.aliases:
        lines.append(f"aliases: {', '.join(entry.aliases)}")
    lines.append(
        f"family {entry.family} · kind {entry.kind} · task {entry.task} · domain {entry.domain}"
    )
    lines += ["", description(entry.function), "", "Parameters:"]
    params = user_parameters(entry.function)
    lines += [f"  {p.name} = {_default(p)!r}" for p in params] or ["  (none)"]
    lines.append("  plus sample_weight=None, mask=None, reduction='mean', normalizer=None")
    lines += ["", f"Properties: {describe_properties(entry.properties) or '(none recorded)'}"]
    if entry.contract_exceptions:
        lines += ["", "Contract exceptions (promises this loss cannot keep):"]
        lines += [f"  - {k}: {why}" for k, why in sorted(entry.contract_exceptions.items())]
    if entry.references:
        lines += ["", "References:", *(f"  - {r}" for r in entry.references)]
    inputs = positional_inputs(entry.function) or ["y_true", "y_pred"]
    call = ", ".join([*inputs, *(f"{p.name}={_default(p)!r}" for p in params)])
    lines += ["", f"Call: lk.{entry.name}({call})"]
    print("\n".join(lines))
    return 0


class _Required:
    """Stands for the default of a keyword parameter that has none (``kto``'s ``kl``)."""

    def __repr__(self) -> str:
        return "<required>"

    __str__ = __repr__


def _default(parameter: inspect.Parameter) -> Any:
    """A parameter's default, or :class:`_Required` for one without."""
    return _Required() if parameter.default is parameter.empty else parameter.default


# ------------------------------------------------------------------- loading user functions
def load_target(text: str) -> tuple[Callable[..., Any], str | None]:
    """A loss from a registered name or ``MODULE:FUNCTION`` (``MODULE`` may be a ``.py`` path);
    returns the function and the task the registry records for it, if any."""
    if ":" not in text or _is_registered(text):
        entry = lookup(text)
        return entry.function, entry.task
    module_name, _, attribute = text.rpartition(":")
    module = _import(module_name)
    try:
        function = getattr(module, attribute)
    except AttributeError:
        public = [n for n in dir(module) if not n.startswith("_")]
        close = difflib.get_close_matches(attribute, public, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise CLIError(f"module {module_name!r} has no attribute {attribute!r}{hint}") from None
    if not callable(function):
        raise CLIError(f"{text} is a {type(function).__name__}, not a function")
    return function, None


def _is_registered(text: str) -> bool:
    try:
        info(text)
    except KeyError:
        return False
    return True


def _import(module_name: str) -> Any:
    """Import a module by dotted name (the current directory first) or from a ``.py`` file."""
    try:
        if module_name.endswith(".py") or os.sep in module_name or "/" in module_name:
            path = Path(module_name)
            if not path.is_file():
                raise CLIError(f"no such file: {module_name}")
            name = path.stem if path.stem not in sys.modules else f"_losskit_user_{path.stem}"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise CLIError(f"cannot import {module_name}: not a Python file")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        return importlib.import_module(module_name)
    except CLIError:
        raise
    except ModuleNotFoundError as error:
        raise CLIError(
            f"cannot import module {module_name!r}: {error} (run losskit from the directory "
            "that contains it, give a path such as ./my_loss.py:fn, or install it)"
        ) from None
    except Exception as error:  # the user's module failed while importing
        raise CLIError(
            f"importing {module_name!r} failed: {type(error).__name__}: {error}"
        ) from None


# ---------------------------------------------------------------------------------- plot
def cmd_plot(args: argparse.Namespace) -> int:
    """Draw the loss (or gradient) curves of one or more losses into a PNG."""
    targets = [load_target(text) for text in args.names]
    task = args.task or _common_task([t for _, t in targets])
    if importlib.util.find_spec("matplotlib") is None:
        raise CLIError("plots need matplotlib: pip install matplotlib", code=1)
    import matplotlib

    matplotlib.use("Agg")
    try:
        from . import plots  # type: ignore[attr-defined,unused-ignore]
    except ImportError as error:
        raise CLIError(f"plots are not available in this installation ({error})", code=1) from None
    losses = [
        lookup(text).name if _is_registered(text) else function
        for text, (function, _) in zip(args.names, targets, strict=True)
    ]
    path = writable_file(args.output or f"{_compare.slug('_'.join(args.names))}.png", "--output")
    try:
        figure = written(
            str(path), lambda: plots.plot_loss(losses, task=task, grad=args.grad, path=str(path))
        )
    except (ValueError, TypeError) as error:
        raise CLIError(str(error)) from None
    if not path.exists():
        written(str(path), lambda: figure.savefig(path))
    print(f"wrote {path}")
    return 0


def _common_task(tasks: Sequence[str | None]) -> str:
    found = {t for t in tasks if t is not None}
    if len(found) == 1:
        return found.pop()
    if not found:
        raise CLIError("pass --task: the task of a user function cannot be guessed")
    raise CLIError(
        f"these losses are for different tasks ({', '.join(sorted(found))}); pass --task"
    )


# --------------------------------------------------------------------------------- check
def cmd_check(args: argparse.Namespace) -> int:
    """Run the property checker on a loss and print its report (and write the HTML report)."""
    function, registered_task = load_target(args.target)
    registered_task = CHECK_TASK_OF.get(registered_task or "", registered_task)
    task = args.task or (registered_task if registered_task in CHECK_TASKS else None)
    if task is None:
        raise CLIError(f"pass --task, one of {', '.join(CHECK_TASKS)}")
    markdown = writable_file(args.markdown, "--markdown") if args.markdown else None
    directory = writable_directory(args.report, "--report") if args.report else None
    import losskit

    try:
        report = losskit.check(
            function, task=task, from_logits=args.from_logits, backend=args.backend, seed=args.seed
        )
    except (ValueError, TypeError) as error:
        raise CLIError(str(error)) from None
    print(str(report))
    if markdown is not None:
        text = report.to_markdown()
        written(str(markdown), lambda: markdown.write_text(text, encoding="utf-8"))
        print(f"wrote {args.markdown}")
    if directory is not None:
        page = written(f"the report in {directory}", lambda: report.to_html(directory))
        print(f"HTML report: {page}")
    return 0


# --------------------------------------------------------------------------- array files
class ArrayFile:
    """A numeric array on disk, read row by row (the first axis) in chunks."""

    def __init__(self, path: Path, rows: int, row_shape: tuple[int, ...]) -> None:
        self.path, self.rows, self.row_shape = path, rows, row_shape

    @property
    def row_size(self) -> int:
        """Values per row."""
        return math.prod(self.row_shape)

    def chunks(self, size: int) -> Iterator[np.ndarray]:
        """Consecutive blocks of at most ``size`` rows."""
        raise NotImplementedError

    def where(self, row: int, index: int) -> str:
        """Where row ``row`` of the file (counted from 0), row ``index`` of the last chunk read,
        is: for messages."""
        return f"{self.path}, row {row} (rows count from 0)"


class NpyFile(ArrayFile):
    """A ``.npy`` file, memory-mapped (never unpickled)."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as handle:
            if handle.read(6) != b"\x93NUMPY":
                raise CLIError(f"{path} is not a .npy file (bad magic number)")
        try:
            self.array = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as error:
            raise CLIError(f"cannot read {path}: {error} (only numeric arrays are read)") from None
        if self.array.ndim == 0:
            raise CLIError(f"{path} holds a single number; expected one row per sample")
        if self.array.dtype.kind not in "biuf":
            raise CLIError(f"{path} has dtype {self.array.dtype}; expected numbers")
        super().__init__(path, self.array.shape[0], self.array.shape[1:])

    def chunks(self, size: int) -> Iterator[np.ndarray]:
        for start in range(0, self.rows, size):
            yield np.array(self.array[start : start + size])


class CsvFile(ArrayFile):
    """A comma-separated file of numbers, one sample per line, with an optional header line.

    One column gives a 1-D array, several columns a ``(rows, columns)`` array. Lines starting
    with ``#`` are comments. Every row must have as many columns as the first, and a blank line
    before the last row is an error (a missing value, or a row lost), named by its line number.
    """

    def __init__(self, path: Path) -> None:
        self.path, self.header = path, False
        self._lines: list[int] = []  # the line numbers of the last chunk's rows
        rows, first, columns = 0, 0, 0
        for number, line in self._records():
            count = line.count(",") + 1
            if not rows:
                first, columns = number, count
            elif count != columns:
                raise CLIError(
                    f"{path}, line {number}: {count} columns, but the first row (line {first}) "
                    f"has {columns}; every row must have the same number of columns"
                )
            rows += 1
        super().__init__(path, rows, () if columns == 1 else (columns,))

    def _records(self) -> Iterator[tuple[int, str]]:
        """``(line number, text)`` of every data line: comments and the header skipped, a blank
        line followed by more data an error."""
        blank = 0
        seen = False
        with open(self.path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                text = line.strip()
                if text.startswith("#"):
                    continue
                if not text:
                    blank = blank or number
                    continue
                if blank:
                    raise CLIError(
                        f"{self.path}, line {blank}: blank line; every line after the header "
                        "must hold one sample (comments start with #)"
                    )
                if not seen and not _numeric(text):
                    self.header, seen = True, True
                    continue
                seen = True
                yield number, text

    def chunks(self, size: int) -> Iterator[np.ndarray]:
        block: list[tuple[int, str]] = []
        for record in self._records():
            block.append(record)
            if len(block) == size:
                yield self._parse(block)
                block = []
        if block:
            yield self._parse(block)

    def _parse(self, block: list[tuple[int, str]]) -> np.ndarray:
        self._lines = [number for number, _ in block]
        try:
            values = np.loadtxt(
                [text for _, text in block], delimiter=",", ndmin=2, dtype=np.float64, comments=None
            )
        except ValueError:
            raise CLIError(self._first_bad_value(block)) from None
        return values[:, 0] if self.row_shape == () else values

    def _first_bad_value(self, block: list[tuple[int, str]]) -> str:
        for number, text in block:
            for value in text.split(","):
                try:
                    float(value)
                except ValueError:
                    return (
                        f"{self.path}, line {number}: could not convert string {value.strip()!r} "
                        "to a number"
                    )
        return f"{self.path}: lines {block[0][0]}–{block[-1][0]} do not parse as numbers"

    def where(self, row: int, index: int) -> str:
        text = super().where(row, index)
        return f"{text}, line {self._lines[index]}" if index < len(self._lines) else text


def _numeric(line: str) -> bool:
    try:
        [float(v) for v in line.split(",")]
    except ValueError:
        return False
    return True


class ParquetFile(ArrayFile):
    """A Parquet file (needs ``pyarrow``): its numeric columns, in file order."""

    def __init__(self, path: Path) -> None:
        if importlib.util.find_spec("pyarrow") is None:
            raise CLIError(f"reading {path} needs pyarrow: pip install pyarrow", code=1)
        import pyarrow.parquet as pq

        try:
            self.file = pq.ParquetFile(path)
        except Exception as error:  # pyarrow's own error types
            raise CLIError(f"cannot read {path}: {error}") from None
        columns = len(self.file.schema_arrow)
        super().__init__(path, self.file.metadata.num_rows, () if columns == 1 else (columns,))

    def chunks(self, size: int) -> Iterator[np.ndarray]:
        for batch in self.file.iter_batches(batch_size=size):
            try:
                values = np.column_stack(
                    [c.to_numpy(zero_copy_only=False) for c in batch.columns]
                ).astype(np.float64)
            except (ValueError, TypeError) as error:
                raise CLIError(f"{self.path}: non-numeric column ({error})") from None
            yield values[:, 0] if self.row_shape == () else values


READERS: dict[str, Callable[[Path], ArrayFile]] = {
    ".npy": NpyFile,
    ".csv": CsvFile,
    ".parquet": ParquetFile,
    ".pq": ParquetFile,
}


def open_array(name: str, role: str) -> ArrayFile:
    """The reader for ``name`` by its extension; missing or unreadable files are CLI errors."""
    path = Path(name)
    if path.is_dir():
        raise CLIError(f"{role} file {name} is a directory, not a file")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        known = ", ".join(READERS)
        raise CLIError(f"{role} file {name}: unknown file type {path.suffix!r}; use {known}")
    if not path.exists():
        raise CLIError(f"{role} file not found: {name}")
    try:
        return reader(path)
    except OSError as error:
        raise CLIError(f"cannot read {role} file {name}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise CLIError(f"cannot read {role} file {name}: not a UTF-8 text file") from None


# ---------------------------------------------------------------------------------- eval
class Accumulator:
    """Running ``Σ loss`` and count over chunks: their ratio is the one-shot mean."""

    def __init__(self) -> None:
        self.count = 0
        self.parts: list[float] = []

    def add(self, values: np.ndarray, excluded: int = 0) -> None:
        """Add the unreduced losses of one chunk (``excluded`` of them are masked out)."""
        self.parts.append(float(np.sum(values, dtype=np.float64)))
        self.count += values.size - excluded

    def value(self, reduction: str) -> float:
        """The reduced loss: ``"sum"`` or the mean (0 when nothing counts, as the contract)."""
        total = math.fsum(self.parts)
        if reduction == "sum":
            return total
        return total / self.count if self.count else 0.0


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate a loss over prediction files, chunk by chunk, and print the result."""
    entry = lookup(args.loss)
    params = _eval_params(entry, args.param, from_logits=args.from_logits)
    _check_output_options(args.reduction, args.output)
    writer = _Writer(args.output, (Path(args.y_true), Path(args.y_pred)))
    try:
        accumulator = _evaluate(args, entry, params, writer)
        writer.commit()
    finally:
        writer.discard()
    _print_result(args, entry, accumulator)
    return 0


def _evaluate(
    args: argparse.Namespace, entry: LossInfo, params: dict[str, Any], writer: _Writer
) -> Accumulator:
    """The loss over the files, a chunk of rows at a time (each chunk's values to ``writer``)."""
    y_true, y_pred = open_array(args.y_true, "y_true"), open_array(args.y_pred, "y_pred")
    _check_rows(y_true, y_pred)
    size = _chunk_rows(args.chunk_size, y_true, y_pred, _decomposable(entry, params))
    loss = Loss(entry.name, **params)
    progress = Progress(y_pred.rows, "eval", enabled=not args.no_progress)
    accumulator = Accumulator()
    try:
        chunks = zip(y_true.chunks(size), y_pred.chunks(size), strict=True)
        for start, (t, p) in zip(range(0, y_pred.rows, size), chunks, strict=False):
            _check_no_nan(start, (y_true, t), (y_pred, p))
            values = _eval_chunk(loss, t, p, args.dtype, start)
            _check_chunk(values, len(p), size, y_pred.rows, args.reduction)
            accumulator.add(values, _excluded(params, t, values))
            writer.write(values, y_pred.rows)
            progress.advance(len(p))
    finally:
        progress.close()
    return accumulator


def _check_output_options(reduction: str, output: str | None) -> None:
    if reduction == "none" and not output:
        raise CLIError("--reduction none writes one loss per sample: pass --output FILE.npy/.csv")
    if output and reduction != "none":
        raise CLIError(
            f"--output writes one loss per sample and needs --reduction none (got --reduction "
            f"{reduction}, which prints one number)"
        )


def _check_no_nan(start: int, *chunks: tuple[ArrayFile, np.ndarray]) -> None:
    """A NaN in an input is named by its file and row (and line, for CSV)."""
    for file, values in chunks:
        if values.dtype.kind != "f":
            continue
        rows = np.isnan(values.reshape(len(values), -1)).any(axis=1)
        if rows.any():
            index = int(np.argmax(rows))
            raise CLIError(f"{file.where(start + index, index)}: NaN; every value must be a number")


def _eval_params(
    entry: LossInfo, items: Sequence[str], *, from_logits: bool = False
) -> dict[str, Any]:
    try:
        params = _compare.parse_params(items, "--param", entry.function)
    except (_compare.CompareError, TypeError, ValueError) as error:
        raise CLIError(_unquoted(str(error))) from None
    if from_logits:
        if "from_logits" not in inspect.signature(entry.function).parameters:
            raise CLIError(f"--from-logits: {entry.name} has no parameter 'from_logits'")
        if params.get("from_logits", True) is not True:
            raise CLIError("--from-logits contradicts --param from_logits=false")
        params["from_logits"] = True
    try:
        Loss(entry.name, **params)
    except (_compare.CompareError, TypeError, ValueError) as error:
        raise CLIError(_unquoted(str(error))) from None
    return params


def _unquoted(message: str) -> str:
    """``message`` without the quotes a ``KeyError``'s text comes in."""
    if len(message) > 1 and message[0] == message[-1] and message[0] in "'\"":
        return message[1:-1]
    return message


def _check_rows(y_true: ArrayFile, y_pred: ArrayFile) -> None:
    if y_true.rows != y_pred.rows:
        raise CLIError(
            f"shape mismatch: {y_true.path} has {y_true.rows} rows (samples) but {y_pred.path} "
            f"has {y_pred.rows}; the files must hold one row per sample, in the same order"
        )
    if y_pred.rows == 0:
        raise CLIError(f"{y_pred.path} holds no samples")


def _decomposable(entry: LossInfo, params: dict[str, Any]) -> bool:
    """Whether the loss of a row depends on that row only, so rows can be chunked."""
    return (
        entry.kind in DECOMPOSABLE_KINDS
        and not entry.properties.get("batch")
        and params.get("axis") != 0
    )


def _chunk_rows(requested: int, y_true: ArrayFile, y_pred: ArrayFile, decomposable: bool) -> int:
    if requested < 0:
        raise CLIError(f"--chunk-size must be >= 0 (0 picks a size); got {requested}")
    if not decomposable:
        if requested and requested < y_pred.rows:
            print(
                "note: this loss couples the samples of a batch; evaluating all rows at once",
                file=sys.stderr,
            )
        return y_pred.rows
    if requested:
        return requested
    per_row = max(y_true.row_size, y_pred.row_size, 1)
    return max(1, AUTO_CHUNK_ELEMENTS // per_row)


def _eval_chunk(loss: Loss, y_true: np.ndarray, y_pred: np.ndarray, dtype: str, start: int) -> Any:
    y_pred = y_pred.astype(dtype, copy=False)
    if y_true.dtype.kind == "f":
        y_true = y_true.astype(dtype, copy=False)
    try:
        return np.asarray(loss(y_true, y_pred, reduction="none"))
    except (ValueError, TypeError) as error:
        rows = f"rows {start}–{start + len(y_pred) - 1}"
        raise CLIError(f"{loss.name} on {rows}: {error}") from None


def _check_chunk(values: np.ndarray, rows: int, size: int, total: int, reduction: str) -> None:
    if values.ndim == 0 and size < total:
        raise CLIError("this loss returns one value for the whole batch; pass --chunk-size 0")
    if reduction == "none" and (values.ndim == 0 or values.shape[0] != rows):
        raise CLIError(f"--reduction none needs one loss per row; got shape {values.shape}")


def _excluded(params: dict[str, Any], y_true: np.ndarray, values: np.ndarray) -> int:
    """Entries that ``ignore_index`` removes from the mean's denominator."""
    ignore = params.get("ignore_index")
    if ignore is None or y_true.shape != values.shape:
        return 0
    return int(np.count_nonzero(y_true == ignore))


class _Writer:
    """Streams ``reduction="none"`` values to ``.npy`` (memory-mapped) or ``.csv``.

    The values go to a temporary file in the output's directory, created before anything is
    computed (so an unwritable directory is reported first), renamed over the output only once
    every value is written: the output is never half-written, and never one of the inputs.
    """

    def __init__(self, output: str | None, inputs: Sequence[Path]) -> None:
        self.path = Path(output) if output else None
        self.offset = 0
        self.target: Any = None
        self.temporary: Path | None = None
        if self.path is not None:
            self.temporary = _temporary_output(self.path, inputs)

    @property
    def csv(self) -> bool:
        return self.path is not None and self.path.suffix.lower() == ".csv"

    def write(self, values: np.ndarray, rows: int) -> None:
        """Write the next ``len(values)`` of ``rows`` values."""
        if self.temporary is None:
            return
        if self.csv:
            if self.target is None:
                self.target = open(self.temporary, "w", encoding="utf-8")  # noqa: SIM115
            np.savetxt(self.target, values.reshape(len(values), -1), delimiter=",", fmt="%.17g")
        else:
            if self.target is None:
                shape = (rows, *values.shape[1:])
                self.target = np.lib.format.open_memmap(
                    self.temporary, mode="w+", dtype=values.dtype, shape=shape
                )
            self.target[self.offset : self.offset + len(values)] = values
        self.offset += len(values)

    def commit(self) -> None:
        """Close the temporary file and rename it to the output."""
        if self.temporary is None or self.path is None:
            return
        self._close()
        try:
            os.replace(self.temporary, self.path)
        except OSError as error:
            message = error.strerror or error
            raise CLIError(f"cannot write --output {self.path}: {message}") from None
        self.temporary = None

    def discard(self) -> None:
        """Remove the temporary file if it was not committed."""
        self._close()
        if self.temporary is not None:
            self.temporary.unlink(missing_ok=True)
            self.temporary = None

    def _close(self) -> None:
        if self.target is None:
            return
        if self.csv:
            self.target.close()
        else:
            self.target.flush()
            del self.target
        self.target = None


def _temporary_output(path: Path, inputs: Sequence[Path]) -> Path:
    """An empty temporary file next to ``path``, with the permissions a new file gets; errors
    for an output that is not ``.npy``/``.csv``, is a directory, is one of the inputs or cannot
    be written."""
    if path.is_dir():
        raise CLIError(f"--output {path} is a directory; name a .npy or .csv file")
    if path.suffix.lower() not in (".npy", ".csv"):
        raise CLIError(f"--output must end in .npy or .csv; got {path}")
    for source in inputs:
        if _same_file(path, source):
            raise CLIError(
                f"--output {path} is the input file {source}; write the losses to another file"
            )
    directory = path.parent
    if not directory.is_dir():
        raise CLIError(f"--output {path}: directory {directory} does not exist")
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=directory)
    except OSError as error:
        raise CLIError(
            f"--output {path}: cannot write in {directory}: {error.strerror or error}"
        ) from None
    os.close(handle)
    os.chmod(name, _new_file_mode(path))
    return Path(name)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def _new_file_mode(path: Path) -> int:
    """The permissions of ``path`` if it exists, else those of a new file (``0o666 & ~umask``)."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _print_result(args: argparse.Namespace, entry: LossInfo, accumulator: Accumulator) -> None:
    reduction = "mean" if args.reduction == "none" else args.reduction
    value = accumulator.value(reduction)
    if args.json:
        result = {
            "loss": entry.name,
            "reduction": args.reduction,
            "value": value,
            "count": accumulator.count,
            "output": args.output,
        }
        print(json.dumps(result))
    elif args.reduction == "none":
        print(
            f"wrote {accumulator.count} values of {entry.name} to {args.output} (mean {value:.10g})"
        )
    else:
        print(f"{entry.name} ({args.reduction} over {accumulator.count} values): {value:.10g}")


# ------------------------------------------------------------------------------- compare
def _count(n: int, noun: str) -> str:
    """``"1 epoch"``, ``"30 epochs"``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def split_losses(items: Sequence[str]) -> tuple[str, ...]:
    """Loss specs from ``--losses`` words: each word may hold several losses separated by
    commas (``arcface,cosface``); a comma-separated ``PARAM=VALUE`` belongs to the loss before
    it (``gce:q=0.5,cosface`` is two losses)."""
    specs: list[str] = []
    for item in items:
        for piece in item.split(","):
            if not piece.strip():
                continue
            if "=" in piece and ":" not in piece.split("=")[0] and specs:
                specs[-1] += "," + piece
            else:
                specs.append(piece.strip())
    return tuple(specs)


def cmd_compare(args: argparse.Namespace) -> int:
    """Train the same classifier once per loss and seed and print (and report) the comparison."""
    losses = _compare.DEFAULT_LOSSES if args.losses is None and not args.family else ()
    config = _compare.Config(
        losses=split_losses(args.losses) if args.losses is not None else losses,
        dataset=args.dataset,
        backend=args.backend,
        model=args.model,
        hidden=args.hidden,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        noise=args.noise,
        imbalance=args.imbalance,
        seed=args.seed,
        seeds=args.seeds,
        families=tuple(args.family),
        library=args.library,
        rounds=args.rounds,
        hessian=args.hessian,
    )
    try:
        plan = _compare.prepare(config)
    except _compare.CompareError as error:
        raise CLIError(str(error)) from None
    directory = writable_directory(args.report, "--report") if args.report else None
    markdown = writable_file(args.markdown, "--markdown") if args.markdown else None
    length = (
        _count(config.rounds, "round") if config.model == "gbdt" else _count(config.epochs, "epoch")
    )
    out = sys.stderr if args.json else sys.stdout
    print(
        f"{plan.datasets[0].summary()}; {config.model} on {plan.backend}, {length}, "
        f"{_count(config.seeds, 'seed')}",
        file=out,
        flush=True,
    )
    progress = Progress(plan.steps(config), "compare", enabled=not args.no_progress)
    try:
        result = _compare.run(config, lambda note: progress.advance(1, note), plan)
    finally:
        progress.close()
    if args.json:
        print(json.dumps(_compare.to_json(result)))
    else:
        print(_compare.format_table(result))
    if markdown is not None:
        written(
            f"the Markdown table {markdown}",
            lambda: Path(markdown).write_text(
                _compare.format_markdown(result) + "\n", encoding="utf-8"
            ),
        )
        print(f"Markdown table: {markdown}", file=out)
    if directory is not None:
        try:
            what = f"the report in {directory}"
            index = written(what, lambda: _compare_report.write_report(result, directory))
        except _compare.CompareError as error:
            raise CLIError(str(error), code=1) from None
        print(f"HTML report: {index}", file=out)
    return 0


# ---------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``losskit`` command and its subcommands."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="losskit",
        description="Deep-learning losses: browse, plot, check, evaluate and compare them.",
    )
    parser.add_argument("--version", action="version", version=f"losskit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_list(sub)
    _add_info(sub)
    _add_plot(sub)
    _add_check(sub)
    _add_eval(sub)
    _add_compare(sub)
    return parser


def _add_list(sub: Any) -> None:
    p = sub.add_parser("list", help="the catalogue of losses as a table")
    p.add_argument("--family", help="only this family (e.g. crossentropy, regression, robust)")
    p.add_argument("--task", help="only losses for this task (e.g. binary, multiclass)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=cmd_list)


def _add_info(sub: Any) -> None:
    p = sub.add_parser("info", help="formula, parameters, properties and references of a loss")
    p.add_argument("name", help="a loss name or alias")
    p.set_defaults(handler=cmd_info)


def _add_plot(sub: Any) -> None:
    p = sub.add_parser("plot", help="plot loss (or gradient) curves to a PNG")
    p.add_argument("names", nargs="+", metavar="NAME", help="loss names or MODULE:FUNCTION")
    p.add_argument("--task", help="the task the curves are drawn for (default: the losses')")
    p.add_argument("--grad", action="store_true", help="plot the gradient too")
    p.add_argument("-o", "--output", help="PNG file (default: NAME.png)")
    p.set_defaults(handler=cmd_plot)


def _add_check(sub: Any) -> None:
    p = sub.add_parser("check", help="check a loss's properties numerically")
    p.add_argument("target", help="MODULE:FUNCTION, path/to/file.py:FUNCTION, or a loss name")
    p.add_argument("--task", choices=CHECK_TASKS, help="the problem the loss is for")
    p.add_argument("--from-logits", action="store_true", help="the loss takes logits")
    p.add_argument("--backend", default="auto", help="torch, jax, tensorflow, numpy or auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--report", metavar="DIR", help="write an HTML report with plots to DIR")
    p.add_argument("--markdown", metavar="FILE", help="write the report as Markdown to FILE")
    p.set_defaults(handler=cmd_check)


def _add_eval(sub: Any) -> None:
    p = sub.add_parser("eval", help="evaluate a loss over prediction files (.npy, .csv, .parquet)")
    p.add_argument("--loss", required=True, help="loss name or alias")
    p.add_argument("--y-true", required=True, metavar="FILE", help="targets, one row per sample")
    p.add_argument("--y-pred", required=True, metavar="FILE", help="predictions, same rows")
    p.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="loss parameter (repeatable)"
    )
    p.add_argument(
        "--from-logits",
        action="store_true",
        help="y_pred holds logits (the same as --param from_logits=true)",
    )
    p.add_argument("--reduction", choices=REDUCTIONS, default="mean")
    p.add_argument(
        "--chunk-size", type=int, default=0, metavar="ROWS", help="rows per chunk (0: automatic)"
    )
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--output", metavar="FILE", help="with --reduction none: .npy or .csv")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_eval)


def _add_compare(sub: Any) -> None:
    d = _compare.Config()
    p = sub.add_parser(
        "compare",
        help="train the same classifier with each loss and compare them",
        description=(
            "Train the same small network on a scikit-learn data set once per loss and seed and "
            "report test accuracy, log-loss, ECE (15 bins), robustness to label noise (accuracy "
            "drop when --noise of the training labels are flipped) and training time, as mean ± "
            "standard deviation over --seeds seeds. "
            f"{_compare.DEFAULT_BUDGET}"
        ),
    )
    p.add_argument(
        "--losses",
        nargs="+",
        default=None,
        metavar="SPEC",
        help="losses as NAME or NAME:PARAM=VALUE,..., several per word with commas "
        f"(arcface,cosface); default: {' '.join(d.losses)} (unless --family is given)",
    )
    p.add_argument(
        "--family",
        action="append",
        default=[],
        metavar="FAMILY",
        help="add every classification loss of a family (any case; repeatable), e.g. metric: "
        "ArcFace, CosFace, SphereFace and Sub-center ArcFace, their class centres the "
        "network's last layer (each about five times a default loss's time)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=d.seeds,
        help="seeds per loss (seed, seed+1, ...), each with its own split, initial weights, "
        "batches and label flips; the table shows mean ± standard deviation "
        "(default: %(default)s)",
    )
    p.add_argument("--dataset", choices=_compare.DATASETS, default=d.dataset)
    p.add_argument("--backend", choices=("auto", *_compare.BACKENDS), default=d.backend)
    p.add_argument(
        "--model",
        choices=_compare.MODELS,
        default=d.model,
        help="mlp, linear (logistic regression) or gbdt (gradient-boosted trees, losskit.boost)",
    )
    p.add_argument("--hidden", type=int, default=d.hidden, help="hidden units of the MLP")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.learning_rate, help="Adam learning rate")
    p.add_argument(
        "--noise",
        type=float,
        default=d.noise,
        help="fraction of training labels flipped for the robustness run (0: no such run)",
    )
    p.add_argument(
        "--imbalance",
        type=float,
        default=d.imbalance,
        help="long-tailed training set: class 0 this many times the last class (1: as is)",
    )
    p.add_argument("--seed", type=int, default=d.seed, help="the first seed")
    p.add_argument(
        "--library",
        choices=("auto", *_compare.GBDT_LIBRARIES),
        default=d.library,
        help="--model gbdt: the boosting library (auto: the first installed of %(choices)s)",
    )
    p.add_argument("--rounds", type=int, default=d.rounds, help="--model gbdt: boosting rounds")
    p.add_argument(
        "--hessian",
        choices=_compare.GBDT_HESSIANS,
        default=d.hessian,
        help="--model gbdt: the objectives' Hessian (auto: exact for a convex loss, 1 for a "
        "piecewise-linear one, else clip)",
    )
    p.add_argument("--report", metavar="DIR", help="write an HTML report with plots to DIR")
    p.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown to FILE")
    p.add_argument(
        "--json", action="store_true", help="print every result as JSON instead of the table"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_compare)


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args``, with an unknown option reported by the subcommand's parser: its
    own usage line (``losskit eval: error: ...``), not the top-level one."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        command = getattr(args, "command", None)
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        owner = next((a.choices[command] for a in subparsers if command in a.choices), parser)
        owner.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``losskit`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit
    status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    try:
        args = _parse(parser, argv)
    except SystemExit as exit_:  # --help, --version and usage errors
        return exit_.code if isinstance(exit_.code, int) else 0
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args))
    except CLIError as error:
        print(f"losskit {args.command}: error: {error}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
