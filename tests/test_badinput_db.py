"""Bad input to `genolm db` and `genolm train-embedder`: a clear error naming the option, file,
line or record, never a traceback or a silently empty / wrong result."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from genolm.cli.main import main
from genolm.db.embedders import make_embedder
from genolm.db.filters import parse_where
from genolm.db.pairs import read_pairs
from genolm.db.store import build_db
from genolm.errors import ConfigError, InputError


def _fasta(path: Path, n_contigs=2, length=1200, seed=0) -> Path:
    rnd = random.Random(seed)
    with open(path, "w") as f:
        for c in range(n_contigs):
            f.write(f">c{c}\n" + "".join(rnd.choice("ACGT") for _ in range(length)) + "\n")
    return path


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("db")
    build_db(tmp / "db", _fasta(tmp / "g.fa"), window=200, progress=False)
    return tmp / "db"


# --- bug 1: db query -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seq, says", [("ACGTXX!!", "position 4: invalid character 'X'"), ("", "empty --seq")]
)
def test_query_refuses_a_bad_seq(db, seq, says, cli_error):
    err = cli_error(["db", "query", str(db), "--seq", seq, "-k", "1", "--out", "-"])
    assert "--seq" in err and "seq1" in err and says in err


@pytest.mark.parametrize("k", ["0", "-1"])
def test_query_refuses_k_below_one(db, k, cli_error):
    err = cli_error(["db", "query", str(db), "--seq", "ACGT" * 10, "-k", k, "--out", "-"])
    assert "argument -k: must be an integer >= 1" in err


def test_query_where_compares_a_number_field_with_a_number(db, cli_error):
    err = cli_error(["db", "query", str(db), "--seq", "ACGT" * 10, "--where", "start > abc"])
    assert "start is a number, but abc is not" in err
    with pytest.raises(ConfigError, match="end is a number"):
        parse_where("end <= 'x'")
    assert parse_where("start > '100'")[0].value == 100  # a quoted number is a number
    assert parse_where("contig == abc")[0].value == "abc"  # text fields take words


def test_query_refuses_an_output_format_it_cannot_write(db, capsys, tmp_path, cli_error):
    out = tmp_path / "x.xlsx"
    err = cli_error(["db", "query", str(db), "--seq", "ACGT" * 10, "--out", str(out)])
    assert "x.xlsx" in err and ".parquet" in err and not out.exists()
    capsys.readouterr()
    assert (
        main(["db", "query", str(db), "--seq", "ACGT" * 10, "-k", "2", "--out", str(tmp_path / "h.csv")]) == 0
    )
    assert (tmp_path / "h.csv").read_text().startswith("query,rank,score")


# --- bugs 2 and 3: the pairs table of train-embedder ---------------------------------------------


def _pairs(path: Path, rows) -> Path:
    cols = "anchor_id\tanchor_seq\tpositive_id\tpositive_seq\tnegative_id\tnegative_seq\tkind\n"
    path.write_text(cols + "".join("\t".join(r) + "\n" for r in rows))
    return path


def _row(i, a="ACGTACGTAC", p="ACGTACGTAA", n="TTTTGGGGCC"):
    return (f"a{i}", a, f"p{i}", p, f"n{i}", n, "mutated")


def test_pairs_with_a_bad_base_name_the_file_line_and_column(tmp_path, cli_error):
    p = _pairs(tmp_path / "p.tsv", [_row(0), _row(1, a="ACGTXX!!AC"), _row(2)])
    with pytest.raises(InputError, match=r"p\.tsv, line 3, position 4: invalid character 'X' in anchor_seq"):
        read_pairs(p)
    err = cli_error(["train-embedder", str(p), "--model", "genolm-tiny", "--out", str(tmp_path / "m")])
    assert "p.tsv, line 3" in err and "anchor_seq" in err


def test_pairs_with_an_empty_positive_name_the_file_and_line(tmp_path, cli_error):
    p = _pairs(tmp_path / "p.tsv", [_row(0), _row(1), _row(2, p="")])
    with pytest.raises(InputError, match=r"p\.tsv, line 4: positive_seq is empty"):
        read_pairs(p)
    err = cli_error(["train-embedder", str(p), "--model", "genolm-tiny", "--out", str(tmp_path / "m")])
    assert "p.tsv, line 4: positive_seq is empty" in err
    # one missing hard negative would turn off every hard negative: an error too
    q = _pairs(tmp_path / "q.tsv", [_row(0), _row(1, n="")])
    with pytest.raises(InputError, match=r"q\.tsv, line 3: negative_seq is empty"):
        read_pairs(q)


def test_pairs_keep_a_sequence_that_reads_like_na(tmp_path):
    # 'NA' is a (short) sequence, not a missing value; blank lines are not rows
    p = _pairs(tmp_path / "p.tsv", [_row(0, a="NA"), _row(1)])
    p.write_text(p.read_text() + "\n")
    df = read_pairs(p)
    assert df["anchor_seq"].tolist() == ["NA", "ACGTACGTAC"]


def test_train_embedder_refuses_bad_numbers_at_parsing(tmp_path, cli_error):
    p = _pairs(tmp_path / "p.tsv", [_row(0), _row(1)])
    for flag, value in (("--save-every", "0"), ("--epochs", "0"), ("--lr", "-1"), ("--augment", "-1")):
        err = cli_error(["train-embedder", str(p), "--model", "genolm-tiny", "--out", "m", flag, value])
        assert f"argument {flag}:" in err


# --- bug 4: a model layer out of range ---------------------------------------------------------


def test_build_with_a_layer_the_model_does_not_have(tmp_path, cli_error):
    fa = _fasta(tmp_path / "g.fa", n_contigs=1, length=64)
    err = cli_error(
        ["db", "build", "--out", str(tmp_path / "d"), str(fa), "--embedder", "genolm-tiny", "--layer", "99"]
    )
    assert "layer 99 is out of range: this model has" in err and "0.." in err


# --- bug 5: db build options -------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag, value, says",
    [
        ("--window", "0", "must be an integer >= 1"),
        ("--window", "-10", "must be an integer >= 1"),
        ("--stride", "0", "must be an integer >= 1"),
        ("--shard-size", "0", "must be an integer >= 1"),
        ("--batch-size", "0", "must be an integer >= 1"),
        ("--max-n", "2", "must be a number in [0, 1]"),
        ("--embedder", "kmer:abc", "'abc' is not an integer; expected kmer:K"),
        ("--embedder", "kmer:9", "expected kmer:K (K in 1..8)"),
        ("--embedder", "minhash:21:x", "expected minhash"),
    ],
)
def test_build_refuses_bad_options_at_parsing(tmp_path, flag, value, says, cli_error):
    fa = _fasta(tmp_path / "g.fa", n_contigs=1, length=300)
    err = cli_error(["db", "build", "--out", str(tmp_path / "d"), str(fa), flag, value])
    assert f"argument {flag}: " in err and says in err
    assert not (tmp_path / "d").exists()


def test_build_api_refuses_sizes_below_one_and_bad_embedder_names(tmp_path):
    fa = _fasta(tmp_path / "g.fa", n_contigs=1, length=300)
    for kw in ({"window": 0}, {"stride": 0, "window": 100}, {"shard_size": 0}, {"batch_size": 0}):
        with pytest.raises(ConfigError, match="must be >= 1"):
            build_db(tmp_path / "d", fa, progress=False, **kw)
    with pytest.raises(ConfigError, match="kmer:K"):
        make_embedder("kmer:abc")
    assert make_embedder("minhash:15").spec["model"] == "minhash:15:128"


# --- bug 6: BED regions the genome does not have -----------------------------------------------


@pytest.mark.parametrize(
    "line, says",
    [("c9\t1\t10\tf3", "contig 'c9' is not in the genome"), ("c0\t500\t90000\tf4", "outside c0")],
)
def test_bed_region_not_in_the_genome_names_the_bed_line(tmp_path, line, says, cli_error):
    fa = _fasta(tmp_path / "g.fa", n_contigs=1, length=1000)
    bed = tmp_path / "r.bed"
    bed.write_text("c0\t10\t50\tf1\n" + line + "\n")
    err = cli_error(["db", "build", "--out", str(tmp_path / "d"), str(bed), "--genome", str(fa)])
    assert "r.bed, line 2" in err and says in err and "g.fa" in err
    assert "clip=True" not in err and "--genome" in err


# --- bug 7: a damaged database -----------------------------------------------------------------


def test_query_a_database_with_a_missing_shard_or_index(tmp_path, cli_error):
    d = tmp_path / "db"
    build_db(d, _fasta(tmp_path / "g.fa"), window=200, progress=False)
    index = next(d.glob("index-*"))
    (index / "engine.json").rename(tmp_path / "engine.json")
    err = cli_error(["db", "query", str(d), "--seq", "ACGT" * 10])
    assert str(d) in err and "engine.json is missing" in err and "db compact" in err
    (tmp_path / "engine.json").rename(index / "engine.json")
    (d / "shards" / "shard-00000.parquet").unlink()
    err = cli_error(["db", "query", str(d), "--seq", "ACGT" * 10])
    assert str(d) in err and "shard-00000.parquet" in err and "is missing" in err and "rebuild" in err


def test_train_embedder_checks_a_dataframe_of_pairs_like_a_file(tmp_path):
    import pandas as pd

    from genolm.train.contrastive import train_embedder

    df = pd.DataFrame({"anchor_seq": ["ACGTACGT", "ACGTTTGA"], "positive_seq": ["ACGTACGA", "ACXX!TGA"]})
    with pytest.raises(
        InputError, match=r"record 'row 1', position 2: invalid character 'X' in positive_seq"
    ):
        train_embedder(df, "genolm-tiny", tmp_path / "out")
