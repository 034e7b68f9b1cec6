"""genolm-tiny beside the k-mer LR and one-hot CNN baselines on the shared real-data tasks.

Every cell goes through :func:`genolm.bench.runner.run_bench`, so the leak audit verdict of the
exact splits used is stored beside every score (``fail_on="never"``: leaky tasks are scored and
flagged, not dropped).  Tasks (``benchmarks/suites/shared.yaml``): GUE prom_core_all and tf/0,
CNNProm *Arabidopsis* TATA and non-TATA vs non-promoter, iDNA-MS 6mA *A. thaliana*, PlantLncBoost
algae lncRNA vs mRNA (pooled, and with Micromonas held out).

Per task (one ``run_bench`` call each, in ``benchmarks/results/bench_shared/<task>/``):

* k-mer logistic regression (k = 3..6; deterministic: one run), one-hot CNN (``--seeds`` seeds,
  ``cnn.max_epochs`` as the harness's quick profile), genolm-tiny frozen probe (logistic
  regression on mean-pooled embeddings, C chosen on the validation split; deterministic: one run);
* then genolm-tiny full fine-tuning (one seed, as the harness's quick profile: 2 epochs,
  lr 1e-3, head lr x10) in a second ``run_bench`` call on a smaller seeded training subsample
  (``bench_shared/<task>/ft/``).

Budget rules (the whole run must fit in 45 min on a busy 2-core CPU): a training split larger
than its cap is subsampled, stratified by label, with ``--subsample-seed``; an official
validation split likewise.  The TEST split is never subsampled or altered (except under
``--quick``, a smoke test whose numbers are not written to the results files).  The n used and
the full n are both reported.  The leak audit runs on the splits actually used (that verdict sits
beside the scores); the audit of the full, unsubsampled splits is stored as well.

MCC is the primary metric, with a 95 % bootstrap CI (1000 resamples of the test rows); "time" is
the wall-clock seconds of the cell: every seed's load + fit + predict + metrics + write, summed.
``vs k-mer`` is a paired bootstrap on the same test rows.  Harness overhead = wall time outside
model compute (load / fit / predict) over total wall time.

Writes benchmarks/results/bench_shared.json and bench_shared.md (per-run JSON under
benchmarks/results/bench_shared/; predictions and the embedding cache are git-ignored there).

Run:  python benchmarks/bench_shared.py --quick      # smoke test, a few hundred rows per task
      python benchmarks/bench_shared.py              # the full run (~40 min on 2 busy cores)
"""

from __future__ import annotations

import os
import sys

# benchmarks/tokenize.py shadows the standard library's `tokenize` (used by inspect, linecache,
# torch...): move this script's folder from the front of sys.path to the back.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _common import RESULTS, ROOT, machine, write_result  # noqa: E402

SUITE = ROOT / "benchmarks" / "suites" / "shared.yaml"
RUN_DIR = RESULTS / "bench_shared"
MODEL = "genolm-tiny"

