"""Contrastive fine-tuning of an embedder on mined pairs (``genolm train-embedder``).

Loss: InfoNCE.  For a batch of ``B`` triples (anchor, positive, hard negative) the anchor's
pooled, L2-normalised embedding is scored (cosine / ``temperature``) against all ``B``
positives (the other rows' positives are the in-batch negatives) and, where the pairs table has
them, all ``B`` hard negatives; the target is its own positive.  The loss is symmetric (anchor ->
positive and positive -> anchor, averaged).  With Matryoshka dimensions (``matryoshka=[64,
128, 256]``) the same loss is computed on each prefix of the embedding (renormalised) and summed,
so a truncated vector stays useful.

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

    def __post_init__(self):
        if self.temperature <= 0 or self.lr <= 0 or self.batch_size < 2 or self.epochs < 1:
            raise ConfigError(
                "need temperature > 0, lr > 0, batch_size >= 2 (in-batch negatives) and epochs >= 1, got "
                f"{self.temperature}, {self.lr}, {self.batch_size}, {self.epochs}"
            )
        if self.pooling not in ("mean", "cls"):
            raise ConfigError(f"pooling must be mean or cls, got {self.pooling!r}")
        if any(int(d) < 1 for d in self.matryoshka):
            raise ConfigError(f"matryoshka dimensions must be positive, got {self.matryoshka}")


class ContrastiveResult(NamedTuple):
    folder: Path
    steps: int
    history: list  # per step {"step", "loss"}
    resumed_from: int


def info_nce(a, p, n=None, *, temperature: float = 0.05, dims=None):
    """Symmetric InfoNCE of anchors ``a`` (B, H) against positives ``p`` (B, H), with the hard
    negatives ``n`` (B, H) as extra candidates for the anchors; summed over the prefix ``dims``
    (Matryoshka; default: the full dimension).  Inputs need not be normalised."""
    import torch
    import torch.nn.functional as F

    H = a.shape[1]
    dims = sorted({min(int(d), H) for d in dims}) if dims else [H]
    target = torch.arange(a.shape[0], device=a.device)
    total = a.new_zeros(())
    for d in dims:
        ad, pd = F.normalize(a[:, :d], dim=1), F.normalize(p[:, :d], dim=1)
        logits = ad @ pd.T
        if n is not None:
            logits = torch.cat([logits, ad @ F.normalize(n[:, :d], dim=1).T], dim=1)
        back = pd @ ad.T
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


def train_embedder(pairs, model: str, out, config: ContrastiveConfig | None = None, *, device=None):
    """Fine-tune ``model`` (any name :func:`genolm.load` takes) contrastively on ``pairs``.

    Parameters
    ----------
    pairs : path or DataFrame
        A pairs table (:func:`genolm.db.pairs.mine_pairs` / ``genolm db pairs``): ``anchor_seq``,
        ``positive_seq`` and optionally ``negative_seq``.
    model : str
        The model to start from.
    out : path
        The output folder: a ``save_pretrained`` model folder of the same family with
        ``genolm_embedder.json`` (pooling, Matryoshka dims, base model, loss history);
        ``out/checkpoint/`` while training (removed at the end).
    config : ContrastiveConfig, optional

    Returns a :class:`ContrastiveResult`.
    """
    import torch

    from genolm.catalogue.loader import load
    from genolm.db.pairs import read_pairs
    from genolm.progress import progress_bar

    cfg = config or ContrastiveConfig()
    out = Path(out)
    df = pairs if not isinstance(pairs, (str, Path)) else read_pairs(pairs)
    if len(df) < 2:
        raise InputError(f"{len(df)} pairs: contrastive training needs at least 2 (in-batch negatives)")
    A = df["anchor_seq"].astype(str).tolist()
    P = df["positive_seq"].astype(str).tolist()
    use_neg = cfg.hard_negatives and "negative_seq" in df.columns and df["negative_seq"].notna().all()
    N = df["negative_seq"].astype(str).tolist() if use_neg else None
    ck = out / CHECKPOINT
    state = None
    if (ck / "state.pt").exists():
        state = torch.load(ck / "state.pt", weights_only=False)
        if state["model"] != str(model) or state["n_pairs"] != len(df):
            raise ConfigError(
                f"{ck} is a checkpoint of another run ({state['model']}, {state['n_pairs']} pairs; now "
                f"{model}, {len(df)} pairs): give another --out, or delete the checkpoint"
            )
    lm = load(str(ck) if state else model, device=device)
    net = lm.model
    dev = next(net.parameters()).device
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    bs = min(cfg.batch_size, len(df))
    per_epoch = len(df) // bs
    total = cfg.epochs * per_epoch
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    step, history = 0, []
    if state:
        opt.load_state_dict(state["optimizer"])
        step, history = state["step"], state["history"]
    resumed_from = step
    meta = {
        "base_model": str(model),
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
                "model": str(model),
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
        a = _pooled(lm, net, [A[j] for j in idx], cfg.pooling, dev)
        p = _pooled(lm, net, [P[j] for j in idx], cfg.pooling, dev)
        n = _pooled(lm, net, [N[j] for j in idx], cfg.pooling, dev) if N else None
        loss = info_nce(a, p, n, temperature=cfg.temperature, dims=cfg.matryoshka or None)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.max_grad_norm)
        opt.step()
        step += 1
        history.append({"step": step, "loss": float(loss)})
        if bar is not None:
            bar.update(1)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{float(loss):.4f}")
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


__all__ = ["ContrastiveConfig", "ContrastiveResult", "info_nce", "train_embedder", "embedder_meta"]
