"""Compress a fine-tuned classifier for the edge: int8 teacher, distilled student, trade-off report.

``compress(model, task, out, config) -> CompressReport`` takes a sequence-classification model
(a folder written by ``save_pretrained``, e.g. a fine-tuned bench model) and the task it was
fine-tuned on, and builds, in ``out``:

- ``teacher.fp32.onnx`` / ``teacher.int8.onnx``: the teacher as ONNX bundles, int8 by onnxruntime's
  static quantization calibrated on train windows (default), or dynamic quantization;
- ``student.s{seed}.fp32.onnx`` / ``.int8.onnx``: a small dilated CNN (genolm's ``gpn`` family,
  at most ``student_params`` parameters) distilled from the teacher's logits on the train split
  (KL at temperature ``temperature`` + ``alpha`` x hard-label cross-entropy), optionally on extra
  unlabeled windows from a genome (KL only), early stopping on the valid split; one per seed;
- ``compress.md`` / ``compress.json`` / ``tradeoff.png`` / ``tradeoff.svg``: test MCC with
  bootstrap CIs (students: mean over seeds; the teacher is fixed), size on disk, p50 / p95
  single-thread latency, batch-64 throughput and peak RSS of each variant (each measured in a fresh
  subprocess by :mod:`genolm.measure`, onnxruntime only), the Pareto front and the int8 kernel path.

Every variant is measured as an ONNX bundle with onnxruntime, so "teacher fp32" is the exported
fp32 graph (parity with PyTorch is checked at export).  int8 is onnxruntime's (static QDQ by
default); with ``torch_int8`` the teacher's PyTorch path is also quantized by torchao and timed
(:func:`torch_int8_variant`; see docs/compress.md).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from genolm.errors import ConfigError, InputError
from genolm.registry import check_choice

log = logging.getLogger(__name__)

VARIANTS = ("teacher fp32", "teacher int8", "student fp32", "student int8")


@dataclass
class CompressConfig:
    """How ``genolm compress`` builds and measures the variants.  ``--flags`` are these field names."""

    student_params: int = 500_000  # the student's size cap (parameters)
    student_layers: int = 6
    #: the student's strided stem (genolm gpn ``stem_stride``): 4 runs the dilated stack at a
    #: quarter of the positions (measured ~8x the throughput of stride 1 at 32 channels, 1 thread)
    student_stem_stride: int = 4
    temperature: float = 2.0  # distillation temperature
    #: feature distillation: weight of the MSE between a learned linear projection of the
    #: student's pooled hidden state and the teacher's pooled hidden state (standardised); 0 = off
    feature_weight: float = 0.0
    alpha: float = 0.5  # weight of the hard-label cross-entropy (labelled rows); 1 - alpha: KL
    max_epochs: int = 20
    patience: int = 3  # early stopping: epochs without a better valid loss
    batch_size: int = 64
    lr: float = 2e-3
    seeds: int = 3  # student seeds
    #: static (default: QDQ, calibrated on train windows; runs as QLinearConv, faster than fp32 on
    #: the CPUs measured) | dynamic (ConvInteger: slower than fp32 for conv graphs there)
    int8: str = "static"
    n_calibration: int = 64
    #: also quantize the teacher's PyTorch path with torchao (int8 dynamic activations, int8
    #: weights, Linear layers) and time it against the fp32 PyTorch teacher; needs genolm[compress]
    torch_int8: bool = False
    unlabeled_genome: str | None = None  # FASTA: extra distillation windows (teacher labels only)
    n_unlabeled: int = 2000
    n_boot: int = 1000
    n_latency: int = 200
    progress: bool = True

    def __post_init__(self):
        check_choice("int8", self.int8, ("dynamic", "static"))
        if self.student_params < 1000:
            raise ConfigError(f"student_params must be >= 1000, got {self.student_params}")
        if self.student_stem_stride < 1:
            raise ConfigError(f"student_stem_stride must be >= 1, got {self.student_stem_stride}")
        if self.feature_weight < 0:
            raise ConfigError(f"feature_weight must be >= 0, got {self.feature_weight}")
        if self.seeds < 1 or self.max_epochs < 1 or self.patience < 1 or self.batch_size < 1:
            raise ConfigError("seeds, max_epochs, patience and batch_size must be positive")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be positive, got {self.temperature}")
        if self.int8 == "static" and self.n_calibration < 1:
            raise ConfigError(
                "static int8 quantization needs calibration windows: set n_calibration >= 1 "
                "(--n-calibration), or use --int8 dynamic"
            )


class CompressReport(NamedTuple):
    """What :func:`compress` wrote: the report files and the per-variant rows."""

    out: Path
    rows: list[dict]
    student_bundle: Path  # seed 0's int8 student
    history: list[list[dict]]  # per seed, per epoch: train / valid loss


# --- the student ------------------------------------------------------------------------------


def build_student(
    tokenizer, num_labels: int, max_params: int, *, layers: int = 6, seed: int = 0, stem_stride: int = 1
):
    """The widest ``gpn`` classifier of ``layers`` layers (and ``stem_stride``) with at most
    ``max_params`` parameters."""
    import torch

    from genolm.models import build_model

    best = None
    for hidden in range(16, 1025, 16):
        torch.manual_seed(seed)
        m = build_model(
            "gpn", "sequence-classification", tokenizer=tokenizer,
            hidden_size=hidden, num_hidden_layers=layers, num_labels=num_labels, stem_stride=stem_stride,
        )  # fmt: skip
        if sum(p.numel() for p in m.parameters()) > max_params:
            break
        best = m
    if best is None:
        raise ConfigError(f"no {layers}-layer student fits {max_params} parameters; raise student_params")
    return best


def distillation_loss(
    student_logits, teacher_logits, labels, *, temperature: float = 2.0, alpha: float = 0.5
):
    """``(1 - alpha) * T^2 * KL(teacher_T || student_T) + alpha * CE(student, labels)``.

    ``labels`` is ``-100`` for unlabeled rows (KL only).  Logits ``(B, C)``; returns a scalar."""
    import torch.nn.functional as F

    T = temperature
    kl = F.kl_div(
        F.log_softmax(student_logits / T, -1), F.log_softmax(teacher_logits / T, -1),
        reduction="batchmean", log_target=True,
    ) * (T * T)  # fmt: skip
    if alpha == 0 or bool((labels < 0).all()):
        return kl
    ce = F.cross_entropy(student_logits, labels, ignore_index=-100)
    return (1 - alpha) * kl + alpha * ce


def _encode(tokenizer, seqs):
    import torch

    enc = tokenizer(list(seqs), padding="longest")
    return torch.tensor(enc["input_ids"]), torch.tensor(enc["attention_mask"])


def pooled_and_logits(model, input_ids, attention_mask):
    """``(pooled (B, H), logits (B, C))`` of a genolm sequence classifier in one forward: the
    pooled hidden state its head reads (feature distillation).  Other models are refused."""
    need = ("model", "_pool", "classifier", "dropout")
    if not all(hasattr(model, a) for a in need):
        raise ConfigError(
            f"feature distillation needs a genolm sequence classifier (it reads the pooled hidden state); "
            f"{type(model).__name__} is not one: set feature_weight=0 (--feature-weight 0)"
        )
    h = model.model(input_ids, attention_mask=attention_mask).last_hidden_state
    pooled = model._pool(h, attention_mask, model.config.classifier_pooling)
    return pooled, model.classifier(model.dropout(pooled))


def model_logits(
    model, tokenizer, seqs, *, batch_size: int = 64, progress: bool = False, desc="teacher", features=False
):
    """Logits ``(n, C)`` of a sequence classifier on ``seqs`` (fp32, eval mode, CPU); with
    ``features``, ``(logits, pooled hidden states (n, H))``."""
    import torch

    from genolm.progress import progress_bar

    was = model.training
    model.eval()
    out, feats = [], []
    bar = progress_bar(len(seqs), f"{desc} logits", unit="seq", enabled=progress)
    with torch.no_grad():
        for i in range(0, len(seqs), batch_size):
            ids, mask = _encode(tokenizer, seqs[i : i + batch_size])
            if features:
                f, lg = pooled_and_logits(model, ids, mask)
                feats.append(f.float())
            else:
                lg = model(input_ids=ids, attention_mask=mask).logits
            out.append(lg.float())
            if bar:
                bar.update(len(ids))
    if bar:
        bar.close()
    model.train(was)
    logits = torch.cat(out).numpy()
    return (logits, torch.cat(feats).numpy()) if features else logits


def distill(student, tokenizer, train, valid, cfg: CompressConfig, *, seed: int = 0):
    """Train ``student`` (in place) on ``train = (seqs, teacher_logits, labels[, teacher_features])``;
    early stopping on the valid distillation loss.  Returns ``(student, history)``, history =
    per-epoch losses.

    With ``cfg.feature_weight > 0`` (and teacher features, the teacher's pooled hidden states, as
    ``train[3]`` / ``valid[3]``), the loss adds ``feature_weight x MSE(P(student pooled), teacher
    pooled)``, P a linear projection learnt alongside (dropped afterwards), the teacher features
    standardised with the train mean and SD."""
    import torch

    from genolm.progress import progress_bar

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    ids, mask = _encode(tokenizer, train[0])
    t_log, y = torch.from_numpy(np.asarray(train[1], np.float32)), torch.as_tensor(train[2]).long()
    v_ids, v_mask = _encode(tokenizer, valid[0])
    v_log, v_y = torch.from_numpy(np.asarray(valid[1], np.float32)), torch.as_tensor(valid[2]).long()
    fw = float(cfg.feature_weight)
    proj = t_feat = v_feat = None
    params = list(student.parameters())
    if fw > 0:
        if len(train) < 4 or len(valid) < 4:
            raise ConfigError("feature distillation (feature_weight > 0) needs the teacher's pooled features")
        tf = np.asarray(train[3], np.float32)
        mu, sd = tf.mean(0), tf.std(0) + 1e-6
        t_feat = torch.from_numpy((tf - mu) / sd)
        v_feat = torch.from_numpy((np.asarray(valid[3], np.float32) - mu) / sd)
        proj = torch.nn.Linear(int(student.config.hidden_size), t_feat.shape[1])
        params += list(proj.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01)
    history, best, best_state, bad = [], math.inf, None, 0
    kw = {"temperature": cfg.temperature, "alpha": cfg.alpha}

    def _loss(b_ids, b_mask, b_log, b_y, b_feat):
        if proj is None:
            return distillation_loss(student(input_ids=b_ids, attention_mask=b_mask).logits, b_log, b_y, **kw)
        pooled, logits = pooled_and_logits(student, b_ids, b_mask)
        feat = torch.nn.functional.mse_loss(proj(pooled), b_feat)
        return distillation_loss(logits, b_log, b_y, **kw) + fw * feat

    for epoch in range(cfg.max_epochs):
        student.train()
        order = torch.randperm(len(ids), generator=gen)
        bar = progress_bar(
            len(ids), f"distil seed {seed} epoch {epoch + 1}", unit="seq", enabled=cfg.progress
        )
        total = 0.0
        for i in range(0, len(ids), cfg.batch_size):
            b = order[i : i + cfg.batch_size]
            loss = _loss(ids[b], mask[b], t_log[b], y[b], None if t_feat is None else t_feat[b])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            total += float(loss.detach()) * len(b)
            if bar:
                bar.update(len(b))
        if bar:
            bar.close()
        student.eval()
        with torch.no_grad():
            vl = [
                float(_loss(
                    v_ids[j : j + 256], v_mask[j : j + 256], v_log[j : j + 256], v_y[j : j + 256],
                    None if v_feat is None else v_feat[j : j + 256],
                )) * len(v_ids[j : j + 256])
                for j in range(0, len(v_ids), 256)
            ]  # fmt: skip
        history.append(
            {"epoch": epoch + 1, "train_loss": total / len(ids), "valid_loss": sum(vl) / len(v_ids)}
        )
        log.info("seed %d epoch %d: %s", seed, epoch + 1, history[-1])
        if history[-1]["valid_loss"] < best - 1e-6:
            best, bad = history[-1]["valid_loss"], 0
            best_state = {k: v.detach().clone() for k, v in student.state_dict().items()}
        else:
            bad += 1
            if bad >= cfg.patience:
                break
    if best_state is not None:
        student.load_state_dict(best_state)
    return student.eval(), history


def torchao_int8(model):
    """A copy of ``model`` whose ``nn.Linear`` layers torchao quantizes to int8 weights with int8
    dynamic activations (``Int8DynamicActivationInt8WeightConfig``); convolutions stay fp32.
    Needs ``torchao`` (``pip install genolm[compress]``)."""
    import copy

    try:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    except ImportError as e:
        raise ConfigError(
            f"--torch-int8 needs torchao ({e}): pip install 'genolm[compress]' (or torchao), or drop --torch-int8"
        ) from e
    q = copy.deepcopy(model).eval()
    quantize_(q, Int8DynamicActivationInt8WeightConfig())
    return q


def _time_torch(model, tokenizer, seqs, *, n_latency: int, batch: int = 64):
    """``(timings, logits)`` of a PyTorch classifier, 1 thread: batch-``batch`` throughput over
    ``seqs`` and batch-1 p50 / p95 latency over the first ``n_latency``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            ids0, m0 = _encode(tokenizer, seqs[:1])
            model(input_ids=ids0, attention_mask=m0)  # warm-up
            out, t = [], time.perf_counter()
            for i in range(0, len(seqs), batch):
                ids, mask = _encode(tokenizer, seqs[i : i + batch])
                out.append(model(input_ids=ids, attention_mask=mask).logits.float())
            thr = len(seqs) / (time.perf_counter() - t)
            lat = []
            for sq in seqs[:n_latency]:
                ids, mask = _encode(tokenizer, [sq])
                t = time.perf_counter()
                model(input_ids=ids, attention_mask=mask)
                lat.append((time.perf_counter() - t) * 1e3)
    finally:
        torch.set_num_threads(threads)
    timings = {
        "throughput_seq_s": thr,
        "p50_ms": float(np.percentile(lat, 50)),
        "p95_ms": float(np.percentile(lat, 95)),
    }
    return timings, torch.cat(out).numpy()


