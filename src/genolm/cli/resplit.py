"""``genolm resplit``: write a leak-free or homology-grouped version of a split, with a manifest."""

from __future__ import annotations

NAME = "resplit"
HELP = "write cleaned (leaks removed) or homology-grouped train/valid/test files with a manifest"
DESCRIPTION = """\
Fix the leaks `genolm audit` finds.  --mode clean drops from valid and then test every
sequence that has an exact, reverse-complement or near-duplicate (k-mer MinHash Jaccard >=
--jaccard) in an earlier split; train is never changed.  --mode group connects all such
duplicates (also within a split) and moves every connected group that spans several splits
whole into the split holding most of its members; nothing is dropped.  --group-by contig
(implies --mode group) keeps every contig (chromosome) wholly on one side: the contig comes from
--contig-col, else from make-task style ids (chr1:1001-1200(+)).  --group-by cluster keeps every
homology cluster (single-linkage clusters of sequences whose k-mer MinHash Jaccard is >=
--cluster-jaccard, exact and RC duplicates included) on one side.  With contig or cluster, a group
inside one split stays; a group that spans splits moves whole, largest first, into the split
furthest below its original size, so split sizes stay close to the input's.  Writes <split>.csv
(id, sequence, label) and resplit_manifest.json (every sequence removed or moved, and why)
into --out, then audits the result.  Inputs are never modified."""
EXAMPLES = """
genolm resplit --train train.csv --test test.csv --out clean
genolm resplit --train train.csv --valid dev.csv --test test.csv --mode group --out grouped
genolm resplit --train train.tsv --test test.tsv --sequence-col text --jaccard 0.9 --out clean
genolm resplit --train task/train.csv --valid task/valid.csv --test task/test.csv --id-col id --group-by contig --out by_chrom
genolm resplit --train train.csv --test test.csv --group-by cluster --cluster-jaccard 0.3 --out by_cluster
"""


def add_arguments(p):
    p.add_argument("--train", required=True, metavar="PATH", help="training split table")
    p.add_argument("--valid", "--dev", dest="valid", metavar="PATH", help="validation split table")
    p.add_argument("--test", required=True, metavar="PATH", help="test split table")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the new split files and manifest")
    p.add_argument("--mode", choices=["clean", "group"], help="Default is 'clean' ('group' with --group-by).")
    p.add_argument(
        "--group-by",
        choices=["duplicates", "contig", "cluster"],
        help="what --mode group keeps whole on one side. Default is 'duplicates'.",
    )
    p.add_argument("--contig-col", help="column naming each sequence's contig (--group-by contig)")
    p.add_argument(
        "--cluster-jaccard",
        type=float,
        default=0.5,
        help="k-mer Jaccard linking two sequences into one homology cluster (--group-by cluster). Default is 0.5.",
    )
    p.add_argument("--sequence-col", default="sequence", help="sequence column. Default is 'sequence'.")
    p.add_argument("--label-col", default="label", help="label column. Default is 'label'.")
    p.add_argument("--id-col", help="column with ids for the manifest. Default is the row number.")
    p.add_argument("--jaccard", type=float, default=0.8, help="near-duplicate threshold. Default is 0.8.")
    p.add_argument("--k", type=int, help="k-mer size. Default grows with the median length.")
    p.add_argument("--seed", type=int, default=0, help="MinHash seed. Default is 0.")


def run(args):
    from genolm.bench.audit import audit_splits, check_jaccard, resplit
    from genolm.cli.audit import _read_split

    check_jaccard(args.jaccard, "--jaccard")  # the check `genolm audit --jaccard` makes
    check_jaccard(args.cluster_jaccard, "--cluster-jaccard")
    label_cols = [args.label_col]
    paths = {"train": args.train, "valid": args.valid, "test": args.test}
    paths = {n: p for n, p in paths.items() if p}
    splits = {n: _read_split(p, args, label_cols) for n, p in paths.items()}
    contigs = {n: _read_column(p, args) for n, p in paths.items()} if args.contig_col else None
    group_by = args.group_by or "duplicates"
    mode = args.mode or ("group" if args.group_by else "clean")
    res = resplit(
        splits,
        mode=mode,
        k=args.k,
        jaccard=args.jaccard,
        seed=args.seed,
        out_dir=args.out,
        group_by=group_by,
        cluster_jaccard=args.cluster_jaccard,
        contigs=contigs,
    )
    before = {n: len(v["sequences"]) for n, v in splits.items()}
    after = {n: len(v[0]) for n, v in res.splits.items()}
    for n in before:
        print(f"{n:<6} {before[n]:>8} -> {after.get(n, 0):>8}")
    print(f"wrote {args.out}/<split>.csv and {args.out}/resplit_manifest.json")
    report = audit_splits(res.splits, task_type="auto", k=args.k, seed=args.seed)
    print("audit of the new splits:")
    print(report.table())
    return 0


def _read_column(path: str, args) -> list[str]:
    """The --contig-col column of one split table."""
    from genolm.errors import InputError
    from genolm.io.tables import read_task_table

    col = args.contig_col
    df = read_task_table(path, args.sequence_col, None, validate=False)
    if col not in df.columns:
        raise InputError(
            f"no contig column '{col}'", path=path, hint=f"columns are: {', '.join(map(str, df.columns))}"
        )
    return df[col].astype(str).tolist()
