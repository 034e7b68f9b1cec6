"""genolm's training kernels (genolm.infer.adamw / fuse_gelu / training_attention /
cls_row_last_layer): same results, only faster, and only where they are meant to apply."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def nt(tmp_path_factory):
    from transformers import AutoModelForSequenceClassification

    from genolm.catalogue.fixtures import make_tiny_nt

    folder = make_tiny_nt(tmp_path_factory.mktemp("nt"), hidden=32, layers=2, context=64)
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=2).eval()


def test_fuse_gelu_keeps_outputs_and_gradients(nt):
    from genolm.infer import fuse_gelu

    x = torch.randint(5, 4000, (3, 20))
    fused = copy.deepcopy(nt)
    assert fuse_gelu(fused) == 2  # one per layer
    out = []
    for m in (nt, fused):
        m.zero_grad()
        logits = m(input_ids=x).logits
        logits.sum().backward()
        out.append((logits.detach(), m.esm.encoder.layer[0].intermediate.dense.weight.grad.clone()))
    assert torch.allclose(out[0][0], out[1][0], atol=1e-5)
    assert torch.allclose(out[0][1], out[1][1], atol=1e-5)
    # guards against patching something that is not transformers' own ESM block
    assert fuse_gelu(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.GELU())) == 0


def test_training_attention_only_for_short_cpu_bf16_batches(nt):
    from genolm.infer import EAGER_ATTENTION_MAX_TOKENS, training_attention

    m = copy.deepcopy(nt)
    m.set_attn_implementation("sdpa")
    cpu = torch.device("cpu")
    assert training_attention(m, cpu, "fp32", 20) is None
    assert training_attention(m, cpu, "bf16", EAGER_ATTENTION_MAX_TOKENS + 1) is None
    assert m.config._attn_implementation == "sdpa"
    x = torch.randint(5, 4000, (2, 12))
    before = m(input_ids=x).logits
    assert training_attention(m, cpu, "bf16", 20) == "eager"
    assert m.config._attn_implementation == "eager"
    assert torch.allclose(before, m(input_ids=x).logits, atol=1e-5)


def test_adamw_is_fused_on_cpu_and_steps_like_the_loop():
    from genolm.infer import adamw

    torch.manual_seed(0)
    a = torch.nn.Linear(8, 4)
    b = copy.deepcopy(a)
    oa = adamw([{"params": a.parameters(), "weight_decay": 0.01}], 1e-2)
    ob = torch.optim.AdamW(b.parameters(), lr=1e-2, weight_decay=0.01, foreach=False)
    assert oa.defaults["fused"]
    x = torch.randn(16, 8)
    for _ in range(5):
        for m, o in ((a, oa), (b, ob)):
            o.zero_grad()
            m(x).pow(2).sum().backward()
            o.step()
    assert torch.allclose(a.weight, b.weight, atol=1e-6)


def _padded_batch(vocab: int, pad: int):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, vocab, (4, 13), generator=g)
    mask = torch.ones_like(ids)
    mask[2, 8:] = 0
    ids[2, 8:] = pad
    return ids, mask


@pytest.mark.parametrize("layout", ["nt", "esm2"])
@pytest.mark.parametrize("impl", ["sdpa", "eager"])
@pytest.mark.parametrize("bf16", [False, True])
def test_cls_row_last_layer_keeps_logits_and_gradients(tmp_path, layout, impl, bf16):
    """The last block at the <cls> row only: the same logits and gradients as the full block (learned
    and rotary positions, both attention paths, a padded row, fp32 and bf16 autocast), one row out of
    it, and the block is restored on exit."""
    from transformers import AutoModelForSequenceClassification

    from genolm.catalogue.fixtures import make_tiny_esm2, make_tiny_nt
    from genolm.infer import cls_row_last_layer

    folder = (make_tiny_nt if layout == "nt" else make_tiny_esm2)(tmp_path / layout)
    torch.manual_seed(0)
    full = AutoModelForSequenceClassification.from_pretrained(
        str(folder), num_labels=3, attn_implementation=impl
    ).train()
    fast = copy.deepcopy(full)
    ids, mask = _padded_batch(full.config.vocab_size, full.config.pad_token_id)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        ref = full(input_ids=ids, attention_mask=mask).logits.float()
    ref.square().sum().backward()
    with cls_row_last_layer(fast) as applied:
        assert applied == "cls_row"
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = fast(input_ids=ids, attention_mask=mask).logits.float()
            assert fast.esm(input_ids=ids, attention_mask=mask).last_hidden_state.shape[1] == 1
        out.square().sum().backward()
    tol = 1e-2 if bf16 else 1e-5  # bf16: the same ops in the same order, so rounding agrees too
    assert torch.allclose(ref, out, atol=tol)
    for (name, p), q in zip(full.named_parameters(), fast.parameters()):
        if p.grad is not None:
            assert torch.allclose(p.grad, q.grad, atol=tol, rtol=tol), name
    # the last block's queries and feed-forward trained on one row still got gradients
    assert fast.esm.encoder.layer[-1].intermediate.dense.weight.grad.abs().sum() > 0
    assert "forward" not in vars(fast.esm.encoder.layer[-1])
    assert fast.esm(input_ids=ids, attention_mask=mask).last_hidden_state.shape[1] == ids.shape[1]


def test_cls_row_last_layer_leaves_other_models_and_a_failed_check_alone(nt, tmp_path, monkeypatch):
    from transformers import AutoModelForTokenClassification

    from genolm import infer
    from genolm.catalogue.fixtures import make_tiny_nt

    tok = AutoModelForTokenClassification.from_pretrained(
        str(make_tiny_nt(tmp_path / "tok", hidden=32, layers=2, context=64)), num_labels=2
    )
    with infer.cls_row_last_layer(tok) as applied:  # every row's logits are read
        assert applied is None
    with infer.cls_row_last_layer(torch.nn.Linear(2, 2)) as applied:
        assert applied is None
    # a last block that does not compute what the full one does (as another transformers version's
    # layout could): the self-check refuses it and the model runs as it was
    m = copy.deepcopy(nt)
    ids, mask = _padded_batch(m.config.vocab_size, m.config.pad_token_id)
    before = m(input_ids=ids, attention_mask=mask).logits
    monkeypatch.setattr(
        infer,
        "_esm_cls_row_layer_forward",
        lambda self, hidden_states, **kw: hidden_states[:, :1] * 2.0,
    )
    with infer.cls_row_last_layer(m) as applied:
        assert applied is None
        assert torch.equal(before, m(input_ids=ids, attention_mask=mask).logits)
    assert "forward" not in vars(m.esm.encoder.layer[-1])


def test_cls_row_last_layer_is_restored_after_an_error_and_refuses_nesting_and_attentions(nt):
    from genolm.infer import cls_row_last_layer

    m = copy.deepcopy(nt)
    ids, mask = _padded_batch(m.config.vocab_size, m.config.pad_token_id)
    with pytest.raises(ValueError, match="inside"):
        with cls_row_last_layer(m) as applied:
            assert applied == "cls_row"
            with cls_row_last_layer(m) as inner:  # already applied: the inner one leaves it be
                assert inner is None
            with pytest.raises(RuntimeError, match="attention weights outside"):
                m(input_ids=ids, attention_mask=mask, output_attentions=True)
            raise ValueError("inside")
    assert "forward" not in vars(m.esm.encoder.layer[-1])
    full = m(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    assert full.hidden_states[-1].shape[1] == ids.shape[1]


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_finetuner_trains_an_esm_classifier_the_same_with_the_cls_row_block(tmp_path, monkeypatch, mode):
    """Fine-tuning with the <cls>-row last block gives the predictions of fine-tuning without it
    (LoRA dropout off: dropout on one row instead of all draws other random numbers)."""
    import contextlib

    import numpy as np

    import genolm
    from genolm.bench import finetune
    from genolm.catalogue.fixtures import make_tiny_nt

    lm = genolm.load(make_tiny_nt(tmp_path / "nt", hidden=32, layers=2, context=64))
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), int(n))) for n in rng.integers(30, 60, 40)]  # padded batches
    y = np.array([int(s.count("G") + s.count("C") > len(s) / 2) for s in seqs])
    cfg = finetune.FinetuneConfig(
        mode=mode, max_epochs=2, batch_size=8, precision="fp32", progress=False, patience=5, lora_dropout=0.0
    )

    def run():
        est = finetune.Finetuner(lm.for_task("binary", mode), lm.tokenizer, "binary", cfg, seed=0)
        est.fit(seqs[:32], y[:32], valid=(seqs[32:], y[32:]))
        return est, est.predict_with_scores(seqs).y_score

    fast, p_fast = run()
    assert fast.last_block_ == "cls_row"
    assert not any("forward" in vars(m) for m in fast.model_.modules() if type(m).__name__ == "EsmLayer")
    monkeypatch.setattr(finetune, "cls_row_last_layer", lambda model: contextlib.nullcontext())
    full, p_full = run()
    assert full.last_block_ is None
    np.testing.assert_allclose(p_fast, p_full, atol=1e-4)
    assert [h["train_loss"] for h in fast.history_] == pytest.approx(
        [h["train_loss"] for h in full.history_], abs=1e-4
    )
