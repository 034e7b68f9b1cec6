"""The CLI convention of docs/cli.md, verb by verb: ``--out`` (``-`` is stdout for a stream),
``-`` reads stdin (plain or gzip) through the io layer, deprecated aliases still work and warn,
exit codes 0 / 1 / 2 / 3, and ``-q`` hides info and progress but never results."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from genolm.cli.main import build_parser, main
from genolm.data import genome_path
from genolm.errors import InputError

LAMBDA = genome_path("lambda")
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2}


def _stdin(monkeypatch, data: bytes) -> None:
    """Feed ``data`` to the process's standard input (as a pipe would)."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def _cli(args, *, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "genolm.cli.main", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=300,
    )


def _random_seqs(n: int, length: int = 60, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def _table(path: Path, seqs, labels) -> str:
    path.write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in zip(seqs, labels, strict=True)))
    return str(path)


# --- '-' reads stdin, in the io layer ------------------------------------------------------------


def test_readers_take_stdin_plain_and_gzip(monkeypatch):
    from genolm.io import read_fasta, read_task_table, read_vcf

    fasta = b">a desc\nACGT\nAC\n>b\nGGGG\n"
    for data in (fasta, gzip.compress(fasta)):  # gzip is sniffed from the bytes, as for files
        _stdin(monkeypatch, data)
        assert [(r.name, r.seq) for r in read_fasta("-")] == [("a", "ACGTAC"), ("b", "GGGG")]
    vcf = b"##fileformat=VCFv4.2\n##contig=<ID=c1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nc1\t5\tv1\tA\tG\t.\t.\t.\n"
    # plain gzip on stdin works for VCF too, although htslib reads only bgzip files
    _stdin(monkeypatch, gzip.compress(vcf))
    (v,) = list(read_vcf("-"))
    assert (v.contig, v.pos, v.ref, v.alts) == ("c1", 4, "A", ("G",))  # 0-based
    _stdin(monkeypatch, b"sequence\tlabel\nACGT\t1\nGGCC\t0\n")  # a TSV: format sniffed, not named
    df = read_task_table("-")
    assert df["sequence"].tolist() == ["ACGT", "GGCC"] and df["label"].tolist() == [1, 0]


def test_stdin_is_read_once_and_reused(monkeypatch):
    # guards: a reader that opens its input twice (sniff, then read) must not find stdin empty
    from genolm.io import fasta_lengths, read_fasta

    _stdin(monkeypatch, b">a\nACGT\n")
    assert fasta_lengths("-") == {"a": 4}
    assert [r.seq for r in read_fasta("-")] == ["ACGT"]


def test_a_new_stdin_is_never_served_an_earlier_streams_spool(monkeypatch):
    # guards the flake in test_train_tokenizer_pretrain_and_resplit_read_stdin: the spool was
    # keyed by id(stdin), and a freed stdin's id is soon reused by the next one, which was then
    # served the earlier stream's data (here: the last round's bytes)
    import gc

    from genolm.io.streams import stdin_file

    monkeypatch.setattr(sys, "stdin", sys.stdin)  # restored afterwards; monkeypatch would keep
    for i in range(20):  # every replaced stdin alive, so they are swapped by hand here
        sys.stdin = io.TextIOWrapper(io.BytesIO(b">a%d\nACGT\n" % i))
        assert stdin_file().read_bytes() == b">a%d\nACGT\n" % i
        gc.collect()


def test_indexed_genome_refuses_stdin(monkeypatch):
    # guards: random access needs a seekable file; '-' must say so instead of "no such file"
    from genolm.io import Genome

    _stdin(monkeypatch, b">a\nACGT\n")
    with pytest.raises(InputError, match="standard input"):
        Genome.open("-")


# --- --out - streams to stdout; '-' as input, verb by verb ---------------------------------------


def test_tokenize_reads_gzip_stdin_and_streams_json():
    proc = _cli(["tokenize", "-", "--scheme", "char", "--out", "-"], stdin=LAMBDA.read_bytes())
    assert proc.returncode == 0, proc.stderr.decode()
    rows = json.loads(proc.stdout)  # stdout holds the result only: the table went to stderr
    assert rows[0]["scheme"] == "char" and rows[0]["n_bp"] == 48502
    assert b"# <stdin>" in proc.stderr and b"bp/token" in proc.stderr


