"""Reading a task's raw data: local tables and FASTA, and Hugging Face datasets."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from genolm.bench.tasks.spec import DataSpec
from genolm.bench.tasks.vocab import _COMPRESSION_EXT, _FASTA_EXT, _TABLE_EXT
from genolm.errors import ConfigError, InputError
from genolm.registry import did_you_mean

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


def _data_root(task) -> Path:
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


def _read_table(path: Path, spec: DataSpec, task) -> _Raw:
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


def _read_local_source(source, spec: DataSpec, task, root: Path) -> _Raw:
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


def _local_copy(spec: DataSpec, task, override) -> Path | None:
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


def _read_hub(task, want: dict[str, Any], local) -> dict[str, _Raw]:
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


def _read_hub_file(task, repo_path: str, copy_dir: Path | None) -> _Raw:
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


def _apply_filter(df, spec: DataSpec, task):
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
