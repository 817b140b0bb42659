"""Sphinx extension that writes the generated part of losskit's site into docs/_generated/.

At ``builder-inited`` (before Sphinx reads any page) it writes:

* the guide pages cut from the README's sections (headings moved up a level, links rewritten
  to the site's pages);
* the command line's page, from the parser's own help;
* one page per registered loss: its docstring (autodoc), parameters, the anchors and the
  docstring's sentences on reproducing them, the loss and its gradient plotted, its ``lk.check``
  table, and its doctest example;
* the gallery: every loss's curve as a thumbnail linking to its page.

``source-read`` rewrites the links of the hand-written pages the same way (the README, and files
outside docs/ such as examples/, are not pages of the site). ``autodoc-process-docstring`` moves
a loss's doctest to its page's Example section and makes its formulas MathJax-ready.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import re
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import losskit_cuts  # docs/_ext, on the path conf.py sets
from sphinx.application import Sphinx
from sphinx.util import logging

import losskit as lk
from losskit._rst import tidy_tex, to_markdown

LOG = logging.getLogger(__name__)
DOCS = Path(__file__).resolve().parent.parent
REPO = DOCS.parent
README = REPO / "README.md"
OUT = DOCS / "_generated"
PLOTS = OUT / "_plots"
# Checks and plots of a build, reused by the next build of the same sources.
CACHE = Path(os.environ.get("LOSSKIT_SITE_CACHE", REPO / "build" / "site-cache"))
STUDY_VERSION = "2"  # raise when study() changes what it computes
CONTRACT = ("sample_weight", "mask", "reduction", "normalizer")
POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)

# Pages cut from the README: (page, title, the README's level-2 sections it holds).
README_PAGES = [
    ("getting-started", "Getting started", ["Why", "Install & run", "Usage", "In your framework"]),
    ("reduction-contract", "The reduction contract", ["The reduction contract"]),
    ("numerics", "Numerics", ["Numerics", "The epsilon table"]),
    ("validation", "Validation", ["Validation"]),
    ("custom-losses", "Custom losses and the checker", ["Custom losses"]),
    ("development", "Development", ["Development"]),
]
# README sections whose subject has its own hand-written page.
README_ELSEWHERE = {"Scaling out": "scaling-out.md", "Benchmarks": "benchmarks.md"}

# Tasks the checker and the curve plots know, for losses registered under another task name.
TASK_OVERRIDES = {"brier": "binary"}
# Losses that take a scale or variance beside (y_true, y_pred): checked and plotted with it
# fixed at 1 (the text on their page says so).
UNIT_SCALE: dict[str, Callable[[Any, Any], Any]] = {
    "gaussian_nll": lambda y, p: lk.gaussian_nll(y, p, var=p * 0 + 1.0),
    "laplace_nll": lambda y, p: lk.laplace_nll(y, p, scale=p * 0 + 1.0),
    "crps_gaussian": lambda y, p: lk.crps_gaussian(y, p, p * 0 + 1.0),
    "beta_nll": lambda y, p: lk.beta_nll(y, p, p * 0 + 1.0),
}
UNIT_SCALE_PARAMETER = {
    "gaussian_nll": "var",
    "laplace_nll": "scale",
    "crps_gaussian": "sigma",
    "beta_nll": "variance",
}


# ------------------------------------------------------------------------------ links
LINK = re.compile(r"(?<!!)\[([^\]\n]*)\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")


def slug(heading: str) -> str:
    """The anchor myst-parser gives a heading (GitHub's rule)."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def readme_anchors() -> dict[str, str]:
    """Every README heading's anchor → the site page (relative to docs/) that holds it."""
    where: dict[str, str] = {}
    page_of = {s: f"_generated/{page}.md" for page, _, sections in README_PAGES for s in sections}
    page_of.update(README_ELSEWHERE)
    current = "index.md"
    for heading_level, heading in headings(README.read_text(encoding="utf-8")):
        if heading_level == 2:
            current = page_of.get(heading, "_generated/gallery.md")
        if heading_level >= 2:
            where[slug(heading)] = current
    return where


def headings(text: str) -> list[tuple[int, str]]:
    found, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := re.match(r"^(#{1,6}) (.+)$", line)):
            found.append((len(m.group(1)), m.group(2).strip()))
    return found


