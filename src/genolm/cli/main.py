"""Entry point of the ``genolm`` command: discovers verb modules in ``genolm.cli``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import textwrap
import traceback

import genolm

_NOT_VERBS = {"main", "common"}


def _verb_modules():
    import genolm.cli as pkg

    mods = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_") or info.name in _NOT_VERBS:
            continue
        mod = importlib.import_module(f"genolm.cli.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            mods.append(mod)
    return sorted(mods, key=lambda m: m.NAME)


def build_parser(full: set[str] | None = None) -> argparse.ArgumentParser:
    """The ``genolm`` parser.  ``full``: the verbs whose arguments are added (default: every verb).

    Adding a verb's arguments can import the library behind it (its config dataclass): ``main``
    adds only the verb on the command line, so ``genolm --help`` and a verb's ``--help`` stay quick.
    """
    parser = argparse.ArgumentParser(
        prog="genolm",
        description="genolm: one toolkit for genomic language models.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent(
            """\
            examples:
              genolm tokenize                       # compare every tokenizer on the bundled lambda genome
              genolm ls tokenizers
              genolm <verb> --help                  # every verb ends its help with runnable examples
            """
        ),
    )
    parser.add_argument("--version", action="version", version=f"genolm {genolm.__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="debug log lines, and the full traceback when a command fails",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        dest="log_quiet",
        action="store_true",
        help="no progress bars or info lines; warnings, errors and results still print",
    )
    sub = parser.add_subparsers(dest="verb", metavar="<verb>")
    for mod in _verb_modules():
        examples = textwrap.dedent(getattr(mod, "EXAMPLES", "")).strip("\n")
        p = sub.add_parser(
            mod.NAME,
            help=mod.HELP,
            description=getattr(mod, "DESCRIPTION", mod.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            epilog=("examples:\n" + textwrap.indent(examples, "  ")) if examples else None,
        )
        if full is not None and mod.NAME not in full:
            continue
        mod.add_arguments(p)
        # also accepted after the verb (`genolm bench -v ...`); SUPPRESS keeps the global flag's value
        p.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        quiet_flags = [f for f in ("-q", "--quiet") if f not in p._option_string_actions]  # bench has --quiet
        p.add_argument(
            *quiet_flags,
            dest="log_quiet",
            action="store_true",
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one verb.  Exit codes (docs/cli.md): 0 done, 1 a verdict (``audit`` reaching
    ``--fail-on``, ``validate`` finding problems, ``bench`` refusing a leaky task), 2 bad input,
    configuration or usage (a one-paragraph message, no traceback; argparse also exits 2), 3 an
    unexpected error (a bug: ``-v`` prints its traceback), 130 interrupted."""
    import os

    argv = sys.argv[1:] if argv is None else list(argv)
    tqdm_env = os.environ.get("TQDM_DISABLE")
    if "-q" in argv or "--quiet" in argv:
        # tqdm reads its TQDM_* defaults once, when it is imported (building the parser imports it):
        # set before that, this turns every progress bar off, whichever library draws it
        os.environ["TQDM_DISABLE"] = "1"
    parser = build_parser(full=set(argv))  # the verb is one of the words; only it gets its arguments
    try:
        args = parser.parse_args(argv)
    except SystemExit:  # usage error (2) or --help (0): leave the environment as it was
        _restore_env(tqdm_env)
        raise
    args._argv = list(argv)  # recorded by verbs that keep provenance (bench.json)
    if not getattr(args, "verb", None):
        parser.print_help()
        return 0
    from genolm.cli.common import configure_logging

    if getattr(args, "quiet", False) is True:  # a verb's own --quiet (bench) quiets the log too
        args.log_quiet = True
    elif args.log_quiet and hasattr(args, "quiet"):  # and `genolm -q bench` quiets bench
        args.quiet = True
    restore_logging = configure_logging(quiet=args.log_quiet, verbose=args.verbose)
    try:
        return _run(args)
    finally:  # an in-process call (a test, a notebook) leaves logging and the environment as it was
        restore_logging()
        _restore_env(tqdm_env)


def _restore_env(tqdm_env: str | None) -> None:
    import os

    if tqdm_env is None:
        os.environ.pop("TQDM_DISABLE", None)
    else:
        os.environ["TQDM_DISABLE"] = tqdm_env


def _run(args) -> int:
    from genolm.errors import describe_error

    try:
        rc = args._run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `genolm ... --out - | head`: the reader left; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # every failure reaches the user as a sentence, never as a raw traceback
        message = describe_error(e)
        if args.verbose:
            traceback.print_exc()
        if message is not None:
            print(f"genolm {args.verb}: error: {message}", file=sys.stderr)
            return 2
        print(
            f"genolm {args.verb}: unexpected error: {type(e).__name__}: {e}\n"
            + (
                ""
                if args.verbose
                else "This is a bug in genolm: run with -v for the traceback, and report it."
            ),
            file=sys.stderr,
        )
        return 3
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
