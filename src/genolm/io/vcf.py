"""VCF / BCF reading and writing (pysam), and checking variants against a genome.

Shapes
------
``Variant(contig, pos, id, ref, alts, qual, filter, info, index, line, source)``
    one VCF record; ``pos`` is **0-based** (VCF ``POS`` - 1), ``alts`` a tuple (multi-allelic
    records stay one record; :func:`split_multiallelic` splits them), ``info`` a dict,
    ``index`` the 0-based record number, ``line`` the 1-based line in a text VCF (``None`` for
    BCF), ``source`` the file, for messages.
``VariantCheck(variant, status, message)``
    from :func:`check_against_genome`; ``status`` is one of :data:`CHECK_STATUSES`.

Policies: files with a ``##fileformat`` header (VCF, bgzip VCF, BCF) are read with pysam; the
record lines of a text VCF are also read as text, to say what is wrong with a record pysam cannot
parse and to refuse what htslib would quietly change: a QUAL that is not a number, or an INFO value
that is not a number where the header declares ``Type=Integer`` / ``Float``.  Blank lines at the
end of the file are ignored.
Files without one, such as the common 5-column ``CHROM POS ID REF ALT`` variant lists of
benchmark sets, are read by a small built-in parser: 5 to 8 tab-separated columns, optional
``#CHROM`` header line, INFO values kept as strings.  Blank lines are skipped.  A bad line raises
:class:`~genolm.errors.InputError` with the file, line and record.  String INFO values are
percent-encoded on writing (``;`` ``=`` ``,`` ``%`` and whitespace, as VCF 4.3 says) and
decoded on reading.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import re
import types
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from genolm.errors import InputError
from genolm.io.fasta import PathLike, open_binary, sniff_compression
from genolm.io.genome import Genome
from genolm.io.streams import resolve_input

CHECK_STATUSES = ("ok", "ref_mismatch", "contig_missing", "out_of_bounds")
_EMPTY: Mapping[str, Any] = types.MappingProxyType({})
_ALLELE = re.compile(r"^[ACGTNacgtn]+$")


class Variant(NamedTuple):
    """One VCF record, ``pos`` 0-based.  See the module docstring."""

    contig: str
    pos: int
    id: str | None
    ref: str
    alts: tuple[str, ...]
    qual: float | None = None
    filter: tuple[str, ...] = ()
    info: Mapping[str, Any] = _EMPTY
    index: int | None = None
    line: int | None = None
    source: str | None = None

    @property
    def end(self) -> int:
        """0-based exclusive end of the REF allele."""
        return self.pos + len(self.ref)

    @property
    def record(self) -> str:
        """How messages name this record: its ID, else ``#index``."""
        return self.id if self.id else f"#{self.index}" if self.index is not None else "?"


class VariantCheck(NamedTuple):
    """Result of checking one variant: ``status`` in :data:`CHECK_STATUSES`, ``message`` (``""`` when ok)."""

    variant: Variant
    status: str
    message: str


# --- reading ----------------------------------------------------------------------------


def _decode(value):
    if isinstance(value, str) and "%" in value:
        return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value)
    if isinstance(value, tuple):
        return tuple(_decode(v) for v in value)
    return value


def _has_header(path: PathLike) -> bool:
    from genolm.io.fasta import _raise_read_error

    with open_binary(path) as fh:
        try:
            head = fh.read(16)
        except (EOFError, OSError, zlib.error) as e:  # a truncated / corrupt compressed file
            _raise_read_error(path, e)
    return head.startswith((b"##fileformat", b"BCF\x02", b"BCF\x04"))


@contextlib.contextmanager
def _quiet_htslib():
    import pysam

    # htslib warns on stderr about contigs / INFO keys missing from the header; our own errors
    # say what matters, with the file and record
    old = pysam.set_verbosity(0)
    try:
        yield
    finally:
        pysam.set_verbosity(old)


def read_vcf(path: PathLike) -> Iterator[Variant]:
    """Read the records of a VCF (plain or bgzip), a BCF, or a header-less variant list.

    Parameters
    ----------
    path : str or PathLike

    Yields
    ------
    Variant
        ``pos`` 0-based; records in file order, none dropped.
    """
    path = resolve_input(path)  # '-': standard input, spooled (pysam reopens the file)
    if _has_header(path):
        yield from _read_pysam(path)
    else:
        yield from _read_plain(path)


