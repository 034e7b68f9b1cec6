"""``-`` as a path: standard input for readers, standard output for writers.

Every genolm reader takes a path and may open it more than once (to sniff its compression,
then to read it; a VCF is checked for a header before pysam opens it; a genome is indexed).
Standard input can be read only once, so ``-`` is spooled to a temporary file the first time a
reader asks for it, and every later open of ``-`` in the same process reads that file.  The file
is named ``stdin`` inside a ``genolm-stdin-*`` temporary folder (so error messages that name it
say where the data came from) and is deleted when the process exits.  Compression is sniffed
from the spooled bytes like any other file, so ``zcat``-free pipes (``cat x.fa.gz | genolm ...
-``) work.

An indexed genome (``Genome``: random access through a ``.fai``) needs a real, seekable file:
:func:`refuse_stdin` gives the error for those inputs.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

from genolm.errors import InputError

#: the path that means standard input (readers) or standard output (writers)
STDIO = "-"

# (stdin buffer, spooled file) pairs.  The buffer itself is kept, not its id(): once a replaced
# stdin (a test, a notebook) is freed, a new one may get the same id() and would be served the
# old stream's data.
_spooled: list[tuple[object, Path]] = []


def is_stdio(path) -> bool:
    """Whether ``path`` is ``-`` (stdin for a reader, stdout for a writer)."""
    return path is not None and not isinstance(path, (bytes, int)) and os.fspath(path) == STDIO


def stdin_file() -> Path:
    """Standard input, copied once to a temporary file; the same file on every later call."""
    stream = getattr(sys.stdin, "buffer", sys.stdin)
    for seen, spooled in _spooled:
        if seen is stream and spooled.exists():
            return spooled
    if stream is None or (hasattr(stream, "isatty") and stream.isatty()):
        raise InputError(
            "'-' means standard input, but nothing is piped in",
            path=STDIO,
            hint="pipe a file in (`zcat x.fa.gz | genolm ... -`) or give the file's path",
        )
    folder = Path(tempfile.mkdtemp(prefix="genolm-stdin-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "stdin"
    head = stream.read(18)
    head = head.encode() if isinstance(head, str) else head
    bgzip = len(head) >= 16 and head[3] & 4 and head[12:14] == b"BC"
    with open(path, "wb") as out:
        if head[:2] == b"\x1f\x8b" and not bgzip:
            # plain gzip is stored decompressed: htslib (VCF) reads only bgzip, and a genome
            # cannot be indexed from plain gzip; bgzip, bzip2 and xz are kept as they are
            import gzip
            import io

            rest = io.BufferedReader(_Prepend(head, stream))
            with gzip.GzipFile(fileobj=rest, mode="rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
        else:
            out.write(head)
            while True:
                block = stream.read(1 << 20)
                if not block:
                    break
                out.write(block.encode() if isinstance(block, str) else block)
    _spooled.append((stream, path))
    return path


class _Prepend:
    """A raw binary reader: ``head`` then the rest of ``stream`` (stdin cannot be rewound)."""

    def __init__(self, head: bytes, stream):
        self.head, self.stream = head, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self.head:
            n = min(len(buf), len(self.head))
            buf[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.stream.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    @property
    def closed(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def flush(self) -> None:
        pass


def resolve_input(path):
    """``path`` itself, or the spooled standard input when ``path`` is ``-``."""
    return stdin_file() if is_stdio(path) else path


def refuse_stdin(path, what: str) -> None:
    """Raise :class:`InputError` when ``path`` is ``-`` for an input that must be seekable."""
    if is_stdio(path):
        raise InputError(
            f"{what} cannot be read from standard input ('-'): it is opened for random access",
            path=STDIO,
            hint=f"save it to a file first and pass that file's path as the {what}",
        )