#: published numbers, from /work/shared/data/README.md and the SOURCE files beside each set.
#: ``mcc`` is on the 0-1 scale (GUE publishes MCC x 100; CNNProm's "CC" is the Matthews
#: correlation coefficient); ``None`` where no MCC was published for this set.
PUBLISHED = {
    "shared/gue-prom_core_all": {
        "mcc": 0.6937,
        "kmer": 0.584,
        "text": "DNABERT-2 (117M) 0.694; k-mer LR 0.584",
        "source": "Zhou et al. 2024, GUE: MCC x100 69.37; k-mer LR 58.4 as quoted in shared/data README",
    },
    "shared/gue-tf_0": {
        "mcc": 0.7199,
        "kmer": 0.656,
        "text": "DNABERT-2 (117M) 0.720; k-mer LR 0.656",
        "source": "Zhou et al. 2024, GUE: MCC x100 71.99; k-mer LR 65.6 as quoted in shared/data README",
    },
    "shared/cnnprom-arabidopsis-tata": {
        "mcc": 0.91,
        "text": "CNNProm CC 0.91 (Sn 0.95, Sp 0.97)",
        "source": "Umarov & Solovyev 2017 (cross-validation, not our split)",
    },
    "shared/cnnprom-arabidopsis-nontata": {
        "mcc": 0.86,
        "text": "CNNProm CC 0.86 (Sn 0.94, Sp 0.94)",
        "source": "Umarov & Solovyev 2017 (cross-validation, not our split)",
    },
    "shared/idna-6ma-athaliana": {
        "mcc": None,
        "text": "no MCC in shared/data (iDNA-ABF reports ACC / AUC)",
        "source": "Lv et al. 2020; Jin et al. 2022",
    },
    "shared/plantlncboost-algae-pooled": {
        "mcc": None,
        "text": "no comparable number in shared/data",
        "source": "Tian et al. 2024 (PlantLncBoost)",
    },
    "shared/plantlncboost-algae-heldout-micromonas": {
        "mcc": None,
        "text": "no comparable number in shared/data",
        "source": "Tian et al. 2024 (PlantLncBoost)",
    },
}

SHORT = {
    "shared/gue-prom_core_all": "GUE prom_core_all",
    "shared/gue-tf_0": "GUE tf/0",
    "shared/cnnprom-arabidopsis-tata": "CNNProm *Arabidopsis* TATA vs non-prom",
    "shared/cnnprom-arabidopsis-nontata": "CNNProm *Arabidopsis* non-TATA vs non-prom",
    "shared/idna-6ma-athaliana": "iDNA-MS 6mA *A. thaliana*",
    "shared/plantlncboost-algae-pooled": "algae lncRNA vs mRNA (pooled)",
    "shared/plantlncboost-algae-heldout-micromonas": "algae lncRNA vs mRNA (Micromonas held out)",
}

#: per task: caps on the rows of train / valid used (None: all), for the baselines + probe run
#: and for the full fine-tuning run, and fine-tuning overrides.  Test is never capped.
LONG = {"long_input": "truncate", "max_tokens": 1024}  # transcripts run to 25.7 kb: first 1 kb
#: the one-hot CNN pads each (randomly ordered) batch to its longest sequence, so whole algae
#: transcripts cost ~100x more than 1 kb: it sees the same first 1,024 nt as genolm-tiny
ALGAE = {"caps": {"train": 2000}, "ft_train": 500, "finetune": LONG, "cnn": {"max_len": 1024}}
SETTINGS = {
    "shared/gue-prom_core_all": {"caps": {"train": 24000, "valid": 2000}},
    "shared/gue-tf_0": {"caps": {}},
    "shared/cnnprom-arabidopsis-tata": {"caps": {}},
    "shared/cnnprom-arabidopsis-nontata": {"caps": {}},
    "shared/idna-6ma-athaliana": {"caps": {}},
    "shared/plantlncboost-algae-pooled": ALGAE,
    "shared/plantlncboost-algae-heldout-micromonas": ALGAE,
}
FT_CAPS = {"train": 2000, "valid": 300}
#: the harness's quick profile (genolm.bench.runner.PROFILES["quick"])
FT_FULL = {"max_epochs": 2, "lr": 1e-3, "head_lr_scale": 10.0}
CNN = {"max_epochs": 10}
QUICK_CAPS = {"train": 300, "valid": 100, "test": 200}


# --- a task with its train / valid splits subsampled ------------------------------------------


def stratified_subsample(labels, cap: int | None, seed: int) -> np.ndarray:
    """Sorted indices of at most ``cap`` rows, the same fraction from every class (seeded)."""
    y = np.asarray(labels)
    n = len(y)
    if cap is None or n <= cap:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    classes, inv = np.unique(y, return_inverse=True)
    keep = []
    for c in range(len(classes)):
        idx = np.flatnonzero(inv == c)
        keep.append(rng.choice(idx, max(1, int(round(cap * len(idx) / n))), replace=False))
    return np.sort(np.concatenate(keep))


