"""FASTA reading and writing, streamed in large binary blocks.

Shapes
------
``FastaRecord(name, description, seq)``
    one whole record (:func:`read_fasta`); ``seq`` is a ``str``.
``(name, offset, chunk)``
    a piece of one record's sequence (:func:`iter_fasta_chunks`); ``offset`` is the 0-based
    position of ``chunk[0]`` in the record.  Memory stays bounded by ``chunk_size`` plus one
    read block, however long the record.
``Window(name, start, seq)``
    a fixed-length window (:func:`iter_windows`); ``start`` is 0-based.

Policies (each one tested)
--------------------------
* Compression is found from the magic bytes, never the extension: plain, gzip, bgzip
  (gzip-compatible), bzip2 and xz are read.  A truncated or corrupt compressed file raises
  :class:`~genolm.errors.InputError` naming the file.
* Windows line endings: ``\\r`` is stripped, so CRLF files give identical records.  All other
  whitespace inside sequence lines (spaces, tabs, blank lines) is removed too: it is layout,
  not sequence.
* Lower case is kept as it is: it is the soft mask (repeats).
* Every sequence byte is checked against ``alphabet`` (``"iupac"`` by default, so ``N``,
  ``R``, ``Y``, ... are accepted); ``*``, ``-``, digits and the like raise ``InputError`` with
  the file, the record and the 0-based position in the record.
* An empty file, sequence data before the first ``>`` header, and a header without a name
  are errors.  A record without any sequence is an error unless ``allow_empty=True``.
* Duplicate record names raise ``InputError`` (``on_duplicate="error"``).  Alternatives:
  ``"rename"`` (the 2nd, 3rd ... copy becomes ``name_2``, ``name_3``) and ``"keep"`` (yield
  them unchanged, and do not track names at all: the memory-free choice for read files).
"""

from __future__ import annotations

import bz2
import gzip
import logging
import lzma
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NamedTuple

from genolm.alphabet import ALPHABETS
from genolm.alphabet import validate as validate_seq
from genolm.errors import InputError
from genolm.io.streams import resolve_input

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

#: bytes read per block from disk / decompressor.  Large blocks keep the per-block Python
#: overhead negligible; the stream never holds more than about two blocks plus a chunk.
DEFAULT_BLOCK_SIZE = 4 << 20

_WS = b" \t\r\n\v\f"
_HEADER, _SEQ = 0, 1
# a header line longer than this is not a header: it is a binary or non-FASTA file
_MAX_HEADER = 1 << 20

DUPLICATE_POLICIES = ("error", "rename", "keep")


class FastaRecord(NamedTuple):
    """One FASTA record: ``name`` (first word of the header), ``description`` (the rest), ``seq``."""

    name: str
    description: str
    seq: str


# --- compression ------------------------------------------------------------------------


def sniff_compression(path: PathLike) -> str | None:
    """Compression of ``path`` from its magic bytes.

    Returns ``"bgzip"``, ``"gzip"``, ``"bz2"``, ``"xz"``, ``"zstd"`` or ``None`` (plain).
    bgzip is told apart from plain gzip by its ``BC`` extra field (SAM/BAM spec, section 4.1).
    ``-`` is standard input (see :mod:`genolm.io.streams`).
    """
    path = resolve_input(path)
    with open(path, "rb") as fh:
        head = fh.read(18)
    if head[:2] == b"\x1f\x8b":
        if len(head) >= 16 and head[3] & 4 and head[12:14] == b"BC":
            return "bgzip"
        return "gzip"
    if head[:3] == b"BZh":
        return "bz2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return None


def open_binary(path: PathLike) -> IO[bytes]:
    """Open ``path`` for reading bytes, decompressing by magic bytes (see :func:`sniff_compression`).

    ``-`` reads standard input (plain or compressed), as every reader built on this does."""
    path = resolve_input(path)
    kind = sniff_compression(path)
    if kind in ("gzip", "bgzip"):
        return gzip.open(path, "rb")
    if kind == "bz2":
        return bz2.open(path, "rb")
    if kind == "xz":
        return lzma.open(path, "rb")
    if kind == "zstd":
        raise InputError(
            "zstd-compressed files are not supported",
            path=str(path),
            hint="decompress with `zstd -d`, or recompress with `bgzip`",
        )
    return open(path, "rb")


