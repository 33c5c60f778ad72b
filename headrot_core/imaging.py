"""Reading any user image into plain RGB, and laying images out in grids and strips.

User photos arrive as JPEG/PNG/WebP/BMP/TIFF in every mode (RGBA, grayscale, palette, 16-bit) and with EXIF
orientation; everything downstream wants an upright 8-bit RGB image, so this is the one place that converts.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 8000 * 8000
MAX_BYTES = 50 * 1024 * 1024


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


def load_image(source: str | Path | bytes | Image.Image | np.ndarray) -> Image.Image:
    """Any path, bytes, PIL image or array -> upright RGB PIL image, or ``ImageError`` saying what is wrong."""
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
        if isinstance(source, (str, Path)):
            path = Path(source)
            if not path.is_file():
                raise ImageError(f"file not found: {path}")
            if path.stat().st_size > MAX_BYTES:
                raise ImageError(f"{path.name} is {path.stat().st_size / 2**20:.0f} MB; the limit is "
                                 f"{MAX_BYTES // 2**20} MB")
            data = path.read_bytes()
        else:
            data = bytes(source)
        try:
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > MAX_PIXELS:
                raise ImageError(f"the image is {img.width}x{img.height} pixels; the limit is 8000x8000")
            img.load()
        except Image.DecompressionBombError as e:
            raise ImageError("the image is too large to open safely (over 8000x8000 pixels)") from e
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise ImageError("this file is not a readable image (expected JPEG, PNG, WebP, BMP or TIFF)") from e
    if img.width * img.height > MAX_PIXELS:
        raise ImageError(f"the image is {img.width}x{img.height} pixels; the limit is 8000x8000")
    if min(img.size) < 16:
        raise ImageError(f"the image is only {img.width}x{img.height} pixels; a face needs at least 32 px")
    return to_rgb(img)


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


def save_grid(images: torch.Tensor | list[Image.Image], path: str | Path, nrow: int = 8) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    make_grid(images, nrow).save(path)
    return path
