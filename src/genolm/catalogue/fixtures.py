"""Tiny checkpoints in the published formats, built locally (tests, example notebooks, benchmarks).

Each ``make_tiny_*`` writes a folder laid out like the published Hub repository: the same
``config.json`` keys and architecture class, the same weight names and file type, and the same
tokenizer files, with random weights and tiny dimensions.  ``genolm.load(folder)`` then takes the
same path as it would for the real checkpoint.

=====================  =====================================================================
make_tiny_dnabert      zhihan1996/DNA_bert_k: BertForMaskedLM, vocab.txt, pytorch_model.bin
make_tiny_nt           InstaDeepAI/nucleotide-transformer-* v1 / AgroNT: EsmForMaskedLM,
                       NT vocab.txt (EsmTokenizer), model.safetensors
make_tiny_gpn          songlab/gpn-*: the ``gpn`` package's GPNForMaskedLM, its BPE-7 tokenizer
make_tiny_caduceus     kuleshov-group Caduceus / PlantCaduceus (see genolm.models.caduceus)
make_tiny_remote_clm   a repository that ships its own modelling + tokenizer code (auto_map),
                       the way HyenaDNA / DNABERT-2 / NT v2 do; the code is a tiny stand-in
make_tiny_enformer     EleutherAI/enformer-official-rough: enformer-pytorch config.json +
                       pytorch_model.bin
make_tiny_genolm       genolm's own encoder, as ``genolm pretrain`` saves it
=====================  =====================================================================
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path


def _write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def make_tiny_dnabert(
    folder, *, k: int = 6, seed: int = 0, hidden: int = 32, layers: int = 2, max_positions: int = 64
) -> Path:
    """DNABERT-k layout: ``config.json`` (model_type bert, the DNABERT rnn/split keys),
    ``vocab.txt`` ([PAD] [UNK] [CLS] [SEP] [MASK] + k-mers), ``pytorch_model.bin``."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from genolm.tokenizers import KmerTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = KmerTokenizer(k=k, template="cls_sep")
    tok.save_vocabulary(str(folder))
    cfg = dict(
        architectures=["BertForMaskedLM"],
        attention_probs_dropout_prob=0.1,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        hidden_size=hidden,
        initializer_range=0.02,
        intermediate_size=2 * hidden,
        layer_norm_eps=1e-12,
        max_position_embeddings=max_positions,
        model_type="bert",
        num_attention_heads=4,
        num_hidden_layers=layers,
        num_rnn_layer=1,
        pad_token_id=0,
        rnn="lstm",
        rnn_dropout=0.0,
        rnn_hidden=hidden,
        split=10,
        type_vocab_size=2,
        vocab_size=4**k + 5,
    )
    torch.manual_seed(seed)
    model = BertForMaskedLM(BertConfig(**cfg))
    sd = {n: t.detach().clone().contiguous() for n, t in model.state_dict().items()}
    torch.save(sd, folder / "pytorch_model.bin")
    _write_json(folder / "config.json", cfg)
    _write_json(folder / "tokenizer_config.json", {"do_lower_case": False, "max_len": max_positions})
    _write_json(
        folder / "special_tokens_map.json",
        {
            "cls_token": "[CLS]",
            "mask_token": "[MASK]",
            "pad_token": "[PAD]",
            "sep_token": "[SEP]",
            "unk_token": "[UNK]",
        },
    )
    return folder


def make_tiny_nt(folder, *, seed: int = 0, hidden: int = 32, layers: int = 2, context: int = 64) -> Path:
    """Nucleotide Transformer v1 / AgroNT layout: stock ``EsmForMaskedLM`` config (learned absolute
    positions, no pre-embedding norm), NT ``vocab.txt`` for ``EsmTokenizer``, ``model.safetensors``."""
    import torch
    from transformers import EsmConfig, EsmForMaskedLM

    from genolm.tokenizers import NonOverlappingKmerTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = NonOverlappingKmerTokenizer(k=6, template="cls")
    tok.model_max_length = context
    tok.export_stock(str(folder))
    cfg = EsmConfig(
        vocab_size=4107,
        mask_token_id=2,
        pad_token_id=1,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=4 * hidden,
        max_position_embeddings=context + 2,
        position_embedding_type="absolute",
        emb_layer_norm_before=False,
        token_dropout=False,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        layer_norm_eps=1e-12,
        tie_word_embeddings=False,
        is_folding_model=False,
        vocab_list=None,
        architectures=["EsmForMaskedLM"],
    )
    torch.manual_seed(seed)
    EsmForMaskedLM(cfg).save_pretrained(str(folder))
    return folder


