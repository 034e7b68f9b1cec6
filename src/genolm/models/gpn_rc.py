"""Reverse-complement-equivariant GPN: the blocks of ``gpn.py`` with Caduceus' RCPS parameter sharing.

Guarantee (on inputs without padding or special tokens)::

    f(rc(x)) == rc(f(x))      rc(x): complement every token id, reverse the sequence;
                              rc(logits): reverse positions, complement the vocabulary axis.

How (Schiff et al. 2024, "RCPS"): the hidden state ``h`` of width ``H`` is two strands of
``D = H / 2`` channels, and an RC of the input maps ``h`` to ``R(h) = h.flip(T).flip(C)``
(reverse positions and channel order, which also swaps the strands).  Every layer ``g`` is
applied as ``[g(h1), rc(g(rc(h2))))]`` with the *same* weights on both strands, which commutes
with ``R`` for any ``g``.  The embedding writes ``[E(x), flipC(E(comp(x)))]`` and the LM head
reads ``W h1 + P W flipC(h2) + b`` with ``P`` the complement permutation of the vocabulary and
``b = P b``, which gives the guarantee above.

Token ids: nothing here knows a tokenizer.  ``nucleotide_token_ids`` lists the ids of A, C, G, T
(A<->T, C<->G are complements) and ``complement_pairs`` adds other pairs (lower case, R<->Y, ...);
every other id (N, specials) is its own complement.  ``build_model(..., tokenizer=tok)`` fills both.
Pooling for sequence classification and ``embed()`` is RC-invariant: ``(p + p.flip(-1)) / 2``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_outputs import BaseModelOutput, MaskedLMOutput

from genolm.errors import ConfigError
from genolm.models.base import (
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
from genolm.models.gpn import ConvBlock, GenolmGPNConfig, cone_plan, selected_rows, tap_rows


class GenolmGPNRCConfig(GenolmGPNConfig):
    """RC-equivariant GPN.  ``hidden_size`` is both strands together (must be even).

    The default token layout is genolm's ``char`` tokenizer (HyenaDNA / Caduceus layout):
    ``[CLS]=0 [SEP]=1 [BOS]=2 [MASK]=3 [PAD]=4 [RESERVED]=5 [UNK]=6 A=7 C=8 G=9 T=10 N=11``.
    For another tokenizer pass ``build_model("gpn-rc", tokenizer=tok)`` or set the ids.
    """

    model_type = "genolm-gpn-rc"

    vocab_size: int = 12
    pad_token_id: int | None = 4
    mask_token_id: int | None = 3
    nucleotide_token_ids: list[int] | None = None  # ids of A, C, G, T; default [7, 8, 9, 10]
    complement_pairs: list[list[int]] | None = None  # further complement pairs, e.g. [[a, t], [c, g]]

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
        """``perm[i]`` = id of the complement of token ``i`` (an involution of ``range(vocab_size)``)."""
        return complement_permutation(self.vocab_size, self.nucleotide_token_ids, self.complement_pairs)


def complement_permutation(
    vocab_size: int, nucleotide_token_ids: list[int], complement_pairs: list[list[int]]
) -> list[int]:
    """The complement map of a vocabulary: A<->T, C<->G (``nucleotide_token_ids`` lists A, C, G, T),
    plus ``complement_pairs``; every other id is its own complement.  Raises ConfigError on a
    pair outside the vocabulary or an id paired twice (the map would not be an involution)."""
    a, c, g, t = nucleotide_token_ids
    perm = list(range(vocab_size))
    seen: set[int] = set()
    for x, y in [(a, t), (c, g), *complement_pairs]:
        if not (0 <= x < vocab_size and 0 <= y < vocab_size):
            raise ConfigError(f"complement pair ({x}, {y}) is outside vocab_size={vocab_size}")
        if x in seen or y in seen or x == y:
            raise ConfigError(f"token id in complement pair ({x}, {y}) is paired twice or with itself")
        seen |= {x, y}
        perm[x], perm[y] = y, x
    return perm


# --- RC parameter sharing -------------------------------------------------------------------


def rc_hidden(h: torch.Tensor) -> torch.Tensor:
    """Reverse complement of a strand ``(B, T, D)``: reverse positions and channels."""
    return h.flip(1, 2)


def rcps_apply(g: nn.Module, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Apply ``g`` (width D) to both strands of ``h`` ``(B, T, 2D)`` with shared weights.

    Both strands go through ``g`` as one batch of ``2B`` (one kernel launch per layer, not two).
    """
    B, D = h.shape[0], h.shape[-1] // 2
    z = torch.cat([h[..., :D], rc_hidden(h[..., D:])], dim=0)  # (2B, T, D)
    if mask is not None:
        mask = torch.cat([mask, mask.flip(1)], dim=0)  # (2B, T, 1): the rc strand is reversed
        y = g(z, mask)
    else:
        y = g(z)
    y1, y2 = y[:B], y[B:]
    return torch.cat([y1, rc_hidden(y2)], dim=-1)  # (B, T, 2D')


