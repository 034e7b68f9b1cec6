"""Tokenizer schemes by name: ``"kmer6"``, ``"kmer:k=4"``, ``"bpe:vocab_size=1024"``.

``parse_scheme(spec) -> (label, registry name, kwargs)`` reads a scheme spec (a label of
:data:`DEFAULT_SCHEMES`, or ``name:key=value,...``); ``build_scheme(name, kwargs)`` instantiates
it, training BPE on the given files.  ``genolm tokenize`` and ``genolm pretrain`` use both.
"""

from __future__ import annotations

#: schemes in the default comparison table, as ``(label, registry name, kwargs)``
DEFAULT_SCHEMES: tuple[tuple[str, str, dict], ...] = (
    ("char", "char", {}),
    ("iupac", "iupac", {}),
    ("kmer3", "kmer", {"k": 3}),
    ("kmer6", "kmer", {"k": 6}),
    ("nt6", "nt6", {}),
    ("codon", "codon", {}),
    ("bpe", "bpe", {"vocab_size": 4096}),
)


def build_scheme(name: str, kwargs: dict, *, train_files: list[str] | None = None):
    """Instantiate a scheme; BPE is trained on ``train_files`` (the genome being compared)."""
    from genolm.tokenizers import get_tokenizer

    if name == "bpe" and "tokenizer_file" not in kwargs:
        from genolm.tokenizers.bpe import BPETrainConfig, train_bpe

        if not train_files:
            raise ValueError("BPE needs FASTA files to learn its merges from")
        return train_bpe(BPETrainConfig(files=list(train_files), **kwargs))
    return get_tokenizer(name, **kwargs)


def parse_scheme(spec: str) -> tuple[str, str, dict]:
    """``"kmer6"`` / ``"kmer:k=4"`` / ``"bpe:vocab_size=1024"`` -> ``(label, name, kwargs)``."""
    for label, name, kw in DEFAULT_SCHEMES:
        if spec == label:
            return label, name, dict(kw)
    name, _, rest = spec.partition(":")
    kwargs: dict = {}
    for item in filter(None, rest.split(",")):
        key, _, val = item.partition("=")
        kwargs[key] = int(val) if val.lstrip("-").isdigit() else val
    if name.startswith("kmer") and name[4:].isdigit():
        kwargs.setdefault("k", int(name[4:]))
        name = "kmer"
    return spec, name, kwargs