def rewrite_links(text: str, source: Path, page: Path, anchors: dict[str, str]) -> str:
    """``text``'s relative links, written for the file ``source``, made right for the site page
    ``page`` (both absolute paths): the README's anchors point to the pages that hold their
    sections, a file outside docs/ becomes its path in code font (it is not part of the site)."""

    def relative(target: Path) -> str:
        return os.path.relpath(target, page.parent).replace(os.sep, "/")

    def replace(match: re.Match[str]) -> str:
        label, target = match.group(1), match.group(2)
        if re.match(r"^[a-z]+:", target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = (source.parent / path).resolve() if path else source
        if resolved == README:
            holder = anchors.get(anchor, "index.md")
            if path == "" and holder == "index.md":
                return match.group(0)
            tail = f"#{anchor}" if anchor and not holder.endswith(("scaling-out.md",)) else ""
            if DOCS / holder == page:
                return f"[{label}](#{anchor})" if anchor else label
            return f"[{label}]({relative(DOCS / holder)}{tail})"
        if not path:
            return match.group(0)
        if resolved.is_relative_to(DOCS) and resolved.suffix == ".md":
            return f"[{label}]({relative(resolved)}{'#' + anchor if anchor else ''})"
        name = resolved.relative_to(REPO).as_posix() if resolved.is_relative_to(REPO) else path
        bare = label.strip("`")
        return f"`{name}`" if bare == name else f"{label} (`{name}`)"

    out, fenced = [], False
    for line in text.splitlines(keepends=True):
        if FENCE.match(line):
            fenced = not fenced
        out.append(line if fenced else LINK.sub(replace, line))
    return "".join(out)


# ---------------------------------------------------------------------- README pages
def readme_sections() -> tuple[str, dict[str, str]]:
    """The README's text before its first section, and each level-2 section's body."""
    text = README.read_text(encoding="utf-8")
    parts = re.split(r"(?m)^## (.+)$", text)
    intro = re.sub(r"(?m)\A# .+\n", "", parts[0]).strip()
    sections: dict[str, str] = {}
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        sections[title.strip()] = body.strip("\n")
    return intro, sections


def shift_headings(text: str, by: int) -> str:
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := re.match(r"^(#{2,6}) ", line)):
            line = "#" * (len(m.group(1)) - by) + line[len(m.group(1)) :]
        out.append(line)
    return "\n".join(out)


def write_readme_pages(anchors: dict[str, str]) -> None:
    intro, sections = readme_sections()
    for page, title, names in README_PAGES:
        if len(names) == 1:
            body = shift_headings(sections[names[0]], 1)
        else:
            body = "\n\n".join(f"## {n}\n\n{sections[n]}" for n in names)
        if page == "getting-started":
            body = f"{intro}\n\n{body}"
        text = f"# {title}\n\n{body}\n"
        target = OUT / f"{page}.md"
        write(target, rewrite_links(text, README, target, anchors))


# ---------------------------------------------------------------------- command line
def write_cli_page(anchors: dict[str, str]) -> None:
    import argparse

    from losskit.cli import build_parser

    _, sections = readme_sections()
    custom = sections["Custom losses"]
    summary = (
        custom.split("### The command line", 1)[1].strip() if "### The command" in custom else ""
    )
    parser = build_parser()
    lines = ["# The command line", "", summary, "", "## `losskit`", "", "```text"]
    lines += [parser.format_help().rstrip(), "```"]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                lines += ["", f"## `losskit {name}`", "", "```text", sub.format_help().rstrip()]
                lines += ["```"]
    target = OUT / "cli.md"
    write(target, rewrite_links("\n".join(lines) + "\n", README, target, anchors))


# ---------------------------------------------------------------------- loss pages
@dataclasses.dataclass
class LossFacts:
    """What a loss's page shows beside its docstring."""

    name: str
    task: str | None
    plotted: bool
    check_table: str
    note: str
    seconds: float
    cut: str = ""  # what the plot's one-dimensional cut varies (losskit_cuts), "" for plot_loss


def check_task(entry: lk.LossInfo) -> str | None:
    from losskit.cli import CHECK_TASK_OF, CHECK_TASKS

    task = TASK_OVERRIDES.get(entry.name, CHECK_TASK_OF.get(entry.task, entry.task))
    return task if task in CHECK_TASKS else None


