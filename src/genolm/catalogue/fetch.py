"""Getting a published checkpoint onto disk: the Hugging Face cache, offline-first messages.

:func:`fetch` returns the local folder of ``repo_id`` at ``revision``.  It downloads with
``huggingface_hub.snapshot_download`` (only the files a PyTorch load needs) and, when the Hub
cannot be reached or ``HF_HUB_OFFLINE=1`` is set, falls back to the local cache.  A model that is
in neither is an :class:`~genolm.errors.InputError` that says how to get it there.
"""

from __future__ import annotations

import os
from pathlib import Path

from genolm.errors import InputError

#: weights of other frameworks and exports genolm never reads
IGNORE = ["*.h5", "*.msgpack", "*.ckpt", "*.onnx", "*.ot", "tf_model*", "flax_model*", "*.tflite", "*.gguf"]


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def fetch(repo_id: str, revision: str = "main", *, cache_dir: str | Path | None = None) -> Path:
    """Local folder of ``repo_id`` at ``revision`` (downloaded if needed and possible)."""
    from huggingface_hub import snapshot_download

    kwargs = dict(repo_id=repo_id, revision=revision, cache_dir=cache_dir, ignore_patterns=IGNORE)
    if not offline():
        try:
            return Path(snapshot_download(**kwargs))
        except Exception as e:  # network down, DNS, proxy, 5xx: try the cache below
            if _is_missing_repo(e):
                raise InputError(
                    f"'{repo_id}' (revision {revision}) does not exist on the Hugging Face Hub",
                    hint="check the id with `genolm ls models`, or pass a local folder",
                ) from None
            reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    else:
        reason = "HF_HUB_OFFLINE is set"
    try:
        return Path(snapshot_download(**kwargs, local_files_only=True))
    except Exception:
        cache = (
            cache_dir or os.environ.get("HF_HUB_CACHE") or os.environ.get("HF_HOME") or "~/.cache/huggingface"
        )
        raise InputError(
            f"model '{repo_id}' (revision {revision}) is not in the local cache ({cache}) and the Hub "
            f"cannot be reached ({reason})",
            hint="pass a local folder, or set HF_HOME to a cache that holds it; to fill a cache where "
            f"there is network: huggingface-cli download {repo_id} --revision {revision}",
        ) from None


def _is_missing_repo(e: Exception) -> bool:
    try:
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError
    except ImportError:  # pragma: no cover - old huggingface_hub
        return False
    return isinstance(e, (RepositoryNotFoundError, RevisionNotFoundError))


def resolved_commit(folder: Path) -> str | None:
    """The commit a Hub cache snapshot folder holds (``.../snapshots/<sha>``), else ``None``."""
    parts = Path(folder).resolve().parts
    if len(parts) >= 2 and parts[-2] == "snapshots" and len(parts[-1]) == 40:
        return parts[-1]
    return None
