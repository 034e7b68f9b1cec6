"""``genolm report``: bench results as Markdown, one self-contained HTML file and a flat leaderboard.

The report is built from ``summary.json`` (rebuilt from the run files when missing, so
``genolm report DIR`` always works; several folders are merged) and the runs' prediction files
(ROC and precision-recall curves).  One list of blocks (headings, paragraphs, tables, figures) is
rendered twice: to ``report.md`` (figures as SVG files in ``report_files/``) and to
``report.html`` (figures inline as SVG, tables sortable by a few lines of inline script; nothing
is fetched, so it works offline).  Beside them: ``leaderboard.csv`` / ``leaderboard.parquet``
(:data:`LEADERBOARD_COLUMNS`, one row per task and entry) and ``model-cards/<model>/README.md``
(Hugging Face ``model-index``, :mod:`genolm.bench.modelcard`).

The first screen answers "did my model beat the best baseline, and is the control sane?": per
task, the best genolm model against the *best* baseline on that task (the one reference used
throughout) in the words "beats / ties / loses to the best baseline (name)" -- beats or loses only
when the paired bootstrap 95 % CI of the difference excludes 0 --, and its random-initialised
control, flagged when it scores significantly below chance.  Single-seed runs, a probe whose best
C sits at the edge of its grid, and truncated or windowed inputs are flagged in the tables and the
bullets.  Per task follow every entry with mean +/- SD over seeds, the bootstrap 95 % CI of the
seed mean, the leak-audit verdict, time and parameter count, curves over every seed (one-vs-rest
for multiclass), and a provenance block closes the page (versions, hardware, threads, data
sha256, wall time, the exact commands).
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from genolm.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from genolm.bench.summary import verdict

COLORS = {"model": "#1f5fa8", "random-init": "#9aa5b1", "baseline": "#2e8b57"}
KIND_LABEL = {"model": "genolm model", "random-init": "random init", "baseline": "baseline"}
METRIC_LABEL = {"mcc": "MCC", "spearman": "Spearman", "pearson": "Pearson", "auroc": "AUROC", "f1": "F1"}
ALPHA = 0.05


class ReportFiles(NamedTuple):
    markdown: Path
    html: Path
    figures: list[Path]
    #: ``leaderboard.csv``, ``leaderboard.parquet`` and the model cards written
    leaderboard: list[Path] = []
    model_cards: list[Path] = []


# --- formatting -------------------------------------------------------------------------------


def _f(x, nd: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{nd}f}"


def _signed(x) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:+.3f}"


def _p(p) -> str:
    if p is None or not math.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _count(n) -> str:
    if n is None:
        return "n/a"
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(int(n))


def _secs(s) -> str:
    if s is None:
        return "n/a"
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def _label(e: dict) -> str:
    if e["kind"] == "baseline":
        return e["name"]
    return f"{e['name']} ({e['mode']}{', random init' if e['kind'] == 'random-init' else ''})"


def _metric_name(m: str) -> str:
    return METRIC_LABEL.get(m, m)


# --- flags and verdicts -------------------------------------------------------------------------


def _vs_text(vb: dict | None) -> str:
    """``"beats / ties / loses to the best baseline (name)"`` with the paired difference."""
    if not vb:
        return "no baseline"
    word = vb.get("verdict") or verdict(vb.get("low"), vb.get("high"))
    word = {"beats": "beats", "ties": "ties", "loses": "loses to"}[word]
    return (
        f"{word} the best baseline ({vb['baseline']}): Δ {_signed(vb['difference'])} "
        f"[{_signed(vb['low'])}, {_signed(vb['high'])}]"
    )


def entry_flags(e: dict) -> list[str]:
    """Short warnings shown beside an entry (table cell, leaderboard ``flags``)."""
    out = []
    if e.get("below_chance"):
        out.append(f"⚠ below chance ({_f(e.get('chance'), 1)})")
    if e.get("n_seeds", len(e.get("seeds", []))) == 1 and not e.get("deterministic"):
        out.append("n=1 seed: SD unknown")
    if e.get("probe_C_at_edge"):
        out.append("probe C at grid edge")
    if e.get("grid_at_edge"):
        out.append("penalty at grid edge")
    li = e.get("long_input") or {}
    over = li.get("n_over_context") or {}
    n_over = sum(v for v in over.values() if v)
    if n_over:
        how = "windowed" if li.get("policy") == "window" else "truncated"
        out.append(f"{n_over} inputs {how} to {li.get('context_tokens')} tokens")
    return out


def _control(task: dict, model: dict | None) -> tuple[dict | None, str]:
    """The random-init control of ``model`` and a short sanity statement."""
    if model is None:
        return None, "-"
    ri = next(
        (
            e
            for e in task["entries"]
            if e["kind"] == "random-init" and e["name"] == model["name"] and e["mode"] == model["mode"]
        ),
        None,
    )
    if ri is None:
        return None, "not run"
    score = f"{_f(ri['mean'])} [{_f(ri['ci_low'])}, {_f(ri['ci_high'])}]"
    if ri.get("below_chance"):
        return ri, f"⚠ {score}: significantly below chance ({_f(ri.get('chance'), 1)}): broken control"
    return ri, f"{score}: sane"


def _best_model(task: dict) -> dict | None:
    models = [e for e in task["entries"] if e["kind"] == "model" and e["mean"] is not None]
    return models[0] if models else None  # entries are sorted best first


def _best_baseline(task: dict) -> dict | None:
    name = task.get("best_baseline")
    return next((e for e in task["entries"] if e["kind"] == "baseline" and e["name"] == name), None)


def glance(task: dict) -> str:
    """One sentence per task for the first screen."""
    name, metric = task["task"], _metric_name(task["metric"])
    bm, bb = _best_model(task), _best_baseline(task)
    audit = task.get("audit")
    bad = ", ".join(f"{c['name']} {c['splits']}" for c in task.get("audit_checks") or [])
    audit_txt = f"leak audit {audit}" + (f" ({bad})" if bad else "")
    if bm is None:
        return f"**{name}** ({metric}): no genolm model scored; {audit_txt}."
    vb = bm.get("vs_best_baseline")
    word = (vb or {}).get("verdict")
    lead = (
        f"**{name}** ({metric}): **{_label(bm)}** {_f(bm['mean'])} [{_f(bm['ci_low'])}, {_f(bm['ci_high'])}] "
    )
    if vb and bb is not None:
        lead += f"**{_vs_text(vb).split(':')[0]}** ({_f(bb['mean'])}): Δ {_signed(vb['difference'])} [{_signed(vb['low'])}, {_signed(vb['high'])}]"
    else:
        lead += "(no baseline ran)"
    ri, ctrl = _control(task, bm)
    parts = [lead, f"control (random init): {ctrl}"]
    flags = entry_flags(bm)
    if flags:
        parts.append("; ".join(flags))
    parts.append(audit_txt + ("" if audit in ("PASS", None) else " ⚠"))
    if word == "loses":
        parts[0] = "⚠ " + parts[0]
    return ". ".join(parts) + "."


# --- figures ------------------------------------------------------------------------------------


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # text as text (small, searchable); ids derived from a fixed salt (the same figure, the same file)
    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "genolm-report"})
    return plt


def _svg(fig) -> bytes:
    """The figure as a standalone SVG file (bytes)."""
    plt = _mpl()
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def inline_svg(data: bytes, prefix: str) -> str:
    """An SVG file as an element to paste into HTML: no XML prologue, every ``id`` prefixed so that
    two figures on one page never share one (matplotlib reuses clip-path and glyph ids)."""
    text = data.decode("utf-8")
    text = text[text.index("<svg") :]
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    for i in sorted(ids, key=len, reverse=True):
        text = text.replace(f'id="{i}"', f'id="{prefix}-{i}"')
        text = text.replace(f"url(#{i})", f"url(#{prefix}-{i})")
        text = text.replace(f'href="#{i}"', f'href="#{prefix}-{i}"')
    return re.sub(r"<svg ", '<svg class="fig" ', text, count=1)


def score_figure(task: dict) -> bytes:
    """Horizontal bars: mean primary metric per entry, bootstrap 95 % CI of the seed mean as error
    bars, one dot per seed; colour by kind (genolm model, random init, baseline); the best
    baseline's mean as a dashed line.  An SVG file."""
    plt = _mpl()
    entries = [e for e in task["entries"] if e["mean"] is not None][::-1]  # best at the top
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(entries) + 1.4))
    y = np.arange(len(entries))
    means = np.array([e["mean"] for e in entries], dtype=float)
    lo = np.array([e["ci_low"] if e["ci_low"] is not None else e["mean"] for e in entries], dtype=float)
    hi = np.array([e["ci_high"] if e["ci_high"] is not None else e["mean"] for e in entries], dtype=float)
    colors = [COLORS[e["kind"]] for e in entries]
    ax.barh(y, means, color=colors, height=0.62, alpha=0.9)
    ax.errorbar(
        means,
        y,
        xerr=[np.maximum(means - lo, 0), np.maximum(hi - means, 0)],
        fmt="none",
        ecolor="#222",
        capsize=3,
        lw=1,
    )
    for i, e in enumerate(entries):
        vals = [v for v in e.get("values", []) if v is not None]
        ax.scatter(vals, [i] * len(vals), s=9, color="#111", zorder=3)
    ax.set_yticks(y, [_label(e) + (" ⚠" if entry_flags(e) else "") for e in entries], fontsize=9)
    ax.axvline(0, color="#666", lw=0.8)
    bb = _best_baseline(task)
    if bb is not None:
        ax.axvline(bb["mean"], color=COLORS["baseline"], lw=1, ls="--")
    metric = _metric_name(task["metric"])
    ax.set_xlabel(
        f"{metric} on the test set (bar: mean over seeds; line: 95% bootstrap CI; dots: seeds; "
        "dashed: best baseline)",
        fontsize=8,
    )
    ax.set_title(f"{task['task']}: {metric}   (leak audit: {task['audit']})", fontsize=10, loc="left")
    finite = np.concatenate([means, lo, hi])
    finite = finite[np.isfinite(finite)]
    if finite.size:
        left = min(0.0, float(finite.min()) - 0.05)
        right = max(float(finite.max()) + 0.05, 0.1)
        ax.set_xlim(left, right)
    from matplotlib.patches import Patch

    handles = [
        Patch(color=COLORS[k], label=KIND_LABEL[k]) for k in COLORS if any(e["kind"] == k for e in entries)
    ]
    ax.legend(handles=handles, fontsize=8, loc="lower right", frameon=False)
    ax.grid(axis="x", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


#: classes (one-vs-rest panels) drawn at most; the rest are named in the caption
MAX_CURVE_CLASSES = 6


def _indicators(arr: dict, task: dict) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """``(Y, S, names)``: ``(n, K)`` 0/1 truth and ``(n, K)`` scores, one column per class drawn
    (binary: the positive class; multiclass: one-vs-rest; multilabel: each label)."""
    y = np.asarray(arr["y_true"])
    s = np.asarray(arr["y_score"], dtype=float)
    classes = arr.get("classes")
    labels = task.get("labels") or []

    def nm(c) -> str:  # a class index -> the task's label name, where it has them
        try:
            i = int(c)
        except (TypeError, ValueError):
            return str(c)
        return str(labels[i]) if 0 <= i < len(labels) and str(i) == str(c) else str(c)

    if y.ndim == 2:  # multilabel
        names = [str(x) for x in (task.get("labels") or range(y.shape[1]))]
        return (y != 0).astype(int), s.reshape(len(y), -1), names
    if s.ndim == 1:
        pos = classes[1] if classes is not None and len(classes) == 2 else y.max()
        return (y == pos).astype(int)[:, None], s[:, None], [nm(pos)]
    if classes is None or s.shape[1] != len(classes):
        return None
    return np.stack([(y == c).astype(int) for c in classes], 1), s, [nm(c) for c in classes]


def curve_figure(task: dict, out_dir: Path) -> bytes | None:
    """ROC and precision-recall curves of every seed of every entry (one-vs-rest per class for
    multiclass, per label for multilabel); legend: mean AUROC / AUPRC over seeds.  ``None`` when no
    prediction file gives a curve.  An SVG file."""
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    from genolm.bench.records import load_predictions

    plt = _mpl()
    curves: list[tuple[int, dict, list]] = []  # (entry index, entry, [(Y, S, names) per seed])
    names: list[str] = []
    for i, e in enumerate(task["entries"]):
        seeds = []
        for run in e.get("runs", []):
            path = out_dir / Path(run).with_suffix(".npz")
            if path.exists():
                got = _indicators(load_predictions(path), task)
                if got is not None:
                    seeds.append(got)
                    names = names or got[2]
        if seeds:
            curves.append((i, e, seeds))
    if not curves or not names:
        return None
    K = min(len(names), MAX_CURVE_CLASSES)
    fig, axes = plt.subplots(K, 2, figsize=(10.5, 4.4 * K), squeeze=False)
    cmap = plt.get_cmap("tab10")
    styles = {"model": "-", "random-init": ":", "baseline": "--"}
    drawn = 0
    for k in range(K):
        ax_roc, ax_pr = axes[k]
        prevalence = None
        for i, e, seeds in curves:
            aurocs, auprcs = [], []
            for j, (Y, S, nm) in enumerate(seeds):
                if k >= Y.shape[1] or nm[k] != names[k]:
                    continue
                yk, sk = Y[:, k], S[:, k]
                if yk.min() == yk.max() or not np.all(np.isfinite(sk)):
                    continue
                fpr, tpr, _ = roc_curve(yk, sk)
                prec, rec, _ = precision_recall_curve(yk, sk)
                aurocs.append(roc_auc_score(yk, sk))
                auprcs.append(average_precision_score(yk, sk))
                prevalence = float(yk.mean())
                kw = {"color": cmap(i % 10), "lw": 1.2, "alpha": 0.9 if j == 0 else 0.45}
                ax_roc.plot(fpr, tpr, styles[e["kind"]], **kw)
                ax_pr.plot(rec, prec, styles[e["kind"]], **kw)
            if aurocs:
                drawn += 1
                n = f" (n={len(aurocs)})"
                ax_roc.plot(
                    [],
                    [],
                    styles[e["kind"]],
                    color=cmap(i % 10),
                    label=f"{_label(e)}  AUROC {np.mean(aurocs):.3f}{n}",
                )
                ax_pr.plot(
                    [],
                    [],
                    styles[e["kind"]],
                    color=cmap(i % 10),
                    label=f"{_label(e)}  AUPRC {np.mean(auprcs):.3f}{n}",
                )
        what = "" if len(names) == 1 else f" class {names[k]} vs rest"
        ax_roc.plot([0, 1], [0, 1], color="#999", lw=0.8)
        ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", aspect="equal")
        ax_roc.set_title(f"{task['task']}: ROC{what}", fontsize=10, loc="left")
        if prevalence is not None:
            ax_pr.axhline(prevalence, color="#999", lw=0.8)
        ax_pr.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
        ax_pr.set_title(f"precision-recall{what} (grey: prevalence)", fontsize=10, loc="left")
        for ax in (ax_roc, ax_pr):
            ax.legend(fontsize=7, loc="lower right" if ax is ax_roc else "lower left", frameon=False)
            ax.grid(alpha=0.3)
    if not drawn:
        plt.close(fig)
        return None
    return _svg(fig)


# --- findings in words ----------------------------------------------------------------------------


def findings(task: dict) -> list[str]:
    """Sentences about each genolm model against the best baseline on the task (the one reference
    used throughout), its own random initialisation (when that control is sane), and its flags."""
    metric = _metric_name(task["metric"])
    out = []
    for e in task["entries"]:
        if e.get("unpaired"):
            n, first = len(e["unpaired"]), e["unpaired"][0]
            out.append(
                f"⚠ **{_label(e)}**: {n} run{'s' * (n > 1)} cannot be resampled here, so its CI over "
                f"seeds and its paired comparisons are not shown. `{first['run']}`: {first['why']}. "
                "Rerun with the bench folder that holds the predictions, or delete the record and rerun "
                "the bench."
            )
        if e["kind"] == "random-init" and e.get("below_chance"):
            out.append(
                f"⚠ The control **{_label(e)}** scores significantly below chance: {metric} {_f(e['mean'])} "
                f"[{_f(e['ci_low'])}, {_f(e['ci_high'])}] vs {_f(e.get('chance'), 1)}. A randomly initialised "
                "model should score about chance; below it, the fitting procedure or the split is suspect, "
                "and no gain over it says anything about pretraining."
            )
        if e["kind"] != "model":
            continue
        who = f"**{_label(e)}**"
        b = e.get("vs_best_baseline")
        if b:
            word = b.get("verdict") or verdict(b.get("low"), b.get("high"))
            sentence = (
                f"{who} {_vs_text(b)}, paired bootstrap p = {_p(b['p_value'])} "
                f"({metric} {_f(e['mean'])} vs {_f(e['mean'] - b['difference'])})."
            )
            if word == "loses":
                sentence = (
                    "⚠ "
                    + sentence
                    + " A model that does not reach the best baseline has not shown it learned more than it."
                )
            elif word == "ties":
                sentence += " The 95% CI of the difference includes 0: no difference shown either way."
            out.append(sentence)
        r = e.get("vs_random_init")
        if r and r["difference"] is not None:
            if r.get("control_below_chance"):
                out.append(
                    f"No pretraining effect is claimed for {who}: its random-init control is below chance "
                    f"(difference {_signed(r['difference'])} is not a gain from pretraining)."
                )
            elif r.get("verdict", verdict(r.get("low"), r.get("high"))) == "beats":
                out.append(
                    f"Pretraining helps {who}: {_signed(r['difference'])} {metric} [{_signed(r['low'])}, "
                    f"{_signed(r['high'])}] over the same architecture randomly initialised (p = {_p(r['p_value'])})."
                )
            else:
                out.append(
                    f"Pretraining shows no significant gain for {who} over its random initialisation "
                    f"(difference {_signed(r['difference'])} [{_signed(r['low'])}, {_signed(r['high'])}], "
                    f"p = {_p(r['p_value'])})."
                )
        fl = [f for f in entry_flags(e) if not f.startswith("⚠ below")]
        if fl:
            out.append(f"{who}: " + "; ".join(fl) + ".")
    return out


# --- blocks -> Markdown / HTML --------------------------------------------------------------------


def _ran(summary: dict) -> tuple[list[str], str]:
    """Models and ``"mode: n seeds"`` that actually ran (the header never claims more)."""
    models, per_mode = [], {}
    for t in summary.get("tasks", {}).values():
        for e in t.get("entries", []):
            if e["kind"] == "model" and e["name"] not in models:
                models.append(e["name"])
            key = "baselines" if e["kind"] == "baseline" else e["mode"]
            per_mode[key] = max(per_mode.get(key, 0), len(e.get("seeds", [])))
    text = ", ".join(f"{m}: {n} seed{'s' if n != 1 else ''}" for m, n in per_mode.items())
    return models, text


def _provenance(summary: dict) -> list[tuple]:
    b: list[tuple] = [("h2", "Provenance")]
    rows = []
    total = 0.0
    for src in summary.get("sources") or []:
        bench = src.get("bench") or {}
        inv = bench.get("invocations") or []
        for i in inv:
            hw = i.get("hardware") or {}
            total += i.get("wall_s") or 0.0
            rows.append(
                [
                    src["dir"],
                    f"`{i.get('command') or '(library call)'}`",
                    i.get("started_at") or "n/a",
                    _secs(i.get("wall_s")),
                    f"{hw.get('cpu', 'n/a')} ({hw.get('cpu_count', '?')} cores)",
                    hw.get("gpu") or "none",
                    str(hw.get("torch_threads", "n/a")),
                ]
            )
        if not inv:
            rows.append(
                [
                    src["dir"],
                    "not recorded (bench.json predates provenance)",
                    "n/a",
                    _secs((src.get("timings") or {}).get("total")),
                    "n/a",
                    "n/a",
                    ", ".join(map(str, src.get("torch_threads") or [])) or "n/a",
                ]
            )
            total += (src.get("timings") or {}).get("total") or 0.0
    if rows:
        b.append(("p", f"Total wall time of the bench runs: {_secs(total)}."))
        b.append(
            (
                "table",
                ["results folder", "command", "started", "wall time", "CPU", "GPU", "torch threads"],
                rows,
            )
        )
    vers = []
    for src in summary.get("sources") or []:
        v = src.get("versions") or {}
        if v:
            vers.append([src["dir"], ", ".join(f"{k} {x}" for k, x in v.items())])
    if vers:
        b.append(("table", ["results folder", "versions"], vers))
    data_rows = []
    for name, t in summary.get("tasks", {}).items():
        for split, d in (t.get("data") or {}).items():
            data_rows.append([name, split, str(d.get("n")), f"`{d.get('sha256')}`"])
    if data_rows:
        b.append(("p", "Data: sha256 of each split as scored (ids, sequences and labels, in order)."))
        b.append(("table", ["task", "split", "n", "sha256"], data_rows))
    return b


def _blocks(summary: dict, out_dir: Path, with_roc: bool = True) -> list[tuple]:
    tasks = summary.get("tasks", {})
    bench = summary.get("bench", {})
    b: list[tuple] = [("h1", "genolm bench report")]
    models, seeds_text = _ran(summary)
    n_src = len(summary.get("sources") or [])
    meta = [
        f"Generated {summary.get('generated_at', '')}"
        + (f" from {n_src} results folders" if n_src > 1 else "")
        + "."
    ]
    meta.append(
        f"Models: {', '.join(models) or 'none (baselines only)'}; ran: {seeds_text or 'nothing'}"
        + (f"; profile: {bench.get('profile')}" if bench.get("profile") else "")
        + (f"; leak-audit policy: --fail-on {bench.get('fail_on')}" if bench.get("fail_on") else "")
        + f"; bootstrap resamples: {bench.get('n_boot', 'n/a')}."
    )
    b.append(("p", " ".join(meta)))
    # the first screen: one answer per task, then the overview table
    glances = [glance(t) for t in tasks.values() if t.get("status") != "refused"]
    glances += [
        f"⚠ **{n}**: NOT SCORED, leak audit {t.get('audit')} reaches --fail-on {t.get('fail_on')} ({t.get('reason', '')})."
        for n, t in tasks.items()
        if t.get("status") == "refused"
    ]
    b.append(("h2", "At a glance"))
    b.append(("ul", glances))
    rows = []
    for name, t in tasks.items():
        if t.get("status") == "refused":
            rows.append([name, "-", f"**{t.get('audit')}**", "not scored (leak audit)", "-", "-", "-", "-"])
            continue
        bm, bb = _best_model(t), _best_baseline(t)
        vb = (bm or {}).get("vs_best_baseline")
        _, ctrl = _control(t, bm)
        word = (vb or {}).get("verdict")
        rows.append(
            [
                name,
                _metric_name(t["metric"]),
                t["audit"],
                f"{_label(bm)}: {_f(bm['mean'])} [{_f(bm['ci_low'])}, {_f(bm['ci_high'])}]" if bm else "-",
                f"{bb['name']}: {_f(bb['mean'])}" if bb else "-",
                (f"**{word}**" if word == "loses" else word or "-")
                + (
                    f" (Δ {_signed(vb['difference'])} [{_signed(vb['low'])}, {_signed(vb['high'])}])"
                    if vb
                    else ""
                ),
                ctrl,
                "; ".join(entry_flags(bm)) if bm else "-",
            ]
        )
    b.append(
        (
            "table",
            [
                "task",
                "metric",
                "leak audit",
                "best genolm model [95% CI]",
                "best baseline",
                "vs best baseline (Δ [95% CI])",
                "control (random init)",
                "flags",
            ],
            rows,
        )
    )
    b.append(
        (
            "p",
            "How to read this: scores are on each task's test set, mean ± SD over seeds, with a 95% bootstrap CI "
            "of the seed mean (test examples resampled; whole sequences for per-nucleotide tasks). Every model is "
            "compared with the best baseline on that task; the difference is a paired bootstrap on the same "
            "resampled test examples, and a model **beats** or **loses to** it only when that 95% CI excludes 0, "
            "else it **ties**. The random-init control is the same architecture, randomly initialised and fitted "
            "the same way; it is flagged when its whole CI lies below chance (MCC, Spearman, Pearson 0; AUROC 0.5). "
            "n=1 marks a single run: k-mer models and logistic probes on a fixed model are deterministic (more "
            "seeds would repeat the number); other single runs have an unknown SD and are flagged. The leak audit "
            "ran on the task's own split files (what `genolm audit` sees); its verdict stands beside every score.",
        )
    )
    for name, t in tasks.items():
        if t.get("status") == "refused":
            b.append(("h2", f"{name}: not scored"))
            b.append(
                (
                    "p",
                    f"**The leak audit's verdict is {t.get('audit')}, which reaches the policy --fail-on "
                    f"{t.get('fail_on')}, so no model was scored on this task.** {t.get('reason', '')} "
                    "Fix the splits (e.g. `genolm audit` and its resplit), or re-run with --fail-on never "
                    "to score anyway: the verdict is then printed beside every score.",
                )
            )
            continue
        head = f"{name}" + (f" (v{t['version']})" if t.get("version") else "")
        b.append(("h2", head))
        data = t.get("data", {})
        sizes = ", ".join(
            f"{k} {v.get('n')}" + (" (carved from train)" if v.get("carved_from_train") else "")
            for k, v in data.items()
        )
        b.append(
            (
                "p",
                f"{t['task_type']}, primary metric {_metric_name(t['metric'])}; {sizes}. "
                f"Leak audit: **{t['audit']}**"
                + (
                    " — "
                    + "; ".join(
                        f"{c['name']} {c['splits']}: {c['status']} ({c['message']})"
                        for c in t["audit_checks"]
                    )
                    if t.get("audit_checks")
                    else ""
                )
                + ".",
            )
        )
        if t["audit"] not in ("PASS", None):
            b.append(
                (
                    "p",
                    f"**Caution: these scores were computed although the leak audit says {t['audit']}. "
                    "They may be inflated by leakage between the splits.**",
                )
            )
        long_rows, contexts = [], set()
        for e in t["entries"]:
            li = e.get("long_input") or {}
            over = {k: v for k, v in (li.get("n_over_context") or {}).items() if v}
            if li.get("context_tokens") is not None and li.get("policy") != "error":
                contexts.add(li["context_tokens"])
            if over:
                how = "windowed" if li.get("policy") == "window" else "truncated"
                long_rows.append(
                    f"{_label(e)}: {', '.join(f'{v} {k}' for k, v in over.items())} sequences {how} "
                    f"to {li.get('context_tokens')} tokens"
                )
        if long_rows:
            b.append(("p", "**Inputs longer than the model context:** " + "; ".join(long_rows) + "."))
        elif contexts:
            b.append(
                (
                    "p",
                    f"No input exceeded the model context ({', '.join(map(str, sorted(contexts)))} tokens).",
                )
            )
        b.append(("img", f"{_file_slug(name)}-scores.svg", score_figure(t), f"{name} scores"))
        metric = _metric_name(t["metric"])
        rows = []
        for i, e in enumerate(t["entries"], 1):
            vb = e.get("vs_best_baseline")
            vs = (
                f"{vb.get('verdict', '-')} ({_signed(vb['difference'])} [{_signed(vb['low'])}, {_signed(vb['high'])}], p {_p(vb['p_value'])})"
                if vb
                else (
                    "best baseline"
                    if e["kind"] == "baseline" and e["name"] == t.get("best_baseline")
                    else "-"
                )
            )
            sd = "" if e.get("sd") is None else f" ± {_f(e['sd'])}"
            rows.append(
                [
                    str(i),
                    _label(e),
                    KIND_LABEL[e["kind"]],
                    f"{_f(e['mean'])}{sd} (n={len(e.get('seeds', []))})",
                    f"[{_f(e['ci_low'])}, {_f(e['ci_high'])}]",
                    vs,
                    "; ".join(entry_flags(e)) or "-",
                    e.get("audit") or "-",
                    _secs(e.get("time_s")),
                    f"{_count(e.get('params'))} ({_count(e.get('trainable_params'))})",
                ]
            )
        b.append(
            (
                "table",
                [
                    "#",
                    "model",
                    "kind",
                    f"{metric} mean ± SD (seeds)",
                    "95% CI",
                    f"vs best baseline ({t.get('best_baseline') or '-'}): Δ [95% CI]",
                    "flags",
                    "leak audit",
                    "time / run",
                    "params (trainable)",
                ],
                rows,
            )
        )
        words = findings(t)
        if words:
            b.append(("ul", words))
        if with_roc and t["task_type"] in ("binary", "multiclass", "multilabel", "token_classification"):
            svg = curve_figure(t, out_dir)
            if svg is not None:
                b.append(
                    ("img", f"{_file_slug(name)}-curves.svg", svg, f"{name} ROC and precision-recall curves")
                )
    b += _provenance(summary)
    return b


def _file_slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "task"


def _md_cell(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: list[tuple], files_dir: str = "report_files") -> str:
    out = []
    for blk in blocks:
        kind = blk[0]
        if kind == "h1":
            out.append(f"# {blk[1]}\n")
        elif kind == "h2":
            out.append(f"## {blk[1]}\n")
        elif kind == "p":
            out.append(blk[1] + "\n")
        elif kind == "ul":
            out.append("\n".join(f"- {x}" for x in blk[1]) + "\n")
        elif kind == "table":
            header, rows = blk[1], blk[2]
            lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
            out.append("\n".join(lines) + "\n")
        elif kind == "img":
            out.append(f"![{blk[3]}]({files_dir}/{blk[1]})\n")
    return "\n".join(out)


def _inline_html(s: str) -> str:
    s = html.escape(str(s), quote=False)
    s = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", s)
    s = re.sub(r"`(.+?)`", r"<code>\1</code>", s)
    return s.replace("⚠", '<span class="warn">⚠</span>')


_CSS = """
body{font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#1d232a}
h1{font-size:1.7em;margin-bottom:.2em} h2{margin-top:2em;border-bottom:1px solid #dde;padding-bottom:.2em}
table{border-collapse:collapse;margin:1em 0;font-size:13px} th,td{border:1px solid #d6dae0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f2f4f7;cursor:pointer;user-select:none} th:after{content:" \\2195";color:#aab} th.asc:after{content:" \\2191"} th.desc:after{content:" \\2193"}
tr:nth-child(even) td{background:#fafbfc} svg.fig{max-width:100%;height:auto;display:block;margin:1em 0}
li{margin:.3em 0} .warn{color:#c0392b;font-weight:bold} code{background:#f2f4f7;padding:0 3px;word-break:break-all}
"""

#: click a column header to sort by it (numbers by value, the rest as text); inline: works offline
_SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function(t){
  t.querySelectorAll("th").forEach(function(th,i){
    th.title="click to sort";
    th.addEventListener("click",function(){
      var asc=!th.classList.contains("asc");
      t.querySelectorAll("th").forEach(function(h){h.classList.remove("asc","desc");});
      th.classList.add(asc?"asc":"desc");
      var key=function(r){var s=r.cells[i].textContent.trim();
        var m=s.match(/^[^0-9+\\-\u2212]*?([+\\-\u2212]?[0-9]*\\.?[0-9]+)/);
        return m?parseFloat(m[1].replace("\u2212","-")):s.toLowerCase();};
      var b=t.tBodies[0],rows=Array.prototype.slice.call(b.rows);
      rows.sort(function(a,c){var x=key(a),y=key(c);
        if(typeof x!==typeof y){x=String(x);y=String(y);}
        return (x<y?-1:x>y?1:0)*(asc?1:-1);});
      rows.forEach(function(r){b.appendChild(r);});
    });
  });
});
"""


def render_html(blocks: list[tuple]) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>genolm bench report</title>",
    ]
    out.append(f"<style>{_CSS}</style></head><body>")
    n_fig = 0
    for blk in blocks:
        kind = blk[0]
        if kind in ("h1", "h2"):
            out.append(f"<{kind}>{_inline_html(blk[1])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{_inline_html(blk[1])}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_inline_html(x)}</li>" for x in blk[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{_inline_html(h)}</th>" for h in blk[1])
            body = "".join(
                "<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in r) + "</tr>" for r in blk[2]
            )
            out.append(f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
        elif kind == "img":
            n_fig += 1
            out.append(
                f'<figure role="img" aria-label="{html.escape(blk[3])}">{inline_svg(blk[2], f"f{n_fig}")}</figure>'
            )
    out.append(f"<script>{_SORT_JS}</script>")
    out.append("</body></html>")
    return "\n".join(out)


#: columns of ``leaderboard.csv`` / ``leaderboard.parquet`` (docs/outputs.md, "leaderboard")
LEADERBOARD_COLUMNS = (
    "task",
    "task_version",
    "task_type",
    "metric",
    "entry",
    "kind",
    "mode",
    "n_seeds",
    "mean",
    "sd",
    "ci_low",
    "ci_high",
    "best_baseline",
    "vs_best_baseline",
    "delta",
    "delta_low",
    "delta_high",
    "p_value",
    "control_mean",
    "control_below_chance",
    "vs_random_init_delta",
    "vs_random_init_p",
    "flags",
    "leak_audit",
    "time_s",
    "params",
    "trainable_params",
    "n_truncated",
    "results_dir",
)


def leaderboard_rows(summary: dict) -> list[dict]:
    """One row per scored task and entry (:data:`LEADERBOARD_COLUMNS`), best first within a task."""
    rows = []
    for name, t in summary.get("tasks", {}).items():
        if t.get("status") == "refused":
            continue
        for e in t["entries"]:
            vb = e.get("vs_best_baseline") or {}
            vr = e.get("vs_random_init") or {}
            ctrl = _control(t, e)[0] if e["kind"] == "model" else None
            over = ((e.get("long_input") or {}).get("n_over_context") or {}).values()
            rows.append(
                {
                    "task": name,
                    "task_version": t.get("version"),
                    "task_type": t["task_type"],
                    "metric": t["metric"],
                    "entry": e["name"],
                    "kind": e["kind"],
                    "mode": e["mode"],
                    "n_seeds": len(e.get("seeds", [])),
                    "mean": e["mean"],
                    "sd": e.get("sd"),
                    "ci_low": e.get("ci_low"),
                    "ci_high": e.get("ci_high"),
                    "best_baseline": t.get("best_baseline"),
                    "vs_best_baseline": vb.get("verdict"),
                    "delta": vb.get("difference"),
                    "delta_low": vb.get("low"),
                    "delta_high": vb.get("high"),
                    "p_value": vb.get("p_value"),
                    "control_mean": ctrl["mean"] if ctrl else None,
                    "control_below_chance": ctrl.get("below_chance") if ctrl else None,
                    "vs_random_init_delta": vr.get("difference"),
                    "vs_random_init_p": vr.get("p_value"),
                    "flags": "; ".join(entry_flags(e)),
                    "leak_audit": e.get("audit"),
                    "time_s": e.get("time_s"),
                    "params": e.get("params"),
                    "trainable_params": e.get("trainable_params"),
                    "n_truncated": int(sum(v for v in over if v)),
                    "results_dir": e.get("source"),
                }
            )
    return rows


def write_leaderboard(summary: dict, out_dir: str | Path) -> list[Path]:
    """Write ``leaderboard.csv`` and ``leaderboard.parquet`` into ``out_dir``; returns their paths."""
    import pandas as pd

    out_dir = Path(out_dir)
    rows = leaderboard_rows(summary)
    df = pd.DataFrame(rows, columns=list(LEADERBOARD_COLUMNS))
    buf = io.StringIO()
    df.to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL)
    atomic_write_text(out_dir / "leaderboard.csv", buf.getvalue())
    pq = out_dir / "leaderboard.parquet"
    with atomic_path(pq) as tmp:
        df.to_parquet(tmp, index=False)
    return [out_dir / "leaderboard.csv", pq]


def write_report(
    results: str | Path | list,
    *,
    summary: dict | None = None,
    n_boot: int | None = None,
    out_dir: str | Path | None = None,
    model_cards: bool = True,
) -> ReportFiles:
    """Write ``report.md`` (+ ``report_files/*.svg``), ``report.html``, ``leaderboard.csv`` /
    ``.parquet`` and ``model-cards/<model>/README.md``.

    ``results`` is a bench folder, or a list of them to merge into one report (then ``out_dir``
    is where it goes; default: the single folder itself).  ``summary`` defaults to the folder's
    ``summary.json``, rebuilt from the run files (with ``n_boot`` resamples; default: the bench's
    own, else 1000) when it is missing, when ``n_boot`` is given, or when folders are merged.
    """
    from genolm.errors import InputError

    dirs = [Path(results)] if isinstance(results, (str, Path)) else [Path(d) for d in results]
    if not dirs:
        raise InputError("no results folder given", hint="pass a folder written by `genolm bench`")
    out = Path(out_dir) if out_dir is not None else dirs[0]
    if summary is None:
        for d in dirs:
            if not (d / "runs").is_dir() and not (d / "summary.json").exists():
                raise InputError(
                    f"{d} does not exist"
                    if not d.exists()
                    else f"{d} holds no bench results (no runs/ folder)",
                    hint="run `genolm bench --out DIR` first, then pass that DIR",
                )
        path = dirs[0] / "summary.json"
        if len(dirs) == 1 and path.exists() and n_boot is None:
            summary = json.loads(path.read_text())
        else:
            from genolm.bench.summary import summarise_results

            if n_boot is None:
                meta = dirs[0] / "bench.json"
                n_boot = json.loads(meta.read_text()).get("n_boot", 1000) if meta.exists() else 1000
            summary = summarise_results(dirs if len(dirs) > 1 else dirs[0], n_boot=n_boot)
    if not summary.get("tasks"):
        raise InputError(f"{', '.join(map(str, dirs))}: no completed runs to report")
    out.mkdir(parents=True, exist_ok=True)
    # run paths are relative to their (single) folder, or absolute when merged
    blocks = _blocks(summary, dirs[0])
    figures = []
    for blk in blocks:
        if blk[0] == "img":
            p = out / "report_files" / blk[1]
            atomic_write_bytes(p, blk[2])
            figures.append(p)
    md = out / "report.md"
    atomic_write_text(md, render_markdown(blocks))
    page = out / "report.html"
    atomic_write_text(page, render_html(blocks))
    board = write_leaderboard(summary, out)
    cards = []
    if model_cards:
        from genolm.bench.modelcard import write_model_cards

        cards = write_model_cards(summary, out)
    return ReportFiles(md, page, figures, board, cards)
