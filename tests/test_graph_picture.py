"""graph's picture: the graph drawn, each wire's value and gradient, in LaTeX (TikZ, compiled by
pdflatex, within the page), in Markdown (a Mermaid flowchart, read back by a parser-level check
written here and parsed by Mermaid's own parser, tests/mermaid) and in HTML (inline SVG); the
values and gradients it shows against PyTorch's autograd, on the shipped sheet and on random
programs of up to 30 nodes."""
import math
import random
import re
from pathlib import Path

import pytest
import yaml

from conftest import IN_CI, ROOT, optional_module, require_module, require_program, run_solver
from test_graph import autograd
from test_graph_tensors import autograd as tensor_autograd
from test_pdf import compile_sheet, overfull_boxes, pdf_text

torch = optional_module("torch")
SHEET = ROOT / "problems" / "backprop-graphs.yaml"
INPUTS = ("x", "y", "z", "w", "b")
# One primitive operation per line, so that every node is a line autograd names.
OPERATIONS = ("A + B", "A - B", "A * B", "tanh(A)", "sigmoid(A)", "max(A, B)", "-A", "0.5 * A", "A * A")


def random_program(rng, nodes: int) -> dict:
    """A program of `nodes` lines, one operation each, every line read by a later one: each line
    reads a name nothing has read yet (else any earlier one) and any earlier name (fan-out); the
    names left unread at the end are added up."""
    inputs = list(INPUTS[:rng.randint(2, len(INPUTS))])
    names, unread, lines = list(inputs), [], []
    while len(lines) < nodes:
        last = len(lines) == nodes - 1
        if last and len(unread) > 1 or len(unread) > 2 and rng.random() < 0.3:
            a, b, template = unread.pop(0), unread.pop(0), "A + B"
        else:
            a = unread.pop(0) if unread and rng.random() < 0.6 else rng.choice(names)
            b, template = rng.choice(names), rng.choice(OPERATIONS)
        if last and unread:
            a, b, template = a, unread.pop(), "A + B"
        target = "f" if last else f"h{len(lines) + 1}"
        lines.append(f"{target} = {template.replace('A', a).replace('B', b)}")
        unread = [n for n in unread if n not in (a, b)] + [target]
        names.append(target)
    used = [n for n in inputs if any(re.search(rf"\b{n}\b", line.split("=", 1)[1]) for line in lines)]
    return {"program": lines, "values": {n: round(rng.uniform(-2, 2), 1) or 0.5 for n in used}}


def readable(given) -> bool:
    """Does the kind take it (no overflow, every line used)?"""
    from solver.core.errors import FieldError
    from solver.kinds import get_kind
    kind = get_kind("graph")
    try:
        kind.validate(kind.read(given))
    except FieldError:
        return False
    return True


def programs(count: int, nodes: int, seed: str) -> list[dict]:
    rng, found = random.Random(seed), []
    while len(found) < count:
        given = random_program(rng, nodes)
        if readable(given):
            found.append(given)
    return found


LARGE = programs(4, 30, "picture-30") + programs(4, 12, "picture-12")


def picture(given):
    """The diagram of the graph step of `given` solved."""
    from solver.kinds import get_kind
    kind = get_kind("graph")
    read = kind.read(given)
    steps = kind.derive(read, kind.compute(read))
    drawn = [step.diagram for step in steps if step.diagram is not None]
    assert len(drawn) == 1
    return drawn[0]


def number(value) -> float:
    return float(value.x)


def test_the_random_programs_have_30_nodes_fan_out_and_depth():
    from solver.kinds import get_kind
    kind = get_kind("graph")
    read = kind.read(LARGE[0])
    assert len(read.program.nodes) == 30
    uses = [a for node in read.program.nodes for a in node.args if isinstance(a, str)]
    assert len(uses) > len(set(uses))                                  # a value feeds several nodes
    drawn = picture(LARGE[0])
    assert len(drawn.vertices) == 30 + len(LARGE[0]["values"])


