"""What every genolm model family shares: pooling, ``embed()``, losses, the task heads, per-nucleotide mapping.

Representations used by every model (named once here):

``input_ids``
    ``LongTensor``, shape ``(B, T)``: token ids of any tokenizer.
``attention_mask``
    ``Tensor``, shape ``(B, T)``: 1 for real tokens, 0 for padding.  ``None`` means no padding.
``hidden``
    ``Tensor``, shape ``(B, T, H)``: per-token hidden states of the backbone (after its final norm).
``pooled``
    ``Tensor``, shape ``(B, H)``: one vector per sequence (:func:`pool`).
``offset_mapping``
    ``LongTensor``, shape ``(B, T, 2)``: the ``[start, end)`` nucleotide offsets of each token, as the
    tokenizers return them; special and padding tokens have ``start == end`` (usually ``(0, 0)``).

Each family file (``encoder.py``, ``gpn.py``, ...) defines its backbone ``XModel`` (whose forward
returns ``BaseModelOutput(last_hidden_state=(B, T, H), hidden_states=...)``) and its LM head; the
sequence and token classification heads are written once here and bound to a backbone by a
three-line subclass in the family file.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput, SequenceClassifierOutput, TokenClassifierOutput

from genolm.constants import IGNORE_INDEX, POOLINGS
from genolm.errors import ConfigError
from genolm.registry import check_choice


class GenolmConfig(PreTrainedConfig):
    """Fields every family's config has (each family's config subclasses this).

    Nothing here depends on a particular tokenizer: pass its ``vocab_size``, ``pad_token_id`` and
    ``mask_token_id`` (``build_model(..., tokenizer=tok)`` does it for you).
    """

    vocab_size: int = 16
    hidden_size: int = 256
    pad_token_id: int | None = 0
    mask_token_id: int | None = None
    initializer_range: float = 0.02
    tie_word_embeddings: bool = False
    classifier_pooling: str = "mean"  # "cls" | "mean" | "last" | "max", for ForSequenceClassification
    classifier_dropout: float = 0.0

    def __post_init__(self, **kwargs):
        check_choice("classifier_pooling", self.classifier_pooling, POOLINGS)
        for key in ("vocab_size", "hidden_size"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"config key '{key}' must be positive, got {getattr(self, key)}")
        super().__post_init__(**kwargs)


# --- pooling ------------------------------------------------------------------------------


def pool(
    hidden: torch.Tensor, attention_mask: torch.Tensor | None = None, pooling: str = "mean"
) -> torch.Tensor:
    """Pool per-token states ``(B, T, H)`` to ``(B, H)``, ignoring padding.

    ``"cls"`` takes the first token, ``"mean"`` averages the real tokens, ``"last"`` takes the last
    real token (right or left padding both work), ``"max"`` takes each channel's maximum over the
    real tokens (a motif or coding signal anywhere in a long sequence is not averaged away; the
    one-hot CNN baseline pools this way).  Default is ``"mean"``.
    """
    check_choice("pooling", pooling, POOLINGS)
    B, T, _ = hidden.shape
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "max":
        if attention_mask is not None:  # padding never wins the max
            pad = ~attention_mask.bool()[..., None]  # (B, T, 1)
            hidden = hidden.masked_fill(pad, torch.finfo(hidden.dtype).min)
        return hidden.amax(dim=1)
    if attention_mask is None:
        return hidden.mean(dim=1) if pooling == "mean" else hidden[:, -1]
    mask = attention_mask.to(hidden.dtype)  # (B, T)
    if pooling == "mean":
        denom = mask.sum(dim=1, keepdim=True).clamp(min=1.0)  # (B, 1)
        return torch.einsum("bth,bt->bh", hidden, mask) / denom
    # index of the last real token: argmax of position * mask works for either padding side
    last = (attention_mask.long() * torch.arange(T, device=hidden.device)).argmax(dim=1)  # (B,)
    return hidden[torch.arange(B, device=hidden.device), last]


# --- losses -------------------------------------------------------------------------------


def weighted_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean cross entropy over labels != -100, optionally weighted per token.

    logits : Tensor, shape=(N, V);  labels : LongTensor, shape=(N,);  weights : Tensor, shape=(N,)
    With weights the loss is ``sum(w * ce) / sum(w)`` over labelled tokens: GPN down-weights
    soft-masked repeats this way (weight 0.1) instead of dropping them.
    """
    logits = logits.float()  # the softmax in fp32 also under bf16 autocast
    keep = labels != IGNORE_INDEX  # (N,)
    ce = F.cross_entropy(logits, labels.masked_fill(~keep, 0), reduction="none")  # (N,)
    w = keep.to(ce.dtype) if weights is None else weights.to(ce.dtype) * keep
    # a batch without any label gives loss 0 (not NaN, which F.cross_entropy's mean would give)
    return (ce * w).sum() / w.sum().clamp(min=1e-8)


