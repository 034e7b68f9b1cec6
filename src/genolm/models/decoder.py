"""Causal transformer decoder (GPT / Evo-style attention baseline): one file, read bottom-up.

Pre-LN blocks, one fused QKV projection, rotary positions and the encoder's :func:`attend`
(``F.scaled_dot_product_attention(is_causal=True)``, or the eager matmul-softmax path when
training short sequences on CPU: ``attention: auto|sdpa|eager``).  With padding the causal mask
and the key padding mask become one boolean mask (left and right padding both work).  The rotary helpers
are the encoder's (``encoder.py``), so the two attention baselines cannot drift apart.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, CausalLMOutput

from genolm.errors import ConfigError
from genolm.models.base import (
    GenolmConfig,
    GenolmForSequenceClassification,
    GenolmForTokenClassification,
    GenolmPreTrainedModel,
    causal_lm_loss,
    compute_dtype,
    finish_backbone_output,
)
from genolm.models.encoder import ATTENTIONS, MLP, apply_rope, attend, rope_cos_sin, use_eager_attention
from genolm.registry import check_choice


class GenolmDecoderConfig(GenolmConfig):
    """Causal transformer.  Defaults: RoPE, SwiGLU, no biases in attention (LLaMA / Evo style)."""

    model_type = "genolm-decoder"

    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int | None = None  # default 4H (gelu) or 8H/3 rounded up to 64 (swiglu)
    activation: str = "swiglu"  # "gelu" | "swiglu"
    rope_theta: float = 10000.0
    layer_norm_eps: float = 1e-5
    hidden_dropout: float = 0.0
    attention_dropout: float = 0.0
    attention_bias: bool = False
    attention: str = "auto"  # "auto" | "sdpa" | "eager" (see genolm.models.encoder.use_eager_attention)
    tie_word_embeddings: bool = True
    classifier_pooling: str = "last"  # the last token is the only one that saw the whole sequence

    def __post_init__(self, **kwargs):
        check_choice("activation", self.activation, ("gelu", "swiglu"))
        check_choice("attention", self.attention, ATTENTIONS)
        if self.hidden_size % self.num_attention_heads or (self.hidden_size // self.num_attention_heads) % 2:
            raise ConfigError(
                f"hidden_size ({self.hidden_size}) / num_attention_heads ({self.num_attention_heads}) "
                "must be an even integer (RoPE)"
            )
        if self.intermediate_size is None:
            self.intermediate_size = (
                4 * self.hidden_size
                if self.activation == "gelu"
                else 64 * math.ceil(8 * self.hidden_size / 3 / 64)
            )
        super().__post_init__(**kwargs)


# --- blocks ---------------------------------------------------------------------------------


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GenolmDecoderConfig):
        super().__init__()
        self.n_head = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=config.attention_bias)
        self.out_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=config.attention_bias)
        self.dropout = config.attention_dropout
        self.attention = config.attention

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None, rope) -> torch.Tensor:
        B, T, H = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_head, self.head_dim)  # (B, T, 3, nh, hd)
        qk = apply_rope(qkv[:, :, :2], *rope)  # q and k in one pass, (B, T, 2, nh, hd)
        q, k = qk.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, nh, T, hd)
        v = qkv[:, :, 2].transpose(1, 2)
        y = attend(
            q,
            k,
            v,
            attn_mask,
            causal=True,  # used when attn_mask is None (no padding): SDPA's fused causal kernel
            dropout_p=self.dropout if self.training else 0.0,
            eager=use_eager_attention(self.attention, x, self.n_head),
        )  # (B, nh, T, hd)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, H))


class DecoderBlock(GradientCheckpointingLayer):
    def __init__(self, config: GenolmDecoderConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attn = CausalSelfAttention(config)
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = MLP(config)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, x, attn_mask=None, rope=None):
        x = x + self.dropout(self.attn(self.norm1(x), attn_mask, rope))
        return x + self.dropout(self.mlp(self.norm2(x)))


# --- models ---------------------------------------------------------------------------------


class GenolmDecoderPreTrainedModel(GenolmPreTrainedModel):
    config_class = GenolmDecoderConfig
    _no_split_modules = ["DecoderBlock"]


class GenolmDecoderModel(GenolmDecoderPreTrainedModel):
    """The decoder backbone: ``input_ids (B, T)`` -> ``last_hidden_state (B, T, H)``; causal."""

    def __init__(self, config: GenolmDecoderConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList(DecoderBlock(config) for _ in range(config.num_hidden_layers))
        self.final_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    @staticmethod
    def _causal_mask(attention_mask: torch.Tensor | None, T: int, device) -> torch.Tensor | None:
        """``None`` without padding (SDPA's ``is_causal``), else a bool mask ``(B, 1, T, T)``."""
        if attention_mask is None or bool(attention_mask.all()):
            return None
        causal = torch.ones(T, T, dtype=torch.bool, device=device).tril()  # (T, T)
        mask = causal & attention_mask.bool()[:, None, None, :]  # (B, 1, T, T)
        # a padding query may see no key at all (left padding); let it see itself so SDPA gives no NaN
        return mask | torch.eye(T, dtype=torch.bool, device=device)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutput | tuple:
        cfg = self.config
        B, T = input_ids.shape
        x = self.dropout(self.embed_tokens(input_ids))  # (B, T, H)
        attn_mask = self._causal_mask(attention_mask, T, x.device)
        # plain positions 0..T-1 also with left padding: RoPE is relative, the offset cancels in q.k
        head_dim = cfg.hidden_size // cfg.num_attention_heads
        rope = rope_cos_sin(T, head_dim, cfg.rope_theta, x.device, compute_dtype(x))
        all_hidden = [x] if output_hidden_states else None
        for layer in self.layers:
            x = layer(x, attn_mask, rope)
            if all_hidden is not None:
                all_hidden.append(x)
        x = self.final_norm(x)
        if all_hidden is not None:
            all_hidden[-1] = x
        return finish_backbone_output(x, all_hidden, return_dict)


class GenolmDecoderForCausalLM(GenolmDecoderPreTrainedModel):
    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}

    def __init__(self, config: GenolmDecoderConfig):
        super().__init__(config)
        self.model = GenolmDecoderModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        loss_weights: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> CausalLMOutput | tuple:
        """Next-token LM.  ``labels`` are the *unshifted* ids (-100 to ignore); ``loss_weights`` (B, T)."""
        out = self.model(input_ids, attention_mask=attention_mask, output_hidden_states=output_hidden_states)
        logits = self.lm_head(out.last_hidden_state)  # (B, T, V)
        loss = causal_lm_loss(logits, labels, loss_weights) if labels is not None else None
        res = CausalLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
        return res if return_dict is not False else res.to_tuple()


class GenolmDecoderForSequenceClassification(GenolmDecoderPreTrainedModel, GenolmForSequenceClassification):
    backbone_class = GenolmDecoderModel


class GenolmDecoderForTokenClassification(GenolmDecoderPreTrainedModel, GenolmForTokenClassification):
    backbone_class = GenolmDecoderModel
