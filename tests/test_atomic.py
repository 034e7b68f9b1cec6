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
