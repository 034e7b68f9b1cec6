"""``genolm train-tokenizer``: learn a BPE vocabulary from FASTA files (DNABERT-2 style)."""

from __future__ import annotations

NAME = "train-tokenizer"
HELP = "learn a BPE DNA tokenizer from FASTA files"
DESCRIPTION = (
    "Learn a byte-pair-encoding vocabulary of --vocab-size tokens from FASTA files (plain or "
    "compressed), streamed in --chunk-size pieces; N blocks and other non-ACGT runs are skipped. "
    "Writes a Hugging Face tokenizer directory (tokenizer.json + tokenizer_config.json) that "
    "AutoTokenizer.from_pretrained loads after `import genolm.tokenizers`, or "
    "get_tokenizer('bpe', tokenizer_file=DIR/tokenizer.json)."
)
EXAMPLES = """
genolm train-tokenizer src/genolm/data/genomes/phage_lambda_NC_001416.fa.gz --vocab-size 512 --out /tmp/bpe512
genolm train-tokenizer genome1.fa.gz genome2.fa.gz --vocab-size 4096 --out tok/ --max-bases 100000000
"""


def add_arguments(p):
    p.add_argument("fasta", nargs="+", help="FASTA files (plain, gzip, bgzip, bzip2, xz)")
    p.add_argument(
        "--vocab-size", type=int, default=4096, help="final vocabulary size incl. specials (default 4096)"
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--chunk-size", type=int, default=10_000, help="bases per streamed piece (default 10000)")
    p.add_argument(
        "--max-piece-bp", type=int, default=1000, help="longest stretch BPE treats as one word (default 1000)"
    )
    p.add_argument("--min-frequency", type=int, default=2, help="minimum pair count to merge (default 2)")
    p.add_argument("--max-bases", type=int, default=None, help="stop after this many bases (default: all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args):
    from genolm.atomic import ensure_dir
    from genolm.tokenizers.bpe import BPETrainConfig, train_bpe

    # checked first: transformers' save_pretrained only logs (and writes nothing) when given a file
    ensure_dir(args.out, what="tokenizer folder")

    cfg = BPETrainConfig(
        files=args.fasta,
        vocab_size=args.vocab_size,
        chunk_size=args.chunk_size,
        max_piece_bp=args.max_piece_bp,
        min_frequency=args.min_frequency,
        max_bases=args.max_bases,
    )
    tok = train_bpe(cfg, progress=not args.no_progress)
    tok.save_pretrained(args.out)
    print(f"wrote {args.out}: vocab {tok.vocab_size}, {tok.bp_per_token:.2f} bp/token on the training data")
    return 0
