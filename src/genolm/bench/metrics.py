"""Benchmark metrics, bootstrap confidence intervals, seed summaries and paired tests.

Task types and the arrays each takes (``n`` examples, ``K`` classes, ``L`` labels):

``binary``
    ``y_true`` ``(n,)`` two labels (``{0, 1}`` or any two values; the larger one is the positive
    class unless ``labels`` says otherwise); ``y_pred`` ``(n,)`` labels; ``y_score`` ``(n,)`` score
    of the positive class, or ``(n, 2)`` per-class scores.
``multiclass``
    ``y_true`` ``(n,)``; ``y_pred`` ``(n,)``; ``y_score`` ``(n, K)``, columns in ``labels`` order
    (default: ``0..K-1`` for integer labels).
``multilabel``
    ``y_true`` ``(n, L)`` in ``{0, 1}``; ``y_pred`` ``(n, L)``; ``y_score`` ``(n, L)``.  Every metric
    is reported per label (``"mcc/<label>"``) and as the macro mean over labels (``"mcc"``).
``regression``
    ``y_true`` ``(n,)`` floats; ``y_pred`` ``(n,)`` floats (``y_score`` is accepted instead).

Metrics: classification ``mcc`` (primary), ``f1`` (binary: positive class; multiclass: macro over
the classes present in ``y_true`` or ``y_pred``, as scikit-learn), ``accuracy``, ``auroc`` and
``auprc`` (average precision; multiclass: one-vs-rest macro); regression ``spearman`` (primary),
``pearson``, ``r2``.

Every metric is implemented once, on *weighted* examples, and vectorised over a batch of weight
vectors ``W`` of shape ``(B, n)``: a point estimate is ``W = 1``; a bootstrap resample is the number
of times each example was drawn.  So bootstrap CIs and paired tests use exactly the code that makes
the point estimate, and 1000 resamples cost a few matrix products rather than 1000 sklearn calls.

Undefined values are ``NaN``, never a crash, and :func:`compute_metrics` says why in
``result.reasons`` (for example ``y_true`` holding one class makes MCC and AUROC undefined).
Where this departs from scikit-learn, it is on purpose: sklearn returns ``0.0`` for MCC and F1 and
raises for AUROC when ``y_true`` holds one class; here those are ``NaN`` with a reason, because a
benchmark must not report a number for a quantity that does not exist.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from genolm.constants import PRIMARY_METRIC, TASK_TYPES
from genolm.errors import InputError

#: the task types :func:`compute_metrics` scores directly (token classification is scored by the
#: bench over its labelled nucleotides, flattened, as a binary or multiclass task)
SCORED_TASK_TYPES = tuple(t for t in TASK_TYPES if t != "token_classification")
CLASSIFICATION_METRICS = ("mcc", "f1", "accuracy", "auroc", "auprc")
REGRESSION_METRICS = ("spearman", "pearson", "r2")
#: metrics that need scores (``y_score``) rather than predicted labels.
SCORE_METRICS = ("auroc", "auprc")

# Bootstrap weight matrices are built in chunks of at most this many cells (B_chunk * n).
_CHUNK_CELLS = 2_000_000


class MetricDict(dict):
    """``{metric: float}`` plus ``reasons``: ``{metric: why it is NaN}`` for undefined metrics."""

    def __init__(self, *args, reasons: Mapping[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.reasons: dict[str, str] = dict(reasons or {})


class MetricCI(NamedTuple):
    """A point estimate with a percentile bootstrap confidence interval."""

    estimate: float
    low: float
    high: float
    level: float
    n_boot: int
    #: resamples on which the metric was undefined (left out of the percentiles)
    n_undefined: int

    def __str__(self) -> str:
        return f"{self.estimate:.4f} [{self.low:.4f}, {self.high:.4f}]"


class SeedSummary(NamedTuple):
    """Mean and sample standard deviation (ddof=1) of one metric over seeds."""

    mean: float
    sd: float
    #: number of seeds with a finite value
    n: int
    values: tuple[float, ...]

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.sd:.4f} (n={self.n})"


class PairedBootstrapResult(NamedTuple):
    """Paired bootstrap of ``metric(a) - metric(b)`` on the same test set."""

    metric: str
    estimate_a: float
    estimate_b: float
    difference: float
    low: float
    high: float
    #: two-sided p-value for "no difference" (see :func:`paired_bootstrap`)
    p_value: float
    level: float
    n_boot: int


class McNemarResult(NamedTuple):
    """McNemar's exact test on the discordant pairs of two classifiers."""

    #: examples model ``a`` gets right and ``b`` gets wrong
    a_only: int
    #: examples ``b`` gets right and ``a`` gets wrong
    b_only: int
    p_value: float