def torch_int8_variant(teacher, tokenizer, seqs, labels, task_type: str, cfg: CompressConfig) -> dict:
    """The teacher's PyTorch path, fp32 vs torchao int8 (:func:`torchao_int8`): speed, test MCC and
    agreement, timed in this process (1 thread)."""
    import torch
    import torchao

    from genolm.bench.metrics import bootstrap_ci

    q = torchao_int8(teacher)
    n_lat = min(cfg.n_latency, 30)
    t32, l32 = _time_torch(teacher, tokenizer, seqs, n_latency=n_lat)
    t8, l8 = _time_torch(q, tokenizer, seqs, n_latency=n_lat)

    def _mcc(lg):
        p = torch.softmax(torch.from_numpy(lg), -1).numpy()
        sc = p[:, 1] if p.shape[1] == 2 else p
        ci = bootstrap_ci(task_type, labels, y_score=sc, metrics=["mcc"], n_boot=cfg.n_boot, seed=0)["mcc"]
        return {"mcc": ci.estimate, "ci": [ci.low, ci.high]}

    n_linear = sum(isinstance(m, torch.nn.Linear) for m in teacher.modules())
    return {
        "library": f"torchao {torchao.__version__}",
        "config": "Int8DynamicActivationInt8WeightConfig on every nn.Linear "
        f"({n_linear} layers; convolutions stay fp32)",
        "fp32": {**t32, **_mcc(l32)},
        "int8": {**t8, **_mcc(l8)},
        "speedup": t8["throughput_seq_s"] / t32["throughput_seq_s"],
        "agreement": float((l8.argmax(1) == l32.argmax(1)).mean()),
        "max_abs_diff": float(np.abs(l8 - l32).max()),
        "measurement": "in the compress process, torch 1 thread, batch 64 throughput over the test set, "
        f"batch-1 latency over the first {n_lat} test sequences",
    }


