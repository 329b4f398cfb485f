r"""Read a student's formula as a sympy expression, and decide whether two formulas agree.

The text is untrusted: it never reaches eval, exec, sympify or sympy's parsers.
A tokenizer and a precedence-climbing parser build the sympy objects
themselves, under bounds on length, nesting, operations, digits, the size of
numbers and the time spent. Grammar, in EBNF:

    answer   = [ wrapper ] sum [ "." ] [ closer of the wrapper ] [ "." ] ;
    wrapper  = "$$" | "$" | "\[" | "\(" ;
    sum      = product { ( "+" | "-" ) product } ;
    product  = signed { [ "*" | "/" | "\cdot" | "\times" | "\div" ] signed } ;  (* none: implicit *)
    signed   = ( "+" | "-" ) signed | power ;       (* -x^2 is -(x^2) *)
    power    = atom [ ( "^" | "**" ) signed ] ;     (* right-associative: 2^3^2 is 2^9 *)
    atom     = number | word [ call ] | group | "|" sum "|" | "\lvert" sum "\rvert"
             | frac | root | "\lfloor" sum "\rfloor" | "\lceil" sum "\rceil"
             | function call ;
    group    = "(" sum ")" | "[" sum "]" | "{" sum "}" | "\{" sum "\}" ;
    call     = group-like brackets around sum { "," sum } ;
    frac     = ( "\frac" | "\dfrac" | "\tfrac" | "\cfrac" ) "{" sum "}" "{" sum "}" ;
    root     = "\sqrt" [ "[" sum "]" ] ( "{" sum "}" | atom ) ;
    function = "\max" | "\min" | "\exp" | "\log" | "\ln" | "\tanh" | "\sigma" (the sigmoid)
             | a word spelling floor, ceil, ceiling, max, Max, min, Min, sqrt, exp, log,
               ln, tanh, abs, Abs or sigmoid (also inside \operatorname{...}) ;
    word     = letter { letter } [ digits ] [ "_" ( "{" subscript "}" | letters-and-digits ) ] ;
    number   = digits [ "." digits ] [ ( "e" | "E" ) [ sign ] digits ] ;

Letters are ASCII letters, Greek letters (`\alpha`, `α`) and `\text{...}`.
`\left`, `\right`, `\big...` and LaTeX spacing are ignored; `−`, `×`, `·`,
`⌊⌋`, `⌈⌉` and `√` read as their LaTeX meaning. A product with no operator
has the precedence of `*`: `1/2x` is x/2.

A word is split into symbols: at each place the longest name of the expected
answer or Greek letter spelled out that fits is taken (`Hp`, `H_in`; `alpha_23`
is `\alpha_{23}`, `alphax` is α·x), else a function name that runs to
the end of the word and is called (`Kfloor(x)`), else one letter with any
subscript that follows it (`NCK` is N·C·K, `NH_{in}` is N·H_in). Subscripts
get one spelling: `H_{\text{in}}`, `H_{in}` and `H_in` are all "H_in".

`parse_constant` reads a number written as arithmetic (`1/64 + 1/9`) with the
same grammar, except that two numbers side by side are refused (`12 13`).

`parse_linear` reads a convolution's target (a problem file's formula, linear in
the entries of X) in the linear dialect: the same tokens and operators, plain
text only, whole words (`X1` is a name), its own atoms, bounds and wording.
"""
from __future__ import annotations

import math
import random
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NamedTuple, NoReturn

import mpmath
import sympy

from ..core.budget import check_time, collection_deferred, remaining
from ..core.errors import InvalidAnswer
from ..core.fields import IDENTIFIER, MAX_NUMBER, NUMBER_LIMIT, size_symbol
from .literals import MAX_DIGITS, NestingLimit, _Parser

MAX_TEXT = 2000           # characters in a formula
MAX_DEPTH = 40            # nested brackets, signs, exponents and function calls
MAX_NODES = 500           # numbers, symbols and operations in a formula
MAX_EXPONENT = 1000       # |n| in x^n for a number n
MAX_BITS = 1000           # numerators and denominators of the numbers in a formula (~300 digits)
MAX_IRRATIONAL = 10**30   # |x| for x = e^40, sqrt(2)·10^20: rounding it needs precision of its size
PARSE_SECONDS = 0.5

SMALL_POINTS = 20         # points with every symbol drawn from 1..SMALL
MIN_AGREEING = 10         # points with a defined expected value that prove an equivalence
SEED = 455
SIMPLIFY_SECONDS = 0.3
EXPAND_SECONDS = 0.1
MAX_VALUE_BITS = 10_000   # a number at a point past 2^±this (~3,000 digits) is not computed
MAX_EXPANDED_TERMS = 2000 # sympy rewrites a difference only if its expansion has at most this many terms
DIGITS = 40               # working precision where a value is not rational
SMALL = 12                # the small points' range
SCALES = (1000, 10**6, 10**12)   # magnitudes every formula is also sampled at
MAX_SCALES = 12           # magnitudes in all, the formulas' own numbers included

_DIGITS = frozenset("0123456789")     # not str.isdigit, which takes "²" too
_GREEK = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu "
    "xi pi rho varrho sigma tau upsilon phi varphi chi psi omega "
    "Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split())
