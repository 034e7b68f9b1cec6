"""The published-model catalogue and ``genolm.load``, offline, on tiny checkpoints built here in
each published format (genolm.catalogue.fixtures)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import genolm
from genolm.catalogue import detect_family, fixtures, get_entry, read_catalogue_file
from genolm.catalogue.loader import ADAPTERS, display_name
from genolm.errors import ConfigError, InputError
from genolm.registry import UnknownNameError

SEQ = "ACGTACGGTCAGTTACGATCGATCGATTTGACAGGACCATGA"
HAS_GPN = importlib.util.find_spec("gpn") is not None
HAS_ENFORMER = importlib.util.find_spec("enformer_pytorch") is not None


# --- the catalogue ------------------------------------------------------------------------------

REQUIRED = [
    "dnabert-3", "dnabert-4", "dnabert-5", "dnabert-6", "dnabert-2-117m",
    "nt-500m-human-ref", "nt-2.5b-multi-species",
    "nt-v2-50m-multi-species", "nt-v2-100m-multi-species", "nt-v2-250m-multi-species", "nt-v2-500m-multi-species",
    "agront-1b", "hyenadna-tiny-1k", "hyenadna-large-1m", "caduceus-ph-131k", "caduceus-ps-131k",
    "plantcaduceus-l32", "gpn-brassicales", "gpn-arabidopsis", "enformer", "evo-1-8k-base", "evo2-7b",
    "genolm-tiny", "genolm-tiny-mix",
]  # fmt: skip


def test_catalogue_lists_the_published_models_with_every_field():
    # guards against an entry the loader cannot route, or a missing model the issue names
    for name in REQUIRED:
        e = get_entry(name)
        assert e.family in ADAPTERS
        assert e.objective in ("mlm", "clm", "tracks") and e.context > 0 and e.params and e.license and e.data
        assert e.lora_able or "probe" in e.lora_note or "GPU" in e.lora_note
    # Caduceus / PlantCaduceus cannot just be LoRA'd: the catalogue says what to do instead
    assert not get_entry("plantcaduceus-l20").lora_able
    assert "probe" in get_entry("plantcaduceus-l20").lora_note
    assert get_entry("evo2-7b").gpu_only
    assert get_entry("dnabert-2-117m").remote_code
    # Hub ids are aliases
    assert get_entry("InstaDeepAI/agro-nucleotide-transformer-1b").name == "agront-1b"


def test_catalogue_errors_say_what_to_fix(tmp_path):
    with pytest.raises(UnknownNameError, match="Did you mean 'dnabert-6'"):
        get_entry("dnabert6")
    f = tmp_path / "m.yaml"
    f.write_text(
        "models:\n  - {name: x, hub: a/b, family: nt, tokenizer: nt6, objective: mlm, context: 10,\n"
        "     params: 1M, license: MIT, data: d, pooling: mean, lora: [q], licence: MIT}\n"
    )
    with pytest.raises(ConfigError, match="unknown key 'licence'.*Did you mean 'license'"):
        read_catalogue_file(f)
    f.write_text(
        "models:\n  - {name: x, hub: a/b, family: nt, tokenizer: nt6, objective: mlm, context: 10,\n"
        "     params: 1M, license: MIT, data: d, pooling: mean, lora: null}\n"
    )
    with pytest.raises(ConfigError, match="lora_note"):
        read_catalogue_file(f)


def test_ls_models_prints_the_catalogue(capsys):
    from genolm.cli.main import main

    assert main(["ls", "models"]) == 0
    out = capsys.readouterr().out
    assert "agront-1b" in out and "InstaDeepAI/agro-nucleotide-transformer-1b" in out
    assert main(["ls", "models", "--details", "plantcaduceus-l20"]) == 0
    assert "not LoRA-able" in capsys.readouterr().out


# --- the Hub cache, offline -------------------------------------------------------------------


def _as_hub_cache(src: Path, cache: Path, repo: str, sha: str = "a" * 40) -> Path:
    """Lay ``src`` out as huggingface_hub's cache holds a download of ``repo`` at ``main``."""
    root = cache / ("models--" + repo.replace("/", "--"))
    snap = root / "snapshots" / sha
    shutil.copytree(src, snap)
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(sha)
    return snap


