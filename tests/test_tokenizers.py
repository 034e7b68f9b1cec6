"""Contract tests run over every registered tokenizer (scikit-learn test_common style), then
golden ids for the published layouts and equivalence with the stock transformers loaders."""

from __future__ import annotations

import functools
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest

import genolm.tokenizers as T
from genolm.alphabet import reverse_complement
from genolm.errors import ConfigError, InputError
from genolm.registry import UnknownNameError
from genolm.tokenizers import TOKENIZERS, GenomicTokenizer, get_tokenizer

NAMES = TOKENIZERS.names()
# schemes whose decode(encode(s)) gives back the input (codon: whole codons in frame only)
LOSSLESS = {"char", "iupac", "nt6", "bpe"}
# schemes where tokens of rc(s) are the complemented tokens of s, reversed
RC_SYMMETRIC = {"char", "iupac", "kmer"}


@functools.cache
def build(name: str, **kw) -> GenomicTokenizer:
    return get_tokenizer(name, **kw)


def rand_seq(n: int, alphabet: str = "ACGT", seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    return rng.choice(np.frombuffer(alphabet.encode(), np.uint8), n).tobytes().decode()


def with_n(seq: str, every: int = 17) -> str:
    return "".join("N" if i % every == every - 1 else c for i, c in enumerate(seq))


def expected_decode(tok: GenomicTokenizer, seq: str) -> str:
    s = seq.upper()
    if tok.scheme == "codon":
        n = max((len(s) - tok.frame) // 3, 0)
        return s[tok.frame : tok.frame + 3 * n]
    return s


# --- the contract, for every registered scheme ----------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_api_surface(name):
    tok = build(name)
    assert isinstance(tok, GenomicTokenizer)
    assert tok.scheme in {"char", "iupac", "kmer", "nt6", "codon", "bpe"}
    assert isinstance(tok.bp_per_token, float) and tok.bp_per_token >= 1
    ids = {tok.unk_token_id, tok.mask_token_id, tok.pad_token_id}
    assert len(ids) == 3 and all(isinstance(i, int) and 0 <= i < tok.vocab_size for i in ids)
    assert tok.convert_ids_to_tokens(tok.mask_token_id) == tok.mask_token
    assert len(tok.get_vocab()) == len(tok) == tok.vocab_size
    # DataLoader workers receive pickled tokenizers
    s = with_n(rand_seq(50))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(tok)).encode_array(s), tok.encode_array(s))


@pytest.mark.parametrize("name", NAMES)
def test_encode_array_agrees_with_hf_call(name):
    tok = build(name)
    s = with_n(rand_seq(200, seed=1))
    ids = tok.encode_array(s)
    assert ids.dtype == np.int32 and ids.ndim == 1
    assert tok(s, add_special_tokens=False)["input_ids"] == ids.tolist()
    assert tok.encode(s, add_special_tokens=False) == ids.tolist()
    assert tok.convert_tokens_to_ids(tok.tokenize(s)) == ids.tolist()
    full = tok(s)["input_ids"]
    assert full == tok.build_inputs_with_special_tokens(ids.tolist())
    assert len(full) == len(ids) + tok.num_special_tokens_to_add()


@pytest.mark.parametrize("name", NAMES)
def test_offsets_point_at_what_each_token_stands_for(name):
    tok = build(name)
    s = with_n(rand_seq(300, seed=2), every=23)
    ids, offs = tok.encode_with_offsets(s)
    assert offs.shape == (len(ids), 2) and offs.dtype == np.int64
    np.testing.assert_array_equal(offs, tok.offsets_array(s))
    np.testing.assert_array_equal(ids, tok.encode_array(s))
    for i, (a, b) in zip(ids.tolist(), offs.tolist()):
        if i != tok.unk_token_id:
            assert s[a:b] == tok.convert_ids_to_tokens(i)
    # the HF path: same offsets, (0, 0) for special tokens
    enc = tok(s, return_offsets_mapping=True, return_special_tokens_mask=True)
    body = [o for o, m in zip(enc["offset_mapping"], enc["special_tokens_mask"]) if not m]
    assert body == [tuple(o) for o in offs.tolist()]
    assert all(o == (0, 0) for o, m in zip(enc["offset_mapping"], enc["special_tokens_mask"]) if m)


