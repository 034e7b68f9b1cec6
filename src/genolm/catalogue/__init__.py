"""The published model catalogue and the one loader: ``genolm.load(name_or_path)``.

``CATALOGUE`` (``genolm ls models``) lists published genomic LMs with their Hub id and revision,
family, tokenizer, objective, context, size, licence, pretraining data, pooling, LoRA targets (or
why not), and whether they need remote code, a package or a GPU.  :func:`load` turns a catalogue
name, a Hub id or a folder into a :class:`GenomicLM` with ``tokenize`` (nucleotide offsets),
``embed``, ``log_probs`` (per-position A/C/G/T), ``score_variants`` and ``for_classification``::

    import genolm
    lm = genolm.load("dnabert-6")                 # pinned revision; offline: the local cache
    lm = genolm.load("runs/my-model/final")       # a save_pretrained folder
    x = lm.embed(["ACGT" * 50])                    # (1, H)
    lp = lm.log_probs("ACGTTGCA" * 8)              # (64, 4) log p(A, C, G, T) at each base

:mod:`genolm.catalogue.fixtures` builds tiny checkpoints in each published format (tests,
notebooks).  :mod:`genolm.models.caduceus` is a pure-PyTorch Caduceus that reads the published
checkpoints on CPU without ``mamba-ssm``.
"""

from __future__ import annotations

from genolm.catalogue.entry import CATALOGUE, CatalogueEntry, find_entry, get_entry, read_catalogue_file
from genolm.catalogue.loader import ADAPTERS, GenomicLM, TokenBatch, detect_family, load

__all__ = [
    "ADAPTERS",
    "CATALOGUE",
    "CatalogueEntry",
    "GenomicLM",
    "TokenBatch",
    "detect_family",
    "find_entry",
    "get_entry",
    "load",
    "read_catalogue_file",
]
