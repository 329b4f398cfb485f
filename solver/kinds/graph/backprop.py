"""graph: backpropagation through a computation the instructor writes, as CS231n draws it.

The `program` (one expression, or a list of assignments) is read by the grammar's program
dialect into a graph of primitive operations (solver/kinds/graph/program.py). The forward pass
evaluates each node in topological order; the backward pass goes in reverse order: each node
passes the gradient arriving at it (the upstream gradient) to each input, times that input's
local gradient (solver/kinds/graph/ops.py), and where a value feeds several nodes the gradients
arriving from each are added (fan-out). With `granularity: assignments` a node is one whole
assignment, its local gradients compound (the chain rule inside it).

Inputs may be small vectors and matrices (numbers only): element-wise operations broadcast as
PyTorch's do, `@` is torch.matmul, `X.T` the transpose, sum and mean reduce every entry, softmax
and log_softmax go over the last dimension. At an operation on tensors the gradient passed back
is a vector-Jacobian product (ops.Pullback: G Bᵀ and Aᵀ G at A @ B), never a Jacobian.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ...answers.grammar import Constant, Name
from ...core.errors import FieldError
from ...core.fields import IDENTIFIER, array, check_numbers, choice, given_field, names, number_or_symbol
from ...core.model import Answer, Diagram, Step, Vertex, Wire
from ...math.nodes import (Apply, Array, Fraction_, Group, Hadamard, MatrixProduct, Negative, Number, Partial,
                           Product, Space, Sum, Symbol, Transpose)
from ...math.notation import quantity, variable
from ...math.printing import latex
from ...math.tensors import broadcast_shape, entrywise, is_tensor, row_sums, shape_of
from ..base import Kind
from ..common import written
from ..mistakes import Change, Places
from .ops import (AT_THE_KINK, ENTRYWISE_TEXT, KINKED, NOT_ENTRYWISE, RULE_TEXT, Pullback, Rules, at_the_kink, exact,
                  formula, gate, is_symbolic, local_gradients, rule_formulas, value, wrong_matmul_possible)
from .program import Program, read_program, where

MAX_MAGNITUDE = 1e15          # a value or gradient past this is refused: a student could not type it
MAX_FORMULA = 2000            # characters of a closed form, as many as a student's answer may have
MAX_AXIS = 8                  # rows or columns of an input vector or matrix: its derivation is read by hand
SHOWN_ENTRIES = 2             # a drawn wire shows a vector of at most this many entries, else its shape


@dataclass(frozen=True)
class Values:
    """The inputs' values in the order the file gives them: numbers, or sympy letters."""
    names: tuple
    values: tuple


def read_values(name, value) -> Values:
    if not isinstance(value, dict) or not value:
        raise FieldError(name, "must map each input of the program to a number, a vector or a matrix ([1, 2], "
                               "[[1, 2], [3, 4]]), or to a letter for the general derivation ({x: -2, y: 5, z: -4})")
    out = []
    for key, item in value.items():
        if not isinstance(key, str) or not IDENTIFIER.match(key):
            raise FieldError(name, f"names its inputs as the program does (x, w0, x_1); got {key!r}")
        out.append(number_tensor_or_symbol(f"{name}.{key}", item))
    if any(map(is_tensor, out)) and any(map(is_symbolic, out)):
        raise FieldError(name, "mixes letters with vectors or matrices; letters (the general derivation) are for "
                               "programs of numbers only: give every input a number")
    return Values(tuple(value), tuple(out))


def number_tensor_or_symbol(name, value):
    """A number, a letter, or a vector or matrix of numbers of at most MAX_AXIS entries a side."""
    check_numbers(name, value)
    if not isinstance(value, list):
        return number_or_symbol(real=True)(name, value)
    tensor = array((1, 2), "a number, a vector ([1, 2, 3]) or a matrix ([[1, 2], [3, 4]])")(name, value)
    if max(tensor.shape) > MAX_AXIS:
        raise FieldError(name, f"has {max(tensor.shape)} entries along an axis; vectors and matrices in a program "
                               f"have at most {MAX_AXIS} (the derivation is read by hand)")
    return tensor


@dataclass(frozen=True, kw_only=True)
class Given:
    program: Any = given_field(read_program, doc="one expression (f = (x + y) * z) or a list of assignments "
                                                 "([q = x + y, f = q * z]); the last line is the output")
    values: Any = given_field(read_values, doc="each input's value: a number, a vector ([1, 2]) or a matrix "
                                               "([[1, 2], [3, 4]]) of at most 8 a side, or a letter for the "
                                               "general derivation")
    wrt: Any = given_field(names("an input's name or a list of them", empty=False), None, "the inputs whose gradients are asked (default: every input)")
    upstream: Any = given_field(number_tensor_or_symbol, 1, "the gradient arriving at the output (default 1; a "
                                                            "number is spread over a tensor output's entries, or "
                                                            "give a tensor of the output's shape)")
    granularity: str = given_field(choice("nodes", "assignments"), "nodes",
                                   "nodes (every primitive operation a node, the default) or assignments (one "
                                   "node per assignment, its local gradients compound)")

    def shown_fields(self) -> set:
        """The fields every sheet shows (shown_arrays), so that variants redraw them by default."""
        return {"values"}

    def shown_arrays(self) -> list[tuple[str, Any]]:
        """What a sheet shows of the given: the program's lines and the inputs' values."""
        shapes = {n: shape_of(v) for n, v in zip(self.values.names, self.values.values)}
        lines = []
        for line in self.program.lines:
            shown_line, shapes[line.target] = shaped_formula(line.expression, symbol_of, shapes)
            lines.append((latex(variable(line.target)), shown_line))
        return lines + [(latex(variable(n)), shown(v)) for n, v in zip(self.values.names, self.values.values)
                        if not is_symbolic(v) or str(v) != n]


