"""The bundled models: each ships under 5 MB, loads with stock transformers, and its config reproduces it."""

import pytest

from genolm.data import model_path

BUNDLED = ["genolm-tiny", "genolm-tiny-mix"]


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_model_loads_and_is_small(name):
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    import genolm.models  # noqa: F401  (registers genolm-gpn)
    import genolm.tokenizers  # noqa: F401

    d = model_path(name)
    size = sum(p.stat().st_size for p in d.iterdir())
    assert size < 5 * 1024 * 1024
    model = AutoModelForMaskedLM.from_pretrained(d)
    tok = AutoTokenizer.from_pretrained(d)
    enc = tok(["ACGTACGTAAGGCCTT"], return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, return_full_logits=True)
    assert out.logits.shape == (1, enc["input_ids"].shape[1], len(tok))
    assert torch.isfinite(out.logits).all()
    # a model card that says how it was made, and no remote-code hook (genolm loads it natively)
    assert "Reproduce" in (d / "README.md").read_text()
    assert "auto_map" not in (d / "config.json").read_text()


def test_bundled_model_configs_are_valid_pretrain_configs():
    from genolm import config as C
    from genolm.train.pretrain_config import PretrainConfig

    tiny = C.load(PretrainConfig, model_path("genolm-tiny") / "pretrain.yaml")
    assert tiny.corpus == ["bundled:lambda", "bundled:chloroplast"] and tiny.model == "gpn"
    mix = C.load(PretrainConfig, model_path("genolm-tiny-mix") / "pretrain.yaml")
    # the same architecture, only the pretraining differs
    assert (mix.model, mix.model_config, mix.tokenizer) == (tiny.model, tiny.model_config, tiny.tokenizer)
    assert mix.corpus[:2] == tiny.corpus and any("chr20" in c for c in mix.corpus) and len(mix.corpus) == 10


def test_bundled_models_differ():
    # guards against shipping a copy: the mix model's weights are its own
    from safetensors.torch import load_file

    a = load_file(model_path("genolm-tiny") / "model.safetensors")
    b = load_file(model_path("genolm-tiny-mix") / "model.safetensors")
    assert a.keys() == b.keys()
    assert any(not (a[k] == b[k]).all() for k in a if a[k].is_floating_point())
