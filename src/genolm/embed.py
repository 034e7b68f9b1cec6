"""Sequences -> model inputs (with the long-input policy) -> frozen features, cached on disk.

Representations (named once here):

``Chunks``
    what the model sees: one or more token windows per sequence.  ``ids[c]`` is ``(T_c,)`` int64
    *with* the tokenizer's special tokens, ``offsets[c]`` is ``(T_c, 2)`` ``[start, end)`` nucleotide
    offsets into the *whole* sequence (special tokens ``(0, 0)``), ``owner[c]`` the sequence index.
    A sequence that fits the context is one chunk.
sequence features
    ``(n, H)`` float32: one pooled vector per sequence (window vectors pooled by ``window_pooling``).
nucleotide features
    ``(sum of lengths, H)`` float32: one vector per nucleotide, sequences concatenated in order
    (token states mapped to nucleotides with :func:`genolm.models.tokens_to_nucleotides`; where
    windows overlap, a nucleotide averages the windows covering it).

Long inputs.  The context of a model is ``max_tokens`` when given, else its
``config.max_position_embeddings``, else unlimited (convolutional families).  A sequence with more
tokens than that is handled by :class:`InputPolicy.long_input`:

``"error"`` (default)
    raise :class:`~genolm.errors.InputError` naming the sequence and the two other policies;
``"window"``
    windows of ``context - n_special`` tokens overlapping by ``overlap`` (the last window ends at
    the last token), each with its own special tokens; window outputs are pooled per sequence;
``"truncate"``
    keep the first ``context - n_special`` tokens (the 3' end is dropped).

Windowing works on tokens, not bases, so it is exact for every tokenizer (BPE included) and the
offsets still point into the original sequence.

The cache key is the sha256 of the model's weights and config, the tokenizer's vocabulary and
template, the sequences, and every setting that changes a feature (pooling, layer, level, the
input policy, precision).  A frozen-probe re-evaluation therefore never recomputes features.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from genolm.errors import ConfigError, InputError
from genolm.progress import progress_bar
from genolm.registry import check_choice
from genolm.tokenizers.offsets import special_template, token_offsets

LONG_INPUT = ("error", "window", "truncate")
WINDOW_POOLING = ("mean", "max")
LEVELS = ("sequence", "nucleotide")
CACHE_VERSION = 1


@dataclass(frozen=True)
class InputPolicy:
    """How sequences become model inputs.  ``context`` is in tokens, special tokens included."""

    context: int | None = None
    long_input: str = "error"
    overlap: float = 0.5
    window_pooling: str = "mean"

    def __post_init__(self):
        check_choice("long_input", self.long_input, LONG_INPUT)
        check_choice("window_pooling", self.window_pooling, WINDOW_POOLING)
        if not 0.0 <= self.overlap < 1.0:
            raise ConfigError(f"overlap must be in [0, 1), got {self.overlap}")
        if self.context is not None and self.context < 1:
            raise ConfigError(f"context must be positive, got {self.context}")


class Chunks(NamedTuple):
    """Token windows of a list of sequences (see the module docstring)."""

    ids: list[np.ndarray]
    offsets: list[np.ndarray]
    owner: np.ndarray  # (n_chunks,) int64
    lengths: np.ndarray  # (n_seqs,) int64, nucleotides
    first: np.ndarray  # (n_seqs + 1,) chunk index where each sequence's chunks start
    n_windowed: int
    n_truncated: int

    def chunks_of(self, seq_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Chunk indices of the sequences ``seq_idx`` (in that order) and, for each chunk, the
        position in ``seq_idx`` of the sequence it belongs to."""
        seq_idx = np.asarray(seq_idx, dtype=np.int64)
        counts = self.first[seq_idx + 1] - self.first[seq_idx]
        cidx = np.concatenate([np.arange(self.first[i], self.first[i + 1]) for i in seq_idx])
        return cidx, np.repeat(np.arange(len(seq_idx)), counts)


