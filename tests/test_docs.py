"""The documentation site builds with warnings as errors, and what makes its pages
render offline is in the build: a local MathJax, the formulas of the docstrings, the
gallery's figures and its claims.json. Skipped unless the ``docs`` extra is installed
(``pip install -e '.[docs]'``; ``.ci/docs`` builds the same site in CI). About 10 s.
"""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NEEDED = ("sphinx", "myst_parser", "pydata_sphinx_theme", "sphinx-mathjax-offline")
missing = [m for m in NEEDED if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(bool(missing), reason=f"docs extra not installed: {missing}")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q",
                           "-b", "html", str(ROOT / "docs"), str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def test_every_page_is_built(site):
    for page in ("index", "installation", "tutorial", "gallery", "landscapes", "rules",
                 "claims", "api/index", "api/landscapes", "api/run", "api/curvature",
                 "api/critical", "api/slices", "api/nets", "api/theory", "api/kernel"):
        assert (site / f"{page}.html").is_file(), page


def test_formulas_are_typeset_by_a_local_mathjax(site):
    page = (site / "api" / "curvature.html").read_text()
    scripts = re.findall(r'<script[^>]+src="([^"]*mathjax[^"]*)"', page, re.I)
    assert scripts and all(not s.startswith(("http:", "https:", "//")) for s in scripts), \
        scripts
    assert (site / "api" / scripts[0]).resolve().is_file(), scripts[0]
    # a docstring formula reaches the page as math, not as plain text or an error
    assert r"\operatorname{tr} H" in page
    assert 'class="math' in page and "problematic" not in page


def test_gallery_shows_every_figure_and_links_the_records(site):
    page = (site / "gallery.html").read_text()
    figures = sorted(p.name for p in (ROOT / "figures").glob("*.png"))
    assert figures
    for name in figures:
        src = re.search(rf'<img[^>]+src="([^"]*{re.escape(name)})"', page)
        assert src, name
        assert (site / src.group(1)).is_file(), src.group(1)
    link = re.search(r'href="([^"]*claims\.json)"', page)
    assert link and (site / link.group(1)).is_file()
