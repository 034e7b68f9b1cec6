"""``genolm predict``: classify reads with an ONNX bundle; onnxruntime only, torch is never imported."""

from __future__ import annotations

NAME = "predict"
HELP = "classify FASTQ / FASTA reads with an exported ONNX bundle (numpy + onnxruntime, no torch)"
DESCRIPTION = """\
Stream reads through BUNDLE.onnx (written by `genolm export`) with onnxruntime only: works with
`pip install genolm[edge]`.  Each read is cut into the bundle's windows (length and stride in bp;
the last window ends at the read's end), the window logits are pooled (mean or max, from the
bundle) into one call per read.  Output TSV: read_id, length, n_windows, label, score_<label>...
Reads shorter than --min-len (default: the bundle's, else the window length) get label 'skipped'
and are counted on stderr; reads between --min-len and the window length are scored as one
shorter window.  Reads/s go to stderr.  Any compression; '-' reads standard input."""
EXAMPLES = """
genolm predict prom.onnx --fastq reads.fq.gz --out calls.tsv
zcat reads.fq.gz | genolm predict prom.onnx --fastq - --out - | head
genolm predict prom.onnx --fasta contigs.fa --min-len 100 --out calls.tsv
"""


def add_arguments(p):
    from genolm.cli.common import nonnegative_int, positive_int

    p.add_argument("bundle", metavar="BUNDLE.onnx", help="an ONNX bundle from `genolm export`")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--fastq", metavar="PATH", help="reads as FASTQ ('-': stdin)")
    src.add_argument("--fasta", metavar="PATH", help="reads as FASTA ('-': stdin)")
    p.add_argument("--out", default="-", metavar="FILE", help="the TSV; '-' is stdout (default)")
    p.add_argument(
        "--min-len", type=positive_int, metavar="BP",
        help="skip (and count) reads shorter than this; default: the bundle's min_len, else its window length",
    )  # fmt: skip
    p.add_argument(
        "--threads",
        type=nonnegative_int,
        default=0,
        metavar="N",
        help="onnxruntime threads (default: its own)",
    )
    p.add_argument(
        "--batch-windows",
        type=positive_int,
        default=1024,
        metavar="N",
        help="windows per onnxruntime call, across reads (default 1024)",
    )


def run(args):
    # genolm.edge imports numpy and onnxruntime only (tests/test_edge.py checks sys.modules)
    from genolm.edge import predict_reads

    predict_reads(
        args.bundle, fastq=args.fastq, fasta=args.fasta, out=args.out, min_len=args.min_len,
        threads=args.threads, batch_windows=args.batch_windows, progress=not args.log_quiet,
    )  # fmt: skip
    return 0