def test_catalogue_name_loads_from_the_local_cache_offline(tmp_path, monkeypatch):
    # guards against a catalogue path that only works with network, and against an unrecorded commit
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    src = fixtures.make_tiny_dnabert(tmp_path / "src", k=6)
    _as_hub_cache(src, tmp_path / "cache", "zhihan1996/DNA_bert_6", sha="b" * 40)
    with pytest.warns(UserWarning, match="not pinned"):
        lm = genolm.load("dnabert-6", cache_dir=tmp_path / "cache")
    assert lm.entry.name == "dnabert-6" and lm.family == "dnabert" and lm.revision == "b" * 40
    assert lm.pooling == "cls"
    assert lm.embed([SEQ]).shape == (1, 32)


def test_missing_model_offline_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="not in the local cache.*set HF_HOME"):
        genolm.load("agront-1b", cache_dir=tmp_path / "empty", revision="c" * 40)
    with pytest.raises(InputError, match="unknown model 'dnabrt-6'.*Did you mean 'dnabert-6'"):
        genolm.load("dnabrt-6")
    with pytest.raises(InputError, match="no such model folder"):
        genolm.load(str(tmp_path / "nope" / "model"))


# --- DNABERT: stock BertForMaskedLM + genolm's k-mer tokenizer --------------------------------


@pytest.fixture(scope="module")
def dnabert(tmp_path_factory):
    return fixtures.make_tiny_dnabert(tmp_path_factory.mktemp("dnabert") / "m", k=6)


def test_dnabert_tokenization_matches_the_published_vocab(dnabert):
    from transformers import BertTokenizer

    lm = genolm.load(dnabert)
    assert type(lm.model).__name__ == "BertForMaskedLM"
    vocab = (dnabert / "vocab.txt").read_text().split()
    ids = lm.tokenize(SEQ).input_ids[0].tolist()
    assert ids[0] == vocab.index("[CLS]") and ids[-1] == vocab.index("[SEP]")
    assert [vocab[i] for i in ids[1:-1]] == [SEQ[i : i + 6] for i in range(len(SEQ) - 5)]
    stock = BertTokenizer(str(dnabert / "vocab.txt"), do_lower_case=False)
    assert stock(lm.tokenizer.to_stock_text(SEQ))["input_ids"] == ids
    # offsets: token t of the overlapping 6-mers spans bases [t, t + 6)
    off = lm.tokenize(SEQ).offsets[0]
    assert off[1].tolist() == [0, 6] and off[-2].tolist() == [len(SEQ) - 6, len(SEQ)]


def test_dnabert_embeddings_equal_a_plain_forward(dnabert):
    # guards against "embeddings that differ between implementations"
    lm = genolm.load(dnabert)
    got = lm.embed([SEQ, SEQ[:20]], pooling="mean", precision="fp32")
    for row, s in zip(got, [SEQ, SEQ[:20]]):
        ids = lm.tokenize(s).input_ids
        with torch.no_grad():
            h = lm.model.bert(input_ids=ids).last_hidden_state[0]
        np.testing.assert_allclose(row, h.mean(0).numpy(), rtol=1e-4, atol=1e-5)


