"""A checkpoint's weights and the forward they run through: missing weights, forward contracts.

Published repositories ship modelling code that departs from the ``transformers`` contract genolm
relies on.  Two departures matter, and both are handled once, at load time, for every family:

**Missing weights.**  ``XForMaskedLM.from_pretrained`` on a checkpoint that ships only its
backbone (or lost a layer) initialises the missing tensors at random and only logs a notice.
:func:`from_pretrained` keeps the missing keys on the model (``genolm_missing_keys``);
:func:`require_weights` then refuses log-probabilities (and, for a missing backbone tensor,
embeddings) with a message naming them.  A missing tensor that the forward never touches (ESM's
contact head, absent from the Nucleotide Transformer checkpoints) does not count: which ones are
used is found by running a short probe sequence with hooks on the modules that own them.

**A forward without ``attention_mask``** (HyenaDNA: ``forward(input_ids, inputs_embeds, labels,
output_hidden_states, return_dict)``).  :func:`adapt_forward` inspects the signature once and
gives the model (and its backbone) a forward that takes ``attention_mask``: an all-ones mask is
dropped; a right-padded batch is run as length buckets with no padding (each row exactly as if it
were alone) and the outputs are put back at their rows, zeros at the padding.  The same adapter
turns a backbone's plain tuple output (DNABERT-2's ``BertModel`` returns ``(encoder_outputs,
pooled_output)``) into a ``BaseModelOutput``, and a ``hidden_states`` that is one tensor (DNABERT-2's
``MaskedLMOutput``) into a one-element tuple, so ``hidden_states[-1]`` is the last layer and not the
last row of the batch.

This module sits low in the house (it imports only :mod:`genolm.errors`): the loader
(:mod:`genolm.catalogue.loader`) records and adapts at load time, and the scorers
(:mod:`genolm.variants.scoring`) refuse through it, each importing it downward.
"""

from __future__ import annotations

import inspect
import threading
import types

from genolm.errors import ConfigError

#: model attributes set here (read with getattr: a model built elsewhere has none)
MISSING_ATTR = "genolm_missing_keys"
ADAPTED_ATTR = "genolm_forward_adapter"

#: at most this many missing keys are named in an error message
_SHOW = 8


# --- devices ---------------------------------------------------------------------------------------


