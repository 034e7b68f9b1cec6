"""Bad input to the core: a device this machine lacks, a broken model folder, a layer the model
does not have, and CLI numbers out of range each get a clear error (exit 2), never exit 3."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import torch

import genolm
from genolm.cli.main import main
from genolm.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def model_dir(tiny_gpn_dir) -> Path:
    return tiny_gpn_dir


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    d = tmp_path / "m"
    shutil.copytree(model_dir, d)
    return d


def _load(folder):
    lm = genolm.load(str(folder))
    return lm.model  # weights are read on first use


# --- devices ----------------------------------------------------------------------------------------


def test_resolve_device_accepts_cpu():
    from genolm.weights import resolve_device

    assert resolve_device(None).type == "cpu"
    assert resolve_device("cpu").type == "cpu"


def test_resolve_device_refuses_an_unknown_string():
    from genolm.weights import resolve_device

    with pytest.raises(ConfigError, match="'foo' is not a device torch knows; use cpu, cuda"):
        resolve_device("foo")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_resolve_device_refuses_cuda_without_a_gpu():
    from genolm.weights import resolve_device

    with pytest.raises(ConfigError, match="has no CUDA GPU; use cpu"):
        resolve_device("cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_load_refuses_a_device_the_machine_lacks(model_dir):
    with pytest.raises(ConfigError, match="device 'cuda:1'"):
        genolm.load(str(model_dir), device="cuda:1")


def test_ism_cli_bad_device_is_a_user_error(tmp_path, capsys):
    argv = ["ism", "--sequence", "ACGTACGTACGTACGT", "--device", "foo", "-q", "--no-plots"]
    rc = main([*argv, "--out", str(tmp_path / "ism")])
    assert rc == 2
    assert "'foo' is not a device torch knows" in capsys.readouterr().err


# --- broken model folders ---------------------------------------------------------------------------


def test_the_intact_folder_loads(model_dir):
    assert _load(model_dir) is not None


def test_truncated_weights(model_dir, tmp_path):
    d = _copy(model_dir, tmp_path)
    w = d / "model.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    with pytest.raises(InputError, match="weights file cannot be read, it is corrupt or truncated") as e:
        _load(d)
    assert str(d) in str(e.value)


@pytest.mark.parametrize("key", ["hidden_size", "vocab_size"])
def test_config_that_no_longer_matches_the_weights(model_dir, tmp_path, key):
    d = _copy(model_dir, tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg[key] = int(cfg[key]) * 2
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InputError, match="config.json does not match the weights"):
        _load(d)


def test_misspelled_model_type_suggests_the_right_one(model_dir, tmp_path):
    d = _copy(model_dir, tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["model_type"] == "genolm-gpn"
    cfg["model_type"] = "genolm-gpnn"
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InputError, match="model_type 'genolm-gpnn'.*Did you mean 'genolm-gpn'"):
        _load(d)


def test_no_tokenizer_files_fails_at_once(model_dir, tmp_path):
    d = _copy(model_dir, tmp_path)
    for name in ("tokenizer_config.json", "tokenizer.json", "vocab.txt", "special_tokens_map.json"):
        (d / name).unlink(missing_ok=True)
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="no tokenizer files in the model folder"):
        _load(d)
    # transformers looks for the files on the Hub instead (about 90 s of retries offline)
    assert time.perf_counter() - t0 < 30


def test_corrupt_tokenizer_config_names_the_file(model_dir, tmp_path):
    d = _copy(model_dir, tmp_path)
    (d / "tokenizer_config.json").write_text("{bad")
    with pytest.raises(InputError, match="tokenizer_config.json is not valid JSON") as e:
        _load(d)
    assert str(d / "tokenizer_config.json") in str(e.value)


# --- layers ---------------------------------------------------------------------------------------


def test_embed_layer_out_of_range_says_which_layers_exist(model_dir):
    from genolm.embed import embed_sequences

    lm = genolm.load(str(model_dir))
    with pytest.raises(ConfigError, match="layer 99 is out of range: this model has 2 layers"):
        embed_sequences(lm.model, lm.tokenizer, ["ACGTACGT"], layer=99)


# --- CLI numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, says",
    [
        (["bench", "--task", "x", "--threads", "0"], "--threads: must be an integer >= 1"),
        (["bench", "--task", "x", "--time-budget", "-1"], "--time-budget: must be a number > 0"),
        (["bench", "--task", "x", "--lr", "-1"], "--lr: must be a number > 0"),
        (["predict", "b.onnx", "--fasta", "x.fa", "--batch-windows", "0"], "--batch-windows: must be"),
        (["predict", "b.onnx", "--fasta", "x.fa", "--threads", "-1"], "--threads: must be an integer >= 0"),
        (["export", "m", "--out", "m.onnx", "--stride", "0"], "--stride: must be an integer >= 1"),
        (["validate", "t.yaml", "--data", "--limit", "-3"], "--limit: must be an integer >= 1"),
        (["ism", "--sequence", "ACGT", "--batch-size", "0"], "--batch-size: must be an integer >= 1"),
    ],
)
def test_cli_numbers_out_of_range(argv, says, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert says in capsys.readouterr().err


def test_ism_genome_with_a_bare_sequence(tmp_path, capsys):
    fa = tmp_path / "g.fa"
    fa.write_text(">c\nACGTACGTACGTACGT\n")
    rc = main(["ism", "--genome", str(fa), "--sequence", "ACGTACGTAC", "-q", "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "--genome goes with --region" in capsys.readouterr().err


def test_make_task_fraction_that_is_not_a_number():
    from genolm.bench.maketask import MakeTaskConfig

    with pytest.raises(ConfigError, match="fractions: 'train' must be a number in \\(0, 1\\), got 'abc'"):
        MakeTaskConfig(genome="g.fa", fractions={"train": "abc", "test": 0.2})


@pytest.mark.parametrize(
    "kw, says",
    [
        ({"hidden_size": "abc"}, "'hidden_size' of family 'gpn' must be a whole number, got 'abc'"),
        ({"hidden_size": 32.5}, "must be a whole number, got 32.5"),
        ({"hidden_dropout": "x"}, "'hidden_dropout' of family 'gpn' must be a number, got 'x'"),
    ],
)
def test_model_config_value_of_the_wrong_kind(kw, says):
    from genolm.models import build_model

    with pytest.raises(ConfigError, match=says):
        build_model("gpn", vocab_size=10, **kw)


def test_model_config_accepts_numpy_and_python_numbers():
    import numpy as np

    from genolm.models import build_model

    m = build_model("gpn", vocab_size=10, hidden_size=np.int64(16), num_hidden_layers=1, hidden_dropout=0)
    assert m.config.hidden_size == 16
