"""The feedback pages: nbgrader's (rendered cheaply), a status page for the others, publishing.

- :class:`FeedbackExporter` renders nbgrader's feedback pages (see below);
- :func:`status_page` is the page of a submission nbgrader never graded (missing,
  invalid, a kernel that died...): it says what went wrong;
- :func:`publish` puts a result's pages into the run's ``feedback/`` folder.

nbgrader renders every feedback page with nbconvert's ``HTMLExporter``. Profiling a
grading worker showed two costs that repeat for every student without need:

* each ``generate_feedback`` call builds a new exporter, whose Jinja environment
  parses and compiles the same templates again: here the compiled templates are kept
  in a per-process bytecode cache (keyed by template name and source checksum, so an
  edited template is compiled afresh);
* after rendering, ``HTMLExporter`` re-parses the whole page (several hundred kB of
  inlined CSS included) with BeautifulSoup only to add ``alt`` text to images and
  ``tabindex`` to cells; here the same two edits are made on the rendered text;
* two thirds of a page's rendering went to sanitising each markdown cell's HTML with
  bleach (``clean_html``) and a sixth to highlighting each code cell with pygments, yet
  a class's notebooks share most of their cells: both filters are pure functions of
  their text, so here each result is kept per process and computed once per distinct
  cell (``_remembered``), as is each markdown cell's HTML (without attachments).

Its template, ``kl_feedback`` (``autograder/templates``, set in ``autograder.config``),
is nbgrader's feedback page with two changes for students:

* the summary names each graded item by what it checks (:func:`item_label`: a test cell's
  one-line docstring, else its ``grade_id``) instead of "Test cell";
* math renders offline: the LaTeX of the markdown cells (and of the grader's comments) is
  written as MathML (``autograder.mathml``), and no MathJax is loaded from a CDN. Code
  cells and outputs are rendered exactly as nbconvert renders them.

The page is otherwise exactly what nbgrader's exporter produces.
"""

from __future__ import annotations

import ast
import functools
import html
import re
import shutil
from pathlib import Path

import jinja2
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.markdown_mistune import MarkdownWithMath
from nbconvert.filters.strings import clean_html
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

from .mathml import JupyterMathInlineParser, MathMLRenderer
from .results import SCORED_STATUSES, AssignmentResult

MISSING_ALT = "No description has been provided for this image"

# <img ...> without an alt attribute; the template writes attributes in double quotes
_IMG_WITHOUT_ALT = re.compile(r"<img(?![^>]*\balt=)([^>]*)>", re.IGNORECASE)
# the two kinds of element HTMLExporter makes focusable for keyboard users
_FOCUSABLE = re.compile(
    r'<div(?![^>]*\btabindex=)([^>]*\bclass="[^"]*'
    r'\b(?:jp-Cell-inputWrapper|jp-OutputArea-output)\b[^"]*")')


class _MemoryBytecodeCache(jinja2.BytecodeCache):
    """Compiled templates, shared by every exporter of this process."""

    def __init__(self) -> None:
        self._store: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._store.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._store[bucket.key] = bucket.bytecode_to_string()


_BYTECODE_CACHE = _MemoryBytecodeCache()

#: Distinct cells remembered per filter and process (a course notebook has about 100)
_REMEMBERED_CELLS = 4096


def _remembered(function):
    """``function`` (pure: text in, text out) with its results kept for repeated texts."""
    return functools.lru_cache(maxsize=_REMEMBERED_CELLS)(function)


_clean_html = _remembered(clean_html)


@_remembered
def _highlight(lexer: str | None, language: str | None, source: str) -> str:
    return Highlight2HTML(pygments_lexer=lexer)(source, language)


class _RememberingHighlighter:
    """The ``highlight_code`` filter, computed once per distinct (language, source)."""

    def __init__(self, lexer: str | None, parent) -> None:
        self._lexer = lexer
        self._plain = Highlight2HTML(pygments_lexer=lexer, parent=parent)

    def __call__(self, source, language=None, metadata=None):
        if metadata and "magics_language" in metadata:  # the cell's magic picks the lexer
            return self._plain(source, language, metadata)
        return _highlight(self._lexer, language, str(source))


@_remembered
def _docstring_line(source: str) -> str:
    """The first line of the docstring a cell's code starts with, or ""."""
    try:
        docstring = ast.get_docstring(ast.parse(source))
    except (SyntaxError, ValueError):  # a magic, a null byte: no docstring to read
        return ""
    lines = [line.strip() for line in (docstring or "").splitlines() if line.strip()]
    return lines[0] if lines else ""


def item_label(cell) -> str:
    """How the feedback summary names a graded item: what it checks.

    A test cell by the first line of its docstring (the course's tests start with one:
    "Check that kl_divergence respects argument order..."), any other item, or a test
    without a docstring, by its ``grade_id``.
    """
    meta = cell.get("metadata", {}).get("nbgrader", {})
    label = _docstring_line(str(cell.get("source", ""))) if cell.get("cell_type") == "code" \
        else ""
    return label or str(meta.get("grade_id", ""))


