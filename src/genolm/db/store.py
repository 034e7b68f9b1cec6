"""The on-disk embedding database: Parquet shards (vectors + metadata) beside an index.

Layout of a database folder::

    manifest.json        what the database is: embedder spec, engine, build inputs (with sha256),
                         the finished shards, the live index folder, deleted keys, skip counts
    shards/shard-NNNNN.parquet
                         one row per vector: key, id, source, contig, start, end, strand, label,
                         model, revision, pooling, layer, genolm_version, data_sha256, vector
    index-NNNN/          the engine's files (engine.json + its data)

Crash safety.  Every file is written to a temporary sibling and renamed (``genolm.atomic``); the
manifest lists only finished shards, and is rewritten after each one.  An index is written into a
new ``index-NNNN`` folder and the manifest then switched to it, so the index a reader opens always
matches the shards the manifest lists.  ``manifest["complete"]`` is ``False`` until the index of a
build is written: :func:`open_db` refuses such a database (it names the command that resumes
it), so a half-built index is never served.  Rerunning the build resumes after the last finished
shard; the result equals an uninterrupted build.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np

from genolm.atomic import atomic_path, atomic_write_json, folder_lock, remove_stale_temps
from genolm.db.backends import load_engine, make_engine
from genolm.db.embedders import check_compatible, embedder_from_spec, make_embedder
from genolm.db.engine import Engine
from genolm.db.filters import apply_filter, needs_query, parse_where
from genolm.db.inputs import InputStats, Item, iter_items
from genolm.errors import ConfigError, InputError

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
META_COLUMNS = ("key", "id", "source", "contig", "start", "end", "strand", "label")
PROV_COLUMNS = ("model", "revision", "pooling", "layer", "genolm_version", "data_sha256")


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_manifest(folder: Path) -> dict | None:
    import json

    p = folder / MANIFEST
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except ValueError as e:
        raise InputError(f"the manifest is not valid JSON ({e})", path=str(p)) from None


def _genolm_version() -> str:
    import genolm

    return genolm.__version__


def _shard_table(items: list[Item], keys: np.ndarray, vecs: np.ndarray, spec: dict, sha: dict):
    import pyarrow as pa

    dim = vecs.shape[1]
    vtype = pa.int64() if vecs.dtype == np.int64 else pa.float32()
    flat = pa.array(vecs.reshape(-1), type=vtype)
    n = len(items)
    cols = {
        "key": pa.array(keys, pa.int64()),
        "id": pa.array([i.id for i in items], pa.string()),
        "source": pa.array([i.source for i in items], pa.string()),
        "contig": pa.array([i.contig for i in items], pa.string()),
        "start": pa.array([i.start for i in items], pa.int64()),
        "end": pa.array([i.end for i in items], pa.int64()),
        "strand": pa.array([i.strand for i in items], pa.string()),
        "label": pa.array([i.label for i in items], pa.string()),
        "model": pa.array([spec["model"]] * n, pa.string()),
        "revision": pa.array([spec.get("revision")] * n, pa.string()),
        "pooling": pa.array([spec.get("pooling")] * n, pa.string()),
        "layer": pa.array([spec.get("layer")] * n, pa.int64()),
        "genolm_version": pa.array([_genolm_version()] * n, pa.string()),
        "data_sha256": pa.array([sha.get(i.source) for i in items], pa.string()),
        "vector": pa.FixedSizeListArray.from_arrays(flat, dim),
    }
    return pa.table(cols)


def _resolve(inputs) -> list[Path]:
    """Input paths, with ``bundled:NAME`` and ``-`` (stdin) resolved; a missing file is an error."""
    from genolm.data import resolve_path

    return [resolve_path(p) for p in ([inputs] if isinstance(inputs, (str, Path)) else list(inputs))]


def _check_sizes(**sizes) -> None:
    """A ConfigError naming each size that is given (not ``None``) and below 1."""
    bad = ", ".join(f"{k}={v}" for k, v in sizes.items() if v is not None and v < 1)
    if bad:
        raise ConfigError(f"must be >= 1, got {bad}")


class BuildResult(NamedTuple):
    folder: Path
    n_vectors: int
    stats: dict
    resumed_shards: int


class Database:
    """A finished database (open it with :func:`open_db`)."""

    def __init__(self, folder: Path, manifest: dict):
        self.folder, self.manifest = Path(folder), manifest
        self._meta = None
        self._engine: Engine | None = None

    # -- reading --------------------------------------------------------------------------
    @property
    def spec(self) -> dict:
        return self.manifest["embedder"]

    def __len__(self) -> int:
        return int(self.manifest["n_vectors"])

    def _shard_path(self, shard: dict) -> Path:
        """The file of one shard the manifest lists; an InputError naming it when it is gone."""
        p = self.folder / "shards" / shard["file"]
        if not p.is_file():
            raise InputError(
                f"the database is damaged: its shard shards/{shard['file']} ({shard['n']} vectors from "
                f"'{shard['first_id']}') is missing",
                path=str(self.folder),
                hint="rebuild the database (`genolm db build ... --overwrite` with its inputs), "
                "or put the shard file back",
            )
        return p

    def _tables(self, columns=None):
        import pyarrow.parquet as pq

        for s in self.manifest["shards"]:
            yield pq.read_table(self._shard_path(s), columns=columns)

    def metadata(self):
        """Metadata of every live vector (a DataFrame, one row per vector, no vector column)."""
        if self._meta is None:
            import pandas as pd

            cols = list(META_COLUMNS) + list(PROV_COLUMNS)
            parts = [t.to_pandas() for t in self._tables(cols)]
            meta = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
            dead = set(self.manifest.get("deleted", []))
            if dead:
                meta = meta[~meta["key"].isin(dead)].reset_index(drop=True)
            self._meta = meta
        return self._meta

    def vectors(self, keys=None) -> tuple[np.ndarray, np.ndarray]:
        """``(keys, vectors)`` of the live vectors (all, or those with ``keys``), in shard order."""
        ks, vs = [], []
        dead = np.asarray(sorted(self.manifest.get("deleted", [])), np.int64)
        want = None if keys is None else np.asarray(keys, np.int64)
        dim = self.spec["dim"]
        for t in self._tables(["key", "vector"]):
            k = t.column("key").to_numpy()
            v = t.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, dim)
            keep = ~np.isin(k, dead)
            if want is not None:
                keep &= np.isin(k, want)
            ks.append(k[keep])
            vs.append(v[keep])
        if not ks:
            return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
        return np.concatenate(ks), np.concatenate(vs)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            index = self.folder / self.manifest["index"]
            if not (index / "engine.json").is_file():
                raise InputError(
                    f"the database is damaged: its index {self.manifest['index']}/engine.json is missing",
                    path=str(self.folder),
                    hint=f"rebuild the index from the shards with `genolm db compact {self.folder}`",
                )
            self._engine = load_engine(index, base=self.folder)
        return self._engine

    def info(self) -> dict:
        m = self.manifest
        return {
            "folder": str(self.folder),
            "vectors": len(self),
            "deleted_pending_compact": len(m.get("deleted", [])),
            "embedder": m["embedder"],
            "engine": m["engine"],
            "index": m["index"],
            "shards": len(m["shards"]),
            "inputs": m["build"]["inputs"],
            "skipped": m.get("stats", {}).get("skipped", {}),
            "genolm_version": m["genolm_version"],
            "bytes": sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file()),
        }

    # -- querying -------------------------------------------------------------------------
    def search(self, vectors, k: int = 10, *, where=None, query_meta: list[dict] | None = None):
        """Top ``k`` hits of each query vector, as a DataFrame: ``query``, ``rank``, ``score``
        and the hit's metadata.  ``where``: ``--where`` strings (see :mod:`genolm.db.filters`);
        ``query_meta``: one dict per query (``id``, ``contig``, ``start``, ``end`` ...)."""
        import pandas as pd

        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[1] != self.spec["dim"]:
            raise ConfigError(
                f"query vectors are {vectors.shape[-1]}-d, the database ({self.folder}) holds "
                f"{self.spec['dim']}-d vectors of {self.spec['model']}"
            )
        q = len(vectors)
        query_meta = query_meta or [{"id": f"query{i}"} for i in range(q)]
        conds = parse_where(where)
        meta = self.metadata()
        allowed = None
        if conds:
            keys = meta["key"].to_numpy()
            if needs_query(conds):
                allowed = [keys[apply_filter(meta, conds, qm)] for qm in query_meta]
            else:
                allowed = keys[apply_filter(meta, conds)]
        res = self.engine.search(vectors, k, allowed=allowed)
        row_of = pd.Series(np.arange(len(meta)), index=meta["key"].to_numpy())
        rows = []
        for i in range(q):
            for r, (key, score) in enumerate(zip(res.keys[i], res.scores[i])):
                if key < 0 or key not in row_of.index:  # no hit / a key the manifest no longer lists
                    continue
                m = meta.iloc[int(row_of[key])]
                rows.append(
                    {
                        "query": query_meta[i].get("id"),
                        "rank": r + 1,
                        "score": float(score),
                        **{c: m[c] for c in META_COLUMNS if c != "key"},
                        "key": int(key),
                    }
                )
        cols = ["query", "rank", "score", *[c for c in META_COLUMNS if c != "key"], "key"]
        return pd.DataFrame(rows, columns=cols)

    def query(self, items: list[Item], k: int = 10, *, where=None, embedder=None, batch_size: int = 256):
        """Embed ``items`` with the database's embedder (or ``embedder``, checked against it) and search."""
        emb = embedder if embedder is not None else self.embedder()
        vecs = (
            np.concatenate(
                [
                    emb.embed([it.seq for it in items[s : s + batch_size]])
                    for s in range(0, len(items), batch_size)
                ]
            )
            if items
            else np.zeros((0, self.spec["dim"]))
        )
        check_compatible(self.spec, emb.spec, where=f"the database {self.folder}")
        qm = [it._asdict() for it in items]
        return self.search(vecs, k, where=where, query_meta=qm)

    def query_ids(self, ids: list[str], k: int = 10, *, where=None):
        """Search with vectors already in the database, by id (their metadata are the query's)."""
        meta = self.metadata()
        missing = [i for i in ids if i not in set(meta["id"])]
        if missing:
            raise InputError(
                f"no vector with id {missing[0]!r} in the database ({len(missing)} missing)",
                path=str(self.folder),
                hint="`genolm db info` and the shards list the ids",
            )
        sub = meta.set_index("id").loc[ids]
        keys, vecs = self.vectors(sub["key"].to_numpy())
        order = {k: i for i, k in enumerate(keys)}
        vecs = vecs[[order[k] for k in sub["key"]]]
        qm = [
            {
                "id": i,
                **{c: sub.loc[i, c] for c in META_COLUMNS if c not in ("id", "key")},
                "key": int(sub.loc[i, "key"]),
            }
            for i in ids
        ]
        return self.search(vecs, k, where=where, query_meta=qm)

    def embedder(self, **kwargs):
        return embedder_from_spec(self.spec, **kwargs)

    # -- changing -------------------------------------------------------------------------
    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def open_db(folder) -> Database:
    """Open a finished database; an unfinished build is refused with the command that resumes it."""
    folder = Path(folder)
    m = _read_manifest(folder)
    if m is None:
        raise InputError(
            "not a genolm database (no manifest.json)",
            path=str(folder),
            hint="build one with `genolm db build`",
        )
    if not m.get("complete"):
        raise InputError(
            f"this database's build was interrupted after {len(m['shards'])} shard(s): it is not "
            "served until finished",
            path=str(folder),
            hint="rerun the same `genolm db build` command to resume it",
        )
    return Database(folder, m)


