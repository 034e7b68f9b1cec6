"""Tiny checkpoints in the published formats, built locally (tests, example notebooks, benchmarks).

Each ``make_tiny_*`` writes a folder laid out like the published Hub repository: the same
``config.json`` keys and architecture class, the same weight names and file type, and the same
tokenizer files, with random weights and tiny dimensions.  Repositories that ship their own
modelling code get genolm's own small implementation of it with the published interface: class
names, ``auto_map``, forward signatures, return types and weight names as the published
``modeling_*.py`` has them (the numerics are simplified: what is tested is genolm's handling).  ``genolm.load(folder)`` then takes the
same path as it would for the real checkpoint.

=====================  =====================================================================
make_tiny_dnabert      zhihan1996/DNA_bert_k: BertForMaskedLM, vocab.txt, pytorch_model.bin
make_tiny_nt           InstaDeepAI/nucleotide-transformer-* v1 / AgroNT: EsmForMaskedLM,
                       NT vocab.txt (EsmTokenizer), model.safetensors
make_tiny_gpn          songlab/gpn-*: the ``gpn`` package's GPNForMaskedLM, its BPE-7 tokenizer
make_tiny_caduceus     kuleshov-group Caduceus / PlantCaduceus (see genolm.models.caduceus)
make_tiny_dnabert2     zhihan1996/DNABERT-2-117M: remote code with the published interface
                       (bert_layers.py: BertModel returns a tuple, MaskedLMOutput.hidden_states is
                       one tensor), BPE tokenizer.json; ``head=False``: backbone weights only
make_tiny_nt_v2        InstaDeepAI/nucleotide-transformer-v2-*: remote esm code (rotary, SwiGLU,
                       add_bias_fnn), no contact-head weights; ``head=False``: backbone only
make_tiny_hyenadna     LongSafari/hyenadna-*-hf: remote code whose forward takes no attention_mask,
                       the slow CharacterTokenizer (tokenization_hyena.py)
make_tiny_remote_clm   a repository that ships its own modelling + tokenizer code (auto_map)
                       around a GPT-2 stand-in (tests of the remote-code gate only)
make_tiny_enformer     EleutherAI/enformer-official-rough: enformer-pytorch config.json +
                       pytorch_model.bin
make_tiny_genolm       genolm's own encoder, as ``genolm pretrain`` saves it
=====================  =====================================================================
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np


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


def make_tiny_esm2(folder, *, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    """ESM-2 layout (``facebook/esm2_t6_8M_UR50D``): stock ``EsmForMaskedLM`` config (rotary
    positions, token dropout, no pre-embedding norm, 1026 positions), the published 33-token
    ``vocab.txt`` for ``EsmTokenizer``, ``model.safetensors``; only the sizes are tiny."""
    import torch
    from transformers import EsmConfig, EsmForMaskedLM, EsmTokenizer

    from genolm.catalogue.loader import ESM2_VOCAB

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(ESM2_VOCAB) + "\n")
    tok = EsmTokenizer(str(folder / "vocab.txt"))
    tok.model_max_length = 1024
    tok.save_pretrained(str(folder))
    cfg = EsmConfig(
        vocab_size=33,
        mask_token_id=32,
        pad_token_id=1,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=4 * hidden,
        max_position_embeddings=1026,
        position_embedding_type="rotary",
        emb_layer_norm_before=False,
        token_dropout=True,
        hidden_act="gelu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        initializer_range=0.02,
        layer_norm_eps=1e-5,
        is_folding_model=False,
        esmfold_config=None,
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

    def __init__(self, characters=("A", "C", "G", "T", "N"), model_max_length=64, **kwargs):
        self._vocab = {"[CLS]": 0, "[SEP]": 1, "[BOS]": 2, "[MASK]": 3, "[PAD]": 4, "[RESERVED]": 5, "[UNK]": 6}
        for i, c in enumerate(characters):
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


_DNABERT2_CONFIG = '''
from transformers import BertConfig as _StockBertConfig


class BertConfig(_StockBertConfig):
    """DNABERT-2's config: stock BERT keys plus ALiBi's starting size and flash-attention switch."""

    def __init__(self, alibi_starting_size=512, attention_probs_dropout_prob=0.0, **kwargs):
        super().__init__(attention_probs_dropout_prob=attention_probs_dropout_prob, **kwargs)
        self.alibi_starting_size = alibi_starting_size
'''

# The published bert_layers.py (MosaicBERT): no position embeddings (ALiBi biases), a fused Wqkv,
# a gated-GELU MLP, and forward signatures / return types as published: BertModel.forward returns a
# plain tuple (encoder_outputs, pooled_output) and swallows unknown keywords (output_hidden_states
# is ignored); BertForMaskedLM returns a MaskedLMOutput whose hidden_states is ONE tensor (B, T, H).
_DNABERT2_MODEL = """
import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import MaskedLMOutput, SequenceClassifierOutput