# --- input preparation ------------------------------------------------------------------


class _Prepared(NamedTuple):
    task_type: str
    # classification: t (n,) int codes, p (n,) int codes or None, s (n, K) float or None, classes
    # regression: t (n,) float, p (n,) float
    # multilabel: t (n, L) int, p (n, L) or None, s (n, L) or None, classes = label names
    t: np.ndarray
    p: np.ndarray | None
    s: np.ndarray | None
    classes: np.ndarray
    #: one precomputed sort per score column (binary: 1, multiclass: K, multilabel: L)
    sidx: tuple = ()


def _check_task(task_type: str) -> str:
    if task_type not in SCORED_TASK_TYPES:
        from genolm.registry import did_you_mean

        raise InputError(
            f"unknown task type '{task_type}'.{did_you_mean(task_type, SCORED_TASK_TYPES)}",
            hint="choose from " + ", ".join(SCORED_TASK_TYPES),
        )
    return task_type


def infer_task_type(y) -> str:
    """Guess the task type from labels: 2-D 0/1 -> multilabel, non-integer floats -> regression,
    two values -> binary, otherwise multiclass."""
    y = np.asarray(y)
    if y.ndim == 2:
        return "multilabel"
    if y.dtype.kind == "f" and y.size and not np.all(np.isfinite(y) & (y == np.round(y))):
        return "regression"
    return "binary" if len(np.unique(y)) <= 2 else "multiclass"


def _threshold_scores(s: np.ndarray) -> np.ndarray:
    """Labels from 1-D positive-class scores: ``>= 0.5`` if all scores lie in [0, 1]
    (probabilities), else ``>= 0`` (logits / decision values)."""
    s = np.asarray(s, dtype=float)
    thr = 0.5 if (s.size and np.nanmin(s) >= 0.0 and np.nanmax(s) <= 1.0) else 0.0
    return (s >= thr).astype(np.int64)


