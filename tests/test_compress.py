"""genolm compress: distillation, the trade-off report, the student bundle, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
torch = pytest.importorskip("torch")

from genolm.compress import (  # noqa: E402
    CompressConfig,
    build_student,
    compress,
    distill,
    distillation_loss,
    pareto_front,
)
from genolm.errors import ConfigError, InputError  # noqa: E402
from genolm.models import build_model  # noqa: E402
from genolm.tokenizers import get_tokenizer  # noqa: E402

SRC = str(Path(__file__).resolve().parents[1] / "src")
L = 48
FAST = {"max_epochs": 3, "patience": 2, "seeds": 2, "n_boot": 50, "n_latency": 5, "progress": False}


def _motif_rows(n, seed):
    rng = np.random.default_rng(seed)
    seqs, ys = [], []
    for i in range(n):
        s = list(rng.choice(list("ACGT"), L))
        y = i % 2
        if y:
            p = rng.integers(0, L - 8)
            s[p : p + 8] = list("TATAATGG")
        seqs.append("".join(s))
        ys.append(y)
    return seqs, ys


@pytest.fixture(scope="module")
def task_yaml(tmp_path_factory):
    d = tmp_path_factory.mktemp("task")
    for split, n, seed in [("train", 200, 0), ("valid", 60, 1), ("test", 80, 2)]:
        seqs, ys = _motif_rows(n, seed)
        (d / f"{split}.csv").write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in zip(seqs, ys)))
    (d / "task.yaml").write_text(
        "name: test/motif\ntask_type: binary\nlabels: [background, motif]\n"
        "data: {splits: {train: train.csv, valid: valid.csv, test: test.csv}}\n"
    )
    return d / "task.yaml"


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory, task_yaml):
    """A tiny fine-tuned encoder classifier, saved with save_pretrained (what compress takes)."""
    tok = get_tokenizer("kmer", k=3)
    torch.manual_seed(0)
    model = build_model(
        "encoder", "sequence-classification", tokenizer=tok, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, num_labels=2,
    )  # fmt: skip
    seqs, ys = _motif_rows(400, 5)
    ids = torch.tensor([tok(s)["input_ids"] for s in seqs])
    y = torch.tensor(ys)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        idx = torch.randint(0, len(seqs), (32,))
        loss = torch.nn.functional.cross_entropy(model(input_ids=ids[idx]).logits, y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    d = tmp_path_factory.mktemp("teacher")
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


def test_distillation_loss_decreases():
    # guards: a loss with the wrong sign / target (e.g. KL arguments swapped) that never trains
    tok = get_tokenizer("char")
    student = build_student(tok, 2, 20_000, layers=2)
    assert sum(p.numel() for p in student.parameters()) <= 20_000
    seqs, ys = _motif_rows(128, 0)
    rng = np.random.default_rng(0)
    teacher_logits = np.stack([np.where(np.array(ys) == 1, 3.0, -3.0), np.zeros(len(ys))], 1)[:, ::-1].copy()
    teacher_logits += rng.normal(0, 0.1, teacher_logits.shape)
    cfg = CompressConfig(max_epochs=6, patience=6, batch_size=16, lr=3e-3, progress=False)
    _, hist = distill(
        student, tok, (seqs, teacher_logits, ys), (seqs[:32], teacher_logits[:32], ys[:32]), cfg
    )
    losses = [h["train_loss"] for h in hist]
    assert losses[-1] < 0.8 * losses[0], losses
    # the KL term alone is zero when the student copies the teacher, positive otherwise
    t = torch.tensor(teacher_logits[:8], dtype=torch.float32)
    unl = torch.full((8,), -100)
    assert float(distillation_loss(t.clone(), t, unl)) == pytest.approx(0.0, abs=1e-6)
    assert float(distillation_loss(-t, t, unl)) > 0.1


def test_feature_distillation_trains():
    # guards: a feature term that never trains (projection not optimised) or breaks the KL path
    tok = get_tokenizer("char")
    student = build_student(tok, 2, 20_000, layers=2, stem_stride=2)
    seqs, ys = _motif_rows(128, 0)
    rng = np.random.default_rng(0)
    teacher_logits = np.stack([np.where(np.array(ys) == 1, -3.0, 3.0), np.zeros(len(ys))], 1)
    feats = np.stack([np.array(ys, float) * 2 - 1, rng.normal(0, 1, len(ys))], 1) + rng.normal(
        0, 0.1, (128, 2)
    )
    cfg = CompressConfig(max_epochs=6, patience=6, batch_size=16, lr=3e-3, feature_weight=1.0, progress=False)
    _, hist = distill(
        student,
        tok,
        (seqs, teacher_logits, ys, feats),
        (seqs[:32], teacher_logits[:32], ys[:32], feats[:32]),
        cfg,
    )
    losses = [h["train_loss"] for h in hist]
    assert losses[-1] < 0.8 * losses[0], losses
    with pytest.raises(ConfigError, match="pooled features"):
        distill(student, tok, (seqs, teacher_logits, ys), (seqs[:8], teacher_logits[:8], ys[:8]), cfg)


def test_torchao_int8_agrees(teacher_dir):
    pytest.importorskip("torchao")
    from genolm.compress import _time_torch, load_teacher, torchao_int8

    model, tok = load_teacher(teacher_dir)
    q = torchao_int8(model)
    assert any("Quantized" in type(m.weight).__name__ for m in q.modules() if isinstance(m, torch.nn.Linear))
    seqs, _ = _motif_rows(64, 3)
    _, l32 = _time_torch(model, tok, seqs, n_latency=2)
    timings, l8 = _time_torch(q, tok, seqs, n_latency=2)
    assert timings["throughput_seq_s"] > 0 and (l8.argmax(1) == l32.argmax(1)).mean() >= 0.9


def test_pareto_front():
    rows = [
        {"size_mb": 10, "mcc": 0.9, "p50_ms": 5},
        {"size_mb": 1, "mcc": 0.85, "p50_ms": 0.5},
        {"size_mb": 2, "mcc": 0.8, "p50_ms": 1},  # dominated by the second
    ]
    assert pareto_front(rows) == [True, True, False]


def test_compress_end_to_end(teacher_dir, task_yaml, tmp_path):
    out = tmp_path / "c"
    import importlib.util

    has_ao = importlib.util.find_spec("torchao") is not None
    cfg = CompressConfig(student_params=30_000, student_layers=3, torch_int8=has_ao, **FAST)
    rep = compress(str(teacher_dir), str(task_yaml), out, cfg)
    for f in ("compress.md", "compress.json", "tradeoff.png", "tradeoff.svg", "teacher.int8.onnx"):
        assert (out / f).is_file(), f
    data = json.loads((out / "compress.json").read_text())
    names = [r["variant"] for r in data["rows"]]
    assert names == ["teacher fp32", "teacher int8", "student fp32", "student int8"]
    by = {r["variant"]: r for r in data["rows"]}
    assert by["student int8"]["n_seeds"] == 2 and len(by["student int8"]["mcc_seeds"]) == 2
    assert by["student int8"]["size_mb"] < by["student fp32"]["size_mb"]
    assert by["teacher fp32"]["mcc"] > 0.5  # the tiny teacher learned the motif
    assert by["teacher int8"]["agreement_with_teacher_fp32"] >= 0.9
    assert any(r["pareto"] for r in data["rows"]) and data["kernel"]["onnxruntime"]
    assert all(r["p50_ms"] > 0 and 0 < r["peak_rss_mb"] < 400 for r in data["rows"])  # not the parent's
    assert "Pareto" in (out / "compress.md").read_text()
    # static QDQ int8 by default, and the report says which kernels ran
    assert by["student int8"]["quantization"] == "static-int8" and "QDQ" in by["student int8"]["int8_format"]
    assert by["student int8"]["ops_as_run"].get("QLinearConv", 0) >= 1, by["student int8"]["ops_as_run"]
    assert data["student"]["stem_stride"] == 4
    if has_ao:
        t = data["pytorch_quantization"]
        assert t["int8"]["throughput_seq_s"] > 0 and t["agreement"] >= 0.9 and "torchao" in t["library"]
        assert "PyTorch-path int8 (torchao" in (out / "compress.md").read_text()
    # the student bundle runs in `genolm predict`, torch-free
    fa = tmp_path / "r.fa"
    seqs, _ = _motif_rows(6, 9)
    fa.write_text("".join(f">r{i}\n{s}\n" for i, s in enumerate(seqs)))
    env = {**os.environ, "PYTHONPATH": SRC}
    res = subprocess.run(
        [sys.executable, "-m", "genolm.cli.main", "predict", str(rep.student_bundle), "--fasta", str(fa), "-q"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = [ln for ln in res.stdout.splitlines() if ln.split("\t")[0] in {f"r{i}" for i in range(6)}]
    assert len(rows) == 6 and all(("motif" in r) or ("background" in r) for r in rows)


def test_cli_compress_runs(teacher_dir, task_yaml, tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC}
    cmd = [sys.executable, "-m", "genolm.cli.main", "compress", str(teacher_dir), "--task", str(task_yaml)]
    cmd += ["--out", str(tmp_path / "o"), "--student-params", "20000", "--seeds", "1", "--max-epochs", "1"]
    cmd += ["--n-boot", "20", "--n-latency", "3", "--feature-weight", "0.5", "-q"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "o" / "compress.md").is_file()


# --- bad input --------------------------------------------------------------------------------


def test_no_task(teacher_dir, tmp_path):
    # guards: running without a task and failing deep inside load_task
    with pytest.raises(ConfigError, match="no task given"):
        compress(str(teacher_dir), None, tmp_path / "o", CompressConfig(**FAST))


def test_not_a_classifier(tmp_path, task_yaml):
    # guards: compressing an LM / backbone, whose logits are per token
    tok = get_tokenizer("char")
    m = build_model("gpn", "lm", tokenizer=tok, hidden_size=16, num_hidden_layers=1)
    m.save_pretrained(tmp_path / "lm")
    tok.save_pretrained(tmp_path / "lm")
    with pytest.raises(ConfigError, match="not a sequence classifier"):
        compress(str(tmp_path / "lm"), str(task_yaml), tmp_path / "o", CompressConfig(**FAST))


def test_static_int8_without_calibration():
    # guards: static quantization silently calibrated on nothing
    with pytest.raises(ConfigError, match="static int8 quantization needs calibration"):
        CompressConfig(int8="static", n_calibration=0)
    from genolm.export import export_onnx

    tok = get_tokenizer("char")
    m = build_model(
        "gpn", "sequence-classification", tokenizer=tok, hidden_size=16, num_hidden_layers=1, num_labels=2
    )
    with pytest.raises(ConfigError, match="static int8 quantization needs calibration"):
        export_onnx(m, tok, "/tmp/never.onnx", int8="static", calibration=None)


def test_unwritable_out(teacher_dir, task_yaml, tmp_path):
    # guards: an output path under a file, found only after minutes of distillation
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="file"):
        compress(str(teacher_dir), str(task_yaml), blocker / "out", CompressConfig(**FAST))
