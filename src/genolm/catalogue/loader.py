"""``genolm.load``: any genomic LM (catalogue name, Hub id, or folder) behind one interface.

How a reference becomes a model
-------------------------------
1. **Where**: a folder is used as it is; a catalogue name (``dnabert-6``) or Hub id
   (``InstaDeepAI/agro-nucleotide-transformer-1b``) is fetched at its pinned revision into the
   Hugging Face cache (offline: the cache only; see :mod:`genolm.catalogue.fetch`); ``genolm-tiny``
   is the bundled model.
2. **Family**: the catalogue entry's ``family``, or for a folder the one :func:`detect_family`
   reads from ``config.json``.  Each family has one adapter below (:data:`ADAPTERS`):

   ==========  ==================================================================================
   dnabert     stock ``BertForMaskedLM``; genolm's ``kmer`` tokenizer, checked against vocab.txt
   nt          stock ``EsmForMaskedLM`` (NT v1, AgroNT); genolm's ``nt6`` tokenizer, checked
   caduceus    genolm's pure-PyTorch port (:mod:`genolm.models.caduceus`); the Hub code (and
               ``mamba-ssm``) only with ``trust_remote_code=True`` and CUDA
   gpn         the ``gpn`` package's classes (``gpn.register_auto_classes``)
   enformer    ``enformer-pytorch`` (a track predictor: embeddings, no log-probabilities)
   remote      the repository's own code (DNABERT-2, NT v2, HyenaDNA, Evo): only with
               ``trust_remote_code=True``
   evo2        the ``evo2`` package on a CUDA GPU
   genolm      genolm's own families (``genolm pretrain`` output, ``genolm-tiny``)
   hf          any other ``transformers`` masked / causal LM with a stock tokenizer
   ==========  ==================================================================================

3. **Checks**: where genolm tokenizes for a published vocabulary it encodes a probe sequence
   (with N and a leftover) both ways at load time and refuses to go on if the ids differ.

Weights are read by ``transformers`` (safetensors, else ``torch.load(weights_only=True)``).
Remote code runs only when the caller passes ``trust_remote_code=True`` (``--trust-remote-code``).
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from scipy.special import logsumexp

from genolm import weights
from genolm.catalogue.entry import CATALOGUE, CatalogueEntry, find_entry
from genolm.errors import ConfigError, GenolmError, InputError, UnknownNameError
from genolm.registry import check_choice, did_you_mean

#: probe sequence for the load-time tokenization check: N, lower case, a leftover for k-mers
PROBE = "ACGTACGGTCAGTTNACGATCGATcgatTTGACAGGA"
ACGT = "ACGT"
#: how :meth:`GenomicLM.for_task` trains a model: a head on the whole model, LoRA adapters, or a
#: probe on the frozen backbone's features
MODES = ("full", "lora", "probe", "knn")
#: ``random_init`` models draw from ``RANDOM_INIT_SEED + seed``, so they never coincide with a
#: model that was itself built with ``torch.manual_seed(seed)``
RANDOM_INIT_SEED = 100_003


class UnpinnedRevisionWarning(UserWarning):
    """A catalogue entry names a branch, not a commit."""


# --- resolving a reference ----------------------------------------------------------------------


def detect_family(folder: Path) -> str:
    """The adapter for a model folder, read from its ``config.json`` (see the module docstring)."""
    cfg_path = Path(folder) / "config.json"
    if not cfg_path.is_file():
        raise InputError(
            "not a model folder: there is no config.json",
            path=str(folder),
            hint="pass a folder written by save_pretrained, a catalogue name (genolm ls models) or a Hub id",
        )
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"config.json is not valid JSON: {e}", path=str(cfg_path)) from None
    mt = str(cfg.get("model_type", ""))
    if mt.startswith("genolm-"):
        return "genolm"
    if mt == "caduceus":
        return "caduceus"
    if mt in ("GPN", "ConvNet", "GPNRoFormer", "GPNStar"):
        return "gpn"
    if mt == "enformer":
        return "enformer"
    if cfg.get("auto_map"):
        return "remote"
    vocab = Path(folder) / "vocab.txt"
    if vocab.is_file():
        toks = vocab.read_text(encoding="utf-8").split()
        if mt == "bert" and "[CLS]" in toks and len(toks) - 5 in (4**k for k in range(3, 7)):
            return "dnabert"
        if mt == "esm" and "<cls>" in toks and {"L", "E", "<null_1>"} <= set(toks):
            return "esm2"  # amino-acid letters: a protein LM (checked before NT, whose vocab has N too)
        if mt == "esm" and "<cls>" in toks and "N" in toks:
            return "nt"
    return "hf"


def resolve(
    name_or_path: str | Path, revision: str | None = None, cache_dir: str | Path | None = None
) -> tuple[CatalogueEntry | None, Path, str | None]:
    """``(entry or None, local folder, resolved revision)`` of a model reference."""
    from genolm.catalogue.fetch import fetch, resolved_commit

    p = Path(str(name_or_path)).expanduser()
    if p.is_dir():
        return None, p, None
    name = str(name_or_path)
    entry = find_entry(name)
    if entry is not None and entry.bundled:
        from genolm.data import model_path

        return entry, model_path(entry.bundled), "bundled"
    if entry is None and not _looks_like_hub_id(name):
        if p.suffix or "/" in name or name.startswith("."):
            if p.is_file():
                raise InputError(
                    "a file, not a model folder",
                    path=str(p),
                    hint="pass the folder written by save_pretrained",
                )
            raise InputError("no such model folder", path=str(p))
        raise InputError(
            f"unknown model '{name}'.{did_you_mean(name, CATALOGUE.names())}",
            hint="pass a folder written by save_pretrained, a Hub id (owner/name), or a name from "
            "`genolm ls models`",
        )
    repo = entry.hub if entry is not None else name
    rev = revision or (entry.revision if entry is not None else "main")
    if entry is not None and revision is None and not entry.pinned:
        warnings.warn(
            f"catalogue entry '{entry.name}' is not pinned to a commit (revision '{rev}'); the commit "
            "that is loaded is recorded in .revision: pass revision=<sha> to pin it",
            UnpinnedRevisionWarning,
            stacklevel=3,
        )
    try:
        folder = fetch(repo, rev, cache_dir=cache_dir)
    except InputError as e:
        if entry is None:  # "owner/name" may also have been meant as a relative folder
            raise InputError(
                f"{e.bare_message}; there is no folder '{name}' here either", hint=e.hint
            ) from None
        raise
    return entry, folder, resolved_commit(folder) or rev


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~", "/"))


# --- the uniform object -------------------------------------------------------------------------


class TokenBatch(NamedTuple):
    """Padded ids, the attention mask, and for each sequence its tokens' nucleotide spans.

    ``offsets[i]`` is ``(T_i, 2)``: ``[start, end)`` in sequence ``i`` for each token of the row,
    special tokens and padding ``(0, 0)``.
    """

    input_ids: Any  # torch.LongTensor (B, T)
    attention_mask: Any  # torch.LongTensor (B, T)
    offsets: list[np.ndarray]


class GenomicLM:
    """A loaded genomic LM: tokenize with offsets, embed, per-position log-probs, task heads.

    Build it with :func:`load`.  ``model`` is the language-model head model (``XForMaskedLM`` /
    ``XForCausalLM``) where the checkpoint has one, else the backbone; its weights are read on
    first use of ``model`` (``tokenizer``, ``objective``, ``window`` and ``context`` are read at
    load time), so :meth:`for_task`, which builds its model from :attr:`folder`, never reads the
    LM's weights it does not need.  ``objective`` is ``"mlm"``, ``"clm"``, ``"embedding"`` (a
    backbone without an LM head) or ``"tracks"`` (Enformer).  ``window`` is the training window in
    bases that a genolm folder records, else ``None``; ``context`` the model's context in tokens
    where it has one.  :meth:`for_task` gives the model to fine-tune or probe for a task.
    """

    def __init__(
        self,
        name: str,
        family: str,
        model: Any,
        tokenizer: Any,
        folder: Path,
        objective: str,  # "mlm" | "clm" | "embedding" | "tracks"
        entry: CatalogueEntry | None = None,
        revision: str | None = None,
        trust_remote_code: bool = False,
        context: int | None = None,  # tokens, special tokens included
        window: int | None = None,  # training window (bases) from pretrain.yaml / config.yaml
        *,
        read_weights: Callable[[], Any] | None = None,
        device: str | None = None,
    ):
        """``model`` is the loaded model, or ``None`` with ``read_weights`` (a function returning it,
        called on first use of :attr:`model`, which then goes to ``device``)."""
        self.name = name
        self.family = family
        self.tokenizer = tokenizer
        self.folder = Path(folder)
        self.objective = objective
        self.entry = entry
        self.revision = revision
        self.trust_remote_code = trust_remote_code
        self.context = context
        self.window = window
        self._read_weights = read_weights if model is None else None
        self._model = model
        self._device = device

    # -- basics ------------------------------------------------------------------------------

    @property
    def model(self):
        """The language model (read from :attr:`folder` on first use)."""
        if self._read_weights is not None:
            read, self._read_weights = self._read_weights, None
            model = read()
            if self._device is not None:
                model.to(self._device)
            self._model = model
        return self._model

    @model.setter
    def model(self, value) -> None:
        # e.g. None to drop the weights while a task model trains: it stays None, nothing is re-read
        self._read_weights = None
        self._model = value

    @property
    def model_loaded(self) -> bool:
        """Whether :attr:`model` holds weights now (``False`` before first use, or once dropped)."""
        return self._read_weights is None and self._model is not None

    @property
    def device(self):
        import torch

        if self._read_weights is not None:  # not read yet: where it will go
            return torch.device(self._device or "cpu")
        try:
            return next(self._model.parameters()).device
        except (StopIteration, AttributeError):  # no parameters, or the model was dropped
            return torch.device("cpu")

    def to(self, device) -> GenomicLM:
        weights.resolve_device(device)  # a device this machine has, or a clear error
        if self._read_weights is not None:
            self._device = device
        else:
            self._model.to(device)
        return self

    @property
    def pooling(self) -> str:
        if self.entry is not None:
            return self.entry.pooling
        # a folder written by `genolm train-embedder` records the pooling it was trained with
        rec = Path(self.folder) / "genolm_embedder.json" if self.folder is not None else None
        if rec is not None and rec.is_file():
            return json.loads(rec.read_text()).get("pooling", "mean")
        return "mean"

    @property
    def architecture(self) -> str:
        """genolm's model family (``encoder``, ``hyena`` ...) for a genolm model, else :attr:`family`.

        Read from the model's config: it does not read the weights."""
        if self.family != "genolm":
            return self.family
        from genolm.models import family_of

        return family_of(self._genolm_config()).name

    def _genolm_config(self):
        if self.model_loaded:
            return self._model.config
        from transformers import AutoConfig

        import genolm.models  # noqa: F401  (registers genolm's model types with AutoConfig)

        return AutoConfig.from_pretrained(str(self.folder))

    def require_log_probs(self, what: str = "this") -> None:
        """Raise :class:`~genolm.errors.ConfigError` unless the model gives nucleotide
        log-probabilities (a masked or causal LM); ``what`` names the caller in the message."""
        if self.objective not in ("mlm", "clm"):
            raise ConfigError(
                f"'{self.name}' is not a masked or causal LM ({self.objective}): {what} needs one; "
                "pick an MLM or CLM from `genolm ls models`"
            )

    def __repr__(self) -> str:
        params = (
            f"{sum(p.numel() for p in self._model.parameters()):,}"
            if self.model_loaded
            else "'not read yet'"
            if self._read_weights is not None
            else None
        )
        return (
            f"GenomicLM(name={self.name!r}, family={self.family!r}, objective={self.objective!r}, "
            f"params={params}, tokenizer={type(self.tokenizer).__name__}, revision={self.revision!r})"
        )

    # -- tokenize ----------------------------------------------------------------------------

    def tokenize(self, seqs: str | list[str], *, add_special_tokens: bool = True) -> TokenBatch:
        """Token ids (right-padded), attention mask, and nucleotide offsets of ``seqs``."""
        import torch

        from genolm.tokenizers.offsets import special_template, token_offsets

        if isinstance(seqs, str):
            seqs = [seqs]
        pre, suf = special_template(self.tokenizer) if add_special_tokens else ([], [])
        rows, offs = [], []
        for s in seqs:
            ids, off = token_offsets(self.tokenizer, s)
            rows.append(np.concatenate([np.asarray(pre, np.int64), ids, np.asarray(suf, np.int64)]))
            offs.append(
                np.concatenate([np.zeros((len(pre), 2), np.int64), off, np.zeros((len(suf), 2), np.int64)])
            )
        T = max((len(r) for r in rows), default=0)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = np.full((len(rows), T), pad, dtype=np.int64)
        am = np.zeros((len(rows), T), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            am[i, : len(r)] = 1
        return TokenBatch(torch.from_numpy(ids), torch.from_numpy(am), offs)

    # -- embed -------------------------------------------------------------------------------

    def embed(
        self,
        seqs: list[str],
        *,
        pooling: str | None = None,
        layer: int = -1,
        per_nucleotide: bool = False,
        batch_size: int = 32,
        precision: str = "auto",
        long_input: str = "error",
        progress: bool = False,
    ) -> np.ndarray:
        """Frozen features: ``(n, H)``, or ``(sum of lengths, H)`` with ``per_nucleotide=True``.

        Sequences are sorted by length and padded per batch; ``precision="auto"`` runs bf16
        autocast where the device supports it.  ``long_input``: ``"error"`` (default), or
        ``"window"`` / ``"truncate"`` for sequences longer than the model's context.  Enformer
        (no tokens) gives its trunk output per bin (128 bp in the published model) instead of per
        nucleotide.
        """
        from genolm.embed import InputPolicy, embed_sequences

        if self.family == "enformer":
            return _enformer_embed(self, seqs, per_nucleotide=per_nucleotide, batch_size=batch_size)
        if self.family == "esm2":
            _check_protein(seqs, self.name)
        weights.require_weights(self.model, "embeddings", self.name)  # no random backbone tensors
        return embed_sequences(
            self.model,
            self.tokenizer,
            list(seqs),
            policy=InputPolicy(context=self.context, long_input=long_input),
            pooling=pooling or self.pooling,
            level="nucleotide" if per_nucleotide else "sequence",
            layer=layer,
            batch_size=batch_size,
            precision=_precision(precision, self.device),
            progress=progress,
        )

    # -- log-probabilities -------------------------------------------------------------------

    def log_probs(self, seq: str, positions=None, *, batch_size: int = 64) -> np.ndarray:
        """``(n, 4)`` log-probabilities of A, C, G, T at ``positions`` of ``seq`` (default: all).

        MLM: the masked marginal (every token covering the position masked, the candidates' scores
        renormalised over the four bases and averaged over the covering tokens).  CLM: the
        next-token distribution given the bases before the position (NaN where there is no
        prediction, i.e. the first base of a model without a start token).
        """
        if self.objective not in ("mlm", "clm"):
            raise ConfigError(
                f"'{self.name}' is a {self.objective} model: it has no nucleotide log-probabilities; "
                "use embed() or its own outputs"
            )
        seq = seq.upper()
        positions = np.arange(len(seq)) if positions is None else np.asarray(positions, dtype=np.int64)
        if len(positions) and (positions.min() < 0 or positions.max() >= len(seq)):
            raise ConfigError(f"positions must be in [0, {len(seq)}) for a sequence of {len(seq)} bases")
        from genolm.infer import TokenizerView, preserve_model_state

        weights.require_weights(self.model, "log-probabilities", self.name)  # never a random LM head
        tv = TokenizerView(self.tokenizer, True)
        ids, offs = tv.encode(seq)
        with preserve_model_state(self.model) as dev:
            if self.objective == "mlm":
                return _mlm_log_probs(self, tv, seq, ids, offs, positions, batch_size, dev)
            return _clm_log_probs(self, tv, seq, ids, offs, positions, dev)

    def score_variants(self, genome, variants, **kwargs):
        """Zero-shot variant scores (:func:`genolm.variants.score_variants` with this model)."""
        from genolm.variants.scoring import score_variants

        if self.objective not in ("mlm", "clm"):
            kwargs.setdefault("method", "embedding")
        purpose = (
            "embeddings" if str(kwargs.get("method", "auto")).startswith("embedding") else "log-probabilities"
        )
        weights.require_weights(self.model, purpose, self.name)
        return score_variants(self.model, self.tokenizer, genome, variants, **kwargs)

    # -- fine-tuning ---------------------------------------------------------------------------

    def for_classification(self, num_labels: int = 2, *, task_type: str = "binary", seed: int = 0):
        """A fresh sequence-classification model on this backbone (``num_labels`` outputs)."""
        import torch
        from transformers import AutoConfig, AutoModelForSequenceClassification

        if self.family in ("enformer", "evo2"):
            raise ConfigError(
                f"'{self.name}' has no sequence-classification head in genolm: use embed() and a probe"
            )
        kw = {"trust_remote_code": True} if self.trust_remote_code else {}
        config = AutoConfig.from_pretrained(str(self.folder), **kw)
        config.num_labels = 1 if task_type == "regression" else int(num_labels)
        config.problem_type = {
            "regression": "regression",
            "multilabel": "multi_label_classification",
        }.get(task_type, "single_label_classification")
        with torch.random.fork_rng(), _quiet_hf():
            torch.manual_seed(seed)
            model = AutoModelForSequenceClassification.from_pretrained(str(self.folder), config=config, **kw)
        return model.to(self.device)

    def lora_config(self, r: int = 8, alpha: int = 16, dropout: float = 0.05, **kwargs):
        """A ``peft.LoraConfig`` targeting this model's published attention modules.

        Raises :class:`~genolm.errors.ConfigError` with what to do instead for architectures
        that cannot be LoRA'd (Caduceus, GPN, Enformer): probe or full fine-tune.
        """
        from peft import LoraConfig

        targets = self.entry.lora if self.entry is not None else _default_lora_targets(self)
        if not targets:
            note = self.entry.lora_note if self.entry is not None else "no known LoRA target modules"
            raise ConfigError(f"'{self.name}': {note}")
        return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets), **kwargs)

    def for_task(
        self,
        task,
        mode: str,
        *,
        num_labels: int | None = None,
        random_init: bool = False,
        seed: int = 0,
    ):
        """The model to train for ``task`` in ``mode`` (eval mode; train it with
        :class:`~genolm.bench.finetune.Finetuner` and :attr:`tokenizer`).

        A genolm model is read from :attr:`folder`; a published checkpoint's head model is built
        by :meth:`for_classification`, and in ``probe`` mode :attr:`model` itself is returned.  On
        a fresh :class:`GenomicLM` only the ``probe`` mode of a published checkpoint reads the LM's
        weights (:attr:`model` is read on first use), so the weights are in memory once.

        Parameters
        ----------
        task : str or Task
            A task type (``binary``, ``multiclass``, ``multilabel``, ``regression``,
            ``token_classification``) or anything with ``task_type`` (and ``labels``).
        mode : {"full", "lora", "probe"}
            ``probe`` gets the backbone (genolm models: ``AutoModel``; published checkpoints: the
            loaded model); ``full`` / ``lora`` get a sequence-classification head
            (token-classification for ``token_classification``, genolm models only).  A catalogue
            model that cannot be LoRA'd is refused in ``lora`` mode with what to do instead.
        num_labels : int, optional
            Outputs of the head.  Default is from ``task.labels``; binary always gets 2 (two
            logits and cross entropy, so class weights work as for multiclass), regression 1.
        random_init : bool
            The same architecture from its config with fresh weights (what pretraining buys),
            drawn from ``RANDOM_INIT_SEED + seed``.  Default is ``False``.
        seed : int
            Seeds the head's initialisation.  Default is 0.
        """
        check_choice("mode", mode, MODES)
        task_type = task if isinstance(task, str) else task.task_type
        if self.family == "genolm":
            model = _genolm_for_task(self.folder, task, task_type, mode, num_labels, random_init, seed)
        else:
            model = _published_for_task(self, task, task_type, mode, num_labels, random_init, seed)
        model.eval()
        return model


