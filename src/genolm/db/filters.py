"""Metadata filters for ``genolm db query --where``, parsed without ``eval``.

Syntax: ``FIELD OP VALUE [and FIELD OP VALUE ...]``; several ``--where`` are joined by ``and``.

* ``FIELD``: a metadata column: ``id``, ``source``, ``contig``, ``start``, ``end``, ``strand``,
  ``label``, ``key``.
* ``OP``: ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``.
* ``VALUE``: a number (the only kind ``start``, ``end`` and ``key`` take), a quoted string
  (``'x'`` / ``"x"``), a bare word (a string), or
  ``query.FIELD``: the same field of the query (``contig != query.contig`` keeps hits on other
  contigs; ``id != query.id`` drops the query itself).  A ``query.`` filter needs queries that
  have that field (``--id``, ``--region``, ``--fasta`` records have contig, start, end; ``--seq``
  has none).
"""

from __future__ import annotations

import operator
import re
from typing import NamedTuple

import numpy as np

from genolm.errors import ConfigError

FIELDS = ("id", "source", "contig", "start", "end", "strand", "label", "key")
#: fields that hold numbers: their VALUE must be a number
NUMERIC_FIELDS = ("start", "end", "key")
_OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_TOKEN = re.compile(r"""\s*(?:(?P<op>==|!=|<=|>=|<|>)|(?P<str>'[^']*'|"[^"]*")|(?P<word>[^\s=!<>'"]+))""")


class Cond(NamedTuple):
    field: str
    op: str
    value: object  # a literal, or None when ``ref`` is set
    ref: str | None  # the query field for ``query.FIELD``


def parse_where(texts) -> list[Cond]:
    """Parse ``--where`` strings into conditions (raises :class:`ConfigError` naming the problem)."""
    conds: list[Cond] = []
    for text in [texts] if isinstance(texts, str) else list(texts or []):
        toks, pos = [], 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise ConfigError(f"--where {text!r}: cannot read from {text[pos:]!r}")
            toks.append((m.lastgroup, m.group(m.lastgroup)))
            pos = m.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        i = 0
        while i < len(toks):
            if i + 2 >= len(toks) + 0 and i + 3 > len(toks):
                raise ConfigError(f'--where {text!r}: expected FIELD OP VALUE (e.g. "label == x")')
            (kf, f), (ko, op), (kv, v) = toks[i : i + 3]
            if kf != "word" or f not in FIELDS:
                raise ConfigError(f"--where {text!r}: unknown field {f!r}; fields: {', '.join(FIELDS)}")
            if ko != "op":
                raise ConfigError(
                    f"--where {text!r}: expected an operator ({' '.join(_OPS)}) after {f!r}, got {op!r}"
                )
            ref = None
            if kv == "str":
                value = v[1:-1]
            elif kv == "word" and v.startswith("query."):
                ref, value = v[len("query.") :], None
                if ref not in FIELDS:
                    raise ConfigError(
                        f"--where {text!r}: unknown query field {ref!r}; fields: {', '.join(FIELDS)}"
                    )
            elif kv == "word":
                value = _number(v)
            else:
                raise ConfigError(f"--where {text!r}: expected a value after {op!r}")
            if f in NUMERIC_FIELDS and ref is None:
                value = _number(value)
                if not isinstance(value, (int, float)) or value != value:  # a word, or nan
                    raise ConfigError(
                        f"--where {text!r}: {f} is a number, but {v} is not; "
                        f'compare it with a number (e.g. "{f} > 1000")'
                    )
            conds.append(Cond(f, op, value, ref))
            i += 3
            if i < len(toks):
                if toks[i] != ("word", "and"):
                    raise ConfigError(f"--where {text!r}: conditions are joined by 'and', got {toks[i][1]!r}")
                i += 1
                if i >= len(toks):
                    raise ConfigError(f"--where {text!r}: nothing after 'and'")
    return conds


def _number(v: str):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def needs_query(conds: list[Cond]) -> bool:
    return any(c.ref is not None for c in conds)


def _compare(col, op: str, value) -> np.ndarray:
    col = np.asarray(col, dtype=object)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        num = np.array(
            [x if isinstance(x, (int, float, np.integer, np.floating)) else np.nan for x in col], float
        )
        if not np.isnan(num).all() or op in ("<", "<=", ">", ">="):
            with np.errstate(invalid="ignore"):
                return np.asarray(_OPS[op](num, value), bool)
        value = str(value)
    return np.array([x is not None and _OPS[op](str(x), str(value)) for x in col], bool)


def apply_filter(meta, conds: list[Cond], query: dict | None = None) -> np.ndarray:
    """Boolean mask over the rows of ``meta`` (a DataFrame) for ``conds``; ``query`` holds the
    query's fields for ``query.FIELD`` references."""
    mask = np.ones(len(meta), bool)
    for c in conds:
        value = c.value
        if c.ref is not None:
            if query is None or query.get(c.ref) is None:
                raise ConfigError(
                    f"the filter '{c.field} {c.op} query.{c.ref}' needs queries with a {c.ref}: "
                    "query with --id, --region or --fasta (a --seq query has none)"
                )
            value = query[c.ref]
        mask &= _compare(meta[c.field].to_numpy(), c.op, value)
    return mask
