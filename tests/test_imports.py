"""No import cycles among pybench's modules.

The import graph is read from the source (``ast``), nothing is imported: every ``import`` and
``from ... import`` counts, at module level and inside functions alike (a function-level import
only defers a cycle to the first call). An edge goes to the module an import names:
``from .. import store`` is an edge to ``pybench.store``, ``from ..store import dumps`` too, and
``from .. import __version__`` (a name defined in a package's ``__init__``) an edge to ``pybench``.
A package that imports its own submodules is not a cycle by itself: the implicit import of a parent
package when a submodule loads is not counted.

Not counted either: the body of a module-level ``if __name__ == "__main__":``. It runs only when the
file is the program (``python -m pybench.train``), as the module ``__main__``, never when
``pybench.train`` is imported, so nothing it imports can close a cycle through ``pybench.train``: a
command-line entry lives there, and only there may a module import the command line that uses it.
"""

import ast
import os

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pybench")


def _modules(root=ROOT):
    """{dotted module name: file path} for every .py file under ``root`` (the package ``pybench``)."""
    mods = {}
    base = os.path.dirname(root)
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(d, f), base)[:-3].split(os.sep)
            if rel[-1] == "__init__":
                rel = rel[:-1]
            mods[".".join(rel)] = os.path.join(d, f)
    return mods


def _package(name, path):
    return name if path.endswith("__init__.py") else name.rpartition(".")[0]


def _is_main_guard(node):
    t = node.test if isinstance(node, ast.If) else None
    return (isinstance(t, ast.Compare) and isinstance(t.left, ast.Name) and t.left.id == "__name__"
            and len(t.ops) == 1 and isinstance(t.ops[0], ast.Eq)
            and isinstance(t.comparators[0], ast.Constant) and t.comparators[0].value == "__main__")


def _walk(tree):
    """Every node of the module, functions and classes included, but the ``__main__`` block."""
    for top in tree.body:
        if not _is_main_guard(top):
            yield from ast.walk(top)


def import_graph(root=ROOT):
    """{module: set of pybench modules it imports}."""
    mods = _modules(root)
    known = set(mods) | {"pybench._native"}

    def target(name):  # the longest known module that `name` is or lies in
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for mod, path in mods.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        pkg = _package(mod, path)
        edges = set()
        for node in _walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = pkg.split(".")
                    base = ".".join(parts[:len(parts) - node.level + 1])
                    src = f"{base}.{node.module}" if node.module else base
                else:
                    src = node.module
                names = [f"{src}.{a.name}" if f"{src}.{a.name}" in known else src for a in node.names]
            else:
                continue
            for n in names:
                t = target(n)
                if t and t.split(".")[0] == "pybench" and t != mod:
                    edges.add(t)
        graph[mod] = edges
    return graph


def find_cycles(graph):
    """The strongly connected components with more than one module (Tarjan), each sorted; sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def test_graph_sees_known_edges():
    g = import_graph()
    assert "pybench.store" in g["pybench.report"]          # from . import console, store
    assert "pybench._native" in g["pybench.bench.gate"]    # function-level: from .. import _native
    assert "pybench" in g["pybench.bench.calibrate"]       # from .. import __version__
    assert "pybench.train" in g["pybench.bench.convergence"]


def test_main_block_is_the_programs_not_the_modules(tmp_path):
    pkg = tmp_path / "pybench"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from . import b\n")
    (pkg / "b.py").write_text("from . import a\n")
    (pkg / "c.py").write_text("if __name__ == '__main__':\n    from . import b\n")
    g = import_graph(str(pkg))
    assert g["pybench.a"] == {"pybench.b"} and g["pybench.b"] == {"pybench.a"} and g["pybench.c"] == set()
    assert find_cycles(g) == [["pybench.a", "pybench.b"]]


def test_finder_reports_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles among pybench modules: " + "; ".join(" <-> ".join(c) for c in cycles)


if __name__ == "__main__":
    for c in find_cycles(import_graph()):
        print(" <-> ".join(c))
