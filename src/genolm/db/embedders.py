"""Embedders: sequences -> vectors, each with a ``spec`` that a database records and checks.

Every embedder has ``spec`` (a dict: ``model``, ``revision``, ``pooling``, ``layer``, ``dim``,
``dtype``, ``metric``) and ``embed(seqs) -> (n, dim)`` array.  Two vectors are comparable only
when the specs agree: :func:`check_compatible` names both when they do not.

``model:NAME``  (or any catalogue name / model folder) a genomic LM through ``genolm.load(NAME).embed``;
                vectors are L2-normalised, the metric is cosine.
``tnf``         tetranucleotide frequency (``kmer:4``): canonical 4-mer frequencies (136-d),
                centred and L2-normalised, so the cosine is Pearson's correlation of the profiles.
``kmer:K``      the same for any K <= 8.
``aa:K``        amino-acid K-mer frequencies (K = 1..3: 20, 400, 8000 dimensions) for proteins,
                centred and L2-normalised like TNF: the non-neural protein baseline.
``minhash``     a bottom-``num_perm`` MinHash sketch of canonical 21-mers (``minhash:K:NUM_PERM``);
                the score is the Jaccard estimate (fraction of equal hash slots), searched
                exactly.
"""

from __future__ import annotations

import numpy as np

from genolm.errors import ConfigError

_CODE = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate("ACGT"):
    _CODE[ord(_c)] = _i
    _CODE[ord(_c.lower())] = _i

SPEC_KEYS = ("model", "revision", "pooling", "layer", "dim", "dtype", "metric")


def _codes(seq: str) -> np.ndarray:
    return _CODE[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]


def _kmer_ints(seq: str, k: int) -> np.ndarray:
    """Canonical k-mers of ``seq`` as integers (2 bits per base); k-mers with a non-ACGT base are left out."""
    c = _codes(seq)
    n = len(c) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    win = np.lib.stride_tricks.sliding_window_view(c, k)  # (n, k)
    ok = (win >= 0).all(axis=1)
    win = win[ok]
    w = 4 ** np.arange(k - 1, -1, -1, dtype=np.int64)
    fwd = win @ w
    rc = (3 - win[:, ::-1]) @ w
    return np.minimum(fwd, rc)


def _frequency_spec(model: str, dim: int) -> dict:
    """The spec of a k-mer frequency embedder (no model revision, pooling or layer)."""
    return {
        "model": model,
        "revision": None,
        "pooling": "frequency",
        "layer": None,
        "dim": dim,
        "dtype": "float32",
        "metric": "cos",
    }


class KmerEmbedder:
    """Canonical k-mer frequency profiles (TNF for ``k=4``)."""

    def __init__(self, k: int = 4):
        if not 1 <= k <= 8:
            raise ConfigError(f"kmer k must be in 1..8, got {k}")
        self.k = k
        canon = sorted({min(x, _rc_int(x, k)) for x in range(4**k)})
        self._col = np.full(4**k, -1, dtype=np.int64)
        self._col[canon] = np.arange(len(canon))
        self.dim = len(canon)
        self.spec = _frequency_spec("tnf" if k == 4 else f"kmer:{k}", self.dim)

    def embed(self, seqs) -> np.ndarray:
        out = np.zeros((len(seqs), self.dim), dtype=np.float32)
        for i, s in enumerate(seqs):
            km = _kmer_ints(s, self.k)
            if len(km):
                out[i] = np.bincount(self._col[km], minlength=self.dim) / len(km)
        out -= 1.0 / self.dim  # centred: cosine == Pearson correlation of the profiles
        return _normalize(out)


