"""``genolm validate``: a task's schema and, optionally, its data."""

from __future__ import annotations

from typing import Any

import numpy as np

from genolm.bench.tasks.vocab import CLASSIFICATION
from genolm.errors import ConfigError, InputError

# --- validation ---------------------------------------------------------------------------


class ValidationResult(dict):
    """``{"task": name, "problems": [...], "splits": {...}}``; ``ok`` when no problems."""

    @property
    def ok(self) -> bool:
        return not self["problems"]


def validate_task(task, *, data: bool = False, limit: int | None = None) -> ValidationResult:
    """Check a task: its schema (already done by parsing) and, with ``data=True``, that the
    data loads and its labels are sane.  Problems are collected, not raised."""
    res = ValidationResult(task=task.name, problems=[], warnings=[], splits={})
    d = task.data
    if d.kind == "hub" and d.revision in ("main", "master"):
        res["warnings"].append(f"Hub revision '{d.revision}' is a branch, not a pinned commit")
    if task.task_type in CLASSIFICATION and task.labels is None:
        res["warnings"].append("no class names declared (labels:); they are inferred from the data")
    if not data:
        return res
    try:
        splits = task.load_splits(limit=limit)
    except (InputError, ConfigError, FileNotFoundError) as e:
        res["problems"].append(str(e))
        return res
    for name, sp in splits.items():
        info: dict[str, Any] = {"n": len(sp)}
        lens = np.fromiter((len(s) for s in sp.sequences), dtype=np.int64, count=len(sp))
        info["length"] = [int(lens.min()), int(np.median(lens)), int(lens.max())]
        if task.task_type in CLASSIFICATION:
            vals, cnt = np.unique(sp.labels, return_counts=True)
            info["classes"] = {task.labels[int(v)]: int(c) for v, c in zip(vals, cnt)}
        elif task.task_type == "regression":
            info["label_range"] = [float(sp.labels.min()), float(sp.labels.max())]
        elif task.task_type == "multilabel":
            info["positives_per_label"] = sp.labels.sum(0).astype(int).tolist()[:20]
        if task.max_length and lens.max() > task.max_length:
            res["warnings"].append(
                f"split '{name}': {int((lens > task.max_length).sum())} sequences are longer than "
                f"max_length {task.max_length} (up to {int(lens.max())})"
            )
        res["splits"][name] = info
    if "test" not in splits and (limit is None):
        res["problems"].append("no test split")
    return res
