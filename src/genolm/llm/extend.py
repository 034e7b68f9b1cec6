"""Extend a text causal LM with biotokens: new vocabulary rows, initialised sensibly, saved ready to use.

Read top to bottom: which biotokens (:class:`BiotokenSpec`), loading a base model (a folder, a
``.gguf`` file or a folder holding one), initialising the new embedding rows, then
:func:`extend_model`, which ties them together and writes the folder.

The extended folder is an ordinary ``save_pretrained`` folder (safetensors + tokenizer) plus
``genolm_biotokens.json`` (:data:`META_FILE`), which records the biotokens, their ids, the base
model, its vocabulary size and how the new rows were initialised.  Initialisation is
deterministic, so :func:`genolm.llm.adapters.load_biotoken_model` can rebuild exactly the same
rows on the un-extended base when it loads an adapter (the lm-evaluation-harness bug: an adapter
that added tokens loaded onto a base whose embeddings were never resized).

Initialisation of the new rows (``init``)
    ``subword`` (default)  each biotoken's row is the mean of the rows of the tokens the base
                           tokenizer uses for its bare bases (``∎ACG`` -> tokens of ``"ACG"``):
                           the model starts from what it already knows about the letters, and
                           the rows of different biotokens differ from the first step.
    ``mean``               every new row is the mean of all existing rows (Hewitt 2021).
    Output rows of an untied LM head are initialised the same way from the head's rows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

from genolm.errors import ConfigError, InputError
from genolm.tokenizers.biotokens import BIOTOKEN_PREFIX, biotoken_list, dna_to_biotokens

META_FILE = "genolm_biotokens.json"
META_SCHEMA = "genolm-biotokens/1"
INITS = ("subword", "mean")
DTYPES = ("float32", "bfloat16", "float16")


# --- which biotokens -------------------------------------------------------------------------


@dataclass
class BiotokenSpec:
    """The biotokens added to a text tokenizer.

    ``k = 1``: one token per base (``∎A ∎C ∎G ∎T``).  ``k > 1``: every k-mer as well (written in
    non-overlapping k-mers, the leftover base by base; see :mod:`genolm.tokenizers.biotokens`).
    ``include_n`` adds ``∎N`` (ambiguity codes are written as ``N``).  Default is single bases.
    """

    k: int = 1
    include_n: bool = False
    prefix: str = BIOTOKEN_PREFIX

    def __post_init__(self):
        if not 1 <= int(self.k) <= 6:
            raise ConfigError(f"biotoken k must be in 1..6, got {self.k}")
        if not self.prefix or any(c in "ACGTN" for c in self.prefix):
            raise ConfigError(f"biotoken prefix must be non-empty and hold no A/C/G/T/N, got {self.prefix!r}")

    def tokens(self) -> list[str]:
        """The tokens to add, k-mers first, then single bases (``∎N`` last)."""
        return biotoken_list(self.k, include_n=self.include_n, prefix=self.prefix)

    def clean(self, seq: str) -> str:
        """``seq`` upper-cased, IUPAC ambiguity codes as ``N`` when ``include_n`` (else unchanged)."""
        s = seq.upper().replace("U", "T")
        if self.include_n:
            import re

            s = re.sub(r"[RYSWKMBDHV]", "N", s)
        return s

    def encode(self, seq: str) -> str:
        """``seq`` written as biotokens (raises :class:`InputError` on a base with no biotoken)."""
        return dna_to_biotokens(self.clean(seq), self.k, include_n=self.include_n, prefix=self.prefix)

    def units(self, seq: str) -> list[str]:
        """The bases behind each biotoken of :meth:`encode`, in order."""
        return self.encode(seq).split(self.prefix)[1:]


def encode_dna(seq: str, tokenizer=None, *, spec: BiotokenSpec | None = None) -> str | list[int]:
    """DNA as biotoken text; with ``tokenizer`` (an extended one), its token ids (no special tokens).

    >>> encode_dna("ACGT")
    '∎A∎C∎G∎T'
    """
    spec = spec or BiotokenSpec()
    text = spec.encode(seq)
    if tokenizer is None:
        return text
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    n_units = text.count(spec.prefix)
    if len(ids) != n_units:
        raise ConfigError(
            f"the tokenizer split {n_units} biotokens into {len(ids)} tokens: it was not extended with "
            f"these biotokens (k={spec.k}, include_n={spec.include_n}); extend it with "
            "`genolm biotokens extend`"
        )
    return list(ids)


def format_prompt(template: str, dna: str, *, spec: BiotokenSpec | None = None, **fields: str) -> str:
    """``template`` with ``{dna}`` written as biotokens and every other ``{field}`` filled from ``fields``.

    >>> format_prompt("Sequence: {dna}\\nIs it {what}?", "ACG", what="coding")
    'Sequence: ∎A∎C∎G\\nIs it coding?'
    """
    import string

    names = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    if "dna" not in names:
        raise ConfigError(f"the prompt template holds no {{dna}}: {template!r}")
    missing = sorted(names - {"dna"} - set(fields))
    if missing:
        raise ConfigError(f"the prompt template needs {', '.join(missing)}: {template!r}")
    out = template
    for k, v in fields.items():
        out = out.replace("{" + k + "}", str(v))
    return out.replace("{dna}", (spec or BiotokenSpec()).encode(dna))


@dataclass
class ExtendConfig:
    """Everything ``genolm biotokens extend`` needs.  YAML keys are these field names."""

    base: str = ""  # a model folder, a .gguf file, or a folder holding one .gguf
    out: str = ""  # the extended model folder to write
    gguf_file: str | None = None  # the .gguf file inside `base` (default: the only one there)
    k: int = 1  # k-mer biotokens too when > 1
    include_n: bool = False  # add ∎N
    prefix: str = BIOTOKEN_PREFIX
    init: str = "subword"  # subword | mean (see the module docstring)
    pad_to_multiple_of: int | None = None  # round the embedding rows up (GPU-friendly shapes)
    dtype: str = "float32"  # weights as saved: float32 | bfloat16 | float16
    trust_remote_code: bool = False  # run code shipped with the base model (off unless you trust it)

    def __post_init__(self):
        if self.init not in INITS:
            from genolm.registry import did_you_mean

            raise ConfigError(
                f"init must be one of {', '.join(INITS)}, not {self.init!r}.{did_you_mean(self.init, INITS)}"
            )
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}")
        _ = self.spec  # validates k and prefix

    @property
    def spec(self) -> BiotokenSpec:
        return BiotokenSpec(int(self.k), bool(self.include_n), self.prefix)


# --- loading a base model --------------------------------------------------------------------


def resolve_base(base: str, gguf_file: str | None = None) -> tuple[str, str | None]:
    """``(folder or Hub name, gguf file name or None)`` for ``base``.

    ``base`` may be a folder written by ``save_pretrained``, a ``.gguf`` file, or a folder that
    holds one ``.gguf`` file (a folder with several needs ``gguf_file``).
    """
    p = Path(base).expanduser()
    if p.is_file():
        if p.suffix != ".gguf":
            raise InputError(
                "a base model is a folder or a .gguf file", path=str(p), hint="pass the model's folder"
            )
        if gguf_file and gguf_file != p.name:
            raise ConfigError(f"--gguf-file {gguf_file} contradicts the .gguf file given as base: {p}")
        return str(p.parent), p.name
    if p.is_dir():
        if gguf_file:
            if not (p / gguf_file).is_file():
                found = sorted(x.name for x in p.glob("*.gguf"))
                raise InputError(
                    f"no GGUF file '{gguf_file}' in the folder",
                    path=str(p),
                    hint=f"it holds: {', '.join(found) or 'no .gguf file'}",
                )
            return str(p), gguf_file
        if (p / "config.json").is_file():
            return str(p), None
        ggufs = sorted(x.name for x in p.glob("*.gguf"))
        if len(ggufs) == 1:
            return str(p), ggufs[0]
        if len(ggufs) > 1:
            raise ConfigError(
                f"{p} holds {len(ggufs)} .gguf files ({', '.join(ggufs)}): choose one with --gguf-file"
            )
        raise InputError(
            "the folder holds neither config.json nor a .gguf file",
            path=str(p),
            hint="pass a folder written by save_pretrained, a .gguf file, or a folder holding one",
        )
    if str(base).endswith(".gguf") or base.startswith((".", "/", "~")):
        raise InputError("no such model file or folder", path=str(p))
    return base, gguf_file  # a Hub name: from_pretrained finds it in the local cache


def _gguf_needs_package(e: Exception) -> ConfigError:
    return ConfigError(f"loading a GGUF file needs the gguf package: pip install gguf ({e})")


def load_tokenizer(base: str, gguf_file: str | None = None, *, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    folder, gguf = resolve_base(base, gguf_file)
    kw: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if gguf:
        kw["gguf_file"] = gguf
    try:
        return AutoTokenizer.from_pretrained(folder, **kw)
    except ImportError as e:
        raise _gguf_needs_package(e) from e
    except OSError as e:
        raise InputError(f"cannot load a tokenizer: {e}", path=folder) from e


def load_causal_lm(
    base: str,
    gguf_file: str | None = None,
    *,
    trust_remote_code: bool = False,
    dtype: str | None = "float32",
    auto_class: str = "AutoModelForCausalLM",
    **kwargs,
):
    """A model from a folder / Hub cache / GGUF file (dequantized to ``dtype``), weights via safetensors.

    A GGUF load leaves ``config.quantization_config`` pointing at the GGUF file; it is removed,
    because the weights are now ordinary floats and a folder saved from them must load as such.
    """
    import torch
    import transformers

    folder, gguf = resolve_base(base, gguf_file)
    cls = getattr(transformers, auto_class)
    kw: dict[str, Any] = {"trust_remote_code": trust_remote_code, **kwargs}
    if dtype:
        kw["dtype"] = getattr(torch, dtype)
    if gguf:
        kw["gguf_file"] = gguf
    else:
        kw["use_safetensors"] = None if _has_only_bin(folder) else True
    try:
        model = cls.from_pretrained(folder, **kw)
    except ImportError as e:
        if gguf:
            raise _gguf_needs_package(e) from e
        raise
    except OSError as e:
        raise InputError(f"cannot load the model: {e}", path=folder) from e
    except ValueError as e:
        if "Unrecognized configuration class" not in str(e):
            raise
        # transformers lists every class it would accept (about 200): say what kind is needed
        kind = "causal (decoder) language model" if auto_class == "AutoModelForCausalLM" else auto_class
        raise InputError(
            f"not a {kind}: its config is {type(_config_of(folder, kw)).__name__}, which "
            f"{auto_class} cannot load",
            path=folder,
            hint="give a text LLM such as SmolLM2 or Qwen (a causal LM), not a masked DNA LM",
        ) from None
    if gguf and hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
        model.hf_quantizer = None
        model.is_quantized = False
    return model


def _config_of(folder: str, kw: dict):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(folder, trust_remote_code=kw.get("trust_remote_code", False))
    except Exception:  # the name of the config is only for the message
        return None


def _has_only_bin(folder: str) -> bool:
    """A local folder with ``pytorch_model.bin`` and no safetensors (then torch.load is refused)."""
    p = Path(folder)
    if not p.is_dir():
        return False
    if any(p.glob("*.safetensors")):
        return False
    if any(p.glob("*.bin")):
        raise InputError(
            "the folder holds only pickled *.bin weights; genolm loads weights via safetensors",
            path=str(p),
            hint="convert it once: AutoModelForCausalLM.from_pretrained(p).save_pretrained(p, safe_serialization=True)",
        )
    return False


# --- the new rows ----------------------------------------------------------------------------


def _subword_ids(tokenizer, tokens: list[str], prefix: str) -> list[list[int]]:
    """Token ids the *base* tokenizer gives each biotoken's bare bases (``∎ACG`` -> ``"ACG"``)."""
    out = []
    for t in tokens:
        ids = tokenizer(t[len(prefix) :], add_special_tokens=False)["input_ids"]
        out.append([int(i) for i in ids])
    return out