# ---- the computation ------------------------------------------------------------

symbol_of = variable          # a name of the program as the derivation writes it


def in_prose(name: str) -> str:
    """A name of the program as a sentence writes it: math, n_1 with its subscript."""
    return f"${latex(symbol_of(name))}$"


def shown(x):
    """A value as the derivation shows it: exact, a short decimal as a decimal; a tensor as its array."""
    if is_tensor(x):
        return Array(exact(x), decimal=True)
    return Number(exact(x), decimal=True)


def exactly(x):
    """A number as written in the file, exactly (0.1 is 1/10); a tensor's entries each; a letter as it is."""
    if is_tensor(x):
        return np.asarray(entrywise(exactly, x), dtype=object)
    return x if is_symbolic(x) else Fraction(written(x))


def expression_formula(expression, leaf) -> Any:
    """A grammar expression as a formula, each name written by `leaf(name)`."""
    if isinstance(expression, Name):
        return leaf(expression.name)
    if isinstance(expression, Constant):
        return Number(exact(expression.value), decimal=True)
    return formula(expression.op, [expression_formula(a, leaf) for a in expression.args])


def shaped_formula(expression, leaf, shapes: dict) -> tuple:
    """(the formula, its shape) of a grammar expression whose names have `shapes`: a product of two tensors
    written ⊙, as the graph writes it."""
    if isinstance(expression, Name):
        return leaf(expression.name), shapes[expression.name]
    if isinstance(expression, Constant):
        return Number(exact(expression.value), decimal=True), ()
    found = [shaped_formula(a, leaf, shapes) for a in expression.args]
    arg_shapes = [shape for _, shape in found]
    return (formula(expression.op, [f for f, _ in found], tuple(bool(shape) for shape in arg_shapes)),
            shape_after(expression.op, arg_shapes))


def shape_after(op: str, shapes: list) -> tuple | None:
    """The shape an operation makes of its arguments' (None where they do not fit: validation says so)."""
    if None in shapes:
        return None
    if op in ("sum", "mean"):
        return ()
    if op == "T":
        return tuple(shapes[0][::-1])
    if op == "matmul":
        a, b = shapes
        return tuple(a[:-1]) + tuple(b[1:]) if a and b and a[-1] == b[0] else None
    return broadcast_shape(*shapes)


def arg_value(arg, values: dict):
    return arg.value if isinstance(arg, Constant) else values[arg]


def inputs_of(given) -> dict:
    """{input: its value as computed with}: a written decimal exactly (0.1 is 1/10)."""
    return {n: exactly(v) for n, v in zip(given.values.names, given.values.values)}


def forward(program: Program, start: dict) -> dict:
    values = dict(start)
    for node in program.nodes:
        values[node.name] = value(node.op, [arg_value(a, values) for a in node.args])
    return values


@dataclass(frozen=True)
class Visible:
    """A node of the derivation: a primitive node, or a whole assignment."""
    name: str
    args: tuple               # names and Constants, as its formula takes them
    line: int


def visible_nodes(given) -> list[Visible]:
    program = given.program
    if given.granularity == "nodes":
        return [Visible(n.name, n.args, n.line) for n in program.nodes]
    return [Visible(line.target, line.uses, line.number) for line in program.lines]


def primitive_locals(program: Program, values: dict, name: str, rules: Rules) -> list[tuple[str, Any]]:
    node = program.node(name)
    out = values[name]
    found = local_gradients(node.op, [arg_value(a, values) for a in node.args], out, rules)
    return [(arg, g) for arg, g in zip(node.args, found) if isinstance(arg, str)]


def compound_locals(program: Program, values: dict, line_number: int, rules: Rules) -> list[tuple[str, Any]]:
    """An assignment's local gradient by each name it reads: backpropagation inside it."""
    line = program.line(line_number)
    inner = dataclasses.replace(rules, fan_out="sum", upstream=True)
    grads = backward(program, values, [Visible(n, program.node(n).args, line_number) for n in line.nodes],
                     line.target, 1, inner, lambda v: primitive_locals(program, values, v.name, inner))
    return [(name, grads[name][0]) for name in line.uses]


