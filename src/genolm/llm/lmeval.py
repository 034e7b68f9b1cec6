"""Export biotoken multiple-choice QA as an lm-evaluation-harness task (``genolm biotokens export-lm-eval``).

The export is a folder lm-eval reads with ``--include_path``::

    OUT/<task>.yaml     the task: output_type multiple_choice, the data file, metric acc
    OUT/<task>.jsonl    the questions as genolm reads them (question, dna, choices, answer as an
                        index), each with the solved examples genolm's k-shot prompt shows it
    OUT/utils.py        process_docs: writes the DNA as biotokens and builds genolm's prompt
                        (plain Python, no genolm import; the biotoken settings are constants in it)

Scored with lm-eval's ``loglikelihood`` on the same model, the accuracy equals
``genolm biotokens qa --method loglik`` on the same questions: the prompt is genolm's prompt
(:func:`genolm.llm.mcq.build_prompt`, the same k shots per question, drawn with the same seed),
the continuations are `` A`` / `` B`` / ... (or `` <choice text>``), and both take the most likely.
Two settings must match on the lm-eval side:

* ``num_fewshot`` stays 0 (the shots are already in the prompt; lm-eval's own sampler would
  draw others);
* genolm puts the tokenizer's BOS token before the prompt when it has one: pass
  ``add_bos_token=True`` in ``--model_args``, or export with ``bos=`` the BOS text, which is then
  written at the start of every prompt.

``method: generate`` and ``chat: true`` have no exact lm-eval counterpart here and are refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from genolm.errors import ConfigError
from genolm.llm.extend import BiotokenSpec
from genolm.llm.mcq import LETTERS, MCQConfig, MCQItem, shots_for

_UTILS = '''"""process_docs for the genolm biotoken QA tasks in this folder (written by genolm {version}).

