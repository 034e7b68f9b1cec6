"""FASTQ reading and writing."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from genolm.errors import InputError
from genolm.io import FastqRecord, read_fastq, write_fastq

TEXT = "@r1 lane 1\nACGTN\n+\nIIII#\n@r2\nacgt\n+r2\n!!~~\n"
EXPECTED = [FastqRecord("r1", "lane 1", "ACGTN", "IIII#"), FastqRecord("r2", "", "acgt", "!!~~")]


def _write(path, text):
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_read_plain_gzip_and_crlf(tmp_path):
    assert list(read_fastq(_write(tmp_path / "a.fq", TEXT))) == EXPECTED
    assert list(read_fastq(_write(tmp_path / "b.fq", gzip.compress(TEXT.encode())))) == EXPECTED
    # policy: CRLF accepted, '\r' stripped
    assert list(read_fastq(_write(tmp_path / "c.fq", TEXT.replace("\n", "\r\n")))) == EXPECTED


def test_phred():
    assert FastqRecord("r", "", "AC", "I#").phred().tolist() == [40, 2]
    assert FastqRecord("r", "", "AC", "I#").phred().dtype == np.uint8


def test_length_mismatch_names_record(tmp_path):
    path = _write(tmp_path / "a.fq", "@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nIII\n")
    # guards against quality strings silently misaligned with their bases
    with pytest.raises(
        InputError, match=r"a.fq, line 8, record 'r2': sequence has 4 bases but quality has 3"
    ):
        list(read_fastq(path))


def test_missing_plus_line(tmp_path):
    with pytest.raises(InputError, match=r"line 3, record 'r1': expected the '\+' separator line"):
        list(read_fastq(_write(tmp_path / "a.fq", "@r1\nACGT\nACGT\n+\nIIII\n")))


def test_truncated_record(tmp_path):
    with pytest.raises(InputError, match="record 'r2': truncated record"):
        list(read_fastq(_write(tmp_path / "a.fq", "@r1\nAC\n+\nII\n@r2\nAC\n")))


def test_empty_and_fasta_input(tmp_path):
    with pytest.raises(InputError, match="empty file"):
        list(read_fastq(_write(tmp_path / "e.fq", "")))
    with pytest.raises(InputError, match="looks like FASTA"):
        list(read_fastq(_write(tmp_path / "x.fq", ">r\nACGT\n")))


def test_invalid_base_and_quality(tmp_path):
    with pytest.raises(InputError, match="record 'r1', position 2: invalid character"):
        list(read_fastq(_write(tmp_path / "a.fq", "@r1\nAC*T\n+\nIIII\n")))
    with pytest.raises(InputError, match="invalid quality character"):
        list(read_fastq(_write(tmp_path / "b.fq", "@r1\nACGT\n+\nII I\n")))


def test_duplicates(tmp_path):
    path = _write(tmp_path / "a.fq", "@r\nA\n+\nI\n@r\nC\n+\nI\n")
    with pytest.raises(InputError, match="duplicate record name"):
        list(read_fastq(path))
    assert [r.name for r in read_fastq(path, on_duplicate="rename")] == ["r", "r_2"]


@pytest.mark.parametrize("name", ["out.fq", "out.fq.gz"])
def test_roundtrip(tmp_path, name):
    assert write_fastq(tmp_path / name, EXPECTED) == 2
    assert list(read_fastq(tmp_path / name)) == EXPECTED


def test_truncated_gzip(tmp_path):
    data = gzip.compress("".join(f"@r{i}\nACGT\n+\nIIII\n" for i in range(5000)).encode())
    with pytest.raises(InputError, match="cut.fq.gz: truncated / corrupt gzip"):
        list(read_fastq(_write(tmp_path / "cut.fq.gz", data[: len(data) // 2])))