def backward(program, values, visible, top, upstream, rules: Rules, locals_of):
    """{name: (gradient, [(consumer, its contribution)])} from `top` down through `visible`
    (topological order), each node's local gradients from `locals_of(node)`."""
    arriving = {top: []}
    grads = {}
    for node in reversed(visible):
        grads[node.name] = (upstream if node.name == top else combined(arriving.get(node.name, []), rules),
                            arriving.get(node.name, []))
        g = grads[node.name][0]
        for arg, local in locals_of(node):
            arriving.setdefault(arg, []).append((node.name, passed(g, local, rules)))
    for name, contributions in arriving.items():
        if name not in grads:
            grads[name] = (combined(contributions, rules), contributions)
    return grads


def passed(g, local, rules: Rules):
    """What a node passes back to an input: the upstream gradient times the local one (at an
    operation on tensors, its Pullback of the upstream gradient); under the mistake, the local alone."""
    if isinstance(local, Pullback):
        return local(g)
    return g * local if rules.upstream else local


def combined(contributions: list, rules: Rules):
    """The gradients arriving at a value: summed; under the fan-out mistake, one path's only.
    `contributions` come in the backward order: the last consumer first."""
    if not contributions:
        return 0
    if rules.fan_out == "first":
        return contributions[-1][1]
    if rules.fan_out == "last":
        return contributions[0][1]
    total = contributions[0][1]
    for _, g in contributions[1:]:
        total = total + g
    return total


def solve_graph(given, rules: Rules = Rules()):
    """(values, visible nodes, {name: (gradient, contributions)}, {visible name: [(arg, local)]})."""
    program = given.program
    values = forward(program, inputs_of(given))
    visible = visible_nodes(given)
    if given.granularity == "nodes":
        locals_found = {v.name: primitive_locals(program, values, v.name, rules) for v in visible}
    else:
        locals_found = {v.name: compound_locals(program, values, v.line, rules) for v in visible}
    upstream = exactly(given.upstream)
    if is_tensor(values[program.output]) and not is_tensor(upstream):
        upstream = np.full(shape_of(values[program.output]), upstream, dtype=object)
    grads = backward(program, values, visible, program.output, upstream, rules, lambda v: locals_found[v.name])
    return values, visible, grads, locals_found


def wrt(given) -> tuple:
    return given.wrt if given.wrt is not None else given.values.names


# ---- answers --------------------------------------------------------------------

def answer_of(name: str, x, label: str, detail: bool) -> Answer:
    x = exact(x)
    if is_tensor(x):
        return Answer(name, "matrix", x, label, detail, decimal=True)
    if is_symbolic(x):
        import sympy
        return Answer(name, "expression", sympy.expand(x) if x.is_polynomial() else x, label, detail)
    kind = "real" if isinstance(x, float) else "integer" if isinstance(x, int) else "rational"
    return Answer(name, kind, x, label, detail, decimal=True)


def output_symbol(given) -> Symbol:
    return symbol_of(given.program.output)