def _prepare(task_type, y_true, y_pred=None, y_score=None, labels=None) -> _Prepared:
    _check_task(task_type)
    y_true = np.asarray(y_true)
    n = len(y_true)
    if n == 0:
        raise InputError("y_true is empty: no metric can be computed")
    if y_pred is None and y_score is None:
        raise InputError(
            "give y_pred, y_score or both", hint="labels for MCC/F1/accuracy, scores for AUROC/AUPRC"
        )
    for name, arr in (("y_pred", y_pred), ("y_score", y_score)):
        if arr is not None and len(arr) != n:
            raise InputError(f"{name} has {len(arr)} rows but y_true has {n}")

    if task_type == "regression":
        p = np.asarray(y_pred if y_pred is not None else y_score, dtype=float).reshape(n)
        return _Prepared(task_type, y_true.astype(float).reshape(n), p, None, np.empty(0))

    if task_type == "multilabel":
        if y_true.ndim != 2:
            raise InputError(f"multilabel y_true must be 2-D (n, L), got shape {y_true.shape}")
        L = y_true.shape[1]
        s = None if y_score is None else np.asarray(y_score, dtype=float).reshape(n, L)
        if y_pred is not None:
            p = np.asarray(y_pred).astype(np.int64).reshape(n, L)
        else:
            p = np.stack([_threshold_scores(s[:, j]) for j in range(L)], axis=1)
        names = np.asarray([str(x) for x in labels] if labels is not None else [str(j) for j in range(L)])
        t = y_true.astype(np.int64)
        sidx = () if s is None else tuple(_score_index(t[:, j], s[:, j]) for j in range(L))
        return _Prepared(task_type, t, p, s, names, sidx)

    # binary / multiclass
    s = None if y_score is None else np.asarray(y_score, dtype=float)
    if s is not None and s.ndim == 2 and task_type == "binary":
        if s.shape[1] != 2:
            raise InputError(f"binary y_score must be (n,) or (n, 2), got shape {s.shape}")
        s = s[:, 1]
    if s is not None and task_type == "multiclass" and s.ndim != 2:
        raise InputError(f"multiclass y_score must be (n, K), got shape {s.shape}")
    y_pred = None if y_pred is None else np.asarray(y_pred)

    if labels is not None:
        classes = np.asarray(labels)
    elif task_type == "multiclass" and s is not None and y_true.dtype.kind in "iub":
        classes = np.arange(s.shape[1])
    else:
        parts = [y_true] + ([y_pred] if y_pred is not None else [])
        classes = np.unique(np.concatenate(parts))
        if task_type == "binary" and len(classes) < 2:
            # one class seen: {0, 1} (or {False, True}) is the only sensible pair
            classes = np.array([0, 1]) if classes.dtype.kind in "iubf" else classes
    if task_type == "binary" and len(classes) != 2:
        raise InputError(
            f"binary task needs two classes, found {len(classes)}: {classes[:5].tolist()}",
            hint="use task_type='multiclass' or pass labels=[negative, positive]",
        )
    if s is not None and task_type == "multiclass" and s.shape[1] != len(classes):
        raise InputError(
            f"y_score has {s.shape[1]} columns but there are {len(classes)} classes",
            hint="pass labels= in the column order of y_score",
        )

    def encode(y, what):
        code = np.searchsorted(classes, y) if _is_sorted(classes) else _lookup(classes, y)
        code = np.clip(code, 0, len(classes) - 1)
        bad = classes[code] != y
        if bad.any():
            raise InputError(
                f"{what} holds a label not among the classes: {y[bad][0]!r}",
                hint=f"classes are {classes.tolist()[:10]}",
            )
        return code.astype(np.int64)

    t = encode(y_true, "y_true")
    if y_pred is not None:
        p = encode(y_pred, "y_pred")
    elif task_type == "binary":
        p = _threshold_scores(s)
    else:
        p = np.argmax(s, axis=1).astype(np.int64)
    if task_type == "binary" and s is not None:
        s = s.reshape(n, 1)
    sidx = ()
    if s is not None:
        cols = (
            [(t == 1, s[:, 0])] if task_type == "binary" else [(t == k, s[:, k]) for k in range(len(classes))]
        )
        sidx = tuple(_score_index(y.astype(np.int64), c) for y, c in cols)
    return _Prepared(task_type, t, p, s, classes, sidx)


def _is_sorted(a: np.ndarray) -> bool:
    try:
        return bool(np.all(a[:-1] < a[1:]))
    except TypeError:
        return False


def _lookup(classes: np.ndarray, y: np.ndarray) -> np.ndarray:
    pos = {c: i for i, c in enumerate(classes.tolist())}
    return np.array([pos.get(v, 0) for v in y.tolist()], dtype=np.int64)


# --- weighted, batched metric kernels: W (B, n) -> (B,) ----------------------------------


def _safe_div(num, den):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1), np.nan)


def _confusion(W: np.ndarray, t: np.ndarray, p: np.ndarray, K: int) -> np.ndarray:
    """Weighted confusion matrices, shape ``(B, K, K)`` (rows: true, columns: predicted)."""
    onehot = np.zeros((len(t), K * K))
    onehot[np.arange(len(t)), t * K + p] = 1.0
    return (W @ onehot).reshape(-1, K, K)


