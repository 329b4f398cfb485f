r"""Read a student's answer text as a number, a shape or a matrix.

The text is untrusted, so it is read by a hand-written recursive-descent
parser that looks at each character a bounded number of times (no eval, no
sympy, no backtracking regular expressions). Grammar, in EBNF:

    answer   = [ wrapper ] value [ "." ] [ closer of the wrapper ] ;
    wrapper  = "$$" | "$" | "\[" | "\(" ;

    (* integer, rational, real *)
    scalar   = [ sign ] factor [ "/" factor ] ;
    sign     = "+" | "-" | "−" ;
    factor   = frac | root | decimal [ root ] ;
    frac     = ( "\frac" | "\dfrac" | "\tfrac" ) "{" scalar "}" "{" scalar "}" ;
    root     = "\sqrt" "{" scalar "}" | "sqrt" "(" scalar ")"
             | "√" ( "(" scalar ")" | decimal ) ;
    decimal  = ( int [ "." digits ] | "." digits ) [ ( "e" | "E" ) [ sign ] digits ] ;
    int      = digits { group_sep digit digit digit } ;   (* first group: 1 to 3 digits *)
    group_sep = "," | " " | "{,}" | "\," | "_" ;        (* one kind per number *)

    (* shape *)
    shape    = ( "(" | "[" ) dim { "," dim } [ "," ] ( ")" | "]" )
             | dim { times dim } | dim { "," dim } ;
    dim      = int ;   (* positive *)
    times    = "x" | "X" | "×" | "*" | "\times" | "by" ;

    (* matrix; every cell is a scalar *)
    matrix   = latex | "\left" open latex "\right" close | block | grid ;
    open     = "[" | "(" ;  close = the matching "]" or ")" ;
    block    = open ( block { [ "," | ";" ] block } | grid ) close ;
    grid     = row { ( ";" | line break ) row } [ ";" | line break ] ;
    row      = scalar { ( "," | spaces ) scalar } ;
    latex    = "\begin{" env "}" [ "{" colspec "}" ] lrow { "\\" lrow } [ "\\" ] "\end{" env "}" ;
    lrow     = scalar { "&" scalar } ;
    env      = "bmatrix" | "pmatrix" | "matrix" | "vmatrix" | "Vmatrix" | "Bmatrix"
             | "smallmatrix" | "array" (* with a colspec *) ;

    (* boolean; the words in any case *)
    boolean  = word | "\text" "{" word "}" ;
    word     = "yes" | "no" | "true" | "false" | "1" | "0" ;

A number this grammar does not read may be arithmetic (`1/64 + 1/9`, `2^10`):
it is then read by the formula grammar (solver/answers/grammar.py, parse_constant),
under that grammar's bounds, and must have no letters left but constants and
the problem's named quantities. So may a matrix's cell (`[-2*sqrt(5), 1/(1+e)]`):
a matrix this grammar does not read is read again with each cell running to its
separator ("," ";" "&" "\\" a line break) or closing bracket, not to a space, and
read as a lone number is; at most MAX_ARITHMETIC characters of arithmetic in all.

White space may appear between tokens, except inside the cells of a `row`,
where a space separates cells; for the same reason a `row` cell, and a shape
dimension, groups digits only with "{,}", "\," or "_" (a shape in `times`
form also with ","). A bracketed single-row grid is 1-D ("[1, 2]"), an
unbracketed one is 2-D ("1 2" is 1x2), and so is every LaTeX matrix.

Numbers stay exact (int, Fraction) unless written with a decimal point or an
exponent (float) or under a square root (float).
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from fractions import Fraction
from typing import NamedTuple, NoReturn

from ..core.errors import InvalidAnswer

MAX_TEXT = 100_000        # characters in an answer
MAX_DIGITS = 60           # digits in one integer literal (or one decimal's fraction part)
MAX_EXPONENT = 400        # |e| in 1.5e-3
MAX_DEPTH = 8             # nested brackets, fractions and roots
MAX_CELLS = 100_000       # entries in a matrix
MAX_DIMENSIONS = 4
MAX_ARITHMETIC = 2000     # characters of numbers written as arithmetic: one answer, or a matrix's cells in all
_MAX_BITS = 4096          # exact numerators and denominators: keeps Fraction arithmetic cheap
_QUOTE_WIDTH = 60         # characters of the answer quoted in an error message

_DIGITS = frozenset("0123456789")
# Digit-group separators. "," and " " also separate cells and dimensions, so they group
# digits only where they cannot: "100 128" is no shape of 100128.
_SAFE_GROUPS = ("{,}", "\\,", "_")
_ALL_GROUPS = (",", " ", *_SAFE_GROUPS)
_SIGNS = {"+": False, "-": True, "\u2212": True}   # sign -> is negative
_FRACTIONS = ("\\frac", "\\dfrac", "\\tfrac")
_ROOT_STARTS = ("\\", "s", "\u221a")          # of "\sqrt", "sqrt" and "√"
_TIMES = ("\u00d7", "*", "\\times", "x", "X", "by")
_CLOSERS = {"(": ")", "[": "]"}
_WRAPPERS = {"$$": "$$", "$": "$", "\\[": "\\]", "\\(": "\\)"}   # "$$" is tried before "$"
_ENVIRONMENTS = frozenset({"matrix", "bmatrix", "pmatrix", "vmatrix", "Vmatrix", "Bmatrix",
                           "smallmatrix", "array"})
_LINE_BREAKS = ("\n", "\r")
_TRAILING = "expected end of answer"
_NO_NUMBER = "expected a number"
_BOOLEANS = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


class _Style(NamedTuple):
    """How a scalar is written where it appears."""
    groups: tuple[str, ...]   # digit-group separators that cannot be mistaken for anything else
    loose: bool               # may spaces appear inside the number ("- 2 \sqrt{3} / 4")?


_LOOSE = _Style(_ALL_GROUPS, True)       # a whole answer, a LaTeX cell, a \frac or \sqrt argument
_TIGHT = _Style(_SAFE_GROUPS, False)    # a cell of a row separated by spaces or commas
_DELIMITED = _Style(_SAFE_GROUPS, True)  # a cell that ends only at a separator (arithmetic cells)
_CELL_ENDS = (",", ";", "&", "\\\\", *_LINE_BREAKS, "[")     # "[": a block where a number should be


class _Num(NamedTuple):
    """A number as read: exact (int, Fraction) until a square root makes it a float."""
    value: int | Fraction | float
    decimal: bool = False     # written with "." or an exponent, so the answer is a float


def _whole_or_as_read(value: int | Fraction | float) -> int | Fraction | float:
    """An int where the value is whole (12.0, 24/2), else the value itself."""
    whole = value.is_integer() if isinstance(value, float) else value.denominator == 1
    return int(value) if whole else value


class NestingLimit:
    """A parser's bound on nesting: `with self._nested(pos):` around each level.
    Subclasses set `max_depth` and provide `_fail(message, pos)`."""
    max_depth: int
    depth = 0

    @contextmanager
    def _nested(self, pos: int):
        # No try/finally: any error ends the whole parse.
        self.depth += 1
        if self.depth > self.max_depth:
            self._fail(f"expected at most {self.max_depth} levels of nesting", pos)
        yield
        self.depth -= 1


class _Parser(NestingLimit):
    """`arithmetic(start, end, error)`, if given, reads a matrix's cells as a lone number is read:
    each cell ends only at a separator ("," ";" "&" "\\\\" a line break) or a closing bracket, and
    one the literal grammar cannot read (`error` says why) is the number text[start:end] writes
    as arithmetic (-2*sqrt(5), 1/(1+e))."""
    max_depth = MAX_DEPTH

    def __init__(self, text: str, arithmetic=None):
        self.text = text
        self.pos = 0
        self.depth = 0
        self.cells: list = []
        self.arithmetic = arithmetic
        self.arithmetic_chars = 0
        self.closer = self._open_wrapper()

    # --- the answer types -------------------------------------------------

    def integer(self) -> int | Fraction | float:
        """An int; a number that is not whole is read as written, a wrong value (3.5 for 4), not unreadable."""
        start = self.pos
        number = self._scalar(_LOOSE)
        self._end()
        return _whole_or_as_read(self._float(number.value, start) if number.decimal else number.value)

    def real(self) -> int | Fraction | float:
        value = self._real(_LOOSE)
        self._end()
        return value

    def shape(self) -> tuple[int, ...]:
        closer = _CLOSERS.get(self._char())
        # Commas group digits only where they cannot separate dimensions: "1,000 x 3".
        times = closer is None and any(word in self.text for word in _TIMES)
        groups = (",", *_SAFE_GROUPS) if times else _SAFE_GROUPS
        if closer:
            self.pos += 1
            self._skip_ws()
        dims = [self._dim(groups)]
        while True:
            self._skip_ws()
            if not (self._take_any(_TIMES) if times else self._take(",")):
                break
            self._skip_ws()
            if closer and self._char() == closer:     # "(5,)"
                break
            dims.append(self._dim(groups))
        if closer:
            self._expect(closer)
        self._end()
        return tuple(dims)

    def matrix(self):
        shape = self._matrix_shape()
        self._end()
        return _array(self.cells, shape)

    def boolean(self) -> bool:
        braced = self._take("\\text")
        if braced:
            self._skip_ws()
            self._expect("{")
            self._skip_ws()
        start = self.pos
        while _is_word(self._char()):
            self.pos += 1
        value = _BOOLEANS.get(self.text[start:self.pos].lower())
        if value is None:
            self._fail("expected yes or no (or true/false, 1/0)", start)
        if braced:
            self._skip_ws()
            self._expect("}")
        self._end()
        return value

    # --- scalars ----------------------------------------------------------

    def _real(self, style: _Style) -> int | Fraction | float:
        start = self.pos
        number = self._scalar(style)
        if isinstance(number.value, float):
            return number.value
        if number.decimal:
            return self._float(number.value, start)
        return int(number.value) if number.value.denominator == 1 else number.value

    def _scalar(self, style: _Style) -> _Num:
        negative = _SIGNS.get(self._char())
        if negative is not None:
            self.pos += 1
            if style.loose:
                self._skip_ws()
        top = self._factor(style)
        mark = self.pos
        if style.loose:
            self._skip_ws()
        if self._take("/"):
            if style.loose:
                self._skip_ws()
            bottom_pos = self.pos
            top = self._divide(top, self._factor(style), bottom_pos)
        else:
            self.pos = mark      # the spaces belong to whatever follows
        return _Num(-top.value, top.decimal) if negative else top

    def _factor(self, style: _Style) -> _Num:
        start = self.pos
        if self._char() == "\\" and self._take_any(_FRACTIONS):
            with self._nested(start):
                top = self._enclosed("{", "}")
                self._skip_ws()
                bottom_pos = self.pos
                bottom = self._enclosed("{", "}")
            return self._divide(top, bottom, bottom_pos)
        root = self._root()
        if root:
            return root
        number = self._decimal(style.groups)
        mark = self.pos
        if style.loose:
            self._skip_ws()
        root = self._root()               # a coefficient: 2\sqrt{3}
        if root:
            return _Num(self._float(self._float(number.value, start) * root.value, start))
        self.pos = mark
        return number

    def _root(self) -> _Num | None:
        """A square root starting here, or None if none does."""
        if self._char() not in _ROOT_STARTS:      # the common case, decided quickly
            return None
        start = self.pos
        if self._take("\\sqrt"):
            brackets = "{}"
        elif self._take("sqrt"):
            brackets = "()"
        elif self._take("\u221a"):
            brackets = "()" if self._char() == "(" else ""
        else:
            return None
        with self._nested(start):
            radicand = self._enclosed(*brackets) if brackets else self._decimal(())
        if radicand.value < 0:
            self._fail("expected a non-negative number under the square root", start)
        return _Num(math.sqrt(self._float(radicand.value, start)))

    def _enclosed(self, opening: str, closing: str) -> _Num:
        self._skip_ws()
        self._expect(opening)
        self._skip_ws()
        value = self._scalar(_LOOSE)
        self._skip_ws()
        self._expect(closing)
        return value

    def _decimal(self, groups: tuple[str, ...]) -> _Num:
        start = self.pos
        whole = self._grouped_digits(groups) if self._char() in _DIGITS else ""
        fraction = ""
        if self._char() == "." and self._char(1) in _DIGITS:
            self.pos += 1
            fraction = self._digit_run()
        if not whole and not fraction:
            self._fail(_NO_NUMBER, start)
        exponent = self._exponent()
        scale = (exponent or 0) - len(fraction)
        mantissa = int(whole + fraction)
        value = mantissa * 10 ** scale if scale >= 0 else Fraction(mantissa, 10 ** -scale)
        return _Num(self._exact(value, start), bool(fraction) or exponent is not None)

    def _exponent(self) -> int | None:
        """The exponent of "1e-3" if one starts here (the "e" is left alone otherwise)."""
        if self._char() not in ("e", "E"):
            return None
        sign = self._char(1) if self._char(1) in _SIGNS else ""
        if self._char(1 + len(sign)) not in _DIGITS:
            return None
        self.pos += 1 + len(sign)
        start = self.pos
        exponent = int(self._digit_run())
        if exponent > MAX_EXPONENT:
            self._fail(f"expected an exponent between -{MAX_EXPONENT} and {MAX_EXPONENT}", start)
        return -exponent if _SIGNS.get(sign) else exponent

    def _grouped_digits(self, groups: tuple[str, ...]) -> str:
        """Digits such as "397,184": groups of three after a first group of one to three."""
        start = self.pos
        digits = self._digit_run()
        separator = None
        if len(digits) <= 3:
            separator = next((s for s in groups if self._group_follows(s)), None)
        while separator and len(digits) <= MAX_DIGITS and self._group_follows(separator):
            self.pos += len(separator) + 3
            digits += self.text[self.pos - 3:self.pos]
        if len(digits) > MAX_DIGITS:
            self._fail(f"expected at most {MAX_DIGITS} digits", start)
        return digits

    def _group_follows(self, separator: str) -> bool:
        """Is `separator` next, then exactly three digits?"""
        if not self.text.startswith(separator, self.pos):
            return False
        skip = len(separator)
        return (all(self._char(skip + i) in _DIGITS for i in range(3))
                and self._char(skip + 3) not in _DIGITS)

    def _digit_run(self) -> str:
        start = self.pos
        # Stop one past the limit: a million nines is refused without reading them all.
        while self._char() in _DIGITS and self.pos - start <= MAX_DIGITS:
            self.pos += 1
        if self.pos - start > MAX_DIGITS:
            self._fail(f"expected at most {MAX_DIGITS} digits", start)
        return self.text[start:self.pos]

    def _divide(self, top: _Num, bottom: _Num, pos: int) -> _Num:
        a, b = top.value, bottom.value
        if isinstance(a, float) or isinstance(b, float):
            a, b = self._float(a, pos), self._float(b, pos)
        if b == 0:       # also a tiny exact denominator that became 0.0
            self._fail("expected a non-zero denominator", pos)
        if isinstance(a, float):
            return _Num(self._float(a / b, pos))
        return _Num(self._exact(Fraction(a, b), pos), top.decimal or bottom.decimal)

    def _exact(self, value: int | Fraction, pos: int) -> int | Fraction:
        if max(value.numerator.bit_length(), value.denominator.bit_length()) > _MAX_BITS:
            self._fail("expected a number of at most about 1200 digits", pos)
        return value

    def _float(self, value: int | Fraction | float, pos: int) -> float:
        try:
            result = float(value)
        except OverflowError:
            result = math.inf
        if not math.isfinite(result):
            self._fail("expected a number below 1e308 in size", pos)
        return result

    # --- shapes -----------------------------------------------------------

    def _dim(self, groups: tuple[str, ...]) -> int:
        start = self.pos
        if self._char() in _DIGITS:
            value = int(self._grouped_digits(groups))
            if value > 0:
                return value
        self._fail("expected a positive integer", start)

    # --- matrices ---------------------------------------------------------

    def _matrix_shape(self) -> tuple[int, ...]:
        if self._take("\\left"):
            closer = _CLOSERS.get(self._char())
            if closer is None:
                self._fail('expected "[" or "(" after \\left', self.pos)
            self.pos += 1
            self._skip_ws()
            shape = self._latex()
            self._skip_ws()
            self._expect("\\right")
            self._skip_ws()
            self._expect(closer)
            return shape
        if self.text.startswith("\\begin", self.pos):
            return self._latex()
        if self._char() in _CLOSERS:
            return self._block()
        return self._grid((self.closer,) if self.closer else ())

    def _block(self) -> tuple[int, ...]:
        """A bracketed list: of blocks, or of rows of cells."""
        start = self.pos
        closer = _CLOSERS.get(self._char())
        if closer is None:
            self._fail('expected "[" or "("', start)
        self.pos += 1
        with self._nested(start):
            self._skip_ws()
            if self._char() in _CLOSERS:
                shape = self._blocks()
            else:
                shape = self._grid((closer,))
                if shape[0] == 1:
                    shape = shape[1:]     # [1, 2, 3] is a vector
            self._skip_ws()
            self._expect(closer)
        if len(shape) > MAX_DIMENSIONS:
            self._fail(f"expected a matrix of at most {MAX_DIMENSIONS} dimensions", start)
        return shape

    def _blocks(self) -> tuple[int, ...]:
        """Blocks of one shape, separated by ",", ";" or white space (numpy prints none)."""
        count, first = 0, ()
        while True:
            start = self.pos
            shape = self._block()
            count += 1
            first = first or shape
            if shape != first:
                self._ragged(count, shape, first, start)
            self._skip_ws()
            if self._char() in (",", ";"):
                self.pos += 1
                self._skip_ws()
            elif self._char() not in _CLOSERS:
                return (count, *first)

    def _grid(self, stops: tuple[str, ...]) -> tuple[int, int]:
        """Rows split by ";" or line breaks until one of `stops`; returns (rows, width)."""
        rows = width = 0
        while True:
            start = self.pos
            count = self._row(stops)
            rows += 1
            if rows == 1:
                width = count
            elif count != width:
                self._ragged(rows, (count,), (width,), start)
            self._skip_spaces()
            if not (self._take(";") or self._char() in _LINE_BREAKS):
                return rows, width
            self._skip_ws()
            if self._at_stop(stops):      # a trailing row separator
                return rows, width

    def _row(self, stops: tuple[str, ...]) -> int:
        count = 0
        while True:
            self._cell(_TIGHT, stops)
            count += 1
            spaced = self._skip_spaces()
            if self._take(","):
                self._skip_ws()
            elif not spaced or self._at_stop(stops) or self._char() in (";", *_LINE_BREAKS):
                return count

    def _latex(self) -> tuple[int, int]:
        start = self.pos
        self._expect("\\begin")
        with self._nested(start):
            environment = self._environment()
            if environment == "array":
                self._skip_ws()
                self._expect("{")
                while self._char() in ("l", "c", "r", "|", " "):
                    self.pos += 1
                self._expect("}")
            rows = width = 0
            while not (rows and self._at_stop(("\\end",))):   # "\\" may end the last row
                self._skip_ws()
                row_start = self.pos
                count = self._latex_row()
                rows += 1
                if rows == 1:
                    width = count
                elif count != width:
                    self._ragged(rows, (count,), (width,), row_start)
                if not self._take("\\\\"):
                    break
                self._skip_ws()
            self._expect("\\end")
            self._skip_ws()
            self._expect("{" + environment + "}")
        return rows, width

    def _environment(self) -> str:
        self._skip_ws()
        self._expect("{")
        start = self.pos
        while self._char().isalpha():
            self.pos += 1
        name = self.text[start:self.pos]
        if name not in _ENVIRONMENTS:
            self._fail("expected a matrix environment such as bmatrix or pmatrix", start)
        self._expect("}")
        return name

    def _latex_row(self) -> int:
        count = 0
        while True:
            self._cell(_LOOSE, ("\\end",))
            count += 1
            self._skip_ws()
            if not self._take("&"):
                return count
            self._skip_ws()

    def _cell(self, style: _Style, stops: tuple[str, ...]) -> None:
        if len(self.cells) >= MAX_CELLS:
            self._fail(f"expected at most {MAX_CELLS} entries", self.pos)
        self.cells.append(self._delimited_cell(stops) if self.arithmetic else self._real(style))

    def _delimited_cell(self, stops: tuple[str, ...]) -> int | Fraction | float:
        """The number of the cell from here to its separator: literal, else arithmetic."""
        start, end = self.pos, self._cell_end(stops)
        try:
            value = self._real(_DELIMITED)
            self._skip_spaces()
            if self.pos == end:
                return value
            self._fail(_TRAILING, self.pos)
        except InvalidAnswer as error:
            unread = error
        self.arithmetic_chars += end - start
        if self.arithmetic_chars > MAX_ARITHMETIC:
            self._fail(f"expected at most {MAX_ARITHMETIC} characters of arithmetic in all the cells", start)
        self.pos = end
        return self.arithmetic(start, end, unread)

    def _cell_end(self, stops: tuple[str, ...]) -> int:
        """Where the cell starting here ends: at a separator or one of `stops` outside brackets, or
        at a bracket that closes one opened before the cell."""
        depth, pos = 0, self.pos
        while pos < len(self.text):
            char = self.text[pos]
            if depth == 0 and any(self.text.startswith(end, pos) for end in (*_CELL_ENDS, *stops)):
                break
            if char in "([{":
                depth += 1
            elif char in ")]}":
                if depth == 0:
                    break
                depth -= 1
            pos += 1
        return pos

    def _ragged(self, index: int, shape: tuple, first: tuple, pos: int) -> NoReturn:
        if len(shape) == len(first) == 1:
            noun, detail = "row", f"{_entries(shape[0])}, row 1 has {first[0]}"
        else:
            noun, detail = "block", f"shape {_dims(shape)}, block 1 has shape {_dims(first)}"
        self._fail(f"expected a rectangular matrix: {noun} {index} has {detail}; "
                   f"{noun} {index} starts", pos)

    # --- characters -------------------------------------------------------

    def _open_wrapper(self) -> str:
        """Skip "$", "$$", "\\[" or "\\(" around the answer; returns the closer to expect."""
        self._skip_ws()
        for opening, closing in _WRAPPERS.items():
            if self._take(opening):
                self._skip_ws()
                return closing
        return ""

    def _end(self) -> None:
        self._skip_ws()
        self._take(".")                 # a full stop: "The answer is" ... "12."
        self._skip_ws()
        if self.closer:
            self._expect(self.closer)
            self._skip_ws()
        if self.pos < len(self.text):
            self._fail(_TRAILING, self.pos)

    def _char(self, ahead: int = 0) -> str:
        """The character `ahead` places on, or "" past the end."""
        i = self.pos + ahead
        return self.text[i:i + 1]

    def _skip_ws(self) -> None:
        while self._char().isspace():
            self.pos += 1

    def _skip_spaces(self) -> bool:
        """Skip white space other than line breaks; says whether there was any."""
        start = self.pos
        while (char := self._char()).isspace() and char not in _LINE_BREAKS:
            self.pos += 1
        return self.pos > start

    def _at_stop(self, stops: tuple[str, ...]) -> bool:
        return self.pos >= len(self.text) or any(self.text.startswith(s, self.pos) for s in stops)

    def _take(self, word: str) -> bool:
        """Consume `word` if it is next (and, ending in a letter, not part of a longer word)."""
        if not self.text.startswith(word, self.pos):
            return False
        end = self.pos + len(word)
        if word[-1].isalpha() and end < len(self.text) and self.text[end].isalpha():
            return False
        self.pos = end
        return True

    def _take_any(self, words: tuple[str, ...]) -> bool:
        return any(self._take(word) for word in words)

    def _expect(self, word: str) -> None:
        if not self._take(word):
            self._fail(f'expected "{word}"', self.pos)

    def _fail(self, message: str, pos: int) -> NoReturn:
        error = InvalidAnswer(f"{message} at {self._where(pos)} ({self._token(pos)}), "
                              f"in {_quote(self.text, pos)}")
        error.pos = pos
        raise error

    def _where(self, pos: int) -> str:
        newline = "\n"
        column = pos - self.text.rfind(newline, 0, pos)
        if newline not in self.text:
            return f"column {column}"
        return f"line {self.text.count(newline, 0, pos) + 1}, column {column}"

    def _token(self, pos: int) -> str:
        """The word, command or character at `pos`, quoted."""
        if pos >= len(self.text):
            return "end of answer"
        end = pos + 1
        if self.text[pos] == "\\" or _is_word(self.text[pos]):
            while end < len(self.text) and _is_word(self.text[end]) and end - pos < 20:
                end += 1
        return f'"{_visible(self.text[pos:end])}"'


def _array(cells: list, shape: tuple[int, ...]):
    import numpy as np      # here, not at the top: numpy takes ~0.1 s and only matrices need it
    array = np.empty(len(cells), dtype=object)
    array[:] = cells
    return array.reshape(shape)


def _quote(text: str, pos: int = 0) -> str:
    """`text` in double quotes, cut to a window of about 60 characters around `pos`."""
    start = max(0, min(pos - _QUOTE_WIDTH // 2, len(text) - _QUOTE_WIDTH))
    end = start + _QUOTE_WIDTH
    shown = ("..." if start else "") + text[start:end] + ("..." if end < len(text) else "")
    return f'"{_visible(shown)}"'


def _visible(text: str) -> str:
    return text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _entries(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))
