"""The paper's frames: the clipped decoding of the moved latent itself, Gc(z + d) (unclipped, moved latents of this
model decode to colour speckle)."""
from __future__ import annotations

import torch

from . import Renderer


class Clipped(Renderer):
    def render(self, moved: torch.Tensor, base: torch.Tensor | None, source: torch.Tensor,
               crop: torch.Tensor | None) -> torch.Tensor:
        return moved


RENDERER = Clipped("clipped", needs_base=False, wants_crop=False)
