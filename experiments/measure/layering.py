"""How layered the code is, measured the same way before and after a restructuring (#27).

Run it on any checkout (`python -m experiments.measure.layering [ROOT] [--json FILE]`); it
reads the product packages as text (nothing is imported or run) and prints:

- imports from a lower layer to a higher one (edgeft at the bottom; orchestrator,
  edge_client, controller_app, topologies and simulator in the middle; experiments on top;
  tests above everything, since product code must never import them), one per import
  statement, and imports from one middle component into another;
- import loops: strongly connected groups of modules in the import graph;
- direct uses of the dilation factor outside the clock (definition in `factor_uses`);
- the largest functions and classes, in lines;
- the pairs the `duplicates` tool finds (when it is on PATH).

Each import is one of three kinds, counted apart: `module` (runs when the module is
imported), `deferred` (inside a function: runs when it is called) and `type_checking`
(inside `if TYPE_CHECKING:`: never runs). "Runtime" below is module + deferred.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

LAYERS = {
    "edgeft": 0,
    "orchestrator": 1,
    "edge_client": 1,
    "controller_app": 1,
    "topologies": 1,
    "simulator": 1,
    "experiments": 2,
    "tests": 3,
}
PRODUCT = tuple(name for name, layer in LAYERS.items() if name != "tests")
KINDS = ("module", "deferred", "type_checking")
FACTOR_WORDS = ("dilation",)  # names and attributes that are the factor wherever they stand
FACTOR_ATTRIBUTE_K = "k"  # `cfg.emulation.k`: the factor under its short attribute name
CONVERSION_METHODS = ("dilated", "undilated")  # LinkFigures' own conversions, called with the factor


@dataclass
class Import:
    """One import statement's target, as seen from the importing module."""

    importer: str
    target: str
    kind: str
    line: int


@dataclass
class Report:
    """Everything one measurement found; `summary` holds the headline numbers."""

    upward: list
    across: list
    loops: dict
    factor_uses: list
    largest_functions: list
    largest_classes: list
    duplicates: dict
    summary: dict


def module_name(root: Path, path: Path) -> str:
    """Dotted module name of a file below `root` (a package's __init__ is the package)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def product_files(root: Path) -> list[Path]:
    """The Python files of the product packages (not tests, not build outputs)."""
    files: list[Path] = []
    for package in PRODUCT:
        files += sorted(p for p in (root / package).rglob("*.py") if "__pycache__" not in p.parts)
    return files


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(root: Path, path: Path, modules: set[str]) -> list[Import]:
    """Every import in one file, with its kind; `from a import b` targets module a.b when it exists."""
    importer = module_name(root, path)
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, kind: str) -> None:
        for child in ast.iter_child_nodes(node):
            child_kind = kind
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and kind == "module":
                child_kind = "deferred"
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit_statement(stmt, "type_checking")
                for stmt in child.orelse:
                    visit_statement(stmt, kind)
                continue
            visit_statement(child, child_kind)

    def visit_statement(stmt: ast.AST, kind: str) -> None:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                found.append(Import(importer, alias.name, kind, stmt.lineno))
        elif isinstance(stmt, ast.ImportFrom):
            base = _resolve(importer, is_package, stmt)
            for alias in stmt.names:
                target = f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                found.append(Import(importer, target, kind, stmt.lineno))
        else:
            visit(stmt, kind)

    visit(ast.parse(path.read_text(encoding="utf-8")), "module")
    unique = {(item.target, item.line): item for item in found}  # `from a import b, c`: one import of a
    return list(unique.values())


def layer_of(module: str) -> int | None:
    """The layer of a module's top-level package; None for third-party and standard modules."""
    return LAYERS.get(module.split(".")[0])


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the groups of two or more modules that import each other in a loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
                continue
            if child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(groups)


def loops(imports: list[Import], modules: set[str], kinds: tuple[str, ...]) -> list[list[str]]:
    """Import loops among product modules, counting only imports of the given kinds."""
    graph: dict[str, set[str]] = defaultdict(set)
    for item in imports:
        if item.kind in kinds and item.target in modules and item.target != item.importer:
            graph[item.importer].add(item.target)
    for module in modules:
        graph.setdefault(module, set())
    return strongly_connected(graph)


def _is_factor(node: ast.expr, k_is_factor: bool) -> bool:
    if isinstance(node, ast.Name):
        return node.id in FACTOR_WORDS or (node.id == "k" and k_is_factor)
    if isinstance(node, ast.Attribute):
        return node.attr in FACTOR_WORDS or node.attr == FACTOR_ATTRIBUTE_K
    return False


def factor_uses(path: Path, rel: str) -> list[dict]:
    """Direct uses of the dilation factor in one file, by this definition: a `*`, `/` or `//`
    (binary or augmented) with an operand that is the factor, or a call of LinkFigures'
    `dilated`/`undilated` (conversions done outside the clock). The factor is any name or
    attribute spelled `dilation`, the attribute `.k` (`cfg.emulation.k`), and the bare name
    `k` in a module whose text mentions "dilat" or ".k" (so a top-k budget or a loop counter
    named k in a module that never dilates does not count). One use per operation."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    k_is_factor = bool(re.search(r"dilat|\.k\b", text))
    found: list[dict] = []
    for node in ast.walk(ast.parse(text)):
        hit = False
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div, ast.FloorDiv)):
            hit = _is_factor(node.left, k_is_factor) or _is_factor(node.right, k_is_factor)
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, (ast.Mult, ast.Div, ast.FloorDiv)):
            hit = _is_factor(node.value, k_is_factor)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            hit = node.func.attr in CONVERSION_METHODS
        if hit:
            found.append({"file": rel, "line": node.lineno, "code": lines[node.lineno - 1].strip()})
    return found


def sizes(path: Path, rel: str) -> tuple[list[dict], list[dict]]:
    """Length in lines (first line to last, decorators excluded) of every function and class."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions, classes = [], []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            entry = {"name": f"{rel}:{node.lineno} {node.name}", "lines": node.end_lineno - node.lineno + 1}
            (classes if isinstance(node, ast.ClassDef) else functions).append(entry)
    return functions, classes


