"""GFF3 reading, the common :class:`Feature` type, and gene models built from features.

Shapes
------
:class:`Feature`
    one annotated interval, **0-based half-open** ``[start, end)``, strand ``"+"``, ``"-"``,
    ``"."`` (unstranded) or ``"?"`` (unknown), with ``id``, ``parent_ids``, ``attributes``
    (``dict[str, list[str]]``) and ``children`` (the hierarchy gene -> mRNA -> exon / CDS).
    GFF3 lines and GenBank features (:mod:`genolm.io.genbank`) both become ``Feature`` objects.
:class:`Gene` / :class:`Transcript`
    gene models from :func:`genes`: a gene holds transcripts; a transcript holds its exons and
    CDS parts in **transcript order** (5' to 3'), and derives introns and UTRs.
``feature_intervals(genes)``
    ``{seqid: {"gene" | "exon" | "CDS" | "intron" | "UTR" | "five_prime_UTR" |
    "three_prime_UTR": [(start, end), ...]}}``, sorted and merged, for labelling windows.

GFF3 policies: comment (``#``) and blank lines are skipped; parsing stops at ``##FASTA`` (the
embedded sequence is not read; load it with :func:`~genolm.io.read_fasta`); ``\\r`` is
stripped; attribute values are percent-decoded; a line with other than 9 tab-separated
columns, a bad coordinate, strand, phase or attribute, a ``Parent`` naming no ``ID`` in the
file, or an empty file raises :class:`~genolm.errors.InputError` with the file and line number.
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from genolm.alphabet import reverse_complement
from genolm.errors import InputError
from genolm.io.fasta import PathLike, guarded_iter, open_binary

#: child types that make their parent a transcript
EXON_TYPES = ("exon",)
CDS_TYPES = ("CDS",)
UTR_TYPES = ("five_prime_UTR", "three_prime_UTR", "UTR", "5'UTR", "3'UTR")
#: parent types that are genes, not transcripts (a CDS straight under one gets a synthesized transcript)
GENE_TYPES = ("gene", "pseudogene", "ncRNA_gene", "protein_coding_gene", "transposable_element_gene")


@dataclass(eq=False)
class Feature:
    """One annotated interval; coordinates 0-based half-open.

    Attributes
    ----------
    seqid : str
    start, end : int
        0-based, half-open (``end - start`` bases).
    strand : str
        ``"+"``, ``"-"``, ``"."`` or ``"?"``.
    type : str
        Sequence Ontology type (``gene``, ``mRNA``, ``exon``, ``CDS``, ``intron``, ...) or the
        GenBank feature key.
    id : str or None
    parent_ids : tuple of str
    attributes : dict of str to list of str
        GFF3 attributes / GenBank qualifiers.
    children : list of Feature
        Filled by :func:`build_hierarchy` (and the readers, by default).
    source, score, phase :
        GFF3 columns 2, 6 and 8 (``phase`` is ``0``, ``1``, ``2`` or ``None``).
    line : int or None
        Line number in the file it came from, for messages.
    """

    seqid: str
    start: int
    end: int
    strand: str = "."
    type: str = "region"
    id: str | None = None
    parent_ids: tuple[str, ...] = ()
    attributes: dict[str, list[str]] = field(default_factory=dict, repr=False)
    children: list[Feature] = field(default_factory=list, repr=False)
    source: str = "."
    score: float | None = field(default=None, repr=False)
    phase: int | None = field(default=None, repr=False)
    line: int | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return self.end - self.start

    def attr(self, key: str, default: str | None = None) -> str | None:
        """First value of attribute ``key`` (or ``default``)."""
        v = self.attributes.get(key)
        return v[0] if v else default

    def walk(self) -> Iterator[Feature]:
        """This feature and all its descendants, depth first."""
        yield self
        for c in self.children:
            yield from c.walk()


# --- GFF3 parsing -----------------------------------------------------------------------

_STRANDS = {"+", "-", ".", "?"}


def _text_lines(path: PathLike) -> Iterator[str]:
    with open_binary(path) as raw:
        fh = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        yield from guarded_iter(fh, path)


def _parse_attributes(text: str, path: str, line: int) -> dict[str, list[str]]:
    attrs: dict[str, list[str]] = {}
    if text in (".", ""):
        return attrs
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq:
            hint = "GFF3 attributes are key=value;key=value"
            if '"' in item:
                hint = (
                    'this looks like GTF (key "value";): convert it to GFF3, '
                    "e.g. with `gffread -E in.gtf -o out.gff3`"
                )
            raise InputError(f"attribute {item!r} has no '='", path=path, line=line, hint=hint)
        attrs.setdefault(unquote(key.strip()), []).extend(unquote(v) for v in value.split(","))
    return attrs


def iter_gff(path: PathLike) -> Iterator[Feature]:
    """Stream the features of a GFF3 file, one per line, in file order (no hierarchy).

    Parameters
    ----------
    path : str or PathLike
        GFF3, plain or compressed (detected by magic bytes).

    Yields
    ------
    Feature
        With 0-based half-open coordinates and ``line`` set.
    """
    p = str(path)
    n = 0
    for line_no, raw in enumerate(_text_lines(path), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        if line.startswith("#"):
            if line.startswith("##FASTA"):
                break
            continue
        cols = line.split("\t")
        if len(cols) != 9:
            hint = "GFF3 has 9 tab-separated columns"
            if len(cols) == 1 and len(line.split()) >= 8:
                hint += "; this line is separated by spaces"
            elif line.startswith(">"):
                hint = "FASTA after the features needs a '##FASTA' line before it"
            raise InputError(
                f"expected 9 tab-separated columns, found {len(cols)}", path=p, line=line_no, hint=hint
            )
        seqid, source, ftype, start_s, end_s, score_s, strand, phase_s, attr_s = cols
        try:
            start1, end1 = int(start_s), int(end_s)
        except ValueError:
            raise InputError(
                f"start / end must be integers, got {start_s!r} / {end_s!r}", path=p, line=line_no
            ) from None
        if start1 < 1 or end1 < start1:
            raise InputError(
                f"bad coordinates {start1}..{end1}: GFF3 needs 1 <= start <= end", path=p, line=line_no
            )
        if strand not in _STRANDS:
            raise InputError(f"strand must be one of + - . ?, got {strand!r}", path=p, line=line_no)
        if phase_s not in (".", "0", "1", "2"):
            raise InputError(f"phase must be 0, 1, 2 or '.', got {phase_s!r}", path=p, line=line_no)
        try:
            score = None if score_s == "." else float(score_s)
        except ValueError:
            raise InputError(
                f"score must be a number or '.', got {score_s!r}", path=p, line=line_no
            ) from None
        attrs = _parse_attributes(attr_s, p, line_no)
        n += 1
        yield Feature(
            seqid=unquote(seqid),
            # GFF3 is 1-based, inclusive: [start1, end1] becomes 0-based half-open [start1 - 1, end1).
            # This is the only place GFF coordinates are converted.
            start=start1 - 1,
            end=end1,
            strand=strand,
            type=ftype,
            id=attrs["ID"][0] if "ID" in attrs else None,
            parent_ids=tuple(attrs.get("Parent", ())),
            attributes=attrs,
            source=source,
            score=score,
            phase=None if phase_s == "." else int(phase_s),
            line=line_no,
        )
    if n == 0:
        raise InputError("no features in the file (empty GFF3)", path=p)


def read_gff(path: PathLike, *, hierarchy: bool = True, on_missing_parent: str = "error") -> list[Feature]:
    """Read a GFF3 file.

    Parameters
    ----------
    path : str or PathLike
        GFF3, plain or compressed.
    hierarchy : bool
        Return the top-level features with ``children`` filled (every feature is reachable
        through them).  ``False`` returns every line's feature, flat, in file order (children
        are filled either way).  Default is ``True``.
    on_missing_parent : {"error", "root"}
        A ``Parent`` that names no ``ID``: raise (naming the line), or keep the feature as a
        top-level one.  Default is ``"error"``.

    Returns
    -------
    list of Feature
    """
    feats = list(iter_gff(path))
    roots = build_hierarchy(feats, on_missing_parent=on_missing_parent, path=str(path))
    return roots if hierarchy else feats


def build_hierarchy(
    features: Iterable[Feature], *, on_missing_parent: str = "error", path: str | None = None
) -> list[Feature]:
    """Fill ``children`` from ``id`` / ``parent_ids`` and return the top-level features.

    Parents may come after their children in the file.  A multi-line feature (several lines
    with one ``ID``, e.g. the parts of a CDS) is one parent: children attach to its first line.
    Existing ``children`` lists are rebuilt.
    """
    if on_missing_parent not in ("error", "root"):
        raise ValueError(f"on_missing_parent must be 'error' or 'root', got {on_missing_parent!r}")
    feats = list(features)
    by_id: dict[str, Feature] = {}
    for f in feats:
        f.children = []
        if f.id is not None:
            first = by_id.setdefault(f.id, f)
            if first is not f and (first.seqid != f.seqid or first.type != f.type):
                raise InputError(
                    f"ID '{f.id}' is used by a {first.type} on {first.seqid} (line {first.line}) "
                    f"and a {f.type} on {f.seqid}",
                    path=path,
                    line=f.line,
                    hint="IDs must be unique, except for the lines of one multi-line feature",
                )
    roots = []
    for f in feats:
        parents = [by_id.get(pid) for pid in f.parent_ids]
        if not f.parent_ids:
            if f.id is None or by_id[f.id] is f:
                roots.append(f)
            continue
        if any(p is None for p in parents):
            missing = [pid for pid, p in zip(f.parent_ids, parents) if p is None]
            if on_missing_parent == "error":
                raise InputError(
                    f"Parent '{missing[0]}' is not the ID of any feature",
                    path=path,
                    line=f.line,
                    hint="fix the file, or pass on_missing_parent='root' to keep such features "
                    "at the top level",
                )
            roots.append(f)
        for p in parents:
            if p is not None:
                p.children.append(f)
    return roots


def _flatten(features: Iterable[Feature]) -> list[Feature]:
    seen: set[int] = set()
    out = []
    for root in features:
        for f in root.walk():
            if id(f) not in seen:
                seen.add(id(f))
                out.append(f)
    return out


# --- gene models ------------------------------------------------------------------------


def _transcript_order(parts: list[Feature], strand: str) -> list[Feature]:
    # an explicit rank (Ensembl GFF3 exons; GenBank join order, which matters for trans-splicing)
    # wins over genomic order
    ranks = [p.attr("rank") for p in parts]
    if parts and all(r is not None and r.isdigit() for r in ranks):
        return [p for _, p in sorted(zip((int(r) for r in ranks), parts), key=lambda x: x[0])]
    parts = sorted(parts, key=lambda p: (p.start, p.end))
    return parts[::-1] if strand == "-" else parts


def _intervals_minus(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for s, e in a:
        pieces = [(s, e)]
        for bs, be in b:
            nxt = []
            for ps, pe in pieces:
                if be <= ps or bs >= pe:
                    nxt.append((ps, pe))
                    continue
                if ps < bs:
                    nxt.append((ps, bs))
                if be < pe:
                    nxt.append((be, pe))
            pieces = nxt
        out.extend(pieces)
    return out


@dataclass(eq=False)
class Transcript:
    """One transcript: exons and CDS parts as :class:`Feature` lists in transcript order (5' -> 3').

    ``exons_from_cds`` is ``True`` when the annotation gave CDS but no exons (GenBank CDS,
    CDS-only GFF): the exons are then copies of the CDS parts and the UTRs are unknown (empty).
    """

    id: str
    type: str
    seqid: str
    strand: str
    start: int
    end: int
    gene_id: str | None = None
    exons: list[Feature] = field(default_factory=list, repr=False)
    cds: list[Feature] = field(default_factory=list, repr=False)
    other: list[Feature] = field(default_factory=list, repr=False)
    attributes: dict[str, list[str]] = field(default_factory=dict, repr=False)
    exons_from_cds: bool = False

    @property
    def is_coding(self) -> bool:
        return bool(self.cds)

    @property
    def introns(self) -> list[Feature]:
        """Introns between consecutive exons (transcript order).

        Only between exons on one seqid and strand that follow each other in genomic order
        for that strand, so trans-spliced joins (GenBank ``/trans_splicing``) and joins across
        the origin of a circular genome give no bogus intron.
        """
        out = []
        for a, b in zip(self.exons, self.exons[1:]):
            if a.seqid != b.seqid or a.strand != b.strand:
                continue
            if a.strand == "-":
                lo, hi = b.end, a.start
            else:
                lo, hi = a.end, b.start
            if hi > lo:
                out.append(
                    Feature(a.seqid, lo, hi, a.strand, "intron", parent_ids=(self.id,), source="genolm")
                )
        return out

    @property
    def utrs(self) -> list[Feature]:
        """UTR pieces (``five_prime_UTR`` / ``three_prime_UTR``), annotated or exons minus CDS."""
        given = [f for f in self.other if f.type in UTR_TYPES]
        if given:
            return given
        if not self.cds or self.exons_from_cds or self.strand not in "+-":
            return []
        cds_lo, cds_hi = min(c.start for c in self.cds), max(c.end for c in self.cds)
        out = []
        for s, e in _intervals_minus(
            [(x.start, x.end) for x in self.exons], [(c.start, c.end) for c in self.cds]
        ):
            before = e <= cds_lo
            if s >= cds_hi or before:
                five = before if self.strand == "+" else not before
                kind = "five_prime_UTR" if five else "three_prime_UTR"
                out.append(
                    Feature(self.seqid, s, e, self.strand, kind, parent_ids=(self.id,), source="genolm")
                )
        return out

    def spliced_seq(self, genome) -> str:
        """Exon sequences joined 5' -> 3' (reverse-complemented on ``-``); see :func:`extract`."""
        return extract(genome, self.exons)

    def cds_seq(self, genome, *, trim_phase: bool = True) -> str:
        """The coding sequence 5' -> 3'.  ``trim_phase`` drops the first part's phase bases (GFF ``phase``,
        GenBank ``/codon_start - 1``) so the result starts on a codon.  Default is ``True``."""
        seq = extract(genome, self.cds)
        if trim_phase and self.cds and self.cds[0].phase:
            seq = seq[self.cds[0].phase :]
        return seq


@dataclass(eq=False)
class Gene:
    """One gene and its transcripts.  ``synthesized`` is ``True`` when the annotation had no gene
    feature (e.g. a top-level mRNA) and the gene was made from its transcript."""

    id: str
    seqid: str
    start: int
    end: int
    strand: str
    type: str = "gene"
    name: str | None = None
    transcripts: list[Transcript] = field(default_factory=list, repr=False)
    attributes: dict[str, list[str]] = field(default_factory=dict, repr=False)
    other: list[Feature] = field(default_factory=list, repr=False)
    synthesized: bool = False


def _gene_name(f: Feature) -> str | None:
    return f.attr("Name") or f.attr("gene") or f.attr("gene_name") or f.attr("locus_tag")


def genes(features: Iterable[Feature]) -> list[Gene]:
    """Gene models from features (GFF3 or GenBank; flat or hierarchical lists both work).

    * A transcript is any feature with ``exon`` / ``CDS`` / UTR children; if such a parent is
      itself a gene (``GENE_TYPES``), a transcript is synthesized under it.
    * A transcript without a gene parent gets a synthesized gene (``Gene.synthesized``).
    * Exon-less transcripts take their CDS parts as exons (``Transcript.exons_from_cds``).
    * CDS / exon features without any parent become a gene + transcript of their own (grouped
      by ``ID``).
    * Genes without transcripts are kept (``transcripts == []``).

    Returns
    -------
    list of Gene
        Sorted by ``(seqid, start, end)``.
    """
    feats = _flatten(features)
    by_id: dict[str, Feature] = {}
    for f in feats:
        if f.id is not None:
            by_id.setdefault(f.id, f)
    part_types = set(EXON_TYPES) | set(CDS_TYPES) | set(UTR_TYPES)
    # transcript key -> (transcript feature or None, parts)
    tx_parts: dict[str, list[Feature]] = {}
    tx_feat: dict[str, Feature | None] = {}
    tx_gene: dict[str, str | None] = {}
    for f in feats:
        if f.type not in part_types:
            continue
        parents = f.parent_ids or ((f.id or f"{f.type}@{f.seqid}:{f.start}"),)
        for pid in parents:
            parent = by_id.get(pid)
            if parent is not None and parent.type in GENE_TYPES:
                key = f"{pid}.t"  # CDS / exon straight under a gene: synthesize a transcript
                tx_feat.setdefault(key, None)
                tx_gene[key] = pid
            else:
                key = pid
                tx_feat.setdefault(
                    key, parent if parent is not None and parent.type not in part_types else None
                )
                if key not in tx_gene:
                    gp = parent.parent_ids[0] if parent is not None and parent.parent_ids else None
                    tx_gene[key] = gp
            tx_parts.setdefault(key, []).append(f)

    gene_objs: dict[str, Gene] = {}

    def gene_for(gid: str | None, t: Transcript) -> Gene:
        if gid is not None and gid in gene_objs:
            return gene_objs[gid]
        gf = by_id.get(gid) if gid is not None else None
        if gf is not None:
            g = Gene(
                gf.id,
                gf.seqid,
                gf.start,
                gf.end,
                gf.strand,
                gf.type,
                _gene_name(gf),
                attributes=gf.attributes,
            )
        else:
            gid = gid or t.id
            name = t.attributes.get("Name", [None])[0]
            g = Gene(gid, t.seqid, t.start, t.end, t.strand, "gene", name, attributes=dict(t.attributes))
            g.synthesized = True
        gene_objs[gid] = g
        return g

    # parts straight under a gene that also has real transcripts (e.g. GenBank 'exon' features
    # beside an mRNA) describe those transcripts: keep them on the gene, make no extra transcript
    real_tx_genes = {tx_gene[k] for k, tf in tx_feat.items() if tf is not None}
    gene_leftovers: dict[str, list[Feature]] = {}
    for key in [
        k for k, tf in tx_feat.items() if tf is None and k.endswith(".t") and tx_gene[k] in real_tx_genes
    ]:
        gene_leftovers.setdefault(tx_gene[key], []).extend(tx_parts.pop(key))

    for key, parts in tx_parts.items():
        tf = tx_feat[key]
        exons = [p for p in parts if p.type in EXON_TYPES]
        cds = [p for p in parts if p.type in CDS_TYPES]
        utrs = [p for p in parts if p.type in UTR_TYPES]
        strand = tf.strand if tf is not None else parts[0].strand
        # GenBank CDS without an mRNA: exons were copied from the CDS parts (genbank.py marks them)
        from_cds = (not exons and bool(cds)) or (tf is not None and "genolm_exons_from_cds" in tf.attributes)
        exons = _transcript_order(exons or cds, strand)
        cds = _transcript_order(cds, strand)
        others = [c for c in (tf.children if tf is not None else []) if c.type not in part_types] + utrs
        span = list(parts) + ([tf] if tf is not None else [])
        t = Transcript(
            id=key,
            type=tf.type if tf is not None else ("mRNA" if cds else "transcript"),
            seqid=parts[0].seqid,
            strand=strand,
            start=min(p.start for p in span),
            end=max(p.end for p in span),
            gene_id=None,
            exons=exons,
            cds=cds,
            other=others,
            attributes=tf.attributes if tf is not None else {},
            exons_from_cds=from_cds,
        )
        g = gene_for(tx_gene.get(key), t)
        t.gene_id = g.id
        g.transcripts.append(t)
        if g.synthesized:
            g.start, g.end = min(g.start, t.start), max(g.end, t.end)

    # genes without transcripts, and non-transcript children of genes (introns, repeats ...)
    tx_keys = set(tx_parts)
    for f in feats:
        if f.type in GENE_TYPES and f.id is not None and by_id[f.id] is f and f.id not in gene_objs:
            gene_objs[f.id] = Gene(
                f.id, f.seqid, f.start, f.end, f.strand, f.type, _gene_name(f), attributes=f.attributes
            )
    for g in gene_objs.values():
        gf = by_id.get(g.id)
        if gf is not None:
            g.other = [c for c in gf.children if c.id not in tx_keys and c.type not in part_types]
        g.other += gene_leftovers.get(g.id, [])
    return sorted(gene_objs.values(), key=lambda g: (g.seqid, g.start, g.end))


# --- intervals --------------------------------------------------------------------------

INTERVAL_KINDS = ("gene", "exon", "CDS", "intron", "UTR", "five_prime_UTR", "three_prime_UTR")


def _merge(iv: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s, e in sorted(iv):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def feature_intervals(
    gene_list: Iterable[Gene] | Iterable[Feature],
) -> dict[str, dict[str, list[tuple[int, int]]]]:
    """Per contig, merged sorted ``(start, end)`` intervals of each kind, for labelling windows.

    Parameters
    ----------
    gene_list : list of Gene, or features (passed through :func:`genes` first)

    Returns
    -------
    dict
        ``{seqid: {kind: [(start, end), ...]}}`` with every kind of :data:`INTERVAL_KINDS`
        present (possibly empty).  0-based half-open; strands merged.  Kinds can overlap
        each other (an intron of one transcript can be an exon of another): the caller picks
        the precedence.  ``UTR`` is the union of both UTR kinds.  ``gene`` is the union of
        the transcripts' exons and introns (the gene span, for genes without transcripts),
        so a trans-spliced gene does not cover the genes between its parts.
    """
    gene_list = list(gene_list)
    if gene_list and isinstance(gene_list[0], Feature):
        gene_list = genes(gene_list)
    raw: dict[str, dict[str, list[tuple[int, int]]]] = {}

    def add(f_or_gene, kind: str) -> None:
        d = raw.setdefault(f_or_gene.seqid, {k: [] for k in INTERVAL_KINDS})
        d[kind].append((f_or_gene.start, f_or_gene.end))

    for g in gene_list:
        if not g.transcripts:
            add(g, "gene")
        for t in g.transcripts:
            introns = t.introns
            # a gene covers its transcripts' exons and introns; not min..max of the gene feature,
            # which for a trans-spliced gene (chloroplast rps12) spans tens of kb of other genes
            for x in t.exons + introns:
                add(x, "gene")
            for x in t.exons:
                add(x, "exon")
            for x in t.cds:
                add(x, "CDS")
            for x in introns:
                add(x, "intron")
            for x in t.utrs:
                add(x, "UTR")
                if x.type in ("five_prime_UTR", "5'UTR"):
                    add(x, "five_prime_UTR")
                elif x.type in ("three_prime_UTR", "3'UTR"):
                    add(x, "three_prime_UTR")
    return {s: {k: _merge(v) for k, v in d.items()} for s, d in raw.items()}


def overlap(intervals: list[tuple[int, int]], start: int, end: int) -> int:
    """Bases of ``[start, end)`` covered by merged sorted ``intervals`` (from :func:`feature_intervals`)."""
    i = max(0, bisect.bisect_right(intervals, (start, float("inf"))) - 1)
    n = 0
    while i < len(intervals) and intervals[i][0] < end:
        s, e = intervals[i]
        n += max(0, min(e, end) - max(s, start))
        i += 1
    return n


# --- sequence extraction ----------------------------------------------------------------


def extract(genome, parts: Iterable[Feature]) -> str:
    """Concatenate the sequences of ``parts`` in the order given, each reverse-complemented on ``-``.

    Parameters
    ----------
    genome : Genome, or mapping seqid -> str, or str
        Where sequences come from (a ``str`` is used for every seqid).
    parts : iterable of Feature
        In transcript order, as in :attr:`Transcript.exons` / :attr:`Transcript.cds`.
    """
    out = []
    for p in parts:
        if isinstance(genome, str):
            s = genome[p.start : p.end]
        elif isinstance(genome, Mapping):
            s = genome[p.seqid][p.start : p.end]
        else:
            s = genome.fetch(p.seqid, p.start, p.end)
        out.append(reverse_complement(s) if p.strand == "-" else s)
    return "".join(out)
