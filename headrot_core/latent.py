"""The latent stage: where the engine puts a face in the model, and the two ways back out.

The latent is x_t at the settings' ``latent_t``, where DDIM inversion stops, or x_T (``latent_t`` None). At x_T the
embedding network can embed a face in one pass instead. Every UNet run on a latent is here. The clipped decode of
moved latents feeds a renderer: unclipped, moved latents of this model decode to colour speckle. The unclipped
reconstruction G(z) is the exact inverse of the inversion, so it shows what the model kept of the face. Both
decodes are step-wise: the app runs each DDIM step as its own model job.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

import torch

from .diffusion import FaceDiffusion
from .settings import EngineSettings

if TYPE_CHECKING:
    from .embedding import Embedder


@dataclass(frozen=True)
class Latent:
    """Embeds at the settings' steps, fixed-point iterations, warm start and timestep; ``embedder``, when given,
    embeds instead (to x_T only)."""

    model: FaceDiffusion
    settings: EngineSettings
    embedder: Embedder | None = None

    def __post_init__(self):
        if self.embedder is not None and not self.settings.network_embeds:
            raise ValueError(f"the embedding network embeds to x_T; these lines live at t = {self.settings.latent_t}: "
                             "use embedding='inversion'")

    @property
    def method(self) -> str:
        return "inversion" if self.embedder is None else "network"

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Crops (N, 3, H, W) in [-1, 1] -> their latents, on the CPU."""
        if self.embedder is not None:
            return self.embedder.embed(x)
        s = self.settings
        return self.model.invert(x, s.steps, s.fixed_point_iters, s.warm_start, s.latent_t)

    @property
    def embedding_calls(self) -> int:
        """UNet calls to embed one face (0 for the network, which is not the face model)."""
        if self.embedder is not None:
            return 0
        s = self.settings
        return self.model.inversion_calls(s.steps, s.fixed_point_iters, s.warm_start, s.latent_t)

    def decode_calls(self, steps: int) -> int:
        """UNet calls (of one batch) of ``decode_steps`` at ``steps`` DDIM steps."""
        return self.model.steps_from(steps, self.settings.latent_t)

    def decode_steps(self, latents: torch.Tensor, steps: int) -> Iterator[torch.Tensor | None]:
        """Gc of a batch of latents at ``steps`` DDIM steps, each step's clean image clipped to [-1, 1]: None after
        each step, then the decodings on the CPU."""
        return self._denoise(latents, steps, clip=True)

    def reconstruct_steps(self, z: torch.Tensor) -> Iterator[torch.Tensor | None]:
        """G(z) of a batch, unclipped, at the settings' ``steps``: None after each DDIM step, then G(z) on the
        CPU."""
        return self._denoise(z, self.settings.steps, clip=False)

    def reconstruct(self, z: torch.Tensor) -> torch.Tensor:
        return last(self.reconstruct_steps(z))

    def _denoise(self, latents: torch.Tensor, steps: int, clip: bool) -> Iterator[torch.Tensor | None]:
        for x in self.model.denoise(latents, steps, clip=clip, start_t=self.settings.latent_t):
            yield None
        yield x.cpu()

    @contextmanager
    def reporting(self, progress: Callable[[float], None] | None, total: int):
        """Calls ``progress(done fraction)`` after each UNet call in the block, ``total`` calls being all of it."""
        if progress is None:
            yield
            return
        calls = [0]

        def counted(*_):
            calls[0] += 1
            progress(min(calls[0] / total, 1.0))

        handle = self.model.unet.register_forward_hook(counted)
        try:
            yield
        finally:
            handle.remove()


def last(steps: Iterator):
    """The final item of a step-wise generator."""
    for out in steps:
        pass
    return out
