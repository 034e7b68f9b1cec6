"""Multiple-choice QA from JSONL, scored by log-likelihood or by parsing a generated answer.

One JSON object per line::

    {"id": "q1", "question": "Which base pairs with A?", "choices": ["C", "G", "T"], "answer": 2}
    {"question": "Is {dna} a start codon?", "dna": "ATG", "choices": ["yes", "no"], "answer": "A"}

``answer`` is a 0-based index, the text of one choice, or a letter (``"A"`` = first choice).  A
string that is exactly the text of a choice means that choice, even when it is also a letter: with
``"choices": ["G", "A"]``, ``"answer": "A"`` is the second choice (give ``0`` for the first).  A
letter that is a choice's text only when case is ignored (``"a"`` there) is refused as ambiguous.
``dna`` (optional) is written as biotokens at ``{dna}`` in the question, or on a ``Sequence:``
line before it.  ``id`` defaults to ``line<N>``.  Blank lines are skipped; any other bad line is
an :class:`~genolm.errors.InputError` naming the file and line.

Prompt (``k`` solved examples first, drawn from a separate ``shots`` file -- never from the
items being scored)::

    Question: Which base pairs with A?
    A. C
    B. G
    C. T
    Answer: C

``method="loglik"`` scores every continuation `` A`` / `` B`` / ... (``choice_format="letter"``)
or `` <choice text>`` (``"text"``) and takes the most likely.  ``method="generate"`` generates,
cuts the output after the last ``</think>`` (:func:`genolm.llm.scoring.split_reasoning`) and
parses the answer; missing closing markers and unparsable answers are counted, and the raw text
of every item is written to ``records`` (and to ``out`` as JSONL) for audit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from genolm.errors import ConfigError, InputError
from genolm.llm.extend import BiotokenSpec
from genolm.llm.scoring import REASONING, choice_logprobs, generate, split_reasoning, wilson_ci
from genolm.progress import progress_bar

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_KEYS = ("id", "question", "choices", "answer", "dna")


class MCQItem(NamedTuple):
    id: str
    question: str
    choices: list[str]
    answer: int  # 0-based index of the correct choice
    dna: str | None
    line: int  # 1-based line in its file
    path: str | None = None  # the file it was read from (for error messages)


def load_mcq(path: str | Path) -> list[MCQItem]:
    """Read and check a multiple-choice JSONL file (see the module docstring)."""
    from genolm.registry import did_you_mean

    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=str(path))
    items: list[MCQItem] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as fh:
        for ln, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue

            def bad(msg: str, hint: str | None = None, _ln=ln, record: str | None = None) -> InputError:
                return InputError(msg, path=str(path), line=_ln, record=record, hint=hint)

            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as e:
                raise bad(
                    f"not valid JSON ({e.msg} at column {e.colno})", "one JSON object per line"
                ) from None
            if not isinstance(obj, dict):
                raise bad(f"expected a JSON object, got {type(obj).__name__}")
            for k in obj:
                if k not in _KEYS:
                    raise bad(f"unknown key '{k}'.{did_you_mean(k, _KEYS)} Keys: {', '.join(_KEYS)}")
            for k in ("question", "choices", "answer"):
                if k not in obj:
                    raise bad(f"missing key '{k}'", "each line needs question, choices and answer")
            q, ch, ans = obj["question"], obj["choices"], obj["answer"]
            if not isinstance(q, str) or not q.strip():
                raise bad("'question' must be a non-empty string")
            if (
                not isinstance(ch, list)
                or len(ch) < 2
                or not all(isinstance(c, str) and c.strip() for c in ch)
            ):
                raise bad("'choices' must be a list of at least 2 non-empty strings")
            if len(ch) > len(LETTERS):
                raise bad(f"at most {len(LETTERS)} choices, got {len(ch)}")
            if len(set(ch)) != len(ch):
                raise bad("'choices' holds the same text twice")
            iid = str(obj.get("id", f"line{ln}"))
            try:
                idx = _answer_index(ans, ch)
            except ValueError as e:
                raise bad(
                    str(e), "give the 0-based index of the correct choice, or its exact text", record=iid
                ) from None
            if idx is None:
                raise bad(
                    f"'answer' {ans!r} is neither an index 0..{len(ch) - 1}, a letter A..{LETTERS[len(ch) - 1]}, "
                    "nor the text of a choice"
                )
            dna = obj.get("dna")
            if dna is not None and (not isinstance(dna, str) or not dna):
                raise bad("'dna' must be a non-empty string")
            if "{dna}" in q and dna is None:
                raise bad("the question holds {dna} but the line has no 'dna'")
            if iid in seen:
                raise bad(f"id '{iid}' repeats line {seen[iid]}", "ids must be unique")
            seen[iid] = ln
            items.append(MCQItem(iid, q, list(ch), idx, dna, ln, str(path)))
    if not items:
        raise InputError("the file holds no questions", path=str(path))
    return items


def _answer_index(ans: Any, choices: list[str]) -> int | None:
    """The 0-based choice ``ans`` names (``None``: none); ``ValueError`` when it is ambiguous.

    The exact text of a choice wins over a letter (base-letter choices such as ``["G", "A"]`` are
    common in DNA questions); a letter that is another choice's text up to case is ambiguous.
    """
    if isinstance(ans, bool):
        return None
    if isinstance(ans, int):
        return ans if 0 <= ans < len(choices) else None
    if isinstance(ans, str):
        if ans in choices:
            return choices.index(ans)
        if len(ans) == 1 and ans.upper() in LETTERS[: len(choices)]:
            i = LETTERS.index(ans.upper())
            other = [j for j, c in enumerate(choices) if c.upper() == ans.upper() and j != i]
            if other:
                raise ValueError(
                    f"'answer' {ans!r} is ambiguous: it is the letter of choice {i} ({choices[i]!r}) "
                    f"and, ignoring case, the text of choice {other[0]} ({choices[other[0]]!r})"
                )
            return i
    return None


def encode_item_dna(item: MCQItem, spec: BiotokenSpec | None = None) -> str | None:
    """``item.dna`` as biotokens (``None`` without DNA); a base with no biotoken is an
    :class:`InputError` naming the file, line and question id."""
    if item.dna is None:
        return None
    try:
        return (spec or BiotokenSpec()).encode(item.dna)
    except InputError as e:
        raise InputError(
            f"'dna': {e.bare_message}",
            path=item.path,
            line=item.line,
            record=item.id,
            position=e.position,
            hint=e.hint,
        ) from None


def check_dna(items: Sequence[MCQItem], spec: BiotokenSpec | None = None) -> None:
    """Raise :class:`InputError` (file, line, question id) at the first ``dna`` with no biotoken
    for one of its bases -- before a model is loaded or anything is written."""
    for it in items:
        encode_item_dna(it, spec)


@dataclass
class MCQConfig:
    """How multiple-choice items are prompted and scored."""

    method: str = "loglik"  # loglik | generate
    choice_format: str = "letter"  # letter | text  (what loglik scores)
    k_shot: int = 0
    seed: int = 0  # which shots
    chat: bool = False  # wrap the prompt in the tokenizer's chat template
    answer_prefix: str = ""  # text after the prompt before the answer, e.g. "<think>\n\n</think>\n\n"
    # generation
    max_new_tokens: int = 256
    reasoning: str = "auto"  # auto | required | off  (see genolm.llm.scoring.split_reasoning)
    think_start: str = "<think>"
    think_end: str = "</think>"
    batch_size: int = 4

    def __post_init__(self):
        if self.method not in ("loglik", "generate"):
            raise ConfigError(f"method must be 'loglik' or 'generate', not {self.method!r}")
        if self.choice_format not in ("letter", "text"):
            raise ConfigError(f"choice_format must be 'letter' or 'text', not {self.choice_format!r}")
        if self.reasoning not in REASONING:
            raise ConfigError(f"reasoning must be one of {', '.join(REASONING)}, not {self.reasoning!r}")
        if self.k_shot < 0:
            raise ConfigError("k_shot must be >= 0")


def format_question(item: MCQItem, spec: BiotokenSpec | None = None, *, with_answer: bool = False) -> str:
    q = item.question
    head = ""
    if item.dna is not None:
        bio = encode_item_dna(item, spec)
        if "{dna}" in q:
            q = q.replace("{dna}", bio)
        else:
            head = f"Sequence: {bio}\n"
    lines = [f"{head}Question: {q}"] + [f"{LETTERS[i]}. {c}" for i, c in enumerate(item.choices)]
    text = "\n".join(lines) + "\nAnswer:"
    if with_answer:
        text += f" {LETTERS[item.answer]}"
    return text


def build_prompt(item: MCQItem, shots: Sequence[MCQItem], cfg: MCQConfig, tokenizer, spec=None) -> str:
    parts = [format_question(s, spec, with_answer=True) for s in shots] + [format_question(item, spec)]
    text = "\n\n".join(parts)
    if cfg.method == "generate":
        text += "\nReply with the letter of one choice."
    if cfg.chat:
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError("chat: true but the tokenizer has no chat template")
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
    return text + cfg.answer_prefix


def parse_choice(answer: str, choices: Sequence[str]) -> int | None:
    """The choice a generated answer names: ``Answer: B`` / ``(B)`` / a leading ``B`` / the one
    choice text it contains; ``None`` when it names none or several."""
    n = len(choices)
    valid = LETTERS[:n]
    m = re.findall(rf"(?i)answer\s*(?:is)?\s*[:=-]?\s*\(?\b([{valid}])\b\)?", answer)
    if m:
        return valid.index(m[-1].upper())
    m = re.match(rf"\s*\(?([{valid}])\)?(?:[.):\s]|$)", answer)
    if m:
        return valid.index(m.group(1))
    low = answer.lower()
    hits = [i for i, c in enumerate(choices) if re.search(rf"(?<!\w){re.escape(c.lower())}(?!\w)", low)]
    return hits[0] if len(hits) == 1 else None


class MCQResult(NamedTuple):
    accuracy: float
    ci_low: float
    ci_high: float
    n: int
    n_correct: int
    n_missing_close: int  # generations that opened reasoning and never closed it (scored wrong)
    n_unparsed: int  # generations whose answer names no single choice (scored wrong)
    records: list[dict]  # per item: id, answer, predicted, correct, raw text / scores

    def summary(self) -> dict:
        return {k: v for k, v in self._asdict().items() if k != "records"}


def shots_for(i: int, pool: Sequence[MCQItem], k: int, seed: int) -> list[MCQItem]:
    """The ``k`` solved examples item ``i`` is shown (seeded by ``(seed, i)``; the lm-eval export uses it too)."""
    if k == 0:
        return []
    if len(pool) < k:
        raise ConfigError(f"k_shot={k} but the shots file holds {len(pool)} questions")
    pick = np.random.default_rng([seed, i]).choice(len(pool), size=k, replace=False)
    return [pool[j] for j in pick]


def evaluate_mcq(
    model,
    tokenizer,
    items: Sequence[MCQItem],
    cfg: MCQConfig | None = None,
    *,
    shots: Sequence[MCQItem] = (),
    spec: BiotokenSpec | None = None,
    out: str | Path | None = None,
    progress: bool = False,
) -> MCQResult:
    """Accuracy (Wilson 95 % CI) of ``model`` on ``items``; see the module docstring.

    ``shots`` are the solved examples for k-shot prompts (a separate file; an item whose id is
    also a shot's id is refused: that would show the model the answer).
    """
    cfg = cfg or MCQConfig()
    ids = {s.id for s in shots}
    overlap = [it.id for it in items if it.id in ids]
    if cfg.k_shot and overlap:
        raise InputError(
            f"{len(overlap)} scored question(s) are also shots (id '{overlap[0]}')",
            hint="draw shots from a separate training file",
        )
    was_training = model.training
    model.eval()
    prompts = [
        build_prompt(it, shots_for(i, shots, cfg.k_shot, cfg.seed), cfg, tokenizer, spec)
        for i, it in enumerate(items)
    ]
    records: list[dict] = []
    bar = progress_bar(len(items), f"mcq {cfg.method}", unit="q", enabled=progress)
    try:
        if cfg.method == "loglik":
            bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None and not cfg.chat else []
            for it, p in zip(items, prompts):
                ctx = bos + list(tokenizer(p, add_special_tokens=False)["input_ids"])
                labels = LETTERS[: len(it.choices)] if cfg.choice_format == "letter" else it.choices
                conts = [tokenizer(" " + c, add_special_tokens=False)["input_ids"] for c in labels]
                lp, n_tok = choice_logprobs(model, ctx, conts)
                pred = int(np.argmax(lp))
                records.append(
                    {
                        "id": it.id,
                        "answer": it.answer,
                        "predicted": pred,
                        "correct": pred == it.answer,
                        "logprobs": lp.tolist(),
                        "tokens": n_tok.tolist(),
                    }
                )
                if bar is not None:
                    bar.update(1)
        else:
            texts: list[str] = []
            for a in range(0, len(prompts), cfg.batch_size):
                texts += generate(
                    model,
                    tokenizer,
                    prompts[a : a + cfg.batch_size],
                    max_new_tokens=cfg.max_new_tokens,
                    batch_size=cfg.batch_size,
                    add_special_tokens=not cfg.chat,
                )
                if bar is not None:
                    bar.update(min(cfg.batch_size, len(prompts) - a))
            for it, p, raw in zip(items, prompts, texts):
                sp = split_reasoning(
                    raw, end=cfg.think_end, start=cfg.think_start, prompt=p, policy=cfg.reasoning
                )
                missing = sp.opened and not sp.closed
                pred = None if missing else parse_choice(sp.answer, it.choices)
                records.append(
                    {
                        "id": it.id,
                        "answer": it.answer,
                        "predicted": pred,
                        "correct": pred == it.answer,
                        "missing_close": missing,
                        "unparsed": pred is None and not missing,
                        "answer_text": sp.answer,
                        "raw": raw,
                    }
                )
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    k = sum(r["correct"] for r in records)
    n = len(records)
    lo, hi = wilson_ci(k, n)
    res = MCQResult(
        k / n if n else float("nan"),
        lo,
        hi,
        n,
        k,
        sum(bool(r.get("missing_close")) for r in records),
        sum(bool(r.get("unparsed")) for r in records),
        records,
    )
    if out is not None:
        from genolm.atomic import atomic_write_text

        atomic_write_text(out, "".join(json.dumps(r) + "\n" for r in records))
    return res
