"""Mine contrastive training pairs from an embedding database (``genolm db pairs``).

Each row is a triple: an **anchor**, a **positive** (the same thing, slightly different) and a
**hard negative** (close in embedding space, but something else), with a ``kind``:

``locus``    the positive is the anchor's nearest neighbour from **another source file** (another
             strain or assembly) with similarity ``>= min_similarity``: the same locus.
``mutated``  the positive is a copy of the anchor with ``mutations`` random edits: substitutions,
             insertions and deletions for DNA; substitutions only for proteins (``alphabet``).
``source``   (DNABERT-S style) the positive is another item, drawn at random, from the **same
             source file** as the anchor (and, where the database has labels, with the same label)
             that does not overlap it (another contig, or a disjoint interval); with
             ``mutate_positives`` it also gets that many random edits, so one pair teaches what
             stays the same within a genome and that a few sequencing errors do not matter.
             Its hard negative is always from **another** source (and label): the anchor's nearest
             neighbour there, exactly where the database's embedder confuses the two.

The hard negative is the anchor's most similar neighbour that is not the same thing: never the
positive, never an item from another source with similarity ``>= min_similarity`` (the same locus
in another strain), never one at or above ``max_negative_similarity`` (a likely unlabelled copy),
and, where the database has labels, one with another label than the anchor.

Sequences are not stored in a database: they are read again from the build's (and ``db add``'s)
inputs recorded in its manifest, or given as ``sequences={id: seq}``.

Output (:func:`write_pairs`): TSV with columns :data:`PAIR_COLUMNS`.  ``group`` and
``negative_group`` are filled for ``source`` pairs only: the anchor's (and the negative's) label
where the database has labels, else its source file.  The trainer
(:func:`genolm.train.contrastive.train_embedder`) does not count another row's positive or hard
negative of the anchor's own group as a negative (with a handful of genomes, a batch holds many
windows of the anchor's genome, which are not negatives).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from genolm.errors import ConfigError, InputError

PAIR_COLUMNS = (
    "anchor_id",
    "anchor_seq",
    "positive_id",
    "positive_seq",
    "negative_id",
    "negative_seq",
    "kind",
    "positive_score",
    "negative_score",
    "group",
    "negative_group",
)
PAIR_KINDS = ("locus", "mutated", "source")
DNA_BASES = "ACGT"
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"


def mutate(seq: str, n: int, rng: np.random.Generator, *, alphabet: str = "dna", indels: bool = True) -> str:
    """``seq`` with ``n`` random edits: substitutions (to another letter), and for DNA with
    ``indels`` a third of them insertions or deletions of one letter."""
    letters = AMINO_ACIDS if alphabet == "protein" else DNA_BASES
    s = list(seq)
    for _ in range(n):
        r = rng.random() if (indels and alphabet != "protein") else 0.0
        if len(s) < 2:
            break
        i = int(rng.integers(len(s)))
        if r < 2 / 3:
            s[i] = letters[(letters.find(s[i]) + 1 + int(rng.integers(len(letters) - 1))) % len(letters)]
        elif r < 5 / 6:
            s.insert(i, letters[int(rng.integers(len(letters)))])
        else:
            del s[i]
    return "".join(s)


def database_sequences(db) -> dict[str, str]:
    """``{id: sequence}`` of every item, read again from the inputs recorded in ``db``'s manifest."""
    from genolm.db.inputs import iter_items

    b = db.manifest["build"]
    runs = [([x["path"] for x in b["inputs"]], {})]
    runs += [([x["path"]], {}) for x in b.get("added", [])]
    out: dict[str, str] = {}
    for paths, _ in runs:
        missing = [p for p in paths if not Path(p).exists()]
        if missing:
            raise InputError(
                "the database's input is gone: pairs need the sequences again",
                path=missing[0],
                hint="put the file back, or pass the sequences yourself (mine_pairs(sequences=...))",
            )
        kw = {k: b.get(k) for k in ("kind", "window", "stride", "genome", "alphabet", "translate")}
        kw = {k: v for k, v in kw.items() if v is not None}
        for it in iter_items(paths, **kw):
            out[it.id] = it.seq
    return out


