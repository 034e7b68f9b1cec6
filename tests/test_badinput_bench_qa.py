"""Bad input to `genolm biotokens qa`, `report`, `resplit` and `audit`: a clear error naming the
option, file, line or record, never a traceback or a silently dropped or wrong result."""

from __future__ import annotations

import json
import logging
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from genolm.bench import audit as A
from genolm.cli.main import main
from genolm.errors import ConfigError, InputError


def _jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _seqs(n, seed, L=50):
    rnd = random.Random(seed)
    return ["".join(rnd.choice("ACGT") for _ in range(L)) for _ in range(n)]


def _table(path: Path, seqs, labels) -> Path:
    path.write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in zip(seqs, labels)))
    return path


# --- bug 1: biotokens qa ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "choices, answer, index",
    [
        (["G", "A"], "A", 1),  # the text of the second choice, not the letter of the first
        (["A", "C", "G", "T"], "C", 1),
        (["A", "C", "G", "T"], "T", 3),
        (["yes", "no"], "B", 1),  # a letter still works where no choice is that text
        (["yes", "no"], "b", 1),
        (["G", "A"], 0, 0),
        (["C", "G"], "G", 1),
    ],
)
def test_qa_answer_that_is_a_choice_text_means_that_choice(tmp_path, choices, answer, index):
    from genolm.llm.mcq import load_mcq

    q = {"question": "Which base pairs with T?", "choices": choices, "answer": answer}
    (item,) = load_mcq(_jsonl(tmp_path / "q.jsonl", [q]))
    assert item.answer == index


def test_qa_letter_that_is_another_choice_up_to_case_is_ambiguous(tmp_path):
    from genolm.llm.mcq import load_mcq

    q = {"id": "q9", "question": "Which base pairs with T?", "choices": ["G", "A"], "answer": "a"}
    p = _jsonl(tmp_path / "amb.jsonl", [{"question": "x", "choices": ["a", "b"], "answer": 0}, q])
    with pytest.raises(InputError, match=r"amb\.jsonl, line 2, record 'q9': 'answer' 'a' is ambiguous") as e:
        load_mcq(p)
    assert "index" in str(e.value)


def test_qa_dna_without_biotoken_names_file_line_and_question(tmp_path):
    from genolm.llm.mcq import check_dna, format_question, load_mcq

    rows = [
        {"id": "ok", "question": "x", "choices": ["a", "b"], "answer": 0, "dna": "ACGT"},
        {"id": "q7", "question": "x", "choices": ["a", "b"], "answer": 0, "dna": "ACGTXX!!"},
    ]
    items = load_mcq(_jsonl(tmp_path / "q.jsonl", rows))
    want = r"q\.jsonl, line 2, record 'q7', position 4: 'dna': no biotoken for 'X'"
    with pytest.raises(InputError, match=want):
        check_dna(items)
    with pytest.raises(InputError, match=want):
        format_question(items[1])


def test_cli_export_lm_eval_refuses_bad_dna_before_writing(tmp_path, cli_error):
    rows = [{"id": "q7", "question": "x", "choices": ["a", "b"], "answer": 0, "dna": "ACGTXX!!"}]
    q = _jsonl(tmp_path / "q.jsonl", rows)
    out = tmp_path / "tasks"
    err = cli_error(["biotokens", "export-lm-eval", "--questions", str(q), "--out", str(out)])
    assert "q.jsonl, line 1, record 'q7', position 4" in err and "'X'" in err
    assert not out.exists()


# --- bugs 2 and 3: report --------------------------------------------------------------------


@dataclass
class _Split:
    sequences: list
    labels: np.ndarray
    ids: list


class _Task:
    def __init__(self, name, splits):
        self.name, self.version, self.task_type, self.metric = name, 1, "binary", "mcc"
        self.max_length, self.labels, self._splits = None, ["neg", "pos"], splits

    def load_splits(self):
        return dict(self._splits)


@pytest.fixture(scope="module")
def bench_src(tmp_path_factory) -> Path:
    """A finished bench folder (the k-mer LR baseline, one seed) with its summary.json."""
    from genolm.bench.runner import BenchConfig, run_bench

    root = tmp_path_factory.mktemp("bench") / "out"
    rng = np.random.default_rng(0)
    s, t = _seqs(40, 1), _seqs(30, 2)
    task = _Task(
        "toy/gc",
        {
            "train": _Split(s, rng.integers(0, 2, 40), list(range(40))),
            "test": _Split(t, rng.integers(0, 2, 30), list(range(30))),
        },
    )
    cfg = BenchConfig(
        models=[],
        modes=[],
        seeds=1,
        out_dir=str(root),
        baselines=["kmer-lr"],
        random_init=False,
        n_boot=100,
        progress=False,
        report=True,
        threads=1,
    )
    run_bench(cfg, [task])
    assert (root / "summary.json").exists()
    return root