# --- load --------------------------------------------------------------------------------------


def load(
    name_or_path: str | Path = "genolm-tiny",
    *,
    revision: str | None = None,
    trust_remote_code: bool = False,
    device: str | None = None,
    dtype: str | None = None,
    cache_dir: str | Path | None = None,
) -> GenomicLM:
    """Load any genomic LM the same way (see the module docstring).

    Parameters
    ----------
    name_or_path : str or Path
        A catalogue name (``genolm ls models``), a Hub id, a model folder, or ``genolm-tiny``.
    revision : str, optional
        Hub revision; default is the catalogue's pinned one (``main`` for an unknown Hub id).
    trust_remote_code : bool
        Run Python code shipped in the model repository.  Default ``False``: models that need it
        are refused with a message saying so.
    device : str, optional
        Where to put the model (default ``cpu``).
    dtype : {"float32", "bfloat16", "float16"}, optional
        Weight dtype (default float32).
    cache_dir : path, optional
        Hugging Face cache folder (default: ``HF_HOME`` / ``HF_HUB_CACHE``).
    """
    if device is not None:
        weights.resolve_device(device)  # before any download: a device this machine has
    entry, folder, rev = resolve(name_or_path, revision, cache_dir)
    family = entry.family if entry is not None else detect_family(folder)
    if family not in ADAPTERS:
        raise ConfigError(f"no loader for family '{family}'.{did_you_mean(family, list(ADAPTERS))}")
    try:
        read, tok, objective, context = ADAPTERS[family](folder, entry, trust_remote_code)
    except Exception as e:
        raise unreadable_folder(folder, e) from e

    def read_weights():
        try:
            model = read()
        except Exception as e:
            raise unreadable_folder(folder, e) from e
        if dtype is not None:
            import torch

            model = model.to(getattr(torch, dtype))
        return model.eval()

    name = entry.name if entry is not None else Path(folder).name
    return GenomicLM(
        name=name,
        family=family,
        model=None,
        read_weights=read_weights,
        device=device,
        tokenizer=tok,
        folder=Path(folder),
        objective=objective,
        entry=entry,
        revision=rev,
        trust_remote_code=trust_remote_code,
        context=context,
        window=training_window(folder) if family == "genolm" else None,
    )


