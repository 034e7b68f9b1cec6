"""The inference engine under variant scoring, ISM and :meth:`genolm.catalogue.GenomicLM.log_probs`.

One request/answer seam: a caller turns its work into :class:`Request` s (a token sequence and what
to read from the model's output), :func:`run_requests` batches them by kind and length and fills
``Request.out``.  Around it sit what every caller needs:

``TokenizerView(tokenizer, add_special_tokens)``
    ids and nucleotide offsets of a bare sequence, the special-token template, mask / pad ids.
``preserve_model_state(model, device)``
    eval mode on ``device`` for the duration; the model's mode and device restored after.
``resolve_precision(precision, device)``, ``cpu_supports_bf16()``
    the precision policy: ``auto`` is bf16 where the device runs it natively, else fp32.
``auto_threads()``
    the thread policy: CPU threads for torch and BLAS, the idle cores.
``adamw(groups, lr)``, ``fuse_gelu(model)``, ``training_attention(model, ...)``
    the fast kernels genolm's training loop uses: fused AdamW where the device has it, the ESM
    feed-forward's erf GELU as one ATen kernel (same function, 1e-6 apart), and the eager attention
    path for short bf16 batches on a CPU.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from genolm.constants import PRECISIONS
from genolm.registry import check_choice
from genolm.tokenizers.offsets import special_template, token_offsets
from genolm.weights import resolve_device

#: schemes whose token layout depends only on where N / invalid bases are (see TokenizerView)
_STABLE_SCHEMES = frozenset({"char", "iupac", "kmer", "nt6"})

# --- precision and threads ----------------------------------------------------------------------


@functools.cache
def cpu_supports_bf16() -> bool:
    """True where bf16 matmul is native (AVX512-BF16 / AMX on x86, or a bf16 CUDA device)."""
    from pathlib import Path

    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device) -> str:
    """``"fp32"`` or ``"bf16"``: ``auto`` is bf16 where ``device`` runs it natively (a CUDA GPU
    with bf16, a CPU with AVX512-BF16/AMX), else fp32 (also on other devices such as MPS)."""
    check_choice("precision", precision, PRECISIONS)
    if precision != "auto":
        return precision
    import torch

    kind = resolve_device(device).type
    if kind == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if kind != "cpu":
        return "fp32"
    return "bf16" if cpu_supports_bf16() else "fp32"


def auto_threads() -> int:
    """CPU threads for torch and BLAS: the idle cores (cores minus the 1-minute load average), at
    least 1.

    Never oversubscribe: OpenMP / OpenBLAS workers spin-wait for each other, and on a busy 2-core
    machine two threads ran a fine-tuning step 10x, and a logistic-regression probe 20x, slower
    than one did.
    """
    import os

    import torch

    cores = torch.get_num_threads()
    try:
        busy = os.getloadavg()[0]
    except (OSError, AttributeError):  # not on every platform
        return cores
    return max(1, min(cores, int((os.cpu_count() or cores) - busy + 0.5)))


def adamw(groups, lr: float):
    """``torch.optim.AdamW`` over parameter ``groups``, with the fused kernel where the parameters'
    device has one (CPU and CUDA in torch >= 2.4; ``transformers.Trainer``'s default optimizer
    too), else the per-parameter loop.  Fused and looped AdamW agree to float rounding."""
    import torch

    try:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # a device or dtype without the fused kernel
        return torch.optim.AdamW(groups, lr=lr)


def _transformers_esm(module, name: str | None = None) -> bool:
    """Whether ``module`` is transformers' own ESM class (named ``name``, when given), not remote
    code or a subclass from elsewhere: the layout the kernels below rely on."""
    cls = type(module)
    return cls.__module__.startswith("transformers.models.esm") and name in (None, cls.__name__)


def _esm_intermediate_forward(self, hidden_states):
    import torch.nn.functional as F

    return F.gelu(self.dense(hidden_states))


def fuse_gelu(model) -> int:
    """Run the feed-forward GELU of transformers' ESM blocks (NT v1, AgroNT, ESM-2) as one kernel.

    transformers writes ESM's exact GELU out as ``x * 0.5 * (1 + erf(x / sqrt(2)))``: five
    elementwise kernels forward and about ten more in autograd's backward, each a pass over the
    ``(B, T, 4H)`` activations.  ``F.gelu`` computes the same function (its default is the erf
    form, not the tanh approximation) in one pass each way: outputs agree to 1.2e-6 and gradients
    to 3e-7 in fp32 (``benchmarks/train_throughput.py`` measures it on a whole model).  Changes
    only modules whose ``forward`` is transformers' own; returns how many it changed.  Mutates ``model``: call it on a copy you own.
    """
    import types

    n = 0
    for m in model.modules():
        if _transformers_esm(m, "EsmIntermediate"):
            m.forward = types.MethodType(_esm_intermediate_forward, m)
            n += 1
    return n


#: longest batch (tokens) for which training_attention picks eager attention: its saved
#: probabilities are B x heads x T^2 floats per layer (128 MB at B 32, 4 heads, T 512)
EAGER_ATTENTION_MAX_TOKENS = 512


def training_attention(model, device, precision: str, max_tokens: int) -> str | None:
    """Use the eager attention path to train a transformers ESM model under CPU bf16 autocast.

    PyTorch's CPU SDPA kernel runs its backward slowly in bf16: on one thread a 6.9M-parameter
    NT-layout model's bf16 training step (batch 32) took 1.00 / 2.55 / 5.12 s with SDPA and
    0.78 / 2.03 / 4.29 s with the eager path at 47 / 128 / 256 tokens, while fp32 timed the same.
    Both compute the same attention.  Switches only a transformers ESM model set to ``sdpa``, on a
    CPU, in bf16, with batches of at most :data:`EAGER_ATTENTION_MAX_TOKENS` tokens (the eager
    path keeps its ``T^2`` probabilities for backward).  Returns the implementation set, or None
    when it left the model alone.  Mutates ``model``: call it on a copy you own.
    """
    import torch

    cfg = getattr(model, "config", None)
    if (
        cfg is None
        or torch.device(device).type != "cpu"
        or precision != "bf16"
        or max_tokens > EAGER_ATTENTION_MAX_TOKENS
        or getattr(cfg, "_attn_implementation", None) != "sdpa"
        or not _transformers_esm(model)
    ):
        return None
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    else:
        cfg._attn_implementation = "eager"
    return "eager"


def _esm_cls_row_layer_forward(
    self,
    hidden_states,
    attention_mask=None,
    encoder_hidden_states=None,
    encoder_attention_mask=None,
    position_embeddings=None,
    **kwargs,
):
    """transformers' ESM block computed at the first row only (queries, output, feed-forward), with
    keys and values from every row: what a ``<cls>``-pooled head reads from the last block."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    from transformers.models.esm import modeling_esm as esm

    if kwargs.get("output_attentions"):
        raise RuntimeError(
            "cls_row_last_layer computes the last block's attention at the <cls> row only: "
            "ask for attention weights outside the context"
        )
    att, sa = self.attention, self.attention.self
    b, t, _ = hidden_states.shape
    d = sa.attention_head_size
    ln = att.LayerNorm(hidden_states)
    q = sa.query(ln[:, :1]).view(b, 1, -1, d).transpose(1, 2) * d**-0.5
    k = sa.key(ln).view(b, t, -1, d).transpose(1, 2)
    v = sa.value(ln).view(b, t, -1, d).transpose(1, 2)
    if sa.position_embedding_type == "rotary":
        cos, sin = position_embeddings
        q = esm.apply_rotary_pos_emb(q, q, cos[:, :1], sin[:, :1], unsqueeze_dim=1)[0]  # 1 row: cheap
        c, s_ = cos.unsqueeze(1), sin.unsqueeze(1)  # what apply_rotary_pos_emb does, for k alone
        k = (k.float() * c + esm.rotate_half(k.float()) * s_).to(k.dtype)
    mask = attention_mask
    if mask is not None and mask.dim() == 4 and mask.shape[-2] > 1:
        mask = mask[:, :, :1]
    attend = ALL_ATTENTION_FUNCTIONS.get_interface(
        sa.config._attn_implementation, esm.eager_attention_forward
    )
    out, _ = attend(
        sa, q, k, v, mask, dropout=sa.dropout if sa.training else 0.0, scaling=sa.scaling, **kwargs
    )
    a = att.output(out.reshape(b, 1, -1), hidden_states[:, :1])
    return self.feed_forward_chunk(a)


