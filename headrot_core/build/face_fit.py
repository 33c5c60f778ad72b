"""Fits the project's own face-analysis parameters (``headrot_core/face_model.json``) from the shared data.

``python -m headrot_core.build.face_fit`` (about 2 minutes on 2 cores) fits, in order:

1. the canonical face box (mean dlib HOG box) and canonical 68 landmarks of the 178x218 CelebA-aligned frame, from
   shared 128 px crops padded into that frame;
2. the crop-box correction: a ridge regression from the landmark shape to where the true crop box lies, learnt from
   randomly perturbed (shifted, scaled, rotated, blurred, mirrored) crops whose true box is known;
3. the yaw regressor: ridge on the landmark shape against the annotated yaw, with mirrored copies (yaw negated),
   and the other way round, the mean landmark shape as a quadratic in the yaw (for the landmark renderer);
4. the light calibration: the slope of the raw light score on the yaw (subtracted later) and the left/center/right
   threshold.

Only identities that are not held out (``data.is_holdout``) are used, and never the 600 images of ``photos/``
(those are the alignment benchmark).
"""
from __future__ import annotations

import json
import math
import sys
import time

import numpy as np
from tqdm.auto import tqdm

from .. import face
from .data import default_data_root, is_holdout, load_annotations, load_images

#: |light_score| above this is a side light: the raw score's median magnitude on the shared crops is about 0.11, so
#: about half the faces are "center" and a quarter lit from each side; 0.10 is a log-brightness slope of 10 % per face
#: half-width (the lit edge about 20 % brighter than the other one).
LIGHT_THRESHOLD = 0.10


def _pool(seed: int = 0):
    ann = load_annotations()
    images = load_images(default_data_root() / "celeba128", 128)
    photos = {p.stem for p in (default_data_root() / "photos").glob("*.jpg")}
    ok = np.array([i not in photos and i in ann and not is_holdout(ann[i].identity) for i in images.ids])
    return ann, images, ok


def _gray(frame: np.ndarray) -> np.ndarray:
    g = frame[..., 0] * 0.299 + frame[..., 1] * 0.587 + frame[..., 2] * 0.114
    return np.clip(g + 0.5, 0, 255).astype(np.uint8)


def fit_alignment(images: np.ndarray, seed: int = 0) -> dict:
    import cv2

    from ..analysis import _frame

    rng = np.random.default_rng(seed)
    det = face._detector()
    boxes = []
    grays = [_gray(_frame(img)) for img in images]
    for g in tqdm(grays, desc="canonical box", unit="img"):
        rects, scores, _ = det.run(g, 0, -0.5)
        if len(rects):
            r = rects[int(np.argmax(scores))]
            boxes.append((r.left(), r.top(), r.right() + 1, r.bottom() + 1))
    box = np.array(boxes, float)
    med = np.median(box, 0)
    box = box[np.abs(box - med).max(1) < 15]  # drop the odd wrong box
    canonical_box = box.mean(0)
    pts = np.array([face.landmarks(g, tuple(canonical_box)) for g in tqdm(grays, desc="canonical landmarks")])
    canon = pts.mean(0)
    # make it exactly mirror-symmetric about the frame's vertical axis (x = 89)
    mirrored = canon[face.MIRROR_68].copy()
    mirrored[:, 0] = face.FRAME_SIZE[0] - mirrored[:, 0]
    canon = (canon + mirrored) / 2
    model = {"canonical_box": canonical_box, "canonical_landmarks": canon,
             "box_coef": np.zeros((8, 136)), "box_intercept": np.zeros(8)}
    _install(model)

    feats, targets = [], []
    for img in tqdm(images, desc="box correction", unit="img"):
        for flip in (False, True):
            frame = _gray(_frame(np.ascontiguousarray(img[:, ::-1]) if flip else img))
            blur = rng.uniform(1.0, 2.6)
            if blur > 1.15:  # a low-resolution face, upsampled again
                w, h = face.FRAME_SIZE
                small = cv2.resize(frame, (round(w / blur), round(h / blur)), interpolation=cv2.INTER_AREA)
                frame = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
            s = math.exp(rng.normal(0, 0.04))
            a = math.radians(rng.normal(0, 2.5))
            t = rng.normal(0, 2.5, 2)
            c = np.array([89.0, 121.0])
            lin = s * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
            p = np.hstack([lin, (c + t - lin @ c)[:, None]])  # canonical -> perturbed frame
            pert = face.warp(frame, face.invert(p), face.FRAME_SIZE)
            pts_p = face.landmarks(pert, tuple(canonical_box))
            f, norm = face.shape_features(pts_p)
            feats.append(f)
            targets.append((face.apply(norm, face.apply(p, face.BOX_CORNERS)) - face.BOX_CORNERS).ravel())
    from sklearn.linear_model import RidgeCV

    reg = RidgeCV(alphas=np.logspace(-1, 5, 25)).fit(np.array(feats), np.array(targets))
    model["box_coef"], model["box_intercept"] = reg.coef_, reg.intercept_
    model["box_alpha"] = float(reg.alpha_)
    return model


