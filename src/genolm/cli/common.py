"""Shared CLI helpers: flags generated from a config dataclass (flags override the YAML file)."""

from __future__ import annotations

import argparse
import dataclasses
import typing


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls, *, skip: tuple[str, ...] = ()) -> None:
    """Add ``--field-name VALUE`` for every field of dataclass ``cls`` (default: unset)."""
    group = parser.add_argument_group("config overrides (each overrides the same key of the YAML file)")
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
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
