"""What every format prints: table answers, prose with $...$ math, numbers, long displays.

The PDF side (no overfull box, literal prose) is in test_pdf.py; these run without TeX.
"""
import json
import re

import yaml

from conftest import run_solver
from test_pdf import STRESS_FILE

FORMATS = ("md", "latex", "text", "json")


def solve(path, fmt, *more):
    result = run_solver("solve", path, "--format", fmt, *more)
    assert result.returncode == 0, result.stderr
    return result.stdout


def write_set(tmp_path, problems, **meta):
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump({"title": "Set", **meta, "problems": problems}, allow_unicode=True,
                                   sort_keys=False), encoding="utf-8")
    return path


def test_a_table_answer_prints_as_a_table_and_json_is_reproducible():
    first = solve(STRESS_FILE, "json", "--problem", "deep")
    assert solve(STRESS_FILE, "json", "--problem", "deep") == first           # no memory address
    table = json.loads(first)["problems"][0]["answers"]["table"]
    assert table["latex"].startswith(r"\begin{array}")
    for fmt in FORMATS:
        shown = solve(STRESS_FILE, fmt, "--problem", "deep")
        assert "Table(" not in shown and "<function" not in shown and " at 0x" not in shown, fmt
    md = solve(STRESS_FILE, "md", "--problem", "deep").split("### Answer")[1]
    rows = [line for line in md.splitlines() if re.match(r"\| \$\d+\$ \|", line)]
    params = {row["layer"]: row["params"] for row in table["value"]}
    shown_params = {}
    for line in rows:                                    # the part of the table with the params column
        cells = [c.strip().strip("$").replace("{,}", "") for c in line.strip("|").split("|")]
        header = md[:md.index(line)].rsplit("| layer |", 1)[1].splitlines()[0]
        names = ["layer"] + [h.strip() for h in header.strip(" |").split("|")]
        if "params" in names:
            shown_params[cells[0]] = int(cells[names.index("params")])
    assert shown_params == params and len(params) == 28


def test_statement_math_is_math_and_the_rest_is_escaped(tmp_path):
    path = write_set(tmp_path, [{
        "id": "a", "kind": "essay", "given": {"model_answer": "It saturates: $|h_t| < 1$."},
        "statement": r"Why is $h_t = \tanh(W x_t)$ bounded? (50% of a_b, \$5)"}])
    md = solve(path, "md")
    assert r"$h_t = \tanh(W x_t)$" in md and r"50% of a\_b, \$5" in md and "$|h_t| < 1$" in md
    latex = solve(path, "latex")
    assert r"$h_t = \tanh(W x_t)$" in latex and r"50\% of a\_b, \$5" in latex
    text = solve(path, "text")
    assert "h_t = tanh(W x_t)" in text and "$" not in text.replace("$5", "")


def test_an_apostrophe_prints_as_one_and_a_quote_literally(tmp_path):
    path = write_set(tmp_path, [{
        "id": "a", "kind": "essay", "given": {"model_answer": "Yes."},
        "statement": "Is layer 1's output, the layers' rows or the outputs' size what padding='same' keeps? "
                     "Don't say `yes' or 'less'."}])
    latex = solve(path, "latex")
    assert "layer 1{\\textquoteright}s output, the layers{\\textquoteright} rows or the outputs{\\textquoteright} " \
           "size" in latex                                      # 1{\ttfamily\char13}s: a typewriter quote
    assert "padding={\\ttfamily\\char13}same{\\ttfamily\\char13} keeps" in latex
    assert "Don{\\textquoteright}t say {\\ttfamily\\char18}yes{\\ttfamily\\char13} or " \
           "{\\ttfamily\\char13}less{\\ttfamily\\char13}" in latex


def test_a_prime_in_prose_prints_as_a_prime_and_a_quoted_phrase_stays_quoted(tmp_path):
    path = write_set(tmp_path, [{
        "id": "a", "kind": "essay", "given": {"model_answer": "Yes."},
        "statement": "Is H' (the height) with 'zero padding' and ReLU'(0) = 0 as σ' says, f'' too?"}])
    latex = solve(path, "latex")
    assert ("Is H\\ensuremath{'} (the height) with {\\ttfamily\\char13}zero padding{\\ttfamily\\char13} and "
            "ReLU\\ensuremath{'}(0) = 0 as \\ensuremath{\\sigma}\\ensuremath{'} says, "
            "f\\ensuremath{'}\\ensuremath{'} too?") in latex
    assert "Is H' (the height) with 'zero padding' and ReLU'(0)" in solve(path, "text")


