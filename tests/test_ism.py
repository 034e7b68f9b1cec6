"""In-silico saturation mutagenesis (genolm.variants.ism)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genolm.errors import ConfigError, InputError
from genolm.io import Variant
from genolm.models import build_model
from genolm.tokenizers import get_tokenizer
from genolm.variants import score_variants
from genolm.variants.ism import (
    ALPHABET,
    frame_consistent_window,
    ism,
    ism_importance,
    parse_region,
    plot_ism_heatmap,
    plot_ism_logo,
)

SEQ = "TGGTGTTAACCTTACTATACTCCCGCTCCGGGGTTTGGCTCATATGAACAAGTCTTTGCGCCCATAAATGTAGCCAGTG"


@pytest.fixture(scope="module")
def lm():
    tok = get_tokenizer("char")
    torch.manual_seed(0)
    return build_model("gpn", tokenizer=tok, hidden_size=16, num_hidden_layers=2, kernel_size=5), tok


def test_ism_matrix_equals_per_variant_llrs(lm):
    model, tok = lm
    res = ism(model, tok, SEQ[:20], window=16)
    assert res.llr.shape == (20, 4) and res.contig is None and res.method == "llr"
    for i, b in enumerate(SEQ[:20]):
        assert res.llr[i, ALPHABET.index(b)] == 0.0
    vs = [Variant("s", i, None, b, (a,)) for i, b in enumerate(SEQ[:20]) for a in ALPHABET if a != b]
    r = score_variants(model, tok, {"s": SEQ[:20]}, vs, window=16)
    for v, s in zip(r.variants, r.score):
        assert res.llr[v.pos, ALPHABET.index(v.alts[0])] == pytest.approx(s, abs=1e-6)


def test_ism_region_uses_genomic_context_and_plots(lm, tmp_path):
    model, tok = lm
    res = ism(model, tok, genome={"chr1": SEQ}, region="chr1:31-40", window=16)
    assert res.llr.shape == (10, 4) and res.sequence == SEQ[30:40] and res.start == 30
    # the same SNV scored inside its genome, not as a bare 10 bp sequence
    v = Variant("chr1", 35, None, SEQ[35], ("A" if SEQ[35] != "A" else "C",))
    want = score_variants(model, tok, {"chr1": SEQ}, [v], window=16).score[0]
    assert res.llr[5, ALPHABET.index(v.alts[0])] == pytest.approx(want, abs=1e-6)
    df = res.to_frame()
    assert list(df.columns) == ["chrom", "pos", "ref", *ALPHABET] and df["pos"].iloc[0] == 31
    for f in (plot_ism_heatmap(res, tmp_path / "h.png"), plot_ism_logo(res, tmp_path / "l.png")):
        assert f.stat().st_size > 1000


def test_ism_plots_state_sign_and_reference(lm, tmp_path):
    """The heatmap's x axis carries the reference bases and both plots state the sign convention
    (guards against a logo / heatmap a reader cannot orient: which sign is damaging?)."""
    import re

    model, tok = lm
    res = ism(model, tok, genome={"chr1": SEQ}, region="chr1:31-40", window=16)
    h = plot_ism_heatmap(res, tmp_path / "h.png", extra_formats=("svg",))
    lg = plot_ism_logo(res, tmp_path / "l.png", extra_formats=("svg",))
    assert h.with_suffix(".svg").exists() and lg.with_suffix(".svg").exists()
    svg = h.with_suffix(".svg").read_text()
    assert "log p(alt) - log p(ref)" in svg and "damaging" in svg
    # every reference base is a tick label, in order (text elements of the SVG)
    texts = [t for t in re.findall(r">([^<>]*)</text>", svg) if t.strip()]
    assert "".join(t for t in texts if len(t) == 1 and t in "ACGTN").startswith(res.sequence)
    assert "damaging" in lg.with_suffix(".svg").read_text()
    # heights: the logo is drawn from ism_importance, -mean of the three alternatives
    alts = [res.llr[0, j] for j in range(4) if ALPHABET[j] != res.sequence[0]]
    assert ism_importance(res)[0] == pytest.approx(-np.mean(alts))


def test_ism_cli(tmp_path):
    from genolm.cli.main import main

    tok = get_tokenizer("char")
    torch.manual_seed(0)
    build_model("gpn", tokenizer=tok, hidden_size=16, num_hidden_layers=1).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    out = tmp_path / "o"
    argv = ["ism", "--sequence", SEQ[:12], "--out", str(out), "--model", str(tmp_path / "m"), "--window", "8"]
    assert main(argv + ["--no-progress"]) == 0
    z = np.load(out / "ism.npz")  # --out is a folder (docs/cli.md)
    assert z["llr"].shape == (12, 4) and str(z["sequence"]) == SEQ[:12]
    for name in ("ism_heatmap.png", "ism_logo.png", "ism_heatmap.svg", "ism_logo.svg"):
        assert (out / name).exists()


def test_region_parsing_and_errors(lm):
    assert parse_region("chr1:1,001-2,000") == ("chr1", 1000, 2000)
    # guards against silently swapping 0- and 1-based coordinates
    with pytest.raises(ConfigError, match="1 <= start"):
        parse_region("chr1:0-10")
    with pytest.raises(ConfigError, match="either sequence"):
        ism(*lm)
    with pytest.raises(ConfigError, match="log-likelihood"):
        ism(*lm, "ACGT", method="embedding")


# --- bad input and the short-sequence policy -----------------------------------------------


@pytest.mark.parametrize(
    "seq, where",
    [
        ("ACGT*ACGT", "position 4"),
        ("ACG TACGT", "position 3"),
        ("ACG7T", "position 3"),
        ("ACGé", "position 3"),
    ],
)
def test_ism_sequence_refuses_characters_outside_iupac(lm, seq, where):
    # guards: '*', digits, spaces and non-ASCII were scored (a space shifted every later coordinate)
    model, tok = lm
    with pytest.raises(InputError, match=f"record 'sequence', {where}: invalid character"):
        ism(model, tok, seq)


def test_ism_sequence_refuses_the_empty_string(lm):
    # guards: an empty --sequence gave an empty result with exit 0
    model, tok = lm
    with pytest.raises(InputError, match="sequence is empty"):
        ism(model, tok, "")


def test_ism_region_with_a_star_in_the_genome_is_refused(lm):
    # guards: the indexed-genome path scored windows holding '*', which the FASTA reader rejects
    model, tok = lm
    with pytest.raises(InputError, match=r"record 'chr1', position 12: invalid character '\*'"):
        ism(model, tok, genome={"chr1": SEQ[:12] + "*" + SEQ[13:]}, region="chr1:31-40", window=16)


def test_frame_consistent_window():
    from genolm.variants.scoring import _window_bounds

    assert frame_consistent_window(100, 256) == 200 and frame_consistent_window(300, 256) == 256
    assert frame_consistent_window(256, None) == 512  # equal to the window: still one context
    # every site's clipped window is the whole sequence
    assert {_window_bounds(p, 1, 0, 100, frame_consistent_window(100, 256)) for p in range(100)} == {(0, 100)}


def test_ism_short_sequence_every_site_sees_the_whole_sequence_with_a_kmer_model():
    # guards: a --sequence shorter than the window was cut into a different window per site, so
    # a non-overlapping k-mer model (NT 6-mers) read each site in a different frame
    tok = get_tokenizer("nt6")
    torch.manual_seed(0)
    model = build_model("encoder", head="lm", tokenizer=tok, hidden_size=32, num_hidden_layers=2)
    seen = []
    # every forward path (full or logits_at) embeds its token ids first: record them there
    hook = model.get_input_embeddings().register_forward_pre_hook(
        lambda mod, args: seen.append(args[0].clone())
    )
    seq = SEQ[:60]
    try:
        res = ism(model, tok, seq, window=64)  # 32 < 60 <= 64: centred windows would differ per site
    finally:
        hook.remove()
    assert np.isfinite(res.llr).all()
    whole = torch.tensor(tok(seq)["input_ids"])
    rows = torch.cat([s.reshape(-1, s.shape[-1]) for s in seen])
    assert rows.shape[-1] == len(whole)  # one length: the whole sequence in every window
    fwd = rows[(rows == whole).sum(1) >= len(whole) - 1]  # forward-strand windows (one masked token)
    assert len(fwd) > 0
    unmasked = fwd != tok.mask_token_id
    assert torch.equal(torch.where(unmasked, fwd, whole.expand_as(fwd)), whole.expand_as(fwd))
