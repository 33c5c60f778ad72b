"""The landmark renderer: the photo's own pixels, moved the way the landmarks of the model's decodings move.

The warp renderer's optical flow between a far decoding Gc(z + d) and the unmoved Gc(z) sees a cross-fade (a feature
fading out in one place and in at another) more than a motion, so it turns faces too little. dlib's landmarks on the
same decodings do follow the turn: they lock onto the stronger copy of each feature. So this renderer reads the
landmarks of Gc(z) and of each Gc(z + d) and projects their change onto the yaw direction of the landmark shape
(``face.yaw_shape``, learnt from the annotated crops): one number per frame, the turn the model made. The photo's
own landmarks then move by the mean shape change of that turn from the photo's own yaw, about the axis a head turns
on (the jaw line's ends, by the ears, stay; the face moves sideways), and the photo's crop is warped along a
thin-plate spline through them, the crop's lower edge held still and its top edge moved with the forehead (the hair
shifts with the head; what comes in from beyond the crop is the photo there, ``Crop``). Every frame is the photo's
one face at its own resolution, drawn over the photo around the crop too, so that it pastes back into the photo
with nothing displaced at the seam (``canvas_maps``). What a 2D warp cannot show, the side of the head that a turn
reveals, it stretches into a smear. Within the face, that side is taken from the photo's mirror image (where that is
stretched less), warped onto the same landmarks, because the mirror's visible cheek is the photo's hidden one
(faces are nearly symmetric): the soft-symmetry fill of face frontalisation. An image turning towards frontal
reveals the cheek it hides, which its mirror image shows whole: there the mirror fills the whole hidden half of the
face, seamed along the midline (nose, lips, chin), where the two images' features coincide. Past frontal, the mirror
image itself is turned when that is the shorter warp. On 100 held-out faces turned by their true angles, with no
model, the fill took the realism test from 0.73 to 0.67 and the mirror turn to 0.62, with one face in every far
frame (docs/EVALUATION.md). Lanczos resampling keeps the photo's sharpness: bilinear gave 0.80. A warp carries the
photo's shading along, so a frontal face turned by 30 degrees stays lit like a frontal one; inside the face the frame's
lightness gets the change that the same turn makes to the mean face (``shading_change``, templates of real faces
by yaw from ``build.shading``), blurred so that it shades the nose and cheeks and draws no feature of its own.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache

import cv2
import numpy as np
import torch
from scipy.interpolate import RBFInterpolator
from threadpoolctl import threadpool_limits

from . import Crop, Drawn, Renderer
from ..analysis import analyze_crop, crop_landmarks
from ..face import CROP_BOX, face_model, invert, shape_features, yaw_shape
from ..latent import last
from ..loading import ASSETS

WORK_PX = 128  # landmarks are found (and the spline is placed) in 128 px crop coordinates


@dataclass(frozen=True)
class LandmarkSettings:
    smoothing: float = 1.0  # the thin-plate spline's smoothing (0: through every landmark exactly)
    border_points: int = 9  # points per side of the crop's edge, still unless ``hair_follow`` moves them
    hair_follow: float = 1.0  # share of the forehead points' sideways move that the crop's top edge makes: held still,
    # the hair between them sheared into swirls and waved bangs at +-30; moved, it shifts with the head as it does
    # in a turn (100 held-out faces at their true turns: realism 0.632 -> 0.633, docs/EVALUATION.md). 0: still
    hair_depth: float = 0.5  # the crop's sides move with the top edge down to this share of its height, tapering
    forehead: float = 0.45  # points above the brows, this share of the chin-to-nose-bridge distance up, move like them
    max_stretch: float | None = None  # shorten a turn whose warp stretches some part of the photo more (area); off:
    # on 40 held-out faces a limit of 2 / 3 / 6 / 12 gave realism 0.59 / 0.61 / 0.63 / 0.66 and one face in every far
    # frame, but pose error 14 / 12 / 10 / 9 degrees against 6 without it (docs/EVALUATION.md)
    shorter: tuple[float, ...] = (0.85, 0.7, 0.55, 0.4, 0.25)  # the shares of the turn tried, in order
    mirror_from: float = 1.5  # area stretch at which the mirror image starts to fill in, within the face's outline,
    mirror_full: float = 3.0  # and at which it has fully replaced the warped photo
    mirror_blur: float = 2.0  # sigma of the fill's edge, in WORK_PX pixels
    mirror_light: float | None = 8.0  # the fill by stretch keeps the mirror image's detail finer than this sigma
    # (WORK_PX pixels) and takes the light from the warped photo: under a light from one side the mirror image's cheek
    # is the shaded one, and it laid a grey band across the lit near cheek (the NASA portrait at -30). Less of it as the
    # fill takes a whole hidden half (``mirror_half``), where the warped photo's light is its smeared edge: dark rings
    # round an eye. None: off
    mirror_half: float | None = 0.25  # fill the hidden half of the face whole, seamed along the face's midline, once
    # the fill by stretch covers this mean share of it: an edge cut through the cheek and lips showed the mirror face's
    # own outline as a second contour at display size. Only for an image turning towards frontal (its near cheek,
    # mirrored, is the hidden one), in proportion to its |yaw| up to ``half_yaw`` (docs/EVALUATION.md). None: off
    half_yaw: float = 20.0
    turn_axis: tuple[int, ...] | None = (0, 16)  # landmarks the turned shape leaves in place across the picture: the
    # jaw line's ends, by the ears, nearest the axis a head turns about. The mean shape change keeps the landmarks'
    # mean still (its fit removes translation), which swings the jaw line against the nose and stretches the near
    # cheek and the background beside it into streaks; anchored, the face moves sideways in the crop as a turning
    # head does (100 held-out faces at their true turns: near-frontal photos' realism 0.76 -> 0.74, docs/EVALUATION.md).
    # None: the landmarks' mean stays still
    gaze: float | None = 0.4  # the eyeball's radius over the eye's width (12 over 30 mm): the irises move that much
    # less than the lids, so the eyes keep looking at the camera as the head turns, as people turning for a portrait
    # do; moved with the lids, they looked where the nose points (100 held-out faces at their true turns: near-frontal
    # photos' realism 0.73 -> 0.71, docs/EVALUATION.md). None: the irises move with the lids
    spline_grid: int = 128  # the spline is evaluated on at most this grid, then resized (scipy's evaluation was 85 %
    # of a 256 px frame's time): at 256 px its map lies 0.05 px from an exact one on average, at most 2.3 px where the
    # spline bends sharply; a 64 grid: 0.08 and 6 px, inside the face (8 portraits x 2 turns)
    shading: float | None = 1.0  # the share of the mean face's change in lightness over the turn added inside the face
    # (``shading_change``): a frontal photo warped by 30 degrees keeps its frontal shading (100 held-out faces at
    # their true turns: realism 0.628 -> 0.610, near-frontal photos 0.711 -> 0.660, docs/EVALUATION.md). None: off
    shading_blur: float = 3.0  # sigma of that change, in WORK_PX pixels: the nose's and cheeks' shading, not the mean
    # face's features
    mirror_turn: float | None = 20.0  # turn from the mirror image instead when that saves this many degrees of warp
    # (None: never). Far past frontal, the mirror image is nearly the turned face; on 100 held-out faces with their true
    # turns, realism 0.67 -> 0.62 and one face in every far frame; the price: the face's asymmetries (a parting, a
    # strand of hair) swap sides where the strip crosses frontal


def _uint8(t: torch.Tensor) -> np.ndarray:
    """(3, h, w) in [-1, 1] -> (h, w, 3) uint8."""
    return ((t.detach().float().cpu().clamp(-1, 1) + 1) * 127.5 + 0.5).permute(1, 2, 0).numpy().astype(np.uint8)


def turn_of(moved_pts: np.ndarray, base_pts: np.ndarray) -> float:
    """Degrees of yaw that best explain the landmark change from ``base_pts`` to ``moved_pts`` (both 68x2, canonical
    frame): the change in shape projected onto the shape's yaw direction."""
    direction = face_model()["yaw_shape_lin"]
    change = shape_features(moved_pts)[0] - shape_features(base_pts)[0]
    return float(change @ direction / (direction @ direction))


