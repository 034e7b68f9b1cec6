"""Run records: the one schema that the bench writes and the summary and report read.

A run is one entry (a model in a mode, its random initialisation, a baseline or an extra
contender) fitted with one seed on one task.  It leaves two files in
``runs/<task>/<entry>/<mode>/``:

``seed<k>.npz``   its test-set predictions (:func:`load_predictions`): ``y_true``, ``y_pred``,
                  ``y_score``, ``classes`` (when the estimator has them), ``ids``; token
                  classification is flattened over the labelled nucleotides and adds
                  ``seq_index`` (which test sequence each came from);
``seed<k>.json``  the record, written last (its presence marks the run complete).  Its fields:

    ``schema``          :data:`SCHEMA`; a file with another schema is not a run record
    ``run_key``         sha256 of everything that decides the result (:func:`run_key`): entry,
                        seed, split hashes, model hash, configuration, ``n_boot``.  A complete
                        run with the same key is skipped
    ``task``            ``name``, ``version``, ``task_type``, ``metric`` (the primary metric),
                        ``labels``
    ``entry``           :class:`Entry` fields plus ``model_hash`` (:func:`files_sha256` of the
                        model folder; ``None`` for baselines)
    ``seed``            the seed
    ``config``          the estimator's configuration (fine-tuning config, baseline params, ...)
    ``versions``        :func:`package_versions`
    ``data``            per split ``n`` and ``sha256`` (:func:`split_sha256`);
                        ``valid.carved_from_train``
    ``audit``           ``verdict`` and ``fail_on`` of the task's leak audit, ``file`` (its path,
                        relative to the record)
    ``params``          ``total`` and ``trainable`` parameter counts
    ``metrics``         per metric ``estimate``, ``low``, ``high`` (bootstrap 95 % CI) and
                        ``reason`` (why a metric is undefined, else ``None``)
    ``bootstrap``       the primary metric on each of the summary's shared resamples of the test
                        rows: ``metric``, ``n_boot``, ``seed``, ``draws`` (6 decimals).  The
                        summary averages and pairs these, so it rebuilds from the records alone
                        where the ``.npz`` is not kept (it holds third-party ids and labels)
    ``primary_metric``  the metric the leaderboard ranks by
    ``training``        what the estimator reports of its fit (family, history, best epoch, ...)
    ``predictions``     the ``.npz`` file's name, beside the record
    ``torch_threads``   torch CPU threads during the run
    ``finished_at``     local time, ISO 8601
    ``timings``         seconds: ``load_model``, ``fit``, ``predict``, ``metrics``, ``write``,
                        ``total`` (each where it applies)

:data:`RECORD_FIELDS` lists them; :func:`write_run` is the only writer and :func:`read_runs` the
reader.  A contract test writes a run through the bench and reads it back through the summary.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from genolm.atomic import atomic_path, atomic_write_json, jsonable
from genolm.constants import PRIMARY_METRIC

SCHEMA = "genolm-bench-run/1"
RECORD_FIELDS = (
    "schema",
    "run_key",
    "task",
    "entry",
    "seed",
    "config",
    "versions",
    "data",
    "audit",
    "params",
    "metrics",
    "bootstrap",
    "primary_metric",
    "training",
    "predictions",
    "torch_threads",
    "finished_at",
    "timings",
)
#: what an entry is
KINDS = ("model", "random-init", "baseline")


class Entry(NamedTuple):
    """One row of the leaderboard: a model in a mode, its random initialisation, or a baseline."""

    name: str
    kind: str  # model | random-init | baseline
    mode: str  # full | lora | probe | "-" for baselines | a contender's own mode
    model_ref: str | None = None
    deterministic: bool = False  # one run serves every seed (k-mer models, logistic probes of a fixed model)

    @property
    def dirname(self) -> str:
        return slug(self.name) + (".random-init" if self.kind == "random-init" else "")


# --- keys and hashes ----------------------------------------------------------------------------


def package_versions() -> dict[str, str]:
    """Versions of Python and every package that can change a score."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("genolm", "torch", "transformers", "peft", "accelerate", "scikit-learn", "numpy", "scipy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


