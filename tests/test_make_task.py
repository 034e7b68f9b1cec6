"""`genolm make-task`: labels at known coordinates, honest splits, GC matching, manifest, CLI."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pandas as pd
import pytest

from genolm.alphabet import gc_content, reverse_complement
from genolm.bench.maketask import (
    MakeTaskConfig,
    build_task,
    find_inverted_repeats,
    make_task,
)
from genolm.errors import ConfigError, InputError

_ID = re.compile(r"^(?P<contig>[^:]+):(?P<start>\d+)-(?P<end>\d+)\((?P<strand>[+-])\)$")


def _random(rng, n: int, gc: float) -> str:
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return "".join(rng.choice(list("ACGT"), size=n, p=p))


def _write_genome(tmp_path, n_genes=(22, 10)):
    """Two contigs of genes every 5 kb, alternating strands; returns paths and the truth.

    Each gene (transcript orientation): 5'UTR 100 | CDS 500 | intron 400 | CDS 600 | 3'UTR 150,
    the intron starting GT and ending AG, the CDS starting ATG.  GC: CDS 0.55, UTR 0.45,
    intron 0.30, intergenic 0.35.
    """
    rng = np.random.default_rng(1)
    seqs, truth, gff = {}, {}, ["##gff-version 3"]
    sites = {"donor": set(), "acceptor": set(), "start": set()}
    for ci, n in enumerate(n_genes):
        name = f"chr{ci + 1}"
        L = 5000 * n + 3000
        parts = list(_random(rng, L, 0.35))
        lab = np.zeros(L, dtype=np.int64)  # 0 intergenic, 1 intron, 2 UTR, 3 CDS
        for g in range(n):
            g0 = 2000 + 5000 * g
            segs = [
                ("UTR", 100, 0.45),
                ("CDS", 500, 0.55),
                ("intron", 400, 0.30),
                ("CDS", 600, 0.55),
                ("UTR", 150, 0.45),
            ]
            tx = "".join(_random(rng, ln, gc) for _, ln, gc in segs)
            tx = list(tx)
            tx[100:103] = "ATG"
            tx[600:602] = "GT"
            tx[998:1000] = "AG"
            tx = "".join(tx)
            strand = "+" if g % 2 == 0 else "-"
            glen = len(tx)
            parts[g0 : g0 + glen] = tx if strand == "+" else reverse_complement(tx)
            # genomic intervals of each segment
            off = 0
            exons, cds = [], []
            for kind, ln, _ in segs:
                if strand == "+":
                    a, b = g0 + off, g0 + off + ln
                else:
                    a, b = g0 + glen - off - ln, g0 + glen - off
                lab[a:b] = {"UTR": 2, "CDS": 3, "intron": 1}[kind]
                if kind == "CDS":
                    cds.append((a, b))
                off += ln
            if strand == "+":
                exons = [(g0, g0 + 600), (g0 + 1000, g0 + glen)]
                intron = (g0 + 600, g0 + 1000)
                sites["donor"].add((name, intron[0], 1))
                sites["acceptor"].add((name, intron[1] - 2, 1))
                sites["start"].add((name, g0 + 100, 1))
            else:
                exons = [(g0 + glen - 600, g0 + glen), (g0, g0 + glen - 1000)]
                intron = (g0 + glen - 1000, g0 + glen - 600)
                sites["donor"].add((name, intron[1] - 1, -1))
                sites["acceptor"].add((name, intron[0] + 1, -1))
                sites["start"].add((name, g0 + glen - 101, -1))
            gid = f"{name}_g{g}"
            # GFF3 is 1-based inclusive
            gff.append(f"{name}\ttest\tgene\t{g0 + 1}\t{g0 + glen}\t.\t{strand}\t.\tID={gid}")
            gff.append(f"{name}\ttest\tmRNA\t{g0 + 1}\t{g0 + glen}\t.\t{strand}\t.\tID={gid}.t;Parent={gid}")
            for a, b in exons:
                gff.append(f"{name}\ttest\texon\t{a + 1}\t{b}\t.\t{strand}\t.\tParent={gid}.t")
            for a, b in cds:
                gff.append(f"{name}\ttest\tCDS\t{a + 1}\t{b}\t.\t{strand}\t0\tID={gid}.cds;Parent={gid}.t")
        seqs[name] = "".join(parts)
        truth[name] = lab
    fa = tmp_path / "genome.fa"
    fa.write_text("".join(f">{k}\n{v}\n" for k, v in seqs.items()))
    gff_path = tmp_path / "genes.gff3"
    gff_path.write_text("\n".join(gff) + "\n")
    return fa, gff_path, seqs, truth, sites


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    return _write_genome(tmp_path_factory.mktemp("genome"))


def _cfg(genome, **kw):
    fa, gff = genome[0], genome[1]
    base = dict(genome=str(fa), annotation=str(gff), window=100, block_size=5000, audit=False)
    base.update(kw)
    return MakeTaskConfig(**base)


def _windows(res):
    for split, (seqs, labels, ids) in res.splits.items():
        for s, y, i in zip(seqs, labels, ids):
            m = _ID.match(i)
            yield split, s, int(y), m["contig"], int(m["start"]) - 1, int(m["end"]), m["strand"]


def test_feature_windows_carry_the_class_at_their_coordinates(genome):
    _, _, seqs, truth, _ = genome
    res = build_task(_cfg(genome, kind="feature", stride=50, gc_match=False))
    names = res.manifest["labels"]
    assert names == ["intergenic", "intron", "UTR", "CDS"]
    code = {"intergenic": 0, "intron": 1, "UTR": 2, "CDS": 3}
    n = 0
    for _split, s, y, contig, a, b, strand in _windows(res):
        assert strand == "+" and b - a == 100
        assert s == seqs[contig][a:b]  # the sequence is the genome at the id's coordinates
        assert set(truth[contig][a:b].tolist()) == {code[names[y]]}  # pure windows, right class
        n += 1
    assert n > 300
    # every class is in every split
    for split, counts in res.manifest["counts"].items():
        assert all(v > 0 for v in counts.values()), (split, counts)


def test_no_window_crosses_a_split_and_blocks_keep_a_gap(genome):
    res = build_task(_cfg(genome, kind="cds", stride=50))
    units = {
        split: [(c, s - 1, e) for c, s, e in info["units"]]
        for split, info in res.manifest["split_units"].items()
    }
    spans = {}
    for split, _s, _y, contig, a, b, _strand in _windows(res):
        inside = [u for u in units[split] if u[0] == contig and u[1] <= a and b <= u[2]]
        assert len(inside) == 1, f"window {contig}:{a}-{b} lies in no {split} block"
        spans.setdefault(contig, []).append((a, b, split))
    for windows in spans.values():
        windows.sort()
        for (_a1, b1, s1), (a2, _b2, s2) in zip(windows, windows[1:]):
            if s1 != s2:
                assert a2 - b1 >= 100, "windows of different splits closer than the gap"


def test_gc_matching_closes_the_gap_and_is_reported(genome):
    matched = build_task(_cfg(genome, kind="cds", stride=50)).manifest["gc"]
    raw = build_task(_cfg(genome, kind="cds", stride=50, gc_match=False)).manifest["gc"]
    assert raw["gap_after"] > 0.1  # CDS 0.55 vs the rest 0.30-0.45 by construction
    assert matched["gap_before"] > 0.1
    assert matched["gap_after"] < 0.01
    assert set(matched["mean_after"]["train"]) == {"non_CDS", "CDS"}


def test_sites_are_centred_and_oriented(genome):
    _, _, seqs, _, sites = genome
    for kind, motif, key in (
        ("donor", "GT", "donor"),
        ("acceptor", "AG", "acceptor"),
        ("gene_start", "ATG", "start"),
    ):
        res = build_task(_cfg(genome, kind=kind))
        pos = neg = 0
        for _split, s, y, contig, a, b, strand in _windows(res):
            assert s[50 : 50 + len(motif)] == motif  # site (or decoy) base at window // 2, read on its strand
            g = seqs[contig][a:b]
            assert s == (g if strand == "+" else reverse_complement(g))
            p = a + 50 if strand == "+" else b - 1 - 50
            is_site = (contig, p, 1 if strand == "+" else -1) in sites[key]
            assert is_site == (y == 1), (kind, contig, p, strand, y)
            pos += y == 1
            neg += y == 0
        assert pos > 10 and abs(neg - pos) <= 2  # one GC-matched decoy per site (a duplicate may go)


def test_manifest_is_complete(genome, tmp_path):
    fa, gff = genome[0], genome[1]
    out = tmp_path / "task"
    res = make_task(_cfg(genome, kind="cds", stride=50, audit=True, out=str(out), seed=3))
    m = json.loads((out / "manifest.json").read_text())
    assert m == res.manifest
    assert m["inputs"]["genome"]["sha256"] == hashlib.sha256(fa.read_bytes()).hexdigest()
    assert m["inputs"]["annotation"]["sha256"] == hashlib.sha256(gff.read_bytes()).hexdigest()
    assert m["seed"] == 3 and m["parameters"]["window"] == 100 and m["genolm_version"]
    for key in ("counts", "gc", "dropped", "split_units", "labels", "audit", "audit_verdict", "candidates"):
        assert key in m
    assert m["audit_verdict"] in ("PASS", "WARN")
    for split in ("train", "valid", "test"):
        df = pd.read_csv(out / f"{split}.csv")
        assert list(df.columns) == ["sequence", "label", "id"]
        assert len(df) == sum(m["counts"][split].values())
        gc = df.groupby("label")["sequence"].apply(lambda x: np.mean([gc_content(s) for s in x]))
        assert abs(gc[0] - gc[1]) < 0.02


def test_output_loads_as_a_task_and_is_reproducible(genome, tmp_path):
    from genolm.bench.tasks import load_task

    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    kw = dict(kind="feature", stride=50, classes=["intergenic", "intron", "CDS"], gc_match=False)
    make_task(_cfg(genome, out=str(a), seed=7, **kw))
    make_task(_cfg(genome, out=str(b), seed=7, **kw))
    make_task(_cfg(genome, out=str(c), seed=8, **kw))
    for split in ("train", "valid", "test"):
        assert (a / f"{split}.csv").read_bytes() == (b / f"{split}.csv").read_bytes()
    assert (a / "train.csv").read_bytes() != (c / "train.csv").read_bytes()
    task = load_task(a / "task.yaml")
    assert task.task_type == "multiclass" and task.max_length == 100
    splits = task.load_splits()
    assert set(splits) == {"train", "valid", "test"}
    assert splits["test"].labels.dtype.kind == "i" and task.labels[0] == "intergenic"
    assert load_task(a).name == task.name  # the folder itself works too


def test_output_folder_policy(genome, tmp_path):
    # guards against make-task silently replacing a user's folder
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="not empty"):
        make_task(_cfg(genome, kind="cds", out=str(out)))
    with pytest.raises(InputError, match="not a make-task output"):
        make_task(_cfg(genome, kind="cds", out=str(out), overwrite=True))
    assert (out / "notes.txt").read_text() == "keep me"


def test_split_by_contig_keeps_contigs_whole(tmp_path):
    fa, gff, *_ = _write_genome(tmp_path, n_genes=(6, 6, 6, 6, 6))
    res = build_task(
        MakeTaskConfig(
            genome=str(fa),
            annotation=str(gff),
            kind="cds",
            window=100,
            stride=50,
            split_by="contig",
            audit=False,
        )
    )
    owner = {}
    for split, *_rest, contig, _a, _b, _strand in _windows(res):
        assert owner.setdefault(contig, split) == split


def test_inverted_repeat_is_found_and_excluded():
    rng = np.random.default_rng(0)
    a, b, c = _random(rng, 3000, 0.4), _random(rng, 2000, 0.4), _random(rng, 4000, 0.4)
    ir = _random(rng, 1500, 0.4)
    seq = a + ir + b + reverse_complement(ir) + c
    found = find_inverted_repeats(seq, min_length=1000)
    assert len(found) == 1
    a0, a1, b0, b1 = found[0]
    # the copies, give or take a few flanking bases that match by chance
    assert 2995 <= a0 <= 3000 and 4500 <= a1 <= 4505 and 6495 <= b0 <= 6500 and 8000 <= b1 <= 8005
    assert seq[b0:b1] == reverse_complement(seq[a0:a1])
    assert find_inverted_repeats(_random(rng, 10000, 0.4), min_length=1000) == []


def test_bad_config_is_a_clear_error(genome):
    with pytest.raises(ConfigError, match="Did you mean 'donor'"):
        _cfg(genome, kind="doner")
    with pytest.raises(ConfigError, match="gap must be >= window"):
        _cfg(genome, gap=10)
    with pytest.raises(ConfigError, match="sum to 1"):
        _cfg(genome, fractions={"train": 0.5, "test": 0.2})
    with pytest.raises(ConfigError, match="Did you mean 'intron'"):
        _cfg(genome, kind="feature", classes=["CDS", "intorn"])
    with pytest.raises(ConfigError, match="needs an annotation"):
        build_task(MakeTaskConfig(genome=str(genome[0]), kind="cds"))


def test_cli_make_task(genome, tmp_path, capsys):
    from genolm.cli.main import main

    out = tmp_path / "cli_task"
    rc = main(
        [
            "make-task", "--genome", str(genome[0]), "--annotation", str(genome[1]), "--kind", "gene_start",
            "--window", "100", "--block-size", "5000", "--fractions", "train=0.6", "--fractions", "valid=0.2",
            "--fractions", "test=0.2", "--out", str(out), "--audit", "false",
        ]
    )  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "gene_start task" in text and "GC gap" in text
    m = json.loads((out / "manifest.json").read_text())
    assert m["parameters"]["fractions"] == {"train": 0.6, "valid": 0.2, "test": 0.2}
    assert main(["make-task", "--genome", str(genome[0]), "--kind", "cds", "--out", str(tmp_path / "x")]) == 2


@pytest.mark.parametrize("kind", ["feature", "donor"])
def test_progress_bars_cover_the_whole_genome(genome, kind, monkeypatch, capsys):
    """The window bar ends at 2 x genome bp and the assignment bar at 200 shuffles (guards against
    a bar that stalls short of 100 % or overshoots); the task itself does not change."""
    import genolm.bench.maketask as mt

    bars, mt_bar = {}, mt._bar

    def spy(enabled, total, desc, unit):
        bars[desc] = mt_bar(enabled, total, desc, unit)
        return bars[desc]

    monkeypatch.setattr(mt, "_bar", spy)
    monkeypatch.setattr(mt, "PROGRESS_DELAY_S", 0.0)
    monkeypatch.setenv("GENOLM_PROGRESS_EVERY_S", "0")  # a log (not a terminal) gets plain lines
    cfg = _cfg(genome, kind=kind, stride=50, gc_match=False) if kind == "feature" else _cfg(genome, kind=kind)
    shown = build_task(cfg, progress=True)
    assert "make-task: windows" in capsys.readouterr().err  # drawn on stderr
    windows, shuffles = bars["make-task: windows"], bars["make-task: split assignment"]
    assert windows.n == windows.total == 2 * sum(len(s) for s in genome[2].values())
    assert shuffles.n == shuffles.total == 200
    assert shown.splits["test"][2] == build_task(cfg).splits["test"][2]
