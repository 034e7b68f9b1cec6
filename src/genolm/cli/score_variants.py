"""``genolm score-variants``: zero-shot variant effect scores from a VCF and a reference genome."""

from __future__ import annotations

NAME = "score-variants"
HELP = "zero-shot variant effect scores (LLR / PLL / CLM ratio / embedding distance) for a VCF"
DESCRIPTION = """\
Score every record of a VCF (plain, bgzip, BCF or a header-less CHROM POS ID REF ALT list)
against a reference genome with a genomic language model.  MLMs: masked-marginal LLR for SNVs
(mask the site, log p(ALT) - log p(REF); overlapping k-mers mask every token covering the site),
pseudo-log-likelihood over the variant span for indels / MNVs and for alleles that re-tokenize
(BPE).  CLMs: log P(alt window) - log P(ref window).  --method embedding: cosine distance of
mean-pooled embeddings.  Every score is the mean of the forward and reverse-complement strands;
negative LLR = ALT less likely than REF.

Windows are centred on the variant and clipped at contig ends.  REF is checked against the genome,
contig names are aliased (chr1 <-> 1), multi-allelic records are split.  Every input record is in
the output, scored or with the reason it was not (GENOLM_STATUS / status: ref_mismatch,
contig_missing, out_of_bounds, no_alt, unsupported_allele, no_token).  The output format follows
--out's extension: .vcf/.vcf.gz/.bcf (input records + INFO GENOLM_SCORE, GENOLM_STATUS,
GENOLM_METHOD, GENOLM_REASON), .parquet, .tsv or .csv (one row per ALT).  Written atomically.

A FASTA record named like a samtools region, e.g. '>chr17:42425000-43600000' (1-based,
inclusive, its length matching), holds that part of chr17: VCF records on chr17 (or 17) inside it
are scored at their genome coordinates (genomic position = 42,425,000 + 0-based offset in the
record); those outside it get status out_of_bounds.  So a region cut from a big genome
(samtools faidx ref.fa chr17:42425000-43600000 > brca1.fa) needs no coordinate shifting."""
EXAMPLES = """
genolm score-variants --genome ref.fa.gz --vcf in.vcf.gz --out scores.tsv --model runs/my-model/final --window 512 --device cuda
genolm make-vep-set --annotation bundled:chloroplast --per-class 50 --out /tmp/cp_dev.vcf
genolm score-variants --genome bundled:chloroplast --vcf /tmp/cp_dev.vcf --out /tmp/cp_scores.parquet
genolm score-variants --genome bundled:chloroplast --vcf /tmp/cp_dev.vcf --out /tmp/cp_scores.vcf.gz --method embedding
genolm score-variants --genome bundled:chloroplast --vcf /tmp/cp_dev.vcf --out /tmp/cp_bf16.tsv --precision bf16
genolm score-variants --genome GRCh38_chr17_42425000-43600000.fa --vcf clinvar_chr17.vcf.gz --out brca1.tsv
genolm make-vep-set --annotation bundled:chloroplast --per-class 20 --out - | genolm score-variants --genome bundled:chloroplast --vcf - --out - --out-format vcf | grep -v '^##'
"""


def add_arguments(p):
    from genolm.cli.common import nonnegative_int, positive_int

    p.add_argument(
        "--genome", required=True, help="reference FASTA (plain/bgzip/gzip), GenBank, or bundled:NAME"
    )
    p.add_argument(
        "--vcf",
        required=True,
        help="variants: VCF, bgzip VCF, BCF or header-less CHROM POS ID REF ALT; '-': stdin",
    )
    p.add_argument(
        "--out",
        required=True,
        help="output file: .vcf[.gz] / .bcf / .parquet / .tsv / .csv; '-' streams --out-format to stdout",
    )
    p.add_argument(
        "--out-format",
        choices=("tsv", "csv", "vcf"),
        default="tsv",
        help="format of --out - (a file's format follows its extension). Default: tsv",
    )
    p.add_argument(
        "--model",
        default="genolm-tiny",
        help="model folder, bundled name, catalogue name (genolm ls models) or Hub id. Default: genolm-tiny",
    )
    p.add_argument(
        "--method",
        default="auto",
        help="auto (llr/pll for MLMs, clm for CLMs), llr, pll, clm, embedding (cosine), embedding-l2. Default: auto",
    )
    p.add_argument(
        "--window",
        type=positive_int,
        default=None,
        help="window in bases. Default: the model's training window, else 256",
    )
    p.add_argument(
        "--batch-size", type=positive_int, default=64, help="sequences per forward pass. Default: 64"
    )
    p.add_argument(
        "--flank",
        type=nonnegative_int,
        default=0,
        help="extra bases each side of the span that PLL scores. Default: 0",
    )
    p.add_argument(
        "--no-special-tokens", action="store_true", help="do not wrap windows in the tokenizer's template"
    )
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps. Default: cpu")
    p.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "bf16", "auto"),
        help="fp32 (exact), bf16 autocast (faster where supported; bundled model: scores within 0.03), "
        "auto (bf16 where the device supports it). Default: fp32",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="run Python code shipped in the model repository (DNABERT-2, NT v2, HyenaDNA): read it first",
    )


def run(args):
    import json

    from genolm.cli.common import output_file, status_stream

    with output_file(args.out, "." + args.out_format) as out:
        summary = _score(args, out)
    if args.out == "-":
        summary["out"] = "-"
    print(json.dumps(summary, indent=2), file=status_stream(args.out))
    return 0


def _score(args, out: str) -> dict:
    from genolm.variants.pipeline import ScoreVariantsConfig, score_vcf

    cfg = ScoreVariantsConfig(
        genome=args.genome,
        vcf=args.vcf,
        out=out,
        model=args.model,
        trust_remote_code=args.trust_remote_code,
        method=args.method,
        window=args.window,
        batch_size=args.batch_size,
        flank=args.flank,
        add_special_tokens=not args.no_special_tokens,
        device=args.device,
        progress=not args.no_progress,
        precision=args.precision,
    )
    return score_vcf(cfg)
