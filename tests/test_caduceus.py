"""genolm.models.caduceus: the pure-PyTorch Caduceus / PlantCaduceus port.

Tiny checkpoints in the published folder format (``make_tiny_caduceus``) are loaded through the
``Auto*`` classes without remote code.  The expected names, vocabulary and config keys below are
written out from the published code (kuleshov-group/caduceus ``caduceus/modeling_caduceus.py``,
``modeling_rcps.py``, ``tokenization_caduceus.py``; ``mamba_ssm/modules/mamba_simple.py``), not
derived from the implementation under test.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoTokenizer

from genolm.errors import ConfigError, InputError
from genolm.models import caduceus as cad

# layer 0 of a Caduceus-Ph checkpoint (fused_add_norm, rms_norm, bidirectional_weight_tie): the
# reverse Mamba's in_proj / out_proj are tied to the forward one's and the LM head to the
# embedding, so the Hub's safetensors files hold only the sources of those ties
PH_GLOBAL = [
    "caduceus.backbone.embeddings.word_embeddings.weight",
    "caduceus.backbone.norm_f.weight",
]
PH_LAYER0 = [
    "caduceus.backbone.layers.0.mixer.mamba_fwd.in_proj.weight",
    "caduceus.backbone.layers.0.mixer.mamba_fwd.conv1d.weight",
    "caduceus.backbone.layers.0.mixer.mamba_fwd.conv1d.bias",
    "caduceus.backbone.layers.0.mixer.mamba_fwd.x_proj.weight",
    "caduceus.backbone.layers.0.mixer.mamba_fwd.dt_proj.weight",
    "caduceus.backbone.layers.0.mixer.mamba_fwd.dt_proj.bias",
    "caduceus.backbone.layers.0.mixer.mamba_fwd.A_log",
    "caduceus.backbone.layers.0.mixer.mamba_fwd.D",
    "caduceus.backbone.layers.0.mixer.mamba_fwd.out_proj.weight",
    "caduceus.backbone.layers.0.mixer.mamba_rev.conv1d.weight",
    "caduceus.backbone.layers.0.mixer.mamba_rev.conv1d.bias",
    "caduceus.backbone.layers.0.mixer.mamba_rev.x_proj.weight",
    "caduceus.backbone.layers.0.mixer.mamba_rev.dt_proj.weight",
    "caduceus.backbone.layers.0.mixer.mamba_rev.dt_proj.bias",
    "caduceus.backbone.layers.0.mixer.mamba_rev.A_log",
    "caduceus.backbone.layers.0.mixer.mamba_rev.D",
    "caduceus.backbone.layers.0.norm.weight",
]
# Caduceus-PS: RCPSEmbedding / RCPSWrapper / RCPSLMHead add a level and two complement buffers;
# with fused_add_norm the block norm is the bare RMSNorm
PS_GLOBAL = [
    "caduceus.backbone.embeddings.word_embeddings.embedding.weight",
    "caduceus.backbone.embeddings.word_embeddings.complement_map",
    "caduceus.backbone.norm_f.weight",
    "lm_head.complement_map",
]
PS_LAYER0 = [
    "caduceus.backbone.layers.0.mixer.submodule.mamba_fwd.in_proj.weight",
    "caduceus.backbone.layers.0.mixer.submodule.mamba_fwd.conv1d.weight",
    "caduceus.backbone.layers.0.mixer.submodule.mamba_fwd.conv1d.bias",
    "caduceus.backbone.layers.0.mixer.submodule.mamba_fwd.x_proj.weight",
    "caduceus.backbone.layers.0.mixer.submodule.mamba_fwd.dt_proj.weight",
    "caduceus.backbone.layers.0.mixer.submodule.mamba_fwd.dt_proj.bias",
    "caduceus.backbone.layers.0.mixer.submodule.mamba_fwd.A_log",
    "caduceus.backbone.layers.0.mixer.submodule.mamba_fwd.D",
    "caduceus.backbone.layers.0.mixer.submodule.mamba_fwd.out_proj.weight",
    "caduceus.backbone.layers.0.mixer.submodule.mamba_rev.conv1d.weight",
    "caduceus.backbone.layers.0.mixer.submodule.mamba_rev.conv1d.bias",
    "caduceus.backbone.layers.0.mixer.submodule.mamba_rev.x_proj.weight",
    "caduceus.backbone.layers.0.mixer.submodule.mamba_rev.dt_proj.weight",
    "caduceus.backbone.layers.0.mixer.submodule.mamba_rev.dt_proj.bias",
    "caduceus.backbone.layers.0.mixer.submodule.mamba_rev.A_log",
    "caduceus.backbone.layers.0.mixer.submodule.mamba_rev.D",
    "caduceus.backbone.layers.0.norm.weight",
]
# the published tokenizer's vocabulary, in id order
PUBLISHED_VOCAB = "[CLS] [SEP] [BOS] [MASK] [PAD] [RESERVED] [UNK] A C G T N".split()
# published config.json (caduceus-ps_seqlen-131k_d_model-256_n_layer-16): keys and complement_map
PUBLISHED_CONFIG_KEYS = {
    "architectures", "auto_map", "bidirectional", "bidirectional_strategy", "bidirectional_weight_tie",
    "complement_map", "d_model", "fused_add_norm", "initializer_cfg", "model_type", "n_layer",
    "norm_epsilon", "pad_vocab_size_multiple", "rcps", "residual_in_fp32", "rms_norm", "ssm_cfg",
    "torch_dtype", "transformers_version", "vocab_size",
}  # fmt: skip
PUBLISHED_COMPLEMENT = {str(i): i for i in range(16)} | {"7": 10, "8": 9, "9": 8, "10": 7}
N_LAYER = 2


def names_for(global_names, layer0, n_layer=N_LAYER):
    return set(global_names) | {
        k.replace("layers.0.", f"layers.{i}.") for i in range(n_layer) for k in layer0
    }


@pytest.fixture(scope="module", autouse=True)
def registered():
    cad.register()


@pytest.fixture(scope="module")
def ph(tmp_path_factory):
    return cad.make_tiny_caduceus(tmp_path_factory.mktemp("ph"), rcps=False, n_layer=N_LAYER)


@pytest.fixture(scope="module")
def ps(tmp_path_factory):
    return cad.make_tiny_caduceus(tmp_path_factory.mktemp("ps"), rcps=True, n_layer=N_LAYER)


def file_keys(folder):
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        return set(f.keys())


def mlm(folder, **kwargs):
    return AutoModelForMaskedLM.from_pretrained(str(folder), **kwargs).eval()


def rc_ids(ids, comp):
    return comp[ids.flip(-1)]


# --- the published format ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ph", "ps"])
def test_weight_names_are_the_published_ones(kind, request):
    folder = request.getfixturevalue(kind)
    expected = names_for(PH_GLOBAL, PH_LAYER0) if kind == "ph" else names_for(PS_GLOBAL, PS_LAYER0)
    assert file_keys(folder) == expected


def test_config_json_is_the_published_layout(ps):
    cfg = json.loads((ps / "config.json").read_text())
    assert set(cfg) == PUBLISHED_CONFIG_KEYS
    assert cfg["architectures"] == ["CaduceusForMaskedLM"]
    assert cfg["auto_map"]["AutoModelForMaskedLM"] == "modeling_caduceus.CaduceusForMaskedLM"
    assert cfg["auto_map"]["AutoModel"] == "modeling_caduceus.Caduceus"
    assert cfg["complement_map"] == PUBLISHED_COMPLEMENT
    assert cfg["vocab_size"] == 16 and cfg["model_type"] == "caduceus"


@pytest.mark.parametrize("kind, width", [("ph", 16), ("ps", 32)])
def test_auto_classes_load_the_folder_without_remote_code(kind, width, request):
    folder = request.getfixturevalue(kind)
    assert type(AutoConfig.from_pretrained(str(folder))) is cad.CaduceusConfig
    model = mlm(folder)
    assert type(model) is cad.CaduceusForMaskedLM
    # every weight is the file's, not a fresh initialisation
    state = model.state_dict()
    for k, v in load_file(str(folder / "model.safetensors")).items():
        assert torch.equal(state[k], v), k
    ids = torch.randint(7, 12, (2, 9), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        out = model(ids, output_hidden_states=True)
        base = AutoModel.from_pretrained(str(folder)).eval()(ids)
    assert out.logits.shape == (2, 9, 16)
    # published: the input of every layer, plus the final normed state (fused_add_norm)
    assert len(out.hidden_states) == N_LAYER + 1
    assert all(h.shape == (2, 9, width) for h in out.hidden_states)
    assert type(base) is not cad.CaduceusForMaskedLM and base.last_hidden_state.shape == (2, 9, width)
    torch.testing.assert_close(base.last_hidden_state, out.hidden_states[-1])


@pytest.mark.parametrize("kind", ["ph", "ps"])
def test_tied_weights_are_shared_after_loading(kind, request):
    model = mlm(request.getfixturevalue(kind))
    for layer in model.caduceus.backbone.layers:
        mixer = layer.mixer.submodule if kind == "ps" else layer.mixer
        assert mixer.mamba_rev.in_proj.weight is mixer.mamba_fwd.in_proj.weight
        assert mixer.mamba_rev.out_proj.weight is mixer.mamba_fwd.out_proj.weight
        assert mixer.mamba_rev.x_proj.weight is not mixer.mamba_fwd.x_proj.weight
    assert model.lm_head.weight is model.get_input_embeddings().weight


def test_tokenizer_has_the_published_layout_and_offsets(ph):
    tok = AutoTokenizer.from_pretrained(str(ph))
    assert type(tok) is cad.CaduceusTokenizer
    vocab = tok.get_vocab()
    assert [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])] == PUBLISHED_VOCAB
    # published: upper-case, unknown characters -> [UNK]=6, [SEP]=1 appended
    assert tok("ACGTNacgtX")["input_ids"] == [7, 8, 9, 10, 11, 7, 8, 9, 10, 6, 1]
    assert tok("AC[MASK]G", add_special_tokens=False)["input_ids"] == [7, 8, 3, 9]
    assert (tok.pad_token_id, tok.mask_token_id, tok.eos_token_id, tok.unk_token_id) == (4, 3, 1, 6)
    assert tok.model_max_length == 131072 and tok.padding_side == "left"
    enc = tok(["ACG", "A"], padding=True, return_offsets_mapping=True)
    assert enc["input_ids"] == [[7, 8, 9, 1], [4, 4, 7, 1]]
    assert enc["offset_mapping"] == [[(0, 1), (1, 2), (2, 3), (0, 0)], [(0, 0), (0, 0), (0, 1), (0, 0)]]
    assert tok.complement_map[7] == 10 and tok.complement_map[8] == 9 and tok.complement_map[11] == 11


# --- the maths --------------------------------------------------------------------------------


def naive_scan(u, delta, A, B, C, D, z, delta_bias):
    """The Mamba-1 recurrence one position at a time, in float64."""
    u, delta, A, B, C, D, z, delta_bias = (t.double() for t in (u, delta, A, B, C, D, z, delta_bias))
    dt = F.softplus(delta + delta_bias[:, None])  # (b, d, l)
    h = torch.zeros(u.shape[0], u.shape[1], A.shape[1], dtype=torch.float64)
    ys = []
    for t in range(u.shape[-1]):
        h = torch.exp(dt[..., t, None] * A) * h + (dt[..., t] * u[..., t])[..., None] * B[:, None, :, t]
        ys.append((h * C[:, None, :, t]).sum(-1) + D * u[..., t])
    return torch.stack(ys, dim=-1) * F.silu(z)


@pytest.mark.parametrize("chunk_size", [1, 3, None])
def test_scan_equals_the_step_by_step_recurrence(chunk_size):
    g = torch.Generator().manual_seed(1)
    b, d, n, length = 2, 5, 4, 11
    u, delta, z = (torch.randn(b, d, length, generator=g) for _ in range(3))
    A = -torch.rand(d, n, generator=g) * 3
    B, C = torch.randn(b, n, length, generator=g), torch.randn(b, n, length, generator=g)
    D, bias = torch.randn(d, generator=g), torch.randn(d, generator=g)
    with torch.no_grad():  # the in-place fast path
        got = cad.selective_scan(u, delta, A, B, C, D, z, bias, chunk_size=chunk_size)
    want = naive_scan(u, delta, A, B, C, D, z, bias)
    assert got.dtype == torch.float32 and got.shape == (b, d, length)
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5)
    # under autograd: the same values, and the gradients of the recurrence
    inputs = [t.clone().requires_grad_() for t in (u, delta, A, B, C)]
    ref_inputs = [t.double().clone().requires_grad_() for t in (u, delta, A, B, C)]
    weight = torch.randn(b, d, length, generator=g)
    y = cad.selective_scan(*inputs, D, z, bias, chunk_size=chunk_size)
    torch.testing.assert_close(y.detach().double(), want, rtol=1e-5, atol=1e-5)
    (y * weight).sum().backward()
    (naive_scan(*ref_inputs, D, z, bias) * weight).sum().backward()
    for mine, ref in zip(inputs, ref_inputs):
        torch.testing.assert_close(mine.grad.double(), ref.grad, rtol=1e-4, atol=1e-4)


def test_causal_conv_equals_the_published_conv1d():
    conv = torch.nn.Conv1d(6, 6, 4, groups=6, padding=3)  # Mamba's conv1d
    x = torch.randn(2, 9, 6)  # (B, L, E)
    want = conv(x.transpose(1, 2))[..., :9].transpose(1, 2)
    torch.testing.assert_close(cad.causal_conv(x, conv.weight, conv.bias), want)


def test_ps_model_is_reverse_complement_equivariant(ps, ph):
    model = mlm(ps)
    comp = torch.tensor(model.config.complement_ids)
    ids = torch.randint(7, 12, (3, 25), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        fwd, rev = model(ids, output_hidden_states=True), model(rc_ids(ids, comp), output_hidden_states=True)
    # logits of rc(x) are the reversed, complemented logits of x
    torch.testing.assert_close(rev.logits, fwd.logits.flip(1)[..., comp], rtol=1e-5, atol=1e-5)
    # every hidden state is equivariant: rc of a state flips positions and channels
    for h, h_rc in zip(fwd.hidden_states, rev.hidden_states):
        torch.testing.assert_close(h_rc, h.flip(1, 2), rtol=1e-5, atol=1e-5)
    # the same check fails for the non-equivariant Caduceus-Ph, so it is not vacuous
    other = mlm(ph)
    with torch.no_grad():
        a, b = other(ids).logits, other(rc_ids(ids, comp)).logits
    assert (b - a.flip(1)[..., comp]).abs().max() > 1e-2


def _with_fused(folder, fused: bool):
    """The folder's weights in a model built with ``fused_add_norm=fused`` (norm names follow)."""
    config = cad.CaduceusConfig.from_pretrained(str(folder), fused_add_norm=fused)
    model = cad.CaduceusForMaskedLM(config).eval()
    state = load_file(str(folder / "model.safetensors"))
    if config.rcps and not fused:
        state = {k.replace(".norm.weight", ".norm.submodule.weight"): v for k, v in state.items()}
    model.load_state_dict(state, strict=False)
    model.tie_weights()
    return model


