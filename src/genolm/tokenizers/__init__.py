"""DNA tokenizers: every scheme the field uses, all Hugging Face compatible.

Schemes (``genolm ls tokenizers``; ids follow the layout named in brackets)
-------------------------------------------------------------------------
``char``
    one token per base, A C G T N [HyenaDNA / Caduceus ``CharacterTokenizer``].
``iupac``
    one token per base over every IUPAC code, U and gap [genolm, ESM-like specials].
``kmer`` (``kmer3`` ... ``kmer6``)
    overlapping k-mers, stride 1 [DNABERT ``vocab.txt``].
``nt6`` (alias ``nt``)
    non-overlapping 6-mers with NT's single-base fallback [Nucleotide Transformer ``vocab.txt``].
``codon``
    codons in reading frame 0/1/2 [genolm].
``bpe``
    BPE learned from FASTA with ``genolm train-tokenizer`` [DNABERT-2 special-token ids].

Text-LLM "biotokens" (``∎A∎C``) are plain functions in :mod:`genolm.tokenizers.biotokens`
(:func:`dna_to_biotokens`, :func:`biotokens_to_dna`, :func:`biotoken_list`), not a registry
entry: every registry entry is a :class:`GenomicTokenizer`.

Stable API (used by ``genolm tokenize``, pretraining and variant scoring)
------------------------------------------------------------------------
``get_tokenizer(name, **kwargs) -> GenomicTokenizer``
    ``get_tokenizer("kmer6")``, ``get_tokenizer("kmer", k=4)``, ``get_tokenizer("nt6")``,
    ``get_tokenizer("codon", frame=1)``, ``get_tokenizer("bpe", tokenizer_file=...)``.
    Unknown names raise with "did you mean".
``tok.encode_array(seq) -> np.ndarray (T,) int32``
    ids of a whole sequence, no special tokens, vectorised (``bytes.translate`` LUTs and
    base-4 window codes; typically > 100 Mbp/s on one core for char, k-mers and nt6).
``tok.offsets_array(seq) -> np.ndarray (T, 2) int64``
    token ``t`` stands for ``seq[off[t, 0]:off[t, 1]]``; overlapping k-mer ``i`` covers
    ``(i, i + k)``.  ``tok.encode_with_offsets(seq)`` returns both.
``tok(seqs, padding=..., truncation=..., max_length=..., return_offsets_mapping=True, return_tensors="pt")``
    the usual HF call; special tokens and padding get offsets ``(0, 0)``.
``tok.decode(ids)`` / ``tok.decode_array(ids)``
    lossless for char, iupac, nt6, bpe and codon (whole codons); overlapping k-mers are
    re-assembled from their overlaps.
``tok.mask_token_id``, ``pad_token_id``, ``unk_token_id``, ``cls_token_id`` ..., ``tok.vocab_size``,
``tok.scheme``, ``tok.bp_per_token`` (nominal bases per token), ``tok.k`` (k-mer schemes).
``tok.save_pretrained(d)`` then ``AutoTokenizer.from_pretrained(d)``
    works once ``genolm`` is imported (:mod:`genolm.auto` registers the classes with
    ``transformers`` lazily; no ``trust_remote_code``), and without genolm with
    ``trust_remote_code=True`` (the folder carries ``tokenization_genolm.py``, :mod:`genolm.sharing`).  ``tok.export_stock(d)`` writes files for a
    stock ``BertTokenizer`` (DNABERT), ``EsmTokenizer`` (NT, char) or
    ``PreTrainedTokenizerFast`` (bpe) that give the same ids on ``tok.to_stock_text(seq)``.

Shared rules: lower case (soft mask) is tokenized as upper case with offsets into the
input; characters outside a scheme's alphabet become the unknown token, or raise
:class:`~genolm.errors.InputError` with ``on_invalid="raise"``.  Special tokens are
constructor keywords (``pad_token="<pad>"``, ``template="cls_eos"``, ...) and survive
``save_pretrained``.
"""

from __future__ import annotations

from genolm.tokenizers.base import TOKENIZERS, Encoding, GenomicTokenizer, register_with_transformers
from genolm.tokenizers.biotokens import biotoken_list, biotokens_to_dna, dna_to_biotokens
from genolm.tokenizers.bpe import BPETokenizer, BPETrainConfig, train_bpe
from genolm.tokenizers.char import CharTokenizer, IUPACTokenizer
from genolm.tokenizers.codon import CodonTokenizer
from genolm.tokenizers.kmer import KmerTokenizer, NonOverlappingKmerTokenizer

TOKENIZER_CLASSES = (
    CharTokenizer,
    IUPACTokenizer,
    KmerTokenizer,
    NonOverlappingKmerTokenizer,
    CodonTokenizer,
    BPETokenizer,
)
register_with_transformers(*TOKENIZER_CLASSES)


def get_tokenizer(name: str, **kwargs) -> GenomicTokenizer:
    """Build the tokenizer registered as ``name`` (aliases and ``kmer3``..``kmer6`` included).

    ``kwargs`` go to the constructor and override the entry's defaults
    (``get_tokenizer("kmer6", k=4)`` gives 4-mers).
    """
    return TOKENIZERS.get(name)(**kwargs)


__all__ = [
    "TOKENIZERS",
    "TOKENIZER_CLASSES",
    "BPETokenizer",
    "BPETrainConfig",
    "CharTokenizer",
    "CodonTokenizer",
    "Encoding",
    "GenomicTokenizer",
    "IUPACTokenizer",
    "KmerTokenizer",
    "NonOverlappingKmerTokenizer",
    "biotoken_list",
    "biotokens_to_dna",
    "dna_to_biotokens",
    "get_tokenizer",
    "train_bpe",
]
