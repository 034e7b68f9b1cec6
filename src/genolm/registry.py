"""The one generic registry.

Every pluggable thing in genolm (tokenizers, models, tasks, scorers) lives in a
:class:`Registry`.  Entries register beside their definition::

    tokenizers = Registry("tokenizer")

    @tokenizers.register("kmer")
    class KmerTokenizer: ...

An unknown name is answered with the closest known names ("did you mean").
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from genolm.errors import ConfigError, UnknownNameError

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str] | tuple[str, ...], n: int = 3) -> str:
    """Return a ``" Did you mean 'x'?"`` suffix (or ``""``) for an unknown ``name``."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)
    if not close:
        return ""
    # keep only the matches about as close as the best one: one clear winner is named alone
    score = [difflib.SequenceMatcher(None, name, c).ratio() for c in close]
    close = [c for c, r in zip(close, score) if r >= score[0] - 0.05]
    if len(close) == 1:
        return f" Did you mean '{close[0]}'?"
    return " Did you mean one of: " + ", ".join(f"'{c}'" for c in close) + "?"


def check_choice(what: str, value, choices, *, where: str | None = None) -> None:
    """Raise :class:`~genolm.errors.ConfigError` unless ``value`` is one of ``choices``.

    The message names the setting, suggests the closest choices and lists them all:
    ``"<where>: unknown <what> 'x'. Did you mean 'y'? Choose from a, b."``.
    """
    choices = list(choices)
    if value in choices:
        return
    prefix = f"{where}: " if where else ""
    raise ConfigError(
        f"{prefix}unknown {what} '{value}'.{did_you_mean(str(value), [str(c) for c in choices])} "
        f"Choose from {', '.join(map(str, choices))}."
    )


class Registry(Generic[T]):
    """A name -> object mapping with aliases, descriptions and "did you mean" errors.

    Parameters
    ----------
    kind : str
        What the registry holds, used in messages ("tokenizer", "model", ...).
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, *, aliases: tuple[str, ...] = (), help: str = "") -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name`` (and ``aliases``)."""

        def deco(obj: T) -> T:
            self.add(name, obj, aliases=aliases, help=help)
            return obj

        return deco

    def add(self, name: str, obj: T, *, aliases: tuple[str, ...] = (), help: str = "") -> None:
        if name in self._entries or name in self._aliases:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = obj
        doc = help or (getattr(obj, "__doc__", None) or "").strip().splitlines()[0:1]
        self._help[name] = doc if isinstance(doc, str) else (doc[0] if doc else "")
        for a in aliases:
            if a in self._entries or a in self._aliases:
                raise ValueError(f"{self.kind} alias '{a}' is registered twice")
            self._aliases[a] = name

    def canonical(self, name: str) -> str:
        if name in self._entries:
            return name
        if name in self._aliases:
            return self._aliases[name]
        # suggest canonical names only, even when the closest match is an alias
        close = difflib.get_close_matches(name, list(self._entries) + list(self._aliases), n=6, cutoff=0.5)
        canon = list(dict.fromkeys(self._aliases.get(c, c) for c in close))[:3]
        hint = did_you_mean(name, canon) if canon else ""
        if canon and not hint:  # did_you_mean uses the same cutoff on canonical names: fall back
            hint = f" Did you mean '{canon[0]}'?"
        raise UnknownNameError(
            f"Unknown {self.kind} '{name}'.{hint} Known {self.kind}s: {', '.join(sorted(self._entries))}."
        )

    def get(self, name: str) -> T:
        return self._entries[self.canonical(name)]

    def help(self, name: str) -> str:
        return self._help[self.canonical(name)]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def aliases_of(self, name: str) -> list[str]:
        return sorted(a for a, n in self._aliases.items() if n == name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> list[tuple[str, Any]]:
        return [(n, self._entries[n]) for n in self.names()]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