# --- inputs -----------------------------------------------------------------------------------


def load_teacher(path: str | os.PathLike):
    """``(model, tokenizer)`` of a sequence-classification folder; anything else is refused."""
    from genolm.export import load_for_export, model_kind

    p = Path(path)
    if not p.exists():
        raise InputError("no such model folder; give a folder written by save_pretrained", path=str(p))
    model, tok = load_for_export(str(p))
    if model_kind(model) != "sequence-classification":
        raise ConfigError(
            f"'{p}' is a {type(model).__name__}, not a sequence classifier: `genolm compress` needs a "
            "fine-tuned classifier (AutoModelForSequenceClassification folder, e.g. a bench model saved "
            "with save_pretrained)"
        )
    return model.eval(), tok


def _task_splits(task):
    from genolm.bench.finetune import carve_validation
    from genolm.bench.tasks import load_task

    if task is None or task == "":
        raise ConfigError("no task given: `genolm compress MODEL --task T` (a task name or YAML path)")
    t = load_task(task) if isinstance(task, (str, os.PathLike)) else task
    if t.task_type not in ("binary", "multiclass"):
        raise ConfigError(f"task '{t.name}' is {t.task_type}; compress handles binary and multiclass tasks")
    sp = t.load_splits()
    tr = sp["train"]
    s_tr, y_tr = list(tr.sequences), np.asarray(tr.labels)
    if "valid" in sp:
        s_va, y_va = list(sp["valid"].sequences), np.asarray(sp["valid"].labels)
    else:
        a, b = carve_validation(y_tr, 0.1, seed=0, task_type=t.task_type)
        s_va, y_va = [s_tr[i] for i in b], y_tr[b]
        s_tr, y_tr = [s_tr[i] for i in a], y_tr[a]
    te = sp["test"]
    return t, (s_tr, y_tr), (s_va, y_va), (list(te.sequences), np.asarray(te.labels))


