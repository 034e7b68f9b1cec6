"""ONNX export (genolm.export) and the torch-free edge runtime (genolm.edge, `genolm predict`)."""

from __future__ import annotations

import gzip
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

from genolm.edge import EdgeTokenizer, WindowPolicy, read_bundle_metadata  # noqa: E402
from genolm.errors import ConfigError, InputError  # noqa: E402
from genolm.export import export_onnx, tokenizer_spec  # noqa: E402
from genolm.models import build_model  # noqa: E402
from genolm.tokenizers import get_tokenizer  # noqa: E402

SRC = str(Path(__file__).resolve().parents[1] / "src")
FAMILIES = ["encoder", "gpn", "gpn-rc", "convnova", "convnova-rc", "hyena", "decoder"]
W = 60


def _tiny(family: str, tok, head="sequence-classification"):
    torch.manual_seed(0)
    kw = {"hidden_size": 32, "num_hidden_layers": 2}
    if family in ("encoder", "decoder"):
        kw.update(num_attention_heads=2, intermediate_size=64)
    extra = {"num_labels": 2} if head == "sequence-classification" else {}
    return build_model(family, head, tokenizer=tok, **kw, **extra).eval()


@pytest.mark.parametrize("name,kw", [("char", {}), ("iupac", {}), ("kmer", {"k": 3}), ("kmer", {"k": 6})])
def test_edge_tokenizer_gives_genolm_ids(name, kw):
    # guards: the bundle's numpy tokenizer drifting from genolm's (templates, N, lower case, junk)
    tok = get_tokenizer(name, **kw)
    edge = EdgeTokenizer(tokenizer_spec(tok))
    rng = np.random.default_rng(0)
    for _ in range(100):
        s = "".join(rng.choice(list("ACGTacgtNnRX-"), rng.integers(6, 50)))
        assert edge.encode(s).tolist() == tok(s)["input_ids"], s


def test_bpe_is_refused_for_the_edge():
    from genolm.tokenizers.bpe import BPETokenizer

    class _Fake:  # the refusal reads only .scheme
        scheme = BPETokenizer.scheme

    with pytest.raises(ConfigError, match="cannot tokenize scheme 'bpe'"):
        tokenizer_spec(_Fake())


