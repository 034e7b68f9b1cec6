"""k-mer tokenizers: overlapping (``kmer``, DNABERT) and non-overlapping (``nt6``, Nucleotide Transformer).

Published layouts (ids line up with the released checkpoints):

DNABERT (``layout="dnabert"``, zhihan1996/DNA_bert_3 ... DNA_bert_6)
    ``vocab.txt`` = ``[PAD] [UNK] [CLS] [SEP] [MASK]`` then all 4**k k-mers in
    ``itertools.product("ATCG", repeat=k)`` order (AAA, AAT, AAC, AAG, ATA, ...).  Source:
    jerryji1993/DNABERT ``src/transformers/dnabert-config/bert-config-{3..6}/vocab.txt``.
    Template ``[CLS] kmers [SEP]``.  A k-mer holding ``N`` or an invalid character is
    ``[UNK]`` (what BertTokenizer does with such a "word").  A sequence shorter than k has
    no tokens.

Nucleotide Transformer (``layout="nt"``, InstaDeepAI/nucleotide-transformer-* ``vocab.txt``)
    ``<unk> <pad> <mask> <cls> <eos> <bos>``, then the 4**k k-mers in
    ``product("ATCG")`` order, then ``A T C G N`` (4107 tokens for k=6).  Source:
    instadeepai/nucleotide-transformer ``tokenizers.py::compute_tokens_to_ids_v2`` with
    ``constants.py`` (``NUCLEOTIDES = ["A", "T", "C", "G"]``, ``EXTRA_NUCLEOTIDES = ["N"]``).
    ``layout="nt-jax-v1"`` is the order of the original JAX v1 tokenizer
    (``<unk> <pad> <mask> <cls>``, k-mers, ``A T C G N``, ``<eos> <bos>``).
    Template ``<cls> tokens`` (no end token).

NT tokenization, exactly as ``NucleotidesKmersTokenizer.tokenize``: the sequence is cut at
every ``N``; each N-free stretch is read left to right in k-mers; the leftover (< k bases)
at the end of a stretch becomes single-nucleotide tokens; each ``N`` is its own ``N``
token.  An invalid character (not ACGTN) is a single ``<unk>`` token and also ends a stretch,
which is what the stock ``EsmTokenizer`` does with NT's ``vocab.txt``.  Example (k=6)::

    ACGTGTACNTGCACGGANCGACTAGTCTGA -> ACGTGT A C N TGCACG G A N CGACTA GTCTGA
"""

from __future__ import annotations

import itertools

import numpy as np

from genolm.errors import ConfigError
from genolm.tokenizers.base import TOKENIZERS, GenomicTokenizer, byte_lut, translate, window_codes

#: base order of the published k-mer vocabularies (DNABERT and NT both use it); the internal
#: base-4 codes use the same digits (A=0 T=1 C=2 G=3), so a k-mer's code is its rank in the
#: published list and ids are ``offset + code`` without a table lookup
KMER_ORDER = "ATCG"


def kmers(k: int, order: str = KMER_ORDER) -> list[str]:
    """All 4**k k-mers in ``itertools.product(order, repeat=k)`` order."""
    return ["".join(p) for p in itertools.product(order, repeat=k)]


def base_lut(order: str = KMER_ORDER) -> np.ndarray:
    """byte -> digit of the base in ``order`` (either case), 4 for N/n, 5 for anything else."""
    lut = byte_lut({c: i for i, c in enumerate(order)}, 5, dtype=np.uint8)
    lut[ord("N")] = lut[ord("n")] = 4
    return lut


_KMER_TABLE = base_lut(KMER_ORDER).tobytes()


class CodeToId:
    """Maps base-4 k-mer codes (digits in ``order``) to vocabulary ids: ``offset + code`` when
    the vocabulary lists the k-mers contiguously in that order (every published layout),
    else a lookup table (a ``vocab.txt`` in some other order)."""

    def __init__(self, t2i: dict[str, int], k: int, order: str = KMER_ORDER):
        ids = np.array([t2i[w] for w in kmers(k, order)], dtype=np.int32)
        self.offset = int(ids[0]) if np.array_equal(ids, ids[0] + np.arange(len(ids))) else None
        self.table = ids

    def __call__(self, code: np.ndarray) -> np.ndarray:
        if self.offset is not None:
            out = code.astype(np.int32)
            out += self.offset
            return out
        return self.table[code]


