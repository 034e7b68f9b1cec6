"""``genolm export``: a model to an ONNX bundle that ``genolm predict`` runs without torch."""

from __future__ import annotations

NAME = "export"
HELP = "export a model to an ONNX bundle (tokenizer, labels, window policy inside) with a parity check"
DESCRIPTION = """\
Export MODEL (a sequence-classification folder such as a bench run's model, a genolm model folder,
or a catalogue name) to ONNX with dynamic batch and length (torch.onnx.export, dynamo exporter,
opset 18).  The bundle's metadata carries the tokenizer (char, iupac or k-mer schemes), the label
names, the window policy (--window, --stride, --pooling, --min-len) and the genolm version, so the
file plus `pip install genolm[edge]` is all `genolm predict` needs.  Parity against PyTorch is
checked on random ids and on windows of the bundled lambda genome; the max abs diff is printed
and stored in the bundle.  --int8 quantizes with onnxruntime (dynamic); --int8 static needs
--calibration FASTA.  See docs/edge.md."""
EXAMPLES = """
genolm export runs/bench/models/prom/ --format onnx --out prom.onnx --window 300
genolm export runs/bench/models/prom/ --format onnx --int8 --out prom.int8.onnx
genolm export runs/bench/models/prom/ --format onnx --int8 static --calibration windows.fa --out prom.s8.onnx
"""


def add_arguments(p):
    from genolm.cli.common import positive_int

    p.add_argument("model", metavar="MODEL", help="model folder or catalogue name")
    p.add_argument("--format", default="onnx", choices=["onnx"], help="export format (default onnx)")
    p.add_argument("--out", required=True, metavar="FILE.onnx", help="the bundle to write")
    p.add_argument(
        "--int8", nargs="?", const="dynamic", default=None, choices=["dynamic", "static"],
        help="quantize to int8 with onnxruntime: dynamic (default) or static (needs --calibration)",
    )  # fmt: skip
    p.add_argument("--calibration", metavar="FASTA", help="windows for static int8 (one record per window)")
    p.add_argument(
        "--window", type=positive_int, default=512, metavar="BP", help="window length in bp (default 512)"
    )
    p.add_argument(
        "--stride", type=positive_int, metavar="BP", help="window stride in bp (default: the window length)"
    )
    p.add_argument("--pooling", default="mean", choices=["mean", "max"], help="pooling over a read's windows")
    p.add_argument(
        "--min-len", type=positive_int, metavar="BP",
        help="reads shorter than this are skipped (default: the window length); reads between this and "
        "the window length are scored as one window of their own length",
    )  # fmt: skip
    p.add_argument("--labels", metavar="A,B,...", help="label names (default: the model's id2label)")


def run(args):
    from genolm.edge import WindowPolicy
    from genolm.export import export_onnx, load_for_export

    calibration = None
    if args.calibration:
        from genolm.io.fasta import read_fasta

        calibration = [r.seq for r in read_fasta(args.calibration, on_duplicate="keep")]
    model, tokenizer = load_for_export(args.model)
    policy = WindowPolicy(args.window, args.stride or args.window, args.pooling, args.min_len)
    rep = export_onnx(
        model, tokenizer, args.out,
        labels=args.labels.split(",") if args.labels else None,
        window_policy=policy, int8=args.int8 or False, calibration=calibration,
    )  # fmt: skip
    print(
        f"wrote {rep.path} ({rep.size_bytes / 1e6:.2f} MB, {rep.kind}, opset {rep.opset}, {rep.quantization})"
    )
    real = "n/a" if rep.max_abs_diff_real is None else f"{rep.max_abs_diff_real:.3g}"
    print(
        f"parity vs PyTorch: max abs diff {rep.max_abs_diff_random:.3g} (random ids), {real} (lambda windows)"
    )
    if rep.max_abs_diff_int8 is not None:
        print(f"int8 vs PyTorch fp32: max abs diff {rep.max_abs_diff_int8:.3g} (lambda windows)")
    return 0
