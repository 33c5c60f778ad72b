"""Yaw and light on aligned crops: sign conventions, mirror symmetry, the brightness-ramp check, sizes, errors,
and the ``analyze`` CLI contract (one JSON object per input and line, errors included)."""
from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from conftest import DATA, real_crop, shared_data_or_skip
from headrot_core.analysis import FaceAnalysis, analyze_batch, analyze_crop


def mirror(img: Image.Image) -> Image.Image:
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def ramp(img: Image.Image, gain: float) -> Image.Image:
    """Multiplies by 1 + gain * x, x from -0.5 (left edge) to 0.5: gain > 0 lights the image's right side."""
    arr = np.asarray(img, np.float32)
    x = (np.arange(arr.shape[1]) + 0.5) / arr.shape[1] - 0.5
    return Image.fromarray(np.clip(arr * (1 + gain * x)[None, :, None] + 0.5, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def annotated_crops() -> list[tuple[Image.Image, float]]:
    """Up to 40 held-out annotated crops from shard 0 (identity % 20 == 0)."""
    from headrot_core.build.data import is_holdout, load_annotations

    shared_data_or_skip()
    ann = load_annotations(DATA / "annotations.csv")
    out = []
    with tarfile.open(DATA / "celeba128" / "shard-00.tar") as tar:
        for member in tar:
            a = ann.get(member.name.removesuffix(".webp"))
            if a and a.yaw is not None and is_holdout(a.identity) and abs(a.yaw) <= 40:
                out.append((Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB"), a.yaw))
                if len(out) == 40:
                    break
    return out


def test_result_type_and_fields():
    r = analyze_crop(real_crop("first"))
    assert isinstance(r, FaceAnalysis)
    assert isinstance(r.yaw, float) and isinstance(r.light_score, float)
    assert r.light in ("left", "center", "right")
    d = r.to_dict()
    assert {"yaw", "light", "light_score"} <= set(d)
    json.dumps(d)


def test_yaw_matches_held_out_annotations_at_64_and_128(annotated_crops):
    for size in (64, 128):
        pred = np.array([analyze_crop(img.resize((size, size), Image.LANCZOS) if size != 128 else img).yaw
                         for img, _ in annotated_crops])
        true = np.array([y for _, y in annotated_crops])
        assert np.abs(pred - true).mean() < 5.0, size
        assert np.corrcoef(pred, true)[0, 1] > 0.9


def test_yaw_sign_follows_the_dataset():
    # 000004: annotated yaw -38 (nose towards the image's right)
    assert analyze_crop(real_crop("000004")).yaw < -25
    assert analyze_crop(mirror(real_crop("000004"))).yaw > 25


def test_mirror_flips_yaw_and_light_exactly(annotated_crops):
    flip = {"left": "right", "right": "left", "center": "center"}
    for img, _ in annotated_crops[:15]:
        a, b = analyze_crop(img), analyze_crop(mirror(img))
        assert abs(a.yaw + b.yaw) < 1e-6
        assert abs(a.light_score + b.light_score) < 1e-9
        assert b.light == flip[a.light]


def test_brightness_ramp_moves_the_light_score_monotonically(annotated_crops):
    for img, _ in annotated_crops[:4]:
        scores = [analyze_crop(ramp(img, g)).light_score for g in np.linspace(-0.8, 0.8, 7)]
        assert np.all(np.diff(scores) > 0), scores
    # a strong ramp gives the class of its side
    img = annotated_crops[0][0]
    assert analyze_crop(ramp(img, 1.2)).light == "right"
    assert analyze_crop(ramp(img, -1.2)).light == "left"


def test_sizes_agree_and_inputs_are_checked():
    crop = real_crop("first")
    a128 = analyze_crop(crop)
    a64 = analyze_crop(crop.resize((64, 64), Image.LANCZOS))
    arr = analyze_crop(np.asarray(crop))
    assert abs(a128.yaw - a64.yaw) < 4 and abs(a128.yaw - arr.yaw) < 1e-9
    with pytest.raises(ValueError, match="square"):
        analyze_crop(Image.new("RGB", (64, 80)))
    with pytest.raises(ValueError):
        analyze_crop(Image.new("RGB", (8, 8)))
    assert [r.yaw for r in analyze_batch([np.asarray(crop)])] == [a128.yaw]


def test_flat_grey_crop_does_not_crash():
    r = analyze_crop(Image.new("RGB", (64, 64), (128, 128, 128)))
    assert np.isfinite(r.yaw) and r.light == "center" and abs(r.light_score) < 1e-6


def test_cli_analyze_json_one_line_per_input(tmp_path, capsys):
    from headrot_core.cli import main

    data = shared_data_or_skip()
    crop = tmp_path / "crop.png"
    real_crop("000004").save(crop)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    blank = tmp_path / "blank.png"
    Image.new("RGB", (300, 300), "grey").save(blank)
    status = main(["analyze", str(data / "photos" / "000004.jpg"), str(broken), str(blank), "--json"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert status == 1 and len(lines) == 3
    rows = [json.loads(line) for line in lines]
    assert {"yaw", "light", "light_score", "faces", "crop_quad"} <= set(rows[0])
    assert rows[0]["faces"] == 1 and np.array(rows[0]["crop_quad"]).shape == (4, 2)
    assert rows[0]["yaw"] < -25
    assert "error" in rows[1] and "error" in rows[2] and "no face" in rows[2]["error"]
    assert main(["analyze", str(crop), "--aligned", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["yaw"] < -25 and "faces" not in row
