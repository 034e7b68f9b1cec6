"""Leak audit of benchmark splits: run before every benchmark run and stored with its results.

:func:`audit_splits` compares every pair of splits (``train/valid``, ``train/test``,
``valid/test``; the first split named is the reference) and runs these checks:

``exact_duplicates``
    the same sequence (upper-cased, RNA read as DNA) in both splits.
``rc_duplicates``
    a sequence in one split whose reverse complement is in the other (and that is not also an
    exact duplicate).  Sequences are hashed in canonical form ``min(seq, rc(seq))``.
``near_duplicates``
    pairs whose canonical k-mer sets have (MinHash-estimated) Jaccard similarity
    ``>= jaccard`` (default 0.8).  MinHash signatures are computed with numpy over all k-mers at
    once and candidate pairs come from LSH banding, so 50k x 50k sequences take seconds, not a
    quadratic loop.  Exact and RC duplicates count here too (their Jaccard is 1).
``shortcut_length``, ``shortcut_gc``, ``shortcut_n``
    one feature alone (sequence length, GC fraction, fraction of N / ambiguity codes) predicting
    the label: a depth-2 decision tree (thresholds, class-balanced) is fit on train and scored by
    MCC on the other split (multiclass: Gorodkin MCC; multilabel: the worst label).  Regression
    labels are scored by ``|Spearman|`` of the feature with the label instead.
``unseen_labels``
    (binary and multiclass) rows of valid / test whose label the training split never has: a
    model cannot predict them, and a typo or a shifted encoding (``2`` or ``1.5`` against train's
    ``0`` / ``1``) makes the score meaningless.  The value is the fraction of the query split.
``embedding_neighbours``
    query rows (valid, test) whose nearest train neighbour is closer than train rows usually are
    to each other: cosine distance of k-mer frequency vectors (``neighbour_embedder="tnf"``, or
    any :mod:`genolm.db.embedders` embedder / name) below the ``neighbour_percentile``-th
    percentile (default 1) of train-train nearest-neighbour distances (up to 2,000 train rows
    sampled as the reference).  About ``neighbour_percentile`` % of rows fall there by chance, so
    the check is WARN only when the fraction exceeds ``neighbour_warn`` (default 5 %).  It is
    **reported, never part of the verdict** (it cannot gate a bench) and never FAIL.

The duplicate checks measure ``max(fraction of the query split with a match in the reference,
fraction of the reference with a match in the query)``; the second term makes a test set that
contains the training set FAIL even when the test set is much larger.

Status rules (values are fractions, or MCC for shortcuts), with the defaults of
:class:`AuditThresholds`::

    check               WARN if value >   FAIL if value >
    exact_duplicates    0    (any)        0.01 (1 %)
    rc_duplicates       0    (any)        0.01
    near_duplicates     0.01              0.05
    shortcut_*          0.2  (MCC)        0.5  (MCC)
    unseen_labels       0    (any)        0.01

Otherwise PASS; a check that cannot run (no labels, one class) is SKIP.  The overall verdict is
the worst status.  ``fail_on`` (``"fail"``, ``"warn"`` or ``"never"``) says which verdict raises
:class:`LeakAuditError` (the CLI exits non-zero instead).

:func:`resplit` writes a cleaned split (cross-split duplicates removed from the later split) or a
homology-grouped split (near-duplicate components, homology clusters or whole contigs kept in
one split) with a manifest of every removal / move and why.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from genolm.alphabet import INDEX_LUT, reverse_complement, to_dna
from genolm.atomic import jsonable
from genolm.errors import ConfigError, GenolmError, InputError
from genolm.progress import track
from genolm.registry import check_choice

PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"
_SEVERITY = {SKIP: -1, PASS: 0, WARN: 1, FAIL: 2}
FAIL_ON = ("fail", "warn", "never")
SHORTCUT_FEATURES = ("length", "gc", "n")
_SPLIT_ORDER = ("train", "valid", "test")
#: signature value of a sequence with no valid k-mer (shorter than k, or all N)
EMPTY = np.uint32(0xFFFFFFFF)
#: a region id ``contig:start-end`` with an optional ``(+)`` strand, as make-task writes them
_REGION_ID = re.compile(r"^(?P<contig>.+):[\d,]+-[\d,]+(\([+-.]\))?$")


class LeakAuditError(GenolmError):
    """The leak audit's verdict is at or above the ``fail_on`` policy; ``.report`` holds it."""

    def __init__(self, message: str, report: AuditReport):
        super().__init__(message)
        self.report = report


def check_jaccard(value: float, name: str = "jaccard") -> float:
    """``value`` if it is a k-mer Jaccard threshold in (0, 1], else :class:`ConfigError`."""
    if not 0.0 < value <= 1.0:  # also refuses nan
        raise ConfigError(f"{name} must be in (0, 1], got {value}")
    return value


@dataclasses.dataclass(frozen=True)
class AuditThresholds:
    """PASS / WARN / FAIL limits: a value ``> warn`` is WARN, ``> fail`` is FAIL.

    ``duplicate_*`` apply to exact and reverse-complement duplicates, ``near_*`` to
    near-duplicates (fractions of a split), ``shortcut_*`` to one-feature MCC (or ``|Spearman|``
    for regression), ``unseen_label_*`` to the fraction of a split whose label train never has.
    ``jaccard`` is the k-mer Jaccard similarity at which two sequences are near-duplicates.
    """

    duplicate_warn: float = 0.0
    duplicate_fail: float = 0.01
    near_warn: float = 0.01
    near_fail: float = 0.05
    shortcut_warn: float = 0.2
    shortcut_fail: float = 0.5
    unseen_label_warn: float = 0.0
    unseen_label_fail: float = 0.01
    jaccard: float = 0.8
    #: embedding_neighbours: "closer than the p-th percentile of train-train NN distances"
    neighbour_percentile: float = 1.0
    neighbour_warn: float = 0.05

    def __post_init__(self):
        if not 0.0 < self.neighbour_percentile < 100.0 or not 0.0 <= self.neighbour_warn <= 1.0:
            raise ConfigError(
                "need 0 < neighbour_percentile < 100 and 0 <= neighbour_warn <= 1, got "
                f"{self.neighbour_percentile} and {self.neighbour_warn}"
            )
        for kind in ("duplicate", "near", "shortcut", "unseen_label"):
            w, f = getattr(self, f"{kind}_warn"), getattr(self, f"{kind}_fail")
            if not (0.0 <= w <= f <= 1.0):
                raise ConfigError(f"need 0 <= {kind}_warn <= {kind}_fail <= 1, got {w} and {f}")
        check_jaccard(self.jaccard)

    @classmethod
    def from_dict(cls, d: Mapping[str, float] | None) -> AuditThresholds:
        """Build from a (partial) dict; an unknown key suggests the nearest valid one."""
        from genolm.registry import did_you_mean

        names = [f.name for f in dataclasses.fields(cls)]
        for key in d or {}:
            if key not in names:
                raise ConfigError(
                    f"unknown audit threshold '{key}'.{did_you_mean(key, names)} Valid: {', '.join(names)}"
                )
        return cls(**dict(d or {}))


class CheckResult(NamedTuple):
    """One check on one pair of splits."""

    name: str
    #: ``"reference/query"``, for example ``"train/test"``
    splits: str
    status: str
    value: float
    warn_above: float
    fail_above: float
    message: str
    #: a few offending pairs: ids (row index when no ids were given), labels, Jaccard
    examples: list
    details: dict


