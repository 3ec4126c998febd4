"""Sphinx configuration of the testbed's documentation.

Build: ``sphinx-build -W --keep-going -b html docs OUT`` (``.ci/docs`` does this).
Pages are Markdown (MyST) or reStructuredText; the API reference is autodoc over the
public modules, with NumPy-style docstrings (napoleon). Formulas are typeset by
MathJax from a copy installed with the ``docs`` extra (``sphinx-mathjax-offline``),
so the built pages render their formulas without network access.
"""
from testbed import __version__

project = "testbed"
author = "the testbed authors"
copyright = "the testbed authors"
release = version = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",        # MathJax 3 copied into _static: formulas render offline
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]

# Markdown: $...$ and $$...$$ math, ::: fences, anchors for headings (the gallery's
# table links to its sections by #claim-id).
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# API reference: NumPy-style sections, members in source order, type hints in the
# signature only (the docstrings carry the types a reader needs).
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_param = False       # types as written ("array (n, d)"), not cross-references
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_preserve_defaults = True

html_theme = "pydata_sphinx_theme"
html_title = f"testbed {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    # the gallery's wide tables get the whole width: no sidebars there
    "secondary_sidebar_items": {"**": ["page-toc"], "gallery": []},
}
# the left sidebar lists a section's pages: only the API reference has any
html_sidebars = {page: [] for page in ("index", "installation", "tutorial", "gallery",
                                       "landscapes", "rules", "claims")}
html_static_path = ["_static"]
html_css_files = ["gallery.css"]
