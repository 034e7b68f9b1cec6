"""The bench runner: runs, baselines and summaries are written; finished runs are skipped; a killed
bench resumes; the leak audit refuses leaky tasks unless told otherwise; bad input is a clear error."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

import genolm
from genolm.bench.baselines import KMER_LR_C
from genolm.bench.runner import BenchConfig, run_bench
from genolm.errors import ConfigError, InputError

MOTIF = "GATTACAGG"


def planted(n, L=60, seed=0):
    rng = np.random.default_rng(seed)
    b = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, (n, L))].copy()
    y = rng.integers(0, 2, n)
    for i in np.flatnonzero(y):
        for _ in range(2):
            p = rng.integers(0, L - len(MOTIF))
            b[i, p : p + len(MOTIF)] = np.frombuffer(MOTIF.encode(), np.uint8)
    return [r.tobytes().decode() for r in b], y


@dataclass
class Split:
    sequences: list
    labels: np.ndarray
    ids: list


class StandIn:
    """The task interface genolm.bench.tasks provides (name, version, task_type, metric,
    max_length, labels, load_splits)."""

    def __init__(self, name, splits, task_type="binary", labels=("neg", "pos"), metric="mcc"):
        self.name, self.version, self.task_type, self.metric = name, 1, task_type, metric
        self.max_length, self.labels, self._splits = None, list(labels) if labels else None, splits

    def load_splits(self):
        return dict(self._splits)


def motif_task(name="toy/motif", n_train=160, n_test=80, seed=0):
    s, y = planted(n_train, seed=seed + 1)
    t, yt = planted(n_test, seed=seed + 2)
    return StandIn(
        name,
        {
            "train": Split(s, y, [f"tr{i}" for i in range(len(s))]),
            "test": Split(t, yt, [f"te{i}" for i in range(len(t))]),
        },
    )


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def model_dir(tiny_gpn_dir) -> Path:
    """A tiny (hidden 32, 2 layers) GPN saved like a pretrained model (conftest's, shared)."""
    return tiny_gpn_dir


FAST = dict(
    finetune={"max_epochs": 2, "lr": 3e-3}, cnn={"max_epochs": 2}, n_boot=200, progress=False, threads=1
)


def bench(models, tasks, *, out_dir, **kw):
    """The bench on task objects, its config from keywords."""
    return run_bench(BenchConfig(models=list(models), out_dir=str(out_dir), **kw), tasks)


def _records(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("runs/*/*/*/seed*.json"))]


def test_bench_writes_skips_and_resumes(model_dir, tmp_path, monkeypatch):
    import genolm.bench.runner as R

    task = motif_task()
    out = tmp_path / "bench"
    # a bench killed after three runs ...
    real, calls = R._run_one, []

    def dies(*a, **k):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(R, "_run_one", dies)
    with pytest.raises(KeyboardInterrupt):
        bench([str(model_dir)], [task], modes=["probe", "full"], seeds=2, out_dir=out, **FAST)
    assert len(_records(out)) == 3
    monkeypatch.setattr(R, "_run_one", real)
    # ... resumes: the three finished runs are skipped, the rest run
    res = bench([str(model_dir)], [task], modes=["probe", "full"], seeds=2, out_dir=out, **FAST)
    # kmer (1 run) + cnn (2) + probe (1: a logistic probe on a fixed model is deterministic)
    # + random-init probe (2) + full (2) + random-init full (2)
    assert (res.skipped, res.ran) == (3, 7)
    recs = _records(out)
    assert len(recs) == 10
    kinds = {(r["entry"]["name"], r["entry"]["kind"], r["entry"]["mode"]) for r in recs}
    assert ("kmer-lr", "baseline", "-") in kinds and ("onehot-cnn", "baseline", "-") in kinds
    assert ("tiny-gpn", "random-init", "full") in kinds and ("tiny-gpn", "model", "probe") in kinds
    r = next(r for r in recs if r["entry"]["mode"] == "full" and r["entry"]["kind"] == "model")
    for key in ("config", "versions", "data", "timings", "params", "metrics", "audit", "run_key"):
        assert key in r
    assert r["audit"]["verdict"] == "PASS"
    assert r["metrics"]["mcc"]["low"] <= r["metrics"]["mcc"]["estimate"] <= r["metrics"]["mcc"]["high"]
    assert len(r["data"]["train"]["sha256"]) == 64 and r["params"]["trainable"] > 0
    assert r["versions"]["torch"] == torch.__version__.split("+")[0] or r["versions"]["torch"].startswith("2")
    # the validation split was carved from train, never from test
    assert (
        r["data"]["valid"]["carved_from_train"] and r["data"]["train"]["n"] + r["data"]["valid"]["n"] == 160
    )
    preds = np.load(next(out.glob("runs/*/tiny-gpn/full/seed0.npz")))
    assert len(preds["y_true"]) == 80 and set(preds["ids"]) == {f"te{i}" for i in range(80)}
    # per task: mean +/- sd over seeds and paired tests against the best baseline
    t = res.summary["tasks"]["toy/motif"]
    full = next(e for e in t["entries"] if e["kind"] == "model" and e["mode"] == "full")
    assert full["seeds"] == [0, 1] and full["sd"] is not None
    assert full["vs_best_baseline"]["baseline"] == t["best_baseline"] and "p_value" in full["vs_kmer"]
    assert "vs_random_init" in full
    # nothing left to do; deleting one result reruns exactly that run
    assert bench([str(model_dir)], [task], modes=["probe", "full"], seeds=2, out_dir=out, **FAST).ran == 0
    next(out.glob("runs/*/onehot-cnn/baseline/seed1.json")).unlink()
    again = bench([str(model_dir)], [task], modes=["probe", "full"], seeds=2, out_dir=out, **FAST)
    assert (again.ran, again.skipped) == (1, 9)
    # a changed config is not mistaken for a finished run
    changed = dict(FAST, finetune={"max_epochs": 1, "lr": 3e-3}, baselines=False, random_init=False)
    assert bench([str(model_dir)], [task], modes=["full"], seeds=1, out_dir=out, **changed).ran == 1


