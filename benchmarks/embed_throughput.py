"""Embedding throughput: ``genolm.load(...).embed(...)`` vs the plain ``AutoModel`` loop most users write.

The plain loop (what typical scripts do): ``AutoTokenizer`` + ``AutoModel``, fixed-size batches in
input order, every sequence padded to the longest sequence of the whole set
(``padding="max_length", max_length=<longest>``), fp32, ``torch.no_grad()``, mean pooling over the
attention mask (special tokens included, as genolm's ``pooling="mean"`` does).

genolm: ``lm.embed(seqs, pooling="mean", batch_size=B)`` (length-sorted, per-batch padding,
``torch.inference_mode``), with ``precision="auto"`` (bf16 autocast where the CPU supports it) and
with ``precision="fp32"``, so the gain from padding/sorting and the gain from bf16 are separable.

Models: a DNABERT-6-shaped and an NT-v1-shaped checkpoint built with
:mod:`genolm.catalogue.fixtures` at a realistic small size (hidden 256, 4 layers, random weights;
the DNABERT one widened to 512 positions like the published model), and the bundled genolm-tiny.
Sequences: ``--n`` windows of 100-500 bp (uniform) from the bundled phage lambda genome (500 bp keeps
every model within its context: DNABERT 512 tokens, genolm-tiny 512 characters).

Trials are interleaved (plain, genolm-auto, genolm-fp32, plain, ...) so background load hits all
arms alike; the reported ratio is the median over trials of the per-round ratio, measured side by
side in one run.  Usage::

    OMP_NUM_THREADS=1 python benchmarks/embed_throughput.py            # ~3-5 min on one core
    python benchmarks/embed_throughput.py --n 64 --trials 2 --quick    # smoke run
"""

from __future__ import annotations

import os
import sys

# benchmarks/tokenize.py would shadow the standard library's tokenize (used by linecache, torch...):
# move this script's folder from the front of sys.path to the back.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


# --- models ------------------------------------------------------------------------------------