def genome_windows(fasta: str | os.PathLike, length: int, n: int, *, seed: int = 0) -> list[str]:
    """``n`` random windows of ``length`` bp (no N) from the records of ``fasta``."""
    from genolm.io.fasta import read_fasta

    recs = [r.seq.upper() for r in read_fasta(fasta, on_duplicate="keep") if len(r.seq) >= length]
    if not recs:
        raise InputError(f"no record of at least {length} bp for unlabeled windows", path=str(fasta))
    rng = np.random.default_rng(seed)
    w = np.array([len(s) - length + 1 for s in recs], float)
    out, tries = [], 0
    while len(out) < n and tries < 20 * n:
        tries += 1
        r = rng.choice(len(recs), p=w / w.sum())
        s = int(rng.integers(0, len(recs[r]) - length + 1))
        win = recs[r][s : s + length]
        if "N" not in win:
            out.append(win)
    return out


# --- measuring --------------------------------------------------------------------------------


def measure_bundle(bundle: Path, seqs_file: Path, n_latency: int) -> tuple[dict, np.ndarray]:
    """Run :mod:`genolm.measure` on ``bundle`` in a fresh subprocess: ``(timings, logits)``."""
    with tempfile.TemporaryDirectory(prefix="genolm-measure-") as tmp:
        npy = Path(tmp) / "logits.npy"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        src = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [sys.executable, "-m", "genolm.measure", str(bundle), str(seqs_file), "--logits", str(npy)]
        cmd += ["--n-latency", str(n_latency)]
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if res.returncode != 0:
            raise RuntimeError(f"measuring {bundle} failed:\n{res.stderr[-2000:]}")
        return json.loads(res.stdout.strip().splitlines()[-1]), np.load(npy)


