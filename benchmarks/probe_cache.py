"""Frozen-probe re-evaluation: cached embeddings against recomputing them (target: >= 10x faster).

For each task of the bundled ``mini`` suite, a logistic-regression probe on the frozen bundled
``genolm-tiny`` (or, when it is not installed, a randomly initialised model of the same
architecture: the same compute) is fitted and scored three ways:

``cold``       embeddings computed and written to an empty cache;
``recompute``  no cache: embeddings computed again (what a re-evaluation costs without the cache);
``cached``     the same cache again: every embedding is a hit, only the probe is fitted.

Speedup = median(recompute) / median(cached), end to end (features + probe fit + prediction), and
for the features alone (embedding time / cache-load time).  Writes benchmarks/results/probe_cache.json.

Run: python benchmarks/probe_cache.py [--repeat 3]
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
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from _common import write_result  # noqa: E402


def model_folder(tmp: Path) -> tuple[Path, str]:
    from genolm.data import model_path

    p = model_path("genolm-tiny")
    if p.is_dir():
        return p, "genolm-tiny (bundled)"
    import torch
    import yaml

    import genolm.models  # noqa: F401
    from genolm.models import build_model
    from genolm.tokenizers import get_tokenizer

    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "genolm-tiny.yaml").read_text())
    tok = get_tokenizer(cfg["tokenizer"])
    torch.manual_seed(0)
    build_model(cfg["model"], head="lm", tokenizer=tok, **cfg["model_config"]).save_pretrained(tmp / "m")
    tok.save_pretrained(tmp / "m")
    return tmp / "m", "genolm-tiny architecture, random weights (bundled model not installed)"


def once(lm, model, task, sp, cache_dir) -> tuple[float, float, tuple | None]:
    """Fit + score the probe once: ``(wall s, feature s, (cache hits, misses))``."""
    from genolm.bench.finetune import FinetuneConfig, Finetuner

    cfg = FinetuneConfig(mode="probe", progress=False, cache_dir=str(cache_dir) if cache_dir else None)
    t0 = time.perf_counter()
    ft = Finetuner(model, lm.tokenizer, task.task_type, cfg)
    ft.fit(sp["train"].sequences, sp["train"].labels, valid=(sp["valid"].sequences, sp["valid"].labels))
    ft.predict_with_scores(sp["test"].sequences)
    wall = time.perf_counter() - t0
    feats = sum(v for k, v in ft.timings_.items() if k.startswith("embed_"))
    c = ft.cache_
    return wall, feats, ((c.hits, c.misses) if c is not None else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    import genolm
    from genolm.bench.tasks import load_suite
    from genolm.infer import auto_threads

    torch.set_num_threads(auto_threads())
    threadpool_limits(limits=torch.get_num_threads())  # BLAS threads as torch's (as the bench does)
    out: dict = {"tasks": {}, "load_average": os.getloadavg()[0], "torch_threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder, what = model_folder(tmp)
        out["model"] = what
        for task in load_suite("mini"):
            sp = task.load_splits()
            lm = genolm.load(str(folder))
            model = lm.for_task(task, "probe")
            cache = tmp / f"cache-{task.name.replace('/', '_')}"

            cold = once(lm, model, task, sp, cache)
            recompute = [once(lm, model, task, sp, None) for _ in range(args.repeat)]
            cached = [once(lm, model, task, sp, cache) for _ in range(args.repeat)]
            assert all(c[2] == (3, 0) for c in cached), (
                "the cached runs must hit the cache for train, valid, test"
            )
            r_wall = statistics.median(r[0] for r in recompute)
            c_wall = statistics.median(c[0] for c in cached)
            r_feat = statistics.median(r[1] for r in recompute)
            c_feat = statistics.median(c[1] for c in cached)
            n = sum(len(s.sequences) for s in sp.values())
            out["tasks"][task.name] = {
                "sequences": n,
                "cold_s": cold[0],
                "recompute_s": r_wall,
                "cached_s": c_wall,
                "speedup_end_to_end": r_wall / c_wall,
                "features_recompute_s": r_feat,
                "features_cached_s": c_feat,
                "speedup_features": r_feat / max(c_feat, 1e-9),
            }
            print(
                f"{task.name}: {n} sequences; recompute {r_wall:.2f}s, cached {c_wall:.2f}s "
                f"({r_wall / c_wall:.1f}x end to end; features {r_feat:.2f}s vs {c_feat:.3f}s, "
                f"{r_feat / max(c_feat, 1e-9):.0f}x)"
            )
    speedups = [t["speedup_end_to_end"] for t in out["tasks"].values()]
    out["min_speedup_end_to_end"] = min(speedups)
    out["target"] = ">= 10x end to end"
    out["meets_target"] = min(speedups) >= 10
    write_result("probe_cache", out)


if __name__ == "__main__":
    main()
