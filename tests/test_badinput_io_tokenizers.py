"""Bad input to GenBank reading, genomes, tokenizer scheme specs and BPE training: a clear error
(or warning) naming the file, record and option, never a silently dropped record or option."""

from __future__ import annotations

import logging
import random

import pytest

from genolm.errors import ConfigError, InputError


def _seq(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(n))


def _write_genbank(path, records: list[tuple[str, str]]):
    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord

    recs = []
    for name, seq in records:
        rec = SeqRecord(Seq(seq), id=name, name=name.split(".")[0], description="test")
        rec.annotations["molecule_type"] = "DNA"
        recs.append(rec)
    SeqIO.write(recs, str(path), "genbank")
    return path


# --- bug 1: a GenBank record name used twice ----------------------------------------------


def test_read_genbank_rejects_a_repeated_record_name(tmp_path):
    from genolm.io.genbank import read_genbank

    gb = _write_genbank(tmp_path / "dup.gb", [("X1.1", _seq(300, 1)), ("X1.1", _seq(500, 2))])
    with pytest.raises(InputError, match=r"records 1 and 2 of the file are both named 'X1.1'") as e:
        list(read_genbank(gb))
    assert e.value.path == str(gb) and e.value.record == "X1.1" and e.value.hint


def test_genome_open_genbank_keeps_no_half_of_a_duplicate(tmp_path):
    from genolm.io.genome import Genome

    gb = _write_genbank(tmp_path / "dup.gb", [("X1.1", _seq(300, 1)), ("X1.1", _seq(500, 2))])
    with pytest.raises(InputError, match="duplicate record name") as e:
        Genome.open(gb)
    assert str(gb) in str(e.value) and "X1.1" in str(e.value)
    # distinct names still load, every record
    ok = _write_genbank(tmp_path / "ok.gb", [("X1.1", _seq(300, 1)), ("X2.1", _seq(500, 2))])
    assert Genome.open(ok).lengths == {"X1.1": 300, "X2.1": 500}


def test_genome_from_sequences_rejects_a_repeated_name_in_records():
    from genolm.io.genome import Genome

    with pytest.raises(InputError, match="duplicate record name") as e:
        Genome.from_sequences([("a", "ACGT"), ("a", "GG")], name="mem.fa")
    assert e.value.record == "a" and e.value.path == "mem.fa"


# --- bug 2: bad characters in a GenBank sequence -------------------------------------------


def test_read_genbank_rejects_bad_characters_naming_record_and_position(tmp_path):
    from genolm.io.genbank import read_genbank

    seq = _seq(100) + "XXZZ" + _seq(50, 3)
    gb = _write_genbank(tmp_path / "badseq.gb", [("OK.1", _seq(60, 4)), ("BADX.1", seq)])
    with pytest.raises(InputError, match="invalid character 'X'") as e:
        list(read_genbank(gb))
    assert (e.value.path, e.value.record, e.value.position) == (str(gb), "BADX.1", 100)
    # IUPAC codes, lower case included, stay valid
    fine = _write_genbank(tmp_path / "iupac.gb", [("I.1", "ACGTNRYacgtn")])
    assert [r.seq.upper() for r in read_genbank(fine)] == ["ACGTNRYACGTN"]


@pytest.mark.parametrize("scheme", ["char", "bpe:vocab_size=64"])
def test_tokenize_genbank_with_bad_characters_names_the_users_file(tmp_path, capsys, scheme):
    # bug 4 too: BPE trains on a temporary FASTA; the error must name the GenBank file
    from genolm.cli.main import main

    gb = _write_genbank(tmp_path / "badseq.gb", [("BADX.1", _seq(100) + "XXZZ" + _seq(500, 3))])
    assert main(["tokenize", str(gb), "--scheme", scheme]) == 2
    err = capsys.readouterr().err
    assert f"{gb}, record 'BADX.1', position 100: invalid character 'X'" in err
    assert "train.fa" not in err


# --- bug 3: scheme options and --context ----------------------------------------------------


@pytest.mark.parametrize(
    "spec, says",
    [
        ("kmer:kk=3", "unknown option 'kk' for kmer. Did you mean 'k'?"),
        ("kmer3:k=4", "'kmer3' means k=3, but the spec sets k=4"),
        ("bpe:vocab_sise=64", "unknown option 'vocab_sise' for bpe. Did you mean 'vocab_size'?"),
        ("bpe:vocab_size", "option 'vocab_size' is not KEY=VALUE"),
        ("bpe:vocab_size=", "option 'vocab_size=' is not KEY=VALUE"),
        ("codon:frame=1,frame=2", "option 'frame' is given twice"),
    ],
)
def test_parse_scheme_rejects_bad_options(spec, says):
    from genolm.tokenizers.schemes import parse_scheme

    with pytest.raises(ConfigError) as e:
        parse_scheme(spec)
    assert says in str(e.value) and spec in str(e.value)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("kmer6", ("kmer6", "kmer", {"k": 6})),
        ("kmer3:k=3", ("kmer3:k=3", "kmer", {"k": 3})),
        ("kmer:k=4", ("kmer:k=4", "kmer", {"k": 4})),
        ("codon:frame=2", ("codon:frame=2", "codon", {"frame": 2})),
        ("nt6:layout=nt", ("nt6:layout=nt", "nt6", {"layout": "nt"})),
        ("char:template=cls", ("char:template=cls", "char", {"template": "cls"})),
        (
            "bpe:vocab_size=64,min_frequency=3",
            ("bpe:vocab_size=64,min_frequency=3", "bpe", {"vocab_size": 64, "min_frequency": 3}),
        ),
        ("bpe:tokenizer_file=t.json", ("bpe:tokenizer_file=t.json", "bpe", {"tokenizer_file": "t.json"})),
    ],
)
def test_parse_scheme_accepts_good_options(spec, expected):
    from genolm.tokenizers.schemes import parse_scheme

    assert parse_scheme(spec) == expected


