"""The convnova family's recipe side and bench recipes (genolm.bench.recipes): tiny and fast."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from genolm.bench.estimator import parameter_counts
from genolm.bench.finetune import FinetuneConfig, Finetuner, lr_factor
from genolm.bench.recipes import RECIPES, RecipeEstimator, load_recipe, refuse_leaky_self_pretraining
from genolm.errors import ConfigError, InputError, UnknownNameError
from genolm.models import build_model
from genolm.tokenizers import get_tokenizer

MOTIF = "TATAAT"


def planted(n, L=60, seed=0):
    rng = np.random.default_rng(seed)
    b = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, (n, L))].copy()
    y = rng.integers(0, 2, n)
    for i in np.flatnonzero(y):
        p = rng.integers(0, L - len(MOTIF))
        b[i, p : p + len(MOTIF)] = np.frombuffer(MOTIF.encode(), np.uint8)
    return [r.tobytes().decode() for r in b], y


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def tiny_recipe(tmp_path, corpus="none", **finetune):
    ft = {"max_epochs": 2, "batch_size": 16, "lr": 0.003, "schedule": "cosine", **finetune}
    (tmp_path / "r.yaml").write_text(
        "name: tiny\nversion: 3\nfamily: convnova\n"
        "model: {hidden_size: 16, num_hidden_layers: 2}\n"
        f"pretrain: {{corpus: {corpus}, steps: 6, batch_size: 8, window: 48, warmup_steps: 2}}\n"
        f"finetune: {json.dumps(ft)}\ntime_budget_minutes: 10\n"  # a starved CI box must not hit it
    )
    return load_recipe(str(tmp_path / "r.yaml"))


def _tiny_convnova(tok):
    return build_model(
        "convnova",
        "sequence-classification",
        tokenizer=tok,
        num_labels=2,
        hidden_size=16,
        num_hidden_layers=2,
    )


# --- the family -----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["convnova", "convnova-rc"])
def test_heads_and_shapes(family):
    tok = get_tokenizer("char")
    x = tok(["ACGTACGTAC", "GGCAT"], padding=True, return_tensors="pt")
    kw = {"hidden_size": 16, "num_hidden_layers": 3}
    with torch.no_grad():
        assert build_model(family, "lm", tokenizer=tok, **kw)(**x, return_full_logits=True).logits.shape == (
            2,
            x["input_ids"].shape[1],
            len(tok),
        )
        assert build_model(family, "sequence-classification", tokenizer=tok, num_labels=3, **kw)(
            **x
        ).logits.shape == (2, 3)
        out = build_model(family, "token-classification", tokenizer=tok, num_labels=2, **kw)(**x).logits
        assert out.shape == (2, x["input_ids"].shape[1], 2)
        base = build_model(family, "base", tokenizer=tok, **kw)
        assert base.embed(x["input_ids"], x["attention_mask"]).shape == (2, 16)


def test_ablation_switches_change_the_model():
    kw = {"hidden_size": 16, "num_hidden_layers": 4}
    m = build_model("convnova", "base", **kw)
    assert m.config.dilations == [1, 2, 4, 8]
    assert build_model("convnova", "base", dilation_base=1, **kw).config.dilations == [1, 1, 1, 1]
    plain = build_model("convnova", "base", gated=False, **kw)
    assert all(layer.gate is None for layer in plain.layers) and all(
        layer.gate is not None for layer in m.layers
    )
    with pytest.raises(ConfigError, match="odd"):  # guards an asymmetric 'same' padding
        build_model("convnova", "base", kernel_size=4)


def test_mlm_loss_decreases_on_a_tiny_corpus(tmp_path):
    from genolm.train.pretrain import Pretrainer
    from genolm.train.pretrain_config import PretrainConfig

    s, _ = planted(40, L=64, seed=3)
    (tmp_path / "c.fa").write_text("".join(f">r{i}\n{x}\n" for i, x in enumerate(s)))
    cfg = PretrainConfig(
        corpus=[str(tmp_path / "c.fa")],
        out_dir=str(tmp_path / "run"),
        model="convnova",
        model_config={"hidden_size": 32, "num_hidden_layers": 2},
        window=64,
        valid_fraction=0.0,
        batch_size=16,
        max_steps=40,
        lr=3e-3,
        warmup_steps=4,
        precision="fp32",
        compile="false",
        progress=False,
    )
    pt = Pretrainer(cfg)
    losses = [pt.train_step()["loss"] for _ in range(40)]
    assert np.mean(losses[-8:]) < np.mean(losses[:8]) - 0.02, losses


# --- FinetuneConfig schedule options ----------------------------------------------------------------


def test_lr_schedules():
    total, warm = 100, 10
    for sch in ("linear", "cosine", "one-cycle"):
        f = [lr_factor(s, total, warm, sch) for s in range(total)]
        assert max(f) == pytest.approx(1.0, abs=0.01) and f[-1] < 0.02, sch
        assert all(a >= b - 1e-12 for a, b in zip(f[warm:], f[warm + 1 :])), sch  # decays after warmup
    assert lr_factor(0, total, warm, "one-cycle") > 0.04  # one-cycle starts low, not at 0
    assert lr_factor(55, total, warm, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    with pytest.raises(ConfigError, match="Did you mean 'one-cycle'"):
        FinetuneConfig(schedule="onecycle")
    with pytest.raises(ConfigError, match="label_smoothing"):
        FinetuneConfig(label_smoothing=1.5)


def test_tta_rc_makes_an_rc_invariant_prediction():
    # guards test-time RC averaging being skipped or averaging the wrong thing
    tok = get_tokenizer("char")
    s, y = planted(48, seed=1)
    torch.manual_seed(0)
    model = _tiny_convnova(tok)
    cfg = FinetuneConfig(
        max_epochs=1, batch_size=16, tta_rc=True, rc_augment=True, label_smoothing=0.1, progress=False
    )
    ft = Finetuner(model, tok, "binary", cfg).fit(s, y)
    from genolm.alphabet import reverse_complement

    a = ft.predict_with_scores(s[:6]).y_score
    b = ft.predict_with_scores([reverse_complement(x) for x in s[:6]]).y_score
    np.testing.assert_allclose(a, b, atol=1e-5)
    cfg.tta_rc = False
    c = ft.predict_with_scores(s[:6]).y_score
    assert not np.allclose(a, c, atol=1e-4)


def test_rc_augmentation_survives_a_batch_with_every_row_flipped():
    # guards a crash found on DNALLM's 500-row task: a small last batch came out all flipped and
    # the forward strand's half of it was empty. Batches of one row: half of them are all flipped
    tok = get_tokenizer("char")
    s, y = planted(24, seed=2)
    torch.manual_seed(0)
    cfg = FinetuneConfig(max_epochs=2, batch_size=1, rc_augment=True, progress=False)
    ft = Finetuner(_tiny_convnova(tok), tok, "binary", cfg).fit(s[:20], y[:20], valid=(s[20:], y[20:]))
    assert len(ft.history_) == 2 and all(np.isfinite(h["train_loss"]) for h in ft.history_)


def test_time_budget_stops_and_keeps_the_best(tmp_path):
    tok = get_tokenizer("char")
    s, y = planted(64, seed=2)
    model = _tiny_convnova(tok)
    # patience far beyond max_epochs: only the budget can end the run (early stopping could end it first)
    cfg = FinetuneConfig(max_epochs=10_000, batch_size=8, time_budget_s=0.3, patience=10_000, progress=False)
    ft = Finetuner(model, tok, "binary", cfg).fit(s, y)
    assert ft.stopped_by_budget_ and 1 <= len(ft.history_) < 10_000
    assert 0 <= ft.best_epoch_ <= ft.history_[-1]["epoch"]  # the best epoch so far is the one kept


def test_a_time_budget_keeps_room_for_the_last_validation_pass(monkeypatch):
    # a clock under the test's control: each reading advances it a millisecond, each validation
    # pass ten seconds.  With a 25 s budget two epochs end at ~20 s; a third would end past 30 s, so
    # the run must stop before it instead of starting it because 20 < 25
    import types

    import genolm.bench.finetune as F

    now = [0.0]

    def clock():
        now[0] += 0.001
        return now[0]

    valid_loss = F.Finetuner._valid_loss

    def slow_valid(self, *a, **k):
        now[0] += 10.0
        return valid_loss(self, *a, **k)

    monkeypatch.setattr(F, "time", types.SimpleNamespace(perf_counter=clock))
    monkeypatch.setattr(F.Finetuner, "_valid_loss", slow_valid)
    tok = get_tokenizer("char")
    s, y = planted(32, seed=3)
    cfg = FinetuneConfig(max_epochs=10, batch_size=8, time_budget_s=25.0, patience=10, progress=False)
    ft = Finetuner(_tiny_convnova(tok), tok, "binary", cfg).fit(s[:24], y[:24], valid=(s[24:], y[24:]))
    assert ft.stopped_by_budget_ and len(ft.history_) == 2
    assert now[0] <= cfg.time_budget_s
    # a budget gone before training starts still buys one step (and its validation pass)
    cfg = dataclasses.replace(cfg, time_budget_s=1e-6)
    ft = Finetuner(_tiny_convnova(tok), tok, "binary", cfg).fit(s[:24], y[:24], valid=(s[24:], y[24:]))
    assert len(ft.history_) == 1 and ft.history_[0]["stopped_by_budget_after_rows"] == 8
    # before the first pass is timed, it is estimated from the training rate: with 10,000
    # validation rows against 24 training rows, the first epoch stops after one step, where
    # checking the clock alone would have trained the whole epoch and then overrun by the pass
    vs, vy = planted(10_000, seed=5)
    now[0] = 0.0
    cfg = dataclasses.replace(cfg, time_budget_s=0.3)
    ft = Finetuner(_tiny_convnova(tok), tok, "binary", cfg).fit(s[:24], y[:24], valid=(vs, vy))
    assert len(ft.history_) == 1 and ft.history_[0]["stopped_by_budget_after_rows"] == 8


# --- recipes --------------------------------------------------------------------------------------


def test_bundled_recipes_load():
    assert {"cnn-small", "cnn-small-selfpt", "cnn-small-genomept"} <= set(RECIPES.names())
    for name in RECIPES.names():
        r = load_recipe(name)
        assert r.version >= 1 and r.finetune_config.mode == "full"
    assert load_recipe("recipe:cnn-small-genomept").pretrain_spec.genome == "bundled:chloroplast"
    assert load_recipe("cnn-small-selfpt").pretrain_spec.corpus == "self"
    # a -stranded recipe is its base with RC augmentation and RC averaging off, nothing else
    for base in ("cnn-small", "cnn-small-selfpt", "tiny-ft", "tiny-mix-ft"):
        a, b = load_recipe(base), load_recipe(f"{base}-stranded")
        assert a.finetune_config.rc_augment and a.finetune_config.tta_rc
        assert not b.finetune_config.rc_augment and not b.finetune_config.tta_rc
        off = {"rc_augment": True, "tta_rc": True}
        assert dataclasses.replace(b.finetune_config, **off) == a.finetune_config
        assert (a.family, a.model, a.init, a.pretrain_spec) == (b.family, b.model, b.init, b.pretrain_spec)


def test_recipe_typos_get_did_you_mean(tmp_path):
    # guards a misspelt recipe, key or value being silently ignored
    with pytest.raises(UnknownNameError, match="Did you mean 'cnn-small'"):
        load_recipe("recipe:cnn-smal")
    (tmp_path / "r.yaml").write_text("")
    with pytest.raises(ConfigError, match="the recipe file is empty"):
        load_recipe(str(tmp_path / "r.yaml"))
    (tmp_path / "r.yaml").write_text("name: x\nfamly: convnova\n")
    with pytest.raises(ConfigError, match="Did you mean 'family'"):
        load_recipe(str(tmp_path / "r.yaml"))
    (tmp_path / "r.yaml").write_text("name: x\nfinetune: {lable_smoothing: 0.1}\n")
    with pytest.raises(ConfigError, match="Did you mean 'label_smoothing'"):
        load_recipe(str(tmp_path / "r.yaml"))
    (tmp_path / "r.yaml").write_text("name: x\npretrain: {corpus: selff}\n")
    with pytest.raises(ConfigError, match="Did you mean 'self'"):
        load_recipe(str(tmp_path / "r.yaml"))
    (tmp_path / "r.yaml").write_text("name: x\nmodel: {hiden_size: 8}\n")
    with pytest.raises(ConfigError, match="Did you mean 'hidden_size'"):
        load_recipe(str(tmp_path / "r.yaml"))


@pytest.mark.parametrize("corpus", ["none", "self", "genome"])
def test_recipe_estimator_fits_and_records(tmp_path, corpus):
    r = tiny_recipe(tmp_path, corpus)
    s, y = planted(60, seed=4)
    est = RecipeEstimator(r, "binary", seed=0).fit(s, y)
    assert est.predict_with_scores(s[:5]).y_score.shape == (5,)
    info = est.info()
    assert info["recipe"] == "recipe:tiny@v3" and info["stopped_by_budget"] is False
    n = sum(p.numel() for p in est.finetuner_.model_.parameters())
    assert parameter_counts(est) == (n, n)
    if corpus != "none":
        assert info["pretrain"]["steps"] == 6 and info["pretrain"]["loss_last"] is not None


def test_recipe_init_starts_from_a_pretrained_model(tmp_path):
    # `init: genolm-tiny`: the bundled model's weights and tokenizer with a fresh head
    assert load_recipe("tiny-ft").init == "genolm-tiny"
    assert load_recipe("tiny-mix-ft").init == load_recipe("tiny-mix-ft-stranded").init == "genolm-tiny-mix"
    assert load_recipe("tiny-mix-ft-stranded").finetune_config.rc_augment is False
    (tmp_path / "r.yaml").write_text(
        'name: t\ninit: genolm-tiny\nfinetune: {"max_epochs": 1, "batch_size": 16}\ntime_budget_minutes: 1\n'
    )
    s, y = planted(40, seed=6)
    est = RecipeEstimator(load_recipe(str(tmp_path / "r.yaml")), "binary").fit(s, y)
    info = est.info()
    assert info["init"]["model"] == "genolm-tiny" and info["family"] is None
    assert est.predict_with_scores(s[:4]).y_score.shape == (4,)
    import genolm

    tiny = genolm.load("genolm-tiny").model.state_dict()
    got = est.finetuner_.model_.state_dict()
    # the backbone started from the pretrained weights: its embedding table is theirs, trained
    # one epoch (close), not a fresh draw (far)
    k = next(k for k in tiny if k.endswith("embed_tokens.weight") or k.endswith("word_embeddings.weight"))
    g = next(v for n, v in got.items() if n.endswith(k.split(".", 1)[-1]))
    assert float((g - tiny[k]).abs().mean()) < 0.5 * float(tiny[k].abs().mean())
    (tmp_path / "bad.yaml").write_text("name: b\ninit: genolm-tiny\nmodel: {hidden_size: 8}\n")
    with pytest.raises(ConfigError, match="init: genolm-tiny"):
        load_recipe(str(tmp_path / "bad.yaml"))


def test_recipe_budget_stops_the_run(tmp_path):
    # patience far beyond max_epochs: only the budget can end this run (early stopping on a fast,
    # idle machine ended it first and the test flaked)
    r = tiny_recipe(tmp_path, "none", max_epochs=200, batch_size=4, patience=1000)
    s, y = planted(80, seed=5)
    est = RecipeEstimator(r, "binary", budget_s=1.0).fit(s, y)
    assert est.info()["stopped_by_budget"] is True and est.wall_s_ < 30


class _Check:
    def __init__(self, name, splits, status):
        self.name, self.splits, self.status, self.message = name, splits, status, "x"


class _Data:
    def __init__(self, checks):
        self.audit = type("A", (), {"checks": checks})()


def test_self_pretraining_refused_when_test_overlaps_train():
    task = type("T", (), {"name": "toy"})()
    leaky = _Data([_Check("exact_duplicates", "train/test", "WARN")])
    with pytest.raises(InputError, match="leak audit found test sequences"):
        refuse_leaky_self_pretraining(load_recipe("cnn-small-selfpt"), task, leaky)
    refuse_leaky_self_pretraining(load_recipe("cnn-small"), task, leaky)  # no self-pretraining: fine
    clean = _Data([_Check("exact_duplicates", "train/test", "PASS")])
    refuse_leaky_self_pretraining(load_recipe("cnn-small-selfpt"), task, clean)


def _task_yaml(tmp_path, s, y, test_s=None, test_y=None):
    n = len(s) * 3 // 4
    splits = {"train": (s[:n], y[:n]), "test": (test_s or s[n:], test_y if test_y is not None else y[n:])}
    for name, (ss, yy) in splits.items():
        rows = ["sequence,label"] + [f"{a},{b}" for a, b in zip(ss, yy)]
        (tmp_path / f"{name}.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "task.yaml").write_text(
        "name: toy/recipe\ntask_type: binary\nlabels: [neg, pos]\n"
        "data: {root: ., splits: {train: train.csv, test: test.csv}}\n"
    )
    return str(tmp_path / "task.yaml")


def _bench_args(task, out, *refs):
    return ["bench", *refs, "--task", task, "--seeds", "1", "--no-baselines", "--out", str(out)] + [
        "--n-boot",
        "200",
        "--threads",
        "1",
        "--quiet",
        "--time-budget",
        "0.1",
    ]


def test_cli_bench_runs_a_recipe_end_to_end(tmp_path, capsys):
    from genolm.cli.main import main

    s, y = planted(80, seed=7)
    task = _task_yaml(tmp_path, s, list(y))
    out = tmp_path / "b"
    assert main(_bench_args(task, out, "recipe:cnn-small")) == 0
    rec = json.loads(next((out / "runs").rglob("seed0.json")).read_text())
    assert rec["entry"]["name"] == "recipe:cnn-small" and rec["config"]["name"] == "cnn-small"
    assert rec["training"]["budget_s"] == pytest.approx(6.0)
    assert "stopped_by_budget" in rec["training"]
    # the record counts the fine-tuned model's parameters (it once wrote 0 for every recipe)
    assert rec["params"]["total"] == rec["params"]["trainable"] > 10_000
    assert "recipe:cnn-small" in capsys.readouterr().out


def test_cli_bench_refuses_leaky_self_pretraining(tmp_path):
    from genolm.cli.main import main

    s, y = planted(80, seed=8)
    task = _task_yaml(tmp_path, s, list(y), test_s=s[:20], test_y=list(y[:20]))  # test = part of train
    args = _bench_args(task, tmp_path / "b", "recipe:cnn-small-selfpt") + ["--fail-on", "never"]
    assert main(args) == 2


def test_recipe_runs_report_progress(tmp_path, monkeypatch, capsys):
    # a recipe run takes up to its budget (30 minutes): its pretraining and fine-tuning print rate
    # and ETA lines into a redirected log (here: every update), and nothing when progress is off
    monkeypatch.setenv("GENOLM_PROGRESS_EVERY_S", "0")
    r = tiny_recipe(tmp_path, "self")
    s, y = planted(40, seed=7)
    RecipeEstimator(r, "binary", progress=True).fit(s, y)
    err = capsys.readouterr().err
    assert "recipe pretrain: 6/6 step" in err and "fine-tune:" in err and "ETA" in err
    RecipeEstimator(r, "binary", progress=False).fit(s, y)
    err = capsys.readouterr().err
    assert "recipe pretrain" not in err and "fine-tune:" not in err
    monkeypatch.setenv("TQDM_DISABLE", "1")  # what `genolm -q` sets: plain lines obey it too
    RecipeEstimator(r, "binary", progress=True).fit(s, y)
    assert capsys.readouterr().err == ""


def test_budget_epochs_plans_what_fits_and_never_grows():
    from genolm.bench.finetune import budget_epochs

    # the first epoch's one-off costs are left out of the time per epoch
    assert budget_epochs(20, 2, [500.0, 100.0], 1000.0) == 2 + 9  # 0.95 * 1000 / 100 = 9.5 more
    assert budget_epochs(20, 2, [500.0, 10.0], 1000.0) == 20  # everything fits: the plan stands
    assert budget_epochs(8, 5, [1.0, 100.0, 200.0], 10_000.0) == 8  # never grows past the plan
    assert (
        budget_epochs(20, 3, [1.0, 100.0, 100.0], 0.0) == 4
    )  # no time left: the epoch under way is the last
    assert budget_epochs(20, 1, [100.0], 5.0) == 20  # one epoch measured: the plan stands


def test_budget_schedule_fit_anneals_within_the_budget():
    # max_epochs far beyond what 4 s holds: "fit" re-plans the schedule after the first epoch, ends
    # the run at the plan (the learning rate annealed), and the record says the budget cut it short
    tok = get_tokenizer("char")
    s, y = planted(64, seed=2)
    kw = dict(max_epochs=10_000, batch_size=8, time_budget_s=4.0, patience=10_000, progress=False)
    ft = Finetuner(_tiny_convnova(tok), tok, "binary", FinetuneConfig(**kw)).fit(s, y)
    plan = ft.schedule_plan_
    assert plan["max_epochs"] == 10_000 and plan["planned_epochs"] < 10_000
    assert plan["replans"][0]["after_epoch"] == 1  # the first re-plan measures a second epoch
    assert [r["epochs"] for r in plan["replans"]] == sorted(
        (r["epochs"] for r in plan["replans"]), reverse=True
    )
    assert ft.stopped_by_budget_ and len(ft.history_) <= plan["planned_epochs"]
    assert plan["fraction_done"] > 0.6  # most of the schedule ran: the learning rate came down
    fixed = Finetuner(_tiny_convnova(tok), tok, "binary", FinetuneConfig(**kw, budget_schedule="fixed")).fit(
        s, y
    )
    assert fixed.schedule_plan_["planned_epochs"] == 10_000 and fixed.schedule_plan_["replans"] == []
    # planned for 10,000 epochs, the fixed schedule stops near its start (inside its 6 % warm-up)
    assert fixed.stopped_by_budget_ and fixed.schedule_plan_["fraction_done"] < 0.06
    with pytest.raises(ConfigError, match="fixed"):
        FinetuneConfig(budget_schedule="fitted")


def test_codon_recipe_reads_codons_and_counts_what_it_truncates(tmp_path):
    # cnn-codon-stranded's tokenizer on a tiny model: one token per codon (plus start and end
    # tokens), so a 96-nt sequence is 34 tokens; a cap of 20 tokens truncates exactly the long rows
    (tmp_path / "c.yaml").write_text(
        "name: c\nversion: 1\nfamily: convnova\ntokenizer: codon\n"
        "model: {hidden_size: 16, num_hidden_layers: 2}\npretrain: {corpus: none}\n"
        'finetune: {"max_epochs": 1, "batch_size": 16, "long_input": "truncate", "max_tokens": 20}\n'
        "time_budget_minutes: 10\n"
    )
    r = load_recipe(str(tmp_path / "c.yaml"))
    s, y = planted(40, L=54, seed=5)  # 18 codons + 2 = 20 tokens: fits
    long = [x + x[:42] for x in s[:8]]  # 96 nt: past the cap
    est = RecipeEstimator(r, "binary").fit(long + s[8:], y)
    info = est.info()
    assert info["long_input"]["context_tokens"] == 20
    n_tr = info["long_input"]["n_truncated"]["train"] + info["long_input"]["n_truncated"]["valid"]
    assert n_tr == 8
    assert est.finetuner_.model_.config.vocab_size == len(get_tokenizer("codon"))
    assert est.predict(s[:5]).shape == (5,)
    assert load_recipe("cnn-codon-stranded").tokenizer == "codon"


# --- ensembles (recipes that list members) ---------------------------------------------------------


def test_mean_prediction_averages_probabilities_and_labels_by_argmax():
    from genolm.bench.baselines import Prediction
    from genolm.bench.ensemble import mean_prediction

    classes = np.array(["neg", "pos"])
    a = Prediction(classes[[1, 0, 0]], np.array([0.9, 0.2, 0.45]))
    b = Prediction(classes[[0, 0, 1]], np.array([0.4, 0.1, 0.65]))
    got = mean_prediction("binary", classes, [a, b])
    assert np.allclose(got.y_score, [0.65, 0.15, 0.55]) and list(got.y_pred) == ["pos", "neg", "pos"]
    # one member, or identical members: the member's own prediction
    same = mean_prediction("binary", classes, [a, a])
    assert np.allclose(same.y_score, a.y_score) and list(same.y_pred) == list(a.y_pred)
    k3 = np.array([0, 1, 2])
    m = mean_prediction(
        "multiclass",
        k3,
        [Prediction(k3[[0]], np.array([[0.5, 0.4, 0.1]])), Prediction(k3[[2]], np.array([[0.1, 0.4, 0.5]]))],
    )
    assert m.y_pred.tolist() == [1] and np.allclose(m.y_score.sum(1), 1.0)  # neither member's argmax
    r = mean_prediction("regression", None, [Prediction(np.array([1.0, 3.0]), np.array([1.0, 3.0]))] * 2)
    assert r.y_pred.tolist() == [1.0, 3.0]
    ml = mean_prediction(
        "multilabel",
        None,
        [Prediction(None, np.array([[0.7, 0.2]])), Prediction(None, np.array([[0.2, 0.9]]))],
    )
    assert ml.y_pred.tolist() == [[0, 1]]
    # token classification: per-nucleotide probabilities of each sequence, lengths kept
    t = mean_prediction(
        "token_classification",
        np.array([0, 1]),
        [
            Prediction(None, [np.array([0.9, 0.1, 0.6]), np.array([0.2])]),
            Prediction(None, [np.array([0.7, 0.3, 0.2]), np.array([0.9])]),
        ],
    )
    assert (
        [len(x) for x in t.y_score] == [3, 1]
        and t.y_pred[0].tolist() == [1, 0, 0]
        and t.y_pred[1].tolist() == [1]
    )


def assert_refused(tmp_path, cases: dict) -> None:
    """Each ensemble YAML body in ``cases`` fails to load with an error matching its value."""
    for text, match in cases.items():
        (tmp_path / "e.yaml").write_text("name: e\n" + text)
        with pytest.raises((ConfigError, UnknownNameError), match=match):
            load_recipe(str(tmp_path / "e.yaml"))


def test_ensemble_recipes_load_and_refuse_what_they_cannot_do(tmp_path):
    r = load_recipe("ens-cnn-tiny-stranded")
    assert [m.name for m in r.member_recipes] == ["cnn-small-stranded", "tiny-ft-stranded"]
    # its unstranded counterpart: both members train on reverse complements and average over both
    u = load_recipe("ens-cnn-tiny")
    assert [m.name for m in u.member_recipes] == ["cnn-small", "tiny-ft"]
    assert all(m.finetune_config.rc_augment and m.finetune_config.tta_rc for m in u.member_recipes)
    assert not any(m.finetune_config.rc_augment or m.finetune_config.tta_rc for m in r.member_recipes)
    # a single recipe's config (hashed into its run key) has no members key: records made before
    # ensembles existed are still current
    assert "members" not in load_recipe("cnn-small").to_dict() and r.to_dict()["members"] == r.members
    cases = {
        "members: [cnn-small, cnn-smal]\n": "Did you mean 'cnn-small'",
        "members: [cnn-small]\n": "at least two members",
        "members: [cnn-small, tiny-ft]\nfinetune: {lr: 0.01}\n": "move finetune into the member recipes",
        "members: [cnn-small, ens-cnn-tiny-stranded]\n": "is itself an ensemble",
    }
    assert_refused(tmp_path, cases)
    # a member that is the ensemble itself is refused before it is built (no endless recursion)
    (tmp_path / "self.yaml").write_text("name: s\nmembers: [self.yaml, cnn-small]\n")
    with pytest.raises(ConfigError, match="is itself an ensemble"):
        load_recipe(str(tmp_path / "self.yaml"))
    # the same model twice (another name, same keys) is one model on half the budget
    (tmp_path / "twin.yaml").write_text(
        (RECIPES.get("cnn-small")).read_text().replace("name: cnn-small", "name: twin")
    )
    (tmp_path / "e.yaml").write_text("name: e\nmembers: [cnn-small, twin.yaml]\n")
    with pytest.raises(ConfigError, match="trains the same model"):
        load_recipe(str(tmp_path / "e.yaml"))
    task = type("T", (), {"name": "toy"})()
    (tmp_path / "e.yaml").write_text("name: e\nmembers: [cnn-small, cnn-small-selfpt]\n")
    leaky = _Data([_Check("exact_duplicates", "train/test", "WARN")])
    with pytest.raises(InputError, match="cnn-small-selfpt"):
        refuse_leaky_self_pretraining(load_recipe(str(tmp_path / "e.yaml")), task, leaky)


def test_a_seed_ensemble_lists_one_recipe_with_seed_offsets(tmp_path):
    from genolm.bench.recipes import recipe_contenders

    r = load_recipe("ens-cnn-short3")
    assert [m.name for m in r.member_recipes] == ["cnn-small-short"] * 3
    assert r.member_seed_offsets == [0, 1000, 2000]
    assert r.member_names == ["cnn-small-short", "cnn-small-short+seed1000", "cnn-small-short+seed2000"]
    # the offsets are in the config (the run key): a plain name for offset 0, a mapping otherwise
    assert r.to_dict()["members"] == [
        "cnn-small-short",
        {"recipe": "cnn-small-short", "seed_offset": 1000},
        {"recipe": "cnn-small-short", "seed_offset": 2000},
    ]
    # each member trains with the run's seed plus its offset
    task = type("T", (), {"name": "toy", "task_type": "binary"})()
    est = recipe_contenders(["recipe:ens-cnn-short3"])[0].build(task, 7)
    assert [build(60.0).seed for _, build in est.members] == [7, 1007, 2007]
    assert [name for name, _ in est.members] == r.member_names
    # a member path inside a mapping is read beside the ensemble's file too
    (tmp_path / "m.yaml").write_text(
        RECIPES.get("cnn-small").read_text().replace("name: cnn-small", "name: m")
    )
    (tmp_path / "e.yaml").write_text("name: e\nmembers: [m.yaml, {recipe: m.yaml, seed_offset: 1}]\n")
    assert load_recipe(str(tmp_path / "e.yaml")).member_seed_offsets == [0, 1]
    bad = {
        "members: [cnn-small, cnn-small]\n": "seed_offset: 1000",  # the fix is in the message
        "members: [cnn-small, {recipe: cnn-small, seed_ofset: 1}]\n": "Did you mean 'seed_offset'",
        "members: [cnn-small, {recipe: cnn-small, seed_offset: -1}]\n": "whole number >= 0",
        "members: [cnn-small, {recipe: cnn-small, seed_offset: 1.5}]\n": "member cnn-small: .*expected an integer",
        "members: [cnn-small, {recipe: cnn-small, seed_offset: 1000}, {recipe: cnn-small, seed_offset: 1000}]\n": (
            "seed_offset: 2000"  # a free offset, not the repeated one
        ),
        "members: {recipe: cnn-small, seed_offset: 1}\n": "members is a list",
        "members: [cnn-small, {seed_offset: 1}]\n": "has no 'recipe' key",
        "members: [cnn-small, [tiny-ft]]\n": "a member is a recipe name",
        "members: [cnn-small, {recipe: cnn-smal, seed_offset: 1}]\n": "Did you mean 'cnn-small'",
    }
    assert_refused(tmp_path, bad)
    # the error names the ensemble's file
    (tmp_path / "e.yaml").write_text("name: e\nmembers: [cnn-small, {recipe: cnn-small, seed_offset: -1}]\n")
    with pytest.raises(ConfigError, match=f"^{tmp_path / 'e.yaml'}: recipe 'e': member cnn-small"):
        load_recipe(str(tmp_path / "e.yaml"))


def test_run_keys_of_single_recipes_are_pinned_and_an_ensemble_key_follows_its_members(tmp_path):
    # a single recipe's run key is what it was before ensembles existed (records stay current);
    # the literal was computed at that commit
    from genolm.bench.recipes import recipe_contenders
    from genolm.bench.records import run_key

    def key(ref):
        c = recipe_contenders([ref])[0]
        data = {"train": {"n": 10, "sha256": "a"}, "test": {"n": 5, "sha256": "b"}}
        src = {"entry": c.entry._asdict(), "seed": 0, "data": data, "model_hash": c.model_hash}
        return run_key({**src, "config": c.config, "n_boot": 1000, **c.key_extra})

    assert (
        key("recipe:cnn-small-stranded") == "b2e52e7e7200ead0f24d9afe1402047a783932f6bb79abd28211b8ed75cecdc0"
    )
    # an ensemble's key is what it was before members could carry seed offsets (computed at 0d7fea0)
    assert key("recipe:ens3-stranded") == "8b644468daa3092187d258f22c4d1b5b760439458bc3f098b45ee4d3d19d885c"
    # member paths are read beside the ensemble's file; bumping a member's version changes its key
    member = tmp_path / "m.yaml"
    member.write_text(
        RECIPES.get("cnn-small-stranded").read_text().replace("name: cnn-small-stranded", "name: m")
    )
    (tmp_path / "e.yaml").write_text("name: e\nmembers: [m.yaml, tiny-ft-stranded]\n")
    before = key(f"recipe:{tmp_path / 'e.yaml'}")
    assert load_recipe(str(tmp_path / "e.yaml")).to_dict()["members"] == ["m", "tiny-ft-stranded"]
    member.write_text(member.read_text().replace("version: 1", "version: 2"))
    assert key(f"recipe:{tmp_path / 'e.yaml'}") != before


def test_cli_bench_runs_an_ensemble_recipe(tmp_path):
    # two tiny members fitted in turn within the budget; the record holds both members' runs and
    # the ensemble's scores are the mean of theirs
    from genolm.bench.ensemble import EnsembleEstimator
    from genolm.cli.main import main

    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        tiny_recipe(tmp_path / sub)
    second = tmp_path / "b" / "r.yaml"
    second.write_text(
        second.read_text()
        .replace("name: tiny\n", "name: tiny2\n")
        .replace("hidden_size: 16", "hidden_size: 8")
    )
    (tmp_path / "e.yaml").write_text(
        f"name: ens\nmembers: [{tmp_path / 'a' / 'r.yaml'}, {tmp_path / 'b' / 'r.yaml'}]\ntime_budget_minutes: 5\n"
    )
    s, y = planted(80, seed=9)
    task = _task_yaml(tmp_path, s, list(y))
    out = tmp_path / "out"
    args = _bench_args(task, out, f"recipe:{tmp_path / 'e.yaml'}")
    args = args[: args.index("--time-budget")]  # the recipe's own 5 minutes
    assert main(args) == 0
    rec = json.loads(next((out / "runs").rglob("seed0.json")).read_text())
    tr = rec["training"]
    assert rec["entry"]["name"] == "recipe:ens" and [m["recipe"] for m in tr["members"]] == [
        "recipe:tiny@v3",
        "recipe:tiny2@v3",
    ]
    # the first member's share is half the budget; the second gets what is left
    assert (
        tr["member_budget_s"][0] == pytest.approx(150.0, abs=1.0) and tr["member_budget_s"][1] > 150.0 - 1.0
    )
    assert tr["stopped_by_budget"] is False
    # each member is scored on the test rows beside the ensemble, with the paired difference
    for m in tr["members"]:
        own = m["test"]["mcc"]
        assert -1.0 <= own["estimate"] <= 1.0 and own["low"] <= own["high"]
        d = m["ensemble_minus_member"]
        assert d["difference"] == pytest.approx(rec["metrics"]["mcc"]["estimate"] - own["estimate"])
        assert d["low"] <= d["high"] and 0.0 <= d["p_value"] <= 1.0
    # its parameters are the members' together
    est = EnsembleEstimator(
        [
            (m.name, lambda share, m=m: RecipeEstimator(m, "binary", seed=0, budget_s=share))
            for m in load_recipe(str(tmp_path / "e.yaml")).member_recipes
        ],
        "binary",
        budget_s=None,
    ).fit(s[:60], y[:60])
    p = est.predict_with_scores(s[60:])
    mine = [m.predict_with_scores(s[60:]).y_score for m in est.members_]
    assert np.allclose(p.y_score, np.mean(mine, axis=0))
    assert all(np.allclose(a.y_score, b) for a, b in zip(est.member_predictions_, mine, strict=True))
    assert (
        parameter_counts(est)[0]
        == sum(parameter_counts(m)[0] for m in est.members_)
        == rec["params"]["total"]
    )
