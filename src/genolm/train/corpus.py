"""Pretraining corpus: contigs from FASTA/GenBank cut into windows, with a held-out validation set.

Windows are ``(contig index, start)`` pairs over contigs stored as ASCII ``uint8`` arrays
(1 byte/bp; soft-masked lowercase kept).  The validation set is held out by whole contigs
or by a region at the end of every contig; training and validation windows never overlap
because each is confined to its own region.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genolm.errors import InputError
from genolm.io.genbank import is_genbank

log = logging.getLogger(__name__)

_N_LUT = np.zeros(256, dtype=bool)
for _c in "NnRYSWKMBDHVrykmbdhvsw":
    _N_LUT[ord(_c)] = True


@dataclass
class Contig:
    name: str
    path: str
    seq: np.ndarray  # uint8 ASCII, shape (L,)

    def __len__(self) -> int:
        return len(self.seq)


@dataclass
class Windows:
    """Window starts for one split.  ``contig[i]``, ``start[i]``; every window is ``length`` bp."""

    contig: np.ndarray
    start: np.ndarray
    length: int
    n_dropped_n: int = 0  # windows dropped for too many N (reported, never silent)
    skipped_contigs: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.start)


def load_contigs(paths: list[str | Path]) -> list[Contig]:
    """Read every record of every FASTA/GenBank file into memory as ``uint8`` arrays.

    A path ``bundled:NAME`` names a genome shipped with genolm (``bundled:lambda``,
    ``bundled:chloroplast``).

    RNA policy: a record with ``U`` and no ``T`` is converted to DNA (``U`` -> ``T``), with a
    warning that counts the records and bases; one holding both is an ``InputError``
    (:func:`genolm.alphabet.rna_as_dna`).  Without this every ``U`` would become ``[UNK]``.
    """
    contigs: list[Contig] = []
    seen: dict[str, str] = {}
    rna: list[tuple[str, int]] = []  # (record, U converted)
    from genolm.alphabet import rna_as_dna
    from genolm.data import resolve_path

    for spec in map(str, paths):
        if not spec.startswith("bundled:") and spec != "-" and not Path(spec).exists():  # '-': stdin
            raise InputError(
                "corpus file not found", path=spec, hint="check the 'corpus' list in your config"
            )
        p = str(resolve_path(spec))
        if is_genbank(p):
            from genolm.io.genbank import read_genbank

            recs = ((r.name, str(r.seq)) for r in read_genbank(p))
        else:
            from genolm.io.fasta import read_fasta

            recs = ((r.name, r.seq) for r in read_fasta(p))
        for name, seq in recs:
            if name in seen:
                raise InputError(
                    f"contig name also used in {seen[name]}",
                    path=p,
                    record=name,
                    hint="rename one of the records",
                )
            seen[name] = p
            seq, n_u = rna_as_dna(seq, path=p, record=name)
            if n_u:
                rna.append((name, n_u))
            contigs.append(Contig(name, p, np.frombuffer(seq.encode("ascii"), dtype=np.uint8)))
    if not contigs:
        raise InputError("the corpus holds no sequences", path=", ".join(map(str, paths)))
    if rna:
        log.warning(
            "the corpus holds %d RNA record(s) (U and no T): converted %d U to T, as the DNA "
            "tokenizers have no U (first: %s)",
            len(rna),
            sum(n for _, n in rna),
            ", ".join(n for n, _ in rna[:5]),
        )
    return contigs


def _starts(lo: int, hi: int, window: int, stride: int) -> np.ndarray:
    if hi - lo < window:
        return np.zeros(0, dtype=np.int64)
    return np.arange(lo, hi - window + 1, stride, dtype=np.int64)


def make_windows(
    contigs: list[Contig],
    *,
    window: int,
    stride: int,
    max_n_frac: float = 0.1,
    valid_contigs: list[str] | None = None,
    valid_fraction: float = 0.0,
    short_contigs: str = "error",
) -> tuple[Windows, Windows]:
    """Cut ``contigs`` into ``(train, valid)`` windows.

    Parameters
    ----------
    window, stride : int
        Window length and step in bp.
    max_n_frac : float
        Windows with a larger fraction of N/ambiguity codes are dropped and counted.
        Default is 0.1.
    valid_contigs : list of str, optional
        Contigs held out whole for validation.
    valid_fraction : float
        Otherwise, the last ``valid_fraction`` of every contig is validation.  Default is 0.
    short_contigs : {"error", "skip"}
        What to do with contigs shorter than ``window`` or made entirely of N.
        Default is ``"error"``; ``"skip"`` lists them in ``Windows.skipped_contigs``.
    """
    if window <= 0 or stride <= 0:
        raise InputError(f"window ({window}) and stride ({stride}) must be positive")
    names = [c.name for c in contigs]
    valid_set = set(valid_contigs or [])
    missing = valid_set - set(names)
    if missing:
        from genolm.registry import did_you_mean

        m = sorted(missing)[0]
        raise InputError(f"valid_contigs names '{m}', which is not in the corpus.{did_you_mean(m, names)}")
    bad = []
    for c in contigs:
        isn = _N_LUT[c.seq]
        if len(c) < window or isn.all():
            why = (
                "entirely N" if len(c) and isn.all() else f"{len(c)} bp, shorter than the {window} bp window"
            )
            bad.append(f"{c.name} ({c.path}: {why})")
    if bad and short_contigs == "error":
        raise InputError(
            f"{len(bad)} contig(s) cannot hold a single window: "
            + "; ".join(bad[:5])
            + (" ..." if len(bad) > 5 else ""),
            hint="use a smaller 'window', remove them, or set 'short_contigs: skip' to skip them (they are listed in the log)",
        )
    out = {"train": ([], [], 0), "valid": ([], [], 0)}
    for ci, c in enumerate(contigs):
        L = len(c)
        isn = _N_LUT[c.seq]
        if L < window or isn.all():
            continue
        if c.name in valid_set:
            regions = [("valid", 0, L)]
        elif valid_fraction > 0:
            cut = int(round(L * (1 - valid_fraction)))
            regions = [("train", 0, cut), ("valid", cut, L)]
        else:
            regions = [("train", 0, L)]
        ncum = np.concatenate([[0], np.cumsum(isn, dtype=np.int64)])
        for split, lo, hi in regions:
            st = _starts(lo, hi, window, stride)
            if len(st) == 0:
                continue
            nfrac = (ncum[st + window] - ncum[st]) / window
            keep = nfrac <= max_n_frac
            cs, ss, nd = out[split]
            cs.append(np.full(int(keep.sum()), ci, dtype=np.int64))
            ss.append(st[keep])
            out[split] = (cs, ss, nd + int((~keep).sum()))
    skipped = [b.split(" (")[0] for b in bad]
    res = []
    for split in ("train", "valid"):
        cs, ss, nd = out[split]
        res.append(
            Windows(
                contig=np.concatenate(cs) if cs else np.zeros(0, np.int64),
                start=np.concatenate(ss) if ss else np.zeros(0, np.int64),
                length=window,
                n_dropped_n=nd,
                skipped_contigs=skipped,
            )
        )
    train, valid = res
    if len(train) == 0:
        files = sorted({c.path for c in contigs})
        raise InputError(
            f"no usable training windows of {window} bp (dropped {train.n_dropped_n} for N content > {max_n_frac:.0%})",
            path=", ".join(files),
            hint="use a smaller 'window', a larger 'max_n_frac', or a longer corpus",
        )
    return train, valid


def window_text(contigs: list[Contig], w: Windows, i: int, length: int | None = None) -> str:
    c = contigs[int(w.contig[i])]
    s = int(w.start[i])
    return c.seq[s : s + (length or w.length)].tobytes().decode("ascii")