def make_tiny_gpn(folder, *, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    """GPN layout (songlab/gpn-*): the ``gpn`` package's ``GPNForMaskedLM`` config and weights, and
    the tokenizer GPN trains (BPE with 7 symbols ``[PAD] [MASK] [UNK] a c g t``, lower-casing)."""
    import gpn
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    gpn.register_auto_classes("gpn")
    from gpn.model import GPNConfig, GPNForMaskedLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tk = Tokenizer(models.BPE(unk_token="[UNK]"))
    tk.normalizer = normalizers.Lowercase()
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=7, special_tokens=["[PAD]", "[MASK]", "[UNK]"], initial_alphabet=list("acgt")
    )
    tk.train_from_iterator(["acgt"], trainer=trainer, length=1)
    PreTrainedTokenizerFast(
        tokenizer_object=tk, pad_token="[PAD]", mask_token="[MASK]", unk_token="[UNK]"
    ).save_pretrained(str(folder))
    torch.manual_seed(seed)
    cfg = GPNConfig(
        vocab_size=7,
        hidden_size=hidden,
        num_hidden_layers=layers,
        intermediate_size=2 * hidden,
        pad_token_id=0,
    )
    GPNForMaskedLM(cfg).save_pretrained(str(folder))
    return folder


def make_tiny_caduceus(folder, *, rcps: bool = False, seed: int = 0) -> Path:
    """Caduceus-PH (``rcps=False``) or -PS layout; see :func:`genolm.models.caduceus.make_tiny_caduceus`."""
    from genolm.models import caduceus

    return Path(caduceus.make_tiny_caduceus(folder, rcps=rcps, seed=seed))


_REMOTE_CONFIG = """
from transformers import GPT2Config


class RemoteDNAConfig(GPT2Config):
    model_type = "remote-dna-clm"
"""

_REMOTE_MODEL = """
from transformers import GPT2ForSequenceClassification, GPT2LMHeadModel

from .configuration_remote import RemoteDNAConfig


class RemoteDNAForCausalLM(GPT2LMHeadModel):
    config_class = RemoteDNAConfig


class RemoteDNAForSequenceClassification(GPT2ForSequenceClassification):
    config_class = RemoteDNAConfig
"""

# a slow, character-level tokenizer as HyenaDNA ships it (no offsets mapping of its own)
_REMOTE_TOKENIZER = """
from transformers import PreTrainedTokenizer

_CHARS = "ACGTN"


class CharacterTokenizer(PreTrainedTokenizer):
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, model_max_length=64, **kwargs):
        self._vocab = {"[CLS]": 0, "[SEP]": 1, "[BOS]": 2, "[MASK]": 3, "[PAD]": 4, "[RESERVED]": 5, "[UNK]": 6}
        for i, c in enumerate(_CHARS):
            self._vocab[c] = 7 + i
        self._inv = {v: k for k, v in self._vocab.items()}
        kwargs.setdefault("cls_token", "[CLS]")
        kwargs.setdefault("sep_token", "[SEP]")
        kwargs.setdefault("bos_token", "[BOS]")
        kwargs.setdefault("mask_token", "[MASK]")
        kwargs.setdefault("pad_token", "[PAD]")
        kwargs.setdefault("unk_token", "[UNK]")
        super().__init__(model_max_length=model_max_length, **kwargs)

    @property
    def vocab_size(self):
        return len(self._vocab)

    def get_vocab(self):
        return dict(self._vocab)

    def _tokenize(self, text, **kwargs):
        return list(text.upper())

    def _convert_token_to_id(self, token):
        return self._vocab.get(token, 6)

    def _convert_id_to_token(self, index):
        return self._inv.get(index, "[UNK]")

    def convert_tokens_to_string(self, tokens):
        return "".join(tokens)

    def build_inputs_with_special_tokens(self, token_ids_0, token_ids_1=None):
        return list(token_ids_0) + [1]

    def get_special_tokens_mask(self, token_ids_0, token_ids_1=None, already_has_special_tokens=False):
        if already_has_special_tokens:
            return [1 if t < 7 else 0 for t in token_ids_0]
        return [0] * len(token_ids_0) + [1]

    def save_vocabulary(self, save_directory, filename_prefix=None):
        return ()
"""


