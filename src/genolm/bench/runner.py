"""``genolm bench``: every model x task x mode x seed, beside baselines on the same splits, resumable.

Read top to bottom: the config, loading a model for a task, preparing a task (validation carve,
bad-input checks, the leak audit), the baselines, one run, the summary over seeds, then
:func:`run_bench`, which ties them together.

What one bench does, per task:

1. load the splits; carve a validation split from train when there is none (seeded, stratified,
   the same for every model); refuse a split with one class;
2. run the leak audit (:func:`genolm.bench.audit.audit_splits`) on exactly the splits used and
   store it as ``runs/<task>/audit.json``; when the verdict reaches ``fail_on`` the task is *not
   scored* (``status.json`` says why); with ``fail_on="never"`` it is scored and the verdict
   sits beside every score;
3. fit and score the baselines (k-mer logistic regression -- ridge for regression, one per label
   for multilabel --, a one-hot CNN; for per-nucleotide tasks a logistic regression on the one-hot
   bases around each position), then every model in every mode and seed, and the same
   architecture randomly initialised and fitted the same way (what pretraining buys);
4. write one JSON per run (config, package versions, sha256 of each split, timings, parameter
   counts, metrics with bootstrap 95 % CIs, the audit verdict) and its predictions (``.npz``),
   atomically, the JSON last: a run whose JSON exists is complete, and is skipped when its
   ``run_key`` (config, data and model hashes) matches -- a killed bench resumes where it stopped;
5. summarise (``summary.json``): per entry the mean +/- SD over seeds, a bootstrap CI of the seed
   mean on the test set, and paired bootstraps (the same resampled test rows for both sides) of
   each model against the best baseline, the k-mer baseline and its random initialisation.

Layout of ``out_dir``::

    runs/<task>/audit.json, status.json
    runs/<task>/<entry>/<mode>/seed<k>.json, seed<k>.npz
    cache/embeddings/      frozen features of probe runs
    summary.json, report.md, report.html, report_files/
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from genolm.atomic import atomic_path, atomic_write_json
from genolm.bench.finetune import (
    IGNORE,
    MODES,
    TASK_TYPES,
    FinetuneConfig,
    Finetuner,
    Targets,
    carve_validation,
)
from genolm.catalogue.loader import display_name, load, resolve
from genolm.errors import ConfigError, GenolmError, InputError

SCHEMA = "genolm-bench-run/1"
KINDS = ("model", "random-init", "baseline")
PRIMARY = {"binary": "mcc", "multiclass": "mcc", "multilabel": "mcc", "regression": "spearman"}
PRIMARY["token_classification"] = "mcc"
#: baseline entry names, by what they are
KMER, CNN, WINDOW_LR = "kmer-lr", "onehot-cnn", "window-onehot-lr"


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
    baselines: bool = True
    random_init: bool = True
    # FinetuneConfig keys for every mode; a "full" / "lora" / "probe" key holds a mode's own
    finetune: dict = field(default_factory=dict)
    cnn: dict = field(default_factory=dict)  # OneHotCNN keyword overrides
    n_boot: int = 1000
    threads: int | None = None  # torch CPU threads during the bench; None: auto (idle cores, at least 1)
    report: bool = True
    progress: bool = True

    def __post_init__(self):
        bad = [m for m in self.modes if m not in MODES]
        if bad:
            from genolm.registry import did_you_mean

            raise ConfigError(
                f"unknown mode '{bad[0]}'.{did_you_mean(bad[0], list(MODES))} Modes: {', '.join(MODES)}"
            )
        if self.fail_on not in ("fail", "warn", "never"):
            raise ConfigError(f"fail_on must be fail, warn or never, not {self.fail_on!r}")
        if self.seeds < 1 or any(int(v) < 1 for v in self.mode_seeds.values()):
            raise ConfigError(f"seeds must be at least 1, got {self.seeds} / {self.mode_seeds}")
        if self.n_boot < 100:
            raise ConfigError(f"n_boot must be at least 100 for a 95 % interval, got {self.n_boot}")
        bad = [m for m in self.mode_seeds if m not in MODES]
        if bad:
            raise ConfigError(f"mode_seeds: unknown mode '{bad[0]}'; modes are {', '.join(MODES)}")

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


# --- versions and hashes ----------------------------------------------------------------------


def package_versions() -> dict[str, str]:
    """Versions of Python and every package that can change a score."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("genolm", "torch", "transformers", "peft", "accelerate", "scikit-learn", "numpy", "scipy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


def _labels_bytes(labels) -> bytes:
    if isinstance(labels, list) or (isinstance(labels, np.ndarray) and labels.dtype == object):
        return b"\x1e".join(np.asarray(x).tobytes() + str(np.asarray(x).dtype).encode() for x in labels)
    a = np.ascontiguousarray(np.asarray(labels))
    if a.dtype.kind in "USO":
        return "\x1e".join(map(str, a.reshape(-1).tolist())).encode() + str(a.shape).encode()
    return a.tobytes() + str(a.dtype).encode() + str(a.shape).encode()


def split_sha256(seqs: Sequence[str], labels, ids: Sequence) -> str:
    """sha256 of a split's contents: ids, sequences and labels, in order."""
    h = hashlib.sha256()
    for i, s in zip(ids, seqs):
        h.update(f"{i}\t{s}\n".encode("utf-8", "replace"))
    h.update(_labels_bytes(labels))
    return h.hexdigest()


