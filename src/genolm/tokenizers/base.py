"""The shared base of every genolm DNA tokenizer, and the ``TOKENIZERS`` registry.

:class:`GenomicTokenizer` is a Hugging Face ``PreTrainedTokenizer`` (the "python" backend)
whose real work happens in numpy on bytes:

* a scheme implements ``_encode_np(b)`` (token ids, no specials) and ``_offsets_np(b)``
  (``(T, 2)`` nucleotide spans) for ``b``, the sequence as a ``uint8`` array;
* :meth:`~GenomicTokenizer.encode_array` / :meth:`~GenomicTokenizer.offsets_array` expose
  them directly for whole genomes;
* the HF entry points (``tok(seq, ...)``, ``tok.encode``, ``tok.tokenize``, ``tok.decode``)
  go through the same code, so the two paths can never disagree.  ``__call__`` is
  overridden so that ``return_offsets_mapping=True`` works (the stock python backend ignores
  it), with special tokens and padding at ``(0, 0)``.

Vocabulary layouts are data: a list of *slots*, each either a special-token attribute
(``"cls_token"``) with its default string, or a literal token, followed by the scheme's
symbols.  A special set to ``None`` keeps its slot (its default string stays in the
vocabulary, it is just not registered as that special) so published ids never shift.  A
special that the layout has no slot for is appended after the symbols.

Conventions shared by every scheme (each one tested in ``tests/test_tokenizers.py``):

* **soft mask**: lower-case bases (repeats, RepeatMasker convention) are tokenized as upper
  case; offsets still refer to positions in the input string.  ``decode`` returns upper case.
* **invalid characters** (anything outside the scheme's alphabet, including non-ASCII):
  ``on_invalid="unk"`` (default) maps them to the unknown token; ``on_invalid="raise"``
  raises :class:`~genolm.errors.InputError` giving the 0-based position.
* **special tokens inside the text** (``"ACG[MASK]T"``) are recognised and split out, as in
  every HF tokenizer, unless ``split_special_tokens=True``; :meth:`encode_array` never looks
  for them (a genome has none, and the scan would cost time).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np
from transformers import BatchEncoding, PreTrainedTokenizer
from transformers.tokenization_utils_base import TruncationStrategy
from transformers.utils import PaddingStrategy

from genolm.errors import ConfigError, InputError
from genolm.registry import Registry, did_you_mean

#: every tokenizer scheme; entries are callables that build a tokenizer from keyword arguments
TOKENIZERS: Registry = Registry("tokenizer")

#: special-token attributes every genolm tokenizer understands (constructor kwargs)
SPECIAL_ATTRS = ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token", "eos_token", "bos_token")

# template -> (prefix, between, suffix) as special-token attribute names.
# single: prefix + A + suffix;  pair: prefix + A + between + B + suffix
TEMPLATES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "none": ((), (), ()),
    "cls": (("cls_token",), (), ()),
    "cls_sep": (("cls_token",), ("sep_token",), ("sep_token",)),
    "cls_eos": (("cls_token",), ("eos_token",), ("eos_token",)),
    "eos": ((), ("eos_token",), ("eos_token",)),
    "sep": ((), ("sep_token",), ("sep_token",)),
    "bos_eos": (("bos_token",), ("eos_token",), ("eos_token",)),
}

ON_INVALID = ("unk", "raise")

Slot = tuple[str, str]  # (special attribute or "", token string)


class Encoding(NamedTuple):
    """Token ids and the nucleotide span of each token, for one sequence (no special tokens)."""

    ids: np.ndarray  #: shape=(T,), int32
    offsets: np.ndarray  #: shape=(T, 2), int64; token t covers seq[offsets[t, 0]:offsets[t, 1]]


def as_bytes(seq: str | bytes | np.ndarray) -> np.ndarray:
    """A sequence as a ``uint8`` array, one byte per input character.

    Non-ASCII characters become ``?`` (one byte each, so positions are kept); they are then
    invalid for every scheme.
    """
    if isinstance(seq, np.ndarray):
        if seq.dtype != np.uint8:
            raise TypeError(f"expected a uint8 array of ASCII codes, got dtype {seq.dtype}")
        return seq
    if isinstance(seq, (bytes, bytearray, memoryview)):
        return np.frombuffer(seq, dtype=np.uint8)
    if not isinstance(seq, str):
        raise TypeError(f"expected a DNA sequence as str, bytes or uint8 array, got {type(seq).__name__}")
    return np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)


def byte_lut(mapping: dict[str, int], default: int, dtype=np.int32, *, both_cases: bool = True) -> np.ndarray:
    """A 256-entry lookup table ``byte -> value``; lower case maps like upper case (soft mask)."""
    lut = np.full(256, default, dtype=dtype)
    for ch, v in mapping.items():
        lut[ord(ch)] = v
        if both_cases:
            lut[ord(ch.lower())] = v
    return lut


def translate(b: np.ndarray, table: bytes) -> np.ndarray:
    """``table[b]`` for a 256-byte table, as ``uint8``: ``bytes.translate`` is 3-4x faster than numpy."""
    return np.frombuffer(b.tobytes().translate(table), dtype=np.uint8)


def window_codes(x: np.ndarray, k: int) -> np.ndarray:
    """Base-4 code of every length-``k`` window of ``x`` (values 0..3), ``uint16`` (k <= 8).

    ``code[i] = sum_j x[i + j] * 4**(k - 1 - j)``, built by doubling (codes of width 1, 2, 4,
    then the binary decomposition of k) so a 6-mer costs 3 combine steps, not 5.
    """
    T = len(x) - k + 1
    if T <= 0:
        return np.zeros(0, dtype=np.uint16)
    widths = {1: x.astype(np.uint16)}
    w = 1
    while 2 * w <= k:
        c = widths[w]
        n = len(c) - w
        nxt = c[:n] << (2 * w)
        nxt |= c[w : w + n]
        widths[2 * w] = nxt
        w *= 2
    code, pos = None, 0
    for w in sorted(widths, reverse=True):
        if k - pos >= w:
            part = widths[w][pos : pos + T]
            if code is None:
                code = part.copy()
            else:
                code <<= 2 * w
                code |= part
            pos += w
    return code


def read_vocab_file(path: str | os.PathLike) -> list[str]:
    """One token per line (the BERT / ESM ``vocab.txt`` format)."""
    with open(path, encoding="utf-8") as f:
        toks = f.read().splitlines()
    while toks and toks[-1] == "":
        toks.pop()
    return toks


def build_layout(slots: Sequence[Slot], body: Sequence[str], specials: dict[str, str | None]) -> list[str]:
    """Materialise a vocabulary layout.

    ``slots`` are ``(attr, default)`` pairs placed before ``body``; a pair ``("", tok)`` is a
    literal token.  ``specials`` holds the configured strings (``None`` keeps the default in
    the slot).  Configured specials without a slot are appended after ``body``.
    """
    vocab: list[str] = []
    used = set()
    for attr, default in slots:
        tok = specials.get(attr) if attr else None
        tok = default if tok is None else str(tok)
        if attr:
            used.add(attr)
        if tok not in vocab:
            vocab.append(tok)
    vocab.extend(body)
    for attr in SPECIAL_ATTRS:
        tok = specials.get(attr)
        if attr not in used and tok is not None and str(tok) not in vocab:
            vocab.append(str(tok))
    return vocab


class GenomicTokenizer(PreTrainedTokenizer):
    """Base of every genolm DNA tokenizer (see the module docstring).

    Parameters
    ----------
    vocab_file : str, optional
        A ``vocab.txt`` (one token per line) whose order defines the ids.  It must hold every
        symbol of the scheme.  Default is the scheme's published layout.
    template : str, optional
        Where special tokens go when ``add_special_tokens=True``: ``"cls_sep"`` (``[CLS] A [SEP]``,
        BERT), ``"cls"`` (``<cls> A``, Nucleotide Transformer), ``"cls_eos"``, ``"eos"``
        (``A [EOS]``, causal LMs), ``"sep"``, ``"bos_eos"`` or ``"none"``.  Default depends on
        the scheme.
    on_invalid : {"unk", "raise"}
        What an invalid character does.  Default is ``"unk"``.

    Other Parameters
    ----------------
    pad_token, unk_token, cls_token, sep_token, mask_token, eos_token, bos_token : str or None
        Special-token strings.  Defaults depend on the scheme's layout.
    """

    #: scheme name (``char``, ``kmer``, ...), also the registry key
    scheme: ClassVar[str] = ""
    vocab_files_names = {"vocab_file": "vocab.txt"}
    model_input_names = ["input_ids", "attention_mask"]
    #: layout slots and default specials; subclasses override
    _slots: ClassVar[tuple[Slot, ...]] = (
        ("pad_token", "[PAD]"),
        ("unk_token", "[UNK]"),
        ("cls_token", "[CLS]"),
        ("sep_token", "[SEP]"),
        ("mask_token", "[MASK]"),
        ("eos_token", "[EOS]"),
    )
    #: default strings of specials that have no slot of their own (appended after the symbols)
    _extra_defaults: ClassVar[dict[str, str]] = {}
    _default_template: ClassVar[str] = "cls_sep"
    #: the bytes that are valid input for this scheme (upper case; lower case is accepted too)
    _alphabet: ClassVar[str] = "ACGTN"

    def __init__(
        self,
        vocab_file: str | None = None,
        *,
        template: str | None = None,
        on_invalid: str = "unk",
        **kwargs: Any,
    ):
        template = template or self._default_template
        if template not in TEMPLATES:
            raise ConfigError(
                f"unknown template '{template}'.{did_you_mean(template, list(TEMPLATES))} "
                f"Choose from {', '.join(TEMPLATES)}."
            )
        if on_invalid not in ON_INVALID:
            raise ConfigError(f"on_invalid must be one of {ON_INVALID}, got '{on_invalid}'")
        self.template = template
        self.on_invalid = on_invalid
        defaults = {**{attr: tok for attr, tok in self._slots if attr}, **self._extra_defaults}
        specials: dict[str, Any] = {}
        for attr in SPECIAL_ATTRS:
            v = kwargs.pop(attr, defaults.get(attr))
            specials[attr] = None if v is None else str(v)
        if specials["unk_token"] is None:
            raise ConfigError(f"{type(self).__name__} needs an unk_token (invalid input maps to it)")
        self._vocab: list[str] = read_vocab_file(vocab_file) if vocab_file else self._build_vocab(specials)
        self._t2i: dict[str, int] = {t: i for i, t in enumerate(self._vocab)}
        if len(self._t2i) != len(self._vocab):
            raise InputError("duplicate tokens in the vocabulary", path=vocab_file)
        missing = [s for s in self._required_tokens() if s not in self._t2i]
        if specials["unk_token"] not in self._t2i:
            missing.insert(0, specials["unk_token"])
        if missing:
            raise InputError(
                f"the {self.scheme} vocabulary lacks {len(missing)} required tokens, e.g. {missing[:5]}",
                path=vocab_file,
                hint="pass the matching scheme parameters (k, layout) or the unk_token used in the file",
            )
        self._unk_id = self._t2i[specials["unk_token"]]
        self._valid_lut = np.zeros(256, dtype=bool)
        for ch in self._alphabet:
            self._valid_lut[ord(ch)] = self._valid_lut[ord(ch.lower())] = True
        self._tok_array = np.array(self._vocab, dtype=object)
        self._build_tables()
        kwargs.setdefault("clean_up_tokenization_spaces", False)
        super().__init__(
            template=template,
            on_invalid=on_invalid,
            **{k: v for k, v in specials.items() if v is not None},
            **kwargs,
        )

    # --- hooks for schemes -----------------------------------------------------------------

    def _body(self) -> list[str]:
        """The scheme's non-special tokens, in layout order."""
        raise NotImplementedError

    def _build_vocab(self, specials: dict[str, str | None]) -> list[str]:
        return build_layout(self._slots, self._body(), specials)

    def _required_tokens(self) -> list[str]:
        return self._body()

    def _build_tables(self) -> None:
        """Build numpy lookup tables from ``self._t2i`` (called once vocab and unk id are set)."""

    def _encode_np(self, b: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _offsets_np(self, b: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _encode_offsets_np(self, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._encode_np(b), self._offsets_np(b)

    def _decode_ids(self, ids: np.ndarray) -> str:
        """Sequence for a run of non-special ids (default: concatenate the token strings)."""
        return "".join(self._tok_array[ids].tolist())

    # --- the fast public API ---------------------------------------------------------------

    @property
    def bp_per_token(self) -> float:
        """Nominal bases each token advances (1 for char and overlapping k-mers, k for non-overlapping)."""
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        return len(self._vocab)

    def get_vocab(self) -> dict[str, int]:
        vocab = dict(self._t2i)
        vocab.update(self._added_tokens_encoder)
        return vocab

    def _check(self, b: np.ndarray) -> np.ndarray:
        if self.on_invalid == "raise":
            bad = ~self._valid_lut[b]
            if bad.any():
                pos = int(np.argmax(bad))
                raise InputError(
                    f"invalid character {chr(b[pos])!r} for the '{self.scheme}' tokenizer",
                    position=pos,
                    hint=f"allowed: {' '.join(self._alphabet)} (either case); or use on_invalid='unk'",
                )
        return b

    def encode_array(self, seq: str | bytes | np.ndarray) -> np.ndarray:
        """Token ids of a whole sequence, no special tokens.

        Returns
        -------
        ids : np.ndarray, shape=(T,), int32
        """
        return self._encode_np(self._check(as_bytes(seq)))

    def offsets_array(self, seq: str | bytes | np.ndarray) -> np.ndarray:
        """Nucleotide span of each token of :meth:`encode_array`.

        Returns
        -------
        offsets : np.ndarray, shape=(T, 2), int64
            Token ``t`` stands for ``seq[offsets[t, 0]:offsets[t, 1]]`` (0-based, end exclusive).
        """
        return self._offsets_np(self._check(as_bytes(seq)))

    def encode_with_offsets(self, seq: str | bytes | np.ndarray) -> Encoding:
        """``Encoding(ids, offsets)``: :meth:`encode_array` and :meth:`offsets_array` in one pass."""
        ids, offs = self._encode_offsets_np(self._check(as_bytes(seq)))
        return Encoding(ids, offs)

    def decode_array(self, ids: np.ndarray | Sequence[int]) -> str:
        """Inverse of :meth:`encode_array` for the lossless schemes (special ids are dropped)."""
        return self.decode(np.asarray(ids).tolist(), skip_special_tokens=True)

    # --- HF python-backend hooks -------------------------------------------------------------

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return self._tok_array[self._encode_np(self._check(as_bytes(text)))].tolist()

    def _convert_token_to_id(self, token: str) -> int:
        return self._t2i.get(token, self._unk_id)

    def _convert_id_to_token(self, index: int) -> str:
        return self._vocab[index] if 0 <= index < len(self._vocab) else str(self.unk_token)

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        seps = {self._convert_id_to_token_with_added(i) for i in self._decode_separators()}
        out, run = [], []
        for t in tokens:
            if t in seps:
                if run:
                    out.append(self._decode_ids(np.array([self._convert_token_to_id(x) for x in run])))
                    run = []
                out.append(t)
            else:
                run.append(t)
        if run:
            out.append(self._decode_ids(np.array([self._convert_token_to_id(x) for x in run])))
        return "".join(out)

    def _decode(
        self,
        token_ids: int | list[int],
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        **kwargs,
    ) -> str:
        ids = np.atleast_1d(np.asarray(token_ids, dtype=np.int64))
        seps = self._decode_separators()
        n = len(self._vocab)
        is_special = np.array([i in seps or not 0 <= i < n for i in ids.tolist()], dtype=bool)
        if not is_special.any():
            return self._decode_ids(ids)
        out: list[str] = []
        start = 0
        for pos in np.flatnonzero(is_special).tolist():
            if pos > start:
                out.append(self._decode_ids(ids[start:pos]))
            if not skip_special_tokens:
                out.append(self._convert_id_to_token_with_added(int(ids[pos])))
            start = pos + 1
        if start < len(ids):
            out.append(self._decode_ids(ids[start:]))
        return "".join(out)

    def _decode_separators(self) -> set[int]:
        """Ids that ``decode`` emits as their own strings (or drops) rather than decoding."""
        return set(self.all_special_ids)

    def _convert_id_to_token_with_added(self, index: int) -> str:
        if index in self._added_tokens_decoder:
            return self._added_tokens_decoder[index].content
        return self._convert_id_to_token(index)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Hugging Face's ``save_pretrained``, plus ``tokenization_genolm.py`` (generated from genolm's
        sources) and an ``auto_map`` in ``tokenizer_config.json``, so that plain transformers loads the
        folder with ``trust_remote_code=True`` (:mod:`genolm.sharing`)."""
        out = super().save_pretrained(save_directory, *args, **kwargs)
        try:
            from genolm.sharing import write_tokenizer_files
        except ImportError:  # the generated tokenization_genolm.py, loaded as remote code without genolm
            return out
        write_tokenizer_files(self, save_directory)
        return out

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        path = os.path.join(save_directory, (filename_prefix + "-" if filename_prefix else "") + "vocab.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(self._vocab) + "\n")
        return (path,)

    # --- special tokens ----------------------------------------------------------------------

    def _template_ids(self) -> tuple[list[int], list[int], list[int]]:
        # cached: resolving *_token_id through transformers' __getattr__ took a third of a
        # batch call's time.  The key holds the special tokens, so changing one invalidates it.
        smap = self.__dict__.get("_special_tokens_map", {})
        key = (self.template, tuple((k, str(v)) for k, v in smap.items()))
        cached = self.__dict__.get("_template_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        parts = []
        for attrs in TEMPLATES[self.template]:
            ids = []
            for a in attrs:
                i = getattr(self, a + "_id")
                if i is None:
                    raise ConfigError(
                        f"template '{self.template}' needs {a}, which is not set on this {type(self).__name__}"
                    )
                ids.append(i)
            parts.append(ids)
        out = (parts[0], parts[1], parts[2])
        self.__dict__["_template_cache"] = (key, out)
        return out

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        pre, mid, suf = TEMPLATES[self.template]
        return len(pre) + len(suf) + (len(mid) if pair else 0)

    def build_inputs_with_special_tokens(self, token_ids_0: list[int], token_ids_1: list[int] | None = None):
        pre, mid, suf = self._template_ids()
        if token_ids_1 is None:
            return pre + list(token_ids_0) + suf
        return pre + list(token_ids_0) + mid + list(token_ids_1) + suf

    def get_special_tokens_mask(self, token_ids_0, token_ids_1=None, already_has_special_tokens=False):
        if already_has_special_tokens:
            special = set(self.all_special_ids)
            return [1 if t in special else 0 for t in token_ids_0]
        pre, mid, suf = TEMPLATES[self.template]
        if token_ids_1 is None:
            return [1] * len(pre) + [0] * len(token_ids_0) + [1] * len(suf)
        return (
            [1] * len(pre) + [0] * len(token_ids_0) + [1] * len(mid) + [0] * len(token_ids_1) + [1] * len(suf)
        )

    def create_token_type_ids_from_sequences(self, token_ids_0, token_ids_1=None):
        pre, mid, suf = TEMPLATES[self.template]
        first = len(pre) + len(token_ids_0) + len(mid)
        if token_ids_1 is None:
            return [0] * (first - len(mid) + len(suf))
        return [0] * first + [1] * (len(token_ids_1) + len(suf))

    # --- __call__ with offsets ---------------------------------------------------------------

    def _text_ids_offsets(
        self, text: str, split_special_tokens: bool, need_offsets: bool = True
    ) -> tuple[list[int], list[tuple]]:
        """Ids and offsets of one text, recognising special tokens written inside it.

        With ``need_offsets=False`` (no offsets requested, no truncation) the offsets list is
        empty: building it costs as much as the encoding itself.
        """
        specials = [] if split_special_tokens else [t for t in self._added_tokens_encoder if t in text]
        if not specials:
            if not need_offsets:
                return self._encode_np(self._check(as_bytes(text))).tolist(), []
            ids, offs = self._encode_offsets_np(self._check(as_bytes(text)))
            return ids.tolist(), [tuple(o) for o in offs.tolist()]
        ids_out: list[int] = []
        offs_out: list[tuple] = []
        pos = 0
        for piece in self.tokens_trie.split(text):
            if piece in self._added_tokens_encoder:
                ids_out.append(self._added_tokens_encoder[piece])
                offs_out.append((pos, pos + len(piece)))
            elif piece:
                ids, offs = self._encode_offsets_np(self._check(as_bytes(piece)))
                ids_out.extend(ids.tolist())
                offs_out.extend((a + pos, b + pos) for a, b in offs.tolist())
            pos += len(piece)
        return ids_out, offs_out

    def _encode_plus(
        self,
        text,
        text_pair=None,
        add_special_tokens: bool = True,
        padding_strategy: PaddingStrategy = PaddingStrategy.DO_NOT_PAD,
        truncation_strategy: TruncationStrategy = TruncationStrategy.DO_NOT_TRUNCATE,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors=None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        split_special_tokens: bool = False,
        **kwargs,
    ) -> BatchEncoding:
        common = dict(
            add_special_tokens=add_special_tokens,
            truncation_strategy=truncation_strategy,
            max_length=max_length,
            stride=stride,
            return_token_type_ids=return_token_type_ids,
            return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask,
            return_offsets_mapping=return_offsets_mapping,
            return_length=return_length,
            split_special_tokens=split_special_tokens,
        )
        if isinstance(text, str) and (text_pair is None or isinstance(text_pair, str)):
            enc = self._encode_one(text, text_pair, **common)
            return self._finish(
                enc,
                padding_strategy,
                max_length,
                pad_to_multiple_of,
                padding_side,
                return_attention_mask,
                return_tensors,
                prepend_batch_axis=True,
            )
        is_batch_of_str = (
            isinstance(text, (list, tuple))
            and not is_split_into_words
            and all(
                isinstance(t, str)
                or (isinstance(t, (list, tuple)) and len(t) == 2 and all(isinstance(x, str) for x in t))
                for t in text
            )
        )
        if is_batch_of_str:
            pairs = text_pair if text_pair is not None else [None] * len(text)
            if len(pairs) != len(text):
                raise ValueError("text and text_pair must be batches of the same length")
            batch: dict[str, list] = {}
            for t, p in zip(text, pairs):
                if not isinstance(t, str):
                    t, p = t
                enc = self._encode_one(t, p, **common)
                for k, v in enc.items():
                    batch.setdefault(k, []).append(v)
            if return_tensors and return_overflowing_tokens:
                batch.pop("overflowing_tokens", None)
                batch.pop("num_truncated_tokens", None)
            return self._finish(
                batch,
                padding_strategy,
                max_length,
                pad_to_multiple_of,
                padding_side,
                return_attention_mask,
                return_tensors,
                prepend_batch_axis=False,
            )
        if return_offsets_mapping:
            raise NotImplementedError(
                "return_offsets_mapping needs raw sequences (str or a batch of str); "
                "pre-tokenized or id inputs have no nucleotide positions"
            )
        return super()._encode_plus(
            text,
            text_pair=text_pair,
            padding_strategy=padding_strategy,
            is_split_into_words=is_split_into_words,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side,
            return_tensors=return_tensors,
            return_attention_mask=return_attention_mask,
            verbose=verbose,
            **{
                k: v for k, v in common.items() if k not in ("return_offsets_mapping", "split_special_tokens")
            },
            split_special_tokens=split_special_tokens,
            **kwargs,
        )

    def _encode_one(
        self,
        text: str,
        text_pair: str | None,
        *,
        add_special_tokens,
        truncation_strategy,
        max_length,
        stride,
        return_token_type_ids,
        return_overflowing_tokens,
        return_special_tokens_mask,
        return_offsets_mapping,
        return_length,
        split_special_tokens,
    ) -> dict:
        need = bool(return_offsets_mapping) or (
            truncation_strategy != TruncationStrategy.DO_NOT_TRUNCATE and max_length is not None
        )
        ids0, offs0 = self._text_ids_offsets(text, split_special_tokens, need)
        ids1, offs1 = (
            self._text_ids_offsets(text_pair, split_special_tokens, need)
            if text_pair is not None
            else ([], [])
        )
        pair = text_pair is not None
        n_special = self.num_special_tokens_to_add(pair) if add_special_tokens else 0
        total = len(ids0) + len(ids1) + n_special
        overflowing: list[int] = []
        if (
            truncation_strategy != TruncationStrategy.DO_NOT_TRUNCATE
            and max_length is not None
            and total > max_length
        ):
            # truncate index lists, then map back, so offsets follow the ids exactly
            n0 = len(ids0)
            i0, i1, over = self.truncate_sequences(
                list(range(n0)),
                pair_ids=list(range(n0, n0 + len(ids1))) if pair else None,
                num_tokens_to_remove=total - max_length,
                truncation_strategy=truncation_strategy,
                stride=stride,
            )
            all_ids, all_offs = ids0 + ids1, offs0 + offs1
            overflowing = [all_ids[i] for i in over]
            ids0, offs0 = [all_ids[i] for i in i0], [all_offs[i] for i in i0]
            i1 = i1 or []
            ids1, offs1 = [all_ids[i] for i in i1], [all_offs[i] for i in i1]
        if add_special_tokens:
            pre, mid, suf = self._template_ids()
            input_ids = pre + ids0 + (mid + ids1 if pair else []) + suf
            z = (0, 0)
            offsets = (
                [z] * len(pre) + offs0 + ([z] * len(mid) + offs1 if pair else []) + [z] * len(suf)
                if return_offsets_mapping
                else []
            )
        else:
            input_ids = ids0 + ids1
            offsets = offs0 + offs1
        enc: dict[str, Any] = {"input_ids": input_ids}
        if return_token_type_ids or (
            return_token_type_ids is None and "token_type_ids" in self.model_input_names
        ):
            enc["token_type_ids"] = (
                self.create_token_type_ids_from_sequences(ids0, ids1 if pair else None)
                if add_special_tokens
                else [0] * len(ids0) + [1] * len(ids1)
            )
        if return_special_tokens_mask:
            enc["special_tokens_mask"] = (
                self.get_special_tokens_mask(ids0, ids1 if pair else None)
                if add_special_tokens
                else [0] * len(input_ids)
            )
        if return_offsets_mapping:
            enc["offset_mapping"] = offsets
        if return_overflowing_tokens and overflowing:
            enc["overflowing_tokens"] = overflowing
            enc["num_truncated_tokens"] = total - max_length
        if return_length:
            enc["length"] = len(input_ids)
        return enc

    def _finish(
        self,
        enc,
        padding_strategy,
        max_length,
        pad_to_multiple_of,
        padding_side,
        return_attention_mask,
        return_tensors,
        prepend_batch_axis,
    ) -> BatchEncoding:
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        if padding_strategy != PaddingStrategy.DO_NOT_PAD or return_attention_mask:
            enc = self.pad(
                enc,
                max_length=max_length,
                padding=padding_strategy.value,
                pad_to_multiple_of=pad_to_multiple_of,
                padding_side=padding_side,
                return_attention_mask=return_attention_mask,
            )
        return BatchEncoding(enc, tensor_type=return_tensors, prepend_batch_axis=prepend_batch_axis)

    def _pad(
        self,
        encoded_inputs,
        max_length=None,
        padding_strategy=PaddingStrategy.DO_NOT_PAD,
        pad_to_multiple_of=None,
        padding_side=None,
        return_attention_mask=None,
    ) -> dict:
        n_before = len(encoded_inputs[self.model_input_names[0]])
        out = super()._pad(
            encoded_inputs,
            max_length,
            padding_strategy,
            pad_to_multiple_of,
            padding_side,
            return_attention_mask,
        )
        diff = len(out[self.model_input_names[0]]) - n_before
        if diff and "offset_mapping" in out:
            side = padding_side if padding_side is not None else self.padding_side
            pad = [(0, 0)] * diff
            out["offset_mapping"] = (
                list(out["offset_mapping"]) + pad if side == "right" else pad + list(out["offset_mapping"])
            )
        return out

    # --- published layouts for stock loaders -----------------------------------------------

    def to_stock_text(self, seq: str) -> str:
        """The text a stock HF tokenizer loaded from :meth:`export_stock` needs to give the same ids."""
        return seq.upper()

    def export_stock(self, save_directory: str | os.PathLike) -> tuple[str, ...]:
        """Write files that a stock ``transformers`` tokenizer loads (no genolm needed).

        Schemes whose stock loader cannot reproduce them raise ``NotImplementedError``.
        """
        raise NotImplementedError(f"the '{self.scheme}' scheme has no stock transformers equivalent")

    def _write_stock(self, save_directory, tokenizer_class: str, extra: dict) -> tuple[str, ...]:
        import json

        os.makedirs(save_directory, exist_ok=True)
        (vocab_path,) = self.save_vocabulary(str(save_directory))
        cfg = {
            "tokenizer_class": tokenizer_class,
            "model_max_length": int(min(self.model_max_length, 2**31 - 1)),
        }
        cfg.update(extra)
        path = os.path.join(save_directory, "tokenizer_config.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
            f.write("\n")
        return vocab_path, path

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(scheme={self.scheme!r}, vocab_size={self.vocab_size}, "
            f"template={self.template!r}, on_invalid={self.on_invalid!r})"
        )


_AUTO_MODULE = "transformers.models.auto.tokenization_auto"
_PENDING: list[type] = []


def register_with_transformers(*classes: type) -> None:
    """Let ``AutoTokenizer.from_pretrained`` find genolm classes by ``tokenizer_class`` name.

    No ``trust_remote_code`` is involved: the classes are looked up in this process, so
    ``import genolm.tokenizers`` must have run.  ``transformers``' auto module imports torch
    (about 1.5 s), so registration waits until something imports it: a one-shot import hook
    registers the classes right after it loads.
    """
    _PENDING.extend(c for c in classes if c not in _PENDING)
    mod = sys.modules.get(_AUTO_MODULE)
    if mod is not None:
        _register_now(mod)
    elif not any(isinstance(f, _AutoTokenizerHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _AutoTokenizerHook())


def _register_now(mod) -> None:
    registered = getattr(mod, "REGISTERED_TOKENIZER_CLASSES", None)
    if registered is not None:  # transformers >= 5
        for cls in _PENDING:
            registered.setdefault(cls.__name__, cls)
        return
    # transformers 4.x: tokenizer_class_from_name() searches TOKENIZER_MAPPING._extra_content,
    # which AutoTokenizer.register fills; it needs a (dummy) config class per tokenizer.
    from transformers import PretrainedConfig

    for cls in _PENDING:
        config = type(f"_{cls.__name__}Config", (PretrainedConfig,), {"model_type": f"genolm-{cls.scheme}"})
        try:
            mod.AutoTokenizer.register(config, slow_tokenizer_class=cls, exist_ok=True)
        except TypeError:  # older signature without exist_ok
            mod.AutoTokenizer.register(config, slow_tokenizer_class=cls)


class _AutoTokenizerHook(importlib.abc.MetaPathFinder):
    """Registers genolm tokenizers as soon as ``tokenization_auto`` finishes loading."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _AUTO_MODULE:
            return None
        sys.meta_path.remove(self)  # one shot; also keeps find_spec below from recursing
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_register(module):
            exec_module(module)
            _register_now(module)

        spec.loader.exec_module = exec_and_register
        return spec
