"""CaduceusForSequenceClassification: the published head on genolm's Caduceus port.

On tiny published-format checkpoints of a plain (Caduceus-Ph-like) and an RCPS model of each
tokenizer flavour: shapes and the three ``problem_type`` losses, reverse-complement invariance of
the RCPS (and conjoined) logits, padding invariance, ``save_pretrained`` round trips through
``AutoModelForSequenceClassification``, ``genolm.load(...).for_classification``, and one full
fine-tune through the bench harness.  Expected losses are computed here with ``torch.nn.functional``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import genolm
from genolm.errors import ConfigError, InputError
from genolm.models import caduceus as cad

STRATEGIES = ["mean", "max", "first", "last"]


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module", autouse=True)
def registered():
    cad.register()


@pytest.fixture(scope="module")
def ph(tmp_path_factory):
    """Caduceus-Ph-like: no RCPS, Caduceus' tokenizer (A C G T = 7 8 9 10, [SEP] appended)."""
    return cad.make_tiny_caduceus(tmp_path_factory.mktemp("ph"), rcps=False)


@pytest.fixture(scope="module")
def ps(tmp_path_factory):
    """Caduceus-PS-like: RCPS, Caduceus' tokenizer."""
    return cad.make_tiny_caduceus(tmp_path_factory.mktemp("ps"), rcps=True)


@pytest.fixture(scope="module")
def pc(tmp_path_factory):
    """PlantCaduceus-like: RCPS, GPN's tokenizer (a c g t = 3 4 5 6, nothing appended)."""
    return cad.make_tiny_caduceus(tmp_path_factory.mktemp("pc"), rcps=True, flavour="plantcaduceus")


def classifier(folder, num_labels=2, **kwargs):
    return AutoModelForSequenceClassification.from_pretrained(
        str(folder), num_labels=num_labels, **kwargs
    ).eval()


def bases(folder, n=3, length=21, seed=0):
    """``(n, length)`` random base token ids of the folder's tokenizer (no special tokens)."""
    tok = AutoTokenizer.from_pretrained(str(folder))
    acgt = torch.tensor([tok.convert_tokens_to_ids(b) for b in tok.tokenize("ACGT")])
    return acgt[torch.randint(0, 4, (n, length), generator=torch.Generator().manual_seed(seed))]


def rc(ids, model):
    return torch.tensor(model.config.complement_ids)[ids.flip(-1)]


# --- shapes and losses ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ph", "pc"])
def test_three_problem_types(kind, request):
    folder = request.getfixturevalue(kind)
    ids = bases(folder, n=4)
    # regression: one output, float labels
    model = classifier(folder, num_labels=1)
    y = torch.tensor([0.5, -1.0, 2.0, 0.0])
    out = model(ids, labels=y)
    assert out.logits.shape == (4, 1) and model.config.problem_type == "regression"
    torch.testing.assert_close(out.loss, F.mse_loss(out.logits[:, 0], y))
    # single label: integer labels
    model = classifier(folder, num_labels=3)
    y = torch.tensor([0, 2, 1, 2])
    out = model(ids, labels=y)
    assert out.logits.shape == (4, 3) and model.config.problem_type == "single_label_classification"
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, y))
    # multi label: float (B, num_labels) targets
    model = classifier(folder, num_labels=3)
    y = torch.tensor([[1.0, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]])
    out = model(ids, labels=y)
    assert model.config.problem_type == "multi_label_classification"
    torch.testing.assert_close(out.loss, F.binary_cross_entropy_with_logits(out.logits, y))
    # tuple output: (loss, logits)
    loss, logits = model(ids, labels=y, return_dict=False)
    torch.testing.assert_close(logits, out.logits)
    # hidden states are the backbone's (width 2D for RCPS)
    hs = model(ids, output_hidden_states=True).hidden_states
    assert len(hs) == model.config.n_layer + 1 and hs[-1].shape[-1] == model.caduceus(ids)[0].shape[-1]


