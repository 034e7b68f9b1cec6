"""Zero-shot variant effect scores from any genolm language model: :func:`score_variants`.

One scorer serves every model family and tokenizer.  What it computes, per objective and
tokenizer (``method="auto"``, the default):

==============================  =============  =================================================
model / tokenizer               variant        score (``alt`` vs ``ref``; negative = alt less likely)
==============================  =============  =================================================
MLM, char / iupac               SNV            ``llr``: mask the site, ``log p(alt) - log p(ref)``
MLM, overlapping k-mer          SNV            ``llr``: mask all (up to k) tokens covering the site;
                                               per token ``log p(alt k-mer) - log p(ref k-mer)``,
                                               **averaged** over those tokens
MLM, nt6 / codon / BPE          SNV            ``llr`` on the one token holding the site when the
                                               alt does not change the tokenization (offsets); else
                                               ``pll``
MLM, any                        MNV, indel     ``pll``: pseudo-log-likelihood of the alt window minus
                                               that of the ref window, over the tokens overlapping
                                               the variant span (each masked in turn)
CLM (hyena, decoder), any       any            ``clm``: ``log P(alt window) - log P(ref window)``
any model                       any            ``embedding`` (``method="embedding"``): cosine (or L2)
                                               distance of mean-pooled last hidden states, alt
                                               window vs ref window; >= 0, larger = bigger effect
==============================  =============  =================================================

Every score is the **mean of the forward-strand and reverse-complement scores** (``score_fwd``,
``score_rc`` are kept).  For ``llr`` the masked input is the same for every ALT at a site, so one
masked forward pass per site and strand scores all of them (``log p`` of every allele comes from
the same logits).

Work that is skipped, never approximated: a model with ``logits_at`` computes only what the
masked positions' outputs depend on (the dilated CNN: the cone below the site).  A batch holds one
strand's neighbouring sites, and with a per-base tokenizer (char, iupac, overlapping k-mers) each
window is anchored to its strand of the genome, so a model with ``uses_reference`` (the dilated
CNN) runs its bottom layers once along the windows' span and, per window, only near its ends and
its masked site.  The scores equal the plain forward's to float rounding (fp32, tested at 1e-5).

Windows
-------
The reference window of a variant at 0-based ``pos`` is ``[pos - window // 2, pos - window // 2 +
window)`` **clipped** to the record that holds ``pos`` (a variant at base 0 gets a window that
starts at 0, and keeps its true position inside it); it is widened to the right when a long REF
would run past its end.  The alt window has the same left flank, the ALT allele, then as many bases
of the right flank as keep its length equal to the ref window's (fewer at the contig end), so
likelihoods of indel windows compare windows of one length.  ``pll`` scores the tokens that overlap
``[p - flank, p + max(len(REF), len(ALT)) + flank)`` in each allele's window (``flank`` default 0).
A CLM window with no BOS token does not score its first token.

Antisymmetry: ``llr``, ``pll`` and ``clm`` give ``score(ref -> alt) == -score(alt -> ref)`` on
the genome with the alt substituted (SNVs exactly; indels away from contig ends), because the
ref window of one is the alt window of the other.  ``embedding`` is symmetric instead.

Records that are not scored keep ``score = NaN`` and say why in ``status`` / ``message``; see
:data:`STATUSES`.  Nothing is dropped: a record without ALT gives one row (``no_alt``), a
multi-allelic record one row per ALT.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from genolm.alphabet import reverse_complement
from genolm.errors import ConfigError
from genolm.infer import Request, TokenizerView, preserve_model_state, resolve_precision, run_requests
from genolm.io.genome import Genome
from genolm.io.vcf import Variant, check_against_genome, read_vcf, split_multiallelic
from genolm.progress import progress_bar
from genolm.registry import check_choice
from genolm.weights import require_weights

#: per-row outcome; every value but ``ok`` leaves the score NaN
STATUSES = (
    "ok",  # scored
    "ref_mismatch",  # REF differs from the genome
    "contig_missing",  # the contig is not in the genome (aliases tried)
    "out_of_bounds",  # REF runs outside the contig (or outside every region record)
    "no_alt",  # the record has no ALT allele ('.')
    "unsupported_allele",  # symbolic / non-ACGT allele, or ALT == REF
    "no_token",  # no token of the window covers the variant (e.g. codon frame leftovers)
)
#: ``method`` values :func:`score_variants` accepts
METHODS = ("auto", "llr", "pll", "clm", "embedding", "embedding-cosine", "embedding-l2")
#: default window (bases) when neither the caller nor the model folder says
DEFAULT_WINDOW = 256
_ACGT = frozenset("ACGT")
#: bases past a reference span fetched for the tokens that start inside it (k-mers, k <= 17)
_TOKEN_REACH = 16


class VariantScores(NamedTuple):
    """Scores of :func:`score_variants`, one row per (input record, ALT allele).

    Attributes
    ----------
    variants : list of Variant
        The input records split to one ALT each (a record without ALT appears once, ``alts=()``);
        ``pos`` 0-based.
    record : np.ndarray, shape=(n,), int64
        Index of the input record each row came from (``Variant.index`` when set, else the
        position in the input).
    allele : np.ndarray, shape=(n,), int64
        0-based index of the row's ALT in its record (``-1`` for a record without ALT).
    score, score_fwd, score_rc : np.ndarray, shape=(n,), float64
        Strand mean, forward-strand and reverse-complement scores; NaN where not scored.
    method : list of str
        ``"llr"``, ``"pll"``, ``"clm"``, ``"embedding-cosine"``, ``"embedding-l2"`` (``""`` if not scored).
    status : list of str
        One of :data:`STATUSES`.
    message : list of str
        Why a row was not scored (``""`` when ok).
    """

    variants: list[Variant]
    record: np.ndarray
    allele: np.ndarray
    score: np.ndarray
    score_fwd: np.ndarray
    score_rc: np.ndarray
    method: list[str]
    status: list[str]
    message: list[str]

    @property
    def n_scored(self) -> int:
        return int(sum(s == "ok" for s in self.status))

    def to_frame(self):
        """A ``pandas.DataFrame``: ``record allele chrom pos id ref alt score score_fwd score_rc
        method status message`` and one column per INFO key.  ``pos`` is the VCF's 1-based POS."""
        import pandas as pd

        base = {
            "record": self.record,
            "allele": self.allele,
            "chrom": [v.contig for v in self.variants],
            # 0-based Variant.pos -> the VCF's 1-based POS, so tables match the input file
            "pos": np.array([v.pos + 1 for v in self.variants], dtype=np.int64),
            "id": [v.id or "" for v in self.variants],
            "ref": [v.ref for v in self.variants],
            "alt": [v.alts[0] if v.alts else "." for v in self.variants],
            "score": self.score,
            "score_fwd": self.score_fwd,
            "score_rc": self.score_rc,
            "method": self.method,
            "status": self.status,
            "message": self.message,
        }
        info_keys: list[str] = []
        for v in self.variants:
            for k in v.info:
                if k not in info_keys:
                    info_keys.append(k)
        for k in info_keys:
            col = k if k not in base else f"info_{k}"
            base[col] = [_info_cell(v.info.get(k)) for v in self.variants]
        return pd.DataFrame(base)


