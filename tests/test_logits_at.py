"""``model.logits_at(input_ids, attention_mask, select)`` -> ``(N, V)`` equals the full forward's
``logits[select]`` for every MLM family that has one (the cone-pruned dilated CNNs ``gpn`` and
``gpn-rc``; the ``encoder``, its last block only at the selected positions), and variant scoring gives
the same scores with and without it; then the CNNs' own plans (which layers run dense, the cone, the
RC strands as rows of one conv)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genolm.io import Variant
from genolm.models import build_model
from genolm.models.gpn import ConvBlock, cone_positions, strided_plan
from genolm.models.gpn_rc import rc_tap_rows
from genolm.tokenizers import get_tokenizer
from genolm.variants import score_variants

VOCAB = 12  # char tokenizer layout: A C G T = 7..10, [PAD] = 4
TOL = dict(atol=1e-5, rtol=1e-5)


def _cnn(layers: int, kernel: int, dilation_max: int, hidden: int = 16) -> dict:
    return dict(num_hidden_layers=layers, kernel_size=kernel, dilation_max=dilation_max, hidden_size=hidden)


def _encoder(layers: int, position_embedding: str, activation: str, norm_position: str) -> dict:
    return dict(
        num_hidden_layers=layers,
        hidden_size=32,
        num_attention_heads=4,
        position_embedding=position_embedding,
        activation=activation,
        norm_position=norm_position,
    )


# (layers, kernel, dilation_max): short reach (every layer pruned), GPN's schedule (a dense bottom
# and a pruned top), and a reach far beyond T (mostly dense)
CNN = [(3, 5, 1), (6, 5, 4), (12, 9, 32)]


# each family's small configs: [0] the smallest, [1] a typical one
CONFIGS = {
    "gpn": [_cnn(*c) for c in CNN],
    "gpn-rc": [_cnn(*c, hidden=h) for h in (16, 32) for c in CNN],  # D = hidden / 2 per strand
    "encoder": [
        _encoder(2, "alibi", "gelu", "post"),  # DNABERT-2-like
        _encoder(3, "rope", "swiglu", "pre"),  # NT-v2-like
        _encoder(2, "learned", "gelu", "post"),  # DNABERT-like
    ],
    # the gated CNN: dense forward, head at the selected positions (no cone pruning)
    "convnova": [{"hidden_size": 16, "num_hidden_layers": 2}, {"hidden_size": 32, "num_hidden_layers": 3}],
    "convnova-rc": [{"hidden_size": 16, "num_hidden_layers": 2}, {"hidden_size": 32, "num_hidden_layers": 3}],
}
CASES = [
    pytest.param(f, c, id=f"{f}-" + "-".join(str(v) for v in c.values()))
    for f, configs in CONFIGS.items()
    for c in configs
]


def _model(family: str, config: dict, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(family, vocab_size=VOCAB, **config)
    # large random weights: at init the convs are ~0 next to the residual, which would hide errors;
    # random (not scaled-up init) so that LayerNorm weights and biases are not symmetric under a
    # channel flip, which an RC strand mix-up could otherwise get away with
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


def _lora(model, targets: list[str], seed: int, randomize: str = "lora_B"):
    """``model`` under PEFT LoRA on ``targets``, the adapter parameters whose name holds
    ``randomize`` drawn at random: PEFT starts B at zero, which would make the adapters invisible."""
    from peft import LoraConfig, get_peft_model

    peft = get_peft_model(model, LoraConfig(r=4, target_modules=targets))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if randomize in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return peft


# --- the contract, every family -------------------------------------------------------------------


@pytest.mark.parametrize("family", list(CONFIGS))
def test_logits_at_applies_lora_adapters(family):
    """With LoRA on the family's target modules (a PEFT model finds ``logits_at`` on its base model),
    the adapters count in ``logits_at`` and in the encoder's sparse MLM loss, and the last block's
    adapters get gradients."""
    import genolm.models as M

    targets = list(M.MODELS.get(family).lora_target_modules)
    model = _lora(_model(family, CONFIGS[family][1]), targets, seed=1)
    ids, am, select = _batch(3, 40, seed=2)
    with torch.inference_mode():
        got = model.logits_at(ids, attention_mask=am, select=select)
        want = _full(model, ids, am, select)
        with model.disable_adapter():
            plain = _full(model, ids, am, select)
    assert not torch.allclose(want, plain, atol=1e-3)  # the adapters change the logits
    torch.testing.assert_close(got, want, **TOL)
    if family == "encoder":  # training: the sparse last block under LoRA
        model.train()
        labels = torch.where(select, ids, -100)
        loss = model(input_ids=ids, attention_mask=am, labels=labels).loss
        model.get_base_model().config.sparse_last_block = False
        dense = model(input_ids=ids, attention_mask=am, labels=labels).loss
        torch.testing.assert_close(loss, dense, **TOL)
        loss.backward()
        last = len(model.get_base_model().model.layers) - 1
        grads = [p.grad for n, p in model.named_parameters() if f"layers.{last}.attn.qkv.lora" in n]
        assert grads and all(gr is not None and gr.abs().sum() > 0 for gr in grads)


@pytest.mark.parametrize("family,config", CASES)
@pytest.mark.parametrize("T", [1, 9, 40, 130])
def test_logits_at_equals_forward(family, config, T):
    model = _model(family, config)
    for seed in range(3):
        ids, am, select = _batch(4, T, seed)
        with torch.inference_mode():
            want = _full(model, ids, am, select)
            got = model.logits_at(ids, attention_mask=am, select=select)
            got_unpadded = model.logits_at(ids[:1], select=select[:1])  # no attention_mask at all
            # RC: both strands, in forward's layout (the head alone could hide a strand swap it symmetrises)
            if family == "gpn-rc":
                hidden_want = model.model(ids, attention_mask=am).last_hidden_state[select]
                torch.testing.assert_close(model.model.hidden_at(ids, am, select), hidden_want, **TOL)
        assert got.shape == (int(select.sum()), VOCAB)
        assert want.abs().max() > 0.5  # logits far from zero: an error cannot hide in rounding
        torch.testing.assert_close(got, want, **TOL)
        torch.testing.assert_close(got_unpadded, _full(model, ids[:1], None, select[:1]), **TOL)


@pytest.mark.parametrize("family", CONFIGS)
def test_logits_at_one_site_per_row_at_different_positions(family):
    """Scoring's usual batch: one masked site per row, at different positions, rows padded."""
    model = _model(family, CONFIGS[family][1])
    g = torch.Generator().manual_seed(5)
    ids = torch.randint(7, 11, (6, 70), generator=g)
    am = (torch.arange(70)[None, :] < torch.tensor([70, 70, 50, 20, 5, 30])[:, None]).long()
    ids[am == 0] = 4
    select = torch.zeros_like(am, dtype=torch.bool)
    select[torch.arange(6), torch.tensor([0, 69, 35, 3, 4, 10])] = True  # row 4: its last token
    with torch.inference_mode():
        got = model.logits_at(ids, attention_mask=am, select=select)
        want = _full(model, ids, am, select)
    torch.testing.assert_close(got, want, **TOL)


