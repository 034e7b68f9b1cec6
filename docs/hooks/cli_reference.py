"""mkdocs hook: write ``reference/cli.md`` from ``genolm.cli.main.build_parser()`` at build time.

Every verb (and every ``biotokens`` sub-verb) gets its ``--help`` text, as the parser prints it, and
the one Python function it calls (:data:`ENTRY_POINTS`).  The page is generated on every build, so
it cannot drift from the parsers; a verb without an entry point here, an entry point that no longer
imports, or one that the verb's module no longer names, stops the (strict) build.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

PAGE = "reference/cli.md"

#: verb -> the Python function it calls (module.function)
ENTRY_POINTS = {
    "audit": "genolm.bench.audit.audit_splits",
    "bench": "genolm.bench.runner.run_bench",
    "biotokens extend": "genolm.llm.extend.extend_model",
    "biotokens encode": "genolm.llm.extend.encode_dna",
    "biotokens pretrain": "genolm.llm.pretrain.continue_pretraining",
    "biotokens eval": "genolm.llm.evaluate.evaluate_task",
    "biotokens qa": "genolm.llm.mcq.evaluate_mcq",
    "biotokens export-lm-eval": "genolm.llm.lmeval.export_mcq_task",
    "db build": "genolm.db.store.build_db",
    "db query": "genolm.db.store.open_db",
    "db add": "genolm.db.store.add_to_db",
    "db delete": "genolm.db.store.delete_from_db",
    "db info": "genolm.db.store.open_db",
    "db compact": "genolm.db.store.compact_db",
    "db pairs": "genolm.db.pairs.mine_pairs",
    "eval-variants": "genolm.variants.pipeline.eval_variants",
    "compress": "genolm.compress.compress",
    "export": "genolm.export.export_onnx",
    "ism": "genolm.variants.ism.run_ism",
    "ls": "genolm.catalogue.get_entry",
    "make-task": "genolm.bench.maketask.make_task",
    "make-vep-set": "genolm.variants.pipeline.make_vep_set",
    "predict": "genolm.edge.predict_reads",
    "pretrain": "genolm.train.pretrain.pretrain",
    "report": "genolm.bench.report.write_report",
    "resplit": "genolm.bench.audit.resplit",
    "score-variants": "genolm.variants.pipeline.score_vcf",
    "tokenize": "genolm.tokenstats.compare_schemes",
    "train-embedder": "genolm.train.contrastive.train_embedder",
    "train-tokenizer": "genolm.tokenizers.bpe.train_bpe",
    "validate": "genolm.bench.tasks.validate_task",
}
#: entry points rendered on the API pages (linked); the others are shown as code
API_PAGES = (
    "genolm.bench.runner.",
    "genolm.bench.audit.",
    "genolm.bench.report.",
    "genolm.bench.maketask.",
    "genolm.variants.",
    "genolm.llm.",
    "genolm.tokenizers.",
)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _verbs(parser, prefix=()):
    """(words, parser, verb module) for every verb, depth first, sub-verbs after their verb."""
    for name, sub in _subparsers(parser).items():
        words = (*prefix, name)
        yield words, sub
        yield from _verbs(sub, words)


def _check_entry_point(verb: str, parser) -> str:
    target = ENTRY_POINTS.get(verb)
    if target is None:
        raise PluginError(
            f"CLI reference: verb 'genolm {verb}' has no Python entry point; add it to ENTRY_POINTS in "
            f"docs/hooks/cli_reference.py"
        )
    module_name, _, func = target.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), func)
    except (ImportError, AttributeError) as e:
        raise PluginError(
            f"CLI reference: entry point {target} of 'genolm {verb}' does not import: {e}"
        ) from e
    run = parser.get_default("_run")
    if run is not None:
        src = inspect.getsource(inspect.getmodule(run))
        if func not in src:
            raise PluginError(
                f"CLI reference: 'genolm {verb}' ({run.__module__}) no longer calls {func}; "
                f"update ENTRY_POINTS in docs/hooks/cli_reference.py"
            )
    if not callable(obj):
        raise PluginError(f"CLI reference: entry point {target} of 'genolm {verb}' is not callable")
    return target


def render() -> str:
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal width: fix it for a stable page
    from genolm.cli.main import build_parser

    parser = build_parser()
    parser.prog = "genolm"
    out = [
        "# CLI reference",
        "",
        "Generated from the parsers (`genolm.cli.main.build_parser()`) when the site is built: every",
        "verb's `--help`, and the Python function it calls. The conventions shared by every verb are on",
        "[CLI conventions](../cli.md).",
        "",
        "| verb | Python entry point |",
        "|---|---|",
    ]
    sections = []
    verbs = list(_verbs(parser))
    for words, sub in verbs:
        verb = " ".join(words)
        if _subparsers(sub):  # a group of sub-verbs (biotokens): each sub-verb has its own entry
            target = None
        else:
            target = _check_entry_point(verb, sub)
        anchor = "genolm-" + "-".join(words)
        if target:
            ref = f"[`{target}`][{target}]" if target.startswith(API_PAGES) else f"`{target}`"
            out.append(f"| [`genolm {verb}`](#{anchor}) | {ref} |")
        sub.prog = f"genolm {verb}"
        sections += [
            f"## `genolm {verb}` {{#{anchor}}}",
            "",
            f"Python: `{target}`" if target else "A group of sub-verbs, listed below.",
            "",
            "```text",
            sub.format_help().rstrip(),
            "```",
            "",
        ]
    extra = sorted(set(ENTRY_POINTS) - {" ".join(w) for w, s in verbs if not _subparsers(s)})
    if extra:
        raise PluginError(f"CLI reference: ENTRY_POINTS names verbs the CLI does not have: {extra}")
    out += ["", "## `genolm`", "", "```text", parser.format_help().rstrip(), "```", "", *sections]
    return "\n".join(out) + "\n"


def on_files(files, config):
    files.append(File.generated(config, PAGE, content=render()))
    return files
