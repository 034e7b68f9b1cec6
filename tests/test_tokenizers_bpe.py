"""BPE training from FASTA (tiny vocabularies, generated genomes) and the train-tokenizer verb."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from genolm.errors import ConfigError
from genolm.tokenizers import BPETokenizer, get_tokenizer
from genolm.tokenizers.bpe import BPETrainConfig, iter_training_pieces, train_bpe


@pytest.fixture(scope="module")
def fasta(tmp_path_factory):
    """Two records, gzip: a repeat-rich one with an N block and soft-masked bases, and a short one."""
    rng = np.random.default_rng(0)
    motif = "ACGTTGCA"
    parts = []
    for _ in range(300):
        parts.append(motif if rng.random() < 0.5 else rng.choice(list("ACGT"), 8).astype(object).sum())
    rec1 = "".join(parts)
    rec1 = rec1[:1000] + "N" * 50 + rec1[1000:1500].lower() + rec1[1500:]
    rec2 = "GATTACA" * 20
    path = tmp_path_factory.mktemp("bpe") / "toy.fa.gz"
    with gzip.open(path, "wt") as f:
        for name, seq in (("chr1", rec1), ("chr2", rec2)):
            f.write(f">{name} toy\n")
            f.writelines(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60))
    return path


@pytest.fixture(scope="module")
def tok(fasta) -> BPETokenizer:
    return train_bpe(BPETrainConfig([str(fasta)], vocab_size=48, chunk_size=500))


def test_training_pieces_are_streamed_chunks_without_n(fasta):
    pieces = list(iter_training_pieces([str(fasta)], chunk_size=500))
    assert max(map(len, pieces)) <= 500
    assert all(set(p) <= set("ACGT") for p in pieces)  # N block skipped, soft mask upper-cased
    assert sum(map(len, pieces)) == 2400 + 140  # every ACGT base, none of the 50 N
    assert sum(map(len, iter_training_pieces([str(fasta)], 500, max_bases=700))) == 700


def test_trained_vocab_layout(tok):
    # DNABERT-2 tokenizer.json order of the specials
    assert tok.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    assert 10 < tok.vocab_size <= 48
    assert {"A", "C", "G", "T", "N"} <= set(tok.get_vocab())
    assert tok.bp_per_token > 1.5  # the motif got merged
    assert "ACGTTGCA" in tok.get_vocab() or tok.bp_per_token > 2


def test_bpe_round_trip_and_direct_library_call(tok):
    s = "ACGTTGCAACGTTGCAGATTACAnnACGTTGCAtt"
    ids = tok.encode_array(s)
    # encode_array is the tokenizers library call on the upper-cased text, nothing more
    assert ids.tolist() == tok.backend_tokenizer.encode(s.upper(), add_special_tokens=False).ids
    assert tok.decode_array(ids) == s.upper()
    assert tok.decode(tok(s)["input_ids"]) == "[CLS]" + s.upper() + "[SEP]"


def test_bpe_save_load_and_get_tokenizer(tok, tmp_path):
    from transformers import AutoTokenizer

    tok.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer.json").is_file()
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert isinstance(loaded, BPETokenizer) and loaded.bp_per_token == tok.bp_per_token
    again = get_tokenizer("bpe", tokenizer_file=str(tmp_path / "tokenizer.json"))
    s = "GATTACAACGTTGCA" * 5
    assert loaded(s)["input_ids"] == tok(s)["input_ids"] == again(s)["input_ids"]


def test_bpe_config_errors(fasta, tmp_path):
    # guards against a silently useless vocabulary / a typo in a path
    with pytest.raises(ConfigError, match="vocab_size must be at least"):
        BPETrainConfig([str(fasta)], vocab_size=8)
    with pytest.raises(FileNotFoundError):
        BPETrainConfig([str(tmp_path / "missing.fa")])
    with pytest.raises(ConfigError, match="unknown special token keys"):
        BPETrainConfig([str(fasta)], special_tokens={"msk_token": "<m>"})
    with pytest.raises(ConfigError, match="needs a trained model"):
        BPETokenizer()


def test_train_tokenizer_cli(fasta, tmp_path, capsys):
    from transformers import AutoTokenizer

    import genolm.tokenizers  # noqa: F401  (registers the classes for AutoTokenizer)
    from genolm.cli.main import main

    out = tmp_path / "tok"
    assert (
        main(["train-tokenizer", str(fasta), "--vocab-size", "40", "--chunk-size", "300", "--out", str(out)])
        == 0
    )
    assert "bp/token" in capsys.readouterr().out
    loaded = AutoTokenizer.from_pretrained(out)
    assert loaded.vocab_size <= 40 and loaded.decode_array(loaded.encode_array("GATTACA")) == "GATTACA"
    assert main(["train-tokenizer", str(tmp_path / "nope.fa"), "--out", str(out)]) == 2


def test_progress_bars_leave_the_vocabulary_unchanged(fasta, tok):
    # progress=True turns on the tokenizers trainer's bars; the learned merges must not change
    shown = train_bpe(BPETrainConfig([str(fasta)], vocab_size=48, chunk_size=500), progress=True)
    assert shown.get_vocab() == tok.get_vocab()
