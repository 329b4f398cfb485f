"""STACK questions (Moodle's computer-algebra question type; its XML is Moodle XML) for
problems whose answers are formulas, which core Moodle cannot check.

Per answer: an algebraic input whose teacher's answer is the formula in Maxima syntax,
and a potential response tree (PRT) that tries, in the checker's order, the right
formula (AlgEquiv: score 1), then each formula a mistake gives (score 0, with the
feedback `solver check` gives it), then anything else (score 0, a hint). A number
asked beside the formulas is an input too, tested with the checker's tolerance.
Question tests (STACK's `qtest`) record what each of those answers must get, so an
instructor can run them in Moodle after the import.
"""
from __future__ import annotations

import html
import xml.etree.ElementTree as ET

from sympy.printing.str import StrPrinter

from . import CATCH_ALL, Question, Wrong, decimal, tolerance
from ...answers.types import Number, answer_type, as_sympy

# Maxima's words: a problem's symbol with one of these names cannot be a Maxima variable.
MAXIMA_WORDS = frozenset(
    "abs and at beta block ceiling cos cosh del diff do else erf exp false floor for from gamma if in "
    "integrate is lambda limit log max min next not or product psi signum sin sinh sqrt step subst sum "
    "tan tanh then thru true unless while zeta e i pi".split())
FUNCTIONS = {"floor": "floor", "ceiling": "ceiling", "Max": "max", "Min": "min", "Abs": "abs", "exp": "exp",
             "log": "log", "tanh": "tanh", "sinh": "sinh", "cosh": "cosh", "sin": "sin", "cos": "cos"}


class NotMaxima(ValueError):
    """A formula Maxima cannot be given as it is."""


class MaximaPrinter(StrPrinter):
    """sympy's text form, in Maxima's syntax: x^2, max(a, b), %e, %pi."""

    def _print_Pow(self, expr, rational=False):
        return super()._print_Pow(expr, rational).replace("**", "^")   # inner powers are printed here already

    def _print_Function(self, expr):
        name = FUNCTIONS.get(type(expr).__name__)
        if name is None:
            raise NotMaxima(f"the function {type(expr).__name__} has no Maxima counterpart here")
        return f"{name}({', '.join(self._print(arg) for arg in expr.args)})"

    _print_Max = _print_Min = _print_Abs = _print_floor = _print_ceiling = _print_exp = _print_Function

    def _print_Symbol(self, expr):
        if expr.name.lower() in MAXIMA_WORDS:
            raise NotMaxima(f"the symbol `{expr.name}` is a word of Maxima's")
        return expr.name

    def _print_Exp1(self, expr):
        return "%e"

    def _print_Pi(self, expr):
        return "%pi"

    def _print_Float(self, expr):
        return decimal(float(expr))


def maxima(value) -> str:
    """A formula or number in Maxima's syntax; NotMaxima where it cannot be."""
    return MaximaPrinter().doprint(as_sympy(value))


def stackable(answer) -> bool:
    """A formula, or a number: what a STACK input here takes."""
    return answer_type(answer.type).symbolic or isinstance(answer_type(answer.type), Number)


def inputs_text(question: Question) -> str:
    """Each answer's label, input box, validation and feedback, for the question's text."""
    return "\n".join(f"<p>\\({html.escape(answer.label)} =\\) [[input:ans{number}]] [[validation:ans{number}]]</p>"
                     f"\n<div>[[feedback:prt{number}]]</div>" for number, answer in enumerate(question.answers, 1))


def fill_stack(element: ET.Element, question: Question, text, penalty: str) -> None:
    """A <question type="stack">'s variables, inputs, PRTs and tests, one input and PRT per
    answer. `text(parent, tag, content, fmt)` writes Moodle's text fields."""
    variables, tests = [], [[]]
    for number, answer in enumerate(question.answers, start=1):
        teacher, wrongs = f"ta{number}", question.wrong_answers(answer)
        variables.append(f"{teacher}: {maxima(answer.value)};")
        variables += [f"m{number}_{k}: {maxima(wrong.value)};" for k, wrong in enumerate(wrongs, start=1)]
        stack_input(element, number, answer, teacher)
        response_tree(element, text, number, answer, teacher, wrongs)
        tests[0].append((number, teacher, 1, f"prt{number}-0-T"))
        tests += [[(number, f"m{number}_{k}", 0, f"prt{number}-{k}-T")] for k in range(1, len(wrongs) + 1)]
    text(element, "questionvariables", "\n".join(variables), fmt=None)
    for tag, value in SETTINGS:
        ET.SubElement(element, tag).text = value
    for tag, value in (("specificfeedback", ""), ("questionnote", ""), ("prtcorrect", "Correct."),
                       ("prtpartiallycorrect", "Partly correct."), ("prtincorrect", "Not correct.")):
        text(element, tag, value)
    for case, checks in enumerate(tests, start=1):
        question_test(element, case, checks, len(question.answers), penalty)