def test_leaky_task_is_refused_unless_fail_on_never(tmp_path):
    s, y = planted(120, seed=3)
    ids = [f"s{i}" for i in range(len(s))]
    # the test set contains the training set
    leaky = StandIn("toy/leaky", {"train": Split(s[:80], y[:80], ids[:80]), "test": Split(s, y, ids)})
    out = tmp_path / "leak"
    res = bench([], [leaky], modes=["probe"], seeds=1, out_dir=out, **FAST)
    assert res.refused == [("toy/leaky", "FAIL")] and res.ran == 0
    assert json.loads((out / "runs/toy_leaky/status.json").read_text())["status"] == "refused"
    assert res.summary["tasks"]["toy/leaky"]["status"] == "refused"
    assert "not scored" in (out / "report.md").read_text()
    # --fail-on never scores it, and the verdict stands beside every score
    res = bench([], [leaky], modes=["probe"], seeds=1, out_dir=out, fail_on="never", **FAST)
    assert res.refused == [] and res.ran == 2
    assert {r["audit"]["verdict"] for r in _records(out)} == {"FAIL"}
    assert {e["audit"] for e in res.summary["tasks"]["toy/leaky"]["entries"]} == {"FAIL"}
    assert "leak audit says FAIL" in (out / "report.md").read_text()


def test_bad_input_is_a_clear_error(model_dir, tmp_path):
    s, y = planted(60, seed=4)
    one_class = StandIn(
        "toy/one-class",
        {"train": Split(s, y, list(range(60))), "test": Split(s[:20], np.zeros(20, int), list(range(20)))},
    )
    # guards against reporting an MCC for a test set where it is undefined
    with pytest.raises(InputError, match="split 'test' holds a single class"):
        bench([], [one_class], modes=["probe"], seeds=1, out_dir=tmp_path / "a", **FAST)
    with pytest.raises(InputError, match="no such model folder"):
        bench(["no/such/model"], [motif_task()], modes=["probe"], seeds=1, out_dir=tmp_path / "b", **FAST)


def test_long_inputs_without_a_policy_stop_the_bench(tmp_path):
    import genolm.models  # noqa: F401
    from genolm.models import build_model
    from genolm.tokenizers import get_tokenizer

    d = tmp_path / "short-context"
    tok = get_tokenizer("char")
    build_model(
        "encoder",
        head="lm",
        tokenizer=tok,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=32,
    ).save_pretrained(d)
    tok.save_pretrained(d)
    kw = dict(FAST, baselines=False, random_init=False)
    with pytest.raises(InputError, match="longer than the model context"):
        bench([str(d)], [motif_task()], modes=["probe"], seeds=1, out_dir=tmp_path / "o", **kw)
    kw["finetune"] = {"long_input": "window"}
    assert bench([str(d)], [motif_task()], modes=["probe"], seeds=1, out_dir=tmp_path / "o", **kw).ran == 1


