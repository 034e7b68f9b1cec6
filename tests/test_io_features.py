"""GFF3 and GenBank features, gene models, intervals."""

from __future__ import annotations

import gzip

import pytest
from Bio.Seq import Seq

from genolm.data import genome_path
from genolm.errors import InputError
from genolm.io import (
    Feature,
    extract,
    feature_intervals,
    genes,
    iter_gff,
    overlap,
    read_genbank,
    read_gff,
)

# chrA: + strand gene g1 (mRNA t1: exons 1..10, 21..30, 41..50; CDS 5..10, 21..30, 41..44)
#       - strand gene g2 (mRNA t2: exons 101..110, 121..130; CDS 105..110, 121..126)
# CDS lines come before their mRNA (forward references are legal GFF3)
GFF = """##gff-version 3
# a comment
chrA\ttest\tgene\t1\t50\t.\t+\t.\tID=g1;Name=alpha
chrA\ttest\tCDS\t5\t10\t.\t+\t0\tID=c1;Parent=t1
chrA\ttest\tCDS\t21\t30\t.\t+\t2\tID=c1;Parent=t1
chrA\ttest\tCDS\t41\t44\t.\t+\t2\tID=c1;Parent=t1
chrA\ttest\tmRNA\t1\t50\t.\t+\t.\tID=t1;Parent=g1
chrA\ttest\texon\t1\t10\t.\t+\t.\tParent=t1
chrA\ttest\texon\t21\t30\t.\t+\t.\tParent=t1
chrA\ttest\texon\t41\t50\t.\t+\t.\tParent=t1

chrA\ttest\tgene\t101\t130\t.\t-\t.\tID=g2;note=a%3Bb%2Cc
chrA\ttest\tmRNA\t101\t130\t.\t-\t.\tID=t2;Parent=g2
chrA\ttest\texon\t101\t110\t.\t-\t.\tParent=t2
chrA\ttest\texon\t121\t130\t.\t-\t.\tParent=t2
chrA\ttest\tCDS\t105\t110\t.\t-\t0\tParent=t2
chrA\ttest\tCDS\t121\t126\t.\t-\t0\tParent=t2
chrB\ttest\trepeat_region\t1\t5\t.\t.\t.\t.
##FASTA
>chrA
ACGT
"""


def _gff(tmp_path, text=GFF, name="a.gff3"):
    p = tmp_path / name
    p.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    return p


def test_coordinates_converted_once(tmp_path):
    feats = list(iter_gff(_gff(tmp_path)))
    g1 = feats[0]
    # GFF 1..50 (1-based inclusive) -> [0, 50) 0-based half-open
    assert (g1.seqid, g1.start, g1.end, g1.strand, g1.type, g1.id) == ("chrA", 0, 50, "+", "gene", "g1")
    assert len(g1) == 50
    assert feats[1].phase == 0 and feats[2].phase == 2
    assert feats[-1].type == "repeat_region" and feats[-1].attributes == {}
    # percent-decoded after splitting: an encoded comma is part of the value, not a separator
    assert [f for f in feats if f.id == "g2"][0].attributes["note"] == ["a;b,c"]
    assert len(feats) == 15  # parsing stopped at ##FASTA


@pytest.mark.parametrize("name", ["a.gff3", "a.gff3.gz"])
def test_hierarchy(tmp_path, name):
    roots = read_gff(_gff(tmp_path, name=name))
    assert [r.id or r.type for r in roots] == ["g1", "g2", "repeat_region"]
    t1 = roots[0].children[0]
    assert t1.id == "t1" and sorted(c.type for c in t1.children) == [
        "CDS",
        "CDS",
        "CDS",
        "exon",
        "exon",
        "exon",
    ]
    assert len(read_gff(_gff(tmp_path, name=name), hierarchy=False)) == 15


