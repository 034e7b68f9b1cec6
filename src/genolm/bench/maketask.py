"""Build a labelled benchmark task from a genome and its annotation (``genolm make-task``).

Inputs: a FASTA genome plus a GFF3 annotation, or an annotated GenBank file alone (or a bundled
genome, ``bundled:chloroplast``).  Output: a folder with ``train.csv``, ``valid.csv``,
``test.csv`` (columns ``sequence,label,id``; ``label`` is the class id, ``id`` is
``contig:start-end(strand)``, 1-based inclusive), a ``task.yaml`` loadable by
:func:`genolm.bench.tasks.load_task`, and ``manifest.json``.  The folder is written atomically
(all of it or nothing) and the result depends only on the inputs, the parameters and ``seed``.

Task kinds (``kind``)
---------------------
``feature``     multiclass windows labelled by the annotation class covering them:
                ``intergenic``, ``intron``, ``UTR``, ``CDS`` (``classes`` picks; classes with no
                window are left out and reported).  Exons of non-coding RNAs are none of these:
                windows on them are dropped.
``cds``         binary: windows entirely in CDS (``CDS``) vs entirely outside CDS (``non_CDS``).
``donor``       binary: windows centred on annotated splice donors (the ``GT`` starting an
                intron, read on the transcript strand) vs decoy ``GT`` dinucleotides that are not
                annotated donors, on either strand.
``acceptor``    the same for acceptors (the ``AG`` ending an intron).
``gene_start``  binary: windows centred on annotated CDS starts vs decoy ``ATG`` codons.

Feature windows are read on the ``+`` strand; a window is kept when one class covers at least
``min_purity`` of it (default: all of it).  Site windows are read on the site's strand with the
site's first base at position ``window // 2`` (0-based).  With ``canonical_only`` (default)
sites that are not ``GT`` / ``AG`` / ``ATG`` are dropped (counted), so the dinucleotide itself
is no shortcut.  Windows holding ``N`` (any ambiguity code) are dropped and counted; sequences
are written upper case (a soft mask would be a shortcut).

Splits
------
``split_by: block`` (default) cuts every contig into blocks of ``block_size`` bp; each block
goes whole to train, valid or test; only windows lying entirely in the first
``block_size - gap`` bp of a block are used (``gap`` defaults to ``window``), so no window
crosses a split and windows of neighbouring blocks are at least ``gap`` bp apart.
``split_by: contig`` sends whole contigs.  The assignment is the most class-balanced of 200
seeded shuffles (every split must hold every class), reaching ``fractions`` by length.

Negatives and GC
----------------
With ``gc_match`` (default) the classes are sampled, per split, so that their GC distributions
match (bins of ``gc_bin_width``): binary tasks match the negatives to the positives
(``negatives_per_positive`` per positive), multiclass tasks match every class to the smallest
one.  The manifest reports the mean GC per class and split before and after, and the largest
gap between classes.  ``max_per_class`` caps each class (split in proportion to ``fractions``).

Leaks
-----
Exact and reverse-complement duplicate windows are dropped (the later one).  Organelle genomes
carry a large inverted repeat (the chloroplast IRa / IRb are identical reverse complements):
``exclude_inverted_repeats`` finds repeats of at least ``min_inverted_repeat`` bp (31-mer
anti-diagonals) and excludes the 3' copy, so no window has its reverse complement across a
split.  ``exclude`` removes listed regions (``contig:start-end``, 1-based inclusive).  The leak
audit (:func:`genolm.bench.audit.audit_splits`) runs on the result; its report is stored in
the manifest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from genolm.atomic import jsonable
from genolm.data import resolve_path
from genolm.errors import ConfigError, InputError
from genolm.io.genbank import is_genbank
from genolm.progress import progress_bar
from genolm.registry import did_you_mean

log = logging.getLogger(__name__)
#: progress bars appear only once their step has run this long (seconds)
PROGRESS_DELAY_S = 2.0

KINDS = ("feature", "cds", "donor", "acceptor", "gene_start")
#: bumped whenever a change here changes the windows built from the same inputs (cache key)
ALGORITHM_VERSION = 1
FEATURE_CLASSES = ("intergenic", "intron", "UTR", "CDS")
SPLITS = ("train", "valid", "test")
_OTHER = 255  # base code for bases in no class (exons of non-coding RNAs)
_SITE_MOTIF = {"donor": "GT", "acceptor": "AG", "gene_start": "ATG"}
_BINARY_LABELS = {
    "cds": ["non_CDS", "CDS"],
    "donor": ["decoy", "donor"],
    "acceptor": ["decoy", "acceptor"],
    "gene_start": ["decoy", "start"],
}


@dataclasses.dataclass
class MakeTaskConfig:
    """Parameters of ``genolm make-task`` (see the module docstring for what each does)."""

    #: FASTA or GenBank path, or 'bundled:chloroplast'
    genome: str = ""
    #: GFF3 (not needed for GenBank)
    annotation: str | None = None
    kind: str = "feature"
    out: str | None = None
    #: task name written to task.yaml (default: the output folder name)
    name: str | None = None
    window: int = 200
    #: step between feature windows; default is ``window`` (no overlap)
    stride: int | None = None
    #: feature classes to keep (default all four)
    classes: list[str] | None = None
    min_purity: float = 1.0
    split_by: str = "block"
    block_size: int = 20000
    #: bp left unused at the end of every block; default is ``window``
    gap: int | None = None
    fractions: dict[str, float] = dataclasses.field(
        default_factory=lambda: {"train": 0.8, "valid": 0.1, "test": 0.1}
    )
    gc_match: bool = True
    gc_bin_width: float = 0.02
    negatives_per_positive: float = 1.0
    max_per_class: int | None = None
    canonical_only: bool = True
    exclude: list[str] = dataclasses.field(default_factory=list)
    exclude_inverted_repeats: bool = False
    min_inverted_repeat: int = 1000
    #: only these contigs (default all)
    contigs: list[str] | None = None
    dedupe: bool = True
    audit: bool = True
    seed: int = 0
    overwrite: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(
                f"unknown kind '{self.kind}'.{did_you_mean(self.kind, list(KINDS))} Kinds: {', '.join(KINDS)}."
            )
        if self.split_by not in ("block", "contig"):
            raise ConfigError(f"split_by must be 'block' or 'contig', got '{self.split_by}'")
        if not self.genome:
            raise ConfigError("make-task needs a genome (--genome FASTA / GenBank, or bundled:chloroplast)")
        if self.window < 10:
            raise ConfigError(f"window must be >= 10 bp, got {self.window}")
        if self.stride is not None and self.stride < 1:
            raise ConfigError(f"stride must be >= 1, got {self.stride}")
        if self.gap is not None and self.gap < self.window:
            raise ConfigError(
                f"gap must be >= window ({self.window}) so no window crosses a split, got {self.gap}"
            )
        if self.block_size <= self.window + (self.gap or self.window):
            raise ConfigError(f"block_size ({self.block_size}) must exceed window + gap")
        if not 0.5 < self.min_purity <= 1.0:
            raise ConfigError(f"min_purity must be in (0.5, 1], got {self.min_purity}")
        if not 0.0 < self.gc_bin_width <= 0.5:
            raise ConfigError(f"gc_bin_width must be in (0, 0.5], got {self.gc_bin_width}")
        if self.negatives_per_positive <= 0:
            raise ConfigError("negatives_per_positive must be > 0")
        if self.max_per_class is not None and self.max_per_class < 1:
            raise ConfigError("max_per_class must be >= 1")
        fr = {}
        for k, v in dict(self.fractions).items():
            if k not in SPLITS:
                raise ConfigError(f"fractions: unknown split '{k}'.{did_you_mean(k, list(SPLITS))}")
            try:
                fr[k] = float(v)
            except (TypeError, ValueError):
                raise ConfigError(f"fractions: '{k}' must be a number in (0, 1), got {v!r}") from None
            if not 0.0 < fr[k] < 1.0:
                raise ConfigError(f"fractions: '{k}' must be in (0, 1), got {v}")
        if "train" not in fr or "test" not in fr:
            raise ConfigError("fractions need 'train' and 'test' (and optionally 'valid')")
        if abs(sum(fr.values()) - 1.0) > 1e-6:
            raise ConfigError(f"fractions must sum to 1, got {sum(fr.values()):g}")
        self.fractions = {k: fr[k] for k in SPLITS if k in fr}
        if self.classes is not None:
            for c in self.classes:
                if c not in FEATURE_CLASSES:
                    raise ConfigError(
                        f"unknown class '{c}'.{did_you_mean(c, list(FEATURE_CLASSES))} Classes: {', '.join(FEATURE_CLASSES)}."
                    )
            if len(set(self.classes)) < 2:
                raise ConfigError("a feature task needs at least two classes")
        for r in self.exclude:
            _parse_region(r)

    @property
    def task_type(self) -> str:
        return "multiclass" if self.kind == "feature" else "binary"


class MakeTaskResult(NamedTuple):
    """``out`` folder (or ``None``), the ``manifest`` dict, and ``splits``:
    ``{split: (sequences, labels, ids)}``."""

    out: Path | None
    manifest: dict
    splits: dict


# --- inputs -------------------------------------------------------------------------------


def input_sha256(spec: str | None) -> str | None:
    if spec is None:
        return None
    h = hashlib.sha256()
    with open(resolve_path(spec), "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _parse_region(text: str) -> tuple[str, int, int]:
    m = re.fullmatch(r"(.+):([\d,]+)-([\d,]+)", str(text).strip())
    if not m:
        raise ConfigError(f"exclude region '{text}' is not 'contig:start-end' (1-based, inclusive)")
    start, end = int(m[2].replace(",", "")), int(m[3].replace(",", ""))
    if start < 1 or end < start:
        raise ConfigError(f"exclude region '{text}': need 1 <= start <= end")
    # 1-based inclusive -> 0-based half-open, once, here
    return m[1], start - 1, end


def load_annotated_genome(cfg: MakeTaskConfig) -> tuple[dict[str, str], list, dict]:
    """``(sequences, features, info)``: upper-cased contig sequences, GFF3 / GenBank features
    whose seqids are renamed to the FASTA record names, and notes for the manifest."""
    from genolm.io import Genome, read_fasta, read_genbank, read_gff

    gpath = resolve_path(cfg.genome)
    info: dict[str, Any] = {}
    if is_genbank(gpath):
        seqs, feats = {}, []
        for rec in read_genbank(gpath):
            if not rec.seq:
                raise InputError("GenBank record has no sequence", path=str(gpath), record=rec.name)
            seqs[rec.name] = rec.seq.upper()
            if cfg.annotation is None:
                feats.extend(rec.features)
    else:
        if cfg.annotation is None:
            raise ConfigError(
                "a FASTA genome needs an annotation (--annotation GFF3); GenBank files carry their own"
            )
        seqs = {r.name: r.seq.upper() for r in read_fasta(gpath)}
        feats = []
    if cfg.annotation is not None:
        feats = read_gff(resolve_path(cfg.annotation))
    if cfg.contigs:
        missing = [c for c in cfg.contigs if c not in seqs]
        if missing:
            raise InputError(
                f"contig '{missing[0]}' is not in the genome.{did_you_mean(missing[0], list(seqs))}",
                path=str(gpath),
            )
        seqs = {c: seqs[c] for c in cfg.contigs}
    # rename feature seqids to record names through the contig aliases (chr1 <-> 1, NC_x.1 <-> NC_x)
    genome = Genome.from_sequences(seqs, name=str(gpath))
    unknown: dict[str, int] = {}
    kept = []
    for root in feats:
        if root.seqid in seqs:
            kept.append(root)
            continue
        try:
            canon = genome.canonical(root.seqid)
        except InputError:
            unknown[root.seqid] = unknown.get(root.seqid, 0) + 1
            continue
        for f in root.walk():
            f.seqid = canon
        kept.append(root)
    if not kept:
        raise InputError(
            "no annotated feature is on a contig of the genome",
            path=str(cfg.annotation or gpath),
            hint=f"annotation seqids: {', '.join(sorted(unknown)[:5])}; genome contigs: {', '.join(list(seqs)[:5])}",
        )
    if unknown:
        info["features_on_unknown_contigs"] = unknown
    past = features_past_contig_end(kept, {n: len(s) for n, s in seqs.items()})
    if past:
        # an annotation of another assembly version, most often: said, counted and recorded,
        # never used silently
        first = ", ".join(past[:5]) + (" ..." if len(past) > 5 else "")
        log.warning(
            "make-task: %d annotated feature(s) run past the end of their contig (first: %s); they "
            "label only the bases on the contig, and their sites past the end are dropped. Check "
            "that %s annotates this genome version",
            len(past),
            first,
            cfg.annotation or gpath,
        )
        info["features_past_contig_end"] = {"count": len(past), "first": past[:20]}
    return seqs, kept, info


def features_past_contig_end(features, lengths: Mapping[str, int]) -> list[str]:
    """IDs (else ``seqid:start-end``, 1-based) of the features, at any depth, that end past
    their contig's length."""
    out = []
    for root in features:
        for f in root.walk():
            L = lengths.get(f.seqid)
            if L is not None and f.end > L:
                out.append(f.id or f"{f.seqid}:{f.start + 1}-{f.end}")
    return out