Builds genolm's multiple-choice prompt, with the DNA written as biotokens, from each question's
fields.  No genolm import is needed.
"""

import re

K = {k!r}
INCLUDE_N = {include_n!r}
PREFIX = {prefix!r}
LETTERS = {letters!r}


def encode_dna(seq):
    """DNA as biotokens: genolm.tokenizers.biotokens.dna_to_biotokens after BiotokenSpec.clean."""
    s = seq.upper().replace("U", "T")
    if INCLUDE_N:
        s = re.sub(r"[RYSWKMBDHV]", "N", s)
    bad = re.search("[^ACGTN]" if INCLUDE_N else "[^ACGT]", s)
    if bad is not None:
        raise ValueError(f"no biotoken for {{seq[bad.start()]!r}} at position {{bad.start()}}")
    if K == 1:
        units = list(s)
    else:
        units = []
        for m in re.finditer(r"[ACGT]+|N", s):
            run = m.group()
            n = len(run) // K * K
            units.extend(run[i : i + K] for i in range(0, n, K))
            units.extend(run[n:])
    return "".join(PREFIX + u for u in units)


def format_question(doc, with_answer=False):
    """genolm.llm.mcq.format_question."""
    q, head = doc["question"], ""
    if doc.get("dna") is not None:
        bio = encode_dna(doc["dna"])
        if "{{dna}}" in q:
            q = q.replace("{{dna}}", bio)
        else:
            head = "Sequence: " + bio + "\\n"
    lines = [head + "Question: " + q] + [LETTERS[i] + ". " + c for i, c in enumerate(doc["choices"])]
    text = "\\n".join(lines) + "\\nAnswer:"
    if with_answer:
        text += " " + LETTERS[doc["answer"]]
    return text


def prompt(doc, bos, answer_prefix):
    """genolm.llm.mcq.build_prompt (method loglik, no chat template), after an optional BOS text."""
    parts = [format_question(s, with_answer=True) for s in doc["shots"]] + [format_question(doc)]
    return bos + "\\n\\n".join(parts) + answer_prefix


def process_docs(dataset):
    def one(doc):
        scored = doc["choices"] if doc["choice_format"] == "text" else list(LETTERS[: len(doc["choices"])])
        return {{"prompt": prompt(doc, doc["bos"], doc["answer_prefix"]), "targets": scored}}

    return dataset.map(one)
'''


def _slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")
    return s or "task"


def _doc(item: MCQItem, shots: Sequence[MCQItem], cfg: MCQConfig, bos: str) -> dict:
    def fields(it: MCQItem) -> dict:
        return {"question": it.question, "dna": it.dna, "choices": it.choices, "answer": it.answer}

    return {
        "id": item.id,
        **fields(item),
        "shots": [fields(s) for s in shots],
        "choice_format": cfg.choice_format,
        "answer_prefix": cfg.answer_prefix,
        "bos": bos,
    }


def export_mcq_task(
    items: Sequence[MCQItem],
    out_dir: str | Path,
    *,
    task: str,
    cfg: MCQConfig | None = None,
    shots: Sequence[MCQItem] = (),
    spec: BiotokenSpec | None = None,
    bos: str = "",
) -> Path:
    """Write the lm-eval task for ``items`` into ``out_dir``; returns the YAML's path.

    ``cfg`` gives ``k_shot``, ``seed``, ``choice_format`` and ``answer_prefix`` as for
    :func:`genolm.llm.mcq.evaluate_mcq`; ``shots`` is the separate file the k shots come from;
    ``spec`` the biotokens (default: single bases); ``bos`` an optional text put before every
    prompt (see the module docstring).
    """
    from genolm import __version__

    cfg = cfg or MCQConfig()
    spec = spec or BiotokenSpec()
    if cfg.method != "loglik":
        raise ConfigError(
            "export-lm-eval writes log-likelihood tasks only: use --method loglik "
            "(generated answers are parsed by genolm's own rules, which lm-eval has no filter for)"
        )
    if cfg.chat:
        raise ConfigError(
            "export-lm-eval cannot reproduce chat: true exactly; export without it and run lm-eval "
            "with --apply_chat_template if you want a chat prompt there"
        )
    ids = {s.id for s in shots}
    overlap = [it.id for it in items if it.id in ids]
    if cfg.k_shot and overlap:
        raise ConfigError(
            f"{len(overlap)} scored question(s) are also shots (id '{overlap[0]}'): draw shots from a separate file"
        )
    name = _slug(task)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = out / f"{name}.jsonl"
    docs = [_doc(it, shots_for(i, shots, cfg.k_shot, cfg.seed), cfg, bos) for i, it in enumerate(items)]
    data.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    utils = _UTILS.format(
        version=__version__, k=spec.k, include_n=spec.include_n, prefix=spec.prefix, letters=LETTERS
    )
    (out / "utils.py").write_text(utils, encoding="utf-8")
    yaml_path = out / f"{name}.yaml"
    yaml_path.write_text(_yaml(name, data, cfg, spec, n=len(items), version=__version__), encoding="utf-8")
    return yaml_path


def _yaml(name: str, data: Path, cfg: MCQConfig, spec: BiotokenSpec, *, n: int, version: str) -> str:
    # written by hand (not yaml.dump): lm-eval needs the `!function` tag, and the comments matter
    return f"""# lm-evaluation-harness task written by genolm {version} (genolm biotokens export-lm-eval).
# {n} questions, {cfg.k_shot}-shot (the shots are inside each prompt: keep --num_fewshot 0),
# biotokens k={spec.k} include_n={spec.include_n}.  Accuracy equals `genolm biotokens qa --method loglik`
# when lm-eval adds the BOS token genolm adds: --model_args pretrained=MODEL,add_bos_token=True
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {json.dumps(str(data.resolve()))}
test_split: test
output_type: multiple_choice
process_docs: !function utils.process_docs
doc_to_text: prompt
doc_to_choice: targets
doc_to_target: answer
target_delimiter: " "
fewshot_delimiter: "\\n\\n"
num_fewshot: 0
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
  genolm_version: {json.dumps(version)}
"""