def unreadable_folder(folder, e: BaseException) -> BaseException:
    """The error to raise for ``e``, raised while reading the model folder ``folder``.

    genolm's own errors pass through; what transformers, safetensors or tokenizers raise about a
    broken folder (a truncated weights file, a ``config.json`` that no longer matches the weights,
    an unknown ``model_type``, missing or corrupt tokenizer files) becomes an
    :class:`~genolm.errors.InputError` naming the folder, what is wrong and how to fix it.
    """
    if isinstance(e, (GenolmError, UnknownNameError)) or not isinstance(e, Exception):
        return e
    text = str(e).strip()
    first = text.splitlines()[0] if text else type(e).__name__
    where = str(folder)
    if type(e).__name__ == "SafetensorError":
        return InputError(
            f"the weights file cannot be read, it is corrupt or truncated ({first})",
            path=where,
            hint="download the model again, or save it again with save_pretrained",
        )
    if "ignore_mismatched_sizes" in text or "size mismatch" in text:
        return InputError(
            "config.json does not match the weights: a tensor in the weights file has another shape "
            "than config.json describes (was hidden_size, vocab_size or a layer count edited?)",
            path=where,
            hint="put back the config.json that was saved with these weights",
        )
    if "model_type" in text or "does not recognize this architecture" in text:
        mt = _config_model_type(folder)
        if mt is None:
            what = "config.json has no model_type"
        else:
            what = f"config.json's model_type '{mt}' is not an architecture genolm or transformers knows"
            from genolm.models import MODELS

            known = sorted({fam.model_type for _, fam in MODELS.items()}) if mt.startswith("genolm") else []
            what += "." + did_you_mean(mt, known)
        return InputError(what, path=where, hint="put back the config.json saved with the model")
    if isinstance(e, json.JSONDecodeError):
        bad = _bad_json_file(folder)
        return InputError(
            f"{bad.name if bad else 'a JSON file'} is not valid JSON ({first})",
            path=str(bad) if bad else where,
            hint="download the model again, or save it again with save_pretrained",
        )
    if isinstance(e, (OSError, ValueError, RuntimeError, KeyError, TypeError)):
        return InputError(
            f"the model folder cannot be read: {type(e).__name__}: {first}",
            path=where,
            hint="check that it holds what save_pretrained wrote (config.json, the weights and the "
            "tokenizer files), or download it again",
        )
    return e