# --- repeats ------------------------------------------------------------------------------


def find_inverted_repeats(
    seq: str, *, min_length: int = 1000, k: int = 31
) -> list[tuple[int, int, int, int]]:
    """Inverted repeats of at least ``min_length`` bp in one sequence.

    Returns ``[(a_start, a_end, b_start, b_end), ...]`` (0-based half-open, ``a`` before ``b``)
    where ``seq[b_start:b_end]`` is (up to single mismatches) the reverse complement of
    ``seq[a_start:a_end]``.  Found from k-mers that occur once forward and once reverse
    complemented, grouped by anti-diagonal ``i + j``.
    """
    from genolm.alphabet import INDEX_LUT

    n = len(seq) - k + 1
    if n < 1 or min_length < k:
        return []
    idx = INDEX_LUT[np.frombuffer(seq.upper().encode("ascii"), dtype=np.uint8)].astype(np.int64)
    bad = np.concatenate([[0], np.cumsum(idx == 4)])
    ok = (bad[k:] - bad[:-k]) == 0  # (n,) windows without N
    x = np.where(idx == 4, 0, idx).astype(np.uint64)
    fwd = np.zeros(n, dtype=np.uint64)
    rc = np.zeros(n, dtype=np.uint64)
    for j in range(k):
        fwd = fwd * np.uint64(4) + x[j : j + n]
        # reverse complement of window i: complement of base i+k-1-j at digit j
        rc = rc * np.uint64(4) + (np.uint64(3) - x[k - 1 - j : k - 1 - j + n])
    pos = np.flatnonzero(ok)
    f_vals, f_first, f_cnt = np.unique(fwd[pos], return_index=True, return_counts=True)
    r_vals, r_first, r_cnt = np.unique(rc[pos], return_index=True, return_counts=True)
    f_vals, f_pos = f_vals[f_cnt == 1], pos[f_first[f_cnt == 1]]
    r_vals, r_pos = r_vals[r_cnt == 1], pos[r_first[r_cnt == 1]]
    _, fi, ri = np.intersect1d(f_vals, r_vals, assume_unique=True, return_indices=True)
    i, j = f_pos[fi], r_pos[ri]  # fwd[i] == rc[j]: window i is the reverse complement of window j
    keep = i < j
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return []
    d = i + j
    order = np.lexsort((i, d))
    i, d = i[order], d[order]
    out = []
    start = 0
    for t in range(1, len(i) + 1):
        # a new run when the diagonal changes or the gap exceeds one mismatch (k k-mers)
        if t == len(i) or d[t] != d[t - 1] or i[t] - i[t - 1] > k + 1:
            i0, i1, dd = int(i[start]), int(i[t - 1]), int(d[start])
            if i1 - i0 + k >= min_length:
                out.append((i0, i1 + k, dd - i1, dd - i0 + k))
            start = t
    return sorted(out)


