"""LaTeX to MathML for the feedback pages, so that their formulas render without a network.

nbconvert's pages leave the markdown cells' math as ``$...$`` text for MathJax, which
they load from a CDN: offline, a student reads raw LaTeX. Here each formula becomes
MathML when the page is written (``latex2mathml``, pure Python, pinned), which browsers
render themselves (MathML Core: Chromium, Firefox, Safari). :func:`tex_to_mathml` keeps
the LaTeX in the ``alttext`` attribute and repairs what latex2mathml 3.81 leaves in the
output as TeX (``\\big\\|``, ``\\Big\\{``, ``\\texttt{logp\\_new}``), maps to the wrong
character (``\\sim`` as a tilde) or sets without TeX's thin space (``\\log x``). A
formula it cannot convert (bad LaTeX, a command it does not know) stays as its LaTeX
text, exactly as nbconvert would write it.

:class:`MathMLRenderer` is nbconvert's markdown renderer with math rendered this way;
``autograder.feedback.FeedbackExporter`` uses it for the markdown cells and comments.
"""

from __future__ import annotations

import functools
import html
import re

from nbconvert.filters.markdown_mistune import IPythonRenderer, MathInlineParser

#: Distinct formulas remembered per process (the course has about 900)
_REMEMBERED_FORMULAS = 8192

# characters latex2mathml leaves escaped inside a token (``\{``), and what they stand for
_ESCAPED = {"{": "{", "}": "}", "|": "&#x02016;", "_": "_", "%": "%", "#": "#", "$": "$",
            "&amp;": "&amp;", "&": "&amp;"}
_ESCAPE_IN_TOKEN = re.compile(r"\\(&amp;|[{}|_%#$&])")
# a bare & in a token's text (latex2mathml writes & of an alignment as it is)
_BARE_AMPERSAND = re.compile(r"&(?!#x?[0-9A-Fa-f]+;|[A-Za-z]+;)")
_TOKEN_TEXT = re.compile(r">([^<]+)<")
# a command latex2mathml does not know comes out as text ("<mi>\foo</mi>")
_UNKNOWN_COMMAND = re.compile(r">[^<]*\\[A-Za-z][^<]*<")
# \sim comes out as an identifier "~"; it is the relation U+223C
_SIM = "<mi>&#x0007E;</mi>"
# \log, \ln, \exp, \sin... come out as a bare <mi>, with none of the thin space TeX puts
# after them ("log x", "log 0"; but "log(x)" and the base of log_2 have none)
_FUNCTION_NAME = re.compile(
    r"<mi>[A-Za-z]{2,}</mi>(?=<m)(?!<mo stretchy=\"false\">(?:&#x00028;|&#x0005B;|\[|\())")
# what may stand before such a name in an <mrow> (not first inside <msub>, <mfrac>...)
_SIBLING_ENDS = ("<mrow>", "</mi>", "</mn>", "</mo>", "/>", "</mrow>", "</msub>", "</msup>",
                 "</msubsup>", "</mfrac>", "</mtext>", "</mover>", "</munder>", "</msqrt>")
_THIN_SPACE = '<mspace width="0.167em" />'


def _repair_text(match: re.Match) -> str:
    text = _ESCAPE_IN_TOKEN.sub(lambda m: _ESCAPED[m.group(1)], match.group(1))
    return ">" + _BARE_AMPERSAND.sub("&amp;", text) + "<"


def _space_after_function(match: re.Match) -> str:
    if match.string.endswith(_SIBLING_ENDS, 0, match.start()):
        return match.group(0) + _THIN_SPACE
    return match.group(0)


@functools.lru_cache(maxsize=_REMEMBERED_FORMULAS)
def tex_to_mathml(tex: str, display: bool = False) -> str | None:
    """The ``<math>`` element for the LaTeX ``tex``, or None when it cannot be converted.

    ``display`` gives a block formula (``$$...$$``) rather than one inside a line.
    """
    from latex2mathml.converter import convert  # 60 ms to import: only when math is met

    if not tex.strip():
        return None
    try:
        mathml = convert(tex.strip(), display="block" if display else "inline")
    except Exception:  # latex2mathml raises its own errors, and sometimes others
        return None
    mathml = _TOKEN_TEXT.sub(_repair_text, mathml).replace(_SIM, "<mo>&#x0223C;</mo>")
    if _UNKNOWN_COMMAND.search(mathml):  # shown as "\foo": the LaTeX reads better
        return None
    mathml = _FUNCTION_NAME.sub(_space_after_function, mathml)
    alt = html.escape(tex, quote=True)  # as written: copied, read aloud, or compared
    return mathml.replace("<math ", f'<math alttext="{alt}" ', 1)