def _esm_cls_head_model(model):
    """The transformers ``EsmForSequenceClassification`` inside ``model`` (itself, or under a PEFT
    wrapper) whose head reads the ``<cls>`` row only, or None."""
    found = [m for m in model.modules() if _transformers_esm(m, "EsmForSequenceClassification")]
    if len(found) != 1:
        return None
    target = found[0]
    heads = [m for m in target.classifier.modules() if type(m).__name__ == "EsmClassificationHead"]
    if not heads or not all(_transformers_esm(h) for h in heads):
        return None
    if "forward" in vars(target) or any("forward" in vars(h) for h in heads):
        return None  # someone else's forward: not the row-0 read this relies on
    layer = target.esm.encoder.layer[-1]
    if (
        not _transformers_esm(layer, "EsmLayer")
        or "forward" in vars(layer)
        or getattr(layer, "is_decoder", True)
        or getattr(layer, "add_cross_attention", True)
        or not hasattr(layer, "feed_forward_chunk")
    ):
        return None
    return target


@contextlib.contextmanager
def cls_row_last_layer(model):
    """Compute the last block of a transformers ESM sequence classifier at the ``<cls>`` row only.

    ``EsmForSequenceClassification``'s head reads ``features[:, 0]``, so of the last block only the
    first row's query, attention output and feed-forward reach the logits (keys and values still
    come from every row).  Inside this context the last block computes just that row: logits and
    gradients are the same function (exact up to float rounding), and the block's other
    ``T - 1`` rows of work are skipped.  The model's last hidden state then has one row, so
    anything other than the head's logits (hidden states, attention weights) must run outside
    the context; a copy of the model made inside it keeps the change.  With dropout on, the
    masks are drawn for one row instead of ``T``: the same distribution, another random stream,
    so a seeded run is reproducible but not bit-equal to one without the context.  Gradient
    checkpointing skips the last block (its saved activations are one row, plus keys and values).

    Applies to a transformers ``EsmForSequenceClassification`` (NT, AgroNT, ESM-2 layouts; also
    under a PEFT wrapper) whose head, model and last block run transformers' own code.  Before it
    yields, it checks itself: one small padded batch in eval mode through the model with and without
    the change; if the logits differ (another transformers version laying out the block otherwise)
    it leaves the model alone.  Yields ``"cls_row"`` when applied, None otherwise; restores the
    block on exit.  Mutates ``model`` while inside: use it on a copy you own.
    """
    import types

    target = _esm_cls_head_model(model)
    if target is None:
        yield None
        return
    layer = target.esm.encoder.layer[-1]
    layer.forward = types.MethodType(_esm_cls_row_layer_forward, layer)
    try:
        applied = _cls_row_agrees(target, layer)
    except Exception:  # noqa: BLE001 - any failure of the check means: leave the model alone
        applied = False
    if not applied:
        del layer.forward
        yield None
        return
    try:
        yield "cls_row"
    finally:
        del layer.forward


