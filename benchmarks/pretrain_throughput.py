"""Pretraining throughput on this CPU: genolm's trainer beside Hugging Face's, in one run.

Measures (writes benchmarks/results/pretrain_throughput.json and .md):
1. the matmul peak, fp32 and bf16 (``torch.matmul`` on 2048^2 and 4096^2, all cores), at the start,
   after the family sweep and at the end; and a bf16 2048^2 probe in every round of the sweep,
   just before the 10M encoder's steps (``paired``: the same contention hits both);
2. training tokens/s of every family at ~1M and ~10M parameters through genolm's trainer
   (``Pretrainer.train_step``: data, forward, backward, clipping, fused AdamW; batch of 8
   char-tokenized 512-bp E. coli K-12 windows = 8 x 513 tokens with [SEP]; bf16 autocast) with
   the defaults (``attention: auto``, ``compile: auto``), with ``compile: false``, and for the
   10M models as the previous release ran them (SDPA attention, the conv1d Hyena short filter, no
   compile); model FLOP/s as a fraction of the bf16 peak; and (``isolated``) the 10M encoder,
   decoder and Hyena before/after again, each family in a child process of its own;
3. the 10M encoder in fp32 vs bf16, and with OpenMP threads spinning (``OMP_WAIT_POLICY=ACTIVE``,
   the default) vs sleeping (``PASSIVE``), in child processes;
4. the same BERT architecture as stock ``BertForMaskedLM`` trained by the HF ``Trainer`` (SDPA
   attention, its default; eager attention; eager + ``torch_compile=True``) vs genolm's trainer
   (defaults, and the previous release's SDPA without compile): same windows, batch, masking
   rate (15%, 80/10/10), bf16 autocast, fused AdamW, clipping at 1.0, threads; at ~10M
   parameters, then again at ~1M (genolm defaults vs the three HF arms);
5. long context: time and peak memory of one batch-1 training step of hyena vs the attention
   decoder (both ~1M parameters) from 1k to 32k nucleotides, with log-log scaling exponents.

FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` counts the matmuls and convolutions of one
forward pass on the real batch (MLM heads only at the masked positions, as genolm runs them, but
the encoder's last block at every position, as in the dense model; compiled blocks run eagerly for the count, and attention runs SDPA, as it does without
gradients); training FLOPs are 3x that (backward = 2x forward), plus 12*L*T*H per token for
attention, which FlopCounterMode does not see on CPU (``_scaled_dot_product_flash_attention_for_cpu``);
the causal decoder is charged the same 12*L*T*H (PaLM's convention).  Hyena's FFT long
convolutions and its short filter (multiply-adds) are not counted.  6*N per token is reported
beside it.

The machine is shared: every comparison is interleaved (A B A B), per-step times keep the best
and the median, ``os.getloadavg()`` is recorded, and the ratios are what to quote.  OpenMP
threads are told to sleep when idle (``OMP_WAIT_POLICY=PASSIVE``, unless already set): with
spinning threads on an oversubscribed machine every parallel region waits for a descheduled
peer, which section 3 measures.  Memory is the peak RSS of a child process per measurement
(``VmHWM``, reset through ``/proc/self/clear_refs`` just before the step), above its RSS then.
All compiled models share this process, so dynamo is set to compile every model's own static
graph (``automatic_dynamic_shapes`` off, a higher recompile limit), as a run of one model would.

Run: python benchmarks/pretrain_throughput.py [--quick] [--threads N] [--only SECTION,...]
(sections: families, isolated, precision, one-thread, hf, long, optimizer; the matmul peak always runs;
--only keeps the other sections of the existing JSON, each with the date it was measured).
"""

from __future__ import annotations

import os
import sys

# benchmarks/tokenize.py shadows the standard library's `tokenize` (imported by linecache, torch...):
# move the script's folder from the front of sys.path to the back.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.append(sys.path.pop(0))

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when torch loads OpenMP

import argparse  # noqa: E402
import contextlib  # noqa: E402
import datetime  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402

from _common import RESULTS, shared, write_result  # noqa: E402

BATCH = 8  # windows per step: 8 x 513 tokens
WINDOW = 512
MLM_PROBABILITY = 0.15
#: (family, size label) -> model config; parameter counts are measured and reported
SIZES = {
    ("encoder", "1M"): dict(hidden_size=128, num_hidden_layers=5, num_attention_heads=2),
    ("encoder", "10M"): dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=6),
    ("gpn", "1M"): dict(hidden_size=128, num_hidden_layers=6),
    ("gpn", "10M"): dict(hidden_size=384, num_hidden_layers=7),
    ("gpn-rc", "1M"): dict(hidden_size=256, num_hidden_layers=6),
    ("gpn-rc", "10M"): dict(hidden_size=768, num_hidden_layers=7),
    ("hyena", "1M"): dict(hidden_size=128, num_hidden_layers=5),
    ("hyena", "10M"): dict(hidden_size=384, num_hidden_layers=6),
    ("decoder", "1M"): dict(hidden_size=128, num_hidden_layers=5, num_attention_heads=2),
    ("decoder", "10M"): dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=6),
}
#: the 10M encoder as BERT builds it (GELU, learned positions, post-LN, 4H MLP): matches BertForMaskedLM
BERT_DIMS = dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=6, intermediate_size=1536)
BERT_LIKE = dict(**BERT_DIMS, activation="gelu", position_embedding="learned", norm_position="post")
#: the ~1M encoder (SIZES' dims, BERT's 4H MLP) for the second HF Trainer comparison
BERT_DIMS_1M = dict(hidden_size=128, num_hidden_layers=5, num_attention_heads=2, intermediate_size=512)
BERT_LIKE_1M = dict(**BERT_DIMS_1M, activation="gelu", position_embedding="learned", norm_position="post")
LONG_LENGTHS = (1024, 2048, 4096, 8192, 16384, 32768)
SECTIONS = ("families", "isolated", "precision", "one-thread", "hf", "long", "optimizer")


def configure_dynamo() -> None:
    """Every compiled model in this process gets its own static graphs, as in a one-model run."""
    import torch._dynamo

    cfg = torch._dynamo.config
    cfg.automatic_dynamic_shapes = False
    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(cfg, name):
            setattr(cfg, name, max(getattr(cfg, name), 64))


_SCRATCH: list[str] = []


def scratch_dir() -> str:
    """A fresh folder for a run's (unused) outputs, inside one temporary root removed at exit."""
    if not _SCRATCH:
        import atexit
        import shutil

        _SCRATCH.append(tempfile.mkdtemp(prefix="genolm-bench-"))
        atexit.register(shutil.rmtree, _SCRATCH[0], True)
    return tempfile.mkdtemp(dir=_SCRATCH[0])


def ecoli() -> str:
    return str(shared("genomes", "ecoli_K12_MG1655.fasta.gz"))


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def summary(xs: list[float]) -> dict:
    return {"best": min(xs), "median": statistics.median(xs), "n": len(xs)}


def loglog_slope(x: list[float], y: list[float]) -> float | None:
    if len(x) < 2:
        return None
    lx, ly = [math.log(v) for v in x], [math.log(v) for v in y]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


# --- 1. matmul peak ---------------------------------------------------------------------------


