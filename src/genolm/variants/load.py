"""Opening what variant scoring needs: a genome from any file genolm reads, and a language model.

``open_genome(spec)``
    ``bundled:NAME`` (a genome shipped with genolm), an indexable FASTA (plain / bgzip, indexed on
    first use), a plain-gzip / bzip2 / xz FASTA (loaded into memory), or a GenBank file (its
    sequences, in memory).
``load_lm(spec)``
    ``LoadedLM(model, tokenizer, name, path, objective, window)`` from a ``save_pretrained``
    folder or a bundled model name (default ``genolm-tiny``).  ``window`` is the training window
    read from the folder's ``pretrain.yaml`` / ``config.yaml`` when there is one, else ``None``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from genolm.data import resolve_path
from genolm.errors import InputError
from genolm.io.genbank import is_genbank
from genolm.io.genome import Genome


def open_genome(spec: str | Path, *, in_memory: bool | None = None) -> Genome:
    """A :class:`~genolm.io.Genome` from FASTA (any compression), GenBank, or ``bundled:NAME``.

    ``in_memory`` default: only for files that cannot be indexed (plain gzip, bzip2, xz, GenBank).
    """
    from genolm.io.fasta import sniff_compression

    path = resolve_path(spec)
    if is_genbank(path):
        from genolm.io.genbank import read_genbank

        return Genome.from_sequences({r.name: r.seq for r in read_genbank(path)}, name=str(path))
    if in_memory is None:
        in_memory = sniff_compression(path) in ("gzip", "bz2", "xz", "zstd")
    return Genome(path, in_memory=in_memory)


class LoadedLM(NamedTuple):
    model: Any
    tokenizer: Any
    name: str
    path: Path
    objective: str  # "mlm" | "clm"
    window: int | None  # training window (bases) when the folder records it


def _training_window(folder: Path) -> int | None:
    import yaml

    for name in ("pretrain.yaml", "config.yaml"):
        f = folder / name
        if f.is_file():
            try:
                data = yaml.safe_load(f.read_text()) or {}
            except yaml.YAMLError:
                continue
            if isinstance(data, dict) and isinstance(data.get("window"), int):
                return int(data["window"])
    return None


def load_lm(spec: str | Path | None = None, *, trust_remote_code: bool = False) -> LoadedLM:
    """Load a masked or causal LM and its tokenizer (``model.eval()``).

    ``spec``: a model folder, ``genolm-tiny``, a catalogue name or a Hub id; published checkpoints
    go through :func:`genolm.load` (genolm's tokenizer for their vocabulary, remote code only with
    ``trust_remote_code=True``).
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    from genolm.catalogue.loader import detect_family, load, resolve

    spec = str(spec or "genolm-tiny")
    entry, folder, _ = resolve(spec)
    if (entry.family if entry is not None else detect_family(folder)) != "genolm":
        lm = load(spec, trust_remote_code=trust_remote_code)
        if lm.objective not in ("mlm", "clm"):
            raise InputError(f"'{lm.name}' is not a masked or causal LM ({lm.objective})")
        return LoadedLM(lm.model, lm.tokenizer, lm.name, lm.folder, lm.objective, None)

    import genolm.models  # noqa: F401  (registers the families with the Auto classes)
    import genolm.tokenizers  # noqa: F401
    from genolm.errors import ConfigError
    from genolm.models import family_of

    name = entry.name if entry is not None else Path(folder).name
    config = AutoConfig.from_pretrained(str(folder))
    try:
        objective = family_of(config).objective
    except ConfigError:
        archs = " ".join(getattr(config, "architectures", None) or [])
        objective = "clm" if "CausalLM" in archs or getattr(config, "is_decoder", False) else "mlm"
    cls = AutoModelForCausalLM if objective == "clm" else AutoModelForMaskedLM
    model = cls.from_pretrained(str(folder))
    model.eval()
    tok = AutoTokenizer.from_pretrained(str(folder))
    return LoadedLM(model, tok, name, folder, objective, _training_window(folder))
