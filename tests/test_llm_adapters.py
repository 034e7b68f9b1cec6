"""An adapter that added tokens, loaded onto its un-extended base by path: resized first, same outputs.

The bug this guards against (lm-evaluation-harness, fixed there later): PEFT loads the adapter onto a
base whose embedding matrix was never resized, and fails -- or, worse, runs with the wrong rows.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from genolm.llm.extend import ExtendConfig, extend_model
    from genolm.llm.toy import build_toy_llm

    root = tmp_path_factory.mktemp("adapters")
    out = {}
    for kind, tied in (("tied", True), ("untied", False)):
        base = build_toy_llm(root / f"base-{kind}", tie_word_embeddings=tied, seed=3)
        ext = extend_model(ExtendConfig(base=str(base), out=str(root / f"ext-{kind}")), progress=False)
        out[kind] = (base, ext.out_dir)
    return out


def _train_a_little(net, tok, steps=4):
    """A few AdamW steps on biotoken text, so the LoRA and biotoken weights move off their init."""
    from genolm.llm.pretrain import BiotokenExampleBuilder
    from genolm.train.masking import collate

    b = BiotokenExampleBuilder(tok, net.meta)
    rng = np.random.default_rng(0)
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=3e-2)
    net.train()
    for _ in range(steps):
        seqs = ["".join(rng.choice(list("ACGT"), 24)) for _ in range(4)]
        batch = collate([b.build(s, rng) for s in seqs], tok.pad_token_id)
        loss = net(**batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()


def _logits(model, tok, dna="ACGGTTACGATC"):
    from genolm.llm.extend import encode_dna

    ids = torch.tensor(
        [[tok.bos_token_id] + tok("DNA: ", add_special_tokens=False)["input_ids"] + encode_dna(dna, tok)]
    )
    with torch.no_grad():
        return model(input_ids=ids).logits


@pytest.mark.parametrize("new_tokens", ["trainable_tokens", "modules_to_save", "frozen"])
@pytest.mark.parametrize("kind", ["tied", "untied"])
def test_adapter_loads_onto_the_unextended_base_by_path(models, kind, new_tokens, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from genolm.llm.adapters import load_biotoken_model
    from genolm.llm.pretrain import BiotokenPretrainConfig, build_lm

    base, ext = models[kind]
    cfg = BiotokenPretrainConfig(model=str(ext), corpus=["x"], new_tokens=new_tokens, lora_r=4)
    torch.manual_seed(0)
    net, tok, meta = build_lm(cfg)
    ids = meta["token_ids"]
    before = net.lm.get_base_model().get_input_embeddings().weight.detach().clone()
    _train_a_little(net, tok)
    want = _logits(net.lm, tok)
    adapter = tmp_path / "adapter"
    net.save_pretrained(adapter)
    tok.save_pretrained(adapter)

    # the bug: plain PEFT onto the un-extended base cannot even load (or run) the adapter
    with pytest.raises((RuntimeError, IndexError), match="size mismatch|out of bounds|out of range"):
        naive = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter)
        _logits(naive, tok)

    # the fix: resize first (and rebuild the biotoken rows), then load; outputs equal the trained model
    on_base, tok2, meta2 = load_biotoken_model(adapter, base=str(base))
    assert len(tok2) == len(tok) and meta2["token_ids"] == ids
    torch.testing.assert_close(_logits(on_base, tok2), want, rtol=1e-5, atol=1e-5)
    # and onto the extended model it was trained from (the adapter's own base_model_name_or_path)
    on_ext, _, _ = load_biotoken_model(adapter)
    torch.testing.assert_close(_logits(on_ext, tok2), want, rtol=1e-5, atol=1e-5)
    # merging keeps the outputs (what evaluation does before adding a classification head)
    merged = on_base.merge_and_unload()
    torch.testing.assert_close(_logits(merged, tok2), want, rtol=1e-4, atol=1e-4)

    E = merged.get_input_embeddings().weight.detach()
    old = [i for i in range(E.shape[0]) if i not in ids]
    moved = (E[ids] - before[ids]).abs().amax(1)
    if new_tokens == "frozen":
        assert torch.equal(E[ids], before[ids])
    else:
        assert (moved > 1e-4).all()  # every biotoken row trained
    if new_tokens != "modules_to_save":
        torch.testing.assert_close(E[old], before[old])  # no other row moved
    if kind == "untied" and new_tokens != "frozen":
        H0 = AutoModelForCausalLM.from_pretrained(ext).get_output_embeddings().weight.detach()
        H = merged.get_output_embeddings().weight.detach()
        assert ((H[ids] - H0[ids]).abs().amax(1) > 1e-4).all()  # the untied output rows trained too


def test_trainable_parameter_counts(models):
    from genolm.llm.pretrain import BiotokenPretrainConfig, build_lm

    for kind in ("tied", "untied"):
        _, ext = models[kind]
        counts = {}
        for nt in ("frozen", "trainable_tokens", "modules_to_save"):
            net, tok, meta = build_lm(
                BiotokenPretrainConfig(model=str(ext), corpus=["x"], new_tokens=nt, lora_r=4)
            )
            counts[nt] = sum(p.numel() for p in net.parameters() if p.requires_grad)
        d = net.lm.get_base_model().config.hidden_size
        rows = net.lm.get_base_model().get_input_embeddings().weight.shape[0]
        heads = 1 if kind == "tied" else 2  # an untied head has its own biotoken rows / matrix
        assert counts["trainable_tokens"] - counts["frozen"] == heads * 4 * d
        assert counts["modules_to_save"] - counts["frozen"] == heads * rows * d
