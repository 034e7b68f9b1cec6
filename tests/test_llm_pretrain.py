"""Continued pretraining of a biotoken LLM with LoRA: examples, loss masks, learning, kill -9 / resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from genolm.errors import ConfigError, InputError


def _fasta(path: Path, n_contigs: int = 2, length: int = 3000, seed: int = 0, lower: bool = False) -> Path:
    """An order-1 Markov genome: after base b comes (b + 1) % 4 with p = 0.7, so bases are learnable."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as fh:
        for c in range(n_contigs):
            step = np.where(rng.random(length) < 0.7, 1, rng.integers(0, 4, length))
            s = "".join(np.array(list("ACGT"))[np.cumsum(step) % 4])
            if lower:
                s = s[:500] + s[500:900].lower() + s[900:]
            fh.write(f">contig{c}\n")
            for i in range(0, len(s), 60):
                fh.write(s[i : i + 60] + "\n")
    return path


@pytest.fixture(scope="module")
def ext(tmp_path_factory):
    from genolm.llm.extend import ExtendConfig, extend_model
    from genolm.llm.toy import build_toy_llm

    root = tmp_path_factory.mktemp("cpt")
    # untied: a random 2-layer toy is close to the identity, and with a tied head it can only score
    # symmetric bigrams (e_b . e_c), so it cannot learn b -> b+1 in a few steps; an untied head can
    base = build_toy_llm(root / "base", seed=5, tie_word_embeddings=False)
    return extend_model(ExtendConfig(base=str(base), out=str(root / "ext")), progress=False).out_dir


def _cfg(tmp_path, ext, **kw):
    from genolm.llm.pretrain import BiotokenPretrainConfig

    base = dict(
        model=str(ext),
        corpus=[str(_fasta(tmp_path / "g.fa"))],
        out_dir=str(tmp_path / "run"),
        window=48,
        batch_size=8,
        max_steps=6,
        lr=1e-2,
        warmup_steps=2,
        eval_every=3,
        eval_batches=2,
        save_every=3,
        log_every=1,
        precision="fp32",
        progress=False,
        lora_r=4,
    )
    base.update(kw)
    return BiotokenPretrainConfig(**base)


def _log(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]


def test_examples_match_the_tokenizer_and_mask_the_loss(ext):
    from transformers import AutoTokenizer

    from genolm.llm.extend import read_meta
    from genolm.llm.pretrain import BiotokenExampleBuilder

    tok, meta = AutoTokenizer.from_pretrained(ext), read_meta(ext)
    bio = set(meta["token_ids"])
    template = "Chloroplast DNA: {dna} (end)"
    dna = "ACGTacgtAC"
    b = BiotokenExampleBuilder(tok, meta, template=template, softmask_weight=0.1)
    ex = b.build(dna, np.random.default_rng(0))
    # the id table + pre-tokenized template equals tokenizing the whole text
    from genolm.llm.extend import encode_dna

    full = [tok.bos_token_id] + tok(template.replace("{dna}", encode_dna(dna)), add_special_tokens=False)[
        "input_ids"
    ]
    assert ex["input_ids"].tolist() == full
    # loss on biotokens only: weights exactly at biotoken positions, soft-masked bases down-weighted
    is_bio = np.isin(ex["input_ids"], list(bio))
    assert np.array_equal(ex["loss_weights"] > 0, is_bio)
    np.testing.assert_allclose(ex["loss_weights"][is_bio], [1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, 1, 1])
    assert (ex["labels"][~is_bio] == -100).all() and (ex["labels"][is_bio] == ex["input_ids"][is_bio]).all()
    # loss on every position but the first (nothing predicts BOS)
    ex_all = BiotokenExampleBuilder(tok, meta, template=template, loss_on="all").build(
        dna, np.random.default_rng(0)
    )
    assert ex_all["loss_weights"][0] == 0 and (ex_all["loss_weights"][1:] == 1).all()
    # reverse-complement augmentation draws from the sample's generator
    rc = BiotokenExampleBuilder(tok, meta, rc_augment=True)
    texts = {tuple(rc.build("AACG", np.random.default_rng(s))["input_ids"]) for s in range(8)}
    assert len(texts) == 2


