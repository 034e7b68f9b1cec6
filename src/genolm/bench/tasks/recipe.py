"""Recipe tasks (``data.make_task``): built on first use into the cache."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path

from genolm.bench.tasks.sources import expand_path
from genolm.bench.tasks.spec import _from_mapping

# --- recipes ------------------------------------------------------------------------------


def recipe_config(task):
    """The :class:`~genolm.bench.maketask.MakeTaskConfig` of a recipe task (paths resolved)."""
    from genolm.bench.maketask import MakeTaskConfig

    rec = dict(task.data.make_task)
    for key in ("genome", "annotation"):
        v = rec.get(key)
        if v and not str(v).startswith("bundled:"):
            rec[key] = str(expand_path(v, task.base_dir))
    rec.setdefault("name", task.name)
    return _from_mapping(MakeTaskConfig, rec, f"task '{task.name}': data.make_task")


def build_recipe(task, *, cache: str | os.PathLike | None = None) -> Path:
    """Build a recipe task into the cache (once) and return its folder."""
    import genolm
    from genolm.bench.maketask import ALGORITHM_VERSION, input_sha256, make_task
    from genolm.io.genome import cache_dir

    cfg = recipe_config(task)
    key = {
        "recipe": dataclasses.asdict(cfg) | {"out": None},
        "genome": input_sha256(cfg.genome),
        "annotation": input_sha256(cfg.annotation) if cfg.annotation else None,
        "genolm": genolm.__version__,
        "algorithm": ALGORITHM_VERSION,
        "version": task.version,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    base = Path(cache) if cache is not None else cache_dir() / "tasks"
    folder = base / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', task.name)}-v{task.version}-{digest}"
    if (folder / "manifest.json").is_file():
        return folder
    make_task(dataclasses.replace(cfg, out=str(folder), overwrite=True))
    return folder
