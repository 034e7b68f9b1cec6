"""The embedding database (genolm.db): engines, store, inputs, CLI."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from genolm.db.backends import make_engine
from genolm.db.embedders import KmerEmbedder, MinHashEmbedder, check_compatible
from genolm.db.engine import ExactEngine
from genolm.db.inputs import InputStats, iter_items
from genolm.db.store import add_to_db, build_db, compact_db, delete_from_db, open_db
from genolm.errors import ConfigError, InputError

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _genome(path: Path, n_contigs=3, length=12_000, seed=0) -> Path:
    rnd = random.Random(seed)
    with open(path, "w") as f:
        for c in range(n_contigs):
            f.write(f">c{c}\n" + "".join(rnd.choice("ACGT") for _ in range(length)) + "\n")
    return path


def _clustered(n=600, d=32, centers=12, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centers, d))
    x = c[rng.integers(0, centers, n)] + 0.3 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_exact_topk_equals_brute_force():
    x = _clustered()
    q = _clustered(20, seed=1)
    e = ExactEngine(x.shape[1])
    e.add(np.arange(len(x)) + 100, x)
    res = e.search(q, 7)
    brute = np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :7] + 100
    np.testing.assert_array_equal(res.keys, brute)
    np.testing.assert_allclose(res.scores, np.take_along_axis(q @ x.T, brute - 100, axis=1), atol=1e-5)


def test_exact_jaccard_topk_equals_brute_force():
    rnd = random.Random(0)
    seqs = ["".join(rnd.choice("ACGT") for _ in range(300)) for _ in range(30)]
    mh = MinHashEmbedder(k=11, num_perm=64)
    v = mh.embed(seqs)
    e = ExactEngine(64, "jaccard")
    e.add(np.arange(30), v)
    res = e.search(v[:5], 3)
    assert (res.keys[:, 0] == np.arange(5)).all() and np.allclose(res.scores[:, 0], 1.0)
    sim = (v[:5, None, :] == v[None, :, :]).mean(-1)
    np.testing.assert_allclose(res.scores, -np.sort(-sim, axis=1)[:, :3], atol=1e-6)


# usearch:i8 quantises every coordinate to 8 bits; its candidates are re-scored exactly against
# float32 copies (re-ranking), so it is held to 0.99 like every full-precision backend
BACKENDS = [
    ("exact", 0.99),
    ("usearch", 0.99),
    ("usearch:f16", 0.99),
    ("usearch:i8", 0.99),
    ("qdrant-local::memory:", 0.99),
]


@pytest.mark.parametrize("backend,min_recall", BACKENDS)
def test_backend_parity_recall(backend, min_recall):
    x, q = _clustered(800), _clustered(50, seed=2)
    keys = np.arange(len(x)) * 3
    ref = ExactEngine(x.shape[1])
    ref.add(keys, x)
    e = make_engine(backend, x.shape[1])
    e.add(keys, x)
    assert len(e) == len(x)
    want, got = ref.search(q, 10), e.search(q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(want.keys, got.keys)])
    assert recall >= min_recall, f"{backend}: recall@10 {recall:.3f}"
    # a filter: only every 5th key is allowed
    allowed = keys[::5]
    want, got = ref.search(q, 5, allowed=allowed), e.search(q, 5, allowed=allowed)
    assert np.isin(got.keys, allowed).all()
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(want.keys, got.keys)])
    assert recall >= min_recall, f"{backend}: filtered recall@5 {recall:.3f}"
    # delete
    assert e.delete(keys[:10].tolist() + [10**9]) == 10
    assert len(e) == len(x) - 10
    assert not np.isin(e.search(q, 10).keys, keys[:10]).any()
    e.close()


def test_every_window_gets_an_id(tmp_path):
    g = _genome(tmp_path / "g.fa", n_contigs=2, length=2_600)
    with open(g, "a") as f:
        f.write(">short\nACGTACGTAC\n>gappy\n" + "N" * 900 + "ACGT" * 25 + "\n")
    stats = InputStats(max_n=0.1)
    items = list(iter_items(g, window=1000, stride=500, stats=stats))
    # 2600 bp: starts 0, 500, 1000, 1500 and the last one shifted to end at 2600 -> 5 per contig
    assert [i.id for i in items if i.contig == "c0"] == [
        "c0:1-1000",
        "c0:501-1500",
        "c0:1001-2000",
        "c0:1501-2500",
        "c0:1601-2600",
    ]
    assert len({i.id for i in items}) == len(items) == 10
    # nothing silently gone: the short record and the N-rich window are counted and named
    assert stats.skipped == {"shorter_than_window": 1, "n_fraction": 1}
    assert stats.read == 11 and stats.kept == 10
    assert "short" in stats.skipped_ids["shorter_than_window"][0]


def test_bad_inputs(tmp_path):
    empty = tmp_path / "empty.fa"
    empty.write_text("")
    with pytest.raises(InputError, match="empty.fa"):  # an empty FASTA is named, not an empty DB
        build_db(tmp_path / "db0", empty, progress=False)
    dup = tmp_path / "dup.fa"
    dup.write_text(">a\nACGTACGTAA\n>b\nACGTTTTTAA\n")
    dup2 = tmp_path / "dup2.fa"
    dup2.write_text(">a\nACGGGGGTAA\n")
    with pytest.raises(InputError, match="duplicate id 'a'.*dup.fa"):  # across files, both named
        build_db(tmp_path / "db1", [dup, dup2], progress=False)
    short = tmp_path / "short.fa"
    short.write_text(">s\nACGT\n")
    with pytest.raises(InputError, match="shorter than the window"):
        build_db(tmp_path / "db2", short, window=100, progress=False)
    # a query embedder that differs from the database's: the message names both
    with pytest.raises(ConfigError, match="'tnf'.*'minhash"):
        check_compatible(KmerEmbedder(4).spec, MinHashEmbedder().spec)


def test_add_delete_persist_roundtrip(tmp_path):
    g = _genome(tmp_path / "g.fa")
    r = build_db(tmp_path / "db", g, window=1000, shard_size=7, engine="usearch", progress=False)
    assert r.n_vectors == 36
    with pytest.raises(InputError, match="already here"):
        build_db(tmp_path / "db", g, window=1000, progress=False)
    more = _genome(tmp_path / "more.fa", n_contigs=1, length=3000, seed=5)
    Path(more).write_text(Path(more).read_text().replace(">c0", ">extra"))
    assert add_to_db(tmp_path / "db", more, window=1000, progress=False) == 3
    with pytest.raises(InputError, match="duplicate id 'extra:1-1000'"):
        add_to_db(tmp_path / "db", more, window=1000, progress=False)
    db = open_db(tmp_path / "db")
    assert len(db) == 39 and len(db.engine) == 39
    hit = db.query_ids(["extra:1001-2000"], k=1)
    assert hit["id"].tolist() == ["extra:1001-2000"] and hit["score"].iloc[0] > 0.999
    assert delete_from_db(tmp_path / "db", ["c0:1-1000", "extra:1001-2000"]) == 2
    db = open_db(tmp_path / "db")  # reopened from disk
    assert len(db) == 37 and len(db.engine) == 37
    assert "c0:1-1000" not in set(db.metadata()["id"])
    hits = db.query_ids(["c1:1-1000"], k=40)
    assert len(hits) == 37 and not {"c0:1-1000", "extra:1001-2000"} & set(hits["id"])
    out = compact_db(tmp_path / "db", progress=False)
    assert out["removed"] == 2
    db = open_db(tmp_path / "db")
    assert len(db) == 37 and len(db.metadata()) == 37 and len(db.vectors()[0]) == 37
    # filters: query.contig and a literal
    hits = db.query_ids(["c1:1-1000"], k=5, where=["contig != query.contig"])
    assert len(hits) == 5 and (hits["contig"] != "c1").all()
    hits = db.query_ids(["c1:1-1000"], k=50, where="contig == c2 and start >= 5000")
    assert set(hits["contig"]) == {"c2"} and (hits["start"] >= 5000).all() and len(hits) == 7


def test_provenance_columns(tmp_path):
    import pyarrow.parquet as pq

    g = _genome(tmp_path / "g.fa", n_contigs=1, length=2000)
    build_db(tmp_path / "db", g, window=1000, embedder="minhash:15:32", progress=False)
    m = json.loads((tmp_path / "db" / "manifest.json").read_text())
    t = pq.read_table(tmp_path / "db" / "shards" / m["shards"][0]["file"]).to_pandas()
    assert set(t["model"]) == {"minhash:15:32"} and set(t["data_sha256"]) == {
        m["build"]["inputs"][0]["sha256"]
    }
    assert {
        "id",
        "source",
        "contig",
        "start",
        "end",
        "strand",
        "label",
        "revision",
        "pooling",
        "layer",
        "genolm_version",
        "vector",
    } <= set(t.columns)
    assert m["engine_resolved"] == "exact"  # Jaccard sketches are searched exactly


def test_qdrant_local_database(tmp_path):
    g = _genome(tmp_path / "g.fa")
    build_db(tmp_path / "db", g, window=1000, engine="qdrant-local:qdrant", progress=False)
    build_db(tmp_path / "ref", g, window=1000, engine="exact", progress=False)
    a = open_db(tmp_path / "db").query_ids(["c0:1-1000"], k=5, where="id != query.id")
    b = open_db(tmp_path / "ref").query_ids(["c0:1-1000"], k=5, where="id != query.id")
    assert a["id"].tolist() == b["id"].tolist()
    assert delete_from_db(tmp_path / "db", ["c1:1-1000"]) == 1


_KILLABLE = """
import sys, time
from genolm.db.embedders import KmerEmbedder
from genolm.db.store import build_db

