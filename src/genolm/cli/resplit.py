"""``genolm resplit``: write a leak-free or homology-grouped version of a split, with a manifest."""

from __future__ import annotations

NAME = "resplit"
HELP = "write cleaned (leaks removed) or homology-grouped train/valid/test files with a manifest"
DESCRIPTION = """\
Fix the leaks `genolm audit` finds.  --mode clean drops from valid and then test every
sequence that has an exact, reverse-complement or near-duplicate (k-mer MinHash Jaccard >=
--jaccard) in an earlier split; train is never changed.  --mode group connects all such
duplicates (also within a split) and moves every connected group that spans several splits
whole into the split holding most of its members; nothing is dropped.  Writes <split>.csv
(id, sequence, label) and resplit_manifest.json (every sequence removed or moved, and why)
into --out, then audits the result.  Inputs are never modified."""
EXAMPLES = """
genolm resplit --train train.csv --test test.csv --out clean
genolm resplit --train train.csv --valid dev.csv --test test.csv --mode group --out grouped
genolm resplit --train train.tsv --test test.tsv --sequence-col text --jaccard 0.9 --out clean
"""


def add_arguments(p):
    p.add_argument("--train", required=True, metavar="PATH", help="training split table")
    p.add_argument("--valid", "--dev", dest="valid", metavar="PATH", help="validation split table")
    p.add_argument("--test", required=True, metavar="PATH", help="test split table")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the new split files and manifest")
    p.add_argument("--mode", default="clean", choices=["clean", "group"], help="Default is 'clean'.")
    p.add_argument("--sequence-col", default="sequence", help="sequence column. Default is 'sequence'.")
    p.add_argument("--label-col", default="label", help="label column. Default is 'label'.")
    p.add_argument("--id-col", help="column with ids for the manifest. Default is the row number.")
    p.add_argument("--jaccard", type=float, default=0.8, help="near-duplicate threshold. Default is 0.8.")
    p.add_argument("--k", type=int, help="k-mer size. Default grows with the median length.")
    p.add_argument("--seed", type=int, default=0, help="MinHash seed. Default is 0.")


def run(args):
    from genolm.bench.audit import audit_splits, resplit
    from genolm.cli.audit import _read_split

    label_cols = [args.label_col]
    splits = {"train": _read_split(args.train, args, label_cols)}
    if args.valid:
        splits["valid"] = _read_split(args.valid, args, label_cols)
    splits["test"] = _read_split(args.test, args, label_cols)
    res = resplit(splits, mode=args.mode, k=args.k, jaccard=args.jaccard, seed=args.seed, out_dir=args.out)
    before = {n: len(v[0]) for n, v in splits.items()}
    after = {n: len(v[0]) for n, v in res.splits.items()}
    for n in before:
        print(f"{n:<6} {before[n]:>8} -> {after.get(n, 0):>8}")
    print(f"wrote {args.out}/<split>.csv and {args.out}/resplit_manifest.json")
    report = audit_splits(res.splits, k=args.k, seed=args.seed)
    print("audit of the new splits:")
    print(report.table())
    return 0
