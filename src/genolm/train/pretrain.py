"""``genolm pretrain``: pretrain a native model on FASTA/GenBank, on Accelerate, resumably.

Read top to bottom: the config, the data order, one optimisation step, validation,
checkpoints, then :func:`pretrain` which ties them together.

Determinism.  The data order of epoch ``e`` is a permutation seeded by ``(seed, e)``;
optimizer step ``s`` consumes global samples ``[s*B, (s+1)*B)`` of that order, split
evenly over processes and gradient-accumulation micro-steps.  Each sample's masking is
seeded by ``(seed, epoch, index)``.  The loss of a step is normalised by the *global*
(weighted) count of target tokens, so two processes give the gradients of one process
with the same global batch, and a resumed run reproduces the uninterrupted loss curve.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genolm.atomic import atomic_dir, atomic_write_json, atomic_write_text
from genolm.constants import IGNORE_INDEX
from genolm.errors import ConfigError, InputError
from genolm.infer import cpu_supports_bf16
from genolm.progress import progress_bar, track
from genolm.train.corpus import load_contigs, make_windows, window_text
from genolm.train.masking import ExampleBuilder, MaskingConfig, collate
from genolm.train.pretrain_config import PretrainConfig

log = logging.getLogger(__name__)

# --- helpers ------------------------------------------------------------------------------


#: ``compile: auto`` needs at least this many ``max_steps``: compiling the blocks takes ~15-60 s on
#: a 2-core CPU, which a step ~5-20% faster repays only over hundreds of steps (1M-parameter
#: models: about a thousand)
COMPILE_MIN_STEPS = 1000
#: families whose training step ``torch.compile`` (of the blocks) measurably speeds up on CPU
COMPILE_FAMILIES = ("encoder", "decoder", "hyena", "gpn", "gpn-rc")


def resolve_compile(setting: str, *, family: str, max_steps: int, processes: int, on_cpu: bool) -> bool:
    """Whether to ``torch.compile`` the model's blocks: ``setting`` is ``"true"``, ``"false"`` or ``"auto"``.

    ``auto`` compiles only where it was measured to pay (benchmarks/pretrain_throughput.py): on a
    Linux CPU with a C++ compiler for inductor, in one process, for a family of
    :data:`COMPILE_FAMILIES`, and for runs of at least :data:`COMPILE_MIN_STEPS` steps.  It
    depends on the config alone, not on the step a run resumes from, so a resumed run makes
    the same choice as the run it continues.
    """
    if setting != "auto":
        return setting == "true"
    import shutil
    import sys

    compiler = any(shutil.which(c) for c in ("g++", "c++", "clang++"))
    return (
        on_cpu
        and sys.platform.startswith("linux")
        and compiler
        and processes == 1
        and family in COMPILE_FAMILIES
        and max_steps >= COMPILE_MIN_STEPS
    )


def compile_blocks(model: torch.nn.Module) -> tuple[torch.nn.Module, ...]:
    """``torch.compile`` every block of the backbone in place (``nn.Module.compile``).

    The blocks share one compiled graph (same code, parameters as inputs), forward and backward
    fuse the layer norms, activations, bias adds, residuals, softmax and dtype casts around the
    matmuls, and parameter names (so checkpoints) do not change.  A model without ``layers``
    compiles as a whole.
    """
    backbone = getattr(model, getattr(model, "base_model_prefix", ""), model)
    blocks = tuple(getattr(backbone, "layers", None) or (model,))
    for b in blocks:
        b.compile()
    return blocks


def load_tokenizer(spec: str, corpus: list[str], out_dir: Path):
    """A tokenizer from a scheme label or a saved folder; BPE is learned from the corpus."""
    if Path(spec).is_dir():
        from transformers import AutoTokenizer

        import genolm.tokenizers  # noqa: F401  (registers the classes with AutoTokenizer)

        return AutoTokenizer.from_pretrained(spec)
    from genolm.tokenizers.schemes import build_scheme, parse_scheme

    _, name, kwargs = parse_scheme(spec)
    return build_scheme(name, kwargs, train_files=corpus)


def _rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "torch": torch.get_rng_state().tolist()}


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))


def _release_accelerator_state(mixed_precision: str) -> None:
    """Let a second run in one process use another precision.

    Accelerate keeps its state in a process-wide singleton and refuses a second
    ``Accelerator(mixed_precision=...)`` that differs from the first ("AcceleratorState has already
    been initialized").  A single process (a notebook, the Python API, a test session) that pretrains
    twice, once in bf16 and once in fp32, would hit that.  Under a distributed launch the state
    belongs to the launcher and is left alone.
    """
    from accelerate.state import AcceleratorState

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 or not AcceleratorState._shared_state:
        return
    if str(AcceleratorState().mixed_precision) != mixed_precision:
        AcceleratorState._reset_state(reset_partial_state=True)


class DataOrder:
    """Which training windows form global step ``s`` (see the module docstring)."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.B, self.seed = n, batch_size, seed
        self._perm_epoch, self._perm = -1, None

    def _perm_of(self, epoch: int) -> np.ndarray:
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            self._perm_epoch = epoch
        return self._perm

    def step(self, s: int) -> list[tuple[int, int]]:
        """``[(epoch, window index), ...]`` of global step ``s``, length ``batch_size``."""
        out = []
        for g in range(s * self.B, (s + 1) * self.B):
            epoch, pos = divmod(g, self.n)
            out.append((epoch, int(self._perm_of(epoch)[pos])))
        return out


# --- the run ------------------------------------------------------------------------------


class Pretrainer:
    #: the compiled blocks (empty: eager); subclasses that build their own model keep the default
    compiled: tuple[torch.nn.Module, ...] = ()
    _compile_unproven = False  # True until a compiled training step has run through once

    def __init__(self, cfg: PretrainConfig, *, resume: bool = False):
        from genolm.models import MODELS, build_model

        self._setup_engine(cfg)

        # data
        self.contigs = load_contigs(cfg.corpus)
        self.train_w, self.valid_w = make_windows(
            self.contigs,
            window=cfg.window,
            stride=cfg.stride or cfg.window,
            max_n_frac=cfg.max_n_frac,
            valid_contigs=cfg.valid_contigs,
            valid_fraction=cfg.valid_fraction if not cfg.valid_contigs else 0.0,
            short_contigs=cfg.short_contigs,
        )
        tok_dir = self.out / "tokenizer"
        if resume and tok_dir.is_dir():
            self.tok = load_tokenizer(str(tok_dir), cfg.corpus, self.out)
        else:
            self.tok = load_tokenizer(cfg.tokenizer, cfg.corpus, self.out)
        entry = MODELS.get(cfg.model)
        self.objective = cfg.objective or entry.objective
        span = cfg.mask_span or (
            int(getattr(self.tok, "k", 1)) if getattr(self.tok, "scheme", "") == "kmer" else 1
        )
        mcfg = MaskingConfig(
            objective=self.objective,
            mlm_probability=cfg.mlm_probability,
            span=span,
            softmask_weight=cfg.softmask_weight,
            rc_augment=cfg.rc_augment,
        )
        self.builder = ExampleBuilder(self.tok, mcfg)
        self.valid_builder = ExampleBuilder(self.tok, MaskingConfig(**{**mcfg.__dict__, "rc_augment": False}))
        self.pad_id = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        self.order = DataOrder(len(self.train_w), cfg.batch_size, cfg.seed)

        # model and optimiser
        # vocab size, pad/mask ids (and gpn-rc's nucleotide ids) come from the tokenizer
        self.model = build_model(cfg.model, head="lm", tokenizer=self.tok, **cfg.model_config)
        self._setup_optimizer()
        if resume:
            self._load_latest()
        on_cpu = self.acc.device.type == "cpu"
        if resolve_compile(
            cfg.compile, family=cfg.model, max_steps=cfg.max_steps, processes=self.world, on_cpu=on_cpu
        ):
            self.compiled = compile_blocks(self.model)
            self._compile_unproven = cfg.compile == "auto"
        self.model, self.opt = self.acc.prepare(self.model, self.opt)
        self.n_params = sum(p.numel() for p in self.acc.unwrap_model(self.model).parameters())

    def _lr_lambda(self, s: int) -> float:
        w = self.cfg.warmup_steps
        if s < w:
            return (s + 1) / w
        progress = (s - w) / max(1, self.cfg.max_steps - w)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    def _cur_len(self) -> int:
        c = self.cfg
        if not c.seq_len_warmup_start or not c.seq_len_warmup_steps:
            return c.window
        return min(c.window, c.seq_len_warmup_start * 2 ** (self.step // c.seq_len_warmup_steps))

    # -- one step --------------------------------------------------------------------------

    def _micro_batches(self, step: int) -> list[dict[str, torch.Tensor]]:
        items = self.order.step(step)
        r = self.acc.process_index
        per_rank = len(items) // self.world
        mine = items[r * per_rank : (r + 1) * per_rank]
        L = self._cur_len()
        exs = []
        for epoch, wi in mine:
            rng = np.random.default_rng([self.cfg.seed, epoch, wi, 1])
            exs.append(self.builder.build(window_text(self.contigs, self.train_w, wi, L), rng))
        return [collate(exs[i : i + self.micro], self.pad_id) for i in range(0, len(exs), self.micro)]

    def _weight_count(self, batch) -> torch.Tensor:
        """The weighted number of targets the model's loss averages over (CLM: positions 1..T-1)."""
        w, y = batch["loss_weights"], batch["labels"]
        if self.objective == "clm":
            w, y = w[:, 1:], y[:, 1:]
        return (w * (y != IGNORE_INDEX)).sum()

    def _setup_engine(self, cfg) -> None:
        """Config, output folder, precision, the Accelerator, the seed and the per-process
        micro-batch: what every trainer on this loop sets up first (subclasses included)."""
        from accelerate import Accelerator
        from accelerate.utils import set_seed

        self.cfg = cfg
        self.out = Path(cfg.out_dir)
        if not cfg.corpus:
            raise ConfigError("no corpus: give 'corpus: [genome.fa, ...]' in the config or --corpus")
        precision = cfg.precision
        if precision == "auto":
            precision = "bf16" if cpu_supports_bf16() else "fp32"
        self.precision = precision
        # cpu=True where there is no accelerator: only then does Accelerate set up gloo DDP
        # for several CPU processes under torchrun / accelerate launch
        no_accel = not (torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available()))
        mixed = "bf16" if precision == "bf16" else "no"
        _release_accelerator_state(mixed)
        self.acc = Accelerator(mixed_precision=mixed, cpu=no_accel)
        set_seed(cfg.seed)
        self.world = self.acc.num_processes
        if cfg.batch_size % (self.world * cfg.grad_accum):
            raise ConfigError(
                f"batch_size {cfg.batch_size} must be divisible by processes ({self.world}) x grad_accum ({cfg.grad_accum})"
            )
        self.micro = cfg.batch_size // (self.world * cfg.grad_accum)

    def _setup_optimizer(self) -> None:
        """Fused AdamW over ``self.model``'s trainable parameters (no decay on vectors), the LR
        schedule, and step 0."""
        cfg = self.cfg
        trainable = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        self.n_trainable = sum(p.numel() for _, p in trainable)
        decay = [p for _, p in trainable if p.ndim >= 2]
        no_decay = [p for _, p in trainable if p.ndim < 2]
        self.opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=cfg.lr,
            betas=(0.9, 0.98),
            fused=True,  # one kernel for all parameters: ~3.7x faster than foreach on this CPU
        )
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, self._lr_lambda)
        self.step = 0

    def train_step(self) -> dict[str, float]:
        """One optimizer step.  With ``compile: auto`` a first compiled step that fails (no working
        inductor toolchain, an unsupported op) is retried eagerly, with a warning, for the whole run."""
        if not self._compile_unproven:
            return self._train_step()
        try:
            out = self._train_step()
        except Exception as e:  # compilation runs inside the first forward and backward
            import warnings

            warnings.warn(
                f"compile: auto: torch.compile failed ({type(e).__name__}: {str(e)[:300]}); training eagerly",
                stacklevel=2,
            )
            for b in self.compiled:
                b._compiled_call_impl = None  # undoes nn.Module.compile()
            self.compiled = ()
            self.opt.zero_grad(set_to_none=True)
            out = self._train_step()
        self._compile_unproven = False
        return out

    def _train_step(self) -> dict[str, float]:
        self.model.train()
        batches = self._micro_batches(self.step)
        local = torch.stack([self._weight_count(b) for b in batches]).sum().to(self.acc.device)
        total = self.acc.reduce(local.clone(), reduction="sum").clamp_min(1e-8)
        loss_sum = torch.zeros((), device=self.acc.device)
        n_tok = 0
        for i, b in enumerate(batches):
            b = {k: v.to(self.acc.device) for k, v in b.items()}
            n_tok += int(b["attention_mask"].sum())
            last = i == len(batches) - 1
            ctx = self.acc.no_sync(self.model) if not last else _nullcontext()
            with ctx, self.acc.autocast():
                out = self.model(**b)
                # the model's loss is the weighted mean over this micro-batch; rescale it to
                # this micro-batch's share of the global weighted count (x world: DDP averages)
                scale = self._weight_count(b) / total * self.world
                loss = out.loss * scale
            self.acc.backward(loss)
            loss_sum += out.loss.detach() * self._weight_count(b)
        self.acc.clip_grad_norm_(self.model.parameters(), self.cfg.max_grad_norm)
        self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        self.step += 1
        gl = self.acc.reduce(loss_sum, reduction="sum") / total
        tokens = self.acc.reduce(torch.tensor(n_tok, device=self.acc.device), reduction="sum")
        return {"loss": float(gl), "tokens": int(tokens), "lr": self.sched.get_last_lr()[0]}

    # -- validation ------------------------------------------------------------------------

    def _char_table(self) -> tuple[np.ndarray, np.ndarray]:
        """(vocab, Lmax) ASCII table of each token's nucleotides and each token's length (0: not a base token)."""
        toks = self.tok.convert_ids_to_tokens(list(range(len(self.tok))))
        special = set(self.tok.all_special_tokens)
        Lmax = max((len(t) for t in toks if t not in special), default=1)
        table = np.zeros((len(toks), Lmax), dtype=np.uint8)
        lens = np.zeros(len(toks), dtype=np.int64)
        for i, t in enumerate(toks):
            if t in special or not t.isalpha():
                continue
            table[i, : len(t)] = np.frombuffer(t.upper().encode("ascii", "replace"), np.uint8)
            lens[i] = len(t)
        return table, lens

    def evaluate(self, *, progress: bool = False) -> dict[str, float]:
        """Validation loss, perplexity and nucleotide accuracy; compiled blocks run eagerly here
        (a few batches do not repay compiling an inference graph per eval shape).  ``progress``
        shows a bar (rate and ETA) over the evaluation batches on the main process."""
        if not self.compiled:
            return self._evaluate(progress=progress)
        with torch.compiler.set_stance("force_eager"):
            return self._evaluate(progress=progress)

    @torch.no_grad()
    def _evaluate(self, *, progress: bool = False) -> dict[str, float]:
        if len(self.valid_w) == 0:
            return {}
        model = self.model
        model.eval()
        table, lens = self._char_table()
        n = min(len(self.valid_w), self.cfg.eval_batches * self.micro * self.world)
        idx = np.arange(n)[self.acc.process_index :: self.world]
        loss_w = torch.zeros((), device=self.acc.device)
        wsum = torch.zeros((), device=self.acc.device)
        correct = torch.zeros((), device=self.acc.device, dtype=torch.float64)
        bases = torch.zeros((), device=self.acc.device, dtype=torch.float64)
        starts = track(
            range(0, len(idx), self.micro),
            "eval",
            unit="batch",
            leave=False,
            enabled=progress and self.acc.is_main_process,
        )
        for i in starts:
            exs = [
                self.valid_builder.build(
                    window_text(self.contigs, self.valid_w, int(j)),
                    np.random.default_rng([self.cfg.seed, int(j), 2]),
                )
                for j in idx[i : i + self.micro]
            ]
            b = {k: v.to(self.acc.device) for k, v in collate(exs, self.pad_id).items()}
            with self.acc.autocast():
                out = model(**b, return_full_logits=True) if self._accepts_full_logits() else model(**b)
            w = self._weight_count(b)
            loss_w += out.loss.float() * w
            wsum += w
            logits = out.logits
            labels = b["labels"]
            if self.objective == "clm":
                logits, labels = logits[:, :-1], labels[:, 1:]
            sel = labels != IGNORE_INDEX
            pred = (
                logits[sel].argmax(-1).cpu().numpy() if logits.dim() == 3 else logits.argmax(-1).cpu().numpy()
            )
            true = labels[sel].cpu().numpy()
            tl = lens[true]
            ok = tl > 0
            pos = np.arange(table.shape[1])[None, :] < tl[:, None]
            match = (table[pred] == table[true]) & pos
            correct += float(match[ok].sum())
            bases += float(tl[ok].sum())
        loss_w = self.acc.reduce(loss_w, reduction="sum")
        wsum = self.acc.reduce(wsum, reduction="sum").clamp_min(1e-8)
        correct = self.acc.reduce(correct, reduction="sum")
        bases = self.acc.reduce(bases, reduction="sum").clamp_min(1)
        vl = float(loss_w / wsum)
        return {"valid_loss": vl, "valid_ppl": math.exp(min(vl, 50)), "valid_nt_acc": float(correct / bases)}

    def _accepts_full_logits(self) -> bool:
        import inspect

        fwd = self.acc.unwrap_model(self.model).forward
        return "return_full_logits" in inspect.signature(fwd).parameters

    # -- checkpoints -----------------------------------------------------------------------

    @property
    def ckpt_root(self) -> Path:
        return self.out / "checkpoints"

    def save_checkpoint(self) -> Path | None:
        self.acc.wait_for_everyone()
        path = self.ckpt_root / f"step-{self.step:08d}"
        t0 = time.perf_counter()
        if self.acc.is_main_process:
            log.debug("saving checkpoint %s", path)
        # every process's RNG state is saved: dropout draws differ per rank
        from accelerate.utils import gather_object

        rng_all = gather_object([_rng_state()])
        if self.acc.is_main_process:
            with atomic_dir(path) as tmp:
                model = self.acc.unwrap_model(self.model)
                model.save_pretrained(tmp / "model", safe_serialization=True)
                self.tok.save_pretrained(tmp / "model")
                torch.save(self.opt.state_dict(), tmp / "optimizer.pt")
                torch.save(self.sched.state_dict(), tmp / "scheduler.pt")
                atomic_write_json(
                    tmp / "trainer_state.json",
                    {
                        "step": self.step,
                        "samples_seen": self.step * self.cfg.batch_size,
                        "model_type": model.config.model_type,
                        "model_family": self.cfg.model,
                        "world_size": self.world,
                        "rng": rng_all,
                    },
                )
            atomic_write_text(self.ckpt_root / "latest", path.name + "\n")
            ckpts = sorted(p for p in self.ckpt_root.glob("step-*") if p.is_dir())
            for old in ckpts[: -self.cfg.keep_checkpoints]:
                import shutil

                shutil.rmtree(old, ignore_errors=True)
            log.debug("saved checkpoint %s in %.1f s", path, time.perf_counter() - t0)
        self.acc.wait_for_everyone()
        return path

    def latest_checkpoint(self) -> Path | None:
        marker = self.ckpt_root / "latest"
        if marker.exists():
            p = self.ckpt_root / marker.read_text().strip()
            if p.is_dir():
                return p
        ckpts = sorted(p for p in self.ckpt_root.glob("step-*") if p.is_dir())
        return ckpts[-1] if ckpts else None

    def _checkpoint_state(self, ck: Path) -> dict:
        """``trainer_state.json`` of checkpoint ``ck``, refused when it holds another model type."""
        state = json.loads((ck / "trainer_state.json").read_text())
        want = self.model.config.model_type
        if state.get("model_type") != want:
            raise InputError(
                f"checkpoint is a '{state.get('model_type')}' model but this config builds '{want}'",
                path=str(ck),
                hint="resume with the config that wrote the checkpoint, or use a new out_dir",
            )
        return state

    def _load_latest(self) -> None:
        from safetensors.torch import load_file

        ck = self.latest_checkpoint()
        if ck is None:
            return  # --resume with nothing to resume from starts fresh (logged by the caller)
        state = self._checkpoint_state(ck)
        ck_cfg = json.loads((ck / "model" / "config.json").read_text())
        mine = self.model.config.to_dict()
        diffs = [
            k
            for k in (
                "hidden_size",
                "num_hidden_layers",
                "num_layers",
                "vocab_size",
                "intermediate_size",
                "d_model",
            )
            if k in ck_cfg and k in mine and ck_cfg[k] != mine[k]
        ]
        if diffs:
            raise InputError(
                "checkpoint architecture differs from the config: "
                + ", ".join(f"{k} {ck_cfg[k]} vs {mine[k]}" for k in diffs),
                path=str(ck),
                hint="resume with the config that wrote the checkpoint, or use a new out_dir",
            )
        sd = load_file(str(ck / "model" / "model.safetensors"))
        missing, unexpected = self.model.load_state_dict(sd, strict=False)
        tied = set(getattr(self.model, "_tied_weights_keys", None) or [])
        if unexpected or [m for m in missing if m not in tied]:
            raise InputError(
                f"checkpoint weights do not match the model: missing {missing[:3]}, unexpected {unexpected[:3]}",
                path=str(ck),
            )
        if hasattr(self.model, "tie_weights"):
            self.model.tie_weights()
        self.opt.load_state_dict(torch.load(ck / "optimizer.pt", weights_only=True))
        self.sched.load_state_dict(torch.load(ck / "scheduler.pt", weights_only=True))
        self.step = int(state["step"])
        rngs = state["rng"]
        set_rng_state(rngs[min(self.acc.process_index, len(rngs) - 1)])
        self.resumed_from = ck


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after ``step`` (by a run that was killed before its next checkpoint)."""
    if not path.exists():
        return
    keep = [
        ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln).get("step", 0) <= step
    ]
    atomic_write_text(path, "".join(k + "\n" for k in keep))


def prepare_out_dir(
    out_dir: str | Path, *, resume: bool, overwrite: bool, main_process: bool = True
) -> Path | None:
    """Make ``out_dir`` ready for a run, or refuse.

    Policy: a run writes into an empty (or new) folder.  A non-empty one is refused unless
    ``resume`` (continue the run in it) or ``overwrite`` (replace its contents): a fresh run into
    a finished run's folder would otherwise mix the two (one metrics log, checkpoints of both).
    Temporaries of a checkpoint write that was killed are removed first, with a warning
    (:func:`genolm.atomic.remove_stale_temps`).  Only the main process moves anything.

    With ``overwrite`` the old contents are moved aside (a hidden sibling folder), not deleted:
    the caller deletes them with :func:`discard_old_run` once the new run has started, or puts
    them back with :func:`restore_old_run` when it could not start (a bad model name, a corpus
    that is missing), so a run that fails at once never costs the earlier one.  Returns that
    sibling folder, or ``None``.
    """
    from genolm.atomic import ensure_dir, remove_stale_temps

    out = Path(out_dir)
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other: choose one")
    if out.exists() and not out.is_dir():
        raise InputError("out_dir is a file, not a folder", path=str(out), hint="give a folder path")
    if main_process and out.is_dir():
        for folder in (out, out / "checkpoints"):
            remove_stale_temps(folder)
    old = None
    if out.is_dir() and any(out.iterdir()) and not resume:
        if not overwrite:
            raise InputError(
                "out_dir is not empty: it holds an earlier run",
                path=str(out),
                hint="continue that run with --resume, delete it with --overwrite, or give another --out folder",
            )
        if main_process:
            old = out.with_name(f".{out.name}.overwritten")
            if old.exists():  # left by a process killed between the move and the delete
                shutil.rmtree(old)
            log.warning("--overwrite: replacing the contents of %s", out)
            out.rename(old)
    if main_process:
        ensure_dir(out, what="out_dir")
    return old


def discard_old_run(old: Path | None) -> None:
    """Delete the contents :func:`prepare_out_dir` moved aside (the new run has started)."""
    if old is not None and old.exists():
        shutil.rmtree(old)


def restore_old_run(out_dir: str | Path, old: Path | None) -> None:
    """Put back the contents :func:`prepare_out_dir` moved aside (the new run did not start)."""
    if old is None or not old.exists():
        return
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    old.rename(out)


def pretrain(
    cfg: PretrainConfig, *, resume: bool = False, overwrite: bool = False, trainer_cls=None
) -> dict[str, Any]:
    """Run pretraining; return the final metrics.  See :class:`PretrainConfig`.

    ``out_dir`` must be empty or new, unless ``resume`` continues the run in it or ``overwrite``
    deletes its contents first (see :func:`prepare_out_dir`).

    ``trainer_cls`` replaces :class:`Pretrainer` (a subclass with the same attributes: the
    biotoken LLM trainer of :mod:`genolm.llm.pretrain` reuses this loop, its checkpoints and logs)."""
    import os

    from transformers.utils import logging as hf_logging

    from genolm.config import dump_yaml

    # before the trainer (and its Accelerator) exists: the launcher's RANK tells the main process;
    # the others only check (they cannot write before the process group's rendezvous)
    old = prepare_out_dir(
        cfg.out_dir, resume=resume, overwrite=overwrite, main_process=int(os.environ.get("RANK", "0")) == 0
    )
    hf_logging.disable_progress_bar()  # one "Writing model shards" bar per checkpoint is noise
    try:
        pt = (trainer_cls or Pretrainer)(cfg, resume=resume)
    except BaseException:
        restore_old_run(cfg.out_dir, old)  # --overwrite never costs a run that could not start
        raise
    discard_old_run(old)
    acc = pt.acc
    out = pt.out
    log_path = out / "metrics.jsonl"
    if acc.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        dump_yaml(cfg, out / "config.yaml")
        if pt.step == 0 and not resume:
            atomic_write_text(log_path, "")
        else:
            _truncate_log(log_path, pt.step)
        if not (out / "tokenizer").is_dir():
            pt.tok.save_pretrained(out / "tokenizer")
        info = {
            "event": "start",
            "step": pt.step,
            "params": pt.n_params,
            "precision": pt.precision,
            "compiled": bool(pt.compiled),
            "processes": pt.world,
            "train_windows": len(pt.train_w),
            "valid_windows": len(pt.valid_w),
            "windows_dropped_for_N": pt.train_w.n_dropped_n + pt.valid_w.n_dropped_n,
            "skipped_contigs": pt.train_w.skipped_contigs,
            "resumed_from": str(getattr(pt, "resumed_from", "")) or None,
        }
        print(json.dumps(info))
    tb = None
    if cfg.tensorboard and acc.is_main_process:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise ConfigError(
                "tensorboard: true needs the tensorboard package: pip install tensorboard"
            ) from e
        tb = SummaryWriter(str(out / "tensorboard"))

    def write_metrics(rec: dict[str, Any]) -> None:
        if not acc.is_main_process:
            return
        with open(log_path, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        if tb is not None:
            for k, v in rec.items():
                if isinstance(v, int | float) and k != "step":
                    tb.add_scalar(k, v, rec["step"])

    bar = progress_bar(
        cfg.max_steps, "pretrain", unit="step", initial=pt.step, enabled=cfg.progress and acc.is_main_process
    )
    t0 = time.perf_counter()
    # tokens/s counts training steps only: evaluation and checkpoint time are excluded
    tok_since, train_s = 0, 0.0
    last: dict[str, Any] = {}
    while pt.step < cfg.max_steps:
        t_step = time.perf_counter()
        m = pt.train_step()
        train_s += time.perf_counter() - t_step
        tok_since += m["tokens"]
        rec = {"step": pt.step, "loss": m["loss"], "lr": m["lr"], "seq_len_bp": pt._cur_len()}
        if pt.step % cfg.log_every == 0 or pt.step == cfg.max_steps:
            rec["tokens_per_s"] = tok_since / max(train_s, 1e-9)
            tok_since, train_s = 0, 0.0
        final = pt.step == cfg.max_steps
        if final and bar is not None:  # the last step is done: close the bar before the final eval's lines
            bar.update(1)
            bar.close()
            bar = None
        if pt.step % cfg.eval_every == 0 or final:
            if final and acc.is_main_process and len(pt.valid_w):
                log.info("pretrain: final evaluation on the validation windows ...")
            t_eval = time.perf_counter()
            rec.update(pt.evaluate(progress=final and cfg.progress))
            if final and "valid_loss" in rec and acc.is_main_process:
                log.info(
                    "pretrain: valid_loss %.4f, nt accuracy %.4f (%.1f s)",
                    rec["valid_loss"],
                    rec["valid_nt_acc"],
                    time.perf_counter() - t_eval,
                )
        write_metrics(rec)
        last = rec
        if bar is not None:
            bar.update(1)
            post = {"loss": f"{m['loss']:.3f}"}
            if "tokens_per_s" in rec:
                post["tok/s"] = f"{rec['tokens_per_s']:.0f}"
            bar.set_postfix(post)
        if pt.step % cfg.save_every == 0 or final:
            if final and acc.is_main_process:
                log.info("pretrain: saving the last checkpoint to %s ...", pt.ckpt_root)
            pt.save_checkpoint()
    if bar is not None:
        bar.close()
    final_dir = out / "final"
    if acc.is_main_process:
        t_save = time.perf_counter()
        log.info("pretrain: saving the final model to %s ...", final_dir)
        with atomic_dir(final_dir) as tmp:
            acc.unwrap_model(pt.model).save_pretrained(tmp, safe_serialization=True)
            pt.tok.save_pretrained(tmp)
        log.info("pretrain: saved %s in %.1f s", final_dir, time.perf_counter() - t_save)
    if tb is not None:
        tb.close()
    acc.wait_for_everyone()
    last["wall_s"] = time.perf_counter() - t0
    last["final_dir"] = str(final_dir)
    return last
