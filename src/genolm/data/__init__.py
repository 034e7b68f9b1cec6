"""The embedded default data shipped inside the package.

* ``phage_lambda.fa.gz``: Enterobacteria phage lambda, NC_001416.1, 48,502 bp
  (from Debian's bowtie2-examples).
* ``arabidopsis_chloroplast.gb.gz``: *Arabidopsis thaliana* chloroplast,
  NC_000932.1, 154,478 bp, annotated GenBank (from the Biopython test suite).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_GENOMES = {
    "lambda": "phage_lambda_NC_001416.fa.gz",
    "chloroplast": "arabidopsis_chloroplast_NC_000932.gb.gz",
}


def genome_path(name: str = "lambda") -> Path:
    """Path to a bundled genome: ``"lambda"`` (FASTA) or ``"chloroplast"`` (GenBank)."""
    from genolm.registry import UnknownNameError, did_you_mean

    if name not in _GENOMES:
        raise UnknownNameError(f"Unknown bundled genome '{name}'.{did_you_mean(name, list(_GENOMES))}")
    return Path(str(resources.files("genolm.data") / "genomes" / _GENOMES[name]))


#: models shipped in the package (safetensors + tokenizer + the config that reproduces them)
_MODELS = {"genolm-tiny": "genolm-tiny", "genolm-tiny-mix": "genolm-tiny-mix"}


def model_path(name: str = "genolm-tiny") -> Path:
    """Folder of a bundled pretrained model, loadable with ``from_pretrained``.

    ``genolm-tiny`` was pretrained by ``genolm pretrain`` on the bundled genomes; ``genolm-tiny-mix``
    (the same architecture) on a multi-species mix of the bundled and shared genomes.  Each folder
    holds ``pretrain.yaml``, the exact config that reproduces it.
    """
    from genolm.registry import UnknownNameError, did_you_mean

    if name not in _MODELS:
        raise UnknownNameError(f"Unknown bundled model '{name}'.{did_you_mean(name, list(_MODELS))}")
    return Path(str(resources.files("genolm.data") / "models" / _MODELS[name]))


def resolve_path(spec: str | Path) -> Path:
    """A file path, or ``bundled:NAME`` for a genome shipped with genolm (``bundled:lambda``), or
    ``-`` for standard input (spooled to a temporary file, see :mod:`genolm.io.streams`).

    Raises :class:`~genolm.errors.InputError` when the file does not exist.
    """
    from genolm.errors import InputError
    from genolm.io.streams import is_stdio, stdin_file

    if is_stdio(spec):
        return stdin_file()

    if str(spec).startswith("bundled:"):
        return genome_path(str(spec).split(":", 1)[1])
    p = Path(spec).expanduser()
    if not p.exists():
        raise InputError("no such file", path=str(p))
    return p


def bundled_genomes() -> dict[str, Path]:
    return {k: genome_path(k) for k in _GENOMES}