@pytest.mark.parametrize("value", ["abc", "1.5", True])
def test_bpe_train_config_rejects_a_non_integer(tmp_path, value):
    from genolm.tokenizers.bpe import BPETrainConfig

    fa = tmp_path / "a.fa"
    fa.write_text(">a\n" + _seq(200) + "\n")
    with pytest.raises(ConfigError, match=r"vocab_size must be a whole number, got"):
        BPETrainConfig([str(fa)], vocab_size=value)


@pytest.mark.parametrize("spec", ["bpe:vocab_size=abc", "bpe:vocab_sise=64", "bpe:vocab_size", "kmer:kk=3"])
def test_tokenize_bad_scheme_is_a_user_error_not_a_bug(tmp_path, capsys, spec):
    from genolm.cli.main import main

    fa = tmp_path / "a.fa"
    fa.write_text(">a\n" + _seq(600) + "\n")
    assert main(["tokenize", str(fa), "--scheme", spec]) == 2
    err = capsys.readouterr().err
    assert "This is a bug" not in err and "unexpected error" not in err


@pytest.mark.parametrize("value", ["0", "-5"])
def test_tokenize_context_must_be_positive(capsys, value):
    from genolm.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["tokenize", "--scheme", "char", "--context", value])
    assert e.value.code == 2
    assert f"--context: must be an integer >= 1, got {value}" in capsys.readouterr().err


# --- bug 5: a vocabulary smaller than asked for ---------------------------------------------


def test_train_bpe_warns_when_the_corpus_is_too_small(tmp_path, caplog):
    from genolm.tokenizers.bpe import BPETrainConfig, train_bpe

    fa = tmp_path / "small.fa"
    fa.write_text(">a\n" + _seq(2000) + "\n")
    with caplog.at_level(logging.WARNING, logger="genolm.tokenizers.bpe"):
        tok = train_bpe(BPETrainConfig([str(fa)], vocab_size=100_000))
    assert tok.vocab_size < 100_000
    (rec,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"reached only {tok.vocab_size} of the 100000 tokens" in rec.getMessage()
    assert "too small" in rec.getMessage()


# --- task tables ---------------------------------------------------------------------------------


def test_table_rows_with_more_fields_than_the_header(tmp_path):
    from genolm.io.tables import read_task_table

    p = tmp_path / "t.csv"
    p.write_text("sequence,label\nACGT,1,x\nACGA,0,y\n")  # pandas made 'ACGT' an index, not a sequence
    with pytest.raises(InputError, match=r"t.csv, line 2: the data rows have more fields than the header"):
        read_task_table(p)


def test_jsonl_error_names_the_line(tmp_path):
    from genolm.io.tables import read_task_table

    p = tmp_path / "t.jsonl"
    p.write_text('{"sequence": "ACGT", "label": 1}\n\n{"sequence": ACGA}\n')
    with pytest.raises(InputError, match=r"t.jsonl, line 3: cannot parse JSON lines \(not valid JSON"):
        read_task_table(p)


def test_bpe_on_a_genbank_file_names_it_not_the_temporary_fasta(tmp_path):
    from genolm.tokenstats import compare_schemes

    gb = _write_genbank(tmp_path / "alln.gb", [("X1.1", "N" * 200)])
    with pytest.raises(ConfigError) as e:
        compare_schemes(gb, ["bpe:vocab_size=64"], progress=False)
    assert str(gb) in str(e.value) and "train.fa" not in str(e.value)


def test_read_genbank_refuses_a_truncated_record(tmp_path):
    from genolm.io.genbank import read_genbank

    full = _write_genbank(tmp_path / "full.gb", [("X1.1", _seq(500))])
    text = full.read_text()
    cut = tmp_path / "cut.gb"
    cut.write_text(text[: text.index("ORIGIN") + 200])  # no '//': the file ends inside the sequence
    with pytest.raises(InputError, match=r"cut.gb, record 'X1.1': the record is cut short"):
        list(read_genbank(cut))
    assert len(next(iter(read_genbank(full))).seq) == 500
