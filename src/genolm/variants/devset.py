"""A labelled zero-shot development set from any annotated genome: synonymous vs stop-gained SNVs.

In a coding sequence, a stop-gained SNV (a sense codon turned into TAA / TAG / TGA) truncates the
protein and is nearly always damaging; a synonymous SNV keeps the amino acid and is nearly
always close to neutral.  A language model that learned codon structure should score stop-gained
variants lower (more damaging).  :func:`make_coding_vep_set` enumerates every such SNV and samples
a balanced set.

Rules, explicitly:

* one transcript per gene: the one with the longest CDS (first on ties); transcripts whose CDS
  holds a base other than A/C/G/T or an in-frame stop before its last codon (pseudogenes, other
  genetic codes) are skipped and counted;
* the first codon (start) and the last codon (stop) are left out; a trailing partial codon is ignored;
* a base inside the CDS of two genes (overlapping genes) is left out, as its label could disagree;
* labels use the standard code's stop codons (TAA, TAG, TGA), the same in the bacterial/plastid
  code 11; amino acids are compared with the standard code (plastid code 11 agrees on every
  sense codon).

Records: ``pos`` 0-based on the forward strand (REF/ALT forward-strand bases, complemented for a
``-`` strand gene), ID ``GENE:c.<cds pos><ref>><alt>`` (coding-strand bases), INFO
``LABEL`` (1 stop_gained, 0 synonymous), ``CONSEQUENCE``, ``GENE``, ``CODON_POS`` (1-3) and ``STRAND``.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np

from genolm.errors import InputError
from genolm.io.vcf import Variant

_BASES = "TCAG"
_AA = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
#: the standard genetic code, codon -> amino acid ('*' stop)
CODON_TABLE = {"".join(c): a for c, a in zip(itertools.product(_BASES, repeat=3), _AA)}
STOPS = frozenset(c for c, a in CODON_TABLE.items() if a == "*")
_COMP = str.maketrans("ACGT", "TGCA")
LABELS = {"stop_gained": 1, "synonymous": 0}
INFO_FIELDS = {
    "LABEL": ("1", "Integer", "1 = stop_gained, 0 = synonymous"),
    "CONSEQUENCE": ("1", "String", "stop_gained or synonymous"),
    "GENE": ("1", "String", "gene (name, else ID) whose CDS holds the variant"),
    "CODON_POS": ("1", "Integer", "position of the variant in its codon, 1-3"),
    "STRAND": ("1", "String", "strand of the gene (+ or -)"),
}


class VepSet(NamedTuple):
    """``variants`` (sorted by contig and position), ``contigs`` (name -> length, for the VCF
    header) and ``summary`` (counts of candidates, sampled variants and skipped transcripts)."""

    variants: list[Variant]
    contigs: dict[str, int]
    summary: dict


def _load(annotation, genome):
    """``(genome, genes)``: a GenBank file carries both; a GFF3 needs ``genome``."""
    from genolm.data import resolve_path
    from genolm.io.genbank import is_genbank
    from genolm.io.genome import Genome
    from genolm.io.gff import genes, read_gff

    path = resolve_path(annotation)
    if is_genbank(path):
        from genolm.io.genbank import read_genbank

        recs = list(read_genbank(path))
        g = Genome.from_sequences({r.name: r.seq for r in recs}, name=str(path)) if genome is None else None
        feats = [f for r in recs for f in r.features]
    else:
        if genome is None:
            raise InputError(
                "a GFF3 annotation needs the genome FASTA too",
                path=str(path),
                hint="pass genome=... / --genome",
            )
        g = None
        feats = read_gff(path)
    if g is None:
        g = Genome.open(genome)
    return g, genes(feats)


def _safe(text: str) -> str:
    return re.sub(r"[\s;,=]+", "_", text)


def coding_snvs(annotation, genome=None) -> tuple[list[Variant], dict[str, int], dict]:
    """Every synonymous and stop-gained SNV (see the module docstring), unsampled."""
    g, gene_list = _load(annotation, genome)
    try:
        out, contigs, summary = _enumerate(g, gene_list)
        if not out:
            raise _nothing_usable(annotation, g, gene_list, summary)
        return out, contigs, summary
    finally:
        g.close()


def _shown(names) -> str:
    names = sorted(set(names))
    return ", ".join(names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10 else "")


def _nothing_usable(annotation, g, gene_list, summary) -> InputError:
    """The error for an annotation that gives no variant: says why (the skip counts) and how to fix it."""
    path = str(annotation)
    coding = [t for gene in gene_list for t in gene.transcripts if t.cds]
    if not coding:
        return InputError(
            f"no gene in the annotation has a CDS ({len(gene_list)} genes read), so there is no "
            "coding SNV to label",
            path=path,
            hint="give an annotation with CDS features (GFF3 type CDS, or GenBank CDS features)",
        )
    skipped = summary["transcripts_skipped"]
    counts = ", ".join(f"{k}: {n}" for k, n in sorted(skipped.items()))
    if not summary["transcripts_used"]:
        message = f"no transcript can be used: all {sum(skipped.values())} were skipped ({counts})"
        hints = []
        if skipped.get("contig_missing"):
            seqids = {c.seqid for t in coding for c in t.cds}
            message += f"; annotation seqids: {_shown(seqids)}; genome contigs: {_shown(g)}"
            hints.append("the annotation's seqids must name the genome's records: rename one to match")
        if skipped.get("out_of_bounds"):
            hints.append("CDS coordinates run past the contig end: is this the genome the annotation is for?")
        if skipped.get("non_acgt_cds") or skipped.get("internal_stop"):
            hints.append("CDS with non-ACGT bases or in-frame stops are left out (pseudogenes, other codes)")
        if skipped.get("cds_too_short"):
            hints.append("a CDS needs at least 3 whole codons")
        return InputError(message, path=path, hint="; ".join(hints) or None)
    return InputError(
        f"the {summary['transcripts_used']} usable transcripts give no synonymous or stop-gained SNV "
        f"(skipped transcripts: {counts or 'none'}); bases in the CDS of two genes are left out",
        path=path,
        hint="give an annotation with more coding sequence",
    )


def _enumerate(g, gene_list) -> tuple[list[Variant], dict[str, int], dict]:
    skipped: Counter = Counter()
    chosen = []
    for gene in gene_list:
        coding = [t for t in gene.transcripts if t.cds]
        if not coding:
            continue
        chosen.append((gene, max(coding, key=lambda t: sum(len(c) for c in t.cds))))
    # coverage of every CDS base, to leave out bases that two genes share
    cover: Counter = Counter()
    plans = []
    for gene, t in chosen:
        pos_list: list[int] = []
        strands: list[str] = []
        seqid = t.cds[0].seqid
        if any(c.seqid != seqid for c in t.cds):
            skipped["cds_on_several_contigs"] += 1
            continue
        if seqid not in g:
            skipped["contig_missing"] += 1
            continue
        pieces = []
        try:
            for part in t.cds:
                r = range(part.start, part.end)
                seq = g.fetch(seqid, part.start, part.end).upper()
                if part.strand == "-":
                    r, seq = reversed(r), seq.translate(_COMP)[::-1]
                pos_list.extend(r)
                strands.extend(part.strand * len(seq))
                pieces.append(seq)
        except InputError:
            skipped["out_of_bounds"] += 1
            continue
        phase = t.cds[0].phase or 0
        n_codons = (len(pos_list) - phase) // 3
        if n_codons < 3:
            skipped["cds_too_short"] += 1
            continue
        end = phase + 3 * n_codons
        pos = np.asarray(pos_list[phase:end], dtype=np.int64)
        strand = strands[phase:end]
        cds = "".join(pieces)[phase:end]
        if not set(cds) <= set("ACGT"):
            skipped["non_acgt_cds"] += 1
            continue
        codons = [cds[i : i + 3] for i in range(0, len(cds), 3)]
        if any(c in STOPS for c in codons[:-1]):
            skipped["internal_stop"] += 1
            continue
        for p in set(pos.tolist()):
            cover[(seqid, p)] += 1
        plans.append((gene, t, seqid, pos, strand, cds))

    out: list[Variant] = []
    candidates: Counter = Counter()
    for gene, _t, seqid, pos, strand, cds in plans:
        name = _safe(gene.name or gene.id)
        for ci in range(1, len(cds) // 3 - 1):  # no start codon, no stop codon
            codon = cds[3 * ci : 3 * ci + 3]
            aa = CODON_TABLE[codon]
            for k in range(3):
                i = 3 * ci + k
                gp = int(pos[i])
                if cover[(seqid, gp)] > 1:
                    continue
                for b in "ACGT":
                    if b == codon[k]:
                        continue
                    mut = codon[:k] + b + codon[k + 1 :]
                    if mut in STOPS:
                        csq = "stop_gained"
                    elif CODON_TABLE[mut] == aa:
                        csq = "synonymous"
                    else:
                        continue
                    minus = strand[i] == "-"
                    ref = codon[k].translate(_COMP) if minus else codon[k]
                    alt = b.translate(_COMP) if minus else b
                    candidates[csq] += 1
                    out.append(
                        Variant(
                            contig=seqid,
                            pos=gp,
                            id=f"{name}:c.{i + 1}{codon[k]}>{b}",
                            ref=ref,
                            alts=(alt,),
                            info={
                                "LABEL": LABELS[csq],
                                "CONSEQUENCE": csq,
                                "GENE": name,
                                "CODON_POS": k + 1,
                                "STRAND": strand[i],
                            },
                        )
                    )
    contigs = {s: g.length(s) for s in dict.fromkeys(p[2] for p in plans)}
    summary = {
        "transcripts_used": len(plans),
        "transcripts_skipped": dict(skipped),
        "candidates": dict(candidates),
    }
    return out, contigs, summary


def make_coding_vep_set(annotation, genome=None, *, per_class: int | None = 1000, seed: int = 0) -> VepSet:
    """A labelled SNV set: synonymous (``LABEL=0``) vs stop-gained (``LABEL=1``) in coding sequences.

    Parameters
    ----------
    annotation : path or ``bundled:chloroplast``
        A GenBank file (sequence included), or a GFF3 (then ``genome`` is needed).
    genome : path, optional
        FASTA of a GFF3's sequences (any compression).  Default is ``None`` (GenBank only).
    per_class : int or None
        Variants sampled per class, without replacement (fewer if there are fewer).  Default is
        1000; ``None`` keeps every candidate.
    seed : int
        Sampling seed.  Default is 0.

    Returns
    -------
    VepSet
    """
    variants, contigs, summary = coding_snvs(annotation, genome)
    if per_class is not None:
        rng = np.random.default_rng(seed)
        keep: list[Variant] = []
        for csq in LABELS:
            pool = [v for v in variants if v.info["CONSEQUENCE"] == csq]
            if len(pool) > per_class:
                idx = np.sort(rng.choice(len(pool), size=per_class, replace=False))
                pool = [pool[i] for i in idx]
            keep.extend(pool)
        variants = keep
    order = {c: i for i, c in enumerate(contigs)}
    variants.sort(key=lambda v: (order[v.contig], v.pos, v.alts[0]))
    variants = [v._replace(index=i) for i, v in enumerate(variants)]
    summary = {**summary, "variants": dict(Counter(v.info["CONSEQUENCE"] for v in variants))}
    return VepSet(variants, contigs, summary)


def write_vep_set(path: str | Path, vep_set: VepSet) -> Path:
    """Write a :class:`VepSet` as a sites-only VCF (atomically)."""
    from genolm.io.vcf import write_vcf

    write_vcf(path, vep_set.variants, info_fields=INFO_FIELDS, contigs=vep_set.contigs)
    return Path(path)
