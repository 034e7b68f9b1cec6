"""Bad input across every verb: a sentence and exit code 2, never a traceback or exit 3, and never
a silent wrong result (an exit-0 run that skipped records says so).

Run in-process through ``genolm.cli.main.main``; every case takes well under a second.
"""

from __future__ import annotations

import gzip
import logging
import os

import pytest

from genolm.cli.main import main

SEQ = "TGGTGTTAACCTTACTATACTCCCGCTCCGGGGTTTGGCTCATATGAACAAGTCTTTGCGCCCATAAATGTAGCCAGTG" * 5
VCF_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    """A folder of generated bad (and a few good) inputs."""
    d = tmp_path_factory.mktemp("fuzz")
    fa = f">s1\n{SEQ}\n>s2\n{SEQ[::-1]}\n"
    (d / "ok.fa").write_text(fa)
    gz = gzip.compress(fa.encode())
    (d / "trunc.fa.gz").write_bytes(gz[: len(gz) // 2])
    (d / "tiny_trunc.fa.gz").write_bytes(gz[:30])  # shorter than the 4 KiB GenBank sniff
    (d / "garbage.fa").write_bytes(os.urandom(3000))
    (d / "empty.fa").write_text("")
    (d / "star.fa").write_text(f">s1\n{SEQ[:50]}*{SEQ[51:]}\n")
    (d / "rna.fa").write_text(f">r1\n{SEQ.replace('T', 'U')}\n")
    (d / "adir").mkdir()
    (d / "afile").write_text("x")
    (d / "bad.yaml").write_text("lr: [1, 2\n")
    (d / "neglr.yaml").write_text(f"corpus: [{d / 'ok.fa'}]\nlr: -1\nmax_steps: 2\n")
    (d / "nanlr.yaml").write_text(f"corpus: [{d / 'ok.fa'}]\nlr: .nan\n")
    rows = "".join(f"{SEQ[i : i + 20]},{i % 2}\n" for i in range(0, 40))
    (d / "train.csv").write_text("sequence,label\n" + rows)
    (d / "test.csv").write_text(
        "sequence,label\n" + "".join(f"{SEQ[i + 100 : i + 120]},{i % 2}\n" for i in range(40))
    )
    (d / "nan.csv").write_text("sequence,label\n" + rows + "ACGTACGTAC,NaN\n")
    (d / "empty.csv").write_text("")
    (d / "header_only.csv").write_text("sequence,label\n")
    (d / "corrupt.parquet").write_bytes(b"PAR1" + os.urandom(200))
    (d / "corrupt.csv").write_bytes(b'sequence,label\nACGT,1,3,4\n"unterminated\n')
    (d / "latin.csv").write_bytes("sequence,label\nACGT,\xe9\n".encode("latin-1"))
    (d / "binary.csv").write_bytes(os.urandom(3000))
    vcf = VCF_HEADER + "s1\t10\t.\tT\tA\t.\t.\t.\ns1\t20\t.\tC\tG\t.\t.\t.\n"
    (d / "v.vcf").write_text(vcf)
    (d / "v.vcf.gz").write_bytes(gzip.compress(vcf.encode()))  # plain gzip, not bgzip
    (d / "trunc.vcf.gz").write_bytes(gzip.compress(vcf.encode())[:25])
    (d / "empty.vcf").write_text(VCF_HEADER)
    (d / "star_site.vcf").write_text(VCF_HEADER + "s1\t45\t.\tT\tA\t.\t.\t.\n")
    (d / "off.gff").write_text(
        "##gff-version 3\n"
        "s1\t.\tgene\t10\t100\t.\t+\t.\tID=g1\ns1\t.\tmRNA\t10\t100\t.\t+\t.\tID=t1;Parent=g1\n"
        "s1\t.\tCDS\t10\t100\t.\t+\t0\tID=c1;Parent=t1\n"
        "s1\t.\tgene\t300\t900\t.\t+\t.\tID=past_end\ns1\t.\tmRNA\t300\t900\t.\t+\t.\tID=t2;Parent=past_end\n"
        "s1\t.\tCDS\t300\t900\t.\t+\t0\tID=c2;Parent=t2\n"
    )
    (d / "task_nan.yaml").write_text(
        "name: fuzz/nan\ntask_type: binary\nlabels: [neg, pos]\ndata: {root: ., splits: {train: nan.csv, test: test.csv}}\n"
    )
    (d / "task_bad.yaml").write_text("name: [\n")
    return d


def _run(argv, capsys, caplog):
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:  # argparse usage errors exit 2 with a usage line
            rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err, caplog.text


def _check(rc, out, err, log):
    text = out + err + log
    assert rc in (0, 1, 2), f"exit {rc}: {err[-2000:]}"
    assert "Traceback" not in text, text[-3000:]
    if rc == 2:  # a message on stderr, in one short paragraph
        assert err.strip() and len(err.strip().splitlines()) <= 12, err


# (verb arguments, expected exit code or None for "0, 1 or 2"); {d} is the folder of bad inputs
CASES = [
    # tokenize: truncated / garbage / empty / folder / bad characters / unwritable --json
    ("tokenize {d}/tiny_trunc.fa.gz --scheme char", 2),
    ("tokenize {d}/trunc.fa.gz --scheme char", 2),
    ("tokenize {d}/garbage.fa --scheme char", 2),
    ("tokenize {d}/empty.fa --scheme char", 2),
    ("tokenize {d}/adir --scheme char", 2),
    ("tokenize {d}/star.fa --scheme char", 2),
    ("tokenize {d}/ok.fa --scheme char --out {d}/adir", 2),
    ("tokenize {d}/ok.fa --scheme char --out {d}/afile/x.json", 2),
    ("tokenize {d}/ok.fa --scheme kmer0", 2),
    # pretrain: bad YAML, bad values, folder as corpus, --out a file, truncated corpus
    ("pretrain {d}/bad.yaml", 2),
    ("pretrain {d}/neglr.yaml --out {d}/runs_a", 2),
    ("pretrain {d}/nanlr.yaml --out {d}/runs_a", 2),
    ("pretrain {d}/adir", 2),
    ("pretrain --corpus {d}/adir --max-steps 1 --out {d}/runs_b", 2),
    ("pretrain --corpus {d}/ok.fa --max-steps 1 --out {d}/afile", 2),
    ("pretrain --corpus {d}/ok.fa --max-steps 1 --out {d}/afile/sub", 2),
    ("pretrain --corpus {d}/tiny_trunc.fa.gz --max-steps 1 --out {d}/runs_c", 2),
    ("pretrain --corpus {d}/garbage.fa --max-steps 1 --out {d}/runs_c", 2),
    ("pretrain --corpus {d}/ok.fa --batch-size abc --out {d}/runs_d", 2),
    ("pretrain --corpus {d}/ok.fa --window -4 --out {d}/runs_d", 2),
    # audit / resplit: NaN labels, empty / corrupt / binary / non-UTF-8 tables, folders, outputs
    ("audit --train {d}/nan.csv --test {d}/test.csv", 2),
    ("audit --train {d}/empty.csv --test {d}/test.csv", 2),
    ("audit --train {d}/header_only.csv --test {d}/test.csv", 2),
    ("audit --train {d}/corrupt.csv --test {d}/test.csv", 2),
    ("audit --train {d}/corrupt.parquet --test {d}/test.csv", 2),
    ("audit --train {d}/latin.csv --test {d}/test.csv", 2),
    ("audit --train {d}/binary.csv --test {d}/test.csv", 2),
    ("audit --train {d}/adir --test {d}/test.csv", 2),
    ("audit --train {d}/train.csv --test {d}/test.csv --out {d}/adir", 2),
    ("audit --train {d}/train.csv --test {d}/test.csv --threshold x", 2),
    ("resplit --train {d}/nan.csv --test {d}/test.csv --out {d}/rs", 2),
    ("resplit --train {d}/train.csv --test {d}/test.csv --out {d}/afile", 2),
    ("resplit --train {d}/train.csv --test {d}/test.csv --out {d}/afile/sub", 2),
    # eval-variants: empty / corrupt tables, folders, wrong formats
    ("eval-variants {d}/empty.csv --label-col label --no-plots", 2),
    ("eval-variants {d}/header_only.csv --label-col label --no-plots", 2),
    ("eval-variants {d}/corrupt.parquet --label-col label --no-plots", 2),
    ("eval-variants {d}/corrupt.csv --label-col label --no-plots", 2),
    ("eval-variants {d}/binary.csv --label-col label --no-plots", 2),
    ("eval-variants {d}/adir --label-col label --no-plots", 2),
    ("eval-variants {d}/garbage.fa --label-col label --no-plots", 2),
    ("eval-variants {d}/nan.csv --label-col label --no-plots", 2),
    # score-variants: plain gzip / truncated / empty VCF, genome with '*', folders, bad values
    ("score-variants --genome {d}/ok.fa --vcf {d}/v.vcf.gz --out {d}/o.tsv --no-progress", 2),
    ("score-variants --genome {d}/ok.fa --vcf {d}/trunc.vcf.gz --out {d}/o.tsv --no-progress", 2),
    ("score-variants --genome {d}/star.fa --vcf {d}/star_site.vcf --out {d}/o.tsv --no-progress", 2),
    ("score-variants --genome {d}/ok.fa --vcf {d}/adir --out {d}/o.tsv --no-progress", 2),
    ("score-variants --genome {d}/ok.fa --vcf {d}/garbage.fa --out {d}/o.tsv --no-progress", 2),
    ("score-variants --genome {d}/tiny_trunc.fa.gz --vcf {d}/v.vcf --out {d}/o.tsv --no-progress", 2),
    ("score-variants --genome {d}/ok.fa --vcf {d}/v.vcf --out {d}/adir --no-progress", 2),
    ("score-variants --genome {d}/ok.fa --vcf {d}/v.vcf --out {d}/afile/x.tsv --no-progress", 2),
    ("score-variants --genome {d}/ok.fa --vcf {d}/v.vcf --out {d}/o.tsv --window -5 --no-progress", 2),
    # ism: bad --sequence characters, empty, '*' in an indexed genome, bad outputs
    ("ism --sequence ACGT*ACGT --out {d}/i --no-plots --no-progress", 2),
    ("ism --sequence ACG7T --out {d}/i --no-plots --no-progress", 2),
    ("ism --sequence 'ACG TACGT' --out {d}/i --no-plots --no-progress", 2),
    ("ism --sequence ACGé --out {d}/i --no-plots --no-progress", 2),
    ("ism --sequence '' --out {d}/i --no-plots --no-progress", 2),
    ("ism --genome {d}/star.fa --region s1:41-60 --out {d}/i --no-plots --no-progress", 2),
    ("ism --genome {d}/ok.fa --region s9:1-10 --out {d}/i --no-plots --no-progress", 2),
    ("ism --genome {d}/ok.fa --region s1:1-10 --out {d}/afile/i --no-plots --no-progress", 2),
    # make-task / make-vep-set: bad annotation, folders, bad YAML, outputs
    ("make-task --genome {d}/ok.fa --annotation {d}/garbage.fa --kind cds --window 50 --out {d}/mt", 2),
    ("make-task --genome {d}/ok.fa --annotation {d}/adir --kind cds --window 50 --out {d}/mt", 2),
    (
        "make-task --genome {d}/tiny_trunc.fa.gz --annotation {d}/off.gff --kind cds --window 50 --out {d}/mt",
        2,
    ),
    ("make-task --config {d}/bad.yaml", 2),
    ("make-vep-set --annotation {d}/garbage.fa --genome {d}/ok.fa --out {d}/vs.vcf", 2),
    ("make-vep-set --annotation {d}/off.gff --genome {d}/ok.fa --out {d}/adir", 2),
    # validate / report / train-tokenizer / biotokens / ls / bench
    # validate reports the problems of a task it could read as its verdict: exit 1 (docs/cli.md)
    ("validate {d}/task_bad.yaml", 1),
    ("validate {d}/task_nan.yaml --data", 1),
    ("validate {d}/adir", 2),  # a folder for a file: an input error
    ("validate {d}/garbage.fa", 2),  # unreadable: an input error
    ("report {d}/adir", 2),
    ("report {d}/afile", 2),
    ("train-tokenizer {d}/garbage.fa --vocab-size 64 --out {d}/tk", 2),
    ("train-tokenizer {d}/tiny_trunc.fa.gz --vocab-size 64 --out {d}/tk", 2),
    ("train-tokenizer {d}/ok.fa --vocab-size 64 --out {d}/afile", 2),
    ("biotokens encode ACG*T --model {d}/adir", 2),
    ("ls tokenizrs", 2),
    ("bench genolm-tiny --task {d}/task_bad.yaml --out {d}/b --quiet", 2),
    ("bench genolm-tiny --task {d}/task_nan.yaml --out {d}/b --quiet", 2),
    ("bench genolm-tiny --task {d}/task_nan.yaml --out {d}/afile --quiet", 2),
]


@pytest.mark.parametrize(
    "argv, expect", CASES, ids=[c[0].split(" {d}")[0] + f"-{i}" for i, c in enumerate(CASES)]
)
def test_fuzz_bad_input_gives_a_sentence_not_a_traceback(bad, argv, expect, capsys, caplog):
    import shlex

    rc, out, err, log = _run(shlex.split(argv.format(d=bad)), capsys, caplog)
    _check(rc, out, err, log)
    if expect is not None:
        assert rc == expect, err[-2000:]


# --- exit 0, but something was skipped or converted: it must be said -------------------------


def test_empty_vcf_warns_with_the_count(bad, capsys, caplog):
    # guards: an empty VCF scored 0 records with no word
    rc, out, err, log = _run(
        [
            "score-variants",
            "--genome",
            bad / "ok.fa",
            "--vcf",
            bad / "empty.vcf",
            "--out",
            bad / "e.tsv",
            "--no-progress",
        ],
        capsys,
        caplog,
    )
    _check(rc, out, err, log)
    assert rc == 0 and "holds 0 variant records" in log


def test_make_task_warns_about_features_past_the_contig_end(tmp_path, capsys, caplog):
    # guards: make-task dropped a GFF feature running off its contig without a word
    import json
    import random

    rng = random.Random(0)
    (tmp_path / "g.fa").write_text(">c1\n" + "".join(rng.choice("ACGT") for _ in range(12000)) + "\n")
    gff = ["##gff-version 3"]
    for i, s in enumerate(range(100, 11000, 700)):
        gff += [
            f"c1\t.\tgene\t{s}\t{s + 299}\t.\t+\t.\tID=g{i}",
            f"c1\t.\tmRNA\t{s}\t{s + 299}\t.\t+\t.\tID=t{i};Parent=g{i}",
            f"c1\t.\tCDS\t{s}\t{s + 299}\t.\t+\t0\tID=c{i};Parent=t{i}",
        ]
    gff += [
        "c1\t.\tgene\t11800\t12400\t.\t+\t.\tID=past_end",
        "c1\t.\tmRNA\t11800\t12400\t.\t+\t.\tID=tp;Parent=past_end",
        "c1\t.\tCDS\t11800\t12400\t.\t+\t0\tID=cp;Parent=tp",
    ]
    (tmp_path / "a.gff").write_text("\n".join(gff) + "\n")
    rc, out, err, log = _run(
        ["make-task", "--genome", tmp_path / "g.fa", "--annotation", tmp_path / "a.gff", "--kind", "cds",
         "--window", "50", "--block-size", "1000", "--gc-match", "false", "--out", tmp_path / "mt",
         "--audit", "false"],
        capsys,
        caplog,
    )  # fmt: skip
    _check(rc, out, err, log)
    assert rc == 0 and "3 annotated feature(s) run past the end of their contig" in log and "past_end" in log
    manifest = json.loads((tmp_path / "mt" / "manifest.json").read_text())
    assert manifest["features_past_contig_end"] == {"count": 3, "first": ["past_end", "tp", "cp"]}


def test_verbose_prints_the_traceback_of_an_unexpected_error(capsys, monkeypatch):
    # guards: an unexpected error must say "run with -v" and exit 3; -v (before or after the verb) shows it
    import genolm.cli.ls as ls

    def boom(args):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(ls, "run", boom)
    assert main(["ls", "tokenizers"]) == 3
    err = capsys.readouterr().err
    assert "kaboom" in err and "run with -v" in err and "Traceback" not in err
    for argv in (["-v", "ls", "tokenizers"], ["ls", "tokenizers", "-v"]):
        assert main(argv) == 3
        assert "Traceback" in capsys.readouterr().err
