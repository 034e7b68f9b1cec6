"""``genolm tokenize``: compare tokenization schemes side by side on a genome."""

from __future__ import annotations

NAME = "tokenize"
HELP = "compare tokenizer schemes on a genome: bp/token, vocab used, UNK rate, throughput"
DESCRIPTION = """\
Tokenize a FASTA (plain, gzip or bgzip) or GenBank file with one or many schemes and print,
per scheme: vocabulary size, token count, bp per token, the bp a 512-token context covers,
the share of the vocabulary used, the UNK rate, unigram entropy per bp and throughput.
With no FILE, the bundled phage lambda genome is used.  BPE is learned from FILE itself."""
EXAMPLES = """
genolm tokenize
genolm tokenize genome.fa.gz --scheme char --scheme kmer6 --scheme nt6
genolm tokenize genome.fa --scheme bpe:vocab_size=1024 --out stats.json
zcat genome.fa.gz | genolm tokenize - --scheme kmer6 --out - > stats.json
"""


def add_arguments(p):
    from genolm.cli.common import add_deprecated_alias, positive_int

    p.add_argument(
        "fasta",
        nargs="?",
        help="FASTA/GenBank file ('-': stdin). Default is the bundled phage lambda genome.",
    )
    p.add_argument(
        "--scheme",
        action="append",
        metavar="SPEC",
        help="scheme label (char, iupac, kmer3..kmer6, nt6, codon, bpe) or NAME:key=value,...; repeatable. "
        "Default is all of them.",
    )
    p.add_argument(
        "--context", type=positive_int, default=512, help="token context for the 'bp per context' column"
    )
    p.add_argument(
        "--out",
        metavar="PATH",
        help="also write the rows as JSON; '-' is stdout (the table then goes to stderr)",
    )
    add_deprecated_alias(p, "--json", new="--out", dest="out")


def run(args):
    import json

    from genolm.cli.common import status_stream, write_output
    from genolm.data import genome_path
    from genolm.tokenstats import compare_schemes, format_table

    path = args.fasta or str(genome_path("lambda"))
    rows = compare_schemes(path, args.scheme, context_tokens=args.context, progress=True)
    print(f"# {'<stdin>' if path == '-' else path}", file=status_stream(args.out))
    print(format_table(rows, context_tokens=args.context), file=status_stream(args.out))
    if args.out:
        write_output(args.out, json.dumps([r.as_dict() for r in rows], indent=2) + "\n")
    return 0