def test_wrong_vocab_layout_is_refused(dnabert, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(dnabert, bad)
    lines = (bad / "vocab.txt").read_text().splitlines()
    lines[5], lines[6] = lines[6], lines[5]
    (bad / "vocab.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="not the published DNABERT.*token 5"):
        genolm.load(bad)


# --- log-probabilities: invariants -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["dnabert", "nt", "genolm"])
def test_masked_log_probs_do_not_see_the_base_they_predict(kind, tmp_path):
    # guards against a masked marginal that leaks the true base (overlapping k-mers would)
    folder = {
        "dnabert": lambda p: fixtures.make_tiny_dnabert(p, k=3),
        "nt": fixtures.make_tiny_nt,
        "genolm": fixtures.make_tiny_genolm,
    }[kind](tmp_path / kind)
    lm = genolm.load(folder)
    p = 17
    a = lm.log_probs(SEQ, [p])
    for b in "ACGT":
        mutated = SEQ[:p] + b + SEQ[p + 1 :]
        np.testing.assert_allclose(lm.log_probs(mutated, [p]), a, atol=1e-5)
    full = lm.log_probs(SEQ)
    assert full.shape == (len(SEQ), 4)
    np.testing.assert_allclose(np.exp(full).sum(1), 1.0, atol=1e-6)


def _llr_by_hand(model, tokenizer, seq: str, pos: int, alt: str) -> float:
    """log p(alt) - log p(ref) at ``pos``, every token covering it masked, averaged over those tokens:
    the model's own forward and a log-softmax, nothing of genolm's scorer."""
    from genolm.tokenizers.offsets import special_template, token_offsets

    pre, suf = special_template(tokenizer)
    ids, offs = token_offsets(tokenizer, seq)
    alt_ids, _ = token_offsets(tokenizer, seq[:pos] + alt + seq[pos + 1 :])
    cover = np.flatnonzero((offs[:, 0] <= pos) & (offs[:, 1] > pos))
    masked = ids.copy()
    masked[cover] = tokenizer.mask_token_id
    x = torch.tensor([list(pre) + masked.tolist() + list(suf)])
    with torch.no_grad():
        lp = torch.log_softmax(model(input_ids=x).logits[0].float(), dim=-1).numpy()
    rows = cover + len(pre)
    return float(np.mean(lp[rows, alt_ids[cover]] - lp[rows, ids[cover]]))


def _strand_mean_llr(model, tokenizer, seq: str, pos: int, alt: str) -> float:
    from genolm.alphabet import reverse_complement

    rc = reverse_complement(seq)
    fwd = _llr_by_hand(model, tokenizer, seq, pos, alt)
    back = _llr_by_hand(model, tokenizer, rc, len(seq) - 1 - pos, reverse_complement(alt))
    return (fwd + back) / 2


def test_variant_scores_through_a_published_checkpoint(dnabert):
    # the LLR of ref->alt equals log p(alt) - log p(ref) of the masked marginal at that base,
    # computed here through the stock class; an embedding distance (>= 0) would not match
    from transformers import BertForMaskedLM

    from genolm.io import Variant

    lm = genolm.load(dnabert)
    genome = {"chr1": SEQ}
    alt = "A" if SEQ[20] != "A" else "C"
    r = lm.score_variants(genome, [Variant("chr1", 20, None, SEQ[20], (alt,))], window=2 * len(SEQ))
    assert r.status == ["ok"] and r.method == ["llr"]
    stock = BertForMaskedLM.from_pretrained(str(dnabert)).eval()
    expected = _strand_mean_llr(stock, lm.tokenizer, SEQ, 20, alt)
    assert abs(expected) > 1e-4  # a random-init model still separates the alleles
    np.testing.assert_allclose(r.score[0], expected, rtol=1e-4, atol=1e-5)


# --- Nucleotide Transformer v1 / AgroNT: stock EsmForMaskedLM ------------------------------------


def test_nt_tokenization_matches_the_stock_esm_tokenizer(tmp_path):
    from transformers import EsmTokenizer

    folder = fixtures.make_tiny_nt(tmp_path / "nt")
    assert detect_family(folder) == "nt"
    lm = genolm.load(folder)
    assert type(lm.model).__name__ == "EsmForMaskedLM"
    s = "ACGTGTACNTGCACGGANCGACTAGTCTGA"
    ids = lm.tokenize(s).input_ids[0].tolist()
    assert ids == EsmTokenizer.from_pretrained(str(folder))(s)["input_ids"]
    vocab = (folder / "vocab.txt").read_text().split()
    assert [vocab[i] for i in ids] == "<cls> ACGTGT A C N TGCACG G A N CGACTA GTCTGA".split()
    assert lm.embed([s], per_nucleotide=True).shape == (len(s), 32)


# --- GPN: the gpn package's own modelling code ----------------------------------------------------


@pytest.mark.skipif(not HAS_GPN, reason="the gpn package is not installed")
def test_gpn_loads_with_the_published_modelling_code(tmp_path):
    folder = fixtures.make_tiny_gpn(tmp_path / "gpn")
    lm = genolm.load(folder)
    assert type(lm.model).__module__.startswith("gpn.")
    ids = lm.tokenize("ACGTn").input_ids[0].tolist()
    vocab = lm.tokenizer.get_vocab()
    assert ids == [vocab["a"], vocab["c"], vocab["g"], vocab["t"], vocab["[UNK]"]]
    assert lm.embed([SEQ]).shape == (1, 32)
    lp = lm.log_probs(SEQ, [0, 10])
    np.testing.assert_allclose(np.exp(lp).sum(1), 1.0, atol=1e-6)
    lm.entry = get_entry("gpn-brassicales")  # as when loaded by catalogue name
    with pytest.raises(ConfigError, match="not LoRA-able.*probe"):
        lm.lora_config()


# --- Enformer: enformer-pytorch's module, a track predictor -------------------------------------


@pytest.mark.skipif(not HAS_ENFORMER, reason="enformer-pytorch is not installed")
def test_enformer_embeds_bins_and_has_no_log_probs(tmp_path):
    folder = fixtures.make_tiny_enformer(tmp_path / "enf")
    assert detect_family(folder) == "enformer"
    lm = genolm.load(folder)
    assert type(lm.model).__name__ == "Enformer"
    x = lm.embed(["ACGT" * 64, "ACGT" * 64])
    assert x.shape == (2, 48)
    np.testing.assert_allclose(x[0], x[1], rtol=1e-5)
    assert lm.embed(["ACGT" * 64], per_nucleotide=True).shape == (4, 48)  # 4 bins of the tiny model
    with pytest.raises(ConfigError, match="no nucleotide log-probabilities"):
        lm.log_probs("ACGT" * 64)


# --- repositories that ship code ---------------------------------------------------------------


def test_remote_code_runs_only_when_asked(tmp_path):
    folder = fixtures.make_tiny_remote_clm(tmp_path / "remote")
    assert detect_family(folder) == "remote"
    with pytest.raises(ConfigError, match="modeling_remote.py.*trust_remote_code=True"):
        genolm.load(folder)
    lm = genolm.load(folder, trust_remote_code=True)
    assert lm.objective == "clm"
    # the slow character tokenizer gets offsets by alignment
    b = lm.tokenize("ACGTN")
    assert b.offsets[0][:5].tolist() == [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]
    lp = lm.log_probs(SEQ)
    assert np.isnan(lp[0]).all()  # no start token: the first base has no prediction
    np.testing.assert_allclose(np.exp(lp[1:]).sum(1), 1.0, atol=1e-6)
    assert lm.embed([SEQ, SEQ[:9]]).shape == (2, 32)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU refusal")
def test_gpu_only_models_are_refused_on_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    src = fixtures.make_tiny_remote_clm(tmp_path / "src")
    _as_hub_cache(src, tmp_path / "cache", "togethercomputer/evo-1-8k-base")
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        genolm.load("evo-1-8k-base", cache_dir=tmp_path / "cache", trust_remote_code=True)


# --- heads and the harness ----------------------------------------------------------------------


def test_classification_head_and_lora_targets(dnabert):
    lm = genolm.load(dnabert)
    clf = lm.for_classification(3)
    out = clf(input_ids=lm.tokenize([SEQ]).input_ids)
    assert out.logits.shape == (1, 3)
    lm.entry = get_entry("dnabert-6")
    from peft import get_peft_model

    peft_model = get_peft_model(clf, lm.lora_config(r=2))
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert any("lora_A" in n and ".query." in n for n in trainable)


def test_bench_harness_takes_a_published_checkpoint(dnabert, tmp_path):
    # a DNABERT folder through the same harness as native models: probe, with baselines beside it
    lm = genolm.load(str(dnabert))
    full = lm.for_task("binary", "full", num_labels=2)
    assert type(full).__name__ == "BertForSequenceClassification"
    assert type(lm.tokenizer).__name__ == "KmerTokenizer"
    probe = lm.for_task("binary", "probe")
    assert probe is lm.model and lm.family == lm.architecture == "dnabert"


def test_one_loader_gives_a_genolm_folders_window_and_task_models(tmp_path, dnabert):
    from genolm.data import model_path

    folder = tmp_path / "run" / "final"
    shutil.copytree(model_path("genolm-tiny"), folder)
    (folder / "pretrain.yaml").write_text("window: 96\n")
    lm = genolm.load(str(folder))
    assert (lm.family, lm.architecture, lm.objective, lm.window) == ("genolm", "gpn", "mlm", 96)
    assert genolm.load(str(dnabert)).window is None  # a published folder records no training window
    assert display_name(None, folder) == "run/final" and display_name(None, dnabert) == dnabert.name
    # for_task reads the folder again: the probe backbone holds the LM's own weights
    probe = lm.for_task("binary", "probe")
    lm_sd = lm.model.state_dict()
    assert all(torch.equal(t, lm_sd[f"model.{k}"]) for k, t in probe.state_dict().items())
    lm.require_log_probs("ISM")  # an MLM: nothing to say
    # guards against scoring variants with a model that has no nucleotide log-probabilities
    lm.objective = "embedding"
    with pytest.raises(ConfigError, match="not a masked or causal LM.*ISM needs one"):
        lm.require_log_probs("ISM")


@pytest.fixture
def weight_reads(monkeypatch):
    """Names of the classes whose weights ``from_pretrained`` read, in order."""
    from transformers import PreTrainedModel

    reads = []
    orig = PreTrainedModel.__dict__["from_pretrained"].__func__

    def counted(cls, *args, **kwargs):
        reads.append(cls.__name__)
        return orig(cls, *args, **kwargs)

    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(counted))
    return reads


@pytest.mark.parametrize("kind", ["genolm", "dnabert"])
def test_for_task_on_a_fresh_load_reads_the_weights_once(kind, dnabert, tmp_path, weight_reads):
    # guards against a bench run reading the checkpoint twice (the LM, then the task model built
    # from the folder): two copies of a published checkpoint's weights in memory at once
    folder = fixtures.make_tiny_genolm(tmp_path / "g") if kind == "genolm" else dnabert
    lm = genolm.load(str(folder))
    assert weight_reads == [] and not lm.model_loaded
    assert lm.architecture == ("encoder" if kind == "genolm" else "dnabert")  # from the config alone
    assert "not read yet" in repr(lm) and str(lm.device) == "cpu"
    model = lm.for_task("binary", "full")
    assert weight_reads == [type(model).__name__] and model.config.num_labels == 2
    assert not lm.model_loaded
    # the LM is still there for log-probabilities: read on first use, once
    assert np.isfinite(lm.log_probs(SEQ, [3])).all()
    assert lm.model_loaded and len(weight_reads) == 2
    lm.log_probs(SEQ, [4])
    assert len(weight_reads) == 2
    lm.model = None  # dropped stays dropped: nothing is read again
    assert lm.model is None and len(weight_reads) == 2 and str(lm.device) == "cpu"


def test_published_probe_reads_the_lm_once_and_load_refuses_a_folder_without_weights(
    dnabert, tmp_path, weight_reads
):
    lm = genolm.load(str(dnabert))
    probe = lm.for_task("binary", "probe")
    assert probe is lm.model and weight_reads == ["BertForMaskedLM"]
    # the weights are read later, but a folder without any is still refused at load time
    bare = tmp_path / "bare"
    shutil.copytree(dnabert, bare)
    for f in bare.glob("*.bin"):
        f.unlink()
    for f in bare.glob("*.safetensors"):
        f.unlink()
    with pytest.raises(InputError, match="no weights in the model folder"):
        genolm.load(str(bare))


def test_cli_scores_variants_with_a_remote_code_checkpoint_only_when_trusted(tmp_path, capsys):
    from genolm.cli.main import main

    folder = fixtures.make_tiny_remote_clm(tmp_path / "remote")
    fa = tmp_path / "ref.fa"
    fa.write_text(">chr1\n" + SEQ + "\n")
    vcf = tmp_path / "in.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        f"chr1\t11\t.\t{SEQ[10]}\t{'A' if SEQ[10] != 'A' else 'C'}\t.\t.\t.\n"
    )
    args = ["score-variants", "--genome", str(fa), "--vcf", str(vcf), "--model", str(folder), "--no-progress"]
    assert main(args + ["--out", str(tmp_path / "a.tsv")]) != 0
    assert "--trust-remote-code" in capsys.readouterr().err
    assert not (tmp_path / "a.tsv").exists()
    assert main(args + ["--out", str(tmp_path / "b.tsv"), "--trust-remote-code", "--window", "32"]) == 0
    text = (tmp_path / "b.tsv").read_text()
    assert "clm" in text and "\tok" in text


