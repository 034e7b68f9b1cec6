"""Lazy registration of genolm's models and tokenizers with ``transformers``' Auto classes.

``import genolm`` is enough for ``AutoConfig`` / ``AutoModel*`` / ``AutoTokenizer.from_pretrained``
to load a genolm folder without ``trust_remote_code``::

    import genolm
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    model = AutoModelForMaskedLM.from_pretrained("runs/encoder-small/final")
    tok = AutoTokenizer.from_pretrained("runs/encoder-small/final")

Importing the model classes costs torch and most of transformers (seconds), and ``genolm --help``
must stay instant, so nothing heavy happens at ``import genolm``.  Instead a one-shot import hook
waits for transformers' ``configuration_auto`` and ``tokenization_auto`` modules and gives their
lookup tables the genolm *names* only (model types, tokenizer class names).  The classes are
imported the first time one of those names is looked up, i.e. inside a ``from_pretrained`` call,
never in the middle of an import (``configuration_auto`` is first imported while
``transformers.modeling_utils`` is half initialised, so importing ``genolm.models`` right then
would fail).  Looking a genolm name up imports :mod:`genolm.models` / :mod:`genolm.tokenizers`,
whose own ``AutoConfig.register`` / ``AutoModel*.register`` calls then put the real classes in.

The two tables below are the only copy of the names here; ``tests/test_interop.py`` checks them
against the registries.
"""

from __future__ import annotations

import importlib
import sys

#: ``model_type`` -> module whose import registers it (and every Auto class of that family)
MODEL_TYPES: dict[str, str] = {
    "genolm-encoder": "genolm.models",
    "genolm-gpn": "genolm.models",
    "genolm-gpn-rc": "genolm.models",
    "genolm-convnova": "genolm.models",
    "genolm-convnova-rc": "genolm.models",
    "genolm-hyena": "genolm.models",
    "genolm-decoder": "genolm.models",
    "caduceus": "genolm.models.caduceus",
}

#: ``tokenizer_class`` (as written in ``tokenizer_config.json``) -> module whose import registers it
TOKENIZER_CLASSES: dict[str, str] = {
    "CharTokenizer": "genolm.tokenizers",
    "IUPACTokenizer": "genolm.tokenizers",
    "KmerTokenizer": "genolm.tokenizers",
    "NonOverlappingKmerTokenizer": "genolm.tokenizers",
    "CodonTokenizer": "genolm.tokenizers",
    "BPETokenizer": "genolm.tokenizers",
    "CaduceusTokenizer": "genolm.models.caduceus",
}

_CONFIG_AUTO = "transformers.models.auto.configuration_auto"
_TOKENIZATION_AUTO = "transformers.models.auto.tokenization_auto"


def _load(module: str) -> None:
    """Import ``module`` so that its classes register themselves (caduceus has an explicit ``register``)."""
    mod = importlib.import_module(module)
    if module == "genolm.models.caduceus":
        mod.register()


class _LazyNames(dict):
    """A registry dict of transformers that also answers for genolm names not imported yet.

    ``name in d`` is True for a pending genolm name; ``d[name]`` (or iterating over the values)
    imports the genolm module, whose registration replaces the pending name with the class.
    """

    def __init__(self, data: dict, pending: dict[str, str]):
        super().__init__(data)
        self.pending = {k: v for k, v in pending.items() if k not in data}

    def _resolve(self, key=None) -> None:
        modules = {self.pending[key]} if key is not None else set(self.pending.values())
        for module in sorted(modules):
            _load(module)
        # whatever the import did not register stays unknown, as it would without genolm
        for k in [k for k, m in self.pending.items() if m in modules]:
            self.pending.pop(k, None)

    def __contains__(self, key) -> bool:
        return dict.__contains__(self, key) or (isinstance(key, str) and key in self.pending)

    def __getitem__(self, key):
        if not dict.__contains__(self, key) and isinstance(key, str) and key in self.pending:
            self._resolve(key)
        return dict.__getitem__(self, key)

    def get(self, key, default=None):
        return self[key] if key in self else default

    def _all(self):
        if self.pending:
            self._resolve()

    def keys(self):
        return list(dict.keys(self)) + [k for k in self.pending if not dict.__contains__(self, k)]

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def values(self):
        self._all()
        return dict.values(self)

    def items(self):
        self._all()
        return dict.items(self)