class Subsampled:
    """A task whose ``load_splits`` keeps at most ``caps[split]`` rows of each named split."""

    def __init__(self, task, caps: dict, seed: int):
        self._task, self.caps, self.seed = task, dict(caps), seed
        self.n_full: dict[str, int] = {}
        self.n_used: dict[str, int] = {}

    def __getattr__(self, name):  # name, task_type, labels, metric, version, ...
        return getattr(self._task, name)

    def full_splits(self):
        return self._task.load_splits()

    def load_splits(self, names=None, **kw):
        from genolm.bench.tasks import TaskSplit

        out = {}
        for k, s in self._task.load_splits().items():
            idx = stratified_subsample(s.labels, self.caps.get(k), self.seed)
            self.n_full[k], self.n_used[k] = len(s), len(idx)
            if len(idx) < len(s):
                s = TaskSplit([s.sequences[i] for i in idx], s.labels[idx], [s.ids[i] for i in idx], k)
            out[k] = s
        return out


# --- reading the runs back -------------------------------------------------------------------


def _runs_of(out_dir: Path, entry: dict) -> list[dict]:
    return [json.loads((out_dir / r).read_text()) for r in entry["runs"]]


def _cell(out_dir: Path, entry: dict | None) -> dict | None:
    if entry is None:
        return None
    runs = _runs_of(out_dir, entry)
    m = [r["metrics"][r["primary_metric"]] for r in runs]
    cell = {
        "mcc": entry["mean"],
        "sd": entry["sd"] if len(runs) > 1 else None,
        "values": entry["values"],
        "ci_low": entry["ci_low"],
        "ci_high": entry["ci_high"],
        "per_seed_ci": [[x["low"], x["high"]] for x in m],
        "seeds": entry["seeds"],
        "time_s": sum(r["timings"]["total"] for r in runs),
        "time_fit_predict_s": sum(r["timings"].get("fit", 0) + r["timings"].get("predict", 0) for r in runs),
        "params": entry["params"],
        "trainable_params": entry["trainable_params"],
        "torch_threads": runs[0].get("torch_threads"),
        "n_train_used": runs[0]["data"]["train"]["n"],
        "n_valid_used": runs[0]["data"]["valid"]["n"],
        "n_test": runs[0]["data"]["test"]["n"],
        "audit": entry.get("audit"),
        "runs": entry["runs"],
    }
    for k in ("vs_kmer", "vs_best_baseline", "vs_random_init"):
        if k in entry:
            cell[k] = entry[k]
    if (runs[0].get("training") or {}).get("selection"):  # the k-mer LR's validation grid choice
        cell["selection"] = runs[0]["training"]["selection"]
    if runs[0].get("training", {}).get("best_epoch") is not None:
        cell["best_epoch"] = [r["training"].get("best_epoch") for r in runs]
    return cell


def _predictions(out_dir: Path, entry: dict) -> dict:
    from genolm.bench.records import load_predictions

    p = out_dir / entry["runs"][0]
    return load_predictions(p.with_suffix(".npz"))


def _paired_vs_kmer(ft_dir: Path, ft_entry: dict, main_dir: Path, kmer_entry: dict, n_boot: int) -> dict:
    """Paired bootstrap of fine-tuning minus k-mer LR on the same (unaltered) test rows."""
    from genolm.bench.metrics import paired_bootstrap

    a, b = _predictions(ft_dir, ft_entry), _predictions(main_dir, kmer_entry)
    if not np.array_equal(a["ids"], b["ids"]) or not np.array_equal(a["y_true"], b["y_true"]):
        return {"error": "test rows differ"}
    r = paired_bootstrap(
        "binary",
        a["y_true"],
        pred_a=a["y_pred"],
        pred_b=b["y_pred"],
        score_a=a["y_score"],
        score_b=b["y_score"],
        labels=a["classes"],
        metric="mcc",
        n_boot=n_boot,
    )
    return {
        "baseline": "kmer-lr",
        "difference": r.difference,
        "low": r.low,
        "high": r.high,
        "p_value": r.p_value,
    }


