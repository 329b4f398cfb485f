"""Prose: the text of problem files and of the kinds' explanations, in every format.

Prose is printed literally, except its $...$ spans, which are math: typeset in
LaTeX, kept in Markdown, Unicode in text. This module is light (no numpy, no
Jinja) because loading a problem file checks its prose with `prose_problem`.
"""
from __future__ import annotations

import html
import re
from functools import lru_cache

# ---- prose ----------------------------------------------------------------
# Prose (statements, titles, the kinds' explanations) is printed literally, except its
# $...$ spans, which are math (typeset in LaTeX, kept in Markdown, Unicode in text).
# A span opens at a $ followed by a non-space and closes at a $ after a non-space that
# no digit follows (Pandoc's rule), so "$5 and $6" stays prose; \$ is a literal dollar.
MATH_IN_PROSE = re.compile(r"(?<![\\$])\$(?=[^\s$])((?:\\.|[^$\\])+?)(?<=\S)\$(?!\d)", re.S)
UNSAFE_MATH = re.compile(r"\\(?:input|include|openin|openout|read|write|immediate|special|catcode|csname|"
                         r"def|edef|gdef|xdef|let|newcommand|renewcommand|usepackage|documentclass|"
                         r"begin\s*\{document|end\s*\{document|directlua|endinput)(?![A-Za-z])")


def prose_parts(s: str) -> list[tuple[bool, str]]:
    """[(is_math, text)] in order; math without its dollars, prose with \\$ made $."""
    parts, at = [], 0
    for match in MATH_IN_PROSE.finditer(s):
        parts += [(False, s[at:match.start()].replace(r"\$", "$")), (True, match.group(1))]
        at = match.end()
    return [part for part in parts + [(False, s[at:].replace(r"\$", "$"))] if part[1]]


def prose_problem(s: str) -> str | None:
    """Why this prose cannot be printed (a sentence), or None: math that could read or
    write files or redefine TeX, unbalanced braces in math, characters LaTeX cannot show."""
    for is_math, text in prose_parts(str(s)):
        if is_math and (bad := UNSAFE_MATH.search(text)):
            return f"its math ${text}$ uses {bad.group(0)}, which a sheet does not allow"
        if is_math and not balanced(text):
            return f"its math ${text}$ has unbalanced braces"
    missing = sorted({c for c in str(s) if not c.isascii() and latex_of_character(c) is None})
    if missing:
        shown = ", ".join(f"{c} (U+{ord(c):04X})" for c in missing)
        return (f"it has characters a LaTeX sheet cannot show: {shown}; write them in words or as "
                f"$...$ math (letters, accents, Greek, arrows and math symbols such as ✓ ≤ × are fine)")
    return None


def balanced(tex_text: str) -> bool:
    depth = 0
    for c in re.sub(r"\\.", "", tex_text):
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            return False
    return depth == 0


@lru_cache(maxsize=4096)           # statements and step texts recur in every variant and sheet
def escape_latex(s: str) -> str:
    """Prose printed literally (%, _, &, #, \\input{...}, quotes and dashes all), its $...$ typeset."""
    return "".join(f"${math_characters(text)}$" if is_math else literal_latex(text)
                   for is_math, text in prose_parts(str(s)))


def literal_latex(text: str) -> str:
    # An apostrophe stays one (don't, layer 1's, the layers' rows); other quotes print literally
    # (`quoted' and 'quoted' words too).
    text = re.sub(r"(?<=[A-Za-z0-9])'(?=[A-Za-z])", "\u2019", text)
    text = re.sub(r"(?<!\S)([^\s`']\S*?[A-Za-z]s)'(?=[\s,.;:!?)]|$)", "\\1\u2019", text)
    # A prime after a symbol of one to four letters (H', σ', ReLU'(0)) in a word not opened by a
    # quote: ′, as math prints it (a longer word's quote closes a quoted phrase).
    text = re.sub(r"(?<!\S)([^\s`']*?(?<![^\W\d_])[^\W\d_]{1,4})('+)(?![A-Za-z])",
                  lambda m: m[1] + "\u2032" * len(m[2]), text)
    return re.sub(r"-(?=-)", "-{}", latex_encoder().unicode_to_latex(text))   # -- and --- as hyphens


