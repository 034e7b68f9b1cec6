"""Variant-scoring throughput with one model in one run, and the zero-shot AUROC of the dev set.

Three ways to score SNVs with a masked LM, same model, same windows:

(a) genolm ``score_variants``: one masked forward per *site* and strand; every ALT at the site
    is read from the same logits (``llr``); only the positions the masked site's output depends
    on are computed (``model.logits_at``: for the dilated CNN the cone of positions below the
    site, dense in the bottom layers and strided convs above; for the encoder the last block at
    the site only); and a batch holds one strand's neighbouring sites, whose overlapping windows
    share the CNN's bottom layers (``logits_at(reference=...)``: computed once along the genome,
    per window only near its ends and its masked site).  ``genolm_full_forward`` is (a) with the
    whole forward instead, to show what the pruning and sharing give.
(b) the per-variant loop of GPN (``gpn.ss.run_vep``): one masked forward per *variant* and strand,
    full logits, the LLR read at the centre; batched, no sharing.  Same windows as (a), so the
    scores must agree (checked: ``max_abs_diff``).
(c) pseudo-log-likelihood as DNALLM scores mutations: every token of the window masked in turn,
    one forward each, for the ref and the alt window; score PLL(alt) - PLL(ref).  Run on a few
    variants only (it costs ~2 x window forwards per variant).

Three workloads: ``dev`` (the first N records of the chloroplast synonymous / stop-gained set, in
genomic order: mostly one ALT per site, a site every ~76 bp), ``saturation`` (all three SNVs at
each of N/3 consecutive positions: the shape of ISM and of genome-wide precomputed score tables)
and ``sparse`` (dev-set records at least two windows apart: no two windows overlap).  Sharing a
site's forward pass pays when several ALTs share a site, sharing the bottom layers when windows
overlap; ``sparse`` has neither, and shows what the cone alone gives.  ``shared_bottom`` in each
workload records, per batch, the layers the model ran once along the genome and the length of
that shared track per window.

Each arm runs once untimed first, then ``--repeats`` times, the arms alternating; a speed-up is the
median of the per-repeat ratios.

Then the whole dev set (``--per-class`` per class) is scored with (a) and its AUROC / AUPRC with
bootstrap CIs written to the JSON, with the model that was timed.

    python benchmarks/vep_throughput.py                      # bundled genolm-tiny, 1 thread
    python benchmarks/vep_throughput.py --model runs/x/final --threads 4 --device cuda
"""

from __future__ import annotations

import os
import sys

# benchmarks/tokenize.py shadows the standard library's `tokenize` (imported by torch's traceback
# machinery): move this folder from the front of sys.path to the back, as tokenize.py does
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402
import time  # noqa: E402

import _common  # noqa: E402


def _windows(genome, v, window):
    """(ref window, site index in it): centred, clipped to the contig, as genolm does."""
    n = genome.length(v.contig)
    start = v.pos - window // 2
    end = max(start + window, v.pos + len(v.ref) + 1)
    start, end = max(0, start), min(n, end)
    return genome.fetch(v.contig, start, end).upper(), v.pos - start


def _ids(tok, seq):
    import numpy as np

    return np.asarray(tok.build_inputs_with_special_tokens(tok.encode_array(seq).tolist()), dtype=np.int64)


def _lead(tok):
    return list(tok.get_special_tokens_mask([0], already_has_special_tokens=False)).index(0)


def _forward(model, batch, pad_id, precision="fp32"):
    import numpy as np
    import torch

    T = max(len(x) for x in batch)
    ids = np.full((len(batch), T), pad_id, dtype=np.int64)
    am = np.zeros((len(batch), T), dtype=np.int64)
    for b, x in enumerate(batch):
        ids[b, : len(x)] = x
        am[b, : len(x)] = 1
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        out = model(
            input_ids=torch.from_numpy(ids), attention_mask=None if am.all() else torch.from_numpy(am)
        )
    return out.logits.float()