def test_for_task_heads(model_dir):
    task = motif_task()
    lm = genolm.load(str(model_dir))
    probe = lm.for_task(task, "probe")
    full = lm.for_task(task, "full")
    rand = lm.for_task(task, "full", random_init=True)
    assert type(probe).__name__ == "GenolmGPNModel" and lm.architecture == "gpn"
    assert full.config.num_labels == 2 and hasattr(full, "classifier")
    w = "model.layers.0.conv.weight"
    assert torch.equal(full.state_dict()[w], probe.state_dict()["layers.0.conv.weight"])
    assert not torch.equal(full.state_dict()[w], rand.state_dict()[w])
    # guards against a typo'd mode silently falling back to some default head
    with pytest.raises(ConfigError, match="unknown mode 'ful'.*full"):
        lm.for_task(task, "ful")


def test_token_classification_through_the_runner(model_dir, tmp_path):
    s, y = planted(80, seed=5)
    labels = np.array([[1 if MOTIF in x[max(0, i - 8) : i + 9] else 0 for i in range(len(x))] for x in s])
    task = StandIn(
        "toy/tokens",
        {
            "train": Split(s[:60], labels[:60], list(range(60))),
            "test": Split(s[60:], labels[60:], list(range(20))),
        },
        task_type="token_classification",
    )
    res = bench(
        [str(model_dir)],
        [task],
        modes=["probe"],
        seeds=1,
        out_dir=tmp_path / "tok",
        random_init=False,
        **FAST,
    )
    names = {e["name"] for e in res.summary["tasks"]["toy/tokens"]["entries"]}
    assert names == {"tiny-gpn", "window-onehot-lr"}
    arr = np.load(next((tmp_path / "tok").glob("runs/*/tiny-gpn/probe/seed0.npz")))
    assert len(arr["y_true"]) == 20 * 60 and arr["seq_index"].max() == 19


def test_regression_and_multilabel_tasks(model_dir, tmp_path):
    s, y = planted(100, seed=7)
    # labels unrelated to GC content, so the leak audit finds no shortcut
    count = 2.0 * y + np.random.default_rng(0).normal(0, 0.5, len(y))
    reg = StandIn(
        "toy/reg",
        {
            "train": Split(s[:70], count[:70], list(range(70))),
            "test": Split(s[70:], count[70:], list(range(30))),
        },
        task_type="regression",
        labels=None,
        metric="spearman",
    )
    ml = np.stack([y, np.random.default_rng(1).integers(0, 2, len(y))], axis=1)
    multi = StandIn(
        "toy/multi",
        {"train": Split(s[:70], ml[:70], list(range(70))), "test": Split(s[70:], ml[70:], list(range(30)))},
        task_type="multilabel",
        labels=["motif", "noise"],
    )
    res = bench([str(model_dir)], [reg, multi], modes=["probe"], seeds=1, out_dir=tmp_path / "rm", **FAST)
    for name, metric in (("toy/reg", "spearman"), ("toy/multi", "mcc")):
        t = res.summary["tasks"][name]
        assert t["metric"] == metric and {e["name"] for e in t["entries"]} >= {
            "kmer-lr",
            "onehot-cnn",
            "tiny-gpn",
        }
        assert all(e["ci_low"] is not None for e in t["entries"])


def test_cli_bench_on_a_task_yaml(model_dir, tmp_path):
    from genolm.cli.main import main

    s, y = planted(120, seed=6)
    for name, a, b in (("train", 0, 90), ("test", 90, 120)):
        rows = ["sequence,label"] + [f"{s[i]},{y[i]}" for i in range(a, b)]
        (tmp_path / f"{name}.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "task.yaml").write_text(
        "name: toy/csv\ntask_type: binary\nlabels: [neg, pos]\n"
        "data: {root: ., splits: {train: train.csv, test: test.csv}}\n"
    )
    out = tmp_path / "cli"
    args = [
        "bench",
        str(model_dir),
        "--task",
        str(tmp_path / "task.yaml"),
        "--modes",
        "probe",
        "--seeds",
        "1",
        "--no-random-init",
        "--out",
        str(out),
        "--n-boot",
        "200",
        "--threads",
        "1",
        "--quiet",
    ]
    assert main(args) == 0
    assert (out / "report.html").exists() and (out / "summary.json").exists()
    assert main(args) == 0  # everything skipped the second time
    assert json.loads((out / "timings.json").read_text())["runs_ran"] == 0
    # a task whose label column does not exist: the task layer's error, named, exit status 2
    (tmp_path / "bad.yaml").write_text(
        "name: toy/bad\ntask_type: binary\nlabels: [neg, pos]\n"
        "data: {root: ., splits: {train: train.csv, test: test.csv}, label_column: lab}\n"
    )
    assert main([*args[:3], str(tmp_path / "bad.yaml"), *args[4:]]) == 2


