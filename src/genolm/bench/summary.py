"""The bootstrap summary over seeds, and the metrics of one run.

:func:`score_run` gives one run's metrics with bootstrap 95 % CIs (per-sequence resampling for
token classification).  :func:`summarise_results` reads every run record under a bench folder
(:mod:`genolm.bench.records`) and gives, per task and entry, the mean +/- SD over seeds, a
bootstrap CI of the seed mean on the test set, and paired bootstraps (the same resampled test
rows for both sides) against the best baseline, the k-mer baseline and the random
initialisation.  It reads only the run files, so ``genolm report DIR`` can always rebuild it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genolm.atomic import atomic_write_json, jsonable
from genolm.bench.baselines import KMER, WINDOW_LR
from genolm.bench.records import load_predictions, read_runs
from genolm.constants import IGNORE_INDEX
from genolm.errors import ConfigError

#: the seed of the resamples behind every summary: every entry's draws use the same rows, which is
#: what pairs them
BOOT_SEED = 0


def metric_task_type(task_type: str, classes) -> str:
    """The task type the metrics see: token classification is scored as binary or multiclass."""
    if task_type != "token_classification":
        return task_type
    return "binary" if classes is not None and len(classes) == 2 else "multiclass"


def flatten_tokens(y_true: list, pred, lengths) -> dict[str, np.ndarray]:
    """Token-classification outputs as flat arrays over labelled nucleotides (``seq_index`` keeps
    which sequence each came from, for the per-sequence bootstrap)."""
    yt, yp, ys, si = [], [], [], []
    for i, (t, p, s) in enumerate(zip(y_true, pred.y_pred, pred.y_score)):
        t = np.asarray(t).reshape(-1)[: lengths[i]]
        keep = t != IGNORE_INDEX
        yt.append(t[keep])
        yp.append(np.asarray(p)[keep])
        ys.append(np.asarray(s)[keep])
        si.append(np.full(int(keep.sum()), i, dtype=np.int64))
    return {
        "y_true": np.concatenate(yt),
        "y_pred": np.concatenate(yp),
        "y_score": np.concatenate(ys),
        "seq_index": np.concatenate(si),
    }


def score_run(task_type: str, arrays: dict, labels, n_boot: int) -> dict[str, dict]:
    """Every metric with a bootstrap 95 % CI (per-sequence resampling for token classification)."""
    from genolm.bench.metrics import bootstrap_ci, compute_metrics

    classes = arrays.get("classes")
    mt = metric_task_type(task_type, classes)
    lab = labels if task_type == "multilabel" else (classes if mt in ("binary", "multiclass") else None)
    if task_type != "token_classification":
        cis = bootstrap_ci(
            mt, arrays["y_true"], arrays["y_pred"], arrays["y_score"], labels=lab, n_boot=n_boot
        )
        point = compute_metrics(mt, arrays["y_true"], arrays["y_pred"], arrays["y_score"], labels=lab)
        return {
            k: {"estimate": c.estimate, "low": c.low, "high": c.high, "reason": point.reasons.get(k)}
            for k, c in cis.items()
        }
    point = compute_metrics(mt, arrays["y_true"], arrays["y_pred"], arrays["y_score"], labels=lab)
    out = {}
    for m in point:
        if "/" in m:
            continue
        draws = metric_draws(task_type, m, arrays, labels, n_boot)
        ok = draws[np.isfinite(draws)]
        lo, hi = np.quantile(ok, [0.025, 0.975]) if ok.size else (math.nan, math.nan)
        out[m] = {"estimate": point[m], "low": float(lo), "high": float(hi), "reason": point.reasons.get(m)}
    return out


def _metric_kernel(task_type: str, y_true, y_pred, y_score, labels, metric: str):
    """``W (B, n) -> (B,)``: ``metric`` under bootstrap weights, with the vectorised kernels of
    :mod:`genolm.bench.metrics` (the code that makes its point estimates)."""
    from genolm.bench import metrics as M

    prep = M._prepare(task_type, y_true, y_pred, y_score, labels)
    want = M._want(prep, [metric])
    return lambda W: M._batched(prep, W, want)[metric]


def _bootstrap_draws(kernels, seq_index: np.ndarray | None, n_boot: int, seed: int, n: int | None = None):
    """Yield, per chunk of resamples, the kernels' values averaged (one draw per resample).

    Rows are resampled with replacement; with ``seq_index`` whole sequences are (every nucleotide
    of a drawn sequence counts once per draw), so correlated positions do not shrink the interval.
    The same ``seed`` gives the same resamples, which is what makes two entries' draws *paired*.
    """
    rng = np.random.default_rng(seed)
    units = int(seq_index.max()) + 1 if seq_index is not None else int(n)
    rows = len(seq_index) if seq_index is not None else int(n)
    chunk = max(1, min(n_boot, 2_000_000 // max(rows, 1)))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        idx = rng.integers(0, units, size=(b, units)) + (np.arange(b) * units)[:, None]
        counts = np.bincount(idx.ravel(), minlength=b * units).reshape(b, units).astype(np.float64)
        W = counts[:, seq_index] if seq_index is not None else counts
        yield np.mean([k(W) for k in kernels], axis=0)
        done += b


def metric_draws(task_type: str, metric: str, arrays: dict, labels, n_boot: int) -> np.ndarray:
    """One run's ``metric`` on each of the summary's ``n_boot`` shared resamples of its test rows
    (whole sequences for token classification): what the summary averages over seeds and pairs
    between entries.  The primary metric's are stored in the run record (``bootstrap``), so a
    summary rebuilds from the records alone where the ``.npz`` predictions are not kept; a
    token-classification run's CIs come from them too (:func:`score_run`)."""
    mt = metric_task_type(task_type, arrays.get("classes"))
    lab = labels if task_type == "multilabel" else (arrays.get("classes") if mt != "regression" else None)
    kern = _metric_kernel(mt, arrays["y_true"], arrays["y_pred"], arrays["y_score"], lab, metric)
    n = len(arrays["y_true"])
    return np.concatenate(list(_bootstrap_draws([kern], arrays.get("seq_index"), n_boot, BOOT_SEED, n)))