# --- one task ----------------------------------------------------------------------------------


def _audit_full(task) -> dict:
    """The leak audit of the full (unsubsampled) splits, train/valid/test as the task defines them."""
    from genolm.bench.audit import audit_splits

    t0 = time.perf_counter()
    sp = task.load_splits()
    rep = audit_splits(
        {k: (v.sequences, v.labels, v.ids) for k, v in sp.items()}, task_type=task.task_type, fail_on="never"
    )
    return {
        "verdict": rep.verdict,
        "n": {k: len(v) for k, v in sp.items()},
        "checks": [
            {"name": c.name, "splits": c.splits, "status": c.status, "value": c.value, "message": c.message}
            for c in rep.checks
            if c.status in ("WARN", "FAIL")
        ],
        "seconds": time.perf_counter() - t0,
    }


def run_task(task, args, caps: dict, ft_caps: dict, ft_over: dict, cnn_over: dict) -> dict:
    from genolm.bench.runner import BenchConfig, run_bench

    slug = task.name.split("/", 1)[-1]
    out = args.run_dir / slug
    rec: dict = {"task": task.name, "task_type": task.task_type}
    t0 = time.perf_counter()
    if not args.quick:
        rec["audit_full_splits"] = _audit_full(task)
    rec["audit_full_seconds"] = time.perf_counter() - t0

    common = {"fail_on": "never", "n_boot": args.n_boot, "report": False, "progress": not args.quiet}
    if args.threads:
        common["threads"] = args.threads
    sub = Subsampled(task, caps, args.subsample_seed)
    t0 = time.perf_counter()
    res = run_bench(
        BenchConfig(
            models=[MODEL],
            modes=["probe"],
            seeds=args.seeds,
            out_dir=str(out),
            baselines=True,
            random_init=args.random_init,
            finetune=dict(ft_over),
            cnn={**CNN, **cnn_over},
            **common,
        ),
        [sub],
    )
    rec["wall_main_s"] = time.perf_counter() - t0
    rec["timings_main"] = res.timings
    rec["n_full"], rec["n_used"] = dict(sub.n_full), dict(sub.n_used)
    rec["caps"] = caps
    t = res.summary["tasks"][task.name]
    rec["audit"] = {"verdict": t["audit"], "checks": t["audit_checks"]}
    by = {(e["name"], e["kind"], e["mode"]): e for e in t["entries"]}
    kmer_e = by.get(("kmer-lr", "baseline", "-"))
    rec["kmer"] = _cell(out, kmer_e)
    rec["cnn"] = _cell(out, by.get(("onehot-cnn", "baseline", "-")))
    rec["probe"] = _cell(out, by.get((MODEL, "model", "probe")))
    rec["probe_random_init"] = _cell(out, by.get((MODEL, "random-init", "probe")))
    rec["best_baseline"] = t.get("best_baseline")

    rec["full"] = None
    if args.full:
        fsub = Subsampled(task, ft_caps, args.subsample_seed)
        ft_dir = out / "ft"
        t0 = time.perf_counter()
        fres = run_bench(
            BenchConfig(
                models=[MODEL],
                modes=["full"],
                seeds=1,
                out_dir=str(ft_dir),
                baselines=False,
                random_init=False,
                finetune={
                    **ft_over,
                    "full": {**FT_FULL, **(args.ft_epochs and {"max_epochs": args.ft_epochs} or {})},
                },
                **common,
            ),
            [fsub],
        )
        rec["wall_full_s"] = time.perf_counter() - t0
        rec["timings_full"] = fres.timings
        rec["n_used_full"] = dict(fsub.n_used)
        rec["caps_full"] = ft_caps
        ft = fres.summary["tasks"][task.name]
        fe = next(e for e in ft["entries"] if e["kind"] == "model")
        rec["full"] = _cell(ft_dir, fe)
        rec["full"]["audit"] = ft["audit"]
        if kmer_e is not None:
            rec["full"]["vs_kmer"] = _paired_vs_kmer(ft_dir, fe, out, kmer_e, args.n_boot)
    rec["published"] = PUBLISHED.get(task.name)
    return rec


