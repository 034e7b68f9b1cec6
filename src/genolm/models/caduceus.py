"""Caduceus and PlantCaduceus in pure PyTorch: the published checkpoints on CPU, no ``mamba-ssm``.

The Hub checkpoints (``kuleshov-group/caduceus-{ph,ps}_seqlen-131k_d_model-256_n_layer-16``,
``kuleshov-group/PlantCaduceus_l{20,24,28,32}``) ship remote code that imports ``mamba_ssm``'s CUDA
kernels.  This file re-implements the same network so that, after :func:`register`,

    AutoModelForMaskedLM.from_pretrained(folder)       # no trust_remote_code, no mamba-ssm

loads such a folder unchanged: the same ``config.json`` keys, the same weight names, the same
tokenizer vocabulary.  Read top to bottom: config, the selective scan, the Mamba block, the
bidirectional and reverse-complement (RCPS) wrappers, the HF model classes, the tokenizer,
registration, checkpoint checks and :func:`make_tiny_caduceus`.

Format (from ``kuleshov-group/caduceus``: ``caduceus/configuration_caduceus.py``,
``modeling_caduceus.py``, ``modeling_rcps.py``, ``tokenization_caduceus.py``; ``mamba_ssm``:
``modules/mamba_simple.py``)::

    CaduceusForMaskedLM
      caduceus.backbone.embeddings.word_embeddings   nn.Embedding(V, D)  | RCPS: .embedding + .complement_map
      caduceus.backbone.layers.{i}                   Block: .mixer (BiMamba) + .norm
          .mixer[.submodule].mamba_fwd / mamba_rev   Mamba-1: in_proj conv1d x_proj dt_proj A_log D out_proj
          .norm[.submodule].weight                   RMSNorm (rms_norm) or LayerNorm
      caduceus.backbone.norm_f[.submodule]           final norm
      lm_head[.lm_head].weight                       tied to the embedding | RCPS: + .complement_map

    CaduceusForSequenceClassification
      caduceus.backbone.*                            as above
      score.weight                                   nn.Linear(D, num_labels, bias=False)

``[.submodule]`` appears for RCPS models; the norm's ``.submodule`` only when ``fused_add_norm`` is
false.  ``mamba_rev.in_proj`` / ``out_proj`` are tied to ``mamba_fwd``'s
(``bidirectional_weight_tie``) and ``lm_head`` to the embedding, so a safetensors file holds only
the sources of those ties.

RCPS (Caduceus-PS, PlantCaduceus): the hidden state is two strands of ``D`` channels, width
``2D``; ``rc(h) = h.flip(L).flip(C)`` maps one strand onto the other, and every layer ``g`` runs
as ``[g(h1), rc(g(rc(h2)))]`` with shared weights, so ``f(rc(x)) = rc(f(x))``.

Faithful to the published code, including two things that are easy to get wrong:

* ``fused_add_norm=True`` (every published config) selects the *fused* code path of
  ``RCPSMambaBlock``, which feeds the second half of the channels to the forward strand and the
  first half to the reverse one (it swaps the strands at every block's add+norm; the final norm
  does not).  The swap is still RC-equivariant and the published weights were trained with it,
  so it is reproduced here; ``fused_add_norm=False`` gives the unswapped (non-fused) path.  For
  non-RCPS models both paths are the same function.  No Triton is needed for either.
* ``hidden_states`` are what the published model returns: the input of every layer (the
  embedding, then each layer's mixer output, before the residual add), plus the final normed
  state only when ``fused_add_norm`` is true.

Departures: ``attention_mask`` is honoured (each row is run on its unpadded span, so padding never
changes a sequence's outputs; the published model ignores padding), and the MLM loss ignores label
``-100`` (HF convention).  :class:`CaduceusForSequenceClassification` lists its own.

Speed: the scan is a chunked loop over positions, vectorised over batch, channels and state
(see :func:`selective_scan`).  On one CPU thread a d_model=256, 16-layer model takes seconds per
kilobase; see ``docs/caduceus.md``.  With ``mamba_ssm`` installed and CUDA tensors, its
``selective_scan_fn`` kernel is used instead.  Mamba-2 models (PlantCAD2) are not covered.
"""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import (
    BaseModelOutputWithNoAttention,
    MaskedLMOutput,
    SequenceClassifierOutput,
)

from genolm.constants import IGNORE_INDEX
from genolm.errors import ConfigError, InputError
from genolm.models.base import sequence_classification_loss
from genolm.registry import did_you_mean
from genolm.tokenizers.base import register_with_transformers
from genolm.tokenizers.char import CharTokenizer

__all__ = [
    "CaduceusConfig",
    "CaduceusModel",
    "CaduceusForMaskedLM",
    "CaduceusForSequenceClassification",
    "CaduceusTokenizer",
    "selective_scan",
    "causal_conv",
    "register",
    "load",
    "check_checkpoint",
    "make_tiny_caduceus",
]

# --- config ---------------------------------------------------------------------------------

#: ``ssm_cfg`` keys of ``mamba_ssm.modules.mamba_simple.Mamba`` (Mamba-1) with their defaults
SSM_DEFAULTS = {
    "d_state": 16,
    "d_conv": 4,
    "expand": 2,
    "dt_rank": "auto",
    "dt_min": 0.001,
    "dt_max": 0.1,
    "dt_init": "random",
    "dt_scale": 1.0,
    "dt_init_floor": 1e-4,
    "conv_bias": True,
    "bias": False,
    "use_fast_path": True,  # kernel switch in mamba_ssm; no effect here
}
#: Mamba-2 keys, named in the error a Mamba-2 ``ssm_cfg`` gets
_MAMBA2_KEYS = {"headdim", "ngroups", "d_ssm", "rmsnorm", "chunk_size", "A_init_range", "D_has_hdim"}
BIDIRECTIONAL_STRATEGIES = ("add", "ew_multiply")
#: ``pooling_strategy`` of :class:`CaduceusForSequenceClassification`
POOLING_STRATEGIES = ("mean", "max", "first", "last")

# Keys a config.json may hold besides the Caduceus fields: what transformers 4.x / 5.x
# ``PretrainedConfig`` writes or reads.  Anything else is an error with a "did you mean".
_HF_CONFIG_KEYS = frozenset(
    """
    _name_or_path name_or_path _commit_hash transformers_version architectures auto_map model_type
    torch_dtype dtype use_bfloat16 torchscript tf_legacy_loss pruned_heads return_dict
    output_hidden_states output_attentions attn_implementation _attn_implementation
    _attn_implementation_internal experts_implementation _experts_implementation_internal
    chunk_size_feed_forward is_encoder_decoder is_decoder cross_attention_hidden_size
    add_cross_attention tie_encoder_decoder finetuning_task id2label label2id num_labels problem_type
    tokenizer_class prefix task_specific_params bos_token_id pad_token_id eos_token_id sep_token_id
    cls_token_id mask_token_id unk_token_id decoder_start_token_id per_layer_config
    tie_last_hidden_states use_cache
    max_length min_length do_sample early_stopping num_beams num_beam_groups diversity_penalty
    temperature top_k top_p typical_p repetition_penalty length_penalty no_repeat_ngram_size
    encoder_no_repeat_ngram_size bad_words_ids num_return_sequences output_scores
    return_dict_in_generate forced_bos_token_id forced_eos_token_id remove_invalid_values
    exponential_decay_length_penalty suppress_tokens begin_suppress_tokens
    """.split()
)


def _cfg_error(message: str, hint: str) -> ConfigError:
    return ConfigError(f"Caduceus config: {message} ({hint})")


