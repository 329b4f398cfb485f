"""The figures issue 12 tracks, measured on the tree: how far kinds are from 'math only'.

    python tools/architecture.py

- lines in kinds: all of solver/kinds;
- LaTeX strings in kinds: string literals in solver/kinds holding a backslash or `_{` / `^{`;
- tex() definitions outside the printer (solver/math/printing.py);
- places that dispatch on an answer type's name: a comparison with, or a membership test in,
  one of the type names ("integer", "matrix", ...) anywhere in solver/ or templates/;
- import cycles between solver's modules (strongly connected groups of more than one module);
- imports that point up the layers (LAYERS, bottom first: a module imports only its own layer and those below).
"""
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "solver"
TYPE_NAMES = ("integer", "rational", "real", "shape", "matrix", "expression", "table", "boolean")
TYPE_TEST = re.compile(r"""(==|!=|\bin\b|\bis\b)\s*\(?\s*['"](%s)['"]|['"](%s)['"]\s*(==|!=)"""
                       % ("|".join(TYPE_NAMES), "|".join(TYPE_NAMES)))
PRINTER = PACKAGE / "math" / "printing.py"
# solver's layers, bottom first: a module is in the layer its name's longest listed prefix names
# (solver.<layer>...). Answer types sit below the kinds (a mistake's answer takes the posed
# answer's type); checking sits above them (it re-solves under the kinds' mistakes).
LAYERS = ("core", "math", "answers", "kinds", "answers.check", "problems", "render", "commands", "cli", "__main__")
# Jupyter shows a Solution by rendering it: the one upward import, lazy, inside _repr_markdown_
# (neither a layer nor a cycle counts it).
ALLOWED_UP = {("solver.core.model", "solver.render")}


def modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def latex_strings(path: Path) -> int:
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return sum(1 for node in ast.walk(tree)
               if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
               and ("\\" in node.value or "_{" in node.value or "^{" in node.value))


def tex_definitions(path: Path) -> int:
    if path == PRINTER:
        return 0
    return sum(1 for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.FunctionDef) and node.name == "tex")


def type_dispatches() -> list[str]:
    files = modules() + sorted((ROOT / "templates").rglob("*.j2"))
    return [f"{path.relative_to(ROOT)}:{number}" for path in files
            for number, line in enumerate(path.read_text().splitlines(), 1) if TYPE_TEST.search(line)]


def imports(path: Path) -> set[str]:
    """The solver modules `path` imports, at any depth in the file (lazy imports count too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[:len(base) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(f"{target}.{alias.name}")
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def cycles() -> list[list[str]]:
    names = {module_name(p): p for p in modules()}
    graph = {name: {t for t in imports(path) if t in names and t != name and (name, t) not in ALLOWED_UP}
             for name, path in names.items()}
    # A package's __init__ importing its own submodules is how packages work, not a cycle.
    graph = {n: {t for t in ts if not t.startswith(n + ".")} for n, ts in graph.items()}
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):                       # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(10000)
    for name in graph:
        if name not in index:
            visit(name)
    return groups


def layer(module: str) -> int:
    inside = module.split(".", 1)[1] + "."
    return max(i for i, name in enumerate(LAYERS) if inside.startswith(name + "."))


def upward_imports() -> list[str]:
    """`module -> target` for each import from a lower layer to a higher one."""
    names = {module_name(p): p for p in modules() if module_name(p) != "solver"}
    found = []
    for name, path in names.items():
        for target in sorted(t for t in imports(path) if t in names):
            if layer(target) > layer(name) and (name, target) not in ALLOWED_UP:
                found.append(f"{name} -> {target}")
    return found


def main():
    kinds = sorted((PACKAGE / "kinds").rglob("*.py"))
    print(f"lines in kinds: {sum(len(p.read_text().splitlines()) for p in kinds)}")
    print(f"LaTeX strings in kinds: {sum(latex_strings(p) for p in kinds)}")
    print(f"tex() definitions outside the printer: {sum(tex_definitions(p) for p in modules())} "
          f"(in kinds: {sum(tex_definitions(p) for p in kinds)})")
    places = type_dispatches()
    files = {place.rsplit(":", 1)[0] for place in places}
    print(f"places that test an answer type's name: {len(places)} lines in {len(files)} files")
    for place in places:
        print(f"  {place}")
    groups = cycles()
    allowed = ", ".join(f"{a} -> {b}" for a, b in sorted(ALLOWED_UP))
    print(f"import cycles: {len(groups)} (not counting the allowed {allowed})")
    for group in groups:
        print(f"  {' ⇄ '.join(group)}")
    upward = upward_imports()
    print(f"imports up the layers ({' < '.join(LAYERS[:-2])}): {len(upward)}")
    for place in upward:
        print(f"  {place}")


if __name__ == "__main__":
    main()
