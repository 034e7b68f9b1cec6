"""Variant scoring end to end: output formats, the CLI verbs, the coding dev set and evaluation."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from genolm.cli.main import main
from genolm.errors import ConfigError, InputError
from genolm.io import Genome, Variant, read_vcf, write_vcf
from genolm.models import build_model
from genolm.tokenizers import get_tokenizer
from genolm.variants import (
    evaluate_scores,
    labels_from_column,
    make_coding_vep_set,
    odds_ratio_top,
    score_variants,
    write_scores,
)

SEQ = (
    "TGGTGTTAACCTTACTATACTCCCGCTCCGGGGTTTGGCTCATATGAACAAGTCTTTGCGCCCATAAATGTAGCCAGTGAGCTTAGTTGGAG"
    "CAAGGGGTGCGGAAGCGCAACTCCGTCG"
)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A tiny GPN saved like a pretrained model (the bundled one may still be training)."""
    d = tmp_path_factory.mktemp("tiny")
    tok = get_tokenizer("char")
    torch.manual_seed(0)
    model = build_model("gpn", tokenizer=tok, hidden_size=16, num_hidden_layers=2, kernel_size=5)
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.fixture
def inputs(tmp_path):
    fa = tmp_path / "ref.fa"
    fa.write_text(">chr1\n" + SEQ[:60] + "\n" + SEQ[60:] + "\n>chr2\nACGTACGTAC\n")
    vcf = tmp_path / "in.vcf"
    lines = [
        "##fileformat=VCFv4.2",
        '##INFO=<ID=LABEL,Number=1,Type=Integer,Description="label">',
        '##INFO=<ID=AF,Number=A,Type=Float,Description="allele frequency">',
        "##contig=<ID=chr1>",
        "##contig=<ID=chr2>",
        "##contig=<ID=chr9>",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
        f"chr1\t1\tfirst\t{SEQ[0]}\tA,C,G\t.\t.\tLABEL=1;AF=0.1,0.2,0.3",
        f"chr1\t41\tmid\t{SEQ[40]}\tA\t50\tPASS\tLABEL=0",
        "chr1\t42\tbad\tT\tG\t.\t.\tLABEL=1",
        "chr9\t5\tnocontig\tA\tC\t.\t.\tLABEL=0",
        f"chr1\t31\tdel\t{SEQ[30:33]}\t{SEQ[30]}\t.\t.\tLABEL=1",
        f"chr1\t120\tlast\t{SEQ[119]}\tA\t.\t.\tLABEL=0",
        f"chr1\t50\tnoalt\t{SEQ[49]}\t.\t.\t.\tLABEL=0",
    ]
    vcf.write_text("\n".join(lines) + "\n")
    return fa, vcf


def test_vcf_round_trip_keeps_every_record(tiny_model_dir, inputs, tmp_path):
    fa, vcf = inputs
    out = tmp_path / "scores.vcf.gz"
    rc = main(
        ["score-variants", "--genome", str(fa), "--vcf", str(vcf), "--out", str(out)]
        + ["--model", str(tiny_model_dir), "--window", "32", "--no-progress"]
    )
    assert rc == 0
    before, after = list(read_vcf(vcf)), list(read_vcf(out))
    assert len(before) == len(after) == 7
    for a, b in zip(before, after):
        assert (a.contig, a.pos, a.id, a.ref, a.alts, a.qual, a.filter) == (
            b.contig,
            b.pos,
            b.id,
            b.ref,
            b.alts,
            b.qual,
            b.filter,
        )
        assert {k: v for k, v in b.info.items() if not k.startswith("GENOLM_")} == dict(a.info)
        assert len(b.info["GENOLM_STATUS"]) == max(1, len(a.alts))
    status = [b.info["GENOLM_STATUS"] for b in after]
    assert status == [
        ("ok",) * 3,
        ("ok",),
        ("ref_mismatch",),
        ("contig_missing",),
        ("ok",),
        ("ok",),
        ("no_alt",),
    ]
    assert "GENOLM_SCORE" not in after[2].info and "GENOLM_REASON" in after[2].info
    assert after[4].info["GENOLM_METHOD"] == ("pll",)
    assert all(math.isfinite(x) for x in after[0].info["GENOLM_SCORE"])


