"""Biotokens for text LLMs: round trips, the token list, and use with a text tokenizer."""

from __future__ import annotations

import numpy as np
import pytest

from genolm.errors import InputError
from genolm.tokenizers import biotoken_list, biotokens_to_dna, dna_to_biotokens


def rand_seq(n, alphabet="ACGTN", seed=0):
    rng = np.random.default_rng(seed)
    return rng.choice(np.frombuffer(alphabet.encode(), np.uint8), n).tobytes().decode()


@pytest.mark.parametrize("k", [1, 2, 3, 6])
@pytest.mark.parametrize("sep", ["", " "])
def test_round_trip(k, sep):
    s = rand_seq(203, seed=k)
    s = s[:50] + s[50:100].lower() + s[100:]
    text = dna_to_biotokens(s, k=k, include_n=True, sep=sep)
    assert biotokens_to_dna(text) == s.upper()
    vocab = set(biotoken_list(k, include_n=True))
    units = text.split(sep) if sep else ["\u220e" + u for u in text.split("\u220e")[1:]]
    assert set(units) <= vocab


def test_list_and_examples():
    assert biotoken_list() == ["\u220eA", "\u220eC", "\u220eG", "\u220eT"]
    assert biotoken_list(include_n=True)[-1] == "\u220eN"
    assert len(biotoken_list(3)) == 64 + 4
    assert dna_to_biotokens("ACGTACGT", k=3) == "\u220eACG\u220eTAC\u220eG\u220eT"
    assert dna_to_biotokens("ACGTNACG", k=3, include_n=True) == "\u220eACG\u220eT\u220eN\u220eACG"


def test_errors_and_prose():
    # guards against N or junk silently vanishing from a sequence written for an LLM
    with pytest.raises(InputError, match="include_n=True"):
        dna_to_biotokens("ACGNT")
    with pytest.raises(InputError, match="position 2"):
        dna_to_biotokens("AC-GT")
    with pytest.raises(InputError, match="not part of a biotoken"):
        biotokens_to_dna("the gene \u220eA\u220eC")
    assert biotokens_to_dna("the gene \u220eA\u220eC ends.", strict=False) == "AC"


def test_each_biotoken_is_one_text_token():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    base = Tokenizer(models.WordLevel({"[UNK]": 0, "the": 1}, unk_token="[UNK]"))
    base.pre_tokenizer = pre_tokenizers.Whitespace()
    text_tok = PreTrainedTokenizerFast(tokenizer_object=base, unk_token="[UNK]")
    text_tok.add_tokens(biotoken_list(3, include_n=True))
    s = "ACGTACGTTNAC"
    text = dna_to_biotokens(s, k=3, include_n=True)
    toks = text_tok.tokenize(text)
    assert "".join(toks) == text and len(toks) == text.count("\u220e")
