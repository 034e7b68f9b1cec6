"""Pairs mined from a database (db pairs), protein inputs and CDS translation."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genolm.alphabet import STANDARD_CODE, translate
from genolm.cli.main import main
from genolm.db.embedders import AminoKmerEmbedder, make_embedder
from genolm.db.inputs import InputStats, iter_items
from genolm.db.pairs import PAIR_COLUMNS, mine_pairs, mutate, read_pairs
from genolm.db.store import build_db, open_db
from genolm.errors import InputError


def _strains(tmp_path: Path, n=12, L=400, seed=0):
    """Two 'strains': the same loci, strain B with 1 % substitutions; one FASTA each."""
    rnd = random.Random(seed)
    loci = ["".join(rnd.choice("ACGT") for _ in range(L)) for _ in range(n)]
    rng = np.random.default_rng(seed)
    a, b = tmp_path / "strainA.fa", tmp_path / "strainB.fa"
    a.write_text("".join(f">A_locus{i}\n{s}\n" for i, s in enumerate(loci)))
    b.write_text("".join(f">B_locus{i}\n{mutate(s, 4, rng, indels=False)}\n" for i, s in enumerate(loci)))
    return a, b


def test_locus_pairs_match_the_same_locus_across_sources_with_a_hard_negative(tmp_path):
    a, b = _strains(tmp_path)
    build_db(tmp_path / "db", [a, b], embedder="kmer:5", progress=False)
    df = mine_pairs(tmp_path / "db", min_similarity=0.7)
    assert list(df.columns) == list(PAIR_COLUMNS)
    loc = df[df.kind == "locus"]
    assert len(loc) == 24  # every locus, from each side
    same = loc.anchor_id.str.split("_").str[1] == loc.positive_id.str.split("_").str[1]
    assert same.all() and (loc.anchor_id.str[0] != loc.positive_id.str[0]).all()
    # the hard negative is another locus, less similar than the positive
    assert (loc.negative_id.str.split("_").str[1] != loc.anchor_id.str.split("_").str[1]).all()
    assert (loc.negative_score < loc.positive_score).all()
    seqs = dict(zip(df.anchor_id, df.anchor_seq))
    assert seqs["A_locus3"] == a.read_text().split("\n")[7]


def test_mutated_pairs_and_the_cli_write_a_tsv(tmp_path, capsys):
    a, _ = _strains(tmp_path)
    build_db(tmp_path / "db", [a], embedder="tnf", progress=False)
    out = tmp_path / "pairs.tsv"
    assert (
        main(["db", "pairs", str(tmp_path / "db"), "--mutations", "3", "--no-locus", "--out", str(out)]) == 0
    )
    df = read_pairs(out)
    assert len(df) == 12 and set(df.kind) == {"mutated"}
    assert (df.positive_id == df.anchor_id + "~mut3").all()
    for x, y in zip(df.anchor_seq, df.positive_seq):
        assert x != y and abs(len(x) - len(y)) <= 3
    assert (df.negative_id != df.anchor_id).all()  # one source: the nearest other item
    assert (df.positive_score > 0.8).all()
    with pytest.raises(Exception, match="nothing to mine"):
        mine_pairs(tmp_path / "db", locus=False)


def test_mutate_keeps_proteins_in_the_amino_acid_alphabet():
    rng = np.random.default_rng(0)
    p = "MKTAYIAKQRQISFVKSHFSRQ"
    m = mutate(p, 3, rng, alphabet="protein")
    assert len(m) == len(p) and 1 <= sum(x != y for x, y in zip(p, m)) <= 3
    assert set(m) <= set("ACDEFGHIKLMNPQRSTVWY")


def test_standard_code_and_translation():
    assert len(STANDARD_CODE) == 64 and STANDARD_CODE["ATG"] == "M" and STANDARD_CODE["TGG"] == "W"
    assert sorted(c for c, a in STANDARD_CODE.items() if a == "*") == ["TAA", "TAG", "TGA"]
    assert translate("ATGGCTTGGNNNTAA") == "MAWX*"


def test_protein_fasta_and_translated_cds_build_and_query(tmp_path):
    rnd = random.Random(1)
    aas = "ACDEFGHIKLMNPQRSTVWY"
    prots = ["M" + "".join(rnd.choice(aas) for _ in range(80)) for _ in range(6)]
    fa = tmp_path / "prot.fa"
    fa.write_text("".join(f">p{i}\n{s}\n" for i, s in enumerate(prots)))
    db = build_db(tmp_path / "pdb", [fa], embedder="aa:2", alphabet="auto", progress=False)
    assert db.n_vectors == 6
    hits = open_db(tmp_path / "pdb").query(
        list(iter_items(fa, alphabet="protein")), k=1
    )  # each protein's nearest neighbour is itself
    assert (hits["query"] == hits["id"]).all()
    # CDS: one good, one frame error, one internal stop; the policy counts them
    inv = {a: c for c, a in STANDARD_CODE.items()}
    good = "".join(inv[a] for a in prots[0]) + "TAA"
    cds = tmp_path / "cds.fa"
    cds.write_text(f">g\n{good}\n>frame\n{good[:-1]}\n>stop\nATGTAAGCT\n")
    stats = InputStats()
    items = list(iter_items(cds, translate=True, stats=stats))
    assert [(i.id, i.seq) for i in items] == [("g", prots[0])]
    assert stats.skipped == {"frame_error": 1, "internal_stop": 1} and stats.alphabet == "protein"
    bad = tmp_path / "bad.fa"
    bad.write_text(">x\nMKT1AY\n")
    with pytest.raises(InputError, match="not amino acids"):
        list(iter_items(bad, alphabet="protein"))
    # protein pairs with substitutions
    df = mine_pairs(tmp_path / "pdb", mutations=2, locus=False)
    assert len(df) == 6 and all(len(x) == len(y) for x, y in zip(df.anchor_seq, df.positive_seq))


def test_amino_kmer_embedder():
    e = make_embedder("aa:2")
    assert isinstance(e, AminoKmerEmbedder) and e.spec["dim"] == 400
    v = e.embed(["MKTAYIAKQR", "MKTAYIAKQR", "WWWWWWWWWW"])
    assert np.allclose(v[0], v[1]) and v[0] @ v[2] < 0.5


def _pairs_table(n=24, L=60, seed=0):
    rnd = random.Random(seed)
    rng = np.random.default_rng(seed)
    seqs = ["".join(rnd.choice("ACGT") for _ in range(L)) for _ in range(n + 1)]
    rows = [
        (f"a{i}", s, f"a{i}~m", mutate(s, 2, rng), f"a{(i + 1) % n}", seqs[(i + 1) % n], "mutated")
        for i, s in enumerate(seqs[:n])
    ]
    cols = ["anchor_id", "anchor_seq", "positive_id", "positive_seq", "negative_id", "negative_seq", "kind"]
    return pd.DataFrame(rows, columns=cols)


def test_info_nce_matryoshka_sums_over_prefix_dims():
    import torch

    from genolm.train.contrastive import info_nce

    torch.manual_seed(0)
    a = torch.randn(8, 32)
    one = info_nce(a, a + 0.01 * torch.randn(8, 32), temperature=0.1)
    rand = info_nce(a, torch.randn(8, 32), temperature=0.1)
    assert one < 0.05 < rand  # aligned pairs: near-zero loss; random: about log(8)
    both = info_nce(a, a, temperature=0.1, dims=[8, 32])
    assert both == pytest.approx(
        float(info_nce(a[:, :8], a[:, :8], temperature=0.1)) + float(info_nce(a, a, temperature=0.1)),
        rel=1e-5,
    )


def test_train_embedder_lowers_the_loss_resumes_and_the_folder_embeds(tmp_path, monkeypatch):
    import torch

    import genolm
    from genolm.train.contrastive import ContrastiveConfig, embedder_meta, train_embedder

    torch.manual_seed(0)
    pairs = tmp_path / "pairs.tsv"
    _pairs_table().to_csv(pairs, sep="\t", index=False)
    cfg = ContrastiveConfig(
        lr=1e-3, batch_size=8, epochs=4, matryoshka=[16], temperature=0.1, save_every=2, progress=False
    )
    out = tmp_path / "emb"
    # a run killed after step 5 leaves a checkpoint at step 4; the rerun resumes from it
    import genolm.train.contrastive as C

    real = C.info_nce
    calls = {"n": 0}

    def dying(*a, **k):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(C, "info_nce", dying)
    with pytest.raises(KeyboardInterrupt):
        train_embedder(pairs, "genolm-tiny", out, cfg)
    assert (out / "checkpoint" / "state.pt").exists()
    monkeypatch.setattr(C, "info_nce", real)
    res = train_embedder(pairs, "genolm-tiny", out, cfg)
    assert res.resumed_from == 4 and res.steps == 12 and not (out / "checkpoint").exists()
    losses = [h["loss"] for h in res.history]
    assert len(losses) == 12
    assert np.mean(losses[-3:]) < np.mean(losses[:3])  # the contrastive loss goes down
    meta = embedder_meta(out)
    assert meta["pooling"] == "mean" and meta["matryoshka"] == [16] and meta["base_model"] == "genolm-tiny"
    lm = genolm.load(str(out))
    assert lm.pooling == "mean"
    v = lm.embed(["ACGTACGTAC", "TTTTGGGGCC"])
    assert v.shape[0] == 2 and np.isfinite(v).all()
    # the trained folder builds a database
    fa = tmp_path / "x.fa"
    fa.write_text(">r1\nACGTACGTACGTAAAC\n>r2\nTTTTGGGGCCCCAATG\n")
    assert build_db(tmp_path / "db", [fa], embedder=str(out), progress=False).n_vectors == 2
    assert (
        main(
            [
                "train-embedder",
                str(pairs),
                "--model",
                "genolm-tiny",
                "--out",
                str(tmp_path / "e2"),
                "--max-steps",
                "1",
                "--batch-size",
                "4",
                "--matryoshka",
                "8,16",
            ]
        )
        == 0
    )


def test_read_pairs_names_the_file_of_an_empty_or_binary_table(tmp_path):
    # guards "cannot read a table" without the file's name (train-embedder given an empty file)
    from genolm.errors import InputError

    empty = tmp_path / "pairs.tsv"
    empty.write_text("")
    with pytest.raises(InputError, match=r"pairs\.tsv.*not a pairs table"):
        read_pairs(empty)


def _genomes(tmp_path: Path, L=6000, seed=1):
    """Two 'genomes' of distinct composition (GC-rich and AT-rich), one FASTA each."""
    rng = np.random.default_rng(seed)
    out = []
    for name, p in (("gc", [0.15, 0.35, 0.35, 0.15]), ("at", [0.35, 0.15, 0.15, 0.35])):
        f = tmp_path / f"{name}.fa"
        seq = "".join(rng.choice(list("ACGT"), L, p=p))
        f.write_text(f">{name}_chr\n{seq}\n")
        out.append(f)
    return out


def test_source_pairs_take_a_non_overlapping_window_of_the_same_file_and_a_negative_from_another(tmp_path):
    gc, at = _genomes(tmp_path)
    build_db(tmp_path / "db", [gc, at], embedder="tnf", window=500, stride=250, progress=False)
    db = open_db(tmp_path / "db")
    meta = db.metadata().set_index("id")
    df = mine_pairs(db, locus=False, same_source=2, mutate_positives=5, seed=0)
    assert list(df.columns) == list(PAIR_COLUMNS)
    assert set(df.kind) == {"source"} and len(df) == 2 * len(meta)  # two per anchor
    pos = df.positive_id.str.replace(r"~mut5$", "", regex=True)
    assert (df.positive_id.str.endswith("~mut5")).all()
    a_m, p_m, n_m = meta.loc[df.anchor_id], meta.loc[pos], meta.loc[df.negative_id]
    assert (a_m.source.to_numpy() == p_m.source.to_numpy()).all()  # the same file
    assert (a_m.source.to_numpy() != n_m.source.to_numpy()).all()  # the negative: the other file
    # never an overlapping window (stride 250 < window 500: neighbours overlap)
    apart = (a_m.start.to_numpy() >= p_m.end.to_numpy()) | (p_m.start.to_numpy() >= a_m.end.to_numpy())
    assert apart.all()
    # the positive is the window with 5 edits; the groups are the source files
    seqs = {i: s for i, s in zip(df.anchor_id, df.anchor_seq)}
    assert all(x != seqs[p] and abs(len(x) - len(seqs[p])) <= 5 for x, p in zip(df.positive_seq, pos))
    assert (df.group == a_m.source.to_numpy()).all() and (df.negative_group != df.group).all()
    assert df.positive_score.notna().all()
    # the CLI flags
    out = tmp_path / "pairs.tsv"
    args = ["db", "pairs", str(tmp_path / "db"), "--no-locus", "--same-source", "1", "--out", str(out)]
    assert main(args) == 0
    t = read_pairs(out)
    assert len(t) == len(meta) and set(t.kind) == {"source"} and not t.positive_id.str.contains("~").any()
    with pytest.raises(Exception, match="must be >= 0"):
        mine_pairs(db, same_source=-1)


def test_info_nce_group_masks_drop_same_group_candidates_but_keep_the_target():
    import torch

    from genolm.train.contrastive import info_nce

    # rows 0 and 1 are one group with identical embeddings: unmasked, each is as close to the
    # other's positive as to its own (loss ~ log 2); masked, the other is no negative (loss ~ 0)
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    same = torch.tensor([[True, True, False], [True, True, False], [False, False, True]])
    plain = float(info_nce(a, a, temperature=0.01))
    masked = float(info_nce(a, a, temperature=0.01, same=same))
    assert plain > 0.4 and masked < 1e-3
    # a row's hard negative of the anchor's group is masked too
    n = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, -1.0]])  # row 1's negative equals the anchors
    sn = torch.zeros(3, 3, dtype=torch.bool)
    sn[0, 1] = True
    hit = float(info_nce(a, a, n, temperature=0.01, same=same))
    assert hit > 0.2 and float(info_nce(a, a, n, temperature=0.01, same=same, same_neg=sn | sn.T)) < hit


def test_train_embedder_from_a_fresh_convnova_with_groups_schedule_and_augment(tmp_path):
    import genolm
    from genolm.errors import ConfigError
    from genolm.train.contrastive import ContrastiveConfig, embedder_meta, parse_init_config, train_embedder

    df = _pairs_table()
    df["group"] = [f"g{i % 3}" for i in range(len(df))]
    df["negative_group"] = [f"g{(i + 1) % 3}" for i in range(len(df))]
    cfg = ContrastiveConfig(
        lr=3e-3, batch_size=8, epochs=6, temperature=0.1, progress=False,
        schedule="cosine", warmup_steps=2, augment=2,
    )  # fmt: skip
    init = parse_init_config("hidden_size=16,num_hidden_layers=2,gated=true")
    assert init == {"hidden_size": 16, "num_hidden_layers": 2, "gated": True}
    out = tmp_path / "conv"
    res = train_embedder(df, "new:convnova", out, cfg, init_config=init)
    losses = [h["loss"] for h in res.history]
    assert res.steps == 18 and np.mean(losses[-4:]) < np.mean(losses[:4])
    meta = embedder_meta(out)
    assert meta["base_model"] == "new:convnova" and meta["init_config"] == init
    assert not (tmp_path / ".conv.init").exists()
    lm = genolm.load(str(out))
    assert lm.model.config.hidden_size == 16 and lm.model.config.model_type == "genolm-convnova"
    fa = tmp_path / "x.fa"
    fa.write_text(">r1\nACGTACGTACGTAAAC\n>r2\nTTTTGGGGCCCCAATG\n")
    assert build_db(tmp_path / "db", [fa], embedder=str(out), progress=False).n_vectors == 2
    # a typo in the family or a config key names the nearest valid one
    with pytest.raises(ConfigError, match="convnova"):
        train_embedder(df, "new:convnva", tmp_path / "x", cfg)
    with pytest.raises(ConfigError, match="hidden_size"):
        train_embedder(df, "new:convnova", tmp_path / "y", cfg, init_config={"hiden_size": 16})
    with pytest.raises(ConfigError, match="new:FAMILY"):
        train_embedder(df, "genolm-tiny", tmp_path / "z", cfg, init_config={"hidden_size": 16})
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_init_config("hidden_size")
    # the CLI
    pairs = tmp_path / "pairs.tsv"
    df.to_csv(pairs, sep="\t", index=False)
    args = [
        "train-embedder",
        str(pairs),
        "--model",
        "new:gpn",
        "--init-config",
        "hidden_size=16,num_hidden_layers=1",
    ]
    args += ["--out", str(tmp_path / "g"), "--max-steps", "2", "--batch-size", "4", "--lr", "1e-3"]
    assert main(args + ["--schedule", "cosine", "--warmup-steps", "1", "--augment", "1"]) == 0
    assert genolm.load(str(tmp_path / "g")).model.config.hidden_size == 16