@pytest.mark.parametrize("given", LARGE + [yaml.safe_load(SHEET.read_text())["problems"][i]["given"]
                                           for i in range(6)],
                         ids=[f"random{i}" for i in range(len(LARGE))] + [f"G.{i + 1}" for i in range(6)])
def test_the_picture_shows_autograds_values_and_gradients(given):
    """Every vertex's value and gradient, each wire's value (its source's) and the gradients on the
    wires out of a value, which add up to its gradient: all as torch's autograd finds them."""
    expected = autograd(given)
    drawn = picture(given)
    named = {v.id: v for v in drawn.vertices}
    compared = 0
    for name, value in given["values"].items():
        expected[f"value[{name}]"] = value
    for v in drawn.vertices:
        if f"grad[{v.id}]" in expected:              # an input or a node autograd names (not an unnamed n_1)
            assert number(v.value) == pytest.approx(expected[f"value[{v.id}]"], rel=1e-6, abs=1e-9), v.id
            assert number(v.gradient) == pytest.approx(expected[f"grad[{v.id}]"], rel=1e-6, abs=1e-9), v.id
            compared += 1
    for w in drawn.wires:
        assert number(w.value) == number(named[w.source].value)
    for v in drawn.vertices:
        leaving = [number(w.gradient) for w in drawn.wires if w.source == v.id]
        if leaving and f"grad[{v.id}]" in expected:
            assert sum(leaving) == pytest.approx(expected[f"grad[{v.id}]"], rel=1e-6, abs=1e-9), v.id
    assert compared >= len(given["values"]) + 1


@pytest.mark.parametrize("given", LARGE[:2], ids=["random0", "random1"])
def test_each_wire_carries_its_targets_gradient_times_the_local_one(given):
    """A wire's gradient is the gradient at its target times the target's derivative by its source
    (torch.autograd.grad at each node, independently of our local gradients)."""
    t = require_module("torch")
    env = {n: t.tensor(float(v), dtype=t.float64, requires_grad=True) for n, v in given["values"].items()}
    scope = {"__builtins__": {}, "tanh": t.tanh, "sigmoid": t.sigmoid, "max": t.maximum}
    for line in given["program"]:
        target, text = (part.strip() for part in line.split("=", 1))
        env[target] = eval(text, scope, env)          # the test's own program text
        env[target].retain_grad()
    env["f"].backward()
    texts = dict(tuple(part.strip() for part in line.split("=", 1)) for line in given["program"])
    drawn = picture(given)
    pairs = {(w.source, w.target) for w in drawn.wires}
    for source, target in pairs:
        # the target's line again on fresh leaves: its derivative by this input alone
        leaves = {n: x.detach().clone().requires_grad_() for n, x in env.items()}
        local, = t.autograd.grad(eval(texts[target], scope, leaves), leaves[source])
        carried = sum(number(w.gradient) for w in drawn.wires if (w.source, w.target) == (source, target))
        assert carried == pytest.approx((env[target].grad * local).item(), rel=1e-6, abs=1e-9), (source, target)


# ---- Mermaid ------------------------------------------------------------------------

MERMAID_BLOCK = re.compile(r"```mermaid\n(.*?)```", re.S)
IDENTIFIER = r"[A-Za-z][A-Za-z0-9_]*"
LABEL = r'"([^"]*)"'
NODE = re.compile(rf"({IDENTIFIER})\[{LABEL}\]$")
EDGE = re.compile(rf"({IDENTIFIER}) -->\|{LABEL}\| ({IDENTIFIER})(?:\(\[{LABEL}\]\))?$")
# What a quoted label must not hold raw: its quote, and what Mermaid or its HTML takes as markup.
UNESCAPED = re.compile(r'[<>`|]|#(?![a-z]+;|\d+;)|&')


