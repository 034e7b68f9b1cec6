"""genolm checkpoints outside genolm: plain transformers (remote code) and ``import genolm`` + Auto classes.

The plain-transformers route runs in a subprocess that cannot import genolm at all
(``python -I -S`` with only the directory holding transformers on ``sys.path``, so the editable
install's path hook never runs); it must give the same logits as genolm in this process.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

import genolm.auto
import genolm.models as M
from genolm.sharing import MODELING_FILE, TOKENIZATION_FILE
from genolm.tokenizers import TOKENIZERS, get_tokenizer

SITE = str(Path(transformers.__file__).resolve().parents[1])
SEQS = ["ACGTACGGTTACGATCGATTACGA", "GGCATTACNNACGTAGCA"]
TINY = {"hidden_size": 32, "num_hidden_layers": 2}
EXTRA = {"hyena": {"filter_order": 16, "max_position_embeddings": 64}, "encoder": {"num_attention_heads": 2}}
#: (family, tokenizer): every family, and among them every tokenizer class
CASES = [
    ("encoder", "kmer6"),
    ("gpn", "char"),
    ("gpn-rc", "char"),
    ("convnova", "kmer6"),
    ("convnova-rc", "char"),
    ("hyena", "nt6"),
    ("decoder", "codon"),
    ("encoder", "iupac"),
]


def _run(code: str, *, isolated: bool, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HF_HOME": str(cwd / "hf"), "OMP_NUM_THREADS": "1"}
    if isolated:
        prelude = f"import sys; sys.path.append({SITE!r})\n"
        argv = [sys.executable, "-I", "-S", "-c", prelude + code]
    else:
        env["PYTHONPATH"] = str(Path(genolm.auto.__file__).parents[1])
        argv = [sys.executable, "-c", code]
    out = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def _save(family: str, scheme: str, folder: Path, seed: int = 0):
    tok = get_tokenizer(scheme)
    torch.manual_seed(seed)
    model = M.build_model(family, "lm", tokenizer=tok, **TINY, **EXTRA.get(family, {})).eval()
    with torch.no_grad():  # large random weights so equal logits cannot come from a near-zero init
        for p in model.parameters():
            p.normal_(0, 0.3)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return model, tok


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict:
    """Each case saved by genolm, and its logits from genolm and from plain transformers."""
    root = tmp_path_factory.mktemp("interop")
    cases = {}
    for family, scheme in CASES:
        folder = root / f"{family}-{scheme}"
        model, tok = _save(family, scheme, folder)
        batch = tok(SEQS, padding=True, return_tensors="pt")
        with torch.no_grad():
            logits = (
                model(**batch, return_full_logits=True).logits
                if family in ("encoder", "gpn", "gpn-rc", "convnova", "convnova-rc")
                else model(**batch).logits
            )
        cases[(family, scheme)] = {
            "folder": folder,
            "logits": logits.numpy(),
            "ids": batch["input_ids"].numpy(),
        }
    # one subprocess for every case (a transformers import costs seconds); it imports only transformers
    code = textwrap.dedent(
        f"""
        import importlib.util, json, sys
        import numpy as np, torch
        assert importlib.util.find_spec("genolm") is None, "genolm must not be importable here"
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer
        out = {{}}
        for folder in {json.dumps([str(c["folder"]) for c in cases.values()])}:
            cfg = AutoConfig.from_pretrained(folder, trust_remote_code=True)
            auto = AutoModelForMaskedLM if "AutoModelForMaskedLM" in cfg.auto_map else AutoModelForCausalLM
            model = auto.from_pretrained(folder, trust_remote_code=True).eval()
            tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
            batch = tok({SEQS!r}, padding=True, return_tensors="pt")
            kw = {{"return_full_logits": True}} if auto is AutoModelForMaskedLM else {{}}
            with torch.no_grad():
                logits = model(**batch, **kw).logits
            np.save(folder + "/plain_logits.npy", logits.numpy())
            np.save(folder + "/plain_ids.npy", batch["input_ids"].numpy())
            out[folder] = [type(model).__module__, type(tok).__module__]
        assert not any(m == "genolm" or m.startswith("genolm.") for m in sys.modules), "genolm was imported"
        print(json.dumps(out))
        """
    )
    res = _run(code, isolated=True, cwd=root)
    modules = json.loads(res.stdout.strip().splitlines()[-1])
    for c in cases.values():
        c["plain_modules"] = modules[str(c["folder"])]
    return cases


@pytest.mark.parametrize(("family", "scheme"), CASES, ids=[f"{f}-{s}" for f, s in CASES])
def test_plain_transformers_loads_genolm_checkpoint(saved, family, scheme):
    # guards against a saved model that only genolm can read (no auto_map, or modelling code that
    # imports genolm): plain transformers with trust_remote_code must give genolm's logits
    case = saved[(family, scheme)]
    folder = case["folder"]
    model_module, tok_module = case["plain_modules"]
    assert model_module.endswith(".modeling_genolm") and tok_module.endswith(".tokenization_genolm")
    np.testing.assert_array_equal(np.load(folder / "plain_ids.npy"), case["ids"])
    np.testing.assert_allclose(np.load(folder / "plain_logits.npy"), case["logits"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("family", "scheme"), CASES[:2], ids=[f"{f}-{s}" for f, s in CASES[:2]])
def test_saved_folder_carries_files_auto_map_and_card(saved, family, scheme):
    folder = saved[(family, scheme)]["folder"]
    cfg = json.loads((folder / "config.json").read_text())
    prefix = type(M.MODELS.get(family).config_class()).__name__.removesuffix("Config")
    lm = "AutoModelForMaskedLM" if M.MODELS.get(family).objective == "mlm" else "AutoModelForCausalLM"
    assert cfg["auto_map"]["AutoConfig"] == f"modeling_genolm.{prefix}Config"
    assert cfg["auto_map"][lm] == f"modeling_genolm.{prefix}For{lm.removeprefix('AutoModelFor')}"
    assert set(cfg["auto_map"]) == {
        "AutoConfig",
        "AutoModel",
        lm,
        "AutoModelForSequenceClassification",
        "AutoModelForTokenClassification",
    }
    tcfg = json.loads((folder / "tokenizer_config.json").read_text())
    assert (
        tcfg["auto_map"]["AutoTokenizer"][0] == f"tokenization_genolm.{type(get_tokenizer(scheme)).__name__}"
    )
    assert (folder / MODELING_FILE).is_file() and (folder / TOKENIZATION_FILE).is_file()
    for name in (MODELING_FILE, TOKENIZATION_FILE):
        text = (folder / name).read_text()
        assert not re.search(r"^\s*(from|import) genolm", text, flags=re.M), name
    card = (folder / "README.md").read_text()
    assert "pip install genolm" in card and "trust_remote_code=True" in card and cfg["model_type"] in card


def test_model_card_is_not_overwritten(tmp_path):
    # a card the user wrote (or bench's model-index card) must survive a later save
    (tmp_path / "README.md").write_text("my card\n")
    _save("gpn", "char", tmp_path)
    assert (tmp_path / "README.md").read_text() == "my card\n"


class _Hub:
    """Records what ``push_to_hub`` would upload.  The Hub is unreachable here, so the ``HfApi``
    calls and the card download are replaced: the files and card genolm builds are the real ones."""

    def __init__(self, monkeypatch, tmp_path, *, remote_card: bool):
        from types import SimpleNamespace

        import huggingface_hub

        self.uploads, self.branches, self.card_revisions = [], [], []
        hub = self
        monkeypatch.setattr(
            huggingface_hub.HfApi, "create_repo", lambda api, repo_id, **kw: SimpleNamespace(repo_id=repo_id)
        )
        monkeypatch.setattr(
            huggingface_hub.HfApi, "create_branch", lambda api, **kw: hub.branches.append(kw["branch"])
        )

        def file_exists(api, repo_id, filename, revision=None, **kw):
            hub.card_revisions.append(revision)
            return remote_card

        monkeypatch.setattr(huggingface_hub.HfApi, "file_exists", file_exists)

        def upload_folder(api, *, repo_id, folder_path, **kw):
            files = {p.name: p.read_bytes() for p in Path(folder_path).iterdir() if p.is_file()}
            hub.uploads.append({"repo_id": repo_id, "files": files, **kw})
            return f"https://huggingface.co/{repo_id}/commit/0"

        monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)

        def download(repo_id, filename, revision=None, **kw):  # the repo's own card at that revision
            out = tmp_path / f"remote-{revision}.md"
            out.write_text(f"---\ntags:\n- mine\n---\n\nthe owner's card on {revision}\n")
            return str(out)

        monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)


@pytest.mark.parametrize("remote_card", [False, True])
def test_push_to_hub_keeps_genolm_card_or_the_repos_own(monkeypatch, tmp_path, remote_card):
    hub = _Hub(monkeypatch, tmp_path, remote_card=remote_card)
    tok = get_tokenizer("char")
    model = M.build_model("gpn", "lm", tokenizer=tok, **TINY)
    url = model.push_to_hub("lab/maize-gpn", tags=["maize", "yes", "maize"], revision="v2")
    assert url.startswith("https://huggingface.co/lab/maize-gpn")
    assert hub.branches == ["v2"] and hub.card_revisions == ["v2"]  # branch made, card looked up there
    (up,) = hub.uploads
    assert up["revision"] == "v2"
    files = up["files"]
    assert {"config.json", "model.safetensors", MODELING_FILE, "README.md"} <= set(files)
    card = files["README.md"].decode()
    import huggingface_hub

    tags = huggingface_hub.ModelCard(card).data.tags
    assert tags.count("maize") == 1 and "yes" in tags  # deduplicated, a string (not YAML's true)
    if remote_card:  # the repo's card at that revision stays, tagged
        assert "the owner's card on v2" in card and "mine" in tags
        assert "pip install genolm" not in card
    else:  # a new repo gets genolm's card (transformers' own push wrote a generic template)
        assert "pip install genolm" in card and "trust_remote_code=True" in card
        assert "# maize-gpn" in card  # titled by the repo, not the temporary folder
        assert "lab/maize-gpn" in card and "path/or/hub-id" not in card  # runnable loading code
        assert "genolm" in tags
    assert json.loads(files["config.json"])["auto_map"]


def test_fresh_process_import_genolm_is_enough_for_auto_classes(saved):
    # guards against the misleading "needs sentencepiece or tiktoken" error: `import genolm` alone
    # (no genolm.tokenizers / genolm.models) must let the Auto classes load genolm folders, without
    # remote code, while `import genolm` itself stays free of torch and transformers
    folders = {f"{f}-{s}": str(c["folder"]) for (f, s), c in saved.items()}
    code = textwrap.dedent(
        f"""
        import json, sys
        import genolm
        heavy = [m for m in ("torch", "transformers", "genolm.models", "genolm.tokenizers") if m in sys.modules]
        assert not heavy, heavy
        from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer
        out = {{}}
        for name, folder in {folders!r}.items():
            tok = AutoTokenizer.from_pretrained(folder)
            cfg = AutoConfig.from_pretrained(folder)
            auto = AutoModelForMaskedLM if "AutoModelForMaskedLM" in cfg.auto_map else AutoModelForCausalLM
            model = auto.from_pretrained(folder)
            base = AutoModel.from_pretrained(folder)
            out[name] = [type(tok).__module__, type(model).__module__, type(base).__name__]
        print(json.dumps(out))
        """
    )
    res = _run(code, isolated=False, cwd=next(iter(saved.values()))["folder"].parent)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    for name, (tok_mod, model_mod, base) in out.items():
        assert tok_mod.startswith("genolm.tokenizers."), name  # genolm's own classes, not remote code
        assert model_mod.startswith("genolm.models."), name
        assert base.endswith("Model"), name


def test_lazy_names_match_the_registries():
    # genolm.auto keeps the names without importing the classes; a family or tokenizer added to a
    # registry but not there would silently not load through the Auto classes
    from genolm.models import caduceus
    from genolm.tokenizers import TOKENIZER_CLASSES

    model_types = {fam.model_type for _, fam in M.MODELS.items()} | {caduceus.CaduceusConfig.model_type}
    assert set(genolm.auto.MODEL_TYPES) == model_types
    names = {c.__name__ for c in TOKENIZER_CLASSES} | {caduceus.CaduceusTokenizer.__name__}
    assert set(genolm.auto.TOKENIZER_CLASSES) == names
    assert {type(get_tokenizer(n)).__name__ for n in TOKENIZERS.names() if n != "bpe"} <= names


def test_import_genolm_stays_light(tmp_path):
    # `genolm --help` must stay instant: registering with transformers may not import it
    code = (
        "import sys, genolm; print(sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules))"
    )
    assert _run(code, isolated=False, cwd=tmp_path).stdout.strip() == "[]"


class _ReadOnlyMapping:
    _extra_content = property(lambda self: {})  # readable, no setter


@pytest.mark.parametrize(
    ("name", "attrs"),
    [
        (genolm.auto._CONFIG_AUTO, {}),  # CONFIG_MAPPING gone
        (genolm.auto._CONFIG_AUTO, {"CONFIG_MAPPING": object()}),  # no _extra_content
        (genolm.auto._CONFIG_AUTO, {"CONFIG_MAPPING": _ReadOnlyMapping()}),  # table cannot be replaced
        (genolm.auto._TOKENIZATION_AUTO, {"REGISTERED_TOKENIZER_CLASSES": ("not", "a", "dict")}),
    ],
)
def test_changed_transformers_internals_degrade_to_a_warning(name, attrs, caplog):
    # genolm.auto patches private tables of transformers while transformers imports them: a
    # release that renames or reshapes one must not break `import transformers`, only warn
    import types

    module = types.ModuleType(name)
    for k, v in attrs.items():
        setattr(module, k, v)
    with caplog.at_level("WARNING", logger="genolm.auto"):
        genolm.auto._patch(module)  # must not raise
    assert "genolm.auto.register_all()" in caplog.text and name in caplog.text


def test_patching_the_real_tables_is_silent_and_idempotent(caplog):
    from transformers.models.auto import configuration_auto, tokenization_auto

    with caplog.at_level("WARNING", logger="genolm.auto"):
        for module in (configuration_auto, tokenization_auto) * 2:
            genolm.auto._patch(module)
    assert caplog.text == ""
    assert isinstance(configuration_auto.CONFIG_MAPPING._extra_content, genolm.auto._LazyNames)
