"""What a saved genolm model or tokenizer carries for people who don't have genolm.

``save_pretrained`` (and so ``push_to_hub``) of every genolm model and tokenizer writes, beside the
weights or the vocabulary:

``modeling_genolm.py`` / ``tokenization_genolm.py``
    One self-contained file generated from genolm's own sources (the family files, their shared
    base, the error types), importing only torch, numpy, transformers and tokenizers.
``auto_map`` in ``config.json`` / ``tokenizer_config.json``
    So ``AutoModel*.from_pretrained(folder, trust_remote_code=True)`` and
    ``AutoTokenizer.from_pretrained(folder, trust_remote_code=True)`` work with plain transformers.
``README.md``
    A model card (models only, and only when the folder has none) saying how to load the model
    with genolm (``pip install genolm``; no remote code) and with plain transformers.

The generated files are the genolm sources themselves, concatenated in import order with the
``genolm`` imports removed, so the remote-code route runs exactly genolm's code.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

ROOT = Path(__file__).parent

MODELING_FILE = "modeling_genolm.py"
TOKENIZATION_FILE = "tokenization_genolm.py"

#: modules in ``modeling_genolm.py``, dependencies first
MODELING_MODULES = (
    "genolm.errors",
    "genolm.registry",
    "genolm.constants",
    "genolm.models.base",
    "genolm.models.encoder",
    "genolm.models.decoder",
    "genolm.models.gpn",
    "genolm.models.gpn_rc",
    "genolm.models.convnova",
    "genolm.models.hyena",
)
#: modules in ``tokenization_genolm.py``, dependencies first
TOKENIZATION_MODULES = (
    "genolm.errors",
    "genolm.registry",
    "genolm.tokenizers.base",
    "genolm.tokenizers.kmer",
    "genolm.tokenizers.char",
    "genolm.tokenizers.codon",
    "genolm.tokenizers.bpe",
)

#: model head suffix -> Auto class, for ``auto_map``
HEAD_AUTO_CLASSES = (
    ("Config", "AutoConfig"),
    ("Model", "AutoModel"),
    ("ForMaskedLM", "AutoModelForMaskedLM"),
    ("ForCausalLM", "AutoModelForCausalLM"),
    ("ForSequenceClassification", "AutoModelForSequenceClassification"),
    ("ForTokenClassification", "AutoModelForTokenClassification"),
)


def _path(module: str) -> Path:
    parts = module.split(".")[1:]
    p = ROOT.joinpath(*parts)
    return p / "__init__.py" if p.is_dir() else p.with_suffix(".py")


def _top_level_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def standalone_source(modules: tuple[str, ...], title: str) -> str:
    """One importable file made of ``modules`` (genolm module names, dependencies first).

    Every ``genolm`` import is removed when what it imports is defined in the file, and turned into
    an ``ImportError`` naming ``pip install genolm`` when it is not (e.g. ``train_bpe`` reading
    FASTA): such a path needs genolm proper.  A top-level name defined by two modules would make
    one silently replace the other, so it raises ``RuntimeError`` (a bug in this list).
    """
    trees = {m: ast.parse(_path(m).read_text(encoding="utf-8")) for m in modules}
    defined: dict[str, str] = {}
    for module, tree in trees.items():
        for name in _top_level_names(tree):
            if name in defined and name != "__all__":
                raise RuntimeError(f"{name} is defined in both {defined[name]} and {module}")
            defined[name] = module
    parts = []
    for module, tree in trees.items():
        lines = _path(module).read_text(encoding="utf-8").splitlines()
        edits = []  # (first line, last line, replacement lines), 1-based inclusive
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                edits.append((node.lineno, node.end_lineno, []))
                continue
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            if not any(t.split(".")[0] == "genolm" for t in targets):
                continue
            indent = " " * node.col_offset
            if isinstance(node, ast.ImportFrom) and all(a.name in defined for a in node.names):
                # the names are in this file already; keep a statement so the block stays valid
                repl = [
                    f"{indent}{a.asname} = {a.name}" for a in node.names if a.asname not in (None, a.name)
                ]
                edits.append((node.lineno, node.end_lineno, repl or [f"{indent}pass  # {node.module}"]))
            else:
                msg = f"this needs the genolm package ({', '.join(targets)}): pip install genolm"
                edits.append((node.lineno, node.end_lineno, [f"{indent}raise ImportError({msg!r})"]))
        for first, last, repl in sorted(edits, reverse=True):
            lines[first - 1 : last] = repl
        rel = _path(module).relative_to(ROOT.parent).as_posix()
        parts.append(f"# {'-' * 30} {module} ({rel})\n\n" + "\n".join(lines) + "\n")
    from genolm import __version__

    head = (
        f'"""{title}\n\nGenerated by genolm {__version__} from its sources (one file so that transformers\' '
        "remote-code loader needs\nno genolm install).  With genolm installed, `import genolm` loads these "
        'classes without remote code.\n"""\n\nfrom __future__ import annotations\n\n'
    )
    return head + "\n\n".join(parts)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _update_json(path: Path, **fields) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(fields)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def model_auto_map(config_class_name: str) -> dict[str, str]:
    """``auto_map`` for a genolm config class name, e.g. ``GenolmEncoderConfig``."""
    prefix = config_class_name.removesuffix("Config")
    available = set()
    for module in MODELING_MODULES:
        available |= _top_level_names(ast.parse(_path(module).read_text(encoding="utf-8")))
    stem = MODELING_FILE.removesuffix(".py")
    return {
        auto: f"{stem}.{prefix}{suffix}" for suffix, auto in HEAD_AUTO_CLASSES if prefix + suffix in available
    }


