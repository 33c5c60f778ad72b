"""Face detection and alignment: any photo -> the face crop in the shared-data convention, and back.

The convention (``../shared/data/README.md``): a CelebA-"aligned" photo is a 178x218 frame in which the face sits at a
fixed place; the model's crop is the box (25, 57)-(153, 185) of that frame, scaled to any output size.

Pipeline (all models ship in PyPI packages, see README "Face analysis"):

1. dlib's HOG face detector on a grayscale working copy (long side 640 px; then 1280 px; then copies rotated by
   +-22 and +-45 degrees; then 2560 px for big photos) finds candidate faces; the largest confident one is taken,
   and ``faces`` counts the confident ones (dlib's default threshold). A weak candidate (score < 0.3) is kept only
   if HOG finds it strongly (>= 0.6) in the candidate's canonical warp, or else dlib's MMOD CNN face detector does
   (HOG alone, at the low threshold needed for turned and rotated faces, also fires on cluttered backgrounds); a
   CNN-confirmed candidate is re-aligned from the CNN's box.
2. dlib's 68-point landmark predictor (``face-recognition-models``) on that box gives landmarks; a similarity fitted
   to the canonical landmark positions (learnt from the shared crops, ``face_model.json``) maps the canonical frame
   into the photo.
3. Twice: the photo is warped into the canonical frame, landmarks are found again with the canonical face box (this
   removes roll and scale), and the similarity is refitted.
4. A ridge regression, fitted by the project on the shared aligned crops (``headrot_core.build.face_fit``), predicts
   from the landmark shape where the true crop box lies (the landmarks alone miss it by about 2-4 % of the box side,
   mostly for turned faces); the final similarity is fitted to those 4 corners.

Coordinates: *continuous* pixel coordinates throughout (the top-left corner of pixel (0, 0) is (0, 0), its centre is
(0.5, 0.5)), so ``crop_quad`` corners are the outer corners of the crop's corner pixels.
"""
from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

#: The CelebA-aligned frame and the crop box inside it, (x0, y0, x1, y1).
FRAME_SIZE = (178, 218)
CROP_BOX = (25.0, 57.0, 153.0, 185.0)
BOX_CORNERS = np.array([[25.0, 57.0], [153.0, 57.0], [153.0, 185.0], [25.0, 185.0]])
MODEL_FILE = Path(__file__).with_name("face_model.json")
#: Detector passes: (working long side, rotation in degrees), tried in order until a face is found.
#: HOG's smallest face is 80 px, so the first pass finds faces down to 1/8 of the long side (that is what ``faces``
#: counts when a face is found there); the next ones find smaller or rotated faces when the first finds none; the
#: 2560 px pass (faces down to 1/32 of the long side) runs only on photos that have that many pixels.
#: The last pass ("cnn") runs dlib's MMOD CNN detector at 400 px, which also finds turned faces that HOG misses.
DETECTION_PASSES = ((640, 0.0), (1280, 0.0), (640, -22.0), (640, 22.0), (1280, -22.0), (1280, 22.0),
                    (640, -45.0), (640, 45.0), (2560, 0.0), (400, "cnn"))
DETECT_THRESHOLD = -0.5   # dlib HOG score above which a box is a candidate
COUNT_THRESHOLD = 0.0     # candidates above this count as faces (dlib's own default threshold)
STRONG_SCORE = 0.3        # weaker candidates must be confirmed in their canonical warp:
HOG_CONFIRM = 0.6         # by HOG there (real faces: 88 % score above; background boxes: at most 0.32 measured),
VERIFY_CONFIDENCE = 0.5   # else by the MMOD CNN with this confidence (real faces: 0.87-1.2; background: no box)
VERIFY_REGION = (9, 41, 169, 201)  # the part of the canonical frame shown to the CNN (160x160 px)
#: Mean MMOD CNN box (x0, y0, x1, y1) in the canonical frame, measured on 300 shared crops (non-held-out sample).
CANONICAL_CNN_BOX = np.array([41.2, 80.1, 132.8, 171.9])


class NoFaceError(ValueError):
    """No face could be found in the image."""


# --------------------------------------------------------------------------------------------------- models


