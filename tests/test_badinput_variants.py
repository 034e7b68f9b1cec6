"""Bad input to make-vep-set, score-variants, eval-variants and the VCF reader: clear errors, exit 2."""

from __future__ import annotations

import pytest

from genolm.cli.main import main
from genolm.errors import ConfigError, InputError
from genolm.io.vcf import read_vcf
from genolm.variants import evaluate_scores, labels_from_column, make_coding_vep_set

HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def _exit(argv, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code, capsys.readouterr().err


def _main(argv, capsys) -> tuple[int, str]:
    """Exit code and stderr of a command that may fail in argparse (SystemExit) or in ``run``."""
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    return rc, capsys.readouterr().err


# --- make-vep-set: nothing usable is an error ---------------------------------------------------


def _genome(tmp_path):
    fa = tmp_path / "g.fa"
    fa.write_text(">chr1\n" + "ATGAAACCCGGGTTTAAACCCGGGTAA" + "A" * 30 + "\n")
    return fa


def test_make_vep_set_contig_missing_names_the_contigs(tmp_path, capsys):
    fa = _genome(tmp_path)
    gff = tmp_path / "a.gff3"
    gff.write_text(
        "##gff-version 3\n"
        "chrX\tt\tgene\t1\t27\t.\t+\t.\tID=g0\n"
        "chrX\tt\tmRNA\t1\t27\t.\t+\t.\tID=m0;Parent=g0\n"
        "chrX\tt\tCDS\t1\t27\t.\t+\t0\tID=c0;Parent=m0\n"
    )
    with pytest.raises(InputError, match=r"contig_missing: 1.*annotation seqids: chrX; genome contigs: chr1"):
        make_coding_vep_set(gff, fa, per_class=None)
    out = tmp_path / "v.vcf"
    rc, err = _main(["make-vep-set", "--annotation", str(gff), "--genome", str(fa), "--per-class", "0",
                     "--out", str(out)], capsys)  # fmt: skip
    assert rc == 2 and "no transcript can be used" in err and "rename" in err
    assert not out.exists()


def test_make_vep_set_genbank_without_cds(tmp_path, capsys):
    gb = tmp_path / "x.gb"
    gb.write_text(
        "LOCUS       X                         60 bp    DNA     linear   UNK 01-JAN-2000\n"
        "FEATURES             Location/Qualifiers\n"
        "     source          1..60\n"
        "ORIGIN\n"
        "        1 atgaaacccg ggtttaaacc cgggtaaaaa aaaaaaaaaa aaaaaaaaaa aaaaaaaaaa\n"
        "//\n"
    )
    out = tmp_path / "v.vcf"
    rc, err = _main(["make-vep-set", "--annotation", str(gb), "--out", str(out)], capsys)
    assert rc == 2 and "no gene in the annotation has a CDS" in err and "x.gb" in err
    assert not out.exists()


def test_make_vep_set_per_class_negative(tmp_path, capsys):
    code, err = _exit(["make-vep-set", "--annotation", "bundled:chloroplast", "--per-class", "-1",
                       "--out", str(tmp_path / "v.vcf")], capsys)  # fmt: skip
    assert code == 2 and "--per-class" in err and ">= 0" in err


# --- score-variants: option ranges -------------------------------------------------------------


@pytest.mark.parametrize("opt", [["--flank", "-2"], ["--window", "0"], ["--batch-size", "0"]])
def test_score_variants_option_ranges(tmp_path, capsys, opt):
    code, err = _exit(["score-variants", "--genome", "g.fa", "--vcf", "v.vcf", "--out", str(tmp_path / "o.tsv"),
                       *opt], capsys)  # fmt: skip
    assert code == 2 and opt[0] in err


def test_score_variants_config_refuses_negative_flank(tmp_path):
    from genolm.variants.pipeline import ScoreVariantsConfig

    with pytest.raises(ConfigError, match="flank"):
        ScoreVariantsConfig(genome="g.fa", vcf="v.vcf", out=str(tmp_path / "o.tsv"), flank=-2)


# --- eval-variants ------------------------------------------------------------------------------


def _scores(tmp_path, score_of=lambda i: f"{(i % 7) - 3.0}", truth_of=lambda i: str(i % 2)):
    p = tmp_path / "s.tsv"
    rows = [f"v{i}\t{score_of(i)}\tok\t{truth_of(i)}" for i in range(20)]
    p.write_text("id\tscore\tstatus\tlabel\n" + "\n".join(rows) + "\n")
    return p


def test_eval_variants_non_numeric_score_names_line_and_column(tmp_path, capsys):
    p = _scores(tmp_path, score_of=lambda i: "abc" if i == 2 else f"{i * 0.1}")
    rc, err = _main(["eval-variants", str(p), "--label-col", "label", "--no-plots", "--n-boot", "5",
                     "--out", str(tmp_path / "e")], capsys)  # fmt: skip
    assert rc == 2
    assert "s.tsv, line 4, record 'v2'" in err and "score column 'score'" in err and "'abc'" in err


def test_eval_variants_non_numeric_truth_names_line_and_column(tmp_path, capsys):
    p = _scores(tmp_path, truth_of=lambda i: "high" if i == 5 else f"{i * 0.3}")
    rc, err = _main(["eval-variants", str(p), "--truth-col", "label", "--no-plots", "--n-boot", "5",
                     "--out", str(tmp_path / "e")], capsys)  # fmt: skip
    assert rc == 2 and "line 7" in err and "truth column 'label'" in err and "'high'" in err


def test_eval_variants_missing_markers_are_still_missing(tmp_path, capsys):
    marks = {1: ".", 2: "NA", 3: "nan", 4: ""}
    p = _scores(tmp_path, score_of=lambda i: marks.get(i, f"{i * 0.1}"))
    rc, _ = _main(["eval-variants", str(p), "--label-col", "label", "--no-plots", "--n-boot", "5",
                   "--out", str(tmp_path / "e")], capsys)  # fmt: skip
    assert rc == 0
    import json

    assert json.loads((tmp_path / "e" / "eval.json").read_text())["excluded"] == {"no_score": 4}


@pytest.mark.parametrize("pct", ["-5", "150", "100"])
def test_eval_variants_top_k_range(tmp_path, capsys, pct):
    p = _scores(tmp_path)
    rc, err = _main(["eval-variants", str(p), "--label-col", "label", "--top-k", pct, "--no-plots",
                     "--n-boot", "5", "--out", str(tmp_path / "e")], capsys)  # fmt: skip
    assert rc == 2 and ("top-k" in err or "top_k" in err)
    assert not (tmp_path / "e" / "eval.json").exists()


def test_evaluate_scores_top_k_covering_every_row():
    with pytest.raises(ConfigError, match="no rest"):
        evaluate_scores(list(range(20)), labels=[i % 2 for i in range(20)], top_k=(99,), n_boot=0)


def test_eval_variants_bad_positive_regex(tmp_path, capsys):
    p = _scores(tmp_path)
    rc, err = _main(["eval-variants", str(p), "--label-col", "label", "--positive", "(", "--no-plots",
                     "--n-boot", "5", "--out", str(tmp_path / "e")], capsys)  # fmt: skip
    assert rc == 2 and "--positive '('" in err and "not a valid regular expression" in err
    with pytest.raises(ConfigError, match="regular expression"):
        labels_from_column(["a", "b"], "[")


# --- the VCF reader: what is wrong with a record -------------------------------------------------


def _vcf(tmp_path, body: str, header: str = HEADER):
    p = tmp_path / "v.vcf"
    p.write_text(header + body)
    return p


def test_vcf_too_few_columns(tmp_path):
    p = _vcf(tmp_path, "chr1\t5\tv1\tT\tA\t.\t.\t.\nchr1\t6\tv2\tT\tA\n")
    with pytest.raises(InputError, match=r"line 4.*found 5 tab-separated columns.*needs at least 8") as e:
        list(read_vcf(p))
    assert "truncated" not in str(e.value)


def test_vcf_pos_not_integer(tmp_path):
    p = _vcf(tmp_path, "chr1\tabc\tv1\tT\tA\t.\t.\t.\n")
    with pytest.raises(InputError, match=r"line 3.*POS must be an integer, got 'abc'") as e:
        list(read_vcf(p))
    assert "truncated" not in str(e.value)


def test_vcf_blank_lines_at_the_end_are_ignored(tmp_path):
    p = _vcf(tmp_path, "chr1\t5\tv1\tT\tA\t.\t.\t.\n\n\n")
    assert [v.id for v in read_vcf(p)] == ["v1"]
    p = _vcf(tmp_path, "chr1\t5\tv1\tT\tA\t.\t.\t.\n\nchr1\t6\tv2\tT\tA\t.\t.\t.\n")
    with pytest.raises(InputError, match=r"line 4.*blank line"):
        list(read_vcf(p))


@pytest.mark.parametrize(
    "info, value",
    [("DP=abc", "'abc'"), ("DP=3x", "'3x'"), ("DP=1.5", "'1.5'"), ("AF=0.1,x", "'0.1,x'")],
)
def test_vcf_numeric_info_that_is_not_a_number(tmp_path, info, value):
    header = (
        '##fileformat=VCFv4.2\n##INFO=<ID=DP,Number=1,Type=Integer,Description="d">\n'
        '##INFO=<ID=AF,Number=A,Type=Float,Description="f">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    )
    p = _vcf(tmp_path, f"chr1\t5\tv1\tT\tA,C\t.\t.\tDP=2\nchr1\t6\tv2\tT\tA,C\t.\t.\t{info}\n", header)
    key = info.split("=")[0]
    with pytest.raises(InputError, match=rf"line 6, record 'v2'.*INFO {key} is declared Type=.*{value}"):
        list(read_vcf(p))


def test_vcf_numeric_info_good_values_and_missing(tmp_path):
    header = (
        '##fileformat=VCFv4.2\n##INFO=<ID=DP,Number=1,Type=Integer,Description="d">\n'
        '##INFO=<ID=AF,Number=A,Type=Float,Description="f">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    )
    p = _vcf(
        tmp_path,
        "chr1\t5\tv1\tT\tA,C\t30\t.\tDP=.;AF=1e-3,.\nchr1\t6\tv2\tT\tA\t.\t.\tDP=-4;AF=nan\n",
        header,
    )
    vs = list(read_vcf(p))
    assert vs[0].info["DP"] is None and vs[1].info["DP"] == -4 and vs[0].qual == 30


def test_vcf_qual_not_a_number(tmp_path):
    p = _vcf(tmp_path, "chr1\t5\tv1\tT\tA\tabc\t.\t.\n")
    with pytest.raises(InputError, match=r"line 3, record 'v1'.*QUAL must be a number"):
        list(read_vcf(p))


def test_eval_variants_scored_vcf_with_a_non_numeric_score(tmp_path, capsys):
    p = tmp_path / "s.vcf"
    p.write_text(
        HEADER
        + "chr1\t5\tv1\tT\tA\t.\t.\tGENOLM_SCORE=1.5;GENOLM_STATUS=ok;LABEL=1\n"
        + "chr1\t6\tv2\tT\tA\t.\t.\tGENOLM_SCORE=abc;GENOLM_STATUS=ok;LABEL=0\n"
    )
    rc, err = _main(["eval-variants", str(p), "--label-col", "LABEL", "--no-plots", "--n-boot", "5",
                     "--out", str(tmp_path / "e")], capsys)  # fmt: skip
    assert rc == 2 and "line 4, record 'v2'" in err and "GENOLM_SCORE holds 'abc'" in err


def test_eval_variants_empty_vcf(tmp_path, capsys):
    p = tmp_path / "s.vcf"
    p.write_text(HEADER)
    rc, err = _main(["eval-variants", str(p), "--label-col", "LABEL", "--no-plots", "--out", str(tmp_path / "e")],
                    capsys)  # fmt: skip
    assert rc == 2 and "holds no records" in err


@pytest.mark.parametrize("name, says", [("e.tsv", "empty file"), ("t.tsv.gz", "cannot read the table")])
def test_eval_variants_unreadable_table_names_the_file(tmp_path, name, says):
    import gzip

    from genolm.variants.evaluate import load_score_table

    p = tmp_path / name
    p.write_bytes(b"" if name == "e.tsv" else gzip.compress(b"id\tscore\nv1\t0.5\n")[:12])
    with pytest.raises(InputError, match=f"{name}: {says}"):
        load_score_table(p)
