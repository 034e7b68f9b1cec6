"""``genolm bench``: every model x task x mode x seed, beside baselines on the same splits, resumable.

This module is the loop.  Each artefact it makes has its own module:

- :mod:`genolm.bench.prepare`: a task's splits (validation carve, bad-input checks, the leak
  audit on exactly the splits used);
- :mod:`genolm.bench.baselines`: the baselines fitted beside every model;
- :mod:`genolm.bench.estimator`: what the loop asks of anything it fits;
- :mod:`genolm.bench.records`: one run's record and predictions (the schema, keys, hashes);
- :mod:`genolm.bench.summary`: the metrics of a run and the summary over seeds;
- :mod:`genolm.bench.report`: ``report.md`` / ``report.html`` from the summary.

What one bench does, per task:

1. prepare the task; when the leak audit's verdict reaches ``fail_on`` the task is *not
   scored* (``status.json`` says why); with ``fail_on="never"`` it is scored and the verdict
   sits beside every score;
2. fit and score the baselines (k-mer logistic regression -- ridge for regression, one per label
   for multilabel --, a one-hot CNN; for per-nucleotide tasks a logistic regression on the one-hot
   bases around each position), then every model in every mode and seed, the same architecture
   randomly initialised and fitted the same way (what pretraining buys), and any
   ``extra_contenders`` (e.g. an LLM by prompt, :mod:`genolm.llm.evaluate`);
3. write one record per run (:mod:`genolm.bench.records`), atomically, the JSON last: a run whose
   JSON exists is complete, and is skipped when its ``run_key`` (config, data and model hashes)
   matches -- a killed bench resumes where it stopped;
4. summarise (``summary.json``, :func:`~genolm.bench.summary.summarise_results`) and report.

Layout of ``out_dir``::

    bench.json, timings.json
    runs/<task>/audit.json, status.json
    runs/<task>/<entry>/<mode>/seed<k>.json, seed<k>.npz
    cache/embeddings/      frozen features of probe runs
    summary.json, report.md, report.html, report_files/
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from genolm.atomic import atomic_write_json, folder_lock, jsonable
from genolm.bench.audit import FAIL_ON
from genolm.bench.baselines import CNN, KMER, KMER_SELECTION, WINDOW_LR, baseline_estimators
from genolm.bench.estimator import Estimator, fit_predict, parameter_counts
from genolm.bench.finetune import MODES, FinetuneConfig, Finetuner, Targets
from genolm.bench.prepare import TaskData, prepare_task, resolve_tasks
from genolm.bench.records import Entry, files_sha256, is_complete, primary_metric, run_key, slug, write_run
from genolm.bench.report import write_report
from genolm.bench.summary import (
    BOOT_SEED,
    check_n_boot,
    flatten_tokens,
    metric_draws,
    paired_difference,
    score_run,
    summarise_results,
)
from genolm.catalogue.loader import display_name, load, resolve
from genolm.errors import ConfigError, GenolmError, InputError
from genolm.infer import auto_threads
from genolm.progress import progress_bar
from genolm.registry import check_choice


@dataclass
class BenchConfig:
    """Everything ``genolm bench`` needs.  YAML keys are these field names; flags override them."""

    models: list[str] = field(default_factory=lambda: ["genolm-tiny"])  # folders, bundled, catalogue, Hub ids
    trust_remote_code: bool = False  # run code shipped in model repositories (DNABERT-2, NT v2, ...)
    tasks: list[str] = field(default_factory=list)  # task names or YAML paths
    suite: str | None = None  # used when no tasks are given (default: "mini")
    modes: list[str] = field(default_factory=lambda: ["probe", "full"])
    seeds: int = 3
    mode_seeds: dict = field(default_factory=dict)  # e.g. {"full": 1}: fewer seeds for a costly mode
    out_dir: str = "genolm-bench"
    fail_on: str = "fail"  # fail | warn | never
    baselines: bool | list[str] = True  # true: every baseline that applies; or their names
    random_init: bool = True
    # FinetuneConfig keys for every mode; a "full" / "lora" / "probe" key holds a mode's own
    finetune: dict = field(default_factory=dict)
    cnn: dict = field(default_factory=dict)  # OneHotCNN keyword overrides
    n_boot: int = 1000
    threads: int | None = None  # torch CPU threads during the bench; None: auto (idle cores, at least 1)
    report: bool = True
    progress: bool = True  # progress bars (on a terminal; plain periodic lines when stderr is redirected)
    # one line per finished run and per task's audit, on stdout; None: the same as ``progress``
    messages: bool | None = None
    profile: str | None = None  # the profile these settings started from (recorded, printed)
    #: model folders whose README.md gets this bench's results as model-index (local folders only)
    update_model_card: bool = False

    def __post_init__(self):
        for m in self.modes:
            check_choice("mode", m, MODES)
        check_choice("fail_on value", self.fail_on, FAIL_ON)
        if self.seeds < 1 or any(int(v) < 1 for v in self.mode_seeds.values()):
            raise ConfigError(f"seeds must be at least 1, got {self.seeds} / {self.mode_seeds}")
        check_n_boot(self.n_boot)
        for m in self.mode_seeds:
            check_choice("mode", m, MODES, where="mode_seeds")
        if not isinstance(self.baselines, bool):
            for b in self.baselines:
                check_choice("baseline", b, (KMER, CNN, WINDOW_LR), where="baselines")

    def seeds_for(self, mode: str) -> int:
        return int(self.mode_seeds.get(mode, self.seeds))


#: settings of ``genolm bench`` with no MODEL (the bundled genolm-tiny on the mini suite): chosen so the
#: whole default bench finishes in under 5 minutes on a busy 2-core CPU.  Full fine-tuning costs ~50x
#: a frozen probe, so it gets 2 epochs and 1 seed; probes, random-init probes and baselines get 3 seeds.
PROFILES: dict[str, dict] = {
    "quick": {
        "seeds": 3,
        "mode_seeds": {"full": 1, "lora": 1},
        "finetune": {
            "full": {"max_epochs": 2, "lr": 1e-3, "head_lr_scale": 10.0},
            "lora": {"max_epochs": 2, "lr": 2e-3, "head_lr_scale": 5.0},
        },
        "cnn": {"max_epochs": 10},
    },
    "standard": {"seeds": 3},
}
#: the profile ``genolm bench`` uses unless ``--profile`` (or a config's ``profile`` key) names another,
#: whatever the models; the bench prints it first
DEFAULT_PROFILE = "quick"
PROFILE_TEXT = {
    "quick": "quick (probes and baselines 3 seeds; full / lora fine-tuning 2 epochs, 1 seed; CNN 10 epochs)",
    "standard": "standard (3 seeds everywhere; fine-tuning up to 10 epochs with early stopping)",
}


@dataclass
class Contender:
    """An entry the bench does not build itself, fitted and scored beside its own.

    ``run_bench(..., extra_contenders=[...])`` runs each on every task and seed exactly like a
    model entry: same splits, same leak audit, same run record, in the same summary and report.
    :mod:`genolm.llm.evaluate` scores an LLM by prompt this way.
    """

    #: its leaderboard row (``kind="model"``; ``mode`` names the method, e.g. ``"text-2shot"``)
    entry: Entry
    #: ``(task, seed) -> an unfitted`` :class:`~genolm.bench.estimator.Estimator`
    build: Callable[[Any, int], Estimator]
    #: recorded as the run's ``config`` and hashed into its run key
    config: dict = field(default_factory=dict)
    #: :func:`~genolm.bench.records.files_sha256` of the model folder (``None``: no folder)
    model_hash: str | None = None
    #: ``fitted estimator -> dict``: the record's ``training`` block
    info: Callable[[Any], dict] | None = None
    #: more keys hashed into the run key (things that change the result but are not ``config``)
    key_extra: dict = field(default_factory=dict)
    #: ``(task, TaskData) -> None``, called before each fit: raises to refuse the task (e.g. a
    #: recipe that self-pretrains on a training split the leak audit found test sequences in)
    check: Callable[[Any, TaskData], None] | None = None


def _finetune_config(overrides: dict, mode: str, progress: bool) -> FinetuneConfig:
    from genolm import config as C

    shared = {k: v for k, v in (overrides or {}).items() if k not in MODES}
    per_mode = (overrides or {}).get(mode) or {}
    cfg = C.from_dict(FinetuneConfig, {**shared, **per_mode, "mode": mode}, source="finetune")
    if not progress:
        cfg.progress = False
    return cfg


def _entries(cfg: BenchConfig, task, names: dict[str, str]) -> list[Entry]:
    out = []
    if cfg.baselines:
        applicable = baseline_estimators(task.task_type, 0, cfg.cnn)
        wanted = list(applicable) if cfg.baselines is True else list(cfg.baselines)
        for b in wanted:
            check_choice("baseline", b, list(applicable), where=f"a {task.task_type} task ('{task.name}')")
            out.append(Entry(b, "baseline", "-", None, deterministic=b in (KMER, WINDOW_LR)))
    for ref in cfg.models:
        for mode in cfg.modes:
            # a logistic-regression probe on a fixed (pretrained) backbone has nothing random in it
            fixed = mode == "knn" or (
                mode == "probe" and _finetune_config(cfg.finetune, mode, False).probe == "logreg"
            )
            out.append(Entry(names[ref], "model", mode, ref, deterministic=fixed))
            if cfg.random_init:
                out.append(Entry(names[ref], "random-init", mode, ref))
    return out


# --- one run --------------------------------------------------------------------------------------


class _Fitted(NamedTuple):
    """What fitting one entry gives the record."""

    pred: Any  # Prediction
    classes: Any
    params: tuple[int, int]
    config: dict
    training: dict
    #: an ensemble's members' own test predictions (scored beside the ensemble's), else None
    members: list | None = None


def _fit_baseline(entry: Entry, seed: int, task, data: TaskData, cfg: BenchConfig, timings) -> _Fitted:
    est = baseline_estimators(task.task_type, seed, cfg.cnn)[entry.name]
    if hasattr(est, "progress"):  # the CNN: minutes on a long task, so it shows its own progress
        est.progress = cfg.progress
    pred = fit_predict(est, data, timings)
    info = {}
    if hasattr(est, "n_epochs_"):
        info = {"n_epochs": est.n_epochs_, "best_epoch": getattr(est, "best_epoch_", None)}
    if getattr(est, "selection_", None) is not None:  # the k-mer models' grid, scored on valid
        info["selection"] = est.selection_
    config = {k: jsonable(v) for k, v in est.get_params().items()} if hasattr(est, "get_params") else {}
    return _Fitted(pred, getattr(est, "classes_", None), parameter_counts(est), config, info)


def _fit_model(entry: Entry, seed: int, task, data: TaskData, bench_cfg, ft_cfg, timings) -> _Fitted:
    tt = task.task_type
    t0 = time.perf_counter()
    targets = Targets(tt).fit(data.train.labels, np.array([len(s) for s in data.train.sequences]))
    lm = load(entry.model_ref, trust_remote_code=bench_cfg.trust_remote_code)
    model = lm.for_task(
        task, entry.mode, num_labels=targets.n_out_, random_init=entry.kind == "random-init", seed=seed
    )
    family = lm.architecture
    if lm.model_loaded and model is not lm.model:
        lm.model = None  # one copy of the weights in memory while training
    timings["load_model"] = time.perf_counter() - t0
    long_input = _long_input_counts(model, lm.tokenizer, ft_cfg, data)
    t0 = time.perf_counter()
    est = Finetuner(model, lm.tokenizer, tt, ft_cfg, seed=seed)
    pred = fit_predict(est, data, timings, start=t0)
    info = {
        "family": family,
        "model_path": str(lm.folder),
        "precision": est.precision_,
        "history": est.history_,
        "best_epoch": getattr(est, "best_epoch_", None),
        "n_windowed": getattr(est, "n_windowed_", 0),
        "length_buckets": getattr(est, "length_buckets_", None),
        "schedule_plan": getattr(est, "schedule_plan_", None),
        # "cls_row" when a transformers ESM classifier's last block ran at the <cls> row only
        "last_block": getattr(est, "last_block_", None),
        "probe_C": getattr(est, "best_C_", None),
        "probe_C_at_edge": bool(getattr(est, "best_C_at_edge_", False)),
        "knn_k": getattr(est, "best_k_", None),
        "long_input": long_input,
        "fit_timings": est.timings_,
        "embedding_cache": (
            {"hits": est.cache_.hits, "misses": est.cache_.misses} if getattr(est, "cache_", None) else None
        ),
    }
    return _Fitted(pred, est.classes_, parameter_counts(est), dataclasses.asdict(ft_cfg), info)


def _long_input_counts(model, tokenizer, ft_cfg: FinetuneConfig, data: TaskData) -> dict:
    """How many sequences of each split exceed the model's context (``max_tokens`` when set, else the
    model config's maximum) and were therefore truncated or windowed under ``ft_cfg.long_input``.

    Under ``"error"`` any such sequence stops the fit, so a finished run had none: nothing to count.
    """
    from genolm.embed import InputPolicy, encode_sequences, model_context

    ctx = model_context(model, ft_cfg.max_tokens)
    out = {"policy": ft_cfg.long_input, "context_tokens": ctx, "n_over_context": None}
    if ctx is None or ft_cfg.long_input == "error":
        out["n_over_context"] = dict.fromkeys(("train", "valid", "test"), 0)
        return out
    policy = InputPolicy(ctx, "truncate")  # counting only: every over-long sequence counts once
    out["n_over_context"] = {
        name: int(encode_sequences(tokenizer, sp.sequences, policy).n_truncated)
        for name, sp in (("train", data.train), ("valid", data.valid), ("test", data.test))
    }
    return out


def _fit_contender(c: Contender, seed: int, task, data: TaskData, timings) -> _Fitted:
    if c.check is not None:
        c.check(task, data)
    t0 = time.perf_counter()
    est = c.build(task, seed)
    pred = fit_predict(est, data, timings, start=t0)
    info = c.info(est) if c.info is not None else {}
    members = getattr(est, "member_predictions_", None)
    return _Fitted(pred, getattr(est, "classes_", None), parameter_counts(est), c.config, info, members)


def _prediction_arrays(tt: str, data: TaskData, pred, classes) -> dict:
    """The ``.npz`` arrays of one prediction of the test split."""
    if tt == "token_classification":
        arrays = flatten_tokens(data.test.labels, pred, [len(s) for s in data.test.sequences])
    else:
        arrays = {
            "y_true": np.asarray(data.test.labels),
            "y_pred": np.asarray(pred.y_pred),
            "y_score": np.asarray(pred.y_score),
        }
    if classes is not None:
        arrays["classes"] = np.asarray(classes)
    arrays["ids"] = np.asarray(data.test.ids, dtype=str)
    for k in ("y_true", "y_pred", "classes"):
        if k in arrays and arrays[k].dtype == object:
            arrays[k] = arrays[k].astype(str)
    return arrays


def _score_members(fitted: _Fitted, task, data: TaskData, n_boot: int, primary: str, draws, estimate) -> None:
    """Score each ensemble member on the test rows beside the ensemble and add, to its block in
    ``training.members``, ``test`` (the primary metric with its CI) and ``ensemble_minus_member``
    (the paired bootstrap on the same resamples): whether averaging beat each member alone."""
    blocks = fitted.training.get("members") if isinstance(fitted.training, dict) else None
    if not fitted.members or not isinstance(blocks, list) or len(blocks) != len(fitted.members):
        return
    tt, labels = task.task_type, getattr(task, "labels", None)
    for block, pred in zip(blocks, fitted.members, strict=True):
        arrays = _prediction_arrays(tt, data, pred, fitted.classes)
        m = score_run(tt, arrays, labels, n_boot)[primary]
        mine = metric_draws(tt, primary, arrays, labels, n_boot)
        block["test"] = {primary: m}
        block["ensemble_minus_member"] = paired_difference(draws, mine, estimate, m["estimate"])


def _run_one(
    entry: Entry,
    seed: int,
    task,
    data: TaskData,
    bench_cfg: BenchConfig,
    ft_cfg: FinetuneConfig | None,
    run_dir: Path,
    key: str,
    model_hash: str | None,
    contender: Contender | None = None,
) -> dict:
    """Fit, predict, score and write one run; return its record."""
    tt = task.task_type
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    if contender is not None:
        fitted = _fit_contender(contender, seed, task, data, timings)
    elif entry.kind == "baseline":
        fitted = _fit_baseline(entry, seed, task, data, bench_cfg, timings)
    else:
        fitted = _fit_model(entry, seed, task, data, bench_cfg, ft_cfg, timings)
    t0 = time.perf_counter()
    arrays = _prediction_arrays(tt, data, fitted.pred, fitted.classes)
    metrics = score_run(tt, arrays, getattr(task, "labels", None), bench_cfg.n_boot)
    primary = primary_metric(task)
    if primary not in metrics:
        raise InputError(f"task '{task.name}': metric '{primary}' is not among {sorted(metrics)}")
    draws = metric_draws(tt, primary, arrays, getattr(task, "labels", None), bench_cfg.n_boot)
    bootstrap = {"metric": primary, "n_boot": bench_cfg.n_boot, "seed": BOOT_SEED, "draws": draws.round(6)}
    _score_members(fitted, task, data, bench_cfg.n_boot, primary, draws, metrics[primary]["estimate"])
    timings["metrics"] = time.perf_counter() - t0
    return write_run(
        run_dir,
        seed,
        key=key,
        task=task,
        entry=entry,
        model_hash=model_hash,
        data_hashes=data.hashes,
        audit_verdict=data.audit.verdict,
        fail_on=bench_cfg.fail_on,
        arrays=arrays,
        metrics=metrics,
        config=fitted.config,
        params=fitted.params,
        training=fitted.training,
        timings=timings,
        bootstrap=bootstrap,
        started=t_start,
    )


# --- the bench ------------------------------------------------------------------------------------


class BenchResult(NamedTuple):
    out_dir: Path
    summary: dict
    #: ``[(task, verdict)]`` of tasks the leak audit stopped
    refused: list
    #: runs fitted now / skipped because complete
    ran: int
    skipped: int
    #: wall seconds by phase: load_splits, audit, model (fit + predict), metrics, write, summary, report
    timings: dict


class _Run(NamedTuple):
    """One planned run."""

    task: Any
    data: TaskData
    entry: Entry
    seed: int
    run_dir: Path
    key: str
    model_hash: str | None
    contender: Contender | None


def _prepare(task, cfg: BenchConfig, out: Path, val_fraction: float, T: dict, say) -> tuple:
    """Prepare ``task`` and write its audit (and ``status.json`` when it is refused); returns
    ``(data, task_dir, refused)``."""
    try:
        data, refuse = prepare_task(task, fail_on=cfg.fail_on, val_fraction=val_fraction)
    except GenolmError as e:
        if isinstance(e, InputError) and str(e).startswith(f"task '{task.name}'"):
            raise
        raise InputError(f"task '{task.name}': {e}") from e
    T["load_splits"] += data.timings["load_splits"]
    t1 = time.perf_counter()
    task_dir = out / "runs" / slug(task.name)
    task_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(task_dir / "audit.json", jsonable(data.audit.to_dict()))
    T["audit"] += data.timings["audit"] + time.perf_counter() - t1
    verdict = data.audit.verdict
    bad = "; ".join(
        f"{c.name} {c.splits} {c.status} ({c.message})"
        for c in data.audit.checks
        if c.status in ("WARN", "FAIL")
    )
    if refuse:
        atomic_write_json(
            task_dir / "status.json",
            {"task": task.name, "status": "refused", "audit": verdict, "fail_on": cfg.fail_on, "reason": bad},
        )
        say(
            f"[{task.name}] leak audit {verdict} reaches --fail-on {cfg.fail_on}: NOT SCORED ({bad}). "
            "Fix the splits, or pass --fail-on never to score anyway with the verdict shown beside every score."
        )
        return data, task_dir, True
    (task_dir / "status.json").unlink(missing_ok=True)
    say(
        f"[{task.name}] leak audit: {verdict}"
        + (
            ""
            if verdict == "PASS"
            else f": {bad} (scored under --fail-on {cfg.fail_on}; shown beside every score)"
        )
    )
    return data, task_dir, False


def _plan(task, data: TaskData, task_dir: Path, cfg, names, model_hash, ft_cfgs, contenders) -> list[_Run]:
    """Every run of ``task``, with its run key."""
    pairs = [(e, None) for e in _entries(cfg, task, names)] + [(c.entry, c) for c in contenders]
    runs = []
    for entry, contender in pairs:
        ft = ft_cfgs.get(entry.mode) if contender is None and entry.kind != "baseline" else None
        if contender is not None:
            config, mhash = contender.config, contender.model_hash
        elif ft is not None:
            config = {
                k: v
                for k, v in dataclasses.asdict(ft).items()
                # length_buckets "auto" (the default) trains fixed-length tasks exactly as before it
                # existed: left out of the key, so earlier bench folders resume instead of refitting
                if k not in ("progress", "cache_dir")
                and not (k == "length_buckets" and v == "auto")
                # budget_schedule does nothing without a budget: left out of the key then (as above)
                and not (k == "budget_schedule" and ft.time_budget_s is None)
            }
            mhash = model_hash.get(entry.model_ref)
        else:
            config, mhash = cfg.cnn, None
        run_dir = task_dir / entry.dirname / (entry.mode if entry.mode != "-" else "baseline")
        for seed in [0] if entry.deterministic else range(cfg.seeds_for(entry.mode)):
            key_src = {
                "entry": entry._asdict(),
                "seed": seed,
                "data": data.hashes,
                "model_hash": mhash,
                "config": config,
                "n_boot": cfg.n_boot,
                **(contender.key_extra if contender is not None else {}),
                # the k-mer baseline's validation grid: records fitted before it (a fixed C) refit
                **({"kmer": KMER_SELECTION} if entry.name == KMER and entry.kind == "baseline" else {}),
            }
            runs.append(_Run(task, data, entry, seed, run_dir, run_key(key_src), mhash, contender))
    return runs


def _resolve_models(refs) -> tuple[dict[str, str], dict[str, str]]:
    """``({ref: display name}, {ref: sha256 of its files})``; a repeated name gets ``#k``."""
    names: dict[str, str] = {}
    model_hash: dict[str, str] = {}
    for ref in refs:
        entry, folder, _ = resolve(ref)
        name = display_name(entry, folder)
        if name in names.values():
            name = f"{name}#{len(names)}"
        names[ref] = name
        model_hash[ref] = files_sha256(folder)
    return names, model_hash