class CaduceusConfig(PreTrainedConfig):
    """The published ``CaduceusConfig`` (``model_type="caduceus"``): same keys, same defaults.

    ``vocab_size`` is rounded up to a multiple of ``pad_vocab_size_multiple`` and
    ``complement_map`` (token id -> id of its complement, JSON keys may be strings) is extended
    with identities to the padded size, as the published model does when it is built.
    """

    model_type = "caduceus"

    # from the original MambaConfig
    d_model: int = 2560
    n_layer: int = 64
    vocab_size: int = 50277
    ssm_cfg: dict | None = None
    rms_norm: bool = True
    residual_in_fp32: bool = True
    fused_add_norm: bool = True
    pad_vocab_size_multiple: int = 8
    norm_epsilon: float = 1e-5
    initializer_cfg: dict | None = None
    # Caduceus
    bidirectional: bool = True
    bidirectional_strategy: str | None = "add"
    bidirectional_weight_tie: bool = True
    rcps: bool = False
    gradient_checkpointing_stride: int = 1
    complement_map: dict | None = None
    # transformers 4.x default, which the published checkpoints were saved under
    tie_word_embeddings: bool = True
    # CaduceusForSequenceClassification (constructor arguments of the published class; config
    # keys here, so that they survive save_pretrained / from_pretrained)
    pooling_strategy: str = "mean"
    conjoin_train: bool = False
    conjoin_eval: bool = False

    def to_dict(self) -> dict:
        """As ``PreTrainedConfig.to_dict``, without the classifier keys at their defaults: a
        config.json stays readable by code that does not know them (earlier genolm rejects
        unknown keys)."""
        d = super().to_dict()
        for key in ("pooling_strategy", "conjoin_train", "conjoin_eval"):
            if key in d and d[key] == type(self).__dataclass_fields__[key].default:
                del d[key]
        return d

    def __post_init__(self, **kwargs):
        fields = set(type(self).__dataclass_fields__)
        for key in kwargs:
            if key not in _HF_CONFIG_KEYS and key not in fields:
                raise _cfg_error(
                    f"unknown key '{key}'.{did_you_mean(key, sorted(fields - set(_HF_CONFIG_KEYS)))}",
                    "this is not a Caduceus (Mamba-1) config.json; PlantCAD2 / Mamba-2 checkpoints are "
                    "not supported by genolm.models.caduceus",
                )
        _check_types(self)
        ssm = dict(self.ssm_cfg or {})
        for key in ssm:
            if key not in SSM_DEFAULTS:
                m2 = " (a Mamba-2 key: Mamba-2 models are not supported)" if key in _MAMBA2_KEYS else ""
                raise _cfg_error(
                    f"unknown ssm_cfg key '{key}'{m2}.{did_you_mean(key, list(SSM_DEFAULTS))}",
                    f"ssm_cfg takes {', '.join(SSM_DEFAULTS)}",
                )
        dt_rank = ssm.get("dt_rank", "auto")
        if not (dt_rank == "auto" or (isinstance(dt_rank, int) and dt_rank > 0)):
            raise _cfg_error(
                f"ssm_cfg.dt_rank must be 'auto' or a positive int, got {dt_rank!r}", "fix config.json"
            )
        if ssm.get("dt_init", "random") not in ("random", "constant"):
            raise _cfg_error(
                f"ssm_cfg.dt_init must be 'random' or 'constant', got {ssm['dt_init']!r}", "fix it"
            )
        for key in ("d_model", "n_layer", "vocab_size", "pad_vocab_size_multiple"):
            if int(getattr(self, key)) < (0 if key == "n_layer" else 1):
                raise _cfg_error(f"'{key}' must be positive, got {getattr(self, key)}", "fix config.json")
        _check_pooling(self.pooling_strategy)
        if self.bidirectional and self.bidirectional_strategy is None:
            self.bidirectional_strategy = "add"  # the published default
        if self.bidirectional and self.bidirectional_strategy not in BIDIRECTIONAL_STRATEGIES:
            raise _cfg_error(
                f"bidirectional_strategy '{self.bidirectional_strategy}' is not implemented."
                f"{did_you_mean(str(self.bidirectional_strategy), BIDIRECTIONAL_STRATEGIES)}",
                f"choose from {', '.join(BIDIRECTIONAL_STRATEGIES)}",
            )
        # vocabulary padding, as Caduceus.__init__ does (it rewrites the config too)
        m = int(self.pad_vocab_size_multiple)
        if self.vocab_size % m:
            self.vocab_size += m - self.vocab_size % m
        if self.complement_map is not None:
            self.complement_map = _complete_complement_map(self.complement_map, self.vocab_size)
        elif self.rcps:
            raise _cfg_error(
                "rcps=true needs a complement_map", "give token id -> complement id for every token"
            )
        super().__post_init__(**kwargs)

    @property
    def ssm(self) -> dict:
        """``ssm_cfg`` with every Mamba default filled in."""
        return {**SSM_DEFAULTS, **(self.ssm_cfg or {})}

    @property
    def complement_ids(self) -> list[int]:
        """``complement_map`` as a list: ``complement_ids[i]`` is the complement of token ``i``."""
        if self.complement_map is None:
            return list(range(self.vocab_size))
        return [self.complement_map[i] for i in range(self.vocab_size)]


_FIELD_TYPES = {
    bool: (
        "rms_norm", "residual_in_fp32", "fused_add_norm", "bidirectional", "bidirectional_weight_tie", "rcps",
        "tie_word_embeddings", "conjoin_train", "conjoin_eval",
    ),
    str: ("pooling_strategy",),
    int: ("d_model", "n_layer", "vocab_size", "pad_vocab_size_multiple", "gradient_checkpointing_stride"),
    float: ("norm_epsilon",),
    dict: ("ssm_cfg", "initializer_cfg", "complement_map"),
}  # fmt: skip


def _check_types(config: CaduceusConfig) -> None:
    """The published configs are JSON; a string where a bool belongs would silently be true."""
    for tp, names in _FIELD_TYPES.items():
        for name in names:
            v = getattr(config, name)
            ok = v is None and tp is dict
            ok = ok or (isinstance(v, tp) and not (tp is int and isinstance(v, bool)))
            ok = ok or (tp is float and isinstance(v, int) and not isinstance(v, bool))
            if not ok:
                raise _cfg_error(f"'{name}' must be {tp.__name__}, got {v!r}", "fix config.json")


def _check_pooling(strategy: str) -> None:
    if strategy not in POOLING_STRATEGIES:
        raise _cfg_error(
            f"pooling_strategy '{strategy}' is not implemented."
            f"{did_you_mean(str(strategy), POOLING_STRATEGIES)}",
            f"choose from {', '.join(POOLING_STRATEGIES)}",
        )


def _complete_complement_map(cmap: dict, vocab_size: int) -> dict[int, int]:
    """``{id: complement id}`` over the whole (padded) vocabulary; ids not in ``cmap`` map to themselves."""
    try:
        out = {int(k): int(v) for k, v in cmap.items()}
    except (TypeError, ValueError):
        raise _cfg_error(
            "complement_map must map token ids to token ids", 'e.g. {"7": 10, "10": 7}'
        ) from None
    outside = [i for i in out if not 0 <= i < vocab_size]
    if outside:
        raise _cfg_error(
            f"complement_map has token id {outside[0]}, outside the vocabulary of {vocab_size}",
            "vocab_size and complement_map disagree",
        )
    out = {i: out.get(i, i) for i in range(vocab_size)}
    bad = [i for i, j in out.items() if not 0 <= j < vocab_size or out[j] != i]
    if bad:
        raise _cfg_error(
            f"complement_map is not a pairing of token ids (e.g. {bad[0]} -> {out[bad[0]]})",
            "every id must be the complement of its complement",
        )
    return out


# --- the selective scan -----------------------------------------------------------------------

