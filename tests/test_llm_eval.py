"""A biotoken LLM on a genolm task through the bench harness: k-shot text, LoRA head, k-mer baseline, audit."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from genolm.errors import ConfigError, InputError


def _task(folder, n_train=60, n_test=40, length=40, seed=0, leak=False):
    """Binary toy task: class 1 sequences carry the motif GGGGCC."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)

    def seq(pos):
        s = "".join(rng.choice(list("ACGT"), length))
        if pos:
            i = int(rng.integers(0, length - 6))
            s = s[:i] + "GGGGCC" + s[i + 6 :]
        return s

    rows = {}
    for split, n in (("train", n_train), ("test", n_test)):
        rows[split] = [(seq(i % 2), i % 2) for i in range(n)]
    if leak:  # the test split repeats training sequences: the leak audit must refuse it
        rows["test"] = rows["train"][: len(rows["test"])]
    for split, rs in rows.items():
        with open(folder / f"{split}.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["sequence", "label"])
            w.writerows(rs)
    (folder / "task.yaml").write_text(
        "name: toy/motif\ntask_type: binary\nlabels: [absent, present]\n"
        "data: {splits: {train: train.csv, test: test.csv}}\n"
    )
    return folder / "task.yaml"


@pytest.fixture(scope="module")
def ext(tmp_path_factory):
    from genolm.llm.extend import ExtendConfig, extend_model
    from genolm.llm.toy import build_toy_llm

    root = tmp_path_factory.mktemp("eval")
    base = build_toy_llm(root / "base", seed=11)
    return extend_model(ExtendConfig(base=str(base), out=str(root / "ext")), progress=False).out_dir


def test_shots_come_from_the_training_split_only(ext, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from genolm.llm.classify import PromptClassifier, PromptConfig
    from genolm.llm.extend import read_meta

    tok, meta = AutoTokenizer.from_pretrained(ext), read_meta(ext)
    model = AutoModelForCausalLM.from_pretrained(ext)
    rng = np.random.default_rng(0)
    train = ["".join(rng.choice(list("AC"), 12)) for _ in range(20)]  # train: A/C only
    test = ["".join(rng.choice(list("GT"), 12)) for _ in range(6)]  # test: G/T only
    y = np.array([0, 1] * 10)
    pc = PromptClassifier(
        model, tok, meta, "binary", ["absent", "present"], PromptConfig(k_shot=4, progress=False)
    )
    pc.fit(train, y)
    spec_enc = pc.spec.encode
    for i, s in enumerate(test):
        text = tok.decode(pc._context(s, i))
        blocks = text.split("\n\n")
        assert len(blocks) == 5 and spec_enc(s) in blocks[-1] and blocks[-1].endswith("Answer:")
        shots = [b for b in blocks[:-1]]
        assert all(any(spec_enc(t) in b for t in train) for b in shots)  # every shot is a training example
        assert not any(spec_enc(t) in text for t in test if t != s)  # no other test sequence leaks in
        assert sorted(b.rsplit(" ", 1)[-1] for b in shots) == ["absent", "absent", "present", "present"]
    pred = pc.predict_with_scores(test)
    assert set(pred.y_pred) <= {0, 1} and np.all((pred.y_score >= 0) & (pred.y_score <= 1))


def test_evaluate_task_through_the_bench_harness(ext, tmp_path):
    from genolm.llm.evaluate import LLMEvalConfig, evaluate_task

    task = _task(tmp_path / "task")
    cfg = LLMEvalConfig(
        model=str(ext),
        task=str(task),
        methods=["text", "head"],
        out_dir=str(tmp_path / "out"),
        k_shot=2,
        text_finetune_steps=3,
        finetune={"max_epochs": 2, "batch_size": 16, "precision": "fp32"},
        max_bp=30,
        max_train=40,
        n_boot=200,
        progress=False,
        report=False,
    )
    res = evaluate_task(cfg)
    assert res["task"] == "toy/motif+first30bp+n40-all" and res["metric"] == "mcc"
    audit = json.loads((tmp_path / "out" / "runs" / "toy_motif_first30bp_n40-all" / "audit.json").read_text())
    assert res["audit"] == audit["verdict"] == "WARN"  # the motif raises GC: the audit says so ...
    assert [c["name"] for c in res["audit_checks"]] == ["shortcut_gc"]  # ... and it is carried to the summary
    by = {(e["name"], e["mode"]): e for e in res["entries"]}
    assert set(by) == {("kmer-lr", "-"), ("ext", "text-2shot-ft3"), ("ext", "head-lora")}
    for key in (("ext", "text-2shot-ft3"), ("ext", "head-lora")):
        e = by[key]
        assert e["vs_kmer"]["baseline"] == "kmer-lr"  # a paired bootstrap against the k-mer baseline
        assert e["ci_low"] <= e["mean"] <= e["ci_high"] and e["trainable_params"] > 0
    runs = sorted((tmp_path / "out" / "runs").rglob("seed0.json"))
    assert len(runs) == 3
    rec = json.loads(next(r for r in runs if "head-lora" in str(r)).read_text())
    assert (
        rec["schema"] == "genolm-bench-run/1" and rec["data"]["train"]["n"] + rec["data"]["valid"]["n"] == 40
    )
    assert set(rec["metrics"]) >= {"mcc", "auroc", "accuracy"} and rec["audit"]["verdict"] == "WARN"
    assert len(rec["training"]["history"]) >= 1  # early-stopping history of the LoRA head
    text = json.loads(next(r for r in runs if "text-2shot" in str(r)).read_text())
    assert text["training"]["shots_from"] == "train split only" and len(text["training"]["history"]) == 3
    # a second run finds every record complete and refits nothing
    stamps = {r: r.stat().st_mtime_ns for r in runs}
    evaluate_task(cfg)
    assert {r: r.stat().st_mtime_ns for r in runs} == stamps


def test_leaky_task_is_refused_and_bad_config(ext, tmp_path):
    from genolm import config as C
    from genolm.llm.evaluate import LLMEvalConfig, evaluate_task

    task = _task(tmp_path / "leaky", leak=True)
    cfg = LLMEvalConfig(
        model=str(ext), task=str(task), out_dir=str(tmp_path / "o"), n_boot=200, progress=False
    )
    with pytest.raises(InputError, match="leak audit FAIL reaches fail_on=fail: not scored"):
        evaluate_task(cfg)
    status = json.loads((tmp_path / "o" / "runs" / "toy_motif" / "status.json").read_text())
    assert status["status"] == "refused"
    with pytest.raises(ConfigError, match="Did you mean 'head'"):
        LLMEvalConfig(methods=["heads"])
    with pytest.raises(ConfigError, match="Did you mean 'k_shot'"):
        C.from_dict(LLMEvalConfig, {"kshot": 3})


def test_cli_eval(ext, tmp_path, capsys):
    from genolm.cli.main import main

    task = _task(tmp_path / "task", n_train=30, n_test=20)
    args = ["biotokens", "eval", "--model", str(ext), "--task", str(task), "--methods", "text,head",
            "--k-shot", "0", "--finetune", "max_epochs=1", "--out", str(tmp_path / "o"),
            "--n-boot", "200", "--progress", "false", "--report", "false"]  # fmt: skip
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert {e["mode"] for e in out["entries"]} == {"-", "text-0shot", "head-lora"}
    assert main([*args[:6], "--methods", "txt"]) == 2
    assert "Did you mean 'text'" in capsys.readouterr().err