@pytest.mark.parametrize("name", NAMES)
def test_decode_round_trip(name):
    tok = build(name)
    s = rand_seq(301, seed=3)
    assert tok.decode(tok(s)["input_ids"], skip_special_tokens=True) == expected_decode(tok, s)
    assert tok.decode_array(tok.encode_array(s)) == expected_decode(tok, s)
    if tok.scheme in LOSSLESS:
        s = with_n(s)
        assert tok.decode(tok.encode(s), skip_special_tokens=True) == s
    if tok.scheme == "kmer":  # overlapping k-mers re-assemble around [UNK] windows when N is
        t = with_n(s[:290], every=50)  # at least k from the ends (there only [UNK] covers a base)
        assert tok.decode_array(tok.encode_array(t)) == t


@pytest.mark.parametrize("name", NAMES)
def test_soft_mask_is_upper_cased_with_input_offsets(name):
    tok = build(name)
    s = rand_seq(120, seed=4)
    masked = s[:40] + s[40:90].lower() + s[90:]
    np.testing.assert_array_equal(tok.encode_array(masked), tok.encode_array(s))
    np.testing.assert_array_equal(tok.offsets_array(masked), tok.offsets_array(s))


@pytest.mark.parametrize("name", NAMES)
def test_invalid_characters_unk_or_raise(name):
    s = "ACGTACGTAC*GTACGTACGTAC\u00e9GTA"
    tok = build(name)
    ids = tok.encode_array(s)
    assert tok.unk_token_id in ids.tolist()
    assert len(tok.offsets_array(s)) == len(ids)  # non-ASCII keeps one position per character
    # guards against silently tokenizing garbage: the error names the first bad position
    strict = build(name, on_invalid="raise")
    with pytest.raises(InputError, match="position 10"):
        strict.encode_array(s)
    with pytest.raises(InputError, match="invalid character"):
        strict(s)
    np.testing.assert_array_equal(strict.encode_array("acgtNACGT"), tok.encode_array("ACGTNACGT"))


@pytest.mark.parametrize("name", NAMES)
def test_empty_and_short_sequences(name):
    tok = build(name)
    assert tok.encode_array("").shape == (0,)
    assert tok.offsets_array("").shape == (0, 2)
    assert tok("")["input_ids"] == tok.build_inputs_with_special_tokens([])
    assert len(tok.encode_array("AC")) == len(tok.offsets_array("AC"))


@pytest.mark.parametrize("name", NAMES)
def test_special_tokens_configurable_and_survive_autotokenizer(name, tmp_path):
    from transformers import AutoTokenizer

    kw = dict(mask_token="<MASKX>", pad_token="<PADX>", cls_token="<CLSX>", on_invalid="raise")
    if name != "bpe":
        kw.update(unk_token="<UNKX>")
    tok = build(name, **kw)
    default = build(name)
    assert tok.mask_token == "<MASKX>" and tok.pad_token == "<PADX>" and tok.cls_token == "<CLSX>"
    if name not in ("bpe",):  # renamed specials keep their published slot
        assert tok.mask_token_id == default.mask_token_id
        assert tok.pad_token_id == default.pad_token_id
    s = "ACGTACGTAC" + tok.mask_token + "GTACGTACGTTT"
    enc = tok(s, return_offsets_mapping=True, add_special_tokens=False)
    j = enc["input_ids"].index(tok.mask_token_id)
    assert enc["offset_mapping"][j] == (10, 10 + len("<MASKX>"))

    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)  # no trust_remote_code
    assert type(loaded) is type(tok)
    for attr in ("mask_token", "pad_token", "cls_token", "unk_token", "template", "on_invalid", "vocab_size"):
        assert getattr(loaded, attr) == getattr(tok, attr), attr
    assert loaded.all_special_ids == tok.all_special_ids
    seq = rand_seq(97, seed=5)
    assert loaded(seq)["input_ids"] == tok(seq)["input_ids"]
    np.testing.assert_array_equal(loaded.offsets_array(seq), tok.offsets_array(seq))
    assert loaded(s)["input_ids"] == tok(s)["input_ids"]