def mine_pairs(
    db,
    *,
    mutations: int = 0,
    locus: bool = True,
    same_source: int = 0,
    mutate_positives: int = 0,
    min_similarity: float = 0.9,
    max_negative_similarity: float = 0.999,
    candidates: int = 20,
    alphabet: str | None = None,
    max_anchors: int | None = None,
    sequences: dict[str, str] | None = None,
    embedder=None,
    seed: int = 0,
):
    """Pairs mined from the database ``db`` (a :class:`genolm.db.store.Database` or its folder).

    Parameters
    ----------
    mutations : int
        ``> 0``: one ``mutated`` pair per anchor with that many edits.  Default 0 (none).
    locus : bool
        Mine ``locus`` pairs (nearest neighbour from another source, similarity
        ``>= min_similarity``).  Default True.
    same_source : int
        ``> 0``: that many ``source`` pairs per anchor (a random non-overlapping item of the same
        source, and label where there are labels; a hard negative from another source).  Default 0.
    mutate_positives : int
        Edits applied to each ``source`` positive (``mutate``).  Default 0.
    candidates : int
        Neighbours searched per anchor for positives and negatives.  Default 20.
    alphabet : {"dna", "protein"}, optional
        What the sequences are (the mutation letters).  Default: the database's, else detected.
    max_anchors : int, optional
        Anchors drawn at random (seeded) from the database.  Default: every item.
    sequences : dict, optional
        ``{id: seq}``; default: read again from the database's inputs.
    embedder : optional
        Embeds mutated copies for their ``positive_score`` (default: the database's own embedder;
        not needed for ``locus`` pairs).

    Returns a DataFrame with :data:`PAIR_COLUMNS`, one row per pair.
    """
    import pandas as pd

    from genolm.db.store import Database, open_db

    if not isinstance(db, Database):
        db = open_db(db)
    if mutations < 0 or same_source < 0 or mutate_positives < 0:
        raise ConfigError(
            "mutations, same_source and mutate_positives must be >= 0, got "
            f"{mutations}, {same_source}, {mutate_positives}"
        )
    if not locus and mutations == 0 and same_source == 0:
        raise ConfigError(
            "nothing to mine: give mutations > 0 (--mutations N) or same_source > 0 (--same-source N), "
            "or keep locus pairs"
        )
    if db.spec.get("metric") != "cos":
        raise ConfigError(
            f"pairs need a cosine database; this one is {db.spec.get('metric')} ({db.spec['model']}): "
            "build it with tnf, kmer:K or a model"
        )
    seqs = sequences if sequences is not None else database_sequences(db)
    meta = db.metadata().set_index("key")
    keys, vecs = db.vectors()
    if len(keys) < 2:
        raise InputError("the database holds fewer than two vectors: no pairs to mine", path=str(db.folder))
    ids = meta.loc[keys, "id"].astype(str).to_numpy()
    src = meta.loc[keys, "source"].astype(str).to_numpy()
    lab = meta.loc[keys, "label"].to_numpy()
    has_labels = pd.notna(lab).any()
    contig = meta.loc[keys, "contig"].to_numpy() if "contig" in meta.columns else np.full(len(keys), None)
    start = _ints(meta, keys, "start")
    end = _ints(meta, keys, "end")
    group = np.where(pd.notna(lab), lab.astype(object), src) if has_labels else src
    members: dict = {}
    if same_source:  # candidates for a source positive: same source (and label)
        for i in range(len(keys)):
            members.setdefault((src[i], lab[i] if has_labels else None), []).append(i)
    pos_of = {int(k): i for i, k in enumerate(keys)}
    if alphabet in (None, "auto"):
        alphabet = db.manifest.get("build", {}).get("alphabet")
    if alphabet in (None, "auto"):
        alphabet = _detect(seqs)
    rng = np.random.default_rng(seed)
    anchors = np.arange(len(keys))
    if max_anchors is not None and max_anchors < len(anchors):
        anchors = np.sort(rng.choice(len(keys), max_anchors, replace=False))
    k = min(candidates + 1, len(keys))
    hits = db.engine.search(vecs[anchors], k)
    emb = None
    rows = []
    for r, a in enumerate(anchors):
        nb = [(pos_of[int(x)], float(s)) for x, s in zip(hits.keys[r], hits.scores[r]) if x >= 0]
        nb = [(j, s) for j, s in nb if j != a]

        def negative(exclude_j: set, other_source: bool = False, a=a, nb=nb):
            for j, s in nb:  # most similar first
                if j in exclude_j or s >= max_negative_similarity:
                    continue
                if other_source and src[j] == src[a]:
                    continue
                if src[j] != src[a] and s >= min_similarity:
                    continue  # the same locus in another source: a positive, never a negative
                if has_labels and pd.notna(lab[a]) and not (pd.notna(lab[j]) and lab[j] != lab[a]):
                    continue
                return j, s
            return None

        def row(pid, pseq, pscore, kind, exclude_j, a=a):
            neg = negative(exclude_j, other_source=kind == "source")
            if neg is None and kind == "source":  # none among the candidates: a random other source
                neg = _random_other(a, src, lab if has_labels else None, vecs, rng)
            if neg is None:
                return
            j, s = neg
            g = (group[a], group[j]) if kind == "source" else (None, None)
            rows.append((ids[a], seqs[ids[a]], pid, pseq, ids[j], seqs[ids[j]], kind, pscore, s, *g))

        if locus:
            pos = next(((j, s) for j, s in nb if src[j] != src[a] and s >= min_similarity), None)
            if pos is not None:
                j, s = pos
                row(ids[j], seqs[ids[j]], s, "locus", {j})
        if mutations:
            m = mutate(seqs[ids[a]], mutations, rng, alphabet=alphabet)
            row(f"{ids[a]}~mut{mutations}", m, np.nan, "mutated", set())
        if same_source:
            mem = members[(src[a], lab[a] if has_labels else None)]
            # a random draw, then the first that do not overlap the anchor (cheap on big databases)
            draw = rng.choice(mem, min(len(mem), 4 * same_source + 8), replace=False)
            picked = [int(j) for j in draw if j != a and not _overlaps(contig, start, end, a, j)]
            for j in picked[:same_source]:
                pseq, pid = seqs[ids[j]], ids[j]
                if mutate_positives:
                    pseq = mutate(pseq, mutate_positives, rng, alphabet=alphabet)
                    pid = f"{pid}~mut{mutate_positives}"
                row(pid, pseq, np.nan, "source", {j})
    df = pd.DataFrame(rows, columns=list(PAIR_COLUMNS))
    src_rows = df["kind"] == "source"
    if src_rows.any():  # the database's own similarity of anchor and positive (before any edits)
        pos_key = df.loc[src_rows, "positive_id"].str.replace(r"~mut\d+$", "", regex=True)
        row_of = {x: i for i, x in enumerate(ids)}
        ai = df.loc[src_rows, "anchor_id"].map(row_of).to_numpy()
        pi = pos_key.map(row_of).to_numpy()
        df.loc[src_rows, "positive_score"] = np.sum(_unit(vecs[ai]) * _unit(vecs[pi]), axis=1)
    mut = df["kind"] == "mutated"
    if mut.any():  # how close each mutated copy stays, by the database's own embedder
        emb = embedder if embedder is not None else db.embedder()
        a_v = emb.embed(df.loc[mut, "anchor_seq"].tolist())
        p_v = emb.embed(df.loc[mut, "positive_seq"].tolist())
        df.loc[mut, "positive_score"] = np.sum(_unit(a_v) * _unit(p_v), axis=1)
    return df