def build_dnabert(folder: Path, hidden: int, layers: int, positions: int = 512) -> Path:
    """``make_tiny_dnabert`` at ``hidden``/``layers``, position table widened to ``positions``."""
    import torch

    from genolm.catalogue.fixtures import make_tiny_dnabert

    make_tiny_dnabert(folder, k=6, hidden=hidden, layers=layers)
    cfg = json.loads((folder / "config.json").read_text())
    sd = torch.load(folder / "pytorch_model.bin", weights_only=True)
    key = "bert.embeddings.position_embeddings.weight"
    old = sd[key]
    g = torch.Generator().manual_seed(1)
    new = torch.randn(positions, old.shape[1], generator=g) * 0.02
    new[: old.shape[0]] = old
    sd[key] = new
    sd.pop("bert.embeddings.position_ids", None)
    torch.save(sd, folder / "pytorch_model.bin")
    cfg["max_position_embeddings"] = positions
    (folder / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    tc = json.loads((folder / "tokenizer_config.json").read_text())
    tc["max_len"] = positions
    (folder / "tokenizer_config.json").write_text(json.dumps(tc, indent=2, sort_keys=True) + "\n")
    return folder


def build_nt(folder: Path, hidden: int, layers: int) -> Path:
    from genolm.catalogue.fixtures import make_tiny_nt

    return make_tiny_nt(folder, hidden=hidden, layers=layers, context=1000)


def sequences(n: int, lo: int, hi: int, seed: int) -> list[str]:
    import genolm.data
    from genolm.io import Genome

    g = Genome(genolm.data.genome_path("lambda"), in_memory=True)
    contig = g.contigs[0]
    total = g.lengths[contig]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        L = int(rng.integers(lo, hi + 1))
        s = int(rng.integers(0, total - L))
        out.append(g.fetch(contig, s, s + L).upper())
    return out


# --- the two arms --------------------------------------------------------------------------------


class Plain:
    """The loop most users write: AutoTokenizer + AutoModel, input order, pad to the longest of the set."""

    def __init__(self, folder: Path, family: str):
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        import genolm.models  # noqa: F401  (registers genolm's own classes with the Auto classes)
        import genolm.tokenizers  # noqa: F401

        hf_logging.set_verbosity_error()
        self.family = family
        self.tok = AutoTokenizer.from_pretrained(str(folder))
        self.model = AutoModel.from_pretrained(str(folder)).eval()

    def text(self, s: str) -> str:
        if self.family == "dnabert":  # DNABERT's README: space-separated overlapping 6-mers
            return " ".join(s[i : i + 6] for i in range(len(s) - 5))
        return s

    def embed(self, seqs: list[str], batch_size: int) -> np.ndarray:
        import torch

        texts = [self.text(s) for s in seqs]
        longest = max(len(self.tok(t)["input_ids"]) for t in texts)
        out = []
        with torch.no_grad():
            for a in range(0, len(texts), batch_size):
                enc = self.tok(
                    texts[a : a + batch_size],
                    padding="max_length",
                    max_length=longest,
                    truncation=True,
                    return_tensors="pt",
                )
                enc.pop("token_type_ids", None)
                h = self.model(
                    input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
                ).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
                out.append(((h * m).sum(1) / m.sum(1).clamp(min=1)).numpy())
        return np.concatenate(out)


def run(args) -> dict:
    import torch

    import genolm

    torch.set_num_threads(args.threads)
    seqs = sequences(args.n, args.min_len, args.max_len, args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="genolm-bench-"))
    models = [
        (
            "dnabert-6-shaped (h256, 4 layers)",
            "dnabert",
            build_dnabert(tmp / "dnabert", args.hidden, args.layers),
        ),
        ("nt-v1-shaped (h256, 4 layers)", "nt", build_nt(tmp / "nt", args.hidden, args.layers)),
        ("genolm-tiny (bundled)", "genolm", genolm.load("genolm-tiny").folder),
    ]
    rows = []
    for label, family, folder in models:
        lm = genolm.load(folder)
        plain = Plain(folder, family)
        n_params = sum(p.numel() for p in lm.model.parameters())
        # correctness, untimed
        ref = plain.embed(seqs, args.batch_size)
        g32 = lm.embed(seqs, pooling="mean", batch_size=args.batch_size, precision="fp32")
        gbf = lm.embed(seqs, pooling="mean", batch_size=args.batch_size, precision="auto")
        scale = float(np.abs(ref).max())
        times: dict[str, list[float]] = {"plain": [], "genolm_auto": [], "genolm_fp32": []}
        arms = {
            "plain": lambda plain=plain: plain.embed(seqs, args.batch_size),
            "genolm_auto": lambda lm=lm: lm.embed(
                seqs, pooling="mean", batch_size=args.batch_size, precision="auto"
            ),
            "genolm_fp32": lambda lm=lm: lm.embed(
                seqs, pooling="mean", batch_size=args.batch_size, precision="fp32"
            ),
        }
        for t in range(args.trials):
            order = list(arms) if t % 2 == 0 else list(reversed(arms))
            for name in order:
                t0 = time.perf_counter()
                arms[name]()
                times[name].append(time.perf_counter() - t0)
        sps = {k: [len(seqs) / x for x in v] for k, v in times.items()}
        ratio_auto = [p / g for p, g in zip(times["plain"], times["genolm_auto"])]
        ratio_fp32 = [p / g for p, g in zip(times["plain"], times["genolm_fp32"])]
        ntok = [len(plain.tok(plain.text(s))["input_ids"]) for s in seqs]
        row = dict(
            model=label,
            family=family,
            params=n_params,
            tokens_per_seq_mean=float(np.mean(ntok)),
            tokens_longest=int(max(ntok)),
            padding_fraction_plain=float(1 - np.mean(ntok) / max(ntok)),
            seconds=times,
            seqs_per_s_median={k: statistics.median(v) for k, v in sps.items()},
            ratio_genolm_auto_over_plain_median=statistics.median(ratio_auto),
            ratio_genolm_fp32_over_plain_median=statistics.median(ratio_fp32),
            ratio_genolm_auto_per_trial=ratio_auto,
            ratio_genolm_fp32_per_trial=ratio_fp32,
            max_abs_diff_fp32_vs_plain=float(np.abs(g32 - ref).max()),
            max_abs_diff_bf16_vs_plain=float(np.abs(gbf - ref).max()),
            embedding_max_abs=scale,
            genolm_auto_precision=_resolved_precision(lm),
            goal_1_5x_met=statistics.median(ratio_auto) >= 1.5,
        )
        rows.append(row)
        print(
            f"{label:38s} plain {row['seqs_per_s_median']['plain']:7.1f}/s  genolm-auto "
            f"{row['seqs_per_s_median']['genolm_auto']:7.1f}/s (x{row['ratio_genolm_auto_over_plain_median']:.2f})"
            f"  genolm-fp32 {row['seqs_per_s_median']['genolm_fp32']:7.1f}/s "
            f"(x{row['ratio_genolm_fp32_over_plain_median']:.2f})  maxdiff fp32 "
            f"{row['max_abs_diff_fp32_vs_plain']:.1e} bf16 {row['max_abs_diff_bf16_vs_plain']:.1e}",
            flush=True,
        )
    return dict(
        benchmark="embed_throughput",
        sequences=dict(n=len(seqs), min_bp=args.min_len, max_bp=args.max_len, source="bundled phage lambda"),
        batch_size=args.batch_size,
        trials=args.trials,
        torch_threads=torch.get_num_threads(),
        omp_num_threads_env=os.environ.get("OMP_NUM_THREADS"),
        plain_padding="max_length = longest tokenized sequence of the whole set; input order; fp32",
        loadavg_start=list(args.loadavg_start),
        loadavg_end=list(os.getloadavg()),
        cpu_count=os.cpu_count(),
        platform=platform.platform(),
        torch=torch.__version__,
        transformers=__import__("transformers").__version__,
        genolm=genolm.__version__ if hasattr(genolm, "__version__") else None,
        results=rows,
    )


