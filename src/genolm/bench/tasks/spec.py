"""A task's ``data`` and ``split_policy`` blocks, and its loaded splits (:class:`TaskSplit`)."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from genolm.bench.tasks.vocab import FORMATS, SPLIT_NAMES
from genolm.errors import ConfigError
from genolm.registry import check_choice

# --- the data a task reads ---------------------------------------------------------------


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
        check_choice("split method", self.method, ("stratified", "random"), where="split_policy")
        fr = {}
        for k, v in dict(self.fractions).items():
            check_choice("split name", k, SPLIT_NAMES, where="split_policy.fractions")
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
            check_choice("format", self.format, FORMATS, where=src)
        check_choice("label_from", self.label_from, ("column", "header"), where=src)
        check_choice("on_duplicate", self.on_duplicate, ("error", "rename", "keep"), where=src)
        if self.splits is not None:
            for k in self.splits:
                check_choice("split name", k, SPLIT_NAMES, where=f"{src}.splits")
            if "train" not in self.splits:
                raise ConfigError(f"{src}.splits needs a 'train' split, got {', '.join(self.splits)}")
        if self.splits is not None and (self.file is not None or self.classes is not None):
            raise ConfigError(f"{src}: give 'splits', or 'file' / 'classes' with a split_policy, not both")
        if self.data_files is not None:
            for k in self.data_files:
                check_choice("split name", k, SPLIT_NAMES, where=f"{src}.data_files")

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
