"""Pretraining quality: a small genolm model pretrained on E. coli K-12, tested on E. coli 536.

1. Pretrain a ~1M-parameter causal LM (default: the ``decoder`` family, char tokens, 512-bp
   windows) on E. coli K-12 MG1655 with ``genolm.train.pretrain.pretrain`` for at most
   ``--minutes`` of wall time (default 20): a few timed steps first set ``max_steps`` so that the
   run fits (or give ``--steps``).  The last 5% of the genome is held out, as ``pretrain`` does.
2. Fit order-k Markov models (k = 0..10, Laplace add-one) on the same K-12 training region, both
   strands (pretraining reverse-complements half of its windows).
3. Score both on a fixed seeded sample of 2,000 512-bp windows of E. coli 536 (NC_008253, a strain
   never seen in training) and on every K-12 held-out window: per-nucleotide accuracy (argmax)
   and perplexity of the next nucleotide, on the same positions (bases 2..512 of each window;
   the model sees the bases before it in its window, the Markov model the last min(k, i) of
   them, so neither sees across the window edge).  Model perplexity uses the full-vocabulary
   softmax (the model may put mass on N and special tokens); ``model_ppl_acgt`` renormalises it
   over A, C, G, T as the Markov model is.

The CLM is compared with the left-context Markov model, which conditions on exactly what a
next-nucleotide predictor may see.  A table (markdown) goes into the JSON, is printed, and is
written to benchmarks/results/pretrain_quality.md.

Run: python benchmarks/pretrain_quality.py [--quick] [--minutes 20] [--model decoder|hyena]
"""

from __future__ import annotations

import os
import sys

# benchmarks/tokenize.py shadows the standard library's `tokenize` (imported by linecache, torch...):
# move the script's folder from the front of sys.path to the back.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.append(sys.path.pop(0))

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # shared machine: see pretrain_throughput.py

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _common import RESULTS, shared, write_result  # noqa: E402

MODELS = {
    "decoder": dict(hidden_size=128, num_hidden_layers=5, num_attention_heads=2),
    "hyena": dict(hidden_size=128, num_hidden_layers=5),
}
WINDOW = 512
VALID_FRACTION = 0.05
SEED = 0
_CODE = np.full(256, -1, dtype=np.int8)
for _i, _b in enumerate("ACGT"):
    _CODE[ord(_b)] = _CODE[ord(_b.lower())] = _i


def codes(seq: np.ndarray) -> np.ndarray:
    """ASCII uint8 -> 0..3 for A C G T (either case), -1 otherwise."""
    return _CODE[seq]


# --- the Markov baseline -------------------------------------------------------------------------


