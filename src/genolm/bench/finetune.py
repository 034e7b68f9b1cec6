"""Fine-tune a genomic language model on a labelled task: ``full``, ``lora`` or a frozen ``probe``.

Read top to bottom: the config, labels -> targets, the validation carve, LoRA, the training loop,
the probe, then :class:`Finetuner`, which ties them together behind the same
``fit(seqs, y, valid=...)`` / ``predict_with_scores(seqs)`` interface as the baselines in
:mod:`genolm.bench.baselines`, so the benchmark runner treats every model the same way.

Modes
    ``full``   every weight trains (backbone and head).
    ``lora``   PEFT LoRA adapters on the family's ``lora_target_modules`` plus the task head
               (``lora_modules_to_save``); everything else is frozen.  For a model that is not a
               genolm family the adapters go on every ``nn.Linear`` outside the head (modules
               named ``classifier``, ``score``, ``qa_outputs``, ``lm_head`` or ``cls``).
    ``probe``  the backbone is frozen; features (:func:`genolm.embed.embed_sequences`,
               cached on disk) feed a logistic regression (ridge for regression) or a small MLP.

Task types and labels ``y``
    ``binary`` / ``multiclass``: ``(n,)`` any labels (classes are those of the training labels);
    ``multilabel``: ``(n, L)`` in {0, 1}; ``regression``: ``(n,)`` floats (standardised for
    training); ``token_classification``: one integer array per sequence, one label per nucleotide
    (``-100`` = ignore; a ``(n, L_max)`` array padded with ``-100`` also works).  Token outputs
    are mapped to nucleotides with the tokenizer's offsets
    (:func:`genolm.models.tokens_to_nucleotides`).

Honesty rules built in
    * early stopping (and the probe's regularisation strength) use the validation split only;
      without one, ``val_fraction`` of train is carved out with :func:`carve_validation`
      (seeded by ``carve_seed``, stratified) -- the test split never enters :meth:`Finetuner.fit`;
    * a training split with one class, a label outside the training classes, or a sequence longer
      than the model context without a ``long_input`` policy raise :class:`~genolm.errors.InputError`;
    * class-balanced losses (``class_weight="balanced"``): ``n / (K n_k)`` per class,
      ``n_neg / n_pos`` per label for multilabel.

Runtime.  One process; the device comes from ``accelerate.PartialState`` (a GPU when there is one).
bf16 autocast is used where the hardware has native bf16 (``precision="auto"``,
:func:`genolm.infer.cpu_supports_bf16`).  Autocast is applied with ``torch.autocast``
directly rather than through ``Accelerator(mixed_precision=...)``: Accelerate's state is a
process-wide singleton whose precision cannot change between the runs of one benchmark.
Seeded: the same seed gives the same predictions (initialisation, data order, dropout).
A transformers ESM classifier (NT, AgroNT, ESM-2) trains with exact kernels from
:mod:`genolm.infer`: one GELU kernel per block, the eager attention path under CPU bf16, and its
last block at the ``<cls>`` row only (:func:`~genolm.infer.cls_row_last_layer`; ``last_block_``).
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from genolm.alphabet import reverse_complement
from genolm.bench.baselines import Prediction, carve_validation
from genolm.bench.knn import KNN_K, KNNHead
from genolm.catalogue.loader import MODES
from genolm.constants import IGNORE_INDEX, POOLINGS, PRECISIONS, TASK_TYPES
from genolm.embed import (
    EmbeddingCache,
    InputPolicy,
    collate,
    embed_sequences,
    encode_sequences,
    model_context,
    nucleotide_values,
    pool_windows,
)
from genolm.errors import ConfigError, InputError
from genolm.infer import adamw, cls_row_last_layer, fuse_gelu, resolve_precision, training_attention
from genolm.progress import progress_bar
from genolm.registry import check_choice

CLASSIFICATION = ("binary", "multiclass", "token_classification")
PROBES = ("logreg", "mlp")
#: module names treated as the task head by the LoRA fallback for non-genolm models
HEAD_NAMES = ("classifier", "score", "qa_outputs", "lm_head", "cls")
_DEFAULT_LR = {"full": 2e-4, "lora": 1e-3, "probe": 1e-3, "knn": 0.0}
SCHEDULES = ("linear", "cosine", "one-cycle")
BUDGET_SCHEDULES = ("fit", "fixed")


def budget_epochs(
    planned: int, done: int, epoch_s: list[float], remaining_s: float, margin: float = 0.95
) -> int:
    """How many epochs a run with ``remaining_s`` seconds of budget left can still plan for.

    ``planned`` epochs were planned, ``done`` have finished, taking ``epoch_s`` seconds each (train +
    validation).  The first epoch carries one-off costs (allocation, caches), so the plan stands
    until a second epoch is measured; then the time per epoch is the mean of the epochs after the
    first.  The answer never grows (the learning rate never climbs back) and never drops below
    ``done + 1``: ``min(planned, done + max(1, floor(margin * remaining / per epoch)))``.
    :class:`Finetuner` re-plans with it after every epoch when ``budget_schedule`` is ``fit``, so a
    run that cannot reach ``max_epochs`` in its budget anneals over the epochs it has instead of
    stopping at a high learning rate.
    """
    if len(epoch_s) < 2 or remaining_s == math.inf:
        return planned
    per = sum(epoch_s[1:]) / (len(epoch_s) - 1)
    fits = int(margin * max(0.0, remaining_s) / per) if per > 0 else planned
    return max(done + 1, min(planned, done + max(1, fits)))


def lr_factor(step: int, total: int, warm: int, schedule: str) -> float:
    """The learning-rate multiplier at optimizer ``step`` of ``total`` (``warm`` warmup steps).

    ``linear`` / ``cosine``: linear warmup to 1, then linear / cosine decay to 0.  ``one-cycle``
    (Smith's schedule, cosine form): from 0.04 up to 1 over the warmup, then down to ~0.
    """
    if schedule == "one-cycle":
        if step < warm:
            return 0.04 + 0.96 * 0.5 * (1 - math.cos(math.pi * (step + 1) / warm))
        p = (step - warm) / max(1, total - warm)
        return max(0.0, 0.5 * (1 + math.cos(math.pi * min(1.0, p))))
    if step < warm:
        return (step + 1) / warm
    p = min(1.0, (step - warm) / max(1, total - warm))
    return max(0.0, 1.0 - p) if schedule == "linear" else 0.5 * (1 + math.cos(math.pi * p))


@dataclass
class FinetuneConfig:
    """How one model is fitted to one task.  YAML keys and ``--flags`` are these field names."""

    mode: str = "full"  # full | lora | probe
    # optimisation (full, lora, and the probe's MLP)
    max_epochs: int = 10
    patience: int = 3  # early stopping: epochs without a better validation loss
    batch_size: int = 32
    lr: float | None = None  # default: full 2e-4, lora 1e-3, probe MLP 1e-3
    head_lr_scale: float = 1.0  # the task head's learning rate is this x lr
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06  # linear warmup, then `schedule` to 0 at max_epochs
    schedule: str = "linear"  # after warmup: linear | cosine decay to 0; one-cycle (cosine up, cosine down)
    label_smoothing: float = 0.0  # binary / multiclass / token classification cross entropy
    rc_augment: bool = False  # train on a random half of each batch reverse-complemented
    tta_rc: bool = False  # predict the mean of the outputs on a sequence and its reverse complement
    # stop training after this many seconds, counted from the start of fit (encoding included)
    # and keeping room for the last validation pass, so the fit ends within about one batch of
    # it; the best model by validation loss so far is kept, and the run's history and
    # ``stopped_by_budget_`` say so.  None: no budget
    time_budget_s: float | None = None
    # with a budget: fit = after each epoch, shrink the schedule's planned epochs to those the
    # measured time per epoch leaves room for (the learning rate anneals by the budget; a run whose
    # max_epochs fit 95 % of the budget at that rate trains exactly as with fixed); fixed = plan for
    # max_epochs whatever the budget
    budget_schedule: str = "fit"
    max_grad_norm: float = 1.0
    # training batches of similar length (less padding): auto = when the training sequences differ
    # in length (a fixed-length task keeps the plain shuffled batches), on, off
    length_buckets: str = "auto"
    class_weight: str = "balanced"  # balanced | none
    val_fraction: float = 0.1  # carved from train (stratified) when there is no validation split
    carve_seed: int = 0  # the carve does not depend on the training seed: every run sees the same split
    # probe
    probe: str = "logreg"  # logreg (ridge for regression) | mlp
    pooling: str = "mean"  # cls | mean | last | max (the probe's features)
    layer: int = -1
    # chosen on validation; a best C at either end of the grid warns (widen the grid)
    probe_c: list[float] = field(default_factory=lambda: [1e-3, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0])
    max_probe_nucleotides: int = 200_000
    # knn: k chosen on validation from this grid (cosine kNN over the train embeddings)
    knn_k: list[int] = field(
        default_factory=lambda: list(KNN_K)
    )  # token-classification probe: train nucleotides sampled
    # lora
    lora_r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.05
    lora_target_modules: list[str] | None = None  # default: the family's registry entry
    # long inputs (see genolm.embed)
    long_input: str = "error"  # error | window | truncate
    window_overlap: float = 0.5
    window_pooling: str = "mean"  # mean | max (of window embeddings / logits)
    max_tokens: int | None = None  # default: the model's max_position_embeddings
    # runtime
    precision: str = "auto"  # auto (bf16 where native) | bf16 | fp32
    # torch.compile the model for training (opt-in: compiling takes about a minute on a CPU and
    # pays only over long runs; see benchmarks/results/train_throughput.md)
    compile: bool = False
    eval_batch_size: int = 64
    cache_dir: str | None = None  # probe feature cache; None: no cache
    progress: bool = True

    def __post_init__(self):
        check_choice("mode", self.mode, MODES)
        check_choice("probe", self.probe, PROBES)
        check_choice("precision", self.precision, PRECISIONS)
        check_choice("class_weight", self.class_weight, ("balanced", "none"))
        check_choice("pooling", self.pooling, POOLINGS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("length_buckets", self.length_buckets, ("auto", "on", "off"))
        check_choice("budget_schedule", self.budget_schedule, BUDGET_SCHEDULES)
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ConfigError(f"time_budget_s must be positive (or unset), got {self.time_budget_s}")
        InputPolicy(None, self.long_input, self.window_overlap, self.window_pooling)  # validates
        if self.max_epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ConfigError("max_epochs, batch_size and patience must be positive")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if not self.probe_c or any(c <= 0 for c in self.probe_c):
            raise ConfigError(f"probe_c must be a non-empty list of positive numbers, got {self.probe_c}")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else _DEFAULT_LR[self.mode]

    def resolved_precision(self, device=None) -> str:
        """``fp32`` or ``bf16`` on ``device`` (:func:`genolm.infer.resolve_precision`)."""
        return resolve_precision(self.precision, device)


# --- labels -> targets ----------------------------------------------------------------------


class Targets:
    """Maps a task's labels to training targets and model outputs back to predictions.

    Learned on the training labels: ``classes_`` (classification), ``mean_`` / ``std_`` (regression),
    ``n_out_`` (model outputs per sequence or per nucleotide).
    """

    def __init__(self, task_type: str):
        check_choice("task_type", task_type, TASK_TYPES)
        self.task_type = task_type

    def fit(self, y, lengths: np.ndarray | None = None) -> Targets:
        tt = self.task_type
        if tt in ("binary", "multiclass"):
            y = np.asarray(y)
            if y.ndim != 1:
                raise InputError(f"{tt} labels must be 1-D, got shape {y.shape}")
            self.classes_ = np.unique(y)
            if len(self.classes_) < 2:
                raise InputError(
                    f"the training split holds a single class ({self.classes_[0]!r}): nothing to learn",
                    hint="check the task's label column and its split",
                )
            if tt == "binary" and len(self.classes_) != 2:
                raise InputError(
                    f"binary task with {len(self.classes_)} classes: {self.classes_[:6].tolist()}"
                )
            self.n_out_ = len(self.classes_)
        elif tt == "multilabel":
            y = np.asarray(y)
            if y.ndim != 2 or not np.isin(y, (0, 1)).all():
                raise InputError(f"multilabel labels must be a (n, L) array of 0/1, got shape {y.shape}")
            self.n_out_ = y.shape[1]
            self.pos_ = y.sum(0)
            self.n_ = len(y)
        elif tt == "regression":
            y = np.asarray(y, dtype=float)
            if y.ndim != 1 or not np.isfinite(y).all():
                raise InputError("regression labels must be 1-D and finite (NaN or inf found)")
            self.mean_, self.std_ = float(y.mean()), float(y.std()) or 1.0
            self.n_out_ = 1
        else:
            codes = self._token_arrays(y, lengths)
            flat = np.concatenate(codes) if codes else np.zeros(0, np.int64)
            self.classes_ = np.unique(flat[flat != IGNORE_INDEX])
            if len(self.classes_) < 2:
                raise InputError("the training split's nucleotide labels hold fewer than two classes")
            self.n_out_ = len(self.classes_)
        return self

    @staticmethod
    def _token_arrays(y, lengths: np.ndarray | None) -> list[np.ndarray]:
        out = []
        for i, row in enumerate(y):
            a = np.asarray(row)
            if a.dtype.kind not in "iu":
                if a.dtype.kind == "f" and np.all(a == np.round(a)):
                    a = a.astype(np.int64)
                else:
                    raise InputError(f"token labels of sequence #{i} are not integers (dtype {a.dtype})")
            a = a.astype(np.int64).reshape(-1)
            if lengths is not None:
                L = int(lengths[i])
                if len(a) > L and np.all(a[L:] == IGNORE_INDEX):
                    a = a[:L]
                if len(a) != L:
                    raise InputError(
                        f"sequence #{i} is {L} bp but has {len(a)} token labels (one per nucleotide expected)"
                    )
            out.append(a)
        return out

    def _codes(self, y: np.ndarray) -> np.ndarray:
        pos = np.clip(np.searchsorted(self.classes_, y), 0, len(self.classes_) - 1)
        bad = self.classes_[pos] != y
        if np.any(bad):
            raise InputError(
                f"label {np.asarray(y)[bad][0]!r} is not among the training classes {self.classes_.tolist()[:10]}"
            )
        return pos.astype(np.int64)

    def encode(self, y, lengths: np.ndarray | None = None):
        """Targets: ``(n,)`` int64 class codes, ``(n, L)`` float32, ``(n,)`` standardised float32,
        or (token classification) a list of ``(L_i,)`` int64 codes with ``-100`` kept."""
        tt = self.task_type
        if tt in ("binary", "multiclass"):
            return self._codes(np.asarray(y))
        if tt == "multilabel":
            return np.asarray(y, dtype=np.float32)
        if tt == "regression":
            return ((np.asarray(y, dtype=float) - self.mean_) / self.std_).astype(np.float32)
        out = []
        for a in self._token_arrays(y, lengths):
            codes = np.full(len(a), IGNORE_INDEX, dtype=np.int64)
            keep = a != IGNORE_INDEX
            codes[keep] = self._codes(a[keep])
            out.append(codes)
        return out

    def class_weights(self, t) -> np.ndarray | None:
        """Balanced loss weights from encoded training targets (None for regression)."""
        tt = self.task_type
        if tt == "regression":
            return None
        if tt == "multilabel":
            pos = t.sum(0)
            return ((len(t) - pos) / np.maximum(pos, 1)).astype(np.float32)  # pos_weight per label
        flat = np.concatenate(t) if isinstance(t, list) else np.asarray(t)
        flat = flat[flat != IGNORE_INDEX]
        counts = np.bincount(flat, minlength=self.n_out_).astype(float)
        return (len(flat) / (self.n_out_ * np.maximum(counts, 1))).astype(np.float32)

    def to_prediction(self, raw) -> Prediction:
        """Model outputs (logits; regression: standardised values) -> :class:`Prediction`.

        ``raw`` is ``(n, n_out)``, or for token classification a list of ``(L_i, n_out)``.  Scores:
        binary ``(n,)`` probability of ``classes_[1]``, multiclass ``(n, K)``, multilabel ``(n, L)``
        sigmoid, regression the value; token classification gives lists of per-nucleotide arrays.
        """
        tt = self.task_type
        if tt == "token_classification":
            preds, scores = [], []
            for r in raw:
                p = _softmax(r)
                preds.append(self.classes_[p.argmax(1)])
                scores.append(p[:, 1] if self.n_out_ == 2 else p)
            return Prediction(preds, scores)
        raw = np.asarray(raw, dtype=np.float64)
        if tt == "regression":
            v = raw[:, 0] * self.std_ + self.mean_
            return Prediction(v, v)
        if tt == "multilabel":
            p = 1.0 / (1.0 + np.exp(-raw))
            return Prediction((p >= 0.5).astype(np.int64), p)
        p = _softmax(raw)
        return Prediction(self.classes_[p.argmax(1)], p[:, 1] if tt == "binary" else p)


def _softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# --- the validation carve -------------------------------------------------------------------


#: length bucketing sorts the shuffled rows by length within pools of this many batches
BUCKET_POOL_BATCHES = 50


def epoch_batches(
    rng: np.random.Generator, lengths: np.ndarray, batch_size: int, bucket: bool
) -> list[np.ndarray]:
    """One epoch's training batches (row indices): a seeded shuffle cut into ``batch_size`` rows;
    with ``bucket``, each pool of :data:`BUCKET_POOL_BATCHES` batches of the shuffle is sorted by
    length before the cut and the batches are shuffled again, so a batch pads to a length close
    to its rows' (every row still appears once per epoch)."""
    order = rng.permutation(len(lengths))
    if not bucket:
        return [order[a : a + batch_size] for a in range(0, len(order), batch_size)]
    pool = batch_size * BUCKET_POOL_BATCHES
    batches = []
    for a in range(0, len(order), pool):
        part = order[a : a + pool]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[b : b + batch_size] for b in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _accepts(model, name: str) -> bool:
    """Whether ``model``'s forward (through PEFT wrappers) takes the keyword ``name``."""
    import inspect

    m = model
    for _ in range(4):  # PeftModel -> LoraModel -> the model
        try:
            params = inspect.signature(m.forward).parameters
        except (TypeError, ValueError):
            return True
        if name in params:
            return True
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            return False
        inner = getattr(m, "base_model", None) or getattr(m, "model", None)
        if inner is None or inner is m:
            return True
        m = inner
    return True


# --- LoRA -------------------------------------------------------------------------------------


def lora_modules(model, target_modules: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """``(target_modules, modules_to_save)`` for PEFT.

    genolm families: the registry entry's ``lora_target_modules`` / ``lora_modules_to_save`` (the
    family comes from ``config.model_type``).  Other models: every ``nn.Linear`` outside the head
    (modules named in :data:`HEAD_NAMES`), and the head is trained in full.
    """
    from torch import nn

    from genolm.models import family_of

    try:
        fam = family_of(model)
    except ConfigError:
        fam = None
    if fam is not None:
        targets, save = list(fam.lora_target_modules), list(fam.lora_modules_to_save)
    elif getattr(model, "genolm_lora_targets", None):  # a catalogue entry's published targets
        targets = list(model.genolm_lora_targets)
        save = [n for n, _ in model.named_children() if n in HEAD_NAMES]
    else:
        save = [n for n, _ in model.named_children() if n in HEAD_NAMES]
        targets = [
            n for n, m in model.named_modules() if isinstance(m, nn.Linear) and n.split(".")[0] not in save
        ]
        if not targets and not target_modules:
            raise ConfigError(
                f"{type(model).__name__} has no nn.Linear outside its head: LoRA has nothing to adapt"
            )
    if target_modules:
        targets = list(target_modules)
    return targets, save


def apply_lora(model, cfg: FinetuneConfig):
    """Wrap ``model`` in a PEFT LoRA model: adapters + head trainable, everything else frozen."""
    import warnings

    from peft import LoraConfig, get_peft_model

    targets, save = lora_modules(model, cfg.lora_target_modules)
    lcfg = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
        modules_to_save=save,
    )
    with warnings.catch_warnings():  # peft calls transformers' deprecated is_gradient_checkpointing
        warnings.simplefilter("ignore", FutureWarning)
        return get_peft_model(model, lcfg)


def count_parameters(model) -> tuple[int, int]:
    """``(total, trainable)`` parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    return total, sum(p.numel() for p in model.parameters() if p.requires_grad)


# --- the training loop (full and lora) ---------------------------------------------------------


def _loss_fn(targets: Targets, t_train, class_weight: str, device, label_smoothing: float = 0.0):
    import torch
    import torch.nn.functional as F

    w = targets.class_weights(t_train) if class_weight == "balanced" else None
    w = None if w is None else torch.tensor(w, device=device)
    tt = targets.task_type

    def loss(out, t):  # out: (B, C) logits, or (B, N, C) for token classification
        out = out.float()
        if tt in ("binary", "multiclass"):
            return F.cross_entropy(out, t, weight=w, label_smoothing=label_smoothing)
        if tt == "multilabel":
            return F.binary_cross_entropy_with_logits(out, t, pos_weight=w)
        if tt == "regression":
            return F.mse_loss(out[:, 0], t)
        return F.cross_entropy(
            out.reshape(-1, out.shape[-1]),
            t.reshape(-1),
            weight=w,
            ignore_index=IGNORE_INDEX,
            label_smoothing=label_smoothing,
        )

    return loss


def _token_targets(t_list: list[np.ndarray], idx: np.ndarray, length: int, covered):
    """Padded ``(B, length)`` codes for sequences ``idx``; uncovered nucleotides become ``-100``."""
    import torch

    out = np.full((len(idx), length), IGNORE_INDEX, dtype=np.int64)
    for r, i in enumerate(idx):
        out[r, : len(t_list[i])] = t_list[i]
    t = torch.from_numpy(out).to(covered.device)
    return t.masked_fill(covered <= 0, IGNORE_INDEX)


class _Net:
    """Runs a sequence- or token-classification head over :class:`Chunks` and pools per sequence."""

    def __init__(self, model, chunks, pad_id: int, task_type: str, window_pooling: str, device):
        self.model, self.chunks, self.pad_id = model, chunks, pad_id
        self.token = task_type == "token_classification"
        self.window_pooling, self.device = window_pooling, device
        self.takes_mask = _accepts(model, "attention_mask")

    def __call__(self, idx: np.ndarray):
        """Outputs for sequences ``idx``: ``(B, C)``, or ``((B, N, C), covered (B, N))`` for tokens."""
        import torch

        cidx, local = self.chunks.chunks_of(idx)
        ids, mask, offs = (t.to(self.device) for t in collate(self.chunks, cidx, self.pad_id))
        if self.takes_mask:
            logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
        else:
            logits = self._unpadded(ids, mask)
        owner = torch.from_numpy(local).to(self.device)
        if self.token:
            L = int(self.chunks.lengths[idx].max())
            return nucleotide_values(logits, offs, owner, len(idx), L)
        return pool_windows(logits, owner, len(idx), self.window_pooling)

    def _unpadded(self, ids, mask):
        """Logits of a model without an attention mask (GPN's CNN), which would see the padding as
        sequence: each length in the right-padded batch runs as its own unpadded batch, and the rows
        are put back in order (token logits padded back to ``T`` with zeros)."""
        import torch
        import torch.nn.functional as F

        lengths = mask.sum(1)
        parts, rows = [], []
        for n in lengths.unique().tolist():
            r = (lengths == n).nonzero().squeeze(1)
            out = self.model(input_ids=ids[r, :n]).logits.float()
            parts.append(F.pad(out, (0, 0, 0, ids.shape[1] - n)) if self.token else out)
            rows.append(r)
        return torch.cat(parts)[torch.argsort(torch.cat(rows))]


def _param_groups(model, cfg: FinetuneConfig) -> list[dict]:
    """AdamW groups: no weight decay on biases / norms; the freshly initialised head (modules named
    in :data:`HEAD_NAMES`) at ``head_lr_scale`` x the learning rate, so that a short fine-tune does
    not end with an untrained head on top of good features."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        head = any(part in HEAD_NAMES for part in name.split("."))
        groups.setdefault((head, p.ndim >= 2), []).append(p)
    lr = cfg.learning_rate
    return [
        {
            "params": ps,
            "weight_decay": cfg.weight_decay if decay else 0.0,
            "lr": lr * (cfg.head_lr_scale if head else 1.0),
        }
        for (head, decay), ps in groups.items()
    ]


def _snapshot(model) -> dict:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad} | {
        n: b.detach().clone() for n, b in model.named_buffers()
    }


def _restore(model, snap: dict) -> None:
    import torch

    named = dict(model.named_parameters()) | dict(model.named_buffers())
    with torch.no_grad():
        for n, v in snap.items():
            named[n].copy_(v)


# --- the estimator -----------------------------------------------------------------------------


class Finetuner:
    """Fit a model to a task in one of :data:`MODES`; the interface of the baselines.

    Parameters
    ----------
    model : PreTrainedModel
        For ``full`` / ``lora``: a sequence-classification head (token-classification head for
        ``token_classification``) with ``num_labels`` outputs (2 for binary).  For ``probe``: any
        genolm model (``embed`` / ``token_hidden_states``) or a Hugging Face backbone.
        :meth:`genolm.catalogue.GenomicLM.for_task` builds the right one.  ``fit`` trains a
        deep copy; the model passed in is never changed.
    tokenizer :
        The model's tokenizer (a genolm tokenizer, or a Hugging Face one with offsets).
    task_type : str
        One of :data:`TASK_TYPES`.
    config : FinetuneConfig, optional
        Default is ``FinetuneConfig()`` (full fine-tuning).
    seed : int
        Seeds dropout, data order, LoRA initialisation and the probe.  Default is 0.

    Learned attributes: ``model_`` (the trained model; for probes the frozen backbone),
    ``probe_``, ``targets_``, ``classes_``, ``history_`` (per epoch ``train_loss`` / ``valid_loss``),
    ``best_epoch_``, ``carved_valid_``, ``n_params_``, ``n_trainable_``, ``timings_``, ``cache_``.
    """

    def __init__(
        self, model, tokenizer, task_type: str, config: FinetuneConfig | None = None, *, seed: int = 0
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.task_type = task_type
        self.config = config
        self.seed = seed

    # -- helpers --

    @property
    def _cfg(self) -> FinetuneConfig:
        return self.config if self.config is not None else FinetuneConfig()

    def _policy(self, model) -> InputPolicy:
        c = self._cfg
        return InputPolicy(
            model_context(model, c.max_tokens), c.long_input, c.window_overlap, c.window_pooling
        )

    def _device(self):
        from accelerate import PartialState

        return PartialState().device

    # -- API --

    def fit(self, seqs, y, *, valid: tuple[Sequence[str], object] | None = None, ids=None) -> Finetuner:
        """Train on ``(seqs, y)``; early stopping / probe selection on ``valid=(seqs, y)``, or on a
        seeded stratified carve of ``seqs`` when ``valid`` is None.  Returns ``self``."""
        check_choice("task_type", self.task_type, TASK_TYPES)
        cfg = self._cfg
        self._t_fit = time.perf_counter()  # a time budget counts from here (encoding included)
        self.precision_ = cfg.resolved_precision()
        self.timings_ = {}
        if isinstance(seqs, str):
            raise InputError("expected a list of sequences, got one string")
        seqs = [str(s) for s in seqs]
        y = list(y) if self.task_type == "token_classification" else np.asarray(y)
        if len(seqs) != len(y):
            raise InputError(f"{len(seqs)} sequences but {len(y)} labels")
        ids = list(ids) if ids is not None else None
        if valid is None:
            strat = np.asarray(y) if self.task_type != "token_classification" else np.zeros(len(y))
            tr, va = carve_validation(strat, cfg.val_fraction, seed=cfg.carve_seed, task_type=self.task_type)
            s_tr, s_va = [seqs[i] for i in tr], [seqs[i] for i in va]
            y_tr, y_va = _take(y, tr), _take(y, va)
            id_tr = [ids[i] for i in tr] if ids else None
            self.carved_valid_ = True
        else:
            s_tr, y_tr, id_tr = seqs, y, ids
            s_va = [str(s) for s in valid[0]]
            y_va = list(valid[1]) if self.task_type == "token_classification" else np.asarray(valid[1])
            self.carved_valid_ = False
        len_tr = np.array([len(s) for s in s_tr])
        len_va = np.array([len(s) for s in s_va])
        self.targets_ = Targets(self.task_type).fit(y_tr, len_tr)
        self.classes_ = getattr(self.targets_, "classes_", None)
        t_tr = self.targets_.encode(y_tr, len_tr)
        t_va = self.targets_.encode(y_va, len_va)
        if cfg.mode == "probe":
            self._fit_probe(s_tr, t_tr, s_va, t_va, id_tr)
        elif cfg.mode == "knn":
            self._fit_knn(s_tr, t_tr, s_va, t_va, id_tr)
        else:
            self._fit_network(s_tr, t_tr, s_va, t_va, id_tr)
        return self

    def predict_with_scores(self, seqs, *, ids=None) -> Prediction:
        """Predictions for ``seqs`` (see :meth:`Targets.to_prediction` for the shapes)."""
        seqs = [str(s) for s in seqs]
        t0 = time.perf_counter()
        if self._cfg.mode == "probe":
            raw = self._probe_raw(self._features(seqs, ids, "predict"))
            if self.task_type == "token_classification":
                raw = np.split(raw, np.cumsum([len(s) for s in seqs])[:-1])
        elif self._cfg.mode == "knn":
            raw = self.probe_.raw(self._features(seqs, ids, "predict"))
        else:
            raw = self._network_raw(seqs, ids)
        self.timings_["predict"] = time.perf_counter() - t0
        return self.targets_.to_prediction(raw)

    def predict(self, seqs) -> np.ndarray:
        return self.predict_with_scores(seqs).y_pred

    # -- full / lora --

    def _fit_network(self, s_tr, t_tr, s_va, t_va, id_tr) -> None:
        import torch

        cfg = self._cfg
        t0 = time.perf_counter()
        device = self._device()
        policy = self._policy(self.model)
        ch_tr = encode_sequences(self.tokenizer, s_tr, policy, ids=id_tr)
        ch_va = encode_sequences(self.tokenizer, s_va, policy)
        self._check_rc_options()
        # RC augmentation: the reverse complements, encoded once (the same chunk layout per sequence)
        ch_rc = (
            encode_sequences(self.tokenizer, [reverse_complement(s) for s in s_tr], policy)
            if cfg.rc_augment
            else None
        )
        self.n_windowed_ = ch_tr.n_windowed + ch_va.n_windowed
        # what the long-input policy did to each split (each predict call sets "predict"): for the record
        self.long_input_ = {
            "policy": cfg.long_input,
            "context_tokens": policy.context,
            "n_truncated": {"train": ch_tr.n_truncated, "valid": ch_va.n_truncated},
            "n_windowed": {"train": ch_tr.n_windowed, "valid": ch_va.n_windowed},
        }
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self._check_head(self.model)
        self.timings_["encode"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            model = copy.deepcopy(self.model)
            if cfg.mode == "lora":
                model = apply_lora(model, cfg)
            else:
                for p in model.parameters():
                    p.requires_grad_(True)
            fuse_gelu(model)  # our copy: one GELU kernel per ESM block (same function, 1e-6 apart)
            longest = max(len(ids) for ch in (ch_tr, ch_va) for ids in ch.ids)  # tokens
            self.attention_ = training_attention(model, device, self.precision_, longest)
            model.to(device)
            self.n_params_, self.n_trainable_ = count_parameters(model)
            # validation (early stopping) without smoothing: the loss the best model minimises
            loss_fn = _loss_fn(self.targets_, t_tr, cfg.class_weight, device, cfg.label_smoothing)
            val_loss_fn = _loss_fn(self.targets_, t_tr, cfg.class_weight, device)
            # torch.compile (opt-in) wraps the training forward only; validation and predict run
            # the plain model, which shares the compiled one's weights
            fwd = torch.compile(model) if cfg.compile else model
            net_tr = _Net(fwd, ch_tr, pad_id, self.task_type, cfg.window_pooling, device)
            net_rc = _Net(fwd, ch_rc, pad_id, self.task_type, cfg.window_pooling, device) if ch_rc else None
            net_va = _Net(model, ch_va, pad_id, self.task_type, cfg.window_pooling, device)
            params = [p for p in model.parameters() if p.requires_grad]
            opt = adamw(_param_groups(model, cfg), cfg.learning_rate)  # fused where the device has it
            n_batches = math.ceil(len(s_tr) / cfg.batch_size)
            # the schedule's plan (steps); under budget_schedule "fit" it shrinks to the epochs the
            # budget leaves room for (budget_epochs), re-planned after each epoch
            plan = {
                "epochs": cfg.max_epochs,
                "warm": max(1, int(cfg.warmup_fraction * cfg.max_epochs * n_batches)),
            }

            def factor(step: int) -> float:
                return lr_factor(step, plan["epochs"] * n_batches, plan["warm"], cfg.schedule)

            sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
            fit_budget = cfg.time_budget_s is not None and cfg.budget_schedule == "fit"
            self.schedule_plan_ = {"max_epochs": cfg.max_epochs, "replans": []}
            epoch_s: list[float] = []
            bf16 = self.precision_ == "bf16"
            bar = None
            if cfg.progress:  # a tqdm bar on a terminal, plain periodic lines in a log
                bar = progress_bar(
                    plan["epochs"] * n_batches, f"{cfg.mode} fine-tune", unit="batch", leave=False
                )
            # what each row pads to: its longest chunk, in tokens (a row past the context pads to the
            # context, however many windows it has, so those rows never pile into one batch)
            len_tr = np.maximum.reduceat([len(x) for x in ch_tr.ids], ch_tr.first[:-1])
            bucket = cfg.length_buckets == "on" or (
                cfg.length_buckets == "auto" and len(len_tr) > 0 and len_tr.min() != len_tr.max()
            )
            self.length_buckets_ = bool(bucket)
            best, best_state, bad, history = math.inf, None, 0, []
            self.best_epoch_ = 0
            self.stopped_by_budget_ = False
            # a <cls>-pooled transformers ESM head: the last block at the <cls> row only (exact)
            rows = contextlib.ExitStack()
            self.last_block_ = rows.enter_context(cls_row_last_layer(model))
            t_budget = self._t_fit
            # the longest validation pass so far, seconds: 1.1x of it is reserved before each batch,
            # so that the pass after the last batch still ends inside the budget (a pass can run a
            # little longer than the one before it; before the first pass: estimated below)
            val_s = None
            try:
                for epoch in range(cfg.max_epochs):
                    if epoch >= plan["epochs"]:  # the plan the budget left room for is done
                        self.stopped_by_budget_ = True
                        break
                    t_epoch = time.perf_counter()
                    model.train()
                    rng = np.random.default_rng([self.seed, epoch])
                    batches = epoch_batches(rng, len_tr, cfg.batch_size, bucket)
                    # the epoch's loss sum stays on the device: no host sync per step
                    run_loss, seen = torch.zeros((), device=device), 0
                    for idx in batches:
                        if cfg.time_budget_s is not None and (epoch or seen):  # always one step
                            now = time.perf_counter()
                            # no pass timed yet: a forward pass over the validation rows at half
                            # the training rate so far (a training step also runs backward)
                            reserve = (
                                1.1 * val_s if val_s is not None else 0.5 * (now - t_epoch) / seen * len(s_va)
                            )
                            stop = now - t_budget + reserve > cfg.time_budget_s
                        else:
                            stop = False
                        if stop:
                            self.stopped_by_budget_ = True
                            break
                        flip = rng.random(len(idx)) < 0.5 if net_rc is not None else None
                        if flip is not None and flip.any():
                            idx = np.concatenate([idx[~flip], idx[flip]])  # targets follow this order
                        # forward rows first, then the flipped ones (either part may be empty: a
                        # small last batch can come out all flipped)
                        n_fwd = len(idx) if flip is None else int((~flip).sum())
                        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                            parts = [net_tr(idx[:n_fwd])] if n_fwd else []
                            if n_fwd < len(idx):
                                parts.append(net_rc(idx[n_fwd:]))
                            out = parts[0] if len(parts) == 1 else self._cat_outputs(parts)
                        loss = self._batch_loss(loss_fn, out, t_tr, idx, device)
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                        opt.step()
                        sched.step()
                        run_loss += loss.detach().float() * len(idx)
                        seen += len(idx)
                        if bar is not None:
                            bar.update(1)
                    if seen == 0:  # the budget ran out before this epoch's first batch
                        break
                    run_loss = float(run_loss)
                    t_val = time.perf_counter()
                    val = self._valid_loss(net_va, val_loss_fn, t_va, len(s_va), device, bf16)
                    val_s = max(val_s or 0.0, time.perf_counter() - t_val)
                    history.append(
                        {
                            "epoch": epoch,
                            "train_loss": run_loss / seen,
                            "valid_loss": val,
                            **({"stopped_by_budget_after_rows": seen} if self.stopped_by_budget_ else {}),
                        }
                    )
                    if bar is not None:
                        bar.set_postfix(loss=f"{run_loss / len(s_tr):.3f}", valid=f"{val:.3f}")
                    if val < best - 1e-4:
                        best, bad, self.best_epoch_ = val, 0, epoch
                        best_state = _snapshot(model)
                    else:
                        bad += 1
                        if bad >= cfg.patience:
                            break
                    if self.stopped_by_budget_:
                        break
                    epoch_s.append(time.perf_counter() - t_epoch)
                    if fit_budget:
                        left = cfg.time_budget_s - (time.perf_counter() - t_budget)
                        n = budget_epochs(plan["epochs"], epoch + 1, epoch_s, left)
                        if n < plan["epochs"]:
                            # the warm-up keeps its length (a shorter one would jump the learning
                            # rate up mid-warm-up); past it, the shorter plan steps the rate down
                            plan["epochs"] = n
                            plan["warm"] = max(1, min(plan["warm"], n * n_batches // 2))
                            for g, base in zip(opt.param_groups, sched.base_lrs):  # from the next step on
                                g["lr"] = base * factor(sched.last_epoch)
                            self.schedule_plan_["replans"].append({"after_epoch": epoch, "epochs": n})
                            if bar is not None:
                                bar.total = n * n_batches  # the ETA follows the new plan
            finally:
                rows.close()
                if bar is not None:
                    bar.close()
            # how far through its (re-planned) schedule the run got, and the learning-rate multiplier
            # of its last step: 1.0 and near 0 when the schedule annealed
            self.schedule_plan_["planned_epochs"] = plan["epochs"]
            self.schedule_plan_["fraction_done"] = round(sched.last_epoch / (plan["epochs"] * n_batches), 4)
            self.schedule_plan_["last_lr_factor"] = round(factor(max(0, sched.last_epoch - 1)), 6)
            if best_state is not None:
                _restore(model, best_state)
        model.eval()
        self.model_ = model
        self.history_ = history
        self.n_epochs_ = len(history)
        self._pad_id, self._device_ = pad_id, device
        self.timings_["train"] = time.perf_counter() - t0

    def _check_rc_options(self) -> None:
        cfg = self._cfg
        if (cfg.rc_augment or cfg.tta_rc) and self.task_type == "token_classification":
            raise ConfigError(
                "rc_augment / tta_rc apply to sequence-level tasks; a token_classification task's labels "
                "would have to be reversed and may be strand-specific: set both to false"
            )

    @staticmethod
    def _cat_outputs(parts):
        import torch

        return torch.cat(parts)

    def _check_head(self, model) -> None:
        n_out = self.targets_.n_out_
        got = getattr(getattr(model, "config", None), "num_labels", None)
        if not hasattr(model, "classifier") and not hasattr(model, "score"):
            raise ConfigError(
                f"mode '{self._cfg.mode}' needs a model with a task head, got {type(model).__name__} "
                "(genolm.load(...).for_task(task, mode) gives full / lora a head and a probe the backbone)"
            )
        if got is not None and got != n_out:
            raise ConfigError(
                f"the model's head has {got} outputs but the task needs {n_out} "
                f"({self.task_type}; classes {getattr(self.targets_, 'classes_', None)})"
            )

    def _batch_loss(self, loss_fn, out, t_all, idx, device):
        import torch

        if self.task_type == "token_classification":
            vals, covered = out
            return loss_fn(vals, _token_targets(t_all, idx, vals.shape[1], covered))
        return loss_fn(out, torch.from_numpy(t_all[idx]).to(device))

    def _valid_loss(self, net, loss_fn, t_va, n, device, bf16) -> float:
        import torch

        net.model.eval()
        total, count = 0.0, 0
        bs = self._cfg.eval_batch_size
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            for a in range(0, n, bs):
                idx = np.arange(a, min(n, a + bs))
                total += float(self._batch_loss(loss_fn, net(idx), t_va, idx, device)) * len(idx)
                count += len(idx)
        return total / max(count, 1)

    def _network_raw(self, seqs, ids):
        cfg = self._cfg
        raw = self._network_raw_one(seqs, ids)
        if cfg.tta_rc:  # test-time RC averaging (sequence-level outputs: the raw logits / values)
            raw = (raw + self._network_raw_one([reverse_complement(s) for s in seqs], ids)) / 2
        return raw

    def _network_raw_one(self, seqs, ids):
        import torch

        cfg = self._cfg
        chunks = encode_sequences(self.tokenizer, seqs, self._policy(self.model), ids=ids)
        if hasattr(self, "long_input_"):  # the last predict call's counts (the bench's: test)
            self.long_input_["n_truncated"]["predict"] = chunks.n_truncated
            self.long_input_["n_windowed"]["predict"] = chunks.n_windowed
        net = _Net(self.model_, chunks, self._pad_id, self.task_type, cfg.window_pooling, self._device_)
        order = np.argsort(chunks.lengths, kind="stable")
        out: list = [None] * len(seqs)
        self.model_.eval()
        with (
            cls_row_last_layer(self.model_),
            torch.no_grad(),
            torch.autocast(self._device_.type, dtype=torch.bfloat16, enabled=self.precision_ == "bf16"),
        ):
            for a in range(0, len(order), cfg.eval_batch_size):
                idx = order[a : a + cfg.eval_batch_size]
                res = net(idx)
                if self.task_type == "token_classification":
                    vals = res[0].float().cpu().numpy()
                    for r, i in enumerate(idx):
                        out[i] = vals[r, : len(seqs[i])]
                else:
                    vals = res.float().cpu().numpy()
                    for r, i in enumerate(idx):
                        out[i] = vals[r]
        return out if self.task_type == "token_classification" else np.stack(out)

    # -- probe --

    def _features(self, seqs, ids, what: str) -> np.ndarray:
        cfg = self._cfg
        if not hasattr(self, "cache_"):
            self.cache_ = EmbeddingCache(cfg.cache_dir) if cfg.cache_dir else None
        t0 = time.perf_counter()
        device = self._device()
        home = next(self.model.parameters()).device
        if home != device:  # embed on the accelerator; the model goes back where it was after
            self.model.to(device)
        try:
            X = self._embed(seqs, ids, what)
        finally:
            if home != device:
                self.model.to(home)
        self.timings_[f"embed_{what}"] = self.timings_.get(f"embed_{what}", 0.0) + time.perf_counter() - t0
        return X

    def _embed(self, seqs, ids, what: str) -> np.ndarray:
        cfg = self._cfg
        return embed_sequences(
            self.model,
            self.tokenizer,
            seqs,
            policy=self._policy(self.model),
            pooling=cfg.pooling,
            level="nucleotide" if self.task_type == "token_classification" else "sequence",
            layer=cfg.layer,
            batch_size=cfg.eval_batch_size,
            precision=self.precision_,
            cache=self.cache_,
            progress=cfg.progress,
            desc=f"embed {what}",
            ids=ids,
        )

    def _fit_probe(self, s_tr, t_tr, s_va, t_va, id_tr) -> None:
        from sklearn.preprocessing import StandardScaler

        cfg = self._cfg
        if hasattr(self, "cache_"):
            del self.cache_
        X_tr = self._features(s_tr, id_tr, "train")
        X_va = self._features(s_va, None, "valid")
        t0 = time.perf_counter()
        if self.task_type == "token_classification":
            t_tr, t_va = np.concatenate(t_tr), np.concatenate(t_va)
            keep_tr, keep_va = t_tr != IGNORE_INDEX, t_va != IGNORE_INDEX
            X_tr, t_tr, X_va, t_va = X_tr[keep_tr], t_tr[keep_tr], X_va[keep_va], t_va[keep_va]
            if len(t_tr) > cfg.max_probe_nucleotides:
                pick = np.sort(
                    np.random.default_rng(self.seed).choice(
                        len(t_tr), cfg.max_probe_nucleotides, replace=False
                    )
                )
                X_tr, t_tr = X_tr[pick], t_tr[pick]
        self.scaler_ = StandardScaler().fit(X_tr)
        X_tr, X_va = self.scaler_.transform(X_tr), self.scaler_.transform(X_va)
        self.n_params_, _ = count_parameters(self.model)
        if cfg.probe == "logreg":
            self.probe_ = self._fit_linear_probe(X_tr, t_tr, X_va, t_va)
            self.history_ = self.probe_selection_
        else:
            self.probe_ = self._fit_mlp_probe(X_tr, t_tr, X_va, t_va)
        self.n_trainable_ = _probe_size(self.probe_)
        self.model_ = self.model
        self.timings_["probe_fit"] = time.perf_counter() - t0

    def _fit_knn(self, s_tr, t_tr, s_va, t_va, id_tr) -> None:
        """Cosine kNN over the train embeddings (:class:`genolm.bench.knn.KNNHead`); ``k`` from
        ``knn_k`` with the lowest (class-weighted) validation loss."""
        cfg = self._cfg
        if hasattr(self, "cache_"):
            del self.cache_
        head = KNNHead(self.task_type, self.targets_.n_out_, cfg.knn_k)  # refuses token tasks first
        X_tr = self._features(s_tr, id_tr, "train")
        X_va = self._features(s_va, None, "valid")
        t0 = time.perf_counter()
        w = self.targets_.class_weights(t_tr) if cfg.class_weight == "balanced" else None
        head.loss = lambda raw, t: _np_loss(self.task_type, raw, t, w)
        self.probe_ = head.fit(X_tr, t_tr, X_va, t_va)
        self.history_ = head.selection_
        self.best_k_ = head.k_
        self.n_params_, _ = count_parameters(self.model)
        self.n_trainable_ = 0
        self.model_ = self.model
        self.timings_["knn_fit"] = time.perf_counter() - t0

    def _fit_linear_probe(self, X_tr, t_tr, X_va, t_va):
        """Logistic regression (ridge for regression); ``C`` (ridge: ``alpha = 1 / C``) is the one of
        ``probe_c`` with the lowest (class-weighted) validation loss."""
        cfg = self._cfg
        w = self.targets_.class_weights(t_tr) if cfg.class_weight == "balanced" else None
        best, best_loss, selection = None, math.inf, []
        for C in cfg.probe_c:
            probe = _LinearProbe(self.task_type, self.targets_.n_out_, C, w).fit(X_tr, t_tr)
            loss = _np_loss(self.task_type, probe.raw(X_va), t_va, w)
            selection.append({"C": C, "valid_loss": loss})
            if loss < best_loss - 1e-12:
                best, best_loss = probe, loss
        self.probe_selection_ = selection
        self.best_C_ = best.C
        grid = sorted(cfg.probe_c)
        self.best_C_at_edge_ = len(grid) > 1 and best.C in (grid[0], grid[-1])
        if self.best_C_at_edge_:
            import warnings

            side = "largest (least regularised)" if best.C == grid[-1] else "smallest (most regularised)"
            warnings.warn(
                f"the linear probe's best C = {best.C:g} is the {side} of the grid {grid}: the optimum may "
                "lie beyond it; extend FinetuneConfig.probe_c (YAML finetune: {probe_c: [...]})",
                UserWarning,
                stacklevel=2,
            )
        return best

    def _fit_mlp_probe(self, X_tr, t_tr, X_va, t_va):
        """A one-hidden-layer MLP (128 GELU units, dropout 0.1) on the features, AdamW, early stopping
        on the validation loss (up to 200 epochs, patience 10: features are cheap to revisit)."""
        import torch
        from torch import nn

        cfg = self._cfg
        n_out = self.targets_.n_out_
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            net = nn.Sequential(
                nn.Linear(X_tr.shape[1], 128), nn.GELU(), nn.Dropout(0.1), nn.Linear(128, n_out)
            )
            loss_fn = _loss_fn(self.targets_, t_tr, cfg.class_weight, torch.device("cpu"))
            opt = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
            xt, xv = torch.from_numpy(X_tr.astype(np.float32)), torch.from_numpy(X_va.astype(np.float32))
            yt, yv = torch.from_numpy(t_tr), torch.from_numpy(t_va)
            rng = np.random.default_rng(self.seed)
            best, state, bad, history = math.inf, None, 0, []
            bs = max(cfg.batch_size, 256)
            for epoch in range(_MLP_EPOCHS):
                net.train()
                for idx in np.array_split(rng.permutation(len(xt)), max(1, math.ceil(len(xt) / bs))):
                    loss = loss_fn(net(xt[idx]), yt[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                net.eval()
                with torch.no_grad():
                    val = float(loss_fn(net(xv), yv))
                history.append({"epoch": epoch, "valid_loss": val})
                if val < best - 1e-4:
                    best, bad, state, self.best_epoch_ = val, 0, copy.deepcopy(net.state_dict()), epoch
                else:
                    bad += 1
                    if bad >= _MLP_PATIENCE:
                        break
            net.load_state_dict(state)
        net.eval()
        self.history_ = history
        return _MLPProbe(net)

    def _probe_raw(self, X: np.ndarray) -> np.ndarray:
        return self.probe_.raw(self.scaler_.transform(X))


_MLP_EPOCHS, _MLP_PATIENCE = 200, 10


def _take(y, idx):
    return [y[i] for i in idx] if isinstance(y, list) else y[idx]


def _np_loss(task_type: str, raw: np.ndarray, t: np.ndarray, w: np.ndarray | None) -> float:
    """The training loss of :func:`_loss_fn`, in numpy, on probe outputs (for choosing ``C``)."""
    raw = np.asarray(raw, dtype=np.float64)
    if task_type == "regression":
        return float(np.mean((raw[:, 0] - t) ** 2))
    if task_type == "multilabel":
        pw = np.ones(raw.shape[1]) if w is None else w
        # BCE with logits and pos_weight, as torch computes it
        log_sig = -np.logaddexp(0.0, -raw)
        log_not = -np.logaddexp(0.0, raw)
        return float(np.mean(-(pw * t * log_sig + (1 - t) * log_not)))
    logp = raw - raw.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    nll = -logp[np.arange(len(t)), t]
    sw = np.ones(len(t)) if w is None else w[t]
    return float((nll * sw).sum() / sw.sum())


def _solver(X: np.ndarray, n_out: int) -> str:
    """Newton-Cholesky converges in ~4 steps on standardised embeddings (3-20x faster than L-BFGS
    here) while its Hessian, ``(d * n_out)^2``, stays small; L-BFGS beyond that."""
    return "newton-cholesky" if X.shape[1] * n_out <= 4096 else "lbfgs"


class _LinearProbe:
    """scikit-learn linear models behind one ``raw(X) -> (n, n_out)`` logits interface."""

    def __init__(self, task_type: str, n_out: int, C: float, class_weight: np.ndarray | None):
        self.task_type, self.n_out, self.C, self.class_weight = task_type, n_out, C, class_weight

    def fit(self, X, t) -> _LinearProbe:
        import warnings

        from scipy.linalg import LinAlgWarning
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression, Ridge

        tt = self.task_type
        with warnings.catch_warnings():
            # a probe that has not fully converged after max_iter is still a valid (regularised) probe
            warnings.simplefilter("ignore", ConvergenceWarning)
            # the weakly regularised end of the C grid can make Newton-Cholesky's Hessian singular;
            # scikit-learn then falls back to L-BFGS by itself, so the warning carries no news
            warnings.simplefilter("ignore", LinAlgWarning)
            if tt == "regression":
                self.models_ = [Ridge(alpha=1.0 / self.C).fit(X, t)]
            elif tt == "multilabel":
                self.models_ = []
                for j in range(t.shape[1]):
                    col = t[:, j].astype(np.int64)
                    if col.min() == col.max():  # a label constant in train: its log-odds, clipped
                        self.models_.append(float(np.clip(col.mean(), 1e-3, 1 - 1e-3)))
                        continue
                    cw = None if self.class_weight is None else {0: 1.0, 1: float(self.class_weight[j])}
                    self.models_.append(
                        LogisticRegression(
                            C=self.C, class_weight=cw, max_iter=1000, solver=_solver(X, 1)
                        ).fit(X, col)
                    )
            else:
                cw = None
                if self.class_weight is not None:
                    cw = {k: float(self.class_weight[k]) for k in range(self.n_out)}
                solver = _solver(X, self.n_out if self.n_out > 2 else 1)
                self.models_ = [
                    LogisticRegression(C=self.C, class_weight=cw, max_iter=1000, solver=solver).fit(X, t)
                ]
        return self

    def raw(self, X) -> np.ndarray:
        tt = self.task_type
        if tt == "regression":
            return self.models_[0].predict(X)[:, None]
        if tt == "multilabel":
            cols = []
            for m in self.models_:
                if isinstance(m, float):
                    cols.append(np.full(len(X), math.log(m / (1 - m))))
                else:
                    cols.append(m.decision_function(X))
            return np.stack(cols, axis=1)
        m = self.models_[0]
        d = m.decision_function(X)
        out = np.full((len(X), self.n_out), -1e9)
        if d.ndim == 1:  # binary: decision = logit of classes_[1]
            out[:, m.classes_[0]], out[:, m.classes_[1]] = 0.0, d
        else:
            out[:, m.classes_] = d
        return out

    def size(self) -> int:
        return sum(m.coef_.size + np.size(m.intercept_) for m in self.models_ if not isinstance(m, float))


class _MLPProbe:
    def __init__(self, net):
        self.net = net

    def raw(self, X) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.net(torch.from_numpy(np.asarray(X, dtype=np.float32))).numpy()

    def size(self) -> int:
        return sum(p.numel() for p in self.net.parameters())


def _probe_size(probe) -> int:
    return int(probe.size())
