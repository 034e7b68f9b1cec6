"""What the bench asks of anything it fits: the estimator protocol.

Every entry of a bench -- the baselines (:mod:`genolm.bench.baselines`), a model being
fine-tuned or probed (:class:`~genolm.bench.finetune.Finetuner`), an LLM by prompt or head
(:mod:`genolm.llm.classify`) -- is an :class:`Estimator`: two methods with the same keywords,
so the bench calls them all the same way and never inspects a signature.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Estimator(Protocol):
    """The two methods the bench calls, plus attributes it reads when present.

    Methods
    -------
    fit(sequences, labels, *, valid=None, ids=None) -> self
        Train on ``sequences`` (list of str) and ``labels`` (``(n,)``, ``(n, L)`` for multilabel,
        or a list of per-nucleotide arrays for token classification).  ``valid`` is the
        ``(sequences, labels)`` of the validation split, for early stopping or model selection;
        an estimator that needs none ignores it.  ``ids`` are the sequences' ids, for caches
        keyed by sequence; most estimators ignore them.  Never sees the test split.
    predict_with_scores(sequences, *, ids=None) -> Prediction
        ``(y_pred, y_score)`` in the form :func:`genolm.bench.metrics.compute_metrics` takes.

    Attributes read after ``fit`` (optional)
    ----------------------------------------
    classes_ : the class labels, in the order of ``y_score``'s columns.
    n_params_, n_trainable_ : parameter counts; otherwise :func:`parameter_counts` derives them
        from ``size()``, a torch ``model_`` or a scikit-learn ``model_``'s coefficients.
    get_params() : the configuration recorded with a run (scikit-learn estimators).
    """

    def fit(
        self, sequences: Sequence[str], labels: Any, *, valid: tuple | None = None, ids=None
    ) -> Estimator: ...

    def predict_with_scores(self, sequences: Sequence[str], *, ids=None) -> Any: ...


def parameter_counts(est) -> tuple[int, int]:
    """``(total, trainable)`` parameters of a fitted estimator (both the same for baselines)."""
    if hasattr(est, "n_params_"):
        return int(est.n_params_), int(getattr(est, "n_trainable_", est.n_params_))
    if hasattr(est, "size"):
        n = int(est.size())
    elif hasattr(est, "model_") and hasattr(est.model_, "parameters"):
        n = int(sum(p.numel() for p in est.model_.parameters()))
    elif getattr(est, "model_", None) is not None and hasattr(est.model_, "coef_"):
        n = int(np.size(est.model_.coef_) + np.size(est.model_.intercept_))
    else:
        n = 0
    return n, n


def fit_predict(est: Estimator, data, timings: dict[str, float], *, start: float | None = None):
    """Fit ``est`` on ``data``'s train split (valid for early stopping, ids for feature caches)
    and predict its test split; ``timings["fit"]`` counts from ``start`` (default: now),
    ``timings["predict"]`` the prediction.  Returns the prediction."""
    t0 = time.perf_counter() if start is None else start
    est.fit(
        data.train.sequences,
        data.train.labels,
        valid=(data.valid.sequences, data.valid.labels),
        ids=data.train.ids,
    )
    timings["fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = est.predict_with_scores(data.test.sequences, ids=data.test.ids)
    timings["predict"] = time.perf_counter() - t0
    return pred
