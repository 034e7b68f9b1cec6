"""Scoring choices by log-likelihood, reasoning-aware generative evaluation, multiple-choice JSONL."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genolm.errors import InputError


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from genolm.llm.toy import build_toy_llm

    d = build_toy_llm(tmp_path_factory.mktemp("toy") / "m", hidden_size=64, seed=7)
    return AutoModelForCausalLM.from_pretrained(d).eval(), AutoTokenizer.from_pretrained(d)


def test_cached_scoring_equals_full_scoring(toy):
    from genolm.llm.scoring import choice_logprobs

    model, tok = toy
    ctx = [tok.bos_token_id] + tok("Question: which one? Answer:", add_special_tokens=False)["input_ids"]
    conts = [tok(" " + w, add_special_tokens=False)["input_ids"] for w in ("lncRNA", "mRNA", "protein", "A")]
    assert len({len(c) for c in conts}) > 1  # different lengths exercise the padding
    a, na = choice_logprobs(model, ctx, conts, method="cache")
    b, nb = choice_logprobs(model, ctx, conts, method="full")
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert na.tolist() == [len(c) for c in conts]
    # and the full method is the plain definition: sum of next-token log-probs
    ids = torch.tensor([ctx + conts[1]])
    with torch.no_grad():
        lp = torch.log_softmax(model(input_ids=ids).logits[0], -1)
    want = sum(float(lp[len(ctx) - 1 + j, t]) for j, t in enumerate(conts[1]))
    assert b[1] == pytest.approx(want, abs=1e-5)


def test_split_reasoning():
    from genolm.llm.scoring import split_reasoning

    s = split_reasoning("<think>A? </think> no <think>B?</think> C")
    assert s.answer == "C" and s.closed and s.opened  # cut after the *last* closing tag
    s = split_reasoning("<think>A, or maybe")
    assert s.answer == "" and s.opened and not s.closed  # no answer, never a guess
    assert split_reasoning("B").answer == "B"  # a model that does not reason
    # a chat template that pre-fills <think> in the prompt: the generation starts inside reasoning
    s = split_reasoning("A is tempting", prompt="...<|assistant|><think>\n")
    assert not s.closed and s.opened and s.answer == ""
    assert split_reasoning("B", policy="required").opened  # a reasoning model must close
    s = split_reasoning("[[A]] [/reason] B", end="[/reason]", start="[[")
    assert s.answer == "B"
    assert split_reasoning("<think>x</think> B", policy="off").answer == "<think>x</think> B"


def test_parse_choice_and_wilson():
    from genolm.llm.mcq import parse_choice
    from genolm.llm.scoring import wilson_ci

    ch = ["adenine", "guanine", "cytosine"]
    assert parse_choice("The answer is B.", ch) == 1
    assert parse_choice("Answer: (c)", ch) == 2
    assert parse_choice("A. adenine", ch) == 0
    assert parse_choice("It must be guanine", ch) == 1
    assert parse_choice("adenine or guanine", ch) is None  # names two: unparsed, not the first
    assert parse_choice("I do not know", ch) is None
    lo, hi = wilson_ci(8, 10)
    assert 0.49 < lo < 0.5 and 0.94 < hi < 0.95  # 0.4902, 0.9433
    assert wilson_ci(0, 5)[0] == 0.0 and wilson_ci(5, 5)[1] == 1.0


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_mcq_jsonl_errors_name_file_and_line(tmp_path):
    from genolm.llm.mcq import load_mcq

    good = {"question": "Q?", "choices": ["x", "y"], "answer": 1}
    items = load_mcq(
        _write(
            tmp_path / "ok.jsonl",
            [good, "", {**good, "answer": "A", "id": "q9"}, {**good, "answer": "y", "dna": "ACGT"}],
        )
    )
    assert [(i.id, i.answer, i.line) for i in items] == [("line1", 1, 1), ("q9", 0, 3), ("line4", 1, 4)]
    cases = [
        ('{"question": "Q?", "choices": ["x", "y"], "answer": 1', "not valid JSON"),
        ({"question": "Q?", "choices": ["x", "y"], "answr": 1}, "Did you mean 'answer'"),
        ({"question": "Q?", "choices": ["x"], "answer": 0}, "at least 2"),
        ({"question": "Q?", "choices": ["x", "y"], "answer": 2}, "neither an index 0..1, a letter A..B"),
        ({"question": "Is {dna} coding?", "choices": ["x", "y"], "answer": 0}, "no 'dna'"),
        ([1, 2], "expected a JSON object"),
    ]
    for row, msg in cases:
        p = _write(tmp_path / "bad.jsonl", [good, row])
        with pytest.raises(InputError, match=rf"bad\.jsonl, line 2: .*{msg}"):
            load_mcq(p)
    with pytest.raises(InputError, match="line 2: id 'a' repeats line 1"):
        load_mcq(_write(tmp_path / "dup.jsonl", [{**good, "id": "a"}, {**good, "id": "a"}]))


def test_loglik_mcq_with_dna_and_shots(toy, tmp_path):
    from genolm.llm.mcq import MCQConfig, MCQItem, build_prompt, evaluate_mcq, load_mcq

    model, tok = toy
    items = load_mcq(
        _write(
            tmp_path / "q.jsonl",
            [
                {
                    "id": f"q{i}",
                    "question": "Which base comes first?",
                    "dna": "ACGT",
                    "choices": ["C", "A", "T"],
                    "answer": 1,
                }
                for i in range(5)
            ],
        )
    )
    shots = [MCQItem("s1", "Pick two.", ["one", "two"], 1, None, 1)]
    prompt = build_prompt(items[0], shots, MCQConfig(k_shot=1), tok)
    assert prompt.startswith("Question: Pick two.\nA. one\nB. two\nAnswer: B\n\nSequence: \u220eA\u220eC")
    res = evaluate_mcq(model, tok, items, MCQConfig(k_shot=1), shots=shots, out=tmp_path / "rec.jsonl")
    assert res.n == 5 and 0 <= res.ci_low <= res.accuracy <= res.ci_high <= 1
    recs = [json.loads(x) for x in (tmp_path / "rec.jsonl").read_text().splitlines()]
    assert [r["id"] for r in recs] == [f"q{i}" for i in range(5)] and len(recs[0]["logprobs"]) == 3
    # identical prompts give identical scores: the prediction is the argmax of the recorded log-probs
    assert all(r["predicted"] == int(np.argmax(r["logprobs"])) for r in recs)
    # shots must not come from the scored questions
    with pytest.raises(InputError, match="also shots"):
        evaluate_mcq(model, tok, items, MCQConfig(k_shot=1), shots=items[:2])


def _memorise(model, tok, pairs, steps=400):
    """Teach the toy model to answer each prompt with a fixed text (greedy decoding reproduces it)."""
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = 0
        for prompt, out in pairs:
            ctx = [tok.bos_token_id] + tok(prompt, add_special_tokens=False)["input_ids"]
            x = torch.tensor([ctx + tok(out, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]])
            lab = x.clone()
            lab[0, : len(ctx)] = -100
            loss = loss + model(input_ids=x, labels=lab).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if float(loss.detach()) < 0.01:
            break
    model.eval()


def test_generative_eval_waits_for_the_closing_think_tag(tmp_path):
    """A toy 'reasoning model': its reasoning mentions a wrong answer first.  Scored on the text
    after the last </think> it is right; a missing </think> is counted and scored wrong."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from genolm.llm.mcq import MCQConfig, MCQItem, build_prompt, evaluate_mcq
    from genolm.llm.toy import build_toy_llm

    d = build_toy_llm(tmp_path / "r", hidden_size=64, seed=1)
    model, tok = AutoModelForCausalLM.from_pretrained(d), AutoTokenizer.from_pretrained(d)
    items = [
        MCQItem("q1", "Which one is correct?", ["one", "two"], 1, None, 1),
        MCQItem("q2", "Which one is true?", ["yes", "no"], 0, None, 2),
    ]
    outs = ["<think> Answer: A? No, not A.</think> B", "<think> The answer is A, or"]
    cfg = MCQConfig(method="generate", max_new_tokens=24)
    _memorise(model, tok, [(build_prompt(it, [], cfg, tok), o) for it, o in zip(items, outs)])
    res = evaluate_mcq(model, tok, items, cfg, out=tmp_path / "gen.jsonl")
    r1, r2 = res.records
    assert r1["raw"].strip() == outs[0] and r2["raw"].strip() == outs[1]  # raw text kept for audit
    assert r1["predicted"] == 1 and r1["correct"] and r1["answer_text"] == "B"
    assert r2["missing_close"] and r2["predicted"] is None and not r2["correct"]
    assert (res.n_correct, res.n_missing_close, res.n_unparsed) == (1, 1, 0)
    # the bug this guards against: reading the answer without waiting for </think> gets q1 wrong
    # (it finds "Answer: A" in the reasoning) and credits q2 with a guess from unfinished reasoning
    off = evaluate_mcq(model, tok, items, MCQConfig(method="generate", max_new_tokens=24, reasoning="off"))
    assert [r["predicted"] for r in off.records] == [0, 0] and off.n_missing_close == 0


def test_cli_qa(tmp_path, capsys):
    from genolm.cli.main import main
    from genolm.llm.toy import build_toy_llm

    d = build_toy_llm(tmp_path / "m", seed=2)
    q = _write(
        tmp_path / "qa.jsonl",
        [{"question": f"Q{i}?", "choices": ["x", "y"], "answer": i % 2} for i in range(4)],
    )
    rec = tmp_path / "rec.jsonl"
    assert main(["biotokens", "qa", "--model", str(d), "--questions", str(q), "--out", str(rec)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 4 and out["n_correct"] == sum(
        json.loads(x)["correct"] for x in rec.read_text().splitlines()
    )
    bad = _write(tmp_path / "bad.jsonl", [{"question": "Q?", "choices": ["x", "y"], "answer": 0}, "{oops"])
    assert main(["biotokens", "qa", "--model", str(d), "--questions", str(bad)]) == 2
    assert "bad.jsonl, line 2: not valid JSON" in capsys.readouterr().err
