"""A toy text causal LM built locally: a byte-level BPE tokenizer trained on a built-in text and a
randomly initialised Llama.  For tests, docs and benchmarks that must run offline; it knows no
language.  ``build_toy_llm(out, hidden_size=576, num_hidden_layers=30, ...)`` gives a model of
SmolLM2-135M's shape (with ``embedding_rows=49152``)."""

from __future__ import annotations

from pathlib import Path

_TEXT = """\
The quick brown fox jumps over the lazy dog. A gene is a sequence of DNA that encodes a protein or an RNA.
Question: Is this sequence a long non-coding RNA or a messenger RNA? Answer: lncRNA. Answer: mRNA.
Chloroplasts hold their own genome. Plants, algae and bacteria have genomes of different sizes.
Think step by step, then give the answer. The answer is A. The answer is B. The answer is C. The answer is D.
Sequence: promoter, enhancer, intron, exon, coding, non-coding, yes, no, true, false, protein, transcript.
One two three four five six seven eight nine ten. Which of the following is correct? Choose one option.
"""


def build_toy_llm(
    out: str | Path,
    *,
    vocab_size: int = 320,
    hidden_size: int = 32,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 2,
    num_key_value_heads: int | None = None,
    intermediate_size: int | None = None,
    tie_word_embeddings: bool = True,
    embedding_rows: int | None = None,
    extra_tokens: tuple[str, ...] = ("<think>", "</think>"),
    max_position_embeddings: int = 2048,
    seed: int = 0,
) -> Path:
    """Write a toy Llama (random weights) and its tokenizer to ``out``; return ``out``.

    ``embedding_rows`` larger than the tokenizer pads the matrix with unused rows (as many
    released models do).  ``extra_tokens`` are added as ordinary (non-special) tokens, the way
    reasoning models add ``<think>`` / ``</think>``.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = Path(out)
    specials = ["<unk>", "<s>", "</s>", "<pad>"]
    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([_TEXT] * 4, trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    if extra_tokens:
        tok.add_tokens(list(extra_tokens))
    rows = max(len(tok), embedding_rows or 0)
    cfg = LlamaConfig(
        vocab_size=rows,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 2 * hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads or num_attention_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=tie_word_embeddings,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(cfg)
    model.generation_config.pad_token_id = tok.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