def resolve_device(device, *, option: str = "device"):
    """``device`` (``None`` = cpu; a string such as ``cpu``, ``cuda``, ``cuda:1``, ``mps``; or a
    ``torch.device``) as a ``torch.device`` that this machine has.

    Raises :class:`~genolm.errors.ConfigError` naming ``option`` for a string torch does not parse
    and for a device this torch build or machine does not have, instead of an error deep in torch.
    """
    import torch

    if device is None:
        return torch.device("cpu")
    try:
        dev = device if isinstance(device, torch.device) else torch.device(str(device))
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(
            f"{option} '{device}' is not a device torch knows; use cpu, cuda, cuda:N or mps"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"{option} '{device}': this machine (or this torch build, {torch.__version__}) has no "
                "CUDA GPU; use cpu, or install a CUDA build of torch on a machine with a GPU"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(
                f"{option} '{device}': there are {torch.cuda.device_count()} CUDA device(s), "
                f"numbered 0..{torch.cuda.device_count() - 1}"
            )
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError(f"{option} '{device}': MPS (Apple GPU) is not available here; use cpu")
    elif dev.type != "cpu" and not _has_backend(torch, dev.type):
        raise ConfigError(f"{option} '{device}': this torch build has no '{dev.type}' device; use cpu")
    return dev


def _has_backend(torch, kind: str) -> bool:
    mod = getattr(torch, kind, None)  # torch.xpu, torch.mtia, ...
    available = getattr(mod, "is_available", None)
    try:
        return bool(available()) if callable(available) else False
    except Exception:  # a backend whose probe itself fails is not usable
        return False


# --- missing weights -------------------------------------------------------------------------------


def from_pretrained(cls, folder, **kwargs):
    """``cls.from_pretrained(folder, **kwargs)`` with the checkpoint's missing keys kept on the model."""
    model, info = cls.from_pretrained(str(folder), output_loading_info=True, **kwargs)
    note_missing(model, info.get("missing_keys", ()))
    return model


def note_missing(model, keys) -> None:
    """Record ``keys`` (state-dict names the checkpoint did not have) on ``model``."""
    model.__dict__[MISSING_ATTR] = tuple(sorted(set(keys)))
    model.__dict__.pop("_genolm_used_missing", None)


def missing_keys(model) -> tuple[str, ...]:
    """State-dict names that were not in the checkpoint (``()`` if none, or if not recorded)."""
    return tuple(getattr(model, MISSING_ATTR, ()) or ())


def require_weights(model, purpose: str = "log-probabilities", name: str | None = None) -> None:
    """Refuse ``purpose`` when a weight it uses was not in the checkpoint (randomly initialised).

    ``purpose``: ``"log-probabilities"`` (the full model: backbone and LM head) or ``"embeddings"``
    (the backbone only).  Raises :class:`~genolm.errors.ConfigError` naming the missing keys.
    """
    keys = missing_keys(model)
    if not keys:
        return
    used = _used_missing(model, keys, backbone=purpose == "embeddings")
    if not used:
        return
    who = f"'{name}'" if name else type(model).__name__
    shown = ", ".join(used[:_SHOW]) + (f" and {len(used) - _SHOW} more" if len(used) > _SHOW else "")
    what = "its LM head" if purpose != "embeddings" else "its backbone"
    raise ConfigError(
        f"{who}: the checkpoint has no weights for {len(used)} tensor(s) that {purpose} use ({shown}); "
        f"{what} would be random, so genolm refuses to compute {purpose} from it. Use a checkpoint that "
        "ships these weights"
        + (" (one saved with its LM head), or embed() and a probe instead" if purpose != "embeddings" else "")
    )


def _used_missing(model, keys: tuple[str, ...], *, backbone: bool) -> list[str]:
    """The missing ``keys`` whose module takes part in a forward pass (cached per model and purpose)."""
    cache = model.__dict__.setdefault("_genolm_used_missing", {})
    if backbone in cache:
        return cache[backbone]
    import torch

    root = getattr(model, "base_model", model) if backbone else model
    prefix = ""
    if root is not model:
        prefix = next((n + "." for n, m in model.named_modules() if m is root and n), "")
    owners: dict[str, list[str]] = {}  # module name (in root) -> missing keys it owns
    for k in keys:
        if prefix and not k.startswith(prefix):
            continue  # outside the backbone: not used by embeddings
        mod, _, _ = k[len(prefix) :].rpartition(".")
        owners.setdefault(mod, []).append(k)
    if not owners:
        cache[backbone] = []
        return []
    modules = dict(root.named_modules())
    called: set[str] = set()
    hooks = []
    for mod in owners:
        if mod in modules:
            hooks.append(modules[mod].register_forward_pre_hook(lambda m, a, n=mod: called.add(n)))
        else:
            called.add(mod)  # a tensor we cannot place: count it as used
    try:
        vocab = int(getattr(getattr(model, "config", None), "vocab_size", 0) or 0)
        n = min(vocab, 16) if vocab else 8
        ids = (torch.arange(8) % max(n, 1))[None]
        try:
            dev = next(root.parameters()).device
        except StopIteration:
            dev = torch.device("cpu")
        was = root.training
        root.eval()
        try:
            with torch.inference_mode():
                root(input_ids=ids.to(dev))
        finally:
            root.train(was)
    except Exception:  # a forward we cannot probe: every missing tensor counts as used
        called.update(owners)
    finally:
        for h in hooks:
            h.remove()
    used = sorted(k for mod in owners if mod in called for k in owners[mod])
    cache[backbone] = used
    return used


# --- forward contract --------------------------------------------------------------------------------


def forward_takes(module, name: str) -> bool:
    """Whether ``module.forward`` accepts the keyword ``name`` (explicitly or through ``**kwargs``)."""
    fwd = getattr(type(module), "forward", None)
    if fwd is None:
        return False
    try:
        params = inspect.signature(fwd).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def adapt_forward(model):
    """Give ``model`` and its backbone the forward contract genolm uses (see the module docstring).

    Inspects each forward signature once; modules that already follow the contract are left as
    they are.  Returns ``model`` (the same object).
    """
    seen = set()
    for mod, is_base in ((model, False), (getattr(model, "base_model", model), True)):
        if id(mod) in seen:
            continue
        seen.add(id(mod))
        takes_mask = forward_takes(mod, "attention_mask")
        mod.__dict__[ADAPTED_ATTR] = {"attention_mask": takes_mask, "backbone": is_base}
        mod.forward = types.MethodType(_adapted_forward, mod)
    return model


_DEPTH = threading.local()  # adapted forwards running now: only the outermost one adapts


def _adapted_forward(self, *args, attention_mask=None, **kwargs):
    spec = self.__dict__[ADAPTED_ATTR]
    call = type(self).forward
    depth = getattr(_DEPTH, "n", 0)
    if depth:  # called by the published parent (model -> backbone): its own contract, untouched
        if spec["attention_mask"]:
            kwargs["attention_mask"] = attention_mask
        return call(self, *args, **kwargs)
    _DEPTH.n = 1
    try:
        return _outer_forward(self, call, spec, args, attention_mask, kwargs)
    finally:
        _DEPTH.n = 0


def _outer_forward(self, call, spec, args, attention_mask, kwargs):
    import torch

    if spec["attention_mask"]:
        return _normalise(call(self, *args, attention_mask=attention_mask, **kwargs), spec["backbone"])
    if attention_mask is None or bool(attention_mask.bool().all()):
        return _normalise(call(self, *args, **kwargs), spec["backbone"])
    # a padded batch for a forward that cannot mask: each length bucket on its own, no padding
    ids = kwargs.pop("input_ids", None)
    if ids is None and args:
        ids, args = args[0], args[1:]
    if ids is None:
        raise ConfigError(
            f"{type(self).__name__}.forward takes no attention_mask: a padded batch needs input_ids"
        )
    mask = attention_mask.bool()
    lengths = mask.sum(1)
    B, T = ids.shape
    prefix = torch.arange(T, device=mask.device)[None] < lengths[:, None]
    if not bool((prefix == mask).all()):
        raise ConfigError(
            f"{type(self).__name__}.forward takes no attention_mask: genolm can run only right-padded "
            "batches through it (each row's tokens first, then padding)"
        )
    if any(isinstance(v, torch.Tensor) and v.ndim >= 2 and v.shape[:2] == (B, T) for v in kwargs.values()):
        raise ConfigError(
            f"{type(self).__name__}.forward takes no attention_mask: per-token keyword inputs "
            f"({', '.join(kwargs)}) cannot be split into unpadded buckets"
        )
    parts = []
    for L in sorted({int(x) for x in lengths.tolist()}):
        rows = torch.nonzero(lengths == L).flatten()
        out = _normalise(call(self, ids[rows, :L], *args, **kwargs), spec["backbone"])
        parts.append((rows, L, out))
    return _merge(parts, B, T)


def _normalise(out, backbone: bool):
    """A backbone's tuple output as a ``BaseModelOutput``; a one-tensor ``hidden_states`` as a tuple."""
    import torch
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    if backbone and isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        # DNABERT-2's BertModel: (last layer (B, T, H), pooled output or None)
        pooled = out[1] if len(out) > 1 and isinstance(out[1], torch.Tensor) else None
        return BaseModelOutputWithPooling(
            last_hidden_state=out[0], pooler_output=pooled, hidden_states=(out[0],)
        )
    h = getattr(out, "hidden_states", None) if not isinstance(out, (tuple, list)) else None
    if isinstance(h, torch.Tensor):
        out["hidden_states"] = (h,)
    return out


def _merge(parts, B: int, T: int):
    """Outputs of row buckets ``[(rows, L, out)]`` as one batch output of ``B`` rows, ``T`` tokens."""
    import torch

    def leaf(vals):
        x0 = vals[0][2]
        if x0 is None or not isinstance(x0, torch.Tensor) or x0.ndim == 0:
            return None  # a loss over one bucket is not the loss of the batch
        seq = all(x.ndim >= 2 and x.shape[0] == len(r) and x.shape[1] == L for r, L, x in vals)
        if seq:
            full = x0.new_zeros((B, T, *x0.shape[2:]))
            for r, L, x in vals:
                full[r.to(x.device), :L] = x
            return full
        full = x0.new_zeros((B, *x0.shape[1:]))
        for r, _, x in vals:
            full[r.to(x.device)] = x
        return full

    def merge(vals):
        x0 = vals[0][2]
        if isinstance(x0, (tuple, list)) and not hasattr(x0, "keys"):
            return type(x0)(merge([(r, L, x[i]) for r, L, x in vals]) for i in range(len(x0)))
        if hasattr(x0, "keys"):  # a ModelOutput
            return type(x0)(**{k: merge([(r, L, x[k]) for r, L, x in vals]) for k in x0.keys()})
        return leaf(vals)

    return merge(parts)
