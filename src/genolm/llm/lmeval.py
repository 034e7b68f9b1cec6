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

:func:`export_kshot_task` (``export-lm-eval --from-task``) does the same for the k-shot text
classification of ``genolm biotokens eval --methods text``: a genolm task's test split, the same
shots from its training split, the same template and label words, as ``multiple_choice`` over the
label words (``OUT/<task>.yaml``, ``OUT/<task>.jsonl``, ``OUT/<task>_utils.py``).  lm-eval's
``acc`` equals eval's accuracy with ``normalize: none``; ``normalize: token`` and
``text_finetune_steps`` are refused (docs/interop.md says why).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from genolm.errors import ConfigError
from genolm.llm.extend import BiotokenSpec
from genolm.llm.mcq import LETTERS, MCQConfig, MCQItem, shots_for

_ENCODE_DNA = '''def encode_dna(seq):
    """DNA as biotokens: genolm.tokenizers.biotokens.dna_to_biotokens after BiotokenSpec.clean."""
    s = seq.upper().replace("U", "T")
    if INCLUDE_N:
        s = re.sub(r"[RYSWKMBDHV]", "N", s)
    bad = re.search("[^ACGTN]" if INCLUDE_N else "[^ACGT]", s)
    if bad is not None:
        raise ValueError(f"no biotoken for {seq[bad.start()]!r} at position {bad.start()}")
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


'''

_UTILS = '''"""process_docs for the genolm biotoken QA tasks in this folder (written by genolm {version}).

Builds genolm's multiple-choice prompt, with the DNA written as biotokens, from each question's
fields.  No genolm import is needed.
"""

import re

K = {k!r}
INCLUDE_N = {include_n!r}
PREFIX = {prefix!r}
LETTERS = {letters!r}


{encode_dna}def format_question(doc, with_answer=False):
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
        encode_dna=_ENCODE_DNA,
        version=__version__,
        k=spec.k,
        include_n=spec.include_n,
        prefix=spec.prefix,
        letters=LETTERS,
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


# --- k-shot classification (genolm biotokens eval --methods text) ---------------------------------

_KSHOT_UTILS = '''"""process_docs for the genolm k-shot task {name} (written by genolm {version}).

Builds the prompt of `genolm biotokens eval --methods text` (genolm.llm.classify.PromptClassifier),
with the DNA written as biotokens: the k solved training examples, each followed by " " and its
label word, then the test sequence's prompt.  The choices are the label words; lm-eval puts the
target delimiter " " before each, as genolm does.  No genolm import is needed.
"""

import re

K = {k!r}
INCLUDE_N = {include_n!r}
PREFIX = {prefix!r}
TEMPLATE = {template!r}
QUESTION = {question!r}
WORDS = {words!r}
BOS = {bos!r}


{encode_dna}def fill(dna):
    """genolm.llm.extend.format_prompt(TEMPLATE, dna, question=QUESTION)."""
    return TEMPLATE.replace("{{question}}", QUESTION).replace("{{dna}}", encode_dna(dna))


def prompt(doc):
    """genolm.llm.classify.PromptClassifier.context_text, after an optional BOS text."""
    shots = [fill(s["dna"]) + " " + WORDS[s["label"]] for s in doc["shots"]]
    return BOS + "\\n\\n".join(shots + [fill(doc["dna"])])


def process_docs(dataset):
    return dataset.map(lambda doc: {{"prompt": prompt(doc), "targets": list(WORDS)}})