def init_new_rows(model, new_ids: list[int], *, method: str, n_old: int, subword_ids=None) -> None:
    """Set the input (and untied output) embedding rows ``new_ids`` in place, deterministically.

    ``n_old`` rows (the base tokenizer's tokens) are the source; ``subword_ids[i]`` lists the source
    rows of ``new_ids[i]`` for ``method="subword"`` (an empty list falls back to the mean).
    """
    import torch

    if method not in INITS:
        raise ConfigError(f"init must be one of {', '.join(INITS)}, not {method!r}")
    layers = [model.get_input_embeddings()]
    out = model.get_output_embeddings()
    if out is not None and out.weight.data_ptr() != layers[0].weight.data_ptr():
        layers.append(out)
    idx = torch.as_tensor(new_ids, dtype=torch.long)
    with torch.no_grad():
        for layer in layers:
            W = layer.weight
            src = W[:n_old].float()
            mean = src.mean(0)
            rows = mean.expand(len(new_ids), -1).clone()
            if method == "subword":
                for i, sub in enumerate(subword_ids or []):
                    sub = [s for s in sub if s < n_old]
                    if sub:
                        rows[i] = src[sub].mean(0)
            W[idx] = rows.to(W.dtype)
            bias = getattr(layer, "bias", None)
            if bias is not None:
                bias[idx] = bias[:n_old].float().mean().to(bias.dtype)


