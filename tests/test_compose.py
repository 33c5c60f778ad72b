"""Pasting frames back into the photo: the photo untouched outside the quad, no seam, colour matched, any size."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from headrot_core.compose import (frame_placement, harmonic_fill, inner_crop, paste_frames, quad_box, quad_similarity,
                                  seam_jump, shrink)
from headrot_core.face import warp

from conftest import DATA, shared_data_or_skip


def textured_photo(w: int = 320, h: int = 260, seed: int = 0) -> Image.Image:
    """Smooth colour gradients plus fine texture, so the photo has gradients of its own everywhere."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    base = np.stack([120 + 80 * xx, 90 + 100 * yy, 160 - 60 * xx * yy], -1)
    noise = rng.normal(0, 6, (h // 2, w // 2, 3)).repeat(2, 0).repeat(2, 1)[:h, :w]
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def rotated_quad(cx: float, cy: float, side: float, degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * side / 2
    return corners @ rot.T + [cx, cy]


def crop_of(photo: Image.Image, quad, size: int) -> Image.Image:
    """The photo's aligned crop at ``size`` px: what a frame at the source's own yaw is."""
    return Image.fromarray(warp(np.asarray(photo), quad_similarity(quad, size), (size, size)))


def inside_quad(quad, size: tuple[int, int]) -> np.ndarray:
    import cv2

    mask = np.zeros(size[::-1], np.uint8)
    cv2.fillConvexPoly(mask, np.round(np.asarray(quad) - 0.5).astype(np.int32), 1)
    return mask.astype(bool)


QUAD = rotated_quad(170, 120, 150, 12)


@pytest.mark.parametrize("size", [64, 256])
def test_the_source_frame_leaves_the_photo_as_it_was(size):
    photo = textured_photo()
    out = paste_frames(photo, QUAD, [crop_of(photo, QUAD, size)])[0]
    assert out.size == photo.size
    a, b = np.asarray(out, float), np.asarray(photo, float)
    outside = ~inside_quad(QUAD, photo.size)
    x0, y0, x1, y1 = quad_box(QUAD, photo.size)
    outside_box = np.ones(outside.shape, bool)
    outside_box[y0:y1, x0:x1] = False
    assert np.array_equal(a[outside_box], b[outside_box]), "pixels outside the quad's box are never touched"
    assert np.abs(a - b)[outside].mean() < 1 / 255
    assert np.abs(a - b)[~outside].mean() < 6, "inside: the photo again, up to the frame's resolution"
    assert seam_jump(out, photo, QUAD) < 1.1


def test_a_frame_drawn_over_the_photo_around_the_crop_goes_into_the_grown_quad():
    """A frame larger than the crop (``crop_px``) is the crop with the photo around it: it goes into the crop's quad
    grown about its centre, so the photo itself, drawn that way, comes back as it was; pasted into the crop's quad
    (no ``crop_px``), the same frame would be squeezed in, the face shrunk to two thirds."""
    yy, xx = np.mgrid[0:380, 0:420]
    rings = 127 + 100 * np.sin(np.hypot(xx - 170, yy - 150) / 6.0)  # structure a squeeze would move
    photo = Image.fromarray(np.clip(np.asarray(textured_photo(420, 380), float) * 0.5 + rings[..., None] * 0.5, 0,
                                    255).astype(np.uint8))
    quad = rotated_quad(210, 190, 150, 12)
    grown, feather = frame_placement(quad, 192, 128)
    assert np.allclose(grown.mean(0), np.asarray(quad).mean(0)) and feather == pytest.approx(0.12 * 128 / 192)
    assert np.allclose(np.linalg.norm(grown[1] - grown[0]), 1.5 * np.linalg.norm(quad[1] - quad[0]))
    framed = crop_of(photo, grown, 192)
    assert np.abs(np.asarray(inner_crop(framed, 128), float) - np.asarray(crop_of(photo, quad, 128), float)).mean() < 4
    out = paste_frames(photo, quad, [framed], crop_px=128)[0]
    squeezed = paste_frames(photo, quad, [framed])[0]
    a, b = np.asarray(out, float), np.asarray(photo, float)
    face = inside_quad(quad, photo.size)
    assert np.abs(a - b).mean() < 1.0 and np.abs(a - b)[face].mean() < 4
    assert np.abs(np.asarray(squeezed, float) - b)[face].mean() > 4 * np.abs(a - b)[face].mean()
    assert paste_frames(photo, quad, [crop_of(photo, quad, 128)], crop_px=128)[0].tobytes() == \
        paste_frames(photo, quad, [crop_of(photo, quad, 128)])[0].tobytes(), "a crop-sized frame: as before"


def test_a_mismatched_frame_leaves_no_seam_and_the_metric_sees_a_hard_one():
    """A frame tinted all over (what the border ring sees) with a dark disc in the middle (what the model changed):
    the tint is matched away, the disc stays, and no edge appears along the quad."""
    photo = textured_photo()
    frame = np.asarray(crop_of(photo, QUAD, 64)).astype(float)
    yy, xx = np.mgrid[0:64, 0:64]
    disc = (xx - 31.5) ** 2 + (yy - 31.5) ** 2 < 10 ** 2
    frame = frame + [40, -30, 25] - 60 * disc[..., None]
    frame = Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8))
    hard = paste_frames(photo, QUAD, [frame], feather=0, match_colour=False)[0]
    soft = paste_frames(photo, QUAD, [frame])[0]
    assert seam_jump(hard, photo, QUAD, feather=0) > 2.5, "a colour step along the quad is a jump"
    assert seam_jump(soft, photo, QUAD) < 1.2
    change = np.asarray(soft, float) - np.asarray(photo, float)
    centre = inside_quad(rotated_quad(170, 120, 25, 12), photo.size)
    ring = inside_quad(rotated_quad(170, 120, 110, 12), photo.size) & ~inside_quad(rotated_quad(170, 120, 80, 12),
                                                                                   photo.size)
    assert np.abs(change[ring].mean(0)).max() < 4, "the tint is matched to the photo"
    assert change[centre].mean() < -40, "what the frame changed inside is kept"


def test_frames_of_any_size_and_order_come_back_in_order():
    photo = textured_photo()
    frames = [Image.new("RGB", (s, s), c) for s, c in ((64, (255, 0, 0)), (256, (0, 0, 255)), (100, (0, 255, 0)))]
    outs = paste_frames(photo, QUAD, frames, match_colour=False)
    centre = [np.asarray(o)[120, 170] for o in outs]
    assert [int(np.argmax(c)) for c in centre] == [0, 2, 1]
    assert all(o.size == photo.size for o in outs)


def test_a_quad_past_the_edge_or_outside_the_photo():
    photo = textured_photo()
    edge = rotated_quad(20, 30, 120, -8)
    out = paste_frames(photo, edge, [Image.new("RGB", (64, 64), (0, 0, 0))], match_colour=False)[0]
    assert np.asarray(out)[30, 20].max() < 10, "the part inside the photo is pasted"
    gone = rotated_quad(-500, -500, 100, 0)
    assert np.array_equal(np.asarray(paste_frames(photo, gone, [Image.new("RGB", (64, 64))])[0]), np.asarray(photo))


def test_harmonic_fill_keeps_the_border_and_reproduces_linear_ramps():
    yy, xx = np.mgrid[0:33, 0:33].astype(float)
    ramp = np.stack([2 * xx - yy, np.full_like(xx, 7.0)], -1)
    border_only = ramp.copy()
    border_only[1:-1, 1:-1] = 0
    filled = harmonic_fill(border_only)
    assert np.allclose(filled, ramp, atol=1e-3), "a harmonic function is its own membrane"
    assert np.array_equal(filled[0], ramp[0].astype(np.float32))


def test_shrink_bounds_the_long_side_and_carries_the_quad():
    photo = textured_photo(640, 480)
    quad = rotated_quad(300, 200, 240, 5)
    small, q = shrink(photo, quad, 320)
    assert small.size == (320, 240)
    assert np.allclose(q, quad / 2)
    same, q1 = shrink(photo, quad, 2000)
    assert same.size == photo.size and np.allclose(q1, quad)
    frame = crop_of(photo, quad, 64)
    a = np.asarray(paste_frames(small, q, [frame])[0], float)
    b = np.asarray(paste_frames(photo, quad, [frame])[0].resize(small.size, Image.LANCZOS), float)
    assert np.abs(a - b).mean() < 2, "pasting into the display size is the full-size paste, shrunk"


def test_a_real_1024px_photo_at_its_own_yaw():
    shared_data_or_skip()
    from headrot_core.face import align_face

    path = DATA / "hq1024" / "000508.jpg"
    if not path.is_file():
        pytest.skip("no hq1024 photos in ../shared/data")
    photo = Image.open(path).convert("RGB")
    face = align_face(photo, size=128)
    frame = face.crop.resize((64, 64), Image.LANCZOS)  # the model's frame at the source's own yaw
    out = paste_frames(photo, face.crop_quad, [frame])[0]
    diff = np.abs(np.asarray(out, float) - np.asarray(photo, float))
    assert diff[~inside_quad(face.crop_quad, photo.size)].mean() < 1 / 255
    assert seam_jump(out, photo, face.crop_quad) < 1.1


def test_a_frame_at_the_photos_resolution_is_pasted_back_as_sharp():
    """A frame as large as the face in the photo keeps the photo's fine detail once pasted: one bicubic resample.
    On pixel-scale noise it keeps 0.60 of it (the frame was itself resampled once); a resize to the quad's side and
    then a bilinear warp into the photo kept 0.33."""
    import cv2

    rng = np.random.default_rng(1)
    fine = rng.normal(128, 30, (260, 320, 3))  # pixel-scale texture: what a resample blurs first
    photo = Image.fromarray(np.clip(fine, 0, 255).astype(np.uint8))
    quad = rotated_quad(160.3, 130.6, 151, 7)
    frame = Image.fromarray(warp(np.asarray(photo), quad_similarity(quad, 151), (151, 151),
                                 interpolation=cv2.INTER_LANCZOS4))
    out = paste_frames(photo, quad, [frame], match_colour=False)[0]

    def detail(a):
        g = cv2.cvtColor(np.asarray(a), cv2.COLOR_RGB2GRAY).astype(np.float64)
        return (g - cv2.GaussianBlur(g, (0, 0), 1.0)) ** 2

    middle = inside_quad(rotated_quad(160.3, 130.6, 90, 7), photo.size)
    kept = detail(out)[middle].mean() / detail(photo)[middle].mean()
    assert kept > 0.5, f"the paste kept {kept:.2f} of the photo's fine detail"