def matmul_peak(sizes: tuple[int, ...], repeats: int) -> dict:
    """Best-of GFLOP/s of ``a @ b`` per dtype and size, fp32 and bf16 interleaved."""
    import torch

    out = {}
    mats = {
        (n, dt): (torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt))
        for n in sizes
        for dt in (torch.float32, torch.bfloat16)
    }
    for a, b in mats.values():
        a @ b  # warm-up (packing buffers, thread pool)
    best = {k: float("inf") for k in mats}
    best_cpu = {k: float("inf") for k in mats}
    for _ in range(repeats):
        for k, (a, b) in mats.items():
            t, c = time.perf_counter(), time.process_time()
            a @ b
            best[k] = min(best[k], time.perf_counter() - t)
            best_cpu[k] = min(best_cpu[k], time.process_time() - c)
    for (n, dt), s in best.items():
        name = "bf16" if dt == torch.bfloat16 else "fp32"
        out[f"{name}_{n}_gflops"] = 2 * n**3 / s / 1e9
        out[f"{name}_{n}_gflops_per_cpu_s"] = 2 * n**3 / best_cpu[(n, dt)] / 1e9
    for name in ("fp32", "bf16"):
        out[f"{name}_gflops"] = max(out[f"{name}_{n}_gflops"] for n in sizes)
        out[f"{name}_gflops_per_cpu_s"] = max(out[f"{name}_{n}_gflops_per_cpu_s"] for n in sizes)
    out["bf16_over_fp32"] = out["bf16_gflops"] / out["fp32_gflops"]
    out["loadavg"] = load()
    return out


class PeakProbe:
    """Best-of-3 bf16 ``2048^2 @ 2048^2`` GFLOP/s, measured in every round next to a runner's steps."""

    label = "bf16 matmul probe"

    def __init__(self, n: int = 2048):
        import torch

        self.a, self.b = (torch.randn(n, n, dtype=torch.bfloat16) for _ in range(2))
        self.flops = 2 * n**3
        self.rounds: list[float] = []

    def run(self, n: int, record: bool = True) -> None:
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            self.a @ self.b
            best = min(best, time.perf_counter() - t)
        if record:
            self.rounds.append(self.flops / best / 1e9)


# --- 2. genolm trainer runs -------------------------------------------------------------------


def model_flops_per_token(pt, attention_layers: int, seq_len: int, hidden: int) -> dict:
    """Training FLOPs per token of one step of ``pt`` (see the module docstring)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    b = pt._micro_batches(pt.step)[0]
    tokens = int(b["attention_mask"].sum())
    model = pt.acc.unwrap_model(pt.model)
    # the encoder's last block counted at every position: model FLOPs of the dense network, so
    # that its sparse last block (~11% fewer FLOPs executed) shows up as tokens/s, not as fewer FLOPs
    sparse = getattr(model.config, "sparse_last_block", None)
    if sparse is not None:
        model.config.sparse_last_block = False
    try:
        with (
            torch.no_grad(),  # attention: auto runs SDPA here, which FlopCounterMode does not count on CPU
            torch.compiler.set_stance("force_eager"),
            FlopCounterMode(display=False) as fc,
            pt.acc.autocast(),
        ):
            model(**b)
    finally:
        if sparse is not None:
            model.config.sparse_last_block = sparse
    counts = fc.get_flop_counts().get("Global", {})
    bmm = sum(v for k, v in counts.items() if "bmm" in str(k))  # an eager attention path, if any
    counted = 3 * (fc.get_total_flops() - bmm) / tokens
    attn = 12 * attention_layers * seq_len * hidden
    n = sum(p.numel() for p in model.parameters())
    return {
        "flops_per_token": counted + attn,
        "matmul_conv_flops_per_token": counted,
        "attention_flops_per_token": attn,
        "six_n_per_token": 6 * n,
    }


def conv1d_short_filter(model) -> None:
    """The previous release's Hyena short filter (``nn.Conv1d`` forward) on every operator of ``model``."""
    import torch.nn.functional as F

    from genolm.models.hyena import CausalDepthwiseConv1d

    def forward(self, u):
        k = self.kernel_size[0]
        return F.conv1d(u, self.weight, self.bias, padding=k - 1, groups=self.groups)[..., : u.shape[-1]]

    for m in model.modules():
        if isinstance(m, CausalDepthwiseConv1d):
            m.forward = types.MethodType(forward, m)


