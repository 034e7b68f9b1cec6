"""Codon tokenizer (HELM style): one token per codon in a fixed reading frame.

Vocabulary: ``[PAD] [UNK] [CLS] [SEP] [MASK] [EOS]`` then the 64 codons in lexicographic
``ACGT`` order (AAA, AAC, AAG, AAT, ACA, ...).

Reading frame and edges, explicitly:

* ``frame`` (0, 1 or 2) is where the first codon starts: tokens cover
  ``seq[frame + 3i : frame + 3i + 3]``.
* The ``frame`` leading bases and the ``(len - frame) % 3`` trailing bases are **not
  tokenized** (no token covers them; the offsets show it).  ``decode(encode(s))`` therefore
  returns ``s[frame : frame + 3 * n_codons]`` (upper case); it equals ``s`` when ``s`` is whole
  codons in frame 0.
* A codon holding ``N`` or an invalid character is one ``[UNK]`` token (offsets still span
  its three bases).  With ``on_invalid="raise"`` an invalid character (not ACGTN) raises
  instead, ``N`` does not.
* ``U`` is invalid: convert RNA with :func:`genolm.alphabet.to_dna` first.
"""

from __future__ import annotations

import numpy as np

from genolm.errors import ConfigError
from genolm.tokenizers.base import TOKENIZERS, GenomicTokenizer, translate
from genolm.tokenizers.kmer import CodeToId, _spans, base_lut, kmers

CODON_ORDER = "ACGT"
CODONS = kmers(3, CODON_ORDER)
_CODON_TABLE = base_lut(CODON_ORDER).tobytes()


@TOKENIZERS.register("codon", help="non-overlapping codons in a given reading frame 0/1/2 (HELM style)")
class CodonTokenizer(GenomicTokenizer):
    """Codon tokenizer.

    Parameters
    ----------
    frame : {0, 1, 2}
        Offset of the first codon.  Default is 0.
    **kwargs
        See :class:`~genolm.tokenizers.base.GenomicTokenizer`.
    """

    scheme = "codon"
    _alphabet = "ACGTN"
    _default_template = "cls_sep"

    def __init__(self, vocab_file=None, frame: int = 0, **kwargs):
        if frame not in (0, 1, 2):
            raise ConfigError(f"frame must be 0, 1 or 2, got {frame!r}")
        self.frame = int(frame)
        super().__init__(vocab_file, frame=self.frame, **kwargs)

    def _body(self) -> list[str]:
        return list(CODONS)

    def _build_tables(self) -> None:
        self._code2id = CodeToId(self._t2i, 3, CODON_ORDER)

    @property
    def bp_per_token(self) -> float:
        return 3.0

    def _encode_np(self, b: np.ndarray) -> np.ndarray:
        n = max((len(b) - self.frame) // 3, 0)
        if n == 0:
            return np.zeros(0, dtype=np.int32)
        x = translate(b[self.frame : self.frame + 3 * n], _CODON_TABLE).reshape(n, 3)
        code = (x[:, 0] & 3) << 4  # uint8: 64 codons fit
        code |= (x[:, 1] & 3) << 2
        code |= x[:, 2] & 3
        ids = self._code2id(code)
        if x.max() > 3:
            ids[(x > 3).any(axis=1)] = self._unk_id
        return ids

    def _offsets_np(self, b: np.ndarray) -> np.ndarray:
        return _spans(max((len(b) - self.frame) // 3, 0), 3, 3, self.frame)

    def _decode_ids(self, ids: np.ndarray) -> str:
        # [UNK] codons come back as NNN so decoded length = 3 * tokens (positions stay aligned)
        return "".join(self._vocab[i] if i != self._unk_id else "NNN" for i in np.asarray(ids).tolist())

    def _decode_separators(self) -> set[int]:
        return set(self.all_special_ids) - {self._unk_id}