class Graph(Kind):
    name = "graph"
    summary = "backpropagation through a computation written as a program: every node's value and gradient"
    answers = {
        "output": "the program's output (its last line)",
        "value[NAME]": "the value of input or node NAME (a vector or matrix answer where it is a tensor)",
        "grad[NAME]": "the gradient of the output with respect to input or node NAME",
        "grad_NAME": "the gradient with respect to input NAME (the inputs of `wrt`)",
    }
    vary = {"values": {}}
    Given, Rules = Given, Rules
    mistakes = []       # set below

    def validate(self, given) -> None:
        program = given.program
        inputs = program.inputs
        for name in given.values.names:
            if name not in inputs:
                assigned = next((line for line in program.lines if line.target == name), None)
                if assigned is not None:
                    raise FieldError("values", f"gives {name}, which {where(program, assigned.number, assigned.text)}"
                                               f" assigns: only the inputs ({', '.join(inputs)}) take values")
                raise FieldError("values", f"gives {name}, which the program does not use; its inputs are "
                                           f"{', '.join(inputs)}")
        missing = [n for n in inputs if n not in given.values.names]
        if missing:
            raise FieldError("values", f"has no value for {', '.join(missing)}, "
                                       f"{'an input' if len(missing) == 1 else 'inputs'} of the program; give each "
                                       "input a number, or a letter for the general derivation")
        for name in given.wrt or ():
            if name not in inputs:
                raise FieldError("wrt", f"names {name}, which is not an input of the program; its inputs are "
                                        f"{', '.join(inputs)}")
        start = inputs_of(given)
        symbolic = any(is_symbolic(v) for v in start.values()) or is_symbolic(given.upstream)
        tensors = any(is_tensor(v) for v in start.values())
        if tensors and symbolic:
            raise FieldError("upstream", "is a letter, with vectors or matrices among the inputs; letters (the "
                                         "general derivation) are for programs of numbers only")
        if tensors and given.granularity == "assignments":
            raise FieldError("granularity", "is assignments, with vectors or matrices among the inputs; there every "
                                            "primitive operation is a node (granularity: nodes), so that each "
                                            "gradient passed back is one rule's")
        values = dict(start)
        for node in program.nodes:
            line = program.line(node.line)
            at = where(program, line.number, line.text)
            args = [arg_value(a, values) for a in node.args]
            if symbolic and node.op in KINKED:
                raise FieldError("program", f"{at} uses {node.op}, which has a kink; with letters it cannot be told "
                                            "which side of it the point is on: give numbers")
            problem = shape_problem(node.op, args)
            if problem:
                raise FieldError("program", f"{at} {problem}")
            problem = entry_problem(node.op, args)
            if problem:
                raise FieldError("values", f"make {at} {problem}")
            try:
                values[node.name] = value(node.op, args)
                local_gradients(node.op, args, values[node.name])
            except (ZeroDivisionError, OverflowError, ValueError):
                raise FieldError("values", f"make {at} divide by zero or overflow at {node.op}") from None
            if too_large(values[node.name]):
                raise FieldError("values", f"make {at} reach a value of more than {MAX_MAGNITUDE:.0e} in size at "
                                           f"{node.name}; a student could not write it")
        out = values[program.output]
        if is_tensor(given.upstream) and shape_of(given.upstream) != shape_of(out):
            raise FieldError("upstream", f"is {described(shape_of(given.upstream))}; the gradient arriving at the "
                                         f"output has the output's shape, {described(shape_of(out))} (or give one "
                                         "number, spread over every entry)")
        _, _, grads, _ = solve_graph(given)
        for name, (g, _) in grads.items():
            if is_symbolic(g):
                if len(str(g)) > MAX_FORMULA:
                    raise FieldError("values", f"make the gradient at {name} a formula of more than {MAX_FORMULA} "
                                               "characters; give numbers, or a shorter program")
            elif too_large(g):
                raise FieldError("values", f"make the gradient at {name} more than {MAX_MAGNITUDE:.0e} in size (or "
                                           "not a number); a student could not write it")

    def answer_names(self, given) -> list[str]:
        return list(self.compute(given))

    def compute(self, given, rules: Rules = Rules()) -> dict[str, Answer]:
        values, visible, grads, _ = solve_graph(given, rules)
        out = given.program.output
        f = output_symbol(given)
        answers = {"output": answer_of("output", values[out], latex(f), False)}
        for name in wrt(given):
            answers[f"grad_{name}"] = answer_of(f"grad_{name}", grads.get(name, (0,))[0],
                                                latex(Partial(f, symbol_of(name))), False)
        for name in [*given.values.names, *(v.name for v in visible)]:
            answers[f"value[{name}]"] = answer_of(f"value[{name}]", values[name], latex(symbol_of(name)), True)
            answers[f"grad[{name}]"] = answer_of(f"grad[{name}]", grads.get(name, (0,))[0],
                                                 latex(Partial(f, symbol_of(name))), True)
        return answers

    @staticmethod
    def named(given) -> dict:
        """The nodes' values, so an answer may use their names (grad_z = q)."""
        if not any(is_symbolic(v) for v in given.values.values):
            return {}
        values = forward(given.program, inputs_of(given))
        return {v.name: values[v.name] for v in visible_nodes(given)}

    def derive(self, given, answers) -> list[Step]:
        return derivation(given)


def too_large(x) -> bool:
    """A number past MAX_MAGNITUDE in size, or not finite (a letter's formula is not a number); a tensor's
    largest entry."""
    if is_tensor(x):
        return any(too_large(v) for v in x.flat)
    if is_symbolic(x):
        return False
    if isinstance(x, float) and not math.isfinite(x):
        return True
    return abs(x) > MAX_MAGNITUDE


def described(shape: tuple) -> str:
    """A shape in words: a single number, a vector of length 3, a 2×3 matrix."""
    if not shape:
        return "a single number"
    return f"a vector of length {shape[0]}" if len(shape) == 1 else f"a {shape[0]}×{shape[1]} matrix"


BROADCASTING = ("entry by entry, shapes must be equal, or one a single number, or broadcast as PyTorch broadcasts "
                "them (their last axes equal or 1: a vector of length n with a matrix of n columns)")
VERBS = {"add": "adds", "sub": "subtracts", "mul": "multiplies", "div": "divides", "max": "takes max of",
         "min": "takes min of"}


