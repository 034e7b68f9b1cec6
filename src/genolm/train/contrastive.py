"""Contrastive fine-tuning of an embedder on mined pairs (``genolm train-embedder``).

Loss: InfoNCE.  For a batch of ``B`` triples (anchor, positive, hard negative) the anchor's
pooled, L2-normalised embedding is scored (cosine / ``temperature``) against all ``B``
positives (the other rows' positives are the in-batch negatives) and, where the pairs table has
them, all ``B`` hard negatives; the target is its own positive.  The loss is symmetric (anchor ->
positive and positive -> anchor, averaged).  With Matryoshka dimensions (``matryoshka=[64,
128, 256]``) the same loss is computed on each prefix of the embedding (renormalised) and summed,
so a truncated vector stays useful.

Groups: where the pairs table has ``group`` / ``negative_group`` (``genolm db pairs
--same-source``: the anchor's label or source file), another row's positive or hard negative of
the anchor's own group is not counted as a negative (its logit is masked): with a handful of
genomes, a batch holds many windows of the anchor's genome, which are positives, not negatives
(the supervised-contrastive fix for false in-batch negatives).

A fresh model: ``model="new:FAMILY"`` (``genolm train-embedder --model new:convnova
--init-config hidden_size=128,num_hidden_layers=4``) trains a freshly initialised genolm family
(:data:`genolm.models.MODELS`: ``convnova``, ``gpn``, ``encoder``, ...) with genolm's character
tokenizer instead of fine-tuning a pretrained one; ``init_config`` are the family's config fields
(a typo gets the nearest valid key).  From scratch wants a larger ``lr`` (1e-3) with
``warmup_steps`` and the ``cosine`` schedule.  ``augment=N`` applies N random edits
(:func:`genolm.db.pairs.mutate`) to every positive on the fly, a fresh draw each step.

Pooling is ``mean`` over the non-padding tokens of the last hidden layer (or ``cls``), the same
pooling :meth:`genolm.catalogue.GenomicLM.embed` applies; the output folder records it in
``genolm_embedder.json`` and is a ``save_pretrained`` folder of the input model's family, so
``genolm.load(out)``, ``genolm db build --embedder OUT`` and ``genolm bench OUT`` use it.

Checkpoints: every ``save_every`` steps (and at the end) ``OUT/checkpoint/`` is written
atomically (a temporary folder renamed into place): weights, optimizer state, the step and the
loss history.  A run started again with the same ``out`` resumes from it (the data order is a
function of the seed and epoch, so the resumed run sees the batches it had not yet seen).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from genolm.errors import ConfigError, InputError

EMBEDDER_FILE = "genolm_embedder.json"
CHECKPOINT = "checkpoint"


@dataclass
class ContrastiveConfig:
    """How :func:`train_embedder` trains.  ``--flags`` are these field names."""

    temperature: float = 0.05
    lr: float = 5e-5
    weight_decay: float = 0.01
    batch_size: int = 32
    epochs: int = 1
    max_steps: int | None = None
    matryoshka: list[int] = field(default_factory=list)  # prefix dims; [] = the full dimension only
    hard_negatives: bool = True
    pooling: str = "mean"  # mean | cls
    max_grad_norm: float = 1.0
    save_every: int = 200
    seed: int = 0
    progress: bool = True
    schedule: str = "constant"  # constant | cosine (to 10% of lr), after linear warmup
    warmup_steps: int = 0
    augment: int = 0  # random edits applied to each positive on the fly (0: none)
    mask_same_group: bool = True  # in-batch candidates of the anchor's group are not negatives

    def __post_init__(self):
        if self.temperature <= 0 or self.lr <= 0 or self.batch_size < 2 or self.epochs < 1:
            raise ConfigError(
                "need temperature > 0, lr > 0, batch_size >= 2 (in-batch negatives) and epochs >= 1, got "
                f"{self.temperature}, {self.lr}, {self.batch_size}, {self.epochs}"
            )
        if self.pooling not in ("mean", "cls"):
            raise ConfigError(f"pooling must be mean or cls, got {self.pooling!r}")
        if self.schedule not in ("constant", "cosine"):
            raise ConfigError(f"schedule must be constant or cosine, got {self.schedule!r}")
        if self.warmup_steps < 0 or self.augment < 0:
            raise ConfigError(
                f"warmup_steps and augment must be >= 0, got {self.warmup_steps}, {self.augment}"
            )
        if any(int(d) < 1 for d in self.matryoshka):
            raise ConfigError(f"matryoshka dimensions must be positive, got {self.matryoshka}")


class ContrastiveResult(NamedTuple):
    folder: Path
    steps: int
    history: list  # per step {"step", "loss"}
    resumed_from: int


def info_nce(a, p, n=None, *, temperature: float = 0.05, dims=None, same=None, same_neg=None):
    """Symmetric InfoNCE of anchors ``a`` (B, H) against positives ``p`` (B, H), with the hard
    negatives ``n`` (B, H) as extra candidates for the anchors; summed over the prefix ``dims``
    (Matryoshka; default: the full dimension).  Inputs need not be normalised.

    ``same`` (B, B) bool: ``same[i, j]`` masks row ``j``'s positive (and anchor, backwards) out of
    anchor ``i``'s candidates (the diagonal is ignored: the target stays); ``same_neg`` (B, B)
    masks row ``j``'s hard negative likewise."""
    import torch
    import torch.nn.functional as F

    H = a.shape[1]
    dims = sorted({min(int(d), H) for d in dims}) if dims else [H]
    target = torch.arange(a.shape[0], device=a.device)
    if same is not None:
        same = same.to(a.device) & ~torch.eye(a.shape[0], dtype=torch.bool, device=a.device)
    total = a.new_zeros(())
    for d in dims:
        ad, pd = F.normalize(a[:, :d], dim=1), F.normalize(p[:, :d], dim=1)
        logits = ad @ pd.T
        back = pd @ ad.T
        if same is not None:
            logits = logits.masked_fill(same, float("-inf"))
            back = back.masked_fill(same.T, float("-inf"))
        if n is not None:
            neg = ad @ F.normalize(n[:, :d], dim=1).T
            if same_neg is not None:
                neg = neg.masked_fill(same_neg.to(a.device), float("-inf"))
            logits = torch.cat([logits, neg], dim=1)
        total = total + 0.5 * (
            F.cross_entropy(logits / temperature, target) + F.cross_entropy(back / temperature, target)
        )
    return total