def model_context(model, max_tokens: int | None = None) -> int | None:
    """The number of tokens (special tokens included) the model is meant to see at once."""
    if max_tokens is not None:
        return int(max_tokens)
    ctx = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return int(ctx) if ctx else None


def encode_sequences(
    tokenizer, seqs: Sequence[str], policy: InputPolicy, *, ids: Sequence[str] | None = None
) -> Chunks:
    """Tokenize ``seqs`` into :class:`Chunks` under ``policy`` (raises on a too-long sequence
    when ``policy.long_input == "error"``)."""
    pre, suf = special_template(tokenizer)
    n_special = len(pre) + len(suf)
    budget = None if policy.context is None else policy.context - n_special
    if budget is not None and budget < 1:
        raise ConfigError(
            f"a context of {policy.context} tokens leaves no room next to {n_special} special tokens"
        )
    pre_a, suf_a = np.asarray(pre, np.int64), np.asarray(suf, np.int64)
    z_pre, z_suf = np.zeros((len(pre), 2), np.int64), np.zeros((len(suf), 2), np.int64)
    out_ids, out_offs, owner, lengths, first = [], [], [], [], [0]
    n_windowed = n_truncated = 0
    for i, seq in enumerate(seqs):
        tid, toff = token_offsets(tokenizer, seq)
        T = len(tid)
        spans = [(0, T)]
        if budget is not None and T > budget:
            if policy.long_input == "error":
                name = f"'{ids[i]}'" if ids is not None else f"#{i}"
                raise InputError(
                    f"sequence {name} is {len(seq)} bp = {T} tokens, longer than the model context of "
                    f"{policy.context} tokens ({budget} after {n_special} special tokens)",
                    hint="choose a long-input policy: long_input='window' (overlapping windows, outputs "
                    "pooled per sequence) or 'truncate' (keep the first tokens); or a model with a longer context",
                )
            if policy.long_input == "truncate":
                spans = [(0, budget)]
                n_truncated += 1
            else:
                stride = max(1, int(budget * (1.0 - policy.overlap)))
                starts = list(range(0, T - budget, stride)) + [T - budget]
                spans = [(s, s + budget) for s in starts]
                n_windowed += 1
        for a, b in spans:
            out_ids.append(np.concatenate([pre_a, tid[a:b], suf_a]))
            out_offs.append(np.concatenate([z_pre, toff[a:b], z_suf]))
            owner.append(i)
        lengths.append(len(seq))
        first.append(len(out_ids))
    return Chunks(
        out_ids,
        out_offs,
        np.asarray(owner, np.int64),
        np.asarray(lengths, np.int64),
        np.asarray(first, np.int64),
        n_windowed,
        n_truncated,
    )


def collate(chunks: Chunks, chunk_idx: np.ndarray, pad_id: int):
    """Pad chunks ``chunk_idx`` into tensors: ``input_ids (B, T)``, ``attention_mask (B, T)``,
    ``offsets (B, T, 2)``."""
    import torch

    T = max(len(chunks.ids[c]) for c in chunk_idx)
    B = len(chunk_idx)
    ids = np.full((B, T), pad_id, dtype=np.int64)
    mask = np.zeros((B, T), dtype=np.int64)
    offs = np.zeros((B, T, 2), dtype=np.int64)
    for r, c in enumerate(chunk_idx):
        n = len(chunks.ids[c])
        ids[r, :n] = chunks.ids[c]
        mask[r, :n] = 1
        offs[r, :n] = chunks.offsets[c]
    return torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(offs)


def pool_windows(values, owner, n: int, how: str = "mean"):
    """Pool per-window rows ``(n_chunks, ...)`` into per-sequence rows ``(n, ...)`` by ``owner``."""
    import torch

    if values.shape[0] == n:  # one window per sequence (owner is 0..n-1 in order)
        return values
    owner = owner.to(values.device)
    if how == "max":
        idx = owner.view(-1, *([1] * (values.dim() - 1))).expand_as(values)
        out = torch.full((n, *values.shape[1:]), float("-inf"), device=values.device, dtype=values.dtype)
        return out.scatter_reduce(0, idx, values, reduce="amax", include_self=True)
    out = torch.zeros((n, *values.shape[1:]), device=values.device, dtype=values.dtype)
    out.index_add_(0, owner, values)
    count = torch.bincount(owner, minlength=n).clamp(min=1).to(values.dtype)
    return out / count.view(-1, *([1] * (values.dim() - 1)))