def test_weighted_loss_is_the_masked_mean(ext):
    import torch

    from genolm.llm.pretrain import BiotokenExampleBuilder, BiotokenPretrainConfig, build_lm
    from genolm.train.masking import collate

    net, tok, meta = build_lm(BiotokenPretrainConfig(model=str(ext), corpus=["x"]))
    b = BiotokenExampleBuilder(tok, meta, template="DNA: {dna}")
    batch = collate(
        [b.build("ACGTTGCA", np.random.default_rng(0)), b.build("ACG", np.random.default_rng(0))], 0
    )
    with torch.no_grad():
        out = net(**batch)
        lp = torch.log_softmax(out.logits[:, :-1], -1)
        y = batch["labels"][:, 1:]
        keep = y != -100
        want = -lp[keep].gather(-1, y[keep][:, None]).mean()
    torch.testing.assert_close(out.loss, want)


def test_continued_pretraining_learns_and_loads(tmp_path, ext):
    from genolm.llm.adapters import load_biotoken_model
    from genolm.llm.pretrain import continue_pretraining

    cfg = _cfg(tmp_path, ext, max_steps=40, eval_every=20, save_every=20, valid_fraction=0.2, eval_batches=4)
    res = continue_pretraining(cfg)
    log = _log(tmp_path / "run")
    assert [r["step"] for r in log] == list(range(1, 41))
    assert np.mean([r["loss"] for r in log[-5:]]) < np.mean([r["loss"] for r in log[:5]]) - 0.3
    evals = [r for r in log if "valid_loss" in r]
    assert evals[-1]["valid_loss"] < evals[0]["valid_loss"]
    assert res["valid_nt_acc"] > 0.5  # chance 0.25; the Markov structure allows ~0.775
    assert "tokens_per_s" in log[-1]
    final = Path(res["final_dir"])
    assert (final / "adapter_model.safetensors").is_file() and (final / "genolm_biotokens.json").is_file()
    model, tok, meta = load_biotoken_model(final)
    assert len(tok) == len(meta["tokens"]) + meta["base_tokenizer_len"]


@pytest.mark.slow
def test_resume_after_kill_reproduces_the_loss_curve(tmp_path, ext):
    from genolm.llm.pretrain import continue_pretraining

    kw = dict(max_steps=60, save_every=5, eval_every=1000, lora_dropout=0.1)  # dropout: RNG state matters
    continue_pretraining(_cfg(tmp_path, ext, out_dir=str(tmp_path / "ref"), **kw))
    ref = {r["step"]: r["loss"] for r in _log(tmp_path / "ref")}

    cfg = _cfg(tmp_path, ext, out_dir=str(tmp_path / "killed"), **kw)
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg.__dict__))
    cmd = [sys.executable, "-m", "genolm.cli.main", "biotokens", "pretrain", str(cfg_file)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    ck = tmp_path / "killed" / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline and not (ck / "step-00000010").exists():
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = [r["step"] for r in _log(tmp_path / "killed")]
    assert 10 <= max(done) < 60, "the run must be killed part-way (after a checkpoint, before the end)"
    subprocess.run(
        cmd + ["--resume"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    got = {r["step"]: r["loss"] for r in _log(tmp_path / "killed")}
    assert sorted(got) == list(range(1, 61))  # lines after the last checkpoint were replaced, not duplicated
    np.testing.assert_allclose([got[s] for s in range(1, 61)], [ref[s] for s in range(1, 61)], rtol=1e-5)


def test_full_finetuning_mode_and_bad_inputs(tmp_path, ext):
    from genolm import config as C
    from genolm.llm.pretrain import BiotokenPretrainConfig, continue_pretraining

    res = continue_pretraining(_cfg(tmp_path, ext, lora=False, max_steps=3, save_every=3))
    assert (Path(res["final_dir"]) / "model.safetensors").is_file()
    # resuming a full-model run as LoRA would load nothing sensible: refused, naming the checkpoint
    with pytest.raises(InputError, match="holds a full model but the config says lora: true"):
        continue_pretraining(_cfg(tmp_path, ext, lora=True, max_steps=4), resume=True)
    with pytest.raises(ConfigError, match="Did you mean 'trainable_tokens'"):
        _cfg(tmp_path, ext, new_tokens="trainable_token")
    with pytest.raises(ConfigError, match="Did you mean 'loss_on'"):
        C.from_dict(BiotokenPretrainConfig, {"loss_of": "all"})
    with pytest.raises(ConfigError, match=r"\{dna\}"):
        _cfg(tmp_path, ext, template="no placeholder")
    with pytest.raises(ConfigError, match="clm"):
        _cfg(tmp_path, ext, objective="mlm")
    not_ext = tmp_path / "plain"
    not_ext.mkdir()
    with pytest.raises(InputError, match="genolm biotokens extend"):
        continue_pretraining(_cfg(tmp_path, not_ext, out_dir=str(tmp_path / "run2")))