def _cls_row_agrees(target, layer) -> bool:
    """One padded 2 x 7 batch (eval, fp32 math as loaded) through ``target`` with the patched last
    block and with the original: do the logits agree?"""
    import torch

    cfg = target.config
    device = next(target.parameters()).device
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(4, max(5, int(cfg.vocab_size)), (2, 7), generator=gen).to(device)
    mask = torch.ones(2, 7, dtype=torch.long, device=device)
    mask[1, 5:] = 0
    if cfg.pad_token_id is not None:
        ids[1, 5:] = int(cfg.pad_token_id)
    was_training = target.training
    target.eval()
    try:
        with torch.no_grad():
            fast = target(input_ids=ids, attention_mask=mask).logits.float()
            patched = layer.forward
            del layer.forward
            try:
                full = target(input_ids=ids, attention_mask=mask).logits.float()
            finally:
                layer.forward = patched
    finally:
        target.train(was_training)
    scale = float(full.abs().max()) + 1.0
    return (
        fast.shape == full.shape
        and bool(torch.isfinite(fast).all())
        and float((fast - full).abs().max()) <= 1e-4 * scale
    )


# --- tokenizers and models ----------------------------------------------------------------------


class TokenizerView:
    """What inference needs from a tokenizer: ids and offsets of a bare sequence, special tokens."""

    def __init__(self, tokenizer, add_special_tokens: bool):
        self.tok = tokenizer
        if add_special_tokens:
            pre, suf = special_template(tokenizer)
            self.pre = np.asarray(pre, dtype=np.int64)
            self.suf = np.asarray(suf, dtype=np.int64)
        else:
            self.pre = self.suf = np.zeros(0, dtype=np.int64)
        self.lead = len(self.pre)
        self.mask_id = getattr(tokenizer, "mask_token_id", None)
        pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_id = int(pad) if pad is not None else 0
        self._genolm = hasattr(tokenizer, "encode_with_offsets")
        # schemes whose token layout depends only on where N / invalid bases are, never on which of
        # A/C/G/T a base is: an SNV then changes just the ids of the tokens covering it (not BPE)
        self.position_stable = self._genolm and getattr(tokenizer, "scheme", "") in _STABLE_SCHEMES
        # token i starts at base i (single bases, overlapping k-mers): a window's tokens are then
        # its genome's tokens from its start, and windows can be anchored to a shared reference
        self.per_base = False
        if self.position_stable:
            _, offs = self.encode("ACGTTGCAACGT")
            self.per_base = bool(np.array_equal(offs[:, 0], np.arange(len(offs))))

    def encode(self, seq: str) -> tuple[np.ndarray, np.ndarray]:
        """``(ids (T,), offsets (T, 2))`` of ``seq``, no special tokens."""
        return token_offsets(self.tok, seq)

    def full(self, ids: np.ndarray) -> np.ndarray:
        """``ids`` with the template's special tokens around them."""
        if not len(self.pre) and not len(self.suf):
            return ids
        return np.concatenate([self.pre, ids, self.suf])