def _labels_bytes(labels) -> bytes:
    if isinstance(labels, list) or (isinstance(labels, np.ndarray) and labels.dtype == object):
        return b"\x1e".join(np.asarray(x).tobytes() + str(np.asarray(x).dtype).encode() for x in labels)
    a = np.ascontiguousarray(np.asarray(labels))
    if a.dtype.kind in "USO":
        return "\x1e".join(map(str, a.reshape(-1).tolist())).encode() + str(a.shape).encode()
    return a.tobytes() + str(a.dtype).encode() + str(a.shape).encode()


def split_sha256(seqs: Sequence[str], labels, ids: Sequence) -> str:
    """sha256 of a split's contents: ids, sequences and labels, in order."""
    h = hashlib.sha256()
    for i, s in zip(ids, seqs):
        h.update(f"{i}\t{s}\n".encode("utf-8", "replace"))
    h.update(_labels_bytes(labels))
    return h.hexdigest()


def files_sha256(folder: Path) -> str:
    """sha256 of a model folder's files (names and contents), so a retrained model is never skipped."""
    h = hashlib.sha256()
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            h.update(str(p.relative_to(folder)).encode())
            with open(p, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


def run_key(obj) -> str:
    """sha256 of ``obj`` as canonical JSON (sorted keys): a run's identity."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def slug(name: str) -> str:
    """``name`` as one safe path component (task and model names contain ``/``)."""
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return keep.strip("._") or "model"


def primary_metric(task) -> str:
    """The metric ``task`` is ranked by: its own ``metric``, else its task type's default."""
    return getattr(task, "metric", None) or PRIMARY_METRIC[task.task_type]


# --- writing and reading ------------------------------------------------------------------------


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` compressed and atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def load_predictions(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a run's ``.npz``: ``y_true``, ``y_pred``, ``y_score``, ``classes``, ``ids``
    (token classification adds ``seq_index``)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def is_complete(path: Path, key: str) -> bool:
    """Whether the record at ``path`` exists, reads, and has run key ``key`` (a damaged one reruns)."""
    try:
        return json.loads(Path(path).read_text()).get("run_key") == key
    except (OSError, json.JSONDecodeError):
        return False


def write_run(
    run_dir: Path,
    seed: int,
    *,
    key: str,
    task,
    entry: Entry,
    model_hash: str | None,
    data_hashes: dict,
    audit_verdict: str,
    fail_on: str,
    arrays: dict[str, np.ndarray],
    metrics: dict,
    config: dict,
    params: tuple[int, int],
    training: dict,
    timings: dict[str, float],
    bootstrap: dict | None = None,
    started: float | None = None,
) -> dict:
    """Write ``seed<seed>.npz`` and then ``seed<seed>.json`` into ``run_dir``; return the record.

    ``timings`` gains ``write``, and ``total`` (seconds since ``started``, a
    :func:`time.perf_counter` value) when ``started`` is given."""
    import torch

    t0 = time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    npz = run_dir / f"seed{seed}.npz"
    save_npz(npz, arrays)
    labels = getattr(task, "labels", None)
    record = {
        "schema": SCHEMA,
        "run_key": key,
        "task": {
            "name": task.name,
            "version": getattr(task, "version", None),
            "task_type": task.task_type,
            "metric": primary_metric(task),
            "labels": jsonable(list(labels)) if labels is not None else None,
        },
        "entry": {**entry._asdict(), "model_hash": model_hash},
        "seed": seed,
        "config": jsonable(config),
        "versions": package_versions(),
        "data": data_hashes,
        "audit": {"verdict": audit_verdict, "fail_on": fail_on, "file": "../../audit.json"},
        "params": {"total": int(params[0]), "trainable": int(params[1])},
        "metrics": jsonable(metrics),
        "bootstrap": jsonable(bootstrap),
        "primary_metric": primary_metric(task),
        "training": jsonable(training),
        "predictions": npz.name,
        "torch_threads": torch.get_num_threads(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    timings["write"] = time.perf_counter() - t0
    if started is not None:
        timings["total"] = time.perf_counter() - started
    record["timings"] = timings
    atomic_write_json(run_dir / f"seed{seed}.json", record)  # last: its presence marks the run complete
    return record


def _json_kind(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"a boolean ({json.dumps(v)})"
    if isinstance(v, (int, float)):
        return f"a number ({v!r})"
    if isinstance(v, str):
        return f"a string ({v[:40]!r})"
    return "a list" if isinstance(v, list) else "an object"


def check_record(rec: dict, path: Path | str) -> None:
    """Raise :class:`~genolm.errors.InputError` naming ``path`` and the field when a run record
    lacks a field the summary reads, or holds it with the wrong type (a damaged or hand-edited
    file)."""
    from genolm.errors import InputError

    def need(ok: bool, field: str, what: str, value) -> None:
        if not ok:
            raise InputError(
                f"run record field '{field}' must be {what}, got {_json_kind(value)}",
                path=str(path),
                hint="the file is damaged or was edited: delete it (and its seed*.npz) and rerun "
                "`genolm bench` to redo that run",
            )

    def number(v) -> bool:
        return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))

    for key in ("task", "entry", "data", "metrics", "params", "timings", "audit"):
        need(isinstance(rec.get(key), dict), key, "an object", rec.get(key))
    for key in ("name", "task_type", "metric"):
        need(isinstance(rec["task"].get(key), str), f"task.{key}", "a string", rec["task"].get(key))
    for key in ("name", "kind", "mode"):
        need(isinstance(rec["entry"].get(key), str), f"entry.{key}", "a string", rec["entry"].get(key))
    seed = rec.get("seed")
    need(isinstance(seed, int) and not isinstance(seed, bool), "seed", "an integer", seed)
    need(isinstance(rec["data"].get("test"), dict), "data.test", "an object", rec["data"].get("test"))
    for name, m in rec["metrics"].items():
        need(
            m is None or isinstance(m, dict), f"metrics.{name}", "an object (estimate, low, high) or null", m
        )
        for key in ("estimate", "low", "high"):
            v = (m or {}).get(key)
            need(number(v), f"metrics.{name}.{key}", "a number or null", v)
    for key in ("total", "trainable"):
        v = rec["params"].get(key)
        need(isinstance(v, int) and not isinstance(v, bool), f"params.{key}", "an integer", v)
    for key, v in rec["timings"].items():
        need(number(v), f"timings.{key}", "a number", v)
    boot = rec.get("bootstrap")
    need(boot is None or isinstance(boot, dict), "bootstrap", "an object or null", boot)
    draws = (boot or {}).get("draws")
    need(
        draws is None or (isinstance(draws, list) and all(map(number, draws))),
        "bootstrap.draws",
        "a list of numbers",
        draws,
    )


def read_runs(out_dir: Path) -> dict[str, list[dict]]:
    """``{task name: [record, ...]}`` of every complete run under ``out_dir/runs``; each record
    gains ``_path`` (its file).

    A record is written atomically and last (:func:`write_run`), so a killed run leaves none
    rather than half of one: a record that is not a JSON object, or lacks a field the summary
    reads (:func:`check_record`), is damaged, an :class:`~genolm.errors.InputError` naming it.
    A record with another schema (another genolm version) is skipped with a warning naming it."""
    import logging

    from genolm.errors import InputError

    hint = "delete the file (and its seed*.npz) and rerun `genolm bench` to redo that run"
    runs: dict[str, list[dict]] = {}
    for p in sorted((Path(out_dir) / "runs").glob("*/*/*/seed*.json")):
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(f"run record is damaged: not valid JSON ({e})", path=str(p), hint=hint) from None
        if not isinstance(rec, dict):
            raise InputError(
                f"run record is damaged: a JSON {type(rec).__name__}, not an object", path=str(p), hint=hint
            )
        if rec.get("schema") != SCHEMA:
            logging.getLogger(__name__).warning(
                "%s: skipped: schema %r is not %r (written by another genolm version?)",
                p,
                rec.get("schema"),
                SCHEMA,
            )
            continue
        check_record(rec, p)
        rec["_path"] = str(p)
        runs.setdefault(rec["task"]["name"], []).append(rec)
    return runs