# --- the run record: one schema, written by the runner, read by the summary and the report --------


class GCRule:
    """An estimator from outside the bench (an extra contender): positive when the GC fraction is
    below the training median (the planted motif is AT-rich)."""

    def fit(self, seqs, y, *, valid=None, ids=None):
        self.threshold_ = float(np.median(self._gc(seqs)))
        self.classes_ = np.unique(y)
        self.n_params_ = self.n_trainable_ = 1
        return self

    def predict_with_scores(self, seqs, *, ids=None):
        from genolm.bench.baselines import Prediction

        gc = self._gc(seqs)
        return Prediction((gc < self.threshold_).astype(np.int64), -gc)

    @staticmethod
    def _gc(seqs):
        return np.array([(s.count("G") + s.count("C")) / len(s) for s in seqs])


def test_a_record_written_by_the_runner_is_read_by_the_summary_and_the_report(tmp_path):
    from genolm.bench.estimator import Estimator
    from genolm.bench.records import RECORD_FIELDS, SCHEMA, Entry, load_predictions, read_runs
    from genolm.bench.report import write_report
    from genolm.bench.runner import Contender
    from genolm.bench.summary import summarise_results

    assert isinstance(GCRule(), Estimator)
    rule = Contender(
        Entry("gc-rule", "model", "rule"), build=lambda task, seed: GCRule(), config={"at": "median"}
    )
    cfg = BenchConfig(
        models=[],
        modes=[],
        seeds=1,
        out_dir=str(tmp_path),
        baselines=["kmer-lr"],
        random_init=False,
        n_boot=200,
        progress=False,
        report=False,
        threads=1,
    )
    res = run_bench(cfg, [motif_task()], extra_contenders=[rule])
    assert (res.ran, res.skipped) == (2, 0)
    runs = read_runs(tmp_path)["toy/motif"]
    assert len(runs) == 2
    # the fields the runner wrote before the split, listed here: records written then still read
    assert set(RECORD_FIELDS) == {
        "schema", "run_key", "task", "entry", "seed", "config", "versions", "data", "audit",
        "params", "metrics", "primary_metric", "training", "predictions", "torch_threads",
        "finished_at", "timings", "bootstrap",
    }  # fmt: skip
    for rec in runs:
        assert rec["schema"] == SCHEMA and set(rec) == {*RECORD_FIELDS, "_path"}
        arrays = load_predictions(Path(rec["_path"]).with_name(rec["predictions"]))
        assert len(arrays["y_true"]) == rec["data"]["test"]["n"] == 80
    mine = next(r for r in runs if r["entry"]["name"] == "gc-rule")
    assert mine["config"] == {"at": "median"} and mine["params"] == {"total": 1, "trainable": 1}
    # the k-mer baseline's grid was scored on the task's validation rows, and the record says so
    kmer = next(r for r in runs if r["entry"]["name"] == "kmer-lr")
    sel = kmer["training"]["selection"]
    assert sel["on"] == "valid" and len(sel["tried"]) == 14 and sel["C"] in KMER_LR_C
    assert mine["entry"]["mode"] == "rule" and mine["task"]["metric"] == mine["primary_metric"] == "mcc"
    # the summary reads what was written: the contender is ranked beside the baseline, paired with it
    summary = summarise_results(tmp_path, n_boot=200, write=False)
    by = {e["name"]: e for e in summary["tasks"]["toy/motif"]["entries"]}
    assert set(by) == {"gc-rule", "kmer-lr"}
    assert by["gc-rule"]["mean"] == pytest.approx(mine["metrics"]["mcc"]["estimate"])
    # a penalty chosen at an end of the grid is flagged beside the baseline, as a probe's C is
    from genolm.bench.report import entry_flags

    assert by["kmer-lr"]["grid_at_edge"] == sel["at_edge"]
    assert ("penalty at grid edge" in entry_flags(by["kmer-lr"])) == sel["at_edge"]
    assert "penalty at grid edge" in entry_flags({"grid_at_edge": True, "deterministic": True})
    assert by["gc-rule"]["vs_kmer"]["baseline"] == "kmer-lr" and by["gc-rule"]["params"] == 1
    assert by["gc-rule"]["runs"] == [str(Path(mine["_path"]).relative_to(tmp_path))]
    # ... and so does the report
    assert "gc-rule" in write_report(tmp_path, summary=summary).markdown.read_text()
    # a contender's finished run is skipped like any other
    assert run_bench(cfg, [motif_task()], extra_contenders=[rule]).skipped == 2


