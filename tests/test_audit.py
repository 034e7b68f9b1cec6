import json

import numpy as np
import pandas as pd
import pytest

from genolm.alphabet import reverse_complement
from genolm.bench import audit as A
from genolm.cli.main import main
from genolm.errors import ConfigError


def _random_seqs(n, L=100, seed=0, gc=0.5):
    rng = np.random.default_rng(seed)
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    b = np.frombuffer(b"ACGT", np.uint8)[rng.choice(4, size=(n, L), p=p)]
    return [r.tobytes().decode() for r in b]


def _mutate(seq, m, seed=0):
    rng = np.random.default_rng(seed)
    s = list(seq)
    for i in rng.choice(len(s), m, replace=False):
        s[i] = "ACGT"[("ACGT".index(s[i]) + 1) % 4]
    return "".join(s)


@pytest.fixture(scope="module")
def clean():
    rng = np.random.default_rng(0)
    train, test = _random_seqs(2000, seed=1), _random_seqs(500, seed=2)
    return {"train": (train, rng.integers(0, 2, 2000)), "test": (test, rng.integers(0, 2, 500))}


def _check(report, name, splits="train/test"):
    return next(c for c in report.checks if c.name == name and c.splits == splits)


def test_clean_random_split_passes(clean):
    report = A.audit_splits(clean)
    assert report.verdict == "PASS", report.table()
    assert {c.name for c in report.checks} >= {
        "exact_duplicates",
        "rc_duplicates",
        "near_duplicates",
        "shortcut_gc",
    }
    json.loads(json.dumps(report.to_dict()))  # stored with results: must be plain JSON


def test_exact_rc_and_near_duplicates_are_caught(clean):
    train, ytr = clean["train"]
    test, yte = list(clean["test"][0]), clean["test"][1]
    test[0] = train[10]
    test[1] = reverse_complement(train[11]).lower()  # case must not hide a duplicate
    test[2] = _mutate(train[12], 1)  # one substitution: k-mer Jaccard ~0.85
    report = A.audit_splits({"train": (train, ytr), "test": (test, yte, [f"t{i}" for i in range(500)])})
    exact, rc, near = (_check(report, n) for n in ("exact_duplicates", "rc_duplicates", "near_duplicates"))
    assert exact.status == rc.status == "WARN"  # 1 of 500 = 0.2 %: any duplicate warns, > 1 % fails
    assert exact.examples[0]["ref_id"] == 10 and exact.examples[0]["query_id"] == "t0"
    assert rc.examples[0]["query_id"] == "t1"
    assert near.details["query_count"] == 3  # near-duplicates include exact and RC copies (Jaccard 1)
    assert {e["query_id"] for e in near.examples} == {"t0", "t1", "t2"}
    assert report.verdict == "WARN"


def test_many_duplicates_fail(clean):
    train, ytr = clean["train"]
    test = list(clean["test"][0])
    test[:20] = train[:20]  # 4 % of test
    report = A.audit_splits({"train": (train, ytr), "test": (test, clean["test"][1])})
    assert _check(report, "exact_duplicates").status == "FAIL"
    assert _check(report, "near_duplicates").status == "WARN"  # 4 %: warn > 1 %, fail > 5 %


def test_test_set_containing_the_training_set_fails():
    train = _random_seqs(200, seed=3)
    test = _random_seqs(5000, seed=4) + train  # only 4 % of test, but 100 % of train
    rng = np.random.default_rng(0)
    report = A.audit_splits(
        {"train": (train, rng.integers(0, 2, 200)), "test": (test, rng.integers(0, 2, 5200))}
    )
    assert _check(report, "exact_duplicates").value == 1.0
    assert report.verdict == "FAIL"
    assert report.violates("fail") and report.violates("warn") and not report.violates("never")
    # a leaky benchmark must stop the run, not just print a warning
    with pytest.raises(A.LeakAuditError, match="verdict FAIL"):
        report.enforce("fail")
    with pytest.raises(A.LeakAuditError, match="exact_duplicates"):
        A.audit_splits({"train": (train, None), "test": (test, None)}, fail_on="fail")