def _label_metrics(C: np.ndarray, binary: bool) -> dict[str, np.ndarray]:
    total = C.sum(axis=(1, 2))
    correct = np.trace(C, axis1=1, axis2=2)
    tk = C.sum(axis=2)  # true counts per class (B, K)
    pk = C.sum(axis=1)  # predicted counts per class
    # Gorodkin's multiclass MCC (as sklearn); equals the phi coefficient for K = 2.
    cov_tp = correct * total - (tk * pk).sum(1)
    cov_pp = total**2 - (pk**2).sum(1)
    cov_tt = total**2 - (tk**2).sum(1)
    mcc = _safe_div(cov_tp, np.sqrt(cov_tt * cov_pp))
    # a constant predictor has no skill: MCC 0 (as sklearn), but only if y_true has two classes
    one_class = (tk > 0).sum(1) < 2
    mcc = np.where(np.isnan(mcc) & ~one_class, 0.0, mcc)
    mcc = np.where(one_class, np.nan, mcc)
    if binary:
        tp, fp, fn = C[:, 1, 1], C[:, 0, 1], C[:, 1, 0]
        f1 = _safe_div(2 * tp, 2 * tp + fp + fn)
    else:
        present = (tk + pk) > 0
        f1k = _safe_div(2 * np.diagonal(C, axis1=1, axis2=2), tk + pk)
        f1 = _safe_div(np.where(present, f1k, 0.0).sum(1), present.sum(1))
    return {"mcc": mcc, "f1": f1, "accuracy": _safe_div(correct, total)}


class _ScoreIndex(NamedTuple):
    """Precomputed sort of one score column, so that every resample reuses it.

    Positives and negatives are each sorted by score; for every positive (in sorted order)
    ``neg_lo`` / ``neg_hi`` index the negatives scoring below / not above it, ``pos_lo`` the
    positives scoring strictly below it.
    """

    pos_order: np.ndarray
    neg_order: np.ndarray
    neg_lo: np.ndarray
    neg_hi: np.ndarray
    pos_lo: np.ndarray


def _score_index(y: np.ndarray, s: np.ndarray) -> _ScoreIndex:
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y != 1)
    pos = pos[np.argsort(s[pos], kind="stable")]
    neg = neg[np.argsort(s[neg], kind="stable")]
    sp, sn = s[pos], s[neg]
    return _ScoreIndex(
        pos,
        neg,
        np.searchsorted(sn, sp, "left"),
        np.searchsorted(sn, sp, "right"),
        np.searchsorted(sp, sp, "left"),
    )


def _cumsum0(a: np.ndarray) -> np.ndarray:
    """Cumulative sum along axis 1 with a leading column of zeros: ``(B, m) -> (B, m + 1)``."""
    out = np.zeros((a.shape[0], a.shape[1] + 1), dtype=a.dtype)
    np.cumsum(a, axis=1, out=out[:, 1:])
    return out


def _auroc_auprc(W: np.ndarray, si: _ScoreIndex) -> tuple[np.ndarray, np.ndarray]:
    """Binary AUROC (ties count 1/2) and average precision (sklearn's step definition).

    Written per positive example ``i`` (weight ``w_i``):
    ``AUROC = sum_i w_i (N_below(s_i) + N_tied(s_i) / 2) / (P N)`` and
    ``AP = sum_i w_i TP(s_i) / (TP(s_i) + FP(s_i)) / P`` with ``TP``/``FP`` the weight of
    positives / negatives scoring ``>= s_i``, which equals sklearn's sum over thresholds of
    delta-recall times precision.
    """
    Wp, Wn = W[:, si.pos_order], W[:, si.neg_order]
    P, N = Wp.sum(1), Wn.sum(1)
    cn, cp = _cumsum0(Wn), _cumsum0(Wp)
    n_lo, n_hi = cn[:, si.neg_lo], cn[:, si.neg_hi]
    auroc = _safe_div((Wp * (n_lo + 0.5 * (n_hi - n_lo))).sum(1), P * N)
    tp = P[:, None] - cp[:, si.pos_lo]
    fp = N[:, None] - n_lo
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = np.where(tp > 0, tp / np.where(tp > 0, tp + fp, 1), 0.0)
    auprc = _safe_div((Wp * prec).sum(1), P)
    return auroc, auprc


