"""The vocabulary of task files: task types, metrics, split names, formats, file extensions."""

from __future__ import annotations

CLASSIFICATION = ("binary", "multiclass")
#: metrics a task of each type may name as its primary metric (see genolm.bench.metrics)
METRICS = {
    "binary": ("mcc", "f1", "accuracy", "auroc", "auprc"),
    "multiclass": ("mcc", "f1", "accuracy", "auroc", "auprc"),
    "multilabel": ("mcc", "f1", "accuracy", "auroc", "auprc"),
    "regression": ("spearman", "pearson", "r2"),
    "token_classification": ("mcc", "f1", "accuracy"),
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
