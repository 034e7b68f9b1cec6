"""Every figure the README quotes comes from a committed results file.

``benchmarks/readme_figures.yaml`` maps each README line that quotes figures to the results file
that backs it and one expression per figure, in the order the figures appear on the line.  A
*figure* is a decimal number (``0.505``, ``1.2e-6``), a number with thousands separators
(``1,289``), a number followed by ``×``, ``%`` or a range dash (``56–82×``), or a number with a
unit of time, size or rate (``192 s``, ``343 MB``); a number right after ``≥``,
``≤``, ``<``, ``>`` or ``goal`` is a goal, not a figure.  Code blocks are command output, not
results, and are skipped; a README line copied verbatim from a ``benchmarks/results/*.md`` file
(which the benchmark scripts write beside their JSON) is backed by that file.

The test fails when a figure on the README has no entry, when an entry's figure no longer matches
its results file (at the precision the README prints), or when an entry's line is gone.
"""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAPPING = ROOT / "benchmarks" / "readme_figures.yaml"
RESULTS = ROOT / "benchmarks" / "results"

# decimals (with an optional exponent), N× / N%, N <unit>
FIGURE = re.compile(
    r"(?<![\w.])(\d[\d,]*\.\d+(?:e-?\d+)?|\d[\d,]*(?=\s?[×%]|–\d)|\d{1,3}(?:,\d{3})+"
    r"|\d[\d,]*(?=\s?(?:s|min|minutes?|MB|GB|GFLOP/s|Mbp/s|tokens/s)\b))"
)
GOAL = re.compile(r"(?:≥|≤|<|>|goal)\s*$")


def figures(line: str) -> list[str]:
    """The figure tokens of one README line, goals left out."""
    return [m.group(1) for m in FIGURE.finditer(line) if not GOAL.search(line[: m.start()])]


def readme_lines() -> list[tuple[int, str]]:
    """(line number, text) of every README line outside code blocks."""
    out, fenced = [], False
    for i, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            out.append((i, line))
    return out


def _code_blocks() -> str:
    text = README.read_text(encoding="utf-8")
    return "\n".join(re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S))


def results_md_lines() -> set[str]:
    return {
        ln.strip()
        for p in RESULTS.rglob("*.md")
        for ln in p.read_text(encoding="utf-8").splitlines()
        if ln.strip()
    }


def _lookup(obj, path: str):
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        obj = obj[int(part[1:-1])] if part.startswith("[") else obj[part]
    return obj


_CACHE: dict[str, object] = {}


def _load(name: str):
    if name not in _CACHE:
        _CACHE[name] = json.loads((RESULTS / name).read_text(encoding="utf-8"))
    return _CACHE[name]


_ALLOWED = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.USub,
    ast.Call, ast.Name, ast.Load, ast.Constant, ast.Subscript, ast.Slice,
)  # fmt: skip