def nucleotide_values(token_values, offsets, owner, n: int, length: int):
    """Token outputs ``(n_chunks, T, C)`` -> per-nucleotide ``(n, length, C)`` and coverage ``(n, length)``.

    Within a window a nucleotide averages the tokens covering it (:func:`tokens_to_nucleotides`);
    across overlapping windows it averages the windows covering it.
    """
    import torch

    from genolm.models import tokens_to_nucleotides

    nv = tokens_to_nucleotides(token_values, offsets, length=length)
    covered = (nv.coverage > 0).to(nv.values.dtype)  # (n_chunks, N)
    if token_values.shape[0] == n:
        return nv.values * covered.unsqueeze(-1), covered
    owner = owner.to(nv.values.device)
    vals = torch.zeros((n, length, *nv.values.shape[2:]), device=nv.values.device, dtype=nv.values.dtype)
    vals.index_add_(0, owner, nv.values * covered.unsqueeze(-1))
    cnt = torch.zeros((n, length), device=nv.values.device, dtype=nv.values.dtype)
    cnt.index_add_(0, owner, covered)
    return vals / cnt.clamp(min=1).unsqueeze(-1), (cnt > 0).to(vals.dtype)


# --- fingerprints and the cache ---------------------------------------------------------------

_VOLATILE_CONFIG_KEYS = {"_name_or_path", "transformers_version", "architectures", "torch_dtype", "dtype"}


def model_fingerprint(model) -> str:
    """sha256 of a model's class, config (without volatile keys) and every weight, byte for byte."""
    import torch

    h = hashlib.sha256()
    cfg = getattr(model, "config", None)
    if cfg is not None:
        d = {k: v for k, v in cfg.to_dict().items() if k not in _VOLATILE_CONFIG_KEYS}
        h.update(json.dumps(d, sort_keys=True, default=str).encode())
    for name, t in sorted(model.state_dict().items()):
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def tokenizer_fingerprint(tokenizer) -> str:
    vocab = sorted(tokenizer.get_vocab().items())
    spec = {
        "class": type(tokenizer).__name__,
        "vocab": vocab,
        "template": special_template(tokenizer),
        "pad": tokenizer.pad_token_id,
    }
    return hashlib.sha256(json.dumps(spec, default=str).encode()).hexdigest()


def data_fingerprint(seqs: Sequence[str]) -> str:
    h = hashlib.sha256()
    for s in seqs:
        h.update(s.encode("ascii", "replace"))
        h.update(b"\n")
    return h.hexdigest()