# STACK's question options, at its defaults (its importer reads each).
SETTINGS = (("questionsimplify", "1"), ("assumepositive", "0"), ("assumereal", "0"), ("decimals", "."),
            ("multiplicationsign", "dot"), ("sqrtsign", "1"), ("complexno", "i"), ("inversetrig", "cos-1"),
            ("logicsymbol", "lang"), ("matrixparens", "["), ("variantsselectionseed", ""))


def stack_input(element, number: int, answer, teacher: str) -> None:
    words = sorted(str(s) for s in getattr(answer.value, "free_symbols", ()) if len(str(s)) > 1)
    node = ET.SubElement(element, "input")
    for tag, value in (("name", f"ans{number}"), ("type", "algebraic"), ("tans", teacher), ("boxsize", "30"),
                       ("strictsyntax", "1"), ("insertstars", "1"),     # 2x is 2*x; w_hh stays one name
                       ("syntaxhint", ""), ("forbidwords", ""), ("allowwords", ",".join(words)),
                       ("forbidfloat", "0"), ("requirelowestterms", "0"), ("checkanswertype", "0"),
                       ("mustverify", "1"), ("showvalidation", "1"), ("options", "")):
        ET.SubElement(node, tag).text = value


def response_tree(element, text, number: int, answer, teacher: str, wrongs: list[Wrong]) -> None:
    """Node 0: the right answer; node k: the k-th mistake's; the last node's "false" is the hint."""
    prt = ET.SubElement(element, "prt")
    for tag, value in (("name", f"prt{number}"), ("value", "1"), ("autosimplify", "1"), ("feedbackstyle", "1")):
        ET.SubElement(prt, tag).text = value
    text(prt, "feedbackvariables", "", fmt=None)
    targets = [(teacher, 1, "Correct.")] + [(f"m{number}_{k}", 0, wrong.diagnosis or wrong.feedback)
                                            for k, wrong in enumerate(wrongs, start=1)]
    test, options = answer_test(answer)
    for k, (tans, score, feedback) in enumerate(targets):
        last = k == len(targets) - 1
        node = ET.SubElement(prt, "node")
        for tag, value in (("name", str(k)), ("answertest", test), ("sans", f"ans{number}"), ("tans", tans),
                           ("testoptions", options), ("quiet", "0"),
                           ("truescoremode", "="), ("truescore", str(score)), ("truepenalty", ""),
                           ("truenextnode", "-1"), ("trueanswernote", f"prt{number}-{k}-T")):
            ET.SubElement(node, tag).text = value
        text(node, "truefeedback", f"<p>{html.escape(feedback)}</p>")
        for tag, value in (("falsescoremode", "="), ("falsescore", "0"), ("falsepenalty", ""),
                           ("falsenextnode", "-1" if last else str(k + 1)),
                           ("falseanswernote", f"prt{number}-{k}-F")):
            ET.SubElement(node, tag).text = value
        text(node, "falsefeedback", f"<p>{html.escape(CATCH_ALL)}</p>" if last else "")


def answer_test(answer) -> tuple[str, str]:
    """STACK's answer test and its option: algebraic equivalence for a formula or an exact
    number, else the checker's tolerance as an absolute margin."""
    margin = 0.0 if answer_type(answer.type).symbolic else tolerance(answer.type, answer.value)
    return ("AlgEquiv", "") if margin == 0 else ("NumAbsolute", decimal(margin))


def question_test(element, case: int, checks, inputs: int, penalty: str) -> None:
    """A STACK question test: every input its right answer but one, and what each PRT must give."""
    given = {number: teacher for number, teacher, _, _ in checks}
    test = ET.SubElement(element, "qtest")
    ET.SubElement(test, "testcase").text = str(case)
    for number in range(1, inputs + 1):
        node = ET.SubElement(test, "testinput")
        ET.SubElement(node, "name").text = f"ans{number}"
        ET.SubElement(node, "value").text = given.get(number, f"ta{number}")
    expected = {number: (score, note) for number, _, score, note in checks}
    for number in range(1, inputs + 1):
        score, note = expected.get(number, (1, f"prt{number}-0-T"))
        node = ET.SubElement(test, "expected")
        ET.SubElement(node, "name").text = f"prt{number}"
        ET.SubElement(node, "expectedscore").text = str(score)
        ET.SubElement(node, "expectedpenalty").text = "0" if score == 1 else penalty
        ET.SubElement(node, "expectedanswernote").text = note
