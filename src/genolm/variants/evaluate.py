"""Evaluating zero-shot variant scores: AUROC, AUPRC, Spearman and top-k% odds ratios, with CIs.

Two kinds of truth:

``labels`` (binary, e.g. pathogenic vs common, stop-gained vs synonymous)
    AUROC, AUPRC (average precision), Spearman between score and label, and for each ``k`` in
    ``top_k`` the odds ratio of the positive class among the top ``k`` % of scores versus the rest
    (``OR = (pos_top / neg_top) / (pos_rest / neg_rest)``, with 0.5 added to every cell when one is
    0, Haldane's correction).  A top-k set of fewer than ``min_top`` (default 10) variants is not
    reported (its odds ratio would rest on one or two variants; 0.1 % and 1 % of a few hundred
    variants are the same single variant): it is listed in ``VariantEval.hidden`` instead.  ``higher_is_positive`` orients the score: LLR-like scores are
    *lower* for damaging variants (the default), embedding distances *higher*.
``truth`` (continuous, e.g. DMS fitness)
    Spearman and Pearson between the (oriented) score and the truth.

Every metric carries a percentile bootstrap CI over the same kind of resamples as
:func:`genolm.bench.metrics.bootstrap_ci` (which computes AUROC, AUPRC and the correlations).
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from genolm.bench.metrics import MetricCI, bootstrap_ci
from genolm.errors import ConfigError, InputError
from genolm.progress import progress_bar

log = logging.getLogger(__name__)
#: the bootstrap's progress bar appears only once it has run this long (seconds)
PROGRESS_DELAY_S = 2.0

DEFAULT_TOP_K = (0.1, 1.0, 5.0, 10.0)
#: a top-k% odds ratio needs at least this many variants in the top set to be reported
MIN_TOP = 10
#: label values taken as the positive class when ``positive`` is not given
_POSITIVE_GUESSES = ("1", "true", "pathogenic", "stop_gained", "deleterious", "positive", "damaging")


class VariantEval(NamedTuple):
    """Result of :func:`evaluate_scores`.

    ``metrics``: name -> :class:`~genolm.bench.metrics.MetricCI`; ``kind``: ``"binary"`` or
    ``"continuous"``; ``n`` examples used (``n_pos`` / ``n_neg`` for binary); ``direction``:
    ``"lower"`` or ``"higher"`` scores count as positive / high truth; ``hidden``: top-k odds
    ratios left out because their top set holds fewer than ``min_top`` variants (name -> size).
    """

    metrics: dict[str, MetricCI]
    kind: str
    n: int
    n_pos: int
    n_neg: int
    direction: str
    hidden: dict[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        def num(x):
            return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 6)

        return {
            "kind": self.kind,
            "n": self.n,
            "n_pos": self.n_pos,
            "n_neg": self.n_neg,
            "direction": self.direction,
            "metrics": {
                k: {"estimate": num(m.estimate), "low": num(m.low), "high": num(m.high), "level": m.level}
                for k, m in self.metrics.items()
            },
            "n_boot": next(iter(self.metrics.values())).n_boot if self.metrics else 0,
            "hidden_top_k": {k: {"n_top": v} for k, v in (self.hidden or {}).items()},
        }


def odds_ratio_top(y: np.ndarray, s: np.ndarray, pct: float) -> float:
    """Odds ratio of ``y == 1`` in the top ``pct`` % of ``s`` (highest) versus the rest."""
    n = len(s)
    k = max(1, int(math.ceil(n * pct / 100.0)))
    if k >= n:
        return math.nan
    top = np.zeros(n, dtype=bool)
    top[np.argsort(-s, kind="stable")[:k]] = True
    a, b = float(np.sum(y[top])), float(np.sum(~y[top]))
    c, d = float(np.sum(y[~top])), float(np.sum(~y[~top]))
    if min(a, b, c, d) == 0:
        a, b, c, d = a + 0.5, b + 0.5, c + 0.5, d + 0.5  # Haldane's correction
    return (a / b) / (c / d)


def n_top(n: int, pct: float) -> int:
    """How many of ``n`` variants the top ``pct`` % holds (at least 1): ``ceil(n * pct / 100)``."""
    return max(1, int(math.ceil(n * pct / 100.0)))


def _or_cis(y, s, pcts, n_boot, level, seed, bar=None) -> dict[float, MetricCI]:
    """Bootstrap CIs of :func:`odds_ratio_top` for every ``pct`` in ``pcts``, on shared
    resamples (one sort per resample serves every ``pct``)."""
    est = {p: odds_ratio_top(y, s, p) for p in pcts}
    if n_boot == 0 or not pcts:
        return {p: MetricCI(est[p], math.nan, math.nan, level, 0, 0) for p in pcts}
    rng = np.random.default_rng(seed)
    n = len(s)
    ks = {p: n_top(n, p) for p in pcts}
    draws = {p: np.empty(n_boot) for p in pcts}
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        yb = y[idx]
        # the same stable order as odds_ratio_top, so each draw equals odds_ratio_top(y[idx], s[idx])
        pos = np.cumsum(yb[np.argsort(-s[idx], kind="stable")])
        total = pos[-1]
        for p, k in ks.items():
            if k >= n:
                draws[p][b] = math.nan
                continue
            a = float(pos[k - 1])
            bb, c = k - a, float(total) - a
            d = (n - k) - c
            if min(a, bb, c, d) == 0:
                a, bb, c, d = a + 0.5, bb + 0.5, c + 0.5, d + 0.5  # Haldane's correction
            draws[p][b] = (a / bb) / (c / d)
        if bar is not None and (b + 1) % 50 == 0:
            bar.update(50)
    if bar is not None:
        bar.update(n_boot % 50)
    out = {}
    a = (1 - level) / 2
    for p in pcts:
        ok = draws[p][np.isfinite(draws[p])]
        if not ok.size:
            out[p] = MetricCI(est[p], math.nan, math.nan, level, n_boot, n_boot)
            continue
        lo, hi = np.quantile(np.log(ok), [a, 1 - a])
        out[p] = MetricCI(est[p], float(np.exp(lo)), float(np.exp(hi)), level, n_boot, int(n_boot - ok.size))
    return out


def _or_ci(y, s, pct, n_boot, level, seed) -> MetricCI:
    """Bootstrap CI of :func:`odds_ratio_top` for one ``pct``."""
    return _or_cis(y, s, [pct], n_boot, level, seed)[pct]


def _progress_bar(total: int, enabled: bool):
    """A tqdm bar (rate and ETA) for the bootstrap that appears only once it has run 2 s."""
    return progress_bar(total, "bootstrap", unit="resample", delay=PROGRESS_DELAY_S, enabled=enabled)


def evaluate_scores(
    score,
    labels=None,
    truth=None,
    *,
    higher_is_positive: bool = False,
    top_k=DEFAULT_TOP_K,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    min_top: int = MIN_TOP,
    progress: bool = False,
) -> VariantEval:
    """Metrics with bootstrap CIs for one score vector.

    Parameters
    ----------
    score : array, shape=(n,)
        Finite scores (drop NaN rows first).
    labels : array of bool / {0, 1}, shape=(n,), optional
        Binary truth (positive = 1).
    truth : array of float, shape=(n,), optional
        Continuous truth; give exactly one of ``labels`` and ``truth``.
    higher_is_positive : bool
        Higher scores mean positive (labels) / higher truth.  Default is ``False`` (LLR-like).
    top_k : sequence of float
        Percentages for the top-k odds ratios.  Default is 0.1, 1, 5, 10.
    n_boot, level, seed :
        Bootstrap resamples (0: no CIs), CI level and seed.  Defaults 1000, 0.95, 0.
    min_top : int
        A top-k odds ratio whose top set holds fewer variants is left out of ``metrics`` and
        listed in ``hidden``.  Default is :data:`MIN_TOP` (10).
    progress : bool
        Show a progress bar (rate, ETA) over the bootstrap resamples once it has run 2 s.
        Default is ``False``.
    """
    s = np.asarray(score, dtype=np.float64)
    if (labels is None) == (truth is None):
        raise ConfigError("give exactly one of labels and truth")
    if not np.all(np.isfinite(s)):
        raise InputError("scores must be finite (drop unscored rows first)")
    so = s if higher_is_positive else -s
    direction = "higher" if higher_is_positive else "lower"
    boot = max(int(n_boot), 1)
    metrics: dict[str, MetricCI] = {}
    hidden: dict[str, int] = {}
    if labels is not None:
        y = np.asarray(labels).astype(bool)
        if len(y) != len(s):
            raise InputError(f"{len(y)} labels for {len(s)} scores")
        shown = []
        for pct in top_k:
            if not 0 < float(pct) < 100:
                raise ConfigError(f"top_k values are percentages between 0 and 100 (exclusive), got {pct:g}")
            k = n_top(len(s), float(pct))
            if k >= len(s):
                raise ConfigError(
                    f"top_k {pct:g}% of {len(s)} variants is all {len(s)} of them: the odds ratio compares "
                    "the top set with the rest, and there would be no rest; give a smaller percentage"
                )
            if k < min_top:
                hidden[f"odds_ratio_top{pct:g}%"] = k
            else:
                shown.append(float(pct))
        bar = _progress_bar(2 * boot + (int(n_boot) if shown else 0), progress)
        tick = bar.update if bar is not None else None
        ci = bootstrap_ci(
            "binary",
            y.astype(int),
            y_score=so,
            labels=[0, 1],
            metrics=["auroc", "auprc"],
            n_boot=boot,
            level=level,
            seed=seed,
            on_progress=tick,
        )
        metrics.update(ci)
        metrics.update(
            bootstrap_ci(
                "regression",
                y.astype(float),
                y_pred=so,
                metrics=["spearman"],
                n_boot=boot,
                level=level,
                seed=seed,
                on_progress=tick,
            )
        )
        for pct, m in _or_cis(y, so, shown, int(n_boot), level, seed, bar).items():
            metrics[f"odds_ratio_top{pct:g}%"] = m
        if bar is not None:
            bar.close()
        out = VariantEval(metrics, "binary", len(s), int(y.sum()), int((~y).sum()), direction, hidden)
    else:
        t = np.asarray(truth, dtype=np.float64)
        if len(t) != len(s):
            raise InputError(f"{len(t)} truth values for {len(s)} scores")
        bar = _progress_bar(boot, progress)
        metrics.update(
            bootstrap_ci(
                "regression",
                t,
                y_pred=so,
                metrics=["spearman", "pearson"],
                n_boot=boot,
                level=level,
                seed=seed,
                on_progress=bar.update if bar is not None else None,
            )
        )
        if bar is not None:
            bar.close()
        out = VariantEval(metrics, "continuous", len(s), 0, 0, direction)
    if n_boot == 0:
        out = out._replace(
            metrics={k: m._replace(low=math.nan, high=math.nan, n_boot=0) for k, m in out.metrics.items()}
        )
    return out


# --- tables -----------------------------------------------------------------------------------


def load_score_table(path: str | Path):
    """A score table (``.parquet`` / ``.tsv`` / ``.csv`` from ``score-variants``, or a scored VCF,
    one row per ALT with INFO keys as columns) as a ``pandas.DataFrame``."""
    import pandas as pd

    from genolm.io.streams import is_stdio, stdin_file
    from genolm.variants.output import output_format

    if is_stdio(path):  # '-': standard input, spooled; the format is sniffed from the content
        from genolm.io.tables import sniff_table_format

        path = stdin_file()
        fmt = sniff_table_format(path).lstrip(".")
    else:
        path = Path(path)
        if not path.exists():
            raise InputError("no such file", path=str(path))
        fmt = output_format(path)
    if fmt in ("parquet", "tsv", "csv"):
        try:
            if fmt == "parquet":
                return pd.read_parquet(path)
            df = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",")
        except pd.errors.EmptyDataError:
            raise InputError("empty file: no header row", path=str(path)) from None
        except Exception as e:  # pandas / pyarrow / gzip raise several unrelated types
            raise InputError(
                f"cannot read the table ({type(e).__name__}: {e})",
                path=str(path),
                hint="give a CSV / TSV / Parquet table with a header row (a .gz that is whole)",
            ) from None
        df.attrs["first_line"] = 2  # row i is on line i + 2 (line 1: the header)
        return df
    from genolm.io.vcf import read_vcf

    rows, lines = [], []
    for v in read_vcf(path):
        alts = v.alts or (".",)
        for j, alt in enumerate(alts):
            row = {"chrom": v.contig, "pos": v.pos + 1, "id": v.id or "", "ref": v.ref, "alt": alt}
            for k, x in v.info.items():
                if isinstance(x, tuple) and len(x) == len(alts):
                    x = x[j]  # Number=A: this ALT's value
                elif isinstance(x, tuple):
                    x = ",".join(map(str, x))
                row[k] = x
            row["score"] = row.pop("GENOLM_SCORE", None)
            row["status"] = row.pop("GENOLM_STATUS", None)
            row["method"] = row.pop("GENOLM_METHOD", None)
            row["message"] = row.pop("GENOLM_REASON", None)
            rows.append(row)
            lines.append(v.line)
    df = pd.DataFrame(rows)
    df.attrs["lines"] = lines  # the VCF line of each row (one row per ALT)
    if not rows:
        raise InputError("the VCF holds no records: nothing to evaluate", path=str(path))
    df["score"] = _numbers(df, "score", "INFO GENOLM_SCORE", path)
    return df


#: table cells read as a missing score / truth (pandas reads empty, NA, nan, null, ... as NaN itself)
_MISSING = frozenset({"", ".", "na", "nan", "n/a", "none", "null"})


def _numbers(df, col: str, what: str, path) -> np.ndarray:
    """Column ``col`` as floats: missing markers (:data:`_MISSING`) become NaN; any other text is
    an ``InputError`` naming the file, line and ``what`` (the column, as the user knows it)."""
    import pandas as pd

    values = df[col]
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=float)
    num = pd.to_numeric(values, errors="coerce")
    text = values.astype(str).str.strip().str.lower()
    bad = (num.isna() & values.notna() & ~text.isin(_MISSING)).to_numpy()
    if not bad.any():
        return num.to_numpy(dtype=float)
    i = int(np.flatnonzero(bad)[0])
    if "lines" in df.attrs:
        line = df.attrs["lines"][i]
    elif "first_line" in df.attrs:
        line = df.attrs["first_line"] + i
    else:
        line = None
    rid = df["id"].iloc[i] if "id" in df.columns else None
    record = str(rid) if isinstance(rid, str) and rid not in ("", ".") else (None if line else f"row {i + 1}")
    more = f" (and {int(bad.sum()) - 1} more rows)" if bad.sum() > 1 else ""
    raise InputError(
        f"{what} holds {values.iloc[i]!r}, which is not a number{more}",
        path=str(path),
        line=line,
        record=record,
        hint="give a number; leave the cell empty, NA, nan or '.' for a missing value",
    )


def labels_from_column(values, positive: str | None = None) -> np.ndarray:
    """Boolean labels: ``positive`` is a value or a regex matched at the start (``'Pathogenic'``);
    without it, 1 / true / pathogenic / stop_gained / ... count as positive (case-insensitive)."""
    vals = ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in values]
    if positive is not None:
        try:
            pat = re.compile(positive)
        except re.error as e:
            raise ConfigError(
                f"--positive {positive!r} is not a valid regular expression ({e}); escape the characters "
                "( ) [ ] { } . * + ? ^ $ | \\ with a backslash to match them literally"
            ) from None
        return np.array([bool(pat.match(v)) or v == positive for v in vals])
    low = [v.lower() for v in vals]
    uniq = sorted(set(low))
    hit = [u for u in uniq if u in _POSITIVE_GUESSES or u in ("1.0",)]
    if not hit:
        raise ConfigError(
            f"cannot tell the positive class among the label values {uniq[:6]}: pass positive=... (--positive)"
        )
    return np.array([v in hit for v in low])


# --- plots ------------------------------------------------------------------------------------


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _ci_text(m: MetricCI | None) -> str:
    if m is None:
        return ""
    if math.isnan(m.low):
        return f" {m.estimate:.3f}"
    return f" {m.estimate:.3f} [{m.low:.3f}, {m.high:.3f}]"


def plot_binary(
    score,
    labels,
    prefix: str | Path,
    *,
    higher_is_positive: bool = False,
    title: str = "",
    metrics: dict[str, MetricCI] | None = None,
    extra_formats: tuple[str, ...] = ("svg",),
) -> list[Path]:
    """``<prefix>_roc.png``, ``<prefix>_pr.png`` and ``<prefix>_dist.png`` (score histogram per
    class), each also in ``extra_formats`` (default SVG).

    With ``metrics`` (:attr:`VariantEval.metrics`), the legends give AUROC / AUPRC with their
    bootstrap CIs, e.g. ``AUROC 0.812 [0.741, 0.873]``; the PR plot's baseline is the positive
    fraction.
    """
    from sklearn.metrics import precision_recall_curve, roc_curve

    plt = _plt()
    metrics = metrics or {}
    s = np.asarray(score, dtype=float)
    y = np.asarray(labels).astype(bool)
    so = s if higher_is_positive else -s
    orient = "higher" if higher_is_positive else "lower"
    level = next(iter(metrics.values())).level if metrics else 0.95
    paths = []
    fpr, tpr, _ = roc_curve(y, so)
    prec, rec, _ = precision_recall_curve(y, so)
    curves = {
        "roc": (fpr, tpr, "false positive rate", "true positive rate", "AUROC", "chance 0.500"),
        "pr": (rec, prec, "recall", "precision", "AUPRC", f"positive fraction {y.mean():.3f}"),
    }
    for name, (x, yy, xl, yl, metric, base) in curves.items():
        fig, ax = plt.subplots(figsize=(4.8, 4.4))
        ax.plot(x, yy, lw=1.5, label=f"{metric}{_ci_text(metrics.get(metric.lower()))}")
        if name == "roc":
            ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8, label=base)
        else:
            ax.axhline(y.mean(), ls="--", c="grey", lw=0.8, label=base)
        ax.set(xlabel=xl, ylabel=yl, xlim=(0, 1), ylim=(0, 1.02), title=f"{title} {name.upper()}".strip())
        leg_title = f"n = {len(y)} ({int(y.sum())} pos); {orient} score = positive"
        if metrics:
            leg_title += f"\n[{level:.0%} bootstrap CI]"
        ax.legend(loc="lower right" if name == "roc" else "upper right", fontsize=8, title=leg_title,
                  title_fontsize=7, frameon=False)  # fmt: skip
        fig.tight_layout()
        paths.append(_save(fig, f"{prefix}_{name}.png", extra_formats))
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    bins = np.histogram_bin_edges(s, bins=40)
    ax.hist(s[~y], bins=bins, alpha=0.6, density=True, label=f"negative (n={int((~y).sum())})")
    ax.hist(s[y], bins=bins, alpha=0.6, density=True, label=f"positive (n={int(y.sum())})")
    ax.set(xlabel=f"score ({orient} = positive)", ylabel="density", title=f"{title} score by class".strip())
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    paths.append(_save(fig, f"{prefix}_dist.png", extra_formats))
    plt.close(fig)
    return paths


def plot_truth(
    score, truth, prefix: str | Path, *, title: str = "", metrics=None, extra_formats=("svg",)
) -> list[Path]:
    """``<prefix>_scatter.png`` (and SVG): score against continuous truth, Spearman in the legend."""
    plt = _plt()
    metrics = metrics or {}
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    label = f"Spearman{_ci_text(metrics.get('spearman'))}" if "spearman" in metrics else None
    ax.scatter(truth, score, s=6, alpha=0.5, label=label)
    ax.set(xlabel="truth", ylabel="score", title=f"{title} score vs truth".strip())
    if label:
        ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    p = _save(fig, f"{prefix}_scatter.png", extra_formats)
    plt.close(fig)
    return [p]


def _save(fig, path: str, extra_formats=()) -> Path:
    """PNG at ``path`` plus one sibling file per ``extra_formats`` entry (text kept as text in SVG)."""
    import matplotlib

    from genolm.atomic import atomic_path

    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    for ext in extra_formats:
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            with atomic_path(path.with_suffix(f".{ext}"), suffix=f".{ext}") as tmp:
                fig.savefig(tmp, format=ext)
    return path


# --- the file-level entry point ---------------------------------------------------------------


def _markdown(name: str, res: VariantEval, excluded: dict, warnings_: list[str] = ()) -> str:
    lines = [f"# Variant effect evaluation: {name}", ""]
    if res.kind == "binary":
        lines.append(
            f"n = {res.n} ({res.n_pos} positive, {res.n_neg} negative); {res.direction} scores = positive."
        )
    else:
        lines.append(f"n = {res.n}; score orientation: {res.direction}.")
    if excluded:
        lines.append(f"Excluded rows: {', '.join(f'{k}: {v}' for k, v in excluded.items())}.")
    for w in warnings_:
        lines += ["", f"**Warning:** {w}"]
    level = next(iter(res.metrics.values())).level if res.metrics else 0.95
    lines += ["", f"| metric | estimate | {level:.0%} CI |", "|---|---|---|"]
    for k, m in res.metrics.items():
        ci = "n/a" if math.isnan(m.low) else f"[{m.low:.4f}, {m.high:.4f}]"
        lines.append(f"| {k} | {m.estimate:.4f} | {ci} |")
    for k, n_top in (res.hidden or {}).items():
        lines.append(f"| {k} | not shown: top set of {n_top} variant{'s' * (n_top != 1)} (< {MIN_TOP}) | |")
    return "\n".join(lines) + "\n"


def _direction_warnings(res: VariantEval, requested: str) -> list[str]:
    """A sentence when the automatically chosen orientation ranks the classes backwards
    (AUROC < 0.5): the labels, the positive class or the direction is probably wrong."""
    m = res.metrics.get("auroc")
    if requested != "auto" or m is None or not m.estimate < 0.5:
        return []
    other = "higher" if res.direction == "lower" else "lower"
    sig = "" if math.isnan(m.high) else (
        f" (its {m.level:.0%} CI [{m.low:.3f}, {m.high:.3f}] excludes 0.5)" if m.high < 0.5
        else f" (its {m.level:.0%} CI [{m.low:.3f}, {m.high:.3f}] includes 0.5)"
    )  # fmt: skip
    return [
        f"AUROC {m.estimate:.3f} < 0.5 with the automatically chosen direction "
        f"'{res.direction}' ({res.direction} scores = positive){sig}: the scores rank the classes "
        f"the opposite way. Check --positive and --label-col, or pass --direction {other} if the "
        "score is oriented that way."
    ]


def evaluate_file(cfg) -> dict[str, Any]:
    """``genolm eval-variants``: see :class:`genolm.variants.pipeline.EvalVariantsConfig`."""
    from genolm.atomic import atomic_write_json, atomic_write_text

    df = load_score_table(cfg.scores)
    for col in [cfg.score_col, cfg.label_col, cfg.truth_col]:
        if col is not None and col not in df.columns:
            from genolm.registry import did_you_mean

            raise InputError(
                f"no column '{col}'.{did_you_mean(col, list(df.columns))} Columns: {', '.join(map(str, df.columns))}",
                path=str(cfg.scores),
            )
    excluded: dict[str, int] = {}
    keep = np.ones(len(df), dtype=bool)
    if "status" in df.columns:
        st = df["status"].fillna("").astype(str)
        bad = (st != "ok").to_numpy()
        for k, v in st[bad].value_counts().items():
            excluded[str(k) or "no_status"] = int(v)
        keep &= ~bad
    import pandas as pd

    s = _numbers(df, cfg.score_col, f"score column '{cfg.score_col}'", cfg.scores)
    nan = keep & ~np.isfinite(s)
    if nan.any():
        excluded["no_score"] = int(nan.sum())
    keep &= np.isfinite(s)
    truth_col = cfg.truth_col
    if truth_col is not None:
        t = _numbers(df, truth_col, f"truth column '{truth_col}'", cfg.scores)
        miss = keep & ~np.isfinite(t)
        if miss.any():
            excluded["no_truth"] = int(miss.sum())
        keep &= np.isfinite(t)
    else:
        lab = df[cfg.label_col]
        miss = keep & lab.isna().to_numpy()
        if miss.any():
            excluded["no_label"] = int(miss.sum())
        keep &= ~lab.isna().to_numpy()
    if keep.sum() < 2:
        raise InputError(
            f"fewer than 2 scored rows with truth to evaluate ({int(keep.sum())})", path=str(cfg.scores)
        )
    direction = cfg.direction
    if direction == "auto":
        methods = df.loc[keep, "method"].astype(str) if "method" in df.columns else pd.Series([], dtype=str)
        emb = methods.str.startswith("embedding").any()
        direction = "higher" if emb or truth_col is not None else "lower"
    hip = direction == "higher"
    progress = cfg.progress
    top_k = tuple(cfg.top_k) if cfg.top_k else DEFAULT_TOP_K
    score = s[keep]
    if truth_col is not None:
        res = evaluate_scores(
            score, truth=t[keep], higher_is_positive=hip, n_boot=cfg.n_boot, seed=cfg.seed, progress=progress
        )
    else:
        y = labels_from_column(df[cfg.label_col].to_numpy()[keep], cfg.positive)
        if y.all() or not y.any():
            raise InputError(
                f"the labels hold one class only ({int(y.sum())} positive of {len(y)})",
                path=str(cfg.scores),
                hint="check --label-col / --positive",
            )
        res = evaluate_scores(
            score,
            labels=y,
            higher_is_positive=hip,
            top_k=top_k,
            n_boot=cfg.n_boot,
            seed=cfg.seed,
            progress=progress,
        )
    warnings_ = _direction_warnings(res, cfg.direction)
    for w in warnings_:
        log.warning("eval-variants: %s", w)
    src = Path(cfg.scores)
    prefix = Path(cfg.out) if cfg.out else src.with_name(src.name.split(".")[0] + ".eval")
    plots: list[Path] = []
    if cfg.plots:
        if truth_col is not None:
            plots = plot_truth(score, t[keep], prefix, title=src.name, metrics=res.metrics)
        else:
            plots = plot_binary(score, y, prefix, higher_is_positive=hip, title=src.name, metrics=res.metrics)
        plots = [q for p in plots for q in (p, p.with_suffix(".svg"))]
    summary = {
        "scores": str(src),
        "score_col": cfg.score_col,
        "label_col": cfg.label_col,
        "positive": cfg.positive,
        "truth_col": truth_col,
        **res.to_dict(),
        "excluded": excluded,
        "plots": [str(p) for p in plots],
        "warnings": warnings_,
    }
    atomic_write_json(f"{prefix}.json", summary)
    atomic_write_text(f"{prefix}.md", _markdown(src.name, res, excluded, warnings_))
    summary["json"], summary["markdown"] = f"{prefix}.json", f"{prefix}.md"
    return summary
