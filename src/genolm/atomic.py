"""Atomic file writes: write to a temporary sibling, fsync, then ``os.replace``.

A job killed mid-write leaves either the old file or the new one, never half of one, plus at
most a hidden temporary sibling that :func:`remove_stale_temps` clears at the next start.

Also here: :func:`ensure_dir` (an output folder, or a sentence saying why it cannot be one) and
:func:`folder_lock` (one writer per output folder).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import math
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from genolm.errors import InputError

log = logging.getLogger(__name__)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically."""
    path = Path(path)
    if path.is_dir():
        raise InputError(
            "is a folder, but a file is to be written here", path=str(path), hint="give a file name"
        )
    ensure_dir(path.parent, what="folder")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        # mkstemp creates 0600 files; give the result the mode a plain open() would
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj, **kwargs) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=str, **kwargs) + "\n")


def jsonable(x):
    """``x`` ready for JSON: numpy arrays and scalars as lists and numbers, tuples as lists, keys
    as strings, and NaN / infinity as ``None`` (JSON has no NaN).  The one JSON encoder of every
    record genolm writes (run records, leak audits, summaries)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if type(x).__module__ == "numpy" and hasattr(x, "tolist"):  # arrays and numpy scalars
        return jsonable(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces the directory ``path``.

    Used for checkpoints: a reader sees the previous complete checkpoint or the new one.
    """
    path = Path(path)
    ensure_dir(path.parent, what="folder")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700 folders
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def ensure_dir(path: str | os.PathLike, *, what: str = "output folder") -> Path:
    """Create folder ``path`` (and its parents) and check that it can be written.

    Raises :class:`~genolm.errors.InputError` naming ``path`` when a file stands where a folder
    must be, or when the folder cannot be created or written (instead of an ``OSError`` from
    deep inside a writer, or a write that silently goes nowhere).
    """
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                where = "it is a file" if p == path else f"'{p}' is a file"
                raise InputError(
                    f"cannot use this as the {what}: {where}",
                    path=str(path),
                    hint="give a folder path, or move the file out of the way",
                )
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(
            f"cannot create the {what} ({e.strerror})",
            path=str(path),
            hint="choose another folder, or fix the permissions of its parent",
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(
            f"the {what} is not writable",
            path=str(path),
            hint="choose another folder, or fix its permissions",
        )
    return path


# the temporaries of atomic_dir / atomic_path: ".NAME.<8 random chars>" (+ ".tmp" for files),
# and atomic_dir's ".NAME.old" (the previous version, moved aside for an instant)
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}(\.tmp)?$")
_OLD_RE = re.compile(r"^\.(?P<name>.+)\.old$")


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporaries that a killed :func:`atomic_dir` / :func:`atomic_path` left in ``folder``.

    Call it only where no other process writes into ``folder`` (a run's own output folder, at
    its start).  A ``.NAME.old`` whose ``NAME`` is missing (killed between the two renames of
    :func:`atomic_dir`) is the last complete version: it is moved back, not removed.  Returns
    the removed paths (each also logged as a warning).
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for p in sorted(folder.iterdir()):
        m_old = _OLD_RE.match(p.name)
        if m_old and not (folder / m_old["name"]).exists():
            os.replace(p, folder / m_old["name"])
            log.warning(
                "restored %s from %s (a write was interrupted between renames)", folder / m_old["name"], p
            )
            continue
        if not (m_old or _TEMP_RE.match(p.name)):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    if removed:
        log.warning(
            "removed %d temporary file(s) / folder(s) left by an interrupted write in %s: %s",
            len(removed),
            folder,
            ", ".join(p.name for p in removed[:5]) + (" ..." if len(removed) > 5 else ""),
        )
    return removed


LOCK_NAME = ".genolm.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read_lock(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, *, what: str = "output folder") -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (a ``.genolm.lock`` file made with ``O_EXCL``) while the
    block runs, so that two processes never write into the same folder.

    The lock file records the holder's pid, host and start time.  A second process gets an
    :class:`~genolm.errors.InputError` naming them.  A lock left by a process that no longer
    runs (same host, dead pid) is stale: it is taken over with a warning.  Yields the lock path.
    """
    folder = ensure_dir(folder, what=what)
    lock = folder / LOCK_NAME
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            held = _read_lock(lock)
            if held is None:  # being written this instant, or left half-written by a kill
                try:
                    age = time.time() - lock.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age < 10:
                    time.sleep(0.2)
                    continue
                stale = True
            else:
                stale = held.get("host") == me["host"] and not _pid_alive(int(held.get("pid", -1)))
            if not stale:
                raise InputError(
                    f"the {what} is in use by another genolm process: pid {held.get('pid')} on "
                    f"{held.get('host')}, started {held.get('started')}",
                    path=str(folder),
                    hint=f"wait for it to finish, or give another folder; if that process is gone, delete {lock}",
                ) from None
            log.warning(
                "taking over the stale lock %s (%s): that process no longer runs",
                lock,
                "unreadable" if held is None else f"pid {held.get('pid')}, started {held.get('started')}",
            )
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        break
    else:
        raise InputError(f"could not take the lock {lock}", path=str(folder), hint=f"delete {lock} and retry")
    try:
        yield lock
    finally:
        held = _read_lock(lock)
        if held is not None and held.get("pid") == me["pid"] and held.get("started") == me["started"]:
            lock.unlink(missing_ok=True)