def read_blocks(path: PathLike, block_size: int = DEFAULT_BLOCK_SIZE) -> Iterator[bytes]:
    """Yield the decompressed bytes of ``path`` in blocks of ``block_size`` (the last may be shorter).

    A truncated or corrupt compressed file raises :class:`InputError` naming the file.
    """
    with open_binary(path) as fh:
        while True:
            try:
                block = fh.read(block_size)
            except (EOFError, OSError, zlib.error, lzma.LZMAError) as e:
                _raise_read_error(path, e)
            if not block:
                return
            yield block


_TEST_CMD = {"gzip": "gzip -t", "bgzip": "gzip -t", "bz2": "bzip2 -t", "xz": "xz -t"}


def _raise_read_error(path: PathLike, e: BaseException):
    """Raise for a failed read of ``path``: ``InputError`` for a compressed file, else ``e`` itself."""
    kind = sniff_compression(path)
    if kind is None:  # a plain file: a real I/O error, not bad data
        raise e
    raise InputError(
        f"truncated / corrupt {kind} file ({e})",
        path=str(path),
        hint="the download was probably cut short: fetch it again, and check it with "
        f"`{_TEST_CMD.get(kind, kind)}`",
    ) from e


def guarded_iter(iterable, path: PathLike) -> Iterator:
    """Iterate ``iterable`` (lines of ``path``), turning decompression failures into :class:`InputError`."""
    it = iter(iterable)
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        except (EOFError, OSError, zlib.error, lzma.LZMAError) as e:
            _raise_read_error(path, e)
        yield item


# --- scanning ---------------------------------------------------------------------------


def _scan(path: PathLike, block_size: int) -> Iterator[tuple]:
    """Yield ``(_HEADER, header_bytes, line_no)`` and ``(_SEQ, sequence_bytes)`` events.

    Sequence bytes have all whitespace (including ``\\r``) removed.  Works on whole blocks with
    ``bytes.find`` / ``translate`` / ``count``, so there is no per-character Python loop.  A
    sequence line longer than a block (unwrapped FASTA) is streamed, not accumulated.
    """
    carry = b""  # an incomplete header line, waiting for its newline
    at_line_start = True
    line_no = 0  # lines completed before the current position
    seen_header = False
    any_bytes = False
    for block in read_blocks(path, block_size):
        any_bytes = True
        buf = carry + block if carry else block
        carry = b""
        pos, n = 0, len(buf)
        while pos < n:
            if at_line_start and buf[pos] == 62:  # '>'
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    carry = buf[pos:]
                    if len(carry) > _MAX_HEADER:
                        raise InputError(
                            "header line longer than 1 MiB",
                            path=str(path),
                            line=line_no + 1,
                            hint="is this really a FASTA file?",
                        )
                    break
                line_no += 1
                seen_header = True
                yield _HEADER, buf[pos + 1 : nl], line_no
                pos = nl + 1
                continue
            nxt = buf.find(b"\n>", pos)
            end = n if nxt < 0 else nxt + 1
            seg = buf[pos:end]
            data = seg.translate(None, _WS)
            if data:
                if not seen_header:
                    raise _data_before_header(path, seg, line_no)
                yield _SEQ, data
            line_no += seg.count(b"\n")
            at_line_start = nxt >= 0 or buf[n - 1] == 10
            pos = end
    if carry:  # a last header line without a trailing newline
        yield _HEADER, carry[1:], line_no + 1
        seen_header = True
    if not seen_header:
        raise InputError(
            "empty file: no FASTA records" if not any_bytes else "no FASTA header ('>') in the file",
            path=str(path),
        )


