"""The app's photographs of real people (scripts/public_photos.py): copied byte for byte from pinned wheels, each
checked by its hash, each a photo in which the app finds one face."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import zipfile
from pathlib import Path

import pytest

from headrot_core.face import align_face

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "assets" / "examples"
_spec = importlib.util.spec_from_file_location("public_photos", ROOT / "scripts" / "public_photos.py")
public_photos = sys.modules["public_photos"] = importlib.util.module_from_spec(_spec)  # for its dataclass
_spec.loader.exec_module(public_photos)


def fake_wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_member_bytes_refuses_a_changed_or_missing_picture(tmp_path):
    data = b"a picture"
    wheel = fake_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", {"pkg/data/face.png": data})
    assert public_photos.member_bytes(wheel, "pkg/data/face.png", hashlib.sha256(data).hexdigest()) == data
    with pytest.raises(ValueError, match="SHA-256"):
        public_photos.member_bytes(wheel, "pkg/data/face.png", hashlib.sha256(b"another").hexdigest())
    with pytest.raises(ValueError, match="has no pkg/data/other.png"):
        public_photos.member_bytes(wheel, "pkg/data/other.png", "0" * 64)


def test_write_portraits_copies_each_from_its_wheel_and_records_it(tmp_path, monkeypatch):
    pictures = {"A": b"first", "B": b"second"}
    portraits = tuple(public_photos.Portrait(f"public_0{i}.png", who, "a credit", f"pkg{i}==1.0", f"pkg{i}/{who}.png",
                                             hashlib.sha256(data).hexdigest())
                      for i, (who, data) in enumerate(pictures.items(), 1))
    monkeypatch.setattr(public_photos, "PORTRAITS", portraits)
    wheels = {p.package: fake_wheel(tmp_path / f"pkg{i}-1.0-py3-none-any.whl", {p.member: pictures[p.who]})
              for i, p in enumerate(portraits, 1)}
    out = tmp_path / "examples"
    public_photos.write_portraits(out, wheels)
    assert (out / "public_01.png").read_bytes() == b"first" and (out / "public_02.png").read_bytes() == b"second"
    rows = json.loads((out / "public.json").read_text())["portraits"]
    assert [r["who"] for r in rows] == ["A", "B"] and rows[0]["package"] == "pkg1==1.0"


def test_shipped_portraits_are_the_pinned_files_each_with_one_face():
    manifest = EXAMPLES / public_photos.MANIFEST
    if not manifest.is_file():
        pytest.skip("no public portraits (python scripts/public_photos.py)")
    rows = json.loads(manifest.read_text())["portraits"]
    assert [r["file"] for r in rows] == [p.file for p in public_photos.PORTRAITS]
    for r in rows:
        path = EXAMPLES / r["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == r["sha256"]
        face = align_face(path, 128)
        assert face.faces == 1 and face.crop.size == (128, 128)