def _info_cell(x):
    if isinstance(x, (tuple, list)):
        return ",".join(str(e) for e in x)
    return x


# --- models and tokenizers ------------------------------------------------------------------


def model_objective(model) -> str:
    """``"mlm"`` or ``"clm"``: from the genolm family, else from the class name / config."""
    from genolm.models import family_of

    try:
        return family_of(model).objective
    except ConfigError:
        pass
    name = type(model).__name__
    if "CausalLM" in name or getattr(getattr(model, "config", None), "is_decoder", False):
        return "clm"
    if "MaskedLM" in name:
        return "mlm"
    raise ConfigError(
        f"cannot tell whether {name} is a masked or a causal LM; load it with "
        "AutoModelForMaskedLM / AutoModelForCausalLM"
    )


# --- windows ----------------------------------------------------------------------------------


class _Row(NamedTuple):
    i: int  # row in the result
    ref: str  # upper case
    alt: str
    method: str  # "llr" | "pll" | "clm" | "embedding"


@dataclass
class _Site:
    """Variants sharing a ref window: same record, same ``pos`` (and window end)."""

    contig: str
    pos: int
    start: int  # window [start, end), genomic
    end: int
    window: str = ""  # ref window, upper case
    rows: list[_Row] = field(default_factory=list)
    bounds: tuple[int, int] = (0, 0)  # genomic [lo, hi) of the record holding the site


