"""Zero-shot variant effect prediction: one scorer for every model, tokenizer and objective.

=====================  ===========================================================================
module                 what
=====================  ===========================================================================
:mod:`.scoring`        ``score_variants(model, tokenizer, genome, variants, *, method, window,
                       batch_size, ...) -> VariantScores``: masked-marginal LLR (MLM), PLL over
                       the variant span (MLM indels / re-tokenizing alleles), CLM likelihood
                       ratio, embedding distance; both strands averaged
:mod:`.output`         ``write_scores(path, scores, records)``: VCF (INFO ``GENOLM_*``), Parquet,
                       TSV / CSV, chosen by extension; atomic
:mod:`.evaluate`       ``evaluate_scores(score, labels | truth)``: AUROC, AUPRC, Spearman, top-k%
                       odds ratios with bootstrap CIs; ROC / PR / distribution plots
:mod:`.devset`         ``make_coding_vep_set(annotation)``: synonymous vs stop-gained SNVs from a
                       GenBank or FASTA + GFF3 genome, as a labelled VCF
:mod:`.ism`            ``ism(model, tokenizer, sequence | genome + region)``: in-silico saturation
                       mutagenesis, built on :func:`score_variants`; plots
:mod:`.pipeline`       the config dataclasses and file-to-file functions behind the CLI verbs
=====================  ===========================================================================

Models come from :func:`genolm.load`, genomes from :meth:`genolm.io.Genome.open`; the forward
passes run through :mod:`genolm.infer`.

Example::

    import genolm
    from genolm.variants import score_variants
    lm = genolm.load()                               # the bundled genolm-tiny
    res = score_variants(lm.model, lm.tokenizer, "ref.fa", "in.vcf", window=256)
    res.to_frame().head()
"""

from __future__ import annotations

import importlib

# names -> submodule, loaded on first use: `import genolm.variants` stays free of torch / pandas
_EXPORTS = {
    "scoring": [
        "DEFAULT_WINDOW", "METHODS", "STATUSES", "VariantScores", "as_genome", "model_objective",
        "score_variants",
    ],
    "output": ["INFO_FIELDS", "annotate_records", "output_format", "write_scores"],
    "evaluate": [
        "VariantEval", "evaluate_scores", "labels_from_column", "load_score_table", "odds_ratio_top",
        "plot_binary", "plot_truth",
    ],
    "devset": ["VepSet", "coding_snvs", "make_coding_vep_set", "write_vep_set"],
    "pipeline": [
        "EvalVariantsConfig", "MakeVepSetConfig", "ScoreVariantsConfig", "eval_variants", "make_vep_set",
        "score_vcf",
    ],
}  # fmt: skip
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"genolm.variants.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genolm.variants' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