# --- labelling ----------------------------------------------------------------------------


def _base_labels(length: int, iv: Mapping[str, list[tuple[int, int]]]) -> np.ndarray:
    """Per-base class codes, ``uint8`` shape ``(L,)``: index into :data:`FEATURE_CLASSES`, or
    ``_OTHER``.  Precedence (later wins): intergenic < gene < intron < exon < UTR < CDS."""
    code = {c: i for i, c in enumerate(FEATURE_CLASSES)}
    lab = np.full(length, code["intergenic"], dtype=np.uint8)
    for kind, value in (
        ("gene", _OTHER),
        ("intron", code["intron"]),
        ("exon", _OTHER),
        ("UTR", code["UTR"]),
        ("CDS", code["CDS"]),
    ):
        for s, e in iv.get(kind, []):
            lab[max(0, s) : min(length, e)] = value
    return lab


def _sites(genes, kind: str, seqs: Mapping[str, str]) -> list[tuple[str, int, int]]:
    """Annotated sites ``(contig, p, strand)``: ``p`` is the 0-based genomic position of the
    site's first base read on its strand (``strand`` +1 / -1)."""
    out = set()
    for g in genes:
        for t in g.transcripts:
            if t.strand not in "+-" or t.seqid not in seqs:
                continue
            s = 1 if t.strand == "+" else -1
            if kind in ("donor", "acceptor"):
                for intr in t.introns:
                    a, b = intr.start, intr.end
                    if kind == "donor":  # GT at the intron's 5' end
                        p = a if s == 1 else b - 1
                    else:  # AG at the intron's 3' end
                        p = b - 2 if s == 1 else a + 1
                    out.add((t.seqid, p, s))
            elif t.cds:
                first = t.cds[0]
                if first.phase not in (None, 0):
                    continue  # a 5'-partial CDS does not start with its start codon
                p = first.start if s == 1 else first.end - 1
                out.add((t.seqid, p, s))
    return sorted(out)