def test_audit_stdin_table_out_dash_and_verdict_exit_1(tmp_path, monkeypatch, capsys):
    train = _random_seqs(60, seed=1)
    tr = _table(tmp_path / "train.csv", train, [0, 1] * 30)
    test_csv = "sequence,label\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(_random_seqs(30, seed=2)))
    _stdin(monkeypatch, test_csv.encode())
    assert main(["audit", "--train", tr, "--test", "-", "--out", "-", "--no-labels"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["verdict"] == "PASS" and "verdict: PASS" in cap.err
    # a test split copied from train: the audit's verdict is FAIL, exit 1 (a verdict, not an error)
    leaky = "sequence,label\n" + "".join(f"{s},0\n" for s in train[:30])
    _stdin(monkeypatch, gzip.compress(leaky.encode()))
    assert main(["audit", "--train", tr, "--test", "-", "--no-labels", "--out", str(tmp_path / "a.tsv")]) == 1
    rows = (tmp_path / "a.tsv").read_text().splitlines()
    assert rows[0].startswith("name\tsplits\tstatus") and any("\tFAIL\t" in r for r in rows[1:])
    assert "reaches --fail-on fail" in capsys.readouterr().err


def test_make_vep_set_streams_a_vcf_that_score_and_eval_read_from_stdin(tmp_path, monkeypatch, capsys):
    assert (
        main(["make-vep-set", "--annotation", "bundled:chloroplast", "--per-class", "4", "--out", "-"]) == 0
    )
    cap = capsys.readouterr()
    assert cap.out.startswith("##fileformat=VCF") and json.loads(cap.err)["out"] == "-"
    vcf = cap.out.encode()
    _stdin(monkeypatch, vcf)
    argv = ["score-variants", "--genome", "bundled:chloroplast", "--vcf", "-", "--out", "-", "--no-progress"]
    assert main(argv + ["--window", "32"]) == 0
    cap = capsys.readouterr()
    lines = cap.out.splitlines()
    assert lines[0].split("\t")[:3] == ["record", "allele", "chrom"] and len(lines) == 1 + 8
    assert json.loads(cap.err)["scored"] == 8
    # the TSV on stdin again: eval-variants sniffs its format; --out is a folder
    _stdin(monkeypatch, cap.out.encode())
    out = tmp_path / "ev"
    assert (
        main(["eval-variants", "-", "--label-col", "LABEL", "--n-boot", "0", "--no-plots", "--out", str(out)])
        == 0
    )
    assert json.loads((out / "eval.json").read_text())["n"] == 8
    capsys.readouterr()
    # score-variants --out - --out-format vcf: a VCF on stdout
    _stdin(monkeypatch, vcf)
    assert main(argv + ["--window", "32", "--out-format", "vcf"]) == 0
    assert "GENOLM_SCORE=" in capsys.readouterr().out


def test_validate_out_dash_and_problems_exit_1(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "t/x", "task_type": "binary", "lables": ["a", "b"]}))
    assert main(["validate", str(bad), "--out", "-"]) == 1  # problems found: a verdict
    cap = capsys.readouterr()
    assert json.loads(cap.out)[0]["problems"] and "FAIL" in cap.err


# --- deprecated aliases still work, and warn once, naming the new flag -----------------------------


@pytest.mark.parametrize(
    "argv, dest, value",
    [
        (["tokenize", "--json", "x.json"], "out", "x.json"),
        (["audit", "--train", "a", "--test", "b", "--json", "x.json"], "out", "x.json"),
        (["validate", "t.yaml", "--json", "x.json"], "out", "x.json"),
        (["pretrain", "--out-dir", "runs/x"], "out_dir", "runs/x"),
        (["biotokens", "pretrain", "--out-dir", "runs/x"], "out_dir", "runs/x"),
        (["ism", "--sequence", "ACGT", "--out-prefix", "o"], "out_prefix", "o"),
        (["eval-variants", "s.tsv", "--label-col", "y", "--out-prefix", "o"], "out_prefix", "o"),
    ],
)
def test_deprecated_alias_works_and_warns(argv, dest, value, capsys):
    args = build_parser().parse_args(argv)
    assert getattr(args, dest) == value
    err = capsys.readouterr().err
    assert "deprecated" in err and "use --out" in err and len(err.strip().splitlines()) == 1


