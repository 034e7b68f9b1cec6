"""genolm compress on CNNProm Arabidopsis TATA: teacher fp32 / int8 vs a distilled int8 student.

Steps (one run, ~25-40 min on 2 shared cores the first time, ~15 min once the teacher is cached):
1. the teacher (default ``--teacher big``): a 5.6M-parameter genolm ``gpn`` classifier (hidden
   256, 8 dilated layers, an 8-fold strided stem), trained from scratch on the task's train split
   with genolm.bench's Finetuner (early stopping on valid, a wall-clock budget), saved under
   benchmarks/results/compress_run/teacher/ (git-ignored) and reused by a rerun with the same
   settings; ``--teacher small`` fine-tunes genolm-tiny (1.1M, pretrained) for quick runs;
2. `genolm.compress.compress`: static QDQ int8 teacher, 3 distilled student seeds (gpn, strided
   stem), torchao int8 of the teacher's PyTorch path, measurements;
3. `genolm predict` with the seed-0 int8 student on simulated 1-kb reads from the E. coli K-12
   genome (shared/data), one onnxruntime thread: reads/s and cold start (a one-read run).
Writes benchmarks/results/compress.json and compress.md; the full compress report stays in
benchmarks/results/compress_run/ (bundles are git-ignored).
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from _common import RESULTS, ROOT, shared, write_result  # noqa: E402

TASK = "shared/cnnprom-arabidopsis-tata"
SUITE = ROOT / "benchmarks" / "suites" / "shared.yaml"
RUN = RESULTS / "compress_run"
GOALS = {
    "student_int8_speedup": 20.0,
    "student_int8_max_mb": 2.0,
    "student_mcc_margin": -0.02,
    "teacher_int8_speedup": 1.5,
    "teacher_int8_agreement": 0.99,
    "predict_reads_s": 2000.0,
    "predict_cold_start_s": 1.0,
}


TARGETS = {
    "student_int8_speedup": ">= 20x teacher fp32 throughput",
    "student_int8_size_mb": "<= 2 MB",
    "student_int8_mcc_ci_low": "paired CI low of MCC(student int8) - MCC(teacher fp32) > -0.02",
    "teacher_int8_speedup": ">= 1.5x",
    "teacher_int8_agreement": ">= 0.99",
    "predict_reads_s": ">= 2,000 reads/s (1 thread, incl. start-up)",
    "predict_cold_start_s": "< 1 s",
    "teacher_ge_5M_params": ">= ~5M parameters",
}


BIG_TEACHER = {"hidden_size": 256, "num_hidden_layers": 8, "stem_stride": 8, "dilation_max": 4}


def train_teacher(kind: str, task, s_tr, y_tr, s_va, y_va, epochs: int, budget_s: float) -> dict:
    """Train (or reuse) the teacher in RUN / "teacher"; returns what was trained and how."""
    import torch

    import genolm
    from genolm.bench.finetune import FinetuneConfig, Finetuner
    from genolm.models import build_model
    from genolm.tokenizers import get_tokenizer

    spec = {"kind": kind, "epochs": epochs, "budget_s": budget_s, "task": task.name}
    if kind == "big":
        spec["config"] = BIG_TEACHER
    meta_path = RUN / "teacher" / "genolm_bench_teacher.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("spec") == spec:
            print(f"reusing the cached teacher in {RUN / 'teacher'}", flush=True)
            return {**meta, "reused": True}
        shutil.rmtree(RUN / "teacher")
    t0 = time.perf_counter()
    if kind == "big":
        tok = get_tokenizer("char")
        torch.manual_seed(0)
        labels = list(task.labels) if task.labels else ["0", "1"]
        model = build_model(
            "gpn", "sequence-classification", tokenizer=tok, num_labels=2,
            id2label=dict(enumerate(labels)), label2id={v: k for k, v in enumerate(labels)}, **BIG_TEACHER,
        )  # fmt: skip
        fcfg = FinetuneConfig(
            max_epochs=epochs, patience=2, lr=1e-3, batch_size=32, precision="fp32", time_budget_s=budget_s
        )
        what = "genolm gpn classifier trained from scratch (hidden 256, 8 dilated layers with dilations up to 4, stem stride 8)"
    else:
        lm = genolm.load("genolm-tiny")
        model, tok = lm.for_task(task, "full"), lm.tokenizer
        fcfg = FinetuneConfig(max_epochs=epochs, lr=1e-3, head_lr_scale=10.0, precision="fp32")
        what = "genolm-tiny (pretrained gpn, 1.1M), fully fine-tuned"
    torch.set_num_threads(2)  # the teacher is the slow part; compress measures on 1 thread
    ft = Finetuner(model, tok, "binary", fcfg, seed=0).fit(s_tr, y_tr, valid=(s_va, y_va))
    torch.set_num_threads(1)
    ft.model_.save_pretrained(RUN / "teacher")
    tok.save_pretrained(RUN / "teacher")
    meta = {
        "spec": spec,
        "what": what,
        "params": int(sum(p.numel() for p in ft.model_.parameters())),
        "train_s": time.perf_counter() - t0,
        "history": getattr(ft, "history_", None),
        "stopped_by_budget": getattr(ft, "stopped_by_budget_", None),
    }
    meta_path.write_text(json.dumps(meta, default=str))
    return {**meta, "reused": False}


def simulate_reads(path, n: int, length: int = 1000, seed: int = 0) -> None:
    from genolm.io.fasta import read_fasta

    genome = next(iter(read_fasta(shared("genomes", "ecoli_K12_MG1655.fasta.gz")))).seq
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for i, s in enumerate(rng.integers(0, len(genome) - length, n)):
            f.write(f">read{i}\n{genome[s : s + length]}\n")


def time_predict(bundle, reads, n: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "genolm.cli.main", "predict", str(bundle), "--threads", "1", "-q"]
    t = time.perf_counter()
    r = subprocess.run(
        [*cmd, "--fasta", str(reads), "--out", str(RUN / "calls.tsv")],
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - t
    assert r.returncode == 0, r.stderr
    one = RUN / "one.fa"
    one.write_text("".join(open(reads).readlines()[:2]))
    colds = []
    for _ in range(3):
        t = time.perf_counter()
        r = subprocess.run(
            [*cmd, "--fasta", str(one), "--out", str(RUN / "one.tsv")],
            capture_output=True,
            text=True,
            env=env,
        )
        colds.append(time.perf_counter() - t)
        assert r.returncode == 0, r.stderr
    cold = float(np.median(colds))
    return {
        "n_reads": n,
        "wall_s": wall,
        "reads_s_incl_startup": n / wall,
        "reads_s_steady": n / max(wall - cold, 1e-9),
        "cold_start_s": cold,
        "cold_start_note": "wall time of `genolm predict` on one read, new process (python start + imports + "
        "session + one read), median of 3",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--teacher", choices=["big", "small"], default="big",
        help="big: a 5.6M gpn classifier trained from scratch (cached); small: genolm-tiny fine-tuned (quick)",
    )  # fmt: skip
    ap.add_argument(
        "--teacher-epochs",
        type=int,
        default=None,
        help="default: big 3 (the learning rate decays to 0 over them), small 2",
    )
    ap.add_argument("--teacher-budget-s", type=float, default=900.0, help="teacher training wall-clock cap")
    ap.add_argument("--teacher-only", action="store_true", help="train and cache the teacher, then stop")
    ap.add_argument("--student-params", type=int, default=50_000)
    ap.add_argument("--student-layers", type=int, default=4)
    ap.add_argument("--student-stem-stride", type=int, default=4)
    ap.add_argument("--student-epochs", type=int, default=30)
    ap.add_argument("--feature-weight", type=float, default=0.0)
    ap.add_argument("--reads", type=int, default=20000)
    ap.add_argument(
        "--tag", default="",
        help="suffix of the results (compress{TAG}.json, compress_run{TAG}/): e.g. _small for --teacher small",
    )  # fmt: skip
    args = ap.parse_args()
    global RUN
    RUN = RESULTS / f"compress_run{args.tag}"
    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(1)
    from genolm.bench.finetune import carve_validation
    from genolm.bench.tasks import load_suite
    from genolm.compress import CompressConfig, compress

    load_start = os.getloadavg()
    RUN.mkdir(parents=True, exist_ok=True)
    for f in RUN.iterdir():  # everything but the cached teacher
        if f.name != "teacher":
            shutil.rmtree(f) if f.is_dir() else f.unlink()
    (RUN / ".gitignore").write_text("*.onnx\n*.fa\n*.tsv\nteacher/\n")
    task = {t.name: t for t in load_suite(str(SUITE))}[TASK]
    sp = task.load_splits()
    tr = sp["train"]
    y = np.asarray(tr.labels)
    a, b = carve_validation(y, 0.1, seed=0)  # the same carve compress makes
    s_tr, y_tr = [tr.sequences[i] for i in a], y[a]
    s_va, y_va = [tr.sequences[i] for i in b], y[b]

    epochs = args.teacher_epochs or (3 if args.teacher == "big" else 2)
    teacher = train_teacher(args.teacher, task, s_tr, y_tr, s_va, y_va, epochs, args.teacher_budget_s)
    print(f"teacher: {teacher['what']}, {teacher['params']:,} params", flush=True)
    if args.teacher_only:
        return

    cfg = CompressConfig(
        student_params=args.student_params, student_layers=args.student_layers,
        student_stem_stride=args.student_stem_stride, feature_weight=args.feature_weight,
        max_epochs=args.student_epochs, patience=8, seeds=3, torch_int8=True,
    )  # fmt: skip
    rep = compress(str(RUN / "teacher"), task, RUN, cfg)
    report = json.loads((RUN / "compress.json").read_text())
    rows = {r["variant"]: r for r in report["rows"]}

    reads = RUN / "reads_1kb.fa"
    simulate_reads(reads, args.reads)
    pred = time_predict(rep.student_bundle, reads, args.reads)

    s8, t8, t32 = rows["student int8"], rows["teacher int8"], rows["teacher fp32"]
    d = s8["vs_teacher_fp32"]
    goals = {
        "student_int8_speedup": [s8["speedup_vs_teacher_fp32"] >= GOALS["student_int8_speedup"], s8["speedup_vs_teacher_fp32"]],
        "student_int8_size_mb": [s8["size_mb"] <= GOALS["student_int8_max_mb"], s8["size_mb"]],
        "student_int8_mcc_ci_low": [d["low"] > GOALS["student_mcc_margin"], d["low"]],
        "teacher_int8_speedup": [t8["speedup_vs_teacher_fp32"] >= GOALS["teacher_int8_speedup"], t8["speedup_vs_teacher_fp32"]],
        "teacher_int8_agreement": [t8["agreement_with_teacher_fp32"] >= GOALS["teacher_int8_agreement"], t8["agreement_with_teacher_fp32"]],
        "predict_reads_s": [pred["reads_s_incl_startup"] >= GOALS["predict_reads_s"], pred["reads_s_incl_startup"]],
        "predict_cold_start_s": [pred["cold_start_s"] < GOALS["predict_cold_start_s"], pred["cold_start_s"]],
        "teacher_ge_5M_params": [t32["params"] >= 5_000_000, t32["params"]],
    }  # fmt: skip
    goals = {k: {"met": bool(v[0]), "measured": v[1]} for k, v in goals.items()}
    payload = {
        "task": TASK,
        "scaled": (
            f"teacher = {teacher['what']}, {teacher['params']:,} params, <= {epochs} epochs within "
            f"{args.teacher_budget_s:.0f} s (genolm has no pretrained >= 5M model offline; the stem stride makes "
            "from-scratch training fit here); "
            f"student {args.student_params:,}-param cap, <= {args.student_epochs} epochs (patience 8); {args.reads:,} simulated reads"
        ),
        "teacher": teacher,
        "compress": report,
        "predict": pred,
        "goals": goals,
        "goal_targets": GOALS,
        "wall_s": time.perf_counter() - t0,
        "load_average": {"start": list(load_start), "end": list(os.getloadavg()), "cpus": os.cpu_count()},
    }
    write_result(f"compress{args.tag}", payload)
    md = (RUN / "compress.md").read_text().replace("(tradeoff.png)", f"(compress_run{args.tag}/tradeoff.png)")
    md += "\n## Goals\n\n| goal | target | measured | met |\n|---|---|---|---|\n"
    for k, v in goals.items():
        m = v["measured"]
        md += f"| {k} | {TARGETS[k]} | {m:.4g} | {'met' if v['met'] else '**missed**'} |\n"
    md += (
        f"\n`genolm predict` (student int8, 1 onnxruntime thread, {args.reads:,} simulated 1-kb E. coli reads): "
        f"{pred['reads_s_incl_startup']:,.0f} reads/s including start-up ({pred['reads_s_steady']:,.0f} steady), "
        f"cold start {pred['cold_start_s']:.2f} s.\n\nScaled: {payload['scaled']}.\n\n"
        f"Load average (1/5/15 min) at start {'/'.join(f'{x:.1f}' for x in load_start)}, at end "
        f"{'/'.join(f'{x:.1f}' for x in payload['load_average']['end'])} on {os.cpu_count()} CPUs.\n"
    )
    (RESULTS / f"compress{args.tag}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
