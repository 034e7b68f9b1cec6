"""``genolm ls``: list what is registered."""

from __future__ import annotations

NAME = "ls"
HELP = "list tokenizers, published models, native model families, tasks or suites"
DESCRIPTION = (
    "List what genolm knows about: tokenizer schemes, the catalogue of published models (Hub id, "
    "revision, family, size, objective, context, what loading needs, LoRA or not, licence), genolm's "
    "native model families, benchmark tasks and suites, and bench recipes."
)
EXAMPLES = """
genolm ls tokenizers
genolm ls models                       # the published-model catalogue
genolm ls models --details agront-1b   # everything the catalogue says about one model
genolm ls families                     # genolm's own architectures (genolm pretrain)
genolm ls recipes                      # bench recipes (genolm bench recipe:NAME)
"""

# kind -> (module that fills the registry, attribute holding it)
KINDS = {
    "tokenizers": ("genolm.tokenizers", "TOKENIZERS"),
    "models": ("genolm.catalogue", "CATALOGUE"),
    "families": ("genolm.models", "MODELS"),
    "tasks": ("genolm.bench.tasks", "TASKS"),
    "suites": ("genolm.bench.tasks", "SUITES"),
    "recipes": ("genolm.bench.recipes", "RECIPES"),
}


def add_arguments(p):
    p.add_argument("kind", help="what to list: " + ", ".join(KINDS))
    p.add_argument("--details", metavar="NAME", help="models: every field of one catalogue entry")


def _models(details: str | None) -> int:
    import dataclasses

    from genolm.catalogue import CATALOGUE, get_entry

    if details:
        e = get_entry(details)
        for f in dataclasses.fields(e):
            v = getattr(e, f.name)
            if v not in (None, "", ()):
                print(f"{f.name:<12} {', '.join(v) if isinstance(v, tuple) else v}")
        print(f"{'pinned':<12} {e.pinned}")
        print(f"{'needs':<12} {e.needs}")
        return 0
    rows = [("name", "hub / bundled", "family", "params", "obj", "context", "needs", "LoRA", "license")]
    for n in CATALOGUE.names():
        e = CATALOGUE.get(n)
        rows.append(
            (
                e.name,
                (e.hub or f"bundled:{e.bundled}") + ("" if e.pinned else " @main"),
                e.family,
                e.params,
                e.objective,
                str(e.context),
                e.needs,
                "yes" if e.lora_able else "no",
                e.license.split(" (")[0].split(";")[0],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print("\n@main: not pinned to a commit (genolm records the commit it loads); LoRA 'no': probe or full")
    print("fine-tune instead (`genolm ls models --details NAME` says why)")
    return 0


def run(args):
    import importlib
    import sys

    from genolm.errors import ConfigError
    from genolm.registry import did_you_mean

    if args.kind not in KINDS:
        raise ConfigError(
            f"cannot list '{args.kind}'.{did_you_mean(args.kind, list(KINDS))} Choose from {', '.join(KINDS)}."
        )
    if args.kind == "models":
        return _models(args.details)
    modname, attr = KINDS[args.kind]
    try:
        reg = getattr(importlib.import_module(modname), attr)
    except (ImportError, AttributeError):
        print(f"no {args.kind} are available in this version of genolm", file=sys.stderr)
        return 3  # a broken installation, not a verdict (docs/cli.md)
    width = max((len(n) for n in reg.names()), default=4)
    for name in reg.names():
        aliases = reg.aliases_of(name)
        extra = f"  (aliases: {', '.join(aliases)})" if aliases else ""
        print(f"{name:<{width}}  {reg.help(name)}{extra}")
    return 0