from .configuration_bert import BertConfig


def alibi_bias(n_heads, size):
    # (1, heads, size, size): -slope * |i - j|, slopes 2^(-8 h / n) as in Press et al.
    slopes = torch.tensor([2.0 ** (-8.0 * (h + 1) / n_heads) for h in range(n_heads)])
    pos = torch.arange(size)
    return (-slopes[:, None, None] * (pos[None, :] - pos[:, None]).abs()[None]).unsqueeze(0)


class BertEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids):
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


class BertUnpadSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.Wqkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def forward(self, hidden, bias):  # (B, T, H), (B, heads, T, T)
        B, T, H = hidden.shape
        q, k, v = self.Wqkv(hidden).view(B, T, 3, self.num_attention_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + bias
        return (self.dropout(scores.softmax(-1)) @ v).transpose(1, 2).reshape(B, T, H)


class BertSelfOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class BertUnpadAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.self = BertUnpadSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden, bias):
        return self.output(self.self(hidden, bias), hidden)


class BertGatedLinearUnitMLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.inner = config.intermediate_size
        self.gated_layers = nn.Linear(config.hidden_size, 2 * self.inner, bias=False)
        self.act = nn.GELU(approximate="none")
        self.wo = nn.Linear(self.inner, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden):
        x = self.gated_layers(hidden)
        x = self.act(x[..., : self.inner]) * x[..., self.inner :]
        return self.layernorm(self.wo(self.dropout(x)) + hidden)


class BertLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = BertUnpadAttention(config)
        self.mlp = BertGatedLinearUnitMLP(config)

    def forward(self, hidden, bias):
        return self.mlp(self.attention(hidden, bias))


class BertEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])
        self.num_attention_heads = config.num_attention_heads

    def forward(self, hidden, attention_mask, output_all_encoded_layers=True, subset_mask=None):
        T = hidden.shape[1]
        pad = (1.0 - attention_mask[:, None, None, :].float()) * -10000.0
        bias = alibi_bias(self.num_attention_heads, T).to(hidden) + pad
        out = []
        for layer in self.layer:
            hidden = layer(hidden, bias)
            if output_all_encoded_layers:
                out.append(hidden)
        if not output_all_encoded_layers:
            out.append(hidden)
        return out


class BertPooler(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden, pool=True):
        return self.activation(self.dense(hidden[:, 0] if pool else hidden))


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden):
        return self.LayerNorm(F.gelu(self.dense(hidden)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, hidden):
        return self.decoder(self.transform(hidden))


class BertOnlyMLMHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)

    def forward(self, hidden):
        return self.predictions(hidden)


class BertPreTrainedModel(PreTrainedModel):
    config_class = BertConfig
    base_model_prefix = "bert"

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class BertModel(BertPreTrainedModel):
    def __init__(self, config, add_pooling_layer=True):
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, position_ids=None,
                output_all_encoded_layers=False, masked_tokens_mask=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        layers = self.encoder(self.embeddings(input_ids, token_type_ids), attention_mask,
                              output_all_encoded_layers=output_all_encoded_layers)
        sequence_output = layers[-1]
        pooled = self.pooler(sequence_output) if self.pooler is not None else None
        return (layers if output_all_encoded_layers else sequence_output), pooled


class BertForMaskedLM(BertPreTrainedModel):
    _tied_weights_keys = {"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight"}

    def __init__(self, config):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)
        self.post_init()

    def get_output_embeddings(self):
        return self.cls.predictions.decoder

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                head_mask=None, inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None,
                labels=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        outputs = self.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                            position_ids=position_ids, output_hidden_states=output_hidden_states)
        logits = self.cls(outputs[0])
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1))
        if return_dict is False:
            return (logits,) if loss is None else (loss, logits)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=outputs[0], attentions=None)