#: elements of one chunk's (b, T, n, d) work tensors; sets the chunk length T
_CHUNK_ELEMENTS = 1 << 21


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = True,
    *,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Mamba-1's selective scan in plain PyTorch: the contract of ``mamba_ssm``'s ``selective_scan_ref``.

    For every batch row and channel ``d`` (state ``h`` of size ``n``, zero at the start)::

        dt_t = softplus(delta_t + delta_bias)          (if delta_softplus)
        h_t  = exp(dt_t * A) * h_{t-1} + dt_t * B_t * u_t
        y_t  = <C_t, h_t> + D * u_t,      then y_t * silu(z_t)

    Shapes (``mamba_ssm``'s layout): ``u, delta, z: (b, d, l)``; ``A: (d, n)``;
    ``B, C: (b, n, l)``; ``D, delta_bias: (d,)``.  Returns ``y: (b, d, l)`` in ``u``'s dtype;
    the arithmetic is float32.  See :func:`_selective_scan_tm` for how.
    """
    tm = [None if t is None else t.transpose(1, 2) for t in (u, delta, B, C, z)]
    y = _selective_scan_tm(tm[0], tm[1], A, tm[2], tm[3], D, tm[4], delta_bias, delta_softplus, chunk_size)
    return y.transpose(1, 2)


def _selective_scan_tm(u, delta, A, B, C, D, z, delta_bias, delta_softplus=True, chunk_size=None):
    """:func:`selective_scan` on time-major tensors: ``u, delta, z: (b, l, d)``; ``B, C: (b, l, n)``.

    How: positions are taken ``chunk_size`` at a time (default: as many as keep a chunk's
    ``(b, T, n, d)`` work tensors near 2M elements, reused from chunk to chunk).  Per chunk the
    decays ``exp(dt*A)`` and inputs ``dt*B*u`` are computed at once, the recurrence runs as one
    in-place ``addcmul`` per position over all of ``(b, d, n)``, and the read-out ``<C, h>`` is
    one batched matmul.  Cost: ``O(b l d n)`` work and ``l`` small kernel calls; memory
    ``O(b d n T)`` besides the inputs.  Under autograd the updates are out of place instead.
    """
    dtype = u.dtype
    b, length, d = u.shape
    n = A.shape[-1]
    u, dt = u.float(), delta.float()
    if delta_bias is not None:
        dt = dt + delta_bias.float()
    if delta_softplus:
        dt = F.softplus(dt)
    dtu = dt * u  # (b, l, d)
    B, C = B.float(), C.float()  # (b, l, n)
    # states are kept as (n, d) per position: the read-out <C, h> is then a plain batched matmul
    A2 = A.float().T * math.log2(math.e)  # (n, d); exp(x) = exp2(x log2 e), torch's faster CPU kernel
    T = max(1, min(length, chunk_size or _CHUNK_ELEMENTS // max(1, b * d * n)))
    h = u.new_zeros(b, n, d)  # the state carried from chunk to chunk
    ys = []
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (dt, dtu, A2, B, C))
    if not grad:
        decay, states = u.new_empty(b, T, n, d), u.new_empty(b, T, n, d)
    for t0 in range(0, length, T):
        k = min(T, length - t0)
        dt_c, dtu_c = dt[:, t0 : t0 + k, None, :], dtu[:, t0 : t0 + k, None, :]  # (b, k, 1, d)
        B_c = B[:, t0 : t0 + k, :, None]  # (b, k, n, 1)
        if grad:
            dec, inp = torch.exp2(dt_c * A2), dtu_c * B_c  # (b, k, n, d)
            hs = []
            for i in range(k):
                h = torch.addcmul(inp[:, i], dec[:, i], h)
                hs.append(h)
            st = torch.stack(hs, dim=1)  # (b, k, n, d)
        else:
            dec, st = decay[:, :k], states[:, :k]
            torch.exp2(torch.mul(dt_c, A2, out=dec), out=dec)  # decays exp(dt * A)
            torch.mul(dtu_c, B_c, out=st)  # inputs dt * B * u, overwritten by the states
            for s_i, d_i in zip(st.unbind(1), dec.unbind(1)):
                h = s_i.addcmul_(d_i, h)  # h_t = decay_t * h_{t-1} + input_t, in place
            h = h.clone()  # the buffers are overwritten by the next chunk
        y_c = torch.bmm(C[:, t0 : t0 + k].reshape(b * k, 1, n), st.reshape(b * k, n, d))  # y_t = <C_t, h_t>
        ys.append(y_c.view(b, k, d))
    y = torch.cat(ys, dim=1) if ys else u.new_zeros(b, 0, d)  # (b, l, d)
    if D is not None:
        y = y + u * D.float()
    if z is not None:
        y = y * F.silu(z.float())
    return y.to(dtype)


_KERNEL: list = []  # [selective_scan_fn or None], filled on first CUDA use


def _scan_tm(u, delta, A, B, C, D, z, delta_bias) -> torch.Tensor:
    """Time-major scan: ``mamba_ssm``'s CUDA kernel for CUDA tensors when it imports, else ours."""
    if u.is_cuda:
        if not _KERNEL:
            try:
                from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
            except Exception:  # not installed, or built for another CUDA / torch
                selective_scan_fn = None
            _KERNEL.append(selective_scan_fn)
        if _KERNEL[0] is not None:
            u, delta, B, C, z = (t.transpose(1, 2).contiguous() for t in (u, delta, B, C, z))
            y = _KERNEL[0](u, delta, A.contiguous(), B, C, D, z, delta_bias=delta_bias, delta_softplus=True)
            return y.transpose(1, 2)
    return _selective_scan_tm(u, delta, A, B, C, D, z, delta_bias)


# --- Mamba-1 and the bidirectional wrapper ---------------------------------------------------


def causal_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``conv1d(x, padding=K-1)[..., :L]``, depthwise, on time-major ``x: (B, L, E)``; ``weight: (E, 1, K)``.

    Output ``t`` sees inputs ``t-K+1 .. t``.  Written as ``K`` shifted multiply-adds, which on CPU
    is several times faster than ``nn.Conv1d`` with ``groups=E`` and needs no transposes.
    """
    K, L = weight.shape[-1], x.shape[1]
    w = weight[:, 0, :].T  # (K, E)
    xp = F.pad(x, (0, 0, K - 1, 0))  # (B, L + K - 1, E), zeros before the start
    out = xp[:, K - 1 :] * w[K - 1]
    for j in range(K - 1):
        out = out.addcmul_(xp[:, j : j + L], w[j])
    return out if bias is None else out + bias


class Mamba(nn.Module):
    """``mamba_ssm.modules.mamba_simple.Mamba``: the same parameters, names and math.

    ``(B, L, D) -> (B, L, D)``; ``E = expand * D`` inner channels, ``N = d_state``,
    ``R = dt_rank`` (``ceil(D / 16)`` for ``"auto"``).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | str = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init: str = "random",
        dt_scale: float = 1.0,
        dt_init_floor: float = 1e-4,
        conv_bias: bool = True,
        bias: bool = False,
        use_fast_path: bool = True,
    ):
        super().__init__()
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.dt_init, self.dt_scale = dt_init, dt_scale
        self.dt_min, self.dt_max, self.dt_init_floor = dt_min, dt_max, dt_init_floor
        E, N, R = self.d_inner, d_state, self.dt_rank
        self.in_proj = nn.Linear(d_model, 2 * E, bias=bias)  # -> x and gate z
        self.conv1d = nn.Conv1d(
            E, E, d_conv, groups=E, padding=d_conv - 1, bias=conv_bias
        )  # causal, depthwise
        self.x_proj = nn.Linear(E, R + 2 * N, bias=False)  # -> dt (low rank), B, C
        self.dt_proj = nn.Linear(R, E, bias=True)
        self.A_log = nn.Parameter(torch.empty(E, N))  # A = -exp(A_log)
        self.D = nn.Parameter(torch.empty(E))
        self.out_proj = nn.Linear(E, d_model, bias=bias)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        x, z = self.in_proj(hidden_states).chunk(2, dim=-1)  # (B, L, E) each
        x = F.silu(causal_conv(x, self.conv1d.weight, self.conv1d.bias))  # (B, L, E)
        dt, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.linear(dt, self.dt_proj.weight)  # (B, L, E); the bias is added inside the scan
        A = -torch.exp(self.A_log.float())  # (E, N)
        y = _scan_tm(x, dt, A, B, C, self.D.float(), z, self.dt_proj.bias.float())  # (B, L, E)
        return self.out_proj(y)  # (B, L, D)


class BiMambaWrapper(nn.Module):
    """Caduceus' BiMamba: ``mamba_fwd(h)`` combined with ``flip(mamba_rev(flip(h)))`` (flip over L).

    ``bidirectional_strategy``: ``"add"`` sums the directions, ``"ew_multiply"`` multiplies them.
    With ``bidirectional_weight_tie`` the two directions share ``in_proj`` and ``out_proj``.
    """

    def __init__(self, d_model: int, bidirectional=True, strategy="add", weight_tie=True, **mamba_kwargs):
        super().__init__()
        self.bidirectional, self.strategy = bidirectional, strategy
        self.mamba_fwd = Mamba(d_model, **mamba_kwargs)
        self.mamba_rev = Mamba(d_model, **mamba_kwargs) if bidirectional else None
        if bidirectional and weight_tie:
            for proj in ("in_proj", "out_proj"):
                fwd, rev = getattr(self.mamba_fwd, proj), getattr(self.mamba_rev, proj)
                rev.weight, rev.bias = fwd.weight, fwd.bias

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:  # (B, L, D) -> (B, L, D)
        out = self.mamba_fwd(hidden_states)
        if self.mamba_rev is None:
            return out
        out_rev = self.mamba_rev(hidden_states.flip(1)).flip(1)
        return out + out_rev if self.strategy == "add" else out * out_rev


