"""In-silico saturation mutagenesis (ISM): the score of every possible SNV of a sequence or region.

``ism(model, tokenizer, sequence)`` or ``ism(model, tokenizer, genome=G, region="chr1:101-200")``
returns ``ISMResult.llr``, shape ``(L, 4)``, columns ``A C G T``: entry ``[i, b]`` is the score of
changing base ``i`` to ``b`` (0 at the reference base; NaN where the reference is not A/C/G/T).
It is built on :func:`genolm.variants.score_variants`, so every entry is exactly the score that
scoring the one SNV from a VCF would give (same windows, strand averaging and method; one masked
forward per position and strand serves its three alternatives).  A region keeps its genomic
context: windows reach into the flanks around it.

Sign convention: ``score = log p(alt) - log p(ref)`` (the scorer's, whatever the method), so
**negative = the model finds the substitution less likely = predicted damaging**.

Plots: :func:`plot_ism_heatmap` (4 x L, diverging colours centred on 0, the reference bases on
the x axis) and :func:`plot_ism_logo` (a ``logomaker`` logo of the reference base at each
position, its height the mean of ``-score`` over the three alternatives: tall letters are bases
whose mutation the model predicts damaging; letters below the axis are bases the model would
rather see changed).  Both state the sign convention on the figure.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from genolm.errors import ConfigError, InputError

ALPHABET = "ACGT"
_COLORS = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839"}


class ISMResult(NamedTuple):
    """``llr`` shape ``(L, 4)`` (columns :data:`ALPHABET`), the reference ``sequence`` (upper case),
    and where it lies: ``contig`` (``None`` for a bare sequence) and 0-based ``start``."""

    llr: np.ndarray
    sequence: str
    contig: str | None
    start: int
    method: str

    def to_frame(self):
        """``pos`` (1-based, genomic for a region), ``ref``, then one column per base."""
        import pandas as pd

        df = pd.DataFrame(self.llr, columns=list(ALPHABET))
        # 0-based start -> 1-based positions, as a genome browser shows them
        df.insert(0, "pos", np.arange(self.start + 1, self.start + 1 + len(self.sequence)))
        df.insert(1, "ref", list(self.sequence))
        if self.contig is not None:
            df.insert(0, "chrom", self.contig)
        return df


def parse_region(text: str) -> tuple[str, int, int]:
    """``"chr1:101-200"`` (1-based, inclusive, commas allowed) -> ``("chr1", 100, 200)`` 0-based half-open."""
    m = re.fullmatch(r"(.+):([\d,]+)-([\d,]+)", str(text).strip())
    if not m:
        raise ConfigError(f"region '{text}' is not 'contig:start-end' (1-based, inclusive)")
    start, end = int(m[2].replace(",", "")), int(m[3].replace(",", ""))
    if start < 1 or end < start:
        raise ConfigError(f"region '{text}': need 1 <= start <= end")
    # 1-based inclusive -> 0-based half-open, once, here
    return m[1], start - 1, end


def check_sequence(sequence: str, *, what: str = "sequence") -> str:
    """A bare sequence given to ISM: non-empty, IUPAC only (the check every reader applies).

    A space or digit would otherwise shift every later coordinate; ``*`` or non-ASCII would be
    scored as ``[UNK]``.
    """
    from genolm.alphabet import validate

    if not sequence:
        raise InputError(f"the {what} is empty", hint="give at least one base")
    return validate(sequence, "iupac", record=what)


def frame_consistent_window(length: int, window: int | None) -> int:
    """The window that scores every site of a ``length``-bp sequence in one context.

    A site's window is centred on it and clipped to the sequence.  When the sequence is no
    longer than ``window`` (default :data:`~genolm.variants.scoring.DEFAULT_WINDOW`), those
    clipped windows would each be a different slice from inside the sequence, and a model with
    non-overlapping k-mers would read each site in another frame.  A window of ``2 * length``
    clips to the whole sequence for every site: one context, one frame.  Longer sequences keep
    ``window``.
    """
    from genolm.variants.scoring import DEFAULT_WINDOW

    w = int(window or DEFAULT_WINDOW)
    return 2 * length if length <= w else w


def ism(
    model,
    tokenizer,
    sequence: str | None = None,
    *,
    genome=None,
    region: str | tuple[str, int, int] | None = None,
    method: str = "auto",
    window: int | None = None,
    batch_size: int = 64,
    add_special_tokens: bool = True,
    device=None,
    progress: bool = False,
    precision: str = "fp32",
) -> ISMResult:
    """Saturation mutagenesis of ``sequence``, or of ``region`` of ``genome``.

    Parameters
    ----------
    model, tokenizer :
        As for :func:`genolm.variants.score_variants`.
    sequence : str, optional
        A bare sequence; its ends are its contig ends (windows are clipped there).  It must be
        non-empty IUPAC (:func:`genolm.alphabet.validate`: ``*``, digits, spaces and non-ASCII
        are errors naming the position).  **Short-sequence policy:** a sequence no longer than
        the window is scored in one context, the whole sequence, for every site (see
        :func:`frame_consistent_window`), so that a non-overlapping k-mer model reads every site
        in the same frame; a longer one gets a window centred on each site, as in
        :func:`~genolm.variants.score_variants`.
    genome : Genome, path or mapping, optional
        With ``region``: the genome the region is read from (flanks give context).
    region : str or (contig, start, end), optional
        ``"chr1:101-200"`` (1-based inclusive) or a 0-based half-open tuple.
    method, window, batch_size, add_special_tokens, device, progress, precision :
        Passed to :func:`~genolm.variants.score_variants`.  ``method`` must not be an embedding.

    Returns
    -------
    ISMResult
    """
    from genolm.io.genome import Genome
    from genolm.io.vcf import Variant
    from genolm.variants.scoring import as_genome, score_variants

    if method.startswith("embedding"):
        raise ConfigError("ISM reports log-likelihood ratios; use method auto / llr / pll / clm")
    if (sequence is None) == (region is None):
        raise ConfigError("give either sequence or genome + region")
    own = False
    if sequence is not None:
        check_sequence(sequence)
        window = frame_consistent_window(len(sequence), window)
        contig, start, end = "sequence", 0, len(sequence)
        g = Genome.from_sequences({contig: sequence})
        out_contig = None
    else:
        if genome is None:
            raise ConfigError("region needs genome")
        contig, start, end = parse_region(region) if isinstance(region, str) else region
        own = not isinstance(genome, Genome) and not isinstance(genome, dict)
        g = as_genome(genome)
        if g.locate(contig, start, end) != "ok":
            raise InputError(f"region {contig}:{start + 1}-{end} is not in the genome", path=g.path)
        out_contig = contig
    try:
        ref = g.fetch(contig, start, end).upper()
        variants = [
            Variant(contig, start + i, None, b, tuple(a for a in ALPHABET if a != b), index=i)
            for i, b in enumerate(ref)
            if b in ALPHABET
        ]
        res = score_variants(
            model,
            tokenizer,
            g,
            variants,
            method=method,
            window=window,
            batch_size=batch_size,
            add_special_tokens=add_special_tokens,
            device=device,
            progress=progress,
            precision=precision,
        )
    finally:
        if own:
            g.close()
    llr = np.full((len(ref), 4), np.nan)
    for i, b in enumerate(ref):
        if b in ALPHABET:
            llr[i, ALPHABET.index(b)] = 0.0
    for v, s, st in zip(res.variants, res.score, res.status):
        if st == "ok":
            llr[v.pos - start, ALPHABET.index(v.alts[0])] = s
    used = next((m for m in res.method if m), method)
    return ISMResult(llr, ref, out_contig, start, used)


# --- plots -------------------------------------------------------------------------------------

#: the sign convention every ISM plot states (the scorer's, see genolm.variants.scoring)
SIGN_CONVENTION = "score = log p(alt) - log p(ref); negative = alt less likely (damaging)"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path, extra_formats=()) -> Path:
    """Write ``fig`` to ``path`` (format from its suffix, PNG when there is none) and to a
    sibling file per entry of ``extra_formats`` (``("svg",)``: ``<stem>.svg``)."""
    from genolm.atomic import atomic_path

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_path(path, suffix=f".{fmt}") as tmp:
        fig.savefig(tmp, dpi=120, format=fmt)
    import matplotlib

    for ext in extra_formats:
        # text stays text in the SVG (searchable, editable, smaller); logo glyphs are paths anyway
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            with atomic_path(path.with_suffix(f".{ext}"), suffix=f".{ext}") as tmp:
                fig.savefig(tmp, format=ext)
    return path


def _width(L: int) -> float:
    return min(max(6.0, 0.14 * L + 2.0), 40.0)


def _position_axis(ax, res: ISMResult) -> None:
    """Genomic (1-based) positions on the top axis, about 12 ticks, on multiples of 5."""
    L = len(res.sequence)
    step = max(1, int(round(L / 12 / 5)) * 5) if L > 12 else 1
    ticks = np.arange(0, L, step)
    top = ax.secondary_xaxis("top")
    top.set_xticks(ticks)
    top.set_xticklabels([f"{res.start + 1 + t:,}" for t in ticks], fontsize=7)
    where = f"{res.contig}:" if res.contig else "position "
    top.set_xlabel(f"{where}{res.start + 1:,}-{res.start + L:,}", fontsize=8)


def _reference_axis(ax, res: ISMResult) -> None:
    """The reference base under every column (coloured as in the logo); every base up to 200
    columns, beyond that the axis would be unreadable and only the positions are shown."""
    L = len(res.sequence)
    if L > 200:
        ax.set_xticks([])
        ax.set_xlabel("reference (too long to label each base; see the TSV)")
        return
    ax.set_xticks(np.arange(L))
    size = 9 if L <= 60 else 7 if L <= 100 else 5
    ax.set_xticklabels(list(res.sequence), fontsize=size, family="monospace", weight="bold")
    for t, b in zip(ax.get_xticklabels(), res.sequence):
        t.set_color(_COLORS.get(b, "grey"))
    ax.tick_params(axis="x", length=0)
    ax.set_xlabel("reference base")


def plot_ism_heatmap(
    res: ISMResult, path: str | Path, *, title: str = "", extra_formats: tuple[str, ...] = ()
) -> Path:
    """A 4 x L heatmap of ``res.llr``: rows A C G T, one column per reference base.

    Sign convention (:data:`SIGN_CONVENTION`): ``score = log p(alt) - log p(ref)``, so **negative
    (red) = the model finds the substitution less likely = predicted damaging**, positive (blue) =
    the model prefers the alternative.  Colours are centred on 0.  The reference bases label the x
    axis (and are boxed in the grid); genomic positions are on the top axis.  ``extra_formats``
    (e.g. ``("svg",)``) writes the same figure beside ``path`` in those formats.
    """
    plt = _plt()
    L = len(res.sequence)
    m = np.ma.masked_invalid(res.llr.T)  # (4, L); NaN (non-ACGT reference) shown grey
    vmax = float(np.nanmax(np.abs(res.llr))) if np.isfinite(res.llr).any() else 1.0
    vmax = vmax or 1.0
    cmap = plt.get_cmap("RdBu").with_extremes(bad="lightgrey")
    fig, ax = plt.subplots(figsize=(_width(L), 2.9))
    im = ax.imshow(m, aspect="auto", cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
    for i, b in enumerate(res.sequence):
        if b in ALPHABET:
            ax.add_patch(
                plt.Rectangle((i - 0.5, ALPHABET.index(b) - 0.5), 1, 1, fill=False, lw=0.6, ec="black")
            )
    ax.set_yticks(range(4))
    ax.set_yticklabels(list(ALPHABET))
    ax.set_ylabel("alternative")
    _reference_axis(ax, res)
    _position_axis(ax, res)
    ax.set_title(title or f"ISM ({res.method}): score of each substitution (boxed: reference)", fontsize=10)
    cb = fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01)
    cb.set_label("log p(alt) - log p(ref)\n< 0: damaging", fontsize=8)
    fig.tight_layout()
    out = _save(fig, path, extra_formats)
    plt.close(fig)
    return out


def ism_importance(res: ISMResult) -> np.ndarray:
    """Per-position importance ``-mean(score)`` over the three alternatives, shape ``(L,)``.

    Positive = mutating this base is, on average, predicted damaging (the alternatives are less
    likely than the reference); 0 where the reference is not A/C/G/T.
    """
    alts = res.llr.copy()
    for i, b in enumerate(res.sequence):
        if b in ALPHABET:
            alts[i, ALPHABET.index(b)] = np.nan
    with warnings.catch_warnings():  # all-NaN rows (non-ACGT reference) are set to 0 below
        warnings.simplefilter("ignore", RuntimeWarning)
        imp = -np.nanmean(alts, axis=1)
    return np.nan_to_num(imp, nan=0.0)


def plot_ism_logo(
    res: ISMResult, path: str | Path, *, title: str = "", extra_formats: tuple[str, ...] = ()
) -> Path:
    """A sequence logo (drawn with ``logomaker``) of the reference bases, each letter as tall as
    :func:`ism_importance`: ``-mean(log p(alt) - log p(ref))`` over its three alternatives.

    Letters **above** the axis are bases whose mutation the model predicts damaging; letters
    below it are bases the model would rather see changed.  ``extra_formats`` as for
    :func:`plot_ism_heatmap`.
    """
    import logomaker
    import pandas as pd

    plt = _plt()
    L = len(res.sequence)
    imp = ism_importance(res)
    mat = np.zeros((L, 4))
    for i, b in enumerate(res.sequence):
        if b in ALPHABET:
            mat[i, ALPHABET.index(b)] = imp[i]
    df = pd.DataFrame(mat, columns=list(ALPHABET))
    fig, ax = plt.subplots(figsize=(_width(L), 2.6))
    logomaker.Logo(df, ax=ax, color_scheme=_COLORS, flip_below=False, font_name="DejaVu Sans")
    ax.axhline(0, c="black", lw=0.5)
    ax.set_xlim(-0.5, L - 0.5)
    lo, hi = min(0.0, float(imp.min())), max(0.0, float(imp.max()))
    pad = 0.05 * (hi - lo or 1.0)
    ax.set_ylim(lo - pad, hi + pad)
    _reference_axis(ax, res)
    _position_axis(ax, res)
    ax.set_ylabel("-mean score\n(> 0: damaging)", fontsize=8)
    ax.set_title(title or f"ISM ({res.method}): importance of each reference base", fontsize=10)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    fig.tight_layout()
    out = _save(fig, path, extra_formats)
    plt.close(fig)
    return out


# --- file-level entry point --------------------------------------------------------------------


@dataclass
class IsmConfig:
    """Settings of ``genolm ism``."""

    out: str  # output prefix: <out>.tsv, <out>.npz, <out>_heatmap.png/.svg, <out>_logo.png/.svg
    genome: str | None = None  # FASTA / GenBank / bundled:NAME (with region)
    region: str | None = None  # chr:start-end, 1-based inclusive
    sequence: str | None = None  # or a bare sequence
    model: str = "genolm-tiny"  # model folder, bundled model, catalogue name or Hub id
    trust_remote_code: bool = False  # run code shipped in the model repository
    method: str = "auto"
    window: int | None = None
    batch_size: int = 64
    device: str | None = None
    precision: str = "fp32"  # fp32 | bf16 | auto
    plots: bool = True
    progress: bool = True

    def __post_init__(self):
        if (self.sequence is None) == (self.region is None):
            raise ConfigError("give either --sequence or --genome with --region")
        if self.sequence is not None and self.genome is not None:
            raise ConfigError("--genome goes with --region; a bare --sequence needs no genome: leave one out")
        if self.region is not None:
            if self.genome is None:
                raise ConfigError("--region needs --genome")
            parse_region(self.region)
        if self.method.startswith("embedding"):
            raise ConfigError("ISM reports log-likelihood ratios; use method auto / llr / pll / clm")
        from genolm.infer import resolve_precision

        resolve_precision(self.precision, self.device)  # a bad value fails before the model loads


def run_ism(cfg: IsmConfig) -> dict:
    """``genolm ism``: compute, then write the TSV, the NPZ and the two plots (PNG and SVG)."""
    from genolm.atomic import atomic_path
    from genolm.catalogue import load
    from genolm.io.genome import Genome
    from genolm.variants.scoring import DEFAULT_WINDOW

    lm = load(cfg.model, trust_remote_code=cfg.trust_remote_code)
    lm.require_log_probs("ISM")
    window = cfg.window or lm.window or DEFAULT_WINDOW
    kw = dict(
        method=cfg.method,
        window=window,
        batch_size=cfg.batch_size,
        device=cfg.device,
        progress=cfg.progress,
        precision=cfg.precision,
    )
    if cfg.sequence is not None:
        res = ism(lm.model, lm.tokenizer, cfg.sequence, **kw)
    else:
        with Genome.open(cfg.genome) as g:
            res = ism(lm.model, lm.tokenizer, genome=g, region=cfg.region, **kw)
    prefix = str(cfg.out)
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(f"{prefix}.tsv") as tmp:
        res.to_frame().to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    with atomic_path(f"{prefix}.npz", suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                llr=res.llr,
                sequence=np.array(res.sequence),
                alphabet=np.array(ALPHABET),
                contig=np.array(res.contig or ""),
                start=np.array(res.start),
                method=np.array(res.method),
            )
    files = [f"{prefix}.tsv", f"{prefix}.npz"]
    if cfg.plots:
        for name, plot in (("heatmap", plot_ism_heatmap), ("logo", plot_ism_logo)):
            png = plot(res, f"{prefix}_{name}.png", extra_formats=("svg",))
            files += [str(png), str(png.with_suffix(".svg"))]
    return {
        "model": lm.name,
        "method": res.method,
        # the context a bare sequence was scored in (the whole sequence when it is no longer)
        "window": window if cfg.sequence is None or len(res.sequence) > window else len(res.sequence),
        "length": len(res.sequence),
        "region": cfg.region,
        "files": files,
    }
