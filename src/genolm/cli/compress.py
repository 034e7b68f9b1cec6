"""``genolm compress``: int8 teacher, distilled student, and the size / MCC / latency trade-off."""

from __future__ import annotations

NAME = "compress"
HELP = "compress a fine-tuned classifier: int8 ONNX teacher, distilled int8 student, trade-off report"
DESCRIPTION = """\
Compress MODEL, a fine-tuned sequence-classification folder (written by save_pretrained, e.g. a
bench model), for point-of-sample use.  Builds in --out: the teacher as fp32 and int8 ONNX bundles
(onnxruntime static QDQ quantization calibrated on train windows, the default, or dynamic), a small
dilated CNN student (genolm's gpn family with a --student-stem-stride strided stem, <=
--student-params parameters) distilled from the teacher's logits on the task's train split (KL at
--temperature + --alpha x hard-label CE, optionally + --feature-weight x feature MSE; early
stopping on valid; --unlabeled-genome adds teacher-labelled genome windows), one per seed, as fp32
and int8 bundles; --torch-int8 also times the teacher's PyTorch path quantized by torchao; then measures every variant (test MCC with bootstrap CIs, size, p50/p95 single-thread
latency, batch-64 throughput, peak RSS, int8 kernel path) and writes compress.md, compress.json
and tradeoff.png/.svg with the Pareto front.  The student bundles run in `genolm predict`.
See docs/compress.md."""
EXAMPLES = """
genolm compress runs/prom_teacher/ --task gue/prom_300_tata --out compressed/
genolm compress teacher/ --task my_task.yaml --out c/ --student-params 200000 --seeds 3
genolm compress teacher/ --task my_task.yaml --out c/ --unlabeled-genome genome.fa.gz --feature-weight 1
genolm compress teacher/ --task my_task.yaml --out c/ --int8 dynamic --student-stem-stride 1 --torch-int8
"""


def add_arguments(p):
    p.add_argument("model", metavar="MODEL", help="a fine-tuned sequence-classification folder")
    p.add_argument("--task", metavar="T", help="the task it was fine-tuned on (name or YAML path)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the bundles and the report")
    p.add_argument("--student-params", type=int, default=500_000, help="student size cap (default 500000)")
    p.add_argument("--student-layers", type=int, default=6, help="student conv layers (default 6)")
    p.add_argument(
        "--student-stem-stride", type=int, default=4,
        help="student's strided stem: the conv stack runs at 1/N of the positions (default 4; 1 = none)",
    )  # fmt: skip
    p.add_argument(
        "--feature-weight", type=float, default=0.0,
        help="feature distillation: weight of the MSE to the teacher's pooled hidden state (default 0: off)",
    )  # fmt: skip
    p.add_argument("--temperature", type=float, default=2.0, help="distillation temperature (default 2)")
    p.add_argument("--alpha", type=float, default=0.5, help="weight of the hard-label CE (default 0.5)")
    p.add_argument("--max-epochs", type=int, default=20, help="student epochs (early stopping; default 20)")
    p.add_argument("--patience", type=int, default=3, help="early-stopping patience (default 3)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3, help="student learning rate (default 0.002)")
    p.add_argument("--seeds", type=int, default=3, help="student seeds (default 3; the teacher is fixed)")
    p.add_argument(
        "--int8", default="static", choices=["dynamic", "static"],
        help="onnxruntime int8: static QDQ calibrated on --n-calibration train windows (default; runs as "
        "QLinearConv) or dynamic (ConvInteger; slower than fp32 for conv graphs on the CPUs measured)",
    )  # fmt: skip
    p.add_argument(
        "--torch-int8",
        action="store_true",
        help="also time the teacher's PyTorch path quantized by torchao (int8, Linear layers)",
    )
    p.add_argument(
        "--n-calibration", type=int, default=64, help="static int8 calibration windows (default 64)"
    )
    p.add_argument("--unlabeled-genome", metavar="FASTA", help="extra distillation windows from this genome")
    p.add_argument("--n-unlabeled", type=int, default=2000, help="how many genome windows (default 2000)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--n-latency", type=int, default=200, help="sequences timed one by one (default 200)")


def run(args):
    from genolm.compress import CompressConfig, compress

    cfg = CompressConfig(
        student_params=args.student_params, student_layers=args.student_layers,
        student_stem_stride=args.student_stem_stride, feature_weight=args.feature_weight,
        torch_int8=args.torch_int8, temperature=args.temperature, alpha=args.alpha, max_epochs=args.max_epochs,
        patience=args.patience, batch_size=args.batch_size, lr=args.lr, seeds=args.seeds,
        int8=args.int8, n_calibration=args.n_calibration, unlabeled_genome=args.unlabeled_genome,
        n_unlabeled=args.n_unlabeled, n_boot=args.n_boot, n_latency=args.n_latency,
        progress=not args.log_quiet,
    )  # fmt: skip
    rep = compress(args.model, args.task, args.out, cfg)
    if not args.log_quiet:
        for r in rep.rows:
            print(
                f"{r['variant']:<13} {r['size_mb']:8.3f} MB  MCC {r['mcc']:.3f}  p50 {r['p50_ms']:.2f} ms  "
                f"{r['throughput_seq_s']:,.0f} seq/s{'  (Pareto)' if r['pareto'] else ''}"
            )
    print(f"wrote {rep.out / 'compress.md'}; student bundle {rep.student_bundle}")
    return 0
