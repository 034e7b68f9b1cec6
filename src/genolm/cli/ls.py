"""``genolm ls``: list what is registered."""

from __future__ import annotations

NAME = "ls"
HELP = "list registered tokenizers, models, tasks or suites"
DESCRIPTION = "List what genolm knows about: tokenizer schemes, model families, tasks, suites."
EXAMPLES = """
genolm ls tokenizers
genolm ls models
"""

# kind -> (module that fills the registry, attribute holding it)
KINDS = {
    "tokenizers": ("genolm.tokenizers", "TOKENIZERS"),
    "models": ("genolm.models", "MODELS"),
    "tasks": ("genolm.bench.tasks", "TASKS"),
    "suites": ("genolm.bench.tasks", "SUITES"),
}


def add_arguments(p):
    p.add_argument("kind", help="what to list: " + ", ".join(KINDS))


def run(args):
    import importlib

    from genolm.errors import ConfigError
    from genolm.registry import did_you_mean

    if args.kind not in KINDS:
        raise ConfigError(
            f"cannot list '{args.kind}'.{did_you_mean(args.kind, list(KINDS))} Choose from {', '.join(KINDS)}."
        )
    modname, attr = KINDS[args.kind]
    try:
        reg = getattr(importlib.import_module(modname), attr)
    except (ImportError, AttributeError):
        print(f"no {args.kind} are available in this version of genolm")
        return 1
    width = max((len(n) for n in reg.names()), default=4)
    for name in reg.names():
        aliases = reg.aliases_of(name)
        extra = f"  (aliases: {', '.join(aliases)})" if aliases else ""
        print(f"{name:<{width}}  {reg.help(name)}{extra}")
    return 0