def _read_pysam(path: PathLike) -> Iterator[Variant]:
    import pysam

    p = str(path)
    if sniff_compression(p) == "gzip":
        # htslib reads bgzip only: plain gzip fails on its first seek ("seek not implemented")
        raise InputError(
            "this VCF is plain-gzip compressed; VCF needs bgzip (block gzip)",
            path=p,
            hint=f"bgzip it: gzip -dc {p} | bgzip -c > out.vcf.gz",
        )
    with _quiet_htslib():
        try:
            vf = pysam.VariantFile(p)
        except (OSError, ValueError, NotImplementedError) as e:
            raise InputError(f"cannot open as VCF/BCF: {e}", path=p) from e
    with vf:
        text = vf.format != "BCF"
        # counted in the file itself: pysam's header text adds lines (e.g. FILTER=PASS)
        n_header = _count_header_lines(path) if text else 0
        # htslib turns a bad number into a missing value (INFO DP=abc) or reads its prefix (DP=3x ->
        # 3, QUAL abc -> 0): the record lines are read again as text to check them
        raw = _body_lines(path) if text else None
        numeric = {k: h.type for k, h in vf.header.info.items() if h.type in ("Integer", "Float")}
        it = iter(vf)
        i = 0
        while True:
            line = n_header + i + 1 if text else None
            cols = next(raw, None) if raw is not None else None
            try:
                with _quiet_htslib():
                    rec = next(it)
            except StopIteration:
                return
            except (OSError, ValueError) as e:
                if cols == [""] and all(c == [""] for c in itertools.takewhile(bool, raw)):
                    return  # blank lines at the end of the file: no record lost
                why, hint = _why_malformed(cols, e, text)
                raise InputError(why, path=p, line=line, record=f"#{i}", hint=hint) from e
            if cols is not None:
                _check_numbers(cols, numeric, path=p, line=line, record=rec.id or f"#{i}")
            yield Variant(
                contig=rec.chrom,
                # VCF POS is 1-based: converted to 0-based here, once (pysam's rec.pos is the raw POS)
                pos=rec.pos - 1,
                id=rec.id,
                ref=rec.ref,
                alts=tuple(rec.alts or ()),
                qual=rec.qual,
                filter=tuple(rec.filter.keys()),
                info={k: _decode(v) for k, v in rec.info.items()},
                index=i,
                line=line,
                source=p,
            )
            i += 1


def _body_lines(path: PathLike) -> Iterator[list[str] | None]:
    """The tab-separated columns of each line after the header; ``None`` from where the file
    cannot be read any further (a truncated compressed file: htslib says so itself)."""
    try:
        with open_binary(path) as fh:
            in_header = True
            for b in fh:
                if in_header and b.startswith(b"#"):
                    continue
                in_header = False
                yield b.decode("utf-8", "replace").rstrip("\r\n").split("\t")
    except (EOFError, OSError, zlib.error):
        pass
    while True:
        yield None


def _why_malformed(cols: list[str] | None, e: BaseException, text: bool) -> tuple[str, str | None]:
    """``(message, hint)`` for a record htslib could not parse, from its columns where known."""
    if cols is None:
        if text:
            return (
                f"malformed VCF record ({e}): the file ends inside this record (truncated file)",
                "the download was probably cut short: fetch it again",
            )
        return f"malformed BCF record ({e})", None
    if cols == [""]:
        return "blank line among the records", "remove it"
    if len(cols) < 8:
        return (
            f"found {len(cols)} tab-separated column{'s' * (len(cols) != 1)}, a VCF record needs at "
            "least 8 (CHROM POS ID REF ALT QUAL FILTER INFO)",
            "separate the columns with tabs, and fill empty ones with '.'; a 5-column "
            "CHROM POS ID REF ALT list is read as such when it has no ##fileformat line",
        )
    try:
        int(cols[1])
    except ValueError:
        return f"POS must be an integer, got {cols[1]!r}", "give the 1-based position"
    return f"malformed VCF record ({e})", None


def _is_number(text: str, kind: str) -> bool:
    try:
        int(text) if kind == "Integer" else float(text)
    except ValueError:
        return False
    return True


