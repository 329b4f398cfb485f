"""A drawn graph (core.model.Diagram) laid out for the templates: left to right by depth.

Each vertex sits in the column of its depth (an input at 0, any other vertex one past its
deepest input). A wire that skips columns passes through a bend point in each column it
crosses, which takes a row there like a vertex, so that no wire runs through a vertex. The
rows of each column are ordered by the barycentre of their neighbours' rows, sweeping right
and left a few times and keeping the order with the fewest crossings. Columns are spaced by
the widths of the labels between them (estimated from the printed math). A picture wider
than the page is cut into parts of as many columns as fit across it, one under the other: a
wire cut there ends in the name of the vertex it goes to, and comes in again in the next part
from the name of the vertex it comes from. Twin wires (x * x: two wires between the same two
vertices) run apart, one each way: each leaves the straight line between the vertices and runs
beside it, straight where its labels sit, far enough from it for a label. A wire's labels sit
on its first segment (a twin's: beside the line) as drawn, part by part; where they would
overlap other labels or lie over another wire they move along it (ALONG), and columns move
apart while labels still overlap. The templates only write what this places: TikZ for LaTeX,
SVG for HTML, a listing for text. Mermaid lays out its own diagram; it takes the labels from here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.prose import math_to_text
from ..math.printing import latex

SWEEPS = 8
ROW = 1.4                 # cm between the centres of two rows
DIGIT = 0.19              # cm a digit of a vertex's \small math takes, about
LABEL_DIGIT = 0.155       # cm a digit of a wire's \footnotesize label takes
PAD = 0.3                 # cm inside a vertex's frame
GAP = 0.5                 # cm of bare wire beside a wire's labels
MIN_GAP = 1.3             # cm between two columns at least, so that short labels on slanted wires stay apart
LEAD = 1.2                # cm of the wire that leaves an output, at least
SHIFT = 0.15              # labels this far along a wire from its middle, away from where wires meet or part
STEEP = 0.35              # a column's gap at least this times the rise of a wire across it
PART_WIDTH = 24.0         # cm of columns one part of a picture holds at most (scaled to the text width)
ENTRY = 0.8               # cm of a wire that comes in from the part before
EXIT = 0.3                # cm short of the next column where a wire that goes on to the next part stops
TAG = 0.9                 # cm for the name written at such a wire's end
HEIGHT = {False: 0.55, True: 0.95}   # cm a vertex's frame is high: a name alone, a name over its gate
MARGIN = 0.45             # cm above and below a part for the labels of its outermost wires
HEAD = 0.18               # cm an arrowhead is long
LABEL_HEIGHT = 0.32       # cm a wire's \footnotesize label takes across the wire, inner sep included
INNER_SEP = 0.05          # cm of it between the wire and the text (TikZ's inner sep, 1.5pt)
WIDEN = 1.25              # a column's gap grows by this while labels in it overlap ...
SPACINGS = 5              # ... at most this many times (labels that overlap for want of rows stay so)
ALONG = (0.5, 0.35, 0.65, 0.25, 0.75, 0.2, 0.8)     # where along a wire its labels may sit, in that order
TWIN_OFFSET = LABEL_HEIGHT + 0.05   # cm a twin wire (x * x: two join the same vertices) runs beside the
TWIN_RUN = 0.3            # line between them, room for a label; cm along that line it takes to get there


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
    height: float = 0.0


@dataclass
class Drawn:
    """A wire: the vertices it joins (`target` None: an output's own wire), its labels as printed,
    and its ends' names as printed (the output's own wire: its name alone)."""
    source: str
    target: str | None
    value: str
    gradient: str
    names: tuple


@dataclass
class Path:
    """A wire as one part of the picture draws it: its stops, each a vertex's id or a point (x, y);
    its first segment's labels where the part holds its source (else None); the source's name where
    it comes in from the part before, the target's where it goes on to the part after."""
    stops: list
    value: str | None = None
    gradient: str | None = None
    at: float = 0.5           # where along its labelled segment the labels sit: away from where wires meet
    came_from: str | None = None
    goes_to: str | None = None
    twin: float = 0           # a twin wire's side of the line between its ends: 1 left, -1 right
    sizes: tuple = ()         # its labels' widths (cm): the value's, the gradient's
    points: list = ()         # its stops as points, its ends on its vertices' frames (for SVG)
    head: list = ()           # its arrowhead's corners

    @property
    def labelled(self) -> int:
        """Which of its segments its labels sit on: the first, or a twin's stretch beside the line."""
        return 1 if self.twin else 0

    @property
    def leg(self) -> tuple:
        """The segment its labels sit on, its two ends."""
        return tuple(self.points[self.labelled:self.labelled + 2])

    @property
    def label(self) -> tuple:
        """Where its labels sit: the point `at` along its labelled segment."""
        return point_along(self.leg, self.at)


