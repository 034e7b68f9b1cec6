"""The one search-engine interface, and its embedded engines.

Every engine stores ``(key, vector)`` pairs (``key``: int64, unique in a database) and answers
top-k queries with a :class:`SearchResult`; scores are similarities, higher is closer (cosine
for ``metric="cos"``, the Jaccard estimate of MinHash sketches for ``metric="jaccard"``).

Interface (what :class:`Engine` subclasses implement)::

    add(keys (n,) int64, vectors (n, dim)) -> None     # an existing key is replaced
    delete(keys) -> int                                 # how many were present
    search(queries (q, dim), k, *, allowed=None) -> SearchResult
        allowed: None (all keys), one int64 key array for every query, or a list of q arrays
    __len__() -> int
    save(folder) -> None;  Engine.load(folder) -> Engine  (classmethod)
    close() -> None

Engines (:func:`genolm.db.backends.make_engine`):

``exact``    a matrix product over every vector (float32, or equality counts for Jaccard).
             Exact by construction; the default below :data:`EXACT_MAX` vectors.
``usearch``  HNSW graph (``usearch``), vectors stored as ``f32``, ``f16`` or ``i8``
             (``usearch:i8``): the default at and above :data:`EXACT_MAX` vectors.  The graph
             proposes ``k * oversample`` candidates, which are re-scored exactly against the
             float32 vectors kept beside the index (``rerank_vectors.npy``, memory-mapped when
             loaded): the graph's quantisation (``i8``) and its misses among near-ties no longer
             decide the order (see docs/db.md and benchmarks/db_engine.py).
``qdrant``   a Qdrant server (``qdrant://host:port/collection``) or Qdrant's local mode
             (``qdrant-local:FOLDER`` / ``qdrant-local::memory:``), see :mod:`genolm.db.qdrant`.

Filtered search on an approximate engine asks for more neighbours (4x, 16x, ...) and keeps the
allowed ones; its last round is exhaustive, so a selective filter never returns fewer than ``k``
hits while ``k`` allowed vectors exist.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from genolm.errors import ConfigError, InputError

#: below this many vectors ``engine="auto"`` searches exactly (see docs/db.md for the measurement)
EXACT_MAX = 50_000
METRICS = ("cos", "jaccard")
USEARCH_DTYPES = ("f32", "f16", "i8")
SEED_SERIAL = 4096
#: how many graph candidates per wanted neighbour the usearch engine re-scores exactly
OVERSAMPLE = 4


class SearchResult(NamedTuple):
    """``keys`` (q, k) int64, ``-1`` where there are fewer than k hits; ``scores`` (q, k) float32, higher is closer."""

    keys: np.ndarray
    scores: np.ndarray


def _allowed_list(allowed, q: int):
    if allowed is None:
        return None
    if isinstance(allowed, np.ndarray) or (allowed and np.isscalar(allowed[0])):
        a = np.asarray(allowed, dtype=np.int64)
        return [a] * q
    if len(allowed) != q:
        raise ValueError(f"allowed has {len(allowed)} key arrays for {q} queries")
    return [np.asarray(a, dtype=np.int64) for a in allowed]


def _empty(q: int, k: int) -> SearchResult:
    return SearchResult(np.full((q, k), -1, np.int64), np.full((q, k), -np.inf, np.float32))


class Engine:
    """Base class: see the module docstring for the interface."""

    name = "engine"

    def __init__(self, dim: int, metric: str = "cos"):
        if metric not in METRICS:
            raise ConfigError(f"metric must be one of {METRICS}, got {metric!r}")
        self.dim, self.metric = int(dim), metric

    # -- to implement ---------------------------------------------------------------------
    def add(self, keys, vectors) -> None:
        raise NotImplementedError

    def delete(self, keys) -> int:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def _search(self, queries: np.ndarray, k: int, exact: bool = False) -> SearchResult:
        raise NotImplementedError

    def save(self, folder) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, folder) -> Engine:
        raise NotImplementedError

    def close(self) -> None:
        pass

    # -- shared ---------------------------------------------------------------------------
    def _check(self, vectors) -> np.ndarray:
        v = np.asarray(vectors)
        if v.ndim == 1:
            v = v[None, :]
        if v.shape[1] != self.dim:
            raise InputError(f"vectors have {v.shape[1]} dimensions, the {self.name} index {self.dim}")
        return v

    def search(self, queries, k: int, *, allowed=None) -> SearchResult:
        """Top ``k`` keys and scores per query (see the module docstring for ``allowed``)."""
        qv = self._check(queries)
        q = len(qv)
        n = len(self)
        if q == 0 or n == 0 or k < 1:
            return _empty(q, max(k, 0))
        allow = _allowed_list(allowed, q)
        if allow is None:
            return _pad(self._search(qv, min(k, n)), k)
        # over-fetch and filter; the last round is exhaustive
        out = _empty(q, k)
        todo = np.arange(q)
        kk = min(n, 4 * k)
        sets = [set(a.tolist()) if len(a) < 4096 else None for a in allow]
        while len(todo):
            last = kk >= n
            res = self._search(qv[todo], kk, exact=last)
            still = []
            for j, i in enumerate(todo):
                keys, scores = res.keys[j], res.scores[j]
                ok = keys >= 0
                ok &= (
                    np.fromiter((x in sets[i] for x in keys), bool, len(keys))
                    if sets[i] is not None
                    else np.isin(keys, allow[i])
                )
                keys, scores = keys[ok][:k], scores[ok][:k]
                if len(keys) < k and not last and len(keys) < len(allow[i]):
                    still.append(i)
                    continue
                out.keys[i, : len(keys)] = keys
                out.scores[i, : len(keys)] = scores
            todo = np.asarray(still, dtype=np.int64)
            kk = min(n, kk * 4)
        return out


def _pad(res: SearchResult, k: int) -> SearchResult:
    q, have = res.keys.shape
    if have >= k:
        return res
    out = _empty(q, k)
    out.keys[:, :have], out.scores[:, :have] = res.keys, res.scores
    return out


def _topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the top ``k`` per row, best first (ties: lower index first)."""
    k = min(k, scores.shape[1])
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    idx = np.take_along_axis(part, order, axis=1)
    return idx, np.take_along_axis(vals, order, axis=1)