@pytest.mark.parametrize("name", NAMES)
def test_batch_padding_truncation_tensors(name):
    tok = build(name)
    a, b = rand_seq(90, seed=6), rand_seq(20, seed=7)
    enc = tok(
        [a, b], padding=True, truncation=True, max_length=12, return_offsets_mapping=True, return_tensors="pt"
    )
    ids, mask, offs = enc["input_ids"], enc["attention_mask"], enc["offset_mapping"]
    assert ids.shape[0] == 2 and ids.shape[1] <= 12 and offs.shape == (*ids.shape, 2)
    assert ids.shape[1] == 12  # the 90 bp sequence always fills max_length
    pad = mask == 0
    assert (ids[pad] == tok.pad_token_id).all() and (offs[pad] == 0).all()
    # truncation keeps the first tokens, then the template's end tokens
    single = tok(a, truncation=True, max_length=12, return_offsets_mapping=True)
    assert len(single["input_ids"]) == 12
    n_body = 12 - tok.num_special_tokens_to_add()
    body = [o for o, i in zip(single["offset_mapping"], single["input_ids"]) if i not in tok.all_special_ids]
    assert body == [tuple(o) for o in tok.offsets_array(a)[:n_body].tolist()]
    # left padding pads offsets on the left too
    left = tok([a, b], padding="max_length", max_length=120, padding_side="left", return_offsets_mapping=True)
    assert left["offset_mapping"][1][0] == (0, 0) and len(left["offset_mapping"][1]) == 120


@pytest.mark.parametrize("name", [n for n in NAMES if build(n).scheme in RC_SYMMETRIC])
def test_reverse_complement_invariant(name):
    tok = build(name)
    s = with_n(rand_seq(257, seed=8), every=31)
    ids, offs = tok.encode_with_offsets(s)
    ids_rc, offs_rc = tok.encode_with_offsets(reverse_complement(s))
    # token-level complement map: each sequence token to the id of its reverse complement
    comp = np.arange(len(tok), dtype=np.int64)
    specials = set(tok.all_special_ids)
    for t, i in tok.get_vocab().items():
        if i not in specials:
            comp[i] = tok.convert_tokens_to_ids(reverse_complement(t))
    np.testing.assert_array_equal(ids_rc, comp[ids][::-1])
    L = len(s)
    np.testing.assert_array_equal(offs_rc, (L - offs[::-1])[:, ::-1])


def test_unknown_name_suggests():
    # guards against a typo silently building some other tokenizer
    with pytest.raises(UnknownNameError, match="Did you mean"):
        get_tokenizer("kmr6")
    with pytest.raises(ConfigError, match="k must be"):
        get_tokenizer("kmer", k=0)
    with pytest.raises(ConfigError, match="frame"):
        get_tokenizer("codon", frame=3)
    with pytest.raises(ConfigError, match="template"):
        get_tokenizer("char", template="cls_sop")


def test_registry_names_and_kmer_variants():
    assert {"char", "iupac", "kmer", "kmer3", "kmer6", "nt6", "codon", "bpe"} <= set(NAMES)
    assert build("kmer6").k == 6 and build("kmer3").k == 3
    assert get_tokenizer("kmer", k=4).k == 4 and get_tokenizer("kmer6", k=5).k == 5
    assert get_tokenizer("nt").scheme == "nt6"
    for n in NAMES:
        assert TOKENIZERS.help(n)


def test_fast_path_is_vectorised():
    # loose bound (shared CI machines): a per-base python loop would take seconds
    s = rand_seq(1_000_000, seed=9)
    for n in ("char", "kmer6", "nt6"):
        tok = build(n)
        tok.encode_array(s[:1000])
        t = time.perf_counter()
        tok.encode_array(s)
        assert time.perf_counter() - t < 0.5, n


def test_codon_frames_and_edges():
    s = "TTATGAAACCCNGGGTAGCAT"
    for f in (0, 1, 2):
        tok = build("codon", frame=f)
        offs = tok.offsets_array(s)
        assert offs[0, 0] == f and (offs[:, 1] - offs[:, 0] == 3).all() and offs[-1, 1] <= len(s)
        assert len(offs) == (len(s) - f) // 3
    tok = build("codon", frame=2)
    toks = tok.convert_ids_to_tokens(tok.encode_array(s).tolist())
    assert toks == ["ATG", "AAA", "CCC", tok.unk_token, "GTA", "GCA"]  # NGG -> [UNK]; "TT", "T" dropped
    assert tok.decode_array(tok.encode_array(s)) == "ATGAAACCCNNNGTAGCA"


def test_char_uses_hyenadna_layout():
    # HyenaDNA / Caduceus CharacterTokenizer: [CLS]=0 [SEP]=1 [BOS]=2 [MASK]=3 [PAD]=4 [RESERVED]=5 [UNK]=6
    tok = build("char")
    assert tok.convert_ids_to_tokens(list(range(12))) == [
        "[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]", "A", "C", "G", "T", "N"
    ]  # fmt: skip
    assert tok("ACGTN")["input_ids"] == [7, 8, 9, 10, 11, 1]  # HyenaDNA appends [SEP] as eos


