"""A drawn graph (core.model.Diagram) laid out for the templates: left to right by depth.

Each vertex sits in the column of its depth (an input at 0, any other vertex one past its
deepest input). A wire that skips columns passes through a bend point in each column it
crosses, which takes a row there like a vertex, so that no wire runs through a vertex. The
rows of each column are ordered by the barycentre of their neighbours' rows, sweeping right
and left a few times and keeping the order with the fewest crossings. Columns are spaced by
the widths of the labels between them (estimated from the printed math), so the templates
only write what this places: TikZ for LaTeX, a listing for text. Mermaid lays out its own
diagram; it takes the labels from here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..core.prose import math_to_text
from ..math.printing import latex

SWEEPS = 8
ROW = 1.4                 # cm between the centres of two rows
DIGIT = 0.19              # cm a digit of a vertex's \small math takes, about
LABEL_DIGIT = 0.155       # cm a digit of a wire's \footnotesize label takes
PAD = 0.3                 # cm inside a vertex's frame
GAP = 0.5                 # cm of bare wire beside a wire's labels
LEAD = 1.2                # cm of the wire that leaves an output, at least
SHIFT = 0.15              # labels this far along a wire from its middle, away from where wires meet or part
STEEP = 0.35               # a column's gap at least this times the rise of a wire across it


@dataclass
class Placed:
    id: str
    name: str
    operation: str | None
    gate: str | None
    x: float = 0.0
    y: float = 0.0
    column: int = 0
    width: float = 0.0


@dataclass
class Drawn:
    """A wire as drawn: from a vertex through bend points (x, y) to a vertex, or, for an output's
    own wire, to a point right of it (`target` None)."""
    source: str
    target: str | None
    value: str
    gradient: str
    names: tuple = ()         # the two ends' names as printed (the output's own wire: its name alone)
    bends: list = field(default_factory=list)
    end: tuple | None = None
    at: float = 0.5           # where along its first segment its labels sit: away from where wires meet


@dataclass
class Picture:
    vertices: list[Placed]
    wires: list[Drawn]
    width: float
    height: float


def printed(fmt: str):
    """A math value as the format prints it: LaTeX for LaTeX, Unicode text elsewhere."""
    if fmt == "latex":
        return latex
    return lambda value: math_to_text(latex(value))


def length(value) -> int:
    """About how many digits wide a math value prints (its Unicode text's characters)."""
    return len(math_to_text(latex(value))) if value is not None else 0


def vertex_width(*values) -> float:
    return max(map(length, values)) * DIGIT + PAD


def label_width(*values) -> float:
    """The room a wire needs for its labels, bare wire included."""
    return max(map(length, values)) * LABEL_DIGIT + GAP


def laid_out(diagram, fmt: str) -> Picture:
    """The diagram placed: every vertex's centre, every wire's bend points and labels (cm)."""
    show = printed(fmt)
    ids = [v.id for v in diagram.vertices]
    feeds = {i: [] for i in ids}
    inputs = {i: [] for i in ids}
    for w in diagram.wires:
        feeds[w.source].append(w.target)
        inputs[w.target].append(w.source)
    depth = {}
    for v in diagram.vertices:                  # topological order
        depth[v.id] = 1 + max((depth[s] for s in inputs[v.id]), default=-1)
    for i in ids:                               # an input just left of its first consumer
        if not inputs[i] and feeds[i]:
            depth[i] = min(depth[t] for t in feeds[i]) - 1
    columns = [[] for _ in range(max(depth.values()) + 1)]
    for i in ids:
        columns[depth[i]].append(i)
    # bend points: ("bend", wire index, column)
    chains = []
    for k, w in enumerate(diagram.wires):
        bends = [("bend", k, c) for c in range(depth[w.source] + 1, depth[w.target])]
        for b in bends:
            columns[b[2]].append(b)
        chains.append([w.source, *bends, w.target])
    left = {}                                   # each item's neighbours one column to the left / right
    right = {}
    for chain in chains:
        for a, b in zip(chain, chain[1:]):
            right.setdefault(a, []).append(b)
            left.setdefault(b, []).append(a)
    columns = ordered(columns, left, right)
    row = rows(columns, left, right)

    def shown(value):
        return None if value is None else show(value)
    vertices = {v.id: Placed(v.id, show(v.name), shown(v.operation), shown(v.gate), column=depth[v.id],
                             width=vertex_width(v.name, v.gate))
                for v in diagram.vertices}
    outputs = [v for v in diagram.vertices if not feeds[v.id]]
    widths = [max((vertices[i].width for i in column if i in vertices), default=0.0) for column in columns]
    gaps = [GAP] * len(columns)             # the room right of each column, for its wires' labels
    at = {}                                     # where along its first segment a wire's labels sit
    for k, w in enumerate(diagram.wires):
        alone_in = len(chains[k]) > 2 or len(inputs[w.target]) == 1      # the only wire into the next item
        alone_out = len(feeds[w.source]) == 1
        at[k] = 0.5 if alone_in == alone_out else 0.5 + SHIFT if alone_in else 0.5 - SHIFT
        c = depth[w.source]
        rise = abs(row[chains[k][1]] - row[w.source]) * ROW
        room = (label_width(w.value, w.gradient) - GAP) * (1 + abs(at[k] - 0.5)) + GAP
        gaps[c] = max(gaps[c], room, STEEP * rise)
    for v in outputs:
        c = depth[v.id]
        gaps[c] = max(gaps[c], label_width(v.value, v.gradient))
    xs, x = [], 0.0
    for c, width in enumerate(widths):
        xs.append(x + width / 2)
        x += width + gaps[c]
    for i, v in vertices.items():
        v.x, v.y = xs[v.column], -row[i] * ROW
    wires = []
    for k, w in enumerate(diagram.wires):
        bends = [(xs[b[2]], -row[b] * ROW) for b in chains[k][1:-1]]
        wires.append(Drawn(w.source, w.target, show(w.value), show(w.gradient),
                           (vertices[w.source].name, vertices[w.target].name), bends, at=at[k]))
    for v in outputs:
        placed = vertices[v.id]
        lead = max(LEAD, gaps[placed.column] + GAP)
        wires.append(Drawn(v.id, None, show(v.value), show(v.gradient), (placed.name,),
                           end=(placed.x + placed.width / 2 + lead, placed.y)))
    height = (max(row.values()) - min(row.values()) + 1) * ROW
    return Picture(list(vertices.values()), wires, x, height)


def rows(columns: list[list], left: dict, right: dict) -> dict:
    """Each item's row (a float, 0 at the top): in its column's order, a row apart at least, each
    as near the mean row of its neighbours as that allows (sweeping right and left), so that
    wires run as straight as they can."""
    row = {item: r - (len(column) - 1) / 2 for column in columns for r, item in enumerate(column)}
    for k in range(SWEEPS):
        neighbours = left if k % 2 == 0 else right
        for column in (columns if k % 2 == 0 else columns[::-1]):
            wanted = [sum(row[n] for n in neighbours[i]) / len(neighbours[i]) if neighbours.get(i) else row[i]
                      for i in column]
            packed = []
            for r in wanted:
                packed.append(r if not packed else max(r, packed[-1] + 1))
            shift = sum(w - p for w, p in zip(wanted, packed)) / len(packed)
            for i, p in zip(column, packed):
                row[i] = p + shift
    return row


def ordered(columns: list[list], left: dict, right: dict) -> list[list]:
    """Each column's items ordered by the barycentre of their neighbours' positions, sweeping
    right then left; the order with the fewest crossings found."""
    def crossings(order):
        where = {item: r for column in order for r, item in enumerate(column)}
        count = 0
        for column in order:
            pairs = [(where[item], where[n]) for item in column for n in right.get(item, [])]
            count += sum(1 for a in range(len(pairs)) for b in range(a + 1, len(pairs))
                         if (pairs[a][0] - pairs[b][0]) * (pairs[a][1] - pairs[b][1]) < 0)
        return count

    def sweep(order, neighbours, indices):
        order = [list(column) for column in order]
        for c in indices:
            where = {item: r for column in order for r, item in enumerate(column)}
            def centre(item, r):
                found = [where[n] for n in neighbours.get(item, []) if n in where]
                return (sum(found) / len(found) if found else r, r)
            order[c] = [item for _, item in sorted((centre(item, r), item) for r, item in enumerate(order[c]))]
        return order

    best, fewest = columns, crossings(columns)
    order = columns
    for k in range(SWEEPS):
        if k % 2 == 0:
            order = sweep(order, left, range(1, len(order)))
        else:
            order = sweep(order, right, range(len(order) - 2, -1, -1))
        found = crossings(order)
        if found < fewest:
            best, fewest = order, found
    return best


MERMAID_ENTITIES = {"#": "#35;", '"': "#quot;", "&": "#amp;", "<": "#lt;", ">": "#gt;", "|": "#124;", "`": "#96;"}


def mermaid_text(text: str) -> str:
    """Text for a quoted Mermaid label: the characters its grammar or its HTML would take as markup, as
    Mermaid's entity codes (#quot; ...)."""
    return "".join(MERMAID_ENTITIES.get(c, c) for c in str(text))