@dataclass
class Part:
    """The columns of the picture that fit across the page: a picture of its own."""
    vertices: list
    paths: list
    box: tuple = ()           # (left, bottom, right, top), room for labels and names included


@dataclass
class Picture:
    vertices: list[Placed]
    wires: list[Drawn]
    parts: list[Part]


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


def label_sizes(*values) -> tuple:
    """How wide each label is (cm)."""
    return tuple(length(value) * LABEL_DIGIT for value in values)


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
    twin = twin_sides(diagram.wires)
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
                             width=vertex_width(v.name, v.gate), height=HEIGHT[v.gate is not None])
                for v in diagram.vertices}
    outputs = [v for v in diagram.vertices if not feeds[v.id]]
    widths = [max((vertices[i].width for i in column if i in vertices), default=0.0) for column in columns]
    gaps = [MIN_GAP] * len(columns)         # the room right of each column, for its wires' labels
    at = {}                                     # where along its first segment a wire's labels sit
    for k, w in enumerate(diagram.wires):
        alone_in = len(chains[k]) > 2 or len(set(inputs[w.target])) == 1    # the only line into the next item
        alone_out = len(set(feeds[w.source])) == 1
        at[k] = 0.5 if alone_in == alone_out else 0.5 + SHIFT if alone_in else 0.5 - SHIFT
        c = depth[w.source]
        rise = abs(row[chains[k][1]] - row[w.source]) * ROW
        room = (label_width(w.value, w.gradient) - GAP) * (1 + abs(at[k] - 0.5)) + GAP
        room += 2 * TWIN_RUN * abs(twin[k])    # a twin's labels sit between its turns
        gaps[c] = max(gaps[c], room, STEEP * rise)
    for v in outputs:
        c = depth[v.id]
        gaps[c] = max(gaps[c], label_width(v.value, v.gradient))
    def place(item):
        return position(item, vertices, xs, row)

    def column(item):
        return vertices[item].column if item in vertices else item[2]

    def part(a: int, b: int) -> Part:
        """Columns a to b drawn where they stand (xs; leads: how long each output's own wire is): each
        wire's stretch across them, cut where it goes on to another part."""
        left_edge, right_edge = xs[a] - widths[a] / 2, xs[b] + widths[b] / 2
        paths = []
        for k, w in enumerate(diagram.wires):
            chain = chains[k]
            inside = [i for i, item in enumerate(chain) if a <= column(item) <= b]
            if not inside:
                continue
            first, final = inside[0], inside[-1]
            stops = [chain[i] if chain[i] in vertices else place(chain[i]) for i in inside]
            path = Path(stops, twin=twin[k])
            if first > 0:                       # it comes in from the part before
                stops.insert(0, on_segment(place(chain[first - 1]), place(chain[first]), left_edge - ENTRY))
                path.came_from = vertices[w.source].name
            else:
                path.value, path.gradient, path.at = show(w.value), show(w.gradient), at[k]
                path.sizes = label_sizes(w.value, w.gradient)
            if final < len(chain) - 1:          # it goes on to the part after
                stops.append(on_segment(place(chain[final]), place(chain[final + 1]), right_edge + gaps[b] - EXIT))
                path.goes_to = vertices[w.target].name
            if twin[k]:
                stops[1:1] = beside(*(vertices.get(stop, stop) for stop in stops), twin[k])
            paths.append(path)
        untagged(paths)
        for v in outputs:
            placed = vertices[v.id]
            if a <= placed.column <= b:
                paths.append(Path([v.id, (placed.x + placed.width / 2 + leads[v.id], placed.y)],
                                  show(v.value), show(v.gradient), sizes=label_sizes(v.value, v.gradient)))
        for path in paths:
            traced(path, vertices)
        inside = [v for v in vertices.values() if a <= v.column <= b]
        drawn = [point for path in paths for point in path.points]
        xs_in = [x for x, _ in drawn] + [v.x + d * v.width / 2 for v in inside for d in (-1, 1)]
        ys_in = [y for _, y in drawn] + [v.y + d * v.height / 2 for v in inside for d in (-1, 1)]
        return Part(inside, paths, (min(xs_in) - TAG, min(ys_in) - MARGIN, max(xs_in) + TAG, max(ys_in) + MARGIN))

    for spacing in range(SPACINGS + 1):        # columns moved apart while labels between them overlap
        xs, total = centres(widths, gaps)
        for i, v in vertices.items():
            v.x, v.y = xs[v.column], -row[i] * ROW
        leads = {v.id: max(LEAD, gaps[depth[v.id]] + GAP) for v in outputs}
        parts = [part(a, b) for a, b in windows(xs, total, widths, max(leads.values()))]
        crowded = {vertices[path.stops[0]].column for drawn in parts for path in labels_placed(drawn.paths)}
        if not crowded or spacing == SPACINGS:
            break
        for c in crowded:
            gaps[c] *= WIDEN
    wires = [Drawn(w.source, w.target, show(w.value), show(w.gradient),
                   (vertices[w.source].name, vertices[w.target].name)) for w in diagram.wires]
    wires += [Drawn(v.id, None, show(v.value), show(v.gradient), (vertices[v.id].name,)) for v in outputs]
    return Picture(list(vertices.values()), wires, parts)


