"""GenBank reading (via Biopython) into the common :class:`~genolm.io.gff.Feature` hierarchy.

Each record becomes ``GenBankRecord(name, description, seq, features, topology)``.  Its
features form the same hierarchy as GFF3 (gene -> transcript -> exon / CDS), so
:func:`~genolm.io.gff.genes` and :func:`~genolm.io.gff.feature_intervals` work on both:

* ``gene``, ``mRNA``, ``CDS``, ``tRNA``, ``rRNA``, ``ncRNA``, ... features are grouped into one
  gene by ``/locus_tag``, else by ``/gene``.  A group without a ``gene`` feature gets a
  synthesized one (``attributes["genolm_synthesized"]``).
* Each ``mRNA`` / RNA feature is a transcript; a compound ``join(...)`` location becomes one
  ``exon`` child per part, in join (transcript) order, numbered by a ``rank`` attribute.
* A ``CDS`` attaches its parts as ``CDS`` children to the group's mRNA that contains it; if
  there is none, to a synthesized ``mRNA`` whose exons are the CDS parts (UTRs unknown).
  ``/codon_start`` becomes the first part's ``phase``; later parts get GFF3 phases.
* ``intron`` and UTR features that name a gene are kept as children of that gene's first
  transcript (or of the gene, if it has none); explicit ``exon`` and other features naming a
  gene are children of the gene (they land in ``Gene.other``); features that name no gene
  (``source``, ``repeat_region``, ...) are kept at the top level.  Nothing is dropped.
"""

from __future__ import annotations

import io
import lzma
import warnings
import zlib
from collections.abc import Iterator
from typing import NamedTuple

from genolm.alphabet import validate as validate_seq
from genolm.errors import InputError
from genolm.io.fasta import PathLike, _raise_read_error, open_binary
from genolm.io.gff import UTR_TYPES, Feature, build_hierarchy

#: GenBank keys that are transcripts (a CDS is handled on its own)
RNA_KEYS = (
    "mRNA",
    "tRNA",
    "rRNA",
    "ncRNA",
    "misc_RNA",
    "tmRNA",
    "precursor_RNA",
    "snRNA",
    "snoRNA",
    "lncRNA",
)
_STRAND = {1: "+", -1: "-", 0: ".", None: "."}


def is_genbank(path: PathLike) -> bool:
    """True when ``path`` (any compression) starts with a GenBank ``LOCUS`` line: sniffed, not guessed from the name."""
    with open_binary(path) as fh:
        try:
            head = fh.read(4096)
        except (EOFError, OSError, zlib.error, lzma.LZMAError) as e:
            # a compressed file shorter than the sniff (or corrupt) fails here, before any reader
            _raise_read_error(path, e)
    return head.lstrip().startswith(b"LOCUS")


class GenBankRecord(NamedTuple):
    """One GenBank record.  ``name`` is the accession.version (``NC_000932.1``); ``seq`` a ``str``
    (``""`` when the file holds no sequence); ``features`` as :func:`genbank_features` returns them."""

    name: str
    description: str
    seq: str
    features: list[Feature]
    topology: str


#: Biopython's warnings for a record cut short (it keeps the bases it read and goes on)
_TRUNCATED = ("Premature end of file", "Expected sequence length")


