"""``genolm ism``: in-silico saturation mutagenesis of a region or a sequence."""

from __future__ import annotations

NAME = "ism"
HELP = "in-silico saturation mutagenesis: every SNV's score (L x 4), as TSV/NPZ + heatmap + logo"
DESCRIPTION = """\
Score every possible substitution of a genome region (--genome + --region chr:start-end, 1-based
inclusive; windows reach into the flanks) or of a bare --sequence, with the same scorer as
score-variants (masked-marginal LLR for MLMs, likelihood ratio for CLMs, both strands averaged).
Writes into the --out folder ism.tsv (pos, ref, A, C, G, T), ism.npz (llr (L, 4), sequence,
contig, start), ism_heatmap.png and ism_logo.png, each also as .svg (the logo: reference bases
scaled by -mean score of their three alternatives).  Sign convention: score = log p(alt) -
log p(ref); negative = the model finds the substitution less likely (predicted damaging).  A
--sequence must be non-empty IUPAC (A C G T N and ambiguity codes; a space,
digit or '*' is an error naming its position).  A --sequence no longer than the window is scored
in one context, the whole sequence, for every site, so a k-mer model reads every site in the same
frame; a longer one gets a window centred on each site."""
EXAMPLES = """
genolm ism --genome ref.fa.gz --region chr17:43044295-43044395 --model runs/my-model/final --out brca1_ism
genolm ism --genome bundled:chloroplast --region NC_000932.1:1001-1060 --out /tmp/cp_ism
genolm ism --sequence ACGTTGCAATGGCCTAGCTAGGATCCATGCATGCAAGCTTGGCACTGGCCGTCGTTTTAC --out /tmp/seq_ism
"""


def add_arguments(p):
    from genolm.cli.common import add_deprecated_alias, positive_int

    p.add_argument("--genome", help="reference FASTA / GenBank / bundled:NAME (with --region)")
    p.add_argument("--region", help="chr:start-end, 1-based inclusive")
    p.add_argument("--sequence", help="a bare DNA sequence instead of --genome/--region")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="output folder: ism.tsv, ism.npz, ism_heatmap.png, ism_logo.png (required)",
    )
    add_deprecated_alias(p, "--out-prefix", new="--out DIR", dest="out_prefix", metavar="PREFIX")
    p.add_argument(
        "--model",
        default="genolm-tiny",
        help="model folder, bundled name, catalogue name (genolm ls models) or Hub id. Default: genolm-tiny",
    )
    p.add_argument("--method", default="auto", help="auto, llr, pll or clm. Default: auto")
    p.add_argument(
        "--window",
        type=positive_int,
        default=None,
        help="window in bases. Default: the model's training window, else 256",
    )
    p.add_argument(
        "--batch-size", type=positive_int, default=64, help="sequences per forward pass. Default: 64"
    )
    p.add_argument("--device", default=None, help="cpu, cuda, ... Default: cpu")
    p.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "bf16", "auto"),
        help="fp32 (exact), bf16 autocast, or auto (bf16 where supported). Default: fp32",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG/SVG plots")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="run Python code shipped in the model repository (DNABERT-2, NT v2, HyenaDNA): read it first",
    )


def run(args):
    import json

    from genolm.cli.common import output_prefix
    from genolm.variants.ism import IsmConfig, run_ism

    cfg = IsmConfig(
        out=output_prefix(args, "ism"),
        genome=args.genome,
        region=args.region,
        sequence=args.sequence,
        model=args.model,
        trust_remote_code=args.trust_remote_code,
        method=args.method,
        window=args.window,
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        plots=not args.no_plots,
        progress=not args.no_progress,
    )
    print(json.dumps(run_ism(cfg), indent=2))
    return 0