class RMSNorm(nn.Module):
    """``mamba_ssm``'s RMSNorm: ``x / sqrt(mean(x^2) + eps) * weight`` in float32; no bias."""

    def __init__(self, hidden_size: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        y = xf * torch.rsqrt(xf.square().mean(-1, keepdim=True) + self.eps) * self.weight.float()
        return y.to(x.dtype)


def _make_norm(config: CaduceusConfig) -> nn.Module:
    if config.rms_norm:
        return RMSNorm(config.d_model, eps=config.norm_epsilon)
    return nn.LayerNorm(config.d_model, eps=config.norm_epsilon)


def _add(x: torch.Tensor, residual: torch.Tensor | None, fp32: bool) -> torch.Tensor:
    if fp32:
        x = x.float()
    return x if residual is None else x + residual.to(x.dtype)


class Block(nn.Module):
    """Mamba's pre-norm block: ``residual += h; h = mixer(norm(residual))``; returns ``(h, residual)``."""

    def __init__(self, mixer: nn.Module, norm: nn.Module, residual_in_fp32: bool):
        super().__init__()
        self.mixer, self.norm = mixer, norm
        self.residual_in_fp32 = residual_in_fp32

    def forward(self, hidden_states, residual=None):  # (B, L, D), (B, L, D) | None
        residual = _add(hidden_states, residual, self.residual_in_fp32)
        hidden_states = self.norm(residual.to(self.norm.weight.dtype))
        return self.mixer(hidden_states), residual


# --- reverse-complement parameter sharing (RCPS) --------------------------------------------


def _rc(x: torch.Tensor) -> torch.Tensor:
    """Reverse complement of a hidden state ``(..., L, C)``: flip positions and channels."""
    return x.flip(-2, -1)


class RCPSEmbedding(nn.Module):
    """``(B, L)`` ids -> ``(B, L, 2D)``: ``[E(x), rc(E(rc(x)))]``, ``rc(x)`` = complemented, reversed ids."""

    def __init__(self, vocab_size: int, d_model: int, complement_ids: list[int]):
        super().__init__()
        self.register_buffer("complement_map", torch.tensor(complement_ids, dtype=torch.long))
        self.embedding = nn.Embedding(vocab_size, d_model)

    @property
    def weight(self) -> nn.Parameter:
        return self.embedding.weight

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        rc_ids = self.complement_map[input_ids.flip(-1)]  # (B, L)
        return torch.cat([self.embedding(input_ids), _rc(self.embedding(rc_ids))], dim=-1)


class RCPSWrapper(nn.Module):
    """Run ``submodule`` on both strands: ``(B, L, 2D) -> [g(h1), rc(g(rc(h2)))]`` (one batched call)."""

    def __init__(self, submodule: nn.Module):
        super().__init__()
        self.submodule = submodule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h1, h2 = x.chunk(2, dim=-1)  # (B, L, D) each
        out1, out2 = self.submodule(torch.cat([h1, _rc(h2)], dim=0)).chunk(2, dim=0)
        return torch.cat([out1, _rc(out2)], dim=-1)


class RCPSAddNormWrapper(nn.Module):
    """Holds the norm of a non-fused RCPS block (``.submodule``, as published); see :func:`rcps_add_norm`."""

    def __init__(self, submodule: nn.Module):
        super().__init__()
        self.submodule = submodule

    @property
    def weight(self) -> nn.Parameter:
        return self.submodule.weight


def rcps_add_norm(norm: nn.Module, hidden, residual, *, swap_strands: bool, fp32: bool):
    """RCPS add + norm: ``(B, L, 2D)`` hidden and residual -> ``(normed, new residual)``.

    Strand 1 is added and normed as is, strand 2 reverse-complemented first and back after.
    ``swap_strands=True`` is the published *fused* path (``fused_add_norm``), which takes strand
    1 from the second half of the channels and strand 2 from the first half.
    """
    h1, h2 = hidden.chunk(2, dim=-1)
    r1, r2 = (None, None) if residual is None else residual.chunk(2, dim=-1)
    if swap_strands:
        h1, h2, r1, r2 = h2, h1, r2, r1
    s1 = _add(h1, r1, fp32)  # (B, L, D)
    s2 = _add(_rc(h2), None if r2 is None else _rc(r2), fp32)  # (B, L, D), strand 2 in its own frame
    n1, n2 = norm(torch.cat([s1, s2], dim=0).to(norm.weight.dtype)).chunk(2, dim=0)
    return torch.cat([n1, _rc(n2)], dim=-1), torch.cat([s1, _rc(s2)], dim=-1)


class RCPSMambaBlock(nn.Module):
    """The RCPS block: RCPS add + norm, then the BiMamba mixer on both strands."""

    def __init__(self, mixer: nn.Module, norm: nn.Module, fused_add_norm: bool, residual_in_fp32: bool):
        super().__init__()
        self.mixer = RCPSWrapper(mixer)
        self.norm = norm if fused_add_norm else RCPSAddNormWrapper(norm)
        self.fused_add_norm, self.residual_in_fp32 = fused_add_norm, residual_in_fp32

    def forward(self, hidden_states, residual=None):  # (B, L, 2D), (B, L, 2D) | None
        norm = self.norm if self.fused_add_norm else self.norm.submodule
        hidden_states, residual = rcps_add_norm(
            norm, hidden_states, residual, swap_strands=self.fused_add_norm, fp32=self.residual_in_fp32
        )
        return self.mixer(hidden_states), residual


class RCPSLMHead(nn.Module):
    """``(B, L, 2D) -> (B, L, V)``: ``W h1 + W[comp] flipC(h2)``, weights tied to the embedding."""

    def __init__(self, true_dim: int, vocab_size: int, complement_ids: list[int]):
        super().__init__()
        self.register_buffer("complement_map", torch.tensor(complement_ids, dtype=torch.long))
        self.true_dim = true_dim
        self.lm_head = nn.Linear(true_dim, vocab_size, bias=False)

    @property
    def weight(self) -> nn.Parameter:
        return self.lm_head.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h1, h2 = x.chunk(2, dim=-1)
        return F.linear(h1, self.weight) + F.linear(h2.flip(-1), self.weight[self.complement_map])


# --- backbone -------------------------------------------------------------------------------


class CaduceusEmbeddings(nn.Module):
    def __init__(self, config: CaduceusConfig):
        super().__init__()
        if config.rcps:
            self.word_embeddings = RCPSEmbedding(config.vocab_size, config.d_model, config.complement_ids)
        else:
            self.word_embeddings = nn.Embedding(config.vocab_size, config.d_model)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:  # (B, L) -> (B, L, D or 2D)
        return self.word_embeddings(input_ids)


def _create_block(config: CaduceusConfig) -> nn.Module:
    mixer = BiMambaWrapper(
        config.d_model,
        bidirectional=config.bidirectional,
        strategy=config.bidirectional_strategy,
        weight_tie=config.bidirectional_weight_tie,
        **config.ssm,
    )
    if config.rcps:
        return RCPSMambaBlock(mixer, _make_norm(config), config.fused_add_norm, config.residual_in_fp32)
    return Block(mixer, _make_norm(config), config.residual_in_fp32)


class CaduceusMixerModel(nn.Module):
    """Embedding, ``n_layer`` blocks, final add + norm.  Hidden width ``D``, or ``2D`` with RCPS."""

    def __init__(self, config: CaduceusConfig):
        super().__init__()
        self.rcps, self.fused_add_norm = config.rcps, config.fused_add_norm
        self.residual_in_fp32 = config.residual_in_fp32
        self.embeddings = CaduceusEmbeddings(config)
        self.layers = nn.ModuleList(_create_block(config) for _ in range(config.n_layer))
        norm_f = _make_norm(config)
        self.norm_f = norm_f if (config.fused_add_norm or not config.rcps) else RCPSAddNormWrapper(norm_f)

    def forward(self, input_ids=None, inputs_embeds=None, output_hidden_states=False):
        hidden = self.embeddings(input_ids) if inputs_embeds is None else inputs_embeds  # (B, L, H)
        all_hidden = []
        residual = None
        for layer in self.layers:
            if output_hidden_states:
                all_hidden.append(hidden)
            hidden, residual = layer(hidden, residual)
        if self.rcps:
            norm = self.norm_f if self.fused_add_norm else self.norm_f.submodule
            hidden = rcps_add_norm(norm, hidden, residual, swap_strands=False, fp32=self.residual_in_fp32)[0]
        else:
            residual = _add(hidden, residual, self.residual_in_fp32)
            hidden = self.norm_f(residual.to(self.norm_f.weight.dtype))
        if output_hidden_states and self.fused_add_norm:  # the published code appends it only there
            all_hidden.append(hidden)
        return hidden, all_hidden


# --- Hugging Face model classes --------------------------------------------------------------


class CaduceusPreTrainedModel(PreTrainedModel):
    config_class = CaduceusConfig
    base_model_prefix = "caduceus"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = False
    accepts_loss_kwargs = False
    _no_split_modules = ["BiMambaWrapper"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """The published initialisation (``mamba_ssm`` defaults + Caduceus' ``_init_weights``).

        Children are initialised before their parent, so :class:`Mamba` overrides its layers'
        generic init; tensors loaded from a checkpoint are never touched (``transformers.initialization``).
        """
        cfg = self.config
        icfg = cfg.initializer_cfg or {}
        if module is getattr(self, "score", None):  # the classification head: the published init_scorer()
            init.normal_(module.weight, std=icfg.get("initializer_range", 0.02))
        elif isinstance(module, (nn.Linear, nn.Conv1d)):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))  # PyTorch's default
            if module.bias is not None:
                if isinstance(module, nn.Conv1d):
                    bound = 1 / math.sqrt(module.weight.shape[1] * module.weight.shape[2])
                    init.uniform_(module.bias, -bound, bound)
                else:
                    init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, std=icfg.get("initializer_range", 0.02))
        elif isinstance(module, (RMSNorm, nn.LayerNorm)):
            init.ones_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (RCPSEmbedding, RCPSLMHead)):
            init.copy_(module.complement_map, torch.tensor(cfg.complement_ids, dtype=torch.long))
        elif isinstance(module, Mamba):
            E, N = module.d_inner, module.d_state
            std = module.dt_rank**-0.5 * module.dt_scale
            if module.dt_init == "constant":
                init.constant_(module.dt_proj.weight, std)
            else:
                init.uniform_(module.dt_proj.weight, -std, std)
            lo, hi = math.log(module.dt_min), math.log(module.dt_max)
            dt = torch.exp(torch.rand(E) * (hi - lo) + lo).clamp(min=module.dt_init_floor)
            init.copy_(module.dt_proj.bias, dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)
            init.copy_(module.A_log, torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(E, 1))
            init.ones_(module.D)
            if icfg.get("rescale_prenorm_residual", True):
                init.kaiming_uniform_(module.out_proj.weight, a=math.sqrt(5))
                scale = math.sqrt(icfg.get("n_residuals_per_layer", 1) * max(1, cfg.n_layer))
                init.copy_(module.out_proj.weight, module.out_proj.weight / scale)

    def _own_tied_weights(self) -> dict[str, str]:
        return {}

    def get_expanded_tied_weights_keys(self, all_submodels: bool = False) -> dict:
        """``{tied copy: source}`` for this class (the base class collects those of submodels)."""
        if all_submodels:
            return super().get_expanded_tied_weights_keys(all_submodels=True)
        return self._own_tied_weights()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """``PreTrainedModel.from_pretrained``, checked: wrong, missing or extra weights are errors.

        A local folder is checked before loading (:func:`check_checkpoint`); after loading, any
        weight transformers had to initialise at random or could not place is an
        :class:`~genolm.errors.InputError` instead of a warning.
        """
        folder = None
        if isinstance(pretrained_model_name_or_path, (str, os.PathLike)):
            folder = Path(pretrained_model_name_or_path)
            folder = folder if folder.is_dir() else None
        if folder is not None:
            config = kwargs.get("config")
            if not isinstance(config, CaduceusConfig):
                fields = set(CaduceusConfig.__dataclass_fields__)
                config = CaduceusConfig.from_pretrained(
                    folder, **{k: v for k, v in kwargs.items() if k in fields}
                )
            check_checkpoint(folder, config)
        want_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(
            pretrained_model_name_or_path, *model_args, output_loading_info=True, **kwargs
        )
        _check_loading_info(model, info, where=str(pretrained_model_name_or_path))
        return (model, info) if want_info else model


