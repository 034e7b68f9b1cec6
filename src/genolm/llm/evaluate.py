"""``genolm biotokens eval``: a biotoken LLM on a genolm task, through the benchmark harness.

A client of the bench: :func:`evaluate_task` calls :func:`genolm.bench.runner.run_bench` with no
models of its own, the chosen baselines, and the LLM by each method as an extra contender
(``text``: :class:`~genolm.llm.classify.PromptClassifier`, ``head``:
:class:`~genolm.llm.classify.HeadClassifier`).  So the splits, the validation carve, the leak
audit (the task is refused when it reaches ``fail_on``), the run records, the resume,
``summary.json`` (paired bootstraps against the k-mer baseline) and ``report.md`` are the bench's.

On a CPU an LLM cannot read thousands of kilobase transcripts in minutes.  ``max_bp`` keeps the
first ``max_bp`` bases of every sequence and ``max_train`` / ``max_test`` draw seeded, stratified
subsets; they apply to **every** entry, baselines included, and to the leak audit, and the task
is renamed (``<task>+first<max_bp>bp+n<train>-<test>``) so nobody mistakes the result for the
full task.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genolm.bench.records import slug
from genolm.errors import ConfigError, InputError
from genolm.registry import check_choice

METHODS = ("text", "head")


@dataclass
class LLMEvalConfig:
    """Everything ``genolm biotokens eval`` needs.  YAML keys are these field names."""

    model: str = ""  # an extended model folder, or an adapter folder (genolm biotokens pretrain's final/)
    base: str | None = None  # for an adapter: the model to load it onto (default: its own base)
    task: str = ""  # a genolm task name or YAML path
    methods: list[str] = field(default_factory=lambda: ["text"])  # text | head
    out_dir: str = "runs/biotoken-eval"
    max_bp: int | None = None  # keep the first max_bp bases of every sequence (all entries)
    max_train: int | None = None  # stratified subset of train (seeded; all entries)
    max_test: int | None = None  # stratified subset of test
    subset_seed: int = 0
    seeds: int = 1
    # text
    k_shot: int = 2
    template: str | None = None  # default: genolm.llm.classify.DEFAULT_TEMPLATE
    question: str | None = None
    label_words: list[str] | None = None
    normalize: str = "none"
    text_finetune_steps: int = 0
    # head: FinetuneConfig keys (mode is lora)
    finetune: dict = field(default_factory=dict)
    # harness
    baselines: list[str] = field(default_factory=lambda: ["kmer-lr"])
    fail_on: str = "fail"
    n_boot: int = 1000
    report: bool = True
    progress: bool = True
    trust_remote_code: bool = False

    def __post_init__(self):
        from genolm.bench.audit import FAIL_ON

        for m in self.methods:
            check_choice("method", m, METHODS)
        check_choice("fail_on value", self.fail_on, FAIL_ON)
        for k in ("max_bp", "max_train", "max_test"):
            v = getattr(self, k)
            if v is not None and v < 1:
                raise ConfigError(f"{k} must be positive or null, got {v}")
        if self.seeds < 1:
            raise ConfigError("seeds must be at least 1")


# --- the task as evaluated ----------------------------------------------------------------------


class DerivedTask:
    """``task`` with every sequence cut to its first ``max_bp`` bases and stratified subsets drawn
    (attributes other than ``name`` and ``load_splits`` are the task's)."""

    def __init__(self, task, *, max_bp=None, max_train=None, max_test=None, seed: int = 0):
        self._task, self.max_bp, self.limits, self.seed = (
            task,
            max_bp,
            {"train": max_train, "test": max_test},
            seed,
        )
        parts = [task.name]
        if max_bp:
            parts.append(f"first{max_bp}bp")
        if max_train or max_test:
            parts.append(f"n{max_train or 'all'}-{max_test or 'all'}")
        self.name = "+".join(parts)
        self._splits = None

    def __getattr__(self, k):
        return getattr(self._task, k)

    def load_splits(self, *a, **kw):
        from genolm.bench.tasks import TaskSplit

        if self._splits is None:
            out = {}
            for name, sp in self._task.load_splits(*a, **kw).items():
                idx = np.arange(len(sp.sequences))
                lim = self.limits.get(name)
                if lim and lim < len(idx):
                    idx = _stratified(np.asarray(sp.labels), lim, [self.seed, len(idx)])
                seqs = [sp.sequences[i][: self.max_bp] if self.max_bp else sp.sequences[i] for i in idx]
                out[name] = TaskSplit(seqs, np.asarray(sp.labels)[idx], [sp.ids[i] for i in idx], name)
            self._splits = out
        return dict(self._splits)


def _stratified(y: np.ndarray, n: int, seed) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if y.ndim != 1:
        return np.sort(rng.choice(len(y), n, replace=False))
    classes, counts = np.unique(y, return_counts=True)
    take = np.maximum(1, np.round(counts / counts.sum() * n).astype(int))
    while take.sum() > n:
        take[take.argmax()] -= 1
    idx = [
        rng.choice(np.flatnonzero(y == c), min(t, k), replace=False) for c, t, k in zip(classes, take, counts)
    ]
    return np.sort(np.concatenate(idx))


# --- the evaluation -----------------------------------------------------------------------------


def evaluate_task(cfg: LLMEvalConfig) -> dict[str, Any]:
    """Run the evaluation described by ``cfg``; return ``summary.json``'s entry for the task."""
    import torch

    from genolm.bench.records import Entry, files_sha256
    from genolm.bench.runner import BenchConfig, Contender, run_bench
    from genolm.bench.tasks import load_task

    if not cfg.model or not cfg.task:
        raise ConfigError("eval needs a model (--model) and a task (--task)")
    task = DerivedTask(
        load_task(cfg.task),
        max_bp=cfg.max_bp,
        max_train=cfg.max_train,
        max_test=cfg.max_test,
        seed=cfg.subset_seed,
    )
    model_path = Path(cfg.model)
    name = (
        model_path.name
        if model_path.name not in ("final", "")
        else f"{model_path.parent.name}/{model_path.name}"
    )
    model_hash = files_sha256(model_path) if model_path.is_dir() else None
    loaded: list = []  # the model, loaded on first use and shared by every method and seed

    def contender(method: str) -> Contender:
        mode = (
            f"text-{cfg.k_shot}shot" + (f"-ft{cfg.text_finetune_steps}" if cfg.text_finetune_steps else "")
            if method == "text"
            else "head-lora"
        )

        def build(task, seed):
            if not loaded:
                loaded.append(_load(cfg))
            return _estimator(method, task, seed, loaded[0], cfg)

        return Contender(
            entry=Entry(name, "model", mode, cfg.model),
            build=build,
            config=_method_config(cfg, method),
            model_hash=model_hash,
            info=lambda est: _info(est, method, loaded[0][0], cfg),
            key_extra={"base": cfg.base},
        )

    bench_cfg = BenchConfig(
        models=[],
        modes=[],
        seeds=cfg.seeds,
        out_dir=cfg.out_dir,
        fail_on=cfg.fail_on,
        baselines=list(cfg.baselines),
        random_init=False,
        n_boot=cfg.n_boot,
        threads=torch.get_num_threads(),  # the caller's thread setting, not the bench's policy
        report=cfg.report,
        progress=cfg.progress,
    )
    result = run_bench(
        bench_cfg,
        [task],
        extra_contenders=[contender(m) for m in cfg.methods],
        meta={"llm_eval": dataclasses.asdict(cfg)},
    )
    if result.refused:
        status = json.loads((result.out_dir / "runs" / slug(task.name) / "status.json").read_text())
        raise InputError(
            f"task '{task.name}': leak audit {status['audit']} reaches fail_on={cfg.fail_on}: "
            f"not scored ({status['reason']})",
            hint="fix the splits, or pass --fail-on never to score anyway with the verdict beside every score",
        )
    return result.summary["tasks"].get(task.name, {})


def _method_config(cfg: LLMEvalConfig, method: str) -> dict:
    if method == "text":
        return {
            "template": cfg.template,
            "question": cfg.question,
            "label_words": cfg.label_words,
            "k_shot": cfg.k_shot,
            "normalize": cfg.normalize,
            "finetune_steps": cfg.text_finetune_steps,
        }
    return {"finetune": cfg.finetune}


def _load(cfg: LLMEvalConfig):
    """``(causal LM (adapter merged), tokenizer, meta)``."""
    from genolm.llm.adapters import load_biotoken_model

    model, tok, meta = load_biotoken_model(cfg.model, base=cfg.base, trust_remote_code=cfg.trust_remote_code)
    if meta is None:
        raise InputError(
            "not a biotoken model (no genolm_biotokens.json)",
            path=cfg.model,
            hint="extend it first: genolm biotokens extend --base MODEL --out DIR",
        )
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()  # one plain model serves both methods
    model.eval()
    return model, tok, meta


def _estimator(method: str, task, seed: int, loaded, cfg: LLMEvalConfig):
    """The unfitted classifier of ``method`` (an :class:`~genolm.bench.estimator.Estimator`)."""
    from genolm.llm.classify import DEFAULT_TEMPLATE, HeadClassifier, PromptClassifier, PromptConfig

    model, tok, meta = loaded
    if method == "text":
        pc = PromptConfig(
            template=cfg.template or DEFAULT_TEMPLATE,
            question=cfg.question,
            label_words=cfg.label_words,
            k_shot=cfg.k_shot,
            normalize=cfg.normalize,
            finetune_steps=cfg.text_finetune_steps,
            progress=cfg.progress,
        )
        return PromptClassifier(
            model, tok, meta, task.task_type, getattr(task, "labels", None), pc, seed=seed
        )
    ft = dict(cfg.finetune)
    ft.setdefault("progress", cfg.progress)
    return HeadClassifier(model, tok, meta, task.task_type, ft, seed=seed)


def _info(est, method: str, model, cfg: LLMEvalConfig) -> dict:
    """The run record's ``training`` block."""
    return {
        "family": f"biotoken-llm ({model.config.model_type})",
        "model_path": cfg.model,
        "base": cfg.base,
        "method": method,
        "history": getattr(est, "history_", None),
        "best_epoch": getattr(est, "best_epoch_", None),
        "label_words": getattr(est, "words_", None),
        "shots_from": "train split only" if method == "text" else None,
    }
