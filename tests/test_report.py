"""The report: Markdown + self-contained HTML (inline SVG, sortable tables) + a leaderboard; one
reference (the best baseline) with beats / ties / loses decided by the paired CI; controls below
chance and single seeds flagged; provenance; `genolm report DIR [DIR ...]` rebuilds and merges."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from genolm.bench.report import findings, glance, render_html, render_markdown, write_report
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


def _task(model_mean, base_mean=0.5, p=0.01, half=0.1, control=None, base="cnn"):
    diff = model_mean - base_mean
    lo, hi = diff - half, diff + half
    word = "beats" if lo > 0 else "loses" if hi < 0 else "ties"
    cmp = {"baseline": base, "difference": diff, "low": lo, "high": hi, "p_value": p, "verdict": word}
    entries = [
        _entry("kmer-lr", "baseline", "-", base_mean - 0.1),
        _entry(base, "baseline", "-", base_mean),
        _entry("genolm-tiny", "model", "full", model_mean, vs_best_baseline=cmp, chance=0.0),
    ]
    if control is not None:
        below = control + 0.05 < 0.0
        entries.append(
            _entry(
                "genolm-tiny",
                "random-init",
                "full",
                control,
                ci_low=control - 0.05,
                ci_high=control + 0.05,
                chance=0.0,
                below_chance=below,
            )
        )
        d = model_mean - control
        entries[2]["vs_random_init"] = {
            "difference": d,
            "low": d - 0.05,
            "high": d + 0.05,
            "p_value": 0.001,
            "verdict": "beats",
            "control_below_chance": below,
        }
    return {
        "task": "toy/task",
        "status": "scored",
        "task_type": "binary",
        "metric": "mcc",
        "audit": "PASS",
        "audit_checks": [],
        "data": {"train": {"n": 10}, "valid": {"n": 2, "carved_from_train": True}, "test": {"n": 5}},
        "best_baseline": base,
        "entries": sorted(entries, key=lambda e: -e["mean"]),
    }


def test_findings_compare_with_the_best_baseline_and_say_ties_when_the_ci_includes_0():
    # guards friction 6: "loses" was said for a CI that includes 0 (p = 0.06), and the bullets named
    # the k-mer baseline while the table compared with the best one
    text = " ".join(findings(_task(0.3)))
    assert "loses to the best baseline (cnn)" in text and "MCC 0.300 vs 0.500" in text
    assert "k-mer" not in text
    assert "beats the best baseline (cnn)" in " ".join(findings(_task(0.7)))
    tie = " ".join(findings(_task(0.45, p=0.06)))  # lower than the baseline, CI [-0.15, +0.05]
    assert "ties the best baseline (cnn)" in tie and "loses" not in tie
    assert "ties the best baseline (cnn)" in glance(_task(0.45, p=0.06))


def test_a_control_below_chance_is_flagged_not_called_a_pretraining_gain():
    # guards: MCC -0.13 [-0.21, -0.06] for the random init became "pretraining helps: +0.35"
    t = _task(0.22, control=-0.13)
    text = " ".join(findings(t))
    assert "below chance" in text and "Pretraining helps" not in text
    assert "below chance" in glance(t)
    sane = _task(0.22, control=0.05)
    assert "Pretraining helps" in " ".join(findings(sane)) and "sane" in glance(sane)


def test_a_single_seed_is_flagged_unless_deterministic():
    t = _task(0.7)
    assert "n=1 seed" in glance(t)
    t["entries"] = [dict(e, deterministic=True) for e in t["entries"]]
    assert "n=1 seed" not in glance(t)


def test_render_markdown_and_html_from_blocks():
    svg = (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><defs><clipPath id="p1">'
        b'</clipPath></defs><g clip-path="url(#p1)"/></svg>'
    )
    blocks = [
        ("h1", "T"),
        ("p", "a **b** <c>"),
        ("table", ["x", "y|z"], [["1", "2"]]),
        ("img", "f.svg", svg, "alt"),
        ("img", "g.svg", svg, "alt2"),
        ("ul", ["u"]),
    ]
    md = render_markdown(blocks)
    assert "| x | y\\|z |" in md and "![alt](report_files/f.svg)" in md
    page = render_html(blocks)
    assert "<b>b</b> &lt;c&gt;" in page
    # inline SVG, ids made unique per figure (two figures on one page never share a clip path)
    assert "<?xml" not in page and page.count("<svg") == 2
    assert 'id="f1-p1"' in page and "url(#f2-p1)" in page
    assert '<table class="sortable">' in page and "<script>" in page


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
    assert "best baseline" in md and "kmer-lr" in md and "leak audit" in md
    assert "PASS" in md  # the verdict beside every score
    # the first screen: the verdict against the best baseline and the control's sanity, per task
    first = md[md.index("## At a glance") : md.index("How to read this")]
    assert re.search(r"(beats|ties|loses to) the best baseline", first)
    assert "control (random init)" in first
    svgs = sorted((bench_dir / "report_files").glob("*"))
    assert {p.name for p in svgs} == {"toy_gc-scores.svg", "toy_gc-curves.svg"}
    assert all(b"<svg" in p.read_bytes() for p in svgs)
    # self-contained: figures inline as SVG, nothing fetched from elsewhere
    assert page.count("<svg") == 2 and "base64" not in page
    assert not re.search(r'(src|href)="(http|//)', page)
    assert "precision-recall" in page
    # provenance: versions, hardware, data hashes; the header claims only what ran
    assert "## Provenance" in md and "torch" in md and "sha256" in md
    summary = json.loads((bench_dir / "summary.json").read_text())
    test_hash = summary["tasks"]["toy/gc"]["data"]["test"]["sha256"]
    assert test_hash in md
    assert "lora" not in md.split("## At a glance")[0]
    assert "probe: 2 seeds" in md.split("## At a glance")[0]


def test_leaderboard_csv_and_parquet(bench_dir):
    import pandas as pd

    from genolm.bench.report import LEADERBOARD_COLUMNS

    csv_ = pd.read_csv(bench_dir / "leaderboard.csv")
    pq = pd.read_parquet(bench_dir / "leaderboard.parquet")
    assert list(csv_.columns) == list(LEADERBOARD_COLUMNS) == list(pq.columns)
    assert len(csv_) == len(pq) == 4  # kmer-lr, cnn, the probe, its random init
    probe = csv_[(csv_.kind == "model")].iloc[0]
    assert probe.vs_best_baseline in ("beats", "ties", "loses")
    assert probe.best_baseline in ("kmer-lr", "cnn")
    assert (probe.delta_low > 0) == (probe.vs_best_baseline == "beats")


def test_model_card_has_model_index(bench_dir):
    from genolm.bench.modelcard import split_front_matter

    cards = list((bench_dir / "model-cards").glob("*/README.md"))
    assert len(cards) == 1
    meta, body = split_front_matter(cards[0].read_text())
    (entry,) = meta["model-index"]
    (result,) = entry["results"]
    assert result["dataset"]["name"] == "toy/gc" and result["task"]["type"] == "text-classification"
    (metric,) = result["metrics"]
    assert metric["type"] == "mcc" and isinstance(metric["value"], float)
    assert "toy/gc" in body


def test_update_model_card_merges_into_a_local_folder_only(bench_dir, tmp_path):
    from genolm.bench.modelcard import local_model_folder, split_front_matter, update_model_card

    summary = json.loads((bench_dir / "summary.json").read_text())
    model = next(e["name"] for e in summary["tasks"]["toy/gc"]["entries"] if e["kind"] == "model")
    folder = tmp_path / "mymodel"
    folder.mkdir()
    (folder / "README.md").write_text(
        "---\nlicense: mit\nmodel-index:\n- name: " + model + "\n  results:\n"
        "  - task: {type: text-classification}\n    dataset: {name: other/task, type: other/task}\n"
        "    metrics: [{type: mcc, value: 0.1}]\n---\n\nMy own text.\n"
    )
    assert update_model_card(folder, model, summary) == folder / "README.md"
    meta, body = split_front_matter((folder / "README.md").read_text())
    assert meta["license"] == "mit" and body.strip() == "My own text."
    names = [r["dataset"]["name"] for r in meta["model-index"][0]["results"]]
    assert names == ["other/task", "toy/gc"]
    update_model_card(folder, model, summary)  # again: replaced, not duplicated
    meta, _ = split_front_matter((folder / "README.md").read_text())
    assert [r["dataset"]["name"] for r in meta["model-index"][0]["results"]] == names
    # a bundled model (inside the genolm package) and a catalogue name are never written to
    from genolm.data import model_path

    assert local_model_folder(str(model_path("genolm-tiny"))) is None
    assert local_model_folder("genolm-tiny") is None


def test_report_merges_several_folders(bench_dir, tmp_path):
    import shutil

    from genolm.cli.main import main

    other = tmp_path / "other"
    shutil.copytree(bench_dir, other)
    # a second folder with a different test set for the same task: kept apart, not pooled
    for rec in other.glob("runs/*/*/*/seed*.json"):
        d = json.loads(rec.read_text())
        d["data"]["test"]["sha256"] = "0" * 64
        rec.write_text(json.dumps(d))
    out = tmp_path / "merged"
    assert main(["report", str(bench_dir), str(other), "--out", str(out), "--n-boot", "200"]) == 0
    md = (out / "report.md").read_text()
    assert "toy/gc [other]" in md and "from 2 results folders" in md
    assert (out / "leaderboard.csv").exists()
    assert not (bench_dir / "report_files" / "toy_gc_other_-scores.svg").exists()


def test_cli_report_rebuilds_from_runs(bench_dir):
    from genolm.cli.main import main

    (bench_dir / "report.md").unlink()
    (bench_dir / "summary.json").unlink()
    assert main(["report", str(bench_dir), "--n-boot", "200"]) == 0
    assert (bench_dir / "report.md").exists() and (bench_dir / "summary.json").exists()


def test_report_of_an_empty_folder_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no bench results"):
        write_report(tmp_path)


def test_report_of_a_missing_folder_says_it_does_not_exist(tmp_path):
    # a typo in the folder name was reported as "holds no bench results"
    with pytest.raises(InputError, match="does not exist"):
        write_report(tmp_path / "typo")
