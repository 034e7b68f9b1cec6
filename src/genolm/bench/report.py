"""``genolm report``: a bench folder's leaderboard as Markdown and one self-contained HTML file.

The report is built from ``summary.json`` (rebuilt from the run files when missing, so
``genolm report DIR`` always works) and the runs' prediction files (ROC curves).  One list of
blocks (headings, paragraphs, tables, figures) is rendered twice: to ``report.md`` (figures as
PNG files in ``report_files/``) and to ``report.html`` (figures embedded as base64 PNG, no
external file or script).  Plots use matplotlib's Agg backend (no display needed).

Per task it shows every model, random initialisation and baseline with the mean +/- SD over
seeds, the bootstrap 95 % CI of the seed mean, the leak-audit verdict beside every score, the
paired bootstrap against the best baseline, time and parameter count; ROC curves for binary
tasks; and, in words, whenever a genolm model does not beat the k-mer baseline.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from genolm.atomic import atomic_write_bytes, atomic_write_text

COLORS = {"model": "#1f5fa8", "random-init": "#9aa5b1", "baseline": "#2e8b57"}
KIND_LABEL = {"model": "genolm model", "random-init": "random init", "baseline": "baseline"}
METRIC_LABEL = {"mcc": "MCC", "spearman": "Spearman", "pearson": "Pearson", "auroc": "AUROC", "f1": "F1"}
ALPHA = 0.05


class ReportFiles(NamedTuple):
    markdown: Path
    html: Path
    figures: list[Path]


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


# --- figures ------------------------------------------------------------------------------------


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def score_figure(task: dict) -> bytes:
    """Horizontal bars: mean primary metric per entry, bootstrap 95 % CI of the seed mean as error
    bars, one dot per seed; colour by kind (genolm model, random init, baseline)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    ax.set_yticks(y, [_label(e) for e in entries], fontsize=9)
    ax.axvline(0, color="#666", lw=0.8)
    metric = _metric_name(task["metric"])
    ax.set_xlabel(
        f"{metric} on the test set (bar: mean over seeds; line: 95% bootstrap CI; dots: seeds)", fontsize=8
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
    return _png(fig)


def roc_figure(task: dict, out_dir: Path) -> bytes | None:
    """ROC curves (first seed of each entry) for a binary task; None when no scores are readable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    from genolm.bench.records import load_predictions

    fig, ax = plt.subplots(figsize=(5.6, 5.0))
    drawn = 0
    styles = {"model": "-", "random-init": ":", "baseline": "--"}
    cmap = plt.get_cmap("tab10")
    for i, e in enumerate(task["entries"]):
        if not e.get("runs"):
            continue
        path = out_dir / Path(e["runs"][0]).with_suffix(".npz")
        if not path.exists():
            continue
        arr = load_predictions(path)
        classes = arr.get("classes")
        y = np.asarray(arr["y_true"])
        pos = classes[1] if classes is not None and len(classes) == 2 else y.max()
        yb = (y == pos).astype(int)
        s = np.asarray(arr["y_score"], dtype=float)
        if s.ndim != 1 or yb.min() == yb.max():
            continue
        fpr, tpr, _ = roc_curve(yb, s)
        auc = roc_auc_score(yb, s)
        ax.plot(
            fpr, tpr, styles[e["kind"]], color=cmap(i % 10), lw=1.4, label=f"{_label(e)}  AUROC {auc:.3f}"
        )
        drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    ax.plot([0, 1], [0, 1], color="#999", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"{task['task']}: ROC (seed 0 of each entry)", fontsize=10, loc="left")
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    return _png(fig)


# --- findings in words ----------------------------------------------------------------------------


def findings(task: dict) -> list[str]:
    """Sentences about each genolm model: against the k-mer baseline (always said when it loses),
    the best baseline, and its own random initialisation."""
    metric = _metric_name(task["metric"])
    out = []
    for e in task["entries"]:
        if e["kind"] != "model":
            continue
        who = f"**{_label(e)}**"
        k = e.get("vs_kmer")
        if k:
            sig = k["p_value"] is not None and k["p_value"] < ALPHA
            base = k["baseline"]
            nums = (
                f"{metric} {_f(e['mean'])} vs {_f(e['mean'] - k['difference'])}; difference {_signed(k['difference'])}, "
                f"95% CI [{_signed(k['low'])}, {_signed(k['high'])}], paired bootstrap p = {_p(k['p_value'])}"
            )
            if k["difference"] is not None and k["difference"] < 0:
                out.append(
                    f"⚠ {who} loses to the k-mer baseline ({base}){' significantly' if sig else ''}: {nums}. "
                    "A model that does not beat k-mer frequencies has not shown that it learned anything beyond them."
                )
            elif sig:
                out.append(f"{who} beats the k-mer baseline ({base}): {nums}.")
            else:
                out.append(f"{who} does not significantly beat the k-mer baseline ({base}): {nums}.")
        b = e.get("vs_best_baseline")
        if b and k and b["baseline"] != k["baseline"] and b["difference"] is not None and b["difference"] < 0:
            out.append(
                f"{who} is below the best baseline ({b['baseline']}): difference {_signed(b['difference'])}, "
                f"p = {_p(b['p_value'])}."
            )
        r = e.get("vs_random_init")
        if r and r["difference"] is not None:
            if r["p_value"] is not None and r["p_value"] < ALPHA and r["difference"] > 0:
                out.append(
                    f"Pretraining helps {who}: {_signed(r['difference'])} {metric} over the same architecture "
                    f"randomly initialised (p = {_p(r['p_value'])})."
                )
            else:
                out.append(
                    f"Pretraining shows no significant gain for {who} over its random initialisation "
                    f"(difference {_signed(r['difference'])}, p = {_p(r['p_value'])})."
                )
    return out


# --- blocks -> Markdown / HTML --------------------------------------------------------------------


def _blocks(summary: dict, out_dir: Path, with_roc: bool = True) -> list[tuple]:
    tasks = summary.get("tasks", {})
    bench = summary.get("bench", {})
    b: list[tuple] = [("h1", "genolm bench report")]
    meta = [f"Generated {summary.get('generated_at', '')}."]
    if bench:
        seeds = bench.get("seeds")
        per_mode = bench.get("mode_seeds") or {}
        if per_mode:
            seeds = f"{seeds} ({', '.join(f'{m}: {n}' for m, n in per_mode.items())})"
        meta.append(
            f"Models: {', '.join(bench.get('models', [])) or 'none (baselines only)'}; "
            f"modes: {', '.join(bench.get('modes', []))}; seeds: {seeds}; "
            f"leak-audit policy: --fail-on {bench.get('fail_on')}; bootstrap resamples: {bench.get('n_boot')}."
        )
    meta.append(
        "Scores are on each task's test set: mean ± SD over seeds, and a 95% bootstrap CI of the seed mean "
        "(test examples resampled; whole sequences for per-nucleotide tasks). Differences are paired "
        "bootstraps on the same resampled test examples. The leak audit ran on exactly the splits used, "
        "and its verdict stands beside every score. n=1 marks a single run: k-mer models and logistic "
        "probes on a fixed pretrained model are deterministic, so more seeds would repeat the same number"
        + (
            "; modes given fewer seeds above ran once to keep the bench short, so their SD is unknown."
            if bench.get("mode_seeds")
            else "."
        )
    )
    b.append(("p", " ".join(meta)))
    # overview
    rows = []
    for name, t in tasks.items():
        if t.get("status") == "refused":
            rows.append([name, "-", "-", f"**{t.get('audit')}**", "not scored (leak audit)", "-", "-"])
            continue
        models = [e for e in t["entries"] if e["kind"] == "model"]
        bases = [e for e in t["entries"] if e["kind"] == "baseline"]
        bm = models[0] if models else None  # entries are sorted best first
        bb = bases[0] if bases else None
        verdict = "-"
        if bm and bm.get("vs_kmer"):
            d = bm["vs_kmer"]
            if d["difference"] < 0:
                verdict = "loses to k-mer"
            elif d["p_value"] is not None and d["p_value"] < ALPHA:
                verdict = "beats k-mer"
            else:
                verdict = "ties k-mer"
        rows.append(
            [
                name,
                t["task_type"],
                _metric_name(t["metric"]),
                t["audit"],
                f"{_label(bm)}: {_f(bm['mean'])}" if bm else "-",
                f"{_label(bb)}: {_f(bb['mean'])}" if bb else "-",
                verdict,
            ]
        )
    b.append(("h2", "Overview"))
    b.append(
        (
            "table",
            ["task", "type", "metric", "leak audit", "best genolm model", "best baseline", "vs k-mer"],
            rows,
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
        b.append(("img", f"{_file_slug(name)}-scores.png", score_figure(t), f"{name} scores"))
        metric = _metric_name(t["metric"])
        rows = []
        for i, e in enumerate(t["entries"], 1):
            vb = e.get("vs_best_baseline")
            vs = (
                f"{_signed(vb['difference'])} [{_signed(vb['low'])}, {_signed(vb['high'])}], p {_p(vb['p_value'])}"
                if vb
                else "-"
            )
            sd = "" if e.get("sd") is None else f" ± {_f(e['sd'])}"
            rows.append(
                [
                    str(i),
                    _label(e),
                    KIND_LABEL[e["kind"]],
                    f"{_f(e['mean'])}{sd} (n={len(e.get('seeds', []))})",
                    f"[{_f(e['ci_low'])}, {_f(e['ci_high'])}]",
                    e.get("audit") or "-",
                    vs,
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
                    "leak audit",
                    f"Δ vs best baseline ({t.get('best_baseline') or '-'})",
                    "time / run",
                    "params (trainable)",
                ],
                rows,
            )
        )
        words = findings(t)
        if words:
            b.append(("ul", words))
        if with_roc and t["task_type"] == "binary":
            png = roc_figure(t, out_dir)
            if png is not None:
                b.append(("img", f"{_file_slug(name)}-roc.png", png, f"{name} ROC curves"))
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
    return re.sub(r"`(.+?)`", r"<code>\1</code>", s)


_CSS = """
body{font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1d232a}
h1{font-size:1.7em;margin-bottom:.2em} h2{margin-top:2em;border-bottom:1px solid #dde;padding-bottom:.2em}
table{border-collapse:collapse;margin:1em 0;font-size:13px} th,td{border:1px solid #d6dae0;padding:4px 8px;text-align:left}
th{background:#f2f4f7} tr:nth-child(even) td{background:#fafbfc} img{max-width:100%;display:block;margin:1em 0}
li{margin:.3em 0} code{background:#f2f4f7;padding:0 3px}
"""


def render_html(blocks: list[tuple]) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>genolm bench report</title>",
    ]
    out.append(f"<style>{_CSS}</style></head><body>")
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
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "img":
            data = base64.b64encode(blk[2]).decode("ascii")
            out.append(f'<img alt="{html.escape(blk[3])}" src="data:image/png;base64,{data}">')
    out.append("</body></html>")
    return "\n".join(out)


def write_report(
    out_dir: str | Path, *, summary: dict | None = None, n_boot: int | None = None
) -> ReportFiles:
    """Write ``report.md`` (+ ``report_files/*.png``) and ``report.html`` into ``out_dir``.

    ``summary`` defaults to ``summary.json``, rebuilt from the run files (with ``n_boot``
    resamples; default: the bench's own, else 1000) when it is missing or ``n_boot`` is given.
    """
    from genolm.errors import InputError

    out_dir = Path(out_dir)
    if summary is None:
        path = out_dir / "summary.json"
        if not (out_dir / "runs").is_dir() and not path.exists():
            raise InputError(
                f"{out_dir} holds no bench results (no runs/ folder)",
                hint="run `genolm bench --out DIR` first",
            )
        if path.exists() and n_boot is None:
            summary = json.loads(path.read_text())
        else:
            from genolm.bench.summary import summarise_results

            if n_boot is None:
                meta = out_dir / "bench.json"
                n_boot = json.loads(meta.read_text()).get("n_boot", 1000) if meta.exists() else 1000
            summary = summarise_results(out_dir, n_boot=n_boot)
    if not summary.get("tasks"):
        raise InputError(f"{out_dir}: no completed runs to report")
    blocks = _blocks(summary, out_dir)
    figures = []
    for blk in blocks:
        if blk[0] == "img":
            p = out_dir / "report_files" / blk[1]
            atomic_write_bytes(p, blk[2])
            figures.append(p)
    md = out_dir / "report.md"
    atomic_write_text(md, render_markdown(blocks))
    page = out_dir / "report.html"
    atomic_write_text(page, render_html(blocks))
    return ReportFiles(md, page, figures)
