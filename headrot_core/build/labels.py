"""Yaw and light labels for a whole dataset of aligned crops (``python -m headrot_core label``).

Cache format (outside the repository, under ``data.cache_dir()``)::

    <cache_dir>/labels/<source>-<model>.csv     # e.g. ~/.cache/headrot/labels/celeba128-3f2a9c01d4.csv

where ``<source>`` is the data folder's name and ``<model>`` the first 10 hex digits of the SHA-1 of
``headrot_core/face_model.json`` (refitting the models makes a new file). One header line, then one row per image in
source order::

    image_id,yaw,light,light_score
    000004,-31.42,right,0.0715

* ``yaw``: degrees, negative = nose towards the image's right (the dataset's sign), see ``analysis``.
* ``light``: ``left`` / ``center`` / ``right`` = the side of the image the light comes from.
* ``light_score``: pose-corrected horizontal log-brightness slope; > 0 light from the image's right.

Work in progress lives in ``<cache_dir>/labels/<source>-<model>.parts/`` (one .npz per chunk), so an interrupted run
resumes where it stopped; the CSV appears (atomically) when all chunks are done.
"""
from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import cache_dir, default_data_root

CHUNK = 1000
_IMAGES: np.ndarray | None = None  # shared with forked workers


@dataclass(frozen=True)
class LabelSet:
    """Labels in source order: ``ids[i]`` has ``yaw[i]``, ``light[i]``, ``light_score[i]``."""

    ids: list[str]
    yaw: np.ndarray          # float32 degrees
    light: np.ndarray        # str: "left" / "center" / "right"
    light_score: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.ids)

    def index(self) -> dict[str, int]:
        return {k: i for i, k in enumerate(self.ids)}

    def row(self, image_id: str) -> dict:
        i = self.ids.index(image_id)
        return {"image_id": image_id, "yaw": float(self.yaw[i]), "light": str(self.light[i]),
                "light_score": float(self.light_score[i])}

    def counts(self) -> dict[str, int]:
        return {c: int((self.light == c).sum()) for c in ("left", "center", "right")}


def model_hash() -> str:
    from ..face import MODEL_FILE

    return hashlib.sha1(MODEL_FILE.read_bytes()).hexdigest()[:10]


def labels_path(source: str | Path | None = None) -> Path:
    source = Path(source) if source else default_data_root() / "celeba128"
    name = source.name.split(".")[0] or "images"
    return cache_dir() / "labels" / f"{name}-{model_hash()}.csv"


def _label_range(bounds: tuple[int, int]) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    from ..analysis import analyze_crop

    lo, hi = bounds
    yaw = np.zeros(hi - lo, np.float32)
    score = np.zeros(hi - lo, np.float32)
    light = np.zeros(hi - lo, "U6")
    for j, img in enumerate(_IMAGES[lo:hi]):
        r = analyze_crop(img)
        yaw[j], light[j], score[j] = r.yaw, r.light, r.light_score
    return lo, yaw, light, score


def label_dataset(source: str | Path | None = None, size: int = 128, out: str | Path | None = None,
                  workers: int | None = None, limit: int | None = None, force: bool = False,
                  progress: bool = True) -> Path:
    """Labels every crop under ``source`` (default: the shared ``celeba128`` shards) and writes the CSV described
    in the module docstring; returns its path. Resumes from finished chunks unless ``force``."""
    import multiprocessing as mp

    from tqdm.auto import tqdm

    from .data import load_images

    global _IMAGES
    source = Path(source) if source else default_data_root() / "celeba128"
    if out is None:
        out = labels_path(source)
        if limit:
            out = out.with_name(out.stem + f"-first{limit}.csv")
    out = Path(out)
    if out.exists() and not force:
        return out
    images = load_images(source, size, limit=limit)
    _IMAGES = images.images
    n = len(images.ids)
    parts = out.with_suffix(".parts")
    parts.mkdir(parents=True, exist_ok=True)
    if force:
        for p in parts.glob("*.npz"):
            p.unlink()
    todo = [(lo, min(lo + CHUNK, n)) for lo in range(0, n, CHUNK) if not (parts / f"{lo:07d}.npz").exists()]
    done = n - sum(hi - lo for lo, hi in todo)
    workers = workers or min(os.cpu_count() or 1, 2)
    bar = tqdm(total=n, initial=done, desc="labelling", unit="img", disable=not progress)

    def save(result) -> None:
        lo, yaw, light, score = result
        tmp = parts / f"{lo:07d}.tmp.npz"
        np.savez(tmp, yaw=yaw, light=light, score=score)
        tmp.replace(parts / f"{lo:07d}.npz")
        bar.update(len(yaw))

    if workers > 1 and len(todo) > 1:
        ctx = mp.get_context("fork")
        with ctx.Pool(workers) as pool:
            for result in pool.imap_unordered(_label_range, todo):
                save(result)
    else:
        for bounds in todo:
            save(_label_range(bounds))
    bar.close()
    yaw = np.zeros(n, np.float32)
    score = np.zeros(n, np.float32)
    light = np.zeros(n, "U6")
    for lo in range(0, n, CHUNK):
        with np.load(parts / f"{lo:07d}.npz") as z:
            hi = lo + len(z["yaw"])
            yaw[lo:hi], light[lo:hi], score[lo:hi] = z["yaw"], z["light"], z["score"]
    tmp = out.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "yaw", "light", "light_score"])
        for row in zip(images.ids, yaw, light, score):
            w.writerow([row[0], f"{row[1]:.2f}", row[2], f"{row[3]:.4f}"])
    tmp.replace(out)
    for p in parts.glob("*.npz"):
        p.unlink()
    parts.rmdir()
    _IMAGES = None
    return out


def load_labels(path: str | Path | None = None) -> LabelSet:
    """Reads the labels CSV (default: the one for the shared crops and the current models)."""
    path = Path(path) if path else labels_path()
    if not path.exists():
        raise FileNotFoundError(f"no labels at {path}: run `python -m headrot_core label` first")
    ids, yaw, light, score = [], [], [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            ids.append(row["image_id"])
            yaw.append(float(row["yaw"]))
            light.append(row["light"])
            score.append(float(row["light_score"]))
    return LabelSet(ids, np.array(yaw, np.float32), np.array(light), np.array(score, np.float32))
