"""LoRA on a biotoken LLM, and loading an adapter that added tokens onto its base.

Training the new tokens (``new_tokens``)
    ``trainable_tokens``  PEFT ``trainable_token_indices``: only the biotoken rows of the input
                          embedding train (and of the LM head: tied heads share them, untied heads
                          get their own trainable rows).  The adapter stores just those rows.
    ``modules_to_save``   the whole input embedding and LM head train and are stored in the
                          adapter (``modules_to_save=[embed, head]``): larger, and every row moves.
    ``frozen``            the biotoken rows keep their initialisation; only LoRA trains.

Loading (:func:`load_biotoken_model`).  An adapter folder written by genolm holds the extended
tokenizer and ``genolm_biotokens.json``.  Its base may be the extended model (exact) or the
*un-extended* base model: the embeddings are then resized to the adapter's vocabulary **before**
PEFT loads the adapter, and the new rows are rebuilt with the deterministic initialisation the
extension used, so the result equals the model the adapter was trained on.  (PEFT alone, as in
lm-evaluation-harness before its fix, fails with a size mismatch or an index out of range.)
"""

from __future__ import annotations

import json
from pathlib import Path

from genolm.errors import ConfigError, InputError
from genolm.llm.extend import META_FILE, init_new_rows, load_causal_lm, read_meta

NEW_TOKENS = ("trainable_tokens", "modules_to_save", "frozen")


def module_name(model, module) -> str:
    """The dotted name of ``module`` inside ``model``."""
    for n, m in model.named_modules():
        if m is module:
            return n
    raise ConfigError(f"{type(module).__name__} is not a submodule of {type(model).__name__}")


def is_tied(model) -> bool:
    out = model.get_output_embeddings()
    return out is not None and out.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def lora_config(
    model,
    new_ids: list[int],
    *,
    new_tokens: str = "trainable_tokens",
    r: int = 8,
    alpha: float = 16.0,
    dropout: float = 0.0,
    target_modules: list[str] | str | None = None,
    task_type: str = "CAUSAL_LM",
    extra_modules_to_save: list[str] | None = None,
):
    """A PEFT ``LoraConfig`` for ``model`` whose biotoken rows ``new_ids`` train as ``new_tokens`` says."""
    from peft import LoraConfig

    if new_tokens not in NEW_TOKENS:
        from genolm.registry import did_you_mean

        raise ConfigError(
            f"new_tokens must be one of {', '.join(NEW_TOKENS)}, not {new_tokens!r}.{did_you_mean(new_tokens, NEW_TOKENS)}"
        )
    emb = module_name(model, model.get_input_embeddings()).split(".")[-1]
    head = model.get_output_embeddings()
    head_name = module_name(model, head).split(".")[-1] if head is not None else None
    targets = target_modules or "all-linear"
    if isinstance(targets, list) and targets == ["all-linear"]:
        targets = "all-linear"
    kw: dict = {}
    save = list(extra_modules_to_save or [])
    if new_tokens == "trainable_tokens":
        if head_name is None or is_tied(model):
            kw["trainable_token_indices"] = {emb: list(new_ids)}
        else:
            kw["trainable_token_indices"] = {emb: list(new_ids), head_name: list(new_ids)}
    elif new_tokens == "modules_to_save":
        save += [emb] + ([head_name] if head_name and not is_tied(model) else [])
        # a tied head must read the *trained* copy of the embedding, not the frozen original
        kw["ensure_weight_tying"] = is_tied(model)
    if isinstance(targets, list) and head_name in targets:
        raise ConfigError(f"lora_target_modules must not name the LM head '{head_name}'")
    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=targets,
        modules_to_save=save or None,
        task_type=task_type,
        **kw,
    )


def apply_lora(model, new_ids: list[int], **kw):
    """``get_peft_model(model, lora_config(model, new_ids, **kw))``."""
    import warnings

    from peft import get_peft_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return get_peft_model(model, lora_config(model, new_ids, **kw))


