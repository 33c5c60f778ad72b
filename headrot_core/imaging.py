"""Reading any user image into plain RGB, and laying images out in grids and strips.

User photos arrive as JPEG/PNG/WebP/BMP/TIFF in every mode (RGBA, grayscale, palette, 16-bit) and with EXIF
orientation; everything downstream wants an upright 8-bit RGB image, so this is the one place that converts.

It is also the one place that bounds what a file costs: only regular files are read (a pipe or a device is refused
without waiting on it); a JPEG is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's draft mode), any other format over
``PIXEL_BUDGET`` is refused before it is decoded, and what is returned has at most ``DECODE_SIDE`` px on its long
side. No message names a path: they reach visitors of the app.
"""
from __future__ import annotations

import io
import math
import os
import stat
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 8000 * 8000     # a JPEG's header may say this much: it is decoded scaled down
#: The long side of a returned image at most (a 7999 px JPEG is decoded at 1/4: 2000 px). A face must be 1/32 of
#: the long side for the detector (face.py), so 64 px at this size: above its 40 px window, as large as the model's
#: 64 px crop. At 4096 px the 7999 px JPEG peaked at +339 MB in the app (docs/SECURITY.md).
DECODE_SIDE = 2048
PIXEL_BUDGET = 4096 * 4096   # formats without scaled decoding: refused above this, before decoding
MIN_SIDE = 16                # the face detector's smallest window is 40 px; below 16 px nothing can be found
MAX_ASPECT = 20              # a face is at least 1/32 of the long side; dlib fails outright at about 64:1
JPEG_SCALES = (1, 2, 4, 8)   # what libjpeg can decode at


class ImageError(ValueError):
    """The input is not a usable image; the message says why in words a user understands."""


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        top = 1.0 if float(np.nanmax(arr, initial=0)) <= 1.0 else 255.0
        return np.clip(np.nan_to_num(arr) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    top = 65535.0 if arr.max(initial=0) > 255 else 255.0
    return np.clip(arr.astype(np.float64) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)


def to_rgb(img: Image.Image) -> Image.Image:
    """Upright 8-bit RGB: applies EXIF orientation, scales 16-bit/float to 8 bits, composites alpha on white."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        img = Image.fromarray(_to_uint8(np.asarray(img)))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return img.convert("RGB")


def read_regular_file(path: str | Path) -> bytes:
    """The bytes of a regular file of at most ``MAX_BYTES``. Opened non-blocking and checked with fstat before any
    read, so a pipe, socket or device is refused at once instead of stalling the reader."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, ValueError) as e:
        raise ImageError("the file was not found or cannot be read") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ImageError("this is not a regular file")
        if st.st_size > MAX_BYTES:
            raise ImageError(f"the file is {st.st_size / 2**20:.0f} MB; the limit is {MAX_BYTES // 2**20} MB")
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(MAX_BYTES + 1)
    finally:
        os.close(fd)


def jpeg_scale(size: tuple[int, int], side: int = DECODE_SIDE) -> int:
    """The smallest of libjpeg's reductions (1, 2, 4, 8) that brings the long side within ``side`` (PIL's draft
    picks the reduction from the floor of size / requested size: ask for ``size // scale``)."""
    long_side = max(size)
    return next((s for s in JPEG_SCALES if math.ceil(long_side / s) <= side), JPEG_SCALES[-1])


def check_size(width: int, height: int) -> None:
    """Raises ``ImageError`` for an image no face can be found in: too small, or a thin strip."""
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"the image is only {width}x{height} pixels; it needs at least {MIN_SIDE} px on each side")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageError(f"the image is {width}x{height} pixels, more than {MAX_ASPECT} times as long as it is "
                         "wide; crop it around the face")


def decode(data: bytes) -> Image.Image:
    """Encoded bytes -> a loaded PIL image within the pixel budget (a JPEG scaled down while it is decoded)."""
    try:
        img = Image.open(io.BytesIO(data))
        w, h = img.size
        if w * h > (MAX_PIXELS if img.format == "JPEG" else PIXEL_BUDGET):
            raise ImageError(f"the image is {w}x{h} pixels; the limit is 8000x8000 for a JPEG and 4096x4096 for "
                             "other formats")
        check_size(w, h)
        scale = jpeg_scale(img.size) if img.format == "JPEG" else 1
        if scale > 1:
            img.draft(img.mode, (w // scale, h // scale))
        img.load()
    except Image.DecompressionBombError as e:
        raise ImageError("the image is too large to open safely") from e
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ImageError("this file is not a readable image (expected JPEG, PNG, WebP, BMP or TIFF)") from e
    return img


def load_image(source: str | Path | bytes | Image.Image | np.ndarray) -> Image.Image:
    """Any path, bytes, PIL image or array -> upright RGB PIL image, or ``ImageError`` saying what is wrong. A file
    or bytes come back at most ``DECODE_SIDE`` px on their long side (what is found on them is in that frame); an
    image already in memory keeps its size."""
    if isinstance(source, Image.Image):
        img = source
    elif isinstance(source, np.ndarray):
        arr = source
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
            raise ImageError(f"an image array must be HxW, HxWx3 or HxWx4, got shape {arr.shape}")
        img = Image.fromarray(_to_uint8(arr))
    else:
        data = read_regular_file(source) if isinstance(source, (str, Path)) else bytes(source)
        return within_side(to_rgb(decode(data)))
    if img.width * img.height > MAX_PIXELS:
        raise ImageError(f"the image is {img.width}x{img.height} pixels; the limit is 8000x8000")
    check_size(img.width, img.height)
    return to_rgb(img)


def within_side(img: Image.Image, side: int = DECODE_SIDE) -> Image.Image:
    """``img`` reduced by a whole factor (box filter) until its long side is at most ``side``."""
    factor = math.ceil(max(img.size) / side)
    return img.reduce(factor) if factor > 1 else img


def _as_pils(images: torch.Tensor | list[Image.Image]) -> list[Image.Image]:
    if isinstance(images, torch.Tensor):
        from .diffusion import tensor_to_images

        return tensor_to_images(images)
    return list(images)


def make_grid(images: torch.Tensor | list[Image.Image], nrow: int = 8, pad: int = 2,
              fill: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Tiles images (a [-1, 1] tensor batch or PIL list, all one size) row-major, ``nrow`` per row."""
    pils = _as_pils(images)
    if not pils:
        raise ValueError("no images to lay out")
    w, h = pils[0].size
    cols = min(nrow, len(pils))
    rows = -(-len(pils) // cols)
    grid = Image.new("RGB", (cols * w + (cols + 1) * pad, rows * h + (rows + 1) * pad), fill)
    for i, im in enumerate(pils):
        r, c = divmod(i, cols)
        grid.paste(im.convert("RGB"), (pad + c * (w + pad), pad + r * (h + pad)))
    return grid


def save_figure(image: Image.Image, path: str | Path) -> Path:
    """Saves by the path's suffix; a JPEG at quality 90 with no chroma subsampling: a sheet of photographs in a
    quarter of a PNG's bytes, 0.5-1.5/255 from it on average, which keeps the repository small enough to travel to a
    GPU machine beside its training data (docs/MODEL.md)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    jpeg = path.suffix.lower() in (".jpg", ".jpeg")
    image.save(path, **({"quality": 90, "subsampling": 0, "optimize": True} if jpeg else {}))
    return path


def save_grid(images: torch.Tensor | list[Image.Image], path: str | Path, nrow: int = 8) -> Path:
    return save_figure(make_grid(images, nrow), path)