def _random_other(a: int, src, lab, vecs, rng, tries: int = 64):
    """A random item of another source (and another label, where ``lab``) than ``a``, with its
    cosine to ``a``; ``None`` when ``tries`` draws find none."""
    for j in rng.integers(0, len(src), tries):
        if src[j] != src[a] and (lab is None or not _notna(lab[a]) or (_notna(lab[j]) and lab[j] != lab[a])):
            s = float(np.dot(_unit(vecs[[a]])[0], _unit(vecs[[j]])[0]))
            return int(j), s
    return None


def _notna(x) -> bool:
    import pandas as pd

    return bool(pd.notna(x))


def _ints(meta, keys, col):
    if col not in meta.columns:
        return np.full(len(keys), -1, dtype=np.int64)
    return meta.loc[keys, col].fillna(-1).astype(np.int64).to_numpy()


def _overlaps(contig, start, end, a: int, j: int) -> bool:
    """Whether items ``a`` and ``j`` (of one source) cover the same bases: the same contig and
    intersecting ``[start, end)``; items without coordinates (table rows) never overlap."""
    if start[a] < 0 or start[j] < 0 or contig[a] != contig[j]:
        return False
    return bool(start[a] < end[j] and start[j] < end[a])


def _unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _detect(seqs: dict[str, str]) -> str:
    from genolm.db.inputs import detect_alphabet

    return detect_alphabet(list(seqs.values())[:100])


