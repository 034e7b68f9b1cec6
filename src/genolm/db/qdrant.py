"""A Qdrant collection behind the :class:`~genolm.db.engine.Engine` interface.

URIs: ``qdrant://HOST:PORT/COLLECTION`` (a server; ``qdrants://`` for HTTPS), or Qdrant's
local mode, which runs the same client code path in-process without a server:
``qdrant-local:FOLDER`` (persisted; a relative folder is inside the database folder) or
``qdrant-local::memory:``.  The collection stores each vector under its int64 key; metadata
stays in the database's Parquet shards (the one source of truth), so a filter becomes a list of
allowed keys (``HasIdCondition``).
"""

from __future__ import annotations

import atexit
import json
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from genolm.db.engine import Engine, SearchResult, _allowed_list, _empty
from genolm.errors import ConfigError

COLLECTION = "genolm"
_CLIENTS: dict[str, object] = {}  # local mode allows one client per folder per process


def _close_all() -> None:
    while _CLIENTS:
        _CLIENTS.popitem()[1].close()


def _client(uri: str, base=None):
    from qdrant_client import QdrantClient

    if uri.startswith("qdrant-local:"):
        where = uri[len("qdrant-local:") :]
        if where == ":memory:":
            return QdrantClient(":memory:"), COLLECTION
        path = Path(where)
        if not path.is_absolute() and base is not None:
            path = Path(base) / path
        key = str(path.resolve())
        if key not in _CLIENTS:
            if not _CLIENTS:
                atexit.register(_close_all)  # before interpreter teardown, where qdrant's __del__ fails
            _CLIENTS[key] = QdrantClient(path=key)
        return _CLIENTS[key], COLLECTION
    u = urlparse(uri)
    coll = u.path.strip("/") or COLLECTION
    return QdrantClient(host=u.hostname, port=u.port or 6333, https=u.scheme == "qdrants"), coll


class QdrantEngine(Engine):
    name = "qdrant"

    def __init__(self, client, collection: str, dim: int, metric: str = "cos", *, uri: str = ""):
        super().__init__(dim, metric)
        if metric != "cos":
            raise ConfigError(f"the qdrant engine searches cosine vectors; '{metric}' needs engine='exact'")
        from qdrant_client import models

        self.client, self.collection, self.uri = client, collection, uri
        if not client.collection_exists(collection):
            client.create_collection(
                collection, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE)
            )
        else:
            size = client.get_collection(collection).config.params.vectors.size
            if size != dim:
                raise ConfigError(
                    f"the Qdrant collection '{collection}' ({uri}) holds {size}-d vectors, not {dim}-d"
                )

    @classmethod
    def from_uri(cls, uri: str, dim: int, metric: str = "cos", *, base=None) -> QdrantEngine:
        client, coll = _client(uri, base)
        return cls(client, coll, dim, metric, uri=uri)

    def __len__(self) -> int:
        return int(self.client.count(self.collection, exact=True).count)

    def add(self, keys, vectors) -> None:
        from qdrant_client import models

        keys = np.asarray(keys, dtype=np.int64)
        v = self._check(vectors).astype(np.float32)
        for s in range(0, len(keys), 1024):
            self.client.upsert(
                self.collection,
                points=models.Batch(
                    ids=[int(x) for x in keys[s : s + 1024]], vectors=v[s : s + 1024].tolist()
                ),
            )

    def delete(self, keys) -> int:
        from qdrant_client import models

        ids = [int(x) for x in np.asarray(keys, dtype=np.int64)]
        present = len(self.client.retrieve(self.collection, ids=ids, with_vectors=False)) if ids else 0
        if ids:
            self.client.delete(self.collection, points_selector=models.PointIdsList(points=ids))
        return present

    def _query(self, qv, k, allow) -> SearchResult:
        from qdrant_client import models

        reqs = []
        for i, x in enumerate(qv):
            flt = None
            if allow is not None:
                flt = models.Filter(must=[models.HasIdCondition(has_id=[int(a) for a in allow[i]])])
            reqs.append(models.QueryRequest(query=x.tolist(), limit=k, filter=flt))
        out = _empty(len(qv), k)
        for i, res in enumerate(self.client.query_batch_points(self.collection, requests=reqs)):
            for j, p in enumerate(res.points[:k]):
                out.keys[i, j], out.scores[i, j] = int(p.id), float(p.score)
        return out

    def _search(self, qv, k, exact=False) -> SearchResult:
        return self._query(np.asarray(qv, np.float32), k, None)

    def search(self, queries, k: int, *, allowed=None) -> SearchResult:
        qv = self._check(queries).astype(np.float32)
        if k < 1 or len(qv) == 0:
            return _empty(len(qv), max(k, 0))
        return self._query(qv, k, _allowed_list(allowed, len(qv)))

    def save(self, folder) -> None:
        # the collection persists itself (server, or local-mode folder); record where it is
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "engine.json").write_text(
            json.dumps({"engine": "qdrant", "uri": self.uri, "dim": self.dim, "metric": self.metric})
        )

    @classmethod
    def load(cls, folder, *, base=None) -> QdrantEngine:
        meta = json.loads((Path(folder) / "engine.json").read_text())
        return cls.from_uri(meta["uri"], meta["dim"], meta["metric"], base=base)
