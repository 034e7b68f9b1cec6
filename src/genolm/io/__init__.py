"""Sequence I/O: FASTA / FASTQ, indexed genomes, GenBank / GFF3 features, VCF, task tables.

Every reader detects compression from magic bytes (plain, gzip, bgzip, bzip2, xz), raises
:class:`~genolm.errors.InputError` naming the file and record / line for bad input, and
converts 1-based file coordinates to 0-based half-open exactly once, where it reads them.

=====================  ===========================================================
module                 what
=====================  ===========================================================
:mod:`.fasta`          ``read_fasta``, ``iter_fasta_chunks``, ``iter_windows``, ``write_fasta``
:mod:`.fastq`          ``read_fastq``, ``write_fastq``
:mod:`.genome`         ``Genome``: random access, contig aliases (``chr1`` <-> ``1``); ``Genome.open(path | bundled:NAME)``
:mod:`.gff`            ``Feature``, ``read_gff``, ``genes`` -> ``Gene``, ``feature_intervals``
:mod:`.genbank`        ``read_genbank`` -> records with ``Feature`` hierarchies
:mod:`.vcf`            ``read_vcf``, ``write_vcf``, ``check_against_genome``, ``split_multiallelic``
:mod:`.tables`         ``read_task_table`` (CSV / TSV / Parquet / JSONL), ``read_fasta_folder``
:mod:`.streams`        ``-`` as a path: standard input for every reader (spooled once), stdout for writers
=====================  ===========================================================
"""

from __future__ import annotations

import importlib

# names -> submodule; loaded on first use so `import genolm.io` stays cheap (pandas, pysam and
# Biopython load only with the readers that need them)
_EXPORTS = {
    "fasta": [
        "FastaRecord", "Window", "WindowStats", "WindowStream", "fasta_lengths", "iter_fasta_chunks",
        "iter_windows", "open_binary", "read_fasta", "sniff_compression", "write_fasta",
    ],
    "fastq": ["FastqRecord", "read_fastq", "write_fastq"],
    "genbank": ["GenBankRecord", "genbank_features", "read_genbank"],
    "genome": ["Genome", "contig_aliases"],
    "gff": [
        "Feature", "Gene", "Transcript", "build_hierarchy", "extract", "feature_intervals", "genes",
        "iter_gff", "overlap", "read_gff",
    ],
    "streams": ["STDIO", "is_stdio", "refuse_stdin", "resolve_input", "stdin_file"],
    "tables": ["FastaFolder", "read_fasta_folder", "read_task_table", "sniff_table_format"],
    "vcf": [
        "CHECK_STATUSES", "InfoField", "Variant", "VariantCheck", "check_against_genome", "read_vcf",
        "split_multiallelic", "write_vcf",
    ],
}  # fmt: skip
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"genolm.io.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genolm.io' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