def turned_landmarks(pts: np.ndarray, yaw: float, turn: float, axis: tuple[int, ...] | None) -> np.ndarray:
    """``pts`` (68x2, canonical frame) of a face at ``yaw`` moved by the mean shape change of turning by ``turn``,
    in the face's own scale and roll; with ``axis``, shifted sideways so that those landmarks keep their mean
    horizontal place (``LandmarkSettings.turn_axis``)."""
    change = yaw_shape(yaw + turn) - yaw_shape(yaw)
    if axis:
        change = change - np.array([change[list(axis), 0].mean(), 0.0])
    to_face = invert(shape_features(pts)[1])[:, :2]
    return pts + change @ to_face.T


EYES = (slice(36, 42), slice(42, 48))  # the two eyes' landmarks (68-point scheme)
FOREHEAD = slice(68, 78)  # the points above the brows among ``_controls``


def _controls(pts: np.ndarray, s: LandmarkSettings, gaze: float = 0.0) -> np.ndarray:
    """The spline's moving points in WORK_PX crop coordinates: the landmarks (canonical frame), above the brows points
    that move like them (``FOREHEAD``), and the eyes' centres, ``gaze`` px sideways (``gaze_shift``)."""
    up = pts[27] - pts[8]
    eyes = np.array([pts[e].mean(0) for e in EYES]) + np.array([gaze, 0.0])
    return np.vstack([pts, pts[17:27] + up * s.forehead, eyes]) - np.array(CROP_BOX[:2])


