"""Baselines that sit beside every benchmark score.

``KmerLogisticRegression`` / ``KmerRidge``
    k-mer frequency features (:class:`KmerFeaturizer`, counted with numpy over base-4 codes),
    standardised, then scikit-learn ``LogisticRegression`` (binary / multiclass) or ``Ridge``
    (regression); the L2 strength and plain vs canonical k-mers are chosen on the validation
    split (:data:`KMER_SELECTION`), so the baseline is tuned as the models beside it are.
``OneHotCNN``
    a small CNN on one-hot sequences trained from scratch in torch: convolutions, masked global
    max + mean pooling, one linear layer.  Class-weighted loss, early stopping on a validation
    split carved reproducibly from train when none is given (never from test), seeded.

``WindowOneHotLR``
    per-nucleotide logistic regression on the one-hot bases around each position (token
    classification).

:func:`baseline_estimators` gives the ones that apply to a task type, by entry name.

All follow scikit-learn's vocabulary: hyperparameters are stored unchanged in ``__init__``,
``fit(sequences, y)`` returns ``self``, learned attributes end in ``_``.  ``fit`` and
``predict_with_scores`` take the bench's keywords (:class:`genolm.bench.estimator.Estimator`):
``valid`` (the CNN's early stopping, the k-mer models' grid choice) and ``ids``
(ignored).  Inputs are lists of
strings.  :meth:`predict_with_scores` returns what :func:`genolm.bench.metrics.compute_metrics`
takes: ``compute_metrics(task, y, *model.predict_with_scores(seqs), labels=model.classes_)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin

from genolm.bench.audit import _flat_index, kmer_codes
from genolm.constants import IGNORE_INDEX
from genolm.errors import InputError
from genolm.progress import progress_bar

__all__ = [
    "KmerFeaturizer",
    "KmerLogisticRegression",
    "KMER_SELECTION",
    "KmerRidge",
    "OneHotCNN",
    "Prediction",
    "WindowOneHotLR",
    "baseline_estimators",
    "carve_validation",
]

#: baseline entry names, by what they are
KMER, CNN, WINDOW_LR = "kmer-lr", "onehot-cnn", "window-onehot-lr"


class Prediction(NamedTuple):
    """Predicted labels (or values) and scores, in the form the metrics take.

    ``y_score`` is ``(n,)`` positive-class probability for binary, ``(n, K)`` class probabilities
    in ``classes_`` order for multiclass, ``(n, L)`` for multilabel, and the prediction itself
    for regression.
    """

    y_pred: np.ndarray
    y_score: np.ndarray


def _as_list(seqs) -> list[str]:
    if isinstance(seqs, str):
        raise InputError("expected a list of sequences, got one string", hint="wrap it in a list")
    return [str(s) for s in seqs]


def _ks(k) -> tuple[int, ...]:
    ks = (int(k),) if np.isscalar(k) else tuple(int(x) for x in k)
    if not ks or any(not 1 <= x <= 8 for x in ks):
        raise InputError(f"k must be an int or a sequence of ints in 1..8, got {k!r}")
    return ks


class KmerFeaturizer(TransformerMixin, BaseEstimator):
    """k-mer frequency features, shape ``(n, sum over k of 4**k)`` (fewer with ``canonical``).

    Parameters
    ----------
    k : int or tuple of int
        k-mer sizes, concatenated.  Default is ``(3, 4, 5, 6)``.
    canonical : bool
        Merge each k-mer with its reverse complement (strand-agnostic tasks).  Default is False.

    Each block holds the count of each k-mer divided by the number of valid k-mers in the
    sequence (windows with ``N`` are skipped); a sequence with none is all zeros.
    """

    def __init__(self, k=(3, 4, 5, 6), canonical: bool = False):
        self.k = k
        self.canonical = canonical

    def fit(self, seqs=None, y=None):
        self.ks_ = _ks(self.k)
        self.columns_ = {}
        names = []
        for k in self.ks_:
            codes = np.arange(4**k, dtype=np.int64)
            if self.canonical:
                rc = np.zeros_like(codes)
                for j in range(k):
                    rc |= (3 - ((codes >> (2 * (k - 1 - j))) & 3)) << (2 * j)
                keep = np.unique(np.minimum(codes, rc))
            else:
                keep = codes
            col = np.full(4**k, -1, dtype=np.int64)
            col[keep] = np.arange(len(keep))
            self.columns_[k] = (col, len(keep))
            names += ["".join("ACGT"[(c >> (2 * (k - 1 - j))) & 3] for j in range(k)) for c in keep]
        self.feature_names_ = np.array(names)
        self.n_features_out_ = len(names)
        return self

    def transform(self, seqs, *, chunk: int = 2048) -> np.ndarray:
        seqs = _as_list(seqs)
        out = np.zeros((len(seqs), self.n_features_out_), dtype=np.float32)
        start_col = 0
        for k in self.ks_:
            col, width = self.columns_[k]
            for a in range(0, len(seqs), chunk):
                part = seqs[a : a + chunk]
                codes, sid = kmer_codes(part, k, canonical=self.canonical)
                counts = np.bincount(sid * width + col[codes.astype(np.int64)], minlength=len(part) * width)
                counts = counts.reshape(len(part), width).astype(np.float32)
                tot = counts.sum(1, keepdims=True)
                out[a : a + len(part), start_col : start_col + width] = counts / np.maximum(tot, 1.0)
            start_col += width
        return out


def carve_validation(
    y, fraction: float = 0.1, *, seed: int = 0, task_type: str = "binary"
) -> tuple[np.ndarray, np.ndarray]:
    """Split training indices into ``(train_idx, valid_idx)``, reproducibly.

    Stratified by class for binary / multiclass (every class keeps at least one training example),
    by quantile bin for regression, by the rarest positive label for multilabel; plain random for
    token classification.  The same ``y``, ``fraction`` and ``seed`` always give the same split.
    Only ever called on the training split: the test split is never a source of validation data.
    """
    n = len(y)
    rng = np.random.default_rng([seed, n])
    if task_type in ("binary", "multiclass"):
        strata = np.asarray(y)
    elif task_type == "regression":
        yy = np.asarray(y, dtype=float)
        edges = np.quantile(yy, np.linspace(0, 1, 6)[1:-1])
        strata = np.searchsorted(edges, yy)
    elif task_type == "multilabel":
        yy = np.asarray(y)
        freq = yy.sum(0)
        # each example's stratum: its rarest positive label (or "none")
        rank = np.where(yy > 0, freq[None, :], np.inf)
        strata = np.where(np.isfinite(rank.min(1)), rank.argmin(1), -1)
    else:
        strata = np.zeros(n, dtype=np.int64)
    val = []
    for s in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == s))
        take = int(round(fraction * len(members)))
        val.append(members[: min(take, len(members) - 1)])
    val = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    if len(val) == 0:
        raise InputError(
            f"val_fraction={fraction} carves no validation examples from {n} training examples",
            hint="give the task a validation split or raise val_fraction",
        )
    return np.setdiff1d(np.arange(n), val), val


#: the k-mer baselines' grids, strongest penalty first (a tie keeps the stronger): the inverse L2
#: strength ``C`` of the logistic regression and the ``alpha`` of the ridge, each with plain and
#: canonical (strand-merged) k-mers, chosen on the validation split (MCC; Spearman for the ridge),
#: as carefully as the models beside them are early-stopped.  Part of the bench's run key: records
#: made with another grid refit.  ``KMER_DEFAULT``: the values used when validation cannot choose.
KMER_LR_C = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
KMER_RIDGE_ALPHA = (1e5, 1e4, 1e3, 100.0, 10.0)
KMER_DEFAULT = {"C": 0.1, "alpha": 1e3, "canonical": False}
KMER_SELECTION = {
    "select_on": "valid",
    "default": KMER_DEFAULT,
    "C": list(KMER_LR_C),
    "alpha": list(KMER_RIDGE_ALPHA),
    "canonical": "both",
}


class _KmerLinear(BaseEstimator):
    """Shared machinery: standardised k-mer features, and the choice of the regularisation strength
    and of canonical k-mers on validation rows (given, or carved from train when there are none)."""

    _strength = "C"  # the hyperparameter the grid sets
    _values = KMER_LR_C  # its grid, strongest penalty first
    _metric = "mcc"  # the validation score that chooses
    val_fraction = 0.1

    def _featurize(self, seqs, canonical: bool):
        from sklearn.preprocessing import StandardScaler

        feat = KmerFeaturizer(k=self.k, canonical=canonical).fit()
        X = feat.transform(seqs)
        scaler = StandardScaler().fit(X)
        return feat, scaler, scaler.transform(X)

    def _features(self, seqs) -> np.ndarray:
        return self.scaler_.transform(self.featurizer_.transform(seqs))

    def _score(self, y, pred) -> float:  # the validation score the grid is chosen by
        raise NotImplementedError

    def _carve_as(self, y) -> str:  # carve_validation's task_type: stratified by class
        return "binary"

    def _new(self, value):  # an unfitted scikit-learn model with the strength ``value``
        raise NotImplementedError

    def _fit_one(self, seqs, y, canonical: bool, value) -> None:
        self.featurizer_, self.scaler_, X = self._featurize(seqs, canonical)
        self.model_ = self._new(value).fit(X, y)
        self.canonical_, self.strength_ = canonical, value

    def _fit_selected(self, seqs: list[str], y: np.ndarray, valid) -> None:
        """Fit ``model_`` (and ``featurizer_`` / ``scaler_``): the fixed ``C`` / ``alpha`` and
        ``canonical`` where both are set, else the best of the grid on the validation rows.
        ``selection_`` records what was tried, on what, and what won."""
        fixed = getattr(self, self._strength)
        values = [fixed] if fixed is not None else list(self._values)
        canons = [self.canonical] if self.canonical is not None else [False, True]
        default = (
            self.canonical if self.canonical is not None else KMER_DEFAULT["canonical"],
            fixed if fixed is not None else KMER_DEFAULT[self._strength],
        )
        self.selection_ = None
        if len(values) == 1 and len(canons) == 1:
            self._fit_one(seqs, y, canons[0], values[0])
            return
        metric = self._metric
        split = self._validation(seqs, y, valid)
        if split is None:  # too few rows to carve any: the defaults, and the record says why
            self._fit_one(seqs, y, *default)
            self.selection_ = {
                "on": "none",
                "why": f"{len(seqs)} training rows and no validation split: nothing to carve",
                "metric": metric,
                "tried": [],
                "canonical": default[0],
                self._strength: default[1],
                "at_edge": False,
            }
            return
        fit_idx, val_seqs, val_y, on = split
        fit_seqs = [seqs[i] for i in fit_idx]
        scores, best = [], None
        for canon in canons:
            feat, scaler, X = self._featurize(fit_seqs, canon)
            Xv = scaler.transform(feat.transform(val_seqs))
            for v in values:
                model = self._new(v).fit(X, y[fit_idx])
                score = float(self._score(val_y, model.predict(Xv)))
                scores.append({"canonical": canon, self._strength: v, "score": round(score, 6)})
                if best is None or score > best[0]:  # ties keep the earlier: the stronger penalty
                    best = (score, canon, v, feat, scaler, model)
        # every candidate scored the same (a validation split with one class, or constant
        # targets): it cannot choose, so the defaults stand and the record says so
        uninformative = len({t["score"] for t in scores}) == 1
        _, canon, v, feat, scaler, model = best
        if uninformative:
            canon, v = default
            self._fit_one(seqs, y, canon, v)
        elif on == "carved":  # the winner refits on all of train, as every other entry trains
            self._fit_one(seqs, y, canon, v)
        else:
            self.featurizer_, self.scaler_, self.model_ = feat, scaler, model
            self.canonical_, self.strength_ = canon, v
        self.selection_ = {
            "on": on,
            "metric": metric,
            "tried": scores,
            "canonical": canon,
            self._strength: v,
            "uninformative": uninformative,
            # the best value at an end of the grid: a wider grid might do better
            "at_edge": not uninformative and len(values) > 1 and v in (values[0], values[-1]),
        }

    def _validation(self, seqs, y, valid):
        """``(train rows to fit, valid sequences, valid labels, "valid" | "carved")``, or None when
        there is no validation split and too few training rows to carve one."""
        if valid is not None and len(valid[0]) > 0:
            vs, vy = _as_list(valid[0]), np.asarray(valid[1])
            if len(vs) != len(vy):
                raise InputError(
                    f"the validation split has {len(vs)} sequences but {len(vy)} labels",
                    hint="give one label per validation sequence",
                )
            if vy.dtype.kind == "f" and not np.isfinite(vy).all():
                raise InputError(
                    f"{int((~np.isfinite(vy)).sum())} validation labels are NaN or infinite",
                    hint="drop or fill those rows of the validation split",
                )
            return np.arange(len(seqs)), vs, vy, "valid"
        try:
            fit_idx, val_idx = carve_validation(y, self.val_fraction, seed=0, task_type=self._carve_as(y))
        except InputError:
            return None
        return fit_idx, [seqs[i] for i in val_idx], y[val_idx], "carved"


class KmerLogisticRegression(ClassifierMixin, _KmerLinear):
    """Logistic regression on standardised k-mer frequencies (binary or multiclass).

    Parameters
    ----------
    k : int or tuple of int
        Default is ``(3, 4, 5, 6)`` combined (5440 features; 2772 with ``canonical``).
    canonical : bool or None
        Merge each k-mer with its reverse complement.  Default is None: both are tried and the
        validation split chooses.
    C : float or None
        Inverse L2 strength.  Default is None: chosen from :data:`KMER_LR_C` on the validation
        split by MCC (``fit(valid=...)``; without one, 10 % of train is carved, stratified, seed 0,
        and the winner refits on all of train).  ``selection_`` records the grid's scores; where
        every candidate scores the same (``uninformative``) or no rows can be carved (``on:
        "none"``), :data:`KMER_DEFAULT` is used.
    class_weight : "balanced", dict or None
        Default is ``"balanced"``.
    max_iter : int
        Default is 1000.
    """

    def __init__(
        self,
        k=(3, 4, 5, 6),
        canonical: bool | None = None,
        C: float | None = None,
        class_weight="balanced",
        max_iter: int = 1000,
    ):
        self.k = k
        self.canonical = canonical
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter

    def _new(self, value):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=value, class_weight=self.class_weight, max_iter=self.max_iter)

    def _score(self, y, pred) -> float:
        from sklearn.metrics import matthews_corrcoef

        return matthews_corrcoef(y, pred)

    def fit(self, seqs, y, *, valid=None, ids=None):
        seqs, y = _as_list(seqs), np.asarray(y)
        if len(seqs) != len(y):
            raise InputError(f"{len(seqs)} sequences but {len(y)} labels")
        if len(np.unique(y)) < 2:
            raise InputError(
                f"the training labels hold one class ({np.unique(y).tolist()}): a classifier needs at "
                "least two classes",
                hint="check the label column, or give the task examples of every class",
            )
        self._fit_selected(seqs, y, valid)
        self.classes_ = self.model_.classes_
        return self

    def decision_function(self, seqs) -> np.ndarray:
        return self.model_.decision_function(self._features(_as_list(seqs)))

    def predict_proba(self, seqs) -> np.ndarray:
        """Class probabilities, shape ``(n, K)`` in ``classes_`` order."""
        return self.model_.predict_proba(self._features(_as_list(seqs)))

    def predict(self, seqs) -> np.ndarray:
        return self.classes_[self.predict_proba(seqs).argmax(1)]

    def predict_with_scores(self, seqs, *, ids=None) -> Prediction:
        proba = self.predict_proba(seqs)
        score = proba[:, 1] if len(self.classes_) == 2 else proba
        return Prediction(self.classes_[proba.argmax(1)], score)


class KmerRidge(RegressorMixin, _KmerLinear):
    """Ridge regression on standardised k-mer frequencies.

    Parameters
    ----------
    k : int or tuple of int
        Default is ``(3, 4, 5, 6)``.
    canonical : bool or None
        Default is None: both tried, the validation split chooses.
    alpha : float or None
        L2 strength (features are standardised, so the penalty is per standard deviation).
        Default is None: chosen from :data:`KMER_RIDGE_ALPHA` on the validation split by
        Spearman's rho, as ``C`` is for :class:`KmerLogisticRegression`.
    """

    _strength = "alpha"
    _values = KMER_RIDGE_ALPHA
    _metric = "spearman"

    def _carve_as(self, y) -> str:  # by target quantile; plain random for several targets
        return "regression" if y.ndim == 1 else "plain"

    def __init__(self, k=(3, 4, 5, 6), canonical: bool | None = None, alpha: float | None = None):
        self.k = k
        self.canonical = canonical
        self.alpha = alpha

    def _new(self, value):
        from sklearn.linear_model import Ridge

        return Ridge(alpha=value, solver="lsqr")

    def _score(self, y, pred) -> float:
        import warnings

        from scipy.stats import spearmanr

        y, pred = np.asarray(y).reshape(len(y), -1), np.asarray(pred).reshape(len(y), -1)
        with warnings.catch_warnings():  # a constant column is scored below, not warned about
            warnings.simplefilter("ignore")
            rhos = [spearmanr(y[:, j], pred[:, j]).statistic for j in range(y.shape[1])]
        # a constant prediction ranks nothing: the worst score, not a NaN that never compares
        return float(np.mean([r if np.isfinite(r) else -1.0 for r in rhos]))

    def fit(self, seqs, y, *, valid=None, ids=None):
        seqs, y = _as_list(seqs), np.asarray(y, dtype=float)
        if len(seqs) != len(y):
            raise InputError(f"{len(seqs)} sequences but {len(y)} labels")
        if valid is not None:
            valid = (valid[0], np.asarray(valid[1], dtype=float))
        self._fit_selected(seqs, y, valid)
        return self

    def predict(self, seqs) -> np.ndarray:
        return self.model_.predict(self._features(_as_list(seqs)))

    def predict_with_scores(self, seqs, *, ids=None) -> Prediction:
        p = self.predict(seqs)
        return Prediction(p, p)


# --- one-hot CNN ------------------------------------------------------------------------

TASKS = ("classification", "regression", "multilabel")


def _encode(seqs: list[str], max_len: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Sequences -> padded ``index`` matrix ``(n, L)`` (padding = 4, i.e. ``N``) and lengths."""
    idx, lens = _flat_index(seqs)
    L = int(lens.max()) if len(lens) else 0
    if max_len is not None:
        L = min(L, int(max_len))
    out = np.full((len(seqs), max(L, 1)), 4, dtype=np.uint8)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    clipped = np.minimum(lens, L)
    rows = np.repeat(np.arange(len(seqs)), clipped)
    cols = np.arange(clipped.sum()) - np.repeat(np.cumsum(clipped) - clipped, clipped)
    out[rows, cols] = idx[np.repeat(starts, clipped) + cols]
    return out, np.maximum(clipped, 1)


