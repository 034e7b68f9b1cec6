"""ConvNova-style gated dilated CNN (Bo et al., ICLR 2025): one file, read bottom-up.

ConvNova's three designs, each a config switch so that an ablation can turn it off:

- **dilated convolutions** (``dilation_base``): layer ``i`` dilates by ``dilation_base ** i``
  (capped at ``dilation_max``), so the receptive field grows geometrically with depth;
  ``dilation_base: 1`` gives a plain CNN of the same size;
- **gated convolutions** and a **dual-branch** block (``gated``): two dilated convolutions read
  the same normalised input; one branch carries the signal, the other gates it,
  ``y = conv_a(h) * GELU(conv_g(h))``; ``gated: false`` keeps only ``GELU(conv_a(h))``;
- pre-norm residual blocks with a position-wise feed-forward.

``convnova-rc`` is the same block under Caduceus' RCPS parameter sharing (as ``gpn-rc``; see
:mod:`genolm.models.gpn_rc`): ``f(rc(x)) == rc(f(x))`` for the MLM logits on inputs without
padding, and RC-invariant pooled outputs.

Padding: the normalised input of every convolution is zeroed at padded positions, so a padded
sequence's real tokens see exactly the zeros of "same" padding (per-token outputs do not change).

Written from the paper's description; the block layout and defaults are genolm's own (ConvNova
uses kernel 9 and 5 gated blocks in its small models, as the defaults here).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, MaskedLMOutput

from genolm.errors import ConfigError
from genolm.models.base import (
    GenolmConfig,
    GenolmForSequenceClassification,
    GenolmForTokenClassification,
    GenolmPreTrainedModel,
    SelectedLogitsMixin,
    finish_backbone_output,
    masked_lm_select,
    padding_idx,
    pool,
    weighted_cross_entropy,
)
from genolm.models.gpn_rc import RCEmbedding, RCLMHead, complement_permutation, rcps_apply


class GenolmConvNovaConfig(GenolmConfig):
    """Gated dilated CNN for MLM.  Defaults: ~1.9M parameters (ConvNova's small models: 1.7M)."""

    model_type = "genolm-convnova"

    hidden_size: int = 128
    num_hidden_layers: int = 5
    kernel_size: int = 9
    dilation_base: int = 2  # layer i dilates by base**i (1: no dilation)
    dilation_max: int = 64
    gated: bool = True  # dual-branch gating; False: GELU(conv) only
    ffn_expansion: int = 2
    layer_norm_eps: float = 1e-5
    hidden_dropout: float = 0.0
    full_mlm_logits: bool = False

    def __post_init__(self, **kwargs):
        if self.kernel_size % 2 == 0:
            raise ConfigError(f"kernel_size must be odd for 'same' padding, got {self.kernel_size}")
        if self.dilation_base < 1 or self.dilation_max < 1 or self.ffn_expansion < 1:
            raise ConfigError(
                "dilation_base, dilation_max and ffn_expansion must be >= 1, got "
                f"{self.dilation_base}, {self.dilation_max}, {self.ffn_expansion}"
            )
        super().__post_init__(**kwargs)

    @property
    def dilations(self) -> list[int]:
        """One dilation per layer: ``min(dilation_max, dilation_base ** i)``."""
        return [min(self.dilation_max, self.dilation_base**i) for i in range(self.num_hidden_layers)]


class GenolmConvNovaRCConfig(GenolmConvNovaConfig):
    """RC-equivariant ConvNova.  ``hidden_size`` is both strands together (must be even).

    Token ids as :class:`~genolm.models.gpn_rc.GenolmGPNRCConfig` (default: genolm's ``char``
    layout, A=7 C=8 G=9 T=10); ``build_model("convnova-rc", tokenizer=tok)`` fills them.
    """

    model_type = "genolm-convnova-rc"

    vocab_size: int = 12
    pad_token_id: int | None = 4
    mask_token_id: int | None = 3
    nucleotide_token_ids: list[int] | None = None  # ids of A, C, G, T; default [7, 8, 9, 10]
    complement_pairs: list[list[int]] | None = None

    def __post_init__(self, **kwargs):
        if self.nucleotide_token_ids is None:
            self.nucleotide_token_ids = [7, 8, 9, 10]
        self.nucleotide_token_ids = [int(i) for i in self.nucleotide_token_ids]
        self.complement_pairs = [[int(a), int(b)] for a, b in (self.complement_pairs or [])]
        if self.hidden_size % 2:
            raise ConfigError(f"hidden_size must be even (two strands), got {self.hidden_size}")
        if len(self.nucleotide_token_ids) != 4:
            raise ConfigError(
                f"nucleotide_token_ids must list the ids of A, C, G, T, got {self.nucleotide_token_ids}"
            )
        self.complement_map()  # validates
        super().__post_init__(**kwargs)

    def complement_map(self) -> list[int]:
        return complement_permutation(self.vocab_size, self.nucleotide_token_ids, self.complement_pairs)


# --- the block ------------------------------------------------------------------------------


class GatedConvBlock(GradientCheckpointingLayer):
    """x + proj(conv_a(h) * GELU(conv_g(h))), h = LN(x); then x + FFN(LN(x)).  Width ``H``."""

    def __init__(self, H: int, kernel_size: int, dilation: int, config: GenolmConvNovaConfig):
        super().__init__()
        self.gated = bool(config.gated)
        self.norm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.conv = nn.Conv1d(H, H, kernel_size, dilation=dilation, padding="same")  # signal branch
        # gate branch (absent with gated: false)
        self.gate = nn.Conv1d(H, H, kernel_size, dilation=dilation, padding="same") if self.gated else None
        self.proj = nn.Linear(H, H)
        self.ffn_norm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.ffn = nn.Sequential(
            nn.Linear(H, config.ffn_expansion * H), nn.GELU(), nn.Linear(config.ffn_expansion * H, H)
        )
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm(x)  # (B, T, H)
        if mask is not None:
            h = h * mask  # padding reads as the zeros of "same" padding
        h = h.transpose(1, 2)  # (B, H, T)
        a = self.conv(h)
        y = a * F.gelu(self.gate(h)) if self.gate is not None else F.gelu(a)
        x = x + self.dropout(self.proj(y.transpose(1, 2)))
        return x + self.dropout(self.ffn(self.ffn_norm(x)))


# --- models ---------------------------------------------------------------------------------


class GenolmConvNovaPreTrainedModel(GenolmPreTrainedModel):
    config_class = GenolmConvNovaConfig
    _no_split_modules = ["GatedConvBlock"]


class GenolmConvNovaModel(GenolmConvNovaPreTrainedModel):
    """Backbone: ``input_ids (B, T)`` -> ``last_hidden_state (B, T, H)`` (after a final LayerNorm)."""

    def __init__(self, config: GenolmConvNovaConfig):
        super().__init__(config)
        H = config.hidden_size
        self.embed_tokens = nn.Embedding(config.vocab_size, H, padding_idx=padding_idx(config))
        self.layers = nn.ModuleList(
            GatedConvBlock(H, config.kernel_size, d, config) for d in config.dilations
        )
        self.final_norm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutput | tuple:
        x = self.embed_tokens(input_ids)  # (B, T, H)
        mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            mask = attention_mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        all_hidden = [x] if output_hidden_states else None
        for layer in self.layers:
            x = layer(x, mask)
            if all_hidden is not None:
                all_hidden.append(x)
        x = self.final_norm(x)
        if all_hidden is not None:
            all_hidden[-1] = x
        return finish_backbone_output(x, all_hidden, return_dict)


class ConvNovaLMHead(nn.Module):
    """dense -> GELU -> LayerNorm -> vocabulary."""

    def __init__(self, config: GenolmConvNovaConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.norm(F.gelu(self.dense(h))))


class _ConvNovaMLM(SelectedLogitsMixin):
    """The MLM forward both variants share; ``_head(h, input_ids)`` maps states to logits."""

    def get_output_embeddings(self):
        return self.lm_head.decoder

    def set_output_embeddings(self, new_embeddings):
        self.lm_head.decoder = new_embeddings

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        loss_weights: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        return_full_logits: bool | None = None,
    ) -> MaskedLMOutput | tuple:
        """MLM forward.  With labels (and ``return_full_logits`` false) ``logits`` is ``(N, V)``
        at the labelled positions only; otherwise ``(B, T, V)``."""
        out = self.model(input_ids, attention_mask=attention_mask, output_hidden_states=output_hidden_states)
        full = self.config.full_mlm_logits if return_full_logits is None else return_full_logits
        loss = None
        if labels is not None and not full:
            h, y, w = masked_lm_select(out.last_hidden_state, labels, loss_weights)
            logits = self._head(h, input_ids)  # (N, V)
            loss = weighted_cross_entropy(logits, y, w)
        else:
            logits = self._head(out.last_hidden_state, input_ids)  # (B, T, V)
            if labels is not None:
                w = loss_weights.reshape(-1) if loss_weights is not None else None
                loss = weighted_cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), w)
        res = MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
        return res if return_dict is not False else res.to_tuple()

    def _selected_logits(self, input_ids, attention_mask, select, reference=None):
        """The dense forward, then the head at the N selected positions only (no cone pruning:
        every block has two convolutions, and the head is where the vocabulary-sized work is)."""
        hidden = self.model(input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        return self._head(hidden[select], input_ids)  # (N, V)


class GenolmConvNovaForMaskedLM(_ConvNovaMLM, GenolmConvNovaPreTrainedModel):
    def __init__(self, config: GenolmConvNovaConfig):
        super().__init__(config)
        self.model = GenolmConvNovaModel(config)
        self.lm_head = ConvNovaLMHead(config)
        self.post_init()

    def _head(self, h: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        return self.lm_head(h)


class GenolmConvNovaForSequenceClassification(GenolmConvNovaPreTrainedModel, GenolmForSequenceClassification):
    backbone_class = GenolmConvNovaModel


class GenolmConvNovaForTokenClassification(GenolmConvNovaPreTrainedModel, GenolmForTokenClassification):
    backbone_class = GenolmConvNovaModel


# --- the RC-equivariant variant ---------------------------------------------------------------


class GenolmConvNovaRCPreTrainedModel(GenolmPreTrainedModel):
    config_class = GenolmConvNovaRCConfig
    _no_split_modules = ["GatedConvBlock"]

    def _pool(self, hidden, attention_mask, pooling):
        p = pool(hidden, attention_mask, pooling)  # (B, H); an RC flips its channels
        return (p + p.flip(-1)) / 2  # RC-invariant


class GenolmConvNovaRCModel(GenolmConvNovaRCPreTrainedModel):
    """RC-equivariant backbone: ``input_ids (B, T)`` -> ``(B, T, H)``, two strands of ``H / 2``
    channels, every block and the final norm applied to both with shared weights (RCPS)."""

    def __init__(self, config: GenolmConvNovaRCConfig):
        super().__init__(config)
        D = config.hidden_size // 2  # one strand
        self.embeddings = RCEmbedding(config)
        self.layers = nn.ModuleList(
            GatedConvBlock(D, config.kernel_size, d, config) for d in config.dilations
        )
        self.final_norm = nn.LayerNorm(D, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.embed_tokens

    def set_input_embeddings(self, value):
        self.embeddings.embed_tokens = value

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutput | tuple:
        x = self.embeddings(input_ids)  # (B, T, 2D)
        mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            mask = attention_mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        all_hidden = [x] if output_hidden_states else None
        for layer in self.layers:
            x = rcps_apply(layer, x, mask)
            if all_hidden is not None:
                all_hidden.append(x)
        x = rcps_apply(self.final_norm, x)
        if all_hidden is not None:
            all_hidden[-1] = x
        return finish_backbone_output(x, all_hidden, return_dict)


class GenolmConvNovaRCForMaskedLM(_ConvNovaMLM, GenolmConvNovaRCPreTrainedModel):
    def __init__(self, config: GenolmConvNovaRCConfig):
        super().__init__(config)
        self.model = GenolmConvNovaRCModel(config)
        self.lm_head = RCLMHead(config)
        self.post_init()

    def _head(self, h: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        return self.lm_head(h, self.model.embeddings.perm(input_ids.device))


class GenolmConvNovaRCForSequenceClassification(
    GenolmConvNovaRCPreTrainedModel, GenolmForSequenceClassification
):
    """RC-invariant: the pooled vector is symmetrised before the classifier."""

    backbone_class = GenolmConvNovaRCModel


class GenolmConvNovaRCForTokenClassification(GenolmConvNovaRCPreTrainedModel, GenolmForTokenClassification):
    """Per-token outputs are *not* RC-equivariant (a strand-aware label may be wanted)."""

    backbone_class = GenolmConvNovaRCModel
