"""Contract and invariant tests for every registered model family, on tiny configs (hidden 32, 2 layers)."""

from __future__ import annotations

import time

import pytest
import torch
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

import genolm.models as M
from genolm.errors import ConfigError

FAMILIES = M.MODELS.names()
CAUSAL = [f for f in FAMILIES if M.MODELS.get(f).objective == "clm"]
V = 12  # the char tokenizer's layout: [CLS]=0 [SEP]=1 [BOS]=2 [MASK]=3 [PAD]=4 ... A=7 C=8 G=9 T=10 N=11
NUC = (7, 11)  # A..T (randint's upper bound is exclusive)
TINY = {"vocab_size": V, "hidden_size": 32, "num_hidden_layers": 2}
EXTRA = {"hyena": {"filter_order": 16, "max_position_embeddings": 64}}
AUTO = {
    "base": AutoModel,
    "sequence-classification": AutoModelForSequenceClassification,
    "token-classification": AutoModelForTokenClassification,
}


def tiny(family: str, head: str = "lm", seed: int = 0, **kw):
    torch.manual_seed(seed)
    return M.build_model(family, head, **{**TINY, **EXTRA.get(family, {}), **kw})


def ids(B: int = 2, T: int = 24, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(*NUC, (B, T), generator=g)


def scramble(model, std: float = 0.3, seed: int = 0):
    """Large random weights, so that invariance tests cannot pass because a layer is ~0 at init."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return model.eval()


def main_output(out) -> torch.Tensor:
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


# --- one contract over every family x head --------------------------------------------------


@pytest.mark.parametrize("head", M.HEADS)
@pytest.mark.parametrize("family", FAMILIES)
def test_contract(family, head, tmp_path):
    fam = M.MODELS.get(family)
    model = tiny(family, head, num_labels=3)
    B, T, H = 2, 24, TINY["hidden_size"]
    x = ids(B, T)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 18:] = 0

    # forward shapes, loss finite, backward reaches the embeddings
    labels = None
    if head == "lm":
        if fam.objective == "mlm":
            labels = torch.full_like(x, -100)
            labels[:, ::5] = x[:, ::5]
        else:
            labels = x.masked_fill(mask == 0, -100)
    elif head == "sequence-classification":
        labels = torch.tensor([0, 2])
    elif head == "token-classification":
        labels = torch.randint(0, 3, (B, T)).masked_fill(mask == 0, -100)
    out = (
        model(x, attention_mask=mask, labels=labels) if labels is not None else model(x, attention_mask=mask)
    )
    if head == "lm":  # MLM with labels: logits only at the labelled positions
        expected = (int((labels != -100).sum()), V) if fam.objective == "mlm" else (B, T, V)
    else:
        expected = {"base": (B, T, H), "sequence-classification": (B, 3), "token-classification": (B, T, 3)}[
            head
        ]
    assert tuple(main_output(out).shape) == expected
    if labels is not None:
        assert torch.isfinite(out.loss)
        out.loss.backward()
        grad = model.get_input_embeddings().weight.grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0

    # uniform embed on every model
    model.eval()
    assert model.embed(x, mask).shape == (B, H)
    assert model.token_hidden_states(x, mask).shape == (B, T, H)

    # save_pretrained (safetensors) -> AutoModelFor*.from_pretrained gives identical outputs
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    auto = AUTO.get(head) or (AutoModelForMaskedLM if fam.objective == "mlm" else AutoModelForCausalLM)
    loaded = auto.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model)
    with torch.no_grad():
        a, b = main_output(model(x, attention_mask=mask)), main_output(loaded(x, attention_mask=mask))
    assert torch.equal(a, b)


@pytest.mark.parametrize("family", FAMILIES)
def test_padding_does_not_change_embedding(family):
    model = scramble(tiny(family, "base"))
    x = ids(1, 20)
    padded = torch.cat([x, torch.full((1, 7), model.config.pad_token_id)], dim=1)
    mask = torch.cat([torch.ones(1, 20), torch.zeros(1, 7)], dim=1).long()
    with torch.no_grad():
        for pooling in ("mean", "last", "cls"):
            torch.testing.assert_close(
                model.embed(padded, mask, pooling=pooling),
                model.embed(x, pooling=pooling),
                atol=1e-5,
                rtol=1e-5,
            )
        torch.testing.assert_close(
            model.token_hidden_states(padded, mask)[:, :20], model.token_hidden_states(x)
        )


@pytest.mark.parametrize("family", CAUSAL)
def test_causal_families_do_not_look_ahead(family):
    model = scramble(tiny(family))
    x = ids(2, 32)
    y = x.clone()
    y[:, 20:] = (y[:, 20:] - 6) % 4 + 7  # change the future only (A->C, C->G, ...)
    with torch.no_grad():
        a, b = model(x).logits, model(y).logits
    torch.testing.assert_close(a[:, :20], b[:, :20], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(a[:, 20:], b[:, 20:])  # the test can fail


def test_decoder_left_padding_gives_finite_outputs():
    # guards the all-masked attention row of a left-padding query, which SDPA turns into NaN
    model = tiny("decoder")
    x = ids(2, 10)
    mask = torch.ones_like(x)
    mask[0, :4] = 0
    assert torch.isfinite(model(x, attention_mask=mask).logits).all()


# --- encoder options ------------------------------------------------------------------------


@pytest.mark.parametrize("position_embedding", ["learned", "rope", "alibi"])
@pytest.mark.parametrize("activation,norm_position", [("gelu", "post"), ("swiglu", "pre")])
def test_encoder_mlm_options(position_embedding, activation, norm_position):
    model = tiny(
        "encoder", position_embedding=position_embedding, activation=activation, norm_position=norm_position
    )
    assert model.lm_head.decoder.weight is model.model.embed_tokens.weight  # tied by default
    x = ids(2, 16)
    labels = torch.full_like(x, -100)
    labels[:, 3] = x[:, 3]
    mask = torch.ones_like(x)
    mask[1, 12:] = 0
    out = model(x, attention_mask=mask, labels=labels)
    out.loss.backward()
    assert torch.isfinite(out.loss) and out.logits.shape == (2, V)


@pytest.mark.parametrize("position_embedding", ["rope", "alibi"])
def test_relative_positions_extrapolate(position_embedding):
    model = tiny("encoder", position_embedding=position_embedding, max_position_embeddings=16).eval()
    with torch.no_grad():
        out = model(ids(1, 64))
    assert out.logits.shape == (1, 64, V) and torch.isfinite(out.logits).all()


def test_learned_positions_refuse_long_inputs():
    # guards a silent index error inside nn.Embedding for sequences beyond the table
    model = tiny("encoder", position_embedding="learned", max_position_embeddings=16)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(ids(1, 17))


def test_mlm_gathers_labelled_positions_only():
    model = tiny("encoder").eval()
    x = ids(2, 16)
    labels = torch.full_like(x, -100)
    labels[0, 2], labels[1, 7] = x[0, 2], x[1, 7]
    with torch.no_grad():
        sparse = model(x, labels=labels)
        full = model(x, labels=labels, return_full_logits=True)
    assert sparse.logits.shape == (2, V) and full.logits.shape == (2, 16, V)
    torch.testing.assert_close(sparse.logits, full.logits[labels != -100])
    torch.testing.assert_close(sparse.loss, full.loss)


@pytest.mark.parametrize("position_embedding", ["learned", "rope", "alibi"])
@pytest.mark.parametrize("activation,norm_position", [("gelu", "post"), ("swiglu", "pre")])
@pytest.mark.parametrize("split", [True, False], ids=["q-from-weight-slices", "fused-qkv-call"])
def test_sparse_last_block_equals_full_forward(position_embedding, activation, norm_position, split):
    """The last block run only at labelled positions gives the full forward's loss, gradients and
    logits, with padding, a row with one label and rows with different label counts; both with q
    projected at the labelled rows only (plain ``nn.Linear``) and with the fused ``qkv`` module
    called everywhere (the path an adapter on ``qkv`` takes)."""
    from genolm.models.encoder import SelfAttention

    kw = dict(position_embedding=position_embedding, activation=activation, norm_position=norm_position)
    model = scramble(tiny("encoder", num_attention_heads=4, **kw), std=0.2).double().train()
    if not split:  # any module other than a plain nn.Linear (an adapter, a subclass) takes the fused call
        for m in model.modules():
            if isinstance(m, SelfAttention):
                m.qkv.__class__ = type("QKV", (torch.nn.Linear,), {})
    B, T = 3, 20
    x = ids(B, T)
    am = torch.ones(B, T, dtype=torch.long)
    am[1, 15:] = 0
    sel = torch.rand(B, T, generator=torch.Generator().manual_seed(3)) < 0.3
    sel[1, 15:], sel[2] = False, False
    sel[2, 0] = True
    labels = torch.where(sel, x, -100)
    w = torch.rand(B, T, generator=torch.Generator().manual_seed(4), dtype=torch.float64)

    def run(sparse: bool):
        model.config.sparse_last_block = sparse
        out = model(x, attention_mask=am, labels=labels, loss_weights=w)
        return out, torch.autograd.grad(out.loss, list(model.parameters()), allow_unused=True)

    (sparse, g_sparse), (dense, g_dense) = run(True), run(False)
    torch.testing.assert_close(sparse.logits, dense.logits)
    torch.testing.assert_close(sparse.loss, dense.loss)
    for a, b in zip(g_sparse, g_dense):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b)
    with torch.no_grad():
        full = model(x, attention_mask=am, return_full_logits=True).logits  # (B, T, V)
        torch.testing.assert_close(model.logits_at(x, am, sel), full[sel])
        hidden = model.model(x, attention_mask=am, select=sel).last_hidden_state
    assert hidden.shape == (int(sel.sum()), 32)


def test_loss_weights():
    model = scramble(tiny("gpn"))  # at init every token's loss is ~log(V), which hides weighting
    x = ids(1, 16)
    labels = torch.full_like(x, -100)
    labels[0, [2, 5, 9]] = x[0, [2, 5, 9]]
    w = torch.ones(1, 16)
    with torch.no_grad():
        plain = model(x, labels=labels).loss
        ones = model(x, labels=labels, loss_weights=w).loss
        w[0, 5] = 0.0  # a weight of 0 removes the token from the loss
        drop = model(x, labels=labels, loss_weights=w).loss
        only = model(x, labels=labels.masked_fill(torch.arange(16) == 5, -100)).loss
    torch.testing.assert_close(plain, ones)
    torch.testing.assert_close(drop, only)
    assert not torch.isclose(drop, plain)


def test_autocast_bf16_all_families():
    for family in FAMILIES:
        model = tiny(family)
        x = ids(2, 32)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(
                x, labels=x if M.MODELS.get(family).objective == "clm" else x.masked_fill(x > 8, -100)
            )
        out.loss.backward()
        assert torch.isfinite(out.loss), family


# --- RC equivariance ------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["gpn-rc", "convnova-rc"])
def test_rc_cnn_is_equivariant(family):
    # ids 5 and 6 stand in for a further complement pair (e.g. lower-case bases of another tokenizer)
    model = scramble(tiny(family, complement_pairs=[[5, 6]]))
    perm = torch.tensor(model.config.complement_map())
    assert perm[[7, 8, 9, 10, 11, 5, 6, 4, 3]].tolist() == [10, 9, 8, 7, 11, 6, 5, 4, 3]
    x = torch.randint(5, 12, (3, 40), generator=torch.Generator().manual_seed(3))
    rc_x = perm[x].flip(1)
    with torch.no_grad():
        f_x, f_rc = model(x).logits, model(rc_x).logits  # (B, T, V)
    rc_f = f_x.flip(1)[..., perm]  # reverse positions, complement the vocabulary axis
    torch.testing.assert_close(f_rc, rc_f, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(f_rc, f_x, atol=1e-3)  # not trivially symmetric
    # logits_at (the selected positions only) is equivariant too
    sel = torch.zeros_like(x, dtype=torch.bool)
    sel[:, [0, 17, 39]] = True
    with torch.no_grad():
        torch.testing.assert_close(model.logits_at(x, select=sel), f_x[sel], atol=1e-5, rtol=1e-5)
    for pooling in ("mean", "max"):  # the pooled output is RC-invariant under either pooling
        seq_cls = scramble(
            tiny(family, "sequence-classification", complement_pairs=[[5, 6]], classifier_pooling=pooling)
        )
        with torch.no_grad():
            torch.testing.assert_close(seq_cls(x).logits, seq_cls(rc_x).logits, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(seq_cls.embed(x), seq_cls.embed(rc_x), atol=1e-5, rtol=1e-5)


def test_rc_config_validates_pairs():
    # guards a silent non-involution (a token paired twice) that would break equivariance
    with pytest.raises(ConfigError, match="paired twice"):
        M.build_model("gpn-rc", **TINY, complement_pairs=[[7, 11]])  # A is already paired with T


# --- hyena ----------------------------------------------------------------------------------


def test_hyena_runs_at_8k_quickly():
    model = tiny("hyena").eval()
    x = ids(1, 8192)
    t0 = time.perf_counter()
    with torch.no_grad():
        out = model(x)
    assert out.logits.shape == (1, 8192, V) and torch.isfinite(out.logits).all()
    assert time.perf_counter() - t0 < 20  # O(L log L); dense attention at 8k would be far slower


def test_hyena_shifted_short_conv_equals_conv1d():
    """The short filter's shifted multiply-adds compute exactly nn.Conv1d's causal depthwise conv."""
    import torch.nn.functional as F

    from genolm.models.hyena import CausalDepthwiseConv1d

    conv = scramble(CausalDepthwiseConv1d(12, 3), std=0.5)

    def reference(u):
        return F.conv1d(u, conv.weight, conv.bias, padding=2, groups=12)[..., : u.shape[-1]]

    u = torch.randn(2, 12, 17, generator=torch.Generator().manual_seed(0), requires_grad=True)
    y, y_ref = conv(u), reference(u)
    torch.testing.assert_close(y, y_ref, atol=1e-6, rtol=1e-6)
    g = torch.randn_like(y)
    grads = torch.autograd.grad(y, (u, conv.weight, conv.bias), g)
    grads_ref = torch.autograd.grad(y_ref, (u, conv.weight, conv.bias), g)
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        yb, yb_ref = conv(u.bfloat16()), reference(u.bfloat16())
    assert yb.dtype == yb_ref.dtype == torch.bfloat16
    torch.testing.assert_close(yb.float(), y_ref, atol=0.05, rtol=0.02)  # one bf16 rounding
    u2 = u.detach().clone()
    u2[..., 10] += 1.0
    y2 = conv(u2)
    assert torch.equal(y2[..., :10], y[..., :10].detach()) and not torch.equal(y2[..., 10], y[..., 10])


def test_hyena_model_with_shifted_conv_equals_conv1d_model(monkeypatch):
    import torch.nn.functional as F

    from genolm.models.hyena import CausalDepthwiseConv1d

    model = scramble(tiny("hyena"), std=0.2)
    x = ids(2, 40)
    with torch.no_grad():
        shifted = model(x).logits
        monkeypatch.setattr(
            CausalDepthwiseConv1d,
            "forward",
            lambda self, u: F.conv1d(u, self.weight, self.bias, padding=2, groups=self.groups)[
                ..., : u.shape[-1]
            ],
        )
        conv1d = model(x).logits
    assert shifted.abs().max() > 0.1
    torch.testing.assert_close(shifted, conv1d, atol=1e-5, rtol=1e-5)


# --- attention kernels: eager vs SDPA ---------------------------------------------------------


def _count_sdpa(monkeypatch) -> list[int]:
    """Count calls of F.scaled_dot_product_attention (to see which attention path ran)."""
    import torch.nn.functional as F

    calls = [0]
    real = F.scaled_dot_product_attention

    def counted(*a, **kw):
        calls[0] += 1
        return real(*a, **kw)

    monkeypatch.setattr(F, "scaled_dot_product_attention", counted)
    return calls


@pytest.mark.parametrize(
    "family,kw",
    [
        ("encoder", {}),  # RoPE, SwiGLU, pre-LN
        ("encoder", {"position_embedding": "alibi"}),  # float bias
        ("encoder", {"position_embedding": "learned", "activation": "gelu", "norm_position": "post"}),
        ("decoder", {}),
    ],
)
def test_eager_attention_equals_sdpa(family, kw, monkeypatch):
    """attention: eager (matmul-softmax-matmul) gives SDPA's outputs and gradients, with padding too."""
    calls = _count_sdpa(monkeypatch)
    x = ids(3, 20)
    mask = torch.ones_like(x)
    if family == "decoder":
        mask[1, :6] = 0  # left padding: a bool causal + key mask
    else:
        mask[1, 14:] = 0  # right padding: a bool key mask (or -inf in the ALiBi bias)
    labels = x.masked_fill(x > 8, -100) if family == "encoder" else x.masked_fill(mask == 0, -100)
    runs = {}
    for attn, autocast in [("sdpa", False), ("eager", False), ("sdpa", True), ("eager", True)]:
        model = scramble(tiny(family, attention=attn, **kw), std=0.2).train()
        before = calls[0]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = model(x, attention_mask=mask, labels=labels)
        out.loss.backward()
        assert (calls[0] > before) == (attn == "sdpa")  # the path asked for is the path that ran
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        runs[attn, autocast] = (out.loss.detach(), out.logits.detach().float(), grads)
    ref_loss, ref_logits, ref_grads = runs["sdpa", False]
    loss, logits, grads = runs["eager", False]
    torch.testing.assert_close(loss, ref_loss, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grads, ref_grads, atol=1e-5, rtol=1e-4)
    # in bf16 both paths round; eager's error against float32 is no worse than SDPA's own
    for i, ref in enumerate((ref_loss, ref_logits, ref_grads)):
        err_sdpa = (runs["sdpa", True][i] - ref).abs().max()
        err_eager = (runs["eager", True][i] - ref).abs().max()
        assert err_eager <= 2 * err_sdpa + 1e-3 * ref.abs().max(), (i, err_eager, err_sdpa)


def test_auto_attention_is_eager_only_when_training_short_cpu_sequences(monkeypatch):
    from genolm.models import encoder

    calls = _count_sdpa(monkeypatch)
    for family in ("encoder", "decoder"):
        model = tiny(family).train()  # attention: auto
        assert model.config.attention == "auto"
        n = model.config.num_hidden_layers
        x = ids(2, 24)
        before = calls[0]
        model(x, labels=x).loss.backward()
        assert calls[0] == before  # training, short, CPU: eager
        with torch.no_grad():
            model(x)
        assert calls[0] == before + n  # inference: SDPA
        monkeypatch.setattr(encoder, "EAGER_MAX_TOKENS", 16)
        model(x, labels=x).loss.backward()
        assert calls[0] == before + 2 * n  # longer than EAGER_MAX_TOKENS: SDPA
        monkeypatch.undo()
        calls = _count_sdpa(monkeypatch)
    with pytest.raises(ConfigError, match="attention"):
        tiny("encoder", attention="flash")


# --- registry, config errors, golden values -------------------------------------------------


def test_unknown_config_key_suggests_nearest():
    # guards a typo being silently stored on the config (PreTrainedConfig accepts any kwarg)
    with pytest.raises(ConfigError, match="Did you mean 'hidden_size'"):
        M.build_model("encoder", hiden_size=64)
    with pytest.raises(ConfigError, match="Did you mean 'alibi'"):
        M.build_model("encoder", position_embedding="albi")
    with pytest.raises(ConfigError, match="unknown head"):
        M.build_model("gpn", head="sequence-clasification")


def test_registry_entries_and_lora_targets():
    import peft

    for name, fam in M.MODELS.items():
        assert fam.objective in ("mlm", "clm")
        model = tiny(name, "sequence-classification")
        assert M.family_of(model) is fam
        names = [n for n, _ in model.named_modules()]
        for target in fam.lora_target_modules:
            assert any(n.endswith("." + target) for n in names), (name, target)
        lora = peft.get_peft_model(
            model,
            peft.LoraConfig(
                r=2,
                target_modules=list(fam.lora_target_modules),
                modules_to_save=list(fam.lora_modules_to_save),
            ),
        )
        out = lora(ids(2, 16), labels=torch.tensor([0, 1]))
        out.loss.backward()


def test_build_model_reads_tokenizer_ids():
    class Tok:  # the duck-typed part of a Hugging Face tokenizer that build_model reads
        pad_token_id, mask_token_id = 4, 3

        def __len__(self):
            return 11

        def get_vocab(self):
            return {
                "[CLS]": 0,
                "[SEP]": 1,
                "[UNK]": 2,
                "[MASK]": 3,
                "[PAD]": 4,
                "A": 5,
                "C": 6,
                "G": 7,
                "T": 8,
            }

    model = M.build_model("gpn-rc", tokenizer=Tok(), hidden_size=16, num_hidden_layers=1)
    cfg = model.config
    assert (cfg.vocab_size, cfg.pad_token_id, cfg.mask_token_id) == (11, 4, 3)
    assert cfg.complement_map()[5:9] == [8, 7, 6, 5]


def test_build_model_with_the_char_tokenizer():
    tokenizers = pytest.importorskip("genolm.tokenizers")
    tok = tokenizers.TOKENIZERS.get("char")()
    model = M.build_model("gpn-rc", tokenizer=tok, hidden_size=16, num_hidden_layers=1)
    assert model.config.vocab_size == len(tok) and model.config.pad_token_id == tok.pad_token_id
    assert model.config.nucleotide_token_ids == tok.convert_tokens_to_ids(list("ACGT"))
    # the defaults are this layout, so a bare config fits the char tokenizer too
    assert M.GenolmGPNRCConfig().complement_map() == model.config.complement_map()


def test_encoder_dnabert_design_equals_bert():
    """learned positions + GELU + post-LN is BERT: copy our weights into BertForMaskedLM, same logits."""
    from transformers import BertConfig, BertForMaskedLM

    ours = scramble(
        tiny(
            "encoder",
            position_embedding="learned",
            activation="gelu",
            norm_position="post",
            max_position_embeddings=64,
            intermediate_size=128,
            layer_norm_eps=1e-12,
        ),
        std=0.2,
    )
    bert = BertForMaskedLM(
        BertConfig(
            vocab_size=V,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=128,
            max_position_embeddings=64,
            layer_norm_eps=1e-12,
        )
    ).eval()
    sd = ours.state_dict()
    new = {
        "bert.embeddings.word_embeddings.weight": sd["model.embed_tokens.weight"],
        "bert.embeddings.position_embeddings.weight": sd["model.embed_positions.weight"],
        "bert.embeddings.token_type_embeddings.weight": torch.zeros(2, 32),
        "bert.embeddings.LayerNorm.weight": sd["model.embed_norm.weight"],
        "bert.embeddings.LayerNorm.bias": sd["model.embed_norm.bias"],
        "cls.predictions.transform.dense.weight": sd["lm_head.dense.weight"],
        "cls.predictions.transform.dense.bias": sd["lm_head.dense.bias"],
        "cls.predictions.transform.LayerNorm.weight": sd["lm_head.norm.weight"],
        "cls.predictions.transform.LayerNorm.bias": sd["lm_head.norm.bias"],
        "cls.predictions.bias": sd["lm_head.decoder.bias"],
    }
    for i in range(2):
        ours_i, bert_i = f"model.layers.{i}.", f"bert.encoder.layer.{i}."
        for kind in ("weight", "bias"):
            q, k, v = sd[ours_i + f"attn.qkv.{kind}"].chunk(3, dim=0)
            new |= {bert_i + f"attention.self.query.{kind}": q, bert_i + f"attention.self.key.{kind}": k}
            new[bert_i + f"attention.self.value.{kind}"] = v
            for theirs, mine in [
                ("attention.output.dense", "attn.out_proj"),
                ("attention.output.LayerNorm", "norm1"),
                ("intermediate.dense", "mlp.fc1"),
                ("output.dense", "mlp.fc2"),
                ("output.LayerNorm", "norm2"),
            ]:
                new[bert_i + f"{theirs}.{kind}"] = sd[ours_i + f"{mine}.{kind}"]
    missing, unexpected = bert.load_state_dict(new, strict=False)
    assert not unexpected and set(missing) <= {
        "cls.predictions.decoder.weight",
        "cls.predictions.decoder.bias",
    }
    bert.cls.predictions.decoder.weight = bert.bert.embeddings.word_embeddings.weight
    x = ids(2, 20)
    mask = torch.ones_like(x)
    mask[1, 15:] = 0
    with torch.no_grad():
        torch.testing.assert_close(
            ours(x, attention_mask=mask).logits, bert(x, attention_mask=mask).logits, atol=1e-4, rtol=1e-4
        )


def test_alibi_attention_matches_explicit_softmax():
    from genolm.models.encoder import SelfAttention, alibi_bias

    cfg = M.GenolmEncoderConfig(hidden_size=32, num_attention_heads=4, position_embedding="alibi")
    attn = scramble(SelfAttention(cfg))
    x = torch.randn(1, 9, 32, generator=torch.Generator().manual_seed(0))
    bias = alibi_bias(4, 9, x.device)  # (1, nh, T, T)
    q, k, v = attn.qkv(x).view(1, 9, 3, 4, 8).permute(2, 0, 3, 1, 4)
    w = torch.softmax(q @ k.transpose(-1, -2) / 8**0.5 + bias, dim=-1)  # (1, nh, T, T)
    expected = attn.out_proj((w @ v).transpose(1, 2).reshape(1, 9, 32))
    with torch.no_grad():
        torch.testing.assert_close(attn(x, bias), expected.detach(), atol=1e-5, rtol=1e-5)
    assert bias[0, 0, 2, 5] == bias[0, 0, 5, 2] < 0  # symmetric, penalises distance


def test_rope_scores_depend_only_on_offset():
    from genolm.models.encoder import apply_rope, rope_cos_sin

    T, hd = 20, 8
    cos, sin = rope_cos_sin(T, hd, 10000.0, torch.device("cpu"), torch.float32)  # (T, 1, 1, hd)
    q, k = torch.randn(2, hd, generator=torch.Generator().manual_seed(0))
    Q = apply_rope(q.expand(1, T, 1, 1, hd), cos, sin).view(T, hd)  # the same vector at every position
    K = apply_rope(k.expand(1, T, 1, 1, hd), cos, sin).view(T, hd)
    S = Q @ K.T  # (T, T)
    torch.testing.assert_close(S[3, 1], S[10, 8])
    torch.testing.assert_close(S[1, 3], S[12, 14])
    assert not torch.isclose(S[3, 1], S[1, 3])


def test_activation_checkpointing_gives_same_gradients():
    x = ids(2, 16)
    labels = x.masked_fill(x > 8, -100)
    grads = []
    for checkpointing in (False, True):
        model = tiny("encoder").train()
        if checkpointing:
            model.activation_checkpointing_enable()
        model(x, labels=labels).loss.backward()
        grads.append(model.get_input_embeddings().weight.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_golden_values():
    # weights from our own seeded generator, not Hugging Face's init: the golden values pin the
    # architecture (attention, RoPE, SwiGLU, norms, head), not the initialiser
    model = scramble(tiny("encoder"), std=0.2, seed=1234)
    x = torch.tensor([[7, 8, 9, 10, 11, 7, 7, 8]])
    with torch.no_grad():
        out = model(x).logits[0, :2, 7:11]  # A, C, G, T logits at the first two positions
    golden = torch.tensor(GOLDEN)
    torch.testing.assert_close(out, golden, atol=1e-4, rtol=0)


GOLDEN = [[-0.2161, 0.6497, -0.2221, -0.2415], [-0.2487, 0.6606, -0.1452, -0.1235]]  # from one seeded run


# --- heads, pooling and per-nucleotide mapping ----------------------------------------------


def test_pooling_modes_are_mask_aware():
    h = torch.arange(2 * 4 * 1, dtype=torch.float32).view(2, 4, 1)  # (B, T, H)
    mask = torch.tensor([[1, 1, 1, 0], [0, 1, 1, 1]])  # right and left padding
    assert M.pool(h, mask, "mean").squeeze(-1).tolist() == [1.0, 6.0]
    assert M.pool(h, mask, "last").squeeze(-1).tolist() == [2.0, 7.0]
    assert M.pool(h, mask, "cls").squeeze(-1).tolist() == [0.0, 4.0]
    # max: padding never wins, even where it holds the largest value (row 0's position 3 = 3.0)
    assert M.pool(h, mask, "max").squeeze(-1).tolist() == [2.0, 7.0]
    assert M.pool(-h, mask, "max").squeeze(-1).tolist() == [0.0, -5.0]
    with pytest.raises(ConfigError, match="Did you mean 'mean'"):
        M.pool(h, mask, "maen")


@pytest.mark.parametrize(
    "problem_type,labels", [("regression", [[0.5], [1.5]]), ("multi_label", [[1, 0], [0, 1]])]
)
def test_sequence_problem_types(problem_type, labels):
    n = len(labels[0])
    pt = "regression" if problem_type == "regression" else "multi_label_classification"
    model = tiny("encoder", "sequence-classification", num_labels=n, problem_type=pt)
    out = model(ids(2, 12), labels=torch.tensor(labels, dtype=torch.float32))
    assert torch.isfinite(out.loss) and out.logits.shape == (2, n)


def test_tokens_to_nucleotides_averages_overlapping_tokens():
    # three overlapping 3-mers over 5 nt, plus a special token (0, 0) that must be skipped
    values = torch.tensor([[[100.0], [1.0], [2.0], [3.0]]])  # (B=1, T=4, C=1)
    offsets = torch.tensor([[[0, 0], [0, 3], [1, 4], [2, 5]]])
    res = M.tokens_to_nucleotides(values, offsets)
    assert res.values.squeeze(-1).tolist() == [[1.0, 1.5, 2.0, 2.5, 3.0]]
    assert res.coverage.tolist() == [[1, 2, 3, 2, 1]]
    # non-overlapping BPE-like tokens spread over their bases; uncovered tail has coverage 0
    res = M.tokens_to_nucleotides(torch.tensor([[1.0, 2.0]]), torch.tensor([[[0, 2], [2, 5]]]), length=7)
    assert res.values.tolist() == [[1.0, 1.0, 2.0, 2.0, 2.0, 0.0, 0.0]]
    assert res.coverage.tolist() == [[1, 1, 1, 1, 1, 0, 0]]


def test_token_classification_to_nucleotides_end_to_end():
    model = tiny("encoder", "token-classification", num_labels=2).eval()
    x = ids(2, 10)
    offsets = torch.stack([torch.arange(10), torch.arange(10) + 1], dim=-1).expand(2, 10, 2)  # char tokens
    with torch.no_grad():
        logits = model(x).logits  # (B, T, 2)
    res = M.tokens_to_nucleotides(logits, offsets)
    torch.testing.assert_close(res.values, logits)
