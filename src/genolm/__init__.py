"""genolm: one toolkit for genomic language models."""

__version__ = "0.1.0.dev0"
