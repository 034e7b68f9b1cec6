"""FASTA reading, chunking, windows and writing; every bad-input policy has a test."""

from __future__ import annotations

import bz2
import gzip
import lzma
import random
import tracemalloc

import pysam
import pytest

from genolm.errors import InputError
from genolm.io import (
    FastaRecord,
    fasta_lengths,
    iter_fasta_chunks,
    iter_windows,
    read_fasta,
    sniff_compression,
    write_fasta,
)

TEXT = ">seq1 first record\nACGTACGTAC\nGTacgtNNRY\nAC\n>seq2\nTTTT\nGGGG\n>seq3 x\nA\n"
EXPECTED = [
    FastaRecord("seq1", "first record", "ACGTACGTACGTacgtNNRYAC"),
    FastaRecord("seq2", "", "TTTTGGGG"),
    FastaRecord("seq3", "x", "A"),
]


def _write(path, text: str | bytes):
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _random_seq(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("ACGTacgtN") for _ in range(n))


# --- formats and compression ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["plain", "gzip", "bgzip", "bz2", "xz"])
def test_compression_detected_by_magic_not_extension(tmp_path, kind):
    raw = TEXT.encode()
    path = tmp_path / "genome.txt"  # the extension says nothing
    if kind == "plain":
        path.write_bytes(raw)
    elif kind == "gzip":
        path.write_bytes(gzip.compress(raw))
    elif kind == "bgzip":
        plain = _write(tmp_path / "plain.fa", raw)
        pysam.tabix_compress(str(plain), str(path), force=True)
    elif kind == "bz2":
        path.write_bytes(bz2.compress(raw))
    else:
        path.write_bytes(lzma.compress(raw))
    assert sniff_compression(path) == (None if kind == "plain" else kind)
    assert list(read_fasta(path)) == EXPECTED


def test_plain_text_named_gz_is_read_as_plain(tmp_path):
    path = _write(tmp_path / "x.fa.gz", TEXT)
    assert list(read_fasta(path)) == EXPECTED


@pytest.mark.parametrize("block_size", [1, 2, 3, 7, 16, 1 << 20])
def test_block_boundaries_do_not_change_records(tmp_path, block_size):
    # guards against headers / '\n>' split across read blocks being mis-parsed
    path = _write(tmp_path / "a.fa", TEXT)
    assert list(read_fasta(path, block_size=block_size)) == EXPECTED


def test_crlf_gives_identical_records(tmp_path):
    # policy: '\r' is stripped, so Windows line endings are accepted as is
    a = _write(tmp_path / "unix.fa", TEXT)
    b = _write(tmp_path / "dos.fa", TEXT.replace("\n", "\r\n"))
    assert list(read_fasta(b)) == list(read_fasta(a)) == EXPECTED
    assert list(read_fasta(b, block_size=5)) == EXPECTED


def test_lowercase_kept_and_iupac_accepted(tmp_path):
    path = _write(tmp_path / "a.fa", ">r\nacgtRYSWKMBDHVNacgu\n")
    (rec,) = read_fasta(path)
    assert rec.seq == "acgtRYSWKMBDHVNacgu"


def test_unwrapped_long_line_streams(tmp_path):
    seq = _random_seq(5000)
    path = _write(tmp_path / "a.fa", f">long\n{seq}\n>b\nAC\n")
    chunks = list(iter_fasta_chunks(path, chunk_size=700, block_size=256))
    assert "".join(c for n, _, c in chunks if n == "long") == seq
    assert [o for n, o, _ in chunks if n == "long"] == list(range(0, 5000, 700))
    assert all(len(c) == 700 for n, _, c in chunks[:-2])


def test_blank_lines_and_trailing_spaces_are_layout(tmp_path):
    path = _write(tmp_path / "a.fa", "\n\n>r desc \nAC GT\t\n\nTT  \n")
    assert list(read_fasta(path)) == [FastaRecord("r", "desc", "ACGTTT")]


def test_header_without_trailing_newline(tmp_path):
    path = _write(tmp_path / "a.fa", ">a\nAC\n>b")
    with pytest.raises(InputError, match="record 'b'.*no sequence"):
        list(read_fasta(path))
    assert list(read_fasta(path, allow_empty=True))[-1] == FastaRecord("b", "", "")


# --- bad input --------------------------------------------------------------------------


def test_empty_file(tmp_path):
    path = _write(tmp_path / "empty.fa", "")
    # guards against an empty file silently giving zero records
    with pytest.raises(InputError, match="empty.fa: empty file"):
        list(read_fasta(path))
    with pytest.raises(InputError, match="empty file"):
        list(read_fasta(_write(tmp_path / "empty.fa.gz", gzip.compress(b""))))


