"""Zero-shot variant scoring (genolm.variants.scoring): invariants, edge cases and golden values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genolm.alphabet import reverse_complement
from genolm.errors import ConfigError
from genolm.io import Genome, Variant
from genolm.models import build_model
from genolm.tokenizers import get_tokenizer
from genolm.variants import score_variants

# 120 random bases (numpy default_rng(7)); the golden values below were computed on it once
SEQ = (
    "TGGTGTTAACCTTACTATACTCCCGCTCCGGGGTTTGGCTCATATGAACAAGTCTTTGCGCCCATAAATGTAGCCAGTGAGCTTAGTTGGAG"
    "CAAGGGGTGCGGAAGCGCAACTCCGTCG"
)
W = 32


def _other(b: str) -> str:
    return "A" if b != "A" else "C"


def _snv(pos: int, alt: str | None = None, seq: str = SEQ, contig: str = "chr1") -> Variant:
    return Variant(contig, pos, None, seq[pos], (alt or _other(seq[pos]),))


@pytest.fixture(scope="module")
def char():
    return get_tokenizer("char")


@pytest.fixture(scope="module")
def gpn(char):
    torch.manual_seed(0)
    return build_model("gpn", tokenizer=char, hidden_size=16, num_hidden_layers=2, kernel_size=5)


@pytest.fixture(scope="module")
def hyena(char):
    torch.manual_seed(0)
    return build_model("hyena", tokenizer=char, hidden_size=16, num_hidden_layers=2)


@pytest.fixture(scope="module")
def kmer3():
    return get_tokenizer("kmer3")


@pytest.fixture(scope="module")
def kmer_encoder(kmer3):
    torch.manual_seed(0)
    return build_model("encoder", tokenizer=kmer3, hidden_size=16, num_hidden_layers=1, num_attention_heads=2)


def test_golden_llrs_seeded_gpn(gpn, char):
    vs = [
        Variant("chr1", 0, None, "T", ("A", "C", "G")),  # first base of the contig, all three ALTs
        _snv(60),
        Variant("chr1", 119, None, "G", ("T",)),  # last base of the contig
        Variant("chr1", 30, None, "GGG", ("G",)),  # deletion: PLL
    ]
    r = score_variants(gpn, char, {"chr1": SEQ}, vs, window=W)
    assert r.status == ["ok"] * 6
    assert r.method == ["llr"] * 5 + ["pll"]
    golden = [-0.0684, -0.0068, 0.0646, -0.0336, -0.0760, -0.0274]
    np.testing.assert_allclose(r.score, golden, atol=1e-4)
    np.testing.assert_allclose(r.score_fwd[:3], [-0.0458, -0.0234, 0.1077], atol=1e-4)


def test_bf16_precision_is_close_to_fp32_and_validated(char):
    torch.manual_seed(0)
    model = build_model("gpn", tokenizer=char, hidden_size=32, num_hidden_layers=3, kernel_size=5)
    with torch.no_grad():  # larger weights than at init, so that the LLRs are far from 0
        for p in model.parameters():
            p.mul_(4.0)
    vs = [_snv(p) for p in range(10, 110, 9)]
    fp32 = score_variants(model, char, {"chr1": SEQ}, vs, window=W)
    bf16 = score_variants(model, char, {"chr1": SEQ}, vs, window=W, precision="bf16")
    assert bf16.status == fp32.status == ["ok"] * len(vs)
    assert np.abs(fp32.score).max() > 0.5
    assert not np.array_equal(bf16.score, fp32.score)  # autocast really ran
    np.testing.assert_allclose(bf16.score, fp32.score, atol=0.1 + 0.05 * np.abs(fp32.score).max())
    assert np.corrcoef(bf16.score, fp32.score)[0, 1] > 0.99
    with pytest.raises(ConfigError, match="Did you mean 'bf16'"):
        score_variants(model, char, {"chr1": SEQ}, vs, window=W, precision="bf61")


@pytest.mark.parametrize("pos", [5, 60, 119])
def test_llr_antisymmetric(gpn, char, pos):
    alt = _other(SEQ[pos])
    flipped = SEQ[:pos] + alt + SEQ[pos + 1 :]
    fwd = score_variants(gpn, char, {"c": SEQ}, [_snv(pos, alt, contig="c")], window=W)
    back = score_variants(gpn, char, {"c": flipped}, [_snv(pos, SEQ[pos], flipped, "c")], window=W)
    assert fwd.score[0] != 0
    assert back.score[0] == pytest.approx(-fwd.score[0], abs=1e-6)


def test_clm_and_pll_indels_antisymmetric(gpn, hyena, char):
    # deletion of SEQ[41:43] (anchor SEQ[40]) on SEQ vs the insertion that restores it
    deleted = SEQ[:41] + SEQ[43:]
    dele = Variant("c", 40, None, SEQ[40:43], (SEQ[40],))
    ins = Variant("c", 40, None, SEQ[40], (SEQ[40:43],))
    for model in (gpn, hyena):
        a = score_variants(model, char, {"c": SEQ}, [dele], window=W)
        b = score_variants(model, char, {"c": deleted}, [ins], window=W)
        assert a.status == b.status == ["ok"]
        assert np.isfinite(a.score[0])
        assert b.score[0] == pytest.approx(-a.score[0], abs=1e-5)


def test_kmer_llr_antisymmetric(kmer_encoder, kmer3):
    pos, alt = 50, _other(SEQ[50])
    flipped = SEQ[:pos] + alt + SEQ[pos + 1 :]
    a = score_variants(kmer_encoder, kmer3, {"c": SEQ}, [_snv(pos, alt, contig="c")], window=W)
    b = score_variants(kmer_encoder, kmer3, {"c": flipped}, [_snv(pos, SEQ[pos], flipped, "c")], window=W)
    assert a.method == ["llr"]
    assert b.score[0] == pytest.approx(-a.score[0], abs=1e-6)


def test_strand_mean_and_rc_strand_is_the_rc_genome(gpn, char):
    pos = 57
    v = _snv(pos)
    r = score_variants(gpn, char, {"c": SEQ}, [v._replace(contig="c")], window=W)
    assert r.score[0] == pytest.approx((r.score_fwd[0] + r.score_rc[0]) / 2)
    assert r.score_fwd[0] != pytest.approx(r.score_rc[0])
    # the reverse-complement strand score is the forward score on the reverse-complemented genome
    # (odd window and no special tokens, so the two windows are exact mirror images)
    rc = reverse_complement(SEQ)
    j = len(SEQ) - 1 - pos
    v_rc = Variant("c", j, None, rc[j], (reverse_complement(v.alts[0]),))
    kw = dict(window=W + 1, add_special_tokens=False)
    a = score_variants(gpn, char, {"c": SEQ}, [v._replace(contig="c")], **kw)
    b = score_variants(gpn, char, {"c": rc}, [v_rc], **kw)
    assert a.score_rc[0] == pytest.approx(b.score_fwd[0], abs=1e-6)
    assert a.score_fwd[0] == pytest.approx(b.score_rc[0], abs=1e-6)


def test_rc_equivariant_model_gives_equal_strand_scores(char):
    torch.manual_seed(0)
    model = build_model("gpn-rc", tokenizer=char, hidden_size=16, num_hidden_layers=2, kernel_size=5)
    vs = [_snv(10), _snv(64), Variant("chr1", 30, None, "GGG", ("G",))]
    r = score_variants(model, char, {"chr1": SEQ}, vs, window=W + 1, add_special_tokens=False)
    assert r.status == ["ok"] * 3
    np.testing.assert_allclose(r.score_fwd, r.score_rc, atol=1e-5)


def test_windows_at_contig_ends_keep_the_variant_position(gpn, char):
    vs = [_snv(0), _snv(len(SEQ) - 1)]
    r = score_variants(gpn, char, {"chr1": SEQ}, vs, window=W)
    assert r.status == ["ok", "ok"] and np.isfinite(r.score).all()
    # by hand, forward strand: the clipped windows are SEQ[:W - W//2] and SEQ[-W//2:]
    sep = char.sep_token_id
    for k, (win, p) in enumerate([(SEQ[: W - W // 2], 0), (SEQ[-(W // 2) :], W // 2 - 1)]):
        ids = list(char.encode_array(win)) + [sep]
        ids[p] = char.mask_token_id
        with torch.no_grad():
            lp = torch.log_softmax(gpn(torch.tensor([ids])).logits[0, p], -1)
        vid = char.convert_tokens_to_ids
        want = float(lp[vid(vs[k].alts[0])] - lp[vid(vs[k].ref)])
        assert r.score_fwd[k] == pytest.approx(want, abs=1e-5)


def test_every_record_reported_with_its_status(gpn, char):
    vs = [
        Variant("1", 10, "alias", SEQ[10], (_other(SEQ[10]),)),  # '1' finds chr1
        Variant("chr1", 11, "mismatch", _other(SEQ[11]), ("G",)),
        Variant("chrZ", 5, "missing", "A", ("C",)),
        Variant("chr1", 119, "oob", SEQ[119] + "A", ("A",)),
        Variant("chr1", 12, "noalt", SEQ[12], ()),
        Variant("chr1", 13, "symbolic", SEQ[13], ("<DEL>",)),
        Variant("chr1", 14, "same", SEQ[14], (SEQ[14],)),
    ]
    r = score_variants(gpn, char, {"chr1": SEQ}, vs, window=W)
    assert [v.id for v in r.variants] == [v.id for v in vs]
    assert r.status == [
        "ok",
        "ref_mismatch",
        "contig_missing",
        "out_of_bounds",
        "no_alt",
        "unsupported_allele",
        "unsupported_allele",
    ]
    assert np.isfinite(r.score[0]) and np.isnan(r.score[1:]).all()
    assert "genome has" in r.message[1] and r.message[0] == ""
    df = r.to_frame()
    assert list(df["pos"]) == [v.pos + 1 for v in vs]  # 1-based in tables
    assert len(df) == len(vs)


def test_multiallelic_split_matches_single_records(gpn, char):
    ref = SEQ[70]
    alts = tuple(b for b in "ACGT" if b != ref)
    rec = Variant("chr1", 70, "m", ref, alts, info={"AF": (0.1, 0.2, 0.3), "DP": "9"}, index=4)
    r = score_variants(gpn, char, {"chr1": SEQ}, [rec], window=W)
    assert list(r.record) == [4, 4, 4] and list(r.allele) == [0, 1, 2]
    assert [v.info["AF"] for v in r.variants] == [0.1, 0.2, 0.3]
    singles = score_variants(gpn, char, {"chr1": SEQ}, [_snv(70, a) for a in alts], window=W)
    np.testing.assert_allclose(r.score, singles.score, atol=1e-6)


def test_kmer_masking_covers_all_k_tokens(kmer_encoder, kmer3):
    seen = []  # the backbone's inputs: scoring calls it through logits_at (or forward)
    hook = kmer_encoder.model.register_forward_pre_hook(lambda mod, args: seen.append(args[0].clone()))
    try:
        r = score_variants(
            kmer_encoder, kmer3, {"c": SEQ}, [_snv(60, contig="c"), _snv(0, contig="c")], window=W
        )
    finally:
        hook.remove()
    assert r.status == ["ok", "ok"] and r.method == ["llr", "llr"]
    counts = sorted(int((ids == kmer3.mask_token_id).sum()) for batch in seen for ids in batch)
    # site 60: the k=3 tokens covering it, on each strand; site 0 (the contig's first base, so the
    # last base of the reverse-complement window): only one k-mer covers it on either strand
    assert counts == [1, 1, 3, 3]


def test_bpe_and_nt6_tokenizations(tmp_path):
    from genolm.tokenizers.bpe import BPETrainConfig, train_bpe

    fa = tmp_path / "toy.fa"
    fa.write_text(">t\n" + SEQ * 8 + "\n")
    bpe = train_bpe(BPETrainConfig([str(fa)], vocab_size=40, chunk_size=500))
    nt = get_tokenizer("nt6")
    rng = np.random.default_rng(1)
    seq = "".join(rng.choice(list("ACGT"), 200))
    vs = [_snv(p, seq=seq) for p in range(40, 160, 7)] + [
        Variant("chr1", 100, None, seq[100:102], (seq[100],))
    ]
    for tok in (bpe, nt):
        torch.manual_seed(0)
        m = build_model("encoder", tokenizer=tok, hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
        r = score_variants(m, tok, {"chr1": seq}, vs, window=48)
        assert r.status == ["ok"] * len(vs) and np.isfinite(r.score).all()
        assert r.method[-1] == "pll"
        if tok is nt:  # an SNV never changes the 6-mer layout: one masked token, always llr
            assert set(r.method[:-1]) == {"llr"}
        else:  # BPE re-tokenizes around some ALTs: those fall back to PLL
            assert "pll" in r.method[:-1]


def test_embedding_distance_symmetric(gpn, char):
    pos, alt = 44, _other(SEQ[44])
    flipped = SEQ[:pos] + alt + SEQ[pos + 1 :]
    for method in ("embedding", "embedding-l2"):
        a = score_variants(gpn, char, {"c": SEQ}, [_snv(pos, alt, contig="c")], window=W, method=method)
        b = score_variants(
            gpn, char, {"c": flipped}, [_snv(pos, SEQ[pos], flipped, "c")], window=W, method=method
        )
        assert a.score[0] > 0
        assert b.score[0] == pytest.approx(a.score[0], rel=1e-5)
        assert a.method[0].startswith("embedding")


def test_model_state_restored_and_region_genome(gpn, char):
    gpn.train()
    g = Genome.from_sequences({"chr5:1001-1120": SEQ})  # a region record: genomic 1000..1119
    r = score_variants(gpn, char, g, [Variant("5", 1000 + 60, None, SEQ[60], (_other(SEQ[60]),))], window=W)
    assert gpn.training
    gpn.eval()
    plain = score_variants(gpn, char, {"chr1": SEQ}, [_snv(60)], window=W)
    assert r.score[0] == pytest.approx(plain.score[0], abs=1e-6)


def test_method_errors(gpn, hyena, char):
    # guards against scoring a masked LM with a causal likelihood (or vice versa) silently
    with pytest.raises(ConfigError, match="needs a causal LM"):
        score_variants(gpn, char, {"c": SEQ}, [_snv(5, contig="c")], method="clm")
    with pytest.raises(ConfigError, match="needs a masked LM"):
        score_variants(hyena, char, {"c": SEQ}, [_snv(5, contig="c")], method="llr")
    with pytest.raises(ConfigError, match="Did you mean"):
        score_variants(gpn, char, {"c": SEQ}, [_snv(5, contig="c")], method="embeding")