@pytest.fixture
def bench(bench_src, tmp_path) -> Path:
    out = tmp_path / "b"
    shutil.copytree(bench_src, out)
    return out


def _record(bench: Path) -> Path:
    (p,) = (bench / "runs").glob("*/*/*/seed*.json")
    return p


def test_report_of_a_good_bench_works(bench):
    assert main(["report", str(bench)]) == 0


@pytest.mark.parametrize("keep_summary", [True, False])
def test_report_refuses_a_damaged_run_record(bench, keep_summary, cli_error):
    rec = _record(bench)
    rec.write_text("{bad")
    if not keep_summary:
        (bench / "summary.json").unlink()
    err = cli_error(["report", str(bench)])
    assert str(rec) in err and "not valid JSON" in err


def test_read_runs_refuses_a_record_that_is_not_an_object(bench):
    from genolm.bench.records import read_runs

    rec = _record(bench)
    rec.write_text("[1, 2]")
    with pytest.raises(InputError, match=r"seed0\.json: run record is damaged: a JSON list"):
        read_runs(bench)


def test_read_runs_warns_about_a_record_of_another_schema(bench, caplog):
    from genolm.bench.records import read_runs

    rec = _record(bench)
    rec.write_text(json.dumps({"schema": "genolm-bench-run/99"}))
    with caplog.at_level(logging.WARNING):
        assert read_runs(bench) == {}
    assert str(rec) in caplog.text and "genolm-bench-run/99" in caplog.text


@pytest.mark.parametrize(
    "field, value, says",
    [
        ("metrics", {"mcc": 0.99}, "'metrics.mcc' must be an object"),
        ("metrics", {"mcc": {"estimate": "high"}}, "'metrics.mcc.estimate' must be a number"),
        ("metrics", [0.99], "'metrics' must be an object"),
        ("params", {"total": "1", "trainable": 1}, "'params.total' must be an integer"),
        ("seed", "0", "'seed' must be an integer"),
        ("entry", {"name": "x", "kind": "model"}, "'entry.mode' must be a string"),
    ],
)
@pytest.mark.parametrize("n_boot", [[], ["--n-boot", "100"]])
def test_report_names_the_run_file_and_a_field_of_the_wrong_type(
    bench, field, value, says, n_boot, cli_error
):
    rec = _record(bench)
    obj = json.loads(rec.read_text())
    obj[field] = value
    rec.write_text(json.dumps(obj))
    err = cli_error(["report", str(bench), *n_boot])
    assert str(rec) in err and says in err


@pytest.mark.parametrize("n", ["-5", "0", "x"])
def test_report_refuses_a_bad_n_boot(bench, n, cli_error):
    err = cli_error(["report", str(bench), "--n-boot", n])
    assert "--n-boot" in err and "integer >= 1" in err


def test_report_refuses_too_few_resamples_for_an_interval(bench, cli_error):
    err = cli_error(["report", str(bench), "--n-boot", "50"])
    assert "n_boot must be at least 100 for a 95 % interval, got 50" in err


# --- bug 4: resplit --------------------------------------------------------------------------


@pytest.fixture
def tables(tmp_path):
    tr = _table(tmp_path / "tr.csv", _seqs(30, 1), [0, 1] * 15)
    te = _table(tmp_path / "te.csv", _seqs(10, 2), [0, 1] * 5)
    return tr, te


@pytest.mark.parametrize("opt, value", [("--jaccard", "-1"), ("--jaccard", "3"), ("--cluster-jaccard", "0")])
def test_resplit_refuses_a_jaccard_outside_0_1(tables, tmp_path, opt, value, cli_error):
    tr, te = tables
    out = tmp_path / "rs"
    err = cli_error(["resplit", "--train", str(tr), "--test", str(te), "--out", str(out), opt, value])
    assert f"{opt} must be in (0, 1]" in err
    assert not out.exists()