def test_the_summary_rebuilds_from_the_records_alone(tmp_path):
    # the .npz predictions hold third-party ids and labels and are not committed; the records'
    # bootstrap draws rebuild the same CIs and paired comparisons on a machine without them
    import json

    from genolm.bench.records import read_runs
    from genolm.bench.report import write_report
    from genolm.bench.summary import summarise_results

    cfg = BenchConfig(
        models=[],
        modes=[],
        seeds=2,
        out_dir=str(tmp_path),
        baselines=["kmer-lr", "onehot-cnn"],
        random_init=False,
        n_boot=200,
        progress=False,
        report=False,
        threads=1,
    )
    from genolm.bench.records import Entry
    from genolm.bench.runner import Contender

    rule = Contender(Entry("gc-rule", "model", "rule"), build=lambda task, seed: GCRule(), config={})
    run_bench(cfg, [motif_task()], extra_contenders=[rule])
    runs = read_runs(tmp_path)["toy/motif"]
    assert all(len(r["bootstrap"]["draws"]) == 200 and r["bootstrap"]["metric"] == "mcc" for r in runs)

    def entries_at(n_boot):
        s = summarise_results(tmp_path, n_boot=n_boot, write=False)
        return {e["name"]: e for e in s["tasks"]["toy/motif"]["entries"]}

    def entries():
        return entries_at(200)

    # the summary from the predictions alone: the records' draws taken out, then put back
    texts = {r["_path"]: Path(r["_path"]).read_text() for r in runs}
    for path, text in texts.items():
        rec = json.loads(text)
        del rec["bootstrap"]
        Path(path).write_text(json.dumps(rec))
    with_npz = entries()
    assert with_npz["onehot-cnn"]["unpaired"] == [] and with_npz["gc-rule"]["vs_kmer"]
    for path, text in texts.items():
        Path(path).write_text(text)
    # the stored draws are the predictions' draws (rounded to 6 decimals)
    for r in runs:
        from genolm.bench.records import load_predictions
        from genolm.bench.summary import metric_draws

        arrays = load_predictions(Path(r["_path"]).with_name(r["predictions"]))
        again = metric_draws("binary", "mcc", arrays, ["neg", "pos"], 200)
        assert np.allclose(np.asarray(r["bootstrap"]["draws"], dtype=float), again, atol=1e-6, equal_nan=True)
    for p in tmp_path.rglob("*.npz"):
        p.unlink()
    without = entries()
    cnn = with_npz["onehot-cnn"]
    assert without["onehot-cnn"]["ci_low"] == pytest.approx(cnn["ci_low"], abs=1e-5)
    assert without["onehot-cnn"]["ci_high"] == pytest.approx(cnn["ci_high"], abs=1e-5)
    assert without["onehot-cnn"]["unpaired"] == []
    for vs in ("vs_kmer", "vs_best_baseline"):
        for k in ("difference", "low", "high", "p_value"):
            assert without["gc-rule"][vs][k] == pytest.approx(with_npz["gc-rule"][vs][k], abs=1e-5)
    # a record from before the draws, without its predictions: summarised, not paired, and said so
    old = next(r for r in runs if r["entry"]["name"] == "onehot-cnn" and r["seed"] == 1)
    rec = json.loads(Path(old["_path"]).read_text())
    del rec["bootstrap"]
    Path(old["_path"]).write_text(json.dumps(rec))
    after = entries()
    (gone,) = after["onehot-cnn"]["unpaired"]
    assert (
        gone["run"] == str(Path(old["_path"]).relative_to(tmp_path)) and "no bootstrap draws" in gone["why"]
    )
    assert after["onehot-cnn"]["ci_low"] is None and after["onehot-cnn"]["n_seeds"] == 2
    assert after["onehot-cnn"]["mean"] == pytest.approx(with_npz["onehot-cnn"]["mean"])
    assert set(after["gc-rule"]["vs_baselines"]) == {"kmer-lr"} and "vs_kmer" in after["gc-rule"]
    summary = summarise_results(tmp_path, n_boot=200, write=False)
    assert "cannot be resampled here" in write_report(tmp_path, summary=summary).markdown.read_text()
    # draws made for another n_boot: not used, and the reason says which n_boot would use them
    (other,) = entries_at(400)["gc-rule"]["unpaired"][:1]
    assert "--n-boot 200" in other["why"]
    # a damaged record (draws cut short): not used, no crash
    rec = json.loads(Path(runs[0]["_path"]).read_text())
    rec["bootstrap"]["draws"] = rec["bootstrap"]["draws"][:10]
    Path(runs[0]["_path"]).write_text(json.dumps(rec))
    name = runs[0]["entry"]["name"]
    assert "10 draws" in entries()[name]["unpaired"][0]["why"]