def write_pairs(df, out) -> None:
    """Write pairs as TSV (atomically; ``-`` is stdout)."""
    import sys

    if str(out) == "-":
        df.to_csv(sys.stdout, sep="\t", index=False)
        return
    from genolm.atomic import atomic_path

    with atomic_path(out) as tmp:
        df.to_csv(tmp, sep="\t", index=False)


def read_pairs(path):
    """Pairs written by :func:`write_pairs` (a DataFrame); the columns are checked."""
    import pandas as pd

    try:
        # only an empty cell is missing (a sequence may read 'NA'); blank lines are kept as rows
        # so that a row's line in the file is its index + 2
        df = pd.read_csv(
            path,
            sep="\t",
            dtype={"anchor_id": str, "positive_id": str, "negative_id": str},
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
        )
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, EOFError, zlib.error) as e:
        raise InputError(
            f"not a pairs table, or a truncated one ({type(e).__name__}: {e})",
            path=str(path),
            hint="make one with `genolm db pairs DB --out pairs.tsv`",
        ) from None
    need = ("anchor_seq", "positive_seq")
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError(
            f"not a pairs table: column(s) {missing} missing",
            path=str(path),
            hint="make one with `genolm db pairs DB --out pairs.tsv`",
        )
    lines = df.index + 2  # the header is line 1
    blank = df.isna().all(axis=1).to_numpy()
    df, lines = df[~blank].reset_index(drop=True), lines[~blank]
    if len(df) == 0:
        raise InputError("the pairs table is empty", path=str(path))
    check_pairs(df, lines=lines, path=path)
    return df


def check_pairs(df, *, lines=None, path=None) -> None:
    """Every anchor and positive is there, and every sequence is in the pairs' alphabet (detected:
    DNA or protein); an InputError naming the file, line and column of the first that is not.

    ``lines``: each row's line in ``path``; without them (a DataFrame made in Python) the error
    names the row instead."""
    from genolm.alphabet import PROTEIN_CHARS, validate
    from genolm.db.inputs import detect_alphabet

    missing = [c for c in ("anchor_seq", "positive_seq") if c not in df.columns]
    if missing:
        raise InputError(
            f"not a pairs table: column(s) {missing} missing",
            path=None if path is None else str(path),
            hint="make one with genolm.db.pairs.mine_pairs or `genolm db pairs DB --out pairs.tsv`",
        )

    def where(i: int) -> dict:
        if lines is None:
            return {"path": None if path is None else str(path), "record": f"row {i}"}
        return {"path": str(path), "line": int(lines[i])}

    cols = [c for c in ("anchor_seq", "positive_seq", "negative_seq") if c in df.columns]
    for col in cols:
        empty = df[col].isna().to_numpy()
        if col == "negative_seq" and empty.all():
            continue  # no hard negatives at all: the trainer uses in-batch negatives only
        if empty.any():
            at = where(int(empty.argmax()))
            hint = "every pair needs an anchor and a positive: fill the cell, or remove the line"
            if col == "negative_seq":
                hint = "fill the cell, remove the line, or drop the negative_seq column (no hard negatives)"
            raise InputError(f"{col} is empty", hint=hint, **at)
    protein = detect_alphabet(df["anchor_seq"].astype(str).head(100).tolist()) == "protein"
    allowed = PROTEIN_CHARS + PROTEIN_CHARS.lower() if protein else "iupac"
    for col in cols:
        for i, seq in enumerate(df[col].tolist()):
            if seq != seq:  # an empty negative_seq column
                continue
            seq = str(seq)
            try:
                validate(seq, allowed)
            except InputError as e:
                raise InputError(
                    f"invalid character {seq[e.position]!r} in {col} (a {'protein' if protein else 'DNA'} "
                    "sequence)",
                    position=e.position,
                    hint=f"{'allowed: amino acids ' + PROTEIN_CHARS if protein else e.hint}; "
                    "fix the sequence, or remove the line",
                    **where(i),
                ) from None


__all__ = [
    "PAIR_COLUMNS",
    "PAIR_KINDS",
    "mutate",
    "database_sequences",
    "mine_pairs",
    "write_pairs",
    "read_pairs",
    "check_pairs",
]
