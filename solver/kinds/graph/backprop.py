"""graph: backpropagation through a computation the instructor writes, as CS231n draws it.

The `program` (one expression, or a list of assignments) is read by the grammar's program
dialect into a graph of primitive operations (solver/kinds/graph/program.py). The forward pass
evaluates each node in topological order; the backward pass goes in reverse order: each node
passes the gradient arriving at it (the upstream gradient) to each input, times that input's
local gradient (solver/kinds/graph/ops.py), and where a value feeds several nodes the gradients
arriving from each are added (fan-out). With `granularity: assignments` a node is one whole
assignment, its local gradients compound (the chain rule inside it). Scalars only, for now.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ...answers.grammar import Constant, Name
from ...core.errors import FieldError
from ...core.fields import IDENTIFIER, check_numbers, choice, given_field, names, number_or_symbol
from ...core.model import Answer, Diagram, Step, Vertex, Wire
from ...math.nodes import Negative, Number, Partial, Product, Sum, Symbol
from ...math.notation import variable
from ...math.printing import latex
from ..base import Kind
from ..common import written
from ..mistakes import Change, Places
from .ops import (AT_THE_KINK, KINKED, RULE_TEXT, Rules, at_the_kink, exact, formula, gate, is_symbolic,
                  local_gradients, rule_formulas, value)
from .program import Program, read_program, where

MAX_MAGNITUDE = 1e15          # a value or gradient past this is refused: a student could not type it
MAX_FORMULA = 2000            # characters of a closed form, as many as a student's answer may have


@dataclass(frozen=True)
class Values:
    """The inputs' values in the order the file gives them: numbers, or sympy letters."""
    names: tuple
    values: tuple


def read_values(name, value) -> Values:
    if not isinstance(value, dict) or not value:
        raise FieldError(name, "must map each input of the program to a number, or to a letter for the general "
                               "derivation ({x: -2, y: 5, z: -4})")
    cell = number_or_symbol(real=True)
    out = []
    for key, item in value.items():
        if not isinstance(key, str) or not IDENTIFIER.match(key):
            raise FieldError(name, f"names its inputs as the program does (x, w0, x_1); got {key!r}")
        check_numbers(f"{name}.{key}", item)
        out.append(cell(f"{name}.{key}", item))
    return Values(tuple(value), tuple(out))


@dataclass(frozen=True, kw_only=True)
class Given:
    program: Any = given_field(read_program, doc="one expression (f = (x + y) * z) or a list of assignments "
                                                 "([q = x + y, f = q * z]); the last line is the output")
    values: Any = given_field(read_values, doc="each input's value: a number, or a letter for the general "
                                               "derivation")
    wrt: Any = given_field(names("an input's name or a list of them", empty=False), None, "the inputs whose gradients are asked (default: every input)")
    upstream: Any = given_field(number_or_symbol(real=True), 1, "the gradient arriving at the output (default 1)")
    granularity: str = given_field(choice("nodes", "assignments"), "nodes",
                                   "nodes (every primitive operation a node, the default) or assignments (one "
                                   "node per assignment, its local gradients compound)")

    def shown_fields(self) -> set:
        """The fields every sheet shows (shown_arrays), so that variants redraw them by default."""
        return {"values"}

    def shown_arrays(self) -> list[tuple[str, Any]]:
        """What a sheet shows of the given: the program's lines and the inputs' values."""
        lines = [(latex(variable(line.target)), expression_formula(line.expression, symbol_of))
                for line in self.program.lines]
        return lines + [(latex(variable(n)), shown(v)) for n, v in zip(self.values.names, self.values.values)
                        if not is_symbolic(v) or str(v) != n]


# ---- the computation ------------------------------------------------------------

symbol_of = variable          # a name of the program as the derivation writes it


def shown(x) -> Number:
    """A value as the derivation shows it: exact, a short decimal as a decimal."""
    return Number(exact(x), decimal=True)


def expression_formula(expression, leaf) -> Any:
    """A grammar expression as a formula, each name written by `leaf(name)`."""
    if isinstance(expression, Name):
        return leaf(expression.name)
    if isinstance(expression, Constant):
        return Number(exact(expression.value), decimal=True)
    return formula(expression.op, [expression_formula(a, leaf) for a in expression.args])