def _build_net(n_out: int, n_filters: int, kernel_size: int, n_layers: int, pool: int, dropout: float):
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Net(nn.Module):
        """conv(4 -> F, kernel_size) + max-pool(``pool``), then ``n_layers - 1`` residual
        conv(F -> F, 5); masked global max and mean pooling; linear head."""

        def __init__(self):
            super().__init__()
            self.stem = nn.Conv1d(4, n_filters, kernel_size, padding="same")
            self.body = nn.ModuleList(
                nn.Conv1d(n_filters, n_filters, 5, padding="same") for _ in range(n_layers - 1)
            )
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(2 * n_filters, n_out)

        def forward(self, x, mask):  # x (B, 4, L), mask (B, L) bool
            # zero padded positions after ReLU (h >= 0), so max-pooling never picks them up
            h = torch.relu(self.stem(x)) * mask[:, None, :]  # (B, F, L)
            if pool > 1:
                h = F.max_pool1d(h, pool, ceil_mode=True)  # (B, F, L')
                mask = F.max_pool1d(mask[:, None, :].float(), pool, ceil_mode=True)[:, 0] > 0  # (B, L')
            for conv in self.body:
                h = (h + torch.relu(conv(h))) * mask[:, None, :]
            m = mask[:, None, :]  # (B, 1, L')
            hmax = h.masked_fill(~m, float("-inf")).amax(-1)  # (B, F)
            hmean = h.sum(-1) / m.sum(-1)  # (B, F)
            return self.head(self.drop(torch.cat([hmax, hmean], 1)))  # (B, n_out)

    return Net()