def test_head_is_the_published_one(ph, ps):
    for folder in (ph, ps):
        model = classifier(folder, num_labels=3)
        assert isinstance(model, cad.CaduceusForSequenceClassification)
        assert model.score.bias is None and model.score.weight.shape == (3, model.config.d_model)
        # the published init_scorer: N(0, initializer_range = 0.02), not nn.Linear's default
        assert 0.005 < float(model.score.weight.detach().std()) < 0.05
    with pytest.raises(ConfigError, match="pooling_strategy 'meen'.*Did you mean 'mean'"):
        classifier(ph, pooling_strategy="meen")
    with pytest.raises(ConfigError, match="pooling_strategy 'cls'"):
        cad.CaduceusForSequenceClassification(
            cad.CaduceusConfig.from_pretrained(str(ph)), pooling_strategy="cls"
        )


# the published pool_hidden_states, on a (B, L, H) state without padding
POOL = {
    "mean": lambda h: h.mean(1),
    "max": lambda h: h.max(1).values,
    "first": lambda h: h[:, 0],
    "last": lambda h: h[:, -1],
}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_pooling_is_the_published_one(ph, ps, strategy):
    for folder in (ph, ps):
        model = classifier(folder, num_labels=3, pooling_strategy=strategy)
        ids = bases(folder, seed=3)
        D = model.config.d_model
        with torch.no_grad():
            h = model.caduceus(ids).last_hidden_state
            if model.config.rcps:  # both strands, the reverse one flipped back; logits averaged
                fwd, rev = h[..., :D], torch.flip(h[..., D:], dims=[1, 2])
                want = (model.score(POOL[strategy](fwd)) + model.score(POOL[strategy](rev))) / 2
            else:
                want = model.score(POOL[strategy](h))
            torch.testing.assert_close(model(ids).logits, want)


# --- reverse complement -----------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_rcps_logits_are_reverse_complement_invariant(ps, pc, ph, strategy):
    for folder in (ps, pc):
        model = classifier(folder, num_labels=3, pooling_strategy=strategy)
        ids = bases(folder, seed=1)
        with torch.no_grad():
            torch.testing.assert_close(model(rc(ids, model)).logits, model(ids).logits, rtol=1e-5, atol=1e-6)
    # not vacuous: the plain model is not invariant
    plain = classifier(ph, num_labels=3, pooling_strategy=strategy)
    ids = bases(ph, seed=1)
    with torch.no_grad():
        assert (plain(rc(ids, plain)).logits - plain(ids).logits).abs().max() > 1e-4


@pytest.mark.parametrize("strategy", ["mean", "first"])
def test_conjoining_averages_both_strands(ph, strategy):
    ids = bases(ph, seed=2)
    assert classifier(ph, conjoin_eval=True).config.conjoin_eval is True  # from_pretrained passes it on
    model = classifier(ph, num_labels=3, pooling_strategy=strategy)
    with torch.no_grad():
        fwd, rev = model(ids).logits, model(rc(ids, model)).logits
        model.config.conjoin_eval = True
        both = model(ids).logits
        # the mean of the plain logits of both strands, hence RC-invariant
        torch.testing.assert_close(both, (fwd + rev) / 2)
        torch.testing.assert_close(model(rc(ids, model)).logits, both)
        # the published layout: (B, L, 2) ids with the reverse strand given
        torch.testing.assert_close(model(torch.stack([ids, rc(ids, model)], -1)).logits, both)
        # conjoin_eval is off in training mode, conjoin_train is on in both
        torch.testing.assert_close(model.train()(ids).logits, fwd)
        model.config.conjoin_train = True
        torch.testing.assert_close(model(ids).logits, both)
        model.config.conjoin_train = model.config.conjoin_eval = False
        with pytest.raises(InputError, match=r"\(B, L, 2\) input_ids"):
            model(torch.stack([ids, ids], -1))


# --- padding ----------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("kind", ["ph", "pc"])
def test_padding_never_changes_the_logits(kind, strategy, request):
    folder = request.getfixturevalue(kind)
    tok = AutoTokenizer.from_pretrained(str(folder))
    models = [classifier(folder, num_labels=3, pooling_strategy=strategy)]
    if kind == "ph":
        models.append(classifier(folder, num_labels=3, pooling_strategy=strategy, conjoin_eval=True))
    seqs = ["ACGTTGCAACGTA", "GGAT", "TTACGCA"]
    for side in ("left", "right"):
        tok.padding_side = side
        enc = tok(seqs, padding=True, return_tensors="pt")
        assert not bool(enc["attention_mask"].all())
        for model in models:
            with torch.no_grad():
                batch = model(enc["input_ids"], attention_mask=enc["attention_mask"]).logits
                alone = torch.cat([model(tok([s], return_tensors="pt")["input_ids"]).logits for s in seqs])
            torch.testing.assert_close(batch, alone, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="no tokens"):
        models[0](enc["input_ids"][:1], attention_mask=torch.zeros_like(enc["attention_mask"][:1]))


