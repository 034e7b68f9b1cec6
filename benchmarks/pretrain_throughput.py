"""Pretraining throughput on this CPU: genolm's trainer beside Hugging Face's, in one run.

Measures (writes benchmarks/results/pretrain_throughput.json):
1. the matmul peak, fp32 and bf16 (``torch.matmul`` on 2048^2 and 4096^2, all cores), at the start
   and at the end of the run;
2. training tokens/s of every family at ~1M and ~10M parameters through genolm's trainer
   (``Pretrainer.train_step``: data, forward, backward, clipping, AdamW; batch of 8 char-tokenized
   512-bp E. coli K-12 windows = 8 x 513 tokens with [SEP]; bf16 autocast), and model FLOP/s as a
   fraction of the bf16 peak;
3. the 10M encoder in fp32 vs bf16, and with OpenMP threads spinning (``OMP_WAIT_POLICY=ACTIVE``,
   the default) vs sleeping (``PASSIVE``), in child processes;
4. the same BERT architecture as stock ``BertForMaskedLM`` trained by the HF ``Trainer`` (sdpa
   attention, and eager attention as transformers < 4.41 ran BERT) vs genolm's trainer;
5. long context: time and peak memory of one batch-1 training step of hyena vs the attention
   decoder (both ~1M parameters) from 1k to 32k nucleotides, with log-log scaling exponents.

FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` counts the matmuls and convolutions of one
forward pass on the real batch (MLM heads only at the masked positions, as genolm runs them);
training FLOPs are 3x that (backward = 2x forward), plus 12*L*T*H per token for attention, which
FlopCounterMode does not see on CPU (``_scaled_dot_product_flash_attention_for_cpu``); the
causal decoder is charged the same 12*L*T*H (PaLM's convention).  Hyena's FFT long convolutions
are not counted.  6*N per token is reported beside it.

The machine is shared: every comparison is interleaved (A B A B), per-step times keep the best
and the median, ``os.getloadavg()`` is recorded, and the ratios are what to quote.  OpenMP
threads are told to sleep when idle (``OMP_WAIT_POLICY=PASSIVE``, unless already set): with
spinning threads on an oversubscribed machine every parallel region waits for a descheduled
peer, which section 3 measures.  Memory is the peak RSS of a child process per measurement
(``VmHWM``, reset through ``/proc/self/clear_refs`` just before the step), above its RSS then.

Run: python benchmarks/pretrain_throughput.py [--quick] [--threads N]
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
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from _common import shared, write_result  # noqa: E402

BATCH = 8  # windows per step: 8 x 513 tokens
WINDOW = 512
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
LONG_LENGTHS = (1024, 2048, 4096, 8192, 16384, 32768)


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


# --- 2. genolm trainer runs -------------------------------------------------------------------


def model_flops_per_token(pt, attention_layers: int, seq_len: int, hidden: int) -> dict:
    """Training FLOPs per token of one step of ``pt`` (see the module docstring)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    b = pt._micro_batches(pt.step)[0]
    tokens = int(b["attention_mask"].sum())
    model = pt.acc.unwrap_model(pt.model)
    with torch.no_grad(), FlopCounterMode(display=False) as fc, pt.acc.autocast():
        model(**b)
    counted = 3 * fc.get_total_flops() / tokens
    attn = 12 * attention_layers * seq_len * hidden
    n = sum(p.numel() for p in model.parameters())
    return {
        "flops_per_token": counted + attn,
        "matmul_conv_flops_per_token": counted,
        "attention_flops_per_token": attn,
        "six_n_per_token": 6 * n,
    }