def _bad_json_file(folder) -> Path | None:
    """The first ``*.json`` file in ``folder`` that does not parse."""
    for f in sorted(Path(folder).glob("*.json")):
        try:
            json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return f
    return None


def _config_model_type(folder) -> str | None:
    try:
        mt = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None
    return str(mt) if mt else None


def _require_tokenizer_files(folder: Path) -> None:
    """Refuse a folder with no tokenizer files (transformers would look for them on the Hub)."""
    f = Path(folder)
    names = ("tokenizer_config.json", "tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model")
    if not any((f / n).is_file() for n in names) and not any(f.glob("*.model")):
        raise InputError(
            "no tokenizer files in the model folder (tokenizer_config.json, tokenizer.json or vocab.txt)",
            path=str(folder),
            hint="save the tokenizer beside the model (tokenizer.save_pretrained(folder)), or download the "
            "model again",
        )


def display_name(entry: CatalogueEntry | None, folder: Path) -> str:
    """A model's name in tables and records: the catalogue name, else the folder's name, with its
    parent for the generic ``final`` / ``model`` (``run1/final``)."""
    if entry is not None:
        return entry.name
    p = Path(folder)
    return p.name if p.name not in ("final", "model", "") else f"{p.parent.name}/{p.name}"


# --- family adapters -----------------------------------------------------------------------------
# (folder, entry, trust_remote_code) -> (read, tokenizer, objective, context): the tokenizer, its
# checks and the config are read now; ``read()`` reads the weights when GenomicLM.model is first used