def _data_before_header(path: PathLike, seg: bytes, line_no: int) -> InputError:
    stripped = seg.lstrip(_WS)
    first = seg.index(stripped[:1])
    line = line_no + seg.count(b"\n", 0, first) + 1
    hint = "a FASTA file starts with a '>name' header line"
    if stripped[:1] == b"@":
        hint = (
            "this looks like FASTQ, not FASTA: give it where reads are taken (genolm.io.read_fastq, "
            "`genolm predict --fastq`), or convert it to FASTA"
        )
    elif stripped[:5] == b"LOCUS":
        hint = (
            "this looks like GenBank, not FASTA: give it where a genome is taken (--genome, "
            "genolm.io.read_genbank), or convert it to FASTA"
        )
    elif b"\x00" in stripped[:1024]:
        hint = "this looks like a binary file"
    return InputError("sequence data before the first '>' header line", path=str(path), line=line, hint=hint)


def _parse_header(raw: bytes, path: PathLike, line: int) -> tuple[str, str]:
    text = raw.decode("utf-8", "replace").strip()
    parts = text.split(None, 1)
    if not parts:
        raise InputError(
            "header line has no record name", path=str(path), line=line, hint="write '>name ...'"
        )
    return parts[0], (parts[1] if len(parts) > 1 else "")


def _allowed(alphabet: str) -> tuple[str, bytes]:
    allowed = ALPHABETS.get(alphabet, alphabet)
    return allowed, allowed.encode("latin-1")


class _Names:
    """Duplicate-name policy, applied as headers arrive."""

    def __init__(self, policy: str, path: PathLike):
        if policy not in DUPLICATE_POLICIES:
            raise ValueError(f"on_duplicate must be one of {DUPLICATE_POLICIES}, got {policy!r}")
        self.policy, self.path, self.seen = policy, path, {}

    def __call__(self, name: str, line: int) -> str:
        if self.policy == "keep":
            return name
        if name in self.seen:
            if self.policy == "error":
                raise InputError(
                    f"duplicate record name (first seen on line {self.seen[name]})",
                    path=str(self.path),
                    line=line,
                    record=name,
                    hint="rename the records, or pass on_duplicate='rename' (adds _2, _3, ...) or 'keep'",
                )
            k = 2
            while f"{name}_{k}" in self.seen:
                k += 1
            log.info(
                "%s line %d: duplicate record name %r renamed to %r", self.path, line, name, f"{name}_{k}"
            )
            name = f"{name}_{k}"
        self.seen[name] = line
        return name