@pytest.mark.skipif(not HAS_GPN, reason="the gpn package is not installed")
def test_finetuner_trains_a_model_that_takes_no_attention_mask(tmp_path):
    # GPN's heads have no attention_mask argument: the harness must not pass one
    from genolm.bench.finetune import FinetuneConfig, Finetuner

    folder = fixtures.make_tiny_gpn(tmp_path / "gpn")
    lm = genolm.load(str(folder))
    model = lm.for_task("binary", "full", num_labels=2)
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 40)) for _ in range(16)]
    y = np.array([i % 2 for i in range(16)])
    est = Finetuner(model, lm.tokenizer, "binary", FinetuneConfig(max_epochs=1, progress=False), seed=0)
    est.fit(seqs, y, valid=(seqs[:4], y[:4]))
    assert est.predict_with_scores(seqs[:3])[1].shape[0] == 3


def test_remote_code_checkpoint_gets_a_classification_head_and_family_lora(tmp_path, dnabert):
    folder = fixtures.make_tiny_remote_clm(tmp_path / "remote")
    lm = genolm.load(folder, trust_remote_code=True)
    clf = lm.for_classification(2)
    assert type(clf).__name__ == "RemoteDNAForSequenceClassification"
    assert genolm.load(dnabert).lora_config().target_modules == {"query", "key", "value", "dense"}


