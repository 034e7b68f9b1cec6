"""Real-data checks on ../shared/data (skipped when it is absent)."""

from __future__ import annotations

import collections
import time

import pytest
from Bio.Seq import Seq

from genolm.io import (
    Genome,
    check_against_genome,
    genes,
    iter_fasta_chunks,
    read_fasta_folder,
    read_gff,
    read_task_table,
    read_vcf,
)

pytestmark = pytest.mark.shared


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    # indexes of the read-only shared data go to a per-test cache, never beside the data
    monkeypatch.setenv("GENOLM_CACHE", str(tmp_path / "cache"))


def test_chr20_bgzip_random_access_and_streaming(shared_data):
    path = shared_data / "genomes" / "human_GRCh37_chr20.fa.gz"
    g = Genome(path)
    assert g.lengths == {"20": 63_025_520}
    assert g.fetch("chr20", 0, 10) == "N" * 10  # alias chr20 -> 20
    probe = {}
    start = time.perf_counter()
    total = 0
    for _, offset, chunk in iter_fasta_chunks(path, chunk_size=1 << 22):
        total += len(chunk)
        if offset in (30 * (1 << 22), 14 * (1 << 22)):
            probe[offset] = chunk[:1000]
    elapsed = time.perf_counter() - start
    assert total == 63_025_520
    for offset, seq in probe.items():
        assert g.fetch("20", offset, offset + 1000) == seq
    # streaming in large blocks: tens of MB/s (loose bound: the machine is shared)
    assert total / elapsed > 10e6, f"{total / elapsed / 1e6:.1f} MB/s"


def test_umaydis_gff_hierarchy(shared_data):
    feats = read_gff(shared_data / "genomes" / "umaydis.gff3.gz")
    gs = genes(feats)
    assert len(gs) == 6787  # one mRNA per gene, no gene lines: genes synthesized
    assert all(g.synthesized and len(g.transcripts) == 1 for g in gs)
    assert sum(len(g.transcripts[0].cds) for g in gs) == 9778
    assert sum(len(g.transcripts[0].introns) for g in gs) > 2000
    genome = Genome(shared_data / "genomes" / "umaydis_genome.fasta.gz", in_memory=True)
    assert "chr01" in genome  # 'Umaydis:chr01:1:+:2476500' answers to chr01
    sample = gs[::25]
    good = 0
    for g in sample:
        cds = g.transcripts[0].cds_seq(genome)
        good += cds[:3] == "ATG" and "*" not in str(Seq(cds).translate())[:-1]
    assert good / len(sample) > 0.9


def test_gpn_vcf_against_brca1_region(shared_data):
    vs = list(read_vcf(shared_data / "vep" / "gpn_example_hg38.vcf"))
    assert len(vs) == 2000
    checks = check_against_genome(vs, shared_data / "vep" / "GRCh38_chr17_42425000-43600000.fa")
    assert len(checks) == 2000  # every record gets a status
    counts = collections.Counter(c.status for c in checks)
    assert counts["ok"] == 9
    assert counts["ref_mismatch"] == 0
    # chr17 outside the region is out_of_bounds, every other chromosome contig_missing
    assert counts["out_of_bounds"] == sum(v.contig == "17" for v in vs) - 9
    assert counts["contig_missing"] == sum(v.contig != "17" for v in vs)


def test_task_tables(shared_data):
    gue = read_task_table(shared_data / "tasks" / "gue" / "prom" / "prom_core_all" / "dev.csv")
    assert len(gue) == 5920 and set(gue["label"]) == {0, 1}
    idna = read_task_table(
        shared_data / "tasks" / "idna_ms_plant" / "6mA_A.thaliana" / "test.tsv", sequence_col="text"
    )
    assert idna["text"].str.len().eq(41).all()
    ff = read_fasta_folder(
        shared_data / "tasks" / "cnn_promoter", pattern="Arabidopsis_*tata.fa", on_duplicate="keep"
    )
    assert ff.classes == ["Arabidopsis_non_tata", "Arabidopsis_tata"]
    assert ff.frame["label"].value_counts().to_dict() == {
        "Arabidopsis_non_tata": 5905,
        "Arabidopsis_tata": 1497,
    }
