"""Would a viewer take a frame for a photo of a turned face? Measurements that pose and identity numbers miss.

A composite of two faces (the photo plus a shifted copy of its features) passes a landmark yaw estimator and a
descriptor identity check, so the evaluation also asks a classifier: a two-sample test between generated frames and
real held-out crops of turned faces. If frames were indistinguishable from real turned faces, no classifier could
beat chance (balanced accuracy 0.5). Features: dlib's 128-d face descriptor (what a face looks like to a face
network) and 17 image statistics that see what a descriptor forgives: sharpness at two scales, high-frequency
energy, colour blotches (mid-frequency chroma energy), saturation, and the tone of the face's centre. A linear
classifier, standardised, cross-validated with folds grouped by face, so no face's frames (and no identity's
photos) are on both sides of a split. Second: how many faces an independent detector (dlib's MMOD CNN, which the
engine never runs on frames) finds in each frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image

FEATURE_PX = 128  # both sides are brought to the same resolution first (see ``same_resolution``), then to this


def same_resolution(images, px: int) -> list[Image.Image]:
    """Images at ``px`` (Lanczos), then at FEATURE_PX: real crops see the same loss of detail as frames of ``px``."""
    out = []
    for im in images:
        im = im if isinstance(im, Image.Image) else Image.fromarray(np.asarray(im))
        if im.size != (px, px):
            im = im.resize((px, px), Image.LANCZOS)
        out.append(im if px == FEATURE_PX else im.resize((FEATURE_PX, FEATURE_PX), Image.LANCZOS))
    return out


def image_statistics(img: Image.Image) -> np.ndarray:
    """17 statistics of one FEATURE_PX RGB image (float64)."""
    lab = cv2.cvtColor(np.asarray(img.convert("RGB")), cv2.COLOR_RGB2LAB).astype(np.float64)
    lum, a, b = lab[..., 0], lab[..., 1] - 128, lab[..., 2] - 128
    blur = lambda x, s: cv2.GaussianBlur(x, (0, 0), s)  # noqa: E731
    lap = cv2.Laplacian(lum, cv2.CV_64F)
    half = cv2.resize(lum, (FEATURE_PX // 2, FEATURE_PX // 2), interpolation=cv2.INTER_AREA)
    gx, gy = cv2.Sobel(lum, cv2.CV_64F, 1, 0), cv2.Sobel(lum, cv2.CV_64F, 0, 1)
    chroma = np.hypot(a, b)
    c = slice(FEATURE_PX // 4, 3 * FEATURE_PX // 4)
    return np.array([
        lum.mean(), lum.std(), a.mean(), a.std(), b.mean(), b.std(),
        np.log(lap.var() + 1e-6), np.log(cv2.Laplacian(half, cv2.CV_64F).var() + 1e-6),
        np.log(np.hypot(gx, gy).mean() + 1e-6),
        np.log(np.mean((lum - blur(lum, 1.5)) ** 2) + 1e-6) - np.log(lum.var() + 1e-6),
        np.std(a - blur(a, 8)), np.std(b - blur(b, 8)),
        chroma.mean(), np.percentile(chroma, 95),
        lum[c, c].mean(), lum[c, c].std(), chroma[c, c].std()])


def realism_features(images: list[Image.Image], descriptors: np.ndarray | None = None) -> np.ndarray:
    """(N, 145): face descriptor and image statistics of FEATURE_PX images; ``descriptors``: the images' own, when
    the caller has computed them already (the evaluation does, for identity)."""
    from ..identity import face_descriptors

    desc = face_descriptors(images) if descriptors is None else descriptors
    return np.hstack([desc, np.stack([image_statistics(im) for im in images])])


@dataclass(frozen=True)
class TwoSample:
    accuracy: float  # balanced accuracy of telling the two sets apart on held-out folds; 0.5 = chance
    generated: int
    real: int
    spread: float = 0.0  # its standard deviation over the ``repeats`` shuffles of the folds


def two_sample_test(generated: np.ndarray, generated_groups, real: np.ndarray, real_groups, folds: int = 5,
                    seed: int = 0, repeats: int = 5) -> TwoSample:
    """Cross-validated balanced accuracy of a linear classifier between the rows of ``generated`` and ``real``;
    rows of one group (a source face, a real identity) are never split between training and testing. The mean over
    ``repeats`` shuffles of the folds, so that a score does not hang on one split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = min(folds, len(set(generated_groups)), len(set(real_groups)))
    if folds < 2:
        raise ValueError("the two-sample test needs at least two groups on each side")
    x = np.vstack([generated, real])
    y = np.r_[np.ones(len(generated), int), np.zeros(len(real), int)]
    groups = np.r_[[f"g{g}" for g in generated_groups], [f"r{g}" for g in real_groups]]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, class_weight="balanced", max_iter=5000))
    scores = [balanced_accuracy_score(y, cross_val_predict(clf, x, y, groups=groups, cv=StratifiedGroupKFold(
        folds, shuffle=True, random_state=seed + k))) for k in range(repeats)]
    return TwoSample(float(np.mean(scores)), len(generated), len(real), float(np.std(scores)))


def resampled_scores(generated: np.ndarray, generated_groups, real: np.ndarray, real_groups, draws: int = 20,
                     seed: int = 0, repeats: int = 2) -> np.ndarray:
    """``two_sample_test`` accuracies over ``draws`` bootstrap resamples of the groups on both sides: how much a score
    hangs on which faces were drawn, which the spread over shuffles of the folds does not say (the shipped engine on
    100 held-out faces: sd 0.028 against 0.010, docs/EVALUATION.md). A group drawn twice keeps its one label, so its
    copies are never split between training and testing (split, the classifier would recognise them)."""
    rng = np.random.default_rng(seed)

    def resample(x: np.ndarray, groups) -> tuple[np.ndarray, np.ndarray]:
        groups = np.asarray(groups)
        ids = np.unique(groups)
        rows = np.concatenate([np.flatnonzero(groups == g) for g in rng.choice(ids, len(ids))])
        return x[rows], groups[rows]

    return np.array([two_sample_test(*resample(generated, generated_groups), *resample(real, real_groups),
                                     seed=seed + k, repeats=repeats).accuracy for k in range(draws)])


@lru_cache(maxsize=1)
def _mmod():
    import dlib

    from ..face import models_dir

    return dlib.cnn_face_detection_model_v1(str(models_dir() / "mmod_human_face_detector.dat"))


def count_faces(images: list[Image.Image], upsample: int = 1) -> np.ndarray:
    """Faces the MMOD CNN finds in each image (confidence above 0, its own threshold)."""
    det = _mmod()
    return np.array([len(det(np.ascontiguousarray(np.asarray(im.convert("RGB"))), upsample)) for im in images])
