"""Benchmark tasks and suites as data: versioned YAML files, one registry each.

A **task** is one YAML mapping, parsed into the typed dataclass :class:`Task` (an unknown key
is a :class:`~genolm.errors.ConfigError` naming the nearest valid key).  A **suite** is a YAML
file with a ``suite:`` key: shared ``defaults`` and a list of tasks, each inline (merged over
the defaults), a registered task name, or a path to a task YAML.

Where tasks come from
---------------------
``TASKS`` / ``SUITES`` (:class:`~genolm.registry.Registry`) are filled at import from every
``*.yaml`` under ``genolm/bench/tasks/`` (built-in: ``mini``, ``gue``, ``nt-revised``,
``genomic-benchmarks``, ``plant-genomic-benchmark``), then from the folders / files in
``GENOLM_TASK_PATH`` (``os.pathsep``-separated) and from ``include_paths=`` arguments.
:func:`load_task` / :func:`load_suite` also take a path to a YAML file, which is read without
being registered.

Task YAML (keys of :class:`Task`; ``data`` holds the keys of :class:`DataSpec`)::

    name: gue/prom_core_all          # registry name
    version: 1                       # bump when the data or its labels change
    description: Human core promoter (-34..+35 bp around the TSS) vs non-promoter.
    source: GUE (DNABERT-2)
    citation: Zhou et al. 2024, ICLR, arXiv:2306.15006
    license: Apache-2.0
    task_type: binary                # binary, multiclass, multilabel, regression, token_classification
    metric: mcc                      # primary metric; default by task type (mcc / spearman)
    max_length: 70                   # bp, or null
    labels: [non_promoter, promoter] # class names; class id = position
    data:                            # one of three kinds of location:
      # (1) local files; paths relative to this YAML, ${VAR} / ${VAR:-default} expanded
      root: ${SHARED_DATA:-../../shared/data}/tasks/gue/prom/prom_core_all
      splits: {train: train.csv, valid: dev.csv, test: test.csv}   # canonical name -> source
      # (2) a Hugging Face dataset, pinned:  hub: leannmlindsey/GUE, revision: <sha>,
      #     config: prom_core_all, splits: {train: train, valid: dev, test: test}
      # (3) a recipe built from a genome + annotation by `genolm make-task`:  make_task: {...}
      sequence_column: sequence
      label_column: label
    split_policy:                    # only for data without an official split
      {method: stratified, fractions: {train: 0.8, test: 0.2}, seed: 0, dedupe: true}

Local formats: CSV / TSV / Parquet / JSONL tables (:func:`~genolm.io.read_task_table`), FASTA
with one file (or a list of files) per class (``classes: {name: file}``, or per split
``splits: {train: {name: file}, ...}``; a glob string reads every FASTA in ``root`` with
:func:`~genolm.io.read_fasta_folder`), and FASTA whose headers carry the label
(``format: fasta``, ``label_from: header``: ``>name|label`` or ``>name|l1|l2|...``, the
Plant Genomic Benchmark layout).  Split names are canonical (``train``, ``valid``, ``test``):
the source names (GUE's ``dev``) are the values of ``splits``.  **The validation split is
never invented here**: a task without one has none, and the harness carves one from train.

Hugging Face datasets are loaded with ``datasets.load_dataset(hub, config, revision=...)``
(files that ``datasets`` cannot parse, like the PGB FASTA, with ``huggingface_hub``).  When
the Hub cannot be reached, only the local cache is used and a cache miss is an
:class:`~genolm.errors.InputError` saying so.  A local copy laid out like the Hub repository
is used instead when given (``data.local_copy``, ``load_splits(local_copy=...)``, or
``GENOLM_HUB_COPY=/folder`` holding ``<owner>/<name>/``); with ``data_files`` it is read by
``datasets.load_dataset("csv" | "parquet" | "json", data_files=...)``.

Checks made when splits are loaded (each an ``InputError`` that names the file and line / row):
a missing column (with "did you mean"), invalid sequence characters, labels outside the
declared classes (naming the values and the first row), a classification split holding one
class (naming the split), a binary task with other than two classes.

Recipe tasks (``data.make_task``) are built on first use into ``$GENOLM_CACHE/tasks``
(default ``~/.cache/genolm/tasks``), keyed by a hash of the recipe, the genome file and the
genolm version, written atomically; see :mod:`genolm.bench.maketask`.  The embedded ``mini``
suite is two such recipes on the bundled chloroplast, so it works offline and builds in about
a second.  (Built, not shipped: package data holds only ``data/**`` and ``*.yaml``, and a
recipe keeps the derivation visible and reproducible.)
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from genolm.errors import ConfigError, InputError
from genolm.registry import Registry, did_you_mean

TASK_TYPES = ("binary", "multiclass", "multilabel", "regression", "token_classification")
CLASSIFICATION = ("binary", "multiclass")
#: primary metric per task type, when the YAML names none
DEFAULT_METRIC = {
    "binary": "mcc",
    "multiclass": "mcc",
    "multilabel": "mcc",
    "regression": "spearman",
    "token_classification": "mcc",
}
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
#: label value for padding positions of token-classification labels
IGNORE_INDEX = -100

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


# --- schema -------------------------------------------------------------------------------


def _check_choice(value: str, choices: tuple[str, ...] | list[str], what: str, source: str) -> None:
    if value not in choices:
        raise ConfigError(
            f"{source}: unknown {what} '{value}'.{did_you_mean(str(value), list(choices))} "
            f"Choose from: {', '.join(choices)}."
        )


@dataclasses.dataclass
class SplitPolicy:
    """How to split a data set that has no official split.

    ``method`` is ``"stratified"`` (class proportions kept in every split; classification
    only) or ``"random"``.  ``fractions`` maps split names (``train``, ``valid``, ``test``) to
    fractions summing to 1.  ``group_column`` keeps the rows that share a value (a species, a
    gene family, a source file: ``file``) together in one split.  ``dedupe`` drops exact and
    reverse-complement duplicates first, so no sequence is in two splits.  Default is a seeded
    stratified 80 / 20 train / test split.
    """

    method: str = "stratified"
    fractions: dict[str, float] = dataclasses.field(default_factory=lambda: {"train": 0.8, "test": 0.2})
    seed: int = 0
    group_column: str | None = None
    #: drop exact and reverse-complement duplicate sequences (the later copies) before splitting
    dedupe: bool = False

    def __post_init__(self):
        _check_choice(self.method, ("stratified", "random"), "split method", "split_policy")
        fr = {}
        for k, v in dict(self.fractions).items():
            _check_choice(k, SPLIT_NAMES, "split name", "split_policy.fractions")
            try:
                fr[k] = float(v)
            except (TypeError, ValueError):
                raise ConfigError(f"split_policy.fractions: '{k}' must be a number, got {v!r}") from None
            if not 0.0 < fr[k] < 1.0:
                raise ConfigError(f"split_policy.fractions: '{k}' must be in (0, 1), got {v}")
        if "train" not in fr or len(fr) < 2:
            raise ConfigError("split_policy.fractions needs 'train' and at least one of 'valid', 'test'")
        if abs(sum(fr.values()) - 1.0) > 1e-6:
            raise ConfigError(f"split_policy.fractions must sum to 1, got {sum(fr.values()):g}")
        self.fractions = {k: fr[k] for k in SPLIT_NAMES if k in fr}


@dataclasses.dataclass
class DataSpec:
    """Where a task's data lives and how to read it (the ``data:`` mapping of a task YAML).

    Exactly one location kind: local files (``root`` + ``splits`` / ``file`` / ``classes``), a
    Hugging Face dataset (``hub`` + ``revision``), or a genome recipe (``make_task``).
    """

    #: folder that relative file names are taken from (itself relative to the YAML)
    root: str | None = None
    #: csv, tsv, parquet, jsonl, fasta; for a Hub dataset, 'datasets' (default) or a file format
    format: str | None = None
    #: canonical split (train / valid / test) -> file(s), {class: file(s)}, or Hub split name
    splits: dict[str, Any] | None = None
    #: one table (or list) holding every row, split by ``split_policy``
    file: str | list[str] | None = None
    #: class name -> FASTA file(s), all rows split by ``split_policy``; or a glob over ``root``
    classes: dict[str, Any] | str | None = None
    sequence_column: str = "sequence"
    #: one column; several for multilabel; null for FASTA-per-class / header labels
    label_column: str | list[str] | None = "label"
    id_column: str | None = None
    #: separator of several labels in one cell (multilabel ``0;1;0``, token labels ``0 0 1``)
    label_sep: str | None = None
    #: 'column' (tables) or 'header' (FASTA '>name|label')
    label_from: str = "column"
    header_sep: str = "|"
    #: FASTA duplicate record names: error, rename or keep
    on_duplicate: str = "error"
    alphabet: str = "iupac"
    hub: str | None = None
    #: a commit sha (pinned) or a branch name
    revision: str | None = None
    config: str | None = None
    #: keep only rows whose column equals the value (or is in the list): {task: promoter_all}
    filter: dict[str, Any] | None = None
    #: split -> file pattern(s) inside the Hub repository (``{config}`` is replaced), used to
    #: read a local copy
    data_files: dict[str, Any] | None = None
    #: a folder laid out like the Hub repository, read instead of the Hub
    local_copy: str | None = None
    #: a `genolm make-task` recipe (keys of genolm.bench.maketask.MakeTaskConfig)
    make_task: dict[str, Any] | None = None

    def __post_init__(self):
        src = "data"
        kinds = [k for k, v in (("hub", self.hub), ("make_task", self.make_task)) if v]
        local = self.splits is not None or self.file is not None or self.classes is not None
        if len(kinds) > 1:
            raise ConfigError(f"{src}: give one of 'hub' and 'make_task', not both")
        if not kinds and not local:
            raise ConfigError(
                f"{src}: say where the data is: 'splits' (or 'file' / 'classes') for local files, "
                "'hub' (+ 'revision') for a Hugging Face dataset, or 'make_task' for a genome recipe"
            )
        if self.hub is not None:
            if not re.fullmatch(r"[\w.-]+/[\w.-]+", self.hub):
                raise ConfigError(f"{src}: 'hub' must be a dataset id 'owner/name', got '{self.hub}'")
            if not self.revision:
                raise ConfigError(
                    f"{src}: Hub dataset '{self.hub}' needs a pinned 'revision' (a commit sha, or 'main')"
                )
            if not self.splits:
                raise ConfigError(f"{src}: Hub dataset '{self.hub}' needs 'splits' (e.g. {{train: train}})")
        if self.format is not None:
            _check_choice(self.format, FORMATS, "format", src)
        _check_choice(self.label_from, ("column", "header"), "label_from", src)
        _check_choice(self.on_duplicate, ("error", "rename", "keep"), "on_duplicate", src)
        if self.splits is not None:
            for k in self.splits:
                _check_choice(k, SPLIT_NAMES, "split name", f"{src}.splits")
            if "train" not in self.splits:
                raise ConfigError(f"{src}.splits needs a 'train' split, got {', '.join(self.splits)}")
        if self.splits is not None and (self.file is not None or self.classes is not None):
            raise ConfigError(f"{src}: give 'splits', or 'file' / 'classes' with a split_policy, not both")
        if self.data_files is not None:
            for k in self.data_files:
                _check_choice(k, SPLIT_NAMES, "split name", f"{src}.data_files")

    @property
    def kind(self) -> str:
        return "hub" if self.hub else "make_task" if self.make_task else "local"

    @property
    def pooled(self) -> bool:
        """True when the data has no official split (``split_policy`` makes one)."""
        return self.splits is None and self.make_task is None


@dataclasses.dataclass(eq=False)
class TaskSplit:
    """One split of a task.

    ``sequences`` : list of str
    ``labels`` : np.ndarray; shape ``(n,)`` int class ids (binary / multiclass), ``(n,)`` float
    (regression), ``(n, L)`` 0/1 int8 (multilabel), ``(n, max_len)`` int per nucleotide,
    padded with ``-100`` (token classification)
    ``ids`` : list of str, unique within the split (file:line, record or id column)
    """

    sequences: list[str]
    labels: np.ndarray
    ids: list[str]
    name: str = ""

    def __len__(self) -> int:
        return len(self.sequences)

    def __repr__(self) -> str:
        return f"TaskSplit({self.name!r}, n={len(self)}, labels{tuple(self.labels.shape)})"


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
        _check_choice(self.task_type, TASK_TYPES, "task_type", src)
        self.metric = self.metric or DEFAULT_METRIC[self.task_type]
        _check_choice(self.metric, METRICS[self.task_type], f"metric for a {self.task_type} task", src)
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
                _check_choice(n, SPLIT_NAMES, "split name", f"task '{self.name}'")
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


def _non_default(obj) -> dict:
    """The fields of dataclass ``obj`` that differ from their defaults (a compact YAML form)."""
    out = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            out[f.name] = copy.deepcopy(v)
            continue
        if v != default:
            out[f.name] = copy.deepcopy(v)
    return out


_SUITE_KEYS = ("suite", "version", "description", "citation", "defaults", "tasks", "notes")


def _from_mapping(cls, data: Mapping, source: str):
    from genolm.config import from_dict

    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping, got {data!r}")
    try:
        return from_dict(cls, dict(data), source=source)
    except ConfigError as e:
        msg = str(e)
        raise ConfigError(msg if msg.startswith(source) else f"{source}: {msg}") from None
    except TypeError as e:  # a required key is missing
        missing = re.findall(r"'(\w+)'", str(e))
        raise ConfigError(f"{source}: missing required key(s): {', '.join(missing) or e}") from None


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


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such task or suite file") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None


def _deep_merge(base: Mapping, over: Mapping) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _parse_file(path: Path) -> tuple[list[Task], Suite | None]:
    """Tasks defined in a YAML file, and its suite (``None`` for a single-task file)."""
    data = _read_yaml(path)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping (a task) or a suite (a mapping with 'suite:')")
    if "suite" not in data:
        return [task_from_dict(data, path=path)], None
    for k in data:
        if k not in _SUITE_KEYS:
            raise ConfigError(
                f"{path}: unknown suite key '{k}'.{did_you_mean(k, list(_SUITE_KEYS))} "
                f"Valid keys: {', '.join(_SUITE_KEYS)}."
            )
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise ConfigError(f"{path}: 'defaults' must be a mapping")
    entries = data.get("tasks") or []
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: a suite needs a non-empty list 'tasks'")
    tasks, members = [], []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            if entry.endswith((".yaml", ".yml")):
                sub = (path.parent / entry).resolve()
                sub_tasks, sub_suite = _parse_file(sub)
                if sub_suite is not None:
                    raise ConfigError(f"{path}: tasks[{i}] '{entry}' is a suite, not a task")
                members.append(sub_tasks[0])
            else:
                members.append(entry)  # a registered name, resolved when the suite is loaded
            continue
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{path}: tasks[{i}] must be a mapping, a task name or a path")
        t = task_from_dict(_deep_merge(defaults, entry), path=path, source=f"{path}: tasks[{i}]")
        tasks.append(t)
        members.append(t)
    try:
        version = int(data.get("version", 1))
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: suite version must be an integer") from None
    suite = Suite(
        name=str(data["suite"]),
        members=members,
        version=version,
        description=str(data.get("description") or ""),
        citation=str(data.get("citation") or ""),
        path=path.resolve(),
    )
    return tasks, suite


# --- registry -----------------------------------------------------------------------------

TASKS: Registry[Task] = Registry("task")
SUITES: Registry[Suite] = Registry("suite")
_ORIGIN: dict[tuple[str, str], Path] = {}
_REGISTERED_PATHS: set[Path] = set()


def builtin_dir() -> Path:
    """The folder of built-in task and suite YAML files."""
    return Path(__file__).resolve().parent / "tasks"


def _yaml_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ConfigError(f"task include path '{path}' is neither a folder nor a file")
    return sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def _add(reg: Registry, kind: str, name: str, obj, help_text: str, origin: Path) -> None:
    if name in reg:
        raise ConfigError(
            f"{origin}: {kind} '{name}' is already defined in {_ORIGIN.get((kind, name), '?')}; "
            "rename one of them"
        )
    reg.add(name, obj, help=help_text)
    _ORIGIN[(kind, name)] = origin


def register_path(path: str | os.PathLike) -> list[str]:
    """Register every task and suite in a YAML file or a folder (walked recursively).

    Returns the names registered.  A path already registered is skipped.
    """
    root = Path(path).expanduser().resolve()
    if root in _REGISTERED_PATHS:
        return []
    names = []
    parsed = [(f, *_parse_file(f)) for f in _yaml_files(root)]
    for f, tasks, suite in parsed:
        for t in tasks:
            _add(TASKS, "task", t.name, t, t.summary(), f)
            names.append(t.name)
        if suite is not None:
            _add(SUITES, "suite", suite.name, suite, suite.summary(), f)
            names.append(suite.name)
    _REGISTERED_PATHS.add(root)
    return names


def _register_defaults() -> None:
    register_path(builtin_dir())
    for p in filter(None, os.environ.get("GENOLM_TASK_PATH", "").split(os.pathsep)):
        try:
            register_path(p)
        except ConfigError as e:  # a broken user file must not break `import genolm.bench.tasks`
            warnings.warn(f"GENOLM_TASK_PATH: {e}", stacklevel=2)


def _include(include_paths) -> None:
    if include_paths is None:
        return
    if isinstance(include_paths, (str, os.PathLike)):
        include_paths = [include_paths]
    for p in include_paths:
        register_path(p)


def _looks_like_path(x) -> bool:
    s = str(x)
    return isinstance(x, os.PathLike) or s.endswith((".yaml", ".yml")) or os.sep in s and Path(s).exists()


def load_task(name_or_path: str | os.PathLike, *, include_paths=None) -> Task:
    """A task by registry name (``"gue/prom_core_all"``) or from a task YAML path.

    ``include_paths`` (a path or a list) are registered first.  Returns a fresh copy; its
    ``load_splits()`` reads the data.
    """
    _include(include_paths)
    if _looks_like_path(name_or_path):
        path = Path(name_or_path)
        if path.is_dir() and (path / "task.yaml").is_file():  # a `genolm make-task` output folder
            path = path / "task.yaml"
        tasks, suite = _parse_file(path)
        if suite is not None:
            raise ConfigError(f"{path} is a suite ({suite.name}); load it with load_suite")
        return tasks[0]
    return TASKS.get(str(name_or_path)).copy()


def load_suite(name_or_path: str | os.PathLike, *, include_paths=None) -> list[Task]:
    """The tasks of a suite, by registry name (``"mini"``) or from a suite YAML path."""
    _include(include_paths)
    if _looks_like_path(name_or_path):
        path = Path(name_or_path)
        if path.is_dir() and (path / "task.yaml").is_file():  # a `genolm make-task` output folder
            path = path / "task.yaml"
        tasks, suite = _parse_file(path)
        return suite.tasks() if suite is not None else tasks
    return SUITES.get(str(name_or_path)).tasks()


# --- paths --------------------------------------------------------------------------------

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_path(text: str, base: Path) -> Path:
    """Expand ``${VAR}`` / ``${VAR:-default}`` and ``~``; a relative result is taken from ``base``."""

    def sub(m):
        val = os.environ.get(m.group(1))
        if val:
            return val
        if m.group(2) is not None:
            return m.group(2)
        raise ConfigError(
            f"data path '{text}' uses ${{{m.group(1)}}}, which is not set: export {m.group(1)}=/path "
            f"(or write ${{{m.group(1)}:-default}} in the YAML)"
        )

    p = Path(_VAR.sub(sub, str(text))).expanduser()
    return p if p.is_absolute() else (base / p)


def _listify(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _data_root(task: Task) -> Path:
    d = task.data
    return expand_path(d.root, task.base_dir) if d.root else task.base_dir


# --- reading ------------------------------------------------------------------------------


@dataclasses.dataclass
class _Raw:
    """Rows of one source before labels are encoded: ``where[i]`` is for messages."""

    seqs: list[str]
    labels: list | np.ndarray | None
    ids: list[str]
    where: list[tuple[str, str]]  # (path, "line 12" / "row 3" / "record 'x'")
    groups: list | None = None

    def __len__(self) -> int:
        return len(self.seqs)

    @staticmethod
    def concat(parts: list[_Raw]) -> _Raw:
        labels = None
        if all(p.labels is not None for p in parts):
            if any(isinstance(p.labels, np.ndarray) and p.labels.ndim == 2 for p in parts):
                labels = np.concatenate([np.asarray(p.labels) for p in parts])
            else:
                labels = [x for p in parts for x in p.labels]
        return _Raw(
            [s for p in parts for s in p.seqs],
            labels,
            [i for p in parts for i in p.ids],
            [w for p in parts for w in p.where],
            [g for p in parts for g in (p.groups or [None] * len(p))],
        )

    def take(self, idx) -> _Raw:
        idx = list(idx)
        lab = self.labels
        if lab is not None:
            lab = lab[idx] if isinstance(lab, np.ndarray) else [lab[i] for i in idx]
        return _Raw(
            [self.seqs[i] for i in idx],
            lab,
            [self.ids[i] for i in idx],
            [self.where[i] for i in idx],
            [self.groups[i] for i in idx] if self.groups else None,
        )


def _at(w: tuple) -> dict:
    """InputError location keywords from a ``_Raw.where`` entry: ``(path, line)`` or ``(path, record)``."""
    return {"path": w[0], "line": w[1]} if isinstance(w[1], int) else {"path": w[0], "record": w[1]}


def _fmt_of(path: Path, declared: str | None) -> str:
    if declared and declared != "datasets":
        return declared
    name = path.name.lower()
    for ext in _COMPRESSION_EXT:
        if name.endswith(ext):
            name = name[: -len(ext)]
    for ext, fmt in _TABLE_EXT.items():
        if name.endswith(ext):
            return fmt
    if name.endswith(_FASTA_EXT):
        return "fasta"
    raise InputError(
        "cannot tell the file format from its name",
        path=str(path),
        hint="set data.format to one of csv, tsv, parquet, jsonl, fasta",
    )


def _label_columns(spec: DataSpec) -> list[str]:
    lc = spec.label_column
    return [] if lc is None else [lc] if isinstance(lc, str) else list(lc)


def _read_table(path: Path, spec: DataSpec, task: Task) -> _Raw:
    from genolm.io.tables import read_task_table

    fmt = _fmt_of(path, spec.format)
    label_cols = _label_columns(spec)
    if not label_cols:
        raise ConfigError(f"task '{task.name}': data.label_column is needed for table data")
    if not path.exists():
        raise InputError("no such file", path=str(path), hint=f"task '{task.name}' (YAML: {task.path})")
    try:
        by_name = _fmt_of(path, None)
    except InputError:
        by_name = None
    if by_name != fmt:
        # a table whose name does not tell its format: read_task_table picks the format by extension
        import shutil
        import tempfile

        ext = {"csv": ".csv", "tsv": ".tsv", "parquet": ".parquet", "jsonl": ".jsonl"}[fmt]
        with tempfile.TemporaryDirectory() as tmp:
            dst = Path(tmp) / (path.name + ext)
            shutil.copyfile(path, dst)
            df = read_task_table(dst, spec.sequence_column, label_cols, alphabet=spec.alphabet)
            df.attrs["path"] = str(path)
    else:
        df = read_task_table(path, spec.sequence_column, label_cols, alphabet=spec.alphabet)
    return _frame_to_raw(
        df, spec, str(path), first_line=None if fmt == "parquet" else (1 if fmt == "jsonl" else 2)
    )


def _frame_to_raw(df, spec: DataSpec, where: str, *, first_line: int | None) -> _Raw:
    label_cols = _label_columns(spec)
    n = len(df)
    if first_line is None:
        loc = [(where, f"row {i}") for i in range(n)]
    else:
        loc = [(where, first_line + i) for i in range(n)]
    if spec.id_column:
        if spec.id_column not in df.columns:
            raise InputError(
                f"no id column '{spec.id_column}'.{did_you_mean(spec.id_column, [str(c) for c in df.columns])}",
                path=where,
                hint=f"columns are: {', '.join(map(str, df.columns))}",
            )
        ids = [str(x) for x in df[spec.id_column].tolist()]
    else:
        name = Path(where).name
        ids = [f"{name}:{w[1]}" if isinstance(w[1], int) else f"{name}:{w[1].split()[-1]}" for w in loc]
    if len(label_cols) == 1:
        labels = df[label_cols[0]].tolist()
    else:
        labels = df[label_cols].to_numpy()
    groups = None
    return _Raw(df[spec.sequence_column].astype(str).tolist(), labels, ids, loc, groups)


def _read_fasta_files(files: list[Path], label, spec: DataSpec) -> _Raw:
    """FASTA records with label ``label`` (a class name), or labels from their headers."""
    from genolm.io.fasta import read_fasta

    seqs, labels, ids, where, groups = [], [], [], [], []
    for f in files:
        if not f.exists():
            raise InputError("no such FASTA file", path=str(f))
        stem = f.name.split(".")[0]
        for i, rec in enumerate(read_fasta(f, alphabet=spec.alphabet, on_duplicate=spec.on_duplicate)):
            if spec.label_from == "header":
                parts = (rec.name + (" " + rec.description if rec.description else "")).split(spec.header_sep)
                if len(parts) < 2:
                    raise InputError(
                        f"header has no label after '{spec.header_sep}'",
                        path=str(f),
                        record=rec.name,
                        hint=f"label_from: header expects '>name{spec.header_sep}label'",
                    )
                vals = [p.strip() for p in parts[1:]]
                labels.append(vals[0] if len(vals) == 1 else vals)
                name = parts[0]
            else:
                labels.append(label)
                name = rec.name
            seqs.append(rec.seq)
            ids.append(f"{stem}:{i}:{name}")
            where.append((str(f), name))
            groups.append(stem)
    return _Raw(seqs, labels, ids, where, groups)


def _read_class_map(mapping: Mapping, spec: DataSpec, root: Path) -> _Raw:
    parts = []
    for cls, files in mapping.items():
        paths = [expand_path(f, root) for f in _listify(files)]
        parts.append(_read_fasta_files(paths, str(cls), spec))
    return _Raw.concat(parts)


def _read_glob(pattern: str, spec: DataSpec, root: Path) -> _Raw:
    from genolm.io.tables import read_fasta_folder

    ff = read_fasta_folder(root, pattern=pattern, alphabet=spec.alphabet, on_duplicate=spec.on_duplicate)
    fr = ff.frame
    where = [(str(root / f"{lab}"), str(n)) for lab, n in zip(fr["label"], fr["name"])]
    ids = [f"{lab}:{i}:{n}" for i, (lab, n) in enumerate(zip(fr["label"], fr["name"]))]
    return _Raw(fr["sequence"].tolist(), fr["label"].tolist(), ids, where, fr["label"].tolist())


def _read_local_source(source, spec: DataSpec, task: Task, root: Path) -> _Raw:
    """One split's source: a file, a list of files, or a {class: file(s)} mapping."""
    if isinstance(source, Mapping):
        return _read_class_map(source, spec, root)
    parts = []
    for s in _listify(source):
        path = expand_path(s, root)
        fmt = _fmt_of(path, spec.format)
        if fmt == "fasta":
            if spec.label_from != "header":
                raise ConfigError(
                    f"task '{task.name}': FASTA file '{s}' without labels: map classes to files "
                    "({class: file}) or set label_from: header"
                )
            parts.append(_read_fasta_files([path], None, spec))
        else:
            parts.append(_read_table(path, spec, task))
    return _Raw.concat(parts)


