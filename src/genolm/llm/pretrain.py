"""Continued pretraining of a biotoken LLM on FASTA/GenBank, with LoRA (PEFT) or in full.

This is :func:`genolm.train.pretrain.pretrain` -- the same Accelerate loop, data order, exact
resume, atomic checkpoints, progress bar and ``metrics.jsonl`` -- with three pieces swapped in by
:class:`BiotokenPretrainer` (a :class:`~genolm.train.pretrain.Pretrainer` subclass):

* the examples: each window is written as biotokens inside ``template`` (default ``"{dna}"``),
  with a BOS token; the loss is on biotoken positions only (``loss_on="biotokens"``, default) or
  on every position (``"all"``); soft-masked (lowercase) bases get ``softmask_weight``;
* the model: an extended model (``genolm biotokens extend``) wrapped in PEFT LoRA, whose
  biotoken rows train as ``new_tokens`` says (see :mod:`genolm.llm.adapters`), or trained in
  full (``lora: false``);
* checkpoints: the adapter (``adapter_model.safetensors``) with the extended tokenizer and
  ``genolm_biotokens.json``, so ``final/`` loads with
  :func:`genolm.llm.adapters.load_biotoken_model` -- onto the extended model, or onto the
  un-extended base.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from genolm.constants import IGNORE_INDEX
from genolm.errors import ConfigError, InputError
from genolm.llm.adapters import NEW_TOKENS
from genolm.train.pretrain import Pretrainer
from genolm.train.pretrain_config import PretrainConfig

LOSS_ON = ("biotokens", "all")


@dataclass
class BiotokenPretrainConfig(PretrainConfig):
    """``genolm biotokens pretrain``: the keys of ``genolm pretrain`` plus the LLM's.

    ``model`` is the extended model folder; ``tokenizer``, ``model_config``, ``mlm_probability``
    and ``mask_span`` do not apply (the tokenizer is the model's, the objective is CLM).
    """

    model: str = ""  # an extended model folder (genolm biotokens extend)
    tokenizer: str = ""  # unused: the model folder's tokenizer
    out_dir: str = "runs/biotoken-pretrain"
    window: int = 256  # bp per window
    batch_size: int = 8
    lr: float = 5e-4
    warmup_steps: int = 20
    eval_every: int = 100
    save_every: int = 100
    # the LLM
    template: str = "{dna}"  # text around each window, e.g. "Arabidopsis chloroplast DNA: {dna}"
    add_bos: bool = True
    loss_on: str = "biotokens"  # biotokens | all
    lora: bool = True  # false: full fine-tuning of every weight
    new_tokens: str = "trainable_tokens"  # trainable_tokens | modules_to_save | frozen
    lora_r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    lora_target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    trust_remote_code: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.objective not in (None, "clm"):
            raise ConfigError(f"a causal LLM trains with objective 'clm', not {self.objective!r}")
        if self.model_config:
            raise ConfigError("model_config does not apply: the architecture is the extended model's")
        if str(getattr(self, "compile", "auto")).lower() == "true":
            # the native trainer compiles genolm's own blocks; a PEFT-wrapped LLM trains eagerly
            raise ConfigError("compile: true does not apply to biotoken LLM training (it trains eagerly)")
        if self.loss_on not in LOSS_ON:
            raise ConfigError(f"loss_on must be one of {', '.join(LOSS_ON)}, not {self.loss_on!r}")
        if self.new_tokens not in NEW_TOKENS:
            from genolm.registry import did_you_mean

            raise ConfigError(
                f"new_tokens must be one of {', '.join(NEW_TOKENS)}, not {self.new_tokens!r}."
                + did_you_mean(self.new_tokens, NEW_TOKENS)
            )
        if self.template.count("{dna}") != 1:
            raise ConfigError(f"template must hold '{{dna}}' exactly once, got {self.template!r}")


# --- examples -----------------------------------------------------------------------------------


class BiotokenExampleBuilder:
    """``build(window, rng) -> {input_ids, labels, loss_weights}`` (the interface of
    :class:`genolm.train.masking.ExampleBuilder`) for a causal LLM reading biotokens.

    Token ids come from a biotoken -> id table and the pre-tokenized template around ``{dna}``;
    this equals tokenizing the whole text, because added tokens split the text before the
    tokenizer's own rules apply (checked in the tests).
    """

    def __init__(
        self,
        tokenizer,
        meta: dict,
        *,
        template: str = "{dna}",
        add_bos: bool = True,
        loss_on: str = "biotokens",
        softmask_weight: float = 1.0,
        rc_augment: bool = False,
    ):
        from genolm.llm.extend import spec_of

        self.spec = spec_of(meta)
        self.ids = dict(zip(meta["tokens"], (int(i) for i in meta["token_ids"])))
        pre, _, suf = template.partition("{dna}")
        enc = lambda t: list(tokenizer(t, add_special_tokens=False)["input_ids"]) if t else []  # noqa: E731
        self.pre, self.suf = enc(pre), enc(suf)
        self.bos = [tokenizer.bos_token_id] if add_bos and tokenizer.bos_token_id is not None else []
        self.loss_on, self.softmask_weight, self.rc_augment = loss_on, softmask_weight, rc_augment

    def build(self, text: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
        from genolm.alphabet import reverse_complement

        if self.rc_augment and rng.random() < 0.5:
            text = reverse_complement(text)
        p = self.spec.prefix
        units = self.spec.units(text)
        try:
            dna = [self.ids[p + u] for u in units]
        except KeyError as e:  # pragma: no cover - units() only yields listed biotokens
            raise InputError(f"no biotoken {e} in this model's vocabulary") from None
        w_dna = np.ones(len(dna), dtype=np.float32)
        if self.softmask_weight != 1.0 and any(c.islower() for c in text):
            pos = 0
            for i, u in enumerate(units):
                if any(c.islower() for c in text[pos : pos + len(u)]):
                    w_dna[i] = self.softmask_weight
                pos += len(u)
        head = self.bos + self.pre
        ids = np.asarray(head + dna + self.suf, dtype=np.int64)
        w = np.zeros(len(ids), dtype=np.float32)
        w[len(head) : len(head) + len(dna)] = w_dna
        if self.loss_on == "all":
            w[len(self.bos) : len(head)] = 1.0
            w[len(head) + len(dna) :] = 1.0
        labels = ids.copy()
        labels[w == 0] = IGNORE_INDEX
        return {"input_ids": ids, "labels": labels, "loss_weights": w}


# --- the model ----------------------------------------------------------------------------------


class BiotokenCausalLM(torch.nn.Module):
    """A causal LM (PEFT-wrapped or not) whose forward takes ``loss_weights`` (the native genolm
    models' interface): the loss is the weighted mean next-token cross entropy over positions
    ``1..T-1`` with a label, which is what :meth:`Pretrainer._weight_count` counts."""

    def __init__(self, lm, meta: dict, extra_meta: dict | None = None):
        super().__init__()
        self.lm = lm
        self.meta = meta
        self.extra_meta = dict(extra_meta or {})

    @property
    def config(self):
        return self.lm.config

    def forward(self, input_ids, attention_mask=None, labels=None, loss_weights=None):
        from transformers.modeling_outputs import CausalLMOutput

        out = self.lm(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        logits = out.logits
        loss = None
        if labels is not None:
            y = labels[:, 1:]
            lg = logits[:, :-1].float()
            ce = torch.nn.functional.cross_entropy(
                lg.reshape(-1, lg.shape[-1]), y.reshape(-1), ignore_index=IGNORE_INDEX, reduction="none"
            ).view_as(y)
            w = (y != IGNORE_INDEX).float()
            if loss_weights is not None:
                w = w * loss_weights[:, 1:].float()
            loss = (ce * w).sum() / w.sum().clamp_min(1e-8)
        return CausalLMOutput(loss=loss, logits=logits)

    def save_pretrained(self, path, **kwargs) -> None:
        from pathlib import Path

        from genolm.atomic import atomic_write_json
        from genolm.llm.extend import META_FILE

        kwargs.pop("safe_serialization", None)  # transformers / peft always write safetensors
        self.lm.save_pretrained(path, **kwargs)
        atomic_write_json(Path(path) / META_FILE, {**self.meta, **self.extra_meta})


def build_lm(cfg: BiotokenPretrainConfig):
    """``(BiotokenCausalLM, tokenizer, meta)`` for ``cfg``: the extended model, LoRA applied."""
    from pathlib import Path

    from transformers import AutoTokenizer

    from genolm.llm.adapters import apply_lora
    from genolm.llm.extend import load_causal_lm, read_meta

    if not cfg.model:
        raise ConfigError("no model: give the extended model folder ('model:' or --model)")
    folder = Path(cfg.model)
    meta = read_meta(folder) if folder.is_dir() else None
    if meta is None:
        raise InputError(
            "not an extended model folder (no genolm_biotokens.json)",
            path=str(folder),
            hint=f"extend a base model first: genolm biotokens extend --base BASE --out {folder}",
        )
    if (folder / "adapter_config.json").is_file():
        raise InputError(
            "this is an adapter folder; continued pretraining starts from an extended model",
            path=str(folder),
            hint="pass the extended model folder (the adapter's base)",
        )
    tok = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=cfg.trust_remote_code)
    lm = load_causal_lm(str(folder), trust_remote_code=cfg.trust_remote_code, dtype="float32")
    lm.config.use_cache = False
    ids = [int(i) for i in meta["token_ids"]]
    extra: dict[str, Any] = {"trained_on": str(folder.resolve())}
    if cfg.lora:
        lm = apply_lora(
            lm,
            ids,
            new_tokens=cfg.new_tokens,
            r=cfg.lora_r,
            alpha=cfg.lora_alpha,
            dropout=cfg.lora_dropout,
            target_modules=list(cfg.lora_target_modules),
        )
        extra["lora"] = {"new_tokens": cfg.new_tokens, "r": cfg.lora_r, "alpha": cfg.lora_alpha}
    else:
        for p in lm.parameters():
            p.requires_grad_(True)
    return BiotokenCausalLM(lm, meta, extra), tok, meta


# --- the trainer --------------------------------------------------------------------------------


class BiotokenPretrainer(Pretrainer):
    """:class:`Pretrainer` with a biotoken LLM.  ``train_step``, ``evaluate``, ``save_checkpoint``
    and the data order are inherited unchanged; ``__init__``, the base-accuracy table and
    resuming (an adapter, not a full state dict) are this class's."""

    def __init__(self, cfg: BiotokenPretrainConfig, *, resume: bool = False):
        from genolm.train.corpus import load_contigs, make_windows
        from genolm.train.pretrain import DataOrder

        if not isinstance(cfg, BiotokenPretrainConfig):
            raise ConfigError("BiotokenPretrainer needs a BiotokenPretrainConfig")
        self._setup_engine(cfg)

        model, self.tok, self.meta = build_lm(cfg)
        spec = model.meta["spec"]
        self.contigs = load_contigs(cfg.corpus)
        # without a ∎N biotoken, windows holding N (or any ambiguity code) cannot be written: drop
        # them (counted in the start line's windows_dropped_for_N) rather than fail mid-run
        self.train_w, self.valid_w = make_windows(
            self.contigs,
            window=cfg.window,
            stride=cfg.stride or cfg.window,
            max_n_frac=cfg.max_n_frac if spec["include_n"] else 0.0,
            valid_contigs=cfg.valid_contigs,
            valid_fraction=cfg.valid_fraction if not cfg.valid_contigs else 0.0,
            short_contigs=cfg.short_contigs,
        )
        self.objective = "clm"
        kw = dict(template=cfg.template, add_bos=cfg.add_bos, loss_on=cfg.loss_on)
        self.builder = BiotokenExampleBuilder(
            self.tok, self.meta, softmask_weight=cfg.softmask_weight, rc_augment=cfg.rc_augment, **kw
        )
        self.valid_builder = BiotokenExampleBuilder(
            self.tok, self.meta, softmask_weight=cfg.softmask_weight, rc_augment=False, **kw
        )
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else self.tok.eos_token_id
        self.pad_id = pad if pad is not None else 0
        self.order = DataOrder(len(self.train_w), cfg.batch_size, cfg.seed)

        self.model = model
        self._setup_optimizer()
        if resume:
            self._load_latest()
        self.model, self.opt = self.acc.prepare(self.model, self.opt)
        self.n_params = sum(p.numel() for p in self.acc.unwrap_model(self.model).parameters())
        if self.acc.is_main_process:
            info = {
                "event": "llm",
                "model": str(cfg.model),
                "mode": "lora" if cfg.lora else "full",
                "new_tokens": cfg.new_tokens if cfg.lora else "full",
                "trainable_params": self.n_trainable,
                "biotokens": len(self.meta["tokens"]),
                "loss_on": cfg.loss_on,
            }
            print(json.dumps(info))

    def _char_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Each biotoken's bases (``∎ACG`` -> ``ACG``); every other token has length 0."""
        spec = self.meta["spec"]
        n = len(self.tok)
        Lmax = int(spec["k"])
        rows = max(n, self.acc.unwrap_model(self.model).lm.get_input_embeddings().weight.shape[0])
        table = np.zeros((rows, Lmax), dtype=np.uint8)
        lens = np.zeros(rows, dtype=np.int64)
        pre = spec["prefix"]
        for t, i in zip(self.meta["tokens"], self.meta["token_ids"]):
            bases = t[len(pre) :]
            table[int(i), : len(bases)] = np.frombuffer(bases.encode("ascii"), np.uint8)
            lens[int(i)] = len(bases)
        return table, lens

    def _load_latest(self) -> None:
        from safetensors.torch import load_file

        from genolm.train.pretrain import set_rng_state

        ck = self.latest_checkpoint()
        if ck is None:
            return
        state = self._checkpoint_state(ck)
        mdir = ck / "model"
        is_adapter = (mdir / "adapter_model.safetensors").is_file()
        if is_adapter != bool(self.cfg.lora):
            raise InputError(
                f"checkpoint holds {'a LoRA adapter' if is_adapter else 'a full model'} but the config says "
                f"lora: {str(self.cfg.lora).lower()}",
                path=str(ck),
                hint="resume with the config that wrote the checkpoint, or use a new out_dir",
            )
        lm = self.model.lm
        if is_adapter:
            from peft import set_peft_model_state_dict

            sd = load_file(str(mdir / "adapter_model.safetensors"))
            res = set_peft_model_state_dict(lm, sd)
            if res.unexpected_keys:
                raise InputError(
                    f"adapter weights do not match the model: unexpected {res.unexpected_keys[:3]}",
                    path=str(ck),
                    hint="resume with the config (lora_r, new_tokens, target modules) that wrote it",
                )
        else:
            sd = load_file(str(mdir / "model.safetensors"))
            missing, unexpected = lm.load_state_dict(sd, strict=False)
            tied = set(getattr(lm, "_tied_weights_keys", None) or [])
            if unexpected or [m for m in missing if m not in tied and "lm_head" not in m]:
                raise InputError(
                    f"checkpoint weights do not match the model: missing {missing[:3]}, unexpected {unexpected[:3]}",
                    path=str(ck),
                )
            if hasattr(lm, "tie_weights"):
                lm.tie_weights()
        self.opt.load_state_dict(torch.load(ck / "optimizer.pt", weights_only=True))
        self.sched.load_state_dict(torch.load(ck / "scheduler.pt", weights_only=True))
        self.step = int(state["step"])
        rngs = state["rng"]
        set_rng_state(rngs[min(self.acc.process_index, len(rngs) - 1)])
        self.resumed_from = ck


def continue_pretraining(
    cfg: BiotokenPretrainConfig, *, resume: bool = False, overwrite: bool = False
) -> dict[str, Any]:
    """Run continued pretraining; return the final metrics (``final_dir`` is the adapter or model).
    ``resume`` / ``overwrite``: as for :func:`genolm.train.pretrain.pretrain` (a non-empty
    ``out_dir`` needs one of them)."""
    from genolm.train.pretrain import pretrain

    return pretrain(cfg, resume=resume, overwrite=overwrite, trainer_cls=BiotokenPretrainer)
