"""``genolm db``: build, query and maintain an embedding database."""

from __future__ import annotations

NAME = "db"
HELP = "embedding database: build from FASTA/genome/table/BED with any embedder, query top-k with filters"
DESCRIPTION = """\
An embedding database: vectors and their metadata in Parquet shards beside a search index.

  build    embed inputs (FASTA/FASTQ, a genome with --window/--stride, a task table, a BED with
           --genome) with a model, TNF (tnf, kmer:K) or MinHash (minhash); resumable after a kill
  query    top-k neighbours of --seq / --fasta / --region / --id, with --where filters
  add      embed more inputs into a database (with its own embedder)
  delete   remove vectors by id (space is reclaimed by compact)
  info     what a database holds (JSON)
  compact  rewrite shards without deleted vectors and rebuild the index
  pairs    mine contrastive training pairs (same locus across sources, mutated copies, other items
           of the same source) with hard negatives, for `genolm train-embedder`

Filters (--where, repeatable, joined by 'and'): FIELD OP VALUE with FIELD one of id, source,
contig, start, end, strand, label, key; OP one of == != < <= > >=; VALUE a number, a word, a
quoted string, or query.FIELD (e.g. "contig != query.contig").  See docs/db.md."""
EXAMPLES = """
genolm db build --out phage.db bundled:lambda --window 1000 --stride 500 --embedder tnf
genolm db query phage.db --seq ACGTTGCAACGTAGCTAGCTAGGCTAGCATCGACTAGC -k 5 --out -
genolm db query phage.db --region NC_001416.1:1-1000 --where "start != query.start" -k 3 --out hits.json
"""

_SUB = {
    "build": (
        "build a database from inputs",
        """
genolm db build --out genomes.db genomes/*.fa --window 1000 --stride 1000 --embedder tnf
genolm db build --out genes.db genes.fa --embedder genolm-tiny --engine usearch:i8
genolm db build --out sketches.db reads.fastq --embedder minhash:21:128
""",
    ),
    "query": (
        "top-k neighbours of sequences, regions or ids",
        """
genolm db query genomes.db --fasta reads.fa -k 10 --out hits.parquet
genolm db query genomes.db --region chr1:1001-2000 --genome genome.fa --where "contig != query.contig" --out -
genolm db query genes.db --id geneA --id geneB --where "label == kinase" --out hits.tsv
""",
    ),
    "add": (
        "embed more inputs into a database",
        """
genolm db add genomes.db more.fa --window 1000
""",
    ),
    "delete": (
        "delete vectors by id",
        """
genolm db delete genomes.db --id chr1:1-1000 --id chr1:1001-2000
""",
    ),
    "info": (
        "what a database holds (JSON)",
        """
genolm db info genomes.db
""",
    ),
    "compact": (
        "drop deleted vectors from the shards and rebuild the index",
        """
genolm db compact genomes.db
""",
    ),
    "pairs": (
        "mine training pairs (positives + hard negatives) from a database as TSV",
        """
genolm db pairs genomes.db --out pairs.tsv
genolm db pairs genes.db --mutations 3 --no-locus --out pairs.tsv
genolm db pairs proteins.db --mutations 2 --max-anchors 5000 --out -
genolm db pairs genomes.db --same-source 2 --mutate-positives 50 --no-locus --out pairs.tsv
""",
    ),
}


