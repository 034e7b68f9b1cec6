"""One catalogue entry: what a published genomic LM is and how genolm loads it.

The entries live in ``models.yaml`` beside this file; :data:`CATALOGUE` is the registry built from
it (``genolm ls models``).  Extra YAML files of the same layout are read from the folders / files in
``GENOLM_MODEL_PATH`` (``os.pathsep``-separated), so a lab can list its own checkpoints.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from genolm.constants import POOLINGS
from genolm.errors import ConfigError
from genolm.registry import Registry, check_choice, did_you_mean

#: how genolm loads a family (genolm/catalogue/loader.py)
FAMILIES = ("dnabert", "nt", "remote", "caduceus", "gpn", "enformer", "evo2", "genolm")
OBJECTIVES = ("mlm", "clm", "tracks")
_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class CatalogueEntry:
    """A published checkpoint (see ``models.yaml`` for what each field means)."""

    name: str
    family: str
    tokenizer: str
    objective: str
    context: int
    params: str
    license: str
    data: str
    pooling: str
    hub: str | None = None
    bundled: str | None = None
    revision: str = "main"
    context_bp: int | None = None
    lora: tuple[str, ...] | None = None
    lora_note: str = ""
    remote_code: bool = False
    native_impl: str = ""
    package: str = ""
    gpu_only: bool = False
    notes: str = ""
    citation: str = ""
    source: str = field(default="", compare=False)  # the YAML file the entry came from

    def __post_init__(self):
        where = f"model '{self.name}'" + (f" in {self.source}" if self.source else "")
        check_choice("family", self.family, FAMILIES, where=where)
        check_choice("objective", self.objective, OBJECTIVES, where=where)
        check_choice("pooling", self.pooling, POOLINGS, where=where)
        if not (self.hub or self.bundled):
            raise ConfigError(f"{where}: give 'hub' (owner/name) or 'bundled'")
        if self.lora is None and not self.lora_note:
            raise ConfigError(f"{where}: 'lora: null' needs a 'lora_note' saying what to do instead")

    @property
    def pinned(self) -> bool:
        """Whether ``revision`` names one commit (a 40-hex sha) rather than a branch."""
        return bool(_SHA.match(self.revision)) or self.bundled is not None

    @property
    def lora_able(self) -> bool:
        return self.lora is not None

    @property
    def needs(self) -> str:
        """What loading needs beyond genolm, in words (for ``genolm ls models``)."""
        out = []
        if self.gpu_only:
            out.append("GPU")
        if self.remote_code and not self.native_impl:
            out.append("trust_remote_code")
        elif self.remote_code:
            out.append("none (genolm port; Hub code optional)")
        if self.package:
            out.append(f"pip install {self.package}")
        return ", ".join(out) or "none"


_FIELDS = {f.name for f in dataclasses.fields(CatalogueEntry)} - {"source"}
_REQUIRED = [
    f.name
    for f in dataclasses.fields(CatalogueEntry)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
]


def entry_from_dict(d: dict, source: str = "") -> CatalogueEntry:
    """A :class:`CatalogueEntry` from one YAML mapping; unknown keys are errors with "did you mean"."""
    d = dict(d)
    name = d.get("name", "?")
    for key in d:
        if key not in _FIELDS:
            raise ConfigError(
                f"model '{name}'{' in ' + source if source else ''}: unknown key '{key}'."
                f"{did_you_mean(key, sorted(_FIELDS))}"
            )
    missing = [f for f in _REQUIRED if f not in d]
    if missing:
        raise ConfigError(f"model '{name}'{' in ' + source if source else ''}: missing {', '.join(missing)}")
    if d.get("lora") is not None:
        d["lora"] = tuple(d["lora"])
    d["revision"] = str(d.get("revision", "main"))
    return CatalogueEntry(source=source, **d)


def read_catalogue_file(path: str | Path) -> list[CatalogueEntry]:
    """Every entry of one catalogue YAML file (``models: [ ... ]``)."""
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("models"), list):
        raise ConfigError(f"{path}: a catalogue file holds 'models:' followed by a list of mappings")
    return [entry_from_dict(m, source=str(path)) for m in doc["models"]]


def _build() -> Registry[CatalogueEntry]:
    reg: Registry[CatalogueEntry] = Registry("model")
    files = [Path(__file__).with_name("models.yaml")]
    for part in filter(None, os.environ.get("GENOLM_MODEL_PATH", "").split(os.pathsep)):
        p = Path(part).expanduser()
        files += sorted(p.glob("*.yaml")) if p.is_dir() else [p]
    for f in files:
        for e in read_catalogue_file(f):
            aliases = tuple(a for a in (e.hub,) if a and a != e.name)
            reg.add(e.name, e, aliases=aliases, help=f"{e.family}, {e.params}, {e.objective}")
    return reg


CATALOGUE: Registry[CatalogueEntry] = _build()


def get_entry(name: str) -> CatalogueEntry:
    """The entry registered as ``name`` (catalogue name or Hub id); "did you mean" otherwise."""
    return CATALOGUE.get(name)


def find_entry(name: str) -> CatalogueEntry | None:
    """The entry for ``name`` (catalogue name or Hub id, case-insensitive), or ``None``."""
    if name in CATALOGUE:
        return CATALOGUE.get(name)
    low = name.lower()
    for n in CATALOGUE.names():
        e = CATALOGUE.get(n)
        if n.lower() == low or (e.hub or "").lower() == low:
            return e
    return None
