"""``genolm validate``: check a task or suite file (and, with --data, its data)."""

from __future__ import annotations

NAME = "validate"
HELP = "check a benchmark task / suite YAML (schema; with --data, that the data loads and labels are sane)"
DESCRIPTION = """\
Check benchmark task definitions.  Without --data: the YAML schema (unknown keys get a "did you
mean"), task types, metrics, split names and data locations.  With --data: the data is read
(local files, the Hugging Face cache, or a recipe build) and checked: columns exist, sequences
hold only IUPAC characters, labels are the declared classes, every classification split has
two or more classes.  Prints one line per task and a short summary per split.  Takes a YAML
path (a task or a suite) or registered task / suite names.  Exits 1 when a problem is found."""
EXAMPLES = """
genolm validate my_task.yaml
genolm validate benchmarks/suites/shared.yaml --data --limit 2000
genolm validate mini --data
genolm validate gue/prom_core_all
"""


def add_arguments(p):
    from genolm.cli.common import add_deprecated_alias, positive_int

    p.add_argument("targets", nargs="+", metavar="TASK", help="task / suite YAML paths or registered names")
    p.add_argument("--data", action="store_true", help="also load the data and check it")
    p.add_argument(
        "--limit",
        type=positive_int,
        metavar="N",
        help="with --data: read only N evenly spaced rows per split",
    )
    p.add_argument(
        "--out", metavar="PATH", help="write the results as JSON; '-' is stdout (the lines then go to stderr)"
    )
    add_deprecated_alias(p, "--json", new="--out", dest="out")
    p.add_argument(
        "--include", action="append", metavar="PATH", help="register task YAMLs from this folder / file first"
    )


def _tasks_of(target: str, include):
    from pathlib import Path

    from genolm.bench import tasks as T

    if T.looks_like_path(target) or Path(target).exists():
        return T.load_suite(target, include_paths=include)
    T.register_paths(include)
    if target in T.TASKS:
        return [T.load_task(target)]
    if target in T.SUITES:
        return T.load_suite(target)
    T.TASKS.get(target)  # raises "Unknown task ... Did you mean ..."


def _fmt_split(name: str, info: dict) -> str:
    parts = [f"{name:<5} {info['n']:>8,}"]
    lo, med, hi = info["length"]
    parts.append(f"len {lo}" if lo == hi else f"len {lo}/{med}/{hi}")
    if "classes" in info:
        parts.append(" / ".join(f"{k} {v:,}" for k, v in info["classes"].items()))
    if "label_range" in info:
        parts.append(f"label {info['label_range'][0]:.3g}..{info['label_range'][1]:.3g}")
    if "positives_per_label" in info:
        parts.append(
            f"positives per label {info['positives_per_label'][:6]}{' ...' if len(info['positives_per_label']) > 6 else ''}"
        )
    return "  ".join(parts)


def run(args):
    import json
    import sys

    from genolm.bench.tasks import validate_task
    from genolm.cli.common import status_stream, write_output
    from genolm.errors import ConfigError, InputError
    from genolm.registry import UnknownNameError

    results, bad = [], 0
    out = status_stream(args.out)
    for target in args.targets:
        try:
            tasks = _tasks_of(target, args.include)
        except (ConfigError, InputError, UnknownNameError) as e:
            print(f"FAIL  {target}: {e}", file=out)
            results.append({"task": target, "problems": [str(e)], "warnings": [], "splits": {}})
            bad += 1
            continue
        for task in tasks:
            res = validate_task(task, data=args.data, limit=args.limit)
            results.append(dict(res))
            status = "ok  " if res.ok else "FAIL"
            bad += not res.ok
            print(f"{status}  {task.name}  v{task.version}  {task.summary()}", file=out)
            for p in res["problems"]:
                print(f"      problem: {p}", file=out)
            for w in res["warnings"]:
                print(f"      warning: {w}", file=out)
            for name, info in res["splits"].items():
                print(f"      {_fmt_split(name, info)}", file=out)
    if args.out:
        write_output(args.out, json.dumps(results, indent=2) + "\n")
    n = len(results)
    print(
        f"{n - bad} of {n} task(s) valid"
        + ("" if args.data else " (schema only; add --data to read the data)"),
        file=out,
    )
    if bad:  # a verdict, not a usage error: exit 1 (docs/cli.md)
        print(f"genolm validate: {bad} task(s) with problems", file=sys.stderr)
        return 1
    return 0