def test_gene_models_introns_utrs(tmp_path):
    gs = genes(read_gff(_gff(tmp_path)))
    g1, g2 = gs
    assert (g1.id, g1.name, g2.id) == ("g1", "alpha", "g2")
    (t1,) = g1.transcripts
    assert [(x.start, x.end) for x in t1.exons] == [(0, 10), (20, 30), (40, 50)]
    assert [(x.start, x.end) for x in t1.introns] == [(10, 20), (30, 40)]
    assert [(u.type, u.start, u.end) for u in t1.utrs] == [
        ("five_prime_UTR", 0, 4),
        ("three_prime_UTR", 44, 50),
    ]
    (t2,) = g2.transcripts
    # minus strand: transcript order is 5' -> 3', i.e. descending coordinates
    assert [(x.start, x.end) for x in t2.exons] == [(120, 130), (100, 110)]
    assert [(x.start, x.end) for x in t2.introns] == [(110, 120)]
    assert [(u.type, u.start, u.end) for u in t2.utrs] == [
        ("five_prime_UTR", 126, 130),
        ("three_prime_UTR", 100, 104),
    ]


def test_cds_extraction_minus_strand():
    seq = "".join("ACGT"[i % 4] for i in range(200))
    parts = [Feature("c", 120, 126, "-", "CDS"), Feature("c", 104, 110, "-", "CDS")]
    rc = str(Seq(seq[120:126]).reverse_complement()) + str(Seq(seq[104:110]).reverse_complement())
    assert extract(seq, parts) == rc
    assert extract({"c": seq}, parts) == rc


def test_feature_intervals_and_overlap(tmp_path):
    iv = feature_intervals(genes(read_gff(_gff(tmp_path))))["chrA"]
    assert iv["exon"] == [(0, 10), (20, 30), (40, 50), (100, 110), (120, 130)]
    assert iv["intron"] == [(10, 20), (30, 40), (110, 120)]
    assert iv["CDS"] == [(4, 10), (20, 30), (40, 44), (104, 110), (120, 126)]
    assert iv["gene"] == [(0, 50), (100, 130)]
    assert iv["UTR"] == [(0, 4), (44, 50), (100, 104), (126, 130)]
    assert overlap(iv["intron"], 5, 35) == 15
    assert overlap(iv["intron"], 50, 100) == 0
    assert overlap(iv["exon"], 0, 200) == 50


def test_cds_only_and_parentless(tmp_path):
    text = (
        "c\tx\tCDS\t11\t20\t.\t+\t0\tParent=mRNA:u1\n"
        "c\tx\tCDS\t31\t40\t.\t+\t0\tParent=mRNA:u1\n"
        "c\tx\tmRNA\t11\t40\t.\t+\t.\tID=mRNA:u1\n"
        "c\tx\tCDS\t61\t90\t.\t-\t0\tID=lonely\n"
    )
    gs = genes(read_gff(_gff(tmp_path, text)))
    assert [g.id for g in gs] == ["mRNA:u1", "lonely"]
    assert all(g.synthesized for g in gs)
    t = gs[0].transcripts[0]
    assert t.exons_from_cds and [(e.start, e.end) for e in t.exons] == [(10, 20), (30, 40)]
    assert [(i.start, i.end) for i in t.introns] == [(20, 30)]
    assert t.utrs == []  # unknown, not invented