def hardware(n_threads: int | None = None) -> dict:
    """The machine a bench ran on: CPU, cores, GPU (``None`` without CUDA) and torch threads."""
    import os
    import platform

    import torch

    gpu = None
    if torch.cuda.is_available():
        gpu = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    cpu = platform.processor() or platform.machine()
    try:  # Linux: the model name is in /proc/cpuinfo, platform.processor() often says only x86_64
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "gpu": gpu,
        "torch_threads": n_threads if n_threads is not None else torch.get_num_threads(),
        "platform": platform.platform(),
    }


def _bench_meta(cfg: BenchConfig, tasks, contenders, meta: dict | None, out: Path) -> dict:
    """``bench.json``: the config, the tasks run, the contenders' models and modes, and one
    ``invocations`` item per bench run into this folder (command line, start, machine; ``wall_s``
    is filled in when it finishes) -- the provenance block of the report."""
    import json

    out_meta = {**dataclasses.asdict(cfg), "tasks_run": [t.name for t in tasks]}
    for c in contenders:
        if c.entry.model_ref and c.entry.model_ref not in out_meta["models"]:
            out_meta["models"].append(c.entry.model_ref)
        if c.entry.mode not in out_meta["modes"]:
            out_meta["modes"].append(c.entry.mode)
    meta = dict(meta or {})
    previous = []
    try:
        previous = list(json.loads((out / "bench.json").read_text()).get("invocations", []))
    except (OSError, ValueError, AttributeError):
        pass
    previous.append(
        {
            "command": meta.pop("command", None),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "hardware": hardware(cfg.threads or auto_threads()),
            "wall_s": None,
        }
    )
    return jsonable({**out_meta, **meta, "invocations": previous})