def _oriented_start(p: np.ndarray, strand: np.ndarray, w: int) -> np.ndarray:
    """Genomic start of the window that, read on ``strand``, has base ``p`` at index ``w // 2``."""
    c = w // 2
    return np.where(strand == 1, p - c, p + c + 1 - w)


def _motif_positions(seq: str, motif: str) -> tuple[np.ndarray, np.ndarray]:
    """``(p, strand)`` of every occurrence of ``motif`` on either strand (first base, as read)."""
    from genolm.alphabet import reverse_complement

    b = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
    m = len(motif)

    def hits(word: str) -> np.ndarray:
        n = len(b) - m + 1
        if n < 1:
            return np.zeros(0, dtype=np.int64)
        ok = np.ones(n, dtype=bool)
        for j, ch in enumerate(word.encode("ascii")):
            ok &= b[j : j + n] == ch
        return np.flatnonzero(ok)

    plus = hits(motif)
    minus = hits(reverse_complement(motif)) + (m - 1)  # first base read on '-' is the rightmost
    return np.concatenate([plus, minus]), np.concatenate(
        [np.ones(len(plus), np.int8), -np.ones(len(minus), np.int8)]
    )


# --- the build ----------------------------------------------------------------------------


class _Cands(NamedTuple):
    contig: np.ndarray  # int32 contig index
    start: np.ndarray  # int64 genomic window start
    strand: np.ndarray  # int8 +1 / -1
    label: np.ndarray  # int16 class id
    gc: np.ndarray  # float64
    unit: np.ndarray  # int64 split unit


def _units(cfg: MakeTaskConfig, lengths: list[int], w: int, gap: int) -> list[tuple[int, int, int]]:
    """Split units ``(contig index, start, usable end)``."""
    out = []
    for ci, L in enumerate(lengths):
        if cfg.split_by == "contig":
            out.append((ci, 0, L))
            continue
        for b0 in range(0, L, cfg.block_size):
            b1 = min(b0 + cfg.block_size, L)
            if b1 - gap - b0 >= w:
                out.append((ci, b0, b1 - gap))
    return out


def _unit_of(contig: np.ndarray, start: np.ndarray, w: int, units: list[tuple[int, int, int]]) -> np.ndarray:
    """Index of the unit holding each window entirely, -1 for none."""
    out = np.full(len(start), -1, dtype=np.int64)
    arr = np.array(units, dtype=np.int64).reshape(-1, 3)
    for ci in np.unique(contig):
        rows = np.flatnonzero(arr[:, 0] == ci)
        if not len(rows):
            continue
        sel = np.flatnonzero(contig == ci)
        k = np.searchsorted(arr[rows, 1], start[sel], side="right") - 1
        valid = k >= 0
        kk = np.where(valid, k, 0)
        inside = valid & (start[sel] >= arr[rows[kk], 1]) & (start[sel] + w <= arr[rows[kk], 2])
        out[sel[inside]] = rows[kk[inside]]
    return out


def _prefix(mask: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])


def _bar(enabled: bool, total: float, desc: str, unit: str):
    """A tqdm bar (rate and ETA) that appears only once its step has run 2 s; ``None`` when off."""
    return progress_bar(
        total, desc, unit=unit, unit_scale=True, delay=PROGRESS_DELAY_S, leave=False, enabled=enabled
    )


