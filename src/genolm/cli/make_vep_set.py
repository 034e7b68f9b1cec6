"""``genolm make-vep-set``: a labelled variant set (synonymous vs stop-gained) from an annotated genome."""

from __future__ import annotations

NAME = "make-vep-set"
HELP = "labelled zero-shot VEP set: synonymous vs stop-gained SNVs in coding sequences, as a VCF"
DESCRIPTION = """\
Enumerate every synonymous and stop-gained SNV in the coding sequences of an annotated genome
(GenBank with sequence, or --genome FASTA + GFF3; one transcript per gene, the longest CDS; start
and stop codons, bases shared by two genes and transcripts with in-frame stops are left out) and
sample --per-class of each.  Writes a VCF with INFO LABEL (1 stop_gained, 0 synonymous),
CONSEQUENCE, GENE, CODON_POS and STRAND, IDs GENE:c.<pos><ref>><alt>.  A model that learned codon
structure should score stop-gained variants lower: `genolm eval-variants SCORES --label-col LABEL`."""
EXAMPLES = """
genolm make-vep-set --annotation umaydis.gff3.gz --genome umaydis_genome.fasta.gz --per-class 1000 --out um_dev.vcf.gz
genolm make-vep-set --annotation bundled:chloroplast --per-class 50 --out /tmp/cp_dev.vcf
"""


def add_arguments(p):
    from genolm.cli.common import nonnegative_int

    p.add_argument(
        "--annotation",
        required=True,
        help="GenBank (with sequence), GFF3, or bundled:chloroplast; '-': stdin",
    )
    p.add_argument("--genome", help="FASTA of the GFF3's sequences")
    p.add_argument("--out", required=True, help="output VCF (.vcf / .vcf.gz); '-': plain VCF on stdout")
    p.add_argument(
        "--per-class", type=nonnegative_int, default=1000, help="variants per class (0: all). Default: 1000"
    )
    p.add_argument("--seed", type=int, default=0, help="sampling seed. Default: 0")


def run(args):
    import json

    from genolm.cli.common import output_file, status_stream
    from genolm.variants.pipeline import MakeVepSetConfig, make_vep_set

    with output_file(args.out, ".vcf") as out:
        cfg = MakeVepSetConfig(
            annotation=args.annotation, out=out, genome=args.genome, per_class=args.per_class, seed=args.seed
        )
        summary = make_vep_set(cfg)
    if args.out == "-":
        summary["out"] = "-"
    print(json.dumps(summary, indent=2), file=status_stream(args.out))
    return 0
