"""The answer-type registry: every type a kind answers with is registered, and each type
reads back what it writes (parse(format(value))), to a value equal to the one written that
its own comparison accepts."""
import numpy as np
import pytest
import sympy
from hypothesis import given, settings, strategies as st

from conftest import PROBLEM_FILES
from solver.answers.tables import judge_rows, read_table
from solver.core.model import Table
from solver.answers.types import TYPES, answer_type, compare, parse_answer
from solver.kinds import get_kind
from solver.problems.load import load


def used_types(answers) -> set[str]:
    """The type names of these answers and of their tables' columns."""
    found = set()
    for answer in answers:
        found.add(answer.type)
        if isinstance(answer.value, Table):
            found.update(answer.value.columns.values())
    return found


@pytest.mark.parametrize("path", PROBLEM_FILES, ids=lambda p: p.stem)
def test_every_answer_type_a_shipped_problem_uses_is_registered(path):
    used = set()
    for problem in load(path).problems:
        used |= used_types(get_kind(problem.kind).solve(problem.given).answers.values())
    assert used <= set(TYPES), used - set(TYPES)
    assert all(answer_type(name).name == name for name in used)


def test_an_unknown_type_name_is_refused():
    with pytest.raises(ValueError, match="unknown answer type 'vector'"):
        answer_type("vector")


# --- round trips: one generator of values per type --------------------------

# Bounded as the grammar bounds them: at most 60 digits in a literal.
INTEGERS = st.integers(-10 ** 59, 10 ** 59)
FRACTIONS = st.fractions(max_denominator=10 ** 12).filter(lambda f: abs(f.numerator) < 10 ** 59)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
NUMBERS = st.one_of(INTEGERS, FRACTIONS, FLOATS)
SYMBOLS = [sympy.Symbol(name, positive=True) for name in ("H", "K", "P", "S", "D", "H_in", "C_out")]


def arrays(draw_cells):
    """Numpy object arrays of 1 to 3 dimensions, each axis 1 to 4 long."""
    return st.lists(st.integers(1, 4), min_size=1, max_size=3).flatmap(
        lambda shape: st.lists(draw_cells, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))
        .map(lambda cells: object_array(cells, shape)))


def object_array(cells, shape):
    array = np.empty(len(cells), dtype=object)
    array[:] = cells
    return array.reshape(shape)


def formulas():
    """sympy formulas of the given sizes, as kinds answer them: sums, products, powers, floors."""
    leaves = st.one_of(st.sampled_from(SYMBOLS), st.integers(-20, 20).map(sympy.Integer))

    def grow(inner):
        pair = st.tuples(inner, inner)
        return st.one_of(pair.map(lambda p: p[0] + p[1]), pair.map(lambda p: p[0] * p[1]),
                         st.tuples(inner, st.integers(2, 3)).map(lambda p: p[0] ** p[1]),
                         st.tuples(inner, st.integers(1, 4)).map(lambda p: sympy.floor(p[0] / p[1])),
                         st.tuples(inner, st.integers(1, 4)).map(lambda p: sympy.ceiling(p[0] / p[1])))
    return st.recursive(leaves, grow, max_leaves=8)


VALUES = {
    "integer": INTEGERS,
    "rational": st.one_of(INTEGERS, FRACTIONS),
    "real": NUMBERS,
    "shape": st.lists(st.integers(1, 10 ** 12), min_size=1, max_size=4).map(tuple),
    "matrix": arrays(NUMBERS),
    "boolean": st.booleans(),
    "expression": formulas(),
}


def test_every_registered_type_has_a_round_trip_test():
    assert set(VALUES) | {"table"} == set(TYPES)


@pytest.mark.parametrize("name", sorted(VALUES))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_each_type_reads_back_what_it_writes(name, data):
    value = data.draw(VALUES[name])
    kind = answer_type(name)
    text = kind.format(value)
    read = kind.parse(text, names=getattr(value, "free_symbols", ()))
    assert equal(read, value), (text, read, value)
    assert kind.compare(read, value)[0] == 1.0, text


def equal(read, value) -> bool:
    """The same value, by an independent test (sympy's own difference for formulas), and as
    exact: a decimal reads back a decimal, an exact number an exact one (the checker compares
    them differently)."""
    if isinstance(value, sympy.Basic):
        return sympy.simplify(read - value) == 0
    if isinstance(value, np.ndarray):
        return read.shape == value.shape and all(map(equal, read.flat, value.flat))
    return read == value and isinstance(read, float) == isinstance(value, float)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.lists(st.integers(1, 10 ** 6), min_size=1, max_size=3).map(tuple),
                               INTEGERS), min_size=1, max_size=6))
def test_a_table_reads_back_what_it_writes(rows):
    table = Table(columns={"output_shape": "shape", "params": "integer"},
                  rows=[{"output_shape": shape, "params": params} for shape, params in rows],
                  labels=[str(number) for number in range(1, len(rows) + 1)])
    read = read_table(answer_type("table").format(table), table, parse_answer)
    assert [cells for _, cells in read] == table.rows
    assert all(row.score == 1.0 and not row.carried for row in judge_rows(table, read, compare))