@pytest.mark.parametrize("rcps", [False, True])
def test_caduceus_loads_without_remote_code(tmp_path, rcps):
    # RC-equivariance of the PS model itself is tested in test_caduceus.py (the tokenizer's
    # trailing [SEP] makes whole-input equivariance inexact here)
    folder = fixtures.make_tiny_caduceus(tmp_path / "cad", rcps=rcps)
    assert detect_family(folder) == "caduceus"
    lm = genolm.load(folder)  # no trust_remote_code, no mamba-ssm
    assert type(lm.model).__module__ == "genolm.models.caduceus"
    assert lm.embed([SEQ, SEQ[:11]]).shape[0] == 2
    lp = lm.log_probs(SEQ, [3, 20])
    np.testing.assert_allclose(np.exp(lp).sum(1), 1.0, atol=1e-6)


def test_plantcaduceus_uses_the_gpn_tokenizer_it_ships(tmp_path):
    from genolm.models import caduceus

    folder = caduceus.make_tiny_caduceus(tmp_path / "pc", rcps=True, flavour="plantcaduceus")
    lm = genolm.load(folder)
    vocab = lm.tokenizer.get_vocab()
    assert lm.tokenize("acgT").input_ids[0].tolist()[:4] == [vocab["a"], vocab["c"], vocab["g"], vocab["t"]]
    with pytest.raises(ConfigError, match="probe"):
        lm.entry = get_entry("plantcaduceus-l32")
        lm.lora_config()


