"""From raw data to splits: the split policy for pooled data, label encoding, and ``_load``
(what :meth:`~genolm.bench.tasks.Task.load_splits` calls)."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np

from genolm.bench.tasks.recipe import build_recipe
from genolm.bench.tasks.sources import (
    _at,
    _data_root,
    _label_columns,
    _Raw,
    _read_class_map,
    _read_glob,
    _read_hub,
    _read_local_source,
)
from genolm.bench.tasks.spec import SplitPolicy, TaskSplit
from genolm.bench.tasks.vocab import CLASSIFICATION, SPLIT_NAMES
from genolm.constants import IGNORE_INDEX
from genolm.errors import ConfigError, InputError
from genolm.registry import did_you_mean

# --- making splits ------------------------------------------------------------------------


def _policy_split(raw: _Raw, policy: SplitPolicy, task) -> dict[str, _Raw]:
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


def _encode(task, raws: dict[str, _Raw]) -> dict[str, np.ndarray]:
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


def _encode_classes(task, raws: dict[str, _Raw]) -> dict[str, np.ndarray]:
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


def _encode_multilabel(task, raws: dict[str, _Raw]) -> dict[str, np.ndarray]:
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


def _encode_tokens(task, raws: dict[str, _Raw]) -> dict[str, np.ndarray]:
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


def _raw_splits(task, want: list[str] | None, local) -> dict[str, _Raw]:
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


def _load(task, want: list[str] | None, limit: int | None, local) -> dict[str, TaskSplit]:
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
