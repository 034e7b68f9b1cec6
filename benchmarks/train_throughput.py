"""Fine-tuning and embedding throughput: genolm vs ``transformers.Trainer`` and a DNALLM-style HF loop.

One run, one machine, one torch thread, the same model in every arm:

* **Model**: a randomly initialised NT-v1-layout ``EsmForSequenceClassification`` (hidden 256,
  7 layers, 4 heads, FFN 1024, 1002 learned positions, the 4,107-token NT 6-mer vocabulary:
  6,903,071 parameters), built locally in the published layout by
  :func:`genolm.catalogue.fixtures.make_tiny_nt`.  Both arms start from the same weights (head
  included).
* **Data**: the training split of ``shared/cnnprom-arabidopsis-tata`` (251 nt, 47 NT tokens each;
  every sequence has the same length, so padding and length bucketing cannot help either arm).
* **Training**: ``--steps`` optimizer steps of batch ``--batch-size``, lr 2e-4, linear schedule,
  weight decay 0.01, gradient clipping 1.0.  ``transformers.Trainer`` in its normal recipe
  (tokenised rows, ``DataCollatorWithPadding``, its default optimizer, no evaluation, logging and
  saving off, ``bf16=True`` for bf16) vs genolm's :class:`~genolm.bench.finetune.Finetuner`
  (``mode="full"``, one epoch over ``steps x batch`` rows; it also runs its per-epoch validation
  on one batch, which the Trainer arm does not, so genolm carries that cost).  Each arm's time is
  the wall time of one whole ``train()`` / ``fit()`` call, set-up included; a warm-up run of every
  arm precedes the timed trials, which are interleaved (T, g, e, e, g, T, ...) so background load
  hits every arm alike.  The ratio is the median over trials of Trainer time / genolm time.  The
  ablation arm ``e`` is genolm's loop with the last block at every row
  (:func:`genolm.infer.cls_row_last_layer` off): what that kernel is worth.
* **Embedding**: mean-pooled last hidden states of ``--embed-n`` training sequences with the
  plain AutoModel loop of ``benchmarks/embed_throughput.py`` (the DNALLM-style HF loop: fixed
  batches in input order, padded, fp32, ``no_grad``) vs ``genolm.load(folder).embed`` in
  ``precision="auto"`` and ``"fp32"``.
* **Profile**: one ``torch.profiler`` window of ``--profile-steps`` steps of the Trainer-style
  step (HF model) and of genolm's step (genolm's kernels) in each precision: where the time goes.

Usage::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/train_throughput.py      # ~10 min on one core
    python benchmarks/train_throughput.py --steps 2 --trials 1 --embed-n 32 --quick   # smoke run
"""

from __future__ import annotations

import os
import sys

# benchmarks/tokenize.py would shadow the standard library's tokenize: move this folder to the back
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.append(sys.path.pop(0))

from _common import RESULTS, ROOT, machine, single_core, write_result  # noqa: E402

single_core()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import copy  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

TASK = "shared/cnnprom-arabidopsis-tata"
HIDDEN, LAYERS, CONTEXT = 256, 7, 1000
LR = 2e-4


def load_data(n: int):
    from genolm.bench.tasks import load_suite

    tasks = {t.name: t for t in load_suite(str(ROOT / "benchmarks" / "suites" / "shared.yaml"))}
    tr = tasks[TASK].load_splits(["train"])["train"]
    seqs, labels = list(tr.sequences), np.asarray(tr.labels)
    classes = np.unique(labels)
    y = np.searchsorted(classes, labels)
    # the FASTA-per-class rows come grouped by class: one seeded shuffle, the same for every arm
    order = np.random.default_rng(0).permutation(len(seqs))
    seqs, y = [seqs[i] for i in order], y[order]
    if n > len(seqs):
        raise SystemExit(f"{TASK} has {len(seqs)} training rows, {n} asked for: lower --steps/--batch-size")
    return seqs, y