class Slow(KmerEmbedder):  # the real TNF embedder, slowed so the kill lands mid-build
    def embed(self, seqs):
        time.sleep(0.15)
        return super().embed(seqs)

build_db(sys.argv[1], sys.argv[2], window=500, shard_size=5, batch_size=5, embedder=Slow(4), progress=False)
"""


def test_kill_and_resume(tmp_path):
    g = _genome(tmp_path / "g.fa", n_contigs=2, length=20_000)  # 80 windows, 16 shards
    env = dict(os.environ, PYTHONPATH=SRC, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", _KILLABLE, str(tmp_path / "db"), str(g)], env=env)
    man = tmp_path / "db" / "manifest.json"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if len(json.loads(man.read_text())["shards"]) >= 3:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    m = json.loads(man.read_text())
    assert not m["complete"] and 3 <= len(m["shards"]) < 16
    with pytest.raises(InputError, match="interrupted.*rerun"):  # a partial database is never served
        open_db(tmp_path / "db")
    r = build_db(tmp_path / "db", g, window=500, shard_size=5, batch_size=5, progress=False)
    assert r.resumed_shards >= 3
    build_db(tmp_path / "ref", g, window=500, shard_size=5, batch_size=5, progress=False)
    a, b = open_db(tmp_path / "db"), open_db(tmp_path / "ref")
    ka, va = a.vectors()
    kb, vb = b.vectors()
    np.testing.assert_array_equal(ka, kb)
    np.testing.assert_allclose(va, vb)
    assert a.metadata()["id"].tolist() == b.metadata()["id"].tolist()
    assert a.query_ids(["c1:501-1000"], k=5).equals(b.query_ids(["c1:501-1000"], k=5))


def test_torch_first_then_build_and_query(tmp_path):
    # guards the OpenMP clash: torch loaded first, then the index library, in one process
    g = _genome(tmp_path / "g.fa", n_contigs=1, length=5000)
    code = (
        "import torch, sys\n"
        "from genolm.db.store import build_db, open_db\n"
        "build_db(sys.argv[1], sys.argv[2], window=500, engine='usearch', progress=False)\n"
        "h = open_db(sys.argv[1]).query_ids(['c0:1-500'], k=3)\n"
        "assert h['id'].iloc[0] == 'c0:1-500', h\n"
        "print('ok', torch.ones(2).sum().item())\n"
    )
    env = dict(os.environ, PYTHONPATH=SRC, OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "db"), str(g)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ok 2.0" in out.stdout


def test_cli_build_query(tmp_path, capsys):
    from genolm.cli.main import main

    g = _genome(tmp_path / "g.fa", n_contigs=2, length=3000)
    assert main(["-q", "db", "build", "--out", str(tmp_path / "db"), str(g), "--window", "1000"]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "db",
                "query",
                str(tmp_path / "db"),
                "--region",
                "c0:1-1000",
                "--where",
                "contig != query.contig",
                "-k",
                "2",
                "--out",
                "-",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split("\t")[:4] == ["query", "rank", "score", "id"] and len(lines) == 3
    assert all(row.split("\t")[5] == "c1" for row in lines[1:])
    assert (
        main(
            ["db", "query", str(tmp_path / "db"), "--seq", "ACGT" * 50, "--out", str(tmp_path / "h.parquet")]
        )
        == 0
    )
    import pandas as pd

    assert len(pd.read_parquet(tmp_path / "h.parquet")) == 6
    # a different model than the database's: exit 2, naming both
    assert main(["db", "query", str(tmp_path / "db"), "--seq", "ACGT" * 50, "--model", "genolm-tiny"]) == 2
    assert "'tnf'" in capsys.readouterr().err


def test_usearch_rerank_recall_and_persistence(tmp_path):
    """i8 graph alone loses recall on tight clusters; re-ranking against float32 restores it, and
    survives save / memory-mapped load / delete / add."""
    from genolm.db.engine import USearchEngine

    x, q = _clustered(1500), _clustered(60, seed=3)
    keys = np.arange(len(x)) * 7 + 1
    ref = ExactEngine(x.shape[1])
    ref.add(keys, x)
    want = ref.search(q, 10)

    def rec(res):
        return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(want.keys, res.keys)])

    e = USearchEngine(x.shape[1], dtype="i8")
    e.add(keys[:700], x[:700])  # two adds: the re-scoring store joins its chunks
    e.add(keys[700:], x[700:])
    got = e.search(q, 10)
    assert rec(got) >= 0.99
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-5)  # exact scores, not i8 ones
    e.rerank = False
    assert rec(e.search(q, 10)) < rec(got)  # the bare i8 graph is worse here (measured 0.81 on 800)
    e.rerank = True
    e.save(tmp_path / "ix")
    back = USearchEngine.load(tmp_path / "ix")
    assert isinstance(back._rk_vecs, np.memmap)  # re-scoring vectors are memory-mapped
    assert rec(back.search(q, 10)) >= 0.99
    w = USearchEngine.load(tmp_path / "ix", view=False)
    assert w.delete(keys[:5]) == 5
    assert not np.isin(w.search(q, 10).keys, keys[:5]).any()
    w.add(keys[:5], x[:5])
    assert rec(w.search(q, 10)) >= 0.99