'''


class KShotExport(NamedTuple):
    """What :func:`export_kshot_task` wrote, and the classifier whose prompts it holds."""

    yaml: Path
    classifier: Any  # genolm.llm.classify.PromptClassifier, prompts fitted (no model needed)
    test: Any  # genolm.bench.prepare.Split: the scored examples, in the data file's order


def kshot_split(cfg, *, seed: int = 0, spec: BiotokenSpec | None = None):
    """``(classifier, test split, task name)`` exactly as ``genolm biotokens eval --methods text`` builds them
    for ``cfg`` (an :class:`~genolm.llm.evaluate.LLMEvalConfig`) in run ``seed``.

    The same task (``max_bp`` / ``max_train`` / ``max_test`` / ``subset_seed`` applied), the same
    validation carve from train (so the same shot pool), the same test split; the classifier's
    prompts are fitted (:meth:`~genolm.llm.classify.PromptClassifier.fit_prompts`) without a model.
    """
    from genolm.bench.finetune import FinetuneConfig
    from genolm.bench.prepare import prepare_task
    from genolm.bench.tasks import load_task
    from genolm.llm.classify import DEFAULT_TEMPLATE, PromptClassifier, PromptConfig
    from genolm.llm.evaluate import DerivedTask

    if not cfg.task:
        raise ConfigError("a k-shot export needs a genolm task (--from-task)")
    if cfg.normalize != "none":
        raise ConfigError(
            f"normalize: {cfg.normalize} (mean log-prob per answer token) has no lm-eval counterpart "
            "(its acc sums the log-probs; acc_norm divides by the answer's length in bytes): "
            "export with --normalize none"
        )
    if cfg.text_finetune_steps:
        raise ConfigError(
            "text_finetune_steps > 0 scores a LoRA fitted inside the eval run and never saved: "
            "export with 0, or fine-tune and save a model first (genolm biotokens pretrain)"
        )
    task = DerivedTask(
        load_task(cfg.task),
        max_bp=cfg.max_bp,
        max_train=cfg.max_train,
        max_test=cfg.max_test,
        seed=cfg.subset_seed,
    )
    # the eval runs the bench with no model modes: its validation carve uses FinetuneConfig's default
    data, _ = prepare_task(task, fail_on="never", val_fraction=FinetuneConfig().val_fraction)
    pc = PromptConfig(
        template=cfg.template or DEFAULT_TEMPLATE,
        question=cfg.question,
        label_words=cfg.label_words,
        k_shot=cfg.k_shot,
        normalize=cfg.normalize,
        progress=False,
    )
    spec = spec or BiotokenSpec()
    meta = {"spec": dataclasses.asdict(spec)}
    clf = PromptClassifier(None, None, meta, task.task_type, getattr(task, "labels", None), pc, seed=seed)
    clf.fit_prompts(data.train.sequences, data.train.labels)
    return clf, data.test, task.name


def export_kshot_task(
    cfg,
    out_dir: str | Path,
    *,
    task: str | None = None,
    seed: int = 0,
    spec: BiotokenSpec | None = None,
    bos: str = "",
) -> KShotExport:
    """Write the lm-eval task for the test split of ``cfg.task`` as ``genolm biotokens eval
    --methods text`` scores it in run ``seed`` (``cfg``: an :class:`~genolm.llm.evaluate.LLMEvalConfig`;
    its ``task``, ``max_*``, ``subset_seed``, ``k_shot``, ``template``, ``question``,
    ``label_words`` apply).  ``task`` names the lm-eval task (default ``genolm_<task>_<k>shot``);
    ``spec`` the biotokens (default: single bases); ``bos`` a text put before every prompt.

    Writes ``OUT/<task>.yaml``, ``OUT/<task>.jsonl`` (id, dna, label index, the shots' dna and
    label index) and ``OUT/<task>_utils.py`` (its process_docs; one per task, so tasks exported
    with different settings can share a folder).
    """
    from genolm import __version__

    clf, test, task_name = kshot_split(cfg, seed=seed, spec=spec)
    spec = clf.spec
    y = np.asarray(test.labels)
    unknown = sorted({str(v) for v in y[~np.isin(y, clf.classes_)]})
    if unknown:
        raise ConfigError(
            f"task '{task_name}': test label(s) {', '.join(unknown)} never occur in train: "
            "no shot or answer word exists for them"
        )
    codes = np.searchsorted(clf.classes_, y)
    name = _slug(task or f"genolm_{task_name}_{cfg.k_shot}shot")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    docs = []
    for i, (sid, seq, c) in enumerate(zip(test.ids, test.sequences, codes)):
        # the prompt genolm scores must be what utils.py rebuilds; format_prompt validates the template
        clf.context_text(seq, i)
        shots = [{"dna": clf.train_[j], "label": int(clf.y_codes_[j])} for j in clf.shot_indices(i)]
        docs.append({"id": str(sid), "dna": seq, "label": int(c), "shots": shots})
    data = out / f"{name}.jsonl"
    data.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    utils = _KSHOT_UTILS.format(
        name=name,
        version=__version__,
        encode_dna=_ENCODE_DNA,
        k=spec.k,
        include_n=spec.include_n,
        prefix=spec.prefix,
        template=clf.config.template,
        question=clf.question_text(),
        words=list(clf.words_),
        bos=bos,
    )
    (out / f"{name}_utils.py").write_text(utils, encoding="utf-8")
    head = (
        f"# {len(docs)} test examples of genolm task {task_name}, {cfg.k_shot}-shot from its training split\n"
        f"# (run seed {seed}), label words {list(clf.words_)}, biotokens k={spec.k} include_n={spec.include_n}.\n"
        "# acc equals the accuracy of `genolm biotokens eval --methods text` (normalize none) when lm-eval\n"
        "# adds the BOS token genolm adds: --model_args pretrained=MODEL,add_bos_token=True"
    )
    yaml_path = out / f"{name}.yaml"
    yaml_path.write_text(
        _task_yaml(name, data, head, utils_module=f"{name}_utils", target="label", version=__version__),
        encoding="utf-8",
    )
    return KShotExport(yaml_path, clf, test)


def _task_yaml(name: str, data: Path, head: str, *, utils_module: str, target: str, version: str) -> str:
    return f"""# lm-evaluation-harness task written by genolm {version} (genolm biotokens export-lm-eval).
{head}
# The shots are inside each prompt: keep --num_fewshot 0.
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {json.dumps(str(data.resolve()))}
test_split: test
output_type: multiple_choice
process_docs: !function {utils_module}.process_docs
doc_to_text: prompt
doc_to_choice: targets
doc_to_target: {target}
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
