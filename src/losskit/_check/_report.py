"""The checker's result: one :class:`Finding` per property, gathered in a :class:`Report`."""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

#: Every property the checker reports, in report order (all of them appear in every report;
#: one that does not apply to the task has verdict "info" and says why).
PROPERTIES = (
    "scalar",
    "finite",
    "minimum_at_target",
    "nonnegative",
    "proper",
    "link",
    "calibrated",
    "canonical_link",
    "gradient",
    "convex",
    "lipschitz",
    "symmetric",
    "bounded",
    "elicits",
    "scaling",
    "decomposable",
)
#: The properties a language-model task reports after :data:`PROPERTIES` (which it reports too,
#: each one measured for the task or marked not applicable).
TASK_PROPERTIES = {
    "preference": ("direction",),
    "policy": ("policy_gradient", "advantage_sign", "clipping", "masking"),
    "distillation": ("teacher_gradient",),
}
#: The requirements: the rules every loss should keep (a scalar, finite values and gradients, the
#: minimum at the target, a correct gradient, and for the language-model tasks the direction of
#: the update, the policy gradient, clipping, masking and a constant teacher). They pass or fail;
#: every other property is a fact about the loss, "yes" or "no" with its measured value (an
#: unbounded loss, a non-convex one or an improper one is not a broken one).
REQUIREMENTS = (
    "scalar",
    "finite",
    "minimum_at_target",
    "gradient",
    "direction",
    "policy_gradient",
    "advantage_sign",
    "clipping",
    "masking",
    "teacher_gradient",
)
VERDICTS = ("pass", "fail", "yes", "no", "info")
#: One line that says how to read the verdicts (printed under every report's header).
LEGEND = (
    "Requirements pass or fail; the other properties are facts about the loss (yes or no, with "
    "the measured value); info: a description, or a property that does not apply."
)
_AS_FACT = {"pass": "yes", "fail": "no"}


@dataclass(frozen=True)
class Finding:
    """One property's verdict.

    ``verdict`` is ``"pass"`` or ``"fail"`` for a requirement (:data:`REQUIREMENTS`),
    ``"yes"`` or ``"no"`` for a fact (bounded, convex, proper, ...), or ``"info"`` (a
    description, or a property that does not apply to the task); ``value`` the measured figure
    (a number or a short string); ``meaning`` one sentence; ``witness`` the input that exposed
    a failure, or the evidence for a "no" (a dict), or None; ``data`` the arrays behind the
    plots.

    >>> f = Finding("bounded", "yes", 1.0, "The loss never exceeds 1.")
    >>> f.holds, f.failed, str(f)
    (True, False, 'bounded: yes (1) - The loss never exceeds 1.')
    """

    name: str
    verdict: str
    value: Any
    meaning: str
    witness: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}; got {self.verdict!r}")

    @property
    def passed(self) -> bool:
        """A requirement that holds."""
        return self.verdict == "pass"

    @property
    def failed(self) -> bool:
        """A requirement that does not hold (a fact that does not hold is ``"no"``)."""
        return self.verdict == "fail"

    @property
    def holds(self) -> bool | None:
        """Whether the property holds (a requirement or a fact); None for information."""
        return {"pass": True, "yes": True, "fail": False, "no": False}.get(self.verdict)

    @property
    def requirement(self) -> bool:
        return self.name in REQUIREMENTS

    def as_kind(self) -> Finding:
        """The finding with the verdict of its kind: a fact's pass/fail becomes yes/no."""
        if self.requirement or self.verdict not in _AS_FACT:
            return self
        return replace(self, verdict=_AS_FACT[self.verdict])

    def __str__(self) -> str:
        return f"{self.name}: {self.verdict} ({format_value(self.value)}) - {self.meaning}"


def format_number(x: Any) -> str:
    """A number in at most four significant digits.

    >>> format_number(0.57812345), format_number(1e-12), format_number(3.0), format_number(True)
    ('0.5781', '1e-12', '3', 'True')
    """
    if isinstance(x, bool | np.bool_):
        return str(bool(x))
    if isinstance(x, int | np.integer):
        return str(int(x))
    x = float(x) + 0.0  # no "-0"
    if math.isnan(x) or math.isinf(x):
        return str(x)
    return f"{x:.4g}"


