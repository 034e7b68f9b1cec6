"""Pretraining from FASTA: every tokenizer x objective, resume after kill -9, DDP == single process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from genolm.errors import ConfigError, InputError

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2}
TINY_CONV = {"hidden_size": 32, "num_hidden_layers": 2}


def _fasta(path: Path, n_contigs: int = 2, length: int = 3000, seed: int = 0, lower: bool = False) -> Path:
    """An order-1 Markov genome: after base b comes (b + 1) % 4 with p = 0.7, so bases are learnable."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as fh:
        for c in range(n_contigs):
            idx = np.empty(length, dtype=np.int64)
            idx[0] = 0
            step = np.where(rng.random(length) < 0.7, 1, rng.integers(0, 4, length))
            idx = np.cumsum(step) % 4
            s = "".join(np.array(list("ACGT"))[idx])
            if lower:
                s = s[:500] + s[500:900].lower() + s[900:]
            fh.write(f">contig{c}\n")
            for i in range(0, len(s), 60):
                fh.write(s[i : i + 60] + "\n")
    return path


def _cfg(tmp_path, **kw):
    from genolm.train.pretrain_config import PretrainConfig

    base = dict(
        corpus=[str(_fasta(tmp_path / "g.fa"))],
        out_dir=str(tmp_path / "run"),
        model="encoder",
        model_config=dict(TINY),
        tokenizer="char",
        window=64,
        batch_size=8,
        max_steps=6,
        lr=3e-3,
        warmup_steps=2,
        eval_every=3,
        eval_batches=2,
        save_every=3,
        log_every=1,
        precision="fp32",
        progress=False,
    )
    base.update(kw)
    return PretrainConfig(**base)


def _log(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]


def test_pretrain_learns_and_saves_a_loadable_model(tmp_path):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    import genolm.models  # noqa: F401
    import genolm.tokenizers  # noqa: F401
    from genolm.train.pretrain import pretrain

    # a dilated CNN sees its neighbours from step 0, so it learns the Markov structure in 40 steps
    # (a tiny RoPE transformer first has to learn to attend to neighbours: ~1000 samples of plateau)
    cfg = _cfg(tmp_path, model="gpn", model_config=dict(TINY_CONV), max_steps=40, eval_every=10, lr=1e-2)
    res = pretrain(cfg.__class__(**{**cfg.__dict__, "valid_fraction": 0.2, "eval_batches": 8}))
    log = _log(tmp_path / "run")
    assert [r["step"] for r in log] == list(range(1, 41))
    assert np.mean([r["loss"] for r in log[-5:]]) < np.mean([r["loss"] for r in log[:5]])
    evals = [r for r in log if "valid_loss" in r]
    assert [r["step"] for r in evals] == [10, 20, 30, 40]
    assert evals[-1]["valid_loss"] < evals[0]["valid_loss"]  # held-out loss falls as it trains
    assert res["valid_nt_acc"] > 0.5  # chance is 0.25; the Markov structure allows ~0.775
    model = AutoModelForMaskedLM.from_pretrained(res["final_dir"])
    tok = AutoTokenizer.from_pretrained(res["final_dir"])
    assert model.config.vocab_size == len(tok)


@pytest.mark.parametrize(
    "tokenizer", ["char", "iupac", "kmer3", "kmer6", "nt6", "codon", "bpe:vocab_size=64"]
)
@pytest.mark.parametrize("model", ["encoder", "decoder"])
def test_every_tokenizer_with_mlm_and_clm(tmp_path, tokenizer, model):
    from genolm.train.pretrain import pretrain

    res = pretrain(_cfg(tmp_path, tokenizer=tokenizer, model=model, max_steps=2, eval_every=2, save_every=2))
    assert np.isfinite(res["loss"]) and np.isfinite(res["valid_loss"])


@pytest.mark.parametrize("family,objective", [("gpn", "mlm"), ("gpn-rc", "mlm"), ("hyena", "clm")])
def test_other_families(tmp_path, family, objective):
    from genolm.models import MODELS
    from genolm.train.pretrain import pretrain

    assert MODELS.get(family).objective == objective
    res = pretrain(_cfg(tmp_path, model=family, model_config=dict(TINY_CONV), max_steps=2, eval_every=2))
    assert np.isfinite(res["loss"])


