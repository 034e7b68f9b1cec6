import json
import os

import pytest

from genolm.atomic import atomic_dir, atomic_path, atomic_write_json


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_json(target, {"a": 1})
    # a write that fails half-way must leave the previous complete file in place
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"a": 2, "trunc')
            raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temp litter


def test_atomic_dir(tmp_path):
    d = tmp_path / "ckpt"
    with atomic_dir(d) as tmp:
        (tmp / "w").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(d) as tmp:
            (tmp / "w").write_text("2")
            raise RuntimeError("killed")
    assert (d / "w").read_text() == "1"
    with atomic_dir(d) as tmp:
        (tmp / "w").write_text("3")
    assert (d / "w").read_text() == "3"
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]


def test_atomic_files_get_the_usual_mode(tmp_path):
    # mkstemp's 0600 must not leak into results other users need to read
    target = tmp_path / "r.json"
    atomic_write_json(target, {})
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    with atomic_dir(tmp_path / "d") as tmp:
        (tmp / "x").write_text("1")
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o777 & ~mask


def test_folder_lock_refuses_a_second_holder_and_takes_over_a_stale_lock(tmp_path, caplog):
    # guards: two bench processes on one --out duplicated work with no lock
    import json
    import subprocess
    import sys

    from genolm.atomic import LOCK_NAME, folder_lock
    from genolm.errors import InputError

    with folder_lock(tmp_path) as lock:
        held = json.loads(lock.read_text())
        assert held["pid"] == os.getpid()
        with pytest.raises(
            InputError, match=rf"in use by another genolm process: pid {os.getpid()} on .*started"
        ):
            with folder_lock(tmp_path):
                pass
    assert not (tmp_path / LOCK_NAME).exists()  # released
    # a lock left by a process that has exited: taken over with a warning
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    import socket

    (tmp_path / LOCK_NAME).write_text(
        json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(), "started": "2020-01-01T00:00:00"})
    )
    with folder_lock(tmp_path):
        assert "taking over the stale lock" in caplog.text


def test_remove_stale_temps_clears_an_interrupted_checkpoint_write(tmp_path):
    # guards: a kill during a checkpoint write left a temp folder behind forever
    from genolm.atomic import atomic_dir, remove_stale_temps

    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(tmp_path / "step-00000002") as tmp:
            (tmp / "w.bin").write_bytes(b"x" * 10)
            # simulate a kill: the finally of atomic_dir would clean up, a SIGKILL does not
            keep = tmp.with_name(tmp.name + "x")
            os.rename(tmp, keep)
            os.rename(keep, tmp.with_name(".step-00000003.ab_cd123"))
            raise KeyboardInterrupt
    (tmp_path / "step-00000001").mkdir()
    removed = remove_stale_temps(tmp_path)
    assert [p.name for p in removed] == [".step-00000003.ab_cd123"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000001"]
    # killed between atomic_dir's two renames: the previous version is put back, not removed
    os.rename(tmp_path / "step-00000001", tmp_path / ".step-00000001.old")
    assert remove_stale_temps(tmp_path) == [] and (tmp_path / "step-00000001").is_dir()


def test_atomic_write_into_a_folder_or_under_a_file_names_the_path(tmp_path):
    # guards: a folder given as an output file, or a file standing where a folder must be
    from genolm.atomic import atomic_write_text, ensure_dir
    from genolm.errors import InputError

    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="d: is a folder, but a file is to be written here"):
        atomic_write_text(tmp_path / "d", "y")
    with pytest.raises(InputError, match="f: cannot use this as the folder: it is a file"):
        atomic_write_text(tmp_path / "f" / "out.json", "y")
    with pytest.raises(InputError, match="cannot use this as the output folder: it is a file"):
        ensure_dir(tmp_path / "f")