def _reader(cls, folder: Path, *, adapt: bool = False, **kwargs) -> Callable[[], Any]:
    """A function reading ``cls``'s weights from ``folder`` (missing keys kept, see :mod:`genolm.weights`);
    ``adapt``: give it genolm's forward contract (:func:`genolm.weights.adapt_forward`)."""
    _require_weight_files(folder)

    def read():
        with _quiet_hf():
            model = weights.from_pretrained(cls, folder, **kwargs)
        return weights.adapt_forward(model) if adapt else model

    return read


def _require_weight_files(folder: Path) -> None:
    """Refuse at load time a folder without weights (they are read later, on first use)."""
    f = Path(folder)
    if not any(f.glob("*.safetensors*")) and not any(f.glob("*.bin*")):
        raise InputError(
            "no weights in the model folder (model.safetensors or pytorch_model.bin)",
            path=str(folder),
            hint="pass the folder that save_pretrained wrote (config.json beside the weights)",
        )


def _dnabert(folder: Path, entry, trust: bool):
    from transformers import BertConfig, BertForMaskedLM

    from genolm.tokenizers import KmerTokenizer

    published = _vocab_lines(folder, "DNABERT")
    k = _kmer_k(len(published) - 5, folder)
    tok = KmerTokenizer(k=k, template="cls_sep")
    _check_vocab(tok, published, folder, "DNABERT vocab.txt ([PAD] [UNK] [CLS] [SEP] [MASK], k-mers)")
    config = BertConfig.from_pretrained(str(folder))
    read = _reader(BertForMaskedLM, folder, config=config)
    tok.model_max_length = int(config.max_position_embeddings)
    _check_stock_tokenizer(tok, _stock_tokenizer(folder), folder, stock_text=tok.to_stock_text)
    return read, tok, "mlm", int(config.max_position_embeddings)


def _nt(folder: Path, entry, trust: bool):
    from transformers import EsmConfig, EsmForMaskedLM

    from genolm.tokenizers import NonOverlappingKmerTokenizer

    published = _vocab_lines(folder, "Nucleotide Transformer")
    k = _kmer_k(len(published) - 11, folder)
    layout = "nt-jax-v1" if published[-2:] == ["<eos>", "<bos>"] else "nt"
    stock = _stock_tokenizer(folder)
    # EsmTokenizer appends <eos> whenever the folder names one: follow the published files
    adds_eos = stock is not None and stock.eos_token_id is not None
    template = "cls_eos" if adds_eos and stock("ACGTAC")["input_ids"][-1] == stock.eos_token_id else "cls"
    tok = NonOverlappingKmerTokenizer(k=k, layout=layout, template=template)
    _check_vocab(tok, published, folder, "Nucleotide Transformer vocab.txt")
    config = EsmConfig.from_pretrained(str(folder))
    read = _reader(EsmForMaskedLM, folder, config=config)
    tok.model_max_length = int(config.max_position_embeddings) - 2
    _check_stock_tokenizer(tok, stock, folder, stock_text=lambda s: s.upper())
    return read, tok, "mlm", tok.model_max_length


#: the published ESM-2 vocab.txt (facebook/esm2_*), in order
ESM2_VOCAB = (
    "<cls> <pad> <eos> <unk> L A G V S E R T I D P K Q N F Y M H W C X B U Z O . - <null_1> <mask>".split()
)


def _check_protein(seqs, name: str) -> None:
    """Protein LMs read amino acids: a letter outside :data:`genolm.alphabet.PROTEIN_CHARS` is an
    error naming the sequence (a DNA string is refused rather than embedded as residues)."""
    from genolm.alphabet import PROTEIN_CHARS, looks_like_protein

    allowed = set(PROTEIN_CHARS)
    for i, s in enumerate(seqs):
        bad = set(str(s).upper()) - allowed
        if bad or (len(s) >= 20 and not looks_like_protein(s)):
            what = (
                f"letters {''.join(sorted(bad))[:10]!r} that are not amino acids"
                if bad
                else "only nucleotide letters"
            )
            raise InputError(
                f"sequence #{i} has {what}: '{name}' is a protein language model",
                hint="give amino-acid sequences (translate CDS with genolm.alphabet.translate, or "
                "`genolm db build --translate`)",
            )