def model_card(model, folder: str | os.PathLike) -> str:
    """A ``README.md`` for a saved genolm model: what it is and both ways to load it."""
    cfg = model.config
    cls = type(model).__name__
    auto = next(
        (a for suffix, a in HEAD_AUTO_CLASSES if cls.endswith(suffix) and suffix != "Config"),
        "AutoModel",
    )
    n_params = sum(p.numel() for p in model.parameters())
    from genolm import __version__

    repo = "path/or/hub-id"
    return f"""---
library_name: transformers
tags:
- genolm
- genomics
- dna
---

# {Path(folder).name or "genolm model"}

A genomic language model trained with [genolm](https://pypi.org/project/genolm/) {__version__}.

| | |
|---|---|
| family | `{cfg.model_type}` |
| class | `{cls}` |
| parameters | {n_params:,} |
| hidden size | {getattr(cfg, "hidden_size", "?")} |
| vocabulary | {getattr(cfg, "vocab_size", "?")} tokens |

## Load it with genolm

```bash
pip install genolm
```

```python
import genolm

lm = genolm.load("{repo}")        # scoring, embeddings, variant effects
# or the transformers classes, without remote code:
from transformers import {auto}, AutoTokenizer
model = {auto}.from_pretrained("{repo}")
tokenizer = AutoTokenizer.from_pretrained("{repo}")
```

## Load it with plain transformers (no genolm)

The folder carries the modelling and tokenizer code (`{MODELING_FILE}`, `{TOKENIZATION_FILE}`,
generated from genolm's sources), so `trust_remote_code=True` is all that is needed:

```python
from transformers import {auto}, AutoTokenizer

model = {auto}.from_pretrained("{repo}", trust_remote_code=True)
tokenizer = AutoTokenizer.from_pretrained("{repo}", trust_remote_code=True)
batch = tokenizer(["ACGTACGTAC"], return_tensors="pt")
logits = model(**batch).logits
```
"""


def write_model_files(model, folder: str | os.PathLike, *, card: bool = True) -> None:
    """After ``save_pretrained``: ``modeling_genolm.py``, ``auto_map`` in ``config.json``, ``README.md``.

    Does nothing for a model whose class is not in genolm's own families (a subclass defined
    elsewhere could not be loaded from the generated file).
    """
    folder = Path(folder)
    config_json = folder / "config.json"
    auto_map = model_auto_map(type(model.config).__name__)
    if not config_json.is_file() or type(model).__name__ not in {v.split(".")[1] for v in auto_map.values()}:
        return
    _write_if_changed(folder / MODELING_FILE, standalone_source(MODELING_MODULES, "genolm model families."))
    _update_json(config_json, auto_map=auto_map)
    if card and not (folder / "README.md").exists():
        (folder / "README.md").write_text(model_card(model, folder), encoding="utf-8")


def write_tokenizer_files(tokenizer, folder: str | os.PathLike) -> None:
    """After ``save_pretrained``: ``tokenization_genolm.py`` and ``auto_map`` in ``tokenizer_config.json``."""
    folder = Path(folder)
    cfg = folder / "tokenizer_config.json"
    if not cfg.is_file():
        return
    _write_if_changed(
        folder / TOKENIZATION_FILE, standalone_source(TOKENIZATION_MODULES, "genolm DNA tokenizers.")
    )
    stem = TOKENIZATION_FILE.removesuffix(".py")
    _update_json(cfg, auto_map={"AutoTokenizer": [f"{stem}.{type(tokenizer).__name__}", None]})