class CaduceusModel(CaduceusPreTrainedModel):
    """The backbone: ``input_ids (B, L)`` -> ``last_hidden_state (B, L, D)`` (``2D`` with RCPS)."""

    def __init__(self, config: CaduceusConfig):
        super().__init__(config)
        self.backbone = CaduceusMixerModel(config)
        self._tied_weights_keys = self._own_tied_weights()  # read by save_pretrained
        self.post_init()

    def get_input_embeddings(self):
        return self.backbone.embeddings.word_embeddings

    def _own_tied_weights(self) -> dict[str, str]:
        cfg = self.config
        if not (cfg.bidirectional and cfg.bidirectional_weight_tie):
            return {}
        sub = ".submodule" if cfg.rcps else ""
        out = {}
        for i in range(cfg.n_layer):
            mixer = f"backbone.layers.{i}.mixer{sub}"
            for name in ("in_proj.weight", "in_proj.bias", "out_proj.weight", "out_proj.bias"):
                if name.endswith("weight") or cfg.ssm["bias"]:
                    out[f"{mixer}.mamba_rev.{name}"] = f"{mixer}.mamba_fwd.{name}"
        return out

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ):
        """``attention_mask`` (B, L), 1 = token: each row is run on its one unpadded span."""
        if (input_ids is None) == (inputs_embeds is None):
            raise InputError("give exactly one of input_ids and inputs_embeds")
        want_hidden = (
            self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )
        return_dict = self.config.return_dict if return_dict is None else return_dict
        if attention_mask is None or bool(attention_mask.all()):
            last, hidden = self.backbone(input_ids, inputs_embeds, output_hidden_states=want_hidden)
        else:
            last, hidden = self._forward_rows(input_ids, inputs_embeds, attention_mask, want_hidden)
        hidden = tuple(hidden) if want_hidden else None
        if not return_dict:
            return (last, hidden) if want_hidden else (last,)
        return BaseModelOutputWithNoAttention(last_hidden_state=last, hidden_states=hidden)

    def _forward_rows(self, input_ids, inputs_embeds, attention_mask, want_hidden):
        """Padded batch: every row on its own span; outputs are zero at padded positions."""
        x = input_ids if inputs_embeds is None else inputs_embeds
        B, L = x.shape[:2]
        last, hidden = None, None
        for b, (s, e) in enumerate(_token_spans(attention_mask)):
            if s == e:
                continue
            row = x[b : b + 1, s:e]
            h, hs = self.backbone(*((row, None) if inputs_embeds is None else (None, row)), want_hidden)
            if last is None:
                last = h.new_zeros(B, L, h.shape[-1])
                hidden = [t.new_zeros(B, L, t.shape[-1]) for t in hs]
            last[b, s:e] = h[0]
            for out, t in zip(hidden, hs):
                out[b, s:e] = t[0]
        if last is None:  # every row is padding
            last, hidden = self.backbone(*((x, None) if inputs_embeds is None else (None, x)), want_hidden)
            last, hidden = torch.zeros_like(last), [torch.zeros_like(t) for t in hidden]
        return last, hidden


def _token_spans(attention_mask: torch.Tensor) -> list[tuple[int, int]]:
    spans = []
    for b, row in enumerate(attention_mask.bool()):
        idx = row.nonzero().flatten()
        if len(idx) == 0:
            spans.append((0, 0))
            continue
        s, e = int(idx[0]), int(idx[-1]) + 1
        if e - s != len(idx):
            raise InputError(
                "attention_mask has gaps inside a sequence",
                record=f"batch row {b}",
                hint="pad on the left or the right only (one run of ones per row)",
            )
        spans.append((s, e))
    return spans


class CaduceusForMaskedLM(CaduceusPreTrainedModel):
    """Masked LM: ``input_ids (B, L)`` -> ``logits (B, L, V)``, ``V`` the padded vocabulary."""

    def __init__(self, config: CaduceusConfig):
        super().__init__(config)
        self.caduceus = CaduceusModel(config)
        if config.rcps:
            self.lm_head = RCPSLMHead(config.d_model, config.vocab_size, config.complement_ids)
        else:
            self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self._tied_weights_keys = self._own_tied_weights()  # read by save_pretrained
        self.post_init()

    def get_input_embeddings(self):
        return self.caduceus.get_input_embeddings()

    def get_output_embeddings(self):
        return self.lm_head

    def _own_tied_weights(self) -> dict[str, str]:
        # the published tie_weights() ties the RCPS head always, the plain head per tie_word_embeddings
        if self.config.rcps:
            return {"lm_head.lm_head.weight": "caduceus.backbone.embeddings.word_embeddings.embedding.weight"}
        if self.config.tie_word_embeddings:
            return {"lm_head.weight": "caduceus.backbone.embeddings.word_embeddings.weight"}
        return {}

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ):
        return_dict = self.config.return_dict if return_dict is None else return_dict
        out = self.caduceus(
            input_ids,
            attention_mask=attention_mask,
            inputs_embeds=inputs_embeds,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.lm_head(out.last_hidden_state).float()  # (B, L, V)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=IGNORE_INDEX
            )
        if not return_dict:
            rest = (logits,) + ((out.hidden_states,) if out.hidden_states is not None else ())
            return ((loss,) + rest) if loss is not None else rest
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)