def _adapter_rows(adapter_dir: Path, names: list[str]) -> int | None:
    """Rows of the full embedding / head matrices stored in the adapter (``modules_to_save``), if any."""
    from safetensors import safe_open

    f = adapter_dir / "adapter_model.safetensors"
    if not f.is_file():
        return None
    rows = None
    with safe_open(str(f), framework="pt") as fh:
        for k in fh.keys():
            parts = k.split(".")
            if k.endswith(".weight") and any(n in parts for n in names) and "trainable_tokens_delta" not in k:
                shape = fh.get_slice(k).get_shape()
                if len(shape) == 2:
                    rows = max(rows or 0, int(shape[0]))
    return rows


def load_biotoken_model(
    path: str | Path,
    *,
    base: str | None = None,
    gguf_file: str | None = None,
    trust_remote_code: bool = False,
    dtype: str = "float32",
    is_trainable: bool = False,
):
    """``(model, tokenizer, meta)`` from an extended model folder or an adapter folder.

    Parameters
    ----------
    path : folder
        An extended model (``genolm biotokens extend``) or a PEFT adapter trained on one (with
        its tokenizer, as ``genolm biotokens pretrain`` writes).
    base : str, optional
        For an adapter: the model to load it onto.  Default is the adapter's
        ``base_model_name_or_path``.  May be the un-extended base (a folder or ``.gguf``): the
        embeddings are resized and the biotoken rows rebuilt before the adapter loads.
    """
    from transformers import AutoTokenizer

    path = Path(path)
    if not path.is_dir():
        raise InputError("no such model or adapter folder", path=str(path))
    meta = read_meta(path)
    adapter_cfg = path / "adapter_config.json"
    if not adapter_cfg.is_file():
        tok = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
        model = load_causal_lm(str(path), trust_remote_code=trust_remote_code, dtype=dtype)
        return model, tok, meta
    acfg = json.loads(adapter_cfg.read_text())
    base = base or acfg.get("base_model_name_or_path")
    if not base:
        raise InputError("the adapter names no base model", path=str(adapter_cfg), hint="pass base=")
    try:
        tok = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    except (OSError, ValueError):
        raise InputError(
            "the adapter folder holds no tokenizer; an adapter that added tokens must ship its tokenizer",
            path=str(path),
            hint="save the extended tokenizer next to the adapter (tokenizer.save_pretrained(folder))",
        ) from None
    model = load_causal_lm(base, gguf_file, trust_remote_code=trust_remote_code, dtype=dtype)
    rows = model.get_input_embeddings().weight.shape[0]
    names = [module_name(model, model.get_input_embeddings()).split(".")[-1]]
    if model.get_output_embeddings() is not None:
        names.append(module_name(model, model.get_output_embeddings()).split(".")[-1])
    want = max(len(tok), _adapter_rows(path, names) or 0, int((meta or {}).get("embedding_rows", 0)))
    from genolm.llm.extend import resolve_base

    base_folder = resolve_base(base, gguf_file)[0]
    base_meta = read_meta(base_folder) if Path(base_folder).is_dir() else None
    unextended = meta is not None and base_meta is None
    if rows < want:
        # the fix: resize *before* PEFT loads the adapter (PEFT alone fails on the size mismatch)
        model.resize_token_embeddings(want, mean_resizing=False)
    elif base_meta is not None and meta is not None and rows != int(meta["embedding_rows"]):
        raise InputError(
            f"the base has {rows} embedding rows but the adapter expects {want}",
            path=str(path),
            hint="load the adapter onto the model it was trained from, or onto that model's un-extended base",
        )
    if meta is not None and unextended:
        # rebuild the biotoken rows exactly as the extension did (its initialisation is deterministic),
        # so rows the adapter does not store equal those it was trained with
        init_new_rows(
            model,
            [int(i) for i in meta["token_ids"]],
            method=meta["init"],
            n_old=int(meta["n_old_rows_used_for_init"]),
            subword_ids=meta.get("subword_ids"),
        )
    import warnings

    from peft import PeftModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = PeftModel.from_pretrained(model, str(path), is_trainable=is_trainable)
    if not is_trainable:
        model.eval()
    return model, tok, meta


def save_adapter(model, tokenizer, out: str | Path, meta: dict | None, **extra) -> None:
    """Write a PEFT model's adapter, the extended tokenizer and the biotoken metadata to ``out``."""
    from genolm.atomic import atomic_write_json

    out = Path(out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if meta is not None:
        atomic_write_json(out / META_FILE, {**meta, **extra})
