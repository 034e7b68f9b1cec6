"""Shared fixtures.  Tests that need ../shared/data are marked ``shared`` and skip when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


@pytest.fixture(params=["cpu"] + (["cuda"] if __import__("torch").cuda.is_available() else []))
def device(request) -> str:
    """Always CPU; CUDA too where it exists."""
    return request.param


@pytest.fixture
def cli_error(capsys):
    """``cli_error(argv)``: run the CLI, which must fail with exit 2 (a user error, not a bug) and no
    traceback; returns its stderr."""
    from genolm.cli.main import main

    def run(argv) -> str:
        capsys.readouterr()
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse
            rc = e.code
        err = capsys.readouterr().err
        assert rc == 2, err
        assert "Traceback" not in err and "a bug" not in err
        return err

    return run


@pytest.fixture(scope="session")
def tiny_gpn_dir(tmp_path_factory) -> Path:
    """A tiny (hidden 32, 2 layers) GPN saved like a pretrained model, with its char tokenizer."""
    import torch

    from genolm.models import build_model
    from genolm.tokenizers import get_tokenizer

    out = tmp_path_factory.mktemp("models") / "tiny-gpn"
    tok = get_tokenizer("char")
    torch.manual_seed(0)
    build_model("gpn", head="lm", tokenizer=tok, hidden_size=32, num_hidden_layers=2).save_pretrained(out)
    tok.save_pretrained(out)
    return out