def _patch(module) -> None:
    """Give ``configuration_auto`` / ``tokenization_auto`` the pending genolm names (idempotent).

    The tables are private to transformers.  Where a release renames or reshapes one, this must
    never break ``import transformers``: genolm's names are then not pre-registered, a warning
    says so, and a genolm folder loads after ``genolm.auto.register_all()`` (genolm's own
    loaders import the classes anyway).
    """
    try:
        patched = _patch_tables(module)
    except (AttributeError, TypeError, ImportError) as err:
        patched, why = False, f"{type(err).__name__}: {err}"
    else:
        why = "its lookup table is not where genolm expects it"
    if not patched:
        import logging  # here only: `import genolm` stays free of it

        logging.getLogger(__name__).warning(
            "genolm could not register its names with %s (%s; transformers %s); call "
            "genolm.auto.register_all() before AutoConfig / AutoTokenizer.from_pretrained on a genolm folder",
            module.__name__,
            why,
            getattr(sys.modules.get("transformers"), "__version__", "?"),
        )


def _patch_tables(module) -> bool:
    """:func:`_patch`'s work; False where the private table it needs is missing."""
    if module.__name__ == _CONFIG_AUTO:
        mapping = getattr(module, "CONFIG_MAPPING", None)
        extra = getattr(mapping, "_extra_content", None)
        if not isinstance(extra, dict):
            return False
        if not isinstance(extra, _LazyNames):
            mapping._extra_content = _LazyNames(extra, MODEL_TYPES)
    elif module.__name__ == _TOKENIZATION_AUTO:
        registered = getattr(module, "REGISTERED_TOKENIZER_CLASSES", None)
        if registered is None:  # transformers 4.x has no name table: register the classes eagerly
            _load("genolm.tokenizers")
        elif not isinstance(registered, dict):
            return False
        elif not isinstance(registered, _LazyNames):
            module.REGISTERED_TOKENIZER_CLASSES = _LazyNames(registered, TOKENIZER_CLASSES)
    return True


class _AutoHook:
    """Patches each of transformers' auto lookup modules right after it has loaded.

    A ``sys.meta_path`` finder (only ``find_spec`` is needed; not subclassing ``importlib.abc``
    saves 20 ms of ``import genolm``).
    """

    def __init__(self):
        self.waiting = {_CONFIG_AUTO, _TOKENIZATION_AUTO}

    def find_spec(self, fullname, path, target=None):
        if fullname not in self.waiting:
            return None
        self.waiting.discard(fullname)
        if not self.waiting:
            sys.meta_path.remove(self)
        # the real spec, from the finders after this one (importlib.util would cost 3 ms at import)
        spec = None
        for finder in [f for f in sys.meta_path if f is not self]:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            _patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


def install() -> None:
    """Make ``transformers``' Auto classes find genolm's models and tokenizers (cheap; idempotent).

    Patches the auto modules that are already imported; hooks the import of the others.
    """
    waiting = set()
    for name in (_CONFIG_AUTO, _TOKENIZATION_AUTO):
        module = sys.modules.get(name)
        if module is not None:
            _patch(module)
        else:
            waiting.add(name)
    hooks = [f for f in sys.meta_path if isinstance(f, _AutoHook)]
    if hooks or not waiting:
        return
    hook = _AutoHook()
    hook.waiting = waiting
    sys.meta_path.insert(0, hook)


def register_all() -> None:
    """Import and register every genolm model family and tokenizer now (eager)."""
    for module in sorted(set(MODEL_TYPES.values()) | set(TOKENIZER_CLASSES.values())):
        _load(module)