def _spans(n: int, step: int, width: int, start: int = 0) -> np.ndarray:
    """``(n, 2)`` int64 offsets of ``n`` tokens starting every ``step`` bases, each ``width`` long."""
    out = np.empty((n, 2), dtype=np.int64)
    out[:, 0] = np.arange(start, start + n * step, step, dtype=np.int64)
    np.add(out[:, 0], width, out=out[:, 1])
    return out


def _infer_k(k: int | None, vocab_file, default: int = 6) -> int:
    """``k`` as given; else the longest A/C/G/T-only token of ``vocab_file``; else ``default``."""
    if k is not None:
        return k
    if vocab_file is None:
        return default
    from genolm.tokenizers.base import read_vocab_file

    lengths = [len(t) for t in read_vocab_file(vocab_file) if t and set(t) <= set("ACGT")]
    return max(lengths) if lengths else default


def _check_k(k: int, lo: int = 1, hi: int = 8) -> int:
    if not isinstance(k, (int, np.integer)) or not lo <= k <= hi:
        raise ConfigError(f"k must be an integer in {lo}..{hi}, got {k!r}")
    return int(k)


class _KmerBase(GenomicTokenizer):
    k: int

    def _build_tables(self) -> None:
        self._code2id = CodeToId(self._t2i, self.k)

    def _codes_at(self, x: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Base-4 codes of the k-mers starting at ``starts`` (``x`` holds 0..3 there)."""
        code = x[starts].astype(np.uint16)
        for j in range(1, self.k):
            code <<= 2
            code |= x[starts + j]
        return code


@TOKENIZERS.register("kmer", help="overlapping k-mers, stride 1 (DNABERT layout); k=3..6, default 6")
class KmerTokenizer(_KmerBase):
    """Overlapping k-mers (DNABERT): token ``i`` is ``seq[i:i+k]``; ``T = L - k + 1`` tokens.

    Parameters
    ----------
    k : int
        k-mer length.  Default is 6, or the k of ``vocab_file`` when one is given.
    layout : {"dnabert"}
        Vocabulary order; see the module docstring.  Default is ``"dnabert"``.
    **kwargs
        See :class:`~genolm.tokenizers.base.GenomicTokenizer`.
    """

    scheme = "kmer"
    _slots = (
        ("pad_token", "[PAD]"),
        ("unk_token", "[UNK]"),
        ("cls_token", "[CLS]"),
        ("sep_token", "[SEP]"),
        ("mask_token", "[MASK]"),
    )
    _default_template = "cls_sep"
    _alphabet = "ACGTN"

    def __init__(self, vocab_file=None, k: int | None = None, layout: str = "dnabert", **kwargs):
        self.k = _check_k(_infer_k(k, vocab_file))
        if layout != "dnabert":
            raise ConfigError(f"unknown layout '{layout}' for kmer; the only one is 'dnabert'")
        self.layout = layout
        super().__init__(vocab_file, k=self.k, layout=layout, **kwargs)

    def _body(self) -> list[str]:
        return kmers(self.k)

    def _build_tables(self) -> None:
        super()._build_tables()
        k, V = self.k, len(self._vocab)
        # id -> its k characters (for decode); non-k-mer ids read as N
        self._kchars = np.full((V, k), ord("N"), dtype=np.uint8)
        self._is_kmer = np.zeros(V, dtype=bool)
        for w in kmers(k):
            i = self._t2i[w]
            self._kchars[i] = np.frombuffer(w.encode(), dtype=np.uint8)
            self._is_kmer[i] = True

    @property
    def bp_per_token(self) -> float:
        return 1.0

    def _encode_np(self, b: np.ndarray) -> np.ndarray:
        k = self.k
        T = len(b) - k + 1
        if T <= 0:
            return np.zeros(0, dtype=np.int32)
        x = translate(b, _KMER_TABLE)  # A=0 T=1 C=2 G=3, N=4, other=5
        any_bad = bool(x.max() > 3)
        if any_bad:
            bad = x > 3
            x = x & 3
        ids = self._code2id(window_codes(x, k))
        if any_bad:
            # every window holding a bad base is [UNK]: windows p-k+1 .. p for bad base p
            inv = np.flatnonzero(bad)
            if len(inv) * k <= T:  # sparse N: touch only the affected windows
                hit = (inv[:, None] - np.arange(k)[None, :]).ravel()
                ids[hit[(hit >= 0) & (hit < T)]] = self._unk_id
            else:  # long N blocks: count bad bases per window with a cumulative sum
                cs = np.concatenate([[0], np.cumsum(bad, dtype=np.int32)])
                ids[(cs[k:] - cs[:T]) > 0] = self._unk_id
        return ids

    def _offsets_np(self, b: np.ndarray) -> np.ndarray:
        return _spans(max(len(b) - self.k + 1, 0), 1, self.k)

    def _decode_ids(self, ids: np.ndarray) -> str:
        """Rebuild the sequence from overlapping k-mers; bases covered only by ``[UNK]`` read as N."""
        T = len(ids)
        if T == 0:
            return ""
        ids = np.asarray(ids, dtype=np.int64)
        ok = (ids >= 0) & (ids < len(self._vocab))
        ids = np.where(ok, ids, self._unk_id)
        out = np.full(T + self.k - 1, ord("N"), dtype=np.uint8)
        idx = np.flatnonzero(self._is_kmer[ids])
        chars = self._kchars[ids[idx]]
        for j in range(self.k):
            out[idx + j] = chars[:, j]
        return out.tobytes().decode("ascii")

    def _decode_separators(self) -> set[int]:
        return set(self.all_special_ids) - {self._unk_id}

    def to_stock_text(self, seq: str) -> str:
        """Space-separated k-mers (DNABERT's ``seq2kmer``), with ``[UNK]`` for invalid k-mers."""
        return " ".join(self._tok_array[self.encode_array(seq)].tolist())

    def export_stock(self, save_directory) -> tuple[str, ...]:
        """``vocab.txt`` (published order) + config for the stock ``BertTokenizer`` (no lower-casing).

        The stock tokenizer takes :meth:`to_stock_text` (space-separated k-mers), like DNABERT.
        """
        if self.template != "cls_sep":
            raise NotImplementedError("BertTokenizer always adds [CLS] A [SEP]; use template='cls_sep'")
        extra = {"do_lower_case": False, "tokenize_chinese_chars": False, "strip_accents": None}
        for attr in ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token"):
            extra[attr] = getattr(self, attr)
        return self._write_stock(save_directory, "BertTokenizer", extra)


_NT_LAYOUTS = {
    "nt": (
        ("unk_token", "<unk>"),
        ("pad_token", "<pad>"),
        ("mask_token", "<mask>"),
        ("cls_token", "<cls>"),
        ("eos_token", "<eos>"),
        ("bos_token", "<bos>"),
    ),
    # JAX v1: <eos> <bos> come after the symbols (appended by build_layout)
    "nt-jax-v1": (
        ("unk_token", "<unk>"),
        ("pad_token", "<pad>"),
        ("mask_token", "<mask>"),
        ("cls_token", "<cls>"),
    ),
}
NT_SINGLES = list(KMER_ORDER) + ["N"]


@TOKENIZERS.register(
    "nt6",
    aliases=("nt",),
    help="non-overlapping 6-mers, single-base fallback for N and remainders (Nucleotide Transformer layout)",
)
class NonOverlappingKmerTokenizer(_KmerBase):
    """Non-overlapping k-mers with NT's single-nucleotide fallback (see the module docstring).

    Parameters
    ----------
    k : int
        k-mer length.  Default is 6 (NT v1/v2; NT also released a 3-mer model), or the k of
        ``vocab_file`` when one is given.
    layout : {"nt", "nt-jax-v1"}
        Vocabulary order.  Default is ``"nt"`` (the Hugging Face ``vocab.txt``).
    **kwargs
        See :class:`~genolm.tokenizers.base.GenomicTokenizer`.
    """

    scheme = "nt6"
    _slots = _NT_LAYOUTS["nt"]
    _extra_defaults = {"eos_token": "<eos>", "bos_token": "<bos>"}
    _default_template = "cls"
    _alphabet = "ACGTN"

    def __init__(self, vocab_file=None, k: int | None = None, layout: str = "nt", **kwargs):
        self.k = _check_k(_infer_k(k, vocab_file), lo=2)  # k=1 would list A C G T twice
        if layout not in _NT_LAYOUTS:
            raise ConfigError(f"unknown layout '{layout}' for nt6; choose from {', '.join(_NT_LAYOUTS)}")
        self.layout = layout
        self._slots = _NT_LAYOUTS[layout]
        super().__init__(vocab_file, k=self.k, layout=layout, **kwargs)

    def _body(self) -> list[str]:
        return kmers(self.k) + NT_SINGLES

    def _build_tables(self) -> None:
        super()._build_tables()
        self._single_lut = byte_lut({c: self._t2i[c] for c in NT_SINGLES}, self._unk_id)

    @property
    def bp_per_token(self) -> float:
        return float(self.k)

    def _plan(self, b: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """``(x, starts, is_kmer)``: token start positions and which of them open a k-mer.

        ``starts`` is None for the common case of a sequence without N or invalid characters
        (k-mers from 0, then the leftover bases), which :meth:`_encode_offsets_np` handles
        with a reshape.
        """
        k = self.k
        L = len(b)
        x = translate(b, _KMER_TABLE)  # A=0 T=1 C=2 G=3, N=4, other=5
        if L == 0 or x.max() < 4:
            return x, None, None
        inv = np.flatnonzero(x > 3)
        run_s = np.concatenate([[0], inv + 1])  # N-free stretches [run_s, run_e)
        run_e = np.concatenate([inv, [L]])
        nk = (run_e - run_s) // k
        n_k = int(nk.sum())
        first = np.cumsum(nk) - nk
        kstarts = np.repeat(run_s, nk) + k * (np.arange(n_k) - np.repeat(first, nk))
        rem_s = run_s + k * nk  # leftover [rem_s, run_e) of each stretch: single tokens
        rem_n = run_e - rem_s
        n_r = int(rem_n.sum())
        rem = np.repeat(rem_s, rem_n) + (np.arange(n_r) - np.repeat(np.cumsum(rem_n) - rem_n, rem_n))
        kind = np.zeros(L, dtype=np.uint8)  # 1: a k-mer starts here, 2: a single-base token
        kind[kstarts] = 1
        kind[rem] = 2
        kind[inv] = 2
        starts = np.flatnonzero(kind)
        return x, starts, kind[starts] == 1

    def _encode_offsets_np(self, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = self.k
        x, starts, is_kmer = self._plan(b)
        if starts is None:  # no N: reshape into k-mers, leftover bases are single tokens
            n = len(b) // k
            code = np.zeros(n, dtype=np.uint16)
            xs = x[: n * k].reshape(n, k)
            for j in range(k):
                code <<= 2
                code |= xs[:, j]
            ids = np.concatenate([self._code2id(code), self._single_lut[b[n * k :]]])
            offs = np.concatenate([_spans(n, k, k), _spans(len(b) - n * k, 1, 1, n * k)])
            return ids, offs
        ids = self._single_lut[b[starts]]
        ks = starts[is_kmer]
        if len(ks):
            ids[is_kmer] = self._code2id(self._codes_at(x, ks))
        ends = starts + np.where(is_kmer, k, 1)
        return ids, np.stack([starts, ends], axis=1)

    def _encode_np(self, b: np.ndarray) -> np.ndarray:
        return self._encode_offsets_np(b)[0]

    def _offsets_np(self, b: np.ndarray) -> np.ndarray:
        return self._encode_offsets_np(b)[1]

    def export_stock(self, save_directory) -> tuple[str, ...]:
        """``vocab.txt`` (published order) + config for the stock ``EsmTokenizer``, as NT ships it.

        The stock tokenizer takes the raw upper-case sequence (:meth:`to_stock_text`).
        """
        if self.template not in ("cls", "cls_eos"):
            raise NotImplementedError("EsmTokenizer only adds '<cls> A' or '<cls> A <eos>'")
        extra = {"clean_up_tokenization_spaces": False}
        for attr in ("unk_token", "pad_token", "mask_token", "cls_token", "eos_token"):
            extra[attr] = getattr(self, attr, None)
        if self.template == "cls":
            extra["eos_token"] = None  # EsmTokenizer appends eos whenever it has one
        return self._write_stock(save_directory, "EsmTokenizer", extra)


def _register_fixed_k() -> None:
    import functools

    for k in (3, 4, 5, 6):
        TOKENIZERS.add(
            f"kmer{k}",
            functools.partial(KmerTokenizer, k=k),
            help=f"overlapping {k}-mers (DNABERT-{k} vocab.txt layout)",
        )


_register_fixed_k()