class AminoKmerEmbedder:
    """Amino-acid ``k``-mer frequency profiles of proteins (``aa:K``); k-mers with a letter outside
    the 20 standard amino acids are left out."""

    def __init__(self, k: int = 2):
        from genolm.alphabet import AMINO_ACIDS

        if not 1 <= k <= 3:
            raise ConfigError(f"aa:K needs K in 1..3 (20**K dimensions), got {k}")
        self.k, self.dim = k, 20**k
        self._code = np.full(256, -1, dtype=np.int64)
        for i, c in enumerate(AMINO_ACIDS):
            self._code[ord(c)] = self._code[ord(c.lower())] = i
        self.spec = _frequency_spec(f"aa:{k}", self.dim)

    def embed(self, seqs) -> np.ndarray:
        out = np.zeros((len(seqs), self.dim), dtype=np.float32)
        w = 20 ** np.arange(self.k - 1, -1, -1, dtype=np.int64)
        for i, s in enumerate(seqs):
            c = self._code[np.frombuffer(s.encode("ascii", "replace"), dtype=np.uint8)]
            if len(c) < self.k:
                continue
            win = np.lib.stride_tricks.sliding_window_view(c, self.k)
            win = win[(win >= 0).all(axis=1)]
            if len(win):
                out[i] = np.bincount(win @ w, minlength=self.dim) / len(win)
        out -= 1.0 / self.dim
        return _normalize(out)


def _rc_int(x: int, k: int) -> int:
    y = 0
    for _ in range(k):
        y = (y << 2) | (3 - (x & 3))
        x >>= 2
    return y


_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a fast, well-mixed 64-bit hash (uint64 arithmetic wraps)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


