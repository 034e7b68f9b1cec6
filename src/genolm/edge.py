"""The edge runtime: classify reads with an exported ONNX bundle, using numpy and onnxruntime only.

Nothing here imports torch or transformers (``tests/test_edge.py`` checks ``sys.modules`` in a
subprocess), so ``pip install --no-deps genolm numpy onnxruntime`` is enough to run it.  The
bundle (written by :func:`genolm.export.export_onnx`) is one ``.onnx`` file whose
``metadata_props`` say everything the runtime needs; see docs/edge.md.

Bundle metadata (ONNX ``metadata_props``, all strings; JSON where noted)
-------------------------------------------------------------------------
``genolm.bundle_format``  ``"1"``: the layout of these keys
``genolm.version``        genolm version that wrote it (a newer one than the reader is refused)
``genolm.kind``           ``sequence-classification`` | ``lm`` | ``base`` (only the first predicts)
``genolm.model_type``     e.g. ``genolm-encoder``
``genolm.tokenizer``      JSON :class:`EdgeTokenizer` spec: scheme, vocab, k, prefix/suffix ids, unk id
``genolm.labels``         JSON list of label names, index = logit column
``genolm.window``         JSON window policy: ``length`` (bp), ``stride`` (bp), ``pooling``, ``min_len``
``genolm.opset``          the ONNX opset
``genolm.exporter``       which exporter wrote the graph
``genolm.parity``         JSON max abs diff vs PyTorch on random and real windows
``genolm.quantization``   ``none`` | ``dynamic-int8`` | ``static-int8``

Graph: one input ``input_ids`` int64 ``(batch, length)``, no attention mask (every window in a
batch has the same length, so nothing is padded); one output (``logits`` ``(batch, n_labels)``
for a classifier).

Window policy (per read): a read of ``L >= length`` bp is cut into windows of ``length`` bp every
``stride`` bp, the last window ending at the read's end (so every base is covered); a read with
``min_len <= L < length`` is one window of its own length (the graph takes any length); a read
shorter than ``min_len`` is skipped: its row says ``skipped`` and the count is reported.  The
per-window logits are pooled to one score per read: ``mean`` (mean of the window logits, then a
softmax) or ``max`` (per class, the largest window probability).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from genolm.errors import ConfigError, InputError

log = logging.getLogger(__name__)

BUNDLE_FORMAT = "1"
KEY = "genolm."
#: tokenizer schemes the edge path can run without genolm's torch code
EDGE_SCHEMES = ("char", "iupac", "kmer")
POOLINGS = ("mean", "max")
KMER_ORDER = "ATCG"  # the digit order of genolm's (and DNABERT's) k-mer vocabularies


def _version_tuple(v: str) -> tuple:
    """``"0.1.0.dev0"`` -> ``(0, 1, 0, -1)``: dev releases sort before the release."""
    out: list[int] = []
    for part in v.split("."):
        if part.isdigit():
            out.append(int(part))
        elif part.startswith(("dev", "a", "b", "rc")):
            out.append(-1)
            break
        else:
            digits = "".join(c for c in part if c.isdigit())
            out.append(int(digits) if digits else 0)
    return tuple(out)


def genolm_version() -> str:
    import genolm

    return genolm.__version__


# --- tokenizer -------------------------------------------------------------------------------


class EdgeTokenizer:
    """A numpy tokenizer for the ``char``, ``iupac`` and overlapping ``kmer`` schemes, built from the
    spec a bundle carries; gives the same ids as genolm's tokenizer with its special-token template.

    ``spec``: ``{"scheme", "vocab": [token, ...] (index = id), "k", "prefix_ids", "suffix_ids",
    "unk_id", "specials": [token, ...]}``.  Lower case is read as upper case; a character outside
    the scheme's alphabet (and, for k-mers, a k-mer holding one or an N) is the unknown token.
    """

    def __init__(self, spec: dict):
        scheme = spec.get("scheme")
        if scheme not in EDGE_SCHEMES:
            raise ConfigError(
                f"the edge runtime cannot tokenize scheme '{scheme}': it does {', '.join(EDGE_SCHEMES)}; "
                "fine-tune the model with one of those tokenizers, or run it with genolm's full install"
            )
        self.scheme = scheme
        self.vocab = list(spec["vocab"])
        self.prefix = np.asarray(spec.get("prefix_ids", []), dtype=np.int64)
        self.suffix = np.asarray(spec.get("suffix_ids", []), dtype=np.int64)
        self.unk_id = int(spec["unk_id"])
        t2i = {t: i for i, t in enumerate(self.vocab)}
        specials = set(spec.get("specials", []))
        if scheme == "kmer":
            self.k = int(spec["k"])
            self._digit = np.full(256, 5, dtype=np.uint8)  # 5: not a base
            for d, b in enumerate(KMER_ORDER):
                self._digit[ord(b)] = self._digit[ord(b.lower())] = d
            self._digit[ord("N")] = self._digit[ord("n")] = 4
            import itertools

            words = ("".join(p) for p in itertools.product(KMER_ORDER, repeat=self.k))
            self._code2id = np.array([t2i.get(w, self.unk_id) for w in words], dtype=np.int64)
        else:
            self.k = 1
            self._lut = np.full(256, self.unk_id, dtype=np.int64)
            for tok, i in t2i.items():
                if len(tok) == 1 and tok not in specials:
                    self._lut[ord(tok.upper())] = self._lut[ord(tok.lower())] = i

    def n_tokens(self, n_bp: int) -> int:
        """Tokens (special tokens included) for a window of ``n_bp`` bases."""
        return max(n_bp - self.k + 1, 0) + len(self.prefix) + len(self.suffix)

    def encode_windows(self, windows: np.ndarray) -> np.ndarray:
        """``windows``: uint8 bytes, shape=(B, W) -> ids, int64, shape=(B, T) with the template."""
        if self.scheme == "kmer":
            d = self._digit[windows]
            B, W = d.shape
            T = W - self.k + 1
            if T < 1:
                body = np.zeros((B, 0), dtype=np.int64)
            else:
                code = np.zeros((B, T), dtype=np.int64)
                bad = np.zeros((B, T), dtype=bool)
                for j in range(self.k):
                    dj = d[:, j : j + T]
                    code = (code << 2) | (dj & 3)
                    bad |= dj > 3
                body = self._code2id[code]
                body[bad] = self.unk_id
        else:
            body = self._lut[windows]
        B = body.shape[0]
        parts = [np.broadcast_to(self.prefix, (B, len(self.prefix))), body]
        parts.append(np.broadcast_to(self.suffix, (B, len(self.suffix))))
        return np.concatenate(parts, axis=1)

    def encode(self, seq: str) -> np.ndarray:
        """Ids of one sequence, template included, shape=(T,)."""
        b = np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)[None, :]
        return self.encode_windows(b)[0]


# --- the bundle ------------------------------------------------------------------------------


class WindowPolicy(NamedTuple):
    """How a read becomes windows and how window scores pool (module docstring)."""

    length: int  # bp
    stride: int  # bp
    pooling: str = "mean"
    min_len: int | None = None  # default: length (shorter reads are skipped)

    def check(self) -> WindowPolicy:
        if self.length < 1 or self.stride < 1:
            raise ConfigError(f"window length and stride must be positive, got {self.length}, {self.stride}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"unknown window pooling '{self.pooling}'; choose one of {', '.join(POOLINGS)}")
        if self.min_len is not None and self.min_len < 1:
            raise ConfigError(f"min_len must be positive, got {self.min_len}")
        return self

    @property
    def effective_min_len(self) -> int:
        return self.length if self.min_len is None else self.min_len


class BundleInfo(NamedTuple):
    """What a bundle's metadata says (:func:`read_bundle_metadata`)."""

    version: str
    kind: str
    model_type: str
    tokenizer: dict
    labels: list[str]
    window: WindowPolicy
    opset: int
    quantization: str
    parity: dict
    raw: dict