def windows(xs: list, total: float, widths: list, lead: float) -> list[tuple[int, int]]:
    """The first and last column of each part: as few parts as fit across the page, of about equal widths."""
    width = xs[-1] + widths[-1] / 2 + lead - (xs[0] - widths[0] / 2)
    count = math.ceil(width / PART_WIDTH)
    part_of = [min(count - 1, int(at_x * count / total)) for at_x in xs]
    return [(part_of.index(p), len(part_of) - 1 - part_of[::-1].index(p)) for p in sorted(set(part_of))]


def centres(widths: list, gaps: list) -> tuple[list, float]:
    """Each column's centre, left to right, and the width of them all with their gaps."""
    xs, total = [], 0.0
    for width, gap in zip(widths, gaps):
        xs.append(total + width / 2)
        total += width + gap
    return xs, total


def position(item, vertices: dict, xs: list, row: dict) -> tuple:
    """Where a vertex's centre or a bend point ("bend", wire, column) is."""
    return (vertices[item].x, vertices[item].y) if item in vertices else (xs[item[2]], -row[item] * ROW)


def twin_sides(wires: list) -> list[float]:
    """Each wire's side of the line between its vertices: 0, or where several wires join the same
    two vertices, spread from 1 (left) to -1 (right) so that each runs apart from the others."""
    twins = {}
    for k, w in enumerate(wires):
        twins.setdefault((w.source, w.target), []).append(k)
    side = [0.0] * len(wires)
    for group in twins.values():
        if len(group) > 1:
            for i, k in enumerate(group):
                side[k] = 1 - 2 * i / (len(group) - 1)
    return side


def beside(start, end, side: float) -> list[tuple]:
    """Where a twin wire turns between two stops (vertices or points): TWIN_RUN along the line
    between them from each end (from the vertices' frames), TWIN_OFFSET to the side of it."""
    a = (start.x, start.y) if isinstance(start, Placed) else start
    b = (end.x, end.y) if isinstance(end, Placed) else end
    (x0, y0) = on_frame(start, b) if isinstance(start, Placed) else a
    (x1, y1) = on_frame(end, a) if isinstance(end, Placed) else b
    size = math.hypot(x1 - x0, y1 - y0) or 1
    ux, uy = (x1 - x0) / size, (y1 - y0) / size
    ox, oy = -uy * side * TWIN_OFFSET, ux * side * TWIN_OFFSET
    return [(x0 + TWIN_RUN * ux + ox, y0 + TWIN_RUN * uy + oy), (x1 - TWIN_RUN * ux + ox, y1 - TWIN_RUN * uy + oy)]


def label_boxes(path: Path, at: float, inset: float = 0.0) -> list[list[tuple]]:
    """The corners of a path's two labels as TikZ sets them, sloped along its labelled segment:
    its value above, its gradient below, centred at the point `at` along it; `inset` in all round."""
    (x0, y0), (x1, y1) = path.leg
    size = math.hypot(x1 - x0, y1 - y0) or 1
    ux, uy = (x1 - x0) / size, (y1 - y0) / size
    nx, ny = (-uy, ux) if ux >= 0 else (uy, -ux)             # the side above the wire as it reads
    cx, cy = point_along(path.leg, at)
    boxes = []
    for width, (low, high) in zip(path.sizes, ((inset, LABEL_HEIGHT - inset), (inset - LABEL_HEIGHT, -inset))):
        half = width / 2 - inset
        boxes.append([(cx + a * ux + b * nx, cy + a * uy + b * ny) for a in (-half, half) for b in (low, high)])
    return boxes


def point_along(segment: tuple, at: float) -> tuple:
    (x0, y0), (x1, y1) = segment
    return x0 + (x1 - x0) * at, y0 + (y1 - y0) * at