def gpn_loop(model, tok, genome, variants, *, window, batch_size, precision="fp32"):
    """(b): per variant, a masked forward on each strand; LLR = logit(alt) - logit(ref) at the centre.

    ``precision="bf16"``: under bf16 autocast, as GPN's ``run_vep`` runs its loop in half precision
    (``fp16=True``, on a GPU)."""
    import numpy as np
    import torch

    from genolm.alphabet import reverse_complement

    model.eval()
    lead, mask, pad = _lead(tok), tok.mask_token_id, tok.pad_token_id or 0
    vid = tok.convert_tokens_to_ids
    scores, forwards = [], 0
    for i in range(0, len(variants), batch_size):
        chunk = variants[i : i + batch_size]
        per_strand = []
        for strand in ("fwd", "rc"):
            batch, pos, ref, alt = [], [], [], []
            for v in chunk:
                seq, p = _windows(genome, v, window)
                r, a = v.ref, v.alts[0]
                if strand == "rc":
                    seq, p, r, a = (
                        reverse_complement(seq),
                        len(seq) - 1 - p,
                        reverse_complement(r),
                        reverse_complement(a),
                    )
                ids = _ids(tok, seq)
                ids[lead + p] = mask
                batch.append(ids)
                pos.append(lead + p)
                ref.append(vid(r))
                alt.append(vid(a))
            logits = _forward(model, batch, pad, precision)  # (B, T, V): full logits, as GPN's model returns
            forwards += len(batch)
            at = logits[torch.arange(len(batch)), torch.tensor(pos)]  # (B, V)
            llr = (
                at[torch.arange(len(batch)), torch.tensor(alt)]
                - at[torch.arange(len(batch)), torch.tensor(ref)]
            )
            per_strand.append(llr.numpy())
        scores.append((per_strand[0] + per_strand[1]) / 2)
    return np.concatenate(scores), forwards


def pll_scores(model, tok, genome, variants, *, window, batch_size):
    """(c): PLL(alt window) - PLL(ref window), every sequence token masked in turn (forward strand)."""
    import numpy as np
    import torch

    lead, mask, pad = _lead(tok), tok.mask_token_id, tok.pad_token_id or 0
    out, forwards = [], 0

    def pll(seq):
        nonlocal forwards
        ids = _ids(tok, seq)
        n = len(tok.encode_array(seq))
        total = 0.0
        for s in range(0, n, batch_size):
            pos = list(range(s, min(n, s + batch_size)))
            batch = []
            for t in pos:
                x = ids.copy()
                x[lead + t] = mask
                batch.append(x)
            lp = torch.log_softmax(_forward(model, batch, pad), -1)
            forwards += len(batch)
            rows = torch.arange(len(pos))
            cols = torch.tensor([lead + t for t in pos])
            total += float(lp[rows, cols, torch.from_numpy(ids[cols.numpy()])].sum())
        return total

    for v in variants:
        seq, p = _windows(genome, v, window)
        alt_seq = seq[:p] + v.alts[0] + seq[p + len(v.ref) :]
        out.append(pll(alt_seq) - pll(seq))
    return np.asarray(out), forwards


