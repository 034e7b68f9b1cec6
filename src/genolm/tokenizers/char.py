"""Single-nucleotide tokenizers: ``char`` (A C G T N) and ``iupac`` (every IUPAC code, U, gap).

``char`` uses the HyenaDNA / Caduceus ``CharacterTokenizer`` layout, so their checkpoints
line up: ``[CLS]=0 [SEP]=1 [BOS]=2 [MASK]=3 [PAD]=4 [RESERVED]=5 [UNK]=6 A=7 C=8 G=9 T=10
N=11``; the end-of-sequence token is ``[SEP]`` and the default template appends it
(``A C G T [SEP]``), as HyenaDNA does.

``iupac`` (RiNALMo style) keeps every code distinct, so ``decode(encode(s)) == s.upper()``
for any IUPAC string: ``A C G T U R Y S W K M B D H V N -``.  ``U`` is its own token (RNA
in, RNA out); convert with :func:`genolm.alphabet.to_dna` first if a model wants DNA.

Invalid input: ``char`` accepts only ``ACGTN`` (either case).  Ambiguity codes, ``U``, gaps
and everything else are invalid there: ``[UNK]`` by default, or an error with
``on_invalid="raise"``.  Collapse ambiguity codes to ``N`` beforehand with
``genolm.alphabet.apply_ambiguity_policy(seq, "to_n")`` when that is what you want.
"""

from __future__ import annotations

import numpy as np

from genolm.tokenizers.base import TOKENIZERS, GenomicTokenizer, byte_lut, translate
from genolm.tokenizers.kmer import _spans


class _SymbolTokenizer(GenomicTokenizer):
    """One token per character, via a 256-entry lookup table."""

    _symbols: str = ""

    def _body(self) -> list[str]:
        return list(self._symbols)

    def _build_tables(self) -> None:
        self._lut = byte_lut({s: self._t2i[s] for s in self._symbols}, self._unk_id)
        # ids below 256 (every built-in layout): bytes.translate, 3-4x faster than numpy indexing
        self._table = self._lut.astype(np.uint8).tobytes() if self._lut.max() < 256 else None

    @property
    def bp_per_token(self) -> float:
        return 1.0

    def _encode_np(self, b: np.ndarray) -> np.ndarray:
        if self._table is not None:
            return translate(b, self._table).astype(np.int32)
        return self._lut[b]

    def _offsets_np(self, b: np.ndarray) -> np.ndarray:
        return _spans(len(b), 1, 1)

    def export_stock(self, save_directory) -> tuple[str, ...]:
        """``vocab.txt`` + config for the stock ``EsmTokenizer`` (splits on vocabulary entries).

        Give it ``tok.to_stock_text(seq)`` (upper case): the stock loader does not upper-case.
        """
        extra = {"clean_up_tokenization_spaces": False}
        for attr in ("unk_token", "pad_token", "mask_token", "cls_token", "eos_token"):
            extra[attr] = getattr(self, attr, None)
        if self.template not in ("cls_eos", "cls"):
            raise NotImplementedError(
                "EsmTokenizer only adds '<cls> A' or '<cls> A <eos>'; build this tokenizer with "
                "template='cls' or 'cls_eos' to export it"
            )
        if self.template == "cls":
            extra["eos_token"] = None
        return self._write_stock(save_directory, "EsmTokenizer", extra)


@TOKENIZERS.register("char", help="single nucleotide A/C/G/T/N (HyenaDNA / Caduceus / GPN layout)")
class CharTokenizer(_SymbolTokenizer):
    """Single-nucleotide tokenizer over ``ACGTN`` in the HyenaDNA / Caduceus layout."""

    scheme = "char"
    _symbols = "ACGTN"
    _alphabet = "ACGTN"
    _slots = (
        ("cls_token", "[CLS]"),
        ("sep_token", "[SEP]"),
        ("bos_token", "[BOS]"),
        ("mask_token", "[MASK]"),
        ("pad_token", "[PAD]"),
        ("", "[RESERVED]"),
        ("unk_token", "[UNK]"),
    )
    # HyenaDNA's eos is [SEP] (no slot of its own); a distinct eos string goes after the symbols
    _extra_defaults = {"eos_token": "[SEP]"}
    _default_template = "eos"

    def __init__(self, vocab_file=None, **kwargs):
        super().__init__(vocab_file, **kwargs)


IUPAC_SYMBOLS = "ACGTURYSWKMBDHVN-"


@TOKENIZERS.register("iupac", help="single nucleotide over every IUPAC code, U and gap '-' (RiNALMo style)")
class IUPACTokenizer(_SymbolTokenizer):
    """Single-nucleotide tokenizer keeping every IUPAC code distinct (lossless on IUPAC input)."""

    scheme = "iupac"
    _symbols = IUPAC_SYMBOLS
    _alphabet = IUPAC_SYMBOLS
    _default_template = "cls_eos"
    _slots = (
        ("cls_token", "<cls>"),
        ("pad_token", "<pad>"),
        ("eos_token", "<eos>"),
        ("unk_token", "<unk>"),
        ("mask_token", "<mask>"),
    )

    def __init__(self, vocab_file=None, **kwargs):
        super().__init__(vocab_file, **kwargs)