@dataclasses.dataclass
class AuditReport:
    """Result of :func:`audit_splits`; ``to_dict()`` / ``to_json()`` store it with the results."""

    verdict: str
    checks: list[CheckResult]
    splits: dict[str, dict]
    params: dict
    thresholds: dict

    def to_dict(self) -> dict:
        return jsonable(
            {
                "verdict": self.verdict,
                "checks": [c._asdict() for c in self.checks],
                "splits": self.splits,
                "params": self.params,
                "thresholds": self.thresholds,
            }
        )

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str:
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            from genolm.atomic import atomic_write_text

            atomic_write_text(path, text + "\n")
        return text

    def violates(self, fail_on: str = "fail") -> bool:
        """Whether the verdict trips the ``fail_on`` policy (``"fail"``, ``"warn"``, ``"never"``)."""
        if fail_on not in FAIL_ON:
            raise ConfigError(f"fail_on must be one of {', '.join(FAIL_ON)}, got '{fail_on}'")
        if fail_on == "never":
            return False
        return _SEVERITY[self.verdict] >= _SEVERITY[FAIL if fail_on == "fail" else WARN]

    def enforce(self, fail_on: str = "fail") -> AuditReport:
        """Raise :class:`LeakAuditError` if the verdict trips ``fail_on``; else return ``self``."""
        if self.violates(fail_on):
            bad = [
                f"{c.name} {c.splits} ({c.status})"
                for c in self.checks
                if _SEVERITY[c.status] >= 1 and c.name not in INFO_CHECKS
            ]
            raise LeakAuditError(
                f"leak audit verdict {self.verdict} (fail_on={fail_on}): " + "; ".join(bad), self
            )
        return self

    def table(self) -> str:
        """A readable plain-text table of the splits and the checks."""
        p = self.params
        lines = [
            f"leak audit: task {p['task_type']}, k={p['k']}, {p['num_perm']} MinHash permutations, "
            f"near-duplicate at Jaccard >= {p['jaccard']}",
            "",
            f"{'split':<8} {'n':>8} {'unique':>8} {'length min/median/max':>23} {'GC':>6} {'N':>7}  labels",
        ]
        for name, s in self.splits.items():
            ln = f"{s['length_min']}/{s['length_median']:g}/{s['length_max']}"
            labels = ", ".join(f"{k}: {v}" for k, v in list(s.get("label_counts", {}).items())[:6])
            lines.append(
                f"{name:<8} {s['n']:>8} {s['n_unique']:>8} {ln:>23} {s['gc_mean']:>6.3f} {s['n_fraction_mean']:>7.4f}  {labels}"
            )
        lines += [
            "",
            f"{'check':<18} {'splits':<12} {'value':>8} {'warn >':>7} {'fail >':>7}  {'status':<6} detail",
        ]
        for c in self.checks:
            val = "-" if not math.isfinite(c.value) else f"{c.value:.4f}"
            lines.append(
                f"{c.name:<18} {c.splits:<12} {val:>8} {c.warn_above:>7g} {c.fail_above:>7g}  {c.status:<6} {c.message}"
            )
            for ex in c.examples[:3]:
                lines.append(f"{'':<40} e.g. {_example_text(ex)}")
        lines += ["", f"verdict: {self.verdict}"]
        return "\n".join(lines)


def _example_text(ex: dict) -> str:
    parts = [f"{ex['ref_id']} ~ {ex['query_id']}" if "ref_id" in ex else f"{ex['query_id']}"]
    if "jaccard" in ex:
        parts.append(f"J={ex['jaccard']:.2f}")
    if "distance" in ex:
        parts.append(f"cosine distance {ex['distance']:.4f}")
    if ex.get("ref_label") is not None:
        parts.append(f"labels {ex['ref_label']} / {ex['query_label']}")
    elif ex.get("query_label") is not None:
        parts.append(f"label {ex['query_label']}")
    return ", ".join(parts)


# --- sequences -> index / k-mers / MinHash -----------------------------------------------


class _Split(NamedTuple):
    seqs: list[str]
    labels: np.ndarray | None
    ids: list
    path: str | None = None  # the file it was read from, for messages
    first_line: int | None = None  # the file line of row 0 (None: rows are not lines, e.g. Parquet)


def _where(split: _Split, i: int) -> dict:
    """:class:`InputError` keywords naming row ``i`` of ``split``: its file and line, else its id."""
    if split.path is not None and split.first_line is not None:
        return {"path": split.path, "line": split.first_line + int(i)}
    return {"path": split.path, "record": str(jsonable(split.ids[i]))}


def _normalise_splits(splits: Mapping[str, Any]) -> dict[str, _Split]:
    """``{name: (sequences, labels[, ids])}`` (or a bare list of sequences) -> ordered ``_Split``s.

    A dict value (``sequences``, ``labels``, ``ids``) may add ``path`` and ``first_line`` (the
    file line of row 0) so that messages about a row name its file and line."""
    if "train" not in splits:
        raise InputError(f"the splits must include 'train', got {list(splits)}")
    names = [n for n in _SPLIT_ORDER if n in splits] + [n for n in splits if n not in _SPLIT_ORDER]
    out = {}
    for name in names:
        v = splits[name]
        path = first_line = None
        if isinstance(v, Mapping):
            seqs, labels, ids = v.get("sequences"), v.get("labels"), v.get("ids")
            path, first_line = v.get("path"), v.get("first_line")
        elif isinstance(v, tuple) and len(v) in (2, 3):
            seqs, labels, ids = v[0], v[1], (v[2] if len(v) == 3 else None)
        else:
            seqs, labels, ids = v, None, None
        seqs = [str(s) for s in seqs]
        if not seqs:
            raise InputError(f"split '{name}' is empty")
        if labels is not None:
            labels = np.asarray(labels)
            if len(labels) != len(seqs):
                raise InputError(f"split '{name}' has {len(seqs)} sequences but {len(labels)} labels")
        ids = list(range(len(seqs))) if ids is None else list(ids)
        if len(ids) != len(seqs):
            raise InputError(f"split '{name}' has {len(seqs)} sequences but {len(ids)} ids")
        out[name] = _Split(seqs, labels, ids, path, first_line)
    if len(out) < 2:
        raise InputError("the leak audit needs train and at least one other split (valid or test)")
    return out