class GenolmRunner:
    """One genolm ``Pretrainer`` on E. coli K-12; ``run(n)`` times ``n`` optimizer steps."""

    def __init__(
        self, label: str, family: str, model_config: dict, *, precision: str = "bf16", window=WINDOW
    ):
        from genolm.train.pretrain import Pretrainer
        from genolm.train.pretrain_config import PretrainConfig

        self.label, self.family, self.model_config = label, family, model_config
        cfg = PretrainConfig(
            corpus=[ecoli()],
            out_dir=scratch_dir(),
            model=family,
            model_config=model_config,
            window=window,
            batch_size=BATCH,
            max_steps=10**6,
            warmup_steps=10,
            precision=precision,
            progress=False,
            seed=0,
        )
        self.pt = Pretrainer(cfg)
        self.precision = self.pt.precision
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.tokens = 0

    def run(self, n: int, record: bool = True) -> None:
        for _ in range(n):
            t, c = time.perf_counter(), time.process_time()
            m = self.pt.train_step()
            if record:
                self.wall.append(time.perf_counter() - t)
                self.cpu.append(time.process_time() - c)
                self.tokens = m["tokens"]

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
            "params": self.pt.n_params,
            "model_config": self.model_config,
            "precision": self.precision,
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
        r.run(warmup, record=False)
    for i in range(rounds):
        for r in runners:
            r.run(per_round)
        print(f"  round {i + 1}/{rounds} done, load {load()}", flush=True)


# --- 4. the HF Trainer on the same architecture -------------------------------------------------


class HFRunner:
    """Stock ``BertForMaskedLM`` trained by ``transformers.Trainer`` (DataCollatorForLanguageModeling)."""

    def __init__(self, label: str, attn: str, windows: list[list[int]], tok, precision: str):
        from transformers import (
            BertConfig,
            BertForMaskedLM,
            DataCollatorForLanguageModeling,
            Trainer,
            TrainerCallback,
            TrainingArguments,
        )

        self.label, self.attn = label, attn
        cfg = BertConfig(
            vocab_size=len(tok),
            max_position_embeddings=1024,
            pad_token_id=tok.pad_token_id,
            hidden_act="gelu",
            hidden_dropout_prob=0.0,  # genolm's default; the same work on both sides
            attention_probs_dropout_prob=0.0,
            **BERT_DIMS,
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
            seed=0,
        )
        self.optim = str(args.optim)
        self.trainer = Trainer(
            model=self.model,
            args=args,
            train_dataset=[{"input_ids": w} for w in windows],
            data_collator=DataCollatorForLanguageModeling(tok, mlm_probability=0.15),
            callbacks=[Clock()],
        )
        self.tokens = BATCH * len(windows[0])
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def run(self, n: int, record: bool = True) -> None:
        """One ``trainer.train()`` of ``n + 1`` steps; the first step (start-up) is not timed."""
        self.trainer.args.max_steps = n + 1
        self.ends.clear()
        with contextlib.redirect_stdout(io.StringIO()):  # the Trainer prints its summary per call
            self.trainer.train()
        if record:
            for (w0, c0), (w1, c1) in zip(self.ends, self.ends[1:]):
                self.wall.append(w1 - w0)
                self.cpu.append(c1 - c0)


