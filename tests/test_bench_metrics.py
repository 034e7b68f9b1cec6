import math

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from genolm.bench import metrics as M
from genolm.errors import InputError


def _binary(n, seed=0, ties=True):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = rng.random(n) + 0.4 * y
    if ties:
        s = np.round(s, 1)  # many tied scores: AUROC / AP tie handling must match sklearn
    p = (s > 0.7).astype(int)
    return y, p, s


def test_binary_matches_sklearn():
    y, p, s = _binary(400)
    m = M.compute_metrics("binary", y, p, s)
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, p))
    assert m["f1"] == pytest.approx(skm.f1_score(y, p))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p))
    assert m["auroc"] == pytest.approx(skm.roc_auc_score(y, s))
    assert m["auprc"] == pytest.approx(skm.average_precision_score(y, s))
    assert m.reasons == {}


def test_binary_scores_of_two_columns_and_string_labels():
    y, p, s = _binary(300, seed=1)
    names = np.array(["neg", "pos"])[y]
    m = M.compute_metrics("binary", names, np.array(["neg", "pos"])[p], np.stack([1 - s, s], 1))
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, p))
    assert m["auroc"] == pytest.approx(skm.roc_auc_score(y, s))


def test_multiclass_matches_sklearn():
    rng = np.random.default_rng(2)
    n, K = 500, 4
    y = rng.integers(0, K, n)
    logits = rng.normal(size=(n, K))
    logits[np.arange(n), y] += 1.0
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    m = M.compute_metrics("multiclass", y, y_score=proba)  # y_pred = argmax
    pred = proba.argmax(1)
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, pred))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["auroc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"))
    assert m["auprc"] == pytest.approx(skm.average_precision_score(y, proba, average="macro"))


def test_regression_matches_scipy():
    rng = np.random.default_rng(3)
    t = rng.normal(size=300)
    p = t + rng.normal(size=300)
    p[:40] = p[0]  # ties in the prediction
    m = M.compute_metrics("regression", t, p)
    assert m["spearman"] == pytest.approx(stats.spearmanr(t, p)[0])
    assert m["pearson"] == pytest.approx(stats.pearsonr(t, p)[0])
    assert m["r2"] == pytest.approx(skm.r2_score(t, p))


def test_multilabel_per_label_and_macro():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, (300, 3))
    s = (rng.random((300, 3)) + 0.5 * y) / 1.5  # probabilities: y_pred = s >= 0.5
    m = M.compute_metrics("multilabel", y, y_score=s, labels=["a", "b", "c"])
    for j, name in enumerate("abc"):
        assert m[f"auroc/{name}"] == pytest.approx(skm.roc_auc_score(y[:, j], s[:, j]))
        assert m[f"mcc/{name}"] == pytest.approx(skm.matthews_corrcoef(y[:, j], s[:, j] >= 0.5))
    assert m["auroc"] == pytest.approx(np.mean([m[f"auroc/{c}"] for c in "abc"]))


def test_single_class_is_nan_with_a_reason():
    y = np.zeros(20, dtype=int)
    m = M.compute_metrics("binary", y, np.zeros(20, dtype=int), np.linspace(0, 1, 20))
    assert math.isnan(m["auroc"]) and math.isnan(m["mcc"])
    assert "single class" in m.reasons["auroc"]
    assert m["accuracy"] == 1.0
    ci = M.bootstrap_ci("binary", y, y_score=np.linspace(0, 1, 20), metrics=["auroc"], n_boot=50)
    assert ci["auroc"].n_undefined == 50 and math.isnan(ci["auroc"].low)


def test_constant_regression_prediction_is_nan_with_a_reason():
    m = M.compute_metrics("regression", np.arange(10.0), np.ones(10))
    assert math.isnan(m["pearson"]) and "y_pred is constant" in m.reasons["pearson"]


def test_vectorised_resamples_equal_naive_recomputation():
    # the bootstrap kernels must give, on each resample, what sklearn gives on the resampled rows
    y, p, s = _binary(150, seed=5)
    prep = M._prepare("binary", y, p, s)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(y), (5, len(y)))
    W = np.stack([np.bincount(i, minlength=len(y)) for i in idx]).astype(np.float32)
    got = M._batched(prep, W, {"mcc", "f1", "auroc", "auprc"})
    for b, i in enumerate(idx):
        assert got["mcc"][b] == pytest.approx(skm.matthews_corrcoef(y[i], p[i]), abs=1e-6)
        assert got["f1"][b] == pytest.approx(skm.f1_score(y[i], p[i]), abs=1e-6)
        assert got["auroc"][b] == pytest.approx(skm.roc_auc_score(y[i], s[i]), abs=1e-6)
        assert got["auprc"][b] == pytest.approx(skm.average_precision_score(y[i], s[i]), abs=1e-6)
    t = rng.normal(size=80)
    q = np.round(t + rng.normal(size=80), 1)
    prep = M._prepare("regression", t, q)
    W = np.stack([np.bincount(i, minlength=80) for i in idx % 80]).astype(np.float32)
    got = M._batched(prep, W, {"spearman"})
    for b, i in enumerate(idx % 80):
        assert got["spearman"][b] == pytest.approx(stats.spearmanr(t[i], q[i])[0], abs=1e-6)