# --- friction found by running real tasks end to end (issue #15) ---------------------------------


def _gc_task(tmp_path, name="toy/gc-in-train"):
    """GC content predicts the label inside train (so inside any validation split carved from it)
    but not on test: a property of train, not a leak into the test score."""
    rng = np.random.default_rng(0)

    def seqs(n, gc_for_label):
        y = rng.integers(0, 2, n)
        out = []
        for c in y:
            p = gc_for_label(c)
            out.append("".join(rng.choice(list("GCAT"), 60, p=[p / 2, p / 2, (1 - p) / 2, (1 - p) / 2])))
        return out, y

    s, y = seqs(200, lambda c: 0.75 if c else 0.25)
    t, yt = seqs(80, lambda c: 0.5)
    for split, (ss, yy) in (("train", (s, y)), ("test", (t, yt))):
        rows = ["sequence,label"] + [f"{a},{b}" for a, b in zip(ss, yy)]
        (tmp_path / f"{split}.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "task.yaml").write_text(
        f"name: {name}\ntask_type: binary\nlabels: [neg, pos]\n"
        "data: {root: ., splits: {train: train.csv, test: test.csv}}\n"
    )
    return tmp_path / "task.yaml"


def test_audit_and_bench_agree_on_the_same_files(tmp_path, capsys):
    # guards friction 1: `genolm audit` said WARN, the bench FAIL, because the bench also audited
    # the validation split it carved from train itself (a GC shortcut inside train)
    from genolm.bench.baselines import KMER
    from genolm.cli.main import main

    task = _gc_task(tmp_path)
    rc = main(
        [
            "audit",
            "--train",
            str(tmp_path / "train.csv"),
            "--test",
            str(tmp_path / "test.csv"),
            "--json",
            str(tmp_path / "audit.json"),
        ]
    )
    cli = json.loads((tmp_path / "audit.json").read_text())
    cfg = BenchConfig(
        models=[], tasks=[str(task)], out_dir=str(tmp_path / "o"), baselines=[KMER], seeds=1, **FAST
    )
    res = run_bench(cfg)
    bench_audit = json.loads((tmp_path / "o/runs/toy_gc-in-train/audit.json").read_text())
    assert bench_audit["verdict"] == cli["verdict"] and (rc == 1) == bool(res.refused)
    assert [(c["name"], c["splits"], c["status"]) for c in bench_audit["checks"]] == [
        (c["name"], c["splits"], c["status"]) for c in cli["checks"]
    ]
    assert "train/valid" not in json.dumps(bench_audit["checks"])


def test_the_bench_console_names_the_failing_check(tmp_path, capsys):
    # guards friction 1: "leak audit FAIL: NOT SCORED" without saying which check failed
    s, y = planted(120, seed=3)
    ids = [f"s{i}" for i in range(len(s))]
    leaky = StandIn("toy/leaky", {"train": Split(s[:80], y[:80], ids[:80]), "test": Split(s, y, ids)})
    bench([], [leaky], modes=["probe"], seeds=1, out_dir=tmp_path / "leak", messages=True, **FAST)
    assert "exact_duplicates train/test FAIL" in capsys.readouterr().out