# --- the table ---------------------------------------------------------------------------------


def _f(x, nd=3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def _mcc(c: dict | None) -> str:
    if not c:
        return "-"
    sd = f" ± {c['sd']:.3f}" if c.get("sd") is not None else ""
    return f"{_f(c['mcc'])}{sd} [{_f(c['ci_low'], 2)}, {_f(c['ci_high'], 2)}] ({c['time_s']:.0f} s)"


def _versus(c: dict | None, kmer: dict | None) -> str:
    """Words for a genolm cell against the k-mer baseline (paired bootstrap)."""
    if not c or not kmer or "vs_kmer" not in c or "difference" not in c["vs_kmer"]:
        return ""
    v = c["vs_kmer"]
    d = f"Δ {v['difference']:+.3f} [{v['low']:+.2f}, {v['high']:+.2f}]"
    if v["high"] < 0:
        return f"**loses to k-mer LR** ({d})"
    if v["low"] > 0:
        return f"beats k-mer LR ({d})"
    return f"ties k-mer LR ({d})"


def _n(rec: dict) -> str:
    u, f = rec["n_used"], rec["n_full"]
    tr = f"{u['train']:,}" + (f" of {f['train']:,}" if u["train"] < f["train"] else "")
    va = u.get("valid")
    va_txt = (
        f" (+{va:,} valid" + (f" of {f['valid']:,}" if va < f.get("valid", va) else "") + ")" if va else ""
    )
    # a carved validation split comes out of train inside run_bench: report what the runs saw
    c = rec.get("kmer") or rec.get("probe")
    if c and "valid" not in u:
        va_txt = f" ({c['n_train_used']:,} fit + {c['n_valid_used']:,} valid carved)"
    return f"{tr}{va_txt} / {u['test']:,}"


def _verdict(rec: dict) -> str:
    v = rec["audit"]["verdict"]
    bad = [c for c in rec["audit"]["checks"] if c["status"] in ("WARN", "FAIL")]
    what = ", ".join(sorted({c["name"] for c in bad}))
    return f"{v}" + (f" ({what})" if what else "")


def markdown(results: list[dict], meta: dict) -> str:
    lines = [
        "<!-- written by benchmarks/bench_shared.py; do not edit by hand -->",
        "### genolm-tiny vs baselines on the shared real-data tasks",
        "",
        f"`python benchmarks/bench_shared.py` ({meta['when']}, {meta['machine']['cpu_count']} CPU cores, "
        f"1-min load average {meta['loadavg_start'][0]:.1f} at start and "
        f"{min(meta['loadavg_1min_after_each_task']):.1f}-{max(meta['loadavg_1min_after_each_task']):.1f} "
        f"after each task, torch threads {', '.join(map(str, meta['torch_threads']))}; "
        f"total wall time **{meta['wall_s'] / 60:.1f} min**).  MCC on the test split (never subsampled) "
        "with a 95 % bootstrap CI; mean ± SD over seeds where a cell has several; "
        "(s) = wall-clock seconds of the cell, all seeds.",
        "",
        "| task | n train / test | leak audit | k-mer LR | one-hot CNN | genolm-tiny probe | "
        "genolm-tiny full FT | published (source) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        pub = r["published"] or {}
        probe_txt = _mcc(r["probe"])
        w = _versus(r["probe"], r["kmer"])
        if w:
            probe_txt += f"; {w}"
        full_txt = "-"
        if r.get("full"):
            full_txt = _mcc(r["full"]) + f", n train {r['full']['n_train_used']:,}"
            w = _versus(r["full"], r["kmer"])
            if w:
                full_txt += f"; {w}"
        lines.append(
            f"| {SHORT.get(r['task'], r['task'])} | {_n(r)} | {_verdict(r)} | {_mcc(r['kmer'])} | "
            f"{_mcc(r['cnn'])} | {probe_txt} | {full_txt} | {pub.get('text', '-')}; {pub.get('source', '')} |"
        )
    s = meta["settings"]
    lines += [
        "",
        "Settings: "
        f"k-mer LR (k = 3..6) and the frozen logistic-regression probe are deterministic (1 run); "
        f"one-hot CNN {s['seeds']} seeds, ≤ {s['cnn']['max_epochs']} epochs with early stopping on valid; "
        f"full fine-tuning 1 seed, {s['ft_full']['max_epochs']} epochs, lr {s['ft_full']['lr']}, "
        f"head lr ×{s['ft_full']['head_lr_scale']}, on a seeded stratified training subsample of "
        f"≤ {s['ft_caps'].get('train')} rows ({ALGAE['ft_train']} for algae; valid ≤ {s['ft_caps'].get('valid')}). "
        f"Training (and official validation) splits above the caps {s['caps_text']} were subsampled, "
        f"stratified, seed {s['subsample_seed']}. Algae transcripts (up to 25.7 kb) are truncated "
        "to their first 1,024 nt for genolm-tiny (probe and FT) and the CNN; the k-mer LR sees whole "
        "transcripts (as length-normalised k-mer frequencies). "
        f"Random-init probe: {'on' if s['random_init'] else 'off (time budget)'}. "
        "Published numbers come from other protocols (CNNProm: cross-validation on the authors' "
        "split; GUE: DNABERT-2, 117M parameters, fine-tuned on the full training set), so they are "
        "context, not a like-for-like comparison.",
        "",
    ]
    for r in results:
        pub, k = r["published"] or {}, r["kmer"]
        if pub.get("kmer") is not None and k:
            sel = k.get("selection") or {}
            # records made before the k-mer LR chose its penalty on validation used C = 0.1
            how = (
                "L2 C = 0.1"
                if "C" not in sel
                else f"L2 C = {sel['C']:g}"
                + (", canonical k-mers" if sel.get("canonical") else "")
                + f", chosen on {sel.get('on')}"
            )
            lines.append(
                f"- {SHORT.get(r['task'], r['task'])}: the harness k-mer LR (k = 3..6 frequencies, "
                f"standardised, {how}, {k['n_train_used']:,} training rows) scores {k['mcc']:.3f}, "
                f"against {pub['kmer']:.3f} quoted for a k-mer LR in shared/data/README.md."
            )
    for r in results:  # a one-feature shortcut the audit FAILs is the bar any model must clear
        for c in r["audit"]["checks"]:
            if c["status"] == "FAIL" and c["name"].startswith("shortcut_") and c["splits"] == "train/test":
                feat = c["name"].split("_", 1)[1]
                p, k = r["probe"], r["kmer"]
                lines.append(
                    f"- {SHORT.get(r['task'], r['task'])}: **{feat} alone** (a depth-2 tree) scores MCC "
                    f"{c['value']:.3f} on test, so this task mostly measures the {feat} shortcut: the "
                    f"genolm-tiny probe ({_f(p and p['mcc'])}) and the CNN get inputs whose length still "
                    "varies below the 1,024-nt cut, the k-mer LR "
                    f"({_f(k and k['mcc'])}, length-normalised frequencies) does not; a win here is not "
                    "evidence of sequence understanding."
                )
    lines += ["", "Leak audit (on the splits used; `--fail-on never`, so every task is scored):"]
    for r in results:
        for c in r["audit"]["checks"]:
            val = f" = {c['value']:.3f}" if isinstance(c.get("value"), (int, float)) else ""
            lines.append(
                f"- {SHORT.get(r['task'], r['task'])}: {c['status']} {c['name']} {c['splits']}{val} ({c['message']})"
            )
        full = r.get("audit_full_splits")
        if full and full["verdict"] != r["audit"]["verdict"]:
            lines.append(
                f"- {SHORT.get(r['task'], r['task'])}: full (unsubsampled) splits: {full['verdict']}"
            )
    o = meta["overhead"]
    lines += [
        "",
        f"Harness overhead (wall time outside model load / fit / predict): {o['harness_percent']:.1f} % "
        f"inside `run_bench` ({o['run_bench_total_s']:.0f} s total, {o['model_s']:.0f} s model compute); "
        f"{o['script_percent']:.1f} % of the script's wall time including imports and the full-split audits.",
    ]
    return "\n".join(lines) + "\n"


# --- main --------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="smoke test: a few hundred rows per split, test included"
    )
    ap.add_argument("--tasks", help="comma-separated task names (default: all in SETTINGS)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds of the CNN (and random-init). Default: 3")
    ap.add_argument("--no-full", dest="full", action="store_false", help="skip full fine-tuning")
    ap.add_argument("--ft-train", type=int, default=FT_CAPS["train"], help="training rows for full FT")
    ap.add_argument("--ft-epochs", type=int, help=f"full FT epochs. Default: {FT_FULL['max_epochs']}")
    ap.add_argument("--random-init", action="store_true", help="also probe the randomly initialised model")
    ap.add_argument("--subsample-seed", type=int, default=0)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every train / valid cap")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--threads", type=int, help="torch threads. Default: the harness's auto (idle cores)")
    ap.add_argument("--resume", action="store_true", help="keep finished runs (timings then undercount)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument(
        "--render", action="store_true", help="only rebuild bench_shared.md from bench_shared.json"
    )
    args = ap.parse_args()
    if args.render:
        from genolm.atomic import atomic_write_json

        path = RESULTS / "bench_shared.json"
        data = json.loads(path.read_text())
        md = markdown(data["tasks"], data)
        atomic_write_json(path, {**data, "table_markdown": md})
        (RESULTS / "bench_shared.md").write_text(md)
        print(md)
        return

    t_script = time.perf_counter()
    load0 = list(os.getloadavg())
    import torch

    from genolm.bench.tasks import load_suite
    from genolm.infer import auto_threads

    args.run_dir = RUN_DIR / ("quick" if args.quick else "full")
    if args.run_dir.exists() and not args.resume:
        shutil.rmtree(args.run_dir)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    gi = RUN_DIR / ".gitignore"
    if not gi.exists():
        gi.write_text(
            "# predictions and the embedding cache are large and rebuilt by the script; the per-run\n"
            "# JSON (scores, audit verdict, timings) is kept, so re-include the repository's runs/\n"
            "*.npz\ncache/\nquick/\nquick.*\n!runs/\n"
        )

    tasks = {t.name: t for t in load_suite(str(SUITE))}
    names = [n.strip() for n in args.tasks.split(",")] if args.tasks else list(SETTINGS)
    results, loads = [], []
    for name in names:
        st = SETTINGS[name]
        if args.quick:
            caps, ft_caps = dict(QUICK_CAPS), {**QUICK_CAPS, "train": 200}
        else:
            caps = {k: int(v * args.scale) for k, v in st["caps"].items()}
            ft_caps = {**FT_CAPS, "train": st.get("ft_train", args.ft_train)}
        t0 = time.perf_counter()
        print(
            f"=== {name} (load average {os.getloadavg()[0]:.1f}, auto threads {auto_threads()})", flush=True
        )
        rec = run_task(tasks[name], args, caps, ft_caps, st.get("finetune", {}), st.get("cnn", {}))
        rec["wall_s"] = time.perf_counter() - t0
        rec["loadavg_after"] = list(os.getloadavg())
        loads.append(rec["loadavg_after"][0])
        results.append(rec)
        k, p = rec["kmer"], rec["probe"]
        print(
            f"--- {name}: k-mer {_f(k and k['mcc'])}  CNN {_f(rec['cnn'] and rec['cnn']['mcc'])}  "
            f"probe {_f(p and p['mcc'])}  full {_f(rec['full'] and rec['full']['mcc'])}  "
            f"audit {rec['audit']['verdict']}  {rec['wall_s']:.0f} s",
            flush=True,
        )
    wall = time.perf_counter() - t_script

    rb_total = sum(r["timings_main"]["total"] + r.get("timings_full", {}).get("total", 0.0) for r in results)
    model_s = sum(r["timings_main"]["model"] + r.get("timings_full", {}).get("model", 0.0) for r in results)
    overhead = {
        "run_bench_total_s": rb_total,
        "model_s": model_s,
        "harness_overhead_s": rb_total - model_s,
        "harness_percent": 100.0 * (rb_total - model_s) / rb_total if rb_total else math.nan,
        "script_wall_s": wall,
        "script_percent": 100.0 * (wall - model_s) / wall,
        "phases_s": {
            k: sum(r["timings_main"].get(k, 0) + r.get("timings_full", {}).get(k, 0) for r in results)
            for k in ("load_splits", "audit", "metrics", "write", "summary")
        },
        "full_split_audits_s": sum(r["audit_full_seconds"] for r in results),
    }
    caps_text = "; ".join(
        f"{SHORT[n].replace('*', '')}: " + ", ".join(f"{k} {v:,}" for k, v in SETTINGS[n]["caps"].items())
        for n in names
        if SETTINGS[n]["caps"]
    )
    meta = {
        "when": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "loadavg_start": load0,
        "loadavg_end": list(os.getloadavg()),
        "loadavg_1min_after_each_task": loads,
        "torch_threads": sorted({c["torch_threads"] for r in results for c in (r["kmer"], r["probe"]) if c}),
        "wall_s": wall,
        "overhead": overhead,
        "settings": {
            "quick": args.quick,
            "model": MODEL,
            "modes": ["probe"] + (["full"] if args.full else []),
            "seeds": args.seeds,
            "mode_seeds": {"full": 1},
            "random_init": args.random_init,
            "subsample_seed": args.subsample_seed,
            "caps": {n: SETTINGS[n]["caps"] for n in names},
            "caps_text": f"({caps_text})",
            "scale": args.scale,
            "ft_caps": {**FT_CAPS, "train": args.ft_train},
            "ft_full": {**FT_FULL, **({"max_epochs": args.ft_epochs} if args.ft_epochs else {})},
            "cnn": CNN,
            "probe": "logreg on mean-pooled last-layer embeddings, C in {0.01, 0.1, 1, 10} chosen on valid",
            "long_input_algae": LONG,
            "fail_on": "never",
            "n_boot": args.n_boot,
            "torch_version": torch.__version__,
        },
    }
    md = markdown(results, meta)
    print(md)
    if args.quick:
        (RUN_DIR / "quick.json").write_text(
            json.dumps({"meta": meta, "tasks": results}, indent=1, default=str)
        )
        (RUN_DIR / "quick.md").write_text(md)
        print(f"smoke test: wrote {RUN_DIR / 'quick.json'} (not the results files)")
        return
    write_result("bench_shared", {**meta, "tasks": results, "table_markdown": md})
    (RESULTS / "bench_shared.md").write_text(md)
    print(f"wrote {RESULTS / 'bench_shared.md'}")


if __name__ == "__main__":
    main()