def _esm2(folder: Path, entry, trust: bool):
    """ESM-2 protein LMs (``EsmForMaskedLM``, the published 33-token vocab.txt, rotary positions);
    tokenized by the folder's own ``EsmTokenizer`` (one token per residue, ``<cls>`` ... ``<eos>``)."""
    from transformers import AutoTokenizer, EsmConfig, EsmForMaskedLM

    published = _vocab_lines(folder, "ESM-2")
    if list(published) != list(ESM2_VOCAB):
        raise InputError(
            "vocab.txt is not the published ESM-2 layout (33 tokens: <cls> <pad> <eos> <unk> L A G ... <mask>)",
            path=str(Path(folder) / "vocab.txt"),
            hint="copy vocab.txt from the checkpoint's Hub repository (facebook/esm2_t6_8M_UR50D)",
        )
    config = EsmConfig.from_pretrained(str(folder))
    read = _reader(EsmForMaskedLM, folder, config=config)
    tok = AutoTokenizer.from_pretrained(str(folder))
    tok.genolm_alphabet = "protein"
    context = int(config.max_position_embeddings) - 2
    tok.model_max_length = context
    return read, tok, "mlm", context


def _genolm(folder: Path, entry, trust: bool):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    import genolm.models  # noqa: F401  (registers genolm's families with the Auto classes)
    import genolm.tokenizers  # noqa: F401
    from genolm.models import family_of

    config = AutoConfig.from_pretrained(str(folder))
    try:
        objective = family_of(config).objective
    except ConfigError:
        objective = _hf_objective(config)
    cls = AutoModelForCausalLM if objective == "clm" else AutoModelForMaskedLM
    read = _reader(cls, folder, config=config)
    _require_tokenizer_files(folder)
    tok = AutoTokenizer.from_pretrained(str(folder))
    return read, tok, objective, getattr(config, "max_position_embeddings", None)


def training_window(folder: Path) -> int | None:
    """The training window (bases) a model folder records in ``pretrain.yaml`` / ``config.yaml``."""
    import yaml

    for name in ("pretrain.yaml", "config.yaml"):
        f = Path(folder) / name
        if f.is_file():
            try:
                data = yaml.safe_load(f.read_text()) or {}
            except yaml.YAMLError:
                continue
            if isinstance(data, dict) and isinstance(data.get("window"), int):
                return int(data["window"])
    return None


def _caduceus(folder: Path, entry, trust: bool):
    from transformers import AutoModelForMaskedLM

    if trust and _cuda_and_mamba():
        read = _reader(AutoModelForMaskedLM, folder, adapt=True, trust_remote_code=True)
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=True)
    else:
        from transformers import AutoTokenizer

        from genolm.models import caduceus

        caduceus.register()
        read = _reader(AutoModelForMaskedLM, folder, trust_remote_code=False)
        # Caduceus ships its character tokenizer, PlantCaduceus GPN's fast one: the folder says which
        tok = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    ctx = entry.context if entry is not None else None
    return read, tok, "mlm", ctx


def _gpn(folder: Path, entry, trust: bool):
    try:
        import gpn
    except ImportError:
        raise ConfigError(
            "GPN checkpoints need the `gpn` package, which ships their modelling code: pip install gpn"
        ) from None
    from transformers import AutoConfig, AutoModelForMaskedLM, AutoTokenizer

    gpn.register_auto_classes("gpn")
    config = AutoConfig.from_pretrained(str(folder))
    read = _reader(AutoModelForMaskedLM, folder, config=config)
    _require_tokenizer_files(folder)
    tok = AutoTokenizer.from_pretrained(str(folder))
    ctx = entry.context if entry is not None else None
    return read, tok, "mlm", ctx


def _enformer(folder: Path, entry, trust: bool):
    try:
        from enformer_pytorch import Enformer, EnformerConfig
    except ImportError:
        raise ConfigError(
            "Enformer checkpoints need the `enformer-pytorch` package: pip install --no-deps "
            "enformer-pytorch einops polars (its pin on transformers 4.x is not needed here)"
        ) from None
    # enformer_pytorch.from_pretrained does not work with transformers 5: build the module from
    # its config and read the weights here (safetensors, else torch.load(weights_only=True))
    config = EnformerConfig.from_pretrained(str(folder))
    _require_weight_files(folder)

    def read():
        model = Enformer(config)
        model.load_state_dict(_read_state_dict(Path(folder)), strict=True)
        return model

    return read, OneHotTokenizer(), "tracks", None


def _read_state_dict(folder: Path) -> dict:
    import torch

    st = sorted(folder.glob("*.safetensors"))
    if st:
        from safetensors.torch import load_file

        sd: dict = {}
        for f in st:
            sd.update(load_file(str(f)))
        return sd
    bins = sorted(folder.glob("pytorch_model*.bin"))
    if not bins:
        raise InputError("no weights (model.safetensors or pytorch_model.bin)", path=str(folder))
    sd = {}
    for f in bins:
        sd.update(torch.load(str(f), map_location="cpu", weights_only=True))
    return sd


def _remote(folder: Path, entry, trust: bool):
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    name = entry.name if entry is not None else str(folder)
    if entry is not None and entry.gpu_only:
        _require_cuda(name)
    if not trust:
        code = sorted(p.name for p in Path(folder).glob("*.py")) or ["the repository's .py files"]
        raise ConfigError(
            f"'{name}' runs Python code from its repository ({', '.join(code)}); genolm does not run "
            "it unless you ask: read it, then pass trust_remote_code=True (CLI: --trust-remote-code)"
        )
    config = AutoConfig.from_pretrained(str(folder), trust_remote_code=True)
    auto_map = getattr(config, "auto_map", None) or {}
    objective = entry.objective if entry is not None else None
    if objective is None:
        objective = "clm" if "AutoModelForCausalLM" in auto_map else "mlm"
    cls = AutoModelForCausalLM if objective == "clm" else AutoModelForMaskedLM
    key = "AutoModelForCausalLM" if objective == "clm" else "AutoModelForMaskedLM"
    if key not in auto_map and "AutoModel" in auto_map:
        cls, objective = AutoModel, "embedding"
    # the published forward may take no attention_mask (HyenaDNA) or return plain tuples (DNABERT-2)
    read = _reader(cls, folder, adapt=True, config=config, trust_remote_code=True)
    tok = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=True)
    ctx = (
        getattr(config, "max_position_embeddings", None)
        or getattr(config, "max_seq_len", None)  # HyenaDNA's key
        or (entry.context if entry else None)
    )
    return read, tok, objective, ctx


def _evo2(folder: Path, entry, trust: bool):
    _require_cuda(entry.name if entry is not None else str(folder))
    try:
        from evo2 import Evo2  # noqa: F401
    except ImportError:
        raise ConfigError("Evo 2 needs the `evo2` package (pip install evo2) on a CUDA machine") from None
    raise ConfigError(
        "Evo 2 is loaded by its own package: `from evo2 import Evo2; Evo2('evo2_7b')`; genolm's "
        "uniform interface does not wrap it yet"
    )


