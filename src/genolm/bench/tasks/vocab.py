"""The vocabulary of task files: task types, metrics, split names, formats, file extensions."""

from __future__ import annotations

from genolm.bench.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS, SCORE_METRICS
from genolm.constants import TASK_TYPES

CLASSIFICATION = ("binary", "multiclass")
#: metrics a task of each type may name as its primary metric (the ones genolm.bench.metrics
#: computes; token classification is scored on predicted labels only)
METRICS = {
    t: REGRESSION_METRICS
    if t == "regression"
    else tuple(m for m in CLASSIFICATION_METRICS if t != "token_classification" or m not in SCORE_METRICS)
    for t in TASK_TYPES
}
SPLIT_NAMES = ("train", "valid", "test")
FORMATS = ("csv", "tsv", "parquet", "jsonl", "fasta", "datasets")

_TABLE_EXT = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_FASTA_EXT = (".fa", ".fasta", ".fna", ".fas", ".ffn", ".seq")
_COMPRESSION_EXT = (".gz", ".bgz", ".bz2", ".xz")