def format_value(value: Any) -> str:
    """The compact text of a finding's value or of a witness entry."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | np.number | bool | np.bool_):
        return format_number(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={format_value(v)}" for k, v in value.items())
    arr = np.asarray(value)
    if arr.dtype.kind in "biuf":
        if arr.size > 8:
            return f"array{arr.shape}"
        return "[" + ", ".join(format_number(v) for v in arr.reshape(-1)) + "]"
    return str(value)


def format_witness(witness: Mapping[str, Any] | None) -> str:
    if not witness:
        return ""
    return "; ".join(f"{k} = {format_value(v)}" for k, v in witness.items())


class Report:
    """What ``lk.check`` found: a mapping from property name to :class:`Finding`.

    ``report["proper"].verdict`` reads one verdict; iterating yields the findings in order;
    ``str(report)`` is a text table, :meth:`to_markdown` the same in Markdown, and
    :meth:`to_html` writes a page with the plots. ``loss_name``, ``task``, ``backend``,
    ``domain`` (what the predictions are), ``from_logits``, ``dtype``, ``seconds`` and ``notes``
    describe the run; ``curves`` holds loss and gradient curves for the plots.
    """

    def __init__(
        self,
        *,
        loss_name: str,
        task: str,
        backend: str,
        findings: Mapping[str, Finding],
        domain: str = "",
        from_logits: bool = False,
        dtype: str = "float64",
        seconds: float = 0.0,
        notes: list[str] | None = None,
        curves: dict[str, Any] | None = None,
    ) -> None:
        self.loss_name = loss_name
        self.task = task
        self.backend = backend
        self.domain = domain
        self.from_logits = from_logits
        self.dtype = dtype
        self.seconds = seconds
        self.notes = list(notes or [])
        self.curves = dict(curves or {})
        order = (*PROPERTIES, *TASK_PROPERTIES.get(task, ()))
        self._findings = {name: findings[name].as_kind() for name in order if name in findings}
        self._findings.update(
            {k: v.as_kind() for k, v in findings.items() if k not in self._findings}
        )

    # mapping ------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Finding:
        try:
            return self._findings[name]
        except KeyError:
            known = ", ".join(self._findings)
            raise KeyError(f"no property {name!r} in this report; known: {known}") from None

    def __iter__(self) -> Iterator[Finding]:
        return iter(self._findings.values())

    def __len__(self) -> int:
        return len(self._findings)

    def __contains__(self, name: object) -> bool:
        return name in self._findings

    def keys(self) -> list[str]:
        return list(self._findings)

    def passed(self) -> list[str]:
        """Names of the requirements that hold."""
        return [f.name for f in self if f.verdict == "pass"]

    def failed(self) -> list[str]:
        """Names of the requirements that do not hold (facts that do not hold are "no")."""
        return [f.name for f in self if f.verdict == "fail"]

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (no arrays): for JSON output."""
        return {
            "loss": self.loss_name,
            "task": self.task,
            "backend": self.backend,
            "domain": self.domain,
            "from_logits": self.from_logits,
            "dtype": self.dtype,
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
            "findings": {
                f.name: {
                    "verdict": f.verdict,
                    "value": _plain(f.value),
                    "meaning": f.meaning,
                    "witness": _plain(f.witness),
                }
                for f in self
            },
        }

    # text ---------------------------------------------------------------------------------
    def header(self) -> str:
        logits = ", from logits" if self.from_logits else ""
        return (
            f"losskit check of {self.loss_name}: task={self.task}{logits}; predictions are "
            f"{self.domain}; backend {self.backend} ({self.dtype}); {self.seconds:.1f} s"
        )

    def __str__(self) -> str:
        rows = [(f.name, f.verdict, format_value(f.value), f.meaning) for f in self]
        widths = [
            max(len(r[i]) for r in [("property", "verdict", "value", ""), *rows]) for i in (0, 1)
        ]
        value_width = min(34, max(len(r[2]) for r in [("", "", "value", ""), *rows]))
        lines = [self.header(), LEGEND, ""]
        head = ("property", "verdict", "value", "meaning")
        for name, verdict, value, meaning in [head, *rows]:
            if len(value) > value_width:
                value = value[: value_width - 1] + "…"
            lines.append(
                f"{name:<{widths[0]}}  {verdict:<{widths[1]}}  {value:<{value_width}}  {meaning}"
            )
        for title, shown in (
            ("witnesses", self._witnessed("fail")),
            ("evidence", self._witnessed("no")),
        ):
            if shown:
                lines += ["", f"{title}:"]
                lines += [f"  {f.name}: {format_witness(f.witness)}" for f in shown]
        if self.notes:
            lines.append("")
            lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _witnessed(self, verdict: str) -> list[Finding]:
        """The findings with this verdict that carry a witness."""
        return [f for f in self if f.verdict == verdict and f.witness]

    def __repr__(self) -> str:
        counts = ", ".join(f"{sum(f.verdict == v for f in self)} {v}" for v in VERDICTS)
        return f"<Report {self.loss_name} task={self.task} backend={self.backend}: {counts}>"

    def to_markdown(self) -> str:
        """The report as a Markdown table, with the witnesses of the failures."""
        lines = [f"## Check of `{self.loss_name}`", "", f"*{_md(self.header())}*", "", LEGEND, ""]
        lines += ["| property | verdict | value | meaning |", "|---|---|---|---|"]
        for f in self:
            verdict = f"**{f.verdict}**" if f.failed else f.verdict
            row = (f"`{f.name}`", verdict, _md(format_value(f.value)), _md(f.meaning))
            lines.append("| " + " | ".join(row) + " |")
        for title, shown in (
            ("Witnesses", self._witnessed("fail")),
            ("Evidence", self._witnessed("no")),
        ):
            if shown:
                lines += ["", f"### {title}", ""]
                lines += [f"- `{f.name}`: {_md(format_witness(f.witness))}" for f in shown]
        if self.notes:
            lines += ["", *[f"> {_md(n)}" for n in self.notes]]
        return "\n".join(lines) + "\n"

    def to_html(self, directory: str | Path) -> Path:
        """Write ``index.html`` and the PNG plots into ``directory``; return the page's path.

        The plots need matplotlib (``pip install losskit[plot]``); without it the page is
        written without them and says so.
        """
        from . import _plots

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        try:
            figures = _plots.report_figures(self, directory)
            missing = ""
        except ImportError:
            figures = []
            missing = "matplotlib is not installed (pip install losskit[plot]): no plots."
        page = directory / "index.html"
        page.write_text(self._html(figures, missing, directory), encoding="utf-8")
        return page

    def _html(self, figures: list[tuple[str, str]], missing: str, directory: Path) -> str:
        esc = html.escape
        rows = []
        for f in self:
            shown = f.verdict in ("fail", "no") and f.witness
            witness = esc(format_witness(f.witness)) if shown else ""
            label = "witness" if f.failed else "evidence"
            rows.append(
                f'<tr class="{f.verdict}"><td><code>{esc(f.name)}</code></td>'
                f"<td>{esc(f.verdict)}</td><td>{esc(format_value(f.value))}</td>"
                f"<td>{esc(f.meaning)}"
                + (f'<div class="{label}">{label}: {witness}</div>' if witness else "")
                + "</td></tr>"
            )
        images = "".join(
            f'<figure class="{_figure_class(directory / name)}"><a href="{esc(name)}">'
            f'<img src="{esc(name)}" alt="{esc(title)}"></a>'
            f'<figcaption>{esc(title)} (<a href="{esc(name)}">full size</a>)</figcaption>'
            "</figure>"
            for title, name in figures
        )
        notes = "".join(f"<p class='note'>{esc(n)}</p>" for n in [*self.notes, missing] if n)
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>losskit check: {esc(self.loss_name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 1100px; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left;
         vertical-align: top; }}
