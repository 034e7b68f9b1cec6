"""Nucleotide alphabets and the three sequence representations.

Representations (each named once; convert between them only with the
``a_to_b`` functions below or :func:`convert`):

``string``
    a Python ``str`` over the IUPAC alphabet.  Upper case is unmasked; lower case is
    soft-masked (repeats), the convention of RepeatMasker / UCSC / Ensembl.
``index``
    ``np.ndarray`` of ``uint8``, shape ``(L,)``: ``A=0, C=1, G=2, T=3, N=4``.  Every
    ambiguity code maps to ``4``.  The soft mask is not stored here; get it with
    :func:`soft_mask`.
``one_hot``
    ``np.ndarray`` of ``float32``, shape ``(4, L)`` (channels first, rows in ``ACGT``
    order).  ``N`` (and any ambiguity code) is an all-zero column.

RNA is DNA with ``U`` for ``T``: :func:`to_dna` / :func:`to_rna` convert.
"""

from __future__ import annotations

import enum
import re

import numpy as np

from genolm.errors import InputError

DNA = "ACGT"
RNA = "ACGU"
#: IUPAC nucleotide codes (upper case) and the bases each stands for.
IUPAC: dict[str, str] = {
    "A": "A", "C": "C", "G": "G", "T": "T", "U": "T",
    "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
    "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}  # fmt: skip
#: characters accepted in a DNA sequence with ``alphabet="iupac"`` (both cases, plus gap).
IUPAC_CHARS = "".join(IUPAC) + "".join(IUPAC).lower()
_COMP_UPPER = {
    "A": "T", "C": "G", "G": "C", "T": "A", "U": "A",
    "R": "Y", "Y": "R", "S": "S", "W": "W", "K": "M", "M": "K",
    "B": "V", "V": "B", "D": "H", "H": "D", "N": "N", "-": "-", ".": ".",
}  # fmt: skip
_COMP = {**_COMP_UPPER, **{k.lower(): v.lower() for k, v in _COMP_UPPER.items()}}
_COMP_TABLE = str.maketrans(_COMP)
_COMP_TABLE_RNA = str.maketrans({**_COMP, "A": "U", "a": "u"})

ALPHABETS: dict[str, str] = {
    "dna": "ACGTNacgtn",
    "rna": "ACGUNacgun",
    "iupac": IUPAC_CHARS,
}

#: byte -> index lookup (256,) uint8: ACGT (either case, and U as T) -> 0..3, every other byte -> 4
INDEX_LUT = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate("ACGT"):
    INDEX_LUT[ord(_b)] = _i
    INDEX_LUT[ord(_b.lower())] = _i
INDEX_LUT[ord("U")] = 3
INDEX_LUT[ord("u")] = 3
_INDEX_TO_CHAR = np.frombuffer(b"ACGTN", dtype=np.uint8)
# byte -> complement byte, for numpy reverse complement on bytes
_COMP_LUT = np.arange(256, dtype=np.uint8)
for _k, _v in _COMP.items():
    _COMP_LUT[ord(_k)] = ord(_v)


class AmbiguityPolicy(str, enum.Enum):
    """What to do with ``N`` and other IUPAC ambiguity codes.

    ``keep``
        leave them as they are (tokenizers then use their ``N``/``[UNK]`` handling).
    ``to_n``
        replace every ambiguity code (R, Y, ..., N) by ``N`` (case kept).
    ``drop``
        drop the whole window: :func:`apply_ambiguity_policy` returns ``None``.
        Callers count and report dropped windows; nothing is dropped silently.
    """

    keep = "keep"
    to_n = "to_n"
    drop = "drop"


_AMBIG_RE = re.compile(r"[RYSWKMBDHVNryswkmbdhvn]")
_AMBIG_NOT_N_TABLE = str.maketrans({c: ("N" if c.isupper() else "n") for c in "RYSWKMBDHVryswkmbdhv"})


def apply_ambiguity_policy(seq: str, policy: AmbiguityPolicy | str = AmbiguityPolicy.keep) -> str | None:
    """Apply an :class:`AmbiguityPolicy` to one sequence / window.

    Returns the (possibly rewritten) sequence, or ``None`` when ``policy="drop"`` and the
    sequence holds any ambiguity code.
    """
    policy = AmbiguityPolicy(policy)
    if policy is AmbiguityPolicy.keep:
        return seq
    if policy is AmbiguityPolicy.to_n:
        return seq.translate(_AMBIG_NOT_N_TABLE)
    return None if _AMBIG_RE.search(seq) else seq


def _table(seq: str):
    # RNA in, RNA out: a sequence holding U complements A to U.
    return _COMP_TABLE_RNA if ("U" in seq or "u" in seq) else _COMP_TABLE


def complement(seq: str) -> str:
    """Complement, IUPAC-aware, case (soft mask) preserved.  RNA (holding ``U``) stays RNA."""
    return seq.translate(_table(seq))


def reverse_complement(seq: str) -> str:
    """Reverse complement, IUPAC-aware, case (soft mask) preserved.

    >>> reverse_complement("ACGTryN")
    'NryACGT'
    """
    return seq.translate(_table(seq))[::-1]


def reverse_complement_index(idx: np.ndarray) -> np.ndarray:
    """Reverse complement in the ``index`` representation (``N`` stays ``N``)."""
    idx = np.asarray(idx)
    out = np.where(idx < 4, 3 - idx, idx)
    return out[..., ::-1].astype(idx.dtype, copy=False)


def reverse_complement_one_hot(x: np.ndarray) -> np.ndarray:
    """Reverse complement in the ``one_hot`` representation, shape ``(..., 4, L)``."""
    return np.asarray(x)[..., ::-1, ::-1].copy()


def to_rna(seq: str) -> str:
    """DNA -> RNA (``T``->``U``, case kept)."""
    return seq.replace("T", "U").replace("t", "u")


def to_dna(seq: str) -> str:
    """RNA -> DNA (``U``->``T``, case kept)."""
    return seq.replace("U", "T").replace("u", "t")


def rna_as_dna(seq: str, *, path: str | None = None, record: str | None = None) -> tuple[str, int]:
    """``(sequence, number of U converted)``: an RNA sequence (``U``, no ``T``) as DNA, else unchanged.

    The DNA tokenizers and models have no ``U``: left alone, every ``U`` becomes ``[UNK]``.
    A sequence holding both ``T`` and ``U`` is neither: :class:`~genolm.errors.InputError`
    naming the record and the first ``U``.
    """
    n_u = seq.count("U") + seq.count("u")
    if not n_u:
        return seq, 0
    if "T" in seq or "t" in seq:
        i = min(j for j in (seq.find("U"), seq.find("u")) if j >= 0)
        raise InputError(
            "the sequence holds both T and U (neither DNA nor RNA)",
            path=path,
            record=record,
            position=i,
            hint="fix the record; convert RNA to DNA with genolm.alphabet.to_dna",
        )
    return to_dna(seq), n_u


def soft_mask(seq: str) -> np.ndarray:
    """Boolean mask, shape ``(L,)``: ``True`` where the base is lower case (soft-masked)."""
    b = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
    return b >= ord("a")


def split_soft_mask(seq: str) -> tuple[str, np.ndarray]:
    """``(upper-cased sequence, soft mask)``: the mask is kept, not thrown away."""
    return seq.upper(), soft_mask(seq)


def apply_soft_mask(seq: str, mask: np.ndarray) -> str:
    """Inverse of :func:`split_soft_mask`."""
    b = np.frombuffer(seq.upper().encode("ascii"), dtype=np.uint8).copy()
    m = np.asarray(mask, dtype=bool)
    b[m] = b[m] + 32
    return b.tobytes().decode("ascii")


def validate(
    seq: str,
    alphabet: str = "iupac",
    *,
    path: str | None = None,
    record: str | None = None,
    offset: int = 0,
) -> str:
    """Check that ``seq`` only holds characters of ``alphabet`` (``"dna"``, ``"rna"``, ``"iupac"``).

    Raises :class:`~genolm.errors.InputError` naming the file, record and the 0-based
    position of the first bad character.  ``offset`` is added to that position (for
    sequences that arrive in chunks).  Returns ``seq`` unchanged.
    """
    allowed = ALPHABETS[alphabet] if alphabet in ALPHABETS else alphabet
    # fast path (every Genome.fetch runs this): delete the allowed bytes, nothing may be left
    if (
        seq.isascii()
        and allowed.isascii()
        and not seq.encode("ascii").translate(None, allowed.encode("ascii"))
    ):
        return seq
    bad = re.search(f"[^{re.escape(allowed)}]", seq)
    if bad is not None:
        ch = bad.group(0)
        raise InputError(
            f"invalid character {ch!r} in a {alphabet.upper()} sequence",
            path=path,
            record=record,
            position=offset + bad.start(),
            hint="allowed: "
            + ("IUPAC codes A C G T U R Y S W K M B D H V N" if alphabet == "iupac" else allowed),
        )
    return seq


# --- representations --------------------------------------------------------------------


def string_to_index(seq: str) -> np.ndarray:
    """``string`` -> ``index``.  Ambiguity codes map to 4 (``N``); case is ignored."""
    return INDEX_LUT[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]


def index_to_string(idx: np.ndarray) -> str:
    """``index`` -> ``string`` (upper case)."""
    idx = np.asarray(idx)
    if idx.size and int(idx.max()) > 4:
        raise ValueError(f"index values must be in 0..4, got {int(idx.max())}")
    return _INDEX_TO_CHAR[idx.astype(np.intp)].tobytes().decode("ascii")


def index_to_one_hot(idx: np.ndarray) -> np.ndarray:
    """``index`` ``(..., L)`` -> ``one_hot`` ``(..., 4, L)``; ``N`` is an all-zero column."""
    idx = np.asarray(idx)
    eye = np.concatenate([np.eye(4, dtype=np.float32), np.zeros((1, 4), np.float32)])
    return np.moveaxis(eye[idx.astype(np.intp)], -1, -2)


def one_hot_to_index(x: np.ndarray) -> np.ndarray:
    """``one_hot`` ``(..., 4, L)`` -> ``index`` ``(..., L)``; all-zero columns become ``N`` (4)."""
    x = np.asarray(x)
    idx = x.argmax(axis=-2).astype(np.uint8)
    idx[x.sum(axis=-2) == 0] = 4
    return idx


def string_to_one_hot(seq: str) -> np.ndarray:
    """``string`` -> ``one_hot`` ``(4, L)``."""
    return index_to_one_hot(string_to_index(seq))


def one_hot_to_string(x: np.ndarray) -> str:
    """``one_hot`` ``(4, L)`` -> ``string``."""
    return index_to_string(one_hot_to_index(x))


REPRESENTATIONS = ("string", "index", "one_hot")
_CONVERTERS = {
    ("string", "index"): string_to_index,
    ("index", "string"): index_to_string,
    ("index", "one_hot"): index_to_one_hot,
    ("one_hot", "index"): one_hot_to_index,
    ("string", "one_hot"): string_to_one_hot,
    ("one_hot", "string"): one_hot_to_string,
}


def convert(x, to: str, *, frm: str | None = None):
    """Convert between representations; ``frm`` is inferred when omitted."""
    if frm is None:
        if isinstance(x, str):
            frm = "string"
        else:
            arr = np.asarray(x)
            frm = "one_hot" if arr.ndim >= 2 and arr.shape[-2] == 4 and arr.dtype.kind == "f" else "index"
    if frm == to:
        return x
    if (frm, to) not in _CONVERTERS:
        raise ValueError(f"cannot convert {frm!r} to {to!r}; representations are {REPRESENTATIONS}")
    return _CONVERTERS[(frm, to)](x)


def gc_content(seq: str) -> float:
    """Fraction of G/C among unambiguous bases (0.0 when there are none)."""
    idx = string_to_index(seq)
    acgt = idx < 4
    n = int(acgt.sum())
    return float(((idx == 1) | (idx == 2)).sum()) / n if n else 0.0


# --- proteins and the genetic code ----------------------------------------------------------------

#: the 20 standard amino acids (one-letter codes)
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
#: characters accepted in a protein sequence: the 20, ambiguity codes B Z J X, U (Sec), O (Pyl), * (stop)
PROTEIN_CHARS = AMINO_ACIDS + "BZJXUO*"
_BASES_TCAG = "TCAG"
#: NCBI translation table 1 (the standard code), codons in TCAG order; ``*`` is a stop
_STANDARD_AA = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
STANDARD_CODE: dict[str, str] = {
    a + b + c: _STANDARD_AA[16 * i + 4 * j + k]
    for i, a in enumerate(_BASES_TCAG)
    for j, b in enumerate(_BASES_TCAG)
    for k, c in enumerate(_BASES_TCAG)
}


def translate(cds: str) -> str:
    """Translate a coding sequence with the standard genetic code (NCBI table 1), codon by codon
    from its first base; a codon with a non-ACGT base gives ``X``, a stop gives ``*`` and a
    trailing partial codon is dropped.  :func:`genolm.db.inputs.iter_items` applies the policy
    (terminal stop trimmed; internal stops and frame errors skipped and counted)."""
    s = to_dna(cds.upper())
    return "".join(STANDARD_CODE.get(s[i : i + 3], "X") for i in range(0, len(s) - len(s) % 3, 3))


def looks_like_protein(seq: str) -> bool:
    """Whether ``seq`` reads as a protein: it has letters that are not nucleotide codes (E, F, I,
    L, P, Q ...), or fewer than 90 % of its letters are A, C, G, T, U or N."""
    s = seq.upper()
    if not s:
        return False
    if set(s) - set(IUPAC) - {"-", "*"}:
        return True
    return sum(s.count(c) for c in "ACGTUN") / len(s) < 0.9