class JupyterMathInlineParser(MathInlineParser):
    """nbconvert's math parser, which also reads ``\\(...\\)`` and ``\\[...\\]`` with one
    backslash, as JupyterLab does (nbconvert wants two, ``\\\\(...\\\\)``: with one, markdown
    reads an escaped parenthesis and the formula is lost)."""

    SPECIFICATION = {
        **MathInlineParser.SPECIFICATION,
        "block_math_jupyter": r"(?s:(?<!\\)\\\[(?P<math_block_jupyter>.+?)(?<!\\)\\\])",
        "inline_math_jupyter": r"(?s:(?<!\\)\\\((?P<math_inline_jupyter>.+?)(?<!\\)\\\))",
    }
    # each after nbconvert's rule of its kind: "\\(" is still theirs
    DEFAULT_RULES = (
        "block_math_tex", "block_math_latex", "block_math_jupyter",
        "inline_math_tex", "inline_math_latex", "inline_math_jupyter",
        *(rule for rule in MathInlineParser.DEFAULT_RULES if rule not in (
            "block_math_tex", "block_math_latex", "inline_math_tex", "inline_math_latex")),
    )

    def parse_block_math_jupyter(self, m: re.Match, state) -> int:
        state.append_token({"type": "block_math", "raw": m.group("math_block_jupyter")})
        return m.end()

    def parse_inline_math_jupyter(self, m: re.Match, state) -> int:
        state.append_token({"type": "inline_math", "raw": m.group("math_inline_jupyter")})
        return m.end()


_MATH_ELEMENT = re.compile(r"<math\b[^>]*>.*?</math>", re.DOTALL)
_ALTTEXT = re.compile(r'alttext="([^"]*)"')


class MathMLRenderer(IPythonRenderer):
    """nbconvert's markdown renderer, with ``$...$``, ``$$...$$``, ``\\(...\\)``,
    ``\\[...\\]`` and ``\\begin{env}...\\end{env}`` written as MathML.

    A heading keeps nbconvert's anchor (named after its text, where a formula is its LaTeX)
    and its MathML, which nbconvert's anchor code (ElementTree) would otherwise rewrite.
    """

    def heading(self, text: str, level: int, **attrs) -> str:
        formulas = _MATH_ELEMENT.findall(text)
        if not formulas:
            return super().heading(text, level, **attrs)
        as_tex = [self._as_nbconvert_writes_it(formula) for formula in formulas]
        for formula, tex in zip(formulas, as_tex, strict=True):
            text = text.replace(formula, tex, 1)
        heading = super().heading(text, level, **attrs)
        # back in the text, after the opening tag (whose id has the LaTeX too), in order
        start = heading.index(">") + 1
        for formula, tex in zip(formulas, as_tex, strict=True):
            at = heading.find(tex, start)
            if at < 0:  # nbconvert changed the text: keep its page as it is
                break
            heading = heading[:at] + formula + heading[at + len(tex):]
            start = at + len(formula)
        return heading

    def _as_nbconvert_writes_it(self, formula: str) -> str:
        tex = html.unescape(_ALTTEXT.search(formula).group(1))
        if 'display="block"' in formula.split(">", 1)[0]:
            if tex.startswith("\\begin{"):
                return self.escape_html(tex)
            return f"$${self.escape_html(tex)}$$"
        return f"${self.escape_html(tex)}$"

    def inline_math(self, body: str) -> str:
        return tex_to_mathml(body) or super().inline_math(body)

    def block_math(self, body: str) -> str:
        return tex_to_mathml(body, display=True) or super().block_math(body)

    def latex_environment(self, name: str, body: str) -> str:
        whole = f"\\begin{{{name}}}{body}\\end{{{name}}}"
        return tex_to_mathml(whole, display=True) or super().latex_environment(name, body)
