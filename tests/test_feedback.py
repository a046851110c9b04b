"""The feedback exporter: nbconvert's page at a lower cost, items named, math offline.

Pages are compared with nbconvert's own: the same text, code and images, except that
each formula of a markdown cell is MathML carrying its LaTeX (compared through that).
"""

from __future__ import annotations

import base64

import nbformat
import pytest
from bs4 import BeautifulSoup
from conftest import SOLUTIONS
from nbconvert.exporters import HTMLExporter
from nbgrader.converters import GenerateFeedback

from autograder.feedback import (
    MISSING_ALT,
    FeedbackExporter,
    add_accessibility_attributes,
    item_label,
)
from autograder.mathml import tex_to_mathml

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


def _as_nbconvert_writes_math(soup: BeautifulSoup) -> BeautifulSoup:
    """``soup`` with each MathML formula back as the text nbconvert leaves for MathJax.

    The formula's LaTeX is its ``alttext``; nbconvert writes ``$...$`` inline, ``$$...$$``
    for display math and a LaTeX environment as it is.
    """
    for math in soup.find_all("math"):
        tex = math["alttext"]
        if math.get("display") != "block":
            text = f"${tex}$"
        else:
            text = tex if tex.startswith("\\begin{") else f"$${tex}$$"
        math.replace_with(text)
    return soup


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
    assert ours.get_text() == again.get_text()
    # the formula is MathML here, $D(P\|Q)$ text there: the same once it is put back
    assert ours.find("math")["alttext"] == "D(P\\|Q)"
    assert "$D(P\\|Q)$" in theirs.get_text() and "$D(P\\|Q)$" not in ours.get_text()
    restored = _as_nbconvert_writes_math(BeautifulSoup(str(ours), "html.parser"))
    assert restored.get_text() == theirs.get_text()


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
    from autograder.config import FEEDBACK_TEMPLATE, CoursePaths, nbgrader_config

    config = nbgrader_config(CoursePaths.for_repo("/tmp/unused"))
    app = GenerateFeedback(config=config)
    assert app.exporter_class is FeedbackExporter
    exporter = app.exporter_class(config=app.config)
    assert exporter.template_name == FEEDBACK_TEMPLATE
    assert exporter.template.filename.endswith("kl_feedback/feedback.html.j2")


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
    # every formula is MathML, and its LaTeX is what nbconvert leaves for MathJax
    formulas = ours_soup.find_all("math")
    assert formulas and not theirs_soup.find_all("math")
    assert _as_nbconvert_writes_math(ours_soup).get_text() == theirs_soup.get_text()
    # code (and every output) as nbconvert renders it, character for character
    assert [str(p) for p in ours_soup.find_all("pre")] == [
        str(p) for p in theirs_soup.find_all("pre")]


# -- math that renders offline --------------------------------------------------------------

MATH_MARKDOWN = (
    "Inline $D_{\\mathrm{KL}}(P\\,\\|\\,Q)$ and \\(\\hat{\\sigma}^2\\), then\n\n"
    "$$\\sum_i p_i \\log \\frac{p_i}{q_i} \\ge 0$$\n")