def hf_comparison(quick: bool) -> dict:
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
    arms = [
        GenolmRunner("genolm trainer, genolm encoder (BERT layout)", "encoder", BERT_LIKE),
        HFRunner("HF Trainer, BertForMaskedLM (sdpa)", "sdpa", windows, tok, "bf16"),
    ]
    if not quick:
        arms.append(HFRunner("HF Trainer, BertForMaskedLM (eager)", "eager", windows, tok, "bf16"))
    rounds, per_round = (1, 1) if quick else (4, 2)
    for a in arms:
        a.run(1, record=False)  # warm-up
    for i in range(rounds):
        for a in arms:
            a.run(per_round)
        print(f"  round {i + 1}/{rounds} done, load {load()}", flush=True)
    g = arms[0]
    rows = []
    for a in arms:
        w, c = summary(a.wall), summary(a.cpu)
        rows.append(
            {
                "label": a.label,
                "params": a.pt.n_params if a is g else a.n_params,
                "optimizer": "torch.optim.AdamW (foreach)" if a is g else a.optim,
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
    return {
        "architecture": {**BERT_DIMS, "activation": "gelu", "positions": "learned", "norm": "post"},
        "batch": f"{BATCH} x {len(windows[0])} tokens",
        "precision": "bf16 autocast on both",
        "rows": rows,
        "goal": "genolm >= 1.5x HF Trainer tokens/s",
        "notes": [
            "same architecture and dims, same windows and tokens per step, bf16 autocast, same threads; "
            "start-up and the first step of every Trainer.train() call are not timed",
            "genolm's MLM head projects only the labelled (~15%) positions; with a 12-token vocabulary "
            "that saves < 2% of the FLOPs",
            "the HF Trainer's default optimizer is fused AdamW; genolm's is torch.optim.AdamW (foreach): "
            "see optimizer_step",
            "eager attention materialises the (B, nh, T, T) scores in bf16 (CPU autocast keeps softmax "
            "in bf16) instead of SDPA's CPU flash kernel",
            "speedups: best = best step / best step (wall), median = median / median (wall), "
            "cpu_s = best CPU seconds per step (robust to time slicing on a shared machine)",
        ],
        "loadavg": load(),
    }


# --- child processes: fp32 / OpenMP policy / one thread, and long context ------------------------


def child_steps(spec: dict) -> dict:
    """Run in a child: ``spec`` = family, config, precision, steps, threads (+ peak: bool)."""
    import torch

    torch.set_num_threads(spec["threads"])
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


# --- main ---------------------------------------------------------------------------------------


def family_sweep(threads: int, quick: bool) -> list[dict]:
    specs = [(f"{fam} {size}", fam, cfg) for (fam, size), cfg in SIZES.items()]
    if quick:
        specs = [s for s in specs if s[1] in ("encoder", "hyena", "gpn", "decoder")]
    runners = [GenolmRunner(label, fam, cfg) for label, fam, cfg in specs]
    if not quick:
        # 512 bp + [SEP] = 513 tokens: a partial attention block; 511 bp + [SEP] = 512
        runners.append(
            GenolmRunner("encoder 10M, 511-bp windows", "encoder", SIZES[("encoder", "10M")], window=511)
        )
    warmup, rounds, per_round = (1, 1, 1) if quick else (2, 3, 2)
    interleave(runners, warmup, rounds, per_round)
    rows = [r.result(threads) for r in runners]
    for r in rows:
        print(
            f"  {r['label']:<32} {r['params'] / 1e6:5.2f}M {r['tokens_per_s']:8.0f} tok/s "
            f"{r['model_gflops']:6.1f} GFLOP/s ({r['model_gflops_per_cpu_s']:.1f} per CPU-s)"
        )
    return rows


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer steps, lengths and arms")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    ap.add_argument(
        "--long-cap-s", type=float, default=240.0, help="skip a long-context step predicted slower"
    )
    ap.add_argument("--child-steps", help=argparse.SUPPRESS)
    ap.add_argument("--child-long", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_steps or a.child_long:
        out = (
            child_steps(json.loads(a.child_steps)) if a.child_steps else child_long(json.loads(a.child_long))
        )
        print(json.dumps(out))
        return

    import torch

    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    load0 = load()
    sizes = (2048,) if a.quick else (2048, 4096)
    print(f"matmul peak ({a.threads} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}):")
    peak_start = matmul_peak(sizes, 3 if a.quick else 5)
    print(f"  fp32 {peak_start['fp32_gflops']:.0f}  bf16 {peak_start['bf16_gflops']:.0f} GFLOP/s")
    print("optimizer step:")
    opt = optimizer_step_cost(a.threads)
    print(f"  AdamW foreach {opt['foreach_ms']:.0f} ms, fused {opt['fused_ms']:.0f} ms")
    print("families (genolm trainer, bf16):")
    families = family_sweep(a.threads, a.quick)
    peak_mid = matmul_peak(sizes, 3 if a.quick else 5)
    print("10M encoder: fp32 vs bf16, OpenMP passive vs active (child processes):")
    prec = precision_and_omp(a.threads, a.quick)
    print(f"  bf16/fp32 {prec['bf16_over_fp32_tokens_per_s']:.2f}x")
    print("10M encoder on one thread, CPU time:")
    one = one_thread_efficiency(a.quick)
    print(
        f"  {one['tokens_per_cpu_s']:.0f} tok/CPU-s, {one['pct_of_bf16_peak_per_cpu_s']:.1f}% of the 1-thread bf16 peak"
    )
    print("HF Trainer vs genolm trainer (BERT layout, 10M, bf16):")
    hf = hf_comparison(a.quick)
    for r in hf["rows"][1:]:
        print(
            f"  vs {r['label']}: genolm {r['genolm_speedup_best']:.2f}x best, {r['genolm_speedup_median']:.2f}x "
            f"median, {r['genolm_speedup_cpu_s']:.2f}x per CPU-s"
        )
    print("long context (batch 1):")
    longc = long_context(a.threads, a.quick, a.long_cap_s)
    for fam, f in longc["fits"].items():
        print(
            f"  {fam}: time exponent {f['time_exponent_all']:.2f} (CPU {f['cpu_time_exponent_all']:.2f}, "
            f"longest 3: {f['time_exponent_upper']:.2f}), memory exponent {f['memory_exponent_all']:.2f}"
        )
    peak_end = matmul_peak(sizes, 3 if a.quick else 5)
    # the reference is the best peak seen in the run: load only ever lowers it
    peak = {
        k: max(p[k] for p in (peak_start, peak_mid, peak_end))
        for k in ("fp32_gflops", "bf16_gflops", "fp32_gflops_per_cpu_s", "bf16_gflops_per_cpu_s")
    }
    peak["bf16_over_fp32"] = peak["bf16_gflops"] / peak["fp32_gflops"]
    print(f"matmul peak of the run: fp32 {peak['fp32_gflops']:.0f}, bf16 {peak['bf16_gflops']:.0f} GFLOP/s")
    for r in families:
        add_pct(r, peak)
        print(
            f"  {r['label']:<32} {r['pct_of_bf16_peak']:5.1f}% of the bf16 peak "
            f"({r['pct_of_bf16_peak_per_cpu_s']:.1f}% per CPU-s)"
        )
    enc10 = next(r for r in families if r["label"] == "encoder 10M")
    write_result(
        "pretrain_throughput",
        {
            "quick": a.quick,
            "threads": a.threads,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "torch": torch.__version__,
            "loadavg_start": load0,
            "loadavg_end": load(),
            "wall_s": time.perf_counter() - t0,
            "matmul_peak": {
                "reference": peak,
                "start": peak_start,
                "after_families": peak_mid,
                "end": peak_end,
            },
            "flops_method": (
                "FlopCounterMode on one forward (matmul + conv) x 3, plus 12*L*T*H per token for "
                "attention (CPU SDPA is not counted by FlopCounterMode); hyena FFTs not counted; "
                "% of peak uses the best bf16 matmul peak of the run (start, after the families, end)"
            ),
            "batch": f"{BATCH} windows of {WINDOW} bp (char tokens + [SEP])",
            "families": families,
            "encoder_10m_goal": {
                "goal": ">= 35% of the bf16 peak",
                "pct_of_bf16_peak": enc10["pct_of_bf16_peak"],
                "pct_of_bf16_peak_1_thread_cpu_time": one["pct_of_bf16_peak_per_cpu_s"],
            },
            "precision_and_openmp": prec,
            "one_thread_cpu_time": one,
            "optimizer_step": opt,
            "hf_trainer": hf,
            "long_context": longc,
        },
    )


if __name__ == "__main__":
    main()
