"""Shared CLI helpers: flags generated from a config dataclass (flags override the YAML file)."""

from __future__ import annotations

import argparse
import dataclasses
import typing


def _number(text: str, kind, what: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def positive_int(text: str) -> int:
    """argparse ``type=``: an integer >= 1 (a batch size, a count, a window)."""
    value = _number(text, int, "an integer >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def nonnegative_int(text: str) -> int:
    """argparse ``type=``: an integer >= 0 (a flank, an overlap)."""
    value = _number(text, int, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse ``type=``: a number > 0 (a time budget, a learning rate)."""
    value = _number(text, float, "a number > 0")
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def unit_interval(text: str) -> float:
    """argparse ``type=``: a number in [0, 1] (a fraction, a similarity threshold)."""
    value = _number(text, float, "a number in [0, 1]")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text}")
    return value


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls, *, skip: tuple[str, ...] = ()) -> None:
    """Add ``--field-name VALUE`` for every field of dataclass ``cls`` (default: unset)."""
    group = parser.add_argument_group("config overrides (each overrides the same key of the YAML file)")
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        if f.name == "out_dir":  # the CLI convention: --out names a verb's output (docs/cli.md)
            group.add_argument(
                "--out", dest="out_dir", metavar="DIR", default=None, help="output folder (out_dir)"
            )
            add_deprecated_alias(group, "--out-dir", new="--out", dest="out_dir", metavar="DIR")
            continue
        tp = hints[f.name]
        flag = "--" + f.name.replace("_", "-")
        origin = typing.get_origin(tp)
        if origin is list:
            group.add_argument(flag, dest=f.name, action="append", metavar="VALUE", default=None)
        elif tp is dict or origin is dict:
            group.add_argument(flag, dest=f.name, metavar="KEY=VALUE", action="append", default=None)
        else:
            group.add_argument(flag, dest=f.name, metavar="VALUE", default=None)


def dataclass_overrides(args: argparse.Namespace, cls) -> dict:
    """The config keys the user set on the command line."""
    import yaml

    out = {}
    for f in dataclasses.fields(cls):
        v = getattr(args, f.name, None)
        if v is None:
            continue
        if isinstance(v, list) and v and "=" in str(v[0]) and f.type in ("dict", dict):
            v = {k: yaml.safe_load(x) for k, _, x in (s.partition("=") for s in v)}
        out[f.name] = v
    return out


def end_distributed() -> None:
    """Destroy the process group of an ``accelerate launch`` / ``torchrun`` run before the process
    exits: left to interpreter shutdown, gloo's threads can abort the process ("terminate called
    without an active exception", SIGABRT) after training has finished."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# --- the CLI convention (docs/cli.md) ---------------------------------------------------------


class _DeprecatedAlias(argparse.Action):
    """An old flag that still works for one release: stores into the new flag's ``dest`` and
    prints a one-line deprecation warning naming the new flag."""

    def __init__(self, option_strings, dest, *, new: str, **kwargs):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        import sys

        print(
            f"genolm: warning: {option_string} is deprecated and will be removed in the next release; "
            f"use {self.new}",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


def add_deprecated_alias(parser, old: str, *, new: str, dest: str, metavar: str = "PATH") -> None:
    """Keep ``old`` working as an alias of the flag ``new`` (which stores into ``dest``)."""
    parser.add_argument(
        old, dest=dest, action=_DeprecatedAlias, new=new, metavar=metavar, default=argparse.SUPPRESS,
        help=f"deprecated alias of {new}",
    )  # fmt: skip


def output_prefix(args, name: str, *, default_folder: str | None = None) -> str:
    """The file prefix a library writer takes, from ``--out DIR`` (``DIR/name``; the folder is
    created) or the deprecated ``--out-prefix PREFIX`` (the old meaning of ``--out``)."""
    from pathlib import Path

    from genolm.errors import ConfigError

    prefix = getattr(args, "out_prefix", None)
    if prefix:
        return prefix
    folder = args.out or default_folder
    if not folder:
        raise ConfigError("--out DIR is required: the folder for the output files")
    if is_stdout(folder):
        raise ConfigError("--out - is not possible here: this verb writes several files; give a folder")
    Path(folder).mkdir(parents=True, exist_ok=True)
    return str(Path(folder) / name)


def is_stdout(out) -> bool:
    """Whether ``--out`` is ``-`` (the verb's result stream goes to standard output)."""
    return out is not None and str(out) == "-"


def status_stream(out):
    """Where a verb prints its human-readable lines: stderr when ``--out -`` takes stdout."""
    import sys

    return sys.stderr if is_stdout(out) else sys.stdout


def write_output(out, text: str) -> None:
    """Write a text result to ``out``: standard output for ``-``, else the file, atomically."""
    import sys

    if is_stdout(out):
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from genolm.atomic import atomic_write_text

    atomic_write_text(out, text)


class output_file:
    """``with output_file(out, ".tsv") as path:`` the path a library writer should write to.

    For a file that is ``out`` itself.  For ``-`` it is a temporary file with ``suffix`` (the
    writer picks the format from it), copied to standard output when the block ends without an
    error and deleted either way; library writers never see ``-``."""

    def __init__(self, out, suffix: str):
        self.out, self.suffix, self._dir = out, suffix, None

    def __enter__(self) -> str | None:
        if not is_stdout(self.out):
            return None if self.out is None else str(self.out)
        import tempfile

        self._dir = tempfile.mkdtemp(prefix="genolm-stdout-")
        return f"{self._dir}/stdout{self.suffix}"

    def __exit__(self, exc_type, exc, tb):
        if self._dir is None:
            return False
        import shutil
        import sys
        from pathlib import Path

        try:
            if exc_type is None:
                path = Path(self._dir) / f"stdout{self.suffix}"
                sys.stdout.flush()
                with open(path, "rb") as fh:
                    shutil.copyfileobj(fh, sys.stdout.buffer)
                sys.stdout.buffer.flush()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
        return False


class _LevelFormatter:
    """INFO lines as they are; warnings and errors prefixed; DEBUG with the logger's name."""

    def format(self, record) -> str:
        import logging

        msg = record.getMessage()
        if record.exc_info:
            msg += "\n" + logging.Formatter().formatException(record.exc_info)
        if record.levelno >= logging.ERROR:
            return f"genolm: error: {msg}"
        if record.levelno >= logging.WARNING:
            return f"genolm: warning: {msg}"
        if record.levelno <= logging.DEBUG:
            return f"[{record.name}] {msg}"
        return msg


def configure_logging(*, quiet: bool = False, verbose: int = 0):
    """Send the ``genolm`` logger hierarchy to stderr: INFO by default, WARNING with ``-q``, DEBUG
    with ``-v``.  Calling it again replaces the handler it added before.  Returns a function that
    undoes it (``main`` calls it when the verb ends, so an in-process call leaves no trace).  (``genolm -q`` also turns
    progress bars off: :func:`genolm.cli.main.main` sets ``TQDM_DISABLE`` before tqdm is imported.)"""
    import logging
    import sys

    logger = logging.getLogger("genolm")
    for h in list(logger.handlers):
        if getattr(h, "_genolm_cli", False):
            logger.removeHandler(h)

    class _Stderr(logging.StreamHandler):
        # sys.stderr at emit time, not at setup (tests and redirections swap it)
        @property
        def stream(self):
            return sys.stderr

        @stream.setter
        def stream(self, value):
            pass

    handler = _Stderr()
    handler._genolm_cli = True
    handler.setFormatter(_LevelFormatter())
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    # records still propagate to the root logger (pytest's caplog, an application's handlers);
    # the root has no handler in a CLI process, so each line prints once

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(old_level)

    return restore


def add_subverbs(parser: argparse.ArgumentParser, subverbs: dict[str, tuple[str, str]]) -> dict:
    """Sub-verbs of a verb (``genolm db build``): ``{name: (help, examples)}`` -> ``{name: parser}``.

    Each sub-parser's help ends with its runnable examples, like a verb's.
    """
    import textwrap

    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    return {
        name: sub.add_parser(
            name,
            help=helptext,
            description=helptext,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            epilog="examples:\n" + textwrap.indent(textwrap.dedent(examples).strip("\n"), "  "),
        )
        for name, (helptext, examples) in subverbs.items()
    }