# --- saving and loading -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ph", "pc"])
def test_save_pretrained_round_trip(kind, request, tmp_path):
    folder = request.getfixturevalue(kind)
    model = classifier(folder, num_labels=3, pooling_strategy="max")
    ids = bases(folder, n=2)
    model.save_pretrained(tmp_path)
    with safe_open(str(tmp_path / "model.safetensors"), framework="pt") as f:
        keys = set(f.keys())
    assert "score.weight" in keys and not any(k.startswith("lm_head") for k in keys)
    again = AutoModelForSequenceClassification.from_pretrained(str(tmp_path)).eval()
    assert type(again) is cad.CaduceusForSequenceClassification
    assert again.config.pooling_strategy == "max" and again.config.num_labels == 3
    with torch.no_grad():
        torch.testing.assert_close(again(ids).logits, model(ids).logits)
    # a head of another size does not fit the saved one: a clear error, not a random head
    with pytest.raises(InputError, match="wrong shape.*score.weight"):
        AutoModelForSequenceClassification.from_pretrained(str(tmp_path), num_labels=2)


@pytest.mark.parametrize("kind", ["ph", "pc"])
def test_genolm_load_for_classification_trains(kind, request):
    folder = request.getfixturevalue(kind)
    lm = genolm.load(folder)
    model = lm.for_classification(2)
    assert type(model) is cad.CaduceusForSequenceClassification
    backbone = (
        "caduceus.backbone.layers.1.mixer" + (".submodule" if model.config.rcps else "") + ".mamba_fwd.D"
    )
    assert torch.equal(model.state_dict()[backbone], lm.model.state_dict()[backbone])  # pretrained weights
    enc = lm.tokenizer(["ACGTTGCAACGTA", "GGAT", "TTACGCA", "CCCGGA"], padding=True, return_tensors="pt")
    y = torch.tensor([0, 1, 1, 0])
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    before = model(**enc, labels=y).loss
    before.backward()
    opt.step()
    after = model(**enc, labels=y).loss
    assert float(after.detach()) < float(before.detach())


def test_full_fine_tune_through_the_bench_harness(pc):
    import genolm
    from genolm.bench.finetune import FinetuneConfig, Finetuner

    lm = genolm.load(str(pc))
    model = lm.for_task("binary", "full", num_labels=2)
    assert type(model) is cad.CaduceusForSequenceClassification and lm.architecture == "caduceus"
    rand = lm.for_task("binary", "full", num_labels=2, random_init=True)
    w = "caduceus.backbone.layers.0.mixer.submodule.mamba_fwd.x_proj.weight"
    assert not torch.equal(rand.state_dict()[w], model.state_dict()[w])
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), int(rng.integers(20, 30)))) for _ in range(32)]
    y = np.arange(32) % 2
    cfg = FinetuneConfig(mode="full", max_epochs=1, batch_size=8, progress=False, precision="fp32")
    ft = Finetuner(model, lm.tokenizer, "binary", cfg, seed=0).fit(seqs, y)
    assert ft.n_trainable_ == ft.n_params_
    assert not torch.equal(ft.model_.state_dict()[w], model.state_dict()[w])  # the backbone trained
    pred = ft.predict_with_scores(seqs[:8])
    assert pred.y_score.shape[0] == 8 and np.isfinite(pred.y_score).all()


def test_config_keys_stay_out_of_mlm_configs_and_the_callers_config(ph, tmp_path):
    """An MLM config.json gains no classifier keys (readers that do not know them keep working), and
    constructor arguments do not leak into the config object the caller passed."""
    config = cad.CaduceusConfig.from_pretrained(str(ph))
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert not {"pooling_strategy", "conjoin_train", "conjoin_eval"} & set(saved)
    model = cad.CaduceusForSequenceClassification(config, pooling_strategy="max")
    assert model.config.pooling_strategy == "max" and config.pooling_strategy == "mean"
