"""Export a genolm model to an ONNX bundle that :mod:`genolm.edge` runs without torch.

``export_onnx(model, tokenizer, out, *, labels, window_policy, int8=False, calibration=None)``
exports with ``torch.onnx.export(..., dynamo=True)`` (opset :data:`OPSET`; dynamic batch and
length), checks parity against PyTorch on random and real windows (max abs diff, printed and
stored in the bundle), writes the bundle metadata (:mod:`genolm.edge` lists the keys) and
optionally quantizes the graph to int8 with onnxruntime (dynamic, or static with calibration
windows).  ``genolm export`` is the command-line face; ``genolm compress`` builds on it.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from genolm.edge import BUNDLE_FORMAT, EDGE_SCHEMES, KEY, EdgeTokenizer, WindowPolicy, genolm_version
from genolm.errors import ConfigError, InputError

log = logging.getLogger(__name__)

OPSET = 18
KINDS = ("sequence-classification", "lm", "base")


class ExportReport(NamedTuple):
    """What :func:`export_onnx` wrote and measured."""

    path: Path
    kind: str
    opset: int
    quantization: str  # "none" | "dynamic-int8" | "static-int8"
    max_abs_diff_random: float  # fp32 graph vs PyTorch
    max_abs_diff_real: float | None  # on real genome windows (None without any)
    max_abs_diff_int8: float | None  # the int8 graph vs PyTorch on the same windows
    size_bytes: int
    metadata: dict


def tokenizer_spec(tokenizer) -> dict:
    """The tokenizer as data :class:`genolm.edge.EdgeTokenizer` runs (char, iupac, overlapping kmer).

    Refuses other schemes, naming the way around."""
    scheme = getattr(tokenizer, "scheme", None)
    if scheme not in EDGE_SCHEMES:
        raise ConfigError(
            f"the edge runtime cannot tokenize scheme '{scheme}' ({type(tokenizer).__name__}): it does "
            f"{', '.join(EDGE_SCHEMES)}. Fine-tune on one of those tokenizers to deploy with `genolm predict`"
        )
    vocab = tokenizer.get_vocab()
    inv = [""] * (max(vocab.values()) + 1)
    for t, i in vocab.items():
        inv[i] = t
    # the template around one sequence: prefix ids, then the body, then suffix ids
    probe = tokenizer.build_inputs_with_special_tokens([-1])
    cut = probe.index(-1)
    pre, suf = probe[:cut], probe[cut + 1 :]
    specials = sorted({str(t) for t in tokenizer.all_special_tokens})
    return {
        "scheme": scheme,
        "vocab": inv,
        "k": int(getattr(tokenizer, "k", 1) or 1),
        "prefix_ids": [int(i) for i in pre],
        "suffix_ids": [int(i) for i in suf],
        "unk_id": int(tokenizer.unk_token_id),
        "specials": specials,
    }


class _Graph(torch.nn.Module):
    """``input_ids (B, T) -> one tensor``: logits (classifier, LM) or last hidden state (backbone)."""

    def __init__(self, model, kind: str):
        super().__init__()
        self.model, self.kind = model, kind

    def forward(self, input_ids):
        # no attention mask: edge windows in a batch share one length, nothing is padded (and the
        # models' "is the mask all ones?" shortcut is data-dependent, which torch.export refuses)
        out = self.model(input_ids=input_ids)
        return out.last_hidden_state if self.kind == "base" else out.logits


def model_kind(model) -> str:
    name = type(model).__name__
    if name.endswith("ForSequenceClassification"):
        return "sequence-classification"
    if name.endswith(("ForMaskedLM", "ForCausalLM")):
        return "lm"
    return "base"


def _explicit_same_padding(model) -> torch.nn.Module:
    """A copy whose ``Conv1d(padding="same")`` layers pad explicitly: onnxruntime's Conv has no
    dilated SAME padding ("Dilation not supported for AutoPadType::SAME_UPPER")."""
    model = copy.deepcopy(model)
    for mod in model.modules():
        if isinstance(mod, torch.nn.Conv1d) and mod.padding == "same":
            total = mod.dilation[0] * (mod.kernel_size[0] - 1)
            if total % 2:
                raise ConfigError(
                    f"a Conv1d with an even receptive field ({mod}) pads 'same' asymmetrically, which the "
                    "ONNX graph cannot express; use odd kernel sizes"
                )
            mod.padding = (total // 2,)
            mod._reversed_padding_repeated_twice = [total // 2, total // 2]
    return model


def _unexportable(e: Exception) -> ConfigError:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # the exporter colours its messages
    ops = sorted(set(re.findall(r"(aten::?\.?[A-Za-z_][\w.]*|torch\.ops\.[\w.]+)", text)))
    op = ", ".join(ops[:5]) if ops else type(e).__name__
    first = next((ln for ln in text.splitlines() if ln.strip()), "")[:300]
    return ConfigError(
        f"the model cannot be exported to ONNX: {op} is not supported by torch.onnx.export "
        f"(opset {OPSET}): {first}. Ways around: replace the op in the model with supported ones "
        "(for attention, load the model with an 'sdpa' or 'eager' attention path instead of a custom "
        "kernel such as Triton/flash-attention), or export the backbone and run the head yourself"
    )


def export_graph(model, out: str | Path, *, kind: str | None = None, example_len: int = 64) -> Path:
    """Write ``model`` as ONNX (dynamic batch and length, input ``input_ids``) to ``out``; no metadata."""
    kind = kind or model_kind(model)
    m = _explicit_same_padding(model).eval().float().to("cpu")
    vocab = int(getattr(m.config, "vocab_size", 8) or 8)
    example = torch.randint(0, vocab, (2, example_len), dtype=torch.long)
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length", min=2, max=1 << 20)
    out = Path(out)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                _Graph(m, kind),
                (example,),
                input_names=["input_ids"],
                output_names=["output"],
                dynamic_shapes={"input_ids": {0: batch, 1: length}},
                opset_version=OPSET,
                dynamo=True,
                verbose=False,
            )
    except Exception as e:  # torch.export / onnx translation failures: name the op
        raise _unexportable(e) from e
    program.save(str(out))
    return out


def _real_windows(length: int, n: int = 8, seed: int = 0) -> list[str]:
    """``n`` windows of ``length`` bp from the bundled phage lambda genome."""
    from genolm.io.fasta import read_fasta

    path = Path(__file__).parent / "data" / "genomes" / "phage_lambda_NC_001416.fa.gz"
    seq = next(iter(read_fasta(path))).seq
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(seq) - length, n)
    return [seq[s : s + length] for s in starts]


def _torch_out(model, kind: str, ids: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return _Graph(model.eval(), kind)(torch.from_numpy(ids)).float().numpy()


def _ort_out(path: Path, ids: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: ids})[0]


def export_onnx(
    model,
    tokenizer,
    out: str | Path,
    *,
    labels: Sequence[str] | None = None,
    window_policy: WindowPolicy | dict | None = None,
    int8: bool | str = False,
    calibration: Sequence[str] | None = None,
    kind: str | None = None,
    n_random: int = 4,
) -> ExportReport:
    """Export ``model`` (+ ``tokenizer``) to an ONNX bundle at ``out`` and check parity.

    Parameters
    ----------
    model : PreTrainedModel
        A genolm model (any family and head) or a catalogue model with an sdpa / eager attention path.
    tokenizer :
        Its tokenizer; the bundle carries it as data (char, iupac, kmer schemes; others are refused).
    labels : sequence of str, optional
        Label names, index = logit column.  Default: ``model.config.id2label``.
    window_policy : WindowPolicy or dict, optional
        ``length`` / ``stride`` (bp), ``pooling`` (``mean`` | ``max``), ``min_len``.  Default:
        512-bp windows, stride = length, mean pooling, reads shorter than a window skipped.
    int8 : bool or {"dynamic", "static"}
        Quantize with onnxruntime: ``True`` / ``"dynamic"`` (weights int8, activations quantized at
        run time), ``"static"`` (needs ``calibration`` sequences).  Default ``False``.
    calibration : sequence of str, optional
        Windows (DNA strings) for static quantization.
    kind : {"sequence-classification", "lm", "base"}, optional
        What the graph outputs; default from the model class.
    """
    from genolm.atomic import atomic_path

    mode = {False: "none", True: "dynamic", "dynamic": "dynamic", "static": "static", None: "none"}.get(int8)
    if mode is None:
        raise ConfigError(f"int8 must be False, True, 'dynamic' or 'static', got {int8!r}")
    if mode == "static" and not calibration:
        raise ConfigError(
            "static int8 quantization needs calibration data (windows representative of the input): "
            "give calibration=[...] (CLI: --calibration FASTA), or use dynamic quantization (--int8)"
        )
    kind = kind or model_kind(model)
    if kind not in KINDS:
        raise ConfigError(f"unknown kind '{kind}'; choose one of {', '.join(KINDS)}")
    spec = tokenizer_spec(tokenizer)
    edge_tok = EdgeTokenizer(spec)
    if isinstance(window_policy, dict):
        window_policy = WindowPolicy(**window_policy)
    policy = (window_policy or WindowPolicy(512, 512)).check()
    if labels is None:
        id2label = getattr(model.config, "id2label", None) or {}
        labels = [str(id2label.get(i, id2label.get(str(i), i))) for i in range(len(id2label))]
    labels = [str(x) for x in labels]
    if kind == "sequence-classification" and len(labels) != int(model.config.num_labels):
        raise ConfigError(f"{len(labels)} label names for a model with {model.config.num_labels} outputs")

    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = out.parent / f".{out.name}.probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise InputError(f"cannot write the bundle ({e.strerror or e})", path=str(out)) from e

    model = model.eval()
    with tempfile.TemporaryDirectory(prefix="genolm-export-") as tmp:
        fp32 = export_graph(model, Path(tmp) / "fp32.onnx", kind=kind)
        # parity: random ids (any vocab id, two shapes) and real windows tokenized as predict will
        rng = np.random.default_rng(0)
        vocab = len(spec["vocab"])
        diffs = []
        for b, t in [(n_random, edge_tok.n_tokens(policy.length)), (1, 37)]:
            ids = rng.integers(0, vocab, (b, t)).astype(np.int64)
            diffs.append(float(np.abs(_torch_out(model, kind, ids) - _ort_out(fp32, ids)).max()))
        diff_random = max(diffs)
        real = _real_windows(policy.length)
        real_ids = edge_tok.encode_windows(
            np.frombuffer("".join(real).encode(), np.uint8).reshape(len(real), -1)
        )
        ref_real = _torch_out(model, kind, real_ids)
        diff_real = float(np.abs(ref_real - _ort_out(fp32, real_ids)).max())
        log.info(
            "parity vs PyTorch: max abs diff %.3g (random ids), %.3g (lambda windows)", diff_random, diff_real
        )

        final, quant, diff_int8 = fp32, "none", None
        if mode != "none":
            final = Path(tmp) / "int8.onnx"
            _quantize(fp32, final, mode, edge_tok, calibration)
            quant = f"{mode}-int8"
            diff_int8 = float(np.abs(ref_real - _ort_out(final, real_ids)).max())
            log.info("int8 (%s) vs PyTorch fp32: max abs diff %.3g", mode, diff_int8)

        import onnx

        proto = onnx.load(str(final))
        meta = {
            "bundle_format": BUNDLE_FORMAT,
            "version": genolm_version(),
            "kind": kind,
            "model_type": str(getattr(model.config, "model_type", "")),
            "tokenizer": json.dumps(spec),
            "labels": json.dumps(labels),
            "window": json.dumps(policy._asdict()),
            "opset": str(OPSET),
            "exporter": f"torch.onnx.export(dynamo=True), torch {torch.__version__}",
            "parity": json.dumps(
                {
                    "max_abs_diff_random": diff_random,
                    "max_abs_diff_real": diff_real,
                    "max_abs_diff_int8": diff_int8,
                }
            ),
            "quantization": quant,
            "int8_format": {
                "none": "",
                "dynamic": "dynamic: int8 weights, activations quantized at run "
                "time (ConvInteger / MatMulInteger)",
                "static": STATIC_INT8_FORMAT,
            }[mode],
        }
        del proto.metadata_props[:]
        for k, v in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = KEY + k, v
        with atomic_path(out) as tmp_out:
            onnx.save(proto, str(tmp_out))
    return ExportReport(
        out,
        kind,
        OPSET,
        quant,
        diff_random,
        diff_real,
        diff_int8,
        out.stat().st_size,
        {KEY + k: v for k, v in meta.items()},
    )


#: how static int8 quantizes (measured on this project's gpn students and teachers, AMD EPYC with
#: avx512_vnni, 1 thread: QDQ with uint8 activations and per-channel int8 weights runs as
#: QLinearConv / QLinearMatMul and was 1.4-2.3x fp32, where dynamic int8 (ConvInteger) was 0.4-0.7x)
STATIC_INT8_FORMAT = "QDQ; uint8 activations (MinMax calibration); int8 per-channel weights"


def _quantize(src: Path, dst: Path, mode: str, edge_tok: EdgeTokenizer, calibration) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic, quantize_static

    if mode == "dynamic":
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
        return
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(
                [{"input_ids": edge_tok.encode(s)[None, :].astype(np.int64)} for s in calibration if s]
            )

        def get_next(self):
            return next(self.items, None)

    # onnxruntime's pre-processing (graph optimisation + shape inference) lets the quantizer see
    # fused Conv / MatMul nodes; a graph it cannot process is quantized as exported
    pre = dst.with_name(dst.stem + ".pre.onnx")
    try:
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    except Exception as e:  # pragma: no cover - depends on the graph
        log.info("onnxruntime quantization pre-processing failed (%s); quantizing the exported graph", e)
        pre = src
    # per-channel mode warns once per LayerNorm weight (rank 1: quantized per tensor instead) on the
    # root logger; those lines say nothing the user can act on
    quiet = _DropMessages("is out-of-range for weight")
    logging.getLogger().addFilter(quiet)
    try:
        quantize_static(
            str(pre), str(dst), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        )  # fmt: skip
    finally:
        logging.getLogger().removeFilter(quiet)


class _DropMessages(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def load_for_export(name_or_path: str):
    """``(model, tokenizer)`` from a sequence-classification folder (a bench run's model), a genolm
    model folder or a catalogue name (its LM / backbone)."""
    import genolm

    folder = Path(name_or_path)
    cfg = folder / "config.json"
    if cfg.is_file():
        arch = json.loads(cfg.read_text()).get("architectures") or []
        if any(a.endswith("ForSequenceClassification") for a in arch):
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            model = AutoModelForSequenceClassification.from_pretrained(str(folder))
            return model, AutoTokenizer.from_pretrained(str(folder))
    lm = genolm.load(str(name_or_path))
    return lm.model, lm.tokenizer