def shape_problem(op: str, args: list) -> str | None:
    """What is wrong with the shapes of an operation's arguments (naming them), or None."""
    shapes = [shape_of(a) for a in args]
    if op == "matmul":
        a, b = shapes
        if not a or not b:
            return (f"multiplies {described(a)} by {described(b)} with @; @ (the matrix product) takes vectors and "
                    "matrices on both sides: write * for a number times a tensor")
        if a[-1] != b[0]:
            return (f"multiplies {described(a)} by {described(b)} with @: the inner sizes {a[-1]} and {b[0]} differ "
                    f"(A @ B needs A's columns, or a vector's length, to equal B's rows)")
        return None
    if op == "T" and len(shapes[0]) != 2:
        return (f"transposes {described(shapes[0])}; .T transposes a matrix (a vector is neither a row nor a column "
                "here; PyTorch's .T leaves it as it is)")
    if op in ("softmax", "log_softmax") and not shapes[0]:
        return f"takes {op} of a single number; {op} takes a vector (or a matrix, row by row: over the last dimension)"
    if op in ("sum", "mean") and not shapes[0]:
        return f"takes {op} of a single number; {op} takes a vector or a matrix (every entry's {op})"
    if len(args) == 2 and op not in NOT_ENTRYWISE and op != "pow":
        if broadcast_shape(*shapes) is None:
            return (f"{VERBS[op]} {described(shapes[0])} and {described(shapes[1])}, which do not match: "
                    + BROADCASTING)
    return None


def entry_problem(op: str, args: list) -> str | None:
    """What the operation would do that has no value or no gradient, at the first entry where
    it would; None where it has none."""
    if op in NOT_ENTRYWISE or not any(map(is_tensor, args)):
        return domain_problem(op, args)
    found = []
    entrywise(lambda *xs: found.append(domain_problem(op, list(xs))), *args)
    return next((problem for problem in found if problem), None)


def domain_problem(op: str, args: list) -> str | None:
    if any(is_symbolic(a) for a in args):
        return None
    x, *rest = (exact(a) for a in args)
    if op == "log" and x <= 0:
        return f"take the logarithm of {x}, which is defined for positive numbers only"
    if op == "sqrt" and x <= 0:
        return f"take the square root of {x}, which has no finite gradient at 0 and no real value below it"
    if op == "div" and rest[0] == 0:
        return f"divide {x} by 0"
    if op == "pow":
        p = args[1]
        if x == 0 and p < 1:
            return f"raise 0 to the power {exact(p)}, which has no finite gradient"
        if x < 0 and p.denominator != 1:
            return f"raise {x}, a negative number, to the power {exact(p)}, which has no real value"
    return None


# ---- the derivation ---------------------------------------------------------------


def node_formula(given, node: Visible, leaf, values: dict) -> Any:
    program = given.program
    if given.granularity == "assignments":
        return expression_formula(program.line(node.line).expression, leaf)
    op = program.node(node.name).op
    args = [shown(a.value) if isinstance(a, Constant) else leaf(a) for a in node.args]
    if op == "pow":
        args = [args[0], Number(exact(node.args[1].value), decimal=True)]
    return formula(op, args, tensor_args(node, values))


def tensor_args(node: Visible, values: dict) -> tuple:
    """Which arguments of this node are tensors (a product of two is entry by entry)."""
    return tuple(is_tensor(arg_value(a, values)) for a in node.args)


def local_rules(given, node: Visible, values: dict) -> list:
    """Each name-input's local gradient as formulas: in letters, then (a node's) with the numbers put in."""
    program = given.program
    line = program.line(node.line)
    top = program.node(line.target)
    if given.granularity == "assignments" and not one_operation(program, line):
        import sympy
        letters = {n: sympy.Symbol(n, real=True) for n in line.uses}
        values = forward_line(program, line, letters)
        found = compound_locals(program, values, line.number, Rules())
        return [[Number(readable(g, values[line.target], line.target))] for _, g in found]
    n = top if given.granularity == "assignments" else program.node(node.name)
    found = []
    for leaf in (symbol_of, lambda name: shown(values[name])):
        args = [shown(a.value) if isinstance(a, Constant) else leaf(a) for a in n.args]
        found.append(rule_formulas(n.op, args, leaf(n.name)))
    if n.op in KINKED:             # a rule by cases: the case that holds is the value
        return [[letters] for a, letters in zip(n.args, found[0]) if isinstance(a, str)]
    return [[letters, numbers] for a, letters, numbers in zip(n.args, *found) if isinstance(a, str)]


def readable(gradient, out, target: str):
    """A compound local gradient (in letters) as a course writes it: each 1/(1 + e^(-u)) as σ(u), and the
    assignment's own output where it is one function's (σ(u), tanh(u), e^u) as its name: x s (1 - s) at
    s = sigmoid(w*x), not x(1 - 1/(1 + e^(-wx)))/(1 + e^(-wx))."""
    import sympy
    if not isinstance(gradient, sympy.Basic):           # a number: 1 at a sum
        return gradient
    sigma = sympy.Function("sigma")

    def is_sigmoid(e) -> bool:
        return (e.is_Pow and e.exp == -1 and e.base.is_Add and len(e.base.args) == 2 and sympy.S.One in e.base.args
                and any(isinstance(a, sympy.exp) for a in e.base.args))

    def as_sigma(e):
        return sigma(-next(a for a in e.base.args if isinstance(a, sympy.exp)).args[0])
    found = gradient.replace(is_sigmoid, as_sigma)
    own = out.replace(is_sigmoid, as_sigma) if isinstance(out, sympy.Basic) else out
    if isinstance(own, (sigma, sympy.tanh, sympy.exp)):
        found = found.subs(own, sympy.Symbol(target, real=True))
    return found


