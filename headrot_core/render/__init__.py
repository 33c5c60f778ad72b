"""Renderers: how a face's frames are made from the model's decodings of its moved latents and from the photo.

The engine (``headrot_core.rotation``) decodes the moved latents in one clipped DDIM batch, with the unmoved latent
in the same batch when the renderer needs that base decoding Gc(z), and hands the result to a renderer. A renderer
is one module of this package with a ``RENDERER`` instance; adding one is that module plus its name in ``NAMES``.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from importlib import import_module

import numpy as np
import torch


@dataclass(frozen=True)
class Drawn:
    """A renderer's frames, and the yaw change (degrees) it drew each at when it sets the turn itself (the landmark
    renderer reads the model's turn off its decodings, then draws that turn): the feedback steers by that number,
    which is exact, instead of reading a warped frame's pixels with the yaw network (None: read the pixels)."""

    frames: torch.Tensor
    turns: np.ndarray | None = None


@dataclass(frozen=True)
class Crop:
    """The photo's aligned crop at its own resolution, with the photo around it: ``pixels`` (1, 3, C, C) in
    [-1, 1], the crop being its centre with ``margin`` px of the photo on every side (0: none known, e.g. a dataset
    crop). A renderer that moves the crop's border draws what comes in from beyond it from there, where a reflection
    of the crop drew a mirrored corner of hair or background into uploads (``LandmarkSettings.hair_follow``), and
    may draw its frames over all of it (C x C): the landmark renderer moves the photo around the crop with the
    crop's edge, so that a frame pasted back meets the photo with nothing displaced (``compose.paste_frames``)."""

    pixels: torch.Tensor
    margin: int = 0

    @property
    def size(self) -> int:
        """The crop's side (px)."""
        return self.pixels.shape[-1] - 2 * self.margin

    @property
    def inner(self) -> torch.Tensor:
        """The crop alone (1, 3, R, R)."""
        m = self.margin
        return self.pixels[..., m:m + self.size, m:m + self.size]


@dataclass(frozen=True)
class Renderer:
    """``needs_base``: Gc(z) is decoded with the moves (at the engine's ``residual_steps``; without it the full
    ``steps``); ``wants_crop``: the photo's crop at its own resolution is prepared for it (else the model-size
    source is all it gets); ``draws_turns``: it draws a frame from a yaw change alone (``draw``), so a turn the
    face's measured response already gives needs no decode."""

    name: str
    needs_base: bool
    wants_crop: bool
    draws_turns: bool = False

    def render(self, moved: torch.Tensor, base: torch.Tensor | None, source: torch.Tensor,
               crop: Crop | None) -> torch.Tensor:
        """Frames (N, 3, R, R), or over the crop's whole context (N, 3, C, C), in [-1, 1] from the moved decodings
        (N, 3, h, w), the base (1, 3, h, w) when ``needs_base``, the model-size source crop (1, 3, h, w) and the
        photo's crop (R x R, with the photo around it) or None."""
        raise NotImplementedError

    def render_steps(self, moved: torch.Tensor, base: torch.Tensor | None, source: torch.Tensor,
                     crop: Crop | None) -> Iterator[Drawn | None]:
        """``render`` in parts: None after each, then the ``Drawn`` frames. A renderer that takes long yields between
        frames, so that the app, which runs each part as its own model job, serves a released slider in between."""
        yield Drawn(self.render(moved, base, source, crop))

    def draw(self, turns: np.ndarray, source: torch.Tensor, crop: Crop | None) -> Drawn:
        """Frames of the photo turned by each of ``turns`` (degrees), when ``draws_turns``."""
        raise NotImplementedError

    def read_turns(self, moved: torch.Tensor, base: torch.Tensor | None) -> np.ndarray:
        """The turn (degrees) ``render`` would draw for each moved decoding, without drawing it, when
        ``draws_turns``: the feedback measures every decoding but keeps only one frame per target, so each frame
        is drawn once, after the choice."""
        raise NotImplementedError


NAMES = ("residual", "clipped", "warp", "landmarks")  # the registry: one module of this package each


def renderer(name: str) -> Renderer:
    if name not in NAMES:
        raise ValueError(f"decode must be one of {NAMES}, got {name!r}")
    return import_module(f"{__name__}.{name}").RENDERER
