"""genolm: one toolkit for genomic language models."""

import logging as _logging

from genolm import auto as _auto

__version__ = "0.1.0.dev0"


class _ImportNoise(_logging.Filter):
    """Drops two import-time log lines that no genolm user can act on: transformers imports torchao
    (``genolm[compress]``) whenever it is installed, and on a CPU torchao logs one warning per CUDA
    kernel library it cannot load, while torch logs a deprecation for each Enum torchao registers."""

    NOISE = ("Failed to load", "is an Enum subclass and is now natively supported")

    def filter(self, record: _logging.LogRecord) -> bool:
        msg = str(record.msg)
        return not any(n in msg for n in self.NOISE)


for _name in ("torchao", "torch.utils._pytree"):
    _logging.getLogger(_name).addFilter(_ImportNoise())

# transformers' Auto classes find genolm's models and tokenizers by name once `import genolm` ran;
# the classes themselves are imported on first use (genolm.auto), so this costs nothing here
_auto.install()


def load(name_or_path="genolm-tiny", **kwargs):
    """Load any genomic LM (catalogue name, Hub id or folder): see :func:`genolm.catalogue.load`."""
    from genolm.catalogue import load as _load

    return _load(name_or_path, **kwargs)