def _unit(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


class ExactEngine(Engine):
    """Brute force: cosine as a matrix product of unit vectors, Jaccard as equal-slot counts."""

    name = "exact"

    def __init__(self, dim: int, metric: str = "cos"):
        super().__init__(dim, metric)
        self._keys = np.zeros(0, np.int64)
        self._vecs = np.zeros((0, dim), np.int64 if metric == "jaccard" else np.float32)

    def __len__(self) -> int:
        return len(self._keys)

    def keys(self) -> np.ndarray:
        return self._keys.copy()

    def add(self, keys, vectors) -> None:
        keys = np.asarray(keys, dtype=np.int64)
        v = self._check(vectors).astype(self._vecs.dtype, copy=False)
        if self.metric == "cos":
            v = _unit(v)
        if len(keys) != len(v):
            raise ValueError(f"{len(keys)} keys for {len(v)} vectors")
        self.delete(keys)
        self._keys = np.concatenate([self._keys, keys])
        self._vecs = np.concatenate([np.asarray(self._vecs), v])

    def delete(self, keys) -> int:
        drop = np.isin(self._keys, np.asarray(keys, dtype=np.int64))
        if drop.any():
            self._keys, self._vecs = self._keys[~drop], np.asarray(self._vecs)[~drop]
        return int(drop.sum())

    def _scores(self, qv: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
        V = self._vecs if cols is None else self._vecs[cols]
        if self.metric == "jaccard":
            return np.stack([(V == x).mean(axis=1) for x in qv.astype(np.int64)]).astype(np.float32)
        return _unit(qv) @ np.asarray(V, dtype=np.float32).T

    def _search(self, qv, k, exact=True) -> SearchResult:
        keys, scores = [], []
        for s in range(0, len(qv), 256):  # bounded memory: 256 x N scores at a time
            idx, val = _topk(self._scores(qv[s : s + 256]), k)
            keys.append(self._keys[idx])
            scores.append(val.astype(np.float32))
        return SearchResult(np.concatenate(keys), np.concatenate(scores))

    def search(self, queries, k: int, *, allowed=None) -> SearchResult:
        if allowed is None:
            return super().search(queries, k)
        qv = self._check(queries)
        out = _empty(len(qv), k)
        for i, a in enumerate(_allowed_list(allowed, len(qv))):
            cols = np.flatnonzero(np.isin(self._keys, a))
            if len(cols) == 0:
                continue
            idx, val = _topk(self._scores(qv[i : i + 1], cols), k)
            out.keys[i, : idx.shape[1]] = self._keys[cols[idx[0]]]
            out.scores[i, : idx.shape[1]] = val[0]
        return out

    def save(self, folder) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "keys.npy", self._keys)
        np.save(folder / "vectors.npy", np.asarray(self._vecs))
        (folder / "engine.json").write_text(
            json.dumps({"engine": "exact", "dim": self.dim, "metric": self.metric})
        )

    @classmethod
    def load(cls, folder) -> ExactEngine:
        folder = Path(folder)
        meta = json.loads((folder / "engine.json").read_text())
        e = cls(meta["dim"], meta["metric"])
        e._keys = np.load(folder / "keys.npy")
        e._vecs = np.load(folder / "vectors.npy", mmap_mode="r")  # memory-mapped until changed
        return e


class USearchEngine(Engine):
    """HNSW (``usearch``) with ``f32`` / ``f16`` / ``i8`` storage; cosine only."""

    name = "usearch"

    def __init__(
        self,
        dim: int,
        metric: str = "cos",
        *,
        dtype: str = "f32",
        connectivity: int = 16,
        expansion_add: int = 128,
        expansion_search: int = 128,
        rerank: bool = True,
        oversample: int = OVERSAMPLE,
        _index=None,
    ):
        super().__init__(dim, metric)
        if metric != "cos":
            raise ConfigError(f"the usearch engine searches cosine vectors; '{metric}' needs engine='exact'")
        if dtype not in USEARCH_DTYPES:
            raise ConfigError(f"usearch dtype must be one of {USEARCH_DTYPES}, got {dtype!r}")
        from usearch.index import Index

        self.dtype, self.connectivity = dtype, connectivity
        self.expansion_add, self.expansion_search = expansion_add, expansion_search
        self.rerank, self.oversample = bool(rerank), max(1, int(oversample))
        self.threads = 0  # usearch's threads for add / search: 0 = every core
        # exact re-scoring store: unit float32 vectors by key (chunks appended by add, joined lazily)
        self._rk_keys = np.zeros(0, np.int64)
        self._rk_vecs = np.zeros((0, dim), np.float32)
        self._rk_chunks: list[tuple[np.ndarray, np.ndarray]] = []
        self._rk_sorted: tuple[np.ndarray, np.ndarray] | None = None
        self._rk_identity = False
        # f32 / f16 graphs store unit vectors under the inner product (the same order as cosine,
        # without a norm per distance); i8 keeps usearch's cosine, which normalises before it
        # quantises (unit vectors' small components would lose precision as raw i8)
        graph_metric = "cos" if dtype == "i8" else "ip"
        self.index = (
            _index
            if _index is not None
            else Index(
                ndim=dim,
                metric=graph_metric,
                dtype=dtype,
                connectivity=connectivity,
                expansion_add=expansion_add,
                expansion_search=expansion_search,
            )
        )

    def __len__(self) -> int:
        return len(self.index)

    @property
    def _unit_graph(self) -> bool:
        """The graph holds unit vectors under the inner product (indexes saved before this
        choice hold raw vectors under cosine and keep doing so)."""
        return "IP" in str(self.index.metric).upper()

    def add(self, keys, vectors) -> None:
        keys = np.asarray(keys, dtype=np.int64)
        v = self._check(vectors).astype(np.float32, copy=False)
        if len(keys) != len(v):
            raise ValueError(f"{len(keys)} keys for {len(v)} vectors")
        present = np.array([self.index.contains(int(x)) for x in keys], bool) if len(self.index) else None
        if present is not None and present.any():
            self.index.remove(keys[present].astype(np.uint64))
            self._rk_drop(keys[present])
        unit = _unit(v) if (self.rerank or self._unit_graph) else None  # normalised once
        if self.rerank:
            self._rk_chunks.append((keys.copy(), unit))
            self._rk_sorted = None
        # usearch's parallel insertion into a tiny graph can leave it badly connected (recall@10
        # fell to 0.94 on 800 clustered vectors, run to run): the first SEED_SERIAL vectors go
        # in one at a time, the rest in parallel
        serial = max(0, min(len(keys), SEED_SERIAL - len(self.index)))
        if self._unit_graph:
            v = unit
        if serial:
            self.index.add(keys[:serial].astype(np.uint64), v[:serial], threads=1)
        if serial < len(keys):
            self.index.add(keys[serial:].astype(np.uint64), v[serial:], threads=self.threads)

    def delete(self, keys) -> int:
        keys = np.asarray(keys, dtype=np.int64)
        present = [int(x) for x in keys if self.index.contains(int(x))]
        if present:
            self.index.remove(np.asarray(present, np.uint64))
            self._rk_drop(np.asarray(present, np.int64))
        return len(present)

    # -- the exact re-scoring store ---------------------------------------------------------
    def _rk_join(self) -> None:
        if self._rk_chunks:
            ks = [self._rk_keys] + [c[0] for c in self._rk_chunks]
            vs = [np.asarray(self._rk_vecs)] + [c[1] for c in self._rk_chunks]
            self._rk_keys, self._rk_vecs = np.concatenate(ks), np.concatenate(vs)
            self._rk_chunks = []
            self._rk_sorted = None
        if self._rk_sorted is None:
            order = np.argsort(self._rk_keys, kind="stable")
            self._rk_sorted = (self._rk_keys[order], order)
            n = len(self._rk_keys)
            # keys 0..n-1 in row order (a database's usual keys): a key is its row
            self._rk_identity = bool(n) and bool(np.array_equal(self._rk_keys, np.arange(n)))

    def _rk_drop(self, keys) -> None:
        if not self.rerank:
            return
        self._rk_join()
        keep = ~np.isin(self._rk_keys, keys)
        if not keep.all():
            self._rk_keys, self._rk_vecs = self._rk_keys[keep], np.asarray(self._rk_vecs)[keep]
            self._rk_sorted = None

    def _rk_rows(self, keys: np.ndarray) -> np.ndarray:
        """Rows of ``keys`` (any shape, ``-1`` for none) in the re-scoring store; ``-1`` where absent."""
        sk, order = self._rk_sorted
        if getattr(self, "_rk_identity", False):
            return np.where((keys >= 0) & (keys < len(sk)), keys, -1)
        if len(sk) == 0:
            return np.full(keys.shape, -1, np.int64)
        pos = np.minimum(np.searchsorted(sk, keys), len(sk) - 1)
        return np.where((keys >= 0) & (sk[pos] == keys), order[pos], -1)

    def _search(self, qv, k, exact=False) -> SearchResult:
        if not self.rerank:
            return self._graph_search(qv, k, exact)
        self._rk_join()
        n = len(self._rk_keys)
        qu = _unit(qv)
        if exact or k * self.oversample >= n:  # a matrix product over every stored vector
            out_k, out_s = [], []
            for s in range(0, len(qu), 256):
                idx, val = _topk(qu[s : s + 256] @ np.asarray(self._rk_vecs).T, k)
                out_k.append(self._rk_keys[idx])
                out_s.append(val.astype(np.float32))
            return SearchResult(np.concatenate(out_k), np.concatenate(out_s))
        cand = self._graph_search(qu, k * self.oversample, False, unit=True).keys  # (q, kk), -1 padded
        rows = self._rk_rows(cand)
        safe = np.where(rows >= 0, rows, 0)
        if len(qv) > 32:  # gather in sorted row order: fewer page faults on a memory-mapped store
            flat = safe.reshape(-1)
            uniq, inv = np.unique(flat, return_inverse=True)
            vecs = np.asarray(self._rk_vecs[uniq], dtype=np.float32)[inv].reshape(*rows.shape, -1)
        else:
            vecs = np.asarray(self._rk_vecs[safe.reshape(-1)], dtype=np.float32).reshape(*rows.shape, -1)
        scores = np.einsum("qkd,qd->qk", vecs, qu)
        scores[rows < 0] = -np.inf
        # ties: the graph's order (stable sort of at most k x oversample candidates)
        idx = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        val = np.take_along_axis(scores, idx, axis=1)
        keys = np.take_along_axis(cand, idx, axis=1)
        keys = np.where(np.isfinite(val), keys, -1)
        return SearchResult(keys.astype(np.int64), val.astype(np.float32))

    def _graph_search(self, qv, k, exact=False, unit=False) -> SearchResult:
        """``unit``: ``qv`` is already L2-normalised."""
        q = len(qv)
        qv = _unit(qv) if self._unit_graph and not unit else np.asarray(qv, np.float32)
        m = self.index.search(qv, k, exact=exact, threads=self.threads)
        keys = np.asarray(m.keys, dtype=np.int64).reshape(q, -1)[:, :k]
        dist = np.asarray(m.distances, dtype=np.float32).reshape(q, -1)[:, :k]
        counts = np.asarray(m.counts).reshape(-1) if hasattr(m, "counts") else np.full(q, keys.shape[1])
        valid = np.arange(keys.shape[1])[None, :] < np.minimum(counts, k)[:, None]
        out = _empty(q, k)
        w = keys.shape[1]
        out.keys[:, :w] = np.where(valid, keys, -1)
        out.scores[:, :w] = np.where(valid, 1.0 - dist, -np.inf)
        return out

    def save(self, folder) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.index.save(str(folder / "usearch.index"))
        if self.rerank:
            self._rk_join()
            np.save(folder / "rerank_keys.npy", self._rk_keys)
            np.save(folder / "rerank_vectors.npy", np.asarray(self._rk_vecs, np.float32))
        (folder / "engine.json").write_text(
            json.dumps(
                {
                    "engine": "usearch",
                    "dim": self.dim,
                    "metric": self.metric,
                    "dtype": self.dtype,
                    "connectivity": self.connectivity,
                    "expansion_add": self.expansion_add,
                    "expansion_search": self.expansion_search,
                    "rerank": self.rerank,
                    "oversample": self.oversample,
                }
            )
        )

    @classmethod
    def load(cls, folder, *, view: bool = True) -> USearchEngine:
        """``view=True`` memory-maps the index and the re-scoring vectors (read-only until
        something is added).  An index saved without re-scoring vectors (before they existed)
        is searched by the graph alone."""
        from usearch.index import Index

        folder = Path(folder)
        meta = json.loads((folder / "engine.json").read_text())
        index = Index.restore(str(folder / "usearch.index"), view=view)
        index.expansion_search = meta["expansion_search"]
        rk = folder / "rerank_vectors.npy"
        rerank = bool(meta.get("rerank", False)) and rk.exists()
        e = cls(
            meta["dim"],
            meta["metric"],
            dtype=meta["dtype"],
            connectivity=meta["connectivity"],
            expansion_add=meta["expansion_add"],
            expansion_search=meta["expansion_search"],
            rerank=rerank,
            oversample=meta.get("oversample", OVERSAMPLE),
            _index=index,
        )
        if rerank:
            e._rk_keys = np.load(folder / "rerank_keys.npy")
            e._rk_vecs = np.load(rk, mmap_mode="r" if view else None)
        return e
