"""Yaw and light direction of an aligned face crop (the shared-data convention, any size; 64 and 128 px tested).

Both come from dlib's 68 landmarks, found in the crop with the known canonical face box (no detection needed):

* **Yaw** (degrees, the dataset's sign: negative = the nose points to the image's right) is a ridge regression on
  the landmark shape, fitted by the project on the annotated shared crops of non-held-out identities
  (``headrot_core.build.face_fit``). It is made exactly mirror-antisymmetric: ``yaw(x) = (f(x) - f(mirror x)) / 2``.
* **Light**: a plane is fitted to the log-luminance of the face skin (the polygon of jaw and eyebrows, without eyes
  and mouth); its horizontal slope, in log-brightness per face half-width, is the raw score. A turned face is also
  brighter on one side, so the part of the raw score that the yaw explains over the dataset is subtracted
  (``raw - k * yaw``), and the result is mirror-antisymmetrised like the yaw.
  **Sign: ``light_score > 0`` means the image's right half of the face is brighter, i.e. the light comes from the
  image's right; ``< 0`` from the image's left.** ``light`` is ``"left"`` below ``-threshold``, ``"right"`` above
  ``+threshold``, else ``"center"`` (the threshold is in ``face_model.json``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from .face import FRAME_SIZE, CROP_BOX, canonical_landmarks, face_model, shape_features

LIGHT_CLASSES = ("left", "center", "right")
_WORK = 128  # crops are analysed at 128 px, in the canonical frame at scale 1 (128 px crop box)


@dataclass(frozen=True)
class FaceAnalysis:
    """yaw: degrees, negative = nose towards the image's right (the dataset's HopeNet sign).
    light: "left" / "center" / "right" = the side of the image the light comes from.
    light_score: continuous, > 0 light from the image's right, < 0 from its left (pose-corrected log-brightness
    slope per face half-width; about +-0.1 is a clear side light).
    yaw_raw, light_raw: the one-sided estimates before mirror-symmetrisation (diagnostics)."""

    yaw: float
    light: str
    light_score: float
    yaw_raw: float = 0.0
    light_raw: float = 0.0

    def to_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _as_rgb_array(crop) -> np.ndarray:
    import cv2

    if isinstance(crop, Image.Image):
        arr = np.asarray(crop.convert("RGB"))
    else:
        arr = np.asarray(crop)
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        arr = arr[..., :3]
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {arr.dtype}")
    h, w = arr.shape[:2]
    if h != w:
        raise ValueError(f"an aligned crop is square, got {w}x{h}")
    if w < 16:
        raise ValueError(f"an aligned crop needs at least 16 px, got {w}")
    if w != _WORK:
        arr = cv2.resize(arr, (_WORK, _WORK), interpolation=cv2.INTER_AREA if w > _WORK else cv2.INTER_CUBIC)
    return np.ascontiguousarray(arr)


def _frame(arr128: np.ndarray) -> np.ndarray:
    """A 128 px crop padded (edges replicated) into the 178x218 canonical frame."""
    import cv2

    x0, y0, x1, y1 = (int(v) for v in CROP_BOX)
    return cv2.copyMakeBorder(arr128, y0, FRAME_SIZE[1] - y1, x0, FRAME_SIZE[0] - x1, cv2.BORDER_REPLICATE)


def _skin_mask(pts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    mask = np.zeros(shape, np.uint8)
    outline = np.concatenate([pts[0:17], pts[26:16:-1]])
    cv2.fillPoly(mask, [np.round(outline - 0.5).astype(np.int32)], 1)
    for part in (pts[36:42], pts[42:48], pts[48:60]):
        hull = cv2.convexHull(np.round(part - 0.5).astype(np.int32))
        cv2.fillPoly(mask, [hull], 0)
        cv2.polylines(mask, [hull], True, 0, thickness=5)
    cv2.polylines(mask, [np.round(pts[17:27] - 0.5).astype(np.int32)], False, 0, thickness=5)
    return mask.astype(bool)


def light_slope(frame_rgb: np.ndarray, pts: np.ndarray) -> float:
    """Horizontal slope of the face skin's log-luminance (per face half-width) from a plane fit; > 0 = the image's
    right side is brighter."""
    lum = frame_rgb[..., 0] * 0.299 + frame_rgb[..., 1] * 0.587 + frame_rgb[..., 2] * 0.114
    mask = _skin_mask(pts, lum.shape)
    ys, xs = np.nonzero(mask)
    if len(xs) < 50:
        return 0.0
    cx = (pts[0, 0] + pts[16, 0]) / 2
    half = max((pts[16, 0] - pts[0, 0]) / 2, 1.0)
    cy = pts[[0, 16, 8], 1].mean()
    u = (xs + 0.5 - cx) / half
    v = (ys + 0.5 - cy) / half
    z = np.log(lum[ys, xs].astype(np.float64) + 8.0)
    design = np.stack([np.ones_like(u), u, v], 1)
    coef, *_ = np.linalg.lstsq(design, z, rcond=None)
    res = z - design @ coef
    keep = np.abs(res) < 2.5 * res.std() + 1e-9  # one robust pass: drop hair strands, specular spots
    if keep.sum() >= 50:
        coef, *_ = np.linalg.lstsq(design[keep], z[keep], rcond=None)
    return float(coef[1])


def _frame_landmarks(frame: np.ndarray) -> np.ndarray:
    gray = frame[..., 0] * 0.299 + frame[..., 1] * 0.587 + frame[..., 2] * 0.114
    return canonical_landmarks(np.clip(gray + 0.5, 0, 255).astype(np.uint8))


def crop_landmarks(crop) -> np.ndarray:
    """The 68 landmarks of an aligned crop in the canonical 178x218 frame (the crop analysed at 128 px)."""
    return _frame_landmarks(_frame(_as_rgb_array(crop)))


def crop_measurements(crop) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(shape features, mirrored-image shape features, light slope, mirrored-image light slope) of one crop."""
    arr = _as_rgb_array(crop)
    out = []
    for img in (arr, np.ascontiguousarray(arr[:, ::-1])):
        frame = _frame(img)
        pts = _frame_landmarks(frame)
        feats, _ = shape_features(pts)
        out.append((feats, light_slope(frame, pts)))
    return out[0][0], out[1][0], out[0][1], out[1][1]


def _classify(score: float, threshold: float) -> str:
    return "left" if score < -threshold else "right" if score > threshold else "center"


def analyze_crop(crop) -> FaceAnalysis:
    """Yaw and light of an aligned crop (PIL image or HxWx3 uint8 array, square, any size >= 16 px)."""
    model = face_model()
    f, fm, s, sm = crop_measurements(crop)
    coef, icpt = model["yaw_coef"], float(model["yaw_intercept"])
    y, ym = float(f @ coef + icpt), float(fm @ coef + icpt)
    yaw = (y - ym) / 2
    k = float(model["light_yaw_slope"])
    raw, raw_m = s - k * y, sm - k * ym
    score = (raw - raw_m) / 2
    return FaceAnalysis(yaw=yaw, light=_classify(score, float(model["light_threshold"])), light_score=score,
                        yaw_raw=y, light_raw=raw)


def analyze_batch(crops: np.ndarray) -> list[FaceAnalysis]:
    return [analyze_crop(c) for c in crops]


def frame_yaws(frames: list[Image.Image]) -> np.ndarray:
    """Yaw of generated frames, analysed at 128 px like the dataset crops the estimator was fitted on."""
    return np.array([analyze_crop(f if f.size == (128, 128) else f.resize((128, 128), Image.LANCZOS)).yaw
                     for f in frames])