def _bounds(genome: Genome, contig: str, pos: int) -> tuple[int, int]:
    """Genomic ``[lo, hi)`` of the record that holds ``pos`` (a region record covers part of a contig)."""
    _, rec, rs, _, _ = genome._resolve(contig, pos, pos + 1)
    return pos - rs, pos - rs + genome.lengths[rec]


def _window_bounds(pos: int, ref_len: int, lo: int, hi: int, window: int) -> tuple[int, int]:
    start = pos - window // 2
    end = max(start + window, pos + ref_len + 1)
    return max(lo, start), min(hi, end)


def _alt_window(genome: Genome, site: _Site, ref: str, alt: str, hi: int) -> str:
    """Left flank + ALT + right flank, as long as the ref window where the contig allows."""
    p = site.pos - site.start
    after = site.pos + len(ref)  # genomic start of the right flank
    want = max((site.end - site.start) - p - len(alt), 0)  # right-flank bases keeping the length
    right_end = min(hi, after + want)
    if right_end <= site.end:
        right = site.window[after - site.start : right_end - site.start]
    else:  # a deletion: the alt window reaches past the ref window
        right = genome.fetch(site.contig, after, right_end).upper()
    return site.window[:p] + alt + right


# --- the scorer -------------------------------------------------------------------------------


def as_genome(genome) -> Genome:
    """``genome`` as a :class:`~genolm.io.Genome`: kept as it is, built from a ``{name: sequence}``
    mapping, or opened from a path / ``bundled:NAME`` with :meth:`Genome.open`."""
    if isinstance(genome, Genome):
        return genome
    if isinstance(genome, Mapping):
        return Genome.from_sequences(genome)
    return Genome.open(genome)


def _resolve_method(method: str, objective: str) -> tuple[str, str]:
    """``(base method, distance)``."""
    check_choice("method", method, METHODS)
    if method.startswith("embedding"):
        return "embedding", "l2" if method == "embedding-l2" else "cosine"
    if method == "auto":
        return ("clm" if objective == "clm" else "llr"), ""
    if method == "clm" and objective != "clm":
        raise ConfigError("method 'clm' needs a causal LM; this model is masked: use 'llr' or 'pll'")
    if method in ("llr", "pll") and objective != "mlm":
        raise ConfigError(f"method '{method}' needs a masked LM; this model is causal: use 'clm'")
    return method, ""


def iter_records(variants: Iterable[Variant] | str) -> list[Variant]:
    """Records from a VCF path or an iterable of :class:`~genolm.io.Variant`."""
    if isinstance(variants, str) or hasattr(variants, "__fspath__"):
        return list(read_vcf(variants))
    return list(variants)


