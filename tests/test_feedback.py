"""The faster feedback exporter and schema cache change cost, not results."""

from __future__ import annotations

import base64

import nbformat
import pytest
from bs4 import BeautifulSoup
from conftest import SOLUTIONS
from nbconvert.exporters import HTMLExporter
from nbgrader.converters import GenerateFeedback

from autograder.feedback import MISSING_ALT, FeedbackExporter, add_accessibility_attributes

# a 1x1 PNG: an image output, which the template renders as <img> without alt text
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7d6a4d00000000049454e44ae426082"
)).decode()


def _notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python"}
    code = nbformat.v4.new_code_cell("import numpy as np\nprint(np.log(2))  # nats")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="0.693\n"),
                    nbformat.v4.new_output("display_data", data={"image/png": PNG})]
    error = nbformat.v4.new_code_cell("assert False")
    error.outputs = [nbformat.v4.new_output("error", ename="AssertionError",
                                            evalue="expected 0.0340 nats",
                                            traceback=["AssertionError: expected 0.0340 nats"])]
    nb.cells = [nbformat.v4.new_markdown_cell("# Feedback\n\n$D(P\\|Q)$ and ![x](y.png)"),
                code, error]
    return nb


def _exporter(cls):
    # nbgrader's feedback template needs the gradebook's scores: the lab template it
    # extends renders the same cells, and the exporter's changes do not depend on it
    return cls(template_name="lab")


@pytest.fixture(scope="module")
def pages():
    nb = _notebook()
    ours, _ = _exporter(FeedbackExporter).from_notebook_node(nb)
    again, _ = _exporter(FeedbackExporter).from_notebook_node(nb)  # cached templates
    theirs, _ = _exporter(HTMLExporter).from_notebook_node(nb)
    return BeautifulSoup(ours, "html.parser"), BeautifulSoup(again, "html.parser"), \
        BeautifulSoup(theirs, "html.parser")


def test_same_text_as_nbconverts_exporter(pages):
    ours, again, theirs = pages
    assert "expected 0.0340 nats" in ours.get_text()
    assert ours.get_text() == theirs.get_text() == again.get_text()


def test_same_images_and_alt_text(pages):
    ours, _, theirs = pages
    alts = [sorted(img.attrs.items()) for img in ours.find_all("img")]
    assert alts == [sorted(img.attrs.items()) for img in theirs.find_all("img")]
    assert any(dict(a).get("alt") == MISSING_ALT for a in alts)


def test_same_focusable_elements(pages):
    ours, _, theirs = pages
    focus = [sorted(e.get("class")) for e in ours.find_all(attrs={"tabindex": "0"})]
    assert focus, "cells must be reachable by keyboard"
    assert focus == [sorted(e.get("class")) for e in theirs.find_all(attrs={"tabindex": "0"})]


def test_accessibility_edits_leave_existing_attributes():
    html = ('<img alt="plot" src="a.png"><img src="b.png">'
            '<div class="jp-Cell-inputWrapper x" tabindex="1"></div>'
            '<div class="jp-OutputArea-output"></div><div class="jp-Other"></div>')
    fixed = BeautifulSoup(add_accessibility_attributes(html), "html.parser")
    assert [i["alt"] for i in fixed.find_all("img")] == ["plot", MISSING_ALT]
    assert [d.get("tabindex") for d in fixed.find_all("div")] == ["1", "0", None]


def test_grading_config_uses_the_feedback_exporter():
    from autograder.config import CoursePaths, nbgrader_config

    config = nbgrader_config(CoursePaths.for_repo("/tmp/unused"))
    app = GenerateFeedback(config=config)
    assert app.exporter_class is FeedbackExporter


@pytest.mark.parametrize("assignment", sorted(p.name for p in SOLUTIONS.iterdir()
                                              if p.is_dir()))
def test_remembered_filters_render_every_course_notebook_as_nbconvert_does(assignment):
    """Remembered clean_html and highlighting give nbconvert's page, on a first or second pass."""
    nb = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    first, _ = _exporter(FeedbackExporter).from_notebook_node(nb)
    second, _ = _exporter(FeedbackExporter).from_notebook_node(nb)  # every cell remembered
    theirs, _ = _exporter(HTMLExporter).from_notebook_node(nb)
    assert first == second
    ours_soup, theirs_soup = BeautifulSoup(first, "html.parser"), BeautifulSoup(theirs,
                                                                                "html.parser")
    assert ours_soup.get_text() == theirs_soup.get_text()
    assert [str(p) for p in ours_soup.find_all("pre")] == [
        str(p) for p in theirs_soup.find_all("pre")]
