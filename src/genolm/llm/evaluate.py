"""``genolm biotokens eval``: a biotoken LLM on a genolm task, through the benchmark harness.

Per task, exactly as ``genolm bench`` does it (:mod:`genolm.bench.runner`): load the splits,
carve a validation split from train when there is none, run the leak audit on the splits used
(refusing the task when it reaches ``fail_on``), fit the k-mer baseline, then the LLM by each
method (``text``: :class:`~genolm.llm.classify.PromptClassifier`, ``head``:
:class:`~genolm.llm.classify.HeadClassifier`), and write one run record per entry and seed in the
bench's schema -- metrics with bootstrap 95 % CIs, predictions, hashes of every split -- so that
``summary.json`` (paired bootstraps against the k-mer baseline) and ``report.md`` are the bench's.
Runs whose record exists with the same key are skipped: a killed evaluation resumes.

On a CPU an LLM cannot read thousands of kilobase transcripts in minutes.  ``max_bp`` keeps the
first ``max_bp`` bases of every sequence and ``max_train`` / ``max_test`` draw seeded, stratified
subsets; they apply to **every** entry, baselines included, and to the leak audit, and the task
is renamed (``<task>+first<max_bp>bp+n<train>-<test>``) so nobody mistakes the result for the
full task.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genolm.errors import ConfigError, InputError

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
        from genolm.registry import did_you_mean

        for m in self.methods:
            if m not in METHODS:
                raise ConfigError(
                    f"unknown method '{m}'.{did_you_mean(m, METHODS)} Methods: {', '.join(METHODS)}"
                )
        if self.fail_on not in ("fail", "warn", "never"):
            raise ConfigError(f"fail_on must be fail, warn or never, not {self.fail_on!r}")
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


# --- one run record (the bench's schema) --------------------------------------------------------


def _write_record(
    entry,
    seed,
    task,
    data,
    pred,
    classes,
    out_dir: Path,
    run_key,
    model_hash,
    *,
    n_params,
    n_trainable,
    config,
    info,
    timings,
    n_boot,
    fail_on,
) -> dict:
    """Score ``pred`` on the test split and write ``seed<k>.json`` / ``.npz`` like the bench does."""
    import torch

    from genolm.atomic import atomic_write_json
    from genolm.bench.runner import SCHEMA, _jsonable, _primary, _save_npz, _score, package_versions

    t0 = time.perf_counter()
    arrays = {
        "y_true": np.asarray(data.test.labels),
        "y_pred": np.asarray(pred.y_pred),
        "y_score": np.asarray(pred.y_score),
        "classes": np.asarray(classes),
        "ids": np.asarray(data.test.ids, dtype=str),
    }
    metrics = _score(task.task_type, arrays, getattr(task, "labels", None), n_boot)
    timings["metrics"] = time.perf_counter() - t0
    primary = _primary(task)
    run_dir = out_dir / "runs" / _slug(task.name) / entry.dirname / entry.mode
    run_dir.mkdir(parents=True, exist_ok=True)
    npz = run_dir / f"seed{seed}.npz"
    _save_npz(npz, arrays)
    record = {
        "schema": SCHEMA,
        "run_key": run_key,
        "task": {
            "name": task.name,
            "version": getattr(task, "version", None),
            "task_type": task.task_type,
            "metric": primary,
            "labels": _jsonable(list(task.labels)) if getattr(task, "labels", None) is not None else None,
        },
        "entry": {**entry._asdict(), "model_hash": model_hash},
        "seed": seed,
        "config": _jsonable(config),
        "versions": package_versions(),
        "data": data.hashes,
        "audit": {"verdict": data.audit.verdict, "fail_on": fail_on, "file": "../../audit.json"},
        "params": {"total": int(n_params), "trainable": int(n_trainable)},
        "metrics": _jsonable(metrics),
        "primary_metric": primary,
        "training": _jsonable(info),
        "predictions": npz.name,
        "torch_threads": torch.get_num_threads(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "timings": timings,
    }
    atomic_write_json(run_dir / f"seed{seed}.json", record)
    return record


def _slug(name: str) -> str:
    from genolm.bench.runner import _slug as s

    return s(name)


def _done(path: Path, key: str) -> bool:
    try:
        return json.loads(path.read_text()).get("run_key") == key
    except (OSError, json.JSONDecodeError):
        return False


# --- the evaluation -----------------------------------------------------------------------------


def evaluate_task(cfg: LLMEvalConfig) -> dict[str, Any]:
    """Run the evaluation described by ``cfg``; return ``summary.json``'s entry for the task."""
    from genolm.atomic import atomic_write_json
    from genolm.bench.runner import (
        KMER,
        BenchConfig,
        Entry,
        _files_sha256,
        _jsonable,
        _key,
        _run_one,
        baseline_estimators,
        prepare_task,
        summarise_results,
    )
    from genolm.bench.tasks import load_task

    if not cfg.model or not cfg.task:
        raise ConfigError("eval needs a model (--model) and a task (--task)")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    task = DerivedTask(
        load_task(cfg.task),
        max_bp=cfg.max_bp,
        max_train=cfg.max_train,
        max_test=cfg.max_test,
        seed=cfg.subset_seed,
    )
    data, refused = prepare_task(task, fail_on=cfg.fail_on)
    task_dir = out / "runs" / _slug(task.name)
    task_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(task_dir / "audit.json", _jsonable(data.audit.to_dict()))
    say = _printer(cfg.progress)
    if refused:
        bad = "; ".join(
            f"{c.name} ({c.status}: {c.message})" for c in data.audit.checks if c.status in ("WARN", "FAIL")
        )
        atomic_write_json(
            task_dir / "status.json",
            {
                "task": task.name,
                "status": "refused",
                "audit": data.audit.verdict,
                "fail_on": cfg.fail_on,
                "reason": bad,
            },
        )
        raise InputError(
            f"task '{task.name}': leak audit {data.audit.verdict} reaches fail_on={cfg.fail_on}: not scored ({bad})",
            hint="fix the splits, or pass --fail-on never to score anyway with the verdict beside every score",
        )
    (task_dir / "status.json").unlink(missing_ok=True)
    say(
        f"[{task.name}] leak audit: {data.audit.verdict}; train {len(data.train.sequences)}, "
        f"valid {len(data.valid.sequences)}{' (carved from train)' if data.carved else ''}, test {len(data.test.sequences)}"
    )
    model_path = Path(cfg.model)
    name = (
        model_path.name
        if model_path.name not in ("final", "")
        else f"{model_path.parent.name}/{model_path.name}"
    )
    model_hash = _files_sha256(model_path) if model_path.is_dir() else None
    modes = [
        f"text-{cfg.k_shot}shot" + (f"-ft{cfg.text_finetune_steps}" if cfg.text_finetune_steps else "")
        if m == "text"
        else "head-lora"
        for m in cfg.methods
    ]
    atomic_write_json(
        out / "bench.json",
        _jsonable(
            {
                "models": [cfg.model],
                "modes": modes,
                "seeds": cfg.seeds,
                "tasks_run": [task.name],
                "llm_eval": dataclasses.asdict(cfg),
            }
        ),
    )
    bench_cfg = BenchConfig(
        models=[], modes=["probe"], seeds=1, n_boot=cfg.n_boot, fail_on=cfg.fail_on, progress=False
    )
    # baselines: the bench's own code
    for b in cfg.baselines:
        if b not in baseline_estimators(task.task_type, 0):
            raise ConfigError(f"unknown baseline '{b}' for a {task.task_type} task")
        entry = Entry(b, "baseline", "-", None, deterministic=b == KMER)
        for seed in [0] if entry.deterministic else range(cfg.seeds):
            key = _key(
                {
                    "entry": entry._asdict(),
                    "seed": seed,
                    "data": data.hashes,
                    "config": {},
                    "n_boot": cfg.n_boot,
                }
            )
            run_dir = task_dir / entry.dirname / "baseline"
            if _done(run_dir / f"seed{seed}.json", key):
                continue
            rec = _run_one(entry, seed, task, data, bench_cfg, None, run_dir, key, None)
            m = rec["metrics"][rec["primary_metric"]]
            say(
                f"[{task.name}] {b} seed {seed}: {rec['primary_metric']} {m['estimate']:.3f} [{m['low']:.3f}, {m['high']:.3f}]"
            )
    # the LLM, each method
    loaded = None
    for method, mode in zip(cfg.methods, modes):
        entry = Entry(name, "model", mode, cfg.model)
        for seed in range(cfg.seeds):
            conf = _method_config(cfg, method)
            key = _key(
                {
                    "entry": entry._asdict(),
                    "seed": seed,
                    "data": data.hashes,
                    "model_hash": model_hash,
                    "config": conf,
                    "base": cfg.base,
                    "n_boot": cfg.n_boot,
                }
            )
            run_dir = task_dir / entry.dirname / entry.mode
            if _done(run_dir / f"seed{seed}.json", key):
                say(f"[{task.name}] {name} {mode} seed {seed}: done before, skipped")
                continue
            if loaded is None:
                loaded = _load(cfg)
            rec = _run_llm(entry, method, seed, task, data, loaded, cfg, out, key, model_hash, conf)
            m = rec["metrics"][rec["primary_metric"]]
            say(
                f"[{task.name}] {name} {mode} seed {seed}: {rec['primary_metric']} {m['estimate']:.3f} "
                f"[{m['low']:.3f}, {m['high']:.3f}] in {rec['timings'].get('fit', 0) + rec['timings'].get('predict', 0):.0f}s"
            )
    summary = summarise_results(out, n_boot=cfg.n_boot)
    if cfg.report:
        from genolm.bench.report import write_report

        write_report(out, summary=summary)
    return summary["tasks"].get(task.name, {})


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