tr.pass td:nth-child(2) {{ color: #17702d; font-weight: bold; }}
tr.fail td:nth-child(2) {{ color: #b00020; font-weight: bold; }}
tr.yes td:nth-child(2), tr.no td:nth-child(2) {{ color: #1f3f77; }}
tr.info td:nth-child(2) {{ color: #555; }}
.witness {{ font-size: 90%; color: #b00020; margin-top: 2px; }}
.evidence {{ font-size: 90%; color: #555; margin-top: 2px; }}
figure {{ display: inline-block; margin: 1em 1em 0 0; vertical-align: top; }}
figure.single img {{ max-width: 520px; }}
figure.wide {{ display: block; margin-right: 0; }}
figure.wide img {{ width: 100%; }}
.note {{ color: #555; }}
</style></head><body>
<h1>losskit check: <code>{esc(self.loss_name)}</code></h1>
<p>{esc(self.header())}</p>
<p class="note">{esc(LEGEND)}</p>
<table><tr><th>property</th><th>verdict</th><th>value</th><th>meaning</th></tr>
{"".join(rows)}
</table>
{notes}
{images}
</body></html>
"""


def _figure_class(png: Path) -> str:
    """``"wide"`` for a figure of several panels side by side (shown across the page, readable),
    ``"single"`` for one panel (read from the PNG's header: its width in pixels)."""
    try:
        header = png.read_bytes()[:24]
    except OSError:
        return "single"
    width = int.from_bytes(header[16:20], "big") if header[:8] == b"\x89PNG\r\n\x1a\n" else 0
    return "wide" if width > 700 else "single"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)