def _weighted_pearson(W: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``x`` and ``y`` (either ``(n,)`` or ``(B, n)``) under weights ``W``."""
    w = W.sum(1, keepdims=True)
    mx = (W * x).sum(1, keepdims=True) / w
    my = (W * y).sum(1, keepdims=True) / w
    dx, dy = x - mx, y - my
    cov = (W * dx * dy).sum(1)
    vx, vy = (W * dx * dx).sum(1), (W * dy * dy).sum(1)
    # relative tolerance: a constant column has vx ~ 1e-30 from rounding, not exactly 0
    tiny = 1e-12 * (np.abs(mx[:, 0]) + np.abs(my[:, 0]) + 1.0) ** 2 * w[:, 0]
    vx = np.where(vx > tiny, vx, 0.0)
    vy = np.where(vy > tiny, vy, 0.0)
    return _safe_div(cov, np.sqrt(vx * vy))


def _weighted_ranks(W: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties averaged) that each example would get in the resample
    described by ``W`` (an example drawn ``w`` times forms a tie of size ``w``); ``(B, n)``."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    new = np.r_[True, xs[1:] != xs[:-1]]
    starts = np.flatnonzero(new)
    group = np.empty(len(x), dtype=np.int64)
    group[order] = np.cumsum(new) - 1
    wg = np.add.reduceat(W[:, order], starts, axis=1)
    rank_g = np.cumsum(wg, axis=1) - wg + (wg + 1.0) / 2.0
    return rank_g[:, group]


def _regression_metrics(W: np.ndarray, t: np.ndarray, p: np.ndarray) -> dict[str, np.ndarray]:
    w = W.sum(1)
    mt = (W @ t) / w
    ss_tot = (W * (t - mt[:, None]) ** 2).sum(1)
    ss_res = W @ (t - p) ** 2
    tiny = 1e-12 * (np.abs(mt) + 1.0) ** 2 * w
    r2 = np.where(ss_tot > tiny, 1.0 - ss_res / np.where(ss_tot > tiny, ss_tot, 1.0), np.nan)
    return {
        "spearman": _weighted_pearson(W, _weighted_ranks(W, t), _weighted_ranks(W, p)),
        "pearson": _weighted_pearson(W, t, p),
        "r2": r2,
    }


def _binary_block(W, t, p, si, want) -> dict[str, np.ndarray]:
    out = {}
    if p is not None and want & {"mcc", "f1", "accuracy"}:
        out.update(_label_metrics(_confusion(W, t, p, 2), binary=True))
    if si is not None and want & {"auroc", "auprc"}:
        out["auroc"], out["auprc"] = _auroc_auprc(W, si)
    return out


def _batched(prep: _Prepared, W: np.ndarray, want: set[str]) -> dict[str, np.ndarray]:
    """All requested metrics for each row of ``W``: ``{name: (B,)}``."""
    tt = prep.task_type
    if tt == "regression":
        return {k: v for k, v in _regression_metrics(W, prep.t, prep.p).items() if k in want}
    if tt == "binary":
        si = prep.sidx[0] if prep.sidx else None
        out = _binary_block(W, prep.t, prep.p, si, want)
        return {k: v for k, v in out.items() if k in want}
    if tt == "multiclass":
        out = {}
        K = len(prep.classes)
        if prep.p is not None and want & {"mcc", "f1", "accuracy"}:
            out.update(_label_metrics(_confusion(W, prep.t, prep.p, K), binary=False))
        if prep.s is not None and want & {"auroc", "auprc"}:
            per = [_auroc_auprc(W, si) for si in prep.sidx]
            with np.errstate(all="ignore"):
                out["auroc"] = _nanmean_rows(np.stack([a for a, _ in per], axis=1))
                out["auprc"] = _nanmean_rows(np.stack([b for _, b in per], axis=1))
        return {k: v for k, v in out.items() if k in want}
    # multilabel: per label, then macro mean over labels with a defined value
    out: dict[str, np.ndarray] = {}
    per_label: dict[str, list[np.ndarray]] = {}
    for j, name in enumerate(prep.classes):
        sj = prep.sidx[j] if prep.sidx else None
        pj = None if prep.p is None else prep.p[:, j]
        for m, v in _binary_block(W, prep.t[:, j], pj, sj, want).items():
            if m in want:
                out[f"{m}/{name}"] = v
                per_label.setdefault(m, []).append(v)
    for m, vs in per_label.items():
        out[m] = _nanmean_rows(np.stack(vs, axis=1))
    return out


def _nanmean_rows(a: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(a)
    cnt = ok.sum(1)
    return np.where(cnt > 0, np.where(ok, a, 0.0).sum(1) / np.maximum(cnt, 1), np.nan)


def _available(prep: _Prepared) -> list[str]:
    if prep.task_type == "regression":
        return list(REGRESSION_METRICS)
    names = [m for m in CLASSIFICATION_METRICS if m not in SCORE_METRICS or prep.s is not None]
    return names


def _want(prep: _Prepared, metrics) -> set[str]:
    avail = _available(prep)
    if metrics is None:
        return set(avail)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    base = {m.split("/")[0] for m in metrics}
    missing = base - set(avail)
    if missing:
        need = " (needs y_score)" if missing & set(SCORE_METRICS) else ""
        raise InputError(
            f"metric(s) {sorted(missing)} not available for this {prep.task_type} input{need}",
            hint="available: " + ", ".join(avail),
        )
    return base


def _reasons(prep: _Prepared, values: Mapping[str, float]) -> dict[str, str]:
    """Why each NaN metric is undefined."""
    out = {}
    for name, v in values.items():
        if not (isinstance(v, float) and math.isnan(v)):
            continue
        m, _, label = name.partition("/")
        if prep.task_type == "regression":
            const = [w for w, a in (("y_true", prep.t), ("y_pred", prep.p)) if np.ptp(a) == 0]
            out[name] = f"{' and '.join(const) or 'input'} is constant: {m} is undefined"
            continue
        if prep.task_type == "multilabel":
            cols = list(prep.classes)
            j = cols.index(label) if label else None
            t = prep.t[:, j] if j is not None else None
        else:
            t = prep.t
        if t is None:
            out[name] = f"{m} is undefined for every label (see the per-label reasons)"
        elif len(np.unique(t)) < 2 and m != "f1":
            out[name] = (
                f"y_true holds a single class ({prep.classes[t[0]] if prep.task_type != 'multilabel' else t[0]}): {m} is undefined"
            )
        elif m == "f1":
            out[name] = "no positive examples in y_true or y_pred: F1 is undefined"
        elif m in ("auroc", "auprc") and prep.task_type == "multiclass":
            out[name] = "no class has both positive and negative examples: one-vs-rest AUROC is undefined"
        else:
            out[name] = f"{m} is undefined for this input"
    return out


# --- public API -------------------------------------------------------------------------


def compute_metrics(
    task_type: str, y_true, y_pred=None, y_score=None, *, labels=None, metrics=None
) -> MetricDict:
    """Every metric of ``task_type`` the inputs allow, as ``{name: float}``.

    Parameters
    ----------
    task_type : str
        ``"binary"``, ``"multiclass"``, ``"multilabel"`` or ``"regression"``.
    y_true : array, shape=(n,) or (n, L)
    y_pred : array, shape=(n,) or (n, L), optional
        Predicted labels (classification) or values (regression).  When omitted for a
        classification task it is derived from ``y_score``: argmax for per-class scores, and for
        1-D positive-class scores ``>= 0.5`` if every score lies in [0, 1], else ``>= 0``.
    y_score : array, shape=(n,), (n, K) or (n, L), optional
        Scores / probabilities, needed for ``auroc`` and ``auprc``.
    labels : sequence, optional
        Class labels in ``y_score`` column order (multiclass), ``[negative, positive]`` (binary) or
        label names (multilabel).  Default is inferred (see the module docstring).
    metrics : str or list of str, optional
        Restrict to these metrics.  Default is all that the inputs allow.

    Returns
    -------
    MetricDict
        A ``dict`` of floats (``NaN`` where undefined) with ``.reasons`` explaining each ``NaN``.
    """
    prep = _prepare(task_type, y_true, y_pred, y_score, labels)
    want = _want(prep, metrics)
    W = np.ones((1, len(prep.t)))
    vals = {k: float(v[0]) for k, v in _batched(prep, W, want).items()}
    order = list(CLASSIFICATION_METRICS + REGRESSION_METRICS)
    keys = sorted(vals, key=lambda k: (order.index(k.split("/")[0]), "/" in k, k))
    vals = {k: vals[k] for k in keys}
    return MetricDict(vals, reasons=_reasons(prep, vals))


def _bootstrap_weights(n: int, n_boot: int, rng: np.random.Generator):
    """Yield ``(B_chunk, n)`` float matrices of resample counts (each row sums to ``n``)."""
    chunk = max(1, min(n_boot, _CHUNK_CELLS // max(n, 1)))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float32)
        done += b


def _percentile_ci(est: float, draws: np.ndarray, level: float, n_boot: int) -> MetricCI:
    ok = draws[~np.isnan(draws)]
    a = (1.0 - level) / 2.0
    if ok.size == 0:
        return MetricCI(est, math.nan, math.nan, level, n_boot, n_boot)
    lo, hi = np.quantile(ok, [a, 1.0 - a])
    return MetricCI(est, float(lo), float(hi), level, n_boot, int(n_boot - ok.size))


def bootstrap_ci(
    task_type: str,
    y_true,
    y_pred=None,
    y_score=None,
    *,
    labels=None,
    metrics=None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    on_progress: Callable[[int], Any] | None = None,
) -> dict[str, MetricCI]:
    """Percentile bootstrap confidence intervals for every metric of :func:`compute_metrics`.

    All metrics share the same ``n_boot`` resamples of the examples (rows), drawn from
    ``numpy.random.default_rng(seed)``.  Resamples on which a metric is undefined (for example
    one class only) are left out of its percentiles and counted in ``n_undefined``.
    Default is ``n_boot=1000``, ``level=0.95``, ``seed=0``.  ``on_progress``, when given, is
    called with the number of resamples done after each chunk (e.g. a tqdm bar's ``update``).
    """
    if not 0.0 < level < 1.0:
        raise InputError(f"level must be in (0, 1), got {level}")
    prep = _prepare(task_type, y_true, y_pred, y_score, labels)
    want = _want(prep, metrics)
    point = compute_metrics(task_type, y_true, y_pred, y_score, labels=labels, metrics=metrics)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[np.ndarray]] = {}
    for W in _bootstrap_weights(len(prep.t), n_boot, rng):
        for k, v in _batched(prep, W, want).items():
            draws.setdefault(k, []).append(v)
        if on_progress is not None:
            on_progress(len(W))
    return {k: _percentile_ci(point[k], np.concatenate(draws[k]), level, n_boot) for k in point}


def summarise_seeds(results: Sequence[Mapping[str, float]]) -> dict[str, SeedSummary]:
    """Mean ± sample SD (ddof=1) of each metric over runs with different seeds.

    ``results`` is one ``{metric: value}`` dict per seed (values may also be :class:`MetricCI`,
    whose ``estimate`` is used).  Non-finite values are left out and ``n`` counts the rest; the SD
    of a single value is ``NaN``, not 0, since one seed says nothing about seed variance.
    """
    names: list[str] = []
    for r in results:
        names += [k for k in r if k not in names]
    out = {}
    for name in names:
        vals = []
        for r in results:
            v = r.get(name)
            v = v.estimate if isinstance(v, MetricCI) else v
            if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool):
                vals.append(float(v))
        finite = [v for v in vals if math.isfinite(v)]
        mean = float(np.mean(finite)) if finite else math.nan
        sd = float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan
        out[name] = SeedSummary(mean, sd, len(finite), tuple(vals))
    return out


def paired_bootstrap(
    task_type: str,
    y_true,
    *,
    pred_a=None,
    pred_b=None,
    score_a=None,
    score_b=None,
    labels=None,
    metric: str | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> PairedBootstrapResult:
    """Paired bootstrap of ``metric(a) - metric(b)`` for two models scored on the same examples.

    Both models are evaluated on the same resampled rows, so the interval reflects the
    difference, not two independent intervals.  The p-value is two-sided and inverts the
    percentile interval: ``p = min(1, 2 * (min(#{d* <= 0}, #{d* >= 0}) + 1) / (n_valid + 1))``
    (the ``+1`` keeps it away from an impossible 0).  Default metric is the task's primary metric.
    """
    metric = metric or PRIMARY_METRIC[_check_task(task_type)]
    if (pred_a is None and score_a is None) or (pred_b is None and score_b is None):
        raise InputError("paired_bootstrap needs pred_* or score_* for both models a and b")
    pa = _prepare(task_type, y_true, pred_a, score_a, labels)
    pb = _prepare(task_type, y_true, pred_b, score_b, labels)
    want_a, want_b = _want(pa, [metric]), _want(pb, [metric])
    ea = compute_metrics(task_type, y_true, pred_a, score_a, labels=labels, metrics=[metric])[metric]
    eb = compute_metrics(task_type, y_true, pred_b, score_b, labels=labels, metrics=[metric])[metric]
    rng = np.random.default_rng(seed)
    diffs = []
    for W in _bootstrap_weights(len(pa.t), n_boot, rng):
        diffs.append(_batched(pa, W, want_a)[metric] - _batched(pb, W, want_b)[metric])
    d = np.concatenate(diffs)
    ci = _percentile_ci(ea - eb, d, level, n_boot)
    ok = d[~np.isnan(d)]
    if ok.size == 0:
        p = math.nan
    else:
        tail = min(int((ok <= 0).sum()), int((ok >= 0).sum()))
        p = min(1.0, 2.0 * (tail + 1) / (ok.size + 1))
    return PairedBootstrapResult(metric, ea, eb, ea - eb, ci.low, ci.high, p, level, n_boot)


def mcnemar_test(y_true, pred_a, pred_b) -> McNemarResult:
    """McNemar's exact (binomial) test that two classifiers have the same accuracy.

    Uses only the discordant examples: ``b`` = a right & b wrong, ``c`` = a wrong & b right;
    ``p = min(1, 2 * BinomCDF(min(b, c); b + c, 1/2))``, and ``p = 1`` when there are none.
    Works for any number of classes (correct = label equals ``y_true``).
    """
    from scipy.stats import binom

    y_true, pred_a, pred_b = (np.asarray(a) for a in (y_true, pred_a, pred_b))
    if y_true.ndim != 1 or pred_a.shape != y_true.shape or pred_b.shape != y_true.shape:
        raise InputError(
            f"mcnemar_test needs three 1-D arrays of equal length, got {y_true.shape}, {pred_a.shape}, {pred_b.shape}"
        )
    ra, rb = pred_a == y_true, pred_b == y_true
    b, c = int((ra & ~rb).sum()), int((~ra & rb).sum())
    p = 1.0 if b + c == 0 else min(1.0, 2.0 * float(binom.cdf(min(b, c), b + c, 0.5)))
    return McNemarResult(b, c, p)