def run_bench(
    cfg: BenchConfig,
    tasks: Sequence[Any] = (),
    *,
    extra_contenders: Sequence[Contender] = (),
    meta: dict | None = None,
) -> BenchResult:
    """Run the bench described by ``cfg`` (what ``genolm bench`` calls).

    ``tasks`` are task objects run besides ``cfg.tasks`` (names or YAML paths) and ``cfg.suite``;
    with none of the three, the ``mini`` suite.  ``extra_contenders`` (:class:`Contender`) are
    fitted and scored beside the models and baselines on every task; ``meta`` adds keys to
    ``bench.json``.  See the module docstring for what is written.
    """
    # one bench per output folder: a second process on the same folder would duplicate the runs
    with folder_lock(cfg.out_dir, what="bench output folder") as lock:
        return _run_bench_locked(cfg, list(tasks), extra_contenders, meta, lock.parent)


def _run_bench_locked(cfg: BenchConfig, task_objs: list, extra_contenders, meta, out: Path) -> BenchResult:
    import torch
    from threadpoolctl import threadpool_limits

    T: dict[str, float] = dict.fromkeys(
        ("load_splits", "audit", "model", "metrics", "write", "summary", "report"), 0.0
    )
    t_bench = time.perf_counter()
    if cfg.tasks or cfg.suite or not task_objs:  # nothing at all: the mini suite
        task_objs += resolve_tasks(cfg.tasks, cfg.suite)
    names, model_hash = _resolve_models(cfg.models)
    # fine-tuning progress nests inside the bench's: a bar on a terminal, plain lines in a log
    ft_cfgs = {m: _finetune_config(cfg.finetune, m, cfg.progress) for m in cfg.modes}
    for c in ft_cfgs.values():
        if c.cache_dir is None:
            c.cache_dir = str(out / "cache" / "embeddings")
    val_fraction = (ft_cfgs[cfg.modes[0]] if cfg.modes else FinetuneConfig()).val_fraction
    bench_meta = _bench_meta(cfg, task_objs, extra_contenders, meta, out)
    atomic_write_json(out / "bench.json", bench_meta)

    old_threads = torch.get_num_threads()
    n_threads = cfg.threads or auto_threads()
    torch.set_num_threads(n_threads)
    blas = threadpool_limits(limits=n_threads)  # numpy / scikit-learn BLAS: the same rule as torch
    say = _printer(cfg.progress if cfg.messages is None else cfg.messages)
    say(f"profile: {PROFILE_TEXT.get(cfg.profile or '', cfg.profile or 'none (BenchConfig as given)')}")
    say(f"as run: {_as_run(cfg)}")  # the profile's defaults after --seeds / --modes / --config overrides
    refused, ran, skipped = [], 0, 0
    bar = None
    try:
        plan: list[_Run] = []
        for task in task_objs:
            data, task_dir, refuse = _prepare(task, cfg, out, val_fraction, T, say)
            if refuse:
                refused.append((task.name, data.audit.verdict))
                continue
            plan += _plan(task, data, task_dir, cfg, names, model_hash, ft_cfgs, extra_contenders)
        bar = progress_bar(len(plan), "bench", unit="run", enabled=cfg.progress)
        for r in plan:
            if is_complete(r.run_dir / f"seed{r.seed}.json", r.key):
                skipped += 1
                if bar is not None:
                    bar.update(1)
                continue
            if bar is not None:
                bar.set_description(f"{r.task.name} {r.entry.name} {r.entry.mode} s{r.seed}")
            ft = ft_cfgs.get(r.entry.mode) if r.contender is None and r.entry.kind != "baseline" else None
            rec = _run_one(
                r.entry, r.seed, r.task, r.data, cfg, ft, r.run_dir, r.key, r.model_hash, r.contender
            )
            ran += 1
            tm = rec["timings"]
            T["model"] += tm.get("load_model", 0.0) + tm.get("fit", 0.0) + tm.get("predict", 0.0)
            T["metrics"] += tm.get("metrics", 0.0)
            T["write"] += tm.get("write", 0.0)
            m = rec["metrics"][rec["primary_metric"]]
            if bar is not None:
                bar.update(1)
            say(
                f"[{r.task.name}] {r.entry.name} ({r.entry.kind}, {r.entry.mode}) seed {r.seed}: "
                f"{rec['primary_metric']} {_fmt(m['estimate'])} [{_fmt(m['low'])}, {_fmt(m['high'])}] "
                f"in {tm.get('fit', 0) + tm.get('predict', 0):.1f}s  (leak audit {r.data.audit.verdict})"
            )
        if bar is not None:
            bar.close()
            bar = None
        # the report's provenance block reads the wall time so far (the final one lands below)
        bench_meta["invocations"][-1]["wall_s"] = time.perf_counter() - t_bench
        atomic_write_json(out / "bench.json", bench_meta)
        t0 = time.perf_counter()
        summary = summarise_results(out, n_boot=cfg.n_boot)
        T["summary"] = time.perf_counter() - t0
        if cfg.report:
            t0 = time.perf_counter()
            write_report(out, summary=summary)
            T["report"] = time.perf_counter() - t0
        if cfg.update_model_card:
            from genolm.bench.modelcard import update_model_cards

            for card in update_model_cards(summary):
                say(f"model card updated: {card}")
    finally:
        if bar is not None:
            bar.close()
        torch.set_num_threads(old_threads)
        blas.restore_original_limits()
    T["total"] = time.perf_counter() - t_bench
    T["overhead"] = T["total"] - T["model"]
    bench_meta["invocations"][-1]["wall_s"] = T["total"]
    atomic_write_json(out / "bench.json", bench_meta)
    atomic_write_json(out / "timings.json", {**T, "runs_ran": ran, "runs_skipped": skipped})
    return BenchResult(out, summary, refused, ran, skipped, T)