class GenolmRunner:
    """One genolm ``Pretrainer`` on E. coli K-12; ``run(n)`` times ``n`` optimizer steps."""

    def __init__(
        self,
        label: str,
        family: str,
        model_config: dict,
        *,
        precision: str = "bf16",
        window: int = WINDOW,
        compile: str = "auto",
        variant: str = "default",
        size: str = "",
        conv1d: bool = False,
    ):
        from genolm.train.pretrain import Pretrainer
        from genolm.train.pretrain_config import PretrainConfig

        self.label, self.family, self.model_config = label, family, model_config
        self.variant, self.size, self.window = variant, size, window
        cfg = PretrainConfig(
            corpus=[ecoli()],
            out_dir=scratch_dir(),
            model=family,
            model_config=model_config,
            window=window,
            batch_size=BATCH,
            max_steps=10**6,
            warmup_steps=10,
            mlm_probability=MLM_PROBABILITY,
            precision=precision,
            compile=compile,
            progress=False,
            seed=0,
        )
        self.pt = Pretrainer(cfg)
        if conv1d:
            conv1d_short_filter(self.pt.acc.unwrap_model(self.pt.model))
        self.conv1d = conv1d
        self.precision = self.pt.precision
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.rounds: list[list[float]] = []  # wall seconds of the steps of each recorded run() call
        self.first_step_s: float | None = None  # includes compiling, when compiled
        self.tokens = 0

    def run(self, n: int, record: bool = True) -> None:
        walls = []
        for _ in range(n):
            t, c = time.perf_counter(), time.process_time()
            m = self.pt.train_step()
            w = time.perf_counter() - t
            if self.first_step_s is None:
                self.first_step_s = w
            if record:
                walls.append(w)
                self.wall.append(w)
                self.cpu.append(time.process_time() - c)
                self.tokens = m["tokens"]
        if record:
            self.rounds.append(walls)

    def attention_path(self) -> str | None:
        """Which attention kernel ``attention`` picks for this runner's training batches."""
        import torch

        from genolm.models.encoder import use_eager_attention

        cfg = self.pt.acc.unwrap_model(self.pt.model).config
        if self.family not in ("encoder", "decoder"):
            return None
        x = torch.empty(BATCH, self.tokens // BATCH, 1, requires_grad=True)
        with torch.enable_grad():
            eager = use_eager_attention(cfg.attention, x, cfg.num_attention_heads)
        return f"{cfg.attention} -> {'eager' if eager else 'sdpa'}"

    def result(self, threads: int) -> dict:
        cfg = self.pt.acc.unwrap_model(self.pt.model).config
        attn_layers = cfg.num_hidden_layers if self.family in ("encoder", "decoder") else 0
        T = self.tokens // BATCH
        fl = model_flops_per_token(self.pt, attn_layers, T, cfg.hidden_size)
        w, c = summary(self.wall), summary(self.cpu)
        tps = self.tokens / w["best"]
        return {
            "label": self.label,
            "family": self.family,
            "size": self.size,
            "variant": self.variant,
            "params": self.pt.n_params,
            "model_config": self.model_config,
            "window_bp": self.window,
            "precision": self.precision,
            "compiled": bool(self.pt.compiled),
            "attention": self.attention_path(),
            "hyena_short_filter": ("conv1d" if self.conv1d else "shifted")
            if self.family == "hyena"
            else None,
            "first_step_s": self.first_step_s,
            "tokens_per_step": self.tokens,
            "step_s": w,
            "step_cpu_s": c,
            "tokens_per_s": tps,
            "tokens_per_s_median": self.tokens / w["median"],
            "tokens_per_cpu_s": self.tokens / c["best"],
            **fl,
            "model_gflops": tps * fl["flops_per_token"] / 1e9,
            # per core-second: robust to time slicing by other users' processes
            "model_gflops_per_cpu_s": self.tokens / c["best"] * fl["flops_per_token"] / 1e9,
            "threads": threads,
        }


def add_pct(row: dict, peak: dict) -> dict:
    """``row`` with its model FLOP/s as a percentage of the bf16 matmul peak (wall and per CPU-second)."""
    row["pct_of_bf16_peak"] = 100 * row["model_gflops"] / peak["bf16_gflops"]
    row["pct_of_bf16_peak_per_cpu_s"] = 100 * row["model_gflops_per_cpu_s"] / peak["bf16_gflops_per_cpu_s"]
    return row


def interleave(runners, warmup: int, rounds: int, per_round: int) -> None:
    for r in runners:
        t = time.perf_counter()
        r.run(warmup, record=False)
        print(f"  warm-up {r.label}: {time.perf_counter() - t:.1f} s", flush=True)
    for i in range(rounds):
        for r in runners:
            r.run(per_round)
        print(f"  round {i + 1}/{rounds} done, load {load()}", flush=True)


# --- 4. the HF Trainer on the same architecture -------------------------------------------------


class HFRunner:
    """Stock ``BertForMaskedLM`` trained by ``transformers.Trainer`` (DataCollatorForLanguageModeling)."""

    def __init__(
        self,
        label: str,
        attn: str,
        windows: list[list[int]],
        tok,
        precision: str,
        torch_compile: bool = False,
        dims: dict | None = None,
    ):
        from transformers import (
            BertConfig,
            BertForMaskedLM,
            DataCollatorForLanguageModeling,
            Trainer,
            TrainerCallback,
            TrainingArguments,
        )

        self.label, self.attn, self.torch_compile = label, attn, torch_compile
        cfg = BertConfig(
            vocab_size=len(tok),
            max_position_embeddings=1024,
            pad_token_id=tok.pad_token_id,
            hidden_act="gelu",
            hidden_dropout_prob=0.0,  # genolm's default; the same work on both sides
            attention_probs_dropout_prob=0.0,
            **(dims or BERT_DIMS),
        )
        self.model = BertForMaskedLM._from_config(cfg, attn_implementation=attn)
        self.n_params = sum(p.numel() for p in self.model.parameters())
        ends: list[tuple[float, float]] = []
        self.ends = ends

        class Clock(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                ends.append((time.perf_counter(), time.process_time()))

        args = TrainingArguments(
            output_dir=scratch_dir(),
            use_cpu=True,
            bf16=precision == "bf16",
            per_device_train_batch_size=BATCH,
            max_steps=3,
            learning_rate=1e-3,
            weight_decay=0.01,
            adam_beta2=0.98,
            warmup_steps=10,
            max_grad_norm=1.0,
            logging_strategy="no",
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            dataloader_num_workers=0,
            torch_compile=torch_compile,
            seed=0,
        )
        self.optim = str(args.optim)
        self.trainer = Trainer(
            model=self.model,
            args=args,
            train_dataset=[{"input_ids": w} for w in windows],
            data_collator=DataCollatorForLanguageModeling(tok, mlm_probability=MLM_PROBABILITY),
            callbacks=[Clock()],
        )
        self.tokens = BATCH * len(windows[0])
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.first_step_s: float | None = None

    def run(self, n: int, record: bool = True) -> None:
        """One ``trainer.train()`` of ``n + 1`` steps; the first step (start-up) is not timed."""
        self.trainer.args.max_steps = n + 1
        self.ends.clear()
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the Trainer prints its summary per call
            self.trainer.train()
        if self.first_step_s is None:
            self.first_step_s = self.ends[0][0] - t
        if record:
            for (w0, c0), (w1, c1) in zip(self.ends, self.ends[1:]):
                self.wall.append(w1 - w0)
                self.cpu.append(c1 - c0)


def hf_windows() -> tuple[list[list[int]], object]:
    """512 training windows of E. coli K-12 as the HF collator takes them (char ids + [SEP])."""
    import numpy as np

    from genolm.tokenizers import get_tokenizer
    from genolm.train.corpus import load_contigs, make_windows, window_text

    tok = get_tokenizer("char")
    contigs = load_contigs([ecoli()])
    train_w, _ = make_windows(contigs, window=WINDOW, stride=WINDOW, valid_fraction=0.05)
    pick = np.random.default_rng(0).permutation(len(train_w))[:512]
    windows = [
        tok.build_inputs_with_special_tokens(tok.encode_array(window_text(contigs, train_w, int(i))).tolist())
        for i in pick
    ]
    return windows, tok


def run_hf_arms(arms: list, rounds: int, per_round: int) -> list[dict]:
    """Warm up every arm, interleave ``rounds`` of ``per_round`` steps, and return one row per arm
    with the first arm's (genolm defaults) speedup over each of the others."""
    for a in arms:
        t = time.perf_counter()
        a.run(1, record=False)  # warm-up (and compilation)
        print(f"  warm-up {a.label}: {time.perf_counter() - t:.1f} s", flush=True)
    for i in range(rounds):
        for a in arms:
            a.run(per_round)
        print(f"  round {i + 1}/{rounds} done, load {load()}", flush=True)
    rows = []
    for a in arms:
        w, c = summary(a.wall), summary(a.cpu)
        ours = isinstance(a, GenolmRunner)
        rows.append(
            {
                "label": a.label,
                "trainer": "genolm" if ours else "hf",
                "params": a.pt.n_params if ours else a.n_params,
                "optimizer": "torch.optim.AdamW (fused)" if ours else a.optim,
                "attention": a.attention_path() if ours else a.attn,
                "compiled": bool(a.pt.compiled) if ours else a.torch_compile,
                "first_step_s": a.first_step_s,
                "tokens_per_step": a.tokens,
                "step_s": w,
                "step_cpu_s": c,
                "tokens_per_s": a.tokens / w["best"],
                "tokens_per_s_median": a.tokens / w["median"],
                "tokens_per_cpu_s": a.tokens / c["best"],
            }
        )
    for r in rows[1:]:
        r["genolm_speedup_best"] = rows[0]["tokens_per_s"] / r["tokens_per_s"]
        r["genolm_speedup_median"] = rows[0]["tokens_per_s_median"] / r["tokens_per_s_median"]
        r["genolm_speedup_cpu_s"] = r["step_cpu_s"]["best"] / rows[0]["step_cpu_s"]["best"]
    return rows


def hf_comparison(quick: bool) -> dict:
    windows, tok = hf_windows()
    arms = [
        GenolmRunner("genolm trainer, genolm encoder (BERT layout), defaults", "encoder", BERT_LIKE),
        GenolmRunner(
            "genolm trainer, BERT layout, last block at every position (sparse_last_block: false)",
            "encoder",
            {**BERT_LIKE, "sparse_last_block": False},
            variant="dense last block",
        ),
        HFRunner("HF Trainer, BertForMaskedLM (sdpa, the default)", "sdpa", windows, tok, "bf16"),
        HFRunner("HF Trainer, BertForMaskedLM (eager)", "eager", windows, tok, "bf16"),
    ]
    if not quick:
        arms.insert(
            1,
            GenolmRunner(
                "genolm trainer, BERT layout, previous release (sdpa, no compile)",
                "encoder",
                {**BERT_LIKE, "attention": "sdpa", "sparse_last_block": False},
                compile="false",
                variant="before",
            ),
        )
        arms.append(
            HFRunner(
                "HF Trainer, BertForMaskedLM (eager, torch_compile=True)", "eager", windows, tok, "bf16", True
            )
        )
    rows = run_hf_arms(arms, *((1, 1) if quick else (4, 2)))
    del arms  # free the 10M models before the 1M ones
    # the same comparison at ~1M parameters (SIZES' 1M encoder dims), where per-step overheads weigh more
    small = [
        GenolmRunner("genolm trainer, 1M BERT layout, defaults", "encoder", BERT_LIKE_1M, size="1M"),
        HFRunner(
            "HF Trainer, 1M BertForMaskedLM (sdpa, the default)",
            "sdpa",
            windows,
            tok,
            "bf16",
            dims=BERT_DIMS_1M,
        ),
        HFRunner("HF Trainer, 1M BertForMaskedLM (eager)", "eager", windows, tok, "bf16", dims=BERT_DIMS_1M),
    ]
    if not quick:
        small.append(
            HFRunner(
                "HF Trainer, 1M BertForMaskedLM (eager, torch_compile=True)",
                "eager",
                windows,
                tok,
                "bf16",
                True,
                dims=BERT_DIMS_1M,
            )
        )
    small_rows = run_hf_arms(small, *((1, 2) if quick else (4, 6)))
    hf_default = next(r for r in rows if r["label"].startswith("HF Trainer, BertForMaskedLM (sdpa"))
    hf_default_1m = small_rows[1]
    return {
        "architecture": {**BERT_DIMS, "activation": "gelu", "positions": "learned", "norm": "post"},
        "architecture_1m": {**BERT_DIMS_1M, "activation": "gelu", "positions": "learned", "norm": "post"},
        "batch": f"{BATCH} x {len(windows[0])} tokens",
        "precision": "bf16 autocast on both",
        "masking": f"{MLM_PROBABILITY:.0%} of the sequence tokens, 80% [MASK] / 10% random / 10% kept, on both",
        "rows": rows,
        "rows_1m": small_rows,
        "goal": "genolm >= 1.5x HF Trainer tokens/s",
        "genolm_vs_hf_default_best": hf_default["genolm_speedup_best"],
        "genolm_vs_hf_default_median": hf_default["genolm_speedup_median"],
        "genolm_vs_hf_default_cpu_s": hf_default["genolm_speedup_cpu_s"],
        "genolm_vs_hf_default_1m_best": hf_default_1m["genolm_speedup_best"],
        "genolm_vs_hf_default_1m_median": hf_default_1m["genolm_speedup_median"],
        "genolm_vs_hf_default_1m_cpu_s": hf_default_1m["genolm_speedup_cpu_s"],
        "notes": [
            "same architecture and dims, same windows and tokens per step, same masking rate, bf16 "
            "autocast, fused AdamW, gradient clipping at 1.0, same threads, all in one process; start-up "
            "and the first step of every Trainer.train() call (and genolm's first step) are not timed",
            "genolm defaults: attention auto (eager matmul-softmax-matmul when training on CPU at <= 640 "
            "tokens) and compile auto (torch.compile of each block: on here, where max_steps is 10^6)",
            "genolm runs the last encoder block and the MLM head only at the labelled (~15%) positions "
            "(sparse_last_block; keys and values from every position, q only at the labelled ones, so the "
            "loss is the same): about 12% fewer FLOPs for the 6-layer 10M model; HF BertForMaskedLM runs "
            "every block and the head everywhere",
            "HF eager attention, like genolm's eager path, keeps the (B, nh, T, T) scores and softmax in bf16 "
            "(CPU autocast), instead of SDPA's CPU flash kernel",
            "torch_compile=True compiles the whole BertForMaskedLM (accelerate's dynamo plugin, inductor)",
            "speedups: best = best step / best step (wall), median = median / median (wall), "
            "cpu_s = best CPU seconds per step (robust to time slicing on a shared machine)",
            "the 1M rows: the same comparison with SIZES' 1M encoder dims (hidden 128, 5 layers, 2 heads, "
            "MLP 512), run after the 10M arms are freed",
        ],
        "loadavg": load(),
    }


# --- child processes: fp32 / OpenMP policy / one thread, and long context ------------------------


def child_arms(spec: dict) -> dict:
    """Run in a child: one 10M family as the previous release ran it, with ``compile: false`` and with
    the defaults, interleaved in a process of its own (no other model shares its caches)."""
    import torch

    torch.set_num_threads(spec["threads"])
    configure_dynamo()
    fam, cfg = spec["family"], SIZES[(spec["family"], "10M")]
    before = dict(size="10M", compile="false", variant="before")
    if fam == "hyena":
        cfg_before, before["conv1d"] = cfg, True
    else:
        cfg_before = {
            **cfg,
            "attention": "sdpa",
            **({"sparse_last_block": False} if fam == "encoder" else {}),
        }
    runners = [
        GenolmRunner(f"{fam} 10M, previous release", fam, cfg_before, **before),
        GenolmRunner(f"{fam} 10M, no compile", fam, cfg, size="10M", compile="false", variant="no compile"),
        GenolmRunner(f"{fam} 10M", fam, cfg, size="10M"),
    ]
    interleave(runners, 1, spec["rounds"], 1)
    rows = []
    for r in runners:
        w, c = summary(r.wall), summary(r.cpu)
        rows.append(
            {
                "label": r.label,
                "variant": r.variant,
                "compiled": bool(r.pt.compiled),
                "step_s": w,
                "step_cpu_s": c,
                "tokens_per_s": r.tokens / w["best"],
                "tokens_per_s_median": r.tokens / w["median"],
                "tokens_per_cpu_s": r.tokens / c["best"],
            }
        )
    d = rows[-1]
    for r in rows[:-1]:
        r["defaults_speedup_best"] = d["tokens_per_s"] / r["tokens_per_s"]
        r["defaults_speedup_median"] = d["tokens_per_s_median"] / r["tokens_per_s_median"]
        r["defaults_speedup_cpu_s"] = d["tokens_per_cpu_s"] / r["tokens_per_cpu_s"]
    return {"family": fam, "rows": rows, "loadavg": load()}


def isolated(threads: int, quick: bool) -> dict:
    """The before/after comparison of the 10M encoder, decoder and hyena, one child process each."""
    out = []
    for fam in ("encoder", "hyena") if quick else ("encoder", "decoder", "hyena"):
        r = spawn("arms", {"family": fam, "threads": threads, "rounds": 1 if quick else 4})
        out.append(r)
        print(
            "  "
            + "; ".join(
                f"{x['label']}: {x['tokens_per_s']:.0f} tok/s"
                + (f" (defaults {x['defaults_speedup_best']:.2f}x)" if "defaults_speedup_best" in x else "")
                for x in r["rows"]
            ),
            flush=True,
        )
    return {
        "what": (
            "the 10M models as the previous release ran them, with compile: false, and with the defaults, "
            "interleaved in one child process per family (nothing else in the process)"
        ),
        "families": out,
    }


def child_steps(spec: dict) -> dict:
    """Run in a child: ``spec`` = family, config, precision, steps, threads (+ peak: bool)."""
    import torch

    torch.set_num_threads(spec["threads"])
    configure_dynamo()
    out = {}
    if spec.get("peak"):
        out["peak"] = matmul_peak((2048,), 5)
    r = GenolmRunner(spec["label"], spec["family"], spec["config"], precision=spec["precision"])
    r.run(1, record=False)
    r.run(spec["steps"])
    out["result"] = r.result(spec["threads"])
    if "peak" in out:
        add_pct(out["result"], out["peak"])
    out["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
    return out


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def reset_peak_rss() -> float:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS and return that RSS in MB."""
    import gc

    gc.collect()
    try:  # hand freed heap back to the kernel, or the step would reuse it unseen
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # "5" resets the peak resident set size (Linux >= 4.0)
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    return _status_mb("VmHWM")


def child_long(spec: dict) -> dict:
    """One batch-1 CLM training step at ``spec['T']`` tokens (after a warm-up step at 256)."""
    import torch

    from genolm.models import build_model
    from genolm.tokenizers import get_tokenizer

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    T = spec["T"]
    cfg = dict(spec["config"])
    if spec["family"] == "hyena":
        cfg["max_position_embeddings"] = T  # HyenaDNA's l_max: scales the filter features only
    model = build_model(spec["family"], tokenizer=get_tokenizer("char"), **cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(n: int) -> None:
        ids = torch.randint(7, 11, (1, n))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step(256)
    times, cpu, extra = [], [], []
    for _ in range(spec["repeats"]):
        base = reset_peak_rss()
        t, c = time.perf_counter(), time.process_time()
        step(T)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        peak = peak_rss_mb()
        extra.append(peak - base)
        if times[-1] > spec["single_if_over_s"]:
            break
    return {
        "family": spec["family"],
        "T": T,
        "params": sum(p.numel() for p in model.parameters()),
        "step_s": min(times),
        "step_s_all": times,
        "step_cpu_s": min(cpu),
        "peak_rss_mb": peak,
        "step_peak_mb": max(extra),
        "loadavg": load(),
    }


def spawn(kind: str, spec: dict, env: dict | None = None, timeout: float | None = None) -> dict | None:
    cmd = [sys.executable, os.path.abspath(__file__), f"--child-{kind}", json.dumps(spec)]
    try:
        p = subprocess.run(
            cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None
    if p.returncode:
        sys.exit(f"child {kind} {spec} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def precision_and_omp(threads: int, quick: bool) -> dict:
    """10M encoder in children: bf16 vs fp32 (passive OpenMP), and bf16 with spinning OpenMP threads."""
    spec = dict(family="encoder", config=SIZES[("encoder", "10M")], steps=2 if quick else 3, threads=threads)
    arms = [
        ("bf16, OMP passive", dict(precision="bf16"), {"OMP_WAIT_POLICY": "PASSIVE"}),
        ("fp32, OMP passive", dict(precision="fp32"), {"OMP_WAIT_POLICY": "PASSIVE"}),
    ]
    if not quick:
        arms.append(("bf16, OMP active", dict(precision="bf16"), {"OMP_WAIT_POLICY": "ACTIVE"}))
    res: dict[str, list] = {a[0]: [] for a in arms}
    for i in range(1 if quick else 2):
        for label, extra, env in arms:
            out = spawn("steps", {**spec, **extra, "label": label}, env)
            res[label].append(out["result"])
        print(f"  round {i + 1} done, load {load()}", flush=True)
    rows = []
    for label, outs in res.items():
        wall = [w for o in outs for w in [o["step_s"]["best"]]]
        cpu = [o["step_cpu_s"]["best"] for o in outs]
        rows.append(
            {
                "label": label,
                "params": outs[0]["params"],
                "tokens_per_step": outs[0]["tokens_per_step"],
                "step_s_best": min(wall),
                "step_cpu_s_best": min(cpu),
                "tokens_per_s": outs[0]["tokens_per_step"] / min(wall),
                "per_child": [{"step_s": o["step_s"], "step_cpu_s": o["step_cpu_s"]} for o in outs],
            }
        )
    by = {r["label"]: r for r in rows}
    out = {"rows": rows, "loadavg": load()}
    out["bf16_over_fp32_tokens_per_s"] = (
        by["bf16, OMP passive"]["tokens_per_s"] / by["fp32, OMP passive"]["tokens_per_s"]
    )
    if "bf16, OMP active" in by:
        out["passive_over_active_tokens_per_s"] = (
            by["bf16, OMP passive"]["tokens_per_s"] / by["bf16, OMP active"]["tokens_per_s"]
        )
    return out


def one_thread_efficiency(quick: bool) -> dict:
    """10M encoder and 1-thread matmul peak measured in CPU seconds: the load-robust efficiency."""
    spec = dict(
        family="encoder",
        config=SIZES[("encoder", "10M")],
        precision="bf16",
        steps=2 if quick else 3,
        threads=1,
        peak=True,
        label="encoder 10M, 1 thread",
    )
    out = spawn("steps", spec)
    r = out["result"]
    return {
        "peak_bf16_gflops_per_cpu_s": out["peak"]["bf16_gflops_per_cpu_s"],
        "peak_fp32_gflops_per_cpu_s": out["peak"]["fp32_gflops_per_cpu_s"],
        "tokens_per_cpu_s": r["tokens_per_step"] / r["step_cpu_s"]["best"],
        "pct_of_bf16_peak_per_cpu_s": r["pct_of_bf16_peak_per_cpu_s"],
        "flops_per_token": r["flops_per_token"],
        "loadavg": load(),
    }


def long_context(threads: int, quick: bool, cap_s: float) -> dict:
    """hyena vs the attention decoder (same width and depth), batch 1, growing T; A B A B by length."""
    lengths = (1024, 2048, 4096) if quick else LONG_LENGTHS
    fams = {
        "hyena": SIZES[("hyena", "1M")],
        "decoder": SIZES[("decoder", "1M")],
    }
    rows: dict[str, list] = {f: [] for f in fams}
    skipped: dict[str, dict] = {}
    for T in lengths:
        for fam, cfg in fams.items():
            if fam in skipped:
                continue
            done = rows[fam]
            if len(done) >= 2:  # predict this step's time from the last two points
                s = loglog_slope([d["T"] for d in done[-2:]], [d["step_s"] for d in done[-2:]])
                pred = done[-1]["step_s"] * (T / done[-1]["T"]) ** s
                if pred > cap_s:
                    skipped[fam] = {"T": T, "predicted_step_s": pred, "cap_s": cap_s}
                    print(f"  {fam} T={T}: skipped, predicted {pred:.0f} s > cap {cap_s:.0f} s", flush=True)
                    continue
            spec = dict(family=fam, config=cfg, T=T, threads=threads, repeats=3, single_if_over_s=30.0)
            out = spawn("long", spec, timeout=cap_s * 3 + 120)
            if out is None:
                skipped[fam] = {"T": T, "timed_out_after_s": cap_s * 3 + 120}
                continue
            done.append(out)
            print(
                f"  {fam} T={T}: {out['step_s']:.2f} s ({out['step_cpu_s']:.2f} CPU-s), "
                f"+{out['step_peak_mb']:.0f} MB",
                flush=True,
            )
    fits = {}
    for fam, done in rows.items():
        Ts = [d["T"] for d in done]
        fits[fam] = {
            "time_exponent_all": loglog_slope(Ts, [d["step_s"] for d in done]),
            "time_exponent_upper": loglog_slope(Ts[-3:], [d["step_s"] for d in done[-3:]]),
            "cpu_time_exponent_all": loglog_slope(Ts, [d["step_cpu_s"] for d in done]),
            "cpu_time_exponent_upper": loglog_slope(Ts[-3:], [d["step_cpu_s"] for d in done[-3:]]),
            "memory_exponent_all": loglog_slope(Ts, [max(d["step_peak_mb"], 1.0) for d in done]),
            "memory_exponent_upper": loglog_slope(Ts[-3:], [max(d["step_peak_mb"], 1.0) for d in done[-3:]]),
            "lengths_run": Ts,
        }
    return {
        "models": {
            f: {"config": c, "params": rows[f][0]["params"] if rows[f] else None} for f, c in fams.items()
        },
        "step": "batch 1, forward + backward + AdamW, bf16 autocast, CLM loss on every position",
        "memory": (
            "peak RSS of a child process during the step (VmHWM, reset through /proc/self/clear_refs "
            "just before it) minus its RSS at that moment: activations, gradients and temporaries"
        ),
        "exponent": (
            "least-squares slope of log(step time: best wall, or CPU seconds) or log(step memory) on "
            "log(T); 'upper' over the 3 longest lengths run"
        ),
        "rows": rows,
        "skipped": skipped,
        "fits": fits,
        "cap_s": cap_s,
    }


def optimizer_step_cost(threads: int) -> dict:
    """AdamW step on the 10M encoder's parameters: foreach (genolm) vs fused (HF Trainer's default)."""
    import torch

    from genolm.models import build_model
    from genolm.tokenizers import get_tokenizer

    model = build_model("encoder", tokenizer=get_tokenizer("char"), **SIZES[("encoder", "10M")])
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    opts = {
        "foreach": torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True),
        "fused": torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True),
    }
    best = {k: float("inf") for k in opts}
    for o in opts.values():
        o.step()
    for _ in range(7):
        for k, o in opts.items():
            t = time.perf_counter()
            o.step()
            best[k] = min(best[k], time.perf_counter() - t)
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "foreach_ms": best["foreach"] * 1e3,
        "fused_ms": best["fused"] * 1e3,
        "threads": threads,
    }


# --- main ---------------------------------------------------------------------------------------


def family_runners(quick: bool) -> list:
    """Every family and size with the defaults and with ``compile: false``; the 10M models also as
    the previous release ran them; the 10M encoder on 511-bp windows; the matmul probe."""
    runners: list = []
    for (fam, size), cfg in SIZES.items():
        if quick and (fam, size) not in (("encoder", "10M"), ("hyena", "10M")):
            continue
        if (fam, size) == ("encoder", "10M"):
            runners.append(PeakProbe())  # right before the 10M encoder's steps, every round
        runners.append(GenolmRunner(f"{fam} {size}", fam, cfg, size=size))
        runners.append(
            GenolmRunner(
                f"{fam} {size}, no compile", fam, cfg, size=size, compile="false", variant="no compile"
            )
        )
        if size == "10M" and fam in ("encoder", "decoder"):
            runners.append(
                GenolmRunner(
                    f"{fam} {size}, previous release (sdpa, no compile)",
                    fam,
                    {
                        **cfg,
                        "attention": "sdpa",
                        **({"sparse_last_block": False} if fam == "encoder" else {}),
                    },
                    size=size,
                    compile="false",
                    variant="before",
                )
            )
        if size == "10M" and fam == "hyena":
            runners.append(
                GenolmRunner(
                    f"{fam} {size}, previous release (conv1d short filter, no compile)",
                    fam,
                    cfg,
                    size=size,
                    compile="false",
                    variant="before",
                    conv1d=True,
                )
            )
    if not quick:
        # 512 bp + [SEP] = 513 tokens: a partial attention block; 511 bp + [SEP] = 512
        runners.append(
            GenolmRunner(
                "encoder 10M, 511-bp windows",
                "encoder",
                SIZES[("encoder", "10M")],
                size="10M",
                window=511,
                variant="511-bp windows",
            )
        )
    return runners


def family_sweep(threads: int, quick: bool) -> tuple[list[dict], dict]:
    runners = family_runners(quick)
    warmup, rounds, per_round = (1, 1, 1) if quick else (2, 4, 2)
    interleave(runners, warmup, rounds, per_round)
    probe = next(r for r in runners if isinstance(r, PeakProbe))
    enc = next(r for r in runners if isinstance(r, GenolmRunner) and r.label == "encoder 10M")
    rows = [r.result(threads) for r in runners if isinstance(r, GenolmRunner)]
    enc_row = next(r for r in rows if r["label"] == "encoder 10M")
    paired = [
        100 * (enc.tokens / min(walls)) * enc_row["flops_per_token"] / 1e9 / peak
        for walls, peak in zip(enc.rounds, probe.rounds)
    ]
    for r in rows:
        print(
            f"  {r['label']:<58} {r['params'] / 1e6:5.2f}M {r['tokens_per_s']:8.0f} tok/s "
            f"{r['model_gflops']:6.1f} GFLOP/s ({r['model_gflops_per_cpu_s']:.1f} per CPU-s)"
        )
    return rows, {
        "what": (
            "the 10M encoder's model GFLOP/s in each round (its best step of the round) over the bf16 "
            "2048^2 matmul probe measured just before it in the same round"
        ),
        "probe_bf16_gflops_per_round": probe.rounds,
        "pct_of_bf16_peak_per_round": paired,
        "pct_of_bf16_peak_median": statistics.median(paired),
    }


def speedups(families: list[dict]) -> list[dict]:
    """Per family and size: the defaults against ``compile: false`` and the previous release."""
    out = []
    by = {(r["family"], r["size"], r["variant"]): r for r in families}
    for (fam, size, variant), r in by.items():
        if variant != "default":
            continue
        row = {"family": fam, "size": size, "compiled": r["compiled"]}
        for other in ("no compile", "before"):
            o = by.get((fam, size, other))
            if o is None and other == "before" and fam in ("gpn", "gpn-rc"):
                o = by.get((fam, size, "no compile"))  # nothing else changed for the CNNs
            if o is None or (other == "before" and size != "10M"):
                continue
            key = "vs_" + other.replace(" ", "_")
            row[key + "_best"] = r["tokens_per_s"] / o["tokens_per_s"]
            row[key + "_median"] = r["tokens_per_s_median"] / o["tokens_per_s_median"]
            row[key + "_cpu_s"] = r["tokens_per_cpu_s"] / o["tokens_per_cpu_s"]
        out.append(row)
    return out


def settings(threads: int) -> dict:
    from genolm.models.encoder import EAGER_MAX_SCORES, EAGER_MAX_TOKENS
    from genolm.train.pretrain import COMPILE_FAMILIES, COMPILE_MIN_STEPS

    return {
        "data": f"E. coli K-12 MG1655, char tokens, {WINDOW}-bp windows + [SEP] = {WINDOW + 1} tokens",
        "batch": BATCH,
        "objective": "MLM (encoder, gpn, gpn-rc) or CLM (hyena, decoder), each family's default",
        "mlm_probability": MLM_PROBABILITY,
        "precision": "bf16 autocast (fp32 master weights)",
        "optimizer": "fused AdamW, betas (0.9, 0.98), weight decay 0.01; gradient clipping at 1.0",
        "threads": threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "genolm_defaults": {
            "attention": (
                f"auto: eager when training on CPU with T <= {EAGER_MAX_TOKENS} and B*nh*T*T <= "
                f"{EAGER_MAX_SCORES}, else SDPA"
            ),
            "compile": (
                f"auto: torch.compile of each block on a Linux CPU with a C++ compiler, one process, "
                f"families {list(COMPILE_FAMILIES)}, max_steps >= {COMPILE_MIN_STEPS} (the runs here use 10^6)"
            ),
            "hyena_short_filter": "3 shifted multiply-adds (float32 accumulation)",
        },
    }


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "–" if x is None else format(x, spec)


def ratios(s: dict, k: str) -> str:
    if k + "_best" not in s:
        return "–"
    return f"{s[k + '_best']:.2f}× / {s[k + '_median']:.2f}× / {s[k + '_cpu_s']:.2f}×"


def hf_table(rows: list[dict]) -> list[str]:
    """Markdown rows of one HF Trainer comparison (the first row is genolm's defaults)."""
    L = [
        "| arm | attention | compiled | tokens/s (best) | tokens/s (median) "
        "| genolm defaults ÷ arm (best / median / per CPU-s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        sp = (
            "–"
            if "genolm_speedup_best" not in r
            else f"{r['genolm_speedup_best']:.2f}× / {r['genolm_speedup_median']:.2f}× / "
            f"{r['genolm_speedup_cpu_s']:.2f}×"
        )
        L.append(
            f"| {r['label']} | {r['attention']} | {'yes' if r['compiled'] else 'no'} | "
            f"{r['tokens_per_s']:,.0f} | {r['tokens_per_s_median']:,.0f} | {sp} |"
        )
    return L


def write_markdown(res: dict) -> None:
    """benchmarks/results/pretrain_throughput.md from the JSON."""
    L = ["<!-- written by benchmarks/pretrain_throughput.py; do not edit by hand -->"]
    L.append("### Pretraining throughput (CPU)")
    L.append("")
    sec = res.get("sections", {})
    L.append(
        f"`python benchmarks/pretrain_throughput.py` on {res['machine'].get('cpu_count')} CPU cores "
        f"({res['machine'].get('cpu', '?')}), torch {res.get('torch')}, {res.get('threads')} threads, "
        f"OMP_WAIT_POLICY={res.get('omp_wait_policy')}. Sections measured: "
        + ", ".join(
            f"{k} ({v['date']}, load {v['loadavg_start']} → {v['loadavg_end']})" for k, v in sec.items()
        )
        + ". The machine is shared: arms are interleaved in one process and the ratios are what to quote."
    )
    st = res.get("settings")
    if st:
        L.append("")
        L.append(
            f"Settings: {st['data']}, batch {st['batch']}, {st['precision']}, {st['optimizer']}, MLM rate "
            f"{st['mlm_probability']}. genolm defaults: attention {st['genolm_defaults']['attention']}; "
            f"compile {st['genolm_defaults']['compile']}; Hyena short filter "
            f"{st['genolm_defaults']['hyena_short_filter']}."
        )
    fam = res.get("families")
    if fam:
        L += ["", "#### Families (genolm trainer, bf16)", ""]
        L.append(
            "| model | variant | params | compiled | attention | tokens/s (best) | tokens/s (median) "
            "| % bf16 peak (wall) | % bf16 peak (per CPU-s) | first step (s) |"
        )
        L.append("|---|---|---|---|---|---|---|---|---|---|")
        for r in fam:
            L.append(
                f"| {r['family']} {r['size']} | {r['variant']} | {r['params'] / 1e6:.2f}M | "
                f"{'yes' if r['compiled'] else 'no'} | {r['attention'] or (r['hyena_short_filter'] or '–')} | "
                f"{r['tokens_per_s']:,.0f} | {r['tokens_per_s_median']:,.0f} | "
                f"{fmt(r.get('pct_of_bf16_peak'), '.1f')} | {fmt(r.get('pct_of_bf16_peak_per_cpu_s'), '.1f')} | "
                f"{fmt(r['first_step_s'], '.1f')} |"
            )
        L.append("")
        L.append(
            "First step: wall seconds of a model's first training step, compilation included (from a cold "
            "inductor cache, but a graph compiled for an earlier arm of the same shape is reused)."
        )
        if any(r.get("hyena_short_filter") == "conv1d" for r in fam):
            L.append(
                "The previous release's Hyena short filter (depthwise `conv1d`) is the arm most sensitive to "
                "the machine's state: its step time varies about 2x between runs (3.55 s per step in the "
                "previous version of this file, at a load average of ~2.9), so quote its ratio as a range."
            )
        sp = res.get("family_speedups", [])
        if sp:
            L += [
                "",
                "Defaults vs `compile: false` and vs the previous release (tokens/s ratios: best / median / per CPU-s):",
                "",
            ]
            L.append("| model | compiled | vs compile: false | vs previous release |")
            L.append("|---|---|---|---|")
            for s in sp:
                L.append(
                    f"| {s['family']} {s['size']} | {'yes' if s['compiled'] else 'no'} | "
                    f"{ratios(s, 'vs_no_compile')} | {ratios(s, 'vs_before')} |"
                )
    iso = res.get("isolated_before_after")
    if iso:
        L += ["", "#### 10M models before/after, one child process per family", ""]
        L.append(
            f"{iso['what'][0].upper()}{iso['what'][1:]}; tokens/s ratios of the defaults: best / median / per CPU-s."
        )
        L.append("")
        L.append("| arm | compiled | tokens/s (best) | tokens/s (median) | defaults ÷ arm |")
        L.append("|---|---|---|---|---|")
        for f in iso["families"]:
            for r in f["rows"]:
                sp = (
                    "–"
                    if "defaults_speedup_best" not in r
                    else f"{r['defaults_speedup_best']:.2f}× / {r['defaults_speedup_median']:.2f}× / "
                    f"{r['defaults_speedup_cpu_s']:.2f}×"
                )
                L.append(
                    f"| {r['label']} | {'yes' if r['compiled'] else 'no'} | {r['tokens_per_s']:,.0f} | "
                    f"{r['tokens_per_s_median']:,.0f} | {sp} |"
                )
    goal = res.get("encoder_10m_goal")
    if goal:
        L += ["", "#### 10M encoder: share of the bf16 matmul peak (goal ≥ 35%)", ""]
        L.append(
            f"- wall clock, best step over the run's best bf16 peak: **{goal['pct_of_bf16_peak']:.1f}%**"
        )
        if goal.get("pct_of_bf16_peak_paired_median") is not None:
            L.append(
                f"- wall clock, each round's best step over the bf16 probe measured just before it "
                f"(median of rounds): **{goal['pct_of_bf16_peak_paired_median']:.1f}%**"
            )
        L.append(f"- per CPU-second (both threads): {goal['pct_of_bf16_peak_per_cpu_s']:.1f}%")
        if goal.get("pct_of_bf16_peak_1_thread_cpu_time") is not None:
            L.append(f"- one thread, per CPU-second: {goal['pct_of_bf16_peak_1_thread_cpu_time']:.1f}%")
    hf = res.get("hf_trainer")
    if hf:
        L += ["", f"#### genolm trainer vs HF Trainer ({hf['batch']}, {hf['precision']}; goal ≥ 1.5×)", ""]
        L += hf_table(hf["rows"])
        if hf.get("rows_1m"):
            L += ["", "At ~1M parameters (same comparison, 1M BERT layout):", ""] + hf_table(hf["rows_1m"])
        L += [""] + [f"- {n}" for n in hf["notes"]]
    prec = res.get("precision_and_openmp")
    if prec:
        L += ["", "#### 10M encoder: precision and OpenMP wait policy (child processes)", ""]
        L.append(f"- bf16 / fp32 tokens/s: {prec['bf16_over_fp32_tokens_per_s']:.2f}×")
        if "passive_over_active_tokens_per_s" in prec:
            L.append(f"- OMP passive / active tokens/s: {prec['passive_over_active_tokens_per_s']:.2f}×")
    opt = res.get("optimizer_step")
    if opt:
        L += [
            "",
            f"AdamW step on {opt['params'] / 1e6:.1f}M parameters: foreach {opt['foreach_ms']:.0f} ms, fused {opt['fused_ms']:.0f} ms.",
        ]
    lc = res.get("long_context")
    if lc:
        L += ["", "#### Long context (batch 1, ~1M parameters)", ""]
        L.append("| T | " + " | ".join(f"{f} step (s) | {f} +MB" for f in lc["rows"]) + " |")
        L.append("|---|" + "---|---|" * len(lc["rows"]))
        Ts = sorted({d["T"] for rows in lc["rows"].values() for d in rows})
        for T in Ts:
            cells = []
            for rows in lc["rows"].values():
                d = next((d for d in rows if d["T"] == T), None)
                cells += [fmt(d and d["step_s"]), fmt(d and d["step_peak_mb"], ".0f")] if d else ["–", "–"]
            L.append(f"| {T} | " + " | ".join(cells) + " |")
        L.append("")
        for f, fit in lc["fits"].items():
            L.append(
                f"- {f}: time exponent {fmt(fit['time_exponent_all'])} (longest 3: {fmt(fit['time_exponent_upper'])}), "
                f"memory exponent {fmt(fit['memory_exponent_all'])}"
            )
    (RESULTS / "pretrain_throughput.md").write_text("\n".join(L) + "\n")
    print(f"wrote {RESULTS / 'pretrain_throughput.md'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer steps, lengths and arms")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    ap.add_argument(
        "--long-cap-s", type=float, default=240.0, help="skip a long-context step predicted slower"
    )
    ap.add_argument(
        "--only", help=f"comma-separated sections to run, of {', '.join(SECTIONS)} (default: all)"
    )
    ap.add_argument("--markdown-only", action="store_true", help="rewrite the .md from the existing JSON")
    ap.add_argument("--child-steps", help=argparse.SUPPRESS)
    ap.add_argument("--child-long", help=argparse.SUPPRESS)
    ap.add_argument("--child-arms", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_steps or a.child_long or a.child_arms:
        if a.child_arms:
            out = child_arms(json.loads(a.child_arms))
        elif a.child_steps:
            out = child_steps(json.loads(a.child_steps))
        else:
            out = child_long(json.loads(a.child_long))
        print(json.dumps(out))
        return
    json_path = RESULTS / "pretrain_throughput.json"
    if a.markdown_only:
        write_markdown(json.loads(json_path.read_text()))
        return
    only = set(SECTIONS) if not a.only else {s.strip() for s in a.only.split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        sys.exit(f"--only: unknown section(s) {sorted(unknown)}; choose from {', '.join(SECTIONS)}")

    # a cold inductor cache, so that first_step_s includes compiling (the child processes share it)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = scratch_dir()

    import torch

    torch.set_num_threads(a.threads)
    configure_dynamo()
    t0 = time.perf_counter()
    load0 = load()
    res: dict = {}
    if a.only and json_path.exists():
        res = json.loads(json_path.read_text())
        res.pop("benchmark", None)
        res.pop("machine", None)
    sections = res.setdefault("sections", {})

    def section(name: str, fn):
        s0, l0 = time.perf_counter(), load()
        out = fn()
        sections[name] = {
            "date": datetime.date.today().isoformat(),
            "quick": a.quick,
            "wall_s": round(time.perf_counter() - s0, 1),
            "loadavg_start": l0,
            "loadavg_end": load(),
        }
        return out

    sizes = (2048,) if a.quick else (2048, 4096)
    print(f"matmul peak ({a.threads} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}):")
    peak_start = matmul_peak(sizes, 3 if a.quick else 5)
    print(f"  fp32 {peak_start['fp32_gflops']:.0f}  bf16 {peak_start['bf16_gflops']:.0f} GFLOP/s")
    peaks = [peak_start]
    if "optimizer" in only:
        print("optimizer step:")
        res["optimizer_step"] = section("optimizer", lambda: optimizer_step_cost(a.threads))
        o = res["optimizer_step"]
        print(f"  AdamW foreach {o['foreach_ms']:.0f} ms, fused {o['fused_ms']:.0f} ms")
    families = paired = None
    if "families" in only:
        print("families (genolm trainer, bf16):")
        families, paired = section("families", lambda: family_sweep(a.threads, a.quick))
        peaks.append(matmul_peak(sizes, 3 if a.quick else 5))
    if "isolated" in only:
        print("10M models, previous release vs defaults, one child process per family:")
        res["isolated_before_after"] = section("isolated", lambda: isolated(a.threads, a.quick))
    if "precision" in only:
        print("10M encoder: fp32 vs bf16, OpenMP passive vs active (child processes):")
        res["precision_and_openmp"] = section("precision", lambda: precision_and_omp(a.threads, a.quick))
        print(f"  bf16/fp32 {res['precision_and_openmp']['bf16_over_fp32_tokens_per_s']:.2f}x")
    if "one-thread" in only:
        print("10M encoder on one thread, CPU time:")
        res["one_thread_cpu_time"] = section("one-thread", lambda: one_thread_efficiency(a.quick))
        one = res["one_thread_cpu_time"]
        print(
            f"  {one['tokens_per_cpu_s']:.0f} tok/CPU-s, {one['pct_of_bf16_peak_per_cpu_s']:.1f}% of the "
            "1-thread bf16 peak"
        )
    if "hf" in only:
        print("HF Trainer vs genolm trainer (BERT layout, 10M, bf16):")
        res["hf_trainer"] = section("hf", lambda: hf_comparison(a.quick))
        hf = res["hf_trainer"]
        for r in hf["rows"][1:] + hf["rows_1m"][1:]:
            print(
                f"  vs {r['label']}: genolm {r['genolm_speedup_best']:.2f}x best, "
                f"{r['genolm_speedup_median']:.2f}x median, {r['genolm_speedup_cpu_s']:.2f}x per CPU-s"
            )
    if "long" in only:
        print("long context (batch 1):")
        res["long_context"] = section("long", lambda: long_context(a.threads, a.quick, a.long_cap_s))
        for fam, f in res["long_context"]["fits"].items():
            print(
                f"  {fam}: time exponent {fmt(f['time_exponent_all'])} (CPU {fmt(f['cpu_time_exponent_all'])}, "
                f"longest 3: {fmt(f['time_exponent_upper'])}), memory exponent {fmt(f['memory_exponent_all'])}"
            )
    peaks.append(matmul_peak(sizes, 3 if a.quick else 5))
    # the reference is the best peak seen in the run: load only ever lowers it
    keys = ("fp32_gflops", "bf16_gflops", "fp32_gflops_per_cpu_s", "bf16_gflops_per_cpu_s")
    peak = {k: max(p[k] for p in peaks) for k in keys}
    peak["bf16_over_fp32"] = peak["bf16_gflops"] / peak["fp32_gflops"]
    print(f"matmul peak of the run: fp32 {peak['fp32_gflops']:.0f}, bf16 {peak['bf16_gflops']:.0f} GFLOP/s")
    if families is not None:
        res["matmul_peak"] = {"reference": peak, "measurements": peaks}
        for r in families:
            add_pct(r, peak)
            print(
                f"  {r['label']:<58} {r['pct_of_bf16_peak']:5.1f}% of the bf16 peak "
                f"({r['pct_of_bf16_peak_per_cpu_s']:.1f}% per CPU-s)"
            )
        res["families"] = families
        res["family_speedups"] = speedups(families)
        enc10 = next(r for r in families if r["label"] == "encoder 10M")
        before = next((r for r in families if r["label"].startswith("encoder 10M, previous release")), None)
        res["encoder_10m_goal"] = {
            "goal": ">= 35% of the bf16 peak",
            "pct_of_bf16_peak": enc10["pct_of_bf16_peak"],
            "pct_of_bf16_peak_previous_release": before and before["pct_of_bf16_peak"],
            "pct_of_bf16_peak_paired_median": paired["pct_of_bf16_peak_median"],
            "paired": paired,
            "pct_of_bf16_peak_per_cpu_s": enc10["pct_of_bf16_peak_per_cpu_s"],
        }
    if "one_thread_cpu_time" in res and "encoder_10m_goal" in res:
        res["encoder_10m_goal"]["pct_of_bf16_peak_1_thread_cpu_time"] = res["one_thread_cpu_time"][
            "pct_of_bf16_peak_per_cpu_s"
        ]
    res.update(
        {
            "quick": a.quick,
            "threads": a.threads,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "torch": torch.__version__,
            "settings": settings(a.threads),
            "flops_method": (
                "FlopCounterMode on one forward (matmul + conv, compiled blocks run eagerly, attention by SDPA) "
                "x 3, plus 12*L*T*H per token for attention (CPU SDPA is not counted by FlopCounterMode); "
                "hyena FFTs and short filter not counted; % of peak uses the best bf16 matmul peak of the "
                "run (start, after the families, end); 'paired' uses the probe of the same round"
            ),
        }
    )
    for k in ("wall_s", "loadavg_start", "loadavg_end"):  # per invocation: in "runs"
        res.pop(k, None)
    res.setdefault("runs", []).append(
        {
            "date": datetime.date.today().isoformat(),
            "sections": sorted(only),
            "quick": a.quick,
            "wall_s": round(time.perf_counter() - t0, 1),
            "loadavg_start": load0,
            "loadavg_end": load(),
        }
    )
    write_result("pretrain_throughput", res)
    write_markdown(json.loads(json_path.read_text()))


if __name__ == "__main__":
    main()