def _hf_objective(config) -> str:
    """``clm`` for a causal architecture (``*CausalLM`` or ``is_decoder``), else ``mlm``."""
    archs = " ".join(getattr(config, "architectures", None) or [])
    return "clm" if "CausalLM" in archs or getattr(config, "is_decoder", False) else "mlm"


def _hf(folder: Path, entry, trust: bool):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    config = AutoConfig.from_pretrained(str(folder))
    objective = _hf_objective(config)
    cls = AutoModelForCausalLM if objective == "clm" else AutoModelForMaskedLM
    read = _reader(cls, folder, config=config)
    tok = AutoTokenizer.from_pretrained(str(folder))
    return read, tok, objective, getattr(config, "max_position_embeddings", None)


ADAPTERS: dict[str, Callable] = {
    "dnabert": _dnabert,
    "nt": _nt,
    "esm2": _esm2,
    "caduceus": _caduceus,
    "gpn": _gpn,
    "enformer": _enformer,
    "remote": _remote,
    "evo2": _evo2,
    "genolm": _genolm,
    "hf": _hf,
}


# --- task models ----------------------------------------------------------------------------------


def _num_labels(task, task_type: str, num_labels: int | None) -> int:
    if task_type == "regression":
        return 1
    if task_type == "binary":
        return 2  # two logits and cross entropy, so class weights work as for multiclass
    if num_labels is not None:
        return int(num_labels)
    labels = getattr(task, "labels", None)
    if labels:
        return len(labels)
    raise ConfigError(f"task '{getattr(task, 'name', task)}' names no labels: pass num_labels")


def _genolm_for_task(folder: Path, task, task_type: str, mode: str, num_labels, random_init: bool, seed: int):
    import torch
    from transformers import (
        AutoConfig,
        AutoModel,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
    )

    import genolm.models  # noqa: F401  (registers the families with the Auto classes)

    config = AutoConfig.from_pretrained(str(folder))
    if mode in ("probe", "knn"):  # knn: the frozen backbone, as the probe
        cls = AutoModel
    else:
        cls = (
            AutoModelForTokenClassification
            if task_type == "token_classification"
            else AutoModelForSequenceClassification
        )
        config.num_labels = _num_labels(task, task_type, num_labels)
        config.problem_type = {
            "regression": "regression",
            "multilabel": "multi_label_classification",
        }.get(task_type, "single_label_classification")
    with torch.random.fork_rng(), _quiet_hf():  # "newly initialized: classifier" is expected for a head
        torch.manual_seed(RANDOM_INIT_SEED + seed if random_init else seed)
        return cls.from_config(config) if random_init else cls.from_pretrained(str(folder), config=config)


def _published_for_task(
    lm: GenomicLM, task, task_type: str, mode: str, num_labels, random_init: bool, seed: int
):
    entry = lm.entry
    if mode == "lora" and entry is not None and not entry.lora_able:
        raise ConfigError(f"'{entry.name}' in mode lora: {entry.lora_note}")
    if mode in ("probe", "knn"):  # knn: the frozen backbone, as the probe
        model = lm.model
        if random_init:
            model = _fresh_like(model, RANDOM_INIT_SEED + seed)
    else:
        n = _num_labels(task, task_type, num_labels)
        if task_type == "token_classification":
            raise ConfigError(
                f"'{lm.name}': token classification of published checkpoints is not supported yet"
            )
        model = lm.for_classification(
            n, task_type=task_type, seed=RANDOM_INIT_SEED + seed if random_init else seed
        )
        if random_init:
            model = _fresh_like(model, RANDOM_INIT_SEED + seed)
    if entry is not None and entry.lora:
        model.genolm_lora_targets = list(entry.lora)
    return model


def _fresh_like(model, seed: int):
    """``model``'s architecture with fresh weights drawn from ``seed``, with the same forward
    contract (a published forward without ``attention_mask`` is adapted again, see
    :func:`genolm.weights.adapt_forward`)."""
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        fresh = type(model)(model.config)
    if weights.ADAPTED_ATTR in model.__dict__:
        weights.adapt_forward(fresh)
    return fresh.to(next(model.parameters()).device)


# --- tokenizer checks --------------------------------------------------------------------------


def _vocab_lines(folder: Path, what: str) -> list[str]:
    path = Path(folder) / "vocab.txt"
    if not path.is_file():
        raise InputError(f"a {what} checkpoint folder needs vocab.txt", path=str(folder))
    return [t for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]


def _kmer_k(n_kmers: int, folder: Path) -> int:
    for k in range(1, 9):
        if 4**k == n_kmers:
            return k
    raise InputError(
        f"vocab.txt does not hold 4**k k-mers (found {n_kmers} non-special tokens)",
        path=str(Path(folder) / "vocab.txt"),
    )


def _check_vocab(tok, published: list[str], folder: Path, layout: str) -> None:
    ours = [t for t, _ in sorted(tok.get_vocab().items(), key=lambda kv: kv[1])]
    if ours != published:
        i = next(
            (j for j, (a, b) in enumerate(zip(ours, published)) if a != b), min(len(ours), len(published))
        )
        raise InputError(
            f"vocab.txt is not the published {layout} layout: token {i} is "
            f"'{published[i] if i < len(published) else '<missing>'}', expected "
            f"'{ours[i] if i < len(ours) else '<missing>'}' ({len(published)} vs {len(ours)} tokens)",
            path=str(Path(folder) / "vocab.txt"),
            hint="genolm would map ids to the wrong k-mers; load this folder with family 'hf' "
            "(its own tokenizer) if the layout is deliberate",
        )


def _stock_tokenizer(folder: Path):
    """The folder's own tokenizer through ``AutoTokenizer`` (no remote code), or ``None``."""
    from transformers import AutoTokenizer

    try:
        with _quiet_hf():
            return AutoTokenizer.from_pretrained(str(folder))
    except Exception:  # no stock tokenizer files: the vocab.txt check is all there is
        return None


