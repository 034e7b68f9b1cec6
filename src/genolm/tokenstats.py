"""Side-by-side tokenizer statistics on a genome: "what does each scheme do to my sequence?".

:func:`compare_schemes` streams a FASTA/GenBank file in chunks and, for every scheme,
reports compression (bp per token, and how many bp a fixed token context covers), the
share of the vocabulary actually used, the UNK rate, the unigram entropy per bp (a
crude measure of how much the token stream compresses the sequence) and throughput.

Chunking: the genome is tokenized chunk by chunk (``chunk_size`` bp, a multiple of 6 so
non-overlapping 6-mers and codons stay in frame).  Overlapping k-mers carry ``k - 1``
bases across chunk boundaries so their token count is exact; BPE may merge differently
across a boundary, which changes its count by at most a few tokens per chunk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from genolm.errors import GenolmError
from genolm.io.genbank import is_genbank
from genolm.progress import progress_bar
from genolm.tokenizers.schemes import DEFAULT_SCHEMES, build_scheme, parse_scheme

log = logging.getLogger(__name__)


class SchemeStats(NamedTuple):
    """One row of the comparison table."""

    scheme: str
    vocab_size: int
    n_bp: int
    n_tokens: int
    bp_per_token: float
    context_bp: float  #: bp covered by ``context_tokens`` tokens
    vocab_used: int
    vocab_used_frac: float
    unk_rate: float
    entropy_bits_per_bp: float  #: unigram token entropy (bits/token) / bp per token
    seconds: float
    mbp_per_s: float

    def as_dict(self) -> dict:
        return self._asdict()


def _sequences(path: str | Path, chunk_size: int) -> Iterator[tuple[str, str]]:
    """Yield ``(record name, chunk)`` from FASTA (streamed) or GenBank (record at a time)."""
    p = str(path)
    if is_genbank(p):
        from genolm.io.genbank import read_genbank

        for rec in read_genbank(p):
            seq = str(rec.seq)
            for i in range(0, len(seq), chunk_size):
                yield rec.name, seq[i : i + chunk_size]
        return
    from genolm.io.fasta import iter_fasta_chunks

    for name, _offset, chunk in iter_fasta_chunks(p, chunk_size=chunk_size):
        yield name, chunk


def _overlap(tokenizer) -> int:
    # overlapping k-mer tokenizers need k - 1 bases carried across chunk boundaries
    if getattr(tokenizer, "scheme", "") == "kmer":
        return int(tokenizer.k) - 1
    return 0


def tokenizer_stats(
    tokenizer,
    chunks: Iterable[tuple[str, str]],
    *,
    label: str | None = None,
    context_tokens: int = 512,
) -> SchemeStats:
    """Statistics of one tokenizer over ``(record, chunk)`` pairs (see module docstring)."""
    vocab = len(tokenizer)
    counts = np.zeros(vocab, dtype=np.int64)
    carry_len = _overlap(tokenizer)
    n_bp = n_tok = 0
    seconds = 0.0
    prev_name, tail = None, ""
    for name, chunk in chunks:
        if name != prev_name:
            prev_name, tail = name, ""
        text = tail + chunk
        t0 = time.perf_counter()
        ids = tokenizer.encode_array(text)
        seconds += time.perf_counter() - t0
        counts += np.bincount(np.asarray(ids, dtype=np.int64), minlength=vocab)[:vocab]
        n_tok += len(ids)
        n_bp += len(chunk)
        if carry_len:
            # k - 1 carried bases + a chunk of n bases give exactly n new k-mers, so a record of
            # length L yields L - k + 1 tokens in total, as if tokenized whole.
            tail = text[-carry_len:]
    unk = getattr(tokenizer, "unk_token_id", None)
    unk_n = int(counts[unk]) if unk is not None and 0 <= unk < vocab else 0
    p = counts[counts > 0] / max(n_tok, 1)
    entropy_tok = float(-(p * np.log2(p)).sum()) if n_tok else 0.0
    bp_per_tok = n_bp / n_tok if n_tok else float("nan")
    return SchemeStats(
        scheme=label or getattr(tokenizer, "scheme", type(tokenizer).__name__),
        vocab_size=vocab,
        n_bp=n_bp,
        n_tokens=n_tok,
        bp_per_token=bp_per_tok,
        context_bp=context_tokens * bp_per_tok,
        vocab_used=int((counts > 0).sum()),
        vocab_used_frac=float((counts > 0).sum()) / vocab,
        unk_rate=unk_n / n_tok if n_tok else 0.0,
        entropy_bits_per_bp=entropy_tok / bp_per_tok if n_tok else float("nan"),
        seconds=seconds,
        mbp_per_s=(n_bp / 1e6) / seconds if seconds > 0 else float("inf"),
    )


def compare_schemes(
    path: str | Path,
    schemes: Iterable[str] | None = None,
    *,
    chunk_size: int = 1_000_002,
    context_tokens: int = 512,
    progress: bool = False,
) -> list[SchemeStats]:
    """Tokenize ``path`` with every scheme and return one :class:`SchemeStats` per scheme.

    Parameters
    ----------
    path : str or Path
        FASTA (plain/gzip/bgzip) or GenBank file.
    schemes : iterable of str, optional
        Labels like ``"kmer6"``, ``"bpe:vocab_size=1024"``.  Default is every scheme in
        :data:`~genolm.tokenizers.schemes.DEFAULT_SCHEMES`.
    chunk_size : int
        bp per streamed chunk.  Default is 1,000,002 (a multiple of 6).
    """
    if chunk_size % 6:
        raise ValueError("chunk_size must be a multiple of 6 so 6-mers and codons stay in frame")
    specs = (
        [parse_scheme(s) for s in schemes] if schemes else [(a, b, dict(c)) for a, b, c in DEFAULT_SCHEMES]
    )
    rows = []
    import tempfile

    from genolm.io.streams import resolve_input

    path = resolve_input(path)  # '-': stdin, spooled once (every scheme reads the file again)

    with tempfile.TemporaryDirectory() as tmp:
        train_file = str(path)
        if is_genbank(train_file) and any(n == "bpe" for _, n, _ in specs):
            # BPE learns from FASTA: write the GenBank records out once
            from genolm.io.fasta import write_fasta

            train_file = str(Path(tmp) / "train.fa")
            write_fasta(train_file, ((n, c) for n, c in _sequences(path, 1 << 62)))
        total_bp = None  # known after the first pass: later bars have an ETA
        for i, (label, name, kwargs) in enumerate(specs, start=1):
            if name == "bpe":
                log.info("tokenize: learning the BPE vocabulary of %s from %s ...", label, path)
            try:
                tok = build_scheme(name, kwargs, train_files=[train_file])
            except GenolmError as e:
                if train_file == str(path):
                    raise
                # the FASTA written from the GenBank file is ours: name the user's file instead
                raise type(e)(str(e).replace(train_file, str(path))) from None
            chunks = _sequences(path, chunk_size)
            bar = progress_bar(
                total_bp,
                f"{label} ({i}/{len(specs)})",
                unit="bp",
                unit_scale=True,
                leave=False,
                enabled=progress,
            )
            if bar is not None:
                chunks = _counted(chunks, bar)
            rows.append(tokenizer_stats(tok, chunks, label=label, context_tokens=context_tokens))
            if bar is not None:
                total_bp = bar.n
                bar.close()
    return rows


def _counted(chunks, bar):
    for name, chunk in chunks:
        yield name, chunk
        bar.update(len(chunk))


def format_table(rows: list[SchemeStats], context_tokens: int = 512) -> str:
    """A fixed-width text table of :func:`compare_schemes` rows."""
    head = (
        f"{'scheme':<10} {'vocab':>6} {'tokens':>10} {'bp/token':>8} {f'bp/{context_tokens}tok':>11} "
        f"{'vocab used':>10} {'UNK %':>6} {'bits/bp':>7} {'Mbp/s':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.scheme:<10} {r.vocab_size:>6} {r.n_tokens:>10} {r.bp_per_token:>8.2f} {r.context_bp:>11.0f} "
            f"{r.vocab_used_frac:>9.1%} {100 * r.unk_rate:>6.2f} {r.entropy_bits_per_bp:>7.3f} {r.mbp_per_s:>8.1f}"
        )
    return "\n".join(lines)