def test_iupac_keeps_every_code():
    tok = build("iupac")
    s = "ACGTURYSWKMBDHVN-acgturyswkmbdhvn"
    assert tok.unk_token_id not in tok.encode_array(s).tolist()
    assert tok.decode_array(tok.encode_array(s)) == s.upper()
    assert tok.encode_array("ACGU.").tolist()[-1] == tok.unk_token_id


# --- published layouts: golden ids and the stock loaders ---------------------------------------

# DNABERT-6 vocab.txt (jerryji1993/DNABERT src/transformers/dnabert-config/bert-config-6/vocab.txt,
# as shipped with zhihan1996/DNA_bert_6): [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then the 4096
# 6-mers in itertools.product("ATCG", repeat=6) order from id 5.  id = 5 + base-4 value with
# A=0 T=1 C=2 G=3; e.g. ACGTAC = 5 + (0,2,3,1,0,2)_4 = 5 + 722 = 727.
DNABERT6_SEQ = "ACGTACGTAC"
DNABERT6_GOLDEN = [2, 727, 2896, 3378, 1209, 727, 3]  # [CLS] ACGTAC CGTACG GTACGT TACGTA ACGTAC [SEP]

# Nucleotide Transformer vocab.txt (InstaDeepAI/nucleotide-transformer-*; instadeepai/nucleotide-
# transformer tokenizers.py compute_tokens_to_ids_v2): <unk>=0 <pad>=1 <mask>=2 <cls>=3 <eos>=4 <bos>=5,
# 6-mers in product("ATCG") order from id 6, then A=4102 T=4103 C=4104 G=4105 N=4106.
# The sequence and its token split are the example in the NT docs (docs/nucleotide_transformer.md):
# [<CLS>,<ACGTGT>,<A>,<C>,<N>,<TGCACG>,<G>,<A>,<N>,<CGACTA>,<GTCTGA>]
NT_SEQ = "ACGTGTACNTGCACGGANCGACTAGTCTGA"
NT_GOLDEN = [3, 739, 4102, 4104, 4106, 1937, 4105, 4102, 4106, 2858, 3490]


def test_dnabert6_golden_ids():
    tok = build("kmer6")
    assert tok(DNABERT6_SEQ)["input_ids"] == DNABERT6_GOLDEN
    assert tok.convert_ids_to_tokens([0, 1, 2, 3, 4, 5, 6, 4100]) == [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "AAAAAA", "AAAAAT", "GGGGGG"
    ]  # fmt: skip
    assert tok.vocab_size == 4101


def test_dnabert3_layout():
    tok = build("kmer3")
    assert tok.convert_ids_to_tokens(list(range(5, 13))) == [
        "AAA",
        "AAT",
        "AAC",
        "AAG",
        "ATA",
        "ATT",
        "ATC",
        "ATG",
    ]
    assert tok.vocab_size == 69


def test_nt_golden_ids():
    tok = build("nt6")
    assert tok(NT_SEQ)["input_ids"] == NT_GOLDEN
    assert tok.convert_ids_to_tokens(tok.encode_array(NT_SEQ).tolist()) == [
        "ACGTGT", "A", "C", "N", "TGCACG", "G", "A", "N", "CGACTA", "GTCTGA"
    ]  # fmt: skip
    assert tok("ACGTGTACGTGCACGGACGACTAGTCAGCA")["input_ids"][0] == 3 and tok.vocab_size == 4107
    v1 = build("nt6", layout="nt-jax-v1")  # JAX v1 order: specials_1, k-mers, ATCGN, <eos>, <bos>
    assert v1.convert_ids_to_tokens([3, 4, 4100, 4104, 4105, 4106]) == [
        "<cls>",
        "AAAAAA",
        "A",
        "N",
        "<eos>",
        "<bos>",
    ]