def _iter_chunks(
    path: PathLike,
    chunk_size: int,
    *,
    alphabet: str,
    validate: bool,
    on_duplicate: str,
    allow_empty: bool,
    block_size: int,
) -> Iterator[tuple[str, str, int, str]]:
    """``(name, description, offset, chunk)``; every record yields at least one chunk at offset 0."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    allowed, allowed_b = _allowed(alphabet)
    names = _Names(on_duplicate, path)
    name = desc = None
    line = 0
    pending = bytearray()
    offset = 0  # sequence position of pending[0] within the current record

    def finish():
        if pending or offset == 0:
            if offset == 0 and not pending and not allow_empty:
                raise InputError(
                    "record has no sequence",
                    path=str(path),
                    line=line,
                    record=name,
                    hint="remove it, or pass allow_empty=True",
                )
            return name, desc, offset, pending.decode("latin-1")
        return None

    for ev in _scan(path, block_size):
        if ev[0] == _SEQ:
            data = ev[1]
            if validate and data.translate(None, allowed_b):
                # slow path, only on bad input: find the exact position for the message
                validate_seq(
                    data.decode("latin-1"),
                    alphabet,
                    path=str(path),
                    record=name,
                    offset=offset + len(pending),
                )
            pending += data
            while len(pending) >= chunk_size:
                yield name, desc, offset, pending[:chunk_size].decode("latin-1")
                # deleting from the front of a bytearray is O(1) in CPython (it moves a start pointer)
                del pending[:chunk_size]
                offset += chunk_size
        else:
            if name is not None:
                last = finish()
                if last is not None:
                    yield last
            line = ev[2]
            name, desc = _parse_header(ev[1], path, line)
            name = names(name, line)
            pending = bytearray()
            offset = 0
    if name is not None:
        last = finish()
        if last is not None:
            yield last


# --- public readers ---------------------------------------------------------------------


def read_fasta(
    path: PathLike,
    *,
    alphabet: str = "iupac",
    validate: bool = True,
    on_duplicate: str = "error",
    allow_empty: bool = False,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Iterator[FastaRecord]:
    """Read FASTA records one at a time.

    Each record's sequence is one ``str``; use :func:`iter_fasta_chunks` for bounded memory
    on chromosome-sized records.

    Parameters
    ----------
    path : str or PathLike
        Plain, gzip, bgzip, bzip2 or xz FASTA (detected by magic bytes).
    alphabet : str
        ``"iupac"``, ``"dna"``, ``"rna"`` or a string of allowed characters.  Default is ``"iupac"``.
    validate : bool
        Check every byte against ``alphabet``.  Default is ``True``.
    on_duplicate : {"error", "rename", "keep"}
        What to do with a repeated record name.  Default is ``"error"``.
    allow_empty : bool
        Yield records without sequence (``seq == ""``) instead of raising.  Default is ``False``.

    Yields
    ------
    FastaRecord
        ``(name, description, seq)``.
    """
    parts: list[str] = []
    cur: tuple[str, str] | None = None
    for name, desc, offset, chunk in _iter_chunks(
        path,
        1 << 26,
        alphabet=alphabet,
        validate=validate,
        on_duplicate=on_duplicate,
        allow_empty=allow_empty,
        block_size=block_size,
    ):
        if offset == 0:
            if cur is not None:
                yield FastaRecord(cur[0], cur[1], "".join(parts))
            cur, parts = (name, desc), []
        parts.append(chunk)
    if cur is not None:
        yield FastaRecord(cur[0], cur[1], "".join(parts))


def iter_fasta_chunks(
    path: PathLike,
    chunk_size: int = 1 << 20,
    *,
    alphabet: str = "iupac",
    validate: bool = True,
    on_duplicate: str = "error",
    allow_empty: bool = False,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Iterator[tuple[str, int, str]]:
    """Stream every record as pieces of at most ``chunk_size`` bases.

    Memory is bounded by ``chunk_size + block_size`` whatever the record length, so a 63 Mb
    chromosome streams in a few MB.

    Parameters
    ----------
    chunk_size : int
        Bases per chunk; only each record's last chunk is shorter.  Default is ``1 << 20``.
    alphabet, validate, on_duplicate, allow_empty :
        As in :func:`read_fasta`.  With ``allow_empty=True`` an empty record yields one
        ``(name, 0, "")`` chunk, so it is still visible.

    Yields
    ------
    tuple of (str, int, str)
        ``(name, offset, chunk)``: ``offset`` is the 0-based position of ``chunk[0]`` in the record.
    """
    for name, _desc, offset, chunk in _iter_chunks(
        path,
        chunk_size,
        alphabet=alphabet,
        validate=validate,
        on_duplicate=on_duplicate,
        allow_empty=allow_empty,
        block_size=block_size,
    ):
        yield name, offset, chunk


def fasta_lengths(path: PathLike, **kwargs) -> dict[str, int]:
    """``{name: length}`` of every record, streamed (no sequence is kept)."""
    lengths: dict[str, int] = {}
    for name, offset, chunk in iter_fasta_chunks(path, **kwargs):
        lengths[name] = offset + len(chunk)
    return lengths


# --- windows ----------------------------------------------------------------------------


class Window(NamedTuple):
    """One window: record ``name``, 0-based ``start``, ``seq`` (``window`` long unless ``last="keep"``)."""

    name: str
    start: int
    seq: str


LAST_POLICIES = ("drop", "keep", "pad", "shift")


@dataclass
class WindowStats:
    """Counts kept by :class:`WindowStream` while it runs (final once the stream is exhausted)."""

    records: int = 0
    windows: int = 0
    #: trailing partial windows that were dropped (``last="drop"``, or records shorter than the window)
    partial_dropped: int = 0
    #: bases that ended up in no window because of those drops
    bases_dropped: int = 0
    #: trailing windows that were kept short, padded, or shifted back
    partial_kept: int = 0
    #: ``(name, first uncovered base, record length)`` of the first 1000 drops
    dropped: list[tuple[str, int, int]] = field(default_factory=list, repr=False)


class WindowStream:
    """Iterator over :class:`Window` tuples with running :class:`WindowStats` in ``.stats``.

    Built by :func:`iter_windows`; see there.
    """

    def __init__(self, source, window: int, stride: int, last: str, chunk_size: int, kwargs: dict):
        if window < 1 or stride < 1:
            raise ValueError(f"window and stride must be >= 1, got window={window}, stride={stride}")
        if last not in LAST_POLICIES:
            raise ValueError(f"last must be one of {LAST_POLICIES}, got {last!r}")
        self.window, self.stride, self.last = window, stride, last
        self.stats = WindowStats()
        self._it = self._run(_chunk_source(source, chunk_size, kwargs))

    def __iter__(self) -> WindowStream:
        return self

    def __next__(self) -> Window:
        return next(self._it)

    def _run(self, chunks: Iterable[tuple[str, int, str]]) -> Iterator[Window]:
        w, s, st = self.window, self.stride, self.stats
        name: str | None = None
        buf, buf_start, next_start, length = "", 0, 0, 0
        for cname, offset, chunk in chunks:
            if offset == 0:  # a new record
                if name is not None:
                    yield from self._finish(name, buf, buf_start, next_start, length)
                name, buf, buf_start, next_start = cname, "", 0, 0
                st.records += 1
            buf += chunk
            length = offset + len(chunk)
            while next_start + w <= length:
                i = next_start - buf_start
                st.windows += 1
                yield Window(name, next_start, buf[i : i + w])
                next_start += s
            # keep what later windows (and a shifted last window) still need: bounded by window + chunk
            keep_from = max(buf_start, min(next_start, length - w, length))
            buf, buf_start = buf[keep_from - buf_start :], keep_from
        if name is not None:
            yield from self._finish(name, buf, buf_start, next_start, length)
        if st.partial_dropped:
            log.info(
                "iter_windows: dropped %d trailing partial windows (%d bases); "
                "pass last='keep', 'pad' or 'shift' to keep them",
                st.partial_dropped,
                st.bases_dropped,
            )

    def _finish(self, name: str, buf: str, buf_start: int, next_start: int, length: int) -> Iterator[Window]:
        w, st = self.window, self.stats
        # bases after the last full window (or, with stride > window, after the next start: the
        # gaps between windows are by design) are the ones a trailing partial window would hold
        last_full_end = next_start - self.stride + w if next_start > 0 else 0
        tail_start = max(last_full_end, next_start)
        if tail_start >= length:
            return
        tail = buf[next_start - buf_start :]
        if self.last == "keep":
            st.partial_kept += 1
            st.windows += 1
            yield Window(name, next_start, tail)
        elif self.last == "pad":
            st.partial_kept += 1
            st.windows += 1
            yield Window(name, next_start, tail + "N" * (w - len(tail)))
        elif self.last == "shift" and length >= w:
            st.partial_kept += 1
            st.windows += 1
            yield Window(name, length - w, buf[length - w - buf_start :])
        else:  # last="drop", or "shift" on a record shorter than one window
            st.partial_dropped += 1
            st.bases_dropped += length - tail_start
            if len(st.dropped) < 1000:  # a sample for messages; the counts above are complete
                st.dropped.append((name, tail_start, length))


def _chunk_source(source, chunk_size: int, kwargs: dict) -> Iterator[tuple[str, int, str]]:
    if isinstance(source, (str, os.PathLike)):
        yield from iter_fasta_chunks(source, chunk_size, **kwargs)
        return
    for item in source:
        if len(item) == 3 and isinstance(item[1], int):  # already (name, offset, chunk)
            yield item
        elif len(item) == 3:  # FastaRecord(name, description, seq)
            yield item[0], 0, item[2]
        elif len(item) == 2:  # (name, seq)
            yield item[0], 0, item[1]
        else:
            raise TypeError(f"cannot read a window source item {item!r}")


def iter_windows(
    path_or_records,
    window: int,
    stride: int | None = None,
    *,
    last: str = "drop",
    chunk_size: int = 1 << 20,
    **kwargs,
) -> WindowStream:
    """Fixed-length windows over every record, streamed from chunks (bounded memory).

    Windows that span chunk boundaries are assembled exactly; the result does not depend on
    ``chunk_size``.

    Parameters
    ----------
    path_or_records : path, or iterable of FastaRecord / (name, seq) / (name, offset, chunk)
        A FASTA file (streamed with :func:`iter_fasta_chunks`) or records already in memory.
    window : int
        Window length in bases.
    stride : int, optional
        Step between window starts.  Default is ``window`` (non-overlapping).
    last : {"drop", "keep", "pad", "shift"}
        The trailing partial window of each record (the one that would start at the next
        stride position but runs past the record end):

        * ``"drop"``: drop it, **counted** in ``stream.stats.partial_dropped`` /
          ``bases_dropped`` and listed in ``stream.stats.dropped`` (and logged at INFO);
        * ``"keep"``: yield it shorter than ``window``;
        * ``"pad"``: yield it padded with ``N`` to ``window``;
        * ``"shift"``: yield a full window ending at the record end (it overlaps the one
          before); a record shorter than ``window`` is then dropped and counted.

        Default is ``"drop"``.
    chunk_size : int
        Chunk size for reading the file.  Default is ``1 << 20``.
    **kwargs :
        Passed to :func:`iter_fasta_chunks` (``alphabet``, ``validate``, ``on_duplicate``, ...).

    Returns
    -------
    WindowStream
        An iterator of ``Window(name, start, seq)``; ``.stats`` holds the counts.
    """
    return WindowStream(path_or_records, window, stride or window, last, chunk_size, kwargs)


# --- writing ----------------------------------------------------------------------------


def _as_record(item) -> FastaRecord:
    if isinstance(item, FastaRecord):
        return item
    if len(item) == 2:
        return FastaRecord(item[0], "", item[1])
    if len(item) == 3:
        return FastaRecord(*item)
    raise TypeError(f"expected FastaRecord, (name, seq) or (name, description, seq), got {item!r}")


_BAD_NAME = re.compile(r"\s")


def write_fasta(path: PathLike, records, line_width: int | None = 60) -> int:
    """Write records to ``path`` atomically (a temporary sibling, then ``os.replace``).

    Parameters
    ----------
    path : str or PathLike
        Output.  A name ending in ``.gz`` or ``.bgz`` is written as bgzip: readable by any gzip
        reader, and indexable for :class:`~genolm.io.Genome` / ``samtools faidx``.
    records : iterable of FastaRecord, (name, seq) or (name, description, seq); or a dict name -> seq
        Streamed: records are written as they arrive.
    line_width : int or None
        Bases per line; ``None`` or ``0`` writes each sequence on one line.  Default is ``60``.

    Returns
    -------
    int
        The number of records written.
    """
    from Bio import bgzf

    from genolm.atomic import atomic_path

    if isinstance(records, dict):
        records = records.items()
    path = Path(path)
    n = 0
    with atomic_path(path) as tmp:
        compressed = path.name.endswith((".gz", ".bgz"))
        fh = bgzf.BgzfWriter(str(tmp), "wb") if compressed else open(tmp, "wb")
        with fh:
            for item in records:
                rec = _as_record(item)
                if not rec.name or _BAD_NAME.search(rec.name):
                    raise InputError(
                        "record names must be non-empty and hold no whitespace",
                        path=str(path),
                        record=rec.name,
                        hint="the first word of a header is its name; put the rest in the description",
                    )
                if "\n" in rec.description or "\r" in rec.description:
                    raise InputError("description holds a line break", path=str(path), record=rec.name)
                header = f">{rec.name} {rec.description}\n" if rec.description else f">{rec.name}\n"
                fh.write(header.encode("utf-8"))
                fh.write(_wrap(rec.seq, line_width))
                n += 1
    return n


def _wrap(seq: str, width: int | None) -> bytes:
    data = seq.encode("latin-1")
    if not width or len(data) <= width:
        return data + b"\n" if data else b""
    lines = [data[i : i + width] for i in range(0, len(data), width)]
    lines.append(b"")
    return b"\n".join(lines)