def _refuse_truncated(caught, path: str, record: str) -> None:
    """An InputError when Biopython warned that ``record`` is cut short; its other warnings are
    passed on as they were."""
    for w in caught:
        text = str(w.message)
        if text.startswith(_TRUNCATED):
            raise InputError(
                f"the record is cut short ({'; '.join(str(x.message) for x in caught)})",
                path=path,
                record=record,
                hint="the file is probably truncated (a record ends with '//'): download or copy it again",
            )
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def read_genbank(path: PathLike, *, hierarchy: bool = True) -> Iterator[GenBankRecord]:
    """Read the records of a GenBank file (plain or compressed, by magic bytes).

    Parameters
    ----------
    hierarchy : bool
        Features as top-level features with ``children`` (``True``) or flat.  Default is ``True``.

    Yields
    ------
    GenBankRecord

    Raises
    ------
    genolm.errors.InputError
        Naming the file, record and 0-based position of a character outside the IUPAC alphabet
        (the check FASTA input gets), or a record name used twice in the file.
    """
    from Bio import SeqIO
    from Bio.Seq import UndefinedSequenceError

    p = str(path)
    n = 0
    seen: dict[str, int] = {}  # record name -> its number in the file (1-based)
    with open_binary(path) as raw:
        handle = io.TextIOWrapper(raw, encoding="utf-8", errors="replace")
        it = SeqIO.parse(handle, "genbank")
        while True:
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    rec = next(it)
            except StopIteration:
                break
            except (EOFError, OSError, zlib.error, lzma.LZMAError) as e:
                _raise_read_error(path, e)
            except ValueError as e:
                raise InputError(f"cannot parse GenBank record {n + 1}: {e}", path=p) from e
            n += 1
            _refuse_truncated(caught, p, rec.id)
            if rec.id in seen:
                raise InputError(
                    f"duplicate record name: records {seen[rec.id]} and {n} of the file are both named "
                    f"'{rec.id}' (records are looked up by name, so one would hide the other)",
                    path=p,
                    record=rec.id,
                    hint="give each record its own ACCESSION / VERSION, or split the file",
                )
            seen[rec.id] = n
            try:
                seq = str(rec.seq)
            except UndefinedSequenceError:
                seq = ""
            validate_seq(seq, "iupac", path=p, record=rec.id)
            yield GenBankRecord(
                rec.id,
                rec.description,
                seq,
                genbank_features(rec, hierarchy=hierarchy),
                rec.annotations.get("topology", "linear"),
            )
    if n == 0:
        raise InputError(
            "no GenBank records in the file", path=p, hint="a GenBank record starts with 'LOCUS'"
        )


def _parts(loc) -> list[tuple[int, int, str]]:
    # Biopython already turned GenBank's 1-based inclusive 'a..b' into 0-based half-open
    # [a - 1, b): the conversion happened once, inside the parser; we take the numbers as they are.
    # Parts come in join order, i.e. transcript order (complement(join(...)) is reversed by Biopython).
    return [(int(p.start), int(p.end), _STRAND[p.strand]) for p in loc.parts]


def _qual(f) -> dict[str, list[str]]:
    return {k: [str(x) for x in v] for k, v in f.qualifiers.items()}


def _key(f) -> str | None:
    q = f.qualifiers
    return (q.get("locus_tag") or q.get("gene") or [None])[0]


def _whole(seqid: str, f, ftype: str, fid, parents: tuple[str, ...], attrs: dict, source: str) -> Feature:
    """A Feature spanning the whole (possibly compound) location of Biopython feature ``f``."""
    loc = f.location
    return Feature(
        seqid, int(loc.start), int(loc.end), _STRAND[loc.strand], ftype, fid, parents, attrs, source=source
    )


