"""Fine-tuning modes on planted-motif tasks: each mode learns, LoRA trains only adapters + head, the
probe cache hits, the validation carve never touches test, long inputs follow an explicit policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genolm.bench.finetune import (
    FinetuneConfig,
    Finetuner,
    carve_validation,
    epoch_batches,
    lora_modules,
)
from genolm.bench.metrics import compute_metrics
from genolm.errors import ConfigError, InputError

MOTIF = "GATTACAGG"


def planted(n, L=60, seed=0, copies=2):
    """Random sequences; label 1 sequences carry ``MOTIF`` ``copies`` times.  Also returns the
    per-nucleotide labels (1 inside a motif)."""
    rng = np.random.default_rng(seed)
    b = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, (n, L))].copy()
    y = rng.integers(0, 2, n)
    tok = np.zeros((n, L), np.int64)
    m = np.frombuffer(MOTIF.encode(), np.uint8)
    for i in np.flatnonzero(y):
        for _ in range(copies):
            p = rng.integers(0, L - len(m))
            b[i, p : p + len(m)] = m
            tok[i, p : p + len(m)] = 1
    return [r.tobytes().decode() for r in b], y, tok


@pytest.fixture(autouse=True)
def one_thread():
    """Single-threaded torch and BLAS: this machine is shared, and oversubscribed threads are ~10x slower."""
    from threadpoolctl import threadpool_limits

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(old)


def tiny(family="gpn", head="sequence-classification", **kw):
    """A tiny (hidden 32, 2 layers) model and its char tokenizer; seeded."""
    import genolm.models  # noqa: F401
    from genolm.models import build_model
    from genolm.tokenizers import get_tokenizer

    tok = get_tokenizer("char")
    cfg = {"hidden_size": 32, "num_hidden_layers": 2, **kw}
    if family == "encoder":
        cfg.setdefault("num_attention_heads", 2)
    torch.manual_seed(0)
    return build_model(family, head=head, tokenizer=tok, **cfg), tok


def mcc(task, y, pred):
    return compute_metrics(task, y, pred.y_pred, pred.y_score)["mcc"]


TRAIN, TEST = planted(240, seed=1), planted(160, seed=2)


@pytest.mark.parametrize(
    "mode,family,head,kw",
    [
        ("probe", "gpn", "base", {}),
        ("full", "gpn", "sequence-classification", {"lr": 3e-3, "max_epochs": 6}),
        ("lora", "gpn", "sequence-classification", {"lr": 1e-2, "max_epochs": 6}),
    ],
)
def test_each_mode_learns_a_planted_motif(mode, family, head, kw):
    model, tok = tiny(family, head, num_labels=2)
    cfg = FinetuneConfig(mode=mode, progress=False, precision="fp32", **kw)
    ft = Finetuner(model, tok, "binary", cfg, seed=0).fit(TRAIN[0], TRAIN[1])
    assert ft.carved_valid_  # no valid given: carved from train
    score = mcc("binary", TEST[1], ft.predict_with_scores(TEST[0]))
    assert score > 0.3, f"{mode}: MCC {score:.3f}"


def test_lora_trains_only_adapters_and_head():
    model, tok = tiny("encoder", num_labels=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = FinetuneConfig(mode="lora", max_epochs=1, progress=False, precision="fp32", lora_r=4)
    ft = Finetuner(model, tok, "binary", cfg).fit(TRAIN[0][:64], TRAIN[1][:64])
    trainable = {n: p.numel() for n, p in ft.model_.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "classifier" in n for n in trainable)
    # targets come from the registry entry of the encoder family: qkv, out_proj, fc1, fc2
    for target in ("qkv", "out_proj", "fc1", "fc2"):
        assert any(f".{target}.lora_A" in n for n in trainable)
    H, r, L = 32, 4, 2
    inter = model.config.intermediate_size
    lora = L * r * ((H + 3 * H) + (H + H) + (H + 2 * inter) + (inter + H))
    head = H * 2 + 2
    assert ft.n_trainable_ == sum(trainable.values()) == lora + head
    assert ft.n_trainable_ < ft.n_params_ / 3
    # the model passed in is never changed
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_lora_fallback_targets_every_linear_outside_the_head():
    from transformers import BertConfig, BertForSequenceClassification

    bert = BertForSequenceClassification(
        BertConfig(
            vocab_size=16, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
        )
    )
    targets, save = lora_modules(bert)
    assert save == ["classifier"]
    assert targets and not any(t.startswith("classifier") for t in targets)
    assert "bert.encoder.layer.0.attention.self.query" in targets
    assert all(isinstance(bert.get_submodule(t), torch.nn.Linear) for t in targets)


def test_probe_cache_hit(tmp_path):
    model, tok = tiny("gpn", "base")
    cfg = FinetuneConfig(mode="probe", progress=False, precision="fp32", cache_dir=str(tmp_path / "cache"))
    first = Finetuner(model, tok, "binary", cfg).fit(TRAIN[0], TRAIN[1])
    p1 = first.predict_with_scores(TEST[0])
    assert (first.cache_.hits, first.cache_.misses) == (0, 3)  # train, valid, test computed
    again = Finetuner(model, tok, "binary", cfg).fit(TRAIN[0], TRAIN[1])
    p2 = again.predict_with_scores(TEST[0])
    assert (again.cache_.hits, again.cache_.misses) == (3, 0)
    np.testing.assert_array_equal(p1.y_score, p2.y_score)
    # another pooling is another key: no stale hit
    other = FinetuneConfig(
        mode="probe", progress=False, precision="fp32", cache_dir=cfg.cache_dir, pooling="last"
    )
    assert Finetuner(model, tok, "binary", other).fit(TRAIN[0], TRAIN[1]).cache_.hits == 0
    # max pooling (padding excluded) gives the probe other features again
    mx = FinetuneConfig(
        mode="probe", progress=False, precision="fp32", cache_dir=cfg.cache_dir, pooling="max"
    )
    est = Finetuner(model, tok, "binary", mx).fit(TRAIN[0], TRAIN[1])
    assert est.cache_.hits == 0
    assert not np.allclose(est.predict_with_scores(TEST[0]).y_score, p1.y_score)


def test_carve_is_seeded_stratified_and_disjoint():
    y = np.array([0] * 90 + [1] * 10)
    a_tr, a_va = carve_validation(y, 0.2, seed=0)
    b_tr, b_va = carve_validation(y, 0.2, seed=0)
    np.testing.assert_array_equal(a_va, b_va)
    assert not set(a_tr) & set(a_va) and len(a_tr) + len(a_va) == 100
    assert (y[a_va] == 1).sum() == 2 and (y[a_va] == 0).sum() == 18  # stratified
    assert not np.array_equal(carve_validation(y, 0.2, seed=1)[1], a_va)


def test_validation_comes_from_train_only():
    """fit() sees only train (+ valid); the carve is a subset of train, reproducible, so the test
    split can never steer early stopping."""
    model, tok = tiny("gpn", "base")
    cfg = FinetuneConfig(mode="probe", progress=False, precision="fp32", carve_seed=3)
    ft1 = Finetuner(model, tok, "binary", cfg).fit(TRAIN[0], TRAIN[1])
    ft2 = Finetuner(model, tok, "binary", cfg).fit(TRAIN[0], TRAIN[1])
    assert ft1.probe_selection_ == ft2.probe_selection_


def test_full_finetune_is_deterministic():
    model, tok = tiny("gpn", num_labels=2)
    cfg = FinetuneConfig(mode="full", max_epochs=1, progress=False, precision="fp32")
    p = [
        Finetuner(model, tok, "binary", cfg, seed=5).fit(*TRAIN[:2]).predict_with_scores(TEST[0][:20])
        for _ in range(2)
    ]
    np.testing.assert_array_equal(p[0].y_score, p[1].y_score)


def test_length_buckets_keep_every_row_once_and_cut_padding():
    rng_len = np.random.default_rng(0)
    lengths = rng_len.integers(50, 5000, 1000)  # transcripts: lengths vary 100-fold
    plain = epoch_batches(np.random.default_rng(3), lengths, 16, bucket=False)
    buck = epoch_batches(np.random.default_rng(3), lengths, 16, bucket=True)
    for batches in (plain, buck):
        rows = np.concatenate(batches)
        assert sorted(rows.tolist()) == list(range(1000))  # every row exactly once
        assert [len(b) for b in batches].count(16) == len(batches) - 1  # one short batch at most
    # padded positions of the epoch (a batch pads to its longest row): bucketing cuts them
    pad = [sum(len(b) * lengths[b].max() - lengths[b].sum() for b in bs) for bs in (plain, buck)]
    assert pad[1] < 0.2 * pad[0]
    # seeded, and not the same batch order every epoch
    again = epoch_batches(np.random.default_rng(3), lengths, 16, bucket=True)
    assert all(np.array_equal(a, b) for a, b in zip(buck, again, strict=True))
    other = epoch_batches(np.random.default_rng(4), lengths, 16, bucket=True)
    assert not all(np.array_equal(a, b) for a, b in zip(buck, other, strict=False))


def test_unbucketed_epoch_is_the_plain_shuffle_and_rng_stream():
    # fixed-length tasks (auto -> no bucketing) must train exactly as before length buckets existed:
    # the same batches, and the generator left where the old loop left it (the RC-flip draws follow)
    lengths = np.full(101, 70)
    a, b = np.random.default_rng([7, 0]), np.random.default_rng([7, 0])
    batches = epoch_batches(a, lengths, 16, bucket=False)
    order = b.permutation(101)
    assert all(np.array_equal(x, order[i : i + 16]) for x, i in zip(batches, range(0, 101, 16), strict=True))
    assert a.random() == b.random()


def test_length_buckets_auto_only_when_lengths_vary():
    model, tok = tiny("gpn", num_labels=2)
    cfg = FinetuneConfig(mode="full", max_epochs=1, progress=False, precision="fp32")
    fixed = Finetuner(model, tok, "binary", cfg).fit(*TRAIN[:2])
    assert fixed.length_buckets_ is False  # a fixed-length task keeps the plain shuffle
    short = [s[: 30 + i % 30] for i, s in enumerate(TRAIN[0])]
    varied = Finetuner(model, tok, "binary", cfg).fit(short, TRAIN[1])
    assert varied.length_buckets_ is True
    off = FinetuneConfig(mode="full", max_epochs=1, progress=False, precision="fp32", length_buckets="off")
    assert Finetuner(model, tok, "binary", off).fit(short, TRAIN[1]).length_buckets_ is False
    with pytest.raises(ConfigError, match="Did you mean 'auto'"):
        FinetuneConfig(length_buckets="autp")


def test_long_input_needs_an_explicit_policy():
    model, tok = tiny("encoder", "base", max_position_embeddings=32)
    seqs, y = TRAIN[0][:40], TRAIN[1][:40]  # 60 bp + 1 special token > 32
    cfg = FinetuneConfig(mode="probe", progress=False, precision="fp32")
    # guards against silently truncating (or crashing inside the model) on too-long inputs
    with pytest.raises(InputError, match="longer than the model context of 32 tokens"):
        Finetuner(model, tok, "binary", cfg).fit(seqs, y)
    for policy in ("window", "truncate"):
        c = FinetuneConfig(mode="probe", progress=False, precision="fp32", long_input=policy)
        Finetuner(model, tok, "binary", c).fit(seqs, y).predict_with_scores(seqs[:5])
    with pytest.raises(ConfigError, match="Did you mean 'window'"):
        FinetuneConfig(long_input="windows")


def test_full_finetune_records_what_the_long_input_policy_did():
    model, tok = tiny("encoder", max_position_embeddings=32, num_labels=2)
    seqs = [s[: 20 + 2 * i] for i, s in enumerate(TRAIN[0][:30])]  # 20..78 bp; 31 fit in 32 tokens
    over = sum(len(s) > 31 for s in seqs)  # one special token ([CLS]) beside the nucleotides
    cfg = FinetuneConfig(mode="full", max_epochs=1, progress=False, precision="fp32", long_input="truncate")
    ft = Finetuner(model, tok, "binary", cfg).fit(seqs, TRAIN[1][:30])
    rec = ft.long_input_
    assert rec["policy"] == "truncate" and rec["context_tokens"] == 32
    assert rec["n_truncated"]["train"] + rec["n_truncated"]["valid"] == over  # none dropped silently
    ft.predict_with_scores(seqs[-5:])
    assert rec["n_truncated"]["predict"] == 5


def test_windows_cover_every_nucleotide_once_pooled():
    from genolm.embed import InputPolicy, embed_sequences, encode_sequences

    model, tok = tiny("encoder", "base", max_position_embeddings=24)
    ch = encode_sequences(tok, ["ACGT" * 25], InputPolicy(24, "window", overlap=0.5))
    assert len(ch.ids) > 1 and all(len(i) <= 24 for i in ch.ids)
    covered = np.zeros(100, bool)
    for off in ch.offsets:
        for a, b in off:
            covered[a:b] = True
    assert covered.all()
    per_nt = embed_sequences(model, tok, ["ACGT" * 25], policy=InputPolicy(24, "window"), level="nucleotide")
    assert per_nt.shape == (100, 32) and np.isfinite(per_nt).all()


@pytest.mark.parametrize("mode", ["probe", "full"])
def test_token_classification_per_nucleotide(mode):
    """Per-nucleotide labels through offsets + tokens_to_nucleotides, with windows (context 40 < 60 bp)."""
    seqs, _, tok_labels = TRAIN
    model, tok = tiny("gpn", "base" if mode == "probe" else "token-classification", num_labels=2)
    kw = {"lr": 5e-3, "max_epochs": 5} if mode == "full" else {}
    cfg = FinetuneConfig(
        mode=mode, progress=False, precision="fp32", long_input="window", max_tokens=40, **kw
    )
    ft = Finetuner(model, tok, "token_classification", cfg).fit(seqs, tok_labels)
    pred = ft.predict_with_scores(TEST[0])
    assert [len(p) for p in pred.y_pred] == [len(s) for s in TEST[0]]
    score = compute_metrics(
        "binary", TEST[2].reshape(-1), np.concatenate(pred.y_pred), np.concatenate(pred.y_score)
    )
    assert score["mcc"] > 0.3, score


def test_multilabel_and_regression_probe():
    seqs, y, tok_labels = TRAIN
    model, tok = tiny("gpn", "base")
    cfg = FinetuneConfig(mode="probe", progress=False, precision="fp32")
    ml = np.stack([y, (np.char.count(np.array(seqs), "GG") > 3).astype(int)], axis=1)
    pred = Finetuner(model, tok, "multilabel", cfg).fit(seqs, ml).predict_with_scores(seqs[:30])
    assert pred.y_score.shape == (30, 2) and set(np.unique(pred.y_pred)) <= {0, 1}
    target = tok_labels.sum(1) + np.random.default_rng(0).normal(0, 0.5, len(y))
    reg = Finetuner(model, tok, "regression", FinetuneConfig(mode="probe", progress=False, precision="fp32"))
    p = reg.fit(seqs, target).predict_with_scores(TEST[0])
    truth = TEST[2].sum(1)
    assert compute_metrics("regression", truth, p.y_pred)["spearman"] > 0.3
    mlp = FinetuneConfig(mode="probe", probe="mlp", progress=False, precision="fp32")
    assert Finetuner(model, tok, "multilabel", mlp).fit(seqs, ml).predict_with_scores(
        seqs[:5]
    ).y_score.shape == (5, 2)


def test_bad_labels_are_clear_errors():
    model, tok = tiny("gpn", "base")
    cfg = FinetuneConfig(mode="probe", progress=False, precision="fp32")
    # guards against training (and scoring) a model on a split that holds one class
    with pytest.raises(InputError, match="single class"):
        Finetuner(model, tok, "binary", cfg).fit(TRAIN[0], np.zeros(len(TRAIN[0]), int))
    with pytest.raises(InputError, match="not among the training classes"):
        Finetuner(model, tok, "binary", cfg).fit(TRAIN[0], TRAIN[1], valid=(TEST[0], TEST[1] + 5))
    with pytest.raises(ConfigError, match="head has 3 outputs but the task needs 2"):
        m3, _ = tiny("gpn", num_labels=3)
        Finetuner(m3, tok, "binary", FinetuneConfig(mode="full", progress=False)).fit(TRAIN[0], TRAIN[1])


def test_model_without_attention_mask_never_sees_padding(tmp_path):
    """GPN's published classifier takes no attention_mask: each length runs unpadded, so a sequence's
    score does not depend on the other (longer) sequences in its batch."""
    pytest.importorskip("gpn")
    import genolm
    from genolm.catalogue.fixtures import make_tiny_gpn

    lm = genolm.load(str(make_tiny_gpn(tmp_path / "gpn")))
    model = lm.for_task("binary", "full", num_labels=2)
    cfg = FinetuneConfig(mode="full", max_epochs=1, batch_size=8, progress=False, precision="fp32")
    seqs, y, _ = planted(24, L=40, seed=3)
    ft = Finetuner(model, lm.tokenizer, "binary", cfg, seed=0).fit(seqs, y)
    mixed = [seqs[0][:13], seqs[1], seqs[2][:27], seqs[3][:5]]  # one batch of four lengths
    together = ft.predict_with_scores(mixed).y_score
    alone = np.concatenate([ft.predict_with_scores([s]).y_score for s in mixed])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)