def build_models(folder: Path):
    """The HF model (AutoModelForSequenceClassification) and genolm's ``for_task`` model, same weights."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    import genolm
    from genolm.catalogue.fixtures import make_tiny_nt

    hf_logging.set_verbosity_error()
    make_tiny_nt(folder, hidden=HIDDEN, layers=LAYERS, context=CONTEXT)
    torch.manual_seed(0)
    hf = AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=2)
    tok = AutoTokenizer.from_pretrained(str(folder))
    lm = genolm.load(folder)
    g = lm.for_task("binary", "full")
    missing = g.load_state_dict(hf.state_dict(), strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys
    return hf, tok, g, lm


# --- the two training arms ---------------------------------------------------------------------


def run_trainer(hf, tok, seqs, y, *, steps: int, bs: int, bf16: bool, out: Path) -> dict:
    """transformers.Trainer's normal recipe; returns wall seconds and Trainer's own metrics."""
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    t0 = time.perf_counter()
    n = steps * bs
    enc = tok(seqs[:n], truncation=True)
    rows = [
        {"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i], "labels": int(y[i])}
        for i in range(n)
    ]
    args = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=bs,
        learning_rate=LR,
        weight_decay=0.01,
        lr_scheduler_type="linear",
        warmup_steps=max(1, int(0.06 * steps)),
        max_grad_norm=1.0,
        max_steps=steps,
        num_train_epochs=1,
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        report_to=[],
        disable_tqdm=True,
        bf16=bf16,
        use_cpu=True,
        dataloader_num_workers=0,
        seed=0,
    )
    trainer = Trainer(
        model=copy.deepcopy(hf), args=args, train_dataset=rows, data_collator=DataCollatorWithPadding(tok)
    )
    metrics = trainer.train().metrics
    return {"wall_s": time.perf_counter() - t0, "optim": str(args.optim), "metrics": metrics}


def run_genolm(
    g, lm, seqs, y, *, steps: int, bs: int, bf16: bool, compile_: bool = False, cls_row: bool = True
) -> dict:
    """genolm's Finetuner; ``cls_row=False`` is the ablation arm: the last block at every row."""
    from genolm.bench import finetune
    from genolm.bench.finetune import FinetuneConfig, Finetuner

    n = steps * bs
    cfg = FinetuneConfig(
        mode="full",
        max_epochs=1,
        batch_size=bs,
        lr=LR,
        weight_decay=0.01,
        class_weight="none",
        precision="bf16" if bf16 else "fp32",
        eval_batch_size=bs,
        compile=compile_,
        progress=False,
    )
    kernel = finetune.cls_row_last_layer
    if not cls_row:
        finetune.cls_row_last_layer = lambda model: contextlib.nullcontext()
    try:
        t0 = time.perf_counter()
        ft = Finetuner(g, lm.tokenizer, "binary", cfg).fit(
            seqs[:n], y[:n], valid=(seqs[n : n + bs], y[n : n + bs])
        )
    finally:
        finetune.cls_row_last_layer = kernel
    return {
        "wall_s": time.perf_counter() - t0,
        "timings": ft.timings_,
        "train_loss": ft.history_[0]["train_loss"],
        # the exact kernels the Finetuner chose: attention path, <cls>-row last block
        "attention": ft.attention_ or getattr(g.config, "_attn_implementation", "?"),
        "last_block": ft.last_block_,
    }


# --- profile -----------------------------------------------------------------------------------