def read_bundle_metadata(path: str | Path) -> BundleInfo:
    """The genolm metadata of an ONNX bundle; refuses a file without it or from a newer genolm."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise InputError("no such ONNX bundle", path=str(path), hint="export one with `genolm export`")
    try:
        meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
    except Exception as e:
        raise InputError(f"not a readable ONNX model ({e})", path=str(path)) from e
    return _parse_metadata(dict(meta.custom_metadata_map), str(path))


def _parse_metadata(raw: dict, where: str) -> BundleInfo:
    needed = ("bundle_format", "version", "kind", "tokenizer", "labels", "window")
    missing = [KEY + k for k in needed if KEY + k not in raw]
    if missing:
        raise InputError(
            f"not a genolm bundle: the ONNX metadata lacks {', '.join(missing)}",
            path=where,
            hint="export the model with `genolm export MODEL --format onnx --out FILE.onnx`",
        )
    version = raw[KEY + "version"]
    if (
        _version_tuple(version) > _version_tuple(genolm_version())
        or raw[KEY + "bundle_format"] != BUNDLE_FORMAT
    ):
        raise InputError(
            f"bundle written by genolm {version} (bundle format {raw[KEY + 'bundle_format']}), newer than "
            f"this genolm {genolm_version()} (format {BUNDLE_FORMAT})",
            path=where,
            hint="upgrade genolm (`pip install -U genolm`)",
        )
    try:
        w = json.loads(raw[KEY + "window"])
        window = WindowPolicy(int(w["length"]), int(w["stride"]), w.get("pooling", "mean"), w.get("min_len"))
        info = BundleInfo(
            version=version,
            kind=raw[KEY + "kind"],
            model_type=raw.get(KEY + "model_type", ""),
            tokenizer=json.loads(raw[KEY + "tokenizer"]),
            labels=list(json.loads(raw[KEY + "labels"])),
            window=window.check(),
            opset=int(raw.get(KEY + "opset", 0)),
            quantization=raw.get(KEY + "quantization", "none"),
            parity=json.loads(raw.get(KEY + "parity", "{}")),
            raw=raw,
        )
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"corrupt genolm metadata in the bundle ({e})", path=where) from e
    return info


# --- reads -> windows -> scores --------------------------------------------------------------


class ReadScore(NamedTuple):
    """One read's call: ``label`` is None for a skipped read; ``scores`` shape=(n_labels,)."""

    read_id: str
    length: int
    n_windows: int
    label: str | None
    scores: np.ndarray | None