def test_sequence_without_header(tmp_path):
    path = _write(tmp_path / "nohead.fa", "\nACGT\n>r\nAC\n")
    with pytest.raises(
        InputError, match=r"nohead.fa, line 2: sequence data before the first '>' header"
    ) as e:
        list(read_fasta(path))
    assert e.value.line == 2


def test_fastq_given_to_read_fasta_says_so(tmp_path):
    path = _write(tmp_path / "r.fq", "@r1\nACGT\n+\nIIII\n")
    with pytest.raises(InputError, match="looks like FASTQ"):
        list(read_fasta(path))


def test_header_without_name(tmp_path):
    with pytest.raises(InputError, match="line 3: header line has no record name"):
        list(read_fasta(_write(tmp_path / "a.fa", ">a\nAC\n>  \nAC\n")))


@pytest.mark.parametrize("bad", ["*", "7", "-", "."])
def test_invalid_character_names_file_record_position(tmp_path, bad):
    path = _write(tmp_path / "bad.fa", f">ok\nACGT\n>r2\nACGTACGTAC\nAC{bad}T\n")
    # guards against stop codons / digits / gaps silently entering training data
    with pytest.raises(InputError, match=r"bad.fa, record 'r2', position 12: invalid character") as e:
        list(read_fasta(path))
    assert (e.value.record, e.value.position) == ("r2", 12)  # 10 + 2 bases before it


def test_invalid_character_position_across_chunks(tmp_path):
    seq = "A" * 1000 + "*" + "C" * 10
    path = _write(tmp_path / "bad.fa", f">r\n{seq}\n")
    with pytest.raises(InputError) as e:
        list(iter_fasta_chunks(path, chunk_size=64, block_size=100))
    assert e.value.position == 1000


def test_validate_false_and_custom_alphabet(tmp_path):
    path = _write(tmp_path / "a.fa", ">r\nAC*GT\n")
    assert next(read_fasta(path, validate=False)).seq == "AC*GT"
    assert next(read_fasta(path, alphabet="ACGT*")).seq == "AC*GT"
    with pytest.raises(InputError, match="position 0"):
        list(read_fasta(_write(tmp_path / "b.fa", ">r\nNACGT\n"), alphabet="ACGT"))