def test_bootstrap_ci_contains_estimate_and_shrinks_with_n():
    widths = []
    for n in (200, 5000):
        y, p, s = _binary(n, seed=6, ties=False)
        ci = M.bootstrap_ci("binary", y, p, s, n_boot=300, seed=0)
        for c in ci.values():
            assert c.low <= c.estimate <= c.high
        widths.append(ci["mcc"].high - ci["mcc"].low)
    assert widths[1] < widths[0] / 3  # width ~ 1/sqrt(n): expect about 1/5


def test_bootstrap_is_seeded():
    y, p, s = _binary(300, seed=7)
    a = M.bootstrap_ci("binary", y, p, s, n_boot=100, seed=3)
    b = M.bootstrap_ci("binary", y, p, s, n_boot=100, seed=3)
    c = M.bootstrap_ci("binary", y, p, s, n_boot=100, seed=4)
    assert a == b and a != c


def test_summarise_seeds():
    runs = [{"mcc": 0.5, "auroc": 0.8}, {"mcc": 0.7, "auroc": 0.9}, {"mcc": 0.6, "auroc": float("nan")}]
    s = M.summarise_seeds(runs)
    assert s["mcc"].mean == pytest.approx(0.6) and s["mcc"].sd == pytest.approx(0.1)
    assert s["auroc"].n == 2 and s["auroc"].mean == pytest.approx(0.85)
    assert "±" in str(s["mcc"])
    assert math.isnan(M.summarise_seeds([{"mcc": 0.5}])["mcc"].sd)  # one seed: no seed variance


def _two_models(n, acc_a, acc_b, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    pa = np.where(rng.random(n) < acc_a, y, 1 - y)
    pb = np.where(rng.random(n) < acc_b, y, 1 - y)
    return y, pa, pb


def test_paired_bootstrap_detects_a_real_difference():
    y, pa, pb = _two_models(600, 0.85, 0.70, seed=8)
    r = M.paired_bootstrap("binary", y, pred_a=pa, pred_b=pb, n_boot=500, seed=0)
    assert r.metric == "mcc" and r.difference > 0
    assert r.low > 0 and r.p_value < 0.01
    mc = M.mcnemar_test(y, pa, pb)
    assert mc.a_only > mc.b_only and mc.p_value < 0.01


def test_paired_bootstrap_no_fake_difference():
    y, pa, pb = _two_models(600, 0.8, 0.8, seed=9)
    r = M.paired_bootstrap("binary", y, pred_a=pa, pred_b=pb, n_boot=500, seed=0)
    assert r.low < 0 < r.high and r.p_value > 0.05
    assert M.mcnemar_test(y, pa, pb).p_value > 0.05


def test_paired_bootstrap_on_scores():
    y, _, s = _binary(400, seed=10, ties=False)
    noise = np.random.default_rng(0).random(400)
    r = M.paired_bootstrap("binary", y, score_a=s, score_b=noise, metric="auroc", n_boot=300)
    assert r.difference > 0.2 and r.p_value < 0.01


def test_mcnemar_exact_value():
    y = np.ones(12, dtype=int)
    a = np.array([1] * 10 + [0] * 2)  # right on 10 where b is wrong ...
    b = np.array([0] * 10 + [1] * 2)  # ... b right on the other 2
    r = M.mcnemar_test(y, a, b)
    assert (r.a_only, r.b_only) == (10, 2)
    assert r.p_value == pytest.approx(2 * stats.binom.cdf(2, 12, 0.5))


def test_errors_name_the_problem():
    y, p, s = _binary(50)
    # a typo in the task type must suggest the right one, not fall through to some default
    with pytest.raises(InputError, match="Did you mean 'binary'"):
        M.compute_metrics("binery", y, p)
    # nothing to score: neither labels nor scores
    with pytest.raises(InputError, match="give y_pred, y_score"):
        M.compute_metrics("binary", y)
    # AUROC asked for without scores must not be silently computed from hard labels
    with pytest.raises(InputError, match="needs y_score"):
        M.compute_metrics("binary", y, p, metrics=["auroc"])
    # length mismatch between truth and predictions
    with pytest.raises(InputError, match="has 49 rows"):
        M.compute_metrics("binary", y, p[:-1])
