import json

import numpy as np
import pandas as pd

from genolm.alphabet import reverse_complement
from genolm.cli.main import main


def _random(n, L, rng):
    return ["".join(rng.choice(list("ACGT"), L)) for _ in range(n)]


def test_resplit_clean_removes_leaks_and_writes_a_manifest(tmp_path, capsys):
    rng = np.random.default_rng(0)
    train = _random(200, 80, rng)
    # the test set leaks 5 exact copies and 5 reverse complements of training sequences
    test = _random(40, 80, rng) + train[:5] + [reverse_complement(s) for s in train[5:10]]
    pd.DataFrame({"sequence": train, "label": rng.integers(0, 2, 200)}).to_csv(
        tmp_path / "train.csv", index=False
    )
    pd.DataFrame({"sequence": test, "label": rng.integers(0, 2, 50)}).to_csv(
        tmp_path / "test.csv", index=False
    )
    out = tmp_path / "clean"
    rc = main(
        [
            "resplit",
            "--train",
            str(tmp_path / "train.csv"),
            "--test",
            str(tmp_path / "test.csv"),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    new_test = pd.read_csv(out / "test.csv")
    assert len(new_test) == 40 and not set(new_test["sequence"]) & set(train)
    manifest = json.loads((out / "resplit_manifest.json").read_text())
    assert "clean" in json.dumps(manifest)
    text = capsys.readouterr().out
    assert "test         50 ->       40" in text


def _write(tmp_path, name, seqs, labels, ids, **extra):
    df = pd.DataFrame({"id": ids, "sequence": seqs, "label": labels, **extra})
    df.to_csv(tmp_path / f"{name}.csv", index=False)
    return str(tmp_path / f"{name}.csv")


def _mutate(seq, n, rng):
    s = list(seq)
    for i in rng.choice(len(s), n, replace=False):
        s[i] = rng.choice([b for b in "ACGT" if b != s[i]])
    return "".join(s)


def test_resplit_group_by_contig_keeps_each_contig_on_one_side(tmp_path, capsys):
    rng = np.random.default_rng(1)
    contig = [f"chr{c}" for c in rng.integers(1, 9, 300)]
    ids = [f"{c}:{1000 * i + 1}-{1000 * i + 100}(+)" for i, c in enumerate(contig)]  # make-task ids
    seqs, labels = _random(300, 100, rng), rng.integers(0, 2, 300)
    is_test = rng.random(300) < 0.25
    assert len({c for c, t in zip(contig, is_test) if t} & {c for c, t in zip(contig, is_test) if not t}) == 8
    sel = {"train": ~is_test, "test": is_test}
    paths = {n: _write(tmp_path, n, np.array(seqs)[m], labels[m], np.array(ids)[m]) for n, m in sel.items()}
    out = tmp_path / "by_contig"
    argv = ["resplit", "--train", paths["train"], "--test", paths["test"], "--id-col", "id"]
    assert main(argv + ["--group-by", "contig", "--out", str(out)]) == 0
    new = {n: pd.read_csv(out / f"{n}.csv") for n in ("train", "test")}
    side = {n: {i.split(":")[0] for i in df["id"]} for n, df in new.items()}
    assert side["train"] and side["test"] and not side["train"] & side["test"]  # no contig straddles
    assert len(new["train"]) + len(new["test"]) == 300  # nothing dropped
    assert 0.1 < len(new["test"]) / 300 < 0.45  # sizes stay near 75/25, not all in train
    manifest = json.loads((out / "resplit_manifest.json").read_text())
    assert manifest["params"]["group_by"] == "contig" and manifest["params"]["n_contigs"] == 8
    assert manifest["changes"][0]["reason"].startswith("contig chr")
    # the same from a contig column, with ids that are not regions
    plain = {n: _write(tmp_path, f"{n}_col", np.array(seqs)[m], labels[m], np.arange(300)[m],
                       chrom=np.array(contig)[m]) for n, m in sel.items()}  # fmt: skip
    out2 = tmp_path / "by_col"
    argv = [
        "resplit",
        "--train",
        plain["train"],
        "--test",
        plain["test"],
        "--id-col",
        "id",
        "--group-by",
        "contig",
    ]
    assert main(argv + ["--contig-col", "chrom", "--out", str(out2)]) == 0
    assert pd.read_csv(out2 / "test.csv")["id"].tolist() == [ids.index(i) for i in new["test"]["id"]]
    # ids that name no contig: an error saying how to give one (guards against one big group)
    assert main(argv + ["--out", str(tmp_path / "x")]) == 2
    assert "--contig-col" in capsys.readouterr().err


def test_resplit_group_by_cluster_keeps_homologous_families_together(tmp_path):
    rng = np.random.default_rng(2)
    ancestors = _random(30, 200, rng)
    family = np.repeat(np.arange(30), 6)
    # 2 substitutions per member: members of a family share most of their k-mers, families none
    seqs = [_mutate(ancestors[f], 2, rng) for f in family]
    labels = family % 2
    is_test = rng.random(len(seqs)) < 0.3
    straddle = {f for f in range(30) if 0 < is_test[family == f].sum() < 6}
    assert len(straddle) > 15  # a random split leaks most families
    sel = {"train": ~is_test, "test": is_test}
    paths = {n: _write(tmp_path, n, np.array(seqs)[m], labels[m], np.arange(180)[m]) for n, m in sel.items()}
    out = tmp_path / "by_cluster"
    argv = ["resplit", "--train", paths["train"], "--test", paths["test"], "--id-col", "id"]
    assert main(argv + ["--group-by", "cluster", "--cluster-jaccard", "0.5", "--out", str(out)]) == 0
    new = {n: pd.read_csv(out / f"{n}.csv") for n in ("train", "test")}
    fam = {n: set(family[df["id"].to_numpy()]) for n, df in new.items()}
    assert fam["test"] and not fam["train"] & fam["test"]  # no family straddles train / test
    assert len(new["train"]) + len(new["test"]) == 180
    params = json.loads((out / "resplit_manifest.json").read_text())["params"]
    assert params["n_clusters"] == 30 and params["clusters_spanning_splits"] == len(straddle)