def _resolved_precision(lm) -> str:
    from genolm.catalogue.loader import _precision

    return _precision("auto", lm.device)


def write_md(res: dict, path: Path) -> None:
    lines = [
        "# Embedding throughput: genolm `embed` vs the plain AutoModel loop",
        "",
        f"{res['sequences']['n']} sequences of {res['sequences']['min_bp']}-{res['sequences']['max_bp']} bp "
        f"({res['sequences']['source']}), batch size {res['batch_size']}, {res['trials']} interleaved trials, "
        f"torch threads {res['torch_threads']}, load average {res['loadavg_start']} -> {res['loadavg_end']}. "
        f"Plain loop: {res['plain_padding']}. Ratios: median over trials of plain time / genolm time.",
        "",
        "| model | plain seq/s | genolm auto seq/s | ratio (auto) | genolm fp32 seq/s | ratio (fp32) "
        "| plain padding | max abs diff fp32 | max abs diff bf16 | max abs embedding | goal 1.5x |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["results"]:
        s = r["seqs_per_s_median"]
        lines.append(
            f"| {r['model']} | {s['plain']:.1f} | {s['genolm_auto']:.1f} | {r['ratio_genolm_auto_over_plain_median']:.2f} "
            f"| {s['genolm_fp32']:.1f} | {r['ratio_genolm_fp32_over_plain_median']:.2f} "
            f"| {r['padding_fraction_plain']:.0%} | {r['max_abs_diff_fp32_vs_plain']:.1e} "
            f"| {r['max_abs_diff_bf16_vs_plain']:.1e} | {r['embedding_max_abs']:.1f} "
            f"| {'met' if r['goal_1_5x_met'] else 'NOT met'} |"
        )
    lines += [
        "",
        'ratio (auto): genolm with `precision="auto"` (bf16 autocast on this CPU) vs the plain fp32 loop; '
        "ratio (fp32): genolm in fp32, i.e. the gain from length-sorting and per-batch padding alone. "
        "Goal: genolm >= 1.5x plain (auto). Models have random weights (fixtures at hidden 256, 4 layers).",
        "",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=128)
    p.add_argument("--min-len", type=int, default=100)
    p.add_argument("--max-len", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="do not write results/")
    args = p.parse_args(argv)
    args.loadavg_start = os.getloadavg()
    res = run(args)
    if not args.quick:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "embed_throughput.json").write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
        write_md(res, RESULTS / "embed_throughput.md")
        print(f"wrote {RESULTS / 'embed_throughput.json'} and .md")


if __name__ == "__main__":
    main()