def test_new_out_flag_is_silent(capsys):
    args = build_parser().parse_args(["pretrain", "--out", "runs/x"])
    assert args.out_dir == "runs/x" and capsys.readouterr().err == ""


def test_ism_out_prefix_keeps_the_old_file_names(tmp_path, capsys):
    import torch

    from genolm.models import build_model
    from genolm.tokenizers import get_tokenizer

    tok = get_tokenizer("char")
    torch.manual_seed(0)
    build_model("gpn", tokenizer=tok, hidden_size=16, num_hidden_layers=1).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    argv = ["ism", "--sequence", "ACGTTGCAAT", "--model", str(tmp_path / "m"), "--window", "8", "--no-plots"]
    assert main(argv + ["--no-progress", "--out-prefix", str(tmp_path / "old")]) == 0
    assert (tmp_path / "old.tsv").exists() and (tmp_path / "old.npz").exists()
    assert main(argv + ["--no-progress", "--out", str(tmp_path / "new")]) == 0
    assert (tmp_path / "new" / "ism.tsv").exists()
    assert main(argv + ["--out", "-"]) == 2  # several files cannot go to stdout: a usage error
    assert "give a folder" in capsys.readouterr().err


# --- exit codes and -q / -v ------------------------------------------------------------------------


def test_exit_codes(tmp_path, capsys, monkeypatch):
    assert main(["ls", "tokenizers"]) == 0
    assert main(["tokenize", str(tmp_path / "missing.fa")]) == 2  # input error: a sentence
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # usage error (argparse)
        main(["tokenize", "--no-such-flag"])
    assert e.value.code == 2
    import genolm.cli.ls as ls

    def bug(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(ls, "run", bug)
    assert main(["ls", "tokenizers"]) == 3
    assert "This is a bug" in capsys.readouterr().err

    def rejects(args):  # a dependency rejecting a value: a sentence (exit 2) that says where from
        np.linspace(0.0, 1.0, -1)  # raised by numpy's Python code

    monkeypatch.setattr(ls, "run", rejects)
    assert main(["ls", "tokenizers"]) == 2
    err = capsys.readouterr().err
    assert (
        "Number of samples, -1, must be non-negative" in err
        and "raised in numpy" in err
        and "run with -v" in err
    )
    assert "Traceback" not in err

    def own_check(args):  # genolm's own checks read as they are: no bug hint
        raise InputError("reads.fa line 3: 'X' is not a nucleotide")

    monkeypatch.setattr(ls, "run", own_check)
    assert main(["ls", "tokenizers"]) == 2
    err = capsys.readouterr().err
    assert "reads.fa line 3" in err and "run with -v" not in err


def test_quiet_hides_progress_and_info_but_not_results():
    # stderr is a pipe here, not a terminal: progress comes as plain lines, one per update with
    # GENOLM_PROGRESS_EVERY_S=0 (the default 10 s is longer than this run)
    every = {"GENOLM_PROGRESS_EVERY_S": "0"}
    loud = _cli(["tokenize", "--scheme", "char"], env=every)
    quiet = _cli(["-q", "tokenize", "--scheme", "char"], env=every)
    after = _cli(["tokenize", "--scheme", "char", "-q"], env=every)  # accepted after the verb too
    for p in (loud, quiet, after):
        assert p.returncode == 0 and b"bp/token" in p.stdout  # the result table always prints
    assert b"char (1/1)" in loud.stderr and b"bp/s" in loud.stderr  # a progress line with its rate
    assert quiet.stderr == b"" and after.stderr == b""


def test_logging_levels_and_pretrain_final_steps_speak(tmp_path, capsys):
    from tests.test_pretrain import _fasta

    cfg = {
        "corpus": [str(_fasta(tmp_path / "g.fa"))],
        "model": "encoder",
        "model_config": TINY,
        "tokenizer": "char",
        "window": 64,
        "batch_size": 4,
        "max_steps": 2,
        "eval_every": 100,
        "eval_batches": 1,
        "save_every": 100,
        "precision": "fp32",
        "progress": False,
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["pretrain", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r1")]) == 0
    cap = capsys.readouterr()
    assert "final evaluation" in cap.err and "saving the final model" in cap.err and "saved " in cap.err
    assert _last_json(cap.out)["step"] == 2
    assert main(["-q", "pretrain", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r2")]) == 0
    cap = capsys.readouterr()
    assert "final evaluation" not in cap.err and "saving" not in cap.err
    assert '"final_dir"' in cap.out  # -q keeps the verb's result
    assert main(["-v", "pretrain", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r3")]) == 0
    assert "[genolm.train.pretrain] saved checkpoint" in capsys.readouterr().err  # DEBUG lines


def _last_json(out: str) -> dict:
    """The result JSON a verb prints last (pretrain prints a start line first)."""
    start = out.rindex("\n{") + 1 if "\n{" in out else out.index("{")
    return json.loads(out[start:])


def test_audit_refuses_two_splits_from_stdin(capsys):
    # guards: both splits would read the same spooled stdin and audit a table against itself
    assert main(["audit", "--train", "-", "--test", "-"]) == 2
    assert "only one of --train" in capsys.readouterr().err


def test_train_tokenizer_pretrain_and_resplit_read_stdin(tmp_path, monkeypatch, capsys):
    from tests.test_pretrain import _fasta

    fa = _fasta(tmp_path / "g.fa").read_bytes()
    _stdin(monkeypatch, gzip.compress(fa))
    assert main(["-q", "train-tokenizer", "-", "--vocab-size", "32", "--out", str(tmp_path / "tk")]) == 0
    assert (tmp_path / "tk" / "tokenizer.json").exists()
    _stdin(monkeypatch, fa)
    argv = ["-q", "pretrain", "--corpus", "-", "--model", "encoder", "--tokenizer", "char", "--window", "64"]
    argv += [f"--model-config={k}={v}" for k, v in TINY.items()]
    argv += ["--max-steps", "1", "--batch-size", "2", "--eval-batches", "1", "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    assert (tmp_path / "run" / "final" / "config.json").exists()
    seqs = _random_seqs(40, seed=3)
    tr = _table(tmp_path / "train.csv", seqs[:30], [0, 1] * 15)
    _stdin(monkeypatch, ("sequence,label\n" + "".join(f"{s},1\n" for s in seqs[:5] + seqs[30:])).encode())
    assert main(["resplit", "--train", tr, "--test", "-", "--out", str(tmp_path / "clean")]) == 0
    assert len((tmp_path / "clean" / "test.csv").read_text().splitlines()) == 1 + 10  # 5 leaked rows dropped


def test_in_process_main_leaves_logging_and_environment_as_they_were():
    # guards: a -q call in a test or notebook must not silence later library logging or tqdm
    import logging

    logger = logging.getLogger("genolm")
    before = (logger.level, list(logger.handlers), os.environ.get("TQDM_DISABLE"))
    assert main(["-q", "ls", "tokenizers"]) == 0
    with pytest.raises(SystemExit):
        main(["-q", "ls", "--no-such-flag"])
    assert (logger.level, list(logger.handlers), os.environ.get("TQDM_DISABLE")) == before


def test_biotokens_qa_streams_its_records(tmp_path, capsys):
    from genolm.llm.toy import build_toy_llm

    d = build_toy_llm(tmp_path / "m", seed=2)
    q = tmp_path / "qa.jsonl"
    q.write_text(
        "".join(
            json.dumps({"question": f"Q{i}?", "choices": ["x", "y"], "answer": i % 2}) + "\n"
            for i in range(3)
        )
    )
    assert main(["biotokens", "qa", "--model", str(d), "--questions", str(q), "--out", "-"]) == 0
    cap = capsys.readouterr()
    records = [json.loads(x) for x in cap.out.splitlines()]
    # the summary is the last JSON object on stderr (a library's log lines may come before it;
    # in a full run transformers' handler, bound to an earlier test's closed stderr, prints a
    # "Logging error" traceback there)
    start = cap.err.rfind("\n{") + 1  # 0 when the summary is all stderr holds
    assert len(records) == 3 and json.loads(cap.err[start:])["n"] == 3


def test_empty_vcf_warning_names_no_temporary_output(tmp_path, monkeypatch, capsys):
    # with --out - the warning named genolm's private temporary file instead of standard output
    _stdin(monkeypatch, b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    argv = ["score-variants", "--genome", "bundled:chloroplast", "--vcf", "-", "--out", "-", "--no-progress"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "holds 0 variant records" in err and "genolm-stdout" not in err
