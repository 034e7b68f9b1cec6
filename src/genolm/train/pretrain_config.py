"""The typed config of ``genolm pretrain`` (kept free of heavy imports for a fast ``--help``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from genolm.constants import PRECISIONS
from genolm.errors import ConfigError
from genolm.registry import check_choice


@dataclass
class PretrainConfig:
    """Everything ``genolm pretrain`` needs.  YAML keys are these field names."""

    corpus: list[str] = field(default_factory=list)  # FASTA/GenBank files
    out_dir: str = "runs/pretrain"
    # model
    model: str = "encoder"  # family in genolm.models.MODELS
    model_config: dict = field(default_factory=dict)  # passed to the family's config class
    objective: str | None = None  # "mlm" or "clm"; default is the family's
    # tokenizer: a scheme label ("char", "kmer6", "nt6", "codon", "bpe:vocab_size=512") or a saved folder
    tokenizer: str = "char"
    # data
    window: int = 512  # bp per window
    stride: int | None = None  # default is the window (no overlap)
    max_n_frac: float = 0.1
    short_contigs: str = "error"  # or "skip"
    valid_contigs: list[str] = field(default_factory=list)
    valid_fraction: float = 0.05
    rc_augment: bool = True
    softmask_weight: float = 0.1  # GPN down-weights soft-masked repeats in the loss
    mlm_probability: float = 0.15
    mask_span: int | None = None  # default: k for overlapping k-mers, else 1
    seq_len_warmup_start: int | None = None  # HyenaDNA: start with this many bp ...
    seq_len_warmup_steps: int = 0  # ... doubling every this many steps up to `window`
    # optimisation
    batch_size: int = 32  # global batch (sequences per optimizer step)
    grad_accum: int = 1
    max_steps: int = 1000
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    max_grad_norm: float = 1.0
    precision: str = "auto"  # "auto" (bf16 where supported), "bf16", "fp32"
    # torch.compile the model's blocks: "auto" (on a CPU with a C++ compiler, one process, >= 1000
    # max_steps and a family it speeds up; see genolm.train.pretrain.resolve_compile), "true", "false"
    compile: str = "auto"
    seed: int = 0
    # evaluation, checkpoints, logs
    eval_every: int = 200
    eval_batches: int = 8
    save_every: int = 200
    keep_checkpoints: int = 2
    log_every: int = 10
    tensorboard: bool = False
    progress: bool = True

    def __post_init__(self):
        check_choice("precision", self.precision, PRECISIONS)
        self.compile = str(self.compile).lower()  # YAML's true/false arrive as bools
        if self.compile not in ("auto", "true", "false"):
            raise ConfigError(f"compile must be auto, true or false, not {self.compile!r}")
        if self.objective not in (None, "mlm", "clm"):
            raise ConfigError(f"objective must be 'mlm' or 'clm', not {self.objective!r}")
        if self.short_contigs not in ("error", "skip"):
            raise ConfigError(f"short_contigs must be 'error' or 'skip', not {self.short_contigs!r}")
        if self.batch_size <= 0 or self.max_steps <= 0:
            raise ConfigError("batch_size and max_steps must be positive")
        # numeric ranges, checked here so that a bad value is named before any data is read
        # (a negative lr otherwise surfaces as torch's bare "Invalid learning rate")
        positive = ("lr", "window", "grad_accum", "eval_every", "eval_batches", "save_every", "log_every")
        for key in positive:
            if not getattr(self, key) > 0:  # `not >` also catches NaN
                raise ConfigError(f"config key '{key}' must be > 0, got {getattr(self, key)!r}")
        non_negative = ("weight_decay", "warmup_steps", "seq_len_warmup_steps", "softmask_weight")
        for key in non_negative:
            if not getattr(self, key) >= 0:
                raise ConfigError(f"config key '{key}' must be >= 0, got {getattr(self, key)!r}")
        for key in ("max_n_frac", "valid_fraction"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigError(f"config key '{key}' must be in [0, 1], got {getattr(self, key)!r}")
        if not 0 < self.mlm_probability <= 1:
            raise ConfigError(f"config key 'mlm_probability' must be in (0, 1], got {self.mlm_probability!r}")
        if not self.max_grad_norm > 0:
            raise ConfigError(f"config key 'max_grad_norm' must be > 0, got {self.max_grad_norm!r}")
        if self.keep_checkpoints < 1:
            raise ConfigError(f"config key 'keep_checkpoints' must be >= 1, got {self.keep_checkpoints!r}")
        for key in ("stride", "mask_span", "seq_len_warmup_start"):
            v = getattr(self, key)
            if v is not None and v <= 0:
                raise ConfigError(f"config key '{key}' must be > 0 (or unset), got {v!r}")