def _next_index_name(m: dict) -> str:
    cur = m.get("index")
    n = int(cur.split("-")[1]) + 1 if cur else 1
    return f"index-{n:04d}"


def _write_index(folder: Path, m: dict, engine: Engine) -> None:
    """Save ``engine`` into a new index folder and switch the manifest to it (then drop the old one)."""
    name = _next_index_name(m)
    tmp = folder / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    engine.save(tmp)
    tmp.rename(folder / name)
    old = m.get("index")
    m["index"] = name
    atomic_write_json(folder / MANIFEST, m)
    if old and old != name:
        shutil.rmtree(folder / old, ignore_errors=True)


def _embed_shards(folder, m, items_iter, embedder, shard_size, batch_size, sha, progress, skip_shards=0):
    """Embed ``items_iter`` into new shards (the first ``skip_shards`` already exist: skipped)."""
    from genolm.progress import progress_bar

    bar = progress_bar(None, f"db: embedding ({embedder.spec['model']})", unit="seq", enabled=progress)
    buf: list[Item] = []
    shard_no = 0
    written = 0

    def flush(buf):
        nonlocal shard_no, written
        if shard_no < skip_shards:
            s = m["shards"][shard_no]
            if s["n"] != len(buf) or s["first_id"] != buf[0].id:
                raise InputError(
                    f"cannot resume: shard {s['file']} holds {s['n']} vectors from '{s['first_id']}', but the "
                    f"inputs now give {len(buf)} from '{buf[0].id}'",
                    path=str(folder),
                    hint="the inputs changed since the build started: build into a new folder, or pass --overwrite",
                )
        else:
            vecs = np.concatenate(
                [
                    embedder.embed([it.seq for it in buf[s : s + batch_size]])
                    for s in range(0, len(buf), batch_size)
                ]
            )
            if m["embedder"].get("dim") is None:
                m["embedder"] = dict(embedder.spec, dim=int(vecs.shape[1]))
            keys = np.arange(m["next_key"], m["next_key"] + len(buf), dtype=np.int64)
            name = f"shard-{len(m['shards']):05d}.parquet"
            import pyarrow.parquet as pq

            with atomic_path(folder / "shards" / name) as tmp:
                pq.write_table(_shard_table(buf, keys, vecs, m["embedder"], sha), tmp)
            m["shards"].append(
                {
                    "file": name,
                    "n": len(buf),
                    "first_id": buf[0].id,
                    "first_key": int(keys[0]),
                    "last_key": int(keys[-1]),
                }
            )
            m["next_key"] = int(keys[-1]) + 1
            m["n_vectors"] = int(m.get("n_vectors", 0)) + len(buf)
            atomic_write_json(folder / MANIFEST, m)  # lists the shard only once it is on disk
            written += len(buf)
        if bar is not None:
            bar.update(len(buf))
        shard_no += 1

    for it in items_iter:
        buf.append(it)
        if len(buf) == shard_size:
            flush(buf)
            buf = []
    if buf:
        flush(buf)
    if bar is not None:
        bar.close()
    return written