@pytest.mark.parametrize("family", CONFIGS)
def test_logits_at_empty_and_default_selection(family):
    model = _model(family, CONFIGS[family][0])
    ids, am, _ = _batch(3, 20, seed=1)
    with torch.inference_mode():
        none = model.logits_at(ids, attention_mask=am, select=torch.zeros_like(ids, dtype=torch.bool))
        every = model.logits_at(ids, attention_mask=am)
        full = model(ids, attention_mask=am, return_full_logits=True).logits
    assert none.shape == (0, VOCAB)
    torch.testing.assert_close(every, full.reshape(-1, VOCAB), **TOL)


# --- scoring with and without logits_at, every family ---------------------------------------------


def _alts(ref: str) -> tuple[str, ...]:
    return tuple(a for a in "ACGT" if a != ref)


@pytest.mark.parametrize("family", CONFIGS)
def test_score_variants_same_with_and_without_logits_at(monkeypatch, family):
    char = get_tokenizer("char")
    model = _model(family, CONFIGS[family][1])
    cls = type(model)
    rng = np.random.default_rng(4)  # a genome on which no score of the three families is ~0
    genome = {c: "".join(rng.choice(list("ACGT"), n)) for c, n in [("chr1", 150), ("chr2", 40)]}
    s1, s2 = genome["chr1"], genome["chr2"]
    variants = [
        Variant("chr1", 0, None, s1[0], _alts(s1[0])),  # first base, multi-ALT
        Variant("chr1", 1, None, s1[1], _alts(s1[1])[:1]),
        Variant("chr1", 75, None, s1[75], _alts(s1[75])),  # middle, multi-ALT
        Variant("chr1", 148, None, s1[148], _alts(s1[148])[:2]),  # next to the contig end
        Variant("chr1", 149, None, s1[149], _alts(s1[149])[:1]),  # last base
        Variant("chr1", 60, None, s1[60:63], (s1[60],)),  # deletion: PLL, one masked token per request
        Variant("chr2", 20, None, s2[20], (s2[20] + "GA",)),  # insertion on a short contig
        Variant("chr2", 39, None, s2[39], _alts(s2[39])),  # last base of a short contig, multi-ALT
    ]
    calls = []
    logits_at = cls.logits_at

    def spy(self, *a, **k):
        calls.append(k["select"].sum().item())
        return logits_at(self, *a, **k)

    monkeypatch.setattr(cls, "logits_at", spy)
    sparse = [score_variants(model, char, genome, variants, window=64, batch_size=bs) for bs in (3, 64)]
    assert calls and max(calls) > 1  # logits_at ran, with several positions in a batch
    monkeypatch.setattr(cls, "logits_at", None)  # scoring then runs forward
    dense = score_variants(model, char, genome, variants, window=64, batch_size=64)

    assert dense.status == ["ok"] * len(dense.status) and len(dense.status) == 15
    assert set(dense.method) == {"llr", "pll"}
    assert np.all(np.abs(dense.score) > 1e-3)  # scores that a mix-up of positions would change
    for r in sparse:
        np.testing.assert_allclose(r.score_fwd, dense.score_fwd, **TOL)
        np.testing.assert_allclose(r.score_rc, dense.score_rc, **TOL)


