"""The landmark renderer: the photo's own pixels, moved the way the landmarks of the model's decodings move.

The warp renderer's optical flow between a far decoding Gc(z + d) and the unmoved Gc(z) sees a cross-fade (a feature
fading out in one place and in at another) more than a motion, so it turns faces too little. dlib's landmarks on
the same decodings do follow the turn: they lock onto the stronger copy of each feature. So this renderer reads the
landmarks of Gc(z) and of each Gc(z + d) and projects their change onto the yaw direction of the landmark shape
(``face.yaw_shape``, learnt from the annotated crops): one number per frame, the turn the model made. The photo's
own landmarks then move by the mean shape change of that turn from the photo's own yaw, and the photo's crop is
warped along a thin-plate spline through them, the crop's border held still. Every frame is the photo's one face
at its own resolution; what a 2D warp cannot show (the side of the head a large turn reveals) is stretched
(docs/EVALUATION.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from scipy.interpolate import RBFInterpolator

from . import Renderer
from ..analysis import analyze_crop, crop_landmarks
from ..face import CROP_BOX, face_model, invert, shape_features, yaw_shape

WORK_PX = 128  # landmarks are found (and the spline is placed) in 128 px crop coordinates


@dataclass(frozen=True)
class LandmarkSettings:
    smoothing: float = 1.0  # the thin-plate spline's smoothing (0: through every landmark exactly)
    border_points: int = 9  # still points per side of the crop
    forehead: float = 0.45  # points above the brows, this share of the chin-to-nose-bridge distance up, move like them
    max_stretch: float | None = None  # shorten a turn whose warp stretches some part of the photo more (area); off:
    # on 40 held-out faces a limit of 2 / 3 / 6 / 12 gave realism 0.59 / 0.61 / 0.63 / 0.66 and one face in every far
    # frame, but pose error 14 / 12 / 10 / 9 degrees against 6 without it (docs/EVALUATION.md)
    shorter: tuple[float, ...] = (0.85, 0.7, 0.55, 0.4, 0.25)  # the shares of the turn tried, in order


def _uint8(t: torch.Tensor) -> np.ndarray:
    """(3, h, w) in [-1, 1] -> (h, w, 3) uint8."""
    return ((t.detach().float().cpu().clamp(-1, 1) + 1) * 127.5 + 0.5).permute(1, 2, 0).numpy().astype(np.uint8)


def turn_of(moved_pts: np.ndarray, base_pts: np.ndarray) -> float:
    """Degrees of yaw that best explain the landmark change from ``base_pts`` to ``moved_pts`` (both 68x2, canonical
    frame): the change in shape projected onto the shape's yaw direction."""
    direction = face_model()["yaw_shape_lin"]
    change = shape_features(moved_pts)[0] - shape_features(base_pts)[0]
    return float(change @ direction / (direction @ direction))


def turned_landmarks(pts: np.ndarray, yaw: float, turn: float) -> np.ndarray:
    """``pts`` (68x2, canonical frame) of a face at ``yaw`` moved by the mean shape change of turning by ``turn``,
    in the face's own scale and roll."""
    change = yaw_shape(yaw + turn) - yaw_shape(yaw)
    to_face = invert(shape_features(pts)[1])[:, :2]
    return pts + change @ to_face.T


def _controls(pts: np.ndarray, s: LandmarkSettings) -> np.ndarray:
    """The spline's moving points in WORK_PX crop coordinates: the landmarks (canonical frame) and, above the brows,
    points that move like them."""
    up = pts[27] - pts[8]
    return np.vstack([pts, pts[17:27] + up * s.forehead]) - np.array(CROP_BOX[:2])


def _border(n: int, size: float) -> np.ndarray:
    t = np.linspace(0.0, size, n)
    return np.array([(x, y) for x in t for y in t if x in (t[0], t[-1]) or y in (t[0], t[-1])])


def backward_map(src: np.ndarray, dst: np.ndarray, r: int, s: LandmarkSettings) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) source coordinates (r, r) of each output pixel for the spline taking ``src`` onto ``dst`` (WORK_PX crop
    coordinates), the crop's border held still."""
    scale = r / WORK_PX
    still = _border(s.border_points, WORK_PX)
    spline = RBFInterpolator(np.vstack([dst, still]) * scale, np.vstack([src - dst, np.zeros_like(still)]) * scale,
                             kernel="thin_plate_spline", smoothing=s.smoothing * scale * scale)
    gy, gx = np.mgrid[0:r, 0:r].astype(np.float32)
    back = spline(np.stack([gx.ravel(), gy.ravel()], 1)).reshape(r, r, 2).astype(np.float32)
    return gx + back[..., 0], gy + back[..., 1]


def stretch(sx: np.ndarray, sy: np.ndarray) -> float:
    """The largest area stretch of a backward map: output pixels per source pixel (1 = none); where a 2D warp would
    have to show what the photo never saw, it smears one source column across many."""
    area = np.gradient(sx, axis=1) * np.gradient(sy, axis=0) - np.gradient(sx, axis=0) * np.gradient(sy, axis=1)
    return float(1.0 / max(area.min(), 1e-6))


def spline_warp(photo: np.ndarray, src: np.ndarray, dst: np.ndarray, s: LandmarkSettings) -> np.ndarray:
    """``photo`` (R, R, 3) warped so that its points ``src`` land on ``dst`` (both in WORK_PX crop coordinates)."""
    sx, sy = backward_map(src, dst, photo.shape[0], s)
    return cv2.remap(photo, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def bounded_turn(pts: np.ndarray, yaw: float, turn: float, s: LandmarkSettings) -> np.ndarray:
    """The spline's points (``_controls``) after the longest share of ``turn`` whose warp stretches the photo at most
    ``max_stretch`` (checked on a WORK_PX / 2 grid): a shorter turn reads as a miss to the feedback, a smear as a
    second face to a viewer."""
    src = _controls(pts, s)
    for share in (1.0, *s.shorter):
        dst = _controls(turned_landmarks(pts, yaw, turn * share), s)
        if s.max_stretch is None or stretch(*backward_map(src, dst, WORK_PX // 2, s)) <= s.max_stretch:
            break
    return dst


def landmark_frames(crop: torch.Tensor, moved: torch.Tensor, base: torch.Tensor,
                    settings: LandmarkSettings = LandmarkSettings()) -> torch.Tensor:
    """Frames at the photo's resolution: ``crop`` (1, 3, R, R) the photo's aligned crop, ``moved`` (N, 3, h, w) the
    moved decodings and ``base`` (1, 3, h, w) the unmoved one, all in [-1, 1]. Returns (N, 3, R, R) in [-1, 1]."""
    photo = _uint8(crop[0])
    pts = crop_landmarks(photo)
    yaw = analyze_crop(photo).yaw
    base_pts = crop_landmarks(_uint8(base[0]))
    src, image = _controls(pts, settings), photo.astype(np.float32)
    out = [spline_warp(image, src, bounded_turn(pts, yaw, turn_of(crop_landmarks(_uint8(m)), base_pts), settings),
                       settings) for m in moved]
    frames = np.clip(np.stack(out) / 127.5 - 1.0, -1.0, 1.0)
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float()


class Landmarks(Renderer):
    def render(self, moved: torch.Tensor, base: torch.Tensor | None, source: torch.Tensor,
               crop: torch.Tensor | None) -> torch.Tensor:
        return landmark_frames(source if crop is None else crop, moved, base)


RENDERER = Landmarks("landmarks", needs_base=True, wants_crop=True)