def _candidates(
    cfg, seqs: dict[str, str], genes, excluded: dict[str, np.ndarray], units, dropped: dict, bar=None
):
    """All candidate windows (before the split and sampling) and the class names.

    ``bar`` (optional) advances by ``2 * len(contig)`` bp per contig: one pass that finds the
    windows, one that checks them for N, exclusions and GC.
    """
    from genolm.io.gff import feature_intervals

    def tick(n):
        if bar is not None:
            bar.update(n)

    w = cfg.window
    names = list(seqs)
    parts = []
    if cfg.kind in ("feature", "cds"):
        iv = feature_intervals(genes)
        want = list(cfg.classes or FEATURE_CLASSES) if cfg.kind == "feature" else None
        stride = cfg.stride or w
        for ci, name in enumerate(names):
            seq = seqs[name]
            L = len(seq)
            if L < w:
                tick(L)
                continue
            lab = _base_labels(L, iv.get(name, {}))
            if cfg.kind == "cds":
                lab = np.where(lab == FEATURE_CLASSES.index("CDS"), 1, 0).astype(np.uint8)
                classes = [0, 1]
            else:
                classes = [FEATURE_CLASSES.index(c) for c in want]
            starts = []
            for uci, u0, u1 in units:
                if uci == ci:
                    starts.append(np.arange(u0, u1 - w + 1, stride, dtype=np.int64))
            if not starts:
                tick(L)
                continue
            st = np.concatenate(starts)
            best_cls = np.full(len(st), -1, dtype=np.int64)
            for j, c in enumerate(classes):
                cnt = _prefix(lab == c)
                frac = (cnt[st + w] - cnt[st]) / w
                best_cls[frac >= cfg.min_purity] = c
                tick(L * (j + 1) // len(classes) - L * j // len(classes))
            dropped["impure"] = dropped.get("impure", 0) + int((best_cls < 0).sum())
            keep = best_cls >= 0
            parts.append(
                (np.full(keep.sum(), ci, np.int32), st[keep], np.ones(keep.sum(), np.int8), best_cls[keep])
            )
        if cfg.kind == "feature":
            label_names = list(want)
            remap = {FEATURE_CLASSES.index(c): i for i, c in enumerate(want)}
            parts = [
                (a, b, s, np.array([remap[int(x)] for x in lab_], dtype=np.int64)) for a, b, s, lab_ in parts
            ]
        else:
            label_names = list(_BINARY_LABELS["cds"])
    else:
        motif = _SITE_MOTIF[cfg.kind]
        sites = _sites(genes, cfg.kind, seqs)
        label_names = list(_BINARY_LABELS[cfg.kind])
        site_set = set(sites)
        dropped["annotated_sites"] = len(sites)  # moved out of 'dropped' in the manifest
        for ci, name in enumerate(names):
            seq = seqs[name]
            pos = [(p, s) for (c, p, s) in sites if c == name]
            if cfg.canonical_only:
                from genolm.alphabet import reverse_complement

                good = []
                for p, s in pos:
                    word = (
                        seq[p : p + len(motif)]
                        if s == 1
                        else reverse_complement(seq[p - len(motif) + 1 : p + 1])
                    )
                    if word == motif:
                        good.append((p, s))
                dropped["non_canonical_sites"] = dropped.get("non_canonical_sites", 0) + len(pos) - len(good)
                pos = good
            if pos:
                p = np.array([x[0] for x in pos], dtype=np.int64)
                s = np.array([x[1] for x in pos], dtype=np.int8)
                parts.append(
                    (np.full(len(p), ci, np.int32), _oriented_start(p, s, w), s, np.ones(len(p), np.int64))
                )
            dp, ds = _motif_positions(seq, motif)
            tick(len(seq))
            if len(dp):
                keys = [2 * p_ + (s_ == 1) for (c_, p_, s_) in site_set if c_ == name]
                is_site = np.isin(2 * dp + (ds == 1), np.array(keys, dtype=np.int64))
                dp, ds = dp[~is_site], ds[~is_site]
                parts.append(
                    (
                        np.full(len(dp), ci, np.int32),
                        _oriented_start(dp, ds, w),
                        ds,
                        np.zeros(len(dp), np.int64),
                    )
                )
    if not parts:
        raise InputError(
            f"no candidate windows of kind '{cfg.kind}' in the genome",
            hint="check the annotation and --window",
        )
    contig = np.concatenate([p[0] for p in parts])
    start = np.concatenate([p[1] for p in parts])
    strand = np.concatenate([p[2] for p in parts])
    label = np.concatenate([p[3] for p in parts])
    # windows must lie in a split unit, avoid excluded regions, hold no N
    lens = np.array([len(seqs[n]) for n in names], dtype=np.int64)
    inb = (start >= 0) & (start + w <= lens[contig])
    contig, start, strand, label = contig[inb], start[inb], strand[inb], label[inb]
    unit = _unit_of(contig, start, w, units)
    dropped["outside_split_units"] = dropped.get("outside_split_units", 0) + int((unit < 0).sum())
    ok = unit >= 0
    gc = np.zeros(len(start))
    for ci, name in enumerate(names):
        sel = np.flatnonzero(contig == ci)
        if not len(sel):
            tick(len(seqs[name]))
            continue
        b = np.frombuffer(seqs[name].encode("ascii"), dtype=np.uint8)
        acgt = np.isin(b, np.frombuffer(b"ACGT", dtype=np.uint8))
        n_amb = _prefix(~acgt)
        n_gc = _prefix((b == ord("G")) | (b == ord("C")))
        n_ex = _prefix(excluded[name])
        s0 = start[sel]
        amb = n_amb[s0 + w] - n_amb[s0] > 0
        exc = n_ex[s0 + w] - n_ex[s0] > 0
        dropped["ambiguous_bases"] = dropped.get("ambiguous_bases", 0) + int((amb & ok[sel]).sum())
        dropped["excluded_regions"] = dropped.get("excluded_regions", 0) + int((exc & ok[sel] & ~amb).sum())
        ok[sel] &= ~amb & ~exc
        gc[sel] = (n_gc[s0 + w] - n_gc[s0]) / w
        tick(len(seqs[name]))
    c = _Cands(contig[ok], start[ok], strand[ok], label[ok].astype(np.int64), gc[ok], unit[ok])
    return c, label_names


def _assign_units(cfg, units, cands: _Cands, n_classes: int, rng, progress: bool = False) -> np.ndarray:
    """Split index (into ``cfg.fractions``) of every unit: the most class-balanced of 200 shuffles."""
    names = list(cfg.fractions)
    fr = np.array([cfg.fractions[n] for n in names])
    n_units = len(units)
    if n_units < len(names):
        what = "contigs" if cfg.split_by == "contig" else f"blocks of {cfg.block_size} bp"
        raise InputError(
            f"{n_units} {what} cannot fill {len(names)} splits",
            hint="use a smaller --block-size, or --split-by block"
            if cfg.split_by == "contig"
            else "use a smaller --block-size",
        )
    lengths = np.array([u[2] - u[1] for u in units], dtype=float)
    # balance on the classes that are not sampled later: all classes, or the positives for site tasks
    pos_mask = cands.label > 0 if cfg.kind in _SITE_MOTIF else np.ones(len(cands.label), bool)
    counts = np.zeros((n_units, n_classes))
    np.add.at(counts, (cands.unit[pos_mask], cands.label[pos_mask]), 1)
    class_tot = counts.sum(0)
    target = fr * lengths.sum()
    small_first = np.argsort(fr, kind="stable")
    best, best_score = None, math.inf
    bar = _bar(progress, 200, "make-task: split assignment", "shuffle")
    for _ in range(200):
        if bar is not None:
            bar.update(1)
        perm = rng.permutation(n_units)
        assign = np.empty(n_units, dtype=np.int64)
        got = np.zeros(len(names))
        for r, u in enumerate(perm):
            # one unit for every split first (smallest splits first), then fill the largest deficit
            s = small_first[r] if r < len(names) else int(np.argmax(target - got))
            assign[u] = s
            got[s] += lengths[u]
        per = np.zeros((len(names), n_classes))
        np.add.at(per, assign, counts)
        missing = (per[:, 1:] == 0).sum() if cfg.kind in _SITE_MOTIF else (per == 0).sum()
        # each class spread over the splits like the fractions (small classes count as much as big ones)
        share = per / np.maximum(class_tot, 1)
        size = got / lengths.sum()
        score = 1e6 * missing + np.abs(share - fr[:, None]).sum() + np.abs(size - fr).sum()
        if score < best_score:
            best, best_score = assign, score
    if bar is not None:
        bar.close()
    if best is None:
        raise InputError(
            f"could not place {n_units} units into {len(names)} splits; use a smaller --block-size"
        )
    return best


def _sample(labels: np.ndarray, gc: np.ndarray, cfg, ref: int, rng, cap: int | None) -> np.ndarray:
    """Indices kept in one split: GC-matched to class ``ref`` (or random), then capped."""
    classes = np.unique(labels)
    ratio = cfg.negatives_per_positive if cfg.kind != "feature" else 1.0
    keep = []
    if cfg.gc_match:
        bins = np.minimum((gc / cfg.gc_bin_width).astype(np.int64), int(1 / cfg.gc_bin_width))
        others = [c for c in classes if c != ref]
        for b in np.unique(bins):
            in_b = bins == b
            r_idx = np.flatnonzero(in_b & (labels == ref))
            o_idx = {c: np.flatnonzero(in_b & (labels == c)) for c in others}
            k = min([len(r_idx)] + [int(len(o) / ratio) for o in o_idx.values()])
            if k <= 0:
                continue
            keep.append(rng.choice(r_idx, k, replace=False))
            for o in o_idx.values():
                keep.append(rng.choice(o, min(len(o), int(round(k * ratio))), replace=False))
        keep = np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)
    elif cfg.kind in _SITE_MOTIF:
        pos = np.flatnonzero(labels == ref)
        neg = np.flatnonzero(labels != ref)
        n_neg = min(len(neg), int(round(len(pos) * ratio)))
        keep = np.sort(np.concatenate([pos, rng.choice(neg, n_neg, replace=False)]))
    else:
        keep = np.arange(len(labels))
    if cap is not None:
        out = []
        for c in classes:
            idx = keep[labels[keep] == c]
            limit = cap if c == ref or cfg.kind == "feature" else int(round(cap * ratio))
            out.append(np.sort(rng.choice(idx, limit, replace=False)) if len(idx) > limit else idx)
        keep = np.sort(np.concatenate(out))
    return keep


