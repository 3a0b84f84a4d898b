"""Video lists from configs and directories; deterministic hash splits."""

from __future__ import annotations

import json

import pytest
import yaml

from vidray.embed.inputs import hash_split, load_videos, videos_from_config
from vidray.errors import ConfigError, InputError


def test_hash_split_is_deterministic_and_follows_the_ratios():
    names = [f"video_{i}" for i in range(3000)]
    splits = [hash_split(n, (0.8, 0.1, 0.1)) for n in names]
    assert splits == [hash_split(n, (0.8, 0.1, 0.1)) for n in reversed(names)][::-1]
    share = {s: splits.count(s) / len(splits) for s in ("train", "val", "test")}
    assert share["train"] == pytest.approx(0.8, abs=0.03) and share["val"] == pytest.approx(0.1, abs=0.02)
    assert {hash_split(n, (0, 0, 1)) for n in names[:50]} == {"test"}
    assert {hash_split(n, (2, 0, 0)) for n in names[:50]} == {"train"}  # ratios need not sum to 1


def test_config_with_patch_job_fields_yaml_and_relative_paths(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.mp4").write_bytes(b"x")
    data = {"base_settings": {"frame_limit": 10, "max_workers": 4},
            "videos": [{"name": "a", "path": "clips/a.mp4", "caption": "cap", "split": "validation",
                        "metadata": {"k": 1}, "categories": {"general": 0.5, "space": 0.5}},
                       {"name": "b", "path": "/abs/b.mp4"}]}
    path = tmp_path / "videos.yaml"
    path.write_text(yaml.safe_dump(data))
    items = load_videos(path, (0.8, 0.1, 0.1))
    assert items[0].path == str(tmp_path / "clips" / "a.mp4") and items[0].split == "val"
    assert items[0].caption == "cap" and items[0].metadata == {"k": 1}
    assert items[1].path == "/abs/b.mp4" and items[1].split == hash_split("b", (0.8, 0.1, 0.1))
    assert items[1].caption == "" and items[1].metadata == {}


def test_config_problems_are_all_listed():
    data = {"videos": [{"name": "a b", "path": "x.mp4"}, {"name": "c", "path": "y.mp4", "split": "dev"},
                       {"name": "c", "path": "z.mp4", "colour": 1}, {"path": "w.mp4"}]}
    with pytest.raises(ConfigError) as err:
        videos_from_config(data, (0.8, 0.1, 0.1))
    text = str(err.value)
    for needle in ("'a b'", "'dev'", "duplicate name 'c'", "unknown keys ['colour']", "videos[3]: 'name'"):
        assert needle in text
    assert len(err.value.problems) == 5


def test_directory_input_names_are_relative_paths(embed_videos, tmp_path):
    root, _ = embed_videos
    items = load_videos(root, (0.8, 0.1, 0.1))
    assert [i.name for i in items] == ["clip_a", "clip_b", "clip_c", "clip_d"]
    tree = tmp_path / "tree"
    for rel in ("train/class_0/video_0000.mp4", "test/class_0/video_0000.mp4", "notes.txt"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(b"x")
    assert [i.name for i in load_videos(tree)] == ["test_class_0_video_0000", "train_class_0_video_0000"]


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_videos(tmp_path / "missing.json")
    with pytest.raises(InputError, match="no video files"):
        load_videos(tmp_path)
    with pytest.raises(ConfigError, match="split_ratios"):
        load_videos(tmp_path, (1, 1))
    (tmp_path / "empty.json").write_text(json.dumps({"videos": []}))
    with pytest.raises(ConfigError, match="non-empty 'videos'"):
        load_videos(tmp_path / "empty.json")
