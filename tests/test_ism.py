"""In-silico saturation mutagenesis (genolm.variants.ism)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genolm.errors import ConfigError
from genolm.io import Variant
from genolm.models import build_model
from genolm.tokenizers import get_tokenizer
from genolm.variants import score_variants
from genolm.variants.ism import ALPHABET, ism, parse_region, plot_ism_heatmap, plot_ism_logo

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


def test_ism_cli(tmp_path):
    from genolm.cli.main import main

    tok = get_tokenizer("char")
    torch.manual_seed(0)
    build_model("gpn", tokenizer=tok, hidden_size=16, num_hidden_layers=1).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    out = tmp_path / "o"
    argv = ["ism", "--sequence", SEQ[:12], "--out", str(out), "--model", str(tmp_path / "m"), "--window", "8"]
    assert main(argv + ["--no-progress"]) == 0
    z = np.load(f"{out}.npz")
    assert z["llr"].shape == (12, 4) and str(z["sequence"]) == SEQ[:12]
    assert (tmp_path / "o_heatmap.png").exists() and (tmp_path / "o_logo.png").exists()


def test_region_parsing_and_errors(lm):
    assert parse_region("chr1:1,001-2,000") == ("chr1", 1000, 2000)
    # guards against silently swapping 0- and 1-based coordinates
    with pytest.raises(ConfigError, match="1 <= start"):
        parse_region("chr1:0-10")
    with pytest.raises(ConfigError, match="either sequence"):
        ism(*lm)
    with pytest.raises(ConfigError, match="log-likelihood"):
        ism(*lm, "ACGT", method="embedding")
