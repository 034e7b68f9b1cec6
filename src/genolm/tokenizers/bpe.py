"""Byte-pair encoding learned from FASTA (DNABERT-2 style), built on the ``tokenizers`` library.

The model is a ``tokenizers.Tokenizer`` (saved as ``tokenizer.json``):

* ``models.BPE`` with ``unk_token``; special tokens first, in DNABERT-2's order
  ``[UNK]=0 [CLS]=1 [SEP]=2 [PAD]=3 [MASK]=4``, then the alphabet ``A C G T N`` and the merges.
* pre-tokenizer ``Split([ACGT]{1,max_piece_bp}, isolated)``: BPE runs on pieces of at most
  ``max_piece_bp`` bases (default 1000).  Without it, BPE time grows faster than linearly
  on one long "word" (a 5 Mbp string takes seconds longer); with it whole genomes encode
  in linear time.  ``N`` and other non-ACGT characters end a piece, so they are never merged.
* no normalizer: upper-casing (soft mask) is done by genolm before calling the library
  (ASCII-only, so offsets are unchanged).  Characters outside the learned alphabet become
  ``[UNK]`` (one per character), or raise with ``on_invalid="raise"``.

Training streams FASTA through :func:`genolm.io.fasta.iter_fasta_chunks` (any compression),
cuts every record into ``chunk_size`` pieces and those again at every non-ACGT run (N
blocks are not learned from), so memory stays bounded by the BPE word counts.

``decode(encode(s)) == s.upper()`` for any sequence over the alphabet.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genolm.errors import ConfigError
from genolm.tokenizers.base import TOKENIZERS, GenomicTokenizer

log = logging.getLogger(__name__)

#: DNABERT-2-117M tokenizer.json order of the special tokens (ids 0..4)
DNABERT2_SPECIALS = (
    ("unk_token", "[UNK]"),
    ("cls_token", "[CLS]"),
    ("sep_token", "[SEP]"),
    ("pad_token", "[PAD]"),
    ("mask_token", "[MASK]"),
)
_NON_ACGT = re.compile(r"[^ACGT]+")


class BPETokenizer(GenomicTokenizer):
    """BPE tokenizer wrapping a ``tokenizers.Tokenizer``.

    Parameters
    ----------
    tokenizer_file : str, optional
        A ``tokenizer.json`` (from :func:`train_bpe`, ``save_pretrained`` or DNABERT-2).
    tokenizer_object : tokenizers.Tokenizer, optional
        An in-memory tokenizer instead of a file.
    bp_per_token : float, optional
        Mean bases per token measured on the training data (set by :func:`train_bpe`).
    **kwargs
        See :class:`~genolm.tokenizers.base.GenomicTokenizer`.
    """

    scheme = "bpe"
    vocab_files_names = {"tokenizer_file": "tokenizer.json"}
    _slots = DNABERT2_SPECIALS
    _default_template = "cls_sep"

    def __init__(
        self, tokenizer_file=None, *, tokenizer_object=None, bp_per_token: float | None = None, **kwargs
    ):
        from tokenizers import Tokenizer

        if tokenizer_object is not None:
            tk = Tokenizer.from_str(tokenizer_object.to_str())
        elif tokenizer_file is not None:
            tk = Tokenizer.from_file(str(tokenizer_file))
        else:
            raise ConfigError(
                "BPETokenizer needs a trained model: tokenizer_file=... or tokenizer_object=... "
                "(train one with `genolm train-tokenizer` or genolm.tokenizers.bpe.train_bpe)"
            )
        # special-token strings in the text are found by genolm (HF path) or not at all
        # (encode_array), as for every other scheme; the library must not find them itself
        tk.encode_special_tokens = True
        self._tk = tk
        self._bp_per_token = None if bp_per_token is None else float(bp_per_token)
        vocab = tk.get_vocab(with_added_tokens=True)
        self._tk_vocab = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
        if [vocab[t] for t in self._tk_vocab] != list(range(len(self._tk_vocab))):
            raise ConfigError("the BPE vocabulary has holes in its ids; genolm needs ids 0..V-1")
        # valid input = the single-character tokens (the learned alphabet)
        self._alphabet = "".join(sorted(t for t in self._tk_vocab if len(t) == 1 and t.isalpha()))
        if bp_per_token is not None:
            kwargs["bp_per_token"] = float(bp_per_token)
        super().__init__(None, **kwargs)

    def _build_vocab(self, specials) -> list[str]:
        return list(self._tk_vocab)

    def _required_tokens(self) -> list[str]:
        return []

    @property
    def bp_per_token(self) -> float:
        """Mean bases per token on the training data (NaN when unknown)."""
        return self._bp_per_token if self._bp_per_token is not None else math.nan

    @property
    def backend_tokenizer(self):
        """The underlying ``tokenizers.Tokenizer`` (call it directly for raw speed)."""
        return self._tk

    def _text(self, b: np.ndarray) -> str:
        return b.tobytes().upper().decode("ascii")  # ASCII upper: same length, same offsets

    def _encode_np(self, b: np.ndarray) -> np.ndarray:
        return np.asarray(self._tk.encode(self._text(b), add_special_tokens=False).ids, dtype=np.int32)

    def _offsets_np(self, b: np.ndarray) -> np.ndarray:
        return self._encode_offsets_np(b)[1]

    def _encode_offsets_np(self, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        enc = self._tk.encode(self._text(b), add_special_tokens=False)
        offs = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
        return np.asarray(enc.ids, dtype=np.int32), offs

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        path = os.path.join(
            save_directory, (filename_prefix + "-" if filename_prefix else "") + "tokenizer.json"
        )
        self._tk.save(path)
        return (path,)

    def export_stock(self, save_directory) -> tuple[str, ...]:
        """``tokenizer.json`` with a ``[CLS] A [SEP]`` post-processor + config for ``PreTrainedTokenizerFast``.

        Stock loaders do not upper-case: give them :meth:`to_stock_text`.
        """
        from tokenizers import Tokenizer, processors

        if self.template != "cls_sep":
            raise NotImplementedError(
                "export_stock writes a [CLS] A [SEP] post-processor; use template='cls_sep'"
            )
        os.makedirs(save_directory, exist_ok=True)
        tk = Tokenizer.from_str(self._tk.to_str())
        cls, sep = str(self.cls_token), str(self.sep_token)
        tk.post_processor = processors.TemplateProcessing(
            single=f"{cls} $A {sep}",
            pair=f"{cls} $A {sep} $B:1 {sep}:1",
            special_tokens=[(cls, self.cls_token_id), (sep, self.sep_token_id)],
        )
        tok_path = os.path.join(save_directory, "tokenizer.json")
        tk.save(tok_path)
        cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False}
        for attr in ("unk_token", "cls_token", "sep_token", "pad_token", "mask_token"):
            cfg[attr] = str(getattr(self, attr))
        cfg_path = os.path.join(save_directory, "tokenizer_config.json")
        with open(cfg_path, "w", encoding="utf-8") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
            f.write("\n")
        return tok_path, cfg_path


# --- training -----------------------------------------------------------------------------


@dataclass
class BPETrainConfig:
    """How to learn a BPE vocabulary from FASTA files (``genolm train-tokenizer``).

    Parameters
    ----------
    files : list of str
        FASTA files (plain or compressed).
    vocab_size : int
        Final vocabulary size, special tokens included.  Default is 4096 (DNABERT-2).
    chunk_size : int
        Records are streamed in pieces of this many bases.  Default is 10_000.
    max_piece_bp : int
        Longest stretch BPE sees as one word, at training and at encoding.  Default is 1000.
    min_frequency : int
        A pair must occur this often to be merged.  Default is 2.
    max_bases : int or None
        Stop reading after this many bases (quick runs).  Default is None (read everything).
    alphabet : str
        Initial alphabet.  Default is ``"ACGTN"``.
    special_tokens : dict
        Override special-token strings, e.g. ``{"pad_token": "<pad>"}``.  Default keeps
        DNABERT-2's ``[UNK] [CLS] [SEP] [PAD] [MASK]``.
    """

    files: list[str]
    vocab_size: int = 4096
    chunk_size: int = 10_000
    max_piece_bp: int = 1000
    min_frequency: int = 2
    max_bases: int | None = None
    alphabet: str = "ACGTN"
    special_tokens: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.files, (str, os.PathLike)):
            self.files = [self.files]
        from genolm.io.streams import resolve_input

        self.files = [str(resolve_input(f)) for f in self.files]  # '-': stdin, spooled to a file
        if not self.files:
            raise ConfigError("train-tokenizer needs at least one FASTA file")
        for f in self.files:
            if not Path(f).is_file():
                raise FileNotFoundError(f"FASTA file not found: {f}")
        for name in ("vocab_size", "chunk_size", "max_piece_bp", "min_frequency", "max_bases"):
            v = getattr(self, name)
            if not (v is None and name == "max_bases") and (
                isinstance(v, bool) or not isinstance(v, (int, np.integer))
            ):
                raise ConfigError(f"{name} must be a whole number, got {v!r}")
        n_min = len(self.alphabet) + len(DNABERT2_SPECIALS) + 1
        if self.vocab_size < n_min:
            raise ConfigError(f"vocab_size must be at least {n_min} (specials + alphabet + 1 merge)")
        for name in ("chunk_size", "max_piece_bp", "min_frequency"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_bases is not None and self.max_bases < 1:
            raise ConfigError(f"max_bases must be >= 1 or None, got {self.max_bases}")
        bad = set(self.special_tokens) - {a for a, _ in DNABERT2_SPECIALS}
        if bad:
            raise ConfigError(
                f"unknown special token keys {sorted(bad)}; use {[a for a, _ in DNABERT2_SPECIALS]}"
            )


def _iter_fasta_chunks(path: str, chunk_size: int) -> Iterator[tuple[str, int, str]]:
    """``(name, offset, chunk)`` from genolm.io.fasta, or a small gzip-aware reader without it."""
    try:
        from genolm.io.fasta import iter_fasta_chunks
    except ImportError:  # pragma: no cover - genolm.io is being written alongside
        iter_fasta_chunks = None
    if iter_fasta_chunks is not None:
        yield from iter_fasta_chunks(path, chunk_size)
        return
    import gzip

    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    name, buf, offset = None, [], 0
    with opener(path, "rt") as f:
        for line in f:
            if line.startswith(">"):
                if name is not None and buf:
                    yield name, offset, "".join(buf)
                name, buf, offset = line[1:].split()[0] if line[1:].split() else "", [], 0
                continue
            buf.append(line.strip())
            if sum(map(len, buf)) >= chunk_size:
                s = "".join(buf)
                while len(s) >= chunk_size:
                    yield name, offset, s[:chunk_size]
                    offset += chunk_size
                    s = s[chunk_size:]
                buf = [s]
    if name is not None and "".join(buf):
        yield name, offset, "".join(buf)


def iter_training_pieces(
    files: Iterable[str], chunk_size: int, max_bases: int | None = None
) -> Iterator[str]:
    """Upper-case ACGT-only pieces of every record, at most ``chunk_size`` long."""
    seen = 0
    for path in files:
        for _name, _offset, chunk in _iter_fasta_chunks(path, chunk_size):
            for piece in _NON_ACGT.split(chunk.upper()):
                if not piece:
                    continue
                if max_bases is not None and seen + len(piece) > max_bases:
                    piece = piece[: max_bases - seen]
                seen += len(piece)
                if piece:
                    yield piece
                if max_bases is not None and seen >= max_bases:
                    return


def train_bpe(config: BPETrainConfig, *, progress: bool = False, **tokenizer_kwargs) -> BPETokenizer:
    """Learn a BPE vocabulary from FASTA files.  Returns a ready :class:`BPETokenizer`.

    ``progress=True`` shows the ``tokenizers`` trainer's progress bars on a terminal, and a
    heartbeat line every 10 s in a redirected log: on a human chromosome with a small vocabulary
    most of the minutes go to computing merges.
    Default is ``False``.
    """
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    specials = {a: config.special_tokens.get(a, d) for a, d in DNABERT2_SPECIALS}
    tk = Tokenizer(models.BPE(unk_token=specials["unk_token"]))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex(f"[ACGT]{{1,{config.max_piece_bp}}}"), behavior="isolated")
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=[specials[a] for a, _ in DNABERT2_SPECIALS],
        initial_alphabet=list(config.alphabet),
        limit_alphabet=len(config.alphabet),
        # the trainer's own bars (tokenize words, count pairs, compute merges: count / total and
        # elapsed time); they draw only on a terminal, so redirected logs stay clean
        show_progress=progress,
    )
    sample: list[str] = []
    n_sample = seen_bases = 0

    def pieces():
        nonlocal n_sample, seen_bases
        for p in iter_training_pieces(config.files, config.chunk_size, config.max_bases):
            seen_bases += len(p)
            if n_sample < 200_000:
                sample.append(p)
                n_sample += len(p)
            yield p

    log.info("train-tokenizer: learning %d tokens from %s", config.vocab_size, ", ".join(config.files))
    from genolm.progress import heartbeat, on_terminal

    # off a terminal the trainer draws nothing for minutes: a heartbeat line every 10 s instead
    with heartbeat("train-tokenizer: learning BPE merges", enabled=progress and not on_terminal()):
        tk.train_from_iterator(pieces(), trainer=trainer)
    if n_sample == 0:
        raise ConfigError(f"no A/C/G/T bases found in {', '.join(config.files)}")
    n_tok = sum(len(e.ids) for e in tk.encode_batch(sample, add_special_tokens=False))
    bp = n_sample / max(n_tok, 1)
    log.info("trained BPE: vocab %d, %.2f bp/token on %d training bases", tk.get_vocab_size(), bp, n_sample)
    if tk.get_vocab_size() < config.vocab_size:
        log.warning(
            "train-tokenizer: the vocabulary reached only %d of the %d tokens asked for: the corpus "
            "(%d bases read) is too small to give more merges occurring at least %d times; use more "
            "sequence, or a smaller vocab_size / min_frequency",
            tk.get_vocab_size(),
            config.vocab_size,
            seen_bases,
            config.min_frequency,
        )
    return BPETokenizer(tokenizer_object=tk, bp_per_token=round(bp, 4), **{**specials, **tokenizer_kwargs})


@functools.lru_cache(maxsize=4)
def _demo_model(vocab_size: int) -> tuple[str, float]:
    from genolm.data import __file__ as data_init

    lam = Path(data_init).parent / "genomes" / "phage_lambda_NC_001416.fa.gz"
    tok = train_bpe(BPETrainConfig([str(lam)], vocab_size=vocab_size))
    return tok.backend_tokenizer.to_str(), tok.bp_per_token


def _bpe_factory(
    tokenizer_file=None, *, tokenizer_object=None, vocab_size: int = 512, **kwargs
) -> BPETokenizer:
    """``get_tokenizer("bpe", ...)``: load a trained model, or train a small demo one.

    With neither ``tokenizer_file`` nor ``tokenizer_object`` a ``vocab_size`` BPE (default 512)
    is trained on the bundled phage lambda genome (48.5 kbp, well under a second) and a
    warning is logged: fine for demos and tests, not for real models.
    """
    if tokenizer_file is None and tokenizer_object is None:
        from tokenizers import Tokenizer

        log.warning(
            "no tokenizer_file given: using a demo BPE (vocab %d) trained on phage lambda", vocab_size
        )
        s, bp = _demo_model(int(vocab_size))
        kwargs.setdefault("bp_per_token", bp)
        return BPETokenizer(tokenizer_object=Tokenizer.from_str(s), **kwargs)
    return BPETokenizer(tokenizer_file, tokenizer_object=tokenizer_object, **kwargs)


TOKENIZERS.add(
    "bpe",
    _bpe_factory,
    help="byte-pair encoding learned from FASTA (DNABERT-2 style); pass tokenizer_file=... (default: demo)",
)
