"""kNN on frozen embeddings: the ``knn`` bench mode.

A test sequence gets the (similarity-weighted) labels of its ``k`` nearest training sequences by
cosine similarity of their embeddings, searched with the database's exact engine
(:class:`genolm.db.engine.ExactEngine`).  ``k`` is chosen on the validation split from
``knn_k`` (lowest validation loss of the same kind the probe minimises).  Nothing is trained:
the mode measures how well the embedding space alone groups the task's labels.

Outputs are what :meth:`genolm.bench.finetune.Targets.to_prediction` takes: log class frequencies
among the neighbours (classification: softmax gives back the frequencies), logits of the label
frequencies (multilabel), or the neighbours' mean standardised value (regression).
"""

from __future__ import annotations

import numpy as np

from genolm.errors import ConfigError

#: the default grid of ``k`` (``FinetuneConfig.knn_k``)
KNN_K = (1, 3, 5, 10, 20, 50)
_EPS = 1e-3


class KNNHead:
    """Cosine kNN over training embeddings; ``fit(X_tr, t_tr, X_va, t_va)`` picks ``k``.

    Parameters: ``task_type`` (not token classification), ``n_out`` (classes or labels),
    ``ks`` (the grid), ``loss`` (``loss(raw, t) -> float``, the validation criterion).
    Learned: ``k_``, ``selection_`` (per ``k`` its validation loss), ``engine_``.
    """

    def __init__(self, task_type: str, n_out: int, ks=KNN_K, loss=None):
        if task_type == "token_classification":
            raise ConfigError(
                "the knn mode classifies whole sequences; token classification is not supported: "
                "use --modes probe for per-nucleotide tasks"
            )
        ks = sorted({int(k) for k in ks})
        if not ks or ks[0] < 1:
            raise ConfigError(f"knn_k must be a non-empty list of positive integers, got {ks}")
        self.task_type, self.n_out, self.ks, self.loss = task_type, n_out, ks, loss

    def fit(self, X_tr, t_tr, X_va, t_va) -> KNNHead:
        from genolm.db.engine import ExactEngine

        X_tr = np.asarray(X_tr, dtype=np.float32)
        self.engine_ = ExactEngine(X_tr.shape[1], "cos")
        self.engine_.add(np.arange(len(X_tr), dtype=np.int64), X_tr)
        self.t_ = np.asarray(t_tr)
        ks = sorted({min(k, len(X_tr)) for k in self.ks})  # k capped at the training size
        kmax = max(ks)
        hits = self.engine_.search(np.asarray(X_va, dtype=np.float32), kmax)
        self.selection_, best = [], None
        for k in ks:
            raw = self._raw(hits.keys[:, :k], hits.scores[:, :k])
            loss = float(self.loss(raw, t_va)) if self.loss is not None else 0.0
            self.selection_.append({"k": k, "valid_loss": loss})
            if best is None or loss < best[1] - 1e-12:
                best = (k, loss)
        self.k_ = best[0]
        return self

    def _raw(self, keys: np.ndarray, scores: np.ndarray) -> np.ndarray:
        w = np.clip(scores.astype(np.float64), 0.0, None) + _EPS  # similarity weights, never all 0
        w = np.where(keys >= 0, w, 0.0)
        w = w / w.sum(1, keepdims=True)
        t = self.t_[np.clip(keys, 0, None)]
        if self.task_type == "regression":
            return (w * t).sum(1, keepdims=True)
        if self.task_type == "multilabel":
            f = np.einsum("qk,qkl->ql", w, t.astype(np.float64))
            f = np.clip(f, _EPS, 1 - _EPS)
            return np.log(f / (1 - f))
        f = np.zeros((len(keys), self.n_out))
        for j in range(keys.shape[1]):
            np.add.at(f, (np.arange(len(keys)), t[:, j]), w[:, j])
        return np.log(f + _EPS)

    def raw(self, X) -> np.ndarray:
        hits = self.engine_.search(np.asarray(X, dtype=np.float32), self.k_)
        return self._raw(hits.keys, hits.scores)

    def size(self) -> int:
        """Stored numbers (the training embeddings): what the mode keeps beside the backbone."""
        return 0


__all__ = ["KNNHead", "KNN_K"]