def labels_placed(paths: list) -> list:
    """Each path's labels moved along it, where they would overlap those placed before or lie
    over another wire, to the first place with the fewest overlaps, then the fewest wires under
    them (its own too, where it turns: a twin's); the paths whose labels overlap others wherever
    they go. (Only those widen the columns: a wire under a label is most often one that crosses
    its wire, which no spacing moves away.)"""
    placed, crowded = [], []
    wires = [(path, segments(path)) for path in paths]
    for path in paths:
        if path.value is None:
            continue
        others = [wire for other, wire in wires if other is not path]
        options = [path.at] + [along for along in ALONG if along != path.at]
        found = {along: clash(path, along, placed, others) for along in options}
        path.at = min(options, key=found.get)                   # the first of the fewest
        if found[path.at][0]:
            crowded.append(path)
        placed += label_boxes(path, path.at)
    return crowded


def clash(path: Path, along: float, labels: list, wires: list) -> tuple[int, int]:
    """The path's labels `along` it: how many of the labels they overlap; how many of the wires
    (each its segments) run under them, and whether its own runs through their text."""
    boxes, text = label_boxes(path, along), label_boxes(path, along, INNER_SEP)
    return (sum(overlap(box, label) for box in boxes for label in labels),
            sum(any(overlap(box, segment) for box in boxes for segment in wire) for wire in wires)
            + any(overlap(box, segment) for box in text for segment in segments(path)))


def segments(path: Path) -> list:
    """The path's straight pieces, each its two ends."""
    return list(zip(path.points, path.points[1:]))


def overlap(shape, other) -> bool:
    """Whether two rectangles (four corners each, the first three spanning it) or a rectangle
    and a segment (its two ends) overlap: no side of either separates them."""
    for corners in (shape, other):
        for ax, ay in sides(corners):
            these = [x * ax + y * ay for x, y in shape]
            those = [x * ax + y * ay for x, y in other]
            if max(these) <= min(those) or max(those) <= min(these):
                return False
    return True


def sides(corners) -> list[tuple]:
    """The directions that may separate a shape from another: a rectangle's sides, across a segment."""
    (x0, y0), (x1, y1) = corners[:2]
    if len(corners) == 2:
        return [(y0 - y1, x1 - x0)]
    (x2, y2) = corners[2]
    return [(x1 - x0, y1 - y0), (x2 - x0, y2 - y0)]


def untagged(paths: list) -> None:
    """One name where several cut wires end (or start) at about the same place with the same name."""
    for side, end in (("came_from", 0), ("goes_to", -1)):
        seen = []
        for path in paths:
            name, y = getattr(path, side), path.stops[end][1] if isinstance(path.stops[end], tuple) else None
            if name is None or y is None:
                continue
            if any(name == other and abs(y - at) < ROW / 2 for other, at in seen):
                setattr(path, side, None)
            else:
                seen.append((name, y))


def traced(path: Path, vertices: dict) -> None:
    """The path's points, its ends on the frames of the vertices it joins; its arrowhead."""
    points = [(vertices[stop].x, vertices[stop].y) if isinstance(stop, str) else stop for stop in path.stops]
    if isinstance(path.stops[0], str):
        points[0] = on_frame(vertices[path.stops[0]], points[1])
    if isinstance(path.stops[-1], str):
        points[-1] = on_frame(vertices[path.stops[-1]], points[-2])
    path.points = points
    (xa, ya), (xb, yb) = points[-2], points[-1]
    size = math.hypot(xb - xa, yb - ya) or 1
    dx, dy = (xb - xa) / size, (yb - ya) / size
    path.head = [(xb, yb), (xb - HEAD * dx - HEAD / 2.5 * dy, yb - HEAD * dy + HEAD / 2.5 * dx),
                 (xb - HEAD * dx + HEAD / 2.5 * dy, yb - HEAD * dy - HEAD / 2.5 * dx)]


def on_frame(vertex: Placed, toward: tuple) -> tuple:
    """Where the line from the vertex's centre toward a point leaves its frame."""
    dx, dy = toward[0] - vertex.x, toward[1] - vertex.y
    t = min(vertex.width / 2 / abs(dx) if dx else math.inf, vertex.height / 2 / abs(dy) if dy else math.inf, 1)
    return vertex.x + t * dx, vertex.y + t * dy


def on_segment(p, q, x) -> tuple:
    """The point of the segment from p to q whose first coordinate is x."""
    return x, p[1] + (q[1] - p[1]) * (x - p[0]) / (q[0] - p[0])


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
