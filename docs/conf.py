"""Sphinx configuration for the diffedu docs site.

This file is not used in place: ``tools/build_docs.py`` copies it into a staged source tree
(``_build/docs_src/``) next to the notebooks, the generated API pages and the local assets
(MathJax, plotly.js) and runs ``python -m sphinx`` there.  Everything the site needs is served
from ``_static/``: nothing is fetched from a CDN at build or view time.
"""

from __future__ import annotations

import configparser
import inspect
import os
import re
import sys
from pathlib import Path

_here = Path(__file__).resolve().parent


def _find_root() -> Path:
    "The repository root: $DIFFEDU_DOCS_ROOT (set by build_docs.py), else the first parent with settings.ini."
    env = os.environ.get("DIFFEDU_DOCS_ROOT")
    if env:
        return Path(env).resolve()
    for p in [_here, *_here.parents]:
        if (p / "settings.ini").exists():
            return p
    return _here.parent


ROOT = _find_root()
sys.path.insert(0, str(ROOT))  # autodoc imports the package from the working tree

_cfg = configparser.ConfigParser(interpolation=None)
_cfg.read(ROOT / "settings.ini")
_s = _cfg["DEFAULT"]  # empty when settings.ini is absent

# -- Project -----------------------------------------------------------------------------------
project = _s.get("title", "diffedu")
author = _s.get("author", "diffedu maintainers")
copyright = _s.get("copyright", "2026 onwards, diffedu maintainers")
release = version = _s.get("version", "0.1.0")

# -- General -----------------------------------------------------------------------------------
extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx_exercise",  # exercises with their solutions behind a toggle (the notebooks' `exercise`/`solution` tags)
    "sphinx_togglebutton",  # collapsed `reference` material (admonitions with :class: dropdown)
]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []
root_doc = "index"
language = "en"
suppress_warnings = ["myst.header"]  # notebooks often jump from # to ### ; not an error

# -- MyST / myst-nb ----------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_dmath_double_inline = True  # `$$...$$` inside a paragraph renders as display math, as in Jupyter
myst_heading_anchors = 3
nb_execution_mode = "off"  # render the outputs stored in the notebooks
nb_ipywidgets_js: dict = {}  # the default pulls require.js and the widget manager from CDNs
nb_merge_streams = True
nb_render_markdown_format = "myst"  # markdown outputs (result tables) render with tables, as in Jupyter
nb_output_stderr = "show"  # stderr in committed outputs is meaningful here (CLI errors)
nb_mime_priority_overrides = [
    # never render widget views (their state is not committed); use the fallbacks
    ("html", "application/vnd.jupyter.widget-view+json", None),
]

# -- autodoc -----------------------------------------------------------------------------------
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = True
default_role = "py:obj"  # nbdev docstrings write `name` for code: render it as code (a link when it resolves)

# -- Math: a local MathJax 3 (copied into _static/mathjax by build_docs.py) -----------------------
mathjax_path = "mathjax/tex-chtml.js"  # relative to _static; fonts under mathjax/output/chtml/fonts
mathjax3_config = {
    "tex": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]], "tags": "ams"},
}

# -- HTML --------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = project
html_static_path = ["_static"]
html_css_files: list[str] = ["diffedu.css"]  # code wraps, a wider column for figures
html_js_files: list[str] = []  # plotly.min.js is added only to pages that hold a plotly figure
html_last_updated_fmt = None  # no build date: rebuilds of the same sources are identical
html_theme_options = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": True,
    "use_repository_button": False,
    "use_issues_button": False,
    "use_edit_page_button": False,
    "navigation_with_keys": False,
    "launch_buttons": {},  # binder/colab/thebe buttons point at remote services
    # no right-hand sidebar: the reading column gets its width, so wide figures are shown near their own size
    # (the page's sections stay one click away in the header's table-of-contents button)
    "secondary_sidebar_items": [],
}
html_show_sourcelink = False
html_context = {"default_mode": "auto"}  # empty by default: pydata-sphinx-theme then logs a console error

PLOTLY_JS = "plotly.min.js"
PLOTLY_MARKER = "diffedu-plotly"


def _add_plotly_js(app, pagename, templatename, context, doctree):
    "Load the local plotly.js once on each page that holds a (converted) plotly figure."
    body = context.get("body") or ""
    if PLOTLY_MARKER in body and (Path(app.srcdir) / "_static" / PLOTLY_JS).exists():
        app.add_js_file(PLOTLY_JS, priority=400)


_DOLLAR_MATH = re.compile(r"(?<![\\$])\$(?!\s)([^$\n]+?)(?<!\s)\$(?!\$)")


def _docstring_math(app, what, name, obj, options, lines):
    "Docstrings written for Jupyter use $...$: render it as maths (:math:) on the API pages."
    for i, line in enumerate(lines):
        if "$" in line and not line.lstrip().startswith((">>>", "...")):
            lines[i] = _DOLLAR_MATH.sub(lambda m: ":math:`" + m.group(1).replace("`", "\\`") + "`", line)


def _drop_type_docstring(app, what, name, obj, options, lines):
    "An undocumented constant (a dict, tuple, str) would show its type's docstring: drop it."
    if what in ("data", "attribute") and lines:
        tdoc = getattr(type(obj), "__doc__", None)
        if isinstance(tdoc, str) and tdoc.strip() and lines[0].strip() == inspect.cleandoc(tdoc).splitlines()[0].strip():
            lines[:] = []


def setup(app):
    app.connect("html-page-context", _add_plotly_js)
    app.connect("autodoc-process-docstring", _drop_type_docstring)
    app.connect("autodoc-process-docstring", _docstring_math)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