def _stored_draws(rec: dict, metric: str, n_boot: int) -> tuple[np.ndarray | None, str]:
    """The record's own draws of ``metric`` when they were made as this summary would make them,
    else ``None`` and why not."""
    b = rec.get("bootstrap") or {}
    if not b:
        return None, "the record holds no bootstrap draws (written before genolm stored them)"
    if (b.get("metric"), b.get("n_boot"), b.get("seed")) != (metric, n_boot, BOOT_SEED):
        return None, (
            f"the record's draws are of {b.get('metric')} with n_boot {b.get('n_boot')}, this summary "
            f"wants {metric} with n_boot {n_boot} (genolm report --n-boot {b.get('n_boot')})"
        )
    draws = b.get("draws") or []
    if len(draws) != n_boot:
        return None, f"the record holds {len(draws)} draws, not n_boot {n_boot} (a damaged record)"
    return np.array([math.nan if v is None else v for v in draws], dtype=np.float64), ""


def run_draws(
    rec: dict, path: Path, task_type: str, metric: str, labels, n_boot: int
) -> tuple[np.ndarray | None, str]:
    """One run's draws of ``metric`` on the shared resamples: the record's own (``path`` is the
    record's file), else those of its ``.npz`` predictions where they are kept beside it, else
    ``None`` and why not."""
    d, why = _stored_draws(rec, metric, n_boot)
    if d is None and rec.get("predictions"):
        npz = Path(path).with_name(rec["predictions"])
        if npz.exists():
            return metric_draws(task_type, metric, load_predictions(npz), labels, n_boot), ""
        why = f"{why}; no {npz.name} here"
    return d, why


def _rel(path: str, out_dir: Path, n_dirs: int) -> str:
    """A run's file relative to its bench folder; absolute when several folders are merged."""
    p = Path(path)
    return str(p.resolve()) if n_dirs > 1 else str(p.relative_to(out_dir))