def study(entry: lk.LossInfo) -> LossFacts:
    """Check and plot one loss (in a quiet, non-interactive matplotlib)."""
    import matplotlib.image
    import matplotlib.pyplot as plt

    import losskit.plots as lkp

    started = time.perf_counter()
    task = check_task(entry)
    target: Any = UNIT_SCALE.get(entry.name, entry.name)
    if task is None:
        return cut_study(entry, None, "", started)
    note = ""
    if entry.name in UNIT_SCALE:
        note = f"Checked and plotted with `{UNIT_SCALE_PARAMETER[entry.name]}` fixed at 1."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            report = lk.check(target, task=task)
            table = report.to_markdown().split("\n", 2)[2]  # without the report's own heading
        except (TypeError, ValueError):
            return cut_study(entry, None, note, started)  # not f(y_true, y_pred): no table
        plotted = True
        try:
            figure = lkp.plot_loss(target, task=task, grad=True)
            figure.savefig(PLOTS / f"{entry.name}.png", dpi=80)
            plt.close(figure)
            matplotlib.image.thumbnail(
                str(PLOTS / f"{entry.name}.png"),
                str(PLOTS / f"{entry.name}.thumb.png"),
                scale=0.35,
            )
        except (TypeError, ValueError) as error:
            plotted = False
            note = f"{note} No curve: {error}".strip()
    return LossFacts(entry.name, task, plotted, table, note, time.perf_counter() - started)


def cut_study(entry: lk.LossInfo, task: str | None, note: str, started: float) -> LossFacts:
    """Plot a loss the checker cannot call along its one-dimensional cut (``losskit_cuts``)."""
    import matplotlib.image

    cut = losskit_cuts.cut_for(entry)
    if cut is None:
        return LossFacts(entry.name, task, False, "", note, time.perf_counter() - started)
    figure = losskit_cuts.figure(cut, entry.name)
    figure.savefig(PLOTS / f"{entry.name}.png", dpi=80)
    matplotlib.image.thumbnail(
        str(PLOTS / f"{entry.name}.png"), str(PLOTS / f"{entry.name}.thumb.png"), scale=0.35
    )
    seconds = time.perf_counter() - started
    return LossFacts(entry.name, task, True, "", note, seconds, cut=cut.sentence)


