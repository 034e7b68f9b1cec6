"""Benchmark tasks and suites as data: versioned YAML files, one registry each.

This package sits beside the built-in YAML files; one module per noun:
``vocab`` (task types, metrics, split names, formats), ``spec`` (:class:`DataSpec`,
:class:`SplitPolicy`, :class:`TaskSplit`), ``task`` (:class:`Task`, :class:`Suite`, the
registries), ``files`` (YAML parsing, registration, :func:`load_task`, :func:`load_suite`),
``sources`` (reading local files and Hugging Face datasets), ``splits`` (split policy and label
encoding), ``recipe`` (recipe tasks) and ``validate`` (:func:`validate_task`).

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

from genolm.bench.tasks.files import (
    _register_defaults,
    builtin_dir,
    load_suite,
    load_task,
    looks_like_path,
    register_path,
    register_paths,
)
from genolm.bench.tasks.recipe import build_recipe, recipe_config
from genolm.bench.tasks.sources import expand_path, hub_reachable
from genolm.bench.tasks.spec import DataSpec, SplitPolicy, TaskSplit
from genolm.bench.tasks.task import SUITES, TASKS, Suite, Task, task_from_dict
from genolm.bench.tasks.validate import ValidationResult, validate_task
from genolm.bench.tasks.vocab import CLASSIFICATION, FORMATS, METRICS, SPLIT_NAMES
from genolm.constants import IGNORE_INDEX, TASK_TYPES

__all__ = [
    "CLASSIFICATION",
    "FORMATS",
    "IGNORE_INDEX",
    "METRICS",
    "SPLIT_NAMES",
    "SUITES",
    "TASKS",
    "TASK_TYPES",
    "DataSpec",
    "SplitPolicy",
    "Suite",
    "Task",
    "TaskSplit",
    "ValidationResult",
    "build_recipe",
    "builtin_dir",
    "expand_path",
    "hub_reachable",
    "load_suite",
    "load_task",
    "looks_like_path",
    "recipe_config",
    "register_path",
    "register_paths",
    "task_from_dict",
    "validate_task",
]

_register_defaults()
