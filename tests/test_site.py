"""The documentation site and the HTML reports, checked in a real browser.

The site is built with warnings as errors (``scripts/site.py``) and every page is loaded in
headless Chromium (``scripts/browser_check.py``): no console error, failed request, request
leaving the machine, missing image, broken internal link or anchor, or unrendered mathematics.
The same check runs on the reports of ``losskit compare --report`` and ``losskit check
--report``. Screenshots of a few pages go to artifacts/screenshots/ (CI keeps that folder).

Marked ``slow`` and ``site``: the README's test command leaves them out; CI runs them after the
site build (``LOSSKIT_SITE=build/site`` checks that build instead of building again).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import losskit as lk

pytestmark = [pytest.mark.slow, pytest.mark.site]

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = {
    "index.html": "site-index.png",
    "_generated/gallery.html": "site-gallery.png",
    "_generated/losses/binary_crossentropy.html": "site-loss-binary_crossentropy.png",
    "_generated/losses/dice.html": "site-loss-dice.png",
    "catalogue.html": "site-catalogue.png",
    "site/api.html": "site-api.png",
}


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def browser_check():
    pytest.importorskip("playwright", reason="the docs extra: pip install -e '.[docs]'")
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (Debian: apt-get install chromium)")
    return _script("browser_check")


def _run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)


def test_site_builds_and_every_page_passes_in_the_browser(browser_check):
    built = os.environ.get("LOSSKIT_SITE")
    if built:
        site = Path(built).resolve()
    else:
        pytest.importorskip("sphinx", reason="the docs extra: pip install -e '.[docs]'")
        site = REPO / "build" / "site"
        done = _run(sys.executable, "scripts/site.py", "--out", str(site))
        assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]

    # every registered loss has its page, and the gallery links to each
    built = sorted((site / "_generated" / "losses").glob("*.html"))
    assert len(built) == len(lk.names())
    assert {p.stem for p in built} == set(lk.names())
    gallery = (site / "_generated" / "gallery.html").read_text(encoding="utf-8")
    cards = gallery.split('id="every-loss-at-a-glance"', 1)[1].split("</article>", 1)[0]
    for name in lk.names():  # each card's name links to the loss's page, over its curve
        assert f'<a class="reference internal" href="losses/{name}.html">' in cards, name
        assert f"_images/{name}.thumb.png" in cards, f"no curve on {name}'s gallery card"
    # every loss page shows its loss-and-gradient plot, and its property table or why not
    for page in built:
        html = page.read_text(encoding="utf-8")
        assert f'src="../../_images/{page.stem}.png"' in html, f"no plot on {page.name}"
        assert "minimum_at_target" in html or "No property table" in html, page.name
    focal = (site / "_generated" / "losses" / "binary_focal_crossentropy.html").read_text("utf-8")
    for section in ("Definition", "Parameters", "References and anchors", "Loss and gradient"):
        assert section in focal
    assert "Property check" in focal and "minimum_at_target" in focal
    assert "highlight-pycon" in focal  # the doctest example

    results = browser_check.check_pages(site, screenshots=SCREENSHOTS, shoot=SHOTS)
    report = browser_check.summary(results)
    print(report)
    assert len(results) >= len(lk.names()) + 15
    assert not [r for r in results if r.problems], report
    # formulas were typeset on the loss pages (MathJax ran), and the screenshots were kept
    assert sum(r.math for r in results if "/losses/" in r.path) >= len(lk.names())
    for shot in SHOTS.values():
        assert (SCREENSHOTS / shot).stat().st_size > 10_000, shot


def test_report_pages_pass_in_the_browser(browser_check, tmp_path):
    compare = tmp_path / "compare"
    done = _run(
        sys.executable, "-m", "losskit", "compare", "--losses", "crossentropy", "brier",
        "--seeds", "1", "--epochs", "2", "--noise", "0", "--no-progress",
        "--report", str(compare),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    check = tmp_path / "check"
    done = _run(
        sys.executable, "-m", "losskit", "check", "binary_crossentropy", "--report", str(check)
    )
    assert done.returncode == 0, done.stderr
    for folder, shot in ((compare, "report-compare.png"), (check, "report-check.png")):
        pages = browser_check.html_pages(folder)
        assert pages, f"no HTML page in {folder}"
        results = browser_check.check_pages(
            folder, pages, screenshots=SCREENSHOTS, shoot={"index.html": shot}
        )
        assert not [r for r in results if r.problems], browser_check.summary(results)
        assert (SCREENSHOTS / shot).exists()