def one_operation(program: Program, line) -> bool:
    """An assignment of one operation, each name read once: its local gradients are the operation's rule."""
    top = program.node(line.target)
    return len(line.nodes) == 1 and len(line.uses) == sum(isinstance(a, str) for a in top.args)


def forward_line(program: Program, line, letters: dict) -> dict:
    values = dict(letters)
    for name in line.nodes:
        node = program.node(name)
        values[name] = value(node.op, [arg_value(a, values) for a in node.args])
    return values


def derivation(given) -> list[Step]:
    program = given.program
    values, visible, grads, locals_found = solve_graph(given)
    f = output_symbol(given)
    inputs = given.values.names
    point = ", ".join(f"${latex(symbol_of(n))} = {latex(shown(values[n]))}$" for n in inputs)
    each = "every primitive operation is a node" if given.granularity == "nodes" \
        else "each assignment is one node, its local gradients compound"
    steps = [Step("Graph", f"The program as a graph, in topological order ({each}); the inputs are "
                           + ", ".join(map(in_prose, inputs)) + ".",
                  [[symbol_of(v.name), node_formula(given, v, symbol_of, values)] for v in visible],
                  diagram=diagram(given, values, visible, grads, locals_found))]
    lines = []
    for v in visible:
        lines.append([symbol_of(v.name), node_formula(given, v, lambda n: shown(values[n]), values),
                      shown(values[v.name])])
    steps.append(Step("Forward pass", f"Each node's value in order, at {point}:", lines))
    upstream = grads[program.output][0]
    backward_steps = []
    for v in reversed(visible):
        node_lines = [gradient_line(f, v.name, grads)]
        if v.name == program.output:
            node_lines = [[Partial(f, f), shown(upstream)]]
        if any(isinstance(local, Pullback) for _, local in locals_found[v.name]):
            node_lines += [line for arg, local in locals_found[v.name]
                           for line in tensor_lines(given, v, values, grads[v.name][0], arg, local)]
            backward_steps.append(Step(f"Node {in_prose(v.name)}", node_text(given, v, values), node_lines))
            continue
        rules = local_rules(given, v, values)
        for (arg, local), rule in zip(locals_found[v.name], rules):
            by = Partial(symbol_of(v.name), symbol_of(arg))
            node_lines.append([by, *rule, shown(local)])
            node_lines.append([Product([Partial(f, symbol_of(v.name)), by], dot=True),
                               Product([shown(grads[v.name][0]), shown(local)], dot=True),
                               shown(grads[v.name][0] * local)])
        backward_steps.append(Step(f"Node {in_prose(v.name)}", node_text(given, v, values), node_lines))
    steps.append(Step("Backward pass", f"In reverse order, each node passes the gradient arriving at it (upstream) "
                                       f"to each input, times that input's local gradient; where a value feeds "
                                       f"several nodes, the gradients arriving from each are added. The gradient "
                                       f"arriving at the output is ${latex(Partial(f, f))} = {latex(shown(upstream))}$.",
                      substeps=backward_steps))
    steps.append(Step("Gradients", "The gradients with respect to the inputs, each the sum of what arrives from "
                                   "every node the input feeds" + (" (in closed form)" if any(
                                       is_symbolic(values[n]) for n in inputs) else "") + ":",
                      [gradient_line(f, n, grads) for n in wrt(given)]))
    return steps


def diagram(given, values, visible, grads, locals_found) -> Diagram:
    """The graph to draw: each input and node with its value and gradient; each wire with the value
    it carries forward and the gradient it carries back (the consumer's gradient times the local one)."""
    def gradient(name):
        return label(grads.get(name, (0,))[0])
    vertices = [Vertex(n, symbol_of(n), None, label(values[n]), gradient(n)) for n in given.values.names]
    vertices += [Vertex(v.name, symbol_of(v.name), node_formula(given, v, symbol_of, values), label(values[v.name]),
                        gradient(v.name), gate_of(given, v, values)) for v in visible]
    wires = [Wire(arg, v.name, label(values[arg]), label(passed(grads[v.name][0], local, Rules())))
             for v in visible for arg, local in locals_found[v.name]]
    return Diagram(vertices, wires)


def label(x):
    """A value as a drawn wire shows it: a number; a short vector's entries; else a tensor's shape (R^(2×3))."""
    if is_tensor(x) and (x.ndim > 1 or x.size > SHOWN_ENTRIES):
        return Space(x.shape)
    return shown(x)


def gate_of(given, v: Visible, values: dict):
    """What a drawn node shows of its operation: a primitive's operator (+, e^□); a whole assignment's formula."""
    if given.granularity == "assignments":
        return node_formula(given, v, symbol_of, values)
    node = given.program.node(v.name)
    return gate(node.op, [None if isinstance(a, str) else Number(exact(a.value), decimal=True) for a in node.args],
                tensor_args(v, values))