def _files_sha256(folder: Path) -> str:
    """sha256 of a model folder's files (names and contents), so a retrained model is never skipped."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            h.update(str(p.relative_to(folder)).encode())
            with open(p, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


def _key(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _slug(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return keep.strip("._") or "model"


# --- tasks ------------------------------------------------------------------------------------


def resolve_tasks(tasks: Sequence[Any] = (), suite: str | None = None) -> list:
    """Task objects from names / YAML paths / task objects, or a suite (default ``"mini"``)."""
    from genolm.bench.tasks import load_suite, load_task

    out = [t if hasattr(t, "load_splits") else load_task(str(t)) for t in tasks]
    if suite or not out:
        out += list(load_suite(suite or "mini"))
    return out


class Split(NamedTuple):
    sequences: list[str]
    labels: Any  # np.ndarray, or a list of per-nucleotide arrays for token classification
    ids: list[str]


class TaskData(NamedTuple):
    """A task's splits as every entry sees them, their hashes, and the audit."""

    train: Split
    valid: Split
    test: Split
    carved: bool
    hashes: dict
    audit: Any  # AuditReport
    timings: dict  # load_splits, audit (seconds)


def _as_split(sp, name: str, task_type: str) -> Split:
    seqs = [str(s) for s in sp.sequences]
    labels = sp.labels
    if task_type == "token_classification":
        labels = [np.asarray(x) for x in labels]
    else:
        labels = np.asarray(labels)
        if labels.dtype == object:
            try:
                labels = labels.astype(float if task_type == "regression" else str)
            except (TypeError, ValueError):
                raise InputError(f"split '{name}': labels of mixed or unreadable types") from None
    ids = [str(i) for i in (sp.ids if getattr(sp, "ids", None) is not None else range(len(seqs)))]
    if not seqs:
        raise InputError(f"split '{name}' is empty")
    if len(labels) != len(seqs) or len(ids) != len(seqs):
        raise InputError(f"split '{name}': {len(seqs)} sequences, {len(labels)} labels, {len(ids)} ids")
    return Split(seqs, labels, ids)


def _check_classes(task_name: str, task_type: str, splits: dict[str, Split]) -> None:
    """A classification split with a single class cannot score MCC or AUROC: refuse it."""
    for name, sp in splits.items():
        if task_type in ("binary", "multiclass"):
            classes = np.unique(sp.labels)
            if len(classes) < 2:
                raise InputError(
                    f"task '{task_name}': split '{name}' holds a single class ({classes[0]!r}); "
                    "MCC and AUROC are undefined and training cannot learn a boundary",
                    hint="check the task's label column and how its splits were made",
                )
        elif task_type == "multilabel" and name != "valid":
            lab = np.asarray(sp.labels)
            if lab.ndim != 2:
                raise InputError(f"task '{task_name}': multilabel split '{name}' labels must be (n, L)")
            if np.all(lab.min(0) == lab.max(0)):
                raise InputError(f"task '{task_name}': split '{name}': every label is constant")
        elif task_type == "token_classification":
            flat = np.concatenate([np.asarray(x).reshape(-1) for x in sp.labels])
            if len(np.unique(flat[flat != IGNORE])) < 2:
                raise InputError(f"task '{task_name}': split '{name}' nucleotide labels hold a single class")


def prepare_task(task, *, fail_on: str = "fail", val_fraction: float = 0.1, carve_seed: int = 0):
    """Load, check, carve and audit ``task``.  Returns ``(TaskData, refused: bool)``."""
    from genolm.bench.audit import audit_splits

    tt = task.task_type
    if tt not in TASK_TYPES:
        raise ConfigError(f"task '{task.name}': unknown task type '{tt}'")
    t0 = time.perf_counter()
    raw = task.load_splits()
    for need in ("train", "test"):
        if need not in raw:
            raise InputError(f"task '{task.name}' has no '{need}' split (splits: {', '.join(raw)})")
    splits = {k: _as_split(v, k, tt) for k, v in raw.items() if k in ("train", "valid", "test")}
    carved = "valid" not in splits
    if carved:
        tr = splits["train"]
        strat = np.zeros(len(tr.sequences)) if tt == "token_classification" else tr.labels
        a, b = carve_validation(strat, val_fraction, seed=carve_seed, task_type=tt)

        def take(sp, idx):
            lab = [sp.labels[i] for i in idx] if isinstance(sp.labels, list) else sp.labels[idx]
            return Split([sp.sequences[i] for i in idx], lab, [sp.ids[i] for i in idx])

        splits = {"train": take(tr, a), "valid": take(tr, b), "test": splits["test"]}
    _check_classes(task.name, tt, splits)
    hashes = {k: {"n": len(v.sequences), "sha256": split_sha256(*v)} for k, v in splits.items()}
    hashes["valid"]["carved_from_train"] = carved
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    audit_type = {"token_classification": "binary"}.get(tt, tt)
    audit_in = {
        k: (v.sequences if tt == "token_classification" else (v.sequences, v.labels, v.ids))
        for k, v in splits.items()
    }
    report = audit_splits(audit_in, task_type=audit_type, fail_on="never")
    refused = report.violates(fail_on)
    timings = {"load_splits": t_load, "audit": time.perf_counter() - t0}
    data = TaskData(splits["train"], splits["valid"], splits["test"], carved, hashes, report, timings)
    return data, refused


