"""The report: Markdown + self-contained HTML with embedded plots; says in words when a genolm model
loses to the k-mer baseline; `genolm report DIR` rebuilds it from the run files."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from genolm.bench.report import findings, render_html, render_markdown, write_report
from genolm.errors import InputError


def _entry(name, kind, mode, mean, **kw):
    return {
        "name": name,
        "kind": kind,
        "mode": mode,
        "mean": mean,
        "sd": 0.01,
        "values": [mean],
        "seeds": [0],
        "ci_low": mean - 0.1,
        "ci_high": mean + 0.1,
        "time_s": 1.0,
        "params": 1000,
        "trainable_params": 10,
        "audit": "PASS",
        "runs": [],
        **kw,
    }


def _task(model_mean, kmer_mean=0.5, p=0.01):
    diff = model_mean - kmer_mean
    cmp = {"baseline": "kmer-lr", "difference": diff, "low": diff - 0.1, "high": diff + 0.1, "p_value": p}
    return {
        "task": "toy/task",
        "status": "scored",
        "task_type": "binary",
        "metric": "mcc",
        "audit": "PASS",
        "audit_checks": [],
        "data": {"train": {"n": 10}, "valid": {"n": 2, "carved_from_train": True}, "test": {"n": 5}},
        "best_baseline": "kmer-lr",
        "entries": sorted(
            [
                _entry("kmer-lr", "baseline", "-", kmer_mean),
                _entry("genolm-tiny", "model", "full", model_mean, vs_kmer=cmp, vs_best_baseline=cmp),
            ],
            key=lambda e: -e["mean"],
        ),
    }


def test_findings_say_when_a_model_loses_to_kmer():
    text = " ".join(findings(_task(0.3)))
    assert "loses to the k-mer baseline (kmer-lr) significantly" in text
    assert "MCC 0.300 vs 0.500" in text
    assert "beats the k-mer baseline" in " ".join(findings(_task(0.7)))
    assert "does not significantly beat" in " ".join(findings(_task(0.55, p=0.4)))


def test_render_markdown_and_html_from_blocks():
    png = b"\x89PNG\r\n\x1a\nfake"
    blocks = [
        ("h1", "T"),
        ("p", "a **b** <c>"),
        ("table", ["x", "y|z"], [["1", "2"]]),
        ("img", "f.png", png, "alt"),
        ("ul", ["u"]),
    ]
    md = render_markdown(blocks)
    assert "| x | y\\|z |" in md and "![alt](report_files/f.png)" in md
    page = render_html(blocks)
    assert "<b>b</b> &lt;c&gt;" in page
    assert f"data:image/png;base64,{base64.b64encode(png).decode()}" in page


@dataclass
class Split:
    sequences: list
    labels: np.ndarray
    ids: list


class StandIn:
    def __init__(self, name, splits):
        self.name, self.version, self.task_type, self.metric = name, 1, "binary", "mcc"
        self.max_length, self.labels, self._splits = None, ["at", "gc"], splits

    def load_splits(self):
        return dict(self._splits)


def composition(n, seed):
    """Dinucleotide composition classes with the same GC content (so the audit finds no GC
    shortcut): k-mer frequencies separate them."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    blocks = {0: ["GC", "TA", "AC", "GT"], 1: ["CG", "AT", "CA", "TG"]}
    seqs = ["".join(rng.choice(blocks[int(c)], 25)) for c in y]
    return seqs, y


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    import genolm.models  # noqa: F401
    from genolm.bench.runner import BenchConfig, run_bench
    from genolm.models import build_model
    from genolm.tokenizers import get_tokenizer

    root = tmp_path_factory.mktemp("report")
    tok = get_tokenizer("char")
    torch.manual_seed(0)
    build_model("gpn", head="lm", tokenizer=tok, hidden_size=32, num_hidden_layers=2).save_pretrained(
        root / "m"
    )
    tok.save_pretrained(root / "m")
    s, y = composition(160, 0)
    t, yt = composition(80, 1)
    task = StandIn("toy/gc", {"train": Split(s, y, list(range(160))), "test": Split(t, yt, list(range(80)))})
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = BenchConfig(
            models=[str(root / "m")],
            modes=["probe"],
            seeds=2,
            out_dir=str(root / "out"),
            cnn={"max_epochs": 2},
            n_boot=200,
            progress=False,
            threads=1,
        )
        run_bench(cfg, [task])
    finally:
        torch.set_num_threads(old)
    return root / "out"


def test_report_files_are_produced(bench_dir):
    md = (bench_dir / "report.md").read_text()
    page = (bench_dir / "report.html").read_text()
    assert "k-mer" in md and "kmer-lr" in md and "leak audit" in md
    assert "PASS" in md  # the verdict beside every score
    pngs = sorted((bench_dir / "report_files").glob("*.png"))
    assert {p.name for p in pngs} == {"toy_gc-scores.png", "toy_gc-roc.png"}
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)
    # self-contained: images inline, nothing fetched from elsewhere
    assert page.count("data:image/png;base64,") == 2
    assert not re.search(r'(src|href)="(http|//)', page)


def test_cli_report_rebuilds_from_runs(bench_dir):
    from genolm.cli.main import main

    (bench_dir / "report.md").unlink()
    (bench_dir / "summary.json").unlink()
    assert main(["report", str(bench_dir), "--n-boot", "200"]) == 0
    assert (bench_dir / "report.md").exists() and (bench_dir / "summary.json").exists()


def test_report_of_an_empty_folder_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no bench results"):
        write_report(tmp_path)