class BertForSequenceClassification(BertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                head_mask=None, inputs_embeds=None, labels=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        outputs = self.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        logits = self.classifier(self.dropout(outputs[1]))
        loss = None
        if labels is not None:
            if self.num_labels == 1:
                loss = F.mse_loss(logits.squeeze(-1), labels.float())
            else:
                loss = F.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs[0], attentions=None)
"""
_NTV2_CONFIG = '''
from transformers import PretrainedConfig


class EsmConfig(PretrainedConfig):
    """Nucleotide Transformer v2's esm_config.py: ESM keys plus add_bias_fnn (no FFN bias with SwiGLU)."""

    model_type = "esm"

    def __init__(self, vocab_size=None, mask_token_id=None, pad_token_id=None, hidden_size=768,
                 num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                 hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, max_position_embeddings=1026,
                 initializer_range=0.02, layer_norm_eps=1e-12, position_embedding_type="absolute",
                 use_cache=True, emb_layer_norm_before=None, token_dropout=False, is_folding_model=False,
                 esmfold_config=None, vocab_list=None, add_bias_fnn=True, **kwargs):
        super().__init__(pad_token_id=pad_token_id, mask_token_id=mask_token_id, **kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.position_embedding_type = position_embedding_type
        self.use_cache = use_cache
        self.emb_layer_norm_before = emb_layer_norm_before
        self.token_dropout = token_dropout
        self.is_folding_model = is_folding_model
        self.esmfold_config = esmfold_config
        self.vocab_list = vocab_list
        self.add_bias_fnn = add_bias_fnn
'''

# The published modeling_esm.py of the v2 repositories: ESM with rotary position embeddings on q/k,
# pre-LayerNorm blocks, a SwiGLU feed-forward without biases (add_bias_fnn false), a final
# emb_layer_norm_after, an untied LM head; EsmModel keeps ESM's contact head, whose weights the
# published checkpoints do not ship (it is never used for masked-LM logits).
_NTV2_MODEL = """
import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import (
    BaseModelOutputWithPoolingAndCrossAttentions,
    MaskedLMOutput,
    SequenceClassifierOutput,
)

from .esm_config import EsmConfig


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class RotaryEmbedding(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim)))

    def forward(self, q, k):  # (B, heads, T, d)
        t = torch.arange(q.shape[-2], device=q.device).type_as(self.inv_freq)
        ang = torch.outer(t, self.inv_freq)
        emb = torch.cat((ang, ang), dim=-1)
        cos, sin = emb.cos()[None, None].to(q.dtype), emb.sin()[None, None].to(q.dtype)
        return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


class EsmEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if config.emb_layer_norm_before else None
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.mask_token_id = config.mask_token_id
        self.token_dropout = config.token_dropout

    def forward(self, input_ids, attention_mask):
        x = self.word_embeddings(input_ids)
        if self.token_dropout:
            x = x.masked_fill((input_ids == self.mask_token_id).unsqueeze(-1), 0.0)
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return self.dropout(x * attention_mask.unsqueeze(-1).to(x.dtype))


class EsmSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.rotary_embeddings = RotaryEmbedding(self.attention_head_size)

    def forward(self, hidden, bias):
        B, T, H = hidden.shape
        split = lambda x: x.view(B, T, self.num_attention_heads, self.attention_head_size).transpose(1, 2)
        q = split(self.query(hidden)) / math.sqrt(self.attention_head_size)
        k, v = split(self.key(hidden)), split(self.value(hidden))
        q, k = self.rotary_embeddings(q, k)
        return ((q @ k.transpose(-1, -2) + bias).softmax(-1) @ v).transpose(1, 2).reshape(B, T, H)


class EsmSelfOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden, residual):
        return self.dense(hidden) + residual


class EsmAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.self = EsmSelfAttention(config)
        self.output = EsmSelfOutput(config)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden, bias):
        return self.output(self.self(self.LayerNorm(hidden), bias), hidden)


class EsmIntermediate(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=config.add_bias_fnn)

    def forward(self, hidden):
        a, b = self.dense(hidden).chunk(2, dim=-1)
        return F.silu(a) * b


class EsmOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size, bias=config.add_bias_fnn)

    def forward(self, hidden, residual):
        return self.dense(hidden) + residual


class EsmLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = EsmAttention(config)
        self.intermediate = EsmIntermediate(config)
        self.output = EsmOutput(config)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden, bias):
        x = self.attention(hidden, bias)
        return self.output(self.intermediate(self.LayerNorm(x)), x)


class EsmEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList([EsmLayer(config) for _ in range(config.num_hidden_layers)])
        self.emb_layer_norm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden, bias, output_hidden_states=False):
        states = [hidden]
        for layer in self.layer:
            hidden = layer(hidden, bias)
            states.append(hidden)
        hidden = self.emb_layer_norm_after(hidden)
        states[-1] = hidden
        return hidden, (tuple(states) if output_hidden_states else None)


class EsmContactPredictionHead(nn.Module):
    def __init__(self, in_features):
        super().__init__()
        self.regression = nn.Linear(in_features, 1)

    def forward(self, attentions):
        return torch.sigmoid(self.regression(attentions).squeeze(-1))


class EsmPreTrainedModel(PreTrainedModel):
    config_class = EsmConfig
    base_model_prefix = "esm"

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class EsmModel(EsmPreTrainedModel):
    def __init__(self, config, add_pooling_layer=True):
        super().__init__(config)
        self.embeddings = EsmEmbeddings(config)
        self.encoder = EsmEncoder(config)
        self.contact_head = EsmContactPredictionHead(config.num_hidden_layers * config.num_attention_heads)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, head_mask=None,
                inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None,
                past_key_values=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        bias = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        hidden, states = self.encoder(self.embeddings(input_ids, attention_mask), bias, bool(output_hidden_states))
        return BaseModelOutputWithPoolingAndCrossAttentions(last_hidden_state=hidden, hidden_states=states)


class EsmLMHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden):
        return self.decoder(self.layer_norm(F.gelu(self.dense(hidden)))) + self.bias


class EsmForMaskedLM(EsmPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.esm = EsmModel(config, add_pooling_layer=False)
        self.lm_head = EsmLMHead(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, head_mask=None,
                inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None):
        out = self.esm(input_ids, attention_mask=attention_mask, output_hidden_states=output_hidden_states)
        logits = self.lm_head(out.last_hidden_state)
        loss = None if labels is None else F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1))
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=None)


class EsmClassificationHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, hidden):
        x = self.dropout(hidden[:, 0])
        return self.out_proj(self.dropout(torch.tanh(self.dense(x))))


class EsmForSequenceClassification(EsmPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.esm = EsmModel(config, add_pooling_layer=False)
        self.classifier = EsmClassificationHead(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        out = self.esm(input_ids, attention_mask=attention_mask, output_hidden_states=output_hidden_states)
        logits = self.classifier(out.last_hidden_state)
        loss = None
        if labels is not None:
            loss = F.mse_loss(logits.squeeze(-1), labels.float()) if self.num_labels == 1 else F.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
"""
_HYENA_CONFIG = '''
from transformers import PretrainedConfig


class HyenaConfig(PretrainedConfig):
    """HyenaDNA's configuration_hyena.py keys (d_model, n_layer, d_inner, filter_order, ...)."""

    model_type = "hyenadna"

    def __init__(self, vocab_size=12, d_model=256, d_inner=None, use_bias=True, train_freq=True,
                 max_seq_len=1024, emb_dim=3, n_layer=12, num_inner_mlps=2, hyena_order=2,
                 short_filter_order=3, filter_order=64, activation_freq=1, embed_dropout=0.1,
                 hyena_dropout=0.0, hyena_filter_dropout=0.0, layer_norm_epsilon=1e-5,
                 initializer_range=0.02, pad_vocab_size_multiple=8, **kwargs):
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.d_inner = d_inner if d_inner is not None else 4 * d_model
        self.use_bias = use_bias
        self.train_freq = train_freq
        self.max_seq_len = max_seq_len
        self.emb_dim = emb_dim
        self.n_layer = n_layer
        self.num_inner_mlps = num_inner_mlps
        self.hyena_order = hyena_order
        self.short_filter_order = short_filter_order
        self.filter_order = filter_order
        self.activation_freq = activation_freq
        self.embed_dropout = embed_dropout
        self.hyena_dropout = hyena_dropout
        self.hyena_filter_dropout = hyena_filter_dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.pad_vocab_size_multiple = pad_vocab_size_multiple
        super().__init__(**kwargs)
'''

# The published modeling_hyena.py of the LongSafari "-hf" repositories: forward signatures without
# attention_mask (HyenaDNAModel.forward(input_ids, inputs_embeds, output_hidden_states,
# return_dict); HyenaDNAForCausalLM.forward(input_ids, inputs_embeds, labels, output_hidden_states,
# return_dict)), an order-2 Hyena operator (in_proj to 3 streams, a short causal depthwise conv, an
# implicit long filter from positional features, a causal FFT convolution), the LM head tied to the
# embeddings; HyenaDNAForSequenceClassification pools the last token.
_HYENA_MODEL = """
import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import (
    BaseModelOutputWithNoAttention,
    CausalLMOutput,
    SequenceClassifierOutput,
)

from .configuration_hyena import HyenaConfig


def fftconv(u, k, D):  # (B, H, L), (H, L), (H,): a causal convolution through zero-padded FFTs
    L = u.shape[-1]
    y = torch.fft.irfft(torch.fft.rfft(u, n=2 * L) * torch.fft.rfft(k, n=2 * L), n=2 * L)[..., :L]
    return y + u * D[:, None]


class HyenaSin(nn.Module):
    def __init__(self, config):
        super().__init__()
        w = config.activation_freq * torch.ones(1, config.filter_order)
        self.freq = nn.Parameter(w) if config.train_freq else w

    def forward(self, x):
        return torch.sin(self.freq * x)


class HyenaPositionalEmbedding(nn.Module):
    def __init__(self, config):
        super().__init__()
        L, cpu = config.max_seq_len, torch.device("cpu")  # buffers built on CPU, also under a meta init
        t = torch.linspace(0, 1, L, device=cpu)[None, :, None]  # (1, L, 1)
        bands = (config.emb_dim - 1) // 2
        f = torch.linspace(1e-4, bands - 1, bands, device=cpu)[None, None]
        w = 2 * math.pi * torch.arange(L, device=cpu)[None, :, None] / L
        z = torch.cat([t, torch.cos(f * w), -torch.sin(f * w)], dim=-1)  # (1, L, emb_dim)
        self.register_buffer("z", z)
        self.register_buffer("t", t)

    def forward(self, L):
        return self.z[:, :L], self.t[:, :L]


class HyenaExponentialModulation(nn.Module):
    def __init__(self, d_model, fast_decay_pct=0.3, slow_decay_pct=1.5, target=1e-2):
        super().__init__()
        max_decay, min_decay = math.log(target) / fast_decay_pct, math.log(target) / slow_decay_pct
        deltas = torch.linspace(min_decay, max_decay, d_model, device=torch.device("cpu"))
        self.register_buffer("deltas", deltas[None, None])

    def forward(self, t, x):
        return x * torch.exp(-t * self.deltas.abs())


class HyenaFilter(nn.Module):
    def __init__(self, config):
        super().__init__()
        d, o = config.d_model, config.filter_order
        self.bias = nn.Parameter(torch.randn(d))
        self.dropout = nn.Dropout(config.hyena_filter_dropout)
        self.pos_emb = HyenaPositionalEmbedding(config)
        layers = [nn.Linear(config.emb_dim, o), HyenaSin(config)]
        for _ in range(config.num_inner_mlps):
            layers += [nn.Linear(o, o), HyenaSin(config)]
        layers.append(nn.Linear(o, d, bias=False))
        self.implicit_filter = nn.Sequential(*layers)
        self.modulation = HyenaExponentialModulation(d)

    def filter(self, L):
        z, t = self.pos_emb(L)
        return self.modulation(t, self.implicit_filter(z))  # (1, L, d)

    def forward(self, x, L):
        k = self.filter(L)[0].transpose(0, 1)  # (d, L)
        return fftconv(x, k, self.bias)


class HyenaOperator(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config.d_model
        self.d_model = d
        self.in_proj = nn.Linear(d, 3 * d)
        self.out_proj = nn.Linear(d, d)
        self.dropout = nn.Dropout(config.hyena_dropout)
        self.short_filter = nn.Conv1d(3 * d, 3 * d, config.short_filter_order,
                                      padding=config.short_filter_order - 1, groups=3 * d)
        self.filter_fn = HyenaFilter(config)

    def forward(self, u):  # (B, L, d)
        L = u.shape[1]
        x = self.in_proj(u).transpose(1, 2)  # (B, 3d, L)
        x = self.short_filter(x)[..., :L]  # causal: the left padding only
        x0, x1, v = x.split(self.d_model, dim=1)
        v = self.filter_fn(self.dropout(v * x1), L)
        return self.out_proj((v * x0).transpose(1, 2))


class HyenaMlp(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.fc1 = nn.Linear(config.d_model, config.d_inner)
        self.fc2 = nn.Linear(config.d_inner, config.d_model)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class HyenaBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.mixer = HyenaOperator(config)
        self.dropout1 = nn.Dropout(config.embed_dropout)
        self.norm1 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.mlp = HyenaMlp(config)
        self.dropout2 = nn.Dropout(config.hyena_dropout)
        self.norm2 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)

    def forward(self, hidden, residual=None):  # pre-norm with a carried residual stream
        residual = self.dropout1(hidden) + (residual if residual is not None else 0)
        hidden = self.mixer(self.norm1(residual))
        residual = self.dropout2(hidden) + residual
        return self.mlp(self.norm2(residual)), residual


class HyenaEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        m = config.pad_vocab_size_multiple
        vocab = config.vocab_size + (-config.vocab_size) % m
        self.word_embeddings = nn.Embedding(vocab, config.d_model)

    def forward(self, input_ids):
        return self.word_embeddings(input_ids)


class HyenaLMBackbone(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embeddings = HyenaEmbeddings(config)
        self.dropout = nn.Dropout(config.embed_dropout)
        self.layers = nn.ModuleList([HyenaBlock(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.drop_f = nn.Dropout(config.hyena_dropout)

    def forward(self, input_ids, inputs_embeds=None):
        hidden = self.embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        states, residual = [], None
        for layer in self.layers:
            states.append(hidden)
            hidden, residual = layer(hidden, residual)
        residual = self.drop_f(hidden) + residual
        hidden = self.ln_f(residual)
        states.append(hidden)
        return hidden, states


class HyenaDNAPreTrainedModel(PreTrainedModel):
    config_class = HyenaConfig
    base_model_prefix = "hyena"

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)


class HyenaDNAModel(HyenaDNAPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.backbone = HyenaLMBackbone(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.backbone.embeddings.word_embeddings

    def forward(self, input_ids=None, inputs_embeds=None, output_hidden_states=None, return_dict=None):
        hidden, states = self.backbone(input_ids, inputs_embeds=inputs_embeds)
        states = tuple(states) if output_hidden_states else None
        if return_dict is False:
            return tuple(v for v in (hidden, states) if v is not None)
        return BaseModelOutputWithNoAttention(last_hidden_state=hidden, hidden_states=states)


class HyenaDNAForCausalLM(HyenaDNAPreTrainedModel):
    _tied_weights_keys = {"lm_head.weight": "hyena.backbone.embeddings.word_embeddings.weight"}

    def __init__(self, config):
        super().__init__(config)
        self.hyena = HyenaDNAModel(config)
        vocab = self.hyena.backbone.embeddings.word_embeddings.num_embeddings
        self.lm_head = nn.Linear(config.d_model, vocab, bias=False)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head

    def forward(self, input_ids=None, inputs_embeds=None, labels=None, output_hidden_states=None,
                return_dict=None):
        out = self.hyena(input_ids=input_ids, inputs_embeds=inputs_embeds,
                         output_hidden_states=output_hidden_states)
        logits = self.lm_head(out.last_hidden_state).float()
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))
        return CausalLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)


class HyenaDNAForSequenceClassification(HyenaDNAPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.hyena = HyenaDNAModel(config)
        self.score = nn.Linear(config.d_model, self.num_labels, bias=False)
        self.post_init()

    def forward(self, input_ids=None, inputs_embeds=None, labels=None, output_hidden_states=None,
                return_dict=None):
        hidden = self.hyena(input_ids=input_ids, inputs_embeds=inputs_embeds).last_hidden_state
        logits = self.score(hidden[:, -1])
        loss = None
        if labels is not None:
            loss = F.mse_loss(logits.squeeze(-1), labels.float()) if self.num_labels == 1 else F.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)
"""


def _write_code(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def _drop_head(folder: Path, keep_prefix: str) -> None:
    """Rewrite the folder's weights with only the tensors under ``keep_prefix`` (a backbone-only
    checkpoint, as repositories that publish ``AutoModel`` weights ship)."""
    import torch

    st = folder / "model.safetensors"
    if st.is_file():
        from safetensors.torch import load_file, save_file

        sd = load_file(str(st))
        save_file(
            {k: v for k, v in sd.items() if k.startswith(keep_prefix)}, str(st), metadata={"format": "pt"}
        )
        return
    bin_ = folder / "pytorch_model.bin"
    sd = torch.load(str(bin_), map_location="cpu", weights_only=True)
    torch.save({k: v for k, v in sd.items() if k.startswith(keep_prefix)}, bin_)


def make_tiny_dnabert2(
    folder, *, seed: int = 0, hidden: int = 32, layers: int = 2, head: bool = True
) -> Path:
    """DNABERT-2 layout (zhihan1996/DNABERT-2-117M): ``configuration_bert.py`` + ``bert_layers.py``
    (``auto_map`` for AutoConfig / AutoModel / AutoModelForMaskedLM / ...SequenceClassification),
    a BPE ``tokenizer.json`` ([UNK] [CLS] [SEP] [PAD] [MASK] first, ``[CLS] $A [SEP]``) for
    ``PreTrainedTokenizerFast``, ``pytorch_model.bin``.  ``head=False``: the weights hold only
    ``bert.*`` (no MLM head), as a backbone-only upload would."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import AutoConfig, AutoModelForMaskedLM, PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _write_code(folder, {"configuration_bert.py": _DNABERT2_CONFIG, "bert_layers.py": _DNABERT2_MODEL})
    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    tk = Tokenizer(models.BPE(unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    rng = np.random.default_rng(seed)
    corpus = ["".join(rng.choice(list("ACGT"), 400)) for _ in range(20)]
    tk.train_from_iterator(corpus, trainer=trainers.BpeTrainer(vocab_size=40, special_tokens=specials))
    tk.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 1), ("[SEP]", 2)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token="[MASK]",
        model_max_length=512,
    )
    fast.save_pretrained(str(folder))
    cfg = dict(
        alibi_starting_size=512,
        architectures=["BertForMaskedLM"],
        attention_probs_dropout_prob=0.0,
        auto_map={
            "AutoConfig": "configuration_bert.BertConfig",
            "AutoModel": "bert_layers.BertModel",
            "AutoModelForMaskedLM": "bert_layers.BertForMaskedLM",
            "AutoModelForSequenceClassification": "bert_layers.BertForSequenceClassification",
        },
        classifier_dropout=None,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        hidden_size=hidden,
        initializer_range=0.02,
        intermediate_size=2 * hidden,
        layer_norm_eps=1e-12,
        max_position_embeddings=512,
        model_type="bert",
        num_attention_heads=4,
        num_hidden_layers=layers,
        pad_token_id=3,
        position_embedding_type="absolute",
        type_vocab_size=2,
        vocab_size=len(fast),
    )
    _write_json(folder / "config.json", cfg)
    config = AutoConfig.from_pretrained(str(folder), trust_remote_code=True)
    torch.manual_seed(seed)
    model = AutoModelForMaskedLM.from_config(config, trust_remote_code=True)
    torch.save(
        {n: t.detach().clone().contiguous() for n, t in model.state_dict().items()},
        folder / "pytorch_model.bin",
    )
    _write_json(
        folder / "config.json", cfg
    )  # from_config may have touched nothing, but keep the published keys
    if not head:
        _drop_head(folder, "bert.")
    return folder


def make_tiny_nt_v2(
    folder, *, seed: int = 0, hidden: int = 32, layers: int = 2, context: int = 64, head: bool = True
) -> Path:
    """Nucleotide Transformer v2 layout (InstaDeepAI/nucleotide-transformer-v2-*): ``esm_config.py`` +
    ``modeling_esm.py`` (``auto_map``), config keys of the v2 repositories (rotary,
    ``add_bias_fnn: false``, ``tie_word_embeddings: false``), the NT ``vocab.txt`` for the stock
    ``EsmTokenizer``, ``model.safetensors`` without the (unused) contact head.  ``head=False``: only
    ``esm.*`` weights."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForMaskedLM

    from genolm.tokenizers import NonOverlappingKmerTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _write_code(folder, {"esm_config.py": _NTV2_CONFIG, "modeling_esm.py": _NTV2_MODEL})
    tok = NonOverlappingKmerTokenizer(k=6, template="cls")
    tok.model_max_length = context
    tok.export_stock(str(folder))
    cfg = dict(
        add_bias_fnn=False,
        architectures=["EsmForMaskedLM"],
        attention_probs_dropout_prob=0.0,
        auto_map={
            "AutoConfig": "esm_config.EsmConfig",
            "AutoModelForMaskedLM": "modeling_esm.EsmForMaskedLM",
            "AutoModelForSequenceClassification": "modeling_esm.EsmForSequenceClassification",
        },
        emb_layer_norm_before=False,
        esmfold_config=None,
        hidden_dropout_prob=0.0,
        hidden_size=hidden,
        initializer_range=0.02,
        intermediate_size=2 * hidden,
        is_folding_model=False,
        layer_norm_eps=1e-12,
        mask_token_id=2,
        max_position_embeddings=context + 2,
        model_type="esm",
        num_attention_heads=4,
        num_hidden_layers=layers,
        pad_token_id=1,
        position_embedding_type="rotary",
        tie_word_embeddings=False,
        token_dropout=False,
        use_cache=False,
        vocab_list=None,
        vocab_size=4107,
    )
    _write_json(folder / "config.json", cfg)
    config = AutoConfig.from_pretrained(str(folder), trust_remote_code=True)
    torch.manual_seed(seed)
    model = AutoModelForMaskedLM.from_config(config, trust_remote_code=True)
    keep = "esm." if not head else ""
    sd = {
        n: t.detach().clone().contiguous()
        for n, t in model.state_dict().items()
        if "contact_head" not in n and n.startswith(keep)
    }
    save_file(sd, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def make_tiny_hyenadna(
    folder, *, seed: int = 0, d_model: int = 32, layers: int = 2, max_seq_len: int = 64
) -> Path:
    """HyenaDNA layout (LongSafari/hyenadna-*-seqlen-hf): ``configuration_hyena.py``,
    ``modeling_hyena.py`` (forward without ``attention_mask``), ``tokenization_hyena.py`` (the slow
    ``CharacterTokenizer``: [CLS] [SEP] [BOS] [MASK] [PAD] [RESERVED] [UNK] then A C G T N, a
    trailing [SEP]), ``auto_map`` in config.json and tokenizer_config.json, ``model.safetensors``
    with the LM head tied to the embeddings."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _write_code(
        folder,
        {
            "configuration_hyena.py": _HYENA_CONFIG,
            "modeling_hyena.py": _HYENA_MODEL,
            "tokenization_hyena.py": _REMOTE_TOKENIZER,
        },
    )
    cfg = dict(
        activation_freq=10,
        architectures=["HyenaDNAForCausalLM"],
        auto_map={
            "AutoConfig": "configuration_hyena.HyenaConfig",
            "AutoModel": "modeling_hyena.HyenaDNAModel",
            "AutoModelForCausalLM": "modeling_hyena.HyenaDNAForCausalLM",
            "AutoModelForSequenceClassification": "modeling_hyena.HyenaDNAForSequenceClassification",
        },
        d_inner=4 * d_model,
        d_model=d_model,
        emb_dim=5,
        embed_dropout=0.1,
        filter_order=16,
        hyena_dropout=0.0,
        hyena_filter_dropout=0.0,
        hyena_order=2,
        initializer_range=0.02,
        layer_norm_epsilon=1e-5,
        max_seq_len=max_seq_len,
        model_type="hyenadna",
        n_layer=layers,
        num_inner_mlps=2,
        pad_vocab_size_multiple=8,
        short_filter_order=3,
        tie_word_embeddings=True,
        train_freq=True,
        use_bias=True,
        vocab_size=12,
    )
    _write_json(folder / "config.json", cfg)
    config = AutoConfig.from_pretrained(str(folder), trust_remote_code=True)
    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(config, trust_remote_code=True).save_pretrained(str(folder))
    _write_json(folder / "config.json", cfg)
    _write_json(
        folder / "tokenizer_config.json",
        {
            "characters": ["A", "C", "G", "T", "N"],
            "model_max_length": max_seq_len + 2,
            "padding_side": "left",
            "tokenizer_class": "CharacterTokenizer",
            "auto_map": {"AutoTokenizer": ["tokenization_hyena.CharacterTokenizer", None]},
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