def gradient_line(f, name: str, grads) -> list:
    g, contributions = grads.get(name, (0, []))
    line = [Partial(f, symbol_of(name))]
    if len(contributions) > 1:
        terms = [shown(c) for _, c in reversed(contributions)]
        line.append(Sum([terms[0]] + [Negative(shown(-t.x)) if isinstance(t, Number) and not is_symbolic(t.x)
                                      and t.x < 0 else t for t in terms[1:]]))
    return line + [shown(g)]


def node_text(given, v: Visible, values: dict) -> str:
    program = given.program
    line = program.line(v.line)
    inside = line.nodes if given.granularity == "assignments" else (v.name,)
    kinks = [node for node in (program.node(n) for n in inside)
             if at_the_kink(node.op, [arg_value(a, values) for a in node.args])]
    here = "".join(f" At {in_prose(node.name)}, {AT_THE_KINK[node.op]}." for node in kinks)
    if given.granularity == "assignments" and not one_operation(program, line):
        return "The local gradients of the whole assignment, by the chain rule inside it." + here
    op = program.node(v.name).op
    args = [arg_value(a, values) for a in program.node(v.name).args]
    if op not in NOT_ENTRYWISE and any(map(is_tensor, args)):
        broadcast = any(shape_of(a) != shape_of(values[v.name]) for a in args)
        return (f"{ENTRYWISE_TEXT[0]}{', ' + ENTRYWISE_TEXT[1] if broadcast else ''}: "
                f"{RULE_TEXT[op]}." + here)
    return RULE_TEXT[op][0].upper() + RULE_TEXT[op][1:] + "." + here


def tensor_lines(given, v: Visible, values: dict, g, arg: str, pull: Pullback) -> list:
    """What a node on tensors passes back to `arg`: its rule in letters, with the numbers put in, and
    the gradient it makes, headed ∂f/∂y · ∂y/∂x (the vector-Jacobian product, never the Jacobian)."""
    f, y, x = output_symbol(given), symbol_of(v.name), symbol_of(arg)
    up, head = Partial(f, y), Product([Partial(f, y), Partial(y, x)], dot=True)
    node = given.program.node(v.name)
    args = [arg_value(a, values) for a in node.args]
    result = shown(pull(g))
    if pull.rule == "entrywise":
        k = node.args.index(arg)
        letters = [shown(a.value) if isinstance(a, Constant) else symbol_of(a) for a in node.args]
        if node.op == "pow":
            letters[1] = Number(exact(node.args[1].value), decimal=True)
        local = rule_formulas(node.op, letters, y)[k] if node.op not in KINKED else None
        product = g * pull.local
        if isinstance(local, Number) and local.x in (1, -1):       # + and -: the gradient itself, or its negative
            written_ = up if local.x == 1 else Negative(up)
            numbers = shown(g) if local.x == 1 else Negative(shown(g))
        else:
            written_ = Hadamard(up, local if local is not None else Partial(y, x))
            numbers = Hadamard(shown(g), shown(pull.local))
        if shape_of(product) == pull.shape:
            return [[head, written_, numbers, result]]
        if not pull.shape:                                          # a number spread over a tensor: every entry's sum
            return [[head, Apply("sum", written_), Apply("sum", numbers), result]]
        lines = [] if written_ is up else [[written_, numbers, shown(product)]]
        return lines + [[head, result]]
    other = lambda m: shown(np.asarray(m, dtype=object))   # noqa: E731
    if pull.rule in ("left", "right"):
        a, b = args
        if pull.rule == "left":
            if np.ndim(a) == 2 and np.ndim(b) == 1:           # A b: the column G times the row bᵀ
                letters = MatrixProduct([up, Transpose(symbol_of(node.args[1]))])
                numbers = MatrixProduct([other(np.reshape(g, (-1, 1))), other(np.reshape(b, (1, -1)))])
            elif np.ndim(b) == 1:                               # a · b
                letters, numbers = Product([up, symbol_of(node.args[1])], dot=True), Product([shown(g), shown(b)],
                                                                                             dot=True)
            else:
                letters = MatrixProduct([up, Transpose(symbol_of(node.args[1]))])
                numbers = MatrixProduct([shown(g), other(b.T)])
        else:
            if np.ndim(a) == 1 and np.ndim(b) == 2:           # a B: the column a times the row G
                letters = MatrixProduct([symbol_of(node.args[0]), Transpose(up)])
                numbers = MatrixProduct([other(np.reshape(a, (-1, 1))), other(np.reshape(g, (1, -1)))])
            elif np.ndim(a) == 1:
                letters, numbers = Product([up, symbol_of(node.args[0])], dot=True), Product([shown(g), shown(a)],
                                                                                             dot=True)
            else:
                letters = MatrixProduct([Transpose(symbol_of(node.args[0])), up])
                numbers = MatrixProduct([other(a.T), shown(g)])
        return [[head, letters, numbers, result]]
    ones = quantity("ones")
    if pull.rule == "sum":
        return [[head, Product([up, ones], dot=True),
                 Product([shown(g), other(np.ones(pull.shape, dtype=int))], dot=True), result]]
    if pull.rule == "mean":
        n = Number(int(np.prod(pull.shape)))
        return [[head, Product([Fraction_(up, n), ones], dot=True),
                 Product([Fraction_(shown(g), n), other(np.ones(pull.shape, dtype=int))], dot=True), result]]
    if pull.rule == "T":
        return [[head, Transpose(up), Transpose(shown(g)), result]]
    inner = row_sums(g * pull.local) if pull.rule == "softmax" else row_sums(g)
    inner = shown(inner.item() if inner.size == 1 else inner)
    if pull.rule == "softmax":
        return [[head, Hadamard(y, Group(Sum([up, Negative(Apply("sum", Hadamard(up, y)))]))),
                 Hadamard(shown(pull.local), Group(Sum([shown(g), Negative(inner)]))), result]]
    x_letter = symbol_of(node.args[0]) if isinstance(node.args[0], str) else shown(args[0])
    return [[head, Sum([up, Negative(Hadamard(Apply("softmax", x_letter), Apply("sum", up)))]),
             Sum([shown(g), Negative(Hadamard(shown(pull.local), inner))]), result]]


