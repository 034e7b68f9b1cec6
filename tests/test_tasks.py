"""Benchmark tasks as data: schema, loaders for every format, bad input, registries, suites."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from genolm.alphabet import reverse_complement
from genolm.bench import tasks as T
from genolm.bench.tasks import SUITES, TASKS, Task, TaskSplit, load_suite, load_task, task_from_dict
from genolm.errors import ConfigError, InputError
from genolm.registry import UnknownNameError

ROOT = Path(__file__).resolve().parents[1]
SEQS = ["ACGTACGTAC", "GGGCCCAATT", "TTTTAAAACC", "ACACACACAC", "GATTACAGAT", "CCGGCCGGAA"]


def _write_task(tmp_path: Path, doc: dict, name: str = "task.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def _table_task(tmp_path, files: dict, **extra) -> Path:
    doc = {
        "name": "t/table",
        "task_type": "binary",
        "labels": ["neg", "pos"],
        "data": {"splits": files, **extra.pop("data", {})},
        **extra,
    }
    return _write_task(tmp_path, doc)


def _frame(n=6, offset=0):
    return pd.DataFrame(
        {
            "sequence": SEQS[:n],
            "label": [(i + offset) % 2 for i in range(n)],
            "id": [f"r{i}" for i in range(n)],
        }
    )


# --- schema -------------------------------------------------------------------------------


def test_typo_in_task_key_suggests_the_key(tmp_path):
    # guards against a misspelt key being silently ignored
    p = _write_task(
        tmp_path,
        {"name": "t/x", "task_type": "binary", "descripton": "d", "data": {"splits": {"train": "a.csv"}}},
    )
    with pytest.raises(ConfigError, match=r"unknown key 'descripton'\. Did you mean 'description'") as e:
        load_task(p)
    assert str(p) in str(e.value)


def test_typo_in_data_key_and_values_suggest(tmp_path):
    with pytest.raises(ConfigError, match="Did you mean 'sequence_column'"):
        task_from_dict(
            {"name": "t/x", "task_type": "binary", "data": {"splits": {"train": "a"}, "sequence_colum": "s"}}
        )
    with pytest.raises(ConfigError, match="Did you mean 'binary'"):
        task_from_dict({"name": "t/x", "task_type": "binray", "data": {"splits": {"train": "a"}}})
    with pytest.raises(ConfigError, match="Did you mean 'valid'"):
        task_from_dict(
            {"name": "t/x", "task_type": "binary", "data": {"splits": {"train": "a", "vaild": "b"}}}
        )
    with pytest.raises(ConfigError, match="metric for a regression task"):
        task_from_dict(
            {"name": "t/x", "task_type": "regression", "metric": "mcc", "data": {"splits": {"train": "a"}}}
        )


def test_schema_rules():
    base = {"name": "t/x", "task_type": "binary"}
    with pytest.raises(ConfigError, match="needs a split_policy"):
        task_from_dict({**base, "data": {"classes": {"a": "a.fa", "b": "b.fa"}}})
    with pytest.raises(ConfigError, match="pinned 'revision'"):
        task_from_dict({**base, "data": {"hub": "org/ds", "splits": {"train": "train"}}})
    with pytest.raises(ConfigError, match="say where the data is"):
        task_from_dict({**base, "data": {"sequence_column": "s"}})
    with pytest.raises(ConfigError, match="sum to 1"):
        task_from_dict(
            {**base, "data": {"file": "a.csv"}, "split_policy": {"fractions": {"train": 0.5, "test": 0.2}}}
        )
    with pytest.raises(ConfigError, match="binary task has 2 labels"):
        task_from_dict({**base, "labels": ["a", "b", "c"], "data": {"splits": {"train": "a.csv"}}})
    t = task_from_dict({**base, "data": {"splits": {"train": "a.csv"}}})
    assert t.metric == "mcc" and t.version == 1
    assert (
        task_from_dict({"name": "t/r", "task_type": "regression", "data": {"splits": {"train": "a"}}}).metric
        == "spearman"
    )


# --- contract over every registered task and suite ------------------------------------------


@pytest.mark.parametrize("name", TASKS.names())
def test_every_registered_task_is_well_formed(name):
    task = load_task(name)
    assert task.name == name and task.task_type in T.TASK_TYPES
    assert task.metric in T.METRICS[task.task_type]
    assert task.description and task.source and task.citation and task.license
    assert task.path is not None and task.path.is_file()
    assert TASKS.help(name)  # `genolm ls tasks` prints one line per task
    if task.task_type in T.CLASSIFICATION:
        assert task.labels and (task.task_type != "binary" or len(task.labels) == 2)
    d = task.data
    if d.kind == "hub":
        assert re.fullmatch(r"[0-9a-f]{40}", d.revision) or d.revision == "main"
        if d.revision == "main":  # an unpinned revision must be explained in the YAML
            assert "main" in task.path.read_text()
        assert "train" in d.splits and "test" in d.splits
    # the parsed task round-trips through its dict form
    again = task_from_dict(task.to_dict(), path=task.path)
    assert again.to_dict() == task.to_dict()


@pytest.mark.parametrize("name", SUITES.names())
def test_every_registered_suite_resolves(name):
    tasks = load_suite(name)
    assert tasks and all(isinstance(t, Task) for t in tasks)
    assert len({t.name for t in tasks}) == len(tasks)


def test_builtin_suites_are_the_public_ones():
    assert {"mini", "gue", "nt-revised", "genomic-benchmarks", "plant-genomic-benchmark"} <= set(
        SUITES.names()
    )
    assert len(load_suite("nt-revised")) == 18 and len(load_suite("gue")) == 28
    assert load_task("gue/prom_core_all").data.splits == {"train": "train", "valid": "dev", "test": "test"}


def test_unknown_names_suggest():
    with pytest.raises(UnknownNameError, match="Did you mean 'gue/prom_core_all'"):
        load_task("gue/prom_cor_all")
    with pytest.raises(UnknownNameError, match="Did you mean 'mini'"):
        load_suite("minii")


# --- local loaders ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "jsonl", "csv.gz"])
def test_table_formats_load_the_same(tmp_path, fmt):
    train, test = _frame(), _frame(offset=1)
    for name, df in (("train", train), ("test", test)):
        path = tmp_path / f"{name}.{fmt}"
        if fmt in ("csv", "csv.gz"):
            df.to_csv(path, index=False)
        elif fmt == "tsv":
            df.to_csv(path, sep="\t", index=False)
        elif fmt == "parquet":
            df.to_parquet(path)
        else:
            df.to_json(path, orient="records", lines=True)
    p = _table_task(tmp_path, {"train": f"train.{fmt}", "test": f"test.{fmt}"}, data={"id_column": "id"})
    splits = load_task(p).load_splits()
    assert list(splits) == ["train", "test"]  # no valid split is invented
    sp = splits["test"]
    assert isinstance(sp, TaskSplit) and sp.sequences == SEQS and sp.ids == [f"r{i}" for i in range(6)]
    np.testing.assert_array_equal(sp.labels, [1, 0, 1, 0, 1, 0])
    assert sp.labels.dtype == np.int64


def test_fasta_per_class_with_seeded_stratified_split(tmp_path):
    rng = np.random.default_rng(0)
    for cls, n in (("neg", 40), ("pos", 20)):
        # every record named "DNA", as in CNNProm's non-promoter file
        recs = "".join(f">DNA {i}\n{''.join(rng.choice(list('ACGT'), 30))}\n" for i in range(n))
        (tmp_path / f"{cls}.fa").write_text(recs)
    doc = {
        "name": "t/fasta",
        "task_type": "binary",
        "labels": ["neg", "pos"],
        "data": {"classes": {"neg": "neg.fa", "pos": "pos.fa"}, "label_column": None, "on_duplicate": "keep"},
        "split_policy": {"method": "stratified", "fractions": {"train": 0.75, "test": 0.25}, "seed": 0},
    }
    p = _write_task(tmp_path, doc)
    a = load_task(p).load_splits()
    b = load_task(p).load_splits()
    assert a["test"].sequences == b["test"].sequences  # reproducible with the seed
    assert np.bincount(a["test"].labels).tolist() == [10, 5]  # stratified
    assert not set(a["train"].sequences) & set(a["test"].sequences)
    doc["split_policy"]["seed"] = 1
    c = load_task(_write_task(tmp_path, doc, "seed1.yaml")).load_splits()
    assert c["test"].sequences != a["test"].sequences
    # dedupe: a sequence and its reverse complement never land in two splits
    with open(tmp_path / "pos.fa", "a") as fh:
        first = (tmp_path / "neg.fa").read_text().split("\n")[1]
        fh.write(f">DNA dup\n{first}\n>DNA rc\n{reverse_complement(first)}\n")
    doc["split_policy"]["dedupe"] = True
    d = load_task(_write_task(tmp_path, doc, "dedupe.yaml")).load_splits()
    assert sum(len(v) for v in d.values()) == 60
    doc["data"]["on_duplicate"] = "error"  # the default names the duplicate
    with pytest.raises(InputError, match="duplicate record name"):
        load_task(_write_task(tmp_path, doc, "dup.yaml")).load_splits()


def test_fasta_per_split_classes_and_glob(tmp_path):
    for name in ("a_neg", "a_pos", "b_neg", "b_pos"):
        with gzip.open(tmp_path / f"{name}.fa.gz", "wt") as fh:
            fh.write("".join(f">{name}{i}\n{SEQS[i]}\n" for i in range(3)))
    doc = {
        "name": "t/heldout",
        "task_type": "binary",
        "labels": ["neg", "pos"],
        "data": {
            "label_column": None,
            "splits": {
                "train": {"neg": ["a_neg.fa.gz"], "pos": "a_pos.fa.gz"},
                "test": {"neg": "b_neg.fa.gz", "pos": "b_pos.fa.gz"},
            },
        },
    }
    sp = load_task(_write_task(tmp_path, doc)).load_splits()
    assert all(i.startswith("b_") for i in sp["test"].ids) and sp["train"].labels.tolist() == [
        0,
        0,
        0,
        1,
        1,
        1,
    ]
    glob_doc = {
        "name": "t/glob",
        "task_type": "multiclass",
        "data": {"classes": "a_*.fa.gz", "label_column": None},
        "split_policy": {"method": "random", "fractions": {"train": 0.5, "test": 0.5}},
    }
    task = load_task(_write_task(tmp_path, glob_doc, "glob.yaml"))
    task.load_splits()
    assert task.labels == ["a_neg", "a_pos"]  # class = file stem, as read_fasta_folder does


def test_header_labels_multilabel_regression_and_tokens(tmp_path):
    (tmp_path / "ml.fa").write_text(">s1|0|1|1\nACGTAC\n>s2|1|0|0\nGGGCCC\n>s3|0|0|1\nTTTAAA\n")
    doc = {
        "name": "t/ml",
        "task_type": "multilabel",
        "data": {
            "format": "fasta",
            "label_from": "header",
            "label_column": None,
            "splits": {"train": "ml.fa", "test": "ml.fa"},
        },
    }
    task = load_task(_write_task(tmp_path, doc))
    sp = task.load_splits()["test"]
    assert sp.labels.shape == (3, 3) and sp.labels.dtype == np.int8 and sp.labels[0].tolist() == [0, 1, 1]
    assert task.labels == ["label_0", "label_1", "label_2"]
    pd.DataFrame({"sequence": SEQS[:3], "label": ["1.5", "-2", "3e-1"]}).to_csv(
        tmp_path / "r.csv", index=False
    )
    reg = _write_task(
        tmp_path,
        {"name": "t/r", "task_type": "regression", "data": {"splits": {"train": "r.csv", "test": "r.csv"}}},
        "r.yaml",
    )
    assert load_task(reg).load_splits()["test"].labels.tolist() == [1.5, -2.0, 0.3]
    pd.DataFrame({"sequence": ["ACGT", "AC"], "label": ["0 1 1 2", "2 0"]}).to_csv(
        tmp_path / "tok.csv", index=False
    )
    tok = {
        "name": "t/tok",
        "task_type": "token_classification",
        "labels": ["O", "exon", "intron"],
        "data": {"label_sep": " ", "splits": {"train": "tok.csv", "test": "tok.csv"}},
    }
    lab = load_task(_write_task(tmp_path, tok, "tok.yaml")).load_splits()["test"].labels
    assert lab.tolist() == [[0, 1, 1, 2], [2, 0, T.IGNORE_INDEX, T.IGNORE_INDEX]]


def test_root_variables(tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    _frame().to_csv(tmp_path / "d" / "train.csv", index=False)
    _frame(offset=1).to_csv(tmp_path / "d" / "test.csv", index=False)
    p = _table_task(tmp_path, {"train": "train.csv", "test": "test.csv"}, data={"root": "${MY_DATA}/d"})
    with pytest.raises(ConfigError, match=r"uses \$\{MY_DATA\}, which is not set"):
        load_task(p).load_splits()
    monkeypatch.setenv("MY_DATA", str(tmp_path))
    assert len(load_task(p).load_splits()["train"]) == 6
    monkeypatch.delenv("MY_DATA")
    p2 = _table_task(tmp_path, {"train": "train.csv", "test": "test.csv"}, data={"root": "${MY_DATA:-.}/d"})
    assert len(load_task(p2).load_splits(["test"], limit=2)["test"]) == 2


# --- Hugging Face -------------------------------------------------------------------------


@pytest.fixture
def hf_tmp_cache(tmp_path, monkeypatch):
    """datasets writes its Arrow cache here, not in ~/.cache."""
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # never try the network in tests
    T.hub_reachable.cache_clear()
    yield
    T.hub_reachable.cache_clear()


def test_hub_task_offline_says_how_to_fix(hf_tmp_cache):
    task = load_task("gue/prom_core_all")
    with pytest.raises(InputError, match="not in the local cache") as e:
        task.load_splits()
    msg = str(e.value)
    assert "set HF_HOME" in msg and "local copy" in msg and "leannmlindsey/GUE" in msg


def test_hub_task_reads_a_local_copy_with_data_files(tmp_path, hf_tmp_cache):
    # a folder laid out like the GUE repository on the Hub: GUE/<config>/{train,dev,test}.csv
    folder = tmp_path / "GUE" / "prom_core_all"
    folder.mkdir(parents=True)
    for split, off in (("train", 0), ("dev", 1), ("test", 0)):
        _frame(offset=off)[["sequence", "label"]].to_csv(folder / f"{split}.csv", index=False)
    task = load_task("gue/prom_core_all")
    splits = task.load_splits(
        local_copy=tmp_path
    )  # read through datasets.load_dataset("csv", data_files=...)
    assert list(splits) == ["train", "valid", "test"]  # GUE's dev is our valid
    assert splits["valid"].labels.tolist() == [1, 0, 1, 0, 1, 0]
    assert splits["test"].sequences == SEQS


def test_hub_task_reads_a_parquet_snapshot_with_filter(tmp_path, hf_tmp_cache, monkeypatch):
    # NT-revised layout: one default config, a 'task' column selects the task
    snap = tmp_path / "InstaDeepAI" / "nucleotide_transformer_downstream_tasks_revised" / "data"
    snap.mkdir(parents=True)
    for split in ("train", "test"):
        df = _frame()
        df = pd.concat([df.assign(task="promoter_all"), df.assign(task="enhancers", label=1)])
        df.rename(columns={"id": "name"}).to_parquet(snap / f"{split}-00000-of-00001.parquet")
    monkeypatch.setenv("GENOLM_HUB_COPY", str(tmp_path))
    sp = load_task("nt-revised/promoter_all").load_splits()
    assert list(sp) == ["train", "test"] and len(sp["test"]) == 6
    assert sp["test"].ids == [f"r{i}" for i in range(6)] and sp["test"].labels.tolist() == [0, 1, 0, 1, 0, 1]


def test_hub_fasta_files_with_header_labels(tmp_path, hf_tmp_cache):
    # the Plant Genomic Benchmark layout: <group>/<species>_{train,test}.fa with '>name|label'
    (tmp_path / "poly_a").mkdir()
    for split in ("train", "test"):
        (tmp_path / "poly_a" / f"arabidopsis_thaliana_{split}.fa").write_text(
            "".join(f">seq{i}_x|{i % 2}\n{s}\n" for i, s in enumerate(SEQS))
        )
    task = load_task("plant-genomic-benchmark/poly_a.arabidopsis_thaliana")
    sp = task.load_splits(local_copy=tmp_path)
    assert sp["train"].labels.tolist() == [0, 1, 0, 1, 0, 1] and sp["train"].ids[0].startswith(
        "arabidopsis_thaliana_train:0:seq0"
    )


# --- bad input ----------------------------------------------------------------------------


def test_missing_label_column_suggests(tmp_path):
    _frame().rename(columns={"label": "labels"}).to_csv(tmp_path / "train.csv", index=False)
    p = _table_task(tmp_path, {"train": "train.csv", "test": "train.csv"})
    with pytest.raises(InputError, match=r"no label column 'label'\. Did you mean 'labels'"):
        load_task(p).load_splits()


def test_unexpected_label_values_name_the_row(tmp_path):
    df = _frame()
    df.loc[3, "label"] = 7
    df.to_csv(tmp_path / "train.csv", index=False)
    p = _table_task(tmp_path, {"train": "train.csv", "test": "train.csv"})
    with pytest.raises(
        InputError, match=r"train\.csv, line 5: split 'train': 1 label\(s\) outside .* values \['7'\]"
    ):
        load_task(p).load_splits()
    # a binary task whose data hold three values (no labels declared)
    df.to_csv(tmp_path / "b.csv", index=False)
    doc = {"name": "t/b", "task_type": "binary", "data": {"splits": {"train": "b.csv", "test": "b.csv"}}}
    with pytest.raises(InputError, match="is binary but its labels hold 3 values"):
        load_task(_write_task(tmp_path, doc, "b.yaml")).load_splits()


def test_one_class_split_is_named(tmp_path):
    _frame().to_csv(tmp_path / "train.csv", index=False)
    _frame().assign(label=1).to_csv(tmp_path / "test.csv", index=False)
    p = _table_task(tmp_path, {"train": "train.csv", "test": "test.csv"})
    with pytest.raises(InputError, match=r"split 'test' of task 't/table' holds only one class \('pos'"):
        load_task(p).load_splits()


def test_invalid_sequence_characters_name_file_and_line(tmp_path):
    df = _frame()
    df.loc[2, "sequence"] = "ACGT*ACGT"
    df.to_csv(tmp_path / "train.csv", index=False)
    p = _table_task(tmp_path, {"train": "train.csv", "test": "train.csv"})
    with pytest.raises(InputError, match=r"train\.csv, line 4, position 4: invalid character '\*'"):
        load_task(p).load_splits()
    (tmp_path / "bad.fa").write_text(">a\nACGT\n>b\nAC-GT\n")
    (tmp_path / "ok.fa").write_text(">c\nACGT\n")
    doc = {
        "name": "t/f",
        "task_type": "binary",
        "data": {"classes": {"x": "bad.fa", "y": "ok.fa"}, "label_column": None},
        "split_policy": {},
    }
    with pytest.raises(InputError, match=r"bad\.fa, record 'b', position 2: invalid character '-'"):
        load_task(_write_task(tmp_path, doc, "f.yaml")).load_splits()


# --- registries, suites, CLI --------------------------------------------------------------


def test_include_paths_register_user_tasks(tmp_path):
    _frame().to_csv(tmp_path / "train.csv", index=False)
    sub = tmp_path / "mytasks"
    sub.mkdir()
    _write_task(
        sub,
        {
            "name": "user/demo",
            "task_type": "binary",
            "description": "demo",
            "data": {"root": "..", "splits": {"train": "train.csv", "test": "train.csv"}},
        },
        "demo.yaml",
    )
    (sub / "suite.yaml").write_text(
        yaml.safe_dump({"suite": "user-suite", "tasks": ["user/demo", "mini/chloroplast-cds"]})
    )
    task = load_task("user/demo", include_paths=[sub])
    assert len(task.load_splits()["train"]) == 6
    assert [t.name for t in load_suite("user-suite")] == ["user/demo", "mini/chloroplast-cds"]
    clash = tmp_path / "clash"
    clash.mkdir()
    _write_task(
        clash, {"name": "user/demo", "task_type": "binary", "data": {"splits": {"train": "a.csv"}}}, "x.yaml"
    )
    with pytest.raises(ConfigError, match="already defined in"):
        T.register_path(clash)


def test_suite_file_defaults_merge_and_typo(tmp_path):
    _frame().to_csv(tmp_path / "train.csv", index=False)
    doc = {
        "suite": "s",
        "defaults": {
            "task_type": "binary",
            "labels": ["neg", "pos"],
            "data": {"splits": {"train": "train.csv", "test": "train.csv"}},
        },
        "tasks": [{"name": "s/a"}, {"name": "s/b", "data": {"sequence_column": "sequence"}}],
    }
    p = tmp_path / "suite.yaml"
    p.write_text(yaml.safe_dump(doc))
    tasks = load_suite(p)
    assert [t.name for t in tasks] == ["s/a", "s/b"] and tasks[1].data.splits["train"] == "train.csv"
    doc["taks"] = doc.pop("tasks")
    p.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match="Did you mean 'tasks'"):
        load_suite(p)


def test_mini_suite_builds_offline_and_passes_the_audit(tmp_path, monkeypatch):
    from genolm.bench.audit import audit_splits

    monkeypatch.setenv("GENOLM_CACHE", str(tmp_path / "cache"))
    tasks = load_suite("mini")
    assert [t.name for t in tasks] == ["mini/chloroplast-cds", "mini/chloroplast-feature"]
    for task in tasks:
        splits = task.load_splits()
        assert list(splits) == ["train", "valid", "test"]
        n = sum(len(s) for s in splits.values())
        assert 500 <= n <= 2500 and all(len(s) == 100 for sp in splits.values() for s in sp.sequences)
        folder = T.build_recipe(task)  # cached: the same folder, not rebuilt
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["audit_verdict"] == "PASS"
        assert manifest["inverted_repeats"] and manifest["gc"]["gap_after"] < 0.01
        report = audit_splits(
            {k: (v.sequences, v.labels) for k, v in splits.items()}, task_type=task.task_type
        )
        assert report.verdict != "FAIL", report.table()
    assert len(list((tmp_path / "cache" / "tasks").iterdir())) == 2


def test_cli_validate(tmp_path, capsys):
    from genolm.cli.main import main

    _frame().to_csv(tmp_path / "train.csv", index=False)
    good = _table_task(tmp_path, {"train": "train.csv", "test": "train.csv"})
    assert main(["validate", str(good), "--data"]) == 0
    out = capsys.readouterr().out
    assert "ok    t/table" in out and "neg 3 / pos 3" in out
    bad = _write_task(
        tmp_path,
        {"name": "t/x", "task_type": "binary", "lables": ["a", "b"], "data": {"splits": {"train": "a.csv"}}},
        "bad.yaml",
    )
    assert main(["validate", str(bad)]) == 1
    assert "Did you mean 'labels'" in capsys.readouterr().out
    assert main(["validate", "gue/prom_core_all"]) == 0
    assert main(["ls", "suites"]) == 0 and "plant-genomic-benchmark" in capsys.readouterr().out


# --- shared data (skipped without ../shared/data) -------------------------------------------

SHARED = ROOT / "benchmarks" / "suites" / "shared.yaml"


@pytest.mark.shared
def test_shared_suite_loads(shared_data):
    tasks = {t.name: t for t in load_suite(SHARED)}
    assert {
        "shared/gue-prom_core_all",
        "shared/gue-tf_0",
        "shared/cnnprom-arabidopsis-tata",
        "shared/cnnprom-arabidopsis-nontata",
        "shared/idna-6ma-athaliana",
        "shared/plantlncboost-algae-pooled",
        "shared/plantlncboost-algae-heldout-micromonas",
    } <= set(tasks)
    gue = tasks["shared/gue-prom_core_all"].load_splits(limit=200)
    assert list(gue) == ["train", "valid", "test"] and len(gue["valid"].sequences[0]) == 70
    idna = tasks["shared/idna-6ma-athaliana"].load_splits(["test"], limit=100)["test"]
    assert len(idna.sequences[0]) == 41 and set(idna.labels.tolist()) == {0, 1}
    cnn = tasks["shared/cnnprom-arabidopsis-tata"].load_splits()
    assert np.bincount(cnn["test"].labels).tolist() == [576, 299]  # 2,879 / 1,497 split 80 / 20, stratified
    held = tasks["shared/plantlncboost-algae-heldout-micromonas"].load_splits()
    assert all(i.startswith("Micromonas") for i in held["test"].ids)
    assert not any(i.startswith("Micromonas") for i in held["train"].ids)
    ml = tasks["shared/dnallm-ath-accessibility"].load_splits(["test"])["test"]
    assert ml.labels.shape == (100, 19)