@contextlib.contextmanager
def preserve_model_state(model, device=None):
    """Put ``model`` in eval mode on ``device`` (default: where it is); restore mode and device after."""
    import torch

    was_training = model.training
    try:
        orig = next(model.parameters()).device
    except StopIteration:
        orig = torch.device("cpu")
    dev = resolve_device(device) if device is not None else orig
    model.eval()
    if dev != orig:
        model.to(dev)
    try:
        yield dev
    finally:
        if dev != orig:
            model.to(orig)
        model.train(was_training)


# --- forward requests -------------------------------------------------------------------------


@dataclass(slots=True)
class Request:
    """One sequence to run through the model, and what to read from the output.

    kind ``"mlm"``: ``gather`` is ``[(token index in ids, candidate ids)]``; ``out`` becomes a
    list of ``log p(candidates)`` arrays.  ``"clm"``: ``out`` is the summed next-token log
    likelihood of the sequence tokens.  ``"emb"``: ``out`` is the mean last hidden state over the
    sequence tokens, shape ``(H,)``.
    """

    kind: str
    ids: np.ndarray  # (T,) with special tokens
    lead: int  # index of the first sequence token
    n: int  # sequence tokens
    gather: list[tuple[int, np.ndarray]] | None = None
    out: Any = None
    group: tuple = ()  # batching key after (kind, length): strand, contig, position
    # (reference key, index in that reference of ids[0]): the window is cut from it (per-base
    # tokenizers only), so a model with ``uses_reference`` can share work across the batch
    anchor: tuple[tuple, int] | None = None


