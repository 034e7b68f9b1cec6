"""Turn windows into model inputs for MLM or CLM.

Every random choice for a sample (reverse-complement flip, masked positions, random
replacement tokens) comes from a generator seeded by ``(seed, epoch, sample index)``, so
a sample looks the same however many processes train and whether or not the run resumed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from genolm.alphabet import reverse_complement
from genolm.constants import IGNORE_INDEX


@dataclass
class MaskingConfig:
    objective: str = "mlm"  # "mlm" or "clm"
    mlm_probability: float = 0.15
    mask_replace: float = 0.8  # of masked tokens: -> [MASK]
    random_replace: float = 0.1  # -> a random regular token (the rest stay unchanged)
    span: int = 1  # mask spans of this many tokens (k for overlapping k-mers avoids leakage)
    softmask_weight: float = 1.0  # loss weight of tokens touching soft-masked (lowercase) bases
    rc_augment: bool = False  # reverse-complement half of the samples
    add_special_tokens: bool = True


class ExampleBuilder:
    """Build ``input_ids``/``labels``/``loss_weights`` for one window string."""

    def __init__(self, tokenizer, cfg: MaskingConfig):
        self.tok = tokenizer
        self.cfg = cfg
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        self.special_ids = np.array(sorted(special), dtype=np.int64)
        self.regular_ids = np.array([i for i in range(len(tokenizer)) if i not in special], dtype=np.int64)
        self.mask_id = tokenizer.mask_token_id
        if cfg.objective == "mlm" and self.mask_id is None:
            raise ValueError(f"tokenizer {type(tokenizer).__name__} has no mask token; MLM needs one")

    def _with_specials(self, ids: np.ndarray) -> tuple[np.ndarray, int]:
        """Add the tokenizer's special tokens; return ids and the offset of the first sequence token."""
        if not self.cfg.add_special_tokens:
            return ids, 0
        as_list = ids.tolist()
        full = np.asarray(self.tok.build_inputs_with_special_tokens(as_list), dtype=np.int64)
        smask = self.tok.get_special_tokens_mask(as_list, already_has_special_tokens=False)
        lead = smask.index(0) if 0 in smask else 0
        return full, lead

    def build(self, text: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
        cfg = self.cfg
        if cfg.rc_augment and rng.random() < 0.5:
            text = reverse_complement(text)
        ids = np.asarray(self.tok.encode_array(text), dtype=np.int64)
        weights = np.ones(len(ids), dtype=np.float32)
        if cfg.softmask_weight != 1.0:
            lower = np.frombuffer(text.encode("ascii"), dtype=np.uint8) >= ord("a")
            if lower.any():
                off = np.asarray(self.tok.offsets_array(text), dtype=np.int64)
                cum = np.concatenate([[0], np.cumsum(lower)])
                touched = (cum[off[:, 1]] - cum[off[:, 0]]) > 0
                weights[touched] = cfg.softmask_weight
        full, lead = self._with_specials(ids)
        w = np.zeros(len(full), dtype=np.float32)
        w[lead : lead + len(ids)] = weights
        if cfg.objective == "clm":
            labels = full.copy()
            labels[w == 0] = IGNORE_INDEX  # no loss on special tokens
            return {"input_ids": full, "labels": labels, "loss_weights": w}
        # MLM: choose ~p of the sequence tokens, in spans
        n = len(ids)
        n_mask = max(1, int(round(cfg.mlm_probability * n)))
        span = max(1, cfg.span)
        n_spans = max(1, int(np.ceil(n_mask / span)))
        starts = rng.choice(max(1, n - span + 1), size=min(n_spans, max(1, n - span + 1)), replace=False)
        sel = np.zeros(n, dtype=bool)
        for s in starts:
            sel[s : s + span] = True
        masked = np.zeros(len(full), dtype=bool)
        masked[lead : lead + n] = sel
        labels = np.full(len(full), IGNORE_INDEX, dtype=np.int64)
        labels[masked] = full[masked]
        inputs = full.copy()
        r = rng.random(len(full))
        to_mask = masked & (r < cfg.mask_replace)
        to_rand = masked & (r >= cfg.mask_replace) & (r < cfg.mask_replace + cfg.random_replace)
        inputs[to_mask] = self.mask_id
        if to_rand.any():
            inputs[to_rand] = rng.choice(self.regular_ids, size=int(to_rand.sum()))
        return {"input_ids": inputs, "labels": labels, "loss_weights": w}


def collate(examples: list[dict[str, np.ndarray]], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad to the longest example (dynamic padding); padding gets label IGNORE_INDEX and weight 0."""
    T = max(len(e["input_ids"]) for e in examples)
    B = len(examples)
    ids = np.full((B, T), pad_id, dtype=np.int64)
    labels = np.full((B, T), IGNORE_INDEX, dtype=np.int64)
    w = np.zeros((B, T), dtype=np.float32)
    att = np.zeros((B, T), dtype=np.int64)
    for i, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[i, :n] = e["input_ids"]
        labels[i, :n] = e["labels"]
        w[i, :n] = e["loss_weights"]
        att[i, :n] = 1
    return {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(att),
        "labels": torch.from_numpy(labels),
        "loss_weights": torch.from_numpy(w),
    }