def _install(model: dict) -> None:
    face.set_face_model(dict(model))


def fit_yaw(images: np.ndarray, yaws: np.ndarray) -> dict:
    import cv2

    from ..analysis import crop_measurements

    feats, targets = [], []
    for img, y in tqdm(list(zip(images, yaws)), desc="yaw", unit="img"):
        for arr in (img, cv2.resize(img, (64, 64), interpolation=cv2.INTER_AREA)):
            f, fm, _, _ = crop_measurements(arr)
            feats += [f, fm]
            targets += [y, -y]
    from sklearn.linear_model import RidgeCV

    reg = RidgeCV(alphas=np.logspace(-1, 5, 25)).fit(np.array(feats), np.array(targets))
    return {"yaw_coef": reg.coef_, "yaw_intercept": float(reg.intercept_), "yaw_alpha": float(reg.alpha_),
            **fit_yaw_shape(np.array(feats), np.array(targets))}


def fit_yaw_shape(feats: np.ndarray, yaws: np.ndarray) -> dict:
    """The landmark shape as a quadratic in the yaw, least squares over the crops and their mirrors: the way the
    landmark renderer moves a photo's landmarks for a turn the model's decodings show."""
    design = np.stack([np.ones_like(yaws), yaws, yaws * yaws], 1)
    coef, *_ = np.linalg.lstsq(design, feats, rcond=None)
    return {"yaw_shape_lin": coef[1], "yaw_shape_quad": coef[2]}


def fit_light(images: np.ndarray, model: dict) -> dict:
    """k = least-squares slope of the raw light slope on the (one-sided) yaw estimate, over crops and mirrors."""
    from ..analysis import crop_measurements

    ys, ss = [], []
    coef, icpt = model["yaw_coef"], model["yaw_intercept"]
    for img in tqdm(images, desc="light", unit="img"):
        f, fm, s, sm = crop_measurements(img)
        ys += [f @ coef + icpt, fm @ coef + icpt]
        ss += [s, sm]
    ys, ss = np.array(ys), np.array(ss)
    k = float((ys * ss).sum() / (ys * ys).sum())
    return {"light_yaw_slope": k, "light_threshold": LIGHT_THRESHOLD}


def main(argv: list[str] | None = None) -> int:
    n_align = int((argv or sys.argv[1:] or [3000])[0])
    t0 = time.time()
    ann, images, ok = _pool()
    rng = np.random.default_rng(0)
    pool = np.flatnonzero(ok)
    align_idx = rng.choice(pool, size=min(n_align, len(pool)), replace=False)
    model = fit_alignment(images.images[align_idx])
    yaw_idx = np.array([i for i in pool if ann[images.ids[i]].yaw is not None])
    model.update(fit_yaw(images.images[yaw_idx], np.array([ann[images.ids[i]].yaw for i in yaw_idx])))
    _install(model)
    light_idx = rng.choice(pool, size=min(3000, len(pool)), replace=False)
    model.update(fit_light(images.images[light_idx], model))
    out = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in model.items()}
    out["_about"] = ("Fitted by `python -m headrot_core.build.face_fit` from the shared CelebA crops (non-held-out "
                     "identities); coordinates in the 178x218 CelebA-aligned frame, continuous pixels.")
    face.set_face_model(None)
    face._load_model.cache_clear()
    face.MODEL_FILE.write_text(json.dumps(out, indent=None, separators=(",", ":")))
    print(f"wrote {face.MODEL_FILE} in {time.time() - t0:.0f} s: yaw alpha {model['yaw_alpha']:.3g}, "
          f"box alpha {model['box_alpha']:.3g}, light/yaw slope {model['light_yaw_slope']:.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
