"""A task's data as every entry of the bench sees it.

:func:`prepare_task` loads the splits, carves a validation split from train when there is none
(seeded, stratified, the same for every model), refuses bad input (an empty split, mismatched
lengths, a split with a single class), hashes each split (:func:`~genolm.bench.records.split_sha256`)
and runs the leak audit (:func:`genolm.bench.audit.audit_splits`) on the splits as the task gives
them -- exactly what ``genolm audit --train ... [--valid ...] --test ...`` sees, so the two commands
agree on the same files.  A validation split the bench carves from train is a random subset of
train: checks between the two would measure train's own redundancy or label--feature correlation
(a GC shortcut *within* train), not leakage into the test score, so it is not audited.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from genolm.bench.audit import audit_splits
from genolm.bench.finetune import carve_validation
from genolm.bench.records import split_sha256
from genolm.constants import IGNORE_INDEX, TASK_TYPES
from genolm.errors import InputError
from genolm.registry import check_choice


def resolve_tasks(tasks: Sequence[Any] = (), suite: str | None = None) -> list:
    """Task objects from names / YAML paths / task objects, or a suite (default ``"mini"``)."""
    from genolm.bench.tasks import load_suite, load_task

    out = [t if hasattr(t, "load_splits") else load_task(str(t)) for t in tasks]
    if suite or not out:
        out += list(load_suite(suite or "mini"))
    return out


class Split(NamedTuple):
    """One split: sequences, labels and ids, in the same order."""

    sequences: list[str]
    labels: Any  # np.ndarray, or a list of per-nucleotide arrays for token classification
    ids: list[str]


class TaskData(NamedTuple):
    """A task's splits as every entry sees them, their hashes, and the audit."""

    train: Split
    valid: Split
    test: Split
    carved: bool
    hashes: dict
    audit: Any  # AuditReport
    timings: dict  # load_splits, audit (seconds)


def _as_split(sp, name: str, task_type: str) -> Split:
    seqs = [str(s) for s in sp.sequences]
    labels = sp.labels
    if task_type == "token_classification":
        labels = [np.asarray(x) for x in labels]
    else:
        labels = np.asarray(labels)
        if labels.dtype == object:
            try:
                labels = labels.astype(float if task_type == "regression" else str)
            except (TypeError, ValueError):
                raise InputError(f"split '{name}': labels of mixed or unreadable types") from None
    ids = [str(i) for i in (sp.ids if getattr(sp, "ids", None) is not None else range(len(seqs)))]
    if not seqs:
        raise InputError(f"split '{name}' is empty")
    if len(labels) != len(seqs) or len(ids) != len(seqs):
        raise InputError(f"split '{name}': {len(seqs)} sequences, {len(labels)} labels, {len(ids)} ids")
    return Split(seqs, labels, ids)


def _check_classes(task_name: str, task_type: str, splits: dict[str, Split]) -> None:
    """A classification split with a single class cannot score MCC or AUROC: refuse it."""
    for name, sp in splits.items():
        if task_type in ("binary", "multiclass"):
            classes = np.unique(sp.labels)
            if len(classes) < 2:
                raise InputError(
                    f"task '{task_name}': split '{name}' holds a single class ({classes[0]!r}); "
                    "MCC and AUROC are undefined and training cannot learn a boundary",
                    hint="check the task's label column and how its splits were made",
                )
        elif task_type == "multilabel" and name != "valid":
            lab = np.asarray(sp.labels)
            if lab.ndim != 2:
                raise InputError(f"task '{task_name}': multilabel split '{name}' labels must be (n, L)")
            if np.all(lab.min(0) == lab.max(0)):
                raise InputError(f"task '{task_name}': split '{name}': every label is constant")
        elif task_type == "token_classification":
            flat = np.concatenate([np.asarray(x).reshape(-1) for x in sp.labels])
            if len(np.unique(flat[flat != IGNORE_INDEX])) < 2:
                raise InputError(f"task '{task_name}': split '{name}' nucleotide labels hold a single class")


def prepare_task(task, *, fail_on: str = "fail", val_fraction: float = 0.1, carve_seed: int = 0):
    """Load, check, carve and audit ``task``.  Returns ``(TaskData, refused: bool)``."""
    tt = task.task_type
    check_choice("task type", tt, TASK_TYPES, where=f"task '{task.name}'")
    t0 = time.perf_counter()
    raw = task.load_splits()
    for need in ("train", "test"):
        if need not in raw:
            raise InputError(f"task '{task.name}' has no '{need}' split (splits: {', '.join(raw)})")
    splits = {k: _as_split(v, k, tt) for k, v in raw.items() if k in ("train", "valid", "test")}
    given = dict(splits)  # what the task's files hold: the audit sees exactly these (genolm audit does)
    carved = "valid" not in splits
    if carved:
        tr = splits["train"]
        strat = np.zeros(len(tr.sequences)) if tt == "token_classification" else tr.labels
        a, b = carve_validation(strat, val_fraction, seed=carve_seed, task_type=tt)

        def take(sp, idx):
            lab = [sp.labels[i] for i in idx] if isinstance(sp.labels, list) else sp.labels[idx]
            return Split([sp.sequences[i] for i in idx], lab, [sp.ids[i] for i in idx])

        splits = {"train": take(tr, a), "valid": take(tr, b), "test": splits["test"]}
    _check_classes(task.name, tt, splits)
    hashes = {k: {"n": len(v.sequences), "sha256": split_sha256(*v)} for k, v in splits.items()}
    hashes["valid"]["carved_from_train"] = carved
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    audit_type = {"token_classification": "binary"}.get(tt, tt)
    audit_in = {
        k: (v.sequences if tt == "token_classification" else (v.sequences, v.labels, v.ids))
        for k, v in given.items()
    }
    report = audit_splits(audit_in, task_type=audit_type, fail_on="never")
    refused = report.violates(fail_on)
    timings = {"load_splits": t_load, "audit": time.perf_counter() - t0}
    data = TaskData(splits["train"], splits["valid"], splits["test"], carved, hashes, report, timings)
    return data, refused
