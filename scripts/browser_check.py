"""Load HTML pages in headless Chromium and report what a reader would see broken.

python scripts/browser_check.py build/site                  # every page of the built site
python scripts/browser_check.py REPORT_DIR --shots DIR      # and keep screenshots

A page fails on a console error or an uncaught exception, a request that fails or answers
400 or more, a request leaving the machine (the site must be self-contained), an image that
does not load, a link to a page or anchor of the folder that does not exist, and mathematics
left unrendered (MathJax error nodes, math elements MathJax did not typeset, or raw TeX, ``$$``
and reStructuredText roles in the text). The pages are served from 127.0.0.1 by a throwaway
HTTP server; the browser is the system's Chromium (Debian's ``chromium`` package) driven by
Playwright, never a downloaded one.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import socketserver
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urlparse

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Raw markup that must not survive into a page's text (outside code).
RAW_MATH = [
    (re.compile(r"\\\(|\\\)|\\\[|\\\]"), "TeX delimiters \\( \\) \\[ \\]"),
    (re.compile(r"\$\$"), "$$"),
    (re.compile(r":math:`|:func:`|:class:`|\.\. math::"), "a reStructuredText role or directive"),
    (re.compile(r"\$[^$\s][^$\n]*\\[A-Za-z]+[^$\n]*\$"), "$...$ with TeX inside"),
]

# Runs in the page: make every image load now, wait for MathJax, then collect what to judge.
INSPECT = """
async () => {
  for (const img of document.images) { img.loading = "eager"; }
  await Promise.all(Array.from(document.images).map(
    img => img.decode().catch(() => null)));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const broken = Array.from(document.images)
    .filter(img => !img.complete || img.naturalWidth === 0).map(img => img.src);
  const mathErrors = document.querySelectorAll("mjx-merror, [data-mjx-error]").length;
  const untypeset = Array.from(document.querySelectorAll(".math"))
    .filter(el => !el.querySelector("mjx-container")).length;
  const clone = document.body.cloneNode(true);
  clone.querySelectorAll("pre, code, script, style, mjx-container, .highlight, textarea")
    .forEach(el => el.remove());
  return {broken, mathErrors, untypeset, text: clone.innerText,
          hasMathJax: !!window.MathJax,
          links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href)};
}
"""


@dataclass
class PageResult:
    """What the browser found on one page; ``problems`` empty means the page passed."""

    path: str
    problems: list[str] = field(default_factory=list)
    math: int = 0


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


@functools.cache
def anchors_of(path: Path) -> frozenset[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 (a free port) for the duration; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            server.shutdown()


def html_pages(root: Path) -> list[Path]:
    """Every HTML page under ``root`` but Sphinx's search page (it needs a query to show
    anything) and its static assets."""
    return sorted(
        p for p in root.rglob("*.html") if p.name != "search.html" and "_static" not in p.parts
    )


def check_link(root: Path, base: str, href: str) -> str | None:
    """Why ``href`` (absolute, as the browser resolved it) is broken, or None. Only links into
    ``root`` are judged."""
    if not href.startswith(base):
        return None
    url, fragment = urldefrag(href)
    relative = unquote(urlparse(url).path)[len(urlparse(base).path) :]
    target = root / relative
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return f"broken link: {relative or '/'}"
    if fragment and target.suffix == ".html" and unquote(fragment) not in anchors_of(target):
        return f"broken anchor: {relative}#{fragment}"
    return None


def raw_markup(text: str) -> list[str]:
    found = []
    for pattern, what in RAW_MATH:
        match = pattern.search(text)
        if match:
            start = max(0, match.start() - 40)
            context = " ".join(text[start : match.end() + 40].split())
            found.append(f"unrendered math ({what}): ...{context}...")
    return found


def check_pages(
    root: Path,
    pages: list[Path] | None = None,
    *,
    screenshots: Path | None = None,
    shoot: dict[str, str] | None = None,
    timeout_ms: int = 60_000,
) -> list[PageResult]:
    """Load ``pages`` (default: every page under ``root``) in headless Chromium and judge each.
    ``shoot`` maps a page's path relative to ``root`` to a screenshot file name written into
    ``screenshots``."""
    from playwright.sync_api import sync_playwright

    root = root.resolve()
    pages = html_pages(root) if pages is None else pages
    shoot = shoot or {}
    results = []
    with serve(root) as base, tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        context.route(
            re.compile(r"^(?!http://127\.0\.0\.1:)[a-z]+://.*"),
            lambda route: route.abort(),
        )
        page = context.new_page()
        for path in pages:
            relative = path.relative_to(root).as_posix()
            results.append(_check_one(page, root, base, relative, screenshots, shoot, timeout_ms))
        context.close()
    return results


def _check_one(
    page: Any,
    root: Path,
    base: str,
    relative: str,
    screenshots: Path | None,
    shoot: dict[str, str],
    timeout_ms: int,
) -> PageResult:
    result = PageResult(relative)
    problems = result.problems

    def on_console(message: Any) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    def on_response(response: Any) -> None:
        if response.status >= 400:
            problems.append(f"HTTP {response.status}: {response.url}")

    def on_failed(request: Any) -> None:
        url = request.url
        where = "request leaving the machine" if not url.startswith(base) else "failed request"
        problems.append(f"{where}: {url}")

    handlers = {
        "console": on_console,
        "pageerror": lambda error: problems.append(f"uncaught exception: {error}"),
        "response": on_response,
        "requestfailed": on_failed,
    }
    for event, handler in handlers.items():
        page.on(event, handler)
    try:
        page.goto(base + relative, wait_until="load", timeout=timeout_ms)
        seen = page.evaluate(INSPECT)
        problems += [f"missing image: {src}" for src in seen["broken"]]
        if seen["mathErrors"]:
            problems.append(f"{seen['mathErrors']} MathJax error node(s)")
        if seen["untypeset"]:
            problems.append(f"{seen['untypeset']} math element(s) not typeset by MathJax")
        problems += raw_markup(seen["text"])
        for href in dict.fromkeys(seen["links"]):
            broken = check_link(root, base, href)
            if broken:
                problems.append(broken)
        page.wait_for_load_state("networkidle", timeout=timeout_ms)
        result.math = page.evaluate("document.querySelectorAll('mjx-container').length")
        if screenshots is not None and relative in shoot:
            screenshots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshots / shoot[relative]), full_page=True)
    finally:
        for event, handler in handlers.items():
            page.remove_listener(event, handler)
    return result


def summary(results: list[PageResult]) -> str:
    failed = [r for r in results if r.problems]
    lines = [f"{len(results) - len(failed)} of {len(results)} pages passed the browser check"]
    lines.append(f"({sum(r.math for r in results)} formulas typeset)")
    for r in failed:
        lines += [f"{r.path}:", *(f"  - {p}" for p in r.problems[:20])]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="folder of HTML pages (a built site, a report)")
    parser.add_argument("--shots", type=Path, help="write a screenshot of index.html here")
    args = parser.parse_args()
    shoot = {"index.html": f"{args.root.name}.png"} if args.shots else None
    results = check_pages(args.root, screenshots=args.shots, shoot=shoot)
    print(summary(results))
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
