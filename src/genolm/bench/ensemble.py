"""Ensembles: several estimators fitted on the same split, their predictions averaged.

:class:`EnsembleEstimator` is the bench's estimator interface (``fit(seqs, y, valid=...)``,
``predict_with_scores``) over member estimators that it builds and fits one after the other
within one time budget: each member gets an equal share of what is left when its turn comes,
so a member that stops early (on validation) leaves more to the next.  The ensemble's budget
governs: a member recipe's own ``time_budget_minutes`` is not used.  A recipe that lists
``members:`` runs as one (:mod:`genolm.bench.recipes`).

:func:`mean_prediction` combines the members' outputs: class probabilities are averaged (binary:
the probability of ``classes_[1]``; multiclass: the distribution; multilabel: each label's;
token classification: per nucleotide), the label is the argmax (binary and multilabel: 0.5),
and regression values are averaged.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from genolm.bench.baselines import Prediction
from genolm.errors import ConfigError

#: ``budget_s or None -> an unfitted estimator``: how a member is built when its turn comes
MemberBuilder = Callable[[float | None], object]


def _classify(p: np.ndarray, classes: np.ndarray, task_type: str):
    """Labels of averaged probabilities: ``classes[argmax]`` (binary: ``p > 0.5``; ties go to
    ``classes[0]``, as the members' own argmax does)."""
    if task_type == "binary" or (task_type == "token_classification" and p.ndim == 1):
        return classes[(p > 0.5).astype(np.int64)]
    return classes[p.argmax(-1)]


def mean_prediction(task_type: str, classes, predictions: Sequence[Prediction]) -> Prediction:
    """The members' :class:`~genolm.bench.baselines.Prediction` values averaged (module doc)."""
    if not predictions:
        raise ConfigError("an ensemble needs at least one member's predictions")
    scores = [p.y_score for p in predictions]
    if task_type == "regression":
        v = np.mean([np.asarray(s, dtype=np.float64) for s in scores], axis=0)
        return Prediction(v, v)
    if task_type == "multilabel":
        p = np.mean([np.asarray(s, dtype=np.float64) for s in scores], axis=0)
        return Prediction((p >= 0.5).astype(np.int64), p)
    classes = np.asarray(classes)
    if task_type == "token_classification":  # lists of per-nucleotide arrays, one per sequence
        mean = [
            np.mean([np.asarray(m[i], dtype=np.float64) for m in scores], axis=0)
            for i in range(len(scores[0]))
        ]
        return Prediction([_classify(p, classes, task_type) for p in mean], mean)
    p = np.mean([np.asarray(s, dtype=np.float64) for s in scores], axis=0)
    return Prediction(_classify(p, classes, task_type), p)


class EnsembleEstimator:
    """Fit ``members`` (``[(name, builder)]``, module doc) in turn within ``budget_s`` seconds
    (``None``: no budget) and average their predictions.

    Learned attributes: ``members_`` (the fitted estimators), ``shares_`` (each member's budget,
    seconds), ``wall_s_``, ``n_params_`` / ``n_trainable_`` (summed over members);
    ``member_predictions_``: each member's :class:`~genolm.bench.baselines.Prediction` from the
    last ``predict_with_scores`` call.
    """

    def __init__(
        self, members: Sequence[tuple[str, MemberBuilder]], task_type: str, *, budget_s: float | None
    ):
        if len(members) < 2:
            raise ConfigError(f"an ensemble needs at least two members, got {len(members)}")
        self.members = list(members)
        self.task_type = task_type
        self.budget_s = budget_s

    @property
    def classes_(self):
        return getattr(self.members_[0], "classes_", None)

    def fit(self, seqs, y, *, valid=None, ids=None) -> EnsembleEstimator:
        t0 = time.perf_counter()
        self.members_, self.shares_ = [], []
        self.member_predictions_ = None
        n = len(self.members)
        for i, (name, build) in enumerate(self.members):
            share = None
            if self.budget_s is not None:
                share = max(1.0, (self.budget_s - (time.perf_counter() - t0)) / (n - i))
                if share < 0.1 * self.budget_s / n:
                    warnings.warn(
                        f"ensemble member '{name}' gets {share:.0f} s of the {self.budget_s:.0f} s budget "
                        "(the earlier members used the rest); its predictions still count as much as "
                        "theirs. Give the ensemble a larger time_budget_minutes",
                        stacklevel=2,
                    )
            est = build(share).fit(seqs, y, valid=valid, ids=ids)
            if i and self.task_type not in ("regression", "multilabel"):
                mine, first = getattr(est, "classes_", None), self.classes_
                if mine is None or first is None or list(mine) != list(first):
                    raise ConfigError(
                        f"ensemble member '{name}' learned the classes {mine}, the first member {first}: "
                        "the members' outputs cannot be averaged"
                    )
            self.members_.append(est)
            self.shares_.append(share)
        self.n_params_ = sum(int(getattr(m, "n_params_", 0)) for m in self.members_)
        self.n_trainable_ = sum(
            int(getattr(m, "n_trainable_", getattr(m, "n_params_", 0))) for m in self.members_
        )
        self.wall_s_ = time.perf_counter() - t0
        return self

    def predict_with_scores(self, seqs, *, ids=None) -> Prediction:
        preds = [m.predict_with_scores(seqs, ids=ids) for m in self.members_]
        self.member_predictions_ = preds  # the bench scores each member on the test rows too
        return mean_prediction(self.task_type, self.classes_, preds)

    def predict(self, seqs):
        return self.predict_with_scores(seqs).y_pred


__all__ = ["EnsembleEstimator", "MemberBuilder", "mean_prediction"]