def score_variants(
    model,
    tokenizer,
    genome,
    variants,
    *,
    method: str = "auto",
    window: int | None = None,
    batch_size: int = 64,
    flank: int = 0,
    add_special_tokens: bool = True,
    device=None,
    progress: bool = False,
    chunk_sites: int = 4096,
    precision: str = "fp32",
) -> VariantScores:
    """Zero-shot effect score of every variant (see the module docstring for the methods).

    Parameters
    ----------
    model : PreTrainedModel
        A masked LM (``XForMaskedLM``) or causal LM (``XForCausalLM``); any genolm family.
    tokenizer : GenomicTokenizer or HF tokenizer
        The model's tokenizer (offsets are needed: genolm tokenizers, or a fast HF tokenizer).
    genome : Genome, path, or mapping contig -> sequence
        Reference.  Contig names go through :class:`~genolm.io.Genome`'s aliases.
    variants : iterable of Variant, or path to a VCF
        ``pos`` 0-based.  Multi-allelic records are split here.
    method : str
        One of :data:`METHODS`.  Default is ``"auto"``: ``llr`` / ``pll`` for MLMs, ``clm`` for CLMs.
        ``"embedding"`` is cosine distance, ``"embedding-l2"`` the L2 distance.
    window : int, optional
        Window length in bases, centred on the variant.  Default is :data:`DEFAULT_WINDOW`.
    batch_size : int
        Sequences per forward pass.  Default is 64.
    flank : int
        Extra bases on each side of the variant span that ``pll`` scores.  Default is 0.
    add_special_tokens : bool
        Wrap windows in the tokenizer's template (as pretraining does).  Default is ``True``.
    device : str or torch.device, optional
        Where to run; the model is moved back afterwards.  Default is where the model is.
    progress : bool
        Show a progress bar (variants/s, ETA) on stderr.  Default is ``False``.
    chunk_sites : int
        Sites whose forward passes are built and run together (bounds memory).  Default is 4096.
    precision : str
        ``"fp32"`` (default: exact, reproducible scores), ``"bf16"`` (autocast; GPN's own loop
        runs in fp16: on the bundled model 1.4-1.5x faster on a CPU with bf16 matmul, scores
        within 0.03 of fp32, see benchmarks/vep_throughput.py), or ``"auto"`` (bf16 where the
        device supports it).

    Returns
    -------
    VariantScores
    """
    base_method, distance = _resolve_method(method, model_objective(model))
    require_weights(model, "embeddings" if base_method == "embedding" else "log-probabilities")
    resolve_precision(precision, device)  # a bad value fails before any work
    window = int(window or DEFAULT_WINDOW)
    if window < 1:
        raise ConfigError(f"window must be positive, got {window}")
    if int(flank) < 0:
        raise ConfigError(f"flank must be >= 0 (bases each side of the span that pll scores), got {flank}")
    tv = TokenizerView(tokenizer, add_special_tokens)
    if base_method in ("llr", "pll") and tv.mask_id is None:
        raise ConfigError(f"{type(tokenizer).__name__} has no mask token; masked scoring needs one")
    own_genome = not isinstance(genome, (Genome, Mapping))
    g = as_genome(genome)
    try:
        rows, rec_idx, allele = _split_rows(iter_records(variants))
        planner = _Planner(tv, g, rows, base_method, distance, flank)
        sites = planner.sites(window)
        n_rows = sum(len(s.rows) for s in sites)
        bar = progress_bar(n_rows, "score-variants", unit="variant", enabled=bool(progress and n_rows))
        with preserve_model_state(model, device) as dev:
            for c in range(0, len(sites), chunk_sites):
                chunk = sites[c : c + chunk_sites]
                reqs, finals = planner.plan(chunk)
                per_req = sum(len(s.rows) for s in chunk) / max(len(reqs), 1)
                run_requests(
                    model,
                    reqs,
                    batch_size=batch_size,
                    device=dev,
                    pad_id=tv.pad_id,
                    on_batch=(lambda k, w=per_req: bar.update(k * w)) if bar is not None else None,
                    precision=precision,
                    reference=planner.reference,
                )
                for f in finals:
                    f()
        if bar is not None:
            bar.n = n_rows
            bar.close()
    finally:
        if own_genome:
            g.close()
    fwd, rc = planner.out["fwd"], planner.out["rc"]
    bad = np.array([s != "ok" for s in planner.status], dtype=bool)
    fwd[bad] = rc[bad] = np.nan
    meth = ["" if b else m for b, m in zip(bad, planner.meth)]
    return VariantScores(
        rows,
        np.asarray(rec_idx, dtype=np.int64),
        np.asarray(allele, dtype=np.int64),
        (fwd + rc) / 2,
        fwd,
        rc,
        meth,
        planner.status,
        planner.message,
    )


