"""File-to-file entry points behind the CLI verbs: one config dataclass and one function each.

``score_vcf(ScoreVariantsConfig)``      ``genolm score-variants``
``eval_variants(EvalVariantsConfig)``   ``genolm eval-variants``
``make_vep_set(MakeVepSetConfig)``      ``genolm make-vep-set``
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genolm.errors import ConfigError
from genolm.registry import check_choice

log = logging.getLogger(__name__)


# --- score-variants ---------------------------------------------------------------------------


@dataclass
class ScoreVariantsConfig:
    """Settings of ``genolm score-variants`` (see :func:`genolm.variants.score_variants`)."""

    genome: str  # FASTA (plain, bgzip, gzip), GenBank, or bundled:NAME
    vcf: str  # VCF / BCF / header-less variant list
    out: str  # .vcf[.gz] / .bcf / .parquet / .tsv / .csv
    model: str = "genolm-tiny"  # model folder, bundled model, catalogue name or Hub id
    trust_remote_code: bool = False  # run code shipped in the model repository
    method: str = "auto"
    window: int | None = None  # default: the model's training window, else 256
    batch_size: int = 64
    flank: int = 0
    add_special_tokens: bool = True
    device: str | None = None
    progress: bool = True
    precision: str = "fp32"  # fp32 | bf16 | auto

    def __post_init__(self):
        from genolm.constants import PRECISIONS
        from genolm.variants.output import output_format
        from genolm.variants.scoring import METHODS

        check_choice("method", self.method, METHODS)
        check_choice("precision", self.precision, PRECISIONS)
        output_format(self.out)
        if self.window is not None and int(self.window) < 1:
            raise ConfigError(f"window must be positive, got {self.window}")
        if int(self.batch_size) < 1:
            raise ConfigError(f"batch_size must be positive, got {self.batch_size}")
        if int(self.flank) < 0:
            raise ConfigError(f"flank must be >= 0, got {self.flank}")


def _has_header(path: str | Path) -> bool:
    from genolm.io.fasta import open_binary

    with open_binary(path) as fh:
        return fh.read(16).startswith((b"##fileformat", b"BCF\x02", b"BCF\x04"))


def score_vcf(cfg: ScoreVariantsConfig) -> dict[str, Any]:
    """Score every record of ``cfg.vcf`` against ``cfg.genome`` and write ``cfg.out``; returns a summary."""
    from genolm.catalogue import load
    from genolm.data import resolve_path
    from genolm.infer import resolve_precision
    from genolm.io.genome import Genome
    from genolm.io.vcf import read_vcf
    from genolm.variants.output import write_scores
    from genolm.variants.scoring import DEFAULT_WINDOW, score_variants

    vcf = resolve_path(cfg.vcf)
    lm = load(cfg.model, trust_remote_code=cfg.trust_remote_code)
    lm.require_log_probs("score-variants")
    window = cfg.window or lm.window or DEFAULT_WINDOW
    records = list(read_vcf(vcf))
    if not records:  # not an error (a region may hold no variants), but never a quiet empty output
        # the output is not named: for `--out -` it is a temporary file the user never sees
        log.warning("score-variants: %s holds 0 variant records: the output will hold no scores", vcf)
    t0 = time.perf_counter()
    with Genome.open(cfg.genome) as genome:
        scores = score_variants(
            lm.model,
            lm.tokenizer,
            genome,
            records,
            method=cfg.method,
            window=window,
            batch_size=cfg.batch_size,
            flank=cfg.flank,
            add_special_tokens=cfg.add_special_tokens,
            device=cfg.device,
            progress=cfg.progress,
            precision=cfg.precision,
        )
    seconds = time.perf_counter() - t0
    status = Counter(scores.status)
    not_scored = len(scores.variants) - scores.n_scored
    if not_scored:
        log.warning(
            "score-variants: %d of %d rows not scored (score NaN; the 'status' / 'message' columns say why): %s",
            not_scored,
            len(scores.variants),
            ", ".join(f"{k} {v}" for k, v in status.items() if k != "ok"),
        )
    write_scores(cfg.out, scores, records, header_from=vcf if _has_header(vcf) else None)
    return {
        "out": str(cfg.out),
        "model": lm.name,
        "method": cfg.method,
        "precision": resolve_precision(cfg.precision, cfg.device),  # what ran (auto resolved)
        "window": window,
        "records": len(records),
        "rows": len(scores.variants),
        "scored": scores.n_scored,
        "status": dict(status),
        "seconds": round(seconds, 3),
        "variants_per_s": round(scores.n_scored / seconds, 2) if seconds > 0 else None,
    }


# --- eval-variants ----------------------------------------------------------------------------


@dataclass
class EvalVariantsConfig:
    """Settings of ``genolm eval-variants`` (see :func:`genolm.variants.evaluate_scores`)."""

    scores: str  # a score-variants output (.parquet / .tsv / .csv / .vcf)
    label_col: str | None = None  # binary labels (column or INFO key; 'id' works)
    positive: str | None = None  # the positive class: a value, or a regex matched at the start
    truth_col: str | None = None  # continuous truth (DMS) instead of labels
    score_col: str = "score"
    direction: str = "auto"  # which scores mean "positive / damaging": auto | lower | higher
    top_k: list[float] | None = None  # percentages for the odds ratio (default 0.1 1 5 10)
    n_boot: int = 1000
    seed: int = 0
    out: str | None = None  # output prefix (default: beside SCORES, '<stem>.eval')
    plots: bool = True
    progress: bool = True  # a bar (rate, ETA) over the bootstrap once it has run 2 s

    def __post_init__(self):
        check_choice("direction", self.direction, ("auto", "lower", "higher"))
        if (self.label_col is None) == (self.truth_col is None):
            raise ConfigError("give exactly one of label_col (binary labels) or truth_col (continuous truth)")
        if int(self.n_boot) < 0:
            raise ConfigError(f"n_boot must be >= 0, got {self.n_boot}")
        for pct in self.top_k or ():
            try:
                ok = 0 < float(pct) < 100
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ConfigError(
                    f"top_k (--top-k) values are percentages between 0 and 100 (exclusive), got {pct!r}"
                )


def eval_variants(cfg: EvalVariantsConfig) -> dict[str, Any]:
    """Evaluate a score table; writes ``<out>.json``, ``<out>.md`` and PNG + SVG plots; returns the summary."""
    from genolm.variants.evaluate import evaluate_file

    return evaluate_file(cfg)


# --- make-vep-set -----------------------------------------------------------------------------


@dataclass
class MakeVepSetConfig:
    """Settings of ``genolm make-vep-set`` (see :func:`genolm.variants.make_coding_vep_set`)."""

    annotation: str  # GenBank (with sequence), GFF3, or bundled:chloroplast
    out: str  # .vcf / .vcf.gz
    genome: str | None = None  # FASTA, needed with a GFF3
    per_class: int | None = 1000  # variants per class (None / 0: all)
    seed: int = 0

    def __post_init__(self):
        if self.per_class is not None and int(self.per_class) < 0:
            raise ConfigError(f"per_class must be >= 0, got {self.per_class}")


def make_vep_set(cfg: MakeVepSetConfig) -> dict[str, Any]:
    """Write a labelled coding variant set (synonymous = 0 vs stop-gained = 1 SNVs, ``LABEL`` in
    INFO) from ``cfg.annotation`` to the VCF ``cfg.out``; return what was written and counted
    (``genolm make-vep-set``)."""
    from genolm.variants.devset import make_coding_vep_set, write_vep_set

    vs = make_coding_vep_set(cfg.annotation, cfg.genome, per_class=cfg.per_class or None, seed=cfg.seed)
    write_vep_set(cfg.out, vs)
    return {"out": str(cfg.out), **vs.summary}