def math_characters(tex_text: str) -> str:
    """Math as written, its non-ASCII letters and signs (α, ≤, ×) as LaTeX macros."""
    return "".join(c if c.isascii() else (latex_of_character(c) or c) for c in tex_text)


@lru_cache(maxsize=None)
def latex_of_character(c: str) -> str | None:
    """The LaTeX a non-ASCII character prints as, or None when a basic TeX install has none."""
    try:
        return strict_latex_encoder().unicode_to_latex(c)
    except ValueError:
        return None


# Characters printed from the typewriter font: in the text font " ` ' are curly quotes
# ('' and `` ligatures), ~ ^ accents, and | < > other letters; × · from the math fonts,
# as pylatexenc's text-companion glyphs are bitmaps in a basic TeX install.
LITERAL_CHARACTERS = {
    '"': r"{\ttfamily\char34}", "`": r"{\ttfamily\char18}", "'": r"{\ttfamily\char13}",
    "~": r"{\ttfamily\char126}", "^": r"{\ttfamily\char94}",
    "×": r"\ensuremath{\times}", "·": r"\ensuremath{\cdot}", "|": r"\ensuremath{|}",
    "<": r"\ensuremath{<}", ">": r"\ensuremath{>}", "′": r"\ensuremath{'}", "✓": r"\ensuremath{\checkmark}", "✔": r"\ensuremath{\checkmark}"}


@lru_cache(maxsize=1)
def latex_encoder():
    return _encoder("keep")


@lru_cache(maxsize=1)
def strict_latex_encoder():
    return _encoder("fail")


def _encoder(unknown: str):
    from pylatexenc import latexencode as enc
    ours = enc.UnicodeToLatexConversionRule(enc.RULE_DICT, {ord(c): t for c, t in LITERAL_CHARACTERS.items()})
    return enc.UnicodeToLatexEncoder(conversion_rules=[ours, "defaults"], non_ascii_only=False,
                                     unknown_char_policy=unknown, unknown_char_warning=False)


MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|$])")


def escape_markdown(s: str) -> str:
    """Prose escaped for Markdown, its $...$ math kept as GitHub and Jupyter render it."""
    return "".join(f"${text}$" if is_math else MARKDOWN_SPECIAL.sub(r"\\\1", text)
                   for is_math, text in prose_parts(str(s)))


def escape_html(s: str) -> str:
    """Prose as HTML text, its $...$ math as \\( \\) for the page's math converter."""
    return "".join(rf"\({html.escape(text)}\)" if is_math else html_literal(text)
                   for is_math, text in prose_parts(str(s)))


def html_literal(text: str) -> str:
    """Text as HTML that no converter reads as math ($ and \\ as entities); a blank line
    starts a paragraph, as in LaTeX."""
    text = html.escape(text).replace("$", "&#36;").replace("\\", "&#92;")
    return re.sub(r"\n\s*\n\s*", '\n<br class="paragraph">\n', text)


def prose_text(s: str) -> str:
    """Prose for a terminal: its $...$ math as Unicode."""
    return "".join(math_to_text(text) if is_math else text for is_math, text in prose_parts(str(s)))


# After a subscript, a letter starts the next factor: C_{\text{out}}C_{\text{in}} reads C_out·C_in
# (but a sum's index is no factor: \sum_c a_c reads ∑_c a_c; nor is an escaped underscore: \text{fan\_in} reads fan_in).
JUXTAPOSED = re.compile(r"(?<!\\sum)(?<!\\)(_(?:\{(?:[^{}]|\{[^{}]*\})*\}|[A-Za-z0-9]))\s*(?=[A-Za-z]|\\(?:text|mathrm)\b)")
# Letters before a subscripted one are a factor too: B C_{\text{out}} reads B · C_out, not BC_out.
LETTER_BEFORE_SUBSCRIPTED = re.compile(r"(?<![\\A-Za-z_^])([A-Za-z]+)\s*(?=[A-Za-z]_\{)")


# A derivative ∂f/∂x next to a factor reads as a product: w · ∂ℓ/∂y, ∂ℓ/∂h · ∂h/∂w (one line has no bar).
BRACED = r"\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*\}"
DERIVATIVE = re.compile(r"(\s*)(\\frac\{\\partial" + BRACED[2:] + BRACED + r")(\s*)")
NOT_FACTORS = re.compile(r"(?:^|[^\w})]|\\(?:cdot|times|odot|otimes|oplus|pm|mp|div|quad|qquad|le|ge|leq|geq|ne|neq|approx|"
                         r"equiv|to|in|sum|prod|left|right|big|Big|colon|mid|[,;:!]))$")