def _flat_index(seqs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """All sequences in the ``index`` representation, concatenated: ``(idx (M,), lengths (N,))``."""
    lens = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    try:
        buf = "".join(seqs).encode("ascii")
    except UnicodeEncodeError as e:
        raise InputError("sequences hold a non-ASCII character", hint=str(e)) from None
    return INDEX_LUT[np.frombuffer(buf, dtype=np.uint8)], lens


def kmer_codes(seqs: Sequence[str], k: int, *, canonical: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Every k-mer of every sequence as a base-4 integer code, vectorised over all sequences.

    Windows holding ``N`` (or any ambiguity code) are skipped.  With ``canonical=True`` each
    code is ``min(code, code of its reverse complement)``.

    Returns
    -------
    codes : np.ndarray of uint64, shape=(M,)
        ``A=0, C=1, G=2, T=3``, first base most significant; ``0 <= code < 4**k``.
    seq_ids : np.ndarray of int64, shape=(M,)
        Which sequence each k-mer came from (non-decreasing).
    """
    if not 1 <= k <= 31:
        raise InputError(f"k must be in 1..31, got {k}")
    idx, lens = _flat_index(seqs)
    M = len(idx)
    if M < k:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    nwin = M - k + 1
    base = np.minimum(idx, 3).astype(np.uint64)
    code = np.zeros(nwin, dtype=np.uint64)
    for j in range(k):
        code <<= np.uint64(2)
        code |= base[j : j + nwin]
    if canonical:
        rc = np.zeros(nwin, dtype=np.uint64)
        for j in range(k):
            rc |= (np.uint64(3) - base[j : j + nwin]) << np.uint64(2 * j)
        np.minimum(code, rc, out=code)
    seq_id = np.repeat(np.arange(len(lens)), lens)
    bad = np.concatenate([[0], np.cumsum(idx >= 4)])
    ok = (bad[k:] - bad[:-k] == 0) & (seq_id[:nwin] == seq_id[k - 1 :])
    return code[ok], seq_id[:nwin][ok]


def sequence_features(seqs: Sequence[str]) -> dict[str, np.ndarray]:
    """The one-feature shortcut candidates, vectorised: ``length``, ``gc`` (G+C over
    unambiguous bases, 0 when none) and ``n`` (fraction of N / ambiguity codes)."""
    idx, lens = _flat_index(seqs)
    sid = np.repeat(np.arange(len(lens)), lens)
    acgt = np.bincount(sid, weights=(idx < 4), minlength=len(lens))
    gc = np.bincount(sid, weights=(idx == 1) | (idx == 2), minlength=len(lens))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "length": lens.astype(float),
            "gc": np.where(acgt > 0, gc / np.maximum(acgt, 1), 0.0),
            "n": np.where(lens > 0, (lens - acgt) / np.maximum(lens, 1), 0.0),
        }


def auto_k(lengths: Sequence[int] | np.ndarray) -> int:
    """Default k-mer size for near-duplicate search: the smallest ``k`` at which two random
    sequences of the median length share about 1 % of their canonical k-mers
    (``4**k >= 200 * median length``), clipped to 5..16."""
    med = float(np.median(lengths)) if len(lengths) else 100.0
    return int(np.clip(math.ceil(math.log(max(200.0 * med, 1.0), 4)), 5, 16))


def minhash_signatures(
    seqs: Sequence[str],
    *,
    k: int,
    num_perm: int = 128,
    seed: int = 0,
    canonical: bool = True,
    progress: bool = False,
) -> np.ndarray:
    """MinHash signatures of the (canonical) k-mer sets, shape ``(N, num_perm)``, ``uint32``.

    Hash ``p`` is multiply-add-shift ``((a_p * x + b_p) mod 2**64) >> 32`` (a_p odd), which is
    universal for 32-bit keys; k-mer codes wider than 32 bits (k > 16) are first mixed down with
    splitmix64.  Each hash is applied to the k-mers of all sequences at once and reduced per
    sequence with ``np.minimum.reduceat``.  A sequence with no valid k-mer gets a row of
    :data:`EMPTY`.  The fraction of equal columns of two rows estimates the Jaccard similarity
    (:func:`jaccard_from_signatures`).  ``progress`` shows a bar over the hash functions (the
    slow part on big tables: each one passes over every k-mer).
    """
    codes, sid = kmer_codes(seqs, k, canonical=canonical)
    if k > 16:
        codes = _splitmix64(codes) >> np.uint64(32)
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    sig = np.full((len(seqs), num_perm), EMPTY, dtype=np.uint32)
    if codes.size == 0:
        return sig
    nonempty, starts = np.unique(sid, return_index=True)
    shift = np.uint64(32)
    h = np.empty_like(codes)
    perms = track(
        range(num_perm),
        f"audit: MinHash of {codes.size:,} k-mers",
        unit="hash",
        leave=False,
        enabled=progress,
    )
    for p in perms:
        np.multiply(codes, a[p], out=h)
        h += b[p]
        h >>= shift
        sig[nonempty, p] = np.minimum.reduceat(h, starts)
    return sig


def _splitmix64(x: np.ndarray) -> np.ndarray:
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def jaccard_from_signatures(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MinHash estimate of Jaccard similarity: fraction of equal columns, row by row."""
    return (np.asarray(a) == np.asarray(b)).mean(axis=-1)


def lsh_bands(num_perm: int, threshold: float, recall: float = 0.99) -> tuple[int, int]:
    """``(bands, rows)`` for LSH banding: the most rows per band (fewest chance candidates) such
    that a pair at Jaccard ``threshold`` is still a candidate with probability ``>= recall``
    (``1 - (1 - t**r)**b``)."""
    best = (num_perm, 1)
    for r in range(1, num_perm + 1):
        b = num_perm // r
        if 1.0 - (1.0 - threshold**r) ** b >= recall:
            best = (b, r)
    return best


def _row_keys(sig: np.ndarray, seed: int = 1) -> np.ndarray:
    """A 64-bit key per row (for de-duplicating identical signatures and band buckets)."""
    mult = np.random.default_rng(seed).integers(1, 2**63, size=sig.shape[1], dtype=np.uint64) | np.uint64(1)
    key = np.zeros(sig.shape[0], dtype=np.uint64)
    for c in range(sig.shape[1]):
        key += sig[:, c].astype(np.uint64) * mult[c]
    return key


def _lsh_join(
    sig_q: np.ndarray,
    sig_r: np.ndarray | None,
    *,
    threshold: float,
    bands: int,
    rows: int,
    max_pairs: int = 2_000_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(i in q, j in r)`` with estimated Jaccard ``>= threshold``; ``sig_r=None`` joins
    ``sig_q`` with itself (pairs ``i < j``).  Identical signatures are de-duplicated first so
    that thousands of copies of one sequence do not make a quadratic bucket."""
    self_join = sig_r is None
    kq, fq, inv_q = np.unique(_row_keys(sig_q), return_index=True, return_inverse=True)
    uq = sig_q[fq]
    if self_join:
        ur, inv_r = uq, inv_q
    else:
        _, fr, inv_r = np.unique(_row_keys(sig_r), return_index=True, return_inverse=True)
        ur = sig_r[fr]
    found_q, found_r, found_j = [], [], []
    if self_join:  # identical signatures: Jaccard estimate 1, pair every member with the first
        for inv, first in ((inv_q, fq),):
            members = np.flatnonzero(np.arange(len(inv)) != first[inv])
            found_q.append(first[inv[members]])
            found_r.append(members)
            found_j.append(np.ones(len(members)))
    pairs_u = []
    for band in range(bands):
        cols = slice(band * rows, (band + 1) * rows)
        key_r = _row_keys(ur[:, cols], seed=band + 2)
        key_q = key_r if self_join else _row_keys(uq[:, cols], seed=band + 2)
        order = np.argsort(key_r, kind="stable")
        sorted_r = key_r[order]
        lo = np.searchsorted(sorted_r, key_q, "left")
        cnt = np.searchsorted(sorted_r, key_q, "right") - lo
        qs = np.flatnonzero(cnt > (1 if self_join else 0))
        # expand bucket matches in chunks of at most max_pairs candidate pairs
        csum = np.cumsum(cnt[qs])
        start = 0
        while start < len(qs):
            stop = int(np.searchsorted(csum, (csum[start - 1] if start else 0) + max_pairs, "right"))
            stop = max(stop, start + 1)
            sel = qs[start:stop]
            c = cnt[sel]
            qi = np.repeat(sel, c)
            offs = np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c)
            ri = order[np.repeat(lo[sel], c) + offs]
            keep = qi < ri if self_join else np.ones(len(qi), bool)
            qi, ri = qi[keep], ri[keep]
            jac = jaccard_from_signatures(uq[qi], ur[ri])
            hit = jac >= threshold
            pairs_u.append((qi[hit], ri[hit], jac[hit]))
            start = stop
    if pairs_u:
        qi = np.concatenate([p[0] for p in pairs_u])
        ri = np.concatenate([p[1] for p in pairs_u])
        jac = np.concatenate([p[2] for p in pairs_u])
        code, first = np.unique(qi.astype(np.int64) * len(ur) + ri, return_index=True)
        qi, ri, jac = qi[first], ri[first], jac[first]
    else:
        qi = ri = np.zeros(0, np.int64)
        jac = np.zeros(0)
    # back from unique signatures to rows: a unique-row pair stands for all rows holding them
    if self_join:
        found_q.append(fq[qi])
        found_r.append(fq[ri])
        found_j.append(jac)
        return np.concatenate(found_q), np.concatenate(found_r), np.concatenate(found_j)
    return _expand_pairs(qi, ri, jac, inv_q, inv_r)


def _expand_pairs(qi, ri, jac, inv_q, inv_r, cap: int = 10_000_000):
    """Unique-signature pairs -> row pairs (every row holding a unique signature takes part)."""
    size_q = np.bincount(inv_q)
    size_r = np.bincount(inv_r)
    first_q = np.argsort(inv_q, kind="stable")[np.r_[0, np.cumsum(size_q)[:-1]]]
    first_r = np.argsort(inv_r, kind="stable")[np.r_[0, np.cumsum(size_r)[:-1]]]
    single = (size_q[qi] == 1) & (size_r[ri] == 1)
    oq, or_, oj = [first_q[qi[single]]], [first_r[ri[single]]], [jac[single]]
    multi = np.flatnonzero(~single)
    if len(multi):
        members_q, members_r = _members(inv_q), _members(inv_r)
        total = 0
        for i in multi.tolist():
            mq, mr = members_q[qi[i]], members_r[ri[i]]
            oq.append(np.repeat(mq, len(mr)))
            or_.append(np.tile(mr, len(mq)))
            oj.append(np.full(len(mq) * len(mr), jac[i]))
            total += len(mq) * len(mr)
            if total > cap:  # enough to know who has a neighbour; never build a quadratic list
                break
    return np.concatenate(oq), np.concatenate(or_), np.concatenate(oj)


def _members(inv: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(inv, kind="stable")
    bounds = np.flatnonzero(np.diff(inv[order])) + 1
    return np.split(order, bounds)


# --- the checks -------------------------------------------------------------------------


def _status(value: float, warn: float, fail: float) -> str:
    if not math.isfinite(value):
        return SKIP
    return FAIL if value > fail else WARN if value > warn else PASS


def _canonical(seqs: Sequence[str]) -> tuple[list[str], list[str]]:
    up = [to_dna(s.upper()) for s in seqs]
    canon = []
    for u in up:
        r = reverse_complement(u)
        canon.append(u if u <= r else r)
    return up, canon


def _label(split: _Split, i: int):
    if split.labels is None:
        return None
    v = split.labels[i]
    return v.tolist() if isinstance(v, np.ndarray) else jsonable(v)


def _example(ref: _Split, q: _Split, i_ref: int, i_q: int, jac: float | None = None) -> dict:
    ex = {"ref_id": jsonable(ref.ids[i_ref]), "query_id": jsonable(q.ids[i_q])}
    if ref.labels is not None and q.labels is not None:
        ex["ref_label"], ex["query_label"] = _label(ref, i_ref), _label(q, i_q)
    if jac is not None:
        ex["jaccard"] = round(float(jac), 4)
    return ex


def _differ(ref: _Split, q: _Split, i_ref: np.ndarray, i_q: np.ndarray) -> int:
    if ref.labels is None or q.labels is None or len(i_ref) == 0:
        return 0
    a, b = ref.labels[i_ref], q.labels[i_q]
    d = a != b
    return int(d.any(axis=tuple(range(1, d.ndim))).sum() if d.ndim > 1 else d.sum())


def _duplicate_checks(names, data, up, canon, th: AuditThresholds, max_examples: int) -> list[CheckResult]:
    out = []
    for ref_name, q_name in _pairs(names):
        ref, q = data[ref_name], data[q_name]
        u_r, c_r, u_q, c_q = up[ref_name], canon[ref_name], up[q_name], canon[q_name]
        first_u_r = {s: i for i, s in reversed(list(enumerate(u_r)))}
        first_c_r = {s: i for i, s in reversed(list(enumerate(c_r)))}
        set_u_q, set_c_q = set(u_q), set(c_q)
        exact_q = np.array([s in first_u_r for s in u_q])
        rc_q = np.array([(not e) and (c in first_c_r) for e, c in zip(exact_q, c_q)])
        exact_r = np.array([s in set_u_q for s in u_r])
        rc_r = np.array([(not e) and (c in set_c_q) for e, c in zip(exact_r, c_r)])
        for name, hit_q, hit_r, lookup, keys in (
            ("exact_duplicates", exact_q, exact_r, first_u_r, u_q),
            ("rc_duplicates", rc_q, rc_r, first_c_r, c_q),
        ):
            fq, fr = float(hit_q.mean()), float(hit_r.mean())
            value = max(fq, fr)
            iq = np.flatnonzero(hit_q)
            ir = np.array([lookup[keys[i]] for i in iq], dtype=np.int64)
            n_diff = _differ(ref, q, ir, iq)
            kind = "an exact copy" if name == "exact_duplicates" else "a reverse-complement copy"
            msg = (
                f"{hit_q.sum()} of {len(q.seqs)} {q_name} ({fq:.2%}) have {kind} in {ref_name}; "
                f"{hit_r.sum()} of {len(ref.seqs)} {ref_name} ({fr:.2%}) in {q_name}"
                + (f"; {n_diff} with a different label" if n_diff else "")
            )
            examples = [
                _example(ref, q, int(a), int(b)) for a, b in zip(ir[:max_examples], iq[:max_examples])
            ]
            out.append(
                CheckResult(
                    name,
                    f"{ref_name}/{q_name}",
                    _status(value, th.duplicate_warn, th.duplicate_fail),
                    value,
                    th.duplicate_warn,
                    th.duplicate_fail,
                    msg,
                    examples,
                    {
                        "query_fraction": fq,
                        "ref_fraction": fr,
                        "query_count": int(hit_q.sum()),
                        "ref_count": int(hit_r.sum()),
                        "label_conflicts": n_diff,
                    },
                )
            )
    return out


def _pairs(names: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]


def _near_checks(names, data, sig, offsets, th, bands, rows, max_examples) -> list[CheckResult]:
    out = []
    for ref_name, q_name in _pairs(names):
        ref, q = data[ref_name], data[q_name]
        s_r = sig[offsets[ref_name] : offsets[ref_name] + len(ref.seqs)]
        s_q = sig[offsets[q_name] : offsets[q_name] + len(q.seqs)]
        ok_r, ok_q = np.flatnonzero(s_r[:, 0] != EMPTY), np.flatnonzero(s_q[:, 0] != EMPTY)
        qi, ri, jac = _lsh_join(s_q[ok_q], s_r[ok_r], threshold=th.jaccard, bands=bands, rows=rows)
        qi, ri = ok_q[qi], ok_r[ri]
        hit_q = np.zeros(len(q.seqs), bool)
        hit_r = np.zeros(len(ref.seqs), bool)
        hit_q[qi], hit_r[ri] = True, True
        fq, fr = float(hit_q.mean()), float(hit_r.mean())
        value = max(fq, fr)
        # one example per query sequence: its most similar reference
        order = np.lexsort((-jac, qi))
        first = order[np.r_[True, qi[order][1:] != qi[order][:-1]]] if len(order) else order
        n_diff = _differ(ref, q, ri[first], qi[first])
        skipped = len(q.seqs) - len(ok_q) + len(ref.seqs) - len(ok_r)
        msg = (
            f"{hit_q.sum()} of {len(q.seqs)} {q_name} ({fq:.2%}) have a {ref_name} neighbour with Jaccard >= "
            f"{th.jaccard:g}; {hit_r.sum()} of {len(ref.seqs)} {ref_name} ({fr:.2%}) a {q_name} neighbour"
            + (f"; {n_diff} with a different label" if n_diff else "")
            + (f"; {skipped} sequences without a valid k-mer skipped" if skipped else "")
        )
        examples = [
            _example(ref, q, int(ri[i]), int(qi[i]), jac[i])
            for i in first[np.argsort(-jac[first], kind="stable")][:max_examples]
        ]
        out.append(
            CheckResult(
                "near_duplicates",
                f"{ref_name}/{q_name}",
                _status(value, th.near_warn, th.near_fail),
                value,
                th.near_warn,
                th.near_fail,
                msg,
                examples,
                {
                    "query_fraction": fq,
                    "ref_fraction": fr,
                    "query_count": int(hit_q.sum()),
                    "ref_count": int(hit_r.sum()),
                    "label_conflicts": n_diff,
                    "no_kmer_skipped": skipped,
                },
            )
        )
    return out


#: reference train rows whose nearest train neighbour sets the typical distance
NEIGHBOUR_REFERENCE = 2000
#: checks reported in the audit but left out of its verdict
INFO_CHECKS = ("embedding_neighbours",)


def _neighbour_embedder(spec):
    from genolm.db.embedders import make_embedder

    return make_embedder(spec) if isinstance(spec, str) else spec


def _neighbour_checks(names, data, embedder, th, seed, max_examples) -> list[CheckResult]:
    """The ``embedding_neighbours`` check of every non-train split against train."""
    from genolm.db.engine import ExactEngine

    if "train" not in names or len(data["train"].seqs) < 3:
        return []
    emb = _neighbour_embedder(embedder)
    ref = data["train"]
    X = np.asarray(emb.embed(ref.seqs), dtype=np.float32)
    engine = ExactEngine(X.shape[1], "cos")
    engine.add(np.arange(len(X), dtype=np.int64), X)
    rng = np.random.default_rng(seed)
    pick = np.arange(len(X))
    if len(pick) > NEIGHBOUR_REFERENCE:
        pick = np.sort(rng.choice(len(X), NEIGHBOUR_REFERENCE, replace=False))
    hits = engine.search(X[pick], 2)
    other = hits.keys[:, 0] == pick  # skip the row itself (a duplicate may rank first instead)
    tt = 1.0 - np.where(other, hits.scores[:, 1], hits.scores[:, 0]).astype(np.float64)
    cut = float(np.percentile(tt, th.neighbour_percentile))
    model = getattr(emb, "spec", {}).get("model", str(embedder))
    out = []
    for q_name in names:
        if q_name == "train":
            continue
        q = data[q_name]
        res = engine.search(np.asarray(emb.embed(q.seqs), dtype=np.float32), 1)
        dist = 1.0 - res.scores[:, 0].astype(np.float64)
        near = np.flatnonzero(dist < cut)
        frac = len(near) / max(len(q.seqs), 1)
        status = WARN if frac > th.neighbour_warn else PASS
        order = near[np.argsort(dist[near], kind="stable")][:max_examples]
        examples = []
        for i in order:
            ex = _example(ref, q, int(res.keys[i, 0]), int(i))
            ex["distance"] = round(float(dist[i]), 6)
            examples.append(ex)
        msg = (
            f"{len(near)} of {len(q.seqs)} {q_name} ({frac:.2%}) are closer to their nearest train row "
            f"({model} cosine distance < {cut:.4g}) than {100 - th.neighbour_percentile:g} % of train rows are "
            f"to theirs (~{th.neighbour_percentile:g} % expected by chance); reported, not gated"
        )
        out.append(
            CheckResult(
                "embedding_neighbours",
                f"train/{q_name}",
                status,
                frac,
                th.neighbour_warn,
                1.0,
                msg,
                examples,
                {
                    "count": len(near),
                    "fraction": frac,
                    "cutoff_distance": cut,
                    "percentile": th.neighbour_percentile,
                    "train_reference_rows": len(pick),
                    "embedder": model,
                    "median_query_distance": float(np.median(dist)) if len(dist) else None,
                    "median_train_distance": float(np.median(tt)),
                },
            )
        )
    return out


def _shortcut_score(task_type: str, x_train, y_train, x_test, y_test) -> tuple[float, str]:
    """MCC on test of a depth-2 tree on one feature fit on train (``|Spearman|`` for regression)."""
    from genolm.bench.metrics import compute_metrics

    if task_type == "regression":
        from scipy.stats import spearmanr

        if np.ptp(x_test) == 0 or np.ptp(y_test) == 0:
            return math.nan, "constant feature or label on the held-out split"
        return float(abs(spearmanr(x_test, y_test)[0])), "|Spearman| of feature and label"
    if task_type == "multilabel":
        scores = [
            _shortcut_score("binary", x_train, y_train[:, j], x_test, y_test[:, j])[0]
            for j in range(y_train.shape[1])
        ]
        finite = [s for s in scores if math.isfinite(s)]
        if not finite:
            return math.nan, "no label has two classes on both splits"
        return max(finite), f"MCC of the worst of {len(scores)} labels"
    from sklearn.tree import DecisionTreeClassifier

    if len(np.unique(y_train)) < 2:
        return math.nan, "train holds one class"
    if np.ptp(x_train) == 0:
        return 0.0, "constant on train: cannot predict the label"
    tree = DecisionTreeClassifier(
        max_depth=2, class_weight="balanced", min_samples_leaf=max(1, len(x_train) // 100), random_state=0
    )
    tree.fit(x_train.reshape(-1, 1), y_train)
    pred = tree.predict(x_test.reshape(-1, 1))
    tt = "binary" if len(np.unique(np.concatenate([y_train, y_test]))) <= 2 else "multiclass"
    m = compute_metrics(tt, y_test, pred, metrics=["mcc"])
    if math.isnan(m["mcc"]):
        return math.nan, m.reasons.get("mcc", "MCC undefined")
    return m["mcc"], "MCC of a depth-2 tree fit on train"


def _shortcut_checks(names, data, feats, offsets, task_type, th) -> list[CheckResult]:
    out = []
    train = data["train"]
    for q_name in names[1:]:
        q = data[q_name]
        for feat in SHORTCUT_FEATURES:
            what = {"length": "length", "gc": "GC content", "n": "N content"}[feat]
            if train.labels is None or q.labels is None:
                value, how = math.nan, "no labels"
            else:
                a, b = offsets["train"], offsets[q_name]
                x_tr = feats[feat][a : a + len(train.seqs)]
                x_q = feats[feat][b : b + len(q.seqs)]
                value, how = _shortcut_score(task_type, x_tr, train.labels, x_q, q.labels)
            status = _status(value, th.shortcut_warn, th.shortcut_fail)
            msg = f"{what} alone on {q_name}: {how}" if status != SKIP else f"skipped: {how}"
            out.append(
                CheckResult(
                    f"shortcut_{feat}",
                    f"train/{q_name}",
                    status,
                    value,
                    th.shortcut_warn,
                    th.shortcut_fail,
                    msg,
                    [],
                    {"feature": feat},
                )
            )
    return out


def _unseen_label_checks(names, data, task_type, th, max_examples) -> list[CheckResult]:
    """``unseen_labels``: rows of each later split whose (class) label train never has."""
    out = []
    train = data["train"]
    for q_name in names[1:]:
        q = data[q_name]
        examples: list = []
        extra: dict = {}
        if train.labels is None or q.labels is None:
            value, msg = math.nan, "skipped: no labels"
        elif task_type not in ("binary", "multiclass") or q.labels.ndim != 1 or train.labels.ndim != 1:
            value, msg = math.nan, f"skipped: {task_type} labels are not classes"
        else:
            unseen = ~np.isin(q.labels, train.labels)
            value = float(unseen.mean())
            idx = np.flatnonzero(unseen)
            new = [jsonable(v) for v in np.unique(q.labels[idx])] if len(idx) else []
            shown = ", ".join(repr(v) for v in new[:5]) + (", ..." if len(new) > 5 else "")
            msg = f"{len(idx)} of {len(q.seqs)} {q_name} ({value:.2%}) have a label train never has" + (
                f": {shown}" if new else ""
            )
            examples = [
                {"query_id": jsonable(q.ids[i]), "query_label": _label(q, int(i))} for i in idx[:max_examples]
            ]
            extra = {"query_count": int(len(idx)), "unseen": new[:50]}
        status = _status(value, th.unseen_label_warn, th.unseen_label_fail)
        out.append(
            CheckResult(
                "unseen_labels",
                f"train/{q_name}",
                status,
                value,
                th.unseen_label_warn,
                th.unseen_label_fail,
                msg,
                examples,
                extra,
            )
        )
    return out


def _split_summary(split: _Split, feats: dict[str, np.ndarray], canon: list[str]) -> dict:
    lens = feats["length"]
    s = {
        "n": len(split.seqs),
        "n_unique": len(set(canon)),
        "length_min": int(lens.min()),
        "length_median": float(np.median(lens)),
        "length_max": int(lens.max()),
        "gc_mean": float(feats["gc"].mean()),
        "n_fraction_mean": float(feats["n"].mean()),
    }
    if split.labels is not None and split.labels.ndim == 1 and len(np.unique(split.labels)) <= 50:
        vals, cnt = np.unique(split.labels, return_counts=True)
        s["label_counts"] = {str(jsonable(v)): int(c) for v, c in zip(vals, cnt)}
    return s


def _is_number(v) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def _check_label_kinds(data) -> None:
    """Labels must be all numbers or all text across the splits: a text value such as ``"NaN"``
    in one split and numbers in another cannot be compared (numpy's sort raised a TypeError).
    The error names the offending value and its row (file and line where known)."""
    kinds = {}
    for name, split in data.items():
        if split.labels is None:
            continue
        flat = np.asarray(split.labels, dtype=object)
        flat = flat.reshape(len(flat), -1)  # one row per sequence (multilabel: several columns)
        is_str = np.vectorize(lambda v: isinstance(v, str), otypes=[bool])(flat) if flat.size else flat
        if is_str.any() and not is_str.all():
            i = int(np.flatnonzero(is_str.any(1))[0])
            j = int(np.flatnonzero(~is_str.ravel())[0])
            raise InputError(
                f"split '{name}': label {flat[i][is_str[i]][0]!r} is text, but other labels are numbers "
                f"(e.g. {flat.ravel()[j]!r})",
                hint="make every label a number, or every label a class name; a missing label is not allowed",
                **_where(split, i),
            )
        kinds[name] = bool(is_str.all()) if flat.size else None
    is_text = {n: v for n, v in kinds.items() if v is not None}
    if len(set(is_text.values())) > 1:
        num_split = next(n for n, t in is_text.items() if not t)
        num_ex = np.asarray(data[num_split].labels, dtype=object).ravel()[0]
        for name, text in is_text.items():
            if not text:
                continue
            flat = np.asarray(data[name].labels, dtype=object)
            flat = flat.reshape(len(flat), -1)
            odd = [i for i, row in enumerate(flat) if not all(_is_number(v) for v in row)]
            i = odd[0] if odd else 0
            value = next((v for v in flat[i] if not _is_number(v)), flat[i][0])
            why = "is not a number" if odd else "is written as text (quoted)"
            raise InputError(
                f"label {value!r} in split '{name}' {why}, but the labels of split '{num_split}' are "
                f"numbers (e.g. {num_ex!r})",
                hint="fix or drop that row: one text value in a numeric label column makes the whole split text",
                **_where(data[name], i),
            )


def audit_splits(
    splits: Mapping[str, Any],
    *,
    task_type: str = "binary",
    k: int | None = None,
    num_perm: int = 128,
    thresholds: AuditThresholds | Mapping[str, float] | None = None,
    seed: int = 0,
    max_examples: int = 5,
    fail_on: str = "never",
    progress: bool = False,
    neighbour_embedder="tnf",
) -> AuditReport:
    """Run the leak audit (see the module docstring) on ``splits``.

    Parameters
    ----------
    splits : dict
        ``{"train": (sequences, labels), "valid": ..., "test": ...}``; a value may also be
        ``(sequences, labels, ids)``, a dict with keys ``sequences``/``labels``/``ids``, or a bare
        list of sequences (no labels: shortcut checks are skipped).  ``train`` is required.
    task_type : str
        ``"binary"``, ``"multiclass"``, ``"multilabel"``, ``"regression"`` or ``"auto"`` (inferred
        from the train labels).  Default is ``"binary"``.
    k : int, optional
        k-mer size for near-duplicates.  Default is :func:`auto_k` of the median length.
    num_perm : int
        MinHash permutations.  Default is 128 (Jaccard estimate SD about 0.035 at 0.8).
    thresholds : AuditThresholds or dict, optional
        PASS / WARN / FAIL limits and the Jaccard threshold.  Default is :class:`AuditThresholds`.
    seed : int
        Seed of the MinHash hash functions.  Default is 0.
    max_examples : int
        Offending pairs kept per check.  Default is 5.
    fail_on : str
        ``"never"`` (default: just return the report), ``"fail"`` or ``"warn"``: raise
        :class:`LeakAuditError` when the verdict is at or above it.
    neighbour_embedder : str, embedder or None
        The vectors of the ``embedding_neighbours`` check: an embedder name of
        :func:`genolm.db.embedders.make_embedder` (default ``"tnf"``, canonical 4-mer
        frequencies; ``"model:NAME"`` for a model's embeddings) or an object with ``embed``.
        ``None`` skips the check.  It is reported, never part of the verdict.
    """
    from genolm.bench.metrics import SCORED_TASK_TYPES, infer_task_type

    th = thresholds if isinstance(thresholds, AuditThresholds) else AuditThresholds.from_dict(thresholds)
    if fail_on not in FAIL_ON:
        raise ConfigError(f"fail_on must be one of {', '.join(FAIL_ON)}, got '{fail_on}'")
    data = _normalise_splits(splits)
    names = list(data)
    _check_label_kinds(data)
    if task_type == "auto":
        task_type = infer_task_type(data["train"].labels) if data["train"].labels is not None else "binary"
    check_choice("task type", task_type, ("auto", *SCORED_TASK_TYPES))

    all_seqs: list[str] = []
    offsets = {}
    for name in names:
        offsets[name] = len(all_seqs)
        all_seqs += data[name].seqs
    feats = sequence_features(all_seqs)
    k = k or auto_k(feats["length"])
    bands, rows = lsh_bands(num_perm, th.jaccard)
    up, canon = {}, {}
    for name in names:
        up[name], canon[name] = _canonical(data[name].seqs)
    sig = minhash_signatures(all_seqs, k=k, num_perm=num_perm, seed=seed, progress=progress)

    checks = _duplicate_checks(names, data, up, canon, th, max_examples)
    checks += _near_checks(names, data, sig, offsets, th, bands, rows, max_examples)
    checks += _shortcut_checks(names, data, feats, offsets, task_type, th)
    checks += _unseen_label_checks(names, data, task_type, th, max_examples)
    if neighbour_embedder is not None:
        checks += _neighbour_checks(names, data, neighbour_embedder, th, seed, max_examples)
    order = {n: i for i, n in enumerate(["exact_duplicates", "rc_duplicates", "near_duplicates"])}
    checks.sort(key=lambda c: (order.get(c.name, 3), c.name, names.index(c.splits.split("/")[1])))
    verdict = max((c.status for c in checks if c.name not in INFO_CHECKS), key=lambda s: _SEVERITY[s])
    verdict = PASS if verdict == SKIP else verdict

    summaries = {}
    for name in names:
        a, n = offsets[name], len(data[name].seqs)
        summaries[name] = _split_summary(data[name], {f: v[a : a + n] for f, v in feats.items()}, canon[name])
    params = {
        "task_type": task_type,
        "k": int(k),
        "num_perm": int(num_perm),
        "lsh_bands": int(bands),
        "lsh_rows": int(rows),
        "jaccard": th.jaccard,
        "seed": int(seed),
        "canonical_kmers": True,
        "neighbour_embedder": None
        if neighbour_embedder is None
        else getattr(neighbour_embedder, "spec", {}).get("model", str(neighbour_embedder)),
    }
    report = AuditReport(verdict, checks, summaries, params, dataclasses.asdict(th))
    return report.enforce(fail_on)


# --- resplitting ------------------------------------------------------------------------


class ResplitResult(NamedTuple):
    """New splits (``{name: (sequences, labels, ids)}``) and the manifest of what changed."""

    splits: dict
    manifest: dict


GROUP_BY = ("duplicates", "contig", "cluster")


def contig_of_id(ident) -> str | None:
    """The contig of a region id such as make-task's ``chr1:1001-1200(+)`` (``"chr1"``), or
    ``None`` when ``ident`` does not look like ``contig:start-end``."""
    m = _REGION_ID.match(str(ident))
    return m["contig"] if m else None


def _balanced_targets(comp: np.ndarray, owner_idx: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """One split per group: groups inside one split stay; a group that spans several goes, largest
    first, to the split furthest below its original size (relative deficit; ties: earliest)."""
    n_comp = int(comp.max()) + 1 if len(comp) else 0
    counts = np.zeros((n_comp, len(sizes)), dtype=np.int64)
    np.add.at(counts, (comp, owner_idx), 1)
    spans = (counts > 0).sum(1) > 1
    target = counts.argmax(1)
    fill = counts[~spans].sum(0).astype(float)
    total = counts.sum(1)
    for c in sorted(np.flatnonzero(spans).tolist(), key=lambda c: (-total[c], c)):
        deficit = (sizes - fill) / np.maximum(sizes, 1)
        target[c] = int(np.argmax(deficit))  # argmax: the earliest split among ties
        fill[target[c]] += total[c]
    return target


def resplit(
    splits: Mapping[str, Any],
    *,
    mode: str = "clean",
    k: int | None = None,
    num_perm: int = 128,
    jaccard: float = 0.8,
    seed: int = 0,
    out_dir: str | Path | None = None,
    group_by: str = "duplicates",
    cluster_jaccard: float = 0.5,
    contigs: Mapping[str, Sequence[str]] | None = None,
) -> ResplitResult:
    """Remove cross-split leaks, returning new splits and a manifest of every change.

    ``mode="clean"``
        Drop from each later split (valid, then test) every sequence with an exact,
        reverse-complement or near-duplicate (Jaccard ``>= jaccard``) in an earlier split.
        Train is never changed.
    ``mode="group"``
        Keep groups of related sequences whole on one side; nothing is dropped.  ``group_by``:

        ``"duplicates"`` (default)
            connect sequences that are exact / RC / near-duplicates (Jaccard ``>= jaccard``,
            across and within splits); every connected component that spans more than one split
            is moved whole into the split holding most of its members (ties: the earliest of
            train, valid, test).
        ``"contig"``
            one group per contig (chromosome): ``contigs`` gives each split's contig names, one
            per sequence; without it they are read from the ids (``chr1:1001-1200(+)``, as
            make-task writes them, see :func:`contig_of_id`).
        ``"cluster"``
            homology clusters: single-linkage clusters of sequences whose canonical k-mer sets
            have MinHash Jaccard ``>= cluster_jaccard`` (default 0.5, looser than the
            near-duplicate ``jaccard``), exact and RC duplicates included.

        With ``"contig"`` and ``"cluster"`` a group that lies in one split stays there; one that
        spans several is moved whole, largest first, into the split furthest below its original
        size, so the split sizes stay close to the input's (a majority vote would send every
        contig of a randomly split genome to train).  A split left empty is an error.

    With ``out_dir``, writes ``<split>.csv`` (columns ``id, sequence, label``) and
    ``resplit_manifest.json`` there.  Inputs are never modified.
    """
    if mode not in ("clean", "group"):
        raise ConfigError(f"resplit mode must be 'clean' or 'group', got '{mode}'")
    check_choice("group_by", group_by, GROUP_BY)
    if group_by != "duplicates" and mode != "group":
        raise ConfigError(f"group_by='{group_by}' needs mode='group'")
    check_jaccard(jaccard)
    check_jaccard(cluster_jaccard, "cluster_jaccard")
    data = _normalise_splits(splits)
    _check_label_kinds(data)  # before anything is written (the audit of the result would refuse them)
    names = list(data)
    all_seqs, offsets, owner = [], {}, []
    for name in names:
        offsets[name] = len(all_seqs)
        all_seqs += data[name].seqs
        owner += [name] * len(data[name].seqs)
    k = k or auto_k([len(s) for s in all_seqs])
    bands, rows = lsh_bands(num_perm, jaccard)
    sig = minhash_signatures(all_seqs, k=k, num_perm=num_perm, seed=seed)
    _, canon = _canonical(all_seqs)
    up = [to_dna(s.upper()) for s in all_seqs]
    params = {"mode": mode, "k": k, "num_perm": num_perm, "jaccard": jaccard, "seed": seed}
    if mode == "group":
        params["group_by"] = group_by
        if group_by == "cluster":
            params["cluster_jaccard"] = cluster_jaccard

    def where(g: int) -> tuple[str, Any]:
        name = owner[g]
        return name, jsonable(data[name].ids[g - offsets[name]])

    keep = np.ones(len(all_seqs), bool)
    changes: list[dict] = []
    if mode == "clean":
        for qn_i, q_name in enumerate(names[1:], start=1):
            a = offsets[q_name]
            n_q = len(data[q_name].seqs)
            earlier = [g for n in names[:qn_i] for g in range(offsets[n], offsets[n] + len(data[n].seqs))]
            ref_up = {up[g]: g for g in reversed(earlier)}
            ref_canon = {canon[g]: g for g in reversed(earlier)}
            reasons: dict[int, tuple[str, int, float]] = {}
            for g in range(a, a + n_q):
                if up[g] in ref_up:
                    reasons[g] = ("exact duplicate", ref_up[up[g]], 1.0)
                elif canon[g] in ref_canon:
                    reasons[g] = ("reverse-complement duplicate", ref_canon[canon[g]], 1.0)
            earlier_arr = np.array(earlier, dtype=np.int64)
            q_arr = np.arange(a, a + n_q)
            ok_q = q_arr[sig[q_arr, 0] != EMPTY]
            ok_r = earlier_arr[sig[earlier_arr, 0] != EMPTY]
            qi, ri, jac = _lsh_join(sig[ok_q], sig[ok_r], threshold=jaccard, bands=bands, rows=rows)
            for i in np.argsort(-jac, kind="stable"):
                g = int(ok_q[qi[i]])
                if g not in reasons:
                    reasons[g] = ("near duplicate", int(ok_r[ri[i]]), float(jac[i]))
            for g in sorted(reasons):
                why, partner, j = reasons[g]
                keep[g] = False
                split, ident = where(g)
                p_split, p_ident = where(partner)
                changes.append(
                    {
                        "action": "removed",
                        "split": split,
                        "id": ident,
                        "reason": why,
                        "partner_split": p_split,
                        "partner_id": p_ident,
                        "jaccard": round(j, 4),
                    }
                )
        new_owner = owner
    else:
        n = len(all_seqs)
        split_idx = np.array([names.index(o) for o in owner], dtype=np.int64)
        if group_by == "contig":
            keys = _contig_keys(data, names, contigs)
            uniq, comp = np.unique(np.array(keys, dtype=object).astype(str), return_inverse=True)
            labels_of = {int(i): f"contig {u}" for i, u in enumerate(uniq)}
        else:
            thr = jaccard if group_by == "duplicates" else cluster_jaccard
            comp = _similarity_components(sig, canon, thr, num_perm)
            word = "near-duplicate component" if group_by == "duplicates" else "homology cluster"
            labels_of = None
        n_comp = int(comp.max()) + 1 if n else 0
        counts = np.zeros((n_comp, len(names)), dtype=np.int64)
        np.add.at(counts, (comp, split_idx), 1)
        spans = (counts > 0).sum(1) > 1
        if group_by == "duplicates":
            target = counts.argmax(1)  # ties -> earliest split (argmax takes the first)
        else:
            sizes = np.array([len(data[nm].seqs) for nm in names], dtype=float)
            target = _balanced_targets(comp, split_idx, sizes)
        new_owner = [names[target[comp[g]]] for g in range(n)]
        for g in range(n):
            if new_owner[g] != owner[g]:
                c = int(comp[g])
                split, ident = where(g)
                what = labels_of[c] if labels_of else f"{word} {c}"
                changes.append(
                    {
                        "action": "moved",
                        "split": split,
                        "to": new_owner[g],
                        "id": ident,
                        "reason": f"{what} of {int(counts[c].sum())} sequences spans "
                        + ", ".join(
                            f"{names[s]}:{int(counts[c, s])}" for s in range(len(names)) if counts[c, s]
                        ),
                    }
                )
        key = {"duplicates": "components", "contig": "contigs", "cluster": "clusters"}[group_by]
        params[f"{key}_spanning_splits"] = int(spans.sum())
        if group_by != "duplicates":
            params[f"n_{key}"] = n_comp
            empty = [nm for nm in names if nm not in set(new_owner)]
            if empty:
                raise InputError(
                    f"grouping by {group_by} leaves split '{empty[0]}' empty: {n_comp} {key} for "
                    f"{len(names)} splits",
                    hint="give more contigs, or a higher --cluster-jaccard for fewer, smaller clusters"
                    if group_by == "cluster"
                    else "give more contigs, or use --group-by cluster",
                )

    new_splits = {}
    for name in names:
        members = [g for g in range(len(all_seqs)) if keep[g] and new_owner[g] == name]
        seqs = [all_seqs[g] for g in members]
        labels = None
        if all(data[n].labels is not None for n in names):
            labels = np.array([data[owner[g]].labels[g - offsets[owner[g]]] for g in members])
        ids = [data[owner[g]].ids[g - offsets[owner[g]]] for g in members]
        new_splits[name] = (seqs, labels, ids)
    manifest = {
        "params": params,
        "counts": {n: {"before": len(data[n].seqs), "after": len(new_splits[n][0])} for n in names},
        "changes": changes,
    }
    manifest = jsonable(manifest)
    if out_dir is not None:
        _write_splits(new_splits, manifest, Path(out_dir))
    return ResplitResult(new_splits, manifest)


def _similarity_components(sig: np.ndarray, canon: list[str], threshold: float, num_perm: int) -> np.ndarray:
    """Connected components (one label per sequence) of exact / RC duplicates and pairs with
    MinHash Jaccard ``>= threshold``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges_a, edges_b = [], []
    first: dict[str, int] = {}
    for g, c in enumerate(canon):  # exact and RC duplicates share a canonical string
        if c in first:
            edges_a.append(first[c])
            edges_b.append(g)
        else:
            first[c] = g
    bands, rows = lsh_bands(num_perm, threshold)
    ok = np.flatnonzero(sig[:, 0] != EMPTY)
    qi, ri, _ = _lsh_join(sig[ok], None, threshold=threshold, bands=bands, rows=rows)
    ea = np.concatenate([np.array(edges_a, dtype=np.int64), ok[qi]])
    eb = np.concatenate([np.array(edges_b, dtype=np.int64), ok[ri]])
    n = len(canon)
    graph = coo_matrix((np.ones(len(ea)), (ea, eb)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _contig_keys(data: dict, names: list[str], contigs: Mapping[str, Sequence[str]] | None) -> list[str]:
    """Each sequence's contig, split by split in ``names`` order: from ``contigs`` or the ids."""
    keys: list[str] = []
    for name in names:
        split = data[name]
        if contigs is not None:
            if name not in contigs:
                raise InputError(f"no contigs given for split '{name}'")
            got = [str(c) for c in contigs[name]]
            if len(got) != len(split.seqs):
                raise InputError(f"split '{name}' has {len(split.seqs)} sequences but {len(got)} contigs")
        else:
            got = [contig_of_id(i) for i in split.ids]
            bad = next((i for i, c in zip(split.ids, got) if c is None), None)
            if bad is not None:
                raise InputError(
                    f"split '{name}': cannot tell the contig of id '{bad}' (not 'contig:start-end')",
                    hint="name a contig column (--contig-col) or give make-task style ids (--id-col)",
                )
        keys += got
    return keys


def _write_splits(splits: dict, manifest: dict, out_dir: Path) -> None:
    import pandas as pd

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, (seqs, labels, ids) in splits.items():
        df = pd.DataFrame({"id": ids, "sequence": seqs})
        if labels is not None:
            df["label"] = [json.dumps(jsonable(v)) if np.ndim(v) else jsonable(v) for v in labels]
        df.to_csv(out_dir / f"{name}.csv", index=False)
    (out_dir / "resplit_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