def _run_llm(entry, method, seed, task, data, loaded, cfg, out, key, model_hash, conf) -> dict:
    from genolm.bench.runner import fit_predict
    from genolm.llm.classify import DEFAULT_TEMPLATE, HeadClassifier, PromptClassifier, PromptConfig

    model, tok, meta = loaded
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
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
        est = PromptClassifier(model, tok, meta, task.task_type, getattr(task, "labels", None), pc, seed=seed)
    else:
        ft = dict(cfg.finetune)
        ft.setdefault("progress", cfg.progress)
        est = HeadClassifier(model, tok, meta, task.task_type, ft, seed=seed)
    pred = fit_predict(est, data, timings, start=t0)
    info = {
        "family": f"biotoken-llm ({model.config.model_type})",
        "model_path": cfg.model,
        "base": cfg.base,
        "method": method,
        "history": getattr(est, "history_", None),
        "best_epoch": getattr(est, "best_epoch_", None),
        "label_words": getattr(est, "words_", None),
        "shots_from": "train split only" if method == "text" else None,
    }
    rec = _write_record(
        entry,
        seed,
        task,
        data,
        pred,
        est.classes_,
        out,
        key,
        model_hash,
        n_params=est.n_params_,
        n_trainable=est.n_trainable_,
        config=conf,
        info=info,
        timings=timings,
        n_boot=cfg.n_boot,
        fail_on=cfg.fail_on,
    )
    del est
    return rec


def _printer(enabled: bool):
    def say(msg: str) -> None:
        if enabled:
            try:
                from tqdm.auto import tqdm

                tqdm.write(msg)
            except ImportError:  # pragma: no cover
                print(msg)

    return say
