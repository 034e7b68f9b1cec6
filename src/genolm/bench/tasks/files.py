"""Task and suite YAML files: parsing, registration (built-in, ``GENOLM_TASK_PATH``, include
paths), and :func:`load_task` / :func:`load_suite`."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genolm.bench.tasks.task import SUITES, TASKS, Suite, Task, task_from_dict
from genolm.errors import ConfigError
from genolm.registry import Registry, did_you_mean

_SUITE_KEYS = ("suite", "version", "description", "citation", "defaults", "tasks", "notes")


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

_ORIGIN: dict[tuple[str, str], Path] = {}
_REGISTERED_PATHS: set[Path] = set()


def builtin_dir() -> Path:
    """The folder of built-in task and suite YAML files."""
    return Path(__file__).resolve().parent


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


def register_paths(include_paths) -> None:
    """Register a path or a list of paths (:func:`register_path`); ``None`` registers nothing."""
    if include_paths is None:
        return
    if isinstance(include_paths, (str, os.PathLike)):
        include_paths = [include_paths]
    for p in include_paths:
        register_path(p)


def looks_like_path(x) -> bool:
    """Whether ``x`` names a YAML file or folder rather than a registered name."""
    s = str(x)
    return isinstance(x, os.PathLike) or s.endswith((".yaml", ".yml")) or os.sep in s and Path(s).exists()


def load_task(name_or_path: str | os.PathLike, *, include_paths=None) -> Task:
    """A task by registry name (``"gue/prom_core_all"``) or from a task YAML path.

    ``include_paths`` (a path or a list) are registered first.  Returns a fresh copy; its
    ``load_splits()`` reads the data.
    """
    register_paths(include_paths)
    if looks_like_path(name_or_path):
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
    register_paths(include_paths)
    if looks_like_path(name_or_path):
        path = Path(name_or_path)
        if path.is_dir() and (path / "task.yaml").is_file():  # a `genolm make-task` output folder
            path = path / "task.yaml"
        tasks, suite = _parse_file(path)
        return suite.tasks() if suite is not None else tasks
    return SUITES.get(str(name_or_path)).tasks()