def masked_lm_select(
    hidden: torch.Tensor, labels: torch.Tensor, loss_weights: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Gather the labelled positions before the LM head: ``(B, T, H)`` -> ``(N, H)``.

    Only ~15% of MLM positions carry a label, so projecting just those to the vocabulary saves
    most of the head's work (and the ``(B, T, V)`` logits tensor).
    """
    sel = labels != IGNORE_INDEX  # (B, T)
    w = loss_weights[sel] if loss_weights is not None else None
    return hidden[sel], labels[sel], w


def causal_lm_loss(
    logits: torch.Tensor, labels: torch.Tensor, loss_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Next-token loss: logits at t predict labels at t + 1 (labels are the unshifted input ids)."""
    V = logits.shape[-1]
    shift_logits = logits[:, :-1].reshape(-1, V)  # (B*(T-1), V)
    shift_labels = labels[:, 1:].reshape(-1)
    w = loss_weights[:, 1:].reshape(-1) if loss_weights is not None else None
    return weighted_cross_entropy(shift_logits, shift_labels, w)


def sequence_classification_loss(logits: torch.Tensor, labels: torch.Tensor, config) -> torch.Tensor:
    """Loss by ``config.problem_type`` as Hugging Face does; infers (and records) it when unset."""
    if config.problem_type is None:
        if config.num_labels == 1:
            config.problem_type = "regression"
        elif labels.dtype in (torch.long, torch.int):
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    logits = logits.float()
    if config.problem_type == "regression":
        return F.mse_loss(logits.squeeze(-1), labels.float().view_as(logits.squeeze(-1)))
    if config.problem_type == "single_label_classification":
        return F.cross_entropy(logits.view(-1, config.num_labels), labels.view(-1), ignore_index=IGNORE_INDEX)
    return F.binary_cross_entropy_with_logits(logits, labels.float())


def token_classification_loss(
    logits: torch.Tensor, labels: torch.Tensor, config, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-token loss.  Classification ignores label -100; regression ignores NaN labels and padding."""
    logits = logits.float()
    if config.problem_type == "regression" or (config.problem_type is None and labels.is_floating_point()):
        y = labels.float().view_as(logits)  # (B, T, C)
        keep = ~torch.isnan(y)
        if attention_mask is not None:
            keep &= attention_mask.bool().unsqueeze(-1)
        return F.mse_loss(logits[keep], y[keep])
    if config.problem_type == "multi_label_classification":
        keep = torch.ones_like(labels, dtype=torch.bool)
        if attention_mask is not None:
            keep &= attention_mask.bool().unsqueeze(-1)
        return F.binary_cross_entropy_with_logits(logits[keep], labels.float()[keep])
    return F.cross_entropy(logits.view(-1, config.num_labels), labels.view(-1), ignore_index=IGNORE_INDEX)


# --- per-nucleotide mapping -----------------------------------------------------------------


class NucleotideValues(NamedTuple):
    """Per-nucleotide values and how many tokens covered each nucleotide (0: none, values are 0)."""

    values: torch.Tensor  # (B, N, *)
    coverage: torch.Tensor  # (B, N) long


def tokens_to_nucleotides(
    token_values: torch.Tensor, offset_mapping: torch.Tensor, *, length: int | None = None
) -> NucleotideValues:
    """Map token-level outputs to nucleotide-level outputs with the tokenizer's offsets.

    Each nucleotide gets the mean of the values of every token covering it (overlapping k-mers
    average; a BPE token spreads its value over all its bases; special tokens are skipped).

    Parameters
    ----------
    token_values : Tensor, shape=(B, T, *)
        e.g. token-classification logits ``(B, T, C)`` or per-token scores ``(B, T)``.
    offset_mapping : LongTensor, shape=(B, T, 2)
        ``[start, end)`` nucleotide offsets per token; tokens with ``end <= start`` are ignored.
    length : int, optional
        Number of nucleotides N.  Default is the largest ``end``.

    Returns
    -------
    NucleotideValues
        ``values`` shape ``(B, N, *)`` (float) and ``coverage`` shape ``(B, N)``.
    """
    B, T = token_values.shape[:2]
    extra = token_values.shape[2:]
    offs = offset_mapping.to(token_values.device).long()
    start, end = offs[..., 0], offs[..., 1]  # (B, T)
    span = (end - start).clamp(min=0)  # (B, T)
    N = int(end.max().item()) if length is None else int(length)
    K = max(int(span.max().item()), 1) if span.numel() else 1  # longest token, in nucleotides
    k = torch.arange(K, device=offs.device)
    pos = start.unsqueeze(-1) + k  # (B, T, K) nucleotide covered by the k-th base of the token
    valid = (k < span.unsqueeze(-1)) & (pos < N) & (pos >= 0)  # (B, T, K)
    flat = (torch.arange(B, device=offs.device).view(B, 1, 1) * N + pos.clamp(0, max(N - 1, 0)))[
        valid
    ]  # (M,)
    vals = token_values.float().unsqueeze(2).expand(B, T, K, *extra)[valid]  # (M, *)
    out = torch.zeros(B * N, *extra, device=token_values.device, dtype=torch.float32)
    out.index_add_(0, flat, vals)
    count = torch.zeros(B * N, device=token_values.device, dtype=torch.long)
    count.index_add_(0, flat, torch.ones_like(flat))
    denom = count.clamp(min=1).to(out.dtype).view(B * N, *([1] * len(extra)))
    return NucleotideValues((out / denom).view(B, N, *extra), count.view(B, N))


# --- the shared model base -----------------------------------------------------------------


class SelectedLogitsMixin:
    """MLM heads that can compute their logits at some positions only (variant scoring, ISM)."""

    #: whether ``logits_at`` makes use of a ``reference`` (families whose outputs see a bounded
    #: neighbourhood: the dilated CNN); the others ignore it, and callers need not build one
    uses_reference: bool = False

    def logits_at(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        select: torch.Tensor | None = None,
        reference: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """MLM logits at the True positions of bool ``select`` ``(B, T)`` (``None``: all): ``(N, V)``.

        Row-major order, equal (to float rounding) to
        ``forward(input_ids, attention_mask=attention_mask, return_full_logits=True).logits[select]``;
        each family computes only what those positions depend on (``_selected_logits``).
        :func:`genolm.variants.score_variants`, ISM and ``GenomicLM.log_probs`` use it when a model
        has it.  Meant for inference: in training mode dropout draws differ from ``forward``'s.

        ``reference``: an optional hint ``(ref_ids (R,), offsets (B,))`` long, that row b is mostly
        ``ref_ids[offsets[b] + t]`` at its position t (windows cut from one sequence, e.g. a
        masked site each).  A family with :attr:`uses_reference` then computes its bottom layers
        once along ``ref_ids`` and, per row, only where the row differs from it or an end of the
        row is in reach.  The rows are compared with ``ref_ids``, never trusted: a wrong hint costs
        time, not correctness.  Other families ignore it.
        """
        if select is None:
            select = torch.ones_like(input_ids, dtype=torch.bool)
        return self._selected_logits(input_ids, attention_mask, select, reference)

    def _selected_logits(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        select: torch.Tensor,
        reference: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        raise NotImplementedError


def select_layer(hidden_states, layer: int):
    """``hidden_states[layer]`` (the embedding output, then one entry per layer), or a
    :class:`~genolm.errors.ConfigError` that says which layers the model has."""
    n = len(hidden_states) - 1
    if not -n - 1 <= layer <= n:
        raise ConfigError(
            f"layer {layer} is out of range: this model has {n} layers; give a layer in 0..{n} "
            f"(0: the embedding output, {n}: the last layer) or -1..-{n + 1} counting from the last"
        )
    return hidden_states[layer]


class GenolmPreTrainedModel(PreTrainedModel):
    """Behaviour shared by every genolm model: ``embed()``, per-token states, pooling.

    Head classes hold their backbone at ``self.model`` (``base_model_prefix``), so a backbone
    checkpoint loads into any head of the same family and LoRA target names are the same in all heads.
    """

    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    # our forwards take no **kwargs, so the Trainer must not pass num_items_in_batch
    accepts_loss_kwargs = False
    main_input_name = "input_ids"

    def _backbone(self) -> nn.Module:
        return getattr(self, self.base_model_prefix, self)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Hugging Face's ``save_pretrained``, plus what a user without genolm needs.

        Beside the weights and ``config.json`` it writes ``modeling_genolm.py`` (generated from
        genolm's sources), an ``auto_map`` in ``config.json`` (so plain transformers loads the folder
        with ``trust_remote_code=True``) and a ``README.md`` model card when the folder has none
        (:mod:`genolm.sharing`).  ``push_to_hub`` saves through here, so it uploads them too.
        """
        out = super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            try:
                from genolm.sharing import write_model_files
            except ImportError:  # the generated modeling_genolm.py, loaded as remote code without genolm
                return out
            write_model_files(self, save_directory)
        return out

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str | None = None,
        commit_description: str | None = None,
        private: bool | None = None,
        token: bool | str | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        max_shard_size: int | str | None = "50GB",
        tags: list[str] | None = None,
    ) -> str:
        """Hugging Face's ``push_to_hub``, keeping genolm's model card.

        transformers' version writes the repo's card (or, for a new repo, a generic template)
        over the ``README.md`` that :meth:`save_pretrained` wrote.  Here a repo (at ``revision``)
        without a card gets genolm's, with its loading code pointing at ``repo_id``; a repo with
        one keeps it.  ``tags`` are added to the card's metadata either way.  A new ``revision``
        branch is created first, as transformers does.  Returns the commit URL.
        """
        import tempfile
        from pathlib import Path

        from huggingface_hub import HfApi, ModelCard, hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError

        api = HfApi(token=token)
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        if revision is not None and not revision.startswith("refs/pr"):
            try:
                api.create_branch(repo_id=repo_id, branch=revision, exist_ok=True)
            except HfHubHTTPError as e:  # a PR on someone else's repo: the branch must exist already
                if not (create_pr and e.response is not None and e.response.status_code == 403):
                    raise
        remote_card = api.file_exists(repo_id, "README.md", revision=revision)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / repo_id.split("/")[-1]  # the card's title is the folder's name
            self.save_pretrained(folder, max_shard_size=max_shard_size)
            path = folder / "README.md"
            if remote_card:  # the repo's own card at this revision stays
                card = ModelCard.load(hf_hub_download(repo_id, "README.md", revision=revision, token=token))
            elif path.is_file():  # genolm's card (the generated file without genolm writes none)
                card = ModelCard(path.read_text(encoding="utf-8").replace("path/or/hub-id", repo_id))
            else:
                card = ModelCard("---\nlibrary_name: transformers\n---\n")
            if tags:
                card.data.tags = list(dict.fromkeys([*(card.data.tags or []), *tags]))
            card.save(str(path))
            return api.upload_folder(
                repo_id=repo_id,
                folder_path=folder,
                commit_message=commit_message or "Upload model",
                commit_description=commit_description,
                revision=revision,
                create_pr=create_pr,
            )

    def _pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None, pooling: str) -> torch.Tensor:
        """Pool ``(B, T, H)`` -> ``(B, H)``.  The RC-equivariant family overrides it to be RC-invariant."""
        return pool(hidden, attention_mask, pooling)

    def token_hidden_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *, layer: int = -1
    ) -> torch.Tensor:
        """Per-token hidden states ``(B, T, H)`` of one layer (``-1``: the last, after the final norm)."""
        out = self._backbone()(input_ids, attention_mask=attention_mask, output_hidden_states=layer != -1)
        return out.last_hidden_state if layer == -1 else select_layer(out.hidden_states, layer)

    def embed(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        pooling: str = "mean",
        *,
        layer: int = -1,
    ) -> torch.Tensor:
        """One vector per sequence, shape ``(B, H)``, the same call on every family and head.

        Padding never changes a sequence's embedding.  Call it under ``torch.inference_mode()``
        with ``model.eval()`` for features; it leaves grad mode and train/eval mode to the caller.
        Default pooling is ``"mean"``; ``layer`` picks a hidden layer (``-1``: the last).
        """
        hidden = self.token_hidden_states(input_ids, attention_mask, layer=layer)
        return self._pool(hidden, attention_mask, pooling)


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype matmuls run in: the autocast dtype inside ``torch.autocast``, else ``x.dtype``.

    Attention biases and rotary tables are built once per forward in this dtype (SDPA wants a
    float mask in the dtype of q), not cast again in every layer.
    """
    dev = x.device.type
    return torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev) else x.dtype


def padding_idx(config) -> int | None:
    """``config.pad_token_id`` when it is a valid embedding row (its embedding then stays zero)."""
    pad = config.pad_token_id
    return pad if pad is not None and 0 <= pad < config.vocab_size else None


def finish_backbone_output(
    hidden: torch.Tensor, all_hidden: list[torch.Tensor] | None, return_dict: bool | None
) -> BaseModelOutput | tuple:
    out = BaseModelOutput(last_hidden_state=hidden, hidden_states=tuple(all_hidden) if all_hidden else None)
    return out if return_dict is not False else out.to_tuple()


class _GenolmClassifierHead(GenolmPreTrainedModel):
    """Backbone + dropout + linear classifier: the layout both classification heads share."""

    backbone_class: type[nn.Module]

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = self.backbone_class(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()


class GenolmForSequenceClassification(_GenolmClassifierHead):
    """Sequence classification / regression on pooled states (``config.classifier_pooling``).

    ``num_labels`` and ``problem_type`` (``"single_label_classification"``, ``"multi_label_classification"``,
    ``"regression"``) behave as in Hugging Face.  A family binds it with
    ``class XForSequenceClassification(XPreTrainedModel, GenolmForSequenceClassification): backbone_class = XModel``.
    """

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        out = self.model(input_ids, attention_mask=attention_mask, output_hidden_states=output_hidden_states)
        pooled = self._pool(out.last_hidden_state, attention_mask, self.config.classifier_pooling)  # (B, H)
        logits = self.classifier(self.dropout(pooled))  # (B, num_labels)
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        res = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
        return res if return_dict is not False else res.to_tuple()


class GenolmForTokenClassification(_GenolmClassifierHead):
    """Per-token classification (labels -100 ignored) or regression (``problem_type="regression"``).

    Map its ``(B, T, C)`` logits to nucleotides with :func:`tokens_to_nucleotides`.
    """

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> TokenClassifierOutput | tuple:
        out = self.model(input_ids, attention_mask=attention_mask, output_hidden_states=output_hidden_states)
        logits = self.classifier(self.dropout(out.last_hidden_state))  # (B, T, num_labels)
        loss = None
        if labels is not None:
            loss = token_classification_loss(logits, labels, self.config, attention_mask)
        res = TokenClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
        return res if return_dict is not False else res.to_tuple()
