"""``genolm biotokens``: extend a text LLM with DNA biotokens, continue pretraining with LoRA, evaluate."""

from __future__ import annotations

NAME = "biotokens"
HELP = "biotoken LLMs: extend a text LLM with ∎A ∎C ∎G ∎T, LoRA pretraining on FASTA, task / QA evaluation"
DESCRIPTION = """\
Work with a text causal LM that reads DNA as biotokens (one token per base, ∎A∎C∎G∎T).

  extend    add the biotokens to any causal LM (a folder, a .gguf file, or a folder holding one)
            and save model + tokenizer; new embedding rows (and untied output rows) are
            initialised from the model's own rows, deterministically
  encode    print DNA as biotoken text (and token ids with --model)
  pretrain  continued pretraining on FASTA/GenBank with LoRA; the biotoken rows train too
            (trainable_token_indices or modules_to_save); loss on biotokens only by default;
            the same checkpoints, exact resume and logs as `genolm pretrain`
  eval      a genolm task as text (k-shot log-likelihood, shots from train only) and/or with a
            classification head (LoRA), beside the k-mer baseline, leak-audited, MCC with CIs
  qa        multiple-choice questions from JSONL by log-likelihood or by generation; reasoning
            models are cut after the last </think>, missing closing tags are counted

An adapter written by `pretrain` loads onto the extended model or onto the un-extended base
(embeddings are resized, and the biotoken rows rebuilt, before the adapter is loaded).
`genolm biotokens ACTION --help` lists each action's flags.  Keys of a YAML config are the flags
without '--'; flags override the file."""
EXAMPLES = """
genolm biotokens extend --base ~/models/SmolLM2-135M-Instruct.Q4_1.gguf --out runs/smollm2-bio
genolm biotokens encode ACGTTGCA --model runs/smollm2-bio
genolm biotokens pretrain --model runs/smollm2-bio --corpus bundled:chloroplast --max-steps 200 --out runs/bio-cpt
genolm biotokens pretrain --model runs/smollm2-bio --corpus bundled:chloroplast --out runs/bio-cpt --resume
genolm biotokens eval --model runs/bio-cpt/final --task my_task.yaml --methods text,head --k-shot 2
genolm biotokens qa --model runs/bio-cpt/final --questions qa.jsonl --method generate --reasoning required
"""

_SUB = {
    "extend": (
        "add biotokens to a causal LM and save it",
        """
genolm biotokens extend --base runs/toy-llm --out runs/toy-bio
genolm biotokens extend --base ~/models/smollm2 --gguf-file SmolLM2-135M-Instruct.Q4_1.gguf --out runs/smollm2-bio --k 3 --include-n true
""",
    ),
    "encode": (
        "write DNA as biotokens",
        """
genolm biotokens encode ACGTNACG --include-n
genolm biotokens encode ACGTACGT --k 3 --model runs/smollm2-bio
""",
    ),
    "pretrain": (
        "continued pretraining of an extended model on FASTA/GenBank (LoRA or full)",
        """
genolm biotokens pretrain --model runs/smollm2-bio --corpus bundled:chloroplast --max-steps 200 --out runs/bio-cpt
genolm biotokens pretrain cpt.yaml --new-tokens modules_to_save --loss-on all --resume
""",
    ),
    "eval": (
        "evaluate on a genolm task (text k-shot and/or classification head) beside the k-mer baseline",
        """
genolm biotokens eval --model runs/bio-cpt/final --task my_task.yaml --methods text --k-shot 4
genolm biotokens eval eval.yaml --methods text,head --max-bp 200 --max-test 200
""",
    ),
    "qa": (
        "multiple-choice QA from JSONL (log-likelihood or generation; reasoning-aware)",
        """
genolm biotokens qa --model runs/bio-cpt/final --questions qa.jsonl
genolm biotokens qa --model runs/bio-cpt/final --questions qa.jsonl --shots train.jsonl --k-shot 3 --method generate --chat true --out qa-records.jsonl
""",
    ),
    "export-lm-eval": (
        "write QA questions, or a task's k-shot prompts, as an lm-evaluation-harness task (YAML + data + biotoken process_docs)",
        """
genolm biotokens export-lm-eval --questions qa.jsonl --model runs/bio-cpt/final --out lm-eval-tasks
genolm biotokens export-lm-eval --questions qa.jsonl --shots train.jsonl --k-shot 3 --task bio_qa_3shot --out lm-eval-tasks
genolm biotokens export-lm-eval --from-task my_task.yaml --k-shot 4 --model runs/bio-cpt/final --task my_task_4shot --out lm-eval-tasks
lm_eval --model hf --model_args pretrained=runs/bio-cpt/final,add_bos_token=True --include_path lm-eval-tasks --tasks bio_qa_3shot
""",
    ),
}


