"""Dependency hygiene: pyproject.toml declares what src/genolm imports, and nothing else.

Every third-party module imported anywhere in ``src/genolm`` is a runtime dependency, or an
optional one with its extra (or a stated reason it has none); every runtime dependency is
imported somewhere (or is named with the library that uses it for us).  Guards against a
dependency nothing imports (pyfaidx and psutil were) and an import nothing declares
(threadpoolctl was).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "genolm"

#: distribution name -> the module it is imported as, where they differ
MODULE_OF = {
    "scikit-learn": "sklearn",
    "pyyaml": "yaml",
    "biopython": "Bio",
    "enformer-pytorch": "enformer_pytorch",
}
#: runtime dependencies that genolm never imports itself: who uses them
INDIRECT = {"pyarrow": "pandas' parquet engine (score-variants writes .parquet tables)"}
#: optional modules imported inside a function, with the extra that installs them (or why none)
OPTIONAL = {
    "gpn": "extra gpn",
    "enformer_pytorch": "extra enformer (+ pip install --no-deps enformer-pytorch)",
    "tensorboard": "extra tensorboard (via torch.utils.tensorboard)",
    "evo2": "no extra: Evo 2 needs a CUDA GPU; genolm refuses it on CPU with a message",
    "mamba_ssm": "no extra: CUDA only; genolm's Caduceus port does not need it",
    "onnx": "extra export",
    "onnxruntime": "extras export and edge",
    "torchao": "extra compress (genolm compress --torch-int8)",
    "usearch": "extra db",
    "qdrant_client": "extra db",
}


def _dist_name(req: str) -> str:
    return re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0].lower()


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def imported_modules() -> dict[str, set[str]]:
    """Top-level third-party module -> files of src/genolm that import it."""
    out: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "genolm" and top not in sys.stdlib_module_names:
                    out.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return out


def test_every_imported_module_is_declared():
    runtime = {MODULE_OF.get(d, d) for d in map(_dist_name, _pyproject()["project"]["dependencies"])}
    undeclared = {
        m: sorted(f) for m, f in imported_modules().items() if m not in runtime and m not in OPTIONAL
    }
    assert not undeclared, f"imported but not in pyproject.toml dependencies (or OPTIONAL here): {undeclared}"


def test_every_runtime_dependency_is_imported():
    imported = set(imported_modules())
    unused = [
        d
        for d in map(_dist_name, _pyproject()["project"]["dependencies"])
        if MODULE_OF.get(d, d).replace("-", "_") not in imported and d not in INDIRECT
    ]
    assert not unused, (
        f"runtime dependencies that src/genolm never imports: {unused} (drop them, or say who uses them in INDIRECT)"
    )


def test_optional_modules_have_their_extras():
    extras = _pyproject()["project"]["optional-dependencies"]
    for module, how in OPTIONAL.items():
        if how.startswith("extra "):
            name = how.split()[1]
            assert name in extras, f"{module}: pyproject.toml has no extra '{name}'"
    # the enformer extra carries what `import enformer_pytorch` needs (installed with --no-deps)
    assert {_dist_name(r) for r in extras["enformer"]} >= {"einops", "polars", "pyfaidx"}
    assert any(_dist_name(r) == "tensorboard" for r in extras["tensorboard"])
    # `make test` installs the dev extra, which includes the docs site's tools
    assert any(r.startswith("genolm[") and "docs" in r for r in extras["dev"])
