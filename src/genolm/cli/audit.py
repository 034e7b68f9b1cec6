"""``genolm audit``: leak audit of benchmark split files."""

from __future__ import annotations

NAME = "audit"
HELP = "leak audit of train/valid/test files: duplicates, RC duplicates, near-duplicates, shortcuts"
DESCRIPTION = """\
Audit benchmark splits for leaks before trusting a score: exact and reverse-complement
duplicates across splits, k-mer MinHash near-duplicates (Jaccard >= 0.8 by default),
one-feature shortcuts (length, GC content or N content alone predicting the label, scored by
MCC on the held-out split), and valid / test class labels that train never has.  Each check is
PASS / WARN / FAIL against documented thresholds (see `genolm.bench.audit`); the verdict is the
worst of them.  Prints a table, optionally
writes the full report (with a few offending ids per check) to --out, and exits 1 when the
verdict reaches --fail-on.  Tables may be CSV, TSV, Parquet or JSONL ('-' reads one from stdin,
its format sniffed); ids in the report are
the --id-col values, or 0-based data-row numbers."""
EXAMPLES = """
genolm audit --train train.csv --test test.csv
genolm audit --train train.csv --valid dev.csv --test test.csv --out audit.json
genolm audit --train train.csv --test test.csv --out - | jq .verdict
cat test.csv | genolm audit --train train.csv --test - --out checks.tsv
genolm audit --train train.tsv --test test.tsv --sequence-col text --fail-on warn
genolm audit --train train.csv --test test.csv --threshold near_fail=0.02 --jaccard 0.9
"""


def add_arguments(p):
    from genolm.cli.common import add_deprecated_alias

    p.add_argument("--train", required=True, metavar="PATH", help="training split table")
    p.add_argument("--valid", "--dev", dest="valid", metavar="PATH", help="validation split table")
    p.add_argument("--test", required=True, metavar="PATH", help="test split table")
    p.add_argument("--sequence-col", default="sequence", help="sequence column. Default is 'sequence'.")
    p.add_argument(
        "--label-col",
        action="append",
        metavar="COL",
        help="label column; repeat for multilabel tables. Default is 'label'.",
    )
    p.add_argument(
        "--no-labels", action="store_true", help="the tables have no labels (skip shortcut checks)"
    )
    p.add_argument("--id-col", help="column with ids to name offending sequences. Default is the row number.")
    p.add_argument(
        "--task-type",
        default="auto",
        choices=["auto", "binary", "multiclass", "multilabel", "regression"],
        help="Default is 'auto' (inferred from the train labels).",
    )
    p.add_argument(
        "--k", type=int, help="k-mer size for near-duplicates. Default grows with the median length."
    )
    p.add_argument("--num-perm", type=int, default=128, help="MinHash permutations. Default is 128.")
    p.add_argument("--jaccard", type=float, help="near-duplicate k-mer Jaccard threshold. Default is 0.8.")
    p.add_argument(
        "--threshold",
        action="append",
        metavar="KEY=VALUE",
        help="override a PASS/WARN/FAIL limit, e.g. duplicate_fail=0.02, near_warn=0, shortcut_fail=0.4",
    )
    p.add_argument("--seed", type=int, default=0, help="MinHash seed. Default is 0.")
    p.add_argument(
        "--fail-on",
        default="fail",
        choices=["fail", "warn", "never"],
        help="exit 1 when the verdict is at least this. Default is 'fail'.",
    )
    p.add_argument(
        "--out",
        metavar="PATH",
        help="write the full report: JSON, or one row per check for a .tsv path; '-' is JSON on stdout "
        "(the table then goes to stderr)",
    )
    add_deprecated_alias(p, "--json", new="--out", dest="out")