def mermaid_graphs(markdown: str) -> list[dict]:
    """Each Mermaid block read as Mermaid's flowchart grammar takes it: the `flowchart LR` header,
    then node statements ID["label"] and edge statements A -->|"label"| B (B may be declared on
    the edge, B(["label"])); ids unique, every edge's ends declared, labels quoted and escaped.
    Returns {nodes: {id: label}, edges: [(from, to, label)]} for each block."""
    found = []
    for block in MERMAID_BLOCK.findall(markdown):
        lines = [line.strip() for line in block.strip().split("\n")]
        assert lines[0] == "flowchart LR", lines[0]
        nodes, edges = {}, []
        for line in lines[1:]:
            if node := NODE.match(line):
                assert node[1] not in nodes, f"node {node[1]} declared twice"
                nodes[node[1]] = node[2]
            elif edge := EDGE.match(line):
                source, label, target, declared = edge.groups()
                if declared is not None:
                    assert target not in nodes, f"node {target} declared twice"
                    nodes[target] = declared
                edges.append((source, target, label))
            else:
                raise AssertionError(f"not a Mermaid node or edge statement: {line!r}")
        for source, target, _ in edges:
            assert source in nodes and target in nodes, (source, target)
        for label in [*nodes.values(), *(label for _, _, label in edges)]:
            assert not UNESCAPED.search(label), label
        found.append({"nodes": nodes, "edges": edges})
    return found


def test_the_mermaid_check_refuses_what_mermaid_would():
    good = '```mermaid\nflowchart LR\n    v_x["x"]\n    v_q["q"]\n    v_x -->|"1 / 2"| v_q\n```\n'
    assert mermaid_graphs(good)[0]["edges"] == [("v_x", "v_q", "1 / 2")]
    for bad in (good.replace("flowchart LR", "graph TD"), good.replace('v_x -->', 'v_y -->'),
                good.replace('v_q["q"]', 'v_q["q<b>"]'), good.replace('v_q["q"]', 'v_x["q"]'),
                good.replace('"1 / 2"', '"1 | 2"'), good.replace("-->", "->")):
        with pytest.raises(AssertionError):
            mermaid_graphs(bad)


MERMAID = ROOT / "tests" / "mermaid"


def mermaid_parses(diagrams: list[str]) -> list:
    """Mermaid's own parser (tests/mermaid, installed by `npm ci --prefix tests/mermaid`) on each
    diagram: None where it parses, else Mermaid's error."""
    import json
    import subprocess
    node = require_program("node")
    if not (MERMAID / "node_modules" / "mermaid").is_dir():
        if IN_CI:
            pytest.fail("Mermaid is not installed; CI must run `npm ci --prefix tests/mermaid` (see .ci/run)")
        pytest.skip("Mermaid is not installed (npm ci --prefix tests/mermaid)")
    result = subprocess.run([node, MERMAID / "parse.mjs"], input=json.dumps(diagrams), capture_output=True,
                            text=True, timeout=300, cwd=MERMAID)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_mermaids_own_parser_takes_every_diagram_and_refuses_a_broken_one(tmp_path):
    path = tmp_path / "large.yaml"
    path.write_text(yaml.safe_dump({"title": "Large graphs", "problems": [
        {"id": f"L{i}", "kind": "graph", "given": given} for i, given in enumerate(LARGE + TWINS)]}))
    diagrams = []
    for sheet in (SHEET, path):
        result = run_solver("sheet", sheet, "--format", "md")
        assert result.returncode == 0, result.stderr
        diagrams += MERMAID_BLOCK.findall(result.stdout)
    diagrams += MERMAID_BLOCK.findall((ROOT / "README.md").read_text())
    assert len(diagrams) >= 7 + len(LARGE) + 1
    broken = diagrams[0].replace('["x"]', '["x"y"]')           # a quote left in a label
    found = mermaid_parses(diagrams + [broken])
    assert found[:-1] == [None] * len(diagrams) and found[-1] is not None


def test_mermaid_labels_are_escaped():
    from solver.render.diagram import mermaid_text
    assert mermaid_text('a "b" <c> | #d & `e`') == "a #quot;b#quot; #lt;c#gt; #124; #35;d #amp; #96;e#96;"


def floats(label: str) -> list[float]:
    return [float(part.replace("−", "-")) for part in label.split(" / ")]