def add_arguments(p):
    from genolm.cli.common import add_dataclass_arguments, add_subverbs
    from genolm.llm.evaluate import LLMEvalConfig
    from genolm.llm.extend import ExtendConfig
    from genolm.llm.mcq import MCQConfig
    from genolm.llm.pretrain import BiotokenPretrainConfig

    subs = add_subverbs(p, _SUB)
    for action, cls in (
        ("extend", ExtendConfig),
        ("pretrain", BiotokenPretrainConfig),
        ("eval", LLMEvalConfig),
    ):
        subs[action].add_argument("config", nargs="?", help="YAML config file (optional)")
        if action == "pretrain":
            subs[action].add_argument(
                "--resume", action="store_true", help="continue from the latest checkpoint"
            )
            subs[action].add_argument(
                "--overwrite", action="store_true", help="delete what out_dir holds first"
            )
        add_dataclass_arguments(subs[action], cls)
    e = subs["encode"]
    e.add_argument("dna", help="the DNA sequence")
    e.add_argument("--k", type=int, default=None, help="k-mer biotokens (default 1, or the model's)")
    e.add_argument("--include-n", action="store_true", default=None, help="write N as ∎N")
    e.add_argument("--model", help="an extended model or adapter folder: print token ids too")
    q = subs["qa"]
    q.add_argument("--model", required=True, help="an extended model or adapter folder")
    q.add_argument("--base", help="for an adapter: the model to load it onto (default: its own base)")
    q.add_argument("--questions", required=True, help="JSONL: question, choices, answer (and id, dna)")
    q.add_argument("--shots", help="JSONL of solved examples for --k-shot (never the scored file)")
    q.add_argument(
        "--out", help="write one JSON record per question here (raw generations for audit); '-': stdout"
    )
    q.add_argument("--trust-remote-code", action="store_true", help="run code shipped with the model")
    add_dataclass_arguments(q, MCQConfig)
    x = subs["export-lm-eval"]
    x.add_argument("--questions", help="JSONL: question, choices, answer (and id, dna); or --from-task")
    x.add_argument("--shots", help="JSONL of solved examples for --k-shot (never the scored file)")
    x.add_argument("--out", required=True, help="folder for TASK.yaml, TASK.jsonl and utils.py")
    k = x.add_argument_group(
        "k-shot classification (--from-task): the test split as `genolm biotokens eval --methods text` scores it"
    )
    k.add_argument(
        "--from-task", metavar="TASK", help="a genolm task name or YAML path (instead of --questions)"
    )
    for flag in ("template", "question", "normalize", "max-bp", "max-train", "max-test", "subset-seed"):
        k.add_argument(f"--{flag}", metavar="VALUE", help=f"as {flag} of `genolm biotokens eval`")
    k.add_argument("--label-words", action="append", metavar="WORD", help="one per class, in class order")
    x.add_argument("--task", help="lm-eval task name (default: genolm_ + the questions file name)")
    x.add_argument("--model", help="an extended model or adapter folder: use its biotokens (k, N)")
    x.add_argument("--k", type=int, default=None, help="k-mer biotokens without --model (default 1)")
    x.add_argument("--include-n", action="store_true", default=None, help="write N as ∎N (without --model)")
    x.add_argument("--bos", default="", help="text put before every prompt, e.g. '<s>' (default: none)")
    add_dataclass_arguments(x, MCQConfig)