def pool_hidden_states(hidden: torch.Tensor, mask: torch.Tensor | None, strategy: str) -> torch.Tensor:
    """``(B, L, H) -> (B, H)`` over the positions where ``mask`` ``(B, L)`` is 1 (all of them if None).

    ``strategy`` is one of :data:`POOLING_STRATEGIES`: the mean or the channel-wise max over the
    tokens, or the first or last token.
    """
    B, L = hidden.shape[:2]
    keep = hidden.new_ones(B, L, dtype=torch.bool) if mask is None else mask.bool()
    if not bool(keep.any(1).all()):
        raise InputError(
            "a row of attention_mask has no tokens", hint="every sequence needs at least one token"
        )
    if strategy == "mean":
        w = keep.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
        return (hidden * w).sum(1) / w.sum(1)
    if strategy == "max":
        return hidden.masked_fill(~keep.unsqueeze(-1), float("-inf")).max(1).values
    pos = torch.arange(L, device=hidden.device).expand(B, L)
    if strategy == "first":
        idx = pos.masked_fill(~keep, L).amin(1)  # (B,)
    else:
        idx = pos.masked_fill(~keep, -1).amax(1)
    return hidden[torch.arange(B, device=hidden.device), idx]


class CaduceusForSequenceClassification(CaduceusPreTrainedModel):
    """The published ``CaduceusForSequenceClassification``: pooled backbone state -> linear ``score``.

    ``input_ids (B, L)`` (or ``(B, L, 2)``, see conjoining) -> ``logits (B, num_labels)``.  The head
    is ``score = nn.Linear(d_model, num_labels, bias=False)``, initialised ``N(0, initializer_range)``
    (``initializer_cfg``, default 0.02).  The last hidden state is pooled over the sequence by
    ``config.pooling_strategy`` (:data:`POOLING_STRATEGIES`, default ``"mean"``):

    * RCPS models: the ``(B, L, 2D)`` state is split into the forward strand ``h[..., :D]`` and the
      reverse strand ``h[..., D:]`` flipped over positions and channels; each is pooled and
      scored, and the two logits averaged.  The logits are therefore invariant (up to rounding,
      for every strategy) to reverse complementing the input, and conjoining is not used.
    * other models, with ``conjoin_train`` (always) or ``conjoin_eval`` (in eval mode only): the
      backbone also runs on the reverse complement of the input, whose state is pooled in its
      own (reversed) frame and scored; the two logits are averaged.  The published class takes
      the reverse strand from the caller as ``input_ids[..., 1]`` of ``(B, L, 2)`` ids (its data
      loaders tokenize the reverse-complement string); that is accepted here too.  Given
      ``(B, L)`` ids, the reverse strand is made here as ``complement_map[ids.flip(-1)]`` (the
      config's ``complement_map``), which reverses special tokens with the bases (Caduceus'
      trailing ``[SEP]`` comes first), unlike a tokenized reverse-complement string.
    * otherwise the ``(B, L, D)`` state is pooled and scored.

    Loss (``labels``): ``problem_type`` as in ``transformers`` (regression for ``num_labels == 1``,
    single-label for integer labels, else multi-label; inferred and recorded when unset), as the
    published class does.

    ``pooling_strategy``, ``conjoin_train`` and ``conjoin_eval`` are constructor arguments of the
    published class; here they are config keys (so ``save_pretrained`` keeps them and
    ``from_pretrained(folder, pooling_strategy="max")`` works as before), and the constructor
    arguments, when given, overwrite them.

    Departures from the published class: ``attention_mask`` is honoured (each row runs on its
    unpadded span and is pooled over its tokens only, so padding never changes a sequence's
    logits; the published model pools over every position, padding included); ``"first"`` /
    ``"last"`` work (the published ``pool_hidden_states`` calls ``hidden_states.moveaxis`` with
    the tensor as an extra argument, which raises); ``inputs_embeds`` is used without conjoining
    (the published class passes it on only for RCPS models); conjoining also takes ``(B, L)`` ids.
    """

    def __init__(
        self,
        config: CaduceusConfig,
        pooling_strategy: str | None = None,
        conjoin_train: bool | None = None,
        conjoin_eval: bool | None = None,
    ):
        given = {
            "pooling_strategy": pooling_strategy,
            "conjoin_train": conjoin_train,
            "conjoin_eval": conjoin_eval,
        }
        if any(v is not None for v in given.values()):
            config = copy.deepcopy(config)  # the caller's config keeps its own settings
        for key, value in given.items():
            if value is not None:
                setattr(config, key, value)
        _check_pooling(config.pooling_strategy)
        _check_types(config)
        super().__init__(config)
        self.num_labels = config.num_labels
        self.caduceus = CaduceusModel(config)
        self.score = nn.Linear(config.d_model, config.num_labels, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.caduceus.get_input_embeddings()

    def _conjoined_inputs(
        self, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None
    ) -> tuple[tuple[torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor | None]]:
        """``(ids, mask), (rc ids, rc mask)``, each ``(B, L)``, from ``(B, L)`` or ``(B, L, 2)`` ids."""
        if input_ids is None:
            raise InputError("conjoining (conjoin_train / conjoin_eval) needs input_ids, not inputs_embeds")
        if input_ids.ndim == 3:
            if attention_mask is None or attention_mask.ndim == 3:
                masks = (None, None) if attention_mask is None else attention_mask.unbind(-1)
            else:
                masks = (attention_mask, attention_mask)
            return (input_ids[..., 0], masks[0]), (input_ids[..., 1], masks[1])
        if self.config.complement_map is None:
            raise ConfigError(
                "conjoining (B, L) input_ids needs the config's complement_map to make the reverse "
                "complement; add it to config.json or pass (B, L, 2) ids with the reverse strand"
            )
        comp = torch.tensor(self.config.complement_ids, device=input_ids.device)
        rc_mask = None if attention_mask is None else attention_mask.flip(-1)
        return (input_ids, attention_mask), (comp[input_ids.flip(-1)], rc_mask)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        """``input_ids`` / ``attention_mask`` ``(B, L)`` (``(B, L, 2)`` when conjoining, see the class);
        ``labels``: ``(B,)`` class ids, ``(B, num_labels)`` multi-label targets or ``(B,)`` /
        ``(B, 1)`` regression targets.  Returns ``logits (B, num_labels)`` (and the loss)."""
        cfg = self.config
        return_dict = cfg.return_dict if return_dict is None else return_dict
        conjoin = not cfg.rcps and (cfg.conjoin_train or (cfg.conjoin_eval and not self.training))
        if input_ids is not None and input_ids.ndim == 3 and not conjoin:
            raise InputError(
                "(B, L, 2) input_ids (forward and reverse-complement strands) are only read when "
                "conjoining: set conjoin_train or conjoin_eval (models without rcps)"
            )
        if conjoin:
            (ids, mask), (rc_ids, rc_mask) = self._conjoined_inputs(input_ids, attention_mask)
            both_mask = None if mask is None else torch.cat([mask, rc_mask])
            out = self.caduceus(
                torch.cat([ids, rc_ids]),
                attention_mask=both_mask,
                output_hidden_states=output_hidden_states,
                return_dict=True,
            )
            h, h_rc = out.last_hidden_state.chunk(2)  # (B, L, D) each
            strands = [(h, mask), (h_rc, rc_mask)]
            n = ids.shape[0]
            hidden_states = None if out.hidden_states is None else tuple(t[:n] for t in out.hidden_states)
        else:
            out = self.caduceus(
                input_ids,
                attention_mask=attention_mask,
                inputs_embeds=inputs_embeds,
                output_hidden_states=output_hidden_states,
                return_dict=True,
            )
            h = out.last_hidden_state  # (B, L, D), or (B, L, 2D) with RCPS
            if cfg.rcps:  # the reverse strand flipped back (positions and channels), as published
                rc_mask = None if attention_mask is None else attention_mask.flip(-1)
                strands = [
                    (h[..., : cfg.d_model], attention_mask),
                    (h[..., cfg.d_model :].flip(1, 2), rc_mask),
                ]
            else:
                strands = [(h, attention_mask)]
            hidden_states = out.hidden_states
        per_strand = [self.score(pool_hidden_states(s, m, cfg.pooling_strategy)) for s, m in strands]
        logits = torch.stack(per_strand).mean(0)  # (B, num_labels)
        loss = None
        if labels is not None:
            loss = sequence_classification_loss(logits, labels.to(logits.device), cfg)
        if not return_dict:
            rest = (logits,) + ((hidden_states,) if hidden_states is not None else ())
            return ((loss,) + rest) if loss is not None else rest
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states)


#: the published name of the backbone class (``auto_map`` ``AutoModel``)
Caduceus = CaduceusModel


# --- tokenizer ------------------------------------------------------------------------------

