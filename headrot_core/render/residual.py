"""The residual renderer (the default): the photo plus the change the move makes to the clipped decoding,
x + Gc(z + d) - Gc(z). The clipping damage common to both decodings cancels and the frame at the photo's own yaw is
the photo itself; but the change is added as pixels, so a feature that moves far shows twice (docs/EVALUATION.md)."""
from __future__ import annotations

import torch

from . import Renderer


class Residual(Renderer):
    def render(self, moved: torch.Tensor, base: torch.Tensor | None, source: torch.Tensor,
               crop: torch.Tensor | None) -> torch.Tensor:
        return source + moved - base


RENDERER = Residual("residual", needs_base=True, wants_crop=False)