class ExtendResult(NamedTuple):
    out_dir: Path
    tokens: list[str]
    token_ids: list[int]
    vocab_before: int  # tokenizer length before
    rows_before: int  # embedding rows before
    rows_after: int
    tied: bool


def read_meta(folder: str | Path) -> dict | None:
    """The ``genolm_biotokens.json`` of an extended model or adapter folder (``None`` if absent)."""
    p = Path(folder) / META_FILE
    if not p.is_file():
        return None
    try:
        meta = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON: {e}", path=str(p)) from None
    if meta.get("schema") != META_SCHEMA:
        raise InputError(f"unknown schema {meta.get('schema')!r}, expected {META_SCHEMA}", path=str(p))
    return meta


def spec_of(meta: dict) -> BiotokenSpec:
    return BiotokenSpec(**meta["spec"])


def biotoken_ids(meta: dict) -> list[int]:
    return [int(i) for i in meta["token_ids"]]


def add_biotokens(model, tokenizer, spec: BiotokenSpec, *, init: str = "subword", pad_to_multiple_of=None):
    """Add ``spec``'s biotokens to ``tokenizer`` and ``model`` in place; return the metadata dict.

    The embedding matrix grows to ``max(len(tokenizer), rows)`` (rounded up to
    ``pad_to_multiple_of``): a base whose matrix already has spare rows (Qwen: 151,936 rows for
    151,665 tokens) keeps its size and the biotokens take spare rows, which are re-initialised.
    """
    tokens = spec.tokens()
    vocab = tokenizer.get_vocab()
    present = [t for t in tokens if t in vocab]
    if present:
        raise ConfigError(
            f"the tokenizer already holds {len(present)} of the {len(tokens)} biotokens ({present[0]!r}, ...): "
            "it was extended before, or its vocabulary uses the prefix; extend the original base, or choose "
            "another prefix"
        )
    n_tok_before = len(tokenizer)
    rows_before = model.get_input_embeddings().weight.shape[0]
    n_old = min(n_tok_before, rows_before)
    sub = _subword_ids(tokenizer, tokens, spec.prefix) if init == "subword" else None
    from tokenizers import AddedToken

    # normalized=False: the biotokens match the raw text (no lower-casing / NFKC by the normalizer)
    added = tokenizer.add_tokens([AddedToken(t, normalized=False, special=False) for t in tokens])
    if added != len(tokens):
        raise ConfigError(f"the tokenizer accepted {added} of {len(tokens)} biotokens")
    ids = tokenizer.convert_tokens_to_ids(tokens)
    want = max(len(tokenizer), rows_before)
    if want != rows_before or pad_to_multiple_of:
        model.resize_token_embeddings(want, pad_to_multiple_of=pad_to_multiple_of, mean_resizing=False)
    init_new_rows(model, ids, method=init, n_old=n_old, subword_ids=sub)
    rows_after = model.get_input_embeddings().weight.shape[0]
    out = model.get_output_embeddings()
    tied = out is not None and out.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    # a round trip through the extended tokenizer must give one token per biotoken
    probe = "".join(tokens)
    got = tokenizer(probe, add_special_tokens=False)["input_ids"]
    if list(got) != list(ids):
        raise ConfigError(
            "after adding the biotokens, the tokenizer does not give one token per biotoken "
            f"({len(got)} tokens for {len(tokens)} biotokens); this tokenizer cannot take added tokens"
        )
    return {
        "schema": META_SCHEMA,
        "spec": asdict(spec),
        "tokens": tokens,
        "token_ids": [int(i) for i in ids],
        "init": init,
        "base_tokenizer_len": n_tok_before,
        "base_embedding_rows": rows_before,
        "embedding_rows": rows_after,
        "n_old_rows_used_for_init": n_old,
        "tied_embeddings": tied,
        "subword_ids": sub,
    }


