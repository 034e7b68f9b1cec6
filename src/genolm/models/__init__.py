"""Native genolm model families, all Hugging Face ``PreTrainedModel`` s.

=================  ====================  ==========  =====================================================
family             model_type            objective   file
=================  ====================  ==========  =====================================================
``encoder``        genolm-encoder        mlm         encoder.py: transformer (learned/RoPE/ALiBi, GELU/SwiGLU, pre/post-LN)
``gpn``            genolm-gpn            mlm         gpn.py: dilated CNN (GPN)
``gpn-rc``         genolm-gpn-rc         mlm         gpn_rc.py: RC-equivariant dilated CNN (GPN + Caduceus RCPS)
``convnova``       genolm-convnova       mlm         convnova.py: gated dilated dual-branch CNN (ConvNova)
``convnova-rc``    genolm-convnova-rc    mlm         convnova.py: the same, RC-equivariant (RCPS)
``hyena``          genolm-hyena          clm         hyena.py: implicit long convolutions (HyenaDNA)
``decoder``        genolm-decoder        clm         decoder.py: causal transformer (GPT / Evo-style baseline)
=================  ====================  ==========  =====================================================

Every family has ``XConfig``, ``XModel`` (backbone), ``XForMaskedLM`` or ``XForCausalLM``,
``XForSequenceClassification`` and ``XForTokenClassification``.  ``import genolm`` registers them
with ``AutoConfig`` / ``AutoModel*`` (lazily, :mod:`genolm.auto`), so ``save_pretrained`` /
``from_pretrained`` work with the Auto classes::

    import genolm
    from transformers import AutoModelForMaskedLM
    model = AutoModelForMaskedLM.from_pretrained("runs/encoder-small")

Saved folders also carry ``modeling_genolm.py``, an ``auto_map`` and a model card
(:mod:`genolm.sharing`), so users without genolm load them with ``trust_remote_code=True``.

Build one from a family name (unknown config keys raise ConfigError with "did you mean")::

    model = build_model("encoder", head="lm", hidden_size=256, num_hidden_layers=4, tokenizer=tok)
    emb = model.embed(input_ids, attention_mask, pooling="mean")  # (B, H), on every model
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    PreTrainedConfig,
    PreTrainedModel,
)

from genolm.errors import ConfigError
from genolm.models import convnova, decoder, encoder, gpn, gpn_rc, hyena
from genolm.models.base import (
    POOLINGS,
    GenolmConfig,
    GenolmPreTrainedModel,
    NucleotideValues,
    pool,
    tokens_to_nucleotides,
)
from genolm.models.convnova import (
    GenolmConvNovaConfig,
    GenolmConvNovaForMaskedLM,
    GenolmConvNovaForSequenceClassification,
    GenolmConvNovaForTokenClassification,
    GenolmConvNovaModel,
    GenolmConvNovaRCConfig,
    GenolmConvNovaRCForMaskedLM,
    GenolmConvNovaRCForSequenceClassification,
    GenolmConvNovaRCForTokenClassification,
    GenolmConvNovaRCModel,
)
from genolm.models.decoder import (
    GenolmDecoderConfig,
    GenolmDecoderForCausalLM,
    GenolmDecoderForSequenceClassification,
    GenolmDecoderForTokenClassification,
    GenolmDecoderModel,
)
from genolm.models.encoder import (
    GenolmEncoderConfig,
    GenolmEncoderForMaskedLM,
    GenolmEncoderForSequenceClassification,
    GenolmEncoderForTokenClassification,
    GenolmEncoderModel,
)
from genolm.models.gpn import (
    GenolmGPNConfig,
    GenolmGPNForMaskedLM,
    GenolmGPNForSequenceClassification,
    GenolmGPNForTokenClassification,
    GenolmGPNModel,
)
from genolm.models.gpn_rc import (
    GenolmGPNRCConfig,
    GenolmGPNRCForMaskedLM,
    GenolmGPNRCForSequenceClassification,
    GenolmGPNRCForTokenClassification,
    GenolmGPNRCModel,
)
from genolm.models.hyena import (
    GenolmHyenaConfig,
    GenolmHyenaForCausalLM,
    GenolmHyenaForSequenceClassification,
    GenolmHyenaForTokenClassification,
    GenolmHyenaModel,
)
from genolm.registry import Registry, did_you_mean

#: head name -> what it is; ``build_model(..., head=...)`` takes these (and the aliases below)
HEADS = ("base", "lm", "sequence-classification", "token-classification")
HEAD_ALIASES = {
    "model": "base",
    "backbone": "base",
    "mlm": "lm",
    "clm": "lm",
    "seq-cls": "sequence-classification",
    "sequence": "sequence-classification",
    "regression": "sequence-classification",
    "token": "token-classification",
    "tok-cls": "token-classification",
}


@dataclass(frozen=True)
class ModelFamily:
    """What the rest of genolm needs to know about a family.

    ``heads`` maps :data:`HEADS` to classes.  ``lora_target_modules`` are module-name suffixes for
    ``peft.LoraConfig(target_modules=...)``; ``lora_modules_to_save`` are the task heads a LoRA
    fine-tune trains in full.
    """

    name: str
    config_class: type[GenolmConfig]
    objective: str  # "mlm" | "clm"
    heads: dict[str, type[PreTrainedModel]]
    lora_target_modules: tuple[str, ...]
    lora_modules_to_save: tuple[str, ...] = ("classifier",)
    description: str = ""
    invariants: tuple[str, ...] = field(default=())  # e.g. ("rc-equivariant",)

    @property
    def model_type(self) -> str:
        return self.config_class.model_type

    @property
    def config_keys(self) -> list[str]:
        """Every key ``build_model`` accepts for this family."""
        return sorted({f.name for f in dataclasses.fields(self.config_class)} | {"num_labels"})

    def head_class(self, head: str = "lm") -> type[PreTrainedModel]:
        name = HEAD_ALIASES.get(head, head)
        if name not in self.heads:
            raise ConfigError(
                f"unknown head '{head}' for model family '{self.name}'.{did_you_mean(head, list(HEADS))} "
                f"Heads: {', '.join(HEADS)}."
            )
        return self.heads[name]

    def make_config(self, tokenizer=None, **config_kwargs) -> GenolmConfig:
        """Config from kwargs (checked: unknown keys raise ConfigError) and optionally a tokenizer."""
        valid = self.config_keys
        for key in config_kwargs:
            if key not in valid:
                raise ConfigError(
                    f"unknown config key '{key}' for model family '{self.name}'.{did_you_mean(key, valid)} "
                    f"Valid keys: {', '.join(self._own_keys())}."
                )
        self._check_types(config_kwargs)
        kwargs = {
            **(config_from_tokenizer(tokenizer, self) if tokenizer is not None else {}),
            **config_kwargs,
        }
        return self.config_class(**kwargs)

    def _check_types(self, config_kwargs: dict) -> None:
        """A ConfigError for a value of the wrong kind where the config field is a plain int,
        float or bool (``hidden_size: abc`` would fail deep in torch)."""
        # the annotation's name ("int", or int itself): transformers' own annotations name torch,
        # which typing.get_type_hints cannot resolve here
        kinds = {f.name: f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "") for f in
                 dataclasses.fields(self.config_class)}  # fmt: skip
        for key, value in config_kwargs.items():
            tp = kinds.get(key)
            if tp == "bool":
                ok, what = isinstance(value, bool) or value in (0, 1), "true or false"
            elif tp == "int":
                ok, what = (
                    isinstance(value, numbers.Integral) and not isinstance(value, bool),
                    "a whole number",
                )
            elif tp == "float":
                ok, what = isinstance(value, numbers.Real) and not isinstance(value, bool), "a number"
            else:
                continue
            if not ok:
                raise ConfigError(
                    f"model config '{key}' of family '{self.name}' must be {what}, got {value!r}"
                )

    def _own_keys(self) -> list[str]:
        """The family's keys without Hugging Face's generic ones (for the error message)."""
        generic = {f.name for f in dataclasses.fields(PreTrainedConfig)}
        own = {f.name for f in dataclasses.fields(self.config_class)} - generic
        return sorted(own | {"num_labels", "problem_type", "id2label", "label2id"})

    def build(self, head: str = "lm", *, tokenizer=None, **config_kwargs) -> PreTrainedModel:
        return self.head_class(head)(self.make_config(tokenizer, **config_kwargs))


def config_from_tokenizer(tokenizer, family: ModelFamily | None = None) -> dict:
    """Config values a Hugging Face-style tokenizer determines: vocab size, pad / mask ids, and for
    the RC-equivariant families (``gpn-rc``, ``convnova-rc``: those with ``nucleotide_token_ids``)
    the ids of A, C, G, T (and of a, c, g, t as further complement pairs when present)."""
    out = {"vocab_size": len(tokenizer)}
    for key in ("pad_token_id", "mask_token_id"):
        value = getattr(tokenizer, key, None)
        if value is not None:
            out[key] = int(value)
    if family is not None and "nucleotide_token_ids" in family.config_keys:
        vocab = tokenizer.get_vocab()
        missing = [b for b in "ACGT" if b not in vocab]
        if missing:
            raise ConfigError(f"{family.name} needs single-nucleotide tokens; the tokenizer has no {missing}")
        out["nucleotide_token_ids"] = [int(vocab[b]) for b in "ACGT"]
        if all(b in vocab for b in "acgt"):
            out["complement_pairs"] = [[int(vocab["a"]), int(vocab["t"])], [int(vocab["c"]), int(vocab["g"])]]
    return out


MODELS: Registry[ModelFamily] = Registry("model")


def _add(family: ModelFamily, aliases: tuple[str, ...] = ()) -> None:
    MODELS.add(family.name, family, aliases=aliases, help=family.description)
    cfg = family.config_class
    AutoConfig.register(cfg.model_type, cfg, exist_ok=True)
    AutoModel.register(cfg, family.heads["base"], exist_ok=True)
    auto_lm = AutoModelForMaskedLM if family.objective == "mlm" else AutoModelForCausalLM
    auto_lm.register(cfg, family.heads["lm"], exist_ok=True)
    AutoModelForSequenceClassification.register(cfg, family.heads["sequence-classification"], exist_ok=True)
    AutoModelForTokenClassification.register(cfg, family.heads["token-classification"], exist_ok=True)


_add(
    ModelFamily(
        name="encoder",
        config_class=GenolmEncoderConfig,
        objective="mlm",
        heads={
            "base": GenolmEncoderModel,
            "lm": GenolmEncoderForMaskedLM,
            "sequence-classification": GenolmEncoderForSequenceClassification,
            "token-classification": GenolmEncoderForTokenClassification,
        },
        lora_target_modules=("qkv", "out_proj", "fc1", "fc2"),
        description="transformer encoder, MLM (DNABERT, DNABERT-2, NT-v2, RiNALMo designs)",
    ),
    aliases=("bert", "transformer-encoder"),
)
_add(
    ModelFamily(
        name="gpn",
        config_class=GenolmGPNConfig,
        objective="mlm",
        heads={
            "base": GenolmGPNModel,
            "lm": GenolmGPNForMaskedLM,
            "sequence-classification": GenolmGPNForSequenceClassification,
            "token-classification": GenolmGPNForTokenClassification,
        },
        lora_target_modules=("conv", "ffn"),
        description="dilated convolutional MLM (GPN)",
    ),
    aliases=("cnn",),
)
_add(
    ModelFamily(
        name="gpn-rc",
        config_class=GenolmGPNRCConfig,
        objective="mlm",
        heads={
            "base": GenolmGPNRCModel,
            "lm": GenolmGPNRCForMaskedLM,
            "sequence-classification": GenolmGPNRCForSequenceClassification,
            "token-classification": GenolmGPNRCForTokenClassification,
        },
        # LoRA on the shared strand weights keeps the model RC-equivariant
        lora_target_modules=("conv", "ffn"),
        description="reverse-complement-equivariant dilated CNN, MLM (GPN + Caduceus RCPS)",
        invariants=("rc-equivariant",),
    ),
    aliases=("rc-cnn", "rcps"),
)
_add(
    ModelFamily(
        name="convnova",
        config_class=GenolmConvNovaConfig,
        objective="mlm",
        heads={
            "base": GenolmConvNovaModel,
            "lm": GenolmConvNovaForMaskedLM,
            "sequence-classification": GenolmConvNovaForSequenceClassification,
            "token-classification": GenolmConvNovaForTokenClassification,
        },
        lora_target_modules=("conv", "gate", "proj"),
        description="gated dilated dual-branch CNN, MLM (ConvNova)",
    ),
    aliases=("gated-cnn",),
)
_add(
    ModelFamily(
        name="convnova-rc",
        config_class=GenolmConvNovaRCConfig,
        objective="mlm",
        heads={
            "base": GenolmConvNovaRCModel,
            "lm": GenolmConvNovaRCForMaskedLM,
            "sequence-classification": GenolmConvNovaRCForSequenceClassification,
            "token-classification": GenolmConvNovaRCForTokenClassification,
        },
        # LoRA on the shared strand weights keeps the model RC-equivariant
        lora_target_modules=("conv", "gate", "proj"),
        description="reverse-complement-equivariant gated dilated CNN, MLM (ConvNova + Caduceus RCPS)",
        invariants=("rc-equivariant",),
    ),
)
_add(
    ModelFamily(
        name="hyena",
        config_class=GenolmHyenaConfig,
        objective="clm",
        heads={
            "base": GenolmHyenaModel,
            "lm": GenolmHyenaForCausalLM,
            "sequence-classification": GenolmHyenaForSequenceClassification,
            "token-classification": GenolmHyenaForTokenClassification,
        },
        lora_target_modules=("in_proj", "out_proj", "fc1", "fc2"),
        description="implicit long-convolution causal LM, sub-quadratic (HyenaDNA)",
        invariants=("causal",),
    ),
    aliases=("hyenadna",),
)
_add(
    ModelFamily(
        name="decoder",
        config_class=GenolmDecoderConfig,
        objective="clm",
        heads={
            "base": GenolmDecoderModel,
            "lm": GenolmDecoderForCausalLM,
            "sequence-classification": GenolmDecoderForSequenceClassification,
            "token-classification": GenolmDecoderForTokenClassification,
        },
        lora_target_modules=("qkv", "out_proj", "fc1", "fc2"),
        description="causal transformer decoder with RoPE (GPT / Evo-style baseline)",
        invariants=("causal",),
    ),
    aliases=("gpt", "transformer-decoder"),
)

_BY_MODEL_TYPE = {fam.model_type: fam for _, fam in MODELS.items()}


def build_model(family: str, head: str = "lm", *, tokenizer=None, **config_kwargs) -> PreTrainedModel:
    """A freshly initialised model of ``family`` with ``head``.

    Parameters
    ----------
    family : str
        A name in :data:`MODELS` (``encoder``, ``gpn``, ``gpn-rc``, ``convnova``, ``convnova-rc``,
        ``hyena``, ``decoder``) or an alias.
    head : str
        ``"lm"`` (MLM or CLM by family), ``"sequence-classification"``, ``"token-classification"``
        or ``"base"``.  Default is ``"lm"``.
    tokenizer : optional
        A Hugging Face-style tokenizer; fills ``vocab_size``, ``pad_token_id``, ``mask_token_id``
        (and the nucleotide ids for ``gpn-rc``).  Explicit ``config_kwargs`` win.
    **config_kwargs
        Fields of the family's config; an unknown key raises :class:`~genolm.errors.ConfigError`
        naming the nearest valid key.
    """
    return MODELS.get(family).build(head, tokenizer=tokenizer, **config_kwargs)


def family_of(model_or_config) -> ModelFamily:
    """The :class:`ModelFamily` of a genolm model or config (e.g. to read its LoRA targets)."""
    cfg = getattr(model_or_config, "config", model_or_config)
    model_type = getattr(cfg, "model_type", None)
    if model_type not in _BY_MODEL_TYPE:
        raise ConfigError(
            f"'{model_type}' is not a genolm model type.{did_you_mean(str(model_type), list(_BY_MODEL_TYPE))}"
        )
    return _BY_MODEL_TYPE[model_type]


__all__ = [
    "HEADS",
    "MODELS",
    "POOLINGS",
    "GenolmConfig",
    "GenolmPreTrainedModel",
    "ModelFamily",
    "NucleotideValues",
    "build_model",
    "config_from_tokenizer",
    "family_of",
    "pool",
    "tokens_to_nucleotides",
    "decoder",
    "encoder",
    "gpn",
    "gpn_rc",
    "hyena",
    "convnova",
]
__all__ += [
    name
    for family in ("Encoder", "GPN", "GPNRC", "Hyena", "Decoder", "ConvNova", "ConvNovaRC")
    for name in (
        f"Genolm{family}Config",
        f"Genolm{family}Model",
        f"Genolm{family}ForSequenceClassification",
        f"Genolm{family}ForTokenClassification",
    )
]
__all__ += ["GenolmEncoderForMaskedLM", "GenolmGPNForMaskedLM", "GenolmGPNRCForMaskedLM"]
__all__ += ["GenolmConvNovaForMaskedLM", "GenolmConvNovaRCForMaskedLM"]
__all__ += ["GenolmHyenaForCausalLM", "GenolmDecoderForCausalLM"]