def arg_value(arg, values: dict):
    return arg.value if isinstance(arg, Constant) else values[arg]


def inputs_of(given) -> dict:
    """{input: its value as computed with}: a written decimal exactly (0.1 is 1/10)."""
    return {n: v if is_symbolic(v) else Fraction(written(v)) for n, v in zip(given.values.names, given.values.values)}


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
            arriving.setdefault(arg, []).append((node.name, g * local if rules.upstream else local))
    for name, contributions in arriving.items():
        if name not in grads:
            grads[name] = (combined(contributions, rules), contributions)
    return grads


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
    upstream = given.upstream if is_symbolic(given.upstream) else Fraction(written(given.upstream))
    grads = backward(program, values, visible, program.output, upstream, rules, lambda v: locals_found[v.name])
    return values, visible, grads, locals_found


def wrt(given) -> tuple:
    return given.wrt if given.wrt is not None else given.values.names


# ---- answers --------------------------------------------------------------------

def answer_of(name: str, x, label: str, detail: bool) -> Answer:
    x = exact(x)
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
        "value[NAME]": "the value of input or node NAME",
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
        values = dict(start)
        for node in program.nodes:
            line = program.line(node.line)
            at = where(program, line.number, line.text)
            args = [arg_value(a, values) for a in node.args]
            if symbolic and node.op in KINKED:
                raise FieldError("program", f"{at} uses {node.op}, which has a kink; with letters it cannot be told "
                                            "which side of it the point is on: give numbers")
            problem = domain_problem(node.op, args)
            if problem:
                numbers = ", ".join(str(exact(a)) for a in args)
                raise FieldError("values", f"make {at} take {node.op} of {numbers}: {problem}")
            try:
                values[node.name] = value(node.op, args)
                local_gradients(node.op, args, values[node.name])
            except (ZeroDivisionError, OverflowError, ValueError):
                raise FieldError("values", f"make {at} divide by zero or overflow at {node.op}") from None
            if too_large(values[node.name]):
                raise FieldError("values", f"make {at} reach a value of more than {MAX_MAGNITUDE:.0e} in size at "
                                           f"{node.name}; a student could not write it")
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
    """A number past MAX_MAGNITUDE in size, or not finite (a letter's formula is not a number)."""
    if is_symbolic(x):
        return False
    if isinstance(x, float) and not math.isfinite(x):
        return True
    return abs(x) > MAX_MAGNITUDE


def domain_problem(op: str, args: list) -> str | None:
    if any(is_symbolic(a) for a in args):
        return None
    x = args[0]
    if op == "log" and x <= 0:
        return "the logarithm takes positive numbers only"
    if op == "sqrt" and x <= 0:
        return "the square root has no finite gradient at 0 and no real value below it"
    if op == "div" and args[1] == 0:
        return "a division by zero"
    if op == "pow":
        p = args[1]
        if x == 0 and p < 1:
            return f"0 to the power {p} has no finite gradient"
        if x < 0 and p.denominator != 1:
            return f"a negative number to the power {p} has no real value"
    return None


# ---- the derivation ---------------------------------------------------------------