def extend_model(cfg: ExtendConfig, *, progress: bool = True) -> ExtendResult:
    """Extend ``cfg.base`` with biotokens and write model + tokenizer to ``cfg.out`` atomically."""
    import genolm
    from genolm.atomic import atomic_dir, atomic_write_json

    if not cfg.base or not cfg.out:
        raise ConfigError("extend needs a base model (--base) and an output folder (--out)")
    out = Path(cfg.out)
    if out.exists() and any(out.iterdir()):
        if read_meta(out) is None:
            raise ConfigError(f"{out} exists and is not an extended model folder: choose a new --out")
    folder, gguf = resolve_base(cfg.base, cfg.gguf_file)
    tok = load_tokenizer(folder, gguf, trust_remote_code=cfg.trust_remote_code)
    if not progress:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    model = load_causal_lm(folder, gguf, trust_remote_code=cfg.trust_remote_code, dtype="float32")
    meta = add_biotokens(model, tok, cfg.spec, init=cfg.init, pad_to_multiple_of=cfg.pad_to_multiple_of)
    base_ref = str(Path(folder).resolve()) if Path(folder).exists() else folder
    meta.update(
        {
            "base": base_ref,
            "gguf_file": gguf,
            "base_model_type": model.config.model_type,
            "genolm_version": genolm.__version__,
        }
    )
    if tok.pad_token_id is None:
        # batching needs a pad token; the EOS token is the usual choice for causal LMs
        tok.pad_token = tok.eos_token
    if cfg.dtype != "float32":
        import torch

        model = model.to(getattr(torch, cfg.dtype))
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        atomic_write_json(tmp / META_FILE, meta)
    return ExtendResult(
        out,
        meta["tokens"],
        meta["token_ids"],
        meta["base_tokenizer_len"],
        meta["base_embedding_rows"],
        meta["embedding_rows"],
        meta["tied_embeddings"],
    )
