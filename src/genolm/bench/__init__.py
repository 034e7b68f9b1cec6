"""Honest benchmarking: metrics with confidence intervals, the leak audit, and baselines.

``metrics``    :func:`compute_metrics`, :func:`bootstrap_ci`, :func:`summarise_seeds`,
               :func:`paired_bootstrap`, :func:`mcnemar_test`
``audit``      :func:`audit_splits` (-> :class:`AuditReport`), :func:`resplit`
``baselines``  :class:`KmerLogisticRegression`, :class:`KmerRidge`, :class:`OneHotCNN`

Names are re-exported lazily, so ``import genolm.bench`` stays cheap (no scikit-learn or torch
until a name that needs them is used).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "metrics": (
        "PRIMARY_METRIC",
        "TASK_TYPES",
        "MetricCI",
        "MetricDict",
        "McNemarResult",
        "PairedBootstrapResult",
        "SeedSummary",
        "bootstrap_ci",
        "compute_metrics",
        "infer_task_type",
        "mcnemar_test",
        "paired_bootstrap",
        "summarise_seeds",
    ),
    "audit": (
        "AuditReport",
        "AuditThresholds",
        "CheckResult",
        "LeakAuditError",
        "ResplitResult",
        "audit_splits",
        "minhash_signatures",
        "resplit",
    ),
    "baselines": ("KmerFeaturizer", "KmerLogisticRegression", "KmerRidge", "OneHotCNN", "Prediction"),
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"genolm.bench.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genolm.bench' has no attribute '{name}'")


def __dir__():
    return sorted(list(globals()) + __all__)