def test_stock_bert_tokenizer_gives_dnabert_ids(tmp_path):
    from transformers import BertTokenizer

    tok = build("kmer6")
    tok.export_stock(tmp_path)
    lines = (tmp_path / "vocab.txt").read_text().splitlines()
    assert (
        lines[:7] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "AAAAAA", "AAAAAT"] and len(lines) == 4101
    )
    stock = BertTokenizer.from_pretrained(tmp_path)
    for seed in range(5):
        s = with_n(rand_seq(150 + seed, seed=seed), every=40)
        assert stock(tok.to_stock_text(s))["input_ids"] == tok(s)["input_ids"]
    assert stock(tok.to_stock_text(DNABERT6_SEQ))["input_ids"] == DNABERT6_GOLDEN
    # and back: genolm reads the stock directory (k inferred from the vocab)
    again = T.KmerTokenizer.from_pretrained(tmp_path)
    assert again.k == 6 and again(DNABERT6_SEQ)["input_ids"] == DNABERT6_GOLDEN


def test_stock_esm_tokenizer_gives_nt_ids(tmp_path):
    from transformers import EsmTokenizer

    tok = build("nt6")
    tok.export_stock(tmp_path)
    lines = (tmp_path / "vocab.txt").read_text().splitlines()
    assert lines[:7] == ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>", "AAAAAA"]
    assert lines[-5:] == ["A", "T", "C", "G", "N"] and len(lines) == 4107
    stock = EsmTokenizer.from_pretrained(tmp_path)
    assert stock(NT_SEQ)["input_ids"] == NT_GOLDEN
    # stock EsmTokenizer splits on vocabulary entries (longest match); on ACGTN it is NT's rule.
    # (It differs only on runs of invalid characters, which it merges into one <unk>.)
    for seed in range(20):
        s = rand_seq(1 + 13 * seed, alphabet="ACGTACGTACGTN", seed=seed)
        assert stock(s)["input_ids"] == tok(s)["input_ids"], s
    again = T.NonOverlappingKmerTokenizer.from_pretrained(tmp_path)
    assert again(NT_SEQ)["input_ids"] == NT_GOLDEN


def test_stock_esm_tokenizer_for_char(tmp_path):
    from transformers import EsmTokenizer

    tok = build("char", template="cls")
    tok.export_stock(tmp_path)
    stock = EsmTokenizer.from_pretrained(tmp_path)
    s = with_n(rand_seq(64, seed=11))
    assert stock(tok.to_stock_text(s.lower()))["input_ids"] == tok(s.lower())["input_ids"]
    with pytest.raises(NotImplementedError):
        build("codon").export_stock(tmp_path / "x")


def test_autotokenizer_registration_when_transformers_auto_is_imported_first(tmp_path):
    build("kmer3").save_pretrained(tmp_path)
    code = (
        "from transformers import AutoTokenizer\n"
        "import genolm.tokenizers\n"
        f"t = AutoTokenizer.from_pretrained({str(tmp_path)!r})\n"
        "print(type(t).__name__, t.k)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["KmerTokenizer", "3"]


def test_ls_lists_every_tokenizer(capsys):
    from genolm.cli.main import main

    assert main(["ls", "tokenizers"]) == 0
    out = capsys.readouterr().out
    for n in NAMES:
        assert n in out


@pytest.mark.parametrize("k", range(1, 9))
def test_vectorised_kmer_codes_match_naive_lookup(k):
    tok = build("kmer", k=k)
    s = with_n(rand_seq(200, seed=k), every=37)
    vocab = tok.get_vocab()
    naive = [vocab.get(s[i : i + k], tok.unk_token_id) for i in range(len(s) - k + 1)]
    assert tok.encode_array(s).tolist() == naive
    if k > 1:
        nt = build("nt6", k=k)
        assert nt.decode_array(nt.encode_array(s)) == s


def test_vocab_file_in_another_order(tmp_path):
    rng = np.random.default_rng(0)
    vocab = build("kmer3").convert_ids_to_tokens(list(range(69)))
    shuffled = [vocab[i] for i in rng.permutation(len(vocab))]
    (tmp_path / "vocab.txt").write_text("\n".join(shuffled) + "\n")
    tok = T.KmerTokenizer(vocab_file=str(tmp_path / "vocab.txt"))
    assert tok.k == 3 and tok.convert_ids_to_tokens(list(range(69))) == shuffled
    s = with_n(rand_seq(100, seed=1))
    assert tok.convert_ids_to_tokens(tok.encode_array(s).tolist()) == build("kmer3").tokenize(s)
    (tmp_path / "vocab.txt").write_text("\n".join(shuffled[:-3]) + "\n")
    with pytest.raises(InputError, match="lacks 3 required tokens"):
        T.KmerTokenizer(vocab_file=str(tmp_path / "vocab.txt"), k=3)
