"""Token ids with nucleotide offsets, and the special-token template, for any tokenizer.

``token_offsets(tokenizer, seq) -> (ids (T,), offsets (T, 2))``
    ids of a bare sequence (no special tokens) and, per token, ``[start, end)`` in ``seq``;
    genolm tokenizers, fast Hugging Face tokenizers and slow ones (aligned by text) alike.
``special_template(tokenizer) -> (prefix ids, suffix ids)``
    what the tokenizer puts around one sequence (``[CLS]`` ... ``[SEP]``, ``<cls>``, nothing).
"""

from __future__ import annotations

import numpy as np

_SENTINEL = -7  # a token id no tokenizer has: finds where the sequence goes in the special-token template


def special_template(tokenizer) -> tuple[list[int], list[int]]:
    """``(prefix ids, suffix ids)`` the tokenizer puts around one sequence."""
    try:
        full = list(tokenizer.build_inputs_with_special_tokens([_SENTINEL]))
    except AttributeError:  # transformers 5 tokenizers-backed classes: read the template off a probe
        return _probe_template(tokenizer)
    i = full.index(_SENTINEL)
    return [int(x) for x in full[:i]], [int(x) for x in full[i + 1 :]]


def _probe_template(tokenizer, probe: str = "ACGT") -> tuple[list[int], list[int]]:
    bare = list(tokenizer(probe, add_special_tokens=False)["input_ids"])
    full = list(tokenizer(probe, add_special_tokens=True)["input_ids"])
    for i in range(len(full) - len(bare) + 1):
        if full[i : i + len(bare)] == bare:
            return [int(x) for x in full[:i]], [int(x) for x in full[i + len(bare) :]]
    raise ValueError(
        f"cannot find where {type(tokenizer).__name__} puts the sequence among its special tokens"
    )


def token_offsets(tokenizer, seq: str) -> tuple[np.ndarray, np.ndarray]:
    """``(ids (T,), offsets (T, 2))`` of one sequence without special tokens, for any tokenizer.

    genolm tokenizers and fast HF tokenizers give offsets directly; slow tokenizers (HyenaDNA's
    character tokenizer) get them by aligning each token's text to the sequence.
    """
    if hasattr(tokenizer, "encode_with_offsets"):  # genolm tokenizers: vectorised numpy path
        enc = tokenizer.encode_with_offsets(seq)
        return np.asarray(enc.ids, dtype=np.int64), np.asarray(enc.offsets, dtype=np.int64)
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(seq, add_special_tokens=False, return_offsets_mapping=True)
        return (
            np.asarray(enc["input_ids"], dtype=np.int64),
            np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2),
        )
    ids = tokenizer(seq, add_special_tokens=False)["input_ids"]
    offs, at, low = [], 0, seq.lower()
    for t in tokenizer.convert_ids_to_tokens(ids):
        t = (t or "").replace("##", "").replace("\u2581", "")
        j = low.find(t.lower(), at) if t else -1
        if j < 0 or j > at:  # an unknown token, or text that is not the next bases: one base
            offs.append((at, min(at + 1, len(seq))))
            at = min(at + 1, len(seq))
        else:
            offs.append((j, j + len(t)))
            at = j + len(t)
    return np.asarray(ids, dtype=np.int64), np.asarray(offs, dtype=np.int64).reshape(-1, 2)
