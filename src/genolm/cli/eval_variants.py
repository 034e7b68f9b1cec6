"""``genolm eval-variants``: metrics with bootstrap CIs and plots for a table of variant scores."""

from __future__ import annotations

NAME = "eval-variants"
HELP = (
    "evaluate variant scores against labels (AUROC, AUPRC, Spearman, top-k percent odds ratio) or DMS truth"
)
DESCRIPTION = """\
Evaluate a score-variants output (.parquet, .tsv, .csv or a scored VCF) against binary labels
(--label-col: a column or INFO key, 'id' works; --positive: the positive value or a regex matched
at its start) or a continuous truth (--truth-col, e.g. DMS fitness).  Rows whose status is not
'ok' or whose score / label is missing are left out and counted.  Reports AUROC, AUPRC, Spearman
and the odds ratio of positives in the top k% of scores vs the rest, each with a percentile
bootstrap CI; writes eval.json, eval.md and PNG + SVG plots into the --out folder (ROC and PR with
AUROC / AUPRC and their CIs in the legend, score distribution per class; a scatter plot for
--truth-col).  A top-k% odds ratio whose top set holds fewer than 10 variants is not reported
(marked in eval.md).  --direction auto: lower scores are positive for LLR-like methods, higher for
embedding distances; a warning says so when that direction gives AUROC < 0.5."""
EXAMPLES = """
genolm eval-variants scores.tsv --label-col id --positive Pathogenic --n-boot 2000
genolm eval-variants dms_scores.parquet --truth-col fitness
genolm make-vep-set --annotation bundled:chloroplast --per-class 50 --out /tmp/cp_dev.vcf
genolm score-variants --genome bundled:chloroplast --vcf /tmp/cp_dev.vcf --out /tmp/cp_scores.parquet
genolm eval-variants /tmp/cp_scores.parquet --label-col LABEL --out /tmp/cp_eval
genolm score-variants --genome bundled:chloroplast --vcf /tmp/cp_dev.vcf --out - | genolm eval-variants - --label-col LABEL --out /tmp/cp_eval
"""


def add_arguments(p):
    from genolm.cli.common import add_deprecated_alias, nonnegative_int, positive_float

    p.add_argument("scores", help="score table (.parquet / .tsv / .csv) or scored VCF; '-': stdin")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--label-col", help="column (or INFO key) with binary labels")
    g.add_argument("--truth-col", help="column with a continuous truth (DMS)")
    p.add_argument(
        "--positive",
        help="positive class: a value or a regex matched at the start. Default: 1/true/pathogenic/...",
    )
    p.add_argument("--score-col", default="score", help="score column. Default: score")
    p.add_argument(
        "--direction",
        default="auto",
        choices=("auto", "lower", "higher"),
        help="which scores are positive. Default: auto",
    )
    p.add_argument(
        "--top-k",
        type=positive_float,
        action="append",
        metavar="PCT",
        help="top-k%% for the odds ratio, below 100; repeatable. Default: 0.1 1 5 10",
    )
    p.add_argument(
        "--n-boot", type=nonnegative_int, default=1000, help="bootstrap resamples (0: no CIs). Default: 1000"
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed. Default: 0")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="output folder: eval.json, eval.md and the PNG + SVG plots (eval_*.png / .svg). "
        "Default: SCORES without extensions + '.eval/'",
    )
    add_deprecated_alias(p, "--out-prefix", new="--out DIR", dest="out_prefix", metavar="PREFIX")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG/SVG plots")
    p.add_argument("--no-progress", action="store_true", help="no progress bar over the bootstrap")


def _default_folder(scores: str) -> str:
    from pathlib import Path

    src = Path("variant-eval" if scores == "-" else scores)
    return str(src.with_name(src.name.split(".")[0] + ".eval"))


def run(args):
    import json

    from genolm.cli.common import output_prefix
    from genolm.variants.pipeline import EvalVariantsConfig, eval_variants

    cfg = EvalVariantsConfig(
        scores=args.scores,
        label_col=args.label_col,
        positive=args.positive,
        truth_col=args.truth_col,
        score_col=args.score_col,
        direction=args.direction,
        top_k=args.top_k,
        n_boot=args.n_boot,
        seed=args.seed,
        out=output_prefix(args, "eval", default_folder=_default_folder(args.scores)),
        plots=not args.no_plots,
        progress=not args.no_progress,
    )
    print(json.dumps(eval_variants(cfg), indent=2))
    return 0
