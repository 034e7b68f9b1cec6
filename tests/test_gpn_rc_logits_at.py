"""Cone-pruned MLM logits of the RC-equivariant CNN (``GenolmGPNRCForMaskedLM.logits_at``) and their use in scoring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genolm.io import Variant
from genolm.models import build_model
from genolm.models.gpn import ConvBlock
from genolm.models.gpn_rc import GenolmGPNRCForMaskedLM, rc_tap_rows
from genolm.tokenizers import get_tokenizer
from genolm.variants import score_variants

# (layers, kernel, dilation_max): short reach (every layer pruned), GPN's schedule (a dense bottom
# and a pruned top), and a reach far beyond T (mostly dense)
CONFIGS = [(3, 5, 1), (6, 5, 4), (12, 9, 32)]
VOCAB = 12  # char tokenizer layout: A C G T = 7..10, [PAD] = 4


def _model(
    layers: int, kernel: int, dilation_max: int, hidden: int = 16, seed: int = 0
) -> GenolmGPNRCForMaskedLM:
    torch.manual_seed(seed)
    model = build_model(
        "gpn-rc",
        vocab_size=VOCAB,
        hidden_size=hidden,  # both strands: D = hidden / 2 per strand
        num_hidden_layers=layers,
        kernel_size=kernel,
        dilation_max=dilation_max,
    )
    # large random weights: at init the convs are ~0 next to the residual, which would hide errors;
    # random (not scaled-up init) so that LayerNorm weights and biases are not symmetric under a
    # channel flip, which a strand mix-up could otherwise get away with
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return model.eval()


def _batch(B: int, T: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random ids, a right-padding mask (row 0 full, the others random lengths), and a random
    selection with 0, T - 1 and several positions per row."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(7, 11, (B, T), generator=g)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    lengths[0] = T
    am = (torch.arange(T)[None, :] < lengths[:, None]).long()
    ids[am == 0] = 4
    select = torch.rand(B, T, generator=g) < 3 / T
    select[0, 0] = select[0, T - 1] = select[-1, T - 1] = True
    return ids, am, select


def _full(model, ids, am, select) -> torch.Tensor:
    return model(ids, attention_mask=am, return_full_logits=True).logits[select]


@pytest.mark.parametrize("hidden", [16, 32])
@pytest.mark.parametrize("layers,kernel,dilation_max", CONFIGS)
@pytest.mark.parametrize("T", [1, 9, 40, 130])
def test_logits_at_equals_forward(layers, kernel, dilation_max, T, hidden):
    model = _model(layers, kernel, dilation_max, hidden)
    for seed in range(3):
        ids, am, select = _batch(4, T, seed)
        with torch.inference_mode():
            want = _full(model, ids, am, select)
            got = model.logits_at(ids, attention_mask=am, select=select)
            got_unpadded = model.logits_at(ids[:1], select=select[:1])  # no attention_mask at all
            hidden_want = model.model(ids, attention_mask=am).last_hidden_state[select]
            hidden_got = model.model.hidden_at(ids, am, select)
        assert got.shape == (int(select.sum()), VOCAB)
        assert want.abs().max() > 0.5  # logits far from zero: an error cannot hide in rounding
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(
            got_unpadded, _full(model, ids[:1], None, select[:1]), atol=1e-5, rtol=1e-5
        )
        # both strands, in forward's layout (the head alone could hide a strand swap it symmetrises)
        torch.testing.assert_close(hidden_got, hidden_want, atol=1e-5, rtol=1e-5)


def test_logits_at_one_site_per_row_at_different_positions():
    """Scoring's usual batch: one masked site per row, at different positions, rows padded."""
    model = _model(*CONFIGS[1])
    g = torch.Generator().manual_seed(5)
    ids = torch.randint(7, 11, (6, 70), generator=g)
    am = (torch.arange(70)[None, :] < torch.tensor([70, 70, 50, 20, 5, 30])[:, None]).long()
    ids[am == 0] = 4
    select = torch.zeros_like(am, dtype=torch.bool)
    select[torch.arange(6), torch.tensor([0, 69, 35, 3, 4, 10])] = True  # row 4: its last token
    with torch.inference_mode():
        got = model.logits_at(ids, attention_mask=am, select=select)
        want = _full(model, ids, am, select)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_logits_at_empty_and_default_selection():
    model = _model(*CONFIGS[0])
    ids, am, _ = _batch(3, 20, seed=1)
    with torch.inference_mode():
        none = model.logits_at(ids, attention_mask=am, select=torch.zeros_like(ids, dtype=torch.bool))
        every = model.logits_at(ids, attention_mask=am)
        full = model(ids, attention_mask=am, return_full_logits=True).logits
    assert none.shape == (0, VOCAB)
    torch.testing.assert_close(every, full.reshape(-1, VOCAB), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "config,T,select_all,dense,pruned",
    [
        (CONFIGS[0], 64, False, 0, 3),  # cone of 13 positions at the bottom: nothing dense
        (CONFIGS[2], 257, False, 6, 6),  # output sets 257 x 6, 129, 65, 33, 17, 9, 1
        (CONFIGS[2], 40, True, 12, 0),  # every position wanted: plain dense forward
    ],
)
def test_dense_and_pruned_paths(monkeypatch, config, T, select_all, dense, pruned):
    """Which layers run dense and which pruned (so the equality tests above cover both); one call
    per layer for both strands."""
    calls = {"dense": 0, "pruned": 0}
    forward, forward_at = ConvBlock.forward, ConvBlock.forward_at

    def count_dense(self, *a, **k):
        calls["dense"] += 1
        return forward(self, *a, **k)

    def count_pruned(self, *a, **k):
        calls["pruned"] += 1
        return forward_at(self, *a, **k)

    monkeypatch.setattr(ConvBlock, "forward", count_dense)
    monkeypatch.setattr(ConvBlock, "forward_at", count_pruned)
    model = _model(*config)
    ids, am, _ = _batch(2, T, seed=0)
    select = torch.ones_like(ids, dtype=torch.bool)
    if not select_all:
        select[:] = False
        select[:, T // 2] = True
    with torch.inference_mode():
        got = model.logits_at(ids, attention_mask=am, select=select)
    assert calls == {"dense": dense, "pruned": pruned}
    with torch.inference_mode():
        torch.testing.assert_close(got, _full(model, ids, am, select), atol=1e-5, rtol=1e-5)


def test_inference_mode_then_training():
    """The complement permutation cached by a first call under inference mode (as scoring makes)
    must not be an inference tensor, which a later training forward could not save for backward."""
    model = _model(*CONFIGS[0])
    ids, am, select = _batch(2, 20, seed=0)
    with torch.inference_mode():
        model.logits_at(ids, attention_mask=am, select=select)
    model.train()
    model(ids, attention_mask=am, labels=torch.where(select, ids, -100)).loss.backward()


def test_rc_tap_rows():
    """Strand 2's rows follow strand 1's, its taps reversed; taps outside the sequence read row 2S."""
    # length 6, kernel 3, dilation 1: position 1 reads 0, 1, 2 and position 5 reads 4, 5 (6 is outside)
    taps, centre = rc_tap_rows(torch.tensor([0, 1, 2, 4, 5]), torch.tensor([1, 5]), 6, 3, 1)
    assert taps.tolist() == [[0, 1, 2], [3, 4, 10], [7, 6, 5], [10, 9, 8]]  # S = 5: zero row 10
    assert centre.tolist() == [1, 4, 6, 9]


# --- scoring --------------------------------------------------------------------------------------


def _alts(ref: str) -> tuple[str, ...]:
    return tuple(a for a in "ACGT" if a != ref)


def test_score_variants_same_with_and_without_pruning(monkeypatch):
    char = get_tokenizer("char")
    model = _model(6, 5, 4)
    rng = np.random.default_rng(0)
    genome = {c: "".join(rng.choice(list("ACGT"), n)) for c, n in [("chr1", 150), ("chr2", 40)]}
    s1, s2 = genome["chr1"], genome["chr2"]
    variants = [
        Variant("chr1", 0, None, s1[0], _alts(s1[0])),  # first base, multi-ALT
        Variant("chr1", 75, None, s1[75], _alts(s1[75])),  # middle, multi-ALT
        Variant("chr1", 148, None, s1[148], _alts(s1[148])[:2]),  # next to the contig end
        Variant("chr1", 149, None, s1[149], _alts(s1[149])[:1]),  # last base
        Variant("chr1", 60, None, s1[60:63], (s1[60],)),  # deletion: PLL, one masked token per request
        Variant("chr2", 39, None, s2[39], _alts(s2[39])),  # last base of a short contig, multi-ALT
    ]
    calls = []
    logits_at = GenolmGPNRCForMaskedLM.logits_at

    def spy(self, *a, **k):
        calls.append(k["select"].sum().item())
        return logits_at(self, *a, **k)

    monkeypatch.setattr(GenolmGPNRCForMaskedLM, "logits_at", spy)
    pruned = [score_variants(model, char, genome, variants, window=64, batch_size=bs) for bs in (3, 64)]
    assert calls and max(calls) > 1  # the pruned path ran, with several positions in a batch
    monkeypatch.delattr(GenolmGPNRCForMaskedLM, "logits_at")
    dense = score_variants(model, char, genome, variants, window=64, batch_size=64)

    assert dense.status == ["ok"] * len(dense.status) and len(dense.status) == 13
    assert set(dense.method) == {"llr", "pll"}
    assert np.all(np.abs(dense.score) > 1e-3)  # scores that a mix-up of positions would change
    for r in pruned:
        np.testing.assert_allclose(r.score_fwd, dense.score_fwd, atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(r.score_rc, dense.score_rc, atol=1e-5, rtol=1e-5)