@pytest.mark.parametrize("family", FAMILIES)
def test_export_parity_every_family(family, tmp_path):
    tok = get_tokenizer("char")
    model = _tiny(family, tok)
    rep = export_onnx(model, tok, tmp_path / "m.onnx", window_policy=WindowPolicy(W, W))
    assert rep.max_abs_diff_random < 1e-4 and rep.max_abs_diff_real < 1e-4
    info = read_bundle_metadata(rep.path)
    assert info.kind == "sequence-classification" and info.opset == rep.opset == 18
    assert info.labels == ["LABEL_0", "LABEL_1"] and info.window.length == W
    assert info.parity["max_abs_diff_real"] == rep.max_abs_diff_real
    # dynamic batch and length: another shape than at export
    import onnxruntime as ort

    ids = np.random.default_rng(1).integers(7, 12, (3, 91)).astype(np.int64)
    s = ort.InferenceSession(str(rep.path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = model(input_ids=torch.from_numpy(ids)).logits.numpy()
    assert np.abs(s.run(None, {"input_ids": ids})[0] - ref).max() < 1e-4


def test_export_lm_head_kmer(tmp_path):
    tok = get_tokenizer("kmer", k=3)
    rep = export_onnx(
        _tiny("encoder", tok, head="lm"), tok, tmp_path / "lm.onnx", window_policy={"length": W, "stride": W}
    )
    assert rep.kind == "lm" and rep.max_abs_diff_real < 1e-4


# --- a tiny trained classifier: planted motif -> label 1 ---------------------------------------


def _motif_data(n, rng, length=W):
    seqs, ys = [], []
    for i in range(n):
        s = list(rng.choice(list("ACGT"), length))
        y = i % 2
        if y:
            p = rng.integers(0, length - 8)
            s[p : p + 8] = list("TATAATGG")
        seqs.append("".join(s))
        ys.append(y)
    return seqs, np.array(ys)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    rng = np.random.default_rng(0)
    tok = get_tokenizer("char")
    model = _tiny("gpn", tok)
    model.config.id2label = {0: "background", 1: "motif"}
    model.config.label2id = {"background": 0, "motif": 1}
    seqs, ys = _motif_data(256, rng)
    ids = torch.tensor([tok(s)["input_ids"] for s in seqs])
    y = torch.tensor(ys)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(200):
        idx = torch.randint(0, len(seqs), (32,))
        loss = torch.nn.functional.cross_entropy(model(input_ids=ids[idx]).logits, y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    d = tmp_path_factory.mktemp("bundle")
    rep = export_onnx(model, tok, d / "motif.onnx", window_policy=WindowPolicy(W, 30, "mean", 20))
    rep8 = export_onnx(
        model, tok, d / "motif.int8.onnx", window_policy=WindowPolicy(W, 30, "mean", 20), int8=True
    )
    return model, tok, rep, rep8


def test_int8_agrees_with_fp32(trained):
    from genolm.edge import EdgeClassifier

    model, tok, rep, rep8 = trained
    assert rep8.quantization == "dynamic-int8" and rep8.size_bytes < rep.size_bytes
    seqs, ys = _motif_data(200, np.random.default_rng(7))
    recs = [(f"r{i}", s) for i, s in enumerate(seqs)]
    fp = [r.label for r in EdgeClassifier(rep.path).score(recs)]
    q8 = [r.label for r in EdgeClassifier(rep8.path).score(recs)]
    truth = ["motif" if v else "background" for v in ys]
    assert np.mean([a == b for a, b in zip(fp, truth)]) > 0.8  # the model learned the motif
    assert np.mean([a == b for a, b in zip(fp, q8)]) >= 0.95


def test_static_int8_agrees_and_runs_qlinear_kernels(trained, tmp_path):
    # guards: static QDQ int8 (compress's default) that disagrees with fp32, or whose graph
    # onnxruntime does not fuse into int8 kernels (then it is no faster than fp32)
    from genolm.edge import EdgeClassifier
    from genolm.measure import optimized_ops

    model, tok, rep, _ = trained
    calib, _ = _motif_data(32, np.random.default_rng(11))
    pol = WindowPolicy(W, 30, "mean", 20)
    rep8 = export_onnx(model, tok, tmp_path / "s8.onnx", window_policy=pol, int8="static", calibration=calib)
    assert rep8.quantization == "static-int8" and "QDQ" in rep8.metadata["genolm.int8_format"]
    seqs, _ = _motif_data(200, np.random.default_rng(7))
    recs = [(f"r{i}", s) for i, s in enumerate(seqs)]
    fp = [r.label for r in EdgeClassifier(rep.path).score(recs)]
    q8 = [r.label for r in EdgeClassifier(rep8.path).score(recs)]
    assert np.mean([a == b for a, b in zip(fp, q8)]) >= 0.95
    ops = optimized_ops(rep8.path)
    assert ops.get("QLinearConv", 0) >= 1 and "ConvInteger" not in ops, ops
    assert "ConvInteger" in optimized_ops(trained[3].path)  # the dynamic bundle runs the other kernel


def test_stem_stride_exports_and_ignores_padding(tmp_path):
    # guards: a strided stem that breaks ONNX parity, or lets padding change a sequence's logits
    tok = get_tokenizer("char")
    torch.manual_seed(0)
    model = build_model(
        "gpn", "sequence-classification", tokenizer=tok, hidden_size=16, num_hidden_layers=3,
        num_labels=2, stem_stride=4,
    ).eval()  # fmt: skip
    rep = export_onnx(model, tok, tmp_path / "st.onnx", window_policy=WindowPolicy(W, W))
    assert rep.max_abs_diff_random < 1e-4 and rep.max_abs_diff_real < 1e-4
    enc = tok(["ACGTACGTAGGGTTTACGA", "ACGTAC"], padding="longest")
    ids, am = torch.tensor(enc["input_ids"]), torch.tensor(enc["attention_mask"])
    with torch.no_grad():
        padded = model(input_ids=ids, attention_mask=am).logits[1]
        alone = model(input_ids=ids[1:, : int(am[1].sum())]).logits[0]
    assert torch.allclose(padded, alone, atol=1e-5)
    with pytest.raises(ConfigError, match="stem_stride"):
        build_model("gpn", "token-classification", tokenizer=tok, hidden_size=16, num_hidden_layers=2,
                    stem_stride=2)  # fmt: skip


def _reads(tmp_path, n=30, seed=3) -> Path:
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        L = int(rng.integers(10, 400))
        s = "".join(rng.choice(list("ACGT"), L))
        lines += [f"@read{i}", s, "+", "I" * L]
    p = tmp_path / "reads.fq.gz"
    p.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return p


_CHECK = (
    "import sys; from genolm.cli.main import main; rc = main(sys.argv[1:]); "
    "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; "
    "assert not bad, bad; sys.exit(rc)"
)


def _run(args, **kw):
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", _CHECK, *args], capture_output=True, env=env, **kw)


def test_predict_is_torch_free_and_pools_per_read(trained, tmp_path):
    _, _, rep, _ = trained
    fq = _reads(tmp_path)
    out = tmp_path / "calls.tsv"
    r = _run(["predict", str(rep.path), "--fastq", str(fq), "--out", str(out)])
    assert r.returncode == 0, r.stderr.decode()
    rows = [ln.split("\t") for ln in out.read_text().splitlines()]
    assert rows[0] == ["read_id", "length", "n_windows", "label", "score_background", "score_motif"]
    assert len(rows) == 31
    for row in rows[1:]:
        L = int(row[1])
        if L < 20:  # the bundle's min_len: skipped and counted
            assert row[3] == "skipped" and row[2] == "0"
        else:
            nw = 1 if L <= W else len(range(0, L - W + 1, 30)) + ((L - W) % 30 != 0)
            assert int(row[2]) == nw and row[3] in ("background", "motif")
            assert abs(float(row[4]) + float(row[5]) - 1) < 1e-4
    assert "reads/s" in r.stderr.decode()
    n_short = sum(int(row[1]) < 20 for row in rows[1:])
    if n_short:
        assert f"{n_short} of 30 reads were shorter than --min-len 20" in r.stderr.decode()


def test_predict_streams_stdin(trained, tmp_path):
    _, _, rep, _ = trained
    fq = _reads(tmp_path, n=5)
    r = _run(["predict", str(rep.path), "--fastq", "-", "--min-len", "5"], input=fq.read_bytes())
    assert r.returncode == 0, r.stderr.decode()
    lines = r.stdout.decode().splitlines()
    assert len(lines) == 6 and all(ln.split("\t")[3] != "skipped" for ln in lines[1:])


def test_predict_matches_pytorch(trained):
    # guards: windowing / tokenization on the edge differing from what the model saw
    from genolm.edge import EdgeClassifier

    model, tok, rep, _ = trained
    seqs, _ = _motif_data(20, np.random.default_rng(5))
    got = np.stack(
        [r.scores for r in EdgeClassifier(rep.path).score([(str(i), s) for i, s in enumerate(seqs)])]
    )
    with torch.no_grad():
        ref = torch.softmax(
            model(input_ids=torch.tensor([tok(s)["input_ids"] for s in seqs])).logits, -1
        ).numpy()
    assert np.abs(got - ref).max() < 1e-4


# --- bad input --------------------------------------------------------------------------------


def test_broken_fastq_names_the_line(trained, tmp_path):
    _, _, rep, _ = trained
    fq = tmp_path / "broken.fq"
    fq.write_text("@a\nACGTACGTACGTACGTACGTAC\n+\nIIIIIIIIIIIIIIIIIIIIII\n@b\nACGT\nIIII\n")
    r = _run(["predict", str(rep.path), "--fastq", str(fq), "--out", str(tmp_path / "o.tsv")])
    assert r.returncode == 2 and "line 7" in r.stderr.decode(), r.stderr.decode()
    assert not (tmp_path / "o.tsv").exists()  # nothing half-written


def test_bundle_without_metadata_or_from_newer_genolm(trained, tmp_path):
    import onnx

    _, _, rep, _ = trained
    proto = onnx.load(str(rep.path))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "plain.onnx"))
    with pytest.raises(InputError, match="not a genolm bundle"):
        read_bundle_metadata(tmp_path / "plain.onnx")
    proto = onnx.load(str(rep.path))
    for p in proto.metadata_props:
        if p.key == "genolm.version":
            p.value = "99.0"
    onnx.save(proto, str(tmp_path / "new.onnx"))
    with pytest.raises(InputError, match="newer than this genolm"):
        read_bundle_metadata(tmp_path / "new.onnx")
    r = _run(["predict", str(tmp_path / "new.onnx"), "--fasta", "x.fa"])
    assert r.returncode == 2 and "upgrade genolm" in r.stderr.decode()


def test_unwritable_output(trained, tmp_path):
    _, tok, rep, _ = trained
    blocker = tmp_path / "file"
    blocker.write_text("")
    fa = tmp_path / "r.fa"
    fa.write_text(">a\n" + "ACGT" * 20 + "\n")
    r = _run(["predict", str(rep.path), "--fasta", str(fa), "--out", str(blocker / "calls.tsv")])
    assert r.returncode == 2 and "cannot write the output" in r.stderr.decode(), r.stderr.decode()
    with pytest.raises(InputError, match="cannot write the bundle"):
        export_onnx(_tiny("gpn", tok), tok, blocker / "m.onnx", window_policy=WindowPolicy(W, W))


def test_static_int8_needs_calibration(tmp_path):
    tok = get_tokenizer("char")
    with pytest.raises(ConfigError, match="needs calibration data"):
        export_onnx(_tiny("gpn", tok), tok, tmp_path / "m.onnx", int8="static")


def test_static_int8_with_calibration(tmp_path):
    tok = get_tokenizer("char")
    seqs, _ = _motif_data(8, np.random.default_rng(0))
    rep = export_onnx(
        _tiny("gpn", tok),
        tok,
        tmp_path / "s.onnx",
        window_policy=WindowPolicy(W, W),
        int8="static",
        calibration=seqs,
    )
    assert rep.quantization == "static-int8" and rep.max_abs_diff_int8 is not None


def test_unexportable_op_is_named(tmp_path):
    # guards: an opaque exporter traceback instead of the op's name and the way around
    tok = get_tokenizer("char")
    model = _tiny("gpn", tok)

    class Zeta(torch.nn.Module):
        def forward(self, x):
            return x + torch.special.zeta(x.abs() + 2.0, torch.tensor(1.5))

    model.model.layers[0].conv = torch.nn.Sequential(model.model.layers[0].conv, Zeta())
    with pytest.raises(ConfigError, match=r"zeta.*not supported.*Ways around"):
        export_onnx(model, tok, tmp_path / "m.onnx", window_policy=WindowPolicy(W, W))


def test_cli_export_then_metadata(tmp_path):
    tok = get_tokenizer("char")
    model = _tiny("gpn", tok)
    model.save_pretrained(tmp_path / "clf")
    tok.save_pretrained(tmp_path / "clf")
    from genolm.cli.main import main

    assert main(["export", str(tmp_path / "clf"), "--format", "onnx", "--out", str(tmp_path / "b.onnx"),
                 "--window", str(W), "--labels", "neg,pos", "-q"]) == 0  # fmt: skip
    info = read_bundle_metadata(tmp_path / "b.onnx")
    assert info.labels == ["neg", "pos"] and json.loads(info.raw["genolm.tokenizer"])["scheme"] == "char"
