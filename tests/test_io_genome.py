"""Genome: indexed random access, contig aliases, compression policy."""

from __future__ import annotations

import gzip
import os
import pickle
import random

import pytest

from genolm.errors import InputError
from genolm.io import Genome, contig_aliases, write_fasta


def _seqs():
    rng = random.Random(0)
    return {
        "chr1": "".join(rng.choice("ACGTacgtN") for _ in range(1000)),
        "chr2": "".join(rng.choice("ACGT") for _ in range(333)),
        "chrM": "ACGT" * 50,
    }


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENOLM_CACHE", str(tmp_path / "cache"))


@pytest.fixture(params=["plain", "bgzip", "memory"])
def genome(request, tmp_path):
    seqs = _seqs()
    if request.param == "memory":
        return Genome.from_sequences(seqs)
    path = tmp_path / ("g.fa" if request.param == "plain" else "g.fa.gz")
    write_fasta(path, seqs.items(), line_width=60)  # .gz is written as bgzip
    return Genome(path)


def test_fetch_matches_slices(genome):
    seqs = _seqs()
    assert genome.contigs == ["chr1", "chr2", "chrM"]
    assert genome.lengths == {k: len(v) for k, v in seqs.items()}
    rng = random.Random(1)
    for _ in range(50):
        c = rng.choice(list(seqs))
        s = rng.randrange(len(seqs[c]))
        e = rng.randrange(s, len(seqs[c]) + 1)
        assert genome.fetch(c, s, e) == seqs[c][s:e]  # case (soft mask) kept
    assert genome.fetch("chr2") == seqs["chr2"]
    assert genome.fetch("chr1", 5, 5) == ""


def test_aliases(genome):
    seqs = _seqs()
    assert genome.fetch("1", 10, 20) == seqs["chr1"][10:20]
    for name in ("MT", "M", "chrMT", "chrM"):
        assert name in genome
        assert genome.fetch(name, 0, 4) == "ACGT"
    assert "chr3" not in genome and 3 not in genome
    assert genome.canonical("2") == "chr2"
    assert genome.length("1") == 1000


def test_unknown_contig_did_you_mean(genome):
    # guards against an unknown contig surfacing as a bare KeyError
    with pytest.raises(InputError, match=r"contig 'chr11' is not in the genome. Did you mean .*'chr1'"):
        genome.fetch("chr11", 0, 1)


def test_out_of_bounds(genome):
    with pytest.raises(InputError, match=r"\[990, 1010\) is outside chr1 \(length 1,000\)"):
        genome.fetch("chr1", 990, 1010)
    with pytest.raises(InputError, match="outside"):
        genome.fetch("chr1", -1, 5)
    assert genome.fetch("chr1", 990, 1010, clip=True) == _seqs()["chr1"][990:]
    assert genome.locate("chr1", 990, 1010) == "out_of_bounds"
    assert genome.locate("chrX", 0, 1) == "contig_missing"
    assert genome.locate("1", 0, 1) == "ok"


def test_plain_gzip_cannot_be_indexed(tmp_path):
    path = tmp_path / "g.fa.gz"
    path.write_bytes(gzip.compress(b">chr1\nACGTACGT\n"))
    # policy: an error saying how to bgzip it, unless in_memory=True is passed
    with pytest.raises(InputError, match=r"plain gzip.*cannot be indexed.*bgzip.*in_memory=True"):
        Genome(path)
    g = Genome(path, in_memory=True)
    assert g.fetch("1", 2, 6) == "GTAC"


def test_open_reads_every_genome_file(tmp_path):
    seqs = _seqs()
    plain, bgz = tmp_path / "g.fa", tmp_path / "g.fa.bgz"
    write_fasta(plain, seqs.items(), line_width=60)
    write_fasta(bgz, seqs.items(), line_width=60)
    gz = tmp_path / "g.fa.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    for path, indexed in ((plain, True), (bgz, True), (gz, False)):
        with Genome.open(path) as g:  # plain gzip cannot be indexed: it goes into memory
            assert (g._seqs is None) == indexed, path.name
            assert g.fetch("chr2", 10, 50) == seqs["chr2"][10:50]
    lam = Genome.open("bundled:lambda")  # FASTA
    assert lam.length("NC_001416.1") == 48_502
    cp = Genome.open("bundled:chloroplast")  # GenBank: its sequences
    assert cp.lengths == {"NC_000932.1": 154_478} and cp.fetch("NC_000932", 0, 10).isupper()
    # guards against a missing file read as an empty genome
    with pytest.raises((InputError, FileNotFoundError)):
        Genome.open(tmp_path / "missing.fa")