def duplicate_pairs(root: Path) -> dict:
    """The `duplicates` tool's pairs (six or more shared lines) over the whole checkout, and how
    many of them lie wholly in product code (both places outside tests/)."""
    tool = shutil.which("duplicates")
    if tool is None:
        return {"pairs": None, "note": "duplicates not on PATH"}
    done = subprocess.run(
        [tool, "--repo", str(root), "--most", "200", "--seconds", "300"], capture_output=True, text=True, check=False
    )
    lines = done.stdout.splitlines()
    match = re.match(r"(\d+) pairs?", lines[0] if lines else "")
    rows = [line.strip() for line in lines[1:] if re.match(r"D\d+ ", line.strip())]
    product = [row for row in rows if not re.search(r"(^D\d+ |~ )tests/", row)]
    return {"pairs": int(match.group(1)) if match else 0, "product_pairs": len(product), "rows": rows}


def measure(root: Path, with_duplicates: bool = True) -> Report:
    """Every figure of this module's docstring for the checkout at `root`."""
    files = product_files(root)
    modules = {module_name(root, p) for p in files}
    imports = [item for p in files for item in imports_of(root, p, modules)]
    report = Report([], [], {}, [], [], [], {}, {})
    for item in imports:
        source, target = layer_of(item.importer), layer_of(item.target)
        if target is None or source is None:
            continue
        entry = asdict(item)
        if target > source:
            report.upward.append(entry)
        elif target == source == 1 and item.importer.split(".")[0] != item.target.split(".")[0]:
            report.across.append(entry)
    for name, kinds in {"all": KINDS, "runtime": ("module", "deferred"), "module_level": ("module",)}.items():
        report.loops[name] = loops(imports, modules, kinds)
    functions, classes = [], []
    for path in files:
        rel = str(path.relative_to(root))
        report.factor_uses += [] if rel == "edgeft/clock.py" else factor_uses(path, rel)
        found = sizes(path, rel)
        functions += found[0]
        classes += found[1]
    report.largest_functions = sorted(functions, key=lambda entry: -entry["lines"])[:8]
    report.largest_classes = sorted(classes, key=lambda entry: -entry["lines"])[:3]
    report.duplicates = duplicate_pairs(root) if with_duplicates else {"pairs": None, "note": "not measured"}
    up_kinds = Counter(entry["kind"] for entry in report.upward)
    report.summary = {
        "upward_imports": len(report.upward),
        "upward_by_kind": {kind: up_kinds.get(kind, 0) for kind in KINDS},
        "upward_module_pairs": len({(entry["importer"], entry["target"]) for entry in report.upward}),
        "cross_component_imports": len(report.across),
        "loops_all": len(report.loops["all"]),
        "loops_runtime": len(report.loops["runtime"]),
        "loops_module_level": len(report.loops["module_level"]),
        "factor_uses": len(report.factor_uses),
        "factor_files": len({entry["file"] for entry in report.factor_uses}),
        "functions_over_60": sum(1 for entry in functions if entry["lines"] > 60),
        "largest_function": report.largest_functions[0] if functions else None,
        "largest_class": report.largest_classes[0] if classes else None,
        "duplicate_pairs": report.duplicates.get("pairs"),
        "duplicate_pairs_product": report.duplicates.get("product_pairs"),
    }
    return report


def render(report: Report) -> str:
    """The report as text: headline numbers first, then each finding on its own line."""
    out = [json.dumps(report.summary, indent=2), "", "upward imports (importer:line -> target [kind]):"]
    out += [f"  {e['importer']}:{e['line']} -> {e['target']} [{e['kind']}]" for e in report.upward]
    out += ["", "imports between middle components:"]
    out += [f"  {e['importer']}:{e['line']} -> {e['target']} [{e['kind']}]" for e in report.across]
    for name, groups in report.loops.items():
        out += ["", f"import loops ({name}):"] + [f"  {' <-> '.join(group)}" for group in groups]
    out += ["", "direct uses of the dilation factor outside edgeft/clock.py:"]
    out += [f"  {e['file']}:{e['line']}  {e['code']}" for e in report.factor_uses]
    out += ["", "largest functions:"] + [f"  {e['lines']:4d}  {e['name']}" for e in report.largest_functions]
    out += ["", "largest classes:"] + [f"  {e['lines']:4d}  {e['name']}" for e in report.largest_classes]
    out += ["", f"duplicates: {report.duplicates.get('pairs')} pairs"]
    out += [f"  {row}" for row in report.duplicates.get("rows", [])]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=".", help="the checkout to measure (default: here)")
    parser.add_argument("--json", dest="json_file", help="also write the whole report as JSON here")
    parser.add_argument("--no-duplicates", action="store_true", help="skip the duplicates tool (it takes a while)")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    if not (root / "edgeft").is_dir():
        print(f"layering: error: {root} has no edgeft/ package: give the root of a checkout", file=sys.stderr)
        return 2
    report = measure(root, with_duplicates=not args.no_duplicates)
    print(render(report))
    if args.json_file:
        Path(args.json_file).write_text(json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