def _gc_summary(labels, gc, split_of, names, label_names) -> dict:
    out = {}
    for s, sn in enumerate(names):
        m = split_of == s
        out[sn] = {
            label_names[c]: round(float(gc[m & (labels == c)].mean()), 4)
            for c in range(len(label_names))
            if (m & (labels == c)).any()
        }
    return out


def _gc_gap(summary: dict) -> float:
    gaps = [max(v.values()) - min(v.values()) for v in summary.values() if len(v) >= 2]
    return round(float(max(gaps)), 4) if gaps else float("nan")


def build_task(cfg: MakeTaskConfig, *, progress: bool = False) -> MakeTaskResult:
    """Build the task in memory (see the module docstring); :func:`make_task` also writes it.

    ``progress=True`` shows progress bars (rate, ETA) over the steps that grow with the genome
    (the window scan in bp, the 200 split-assignment shuffles), each once it has run 2 s, and
    logs the other steps at INFO.  Default is ``False``.
    """
    import genolm
    from genolm.alphabet import reverse_complement
    from genolm.io.gff import genes as make_genes

    rng = np.random.default_rng(cfg.seed)
    w = cfg.window
    gap = cfg.gap or w
    log.info("make-task: reading %s", cfg.genome)
    seqs, feats, info = load_annotated_genome(cfg)
    gene_list = make_genes(feats)
    names = list(seqs)
    excluded = {n: np.zeros(len(seqs[n]), dtype=bool) for n in names}
    excluded_regions, inverted = [], []
    for r in cfg.exclude:
        c, s, e = _parse_region(r)
        if c not in excluded:
            raise InputError(
                f"exclude region '{r}': contig '{c}' is not in the genome.{did_you_mean(c, names)}"
            )
        excluded[c][s:e] = True
        excluded_regions.append({"contig": c, "start": s + 1, "end": e, "why": "listed in exclude"})
    if cfg.exclude_inverted_repeats:
        for n in names:
            for a0, a1, b0, b1 in find_inverted_repeats(seqs[n], min_length=cfg.min_inverted_repeat):
                excluded[n][b0:b1] = True
                inverted.append(
                    {"contig": n, "copy_a": [a0 + 1, a1], "copy_b": [b0 + 1, b1], "length": a1 - a0}
                )
                excluded_regions.append(
                    {
                        "contig": n,
                        "start": b0 + 1,
                        "end": b1,
                        "why": f"3' copy of an inverted repeat of {a1 - a0} bp (kept copy: {a0 + 1}-{a1})",
                    }
                )
    units = _units(cfg, [len(seqs[n]) for n in names], w, gap)
    dropped: dict[str, int] = {}
    bar = _bar(progress, 2 * sum(len(x) for x in seqs.values()), "make-task: windows", "bp")
    cands, label_names = _candidates(cfg, seqs, gene_list, excluded, units, dropped, bar)
    if bar is not None:
        bar.close()
    k = len(label_names)
    present = np.bincount(cands.label, minlength=k)
    if cfg.kind == "feature":
        absent = [label_names[i] for i in range(k) if present[i] == 0]
        if absent:
            keep_cls = [i for i in range(k) if present[i] > 0]
            if len(keep_cls) < 2:
                raise InputError(
                    f"only the class(es) {[label_names[i] for i in keep_cls]} have windows; a task needs two"
                )
            remap = -np.ones(k, dtype=np.int64)
            remap[keep_cls] = np.arange(len(keep_cls))
            cands = cands._replace(label=remap[cands.label])
            info["classes_without_windows"] = absent
            label_names = [label_names[i] for i in keep_cls]
            k = len(label_names)
            present = np.bincount(cands.label, minlength=k)
    elif present[1] == 0:
        raise InputError(
            f"no annotated {cfg.kind} sites survive (check the annotation, --window and exclusions)"
        )
    split_names = list(cfg.fractions)
    unit_split = _assign_units(cfg, units, cands, k, rng, progress)
    split_of = unit_split[cands.unit]
    ref = int(np.argmin(present)) if cfg.kind == "feature" else 1
    gc_before = _gc_summary(cands.label, cands.gc, split_of, split_names, label_names)

    chosen = []
    for s, sn in enumerate(split_names):
        idx = np.flatnonzero(split_of == s)
        cap = None
        if cfg.max_per_class is not None:
            cap = max(1, int(round(cfg.max_per_class * cfg.fractions[sn])))
        keep = _sample(cands.label[idx], cands.gc[idx], cfg, ref, rng, cap)
        chosen.append(idx[keep])
    chosen = np.concatenate(chosen)
    # extract, orient, dedupe (exact and reverse-complement; the later copy in split order goes)
    order = np.lexsort((cands.start[chosen], cands.contig[chosen], split_of[chosen]))
    chosen = chosen[order]
    seen: set[str] = set()
    rows = {sn: ([], [], []) for sn in split_names}
    n_dup = 0
    for i in chosen:
        name = names[cands.contig[i]]
        st = int(cands.start[i])
        seq = seqs[name][st : st + w]
        strand = int(cands.strand[i])
        if strand == -1:
            seq = reverse_complement(seq)
        canon = min(seq, reverse_complement(seq))
        if cfg.dedupe and canon in seen:
            n_dup += 1
            continue
        seen.add(canon)
        sn = split_names[split_of[i]]
        rows[sn][0].append(seq)
        rows[sn][1].append(int(cands.label[i]))
        rows[sn][2].append(f"{name}:{st + 1}-{st + w}({'+' if strand == 1 else '-'})")
    dropped["duplicates"] = n_dup
    splits = {}
    for sn in split_names:
        seqs_s, lab_s, ids_s = rows[sn]
        perm = rng.permutation(len(seqs_s))  # no positional order in the files
        splits[sn] = (
            [seqs_s[j] for j in perm],
            np.array(lab_s, dtype=np.int64)[perm],
            [ids_s[j] for j in perm],
        )
        got = np.unique(splits[sn][1])
        if len(got) < k:
            miss = [label_names[c] for c in range(k) if c not in got]
            raise InputError(
                f"split '{sn}' has no window of class(es) {miss} after sampling",
                hint="use a smaller --block-size, more data, a wider --gc-bin-width or --gc-match false",
            )
    from genolm.alphabet import gc_content

    final_labels = np.concatenate([splits[s][1] for s in split_names])
    final_gc = np.array([gc_content(x) for s in split_names for x in splits[s][0]])
    final_split = np.concatenate([np.full(len(splits[s][0]), i) for i, s in enumerate(split_names)])
    gc_after = _gc_summary(final_labels, final_gc, final_split, split_names, label_names)
    lengths = {n: len(seqs[n]) for n in names}
    unit_list = {sn: [] for sn in split_names}
    for u, s in zip(units, unit_split):
        unit_list[split_names[s]].append([names[u[0]], u[1] + 1, u[2]])
    gpath = resolve_path(cfg.genome)
    manifest = {
        "created_by": "genolm make-task",
        "genolm_version": genolm.__version__,
        "algorithm_version": ALGORITHM_VERSION,
        "name": cfg.name,
        "kind": cfg.kind,
        "task_type": cfg.task_type,
        "labels": label_names,
        "seed": cfg.seed,
        "inputs": {
            "genome": {
                "path": str(gpath),
                "spec": cfg.genome,
                "sha256": input_sha256(cfg.genome),
                "contigs": lengths,
            },
            "annotation": None
            if cfg.annotation is None
            else {"path": str(resolve_path(cfg.annotation)), "sha256": input_sha256(cfg.annotation)},
        },
        "parameters": dataclasses.asdict(cfg),
        "coordinates": "ids are contig:start-end(strand), 1-based inclusive; windows on '-' are reverse-complemented",
        "excluded_regions": excluded_regions,
        "inverted_repeats": inverted,
        "split_units": {
            sn: {"n": len(v), "bp": int(sum(e - s + 1 for _, s, e in v)), "units": v}
            for sn, v in unit_list.items()
        },
        "candidates": {label_names[c]: int((cands.label == c).sum()) for c in range(k)},
        "annotated_sites": dropped.pop("annotated_sites", None),
        "dropped": dropped,
        "counts": {
            sn: {label_names[c]: int((splits[sn][1] == c).sum()) for c in range(k)} for sn in split_names
        },
        "gc": {
            "matched": cfg.gc_match,
            "reference_class": label_names[ref],
            "bin_width": cfg.gc_bin_width,
            "mean_before": gc_before,
            "mean_after": gc_after,
            "gap_before": _gc_gap(gc_before),
            "gap_after": _gc_gap(gc_after),
        },
        **info,
    }
    if cfg.audit:
        from genolm.bench.audit import audit_splits

        log.info("make-task: leak audit of the splits")
        report = audit_splits(splits, task_type=cfg.task_type, seed=cfg.seed)
        manifest["audit_verdict"] = report.verdict
        manifest["audit"] = report.to_dict()
    return MakeTaskResult(None, jsonable(manifest), splits)