class MinHashEmbedder:
    """MinHash sketches of canonical ``k``-mers: ``num_perm`` minima of seeded 64-bit hashes.

    The fraction of equal slots between two sketches estimates the Jaccard index of their k-mer
    sets.  A sequence without any k-mer gets the all-maximum sketch (Jaccard 0 with everything
    except another such sequence).
    """

    def __init__(self, k: int = 21, num_perm: int = 128, seed: int = 1):
        if not 1 <= k <= 31:
            raise ConfigError(f"minhash k must be in 1..31, got {k}")
        self.k, self.num_perm, self.seed = k, num_perm, seed
        rng = np.random.default_rng(seed)
        self._seeds = rng.integers(0, 2**63, size=num_perm, dtype=np.int64).astype(np.uint64)
        self.dim = num_perm
        self.spec = {
            "model": f"minhash:{k}:{num_perm}",
            "revision": f"seed{seed}",
            "pooling": "minhash",
            "layer": None,
            "dim": num_perm,
            "dtype": "uint64",
            "metric": "jaccard",
        }

    def embed(self, seqs) -> np.ndarray:
        out = np.full((len(seqs), self.num_perm), np.iinfo(np.uint64).max, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for i, s in enumerate(seqs):
                km = np.unique(_kmer_ints(s, self.k)).astype(np.uint64)
                if len(km):
                    out[i] = _mix(km[None, :] ^ self._seeds[:, None]).min(axis=1)
        return out.view(np.int64)  # stored as int64 (Arrow has no use for the sign here)


class ModelEmbedder:
    """A genomic LM's pooled embeddings (``genolm.load(name).embed``), L2-normalised."""

    def __init__(
        self,
        name: str,
        *,
        pooling: str | None = None,
        layer: int = -1,
        batch_size: int = 32,
        device: str | None = None,
        long_input: str = "window",
        revision: str | None = None,
    ):
        from genolm.catalogue.loader import load

        self.lm = load(name, device=device, revision=revision)
        self.pooling = pooling or self.lm.pooling
        self.layer, self.batch_size, self.long_input = layer, batch_size, long_input
        self.dim = None
        self.spec = {
            "model": str(name),
            "revision": self.lm.revision,
            "pooling": self.pooling,
            "layer": layer,
            "dim": None,
            "dtype": "float32",
            "metric": "cos",
        }

    def embed(self, seqs) -> np.ndarray:
        x = self.lm.embed(
            list(seqs),
            pooling=self.pooling,
            layer=self.layer,
            batch_size=self.batch_size,
            long_input=self.long_input,
        ).astype(np.float32)
        self.dim = self.spec["dim"] = int(x.shape[1])
        return _normalize(x)


def _normalize(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(n > 0, n, 1.0)).astype(np.float32)


# the built-in (non-model) embedders: prefix -> (class, form, (least, most) of each number)
_BUILTIN = {
    "kmer": (KmerEmbedder, "kmer:K (K in 1..8)", ((1, 8),)),
    "aa": (AminoKmerEmbedder, "aa:K (K in 1..3)", ((1, 3),)),
    "minhash": (MinHashEmbedder, "minhash[:K[:NUM_PERM]] (K in 1..31, NUM_PERM >= 1)", ((1, 31), (1, None))),
}


def _builtin(name: str):
    """``(class, args)`` of a built-in embedder name, ``None`` for a model name; a
    :class:`ConfigError` naming the expected form for a malformed one (``kmer:abc``)."""
    if name == "tnf":
        return KmerEmbedder, (4,)
    head, colon, rest = name.partition(":")
    if head not in _BUILTIN or not (colon or head == "minhash"):
        return None
    cls, form, ranges = _BUILTIN[head]
    parts = rest.split(":") if colon else []
    if len(parts) > len(ranges) or (head != "minhash" and len(parts) != 1):
        raise ConfigError(f"embedder {name!r}: expected {form}")
    args = []
    for text, (lo, hi) in zip(parts, ranges):
        try:
            v = int(text)
        except ValueError:
            raise ConfigError(f"embedder {name!r}: {text!r} is not an integer; expected {form}") from None
        if v < lo or (hi is not None and v > hi):
            raise ConfigError(f"embedder {name!r}: {v} is out of range; expected {form}")
        args.append(v)
    return cls, tuple(args)


def check_embedder_name(name: str) -> str:
    """``name`` when it is a well-formed embedder name; a :class:`ConfigError` for a malformed
    ``kmer:K`` / ``aa:K`` / ``minhash[:K[:NUM_PERM]]`` (a model name is checked when it loads)."""
    _builtin(name)
    return name


def make_embedder(name: str, *, pooling: str | None = None, layer: int = -1, **kwargs):
    """The embedder named ``name``: ``tnf``, ``kmer:K``, ``minhash[:K[:NUM_PERM]]``, or a model
    (catalogue name or folder; ``model:`` prefix optional)."""
    builtin = _builtin(name)
    if builtin is not None:
        cls, args = builtin
        return cls(*args)
    if name.startswith("model:"):
        name = name[len("model:") :]
    return ModelEmbedder(name, pooling=pooling, layer=layer, **kwargs)


def embedder_from_spec(spec: dict, **kwargs):
    """Rebuild the embedder a database was built with, from its recorded spec."""
    name = spec["model"]
    if spec.get("metric") == "jaccard" or name in ("tnf",) or name.startswith(("kmer:", "aa:", "minhash")):
        return make_embedder(name)
    return make_embedder(name, pooling=spec.get("pooling"), layer=spec.get("layer", -1), **kwargs)


def check_compatible(db_spec: dict, query_spec: dict, *, where: str = "the database") -> None:
    """Raise :class:`~genolm.errors.ConfigError` naming both specs when vectors would not compare."""
    keys = [
        k for k in ("model", "revision", "pooling", "layer", "dim", "metric") if query_spec.get(k) is not None
    ]
    diff = [k for k in keys if db_spec.get(k) != query_spec.get(k)]
    if diff:
        both = ", ".join(
            f"{k}: {where} has {db_spec.get(k)!r}, the query {query_spec.get(k)!r}" for k in diff
        )
        raise ConfigError(
            f"the query's embeddings do not match {where} ({both}); query with the database's own "
            "embedder (leave out --model/--pooling/--layer), or build a database with this one"
        )


__all__ = [
    "KmerEmbedder",
    "MinHashEmbedder",
    "AminoKmerEmbedder",
    "ModelEmbedder",
    "make_embedder",
    "check_embedder_name",
    "embedder_from_spec",
    "check_compatible",
]