def _is_cell_text(cell, source) -> bool:
    """Whether ``source`` is a markdown cell's own text or the grader's comment on a cell
    (not a markdown output of code, which is rendered as nbconvert renders it)."""
    if not cell:
        return False
    if cell.get("cell_type") == "markdown" and source == cell.get("source"):
        return True
    comment = cell.get("metadata", {}).get("nbgrader", {}).get("comment")
    return bool(comment) and source == comment


def _markdown_with_mathml(source: str, anchor_link_text: str, exclude_anchor_links: bool,
                         lexer_options: tuple, **renderer_options) -> str:
    """HTMLExporter.markdown2html (nbconvert 7.17) with the MathML renderer and parser."""
    renderer = MathMLRenderer(escape=False, anchor_link_text=anchor_link_text,
                              exclude_anchor_links=exclude_anchor_links,
                              **renderer_options, **dict(lexer_options))
    inline = JupyterMathInlineParser(hard_wrap=False)
    return MarkdownWithMath(renderer=renderer, inline=inline).render(source)


#: a markdown cell without attachments, remembered like the other cells (most are the same
#: in every student's notebook)
_cell_markdown = _remembered(_markdown_with_mathml)


def add_accessibility_attributes(html: str) -> str:
    """What ``HTMLExporter`` adds with BeautifulSoup, done on the text.

    Images without ``alt`` get nbconvert's placeholder text; cell input wrappers and
    outputs get ``tabindex="0"`` so a keyboard can reach them.
    """
    html = _IMG_WITHOUT_ALT.sub(lambda m: f'<img alt="{MISSING_ALT}"{m.group(1)}>', html)
    return _FOCUSABLE.sub(lambda m: f'<div tabindex="0"{m.group(1)}', html)


class FeedbackExporter(HTMLExporter):
    """``HTMLExporter`` with cached template compilation and no BeautifulSoup pass.

    It also gives the template the ``item_label`` filter and writes the math of markdown
    cells and comments as MathML (see the module's documentation).
    """

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = _BYTECODE_CACHE
        return environment

    def default_filters(self):
        yield from super().default_filters()
        yield ("item_label", item_label)

    @jinja2.pass_context
    def markdown2html(self, context, source):
        """nbconvert's markdown filter; a cell's own text gets its math as MathML.

        Its formulas are found as JupyterLab finds them, ``\\(...\\)`` included (see
        ``autograder.mathml.JupyterMathInlineParser``).
        """
        cell = context.get("cell", {})
        if not _is_cell_text(cell, source):
            return super().markdown2html(context, source)
        options = (self.anchor_link_text, self.exclude_anchor_links,
                   tuple(sorted(self.lexer_options.items())))
        attachments = cell.get("attachments", {})
        if not attachments and not self.embed_images:  # the page depends on the text alone
            return _cell_markdown(str(source), *options)
        path = context.get("resources", {}).get("metadata", {}).get("path", "")
        return _markdown_with_mathml(source, *options, attachments=attachments,
                                     embed_images=self.embed_images, path=path)

    def from_notebook_node(self, nb, resources=None, **kw):
        # HTMLExporter.from_notebook_node, minus its BeautifulSoup post-processing
        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        highlight_code = self.filters.get("highlight_code",
                                          _RememberingHighlighter(lexer, parent=self))
        resources = self._init_resources(resources)
        filter_data_type = WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources)
        self.register_filter("highlight_code", highlight_code)
        self.register_filter("filter_data_type", filter_data_type)
        self.register_filter("clean_html", _clean_html)
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return add_accessibility_attributes(html), resources


STATUS_PAGE = "status.html"


def status_page(result: AssignmentResult) -> str:
    """The feedback page of a submission nbgrader did not grade: what went wrong."""
    body = (f"<h1>{html.escape(result.assignment)}: not graded ({result.status})</h1>"
            f"<p>{html.escape(result.message)}</p>"
            f"<p>Score: {result.score:g} / {result.max_score:g}. Fix the problem and "
            "submit again, or ask your instructor.</p>")
    return f"<!doctype html><meta charset='utf-8'>{body}\n"


def publish(result: AssignmentResult, rendered: Path, out: Path) -> None:
    """Put ``result``'s feedback into ``out/feedback/<student>/<assignment>/``.

    ``rendered`` is nbgrader's feedback folder of the run (``<work>/feedback``). A result
    whose pages were written gets them; one nbgrader did not grade (no scores) a status
    page. Pages of an earlier run of the same submission are replaced.
    """
    dest = out / "feedback" / result.student_id / result.assignment
    if dest.exists():
        shutil.rmtree(dest)
    if result.feedback:
        shutil.copytree(rendered / result.student_id / result.assignment, dest)
    elif result.status not in SCORED_STATUSES or not result.tests:
        dest.mkdir(parents=True)
        (dest / STATUS_PAGE).write_text(status_page(result))
