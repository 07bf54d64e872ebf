"""The harness's import layers: the table in harness/README.md ("Layers") is the rule, and
every import of every harness module (module level, inside functions, under
TYPE_CHECKING) is checked against it; the module graph has no circles."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HARNESS = REPO_ROOT / "harness"
README = HARNESS / "README.md"


def layer_table(readme: Path = README) -> dict[str, tuple[set[str], set[str]]]:
    """layer -> (harness layers it may import, apps packages it may import), from the
    README's table: | layer | holds | may import | apps |."""
    text = readme.read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    table: dict[str, tuple[set[str], set[str]]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        layer = cells[0].strip("`")
        allowed = {x.strip("` ") for x in cells[2].split(",") if x.strip("` ")} - {"nothing"}
        apps = {x.strip("` ") for x in cells[3].split(",") if x.strip("` ")} - {"none"}
        table[layer] = (allowed | {layer}, apps)
    return table


def layer_of(module: str) -> str:
    """harness.run.cell -> run; harness.cli -> top; harness.core.errors -> core."""
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (HARNESS / parts[1]).is_dir()):
        return parts[1]
    return "top"


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, module: str) -> Iterator[tuple[str, int]]:
    """Every module path imported by the file (relative imports resolved), with its line."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from harness.run import cell` imports the module harness.run.cell.
                yield f"{base}.{alias.name}", node.lineno
            yield base, node.lineno


def resolve(name: str, known: set[str]) -> str | None:
    """The harness module a dotted import name refers to (longest known prefix)."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in known:
            return candidate
    return None


def module_files(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def violations(root: Path, table: dict[str, tuple[set[str], set[str]]]) -> list[str]:
    """'<file>:<line>: <module> (<layer>) imports <target> (<layer>)' for every import the
    table forbids, and for every harness module in no layer of the table."""
    modules = module_files(root)
    found = []
    for module, path in modules.items():
        layer = layer_of(module)
        if layer not in table:
            found.append(f"{path}: {module} is in no layer of the table ({layer})")
            continue
        allowed, apps = table[layer]
        for name, line in imports(path, module):
            top = name.split(".")[0]
            if top == "apps":
                package = ".".join(name.split(".")[:2])
                if package != "apps" and package not in apps:
                    found.append(f"{path}:{line}: {module} ({layer}) imports {name}")
                continue
            target = resolve(name, set(modules))
            if target is None or target == "harness":
                continue
            if layer_of(target) not in allowed:
                found.append(
                    f"{path}:{line}: {module} ({layer}) imports {target} ({layer_of(target)})"
                )
    return sorted(set(found))


def graph(root: Path) -> dict[str, set[str]]:
    modules = module_files(root)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for name, _ in imports(path, module):
            target = resolve(name, set(modules))
            # A package's __init__ is not an edge from its own modules' point of view.
            if target and target != module and not module.startswith(target + "."):
                edges[module].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_readme_table_names_every_layer() -> None:
    table = layer_table()
    assert set(table) == {"core", "results", "plan", "measure", "run", "report", "claims", "top"}
    assert table["report"][0] == {"core", "results", "report"}
    assert table["core"][0] == {"core"}


def test_every_harness_import_respects_the_layers() -> None:
    assert violations(HARNESS, layer_table()) == []


def test_the_harness_has_no_import_circles() -> None:
    assert cycles(graph(HARNESS)) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "harness"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


REPORT_IMPORTS_RUN = "harness.report.view (report) imports harness.run.cell (run)"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from harness.run.cell import run_cell\n", REPORT_IMPORTS_RUN),
        ("def f():\n    from harness.run import cell\n", REPORT_IMPORTS_RUN),
        ("from ..run import cell\n", REPORT_IMPORTS_RUN),
        ("import apps.common.store\n", "harness.report.view (report) imports apps.common.store"),
    ],
)
def test_a_forbidden_import_is_caught(tmp_path: Path, source: str, expected: str) -> None:
    # The real table, over a small tree where report/ reaches into run/ or into the apps.
    files = {
        "__init__.py": "",
        "report/__init__.py": "",
        "report/view.py": "from harness.results.files import write_csv\n" + source,
        "results/__init__.py": "",
        "results/files.py": "",
        "run/__init__.py": "",
        "run/cell.py": "",
    }
    root = _tree(tmp_path, files)
    # layer_of looks at the real harness folders; the tree mirrors their names.
    found = violations(root, layer_table())
    assert any(expected in v for v in found), found
    assert not any("results.files" in v for v in found)


def test_a_circle_is_caught(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "run/__init__.py": "",
            "run/a.py": "from harness.run import b\n",
            "run/b.py": "def f():\n    from harness.run.a import x\n",
        },
    )
    assert cycles(graph(root)) == [["harness.run.a", "harness.run.b"]]


def test_readme_mentions_only_existing_modules() -> None:
    # Every harness/<path>.py the README names is a file that exists.
    named = set(re.findall(r"(?<![\w/])harness/[\w/]+\.py", README.read_text()))
    missing = sorted(p for p in named if not (REPO_ROOT / p).is_file())
    assert missing == []
