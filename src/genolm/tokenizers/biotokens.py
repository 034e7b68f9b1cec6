"""Biotokens: DNA written for *text* LLMs as marked tokens (``∎A∎C∎G∎T``).

A text tokenizer splits ``ACGT`` into arbitrary sub-words; adding :func:`biotoken_list` to
its vocabulary (``text_tok.add_tokens(biotoken_list(), special_tokens=False)``) and writing
sequences with :func:`dna_to_biotokens` gives one stable token per base (or per k-mer).

Representation: each unit is ``prefix + bases`` (prefix ``∎``, U+220E).  With ``k > 1`` a
sequence is read in non-overlapping k-mers, and the leftover at the end of every
``N``-free stretch is written base by base (the Nucleotide Transformer rule), so every
sequence is representable with :func:`biotoken_list(k) <biotoken_list>`.  ``N`` is a
biotoken only with ``include_n=True``; otherwise it raises.  Lower case (soft mask) is
upper-cased.  ``biotokens_to_dna(dna_to_biotokens(s)) == s.upper()``.
"""

from __future__ import annotations

import re

from genolm.errors import InputError
from genolm.tokenizers.kmer import kmers

_ORDER = "ACGT"

BIOTOKEN_PREFIX = "\u220e"  # ∎ END OF PROOF: rare in text, one code point


def biotoken_list(k: int = 1, *, include_n: bool = False, prefix: str = BIOTOKEN_PREFIX) -> list[str]:
    """Tokens to add to a text tokenizer: every k-mer (``k > 1``) and every single base.

    >>> biotoken_list()
    ['∎A', '∎C', '∎G', '∎T']
    """
    if not 1 <= k <= 6:
        raise ValueError(f"k must be in 1..6, got {k}")
    singles = list(_ORDER) + (["N"] if include_n else [])
    units = (kmers(k, _ORDER) if k > 1 else []) + singles
    return [prefix + u for u in units]


def dna_to_biotokens(
    seq: str,
    k: int = 1,
    *,
    include_n: bool = False,
    prefix: str = BIOTOKEN_PREFIX,
    sep: str = "",
) -> str:
    """Write ``seq`` as biotokens joined by ``sep``.

    >>> dna_to_biotokens("ACGtN", include_n=True)
    '∎A∎C∎G∎T∎N'
    >>> dna_to_biotokens("ACGTACGT", k=3)
    '∎ACG∎TAC∎G∎T'
    """
    if not 1 <= k <= 6:
        raise ValueError(f"k must be in 1..6, got {k}")
    s = seq.upper()
    allowed = "ACGTN" if include_n else "ACGT"
    bad = re.search(f"[^{allowed}]", s)
    if bad is not None:
        hint = (
            "pass include_n=True (on the command line: --include-n) to write N as a biotoken"
            if bad.group() == "N"
            else "only A C G T (N) have biotokens"
        )
        raise InputError(f"no biotoken for {seq[bad.start()]!r}", position=bad.start(), hint=hint)
    if k == 1:
        units = list(s)
    else:
        units = []
        for m in re.finditer(r"[ACGT]+|N", s):
            run = m.group()
            n = len(run) // k * k
            units.extend(run[i : i + k] for i in range(0, n, k))
            units.extend(run[n:])
    return sep.join(prefix + u for u in units)


def biotokens_to_dna(text: str, *, prefix: str = BIOTOKEN_PREFIX, strict: bool = True) -> str:
    """Inverse of :func:`dna_to_biotokens`.

    ``strict=True`` (default) allows only biotokens and whitespace and raises on anything
    else; ``strict=False`` pulls the biotokens out of surrounding prose and concatenates them.
    """
    pat = re.compile(re.escape(prefix) + r"([ACGTN]+)")
    if strict:
        rest = pat.sub("", text)
        m = re.search(r"\S", rest)
        if m is not None:
            raise InputError(
                f"text holds {m.group()!r}, which is not part of a biotoken",
                hint="use strict=False to extract biotokens from prose",
            )
    return "".join(pat.findall(text))