def _math_notebook():
    """A markdown cell with math; code, a printed line and a markdown output with dollars."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python"}
    code = nbformat.v4.new_code_cell('label = r"$\\mathrm{KL}$"\nprint("$\\\\mathrm{out}$")')
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="$\\mathrm{out}$\n"),
        nbformat.v4.new_output("display_data", data={"text/markdown": "$\\mathrm{md}$",
                                                     "text/plain": "<Markdown>"}),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell(MATH_MARKDOWN), code]
    return nb


def test_markdown_math_becomes_mathml_and_code_and_outputs_stay_as_they_are():
    nb = _math_notebook()
    ours = BeautifulSoup(_exporter(FeedbackExporter).from_notebook_node(nb)[0], "html.parser")
    theirs = BeautifulSoup(_exporter(HTMLExporter).from_notebook_node(nb)[0], "html.parser")
    markdown = ours.select_one(".jp-MarkdownCell .jp-RenderedMarkdown")
    formulas = markdown.find_all("math")
    assert [(m["alttext"], m["display"]) for m in formulas] == [
        ("D_{\\mathrm{KL}}(P\\,\\|\\,Q)", "inline"), ("\\hat{\\sigma}^2", "inline"),
        ("\\sum_i p_i \\log \\frac{p_i}{q_i} \\ge 0", "block")]
    assert "$" not in markdown.get_text() and "\\mathrm" not in markdown.get_text()
    # D with a subscript KL in upright letters, a fraction: real MathML, not text
    assert formulas[0].find("msub").find("mi").get_text() == "D"
    assert [mi["mathvariant"] for mi in formulas[0].find("msub").find_all("mi")[1:]] == [
        "normal", "normal"]
    assert formulas[2].find("mfrac") is not None
    # the code cell and both outputs are nbconvert's, dollars and all
    for selector in (".jp-CodeCell .jp-InputArea", ".jp-CodeCell .jp-OutputArea"):
        assert str(ours.select_one(selector)) == str(theirs.select_one(selector))
    outputs = ours.select_one(".jp-CodeCell .jp-OutputArea").get_text()
    assert "$\\mathrm{out}$" in outputs and "$\\mathrm{md}$" in outputs


@pytest.mark.parametrize("markdown, formulas", [
    (r"a \(x^2\) b and \[\frac{1}{2}\]", [("x^2", "inline"), (r"\frac{1}{2}", "block")]),
    (r"a \\(x^2\\) b", [("x^2", "inline")]),  # nbconvert's own spelling
    (r"an escaped \$5 and \(", []),
])
def test_math_is_found_as_jupyterlab_finds_it(markdown, formulas):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(markdown)]
    ours = BeautifulSoup(_exporter(FeedbackExporter).from_notebook_node(nb)[0], "html.parser")
    assert [(m["alttext"], m["display"]) for m in ours.find_all("math")] == formulas


def test_a_formula_latex2mathml_cannot_read_stays_as_nbconvert_writes_it():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("Broken $a^$ and unknown $\\foo x$, fine $x^2$.")]
    ours = BeautifulSoup(_exporter(FeedbackExporter).from_notebook_node(nb)[0], "html.parser")
    theirs = BeautifulSoup(_exporter(HTMLExporter).from_notebook_node(nb)[0], "html.parser")
    assert [m["alttext"] for m in ours.find_all("math")] == ["x^2"]
    assert _as_nbconvert_writes_math(ours).get_text() == theirs.get_text()


def test_a_heading_with_math_keeps_nbconverts_anchor():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## Weighting by $P$ and $p_i < q_i$")]
    ours = BeautifulSoup(_exporter(FeedbackExporter).from_notebook_node(nb)[0], "html.parser")
    theirs = BeautifulSoup(_exporter(HTMLExporter).from_notebook_node(nb)[0], "html.parser")
    heading, expected = ours.find("h2"), theirs.find("h2")
    assert heading["id"] == expected["id"]
    assert heading["id"].startswith("Weighting-by-$P$-and-$p_i-")
    assert [m["alttext"] for m in heading.find_all("math")] == ["P", "p_i < q_i"]
    assert heading.find("a", class_="anchor-link")["href"] == "#" + expected["id"]


@pytest.mark.parametrize("tex, present, absent", [
    ("\\big\\|\\,x", "&#x02016;", "\\|"),  # \big\| came out as the text "\|"
    ("\\Big\\{ a \\Big\\}", ">{</mo>", "\\{"),
    ("\\texttt{logp\\_new}", ">logp_new</mtext>", "\\_"),
    ("x \\sim P", "<mo>&#x0223C;</mo>", "&#x0007E;"),  # the relation, not a tilde
    ("-\\log Q(x)", '<mi>log</mi><mspace width="0.167em" /><mi>Q</mi>', None),
    ("\\log(x)", "<mi>log</mi><mo", "mspace"),  # no space before a parenthesis, as in TeX
    ("\\log_2 x", "<msub><mi>log</mi><mn>2</mn></msub><mi>x</mi>", "mspace"),
])
def test_tex_to_mathml_repairs_what_latex2mathml_leaves(tex, present, absent):
    mathml = tex_to_mathml(tex)
    assert present in mathml
    assert absent is None or absent not in mathml.split(">", 1)[1]  # alttext aside


def _course_formulas() -> list[tuple[str, bool]]:
    """Every formula of the course's markdown cells, as nbconvert's parser finds them."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    found: list[tuple[str, bool]] = []

    class Collect(IPythonRenderer):
        def inline_math(self, body):
            found.append((body, False))
            return ""

        def block_math(self, body):
            found.append((body, True))
            return ""

        def latex_environment(self, name, body):
            found.append((f"\\begin{{{name}}}{body}\\end{{{name}}}", True))
            return ""

    for path in sorted(SOLUTIONS.glob("*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                MarkdownWithMath(renderer=Collect(escape=False)).render(cell.source)
    return sorted(set(found))


def test_every_formula_of_the_course_becomes_mathml():
    formulas = _course_formulas()
    assert len(formulas) > 500
    failed = [tex for tex, display in formulas if tex_to_mathml(tex, display) is None]
    assert not failed, f"formulas left as LaTeX: {failed[:5]}"
    for tex, display in formulas:
        body = tex_to_mathml(tex, display).split(">", 1)[1]
        assert "\\" not in body, (tex, body)  # no TeX left in what the browser shows


# -- the course's feedback page (template kl_feedback) ---------------------------------------

def _graded_cell(cell, grade_id, points, score, *, solution=False):
    cell.metadata["nbgrader"] = {"grade": True, "solution": solution, "grade_id": grade_id,
                                 "points": points, "score": score, "locked": not solution,
                                 "schema_version": 3}
    return cell


def _feedback_page(nb) -> BeautifulSoup:
    """The page the grader writes for ``nb`` (its exporter, template and settings)."""
    from autograder.config import CoursePaths, nbgrader_config

    app = GenerateFeedback(config=nbgrader_config(CoursePaths.for_repo("/tmp/unused")))
    exporter = app.exporter_class(config=app.config)
    resources = {"nbgrader": {"notebook": "01_definition", "score": 1.0, "max_score": 4.0,
                              "late_penalty": 0}}
    return BeautifulSoup(exporter.from_notebook_node(nb, resources=resources)[0], "html.parser")


def test_feedback_summary_names_each_item_by_what_it_checks():
    nb = _math_notebook()
    nb.cells += [
        _graded_cell(nbformat.v4.new_code_cell(
            '"""Check that kl_divergence gives 0.0339798 nats for P < Q, elementwise.\n\n'
            'More detail on later lines.\n"""\nassert True'), "ex2_running_example_value", 1, 1.0),
        _graded_cell(nbformat.v4.new_code_cell("# no docstring\nassert False"),
                     "ex2_direction", 1, 0.0),
        _graded_cell(nbformat.v4.new_markdown_cell("YOUR ANSWER HERE"), "ex1_show_work", 2,
                     0.0, solution=True),
    ]
    items = [li.get_text(" ", strip=True) for li in _feedback_page(nb).select("#toc li")]
    assert items == [
        "Check that kl_divergence gives 0.0339798 nats for P < Q, elementwise. "
        "(Score: 1.0 / 1.0)",
        "ex2_direction (Score: 0.0 / 1.0)",
        "Written response: ex1_show_work (Score: 0.0 / 2.0)",
    ]


@pytest.mark.parametrize("source, expected", [
    ('"""Check that D(p || p) = 0."""\nassert True', "Check that D(p || p) = 0."),
    ("'''\n  Check the 1/|o_i| averaging.\n  Second line.\n'''\npass",
     "Check the 1/|o_i| averaging."),
    ("# a comment first is fine\n'''Check x.'''", "Check x."),
    ("assert True\n'''not a docstring'''", "grade_1"),
    ("%%time\n'''magic: not Python'''", "grade_1"),
    ('""""""', "grade_1"),
])
def test_item_label_is_the_docstrings_first_line_else_the_grade_id(source, expected):
    cell = _graded_cell(nbformat.v4.new_code_cell(source), "grade_1", 1, 0.0)
    assert item_label(cell) == expected


def test_feedback_page_loads_nothing_from_the_network():
    nb = _math_notebook()
    page = _feedback_page(nb)
    text = str(page)
    assert "cdnjs" not in text and "MathJax" not in text
    loads = [tag.get("src") or tag.get("href") for tag in page.find_all(["script", "link",
                                                                        "img", "iframe"])]
    assert not [url for url in loads if url and "//" in url], loads
    assert len(page.select(".text_cell_render math")) == 3