def rc_tap_rows(
    in_pos: torch.Tensor, out_pos: torch.Tensor, length: int, kernel_size: int, dilation: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`~genolm.models.gpn.tap_rows` for both strands of an RCPS conv layer stacked as rows.

    The layer input is ``(B, 2S, D)``: rows ``[0, S)`` strand 1 at ``in_pos``, rows ``[S, 2S)``
    strand 2 at the same positions, channel-flipped (``flipC(h2)``, the channel order that the
    shared layer sees) but *not* reversed.  Returns ``taps`` ``(2P, k)`` (``2S`` for a tap outside
    the sequence: the zero row that ``ConvBlock.forward_at`` appends) and ``centre`` ``(2P,)``, so
    that ``forward_at`` returns ``(B, 2P, D)`` laid out the same way at ``out_pos``.

    Strand 2 runs as ``rc(conv(rc(h2)))``: in original coordinates, tap j of the conv reads
    ``flipC(h2)`` at offset ``-(j - k // 2) * dilation``, i.e. the taps reversed.  The offsets
    are symmetric, so its cone is strand 1's and ``in_pos`` holds both strands' taps.
    """
    S = len(in_pos)
    taps, centre = tap_rows(in_pos, out_pos, length, kernel_size, dilation)  # (P, k), (P,)
    outside = taps == S
    taps1 = taps.masked_fill(outside, 2 * S)
    taps2 = (taps + S).masked_fill(outside, 2 * S).flip(1)
    return torch.cat([taps1, taps2]), torch.cat([centre, centre + S])


class RCEmbedding(nn.Module):
    """``[E(x), flipC(E(comp(x)))]``: the second strand embeds the complement, channels reversed."""

    def __init__(self, config: GenolmGPNRCConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(
            config.vocab_size, config.hidden_size // 2, padding_idx=padding_idx(config)
        )
        self._perm = config.complement_map()
        self._perm_cache: dict[torch.device, torch.Tensor] = {}

    def perm(self, device: torch.device) -> torch.Tensor:
        # a plain cached tensor, not a buffer: it is a function of the config, never of the checkpoint
        if device not in self._perm_cache:
            # a normal tensor even when first asked for under torch.inference_mode (as scoring does):
            # an inference tensor could not be saved for backward by a later training forward
            with torch.inference_mode(False):
                self._perm_cache[device] = torch.tensor(self._perm, dtype=torch.long, device=device)
        return self._perm_cache[device]

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        comp = self.perm(input_ids.device)[input_ids]  # (B, T) complemented ids (not reversed)
        return torch.cat([self.embed_tokens(input_ids), self.embed_tokens(comp).flip(-1)], dim=-1)


class _HeadTransform(nn.Module):
    def __init__(self, D: int, eps: float):
        super().__init__()
        self.dense = nn.Linear(D, D)
        self.norm = nn.LayerNorm(D, eps=eps)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm(F.gelu(self.dense(h)))


class RCLMHead(nn.Module):
    """RC-equivariant MLM head: per strand dense -> GELU -> LN, then ``W h1 + P W flipC(h2) + sym(b)``."""

    def __init__(self, config: GenolmGPNRCConfig):
        super().__init__()
        D = config.hidden_size // 2
        self.transform = _HeadTransform(D, config.layer_norm_eps)
        self.decoder = nn.Linear(D, config.vocab_size)

    def forward(self, h: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
        D = h.shape[-1] // 2
        # position-wise, so the strand flip needs only the channel axis (works on (N, 2D) too)
        h1 = self.transform(h[..., :D])
        h2 = self.transform(h[..., D:].flip(-1))
        bias = (self.decoder.bias + self.decoder.bias[perm]) / 2  # b = P b
        W = self.decoder.weight
        return F.linear(h1, W) + F.linear(h2, W)[..., perm] + bias  # (..., V)


# --- models ---------------------------------------------------------------------------------


class GenolmGPNRCPreTrainedModel(GenolmPreTrainedModel):
    config_class = GenolmGPNRCConfig
    _no_split_modules = ["ConvBlock"]

    def _pool(self, hidden, attention_mask, pooling):
        p = pool(hidden, attention_mask, pooling)  # (B, H); an RC flips its channels
        return (p + p.flip(-1)) / 2  # RC-invariant


class GenolmGPNRCModel(GenolmGPNRCPreTrainedModel):
    """RC-equivariant backbone: ``input_ids (B, T)`` -> ``last_hidden_state (B, T, H)`` (two strands)."""

    def __init__(self, config: GenolmGPNRCConfig):
        super().__init__(config)
        self.embeddings = RCEmbedding(config)
        D = config.hidden_size // 2  # one strand
        self.layers = nn.ModuleList(
            ConvBlock(D, config.kernel_size, d, config.layer_norm_eps, config.hidden_dropout)
            for d in config.dilations
        )
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
        return finish_backbone_output(x, all_hidden, return_dict)

    def hidden_at(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, select: torch.Tensor
    ) -> torch.Tensor:
        """Last hidden states (both strands) at the True positions of ``select``, computing only the cone.

        ``input_ids`` ``(B, T)``, ``attention_mask`` ``(B, T)`` or ``None``, ``select`` bool
        ``(B, T)``.  Returns ``(N, 2D)`` in row-major order, equal (to float rounding) to
        ``forward(...).last_hidden_state[select]``.  As
        :meth:`~genolm.models.gpn.GenolmGPNModel.hidden_at`: the bottom layers whose cone covers
        most of the sequence run dense (:func:`rcps_apply`), the others only at the cone's
        positions, with both strands stacked as rows of one ``ConvBlock.forward_at`` call
        (:func:`rc_tap_rows`: strand 2 is the conv with reversed taps on ``flipC(h2)``, kept in
        original positions; everything after the conv is per position).  Inference only.
        """
        T = input_ids.shape[1]
        device = input_ids.device
        kernel, dilations = self.config.kernel_size, self.config.dilations
        needed, n_dense = cone_plan(select, kernel, dilations, self.layers)
        mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            mask = attention_mask.unsqueeze(-1)  # (B, T, 1)
        if n_dense:
            x = self.embeddings(input_ids)  # (B, T, 2D)
            full_mask = None if mask is None else mask.to(x.dtype)
            for layer in self.layers[:n_dense]:
                x = rcps_apply(layer, x, full_mask)
            pos = torch.arange(T)
        else:
            pos = needed[0]
            x = self.embeddings(input_ids[:, pos.to(device)])  # (B, S, 2D): per position
        D = x.shape[-1] // 2
        z = torch.cat([x[..., :D], x[..., D:].flip(-1)], dim=1)  # (B, 2S, D): strands as rows
        for layer, d, out_pos in zip(self.layers[n_dense:], dilations[n_dense:], needed[n_dense + 1 :]):
            taps, centre = rc_tap_rows(pos, out_pos, T, kernel, d)
            # strand 2 sits at the same (unreversed) positions, so it reads the same mask
            sub_mask = None if mask is None else mask[:, pos.to(device)].to(z.dtype).repeat(1, 2, 1)
            z = layer.forward_at(z, taps.to(device), centre.to(device), sub_mask)
            pos = out_pos
        P = len(pos)
        x = torch.cat([z[:, :P], z[:, P:].flip(-1)], dim=-1)  # (B, P, 2D): strands back as channels
        return selected_rows(x, pos, select)  # (N, 2D)


class GenolmGPNRCForMaskedLM(SelectedLogitsMixin, GenolmGPNRCPreTrainedModel):
    _tied_weights_keys = {"lm_head.decoder.weight": "model.embeddings.embed_tokens.weight"}

    def __init__(self, config: GenolmGPNRCConfig):
        super().__init__(config)
        self.model = GenolmGPNRCModel(config)
        self.lm_head = RCLMHead(config)
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
        """MLM forward, as :class:`~genolm.models.gpn.GenolmGPNForMaskedLM`."""
        out = self.model(input_ids, attention_mask=attention_mask, output_hidden_states=output_hidden_states)
        perm = self.model.embeddings.perm(input_ids.device)
        full = self.config.full_mlm_logits if return_full_logits is None else return_full_logits
        loss = None
        if labels is not None and not full:
            h, y, w = masked_lm_select(out.last_hidden_state, labels, loss_weights)
            logits = self.lm_head(h, perm)  # (N, V)
            loss = weighted_cross_entropy(logits, y, w)
        else:
            logits = self.lm_head(out.last_hidden_state, perm)  # (B, T, V)
            if labels is not None:
                w = loss_weights.reshape(-1) if loss_weights is not None else None
                loss = weighted_cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), w)
        res = MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
        return res if return_dict is not False else res.to_tuple()

    def _selected_logits(self, input_ids, attention_mask, select, reference=None):
        """The cone below the selected positions (:meth:`GenolmGPNRCModel.hidden_at`, both strands),
        then the head, which reads both strands of a position, at the N selected ones."""
        perm = self.model.embeddings.perm(input_ids.device)
        return self.lm_head(self.model.hidden_at(input_ids, attention_mask, select), perm)


class GenolmGPNRCForSequenceClassification(GenolmGPNRCPreTrainedModel, GenolmForSequenceClassification):
    """RC-invariant: the pooled vector is symmetrised before the classifier."""

    backbone_class = GenolmGPNRCModel


class GenolmGPNRCForTokenClassification(GenolmGPNRCPreTrainedModel, GenolmForTokenClassification):
    """Per-token outputs are *not* RC-equivariant (a strand-aware label may be wanted)."""

    backbone_class = GenolmGPNRCModel