# ---- mistakes --------------------------------------------------------------------

def fan_out(given) -> bool:
    uses = [a for n in given.program.nodes for a in n.args if isinstance(a, str)]
    return len(uses) != len(set(uses))


def uses_op(*ops):
    return lambda given: bool(given.program.ops() & set(ops))


def has_tensors(given) -> bool:
    return any(is_tensor(v) for v in given.values.values) or is_tensor(given.upstream)


def matrix_products(given) -> list[tuple[tuple, tuple]]:
    """The shapes (A, B) of each A @ B of the program."""
    if not has_tensors(given):
        return []
    values = forward(given.program, inputs_of(given))
    return [tuple(shape_of(arg_value(a, values)) for a in n.args) for n in given.program.nodes if n.op == "matmul"]


def transpose_cases(given) -> list:
    """The matrix product's wrong gradients that can be written here (the shape of the input they are for)."""
    shapes = matrix_products(given)
    cases = [("the transpose on the wrong side", "side"), ("the transpose missing", "missing")]
    return [(words, {}, {"matmul": form}) for words, form in cases
            if any(wrong_matmul_possible(a, b, form) for a, b in shapes)]


def divides_by_a_name(given) -> bool:
    return any(n.op == "div" and isinstance(n.args[1], str) for n in given.program.nodes)


MISTAKES = [
    Places("fan_out_not_summed", "The gradients arriving at a value that feeds several nodes were not added: "
                                 "only one path's gradient was kept. A value used twice gets the sum of the "
                                 "gradients from every node it feeds (the multivariable chain rule).",
           lambda g: [("the first path kept", {}, {"fan_out": "first"}),
                      ("the last path kept", {}, {"fan_out": "last"})] if fan_out(g) else []),
    Places("max_routed_wrongly", "The max gate routed the gradient wrongly: max passes the whole upstream "
                                 "gradient to the input it chose (the larger), and 0 to the other (min, the "
                                 "reverse); only a tie splits it, half to each.",
           lambda g: [("to the smaller input", {}, {"route_to": "other"}),
                      ("to both inputs", {}, {"route_to": "both"})] if uses_op("max", "min")(g) else []),
    Change("sigmoid_slope_at_input", "The sigmoid's local gradient was taken at its input, x(1 - x): it is "
                                     "σ(x)(1 - σ(x)), written with the gate's output s as s(1 - s).",
           rules={"sigmoid_slope": "input"}, applies=uses_op("sigmoid")),
    Change("upstream_not_multiplied", "The upstream gradient was not multiplied in: a local gradient is only the "
                                      "gate's own slope, and the gradient it passes back is the upstream "
                                      "gradient times it (the chain rule).",
           rules={"upstream": False}, applies=lambda g: not has_tensors(g)),
    Change("subtraction_sign", "The subtraction's gradient to its second input has the wrong sign: a - b passes "
                               "+1 times the upstream gradient to a and -1 times it to b.",
           rules={"subtraction_sign": 1}, applies=uses_op("sub")),
    Change("quotient_as_reciprocal", "The quotient's gradient to its denominator was written 1/b: "
                                     "∂(a/b)/∂b = -a/b², by the quotient rule.",
           rules={"quotient": "reciprocal"}, applies=divides_by_a_name),
    Places("matmul_transpose", "The matrix product's gradients have the transpose misplaced: for Y = A B with "
                               "upstream gradient G, ∂f/∂A = G Bᵀ and ∂f/∂B = Aᵀ G (each has its input's shape), "
                               "not Bᵀ G or G Aᵀ (the transpose on the wrong side), nor G B or A G (no transpose).",
           transpose_cases),
]
Graph.mistakes = MISTAKES

KIND = Graph()
