import numpy as np
import pytest
import torch
from sklearn.base import clone

from genolm.bench.baselines import KmerFeaturizer, KmerLogisticRegression, KmerRidge, OneHotCNN
from genolm.bench.metrics import compute_metrics
from genolm.errors import InputError


def planted(n, L=80, motifs=("GATTACAGG",), seed=0):
    """Random sequences; class c > 0 carries motif c - 1 at a random position (class 0 none)."""
    rng = np.random.default_rng(seed)
    b = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, (n, L))].copy()
    y = rng.integers(0, len(motifs) + 1, n)
    for i in np.flatnonzero(y):
        m = motifs[y[i] - 1].encode()
        p = rng.integers(0, L - len(m))
        b[i, p : p + len(m)] = np.frombuffer(m, np.uint8)
    return [r.tobytes().decode() for r in b], y


@pytest.fixture
def one_thread():
    """The CNN tests run single-threaded: this machine is shared, and oversubscribed threads
    make torch slow by an order of magnitude.  Restores the setting afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_kmer_featurizer_counts():
    f = KmerFeaturizer(k=2).fit()
    X = f.transform(["AACGN", "TT"])
    assert X.shape == (2, 16)
    row = dict(zip(f.feature_names_, X[0]))
    assert row["AA"] == row["AC"] == row["CG"] == pytest.approx(1 / 3)  # GN is skipped
    assert dict(zip(f.feature_names_, X[1]))["TT"] == 1.0
    assert KmerFeaturizer(k=4, canonical=True).fit().n_features_out_ == 136
    fc = KmerFeaturizer(k=3, canonical=True).fit()
    np.testing.assert_allclose(fc.transform(["ACGTTGCA"]), fc.transform(["TGCAACGT"]))  # rc-invariant


def test_kmer_logistic_regression_learns_a_motif():
    s, y = planted(1500, seed=1)
    st, yt = planted(500, seed=2)
    model = KmerLogisticRegression(k=(4, 5)).fit(s, y)
    pred = model.predict_with_scores(st)
    m = compute_metrics("binary", yt, *pred)
    assert m["mcc"] > 0.8 and m["auroc"] > 0.9
    assert pred.y_score.shape == (500,)
    assert clone(model).get_params()["k"] == (4, 5)  # hyperparameters stored unchanged


def test_kmer_logistic_regression_multiclass():
    s, y = planted(1500, motifs=("GATTACAGG", "CCTTGGAAC"), seed=3)
    st, yt = planted(500, motifs=("GATTACAGG", "CCTTGGAAC"), seed=4)
    model = KmerLogisticRegression(k=5).fit(s, y)
    pred = model.predict_with_scores(st)
    assert pred.y_score.shape == (500, 3)
    assert compute_metrics("multiclass", yt, *pred, labels=model.classes_)["mcc"] > 0.8


def test_kmer_ridge_regression():
    rng = np.random.default_rng(5)
    s = ["".join(rng.choice(list("ACGT"), 60)) for _ in range(800)]
    y = np.array([x.count("GC") + 0.1 * rng.normal() for x in s])
    model = KmerRidge(k=2, alpha=1.0).fit(s[:600], y[:600])
    assert compute_metrics("regression", y[600:], model.predict(s[600:]))["spearman"] > 0.9


def test_kmer_models_choose_their_penalty_and_strand_merging_on_validation_rows():
    # a strand-agnostic site: positives carry the motif on either strand
    s, y = planted(900, motifs=("GATTACAGG",), seed=11)
    rc = str.maketrans("ACGT", "TGCA")
    s = [x.translate(rc)[::-1] if i % 2 else x for i, x in enumerate(s)]
    sv, yv = s[700:], y[700:]
    m = KmerLogisticRegression(k=(4, 5)).fit(s[:700], y[:700], valid=(sv, yv))
    sel = m.selection_
    assert sel["on"] == "valid" and sel["metric"] == "mcc" and len(sel["tried"]) == 14  # 7 C x 2
    best = max(t["score"] for t in sel["tried"])
    won = [t for t in sel["tried"] if t["C"] == sel["C"] and t["canonical"] == sel["canonical"]][0]
    assert won["score"] == best
    # the model kept is the winner: its features are the winner's, its score the winner's
    assert m.featurizer_.canonical == sel["canonical"] and m.strength_ == sel["C"]
    from sklearn.metrics import matthews_corrcoef

    assert matthews_corrcoef(yv, m.predict(sv)) == pytest.approx(best, abs=1e-6)
    assert sel["at_edge"] == (sel["C"] in (1e-6, 1.0))
    # canonical features read a sequence and its reverse complement alike
    if sel["canonical"]:
        np.testing.assert_allclose(
            m.predict_proba(s[:5]), m.predict_proba([x.translate(rc)[::-1] for x in s[:5]]), atol=1e-6
        )
    # both fixed: no grid, no selection record, exactly scikit-learn's fit
    f = KmerLogisticRegression(k=4, C=0.1, canonical=False).fit(s[:700], y[:700], valid=(sv, yv))
    assert f.selection_ is None and f.strength_ == 0.1
    # no validation rows: 10 % of train is carved (stratified, seed 0) and the winner refits on all
    c = KmerLogisticRegression(k=4, canonical=False).fit(s[:700], y[:700])
    assert c.selection_["on"] == "carved" and len(c.selection_["tried"]) == 7
    again = KmerLogisticRegression(k=4, canonical=False).fit(s[:700], y[:700])
    np.testing.assert_array_equal(c.predict_proba(sv), again.predict_proba(sv))  # reproducible
    # validation rows that cannot choose (one class: every candidate scores MCC 0) leave the
    # defaults, not the first grid value flagged "at the edge"
    u = KmerLogisticRegression(k=4).fit(s[:700], y[:700], valid=(sv[:20], np.ones(20, int)))
    assert u.selection_["uninformative"] and not u.selection_["at_edge"]
    assert (u.strength_, u.canonical_) == (0.1, False)
    # too few rows to carve a validation split: the defaults, and the record says why
    tiny = KmerLogisticRegression(k=2).fit(s[:6], [0, 1] * 3)
    assert tiny.selection_["on"] == "none" and "nothing to carve" in tiny.selection_["why"]
    with pytest.raises(InputError, match="10 sequences but 9 labels"):
        KmerLogisticRegression(k=2).fit(s[:30], y[:30], valid=(s[30:40], y[30:39]))
    with pytest.raises(InputError, match="one class"):
        KmerLogisticRegression(k=2).fit(s[:30], np.zeros(30, int))
    # the ridge chooses alpha by Spearman on valid
    rng = np.random.default_rng(5)
    r = ["".join(rng.choice(list("ACGT"), 60)) for _ in range(500)]
    t = np.array([x.count("GC") + 0.1 * rng.normal() for x in r])
    ridge = KmerRidge(k=2).fit(r[:400], t[:400], valid=(r[400:], t[400:]))
    assert ridge.selection_["metric"] == "spearman" and len(ridge.selection_["tried"]) == 10
    assert ridge.selection_["alpha"] in (10.0, 100.0, 1e3, 1e4, 1e5)
    with pytest.raises(InputError, match="NaN"):
        KmerRidge(k=2).fit(r[:400], t[:400], valid=(r[400:], np.r_[np.nan, t[401:]]))


CNN = dict(n_filters=16, kernel_size=9, max_epochs=6, patience=3, batch_size=64, lr=1e-2)


def test_cnn_learns_a_motif_and_is_seeded(one_thread):
    s, y = planted(1200, L=60, seed=6)
    st, yt = planted(400, L=60, seed=7)
    state = torch.random.get_rng_state()
    a = OneHotCNN(**CNN, random_state=0).fit(s, y)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is left alone
    m = compute_metrics("binary", yt, *a.predict_with_scores(st))
    assert m["mcc"] > 0.7, a.history_
    b = OneHotCNN(**CNN, random_state=0).fit(s, y)
    np.testing.assert_array_equal(a.predict_proba(st[:50]), b.predict_proba(st[:50]))
    c = OneHotCNN(**{**CNN, "max_epochs": 1}, random_state=1).fit(s, y)
    assert not np.array_equal(a.predict_proba(st[:50]), c.predict_proba(st[:50]))


def test_cnn_variable_length_regression_and_given_valid(one_thread):
    rng = np.random.default_rng(8)
    s = ["".join(rng.choice(list("ACGT"), rng.integers(30, 70))) for _ in range(300)]
    y = np.array([x.count("G") / len(x) for x in s])
    model = OneHotCNN(task="regression", n_filters=8, max_epochs=2).fit(
        s[:200], y[:200], valid=(s[200:250], y[200:250])
    )
    pred = model.predict_with_scores(s[250:])
    assert pred.y_pred.shape == (50,) and np.isfinite(pred.y_pred).all()
    assert model.n_epochs_ == 2


def test_errors():
    # one class cannot train a classifier; say so instead of failing inside torch
    with pytest.raises(InputError, match="at least two classes"):
        OneHotCNN(max_epochs=1).fit(["ACGT"] * 20, [1] * 20)
    # a single string is not a list of sequences (it would be read as one sequence per base)
    with pytest.raises(InputError, match="one string"):
        KmerLogisticRegression().fit("ACGT", [1])
    # k beyond the dense feature limit
    with pytest.raises(InputError, match="k must be"):
        KmerFeaturizer(k=12).fit()