#: the published vocabulary (``tokenization_caduceus.py`` of the Hub checkpoints)
CADUCEUS_VOCAB = {
    "[CLS]": 0,
    "[SEP]": 1,
    "[BOS]": 2,
    "[MASK]": 3,
    "[PAD]": 4,
    "[RESERVED]": 5,
    "[UNK]": 6,
    "A": 7,
    "C": 8,
    "G": 9,
    "T": 10,
    "N": 11,
}
_COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}


class CaduceusTokenizer(CharTokenizer):
    """The published ``CaduceusTokenizer``: one token per base, ``[SEP]`` appended.

    Layout ``[CLS]=0 [SEP]=1 [BOS]=2 [MASK]=3 [PAD]=4 [RESERVED]=5 [UNK]=6 A=7 C=8 G=9 T=10 N=11``;
    lower case is read as upper case, other characters are ``[UNK]``, padding is on the left.
    It reads the published ``tokenizer_config.json`` as is (no vocabulary file) and, being
    genolm's ``char`` tokenizer, supports ``return_offsets_mapping=True``.
    """

    def __init__(
        self, vocab_file=None, model_max_length: int = 131072, characters=("A", "C", "G", "T", "N"), **kwargs
    ):
        if tuple(characters) != ("A", "C", "G", "T", "N"):
            raise ConfigError(
                f"CaduceusTokenizer: characters {list(characters)} differ from the published A, C, G, T, N "
                "(genolm reads only the published layout; use the checkpoint's own tokenizer)"
            )
        cmap = kwargs.pop("complement_map", None)
        if cmap is not None and dict(cmap) != _COMPLEMENT:
            raise ConfigError(
                f"CaduceusTokenizer: complement_map {cmap} differs from the published A<->T, C<->G"
            )
        kwargs.pop("add_prefix_space", None)
        kwargs.setdefault("padding_side", "left")
        super().__init__(vocab_file, model_max_length=model_max_length, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """As ``PreTrainedTokenizer.from_pretrained``, but a folder whose tokenizer is another class
        (PlantCaduceus ships GPN's fast tokenizer) is an error rather than silently the wrong ids."""
        cfg = Path(os.fspath(pretrained_model_name_or_path)) / "tokenizer_config.json"
        if cfg.is_file():
            name = json.loads(cfg.read_text()).get("tokenizer_class")
            if name not in (None, cls.__name__):
                raise ConfigError(
                    f"{cfg}: the tokenizer of this checkpoint is '{name}', not CaduceusTokenizer "
                    "(PlantCaduceus uses GPN's a/c/g/t tokenizer); load it with AutoTokenizer.from_pretrained"
                )
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)

    @property
    def complement_map(self) -> dict[int, int]:
        """Token id -> id of its complement (every special token is its own complement)."""
        vocab = self.get_vocab()
        return {i: vocab.get(_COMPLEMENT.get(t, t), i) for t, i in vocab.items()}


# --- registration and loading ---------------------------------------------------------------


def register() -> None:
    """Make ``Auto*`` load ``model_type: caduceus`` folders with this file (no remote code).

    Registers :class:`CaduceusConfig` with ``AutoConfig``, :class:`CaduceusModel` with
    ``AutoModel``, :class:`CaduceusForMaskedLM` with ``AutoModelForMaskedLM``,
    :class:`CaduceusForSequenceClassification` with ``AutoModelForSequenceClassification``
    (``exist_ok``) and :class:`CaduceusTokenizer` by name, so ``AutoTokenizer`` finds the published
    ``"tokenizer_class": "CaduceusTokenizer"``.  Safe to call more than once.
    """
    from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification

    AutoConfig.register("caduceus", CaduceusConfig, exist_ok=True)
    AutoModel.register(CaduceusConfig, CaduceusModel, exist_ok=True)
    AutoModelForMaskedLM.register(CaduceusConfig, CaduceusForMaskedLM, exist_ok=True)
    AutoModelForSequenceClassification.register(
        CaduceusConfig, CaduceusForSequenceClassification, exist_ok=True
    )
    register_with_transformers(CaduceusTokenizer)


def load(folder: str | os.PathLike, *, head: str = "mlm", **kwargs):
    """``(model, tokenizer)`` from a published-format folder, in eval mode; ``head``: ``"mlm"`` or ``"base"``.

    ``kwargs`` go to ``from_pretrained`` (e.g. ``dtype=torch.bfloat16``).  The tokenizer is the
    folder's own (``CaduceusTokenizer`` for Caduceus, the fast GPN tokenizer for PlantCaduceus).
    """
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    if head not in ("mlm", "base"):
        raise ConfigError(f"head must be 'mlm' or 'base', got '{head}'.{did_you_mean(head, ['mlm', 'base'])}")
    register()
    auto = AutoModelForMaskedLM if head == "mlm" else AutoModel
    model = auto.from_pretrained(os.fspath(folder), **kwargs).eval()
    return model, AutoTokenizer.from_pretrained(os.fspath(folder))


# --- checkpoint checks ------------------------------------------------------------------------


def _weight_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [folder / s for s in shards]
    if (folder / "model.safetensors").is_file():
        return [folder / "model.safetensors"]
    hint = "genolm reads safetensors only"
    if (folder / "pytorch_model.bin").is_file():
        hint = (
            "only pytorch_model.bin is there and genolm reads safetensors only; convert it once with "
            "safetensors.torch.save_file(torch.load(bin, weights_only=True), 'model.safetensors', "
            "metadata={'format': 'pt'}) after dropping tied copies"
        )
    raise InputError(
        "no model.safetensors (or sharded index) in the checkpoint folder", path=str(folder), hint=hint
    )


def expected_weights(config: CaduceusConfig, *, head: str = "mlm") -> tuple[dict[str, tuple], set[str]]:
    """``({name: shape}, optional names)`` of a checkpoint of ``config``.

    ``head``: ``"mlm"``, ``"base"`` or ``"cls"`` (:class:`CaduceusForSequenceClassification`).

    Optional names are the tied copies (``mamba_rev.in_proj`` / ``out_proj``, ``lm_head``) and
    the ``complement_map`` buffers: a checkpoint may hold them or not.
    """
    cls = {"mlm": CaduceusForMaskedLM, "base": CaduceusModel, "cls": CaduceusForSequenceClassification}[head]
    with torch.device("meta"):
        model = cls(config)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict(keep_vars=True).items()}
    tied = set(model.get_expanded_tied_weights_keys(all_submodels=True))
    return shapes, tied | {k for k in shapes if k.endswith("complement_map")}


def check_checkpoint(folder: str | os.PathLike, config: CaduceusConfig | None = None) -> None:
    """Raise :class:`~genolm.errors.InputError` unless the weights in ``folder`` fit ``config``.

    Reads only the safetensors headers.  ``config`` defaults to the folder's ``config.json``.
    """
    from safetensors import safe_open

    folder = Path(folder)
    config = config if config is not None else CaduceusConfig.from_pretrained(folder)
    found: dict[str, tuple] = {}
    for f in _weight_files(folder):
        with safe_open(str(f), framework="pt") as sf:
            for k in sf.keys():
                found[k] = tuple(sf.get_slice(k).get_shape())
    if "score.weight" in found:
        head = "cls"
    else:
        head = "mlm" if any(k.startswith("caduceus.") or k.startswith("lm_head.") for k in found) else "base"
    shapes, optional = expected_weights(config, head=head)
    where = str(folder / "model.safetensors")
    fix = (
        "config.json and the weights disagree: rcps, bidirectional, fused_add_norm and rms_norm change the "
        "weight names, d_model, n_layer, vocab_size and ssm_cfg their shapes; use the config.json shipped "
        "with the weights"
    )
    extra = sorted(set(found) - set(shapes))
    if extra:
        raise InputError(
            f"{len(extra)} weights are not part of this Caduceus model, e.g. '{extra[0]}'."
            f"{did_you_mean(extra[0], sorted(shapes))}",
            path=where,
            hint=fix + "; PlantCAD2 / Mamba-2 checkpoints are not supported",
        )
    missing = sorted(set(shapes) - set(found) - optional)
    if missing:
        raise InputError(f"{len(missing)} weights are missing, e.g. '{missing[0]}'", path=where, hint=fix)
    wrong = [(k, found[k], shapes[k]) for k in sorted(found) if found[k] != shapes[k]]
    if wrong:
        k, got, want = wrong[0]
        raise InputError(
            f"{len(wrong)} weights have the wrong shape, e.g. '{k}' is {list(got)} in the file but "
            f"config.json implies {list(want)}",
            path=where,
            hint=fix,
        )