@pytest.mark.parametrize("ext", ["parquet", "tsv", "csv"])
def test_table_outputs(tiny_model_dir, inputs, tmp_path, ext):
    fa, vcf = inputs
    out = tmp_path / f"scores.{ext}"
    assert main(["score-variants", "--genome", str(fa), "--vcf", str(vcf), "--out", str(out)]
                + ["--model", str(tiny_model_dir), "--window", "32", "--no-progress"]) == 0  # fmt: skip
    df = pd.read_parquet(out) if ext == "parquet" else pd.read_csv(out, sep="\t" if ext == "tsv" else ",")
    assert len(df) == 9  # one row per ALT, one for the record without ALT
    assert list(df["pos"][:4]) == [1, 1, 1, 41]  # the VCF's 1-based POS
    assert list(df["status"]) == ["ok"] * 4 + ["ref_mismatch", "contig_missing", "ok", "ok", "no_alt"]
    assert df["score"][df["status"] == "ok"].notna().all() and df["score"][4:6].isna().all()
    assert list(df["AF"][:3]) == pytest.approx([0.1, 0.2, 0.3])  # Number=A INFO split per ALT


def test_score_variants_reads_vcf_paths_and_python_api_matches_cli(tiny_model_dir, inputs, tmp_path):
    import genolm

    fa, vcf = inputs
    lm = genolm.load(str(tiny_model_dir))
    assert lm.objective == "mlm"
    r = score_variants(lm.model, lm.tokenizer, str(fa), str(vcf), window=32)
    out = tmp_path / "s.tsv"
    main(["score-variants", "--genome", str(fa), "--vcf", str(vcf), "--out", str(out)]
         + ["--model", str(tiny_model_dir), "--window", "32", "--no-progress"])  # fmt: skip
    np.testing.assert_allclose(pd.read_csv(out, sep="\t")["score"], r.score, atol=1e-6)
    with pytest.raises(ValueError, match="needs the input records"):
        write_scores(tmp_path / "x.vcf", r)
    # guards against an output written in a format nobody asked for
    with pytest.raises(ConfigError, match="cannot tell the output format"):
        write_scores(tmp_path / "x.xlsx", r)


def test_cli_precision_bf16_matches_the_python_api(tiny_model_dir, inputs, tmp_path, capsys):
    import genolm

    fa, vcf = inputs
    lm = genolm.load(str(tiny_model_dir))
    r = score_variants(lm.model, lm.tokenizer, str(fa), str(vcf), window=32, precision="bf16")
    out = tmp_path / "s.tsv"
    capsys.readouterr()
    assert main(["score-variants", "--genome", str(fa), "--vcf", str(vcf), "--out", str(out)]
                + ["--model", str(tiny_model_dir), "--window", "32", "--no-progress", "--precision", "bf16"]) == 0  # fmt: skip
    assert '"precision": "bf16"' in capsys.readouterr().out
    np.testing.assert_allclose(pd.read_csv(out, sep="\t")["score"], r.score, atol=1e-6)
    fp32 = score_variants(lm.model, lm.tokenizer, str(fa), str(vcf), window=32).score
    assert np.nanmax(np.abs(fp32 - r.score)) > 1e-4  # so the comparison above can tell them apart
    with pytest.raises(SystemExit):  # argparse refuses an unknown precision
        main(["score-variants", "--genome", str(fa), "--vcf", str(vcf), "--out", str(out)]
             + ["--precision", "fp16"])  # fmt: skip


def test_cli_default_model(inputs, tmp_path):
    from genolm.data import model_path

    if not (model_path() / "config.json").is_file():
        pytest.skip("the bundled genolm-tiny is not installed yet")
    fa, vcf = inputs
    out = tmp_path / "s.parquet"
    assert (
        main(["score-variants", "--genome", str(fa), "--vcf", str(vcf), "--out", str(out), "--no-progress"])
        == 0
    )
    assert len(pd.read_parquet(out)) == 9