def models_dir() -> Path:
    """The ``models/`` folder of the ``face-recognition-models`` package (found without importing it: its
    ``__init__`` needs ``pkg_resources``)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("face analysis needs the 'face-recognition-models' package (pip install "
                          "face-recognition-models==0.3.0)")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


@lru_cache(maxsize=1)
def _detector():
    import dlib

    return dlib.get_frontal_face_detector()


@lru_cache(maxsize=1)
def _cnn_detector():
    import dlib

    path = models_dir() / "mmod_human_face_detector.dat"
    if not path.exists():
        raise ImportError(f"face detector model missing: {path}")
    return dlib.cnn_face_detection_model_v1(str(path))


@lru_cache(maxsize=1)
def _predictor():
    import dlib

    path = models_dir() / "shape_predictor_68_face_landmarks.dat"
    if not path.exists():
        raise ImportError(f"landmark model missing: {path}")
    return dlib.shape_predictor(str(path))


def load_models() -> None:
    """Loads the detector, the landmark model and the fitted face model now (a server's start-up) instead of on the
    first photo, which otherwise waits for them (1.7 s here)."""
    _detector()
    _predictor()
    face_model()


_model_override: dict | None = None


def face_model() -> dict:
    """The project-fitted parameters (canonical landmarks, canonical face box, box correction, yaw, light)."""
    return _model_override if _model_override is not None else _load_model()


def set_face_model(model: dict | None) -> None:
    """Uses ``model`` instead of ``face_model.json`` (None: back to the file); for fitting and tests."""
    global _model_override
    _model_override = model


@lru_cache(maxsize=1)
def _load_model() -> dict:
    if not MODEL_FILE.exists():
        raise ImportError(f"{MODEL_FILE.name} is missing: run `python -m headrot_core.build.face_fit`")
    raw = json.loads(MODEL_FILE.read_text())
    return {k: (np.asarray(v, dtype=np.float64) if isinstance(v, list) else v) for k, v in raw.items()}


# --------------------------------------------------------------------------------------------------- geometry


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (2x3) with dst ~ A @ src + t (Umeyama, no reflection)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    a = (s[:, 0] * d[:, 0] + s[:, 1] * d[:, 1]).sum()
    b = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum()
    n = (s ** 2).sum()
    lin = np.array([[a, -b], [b, a]]) / max(n, 1e-12)
    return np.hstack([lin, (md - lin @ ms)[:, None]])


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def invert(m: np.ndarray) -> np.ndarray:
    lin = np.linalg.inv(m[:, :2])
    return np.hstack([lin, (-lin @ m[:, 2])[:, None]])


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a after b (both 2x3)."""
    return np.hstack([a[:, :2] @ b[:, :2], (a[:, :2] @ b[:, 2] + a[:, 2])[:, None]])


def _scale_of(m: np.ndarray) -> float:
    return float(math.sqrt(abs(np.linalg.det(m[:, :2]))))


def warp(src: np.ndarray, dst_to_src: np.ndarray, size: tuple[int, int], border: int | None = None,
         interpolation: int | None = None) -> np.ndarray:
    """Samples ``src`` (HxW or HxWxC uint8) at ``dst_to_src`` (continuous coordinates) into a (w, h) image,
    anti-aliased when shrinking; outside the source, OpenCV's ``border`` mode (default: edges replicated);
    ``interpolation``: OpenCV's (default bilinear)."""
    import cv2

    w, h = size
    m = np.asarray(dst_to_src, np.float64)
    scale = _scale_of(m)
    if scale > 1.5:  # shrinking: cut the needed region, then area-resample it to about 1 source px per output px
        corners = apply(m, np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64))
        x0, y0 = np.floor(corners.min(0)).astype(int) - 2
        x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, src.shape[1]), min(y1, src.shape[0])
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            region = src[y0:y1, x0:x1]
            f = 1.0 / scale
            rw, rh = max(2, round((x1 - x0) * f)), max(2, round((y1 - y0) * f))
            small = cv2.resize(region, (rw, rh), interpolation=cv2.INTER_AREA)
            to_small = np.array([[rw / (x1 - x0), 0, -x0 * rw / (x1 - x0)],
                                 [0, rh / (y1 - y0), -y0 * rh / (y1 - y0)]])
            src, m = small, compose(to_small, m)
    # continuous -> index convention: src_idx = A (dst_idx + .5) + t - .5
    idx = m.copy()
    idx[:, 2] = m[:, :2] @ np.array([0.5, 0.5]) + m[:, 2] - 0.5
    return cv2.warpAffine(np.ascontiguousarray(src), idx, (int(w), int(h)),
                          flags=(cv2.INTER_LINEAR if interpolation is None else interpolation) | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE if border is None else border)


