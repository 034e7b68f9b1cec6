"""Tokenizer throughput and memory, genolm beside the alternatives, in one run.

Measures (one core; writes benchmarks/results/tokenize.json):
1. every scheme on the E. coli K-12 genome (4.6 Mbp): Mbp/s of ``encode_array``;
2. BPE through genolm against the same model called directly through ``tokenizers``;
3. the DNABERT route (space-separated 6-mers through a transformers ``BertTokenizer``, as
   DNABERT's ``seq2kmer`` + tokenizer do) against genolm on the same 510-bp windows, both
   through the Hugging Face call and through genolm's array path;
4. peak RSS of a child process streaming human chr20 (63 Mb, bgzip) through char and 6-mer
   tokenization.

Run: python benchmarks/tokenize.py [--quick]
"""

from __future__ import annotations

import os
import sys

# This file's name shadows the standard library's `tokenize` (imported by inspect, linecache,
# transformers...): move the script's folder from the front of sys.path to the back.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

from _common import shared, single_core, write_result  # noqa: E402

single_core()


def best_of(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def chunks_of(path: str, chunk_size: int = 1_000_002) -> list[str]:
    from genolm.io.fasta import iter_fasta_chunks

    return [c for _, _, c in iter_fasta_chunks(path, chunk_size=chunk_size)]


def schemes_on_ecoli(chunks: list[str]) -> list[dict]:
    from genolm.tokenizers.schemes import DEFAULT_SCHEMES, build_scheme

    n_bp = sum(map(len, chunks))
    rows = []
    ecoli = str(shared("genomes", "ecoli_K12_MG1655.fasta.gz"))
    for label, name, kwargs in DEFAULT_SCHEMES:
        tok = build_scheme(name, kwargs, train_files=[ecoli])
        n_tok = sum(len(tok.encode_array(c)) for c in chunks)
        s = best_of(lambda tok=tok: [tok.encode_array(c) for c in chunks])
        rows.append(
            {"scheme": label, "n_bp": n_bp, "n_tokens": n_tok, "seconds": s, "mbp_per_s": n_bp / 1e6 / s}
        )
        print(f"  {label:<6} {n_bp / 1e6 / s:8.1f} Mbp/s")
    return rows


def bpe_vs_tokenizers(chunks: list[str]) -> dict:
    from genolm.tokenizers.bpe import BPETrainConfig, train_bpe

    ecoli = str(shared("genomes", "ecoli_K12_MG1655.fasta.gz"))
    tok = train_bpe(BPETrainConfig(files=[ecoli], vocab_size=4096))
    raw = tok.backend_tokenizer  # the tokenizers.Tokenizer genolm wraps
    n_bp = sum(map(len, chunks))
    g = best_of(lambda: [tok.encode_array(c) for c in chunks])
    d = best_of(lambda: [raw.encode(c, add_special_tokens=False).ids for c in chunks])
    same = all(
        list(tok.encode_array(c[:20000])) == raw.encode(c[:20000], add_special_tokens=False).ids
        for c in chunks[:1]
    )
    return {
        "genolm_mbp_per_s": n_bp / 1e6 / g,
        "tokenizers_direct_mbp_per_s": n_bp / 1e6 / d,
        "genolm_over_direct_time": g / d,
        "same_ids": same,
        "goal": "genolm time <= 1.5x direct",
    }


def dnabert_route(chunks: list[str], n_windows: int) -> dict:
    import tempfile

    from transformers import BertTokenizer

    from genolm.tokenizers import get_tokenizer

    text = "".join(chunks)
    W = 510  # 510 6-mers + [CLS]/[SEP] = DNABERT's 512
    windows = [text[i : i + W + 5] for i in range(0, n_windows * W, W)]
    n_bp = sum(map(len, windows))
    tok = get_tokenizer("kmer6")
    with tempfile.TemporaryDirectory() as d:
        tok.export_stock(d)
        bert = BertTokenizer.from_pretrained(d)

    def seq2kmer(seq: str, k: int = 6) -> str:  # DNABERT's motif_utils.seq2kmer
        return " ".join(seq[x : x + k] for x in range(len(seq) + 1 - k))

    t_dnabert = best_of(lambda: bert([seq2kmer(w) for w in windows])["input_ids"], repeat=1)
    t_hf = best_of(lambda: tok(windows)["input_ids"], repeat=2)
    t_arr = best_of(lambda: [tok.encode_array(w) for w in windows])
    ids_bert = bert([seq2kmer(windows[0])])["input_ids"][0]
    ids_ours = tok(windows[:1])["input_ids"][0]
    return {
        "windows": len(windows),
        "bp": n_bp,
        "bert_tokenizer_class": type(bert).__name__,
        "dnabert_mbp_per_s": n_bp / 1e6 / t_dnabert,
        "genolm_hf_call_mbp_per_s": n_bp / 1e6 / t_hf,
        "genolm_array_mbp_per_s": n_bp / 1e6 / t_arr,
        "speedup_hf_call": t_dnabert / t_hf,
        "speedup_array": t_dnabert / t_arr,
        "same_ids": list(ids_bert) == list(ids_ours),
        "goal": "genolm >= 10x DNABERT route",
    }


STREAM_CHILD = r"""
import json, resource, sys, time
from genolm.io.fasta import iter_fasta_chunks
from genolm.tokenizers import get_tokenizer
path, scheme = sys.argv[1], sys.argv[2]
tok = get_tokenizer(scheme)
n_bp = n_tok = 0
t0 = time.perf_counter()
for name, off, chunk in iter_fasta_chunks(path, chunk_size=1_000_002):
    n_tok += len(tok.encode_array(chunk)); n_bp += len(chunk)
dt = time.perf_counter() - t0
print(json.dumps({"scheme": scheme, "n_bp": n_bp, "n_tokens": n_tok, "seconds": dt,
                  "mbp_per_s_incl_io": n_bp / 1e6 / dt,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def stream_chr20() -> list[dict]:
    path = str(shared("genomes", "human_GRCh37_chr20.fa.gz"))
    rows = []
    for scheme in ("char", "kmer6"):
        # run from the repo root: in benchmarks/ this file would shadow the stdlib `tokenize` again
        out = subprocess.run(
            [sys.executable, "-c", STREAM_CHILD, path, scheme],
            capture_output=True,
            text=True,
            cwd=_HERE + "/..",
        )
        if out.returncode:
            sys.exit(f"chr20 streaming child failed:\n{out.stderr}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"  chr20 {scheme}: peak RSS {rows[-1]['peak_rss_mb']:.0f} MB")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer DNABERT windows")
    a = ap.parse_args()
    ecoli = str(shared("genomes", "ecoli_K12_MG1655.fasta.gz"))
    chunks = chunks_of(ecoli)
    print("schemes on E. coli K-12:")
    schemes = schemes_on_ecoli(chunks)
    print("BPE vs tokenizers:")
    bpe = bpe_vs_tokenizers(chunks)
    print(f"  genolm/direct time ratio {bpe['genolm_over_direct_time']:.2f}")
    print("DNABERT route:")
    dnab = dnabert_route(chunks, 100 if a.quick else 400)
    print(f"  speedup HF call {dnab['speedup_hf_call']:.1f}x, array {dnab['speedup_array']:.0f}x")
    print("streaming chr20:")
    stream = stream_chr20()
    write_result(
        "tokenize",
        {
            "ecoli_k12": schemes,
            "bpe_vs_tokenizers": bpe,
            "dnabert_route": dnab,
            "chr20_stream": stream,
            "peak_rss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        },
    )


if __name__ == "__main__":
    main()
