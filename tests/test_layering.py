"""The package's layering: no import circle between genolm modules, and no module importing another
package's private name.

Both are read statically from the source (imports inside functions count too), so a circle hidden
behind a function-level import is still caught.  A package's ``__init__`` importing its own
submodules (re-exports) is not an edge: that is how a package presents its API.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

import genolm

ROOT = Path(genolm.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(ROOT.rglob("*.py")):
        parts = p.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts)
        out[name.removesuffix(".__init__")] = p
    return out


def _imports(path: Path):
    """``(module, imported name or None)`` for every absolute genolm import in ``path``."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                yield node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None


def _package(module: str) -> str:
    """``genolm.bench.runner`` -> ``bench``; ``genolm.alphabet`` -> ``alphabet``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _graph():
    mods = _modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    private = []
    for name, path in mods.items():
        own_package = path.name == "__init__.py"
        for module, imported in _imports(path):
            if module.split(".")[0] != "genolm":
                continue
            target = f"{module}.{imported}" if imported and f"{module}.{imported}" in mods else module
            if target in mods and target != name and not (own_package and target.startswith(name + ".")):
                edges[name].add(target)
            if (
                imported
                and imported.startswith("_")
                and not imported.startswith("__")
                and _package(module) != _package(name)
            ):
                private.append(f"{name} imports {module}.{imported}")
    return edges, private


def test_no_import_circle():
    # guards against the catalogue <-> variants and bench.report <-> bench.runner circles coming back
    edges, _ = _graph()
    try:
        tuple(graphlib.TopologicalSorter(edges).static_order())
    except graphlib.CycleError as e:
        pytest.fail("import circle: " + " -> ".join(e.args[1]))


def test_no_private_name_across_packages():
    # a name another package needs is public: reaching into `_private` names couples internals
    _, private = _graph()
    assert not private, "private names imported across packages:\n" + "\n".join(private)


def test_the_checks_see_real_edges():
    # the checker itself must see imports, or both tests above pass vacuously
    edges, _ = _graph()
    assert "genolm.errors" in edges["genolm.io.fasta"]
    assert sum(len(v) for v in edges.values()) > 200
