import pytest

from genolm import config as C
from genolm.errors import ConfigError
from genolm.train.pretrain_config import PretrainConfig


def test_yaml_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("corpus: [a.fa]\nmax_steps: 10\nlr: 0.01\nmodel_config: {hidden_size: 64}\n")
    cfg = C.load(PretrainConfig, f, {"max_steps": "20", "rc_augment": "false"})
    assert cfg.max_steps == 20 and cfg.lr == 0.01 and cfg.rc_augment is False
    assert cfg.model_config == {"hidden_size": 64}
    assert cfg.window == PretrainConfig().window  # untouched keys keep the defaults


def test_unknown_key_did_you_mean(tmp_path):
    # guards against a typo silently falling back to a default
    f = tmp_path / "c.yaml"
    f.write_text("max_step: 10\n")
    with pytest.raises(ConfigError, match=r"unknown key 'max_step'. Did you mean 'max_steps'"):
        C.load(PretrainConfig, f)


def test_bad_types_and_values(tmp_path):
    with pytest.raises(ConfigError, match="expected int"):
        C.from_dict(PretrainConfig, {"max_steps": "many"})
    with pytest.raises(ConfigError, match="expected an integer"):
        C.from_dict(PretrainConfig, {"max_steps": 2.5})
    with pytest.raises(ConfigError, match="precision"):
        C.from_dict(PretrainConfig, {"precision": "fp8"})
    f = tmp_path / "c.yaml"
    f.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        C.load(PretrainConfig, f)


def test_list_from_comma_string():
    cfg = C.from_dict(PretrainConfig, {"corpus": "a.fa,b.fa"})
    assert cfg.corpus == ["a.fa", "b.fa"]