def _as_run(cfg: BenchConfig) -> str:
    """The settings that decide how much runs, as this bench will run them."""
    seeds = ", ".join(f"{m} {cfg.mode_seeds.get(m, cfg.seeds)}" for m in cfg.modes)
    return f"modes {', '.join(cfg.modes) or 'none'}; seeds per mode: {seeds or '-'} (deterministic entries run once)"


def _fmt(x) -> str:
    return "nan" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3f}"


def _printer(enabled: bool):
    def say(msg: str) -> None:
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm

            tqdm.write(msg)
        except ImportError:  # pragma: no cover
            print(msg)

    return say


def _deep_merge(base: dict, over: dict) -> dict:
    """Merge ``over`` into ``base`` in place: nested mappings key by key, anything else replaced."""
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _deep_merge(base[k], v)
        else:
            base[k] = v
    return base


def bench_config(
    path: str | Path | None = None, overrides: dict | None = None, *, profile: str | None = None
) -> BenchConfig:
    """A :class:`BenchConfig` from a profile, then a YAML file, then ``overrides`` (CLI flags).

    ``profile`` (:data:`PROFILES`) is the argument, else the file's ``profile`` key, else
    :data:`DEFAULT_PROFILE` -- whether or not a model is named (naming a model used to switch to
    ``"standard"`` silently).  Nested sections (``cnn``, ``finetune``, ``mode_seeds``) are merged
    key by key into the profile's, not replaced.  ``seeds`` given without ``mode_seeds`` applies to
    every mode; ``finetune`` keys given outside a mode section apply to every mode, over the
    profile's per-mode values.
    """
    import copy

    import yaml

    from genolm import config as C

    file_data: dict = {}
    if path is not None:
        try:
            file_data = yaml.safe_load(Path(path).read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
        if not isinstance(file_data, dict):
            raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    over = {k: v for k, v in (overrides or {}).items() if v is not None}
    profile = profile or over.pop("profile", None) or file_data.pop("profile", None) or DEFAULT_PROFILE
    if profile not in PROFILES:
        from genolm.registry import did_you_mean

        raise ConfigError(f"unknown profile '{profile}'.{did_you_mean(profile, list(PROFILES))}")
    data = copy.deepcopy(PROFILES[profile])
    for layer in (file_data, over):
        layer = dict(layer)
        if "seeds" in layer and "mode_seeds" not in layer:
            data.pop("mode_seeds", None)
        ft = layer.pop("finetune", None)
        if ft:
            merged = data.setdefault("finetune", {})
            for k, v in ft.items():
                if k in MODES and isinstance(v, dict):
                    merged[k] = {**merged.get(k, {}), **v}
                else:
                    merged[k] = v
                    for m in MODES:  # a shared key set here beats the profile's per-mode value
                        if isinstance(merged.get(m), dict):
                            merged[m].pop(k, None)
        _deep_merge(data, layer)
    data["profile"] = profile
    cfg = C.from_dict(BenchConfig, data, source=str(path) if path else "bench config")
    for m in cfg.modes:  # check the fine-tuning keys now, not after an hour of baselines
        _finetune_config(cfg.finetune, m, False)
    return cfg