def _split_rows(records: list[Variant]) -> tuple[list[Variant], list[int], list[int]]:
    """One row per (record, ALT); a record without ALT keeps one row (allele -1)."""
    rows, rec_idx, allele = [], [], []
    for n, v in enumerate(records):
        ri = v.index if v.index is not None else n
        if not v.alts:
            rows.append(v)
            rec_idx.append(ri)
            allele.append(-1)
            continue
        for j, sv in enumerate(split_multiallelic([v])):
            rows.append(sv)
            rec_idx.append(ri)
            allele.append(j)
    return rows, rec_idx, allele


# --- planning: rows -> sites -> forward requests -------------------------------------------------


def _orient(seq: str, a: int, b: int, strand: str) -> tuple[str, int, int]:
    """``seq`` and the span ``[a, b)`` on ``strand`` (reverse complement: span mirrored)."""
    if strand == "fwd":
        return seq, a, b
    n = len(seq)
    return reverse_complement(seq), n - b, n - a


def _span_tokens(offs: np.ndarray, a: int, b: int) -> np.ndarray:
    """Indices of the tokens that overlap ``[a, b)``."""
    return np.flatnonzero((offs[:, 0] < b) & (offs[:, 1] > a))


class _Planner:
    """Turns rows into sites and sites into forward requests, and writes the per-strand scores.

    ``out[strand]`` (``"fwd"`` / ``"rc"``) holds the scores, ``status`` / ``message`` / ``meth``
    one entry per row; requests are answered by :func:`run_requests`, then the ``finals``
    closures read them.
    """

    def __init__(self, tv: TokenizerView, genome: Genome, rows: list[Variant], method, distance, flank):
        self.tv, self.g, self.rows = tv, genome, rows
        self.method, self.distance, self.flank = method, distance, flank
        n = len(rows)
        self.status, self.message, self.meth = ["ok"] * n, [""] * n, [""] * n
        self.out = {"fwd": np.full(n, np.nan), "rc": np.full(n, np.nan)}
        self.reqs: list[Request] = []
        self.finals: list[Callable[[], None]] = []

    def reference(self, key: tuple, lo: int, hi: int) -> np.ndarray:
        """Token ids at indices ``[lo, hi)`` of a request anchor's reference, -1 where no token
        starts (outside the record).

        ``key`` ``(strand, contig, rec_lo, rec_hi)``.  Forward strand: index = genomic position.
        Reverse complement: index ``q`` is genomic position ``-1 - q``, so that the index grows
        along the strand.  The tokenizer is per-base (token i starts at base i); a token starting
        before ``hi`` may read past it (a k-mer), so the sequence is fetched a little further."""
        strand, contig, rec_lo, rec_hi = key
        out = np.full(hi - lo, -1, dtype=np.int64)
        end = hi + _TOKEN_REACH  # strand index up to which bases are read
        a, b = (lo, end) if strand == "fwd" else (-end, -lo)  # genomic span
        a, b = max(a, rec_lo), min(b, rec_hi)
        if a >= b:
            return out
        seq = self.g.fetch(contig, a, b).upper()
        first = a if strand == "fwd" else -b  # strand index of the span's first base
        if strand != "fwd":
            seq = reverse_complement(seq)
        ids, offs = self.tv.encode(seq)
        at = first - lo + offs[:, 0]
        keep = at < len(out)
        out[at[keep]] = ids[keep]
        return out

    def _fail(self, i: int, status: str, message: str) -> None:
        self.status[i], self.message[i] = status, message

    def sites(self, window: int) -> list[_Site]:
        """Check every row and group the scorable ones by ref window."""
        g, rows = self.g, self.rows
        with_alt = [i for i, v in enumerate(rows) if v.alts]
        for i, v in enumerate(rows):
            if not v.alts:
                self._fail(i, "no_alt", "the record has no ALT allele")
        sites: dict[tuple, _Site] = {}
        for i, chk in zip(with_alt, check_against_genome([rows[i] for i in with_alt], g)):
            if chk.status != "ok":
                self._fail(i, chk.status, chk.message)
                continue
            v = rows[i]
            ref, alt = v.ref.upper(), v.alts[0].upper()
            if not set(ref) <= _ACGT or not set(alt) <= _ACGT or not alt:
                self._fail(
                    i, "unsupported_allele", f"only A/C/G/T alleles are scored (REF {v.ref}, ALT {v.alts[0]})"
                )
                continue
            if ref == alt:
                self._fail(i, "unsupported_allele", "ALT equals REF")
                continue
            lo, hi = _bounds(g, v.contig, v.pos)
            start, end = _window_bounds(v.pos, len(ref), lo, hi, window)
            m = self.method
            if m == "llr" and (len(ref) != 1 or len(alt) != 1):
                m = "pll"  # masked marginals exist for single bases; MNVs and indels use PLL
            key = (g._resolve(v.contig, v.pos, v.pos + 1)[1], v.pos, end)
            if key not in sites:
                sites[key] = _Site(v.contig, v.pos, start, end, bounds=(lo, hi))
            sites[key].rows.append(_Row(i, ref, alt, m))
        return sorted(sites.values(), key=lambda s: (s.contig, s.pos))

    def plan(self, chunk: list[_Site]) -> tuple[list[Request], list[Callable[[], None]]]:
        """Requests and finishing closures for the sites of ``chunk``, both strands."""
        self.reqs, self.finals = [], []
        for site in chunk:
            hi = site.bounds[1]
            site.window = self.g.fetch(site.contig, site.start, site.end).upper()
            alt_windows = {r.i: _alt_window(self.g, site, r.ref, r.alt, hi) for r in site.rows}
            for strand in ("fwd", "rc"):
                self._plan_site(site, alt_windows, strand)
            site.window = ""
        return self.reqs, self.finals

    def _plan_site(self, site: _Site, alt_windows: dict[int, str], strand: str) -> None:
        if self.method in ("clm", "embedding"):
            self._plan_whole_windows(site, site.rows, alt_windows, strand)
            return
        llr_rows = [r for r in site.rows if r.method == "llr"]
        pll_rows = [r for r in site.rows if r.method == "pll"]
        if llr_rows:
            pll_rows += self._plan_llr(site, llr_rows, alt_windows, strand)
        if pll_rows:
            self._plan_pll(site, pll_rows, alt_windows, strand)

    def _masked(self, ids: np.ndarray, positions: np.ndarray) -> np.ndarray:
        m = ids.copy()
        m[positions] = self.tv.mask_id
        return self.tv.full(m)

    def _plan_llr(self, site, rows, alt_windows, strand) -> list[_Row]:
        """One masked forward for every SNV at the site whose ALT keeps the tokenization; returns the others."""
        tv, out = self.tv, self.out[strand]
        p = site.pos - site.start
        seq, a, _ = _orient(site.window, p, p + 1, strand)
        ids, offs = tv.encode(seq)
        cover = np.flatnonzero((offs[:, 0] <= a) & (offs[:, 1] > a))
        if not len(cover):
            for r in rows:
                self._fail(r.i, "no_token", f"no token covers the variant in its {len(seq)} bp window")
            return []
        stable, alt_ids, unstable = [], [], []
        for r in rows:
            aseq, _, _ = _orient(alt_windows[r.i], p, p + 1, strand)
            if tv.position_stable:
                # re-encode only the covering tokens' spans: each is one token of the same layout
                aids = np.concatenate([tv.encode(aseq[offs[t, 0] : offs[t, 1]])[0] for t in cover])
                if len(aids) == len(cover):
                    stable.append(r)
                    alt_ids.append(aids)
                    continue
            aids, aoffs = tv.encode(aseq)
            if (
                aoffs.shape == offs.shape
                and np.array_equal(aoffs, offs)
                and not np.any(np.delete(aids != ids, cover))
            ):
                stable.append(r)
                alt_ids.append(aids[cover])
            else:
                unstable.append(r)  # the ALT re-tokenizes its neighbourhood (BPE): use PLL
        if not stable:
            return unstable
        cand = np.stack([ids[cover]] + alt_ids, axis=1)  # (J, 1 + n_alt): ref first
        gather = [(tv.lead + int(t), cand[j]) for j, t in enumerate(cover)]
        req = Request(
            "mlm", self._masked(ids, cover), tv.lead, len(ids), gather, group=(strand, site.contig, site.pos)
        )
        if tv.per_base:
            # the window is cut from its strand of the record: index ids[0] of that reference
            key = (strand, site.contig, *site.bounds)
            req.anchor = (key, (site.start if strand == "fwd" else -site.end) - tv.lead)
        self.reqs.append(req)

        def finish():
            lp = np.stack(req.out)  # (J, 1 + n_alt)
            llr = (lp[:, 1:] - lp[:, :1]).mean(0)  # mean over the tokens covering the site
            for k, r in enumerate(stable):
                out[r.i] = float(llr[k])
                self.meth[r.i] = "llr"

        self.finals.append(finish)
        return unstable

    def _pll_requests(self, seq: str, a: int, b: int) -> list[Request] | None:
        """One request per token overlapping ``[a, b)``, that token masked; ``None`` if there is none."""
        tv = self.tv
        ids, offs = tv.encode(seq)
        toks = _span_tokens(offs, max(a, 0), min(b, len(seq)))
        if not len(toks):
            return None
        mine = []
        for t in toks:
            # mask every token sharing a base with t: overlapping k-mers would otherwise give t away
            hide = _span_tokens(offs, int(offs[t, 0]), int(offs[t, 1]))
            mine.append(
                Request(
                    "mlm", self._masked(ids, hide), tv.lead, len(ids), [(tv.lead + int(t), ids[t : t + 1])]
                )
            )
        self.reqs.extend(mine)
        return mine

    def _plan_pll(self, site, rows, alt_windows, strand) -> None:
        out = self.out[strand]
        p = site.pos - site.start
        ref_cache: dict[tuple[int, int], list[Request] | None] = {}
        for r in rows:
            a, b = p - self.flank, p + max(len(r.ref), len(r.alt)) + self.flank
            seq, ra, rb = _orient(site.window, a, b, strand)
            if (ra, rb) not in ref_cache:  # ALTs at a site with the same span share the ref PLL
                ref_cache[(ra, rb)] = self._pll_requests(seq, ra, rb)
            ref_reqs = ref_cache[(ra, rb)]
            aseq, aa, ab = _orient(alt_windows[r.i], a, b, strand)
            alt_reqs = self._pll_requests(aseq, aa, ab)
            if ref_reqs is None or alt_reqs is None:
                self._fail(r.i, "no_token", "no token overlaps the variant span in its window")
                continue

            def finish(r=r, ref_reqs=ref_reqs, alt_reqs=alt_reqs):
                pll_ref = sum(float(q.out[0][0]) for q in ref_reqs)
                pll_alt = sum(float(q.out[0][0]) for q in alt_reqs)
                out[r.i] = pll_alt - pll_ref
                self.meth[r.i] = "pll"

            self.finals.append(finish)

    def _plain_req(self, seq: str, kind: str) -> Request:
        ids, _ = self.tv.encode(seq)
        return Request(kind, self.tv.full(ids), self.tv.lead, len(ids))

    def _plan_whole_windows(self, site, rows, alt_windows, strand) -> None:
        """``clm``: log-likelihood ratio of windows; ``embedding``: distance of pooled states."""
        out, kind = self.out[strand], ("clm" if self.method == "clm" else "emb")
        ref_req = self._plain_req(_orient(site.window, 0, 0, strand)[0], kind)
        self.reqs.append(ref_req)
        for r in rows:
            alt_req = self._plain_req(_orient(alt_windows[r.i], 0, 0, strand)[0], kind)
            self.reqs.append(alt_req)

            def finish(r=r, alt_req=alt_req):
                if kind == "clm":
                    out[r.i] = alt_req.out - ref_req.out
                    self.meth[r.i] = "clm"
                    return
                x, y = ref_req.out.astype(np.float64), alt_req.out.astype(np.float64)
                if self.distance == "l2":
                    d = float(np.linalg.norm(x - y))
                else:
                    den = float(np.linalg.norm(x) * np.linalg.norm(y))
                    d = 1.0 - float(x @ y) / den if den > 0 else math.nan
                out[r.i] = d
                self.meth[r.i] = f"embedding-{self.distance}"

            self.finals.append(finish)