def _task_yaml(cfg: MakeTaskConfig, manifest: dict, name: str, split_names: list[str]) -> str:
    import yaml

    genome = Path(manifest["inputs"]["genome"]["path"]).name
    ann = manifest["inputs"]["annotation"]
    what = {
        "feature": f"windows labelled by annotation class ({', '.join(manifest['labels'])})",
        "cds": "CDS vs non-CDS windows",
        "donor": "splice donor windows vs decoy GT",
        "acceptor": "splice acceptor windows vs decoy AG",
        "gene_start": "CDS start windows vs decoy ATG",
    }[cfg.kind]
    doc = {
        "name": name,
        "version": 1,
        "description": f"{what}, {cfg.window} bp, from {genome}; built by genolm make-task "
        f"(split by {cfg.split_by}, seed {cfg.seed}; see manifest.json)",
        "source": f"genolm make-task {manifest['genolm_version']} from {genome}"
        + (f" + {Path(ann['path']).name}" if ann else ""),
        "license": "derived from the input genome and annotation: their licences apply",
        "task_type": cfg.task_type,
        "metric": "mcc",
        "max_length": cfg.window,
        "labels": manifest["labels"],
        "data": {"splits": {s: f"{s}.csv" for s in split_names}, "id_column": "id"},
    }
    return "# written by `genolm make-task`; the manifest.json beside it says how\n" + yaml.safe_dump(
        doc, sort_keys=False
    )