def _check_loading_info(model: nn.Module, info: dict, where: str) -> None:
    """After ``from_pretrained``: no weight may be random, misplaced or untied."""
    missing = sorted(info.get("missing_keys") or [])
    mismatched = info.get("mismatched_keys") or []
    unexpected = sorted(info.get("unexpected_keys") or [])
    if isinstance(model, (CaduceusModel, CaduceusForSequenceClassification)):
        unexpected = [k for k in unexpected if not k.startswith("lm_head.")]  # an MLM checkpoint's head
    if isinstance(model, CaduceusForSequenceClassification):
        missing = [k for k in missing if k != "score.weight"]  # a new head, initialised as published
    for what, keys in (
        ("missing from", missing),
        ("of the wrong shape in", mismatched),
        ("unused in", unexpected),
    ):
        if keys:
            raise InputError(
                f"{len(keys)} weights {what} the checkpoint, e.g. {keys[0]}",
                path=where,
                hint="the checkpoint does not match its config.json; see genolm.models.caduceus.check_checkpoint",
            )
    for target, source in model.get_expanded_tied_weights_keys(all_submodels=True).items():
        if model.get_parameter(target) is not model.get_parameter(source):
            raise InputError(
                f"'{target}' should be tied to '{source}' but the checkpoint holds different values",
                path=where,
                hint="a Caduceus checkpoint with bidirectional_weight_tie / tied embeddings stores one copy",
            )


# --- tiny checkpoints in the published format -------------------------------------------------

#: ``auto_map`` and ``architectures`` of the published ``config.json``
AUTO_MAP = {
    "AutoConfig": "configuration_caduceus.CaduceusConfig",
    "AutoModel": "modeling_caduceus.Caduceus",
    "AutoModelForMaskedLM": "modeling_caduceus.CaduceusForMaskedLM",
    "AutoModelForSequenceClassification": "modeling_caduceus.CaduceusForSequenceClassification",
}

_CADUCEUS_TOKENIZER_CONFIG = {
    "add_prefix_space": False,
    "added_tokens_decoder": {
        str(i): {
            "content": tok,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for tok, i in CADUCEUS_VOCAB.items()
        if i < 7 and tok != "[RESERVED]"
    },
    "auto_map": {"AutoTokenizer": ["tokenization_caduceus.CaduceusTokenizer", None]},
    "bos_token": "[BOS]",
    "clean_up_tokenization_spaces": True,
    "cls_token": "[CLS]",
    "eos_token": "[SEP]",
    "mask_token": "[MASK]",
    "model_max_length": 131072,
    "pad_token": "[PAD]",
    "padding_side": "left",
    "sep_token": "[SEP]",
    "tokenizer_class": "CaduceusTokenizer",
    "unk_token": "[UNK]",
}
_CADUCEUS_SPECIAL_TOKENS_MAP = {
    "bos_token": "[BOS]",
    "cls_token": "[CLS]",
    "eos_token": "[SEP]",
    "mask_token": "[MASK]",
    "pad_token": "[PAD]",
    "sep_token": "[SEP]",
    "unk_token": "[UNK]",
}

#: PlantCaduceus' tokenizer: GPN's ``songlab/tokenizer-dna-mlm`` (a fast tokenizer, lower-case bases)
_GPN_VOCAB = {"[PAD]": 0, "[MASK]": 1, "[UNK]": 2, "a": 3, "c": 4, "g": 5, "t": 6}
_GPN_TOKENIZER_JSON = {
    "version": "1.0",
    "truncation": None,
    "padding": None,
    "added_tokens": [
        {
            "id": i,
            "content": t,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for t, i in _GPN_VOCAB.items()
        if i < 3
    ],
    "normalizer": {"type": "Lowercase"},
    "pre_tokenizer": {"type": "Whitespace"},
    "post_processor": None,
    "decoder": None,
    "model": {
        "type": "BPE",
        "dropout": None,
        "unk_token": "[UNK]",
        "continuing_subword_prefix": None,
        "end_of_word_suffix": None,
        "fuse_unk": False,
        "vocab": _GPN_VOCAB,
        "merges": [],
    },
}
_GPN_TOKENIZER_CONFIG = {
    "mask_token": "[MASK]",
    "pad_token": "[PAD]",
    "tokenizer_class": "PreTrainedTokenizerFast",
    "unk_token": "[UNK]",
}


def _published_complement_map(vocab: dict[str, int], pairs: dict[str, str], size: int) -> dict[str, int]:
    ids = {i: vocab.get(pairs.get(t, ""), i) for t, i in vocab.items()}
    return {str(i): ids.get(i, i) for i in range(size)}


def make_tiny_caduceus(
    folder: str | os.PathLike,
    *,
    rcps: bool,
    seed: int = 0,
    d_model: int = 16,
    n_layer: int = 2,
    flavour: str = "caduceus",
) -> Path:
    """Write a tiny random checkpoint in the published folder format; return the folder.

    ``config.json`` has the published keys, ``auto_map`` and ``architectures``;
    ``model.safetensors`` the published weight names (tied copies left out, as the Hub files
    have them); the tokenizer files are the published ones: Caduceus' ``tokenizer_config.json``
    + ``special_tokens_map.json`` (``flavour="caduceus"``), or PlantCaduceus' fast GPN
    ``tokenizer.json`` (``flavour="plantcaduceus"``, vocabulary ``[PAD] [MASK] [UNK] a c g t``).
    ``rcps=True`` gives a Caduceus-PS-like model, ``False`` a Caduceus-Ph-like one.  The weights
    are random (norms, ``D``, biases perturbed so that no symmetry hides a bug), not trained.
    """
    from safetensors.torch import save_file

    if flavour not in ("caduceus", "plantcaduceus"):
        raise ConfigError(
            f"flavour must be 'caduceus' or 'plantcaduceus', got '{flavour}'."
            f"{did_you_mean(flavour, ['caduceus', 'plantcaduceus'])}"
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if flavour == "caduceus":
        vocab, pairs = CADUCEUS_VOCAB, _COMPLEMENT
    else:
        vocab, pairs = _GPN_VOCAB, {"a": "t", "c": "g", "g": "c", "t": "a"}
    vocab_size = -(-len(vocab) // 8) * 8
    cfg = {
        "architectures": ["CaduceusForMaskedLM"],
        "auto_map": AUTO_MAP,
        "bidirectional": True,
        "bidirectional_strategy": "add",
        "bidirectional_weight_tie": True,
        "complement_map": _published_complement_map(vocab, pairs, vocab_size),
        "d_model": d_model,
        "fused_add_norm": True,
        "initializer_cfg": {
            "initializer_range": 0.02,
            "n_residuals_per_layer": 1,
            "rescale_prenorm_residual": True,
        },
        "model_type": "caduceus",
        "n_layer": n_layer,
        "norm_epsilon": 1e-05,
        "pad_vocab_size_multiple": 8,
        "rcps": rcps,
        "residual_in_fp32": False,
        "rms_norm": True,
        "ssm_cfg": {
            "bias": False,
            "conv_bias": True,
            "d_conv": 4,
            "d_state": 16,
            "dt_init": "random",
            "dt_init_floor": 0.0001,
            "dt_max": 0.1,
            "dt_min": 0.001,
            "dt_rank": "auto",
            "dt_scale": 1.0,
            "expand": 2,
            "use_fast_path": True,
        },
        "torch_dtype": "float32",
        "transformers_version": "4.38.1",
        "vocab_size": vocab_size,
    }
    (folder / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")

    torch.manual_seed(seed)
    model = CaduceusForMaskedLM(CaduceusConfig(**{k: v for k, v in cfg.items() if k != "auto_map"}))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("norm.weight", "norm_f.weight", ".D", "submodule.weight")):
                p.add_(0.2 * torch.randn_like(p))
            elif name.endswith("conv1d.bias") or name.endswith("A_log"):
                p.add_(0.1 * torch.randn_like(p))
    tied = set(model.get_expanded_tied_weights_keys(all_submodels=True))
    tensors = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items() if k not in tied}
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})

    if flavour == "caduceus":
        (folder / "tokenizer_config.json").write_text(json.dumps(_CADUCEUS_TOKENIZER_CONFIG, indent=2) + "\n")
        (folder / "special_tokens_map.json").write_text(
            json.dumps(_CADUCEUS_SPECIAL_TOKENS_MAP, indent=2) + "\n"
        )
    else:
        (folder / "tokenizer.json").write_text(json.dumps(_GPN_TOKENIZER_JSON, indent=2) + "\n")
        (folder / "tokenizer_config.json").write_text(json.dumps(_GPN_TOKENIZER_CONFIG, indent=2) + "\n")
    return folder
