"""genolm: one toolkit for genomic language models."""

from genolm import auto as _auto

__version__ = "0.1.0.dev0"

# transformers' Auto classes find genolm's models and tokenizers by name once `import genolm` ran;
# the classes themselves are imported on first use (genolm.auto), so this costs nothing here
_auto.install()


def load(name_or_path="genolm-tiny", **kwargs):
    """Load any genomic LM (catalogue name, Hub id or folder): see :func:`genolm.catalogue.load`."""
    from genolm.catalogue import load as _load

    return _load(name_or_path, **kwargs)