def _check_numbers(cols: list[str], numeric: Mapping[str, str], **where) -> None:
    """``InputError`` for a QUAL or a numeric INFO value (``numeric``: key -> header Type) that
    is not a number or ``.``."""
    if len(cols) > 5 and cols[5] != "." and not _is_number(cols[5], "Float"):
        raise InputError(f"QUAL must be a number or '.', got {cols[5]!r}", **where)
    if not numeric or len(cols) < 8 or cols[7] == ".":
        return
    for item in cols[7].split(";"):
        key, _, value = item.partition("=")
        kind = numeric.get(key)
        if kind is None:
            continue
        bad = [x for x in value.split(",") if x != "." and not _is_number(x, kind)]
        if bad:
            raise InputError(
                f"INFO {key} is declared Type={kind} in the header, but its value is {value!r}",
                hint=f"give {'an integer' if kind == 'Integer' else 'a number'}, or '.' for a missing "
                f"value, or declare {key} Type=String",
                **where,
            )


def _count_header_lines(path: PathLike) -> int:
    n = 0
    with open_binary(path) as fh:
        for line in fh:
            if not line.startswith(b"#"):
                break
            n += 1
    return n


def _read_plain(path: PathLike) -> Iterator[Variant]:
    from genolm.io.gff import _text_lines

    p = str(path)
    i = 0
    for line_no, raw in enumerate(_text_lines(path), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 5:
            raise InputError(
                f"expected at least 5 tab-separated columns (CHROM POS ID REF ALT), found {len(cols)}",
                path=p,
                line=line_no,
            )
        chrom, pos_s, vid, ref, alt = cols[:5]
        rid = None if vid in (".", "") else vid
        where = {"path": p, "line": line_no, "record": rid or f"#{i}"}
        try:
            pos1 = int(pos_s)
        except ValueError:
            raise InputError(f"POS must be an integer, got {pos_s!r}", **where) from None
        if pos1 < 1:
            raise InputError(f"POS must be >= 1, got {pos1}", **where)
        if not _ALLELE.match(ref):
            raise InputError(f"REF must be bases (A C G T N), got {ref!r}", **where)
        qual = None
        if len(cols) > 5 and cols[5] not in (".", ""):
            try:
                qual = float(cols[5])
            except ValueError:
                raise InputError(f"QUAL must be a number or '.', got {cols[5]!r}", **where) from None
        filt = () if len(cols) <= 6 or cols[6] in (".", "") else tuple(cols[6].split(";"))
        info: dict[str, Any] = {}
        if len(cols) > 7 and cols[7] not in (".", ""):
            for item in cols[7].split(";"):
                k, eq, v = item.partition("=")
                info[k] = _decode(tuple(v.split(",")) if "," in v else v) if eq else True
        yield Variant(
            contig=chrom,
            # VCF POS is 1-based: converted to 0-based here, once
            pos=pos1 - 1,
            id=rid,
            ref=ref,
            alts=() if alt in (".", "") else tuple(alt.split(",")),
            qual=qual,
            filter=filt,
            info=info,
            index=i,
            line=line_no,
            source=p,
        )
        i += 1


def split_multiallelic(variants: Iterable[Variant]) -> Iterator[Variant]:
    """One record per ALT allele.  INFO tuples as long as ``alts`` (``Number=A``) are split; other
    INFO values are copied.  Index, line and source stay those of the original record."""
    for v in variants:
        if len(v.alts) <= 1:
            yield v
            continue
        n = len(v.alts)
        for j, alt in enumerate(v.alts):
            info = {k: (x[j] if isinstance(x, tuple) and len(x) == n else x) for k, x in v.info.items()}
            yield v._replace(alts=(alt,), info=info)


# --- checking against a genome ----------------------------------------------------------


def _ref_matches(ref: str, genome_seq: str) -> bool:
    ref, genome_seq = ref.upper(), genome_seq.upper()
    if ref == genome_seq:
        return True
    # an N in REF stands for any base (VCF spec); an N in the genome matches nothing else
    return len(ref) == len(genome_seq) and all(r == "N" or r == g for r, g in zip(ref, genome_seq))


def check_against_genome(
    variants: Iterable[Variant], genome: Genome | PathLike, *, strict: bool = False
) -> list[VariantCheck]:
    """Check every variant's contig, position and REF allele against ``genome``.

    Contig names go through :class:`Genome`'s aliases (``1`` finds ``chr1``; a region record
    ``chr17:42425000-43600000`` holds that part of ``chr17``).  Every record gets a result;
    none is dropped.

    Parameters
    ----------
    variants : iterable of Variant
    genome : Genome or path to a FASTA (opened, and closed afterwards)
    strict : bool
        Raise :class:`InputError` at the first record that is not ``"ok"``, naming the file,
        line, record and what was wrong.  Default is ``False``.

    Returns
    -------
    list of VariantCheck
        ``status``: ``"ok"``, ``"ref_mismatch"``, ``"contig_missing"`` or ``"out_of_bounds"``.
    """
    own = not isinstance(genome, Genome)
    g = Genome(genome) if own else genome
    out: list[VariantCheck] = []
    try:
        for v in variants:
            status, rec, rs, re_, msg = g._resolve(v.contig, v.pos, v.end)
            if status == "ok":
                have = g.fetch(v.contig, v.pos, v.end)
                if not _ref_matches(v.ref, have):
                    # messages use the VCF's own 1-based POS, so users can grep for it
                    status, msg = (
                        "ref_mismatch",
                        f"REF '{v.ref}' but genome has '{have}' at {v.contig}:{v.pos + 1}",
                    )
            elif status == "out_of_bounds":
                msg = f"{v.contig}:{v.pos + 1} (REF '{v.ref}') is out of bounds: {msg}"
            if strict and status != "ok":
                raise InputError(msg, path=v.source, line=v.line, record=v.record, hint=f"status {status}")
            out.append(VariantCheck(v, status, msg))
    finally:
        if own:
            g.close()
    return out


# --- writing ----------------------------------------------------------------------------


class InfoField(NamedTuple):
    """An INFO header line: ``number`` (``"1"``, ``"A"``, ``"."``, ...), ``type`` (``"Float"``,
    ``"Integer"``, ``"String"``, ``"Flag"``), ``description``."""

    number: str
    type: str
    description: str = ""


def _infer_field(value) -> InfoField:
    if isinstance(value, bool):
        return InfoField("0", "Flag", "")
    if isinstance(value, (tuple, list)):
        inner = _infer_field(value[0]) if value else InfoField(".", "String")
        return InfoField(".", inner.type)
    if isinstance(value, int):
        return InfoField("1", "Integer")
    if isinstance(value, float):
        return InfoField("1", "Float")
    return InfoField("1", "String")


_ENCODE = {c: f"%{ord(c):02X}" for c in "%;=, \t\n\r"}
_ENCODE_TABLE = str.maketrans(_ENCODE)


def _encode(value):
    if isinstance(value, str):
        return value.translate(_ENCODE_TABLE)
    if isinstance(value, (tuple, list)):
        return tuple(_encode(v) for v in value)
    return value


def _mode_for(path: Path) -> str:
    name = path.name
    if name.endswith(".bcf"):
        return "wb"
    if name.endswith((".gz", ".bgz")):
        return "wz"
    return "w"


def write_vcf(
    path: PathLike,
    variants: Iterable[Variant],
    *,
    header_from: PathLike | Any | None = None,
    info_fields: Mapping[str, InfoField | tuple] | None = None,
    contigs: Mapping[str, int] | Iterable[str] | Genome | None = None,
    sort: bool = False,
    index: bool = False,
) -> int:
    """Write variants as a sites-only VCF / BCF, atomically (temporary sibling + ``os.replace``).

    Parameters
    ----------
    path : str or PathLike
        ``.vcf`` plain; ``.vcf.gz`` / ``.vcf.bgz`` bgzip (tabix-able); ``.bcf`` BCF.
    variants : iterable of Variant
        ``pos`` 0-based.  Read into a list first (the header must name every contig and INFO
        key before the first record).
    header_from : path or pysam.VariantHeader, optional
        Copy the meta lines (INFO, FILTER, contig, ...) of this VCF; samples are not copied.
        Default is ``None``: a fresh header.
    info_fields : mapping name -> InfoField or (number, type, description), optional
        INFO keys to declare, e.g. ``{"score": ("1", "Float", "model LLR"), "reason":
        ("1", "String", "why not scored")}``.  Keys used in ``info`` but declared nowhere get a
        type inferred from their values (float -> Float, int -> Integer, str -> String,
        bool -> Flag, tuple -> Number=.).
    contigs : mapping name -> length, iterable of names, or Genome, optional
        Contig lines (with lengths where given).  Contigs of records not declared anywhere
        are added without length.
    sort : bool
        Sort records by (contig order in the header, pos).  Default is ``False``.
    index : bool
        Also write a tabix ``.tbi`` (bgzip VCF, records must be sorted).  Default is ``False``.

    Returns
    -------
    int
        Records written.
    """
    import pysam

    from genolm.atomic import atomic_path

    path = Path(path)
    variants = list(variants)
    header = pysam.VariantHeader()
    if header_from is not None:
        src = header_from if isinstance(header_from, pysam.VariantHeader) else None
        if src is None:
            with _quiet_htslib(), pysam.VariantFile(str(header_from)) as vf:
                src = vf.header.copy()
        for rec in src.records:
            header.add_record(rec)
    # contigs: explicit, then from the records
    lengths: dict[str, int | None] = {}
    if isinstance(contigs, Genome):
        lengths.update(contigs.lengths)
    elif isinstance(contigs, Mapping):
        lengths.update(contigs)
    elif contigs is not None:
        lengths.update((c, None) for c in contigs)
    for v in variants:
        lengths.setdefault(v.contig, None)
    for c, n in lengths.items():
        if c not in header.contigs:
            header.contigs.add(c, length=n)
    # INFO: declared, then inferred
    declared = {
        k: InfoField(*f) if not isinstance(f, InfoField) else f for k, f in (info_fields or {}).items()
    }
    for v in variants:
        for k, x in v.info.items():
            if k not in declared and k not in header.info and x is not None:
                declared[k] = _infer_field(x)
    for k, f in declared.items():
        if k not in header.info:
            header.info.add(k, f.number, f.type, f.description or f"{k} (written by genolm)")
    for v in variants:
        for fl in v.filter:
            if fl not in header.filters:
                header.filters.add(fl, None, None, fl)
    if sort:
        order = {c: i for i, c in enumerate(header.contigs)}
        variants.sort(key=lambda v: (order[v.contig], v.pos))

    mode = _mode_for(path)
    if index and mode != "wz":
        raise ValueError("index=True needs a bgzip output (a name ending in .vcf.gz)")
    n = 0
    tmp_tbi = None
    try:
        with atomic_path(path) as tmp:
            with _quiet_htslib(), pysam.VariantFile(str(tmp), mode, header=header) as out:
                for v in variants:
                    info = {k: _encode(x) for k, x in v.info.items() if x is not None and not _is_nan(x)}
                    try:
                        rec = out.new_record(
                            contig=v.contig,
                            # pysam's start is 0-based like Variant.pos: no conversion here; htslib
                            # writes POS = start + 1 (the one 0-based -> 1-based step, on the way out)
                            start=v.pos,
                            stop=v.pos + len(v.ref),
                            alleles=(v.ref, *v.alts) if v.alts else (v.ref,),
                            id=v.id,
                            qual=v.qual,
                            filter=list(v.filter) or None,
                            info=info,
                        )
                        out.write(rec)
                    except (ValueError, TypeError, KeyError) as e:
                        raise InputError(
                            f"cannot write this record: {e}", path=str(path), record=v.record, line=v.line
                        ) from e
                    n += 1
            if index:
                tmp_tbi = str(tmp) + ".tbi"
                try:
                    pysam.tabix_index(str(tmp), preset="vcf", force=True, index=tmp_tbi)
                except (OSError, ValueError) as e:
                    raise InputError(f"cannot tabix-index: {e}", path=str(path), hint="pass sort=True") from e
        if tmp_tbi is not None:
            # the index is moved after the VCF, so it is never older than its data (htslib checks)
            os.replace(tmp_tbi, str(path) + ".tbi")
            tmp_tbi = None
    finally:
        if tmp_tbi is not None and os.path.exists(tmp_tbi):
            os.remove(tmp_tbi)
    return n


def _is_nan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)