# --- baselines --------------------------------------------------------------------------------


class _KmerMultilabel:
    """One :class:`KmerLogisticRegression` per label (a constant label predicts its frequency)."""

    def __init__(self, **kw):
        self.kw = kw

    def fit(self, seqs, y, valid=None):
        from genolm.bench.baselines import KmerLogisticRegression

        y = np.asarray(y)
        self.models_ = [
            float(y[:, j].mean())
            if y[:, j].min() == y[:, j].max()
            else KmerLogisticRegression(**self.kw).fit(seqs, y[:, j])
            for j in range(y.shape[1])
        ]
        return self

    def predict_with_scores(self, seqs):
        from genolm.bench.baselines import Prediction

        cols = [
            np.full(len(seqs), m) if isinstance(m, float) else m.predict_proba(seqs)[:, 1]
            for m in self.models_
        ]
        p = np.stack(cols, axis=1)
        return Prediction((p >= 0.5).astype(np.int64), p)

    def size(self) -> int:
        return sum(
            m.model_.coef_.size + m.model_.intercept_.size for m in self.models_ if not isinstance(m, float)
        )


class WindowOneHotLR:
    """Per-nucleotide baseline for token classification: logistic regression on the one-hot
    bases within ``half_window`` of each position (a local k-mer context model)."""

    def __init__(
        self, half_window: int = 10, C: float = 0.1, max_train: int = 200_000, random_state: int = 0
    ):
        self.half_window, self.C, self.max_train, self.random_state = half_window, C, max_train, random_state

    def _X(self, seqs) -> np.ndarray:
        from genolm.bench.audit import _flat_index

        w = self.half_window
        feats = []
        for s in seqs:
            idx, _ = _flat_index([s])
            onehot = np.zeros((len(s) + 2 * w, 4), np.float32)
            ok = idx < 4
            onehot[np.flatnonzero(ok) + w, idx[ok]] = 1.0
            win = np.lib.stride_tricks.sliding_window_view(onehot, (2 * w + 1, 4))[:, 0]  # (L, 2w+1, 4)
            feats.append(win.reshape(len(s), -1))
        return np.concatenate(feats)

    def fit(self, seqs, y, valid=None):
        from sklearn.linear_model import LogisticRegression

        t = np.concatenate([np.asarray(a).reshape(-1)[: len(s)] for s, a in zip(seqs, y)])
        X = self._X(seqs)
        keep = np.flatnonzero(t != IGNORE)
        if len(keep) > self.max_train:
            keep = np.sort(
                np.random.default_rng(self.random_state).choice(keep, self.max_train, replace=False)
            )
        self.model_ = LogisticRegression(C=self.C, class_weight="balanced", max_iter=500).fit(
            X[keep], t[keep]
        )
        self.classes_ = self.model_.classes_
        return self

    def predict_with_scores(self, seqs):
        from genolm.bench.baselines import Prediction

        p = self.model_.predict_proba(self._X(seqs))
        parts = np.split(np.arange(len(p)), np.cumsum([len(s) for s in seqs])[:-1])
        preds = [self.classes_[p[i].argmax(1)] for i in parts]
        scores = [p[i][:, 1] if len(self.classes_) == 2 else p[i] for i in parts]
        return Prediction(preds, scores)

    def size(self) -> int:
        return self.model_.coef_.size + self.model_.intercept_.size


def baseline_estimators(task_type: str, seed: int, cnn_kw: dict | None = None) -> dict[str, Any]:
    """``{name: unfitted estimator}`` of the baselines that apply to ``task_type``."""
    from genolm.bench.baselines import KmerLogisticRegression, KmerRidge, OneHotCNN

    cnn_kw = dict(cnn_kw or {})
    if task_type == "token_classification":
        return {WINDOW_LR: WindowOneHotLR(random_state=seed)}
    kmer = {
        "binary": KmerLogisticRegression,
        "multiclass": KmerLogisticRegression,
        "regression": KmerRidge,
        "multilabel": _KmerMultilabel,
    }[task_type]()
    cnn_task = {"binary": "classification", "multiclass": "classification"}.get(task_type, task_type)
    return {KMER: kmer, CNN: OneHotCNN(task=cnn_task, random_state=seed, **cnn_kw)}


def _estimator_size(est) -> int:
    if hasattr(est, "size"):
        return int(est.size())
    if hasattr(est, "model_") and hasattr(est.model_, "parameters"):
        return int(sum(p.numel() for p in est.model_.parameters()))
    m = getattr(est, "model_", None)
    if m is not None and hasattr(m, "coef_"):
        return int(np.size(m.coef_) + np.size(m.intercept_))
    return 0


# --- one run ----------------------------------------------------------------------------------


class Entry(NamedTuple):
    """One row of the leaderboard: a model in a mode, its random initialisation, or a baseline."""

    name: str
    kind: str  # model | random-init | baseline
    mode: str  # full | lora | probe | "-" for baselines
    model_ref: str | None = None
    deterministic: bool = False  # one run serves every seed (k-mer models, logistic probes of a fixed model)

    @property
    def dirname(self) -> str:
        return _slug(self.name) + (".random-init" if self.kind == "random-init" else "")


