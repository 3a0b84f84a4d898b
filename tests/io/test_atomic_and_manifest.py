import os

import pytest

from vidray.errors import OutputError
from vidray.io.atomic import atomic_path, remove_stale_parts, write_json_atomic
from vidray.io.manifest import Manifest
from vidray.io.outdir import OutputDir


def test_atomic_path_publishes_only_on_success(tmp_path):
    target = tmp_path / "a" / "file.bin"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert not target.exists() and os.listdir(target.parent) == []
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"


def test_stale_parts_are_swept(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / ".x.mp4.abc.part").write_bytes(b"")
    (tmp_path / "d" / "keep.mp4").write_bytes(b"")
    assert remove_stale_parts(tmp_path) == 1
    assert os.listdir(tmp_path / "d") == ["keep.mp4"]


def test_manifest_appends_once_and_ignores_a_torn_line(tmp_path):
    path = tmp_path / "m.jsonl"
    m = Manifest(path)
    m.append([{"key": "a"}, {"key": "b"}])
    m.append([{"key": "a"}, {"key": "c"}])
    with open(path, "a") as f:
        f.write('{"key": "d"')  # a driver killed mid-write
    again = Manifest(path)
    assert set(again.records) == {"a", "b", "c"}
    assert path.read_text().count('"a"') == 1
    again.append([{"key": "d"}, {"key": "e"}])  # the first record after the torn line is not lost
    assert set(Manifest(path).records) == {"a", "b", "c", "d", "e"}
    assert path.read_text().endswith('{"key": "e"}\n') and path.read_text().count("\n") == 5


def test_output_dir_resumes_same_run_and_refuses_others(tmp_path):
    out = OutputDir(tmp_path / "o", "job", {"n": 1})
    assert not out.complete
    out.mark_complete()
    assert OutputDir(tmp_path / "o", "job", {"n": 1}).complete
    with pytest.raises(OutputError, match=r"n: 1 → 2.*--overwrite"):
        OutputDir(tmp_path / "o", "job", {"n": 2})
    (tmp_path / "o" / "old.txt").write_text("x")
    fresh = OutputDir(tmp_path / "o", "job", {"n": 2}, overwrite=True, owned=("old.txt",))
    assert not fresh.complete and not (tmp_path / "o" / "old.txt").exists()


def test_output_dir_refuses_foreign_and_unusable_paths(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    with pytest.raises(OutputError, match="not empty"):
        OutputDir(tmp_path / "mine", "job", {})
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a directory"):
        OutputDir(tmp_path / "file", "job", {})
    with pytest.raises(OutputError, match="cannot create"):
        OutputDir(tmp_path / "file" / "sub", "job", {})


def test_write_json_atomic(tmp_path):
    write_json_atomic(tmp_path / "s.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "s.json").read_text().startswith("{\n")
