"""The landmark renderer: the photo warped so its landmarks move as the landmarks of the model's decodings do."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import real_crop
from headrot_core import HeadRotator
from headrot_core.analysis import analyze_crop, crop_landmarks
from headrot_core.build.face_fit import fit_yaw_shape
from headrot_core.diffusion import images_to_tensor, tensor_to_images
from headrot_core.latent import last
from headrot_core.measure.evaluation import realigned
from headrot_core.render.landmarks import (EYES, FOREHEAD, WORK_PX, LandmarkSettings, _controls, backward_map,
                                           bounded_turn, frame_for_turn, landmark_frame_steps, landmark_frames,
                                           mirror_turned, turn_of, turned_landmarks)


def test_the_yaw_shape_fit_recovers_a_quadratic():
    rng = np.random.default_rng(0)
    yaws = rng.uniform(-45, 45, 400)
    lin, quad = rng.normal(size=136), rng.normal(size=136) * 0.01
    feats = 0.3 + np.outer(yaws, lin) + np.outer(yaws ** 2, quad) + rng.normal(scale=1e-3, size=(400, 136))
    fit = fit_yaw_shape(feats, yaws)
    assert np.allclose(fit["yaw_shape_lin"], lin, atol=1e-3) and np.allclose(fit["yaw_shape_quad"], quad, atol=1e-4)


def test_the_shapes_own_turn_is_read_back():
    """Landmarks moved by the mean shape change of a 20 degree turn read as a 20 degree turn."""
    pts = crop_landmarks(np.asarray(real_crop("000100")))
    turned = turned_landmarks(pts, -20.0, 20.0, LandmarkSettings().turn_axis)
    assert turn_of(turned, pts) == pytest.approx(20.0, abs=2.0)
    assert turn_of(pts, pts) == 0.0


def test_the_head_turns_about_the_axis_by_its_ears():
    """Anchored (the default), a turn leaves the jaw line's ends in their place across the picture and carries the
    nose sideways, towards the turn's side; unanchored, the landmarks' mean stays and the jaw swings the other way.
    Either way the shape reads as the same turn."""
    pts = crop_landmarks(np.asarray(real_crop("000100")))
    axis = LandmarkSettings().turn_axis
    anchored, free = turned_landmarks(pts, -20.0, 30.0, axis), turned_landmarks(pts, -20.0, 30.0, None)
    assert anchored[list(axis), 0].mean() == pytest.approx(pts[list(axis), 0].mean(), abs=0.5)
    assert free.mean(0)[0] == pytest.approx(pts.mean(0)[0], abs=0.5)
    nose_shift = anchored[30, 0] - pts[30, 0]
    assert abs(nose_shift) > 5.0 and abs(free[list(axis), 0].mean() - pts[list(axis), 0].mean()) > 5.0
    assert np.sign(nose_shift) != np.sign(free[list(axis), 0].mean() - pts[list(axis), 0].mean())
    assert turn_of(anchored, pts) == pytest.approx(turn_of(free, pts), abs=1e-6)


def test_an_unmoved_decoding_gives_back_the_photo_at_its_resolution():
    crop = images_to_tensor([real_crop("000100", 256)], 256)
    base = images_to_tensor([real_crop("000100")], 64)
    out = landmark_frames(crop, base, base)
    assert out.shape == (1, 3, 256, 256)
    assert (out - crop).abs().max() < 2 / 255


def test_a_decoding_that_turned_turns_the_photo():
    """A decoding that shows the face mirrored (turned from its yaw to minus it) turns the photo itself there: the
    landmark estimator reads about minus the photo's yaw (within 10 degrees of a 40 degree turn) on a frame that is
    the photo's own pixels warped, when the mirror image is not allowed to stand in. The head turns about the axis by
    its ears, so the face moves sideways in the crop: it is read re-aligned, like a photo."""
    photo = real_crop("000100")  # yaw about -20
    yaw = analyze_crop(photo).yaw
    x = images_to_tensor([photo], 64)
    warped = LandmarkSettings(mirror_turn=None)
    frame = tensor_to_images(landmark_frames(images_to_tensor([photo], 128), torch.flip(x, dims=[3]), x, warped))[0]
    reached = analyze_crop(realigned([frame], 128)[0]).yaw
    assert reached == pytest.approx(-yaw, abs=10.0)
    assert np.sign(reached) != np.sign(yaw)
    mirror = np.asarray(photo)[:, ::-1].astype(float)
    assert np.abs(np.asarray(frame, float) - mirror).mean() > 5.0, "a warp of the photo, not its mirror image"


def test_far_past_frontal_the_mirror_image_is_turned_instead():
    """The same 40 degree turn is no turn at all for the photo's mirror image, which is at minus the photo's yaw:
    by default the frame is that mirror image, barely warped; a 10 degree turn stays with the photo."""
    photo = real_crop("000100")
    x = images_to_tensor([photo], 64)
    crop = images_to_tensor([photo], 128)
    frame = tensor_to_images(landmark_frames(crop, torch.flip(x, dims=[3]), x))[0]
    warped = tensor_to_images(landmark_frames(crop, torch.flip(x, dims=[3]), x, LandmarkSettings(mirror_turn=None)))[0]
    mirror = np.asarray(photo)[:, ::-1].astype(float)
    assert np.abs(np.asarray(frame, float) - mirror).mean() < 0.2 * np.abs(np.asarray(warped, float) - mirror).mean()
    src = np.asarray(photo).astype(np.float32)
    pts = crop_landmarks(photo)
    yaw = analyze_crop(photo).yaw
    near, drawn = frame_for_turn(src, src[:, ::-1].copy(), pts, crop_landmarks(mirror.astype(np.uint8)), yaw, 10.0,
                                 LandmarkSettings())
    assert np.abs(near - src).mean() < np.abs(near - src[:, ::-1]).mean() and drawn == pytest.approx(10.0)
    _, drawn = frame_for_turn(src, src[:, ::-1].copy(), pts, crop_landmarks(mirror.astype(np.uint8)), yaw, -2 * yaw,
                              LandmarkSettings())
    assert drawn == pytest.approx(-2 * yaw), "the mirror image's turn, counted from the photo's own yaw"


def test_the_mirror_image_is_turned_only_when_that_warp_is_the_shorter_by_the_margin():
    """A photo at +15 degrees: to -30 its mirror image (at -15) needs a 15 degree warp against 45, to -15 none
    against 30; to frontal both are 15 degree warps, and turning further its own way the photo is always nearer."""
    s = LandmarkSettings()
    assert mirror_turned(15.0, -45.0, s) and mirror_turned(15.0, -30.0, s)
    assert not mirror_turned(15.0, -15.0, s) and not mirror_turned(15.0, 15.0, s)
    assert mirror_turned(15.0, -25.0, s) and not mirror_turned(15.0, -24.9, s), "warps of 5 against 25 degrees / 5.1 against 24.9"
    assert not mirror_turned(15.0, -45.0, LandmarkSettings(mirror_turn=None))


def test_a_stretch_limit_shortens_the_turn():
    """With the photo's stretch bounded, the mirrored decoding's 40 degree turn is cut short: the frame stays nearer
    the photo (each read re-aligned: the face moves in its crop as it turns)."""
    photo = real_crop("000100")
    x = images_to_tensor([photo], 64)
    crop = images_to_tensor([photo], 128)
    free_drawn = last(landmark_frame_steps(crop, torch.flip(x, dims=[3]), x, LandmarkSettings(mirror_turn=None)))
    bounded_drawn = last(landmark_frame_steps(crop, torch.flip(x, dims=[3]), x,
                                              LandmarkSettings(max_stretch=1.5, mirror_turn=None)))
    free, bounded = free_drawn.frames, bounded_drawn.frames
    assert (bounded - crop).abs().mean() < 0.5 * (free - crop).abs().mean()
    assert 0 < abs(bounded_drawn.turns[0]) < abs(free_drawn.turns[0]), "the turn drawn is the shortened one"
    yaw = analyze_crop(photo).yaw
    bounded_yaw, free_yaw = (analyze_crop(f).yaw for f in realigned(tensor_to_images(torch.cat([bounded, free])), 128))
    assert abs(bounded_yaw - yaw) < abs(free_yaw - yaw)


def test_engine_renders_landmark_frames_at_the_photos_resolution(tiny_rotator_dir):
    rot = HeadRotator.from_pretrained(tiny_rotator_dir, device="cpu", steps=4, decode="landmarks", feedback=True)
    rot.model.bf16 = False
    crop = real_crop()
    r = rot.rotate(crop, yaws=[-20, 0, 20], aligned=True)
    assert r.decode == "landmarks" and all(f.size == (128, 128) for f in r.frames)
    own = rot.rotate(crop, yaws=[r.source_yaw], aligned=True).frames[0]
    assert np.abs(np.asarray(own, float) - np.asarray(crop, float)).mean() < 2.0, "the source's own yaw: the photo"
    assert rot.frames_at(r, [7.0])[0].size == (128, 128)


def test_the_hidden_side_comes_from_the_mirror_image():
    """A 40 degree turn stretches the side the photo hides: there (and only inside the face, below the forehead) the
    frame is the mirror image warped onto the same landmarks; elsewhere it is the plain warp. A small turn uses no
    mirror."""
    from headrot_core.render.landmarks import (_controls, backward_map, mirror_share, pixel_stretch,
                                               turned_frame)

    photo = np.asarray(real_crop("000100"))
    mirrored = np.ascontiguousarray(photo[:, ::-1])
    s = LandmarkSettings()
    pts, yaw = crop_landmarks(photo), analyze_crop(photo).yaw
    src, src_m = _controls(pts, s), _controls(crop_landmarks(mirrored), s)
    dst = _controls(turned_landmarks(pts, yaw, -2 * yaw, s.turn_axis), s)
    share = mirror_share(pixel_stretch(*backward_map(src, dst, 128, s)), dst, s)
    assert share.max() > 0.9 and share[:12, :12].max() == 0 and share[-12:, -12:].max() == 0
    brows_top = int(dst[17:27, 1].min())
    assert share[:brows_top - 8].max() < 1e-3, "nothing above the brows: the mirror image's hairline blotted foreheads"
    frame = turned_frame(photo.astype(np.float32), mirrored.astype(np.float32), src, src_m, dst, s)
    plain = turned_frame(photo.astype(np.float32), mirrored.astype(np.float32), src, src_m, dst,
                         LandmarkSettings(mirror_from=1e9, mirror_full=2e9))
    assert np.abs(frame - plain)[share == 0].max() < 1e-3
    assert np.abs(frame - plain)[share > 0.9].mean() > 5.0
    small = _controls(turned_landmarks(pts, yaw, 2.0, s.turn_axis), s)
    assert mirror_share(pixel_stretch(*backward_map(src, small, 128, s)), small, s).max() == 0


def test_the_fill_takes_the_photos_light_and_the_mirror_images_detail():
    """A crop lit from one side (a ramp of brightness across it): its mirror image is lit from the other, so the fill
    would paste the shaded cheek onto the lit one. The fill by stretch keeps the warped photo's light (at the scale of
    ``mirror_light``) and the mirror image's detail (finer than it); for a whole hidden half the light is the mirror
    image's own."""
    import cv2

    from headrot_core.render.landmarks import (backward_map as bmap, mirror_share, pixel_stretch, turned_frame)

    crop = np.asarray(real_crop("000100")).astype(np.float32)
    photo = np.ascontiguousarray(np.clip(crop * np.linspace(1.3, 0.5, 128, dtype=np.float32)[None, :, None], 0, 255))
    mirrored = np.ascontiguousarray(photo[:, ::-1])
    s = LandmarkSettings()
    pts, yaw = crop_landmarks(photo.astype(np.uint8)), analyze_crop(crop.astype(np.uint8)).yaw
    src, src_m = _controls(pts, s), _controls(crop_landmarks(mirrored.astype(np.uint8)), s)
    dst = _controls(turned_landmarks(pts, yaw, -2 * yaw, s.turn_axis), s)
    filled = mirror_share(pixel_stretch(*bmap(src, dst, 128, s)), dst, s) > 0.9
    assert filled.sum() > 50
    light, own, plain = (turned_frame(photo, mirrored, src, src_m, dst, v) for v in
                         (s, replace(s, mirror_light=None), replace(s, mirror_from=1e9, mirror_full=2e9)))

    def low(img):
        return cv2.GaussianBlur(img, (0, 0), s.mirror_light)[filled]

    assert np.abs(low(light) - low(plain)).mean() < 0.5 * np.abs(low(own) - low(plain)).mean()
    core = cv2.erode(filled.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0  # away from the fill's soft edge

    def fine(img):
        return (img - cv2.GaussianBlur(img, (0, 0), 1.0))[core]

    assert np.abs(fine(light - own)).mean() < 0.35 * np.abs(fine(own - plain)).mean()
    assert np.array_equal(turned_frame(photo, mirrored, src, src_m, dst, s, half=1.0),
                          turned_frame(photo, mirrored, src, src_m, dst, replace(s, mirror_light=None), half=1.0))


def test_the_fills_light_is_blurred_at_the_splines_scale_as_at_full_size():
    """``coarse`` blurs a large frame's box worked out at WORK_PX scale: what the full-size blur gives, to within
    about 1/255 (nothing finer than the blur survives it), and the full-size blur itself at WORK_PX."""
    import cv2

    from headrot_core.render.landmarks import coarse

    rng = np.random.default_rng(0)
    for px in (128, 256, 640):
        scale = px / WORK_PX
        smooth = cv2.resize(rng.random((40, 32, 3)).astype(np.float32) * 100, (px // 2, px * 3 // 5),
                            interpolation=cv2.INTER_CUBIC)
        image = smooth + rng.random(smooth.shape).astype(np.float32) * 30
        full = cv2.GaussianBlur(image, (0, 0), 8.0 * scale)
        got = coarse(image, 8.0, scale)
        assert got.shape == image.shape
        assert np.abs(got - full).max() < (1e-4 if px == WORK_PX else 1.5)
        assert np.abs(got - full).mean() < 0.2


def test_the_fill_replaces_a_stretched_photo_only_with_a_less_stretched_mirror():
    """The mirror image fills in only where its own warp stretches it less than the photo's: with a mirror image
    never stretched the fill is as by the photo's stretch alone; with one stretched more everywhere there is none;
    with one stretched more on the right half only, the fill stays on the left (up to its soft edge)."""
    from headrot_core.render.landmarks import _controls, backward_map, mirror_share, pixel_stretch

    photo = np.asarray(real_crop("000100"))
    s = LandmarkSettings()
    pts, yaw = crop_landmarks(photo), analyze_crop(photo).yaw
    src = _controls(pts, s)
    dst = _controls(turned_landmarks(pts, yaw, -2 * yaw, s.turn_axis), s)
    stretched = pixel_stretch(*backward_map(src, dst, 128, s))
    alone = mirror_share(stretched, dst, s)
    assert alone.max() > 0.9
    assert np.array_equal(mirror_share(stretched, dst, s, fill_stretched=np.ones_like(stretched)), alone)
    assert mirror_share(stretched, dst, s, fill_stretched=stretched * 2).max() == 0
    cols = np.arange(128)[None, :].repeat(128, 0)
    split = mirror_share(stretched, dst, s, fill_stretched=np.where(cols < 64, 1.0, stretched * 2))
    assert np.allclose(split[:, :56], alone[:, :56], atol=0.02) and split[:, 72:].max() < 0.02


def test_frames_are_rendered_one_at_a_time_for_the_app():
    """The step-wise rendering (the app runs each step as its own model job) yields after each frame and ends with
    exactly the frames of the one-call rendering."""
    photo = real_crop("000100")
    x = images_to_tensor([photo], 64)
    crop, moved = images_to_tensor([photo], 128), torch.cat([x, torch.flip(x, dims=[3])])
    steps = list(landmark_frame_steps(crop, moved, x))
    assert len(steps) == 3 and steps[0] is None and steps[1] is None
    assert torch.equal(steps[-1].frames, landmark_frames(crop, moved, x))
    yaw = analyze_crop(photo).yaw
    assert steps[-1].turns[0] == 0.0, "the unmoved decoding: no turn"
    assert steps[-1].turns[1] == pytest.approx(-2 * yaw, abs=10.0), "the mirrored decoding: to minus the photo's yaw"


def test_turning_towards_frontal_fills_the_hidden_half_up_to_the_midline():
    """A photo at about -20 degrees turned to frontal: the mirror fills the whole half of the face that the warp
    stretches, up to the face's midline (a seam through the cheek showed the mirror face's outline as a second
    contour), and nothing on the other side; turning away from frontal keeps the fill by stretch alone."""
    from headrot_core.render.landmarks import _controls, backward_map, midline_offset, mirror_share, pixel_stretch

    photo = np.asarray(real_crop("000100"))
    s = LandmarkSettings()
    pts, yaw = crop_landmarks(photo), analyze_crop(photo).yaw
    dst = _controls(turned_landmarks(pts, yaw, -yaw, s.turn_axis), s)
    stretched = pixel_stretch(*backward_map(_controls(pts, s), dst, 128, s))
    by_stretch, whole = mirror_share(stretched, dst, s), mirror_share(stretched, dst, s, half=1.0)
    assert np.all(whole >= by_stretch - 1e-6)
    offset = midline_offset(dst, 128)
    rows = slice(int(dst[29, 1]), int(dst[57, 1]))  # from the nose down to the lower lip
    band = (np.abs(offset) > 6) & (np.abs(offset) < 14)  # beside the midline, inside the face
    hidden = band & (np.sign(offset) == np.sign((by_stretch * offset).sum()))
    seen = band & ~hidden
    assert whole[rows][hidden[rows]].mean() > by_stretch[rows][hidden[rows]].mean() + 0.2
    assert whole[rows][hidden[rows]].std() < 0.05, "one share over the whole half, not a seam through the cheek"
    assert whole[rows][seen[rows]].max() < 0.05
    src, mirrored = photo.astype(np.float32), photo[:, ::-1].astype(np.float32)
    pts_m = crop_landmarks(np.ascontiguousarray(photo[:, ::-1]))
    off = LandmarkSettings(mirror_half=None)
    for turn, differs in ((-yaw, True), (10.0 * np.sign(yaw), False)):
        frame, _ = frame_for_turn(src, mirrored, pts, pts_m, yaw, turn, s)
        plain, _ = frame_for_turn(src, mirrored, pts, pts_m, yaw, turn, off)
        assert (np.abs(frame - plain).mean() > 0.5) == differs


def test_the_hair_above_the_forehead_shifts_with_it_instead_of_shearing():
    """With the top edge following the forehead (the default), the map moves the crop's top row sideways as far as
    the forehead points and keeps the bottom corners still; held still, the hair between the forehead and the top
    edge is sheared by the whole move (the swirls and waved bangs seen at +-30)."""
    pts = crop_landmarks(np.asarray(real_crop("000100")))
    follow, still = LandmarkSettings(), LandmarkSettings(hair_follow=0.0)
    src = _controls(pts, follow)
    dst = _controls(turned_landmarks(pts, -20.0, 40.0, follow.turn_axis), follow)
    move = float(np.mean(dst[FOREHEAD, 0] - src[FOREHEAD, 0]))
    assert abs(move) > 10.0
    col, row = np.round(dst[FOREHEAD].mean(0)).astype(int)
    shear = {}
    for s in (follow, still):
        sx, _ = backward_map(src, dst, WORK_PX, s)
        shift = np.arange(WORK_PX) - sx  # how far each output pixel's source lies, sideways
        assert shift[0, col] == pytest.approx(move * s.hair_follow, abs=1.0)
        assert shift[-1, 0] == pytest.approx(0.0, abs=0.5) and shift[-1, -1] == pytest.approx(0.0, abs=0.5)
        shear[s.hair_follow] = abs(shift[row, col] - shift[0, col])
    assert shear[1.0] < abs(move) / 4 and shear[0.0] > abs(move) * 0.9


def test_the_eyes_keep_looking_at_the_camera_as_the_head_turns():
    """With ``gaze`` (the default), each eye's centre lands 0.4 eye widths x (sin of the yaw reached - sin of the
    photo's) from where the lids carry it, against the nose's move: the iris stays towards the camera. The map then
    draws the photo's iris there; with ``gaze=None`` the iris goes where the lids take it."""
    pts = crop_landmarks(np.asarray(real_crop("000100")))
    yaw, turn = -20.0, 40.0
    looking, locked = LandmarkSettings(), LandmarkSettings(gaze=None)
    src = _controls(pts, looking)
    lids = _controls(turned_landmarks(pts, yaw, turn, looking.turn_axis), looking)
    width = np.mean([np.linalg.norm(pts[e][3] - pts[e][0]) for e in EYES])
    expected = 0.4 * width * (np.sin(np.radians(yaw + turn)) - np.sin(np.radians(yaw)))
    assert abs(expected) > 2.0
    for s, offset in ((looking, expected), (locked, 0.0)):
        dst, _ = bounded_turn(pts, yaw, turn, s)
        assert np.allclose(dst[-2:, 0] - lids[-2:, 0], offset) and np.allclose(dst[:-2], lids[:-2])
        assert np.sign(dst[30, 0] - src[30, 0]) != np.sign(offset) or offset == 0.0
        sx, sy = backward_map(src, dst, WORK_PX, s)
        for eye in range(2):
            x, y = np.round(dst[eye - 2]).astype(int)
            assert sx[y, x] == pytest.approx(src[eye - 2, 0], abs=1.0)


def test_what_the_moving_edge_brings_in_comes_from_the_photo_around_the_crop():
    """A turn moves the crop's top edge sideways, so the frame's top corners show what lies beyond the crop. Given the
    photo around the crop (``Crop.margin``), that is the photo there; given none, a reflection of the crop, and a
    context that is that very reflection draws the same crop (but where a 50-degree warp folds and samples beyond
    the context, which is then reflected twice). With context, the frame covers it all: the photo around the crop
    moves with the crop's edge beside it and is the photo unmoved in the outer half of the margin."""
    import cv2

    from headrot_core.render import Crop
    from headrot_core.render.landmarks import RING_FADE, drawn_frames

    crop = np.array(real_crop("000100", 256))
    m = 64
    reflected = cv2.copyMakeBorder(crop, m, m, m, m, cv2.BORDER_REFLECT_101)
    green = reflected.copy()
    green[:m], green[:, :m], green[:, -m:] = (0, 255, 0), (0, 255, 0), (0, 255, 0)
    turns = np.array([-30.0, 30.0])
    plain = drawn_frames(images_to_tensor(crop, 256), turns)
    same = drawn_frames(Crop(images_to_tensor(reflected, 256 + 2 * m), m), turns)
    assert plain.frames.shape == (2, 3, 256, 256) and same.frames.shape == (2, 3, 256 + 2 * m, 256 + 2 * m)
    assert np.array_equal(plain.turns, same.turns)
    inner = same.frames[..., m:m + 256, m:m + 256]
    assert ((plain.frames - inner).abs() > 1 / 255).float().mean() < 0.005
    framed = drawn_frames(Crop(images_to_tensor(green, 256 + 2 * m), m), turns)
    still = round(m * (1 - RING_FADE)) - 1  # px of the margin, from the outside, that stay the photo
    for k in range(2):
        whole = np.asarray(tensor_to_images(framed.frames[k:k + 1])[0], int)
        top, mine = whole[m:m + 24, m:m + 256], np.asarray(tensor_to_images(plain.frames[k:k + 1])[0], int)[:24]
        pure = (top[..., 1] > 240) & (top[..., 0] < 15) & (top[..., 2] < 15)
        assert pure.sum() > 30 and not ((mine[..., 1] > 240) & (mine[..., 0] < 15) & (mine[..., 2] < 15)).any()
        assert np.array_equal(top[20:][:, 100:156], mine[20:][:, 100:156])  # the crop's own pixels stay
        drawn = np.asarray(tensor_to_images(same.frames[k:k + 1])[0], int)
        ring = np.ones(drawn.shape[:2], bool)
        ring[still:-still, still:-still] = False
        assert np.abs(drawn - reflected.astype(int))[ring].max() <= 1, "the outer margin: the photo, unmoved"
        beside = np.abs(drawn - reflected.astype(int))[m - 8:m, m:m + 256].mean()
        assert beside > 5, "just above the crop, the photo moved with the crop's top edge"


def test_the_fill_of_a_large_frame_is_worked_out_on_the_spline_grid():
    """``fill_share`` works the mirror fill out on at most a WORK_PX grid: at 128 px exactly ``mirror_share`` of the
    maps' stretch, and at 512 px the full-size computation's fill within a hundredth on average (at most 0.32 at a
    few pixels of the fill's edge)."""
    from headrot_core.render.landmarks import (WORK_PX, LandmarkSettings, _controls, backward_maps, fill_share,
                                               mirror_share, pixel_stretch)

    crop = np.array(real_crop("000100", 128))
    pts, pts_m = crop_landmarks(crop), crop_landmarks(crop[:, ::-1].copy())
    for yaw, turn in ((0.0, 40.0), (-25.0, 30.0)):
        s = LandmarkSettings()
        src, src_m = _controls(pts, s), _controls(pts_m, s)
        dst = _controls(turned_landmarks(pts, yaw, turn, s.turn_axis), s)
        half = 1.0 if yaw else 0.0
        for r in (WORK_PX, 512):
            maps, mirror_maps = backward_maps([src, src_m], dst, r, s)
            full = mirror_share(pixel_stretch(*maps), dst, s, half, pixel_stretch(*mirror_maps))
            share = fill_share(maps, mirror_maps, dst, s, half)
            assert share.shape == (r, r) and full.max() > 0.5
            if r == WORK_PX:
                assert np.array_equal(share, full)
            else:
                d = np.abs(share - full)  # the hull and the comparisons of stretch, rasterised 4 times coarser
                assert d.mean() < 0.015 and (d > 0.1).mean() < 0.05 and d.max() < 0.5


def test_a_frame_resamples_only_what_moves_and_is_drawn_into_its_slot():
    """The outer ring of the context, where the crop edge's move has faded out, is copied instead of resampled, and
    the mirror image is resampled only over the fill's box: the frame is the one a resample of the whole canvas gives,
    to the bit, and so is a frame drawn into a slot of a batch."""
    import cv2

    from headrot_core.render.landmarks import (LandmarkSettings, Photo, _controls, _remap, backward_maps,
                                               canvas_maps, fill_share, turned_frame)

    crop = np.array(real_crop("000100", 256))
    m = 64
    context = cv2.copyMakeBorder(crop, m, m, m, m, cv2.BORDER_REFLECT_101).astype(np.float32)
    pts = crop_landmarks(crop)
    src = _controls(pts, LandmarkSettings())
    photo = Photo(context, np.ascontiguousarray(context[:, ::-1]), pts, crop_landmarks(crop[:, ::-1].copy()), 0.0, m)
    # the fill's light (``mirror_light``) is worked out over the fill's box itself, so it is left out here
    for s, turn in ((LandmarkSettings(mirror_from=1e9, mirror_full=2e9), 25.0),
                    (LandmarkSettings(mirror_light=None), 40.0)):
        dst = _controls(turned_landmarks(pts, 0.0, turn, s.turn_axis), s)
        src_m = _controls(photo.pts_mirrored, s)
        (sx, sy), (mx, my) = backward_maps([src, src_m], dst, 256, s)
        cx, cy, reach = canvas_maps(sx, sy, m)
        assert 0 < reach < m and cx.shape == (256 + 2 * reach,) * 2
        v, u = np.mgrid[-m:256 + m, -m:256 + m].astype(np.float32)
        u[m - reach:m + 256 + reach, m - reach:m + 256 + reach] = cx
        v[m - reach:m + 256 + reach, m - reach:m + 256 + reach] = cy
        whole = _remap(context, u, v, m)
        share = fill_share((sx, sy), (mx, my), dst, s)
        inner = whole[m:m + 256, m:m + 256]
        inner += share[..., None] * (_remap(photo.mirrored, mx, my, m) - inner)
        assert share.any() == (s.mirror_from < 1e8), "the 40-degree turn stretches the face: the mirror fills in"
        frame = turned_frame(context, photo.mirrored, src, src_m, dst, s, margin=m)
        assert np.array_equal(frame, whole), "the whole canvas and the whole mirror image, resampled"
        batch = photo.batch(2)
        drawn, _ = photo.turned(turn, s, batch[1])
        assert np.shares_memory(drawn, batch[1])
        assert np.array_equal(batch[1], photo.turned(turn, s)[0]), "drawn into its slot as drawn alone"


def test_a_photo_is_prepared_with_the_photo_around_its_crop(tiny_rotator_dir):
    """``prepare`` hands the renderer the crop with CONTEXT of the photo on every side; its centre is the crop. The
    result's frames are crops, and ``framed`` the same frames drawn over that context (what a paste takes)."""
    from PIL import Image

    from headrot_core.compose import inner_crop
    from headrot_core.rotation import CONTEXT

    rot = HeadRotator.from_pretrained(tiny_rotator_dir, device="cpu", decode="landmarks")
    photo = real_crop("000100", 256)
    big = Image.new("RGB", (512, 512), (40, 90, 160))
    big.paste(photo, (128, 128))
    prep = rot.prepare(big)
    side, margin = prep.crop.width, (prep.context.width - prep.crop.width) // 2
    assert margin == round(CONTEXT * side) > 0 and prep.context.size == (side + 2 * margin,) * 2
    inner = np.asarray(prep.context.crop((margin, margin, margin + side, margin + side)))
    assert np.array_equal(inner, np.asarray(prep.crop))
    assert rot.prepare(photo, aligned=True).context is None
    r = rot.rotate_prepared(prep, [-20.0, 0.0, 20.0], reconstruct=False)
    assert all(f.size == (side, side) for f in r.frames) and all(f.size == prep.context.size for f in r.framed)
    assert all(np.array_equal(np.asarray(inner_crop(d, side)), np.asarray(f)) for d, f in zip(r.framed, r.frames))
    assert rot.frames_at(r, [10.0])[0].size == (side, side)
    assert rot.frames_at(r, [10.0], framed=True)[0].size == prep.context.size


def test_a_turn_adds_the_mean_faces_change_of_shading():
    """The shipped templates: the frontal mean face warped onto the mean shape at +30 degrees keeps its frontal
    shading; with the change added it lies much nearer the mean face at +30 (at the scale of the change's blur).
    No turn, no change."""
    import cv2

    from headrot_core.render.landmarks import shading_change, shading_templates

    yaws, lightness, shapes = shading_templates()
    s = LandmarkSettings()
    px = lightness.shape[-1]
    i0, i30 = int(np.argmin(np.abs(yaws))), int(np.argmin(np.abs(yaws - 30.0)))
    dst = _controls(shapes[i30], s)
    warped = cv2.remap(lightness[i0], *backward_map(_controls(shapes[i0], s), dst, px, s), cv2.INTER_LINEAR)
    change = shading_change(dst, float(yaws[i0]), float(yaws[i30]), px, s)
    assert np.abs(change).max() > 5.0
    face = np.zeros((px, px), np.uint8)
    cv2.fillConvexPoly(face, cv2.convexHull(np.round(dst[:68] * px / WORK_PX).astype(np.int32)), 1)
    inside = cv2.erode(face, np.ones((9, 9), np.uint8)) > 0  # where the change is not faded out

    def low(img):
        return cv2.GaussianBlur(img, (0, 0), s.shading_blur * px / WORK_PX)[inside]

    before = np.abs(low(warped) - low(lightness[i30])).mean()
    after = np.abs(low(warped + change) - low(lightness[i30])).mean()
    assert after < 0.5 * before
    assert not shading_change(dst, 10.0, 10.0, px, s).any()


def test_the_shading_changes_a_frame_inside_the_face_only():
    """A 20 degree turn of a real crop with and without the shading change: the same frame beyond the face's
    outline and the change's soft edge, a visible change of lightness (not of colour) inside it."""
    import cv2

    photo = np.asarray(real_crop("000100")).astype(np.float32)
    mirrored = np.ascontiguousarray(photo[:, ::-1])
    pts, pts_m = crop_landmarks(photo.astype(np.uint8)), crop_landmarks(mirrored.astype(np.uint8))
    yaw = analyze_crop(photo.astype(np.uint8)).yaw
    s = LandmarkSettings()
    assert yaw < -10 and not mirror_turned(yaw, -20.0, s), "turned away from frontal: the photo itself is warped"
    with_shading, turn = frame_for_turn(photo, mirrored, pts, pts_m, yaw, -20.0, s)
    without, _ = frame_for_turn(photo, mirrored, pts, pts_m, yaw, -20.0, LandmarkSettings(shading=None))
    dst, _ = bounded_turn(pts, yaw, turn, s)
    face = np.zeros((128, 128), np.uint8)
    cv2.fillConvexPoly(face, cv2.convexHull(np.round(dst[:68]).astype(np.int32)), 1)
    difference = np.abs(with_shading - without).max(2)
    beyond = cv2.dilate(face, np.ones((21, 21), np.uint8)) == 0  # past the change's soft edge (3 sigma)
    assert beyond.mean() > 0.3 and difference[beyond].max() < 1.0
    assert difference[face == 1].mean() > 1.0
    lab = [cv2.cvtColor(np.clip(f, 0, 255).astype(np.uint8), cv2.COLOR_RGB2LAB).astype(float)
           for f in (with_shading, without)]
    assert np.abs(lab[0][..., 1:] - lab[1][..., 1:]).mean() < 0.2 * np.abs(lab[0][..., 0] - lab[1][..., 0]).mean()


def test_shading_templates_are_the_yaw_weighted_means_of_registered_faces():
    """``build.shading.template`` on faces of one shape (the registration then moves nothing) whose lightness is
    their yaw: the template at a yaw is the Gaussian-weighted mean yaw around it, and the mean shape is that shape."""
    from headrot_core.build.shading import PX, template
    from headrot_core.face import face_model

    shape = np.asarray(face_model()["canonical_landmarks"], float).reshape(68, 2)
    yaws = np.arange(-20.0, 21.0, 1.0)
    lum = np.repeat((100.0 + yaws)[:, None, None], PX * PX, 1).reshape(-1, PX, PX).astype(np.float32)
    mean, mean_shape = template(np.repeat(shape[None], len(yaws), 0), yaws, lum, 0.0)
    assert np.allclose(mean, 100.0, atol=0.05) and np.allclose(mean_shape, shape)
    edge, _ = template(np.repeat(shape[None], len(yaws), 0), yaws, lum, 18.0)
    assert 114.0 < edge.mean() < 117.0, "weighted towards the yaws that exist around 18"