def gaze_shift(pts: np.ndarray, yaw: float, turn: float, s: LandmarkSettings) -> float:
    """How far (px, sideways) the irises of a face at ``yaw`` (landmarks ``pts``) turned by ``turn`` lie from where
    the lids carry them, when the eyes keep looking at the camera: an eyeball's centre sits ``gaze`` eye widths
    behind its iris, so it moves that much less (``turned_landmarks`` carries a point nearer the camera further
    towards the side the nose turns to, minus x for a positive turn)."""
    if s.gaze is None:
        return 0.0
    width = np.mean([np.linalg.norm(pts[e][3] - pts[e][0]) for e in EYES])
    return float(s.gaze * width * (np.sin(np.radians(yaw + turn)) - np.sin(np.radians(yaw))))


def _border(n: int, size: float) -> np.ndarray:
    t = np.linspace(0.0, size, n)
    return np.array([(x, y) for x in t for y in t if x in (t[0], t[-1]) or y in (t[0], t[-1])])


def edge_shift(edge: np.ndarray, src: np.ndarray, dst: np.ndarray, s: LandmarkSettings) -> np.ndarray:
    """Sideways move (n x 2) of the crop's ``edge`` points when the spline's points go from ``src`` to ``dst``
    (``_controls``, WORK_PX crop coordinates): the top edge moves with the forehead points (``hair_follow``), the
    sides less the lower they are, still from ``hair_depth`` of the crop's height down (the neck and shoulders)."""
    move = s.hair_follow * float(np.mean(dst[FOREHEAD, 0] - src[FOREHEAD, 0]))
    taper = np.clip(1.0 - edge[:, 1] / (s.hair_depth * WORK_PX), 0.0, 1.0)
    return np.stack([move * taper, np.zeros_like(taper)], 1)


def backward_maps(sources: list[np.ndarray], dst: np.ndarray, r: int,
                  s: LandmarkSettings) -> list[tuple[np.ndarray, np.ndarray]]:
    """(x, y) source coordinates (r, r) of each output pixel for the spline taking each of ``sources`` onto ``dst``
    (WORK_PX crop coordinates), the crop's edge moved by ``edge_shift`` of the first: one solve and one evaluation
    for all of them, as they share the spline's points (the photo's and its mirror image's maps cost little more
    than one)."""
    scale = r / WORK_PX
    edge = _border(s.border_points, WORK_PX)
    shift = edge_shift(edge, sources[0], dst, s)
    values = np.hstack([np.vstack([src - dst, -shift]) for src in sources])
    spline = RBFInterpolator(np.vstack([dst, edge + shift]) * scale, values * scale, kernel="thin_plate_spline",
                             smoothing=s.smoothing * scale * scale)
    g = min(r, s.spline_grid)
    centres = (np.arange(g, dtype=np.float32) + 0.5) * r / g - 0.5  # where cv2.resize puts a g-grid's samples
    back = spline(np.stack(np.meshgrid(centres, centres), -1).reshape(-1, 2)).reshape(g, g, -1).astype(np.float32)
    gy, gx = np.mgrid[0:r, 0:r].astype(np.float32)
    maps = []
    for k in range(len(sources)):
        b = back[..., 2 * k:2 * k + 2]
        if g < r:
            b = cv2.resize(b, (r, r), interpolation=cv2.INTER_CUBIC)
        maps.append((gx + b[..., 0], gy + b[..., 1]))
    return maps


def backward_map(src: np.ndarray, dst: np.ndarray, r: int, s: LandmarkSettings) -> tuple[np.ndarray, np.ndarray]:
    return backward_maps([src], dst, r, s)[0]