def _read_split(path: str, args, label_cols) -> dict:
    """One table -> ``{"sequences", "labels" (or None), "ids", "path", "first_line"}`` (the last
    two let the audit name a bad row's file and line)."""
    try:
        from genolm.io.tables import read_task_table
    except ImportError:  # pragma: no cover - genolm.io.tables ships with genolm; kept for partial installs
        read_task_table = None
    if read_task_table is not None:
        df = read_task_table(path, args.sequence_col, label_cols)
    else:  # pragma: no cover
        import pandas as pd

        low = path.lower()
        if low.endswith((".parquet", ".pq")):
            df = pd.read_parquet(path)
        elif low.endswith((".jsonl", ".ndjson", ".jsonl.gz")):
            df = pd.read_json(path, lines=True)
        else:
            df = pd.read_csv(path, sep="\t" if ".tsv" in low or ".tab" in low else ",", keep_default_na=False)
    from genolm.errors import InputError

    if args.id_col and args.id_col not in df.columns:
        raise InputError(
            f"no id column '{args.id_col}'", path=path, hint=f"columns are: {', '.join(map(str, df.columns))}"
        )
    seqs = df[args.sequence_col].astype(str).tolist()
    labels = None
    if label_cols:
        labels = df[label_cols[0]].to_numpy() if len(label_cols) == 1 else df[label_cols].to_numpy()
    ids = df[args.id_col].tolist() if args.id_col else list(range(len(df)))
    return {
        "sequences": seqs,
        "labels": labels,
        "ids": ids,
        "path": path,
        "first_line": _first_line(path, df),
    }


def _first_line(path: str, df) -> int | None:
    """The file line of a table's first data row: 2 after a CSV / TSV header, 1 for JSON lines,
    ``None`` for Parquet (rows are not lines)."""
    from genolm.io.streams import is_stdio
    from genolm.io.tables import sniff_table_format

    if is_stdio(path):
        fmt = sniff_table_format(df.attrs["path"])
    else:
        fmt = str(path).lower()
        for ext in (".gz", ".bgz", ".bz2", ".xz"):
            fmt = fmt.removesuffix(ext)
    if fmt.endswith((".parquet", ".pq")):
        return None
    return 1 if fmt.endswith((".jsonl", ".ndjson")) else 2


def _report_tsv(report) -> str:
    cols = ("name", "splits", "status", "value", "warn_above", "fail_above", "message")
    rows = ["\t".join(cols)]
    rows += ["\t".join(str(getattr(c, k)).replace("\t", " ") for k in cols) for c in report.checks]
    return "\n".join(rows) + "\n"


def run(args):
    import sys

    from genolm.bench.audit import AuditThresholds, audit_splits
    from genolm.cli.common import status_stream, write_output
    from genolm.errors import ConfigError

    label_cols = None if args.no_labels else (args.label_col or ["label"])
    if [args.train, args.valid, args.test].count("-") > 1:  # stdin is one stream: one split at most
        raise ConfigError("only one of --train, --valid and --test can be '-' (standard input)")
    overrides = {}
    for item in args.threshold or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--threshold takes KEY=VALUE, got '{item}'")
        try:
            overrides[key.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--threshold {key}: '{value}' is not a number") from None
    if args.jaccard is not None:
        overrides["jaccard"] = args.jaccard
    thresholds = AuditThresholds.from_dict(overrides)

    splits = {"train": _read_split(args.train, args, label_cols)}
    if args.valid:
        splits["valid"] = _read_split(args.valid, args, label_cols)
    splits["test"] = _read_split(args.test, args, label_cols)
    report = audit_splits(
        splits,
        task_type=args.task_type,
        k=args.k,
        num_perm=args.num_perm,
        thresholds=thresholds,
        seed=args.seed,
        progress=True,  # a bar on big tables; off with genolm -q
    )
    print(report.table(), file=status_stream(args.out))
    if args.out:
        write_output(args.out, _report_tsv(report) if args.out.endswith(".tsv") else report.to_json() + "\n")
    if report.violates(args.fail_on):
        print(f"genolm audit: verdict {report.verdict} reaches --fail-on {args.fail_on}", file=sys.stderr)
        return 1
    return 0
