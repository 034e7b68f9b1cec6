"""Wall time of the default ``genolm bench`` and its overhead outside model compute (target: < 10 %).

Runs ``genolm bench`` exactly as a user would with no arguments (the bundled genolm-tiny and the
baselines on the bundled ``mini`` suite, in a fresh working directory), timing the whole process
from start to exit.  Model compute is what the bench itself records per run: loading the model,
fitting (training, embedding, probe) and predicting -- baselines included.  Everything else is
overhead: interpreter start and imports, loading and checking the splits, the leak audit, metrics
and bootstrap CIs, writing results, the summary with paired tests, and the report.

    overhead % = (process wall time - model compute) / process wall time

With ``--task NAME`` (repeatable) it also runs those tasks (e.g. a small shared task when
``../shared`` exists).  Writes benchmarks/results/bench_overhead.json.

Run: python benchmarks/bench_overhead.py [--task NAME ...] [--model PATH]
"""

from __future__ import annotations

import os
import sys

# benchmarks/tokenize.py shadows the standard library's `tokenize` (used by inspect, linecache,
# torch...): move this script's folder from the front of sys.path to the back.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from _common import write_result  # noqa: E402


def run(args: list[str], cwd: Path) -> dict:
    genolm = shutil.which("genolm") or str(Path(sys.executable).with_name("genolm"))
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run([genolm, "bench", *args, "--quiet"], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"genolm bench {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    out_dir = cwd / "genolm-bench" if "--out" not in args else Path(args[args.index("--out") + 1])
    t = json.loads((out_dir / "timings.json").read_text())
    model = t["model"]
    phases = {k: t[k] for k in ("load_splits", "audit", "metrics", "write", "summary", "report")}
    inside = t["total"]
    return {
        "command": "genolm bench " + " ".join(args),
        "wall_s": wall,
        "model_compute_s": model,
        "overhead_s": wall - model,
        "overhead_percent": 100.0 * (wall - model) / wall,
        "startup_and_imports_s": wall - inside,
        "overhead_phases_s": phases,
        "runs": t["runs_ran"],
        "load_average_at_start": load0,
        "load_average_at_end": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
        "stdout": proc.stdout.strip().splitlines(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", action="append", default=[], help="also run these tasks (names or YAML)")
    ap.add_argument("--model", help="model for the --task runs. Default: genolm-tiny")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "default").mkdir()
        results["default"] = run([], tmp / "default")
        r = results["default"]
        print(
            f"genolm bench (no arguments): {r['wall_s']:.1f}s wall, model compute {r['model_compute_s']:.1f}s, "
            f"overhead {r['overhead_s']:.1f}s = {r['overhead_percent']:.1f}% "
            f"(startup + imports {r['startup_and_imports_s']:.1f}s); load average {r['load_average_at_start']:.1f}"
        )
        for name in args.task:
            d = tmp / name.replace("/", "_")
            d.mkdir()
            extra = [args.model] if args.model else ["genolm-tiny"]
            results[name] = run([*extra, "--task", name, "--profile", "quick"], d)
            r = results[name]
            print(f"{name}: {r['wall_s']:.1f}s wall, overhead {r['overhead_percent']:.1f}%")
    write_result(
        "bench_overhead",
        {
            "results": results,
            "targets": {"default_wall_s": "< 300", "overhead_percent": "< 10"},
            "meets_targets": results["default"]["wall_s"] < 300
            and all(r["overhead_percent"] < 10 for r in results.values()),
        },
    )


if __name__ == "__main__":
    main()