@pytest.mark.parametrize("family", CONFIGS)
def test_run_requests_keeps_gather_order(monkeypatch, family):
    """Several positions per request, in no particular order: ``out`` follows ``gather``."""
    from genolm.infer import Request, run_requests

    model = _model(family, CONFIGS[family][1])
    rng = np.random.default_rng(0)
    cand = np.array([7, 8, 9, 10])
    spec = [(30, [17, 3, 29]), (22, [21, 0]), (30, [5]), (12, [11, 2, 6, 0])]  # (length, gather order)

    def answer() -> list[list[np.ndarray]]:
        reqs = [
            Request("mlm", rng.integers(7, 11, n), 0, n, [(t, np.roll(cand, t)) for t in ts])
            for n, ts in spec
        ]
        run_requests(model, reqs, batch_size=8, device="cpu", pad_id=4)
        return [r.out for r in reqs]

    state = rng.bit_generator.state
    sparse = answer()
    rng.bit_generator.state = state  # the same sequences again
    monkeypatch.setattr(type(model), "logits_at", None)
    dense = answer()
    for p, d, (_, ts) in zip(sparse, dense, spec):
        assert len(p) == len(ts)
        np.testing.assert_allclose(np.stack(p), np.stack(d), **TOL)


# --- the dilated CNNs: cone-pruned layers ---------------------------------------------------------