# --- published modelling code: the interfaces as the Hub repositories ship them ------------------


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """Tiny checkpoints whose remote code has the published forward signatures and outputs."""
    root = tmp_path_factory.mktemp("published")
    return {
        "hyenadna": fixtures.make_tiny_hyenadna(root / "hyenadna"),
        "dnabert2": fixtures.make_tiny_dnabert2(root / "dnabert2"),
        "dnabert2-backbone": fixtures.make_tiny_dnabert2(root / "dnabert2-backbone", head=False),
        "ntv2": fixtures.make_tiny_nt_v2(root / "ntv2"),
        "ntv2-backbone": fixtures.make_tiny_nt_v2(root / "ntv2-backbone", head=False),
    }


def test_causal_lm_whose_forward_takes_no_attention_mask_embeds_as_if_alone(published):
    # HyenaDNA's forward has no attention_mask: a padded batch used to crash embed() (TypeError);
    # now each length bucket runs unpadded, so a batch gives what each sequence gives alone
    import inspect

    lm = genolm.load(published["hyenadna"], trust_remote_code=True)
    assert lm.objective == "clm" and type(lm.model).__name__ == "HyenaDNAForCausalLM"
    assert "attention_mask" not in inspect.signature(type(lm.model).forward).parameters
    seqs = [SEQ, SEQ[:9], SEQ[3:33], SEQ[:9].lower(), SEQ[5:40]]
    batch = lm.embed(seqs, batch_size=8)
    alone = np.stack([lm.embed([s])[0] for s in seqs])
    np.testing.assert_allclose(batch, alone, atol=1e-5)
    assert not np.allclose(batch[0], batch[2], atol=1e-3)  # different sequences differ
    per_nt = lm.embed(seqs[:2], per_nucleotide=True, batch_size=8)
    np.testing.assert_allclose(per_nt[len(SEQ) :], lm.embed([seqs[1]], per_nucleotide=True), atol=1e-5)
    lp = lm.log_probs(SEQ)
    assert np.isnan(lp[0]).all()
    np.testing.assert_allclose(np.exp(lp[1:]).sum(1), 1.0, atol=1e-6)
    from genolm.io import Variant

    alt = "A" if SEQ[20] != "A" else "C"
    r = lm.score_variants({"chr1": SEQ}, [Variant("chr1", 20, None, SEQ[20], (alt,))], window=32)
    assert r.status == ["ok"] and r.method == ["clm"]


def test_random_init_control_of_a_forward_without_attention_mask_keeps_the_adapter(published):
    # the random-init probe is built from the config (type(model)(config)): it used to lose the
    # forward adapter, so the bench's random-init control of HyenaDNA crashed with a TypeError
    from genolm.embed import InputPolicy, embed_sequences

    lm = genolm.load(published["hyenadna"], trust_remote_code=True)
    seqs = [SEQ, SEQ[:9], SEQ[3:33]]
    kw = dict(policy=InputPolicy(None, "error"), pooling="mean", level="sequence", layer=-1)
    trained = lm.for_task("binary", "probe")
    fresh = lm.for_task("binary", "probe", random_init=True)
    assert fresh is not trained and type(fresh) is type(trained)
    batch = embed_sequences(fresh, lm.tokenizer, seqs, batch_size=8, **kw)
    alone = np.concatenate([embed_sequences(fresh, lm.tokenizer, [s], batch_size=1, **kw) for s in seqs])
    np.testing.assert_allclose(batch, alone, atol=1e-5)
    assert not np.allclose(batch, embed_sequences(trained, lm.tokenizer, seqs, batch_size=8, **kw))