def test_coding_dev_set_labels_are_right():
    from genolm.data import genome_path
    from genolm.io import genes, read_genbank
    from genolm.variants.devset import CODON_TABLE

    vs = make_coding_vep_set("bundled:chloroplast", per_class=20, seed=1)
    assert vs.summary["variants"] == {"stop_gained": 20, "synonymous": 20}
    assert vs.summary["candidates"]["synonymous"] > vs.summary["candidates"]["stop_gained"] > 1000
    (rec,) = read_genbank(genome_path("chloroplast"))
    by_name = {(g.name or g.id): g for g in genes(rec.features)}
    g = Genome.from_sequences({rec.name: rec.seq})
    for v in vs.variants[::4]:
        gene = by_name[v.info["GENE"]]
        t = max((t for t in gene.transcripts if t.cds), key=lambda t: sum(len(c) for c in t.cds))
        mutated = {rec.name: rec.seq[: v.pos] + v.alts[0] + rec.seq[v.pos + 1 :]}
        protein = lambda s: "".join(CODON_TABLE[s[i : i + 3]] for i in range(0, len(s) - 2, 3))  # noqa: E731
        before, after = protein(t.cds_seq(g)), protein(t.cds_seq(mutated))
        assert g.fetch(v.contig, v.pos, v.pos + 1) == v.ref
        if v.info["LABEL"] == 1:
            assert "*" in after[:-1] and "*" not in before[:-1]
        else:
            assert after == before


def test_make_vep_set_cli_and_eval_cli(tiny_model_dir, tmp_path):
    dev = tmp_path / "dev.vcf"
    assert (
        main(["make-vep-set", "--annotation", "bundled:chloroplast", "--per-class", "15", "--out", str(dev)])
        == 0
    )
    recs = list(read_vcf(dev))
    assert len(recs) == 30 and {r.info["LABEL"] for r in recs} == {0, 1}
    scores = tmp_path / "dev_scores.parquet"
    assert main(["score-variants", "--genome", "bundled:chloroplast", "--vcf", str(dev), "--out", str(scores)]
                + ["--model", str(tiny_model_dir), "--window", "32", "--no-progress"]) == 0  # fmt: skip
    folder = tmp_path / "ev"  # --out is a folder (docs/cli.md)
    assert (
        main(["eval-variants", str(scores), "--label-col", "LABEL", "--n-boot", "50", "--out", str(folder)])
        == 0
    )
    summary = json.loads((folder / "eval.json").read_text())
    assert summary["n"] == 30 and summary["n_pos"] == 15 and summary["direction"] == "lower"
    m = summary["metrics"]["auroc"]
    assert 0 <= m["low"] <= m["estimate"] <= m["high"] <= 1
    for name in ("eval_roc.png", "eval_pr.png", "eval_dist.png", "eval.md"):
        assert (folder / name).stat().st_size > 0


def test_evaluate_scores_known_values():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    s = np.array([-3.0, -2.0, -1.5, -1.0, 0.0, 0.5, 1.0, 2.0])  # positives have the lowest scores
    res = evaluate_scores(s, labels=y, top_k=(25.0, 50.0), n_boot=200, min_top=1)
    assert res.metrics["auroc"].estimate == pytest.approx(1.0)
    assert res.metrics["auprc"].estimate == pytest.approx(1.0)
    flipped = evaluate_scores(s, labels=y, higher_is_positive=True, n_boot=0)
    assert flipped.metrics["auroc"].estimate == pytest.approx(0.0)
    # top 50% = 4 lowest scores: 3 positive, 1 negative; rest 0 positive, 4 negative -> Haldane 0.5
    assert res.metrics["odds_ratio_top50%"].estimate == pytest.approx((3.5 / 1.5) / (0.5 / 4.5))
    assert odds_ratio_top(y.astype(bool), -s, 25.0) == pytest.approx((2.5 / 0.5) / (1.5 / 5.5))
    assert res.metrics["spearman"].estimate > 0.8
    truth = evaluate_scores(s, truth=2 * s + 1, higher_is_positive=True, n_boot=50)
    assert truth.metrics["spearman"].estimate == pytest.approx(1.0)
    assert labels_from_column(["Pathogenic_1", "Common_2"], "Pathogenic").tolist() == [True, False]
    assert labels_from_column(["stop_gained", "synonymous"]).tolist() == [True, False]
    with pytest.raises(ConfigError, match="positive"):
        labels_from_column(["x", "y"])  # guards against guessing the positive class wrongly