def test_naming_a_model_does_not_switch_the_profile(tmp_path, capsys):
    # guards friction 2: `genolm bench genolm-tiny --task X` silently used `standard`,
    # `genolm bench --task X` used `quick`
    from genolm.bench.runner import DEFAULT_PROFILE, bench_config

    named = bench_config(None, {"models": ["genolm-tiny"]})
    default = bench_config(None, {})
    assert named.profile == default.profile == DEFAULT_PROFILE
    assert named.mode_seeds == default.mode_seeds and named.finetune == default.finetune
    assert bench_config(None, {"models": ["genolm-tiny"]}, profile="standard").mode_seeds == {}
    bench(
        [],
        [motif_task()],
        modes=["probe"],
        seeds=1,
        out_dir=tmp_path / "p",
        baselines=[],
        profile="quick",
        report=False,
        messages=True,
        **{k: v for k, v in FAST.items() if k != "progress"},
        progress=False,
    )
    out = capsys.readouterr().out
    assert "profile: quick" in out
    # guards the printed settings disagreeing with what runs (the profile text names its own seeds)
    assert "as run: modes probe; seeds per mode: probe 1" in out  # seeds=1 overrides the profile's 3


def test_config_merges_nested_sections_into_the_profile(tmp_path):
    # guards friction 4: `cnn: {max_len: ...}` in --config dropped the profile's cnn max_epochs
    from genolm.bench.runner import bench_config

    (tmp_path / "c.yaml").write_text("cnn: {max_len: 500}\nfinetune: {full: {lr: 1.0e-4}}\n")
    cfg = bench_config(tmp_path / "c.yaml", {}, profile="quick")
    assert cfg.cnn == {"max_epochs": 10, "max_len": 500}
    assert cfg.finetune["full"] == {"max_epochs": 2, "lr": 1e-4, "head_lr_scale": 10.0}
    assert cfg.finetune["lora"]["max_epochs"] == 2


def test_max_length_truncates_every_model_and_the_report_counts_it(model_dir, tmp_path, capfd):
    # guards friction 3: no flag for the window length; a model whose config names no maximum (GPN
    # here) took multi-kb inputs whole; the report never mentioned truncation
    from genolm.cli.main import main

    task = _gc_task(tmp_path)
    out = tmp_path / "ml"
    args = [
        "bench",
        str(model_dir),
        "--task",
        str(task),
        "--modes",
        "probe",
        "--seeds",
        "1",
        "--no-random-init",
        "--no-baselines",
        "--fail-on",
        "never",
        "--out",
        str(out),
        "--n-boot",
        "200",
        "--threads",
        "1",
        "--max-length",
        "20",
    ]
    assert main(args) == 0
    (rec,) = _records(out)
    li = rec["training"]["long_input"]
    assert li["policy"] == "truncate" and li["context_tokens"] == 20
    assert li["n_over_context"]["test"] == 80  # every 60-bp test sequence > 20 tokens
    assert rec["config"]["max_tokens"] == 20
    md = (out / "report.md").read_text()
    assert "inputs truncated to 20 tokens" in md and "80 test sequences truncated to 20 tokens" in md
    # the command line is recorded (provenance) and shown
    meta = json.loads((out / "bench.json").read_text())
    assert meta["invocations"][-1]["command"].startswith("genolm bench ") and "--max-length 20" in md
    # friction 10: redirected stderr gets no carriage-return bars; per-run lines stay on stdout
    cap = capfd.readouterr()
    assert "\r" not in cap.err and "seed 0:" in cap.out
    assert main([*args, "--quiet"]) == 0
    assert "skipped 1 finished" in capfd.readouterr().out