def test_masked_lm_remote_code_path_dnabert2(published):
    # DNABERT-2's BertModel returns a plain tuple and its MaskedLMOutput.hidden_states is one
    # tensor (B, T, H): embeddings must be the last layer at every row, not a row of the batch
    from transformers import AutoModel

    folder = published["dnabert2"]
    assert detect_family(folder) == "remote"
    with pytest.raises(ConfigError, match="bert_layers.py.*trust_remote_code=True"):
        genolm.load(folder)
    lm = genolm.load(folder, trust_remote_code=True)
    assert lm.objective == "mlm" and type(lm.model).__module__.startswith("transformers_modules")
    seqs = [SEQ, SEQ[:12], SEQ[7:40]]
    got = lm.embed(seqs, batch_size=8, precision="fp32")
    backbone = AutoModel.from_pretrained(str(folder), trust_remote_code=True).eval()
    assert isinstance(backbone(lm.tokenize([SEQ]).input_ids), tuple)  # the published return type
    for i, s in enumerate(seqs):
        with torch.no_grad():
            h = backbone(lm.tokenize([s]).input_ids)[0][0]  # (T, H)
        np.testing.assert_allclose(got[i], h.mean(0).numpy(), atol=1e-5)
    with pytest.raises(ConfigError, match="re-segments"):  # BPE: no per-base log-probabilities
        lm.log_probs(SEQ, [20])
    from genolm.io import Variant

    r = lm.score_variants({"chr1": SEQ}, [Variant("chr1", 20, None, SEQ[20], ("A", "C"))], window=32)
    assert set(r.status) == {"ok"} and set(r.method) <= {"llr", "pll"}
    clf = lm.for_classification(2)
    assert type(clf).__name__ == "BertForSequenceClassification"


def test_masked_lm_remote_code_path_nt_v2_llr_matches_a_hand_computation(published):
    # NT v2: the v2 repositories' own esm code (rotary, SwiGLU, add_bias_fnn); the checkpoint has
    # no contact head, which masked-LM logits never use: that must not be refused
    from transformers import AutoModelForMaskedLM

    from genolm.io import Variant
    from genolm.weights import missing_keys

    folder = published["ntv2"]
    lm = genolm.load(folder, trust_remote_code=True)
    assert any("contact_head" in k for k in missing_keys(lm.model))
    alt = "A" if SEQ[20] != "A" else "C"
    r = lm.score_variants({"chr1": SEQ}, [Variant("chr1", 20, None, SEQ[20], (alt,))], window=2 * len(SEQ))
    assert r.status == ["ok"] and r.method == ["llr"]
    model = AutoModelForMaskedLM.from_pretrained(str(folder), trust_remote_code=True).eval()
    np.testing.assert_allclose(
        r.score[0], _strand_mean_llr(model, lm.tokenizer, SEQ, 20, alt), rtol=1e-4, atol=1e-5
    )
    lp = lm.log_probs(SEQ, [20])
    np.testing.assert_allclose(np.exp(lp).sum(1), 1.0, atol=1e-6)


def _genolm_backbone_only(folder):
    from safetensors.torch import load_file, save_file

    st = folder / "model.safetensors"
    sd = load_file(str(st))
    save_file(
        {k: v for k, v in sd.items() if not k.startswith("lm_head.")}, str(st), metadata={"format": "pt"}
    )
    return folder


def _dnabert_backbone_only(folder):
    sd = torch.load(str(folder / "pytorch_model.bin"), weights_only=True)
    torch.save({k: v for k, v in sd.items() if not k.startswith("cls.")}, folder / "pytorch_model.bin")
    return folder