def test_small_top_k_sets_hidden_not_reported():
    """0.1 % and 1 % of 300 variants are 1 and 3 variants: no odds ratio is reported for them
    (guards against identical, meaningless odds ratios printed for one-variant top sets)."""
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.3
    s = rng.normal(size=300) - y
    res = evaluate_scores(s, labels=y, n_boot=20)
    assert res.hidden == {"odds_ratio_top0.1%": 1, "odds_ratio_top1%": 3}
    assert "odds_ratio_top1%" not in res.metrics and "odds_ratio_top5%" in res.metrics  # 15 variants
    assert res.to_dict()["hidden_top_k"]["odds_ratio_top0.1%"] == {"n_top": 1}


@pytest.mark.parametrize("kind", ["labels", "truth"])
def test_bootstrap_progress_bar_counts_every_resample(kind, monkeypatch, capsys):
    # guards against a bar that stops short of (or runs past) its total
    import genolm.variants.evaluate as ev

    bars, make = [], ev._progress_bar
    monkeypatch.setattr(ev, "_progress_bar", lambda total, on: bars.append(make(total, on)) or bars[-1])
    monkeypatch.setattr(ev, "PROGRESS_DELAY_S", 0.0)
    monkeypatch.setenv("GENOLM_PROGRESS_EVERY_S", "0")  # a log (not a terminal) gets plain lines
    rng = np.random.default_rng(0)
    s = rng.normal(size=300)
    truth = {"labels": rng.random(300) < 0.3} if kind == "labels" else {"truth": s + rng.normal(size=300)}
    quiet = evaluate_scores(s, n_boot=70, **truth)
    shown = evaluate_scores(s, n_boot=70, progress=True, **truth)
    assert bars[-1].n == bars[-1].total == (3 * 70 if kind == "labels" else 70)
    assert "bootstrap" in capsys.readouterr().err and shown.metrics == quiet.metrics


def test_or_bootstrap_shares_resamples_with_plain_loop():
    # the one-sort-per-resample OR bootstrap gives exactly the per-resample odds_ratio_top draws
    from genolm.variants.evaluate import _or_ci

    rng = np.random.default_rng(1)
    y = rng.random(400) < 0.4
    s = rng.normal(size=400) - y
    draws, r = [], np.random.default_rng(5)
    for _ in range(40):
        idx = r.integers(0, 400, size=400)
        draws.append(odds_ratio_top(y[idx], s[idx], 10.0))
    lo, hi = np.exp(np.quantile(np.log(draws), [0.025, 0.975]))
    m = _or_ci(y, s, 10.0, 40, 0.95, 5)
    assert (m.low, m.high) == pytest.approx((lo, hi), rel=1e-12)


