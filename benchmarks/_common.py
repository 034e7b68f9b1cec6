"""Helpers shared by the benchmark scripts: paths, machine info, JSON output."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"


def single_core() -> None:
    """Pin BLAS / tokenizers / torch to one thread (call before importing them)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"


def shared(*parts: str) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        sys.exit(f"this benchmark needs {p} (the ../shared/data folder beside the checkout)")
    return p


def machine() -> dict:
    import genolm

    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "genolm": genolm.__version__,
        # other work on the machine skews absolute rates; ratios measured in one run are robust
        "loadavg_1_5_15": list(os.getloadavg()),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def write_result(name: str, payload: dict) -> Path:
    from genolm.atomic import atomic_write_json

    payload = {"benchmark": name, "machine": machine(), **payload}
    out = RESULTS / f"{name}.json"
    atomic_write_json(out, payload)
    print(f"wrote {out}")
    return out
