"""Sphinx configuration of losskit's documentation site.

Build it with ``python scripts/site.py`` (warnings are errors; the HTML lands in build/site).
The hand-written pages are the Markdown files of docs/ (read by myst-parser) and docs/site/;
the rest is generated at build time into docs/_generated/ (never committed) by the local
extension docs/_ext/losskit_site.py: pages made from the README's sections, the command line's
help, one page per registered loss with its plot and property check, and the gallery.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).parent / "_ext"))

import losskit

project = "losskit"
author = "the losskit authors"
copyright = "the losskit authors"
version = release = losskit.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 served from the site itself: no page loads a CDN
    "losskit_site",
]

root_doc = "index"
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_ext", "_build", "**/.ipynb_checkpoints"]

myst_enable_extensions = ["dollarmath", "colon_fence", "attrs_inline"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

autodoc_default_options = {"members": False}
autodoc_typehints = "none"  # the signatures' annotations are long unions; the text says more
napoleon_google_docstring = True
napoleon_numpy_docstring = True

html_theme = "furo"
html_title = f"losskit {release}"
html_static_path = ["site/_static"]
html_css_files = ["losskit.css"]
html_show_sourcelink = False
html_copy_source = False
html_permalinks_icon = "#"