def _build_index(folder: Path, m: dict, progress: bool) -> None:
    db = Database(folder, m)
    spec = m["embedder"]
    engine = make_engine(m["engine"], spec["dim"], spec["metric"], n=len(db), folder=folder)
    log.info("db: indexing %d vectors with the %s engine", len(db), engine.name)
    from genolm.progress import progress_bar

    bar = progress_bar(len(m["shards"]), "db: indexing", unit="shard", enabled=progress)
    for t in db._tables(["key", "vector"]):
        engine.add(
            t.column("key").to_numpy(),
            t.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, spec["dim"]),
        )
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    m["engine_resolved"] = engine.name
    _write_index(folder, m, engine)
    engine.close()


def build_db(
    out,
    inputs,
    *,
    embedder="tnf",
    kind: str = "auto",
    window: int | None = None,
    stride: int | None = None,
    genome=None,
    engine: str = "auto",
    shard_size: int = 4096,
    batch_size: int = 64,
    max_n: float = 0.1,
    overwrite: bool = False,
    progress: bool = True,
    alphabet: str = "dna",
    translate: bool = False,
) -> BuildResult:
    """Build a database in folder ``out`` from ``inputs`` (paths), resuming an interrupted build.

    Parameters
    ----------
    embedder : str or embedder
        ``tnf``, ``kmer:K``, ``minhash[:K[:NUM_PERM]]``, a model name / folder, or an object with
        ``spec`` and ``embed`` (:mod:`genolm.db.embedders`).  Default is ``"tnf"``.
    kind, window, stride, genome :
        How inputs are read (:func:`genolm.db.inputs.iter_items`).
    engine : str
        ``auto`` (exact below :data:`~genolm.db.engine.EXACT_MAX` vectors, else usearch),
        ``exact``, ``usearch[:f16|:i8]``, ``qdrant://HOST:PORT/COLLECTION``, ``qdrant-local:FOLDER``.
    shard_size : int
        Vectors per Parquet shard (the unit of resumption).  Default is 4096.
    max_n : float
        Skip (and count) items with more than this fraction of non-ACGT bases.  Default is 0.1.
    overwrite : bool
        Delete a finished database in ``out`` first.  Default is ``False`` (an error).
    alphabet, translate :
        ``"dna"`` (default), ``"protein"`` or ``"auto"`` (detected from the first input); with
        ``translate=True`` DNA coding sequences are translated (:func:`genolm.db.inputs.iter_items`).
    """
    from genolm.atomic import ensure_dir

    _check_sizes(window=window, stride=stride, shard_size=shard_size, batch_size=batch_size)
    out = Path(out)
    emb = make_embedder(embedder) if isinstance(embedder, str) else embedder
    paths = _resolve(inputs)
    build = {
        "inputs": [{"path": str(p), "sha256": file_sha256(p)} for p in paths],
        "kind": kind,
        "window": window,
        "stride": stride or window,
        "max_n": max_n,
        "shard_size": shard_size,
        "genome": str(genome) if genome is not None else None,
        "alphabet": "protein" if translate else alphabet,
        "translate": bool(translate),
    }
    ensure_dir(out, what="database folder")
    with folder_lock(out, what="database folder"):
        remove_stale_temps(out)
        remove_stale_temps(out / "shards")
        m = _read_manifest(out)
        if m is not None and m.get("complete") and not overwrite:
            raise InputError(
                "a finished database is already here",
                path=str(out),
                hint="add to it with `genolm db add`, or pass --overwrite to rebuild",
            )
        if m is not None and overwrite:
            for p in out.iterdir():
                if p.name != ".genolm.lock":
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
            m = None
        resumed = 0
        if m is not None:
            old = {k: v for k, v in m["build"].items()}
            if old != build or m["embedder"]["model"] != emb.spec["model"] or m["engine"] != engine:
                raise InputError(
                    "an interrupted build with other settings is here (inputs, window, embedder or engine differ)",
                    path=str(out),
                    hint="rerun the original command to resume it, or pass --overwrite",
                )
            check_compatible(
                m["embedder"],
                {k: v for k, v in emb.spec.items() if k != "dim"},
                where=f"the interrupted build in {out}",
            )
            resumed = len(m["shards"])
            log.info("db: resuming %s after %d finished shard(s)", out, resumed)
        else:
            m = {
                "format": FORMAT,
                "genolm_version": _genolm_version(),
                "complete": False,
                "embedder": dict(emb.spec),
                "engine": engine,
                "index": None,
                "build": build,
                "shards": [],
                "next_key": 0,
                "n_vectors": 0,
                "deleted": [],
            }
            atomic_write_json(out / MANIFEST, m)
        (out / "shards").mkdir(exist_ok=True)
        # files not listed in the manifest are from a killed write: a resumed build rewrites them
        listed = {s["file"] for s in m["shards"]}
        for p in (out / "shards").glob("shard-*.parquet"):
            if p.name not in listed:
                p.unlink()
        stats = InputStats(max_n=max_n)
        sha = {b["path"]: b["sha256"] for b in build["inputs"]}
        items = iter_items(
            paths,
            kind=kind,
            window=window,
            stride=stride,
            genome=genome,
            stats=stats,
            alphabet=build["alphabet"],
            translate=translate,
        )
        _embed_shards(out, m, items, emb, shard_size, batch_size, sha, progress, skip_shards=resumed)
        m["stats"] = stats.as_dict()
        if m["n_vectors"] == 0:
            raise InputError(
                "no sequence was left to embed",
                path=str(paths[0]),
                hint=f"skipped: {stats.skipped}; check --window and --max-n",
            )
        _build_index(out, m, progress)
        m["complete"] = True
        atomic_write_json(out / MANIFEST, m)
        if stats.skipped:
            log.warning("db: skipped %s (first ids in manifest.json 'stats')", stats.skipped)
    return BuildResult(out, m["n_vectors"], m["stats"], resumed)


