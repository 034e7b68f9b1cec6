"""Vocabulary shared by every layer of genolm, defined once.

``IGNORE_INDEX``   the label that a loss skips (special tokens, unmasked positions, padding,
                   nucleotides outside every annotated feature); ``-100``, the PyTorch and
                   Hugging Face convention, so ``F.cross_entropy(..., ignore_index=IGNORE_INDEX)``
                   and the stock ``*ForTokenClassification`` heads agree with genolm's own.
``TASK_TYPES``     the kinds of benchmark task (:mod:`genolm.bench.tasks`).
``PRIMARY_METRIC`` the metric a benchmark ranks models by, per task type, when a task names none.
``PRECISIONS``     the ``precision`` settings of inference, fine-tuning and pretraining (``auto``:
                   bf16 where the device runs it natively, see :func:`genolm.infer.resolve_precision`).
"""

from __future__ import annotations

IGNORE_INDEX = -100

PRECISIONS = ("fp32", "bf16", "auto")

#: how token states pool into one vector per sequence (models, embeddings, probes, the catalogue)
POOLINGS = ("cls", "mean", "last", "max")

TASK_TYPES = ("binary", "multiclass", "multilabel", "regression", "token_classification")

PRIMARY_METRIC = {
    "binary": "mcc",
    "multiclass": "mcc",
    "multilabel": "mcc",
    "regression": "spearman",
    # scored over the labelled nucleotides, as a binary or multiclass task
    "token_classification": "mcc",
}