@pytest.mark.parametrize(
    "line,match",
    [
        ("chrA\tt\tgene\t1\t50\t.\t+\t.", "expected 9 tab-separated columns, found 8"),
        ("chrA t gene 1 50 . + . ID=x", "separated by spaces"),
        ("chrA\tt\tgene\tone\t50\t.\t+\t.\tID=x", "start / end must be integers"),
        ("chrA\tt\tgene\t50\t1\t.\t+\t.\tID=x", "bad coordinates 50..1"),
        ("chrA\tt\tgene\t0\t1\t.\t+\t.\tID=x", "bad coordinates 0..1"),
        ("chrA\tt\tgene\t1\t5\t.\tx\t.\tID=x", "strand must be"),
        ("chrA\tt\tCDS\t1\t5\t.\t+\t3\tID=x", "phase must be"),
        ("chrA\tt\tgene\t1\t5\thigh\t+\t.\tID=x", "score must be"),
        ('chrA\tt\tgene\t1\t5\t.\t+\t.\tgene_id "x";', "looks like GTF"),
        ("chrA\tt\texon\t1\t5\t.\t+\t.\tParent=nowhere", "Parent 'nowhere' is not the ID"),
    ],
)
def test_bad_gff_lines_name_file_and_line(tmp_path, line, match):
    path = _gff(tmp_path, "##gff-version 3\nchrA\tt\tgene\t1\t50\t.\t+\t.\tID=ok\n" + line + "\n")
    with pytest.raises(InputError, match=r"a.gff3, line 3: .*" + match):
        read_gff(path)


def test_missing_parent_policy_and_empty(tmp_path):
    path = _gff(tmp_path, "c\tt\texon\t1\t5\t.\t+\t.\tParent=nowhere\n")
    assert [f.type for f in read_gff(path, on_missing_parent="root")] == ["exon"]
    with pytest.raises(InputError, match="no features"):
        read_gff(_gff(tmp_path, "##gff-version 3\n", name="e.gff3"))


def test_truncated_gzip_gff(tmp_path):
    data = gzip.compress(GFF.split("##FASTA")[0].encode() * 200)
    (tmp_path / "cut.gff3.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut.gff3.gz: truncated / corrupt gzip"):
        read_gff(tmp_path / "cut.gff3.gz")


def test_crlf_gff(tmp_path):
    a = [(f.seqid, f.start, f.end, f.attributes) for f in iter_gff(_gff(tmp_path))]
    b = [
        (f.seqid, f.start, f.end, f.attributes)
        for f in iter_gff(_gff(tmp_path, GFF.replace("\n", "\r\n"), "b.gff3"))
    ]
    assert a == b


# --- GenBank: the bundled chloroplast ---------------------------------------------------


@pytest.fixture(scope="module")
def chloroplast():
    (rec,) = list(read_genbank(genome_path("chloroplast")))
    return rec


def test_genbank_record(chloroplast):
    assert chloroplast.name == "NC_000932.1"
    assert len(chloroplast.seq) == 154_478
    assert chloroplast.topology == "circular"
    gs = genes(chloroplast.features)
    assert len(gs) == 129
    by_tag = {g.id: g for g in gs}
    trnh = by_tag["ArthCt088"]  # trnH, complement(4..76): 1-based -> [3, 76) on '-'
    assert (trnh.start, trnh.end, trnh.strand, trnh.name) == (3, 76, "-", "trnH")
    assert trnh.transcripts[0].type == "tRNA"


def test_genbank_introns_and_split_cds(chloroplast):
    gs = genes(chloroplast.features)
    coding = [t for g in gs for t in g.transcripts if t.cds]
    assert len(coding) == 85
    multi = [t for t in coding if len(t.cds) > 1]
    assert len(multi) >= 10  # rps16, atpF, rpoC1, ycf3, clpP, petB, ...
    ycf3 = next(t for t in multi if t.cds[0].attr("gene") == "ycf3")
    assert len(ycf3.cds) == 3 and len(ycf3.introns) == 2
    assert all(i.end - i.start > 100 for i in ycf3.introns)
    # trans-spliced rps12: its first exon lies ~28 kb away; no bogus 28 kb intron is derived
    for t in (t for t in multi if t.cds[0].attr("gene") == "rps12"):
        assert all(i.end - i.start < 5000 for i in t.introns)
    trna_introns = [t for g in gs for t in g.transcripts if t.type == "tRNA" and t.introns]
    assert len(trna_introns) >= 5