def pixel_stretch(sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Output pixels per source pixel (area; 1 = none, large where the map folds) of a backward map, per pixel:
    where a 2D warp must show what the photo never saw, it smears one source column across many."""
    area = np.gradient(sx, axis=1) * np.gradient(sy, axis=0) - np.gradient(sx, axis=0) * np.gradient(sy, axis=1)
    return 1.0 / np.maximum(area, 1e-3)


def stretch(sx: np.ndarray, sy: np.ndarray) -> float:
    """The largest area stretch of a backward map."""
    return float(pixel_stretch(sx, sy).max())


def _remap(image: np.ndarray, sx: np.ndarray, sy: np.ndarray, margin: int = 0,
           out: np.ndarray | None = None) -> np.ndarray:
    """``image`` (the crop with ``margin`` px of the photo around it) sampled at crop coordinates, into ``out`` when
    given (a frame's slot in the batch: no copy of it later). Lanczos keeps the photo's sharpness; what the moving top
    edge brings in from outside the crop is the photo there, and beyond what is known a reflection, which continues
    hair or a plain background where repeating the edge pixel drew streaks."""
    return cv2.remap(image, sx + margin, sy + margin, cv2.INTER_LANCZOS4, dst=out,
                     borderMode=cv2.BORDER_REFLECT_101)


MIDLINE = (27, 28, 29, 30, 33, 51, 62, 66, 57, 8)  # the nose, the lips' centres and the chin (68-point scheme)


def midline_offset(dst: np.ndarray, r: int) -> np.ndarray:
    """(r, r) horizontal distance in pixels of each output pixel from the face's midline through the points ``dst``
    (``_controls``, WORK_PX crop coordinates): between the raised inner ends of the brows, down the nose and lips to
    the chin."""
    scale = r / WORK_PX
    line = np.vstack([(dst[72] + dst[73]) / 2, dst[list(MIDLINE)]]) * scale  # 72, 73: above the brows' inner ends
    order = np.argsort(line[:, 1])
    x_mid = np.interp(np.arange(r), line[order, 1], line[order, 0])
    return (np.arange(r)[None, :] - x_mid[:, None]).astype(np.float32)


def face_area(dst: np.ndarray, r: int) -> np.ndarray:
    """(r, r) float mask, 1 inside the outline of the landmarks among ``dst`` (WORK_PX crop coordinates; jaw and
    brows, not the forehead points above them): where the fill and the shading may change a frame."""
    face = np.zeros((r, r), np.float32)
    cv2.fillConvexPoly(face, cv2.convexHull(np.round(dst[:68] * (r / WORK_PX)).astype(np.int32)), 1.0)
    return face


def mirror_share(stretched: np.ndarray, dst: np.ndarray, s: LandmarkSettings, half: float = 0.0,
                 fill_stretched: np.ndarray | None = None) -> np.ndarray:
    """(r, r) share of the mirror image in each output pixel: none where the warp stretches the photo less than
    ``mirror_from``, all from ``mirror_full``, and only inside the outline of the landmarks among ``dst`` (WORK_PX
    crop coordinates; jaw and brows, not the forehead points above them): outside the face, a mirrored background or
    hair would show as a second copy, and above the brows the mirror image's hairline put dark blots on the forehead.
    Given ``fill_stretched`` (the mirror image's own stretch), only where that is the smaller: for a frame turned
    from the mirror image, the other image is the photo itself, warped 20 degrees or more further, and it pulled
    hair and the neck's shadow onto the jaw or the nose as dark blotches (``hq1024/`` portraits at 256 px). With
    ``half`` > 0 (``mirror_half``), also up to ``half`` of the whole half of the face that the warp stretches, up to
    its midline."""
    r = stretched.shape[0]
    scale = r / WORK_PX
    face = face_area(dst, r)
    ramp = np.clip((stretched - s.mirror_from) / (s.mirror_full - s.mirror_from), 0.0, 1.0).astype(np.float32) * face
    kept = ramp if fill_stretched is None else ramp * (fill_stretched < stretched)
    share = cv2.GaussianBlur(kept, (0, 0), s.mirror_blur * scale)
    if half <= 0 or s.mirror_half is None:
        return share
    offset = midline_offset(dst, r)
    side = 1.0 if ramp[offset > 0].sum() >= ramp[offset < 0].sum() else -1.0
    hidden = (offset * side > 0) & (face > 0)
    if not hidden.any():
        return share
    amount = half * min(1.0, float(ramp[hidden].mean()) / s.mirror_half)
    whole = 1.0 / (1.0 + np.exp(-offset * side / (s.mirror_blur * scale)))
    return np.maximum(share, cv2.GaussianBlur(face, (0, 0), s.mirror_blur * scale) * whole * amount)


def fill_share(maps: tuple[np.ndarray, np.ndarray], mirror_maps: tuple[np.ndarray, np.ndarray], dst: np.ndarray,
               s: LandmarkSettings, half: float = 0.0) -> np.ndarray:
    """``mirror_share`` of the photo's and the mirror image's backward maps (R x R), worked out on at most a WORK_PX
    grid and resized: the stretch and the fill's soft edges are smooth at that scale, where the spline is placed, and
    at 640 px working them out at full size cost 0.2 s a rotation."""
    r = maps[0].shape[0]
    g = min(r, WORK_PX)
    if g == r:
        return mirror_share(pixel_stretch(*maps), dst, s, half, pixel_stretch(*mirror_maps))
    def stretched(m):  # the map's source coordinates in grid steps, sampled at the grid's cells
        return pixel_stretch(*(cv2.resize(a, (g, g), interpolation=cv2.INTER_AREA) * (g / r) for a in m))
    share = mirror_share(stretched(maps), dst, s, half, stretched(mirror_maps))
    return cv2.resize(share, (r, r), interpolation=cv2.INTER_LINEAR)


RING_FADE = 0.5  # share of the margin over which the crop's edge move fades out (``canvas_maps``)


def canvas_maps(sx: np.ndarray, sy: np.ndarray, margin: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The backward map (sx, sy) of an R x R crop, continued over the ``margin`` px around it: there, the move of the
    nearest crop pixel, fading to none half way out (smoothstep). The photo around the crop moves with the crop's
    moving edge beside it, and the outer half of the margin is the photo unmoved, where a paste back meets the photo
    with nothing displaced: a crop-sized frame, its top edge moved, faded into the still photo as two hairlines.
    Returns the maps over the part that moves, the crop and ``reach`` px around it (the rest is the photo as it is,
    copied rather than resampled: a third of a frame's canvas)."""
    if margin == 0:
        return sx, sy, 0
    r = sx.shape[0]
    u, v, fade = _ring(r, margin)
    reach = (u.shape[0] - r) // 2
    grid = np.arange(r, dtype=np.float32)
    # the nearest crop pixel's move is the move at the crop's edge, repeated outwards
    moves = [cv2.copyMakeBorder(d, reach, reach, reach, reach, cv2.BORDER_REPLICATE)
             for d in (sx - grid[None, :], sy - grid[:, None])]
    cx, cy = u + moves[0] * fade, v + moves[1] * fade
    cx[reach:reach + r, reach:reach + r], cy[reach:reach + r, reach:reach + r] = sx, sy
    return cx, cy, reach


@lru_cache(maxsize=4)
def _ring(r: int, margin: int) -> tuple[np.ndarray, ...]:
    """``canvas_maps``' geometry, the same for every frame of a photo: the grid in crop coordinates (u, v) of the
    crop and the ring around it where its edge's move reaches, and the fade of that move (read only)."""
    reach = int(np.ceil(RING_FADE * margin)) - 1  # the last ring pixel whose fade is above 0
    v, u = np.mgrid[-reach:r + reach, -reach:r + reach].astype(np.float32)
    xc, yc = np.clip(u, 0, r - 1).astype(np.int64), np.clip(v, 0, r - 1).astype(np.int64)
    t = np.clip(1.0 - np.hypot(u - xc, v - yc) / (RING_FADE * margin), 0.0, 1.0)
    out = (u, v, (t * t * (3 - 2 * t)).astype(np.float32))
    for a in out:
        a.flags.writeable = False
    return out


def turned_frame(photo: np.ndarray, mirrored: np.ndarray, src: np.ndarray, src_mirrored: np.ndarray,
                 dst: np.ndarray, s: LandmarkSettings, half: float = 0.0, margin: int = 0,
                 out: np.ndarray | None = None) -> np.ndarray:
    """``photo`` (R, R, 3, or larger by ``margin`` px of context on every side) warped so that its points ``src``
    land on ``dst``; where that stretches the face, ``mirrored`` (the photo flipped, with its own points
    ``src_mirrored``) warped onto the same ``dst`` (``half``: see ``mirror_share``). Returns the frame at the size of
    ``photo`` (in ``out`` when given): the crop turned, and the photo around it moved with the crop's edge
    (``canvas_maps``)."""
    r = photo.shape[0] - 2 * margin
    (sx, sy), (mx, my) = backward_maps([src, src_mirrored], dst, r, s)
    cx, cy, reach = canvas_maps(sx, sy, margin)
    if out is None:
        out = np.empty_like(photo)
    still = margin - reach
    if still:  # the ring's four bands, copied; the part that moves is written (and first touched) by the remap
        band = slice(still, -still)
        out[:still], out[-still:] = photo[:still], photo[-still:]
        out[band, :still], out[band, -still:] = photo[band, :still], photo[band, -still:]
    moving = out[still:-still or None, still:-still or None]
    _remap(photo, cx, cy, margin, moving)
    share = fill_share((sx, sy), (mx, my), dst, s, half)
    rows, cols = np.flatnonzero(share.any(1)), np.flatnonzero(share.any(0))
    if not len(rows):
        return out
    # the fill lies within the face: the mirror image is sampled only over its box
    box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    inner = out[margin:margin + r, margin:margin + r][box]
    fill = _remap(mirrored, mx[box], my[box], margin)
    if s.mirror_light and half < 1.0:  # a whole hidden half: the warped photo there is a smear of the face's edge
        fill += (1.0 - half) * coarse(inner - fill, s.mirror_light, r / WORK_PX)
    inner += share[box][..., None] * (fill - inner)
    return out


def coarse(image: np.ndarray, sigma: float, scale: float) -> np.ndarray:
    """``image`` Gaussian-blurred by ``sigma`` x ``scale`` px, worked out ``scale`` times smaller: nothing finer
    survives such a blur, and at 640 px a full-size blur of 40 px took 22 ms a frame."""
    if scale <= 1.0:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, round(w / scale)), max(1, round(h / scale))), interpolation=cv2.INTER_AREA)
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma), (w, h), interpolation=cv2.INTER_LINEAR)