def node_formula(given, node: Visible, leaf) -> Any:
    program = given.program
    if given.granularity == "assignments":
        return expression_formula(program.line(node.line).expression, leaf)
    op = program.node(node.name).op
    args = [shown(a.value) if isinstance(a, Constant) else leaf(a) for a in node.args]
    if op == "pow":
        args = [args[0], Number(exact(node.args[1].value), decimal=True)]
    return formula(op, args)


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
        return [[Number(g)] for _, g in found]
    n = top if given.granularity == "assignments" else program.node(node.name)
    found = []
    for leaf in (symbol_of, lambda name: shown(values[name])):
        args = [shown(a.value) if isinstance(a, Constant) else leaf(a) for a in n.args]
        found.append(rule_formulas(n.op, args, leaf(n.name)))
    if n.op in KINKED:             # a rule by cases: the case that holds is the value
        return [[letters] for a, letters in zip(n.args, found[0]) if isinstance(a, str)]
    return [[letters, numbers] for a, letters, numbers in zip(n.args, *found) if isinstance(a, str)]


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
                           + ", ".join(f"${latex(symbol_of(n))}$" for n in inputs) + ".",
                  [[symbol_of(v.name), node_formula(given, v, symbol_of)] for v in visible],
                  diagram=diagram(given, values, visible, grads, locals_found))]
    lines = []
    for v in visible:
        lines.append([symbol_of(v.name), node_formula(given, v, lambda n: shown(values[n])), shown(values[v.name])])
    steps.append(Step("Forward pass", f"Each node's value in order, at {point}:", lines))
    upstream = grads[program.output][0]
    backward_steps = []
    for v in reversed(visible):
        node_lines = [gradient_line(f, v.name, grads)]
        if v.name == program.output:
            node_lines = [[Partial(f, f), shown(upstream)]]
        rules = local_rules(given, v, values)
        for (arg, local), rule in zip(locals_found[v.name], rules):
            by = Partial(symbol_of(v.name), symbol_of(arg))
            node_lines.append([by, *rule, shown(local)])
            node_lines.append([Product([Partial(f, symbol_of(v.name)), by], dot=True),
                               Product([shown(grads[v.name][0]), shown(local)], dot=True),
                               shown(grads[v.name][0] * local)])
        backward_steps.append(Step(f"Node {v.name}", node_text(given, v, values), node_lines))
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
        return shown(grads.get(name, (0,))[0])
    vertices = [Vertex(n, symbol_of(n), None, shown(values[n]), gradient(n)) for n in given.values.names]
    vertices += [Vertex(v.name, symbol_of(v.name), node_formula(given, v, symbol_of), shown(values[v.name]),
                        gradient(v.name), gate_of(given, v)) for v in visible]
    wires = [Wire(arg, v.name, shown(values[arg]), shown(grads[v.name][0] * local))
             for v in visible for arg, local in locals_found[v.name]]
    return Diagram(vertices, wires)


def gate_of(given, v: Visible):
    """What a drawn node shows of its operation: a primitive's operator (+, e^□); a whole assignment's formula."""
    if given.granularity == "assignments":
        return node_formula(given, v, symbol_of)
    node = given.program.node(v.name)
    return gate(node.op, [None if isinstance(a, str) else Number(exact(a.value), decimal=True) for a in node.args])


def gradient_line(f, name: str, grads) -> list:
    g, contributions = grads.get(name, (0, []))
    line = [Partial(f, symbol_of(name))]
    if len(contributions) > 1:
        terms = [shown(c) for _, c in reversed(contributions)]
        line.append(Sum([terms[0]] + [Negative(shown(-t.x)) if not is_symbolic(t.x) and t.x < 0 else t
                                      for t in terms[1:]]))
    return line + [shown(g)]


def node_text(given, v: Visible, values: dict) -> str:
    program = given.program
    line = program.line(v.line)
    inside = line.nodes if given.granularity == "assignments" else (v.name,)
    kinks = [node for node in (program.node(n) for n in inside)
             if at_the_kink(node.op, [arg_value(a, values) for a in node.args])]
    here = "".join(f" At {node.name}, {AT_THE_KINK[node.op]}." for node in kinks)
    if given.granularity == "assignments" and not one_operation(program, line):
        return "The local gradients of the whole assignment, by the chain rule inside it." + here
    op = program.node(v.name).op
    return RULE_TEXT[op][0].upper() + RULE_TEXT[op][1:] + "." + here


# ---- mistakes --------------------------------------------------------------------

def fan_out(given) -> bool:
    uses = [a for n in given.program.nodes for a in n.args if isinstance(a, str)]
    return len(uses) != len(set(uses))


def uses_op(*ops):
    return lambda given: bool(given.program.ops() & set(ops))


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
           rules={"upstream": False}),
    Change("subtraction_sign", "The subtraction's gradient to its second input has the wrong sign: a - b passes "
                               "+1 times the upstream gradient to a and -1 times it to b.",
           rules={"subtraction_sign": 1}, applies=uses_op("sub")),
    Change("quotient_as_reciprocal", "The quotient's gradient to its denominator was written 1/b: "
                                     "∂(a/b)/∂b = -a/b², by the quotient rule.",
           rules={"quotient": "reciprocal"}, applies=divides_by_a_name),
]
Graph.mistakes = MISTAKES

KIND = Graph()