class EmbeddingCache:
    """Features on disk as ``<dir>/<key[:2]>/<key>.npy``, written atomically.

    ``hits`` / ``misses`` count lookups (tests and benchmarks read them).
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(**parts) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npy"

    def load(self, key: str) -> np.ndarray | None:
        p = self.path(key)
        if p.exists():
            try:
                arr = np.load(p, allow_pickle=False)
            except (OSError, ValueError):  # a damaged file is recomputed, never trusted
                arr = None
            if arr is not None:
                self.hits += 1
                return arr
        self.misses += 1
        return None

    def save(self, key: str, arr: np.ndarray) -> None:
        from genolm.atomic import atomic_path

        with atomic_path(self.path(key)) as tmp, open(tmp, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)


# --- frozen features ----------------------------------------------------------------------------


def _hidden(model, input_ids, attention_mask, layer: int):
    """Per-token states ``(B, T, H)`` of any model: genolm's ``token_hidden_states`` or HF outputs."""
    if hasattr(model, "token_hidden_states"):
        return model.token_hidden_states(input_ids, attention_mask, layer=layer)
    base = getattr(model, "base_model", model)
    out = base(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
    if out.hidden_states is None:
        if layer != -1:
            raise ConfigError(
                f"layer {layer}: {type(base).__name__} returns no per-layer hidden states, only its last "
                "layer; use layer -1"
            )
        return out.last_hidden_state
    from genolm.models.base import select_layer

    return select_layer(out.hidden_states, layer)


def embed_sequences(
    model,
    tokenizer,
    seqs: Sequence[str],
    *,
    policy: InputPolicy = InputPolicy(),
    pooling: str = "mean",
    level: str = "sequence",
    layer: int = -1,
    batch_size: int = 64,
    precision: str = "fp32",
    cache: EmbeddingCache | None = None,
    progress: bool = False,
    desc: str = "embed",
    ids: Sequence[str] | None = None,
) -> np.ndarray:
    """Frozen features of ``seqs``: ``(n, H)`` for ``level="sequence"``, ``(sum of lengths, H)`` for
    ``level="nucleotide"`` (see the module docstring).

    The model is put in eval mode on its current device and restored to its previous train/eval
    mode afterwards.  Default pooling is ``"mean"``, layer ``-1`` (the last), precision ``"fp32"``
    (``"bf16"`` runs the forward under bf16 autocast).
    """
    import torch

    from genolm.models import pool

    check_choice("level", level, LEVELS)
    check_choice("precision", precision, ("fp32", "bf16"))
    seqs = list(seqs)
    key = None
    if cache is not None:
        key = EmbeddingCache.key(
            version=CACHE_VERSION,
            model=model_fingerprint(model),
            tokenizer=tokenizer_fingerprint(tokenizer),
            data=data_fingerprint(seqs),
            pooling=pooling,
            level=level,
            layer=layer,
            policy=asdict(policy),
            precision=precision,
        )
        hit = cache.load(key)
        if hit is not None:
            return hit
    chunks = encode_sequences(tokenizer, seqs, policy, ids=ids)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = next(model.parameters()).device
    order = np.argsort(chunks.lengths, kind="stable")  # similar lengths together: less padding
    batches = [order[a : a + batch_size] for a in range(0, len(order), batch_size)]
    results: list[np.ndarray | None] = [None] * len(seqs)
    was_training = model.training
    model.eval()
    bar = None
    if progress:  # a tqdm bar on a terminal, plain periodic lines in a log
        bar = progress_bar(len(seqs), desc, unit="seq", leave=False)
    try:
        with (
            torch.inference_mode(),
            torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"),
        ):
            for b in batches:
                cidx, local = chunks.chunks_of(b)
                ids_t, mask_t, offs_t = (t.to(device) for t in collate(chunks, cidx, pad_id))
                owner = torch.from_numpy(local)  # chunk -> position in b
                hidden = _hidden(model, ids_t, mask_t, layer).float()  # (n_chunks, T, H)
                if level == "sequence":
                    if hasattr(model, "_pool"):
                        vec = model._pool(hidden, mask_t, pooling)  # RC-invariant for gpn-rc
                    else:
                        vec = pool(hidden, mask_t, pooling)
                    vec = pool_windows(vec, owner, len(b), policy.window_pooling)  # (B, H)
                    for r, i in enumerate(b):
                        results[i] = vec[r].cpu().numpy()
                else:
                    L = int(chunks.lengths[b].max())
                    vals, _ = nucleotide_values(hidden, offs_t, owner, len(b), L)  # (B, L, H)
                    for r, i in enumerate(b):
                        results[i] = vals[r, : chunks.lengths[i]].cpu().numpy()
                if bar is not None:
                    bar.update(len(b))
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    if level == "sequence":
        out = np.stack(results).astype(np.float32) if results else np.zeros((0, 0), np.float32)
    else:
        out = np.concatenate(results).astype(np.float32) if results else np.zeros((0, 0), np.float32)
    if cache is not None:
        cache.save(key, out)
    return out
