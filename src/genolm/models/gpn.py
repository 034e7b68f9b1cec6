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
    SelectedLogitsMixin,
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
    #: sequence classification only: a strided conv (kernel = stride = ``stem_stride``) after the
    #: embedding shortens the sequence ``stem_stride``-fold before the dilated stack (a cheaper
    #: classifier, e.g. a distilled student); 1 = none, every token keeps its own position
    stem_stride: int = 1

    def __post_init__(self, **kwargs):
        if self.kernel_size % 2 == 0:
            raise ConfigError(f"kernel_size must be odd for 'same' padding, got {self.kernel_size}")
        if int(self.stem_stride) < 1:
            raise ConfigError(f"stem_stride must be >= 1, got {self.stem_stride}")
        super().__post_init__(**kwargs)

    @property
    def dilations(self) -> list[int]:
        """GPN's schedule, one dilation per layer."""
        return [
            min(self.dilation_max, 2 ** ((i // self.dilation_double_every) % self.dilation_cycle))
            for i in range(self.num_hidden_layers)
        ]


# --- blocks ---------------------------------------------------------------------------------

#: :meth:`GenolmGPNModel.hidden_at` runs a layer densely when it needs at least this fraction of
#: the positions: in a one-off timing on genolm-tiny (CPU) the gathered conv cost ~1.1x the dense
#: one per position
DENSE_FRACTION = 0.85


def cone_positions(
    positions: torch.Tensor, length: int, kernel_size: int, dilations: list[int]
) -> list[torch.Tensor]:
    """The positions each layer must compute so that the last one is known at ``positions``.

    ``positions`` ``(P,)`` long (CPU), sorted and distinct, in ``[0, length)``.  Returns ``L + 1``
    sorted long tensors, bottom first: ``[0]`` the embedding positions, ``[l]`` the output
    positions of layer l (1-based), ``[L]`` is ``positions``.  Layer l's output at t reads its
    input at ``t + (j - k // 2) * dilation_l`` for j < k (which includes t, for the residual);
    taps outside ``[0, length)`` read "same" padding, not positions.
    """
    sets = [positions]
    for d in reversed(dilations):
        offsets = (torch.arange(kernel_size) - kernel_size // 2) * d
        reach = (sets[-1][:, None] + offsets).flatten()
        keep = torch.zeros(length, dtype=torch.bool)
        keep[reach[(reach >= 0) & (reach < length)]] = True
        sets.append(keep.nonzero().squeeze(1))
    return sets[::-1]


def tap_rows(
    in_pos: torch.Tensor, out_pos: torch.Tensor, length: int, kernel_size: int, dilation: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Index plan of one pruned conv layer whose input is known at ``in_pos`` only.

    ``in_pos`` ``(S,)`` and ``out_pos`` ``(P,)`` sorted long positions (CPU), every tap of
    ``out_pos`` that falls inside ``[0, length)`` being in ``in_pos``.  Returns ``taps`` ``(P, k)``:
    the row of the layer input ``(B, S, H)`` each conv tap reads, ``S`` (a zero row) for taps
    outside the sequence; and ``centre`` ``(P,)``: the row of each output position itself.
    """
    row = torch.full((length + 1,), len(in_pos), dtype=torch.long)  # position -> row; `length` -> S
    row[in_pos] = torch.arange(len(in_pos))
    taps = out_pos[:, None] + (torch.arange(kernel_size) - kernel_size // 2) * dilation  # (P, k)
    taps = taps.masked_fill((taps < 0) | (taps >= length), length)
    return row[taps], row[out_pos]


def cone_plan(
    select: torch.Tensor, kernel_size: int, dilations: list[int], layers: nn.ModuleList
) -> tuple[list[torch.Tensor], int]:
    """Plan of a cone-pruned forward to the positions ``select`` (bool ``(B, T)``).

    Returns the :func:`cone_positions` (``L + 1`` sets, bottom first, CPU) of the positions selected
    in some row (one cone for the whole batch), and how many bottom layers to run dense: those
    whose output set covers at least :data:`DENSE_FRACTION` of the sequence (a bottom prefix,
    since the sets only grow downwards).  All of them when a block's conv is not a plain
    ``nn.Conv1d`` (a LoRA or other adapter wraps it): :meth:`ConvBlock.forward_at` reads the conv's
    weight directly and would skip the adapter.
    """
    T = select.shape[1]
    cols = select.any(0).nonzero().squeeze(1).cpu()  # positions selected in some row
    needed = cone_positions(cols, T, kernel_size, dilations)
    if any(type(layer.conv) is not nn.Conv1d for layer in layers):
        return needed, len(dilations)
    n_dense = 0
    while n_dense < len(dilations) and len(needed[n_dense + 1]) >= DENSE_FRACTION * T:
        n_dense += 1
    return needed, n_dense


def strided_plan(
    in_pos: torch.Tensor, out_pos: torch.Tensor, length: int, dilation: int
) -> tuple[int, int, int] | None:
    """A pruned conv layer as a strided, dilated conv over its compact input, when it is one.

    With one selected position the cone's sets in the dilated layers are arithmetic progressions
    (at the top of GPN's stack: every 2nd, 4th, ..., 32nd position through the site).  Same
    precondition as :func:`tap_rows`: every tap of ``out_pos`` inside ``[0, length)`` is in
    ``in_pos``.  When ``in_pos`` is a progression of step ``s``, ``out_pos`` a progression on the
    same grid and the dilation a multiple of ``s``, the layer is ``conv1d(x_compact,
    stride=out_step / s, dilation=dilation / s)`` from compact row ``first``: a tap outside the
    sequence falls outside the compact rows too, where the conv's zero padding stands for it.
    Returns ``(first, stride, dilation)`` in compact rows, else ``None`` (use :func:`tap_rows`).
    """
    if not len(in_pos) or not len(out_pos):
        return None
    s = int(in_pos[1] - in_pos[0]) if len(in_pos) > 1 else length
    if len(in_pos) > 1 and not bool((in_pos.diff() == s).all()):
        return None
    if dilation % s or int(out_pos[0] - in_pos[0]) % s:
        return None
    step = int(out_pos[1] - out_pos[0]) if len(out_pos) > 1 else s
    if step % s or (len(out_pos) > 1 and not bool((out_pos.diff() == step).all())):
        return None
    return int(out_pos[0] - in_pos[0]) // s, step // s, dilation // s


def selected_rows(x: torch.Tensor, pos: torch.Tensor, select: torch.Tensor) -> torch.Tensor:
    """The rows of ``x`` ``(B, S, H)``, known at the sorted positions ``pos`` ``(S,)`` (CPU), at the
    True positions of ``select`` ``(B, T)`` (all of them among ``pos``): ``(N, H)``, row-major
    like ``x_full[select]``."""
    device = x.device
    b, t = select.nonzero(as_tuple=True)  # row-major, like boolean indexing
    row = torch.zeros(select.shape[1], dtype=torch.long, device=device)  # position -> row of x
    row[pos.to(device)] = torch.arange(len(pos), device=device)
    return x[b, row[t]]


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
        return self.after_conv(x, h)

    def after_conv(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Everything after the convolution: ``x`` the block input, ``h`` the conv output, both
        ``(B, P, H)`` at the same P positions (all of them or a subset) -> ``(B, P, H)``."""
        x = x + self.dropout(self.conv_norm(F.gelu(h)))
        return x + self.dropout(self.ffn_norm(F.gelu(self.ffn(x))))

    def forward_at(
        self, x: torch.Tensor, taps: torch.Tensor, centre: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The block's output at P positions only, from its input at S positions.

        ``x`` ``(B, S, H)`` is the block input at S positions (a subset of the sequence);
        ``taps`` ``(P, k)`` gives, for each output position, the row of ``x`` that each of the
        conv's k dilated taps reads, or ``S`` for a tap outside ``[0, T)``; ``centre`` ``(P,)`` the
        row of the output position itself (for the residual); ``mask`` ``(B, S, 1)`` or ``None``.
        Returns ``(B, P, H)``, equal to ``forward`` at those positions.
        """
        B, S, H = x.shape
        h = x if mask is None else x * mask  # as in forward: padding reads as zero
        # row S is the zero that "same" padding puts outside the sequence
        h = torch.cat([h, h.new_zeros(B, 1, H)], dim=1)
        h = h[:, taps].flatten(2)  # (B, P, k * H), tap-major
        # Conv1d weight (H_out, H_in, k) -> (H_out, k * H_in), tap-major like h: the conv at P
        # positions is one matmul (an im2col restricted to the positions that are needed)
        w = self.conv.weight.permute(0, 2, 1).reshape(self.conv.out_channels, -1)
        h = F.linear(h, w, self.conv.bias)  # (B, P, H)
        return self.after_conv(x[:, centre], h)

    def forward_strided(
        self,
        x: torch.Tensor,
        first: int,
        stride: int,
        dilation: int,
        n_out: int,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The block's output at compact rows ``first + stride * j``, j < ``n_out``, of ``x`` ``(B, S, H)``
        (a :func:`strided_plan`): one strided conv, no gather.  Returns ``(B, n_out, H)``."""
        h = x if mask is None else x * mask
        half = (self.conv.kernel_size[0] // 2) * dilation
        h = F.pad(h.transpose(1, 2), (half, half))[:, :, first:]  # (B, H, half + S - first + half)
        h = F.conv1d(h, self.conv.weight, self.conv.bias, stride=stride, dilation=dilation)
        h = h[:, :, :n_out].transpose(1, 2)  # (B, n_out, H)
        centre = x[:, first : first + stride * (n_out - 1) + 1 : stride]
        return self.after_conv(centre, h)


# --- models ---------------------------------------------------------------------------------


class GenolmGPNPreTrainedModel(GenolmPreTrainedModel):
    config_class = GenolmGPNConfig
    _no_split_modules = ["ConvBlock"]

    def _pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None, pooling: str) -> torch.Tensor:
        """As the base class; with a stem stride the mask is first shortened like the sequence."""
        if attention_mask is not None and attention_mask.shape[1] != hidden.shape[1]:
            attention_mask = stem_mask(attention_mask, int(self.config.stem_stride))
        return super()._pool(hidden, attention_mask, pooling)


def stem_mask(attention_mask: torch.Tensor, stride: int) -> torch.Tensor:
    """``(B, T)`` -> ``(B, ceil(T / stride))``: a stem position is a token if any of its ``stride``
    tokens is (right padding reads as zeros, as the stem's own padding does)."""
    m = F.pad(attention_mask.to(torch.float32)[:, None], (0, stride - 1))
    return F.max_pool1d(m, stride, stride)[:, 0].to(attention_mask.dtype)


def _no_stem(config: GenolmGPNConfig, what: str) -> None:
    if int(getattr(config, "stem_stride", 1)) != 1:
        raise ConfigError(
            f"stem_stride={config.stem_stride} shortens the sequence, so a {what} (one output per "
            "token) cannot use it; set stem_stride=1, or use the model for sequence classification"
        )


class GenolmGPNModel(GenolmGPNPreTrainedModel):
    """The convolutional backbone: ``input_ids (B, T)`` -> ``last_hidden_state (B, T, H)``."""

    def __init__(self, config: GenolmGPNConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=padding_idx(config)
        )
        S = int(config.stem_stride)
        self.stem = nn.Conv1d(config.hidden_size, config.hidden_size, S, stride=S) if S > 1 else None
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
        if self.stem is not None:  # (B, T, H) -> (B, ceil(T / S), H); the tail pads with zeros
            S = self.stem.stride[0]
            h = x if mask is None else x * mask
            x = self.stem(F.pad(h.transpose(1, 2), (0, S - 1))).transpose(1, 2)
            if mask is not None:
                mask = stem_mask(attention_mask, S).unsqueeze(-1).to(x.dtype)
        all_hidden = [x] if output_hidden_states else None
        for layer in self.layers:
            x = layer(x, mask)
            if all_hidden is not None:
                all_hidden.append(x)
        return finish_backbone_output(x, all_hidden, return_dict)

    def hidden_at(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        select: torch.Tensor,
        reference: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Last hidden states at the True positions of ``select``, computing only the cone below them.

        ``input_ids`` ``(B, T)``, ``attention_mask`` ``(B, T)`` (1 = token, 0 = padding) or
        ``None``, ``select`` bool ``(B, T)``.  Returns ``(N, H)``, N = ``select.sum()``, in
        row-major order: equal (to float rounding) to ``forward(...).last_hidden_state[select]``.

        The cone: a block's output at position t reads its input at t (residual) and at
        ``t + (j - k // 2) * dilation``, j < k (conv taps).  Top down, the positions needed at the
        output of each layer are those of the layer above expanded by its taps (clipped to
        ``[0, T)``), as one set for the whole batch (:func:`cone_plan`).  Bottom up, the
        layers whose needed set is most of the sequence (at least :data:`DENSE_FRACTION`; always a
        bottom prefix, since the sets only grow downwards) run the dense ``forward``; the layers
        above compute only their needed positions (:meth:`ConvBlock.forward_at`).  With GPN's
        dilations 1..32 and kernel 9 the sets of the top layers are sparse (at one site: 1, 9, 17,
        33, 65, ... positions), the bottom ones full.

        Inference only: meant for eval mode (``torch.inference_mode`` in scoring).  In training
        mode dropout draws other masks than ``forward`` would, and no hidden states are returned.
        """
        _no_stem(self.config, "per-position forward (hidden_at)")
        T = input_ids.shape[1]
        device = input_ids.device
        kernel, dilations = self.config.kernel_size, self.config.dilations
        needed, n_dense = cone_plan(select, kernel, dilations, self.layers)
        mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            mask = attention_mask.unsqueeze(-1)  # (B, T, 1)
        if n_dense:
            x, first = None, 0
            if reference is not None:
                x, first = self.shared_bottom(input_ids, attention_mask, reference, n_dense)
            if x is None:
                x = self.embed_tokens(input_ids)  # (B, T, H)
            full_mask = None if mask is None else mask.to(x.dtype)
            for layer in self.layers[first:n_dense]:
                x = layer(x, full_mask)
            pos = torch.arange(T)
        else:
            pos = needed[0]
            x = self.embed_tokens(input_ids[:, pos.to(device)])  # (B, S, H)
        # x (B, S, H) holds the hidden state at the S positions `pos`
        for layer, d, out_pos in zip(self.layers[n_dense:], dilations[n_dense:], needed[n_dense + 1 :]):
            sub_mask = None if mask is None else mask[:, pos.to(device)].to(x.dtype)
            plan = strided_plan(pos, out_pos, T, d)
            if plan is not None:
                x = layer.forward_strided(x, *plan, len(out_pos), sub_mask)
            else:
                taps, centre = tap_rows(pos, out_pos, T, kernel, d)
                x = layer.forward_at(x, taps.to(device), centre.to(device), sub_mask)
            pos = out_pos
        return selected_rows(x, pos, select)  # (N, H)

    def shared_bottom(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        reference: tuple[torch.Tensor, torch.Tensor],
        max_layers: int,
    ) -> tuple[torch.Tensor | None, int]:
        """The output ``(B, T, H)`` of the bottom n <= ``max_layers`` layers, computed once along a
        shared reference and, for the rows, only where their own tokens matter; ``(None, 0)`` when
        it does not pay.

        ``reference`` ``(ref_ids (R,), offsets (B,))``: row b's token t is expected to be
        ``ref_ids[offsets[b] + t]``.  Layer l's output at t reads the input tokens within its
        reach ``r_l`` (the sum of ``kernel // 2 * dilation`` over layers <= l) and the "same"
        padding beyond the row's ends.  So where no token within ``r_l`` differs from the
        reference (compared here, not assumed) and both ends are further than ``r_l``, it equals the
        reference's own layer-l output at ``offsets[b] + t``.  The layers run once densely along
        ``ref_ids`` (the *track*); the rows compute only the other positions (the *own* ones, one
        set for the batch: the union over its rows, a few runs at the ends and edits), one dilated
        conv per run over its input gathered from the rows' own outputs of the layer below or the
        track's.  Scoring batches windows whose masked sites line up, so the union is each row's
        set: for windows centred on sites ~80 bp apart, layers 1-3 of GPN's schedule (reach 4, 12,
        28) compute ~7%, ~19% and ~44% of a 257-token row per row, plus the track.

        A layer joins while the track's positions plus 1.1x the rows' own (the gather) stay below
        0.9x the dense layer's positions; the layers that join are a bottom prefix, since the
        reach only grows.  Layers whose conv an adapter wraps never join.
        """
        ref, offsets = reference
        B, T = input_ids.shape
        R = int(ref.shape[0])
        if R == 0:
            return None, 0
        device = input_ids.device
        ref, offsets = ref.to(device), offsets.to(device)
        idx = offsets[:, None] + torch.arange(T, device=device)  # (B, T) reference index of each token
        same = (idx >= 0) & (idx < R)
        gidx = idx.clamp(0, R - 1)
        same &= ref[gidx] == input_ids
        if attention_mask is not None:
            same &= attention_mask.bool()  # padding is "different" (it reads as zeros)
        differs = (~same).to(torch.float32)[:, None]  # (B, 1, T)
        half, reach, plan = self.config.kernel_size // 2, 0, []
        for layer, d in zip(self.layers[:max_layers], self.config.dilations[:max_layers]):
            if type(layer.conv) is not nn.Conv1d:  # an adapter: the conv below would skip it
                break
            reach += half * d
            # own: a differing token or an end of the row within reach, in some row
            ends = F.pad(differs, (reach, reach), value=1.0)
            own = F.max_pool1d(ends, 2 * reach + 1, stride=1)[:, 0].bool().any(0)  # (T,)
            if R + 1.1 * B * int(own.sum()) >= 0.9 * B * T:
                break
            plan.append(own.nonzero().squeeze(1))
        if not plan:
            return None, 0
        H = self.config.hidden_size
        # the track's length rounded up (to 256), so that the conv kernels' per-shape set-up is
        # reused across batches; its tail, like positions without a token (-1), is never read
        # where the reach matters (a row's unchanged positions lie inside its own window)
        track_ids = F.pad(ref.clamp(0, self.config.vocab_size - 1), (0, -R % 256))
        track = self.embed_tokens(track_ids)[None]  # (1, R', H)
        pad = None if attention_mask is None else ~attention_mask.bool()
        rows = torch.arange(B, device=device)[:, None]  # (B, 1)
        # the embedding of every token id, through the module (an adapter on it applies)
        emb = self.embed_tokens(torch.arange(self.config.vocab_size, device=device))  # (V, H)
        x, pos = None, None  # the rows' own outputs of the layer below, at positions pos
        own_row, S = None, 0
        for layer, d, out_pos in zip(self.layers, self.config.dilations, plan):
            # the layer input as a table and, per row and position, the table row that holds it:
            # below layer 1 the embedding matrix, by token id; above, the track's R rows, then
            # each row's own S rows; last, a zero row (outside the row; padding, as the conv reads it)
            if x is None:
                table = torch.cat([emb, emb.new_zeros(1, H)])
            else:
                S = len(pos)
                dt = torch.promote_types(track.dtype, x.dtype)
                table = torch.cat([track[0, :R].to(dt), x.reshape(-1, H).to(dt), x.new_zeros(1, H, dtype=dt)])
                own_row = torch.full((T,), -1, dtype=torch.long, device=device)
                own_row[pos] = torch.arange(S, device=device)

            def lookup(
                q: torch.Tensor, conv: bool, table=table, first=x is None, own_row=own_row, S=S
            ) -> torch.Tensor:
                """Table rows ``(B, N)`` of the layer input at positions ``q`` ``(N,)`` of every row.
                ``conv``: as the conv reads it, zero outside the row and (like the dense conv's
                mask) at padding; else as the residual reads it."""
                qc = q.clamp(0, T - 1)
                if first:
                    at = input_ids[:, qc]  # (B, N) token ids: rows of the embedding
                else:
                    mine = own_row[qc]  # (N,)
                    at = torch.where(mine >= 0, R + rows * S + mine, gidx[rows, qc])  # (B, N)
                out = ((q < 0) | (q >= T)).expand(B, -1)
                if conv and pad is not None:
                    out = out | pad[rows, qc]
                return at.masked_fill(out, len(table) - 1)

            # per run of own positions: its input from one reach before to one after, then the conv
            hd = half * d
            cut = torch.nonzero(out_pos.diff() > 1).squeeze(1) + 1
            firsts = torch.cat([out_pos[:1], out_pos[cut]]).tolist()
            lasts = torch.cat([out_pos[cut - 1], out_pos[-1:]]).tolist()
            h = []
            for lo, hi in zip(firsts, lasts):
                span = torch.arange(lo - hd, hi + 1 + hd, device=device)
                inp = table[lookup(span, True)].transpose(1, 2)  # (B, H, span)
                h.append(F.conv1d(inp, layer.conv.weight, layer.conv.bias, dilation=d))
            h = torch.cat(h, dim=2).transpose(1, 2) if h else table.new_zeros(B, 0, H)  # (B, P, H)
            x = layer.after_conv(table[lookup(out_pos, False)], h)  # (B, P, H)
            track = layer(track)  # (1, R', H)
            pos = out_pos
        full = track[0][gidx].to(torch.promote_types(track.dtype, x.dtype))  # (B, T, H)
        full[:, pos] = x
        return full, len(plan)


class GPNLMHead(nn.Module):
    """dense -> GELU -> LayerNorm -> vocabulary (GPN's ``ConvNetOnlyMLMHead``)."""

    def __init__(self, config: GenolmGPNConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.norm(F.gelu(self.dense(h))))


class GenolmGPNForMaskedLM(SelectedLogitsMixin, GenolmGPNPreTrainedModel):
    _tied_weights_keys = {"lm_head.decoder.weight": "model.embed_tokens.weight"}

    def __init__(self, config: GenolmGPNConfig):
        _no_stem(config, "masked language model")
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

    uses_reference = True

    def _selected_logits(self, input_ids, attention_mask, select, reference=None):
        """The cone below the selected positions (:meth:`GenolmGPNModel.hidden_at`), the head there."""
        return self.lm_head(self.model.hidden_at(input_ids, attention_mask, select, reference))


class GenolmGPNForSequenceClassification(GenolmGPNPreTrainedModel, GenolmForSequenceClassification):
    backbone_class = GenolmGPNModel


class GenolmGPNForTokenClassification(GenolmGPNPreTrainedModel, GenolmForTokenClassification):
    backbone_class = GenolmGPNModel

    def __init__(self, config: GenolmGPNConfig):
        _no_stem(config, "token classifier")
        super().__init__(config)
