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


class ConfigError(GenolmError, ValueError):
    """A bad configuration key or value (messages suggest the nearest valid key)."""
