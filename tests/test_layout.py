"""The shape of helpers/: generic modules know no task, each task is one folder, and no modules import each other in
a circle. Read from the source (every import, the ones inside functions too), so nothing has to be imported."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELPERS = ROOT / "helpers"
TASKS = "helpers.tasks"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path = HELPERS) -> dict[str, Path]:
    return {module_name(p): p for p in sorted(root.rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The helpers modules `name` imports: `from .x import y` is x, or x.y when that is a module."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            out |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
    return {m for m in out if m in known and m != name}


def graph(root: Path = HELPERS) -> dict[str, set[str]]:
    found = modules(root)
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def task_of(module: str) -> str | None:
    """The task folder a module belongs to (helpers.tasks.hiring.rubric -> hiring), None for a generic module."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and module.startswith(TASKS + ".") and parts[2] != "__main__" else None


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_reader_finds_the_tasks_as_folders():
    from conftest import SHIPPED_TASKS

    from helpers import config
    assert set(SHIPPED_TASKS) <= set(config.task_names())
    for name in SHIPPED_TASKS:
        assert (HELPERS / "tasks" / name / "__init__.py").read_text().count("def build() -> Task:") == 1


def test_no_generic_module_imports_a_task():
    bad = {m: sorted(d for d in deps if task_of(d)) for m, deps in graph().items() if task_of(m) is None}
    assert not {m: d for m, d in bad.items() if d}, "generic modules must take the task as an argument"


def test_a_task_imports_no_other_task():
    bad = {m: sorted(d for d in deps if task_of(d) not in (None, task_of(m)))
           for m, deps in graph().items() if task_of(m)}
    assert not {m: d for m, d in bad.items() if d}


def test_no_modules_import_each_other_in_a_circle():
    assert cycles(graph()) == []


def test_the_checks_can_fail(tmp_path):
    """The graph reader sees a lazy import inside a function, relative imports, and a circle."""
    pkg = tmp_path / "helpers"
    (pkg / "tasks" / "demo").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "tasks" / "__init__.py").write_text("")
    (pkg / "tasks" / "demo" / "__init__.py").write_text("from ... import generic\n")
    (pkg / "generic.py").write_text("def f():\n    from .tasks import demo\n    from . import other\n")
    (pkg / "other.py").write_text("from .generic import f\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        edges = graph(pkg)
    finally:
        ROOT = saved
    assert edges["helpers.generic"] == {"helpers.tasks.demo", "helpers.other"}
    assert task_of("helpers.tasks.demo") == "demo" and task_of("helpers.generic") is None
    assert sorted(map(tuple, cycles(edges))) == [("helpers.generic", "helpers.other", "helpers.tasks.demo")]
