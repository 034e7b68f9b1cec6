"""Encoder transformer for masked language modelling: one file, read bottom-up.

Covers the published bidirectional DNA/RNA encoders by three switches:

==============  ===================  ==========  =============
design          position_embedding   activation  norm_position
==============  ===================  ==========  =============
DNABERT         learned              gelu        post
DNABERT-2       alibi                gelu [1]_   post
NT-v2           rope                 swiglu      pre
RiNALMo         rope                 swiglu      pre
==============  ===================  ==========  =============

.. [1] DNABERT-2 uses GEGLU; GELU is the closest switch here.

Attention is one fused QKV projection followed by :func:`attend`: ``F.scaled_dot_product_attention``
or, when training short sequences on CPU, plain ``matmul -> softmax -> matmul`` (``attention:
auto|sdpa|eager``, see :func:`use_eager_attention`); ALiBi and padding enter as one additive
float bias, padding alone as a bool mask.  With labels, the last block and the MLM head run only
at the labelled positions (``sparse_last_block``; keys and values still come from every position,
so this is exact): ``logits`` is then ``(N, V)`` in the order of ``labels[labels != -100]``; pass
``return_full_logits=True`` (or set ``full_mlm_logits``) for ``(B, T, V)``.  ``logits_at`` does
the same for variant scoring, at the masked sites.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, MaskedLMOutput

from genolm.constants import IGNORE_INDEX
from genolm.errors import ConfigError
from genolm.models.base import (
    GenolmConfig,
    GenolmForSequenceClassification,
    GenolmForTokenClassification,
    GenolmPreTrainedModel,
    SelectedLogitsMixin,
    compute_dtype,
    finish_backbone_output,
    masked_lm_select,
    padding_idx,
    weighted_cross_entropy,
)
from genolm.registry import check_choice


class GenolmEncoderConfig(GenolmConfig):
    """Bidirectional transformer encoder.  Defaults are a small NT-v2-like design (RoPE, SwiGLU, pre-LN)."""

    model_type = "genolm-encoder"

    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int | None = None  # default 4H (gelu) or 8H/3 rounded up to 64 (swiglu)
    activation: str = "swiglu"  # "gelu" | "swiglu"
    position_embedding: str = "rope"  # "learned" | "rope" | "alibi"
    norm_position: str = "pre"  # "pre" | "post" (BERT)
    max_position_embeddings: int = 1024  # a hard limit only for learned positions
    rope_theta: float = 10000.0
    layer_norm_eps: float = 1e-5
    hidden_dropout: float = 0.0
    attention_dropout: float = 0.0
    attention_bias: bool = True
    attention: str = "auto"  # "auto" | "sdpa" | "eager": the attention kernel (see use_eager_attention)
    tie_word_embeddings: bool = True
    full_mlm_logits: bool = False  # True: MLM logits at every position even when labels are given
    sparse_last_block: bool = True  # MLM with labels: the last block only at the labelled positions (exact)

    def __post_init__(self, **kwargs):
        check_choice("activation", self.activation, ("gelu", "swiglu"))
        check_choice("position_embedding", self.position_embedding, ("learned", "rope", "alibi"))
        check_choice("norm_position", self.norm_position, ("pre", "post"))
        check_choice("attention", self.attention, ATTENTIONS)
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.position_embedding == "rope" and (self.hidden_size // self.num_attention_heads) % 2:
            raise ConfigError("RoPE needs an even head size (hidden_size / num_attention_heads)")
        if self.intermediate_size is None:
            self.intermediate_size = (
                4 * self.hidden_size
                if self.activation == "gelu"
                else 64 * math.ceil(8 * self.hidden_size / 3 / 64)  # same parameter count as 4H GELU
            )
        super().__post_init__(**kwargs)


# --- position encodings ---------------------------------------------------------------------


def rope_cos_sin(
    T: int, head_dim: int, theta: float, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotary tables ``(cos, sin)``, each shape ``(T, 1, 1, head_dim)`` (GPT-NeoX "rotate half" layout).

    ``sin`` carries the sign of the rotation (``[-sin, sin]``) so that :func:`apply_rope` is one
    ``roll`` and a multiply-add.  Computed per forward (cheap) rather than cached in a buffer, so
    nothing is tied to a maximum length.
    """
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(T, device=device, dtype=torch.float32), inv_freq)  # (T, hd/2)
    cos = torch.cat([angles.cos(), angles.cos()], dim=-1)  # (T, hd)
    sin = torch.cat([-angles.sin(), angles.sin()], dim=-1)
    return cos.to(dtype).view(T, 1, 1, head_dim), sin.to(dtype).view(T, 1, 1, head_dim)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` ``(B, T, ..., hd)`` by position: ``x * cos + rotate_half(x) * sin``.

    ``rotate_half(x) * sin == roll(x, hd/2) * [-sin, sin]``; applied to q and k together while
    they are still one ``(B, T, 2, nh, hd)`` slice of the fused projection (one pass, not two).
    """
    return x * cos + x.roll(x.shape[-1] // 2, dims=-1) * sin


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """Per-head ALiBi slopes ``(nh,)``, geometric as in Press et al. (2022), also for non powers of 2."""

    def pow2(n: int) -> list[float]:
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(n_heads).is_integer():
        return torch.tensor(pow2(n_heads))
    closest = 2 ** math.floor(math.log2(n_heads))
    return torch.tensor(pow2(closest) + pow2(2 * closest)[0::2][: n_heads - closest])


def alibi_bias(n_heads: int, T: int, device: torch.device) -> torch.Tensor:
    """Symmetric (bidirectional, as DNABERT-2) ALiBi bias ``-slope * |i - j|``, shape ``(1, nh, T, T)``."""
    pos = torch.arange(T, device=device)
    dist = (pos[None, :] - pos[:, None]).abs().float()  # (T, T)
    return -alibi_slopes(n_heads).to(device).view(1, n_heads, 1, 1) * dist


# --- attention ------------------------------------------------------------------------------

ATTENTIONS = ("auto", "sdpa", "eager")
#: ``attention: auto`` trains with the eager path on CPU up to this many tokens ...
EAGER_MAX_TOKENS = 640
#: ... and while one layer's ``(B, nh, T, T)`` scores stay within this many elements (256 MB in bf16)
EAGER_MAX_SCORES = 2**27


def use_eager_attention(choice: str, x: torch.Tensor, n_head: int) -> bool:
    """Whether :func:`attend` runs the eager path for hidden states ``x`` ``(B, T, H)``.

    ``auto`` picks eager when training on CPU with ``T <= EAGER_MAX_TOKENS`` (and the scores
    within ``EAGER_MAX_SCORES``).  There the backward of PyTorch's CPU flash kernel
    (``_scaled_dot_product_flash_attention_for_cpu``) is slower than two batched matmuls around a
    softmax: a training step of the 10M encoder at 8 x 512 tokens ran 1.19x faster, the causal
    decoder 1.13x, in benchmarks/pretrain_throughput.py's measurements; at 769 tokens the
    decoder was 0.89x and the encoder even, and without gradients SDPA was as fast or faster
    (decoder inference 0.87x eager).  Everywhere else (inference, longer sequences, GPUs) it is SDPA.
    """
    if choice != "auto":
        return choice == "eager"
    B, T = x.shape[:2]
    return (
        x.device.type == "cpu"
        and x.requires_grad
        and torch.is_grad_enabled()
        and T <= EAGER_MAX_TOKENS
        and B * n_head * T * T <= EAGER_MAX_SCORES
    )


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    *,
    causal: bool = False,
    dropout_p: float = 0.0,
    eager: bool = False,
) -> torch.Tensor:
    """``softmax(q k^T / sqrt(hd) + mask) v`` for q, k, v ``(B, nh, T, hd)`` -> ``(B, nh, T, hd)``.

    ``attn_mask``: ``None``, a bool mask (True = attend) or an additive float bias, broadcastable
    to ``(B, nh, T, T)``; ``causal`` adds the causal mask when ``attn_mask`` is ``None``.

    ``eager`` computes the same function as SDPA with two matmuls around a softmax, as Hugging
    Face's eager BERT does.  Under bf16 autocast the scores and probabilities are bf16: PyTorch's
    CPU softmax accumulates a bf16 row in float32 and rounds once (it equals the float32 softmax
    rounded to bf16), and SDPA's CPU flash kernel also rounds the probabilities to bf16 before
    multiplying by ``v``.  (A float32 softmax made the 10M encoder's training step ~1.4x slower.)
    """
    if not eager:
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, is_causal=causal and attn_mask is None, dropout_p=dropout_p
        )
    T = q.shape[-2]
    scores = torch.matmul(q, k.transpose(-2, -1)) * q.shape[-1] ** -0.5  # (B, nh, T, T)
    if attn_mask is None and causal:
        attn_mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    probs = torch.softmax(scores, dim=-1)  # (B, nh, T, T)
    if dropout_p:
        probs = F.dropout(probs, dropout_p)
    return torch.matmul(probs, v)


# --- blocks ---------------------------------------------------------------------------------


class SelfAttention(nn.Module):
    def __init__(self, config: GenolmEncoderConfig):
        super().__init__()
        self.n_head = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=config.attention_bias)
        self.out_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=config.attention_bias)
        self.dropout = config.attention_dropout
        self.attention = config.attention

    def forward(
        self,
        x: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
        rope: tuple[torch.Tensor, torch.Tensor] | None = None,
        query_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``x`` ``(B, T, H)`` -> ``(B, T, H)``; with ``query_index`` ``(B, Q)`` only those queries -> ``(B, Q, H)``.

        Keys and values always come from all ``T`` positions, so each returned row is exactly the
        row the full forward would give at that position.
        """
        B, T, H = x.shape
        if query_index is None:
            qkv = self.qkv(x).view(B, T, 3, self.n_head, self.head_dim)  # (B, T, 3, nh, hd)
            if rope is not None:
                qk = apply_rope(qkv[:, :, :2], *rope)  # (B, T, 2, nh, hd)
                q, k = qk.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, nh, T, hd)
                v = qkv[:, :, 2].transpose(1, 2)
            else:
                q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, nh, T, hd)
        else:
            q, k, v, attn_mask = self._project_selected(x, attn_mask, rope, query_index)
        Q = q.shape[2]
        y = attend(
            q,
            k,
            v,
            attn_mask,
            dropout_p=self.dropout if self.training else 0.0,
            eager=use_eager_attention(self.attention, x, self.n_head),
        )  # (B, nh, Q, hd)
        return self.out_proj(y.transpose(1, 2).reshape(B, Q, H))

    def _project_selected(self, x, attn_mask, rope, query_index):
        """q at the ``(B, Q)`` query positions, k and v everywhere.

        A plain ``nn.Linear`` projects q only at the query rows and k, v everywhere, from slices of
        its weight.  An adapter on ``qkv`` (LoRA or other) is instead called as a module at every
        position, so it applies exactly as in ``forward`` (the q third is then wasted at the other
        positions), and the q rows are gathered from its output."""
        B, T, H = x.shape
        nh, hd = self.n_head, self.head_dim
        rows = query_index[..., None].expand(-1, -1, H)  # (B, Q, H)
        if type(self.qkv) is nn.Linear:
            w, b = self.qkv.weight, self.qkv.bias
            q = F.linear(x.gather(1, rows), w[:H], None if b is None else b[:H])  # (B, Q, H)
            kv = F.linear(x, w[H:], None if b is None else b[H:])  # (B, T, 2H)
        else:
            qkv = self.qkv(x)  # (B, T, 3H): [q; k; v]
            q, kv = qkv[..., :H].gather(1, rows), qkv[..., H:]
        q = q.view(B, -1, nh, hd)  # (B, Q, nh, hd)
        k, v = kv.view(B, T, 2, nh, hd).unbind(2)  # each (B, T, nh, hd)
        if rope is not None:
            k = apply_rope(k, *(t.view(T, 1, hd) for t in rope))
            q = apply_rope(q, *(t.view(T, hd)[query_index][:, :, None] for t in rope))  # (B, Q, 1, hd) tables
        k, v = k.transpose(1, 2), v.transpose(1, 2)  # each (B, nh, T, hd)
        if attn_mask is not None and attn_mask.shape[-2] > 1:  # a per-query bias (ALiBi): its query rows
            rows = query_index[:, None, :, None].expand(B, attn_mask.shape[1], -1, T)
            attn_mask = attn_mask.expand(B, -1, -1, -1).gather(2, rows)  # (B, nh, Q, T)
        return q.transpose(1, 2), k, v, attn_mask


class MLP(nn.Module):
    def __init__(self, config: GenolmEncoderConfig):
        super().__init__()
        self.swiglu = config.activation == "swiglu"
        n_in = config.intermediate_size * (2 if self.swiglu else 1)  # SwiGLU: gate and value in one matmul
        self.fc1 = nn.Linear(config.hidden_size, n_in)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)  # (B, T, I) or (B, T, 2I)
        if self.swiglu:
            gate, value = h.chunk(2, dim=-1)
            h = F.silu(gate) * value
        else:
            h = F.gelu(h)
        return self.fc2(h)  # (B, T, H)


class EncoderBlock(GradientCheckpointingLayer):
    def __init__(self, config: GenolmEncoderConfig):
        super().__init__()
        self.pre_norm = config.norm_position == "pre"
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attn = SelfAttention(config)
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = MLP(config)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, x, attn_mask=None, rope=None, query_index=None):
        """``(B, T, H)`` -> ``(B, T, H)``, or only the ``(B, Q)`` rows of ``query_index`` -> ``(B, Q, H)``."""
        xq = x if query_index is None else x.gather(1, query_index[..., None].expand(-1, -1, x.shape[-1]))
        if self.pre_norm:  # NT-v2, RiNALMo
            xq = xq + self.dropout(self.attn(self.norm1(x), attn_mask, rope, query_index))
            return xq + self.dropout(self.mlp(self.norm2(xq)))
        xq = self.norm1(xq + self.dropout(self.attn(x, attn_mask, rope, query_index)))  # BERT, DNABERT(-2)
        return self.norm2(xq + self.dropout(self.mlp(xq)))


# --- models ---------------------------------------------------------------------------------


class GenolmEncoderPreTrainedModel(GenolmPreTrainedModel):
    config_class = GenolmEncoderConfig
    _no_split_modules = ["EncoderBlock"]


class GenolmEncoderModel(GenolmEncoderPreTrainedModel):
    """The encoder backbone: ``input_ids (B, T)`` -> ``last_hidden_state (B, T, H)``."""

    def __init__(self, config: GenolmEncoderConfig):
        super().__init__(config)
        H = config.hidden_size
        self.embed_tokens = nn.Embedding(config.vocab_size, H, padding_idx=padding_idx(config))
        if config.position_embedding == "learned":
            self.embed_positions = nn.Embedding(config.max_position_embeddings, H)
        # post-LN (BERT) normalises the embeddings; pre-LN normalises the output of the last block
        if config.norm_position == "post":
            self.embed_norm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        else:
            self.final_norm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList(EncoderBlock(config) for _ in range(config.num_hidden_layers))
        self.post_init()

    def _attention_bias(self, attention_mask: torch.Tensor | None, T: int, device) -> torch.Tensor | None:
        """``None`` (no padding, no ALiBi: the fastest SDPA path), a bool ``(B, 1, 1, T)`` key mask,
        or a float bias ``(B or 1, nh, T, T)``."""
        pad = None
        if attention_mask is not None and not bool(attention_mask.all()):
            pad = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T) True = attend
        if self.config.position_embedding != "alibi":
            return pad
        bias = alibi_bias(self.config.num_attention_heads, T, device)  # (1, nh, T, T)
        if pad is not None:
            bias = bias.masked_fill(~pad, float("-inf"))  # (B, nh, T, T)
        return bias

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        select: torch.Tensor | None = None,
    ) -> BaseModelOutput | tuple:
        """``last_hidden_state`` ``(B, T, H)``; with ``select`` (bool ``(B, T)``) only the selected
        positions, ``(N, H)`` in row-major order, equal to ``last_hidden_state[select]``.

        With ``select`` the last block runs only at the selected positions (keys and values still
        come from every position): MLM training selects the ~15% labelled positions, variant
        scoring the masked sites.  Exact, and it saves most of one block's work.
        """
        cfg = self.config
        B, T = input_ids.shape
        if select is not None and output_hidden_states:
            raise ValueError(
                "select= returns only the selected positions; it cannot give output_hidden_states"
            )
        x = self.embed_tokens(input_ids)  # (B, T, H)
        if cfg.position_embedding == "learned":
            if T > cfg.max_position_embeddings:
                raise ValueError(
                    f"sequence of {T} tokens is longer than max_position_embeddings="
                    f"{cfg.max_position_embeddings} (learned positions do not extrapolate; use rope or alibi)"
                )
            x = x + self.embed_positions(torch.arange(T, device=x.device))
        if cfg.norm_position == "post":
            x = self.embed_norm(x)
        x = self.dropout(x)
        dtype = compute_dtype(x)
        attn_mask = self._attention_bias(attention_mask, T, x.device)
        if attn_mask is not None and attn_mask.dtype != torch.bool:
            attn_mask = attn_mask.to(dtype)  # the ALiBi bias, in the dtype of q (SDPA requires it)
        rope = None
        if cfg.position_embedding == "rope":
            rope = rope_cos_sin(
                T, cfg.hidden_size // cfg.num_attention_heads, cfg.rope_theta, x.device, dtype
            )
        all_hidden = [x] if output_hidden_states else None
        layers, query_index, valid = self.layers, None, None
        if select is not None and len(layers) and bool(select.any()):
            query_index, valid = select_queries(select)
            layers = layers[:-1]
        for layer in layers:
            x = layer(x, attn_mask, rope)
            if all_hidden is not None:
                all_hidden.append(x)
        if query_index is not None:
            x = self.layers[-1](x, attn_mask, rope, query_index)[valid]  # (N, H)
        elif select is not None:
            x = x[select]
        if cfg.norm_position == "pre":
            x = self.final_norm(x)
            if all_hidden is not None:
                all_hidden[-1] = x
        return finish_backbone_output(x, all_hidden, return_dict)


def select_queries(select: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bool ``(B, T)`` -> (``query_index`` ``(B, Q)``, ``valid`` ``(B, Q)``).

    Each row lists its selected positions in increasing order, padded with position 0 (``valid``
    False), so that ``rows[valid]`` is in the row-major order of ``x[select]``.  Q is the most
    positions selected in a row rounded up to a multiple of 16: random MLM masking selects a
    different count every step, and a compiled block sees a handful of shapes instead of one each.
    """
    counts = select.sum(1)  # (B,)
    Q = min(select.shape[1], -(-int(counts.max()) // 16) * 16)
    query_index = torch.argsort((~select).to(torch.int8), dim=1, stable=True)[:, :Q]
    valid = torch.arange(Q, device=select.device)[None, :] < counts[:, None]
    return query_index.masked_fill(~valid, 0), valid


class MaskedLMHead(nn.Module):
    """dense -> GELU -> LayerNorm -> vocabulary (BERT/ESM style); ``decoder`` may be tied to the embeddings."""

    def __init__(self, config: GenolmEncoderConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.norm(F.gelu(self.dense(h))))  # (..., V)


class GenolmEncoderForMaskedLM(SelectedLogitsMixin, GenolmEncoderPreTrainedModel):
    _tied_weights_keys = {"lm_head.decoder.weight": "model.embed_tokens.weight"}

    def __init__(self, config: GenolmEncoderConfig):
        super().__init__(config)
        self.model = GenolmEncoderModel(config)
        self.lm_head = MaskedLMHead(config)
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
        """MLM forward.  ``labels`` (B, T) with -100 where unmasked; ``loss_weights`` (B, T) optional.

        With labels (and ``return_full_logits`` false) ``logits`` is ``(N, V)`` for the N labelled
        positions in row-major order; otherwise ``(B, T, V)``.
        """
        full = self.config.full_mlm_logits if return_full_logits is None else return_full_logits
        loss = None
        if labels is not None and not full and self.config.sparse_last_block and not output_hidden_states:
            # the last block only at the labelled positions: its output is all the loss reads
            sel = labels != IGNORE_INDEX  # (B, T)
            out = self.model(input_ids, attention_mask=attention_mask, select=sel)
            w = loss_weights[sel] if loss_weights is not None else None
            logits = self.lm_head(out.last_hidden_state)  # (N, V)
            loss = weighted_cross_entropy(logits, labels[sel], w)
            res = MaskedLMOutput(loss=loss, logits=logits)
            return res if return_dict is not False else res.to_tuple()
        out = self.model(input_ids, attention_mask=attention_mask, output_hidden_states=output_hidden_states)
        if labels is not None and not full:
            h, y, w = masked_lm_select(out.last_hidden_state, labels, loss_weights)  # (N, H), (N,), (N,)
            logits = self.lm_head(h)  # (N, V)
            loss = weighted_cross_entropy(logits, y, w)
        else:
            logits = self.lm_head(out.last_hidden_state)  # (B, T, V)
            if labels is not None:
                w = loss_weights.reshape(-1) if loss_weights is not None else None
                loss = weighted_cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), w)
        res = MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
        return res if return_dict is not False else res.to_tuple()

    def _selected_logits(self, input_ids, attention_mask, select, reference=None):
        """The last block only at the selected positions (backbone ``select=``), then the head."""
        return self.lm_head(
            self.model(input_ids, attention_mask=attention_mask, select=select).last_hidden_state
        )


class GenolmEncoderForSequenceClassification(GenolmEncoderPreTrainedModel, GenolmForSequenceClassification):
    backbone_class = GenolmEncoderModel


class GenolmEncoderForTokenClassification(GenolmEncoderPreTrainedModel, GenolmForTokenClassification):
    backbone_class = GenolmEncoderModel
