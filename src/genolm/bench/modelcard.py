"""Bench results as Hugging Face model cards (``model-index`` metadata).

A model card is a ``README.md`` whose YAML front matter holds a ``model-index``: per task the
task, the dataset (here: the genolm task name, split ``test``) and the metrics with their values.
The Hub renders these as an evaluation widget and leaderboards read them.

:func:`write_model_cards` writes ``model-cards/<model>/README.md`` into a report folder for every
genolm model of a summary (one metric per mode: the mean over seeds, its 95 % CI and the verdict
against the best baseline in the metric's name).  :func:`update_model_card` merges those results
into an existing ``README.md`` of a *local* model folder: results for the same task are replaced,
everything else in the file is kept.  Catalogue, bundled and downloaded (Hub cache) models are
never written to: :func:`local_model_folder` says which references qualify.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from genolm.atomic import atomic_write_text
from genolm.bench.records import slug

#: genolm task types as Hugging Face task types
HF_TASK = {
    "binary": "text-classification",
    "multiclass": "text-classification",
    "multilabel": "text-classification",
    "regression": "text-classification",
    "token_classification": "token-classification",
}
_METRIC_NAME = {"mcc": "MCC", "spearman": "Spearman", "pearson": "Pearson", "auroc": "AUROC", "f1": "F1"}


def _seeds(n: int) -> str:
    return "1 seed" if n == 1 else f"mean of {n} seeds"


def _r(x):
    return None if x is None else round(float(x), 4)


def model_index_results(summary: dict, model: str) -> list[dict]:
    """``model-index`` results of the genolm model ``model`` in ``summary``: one per task, one
    metric per mode (mean over seeds of the task's primary metric on the test split)."""
    out = []
    for name, t in summary.get("tasks", {}).items():
        if t.get("status") == "refused":
            continue
        metrics = []
        for e in t["entries"]:
            if e["kind"] != "model" or e["name"] != model or e["mean"] is None:
                continue
            vb = e.get("vs_best_baseline") or {}
            m = _METRIC_NAME.get(t["metric"], t["metric"])
            label = (
                f"{m}, {e['mode']} ({_seeds(len(e.get('seeds', [])))}, 95% CI "
                f"[{_r(e.get('ci_low'))}, {_r(e.get('ci_high'))}]"
                + (
                    f"; {vb['verdict']} the best baseline {vb['baseline']} by {_r(vb['difference'])}"
                    if vb.get("verdict")
                    else ""
                )
                + f"; leak audit {e.get('audit')})"
            )
            metrics.append({"type": t["metric"], "value": _r(e["mean"]), "name": label, "verified": False})
        if metrics:
            out.append(
                {
                    "task": {"type": HF_TASK.get(t["task_type"], "other"), "name": t["task_type"]},
                    "dataset": {"name": name, "type": name, "split": "test"},
                    "metrics": metrics,
                }
            )
    return out


def split_front_matter(text: str) -> tuple[dict, str]:
    """``(metadata, body)`` of a Markdown file with optional ``---`` YAML front matter."""
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end != -1:
            meta = yaml.safe_load(text[3:end]) or {}
            body = text[end + 4 :].lstrip("\n")
            if isinstance(meta, dict):
                return meta, body
    return {}, text


def render_card(meta: dict, body: str) -> str:
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n" + body


def merge_results(meta: dict, model: str, results: list[dict]) -> dict:
    """``meta`` with ``results`` merged into its ``model-index`` entry for ``model`` (created when
    missing): a result for a task (dataset name) already there is replaced, the others kept."""
    meta = dict(meta)
    index = [dict(x) for x in (meta.get("model-index") or [])]
    entry = next((x for x in index if x.get("name") == model), None)
    if entry is None:
        entry = {"name": model, "results": []}
        index.append(entry)
    new = {r["dataset"]["name"] for r in results}
    kept = [r for r in entry.get("results") or [] if (r.get("dataset") or {}).get("name") not in new]
    entry["results"] = kept + results
    meta["model-index"] = index
    return meta


def _body(model: str, results: list[dict]) -> str:
    lines = [
        f"# {model}",
        "",
        "Benchmark results written by `genolm bench` (see `model-index` above; dataset = the genolm task, "
        "scored on its test split). Load the model with `pip install genolm` and `genolm.load(...)`.",
        "",
        "| task | metric | value |",
        "|---|---|---|",
    ]
    for r in results:
        for m in r["metrics"]:
            lines.append(f"| {r['dataset']['name']} | {m['name']} | {m['value']} |")
    return "\n".join(lines) + "\n"


def write_model_cards(summary: dict, out_dir: str | Path) -> list[Path]:
    """``model-cards/<model>/README.md`` for every genolm model in ``summary``; returns the paths."""
    models = []
    for t in summary.get("tasks", {}).values():
        for e in t.get("entries", []):
            if e["kind"] == "model" and e["name"] not in models:
                models.append(e["name"])
    paths = []
    for model in models:
        results = model_index_results(summary, model)
        if not results:
            continue
        meta = {"library_name": "genolm", "tags": ["genolm", "genomics", "dna"]}
        meta = merge_results(meta, model, results)
        path = Path(out_dir) / "model-cards" / slug(model) / "README.md"
        atomic_write_text(path, render_card(meta, _body(model, results)))
        paths.append(path)
    return paths


def _protected_roots() -> list[Path]:
    """Folders whose models belong to someone else: genolm's own package (bundled models) and the
    Hugging Face / genolm download caches."""
    import genolm

    roots = [Path(genolm.__file__).resolve().parent]
    hf = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    roots.append(Path(hf).resolve())
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "GENOLM_CACHE"):
        if os.environ.get(var):
            roots.append(Path(os.environ[var]).resolve())
    roots.append(Path(os.path.expanduser("~"), ".cache", "genolm").resolve())
    return roots


def local_model_folder(ref: str | None) -> Path | None:
    """``ref`` as a folder whose model card may be updated: an existing local directory that is
    not inside genolm's package or a download cache; else ``None`` (catalogue names, bundled
    models and Hub ids are never written to)."""
    if not ref:
        return None
    p = Path(str(ref)).expanduser()
    if not p.is_dir():
        return None
    rp = p.resolve()
    if any(rp == r or r in rp.parents for r in _protected_roots()):
        return None
    return p


def update_model_card(folder: str | Path, model: str, summary: dict) -> Path | None:
    """Merge ``model``'s results in ``summary`` into ``folder/README.md`` (created when missing,
    front matter and text otherwise kept).  Returns the file, or ``None`` when there is nothing to
    write or ``folder`` is not a local model folder (:func:`local_model_folder`)."""
    target = local_model_folder(str(folder))
    results = model_index_results(summary, model)
    if target is None or not results:
        return None
    path = target / "README.md"
    meta, body = split_front_matter(path.read_text()) if path.exists() else ({}, "")
    meta.setdefault("library_name", "genolm")
    meta = merge_results(meta, model, results)
    atomic_write_text(path, render_card(meta, body or _body(model, results)))
    return path


def update_model_cards(summary: dict) -> list[Path]:
    """:func:`update_model_card` for every genolm model in ``summary`` named by a local folder."""
    done = []
    seen = set()
    for t in summary.get("tasks", {}).values():
        for e in t.get("entries", []):
            key = (e.get("model_ref"), e["name"])
            if e["kind"] != "model" or key in seen:
                continue
            seen.add(key)
            p = (
                update_model_card(e.get("model_ref") or "", e["name"], summary)
                if e.get("model_ref")
                else None
            )
            if p is not None:
                done.append(p)
    return done