def _cone_work(model, window: int) -> dict | None:
    """Dilated CNNs: position-layers computed for a site at the window's centre, pruned vs full."""
    import torch

    from genolm.models.gpn import DENSE_FRACTION, cone_positions

    cfg = model.config
    if not hasattr(cfg, "dilations"):
        return None
    T = window + 1  # the char tokenizer's window + [SEP]
    sets = cone_positions(torch.tensor([window // 2]), T, cfg.kernel_size, cfg.dilations)[1:]
    sizes = [T if len(s) >= DENSE_FRACTION * T else len(s) for s in sets]  # dense layers run in full
    return {
        "tokens": T,
        "positions_per_layer": sizes,
        "pruned": sum(sizes),
        "full": T * len(sizes),
        "ratio": round(T * len(sizes) / sum(sizes), 2),
    }


def _sharing(model, run) -> dict | None:
    """Per batch of ``run()``: the bottom layers computed once along the genome, and that track's
    length per window (``GenolmGPNModel.shared_bottom``); ``None`` for other models."""
    import numpy as np

    inner = getattr(model, "model", None)
    if not hasattr(inner, "shared_bottom"):
        return None
    seen, orig = [], inner.shared_bottom

    def spy(input_ids, attention_mask, reference, max_layers):
        x, n = orig(input_ids, attention_mask, reference, max_layers)
        seen.append((n, len(reference[0]) / len(input_ids)))
        return x, n

    inner.shared_bottom = spy
    try:
        run()
    finally:
        del inner.shared_bottom
    return {
        "batches_with_a_reference": len(seen),
        "layers_shared_per_batch": [n for n, _ in seen],
        "track_positions_per_window": round(float(np.mean([r for n, r in seen if n])), 1)
        if any(n for n, _ in seen)
        else None,
    }


class _full_forward:
    """Within the block, the model scores through its whole forward: its class's ``logits_at`` is
    set to ``None``, which ``run_requests`` reads as "no pruned path"."""

    def __init__(self, model):
        self.cls = type(model)

    def __enter__(self):
        self.own = vars(self.cls).get("logits_at")  # None when inherited (SelectedLogitsMixin)
        self.cls.logits_at = None

    def __exit__(self, *exc):
        if self.own is None:
            del self.cls.logits_at
        else:
            self.cls.logits_at = self.own


def _timed(fn):
    t0 = time.perf_counter()
    res = fn()
    return res, time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="genolm-tiny")
    ap.add_argument("--window", type=int, default=None, help="default: the model's training window, else 256")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--n-variants", type=int, default=300, help="variants per throughput workload")
    ap.add_argument("--n-pll", type=int, default=3, help="variants for the slow PLL baseline")
    ap.add_argument("--per-class", type=int, default=1000, help="dev-set variants per class for the AUROC")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats of (a) and (b), alternating")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--out-name", default="vep_throughput")
    args = ap.parse_args(argv)
    if args.threads == 1:
        _common.single_core()

    import numpy as np
    import torch
    from scipy.stats import spearmanr

    torch.set_num_threads(args.threads)
    import genolm
    from genolm.io import Genome, Variant
    from genolm.variants import evaluate_scores, make_coding_vep_set, score_variants
    from genolm.variants.scoring import DEFAULT_WINDOW

    lm = genolm.load(args.model)
    model, tok = lm.model, lm.tokenizer
    window = args.window or lm.window or DEFAULT_WINDOW
    genome = Genome.open("bundled:chloroplast")
    dev = make_coding_vep_set("bundled:chloroplast", per_class=args.per_class, seed=0)
    contig = dev.variants[0].contig

    sat_start = 20_000  # inside psbC / psbD, away from the contig ends
    sat_seq = genome.fetch(contig, sat_start, sat_start + args.n_variants // 3).upper()
    sparse, last = [], None
    for v in dev.variants:  # genomic order
        if last is None or v.contig != last.contig or v.pos - last.pos >= 2 * window:
            sparse.append(v)
            last = v
    workloads = {
        "dev": dev.variants[: args.n_variants],
        "sparse": sparse[: args.n_variants],
        "saturation": [
            Variant(contig, sat_start + i, None, b, (a,))
            for i, b in enumerate(sat_seq)
            for a in "ACGT"
            if a != b
        ],
    }
    results = {}
    for name, vs in workloads.items():
        n_sites = len({(v.contig, v.pos) for v in vs})

        def genolm(precision, vs=vs):
            return score_variants(
                model, tok, genome, vs, window=window, batch_size=args.batch_size, precision=precision
            )

        def genolm_full_forward(vs=vs):
            with _full_forward(model):
                return genolm("fp32", vs)

        def loop(precision, vs=vs):
            return gpn_loop(
                model, tok, genome, vs, window=window, batch_size=args.batch_size, precision=precision
            )

        arms = {
            "genolm": lambda: genolm("fp32"),
            "genolm_full_forward": genolm_full_forward,
            "gpn_loop": lambda: loop("fp32"),
            "genolm_bf16": lambda: genolm("bf16"),
            "gpn_loop_bf16": lambda: loop("bf16"),
        }
        # the arms alternate, so load from other jobs on the machine hits all alike; a speed-up is
        # the median of the per-repeat ratios, the rates use each arm's best time
        times = {k: [] for k in arms}
        res = {}
        for fn in arms.values():  # once untimed: one-time set-up (oneDNN's kernels per shape) for all
            fn()
        for _ in range(args.repeats):
            for k, fn in arms.items():
                res[k], t = _timed(fn)
                times[k].append(t)
        sharing = _sharing(model, lambda: genolm("fp32"))
        (rc, fc), tc = _timed(
            lambda vs=vs: pll_scores(
                model, tok, genome, vs[: args.n_pll], window=window, batch_size=args.batch_size
            )
        )
        ra, (rb, fb) = res["genolm"], res["gpn_loop"]
        assert ra.status == ["ok"] * len(vs), "every benchmark variant must be scorable"
        best = {k: min(v) for k, v in times.items()}
        rate = {**{k: len(vs) / t for k, t in best.items()}, "pll": args.n_pll / tc}

        def ratio(slow, fast, times=times):
            return round(float(np.median(np.array(times[slow]) / np.array(times[fast]))), 2)

        a16, b16 = res["genolm_bf16"].score, res["gpn_loop_bf16"][0]
        results[name] = {
            "n_variants": len(vs),
            "n_sites": n_sites,
            "alts_per_site": round(len(vs) / n_sites, 3),
            "seconds": {**{k: round(t, 3) for k, t in best.items()}, "pll": round(tc, 3)},
            "seconds_all_repeats": {k: [round(t, 3) for t in v] for k, v in times.items()},
            "forward_sequences": {
                "genolm": 2 * n_sites,
                "gpn_loop": fb,
                "pll": fc,
                "pll_variants": args.n_pll,
            },
            "forwards_per_variant": {
                "genolm": round(2 * n_sites / len(vs), 3),
                "gpn_loop": round(fb / len(vs), 3),
                "pll": round(fc / args.n_pll, 1),
            },
            "variants_per_s": {k: round(v, 3) for k, v in rate.items()},
            "ratio_genolm_vs_gpn_loop": ratio("gpn_loop", "genolm"),
            "ratio_genolm_full_forward_vs_gpn_loop": ratio("gpn_loop", "genolm_full_forward"),
            "ratio_pruned_vs_full_forward": ratio("genolm_full_forward", "genolm"),
            "ratio_genolm_bf16_vs_gpn_loop_bf16": ratio("gpn_loop_bf16", "genolm_bf16"),
            "ratio_genolm_bf16_vs_gpn_loop_fp32": ratio("gpn_loop", "genolm_bf16"),
            "ratio_genolm_bf16_vs_genolm_fp32": ratio("genolm", "genolm_bf16"),
            "bf16_vs_fp32_scores": {
                "max_abs_diff": round(float(np.max(np.abs(a16 - ra.score))), 4),
                "mean_abs_fp32_score": round(float(np.mean(np.abs(ra.score))), 4),
                "spearman": round(float(spearmanr(a16, ra.score).statistic), 4),
                "max_abs_diff_genolm_vs_gpn_loop_bf16": round(float(np.max(np.abs(a16 - b16))), 4),
            },
            "ratio_genolm_vs_pll": round(rate["genolm"] / rate["pll"], 1),
            "shared_bottom": sharing,
            "max_abs_diff_genolm_vs_gpn_loop": float(np.max(np.abs(ra.score - rb))),
            "max_abs_diff_genolm_vs_full_forward": float(
                np.max(np.abs(ra.score - res["genolm_full_forward"].score))
            ),
        }
        print(name, results[name])

    # zero-shot AUROC of the whole dev set, with the timed model
    t0 = time.perf_counter()
    full = score_variants(model, tok, genome, dev.variants, window=window, batch_size=args.batch_size)
    ok = np.array([s == "ok" for s in full.status])
    labels = np.array([v.info["LABEL"] for v in full.variants])[ok]
    ev = evaluate_scores(full.score[ok], labels=labels, n_boot=args.n_boot, seed=0)
    # composition check: stop codons are A/T-rich, so stop-gained ALTs are mostly A/T; within each
    # strong (C/G) / weak (A/T) change class the model must separate the labels on its own
    kept = [v for v, o in zip(full.variants, ok) if o]
    kind = np.array(
        [("S" if v.ref in "CG" else "W") + ">" + ("S" if v.alts[0] in "CG" else "W") for v in kept]
    )
    strata = {}
    for k in sorted(set(kind)):
        sel = kind == k
        n_pos, n_neg = int(labels[sel].sum()), int((1 - labels[sel]).sum())
        entry = {"n_pos": n_pos, "n_neg": n_neg}
        if min(n_pos, n_neg) >= 20:
            e = evaluate_scores(full.score[ok][sel], labels=labels[sel], top_k=(), n_boot=200, seed=0)
            entry["auroc"] = e.to_dict()["metrics"]["auroc"]
        strata[k] = entry
    dev_eval = {
        "source": "bundled:chloroplast (NC_000932.1), synonymous (0) vs stop-gained (1) SNVs",
        "per_class": args.per_class,
        "candidates": dev.summary["candidates"],
        "scored": int(ok.sum()),
        "seconds": round(time.perf_counter() - t0, 2),
        **ev.to_dict(),
        "mean_score": {
            "stop_gained": round(float(full.score[ok][labels == 1].mean()), 4),
            "synonymous": round(float(full.score[ok][labels == 0].mean()), 4),
        },
        "by_change_class": strata,
    }
    # the same set in bf16: does reduced precision change the ranking?
    half = score_variants(
        model, tok, genome, dev.variants, window=window, batch_size=args.batch_size, precision="bf16"
    )
    ev16 = evaluate_scores(half.score[ok], labels=labels, top_k=(), n_boot=args.n_boot, seed=0)
    dev_eval["bf16"] = {
        "auroc": ev16.to_dict()["metrics"]["auroc"],
        "spearman_vs_fp32": round(float(spearmanr(half.score[ok], full.score[ok]).statistic), 4),
        "max_abs_diff_vs_fp32": round(float(np.max(np.abs(half.score[ok] - full.score[ok]))), 4),
    }
    print("dev set", {k: v for k, v in dev_eval["metrics"].items() if k in ("auroc", "auprc")})
    print("dev set bf16", dev_eval["bf16"])

    shared_eval = None
    vep = _common.SHARED / "vep"
    if (vep / "gpn_example_hg38.vcf").exists():
        from genolm.io import Genome, read_vcf

        recs = list(read_vcf(vep / "gpn_example_hg38.vcf"))
        r = score_variants(model, tok, Genome(vep / "GRCh38_chr17_42425000-43600000.fa"), recs, window=window)
        okr = [i for i, s in enumerate(r.status) if s == "ok"]
        shared_eval = {
            "source": "gpn_example_hg38.vcf against GRCh38 chr17:42425000-43600000 (only these are in the FASTA)",
            "records": len(recs),
            "scored": len(okr),
            "status": {s: r.status.count(s) for s in set(r.status)},
            "scores": {r.variants[i].id: round(float(r.score[i]), 4) for i in okr},
            "note": "too few labelled variants for a meaningful AUROC",
        }

    _common.write_result(
        args.out_name,
        {
            "model": {
                "name": lm.name,
                "path": str(lm.path),
                "objective": lm.objective,
                "class": type(model).__name__,
            },
            "pruned_work_per_site": _cone_work(model, window),
            "settings": {
                "window": window,
                "batch_size": args.batch_size,
                "threads": args.threads,
                "device": "cpu",
                "repeats": args.repeats,
            },
            "workloads": results,
            "dev_set_eval": dev_eval,
            "gpn_example_brca1": shared_eval,
        },
    )


if __name__ == "__main__":
    main()