def bounded_turn(pts: np.ndarray, yaw: float, turn: float, s: LandmarkSettings) -> tuple[np.ndarray, float]:
    """The spline's points (``_controls``) after the longest share of ``turn`` whose warp stretches the photo at most
    ``max_stretch`` (checked on a WORK_PX / 2 grid), and that shorter turn: a shorter turn reads as a miss to the
    feedback, a smear as a second face to a viewer."""
    src = _controls(pts, s)
    for share in (1.0, *s.shorter):
        dst = _controls(turned_landmarks(pts, yaw, turn * share, s.turn_axis), s,
                        gaze_shift(pts, yaw, turn * share, s))
        if s.max_stretch is None or stretch(*backward_map(src, dst, WORK_PX // 2, s)) <= s.max_stretch:
            break
    return dst, turn * share


def mirror_turned(yaw: float, turn: float, s: LandmarkSettings) -> bool:
    """Whether a photo at ``yaw`` turned by ``turn`` is drawn from its mirror image (at minus ``yaw``, turned by
    ``turn + 2 yaw``): when that warp is at least ``mirror_turn`` degrees shorter. Such a frame is the mirror image,
    background and hair included, which a paste back into the photo shows beside the real ones."""
    return s.mirror_turn is not None and abs(turn + 2 * yaw) + s.mirror_turn <= abs(turn)


SHADING_FILE = ASSETS / "shading" / "shading.safetensors"  # ``build.shading`` writes it
SHADING_GRID = 32  # the templates' spline is evaluated on this grid: the change is blurred by 3 of 128 px


@lru_cache(maxsize=1)
def shading_templates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(yaws, mean lightness yaws x px x px, mean landmarks yaws x 68 x 2) of the shipped shading templates."""
    from safetensors.numpy import load_file

    t = load_file(str(SHADING_FILE))
    yaws = np.array(json.loads(SHADING_FILE.with_suffix(".json").read_text())["yaws"], np.float64)
    return yaws, t["lightness"].astype(np.float32), t["landmarks"].astype(np.float64)


def shading_change(dst: np.ndarray, yaw: float, to: float, r: int, s: LandmarkSettings) -> np.ndarray:
    """(r, r) change of Lab lightness (0..255) that turning a face from ``yaw`` to ``to`` makes to the mean face, the
    templates at both yaws registered onto the frame's points ``dst`` (``_controls``, WORK_PX crop coordinates),
    blurred by ``shading_blur`` and faded out at the face's outline (jaw and brows): the warp has carried the photo's
    own shading at ``yaw`` along with its features; what the turn changes on a face, it has not."""
    yaws, lightness, shapes = shading_templates()
    px = lightness.shape[-1]
    weights = {}
    for y, sign in ((to, 1.0), (yaw, -1.0)):
        y = float(np.clip(y, yaws[0], yaws[-1]))
        k = int(np.clip(np.searchsorted(yaws, y) - 1, 0, len(yaws) - 2))
        a = (y - yaws[k]) / (yaws[k + 1] - yaws[k])
        for j, w in ((k, 1.0 - a), (k + 1, a)):
            weights[j] = weights.get(j, 0.0) + sign * w
    bins = [j for j, w in weights.items() if w != 0.0]
    if not bins:
        return np.zeros((r, r), np.float32)
    maps = backward_maps([_controls(shapes[j], s) for j in bins], dst, px, replace(s, spline_grid=SHADING_GRID))
    change = sum(weights[j] * cv2.remap(lightness[j], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
                 for j, (mx, my) in zip(bins, maps))
    scale = px / WORK_PX
    face = cv2.GaussianBlur(cv2.erode(face_area(dst, px), np.ones((3, 3), np.uint8)), (0, 0), 3.0 * scale)
    change = cv2.GaussianBlur(change.astype(np.float32), (0, 0), s.shading_blur * scale) * face
    return cv2.resize(change, (r, r), interpolation=cv2.INTER_CUBIC)


def shaded(frame: np.ndarray, change: np.ndarray, margin: int, gain: float) -> np.ndarray:
    """``frame`` (float RGB 0..255, the crop with ``margin`` px around it) with ``gain`` x ``change`` added to its
    Lab lightness over the crop, only over the box where the change is not nil (in place)."""
    rows, cols = np.flatnonzero(np.abs(change).max(1) > 0.05), np.flatnonzero(np.abs(change).max(0) > 0.05)
    if not len(rows):
        return frame
    box = np.s_[margin + rows[0]:margin + rows[-1] + 1, margin + cols[0]:margin + cols[-1] + 1]
    rgb = np.clip(frame[box], 0.0, 255.0) / 255.0
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    lab[..., 0] = np.clip(lab[..., 0] + gain * (100.0 / 255.0) * change[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1],
                          0.0, 100.0)
    frame[box] += (cv2.cvtColor(lab, cv2.COLOR_LAB2RGB) - rgb) * 255.0  # a resampling's overshoot is left as it was
    return frame


def frame_for_turn(photo: np.ndarray, mirrored: np.ndarray, pts: np.ndarray, pts_mirrored: np.ndarray, yaw: float,
                   turn: float, s: LandmarkSettings, margin: int = 0,
                   out: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """``photo`` (float, R x R x 3 and ``margin`` px of context; landmarks ``pts``, at ``yaw``) turned by ``turn``;
    or, when that saves at least ``mirror_turn`` degrees of warp, ``mirrored`` (at minus ``yaw``) turned to the same
    yaw. Either way the other image fills in where the warp stretches the face. Returns the frame (the size of
    ``photo``, context included; in ``out`` when given) and the turn drawn (``turn`` unless ``max_stretch``
    shortened it), from the photo's yaw."""
    start = yaw
    if mirror_turned(yaw, turn, s):
        photo, mirrored, pts, pts_mirrored, yaw, turn = mirrored, photo, pts_mirrored, pts, -yaw, turn + 2 * yaw
    dst, drawn = bounded_turn(pts, yaw, turn, s)
    half = min(1.0, abs(yaw) / s.half_yaw) if yaw * turn < 0 else 0.0  # turning towards frontal
    frame = turned_frame(photo, mirrored, _controls(pts, s), _controls(pts_mirrored, s), dst, s, half, margin, out)
    if s.shading and drawn:
        shaded(frame, shading_change(dst, yaw, yaw + drawn, photo.shape[0] - 2 * margin, s), margin, s.shading)
    return frame, yaw + drawn - start


@dataclass(frozen=True)
class Photo:
    """What every frame of one photo starts from: the crop and its mirror image (float, with ``margin`` px of the
    photo around the crop, mirrored with it), the crop's landmarks and its mirror image's (canonical frame) and the
    photo's yaw."""

    image: np.ndarray
    mirrored: np.ndarray
    pts: np.ndarray
    pts_mirrored: np.ndarray
    yaw: float
    margin: int = 0

    @classmethod
    def of(cls, crop: Crop) -> "Photo":
        image = _uint8(crop.pixels[0])
        mirrored = np.ascontiguousarray(image[:, ::-1])
        inner = _uint8(crop.inner[0])
        return cls(image.astype(np.float32), mirrored.astype(np.float32), crop_landmarks(inner),
                   crop_landmarks(np.ascontiguousarray(inner[:, ::-1])), analyze_crop(inner).yaw, crop.margin)

    def turned(self, turn: float, s: LandmarkSettings, out: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        return frame_for_turn(self.image, self.mirrored, self.pts, self.pts_mirrored, self.yaw, turn, s, self.margin,
                              out)

    def batch(self, n: int) -> np.ndarray:
        """Room for ``n`` frames (float, n x H x W x 3), each drawn into its slot: at 640 px, stacking 13 frames
        drawn apart cost 0.25 s, most of it the first touch of 144 MB of fresh memory."""
        return np.empty((n, *self.image.shape), np.float32)


def _drawn(frames: np.ndarray, turns: list[float]) -> Drawn:
    """The frames (float, N x H x W x 3, 0..255) as a [-1, 1] batch, scaled in place and left channels-last in
    memory: at 512 px, 13 frames over their context are 23 M values, and the copies of a plain conversion cost 0.4 s."""
    out = torch.from_numpy(frames).div_(127.5).sub_(1.0).clamp_(-1.0, 1.0)
    return Drawn(out.permute(0, 3, 1, 2), np.array(turns))


# one BLAS thread for the landmarks' and splines' small solves: OpenBLAS's idle threads otherwise spin beside torch's,
# and the next DDIM decode ran 10-70 % slower (the slider's exact frame, docs/APP.md); the limit is process-wide, so
# it is set around each part of the work and never held across a yield
def _one_blas_thread():
    return threadpool_limits(limits=1, user_api="blas")


def landmark_frame_steps(crop: Crop | torch.Tensor, moved: torch.Tensor, base: torch.Tensor,
                         settings: LandmarkSettings = LandmarkSettings()) -> Iterator[Drawn | None]:
    """``landmark_frames`` a frame at a time: None after each frame, then all of them with the turn each was drawn at
    (a 640 px frame takes 0.07 s or more, so the app's slider, released meanwhile, waits for one frame instead of a
    batch)."""
    with _one_blas_thread():
        photo = Photo.of(_crop(crop))
        base_pts = crop_landmarks(_uint8(base[0]))
    out, turns = photo.batch(len(moved)), []
    for slot, m in zip(out, moved):
        with _one_blas_thread():
            turns.append(photo.turned(model_turn(m, base_pts), settings, slot)[1])
        yield None
    yield _drawn(out, turns)


def model_turn(moved: torch.Tensor, base_pts: np.ndarray) -> float:
    """The turn the model made in one moved decoding (3, h, w) from the unmoved one's landmarks ``base_pts``."""
    return turn_of(crop_landmarks(_uint8(moved)), base_pts)


def model_turns(moved: torch.Tensor, base: torch.Tensor) -> np.ndarray:
    """``model_turn`` of each moved decoding, with no frame drawn."""
    with _one_blas_thread():
        base_pts = crop_landmarks(_uint8(base[0]))
        return np.array([model_turn(m, base_pts) for m in moved])


def drawn_frames(crop: Crop | torch.Tensor, turns: np.ndarray,
                 settings: LandmarkSettings = LandmarkSettings()) -> Drawn:
    """The photo's crop (1, 3, R, R, or a ``Crop`` with context) turned by each of ``turns`` (degrees), with no
    decoding: for turns the face's measured response already gives (the slider's exact frame)."""
    with _one_blas_thread():
        photo = Photo.of(_crop(crop))
        out = photo.batch(len(turns))
        drawn = [photo.turned(float(t), settings, slot)[1] for slot, t in zip(out, turns)]
    return _drawn(out, drawn)


def landmark_frames(crop: Crop | torch.Tensor, moved: torch.Tensor, base: torch.Tensor,
                    settings: LandmarkSettings = LandmarkSettings()) -> torch.Tensor:
    """Frames at the photo's resolution: ``crop`` the photo's aligned crop (1, 3, R, R, or a ``Crop`` with context),
    ``moved`` (N, 3, h, w) the moved decodings and ``base`` (1, 3, h, w) the unmoved one, all in [-1, 1]. Returns
    (N, 3, R, R) in [-1, 1], or the size of the ``Crop``'s pixels: the crop and the photo around it."""
    return last(landmark_frame_steps(crop, moved, base, settings)).frames


def _crop(crop: Crop | torch.Tensor) -> Crop:
    return crop if isinstance(crop, Crop) else Crop(crop)


class Landmarks(Renderer):
    def render(self, moved: torch.Tensor, base: torch.Tensor | None, source: torch.Tensor,
               crop: Crop | None) -> torch.Tensor:
        return landmark_frames(source if crop is None else crop, moved, base)

    def render_steps(self, moved: torch.Tensor, base: torch.Tensor | None, source: torch.Tensor,
                     crop: Crop | None) -> Iterator[Drawn | None]:
        return landmark_frame_steps(source if crop is None else crop, moved, base)

    def draw(self, turns: np.ndarray, source: torch.Tensor, crop: Crop | None) -> Drawn:
        return drawn_frames(source if crop is None else crop, turns)

    def read_turns(self, moved: torch.Tensor, base: torch.Tensor | None) -> np.ndarray:
        return model_turns(moved, base)


RENDERER = Landmarks("landmarks", needs_base=True, wants_crop=True, draws_turns=True)
