"""Reading face datasets: the shared CelebA shards, any folder or tar of images, and the annotations.

Decoding 42k WebP crops takes about a minute on two cores, so decoded arrays are cached (outside the repository)
keyed by source and size; later runs load them in a second.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

IMAGE_SUFFIXES = (".webp", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Validation identities: every 20th CelebA identity (identity % 20 == 0) is never trained on.
HOLDOUT_MODULUS = 20


def default_data_root() -> Path:
    """The shared data folder beside the project (``../shared/data``), or ``$HEADROT_DATA``."""
    env = os.environ.get("HEADROT_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def cache_dir() -> Path:
    """Where decoded arrays, labels and embeddings live: never inside the repository."""
    root = os.environ.get("HEADROT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "headrot")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_holdout(identity: int) -> bool:
    return identity % HOLDOUT_MODULUS == 0


def _decode(data: bytes, size: int) -> np.ndarray:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    if img.size != (size, size):
        img = img.resize((size, size), Image.LANCZOS)
    return np.asarray(img, dtype=np.uint8)


def _is_tar(path: Path) -> bool:
    return path.name.endswith((".tar", ".tar.gz", ".tgz"))


def iter_image_bytes(source: Path) -> Iterator[tuple[str, bytes]]:
    """Yields (image id, encoded bytes) from a tar, a folder of images/tars, or a single image file."""
    source = Path(source)
    if source.is_dir():
        for path in sorted(source.iterdir()):
            if _is_tar(path):
                yield from iter_image_bytes(path)
            elif path.suffix.lower() in IMAGE_SUFFIXES:
                yield path.stem, path.read_bytes()
    elif _is_tar(source):
        with tarfile.open(source) as tar:
            for member in tar:
                if member.isfile() and Path(member.name).suffix.lower() in IMAGE_SUFFIXES:
                    yield Path(member.name).stem, tar.extractfile(member).read()
    elif source.suffix.lower() in IMAGE_SUFFIXES:
        yield source.stem, source.read_bytes()
    else:
        raise FileNotFoundError(f"no images found at {source} (expected a folder, a .tar or an image file)")


@dataclass(frozen=True)
class ImageSet:
    """Decoded square RGB images (N, size, size, 3) uint8 with their ids, in source order."""

    ids: list[str]
    images: np.ndarray

    def select(self, keep: np.ndarray) -> "ImageSet":
        keep = np.asarray(keep)
        return ImageSet([self.ids[i] for i in np.flatnonzero(keep)], self.images[keep])


def load_images(source: Path | str, size: int = 64, use_cache: bool = True, limit: int | None = None) -> ImageSet:
    """Decodes every image under ``source`` at ``size`` px, cached as .npz keyed by path, mtime and size."""
    source = Path(source).resolve()
    if not source.exists():
        raise FileNotFoundError(f"image source {source} does not exist")
    stamp = f"{source}:{source.stat().st_mtime_ns}:{size}:{limit}"
    cache = cache_dir() / f"images-{hashlib.sha1(stamp.encode()).hexdigest()[:16]}.npz"
    if use_cache and cache.exists():
        with np.load(cache) as z:
            return ImageSet(list(z["ids"]), z["images"])
    ids, arrays = [], []
    for image_id, data in tqdm(iter_image_bytes(source), desc=f"decoding {source.name}", unit="img"):
        ids.append(image_id)
        arrays.append(_decode(data, size))
        if limit and len(ids) >= limit:
            break
    if not arrays:
        raise FileNotFoundError(f"no images found at {source}")
    result = ImageSet(ids, np.stack(arrays))
    if use_cache:
        tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")  # two processes decoding one source must not collide
        np.savez(tmp, ids=np.array(ids), images=result.images)
        tmp.replace(cache)
    return result


@dataclass(frozen=True)
class Annotation:
    image_id: str
    identity: int
    yaw: float | None
    pitch: float | None
    roll: float | None
    attributes: dict[str, bool]


def load_annotations(path: Path | str | None = None) -> dict[str, Annotation]:
    """Parses ``annotations.csv``; unknown pose or attributes stay None / absent."""
    path = Path(path) if path else default_data_root() / "annotations.csv"
    out: dict[str, Annotation] = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fixed = {"image_id", "identity", "celebahq_index", "yaw", "pitch", "roll"}
        attr_names = [c for c in reader.fieldnames or [] if c not in fixed]
        for row in reader:
            num = lambda k: float(row[k]) if row[k] not in ("", None) else None  # noqa: E731
            attrs = {a: row[a] == "1" for a in attr_names if row[a] not in ("", None)}
            out[row["image_id"]] = Annotation(row["image_id"], int(row["identity"]), num("yaw"), num("pitch"),
                                              num("roll"), attrs)
    return out


def training_split(images: ImageSet, annotations: dict[str, Annotation] | None) -> tuple[ImageSet, ImageSet]:
    """Splits by identity (``is_holdout``); images without an annotation count as training images."""
    if not annotations:
        return images, ImageSet([], images.images[:0])
    held = np.array([a is not None and is_holdout(a.identity) for a in (annotations.get(i) for i in images.ids)])
    return images.select(~held), images.select(held)


@dataclass(frozen=True)
class AnnotatedCrops:
    """Crops with HopeNet yaw (degrees) from one side of the identity split."""

    ids: list[str]
    images: np.ndarray
    yaw: np.ndarray


def annotated_split(source: Path | str, size: int = 64,
                    annotations: dict[str, Annotation] | None = None) -> tuple[AnnotatedCrops, AnnotatedCrops]:
    """(training identities, held-out identities) of the crops under ``source`` that have an annotated yaw."""
    source = Path(source)
    ann = annotations if annotations is not None else load_annotations(source.parent / "annotations.csv")
    images = load_images(source, size)
    labelled = images.select(np.array([(a := ann.get(i)) is not None and a.yaw is not None for i in images.ids]))
    return tuple(AnnotatedCrops(side.ids, side.images, np.array([ann[i].yaw for i in side.ids], np.float32))
                 for side in training_split(labelled, ann))


def write_pack(images: ImageSet, out: Path | str, quality: int = 80, max_bytes: int | None = None) -> Path:
    """Writes a compact gzipped WebP tar (to carry to a GPU machine); stops before ``max_bytes`` if given.

    Gzip matters: a tar pads each ~1.5 KB member to 512-byte blocks plus a header, which gzip squeezes out (the
    gzipped tar of 26,591 64 px crops at quality 62 was 0.994 of their WebP bytes), so the WebP bytes are the count.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    total = 0
    with tarfile.open(out, "w:gz") as tar:
        for image_id, arr in tqdm(zip(images.ids, images.images), total=len(images.ids), desc="packing", unit="img"):
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, format="WEBP", quality=quality, method=6)
            data = buf.getvalue()
            total += len(data)
            if max_bytes and total > max_bytes:
                break
            info = tarfile.TarInfo(f"{image_id}.webp")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out
