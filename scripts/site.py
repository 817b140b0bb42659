"""Build losskit's documentation site with Sphinx, warnings as errors.

python scripts/site.py                 # HTML into build/site (prints the time and page count)
python scripts/site.py --out DIR       # elsewhere

The pages generated from the registry (one per loss, the gallery) and from the README are
written into docs/_generated/ by docs/_ext/losskit_site.py during the build. Needs the `docs`
extra (`pip install -e ".[docs]"`) beside the frameworks the checker uses.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
DEFAULT_OUT = REPO / "build" / "site"


def build(out: Path = DEFAULT_OUT, *, quiet: bool = True) -> float:
    """Build the site into ``out`` (from scratch); return the seconds it took. Raises
    ``RuntimeError`` when Sphinx reports an error or a warning."""
    from sphinx.cmd.build import build_main

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("MPLBACKEND", "Agg")
    started = time.perf_counter()
    args = ["-W", "--keep-going", "-E", "-b", "html", str(DOCS), str(out)]
    if quiet:
        args.insert(0, "-q")
    status = build_main(args)
    if status != 0:
        raise RuntimeError(f"sphinx-build failed (exit {status}); see the warnings above")
    return time.perf_counter() - started


def pages(out: Path = DEFAULT_OUT) -> list[Path]:
    """The site's HTML pages (without Sphinx's search and index pages)."""
    skipped = {"search.html", "genindex.html", "py-modindex.html"}
    return sorted(
        p for p in out.rglob("*.html") if p.name not in skipped and "_static" not in p.parts
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args()
    try:
        seconds = build(args.out, quiet=False)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"built {len(pages(args.out))} pages into {args.out} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