def add_to_db(
    folder,
    inputs,
    *,
    kind="auto",
    window=None,
    stride=None,
    genome=None,
    batch_size=64,
    max_n: float = 0.1,
    progress: bool = True,
) -> int:
    """Embed ``inputs`` with the database's own embedder and add them (new keys, ids must be new)."""
    _check_sizes(window=window, stride=stride, batch_size=batch_size)
    db = open_db(folder)
    folder = db.folder
    with folder_lock(folder, what="database folder"):
        m = db.manifest
        emb = db.embedder()
        paths = _resolve(inputs)
        existing = set(db.metadata()["id"])
        stats = InputStats(max_n=max_n)
        sha = {str(p): file_sha256(p) for p in paths}

        def checked():
            b = m["build"]
            for it in iter_items(
                paths,
                kind=kind,
                window=window,
                stride=stride,
                genome=genome,
                stats=stats,
                alphabet=b.get("alphabet", "dna"),
                translate=b.get("translate", False),
            ):
                if it.id in existing:
                    raise InputError(
                        f"duplicate id '{it.id}': the database already holds it",
                        path=it.source,
                        record=it.id,
                        hint="delete it first (`genolm db delete`), or rename the record",
                    )
                yield it

        first = len(m["shards"])
        m["build"].setdefault("added", [])
        n = _embed_shards(folder, m, checked(), emb, m["build"]["shard_size"], batch_size, sha, progress)
        new = Database(folder, m)
        engine = (
            load_engine(folder / m["index"], base=folder)
            if m["engine_resolved"] == "qdrant"
            else _writable(folder, m)
        )
        for t in list(new._tables(["key", "vector"]))[first:]:
            engine.add(
                t.column("key").to_numpy(),
                t.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, m["embedder"]["dim"]),
            )
        m["build"]["added"] += [
            {"path": str(p), "sha256": sha[str(p)], "stats": stats.as_dict()} for p in paths
        ]
        _write_index(folder, m, engine)
        engine.close()
    return n


