"""A biotoken LLM on a genolm task, two ways, behind the baselines' ``fit`` / ``predict_with_scores``.

:class:`PromptClassifier` -- the task as text.  Each sequence becomes a prompt
(``template``, DNA as biotokens) and each class an answer word; the class scores are the
log-likelihoods of the answers (softmax over classes gives ``y_score``).  ``k_shot`` solved
examples precede each prompt, drawn -- class-balanced, seeded per test item -- from the
**training split only** (``fit`` stores it; the test split never supplies a shot).  Optionally
``finetune_steps`` of LoRA on the training prompts first, loss on the answer tokens only.

:class:`HeadClassifier` -- a classification head.  The causal LM's backbone is copied into
``AutoModelForSequenceClassification`` (the head pools the last token) and fitted by genolm's
:class:`~genolm.bench.finetune.Finetuner` in ``lora`` mode (early stopping on the validation split,
class-balanced loss, the same code the native models use), reading DNA through
:class:`BiotokenSequenceTokenizer`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from genolm.bench.baselines import Prediction
from genolm.constants import IGNORE_INDEX
from genolm.errors import ConfigError, InputError
from genolm.llm.extend import format_prompt, spec_of
from genolm.llm.scoring import choice_logprobs
from genolm.progress import progress_bar

DEFAULT_TEMPLATE = "Sequence: {dna}\nQuestion: {question}\nAnswer:"


class _Encoding(NamedTuple):
    ids: np.ndarray  # (T,)
    offsets: np.ndarray  # (T, 2) [start, end) in bases


class BiotokenSequenceTokenizer:
    """DNA -> biotoken ids with nucleotide offsets: the tokenizer interface genolm's fine-tuning
    and embedding code reads (``encode_with_offsets``, ``build_inputs_with_special_tokens``,
    ``pad_token_id``).  One BOS token is prepended; nothing is appended (a sequence-classification
    head pools the last token, which must be the last base, not a pad-like EOS)."""

    def __init__(self, tokenizer, meta: dict):
        self.tok = tokenizer
        self.meta = meta
        self.spec = spec_of(meta)
        self._id = dict(zip(meta["tokens"], (int(i) for i in meta["token_ids"])))
        self.bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []

    @property
    def pad_token_id(self) -> int:
        p = self.tok.pad_token_id
        return int(p) if p is not None else int(self.tok.eos_token_id or 0)

    def __len__(self) -> int:
        return len(self.tok)

    def get_vocab(self) -> dict:
        return self.tok.get_vocab()

    def encode_with_offsets(self, seq: str) -> _Encoding:
        units = self.spec.units(seq)
        ids = np.fromiter((self._id[self.spec.prefix + u] for u in units), dtype=np.int64, count=len(units))
        ends = np.cumsum([len(u) for u in units], dtype=np.int64)
        starts = ends - np.array([len(u) for u in units], dtype=np.int64)
        return _Encoding(ids, np.stack([starts, ends], 1) if len(units) else np.zeros((0, 2), np.int64))

    def build_inputs_with_special_tokens(self, ids, ids2=None) -> list[int]:
        return self.bos + list(ids)


def label_words(classes, labels: Sequence[str] | None, words: Sequence[str] | None = None) -> list[str]:
    """Answer words of ``classes`` (class ids into ``labels`` when given, else their own text)."""
    if words is not None:
        if len(words) != len(classes):
            raise ConfigError(f"label_words has {len(words)} words for {len(classes)} classes")
        return [str(w) for w in words]
    out = []
    for c in classes:
        if labels is not None and isinstance(c, (int, np.integer)) and 0 <= int(c) < len(labels):
            out.append(str(labels[int(c)]))
        else:
            out.append(str(c))
    return out


@dataclass
class PromptConfig:
    """How a task is put as text (the ``text`` method of ``genolm biotokens eval``)."""

    template: str = DEFAULT_TEMPLATE  # {dna} and {question}
    question: str | None = None  # default: "Is this sequence <w1> or <w2>?"
    label_words: list[str] | None = None  # default: the task's class names
    k_shot: int = 2
    normalize: str = "none"  # none (sum of log-probs) | token (mean per answer token)
    # LoRA on the training prompts before scoring (0: in-context only)
    finetune_steps: int = 0
    finetune_lr: float = 5e-4
    finetune_batch: int = 8
    lora_r: int = 8
    progress: bool = True

    def __post_init__(self):
        if "{dna}" not in self.template:
            raise ConfigError(f"template must hold {{dna}}, got {self.template!r}")
        if self.normalize not in ("none", "token"):
            raise ConfigError(f"normalize must be 'none' or 'token', not {self.normalize!r}")
        if self.k_shot < 0 or self.finetune_steps < 0:
            raise ConfigError("k_shot and finetune_steps must be >= 0")


def _count(model) -> tuple[int, int]:
    return sum(p.numel() for p in model.parameters()), sum(
        p.numel() for p in model.parameters() if p.requires_grad
    )


class PromptClassifier:
    """See the module docstring.  ``labels``: the task's class names (class id = position)."""

    def __init__(
        self, model, tokenizer, meta: dict, task_type: str, labels=None, config=None, *, seed: int = 0
    ):
        if task_type not in ("binary", "multiclass"):
            raise ConfigError(f"the text method scores binary and multiclass tasks, not {task_type}")
        self.model, self.tokenizer, self.meta = model, tokenizer, meta
        self.task_type, self.labels = task_type, labels
        self.config = config or PromptConfig()
        self.seed = seed
        self.spec = spec_of(meta)

    # -- prompts --

    def question_text(self) -> str:
        """The ``{question}`` of the template (default: "Is this sequence <w1> or <w2>?")."""
        if self.config.question:
            return self.config.question
        w = self.words_
        return f"Is this sequence {', '.join(w[:-1])} or {w[-1]}?"

    def prompt(self, seq: str, answer: str | None = None) -> str:
        text = format_prompt(self.config.template, seq, spec=self.spec, question=self.question_text())
        return text + (f" {answer}" if answer is not None else "")

    def shot_indices(self, i: int) -> list[int]:
        """Indices into the training split of test item ``i``'s shots (class-balanced, seeded by
        ``(seed, i)``), in prompt order."""
        k = self.config.k_shot
        if k == 0:
            return []
        rng = np.random.default_rng([self.seed, 7, i])
        by_class = [rng.permutation(np.flatnonzero(self.y_codes_ == c)) for c in range(len(self.classes_))]
        order = rng.permutation(len(self.classes_))
        pick, j = [], 0
        while len(pick) < k:
            c = order[j % len(order)]
            r = j // len(order)
            if r < len(by_class[c]):
                pick.append(int(by_class[c][r]))
            j += 1
            if j > k * len(order) + len(self.y_codes_):
                break
        return list(rng.permutation(pick))

    def context_text(self, seq: str, i: int) -> str:
        """The text scored for test item ``i``: its shots (with their answers), then its prompt.
        genolm puts the tokenizer's BOS token (if any) before it."""
        shots = [self.prompt(self.train_[j], self.words_[self.y_codes_[j]]) for j in self.shot_indices(i)]
        return "\n\n".join(shots + [self.prompt(seq)])

    def _context(self, seq: str, i: int) -> list[int]:
        text = self.context_text(seq, i)
        bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        return bos + list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # -- fit / predict --

    def fit_prompts(self, seqs, y) -> PromptClassifier:
        """The text half of :meth:`fit` (classes, answer words, the shot pool); needs no model or
        tokenizer, so the prompts can be written out (``genolm biotokens export-lm-eval``)."""
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise InputError("the training split holds a single class: nothing to score against")
        self.y_codes_ = np.searchsorted(self.classes_, y)
        self.train_ = list(seqs)  # the only source of shots
        self.words_ = label_words(self.classes_, self.labels, self.config.label_words)
        return self

    def fit(self, seqs, y, *, valid=None, ids=None) -> PromptClassifier:
        self.fit_prompts(seqs, y)
        self.conts_ = [
            list(self.tokenizer(" " + w, add_special_tokens=False)["input_ids"]) for w in self.words_
        ]
        self.timings_ = {}
        self.history_ = []
        self.model_ = self.model
        if self.config.finetune_steps:
            t0 = time.perf_counter()
            self.model_ = self._finetune()
            self.timings_["train"] = time.perf_counter() - t0
        self.n_params_, self.n_trainable_ = _count(self.model_)
        if not self.config.finetune_steps:
            self.n_trainable_ = 0  # nothing was fitted: in-context only
        return self

    def _finetune(self):
        """LoRA on ``prompt + answer`` of the training examples; loss on the answer tokens only."""
        import torch

        from genolm.llm.adapters import apply_lora
        from genolm.llm.pretrain import BiotokenCausalLM
        from genolm.train.masking import collate

        cfg = self.config
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            base = copy.deepcopy(self.model)
            for p in base.parameters():
                p.requires_grad_(False)
            lm = apply_lora(
                base, [int(i) for i in self.meta["token_ids"]], r=cfg.lora_r, alpha=2.0 * cfg.lora_r
            )
            net = BiotokenCausalLM(lm, self.meta)
            opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=cfg.finetune_lr)
            bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            rng = np.random.default_rng([self.seed, 11])
            bar = progress_bar(
                cfg.finetune_steps, "prompt LoRA", unit="step", leave=False, enabled=cfg.progress
            )
            net.train()
            try:
                for step in range(cfg.finetune_steps):
                    idx = rng.choice(
                        len(self.train_), size=min(cfg.finetune_batch, len(self.train_)), replace=False
                    )
                    exs = []
                    for j in idx:
                        ctx = bos + list(
                            self.tokenizer(self.prompt(self.train_[j]), add_special_tokens=False)["input_ids"]
                        )
                        ans = self.conts_[self.y_codes_[j]]
                        ids = np.asarray(ctx + ans, dtype=np.int64)
                        w = np.zeros(len(ids), np.float32)
                        w[len(ctx) :] = 1.0
                        lab = ids.copy()
                        lab[w == 0] = IGNORE_INDEX
                        exs.append({"input_ids": ids, "labels": lab, "loss_weights": w})
                    b = collate(exs, pad)
                    loss = net(**b).loss
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_([p for p in net.parameters() if p.requires_grad], 1.0)
                    opt.step()
                    self.history_.append({"step": step + 1, "loss": float(loss.detach())})
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
            finally:
                if bar is not None:
                    bar.close()
        lm.eval()
        return lm

    def choice_scores(self, seqs, ids=None) -> np.ndarray:
        """``(n, n_classes)`` log-likelihood of each class's answer (per token with normalize='token')."""
        model = self.model_
        was = model.training
        model.eval()
        out = np.zeros((len(seqs), len(self.classes_)))
        bar = progress_bar(
            len(seqs),
            f"{self.config.k_shot}-shot scoring",
            unit="seq",
            leave=False,
            enabled=self.config.progress,
        )
        try:
            for i, s in enumerate(seqs):
                lp, n_tok = choice_logprobs(model, self._context(s, i), self.conts_)
                out[i] = lp / n_tok if self.config.normalize == "token" else lp
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
            model.train(was)
        return out

    def predict_with_scores(self, seqs, *, ids=None) -> Prediction:
        t0 = time.perf_counter()
        s = self.choice_scores(list(seqs), ids)
        p = np.exp(s - s.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        self.timings_["predict"] = time.perf_counter() - t0
        pred = self.classes_[p.argmax(1)]
        return Prediction(pred, p[:, 1] if self.task_type == "binary" else p)

    def size(self) -> int:
        return int(self.n_trainable_)


def sequence_classifier_from_causal(causal, num_labels: int, pad_token_id: int, *, seed: int = 0):
    """``AutoModelForSequenceClassification`` with ``causal``'s backbone weights and a fresh head."""
    import torch
    from transformers import AutoModelForSequenceClassification

    cfg = copy.deepcopy(causal.config)
    cfg.num_labels = num_labels
    cfg.pad_token_id = pad_token_id
    cfg.problem_type = "single_label_classification"
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        cls = AutoModelForSequenceClassification.from_config(cfg, dtype=next(causal.parameters()).dtype)
    prefix = cls.base_model_prefix
    src = getattr(causal, prefix, None)
    dst = getattr(cls, prefix, None)
    if src is None or dst is None:
        raise ConfigError(f"{type(causal).__name__} has no '{prefix}' backbone to copy into a classifier")
    dst.load_state_dict(src.state_dict(), strict=True)
    cls.eval()
    return cls


class HeadClassifier:
    """See the module docstring.  ``model`` is a plain causal LM (merge an adapter first)."""

    def __init__(
        self, model, tokenizer, meta: dict, task_type: str, finetune: dict | None = None, *, seed: int = 0
    ):
        from genolm import config as C
        from genolm.bench.finetune import FinetuneConfig

        if task_type not in ("binary", "multiclass", "regression", "multilabel"):
            raise ConfigError(f"the head method fits sequence-level tasks, not {task_type}")
        self.model, self.meta, self.task_type, self.seed = model, meta, task_type, seed
        self.tokenizer = BiotokenSequenceTokenizer(tokenizer, meta)
        self.ft_cfg = C.from_dict(FinetuneConfig, {**(finetune or {}), "mode": "lora"}, source="finetune")

    def fit(self, seqs, y, *, valid=None, ids=None) -> HeadClassifier:
        from genolm.bench.finetune import Finetuner, Targets

        n_out = Targets(self.task_type).fit(y).n_out_
        cls = sequence_classifier_from_causal(self.model, n_out, self.tokenizer.pad_token_id, seed=self.seed)
        self.est_ = Finetuner(cls, self.tokenizer, self.task_type, self.ft_cfg, seed=self.seed)
        self.est_.fit(seqs, y, valid=valid, ids=ids)
        for k in ("classes_", "n_params_", "n_trainable_", "history_", "timings_", "precision_"):
            setattr(self, k, getattr(self.est_, k, None))
        self.best_epoch_ = getattr(self.est_, "best_epoch_", None)
        return self

    def predict_with_scores(self, seqs, *, ids=None) -> Prediction:
        return self.est_.predict_with_scores(seqs, ids=ids)

    def size(self) -> int:
        return int(self.n_trainable_)