def run(args):
    import json

    action = getattr(args, "action", None)
    if action is None:
        raise SystemExit(
            "genolm biotokens: choose an action: extend, encode, pretrain, eval, qa, export-lm-eval (see --help)"
        )
    return {
        "extend": _extend,
        "encode": _encode,
        "pretrain": _pretrain,
        "eval": _eval,
        "qa": _qa,
        "export-lm-eval": _export_lm_eval,
    }[action](args, json)


def _overrides(args, cls) -> dict:
    """The flags the user set; list flags accept commas as well as repetition (--methods text,head)."""
    from genolm.cli.common import dataclass_overrides

    over = dataclass_overrides(args, cls)
    for k in ("methods", "baselines", "label_words", "lora_target_modules"):
        if isinstance(over.get(k), list):
            over[k] = [x for v in over[k] for x in str(v).split(",") if x]
    return over


def _extend(args, json):
    from genolm import config as C
    from genolm.cli.common import dataclass_overrides
    from genolm.llm.extend import ExtendConfig, extend_model

    cfg = C.load(ExtendConfig, args.config, dataclass_overrides(args, ExtendConfig))
    res = extend_model(cfg)
    print(
        json.dumps(
            {
                "out_dir": str(res.out_dir),
                "added_tokens": len(res.tokens),
                "first_tokens": res.tokens[:4],
                "token_ids": [res.token_ids[0], res.token_ids[-1]],
                "vocab_before": res.vocab_before,
                "embedding_rows": [res.rows_before, res.rows_after],
                "tied_embeddings": res.tied,
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    return 0


def _encode(args, json):
    from genolm.llm.extend import BiotokenSpec, encode_dna, read_meta, spec_of

    spec = BiotokenSpec(k=args.k or 1, include_n=bool(args.include_n))
    tok = None
    if args.model:
        from transformers import AutoTokenizer

        meta = read_meta(args.model)
        if meta is None:
            from genolm.errors import InputError

            raise InputError("not a biotoken model folder (no genolm_biotokens.json)", path=args.model)
        spec = spec_of(meta)
        tok = AutoTokenizer.from_pretrained(args.model)
    text = encode_dna(args.dna, spec=spec)
    out = {"text": text}
    if tok is not None:
        out["ids"] = encode_dna(args.dna, tok, spec=spec)
    print(json.dumps(out, ensure_ascii=False))
    return 0


def _pretrain(args, json):
    from genolm import config as C
    from genolm.cli.common import end_distributed
    from genolm.llm.pretrain import BiotokenPretrainConfig, continue_pretraining

    cfg = C.load(BiotokenPretrainConfig, args.config, _overrides(args, BiotokenPretrainConfig))
    try:
        result = continue_pretraining(cfg, resume=args.resume, overwrite=args.overwrite)
    finally:
        end_distributed()
    print(json.dumps(result, indent=2, default=str))
    return 0


def _eval(args, json):
    from genolm import config as C
    from genolm.llm.evaluate import LLMEvalConfig, evaluate_task

    cfg = C.load(LLMEvalConfig, args.config, _overrides(args, LLMEvalConfig))
    res = evaluate_task(cfg)
    rows = [
        {k: e.get(k) for k in ("name", "kind", "mode", "mean", "ci_low", "ci_high", "vs_kmer")}
        for e in res.get("entries", [])
    ]
    print(
        json.dumps(
            {
                "task": res.get("task"),
                "metric": res.get("metric"),
                "audit": res.get("audit"),
                "entries": rows,
                "out_dir": cfg.out_dir,
            },
            indent=2,
            default=str,
        )
    )
    return 0


def _qa(args, json):
    from pathlib import Path

    from genolm import config as C
    from genolm.cli.common import dataclass_overrides
    from genolm.llm.adapters import load_biotoken_model
    from genolm.llm.extend import read_meta, spec_of
    from genolm.llm.mcq import MCQConfig, check_dna, evaluate_mcq, load_mcq

    cfg = C.load(MCQConfig, None, dataclass_overrides(args, MCQConfig))
    items = load_mcq(args.questions)
    shots = load_mcq(args.shots) if args.shots else []
    if Path(args.model).is_dir():  # every 'dna' written as biotokens before the model loads
        meta = read_meta(args.model)
        check_dna([*items, *shots], spec_of(meta) if meta else None)
    model, tok, meta = load_biotoken_model(
        args.model, base=args.base, trust_remote_code=args.trust_remote_code
    )
    from genolm.cli.common import output_file, status_stream

    with output_file(args.out, ".jsonl") as out:  # '-': the records stream to stdout
        res = evaluate_mcq(
            model, tok, items, cfg, shots=shots, spec=spec_of(meta) if meta else None, out=out, progress=True
        )
    print(json.dumps(res.summary(), indent=2), file=status_stream(args.out))
    return 0


def _export_lm_eval(args, json):
    from pathlib import Path

    from genolm import config as C
    from genolm.cli.common import dataclass_overrides
    from genolm.errors import ConfigError, InputError
    from genolm.llm.extend import BiotokenSpec, read_meta, spec_of
    from genolm.llm.lmeval import export_mcq_task
    from genolm.llm.mcq import MCQConfig, check_dna, load_mcq

    spec = BiotokenSpec(k=args.k or 1, include_n=bool(args.include_n))
    if args.model:
        meta = read_meta(args.model)
        if meta is None:
            raise InputError("not a biotoken model folder (no genolm_biotokens.json)", path=args.model)
        spec = spec_of(meta)
    if bool(args.questions) == bool(args.from_task):
        raise ConfigError("export-lm-eval: give --questions (QA) or --from-task (k-shot classification)")
    if args.from_task:
        return _export_kshot(args, json, spec)
    cfg = C.load(MCQConfig, None, dataclass_overrides(args, MCQConfig))
    items = load_mcq(args.questions)
    shots = load_mcq(args.shots) if args.shots else []
    check_dna([*items, *shots], spec)
    task = args.task or f"genolm_{Path(args.questions).stem}"
    yaml_path = export_mcq_task(items, args.out, task=task, cfg=cfg, shots=shots, spec=spec, bos=args.bos)
    name = yaml_path.stem
    model = args.model or "MODEL"
    print(
        json.dumps(
            {
                "task": name,
                "yaml": str(yaml_path),
                "questions": len(items),
                "k_shot": cfg.k_shot,
                "lm_eval": f"lm_eval --model hf --model_args pretrained={model},add_bos_token=True "
                f"--include_path {args.out} --tasks {name}",
            },
            indent=2,
        )
    )
    return 0


def _export_kshot(args, json, spec):
    from genolm import config as C
    from genolm.llm.evaluate import LLMEvalConfig
    from genolm.llm.lmeval import export_kshot_task

    keys = ("k_shot", "template", "question", "label_words", "normalize", "max_bp", "max_train", "max_test")
    keys += ("subset_seed",)
    over = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    cfg = C.from_dict(LLMEvalConfig, {"task": args.from_task, **over}, source="command line")
    res = export_kshot_task(cfg, args.out, task=args.task, seed=int(args.seed or 0), spec=spec, bos=args.bos)
    name = res.yaml.stem
    model = args.model or "MODEL"
    print(
        json.dumps(
            {
                "task": name,
                "yaml": str(res.yaml),
                "examples": len(res.test.sequences),
                "k_shot": cfg.k_shot,
                "label_words": list(res.classifier.words_),
                "lm_eval": f"lm_eval --model hf --model_args pretrained={model},add_bos_token=True "
                f"--include_path {args.out} --tasks {name}",
            },
            indent=2,
        )
    )
    return 0