def genbank_features(record, *, hierarchy: bool = True, seqid: str | None = None) -> list[Feature]:
    """Convert a Biopython ``SeqRecord``'s features to :class:`Feature` objects (see the module doc).

    Parameters
    ----------
    record : Bio.SeqRecord.SeqRecord
    hierarchy : bool
        Top-level features with ``children`` (``True``), or all features flat.  Default is ``True``.
    seqid : str, optional
        The ``seqid`` to give features.  Default is ``record.id``.
    """
    seqid = seqid or record.id
    groups: dict[str, dict[str, list]] = {}
    out: list[Feature] = []
    for f in record.features:
        key = _key(f)
        if key is None or f.type == "source":
            out.append(_whole(seqid, f, f.type, None, (), _qual(f), "GenBank"))
            continue
        g = groups.setdefault(key, {"gene": [], "mRNA": [], "CDS": [], "rna": [], "other": []})
        kind = f.type if f.type in ("gene", "mRNA", "CDS") else "rna" if f.type in RNA_KEYS else "other"
        g[kind].append(f)

    used_ids: set[str] = set()

    def new_id(base: str) -> str:
        i, cand = 1, base
        while cand in used_ids:
            i += 1
            cand = f"{base}_{i}"
        used_ids.add(cand)
        return cand

    def add_parts(
        parts, ftype: str, fid: str, parent: str, attrs: dict, source: str, phase0: int | None = None
    ):
        done = 0
        for i, (s, e, strand) in enumerate(parts, start=1):
            phase = None
            if phase0 is not None:
                # GFF3 phase of a later part: bases to skip to reach the next codon start
                phase = phase0 if i == 1 else (3 - (done - phase0) % 3) % 3
            part_id = fid if ftype == "CDS" else f"{fid}.{ftype}{i}"  # CDS parts share one ID, as in GFF3
            out.append(
                Feature(
                    seqid,
                    s,
                    e,
                    strand,
                    ftype,
                    part_id,
                    (parent,),
                    {**attrs, "rank": [str(i)]},
                    source=source,
                    phase=phase,
                )
            )
            done += e - s

    for key, g in groups.items():
        members = g["gene"] + g["mRNA"] + g["CDS"] + g["rna"] + g["other"]
        gene_feats: list[Feature] = []
        for gf in g["gene"]:
            gene_feats.append(_whole(seqid, gf, "gene", new_id(key), (), _qual(gf), "GenBank"))
        if not gene_feats:  # no gene feature: synthesize one spanning the group
            first = members[0]
            gene = _whole(
                seqid,
                first,
                "gene",
                new_id(key),
                (),
                {**_qual(first), "genolm_synthesized": ["gene"]},
                "genolm",
            )
            gene.start = min(int(m.location.start) for m in members)
            gene.end = max(int(m.location.end) for m in members)
            gene_feats.append(gene)
        out.extend(gene_feats)

        def owner(f, genes: list[Feature] = gene_feats) -> Feature:
            # duplicated gene names (e.g. in inverted repeats) without locus_tags: pick the gene containing f
            s, e = int(f.location.start), int(f.location.end)
            return next((x for x in genes if x.start <= s and e <= x.end), genes[0])

        transcripts: list[Feature] = []
        for tf in g["mRNA"] + g["rna"]:
            gene = owner(tf)
            t = _whole(seqid, tf, tf.type, new_id(f"{gene.id}.{tf.type}"), (gene.id,), _qual(tf), "GenBank")
            out.append(t)
            transcripts.append(t)
            add_parts(_parts(tf.location), "exon", t.id, t.id, {}, "GenBank")
        for cf in g["CDS"]:
            gene = owner(cf)
            s0, e0 = int(cf.location.start), int(cf.location.end)
            host = next(
                (
                    t
                    for t in transcripts
                    if t.type == "mRNA" and t.parent_ids == (gene.id,) and t.start <= s0 and e0 <= t.end
                ),
                None,
            )
            if host is None:  # no mRNA: one made from the CDS, its exons = the CDS parts
                note = {
                    "genolm_synthesized": ["mRNA from CDS; UTRs unknown"],
                    "genolm_exons_from_cds": ["true"],
                }
                host = _whole(seqid, cf, "mRNA", new_id(f"{gene.id}.mRNA"), (gene.id,), note, "genolm")
                out.append(host)
                transcripts.append(host)
                add_parts(_parts(cf.location), "exon", host.id, host.id, {}, "genolm")
            attrs = _qual(cf)
            # /codon_start is 1-based (1, 2 or 3): the first part's phase is codon_start - 1
            codon_start = attrs.get("codon_start", ["1"])[0]
            phase0 = int(codon_start) - 1 if codon_start in ("1", "2", "3") else 0
            add_parts(_parts(cf.location), "CDS", new_id(f"{host.id}.cds"), host.id, attrs, "GenBank", phase0)
        for of in g["other"]:
            gene = owner(of)
            parent = gene
            if of.type == "intron" or of.type in UTR_TYPES:
                # introns and UTRs describe a transcript; explicit GenBank exons stay on the gene
                # (the transcript's exons already come from its join parts), see genes()
                parent = next((t for t in transcripts if t.parent_ids == (gene.id,)), gene)
            out.append(_whole(seqid, of, of.type, None, (parent.id,), _qual(of), "GenBank"))
    if hierarchy:
        return build_hierarchy(out)
    return out