def window_starts(n: int, length: int, stride: int) -> np.ndarray:
    """Start of every window of a read of ``n >= length`` bp; the last one ends at ``n``."""
    starts = np.arange(0, n - length + 1, stride, dtype=np.int64)
    if starts[-1] != n - length:
        starts = np.append(starts, n - length)
    return starts


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class EdgeClassifier:
    """An ONNX bundle, ready to score reads.  ``threads``: onnxruntime intra-op threads (0: its default)."""

    def __init__(self, path: str | Path, *, threads: int = 0, min_len: int | None = None):
        import onnxruntime as ort

        self.path = Path(path)
        self.info = read_bundle_metadata(self.path)
        if self.info.kind != "sequence-classification":
            raise InputError(
                f"this bundle is a '{self.info.kind}' model, not a classifier: predict needs a "
                "sequence-classification model (e.g. a bench run's fine-tuned model)",
                path=str(self.path),
            )
        self.tokenizer = EdgeTokenizer(self.info.tokenizer)
        w = self.info.window
        self.policy = WindowPolicy(
            w.length, w.stride, w.pooling, min_len if min_len is not None else w.min_len
        )
        self.policy.check()
        if self.policy.effective_min_len < self.tokenizer.k:
            raise ConfigError(f"--min-len must be at least k={self.tokenizer.k} for this k-mer bundle")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    @property
    def labels(self) -> list[str]:
        return self.info.labels

    def logits(self, ids: np.ndarray) -> np.ndarray:
        """ids int64 shape=(B, T) -> logits float32 shape=(B, n_labels)."""
        return self.session.run(None, {self.input_name: ids})[0]

    def score(self, records: Iterable[tuple[str, str]], *, batch_windows: int = 1024) -> Iterator[ReadScore]:
        """Score ``(read_id, seq)`` pairs in order.  Full-length windows of many reads are batched
        into one ``session.run`` of about ``batch_windows`` windows (memory stays bounded by that
        batch) and pooled per read with vectorised numpy; a read shorter than the window is its own
        call (the graph takes any length)."""
        pol = self.policy
        L, stride, min_len = pol.length, pol.stride, pol.effective_min_len
        offs = np.arange(L)
        pending: list[tuple[str, int, int]] = []  # (id, length, n_windows) awaiting full windows
        windows: list[np.ndarray] = []
        n_win = 0
        for rid, seq in records:
            n = len(seq)
            if n < min_len:
                pending.append((rid, n, 0))
                continue
            b = np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)
            if n < L:  # one window of its own length: its own batch
                pending.append((rid, n, -1))
                windows.append(b[None, :])
                n_win += 1
            else:
                if n == L:
                    w = b[None, :]
                else:
                    w = b[window_starts(n, L, stride)[:, None] + offs]
                windows.append(w)
                pending.append((rid, n, len(w)))
                n_win += len(w)
            if n_win >= batch_windows:
                yield from self._flush(pending, windows)
                pending, windows, n_win = [], [], 0
        if pending:
            yield from self._flush(pending, windows)

    def _flush(self, pending, windows) -> Iterator[ReadScore]:
        L = self.policy.length
        full = [w for w in windows if w.shape[1] == L]
        counts = np.array([nw for _, _, nw in pending if nw > 0], dtype=np.int64)
        pooled = None
        if full:
            lg = self.logits(self.tokenizer.encode_windows(np.concatenate(full)))
            pooled = self._pool_many(lg, counts)
        short = iter([w for w in windows if w.shape[1] != L])
        labels = self.labels
        k = 0
        for rid, n, nw in pending:
            if nw == 0:
                yield ReadScore(rid, n, 0, None, None)
                continue
            if nw == -1:
                scores = self._pool(self.logits(self.tokenizer.encode_windows(next(short))))
                nw = 1
            else:
                scores = pooled[k]
                k += 1
            yield ReadScore(rid, n, nw, labels[int(np.argmax(scores))], scores)

    def _pool_many(self, lg: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Window logits ``(sum(counts), C)`` -> one pooled score row per read ``(len(counts), C)``."""
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        if lg.shape[-1] == 1:
            return 1.0 / (1.0 + np.exp(-np.add.reduceat(lg, starts, axis=0) / counts[:, None]))
        if self.policy.pooling == "max":
            return np.maximum.reduceat(_softmax(lg), starts, axis=0)
        return _softmax(np.add.reduceat(lg, starts, axis=0) / counts[:, None])

    def _pool(self, lg: np.ndarray) -> np.ndarray:
        if lg.shape[-1] == 1:  # one logit: a binary / regression head; report the sigmoid
            return 1.0 / (1.0 + np.exp(-lg.mean(axis=0)))
        if self.policy.pooling == "max":
            return _softmax(lg).max(axis=0)
        return _softmax(lg.mean(axis=0))


# --- the predict verb's library function -----------------------------------------------------


class PredictSummary(NamedTuple):
    n_reads: int
    n_scored: int
    n_skipped: int
    n_windows: int
    seconds: float

    @property
    def reads_per_s(self) -> float:
        return self.n_reads / self.seconds if self.seconds > 0 else float("inf")


def iter_reads(fastq: str | None = None, fasta: str | None = None) -> Iterator[tuple[str, str]]:
    """``(id, seq)`` from a FASTQ or FASTA file (any compression; ``-`` is standard input)."""
    if (fastq is None) == (fasta is None):
        raise ConfigError("give exactly one of --fastq or --fasta")
    if fastq is not None:
        from genolm.io.fastq import read_fastq

        for r in read_fastq(fastq, on_duplicate="keep"):
            yield r.name, r.seq
    else:
        from genolm.io.fasta import read_fasta

        for r in read_fasta(fasta, on_duplicate="keep"):
            yield r.name, r.seq


def predict_reads(
    bundle: str | Path,
    *,
    fastq: str | None = None,
    fasta: str | None = None,
    out=None,
    min_len: int | None = None,
    threads: int = 0,
    batch_windows: int = 1024,
    progress: bool = True,
    stream=None,
) -> PredictSummary:
    """Classify every read of ``fastq`` / ``fasta`` with ``bundle`` and write a TSV to ``out``
    (a path, or a text stream; default stdout): ``read_id length n_windows label score_<label>...``.

    Skipped reads (shorter than ``min_len``) get ``label`` ``skipped`` and empty scores; their count
    is logged.  Reads/s go to ``stream`` (default stderr) every 2 s when ``progress``.
    """
    clf = EdgeClassifier(bundle, threads=threads, min_len=min_len)
    stream = stream if stream is not None else sys.stderr
    fh, tmp = _open_out(out)
    n = scored = skipped = nwin = 0
    t0 = last = time.perf_counter()
    ok = False
    try:
        fh.write(
            "\t".join(["read_id", "length", "n_windows", "label", *(f"score_{x}" for x in clf.labels)]) + "\n"
        )
        empty = "\t".join([""] * len(clf.labels))
        for r in clf.score(iter_reads(fastq, fasta), batch_windows=batch_windows):
            n += 1
            if r.label is None:
                skipped += 1
                fh.write(f"{r.read_id}\t{r.length}\t0\tskipped\t{empty}\n")
            else:
                scored += 1
                nwin += r.n_windows
                sc = "\t".join(f"{v:.6g}" for v in r.scores)
                fh.write(f"{r.read_id}\t{r.length}\t{r.n_windows}\t{r.label}\t{sc}\n")
            now = time.perf_counter()
            if progress and now - last >= 2.0:
                stream.write(f"predict: {n} reads, {n / (now - t0):.0f} reads/s\n")
                stream.flush()
                last = now
        fh.flush()
        ok = True
    finally:
        if tmp:  # a file: written beside it, moved onto it only when complete
            fh.close()
            if ok:
                Path(tmp).replace(out)
            else:
                Path(tmp).unlink(missing_ok=True)
    summary = PredictSummary(n, scored, skipped, nwin, time.perf_counter() - t0)
    if skipped:
        log.warning(
            "%d of %d reads were shorter than --min-len %d bp and were skipped (rows labelled 'skipped')",
            skipped, n, clf.policy.effective_min_len,
        )  # fmt: skip
    if progress:
        stream.write(
            f"predict: {n} reads ({scored} scored, {skipped} skipped, {nwin} windows) in "
            f"{summary.seconds:.2f} s, {summary.reads_per_s:.0f} reads/s\n"
        )
    return summary


def _open_out(out):
    """(text stream, temporary path to move onto ``out`` at the end, or None)."""
    if out is None or str(out) == "-":
        return sys.stdout, None
    if hasattr(out, "write"):
        return out, None
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    if out.is_dir():
        raise InputError(
            "is a folder, but --out names the TSV file to write", path=str(out), hint="give a file name"
        )
    try:
        return open(tmp, "w"), str(tmp)
    except OSError as e:
        raise InputError(
            f"cannot write the output ({e.strerror or e})", path=str(out), hint="choose a writable path"
        ) from e