def test_quiet_keeps_the_per_run_result_lines(tmp_path, capsys):
    # guards friction 10: --quiet also hid the per-run result lines
    from genolm.cli.main import main

    task = _gc_task(tmp_path)
    assert (
        main(
            [
                "bench",
                "--task",
                str(task),
                "--modes",
                "probe",
                "--seeds",
                "1",
                "--no-random-init",
                "--fail-on",
                "never",
                "--out",
                str(tmp_path / "q"),
                "--n-boot",
                "200",
                "--threads",
                "1",
                "--quiet",
                "--no-report",
                "--profile",
                "quick",
            ]
            + ["--config", str(_no_models(tmp_path))]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "seed 0:" in out and "kmer-lr" in out


def _no_models(tmp_path):
    p = tmp_path / "nomodels.yaml"
    p.write_text("models: []\nbaselines: [kmer-lr]\n")
    return p


def test_plain_progress_lines_in_a_log(capsys):
    from genolm.progress import PlainProgress, progress_bar

    bar = progress_bar(3, "bench", unit="run")  # stderr is captured: not a terminal
    assert isinstance(bar, PlainProgress)
    bar.every_s = 0.0
    for _ in range(3):
        bar.update(1)
    bar.close()
    err = capsys.readouterr().err
    assert "\r" not in err and "bench: 3/3 run" in err and "(done)" in err
    assert progress_bar(3, "x", enabled=False) is None


def test_probe_c_at_the_edge_of_the_grid_warns_and_is_flagged(model_dir, tmp_path):
    # guards friction 7: the grid stopped at C = 10 and the best C sat at that edge silently
    from genolm.bench.finetune import FinetuneConfig

    assert max(FinetuneConfig().probe_c) > 10 and min(FinetuneConfig().probe_c) < 0.01
    with pytest.warns(UserWarning, match="edge|largest|smallest"):
        res = bench(
            [str(model_dir)],
            [motif_task()],
            modes=["probe"],
            seeds=1,
            out_dir=tmp_path / "c",
            baselines=False,
            random_init=False,
            **dict(FAST, finetune={"probe_c": [1e-6, 1e-5]}),
        )
    (e,) = res.summary["tasks"]["toy/motif"]["entries"]
    assert e["probe_C_at_edge"]
    assert "probe C at grid edge" in (tmp_path / "c/report.md").read_text()


def test_bench_update_model_card_writes_into_a_local_model_folder(model_dir, tmp_path):
    import shutil

    from genolm.bench.modelcard import split_front_matter

    mine = tmp_path / "my-model"
    shutil.copytree(model_dir, mine)
    bench(
        [str(mine)],
        [motif_task()],
        modes=["probe"],
        seeds=1,
        out_dir=tmp_path / "u",
        baselines=False,
        random_init=False,
        update_model_card=True,
        report=False,
        **FAST,
    )
    meta, _ = split_front_matter((mine / "README.md").read_text())
    (result,) = meta["model-index"][0]["results"]
    assert result["dataset"]["name"] == "toy/motif" and result["metrics"][0]["type"] == "mcc"


def test_heartbeat_prints_while_a_silent_call_runs():
    # guards a redirected log staying silent for minutes during one long library call (BPE training)
    import io
    import time

    from genolm.progress import heartbeat

    buf = io.StringIO()
    with heartbeat("step", every_s=0.05, stream=buf):
        time.sleep(0.3)
    lines = buf.getvalue().splitlines()
    assert sum("step: still running" in x for x in lines) >= 2 and lines[-1].startswith("step: done in")
    quiet = io.StringIO()
    with heartbeat("step", enabled=False, stream=quiet):
        time.sleep(0.1)
    assert quiet.getvalue() == ""


def test_knn_mode_runs_beside_the_probe_and_records_k(model_dir, tmp_path):
    res = bench([str(model_dir)], [motif_task()], modes=["knn"], seeds=2, out_dir=tmp_path / "k", **FAST)
    recs = [r for r in _records(tmp_path / "k") if r["entry"]["mode"] == "knn"]
    assert recs and res.ran >= 1
    model = [r for r in recs if r["entry"]["kind"] == "model"]
    assert len(model) == 1  # deterministic: one seed
    info = model[0]["training"]
    assert info["knn_k"] in (1, 3, 5, 10, 20, 50)
    assert [s["k"] for s in info["history"]] == [1, 3, 5, 10, 20, 50]
    assert -1.0 <= model[0]["metrics"]["mcc"]["estimate"] <= 1.0


def test_knn_head_separates_clusters_and_chooses_k_on_valid():
    from genolm.bench.finetune import _np_loss
    from genolm.bench.knn import KNNHead

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))

    def draw(n):
        t = rng.integers(0, 3, n)
        return centres[t] + 1.0 * rng.normal(size=(n, 16)), t

    (Xtr, ttr), (Xva, tva), (Xte, tte) = draw(90), draw(30), draw(30)
    head = KNNHead("multiclass", 3, [1, 5, 200], loss=lambda r, t: _np_loss("multiclass", r, t, None))
    head.fit(Xtr, ttr, Xva, tva)
    assert [s["k"] for s in head.selection_] == [1, 5, 90]  # k capped at the training size
    assert head.k_ == 5  # k=1 is overconfident, k=all is the class prior
    assert (head.raw(Xte).argmax(1) == tte).mean() > 0.9
    reg = KNNHead("regression", 1, [3]).fit(Xtr, ttr.astype(float), Xva, tva.astype(float))
    assert np.corrcoef(reg.raw(Xte)[:, 0], tte)[0, 1] > 0.9
    with pytest.raises(ConfigError, match="token classification"):
        KNNHead("token_classification", 2)