class MarkovModel:
    """Order-0..``max_order`` nucleotide Markov models, Laplace (add-one) smoothed.

    ``fit(seqs)`` counts (k+1)-mers over sequences of codes 0..3 (-1 breaks a k-mer); ``probs_``
    holds one ``(4**k, 4)`` table per order k: p(next | the k previous bases).
    """

    def __init__(self, max_order: int = 10):
        self.max_order = max_order

    def fit(self, seqs: list[np.ndarray]) -> MarkovModel:
        self.counts_ = []
        for k in range(self.max_order + 1):
            total = np.zeros(4 ** (k + 1), dtype=np.int64)
            for s in seqs:
                total += np.bincount(kmer_codes(s, k + 1), minlength=4 ** (k + 1))
            self.counts_.append(total.reshape(4**k, 4))
        self.probs_ = [(c + 1) / (c.sum(1, keepdims=True) + 4) for c in self.counts_]
        return self

    def score(self, windows: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
        """log p and correctness of bases 1..W-1 of each window ``(n, W)``, from ``min(order, i)`` bases before."""
        n, W = windows.shape
        logp = np.zeros((n, W - 1))
        ok = np.zeros((n, W - 1), dtype=bool)
        for i in range(1, W):
            j = min(order, i)
            ctx = np.zeros(n, dtype=np.int64)
            for c in range(i - j, i):
                ctx = ctx * 4 + windows[:, c]
            p = self.probs_[j][ctx]  # (n, 4)
            logp[:, i - 1] = np.log(p[np.arange(n), windows[:, i]])
            ok[:, i - 1] = p.argmax(1) == windows[:, i]
        return logp, ok


def kmer_codes(s: np.ndarray, k: int) -> np.ndarray:
    """Base-4 codes of every k-mer of ``s`` (codes 0..3) without a -1 inside."""
    if len(s) < k:
        return np.zeros(0, dtype=np.int64)
    bad = np.convolve((s < 0).astype(np.int64), np.ones(k, dtype=np.int64), mode="valid") > 0
    x = np.where(s < 0, 0, s).astype(np.int64)
    code = np.zeros(len(s) - k + 1, dtype=np.int64)
    for j in range(k):
        code = code * 4 + x[j : len(s) - k + 1 + j]
    return code[~bad]


def revcomp_codes(s: np.ndarray) -> np.ndarray:
    return np.where(s < 0, -1, 3 - s)[::-1].copy()


# --- data ------------------------------------------------------------------------------------------


def read_genome(path: str) -> list[np.ndarray]:
    from genolm.train.corpus import load_contigs

    return [c.seq for c in load_contigs([path])]


def sample_windows(contigs: list[np.ndarray], n: int, seed: int) -> np.ndarray:
    """``n`` windows of ``WINDOW`` bp at seeded random starts, only A/C/G/T, as codes ``(n, WINDOW)``."""
    rng = np.random.default_rng(seed)
    lens = np.array([len(c) - WINDOW for c in contigs], dtype=np.float64)
    out = []
    while len(out) < n:
        ci = int(rng.choice(len(contigs), p=lens / lens.sum()))
        s = int(rng.integers(0, len(contigs[ci]) - WINDOW))
        w = codes(contigs[ci][s : s + WINDOW])
        if (w >= 0).all():
            out.append(w)
    return np.stack(out)


def heldout_windows(contigs: list[np.ndarray]) -> np.ndarray:
    """Every non-overlapping window in the last ``VALID_FRACTION`` of each contig (``make_windows``' split)."""
    out = []
    for c in contigs:
        cut = int(round(len(c) * (1 - VALID_FRACTION)))
        for s in range(cut, len(c) - WINDOW + 1, WINDOW):
            w = codes(c[s : s + WINDOW])
            if (w >= 0).all():
                out.append(w)
    return np.stack(out)


# --- the neural model ------------------------------------------------------------------------------


def score_model(model, tok, windows: np.ndarray, batch: int = 32) -> dict[str, np.ndarray]:
    """Next-nucleotide log p (full vocabulary and renormalised over ACGT) and argmax hits, bases 1..W-1."""
    import torch

    vocab = tok.get_vocab()
    acgt = torch.tensor([vocab[b] for b in "ACGT"])
    model.eval()
    logp_full, logp_acgt, ok = [], [], []
    with torch.inference_mode():
        for i in range(0, len(windows), batch):
            w = torch.from_numpy(windows[i : i + batch]).long()  # (b, W) codes
            ids = acgt[w]  # (b, W) token ids; no [SEP]: its logits would predict nothing here
            logits = model(input_ids=ids).logits.float()[:, :-1]  # (b, W-1, V): position t predicts t+1
            lp = torch.log_softmax(logits, -1)
            target = ids[:, 1:]
            logp_full.append(lp.gather(-1, target[..., None])[..., 0].numpy())
            sub = torch.log_softmax(logits[..., acgt], -1)  # (b, W-1, 4)
            logp_acgt.append(sub.gather(-1, w[:, 1:, None])[..., 0].numpy())
            ok.append((logits.argmax(-1) == target).numpy())
    model.train()
    return {
        "logp": np.concatenate(logp_full),
        "logp_acgt": np.concatenate(logp_acgt),
        "ok": np.concatenate(ok),
    }


def metrics(logp: np.ndarray, ok: np.ndarray) -> dict:
    return {"nt_acc": float(ok.mean()), "ppl": float(math.exp(-logp.mean())), "n": int(ok.size)}


def calibrate_steps(cfg, budget_s: float, n: int = 5) -> tuple[int, float]:
    """Time ``n`` training steps (after one warm-up) and return the steps that fit in ``budget_s``."""
    from genolm.train.pretrain import Pretrainer

    pt = Pretrainer(cfg)
    pt.train_step()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        pt.train_step()
        times.append(time.perf_counter() - t)
    step_s = float(np.median(times))
    del pt
    # 80%: evaluation, checkpoints and the load of other users' jobs need the rest
    return max(20, int(0.8 * budget_s / step_s)), step_s


TEST_SETS = (("ecoli536", "E. coli 536"), ("k12_heldout", "the K-12 held-out region"))


def compare(rows: list[dict], key: str, label: str) -> str:
    """One plain sentence: the model (``rows[0]``) against the best Markov order on test set ``key``."""
    m = rows[0][key]
    by_acc = max(rows[1:], key=lambda r: r[key]["nt_acc"])
    by_ppl = min(rows[1:], key=lambda r: r[key]["ppl"])
    lost = [
        what
        for what, is_lost in (
            ("accuracy", m["nt_acc"] <= by_acc[key]["nt_acc"]),
            ("perplexity", m["ppl"] >= by_ppl[key]["ppl"]),
        )
        if is_lost
    ]
    head = (
        f"On {label} the model has accuracy {m['nt_acc']:.4f} and perplexity {m['ppl']:.4f}; the best "
        f"Markov models reach accuracy {by_acc[key]['nt_acc']:.4f} ({by_acc['name']}) and perplexity "
        f"{by_ppl[key]['ppl']:.4f} ({by_ppl['name']})."
    )
    if not lost:
        return head + " The model beats every Markov order on both."
    return head + f" The model does NOT beat the best Markov model on {' and '.join(lost)}."


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| predictor | params | E. coli 536 acc | E. coli 536 ppl | K-12 held-out acc | K-12 held-out ppl |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['params']} | {r['ecoli536']['nt_acc']:.4f} | {r['ecoli536']['ppl']:.4f} "
            f"| {r['k12_heldout']['nt_acc']:.4f} | {r['k12_heldout']['ppl']:.4f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="~2-minute pretraining, 500 test windows")
    ap.add_argument("--minutes", type=float, default=None, help="pretraining wall-time budget (default 20)")
    ap.add_argument("--steps", type=int, default=None, help="fixed max_steps instead of the time budget")
    ap.add_argument("--model", choices=sorted(MODELS), default="decoder", help="CLM family (default decoder)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--windows", type=int, default=None, help="E. coli 536 test windows (default 2000)")
    ap.add_argument("--max-order", type=int, default=10, help="largest Markov order (default 10)")
    ap.add_argument("--out-dir", default=None, help="pretraining run folder (default: a temporary one)")
    a = ap.parse_args()
    minutes = a.minutes if a.minutes is not None else (2.0 if a.quick else 20.0)
    n_windows = a.windows or (500 if a.quick else 2000)

    import torch

    from genolm.train.pretrain import pretrain
    from genolm.train.pretrain_config import PretrainConfig

    torch.set_num_threads(a.threads)
    k12_path = str(shared("genomes", "ecoli_K12_MG1655.fasta.gz"))
    e536_path = str(shared("genomes", "ecoli_536_NC_008253.fna.gz"))
    out_dir = a.out_dir
    if out_dir is None:  # a temporary run folder, removed at exit
        import atexit
        import shutil

        out_dir = tempfile.mkdtemp(prefix="genolm-quality-")
        atexit.register(shutil.rmtree, out_dir, True)
    load0 = [round(x, 2) for x in os.getloadavg()]

    def config(max_steps: int) -> PretrainConfig:
        return PretrainConfig(
            corpus=[k12_path],
            out_dir=out_dir,
            model=a.model,
            model_config=MODELS[a.model],
            tokenizer="char",
            window=WINDOW,
            valid_fraction=VALID_FRACTION,
            batch_size=a.batch_size,
            max_steps=max_steps,
            lr=a.lr,
            warmup_steps=max(10, max_steps // 20),
            precision="auto",
            seed=SEED,
            eval_every=max(1, max_steps // 5),
            eval_batches=8,
            save_every=max_steps,
            keep_checkpoints=1,
            log_every=max(1, max_steps // 50),
            progress=False,
        )

    calib_step_s = None
    if a.steps:
        steps = a.steps
    else:
        print(f"calibrating ({minutes:g}-minute budget) ...", flush=True)
        steps, calib_step_s = calibrate_steps(config(10**6), minutes * 60)
        print(f"  {calib_step_s:.2f} s/step -> max_steps {steps}", flush=True)
    cfg = config(steps)
    print(
        f"pretraining {a.model} {MODELS[a.model]} for {steps} steps of {a.batch_size} x {WINDOW} bp",
        flush=True,
    )
    t0 = time.perf_counter()
    final = pretrain(cfg)
    train_wall = time.perf_counter() - t0
    print(
        f"  {train_wall / 60:.1f} min, K-12 valid loss {final.get('valid_loss', float('nan')):.4f}",
        flush=True,
    )
    log = [json.loads(x) for x in Path(out_dir, "metrics.jsonl").read_text().splitlines() if x.strip()]
    tps = [r["tokens_per_s"] for r in log if "tokens_per_s" in r]

    # data for scoring
    k12 = [codes(s) for s in read_genome(k12_path)]
    train_part = [s[: int(round(len(s) * (1 - VALID_FRACTION)))] for s in k12]
    e536 = sample_windows(read_genome(e536_path), n_windows, seed=SEED)
    k12_valid = heldout_windows(read_genome(k12_path))
    print(
        f"scoring on {len(e536)} E. coli 536 windows and {len(k12_valid)} K-12 held-out windows", flush=True
    )

    from transformers import AutoModelForCausalLM, AutoTokenizer

    import genolm.models  # noqa: F401  (registers the families with AutoModel*)
    import genolm.tokenizers  # noqa: F401

    model = AutoModelForCausalLM.from_pretrained(final["final_dir"])  # fp32 for scoring
    tok = AutoTokenizer.from_pretrained(final["final_dir"])
    n_params = sum(p.numel() for p in model.parameters())
    t_eval = time.perf_counter()
    res = {"ecoli536": score_model(model, tok, e536), "k12_heldout": score_model(model, tok, k12_valid)}
    name = f"genolm {a.model} ({n_params / 1e6:.2f}M, {steps} steps, {train_wall / 60:.1f} min)"
    rows = [
        {
            "name": name,
            "params": n_params,
            **{k: metrics(v["logp"], v["ok"]) for k, v in res.items()},
            "ppl_acgt": {k: float(math.exp(-v["logp_acgt"].mean())) for k, v in res.items()},
        }
    ]
    model_eval_s = time.perf_counter() - t_eval

    t_mk = time.perf_counter()
    markov = MarkovModel(a.max_order).fit(train_part + [revcomp_codes(s) for s in train_part])
    for k in range(1, a.max_order + 1):
        scores = {"ecoli536": markov.score(e536, k), "k12_heldout": markov.score(k12_valid, k)}
        rows.append(
            {
                "name": f"Markov order {k} (left context, Laplace)",
                "params": 3 * 4**k,
                **{key: metrics(*v) for key, v in scores.items()},
            }
        )
    markov_s = time.perf_counter() - t_mk

    table = markdown_table(rows)
    print(table)
    verdict = " ".join(compare(rows, key, label) for key, label in TEST_SETS)
    print(verdict)
    md = (
        "# Pretraining quality: E. coli K-12 -> E. coli 536\n\n"
        f"Next-nucleotide prediction on {len(e536)} seeded 512-bp windows of E. coli 536 (never seen in "
        f"training) and {len(k12_valid)} K-12 held-out windows (last 5% of the genome); bases 2..512 of "
        "each window, context from inside the window only.  Markov models are fitted on the same K-12 "
        "training region (both strands).  Perplexity of the model is over the full vocabulary.\n\n"
        f"{table}\n\n{verdict}\n\n"
        "E. coli 536 is a different strain but shares much of its sequence with K-12, so long k-mers "
        "seen in training recur there: compare how the Markov model's accuracy changes with the order "
        "on the two test sets (on sequence not seen at all, the K-12 held-out region, high orders "
        "overfit).\n\nWritten by benchmarks/pretrain_quality.py"
        f"{' --quick' if a.quick else ''}; see pretrain_quality.json.\n"
    )
    (RESULTS / "pretrain_quality.md").write_text(md)
    write_result(
        "pretrain_quality",
        {
            "quick": a.quick,
            "threads": a.threads,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "loadavg_start": load0,
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "budget_minutes": minutes,
            "calibration_step_s": calib_step_s,
            "pretrain_config": {
                k: getattr(cfg, k)
                for k in (
                    "model",
                    "model_config",
                    "tokenizer",
                    "window",
                    "batch_size",
                    "max_steps",
                    "lr",
                    "warmup_steps",
                    "precision",
                    "rc_augment",
                )
            },
            "pretrain_wall_s": train_wall,
            "pretrain_final": {k: v for k, v in final.items() if k != "final_dir"},
            "pretrain_tokens_per_s_median": float(np.median(tps)) if tps else None,
            "loss_curve": [
                {k: r[k] for k in ("step", "loss", "valid_loss", "valid_nt_acc") if k in r}
                for r in log
                if "valid_loss" in r or r["step"] % max(1, steps // 20) == 0
            ],
            "test": {
                "ecoli536": f"{len(e536)} windows of {WINDOW} bp, random starts seeded {SEED}, A/C/G/T only",
                "k12_heldout": f"{len(k12_valid)} non-overlapping windows of the last 5% of K-12",
                "positions": "bases 2..512 of each window (next-nucleotide, context inside the window)",
            },
            "rows": rows,
            "table_markdown": table,
            "verdict": verdict,
            "model_eval_s": model_eval_s,
            "markov_fit_and_eval_s": markov_s,
        },
    )


if __name__ == "__main__":
    main()
