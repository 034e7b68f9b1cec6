"""GPN-style convolutional masked language model (Benegas et al. 2023): one file, read bottom-up.

A stack of residual blocks, each a dilated full (not depthwise) ``Conv1d`` with "same" padding
and a position-wise feed-forward, with the dilation schedule of GPN: it doubles every
``dilation_double_every`` layers up to ``dilation_max`` and restarts every ``dilation_cycle``
doublings.  No positional embeddings: the convolutions know where they are.

Padding: hidden states are zeroed at padded positions before every convolution, so a padded
sequence sees exactly the zeros that "same" padding would give the unpadded sequence (its
per-token outputs do not change).

Departure from GPN: GPN embeds tokens as a one-hot vector zero-padded to ``hidden_size``; here the
embedding is learned (``nn.Embedding``), which is the same map for a 4-letter vocabulary up to a
learned linear layer, and works for any tokenizer.
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
    finish_backbone_output,
    masked_lm_select,
    padding_idx,
    weighted_cross_entropy,
)


class GenolmGPNConfig(GenolmConfig):
    """Dilated CNN for MLM.  Defaults follow GPN (kernel 9, dilations 1, 2, 4, ..., 32 cycling)."""

    model_type = "genolm-gpn"

    hidden_size: int = 256
    num_hidden_layers: int = 12
    kernel_size: int = 9
    dilation_double_every: int = 1
    dilation_max: int = 32
    dilation_cycle: int = 6
    layer_norm_eps: float = 1e-5
    hidden_dropout: float = 0.0
    full_mlm_logits: bool = False

    def __post_init__(self, **kwargs):
        if self.kernel_size % 2 == 0:
            raise ConfigError(f"kernel_size must be odd for 'same' padding, got {self.kernel_size}")
        super().__post_init__(**kwargs)

    @property
    def dilations(self) -> list[int]:
        """GPN's schedule, one dilation per layer."""
        return [
            min(self.dilation_max, 2 ** ((i // self.dilation_double_every) % self.dilation_cycle))
            for i in range(self.num_hidden_layers)
        ]


# --- blocks ---------------------------------------------------------------------------------


class ConvBlock(GradientCheckpointingLayer):
    """x + LN(GELU(conv(x))), then x + LN(GELU(linear(x))): GPN's ``ConvLayer`` (post-activation norm)."""

    def __init__(
        self, hidden_size: int, kernel_size: int, dilation: int, eps: float = 1e-5, dropout: float = 0.0
    ):
        super().__init__()
        H = hidden_size
        self.conv = nn.Conv1d(H, H, kernel_size, dilation=dilation, padding="same")
        self.conv_norm = nn.LayerNorm(H, eps=eps)
        self.ffn = nn.Linear(H, H)
        self.ffn_norm = nn.LayerNorm(H, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = x if mask is None else x * mask  # zero the padding before it can leak through the conv
        h = self.conv(h.transpose(1, 2)).transpose(1, 2)  # (B, T, H)
        x = x + self.dropout(self.conv_norm(F.gelu(h)))
        return x + self.dropout(self.ffn_norm(F.gelu(self.ffn(x))))


# --- models ---------------------------------------------------------------------------------


class GenolmGPNPreTrainedModel(GenolmPreTrainedModel):
    config_class = GenolmGPNConfig
    _no_split_modules = ["ConvBlock"]


class GenolmGPNModel(GenolmGPNPreTrainedModel):
    """The convolutional backbone: ``input_ids (B, T)`` -> ``last_hidden_state (B, T, H)``."""

    def __init__(self, config: GenolmGPNConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=padding_idx(config)
        )
        self.layers = nn.ModuleList(
            ConvBlock(config.hidden_size, config.kernel_size, d, config.layer_norm_eps, config.hidden_dropout)
            for d in config.dilations
        )
        self.post_init()

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
        return finish_backbone_output(x, all_hidden, return_dict)


class GPNLMHead(nn.Module):
    """dense -> GELU -> LayerNorm -> vocabulary (GPN's ``ConvNetOnlyMLMHead``)."""

    def __init__(self, config: GenolmGPNConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.norm(F.gelu(self.dense(h))))


class GenolmGPNForMaskedLM(GenolmGPNPreTrainedModel):
    _tied_weights_keys = {"lm_head.decoder.weight": "model.embed_tokens.weight"}

    def __init__(self, config: GenolmGPNConfig):
        super().__init__(config)
        self.model = GenolmGPNModel(config)
        self.lm_head = GPNLMHead(config)
        self.post_init()

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
        """MLM forward; ``loss_weights`` (B, T) down-weights e.g. soft-masked repeats (GPN uses 0.1).

        With labels (and ``return_full_logits`` false) ``logits`` is ``(N, V)`` for the labelled positions.
        """
        out = self.model(input_ids, attention_mask=attention_mask, output_hidden_states=output_hidden_states)
        full = self.config.full_mlm_logits if return_full_logits is None else return_full_logits
        loss = None
        if labels is not None and not full:
            h, y, w = masked_lm_select(out.last_hidden_state, labels, loss_weights)
            logits = self.lm_head(h)  # (N, V)
            loss = weighted_cross_entropy(logits, y, w)
        else:
            logits = self.lm_head(out.last_hidden_state)  # (B, T, V)
            if labels is not None:
                w = loss_weights.reshape(-1) if loss_weights is not None else None
                loss = weighted_cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), w)
        res = MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
        return res if return_dict is not False else res.to_tuple()


class GenolmGPNForSequenceClassification(GenolmGPNPreTrainedModel, GenolmForSequenceClassification):
    backbone_class = GenolmGPNModel


class GenolmGPNForTokenClassification(GenolmGPNPreTrainedModel, GenolmForTokenClassification):
    backbone_class = GenolmGPNModel
