"""Error types that say where bad input is and how to fix it."""

from __future__ import annotations


class GenolmError(Exception):
    """Base class for genolm errors that are meant to be read by a user."""


class InputError(GenolmError, ValueError):
    """Bad input data.  The message names the file, record / line and position.

    Parameters
    ----------
    message : str
        What was wrong.
    path, record, line, position :
        Where it was.  ``position`` is 0-based within the record's sequence.
    hint : str
        How to fix it.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        record: str | None = None,
        line: int | None = None,
        position: int | None = None,
        hint: str | None = None,
    ):
        self.path, self.record, self.line, self.position, self.hint = path, record, line, position, hint
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if record is not None:
            where.append(f"record '{record}'")
        if position is not None:
            where.append(f"position {position}")
        text = (", ".join(where) + ": " if where else "") + message
        if hint:
            text += f" ({hint})"
        self.bare_message = message
        super().__init__(text)


class UnknownNameError(KeyError):
    """Raised for a name that is not in a registry (:class:`genolm.registry.Registry`); the message suggests close names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class ConfigError(GenolmError, ValueError):
    """A bad configuration key or value (messages suggest the nearest valid key)."""


def _quoted(path) -> str:
    return f"'{path}'" if path is not None else "a path"


def describe_error(e: BaseException) -> str | None:
    """One paragraph for a failure a user can fix (bad file, folder, permission, value), or ``None``
    for an unexpected one (a bug).  The CLI prints the paragraph and exits 2; ``None`` exits 3.

    Heavy libraries (pandas, pyarrow, yaml) are only consulted when already imported: an error
    cannot come from a module that was never loaded.
    """
    import errno
    import sys
    import zlib

    if isinstance(e, (GenolmError, UnknownNameError)):
        return str(e.args[0]) if isinstance(e, UnknownNameError) and e.args else str(e)
    # decompression before OSError: gzip.BadGzipFile is an OSError
    gzip_mod = sys.modules.get("gzip")
    if isinstance(e, (EOFError, zlib.error)) or (
        gzip_mod is not None and isinstance(e, gzip_mod.BadGzipFile)
    ):
        return (
            f"a compressed input is truncated or corrupt ({type(e).__name__}: {e}); "
            "the download was probably cut short: fetch it again and check it with `gzip -t FILE`"
        )
    lzma_mod = sys.modules.get("lzma")
    if lzma_mod is not None and isinstance(e, lzma_mod.LZMAError):
        return f"an xz-compressed input is corrupt ({e}); fetch it again and check it with `xz -t FILE`"
    if isinstance(e, OSError):
        where = _quoted(e.filename)
        if isinstance(e, IsADirectoryError):
            return f"{where} is a folder, but a file is needed there: give the path of a file"
        if isinstance(e, NotADirectoryError):
            return (
                f"{where}: part of this path is a file, but a folder is needed there: "
                "give a folder path (or remove the file that is in the way)"
            )
        if isinstance(e, FileNotFoundError):
            return f"no such file or folder: {where}; check the path"
        if isinstance(e, PermissionError):
            return f"permission denied for {where}: make it readable / writable, or choose another path"
        if isinstance(e, FileExistsError):
            import os

            if e.filename is not None and os.path.isfile(e.filename):  # mkdir of a folder path
                return f"{where} is a file, but a folder is needed there: give another path, or move the file"
            return f"{where} already exists: remove it, or choose another path"
        if e.errno == errno.ENOSPC:
            return f"no space left on the device writing {where}: free some space or choose another folder"
        if e.errno == errno.EROFS:
            return f"{where} is on a read-only file system: choose another path"
        return f"cannot read or write {where}: {e.strerror or e}"
    if isinstance(e, UnicodeDecodeError):
        return (
            f"an input file is not UTF-8 text ({e.reason} at byte {e.start}): "
            "is it a binary or compressed file given where text is expected?"
        )
    yaml_mod = sys.modules.get("yaml")
    if yaml_mod is not None and isinstance(e, yaml_mod.YAMLError):
        return f"not valid YAML: {e}"
    pd_errors = sys.modules.get("pandas.errors")
    if pd_errors is not None and isinstance(e, (pd_errors.ParserError, pd_errors.EmptyDataError)):
        return (
            f"cannot read a table: {e}; check that the file is a CSV / TSV / Parquet table with a header row"
        )
    pa_lib = sys.modules.get("pyarrow.lib")
    if pa_lib is not None and isinstance(e, pa_lib.ArrowException):
        return f"cannot read a Parquet / Arrow table: {e}; is the file complete and really Parquet?"
    if isinstance(e, ValueError):  # argument and config checks of the library and its dependencies
        # not one of genolm's own checks (those are GenolmError): usually a dependency rejecting a
        # value, sometimes a bug; say where it came from, and how to tell
        where = _raised_in(e)
        return (
            f"{e or type(e).__name__} ({type(e).__name__}{f' raised in {where}' if where else ''}); "
            "check the value it names. If your inputs look right, this may be a bug in genolm: "
            "run with -v for the traceback and report it"
        )
    return None


def _raised_in(e: BaseException) -> str | None:
    """The module whose code raised ``e`` (its innermost traceback frame), e.g. ``sklearn.utils...``."""
    tb = e.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_globals.get("__name__")
