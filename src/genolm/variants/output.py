"""Writing :class:`~genolm.variants.scoring.VariantScores`, chosen by the output's extension.

=========================================  ====================================================
extension                                  what
=========================================  ====================================================
``.vcf`` ``.vcf.gz`` ``.vcf.bgz`` ``.bcf``  the input records, in input order and unchanged, with
                                           INFO ``GENOLM_SCORE``, ``GENOLM_STATUS``,
                                           ``GENOLM_METHOD``, ``GENOLM_REASON`` added (``Number=A``:
                                           one value per ALT; ``.`` where there is none)
``.parquet`` ``.pq``                       one row per (record, ALT): see ``VariantScores.to_frame``
``.tsv`` ``.tsv.gz`` ``.txt``              the same table, tab-separated (NaN as an empty cell)
``.csv`` ``.csv.gz``                       the same table, comma-separated
=========================================  ====================================================

Every write is atomic (temporary sibling, then rename).
"""

from __future__ import annotations

from pathlib import Path

from genolm.errors import ConfigError
from genolm.io.vcf import Variant

#: INFO fields added to a VCF output
INFO_FIELDS = {
    "GENOLM_SCORE": (
        "A",
        "Float",
        "genolm zero-shot score per ALT, mean of both strands (llr/pll/clm: log-likelihood ratio, "
        "negative = ALT less likely than REF; embedding: distance, larger = bigger change)",
    ),
    "GENOLM_STATUS": ("A", "String", "ok, or why this ALT was not scored"),
    "GENOLM_METHOD": ("A", "String", "scoring method per ALT: llr, pll, clm, embedding-cosine, embedding-l2"),
    "GENOLM_REASON": ("A", "String", "why this ALT was not scored"),
}
FORMATS = ("vcf", "parquet", "tsv", "csv")


def output_format(path: str | Path) -> str:
    """``"vcf"``, ``"parquet"``, ``"tsv"`` or ``"csv"`` from the file name."""
    name = Path(path).name.lower()
    for suffix, fmt in (
        ((".vcf", ".vcf.gz", ".vcf.bgz", ".bcf"), "vcf"),
        ((".parquet", ".pq"), "parquet"),
        ((".tsv", ".tsv.gz", ".txt", ".txt.gz"), "tsv"),
        ((".csv", ".csv.gz"), "csv"),
    ):
        if name.endswith(suffix):
            return fmt
    raise ConfigError(
        f"cannot tell the output format of '{path}': end it in .vcf / .vcf.gz / .bcf, .parquet, .tsv or .csv"
    )


def _nan_to_none(x: float):
    return None if x != x else float(x)


def annotate_records(records: list[Variant], scores) -> list[Variant]:
    """``records`` (unsplit, in the order they were scored) with the ``GENOLM_*`` INFO fields added."""
    out: list[Variant] = []
    j = 0
    n = len(scores.variants)
    for rec in records:
        k = max(1, len(rec.alts))
        if j + k > n:
            raise ValueError("scores do not match the records (fewer rows than ALT alleles)")
        rows = range(j, j + k)
        j += k
        info = dict(rec.info)
        if rec.alts:
            info["GENOLM_SCORE"] = tuple(_nan_to_none(scores.score[i]) for i in rows)
            info["GENOLM_STATUS"] = tuple(scores.status[i] for i in rows)
            info["GENOLM_METHOD"] = tuple(scores.method[i] or None for i in rows)
            info["GENOLM_REASON"] = tuple(scores.message[i] or None for i in rows)
            if all(x is None for x in info["GENOLM_SCORE"]):
                del info["GENOLM_SCORE"]
            if all(x is None for x in info["GENOLM_METHOD"]):
                del info["GENOLM_METHOD"]
            if all(x is None for x in info["GENOLM_REASON"]):
                del info["GENOLM_REASON"]
        else:
            info["GENOLM_STATUS"] = (scores.status[rows[0]],)
            # htslib needs an ALT column: '.', which reads back as no ALT
            rec = rec._replace(alts=(".",))
        out.append(rec._replace(info=info))
    if j != n:
        raise ValueError("scores do not match the records (more rows than ALT alleles)")
    return out


def write_scores(
    path: str | Path,
    scores,
    records: list[Variant] | None = None,
    *,
    header_from: str | Path | None = None,
    contigs=None,
) -> Path:
    """Write ``scores`` to ``path`` in the format its extension names (see the module docstring).

    ``records`` (the unsplit input records, in order) are needed for a VCF; ``header_from`` (the
    input VCF, when it has a header) keeps its meta lines; ``contigs`` (a Genome or mapping) adds
    contig lines.
    """
    from genolm.atomic import atomic_path

    path = Path(path)
    fmt = output_format(path)
    if fmt == "vcf":
        from genolm.io.vcf import write_vcf

        if records is None:
            raise ValueError("writing a VCF needs the input records (records=...)")
        write_vcf(
            path,
            annotate_records(records, scores),
            header_from=header_from,
            info_fields=INFO_FIELDS,
            contigs=contigs,
        )
        return path
    df = scores.to_frame()
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            df.to_parquet(tmp, index=False)
        else:
            comp = "gzip" if path.name.endswith(".gz") else None
            df.to_csv(tmp, sep="\t" if fmt == "tsv" else ",", index=False, compression=comp)
    return path