def test_index_built_in_cache_when_folder_is_read_only(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_fasta(data / "g.fa.gz", _seqs().items())
    os.chmod(data, 0o555)
    try:
        g = Genome(data / "g.fa.gz")
        assert g.fetch("chr2", 0, 5) == _seqs()["chr2"][:5]
        assert sorted(p.name for p in data.iterdir()) == ["g.fa.gz"]  # nothing written beside it
        assert str(g._fai).startswith(str(tmp_path / "cache"))
    finally:
        os.chmod(data, 0o755)


def test_index_beside_and_reused(tmp_path):
    write_fasta(tmp_path / "g.fa", _seqs().items())
    Genome(tmp_path / "g.fa")
    fai = tmp_path / "g.fa.fai"
    assert fai.is_file()
    mtime = fai.stat().st_mtime_ns
    assert Genome(tmp_path / "g.fa").fetch("chr1", 0, 3) == _seqs()["chr1"][:3]
    assert fai.stat().st_mtime_ns == mtime


def test_duplicate_names_are_an_error(tmp_path):
    (tmp_path / "d.fa").write_text(">a\nACGT\n>a\nTTTT\n")
    # htslib would keep the first and only warn: guards against a silently dropped record
    with pytest.raises(InputError, match="duplicate record name"):
        Genome(tmp_path / "d.fa")


def test_ragged_lines_are_an_error(tmp_path):
    (tmp_path / "r.fa").write_text(">a\nACG\nACGTT\nA\n")
    with pytest.raises(InputError, match="cannot index.*same length"):
        Genome(tmp_path / "r.fa")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_crlf_fasta_indexes(tmp_path):
    (tmp_path / "c.fa").write_bytes(b">a\r\nACGTA\r\nCG\r\n>b\r\nTT\r\n")
    g = Genome(tmp_path / "c.fa")
    assert g.fetch("a", 3, 7) == "TACG" and g.fetch("b", 0, 2) == "TT"


def test_compound_header_and_region_records(tmp_path):
    (tmp_path / "g.fa").write_text(
        ">ref|NC_001416.1| lambda\nACGTACGTAA\n>chr17:101-110 region\nTTTTGGGGCC\n"
    )
    g = Genome(tmp_path / "g.fa")
    assert g.fetch("NC_001416.1", 0, 4) == "ACGT"
    assert g.fetch("NC_001416", 8, 10) == "AA"
    # chr17:101-110 is 1-based inclusive: genomic 0-based 100..110
    assert "17" in g and "chr17" in g
    assert g.fetch("17", 100, 104) == "TTTT"
    assert g.fetch("chr17", 108, 110) == "CC"
    assert g.fetch("chr17:101-110", 0, 2) == "TT"
    assert g.locate("17", 99, 101) == "out_of_bounds"
    with pytest.raises(InputError, match="outside the parts of chr17"):
        g.fetch("17", 5, 6)


def test_contig_aliases():
    lam = contig_aliases("gi|9626243|ref|NC_001416.1|")
    assert {"NC_001416.1", "NC_001416"} <= lam and not {"gi", "ref", "9626243"} & lam
    assert {"1", "chr1"} <= contig_aliases("chr01")
    assert {"MT", "M", "chrM"} <= contig_aliases("chrMT")
    assert "chr01" in contig_aliases("Umaydis:chr01:1:+:2476500")
    assert "1" not in contig_aliases("Umaydis:chr01:1:+:2476500") - contig_aliases("chr01")


def test_ambiguous_alias(tmp_path):
    g = Genome.from_sequences({"1": "GT", "chr01": "TT"})
    assert g.fetch("1", 0, 2) == "GT"  # exact names win over aliases
    # both records answer to 'chr1': guards against silently picking one of them
    with pytest.raises(InputError, match=r"'chr1' is ambiguous: it could be any of \['1', 'chr01'\]"):
        g.fetch("chr1", 0, 1)


def test_pickle_reopens(tmp_path):
    write_fasta(tmp_path / "g.fa.gz", _seqs().items())
    g = Genome(tmp_path / "g.fa.gz")
    g.fetch("chr1", 0, 1)
    g2 = pickle.loads(pickle.dumps(g))  # e.g. a DataLoader worker
    assert g2.fetch("chr2", 3, 9) == _seqs()["chr2"][3:9]
