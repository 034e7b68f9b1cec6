"""A task and a suite (parsed from YAML), and the registries that hold them."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from genolm.bench.tasks.spec import DataSpec, SplitPolicy, TaskSplit, _from_mapping, _non_default
from genolm.bench.tasks.splits import _load
from genolm.bench.tasks.vocab import CLASSIFICATION, METRICS, SPLIT_NAMES
from genolm.constants import PRIMARY_METRIC, TASK_TYPES
from genolm.errors import ConfigError
from genolm.registry import Registry, check_choice


@dataclasses.dataclass(eq=False)
class Task:
    """One benchmark task, parsed from YAML.  ``load_splits()`` reads its data.

    Attributes are the YAML keys; ``path`` is the YAML file it came from (relative data paths
    are taken from its folder), ``None`` for tasks built in code.
    """

    name: str
    task_type: str
    data: Any
    version: int = 1
    description: str = ""
    source: str = ""
    citation: str = ""
    license: str = ""
    metric: str | None = None
    max_length: int | None = None
    labels: list[str] | None = None
    #: raw label value (as a string) -> class name or class id
    label_map: dict[str, Any] | None = None
    split_policy: Any = None
    tags: list[str] = dataclasses.field(default_factory=list)
    notes: str = ""
    path: Path | None = dataclasses.field(default=None, init=False, repr=False)

    def __post_init__(self):
        src = f"task '{self.name}'"
        if not self.name or not re.fullmatch(r"[\w.+-]+(/[\w.+-]+)*", self.name):
            raise ConfigError(
                f"{src}: a task name is words joined by '/', '-', '_' or '.', got '{self.name}'"
            )
        check_choice("task_type", self.task_type, TASK_TYPES, where=src)
        self.metric = self.metric or PRIMARY_METRIC[self.task_type]
        check_choice(f"metric for a {self.task_type} task", self.metric, METRICS[self.task_type], where=src)
        if self.version < 1:
            raise ConfigError(f"{src}: version must be >= 1, got {self.version}")
        if self.max_length is not None and self.max_length < 1:
            raise ConfigError(f"{src}: max_length must be >= 1 or null, got {self.max_length}")
        if isinstance(self.data, Mapping):
            self.data = _from_mapping(DataSpec, self.data, f"{src}: data")
        if not isinstance(self.data, DataSpec):
            raise ConfigError(f"{src}: 'data' must be a mapping, got {self.data!r}")
        if isinstance(self.split_policy, Mapping):
            self.split_policy = _from_mapping(SplitPolicy, self.split_policy, f"{src}: split_policy")
        if self.data.pooled and self.split_policy is None:
            raise ConfigError(
                f"{src}: the data has no official split ('file' / 'classes'), so the task needs a "
                "split_policy, e.g. {method: stratified, fractions: {train: 0.8, test: 0.2}, seed: 0}"
            )
        if self.split_policy is not None and not self.data.pooled:
            raise ConfigError(f"{src}: split_policy is only for data without official splits")
        if self.split_policy is not None and self.split_policy.method == "stratified":
            if self.task_type not in CLASSIFICATION:
                raise ConfigError(f"{src}: a stratified split needs a binary or multiclass task")
        if self.labels is not None:
            if len(set(self.labels)) != len(self.labels):
                raise ConfigError(f"{src}: labels must be unique, got {self.labels}")
            if self.task_type == "binary" and len(self.labels) != 2:
                raise ConfigError(f"{src}: a binary task has 2 labels, got {self.labels}")
            if self.task_type == "regression":
                raise ConfigError(f"{src}: a regression task has no class labels")
        if self.data.label_from == "header" and self.data.kind == "make_task":
            raise ConfigError(f"{src}: label_from: header is for FASTA data")
        self._cache: dict[str, TaskSplit] = {}

    # --- identity ---------------------------------------------------------------------

    @property
    def num_labels(self) -> int | None:
        """Number of classes / labels (``None`` for regression or before labels are known)."""
        if self.task_type == "regression":
            return 1
        return len(self.labels) if self.labels is not None else None

    def summary(self) -> str:
        """One line: type, metric, max length and the first line of the description."""
        first = self.description.strip().splitlines()[0] if self.description.strip() else ""
        ml = f", {self.max_length} bp" if self.max_length else ""
        return f"{self.task_type} ({self.metric}{ml}) {first}".strip()

    def to_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            if not f.init:
                continue
            v = getattr(self, f.name)
            if dataclasses.is_dataclass(v):
                v = _non_default(v)
            out[f.name] = v
        return out

    def copy(self) -> Task:
        new = copy.copy(self)
        new._cache = {}
        return new

    def __repr__(self) -> str:
        return f"Task({self.name!r}, v{self.version}, {self.task_type}, metric={self.metric!r})"

    # --- data -------------------------------------------------------------------------

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path is not None else Path.cwd()

    def load_splits(
        self,
        names: Iterable[str] | None = None,
        *,
        limit: int | None = None,
        local_copy: str | os.PathLike | None = None,
    ) -> dict[str, TaskSplit]:
        """Read and check the data; ``{split: TaskSplit}`` for ``train``, ``valid`` (if the
        task has one) and ``test``.

        Parameters
        ----------
        names : iterable of str, optional
            Only these splits (e.g. ``["test"]`` for a quick look).  Default is all.
        limit : int, optional
            Keep ``limit`` evenly spaced rows of each split (smoke tests; splits made by a
            ``split_policy`` are made from all rows first).  Default is all rows.
        local_copy : path, optional
            For a Hub task: a folder laid out like the Hub repository, read instead.

        Returns
        -------
        dict of str to TaskSplit
            In ``train``, ``valid``, ``test`` order.  Results are cached on the task.
        """
        want = list(names) if names is not None else None
        if want is not None:
            for n in want:
                check_choice("split name", n, SPLIT_NAMES, where=f"task '{self.name}'")
        key = json.dumps([want, limit, str(local_copy) if local_copy else None])
        if key not in self._cache:
            self._cache[key] = _load(self, want, limit, local_copy)
        return dict(self._cache[key])


@dataclasses.dataclass(eq=False)
class Suite:
    """A named list of tasks.  ``members`` holds :class:`Task` objects or registered names."""

    name: str
    members: list = dataclasses.field(default_factory=list)
    version: int = 1
    description: str = ""
    citation: str = ""
    path: Path | None = None

    def tasks(self) -> list[Task]:
        out = []
        for m in self.members:
            out.append(m.copy() if isinstance(m, Task) else TASKS.get(m).copy())
        return out

    def summary(self) -> str:
        first = self.description.strip().splitlines()[0] if self.description.strip() else ""
        return f"{len(self.members)} tasks: {first}".strip()


TASKS: Registry[Task] = Registry("task")
SUITES: Registry[Suite] = Registry("suite")


def task_from_dict(
    data: Mapping, *, path: str | os.PathLike | None = None, source: str | None = None
) -> Task:
    """Build a :class:`Task` from a mapping (a parsed YAML); ``path`` anchors relative paths."""
    source = source or (str(path) if path is not None else "task")
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: a task is a mapping of keys to values")
    data = dict(data)
    # parse the nested mappings first so their errors name where they are
    name = data.get("name", "?")
    if isinstance(data.get("data"), Mapping):
        data["data"] = _from_mapping(DataSpec, data["data"], f"{source}: task '{name}': data")
    if isinstance(data.get("split_policy"), Mapping):
        data["split_policy"] = _from_mapping(
            SplitPolicy, data["split_policy"], f"{source}: task '{name}': split_policy"
        )
    task = _from_mapping(Task, data, source)
    task.path = Path(path).resolve() if path is not None else None
    return task
