"""Fits the landmark renderer's shading templates (``assets/shading/``): how a face's lightness changes as it turns.

A photo warped by 20-30 degrees carries its frontal shading along: the nose lit from the front, both cheeks alike.
The renderer adds the change that a turn makes to the mean face (``render.landmarks.shading_change``), so it needs
the mean lightness of real faces at each yaw, each face registered onto its yaw's mean landmark shape (the
renderer's own thin-plate spline) so that a template's nose shadow lies where the frame's nose is. Templates are the
Gaussian-weighted (``SIGMA_DEG``) means of the annotated training crops and their mirror images (yaw negated) at
every ``STEP`` degrees, as Lab lightness at ``PX`` px: smooth averages of thousands of faces, no face of the data.

    python -m headrot_core.build.shading [--out assets/shading]   (about 12 minutes on 2 cores; resumes by yaw)

Only identities that are not held out (``data.is_holdout``) are used.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from ..loading import ASSETS
from .data import cache_dir, default_data_root, is_holdout, load_annotations, load_images

PX = 64  # templates are blurred at 3 of 128 px before use: 64 px holds all they carry
YAWS = np.arange(-45.0, 46.0, 5.0)
SIGMA_DEG = 4.0
MAX_YAW = 50.0
DEFAULT_OUT = ASSETS / "shading"


def training_faces() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(landmarks N x 68 x 2 in the canonical frame, yaw N, Lab lightness N x PX x PX) of the annotated training crops
    and their mirror images."""
    from ..analysis import crop_landmarks

    root = default_data_root()
    ann = load_annotations(root / "annotations.csv")
    images = load_images(root / "celeba128", 128)
    keep = [i for i, k in enumerate(images.ids) if (a := ann.get(k)) and a.yaw is not None
            and not is_holdout(a.identity) and abs(a.yaw) <= MAX_YAW]
    pts, yaws, lum = [], [], []
    for i in tqdm(keep, desc="landmarks", unit="crop", mininterval=5):
        crop = images.images[i]
        for flip in (False, True):
            img = np.ascontiguousarray(crop[:, ::-1]) if flip else crop
            pts.append(crop_landmarks(img))
            yaws.append(-ann[images.ids[i]].yaw if flip else ann[images.ids[i]].yaw)
            small = cv2.resize(img, (PX, PX), interpolation=cv2.INTER_AREA)
            lum.append(cv2.cvtColor(small, cv2.COLOR_RGB2LAB)[..., 0])
    return np.array(pts), np.array(yaws), np.array(lum, np.float32)


def template(pts: np.ndarray, yaws: np.ndarray, lum: np.ndarray, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """(mean lightness PX x PX, mean landmarks 68 x 2) at ``yaw``: each face's lightness warped onto the weighted
    mean shape, then averaged with the same weights."""
    from ..render.landmarks import LandmarkSettings, _controls, backward_maps

    s = LandmarkSettings()
    w = np.exp(-0.5 * ((yaws - yaw) / SIGMA_DEG) ** 2)
    sel = np.flatnonzero(w > 0.05)
    shape = (pts[sel] * w[sel, None, None]).sum(0) / w[sel].sum()
    dst = _controls(shape, s)
    total = np.zeros((PX, PX), np.float64)
    for j in sel:
        (sx, sy), = backward_maps([_controls(pts[j], s)], dst, PX, s)
        total += w[j] * cv2.remap(lum[j], sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return (total / w[sel].sum()).astype(np.float32), shape


def fit(out: Path = DEFAULT_OUT) -> Path:
    """Writes ``shading.safetensors`` (``lightness``: yaws x PX x PX fp16, ``landmarks``: yaws x 68 x 2) and
    ``shading.json`` (the yaws and how they were made) into ``out``; each yaw's template is cached as it is done."""
    from safetensors.numpy import save_file

    pts, yaws, lum = training_faces()
    key = hashlib.sha1(np.ascontiguousarray(pts).tobytes() + yaws.tobytes()).hexdigest()[:12]
    cache = cache_dir() / f"shading-{key}-{PX}"
    cache.mkdir(parents=True, exist_ok=True)
    templates, shapes = [], []
    for yaw in tqdm(YAWS, desc="templates", unit="yaw"):
        part = cache / f"{yaw:+.0f}.npz"
        if not part.is_file():
            t, shape = template(pts, yaws, lum, float(yaw))
            np.savez(part, lightness=t, landmarks=shape)
        with np.load(part) as z:
            templates.append(z["lightness"])
            shapes.append(z["landmarks"])
    out.mkdir(parents=True, exist_ok=True)
    save_file({"lightness": np.array(templates, np.float16), "landmarks": np.array(shapes, np.float32)},
              str(out / "shading.safetensors"))
    (out / "shading.json").write_text(json.dumps({
        "yaws": YAWS.tolist(), "px": PX, "sigma_deg": SIGMA_DEG,
        "what": "Lab lightness (0..255) of the annotated training crops and their mirror images, each warped onto "
                "its yaw's mean landmark shape, Gaussian-weighted by yaw; landmarks: that mean shape (canonical frame)",
        "faces": int(len(yaws) // 2),
        "command": "python -m headrot_core.build.shading"}, indent=1) + "\n")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    print(fit(ap.parse_args(argv).out))


if __name__ == "__main__":
    main()