def make_task(cfg: MakeTaskConfig, *, progress: bool = False) -> MakeTaskResult:
    """Build the task and write it to ``cfg.out`` atomically (CSVs, ``task.yaml``, ``manifest.json``).

    ``progress``: as for :func:`build_task`.  Default is ``False``.
    """
    import pandas as pd

    from genolm.atomic import atomic_dir

    if not cfg.out:
        raise ConfigError("make-task needs an output folder (--out DIR)")
    out = Path(cfg.out).expanduser()
    if out.exists() and not cfg.overwrite:
        if not out.is_dir() or any(out.iterdir()):
            raise InputError(
                "the output folder exists and is not empty",
                path=str(out),
                hint="pass --overwrite true to replace it",
            )
    if out.exists() and out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").exists():
        raise InputError(
            "refusing to replace a folder that is not a make-task output (no manifest.json)", path=str(out)
        )
    name = cfg.name or re.sub(r"[^\w.+-]+", "_", out.name) or "task"
    cfg = dataclasses.replace(cfg, name=name)
    res = build_task(cfg, progress=progress)
    split_names = list(res.splits)
    with atomic_dir(out) as tmp:
        for sn, (seqs_s, lab_s, ids_s) in res.splits.items():
            pd.DataFrame({"sequence": seqs_s, "label": lab_s, "id": ids_s}).to_csv(
                tmp / f"{sn}.csv", index=False
            )
        (tmp / "task.yaml").write_text(_task_yaml(cfg, res.manifest, name, split_names))
        (tmp / "manifest.json").write_text(json.dumps(res.manifest, indent=2) + "\n")
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
    return MakeTaskResult(out, res.manifest, res.splits)
