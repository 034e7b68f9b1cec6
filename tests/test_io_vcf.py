"""VCF reading / writing and checking against a genome."""

from __future__ import annotations

import gzip

import pysam
import pytest

from genolm.errors import InputError
from genolm.io import (
    CHECK_STATUSES,
    Genome,
    InfoField,
    Variant,
    check_against_genome,
    read_vcf,
    split_multiallelic,
    write_vcf,
)

# chr1 = ACGTACGTAC GGGGCCCCAA (20 bp)
SEQS = {"chr1": "ACGTACGTACGGGGCCCCAA", "chr2": "TTTTTTTTTT"}

VCF = """##fileformat=VCFv4.2
##contig=<ID=1,length=20>
##contig=<ID=chr2>
##contig=<ID=chr9>
##INFO=<ID=AF,Number=A,Type=Float,Description="allele freq">
##INFO=<ID=DB,Number=0,Type=Flag,Description="dbSNP">
##FILTER=<ID=q10,Description="low qual">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
1\t1\trs1\tA\tG\t50\tPASS\tAF=0.5;DB
1\t4\trs2\tT\tC,G\t.\tq10\tAF=0.1,0.2
1\t11\tbad_ref\tA\tT\t.\t.\t.
chr9\t5\tnowhere\tA\tT\t.\t.\t.
chr2\t10\tedge\tTT\tT\t.\t.\t.
1\t15\tdel\tCCCC\tC\t.\t.\t.
"""


@pytest.fixture
def genome():
    return Genome.from_sequences(SEQS)


@pytest.fixture
def vcf(tmp_path):
    p = tmp_path / "in.vcf"
    p.write_text(VCF)
    return p


def test_read_vcf(vcf):
    vs = list(read_vcf(vcf))
    assert len(vs) == 6
    v = vs[0]
    # POS 1 (1-based) -> pos 0
    assert (v.contig, v.pos, v.id, v.ref, v.alts, v.qual, v.filter) == (
        "1",
        0,
        "rs1",
        "A",
        ("G",),
        50.0,
        ("PASS",),
    )
    assert v.info["AF"] == pytest.approx((0.5,)) and v.info["DB"] is True
    assert (v.index, v.line, v.end) == (0, 9, 1)
    multi = vs[1]
    assert multi.alts == ("C", "G") and multi.filter == ("q10",) and multi.qual is None
    assert vs[5].line == 14 and vs[5].id == "del"


def test_read_bgzip_and_bcf(tmp_path, vcf):
    gz = tmp_path / "in.vcf.gz"
    pysam.tabix_compress(str(vcf), str(gz))
    assert [v[:5] for v in read_vcf(gz)] == [v[:5] for v in read_vcf(vcf)]
    bcf = tmp_path / "in.bcf"
    write_vcf(bcf, read_vcf(vcf), header_from=vcf)
    got = list(read_vcf(bcf))
    assert [v[:5] for v in got] == [v[:5] for v in read_vcf(vcf)]
    assert got[0].line is None and got[0].index == 0


def test_split_multiallelic(vcf):
    vs = list(split_multiallelic(read_vcf(vcf)))
    assert len(vs) == 7
    a, b = vs[1], vs[2]
    assert (a.alts, b.alts) == (("C",), ("G",))
    assert a.info["AF"] == pytest.approx(0.1) and b.info["AF"] == pytest.approx(0.2)
    assert a.index == b.index == 1


def test_headerless_variant_list(tmp_path):
    p = tmp_path / "list.vcf"
    p.write_text("1\t2\tv1\tC\tT\n\n17\t43106487\tv2\tA\tT,G\n")
    vs = list(read_vcf(p))
    assert [(v.contig, v.pos, v.id, v.alts, v.line) for v in vs] == [
        ("1", 1, "v1", ("T",), 1),
        ("17", 43106486, "v2", ("T", "G"), 3),
    ]


@pytest.mark.parametrize(
    "line,match",
    [
        ("1\t2\tv1\tC\n", "at least 5"),
        ("1\tx\tv1\tC\tT\n", "POS must be an integer"),
        ("1\t2\tv1\tC*\tT\n", "REF must be"),
    ],
)
def test_headerless_bad_lines(tmp_path, line, match):
    p = tmp_path / "list.vcf"
    p.write_text("1\t2\tok\tC\tT\n" + line)
    with pytest.raises(InputError, match=rf"list.vcf, line 2.*{match}"):
        list(read_vcf(p))