def _flatten_tokens(y_true: list, pred, lengths) -> dict[str, np.ndarray]:
    """Token-classification outputs as flat arrays over labelled nucleotides (``seq_index`` keeps
    which sequence each came from, for the per-sequence bootstrap)."""
    yt, yp, ys, si = [], [], [], []
    for i, (t, p, s) in enumerate(zip(y_true, pred.y_pred, pred.y_score)):
        t = np.asarray(t).reshape(-1)[: lengths[i]]
        keep = t != IGNORE
        yt.append(t[keep])
        yp.append(np.asarray(p)[keep])
        ys.append(np.asarray(s)[keep])
        si.append(np.full(int(keep.sum()), i, dtype=np.int64))
    return {
        "y_true": np.concatenate(yt),
        "y_pred": np.concatenate(yp),
        "y_score": np.concatenate(ys),
        "seq_index": np.concatenate(si),
    }


def _metric_task_type(task_type: str, classes) -> str:
    if task_type != "token_classification":
        return task_type
    return "binary" if classes is not None and len(classes) == 2 else "multiclass"


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def load_predictions(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a run's ``.npz``: ``y_true``, ``y_pred``, ``y_score``, ``classes``, ``ids``
    (token classification adds ``seq_index``)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _score(task_type: str, arrays: dict, labels, n_boot: int) -> dict[str, dict]:
    """Every metric with a bootstrap 95 % CI (per-sequence resampling for token classification)."""
    from genolm.bench.metrics import bootstrap_ci, compute_metrics

    classes = arrays.get("classes")
    mt = _metric_task_type(task_type, classes)
    lab = labels if task_type == "multilabel" else (classes if mt in ("binary", "multiclass") else None)
    if task_type != "token_classification":
        cis = bootstrap_ci(
            mt, arrays["y_true"], arrays["y_pred"], arrays["y_score"], labels=lab, n_boot=n_boot
        )
        point = compute_metrics(mt, arrays["y_true"], arrays["y_pred"], arrays["y_score"], labels=lab)
        return {
            k: {"estimate": c.estimate, "low": c.low, "high": c.high, "reason": point.reasons.get(k)}
            for k, c in cis.items()
        }
    point = compute_metrics(mt, arrays["y_true"], arrays["y_pred"], arrays["y_score"], labels=lab)
    out = {}
    for m in point:
        if "/" in m:
            continue
        kern = _metric_kernel(mt, arrays["y_true"], arrays["y_pred"], arrays["y_score"], lab, m)
        draws = np.concatenate(list(_bootstrap_draws([kern], arrays["seq_index"], n_boot, seed=0)))
        ok = draws[np.isfinite(draws)]
        lo, hi = np.quantile(ok, [0.025, 0.975]) if ok.size else (math.nan, math.nan)
        out[m] = {"estimate": point[m], "low": float(lo), "high": float(hi), "reason": point.reasons.get(m)}
    return out


def fit_predict(est, data, timings: dict[str, float], *, start: float | None = None):
    """Fit ``est`` on the train split (valid for early stopping, ids for feature caches) and predict
    the test split; ``timings["fit"]`` counts from ``start`` (default: now), ``timings["predict"]``
    the prediction.  Returns the prediction."""
    t0 = time.perf_counter() if start is None else start
    est.fit(
        data.train.sequences,
        data.train.labels,
        valid=(data.valid.sequences, data.valid.labels),
        ids=data.train.ids,
    )
    timings["fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = est.predict_with_scores(data.test.sequences, ids=data.test.ids)
    timings["predict"] = time.perf_counter() - t0
    return pred


def _run_one(
    entry: Entry,
    seed: int,
    task,
    data: TaskData,
    bench_cfg: BenchConfig,
    ft_cfg: FinetuneConfig | None,
    run_dir: Path,
    run_key: str,
    model_hash: str | None,
) -> dict:
    """Fit, predict, score and write one run; return its record."""
    import torch

    tt = task.task_type
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    info: dict[str, Any] = {}
    if entry.kind == "baseline":
        est = baseline_estimators(tt, seed, bench_cfg.cnn)[entry.name]
        t0 = time.perf_counter()
        if "valid" in inspect.signature(est.fit).parameters:
            est.fit(data.train.sequences, data.train.labels, valid=(data.valid.sequences, data.valid.labels))
        else:
            est.fit(data.train.sequences, data.train.labels)
        timings["fit"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        pred = est.predict_with_scores(data.test.sequences)
        timings["predict"] = time.perf_counter() - t0
        n_params = n_trainable = _estimator_size(est)
        classes = getattr(est, "classes_", None)
        config = {k: _jsonable(v) for k, v in est.get_params().items()} if hasattr(est, "get_params") else {}
        if hasattr(est, "n_epochs_"):
            info = {"n_epochs": est.n_epochs_, "best_epoch": getattr(est, "best_epoch_", None)}
    else:
        t0 = time.perf_counter()
        targets = Targets(tt).fit(data.train.labels, np.array([len(s) for s in data.train.sequences]))
        lm = load(entry.model_ref, trust_remote_code=bench_cfg.trust_remote_code)
        model = lm.for_task(
            task, entry.mode, num_labels=targets.n_out_, random_init=entry.kind == "random-init", seed=seed
        )
        family = lm.architecture
        if model is not lm.model:
            lm.model = None  # one copy of the weights in memory while training
        timings["load_model"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        est = Finetuner(model, lm.tokenizer, tt, ft_cfg, seed=seed)
        pred = fit_predict(est, data, timings, start=t0)
        n_params, n_trainable = est.n_params_, est.n_trainable_
        classes = est.classes_
        config = dataclasses.asdict(ft_cfg)
        info = {
            "family": family,
            "model_path": str(lm.folder),
            "precision": est.precision_,
            "history": est.history_,
            "best_epoch": getattr(est, "best_epoch_", None),
            "n_windowed": getattr(est, "n_windowed_", 0),
            "fit_timings": est.timings_,
            "embedding_cache": (
                {"hits": est.cache_.hits, "misses": est.cache_.misses}
                if getattr(est, "cache_", None)
                else None
            ),
        }
        del est, model, lm
    t0 = time.perf_counter()
    if tt == "token_classification":
        lengths = [len(s) for s in data.test.sequences]
        arrays = _flatten_tokens(data.test.labels, pred, lengths)
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
    metrics = _score(tt, arrays, getattr(task, "labels", None), bench_cfg.n_boot)
    timings["metrics"] = time.perf_counter() - t0
    primary = _primary(task)
    if primary not in metrics:
        raise InputError(f"task '{task.name}': metric '{primary}' is not among {sorted(metrics)}")
    t0 = time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    npz = run_dir / f"seed{seed}.npz"
    _save_npz(npz, arrays)
    record = {
        "schema": SCHEMA,
        "run_key": run_key,
        "task": {
            "name": task.name,
            "version": getattr(task, "version", None),
            "task_type": tt,
            "metric": primary,
            "labels": _jsonable(list(task.labels)) if getattr(task, "labels", None) is not None else None,
        },
        "entry": {**entry._asdict(), "model_hash": model_hash},
        "seed": seed,
        "config": _jsonable(config),
        "versions": package_versions(),
        "data": data.hashes,
        "audit": {"verdict": data.audit.verdict, "fail_on": bench_cfg.fail_on, "file": "../../audit.json"},
        "params": {"total": int(n_params), "trainable": int(n_trainable)},
        "metrics": _jsonable(metrics),
        "primary_metric": primary,
        "training": _jsonable(info),
        "predictions": npz.name,
        "torch_threads": torch.get_num_threads(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    timings["write"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    record["timings"] = timings
    atomic_write_json(run_dir / f"seed{seed}.json", record)  # last: its presence marks the run complete
    return record


def _primary(task) -> str:
    m = getattr(task, "metric", None)
    return m or PRIMARY[task.task_type]


# --- the summary over seeds, with paired tests --------------------------------------------------


def _metric_kernel(task_type: str, y_true, y_pred, y_score, labels, metric: str):
    """``W (B, n) -> (B,)``: ``metric`` under bootstrap weights, with the vectorised kernels of
    :mod:`genolm.bench.metrics` (the code that makes its point estimates)."""
    from genolm.bench import metrics as M

    prep = M._prepare(task_type, y_true, y_pred, y_score, labels)
    want = M._want(prep, [metric])
    return lambda W: M._batched(prep, W, want)[metric]


def _bootstrap_draws(kernels, seq_index: np.ndarray | None, n_boot: int, seed: int, n: int | None = None):
    """Yield, per chunk of resamples, the kernels' values averaged (one draw per resample).

    Rows are resampled with replacement; with ``seq_index`` whole sequences are (every nucleotide
    of a drawn sequence counts once per draw), so correlated positions do not shrink the interval.
    The same ``seed`` gives the same resamples, which is what makes two entries' draws *paired*.
    """
    rng = np.random.default_rng(seed)
    units = int(seq_index.max()) + 1 if seq_index is not None else int(n)
    rows = len(seq_index) if seq_index is not None else int(n)
    chunk = max(1, min(n_boot, 2_000_000 // max(rows, 1)))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        idx = rng.integers(0, units, size=(b, units)) + (np.arange(b) * units)[:, None]
        counts = np.bincount(idx.ravel(), minlength=b * units).reshape(b, units).astype(np.float64)
        W = counts[:, seq_index] if seq_index is not None else counts
        yield np.mean([k(W) for k in kernels], axis=0)
        done += b


def _read_runs(out_dir: Path) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {}
    for p in sorted((out_dir / "runs").glob("*/*/*/seed*.json")):
        try:
            rec = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if rec.get("schema") != SCHEMA:
            continue
        rec["_path"] = str(p)
        runs.setdefault(rec["task"]["name"], []).append(rec)
    return runs


def _percentile(d: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    ok = d[np.isfinite(d)]
    if not ok.size:
        return math.nan, math.nan
    lo, hi = np.quantile(ok, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def _paired(da: np.ndarray, db: np.ndarray, est_a: float, est_b: float) -> dict:
    d = da - db
    lo, hi = _percentile(d)
    ok = d[np.isfinite(d)]
    p = math.nan
    if ok.size:
        tail = min(int((ok <= 0).sum()), int((ok >= 0).sum()))
        p = min(1.0, 2.0 * (tail + 1) / (ok.size + 1))
    return {"difference": est_a - est_b, "low": lo, "high": hi, "p_value": p}


def summarise_results(out_dir: str | Path, *, n_boot: int = 1000, write: bool = True) -> dict:
    """Per task: each entry's mean +/- SD over seeds, a bootstrap 95 % CI of the seed mean, and
    paired bootstraps against the best baseline, the k-mer baseline and the random initialisation.

    Reads only the run files, so ``genolm report DIR`` can always rebuild it.
    """
    from genolm.bench.metrics import summarise_seeds

    out_dir = Path(out_dir)
    summary: dict[str, Any] = {"tasks": {}, "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    bench_meta = out_dir / "bench.json"
    if bench_meta.exists():
        summary["bench"] = json.loads(bench_meta.read_text())
    for task_dir in sorted(p for p in (out_dir / "runs").glob("*") if p.is_dir()):
        status = task_dir / "status.json"
        if status.exists():
            st = json.loads(status.read_text())
            if st.get("status") == "refused":
                summary["tasks"][st["task"]] = st
                continue
    for task_name, recs in _read_runs(out_dir).items():
        if task_name in summary["tasks"]:
            continue
        t0 = recs[0]["task"]
        tt, metric = t0["task_type"], t0["metric"]
        audit_path = Path(recs[0]["_path"]).parents[2] / "audit.json"
        audit = (
            json.loads(audit_path.read_text())
            if audit_path.exists()
            else {"verdict": recs[0]["audit"]["verdict"]}
        )
        groups: dict[tuple, list[dict]] = {}
        for r in recs:
            e = r["entry"]
            groups.setdefault((e["name"], e["kind"], e["mode"]), []).append(r)
        # the seed-averaged metric on shared bootstrap resamples, per entry
        entries, draws = [], {}
        seq_index = None
        for (name, kind, mode), rs in sorted(groups.items()):
            rs = sorted(rs, key=lambda r: r["seed"])
            kernels = []
            for r in rs:
                arr = load_predictions(Path(r["_path"]).with_name(r["predictions"]))
                mt = _metric_task_type(tt, arr.get("classes"))
                lab = (
                    t0["labels"]
                    if tt == "multilabel"
                    else (arr.get("classes") if mt != "regression" else None)
                )
                kernels.append(_metric_kernel(mt, arr["y_true"], arr["y_pred"], arr["y_score"], lab, metric))
                seq_index = arr.get("seq_index")
                n_test = len(arr["y_true"])
            draws[(name, kind, mode)] = np.concatenate(
                list(_bootstrap_draws(kernels, seq_index, n_boot, 0, n_test))
            )
            seeds = summarise_seeds([{k: v["estimate"] for k, v in r["metrics"].items() if v} for r in rs])
            prim = seeds.get(metric)
            lo, hi = _percentile(draws[(name, kind, mode)])
            fit_time = [r["timings"].get("fit", 0.0) + r["timings"].get("predict", 0.0) for r in rs]
            entries.append(
                {
                    "name": name,
                    "kind": kind,
                    "mode": mode,
                    "family": rs[0]["training"].get("family")
                    if isinstance(rs[0].get("training"), dict)
                    else None,
                    "seeds": [r["seed"] for r in rs],
                    "mean": prim.mean if prim else math.nan,
                    "sd": prim.sd if prim else math.nan,
                    "values": list(prim.values) if prim else [],
                    "ci_low": lo,
                    "ci_high": hi,
                    "metrics_mean": {k: v.mean for k, v in seeds.items() if "/" not in k},
                    "time_s": float(np.mean(fit_time)),
                    "params": rs[0]["params"]["total"],
                    "trainable_params": rs[0]["params"]["trainable"],
                    "audit": audit.get("verdict"),
                    "runs": [str(Path(r["_path"]).relative_to(out_dir)) for r in rs],
                }
            )
        baselines = [e for e in entries if e["kind"] == "baseline" and math.isfinite(e["mean"])]
        best = max(baselines, key=lambda e: e["mean"]) if baselines else None
        kmer = next((e for e in baselines if e["name"] in (KMER, WINDOW_LR)), None)
        key = {(e["name"], e["kind"], e["mode"]): e for e in entries}
        for e in entries:
            me = (e["name"], e["kind"], e["mode"])
            if e["kind"] != "baseline":
                for label, other in (("vs_best_baseline", best), ("vs_kmer", kmer)):
                    if other is not None:
                        ok = (other["name"], other["kind"], other["mode"])
                        e[label] = {
                            "baseline": other["name"],
                            **_paired(draws[me], draws[ok], e["mean"], other["mean"]),
                        }
            if e["kind"] == "model":
                ri = key.get((e["name"], "random-init", e["mode"]))
                if ri is not None:
                    ok = (ri["name"], ri["kind"], ri["mode"])
                    e["vs_random_init"] = _paired(draws[me], draws[ok], e["mean"], ri["mean"])
        entries.sort(key=lambda e: -e["mean"] if math.isfinite(e["mean"]) else math.inf)
        summary["tasks"][task_name] = {
            "task": task_name,
            "status": "scored",
            "task_type": tt,
            "metric": metric,
            "version": t0.get("version"),
            "labels": t0.get("labels"),
            "audit": audit.get("verdict"),
            "audit_checks": [
                {k: c.get(k) for k in ("name", "splits", "status", "value", "message")}
                for c in audit.get("checks", [])
                if c.get("status") in ("WARN", "FAIL")
            ],
            "fail_on": recs[0]["audit"].get("fail_on"),
            "n_test": recs[0]["data"]["test"]["n"],
            "data": recs[0]["data"],
            "best_baseline": best["name"] if best else None,
            "entries": entries,
        }
    summary = _jsonable(summary)
    if write:
        atomic_write_json(out_dir / "summary.json", summary)
    return summary


# --- the bench --------------------------------------------------------------------------------


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


def _finetune_config(overrides: dict, mode: str, progress: bool) -> FinetuneConfig:
    from genolm import config as C

    shared = {k: v for k, v in (overrides or {}).items() if k not in MODES}
    per_mode = (overrides or {}).get(mode) or {}
    cfg = C.from_dict(FinetuneConfig, {**shared, **per_mode, "mode": mode}, source="finetune")
    if not progress:
        cfg.progress = False
    return cfg


def _entries(cfg: BenchConfig, task_type: str, names: dict[str, str]) -> list[Entry]:
    out = []
    if cfg.baselines:
        for b in baseline_estimators(task_type, 0, cfg.cnn):
            out.append(Entry(b, "baseline", "-", None, deterministic=b in (KMER, WINDOW_LR)))
    for ref in cfg.models:
        for mode in cfg.modes:
            # a logistic-regression probe on a fixed (pretrained) backbone has nothing random in it
            fixed = mode == "probe" and _finetune_config(cfg.finetune, mode, False).probe == "logreg"
            out.append(Entry(names[ref], "model", mode, ref, deterministic=fixed))
            if cfg.random_init:
                out.append(Entry(names[ref], "random-init", mode, ref))
    return out


def run_bench(
    models: Sequence[str] = ("genolm-tiny",),
    tasks: Sequence[Any] = (),
    modes: Sequence[str] = ("probe", "full"),
    seeds: int = 3,
    out_dir: str | Path = "genolm-bench",
    **options,
) -> BenchResult:
    """Benchmark ``models`` on ``tasks`` (task objects, names or YAML paths; ``suite=`` adds a
    suite; none at all means the ``mini`` suite).  ``options`` are the other :class:`BenchConfig`
    fields (``fail_on``, ``baselines``, ``random_init``, ``finetune``, ``cnn``, ``n_boot``,
    ``threads``, ``report``, ``progress``).  See the module docstring for what is written.
    """
    import torch

    task_objs = [t for t in tasks if hasattr(t, "load_splits")]
    task_refs = [str(t) for t in tasks if not hasattr(t, "load_splits")]
    cfg = BenchConfig(
        models=list(models),
        tasks=task_refs,
        modes=list(modes),
        seeds=int(seeds),
        out_dir=str(out_dir),
        **options,
    )
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    T: dict[str, float] = dict.fromkeys(
        ("load_splits", "audit", "model", "metrics", "write", "summary", "report"), 0.0
    )
    t_bench = time.perf_counter()
    if task_refs or cfg.suite or not task_objs:  # nothing at all: the mini suite
        task_objs = task_objs + resolve_tasks(task_refs, cfg.suite)
    names: dict[str, str] = {}
    model_hash: dict[str, str] = {}
    for ref in cfg.models:
        entry_, folder, _ = resolve(ref)
        name = display_name(entry_, folder)
        if name in names.values():
            name = f"{name}#{len(names)}"
        names[ref] = name
        model_hash[ref] = _files_sha256(folder)
    ft_cfgs = {m: _finetune_config(cfg.finetune, m, cfg.progress) for m in cfg.modes}
    cache_dir = str(out / "cache" / "embeddings")
    for c in ft_cfgs.values():
        if c.cache_dir is None:
            c.cache_dir = cache_dir
    atomic_write_json(
        out / "bench.json", _jsonable({**dataclasses.asdict(cfg), "tasks_run": [t.name for t in task_objs]})
    )

    old_threads = torch.get_num_threads()
    from threadpoolctl import threadpool_limits

    n_threads = cfg.threads or auto_threads()
    torch.set_num_threads(n_threads)
    blas = threadpool_limits(limits=n_threads)  # numpy / scikit-learn BLAS: the same rule as torch
    say = _printer(cfg.progress)
    refused, ran, skipped = [], 0, 0
    bar = None
    try:
        plan = []
        for task in task_objs:
            try:
                data, refuse = prepare_task(
                    task, fail_on=cfg.fail_on, val_fraction=ft_cfgs[cfg.modes[0]].val_fraction
                )
            except GenolmError as e:
                if isinstance(e, InputError) and str(e).startswith(f"task '{task.name}'"):
                    raise
                raise InputError(f"task '{task.name}': {e}") from e
            T["load_splits"] += data.timings["load_splits"]
            t1 = time.perf_counter()
            task_dir = out / "runs" / _slug(task.name)
            task_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(task_dir / "audit.json", _jsonable(data.audit.to_dict()))
            T["audit"] += data.timings["audit"] + time.perf_counter() - t1
            verdict = data.audit.verdict
            if refuse:
                bad = "; ".join(
                    f"{c.name} {c.splits} ({c.status}: {c.message})"
                    for c in data.audit.checks
                    if c.status in ("WARN", "FAIL")
                )
                atomic_write_json(
                    task_dir / "status.json",
                    {
                        "task": task.name,
                        "status": "refused",
                        "audit": verdict,
                        "fail_on": cfg.fail_on,
                        "reason": bad,
                    },
                )
                refused.append((task.name, verdict))
                say(
                    f"[{task.name}] leak audit {verdict} reaches --fail-on {cfg.fail_on}: NOT SCORED ({bad}). "
                    "Fix the splits, or pass --fail-on never to score anyway with the verdict shown beside every score."
                )
                continue
            (task_dir / "status.json").unlink(missing_ok=True)
            say(
                f"[{task.name}] leak audit: {verdict}"
                + (
                    ""
                    if verdict == "PASS"
                    else " (scored under --fail-on never/warn; shown beside every score)"
                )
            )
            for entry in _entries(cfg, task.task_type, names):
                for seed in [0] if entry.deterministic else range(cfg.seeds_for(entry.mode)):
                    plan.append((task, data, entry, seed, task_dir))
        if cfg.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(plan), desc="bench", unit="run", dynamic_ncols=True)
        for task, data, entry, seed, task_dir in plan:
            ft = ft_cfgs.get(entry.mode)
            run_dir = task_dir / entry.dirname / (entry.mode if entry.mode != "-" else "baseline")
            key_src = {
                "entry": entry._asdict(),
                "seed": seed,
                "data": data.hashes,
                "model_hash": model_hash.get(entry.model_ref),
                "config": {
                    k: v for k, v in dataclasses.asdict(ft).items() if k not in ("progress", "cache_dir")
                }
                if ft and entry.kind != "baseline"
                else cfg.cnn,
                "n_boot": cfg.n_boot,
            }
            run_key = _key(key_src)
            done = run_dir / f"seed{seed}.json"
            if done.exists():
                try:
                    if json.loads(done.read_text()).get("run_key") == run_key:
                        skipped += 1
                        if bar is not None:
                            bar.update(1)
                        continue
                except (OSError, json.JSONDecodeError):
                    pass  # a damaged record is rerun
            if bar is not None:
                bar.set_description(f"{task.name} {entry.name} {entry.mode} s{seed}")
            rec = _run_one(
                entry,
                seed,
                task,
                data,
                cfg,
                ft if entry.kind != "baseline" else None,
                run_dir,
                run_key,
                model_hash.get(entry.model_ref),
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
                f"[{task.name}] {entry.name} ({entry.kind}, {entry.mode}) seed {seed}: "
                f"{rec['primary_metric']} {_fmt(m['estimate'])} [{_fmt(m['low'])}, {_fmt(m['high'])}] "
                f"in {tm.get('fit', 0) + tm.get('predict', 0):.1f}s  (leak audit {data.audit.verdict})"
            )
        if bar is not None:
            bar.close()
            bar = None
        t0 = time.perf_counter()
        summary = summarise_results(out, n_boot=cfg.n_boot)
        T["summary"] = time.perf_counter() - t0
        if cfg.report:
            from genolm.bench.report import write_report

            t0 = time.perf_counter()
            write_report(out, summary=summary)
            T["report"] = time.perf_counter() - t0
    finally:
        if bar is not None:
            bar.close()
        torch.set_num_threads(old_threads)
        blas.restore_original_limits()
    T["total"] = time.perf_counter() - t_bench
    T["overhead"] = T["total"] - T["model"]
    atomic_write_json(out / "timings.json", {**T, "runs_ran": ran, "runs_skipped": skipped})
    return BenchResult(out, summary, refused, ran, skipped, T)


def auto_threads() -> int:
    """CPU threads for torch and BLAS: the idle cores (cores minus the 1-minute load average), at
    least 1.

    Never oversubscribe: OpenMP / OpenBLAS workers spin-wait for each other, and on a busy 2-core
    machine two threads ran a fine-tuning step 10x, and a logistic-regression probe 20x, slower
    than one did.
    """
    import os

    import torch

    cores = torch.get_num_threads()
    try:
        busy = os.getloadavg()[0]
    except (OSError, AttributeError):  # not on every platform
        return cores
    return max(1, min(cores, int((os.cpu_count() or cores) - busy + 0.5)))


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


def bench_config(
    path: str | Path | None = None, overrides: dict | None = None, *, profile: str | None = None
) -> BenchConfig:
    """A :class:`BenchConfig` from a profile, then a YAML file, then ``overrides`` (CLI flags).

    ``profile`` (:data:`PROFILES`) defaults to ``"quick"`` when no model is named (the bundled
    genolm-tiny) and ``"standard"`` otherwise.  ``seeds`` given without ``mode_seeds`` applies to
    every mode; ``finetune`` keys given in ``overrides`` apply to every mode, over the profile's.
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
    if profile is None:
        profile = "standard" if (over.get("models") or file_data.get("models")) else "quick"
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
        data.update(layer)
    cfg = C.from_dict(BenchConfig, data, source=str(path) if path else "bench config")
    for m in cfg.modes:  # check the fine-tuning keys now, not after an hour of baselines
        _finetune_config(cfg.finetune, m, False)
    return cfg


def bench(cfg: BenchConfig) -> BenchResult:
    """Run the bench described by ``cfg`` (what ``genolm bench`` calls)."""
    d = dataclasses.asdict(cfg)
    models, tasks, modes, seeds, out_dir = (
        d.pop(k) for k in ("models", "tasks", "modes", "seeds", "out_dir")
    )
    return run_bench(models, tasks, modes, seeds, out_dir, **d)