def make_tiny_remote_clm(folder, *, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    """A repository with its own code (``auto_map`` in config.json and tokenizer_config.json), laid
    out as HyenaDNA's ``-hf`` repositories are: a causal LM and a slow character tokenizer
    ([CLS] [SEP] [BOS] [MASK] [PAD] [RESERVED] [UNK] then A C G T N).  The modelling code is a
    GPT-2 stand-in: what is tested is genolm's handling of remote code, not HyenaDNA's numerics."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "configuration_remote.py").write_text(
        textwrap.dedent(_REMOTE_CONFIG).lstrip(), encoding="utf-8"
    )
    (folder / "modeling_remote.py").write_text(textwrap.dedent(_REMOTE_MODEL).lstrip(), encoding="utf-8")
    (folder / "tokenization_remote.py").write_text(
        textwrap.dedent(_REMOTE_TOKENIZER).lstrip(), encoding="utf-8"
    )
    torch.manual_seed(seed)
    cfg = GPT2Config(
        vocab_size=12,
        n_positions=64,
        n_embd=hidden,
        n_layer=layers,
        n_head=4,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=4,
    )
    model = GPT2LMHeadModel(cfg)
    model.save_pretrained(str(folder))
    c = json.loads((folder / "config.json").read_text())
    c.update(
        model_type="remote-dna-clm",
        architectures=["RemoteDNAForCausalLM"],
        auto_map={
            "AutoConfig": "configuration_remote.RemoteDNAConfig",
            "AutoModelForCausalLM": "modeling_remote.RemoteDNAForCausalLM",
            "AutoModelForSequenceClassification": "modeling_remote.RemoteDNAForSequenceClassification",
        },
    )
    _write_json(folder / "config.json", c)
    _write_json(
        folder / "tokenizer_config.json",
        {
            "tokenizer_class": "CharacterTokenizer",
            "model_max_length": 64,
            "auto_map": {"AutoTokenizer": ["tokenization_remote.CharacterTokenizer", None]},
        },
    )
    return folder


def make_tiny_genolm(folder, *, seed: int = 0) -> Path:
    """genolm's own encoder (character tokenizer), as ``genolm pretrain`` saves a model."""
    import torch

    from genolm.models import build_model
    from genolm.tokenizers import get_tokenizer

    folder = Path(folder)
    tok = get_tokenizer("char")
    torch.manual_seed(seed)
    model = build_model(
        "encoder",
        head="lm",
        tokenizer=tok,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


def make_tiny_enformer(folder, *, seed: int = 0) -> Path:
    """Enformer as enformer-pytorch publishes it: ``config.json`` (EnformerConfig) and
    ``pytorch_model.bin``; tiny: 1 transformer layer, 3 downsamplings (bins of 8 bp)."""
    import torch
    from enformer_pytorch import Enformer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    m = Enformer.from_hparams(
        dim=24, depth=1, heads=2, output_heads=dict(human=5), target_length=4, num_downsamples=3,
        dim_divisible_by=2, attn_dim_key=8,
    )  # fmt: skip
    m.config.save_pretrained(str(folder))
    torch.save(m.state_dict(), folder / "pytorch_model.bin")
    return folder