def test_planted_gc_shortcut_is_caught():
    rng = np.random.default_rng(5)
    y_tr, y_te = rng.integers(0, 2, 1000), rng.integers(0, 2, 400)
    rich_tr, poor_tr = _random_seqs(1000, seed=6, gc=0.65), _random_seqs(1000, seed=7, gc=0.35)
    rich_te, poor_te = _random_seqs(400, seed=8, gc=0.65), _random_seqs(400, seed=9, gc=0.35)
    train = [rich_tr[i] if y else poor_tr[i] for i, y in enumerate(y_tr)]
    test = [rich_te[i] if y else poor_te[i] for i, y in enumerate(y_te)]
    report = A.audit_splits({"train": (train, y_tr), "test": (test, y_te)})
    gc = _check(report, "shortcut_gc")
    assert gc.status == "FAIL" and gc.value > 0.8
    assert _check(report, "shortcut_length").status == "PASS"
    assert report.verdict == "FAIL"


def test_length_shortcut_multiclass_and_valid_split():
    rng = np.random.default_rng(10)
    y = rng.integers(0, 3, 900)
    seqs = [s[: 60 + 20 * c] for s, c in zip(_random_seqs(900, L=120, seed=11), y)]
    splits = {
        "train": (seqs[:600], y[:600]),
        "valid": (seqs[600:750], y[600:750]),
        "test": (seqs[750:], y[750:]),
    }
    report = A.audit_splits(splits, task_type="auto")
    assert report.params["task_type"] == "multiclass"
    assert _check(report, "shortcut_length", "train/valid").status == "FAIL"
    assert {c.splits for c in report.checks if c.name == "exact_duplicates"} == {
        "train/valid",
        "train/test",
        "valid/test",
    }


def test_minhash_estimates_jaccard():
    base = _random_seqs(1, L=300, seed=12)[0]
    k = 8
    for m in (0, 2, 5, 10, 30):
        other = _mutate(base, m, seed=m)
        a, _ = A.kmer_codes([base], k, canonical=True)
        b, _ = A.kmer_codes([other], k, canonical=True)
        a, b = set(a.tolist()), set(b.tolist())
        true = len(a & b) / len(a | b)
        sig = A.minhash_signatures([base, other], k=k, num_perm=256)
        assert abs(A.jaccard_from_signatures(sig[0], sig[1]) - true) < 0.08, (m, true)


def test_kmer_codes_match_a_naive_count():
    seqs = ["ACGTN", "GGTAC", "AC", "acgt"]
    codes, sid = A.kmer_codes(seqs, 3)
    naive = []
    for i, s in enumerate(seqs):
        for j in range(len(s) - 2):
            w = s[j : j + 3].upper()
            if "N" not in w:
                naive.append((i, int("".join(str("ACGT".index(c)) for c in w), 4)))
    assert list(zip(sid.tolist(), codes.tolist())) == naive
    c, _ = A.kmer_codes(["ACG", reverse_complement("ACG")], 3, canonical=True)
    assert c[0] == c[1]


def test_lsh_bands_reach_the_threshold():
    b, r = A.lsh_bands(128, 0.8)
    assert b * r <= 128 and 1 - (1 - 0.8**r) ** b >= 0.99


def test_thresholds_are_validated():
    # a typo in a threshold name must not be ignored silently
    with pytest.raises(ConfigError, match="Did you mean 'near_fail'"):
        A.AuditThresholds.from_dict({"near_fial": 0.1})
    # WARN above FAIL makes no sense
    with pytest.raises(ConfigError, match="duplicate_warn <= duplicate_fail"):
        A.AuditThresholds(duplicate_warn=0.5, duplicate_fail=0.1)


def test_resplit_clean_removes_leaks_and_says_why(clean, tmp_path):
    train, ytr = clean["train"]
    test = list(clean["test"][0])
    test[0], test[1], test[2] = train[0], reverse_complement(train[1]), _mutate(train[2], 1)
    splits = {"train": (train, ytr), "test": (test, clean["test"][1])}
    new, manifest = A.resplit(splits, out_dir=tmp_path)
    reasons = {c["id"]: c["reason"] for c in manifest["changes"]}
    assert reasons == {0: "exact duplicate", 1: "reverse-complement duplicate", 2: "near duplicate"}
    assert manifest["counts"]["test"] == {"before": 500, "after": 497}
    assert len(splits["test"][0]) == 500  # input untouched
    assert A.audit_splits(new).verdict == "PASS"
    assert (tmp_path / "test.csv").exists() and (tmp_path / "resplit_manifest.json").exists()


