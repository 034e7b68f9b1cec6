"""The embedded default model: ships under 5 MB, loads with stock transformers, and its config reproduces it."""

from genolm.data import model_path


def test_bundled_model_loads_and_is_small():
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    import genolm.models  # noqa: F401  (registers genolm-gpn)
    import genolm.tokenizers  # noqa: F401

    d = model_path("genolm-tiny")
    size = sum(p.stat().st_size for p in d.iterdir())
    assert size < 5 * 1024 * 1024
    model = AutoModelForMaskedLM.from_pretrained(d)
    tok = AutoTokenizer.from_pretrained(d)
    enc = tok(["ACGTACGTAAGGCCTT"], return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, return_full_logits=True)
    assert out.logits.shape == (1, enc["input_ids"].shape[1], len(tok))
    assert torch.isfinite(out.logits).all()


def test_bundled_model_config_is_a_valid_pretrain_config():
    from genolm import config as C
    from genolm.train.pretrain_config import PretrainConfig

    cfg = C.load(PretrainConfig, model_path("genolm-tiny") / "pretrain.yaml")
    assert cfg.corpus == ["bundled:lambda", "bundled:chloroplast"] and cfg.model == "gpn"
