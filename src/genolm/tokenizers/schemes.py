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
    from genolm.errors import ConfigError
    from genolm.tokenizers import get_tokenizer

    if name == "bpe" and "tokenizer_file" not in kwargs:
        from genolm.tokenizers.bpe import BPETrainConfig, train_bpe

        if not train_files:
            raise ConfigError("BPE needs FASTA files to learn its merges from (or bpe:tokenizer_file=PATH)")
        return train_bpe(BPETrainConfig(files=list(train_files), **kwargs))
    return get_tokenizer(name, **kwargs)


def scheme_options(name: str, kwargs: dict | None = None) -> list[str]:
    """The keys a ``name:key=value,...`` spec may set (constructor parameters and special tokens;
    for BPE without ``tokenizer_file``, the :class:`~genolm.tokenizers.bpe.BPETrainConfig` fields)."""
    import dataclasses
    import functools
    import inspect

    from genolm.tokenizers import TOKENIZERS
    from genolm.tokenizers.base import SPECIAL_ATTRS
    from genolm.tokenizers.bpe import BPETokenizer, BPETrainConfig

    name = TOKENIZERS.canonical(name)
    if name == "bpe" and "tokenizer_file" not in (kwargs or {}):
        keys = {f.name for f in dataclasses.fields(BPETrainConfig)} - {"files", "special_tokens"}
        return sorted(keys | {"tokenizer_file"})
    obj = TOKENIZERS.get(name)
    funcs = []
    if isinstance(obj, functools.partial):
        obj = obj.func
    if not isinstance(obj, type):  # a factory (bpe): its own parameters, then the class it builds
        funcs.append(obj)
        obj = BPETokenizer
    # genolm's own constructors; the rest of **kwargs would reach transformers unchecked
    funcs += [c.__init__ for c in obj.__mro__ if c.__module__.startswith("genolm.") and "__init__" in vars(c)]
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    keys = {p.name for f in funcs for p in inspect.signature(f).parameters.values() if p.kind in named}
    return sorted((keys - {"self", "tokenizer_object"}) | set(SPECIAL_ATTRS))


def parse_scheme(spec: str) -> tuple[str, str, dict]:
    """``"kmer6"`` / ``"kmer:k=4"`` / ``"bpe:vocab_size=1024"`` -> ``(label, name, kwargs)``.

    Raises :class:`~genolm.errors.ConfigError` for an option without a value, an option the
    scheme does not have (with "did you mean"), or a ``k`` that contradicts ``kmerN``; an unknown
    scheme name raises :class:`~genolm.errors.UnknownNameError`.
    """
    from genolm.errors import ConfigError
    from genolm.registry import did_you_mean

    for label, name, kw in DEFAULT_SCHEMES:
        if spec == label:
            return label, name, dict(kw)
    name, _, rest = spec.partition(":")
    kwargs: dict = {}
    for item in filter(None, rest.split(",")):
        key, eq, val = item.partition("=")
        if not (key and eq and val):
            raise ConfigError(
                f"scheme '{spec}': option '{item}' is not KEY=VALUE; write {key or 'KEY'}=VALUE "
                f"(several as {name}:key=value,key=value)"
            )
        if key in kwargs:
            raise ConfigError(f"scheme '{spec}': option '{key}' is given twice; give it once")
        kwargs[key] = int(val) if val.lstrip("-").isdigit() else val
    if name.startswith("kmer") and name[4:].isdigit():
        k = int(name[4:])
        if kwargs.setdefault("k", k) != k:
            raise ConfigError(
                f"scheme '{spec}': '{name}' means k={k}, but the spec sets k={kwargs['k']}; "
                f"write kmer:k={kwargs['k']} (or {name} alone)"
            )
        name = "kmer"
    options = scheme_options(name, kwargs)
    for key in kwargs:
        if key not in options:
            raise ConfigError(
                f"scheme '{spec}': unknown option '{key}' for {name}.{did_you_mean(key, options)} "
                f"Options: {', '.join(options)}."
            )
    return spec, name, kwargs
