"""Labelled-sequence task tables: CSV / TSV / Parquet / JSONL, and one-FASTA-per-class folders.

Shapes: :func:`read_task_table` returns a ``pandas.DataFrame`` with the file's columns (the
sequence column as ``str``); :func:`read_fasta_folder` returns ``FastaFolder(frame, classes)``
with columns ``name``, ``sequence``, ``label`` (the class name: the file stem) and ``label_id``
(its index in the sorted ``classes``).

Formats are chosen by extension (``.csv``, ``.tsv`` / ``.tab``, ``.parquet`` / ``.pq``,
``.jsonl`` / ``.ndjson``; text ones may be compressed, found by magic bytes).  Known layouts:
GUE (DNABERT-2) ``sequence,label`` CSV; iDNA-MS ``index,label,text`` TSV (pass
``sequence_col="text"``).

Policies: a missing column is an :class:`~genolm.errors.InputError` suggesting the nearest
column; an empty sequence, a sequence with characters outside ``alphabet`` and a missing label
are errors naming the line (``row i`` for Parquet).  Surrounding whitespace of sequences is
stripped; case is kept (soft mask).  The literal string ``NA`` is a sequence, not a missing
value (only empty fields are missing).  Blank lines at the end of a text file are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from genolm.alphabet import ALPHABETS
from genolm.alphabet import validate as validate_seq
from genolm.errors import InputError
from genolm.io.fasta import PathLike, read_fasta, sniff_compression
from genolm.io.streams import is_stdio, stdin_file
from genolm.registry import did_you_mean

_TEXT_FORMATS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_COMPRESSION_EXT = (".gz", ".bgz", ".bz2", ".xz")
_FASTA_EXT = (".fa", ".fasta", ".fna", ".fas", ".ffn", ".seq")
_PANDAS_COMPRESSION = {"gzip": "gzip", "bgzip": "gzip", "bz2": "bz2", "xz": "xz", None: None}
_SEQ_LIKE = ("sequence", "seq", "text", "dna", "Sequence", "sequences")


def _format_of(path: Path) -> str:
    name = path.name.lower()
    for ext in _COMPRESSION_EXT:
        if name.endswith(ext):
            name = name[: -len(ext)]
    for ext in (*_TEXT_FORMATS, ".parquet", ".pq", ".jsonl", ".ndjson"):
        if name.endswith(ext):
            return ext
    raise InputError(
        "unknown table format",
        path=str(path),
        hint="use .csv, .tsv, .parquet or .jsonl (text formats may be .gz)",
    )


def sniff_table_format(path: PathLike) -> str:
    """Format of a table without a telling name (standard input) from its first decompressed bytes:
    ``".parquet"``, ``".vcf"`` (a ``##fileformat`` header or BCF), ``".jsonl"``, ``".tsv"`` (a tab in
    the first line) or ``".csv"``."""
    from genolm.io.fasta import open_binary

    with open_binary(path) as fh:
        head = fh.read(1 << 16)
    if head[:4] == b"PAR1":
        return ".parquet"
    if head.startswith((b"##fileformat", b"BCF\x02", b"BCF\x04")):
        return ".vcf"
    first = head.lstrip()[:1]
    if first == b"{":
        return ".jsonl"
    line = head.split(b"\n", 1)[0]
    return ".tsv" if b"\t" in line else ".csv"


def _missing_column(path: Path, col: str, columns: list[str], what: str) -> InputError:
    hint = f"columns are: {', '.join(map(str, columns))}"
    alts = [c for c in _SEQ_LIKE if c in columns and c != col]
    if what == "sequence" and alts:
        hint += f"; pass sequence_col='{alts[0]}'"
    return InputError(
        f"no {what} column '{col}'.{did_you_mean(col, [str(c) for c in columns])}", path=str(path), hint=hint
    )


#: label values that mean "missing" (case-insensitive): refused, never read as a class
_MISSING_WORDS = ("nan", "na", "n/a", "null", "none")


def _bad_json_line(path) -> tuple[int | None, str | None]:
    """``(line, reason)`` of the first line of a JSON-lines file that is not one JSON object."""
    import json

    from genolm.io.fasta import open_binary

    try:
        with open_binary(path) as fh:
            for ln, raw in enumerate(fh, 1):
                text = raw.decode("utf-8", "replace").strip()
                if not text:
                    continue
                try:
                    obj = json.loads(text)
                except ValueError as e:
                    return ln, f"not valid JSON: {e}"
                if not isinstance(obj, dict):
                    return ln, f"a JSON {type(obj).__name__}, not an object"
    except OSError:
        pass
    return None, None


def read_task_table(
    path: PathLike,
    sequence_col: str = "sequence",
    label_col: str | Sequence[str] | None = "label",
    *,
    alphabet: str = "iupac",
    validate: bool = True,
    sep: str | None = None,
) -> pd.DataFrame:
    """Read a table of labelled sequences.

    Parameters
    ----------
    path : str or PathLike
        ``.csv``, ``.tsv``, ``.parquet`` or ``.jsonl`` (text formats may be compressed).
    sequence_col : str
        The sequence column.  Default is ``"sequence"`` (GUE); iDNA-MS tables use ``"text"``.
    label_col : str, list of str, or None
        The label column(s) (several for multi-label tables); ``None`` for unlabelled tables.
        Default is ``"label"``.
    alphabet : str
        Allowed sequence characters (see :func:`~genolm.alphabet.validate`).  Default is ``"iupac"``.
    validate : bool
        Check sequences against ``alphabet``.  Emptiness is always checked.  Default is ``True``.
    sep : str, optional
        Column separator for text formats.  Default is taken from the extension.

    Returns
    -------
    pandas.DataFrame
        All columns of the file, one row per sequence, original order; ``df.attrs["path"]``
        is the file.
    """
    if is_stdio(path):  # '-': standard input, spooled; its format is sniffed from the content
        path = stdin_file()
        fmt = sniff_table_format(path)
    else:
        path = Path(path)
        fmt = _format_of(path)
    first_line = 2  # file line of row 0: after the header line
    if fmt in _TEXT_FORMATS:
        comp = _PANDAS_COMPRESSION[sniff_compression(path)]
        try:
            df = pd.read_csv(
                path,
                sep=sep or _TEXT_FORMATS[fmt],
                compression=comp,
                keep_default_na=False,  # 'NA' is a valid 2-base sequence, not a missing value
                na_values=[""],
                skip_blank_lines=False,  # keeps row i on line i + 2, so messages point at the right line
            )
        except pd.errors.EmptyDataError:
            raise InputError("empty file", path=str(path)) from None
        except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as e:
            raise InputError(f"cannot parse the table ({e})", path=str(path)) from e
        if not isinstance(df.index, pd.RangeIndex):
            # pandas reads rows with more fields than the header as an index plus the columns
            raise InputError(
                f"the data rows have more fields than the header names ({len(df.columns)}: "
                f"{', '.join(map(str, df.columns))})",
                path=str(path),
                line=2,
                hint="name every column in the header line, or remove the extra separators "
                "(a separator at the end of each line?)",
            )
        # trailing blank lines read as all-empty rows: drop them (only at the end)
        empty = df.isna().all(axis=1).to_numpy()
        n = len(df)
        while n and empty[n - 1]:
            n -= 1
        df = df.iloc[:n]
    elif fmt in (".jsonl", ".ndjson"):
        first_line = 1
        comp = _PANDAS_COMPRESSION[sniff_compression(path)]
        try:
            df = pd.read_json(path, lines=True, compression=comp, dtype=False)
        except ValueError as e:
            line, why = _bad_json_line(path)
            raise InputError(
                f"cannot parse JSON lines ({why or e})",
                path=str(path),
                line=line,
                hint='each line must be one JSON object, e.g. {"sequence": "ACGT", "label": 1}',
            ) from e
    else:
        first_line = None
        try:
            df = pd.read_parquet(path)
        except Exception as e:  # pyarrow raises several unrelated types for a bad file
            raise InputError(f"cannot read Parquet ({e})", path=str(path)) from e
    if len(df) == 0:
        raise InputError("the table has no rows", path=str(path))
    columns = list(df.columns)

    def where(i: int) -> dict:
        if first_line is None:
            return {"path": str(path), "record": f"row {i}"}
        return {"path": str(path), "line": first_line + i}

    if sequence_col not in df.columns:
        raise _missing_column(path, sequence_col, columns, "sequence")
    labels = [] if label_col is None else [label_col] if isinstance(label_col, str) else list(label_col)
    for lc in labels:
        if lc not in df.columns:
            raise _missing_column(path, lc, columns, "label")

    seqs = df[sequence_col]
    missing = seqs.isna().to_numpy()
    seqs = seqs.where(~missing, "").astype(str).str.strip()
    empty = missing | (seqs.str.len() == 0).to_numpy()
    if empty.any():
        i = int(empty.argmax())
        raise InputError(f"empty sequence in column '{sequence_col}'", **where(i))
    if validate:
        allowed = ALPHABETS.get(alphabet, alphabet)
        ok = seqs.str.fullmatch(f"[{re.escape(allowed)}]+").to_numpy(dtype=bool)
        if not ok.all():
            i = int((~ok).argmax())
            try:
                validate_seq(seqs.iloc[i], alphabet)
            except InputError as e:
                raise InputError(e.bare_message, position=e.position, hint=e.hint, **where(i)) from None
    for lc in labels:
        bad = df[lc].isna().to_numpy()
        if bad.any():
            i = int(bad.argmax())
            raise InputError(f"missing label in column '{lc}'", **where(i))
        if pd.api.types.is_object_dtype(df[lc]) or pd.api.types.is_string_dtype(df[lc]):
            # 'NA' is kept as text for sequences (keep_default_na=False), so a missing label
            # written as NaN / NA / null arrives as a word: one more class, or a mixed-type column
            words = df[lc].astype(str).str.strip().str.lower()
            bad = words.isin(_MISSING_WORDS).to_numpy()
            if bad.any():
                i = int(bad.argmax())
                raise InputError(
                    f"missing label {df[lc].iloc[i]!r} in column '{lc}'",
                    hint="every row needs a label: fill it in or drop the row",
                    **where(i),
                )
    df = df.copy()
    df[sequence_col] = seqs.to_numpy()
    df.attrs["path"] = str(path)
    return df


class FastaFolder(NamedTuple):
    """A one-FASTA-per-class folder: ``frame`` (name, sequence, label, label_id) and sorted ``classes``."""

    frame: pd.DataFrame
    classes: list[str]


def _stem(path: Path) -> str | None:
    name = path.name
    low = name.lower()
    for ext in _COMPRESSION_EXT:
        if low.endswith(ext):
            name, low = name[: -len(ext)], low[: -len(ext)]
    for ext in _FASTA_EXT:
        if low.endswith(ext):
            return name[: -len(ext)]
    return None


def read_fasta_folder(
    folder: PathLike,
    *,
    pattern: str = "*",
    alphabet: str = "iupac",
    validate: bool = True,
    on_duplicate: str = "error",
) -> FastaFolder:
    """Read a folder holding one FASTA file per class; the class is the file stem.

    Parameters
    ----------
    folder : str or PathLike
    pattern : str
        Glob selecting files in ``folder`` (e.g. ``"Arabidopsis_*"``); only FASTA names
        (``.fa``, ``.fasta``, ``.fna``, ``.fas``, ``.ffn``, ``.seq``, optionally compressed)
        count.  Default is ``"*"``.
    alphabet, validate, on_duplicate :
        As in :func:`~genolm.io.read_fasta` (names must be unique within a file, not across).

    Returns
    -------
    FastaFolder
        ``frame`` with columns ``name``, ``sequence``, ``label`` (class name), ``label_id``
        (index into ``classes``); ``classes`` sorted.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("not a folder", path=str(folder))
    files: dict[str, Path] = {}
    for f in sorted(folder.glob(pattern)):
        stem = _stem(f)
        if stem is None or not f.is_file():
            continue
        if stem in files:
            raise InputError(
                f"two files give the class '{stem}': {files[stem].name} and {f.name}", path=str(folder)
            )
        files[stem] = f
    if not files:
        present = ", ".join(sorted(p.name for p in folder.iterdir())[:10]) or "nothing"
        raise InputError(
            f"no FASTA files matching '{pattern}'",
            path=str(folder),
            hint=f"the folder holds: {present}",
        )
    classes = sorted(files)
    rows = []
    for k, cls in enumerate(classes):
        for rec in read_fasta(files[cls], alphabet=alphabet, validate=validate, on_duplicate=on_duplicate):
            rows.append((rec.name, rec.seq, cls, k))
    frame = pd.DataFrame(rows, columns=["name", "sequence", "label", "label_id"])
    frame.attrs["path"] = str(folder)
    return FastaFolder(frame, classes)