def pareto_front(rows: list[dict]) -> list[bool]:
    """Rows not dominated in (smaller size, higher MCC, lower p50 latency)."""
    keys = [(r["size_mb"], -r["mcc"], r["p50_ms"]) for r in rows]
    out = []
    for i, a in enumerate(keys):
        dom = any(
            all(b[k] <= a[k] for k in range(3)) and any(b[k] < a[k] for k in range(3))
            for j, b in enumerate(keys)
            if j != i
        )
        out.append(not dom)
    return out


# --- the pipeline -----------------------------------------------------------------------------


def compress(model, task, out: str | os.PathLike, config: CompressConfig | None = None) -> CompressReport:
    """Build and measure the compressed variants of a fine-tuned classifier (module docstring).

    Parameters
    ----------
    model : str, path or (model, tokenizer)
        A sequence-classification folder (``save_pretrained``), or a loaded pair.
    task : str, path or Task
        The task the teacher was fine-tuned on (registry name or YAML path); binary or multiclass.
    out : path
        The folder for the bundles and the report (created; must be writable).
    config : CompressConfig, optional
    """
    from genolm.atomic import atomic_write_json, atomic_write_text, ensure_dir, jsonable
    from genolm.bench.metrics import bootstrap_ci, paired_bootstrap, summarise_seeds
    from genolm.edge import WindowPolicy
    from genolm.export import export_onnx
    from genolm.measure import INT8_OPS, cpu_kernel_info
    from genolm.tokenizers import get_tokenizer

    cfg = config or CompressConfig()
    t_start = time.perf_counter()
    teacher, t_tok = load_teacher(model) if isinstance(model, (str, os.PathLike)) else model
    t_obj, (s_tr, y_tr), (s_va, y_va), (s_te, y_te) = _task_splits(task)
    out = ensure_dir(out)
    n_labels = int(teacher.config.num_labels)
    task_type = t_obj.task_type
    labels = list(t_obj.labels) if t_obj.labels else None
    length = max(len(s) for s in s_tr + s_te)
    policy = WindowPolicy(length, length, "mean", min(len(s) for s in s_te))

    # teacher logits on everything the student learns from
    unl = []
    if cfg.unlabeled_genome:
        unl = genome_windows(cfg.unlabeled_genome, int(np.median([len(s) for s in s_tr])), cfg.n_unlabeled)
    feats = cfg.feature_weight > 0
    tl_tr = model_logits(
        teacher, t_tok, s_tr + unl, progress=cfg.progress, desc="teacher train", features=feats
    )
    tl_va = model_logits(teacher, t_tok, s_va, progress=cfg.progress, desc="teacher valid", features=feats)
    (tl_tr, tf_tr), (tl_va, tf_va) = (tl_tr, tl_va) if feats else ((tl_tr, None), (tl_va, None))
    y_tr_all = np.concatenate([np.asarray(y_tr, np.int64), np.full(len(unl), -100, np.int64)])

    calib = None
    if cfg.int8 == "static":
        rng = np.random.default_rng(0)
        calib = [s_tr[i] for i in rng.choice(len(s_tr), min(cfg.n_calibration, len(s_tr)), replace=False)]
    exports = {}
    exports["teacher fp32"] = export_onnx(
        teacher, t_tok, out / "teacher.fp32.onnx", labels=labels, window_policy=policy
    )
    exports["teacher int8"] = export_onnx(
        teacher, t_tok, out / "teacher.int8.onnx", labels=labels, window_policy=policy,
        int8=cfg.int8, calibration=calib,
    )  # fmt: skip

    s_tok = get_tokenizer("char")
    histories, student_params = [], None
    for seed in range(cfg.seeds):
        student = build_student(
            s_tok, n_labels, cfg.student_params, layers=cfg.student_layers, seed=seed,
            stem_stride=cfg.student_stem_stride,
        )  # fmt: skip
        if labels:
            student.config.id2label = dict(enumerate(labels))
            student.config.label2id = {v: k for k, v in enumerate(labels)}
        student_params = sum(p.numel() for p in student.parameters())
        tr_set, va_set = (s_tr + unl, tl_tr, y_tr_all), (s_va, tl_va, y_va)
        if feats:
            tr_set, va_set = (*tr_set, tf_tr), (*va_set, tf_va)
        student, hist = distill(student, s_tok, tr_set, va_set, cfg, seed=seed)
        histories.append(hist)
        exports[f"student fp32 s{seed}"] = export_onnx(
            student, s_tok, out / f"student.s{seed}.fp32.onnx", labels=labels, window_policy=policy
        )
        exports[f"student int8 s{seed}"] = export_onnx(
            student, s_tok, out / f"student.s{seed}.int8.onnx", labels=labels, window_policy=policy,
            int8=cfg.int8, calibration=calib,
        )  # fmt: skip

    seqs_file = out / ".test_sequences.txt"
    seqs_file.write_text("\n".join(s_te) + "\n")
    measured: dict[str, tuple[dict, np.ndarray]] = {}
    from genolm.progress import progress_bar

    bar = progress_bar(len(exports), "measure variants", unit="bundle", enabled=cfg.progress)
    for name, rep in exports.items():
        # timings on seed 0 only; the other seeds' logits come from the same measuring run
        measured[name] = measure_bundle(
            rep.path, seqs_file, cfg.n_latency if name.endswith(("fp32", "int8", "s0")) else 5
        )
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    seqs_file.unlink()
    from genolm.measure import optimized_ops

    ops = {k: optimized_ops(rep.path) for k, rep in exports.items() if k.endswith(("fp32", "int8", "s0"))}
    torch_int8 = torch_int8_variant(teacher, t_tok, s_te, y_te, task_type, cfg) if cfg.torch_int8 else None

    def _probs(logits):
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def _score(logits):
        p = _probs(logits)
        return p[:, 1] if n_labels == 2 else p

    rows = []
    t_pred = measured["teacher fp32"][1].argmax(1)
    for variant in VARIANTS:
        keys = [variant] if variant.startswith("teacher") else [f"{variant} s{s}" for s in range(cfg.seeds)]
        per_seed = []
        for k in keys:
            logits = measured[k][1]
            ci = bootstrap_ci(
                task_type, y_te, y_score=_score(logits), metrics=["mcc"], n_boot=cfg.n_boot, seed=0
            )
            per_seed.append({"mcc": ci["mcc"].estimate, "ci": ci["mcc"]})
        summ = summarise_seeds([{"mcc": p["mcc"]} for p in per_seed])["mcc"]
        timings = measured[keys[0]][0]
        logits0 = measured[keys[0]][1]
        paired = paired_bootstrap(
            task_type, y_te, score_a=_score(logits0), score_b=_score(measured["teacher fp32"][1]),
            metric="mcc", n_boot=cfg.n_boot, seed=0,
        )  # fmt: skip
        rep = exports[keys[0]]
        rows.append(
            {
                "variant": variant,
                "bundle": rep.path.name,
                "params": int(sum(p.numel() for p in teacher.parameters())) if variant.startswith("teacher") else student_params,
                "size_mb": rep.size_bytes / 1e6,
                "mcc": summ.mean,
                "mcc_sd": summ.sd,
                "mcc_seeds": [p["mcc"] for p in per_seed],
                "mcc_ci": [[p["ci"].low, p["ci"].high] for p in per_seed],
                "n_seeds": len(keys),
                "vs_teacher_fp32": {"difference": paired.difference, "low": paired.low, "high": paired.high,
                                    "p_value": paired.p_value, "seed": 0},
                "agreement_with_teacher_fp32": float((logits0.argmax(1) == t_pred).mean()),
                "quantization": rep.quantization,
                "int8_format": rep.metadata.get("genolm.int8_format", ""),
                "ops_as_run": {o: c for o, c in ops[keys[0]].items() if o in INT8_OPS or o in ("Conv", "MatMul", "Gemm")},
                "max_abs_diff_vs_torch": rep.max_abs_diff_real,
                "max_abs_diff_int8": rep.max_abs_diff_int8,
                **{k: timings[k] for k in ("p50_ms", "p95_ms", "throughput_seq_s", "peak_rss_mb", "load_s")},
            }
        )  # fmt: skip
    front = pareto_front(rows)
    for r, f in zip(rows, front):
        r["pareto"] = f
    fp32 = rows[0]
    for r in rows:
        r["speedup_vs_teacher_fp32"] = r["throughput_seq_s"] / fp32["throughput_seq_s"]
    result = {
        "task": t_obj.name,
        "task_type": task_type,
        "n": {"train": len(s_tr), "unlabeled": len(unl), "valid": len(s_va), "test": len(s_te)},
        "teacher": {"class": type(teacher).__name__, "model_type": str(getattr(teacher.config, "model_type", "")),
                    "params": rows[0]["params"], "fixed": True},
        "student": {"family": "gpn", "params": student_params, "layers": cfg.student_layers,
                    "stem_stride": cfg.student_stem_stride, "hidden_size": None, "seeds": cfg.seeds,
                    "feature_weight": cfg.feature_weight},
        "config": dataclasses.asdict(cfg),
        "rows": rows,
        "history": histories,
        "kernel": cpu_kernel_info(),
        "measurement": "each bundle in a fresh subprocess (python -m genolm.measure): onnxruntime, 1 thread; "
        "latency = one sequence at batch 1 (p50/p95 over the first n_latency test sequences); throughput = "
        "all test sequences at batch 64; peak RSS = VmHWM of that process (python + numpy + onnxruntime "
        "+ session)",
        "pytorch_quantization": torch_int8 or "not run (torch_int8=False; --torch-int8 times the teacher's "
        "PyTorch path quantized by torchao)",
        "pruned_teacher": "not built (structural pruning is not implemented in this version)",
        "wall_s": time.perf_counter() - t_start,
    }  # fmt: skip
    result["student"]["hidden_size"] = int(getattr(student.config, "hidden_size", 0))
    _plot(rows, out)
    atomic_write_json(out / "compress.json", jsonable(result))
    atomic_write_text(out / "compress.md", markdown(result))
    return CompressReport(out, rows, exports["student int8 s0"].path, histories)