# --- Hugging Face -------------------------------------------------------------------------

_TRUE = ("1", "true", "yes", "on")


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face Hub answers (``False`` at once under ``HF_HUB_OFFLINE`` etc.)."""
    import socket
    from urllib.parse import urlparse

    if any(
        os.environ.get(v, "").lower() in _TRUE
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "GENOLM_OFFLINE")
    ):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _offline_mode():
    """Make ``datasets`` / ``huggingface_hub`` use the local cache only (no 25 s of retries)."""
    import datasets.config as dcfg
    import huggingface_hub.constants as hcfg

    saved = (dcfg.HF_HUB_OFFLINE, dcfg.HF_DATASETS_OFFLINE, hcfg.HF_HUB_OFFLINE)
    dcfg.HF_HUB_OFFLINE = dcfg.HF_DATASETS_OFFLINE = hcfg.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        dcfg.HF_HUB_OFFLINE, dcfg.HF_DATASETS_OFFLINE, hcfg.HF_HUB_OFFLINE = saved


def _not_cached(spec: DataSpec, err: BaseException) -> InputError:
    what = f"Hugging Face dataset '{spec.hub}' (revision {spec.revision}" + (
        f", config {spec.config})" if spec.config else ")"
    )
    return InputError(
        f"{what} is not in the local cache; the Hub cannot be reached from here ({type(err).__name__})",
        hint="download it once where there is network (it is cached under $HF_HOME), set HF_HOME to a "
        "cache that holds it, or pass a local copy of the repository: data.local_copy in the YAML, "
        "task.load_splits(local_copy=...), or GENOLM_HUB_COPY=/folder holding "
        f"{spec.hub}/",
    )


def _local_copy(spec: DataSpec, task: Task, override) -> Path | None:
    if override is not None:
        p = Path(override).expanduser()
    elif spec.local_copy:
        p = expand_path(spec.local_copy, task.base_dir)
    elif os.environ.get("GENOLM_HUB_COPY"):
        p = Path(os.environ["GENOLM_HUB_COPY"]).expanduser() / spec.hub
        if not p.is_dir():
            return None
    else:
        return None
    if not p.is_dir():
        raise InputError("the local copy of the Hub dataset is not a folder", path=str(p))
    return p


def _builder_for(pattern: str) -> str:
    fmt = _fmt_of(Path(pattern.replace("*", "x")), None)
    return {"csv": "csv", "tsv": "csv", "parquet": "parquet", "jsonl": "json"}.get(fmt, fmt)


def _read_hub(task: Task, want: dict[str, Any], local) -> dict[str, _Raw]:
    spec = task.data
    copy_dir = _local_copy(spec, task, local)
    if spec.format not in (None, "datasets"):
        return {k: _read_hub_file(task, src, copy_dir) for k, src in want.items()}
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is installed with genolm's benchmark extras
        raise ConfigError(
            "reading Hugging Face datasets needs the 'datasets' package: pip install datasets"
        ) from None

    datasets.logging.set_verbosity_error()
    if copy_dir is not None:
        if spec.data_files:
            # patterns may name the config: "GUE/{config}/train.csv"
            files = {
                k: [
                    str(copy_dir / str(p).format(config=spec.config or ""))
                    for p in _listify(spec.data_files[k])
                ]
                for k in want
                if k in spec.data_files
            }
            missing = [k for k in want if k not in files]
            if missing:
                raise ConfigError(f"task '{task.name}': data.data_files has no entry for split(s) {missing}")
            first = next(iter(files.values()))[0]
            builder = _builder_for(first)
            kw = {"delimiter": "\t"} if first.endswith((".tsv", ".tab")) else {}
            ds = datasets.load_dataset(builder, data_files=files, **kw)
            where_base = str(copy_dir)
            frames = {k: ds[k].to_pandas() for k in want}
        else:
            ds = datasets.load_dataset(str(copy_dir), name=spec.config)
            frames = {}
            for k, src in want.items():
                if src not in ds:
                    raise InputError(
                        f"split '{src}' is not in the local copy.{did_you_mean(str(src), list(ds))}",
                        path=str(copy_dir),
                        hint=f"splits there: {', '.join(ds)}",
                    )
                frames[k] = ds[src].to_pandas()
            where_base = str(copy_dir)
    else:
        online = hub_reachable()
        ctx = contextlib.nullcontext() if online else _offline_mode()
        try:
            with ctx:
                ds = datasets.load_dataset(spec.hub, name=spec.config, revision=spec.revision)
        except Exception as e:  # datasets raises ConnectionError, FileNotFoundError, DatasetNotFoundError ...
            if not online or isinstance(e, ConnectionError):
                raise _not_cached(spec, e) from e
            raise InputError(f"cannot load Hugging Face dataset '{spec.hub}': {e}") from e
        frames = {}
        for k, src in want.items():
            if src not in ds:
                raise InputError(
                    f"split '{src}' is not in {spec.hub}.{did_you_mean(str(src), list(ds))} Splits: {', '.join(ds)}"
                )
            frames[k] = ds[src].to_pandas()
        where_base = f"hf://datasets/{spec.hub}@{spec.revision}" + (f"/{spec.config}" if spec.config else "")
    out = {}
    for k, df in frames.items():
        df = _apply_filter(df, spec, task)
        _check_frame(df, spec, f"{where_base} [{want[k]}]")
        out[k] = _frame_to_raw(df, spec, f"{where_base} [{want[k]}]", first_line=None)
    return out


def _read_hub_file(task: Task, repo_path: str, copy_dir: Path | None) -> _Raw:
    spec = task.data
    if copy_dir is not None:
        path = copy_dir / repo_path
    else:
        from huggingface_hub import hf_hub_download

        online = hub_reachable()
        try:
            with contextlib.nullcontext() if online else _offline_mode():
                path = Path(hf_hub_download(spec.hub, repo_path, repo_type="dataset", revision=spec.revision))
        except Exception as e:
            if not online or isinstance(e, ConnectionError):
                raise _not_cached(spec, e) from e
            raise InputError(f"cannot fetch {repo_path} from Hugging Face dataset '{spec.hub}': {e}") from e
    return _read_local_source(str(path), spec, task, path.parent)


def _apply_filter(df, spec: DataSpec, task: Task):
    if not spec.filter:
        return df
    for col, val in spec.filter.items():
        if col not in df.columns:
            raise InputError(
                f"filter column '{col}' is not in the data.{did_you_mean(col, [str(c) for c in df.columns])}",
                hint=f"columns are: {', '.join(map(str, df.columns))}",
            )
        vals = _listify(val)
        df = df[df[col].isin(vals)]
    if len(df) == 0:
        raise InputError(f"task '{task.name}': no rows left after filter {spec.filter}")
    return df.reset_index(drop=True)


def _check_frame(df, spec: DataSpec, where: str) -> None:
    """The checks :func:`~genolm.io.read_task_table` makes, for a frame from ``datasets``."""
    from genolm.alphabet import ALPHABETS
    from genolm.alphabet import validate as validate_seq

    cols = [str(c) for c in df.columns]
    for col, what in [(spec.sequence_column, "sequence")] + [(c, "label") for c in _label_columns(spec)]:
        if col not in df.columns:
            raise InputError(
                f"no {what} column '{col}'.{did_you_mean(col, cols)}",
                path=where,
                hint=f"columns are: {', '.join(cols)}",
            )
    seqs = df[spec.sequence_column].astype(str).str.strip()
    allowed = ALPHABETS.get(spec.alphabet, spec.alphabet)
    ok = seqs.str.fullmatch(f"[{re.escape(allowed)}]+").to_numpy(dtype=bool)
    if not ok.all():
        i = int((~ok).argmax())
        if not seqs.iloc[i]:
            raise InputError("empty sequence", path=where, record=f"row {i}")
        try:
            validate_seq(seqs.iloc[i], spec.alphabet)
        except InputError as e:
            raise InputError(
                e.bare_message, path=where, record=f"row {i}", position=e.position, hint=e.hint
            ) from None
    df[spec.sequence_column] = seqs.to_numpy()


# --- making splits ------------------------------------------------------------------------


def _policy_split(raw: _Raw, policy: SplitPolicy, task: Task) -> dict[str, _Raw]:
    """Seeded split of pooled rows (stratified by the raw label, optionally grouped)."""
    rng = np.random.default_rng(policy.seed)
    if policy.dedupe:
        from genolm.alphabet import reverse_complement

        seen: set[str] = set()
        keep = []
        for i, seq in enumerate(raw.seqs):
            up = seq.upper().replace("U", "T")
            canon = min(up, reverse_complement(up))
            if canon not in seen:
                seen.add(canon)
                keep.append(i)
        raw = raw.take(keep)
    names = list(policy.fractions)
    fr = np.array([policy.fractions[n] for n in names])
    n = len(raw)
    assign = np.empty(n, dtype=np.int64)
    if policy.group_column:
        if policy.group_column != "file":
            raise ConfigError(
                f"task '{task.name}': split_policy.group_column '{policy.group_column}' is not supported "
                "for this data; use 'file' (the source file of each record)"
            )
        groups = np.array([str(g) for g in raw.groups])
        uniq = np.unique(groups)
        if len(uniq) < len(names):
            raise InputError(
                f"task '{task.name}': {len(uniq)} groups cannot fill {len(names)} splits",
                hint=f"groups: {list(uniq)}",
            )
        order = rng.permutation(len(uniq))
        sizes = np.array([np.sum(groups == uniq[i]) for i in order], dtype=float)
        cum = np.cumsum(sizes) / sizes.sum()
        bounds = np.cumsum(fr)
        g_split = {}
        for j, i in enumerate(order):
            g_split[uniq[i]] = int(min(np.searchsorted(bounds, cum[j] - 1e-9), len(names) - 1))
        assign = np.array([g_split[g] for g in groups])
    else:
        strata = [str(x) for x in raw.labels] if policy.method == "stratified" else ["all"] * n
        strata = np.array(strata)
        for s in np.unique(strata):
            idx = np.flatnonzero(strata == s)
            idx = idx[rng.permutation(len(idx))]
            # largest-remainder counts, so small classes still reach every split when they can
            exact = fr * len(idx)
            counts = np.floor(exact).astype(int)
            for j in np.argsort(-(exact - counts), kind="stable")[: len(idx) - counts.sum()]:
                counts[j] += 1
            start = 0
            for j, c in enumerate(counts):
                assign[idx[start : start + c]] = j
                start += c
    return {name: raw.take(np.flatnonzero(assign == j)) for j, name in enumerate(names)}


def _is_int_like(v) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, (int, np.integer)):
        return True
    if isinstance(v, (float, np.floating)):
        return float(v).is_integer()
    return isinstance(v, str) and re.fullmatch(r"-?\d+", v.strip()) is not None


def _encode(task: Task, raws: dict[str, _Raw]) -> dict[str, np.ndarray]:
    tt = task.task_type
    if tt in CLASSIFICATION:
        return _encode_classes(task, raws)
    if tt == "regression":
        out = {}
        for split, r in raws.items():
            vals = np.empty(len(r), dtype=np.float64)
            for i, v in enumerate(r.labels):
                try:
                    vals[i] = float(v)
                except (TypeError, ValueError):
                    w = r.where[i]
                    raise InputError(f"regression label {v!r} is not a number", **_at(w)) from None
                if not np.isfinite(vals[i]):
                    w = r.where[i]
                    raise InputError(f"regression label {v!r} is not finite", **_at(w))
            out[split] = vals
        return out
    if tt == "multilabel":
        return _encode_multilabel(task, raws)
    return _encode_tokens(task, raws)


def _encode_classes(task: Task, raws: dict[str, _Raw]) -> dict[str, np.ndarray]:
    lm = {str(k): v for k, v in (task.label_map or {}).items()}
    names = list(task.labels) if task.labels is not None else None

    def mapped(v):
        return lm.get(str(v).strip(), _UNMAPPED) if lm else v

    if names is None:
        vals = [mapped(v) for r in raws.values() for v in r.labels]
        if lm and any(v is _UNMAPPED for v in vals):
            names = None  # reported below, with the row
        else:
            uniq = set(vals)
            if all(_is_int_like(v) for v in uniq):
                # the values found, in numeric order; class id = position (0/1 stay 0/1)
                names = [str(i) for i in sorted({int(float(v)) for v in uniq})]
            else:
                names = sorted(str(v) for v in uniq)
            if task.task_type == "binary" and len(names) != 2:
                raise InputError(
                    f"task '{task.name}' is binary but its labels hold {len(names)} values: {names[:10]}",
                    hint="declare task_type: multiclass, or map the values with label_map",
                )
            task.labels = names
    index = {n: i for i, n in enumerate(names or [])}
    k = len(index)
    out = {}
    for split, r in raws.items():
        ids = np.empty(len(r), dtype=np.int64)
        bad: list[int] = []
        for i, v in enumerate(r.labels):
            m = mapped(v)
            if m is _UNMAPPED:
                bad.append(i)
                continue
            sm = str(int(float(m))) if _is_int_like(m) else str(m).strip()  # 1, 1.0 and "1" alike
            if sm in index:
                ids[i] = index[sm]
            elif _is_int_like(m) and 0 <= int(float(m)) < k:
                ids[i] = int(float(m))
            else:
                bad.append(i)
        if bad:
            values = sorted({str(r.labels[i]) for i in bad})
            w = r.where[bad[0]]
            expect = f"one of {names}" + (f" or a class id 0..{k - 1}" if k else "")
            if lm:
                expect = f"a key of label_map ({', '.join(lm)})"
            raise InputError(
                f"split '{split}': {len(bad)} label(s) outside the task's classes, values {values[:10]}"
                + did_you_mean(values[0], list(lm or index)),
                **_at(w),
                hint=f"expected {expect}; fix the data or the task's labels / label_map",
            )
        present = np.unique(ids)
        if len(present) < 2 and len(r):
            raise InputError(
                f"split '{split}' of task '{task.name}' holds only one class ('{names[present[0]]}', "
                f"{len(r)} rows): a classifier cannot be trained or scored on it",
                path=r.where[0][0],
                hint="check the split files, or use a split_policy that stratifies",
            )
        out[split] = ids
    return out


_UNMAPPED = object()


def _encode_multilabel(task: Task, raws: dict[str, _Raw]) -> dict[str, np.ndarray]:
    spec = task.data
    out = {}
    width = None
    for split, r in raws.items():
        lab = r.labels
        if isinstance(lab, np.ndarray) and lab.ndim == 2:
            rows = lab
        else:
            rows = []
            for v in lab:
                if isinstance(v, (list, tuple, np.ndarray)):
                    rows.append(list(v))
                else:
                    sep = spec.label_sep or None
                    rows.append(str(v).replace(",", " ").split() if sep is None else str(v).split(sep))
        try:
            arr = np.array([[float(x) for x in row] for row in rows])
        except (TypeError, ValueError):
            w = r.where[0]
            raise InputError(
                "multilabel labels must be 0/1 values (columns, a list, or one cell split by label_sep)",
                **_at(w),
            ) from None
        if arr.ndim != 2:
            lens = [len(x) for x in rows]
            i = int(np.argmax(np.array(lens) != lens[0]))
            w = r.where[i]
            raise InputError(f"row has {lens[i]} labels, the first row has {lens[0]}", **_at(w))
        bad = ~np.isin(arr, (0.0, 1.0))
        if bad.any():
            i = int(np.argwhere(bad)[0][0])
            w = r.where[i]
            raise InputError(
                f"split '{split}': multilabel values must be 0 or 1, found {sorted(set(arr[bad].tolist()))[:5]}",
                **_at(w),
            )
        if width is not None and arr.shape[1] != width:
            raise InputError(f"split '{split}' has {arr.shape[1]} labels per row, another split has {width}")
        width = arr.shape[1]
        out[split] = arr.astype(np.int8)
    if task.labels is None:
        cols = _label_columns(spec)
        task.labels = cols if len(cols) == width else [f"label_{j}" for j in range(width or 0)]
    elif len(task.labels) != width:
        raise InputError(
            f"task '{task.name}' declares {len(task.labels)} labels but the data has {width} per row"
        )
    return out


def _encode_tokens(task: Task, raws: dict[str, _Raw]) -> dict[str, np.ndarray]:
    spec = task.data
    names = task.labels
    index = {n: i for i, n in enumerate(names or [])}
    out = {}
    for split, r in raws.items():
        rows = []
        for i, (v, s) in enumerate(zip(r.labels, r.seqs)):
            toks = list(str(v)) if spec.label_sep is None else str(v).split(spec.label_sep)
            ids = []
            for t in toks:
                t = t.strip()
                if t in index:
                    ids.append(index[t])
                elif _is_int_like(t) and (not index or 0 <= int(t) < len(index)):
                    ids.append(int(t))
                else:
                    w = r.where[i]
                    raise InputError(f"token label {t!r} is not a known class", **_at(w))
            if len(ids) != len(s):
                w = r.where[i]
                raise InputError(
                    f"{len(ids)} token labels for a sequence of {len(s)} nt (one label per nucleotide)",
                    **_at(w),
                )
            rows.append(ids)
        width = max((len(x) for x in rows), default=0)
        arr = np.full((len(rows), width), IGNORE_INDEX, dtype=np.int64)
        for i, x in enumerate(rows):
            arr[i, : len(x)] = x
        out[split] = arr
    if task.labels is None:
        k = int(max((a.max() for a in out.values() if a.size), default=0)) + 1
        task.labels = [str(i) for i in range(k)]
    return out


def _raw_splits(task: Task, want: list[str] | None, local) -> dict[str, _Raw]:
    spec = task.data
    if spec.kind == "make_task":
        folder = build_recipe(task)
        built = json.loads((folder / "manifest.json").read_text())
        files = {s: f"{s}.csv" for s in SPLIT_NAMES if (folder / f"{s}.csv").exists()}
        tmp = task.copy()
        tmp.data = dataclasses.replace(spec, make_task=None, root=str(folder), splits=files, id_column="id")
        names = built["labels"]
        if task.labels is not None and list(task.labels) != list(names):
            raise ConfigError(
                f"task '{task.name}' declares labels {task.labels} but its recipe builds {names}; fix the YAML"
            )
        task.labels = tmp.labels = list(names)
        return _raw_splits(tmp, want, local)
    if spec.kind == "hub":
        chosen = {k: v for k, v in spec.splits.items() if want is None or k in want}
        return _read_hub(task, chosen, local)
    root = _data_root(task)
    if not spec.pooled:
        return {
            k: _read_local_source(v, spec, task, root)
            for k, v in spec.splits.items()
            if want is None or k in want
        }
    if spec.classes is not None:
        pool = (
            _read_glob(spec.classes, spec, root)
            if isinstance(spec.classes, str)
            else _read_class_map(spec.classes, spec, root)
        )
    else:
        pool = _read_local_source(spec.file, spec, task, root)
    parts = _policy_split(pool, task.split_policy, task)
    return {k: v for k, v in parts.items() if want is None or k in want}


def _load(task: Task, want: list[str] | None, limit: int | None, local) -> dict[str, TaskSplit]:
    raws = _raw_splits(task, want, local)
    if limit is not None:
        # an evenly spaced subset, so files sorted by label still give every class
        raws = {
            k: r.take(np.unique(np.linspace(0, len(r) - 1, min(limit, len(r))).astype(int)))
            for k, r in raws.items()
        }
    for k, r in raws.items():
        if len(r) == 0:
            raise InputError(f"split '{k}' of task '{task.name}' is empty")
        if r.labels is None:
            raise ConfigError(f"task '{task.name}': no labels were read (set data.label_column)")
    labels = _encode(task, raws)
    out = {}
    for k in SPLIT_NAMES:
        if k in raws:
            ids = raws[k].ids
            if len(set(ids)) != len(ids):  # ids name rows in reports: make them unique
                ids = [f"{x}#{i}" for i, x in enumerate(ids)]
            out[k] = TaskSplit(raws[k].seqs, labels[k], ids, k)
    return out


# --- recipes ------------------------------------------------------------------------------


def recipe_config(task: Task):
    """The :class:`~genolm.bench.maketask.MakeTaskConfig` of a recipe task (paths resolved)."""
    from genolm.bench.maketask import MakeTaskConfig

    rec = dict(task.data.make_task)
    for key in ("genome", "annotation"):
        v = rec.get(key)
        if v and not str(v).startswith("bundled:"):
            rec[key] = str(expand_path(v, task.base_dir))
    rec.setdefault("name", task.name)
    return _from_mapping(MakeTaskConfig, rec, f"task '{task.name}': data.make_task")


def build_recipe(task: Task, *, cache: str | os.PathLike | None = None) -> Path:
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


# --- validation ---------------------------------------------------------------------------


class ValidationResult(dict):
    """``{"task": name, "problems": [...], "splits": {...}}``; ``ok`` when no problems."""

    @property
    def ok(self) -> bool:
        return not self["problems"]


def validate_task(task: Task, *, data: bool = False, limit: int | None = None) -> ValidationResult:
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


_register_defaults()
