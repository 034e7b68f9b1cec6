"""genolm: one toolkit for genomic language models."""

__version__ = "0.1.0.dev0"


def load(name_or_path="genolm-tiny", **kwargs):
    """Load any genomic LM (catalogue name, Hub id or folder): see :func:`genolm.catalogue.load`."""
    from genolm.catalogue import load as _load

    return _load(name_or_path, **kwargs)
