"""``genolm report``: rebuild the leaderboard of a ``genolm bench`` folder."""

from __future__ import annotations

NAME = "report"
HELP = "rebuild the Markdown + self-contained HTML leaderboard of a `genolm bench` results folder"
DESCRIPTION = """\
Read the run files of a `genolm bench` folder and write report.md (figures in report_files/) and
report.html (one self-contained file, figures embedded) into it: per task, every model, random
initialisation and baseline with mean +/- SD over seeds, bootstrap 95% CIs, the leak-audit
verdict beside every score, paired bootstraps against the best baseline, time and parameter
counts, ROC curves for binary tasks, and in words where a genolm model loses to the k-mer
baseline.  The summary (summary.json) is rebuilt from the runs when missing or with --n-boot."""
EXAMPLES = """
genolm bench --out genolm-bench && genolm report genolm-bench
genolm report genolm-bench --n-boot 5000
"""


def add_arguments(p):
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="a folder written by `genolm bench`")
    p.add_argument("--n-boot", type=int, help="rebuild summary.json with this many bootstrap resamples")


def run(args):
    from genolm.bench.report import write_report

    files = write_report(args.results_dir, n_boot=args.n_boot)
    print(f"wrote {files.markdown}")
    print(f"wrote {files.html}")
    return 0