def test_seq_len_warmup_and_softmask(tmp_path):
    from genolm.train.pretrain import pretrain

    corpus = [str(_fasta(tmp_path / "soft.fa", lower=True))]
    pretrain(
        _cfg(
            tmp_path,
            corpus=corpus,
            model="hyena",
            model_config=dict(TINY_CONV),
            seq_len_warmup_start=16,
            seq_len_warmup_steps=2,
            max_steps=6,
        )
    )
    lens = [r["seq_len_bp"] for r in _log(tmp_path / "run")]
    assert lens == [16, 32, 32, 64, 64, 64]  # doubling every 2 steps up to the 64 bp window


def test_softmask_weights_reach_the_loss(tmp_path):
    from genolm.tokenizers import get_tokenizer
    from genolm.train.masking import ExampleBuilder, MaskingConfig

    tok = get_tokenizer("kmer3")
    b = ExampleBuilder(tok, MaskingConfig(objective="clm", softmask_weight=0.1))
    ex = b.build("ACGTacgtACGT", np.random.default_rng(0))
    # tokens touching any soft-masked base get 0.1; special tokens get 0
    w = ex["loss_weights"]
    body = w[w > 0]
    assert len(body) == 10
    np.testing.assert_allclose(
        body, [1, 1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 1, 1]
    )  # 3-mers at 2..7 touch 'acgt'