def _writable(folder: Path, m: dict) -> Engine:
    from genolm.db.engine import ExactEngine, USearchEngine

    idx = folder / m["index"]
    if m["engine_resolved"] == "usearch":
        return USearchEngine.load(idx, view=False)
    e = ExactEngine.load(idx)
    e._vecs = np.array(e._vecs)
    return e


def delete_from_db(folder, ids) -> int:
    """Delete vectors by id (tombstones until :func:`compact_db`); returns how many were deleted."""
    db = open_db(folder)
    with folder_lock(db.folder, what="database folder"):
        meta = db.metadata()
        ids = list(ids)
        unknown = sorted(set(ids) - set(meta["id"]))
        if unknown:
            raise InputError(
                f"no vector with id {unknown[0]!r} ({len(unknown)} unknown ids)", path=str(db.folder)
            )
        keys = meta.loc[meta["id"].isin(ids), "key"].to_numpy()
        m = db.manifest
        engine = (
            load_engine(db.folder / m["index"], base=db.folder)
            if m["engine_resolved"] == "qdrant"
            else _writable(db.folder, m)
        )
        engine.delete(keys)
        m["deleted"] = sorted(set(m.get("deleted", [])) | {int(k) for k in keys})
        m["n_vectors"] = int(m["n_vectors"]) - len(keys)
        _write_index(db.folder, m, engine)
        engine.close()
    return len(keys)