@pytest.mark.parametrize("jaccard", [-1.0, 0.0, 3.0, float("nan")])
def test_resplit_function_shares_the_audit_jaccard_check(tables, jaccard):
    splits = {"train": (_seqs(5, 1), [0, 1, 0, 1, 0]), "test": (_seqs(5, 2), [0, 1, 0, 1, 0])}
    with pytest.raises(ConfigError, match=r"jaccard must be in \(0, 1\]"):
        A.resplit(splits, jaccard=jaccard)
    with pytest.raises(ConfigError, match=r"jaccard must be in \(0, 1\]"):
        A.AuditThresholds(jaccard=jaccard)


def test_resplit_refuses_a_text_label_before_writing_anything(tables, tmp_path, cli_error):
    tr, _ = tables
    te = _table(tmp_path / "te_badlab.csv", _seqs(4, 3), [0, 1, "x", 0])
    out = tmp_path / "rs"
    err = cli_error(["resplit", "--train", str(tr), "--test", str(te), "--out", str(out)])
    assert "te_badlab.csv, line 4" in err and "'x'" in err
    assert not out.exists()


# --- bugs 5 and 6: audit ---------------------------------------------------------------------


@pytest.mark.parametrize("test_labels", [[0, 1, 2, 0] * 5, [0.5, 1.5] * 10])
def test_audit_flags_test_labels_train_never_has(tables, tmp_path, test_labels):
    tr, _ = tables
    te = _table(tmp_path / "te_new.csv", _seqs(20, 4), test_labels)
    out = tmp_path / "audit.json"
    rc = main(["audit", "--train", str(tr), "--test", str(te), "--out", str(out)])
    report = json.loads(out.read_text())
    check = next(c for c in report["checks"] if c["name"] == "unseen_labels")
    assert check["status"] == "FAIL" and report["verdict"] == "FAIL" and rc == 1
    assert "have a label train never has" in check["message"]


def test_audit_unseen_labels_warns_for_a_few_rows_and_passes_otherwise():
    tr = (_seqs(40, 1), np.array([0, 1, 2, 3] * 10))
    few = (_seqs(200, 2), np.array([0, 1, 2, 3] * 49 + [0, 1, 2, 7]))  # 1 of 200: 0.5 %
    report = A.audit_splits({"train": tr, "test": few}, task_type="multiclass")
    check = next(c for c in report.checks if c.name == "unseen_labels")
    assert check.status == "WARN" and check.examples == [{"query_id": 199, "query_label": 7}]
    same = (_seqs(20, 3), np.array([0, 1, 2, 3] * 5))
    report = A.audit_splits({"train": tr, "test": same}, task_type="multiclass")
    assert next(c for c in report.checks if c.name == "unseen_labels").status == "PASS"
    # regression labels are not classes: not checked
    reg = {"train": (_seqs(20, 1), np.linspace(0, 1, 20)), "test": (_seqs(10, 2), np.linspace(2, 3, 10))}
    report = A.audit_splits(reg, task_type="regression")
    assert next(c for c in report.checks if c.name == "unseen_labels").status == "SKIP"


def test_audit_names_a_text_label_its_file_and_line(tables, tmp_path, cli_error):
    tr, _ = tables
    te = _table(tmp_path / "te_badlab.csv", _seqs(4, 3), [0, 1, "x", 0])
    err = cli_error(["audit", "--train", str(tr), "--test", str(te)])
    assert "te_badlab.csv, line 4" in err and "label 'x'" in err


def test_audit_splits_names_a_text_label_and_its_id():
    splits = {
        "train": (_seqs(4, 1), np.array([0, 1, 0, 1])),
        "test": (_seqs(3, 2), np.array(["0", "oops", "1"], dtype=object), ["a", "b", "c"]),
    }
    with pytest.raises(InputError, match=r"record 'b': label 'oops' in split 'test' is not a number"):
        A.audit_splits(splits)
    mixed = {"train": (_seqs(3, 1), np.array([0, "x", 1], dtype=object)), "test": (_seqs(2, 2), [0, 1])}
    with pytest.raises(InputError, match=r"record '1': split 'train': label 'x' is text"):
        A.audit_splits(mixed)


def test_biotokens_extend_on_a_masked_dna_lm_says_what_is_needed(tiny_gpn_dir, tmp_path, cli_error):
    err = cli_error(["biotokens", "extend", "--base", str(tiny_gpn_dir), "--out", str(tmp_path / "x")])
    assert "not a causal (decoder) language model: its config is GenolmGPNConfig" in err
    assert len(err) < 1000  # not transformers' list of every class it would accept
