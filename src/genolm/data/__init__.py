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


def bundled_genomes() -> dict[str, Path]:
    return {k: genome_path(k) for k in _GENOMES}