@pytest.mark.parametrize("family", ["gpn", "gpn-rc"])
@pytest.mark.parametrize(
    "config,T,select_all,dense,pruned",
    [
        (CNN[0], 64, False, 0, 3),  # cone of 13 positions at the bottom: nothing dense
        (CNN[2], 257, False, 6, 6),  # genolm-tiny's layout: output sets 257 x 6, 129, 65, 33, 17, 9, 1
        (CNN[2], 40, True, 12, 0),  # every position wanted: plain dense forward
    ],
)
def test_dense_and_pruned_paths(monkeypatch, family, config, T, select_all, dense, pruned):
    """Which layers run dense and which pruned (so the equality tests above cover both); RC: one call
    per layer for both strands."""
    calls = {"dense": 0, "pruned": 0}
    forward, forward_at, forward_strided = ConvBlock.forward, ConvBlock.forward_at, ConvBlock.forward_strided

    def count_dense(self, *a, **k):
        calls["dense"] += 1
        return forward(self, *a, **k)

    def count_pruned(self, *a, **k):
        calls["pruned"] += 1
        return forward_at(self, *a, **k)

    def count_strided(self, *a, **k):
        calls["pruned"] += 1
        return forward_strided(self, *a, **k)

    monkeypatch.setattr(ConvBlock, "forward", count_dense)
    monkeypatch.setattr(ConvBlock, "forward_at", count_pruned)
    monkeypatch.setattr(ConvBlock, "forward_strided", count_strided)
    model = _model(family, _cnn(*config))
    ids, am, _ = _batch(2, T, seed=0)
    select = torch.ones_like(ids, dtype=torch.bool)
    if not select_all:
        select[:] = False
        select[:, T // 2] = True
    with torch.inference_mode():
        got = model.logits_at(ids, attention_mask=am, select=select)
    assert calls == {"dense": dense, "pruned": pruned}
    with torch.inference_mode():
        torch.testing.assert_close(got, _full(model, ids, am, select), **TOL)


@pytest.mark.parametrize("T,centre", [(257, 128), (257, 127), (200, 3), (64, 60)])
def test_strided_top_of_the_cone(monkeypatch, T, centre):
    """One selected column: GPN's top layers are strided convs over every 2nd, 4th, ... position
    (no gather), padded rows included; near an end the progressions are cut and it still holds."""
    used = []
    strided = ConvBlock.forward_strided

    def spy(self, *a, **k):
        used.append(a[1:4])  # first, stride, dilation
        return strided(self, *a, **k)

    monkeypatch.setattr(ConvBlock, "forward_strided", spy)
    model = _model("gpn", _cnn(*CNN[2]))
    ids, am, _ = _batch(3, T, seed=1)
    am[1:] = 1
    am[2, T - 5 :] = 0  # one padded row, its site still inside
    select = torch.zeros_like(ids, dtype=torch.bool)
    select[:, centre] = True
    with torch.inference_mode():
        got = model.logits_at(ids, attention_mask=am, select=select)
        torch.testing.assert_close(got, _full(model, ids, am, select), **TOL)
    assert used, "the single-column cone should take the strided path"
    assert used[-1][1:] == (1, 1)  # the top layer: dilation 32 over every 32nd position, compact


def test_strided_plan():
    ar = torch.arange
    # every 2nd position through 5 of [0, 20): dilation 4 is 2 compact rows; out every 4th from 1
    assert strided_plan(ar(1, 20, 2), ar(1, 20, 4), 20, 4) == (0, 2, 2)
    assert strided_plan(ar(0, 20), ar(3, 20, 2), 20, 2) == (3, 2, 2)
    assert strided_plan(ar(3, 12, 2), ar(7, 12, 4), 20, 4) == (2, 2, 2)  # a run of the grid
    assert strided_plan(torch.tensor([0, 2, 3]), torch.tensor([2]), 4, 1) is None  # not a progression
    assert strided_plan(ar(0, 20, 2), ar(0, 20, 2), 20, 1) is None  # dilation off the grid
    assert strided_plan(ar(0, 20), ar(0, 0), 20, 1) is None  # nothing to compute


def test_cone_positions():
    sets = cone_positions(torch.tensor([0, 20]), 24, 3, [1, 4])
    assert [s.tolist() for s in sets] == [
        [0, 1, 3, 4, 5, 15, 16, 17, 19, 20, 21],  # layer 1 (dilation 1) widens each by 1
        [0, 4, 16, 20],  # layer 2 (dilation 4): taps +-4, clipped to [0, 24)
        [0, 20],
    ]


def test_rc_tap_rows():
    """Strand 2's rows follow strand 1's, its taps reversed; taps outside the sequence read row 2S."""
    # length 6, kernel 3, dilation 1: position 1 reads 0, 1, 2 and position 5 reads 4, 5 (6 is outside)
    taps, centre = rc_tap_rows(torch.tensor([0, 1, 2, 4, 5]), torch.tensor([1, 5]), 6, 3, 1)
    assert taps.tolist() == [[0, 1, 2], [3, 4, 10], [7, 6, 5], [10, 9, 8]]  # S = 5: zero row 10
    assert centre.tolist() == [1, 4, 6, 9]


def test_rc_inference_mode_then_training():
    """The complement permutation cached by a first call under inference mode (as scoring makes)
    must not be an inference tensor, which a later training forward could not save for backward."""
    model = _model("gpn-rc", _cnn(*CNN[0]))
    ids, am, select = _batch(2, 20, seed=0)
    with torch.inference_mode():
        model.logits_at(ids, attention_mask=am, select=select)
    model.train()
    model(ids, attention_mask=am, labels=torch.where(select, ids, -100)).loss.backward()


# --- the dilated CNN: bottom layers shared along a reference ----------------------------------------


def _cut_windows(R: int, B: int, T: int, seed: int, spacing: int | None = None):
    """A reference and B windows cut from it, each with a masked centre and a [SEP]-like last token
    (scoring's rows): ``(ref (R,), offsets (B,), ids (B, T))``."""
    g = torch.Generator().manual_seed(seed)
    ref = torch.randint(7, 11, (R,), generator=g)
    if spacing is None:
        offsets = torch.sort(torch.randint(0, R - T + 1, (B,), generator=g)).values
    else:
        offsets = torch.arange(B) * spacing
    ids = ref[offsets[:, None] + torch.arange(T)].clone()
    ids[:, T // 2] = 3  # [MASK]
    ids[:, -1] = 2  # [SEP]
    return ref, offsets, ids


def _spy_shared(monkeypatch) -> list[int]:
    """Layers run through ``shared_bottom`` per call."""
    from genolm.models.gpn import GenolmGPNModel

    shared, orig = [], GenolmGPNModel.shared_bottom

    def spy(self, *a, **k):
        x, n = orig(self, *a, **k)
        shared.append(n)
        return x, n

    monkeypatch.setattr(GenolmGPNModel, "shared_bottom", spy)
    return shared


@pytest.mark.parametrize("config,T", [(CNN[2], 257), (CNN[2], 101)])
def test_reference_gives_the_forward_logits(monkeypatch, config, T):
    """Windows cut from one reference, with a masked site each: the logits with the reference hint
    equal the forward's, whether the hint is right (bottom layers shared), shifted (wrong: nothing
    matches), partly unknown (-1) or the rows padded; the shared path is taken where it should be."""
    shared = _spy_shared(monkeypatch)
    model = _model("gpn", _cnn(*config))
    B = 24
    ref, offsets, ids = _cut_windows(R=B * 12 + T, B=B, T=T, seed=0, spacing=12)
    select = torch.zeros_like(ids, dtype=torch.bool)
    select[:, T // 2] = True
    am = torch.ones_like(ids)
    am[3, T - 9 :] = 0  # a padded row
    holes = ref.clone()
    holes[:40] = -1  # no token there (beyond a contig's end)
    with torch.inference_mode():
        want = _full(model, ids, None, select)
        want_padded = _full(model, ids, am, select)
        for hint, mask, expect, engaged in [
            ((ref, offsets), None, want, True),
            ((ref, offsets + 5), None, want, False),  # every row mismatched: declined
            ((holes, offsets), None, want, True),
            ((ref, offsets), am, want_padded, True),
        ]:
            shared.clear()
            got = model.logits_at(ids, attention_mask=mask, select=select, reference=hint)
            torch.testing.assert_close(got, expect, **TOL)
            assert (shared[0] > 0) == engaged, shared
    assert want.abs().max() > 0.5


def test_reference_several_pieces_and_sites_per_row(monkeypatch):
    """Rows from two references laid end to end, several edits and selected positions per row
    (one cone for all): still the forward's logits, and the bottom still shared."""
    shared = _spy_shared(monkeypatch)
    model = _model("gpn", _cnn(*CNN[2]))
    T = 101
    ref1, off1, ids1 = _cut_windows(R=16 * 20 + T, B=16, T=T, seed=1, spacing=20)
    ref2, off2, ids2 = _cut_windows(R=8 * 25 + T, B=8, T=T, seed=2, spacing=25)
    ids = torch.cat([ids1, ids2])
    ids[5, 10] = 9 if ids[5, 10] != 9 else 8  # an ALT in one row
    ref = torch.cat([ref1, ref2])
    offsets = torch.cat([off1, off2 + len(ref1)])
    select = torch.zeros_like(ids, dtype=torch.bool)
    select[:, [T // 2, 3, T - 2]] = True
    with torch.inference_mode():
        got = model.logits_at(ids, select=select, reference=(ref, offsets))
        torch.testing.assert_close(got, _full(model, ids, None, select), **TOL)
    assert shared and shared[0] > 0


def test_reference_skips_adapted_layers_and_runs_in_bf16():
    """A LoRA-wrapped conv never joins the shared bottom (its adapter would be skipped): logits
    equal the adapted forward's; under bf16 autocast the shared path runs and stays close."""
    model = _model("gpn", _cnn(*CNN[2]))
    ref, offsets, ids = _cut_windows(R=24 * 12 + 101, B=24, T=101, seed=3, spacing=12)
    select = torch.zeros_like(ids, dtype=torch.bool)
    select[:, 50] = True
    with torch.inference_mode():
        plain = model.logits_at(ids, select=select)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model.logits_at(ids, select=select, reference=(ref, offsets))
        torch.testing.assert_close(half.float(), plain, atol=0.1, rtol=0.05)
    peft = _lora(model, ["conv"], seed=1)
    base = peft.get_base_model().model
    with torch.inference_mode():
        assert base.shared_bottom(ids, None, (ref, offsets), 12) == (None, 0)
        got = peft.logits_at(ids, select=select, reference=(ref, offsets))
        want = _full(peft, ids, None, select)
    assert not torch.allclose(want, plain, atol=1e-3)
    torch.testing.assert_close(got, want, **TOL)


def test_reference_applies_an_embedding_adapter(monkeypatch):
    """LoRA on the embedding only: the bottom is still shared, and both the track and the rows'
    own positions read the adapted embedding."""
    shared = _spy_shared(monkeypatch)
    model = _model("gpn", _cnn(*CNN[2]))
    ref, offsets, ids = _cut_windows(R=24 * 12 + 101, B=24, T=101, seed=4, spacing=12)
    select = torch.zeros_like(ids, dtype=torch.bool)
    select[:, 50] = True
    with torch.inference_mode():
        plain = _full(model, ids, None, select)
    peft = _lora(model, ["embed_tokens"], seed=2, randomize="lora_")
    with torch.inference_mode():
        got = peft.logits_at(ids, select=select, reference=(ref, offsets))
        want = _full(peft, ids, None, select)
    assert not torch.allclose(want, plain, atol=1e-3)  # the adapter changes the logits
    assert shared and shared[-1] > 0
    torch.testing.assert_close(got, want, **TOL)


@pytest.mark.parametrize("tokenizer", ["char", "kmer3"])
def test_scoring_shares_the_bottom_and_keeps_the_scores(monkeypatch, tokenizer):
    """Dense SNVs on both strands, two contigs, contig ends: every window handed to the model is
    its strand's reference except at the masked site and the special tokens; the scores equal the
    full forward's; and the shared bottom ran."""
    from genolm.models.gpn import GenolmGPNModel

    tok = get_tokenizer(tokenizer)
    torch.manual_seed(0)
    model = build_model("gpn", vocab_size=len(tok), **_cnn(*CNN[2])).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    rng = np.random.default_rng(7)
    genome = {c: "".join(rng.choice(list("ACGT"), n)) for c, n in [("chr1", 900), ("chr2", 120)]}
    variants = [
        Variant(c, p, None, genome[c][p], _alts(genome[c][p])[: 1 + p % 3])
        for c, step in [("chr1", 7), ("chr2", 5)]
        for p in range(0, len(genome[c]), step)
    ]
    seen, orig = [], GenolmGPNModel.shared_bottom

    def spy(self, ids, am, reference, n):
        ref, offs = reference
        idx = offs[:, None] + torch.arange(ids.shape[1])
        inside = (idx >= 0) & (idx < len(ref))
        if am is not None:
            inside &= am.bool()
        differ = (ref[idx.clamp(0, len(ref) - 1)] != ids) & inside
        specials = torch.isin(ids, torch.tensor([tok.mask_token_id, tok.sep_token_id, tok.cls_token_id]))
        assert torch.equal(differ, specials & inside)  # the window is its reference's tokens
        x, k = orig(self, ids, am, reference, n)
        seen.append(k)
        return x, k

    monkeypatch.setattr(GenolmGPNModel, "shared_bottom", spy)
    got = score_variants(model, tok, genome, variants, window=100, batch_size=32)
    monkeypatch.setattr(type(model), "logits_at", None)
    want = score_variants(model, tok, genome, variants, window=100, batch_size=32)
    assert got.status == ["ok"] * len(got.status)
    assert seen and max(seen) > 0
    np.testing.assert_allclose(got.score_fwd, want.score_fwd, **TOL)
    np.testing.assert_allclose(got.score_rc, want.score_rc, **TOL)
