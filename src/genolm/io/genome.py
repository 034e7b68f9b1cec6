"""Indexed random access to a genome FASTA: :class:`Genome`.

Coordinates are 0-based, half-open: ``genome.fetch("chr1", 0, 10)`` is the first ten bases.

Contig names are matched through aliases, so annotation and variant files that spell contigs
differently still work:

* ``chr1`` <-> ``1`` (also ``chr01`` / ``01``), ``chrX`` <-> ``X``;
* ``chrM`` <-> ``MT`` <-> ``M`` <-> ``chrMT``;
* pieces of a compound header: ``ref|NC_001416.1|`` answers to ``NC_001416.1`` and
  ``NC_001416``; ``Umaydis:chr01:1:+:2476500`` answers to ``chr01``;
* a record named like a samtools region, ``chr17:42425000-43600000`` (1-based, inclusive, its
  length matching), holds that part of ``chr17``: ``fetch("chr17", 42424999, 42425009)``
  (or ``"17"``) reads its first ten bases, and positions outside it are out of bounds.

An alias that two records share is not used (asking for it is an error that names both).

File formats: plain or bgzip FASTA are indexed (``.fai``, plus ``.gzi`` for bgzip, built with
htslib's ``faidx`` on first use).  The index goes next to the FASTA when that folder is
writable, else into ``$GENOLM_CACHE/faidx`` (default ``~/.cache/genolm/faidx``).  **Plain
gzip cannot be indexed**: ``Genome`` raises :class:`~genolm.errors.InputError` saying how to
recompress it with ``bgzip``, unless ``in_memory=True`` is passed, which loads every sequence
into memory (fine for bacterial or organelle genomes).  bzip2 / xz behave like plain gzip.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from genolm.alphabet import validate as validate_seq
from genolm.errors import InputError
from genolm.io.fasta import FastaRecord, PathLike, fasta_lengths, read_fasta, sniff_compression
from genolm.io.streams import refuse_stdin
from genolm.registry import did_you_mean

STATUSES = ("ok", "contig_missing", "out_of_bounds")

_REGION = re.compile(r"^(?P<contig>[^\s:]+):(?P<start>[\d,]+)-(?P<end>[\d,]+)$")
_VERSIONED = re.compile(r"^([A-Za-z][\w]*)\.\d+$")
_MITO = {"M", "MT", "chrM", "chrMT"}
# NCBI-style header database tags ('gi|9626243|ref|NC_001416.1|'): never names of their own
_DB_TAGS = {"gi", "ref", "gb", "emb", "dbj", "lcl", "sp", "tr", "pdb", "gnl"}


def cache_dir() -> Path:
    """Where genolm caches derived files: ``$GENOLM_CACHE``, else ``$XDG_CACHE_HOME/genolm``,
    else ``~/.cache/genolm``."""
    if os.environ.get("GENOLM_CACHE"):
        return Path(os.environ["GENOLM_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "genolm"


def contig_aliases(name: str) -> set[str]:
    """Other spellings under which the record ``name`` can be asked for (not including ``name``)."""
    tokens = {name}
    if "|" in name or ":" in name:
        # only tokens with a letter: '1', '+' and lengths in 'sp:chr01:1:+:2476500' are not names
        tokens |= {
            t for t in re.split(r"[|:]", name) if re.search(r"[A-Za-z]", t) and t.lower() not in _DB_TAGS
        }
    out: set[str] = set()
    for t in tokens:
        out.add(t)
        m = _VERSIONED.match(t)
        if m:
            out.add(m.group(1))  # NC_001416.1 -> NC_001416
        base = t[3:] if t[:3].lower() == "chr" else t
        if not base:
            continue
        out |= {base, "chr" + base}
        if base.isdigit():
            out |= {str(int(base)), "chr" + str(int(base))}  # chr01 <-> chr1 <-> 1
        if "chr" + base in _MITO or base in _MITO:
            out |= _MITO
    out.discard(name)
    return out


def _region_of(name: str, length: int) -> tuple[str, int] | None:
    """``("chr17", 42424999)`` for a record named ``chr17:42425000-43600000`` of matching length."""
    m = _REGION.match(name)
    if not m:
        return None
    start, end = int(m["start"].replace(",", "")), int(m["end"].replace(",", ""))
    if start < 1 or end - start + 1 != length:
        return None
    # samtools regions are 1-based and inclusive: the record's first base is genomic 0-based start - 1
    return m["contig"], start - 1


class Genome:
    """Random access to the sequences of a FASTA file.

    Parameters
    ----------
    path : str or PathLike
        Plain or bgzip FASTA (any FASTA with ``in_memory=True``).
    in_memory : bool
        Load all sequences into memory instead of indexing.  Required for plain gzip (which
        cannot be indexed).  Default is ``False``.
    index_dir : str or PathLike, optional
        Where to build the ``.fai`` / ``.gzi`` index if none is next to the FASTA.  Default is
        next to the FASTA when writable, else ``cache_dir() / "faidx"``.

    Attributes
    ----------
    contigs : list of str
        Record names, in file order.
    lengths : dict of str to int
        Record lengths.

    Examples
    --------
    >>> g = Genome("hg38.fa.bgz")                     # doctest: +SKIP
    >>> g = Genome.open("bundled:chloroplast")        # any FASTA / GenBank / bundled genome  # doctest: +SKIP
    >>> g.fetch("1", 1_000_000, 1_000_010)            # same as "chr1"  # doctest: +SKIP
    """

    def __init__(self, path: PathLike, *, in_memory: bool = False, index_dir: PathLike | None = None):
        refuse_stdin(path, "genome")
        self.path = str(path)
        self._seqs: dict[str, str] | None = None
        self._fa = None
        self._pid = None
        comp = sniff_compression(path)
        if in_memory:
            self._seqs = {r.name: r.seq for r in read_fasta(path)}
            lengths = {k: len(v) for k, v in self._seqs.items()}
        elif comp in ("gzip", "bz2", "xz", "zstd"):
            raise InputError(
                f"this FASTA is {'plain gzip' if comp == 'gzip' else comp}-compressed, "
                "which cannot be indexed for random access",
                path=self.path,
                hint="recompress it with bgzip (`gzip -dc genome.fa.gz | bgzip -c > genome.fa.bgz`, or "
                "`gunzip genome.fa.gz && bgzip genome.fa`), or pass in_memory=True to load it into memory",
            )
        else:
            self._fai, self._gzi = _ensure_index(Path(path), comp, index_dir)
            lengths = {}
            with open(self._fai) as fh:
                for row in fh:
                    name, length = row.split("\t")[:2]
                    lengths[name] = int(length)
        self._init_names(lengths)

    @classmethod
    def open(cls, spec: PathLike, *, in_memory: bool | None = None) -> Genome:
        """A ``Genome`` from any file genolm reads as a genome, or a bundled one.

        ``spec``: ``bundled:NAME`` (a genome shipped with genolm), an indexable FASTA (plain /
        bgzip, indexed on first use), a plain-gzip / bzip2 / xz / zstd FASTA (loaded into memory),
        or a GenBank file (its sequences, in memory).  ``in_memory`` default: only for files that
        cannot be indexed (plain gzip, bzip2, xz, zstd, GenBank).
        """
        from genolm.data import resolve_path
        from genolm.io.genbank import is_genbank, read_genbank

        refuse_stdin(spec, "genome")
        path = resolve_path(spec)
        if is_genbank(path):
            # read_genbank rejects a repeated record name: a dict here would keep only the last
            return cls.from_sequences(((r.name, r.seq) for r in read_genbank(path)), name=str(path))
        if in_memory is None:
            in_memory = sniff_compression(path) in ("gzip", "bz2", "xz", "zstd")
        return cls(path, in_memory=in_memory)

    @classmethod
    def from_sequences(
        cls, seqs: Mapping[str, str] | Iterable[FastaRecord], *, name: str = "<memory>"
    ) -> Genome:
        """A ``Genome`` over sequences already in memory: ``{name: seq}``, or FASTA records /
        ``(name, seq)`` pairs (a name given twice is an :class:`~genolm.errors.InputError`)."""
        self = cls.__new__(cls)
        self.path = name
        self._fa = None
        self._pid = None
        if isinstance(seqs, Mapping):
            self._seqs = {str(k): str(v) for k, v in seqs.items()}
        else:
            self._seqs = {}
            for r in seqs:
                if r[0] in self._seqs:
                    raise InputError(
                        "duplicate record name: a genome needs one record per name",
                        path=name,
                        record=r[0],
                        hint="rename or remove one of the records",
                    )
                self._seqs[r[0]] = r[-1]
        self._init_names({k: len(v) for k, v in self._seqs.items()})
        return self

    def _init_names(self, lengths: dict[str, int]) -> None:
        self.lengths = dict(lengths)
        self.contigs = list(lengths)
        # regions: parent contig -> [(genomic start, genomic end, record)]
        self._regions: dict[str, list[tuple[int, int, str]]] = {}
        owners: dict[str, set[str]] = {}
        for rec, length in lengths.items():
            reg = _region_of(rec, length)
            if reg is not None:
                contig, start = reg
                self._regions.setdefault(contig, []).append((start, start + length, rec))
                continue
            for a in contig_aliases(rec):
                owners.setdefault(a, set()).add(rec)
        # region parents answer to their aliases too ('17' for 'chr17')
        self._region_alias: dict[str, set[str]] = {}
        for contig in self._regions:
            for a in contig_aliases(contig) | {contig}:
                self._region_alias.setdefault(a, set()).add(contig)
        self._alias = {a: next(iter(r)) for a, r in owners.items() if len(r) == 1 and a not in lengths}
        self._ambiguous = {a: sorted(r) for a, r in owners.items() if len(r) > 1 and a not in lengths}

    # --- names -------------------------------------------------------------------------

    def _lookup(self, contig: str) -> tuple[str, str | None]:
        """``("record", name)``, ``("region", parent)`` or ``("missing", None)``."""
        if contig in self.lengths:
            return "record", contig
        if contig in self._alias:
            return "record", self._alias[contig]
        parents = self._region_alias.get(contig)
        if parents and len(parents) == 1:
            return "region", next(iter(parents))
        return "missing", None

    def __contains__(self, contig: object) -> bool:
        """``True`` for a record name, an alias, or a contig that region records cover part of."""
        return isinstance(contig, str) and self._lookup(contig)[0] != "missing"

    def __len__(self) -> int:
        return len(self.contigs)

    def __iter__(self):
        return iter(self.contigs)

    def _missing(self, contig: str) -> InputError:
        if contig in self._ambiguous:
            return InputError(
                f"contig '{contig}' is ambiguous: it could be any of {self._ambiguous[contig]}",
                path=self.path,
                hint="use the full record name",
            )
        known = self.contigs + list(self._regions)
        shown = ", ".join(known[:10]) + (f", ... ({len(known)} in all)" if len(known) > 10 else "")
        return InputError(
            f"contig '{contig}' is not in the genome.{did_you_mean(contig, known)}",
            path=self.path,
            hint=f"contigs: {shown}",
        )

    def canonical(self, contig: str) -> str:
        """The record name that ``contig`` (a name or an alias) refers to; ``InputError`` if none."""
        kind, name = self._lookup(contig)
        if kind == "record":
            return name
        if kind == "region":
            regs = ", ".join(f"{r}" for _, _, r in self._regions[name])
            raise InputError(
                f"contig '{contig}' is only held in part, as region records ({regs}); "
                "fetch it with coordinates",
                path=self.path,
            )
        raise self._missing(contig)

    def length(self, contig: str) -> int:
        """Length of the record ``contig`` refers to."""
        return self.lengths[self.canonical(contig)]

    # --- coordinates -------------------------------------------------------------------

    def _resolve(self, contig: str, start: int, end: int) -> tuple[str, str | None, int, int, str]:
        """``(status, record, record_start, record_end, message)`` without raising."""
        kind, name = self._lookup(contig)
        if kind == "missing":
            return "contig_missing", None, start, end, str(self._missing(contig).bare_message)
        if kind == "record":
            n = self.lengths[name]
            if start < 0 or end > n or start > end:
                return "out_of_bounds", name, start, end, f"[{start}, {end}) is outside {name} (length {n:,})"
            return "ok", name, start, end, ""
        for rstart, rend, rec in self._regions[name]:
            if rstart <= start and end <= rend and start <= end:
                return "ok", rec, start - rstart, end - rstart, ""
        regs = ", ".join(rec for _, _, rec in self._regions[name])
        return (
            "out_of_bounds",
            None,
            start,
            end,
            f"{contig}:[{start}, {end}) is outside the parts of {name} this genome holds ({regs})",
        )

    def locate(self, contig: str, start: int, end: int) -> str:
        """Status of the interval ``[start, end)``: ``"ok"``, ``"contig_missing"`` or ``"out_of_bounds"``."""
        return self._resolve(contig, start, end)[0]

    def fetch(self, contig: str, start: int = 0, end: int | None = None, *, clip: bool = False) -> str:
        """The sequence of ``contig`` in ``[start, end)`` (0-based, half-open), case kept (soft mask).

        Parameters
        ----------
        contig : str
            A record name or an alias (``"1"`` for ``"chr1"``).
        start, end : int
            0-based half-open interval.  Default is the whole record.
        clip : bool
            Clip an interval that runs past either end of the record instead of raising.
            Default is ``False``: it is an ``InputError``.

        Raises
        ------
        genolm.errors.InputError
            Naming the record and 0-based position when the piece holds a character outside the
            IUPAC alphabet (``*``, ``-``, digits, ...).
        """
        if end is None:
            end = self.length(contig)
        if clip:
            kind, name = self._lookup(contig)
            if kind == "record":
                start, end = max(0, start), min(end, self.lengths[name])
                end = max(start, end)
        status, rec, rs, re_, msg = self._resolve(contig, start, end)
        if status == "contig_missing":
            raise self._missing(contig)
        if status == "out_of_bounds":
            raise InputError(
                msg,
                path=self.path,
                record=contig,
                hint="fix the region, or clip it to the record (clip=True in Python)",
            )
        if self._seqs is not None:
            seq = self._seqs[rec][rs:re_]
        else:
            # always pass coordinates: with a bare name pysam would parse 'chr17:1-9' as a region
            seq = self._handle().fetch(rec, rs, re_)
        # the index is built without reading every base, so each fetched piece is checked here:
        # the same check (genolm.alphabet.validate) as the FASTA stream, so that '*' or a digit
        # is an error on every path, never a window scored with them in it
        return validate_seq(seq, "iupac", path=self.path, record=rec, offset=rs)

    def _handle(self):
        import pysam

        # one handle per process: htslib file offsets must not be shared across fork()
        if self._fa is None or self._pid != os.getpid():
            kw = {"filepath_index": str(self._fai)}
            if self._gzi is not None:
                kw["filepath_index_compressed"] = str(self._gzi)
            self._fa = pysam.FastaFile(self.path, **kw)
            self._pid = os.getpid()
        return self._fa

    def close(self) -> None:
        if self._fa is not None:
            self._fa.close()
            self._fa = None

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fa"] = None  # reopened lazily in the new process
        return state

    def __repr__(self) -> str:
        total = sum(self.lengths.values())
        return f"Genome({self.path!r}, contigs={len(self.contigs)}, bases={total:,})"


def _fresh(index: Path, fasta: Path) -> bool:
    return index.is_file() and index.stat().st_mtime >= fasta.stat().st_mtime


def _writable(folder: Path) -> bool:
    # root passes os.access on a read-only (r-x) folder: also honour the mode bits, which say
    # that a shared data folder is not to be written to
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)


def _ensure_index(path: Path, comp: str | None, index_dir: PathLike | None) -> tuple[Path, Path | None]:
    """Find or build ``.fai`` (and ``.gzi`` for bgzip); returns their paths."""
    bgz = comp == "bgzip"
    beside = (Path(str(path) + ".fai"), Path(str(path) + ".gzi") if bgz else None)
    if index_dir is None and _fresh(beside[0], path) and (not bgz or _fresh(beside[1], path)):
        return beside
    if index_dir is not None:
        where = Path(index_dir)
    elif _writable(path.parent):
        where = path.parent
    else:
        st = path.stat()
        key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
        where = cache_dir() / "faidx" / key
    fai, gzi = where / (path.name + ".fai"), (where / (path.name + ".gzi") if bgz else None)
    if _fresh(fai, path) and (gzi is None or _fresh(gzi, path)):
        return fai, gzi
    _build_index(path, fai, gzi)
    return fai, gzi


def _build_index(path: Path, fai: Path, gzi: Path | None) -> None:
    import logging

    import pysam

    # a human chromosome takes several seconds: say so (once per genome: the index is kept)
    logging.getLogger(__name__).info("indexing %s for random access (first use only) ...", path)
    # htslib keeps the first of two same-named records and only warns on stderr: check names
    # ourselves first, so a duplicate is an error that names the line, never a silent drop
    fasta_lengths(path, validate=False, allow_empty=True)
    fai.parent.mkdir(parents=True, exist_ok=True)
    # build under temporary names, then rename: two processes may build the same index at once
    fd, tmp_fai = tempfile.mkstemp(prefix=f".{fai.name}.", dir=fai.parent)
    os.close(fd)
    tmp_gzi = tmp_fai + ".gzi"
    args = [str(path), "--fai-idx", tmp_fai] + (["--gzi-idx", tmp_gzi] if gzi is not None else [])
    old = pysam.set_verbosity(0)
    ok = False
    try:
        pysam.faidx(*args)
        ok = True
    except pysam.SamtoolsError as e:
        raise InputError(
            "cannot index this FASTA",
            path=str(path),
            hint="every line of a record but its last must have the same length; rewrap it with "
            "genolm.io.write_fasta or `seqkit seq -w 60`",
        ) from e
    finally:
        pysam.set_verbosity(old)
        if not ok:
            for t in (tmp_fai, tmp_gzi):
                if os.path.exists(t):
                    os.remove(t)
    os.chmod(tmp_fai, 0o644)  # mkstemp makes it private; an index is as public as its FASTA
    if gzi is not None:
        os.replace(tmp_gzi, gzi)
    os.replace(tmp_fai, fai)