@pytest.mark.parametrize("kind", ["dnabert2-backbone", "ntv2-backbone", "dnabert", "genolm"])
def test_checkpoint_without_its_lm_head_is_refused_for_log_probs(kind, published, tmp_path):
    # a backbone-only checkpoint loads into XForMaskedLM with a randomly initialised head: genolm
    # used to return log-probabilities from it; now log_probs, score_variants and ism refuse,
    # naming the missing keys, and embeddings (which use the backbone only) still work
    from genolm.io import Variant
    from genolm.variants.ism import ism

    if kind in published:
        lm, head = (
            genolm.load(published[kind], trust_remote_code=True),
            {"dnabert2-backbone": "cls.predictions", "ntv2-backbone": "lm_head"}[kind],
        )
    elif kind == "dnabert":
        lm, head = (
            genolm.load(_dnabert_backbone_only(fixtures.make_tiny_dnabert(tmp_path / "d", k=3))),
            "cls.predictions",
        )
    else:
        lm, head = genolm.load(_genolm_backbone_only(fixtures.make_tiny_genolm(tmp_path / "g"))), "lm_head"
    assert lm.embed([SEQ]).shape[0] == 1
    with pytest.raises(ConfigError, match=rf"no weights for .*{head}\..*LM head would be random"):
        lm.log_probs(SEQ, [20])
    v = [Variant("chr1", 20, None, SEQ[20], ("A" if SEQ[20] != "A" else "C",))]
    with pytest.raises(ConfigError, match=rf"{head}\."):
        lm.score_variants({"chr1": SEQ}, v, window=32)
    with pytest.raises(ConfigError, match=rf"{head}\."):  # the plain function too (CLI path)
        from genolm.variants.scoring import score_variants

        score_variants(lm.model, lm.tokenizer, {"chr1": SEQ}, v, window=32)
    with pytest.raises(ConfigError, match=rf"{head}\."):
        ism(lm.model, lm.tokenizer, SEQ[:24])
    # the embedding scorer reads the backbone only: allowed
    r = lm.score_variants({"chr1": SEQ}, v, window=32, method="embedding")
    assert r.status == ["ok"]


def test_checkpoint_missing_a_backbone_tensor_is_refused_for_embeddings(tmp_path):
    from safetensors.torch import load_file, save_file

    folder = fixtures.make_tiny_genolm(tmp_path / "g")
    sd = load_file(str(folder / "model.safetensors"))
    gone = next(k for k in sd if ".layers.1." in k or ".layer.1." in k or "layers.1" in k)
    save_file(
        {k: v for k, v in sd.items() if k != gone},
        str(folder / "model.safetensors"),
        metadata={"format": "pt"},
    )
    lm = genolm.load(folder)
    with pytest.raises(ConfigError, match=rf"backbone would be random.*|{gone}"):
        lm.embed([SEQ])


def test_head_for_classification_may_be_new(published):
    # a fresh task head is expected to be missing from the checkpoint: for_classification is allowed
    lm = genolm.load(published["ntv2-backbone"], trust_remote_code=True)
    clf = lm.for_classification(2)
    assert clf(input_ids=lm.tokenize([SEQ]).input_ids).logits.shape == (1, 2)


def test_esm2_protein_lm_loads_through_the_one_loader_and_embeds(tmp_path):
    from transformers import EsmForMaskedLM

    from genolm.catalogue.loader import ESM2_VOCAB, detect_family
    from genolm.errors import InputError

    folder = fixtures.make_tiny_esm2(tmp_path / "esm2")
    assert detect_family(folder) == "esm2"  # not NT, although its vocab has <cls> and N
    lm = genolm.load(folder)
    assert lm.family == "esm2" and lm.objective == "mlm"
    ids = lm.tokenize(["MKTAYW"]).input_ids[0].tolist()
    assert ids == [ESM2_VOCAB.index(t) for t in ["<cls>", "M", "K", "T", "A", "Y", "W", "<eos>"]]
    v = lm.embed(["MKTAYIAKQRQISFVKSHFSRQ", "MKTAY"])
    assert v.shape == (2, 32) and np.isfinite(v).all()
    # the same mean pooling by hand over the residues (and specials) of the stock model
    model = EsmForMaskedLM.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        hs = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0]
    mine = lm.embed(["MKTAYW"], precision="fp32")[0]
    np.testing.assert_allclose(mine, hs.mean(0).numpy(), atol=1e-4)  # genolm's mean over every token
    with pytest.raises(InputError, match="protein language model"):
        lm.embed(["ACGTACGTACGTACGTACGTACGTAC"])
    with pytest.raises(InputError, match="not amino acids"):
        lm.embed(["MKT1AY"])
    (folder / "vocab.txt").write_text("\n".join(ESM2_VOCAB[::-1]) + "\n")
    with pytest.raises(InputError, match="ESM-2 layout"):
        genolm.load(folder)
