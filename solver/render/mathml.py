"""Math in an HTML page as MathML, converted from our LaTeX by latex2mathml.

The HTML templates write math as TeX between \\( \\) and \\[ \\] (HTML-escaped), which
Moodle's MathJax filter typesets; a sheet meant to be opened anywhere, with no
script and no network, gets MathML instead, which every current browser lays out.
"""
from __future__ import annotations

import html
import re

MATH = re.compile(r"\\\[(.+?)\\\]|\\\((.+?)\\\)", re.S)
# latex2mathml lays out align* as a table of right- and left-aligned columns, but
# not aligned (it prints its & signs); both mean the same here.
ALIGNED = re.compile(r"\\(begin|end)\{aligned\}")
# Extra space after a line break (\\[4pt]): latex2mathml would print the [4pt].
LINE_SPACE = re.compile(r"\\\\\[[^\]]*\]")
# An underscore in words (\text{fan\_in}): latex2mathml would print the backslash; in text it is no subscript.
WORDS = re.compile(r"\\text\{[^{}]*\}")


def typeset(page: str) -> str:
    """The page with every \\( \\) and \\[ \\] span replaced by its MathML."""
    def replace(match):
        display, inline = match.groups()
        return mathml(html.unescape(display if display is not None else inline), display is not None)
    return MATH.sub(replace, page)


def mathml(tex: str, display: bool) -> str:
    from latex2mathml.converter import convert     # here: only HTML sheets need it
    tex = LINE_SPACE.sub(r"\\\\", ALIGNED.sub(r"\\\1{align*}", tex))
    tex = WORDS.sub(lambda words: words.group(0).replace("\\_", "_"), tex)
    return convert(tex, display="block" if display else "inline")