def test_fused_add_norm_selects_the_published_rcps_path(ph, ps):
    ids = torch.randint(7, 12, (2, 17), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        # Caduceus-Ph: the fused and non-fused paths are one function
        a, b = (_with_fused(ph, f)(ids).logits for f in (True, False))
        torch.testing.assert_close(a, b)
        # Caduceus-PS: the fused path (every published config) swaps the strands at each block
        fused, plain = _with_fused(ps, True), _with_fused(ps, False)
        a, b = fused(ids).logits, plain(ids).logits
        assert (a - b).abs().max() > 1e-3
        comp = torch.tensor(fused.config.complement_ids)
        for model, logits in ((fused, a), (plain, b)):  # both are RC-equivariant
            torch.testing.assert_close(model(rc_ids(ids, comp)).logits, logits.flip(1)[..., comp])


def test_padding_never_changes_a_sequence(ps):
    model, tok = cad.load(ps)
    seqs = ["ACGTTGCAAC", "GGA"]
    enc = tok(seqs, padding=True, return_tensors="pt")
    assert enc["attention_mask"][1].tolist() == [0] * 7 + [1] * 4  # left padding, [SEP] appended
    with torch.no_grad():
        batch = model(**enc).logits
        for i, s in enumerate(seqs):
            alone = model(**tok([s], return_tensors="pt")).logits[0]
            torch.testing.assert_close(batch[i, -alone.shape[0] :], alone)
        assert torch.all(batch[1, :7] == 0)
    gappy = torch.tensor([[1, 0, 1, 1]])
    with pytest.raises(InputError, match="gaps"):
        model(torch.full((1, 4), 7), attention_mask=gappy)


def test_state_dict_roundtrip(ps, tmp_path):
    model = mlm(ps)
    ids = torch.tensor([[7, 8, 9, 10, 11, 10, 9, 8, 7, 9, 9, 10]])
    # in memory
    fresh = cad.CaduceusForMaskedLM(model.config).eval()
    fresh.load_state_dict(model.state_dict())
    # through save_pretrained: the saved file has the published names again
    model.save_pretrained(tmp_path)
    assert file_keys(tmp_path) == names_for(PS_GLOBAL, PS_LAYER0)
    again = mlm(tmp_path)
    with torch.no_grad():
        want = model(ids).logits
        torch.testing.assert_close(fresh(ids).logits, want)
        torch.testing.assert_close(again(ids).logits, want)
    loss = again(ids, labels=torch.where(ids > 8, ids, -100)).loss
    assert torch.isfinite(loss) and loss > 0


def test_plantcaduceus_flavour_uses_the_gpn_tokenizer(tmp_path):
    folder = cad.make_tiny_caduceus(tmp_path / "plant", rcps=True, flavour="plantcaduceus")
    model, tok = cad.load(folder)
    assert tok.get_vocab() == {"[PAD]": 0, "[MASK]": 1, "[UNK]": 2, "a": 3, "c": 4, "g": 5, "t": 6}
    enc = tok("ACGTN", return_offsets_mapping=True)
    assert enc["input_ids"] == [3, 4, 5, 6, 2] and enc["offset_mapping"][1] == (1, 2)
    assert model.config.vocab_size == 8 and model.config.complement_ids[:7] == [0, 1, 2, 6, 5, 4, 3]
    ids = torch.tensor([enc["input_ids"][:4]])
    comp = torch.tensor(model.config.complement_ids)
    with torch.no_grad():
        torch.testing.assert_close(model(rc_ids(ids, comp)).logits, model(ids).logits.flip(1)[..., comp])
    with pytest.raises(ConfigError, match="AutoTokenizer"):
        cad.CaduceusTokenizer.from_pretrained(str(folder))


# --- clear errors -----------------------------------------------------------------------------


def _copy(folder, tmp_path, edit=None):
    out = tmp_path / "ckpt"
    shutil.copytree(folder, out)
    if edit:
        cfg = json.loads((out / "config.json").read_text())
        edit(cfg)
        (out / "config.json").write_text(json.dumps(cfg))
    return out


def test_unknown_config_keys_are_clear_errors(ph, tmp_path):
    bad = _copy(ph, tmp_path, lambda c: c.update(d_modle=c.pop("d_model")))
    with pytest.raises(ConfigError, match="unknown key 'd_modle'.*Did you mean 'd_model'"):
        mlm(bad)
    with pytest.raises(ConfigError, match="headdim.*Mamba-2"):
        cad.CaduceusConfig(ssm_cfg={"headdim": 64})
    with pytest.raises(ConfigError, match="bidirectional_strategy 'concat'"):
        cad.CaduceusConfig(bidirectional_strategy="concat")
    with pytest.raises(ConfigError, match="complement_map"):
        cad.CaduceusConfig(rcps=True, vocab_size=16)
    with pytest.raises(ConfigError, match="'bidirectional' must be bool"):
        cad.CaduceusConfig(bidirectional="true,")
    with pytest.raises(ConfigError, match="pairing"):
        cad.CaduceusConfig(vocab_size=8, complement_map={0: 1, 1: 2, 2: 0})


def test_wrong_weights_are_clear_errors(ph, ps, tmp_path):
    wide = _copy(ph, tmp_path / "a", lambda c: c.update(d_model=32))
    with pytest.raises(
        InputError, match=r"wrong shape.*\[\d+, 16\] in the file but config.json implies \[\d+, 32\]"
    ):
        mlm(wide)
    # PS weights under a Ph config: the names differ
    renamed = _copy(ps, tmp_path / "b", lambda c: c.update(rcps=False))
    with pytest.raises(InputError, match="not part of this Caduceus model"):
        mlm(renamed)
    short = _copy(ph, tmp_path / "c")
    state = load_file(str(short / "model.safetensors"))
    del state["caduceus.backbone.layers.1.mixer.mamba_rev.A_log"]
    save_file(state, str(short / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(InputError, match="missing, e.g. 'caduceus.backbone.layers.1.mixer.mamba_rev.A_log'"):
        mlm(short)
    # a tied copy may be in the file (converted .bin files have it) but must equal its source
    untied = _copy(ph, tmp_path / "d")
    state = load_file(str(untied / "model.safetensors"))
    fwd = state["caduceus.backbone.layers.0.mixer.mamba_fwd.in_proj.weight"]
    state["caduceus.backbone.layers.0.mixer.mamba_rev.in_proj.weight"] = fwd.clone()
    save_file(state, str(untied / "model.safetensors"), metadata={"format": "pt"})
    mlm(untied)
    state["caduceus.backbone.layers.0.mixer.mamba_rev.in_proj.weight"] = fwd + 1
    save_file(state, str(untied / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(InputError, match="should be tied"):
        mlm(untied)
    (short / "model.safetensors").unlink()
    with pytest.raises(InputError, match="no model.safetensors"):
        mlm(short)