def _logits(model, ids, attention_mask):
    out = model(input_ids=ids, attention_mask=attention_mask)
    return out.logits if hasattr(out, "logits") else out[0]


def _logits_at(model, ids, attention_mask, rows_b: np.ndarray, rows_t: np.ndarray, reference=None):
    """Logits ``(R, V)`` at positions ``(rows_b[i], rows_t[i])`` of the batch ``ids`` ``(B, T)``.

    A model with ``logits_at`` (only the selected positions computed, returned in row-major order)
    is asked for the distinct positions and the rows are put back in the callers' order; others
    run the full forward and index its ``(B, T, V)`` logits.  ``reference``: passed on to
    ``logits_at`` (a hint, see :meth:`~genolm.models.base.SelectedLogitsMixin.logits_at`).
    """
    import torch

    if not callable(getattr(model, "logits_at", None)):
        return _logits(model, ids, attention_mask)[rows_b, rows_t]
    T = ids.shape[1]
    flat = rows_b * T + rows_t  # row-major index of each requested position
    uniq = np.unique(flat)  # sorted: the order in which logits_at returns them
    select = torch.zeros(ids.shape, dtype=torch.bool)
    select.view(-1)[torch.from_numpy(uniq)] = True
    kw = {} if reference is None else {"reference": reference}
    logits = model.logits_at(ids, attention_mask=attention_mask, select=select.to(ids.device), **kw)  # (N, V)
    return logits[torch.from_numpy(np.searchsorted(uniq, flat)).to(ids.device)]


def _batch_reference(model, batch: list[Request], T: int, reference):
    """``(ref_ids, offsets)`` tensors for ``logits_at``, or ``None``.

    The reference is the union of the batch's windows on their references (one per strand and
    contig record), merged where they overlap and laid end to end: each window lies inside one
    piece.  ``None`` when the model does not use one, a request has no anchor, or the windows
    overlap too little to share anything (the union is most of the batch's tokens).
    """
    import torch

    if reference is None or not getattr(model, "uses_reference", False):
        return None
    if any(r.anchor is None for r in batch):
        return None
    by_key: dict[tuple, list[int]] = {}
    for b, r in enumerate(batch):
        by_key.setdefault(r.anchor[0], []).append(b)
    offsets = np.zeros(len(batch), dtype=np.int64)
    pieces: list[tuple[tuple, int, int]] = []  # (key, lo, hi) in reference order
    total = 0
    for key, rows in by_key.items():
        rows.sort(key=lambda b: batch[b].anchor[1])
        lo = hi = None
        for b in rows:
            o = batch[b].anchor[1]
            if hi is None or o > hi:  # a gap: a new piece
                if hi is not None:
                    pieces.append((key, lo, hi))
                    total += hi - lo
                lo = o
            hi = o + T
            offsets[b] = total + o - lo
        pieces.append((key, lo, hi))
        total += hi - lo
    if total >= 0.8 * len(batch) * T:
        return None
    ids = np.concatenate([np.asarray(reference(k, lo, hi), dtype=np.int64) for k, lo, hi in pieces])
    return torch.from_numpy(ids), torch.from_numpy(offsets)


