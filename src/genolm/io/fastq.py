"""FASTQ reading and writing.

Shapes: ``FastqRecord(name, description, seq, qual)``; ``qual`` is the raw quality string
(Phred+33 by default), one character per base; :meth:`FastqRecord.phred` gives the scores as
``np.ndarray`` of ``uint8``, shape ``(L,)``.

Policies: compression by magic bytes (as FASTA); CRLF accepted (``\\r`` stripped); blank lines
between records ignored; records are the standard four lines (multi-line FASTQ is rejected
with a clear error); a sequence / quality length mismatch, a missing ``+`` line, a truncated
last record, or a quality character outside ``!``..``~`` raise
:class:`~genolm.errors.InputError` naming the file, line and record.  Duplicate names follow
``on_duplicate`` as in :func:`~genolm.io.fasta.read_fasta`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from genolm.alphabet import validate as validate_seq
from genolm.errors import InputError
from genolm.io.fasta import PathLike, _allowed, _Names, _parse_header, guarded_iter, open_binary

_QUAL_OK = bytes(range(33, 127))


class FastqRecord(NamedTuple):
    """One FASTQ record; ``len(seq) == len(qual)``."""

    name: str
    description: str
    seq: str
    qual: str

    def phred(self, offset: int = 33) -> np.ndarray:
        """Quality scores, ``np.ndarray`` of ``uint8``, shape ``(L,)``.  Default offset is 33 (Sanger)."""
        return (np.frombuffer(self.qual.encode("latin-1"), dtype=np.uint8) - offset).astype(np.uint8)


def _lines(path: PathLike) -> Iterator[bytes]:
    with open_binary(path) as fh:
        yield from guarded_iter(fh, path)


def read_fastq(
    path: PathLike,
    *,
    alphabet: str = "iupac",
    validate: bool = True,
    on_duplicate: str = "error",
) -> Iterator[FastqRecord]:
    """Read FASTQ records one at a time.

    Parameters
    ----------
    path : str or PathLike
        Plain, gzip, bgzip, bzip2 or xz FASTQ (detected by magic bytes).
    alphabet : str
        Allowed sequence characters (as in :func:`~genolm.alphabet.validate`).  Default is ``"iupac"``.
    validate : bool
        Check sequence characters against ``alphabet``.  Lengths and the record layout are
        always checked.  Default is ``True``.
    on_duplicate : {"error", "rename", "keep"}
        Repeated record names.  Default is ``"error"``.

    Yields
    ------
    FastqRecord
        ``(name, description, seq, qual)``.
    """
    allowed, allowed_b = _allowed(alphabet)
    names = _Names(on_duplicate, path)
    p = str(path)
    lines = _lines(path)
    line_no = 0
    n = 0
    while True:
        # header: skip blank lines between records
        for raw in lines:
            line_no += 1
            if raw.strip():
                break
        else:
            break
        head_line = line_no
        header = raw.rstrip(b"\r\n")
        if header[:1] != b"@":
            hint = "this looks like FASTA: use genolm.io.read_fasta" if header[:1] == b">" else None
            raise InputError(
                "expected a FASTQ header line starting with '@'", path=p, line=line_no, hint=hint
            )
        name, desc = _parse_header(header[1:], path, line_no)
        body = []
        for _ in range(3):
            raw = next(lines, None)
            if raw is None:
                raise InputError(
                    "truncated record: the file ends before its sequence, '+' and quality lines",
                    path=p,
                    line=line_no,
                    record=name,
                )
            line_no += 1
            body.append(raw.rstrip(b"\r\n"))
        seq_b, plus, qual_b = body
        if plus[:1] != b"+":
            raise InputError(
                "expected the '+' separator line",
                path=p,
                line=line_no - 1,
                record=name,
                hint="each FASTQ record is 4 lines: @name, sequence, +, qualities "
                "(multi-line FASTQ is not supported)",
            )
        plus_name = plus[1:].decode("utf-8", "replace").split()
        if plus_name and plus_name[0] != name:
            raise InputError(
                f"the '+' line names '{plus_name[0]}', not the record",
                path=p,
                line=line_no - 1,
                record=name,
            )
        if len(seq_b) != len(qual_b):
            raise InputError(
                f"sequence has {len(seq_b)} bases but quality has {len(qual_b)} characters",
                path=p,
                line=line_no,
                record=name,
            )
        if qual_b.translate(None, _QUAL_OK):
            bad = next(i for i, c in enumerate(qual_b) if not 33 <= c <= 126)
            raise InputError(
                f"invalid quality character {chr(qual_b[bad])!r}",
                path=p,
                line=line_no,
                record=name,
                position=bad,
            )
        seq = seq_b.decode("latin-1")
        if validate and seq_b.translate(None, allowed_b):
            validate_seq(seq, alphabet, path=p, record=name)
        name = names(name, head_line)
        n += 1
        yield FastqRecord(name, desc, seq, qual_b.decode("latin-1"))
    if n == 0:
        raise InputError("empty file: no FASTQ records", path=p)


def write_fastq(path: PathLike, records: Iterable[FastqRecord]) -> int:
    """Write FASTQ records atomically; ``.gz`` / ``.bgz`` names are written as bgzip.  Returns the count."""
    from Bio import bgzf

    from genolm.atomic import atomic_path

    path = Path(path)
    n = 0
    with atomic_path(path) as tmp:
        compressed = path.name.endswith((".gz", ".bgz"))
        fh = bgzf.BgzfWriter(str(tmp), "wb") if compressed else open(tmp, "wb")
        with fh:
            for rec in records:
                if len(rec.seq) != len(rec.qual):
                    raise InputError(
                        f"sequence has {len(rec.seq)} bases but quality has {len(rec.qual)} characters",
                        path=str(path),
                        record=rec.name,
                    )
                head = f"@{rec.name} {rec.description}" if rec.description else f"@{rec.name}"
                fh.write(f"{head}\n{rec.seq}\n+\n{rec.qual}\n".encode())
                n += 1
    return n