FACTOR_AFTER = re.compile(r"[A-Za-z]|\\(?!frac\{\\partial|cdot|times|odot|right|end|quad|qquad|[,;:!\\])[A-Za-z]")


def derivatives_as_factors(tex_text: str) -> str:
    def spaced(match):
        before, space_before, derivative, space_after = match.string[:match.start()], *match.groups()
        return (space_before if NOT_FACTORS.search(before.rstrip()) else r" \cdot ") + derivative + (
            r" \cdot " if FACTOR_AFTER.match(match.string, match.end()) else space_after)
    return DERIVATIVE.sub(spaced, tex_text)


# A sub- or superscript that is a sum or a product keeps its grouping on one line: y_(ℓ-1), e^(-w x).
SCRIPT = re.compile(r"([_^])\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\}")


def grouped_scripts(tex_text: str) -> str:
    def grouped(m):
        several = re.search(r"[^\s(]\s*[-+]", m[2]) or "," not in m[2] and re.search(r"[^\s{]\s+[^\s}]", m[2])
        bare = several and not re.fullmatch(r"(?:\\left)?\(.*(?:\\right)?\)", m[2])
        return f"{m[1]}{{({m[2]})}}" if bare else m[0]
    return SCRIPT.sub(grouped, tex_text)


def math_to_text(tex_text: str) -> str:
    """Math as Unicode text for a terminal: × · ⌊ ⌋ spaced as they read."""
    tex_text = grouped_scripts(re.sub(r"\\boxed\{([^{}]*)\}", r"\1*", tex_text))         # a marked cell: 5*
    tex_text = derivatives_as_factors(tex_text)
    # pylatexenc takes the space after a command as the command's own: ℓ= 1, γ= 0.5
    tex_text = re.sub(r"(\\[A-Za-z]+) +(?=[=<>+-])", r"\1{} ", tex_text)
    tex_text = re.sub(r"(\\(?:mapsto|to|geq|leq|neq|approx|equiv|in)) +", r"\1{} ", tex_text)    # ↦ 0, not ↦0
    tex_text = JUXTAPOSED.sub(r"\1 \\cdot ", LETTER_BEFORE_SUBSCRIPTED.sub(r"\1 \\cdot ", tex_text))
    text = text_converter().latex_to_text(tex_text)
    text = re.sub(r"\s*([·×])\s*", r" \1 ", re.sub(r"\blog\s+\(", "log(", text))
    text = re.sub(r"([⌊⌈])\s+", r"\1", re.sub(r"\s+([⌋⌉])", r"\1", text))
    text = re.sub(r"([(\[])\s+|\s+([)\]])", r"\1\2", text)             # \left( x \right) as (x)
    return re.sub(r"([⌋⌉])(?=[-+=])", r"\1 ", re.sub(r" {2,}", " ", text)).strip()


@lru_cache(maxsize=1)
def text_converter():
    from pylatexenc import latex2text

    def fraction(node, l2tobj):
        top, bottom = (l2tobj.nodelist_to_text([arg]).strip() for arg in node.nodeargd.argnlist[-2:])
        # ∂f/∂x and 1/2 as one reads them; a negative part bracketed: 0.5 · (-2)/4, not 0.5 · -2/4
        wrap = lambda s: s if re.fullmatch(r"∂?[\w.]+", s) else f"({s})"  # noqa: E731
        return f"{wrap(top)}/{wrap(bottom)}"

    context = latex2text.get_default_latex_context_db().filter_context(keep_categories=None)
    context.add_context_category("solver", prepend=True, macros=[
        latex2text.MacroTextSpec("frac", simplify_repl=fraction),
        latex2text.MacroTextSpec("dfrac", simplify_repl=fraction),
        latex2text.MacroTextSpec("left", ""), latex2text.MacroTextSpec("right", ""),
        latex2text.MacroTextSpec("log", "log "),        # log p, not logp (a bracket follows it closely again below)
    ])
    return latex2text.LatexNodes2Text(latex_context=context, math_mode="text")
