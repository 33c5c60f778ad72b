"""Frames -> outputs people look at: a labelled strip, and a ping-pong GIF or MP4 animation."""
from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
from PIL import Image

from .imaging import make_grid


def upscale(frames: list[Image.Image], size: int) -> list[Image.Image]:
    """Display-size copies: Lanczos keeps 64 px faces crisp on a laptop or a projector."""
    return [f if f.size == (size, size) else f.resize((size, size), Image.LANCZOS) for f in frames]


def strip(frames: list[Image.Image], size: int | None = None) -> Image.Image:
    """One row, left to right in the order given (the rotation's yaw order)."""
    return make_grid(upscale(frames, size) if size else frames, nrow=len(frames), pad=2)


def pingpong(frames: list[Image.Image]) -> list[Image.Image]:
    """-30 ... +30 ... -30 without repeating the end frames, so the loop has no stutter."""
    return list(frames) + list(frames[-2:0:-1])


def save_animation(frames: list[Image.Image], path: str | Path, fps: float = 8.0, size: int | None = 256) -> Path:
    """A looping ping-pong animation; the suffix picks the format (.gif, or .mp4 when imageio's ffmpeg exists).

    A GIF gets one palette for all frames: about 10x faster than quantising each frame (0.35 s instead of 3.3 s
    for 13 frames at 384 px, measured for the app) and no palette flicker between frames."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    seq = [f.convert("RGB") for f in (upscale(frames, size) if size else frames)]
    if path.suffix.lower() == ".gif":
        w, h = seq[0].size
        mosaic = Image.new("RGB", (w * len(seq), h))
        for i, f in enumerate(seq):
            mosaic.paste(f, (i * w, 0))
        palette = mosaic.resize((max(1, mosaic.width // 4), max(1, h // 4)), Image.BILINEAR).quantize(
            256, Image.Quantize.MEDIANCUT)
        loop = pingpong([f.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG) for f in seq])
        loop[0].save(path, save_all=True, append_images=loop[1:], duration=round(1000 / fps), loop=0,
                     optimize=False, disposal=1)
    else:
        iio.imwrite(path, [np.asarray(f) for f in pingpong(seq)], fps=fps)
    return path