def source_key() -> str:
    """A digest of losskit's sources, of the cuts and of ``STUDY_VERSION``: the cache of checks
    and plots is valid while they are unchanged."""
    digest = hashlib.sha256(STUDY_VERSION.encode())
    digest.update(Path(losskit_cuts.__file__).read_bytes())
    for path in sorted(Path(lk.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cached_study(entry: lk.LossInfo, cache: Path) -> LossFacts:
    """``study(entry)``, or its result from a build of the same sources."""
    record = cache / f"{entry.name}.json"
    images = [f"{entry.name}.png", f"{entry.name}.thumb.png"]
    if record.exists():
        facts = LossFacts(**json.loads(record.read_text(encoding="utf-8")))
        if not facts.plotted or all((cache / image).exists() for image in images):
            for image in images if facts.plotted else []:
                shutil.copyfile(cache / image, PLOTS / image)
            return facts
    facts = study(entry)
    cache.mkdir(parents=True, exist_ok=True)
    for image in images if facts.plotted else []:
        shutil.copyfile(PLOTS / image, cache / image)
    record.write_text(json.dumps(dataclasses.asdict(facts)), encoding="utf-8")
    return facts


def doctest_of(function: Any) -> str:
    doc = inspect.getdoc(function) or ""
    paragraphs = [p for p in doc.split("\n\n") if p.lstrip().startswith(">>>")]
    return "\n\n".join(paragraphs)


def parameter_rows(function: Any) -> list[str]:
    rows = ["| parameter | kind | default |", "|---|---|---|"]
    for p in inspect.signature(function).parameters.values():
        if p.name in CONTRACT:
            continue
        kind = "input (positional)" if p.kind in POSITIONAL else "keyword"
        default = "required" if p.default is p.empty else f"`{p.default!r}`"
        rows.append(f"| `{p.name}` | {kind} | {default if p.kind not in POSITIONAL else '—'} |")
    rows.append(
        "| `sample_weight`, `mask`, `reduction`, `normalizer` | keyword | "
        "the [reduction contract](../reduction-contract.md) |"
    )
    return rows


ANCHOR_WORDS = re.compile(
    r"\b(Anchors?|keras|Keras|optax|torch|PyTorch|torchvision|monai|MONAI|smp|TRL|trl|"
    r"scoringrules|scikit-learn|sklearn|pytorch-metric-learning|PML|Liger|TensorFlow|tfa|"
    r"kornia|XGBoost|LightGBM|CatBoost|timm)\b"
)


SKIPPED = (">>>", ".. math::", "Args:", "Arguments:", "Parameters", "Returns")  # not prose


def anchor_paragraphs(function: Any) -> list[str]:
    """The docstring's paragraphs that name an anchor implementation (where it says which option
    reproduces which library), as Markdown."""
    doc = inspect.getdoc(function) or ""
    kept = []
    for paragraph in doc.split("\n\n"):
        stripped = paragraph.strip()
        if stripped.startswith(SKIPPED) or not ANCHOR_WORDS.search(stripped):
            continue
        kept.append(to_markdown(" ".join(stripped.split())))
    return kept


def loss_page(entry: lk.LossInfo, facts: LossFacts) -> str:
    function = entry.function
    lines = [f"(loss-{entry.name})=", f"# `{entry.name}`", ""]
    badges = [f"family **{entry.family}**", f"kind **{entry.kind}**", f"task **{entry.task}**"]
    badges.append(f"domain **{entry.domain}**")
    lines += [" · ".join(badges), ""]
    if entry.aliases:
        lines += ["Aliases: " + ", ".join(f"`{a}`" for a in entry.aliases), ""]
    lines += ["## Definition", "", "```{eval-rst}", f".. autofunction:: losskit.{entry.name}"]
    lines += ["```", "", "## Parameters", "", *parameter_rows(function), ""]
    lines += ["## References and anchors", ""]
    lines += [f"- {ref}" for ref in entry.references] or ["- (none recorded)"]
    paragraphs = anchor_paragraphs(function)
    if paragraphs:
        lines += ["", "Reproducing each anchor, from the docstring:", ""]
        lines += [f"> {p}\n>" for p in paragraphs]
        lines[-1] = lines[-1].removesuffix("\n>")
    if entry.contract_exceptions:
        lines += ["", "Contract exceptions (promises this loss cannot keep):", ""]
        lines += [f"- `{k}`: {why}" for k, why in sorted(entry.contract_exceptions.items())]
    lines += ["", "## Loss and gradient", ""]
    if facts.plotted and facts.cut:
        lines += [f"![{entry.name}: loss and gradient](../_plots/{entry.name}.png)", ""]
        lines += [
            f"{facts.cut} Top: the loss; bottom: its derivative d loss / d t, by central "
            f"differences along the cut (NumPy, float64, default options).",
        ]
    elif facts.plotted:
        lines += [f"![{entry.name}: loss and gradient](../_plots/{entry.name}.png)", ""]
        lines += [
            f"The loss (top) and its derivative (bottom) against the prediction, task "
            f'`{facts.task}`, drawn by `losskit.plots.plot_loss("{entry.name}", '
            f'task="{facts.task}", grad=True)`.',
        ]
    else:
        lines.append(no_curve_sentence(entry))
    if facts.note:
        lines += ["", facts.note]
    lines += ["", "## Property check", ""]
    if facts.task and facts.check_table:
        lines += [f'`lk.check("{entry.name}", task="{facts.task}")`:', "", facts.check_table]
    else:
        lines += [no_check_sentence(entry), "", *registered_properties(entry)]
    example = doctest_of(function)
    lines += ["", "## Example", ""]
    if example:
        lines += ["```pycon", example, "```", "", "(Run by the test suite as a doctest.)"]
    else:
        lines.append("The docstring has no example.")
    return "\n".join(lines) + "\n"


def no_curve_sentence(entry: lk.LossInfo) -> str:
    return (
        f"No one-dimensional curve: the plots draw a loss against one prediction for the "
        f"checker's tasks (binary, multiclass, multilabel, regression, segmentation and the "
        f"language-model tasks), and this loss's task, `{entry.task}`, compares "
        f"{inputs_phrase(entry.function)}."
    )


def no_check_sentence(entry: lk.LossInfo) -> str:
    inputs = inputs_phrase(entry.function)
    if check_task(entry) is None:
        why = f"this loss takes {inputs} ({entry.domain} values, task `{entry.task}`)"
    else:
        why = f"this loss takes {inputs}, not one prediction per target"
    return (
        f"No property table: `lk.check` generates the inputs of the tasks binary, multiclass, "
        f"multilabel, regression and segmentation (one prediction per target) and of "
        f"preference, policy and distillation (log-probabilities, logits), and {why}, so the "
        f"checker cannot call it. Its requirements are checked by the test suite instead, on "
        f"every backend: values and float64 gradients against an independent reference, finite "
        f"values and gradients at extreme inputs, the reduction contract (an all-masked batch "
        f"gives 0 with zero gradient), clear errors for bad inputs, and parity with its anchor "
        f"library where one exists."
    )


def registered_properties(entry: lk.LossInfo) -> list[str]:
    if not entry.properties:
        return []
    facts = ", ".join(f"`{key}`: {value}" for key, value in sorted(entry.properties.items()))
    return ["Properties it is registered with (stated, not measured):", "", facts]


def inputs_phrase(function: Any) -> str:
    found = [
        p.name for p in inspect.signature(function).parameters.values() if p.kind in POSITIONAL
    ]
    return ", ".join(f"`{n}`" for n in found)


def gallery_page(
    entries: list[lk.LossInfo], facts: dict[str, LossFacts], anchors: dict[str, str]
) -> str:
    _, sections = readme_sections()
    families_text = rewrite_links(sections["The catalogue"], README, OUT / "gallery.md", anchors)
    lines = ["# Loss gallery", "", families_text, ""]
    lines += ["## Every loss at a glance", ""]
    lines += [
        "Each card shows the loss against the prediction (the first panels of its page's plot) "
        "and links to its page; for losses whose inputs are not one prediction per target "
        "(metric learning, ranking, detection, ...) the card shows the loss along the cut its "
        "page describes (an angle, a score, a shift).",
        "",
    ]
    families: dict[str, list[lk.LossInfo]] = {}
    for entry in entries:
        families.setdefault(entry.family, []).append(entry)
    for family in sorted(families):
        lines += [f"### {family}", "", "::::{container} gallery", ""]
        for entry in families[family]:
            lines += [":::{container} gallery-card", ""]
            if facts[entry.name].plotted:
                lines += [f"```{{image}} _plots/{entry.name}.thumb.png", f":alt: {entry.name}"]
                lines += [f":target: losses/{entry.name}.html", "```", ""]
            else:
                lines += [f"*no curve ({entry.task})*", ""]
            lines += [f"[`{entry.name}`](losses/{entry.name}.md)", "", ":::", ""]
        lines += ["::::", ""]
    lines += ["```{toctree}", ":hidden:", ":maxdepth: 1", ""]
    lines += [f"losses/{entry.name}" for entry in entries]
    lines += ["```", ""]
    return "\n".join(lines)


def api_loss_table(entries: list[lk.LossInfo]) -> str:
    rows = ["| loss | family | task | summary |", "|---|---|---|---|"]
    for entry in entries:
        doc = (inspect.getdoc(entry.function) or "").split("\n\n")[0].replace("\n", " ")
        summary = to_markdown(doc).replace("|", "\\|")
        link = f"[`{entry.name}`](../_generated/losses/{entry.name}.md)"
        rows.append(f"| {link} | {entry.family} | {entry.task} | {summary} |")
    return "\n".join(rows) + "\n"


# ---------------------------------------------------------------------- the hooks
def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def generate(app: Sphinx) -> None:
    import matplotlib

    matplotlib.use("Agg")
    started = time.perf_counter()
    if OUT.exists():
        shutil.rmtree(OUT)
    PLOTS.mkdir(parents=True)
    anchors = readme_anchors()
    write_readme_pages(anchors)
    write_cli_page(anchors)
    entries = [lk.info(name) for name in lk.names()]
    cache = CACHE / source_key()
    facts = {}
    for entry in entries:
        facts[entry.name] = cached_study(entry, cache)
        write(OUT / "losses" / f"{entry.name}.md", loss_page(entry, facts[entry.name]))
    write(OUT / "gallery.md", gallery_page(entries, facts, anchors))
    write(OUT / "loss-table.inc", api_loss_table(entries))
    LOG.info(
        "losskit_site: %d loss pages generated in %.1f s",
        len(entries),
        time.perf_counter() - started,
    )


def rewrite_page_links(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname.startswith("_generated/"):
        return
    path = DOCS / f"{docname}.md"
    if path.exists():
        source[0] = rewrite_links(source[0], path, path, readme_anchors())


def tidy_docstring(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """A registered loss's doctest goes to its page's Example section; every formula gets
    MathJax-ready quotes and literals."""
    short = name.rsplit(".", 1)[-1]
    if what == "function" and name.startswith("losskit.") and short in lk.names():
        first = next((i for i, line in enumerate(lines) if line.lstrip().startswith(">>>")), None)
        if first is not None:
            end = first
            while end < len(lines) and lines[end].strip():
                end += 1
            del lines[first:end]
    directive = -1  # the indent of the .. math:: directive being read, -1 outside one
    for i, line in enumerate(lines):
        indent = len(line) - len(line.lstrip())
        if ".. math::" in line:
            directive = indent
        elif directive >= 0 and line.strip() and indent <= directive:
            directive = -1
        if directive >= 0:
            lines[i] = tidy_tex(line)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    app.connect("source-read", rewrite_page_links)
    app.connect("autodoc-process-docstring", tidy_docstring)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
