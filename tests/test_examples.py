"""The example notebooks (examples/*.ipynb) run end to end on tiny checkpoints, and are stored stripped.

Each notebook is executed with nbclient on a ``python3`` kernel of this interpreter, with
``TINY = True`` injected after its ``parameters`` cell; its last cell prints one ``GENOLM_RESULT``
JSON line that is checked here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(p.stem for p in EXAMPLES.glob("*.ipynb"))
EXPECTED = {"dnabert", "nucleotide_transformer", "gpn", "caduceus", "hyenadna_remote_code", "genolm_tiny"}
LORA = {"dnabert", "nucleotide_transformer", "hyenadna_remote_code", "genolm_tiny"}
FAMILY = {
    "dnabert": "dnabert",
    "nucleotide_transformer": "nt",
    "gpn": "gpn",
    "caduceus": "caduceus",
    "hyenadna_remote_code": "remote",
    "genolm_tiny": "genolm",
}


def _caduceus_missing() -> str | None:
    try:
        from genolm.models import caduceus
    except ImportError as e:
        return f"genolm.models.caduceus is not importable yet: {e}"
    if not hasattr(caduceus, "make_tiny_caduceus"):
        return "genolm.models.caduceus has no make_tiny_caduceus yet"
    return None


def test_every_family_has_a_notebook():
    assert set(NOTEBOOKS) == EXPECTED


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stripped_and_parameterised(name):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: a code cell has outputs (strip them before committing)"
            assert cell.execution_count is None, f"{name}: a code cell has an execution count"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and params[0] is next(c for c in nb.cells if c.cell_type == "code")
    src = params[0].source
    assert "TINY = False" in src and "MODEL = " in src


def _run(name: str) -> dict:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
    i = next(k for k, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(i + 1, nbformat.v4.new_code_cell("TINY = True"))
    # a kernel of this interpreter (the venv), single-threaded and offline
    env_before = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "HF_HUB_OFFLINE", "PATH")}
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    try:
        from jupyter_client.kernelspec import NATIVE_KERNEL_NAME

        client = nbclient.NotebookClient(
            nb, timeout=120, kernel_name=NATIVE_KERNEL_NAME, resources={"metadata": {"path": str(EXAMPLES)}}
        )
        client.execute()  # raises CellExecutionError on the first failing cell
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    lines = [
        line
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.get("name") == "stdout"
        for line in out.get("text", "").splitlines()
        if line.startswith("GENOLM_RESULT ")
    ]
    assert len(lines) == 1, f"{name}: expected one GENOLM_RESULT line, got {len(lines)}"
    return json.loads(lines[0][len("GENOLM_RESULT ") :])


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_on_tiny_checkpoint(name):
    if name == "gpn" and importlib.util.find_spec("gpn") is None:
        pytest.skip("the gpn package is not installed (pip install gpn)")
    if name == "caduceus" and (why := _caduceus_missing()):
        pytest.skip(why)
    r = _run(name)
    assert r["tiny"] is True and r["family"] == FAMILY[name]
    # tokenize: one offset row per token
    assert r["n_offsets"] == r["n_ids"] > 0
    # embed: 16 windows, one vector each; per-nucleotide: one row per base
    n, h = r["embeddings_shape"]
    assert n == 16 and h > 0 and r["embeddings_finite"]
    assert r["per_nt_shape"] == [r["per_nt_expected_rows"], h]
    # log-probs: (L, 4), each row a distribution over A/C/G/T
    assert r["log_probs_shape"] == [60, 4]
    assert r["log_probs_row_sums"] and all(abs(s - 1) < 1e-3 for s in r["log_probs_row_sums"])
    assert r["variant_status"] == ["ok"] * 3 and r["variant_scores_finite"]
    ft = r["finetune"]
    mccs = [v["mcc"] for v in ft.values()]
    assert all(-1 <= m <= 1 for m in mccs)
    if name in LORA:
        assert r["lora_refusal"] is None
        assert 0 < ft["lora"]["trainable"] < ft["lora"]["params"]  # adapters + head only
    else:
        assert "use a frozen probe or a full fine-tune" in r["lora_refusal"]
        assert set(ft) == {"probe", "full"}
        assert ft["full"]["trainable"] == ft["full"]["params"]