def test_the_sheets_mermaid_diagrams_are_valid_and_agree_with_autograd():
    result = run_solver("sheet", SHEET, "--format", "md")
    assert result.returncode == 0, result.stderr
    graphs = mermaid_graphs(result.stdout)
    problems = yaml.safe_load(SHEET.read_text())["problems"]
    assert len(graphs) == len(problems)
    for problem, graph in zip(problems[:6], graphs):              # G.7 is in letters
        expected = autograd(problem["given"])
        for source, target, label in graph["edges"]:
            value, gradient = floats(label)
            name = source.removeprefix("v_")
            if f"value[{name}]" in expected:
                assert value == pytest.approx(expected[f"value[{name}]"], rel=1e-5), (problem["id"], label)
            if target.startswith("out_"):                          # the output's own wire: its upstream
                assert gradient == pytest.approx(float(problem["given"].get("upstream", 1)))
        declared = {node.removeprefix("v_") for node in graph["nodes"] if node.startswith("v_")}
        assert set(problem["given"]["values"]) <= declared


def test_a_large_programs_mermaid_diagram_is_valid(tmp_path):
    path = tmp_path / "large.yaml"
    path.write_text(yaml.safe_dump({"title": "Large graphs", "problems": [
        {"id": f"L{i}", "kind": "graph", "given": given} for i, given in enumerate(LARGE)]}))
    result = run_solver("sheet", path, "--format", "md")
    assert result.returncode == 0, result.stderr
    graphs = mermaid_graphs(result.stdout)
    assert len(graphs) == len(LARGE)
    assert len(graphs[0]["nodes"]) == 30 + len(LARGE[0]["values"]) + 1      # and the output's end


# ---- TikZ ---------------------------------------------------------------------------

def layout(given):
    from solver.render.diagram import laid_out
    return laid_out(picture(given), "latex")


@pytest.mark.parametrize("given", LARGE, ids=[f"random{i}" for i in range(len(LARGE))])
def test_a_wide_picture_is_cut_into_parts_that_fit_and_lose_nothing(given):
    """Parts of at most PART_WIDTH (then scaled to the text width: by 0.7 at worst), each vertex in
    one part, each wire's labels drawn once, and a wire cut between parts named at both cuts."""
    from solver.render.diagram import PART_WIDTH
    drawn = layout(given)
    for part in drawn.parts:
        assert max(v.x + v.width / 2 for v in part.vertices) - min(v.x - v.width / 2 for v in part.vertices) \
            <= PART_WIDTH
    assert sorted(v.id for part in drawn.parts for v in part.vertices) == sorted(v.id for v in drawn.vertices)
    labelled = [(p.value, p.gradient) for part in drawn.parts for p in part.paths if p.value is not None]
    assert sorted(labelled) == sorted((w.value, w.gradient) for w in drawn.wires)
    if len(drawn.parts) > 1:
        assert any(p.goes_to for p in drawn.parts[0].paths) and any(p.came_from for p in drawn.parts[1].paths)


def test_the_sheets_pictures_are_not_cut():
    problems = yaml.safe_load(SHEET.read_text())["problems"]
    assert [len(layout(problem["given"]).parts) for problem in problems] == [1] * len(problems)
    assert len(layout(LARGE[0]).parts) > 1


@pytest.mark.tex
def test_the_sheets_pictures_compile_within_the_page(tmp_path):
    pdf, log = compile_sheet(SHEET, "solutions", tmp_path)
    assert overfull_boxes(log) == []
    tex = (tmp_path / f"{SHEET.stem}-solutions.tex").read_text()
    assert tex.count(r"\begin{tikzpicture}") == len(yaml.safe_load(SHEET.read_text())["problems"])   # one part each
    assert re.search(r"0\.731059\s+1\b", pdf_text(pdf))          # the neuron's output wire: value over gradient


def assert_compile_within_the_page(givens, tmp_path):
    """A sheet of these graph problems compiles with no overfull box."""
    path = tmp_path / "graphs.yaml"
    path.write_text(yaml.safe_dump({"title": "Graphs", "problems": [
        {"id": f"P{i}", "kind": "graph", "given": given} for i, given in enumerate(givens)]}))
    _, log = compile_sheet(path, "solutions", tmp_path)
    assert overfull_boxes(log) == []