def _embedder_name(text: str) -> str:
    """argparse ``type=`` of ``--embedder``: a malformed tnf / kmer:K / aa:K / minhash name is refused
    here (a model name is checked when it loads)."""
    import argparse

    from genolm.db.embedders import check_embedder_name
    from genolm.errors import ConfigError

    try:
        return check_embedder_name(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _inputs(p, *, required: bool):
    from genolm.cli.common import positive_int, unit_interval

    p.add_argument(
        "inputs",
        nargs="+" if required else "*",
        help="FASTA/FASTQ, table (.csv/.tsv/.parquet/.jsonl) or BED files",
    )
    p.add_argument(
        "--kind",
        default="auto",
        choices=["auto", "fasta", "genome", "table", "bed"],
        help="input kind (default: from the file name; FASTA with --window is a genome)",
    )
    p.add_argument("--window", type=positive_int, help="window length in bases (a genome input)")
    p.add_argument("--stride", type=positive_int, help="step between windows (default: --window)")
    p.add_argument("--genome", help="the genome a BED input is on")
    p.add_argument(
        "--max-n",
        type=unit_interval,
        default=0.1,
        help="skip (and count) sequences with more non-ACGT bases than this fraction (default 0.1)",
    )
    p.add_argument("--batch-size", type=positive_int, default=64)


def add_arguments(p):
    from genolm.cli.common import add_subverbs, nonnegative_int, positive_int

    s = add_subverbs(p, _SUB)
    b = s["build"]
    b.add_argument("--out", required=True, help="the database folder")
    _inputs(b, required=True)
    b.add_argument(
        "--embedder",
        type=_embedder_name,
        default="tnf",
        help="tnf, kmer:K, aa:K (proteins), minhash[:K[:NUM_PERM]], or a model name / folder (default tnf)",
    )
    b.add_argument(
        "--alphabet",
        default="dna",
        choices=["dna", "protein", "auto"],
        help="dna (default), protein (amino-acid FASTA), auto (detected from the first input)",
    )
    b.add_argument(
        "--translate",
        action="store_true",
        help="inputs are DNA coding sequences: translate them (standard code); frame errors and "
        "internal stops are skipped and counted",
    )
    b.add_argument("--pooling", help="pooling of a model embedder (default: the model's)")
    b.add_argument("--layer", type=int, default=-1, help="hidden layer of a model embedder (default -1)")
    b.add_argument(
        "--engine",
        default="auto",
        help="auto, exact, usearch, usearch:f16, usearch:i8, qdrant://HOST:PORT/COLL, qdrant-local:FOLDER",
    )
    b.add_argument(
        "--shard-size",
        type=positive_int,
        default=4096,
        help="vectors per shard, the unit of resumption (default 4096)",
    )
    b.add_argument("--overwrite", action="store_true", help="replace a finished database in --out")
    q = s["query"]
    q.add_argument("db", help="the database folder")
    q.add_argument("--seq", action="append", default=[], help="a query sequence (repeatable)")
    q.add_argument("--fasta", help="query with every record of a FASTA/FASTQ file")
    q.add_argument(
        "--region",
        action="append",
        default=[],
        help="chr:start-end (1-based, inclusive) of --genome or the build's genome",
    )
    q.add_argument("--genome", help="the genome for --region (default: the one the database was built from)")
    q.add_argument("--id", action="append", default=[], help="an id in the database (repeatable)")
    q.add_argument("-k", type=positive_int, default=10, help="neighbours per query (default 10)")
    q.add_argument(
        "--where", action="append", default=[], help='a filter, e.g. "contig != query.contig" (repeatable)'
    )
    q.add_argument("--model", help="check that this is the database's embedder (an error names both if not)")
    q.add_argument("--pooling", help="check against the database's pooling")
    q.add_argument(
        "--out", default="-", help="hits as .tsv / .csv / .parquet / .json; '-': TSV on stdout (default)"
    )
    a = s["add"]
    a.add_argument("db", help="the database folder")
    _inputs(a, required=True)
    d = s["delete"]
    d.add_argument("db", help="the database folder")
    d.add_argument("--id", action="append", required=True, help="an id to delete (repeatable)")
    s["info"].add_argument("db", help="the database folder")
    s["compact"].add_argument("db", help="the database folder")
    pr = s["pairs"]
    pr.add_argument("db", help="the database folder")
    pr.add_argument("--out", required=True, help="pairs TSV ('-': stdout)")
    pr.add_argument(
        "--mutations",
        type=nonnegative_int,
        default=0,
        help="also a copy of each anchor with N edits (default 0)",
    )
    pr.add_argument(
        "--no-locus", dest="locus", action="store_false", help="no same-locus pairs across source files"
    )
    pr.add_argument(
        "--min-similarity", type=float, default=0.9, help="a same-locus positive's least cosine (default 0.9)"
    )
    pr.add_argument(
        "--same-source",
        type=nonnegative_int,
        default=0,
        metavar="N",
        help="also N pairs per anchor whose positive is another, non-overlapping item of the same source "
        "file (and label), with a hard negative from another source (DNABERT-S style; default 0)",
    )
    pr.add_argument(
        "--mutate-positives",
        type=nonnegative_int,
        default=0,
        metavar="N",
        help="apply N random edits to each --same-source positive (default 0)",
    )
    pr.add_argument(
        "--candidates", type=positive_int, default=20, help="neighbours searched per anchor (default 20)"
    )
    pr.add_argument("--max-anchors", type=positive_int, help="anchors drawn at random (default: every item)")
    pr.add_argument("--seed", type=int, default=0)


def run(args):
    import json

    action = getattr(args, "action", None)
    if action is None:
        raise SystemExit(
            "genolm db: choose an action: build, query, add, delete, info, compact, pairs (see --help)"
        )
    return {
        "build": _build,
        "query": _query,
        "add": _add,
        "delete": _delete,
        "info": _info,
        "compact": _compact,
        "pairs": _pairs,
    }[action](args, json)


def _progress(args) -> bool:
    return not getattr(args, "log_quiet", False)


def _build(args, json):
    from genolm.db.embedders import make_embedder
    from genolm.db.store import build_db

    emb = args.embedder
    if args.pooling or args.layer != -1:
        emb = make_embedder(emb, pooling=args.pooling, layer=args.layer)
    res = build_db(
        args.out,
        args.inputs,
        embedder=emb,
        kind=args.kind,
        window=args.window,
        stride=args.stride,
        genome=args.genome,
        engine=args.engine,
        shard_size=args.shard_size,
        batch_size=args.batch_size,
        max_n=args.max_n,
        overwrite=args.overwrite,
        progress=_progress(args),
        alphabet=args.alphabet,
        translate=args.translate,
    )
    print(
        json.dumps(
            {
                "db": str(res.folder),
                "vectors": res.n_vectors,
                "resumed_shards": res.resumed_shards,
                "read": res.stats["read"],
                "skipped": res.stats["skipped"],
            },
            indent=2,
        )
    )
    return 0


def _out_format(out: str) -> str:
    """The format of ``db query --out`` from its extension (``-``: TSV on stdout); a ConfigError for
    one the writer does not produce."""
    from genolm.errors import ConfigError
    from genolm.variants.output import output_format

    if out == "-":
        return "tsv"
    if out.lower().endswith(".json"):
        return "json"
    try:
        fmt = output_format(out)
    except ConfigError:
        fmt = None
    if fmt not in ("tsv", "csv", "parquet"):
        raise ConfigError(
            f"--out {out}: cannot write hits in this format; end the file name in .tsv, .csv, .parquet "
            "or .json, or give '-' for TSV on stdout"
        )
    return fmt


def _query_seq(seq: str, n: int, alphabet: str) -> str:
    """``--seq`` number ``n`` checked against the database's alphabet (an InputError naming it)."""
    from genolm.alphabet import PROTEIN_CHARS, validate
    from genolm.errors import InputError

    if not seq:
        raise InputError("an empty --seq", record=f"seq{n}", hint="give a sequence, e.g. --seq ACGTTGCA")
    if alphabet != "protein":
        return validate(seq, "iupac", path="--seq", record=f"seq{n}").upper()
    try:
        return validate(seq.upper(), PROTEIN_CHARS)
    except InputError as e:
        raise InputError(
            f"invalid character {seq[e.position]!r}: this database holds proteins",
            path="--seq",
            record=f"seq{n}",
            position=e.position,
            hint=f"allowed: amino acids {PROTEIN_CHARS}",
        ) from None


def _query(args, json):
    import sys

    from genolm.db.embedders import check_compatible
    from genolm.db.inputs import Item, iter_items
    from genolm.db.store import open_db
    from genolm.errors import InputError

    fmt = _out_format(args.out)
    db = open_db(args.db)
    want = {k: v for k, v in (("model", args.model), ("pooling", args.pooling)) if v}
    if want:
        check_compatible(db.spec, want, where=f"the database {args.db}")
    alphabet = db.manifest.get("stats", {}).get("alphabet") or db.manifest["build"].get("alphabet")
    items = [
        Item(f"seq{i + 1}", _query_seq(s, i + 1, alphabet), "--seq", None, None, None, "+", None)
        for i, s in enumerate(args.seq)
    ]
    if args.fasta:
        items += list(iter_items(args.fasta, kind="fasta"))
    if args.region:
        from genolm.io.genome import Genome

        genome = (
            args.genome
            or db.manifest["build"].get("genome")
            or (db.manifest["build"]["inputs"][0]["path"] if db.manifest["build"].get("window") else None)
        )
        if genome is None:
            raise InputError(
                "--region needs the genome: this database was not built from one",
                path=args.db,
                hint="pass --genome",
            )
        g = Genome.open(genome)
        for r in args.region:
            try:
                contig, span = r.rsplit(":", 1)
                a, b = (int(x.replace(",", "")) for x in span.split("-"))
            except ValueError:
                raise InputError(f"--region {r!r} is not chr:start-end") from None
            start = a - 1  # 1-based inclusive on the command line -> 0-based half-open
            items.append(Item(r, g.fetch(contig, start, b).upper(), str(genome), contig, start, b, "+", None))
    if not items and not args.id:
        raise InputError("nothing to query: give --seq, --fasta, --region or --id")
    frames = []
    if items:
        frames.append(db.query(items, k=args.k, where=args.where))
    if args.id:
        frames.append(db.query_ids(args.id, k=args.k, where=args.where))
    import pandas as pd

    hits = pd.concat(frames, ignore_index=True)
    out = args.out
    if out == "-":
        hits.to_csv(sys.stdout, sep="\t", index=False)
    elif fmt == "parquet":
        hits.to_parquet(out, index=False)
    elif fmt == "json":
        hits.to_json(out, orient="records", indent=2)
    elif fmt == "csv":
        hits.to_csv(out, index=False)
    else:
        hits.to_csv(out, sep="\t", index=False)
    if out != "-":
        print(
            json.dumps({"queries": int(hits["query"].nunique()), "hits": len(hits), "out": out}),
            file=sys.stderr,
        )
    return 0


def _add(args, json):
    from genolm.db.store import add_to_db

    n = add_to_db(
        args.db,
        args.inputs,
        kind=args.kind,
        window=args.window,
        stride=args.stride,
        genome=args.genome,
        batch_size=args.batch_size,
        max_n=args.max_n,
        progress=_progress(args),
    )
    print(json.dumps({"db": args.db, "added": n}))
    return 0


def _delete(args, json):
    from genolm.db.store import delete_from_db

    print(json.dumps({"db": args.db, "deleted": delete_from_db(args.db, args.id)}))
    return 0


def _info(args, json):
    from genolm.db.store import open_db

    print(json.dumps(open_db(args.db).info(), indent=2, default=str))
    return 0


def _compact(args, json):
    from genolm.db.store import compact_db

    print(json.dumps(compact_db(args.db, progress=_progress(args)), indent=2))
    return 0


def _pairs(args, json):
    import sys

    from genolm.db.pairs import mine_pairs, write_pairs

    df = mine_pairs(
        args.db,
        mutations=args.mutations,
        locus=args.locus,
        same_source=args.same_source,
        mutate_positives=args.mutate_positives,
        min_similarity=args.min_similarity,
        candidates=args.candidates,
        max_anchors=args.max_anchors,
        seed=args.seed,
    )
    write_pairs(df, args.out)
    kinds = {str(k): int(v) for k, v in df["kind"].value_counts().items()}
    print(json.dumps({"db": args.db, "pairs": len(df), "kinds": kinds, "out": args.out}), file=sys.stderr)
    return 0
