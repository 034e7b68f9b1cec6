"""Measure an ONNX bundle on this CPU: logits, latency, throughput, peak RSS (torch-free).

``python -m genolm.measure BUNDLE.onnx SEQS.txt --logits OUT.npy`` prints one JSON object:
``p50_ms`` / ``p95_ms`` (single-thread latency of one sequence, batch 1), ``throughput_seq_s``
(batch 64, single thread), ``peak_rss_mb`` (peak RSS of this process, ``VmHWM``: python +
numpy + onnxruntime + the session, i.e. what the deployment process would hold), ``load_s``
(session creation) and ``n``.  :func:`genolm.compress.compress` runs it in a fresh subprocess per
variant, so every number is the variant's alone.  Nothing here imports torch.

:func:`cpu_kernel_info` says which int8 kernel path this CPU can run (VNNI / AMX flags from
``/proc/cpuinfo``, onnxruntime's version and providers).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "avx512_bf16", "avx2")


def cpu_kernel_info() -> dict:
    """CPU model, the int8-relevant flags it has, and onnxruntime's version / providers."""
    flags: set[str] = set()
    model = platform.processor() or ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            elif line.startswith("model name") and model in ("", "x86_64"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    have = [f for f in INT8_FLAGS if f in flags]
    if "amx_int8" in have:
        path = "AMX int8 (onnxruntime MLAS uses VNNI/AMX where built for it)"
    elif "avx512_vnni" in have or "avx_vnni" in have:
        path = "VNNI int8 dot products (avx512_vnni / avx_vnni)"
    elif "avx2" in have:
        path = "AVX2 int8 (no VNNI: int8 is often not faster than fp32 here)"
    else:
        path = "no x86 int8 dot-product instructions found"
    try:
        import onnxruntime as ort

        ort_info = {"onnxruntime": ort.__version__, "providers": ort.get_available_providers()}
    except ImportError:  # pragma: no cover - the edge extra is installed wherever this runs
        ort_info = {"onnxruntime": None, "providers": []}
    return {"cpu": model, "int8_flags": have, "int8_path": path, **ort_info}


#: op types that say which int8 kernels a graph runs after onnxruntime's optimisation
INT8_OPS = ("QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear",
            "QuantizeLinear", "DequantizeLinear", "QGemm", "MatMulIntegerToFloat", "DynamicQuantizeMatMul")  # fmt: skip


def optimized_ops(bundle: str | Path) -> dict[str, int]:
    """Op-type counts of ``bundle`` as onnxruntime runs it (CPU, all graph optimisations, 1 thread):
    e.g. ``QLinearConv`` (static QDQ int8, fused) vs ``ConvInteger`` (dynamic int8) vs ``Conv``.
    Needs the ``onnx`` package (genolm's full install) to read the optimised graph."""
    import tempfile

    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="genolm-ops-") as tmp:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.optimized_model_filepath = str(Path(tmp) / "opt.onnx")
        ort.InferenceSession(str(bundle), opts, providers=["CPUExecutionProvider"])
        counts: dict[str, int] = {}
        for node in onnx.load(opts.optimized_model_filepath).graph.node:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def peak_rss_kb() -> float:
    """This process's peak resident set: ``VmHWM`` from ``/proc/self/status`` (reset at exec, so a
    subprocess does not inherit its parent's peak, which ``ru_maxrss`` after fork does), else
    ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _groups(ids: list[np.ndarray]) -> dict[int, list[int]]:
    by_len: dict[int, list[int]] = {}
    for i, a in enumerate(ids):
        by_len.setdefault(len(a), []).append(i)
    return by_len


def measure(
    bundle: str | Path, seqs: list[str], *, n_latency: int = 200, batch: int = 64
) -> tuple[dict, np.ndarray]:
    """``(timings, logits)`` of ``bundle`` on ``seqs`` (whole sequences, one window each), 1 thread."""
    import onnxruntime as ort

    from genolm.edge import EdgeTokenizer, read_bundle_metadata

    t0 = time.perf_counter()
    info = read_bundle_metadata(bundle)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(bundle), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    load_s = time.perf_counter() - t0
    tok = EdgeTokenizer(info.tokenizer)
    ids = [tok.encode(s) for s in seqs]
    out: list[np.ndarray | None] = [None] * len(ids)
    sess.run(None, {name: ids[0][None, :]})  # warm-up
    t = time.perf_counter()
    for idx in _groups(ids).values():
        for i in range(0, len(idx), batch):
            chunk = idx[i : i + batch]
            res = sess.run(None, {name: np.stack([ids[j] for j in chunk])})[0]
            for j, row in zip(chunk, res):
                out[j] = row
    thr = len(ids) / (time.perf_counter() - t)
    lat = []
    for a in ids[:n_latency]:
        t = time.perf_counter()
        sess.run(None, {name: a[None, :]})
        lat.append((time.perf_counter() - t) * 1e3)
    rss_kb = peak_rss_kb()
    timings = {
        "n": len(ids),
        "n_latency": len(lat),
        "p50_ms": float(np.percentile(lat, 50)),
        "p95_ms": float(np.percentile(lat, 95)),
        "throughput_seq_s": float(thr),
        "peak_rss_mb": rss_kb / 1024.0,
        "load_s": load_s,
    }
    return timings, np.stack(out).astype(np.float32)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle")
    ap.add_argument("seqs", help="text file, one sequence per line")
    ap.add_argument("--logits", help="write the logits (n, n_labels) here (.npy)")
    ap.add_argument("--n-latency", type=int, default=200)
    args = ap.parse_args(argv)
    seqs = [ln.strip() for ln in Path(args.seqs).read_text().splitlines() if ln.strip()]
    timings, logits = measure(args.bundle, seqs, n_latency=args.n_latency)
    if args.logits:
        np.save(args.logits, logits)
    timings["torch_imported"] = "torch" in sys.modules
    print(json.dumps(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