def compact_db(folder, *, progress: bool = True) -> dict:
    """Rewrite the shards without deleted vectors and rebuild the index from them."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    db = open_db(folder)
    with folder_lock(db.folder, what="database folder"):
        m = db.manifest
        dead = m.get("deleted", [])
        before = sum(p.stat().st_size for p in (db.folder / "shards").glob("*.parquet"))
        shards = []
        for s in m["shards"]:
            p = db._shard_path(s)
            t = pq.read_table(p)
            if dead:
                t = t.filter(
                    pc.invert(pc.is_in(t.column("key"), value_set=__import__("pyarrow").array(dead, "int64")))
                )
            if t.num_rows == 0:
                continue
            if t.num_rows != s["n"]:
                with atomic_path(p) as tmp:
                    pq.write_table(t, tmp)
            keys = t.column("key").to_numpy()
            shards.append(
                dict(
                    s,
                    n=t.num_rows,
                    first_id=t.column("id")[0].as_py(),
                    first_key=int(keys[0]),
                    last_key=int(keys[-1]),
                )
            )
        m["shards"], m["deleted"] = shards, []
        atomic_write_json(db.folder / MANIFEST, m)
        _build_index(db.folder, m, progress)
        after = sum(p.stat().st_size for p in (db.folder / "shards").glob("*.parquet"))
        for p in (db.folder / "shards").glob("shard-*.parquet"):
            if p.name not in {s["file"] for s in shards}:
                p.unlink()
    return {
        "removed": len(dead),
        "vectors": m["n_vectors"],
        "shard_bytes_before": before,
        "shard_bytes_after": after,
    }