@pytest.mark.tex
def test_large_random_graphs_compile_within_the_page(tmp_path):
    assert_compile_within_the_page(LARGE, tmp_path)


def test_key_and_problem_sheets_draw_nothing():
    for mode in ("key", "problems"):
        result = run_solver("sheet", SHEET, f"--{mode}", "--format", "latex")
        assert result.returncode == 0 and "tikz" not in result.stdout, result.stderr


def test_the_readme_shows_g1s_picture_as_the_sheet_writes_it():
    result = run_solver("solve", SHEET, "--problem", "G.1", "--format", "md")
    assert result.returncode == 0, result.stderr
    written = MERMAID_BLOCK.findall(result.stdout)
    assert len(written) == 1 and written[0] in MERMAID_BLOCK.findall((ROOT / "README.md").read_text())
    mermaid_graphs((ROOT / "README.md").read_text())


# ---- HTML: inline SVG -----------------------------------------------------------------

def test_the_html_sheet_draws_each_graph_as_well_formed_svg():
    """Each picture is an <svg> an XML parser reads, with a frame per vertex and every wire's labels
    (the output's own wire's value autograd's output)."""
    import xml.etree.ElementTree as ElementTree
    from collections import Counter
    from solver.render.diagram import laid_out
    result = run_solver("sheet", SHEET, "--format", "html")
    assert result.returncode == 0, result.stderr
    svgs = re.findall(r"<svg .*?</svg>", result.stdout, re.S)
    problems = yaml.safe_load(SHEET.read_text())["problems"]
    assert len(svgs) == len(problems)
    namespace = "{http://www.w3.org/2000/svg}"
    for problem, svg in zip(problems, svgs):
        root = ElementTree.fromstring(svg)
        drawn = laid_out(picture(problem["given"]), "html")
        assert len(root.findall(f"{namespace}rect")) == len(drawn.vertices)
        texts = Counter(t.text for t in root.findall(f"{namespace}text"))
        paths = [p for part in drawn.parts for p in part.paths if p.value is not None]
        assert not Counter(label for p in paths for label in (p.value, p.gradient)) - texts, problem["id"]
        if problem["id"] != "G.7":                                   # G.7 is in letters
            output = next(p for p in paths if isinstance(p.stops[-1], tuple) and not p.goes_to)
            tensors = any(isinstance(v, list) for v in problem["given"]["values"].values())
            expected = (tensor_autograd if tensors else autograd)(problem["given"])["output"]
            if expected.ndim == 0 if tensors else True:              # a tensor output's wire shows its shape
                assert float(output.value) == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize("lms", ["moodle", "canvas"])