def _hidden(model, ids, attention_mask):
    if hasattr(model, "token_hidden_states"):
        return model.token_hidden_states(ids, attention_mask)
    out = model(input_ids=ids, attention_mask=attention_mask, output_hidden_states=True)
    return out.hidden_states[-1]


def run_requests(
    model,
    reqs: list[Request],
    *,
    batch_size: int,
    device,
    pad_id: int,
    on_batch: Callable[[int], None] | None = None,
    precision: str = "fp32",
    reference: Callable[[tuple, int, int], np.ndarray] | None = None,
) -> None:
    """Run every request (batched by kind and length, right-padded) and fill ``req.out``.

    ``precision`` ``"bf16"`` runs the forward passes under bf16 autocast (log-softmax in float32).
    ``reference(key, lo, hi)``: the token ids at indices ``[lo, hi)`` of the reference ``key``
    that requests' ``anchor`` name (-1 where there is none); an MLM batch whose requests all have
    an anchor hands the union of its windows on their references (:func:`_batch_reference`) to a
    model with ``uses_reference``.
    """
    import torch
    import torch.nn.functional as F

    dev = resolve_device(device)
    autocast = (
        (lambda: torch.autocast(dev.type, dtype=torch.bfloat16))
        if resolve_precision(precision, dev) == "bf16"
        else contextlib.nullcontext
    )

    # a batch holds requests of one kind and length; within those, one strand's neighbouring sites
    # (``group``), whose masked positions line up (one cone for the batch in ``logits_at``)
    order = sorted(range(len(reqs)), key=lambda i: (reqs[i].kind, len(reqs[i].ids), reqs[i].group))
    start = 0
    while start < len(order):
        kind = reqs[order[start]].kind
        stop = start
        while stop < len(order) and stop - start < batch_size and reqs[order[stop]].kind == kind:
            stop += 1
        batch = [reqs[i] for i in order[start:stop]]
        start = stop
        T = max(len(r.ids) for r in batch)
        ids = np.full((len(batch), T), pad_id, dtype=np.int64)
        am = np.zeros((len(batch), T), dtype=np.int64)
        for b, r in enumerate(batch):
            ids[b, : len(r.ids)] = r.ids
            am[b, : len(r.ids)] = 1
        ids_t = torch.from_numpy(ids).to(device)
        am_t = None if am.all() else torch.from_numpy(am).to(device)
        with torch.inference_mode(), autocast():
            if kind == "emb":
                h = _hidden(model, ids_t, am_t).float()  # (B, T, H)
                for b, r in enumerate(batch):
                    r.out = h[b, r.lead : r.lead + r.n].mean(0).cpu().numpy()
            elif kind == "mlm":
                rows_b = np.array([b for b, r in enumerate(batch) for _ in r.gather], dtype=np.int64)
                rows_t = np.array([t for r in batch for t, _ in r.gather], dtype=np.int64)
                ref = _batch_reference(model, batch, T, reference)
                logits = _logits_at(model, ids_t, am_t, rows_b, rows_t, ref)  # (R, V)
                lp = F.log_softmax(logits.float(), dim=-1).cpu().numpy()  # (R, V)
                j = 0
                for r in batch:
                    r.out = [lp[j + q, cand] for q, (_, cand) in enumerate(r.gather)]
                    j += len(r.gather)
            else:  # clm: logits at t predict token t + 1
                logits = _logits(model, ids_t, am_t).float()  # (B, T, V)
                lp = F.log_softmax(logits[:, :-1], dim=-1)  # (B, T-1, V)
                tok_lp = lp.gather(-1, ids_t[:, 1:, None]).squeeze(-1).cpu().numpy()  # (B, T-1)
                for b, r in enumerate(batch):
                    first = max(r.lead, 1)  # a first token without BOS has no prediction
                    r.out = float(tok_lp[b, first - 1 : r.lead + r.n - 1].sum(dtype=np.float64))
        if on_batch is not None:
            on_batch(len(batch))