_UNICODE_GREEK = dict(zip("αβγδεζηθικλμνξπρστυφχψωΓΔΘΛΞΠΣΥΦΨΩ",
                          "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi "
                          "pi rho sigma tau upsilon phi chi psi omega "
                          "Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split()))
_UNICODE = {"\u2212": ("op", "-"), "\u2013": ("op", "-"), "\u00d7": ("op", "*"),
            "\u00b7": ("op", "*"), "\u22c5": ("op", "*"), "\u2217": ("op", "*"),
            "\u00f7": ("op", "/"), "\u230a": ("command", "lfloor"), "\u230b": ("command", "rfloor"),
            "\u2308": ("command", "lceil"), "\u2309": ("command", "rceil"),
            "\u221a": ("command", "sqrt"),
            **{char: ("letter", name) for char, name in _UNICODE_GREEK.items()}}
_OPS = ("**", "$$", "+", "-", "*", "/", "^", "_", "(", ")", "[", "]", "{", "}", "|", ",", ".", "$")
_IGNORED_COMMANDS = frozenset(
    "left right big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr Biggl Biggr middle "
    "displaystyle textstyle quad qquad , ; : ! \\ ".split(" ")) | {" "}
_ESCAPED = {"{": "\\{", "}": "\\}", "[": "\\[", "]": "\\]", "(": "\\(", ")": "\\)"}
_TEXT_COMMANDS = frozenset("text textrm textit mathrm mathit mathsf operatorname".split())
_COMMANDS = frozenset("frac dfrac tfrac cfrac sqrt lfloor rfloor lceil rceil lvert rvert vert "
                      "cdot times div ast max min exp log ln tanh".split())

_MULTIPLY = ("*", "cdot", "times", "ast")   # operators, and commands (named without their backslash)
_DIVIDE = ("/", "div")
_CLOSERS = {"(": ")", "[": "]", "{": "}", "\\{": "\\}"}
_WRAPPERS = {"$$": "$$", "$": "$", "\\[": "\\]", "\\(": "\\)"}
_SUM, _PRODUCT, _SIGNED, _POWER = 1, 2, 3, 4      # binding strength of the operators


def _sigmoid(x):
    return 1 / (1 + sympy.exp(-x))


# name -> (fewest arguments, most arguments, sympy builder)
_FUNCTIONS = {
    "floor": (1, 1, sympy.floor), "ceil": (1, 1, sympy.ceiling), "ceiling": (1, 1, sympy.ceiling),
    "max": (1, 20, sympy.Max), "Max": (1, 20, sympy.Max),
    "min": (1, 20, sympy.Min), "Min": (1, 20, sympy.Min),
    "sqrt": (1, 1, sympy.sqrt), "exp": (1, 1, sympy.exp), "log": (1, 2, sympy.log),
    "ln": (1, 1, sympy.log), "tanh": (1, 1, sympy.tanh), "abs": (1, 1, sympy.Abs),
    "Abs": (1, 1, sympy.Abs), "sigmoid": (1, 1, _sigmoid), "sigma": (1, 1, _sigmoid),
}
_CONSTANTS = {"pi": sympy.pi, "e": sympy.E, "E": sympy.E}


def parse_expression(text: str, names=()) -> sympy.Expr:
    """Read `text` (plain text or LaTeX) as a sympy expression.

    `names` are the expected answer's symbols (sympy Symbols, reused so that
    == works) or their names (made as positive integer size symbols); a word
    is split into them first. Other letters become positive integer symbols.
    Raises InvalidAnswer with one sentence saying where the text fails.
    """
    return _read(text, names, constant=False)[0]


def parse_constant(text: str, names=(), span: tuple[int, int] | None = None) -> tuple[sympy.Expr, bool]:
    r"""Read a number written as arithmetic: `1/64 + 1/9`, `2^10`, `3 \cdot 7`, `2\sqrt{3}`.

    The formula grammar and bounds, except that two numbers side by side are
    refused ("12 13" is no product). `names` are the problem's named quantities,
    as for parse_expression; any other letter stays a symbol for the caller to
    refuse. `span`: (start, end) of the part of `text` to read (a matrix's cell),
    where errors are located in the whole text. Returns the value and whether a
    decimal (0.5, 1e-3) was written.
    """
    return _read(text, names, constant=True, span=span)


def _read(text: str, names, constant: bool, span: tuple[int, int] | None = None) -> tuple[sympy.Expr, bool]:
    start, end = span or (0, len(text))
    if end - start > MAX_TEXT:      # before looking at any character
        raise InvalidAnswer(f"expected a formula of at most {MAX_TEXT} characters, got {end - start}")
    if not text[start:end].strip():
        raise InvalidAnswer("expected a formula, got empty text")
    symbols = {}
    for name in names:
        symbol = size_symbol(name) if isinstance(name, str) else name
        symbols[symbol.name] = symbol
    parser = _ExpressionParser(text, symbols, constant, (start, end))
    try:
        with _time_limit(PARSE_SECONDS):
            return parser.answer(), parser.decimal
    except _Timeout:
        parser.fail_here(f"expected a formula that takes less than {PARSE_SECONDS} s to read")
    except (ArithmeticError, RecursionError):      # sympy gave up on a number: floor(e^40 - ...)
        parser.fail_here("expected numbers that can be evaluated")


def equivalent(student, expected, *, seed: int = SEED, known=frozenset()) -> tuple[bool, str]:
    """Do two formulas agree wherever both are defined? (verdict, feedback sentence).
    `known`: symbols the problem names besides the expected answer's (its givens).

    A ladder: the same after sympy's own rewriting or `expand` (only where the
    expansion is small); else a counterexample among sampled points (exact
    arithmetic, so a difference is proof); else equal at enough points, at
    every magnitude sampled (see `_points`); else `simplify(a - b) == 0`
    within a time limit, for the rare formula defined at too few sampled
    points. The same formulas always get the same points, so the same verdict.
    Raises InvalidAnswer when the student's numbers grow too large to decide,
    budget.OutOfTime when the answer's time budget runs out.
    """
    student, expected = _as_expr(student), _as_expr(expected)
    if _same_form(student, expected):
        return True, ""
    sampled = _sample(student, expected, seed)
    unknown = sorted(s.name for s in student.free_symbols - expected.free_symbols - set(known))
    if sampled.difference:
        note = f" It uses {', '.join(unknown)}, which the problem does not name." if unknown else ""
        return False, sampled.difference + note
    if sampled.proves_equal() or _simplifies_to_zero(student - expected):
        return True, ""
    if sampled.too_large:
        raise InvalidAnswer(f"at {sampled.too_large} the formula's numbers grow past {MAX_VALUE_BITS:,} bits, "
                            "so it cannot be checked; write it more simply")
    return False, "The formula could not be shown equal to the expected one."


# --- tokens ------------------------------------------------------------------

class _Token(NamedTuple):
    kind: str      # number, letter, text, command, op, end
    text: str      # the number, letter or Greek name, \text content, command name, operator
    start: int
    end: int


class _Alphabet(NamedTuple):
    """The characters a dialect reads, and how: its operators and Unicode signs, LaTeX
    (commands and `~`) or not, a letter alone or with the letters, digits and "_" after
    it as one word (X1 a name, not X·1), numbers with an exponent (1e-3) or a bare point
    (5., .5), and the digits a number may have (None: as many as the text holds)."""
    ops: tuple[str, ...] = _OPS
    unicode: dict = _UNICODE
    latex: bool = True
    words: bool = False
    exponents: bool = True
    bare_points: bool = False
    max_digits: int | None = MAX_DIGITS


_FORMULAS = _Alphabet()


def _tokens(text: str, alphabet: _Alphabet = _FORMULAS, fail=None, span: tuple[int, int] | None = None
            ) -> list[_Token]:
    """The tokens of `text` (of its `span`, (start, end), if given); `fail(text, message, pos)`
    where a character is not in the alphabet."""
    fail = fail or _fail
    pos, stop = span or (0, len(text))
    tokens = []
    while pos < stop:
        char = text[pos]
        if char.isspace() or char == "~" and alphabet.latex:
            pos += 1
        elif char in _DIGITS or alphabet.bare_points and char == "." and text[pos + 1:pos + 2] in _DIGITS:
            end = _number_end(text, pos, alphabet)
            tokens.append(_Token("number", text[pos:end], pos, end))
            pos = end
        elif char.isascii() and char.isalpha():
            end = pos + 1
            while alphabet.words and end < len(text) and (text[end].isalnum() or text[end] == "_"):
                end += 1
            tokens.append(_Token("letter", text[pos:end], pos, end))
            pos = end
        elif char == "\\" and alphabet.latex:
            token, pos = _command(text, pos)
            if token:
                tokens.append(token)
        elif char in alphabet.unicode:
            tokens.append(_Token(*alphabet.unicode[char], pos, pos + 1))
            pos += 1
        else:
            op = next((op for op in alphabet.ops if text.startswith(op, pos)), None)
            if op is None:
                fail(text, "expected a number, a letter, an operator or a bracket", pos)
            tokens.append(_Token("op", op, pos, pos + len(op)))
            pos += len(op)
    tokens.append(_Token("end", "", stop, stop))
    return tokens


def _number_end(text: str, pos: int, alphabet: _Alphabet = _FORMULAS) -> int:
    """Where the number starting at `pos` ends: digits, a decimal part, an exponent."""
    end = _digits_end(text, pos, alphabet.max_digits)
    if text[end:end + 1] == "." and (text[end + 1:end + 2] in _DIGITS or alphabet.bare_points):
        end = _digits_end(text, end + 1, alphabet.max_digits)
    mark = end + 1 + (text[end + 1:end + 2] in ("+", "-"))
    if alphabet.exponents and text[end:end + 1] in ("e", "E") and text[mark:mark + 1] in _DIGITS:
        end = _digits_end(text, mark, alphabet.max_digits)
    return end


def _digits_end(text: str, pos: int, max_digits: int | None = MAX_DIGITS) -> int:
    end = pos
    # Stop one past the limit: a million nines is refused without reading them all.
    while end < len(text) and text[end] in _DIGITS and (max_digits is None or end - pos <= max_digits):
        end += 1
    if max_digits is not None and end - pos > max_digits:
        _fail(text, f"expected at most {max_digits} digits", pos)
    return end


def _command(text: str, pos: int) -> tuple[_Token | None, int]:
    """The token of the LaTeX command at `pos` (None for spacing and sizing) and where it ends."""
    end = pos + 1
    while end < len(text) and text[end].isascii() and text[end].isalpha():
        end += 1
    if end == pos + 1:       # a one-character command: \, \{ \[
        end = min(pos + 2, len(text))
    name = text[pos + 1:end]
    if name in _IGNORED_COMMANDS:
        return None, end
    if name in _ESCAPED:
        return _Token("op", _ESCAPED[name], pos, end), end
    if name in _GREEK:
        return _Token("letter", name, pos, end), end
    if name in _COMMANDS:
        return _Token("command", name, pos, end), end
    if name in _TEXT_COMMANDS:
        return _text_command(text, pos, end)
    _fail(text, "expected a LaTeX command of formulas such as \\frac, \\sqrt or \\lfloor", pos)


def _text_command(text: str, pos: int, end: int) -> tuple[_Token, int]:
    r"""\text{in}: letters and digits in braces, read as one word."""
    while end < len(text) and text[end].isspace():
        end += 1
    close = text.find("}", end)
    content = text[end + 1:close].replace(" ", "")
    if text[end:end + 1] != "{" or close < 0 or not content.isascii() or not content.isalnum():
        _fail(text, "expected letters or digits in braces after \\" + text[pos + 1:end].strip(), pos)
    return _Token("text", content, pos, close + 1), close + 1


# --- parser ------------------------------------------------------------------

class _Unit(NamedTuple):
    """A piece of a word, and whether a symbol may start at it."""
    text: str
    cut: str       # "hard": a new symbol starts here; "soft": only a whole name may end before it;
    #                "none": glued to what precedes (a subscript to its letter)
    kind: str = "letters"     # letters, greek, digits or subscript


class _ExpressionParser(NestingLimit):
    max_depth = MAX_DEPTH
    def __init__(self, text: str, symbols: dict, constant: bool = False, span: tuple[int, int] | None = None):
        self.text = text
        self.constant = constant    # a number as arithmetic: "2 3" is refused, not 6
        self.decimal = False        # a decimal was written: 0.5, 1e-3
        self.tokens = _tokens(text, span=span)
        self.i = 0
        self.symbols = symbols
        self.words = sorted({*symbols, *_GREEK}, key=len, reverse=True)   # longest first
        self.pending: list = []     # the rest of a word's symbols: "NCK" hands out N, then C, K
        self.depth = self.nodes = self.bars = 0
        self.deadline = time.perf_counter() + PARSE_SECONDS

    def answer(self) -> sympy.Expr:
        closer = _WRAPPERS.get(self._peek().text) if self._peek().kind == "op" else None
        if closer:
            self._next()
        value = self._expression(_SUM)
        self._take(".")                 # a full stop: "... + 1."
        if closer:
            self._expect(closer)
            self._take(".")
        if self._peek().kind != "end":
            self._fail("expected an operator or the end of the formula", self._peek().start)
        return value

    # --- operators --------------------------------------------------------

    def _expression(self, strength: int):
        """Precedence climbing: operands joined by operators at least this strong."""
        with self._nested(self._peek().start):
            value = self._operand()
            while True:
                token = self._peek()
                operator = self._operator(token)
                if operator is None or operator[0] < strength:
                    return value
                binding, explicit, combine = operator
                if explicit:
                    self._next()
                right = self._expression(binding + (binding != _POWER))   # ^ is right-associative
                value = self._node(combine(value, right, token.start), token.start)

    def _operator(self, token: _Token):
        """(strength, written, combine(a, b, pos)) of the operator at `token`, or None."""
        if self.pending:             # the rest of a word: NCK^2 is N·C·K^2
            return _PRODUCT, False, _multiply
        if token.kind == "op" and token.text in ("+", "-"):
            return _SUM, True, _add if token.text == "+" else _subtract
        if token.text in _MULTIPLY and token.kind in ("op", "command"):
            return _PRODUCT, True, _multiply
        if token.text in _DIVIDE and token.kind in ("op", "command"):
            return _PRODUCT, True, self._divide
        if token.kind == "op" and token.text in ("^", "**"):
            return _POWER, True, self._power
        if self._starts_atom(token):
            if self.constant and token.kind == "number" and self.tokens[self.i - 1].kind == "number":
                self._fail("expected an operator between two numbers", token.start)
            return _PRODUCT, False, _multiply
        return None

    def _starts_atom(self, token: _Token) -> bool:
        if token.kind in ("number", "letter", "text"):
            return True
        if token.text in ("|", "vert"):
            return not self.bars     # inside |...| a bar closes: |x||y| is |x|·|y|
        if token.kind == "command":
            return token.text not in ("rfloor", "rceil", "rvert", "cdot", "times", "div", "ast")
        return token.kind == "op" and token.text in _CLOSERS

    def _operand(self):
        token = self._peek()
        # The rest of a word comes first: in "wx + 1" the "+" follows x, it is no sign of x.
        if not self.pending and token.kind == "op" and token.text in ("+", "-"):
            self._next()
            value = self._expression(_SIGNED)
            return self._node(-value if token.text == "-" else value, token.start)
        return self._atom()

    def _divide(self, top, bottom, pos: int):
        if bottom == 0:
            self._fail("expected a non-zero denominator", pos)
        return top / bottom

    def _power(self, base, exponent, pos: int):
        if exponent.is_Number:
            if abs(exponent) > MAX_EXPONENT:
                self._fail(f"expected an exponent between -{MAX_EXPONENT} and {MAX_EXPONENT}", pos)
            if base.is_Rational and abs(exponent) * _bits(base) > MAX_BITS:
                self._fail(f"expected a power of at most {MAX_BITS} bits (about 300 digits)", pos)
            if base == 0 and exponent < 0:
                self._fail("expected a non-zero base under a negative exponent", pos)
        return sympy.Pow(base, exponent)

    # --- atoms ------------------------------------------------------------

    def _atom(self):
        if self.pending:
            return self.pending.pop(0)
        token = self._next()
        if token.kind == "number":
            return self._node(self._number(token), token.start)
        if token.kind in ("letter", "text"):
            return self._word(token)
        if token.kind == "op" and token.text in _CLOSERS:
            return self._group(token)
        if token.text in ("|", "lvert", "vert"):
            return self._bars(token)
        if token.kind == "command":
            return self._command_atom(token)
        self._fail("expected a number, a letter, a function or an opening bracket", token.start)

    def _group(self, opening: _Token):
        return self._enclosed(opening, _CLOSERS[opening.text])[0]

    def _bars(self, opening: _Token):
        closer = "rvert" if opening.text == "lvert" else opening.text
        return self._node(sympy.Abs(self._enclosed(opening, closer, bars=1)[0]), opening.start)

    def _enclosed(self, opening: _Token, closer: str, *, bars: int = 0, many: bool = False) -> list:
        """The sums up to `closer`, separated by commas if `many`. Inside brackets a bar
        opens a new |...| whatever surrounds them: |(a |b|)| is fine."""
        outer, self.bars = self.bars, bars
        values = [self._expression(_SUM)]
        while many and self._take(","):
            values.append(self._expression(_SUM))
        self._expect(closer, opening)
        self.bars = outer
        return values

    def _command_atom(self, token: _Token):
        name, pos = token.text, token.start
        if name in ("frac", "dfrac", "tfrac", "cfrac"):
            top = self._braced()
            bottom_pos = self._peek().start
            return self._node(self._divide(top, self._braced(), bottom_pos), pos)
        if name == "sqrt":
            return self._root(pos)
        if name in ("lfloor", "lceil"):
            value = self._enclosed(token, "r" + name[1:])[0]
            return self._node((sympy.floor if name == "lfloor" else sympy.ceiling)(value), pos)
        if name in _FUNCTIONS:       # \max, \exp, \log, \ln, \tanh
            return self._call(name, token)
        self._fail("expected a number, a letter, a function or an opening bracket", pos)

    def _braced(self):
        opening = self._peek()
        self._expect("{")
        return self._group(opening)

    def _root(self, pos: int):
        degree = sympy.Integer(2)
        if self._peek().text == "[":
            degree = self._group(self._next())
        if self._peek().text == "{":
            radicand = self._braced()
        else:
            with self._nested(pos):
                radicand = self._atom()
        if degree == 0:
            self._fail("expected a non-zero root degree", pos)
        return self._node(self._power(radicand, 1 / degree, pos), pos)

    def _call(self, name: str, token: _Token):
        """`name(a, b, ...)`: the arguments in any brackets."""
        opening = self._next()
        if opening.kind != "op" or opening.text not in _CLOSERS:
            self._fail(f'expected "(" after {name}', opening.start)
        fewest, most, build = _FUNCTIONS[name]
        arguments = self._enclosed(opening, _CLOSERS[opening.text], many=True)
        if not fewest <= len(arguments) <= most:
            count = f"{fewest}" if fewest == most else f"{fewest} to {most}"
            self._fail(f"expected {count} argument(s) to {name}, got {len(arguments)}", token.start)
        if name in ("log", "ln") and arguments[0] == 0:
            self._fail("expected a logarithm of a non-zero value", token.start)
        try:
            return self._node(build(*arguments), token.start)
        except ValueError:       # Max and Min refuse what they cannot order
            self._fail(f"expected arguments to {name} that can be compared", token.start)

    # --- words ------------------------------------------------------------

    def _word(self, first: _Token):
        """Letters, digits and a subscript written together: one or more symbols, maybe a call."""
        units, last = [_word_unit(first)], first
        while (token := self._peek()).start == last.end and (
                token.kind in ("letter", "text") or token.kind == "number" and token.text.isdigit()):
            units.append(_word_unit(token))
            last = self._next()
        if self._take("_"):
            units += self._subscript()
        call = self._peek().kind == "op" and self._peek().text in _CLOSERS
        factors = []
        for text, what in self._pieces(units, call):
            if what == "function":
                factors.append(self._call(text, first))
            elif what == "number":
                factors.append(self._node(sympy.Integer(text), first.start))
            else:
                factors.append(self._node(self._symbol(text), first.start))
        self.pending = factors[1:]
        return factors[0]

    def _subscript(self) -> list[_Unit]:
        r"""The units of "_{in}", "_{\text{in}}", "_1" or "_in", the first glued to the letter before."""
        opening = self._peek()
        if self._take("{"):
            parts = []
            while not self._take("}"):
                token = self._next()
                if not _in_subscript(token, braced=True):
                    self._fail('expected letters or digits, then "}", in the subscript', token.start)
                parts.append(token.text)
            if not parts:
                self._fail("expected letters or digits in the subscript", opening.start)
            return [_Unit("_" + "".join(parts), "none", "subscript")]
        tokens = [self._next()]
        if not _in_subscript(tokens[0], braced=False):
            self._fail('expected letters or digits after "_"', tokens[0].start)
        while self._peek().start == tokens[-1].end and _in_subscript(self._peek(), braced=False):
            tokens.append(self._next())
        # "H_in" is H_in; a name may still end inside it ("W_1x" is W_1·x when W_1 and x are names).
        chars = "".join(t.text for t in tokens)
        return [_Unit("_" + chars[0], "none", "subscript"),
                *(_Unit(c, "soft", "subscript") for c in chars[1:])]

    def _pieces(self, units: list[_Unit], call: bool) -> list[tuple[str, str]]:
        """Split a word into (text, "name" | "number" | "function") pieces, left to right."""
        offsets = [0]
        for unit in units:
            offsets.append(offsets[-1] + len(unit.text))
        word = "".join(unit.text for unit in units)
        bounds = {offset: k for k, offset in enumerate(offsets)}
        cuts = {offset: k for offset, k in bounds.items() if k == len(units) or units[k].cut != "none"}
        pieces, k = [], 0
        while k < len(units):
            start = offsets[k]
            rest = word[start:]
            if rest in _FUNCTIONS and rest not in self.symbols and all(
                    u.kind in ("letters", "greek") for u in units[k:]):
                if call:
                    pieces.append((rest, "function"))
                    break
                if rest not in _GREEK:     # sigma alone is a letter
                    self._fail(f'expected "(" after {rest}', self._peek().start)
            # A Greek letter spelled out ends before its subscript: alpha_23 is \alpha_{23}.
            match = next((w for w in self.words if word.startswith(w, start) and (
                start + len(w) in cuts or w in _GREEK and start + len(w) in bounds)), None)
            if match and start + len(match) in cuts:
                end = cuts[start + len(match)]
            else:
                first = bounds[start + len(match)] if match else k + 1
                end = next((j for j in range(first, len(units)) if units[j].cut == "hard"), len(units))
            piece = word[start:offsets[end]]
            pieces.append((piece, "number" if piece.isdigit() else "name"))
            k = end
        return pieces

    def _number(self, token: _Token):
        """A literal, exactly: "0.25" is 1/4, "1e-3" is 1/1000."""
        mantissa, _, exponent = token.text.lower().partition("e")
        self.decimal = self.decimal or exponent != "" or "." in mantissa
        whole, _, fraction = mantissa.partition(".")
        scale = int(exponent or 0) - len(fraction)
        if abs(scale) > MAX_EXPONENT:
            self._fail(f"expected a decimal exponent between -{MAX_EXPONENT} and {MAX_EXPONENT}", token.start)
        return sympy.Integer(int(whole + fraction)) * sympy.Integer(10) ** scale

    def _symbol(self, name: str):
        if name in self.symbols:
            return self.symbols[name]
        if name in _CONSTANTS:
            return _CONSTANTS[name]
        self.symbols[name] = size_symbol(name)
        return self.symbols[name]

    # --- bounds and tokens ------------------------------------------------

    def _node(self, value, pos: int):
        """Count one more operation and keep numbers small."""
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self._fail(f"expected at most {MAX_NODES} numbers, letters and operations", pos)
        if value.has(sympy.I, sympy.zoo, sympy.nan):      # sqrt(-1), 1/0 once evaluated
            self._fail("expected a formula with a finite real value", pos)
        if value.is_Rational and _bits(value) > MAX_BITS:
            self._fail(f"expected numbers of at most {MAX_BITS} bits (about 300 digits)", pos)
        if value.is_number and not value.is_Rational:
            size = value.evalf(15)
            if size.is_Number and abs(size) > MAX_IRRATIONAL:
                self._fail("expected numbers below 10^30 where they are not rational", pos)
        return value

    def _peek(self) -> _Token:
        return self.tokens[self.i]

    def _next(self) -> _Token:
        if time.perf_counter() > self.deadline:     # where no alarm can interrupt (not the main thread)
            self.fail_here(f"expected a formula that takes less than {PARSE_SECONDS} s to read")
        token = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return token

    def _take(self, text: str) -> bool:
        if self._peek().kind in ("op", "command") and self._peek().text == text:
            self._next()
            return True
        return False

    def _expect(self, text: str, opening: _Token | None = None) -> None:
        if not self._take(text):
            shown = "\\" + text if text.isalpha() else text
            match = f" to close the \"{self.text[opening.start:opening.end]}\" of column {opening.start + 1}" \
                if opening else ""
            self._fail(f'expected "{shown}"{match}', self._peek().start)

    def _fail(self, message: str, pos: int) -> NoReturn:
        _fail(self.text, message, pos)

    def fail_here(self, message: str) -> NoReturn:
        """Fail at the token being read."""
        self._fail(message, self._peek().start)


def _add(a, b, pos):
    return a + b


def _subtract(a, b, pos):
    return a - b


def _multiply(a, b, pos):
    return a * b


def _bits(value) -> int:
    return max(int(value.p).bit_length(), int(value.q).bit_length())


def _fail(text: str, message: str, pos: int) -> NoReturn:
    # Word and locate the error as literals.py does for numbers.
    _Parser(text)._fail(message, pos)


# --- the linear dialect: a convolution's target, linear in the entries of X -------

MAX_LINEAR_TEXT = 10_000  # characters of one linear formula
MAX_LINEAR_DIGITS = 30    # digits of one number in it
MAX_LINEAR_NESTING = 20   # parentheses and signs, one inside the other
MAX_INDEX = 10**6         # |coefficient| in a row or column index
_LINEAR = _Alphabet(ops=("+", "-", "*", "/", "(", ")", "[", "]", ","),
                    unicode={char: _UNICODE[char] for char in "\u2212\u00b7\u22c5\u00d7"},
                    latex=False, words=True, exponents=False, bare_points=True, max_digits=None)


@dataclass(frozen=True)
class Entry:
    """X[channel, row, col]; row and col are (coefficient of i, of j, constant)."""
    channel: int | None            # None: written X[row, col] (one input channel)
    row: tuple[int, int, int]
    col: tuple[int, int, int]

    def at(self, i: int, j: int) -> tuple[int, int, int]:
        """(channel, row, col) it names at output position (i, j)."""
        return (self.channel or 0, self.row[0] * i + self.row[1] * j + self.row[2],
                self.col[0] * i + self.col[1] * j + self.col[2])


CONSTANT = None                    # the key of a linear form's constant term


class Linear(NamedTuple):
    """A formula read by the linear dialect: {Entry or CONSTANT: Fraction} in the order the
    formula writes its terms, and whether it wrote a decimal (0.299)."""
    form: dict
    decimal: bool


class LinearFormError(ValueError):
    """Where (a character index, or None for the whole formula) and what: "is not linear: ..."."""

    def __init__(self, what: str, position: int | None = None):
        super().__init__(what)
        self.what, self.position = what, position


def parse_linear(text: str) -> Linear:
    """Read a linear formula in the entries of X, the linear dialect of the grammar:

        sum     = product { ("+" | "-") product } ;
        product = signed { [ "*" | "/" ] signed } ;    (* no operator: multiply *)
        signed  = ("+" | "-") signed | atom ;
        atom    = number | "X" "[" index "," index [ "," index ] "]" | "(" sum ")" ;
        index   = [ sign ] iterm { ("+" | "-") iterm } ;
        iterm   = int [ [ "*" ] ( "i" | "j" ) ] | ( "i" | "j" ) [ "*" int ] ;
        number  = digits [ "." [ digits ] ] | "." digits ;

    Plain text only (no LaTeX, no exponents), `−`, `·`, `⋅` and `×` as `-` and `*`. A product
    or quotient keeps the formula linear: one side is a constant. Raises LinearFormError."""
    if len(text) > MAX_LINEAR_TEXT:
        raise LinearFormError(f"is longer than {MAX_LINEAR_TEXT} characters")
    parser = _LinearParser(text)
    return Linear(parser.formula(), parser.decimal)


def _combined(f: dict, g: dict, sign: int = 1) -> dict:
    out = dict(f)
    for key, value in g.items():
        out[key] = out.get(key, 0) + sign * value
    return {key: value for key, value in out.items() if value}


def _scaled(f: dict, factor: Fraction) -> dict:
    return {key: value * factor for key, value in f.items() if value * factor}


def _constant_value(f: dict):
    """The value of a form without entries of X, else None."""
    return f.get(CONSTANT, Fraction(0)) if set(f) <= {CONSTANT} else None


class _LinearParser(_ExpressionParser):
    """The linear dialect: the grammar's tokens and operators, its own atoms (numbers and
    entries of X), values (linear forms) and wording ("has ... where ... should be")."""

    def __init__(self, text: str):
        self.text, self.i, self.depth, self.decimal, self.pending = text, 0, 0, False, []
        self.deadline = math.inf          # a problem file's formula: bounded by its length, not timed
        self.tokens = _tokens(text, _LINEAR, lambda text, message, pos: self._fail(
            f"has {text[pos]!r} where a number, X[...], an operator or a bracket should be", pos))

    def _fail(self, message: str, pos: int | None) -> NoReturn:
        raise LinearFormError(message, pos)

    @contextmanager
    def _nested(self, pos: int):
        yield                             # the dialect counts parentheses and signs only (_deeper)

    @contextmanager
    def _deeper(self, pos: int):
        self.depth += 1
        if self.depth > MAX_LINEAR_NESTING:
            self._fail(f"nests more than {MAX_LINEAR_NESTING} parentheses or signs", pos)
        yield
        self.depth -= 1

    def _node(self, value, pos: int):
        return value

    def _expect_op(self, text: str, what: str):
        if not self._take(text):
            self._fail(f"needs {what}", self._peek().start)

    def formula(self) -> dict:
        if self._peek().kind == "end":
            self._fail("is empty", None)
        form = self._expression(_SUM)
        if self._peek().kind != "end":
            self._fail(f"has {self._peek().text!r} where an operator or the end should be", self._peek().start)
        return form

    def _operator(self, token: _Token):
        if token.kind == "op" and token.text in ("+", "-"):
            sign = 1 if token.text == "+" else -1
            return _SUM, True, lambda a, b, pos: _combined(a, b, sign)
        if token.kind == "op" and token.text in ("*", "/"):
            return _PRODUCT, True, self._divided if token.text == "/" else self._multiplied
        if token.kind in ("number", "letter") or token.text == "(":
            return _PRODUCT, False, self._multiplied
        return None

    def _multiplied(self, left: dict, right: dict, pos: int) -> dict:
        a, b = _constant_value(left), _constant_value(right)
        if a is None and b is None:
            self._fail("is not linear: it multiplies two expressions that both contain entries of X "
                       "(a convolution computes a linear map plus a constant)", pos)
        return _scaled(right, a) if a is not None else _scaled(left, b)

    def _divided(self, left: dict, right: dict, pos: int) -> dict:
        b = _constant_value(right)
        if b is None:
            self._fail("is not linear: it divides by an expression with entries of X", pos)
        if b == 0:
            self._fail("divides by zero", pos)
        return _scaled(left, 1 / b)

    def _operand(self) -> dict:
        token = self._peek()
        if token.kind == "op" and token.text in ("+", "-"):
            self._next()
            with self._deeper(token.start):
                form = self._expression(_SIGNED)
            return _scaled(form, Fraction(-1 if token.text == "-" else 1))
        return self._atom()

    def _atom(self) -> dict:
        token = self._peek()
        if token.kind == "number":
            self._next()
            number = self._number(token)
            return {CONSTANT: number} if number else {}
        if token.kind == "letter" and token.text == "X":
            self._next()
            return {self._entry(): Fraction(1)}
        if token.text == "(":
            self._next()
            with self._deeper(token.start):
                form = self._expression(_SUM)
                self._expect_op(")", "a closing ')'")
            return form
        self._fail(f"has {token.text or 'its end'!r} where a number, X[...] or '(' should be (the input is "
                   "written X; i and j appear only in its indices)", token.start)

    def _number(self, token: _Token) -> Fraction:
        if len(token.text.replace(".", "")) > MAX_LINEAR_DIGITS:
            self._fail(f"has a number with more than {MAX_LINEAR_DIGITS} digits", token.start)
        self.decimal |= "." in token.text
        return Fraction(token.text)

    def _entry(self) -> Entry:
        self._expect_op("[", "'[' after X")
        indices = [self._index()]
        while self._take(","):
            indices.append(self._index())
        self._expect_op("]", "']' after the indices of X")
        if len(indices) == 2:
            return Entry(None, *indices)
        if len(indices) != 3:
            self._fail(f"gives X {len(indices)} indices; X takes [row, col] or [channel, row, col]", None)
        channel, row, col = indices
        if channel[:2] != (0, 0):
            self._fail("has a channel (first index of X) that depends on i or j; it must be a whole number", None)
        return Entry(channel[2], row, col)

    def _index(self) -> tuple[int, int, int]:
        total = [0, 0, 0]
        sign = -1 if self._take("-") else 1
        if sign == 1:
            self._take("+")
        while True:
            coefficient, slot = self._index_term()
            total[slot] += sign * coefficient
            if self._take("+"):
                sign = 1
            elif self._take("-"):
                sign = -1
            else:
                break
        if any(abs(v) > MAX_INDEX for v in total):
            self._fail(f"has an index coefficient larger than {MAX_INDEX}", None)
        return tuple(total)

    def _index_term(self) -> tuple[int, int]:
        """(coefficient, 0 for i, 1 for j, 2 for a constant)."""
        token = self._peek()
        coefficient = 1
        if token.kind == "number":
            if not self._whole(token):
                self._fail("has an index that is not a whole number", token.start)
            coefficient = int(token.text)
            self._next()
            self._take("*")
            token = self._peek()
            if token.kind != "letter":
                return coefficient, 2
        if token.kind == "letter" and token.text in ("i", "j"):
            self._next()
            if self._take("*"):                          # i*2
                factor = self._peek()
                if factor.kind != "number" or not self._whole(factor):
                    self._fail("has an index that is not linear in i and j (e.g. write 2*i, not i*j)", factor.start)
                self._next()
                coefficient *= int(factor.text)
            return coefficient, "ij".index(token.text)
        self._fail(f"has {token.text or 'its end'!r} in an index of X; indices are whole numbers and i, j "
                   "(e.g. i+1, 2*j)", token.start)

    @staticmethod
    def _whole(token: _Token) -> bool:
        return "." not in token.text and len(token.text) <= MAX_LINEAR_DIGITS


# --- equivalence -------------------------------------------------------------

class _Timeout(BaseException):
    """The time limit ran out (a BaseException: sympy's own `except Exception` must not swallow it)."""


class _Undefined(Exception):
    """A formula has no finite real value at a point."""


class _TooLarge(_Undefined):
    """A number at a point grows past 2^±MAX_VALUE_BITS: it is not computed (an exact
    one would fill memory; e^x of a larger x takes mpmath minutes)."""


@contextmanager
def _time_limit(seconds: float):
    """Raise _Timeout in the block after `seconds` of CPU time (as the answer's budget counts
    it); yields whether a timer is set (it needs SIGPROF and the main thread, so elsewhere
    the caller skips what it cannot bound).
    The alarm repeats until the block ends: an exception raised where Python drops it
    (a garbage collector's callback) is raised again a moment later."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield False
        return

    def expire(signum, frame):
        raise _Timeout

    with collection_deferred():             # before the timer: a collection of the whole heap is not this block's time
        previous = signal.signal(signal.SIGPROF, expire)
        signal.setitimer(signal.ITIMER_PROF, max(seconds, 0.001), 0.05)
        try:
            yield True
        finally:
            while True:             # an alarm during the clean-up must not leave the timer running
                try:
                    signal.setitimer(signal.ITIMER_PROF, 0)
                    signal.signal(signal.SIGPROF, previous)
                    break
                except _Timeout:
                    continue


def _as_expr(value):
    """A trusted answer value (sympy expression, int or Fraction) as a sympy expression."""
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    if isinstance(value, int):
        return sympy.Integer(value)
    return value


def _same_form(a, b) -> bool:
    if a == b or a - b == 0:
        return True
    return _rewrites_to_zero(sympy.expand, a - b, EXPAND_SECONDS)


def _simplifies_to_zero(difference) -> bool:
    return _rewrites_to_zero(sympy.simplify, difference, SIMPLIFY_SECONDS)


def _rewrites_to_zero(rewrite, difference, seconds: float) -> bool:
    """Does sympy's `rewrite` make `difference` 0 within `seconds` (and the answer's budget)?
    Not tried where the expansion would be large: sympy cannot be stopped inside
    a multiplication of huge polynomials, and fills memory first."""
    check_time()
    if _expanded_terms(difference) > MAX_EXPANDED_TERMS:
        return False
    try:
        with _time_limit(min(seconds, remaining())) as timed:
            return timed and rewrite(difference) == 0
    except _Timeout:
        check_time()
        return False
    except (ArithmeticError, ValueError, TypeError, RecursionError, MemoryError):
        return False           # sympy gave up: sigmoid(-10^40) overflows mpmath inside simplify


def _expanded_terms(expr) -> int:
    """An upper bound on the terms of `expr` expanded (the largest of it and of its
    functions' arguments), past MAX_EXPANDED_TERMS only as MAX_EXPANDED_TERMS + 1."""
    cap = MAX_EXPANDED_TERMS + 1
    if expr.is_Atom:
        return 1
    inner = [_expanded_terms(arg) for arg in expr.args]
    if expr.is_Add:
        return min(sum(inner), cap)
    if expr.is_Mul:
        return min(math.prod(inner), cap)      # inner <= cap each: at most cap^500
    if expr.is_Pow:
        base, exponent = inner[0], expr.exp
        if not exponent.is_Integer or base == 1:
            return max(inner)
        n = abs(int(exponent))
        return cap if n >= cap or base >= cap else min(math.comb(n + base - 1, base - 1), cap)
    return max(inner)                          # floor, exp, ...: expanded inside


class _Sampled(NamedTuple):
    agreeing: dict        # magnitude -> points where both formulas agree
    defined: set          # magnitudes at which the expected value was computed somewhere
    difference: str       # a sentence on the first point where the formulas differ, or ""
    too_large: str        # a point where only the student's numbers grew too large, or ""

    def proves_equal(self) -> bool:
        """Equal at enough points, and at every magnitude where the expected value is defined."""
        return (sum(self.agreeing.values()) >= MIN_AGREEING
                and all(self.agreeing.get(scale) for scale in self.defined))


def _sample(student, expected, seed: int) -> _Sampled:
    """Both formulas at the points of `_points`, exactly where the values are rational."""
    agreeing, defined, too_large = {}, set(), ""
    with mpmath.workdps(DIGITS):
        for scale, point in _points(student, expected, seed):
            try:
                target = _evaluate(expected, point)
            except _Undefined:
                continue
            defined.add(scale)
            try:
                value = _evaluate(student, point)
            except _TooLarge:
                too_large = too_large or _point_text(point)
                continue
            except _Undefined:       # (H^2 - K^2)/(H - K) is H + K, undefined at H = K
                continue
            if not _same(value, target) and not _rounding_only(student, expected, point, value, target):
                return _Sampled(agreeing, defined, f"At {_point_text(point)} this formula gives "
                                f"{_value_text(value)}, which is not the expected value.", "")
            agreeing[scale] = agreeing.get(scale, 0) + 1
    return _Sampled(agreeing, defined, "", too_large)


def _rounding_only(student, expected, point, value, target) -> bool:
    """Rounding, not a difference? Values past a transcendental function are mpf, and a
    sum of large ones can lose every digit at DIGITS; four times the digits tell."""
    if isinstance(value, Fraction) and isinstance(target, Fraction):
        return False
    with mpmath.workdps(4 * DIGITS):
        try:
            return _same(_evaluate(student, point), _evaluate(expected, point), 4 * DIGITS)
        except _Undefined:
            return False


def _points(student, expected, seed: int):
    """(magnitude, {symbol: value}): SMALL_POINTS with every symbol from 1..SMALL,
    then in each range of `_ranges`, three points: every symbol in it, one symbol
    in it (each in turn), and a random half of them; the others small. A term that
    vanishes below some size (floor(H/1001)) is nonzero at some point."""
    symbols = sorted(student.free_symbols | expected.free_symbols, key=lambda s: s.name)
    rng = random.Random(seed)
    for _ in range(SMALL_POINTS if symbols else 1):
        yield SMALL, {s: _draw(s, rng, 1, SMALL) for s in symbols}
    if not symbols:
        return
    for turn, (low, high) in enumerate(_ranges(student, expected)):
        one = symbols[turn % len(symbols)]
        for large in (set(symbols), {one}, {s for s in symbols if rng.randrange(2)} or {one}):
            yield low, {s: _draw(s, rng, low, high) if s in large else _draw(s, rng, 1, SMALL)
                        for s in symbols}


def _ranges(student, expected) -> list[tuple[int, int]]:
    """(low, high): each magnitude of SCALES to twice it, and from each number the two
    formulas are written with (1001 in floor(H/1001), 10^7 in x^2/10^7, numerators and
    denominators) to just past it, where a term that starts there (max(0, H - 5000))
    is not yet outgrown by one that ends soon after; the largest numbers first, at
    most MAX_SCALES ranges in all."""
    numbers = student.atoms(sympy.Rational) | expected.atoms(sympy.Rational)
    own = {abs(int(part)) for n in numbers for part in (n.p, n.q)} - set(SCALES)
    largest = sorted((n for n in own if n > SMALL), reverse=True)[:MAX_SCALES - len(SCALES)]
    return sorted([(n, 2 * n) for n in SCALES] + [(n, n + SMALL) for n in largest])


def _draw(symbol, rng: random.Random, low: int, high: int) -> Fraction:
    """An admissible value from low..high: a positive integer for a size symbol, else
    a fraction with a small denominator, of either sign for a real symbol."""
    denominator = 1 if symbol.is_integer else rng.randint(1, SMALL)
    value = Fraction(rng.randint(low * denominator, high * denominator), denominator)
    if not symbol.is_nonnegative and rng.randrange(2):
        value = -value
    return value


def _point_text(point: dict) -> str:
    return ", ".join(f"{s.name} = {_value_text(v)}" for s, v in point.items())


def _value_text(value) -> str:
    """A value as feedback shows it: exact while short, else 8 significant digits."""
    if isinstance(value, Fraction) and _fraction_bits(value) <= 64:
        return str(value)
    return mpmath.nstr(_mpf(value), 8)


def _same(a, b, digits: int = DIGITS) -> bool:
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a == b
    a, b = _mpf(a), _mpf(b)
    return abs(a - b) <= mpmath.mpf(10) ** (10 - digits) * max(1, abs(b))


def _evaluate(expr, point: dict):
    """`expr` at `point`; _Undefined where it has no finite real value or is too large."""
    try:
        return _value(expr, point)
    except (ArithmeticError, ValueError) as error:      # mpmath or int arithmetic refused
        raise _Undefined from error


def _value(expr, point: dict):
    """`expr` at `point`: a Fraction while exact, an mpf past a transcendental function."""
    check_time()
    if expr.is_Symbol:
        return point[expr]
    if expr.is_Rational:
        return Fraction(int(expr.p), int(expr.q))
    if expr.is_Add or expr.is_Mul:      # term by term, so a product too large stops early
        return (_sum if expr.is_Add else _product)(_value(arg, point) for arg in expr.args)
    rule = _RULES.get(expr.func)
    if rule is None:
        return _sympy_value(expr, point)
    return rule(*(_value(arg, point) for arg in expr.args))


def _sympy_value(expr, point: dict):
    """Whatever the rules do not cover (pi, E, other functions), evaluated by sympy."""
    exact = {s: sympy.Rational(v.numerator, v.denominator) for s, v in point.items()}
    value = expr.xreplace(exact).evalf(DIGITS)
    if value.is_Rational:
        return _bounded(Fraction(int(value.p), int(value.q)))
    if value.is_Float:
        return _finite(mpmath.mpf(value._mpf_))
    raise _Undefined


def _mpf(x):
    return mpmath.mpf(x.numerator) / x.denominator if isinstance(x, Fraction) else x


def _finite(x):
    if not mpmath.isfinite(x):
        raise _Undefined
    if x and abs(mpmath.mag(x)) > MAX_VALUE_BITS:
        raise _TooLarge
    return x


def _fraction_bits(x: Fraction) -> int:
    return max(x.numerator.bit_length(), x.denominator.bit_length())


def _bounded(x: Fraction) -> Fraction:
    if _fraction_bits(x) > MAX_VALUE_BITS:
        raise _TooLarge
    return x


def _exact_or_mpf(values) -> list:
    """Fractions stay exact until one value is an mpf."""
    return list(values) if all(isinstance(v, Fraction) for v in values) else [_mpf(v) for v in values]


def _sum(values):
    """The sum of an iterable of values, each added as it comes."""
    total = Fraction(0)
    for value in values:
        if isinstance(total, Fraction) and isinstance(value, Fraction):
            # Bound the result before computing it: a/b + c/d = (ad + cb)/bd.
            if max(total.numerator.bit_length() + value.denominator.bit_length(),
                   value.numerator.bit_length() + total.denominator.bit_length(),
                   total.denominator.bit_length() + value.denominator.bit_length()) > 2 * MAX_VALUE_BITS:
                raise _TooLarge
            total = _bounded(total + value)
        else:
            total = _finite(_mpf(total) + _mpf(value))
    return total


def _product(values):
    """The product of an iterable of values: it stops at the first that makes it too large."""
    result = Fraction(1)
    for value in values:
        if isinstance(result, Fraction) and isinstance(value, Fraction):
            if _fraction_bits(result) + _fraction_bits(value) > 2 * MAX_VALUE_BITS:
                raise _TooLarge
            result = _bounded(result * value)
        else:
            result = _finite(_mpf(result) * _mpf(value))
    return result


def _power_value(base, exponent):
    whole = isinstance(exponent, Fraction) and exponent.denominator == 1
    if isinstance(base, Fraction) and whole:
        if base == 0 and exponent < 0:
            raise _Undefined
        if abs(exponent) * (_fraction_bits(base) - 1) > MAX_VALUE_BITS:
            raise _TooLarge
        return _bounded(base ** int(exponent))
    base, exponent = _mpf(base), _mpf(exponent)
    if base < 0 and not whole or base == 0 and exponent <= 0:      # complex (tanh(x)^2 is not) or undefined
        raise _Undefined
    if base and abs(exponent * mpmath.log(abs(base), 2)) > MAX_VALUE_BITS:     # before computing it
        raise _TooLarge
    return _finite(mpmath.power(base, int(exponent) if whole else exponent))


def _floor(x) -> Fraction:
    return Fraction(math.floor(x) if isinstance(x, Fraction) else _integer(mpmath.floor(x)))


def _ceiling(x) -> Fraction:
    return Fraction(math.ceil(x) if isinstance(x, Fraction) else _integer(mpmath.ceil(x)))


def _integer(x) -> int:
    """A whole mpf as an exact integer, if that is not too large."""
    if x and mpmath.mag(x) > MAX_VALUE_BITS:
        raise _TooLarge
    return int(x)


def _log(x):
    if x <= 0:
        raise _Undefined
    return mpmath.log(_mpf(x))


def _exp(x):
    if abs(x) > MAX_VALUE_BITS:          # e^x past 2^±MAX_VALUE_BITS: not computed
        raise _TooLarge
    return _finite(mpmath.exp(_mpf(x)))


_RULES = {
    sympy.Pow: _power_value,
    sympy.floor: _floor, sympy.ceiling: _ceiling, sympy.Abs: abs,
    sympy.Max: lambda *values: max(_exact_or_mpf(values)),
    sympy.Min: lambda *values: min(_exact_or_mpf(values)),
    sympy.exp: _exp, sympy.log: _log, sympy.tanh: lambda x: mpmath.tanh(_mpf(x)),
}


def _word_unit(token: _Token) -> _Unit:
    kind = {"number": "digits", "text": "letters"}.get(token.kind, "greek" if len(token.text) > 1 else "letters")
    return _Unit(token.text, "hard", kind)


def _in_subscript(token: _Token, braced: bool) -> bool:
    """May `token` be part of a subscript? Braces also allow a sign: h_{t-1}."""
    return (token.kind in ("letter", "text") or token.kind == "number" and token.text.isdigit()
            or braced and token.kind == "op" and token.text in ("+", "-"))


# --- the program dialect: a computation the instructor writes, one assignment a line -------

MAX_PROGRAM_LINE = 500    # characters of one assignment
MAX_PROGRAM_NODES = 200   # numbers, names and operations in one assignment
MAX_PROGRAM_DIGITS = 30   # digits of one number in it
MAX_PROGRAM_EXPONENT = 64 # |p| in x^p
# name -> its number of arguments: the primitive operations a program may call
PROGRAM_FUNCTIONS = {"exp": 1, "log": 1, "sqrt": 1, "abs": 1, "sigmoid": 1, "tanh": 1, "relu": 1, "square": 1,
                     "max": 2, "min": 2, "sum": 1, "mean": 1, "softmax": 1, "log_softmax": 1}
_PROGRAM = _Alphabet(ops=("**", "+", "-", "*", "/", "@", "^", "(", ")", ",", "=", "."),
                     unicode={char: _UNICODE[char] for char in "\u2212\u00b7\u22c5\u00d7"},
                     latex=False, words=True, exponents=True, max_digits=MAX_PROGRAM_DIGITS)


@dataclass(frozen=True)
class Name:
    """A name the program uses: an input, or an earlier assignment's."""
    name: str
    position: int


@dataclass(frozen=True)
class Constant:
    """A number written in the program, exactly (0.1 is 1/10); `decimal`: written with a point."""
    value: Fraction
    decimal: bool = False


@dataclass(frozen=True)
class Operation:
    """One primitive operation: add, sub, mul, div, neg, pow (its exponent a Constant), matmul (@),
    T (the transpose, X.T) or a function of PROGRAM_FUNCTIONS; `position` where the program writes it."""
    op: str
    args: tuple
    position: int


class Assignment(NamedTuple):
    target: str | None            # None: a bare expression
    expression: Any


class ProgramError(ValueError):
    """Where (a character index, or None for the whole line) and what: "has ... where ... should be"."""

    def __init__(self, what: str, position: int | None = None):
        super().__init__(what)
        self.what, self.position = what, position


def parse_assignment(text: str) -> Assignment:
    """Read one line of a program, `name = expression` (or an expression alone), in the program
    dialect of the grammar:

        line    = [ name "=" ] sum ;
        sum     = product { ( "+" | "-" ) product } ;
        product = signed { ( "*" | "/" | "@" ) signed } ;   (* an operator between factors: 2*x, not 2x *)
        signed  = ( "+" | "-" ) signed | power ;
        power   = postfix [ ( "^" | "**" ) signed ] ;   (* the exponent a constant *)
        postfix = atom { ".T" } ;                       (* the transpose, as PyTorch writes it *)
        atom    = number | name | function "(" sum { "," sum } ")" | "(" sum ")" ;
        name    = letters [ digits ] [ "_" letters-and-digits ] ;

    Plain text only, `−`, `·`, `⋅` and `×` as `-` and `*`; the functions are PROGRAM_FUNCTIONS.
    Arithmetic on numbers alone is done exactly (1/2 is a constant); every other operation is a
    node of the graph. Raises ProgramError."""
    if len(text) > MAX_PROGRAM_LINE:
        raise ProgramError(f"is longer than {MAX_PROGRAM_LINE} characters")
    return _ProgramParser(text).line()


def _is_constant(value) -> bool:
    return isinstance(value, Constant)


class _ProgramParser(_ExpressionParser):
    """The program dialect: the grammar's tokens and operators, its own atoms (names, numbers,
    calls), values (Name, Constant, Operation) and wording."""
    max_depth = MAX_DEPTH

    def __init__(self, text: str):
        self.text, self.i, self.depth, self.nodes, self.pending = text, 0, 0, 0, []
        self.deadline = math.inf          # a problem file's line: bounded by its length, not timed
        self.tokens = _tokens(text, _PROGRAM, lambda text, message, pos: self._fail(
            f"has {text[pos]!r} where a name, a number, an operator or a bracket should be", pos))

    def _fail(self, message: str, pos: int | None) -> NoReturn:
        raise ProgramError(message, pos)

    def _node(self, value, pos: int):
        self.nodes += 1
        if self.nodes > MAX_PROGRAM_NODES:
            self._fail(f"has more than {MAX_PROGRAM_NODES} numbers, names and operations", pos)
        return value

    def line(self) -> Assignment:
        target = None
        first, second = self.tokens[0], self.tokens[min(1, len(self.tokens) - 1)]
        if first.kind == "letter" and second.kind == "op" and second.text == "=":
            target = self._name(first)
            self.i = 2
        if self._peek().kind == "end":
            self._fail("has no expression" + (" after its '='" if target else ""), None)
        value = self._expression(_SUM)
        token = self._peek()
        if token.kind != "end":
            what = "a second '='" if token.text == "=" else repr(token.text)
            self._fail(f"has {what} where an operator or the end of the line should be", token.start)
        return Assignment(target, value)

    def _name(self, token: _Token) -> str:
        if token.text in PROGRAM_FUNCTIONS:
            self._fail(f"uses {token.text}, a function, as a name; call it as {token.text}(...)", token.start)
        if not IDENTIFIER.match(token.text):
            self._fail(f"has the name {token.text!r}; a name is letters, then digits, then at most one _ and "
                       "a subscript (x, w0, x_1, h_in), at most 16 characters", token.start)
        return token.text

    def _operator(self, token: _Token):
        if token.kind == "op" and token.text in ("+", "-"):
            op = "add" if token.text == "+" else "sub"
            return _SUM, True, lambda a, b, pos: self._operation(op, (a, b), pos)
        if token.kind == "op" and token.text in ("*", "/", "@"):
            op = {"*": "mul", "/": "div", "@": "matmul"}[token.text]
            return _PRODUCT, True, lambda a, b, pos: self._operation(op, (a, b), pos)
        if token.kind == "op" and token.text in ("^", "**"):
            return _POWER, True, self._raised
        if token.kind in ("number", "letter") or token.kind == "op" and token.text == "(":
            self._fail(f"has {token.text!r} right after a factor; write the operator, e.g. 2*x, not 2x",
                       token.start)
        return None

    def _raised(self, base, exponent, pos: int):
        if not _is_constant(exponent):
            self._fail("raises to a power that is not a constant number; an exponent is a number such as 2, "
                       "-1 or 0.5 (write exp(...) for e to a power)", pos)
        if abs(exponent.value) > MAX_PROGRAM_EXPONENT:
            self._fail(f"has the exponent {exponent.value}; exponents are between -{MAX_PROGRAM_EXPONENT} and "
                       f"{MAX_PROGRAM_EXPONENT}", pos)
        return self._operation("pow", (base, exponent), pos)

    def _operation(self, op: str, args: tuple, pos: int):
        """The operation, or its value where its arguments are numbers and it is exact."""
        if all(map(_is_constant, args)) and op in ("add", "sub", "mul", "div", "neg", "pow"):
            values = [a.value for a in args]
            decimal = any(a.decimal for a in args)
            if op == "div" and values[1] == 0:
                self._fail("divides by zero", pos)
            if op == "pow" and (values[1].denominator != 1 or values[0] == 0 and values[1] < 0):
                return Operation(op, args, pos)
            value = {"add": lambda: values[0] + values[1], "sub": lambda: values[0] - values[1],
                     "mul": lambda: values[0] * values[1], "div": lambda: values[0] / values[1],
                     "neg": lambda: -values[0], "pow": lambda: values[0] ** int(values[1])}[op]()
            if max(value.numerator.bit_length(), value.denominator.bit_length()) > MAX_BITS:
                self._fail(f"makes a number of more than {MAX_BITS} bits", pos)
            return Constant(Fraction(value), decimal)
        return Operation(op, args, pos)

    def _operand(self):
        token = self._peek()
        if token.kind == "op" and token.text in ("+", "-"):
            self._next()
            with self._nested(token.start):
                value = self._expression(_SIGNED)
            return value if token.text == "+" else self._node(self._operation("neg", (value,), token.start),
                                                              token.start)
        return self._transposed(self._atom())

    def _transposed(self, value):
        """The atom `value` with each `.T` after it: X.T, (X @ W).T."""
        while self._peek().kind == "op" and self._peek().text == ".":
            dot = self._next()
            after = self._next()
            if after.kind != "letter" or after.text != "T":
                self._fail("has '.' where .T (the transpose, X.T) or an operator should be", dot.start)
            if _is_constant(value):
                self._fail("transposes a number; .T transposes a matrix (X.T)", dot.start)
            value = self._node(Operation("T", (value,), dot.start), dot.start)
        return value

    def _atom(self):
        token = self._next()
        if token.kind == "number":
            decimal = "." in token.text or "e" in token.text.lower()
            number = Fraction(token.text)
            if abs(number) > MAX_NUMBER or _fraction_bits(number) > MAX_BITS:
                self._fail(f"has the number {token.text}; numbers in a program are at most {NUMBER_LIMIT} in size, "
                           f"with at most {MAX_BITS} bits", token.start)
            return self._node(Constant(number, decimal), token.start)
        if token.kind == "letter" and token.text in PROGRAM_FUNCTIONS:
            return self._call(token)
        if token.kind == "letter":
            if self._peek().kind == "op" and self._peek().text == "(":
                self._fail(f"calls {token.text}, which is not a function of a program; the functions are "
                           f"{', '.join(PROGRAM_FUNCTIONS)}", token.start)
            return self._node(Name(self._name(token), token.start), token.start)
        if token.kind == "op" and token.text == "(":
            value = self._expression(_SUM)
            self._expect_closing(token)
            return value
        self._fail(f"has {token.text or 'its end'!r} where a name, a number, a function or '(' should be",
                   token.start)

    def _expect_closing(self, opening: _Token) -> None:
        if not self._take(")"):
            self._fail(f"needs a ')' to close the '(' of column {opening.start + 1}", self._peek().start)

    def _call(self, token: _Token):
        name = token.text
        opening = self._next()
        if opening.kind != "op" or opening.text != "(":
            self._fail(f"has {name} without '(' after it; call it as {name}(...)", token.start)
        with self._nested(token.start):
            args = [self._expression(_SUM)]
            while self._take(","):
                args.append(self._expression(_SUM))
        self._expect_closing(opening)
        if len(args) != PROGRAM_FUNCTIONS[name]:
            self._fail(f"gives {name} {len(args)} argument(s); it takes {PROGRAM_FUNCTIONS[name]}", token.start)
        return self._node(Operation(name, tuple(args), token.start), token.start)