def test_a_vector_in_a_statement_prints_its_values(tmp_path):
    path = write_set(tmp_path, [{
        "id": "a", "kind": "mlp", "statement": "Is the target {{ target }} linearly separable?",
        "given": {"inputs": [[0, 0], [0, 1], [1, 0], [1, 1]], "target": [0, 1, 1, 0]}}])
    md = solve(path, "md")
    assert r"$\begin{bmatrix} 0 & 1 & 1 & 0 \end{bmatrix}$ linearly separable" in md
    assert "0×1×1×0" not in md


def test_a_matrix_in_a_statement_prints_its_values(tmp_path):
    path = write_set(tmp_path, [{
        "id": "a", "kind": "conv2d", "statement": "X is {{ input }}.",
        "given": {"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "kernel": [[1, 0], [0, -1]]}}])
    md = solve(path, "md")
    assert r"X is $\begin{bmatrix} 1 & 2 & 3 \\ 4 & 5 & 6 \\ 7 & 8 & 9 \end{bmatrix}$." in md
    assert "3×3" not in md.split("X is")[1].split("\n")[0]


def test_characters_and_math_a_sheet_cannot_print_are_refused_at_load(tmp_path):
    cases = {"Done? \U0001F642": "U+1F642", r"Read $\input{/etc/passwd}$": r"\input",
             r"Open $\frac{1}{2$ brace": "unbalanced braces"}
    for statement, words in cases.items():
        path = write_set(tmp_path, [{"id": "a", "kind": "essay", "statement": statement,
                                     "given": {"model_answer": "yes"}}])
        result = run_solver("solve", path)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert "`statement`" in result.stderr and words in result.stderr, result.stderr
    path = write_set(tmp_path, [{"id": "a", "kind": "essay", "statement": "Tick ✓ — fine; ≤ α",
                                 "given": {"model_answer": "yes \u2713"}}])
    assert run_solver("solve", path, "--format", "latex").returncode == 0


def test_numbers_never_print_in_e_notation_in_math():
    for fmt in ("latex", "md"):
        shown = solve(STRESS_FILE, fmt)
        assert not re.search(r"\de-\d", shown), re.search(r".{40}\de-\d.{10}", shown).group(0)
    assert r"7.39312 \times 10^{-5}" in solve(STRESS_FILE, "latex", "--problem", "attention4")


def test_a_long_display_breaks_into_rows_that_join_back():
    from solver.math.printing import MATH_WIDTH, display_rows, visible_length
    terms = [rf"{k}.25 \cdot \begin{{bmatrix}} {k} & -{k} & 3 \end{{bmatrix}}" for k in range(1, 9)]
    text = " + ".join(terms)
    rows = display_rows(text)
    assert len(rows) > 1 and " ".join(rows) == text
    assert all(visible_length(row) <= MATH_WIDTH for row in rows) and all(r.startswith("+ ") for r in rows[1:])
    product = r"w \left(a + b + c + d + e + f + g + h + i + j + k + l + m\right) \left(" + " + ".join("xyzuvw" * 4) + r"\right)"
    rows = display_rows(product)
    assert len(rows) == 2 and rows[1].startswith(r"\cdot \left(")


def test_a_fraction_over_a_long_sum_breaks_as_the_sum_over_rows():
    """A variance of twelve values, sum over N, was one row 240 pt past the margin: it prints
    as 1/N times the sum between brackets that may break (\\Bigl, not \\left), one row per part."""
    from solver.math.printing import MATH_WIDTH, display_rows, visible_length
    squares = [rf"\left({v} - 1\right)^{{2}}" for v in (2, 7, 5, 3, 9, 4, 6, 8, 1, 2, 3, 5)]
    rows = display_rows(rf"\frac{{{' + '.join(squares)}}}{{12}}")
    assert len(rows) > 1 and all(visible_length(row) <= MATH_WIDTH for row in rows)
    assert " ".join(rows) == rf"\frac{{1}}{{12}}\Bigl({' + '.join(squares)}\Bigr)"
    half = rf"\frac{{1}}{{2}}\left({' + '.join(squares)}\right)"          # a loss: 1/2 (sum of squares)
    assert " ".join(display_rows(half)) == rf"\frac{{1}}{{2}}\Bigl({' + '.join(squares)}\Bigr)"
    short = r"\frac{1}{N} \sum_{i} \left(x_i - \mu\right)^{2}"    # fits: left as it is
    assert display_rows(short) == [short]


def test_a_matrix_too_wide_is_split_into_named_column_blocks_even_with_three_columns():
    """An outer product's entries written as products of decimals (δ_i · a_j): three columns
    ran 180 pt past the margin, since a matrix of three columns or fewer was never split."""
    import numpy as np
    from solver.math.nodes import Number, Product
    from solver.math.printing import MATH_WIDTH, latex, visible_length
    products = np.empty((3, 3), dtype=object)
    for i, delta in enumerate((4.91531e-05, -0.141302, 6.09199e-08)):
        for j, a in enumerate((2, -1, -2)):
            products[i, j] = Product([Number(delta), Number(a)])
    blocks = re.findall(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}_\{\\text\{(.*?)\}\}", latex(products))
    assert [name for _, name in blocks] == ["columns 1--2", "column 3"]
    assert all(visible_length(row) <= MATH_WIDTH for body, _ in blocks for row in body.split(r"\\"))


def test_an_array_that_fits_a_line_is_not_split():
    """A 5-entry gradient split "entries 1--4 / entry 5" under the probabilities above it, and a 2×6
    output "columns 1--5 / column 6": the room for a block's name was kept even where no block is named."""
    import numpy as np
    from solver.math.printing import latex
    gradient = np.array([0.0382478, 0.00664647, 0.465954, -0.534046, 0.0231985])
    output = np.array([[-2.86039, 2.86039, -2.96319, 2.96319, -2.99402, 2.99402],
                       [0, 0, -2.53546, 2.53546, -2.86039, 2.86039]])
    for value in (gradient, output):
        assert latex(value).count(r"\begin{bmatrix}") == 1, latex(value)
    too_wide = latex(np.array([-0.0773287] * 6))
    assert "entries 1--" in too_wide


def test_a_row_break_between_factors_moves_their_product_sign_to_the_next_row():
    """Dropout's m ⊙ x broke as "(mask) ⊙" then "· (input)": the ⊙ stranded, a · added."""
    from solver.math.printing import display_rows
    group = r"\left(" + " & ".join(f"{k}.25" for k in range(12)) + r"\right)"
    for sign in (r"\odot", r"\cdot", r"\times"):
        assert display_rows(f"{group} {sign} {group}") == [group, f"{sign} {group}"]


def test_a_letter_command_keeps_its_space_before_a_relation_in_text():
    """pylatexenc took the space after \\gamma as the command's own: "γ= 0.5", "ℓ= 1/2"."""
    from solver.core.prose import math_to_text
    assert math_to_text(r"\gamma = 0.5, \mu = 0.9") == "γ = 0.5, μ = 0.9"
    assert math_to_text(r"\ell = \frac{1}{2}\left(y - y_r\right)^{2}") == "ℓ = 1/2(y - y_r)^2"
    assert math_to_text(r"\alpha + \beta - \varepsilon") == "α + β - ε"


def test_an_escaped_underscore_in_words_is_no_subscript_in_text():
    """\\text{fan\\_in} reads fan_in on a terminal; it read fan_i · n, as if _i were a subscript before a factor n."""
    from solver.core.prose import math_to_text
    assert math_to_text(r"\text{fan\_in} = C_{\text{in}} K_h") == "fan_in = C_in · K_h"


def test_a_derivative_reads_on_one_line_as_a_factor_of_a_product():
    """∂f/∂x unbracketed, and a dot where it meets another factor: it read (∂ℓ)/(∂h_3)(∂h_3)/(∂w_in)."""
    from solver.core.prose import math_to_text
    d = r"\frac{\partial %s}{\partial %s}"
    cases = {d % ("f", "x") + " = 1": "∂f/∂x = 1",
             d % (r"\ell", "h_{3}") + d % ("h_{3}", "w_{in}"): "∂ℓ/∂h_3 · ∂h_3/∂w_in",
             "w_{hy}" + d % (r"\ell", "y_{3}") + " + " + d % ("f", "x") + " h_3": "w_hy · ∂ℓ/∂y_3 + ∂f/∂x · h_3",
             r"W^\top" + d % ("f", "x") + r" \cdot \left(" + d % ("f", "x") + r"\right)": "W^⊤ · ∂f/∂x · (∂f/∂x)",
             r"\frac{\partial^2 f}{\partial x^2} + \frac{a + b}{c}": "(∂^2 f)/(∂x^2) + (a + b)/c"}
    for tex_text, text in cases.items():
        assert math_to_text(tex_text) == text


def test_a_script_that_is_a_sum_keeps_its_grouping_in_text():
    """y_{ℓ-1} read y_ℓ-1, x^{p - 1} read x^p - 1 and e^{-w x} read e^- w x on a terminal: other formulas."""
    from solver.core.prose import math_to_text
    cases = {r"A_{\ell}y_{\ell-1}": "A_ℓ · y_(ℓ-1)", r"x^{p - 1} + e^{-x}": "x^(p - 1) + e^-x",
             r"a^{(k-1)} + h_{t}^{2}": "a^(k-1) + h_t^2", r"\sum_{c=0}^{C - 1} w_{c}": "∑_c=0^(C - 1) w_c",
             r"\frac{1}{1 + e^{-w x_{1}}}": "1/(1 + e^(-w · x_1))", r"B C_{\text{out}} H_{\text{out}}": "B · C_out · H_out",
             r"\tanh\left(x_{1} \right)": "tanh(x_1)",
             r"0.5 \cdot \frac{-1.85}{-2}": "0.5 · (-1.85)/(-2)"}
    for tex_text, text in cases.items():
        assert math_to_text(tex_text) == text


def test_an_escaped_underscore_in_words_is_an_underscore_in_mathml():
    """latex2mathml printed \\text{fan\\_in} as fan\\_in, its backslash and all."""
    from solver.render.mathml import mathml
    assert "<mtext>fan_in</mtext>" in mathml(r"\text{fan\_in} = x_{\text{in}}", True)


def test_text_is_for_a_terminal():
    text = solve("problems/comp433-a3.yaml", "text")
    lines = text.splitlines()
    assert not [line for line in lines if re.match(r"#|\*|\|", line) or "\\" in line or "$" in line]
    assert "C_out · C_in · K_h · K_w" in text and "C_outC_in" not in text
    # a continuation row's "=" stands under its line's "="
    first = next(i for i, line in enumerate(lines) if line.strip().startswith("H_out = W_out"))
    assert lines[first + 1].index("=") == lines[first].index("=") and lines[first + 1].strip().startswith("= ")
    # a matrix is a block of bracketed rows, aligned, one per matrix row
    rows = [line for line in lines if re.fullmatch(r" +(input = )?\[ [\d ]+ \]", line)]
    assert len(rows) >= 5 and len({line.index("[") for line in rows[:5]}) == 1
    assert max(map(len, (line for line in lines if line.startswith("    ")))) < 160


def test_a_transposed_convolution_marks_the_cells_each_step_changed(tmp_path):
    """Cell (i, j) times the kernel lands on rows i*S + a*D, columns j*S + b*D: those are boxed."""
    stride, dilation, kernel = 2, 2, [[1, -1], [2, 3]]
    path = write_set(tmp_path, [{"id": "t", "kind": "conv_transpose2d",
                                 "given": {"input": [[1, 2], [3, 4]], "kernel": kernel,
                                           "stride": stride, "dilation": dilation}}])
    sums = re.findall(r"\\Sigma &= \\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", solve(path, "md"))
    assert len(sums) == 4
    for (i, j), body in zip([(0, 0), (0, 1), (1, 0), (1, 1)], sums):
        cells = [row.split("&") for row in body.split(r"\\")]
        boxed = {(r, c) for r, row in enumerate(cells) for c, cell in enumerate(row) if r"\boxed" in cell}
        assert boxed == {(i * stride + a * dilation, j * stride + b * dilation) for a in range(2) for b in range(2)}
    text = solve(path, "text")
    assert "Σ = [" in text and "*" in text and "boxed" not in text


def test_a_quantity_named_in_words_is_never_run_into_its_factor():
    """FLOPs = 2MACs read as one word; a number or letter beside a quantity in words takes a dot."""
    from solver.math.nodes import Number, Product, Symbol
    from solver.math.notation import named_words
    from solver.math.printing import latex
    macs = named_words("macs", "MACs")
    assert latex(Product([Number(2), macs])) == r"2 \cdot \text{MACs}"
    assert latex(Product([macs, Symbol("B")])) == r"\text{MACs} \cdot B"
    assert latex(Product([Number(2), Symbol("B")])) == "2B"


def test_an_equation_says_each_member_once_and_drops_a_factor_of_one():
    from fractions import Fraction
    from solver.math.printing import members
    assert members(["x", Fraction(11, 6), Fraction(11, 6), 2]) == [r"\frac{11}{6}", "2"]
    md = solve("problems/comp433-a3.yaml", "md", "--problem", "Q1a")
    assert r"2 \cdot 0 - \left(3 - 1\right) - 1" in md and r"1\left(3 - 1\right)" not in md     # dilation 1
    assert r"- D\left(K - 1\right)" in md                                                        # the letter stays


def test_a_transposed_convolution_layer_is_named_in_words(tmp_path):
    path = write_set(tmp_path, [{"id": "g", "kind": "network", "given": {
        "input_shape": [16, 4, 4], "layers": [{"type": "conv_transpose2d", "out_channels": 8, "kernel_size": 4,
                                              "stride": 2, "padding": 1}]}}])
    for fmt in ("md", "text", "latex"):
        shown = solve(path, fmt)
        assert "transposed conv 4×4, 8" in shown.replace(r"\ensuremath{\times}", "×") and "^T" not in shown


def test_givens_are_labelled_as_the_derivation_names_them():
    md = solve("problems/comp433-a3.yaml", "md", "--problem", "Q7b")
    assert r"W_Q &= \begin{bmatrix}" in md and r"X &= \begin{bmatrix}" in md and r"\text{w q}" not in md
    assert r"W_Q x_{1}" in md                                    # the derivation's own name for it


def test_the_kinds_prose_writes_its_symbols_as_math():
    attention = solve("problems/comp433-a3.yaml", "latex", "--problem", "Q7b")
    assert r"$\alpha_{ij} = \exp(e_{ij})" in attention and r"\ensuremath{\alpha}\_ij" not in attention
    network = solve("problems/cpen455-hw2.yaml", "latex", "--problem", "2.1")
    assert r"$(C_{\text{in}}/g) \cdot K_h \cdot K_w$" in network and r"C\_in" not in network


def test_a_key_lists_the_answers_in_the_order_the_problem_asks_them(tmp_path):
    source = tmp_path / "order.yaml"
    asks = [["output_size", "output"], ["output", "output_size"]]
    source.write_text(yaml.safe_dump({"title": "T", "problems": [
        {"id": f"p{n}", "kind": "conv2d", "ask": ask,
         "given": {"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "kernel": [[1, 0], [0, 1]]}}
        for n, ask in enumerate(asks)]}))
    result = run_solver("sheet", source, "--key", "--format", "md")
    assert result.returncode == 0, result.stderr
    for section, ask in zip(result.stdout.split("## Problem")[1:], asks):
        labels = {"output": "Y &=", "output_size": "H_{\\text{out}}"}
        positions = [section.index(labels[name]) for name in ask]
        assert positions == sorted(positions), (ask, section)


def test_a_problem_heading_and_a_problems_last_answer_line_are_not_left_alone_on_a_page(tmp_path):
    """A key put a problem's heading at the foot of a page and its answers on the next; a problem sheet
    put a problem's last answer line alone on a new page."""
    problems = [{"id": f"P{k}", "kind": "rnn", "given": {"x": [1, 2], "w_in": 0.5, "w_hh": 0.5, "target": 1},
                 "ask": ["loss", "grad_w_in", "grad_w_hh"]} for k in (1, 2)]
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump({"title": "t", "problems": problems}))
    for mode in ("--key", "--problems", "--solutions"):
        sheet = run_solver("sheet", path, mode, "--format", "latex").stdout
        assert sheet.count(r"\Needspace{12\baselineskip}\section*{Problem") == 2
    blanks = run_solver("sheet", path, "--problems", "--format", "latex").stdout.split(r"\hrulefill")[1:]
    assert [r"\nopagebreak" in blank.split(r"\vspace")[0] for blank in blanks] == [False, True, False] * 2
