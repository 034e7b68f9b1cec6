"""Scoring text with a causal LM: log-likelihood of answer choices, generation, and reasoning output.

Representations: a *context* is a list of token ids (the prompt, special tokens included); a
*continuation* is the token ids of one answer choice, scored as ``sum_j log p(c_j | context,
c_<j)``.  :func:`choice_logprobs` runs the context once and every continuation of it as one
batch on the context's KV cache (``method="cache"``), or each ``context + continuation`` in full
(``method="full"``: slower, for models without a cache; the tests check both agree).

Reasoning models write ``<think> ... </think>`` before their answer.  Scoring such a model on the
next token after the prompt scores the start of its reasoning, not its answer.
:func:`split_reasoning` cuts a generation after the **last** closing marker; a generation that
opened its reasoning (or whose prompt did) and never closed it has no answer, and is counted as
such (``closed=False``), never silently scored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from genolm.errors import ConfigError

REASONING = ("auto", "required", "off")


def _device(model):
    return next(model.parameters()).device


def choice_logprobs(
    model,
    context: Sequence[int],
    continuations: Sequence[Sequence[int]],
    *,
    method: str = "cache",
) -> tuple[np.ndarray, np.ndarray]:
    """``(sum log-prob per continuation (n,), tokens per continuation (n,))`` given ``context``.

    Parameters
    ----------
    model : causal LM (``transformers`` / PEFT), in eval mode
    context : list of int, shape=(Tc,)
        Must be non-empty (a BOS token, or the prompt).
    continuations : list of list of int
        One non-empty token list per answer choice.
    method : {"cache", "full"}
        Default is ``"cache"``.
    """
    import torch

    if not len(context):
        raise ConfigError("the context is empty: give at least a BOS token")
    if any(len(c) == 0 for c in continuations):
        raise ConfigError("an answer choice encodes to no tokens")
    dev = _device(model)
    n = len(continuations)
    lens = np.array([len(c) for c in continuations])
    Lc = int(lens.max())
    pad = 0
    cont = torch.full((n, Lc), pad, dtype=torch.long, device=dev)
    for i, c in enumerate(continuations):
        cont[i, : len(c)] = torch.as_tensor(list(c), dtype=torch.long)
    ctx = torch.as_tensor([list(context)], dtype=torch.long, device=dev)
    Tc = ctx.shape[1]
    with torch.no_grad():
        if method == "cache":
            out = model(input_ids=ctx, use_cache=True)
            first = torch.log_softmax(out.logits[0, -1].float(), -1)  # (V,)
            past = out.past_key_values
            past.batch_repeat_interleave(n)
            att = torch.ones((n, Tc + Lc), dtype=torch.long, device=dev)
            for i, ln in enumerate(lens):
                att[i, Tc + ln :] = 0
            rest = model(input_ids=cont, attention_mask=att, past_key_values=past, use_cache=True).logits
            lp = torch.log_softmax(rest.float(), -1)  # (n, Lc, V): position j predicts c_{j+1}
            scores = first[cont[:, 0]].clone()
            if Lc > 1:
                tok_lp = lp[:, :-1].gather(-1, cont[:, 1:, None])[..., 0]  # (n, Lc-1)
                mask = torch.arange(1, Lc, device=dev)[None, :] < torch.as_tensor(lens, device=dev)[:, None]
                scores = scores + (tok_lp * mask).sum(1)
        elif method == "full":
            scores = torch.zeros(n, device=dev)
            for i, c in enumerate(continuations):
                ids = torch.cat([ctx[0], torch.as_tensor(list(c), device=dev)])[None]
                lp = torch.log_softmax(model(input_ids=ids, use_cache=False).logits[0].float(), -1)
                tgt = ids[0, Tc:]
                scores[i] = lp[Tc - 1 : Tc - 1 + len(c)].gather(-1, tgt[:, None]).sum()
        else:
            raise ConfigError(f"method must be 'cache' or 'full', not {method!r}")
    return scores.cpu().numpy().astype(np.float64), lens


def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 256,
    batch_size: int = 4,
    add_special_tokens: bool = True,
) -> list[str]:
    """Greedy generations for ``prompts`` (new text only, special tokens dropped), left-padded batches."""
    import torch

    dev = _device(model)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out: list[str] = []
    try:
        for a in range(0, len(prompts), batch_size):
            enc = tokenizer(
                list(prompts[a : a + batch_size]),
                return_tensors="pt",
                padding=True,
                add_special_tokens=add_special_tokens,
            ).to(dev)
            with torch.no_grad():
                gen = model.generate(
                    **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad, num_beams=1
                )
            new = gen[:, enc["input_ids"].shape[1] :]
            out += tokenizer.batch_decode(new, skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return out


class ReasoningSplit(NamedTuple):
    """A generation cut at its reasoning marker.  ``answer`` is ``""`` when ``closed`` is False
    and the reasoning was opened (there is no answer to score)."""

    answer: str
    reasoning: str
    opened: bool  # the generation (or its prompt) opened a reasoning block
    closed: bool  # a closing marker was found


def split_reasoning(
    text: str,
    *,
    end: str = "</think>",
    start: str = "<think>",
    prompt: str = "",
    policy: str = "auto",
) -> ReasoningSplit:
    """Cut ``text`` after the last ``end`` marker.

    ``policy``: ``"auto"`` (default) expects a closing marker only where reasoning was opened --
    in ``text`` or at the end of ``prompt`` (chat templates that pre-fill ``<think>``);
    ``"required"`` expects one in every generation (a reasoning model); ``"off"`` never cuts.

    >>> split_reasoning("<think>A looks right... no.</think> B")
    ReasoningSplit(answer='B', reasoning='<think>A looks right... no.', opened=True, closed=True)
    >>> split_reasoning("<think>A, or maybe").closed
    False
    """
    if policy not in REASONING:
        raise ConfigError(f"reasoning policy must be one of {', '.join(REASONING)}, not {policy!r}")
    if policy == "off" or not end:
        return ReasoningSplit(text.strip(), "", False, False)
    i = text.rfind(end)
    prompt_open = bool(start) and prompt.rfind(start) > prompt.rfind(end)
    opened = (bool(start) and start in text) or prompt_open or policy == "required"
    if i >= 0:
        return ReasoningSplit(text[i + len(end) :].strip(), text[:i], True, True)
    if opened:
        return ReasoningSplit("", text, True, False)
    return ReasoningSplit(text.strip(), "", False, False)


def wilson_ci(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score 95 % interval of a proportion ``k / n`` (exact enough at any n, never outside [0, 1])."""
    if n == 0:
        return math.nan, math.nan
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)
