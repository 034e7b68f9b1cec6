"""Biotoken QA exported as an lm-evaluation-harness task gives ``genolm biotokens qa``'s score."""

from __future__ import annotations

import importlib.util
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from genolm.errors import ConfigError
from genolm.llm.extend import BiotokenSpec
from genolm.llm.lmeval import export_mcq_task
from genolm.llm.mcq import MCQConfig, build_prompt, load_mcq, shots_for


def _question(i: int, rng: random.Random, prefix: str = "q") -> dict:
    dna = "".join(rng.choice("ACGT") for _ in range(rng.randint(4, 14)))
    if i % 3 == 0:
        q = {
            "question": "Does {dna} contain GC?",
            "dna": dna,
            "choices": ["yes", "no"],
            "answer": 0 if "GC" in dna else 1,
        }
    elif i % 3 == 1:
        q = {
            "question": "Which base comes first?",
            "dna": dna,
            "choices": list("ACGT"),
            "answer": "ACGT".index(dna[0]),
        }
    else:
        q = {"question": "Which base pairs with A?", "choices": ["C", "G", "T"], "answer": "T"}
    return {"id": f"{prefix}{i}", **q}


@pytest.fixture(scope="module")
def qa_files(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("qa")
    rng = random.Random(0)
    (root / "qa.jsonl").write_text("".join(json.dumps(_question(i, rng)) + "\n" for i in range(24)))
    (root / "shots.jsonl").write_text("".join(json.dumps(_question(i, rng, "s")) + "\n" for i in range(8)))
    return root / "qa.jsonl", root / "shots.jsonl"


def _load_utils(folder: Path):
    spec = importlib.util.spec_from_file_location(f"lmeval_utils_{abs(hash(folder))}", folder / "utils.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _TaskLoader(yaml.SafeLoader):
    """A YAML loader that reads lm-eval's ``!function module.name`` tag as a string."""


_TaskLoader.add_constructor("!function", lambda loader, node: "!function " + loader.construct_scalar(node))


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("choice_format", ["letter", "text"])
def test_exported_task_schema_and_prompts_equal_genolm(qa_files, tmp_path, k, choice_format):
    # guards against the exported prompt drifting from genolm's (biotokens, shots, letters): the
    # utils.py that lm-eval runs must rebuild exactly build_prompt's text for every question
    datasets = pytest.importorskip("datasets")
    items, shots = load_mcq(qa_files[0]), load_mcq(qa_files[1])
    cfg = MCQConfig(k_shot=2, choice_format=choice_format, seed=5)
    spec = BiotokenSpec(k=k)
    path = export_mcq_task(items, tmp_path, task="bio qa/1", cfg=cfg, shots=shots, spec=spec)
    assert path.name == "bio_qa_1.yaml"
    task = yaml.load(path.read_text(), Loader=_TaskLoader)
    # the keys lm-eval's TaskConfig reads for a multiple-choice task (docs/task_guide.md)
    assert task["task"] == "bio_qa_1" and task["output_type"] == "multiple_choice"
    assert task["dataset_path"] == "json" and task["test_split"] == "test"
    assert Path(task["dataset_kwargs"]["data_files"]["test"]).is_file()
    assert task["process_docs"] == "!function utils.process_docs"
    assert (task["doc_to_text"], task["doc_to_choice"], task["doc_to_target"]) == (
        "prompt",
        "targets",
        "answer",
    )
    assert task["num_fewshot"] == 0 and task["target_delimiter"] == " "
    assert task["metric_list"][0]["metric"] == "acc"
    docs = datasets.Dataset.from_list(
        [
            json.loads(line)
            for line in Path(task["dataset_kwargs"]["data_files"]["test"]).read_text().splitlines()
        ]
    )
    out = _load_utils(tmp_path).process_docs(docs)
    assert len(out) == len(items)
    for i, (item, doc) in enumerate(zip(items, out)):
        want = build_prompt(item, shots_for(i, shots, cfg.k_shot, cfg.seed), cfg, None, spec)
        assert doc["prompt"] == want
        assert doc["targets"] == (
            item.choices if choice_format == "text" else list("ABCD"[: len(item.choices)])
        )
        assert doc["answer"] == item.answer


def test_export_refuses_what_lm_eval_cannot_reproduce(qa_files, tmp_path):
    items = load_mcq(qa_files[0])
    # generated answers are parsed by genolm's rules: an lm-eval score would not be comparable
    with pytest.raises(ConfigError, match="log-likelihood tasks only"):
        export_mcq_task(items, tmp_path, task="t", cfg=MCQConfig(method="generate"))
    with pytest.raises(ConfigError, match="chat"):
        export_mcq_task(items, tmp_path, task="t", cfg=MCQConfig(chat=True))
    # a scored question that is also a shot would show the model its answer
    with pytest.raises(ConfigError, match="also shots"):
        export_mcq_task(items, tmp_path, task="t", cfg=MCQConfig(k_shot=1), shots=items[:3])


def test_lm_eval_accuracy_equals_genolm_qa(qa_files, tmp_path):
    # the point of the export: lm-eval's simple_evaluate on the exported YAML scores each choice
    # exactly as `genolm biotokens qa --method loglik` does, so the accuracies are equal
    lm_eval = pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    from genolm.cli.main import main
    from genolm.llm.adapters import load_biotoken_model
    from genolm.llm.extend import ExtendConfig, extend_model
    from genolm.llm.mcq import evaluate_mcq
    from genolm.llm.toy import build_toy_llm

    base = build_toy_llm(tmp_path / "base", seed=11)
    ext = extend_model(ExtendConfig(base=str(base), out=str(tmp_path / "ext")), progress=False).out_dir
    items, shots = load_mcq(qa_files[0]), load_mcq(qa_files[1])
    model, tok, meta = load_biotoken_model(str(ext))
    assert tok.bos_token_id is not None  # genolm puts BOS first: the add_bos_token=True case
    for fmt in ("letter", "text"):
        cfg = MCQConfig(k_shot=2, choice_format=fmt)
        res = evaluate_mcq(model, tok, items, cfg, shots=shots)
        out = tmp_path / f"tasks-{fmt}"
        argv = ["biotokens", "export-lm-eval", "--questions", str(qa_files[0]), "--shots", str(qa_files[1])]
        argv += ["--k-shot", "2", "--choice-format", fmt, "--model", str(ext), "--out", str(out)]
        assert main(argv) == 0
        name = "genolm_qa"
        got = lm_eval.simple_evaluate(
            model="hf",
            model_args=f"pretrained={ext},add_bos_token=True,dtype=float32",
            tasks=[name],
            task_manager=TaskManager(include_path=str(out)),
            device="cpu",
            batch_size=1,
            log_samples=True,
        )
        assert got["results"][name]["acc,none"] == res.accuracy, fmt
        # and per question, the same log-likelihood of every choice
        ours = {r["id"]: r["logprobs"] for r in res.records}
        for s in got["samples"][name]:
            theirs = [float(r[0]) for r in s["filtered_resps"]]
            np.testing.assert_allclose(theirs, ours[s["doc"]["id"]], rtol=0, atol=1e-4)
        assert len(got["samples"][name]) == len(items)
    # utils.py runs inside lm-eval: it may not need genolm
    assert not re.search(r"^\s*(from|import) genolm", (out / "utils.py").read_text(), flags=re.M)


# --- k-shot classification: genolm biotokens eval --methods text -----------------------------------


@pytest.fixture(scope="module")
def motif_task(tmp_path_factory) -> Path:
    """A binary genolm task (class 1 carries GGGGCC) as CSV splits + task YAML."""
    root = tmp_path_factory.mktemp("motif")
    rng = np.random.default_rng(3)

    def seq(pos: int) -> str:
        s = "".join(rng.choice(list("ACGT"), 24))
        if pos:
            i = int(rng.integers(0, 18))
            s = s[:i] + "GGGGCC" + s[i + 6 :]
        return s

    for split, n in (("train", 40), ("test", 14)):
        rows = "".join(f"{seq(i % 2)},{i % 2}\n" for i in range(n))
        (root / f"{split}.csv").write_text("sequence,label\n" + rows)
    (root / "task.yaml").write_text(
        "name: toy/motif\ntask_type: binary\nlabels: [absent, present]\n"
        "data: {splits: {train: train.csv, test: test.csv}}\n"
    )
    return root / "task.yaml"


@pytest.mark.parametrize("k", [1, 3])
def test_kshot_export_prompts_equal_genolm(motif_task, tmp_path, k):
    # guards against the exported k-shot prompt drifting from PromptClassifier's (shots, their
    # order and answers, template, question, biotokens, label words)
    datasets = pytest.importorskip("datasets")
    from genolm.llm.evaluate import LLMEvalConfig
    from genolm.llm.lmeval import export_kshot_task

    cfg = LLMEvalConfig(
        task=str(motif_task),
        k_shot=3,
        max_bp=20,
        max_test=10,
        template="DNA: {dna}\n{question}\nLabel:",
        question="Motif?",
        label_words=["no", "yes"],
    )
    res = export_kshot_task(cfg, tmp_path, seed=2, spec=BiotokenSpec(k=k), bos="<s>")
    assert res.yaml.name == "genolm_toy_motif_first20bp_nall_10_3shot.yaml"
    task = yaml.load(res.yaml.read_text(), Loader=_TaskLoader)
    assert task["output_type"] == "multiple_choice" and task["num_fewshot"] == 0
    assert task["process_docs"] == f"!function {res.yaml.stem}_utils.process_docs"
    assert (task["doc_to_choice"], task["doc_to_target"], task["target_delimiter"]) == (
        "targets",
        "label",
        " ",
    )
    rows = [
        json.loads(x) for x in Path(task["dataset_kwargs"]["data_files"]["test"]).read_text().splitlines()
    ]
    spec = importlib.util.spec_from_file_location("kshot_utils", tmp_path / f"{res.yaml.stem}_utils.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.process_docs(datasets.Dataset.from_list(rows))
    clf, test = res.classifier, res.test
    assert len(out) == len(test.sequences) == 10
    for i, doc in enumerate(out):
        assert doc["prompt"] == "<s>" + clf.context_text(test.sequences[i], i)
        assert doc["prompt"].count("Label:") == 4 and "∎" in doc["prompt"]
        assert doc["targets"] == ["no", "yes"] and doc["label"] == int(test.labels[i])
        assert doc["id"] == test.ids[i]


def test_kshot_export_refuses_what_lm_eval_cannot_reproduce(motif_task, tmp_path):
    from genolm.cli.main import main
    from genolm.llm.evaluate import LLMEvalConfig
    from genolm.llm.lmeval import export_kshot_task

    # a per-token mean has no lm-eval metric (acc sums, acc_norm divides by bytes)
    with pytest.raises(ConfigError, match="normalize: token"):
        export_kshot_task(LLMEvalConfig(task=str(motif_task), normalize="token"), tmp_path)
    # a LoRA fitted inside the eval run is never saved: lm-eval could not load it
    with pytest.raises(ConfigError, match="text_finetune_steps"):
        export_kshot_task(LLMEvalConfig(task=str(motif_task), text_finetune_steps=3), tmp_path)
    # exactly one source of questions: a usage error (exit code 2), not a crash
    assert main(["biotokens", "export-lm-eval", "--out", str(tmp_path)]) == 2
    assert (
        main(["biotokens", "export-lm-eval", "--questions", "q.jsonl", "--from-task", "t", "--out", "o"]) == 2
    )


def test_lm_eval_accuracy_equals_genolm_kshot_eval(motif_task, tmp_path):
    # the point of the k-shot export: lm-eval's simple_evaluate on the exported task gives the
    # accuracy `genolm biotokens eval --methods text` records, and every choice's log-likelihood
    lm_eval = pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    from genolm.cli.main import main
    from genolm.llm.adapters import load_biotoken_model
    from genolm.llm.classify import PromptClassifier, PromptConfig
    from genolm.llm.evaluate import LLMEvalConfig, evaluate_task
    from genolm.llm.extend import ExtendConfig, extend_model
    from genolm.llm.lmeval import kshot_split
    from genolm.llm.toy import build_toy_llm

    base = build_toy_llm(tmp_path / "base", seed=11)
    ext = extend_model(ExtendConfig(base=str(base), out=str(tmp_path / "ext")), progress=False).out_dir
    settings = {"k_shot": 2, "max_bp": 20, "max_train": 30, "max_test": 12}
    cfg = LLMEvalConfig(
        model=str(ext),
        task=str(motif_task),
        methods=["text"],
        out_dir=str(tmp_path / "eval"),
        baselines=[],
        fail_on="never",
        n_boot=100,
        report=False,
        progress=False,
        **settings,
    )
    evaluate_task(cfg)
    (run,) = (tmp_path / "eval" / "runs").rglob("seed0.json")
    genolm_acc = json.loads(run.read_text())["metrics"]["accuracy"]["estimate"]
    npz = np.load(run.with_suffix(".npz"), allow_pickle=True)
    genolm_right = np.asarray(npz["y_pred"]) == np.asarray(npz["y_true"])  # per test example

    argv = ["biotokens", "export-lm-eval", "--from-task", str(motif_task), "--model", str(ext)]
    argv += ["--task", "motif_2shot", "--out", str(tmp_path / "tasks")]
    for k, v in settings.items():
        argv += ["--" + k.replace("_", "-"), str(v)]
    assert main(argv) == 0
    got = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={ext},add_bos_token=True,dtype=float32",
        tasks=["motif_2shot"],
        task_manager=TaskManager(include_path=str(tmp_path / "tasks")),
        device="cpu",
        batch_size=1,
        log_samples=True,
    )
    samples = got["samples"]["motif_2shot"]
    assert len(samples) == 12
    assert got["results"]["motif_2shot"]["acc,none"] == pytest.approx(genolm_acc, abs=1e-12)

    # per example and choice: the log-likelihoods genolm's PromptClassifier scores
    model, tok, meta = load_biotoken_model(str(ext))
    assert tok.bos_token_id is not None  # genolm puts BOS first: the add_bos_token=True case
    clf, test, _ = kshot_split(cfg, seed=0)
    pc = PromptClassifier(
        model, tok, meta, "binary", ["absent", "present"], PromptConfig(k_shot=2, progress=False), seed=0
    )
    ours = pc.fit(clf.train_, clf.classes_[clf.y_codes_]).choice_scores(test.sequences)
    assert np.mean(ours.argmax(1) == np.searchsorted(pc.classes_, test.labels)) == pytest.approx(genolm_acc)
    by_id = {sid: i for i, sid in enumerate(test.ids)}
    for s in samples:
        i = by_id[s["doc"]["id"]]
        assert s["acc"] == float(genolm_right[i])  # the same examples right and wrong
        theirs = [float(r[0]) for r in s["filtered_resps"]]
        np.testing.assert_allclose(theirs, ours[i], rtol=0, atol=1e-4)
    text = (tmp_path / "tasks" / "motif_2shot_utils.py").read_text()
    assert not re.search(r"^\s*(from|import) genolm", text, flags=re.M)  # runs inside lm-eval alone
