"""``genolm report``: rebuild the leaderboard of one or several ``genolm bench`` folders."""

from __future__ import annotations

NAME = "report"
HELP = "rebuild the Markdown + self-contained HTML report and the leaderboard of `genolm bench` results"
DESCRIPTION = """\
Read the run files of one or several `genolm bench` folders and write report.md (figures as SVG
in report_files/), report.html (one self-contained file: inline SVG figures, sortable tables, no
network), leaderboard.csv / leaderboard.parquet (one row per task and entry; docs/outputs.md) and
model-cards/<model>/README.md (Hugging Face model-index).  The first screen says, per task, whether
the best genolm model beats, ties or loses to the best baseline (beats / loses only when the
paired bootstrap 95% CI of the difference excludes 0) and whether its random-init control is sane
(flagged when significantly below chance).  Then per task every entry with mean +/- SD over
seeds, bootstrap 95% CIs, the leak-audit verdict, flags (single seed, probe C at the edge of its
grid, truncated inputs), ROC and precision-recall curves over every seed (one-vs-rest for
multiclass), and a provenance block (versions, hardware, threads, data sha256, wall time, the
exact commands).  One folder: written into it (summary.json rebuilt from the runs when missing or
with --n-boot).  Several folders: their runs are merged (a task whose test split differs between
folders is kept apart) and the report goes to --out."""
EXAMPLES = """
genolm bench --out genolm-bench && genolm report genolm-bench
genolm report genolm-bench --n-boot 5000
genolm report bench-a bench-b --out bench-all
genolm report bench-mine --update-model-card
"""


def add_arguments(p):
    from genolm.cli.common import positive_int

    p.add_argument("results_dirs", nargs="+", metavar="RESULTS_DIR", help="folders written by `genolm bench`")
    p.add_argument(
        "--n-boot", type=positive_int, help="rebuild summary.json with this many bootstrap resamples"
    )
    p.add_argument(
        "--out",
        dest="report_out",
        metavar="DIR",
        help="where the report goes. Default: the folder itself (one folder), ./genolm-report (several)",
    )
    p.add_argument(
        "--update-model-card",
        action="store_true",
        help="merge the results (model-index) into README.md of each model benchmarked from a local "
        "folder (never a catalogue, bundled or Hub model)",
    )


def run(args):
    from pathlib import Path

    from genolm.bench.records import read_runs
    from genolm.bench.report import write_report

    dirs = args.results_dirs
    one = Path(dirs[0])
    if len(dirs) == 1 and args.n_boot is None and (one / "summary.json").exists() and (one / "runs").is_dir():
        # the report reuses summary.json: read the run records anyway, so that a damaged one is
        # an error naming it (summarising reads them otherwise)
        read_runs(one)
    out = args.report_out or (dirs[0] if len(dirs) == 1 else "genolm-report")
    files = write_report(dirs if len(dirs) > 1 else dirs[0], n_boot=args.n_boot, out_dir=out)
    for path in (files.markdown, files.html, *files.leaderboard, *files.model_cards):
        print(f"wrote {path}")
    if args.update_model_card:
        import json

        from genolm.bench.modelcard import update_model_cards
        from genolm.bench.summary import summarise_results

        summary_path = files.markdown.parent / "summary.json"
        summary = (
            json.loads(summary_path.read_text())
            if len(dirs) == 1 and summary_path.exists()
            else summarise_results(dirs, n_boot=args.n_boot or 1000, write=False)
        )
        cards = update_model_cards(summary)
        for card in cards:
            print(f"updated {card}")
        if not cards:
            print("no model card updated: no model was benchmarked from a local folder")
    return 0