def _check_stock_tokenizer(tok, stock, folder: Path, stock_text: Callable[[str], str]) -> None:
    """Encode :data:`PROBE` with genolm and with the folder's stock tokenizer; they must agree."""
    if stock is None:
        return
    probe = PROBE.upper()
    ours = tok(probe)["input_ids"]
    theirs = stock(stock_text(probe))["input_ids"]
    if list(ours) != list(theirs):
        raise InputError(
            "genolm's tokenizer and the folder's own tokenizer disagree on a probe sequence: "
            f"{list(ours)[:12]}... vs {list(theirs)[:12]}...",
            path=str(folder),
            hint="report this with the folder's tokenizer_config.json; meanwhile load it with family 'hf'",
        )


# --- log-probabilities -------------------------------------------------------------------------


def _candidate_ids(tv, seq: str, t0: int, t1: int, pos: int) -> np.ndarray | None:
    """Ids of the token spanning ``[t0, t1)`` with ``seq[pos]`` set to A, C, G, T (None if any of
    them is not one token)."""
    span = seq[t0:t1]
    out = []
    for b in ACGT:
        s = span[: pos - t0] + b + span[pos - t0 + 1 :]
        ids, _ = tv.encode(s)
        if len(ids) != 1:
            return None
        out.append(int(ids[0]))
    return np.asarray(out, dtype=np.int64)


def _mlm_log_probs(lm, tv, seq, ids, offs, positions, batch_size, device) -> np.ndarray:
    from genolm.infer import Request, run_requests

    if tv.mask_id is None:
        raise ConfigError(f"'{lm.name}' has no mask token: masked log-probabilities need one")
    out = np.full((len(positions), 4), np.nan)
    reqs, owners = [], []
    for r, p in enumerate(positions):
        cover = np.flatnonzero((offs[:, 0] <= p) & (offs[:, 1] > p))
        if not len(cover):
            continue
        gather = []
        for t in cover:
            cand = _candidate_ids(tv, seq, int(offs[t, 0]), int(offs[t, 1]), int(p))
            if cand is None:
                raise ConfigError(
                    f"'{lm.name}' tokenizes so that a base change re-segments its neighbourhood (BPE): "
                    "per-position log-probabilities are not defined; score variants with window "
                    "likelihoods instead (lm.score_variants, method='pll')"
                )
            gather.append((tv.lead + int(t), cand))
        m = ids.copy()
        m[cover] = tv.mask_id
        reqs.append(Request("mlm", tv.full(m), tv.lead, len(ids), gather))
        owners.append(r)
    run_requests(lm.model, reqs, batch_size=batch_size, device=device, pad_id=tv.pad_id)
    for r, q in zip(owners, reqs):
        lp = np.stack(q.out).astype(np.float64)  # (J, 4)
        lp = lp - logsumexp(lp, axis=-1)[:, None]
        mean = lp.mean(0)
        out[r] = mean - logsumexp(mean)
    return out


def _clm_log_probs(lm, tv, seq, ids, offs, positions, device) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    if not np.all(offs[:, 1] - offs[:, 0] == 1) or len(ids) != len(seq):
        raise ConfigError(
            f"'{lm.name}' is a causal LM whose tokens are not single nucleotides: per-position "
            "log-probabilities are not defined; score variants with window likelihoods instead"
        )
    cand = []
    for b in ACGT:
        i, _ = tv.encode(b)
        cand.append(int(i[0]))
    full = tv.full(ids)
    with torch.inference_mode():
        logits = lm.model(input_ids=torch.from_numpy(full)[None].to(device)).logits[0].float()
        lp = F.log_softmax(logits, dim=-1)[:, cand].cpu().numpy().astype(np.float64)  # (T, 4)
    lp = lp - logsumexp(lp, axis=-1)[:, None]
    out = np.full((len(positions), 4), np.nan)
    for r, p in enumerate(positions):
        t = tv.lead + int(p) - 1  # logits at t predict token t + 1
        if t >= 0:
            out[r] = lp[t]
    return out


# --- Enformer ------------------------------------------------------------------------------------


class OneHotTokenizer:
    """Enformer's input: one base per position, A C G T N -> 0..4 (``enformer_pytorch`` order)."""

    pad_token_id = 4
    mask_token_id = None

    def __call__(self, seq: str):
        lut = {c: i for i, c in enumerate("ACGTN")}
        return {"input_ids": [lut.get(c, 4) for c in seq.upper()]}


def _enformer_embed(lm, seqs, *, per_nucleotide: bool, batch_size: int) -> np.ndarray:
    import torch

    lut = np.full(256, 4, dtype=np.int64)
    for i, c in enumerate("ACGT"):
        lut[ord(c)] = lut[ord(c.lower())] = i
    out = []
    with torch.inference_mode():
        for s in seqs:
            x = torch.from_numpy(lut[np.frombuffer(s.encode(), dtype=np.uint8)])[None].to(lm.device)
            h = lm.model(x, return_only_embeddings=True)[0].float()  # (bins, 3072)
            out.append(h.cpu().numpy() if per_nucleotide else h.mean(0).cpu().numpy())
    return np.concatenate(out) if per_nucleotide else np.stack(out)


# --- small helpers -------------------------------------------------------------------------------


def _precision(precision: str, device) -> str:
    from genolm.infer import resolve_precision

    return resolve_precision(precision, device)


#: LoRA targets of folders without a catalogue entry, by family (the published module names)
_FAMILY_LORA = {"dnabert": ("query", "key", "value", "dense"), "nt": ("query", "key", "value")}


def _default_lora_targets(lm) -> tuple[str, ...]:
    if lm.family in _FAMILY_LORA:
        return _FAMILY_LORA[lm.family]
    if lm.family == "genolm":
        from genolm.models import family_of

        return family_of(lm._genolm_config()).lora_target_modules
    return ()


def _cuda_and_mamba() -> bool:
    import importlib.util

    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("mamba_ssm") is not None


def _require_cuda(name: str) -> None:
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            f"'{name}' needs a CUDA GPU (its kernels have no CPU path); genolm found none. Pick a "
            "CPU-capable model from `genolm ls models`"
        )


@contextlib.contextmanager
def _quiet_hf():
    """Silence transformers' expected "newly initialized" / "unused weights" notices."""
    from transformers.utils import logging as hf_logging

    v = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(v)
        if bars:
            hf_logging.enable_progress_bar()