def _gray(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb


# --------------------------------------------------------------------------------------------------- landmarks


def landmarks(gray: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """68 landmarks (68x2, continuous coordinates) for the face in ``box`` (x0, y0, x1, y1, continuous)."""
    import dlib

    x0, y0, x1, y1 = box
    rect = dlib.rectangle(int(round(x0)), int(round(y0)), int(round(x1)) - 1, int(round(y1)) - 1)
    shape = _predictor()(np.ascontiguousarray(gray), rect)
    return np.array([(p.x + 0.5, p.y + 0.5) for p in shape.parts()], np.float64)


def canonical_landmarks(gray_frame: np.ndarray) -> np.ndarray:
    """Landmarks of a face already in the canonical 178x218 frame (grayscale), using the canonical face box."""
    return landmarks(gray_frame, tuple(face_model()["canonical_box"]))


#: Left-right mirror permutation of the 68 landmark indices.
MIRROR_68 = np.array(list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
                     + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40] + [54, 53, 52, 51, 50, 49, 48]
                     + [59, 58, 57, 56, 55] + [64, 63, 62, 61, 60] + [67, 66, 65])


def shape_features(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(features, normaliser): landmarks mapped by the similarity that best fits them to the canonical landmarks,
    minus the canonical landmarks (136 numbers); the normaliser is that similarity."""
    canon = face_model()["canonical_landmarks"]
    norm = similarity_fit(pts, canon)
    return (apply(norm, pts) - canon).ravel(), norm


def yaw_shape(yaw: float) -> np.ndarray:
    """The mean landmark shape's offset (68x2, canonical frame) at ``yaw`` degrees, as the fitted quadratic says:
    how landmarks move when a face turns, learnt from the annotated crops (``build.face_fit``)."""
    model = face_model()
    return (model["yaw_shape_lin"] * yaw + model["yaw_shape_quad"] * yaw * yaw).reshape(68, 2)


def _corrected_box(pts_frame: np.ndarray) -> np.ndarray:
    """The 4 crop-box corners in the frame of ``pts_frame`` predicted from the landmark shape."""
    model = face_model()
    feats, norm = shape_features(pts_frame)
    offset = feats @ model["box_coef"].T + model["box_intercept"]
    return apply(invert(norm), BOX_CORNERS + offset.reshape(4, 2))


# --------------------------------------------------------------------------------------------------- detection


@dataclass
class Detection:
    box: tuple[float, float, float, float]   # in the working image
    score: float
    work_to_photo: np.ndarray                # 2x3, continuous coordinates
    work_gray: np.ndarray
    count: int
    source: str = "hog"


def _rotation_about(center: tuple[float, float], degrees: float,
                    size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """work->photo matrix that shows the photo rotated by ``degrees`` in a canvas big enough to hold it."""
    w, h = size
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    nw, nh = int(abs(w * c) + abs(h * s)) + 1, int(abs(w * s) + abs(h * c)) + 1
    lin = np.array([[c, -s], [s, c]])
    t = np.array(center) - lin @ np.array([nw / 2, nh / 2])
    return np.hstack([lin, t[:, None]]), (nw, nh)


def detect_faces(gray: np.ndarray, passes=DETECTION_PASSES, verify: bool = True):
    """Yields candidate detections (largest confident first) pass by pass; see ``DETECTION_PASSES``."""
    import cv2

    h, w = gray.shape
    long_side = max(h, w)
    done_scales: set[tuple[float, float]] = set()
    for target, angle in passes:
        if target > 1280 and long_side < target:
            continue
        f = min(target / long_side, 16.0)
        if (round(f, 3), angle) in done_scales:
            continue
        done_scales.add((round(f, 3), angle))
        if angle == 0 or angle == "cnn":
            ww, wh = max(1, round(w * f)), max(1, round(h * f))
            interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
            work = cv2.resize(gray, (ww, wh), interpolation=interp) if (ww, wh) != (w, h) else gray
            work_to_photo = np.array([[w / ww, 0, 0], [0, h / wh, 0]])
        else:
            rot, (nw, nh) = _rotation_about((w * f / 2, h * f / 2), angle, (round(w * f), round(h * f)))
            scale = np.array([[1 / f, 0, 0], [0, 1 / f, 0]])
            work_to_photo = compose(scale, rot)
            work = warp(gray, work_to_photo, (nw, nh))
        if angle == "cnn":
            dets = [d for d in _cnn_detector()(np.ascontiguousarray(work), 0) if d.confidence >= VERIFY_CONFIDENCE]
            dets.sort(key=lambda d: -d.rect.width())
            for d in dets:
                r = d.rect
                yield Detection((r.left(), r.top(), r.right() + 1, r.bottom() + 1), float(d.confidence),
                                work_to_photo, work, len(dets), "cnn")
            continue
        rects, scores, _ = _detector().run(np.ascontiguousarray(work), 0, DETECT_THRESHOLD)
        if not len(rects):
            continue
        cands = [((r.left(), r.top(), r.right() + 1, r.bottom() + 1), float(s)) for r, s in zip(rects, scores)]
        confident = [c for c in cands if c[1] >= COUNT_THRESHOLD]
        count = len(confident)
        order = sorted(confident, key=lambda c: -(c[0][2] - c[0][0]))
        order += sorted([c for c in cands if c[1] < COUNT_THRESHOLD], key=lambda c: -c[1])
        for box, score in order:
            yield Detection(box, score, work_to_photo, work, max(count, 1))


# --------------------------------------------------------------------------------------------------- alignment


@dataclass
class AlignedFace:
    """One face of a photo brought into the shared-data crop convention.

    crop:       the aligned face, RGB, size x size (the box (25,57)-(153,185) of the 178x218 aligned frame).
    faces:      how many faces the detector found in the photo (the largest one is aligned).
    crop_quad:  4x2 corners [x, y] of the crop in the photo's continuous pixel coordinates, clockwise from the
                crop's top-left (top-left, top-right, bottom-right, bottom-left).
    matrix:     2x3 similarity photo -> crop (continuous coordinates); ``inverse`` maps crop -> photo.
    landmarks:  68x2 dlib landmarks in photo coordinates (from the last refinement).
    score:      the detector score of the chosen face: HOG (dlib's default threshold is 0), or the CNN's
                confidence when only the CNN pass found it.
    """

    crop: Image.Image
    faces: int
    crop_quad: np.ndarray
    matrix: np.ndarray
    size: int
    landmarks: np.ndarray = field(repr=False)
    score: float = 0.0
    photo_size: tuple[int, int] = (0, 0)

    @property
    def inverse(self) -> np.ndarray:
        """2x3 similarity crop -> photo (continuous coordinates)."""
        return invert(self.matrix)

    @property
    def side(self) -> float:
        """The crop's side in the photo's pixels: the resolution the photo has for this face."""
        return self.size / _scale_of(self.matrix)

    def recrop(self, photo: Image.Image, size: int, margin: int = 0) -> Image.Image:
        """The same crop at ``size`` px from the photo it was aligned in (e.g. at the photo's own resolution), with
        ``margin`` px more of the photo on every side (``size + 2 margin`` px in all). Beyond the photo's edge, a
        reflection of it: a face near the edge gets hair or background continued there, not streaks of its edge."""
        import cv2

        k = self.size / size
        scale = np.array([[k, 0.0, -margin * k], [0.0, k, -margin * k]])
        side = size + 2 * margin
        return Image.fromarray(warp(np.asarray(photo.convert("RGB")), compose(self.inverse, scale), (side, side),
                                    cv2.BORDER_REFLECT_101))

    def paste_back(self, photo: Image.Image, crop: Image.Image, feather: float = 0.08) -> Image.Image:
        """Returns ``photo`` with ``crop`` (any size, same framing as ``self.crop``) warped back into its place,
        blended with a soft-edged mask (``feather`` = fraction of the side that fades)."""
        from .imaging import to_rgb

        photo = to_rgb(photo)
        if photo.size != self.photo_size:
            raise ValueError(f"the photo is {photo.size}, but this face was aligned in a {self.photo_size} photo")
        crop = to_rgb(crop)
        s = crop.width
        crop_to_photo = compose(self.inverse, np.diag([self.size / s, self.size / s, 1.0])[:2])
        photo_to_crop = invert(crop_to_photo)
        w, h = photo.size
        src = np.asarray(crop)
        warped = warp(src, photo_to_crop, (w, h)).astype(np.float32)
        # mask in crop coordinates: 1 inside, fading to 0 over the outer `feather` band
        u = (np.arange(s) + 0.5) / s
        ramp = np.clip(np.minimum(u, 1 - u) / max(feather, 1e-6), 0, 1)
        mask_src = (np.minimum.outer(ramp, ramp) * 255).astype(np.uint8)
        mask_pad = np.zeros((s + 2, s + 2), np.uint8)
        mask_pad[1:-1, 1:-1] = mask_src
        shift = np.array([[1, 0, 1], [0, 1, 1]], np.float64)
        mask = warp(mask_pad, compose(shift, photo_to_crop), (w, h)).astype(np.float32)[..., None] / 255.0
        out = np.asarray(photo, np.float32) * (1 - mask) + warped * mask
        return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))


def _refine(gray: np.ndarray, canon_to_photo: np.ndarray,
            iterations: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Re-finds landmarks in the canonical warp; returns (canon->photo, landmarks in the last warp, that warp's
    canon->photo matrix)."""
    canon = face_model()["canonical_landmarks"]
    m = canon_to_photo
    pts_c, used = None, m
    for _ in range(iterations):
        frame = warp(gray, m, FRAME_SIZE)
        pts_c = canonical_landmarks(frame)
        used = m
        m = similarity_fit(canon, apply(m, pts_c))
    return m, pts_c, used


def _align_from(gray: np.ndarray, canon_to_photo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Refinement + box correction from a rough canonical->photo similarity: (final similarity, landmarks)."""
    _, pts_c, used = _refine(gray, canon_to_photo)
    final = similarity_fit(BOX_CORNERS, apply(used, _corrected_box(pts_c)))
    return final, apply(used, pts_c)


def _box_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Axis-aligned similarity taking box ``src`` (x0, y0, x1, y1) onto box ``dst`` (same centre, mean side)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    k = ((dst[2] - dst[0]) + (dst[3] - dst[1])) / ((src[2] - src[0]) + (src[3] - src[1]))
    cs, cd = (src[:2] + src[2:]) / 2, (dst[:2] + dst[2:]) / 2
    return np.array([[k, 0, cd[0] - k * cs[0]], [0, k, cd[1] - k * cs[1]]])


def _hog_confirms(gray: np.ndarray, canon_to_photo: np.ndarray) -> bool:
    """Whether HOG finds a face (score >= HOG_CONFIRM) at the canonical place of the canonical warp (4 ms)."""
    frame = warp(gray, canon_to_photo, FRAME_SIZE)
    rects, scores, _ = _detector().run(np.ascontiguousarray(frame), 0, HOG_CONFIRM)
    cb = face_model()["canonical_box"]
    side = cb[2] - cb[0]
    for r in rects:
        cx, cy = (r.left() + r.right() + 1) / 2, (r.top() + r.bottom() + 1) / 2
        if (abs(cx - (cb[0] + cb[2]) / 2) < 0.25 * side and abs(cy - (cb[1] + cb[3]) / 2) < 0.25 * side
                and 0.7 < (r.right() + 1 - r.left()) / side < 1.4):
            return True
    return False


def _cnn_confirm(gray: np.ndarray, canon_to_photo: np.ndarray) -> np.ndarray | None:
    """Runs dlib's MMOD CNN face detector on the canonical warp of an alignment, at 3/4 scale then (if nothing)
    at full scale (0.05-0.15 s: only for weak HOG candidates, which on cluttered backgrounds are mostly not faces).
    None when it finds no face near the canonical place; else the canonical->photo similarity its box implies."""
    x0, y0, x1, y1 = VERIFY_REGION
    cb = CANONICAL_CNN_BOX
    side = cb[2] - cb[0]
    for k in (0.75, 1.0):
        w, h = round((x1 - x0) * k), round((y1 - y0) * k)
        region_to_canon = np.array([[1.0 / k, 0, x0], [0, 1.0 / k, y0]])
        frame = warp(gray, compose(canon_to_photo, region_to_canon), (w, h))
        best = None
        for d in _cnn_detector()(np.ascontiguousarray(frame), 0):
            r = d.rect
            box = np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], np.float64) / k + [x0, y0, x0, y0]
            off = np.abs((box[:2] + box[2:]) / 2 - (cb[:2] + cb[2:]) / 2)
            ratio = (box[2] - box[0]) / side
            if d.confidence >= VERIFY_CONFIDENCE and off.max() < 0.2 * side and 0.75 < ratio < 1.33:
                if best is None or d.confidence > best[0]:
                    best = (d.confidence, box)
        if best is not None:
            return compose(canon_to_photo, _box_similarity(cb, best[1]))
    return None


def locate_face(image, verify: bool = True) -> tuple[np.ndarray, int, np.ndarray, float]:
    """Finds the largest face: (canonical frame -> photo similarity, face count, 68 landmarks in the photo,
    detector score). ``image``: anything ``imaging.load_image`` reads. Raises ``NoFaceError``."""
    from .imaging import load_image

    return _locate(_gray(np.asarray(load_image(image))), verify)


def _locate(gray: np.ndarray, verify: bool = True) -> tuple[np.ndarray, int, np.ndarray, float]:
    canon = face_model()["canonical_landmarks"]
    tried = 0
    for det in detect_faces(gray):
        tried += 1
        if tried > 6 and det.source == "hog":
            continue  # at most 6 HOG candidates are checked; the CNN pass still runs
        if det.source == "cnn":
            m0 = compose(det.work_to_photo, _box_similarity(CANONICAL_CNN_BOX, det.box))
        else:
            m0 = similarity_fit(canon, apply(det.work_to_photo, landmarks(det.work_gray, det.box)))
        if _scale_of(m0) < 1e-3:
            continue
        final, pts = _align_from(gray, m0)
        if verify and det.source == "hog" and det.score < STRONG_SCORE and not _hog_confirms(gray, final):
            confirmed = _cnn_confirm(gray, final)
            if confirmed is None:
                continue
            final, pts = _align_from(gray, confirmed)  # a weak HOG box can be off: restart from the CNN's box
        return final, det.count, pts, det.score
    h, w = gray.shape
    raise NoFaceError(f"no face found in the {w}x{h} image (a face should be at least about 40 px wide and 1/32 of "
                      "the image's long side, roughly frontal and upright within 45 degrees)")


def align_face(image, size: int = 64) -> AlignedFace:
    """Any photo (path, bytes, PIL image or array; any mode, EXIF-rotated) -> the largest face aligned to the
    shared-data crop convention at ``size`` x ``size`` px. Raises ``NoFaceError`` (a ``ValueError``) without a face
    and ``imaging.ImageError`` for unreadable input."""
    from .imaging import load_image

    if size < 8 or size > 4096:
        raise ValueError(f"crop size must be 8..4096 px, got {size}")
    img = load_image(image)
    rgb = np.asarray(img)
    canon_to_photo, count, pts, score = _locate(_gray(rgb))
    # crop (continuous) -> canonical: x = 25 + u * 128 / size
    crop_to_canon = np.array([[128.0 / size, 0, CROP_BOX[0]], [0, 128.0 / size, CROP_BOX[1]]])
    crop_to_photo = compose(canon_to_photo, crop_to_canon)
    crop = Image.fromarray(warp(rgb, crop_to_photo, (size, size)))
    return AlignedFace(crop=crop, faces=count, crop_quad=apply(canon_to_photo, BOX_CORNERS),
                       matrix=invert(crop_to_photo), size=size, landmarks=pts, score=score,
                       photo_size=img.size)


def crop_from_matrix(image, matrix: np.ndarray, size: int) -> Image.Image:
    """Re-crops ``image`` with a photo->crop ``matrix`` that was made for crops of side ``size``."""
    from .imaging import load_image

    rgb = np.asarray(load_image(image))
    return Image.fromarray(warp(rgb, invert(matrix), (size, size)))