@pytest.mark.slow
def test_resume_after_kill_reproduces_the_loss_curve(tmp_path):
    from genolm.train.pretrain import pretrain

    ref = _cfg(tmp_path, out_dir=str(tmp_path / "ref"), max_steps=60, save_every=5, eval_every=1000)
    pretrain(ref)
    ref_loss = {r["step"]: r["loss"] for r in _log(tmp_path / "ref")}

    cfg = _cfg(tmp_path, out_dir=str(tmp_path / "killed"), max_steps=60, save_every=5, eval_every=1000)
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg.__dict__))
    cmd = [sys.executable, "-m", "genolm.cli.main", "pretrain", str(cfg_file)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})
    ck = tmp_path / "killed" / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline and not (ck / "step-00000010").exists():
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = [r["step"] for r in _log(tmp_path / "killed")]
    assert 10 <= max(done) < 60, "the run must be killed part-way (after a checkpoint, before the end)"
    subprocess.run(cmd + ["--resume"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    got = {r["step"]: r["loss"] for r in _log(tmp_path / "killed")}
    assert sorted(got) == list(range(1, 61))  # lines after the last checkpoint were replaced, not duplicated
    np.testing.assert_allclose([got[s] for s in range(1, 61)], [ref_loss[s] for s in range(1, 61)], rtol=1e-5)


@pytest.mark.slow
def test_ddp_two_processes_match_single_process(tmp_path):
    from genolm.train.pretrain import pretrain

    kw = dict(max_steps=5, save_every=100, eval_every=1000, rc_augment=True)
    pretrain(_cfg(tmp_path, out_dir=str(tmp_path / "single"), **kw))
    cfg = _cfg(tmp_path, out_dir=str(tmp_path / "ddp"), **kw)
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg.__dict__))
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for attempt in range(2):
        out = subprocess.run(
            [torchrun, "--nproc_per_node", "2", "--master_port", "29517"]
            + ["-m", "genolm.cli.main", "pretrain", str(cfg_file)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        # a rank killed by SIGABRT from C++ ("terminate called without an active exception", gloo;
        # a few percent of runs on this machine) is relaunched once; any other failure is not
        if out.returncode == 0 or "SIGABRT" not in out.stderr or attempt:
            break
        shutil.rmtree(tmp_path / "ddp", ignore_errors=True)
    assert out.returncode == 0, out.stderr[-3000:]
    start = json.loads(next(ln for ln in out.stdout.splitlines() if '"event": "start"' in ln))
    assert start["processes"] == 2
    single = [r["loss"] for r in _log(tmp_path / "single")]
    ddp = [r["loss"] for r in _log(tmp_path / "ddp")]
    np.testing.assert_allclose(ddp, single, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_compiled_blocks_train_like_eager(tmp_path):
    """compile: true (torch.compile of every block) gives the eager run's losses, eval and weights."""
    pytest.importorskip("torch._inductor")
    import torch
    from transformers import AutoModelForMaskedLM

    from genolm.train.pretrain import Pretrainer, pretrain

    if not shutil.which("g++") and not shutil.which("c++") and not shutil.which("clang++"):
        pytest.skip("inductor on CPU needs a C++ compiler")
    kw = dict(max_steps=3, save_every=3, eval_every=3, model_config={**TINY, "num_hidden_layers": 1})
    res = {c: pretrain(_cfg(tmp_path, out_dir=str(tmp_path / c), compile=c, **kw)) for c in ("false", "true")}
    eager, compiled = (_log(tmp_path / c) for c in ("false", "true"))
    np.testing.assert_allclose(
        [r["loss"] for r in compiled], [r["loss"] for r in eager], rtol=1e-4, atol=1e-5
    )
    assert compiled[-1]["loss"] != compiled[0]["loss"]  # the steps did train
    np.testing.assert_allclose(res["true"]["valid_loss"], res["false"]["valid_loss"], rtol=1e-4)
    # in-place compilation keeps the parameter names: the checkpoint is an ordinary model
    a, b = (AutoModelForMaskedLM.from_pretrained(res[c]["final_dir"]) for c in ("false", "true"))
    assert a.state_dict().keys() == b.state_dict().keys()
    for k, v in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[k], v, atol=1e-4, rtol=1e-3)
    pt = Pretrainer(_cfg(tmp_path, out_dir=str(tmp_path / "x"), compile="true", **kw))
    assert len(pt.compiled) == 1 and pt.compiled[0] is pt.acc.unwrap_model(pt.model).model.layers[0]


def test_compile_auto_choice_and_fallback(tmp_path, monkeypatch):
    from genolm import config as C
    from genolm.train.pretrain import COMPILE_MIN_STEPS, Pretrainer, resolve_compile
    from genolm.train.pretrain_config import PretrainConfig

    auto = dict(family="encoder", max_steps=COMPILE_MIN_STEPS, processes=1, on_cpu=True)
    have_cxx = any(shutil.which(c) for c in ("g++", "c++", "clang++"))
    assert resolve_compile("auto", **auto) == (have_cxx and sys.platform.startswith("linux"))
    assert not resolve_compile("auto", **{**auto, "max_steps": COMPILE_MIN_STEPS - 1})  # short runs
    assert not resolve_compile("auto", **{**auto, "processes": 2})
    assert not resolve_compile("auto", **{**auto, "on_cpu": False})
    assert not resolve_compile("auto", **{**auto, "family": "some-llm"})
    assert resolve_compile("true", **{**auto, "max_steps": 1}) and not resolve_compile("false", **auto)
    assert C.from_dict(PretrainConfig, {"compile": True}).compile == "true"  # YAML's bool
    with pytest.raises(ConfigError, match="compile must be"):
        PretrainConfig(compile="sometimes")
    assert not Pretrainer(_cfg(tmp_path, out_dir=str(tmp_path / "short"))).compiled  # 6 steps: eager
    if not have_cxx:
        return
    # a toolchain that cannot compile: 'auto' warns and trains eagerly, with the eager losses
    import torch._dynamo
    import torch._inductor.config as inductor_config

    torch._dynamo.reset()  # no graph compiled earlier in this process may be reused
    monkeypatch.setattr(inductor_config, "force_disable_caches", True)  # nor one cached on disk
    monkeypatch.setattr(inductor_config.cpp, "cxx", ("/nonexistent/c++",))
    steps = dict(max_steps=COMPILE_MIN_STEPS, model_config={**TINY, "num_hidden_layers": 1})
    pt = Pretrainer(_cfg(tmp_path, out_dir=str(tmp_path / "auto"), **steps))
    assert pt.compiled
    with pytest.warns(UserWarning, match="torch.compile failed"):
        got = [pt.train_step()["loss"] for _ in range(2)]
    assert not pt.compiled
    ref = Pretrainer(_cfg(tmp_path, out_dir=str(tmp_path / "eager"), compile="false", **steps))
    np.testing.assert_allclose(got, [ref.train_step()["loss"] for _ in range(2)], rtol=1e-6)


def test_bad_inputs(tmp_path):
    from genolm import config as C
    from genolm.train.pretrain import pretrain
    from genolm.train.pretrain_config import PretrainConfig

    # a FASTA with no usable windows
    short = tmp_path / "short.fa"
    short.write_text(">a\nACGT\n>b\nNNNNNNNN\n")
    with pytest.raises(InputError, match=r"cannot hold a single window: a .*short\.fa"):
        pretrain(_cfg(tmp_path, corpus=[str(short)]))
    # unknown config keys get "did you mean"
    with pytest.raises(ConfigError, match="Did you mean 'window'"):
        C.from_dict(PretrainConfig, {"windw": 10})
    with pytest.raises(ConfigError, match="hidden_size"):
        pretrain(_cfg(tmp_path, model_config={"hiden_size": 32}))
    # resuming from a checkpoint of a different architecture
    pretrain(_cfg(tmp_path, max_steps=3, save_every=3))
    with pytest.raises(InputError, match="genolm-encoder.*genolm-decoder|checkpoint is a"):
        pretrain(_cfg(tmp_path, model="decoder", max_steps=4), resume=True)
    with pytest.raises(InputError, match="architecture differs"):
        pretrain(_cfg(tmp_path, model_config={**TINY, "hidden_size": 64}, max_steps=4), resume=True)


def test_pretrain_refuses_a_used_out_dir_without_resume_or_overwrite(tmp_path):
    # guards: re-running pretrain into a finished run's folder silently mixed two runs
    from genolm.train.pretrain import pretrain

    cfg = _cfg(tmp_path, max_steps=2, save_every=2, eval_every=2, progress=False)
    pretrain(cfg)
    ck = tmp_path / "run" / "checkpoints"
    (ck / ".step-00000004.k1l2m3n4").mkdir()  # what a kill during a checkpoint write leaves
    with pytest.raises(InputError, match="out_dir is not empty.*--resume.*--overwrite"):
        pretrain(cfg)
    assert not (ck / ".step-00000004.k1l2m3n4").exists()  # stale temp removed at the next start
    with pytest.raises(ConfigError, match="contradict"):
        pretrain(cfg, resume=True, overwrite=True)
    (tmp_path / "run" / "stray.txt").write_text("x")
    pretrain(cfg, overwrite=True)
    assert not (tmp_path / "run" / "stray.txt").exists()
    assert [p.name for p in ck.glob("step-*")] == ["step-00000002"]
    # --overwrite with a run that cannot start (a misspelt model key) keeps the earlier run
    (tmp_path / "run" / "keep.txt").write_text("earlier run")
    with pytest.raises(ConfigError):
        pretrain(_cfg(tmp_path, model_config={"hiden_size": 32}, max_steps=2), overwrite=True)
    assert (tmp_path / "run" / "keep.txt").read_text() == "earlier run"
    assert [p.name for p in ck.glob("step-*")] == ["step-00000002"]
    assert not any(p.name.startswith(".run.") for p in tmp_path.iterdir())


@pytest.mark.parametrize(
    "key, value", [("lr", -1), ("lr", float("nan")), ("window", 0), ("valid_fraction", 2)]
)
def test_pretrain_config_rejects_out_of_range_values(tmp_path, key, value):
    # guards: `lr: -1` surfaced as torch's bare "Invalid learning rate" traceback
    with pytest.raises(ConfigError, match=f"config key '{key}' must be"):
        _cfg(tmp_path, **{key: value})


def test_rna_corpus_is_converted_to_dna_with_a_warning(tmp_path, caplog):
    # guards: pretrain turned every U of an RNA corpus into [UNK] without a word
    from genolm.train.corpus import load_contigs

    (tmp_path / "r.fa").write_text(">r1\nACGUACGUUU\n>d1\nACGTT\n")
    contigs = load_contigs([tmp_path / "r.fa"])
    assert bytes(contigs[0].seq).decode() == "ACGTACGTTT"
    assert "1 RNA record(s)" in caplog.text and "converted 4 U to T" in caplog.text
    (tmp_path / "m.fa").write_text(">m1\nACGTU\n")
    with pytest.raises(InputError, match="record 'm1', position 4: the sequence holds both T and U"):
        load_contigs([tmp_path / "m.fa"])


def test_two_pretrains_in_one_process_may_use_different_precisions(tmp_path):
    # Accelerate keeps one process-wide state: a second Accelerator with another mixed precision
    # used to raise "AcceleratorState has already been initialized" (a notebook that pretrains in
    # bf16, then in fp32); the second run must also really run in its own precision
    from accelerate.state import AcceleratorState

    from genolm.errors import ConfigError
    from genolm.train.pretrain import pretrain

    for i, precision in enumerate(["bf16", "fp32", "fp32"]):
        kw = dict(out_dir=str(tmp_path / f"run{i}"), max_steps=2, eval_every=2, save_every=2)
        pretrain(_cfg(tmp_path, precision=precision, **kw))
        assert str(AcceleratorState().mixed_precision) == ("bf16" if precision == "bf16" else "no")
        assert (tmp_path / f"run{i}" / "final").is_dir()
    with pytest.raises(ConfigError, match="unknown precision 'fp16'.*Choose from fp32, bf16, auto"):
        _cfg(tmp_path, precision="fp16")