def profile_steps(model, tok, seqs, y, *, bs: int, steps: int, bf16: bool, genolm_kernels: bool) -> dict:
    """torch.profiler over ``steps`` training steps (after 2 untimed): self CPU time per op group."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from genolm.infer import adamw, cls_row_last_layer, fuse_gelu, training_attention

    m = copy.deepcopy(model).train()
    enc = tok(seqs[:bs], padding=True, return_tensors="pt")
    labels = torch.from_numpy(np.asarray(y[:bs])).long()
    rows = contextlib.ExitStack()
    if genolm_kernels:  # what Finetuner applies to a transformers ESM classifier
        fuse_gelu(m)
        training_attention(m, torch.device("cpu"), "bf16" if bf16 else "fp32", enc["input_ids"].shape[1])
        rows.enter_context(cls_row_last_layer(m))
    opt = (
        adamw(m.parameters(), LR) if genolm_kernels else torch.optim.AdamW(m.parameters(), lr=LR, fused=True)
    )

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = m(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
        loss = torch.nn.functional.cross_entropy(out.logits.float(), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()

    for _ in range(2):
        step()
    with rows, profile(activities=[ProfilerActivity.CPU]) as p:
        for _ in range(steps):
            step()
    groups = {
        "matmul (mm, addmm, bmm)": ("aten::mm", "aten::addmm", "aten::bmm"),
        "attention (SDPA, or eager softmax; its matmuls are bmm)": (
            "aten::_scaled_dot_product",
            "aten::_softmax",
        ),
        "GELU and other elementwise": (
            "aten::mul",
            "aten::div",
            "aten::erf",
            "aten::exp",
            "aten::neg",
            "aten::pow",
            "aten::add",
            "aten::gelu",
            "aten::gelu_backward",
            "aten::sub",
        ),
        "layer norm fwd+bwd": ("aten::native_layer_norm",),
        "optimizer (AdamW)": (
            "aten::_fused_adamw",
            "aten::_foreach",
            "aten::addcdiv",
            "aten::lerp",
            "aten::sqrt",
        ),
        "dtype casts / copies": ("aten::copy_", "aten::_to_copy"),
    }
    total = 0.0
    by = dict.fromkeys(groups, 0.0)
    by["other"] = 0.0
    for e in p.key_averages():
        t = e.self_cpu_time_total / 1e6
        total += t
        for gname, prefixes in groups.items():
            if e.key.startswith(prefixes):
                by[gname] += t
                break
        else:
            by["other"] += t
    return {"per_step_s": total / steps, "share": {k: v / total for k, v in by.items()}, "steps": steps}


# --- embedding ---------------------------------------------------------------------------------


def embed_arms(folder: Path, seqs: list[str], bs: int, trials: int) -> dict:
    from embed_throughput import Plain

    import genolm

    lm = genolm.load(folder)
    plain = Plain(folder, "nt")
    ref = plain.embed(seqs, bs)
    g32 = lm.embed(seqs, pooling="mean", batch_size=bs, precision="fp32")
    gau = lm.embed(seqs, pooling="mean", batch_size=bs, precision="auto")
    arms = {
        "hf_loop": lambda: plain.embed(seqs, bs),
        "genolm_auto": lambda: lm.embed(seqs, pooling="mean", batch_size=bs, precision="auto"),
        "genolm_fp32": lambda: lm.embed(seqs, pooling="mean", batch_size=bs, precision="fp32"),
    }
    times: dict[str, list[float]] = {k: [] for k in arms}
    for t in range(trials):
        for name in arms if t % 2 == 0 else reversed(list(arms)):
            t0 = time.perf_counter()
            arms[name]()
            times[name].append(time.perf_counter() - t0)
    ratio = {
        k: statistics.median([h / x for h, x in zip(times["hf_loop"], times[k])])
        for k in ("genolm_auto", "genolm_fp32")
    }
    return {
        "n": len(seqs),
        "batch_size": bs,
        "seconds": times,
        "seqs_per_s_median": {k: len(seqs) / statistics.median(v) for k, v in times.items()},
        "ratio_over_hf_loop_median": ratio,
        "max_abs_diff_fp32": float(np.abs(g32 - ref).max()),
        "max_abs_diff_auto": float(np.abs(gau - ref).max()),
        "embedding_max_abs": float(np.abs(ref).max()),
    }


# --- the run -----------------------------------------------------------------------------------


def run(args) -> dict:
    import torch

    from genolm.infer import resolve_precision

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="genolm-train-bench-"))
    folder = tmp / "nt"
    hf, tok, g, lm = build_models(folder)
    n_params = sum(p.numel() for p in hf.parameters())
    seqs, y = load_data(args.steps * args.batch_size + args.batch_size)
    ntok = len(tok(seqs[0])["input_ids"])
    kw = dict(steps=args.steps, bs=args.batch_size)
    train: dict = {}
    for prec in args.precisions:
        bf16 = prec == "bf16"
        arms = {
            "trainer": lambda bf16=bf16: run_trainer(hf, tok, seqs, y, bf16=bf16, out=tmp / "trainer", **kw),
            "genolm": lambda bf16=bf16: run_genolm(g, lm, seqs, y, bf16=bf16, **kw),
            # ablation: the same loop with the last block at every row (what cls_row_last_layer saves)
            "genolm_every_row": lambda bf16=bf16: run_genolm(g, lm, seqs, y, bf16=bf16, cls_row=False, **kw),
        }
        # warm-up (2 steps per arm): first-call costs (allocator, oneDNN kernels) off the clock
        print(f"[{prec}] warm-up", flush=True)
        run_trainer(hf, tok, seqs, y, bf16=bf16, out=tmp / "trainer", steps=2, bs=args.batch_size)
        run_genolm(g, lm, seqs, y, bf16=bf16, steps=2, bs=args.batch_size)
        run_genolm(g, lm, seqs, y, bf16=bf16, steps=2, bs=args.batch_size, cls_row=False)
        res: dict[str, list] = {k: [] for k in arms}
        for t in range(args.trials):
            for name in arms if t % 2 == 0 else reversed(list(arms)):
                r = arms[name]()
                res[name].append(r)
                print(f"[{prec}] trial {t} {name}: {r['wall_s']:.1f} s", flush=True)
        wall = {k: [r["wall_s"] for r in v] for k, v in res.items()}
        ratios = [a / b for a, b in zip(wall["trainer"], wall["genolm"])]
        every_row = [a / b for a, b in zip(wall["trainer"], wall["genolm_every_row"])]
        cls_gain = [a / b for a, b in zip(wall["genolm_every_row"], wall["genolm"])]
        n = args.steps * args.batch_size
        train[prec] = {
            "wall_s": wall,
            "seqs_per_s_median": {k: n / statistics.median(v) for k, v in wall.items()},
            "ratio_genolm_over_trainer_per_trial": ratios,
            "ratio_genolm_over_trainer_median": statistics.median(ratios),
            "goal_1_5x_met": statistics.median(ratios) >= 1.5,
            "ratio_every_row_over_trainer_median": statistics.median(every_row),
            "cls_row_speedup_median": statistics.median(cls_gain),
            "trainer_optim": res["trainer"][0]["optim"],
            "trainer_metrics": res["trainer"][-1]["metrics"],
            "genolm_timings": res["genolm"][-1]["timings"],
            "genolm_attention": res["genolm"][-1]["attention"],
            "genolm_last_block": res["genolm"][-1]["last_block"],
            "train_loss": {"genolm": res["genolm"][-1]["train_loss"]},
        }
    compile_rec = None
    if args.compile:
        print("[fp32] genolm with compile=True", flush=True)
        r = run_genolm(g, lm, seqs, y, bf16=False, compile_=True, **kw)
        plain = statistics.median(train["fp32"]["wall_s"]["genolm"]) if "fp32" in train else None
        compile_rec = {"wall_s": r["wall_s"], "genolm_fp32_wall_s_median": plain}
    profile = {}
    if args.profile_steps:
        for prec in args.precisions:
            for arm, model, gk in (("trainer_step", hf, False), ("genolm_step", g, True)):
                print(f"[{prec}] profile {arm}", flush=True)
                profile[f"{prec}/{arm}"] = profile_steps(
                    model,
                    tok,
                    seqs,
                    y,
                    bs=args.batch_size,
                    steps=args.profile_steps,
                    bf16=prec == "bf16",
                    genolm_kernels=gk,
                )
    print("embedding", flush=True)
    emb = embed_arms(folder, seqs[: args.embed_n], args.embed_batch_size, args.trials)
    emb["genolm_auto_precision"] = resolve_precision("auto", torch.device("cpu"))
    emb["goal_1_5x_met"] = emb["ratio_over_hf_loop_median"]["genolm_auto"] >= 1.5
    return {
        "model": {
            "layout": "NT v1 (EsmForSequenceClassification, 6-mer vocabulary, learned positions)",
            "hidden": HIDDEN,
            "layers": LAYERS,
            "context": CONTEXT,
            "params": n_params,
            "weights": "random (fixtures.make_tiny_nt seed 0; head seed 0), identical in every arm",
            "attn_implementation": hf.config._attn_implementation,
        },
        "data": {"task": TASK, "tokens_per_seq": ntok, "train_rows_used": args.steps * args.batch_size},
        "settings": {
            "steps": args.steps,
            "batch_size": args.batch_size,
            "lr": LR,
            "trials": args.trials,
            "torch_threads": torch.get_num_threads(),
            "scaled": f"{args.steps} optimizer steps per timed run (not a full fine-tune), "
            f"{args.embed_n} sequences embedded",
        },
        "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
        "loadavg_start": list(args.loadavg_start),
        "loadavg_end": list(os.getloadavg()),
        "train": train,
        "compile": compile_rec,
        "profile": profile,
        "embed": emb,
    }


def write_md(res: dict, path: Path) -> None:
    s = res["settings"]
    m = res["model"]
    lines = [
        "# Fine-tuning and embedding throughput: genolm vs transformers.Trainer and an HF loop",
        "",
        f"{m['params']:,}-parameter {m['layout']}, random weights; {res['data']['task']} training rows "
        f"({res['data']['tokens_per_seq']} tokens each); {s['steps']} optimizer steps of batch {s['batch_size']} "
        f"per timed run, {s['trials']} interleaved trials after a warm-up, torch threads "
        f"{s['torch_threads']}; load average {res['loadavg_start'][0]:.2f} -> {res['loadavg_end'][0]:.2f} "
        f"on {res['machine'].get('cpu', '?')} ({res['machine']['cpu_count']} cores). Ratios: median over "
        "trials of the alternative's time / genolm's time.",
        "",
        "| workload | precision | alternative seq/s | genolm seq/s | ratio | goal >= 1.5x |",
        "|---|---|---|---|---|---|",
    ]
    for prec, r in res["train"].items():
        sp = r["seqs_per_s_median"]
        lines.append(
            f"| fine-tuning (Trainer, optim {r['trainer_optim'].split('.')[-1]}) | {prec} | {sp['trainer']:.1f} "
            f"| {sp['genolm']:.1f} | {r['ratio_genolm_over_trainer_median']:.2f} "
            f"| {'met' if r['goal_1_5x_met'] else 'NOT met'} |"
        )
        if "genolm_every_row" in sp:
            lines.append(
                f"| fine-tuning, genolm with the last block at every row (ablation) | {prec} "
                f"| {sp['trainer']:.1f} | {sp['genolm_every_row']:.1f} "
                f"| {r['ratio_every_row_over_trainer_median']:.2f} | (the <cls>-row block is worth "
                f"{r['cls_row_speedup_median']:.2f}x) |"
            )
    e = res["embed"]
    sp = e["seqs_per_s_median"]
    lines += [
        f"| embedding (HF loop, fp32) | genolm auto = {e['genolm_auto_precision']} | {sp['hf_loop']:.1f} "
        f"| {sp['genolm_auto']:.1f} | {e['ratio_over_hf_loop_median']['genolm_auto']:.2f} "
        f"| {'met' if e['goal_1_5x_met'] else 'NOT met'} |",
        f"| embedding (HF loop, fp32) | genolm fp32 | {sp['hf_loop']:.1f} | {sp['genolm_fp32']:.1f} "
        f"| {e['ratio_over_hf_loop_median']['genolm_fp32']:.2f} | (fp32 only, for reference) |",
        "",
        f"Embedding agreement with the HF loop: max abs diff {e['max_abs_diff_fp32']:.1e} (fp32), "
        f"{e['max_abs_diff_auto']:.1e} (auto), embeddings up to {e['embedding_max_abs']:.1f}.",
        "",
        "genolm's fine-tuning arm ran "
        + "; ".join(
            f"{prec}: {r.get('genolm_attention', '?')} attention, last block "
            f"{r.get('genolm_last_block') or 'at every row'}"
            for prec, r in res["train"].items()
        )
        + " (the Trainer arm: SDPA, every row).",
    ]
    if res.get("compile"):
        c = res["compile"]
        lines += [
            "",
            f"`compile=True` (fp32, one run, compile included): {c['wall_s']:.1f} s vs "
            f"{c['genolm_fp32_wall_s_median']:.1f} s without.",
        ]
    if res["profile"]:
        keys = list(res["profile"])
        groups = list(next(iter(res["profile"].values()))["share"])
        lines += [
            "",
            "## Where the time goes (torch.profiler, self CPU time per training step)",
            "",
            "| op group | " + " | ".join(keys) + " |",
            "|---|" + "---|" * len(keys),
            "| seconds per step | "
            + " | ".join(f"{res['profile'][k]['per_step_s']:.2f}" for k in keys)
            + " |",
        ]
        for gname in groups:
            lines.append(
                f"| {gname} | " + " | ".join(f"{res['profile'][k]['share'][gname]:.0%}" for k in keys) + " |"
            )
        lines += [
            "",
            "trainer_step: the HF model as `Trainer` runs it (fused AdamW, transformers' ESM GELU, SDPA); "
            "genolm_step: the same step with the kernels `Finetuner` applies (`genolm.infer.fuse_gelu`, "
            "`adamw`, `training_attention`: eager attention in bf16, `cls_row_last_layer`: the last block "
            "at the `<cls>` row only).",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    p.add_argument("--embed-n", type=int, default=512)
    p.add_argument("--embed-batch-size", type=int, default=32)
    p.add_argument("--profile-steps", type=int, default=2)
    p.add_argument("--compile", action="store_true", help="also time genolm with compile=True (fp32)")
    p.add_argument("--quick", action="store_true", help="do not write results/")
    args = p.parse_args(argv)
    args.loadavg_start = os.getloadavg()
    res = run(args)
    for prec, r in res["train"].items():
        print(f"train {prec}: genolm / Trainer = {r['ratio_genolm_over_trainer_median']:.2f}x")
    print(f"embed: genolm auto / HF loop = {res['embed']['ratio_over_hf_loop_median']['genolm_auto']:.2f}x")
    if not args.quick:
        write_result("train_throughput", res)
        res["machine"] = machine()
        write_md(res, RESULTS / "train_throughput.md")


if __name__ == "__main__":
    main()