def test_lms_exports_leave_the_picture_out(lms, tmp_path):
    """An LMS's sanitizer strips inline SVG and would leave its labels as loose text in the feedback."""
    result = run_solver("export", SHEET, "--to", lms, "--output", tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    import zipfile
    written = tmp_path / f"{SHEET.stem}-{lms}.{'zip' if lms == 'canvas' else 'xml'}"
    if lms == "canvas":
        with zipfile.ZipFile(written) as archive:
            exported = "".join(archive.read(name).decode() for name in archive.namelist())
    else:
        exported = written.read_text()
    assert "Backward pass" in exported and "svg" not in exported.lower()


@pytest.mark.tex
def test_a_picture_wider_than_tex_can_measure_compiles(tmp_path):
    """A graph in letters whose wires carry long closed forms is drawn in parts that start
    far to the right (here past 500 cm, beyond TeX's largest dimension, about 575 cm, when
    each part was drawn where it stands in the whole picture); each part is drawn from its
    own left edge. Drawn from the generated corpus (seed 5), where it failed to compile."""
    path = tmp_path / "wide.yaml"
    path.write_text(yaml.safe_dump({"title": "Wide", "problems": [{"id": "w", "kind": "graph", "given": {
        "program": ["h1 = log(1 + square(x)) - w", "h2 = h1 * sigmoid(h1) + h1", "h3 = exp(tanh(h2)) * w",
                    "f = 0.5 * h3 - b0^2 / (1 + b0^2)"],
        "values": {"x": "x", "w": "w", "b0": "b0"}}}]}))
    tex = run_solver("sheet", path, "--solutions", "--format", "latex").stdout
    starts = [float(x) for x in re.findall(r"\\node\[vertex\] \([^)]*\) at \((-?[\d.]+),", tex)]
    assert starts and max(starts) < 100, starts
    compile_sheet(path, "solutions", tmp_path)


# ---- labels apart ----------------------------------------------------------------------------

LABEL_CM = 0.32          # a \footnotesize label's height, inner sep included
DIGIT_CM = 0.155         # a \footnotesize digit's width
INNER_SEP_CM = 0.05      # TikZ's inner sep (1.5pt) between a wire and its label's text


def labelled_segment(path) -> tuple:
    """The segment of a wire, as drawn, that its labels sit on: its first, a twin's stretch beside the line."""
    return tuple(path.points[path.labelled:path.labelled + 2])


def along(segment, t) -> tuple:
    (x0, y0), (x1, y1) = segment
    return x0 + t * (x1 - x0), y0 + t * (y1 - y0)


def label_rectangles(path, at: float, grown: float = 0.0) -> list:
    """A wire's two labels as rectangles (corners) the way TikZ sets them at `at` along its labelled
    segment: sloped along it, the value above and the gradient below; each grown by `grown` cm."""
    from solver.core.prose import math_to_text
    (x0, y0), (x1, y1) = segment = labelled_segment(path)
    (cx, cy), (dx, dy) = along(segment, at), (x1 - x0, y1 - y0)
    size = math.hypot(dx, dy)
    ux, uy = dx / size, dy / size
    nx, ny = (-uy, ux) if ux >= 0 else (uy, -ux)
    rectangles = []
    for text, low in ((path.value, 0.0), (path.gradient, -LABEL_CM)):
        half = len(math_to_text(text)) * DIGIT_CM / 2 + grown
        rectangles.append([(cx + a * ux + b * nx, cy + a * uy + b * ny)
                           for a in (-half, half) for b in (low - grown, low + LABEL_CM + grown)])
    return rectangles


def drawn_labels(part) -> list[tuple]:
    """Each label of the part as drawn, with the index of its wire."""
    return [(k, rectangle) for k, path in enumerate(part.paths) if path.value is not None
            for rectangle in label_rectangles(path, path.at)]


def rectangles_meet(p, q) -> bool:
    """Separating axes: two rectangles meet unless one of their sides' directions separates them."""
    for poly in (p, q):
        for (xa, ya), (xb, yb) in ((poly[0], poly[1]), (poly[0], poly[2])):
            ax, ay = xb - xa, yb - ya
            pa, qa = [x * ax + y * ay for x, y in p], [x * ax + y * ay for x, y in q]
            if max(pa) <= min(qa) + 1e-9 or max(qa) <= min(pa) + 1e-9:
                return False
    return True


def wire_pieces(path) -> list[tuple]:
    """A wire as drawn, in straight pieces."""
    return list(zip(path.points, path.points[1:]))


def crosses(rectangle, piece) -> bool:
    """Separating axes: a segment meets a rectangle unless the rectangle's sides' directions or
    the segment's normal separate them."""
    (xa, ya), (xb, yb) = piece
    axes = [(x1 - x0, y1 - y0) for (x0, y0), (x1, y1) in ((rectangle[0], rectangle[1]), (rectangle[0], rectangle[2]))]
    for ax, ay in axes + [(ya - yb, xb - xa)]:
        pa, qa = [x * ax + y * ay for x, y in rectangle], [x * ax + y * ay for x, y in piece]
        if max(pa) <= min(qa) or max(qa) <= min(pa):
            return False
    return True


def label_overlaps(given) -> list[tuple]:
    """The pairs of wires (paths) whose labels overlap, part by part."""
    found = []
    for part in layout(given).parts:
        labels = drawn_labels(part)
        found += [(part.paths[k], part.paths[j]) for i, (k, a) in enumerate(labels) for j, b in labels[i + 1:]
                  if k != j and rectangles_meet(a, b)]
    return found


def test_no_two_wire_labels_overlap_in_the_sheets_pictures():
    """G.4's inputs each feed three nodes: their labels ran over each other (and in G.7, G.9, G.10)."""
    problems = yaml.safe_load(SHEET.read_text())["problems"]
    assert {problem["id"]: len(label_overlaps(problem["given"])) for problem in problems} \
        == {problem["id"]: 0 for problem in problems}


# ---- twin wires: two wires between the same two vertices (x * x) ----------------------------------

TWINS = [{"program": ["f = x * x"], "values": {"x": 3}},
         {"program": ["g = x - x"], "values": {"x": 0.123}},
         {"program": ["q = a * b", "f = q + q"], "values": {"a": 0.123, "b": -3.21}},
         {"program": ["h = x * x", "f = h * h + y"], "values": {"x": -1.37, "y": 0.5}}]
MIXED = [given for nodes in (8, 12, 16, 20, 24, 30) for given in programs(4, nodes, f"picture-mixed-{nodes}")]
SAMPLE_IDS = [f"twins{i}" for i in range(len(TWINS))] + [f"mixed{i}" for i in range(len(MIXED))]


def ends(path) -> tuple:
    return str(path.stops[0]), str(path.stops[-1])


def twins_of(part) -> list[tuple]:
    """The pairs of wires (paths) that join the same two stops."""
    return [(p, q) for i, p in enumerate(part.paths) for q in part.paths[i + 1:] if ends(p) == ends(q)]


def test_the_random_programs_have_twin_wires():
    assert sum(len(twins_of(part)) for given in MIXED for part in layout(given).parts) >= 20


def centre(stop, vertices) -> tuple:
    return next((v.x, v.y) for v in vertices if v.id == stop) if isinstance(stop, str) else stop


@pytest.mark.parametrize("given", TWINS + MIXED, ids=SAMPLE_IDS)
def test_twin_wires_run_apart_each_with_its_own_labels(given):
    """Twins run one each side of the line between their ends, along it where their labels sit and
    far enough apart for the two labels between them (they were one straight line, their labels
    on it); each wire's labels sit on its own stretch (where SVG writes them too) and overlap none
    of its twin's (twins cut between parts aside: see the test of cut wires)."""
    drawn = layout(given)
    for part in drawn.parts:
        for p, q in twins_of(part):
            (ax, ay), (bx, by) = (centre(stop, drawn.vertices) for stop in (p.stops[0], p.stops[-1]))
            size = math.hypot(bx - ax, by - ay)
            offsets = []
            for path in (p, q):
                (x0, y0), (x1, y1) = labelled_segment(path)
                assert (x1 - x0) * (by - ay) - (y1 - y0) * (bx - ax) == pytest.approx(0, abs=1e-9)    # parallel
                offsets.append(((bx - ax) * (y0 - ay) - (by - ay) * (x0 - ax)) / size)
                if path.value is not None:
                    assert path.label == pytest.approx(along(labelled_segment(path), path.at), abs=1e-9)
            assert offsets[0] * offsets[1] < 0 and abs(offsets[0] - offsets[1]) >= 2 * LABEL_CM, p.stops
    overlapping = [(p, q) for p, q in label_overlaps(given) if ends(p) == ends(q) and not p.goes_to]
    assert overlapping == []


@pytest.mark.parametrize("given", TWINS + MIXED, ids=SAMPLE_IDS)
def test_no_wire_runs_through_its_own_labels(given):
    """A label's text (its rectangle less TikZ's inner sep) is clear of its own wire: twins drawn as
    TikZ bends ran through the ends of their long labels, straight on a curve (6 characters on a
    1.3 cm wire did)."""
    for part in layout(given).parts:
        for path in part.paths:
            if path.value is not None:
                text = label_rectangles(path, path.at, -INNER_SEP_CM)
                assert not any(crosses(r, piece) for r in text for piece in wire_pieces(path)), path.stops


def test_twin_wires_in_each_format(tmp_path):
    """TikZ draws each twin apart with rounded corners, SVG as a polyline with two turns; Mermaid has
    both edges, each with its labels."""
    import xml.etree.ElementTree as ElementTree
    path = tmp_path / "twins.yaml"
    path.write_text(yaml.safe_dump({"title": "Twins", "problems": [
        {"id": f"T{i}", "kind": "graph", "given": given} for i, given in enumerate(TWINS)]}))
    pairs = len(TWINS) + 1                                            # the last has two pairs
    tex = run_solver("sheet", path, "--format", "latex").stdout
    twins = re.findall(r"\\draw\[->, rounded corners=[\d.]+pt\] \(v-\w+\) -- \(\S+\) -- node\[value", tex)
    assert len(twins) == 2 * pairs
    html = run_solver("sheet", path, "--format", "html").stdout
    lines = [p.get("points").split() for svg in re.findall(r"<svg .*?</svg>", html, re.S)
             for p in ElementTree.fromstring(svg).findall("{http://www.w3.org/2000/svg}polyline")]
    assert sum(len(points) == 4 for points in lines) == 2 * pairs
    graphs = mermaid_graphs(run_solver("sheet", path, "--format", "md").stdout)
    first = graphs[0]["edges"]                                   # f = x * x at x = 3
    assert first.count(("v_x", "v_f", "3 / 3")) == 2


@pytest.mark.tex
def test_twin_wires_compile_within_the_page(tmp_path):
    assert_compile_within_the_page(TWINS, tmp_path)


# ---- wires cut between parts ----------------------------------------------------------------

def test_the_random_programs_have_wires_cut_between_parts():
    assert sum(bool(path.goes_to and path.value) for given in MIXED for part in layout(given).parts
               for path in part.paths) >= 20


@pytest.mark.parametrize("given", MIXED, ids=[f"mixed{i}" for i in range(len(MIXED))])
def test_the_labels_of_wires_cut_between_parts_overlap_no_others(given):
    """A wire that goes on to the next part is drawn to the edge of its part, short of where it
    would go: its labels were placed along the whole wire, and ran over their neighbours'."""
    assert [(p.stops, q.stops) for p, q in label_overlaps(given) if p.goes_to or q.goes_to] == []


# ---- labels off other wires ----------------------------------------------------------------

@pytest.mark.parametrize("given", TWINS + MIXED, ids=SAMPLE_IDS)
def test_labels_lie_over_no_other_wire_where_a_place_along_their_own_is_clear(given):
    """A label that another wire runs through sits where every place its labels may take along
    their wire (ALONG) lies over a wire too, on other labels, or where its own wire turns into
    its text: labels were moved along only off other labels. Measured with a margin of 0.01 cm
    either way."""
    from solver.render.diagram import ALONG
    for part in layout(given).parts:
        pieces = {k: wire_pieces(path) for k, path in enumerate(part.paths)}

        def over_a_wire(k, rectangles) -> bool:
            return any(crosses(r, piece) for j, wire in pieces.items() if j != k for piece in wire for r in rectangles)
        labelled = {k: path for k, path in enumerate(part.paths) if path.value is not None}
        for k, path in labelled.items():
            if not over_a_wire(k, label_rectangles(path, path.at, -0.01)):
                continue
            others = [r for j, other in labelled.items() if j != k for r in label_rectangles(other, other.at)]
            clear = [t for t in ALONG
                     if not over_a_wire(k, grown := label_rectangles(path, t, 0.01))
                     and not any(rectangles_meet(r, other) for r in grown for other in others)
                     and not any(crosses(r, piece) for r in label_rectangles(path, t, 0.01 - INNER_SEP_CM)
                                 for piece in pieces[k])]
            assert clear == [], (path.stops, path.at)