def evaluate(expr: str, default_file: str) -> float:
    """A mapping expression: a JSON path into the entry's file (``a.b[0].c``), or arithmetic over
    ``v(path[, file])``, ``vs(path_with_[*])`` (a list), ``ratios(path_a, path_b)`` (elementwise
    a / b of two lists), ``num(path, i)`` (the i-th decimal in a string), ``min``, ``max``, ``abs``."""
    if re.fullmatch(r"[\w\-]+(?:\.[\w\-]+|\[\d+\])*", expr):
        return float(_lookup(_load(default_file), expr))
    tree = ast.parse(expr, mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ValueError(f"'{expr}': {type(node).__name__} is not allowed in a figure expression")

    def v(path, file=default_file):
        return float(_lookup(_load(file), path))

    def vs(path, file=default_file):
        head, _, tail = path.partition("[*]")
        items = _lookup(_load(file), head)
        return [float(_lookup(x, tail.lstrip("."))) if tail else float(x) for x in items]

    def ratios(path_a, path_b, file=default_file):
        a, b = _lookup(_load(file), path_a), _lookup(_load(file), path_b)
        return [float(x) / float(y) for x, y in zip(a, b, strict=True)]

    def num(path, i=0, file=default_file):  # the i-th decimal number in a string (a stdout line)
        return float(re.findall(r"-?\d+\.\d+", _lookup(_load(file), path))[i])

    env = {"v": v, "vs": vs, "ratios": ratios, "num": num, "min": min, "max": max, "abs": abs}
    return float(eval(compile(tree, "<figure>", "eval"), {"__builtins__": {}}, env))


def matches(token: str, value: float) -> bool:
    """``value`` printed at ``token``'s precision is ``token``."""
    t = token.replace(",", "")
    mant, _, exp = t.partition("e")
    decimals = len(mant.partition(".")[2])
    scale = 10.0 ** int(exp) if exp else 1.0
    return math.isclose(value, float(t), abs_tol=0.5 * 10.0**-decimals * scale * (1 + 1e-9))


def load_mapping() -> list[dict]:
    entries = yaml.safe_load(MAPPING.read_text(encoding="utf-8"))
    assert isinstance(entries, list) and entries, f"{MAPPING} holds no entries"
    return entries


def _entry_for(line: str, entries: list[dict]) -> list[dict]:
    return [e for e in entries if e["line"] in line]


def test_every_readme_figure_has_a_source():
    entries = load_mapping()
    backed = results_md_lines()
    missing = []
    for i, line in readme_lines():
        toks = figures(line)
        if not toks or line.strip() in backed:
            continue
        found = _entry_for(line, entries)
        if len(found) != 1:
            missing.append(f"README.md:{i}: {len(found)} entries for figures {toks} on: {line.strip()[:90]}")
    assert not missing, (
        "README figures without exactly one entry in benchmarks/readme_figures.yaml:\n" + "\n".join(missing)
    )


@pytest.mark.parametrize("entry", load_mapping(), ids=lambda e: e["line"][:40])
def test_readme_figure_matches_its_results_file(entry):
    lines = [ln for _, ln in readme_lines() if entry["line"] in ln]
    assert len(lines) == 1, f"'{entry['line']}' is on {len(lines)} README lines (want 1): update the mapping"
    toks = figures(lines[0])
    for nf in entry.get("not_figures", []):  # numbers on the line that are settings, not results
        assert nf in toks, f"not_figures '{nf}' is not a figure on: {lines[0]}"
        toks.remove(nf)
    if entry.get("in_code_block"):  # command output quoted in a README code block, not a result
        assert not entry.get("values")
        code = _code_blocks()
        for tok in toks:
            assert re.search(rf"(?<![\d.]){re.escape(tok.replace(',', ''))}(?![\d.])", code), (
                f"{tok} on '{lines[0].strip()}' is not in the README's code blocks"
            )
        return
    values = entry.get("values", [])
    assert len(values) == len(toks), f"{len(toks)} figures {toks} but {len(values)} values on: {lines[0]}"
    if values:
        assert (RESULTS / entry["file"]).is_file(), f"no results file benchmarks/results/{entry['file']}"
    pairs = list(zip(toks, values))
    for tok, expr in entry.get("also", []):  # figures the scan does not see (bare numbers in a list)
        assert re.search(rf"(?<![\d.,]){re.escape(str(tok))}(?![\d])", lines[0]), (
            f"'{tok}' not on: {lines[0]}"
        )
        pairs.append((str(tok), expr))
    wrong = []
    for tok, expr in pairs:
        value = evaluate(str(expr), entry.get("file", ""))
        if not matches(tok, value):
            wrong.append(f"README says {tok}, {entry['file']}:{expr} = {value:.6g}")
    assert not wrong, "README figure differs from its results file:\n" + "\n".join(wrong)


def test_matching_is_exact_at_the_printed_precision():
    # a drifted figure must fail: 0.026 is not 0.027, 2.10 is not 2.04
    assert matches("0.026", 0.0261) and not matches("0.026", 0.027)
    assert matches("2.10", 2.1) and not matches("2.10", 2.04)
    assert matches("1,289", 1289.4) and matches("1.2e-6", 1.19e-6) and not matches("1.2e-6", 1.3e-6)
    assert figures("**2.10×** (goal ≥ 2×), 192 s, 0.505") == ["2.10", "192", "0.505"]