def test_genbank_cds_translate(chloroplast):
    gs = genes(chloroplast.features)
    coding = [t for g in gs for t in g.transcripts if t.cds]
    good_start = good_frame = 0
    for t in coding:
        cds = t.cds_seq(chloroplast.seq)
        good_start += cds[:3] in ("ATG", "GTG", "ACG")
        protein = str(Seq(cds).translate(table=11))
        good_frame += len(cds) % 3 == 0 and "*" not in protein[:-1]
    # chloroplast genes have a few exceptions (RNA editing, ACG starts): a high fraction, not all
    assert good_start / len(coding) > 0.9
    assert good_frame / len(coding) > 0.9


def test_genbank_intervals(chloroplast):
    iv = feature_intervals(genes(chloroplast.features))["NC_000932.1"]
    assert iv["intron"] and iv["CDS"] and iv["exon"]
    total = sum(e - s for s, e in iv["gene"])
    assert 50_000 < total < 154_478
    assert overlap(iv["CDS"], 0, 154_478) == sum(e - s for s, e in iv["CDS"])


def test_genbank_flat_keeps_source(chloroplast):
    (rec,) = list(read_genbank(genome_path("chloroplast"), hierarchy=False))
    assert any(f.type == "source" for f in rec.features)
    assert sum(f.type == "gene" for f in rec.features) == 129


def test_genbank_mrna_intron_and_groups():
    from Bio.Seq import Seq
    from Bio.SeqFeature import CompoundLocation, SeqFeature, SimpleLocation
    from Bio.SeqRecord import SeqRecord

    from genolm.io import genbank_features

    def feat(kind, parts, **q):
        locs = [SimpleLocation(s, e, strand=1) for s, e in parts]
        loc = locs[0] if len(locs) == 1 else CompoundLocation(locs)
        return SeqFeature(loc, type=kind, qualifiers={k: [v] for k, v in q.items()})

    rec = SeqRecord(Seq("A" * 300), id="X.1")
    rec.features = [
        feat("repeat_region", [(200, 210)]),
        feat("gene", [(0, 100)], locus_tag="T1", gene="abc"),
        feat("mRNA", [(0, 30), (50, 100)], locus_tag="T1"),
        feat("CDS", [(10, 30), (50, 90)], locus_tag="T1", codon_start="2"),
        feat("intron", [(30, 50)], locus_tag="T1"),
        feat("exon", [(0, 30)], locus_tag="T1", number="1"),
        feat("CDS", [(120, 150)], locus_tag="T2"),  # no gene feature
    ]
    roots = genbank_features(rec)
    assert sorted(r.id or r.type for r in roots) == ["T1", "T2", "repeat_region"]
    g1, g2 = genes(roots)
    (t,) = g1.transcripts
    assert (g1.id, g1.name, t.type, t.exons_from_cds) == ("T1", "abc", "mRNA", False)
    assert [(x.start, x.end) for x in t.exons] == [(0, 30), (50, 100)]
    assert [(x.start, x.end, x.phase) for x in t.cds] == [(10, 30, 1), (50, 90, 2)]
    assert [(x.start, x.end) for x in t.introns] == [(30, 50)]
    assert [(u.type, u.start, u.end) for u in t.utrs] == [
        ("five_prime_UTR", 0, 10),
        ("three_prime_UTR", 90, 100),
    ]
    assert [f.type for f in t.other] == ["intron"]  # the annotated intron is kept
    assert [f.type for f in g1.other] == ["exon"]  # explicit exon kept, not a second transcript
    assert g2.synthesized is False and g2.attributes["genolm_synthesized"] == ["gene"]
    assert g2.transcripts[0].exons_from_cds


def test_genbank_empty_file(tmp_path):
    (tmp_path / "e.gb").write_text("")
    with pytest.raises(InputError, match="no GenBank records"):
        list(read_genbank(tmp_path / "e.gb"))
