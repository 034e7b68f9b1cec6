"""Continued pretraining of a biotoken LLM: LoRA against full fine-tuning of the same model, side by side.

Both run through the same trainer (:class:`genolm.llm.pretrain.BiotokenPretrainer`, Accelerate,
AdamW, bf16 autocast where the CPU has it) on the same batches (bundled Arabidopsis chloroplast,
4 windows x 64 bp + BOS and template = 4 x 73 tokens per step):

* ``lora``: LoRA r=8 on every linear layer + the 5 biotoken rows (``trainable_token_indices``);
* ``full``: every weight trains (embeddings and LM head included);
* ``lora-frozen-tokens``: LoRA only, the biotoken rows frozen (what training the rows costs).

Measured in child processes (one per measurement, interleaved lora, full, lora-frozen-tokens, lora, ..., so load on the
shared machine hits both alike): training tokens/s over the timed steps (after one warm-up step;
median of per-step rates), the RSS after loading the model, and the peak RSS while training
(``VmHWM``, reset through ``/proc/self/clear_refs`` after loading: the training overhead --
gradients, optimizer state, activations -- on top of the model).  Ratios are what to quote.

Model: SmolLM2-135M-Instruct extended with biotokens (``runs/biotoken-smollm2/ext``, made by
``biotoken_smollm2.py``, or made here from the GGUF when the wheel can be had); otherwise a locally
built random Llama of the same shape (``--toy``), and the JSON says which.

Run: python benchmarks/biotoken_lora.py [--steps 4] [--reps 2] [--toy]
Writes benchmarks/results/biotoken_lora.json.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:  # benchmarks/tokenize.py shadows stdlib
    sys.path.append(sys.path.pop(0))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from _common import write_result  # noqa: E402
from biotoken_common import ROOT, extended_smollm2, smollm2_gguf  # noqa: E402

WINDOW, BATCH = 64, 4
#: lora-frozen-tokens (LoRA only, biotoken rows frozen) shows what training the biotoken rows costs
MODES = ("lora", "full", "lora-frozen-tokens")


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> float:
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return _status_mb("VmRSS")


def child(spec: dict) -> dict:
    from genolm.llm.pretrain import BiotokenPretrainConfig, BiotokenPretrainer

    cfg = BiotokenPretrainConfig(
        model=spec["model"],
        corpus=["bundled:chloroplast"],
        out_dir=spec["out"],
        window=WINDOW,
        batch_size=BATCH,
        max_steps=100,
        lr=1e-4,
        warmup_steps=1,
        template="Arabidopsis thaliana chloroplast DNA: {dna}",
        lora=spec["mode"] != "full",
        new_tokens="frozen" if spec["mode"] == "lora-frozen-tokens" else "trainable_tokens",
        precision="auto",
        progress=False,
    )
    t0 = time.perf_counter()
    pt = BiotokenPretrainer(cfg)
    load_s = time.perf_counter() - t0
    rss_loaded = _reset_peak()
    pt.train_step()  # warm-up (allocations, first-call kernels)
    rates = []
    for _ in range(spec["steps"]):
        t = time.perf_counter()
        m = pt.train_step()
        rates.append(m["tokens"] / (time.perf_counter() - t))
    return {
        "mode": spec["mode"],
        "tokens_per_step": m["tokens"],
        "tokens_per_s": statistics.median(rates),
        "tokens_per_s_steps": rates,
        "rss_after_load_mb": rss_loaded,
        "peak_rss_training_mb": _status_mb("VmHWM"),
        "training_overhead_mb": _status_mb("VmHWM") - rss_loaded,
        "trainable_params": pt.n_trainable,
        "params": pt.n_params,
        "precision": pt.precision,
        "load_s": load_s,
        "loadavg": os.getloadavg()[0],
    }


def model_folder(toy: bool) -> tuple[str, str]:
    work = ROOT / "runs" / "biotoken-smollm2"
    if not toy:
        try:
            if smollm2_gguf() is not None:
                return str(
                    extended_smollm2(work / "ext")
                ), "SmolLM2-135M-Instruct (GGUF Q4_1, dequantized) + biotokens"
        except Exception as e:  # no network, no gguf package: fall back, and say so
            print(f"SmolLM2 unavailable ({e}); using a local model of the same shape", file=sys.stderr)
    from genolm.llm.extend import ExtendConfig, extend_model, read_meta
    from genolm.llm.toy import build_toy_llm

    out = ROOT / "runs" / "biotoken-lora-toy"
    if read_meta(out / "ext") is None:
        base = build_toy_llm(
            out / "base",
            hidden_size=576,
            num_hidden_layers=30,
            num_attention_heads=9,
            num_key_value_heads=3,
            intermediate_size=1536,
            embedding_rows=49152,
        )
        extend_model(ExtendConfig(base=str(base), out=str(out / "ext"), include_n=True))
    return str(
        out / "ext"
    ), "a random Llama of SmolLM2-135M's shape (576 x 30 layers, 49,152 rows), built locally"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--toy", action="store_true", help="use the locally built model of the same shape")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))))
        return
    folder, which = model_folder(args.toy)
    runs = []
    for rep in range(args.reps):
        for mode in MODES:
            spec = {"model": folder, "mode": mode, "steps": args.steps, "out": f"/tmp/biotoken-lora-{mode}"}
            out = subprocess.run(
                [sys.executable, __file__, "--child", json.dumps(spec)],
                capture_output=True,
                text=True,
                check=False,
            )
            line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                sys.exit(f"child {mode} failed:\n{out.stderr[-3000:]}")
            r = json.loads(line[len("RESULT ") :])
            r["rep"] = rep
            runs.append(r)
            print(
                f"{mode} rep {rep}: {r['tokens_per_s']:.1f} tok/s, peak {r['peak_rss_training_mb']:.0f} MB "
                f"(+{r['training_overhead_mb']:.0f} MB over the loaded model)",
                flush=True,
            )

    def agg(mode, k):
        return statistics.median(r[k] for r in runs if r["mode"] == mode)

    summary = {
        m: {
            k: agg(m, k)
            for k in (
                "tokens_per_s",
                "rss_after_load_mb",
                "peak_rss_training_mb",
                "training_overhead_mb",
                "trainable_params",
            )
        }
        for m in MODES
    }
    ratios = {
        "speed_lora_over_full": summary["lora"]["tokens_per_s"] / summary["full"]["tokens_per_s"],
        "peak_rss_lora_over_full": summary["lora"]["peak_rss_training_mb"]
        / summary["full"]["peak_rss_training_mb"],
        "training_overhead_lora_over_full": summary["lora"]["training_overhead_mb"]
        / summary["full"]["training_overhead_mb"],
        "trainable_params_lora_over_full": summary["lora"]["trainable_params"]
        / summary["full"]["trainable_params"],
    }
    write_result(
        "biotoken_lora",
        {
            "model": which,
            "model_folder": folder,
            "setup": {
                "window_bp": WINDOW,
                "batch": BATCH,
                "timed_steps": args.steps,
                "reps": args.reps,
                "precision": runs[0]["precision"],
                "optimizer": "AdamW (fused)",
            },
            "summary": summary,
            "ratios": ratios,
            "runs": runs,
        },
    )
    print(json.dumps(ratios, indent=2))


if __name__ == "__main__":
    main()