def test_check_statuses(vcf, genome):
    checks = check_against_genome(read_vcf(vcf), genome)
    # every record gets a status, none is dropped
    assert [c.variant.id for c in checks] == ["rs1", "rs2", "bad_ref", "nowhere", "edge", "del"]
    assert [c.status for c in checks] == ["ok", "ok", "ref_mismatch", "contig_missing", "out_of_bounds", "ok"]
    assert set(c.status for c in checks) <= set(CHECK_STATUSES)
    assert checks[2].message == "REF 'A' but genome has 'G' at 1:11"
    assert "chr9" in checks[3].message


def test_check_strict_names_file_line_record(vcf, genome):
    # guards against scoring variants against the wrong reference without noticing
    with pytest.raises(
        InputError, match=r"in.vcf, line 11, record 'bad_ref': REF 'A' but genome has 'G' at 1:11"
    ):
        check_against_genome(read_vcf(vcf), genome, strict=True)
    only_missing = [v for v in read_vcf(vcf) if v.id == "nowhere"]
    with pytest.raises(InputError, match=r"line 12, record 'nowhere': contig 'chr9' is not in the genome"):
        check_against_genome(only_missing, genome, strict=True)


def test_check_with_genome_path_and_n(tmp_path):
    fa = tmp_path / "g.fa"
    fa.write_text(">chr1\nACGTNCGT\n")
    vs = [
        Variant("1", 0, None, "N", ("T",)),
        Variant("1", 4, None, "A", ("T",)),
        Variant("1", 1, None, "cg", ()),
    ]
    # REF N matches any base; a genome N matches only N; case is ignored
    assert [c.status for c in check_against_genome(vs, fa)] == ["ok", "ref_mismatch", "ok"]


def test_write_vcf_with_scores_roundtrip(tmp_path, vcf):
    vs = [
        v._replace(info={"score": -1.25 * i, "reason": "ok; scored" if i else "ref mismatch"})
        for i, v in enumerate(read_vcf(vcf))
    ]
    out = tmp_path / "scores.vcf.gz"
    n = write_vcf(
        out,
        vs,
        info_fields={"score": InfoField("1", "Float", "model LLR"), "reason": ("1", "String", "why")},
        contigs={"1": 20, "chr2": 10},
        sort=True,
        index=True,
    )
    assert n == 6
    header = str(pysam.VariantFile(str(out)).header)
    assert '##INFO=<ID=score,Number=1,Type=Float,Description="model LLR">' in header
    assert "##contig=<ID=1,length=20>" in header
    back = list(read_vcf(out))
    assert [b.id for b in back] == ["rs1", "rs2", "bad_ref", "del", "edge", "nowhere"]  # sorted
    by_id = {b.id: b for b in back}
    assert by_id["rs2"].info["score"] == pytest.approx(-1.25)
    assert by_id["rs2"].info["reason"] == "ok; scored"  # ';' survives (percent-encoded on disk)
    assert by_id["rs1"].info["reason"] == "ref mismatch"
    assert by_id["rs2"].alts == ("C", "G")
    # bgzip + tabix: random access works
    with pysam.TabixFile(str(out)) as tbx:
        assert len(list(tbx.fetch("1", 0, 5))) == 2
    raw = gzip.decompress(out.read_bytes()).decode()
    assert "reason=ok%3B%20scored" in raw


def test_write_vcf_infers_info_and_keeps_header(tmp_path, vcf):
    vs = [v._replace(info={**v.info, "flagged": True, "n": 3}) for v in read_vcf(vcf)]
    out = tmp_path / "o.vcf"
    write_vcf(out, vs, header_from=vcf)
    text = out.read_text()
    assert "##INFO=<ID=n,Number=1,Type=Integer" in text and "##INFO=<ID=flagged,Number=0,Type=Flag" in text
    assert '##FILTER=<ID=q10,Description="low qual">' in text
    back = list(read_vcf(out))
    assert back[0].info["n"] == 3 and back[0].info["flagged"] is True and back[0].info["DB"] is True


def test_write_vcf_is_atomic(tmp_path):
    out = tmp_path / "o.vcf"
    out.write_text("old")
    bad = [Variant("1", 0, "x", "A", ("T",), info={"score": "not a float"})]
    with pytest.raises(InputError, match="record 'x': cannot write"):
        write_vcf(out, bad, info_fields={"score": ("1", "Float", "")})
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.vcf"]