def _pooled(lm, model, seqs, pooling: str, device):
    batch = lm.tokenize(list(seqs))
    ids, mask = batch.input_ids.to(device), batch.attention_mask.to(device)
    out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    hs = out.hidden_states[-1] if getattr(out, "hidden_states", None) is not None else out.last_hidden_state
    if pooling == "cls":
        return hs[:, 0]
    m = mask.unsqueeze(-1).to(hs.dtype)
    return (hs * m).sum(1) / m.sum(1).clamp(min=1.0)


def _save_model(lm, model, folder: Path, meta: dict) -> None:
    """``save_pretrained`` of weights and tokenizer into ``folder`` (written to a temporary
    sibling first and renamed into place)."""
    tmp = folder.with_name(f".{folder.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    lm.tokenizer.save_pretrained(tmp)
    (tmp / EMBEDDER_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return tmp


def _replace_dir(tmp: Path, folder: Path) -> None:
    old = folder.with_name(f".{folder.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    if old.exists():
        shutil.rmtree(old)


NEW_PREFIX = "new:"


def parse_init_config(text: str | None) -> dict:
    """``"hidden_size=128,gated=false"`` -> ``{"hidden_size": 128, "gated": False}`` (ints, floats,
    true/false; anything else stays a string)."""
    out: dict = {}
    for item in filter(None, (x.strip() for x in (text or "").split(","))):
        key, eq, val = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(
                f"--init-config {text!r}: {item!r} is not KEY=VALUE; give e.g. hidden_size=128,num_hidden_layers=4"
            )
        val = val.strip()
        if val.lower() in ("true", "false"):
            out[key.strip()] = val.lower() == "true"
            continue
        for cast in (int, float):
            try:
                out[key.strip()] = cast(val)
                break
            except ValueError:
                continue
        else:
            out[key.strip()] = val
    return out


def init_model(spec: str, folder, init_config: dict | None = None, *, seed: int = 0) -> Path:
    """Write a freshly initialised genolm model of ``spec`` (``"new:FAMILY"``) and genolm's
    character tokenizer to ``folder``, as ``genolm pretrain`` saves one, so :func:`genolm.load`
    reads it.  ``init_config``: the family's config fields.  An unknown family or key raises
    :class:`~genolm.errors.ConfigError` with the nearest valid name."""
    import torch

    from genolm.errors import UnknownNameError
    from genolm.models import MODELS, build_model
    from genolm.tokenizers import get_tokenizer

    family = spec[len(NEW_PREFIX) :] if spec.startswith(NEW_PREFIX) else spec
    try:
        MODELS.canonical(family)
    except UnknownNameError as e:
        raise ConfigError(f"--model {spec}: {e.args[0]}") from None
    tok = get_tokenizer("char")
    torch.manual_seed(seed)
    net = build_model(family, head="lm", tokenizer=tok, **(init_config or {}))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    net.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


def _group_masks(df, idx):
    """``(same, same_neg)`` (B, B) bool tensors for the rows ``idx``, or ``(None, None)`` where
    the table has no groups.  Rows without a group mask nothing."""
    import pandas as pd
    import torch

    if "group" not in df.columns:
        return None, None
    g = df["group"].to_numpy()[idx]
    ok = pd.notna(g)
    if not ok.any():
        return None, None
    g = np.where(ok, g.astype(str), "")
    same = (g[:, None] == g[None, :]) & ok[:, None] & ok[None, :]
    same_neg = None
    if "negative_group" in df.columns:
        ng = df["negative_group"].to_numpy()[idx]
        nok = pd.notna(ng)
        ng = np.where(nok, ng.astype(str), "")
        same_neg = torch.from_numpy((g[:, None] == ng[None, :]) & ok[:, None] & nok[None, :])
        # a row's own hard negative stays a candidate (it is from another group by construction)
        same_neg.fill_diagonal_(False)
    return torch.from_numpy(same), same_neg


def train_embedder(
    pairs,
    model: str,
    out,
    config: ContrastiveConfig | None = None,
    *,
    init_config: dict | None = None,
    device=None,
):
    """Fine-tune ``model`` (any name :func:`genolm.load` takes) contrastively on ``pairs``.

    Parameters
    ----------
    pairs : path or DataFrame
        A pairs table (:func:`genolm.db.pairs.mine_pairs` / ``genolm db pairs``): ``anchor_seq``,
        ``positive_seq`` and optionally ``negative_seq``.
    model : str
        The model to start from, or ``"new:FAMILY"`` for a freshly initialised genolm family
        (e.g. ``new:convnova``) with the character tokenizer.
    out : path
        The output folder: a ``save_pretrained`` model folder of the same family with
        ``genolm_embedder.json`` (pooling, Matryoshka dims, base model, loss history);
        ``out/checkpoint/`` while training (removed at the end).
    config : ContrastiveConfig, optional
    init_config : dict, optional
        Config fields of a ``new:FAMILY`` model (e.g. ``{"hidden_size": 128}``).

    Returns a :class:`ContrastiveResult`.
    """
    import torch

    from genolm.catalogue.loader import load
    from genolm.db.pairs import check_pairs, read_pairs
    from genolm.progress import progress_bar

    cfg = config or ContrastiveConfig()
    out = Path(out)
    if isinstance(pairs, (str, Path)):
        df = read_pairs(pairs)
    else:
        df = pairs
        check_pairs(df)  # read_pairs checks a file's rows; a DataFrame made in Python gets the same
    if len(df) < 2:
        raise InputError(f"{len(df)} pairs: contrastive training needs at least 2 (in-batch negatives)")
    A = df["anchor_seq"].astype(str).tolist()
    P = df["positive_seq"].astype(str).tolist()
    use_neg = cfg.hard_negatives and "negative_seq" in df.columns and df["negative_seq"].notna().all()
    N = df["negative_seq"].astype(str).tolist() if use_neg else None
    fresh = str(model).startswith(NEW_PREFIX)
    if init_config and not fresh:
        raise ConfigError(
            f"--init-config configures a fresh model; --model {model} is a trained one: "
            f"give --model new:FAMILY (e.g. new:convnova), or drop --init-config"
        )
    run_id = str(model) + (json.dumps(init_config, sort_keys=True) if init_config else "")
    ck = out / CHECKPOINT
    state = None
    if (ck / "state.pt").exists():
        state = torch.load(ck / "state.pt", weights_only=False)
        if state["model"] != run_id or state["n_pairs"] != len(df):
            raise ConfigError(
                f"{ck} is a checkpoint of another run ({state['model']}, {state['n_pairs']} pairs; now "
                f"{run_id}, {len(df)} pairs): give another --out, or delete the checkpoint"
            )
    if state:
        lm = load(str(ck), device=device)
    elif fresh:
        init = init_model(model, out.with_name(f".{out.name}.init"), init_config, seed=cfg.seed)
        lm = load(str(init), device=device)
        _ = lm.model, lm.tokenizer  # loaded lazily: read both before the folder goes
        shutil.rmtree(init)
    else:
        lm = load(model, device=device)
    net = lm.model
    dev = next(net.parameters()).device
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    bs = min(cfg.batch_size, len(df))
    per_epoch = len(df) // bs
    total = cfg.epochs * per_epoch
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)

    def lr_at(s: int) -> float:
        if s < cfg.warmup_steps:
            return cfg.lr * (s + 1) / cfg.warmup_steps
        if cfg.schedule == "constant":
            return cfg.lr
        progress = min(1.0, (s - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
        return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    alphabet = None
    if cfg.augment:
        from genolm.db.inputs import detect_alphabet
        from genolm.db.pairs import mutate

        alphabet = detect_alphabet(P[:100])
    masks = cfg.mask_same_group and "group" in df.columns
    step, history = 0, []
    if state:
        opt.load_state_dict(state["optimizer"])
        step, history = state["step"], state["history"]
    resumed_from = step
    meta = {
        "base_model": str(model),
        "init_config": dict(init_config or {}),
        "pooling": cfg.pooling,
        "matryoshka": [int(d) for d in cfg.matryoshka],
        "temperature": cfg.temperature,
        "hard_negatives": bool(use_neg),
        "n_pairs": len(df),
        "config": asdict(cfg),
    }

    def checkpoint():
        tmp = _save_model(lm, net, ck, meta)
        torch.save(
            {
                "model": run_id,
                "n_pairs": len(df),
                "step": step,
                "history": history,
                "optimizer": opt.state_dict(),
            },
            tmp / "state.pt",
        )
        _replace_dir(tmp, ck)

    bar = progress_bar(total, "train-embedder", unit="step", enabled=cfg.progress)
    if bar is not None and step:
        bar.update(step)
    torch.manual_seed(cfg.seed + step)
    t0 = time.perf_counter()
    while step < total:
        epoch, i = divmod(step, per_epoch)
        order = np.random.default_rng(cfg.seed + epoch).permutation(len(df))
        idx = order[i * bs : (i + 1) * bs]
        pos = [P[j] for j in idx]
        if cfg.augment:  # a fresh draw of edits per step (seeded by step: a resumed run sees the same)
            rng = np.random.default_rng([cfg.seed, step, 7])
            pos = [mutate(x, cfg.augment, rng, alphabet=alphabet) for x in pos]
        a = _pooled(lm, net, [A[j] for j in idx], cfg.pooling, dev)
        p = _pooled(lm, net, pos, cfg.pooling, dev)
        n = _pooled(lm, net, [N[j] for j in idx], cfg.pooling, dev) if N else None
        same, same_neg = _group_masks(df, idx) if masks else (None, None)
        loss = info_nce(
            a,
            p,
            n,
            temperature=cfg.temperature,
            dims=cfg.matryoshka or None,
            same=same,
            same_neg=same_neg if n is not None else None,
        )
        for pg in opt.param_groups:
            pg["lr"] = lr_at(step)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.max_grad_norm)
        opt.step()
        step += 1
        history.append({"step": step, "loss": float(loss.detach())})
        if bar is not None:
            bar.update(1)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
        if step % cfg.save_every == 0 and step < total:
            checkpoint()
    if bar is not None:
        bar.close()
    if not math.isfinite(history[-1]["loss"] if history else 0.0):
        raise ConfigError("the contrastive loss is not finite: lower --lr or raise --temperature")
    net.eval()
    meta["history"] = history
    meta["train_seconds"] = time.perf_counter() - t0
    tmp = _save_model(lm, net, out.with_name(out.name + ".final"), meta)
    # the final folder replaces out's model files; the checkpoint goes last
    out.mkdir(parents=True, exist_ok=True)
    for f in tmp.iterdir():
        f.replace(out / f.name)
    tmp.rmdir()
    if ck.exists():
        shutil.rmtree(ck)
    return ContrastiveResult(out, step, history, resumed_from)


def embedder_meta(folder) -> dict | None:
    """The ``genolm_embedder.json`` of a folder written by :func:`train_embedder`, else ``None``."""
    p = Path(folder) / EMBEDDER_FILE
    return json.loads(p.read_text()) if p.is_file() else None


__all__ = [
    "ContrastiveConfig",
    "ContrastiveResult",
    "NEW_PREFIX",
    "info_nce",
    "init_model",
    "parse_init_config",
    "train_embedder",
    "embedder_meta",
]
