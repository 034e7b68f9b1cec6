"""``genolm make-task``: build a labelled task from a genome and its annotation."""

from __future__ import annotations

NAME = "make-task"
HELP = "build a labelled benchmark task (train/valid/test CSVs + task.yaml) from a genome + annotation"
DESCRIPTION = """\
Build a benchmark task from a genome FASTA + GFF3 annotation, or an annotated GenBank file
alone (bundled:chloroplast works offline).  Kinds: 'feature' (windows labelled CDS / intron /
UTR / intergenic), 'cds' (CDS vs non-CDS), 'donor' / 'acceptor' (splice sites vs decoy GT / AG
dinucleotides), 'gene_start' (CDS starts vs decoy ATGs).  Splits are whole genomic blocks (or
contigs), so no window crosses a split; negatives are GC-matched to the positives; exact and
reverse-complement duplicates are dropped; --exclude-inverted-repeats true removes the 3' copy
of an organelle's inverted repeat.  The output folder holds train/valid/test CSVs
(sequence,label,id), a task.yaml for `genolm bench` / load_task, and manifest.json (inputs
with sha256, parameters, counts, GC per class, the leak audit).  Written atomically; the same
inputs, parameters and --seed give the same files.  Flags override the --config YAML."""
EXAMPLES = """
genolm make-task --genome bundled:chloroplast --kind cds --window 100 --block-size 5000 --exclude-inverted-repeats true --out /tmp/cp_cds
genolm make-task --genome genome.fa.gz --annotation genes.gff3.gz --kind donor --window 200 --out donor_task
genolm make-task --config make_task.yaml --seed 1 --out task_seed1
genolm make-task --genome bundled:chloroplast --kind feature --classes CDS,intron,intergenic --window 100 --stride 25 --exclude-inverted-repeats true --fractions train=0.6 --fractions valid=0.2 --fractions test=0.2 --block-size 5000 --out /tmp/cp_feat --overwrite true
"""


def add_arguments(p):
    from genolm.bench.maketask import MakeTaskConfig
    from genolm.cli.common import add_dataclass_arguments

    p.add_argument("--config", metavar="YAML", help="a YAML file of make-task parameters (flags override it)")
    add_dataclass_arguments(p, MakeTaskConfig)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args):
    import time

    from genolm.bench.maketask import MakeTaskConfig, make_task
    from genolm.cli.common import dataclass_overrides
    from genolm.config import load
    from genolm.errors import ConfigError

    overrides = dataclass_overrides(args, MakeTaskConfig)
    if "fractions" in overrides:  # --fractions train=0.8 --fractions test=0.2
        fr = {}
        for item in overrides["fractions"]:
            key, sep, value = str(item).partition("=")
            if not sep:
                raise ConfigError(f"--fractions takes SPLIT=FRACTION, got '{item}'")
            fr[key.strip()] = value
        overrides["fractions"] = fr
    for key in ("classes", "contigs"):  # comma-separated: --classes CDS,intron,intergenic
        if key in overrides:
            v = overrides[key]
            overrides[key] = [
                x.strip()
                for item in ([v] if isinstance(v, str) else v)
                for x in str(item).split(",")
                if x.strip()
            ]
    cfg = load(MakeTaskConfig, args.config, overrides)
    t0 = time.perf_counter()
    res = make_task(cfg, progress=not args.no_progress)
    m = res.manifest
    print(f"{m['kind']} task '{m['name']}' ({m['task_type']}, labels {', '.join(m['labels'])}) -> {res.out}")
    width = max(len(x) for x in m["labels"])
    print(f"{'split':<6} " + " ".join(f"{x:>{width}}" for x in m["labels"]))
    for split, counts in m["counts"].items():
        print(f"{split:<6} " + " ".join(f"{counts[x]:>{width}}" for x in m["labels"]))
    gc = m["gc"]
    print(
        f"GC gap between classes: {gc['gap_before']} before, {gc['gap_after']} after matching"
        if gc["matched"]
        else f"GC gap between classes: {gc['gap_after']} (not matched)"
    )
    if m.get("excluded_regions"):
        for r in m["excluded_regions"]:
            print(f"excluded {r['contig']}:{r['start']}-{r['end']} ({r['why']})")
    dropped = ", ".join(f"{k} {v}" for k, v in m["dropped"].items() if v)
    if dropped:
        print(f"dropped windows: {dropped}")
    if "audit_verdict" in m:
        print(f"leak audit: {m['audit_verdict']} (details in {res.out}/manifest.json)")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0
