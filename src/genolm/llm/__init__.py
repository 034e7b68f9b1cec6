"""Biotoken LLMs: a text causal LM extended with DNA tokens (``∎A ∎C ∎G ∎T``), trained with LoRA and
evaluated -- reasoning models included.

``extend``    :class:`BiotokenSpec`, :class:`ExtendConfig`, :func:`extend_model`, :func:`encode_dna`,
              :func:`load_causal_lm` (folders and GGUF files)
``adapters``  :func:`apply_lora` (biotoken rows trainable via ``trainable_token_indices`` or
              ``modules_to_save``), :func:`load_biotoken_model` (resizes before loading an adapter)
``pretrain``  :class:`BiotokenPretrainConfig`, :func:`continue_pretraining` (the native pretrainer's
              loop: Accelerate, atomic checkpoints, exact resume)
``scoring``   :func:`choice_logprobs`, :func:`generate`, :func:`split_reasoning`, :func:`wilson_ci`
``mcq``       :func:`load_mcq`, :class:`MCQConfig`, :func:`evaluate_mcq`
``classify``  :class:`PromptClassifier` (k-shot text), :class:`HeadClassifier` (LoRA + head)
``evaluate``  :class:`LLMEvalConfig`, :func:`evaluate_task` (the bench harness: MCC, CIs, k-mer
              baseline, leak audit)
``toy``       :func:`build_toy_llm` (a tiny local Llama + BPE tokenizer for tests)

Names are imported lazily, so ``import genolm.llm`` costs nothing until one is used.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "extend": (
        "BiotokenSpec",
        "ExtendConfig",
        "ExtendResult",
        "encode_dna",
        "extend_model",
        "format_prompt",
        "load_causal_lm",
        "read_meta",
    ),
    "adapters": ("apply_lora", "lora_config", "load_biotoken_model", "save_adapter"),
    "pretrain": ("BiotokenPretrainConfig", "BiotokenPretrainer", "BiotokenCausalLM", "continue_pretraining"),
    "scoring": ("ReasoningSplit", "choice_logprobs", "generate", "split_reasoning", "wilson_ci"),
    "mcq": ("MCQConfig", "MCQItem", "MCQResult", "evaluate_mcq", "load_mcq", "parse_choice"),
    "classify": ("BiotokenSequenceTokenizer", "HeadClassifier", "PromptClassifier", "PromptConfig"),
    "evaluate": ("LLMEvalConfig", "evaluate_task"),
    "toy": ("build_toy_llm",),
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"genolm.llm.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genolm.llm' has no attribute '{name}'")


def __dir__():
    return sorted(list(globals()) + __all__)