def _percentile(d: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    ok = d[np.isfinite(d)]
    if not ok.size:
        return math.nan, math.nan
    lo, hi = np.quantile(ok, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def paired_difference(da: np.ndarray, db: np.ndarray, est_a: float, est_b: float) -> dict:
    """``est_a - est_b`` with the 95 % percentile CI and two-sided bootstrap p-value of the
    differences of two runs' draws on the same resamples (:func:`metric_draws`)."""
    d = da - db
    lo, hi = _percentile(d)
    ok = d[np.isfinite(d)]
    p = math.nan
    if ok.size:
        tail = min(int((ok <= 0).sum()), int((ok >= 0).sum()))
        p = min(1.0, 2.0 * (tail + 1) / (ok.size + 1))
    return {"difference": est_a - est_b, "low": lo, "high": hi, "p_value": p}


#: the primary metric's value of a predictor that ignores its input (``None``: depends on the data)
CHANCE = {"mcc": 0.0, "spearman": 0.0, "pearson": 0.0, "auroc": 0.5}


def _pair(draws: dict, e: dict, other: dict) -> dict | None:
    """``e`` minus ``other`` on the shared resamples, with its verdict; ``None`` where either has no
    draws."""
    da, db = (draws[(x["name"], x["kind"], x["mode"])] for x in (e, other))
    if da is None or db is None:
        return None
    d = paired_difference(da, db, e["mean"], other["mean"])
    return {**d, "verdict": verdict(d["low"], d["high"])}


def verdict(low, high) -> str:
    """``"beats"`` / ``"loses"`` when a paired 95 % CI of a difference excludes 0, else ``"ties"``
    (also when the CI is undefined): the word the report uses against the best baseline."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return "ties"
    return "beats" if low > 0 else "loses" if high < 0 else "ties"


def _read_json(path: Path) -> dict:
    """A JSON object file of a bench folder; a damaged one is an :class:`InputError` naming it."""
    from genolm.errors import InputError

    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(
            f"not valid JSON ({e})",
            path=str(path),
            hint="the file is damaged: rerun `genolm bench` to rewrite it",
        ) from None
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object, got a {type(obj).__name__}", path=str(path))
    return obj


def _merged_runs(dirs: list[Path], provenance: dict) -> tuple[dict[str, list[dict]], dict[str, dict]]:
    """Run records of several bench folders, per task, and the refused tasks' status.

    A task whose test split (sha256) differs between folders is kept apart as ``"task [folder]"``:
    scores on different test sets are not comparable.  A run present in two folders (same entry,
    mode and seed) is taken from the first.  ``provenance`` is filled with each folder's package
    versions and torch thread counts (from its run records).
    """
    runs: dict[str, list[dict]] = {}
    test_hash: dict[str, str] = {}
    seen: set = set()
    refused: dict[str, dict] = {}
    provenance.clear()
    for d in dirs:
        for task_dir in sorted(p for p in (d / "runs").glob("*") if p.is_dir()):
            status = task_dir / "status.json"
            if status.exists():
                st = _read_json(status)
                if st.get("status") == "refused":
                    refused.setdefault(st["task"], st)
        for name, recs in read_runs(d).items():
            h = recs[0]["data"]["test"].get("sha256")
            if name in test_hash and test_hash[name] != h:
                name = f"{name} [{d.name}]"
            test_hash.setdefault(name, h)
            for r in recs:
                e = r["entry"]
                k = (name, e["name"], e["kind"], e["mode"], r["seed"])
                if k in seen:
                    continue
                seen.add(k)
                r["_source"] = str(d)
                runs.setdefault(name, []).append(r)
                prov = provenance.setdefault(str(d), {"versions": r.get("versions"), "torch_threads": set()})
                prov["torch_threads"].add(r.get("torch_threads"))
    for name in runs:
        refused.pop(name, None)  # scored in another folder
    return runs, refused


#: the fewest bootstrap resamples a 95 % interval is computed from
MIN_N_BOOT = 100


def check_n_boot(n_boot: int) -> None:
    """A ConfigError for fewer than :data:`MIN_N_BOOT` resamples (``n_boot`` / ``--n-boot``)."""
    if n_boot < MIN_N_BOOT:
        raise ConfigError(f"n_boot must be at least {MIN_N_BOOT} for a 95 % interval, got {n_boot}")


def summarise_results(
    out_dir: str | Path | Sequence[str | Path], *, n_boot: int = 1000, write: bool = True
) -> dict:
    """Per task: each entry's mean +/- SD over seeds, a bootstrap 95 % CI of the seed mean, and
    paired bootstraps against the best baseline, the k-mer baseline and the random initialisation;
    whether it beats / ties / loses to the best baseline (:func:`verdict`); flags a newcomer must
    see (a control below chance, a single seed, a probe C at the edge of its grid, truncated inputs).

    ``out_dir`` may be several bench folders: their runs are merged into one summary (written
    nowhere; ``write`` applies to a single folder).  Reads only the run files, so ``genolm report
    DIR`` can always rebuild it.
    """
    from genolm.bench.metrics import summarise_seeds

    check_n_boot(n_boot)

    dirs = [Path(out_dir)] if isinstance(out_dir, (str, Path)) else [Path(d) for d in out_dir]
    out_dir = dirs[0]
    summary: dict[str, Any] = {"tasks": {}, "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    summary["sources"] = []
    for d in dirs:
        meta_path = d / "bench.json"
        meta = _read_json(meta_path) if meta_path.exists() else {}
        timings = d / "timings.json"
        summary["sources"].append(
            {
                "dir": str(d),
                "bench": meta,
                "timings": _read_json(timings) if timings.exists() else {},
            }
        )
    if summary["sources"][0]["bench"]:
        summary["bench"] = summary["sources"][0]["bench"]
    prov: dict[str, dict] = {}
    all_runs, refused = _merged_runs(dirs, prov)
    for src in summary["sources"]:
        p = prov.get(src["dir"], {})
        src["versions"] = p.get("versions")
        src["torch_threads"] = sorted(t for t in p.get("torch_threads", ()) if t is not None)
    summary["tasks"].update(refused)
    for task_name, recs in all_runs.items():
        if task_name in summary["tasks"]:
            continue
        t0 = recs[0]["task"]
        tt, metric = t0["task_type"], t0["metric"]
        audit_path = Path(recs[0]["_path"]).parents[2] / "audit.json"
        audit = _read_json(audit_path) if audit_path.exists() else {"verdict": recs[0]["audit"]["verdict"]}
        groups: dict[tuple, list[dict]] = {}
        for r in recs:
            e = r["entry"]
            groups.setdefault((e["name"], e["kind"], e["mode"]), []).append(r)
        # the seed-averaged metric on shared bootstrap resamples, per entry
        entries, draws = [], {}
        for (name, kind, mode), rs in sorted(groups.items()):
            rs = sorted(rs, key=lambda r: r["seed"])
            per_run, missing = [], []
            for r in rs:
                # the record's stored draws; else the draws of its predictions, where they are kept
                d, why = run_draws(r, r["_path"], tt, metric, t0["labels"], n_boot)
                if d is None:
                    missing.append({"run": _rel(r["_path"], out_dir, len(dirs)), "why": why})
                else:
                    per_run.append(d)
            seeds = summarise_seeds([{k: v["estimate"] for k, v in r["metrics"].items() if v} for r in rs])
            prim = seeds.get(metric)
            if missing:
                # no draws: no paired comparison; a single run keeps the CI its record holds
                draws[(name, kind, mode)] = None
                own = (rs[0]["metrics"].get(metric) or {}) if len(rs) == 1 else {}
                lo, hi = (math.nan if own.get(k) is None else own[k] for k in ("low", "high"))
            else:
                draws[(name, kind, mode)] = np.mean(per_run, axis=0)
                lo, hi = _percentile(draws[(name, kind, mode)])
            fit_time = [r["timings"].get("fit", 0.0) + r["timings"].get("predict", 0.0) for r in rs]
            trained = [r["training"] if isinstance(r.get("training"), dict) else {} for r in rs]
            long_in = next((t["long_input"] for t in trained if t.get("long_input")), None)
            chance = CHANCE.get(metric)
            entries.append(
                {
                    "name": name,
                    "kind": kind,
                    "mode": mode,
                    "family": rs[0]["training"].get("family")
                    if isinstance(rs[0].get("training"), dict)
                    else None,
                    "seeds": [r["seed"] for r in rs],
                    "mean": prim.mean if prim else math.nan,
                    "sd": prim.sd if prim else math.nan,
                    "values": list(prim.values) if prim else [],
                    "ci_low": lo,
                    "ci_high": hi,
                    "metrics_mean": {k: v.mean for k, v in seeds.items() if "/" not in k},
                    "time_s": float(np.mean(fit_time)),
                    "params": rs[0]["params"]["total"],
                    "trainable_params": rs[0]["params"]["trainable"],
                    "audit": audit.get("verdict"),
                    "runs": [_rel(r["_path"], out_dir, len(dirs)) for r in rs],
                    "source": rs[0].get("_source", str(out_dir)),
                    "model_ref": rs[0]["entry"].get("model_ref"),
                    "n_seeds": len(rs),
                    "deterministic": bool(rs[0]["entry"].get("deterministic")),
                    "chance": chance,
                    # the whole CI of the seed mean lies below what ignoring the input scores
                    "below_chance": chance is not None and math.isfinite(hi) and hi < chance,
                    "long_input": long_in,
                    "probe_C": [t.get("probe_C") for t in trained if t.get("probe_C") is not None],
                    "probe_C_at_edge": any(t.get("probe_C_at_edge") for t in trained),
                    # a k-mer baseline whose chosen penalty is an end of its grid (a wider grid
                    # might do better; per label for multilabel)
                    "grid_at_edge": any(_selection_at_edge(t.get("selection")) for t in trained),
                    # runs with neither usable stored draws nor predictions here (``run``, ``why``):
                    # no CI over seeds and no paired comparison
                    "unpaired": missing,
                }
            )
        baselines = [e for e in entries if e["kind"] == "baseline" and math.isfinite(e["mean"])]
        best = max(baselines, key=lambda e: e["mean"]) if baselines else None
        kmer = next((e for e in baselines if e["name"] in (KMER, WINDOW_LR)), None)
        key = {(e["name"], e["kind"], e["mode"]): e for e in entries}
        for e in entries:
            if e["kind"] == "baseline":
                continue
            for label, other in (("vs_best_baseline", best), ("vs_kmer", kmer)):
                if other is not None and (d := _pair(draws, e, other)) is not None:
                    e[label] = {"baseline": other["name"], **d}
            # paired against every baseline, by name
            e["vs_baselines"] = {o["name"]: d for o in baselines if (d := _pair(draws, e, o)) is not None}
            ri = key.get((e["name"], "random-init", e["mode"])) if e["kind"] == "model" else None
            if ri is not None and (d := _pair(draws, e, ri)) is not None:
                # a control below chance is broken, not a baseline to be "helped" over
                e["vs_random_init"] = {**d, "control_below_chance": ri["below_chance"]}
        entries.sort(key=lambda e: -e["mean"] if math.isfinite(e["mean"]) else math.inf)
        summary["tasks"][task_name] = {
            "task": task_name,
            "status": "scored",
            "task_type": tt,
            "metric": metric,
            "version": t0.get("version"),
            "labels": t0.get("labels"),
            "audit": audit.get("verdict"),
            "audit_checks": [
                {k: c.get(k) for k in ("name", "splits", "status", "value", "message")}
                for c in audit.get("checks", [])
                if c.get("status") in ("WARN", "FAIL")
            ],
            "fail_on": recs[0]["audit"].get("fail_on"),
            "n_test": recs[0]["data"]["test"]["n"],
            "data": recs[0]["data"],
            "best_baseline": best["name"] if best else None,
            "entries": entries,
        }
    summary = jsonable(summary)
    if write and len(dirs) == 1:
        atomic_write_json(out_dir / "summary.json", summary)
    return summary


def _selection_at_edge(sel) -> bool:
    """Whether a baseline's validation grid (``training.selection``: one dict, or one per label,
    None for a constant label) chose an end of the grid."""
    if isinstance(sel, list):
        return any(_selection_at_edge(x) for x in sel)
    return isinstance(sel, dict) and bool(sel.get("at_edge"))
