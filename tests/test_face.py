"""Detection and alignment: geometry helpers, input formats and modes, EXIF, sizes, several faces, no face,
rotation, pasting back. Real faces come from ../shared/data/photos (skipped when absent)."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from conftest import DATA, shared_data_or_skip
from headrot_core import face
from headrot_core.face import BOX_CORNERS, NoFaceError, align_face


def photo(image_id: str = "000271") -> Image.Image:
    shared_data_or_skip()
    return Image.open(DATA / "photos" / f"{image_id}.jpg").convert("RGB")


def corner_error(quad: np.ndarray, truth: np.ndarray, side: float) -> float:
    return float(np.linalg.norm(np.asarray(quad) - truth, axis=1).mean() / side)


# ------------------------------------------------------------------------------------------- geometry (no data)


def test_similarity_fit_recovers_a_known_transform_and_inverts():
    rng = np.random.default_rng(0)
    a, s = math.radians(17), 1.7
    m = np.array([[s * math.cos(a), -s * math.sin(a), 12.0], [s * math.sin(a), s * math.cos(a), -4.0]])
    src = rng.uniform(0, 100, (10, 2))
    fit = face.similarity_fit(src, face.apply(m, src))
    assert np.allclose(fit, m, atol=1e-9)
    assert np.allclose(face.apply(face.invert(m), face.apply(m, src)), src)
    assert np.allclose(face.compose(face.invert(m), m), [[1, 0, 0], [0, 1, 0]], atol=1e-12)


def test_warp_uses_continuous_pixel_coordinates():
    src = np.zeros((20, 20), np.uint8)
    src[5, 7] = 255  # pixel centre (7.5, 5.5)
    shift = np.array([[1.0, 0, 3.0], [0, 1.0, 2.0]])  # dst -> src: dst pixel (4, 3) samples src (7, 5)
    out = face.warp(src, shift, (20, 20))
    assert out[3, 4] == 255 and out.sum() == 255
    big = np.kron(src, np.ones((4, 4), np.uint8))  # the same picture at 4x: shrinking must anti-alias it back
    shrunk = face.warp(big, np.array([[4.0, 0, 0], [0, 4.0, 0]]), (20, 20))
    assert shrunk[5, 7] > 200 and shrunk.sum() < 2 * 255


def test_mirror_permutation_is_an_involution():
    assert sorted(face.MIRROR_68) == list(range(68))
    assert np.array_equal(face.MIRROR_68[face.MIRROR_68], np.arange(68))


def test_canonical_landmarks_are_symmetric_and_inside_the_crop_box():
    canon = face.face_model()["canonical_landmarks"]
    mirrored = canon[face.MIRROR_68].copy()
    mirrored[:, 0] = face.FRAME_SIZE[0] - mirrored[:, 0]
    assert np.allclose(mirrored, canon, atol=1e-6)
    assert (canon[:, 0] > 25).all() and (canon[:, 0] < 153).all() and (canon[:, 1] > 57).all()


# ------------------------------------------------------------------------------------------- no face / bad input


def test_blank_and_noise_images_raise_no_face_error():
    rng = np.random.default_rng(0)
    for arr in (np.full((200, 300, 3), 128, np.uint8), rng.integers(0, 256, (240, 240, 3), dtype=np.uint8)):
        with pytest.raises(NoFaceError, match="no face found"):
            align_face(arr)
    assert issubclass(NoFaceError, ValueError)


def test_cluttered_background_is_not_a_face():
    from headrot_core.measure.face_eval import random_background

    # this background gives weak HOG boxes that a lax check took for faces; the CNN verifier rejects them
    with pytest.raises(NoFaceError):
        align_face(random_background(np.random.default_rng(1), 1024, 768))


def test_unreadable_bytes_raise_image_error():
    from headrot_core.imaging import ImageError

    with pytest.raises(ImageError):
        align_face(b"definitely not an image")
    with pytest.raises(ValueError):
        align_face(np.zeros((64, 64, 3), np.uint8), size=2)


# ------------------------------------------------------------------------------------------- real faces


def test_aligned_photo_gives_the_shared_crop_and_consistent_matrices():
    img = photo()
    a = align_face(img, size=64)
    assert a.crop.size == (64, 64) and a.crop.mode == "RGB" and a.faces == 1
    assert a.crop_quad.shape == (4, 2) and a.matrix.shape == (2, 3)
    assert corner_error(a.crop_quad, BOX_CORNERS, 128) < 0.03  # the photo is already in the canonical frame
    # matrix maps the quad to the crop's corners, clockwise from the top-left
    assert np.allclose(face.apply(a.matrix, a.crop_quad), [[0, 0], [64, 0], [64, 64], [0, 64]], atol=1e-6)
    # the crop equals the photo's own box, resized (within JPEG + resampling noise)
    truth = np.asarray(img.crop((25, 57, 153, 185)).resize((64, 64), Image.LANCZOS), np.float32)
    assert np.abs(np.asarray(a.crop, np.float32) - truth).mean() < 12
    assert align_face(img, size=200).crop.size == (200, 200)


@pytest.mark.parametrize("fmt,mode", [("PNG", "RGBA"), ("WEBP", "RGB"), ("BMP", "L"), ("TIFF", "RGB"),
                                      ("PNG", "P"), ("PNG", "I;16")])
def test_formats_and_modes(fmt, mode):
    img = photo()
    if mode == "I;16":
        conv = Image.fromarray((np.asarray(img.convert("L"), np.uint16) * 257))
    else:
        conv = img.convert(mode)
    buf = io.BytesIO()
    conv.save(buf, format=fmt)
    a = align_face(buf.getvalue(), size=64)
    assert a.faces == 1 and corner_error(a.crop_quad, BOX_CORNERS, 128) < 0.04


def test_exif_orientation_is_honoured():
    img = photo()
    stored = img.transpose(Image.Transpose.ROTATE_90)  # stored sideways; orientation 6 rotates it back upright
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    a = align_face(buf.getvalue(), size=64)
    assert corner_error(a.crop_quad, BOX_CORNERS, 128) < 0.04  # in the upright photo's coordinates


@pytest.mark.parametrize("long_side", [32, 48, 1500])
def test_small_and_large_inputs(long_side):
    img = photo()
    s = long_side / 218
    small = img.resize((round(178 * s), long_side), Image.LANCZOS)
    a = align_face(small, size=64)
    truth = BOX_CORNERS * np.array([small.width / 178, small.height / 218])
    assert corner_error(a.crop_quad, truth, 128 * s) < 0.06


def test_small_face_in_a_big_photo():
    from headrot_core.measure.face_eval import random_background

    img = photo().resize((231, 283), Image.LANCZOS)  # face box 166 px: 1/18 of the long side
    canvas = Image.fromarray(random_background(np.random.default_rng(2), 3000, 2000))
    canvas.paste(img, (1500, 900))
    a = align_face(canvas, size=64)
    assert corner_error(a.crop_quad, BOX_CORNERS * 1.3 + np.array([1500, 900]), 128 * 1.3) < 0.04


def test_rotated_scaled_photo_on_a_background():
    from headrot_core.measure.face_eval import transformed_photo

    shared_data_or_skip()
    rng = np.random.default_rng(3)
    errors = []
    for angle, scale in ((24.0, (0.6, 0.6)), (-24.0, (2.5, 2.5))):
        img, quad, s = transformed_photo(np.asarray(photo()), rng, scale_range=scale, max_rot=0.0)
        # rotate the whole canvas by `angle` about its centre: truth moves with it
        h, w = img.shape[:2]
        a = math.radians(angle)
        lin = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        m = np.hstack([lin, (np.array([w / 2, h / 2]) - lin @ np.array([w / 2, h / 2]))[:, None]])
        rotated = face.warp(img, face.invert(m), (w, h))
        res = align_face(rotated, size=64)
        errors.append(corner_error(res.crop_quad, face.apply(m, quad), 128 * s))
    assert max(errors) < 0.05


def test_several_faces_counts_them_and_takes_the_largest():
    img = photo()
    canvas = Image.new("RGB", (600, 400), (90, 120, 150))
    canvas.paste(img, (10, 150))                                 # 1x
    canvas.paste(img.resize((356, 436)).crop((0, 36, 356, 436)), (240, 0))  # 2x, cut at the top: largest
    canvas.paste(img.resize((160, 196)), (90, 0))                # 0.9x
    a = align_face(canvas, size=64)
    assert a.faces == 3
    truth = BOX_CORNERS * 2 + np.array([240, -36])
    assert corner_error(a.crop_quad, truth, 256) < 0.04


def test_paste_back_restores_the_photo_around_and_inside_the_face():
    img = photo()
    a = align_face(img, size=128)
    back = np.asarray(a.paste_back(img, a.crop), np.float32)
    orig = np.asarray(img, np.float32)
    assert back.shape == orig.shape
    assert np.abs(back - orig)[70:170, 40:140].mean() < 6       # inside: the crop resampled twice
    assert np.abs(back - orig)[:40].max() == 0                   # far outside: untouched
    white = a.paste_back(img, Image.new("RGB", (64, 64), "white"))
    assert np.asarray(white)[121, 89].min() == 255               # the face centre is replaced
    with pytest.raises(ValueError):
        a.paste_back(img.resize((100, 100)), a.crop)