class OneHotCNN(BaseEstimator):
    """A small CNN on one-hot sequences, trained from scratch (torch).

    Parameters
    ----------
    task : str
        ``"classification"`` (binary or multiclass), ``"regression"`` or ``"multilabel"``
        (``y`` of shape ``(n, L)`` in {0, 1}).  Default is ``"classification"``.
    n_filters, kernel_size, n_layers : int
        Width, first-layer motif size, number of conv layers.  Default is 64, 15, 2.
    pool : int
        Max-pool width after the first layer (keeps the deeper layers cheap).  Default is 4.
    dropout : float
        Before the head.  Default is 0.1.
    lr, weight_decay : float
        AdamW.  Default is 2e-3, 1e-4.
    batch_size : int
        Default is 128.
    max_epochs, patience : int
        Early stopping on validation loss: stop after ``patience`` epochs without improvement and
        keep the best weights.  Default is 30, 4.
    val_fraction : float
        Fraction of train carved out (stratified for classification, seeded) for early stopping
        when ``fit`` gets no ``valid``.  Default is 0.1.
    class_weight : "balanced" or None
        Loss weights ``n / (K * n_k)`` (multilabel: ``pos_weight = n_neg / n_pos``).  Default is
        ``"balanced"``.
    max_len : int, optional
        Truncate longer sequences (at the 3' end).  Default is None: variable length, padded per
        batch and masked in the pooling.
    device : str
        Default is ``"cpu"``.
    random_state : int
        Seeds initialisation, shuffling, dropout and the validation carve.  The global torch RNG
        is restored afterwards.  Default is 0.
    """

    def __init__(
        self,
        task: str = "classification",
        n_filters: int = 64,
        kernel_size: int = 15,
        n_layers: int = 2,
        pool: int = 4,
        dropout: float = 0.1,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 128,
        max_epochs: int = 30,
        patience: int = 4,
        val_fraction: float = 0.1,
        class_weight="balanced",
        max_len: int | None = None,
        device: str = "cpu",
        random_state: int = 0,
        progress: bool = False,
    ):
        self.task = task
        self.n_filters = n_filters
        self.kernel_size = kernel_size
        self.n_layers = n_layers
        self.pool = pool
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.class_weight = class_weight
        self.max_len = max_len
        self.device = device
        self.random_state = random_state
        self.progress = progress

    # -- helpers --

    def _targets(self, y: np.ndarray) -> np.ndarray:
        if self.task == "classification":
            pos = np.searchsorted(self.classes_, y)
            pos = np.clip(pos, 0, len(self.classes_) - 1)
            if np.any(self.classes_[pos] != y):
                raise InputError("validation labels hold a class that train does not")
            return pos.astype(np.int64)
        if self.task == "regression":
            return ((y.astype(float) - self.y_mean_) / self.y_std_).astype(np.float32)
        return y.astype(np.float32)

    def _carve(self, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Seeded train/validation index split of the training data (stratified by class)."""
        n = len(y)
        if self.task == "classification":
            val = []
            for c in np.unique(y):
                members = rng.permutation(np.flatnonzero(y == c))
                take = int(round(self.val_fraction * len(members)))
                val.append(members[: min(take, len(members) - 1)])
            val = np.sort(np.concatenate(val))
        else:
            val = np.sort(rng.permutation(n)[: int(round(self.val_fraction * n))])
        if len(val) == 0:
            raise InputError(f"val_fraction={self.val_fraction} leaves no validation examples from {n}")
        train = np.setdiff1d(np.arange(n), val)
        return train, val

    def _batches(self, X, lens, order):
        import torch

        for a in range(0, len(order), self.batch_size):
            b = order[a : a + self.batch_size]
            L = int(lens[b].max())
            idx = torch.from_numpy(X[b, :L].astype(np.int64))
            x = torch.nn.functional.one_hot(idx, 5)[..., :4].permute(0, 2, 1).float()  # (B, 4, L)
            mask = torch.arange(L)[None, :] < torch.from_numpy(lens[b])[:, None]  # (B, L)
            yield b, x.to(self.device), mask.to(self.device)

    def _loss_fn(self, t_train: np.ndarray):
        import torch
        from torch import nn

        if self.task == "classification":
            w = None
            if self.class_weight == "balanced":
                counts = np.bincount(t_train, minlength=len(self.classes_)).astype(float)
                w = torch.tensor(
                    len(t_train) / (len(self.classes_) * np.maximum(counts, 1)), dtype=torch.float32
                )
                w = w.to(self.device)
            return nn.CrossEntropyLoss(weight=w)
        if self.task == "regression":
            return nn.MSELoss()
        pw = None
        if self.class_weight == "balanced":
            pos = t_train.sum(0)
            pw = torch.tensor((len(t_train) - pos) / np.maximum(pos, 1), dtype=torch.float32).to(self.device)
        return nn.BCEWithLogitsLoss(pos_weight=pw)

    # -- API --

    def fit(self, seqs, y, *, valid: tuple[Sequence[str], np.ndarray] | None = None, ids=None):
        """Train; ``valid=(sequences, labels)`` is used for early stopping if given, else a
        ``val_fraction`` of ``seqs`` is carved out (seeded).  The test set never enters here."""
        import torch

        if self.task not in TASKS:
            raise InputError(f"task must be one of {', '.join(TASKS)}, got '{self.task}'")
        seqs, y = _as_list(seqs), np.asarray(y)
        if len(seqs) != len(y):
            raise InputError(f"{len(seqs)} sequences but {len(y)} labels")
        rng = np.random.default_rng(self.random_state)
        if valid is None:
            tr, va = self._carve(y, rng)
            s_tr, y_tr = [seqs[i] for i in tr], y[tr]
            s_va, y_va = [seqs[i] for i in va], y[va]
        else:
            s_tr, y_tr = seqs, y
            s_va, y_va = _as_list(valid[0]), np.asarray(valid[1])
        if self.task == "classification":
            self.classes_ = np.unique(y_tr)
            if len(self.classes_) < 2:
                raise InputError("classification needs at least two classes in the training data")
            n_out = len(self.classes_)
        elif self.task == "regression":
            self.y_mean_, self.y_std_ = float(y_tr.mean()), float(y_tr.std()) or 1.0
            n_out = 1
        else:
            n_out = y_tr.shape[1]
        t_tr, t_va = self._targets(y_tr), self._targets(y_va)
        X_tr, len_tr = _encode(s_tr, self.max_len)
        X_va, len_va = _encode(s_va, self.max_len)

        devices = [self.device] if str(self.device).startswith("cuda") else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.random_state)
            net = _build_net(
                n_out, self.n_filters, self.kernel_size, self.n_layers, self.pool, self.dropout
            ).to(self.device)
            opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            loss_fn = self._loss_fn(t_tr)
            yt_tr = torch.from_numpy(t_tr).to(self.device)
            yt_va = torch.from_numpy(t_va).to(self.device)
            best, best_state, bad, history = math.inf, None, 0, []
            n_batches = math.ceil(len(t_tr) / self.batch_size)
            bar = progress_bar(
                self.max_epochs * n_batches, "CNN baseline", unit="batch", enabled=self.progress, leave=False
            )
            for epoch in range(self.max_epochs):
                net.train()
                total = 0.0
                for b, x, mask in self._batches(X_tr, len_tr, rng.permutation(len(t_tr))):
                    out = net(x, mask)
                    loss = loss_fn(out.squeeze(1) if self.task == "regression" else out, yt_tr[b])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += loss.item() * len(b)
                    if bar is not None:
                        bar.update(1)
                val = self._eval_loss(net, loss_fn, X_va, len_va, yt_va)
                if bar is not None:
                    bar.set_description(
                        f"CNN baseline epoch {epoch + 1}/{self.max_epochs} valid loss {val:.3f}"
                    )
                history.append((total / len(t_tr), val))
                if val < best - 1e-4:
                    best, bad, self.best_epoch_ = val, 0, epoch
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                else:
                    bad += 1
                    if bad >= self.patience:
                        break
            if bar is not None:
                bar.close()
            net.load_state_dict(best_state)
        net.eval()
        self.model_ = net
        self.history_ = history
        self.n_epochs_ = len(history)
        return self

    def _eval_loss(self, net, loss_fn, X, lens, yt) -> float:
        import torch

        net.eval()
        total = 0.0
        with torch.no_grad():
            for b, x, mask in self._batches(X, lens, np.arange(len(lens))):
                out = net(x, mask)
                total += float(loss_fn(out.squeeze(1) if self.task == "regression" else out, yt[b])) * len(b)
        return total / len(lens)

    def _raw(self, seqs) -> np.ndarray:
        import torch

        X, lens = _encode(_as_list(seqs), self.max_len)
        outs = []
        self.model_.eval()
        with torch.no_grad():
            for _, x, mask in self._batches(X, lens, np.arange(len(lens))):
                outs.append(self.model_(x, mask).float().cpu().numpy())
        return np.concatenate(outs) if outs else np.zeros((0, 1), np.float32)

    def predict_proba(self, seqs) -> np.ndarray:
        """Class probabilities ``(n, K)`` (multilabel: per-label ``(n, L)``)."""
        raw = self._raw(seqs).astype(np.float64)
        if self.task == "multilabel":
            return 1.0 / (1.0 + np.exp(-raw))
        if self.task != "classification":
            raise InputError("predict_proba is for classification; use predict for regression")
        raw -= raw.max(1, keepdims=True)
        e = np.exp(raw)
        return e / e.sum(1, keepdims=True)

    def predict(self, seqs) -> np.ndarray:
        return self.predict_with_scores(seqs).y_pred

    def predict_with_scores(self, seqs, *, ids=None) -> Prediction:
        if self.task == "regression":
            p = self._raw(seqs)[:, 0].astype(np.float64) * self.y_std_ + self.y_mean_
            return Prediction(p, p)
        proba = self.predict_proba(seqs)
        if self.task == "multilabel":
            return Prediction((proba >= 0.5).astype(np.int64), proba)
        score = proba[:, 1] if len(self.classes_) == 2 else proba
        return Prediction(self.classes_[proba.argmax(1)], score)


# --- the bench's per-task sets ------------------------------------------------------------


class _KmerMultilabel:
    """One :class:`KmerLogisticRegression` per label (a constant label predicts its frequency)."""

    def __init__(self, **kw):
        self.kw = kw

    def fit(self, seqs, y, *, valid=None, ids=None):
        y = np.asarray(y)
        vy = None if valid is None else np.asarray(valid[1])
        if vy is not None and len(valid[0]) and (vy.ndim != 2 or vy.shape != (len(valid[0]), y.shape[1])):
            raise InputError(
                f"the validation labels have shape {vy.shape}, expected ({len(valid[0])}, {y.shape[1]}): "
                "one row per validation sequence, one column per label as in train",
                hint="give the validation split the same label columns as train",
            )
        if vy is not None and not len(valid[0]):
            valid = None
        self.models_ = [
            float(y[:, j].mean())
            if y[:, j].min() == y[:, j].max()
            else KmerLogisticRegression(**self.kw).fit(
                seqs, y[:, j], valid=None if valid is None else (valid[0], vy[:, j])
            )
            for j in range(y.shape[1])
        ]
        return self

    @property
    def selection_(self) -> list:
        """Each label's grid choice (:attr:`KmerLogisticRegression.selection_`; None for a
        constant label)."""
        return [None if isinstance(m, float) else m.selection_ for m in self.models_]

    def predict_with_scores(self, seqs, *, ids=None):
        cols = [
            np.full(len(seqs), m) if isinstance(m, float) else m.predict_proba(seqs)[:, 1]
            for m in self.models_
        ]
        p = np.stack(cols, axis=1)
        return Prediction((p >= 0.5).astype(np.int64), p)

    def size(self) -> int:
        return sum(
            m.model_.coef_.size + m.model_.intercept_.size for m in self.models_ if not isinstance(m, float)
        )


class WindowOneHotLR:
    """Per-nucleotide baseline for token classification: logistic regression on the one-hot
    bases within ``half_window`` of each position (a local k-mer context model)."""

    def __init__(
        self, half_window: int = 10, C: float = 0.1, max_train: int = 200_000, random_state: int = 0
    ):
        self.half_window, self.C, self.max_train, self.random_state = half_window, C, max_train, random_state

    def _X(self, seqs) -> np.ndarray:
        w = self.half_window
        feats = []
        for s in seqs:
            idx, _ = _flat_index([s])
            onehot = np.zeros((len(s) + 2 * w, 4), np.float32)
            ok = idx < 4
            onehot[np.flatnonzero(ok) + w, idx[ok]] = 1.0
            win = np.lib.stride_tricks.sliding_window_view(onehot, (2 * w + 1, 4))[:, 0]  # (L, 2w+1, 4)
            feats.append(win.reshape(len(s), -1))
        return np.concatenate(feats)

    def fit(self, seqs, y, *, valid=None, ids=None):
        from sklearn.linear_model import LogisticRegression

        t = np.concatenate([np.asarray(a).reshape(-1)[: len(s)] for s, a in zip(seqs, y)])
        X = self._X(seqs)
        keep = np.flatnonzero(t != IGNORE_INDEX)
        if len(keep) > self.max_train:
            keep = np.sort(
                np.random.default_rng(self.random_state).choice(keep, self.max_train, replace=False)
            )
        self.model_ = LogisticRegression(C=self.C, class_weight="balanced", max_iter=500).fit(
            X[keep], t[keep]
        )
        self.classes_ = self.model_.classes_
        return self

    def predict_with_scores(self, seqs, *, ids=None):
        p = self.model_.predict_proba(self._X(seqs))
        parts = np.split(np.arange(len(p)), np.cumsum([len(s) for s in seqs])[:-1])
        preds = [self.classes_[p[i].argmax(1)] for i in parts]
        scores = [p[i][:, 1] if len(self.classes_) == 2 else p[i] for i in parts]
        return Prediction(preds, scores)

    def size(self) -> int:
        return self.model_.coef_.size + self.model_.intercept_.size


def baseline_estimators(task_type: str, seed: int, cnn_kw: dict | None = None) -> dict[str, Any]:
    """``{name: unfitted estimator}`` of the baselines that apply to ``task_type``."""
    cnn_kw = dict(cnn_kw or {})
    if task_type == "token_classification":
        return {WINDOW_LR: WindowOneHotLR(random_state=seed)}
    kmer = {
        "binary": KmerLogisticRegression,
        "multiclass": KmerLogisticRegression,
        "regression": KmerRidge,
        "multilabel": _KmerMultilabel,
    }[task_type]()
    cnn_task = {"binary": "classification", "multiclass": "classification"}.get(task_type, task_type)
    return {KMER: kmer, CNN: OneHotCNN(task=cnn_task, random_state=seed, **cnn_kw)}
