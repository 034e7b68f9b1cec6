"""Choosing an engine by name or URI (:func:`make_engine`) and reopening a saved one
(:func:`load_engine`): the one place that knows every backend of :mod:`genolm.db.engine`."""

from __future__ import annotations

import json
from pathlib import Path

from genolm.db.engine import EXACT_MAX, Engine, ExactEngine, USearchEngine
from genolm.db.qdrant import QdrantEngine
from genolm.errors import ConfigError, InputError

#: the storage of ``usearch`` without a ``:dtype`` (and of ``auto`` above EXACT_MAX)
DEFAULT_USEARCH_DTYPE = "i8"


def make_engine(spec: str, dim: int, metric: str = "cos", *, n: int = 0, folder=None) -> Engine:
    """A new empty engine: ``auto`` (exact below :data:`EXACT_MAX` vectors, or for Jaccard;
    else usearch), ``exact``, ``usearch[:f32|f16|i8]``, ``qdrant://...``, ``qdrant-local:...``.
    ``folder`` is where a relative ``qdrant-local`` path lives (the database folder)."""
    if spec == "auto":
        spec = "exact" if metric == "jaccard" or n < EXACT_MAX else "usearch"
    if spec == "exact":
        return ExactEngine(dim, metric)
    if spec == "usearch" or spec.startswith("usearch:"):
        # plain "usearch" is i8 with exact re-ranking: on benchmarks/db_engine.py's 200k real vectors
        # it matched f32's recall@10 (0.985) with 1.8x its QPS, a 3x faster build and a quarter
        # of the index (docs/db.md, "Which storage")
        return USearchEngine(
            dim, metric, dtype=spec.split(":", 1)[1] if ":" in spec else DEFAULT_USEARCH_DTYPE
        )
    if spec.startswith(("qdrant://", "qdrant-local:")):
        return QdrantEngine.from_uri(spec, dim, metric, base=folder)
    raise ConfigError(
        f"unknown engine {spec!r}: choose auto, exact, usearch (= usearch:i8), usearch:f16, usearch:f32, "
        "qdrant://HOST:PORT/COLLECTION or qdrant-local:FOLDER"
    )


def load_engine(folder, *, base=None) -> Engine:
    """The engine saved in ``folder`` (by ``save``)."""
    meta = json.loads((Path(folder) / "engine.json").read_text())
    if meta["engine"] == "exact":
        return ExactEngine.load(folder)
    if meta["engine"] == "usearch":
        return USearchEngine.load(folder)
    if meta["engine"] == "qdrant":
        return QdrantEngine.load(folder, base=base)
    raise InputError(f"unknown engine {meta['engine']!r} in {folder}/engine.json")