def _plot(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    lat = np.array([r["p50_ms"] for r in rows])
    sc = ax.scatter(
        [r["size_mb"] for r in rows], [r["mcc"] for r in rows], c=np.log10(lat), cmap="viridis",
        s=80, edgecolors=["red" if r["pareto"] else "none" for r in rows], linewidths=2, zorder=3,
    )  # fmt: skip
    for r in rows:
        ax.annotate(f"{r['variant']}\n{r['p50_ms']:.2f} ms", (r["size_mb"], r["mcc"]), fontsize=7,
                    xytext=(5, 5), textcoords="offset points")  # fmt: skip
    fr = sorted([r for r in rows if r["pareto"]], key=lambda r: r["size_mb"])
    ax.plot([r["size_mb"] for r in fr], [r["mcc"] for r in fr], "r--", lw=1, label="Pareto front", zorder=2)
    ax.set_xscale("log")
    ax.set_xlabel("size on disk (MB, log)")
    ax.set_ylabel("test MCC (students: mean over seeds)")
    fig.colorbar(sc, ax=ax, label="log10 p50 latency (ms, 1 thread)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "tradeoff.png", dpi=120)
    fig.savefig(out / "tradeoff.svg")
    plt.close(fig)


def _torch_int8_md(t) -> str:
    if not isinstance(t, dict):
        return f"PyTorch-path quantization: {t}."
    f, q = t["fp32"], t["int8"]
    return (
        f"PyTorch-path int8 ({t['library']}, {t['config']}): teacher fp32 {f['throughput_seq_s']:,.1f} seq/s, "
        f"p50 {f['p50_ms']:.1f} ms, MCC {f['mcc']:.3f}; int8 {q['throughput_seq_s']:,.1f} seq/s, p50 "
        f"{q['p50_ms']:.1f} ms, MCC {q['mcc']:.3f}; speed-up {t['speedup']:.2f}x, agreement {t['agreement']:.3f} "
        f"({t['measurement']})."
    )


def markdown(result: dict) -> str:
    """The trade-off report as Markdown."""
    k = result["kernel"]
    lines = [
        f"# Compression trade-off: {result['task']}",
        "",
        f"Teacher: {result['teacher']['class']} ({result['teacher']['params']:,} parameters; fixed, one model). "
        f"Student: genolm `gpn` dilated CNN, {result['student']['params']:,} parameters "
        f"(hidden {result['student']['hidden_size']}, {result['student']['layers']} layers, stem stride "
        f"{result['student'].get('stem_stride', 1)}, feature weight {result['student'].get('feature_weight', 0)}), "
        f"{result['student']['seeds']} seeds. Test n = {result['n']['test']:,}; train {result['n']['train']:,}"
        f" (+{result['n']['unlabeled']:,} unlabeled genome windows), valid {result['n']['valid']:,}.",
        "",
        "| variant | size (MB) | MCC [95% CI] | Δ vs teacher fp32 [CI] | agreement | p50 / p95 ms | batch-64 seq/s | speed-up | peak RSS MB | Pareto |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in result["rows"]:
        ci = r["mcc_ci"][0]
        mcc = f"{r['mcc']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
        if r["n_seeds"] > 1:
            mcc = f"{r['mcc']:.3f} ± {r['mcc_sd']:.3f} (seed 0 CI [{ci[0]:.3f}, {ci[1]:.3f}])"
        d = r["vs_teacher_fp32"]
        lines.append(
            f"| {r['variant']} | {r['size_mb']:.3f} | {mcc} | {d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] "
            f"| {r['agreement_with_teacher_fp32']:.3f} | {r['p50_ms']:.2f} / {r['p95_ms']:.2f} | "
            f"{r['throughput_seq_s']:,.0f} | {r['speedup_vs_teacher_fp32']:.1f}× | {r['peak_rss_mb']:.0f} | "
            f"{'yes' if r['pareto'] else ''} |"
        )  # fmt: skip
    ops = "; ".join(
        f"{r['variant']}: " + ", ".join(f"{o} {c}" for o, c in r.get("ops_as_run", {}).items())
        for r in result["rows"]
    )
    fmt = next((r.get("int8_format") for r in result["rows"] if r.get("int8_format")), "")
    lines += [
        "",
        f"int8 format: {fmt}. Ops as onnxruntime runs them (optimised graph): {ops}.",
        "",
        f"int8 kernel path: {k['int8_path']} (CPU flags: {', '.join(k['int8_flags']) or 'none'}; {k['cpu']}); "
        f"onnxruntime {k['onnxruntime']}, providers {', '.join(k['providers'])}.",
        "",
        f"Measurement: {result['measurement']}. Δ is a paired bootstrap (seed 0 for students). "
        f"Pruned teacher: {result['pruned_teacher']}.",
        "",
        _torch_int8_md(result["pytorch_quantization"]),
        "",
        "![trade-off](tradeoff.png)",
        "",
    ]
    return "\n".join(lines)