def test_eval_variants_warns_on_backwards_auto_direction(tmp_path, caplog):
    """Auto direction 'lower' on scores where positives score higher: AUROC < 0.5 is flagged
    in the log, the JSON and the markdown; legends carry AUROC / AUPRC with CIs."""
    import logging
    import re

    import pandas as pd

    rng = np.random.default_rng(0)
    y = np.r_[np.ones(60, int), np.zeros(140, int)]
    df = pd.DataFrame({"score": rng.normal(size=200) + 1.5 * y, "label": y, "status": "ok", "method": "llr"})
    df.to_csv(tmp_path / "s.tsv", sep="\t", index=False)
    out = tmp_path / "ev"  # --out is a folder (docs/cli.md)
    argv = ["eval-variants", str(tmp_path / "s.tsv"), "--label-col", "label", "--n-boot", "100"]
    with caplog.at_level(logging.WARNING, logger="genolm.variants.evaluate"):
        assert main(argv + ["--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "eval.json").read_text())
    assert summary["metrics"]["auroc"]["estimate"] < 0.5
    assert len(summary["warnings"]) == 1 and "--direction higher" in summary["warnings"][0]
    assert "AUROC" in caplog.text and "opposite way" in caplog.text
    md = (out / "eval.md").read_text()
    assert "**Warning:**" in md and "not shown: top set of 2 variants" in md  # 1% of 200
    svg = (out / "eval_roc.svg").read_text()
    auroc = summary["metrics"]["auroc"]
    assert re.search(rf"AUROC {auroc['estimate']:.3f} \[{auroc['low']:.3f}, {auroc['high']:.3f}\]", svg)
    # an explicit direction is the user's choice: no warning
    assert main(argv + ["--out", str(out), "--direction", "higher", "--no-plots"]) == 0
    assert json.loads((out / "eval.json").read_text())["warnings"] == []


def test_region_named_record_scores_at_genome_coordinates(tiny_model_dir, tmp_path):
    """A FASTA record '>chr5:1001-1120' holds chr5 bases 1001..1120: VCF positions map onto it
    with no shift (guards against an off-by-one: REF would mismatch on this non-repetitive
    sequence) and score exactly as the same bases in a plain record, shifted by 1000."""
    assert "chr17:42425000-43600000" in " ".join(_help_text("score-variants"))
    (tmp_path / "region.fa").write_text(f">chr5:1001-{1000 + len(SEQ)}\n{SEQ}\n")
    (tmp_path / "plain.fa").write_text(f">seg\n{SEQ}\n")
    offs = [0, 1, 57, len(SEQ) - 1]
    alt = {"A": "C", "C": "G", "G": "T", "T": "A"}
    region_vs = [Variant("5", 1000 + o, None, SEQ[o], (alt[SEQ[o]],)) for o in offs]  # '5' aliases chr5
    region_vs += [
        Variant("chr5", 999, None, "A", ("C",)),
        Variant("chr5", 1000 + len(SEQ), None, "A", ("C",)),
    ]
    plain_vs = [Variant("seg", o, None, SEQ[o], (alt[SEQ[o]],)) for o in offs]
    write_vcf(tmp_path / "region.vcf", region_vs)
    write_vcf(tmp_path / "plain.vcf", plain_vs)
    for name in ("region", "plain"):
        argv = [
            "score-variants",
            "--genome",
            str(tmp_path / f"{name}.fa"),
            "--vcf",
            str(tmp_path / f"{name}.vcf"),
        ]
        argv += ["--out", str(tmp_path / f"{name}.tsv"), "--model", str(tiny_model_dir), "--window", "32"]
        assert main(argv + ["--no-progress"]) == 0
    reg = pd.read_csv(tmp_path / "region.tsv", sep="\t")
    plain = pd.read_csv(tmp_path / "plain.tsv", sep="\t")
    assert reg["status"].tolist() == ["ok"] * 4 + ["out_of_bounds"] * 2
    assert reg["pos"].tolist()[:4] == [1001 + o for o in offs]  # 1-based genome positions
    np.testing.assert_allclose(reg["score"].to_numpy()[:4], plain["score"].to_numpy(), atol=1e-6)


def _help_text(verb: str) -> list[str]:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
        main([verb, "--help"])
    return buf.getvalue().split()


def test_gpn_example_only_region_variants_scored(shared_data, tiny_model_dir):
    import genolm

    lm = genolm.load(str(tiny_model_dir))
    vcf = shared_data / "vep" / "gpn_example_hg38.vcf"
    genome = Genome(shared_data / "vep" / "GRCh38_chr17_42425000-43600000.fa")
    recs = list(read_vcf(vcf))
    region = [r for r in recs if r.contig == "17" and 42425000 <= r.pos < 43600000]
    others = [r for r in recs if r.contig != "17"][:30]
    r = score_variants(lm.model, lm.tokenizer, genome, region + others, window=32)
    assert r.status[: len(region)] == ["ok"] * 9
    assert set(r.status[len(region) :]) == {"contig_missing"}


def test_errors_name_the_problem(tmp_path):
    # guards against a silent fallback to the wrong file or model
    with pytest.raises(InputError, match="no such model folder"):
        import genolm

        genolm.load(str(tmp_path / "nope"))
    vcf = tmp_path / "a.vcf"
    write_vcf(vcf, [Variant("c", 1, None, "A", ("C",))])
    assert main(["eval-variants", str(vcf), "--label-col", "nothing"]) == 2