def test_resplit_group_keeps_components_in_one_split():
    seqs = _random_seqs(300, seed=13)
    family = [_mutate(seqs[0], 1, seed=s) for s in range(4)]
    # the family (seqs[0] + 4 one-substitution copies) spans train (3 members) and test (2)
    splits = {"train": (seqs[:200] + family[:2], None), "test": (seqs[200:] + family[2:], None)}
    new, manifest = A.resplit(splits, mode="group")
    assert manifest["counts"]["test"]["after"] == 100  # the 2 test members joined the majority in train
    moved = [c for c in manifest["changes"] if c["action"] == "moved"]
    assert len(moved) == 2 and all(c["to"] == "train" for c in moved)
    assert sum(len(s[0]) for s in new.values()) == 304  # nothing dropped


def _write(tmp_path, name, seqs, labels):
    path = tmp_path / name
    pd.DataFrame({"sequence": seqs, "label": labels}).to_csv(path, index=False)
    return str(path)


def test_cli_audit(tmp_path, capsys):
    rng = np.random.default_rng(14)
    train = _random_seqs(300, seed=15)
    tr = _write(tmp_path, "train.csv", train, rng.integers(0, 2, 300))
    te = _write(tmp_path, "test.csv", _random_seqs(100, seed=16), rng.integers(0, 2, 100))
    out = tmp_path / "audit.json"
    assert main(["audit", "--train", tr, "--test", te, "--out", str(out)]) == 0
    assert "verdict: PASS" in capsys.readouterr().out
    assert json.loads(out.read_text())["verdict"] == "PASS"
    leaky = _write(tmp_path, "leaky.csv", train[:50], rng.integers(0, 2, 50))
    # a FAIL verdict must give a non-zero exit code so that scripts stop
    assert main(["audit", "--train", tr, "--test", leaky]) == 1
    assert "reaches --fail-on fail" in capsys.readouterr().err
    assert main(["audit", "--train", tr, "--test", leaky, "--fail-on", "never"]) == 0
    # a misspelled threshold is a usage error (exit 2) that suggests the right key
    assert main(["audit", "--train", tr, "--test", te, "--threshold", "near_fial=0.1"]) == 2
    assert "Did you mean 'near_fail'" in capsys.readouterr().err


def test_embedding_neighbour_check_reports_a_planted_near_copy_without_gating(clean):
    train, ytr = clean["train"]
    test, yte = list(clean["test"][0]), clean["test"][1]
    base = A.audit_splits({"train": (train, ytr), "test": (test, yte)})
    calm = _check(base, "embedding_neighbours")
    assert calm.status == "PASS" and calm.details["count"] <= 15  # ~1 % by chance
    # plant near-copies: a few substitutions each, far closer than random train rows are to each other
    for i in range(40):
        test[i] = _mutate(train[100 + i], 3, seed=i)
    ids = [f"t{i}" for i in range(len(test))]
    report = A.audit_splits({"train": (train, ytr), "test": (test, yte, ids)})
    nb = _check(report, "embedding_neighbours")
    assert nb.status == "WARN" and nb.details["count"] >= 40 and nb.value > 0.05
    planted = {f"t{i}" for i in range(40)}
    assert {ex["query_id"] for ex in nb.examples} <= planted
    assert nb.examples[0]["ref_id"] == 100 + int(nb.examples[0]["query_id"][1:])
    assert "embedding_neighbours" in report.table() and "not gated" in nb.message
    # reported, not gated: the verdict comes from the other checks only
    others = [c.status for c in report.checks if c.name != "embedding_neighbours"]
    assert report.verdict == max(others, key=lambda s: A._SEVERITY[s])
    assert "embedding_neighbours" not in {
        c.name for c in A.audit_splits(clean, neighbour_embedder=None).checks
    }
