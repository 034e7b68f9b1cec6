"""What goes into a database: every input kind becomes a stream of :class:`Item`.

``Item(id, seq, source, contig, start, end, strand, label)``
    ``start`` / ``end`` are 0-based, end-exclusive coordinates on ``contig`` (BED convention);
    ``strand`` is ``"+"`` or ``"-"`` (a ``-`` item's ``seq`` is already reverse-complemented);
    ``label`` is a string or ``None``.

Input kinds (:func:`iter_items`):

``fasta``   FASTA or FASTQ records, one item per record; ``id`` is the record name.
``genome``  windows of ``window`` bases every ``stride`` bases over each record; ``id`` is
            ``contig:start-end`` with ``start`` 1-based (samtools style); a record shorter than
            the window is **skipped and counted** (``shorter_than_window``); the last window of a
            record is shifted back to end at the record end, so every base is covered.
``table``   a task table (``sequence`` column, optional ``label`` and ``id`` columns).
``bed``     regions of a genome (BED, 0-based already); ``id`` is the BED name or ``contig:start-end``.

Policies, applied by :class:`InputStats` to every kind and counted there (nothing is dropped
silently; the counts and the first skipped ids go to the manifest and the build summary):

* ``max_n``: an item whose fraction of ``N`` (any non-ACGT IUPAC code) is above ``max_n`` is
  skipped (``n_fraction``).  Default is 0.1: a window that is mostly a gap or an N run carries no
  signal, and every N-rich window would be each other's nearest neighbour.
* ``alphabet="protein"`` (or detected: ``"auto"``): sequences are amino acids; the N policy
  counts ``X`` (unknown residue) instead of non-ACGT bases, and letters outside
  :data:`genolm.alphabet.PROTEIN_CHARS` are an error naming the record.
* ``translate=True``: DNA records are coding sequences, translated with the standard code
  (:func:`genolm.alphabet.translate`); a terminal stop is trimmed; a record whose length is not a
  multiple of 3 (``frame_error``) or with an internal stop (``internal_stop``) is skipped and
  counted.
* empty input: a FASTA with no record is an error naming the file.
* duplicate ids: an error naming both places.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from genolm.errors import InputError

INPUT_KINDS = ("auto", "fasta", "genome", "table", "bed")
ALPHABETS = ("auto", "dna", "protein")


def detect_alphabet(seqs) -> str:
    """``"protein"`` when most of ``seqs`` read as proteins (:func:`genolm.alphabet.looks_like_protein`), else ``"dna"``."""
    from genolm.alphabet import looks_like_protein

    seqs = [s for s in seqs if s][:100]
    if not seqs:
        return "dna"
    return "protein" if sum(looks_like_protein(s) for s in seqs) * 2 > len(seqs) else "dna"


def _protein_items(items, stats: InputStats, translate: bool) -> Iterator[Item]:
    from genolm.alphabet import PROTEIN_CHARS
    from genolm.alphabet import translate as translate_cds

    allowed = set(PROTEIN_CHARS)
    for it in items:
        seq = it.seq
        if translate:
            if len(seq) % 3:
                stats.skip("frame_error", f"{it.id} ({len(seq)} bp, not a multiple of 3)")
                continue
            seq = translate_cds(seq)
            if seq.endswith("*"):
                seq = seq[:-1]
            if "*" in seq:
                stats.skip("internal_stop", f"{it.id} (codon {seq.index('*') + 1})")
                continue
            it = it._replace(seq=seq, end=len(seq))
        else:
            seq = seq.rstrip("*")
            bad = set(seq) - allowed
            if bad:
                raise InputError(
                    f"record '{it.id}' has letters that are not amino acids: {''.join(sorted(bad))[:10]}",
                    path=it.source,
                    record=it.id,
                    hint="give protein FASTA (20 amino acids, B Z J X U O), or DNA without --alphabet protein",
                )
            it = it._replace(seq=seq)
        yield it


SKIP_SAMPLE = 20


class Item(NamedTuple):
    """One sequence to embed, with where it came from (see the module docstring)."""

    id: str
    seq: str
    source: str
    contig: str
    start: int
    end: int
    strand: str
    label: str | None


@dataclass
class InputStats:
    """Counts of what was read, kept and skipped (and why)."""

    max_n: float = 0.1
    alphabet: str = "dna"
    read: int = 0
    kept: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_ids: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, item_id: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        sample = self.skipped_ids.setdefault(reason, [])
        if len(sample) < SKIP_SAMPLE:
            sample.append(item_id)

    def admit(self, item: Item) -> bool:
        """Whether ``item`` passes the N policy (counted either way)."""
        self.read += 1
        seq = item.seq
        if seq:
            if self.alphabet == "protein":
                bad = seq.count("X")
            else:
                bad = len(seq) - sum(seq.count(c) for c in "ACGTacgt")
            if bad / len(seq) > self.max_n:
                self.skip("n_fraction", item.id)
                return False
        self.kept += 1
        return True

    def as_dict(self) -> dict:
        return {
            "read": self.read,
            "kept": self.kept,
            "skipped": dict(self.skipped),
            "skipped_ids": {k: list(v) for k, v in self.skipped_ids.items()},
            "max_n": self.max_n,
            "alphabet": self.alphabet,
        }


def detect_kind(path: str | os.PathLike, *, window: int | None = None) -> str:
    """The input kind of ``path`` from its name: BED, a table, else FASTA (a genome with ``window``)."""
    name = str(path).lower()
    for ext in (".gz", ".bgz", ".bz2", ".xz"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    if name.endswith(".bed"):
        return "bed"
    if name.endswith((".csv", ".tsv", ".parquet", ".jsonl")):
        return "table"
    return "genome" if window else "fasta"


def _fastx_records(path, protein: bool = False) -> Iterator[tuple[str, str]]:
    from genolm.io.fasta import open_binary, read_fasta

    with open_binary(path) as fh:
        first = fh.read(1)
    if first == b"@":
        from genolm.io.fastq import read_fastq

        for r in read_fastq(path):
            yield r.name, r.seq
    else:  # protein letters are checked per record by _protein_items (naming the record)
        for r in read_fasta(path, validate=not protein):
            yield r.name, r.seq


def _fasta_items(path, stats: InputStats, protein: bool = False) -> Iterator[Item]:
    n = 0
    for name, seq in _fastx_records(path, protein):
        n += 1
        yield Item(name, seq.upper(), str(path), name, 0, len(seq), "+", None)
    if n == 0:
        raise InputError("no records in this FASTA/FASTQ file", path=str(path), hint="is it empty?")


def _genome_items(path, window: int, stride: int, stats: InputStats) -> Iterator[Item]:
    from genolm.io.fasta import iter_windows

    stream = iter_windows(str(path), window, stride, last="shift")
    n = 0
    for w in stream:
        n += 1
        yield Item(
            f"{w.name}:{w.start + 1}-{w.start + len(w.seq)}",  # 1-based inclusive display id
            w.seq.upper(),
            str(path),
            w.name,
            w.start,
            w.start + len(w.seq),
            "+",
            None,
        )
    for name, _start, length in stream.stats.dropped:  # records shorter than one window
        stats.skip("shorter_than_window", f"{name} ({length} bp < window {window})")
    extra = stream.stats.partial_dropped - len(stream.stats.dropped)
    for _ in range(max(0, extra)):
        stats.skip("shorter_than_window", "(more)")
    if stream.stats.records == 0:
        raise InputError("no records in this FASTA file", path=str(path), hint="is it empty?")
    if n == 0 and stream.stats.records:
        raise InputError(
            f"every record is shorter than the window of {window} bp: no window to embed",
            path=str(path),
            hint="give a smaller --window, or build without --window (one vector per record)",
        )


def _table_items(path, stats: InputStats) -> Iterator[Item]:
    from genolm.io.tables import read_task_table

    df = read_task_table(path, label_col=None)
    if len(df) == 0:
        raise InputError("the table has no rows", path=str(path))
    ids = df["id"].astype(str).tolist() if "id" in df.columns else [f"row{i}" for i in range(len(df))]
    labels = df["label"].astype(str).tolist() if "label" in df.columns else [None] * len(df)
    for i, seq in enumerate(df["sequence"].astype(str)):
        yield Item(ids[i], seq.upper(), str(path), ids[i], 0, len(seq), "+", labels[i])


def _bed_items(path, genome, stats: InputStats) -> Iterator[Item]:
    from genolm.alphabet import reverse_complement
    from genolm.io.fasta import open_binary
    from genolm.io.genome import Genome

    if genome is None:
        raise InputError(
            "a BED input needs the genome its regions are on", path=str(path), hint="pass --genome"
        )
    g = genome if isinstance(genome, Genome) else Genome.open(genome)
    n = 0
    with open_binary(path) as fh:
        for line_no, raw in enumerate(fh, 1):
            line = raw.decode().rstrip("\r\n")
            if not line or line.startswith(("#", "track", "browser")):
                continue
            f = line.split("\t")
            if len(f) < 3:
                raise InputError(
                    "a BED line needs contig, start and end (tab-separated)", path=str(path), line=line_no
                )
            try:
                start, end = int(f[1]), int(f[2])  # BED is 0-based, end-exclusive: no conversion
            except ValueError:
                raise InputError(
                    f"start/end are not integers: {f[1]!r}, {f[2]!r}", path=str(path), line=line_no
                ) from None
            if end <= start:
                raise InputError(f"empty region {f[0]}:{start}-{end}", path=str(path), line=line_no)
            strand = f[5] if len(f) > 5 and f[5] in "+-" and f[5] else "+"
            status = g.locate(f[0], start, end)
            if status != "ok":  # the BED line is wrong (or the genome is the wrong one): name the line
                try:
                    g.fetch(f[0], start, end)
                except InputError as e:
                    raise InputError(
                        f"the region is not in the genome {g.path}: {e.bare_message}",
                        path=str(path),
                        line=line_no,
                        hint=(e.hint + "; " if status == "contig_missing" and e.hint else "")
                        + "fix or remove this BED line, or give the genome it was made for with --genome",
                    ) from None
            seq = g.fetch(f[0], start, end).upper()
            if strand == "-":
                seq = reverse_complement(seq)
            rid = f[3] if len(f) > 3 and f[3] not in ("", ".") else f"{f[0]}:{start + 1}-{end}"
            n += 1
            yield Item(rid, seq, str(path), f[0], start, end, strand, None)
    if n == 0:
        raise InputError("no regions in this BED file", path=str(path))


def iter_items(
    paths,
    *,
    kind: str = "auto",
    window: int | None = None,
    stride: int | None = None,
    genome=None,
    stats: InputStats | None = None,
    alphabet: str = "dna",
    translate: bool = False,
) -> Iterator[Item]:
    """Every :class:`Item` of ``paths`` in order, after the N policy of ``stats`` (counted there).

    Raises :class:`~genolm.errors.InputError` on a duplicate id (naming both files) and on an
    empty input.
    """
    from genolm.registry import check_choice

    check_choice("kind", kind, INPUT_KINDS)
    check_choice("alphabet", alphabet, ALPHABETS)
    stats = stats if stats is not None else InputStats()
    if translate:
        alphabet = "protein"
    if alphabet == "auto":
        first = next(iter([paths] if isinstance(paths, (str, os.PathLike)) else list(paths)), None)
        k0 = detect_kind(first, window=window) if first is not None and kind == "auto" else kind
        sample = []
        if first is not None and k0 == "fasta":
            for _, seq in _fastx_records(first, protein=True):
                sample.append(seq)
                if len(sample) >= 100:
                    break
        alphabet = detect_alphabet(sample)
    stats.alphabet = alphabet
    seen: dict[str, str] = {}
    for path in [paths] if isinstance(paths, (str, os.PathLike)) else list(paths):
        k = detect_kind(path, window=window) if kind == "auto" else kind
        if k == "genome":
            if not window:
                raise InputError("a genome input needs --window", path=str(path))
            it = _genome_items(path, window, stride or window, stats)
        elif k == "fasta":
            it = _fasta_items(path, stats, protein=alphabet == "protein" and not translate)
        elif k == "table":
            it = _table_items(path, stats)
        else:
            it = _bed_items(path, genome, stats)
        if alphabet == "protein":
            if k in ("genome", "bed"):
                raise InputError(f"a protein input is read record by record, not as a {k}", path=str(path))
            it = _protein_items(it, stats, translate)
        for item in it:
            if item.id in seen:
                raise InputError(
                    f"duplicate id '{item.id}' (first seen in {seen[item.id]})",
                    path=str(path),
                    record=item.id,
                    hint="ids must be unique in a database: rename the records, or give each input once",
                )
            seen[item.id] = str(Path(path).name)
            if stats.admit(item):
                yield item