def test_truncated_gzip(tmp_path):
    data = gzip.compress((">r\n" + _random_seq(20000) + "\n").encode())
    path = _write(tmp_path / "cut.fa.gz", data[: len(data) // 2])
    # guards against a cut-off download being read as a shorter genome
    with pytest.raises(InputError, match=r"cut.fa.gz: truncated / corrupt gzip"):
        list(read_fasta(path))


def test_corrupt_gzip(tmp_path):
    data = bytearray(gzip.compress((">r\n" + "ACGT" * 5000 + "\n").encode()))
    data[100:110] = b"\xff" * 10
    with pytest.raises(InputError, match="truncated / corrupt gzip"):
        list(read_fasta(_write(tmp_path / "bad.fa.gz", bytes(data))))


def test_duplicate_names(tmp_path):
    path = _write(tmp_path / "dup.fa", ">a\nAC\n>b\nGG\n>a\nTT\n>a\nCC\n")
    with pytest.raises(
        InputError, match=r"dup.fa, line 5, record 'a': duplicate record name \(first seen on line 1\)"
    ):
        list(read_fasta(path))
    assert [r.name for r in read_fasta(path, on_duplicate="rename")] == ["a", "b", "a_2", "a_3"]
    assert [r.name for r in read_fasta(path, on_duplicate="keep")] == ["a", "b", "a", "a"]
    with pytest.raises(ValueError, match="on_duplicate"):
        list(read_fasta(path, on_duplicate="drop"))


def test_empty_record(tmp_path):
    path = _write(tmp_path / "a.fa", ">a\n>b\nAC\n")
    with pytest.raises(InputError, match="line 1, record 'a': record has no sequence"):
        list(read_fasta(path))
    assert list(read_fasta(path, allow_empty=True)) == [FastaRecord("a", "", ""), FastaRecord("b", "", "AC")]
    assert list(iter_fasta_chunks(path, allow_empty=True)) == [("a", 0, ""), ("b", 0, "AC")]


# --- chunks -----------------------------------------------------------------------------


def test_chunks_reassemble_and_lengths(tmp_path):
    seqs = {"a": _random_seq(1234, 1), "b": _random_seq(77, 2), "c": _random_seq(500, 3)}
    path = tmp_path / "g.fa"
    write_fasta(path, seqs.items(), line_width=61)
    got: dict[str, str] = {}
    for name, offset, chunk in iter_fasta_chunks(path, chunk_size=100, block_size=333):
        assert offset == len(got.get(name, ""))
        assert len(chunk) <= 100
        got[name] = got.get(name, "") + chunk
    assert got == seqs
    assert fasta_lengths(path) == {k: len(v) for k, v in seqs.items()}


def test_chunk_streaming_memory_is_bounded(tmp_path):
    lines = 133_334
    n = 60 * lines  # 8 Mb
    path = tmp_path / "big.fa"
    with open(path, "wb") as fh:
        fh.write(b">chr\n")
        fh.write((b"ACGTTGCAAC" * 6 + b"\n") * lines)
    tracemalloc.start()
    total = 0
    for _, _, chunk in iter_fasta_chunks(path, chunk_size=1 << 16, block_size=1 << 18):
        total += len(chunk)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert total == n
    # guards against accumulating the record: peak is a few blocks, not the 8 MB record
    assert peak < 2_000_000, peak


# --- windows ----------------------------------------------------------------------------


def _naive_windows(records, w, s, last):
    out, dropped = [], 0
    for name, seq in records:
        n, start, next_start = len(seq), 0, 0
        while start + w <= n:
            out.append((name, start, seq[start : start + w]))
            start += s
        next_start = start
        last_full_end = next_start - s + w if next_start > 0 else 0
        if max(last_full_end, next_start) < n:
            if last == "keep":
                out.append((name, next_start, seq[next_start:]))
            elif last == "pad":
                out.append((name, next_start, seq[next_start:].ljust(w, "N")))
            elif last == "shift" and n >= w:
                out.append((name, n - w, seq[n - w :]))
            else:
                dropped += 1
    return out, dropped


@pytest.mark.parametrize("last", ["drop", "keep", "pad", "shift"])
@pytest.mark.parametrize("w,s", [(10, 10), (10, 3), (7, 11), (50, 50)])
@pytest.mark.parametrize("chunk_size", [1, 4, 13, 1000])
def test_windows_match_naive_across_chunk_boundaries(tmp_path, last, w, s, chunk_size):
    records = [("a", _random_seq(103, 4)), ("b", _random_seq(9, 5)), ("c", _random_seq(40, 6))]
    path = tmp_path / "w.fa"
    write_fasta(path, records, line_width=17)
    stream = iter_windows(path, w, s, last=last, chunk_size=chunk_size, block_size=29)
    got = [tuple(x) for x in stream]
    want, dropped = _naive_windows(records, w, s, last)
    assert got == want
    assert stream.stats.windows == len(want)
    assert stream.stats.partial_dropped == dropped
    assert stream.stats.records == 3


def test_windows_drop_is_counted_not_silent():
    stream = iter_windows([("a", "ACGTACGTAC"), ("b", "ACG")], 4)
    assert [w.seq for w in stream] == ["ACGT", "ACGT"]
    # 'a' leaves 'AC' over, 'b' is shorter than one window: both counted, with their bases
    assert stream.stats.partial_dropped == 2
    assert stream.stats.bases_dropped == 5
    assert stream.stats.dropped == [("a", 8, 10), ("b", 0, 3)]


def test_windows_from_records_and_chunks():
    recs = [FastaRecord("a", "", "ACGTACGT")]
    assert [tuple(w) for w in iter_windows(recs, 4, 2)] == [
        ("a", 0, "ACGT"),
        ("a", 2, "GTAC"),
        ("a", 4, "ACGT"),
    ]
    chunks = [("a", 0, "ACG"), ("a", 3, "TACGT")]
    assert [w.seq for w in iter_windows(chunks, 4)] == ["ACGT", "ACGT"]


# --- writing ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.fa", "out.fa.gz"])
@pytest.mark.parametrize("width", [60, 7, None])
def test_write_read_roundtrip(tmp_path, name, width):
    path = tmp_path / name
    assert write_fasta(path, EXPECTED, line_width=width) == 3
    assert list(read_fasta(path)) == EXPECTED
    if name.endswith(".gz"):
        assert sniff_compression(path) == "bgzip"  # indexable by Genome / samtools faidx
    if width == 7 and name == "out.fa":
        assert max(len(x) for x in path.read_text().splitlines() if not x.startswith(">")) == 7


def test_write_is_atomic(tmp_path):
    path = tmp_path / "out.fa"
    path.write_text(">old\nAC\n")

    def records():
        yield ("new", "ACGT")
        raise RuntimeError("job killed")

    with pytest.raises(RuntimeError):
        write_fasta(path, records())
    # guards against a half-written file replacing a good one
    assert path.read_text() == ">old\nAC\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.fa"]


def test_write_rejects_names_with_whitespace(tmp_path):
    with pytest.raises(InputError, match="record 'a b'.*no whitespace"):
        write_fasta(tmp_path / "x.fa", [("a b", "AC")])


def test_write_accepts_dict(tmp_path):
    write_fasta(tmp_path / "x.fa", {"a": "AC", "b": "GT"})
    assert [r.seq for r in read_fasta(tmp_path / "x.fa")] == ["AC", "GT"]
