"""genolm's training kernels (genolm.infer.adamw / fuse_gelu / training_attention): same results,
only faster, and only where they are meant to apply."""

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
