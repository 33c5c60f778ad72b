"""The ``label`` job: CSV format in the cache, loader round trip, resuming from finished chunks, the CLI."""
from __future__ import annotations

import csv
import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from conftest import DATA, shared_data_or_skip
from headrot_core.build import labels as labels_mod
from headrot_core.build.data import cache_dir
from headrot_core.build.labels import LabelSet, label_dataset, labels_path, load_labels


@pytest.fixture(scope="module")
def crop_folder(tmp_path_factory):
    """Ten real crops from shard 0 as PNG files in a temp folder (never in the repository)."""
    shared_data_or_skip()
    folder = tmp_path_factory.mktemp("crops")
    with tarfile.open(DATA / "celeba128" / "shard-00.tar") as tar:
        for k, member in enumerate(tar):
            if k == 10:
                break
            img = Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB")
            img.save(folder / member.name.replace(".webp", ".png"))
    return folder


def test_labels_path_is_in_the_cache_and_tracks_the_model():
    path = labels_path()
    assert cache_dir() in path.parents
    assert path.name.startswith("celeba128-") and labels_mod.model_hash() in path.name


def test_label_dataset_writes_the_documented_csv(crop_folder):
    out = label_dataset(crop_folder, workers=1, progress=False)
    assert out.exists() and cache_dir() in out.parents
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["image_id", "yaw", "light", "light_score"]
    assert len(rows) == 11 and [r[0] for r in rows[1:]] == sorted(p.stem for p in crop_folder.glob("*.png"))
    labels = load_labels(out)
    assert isinstance(labels, LabelSet) and len(labels) == 10
    assert set(labels.light) <= {"left", "center", "right"} and sum(labels.counts().values()) == 10
    assert np.all(np.abs(labels.yaw) < 90)
    from headrot_core.analysis import analyze_crop

    first = analyze_crop(Image.open(crop_folder / f"{labels.ids[0]}.png"))
    row = labels.row(labels.ids[0])
    assert row["light"] == first.light and abs(row["yaw"] - first.yaw) < 0.01
    assert abs(row["light_score"] - first.light_score) < 1e-3
    assert not list(out.parent.glob("*.parts"))  # work files are cleaned up


def test_label_dataset_resumes_from_finished_chunks(crop_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(labels_mod, "CHUNK", 4)
    out = tmp_path / "resume.csv"
    parts = out.with_suffix(".parts")
    parts.mkdir()
    # a chunk "finished earlier" with recognisable values: it must be reused, not recomputed
    np.savez(parts / f"{0:07d}.npz", yaw=np.full(4, 77.0, np.float32), light=np.array(["left"] * 4),
             score=np.full(4, -0.5, np.float32))
    label_dataset(crop_folder, out=out, workers=2, progress=False)
    labels = load_labels(out)
    assert np.all(labels.yaw[:4] == 77.0) and np.all(labels.light[:4] == "left")
    assert np.all(labels.yaw[4:] != 77.0) and len(labels) == 10
    # an existing CSV is returned as it is, unless forced
    assert label_dataset(crop_folder, out=out, progress=False) == out
    label_dataset(crop_folder, out=out, workers=1, force=True, progress=False)
    assert np.all(load_labels(out).yaw[:4] != 77.0)


def test_missing_labels_say_how_to_make_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="headrot_core label"):
        load_labels(tmp_path / "none.csv")


def test_cli_label(crop_folder, tmp_path, capsys):
    from headrot_core.cli import main

    out = tmp_path / "cli.csv"
    assert main(["label", "--data", str(crop_folder), "--out", str(out), "--workers", "1"]) == 0
    assert "10 labels" in capsys.readouterr().out and out.exists()
