"""The embedding network of Asperti et al. 2023 ("Image embedding for denoising generative models"): a U-Net E
with DDIM(E(x)) ~ x, so embedding a face costs one forward pass instead of a many-step DDIM inversion.

This is the runtime reader (``Embedder``: load, embed, refine); ``headrot_core.build.embedding`` trains it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers import UNet2DModel

from .diffusion import DEFAULT_STEPS, FaceDiffusion, autocast, pick_device

EMBEDDER_CONFIG = "headrot_embedder.json"


def embedder_config(size: int = 64, preset: str = "default") -> dict:
    """UNet2DModel settings for the image -> latent U-Net. ``default``: 6.6 M parameters, widths 32/64/128/192,
    one residual block a level, no attention (about 10 ms for one 64 px face on two CPU cores with bf16);
    ``tiny``: a few thousand parameters, for tests."""
    if preset == "tiny":
        return dict(sample_size=size, in_channels=3, out_channels=3, block_out_channels=(8, 16), layers_per_block=1,
                    down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                    norm_num_groups=4)
    if preset == "default":
        return dict(sample_size=size, in_channels=3, out_channels=3, block_out_channels=(32, 64, 128, 192),
                    layers_per_block=1,
                    down_block_types=("DownBlock2D",) * 4, up_block_types=("UpBlock2D",) * 4)
    raise ValueError(f"unknown embedder preset {preset!r} (expected 'default' or 'tiny')")


@dataclass
class Embedder:
    """An image -> x_T U-Net (fed a constant timestep 0) on one device, trained for ``steps`` DDIM steps."""

    unet: UNet2DModel
    device: torch.device
    steps: int = DEFAULT_STEPS
    info: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.unet.config.sample_size)

    @classmethod
    def new(cls, size: int = 64, preset: str = "default", device: str | torch.device | None = None,
            steps: int = DEFAULT_STEPS, seed: int = 0) -> "Embedder":
        torch.manual_seed(seed)
        dev = pick_device(device)
        return cls(UNet2DModel(**embedder_config(size, preset)).to(dev).eval(), dev, steps, {"preset": preset})

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device | None = None) -> "Embedder":
        folder = Path(folder)
        if not (folder / EMBEDDER_CONFIG).is_file() and (folder / "embedder" / EMBEDDER_CONFIG).is_file():
            folder = folder / "embedder"  # a training run folder
        cfg_path = folder / EMBEDDER_CONFIG
        if not cfg_path.is_file():
            raise FileNotFoundError(f"{folder} is not a HeadRot embedder folder: missing {EMBEDDER_CONFIG}")
        info = json.loads(cfg_path.read_text())
        dev = pick_device(device)
        unet = UNet2DModel.from_pretrained(folder, subfolder="unet", torch_dtype=torch.float32,
                                           low_cpu_mem_usage=False).to(dev).eval()
        return cls(unet, dev, int(info.get("ddim_steps", DEFAULT_STEPS)), info)

    def save_pretrained(self, folder: str | Path, fp16: bool = True, **extra) -> Path:
        """``unet/`` in the diffusers layout (fp16 safetensors) + ``headrot_embedder.json``."""
        folder = Path(folder)
        unet = UNet2DModel.from_config(self.unet.config)
        unet.load_state_dict(self.unet.state_dict())
        unet.to(torch.float16 if fp16 else torch.float32).save_pretrained(folder / "unet", safe_serialization=True)
        info = {**self.info, **extra, "_class_name": "HeadRotEmbedder", "kind": "image-to-DDIM-latent embedder",
                "ddim_steps": self.steps, "sample_size": self.size}
        (folder / EMBEDDER_CONFIG).write_text(json.dumps(info, indent=2) + "\n")
        return folder

    def to(self, device: str | torch.device) -> "Embedder":
        self.device = torch.device(device)
        self.unet.to(self.device)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw forward on the device (keeps autograd): images (N, 3, H, W) -> latents, fp32."""
        t = torch.zeros(x.shape[0], device=x.device, dtype=torch.long)
        with autocast(x.device):
            return self.unet(x, t).sample.float()

    @torch.no_grad()
    def _embed_dev(self, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        x = x.to(self.device, torch.float32)
        return torch.cat([self.forward(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])

    @torch.no_grad()
    def embed(self, images: torch.Tensor, refine_iters: int = 0, model: FaceDiffusion | None = None,
              steps: int | None = None, batch_size: int = 256, criterion: str = "image") -> torch.Tensor:
        """Images in [-1, 1] (N, 3, H, W) -> x_T (CPU float tensor) with ``model.generate(x_T, steps) ~ images``.

        ``refine_iters`` > 0 runs the fixed-point correction z <- z + a (E(x) - E(G(z))) with the face ``model``,
        safeguarded per image: a step is kept only if it does not increase the ``criterion`` error -- ``"image"``:
        |G(z) - x|^2, ``"latent"``: the consistency |E(G(z)) - E(x)|^2 -- else it is undone and that image's step
        size a (starting at 1) halves. So refinement never makes the chosen error worse; it costs
        ``refine_iters + 1`` DDIM generations (the first one measures the starting point).
        """
        if images.ndim == 3:
            images = images[None]
        if criterion not in ("image", "latent"):
            raise ValueError(f"criterion must be 'image' or 'latent', not {criterion!r}")
        was_training = self.unet.training
        self.unet.eval()
        try:
            x = images.to(self.device, torch.float32)
            ex = self._embed_dev(x, batch_size)
            if not refine_iters:
                return ex.cpu()
            if model is None:
                raise ValueError("refine_iters > 0 needs the face model (model=FaceDiffusion)")
            steps = steps or self.steps

            def evaluate(z):
                g = torch.cat([model.generate(z[i:i + batch_size], steps, to_cpu=False)
                               for i in range(0, z.shape[0], batch_size)]).to(self.device).clamp_(-1, 1)
                r = ex - self._embed_dev(g, batch_size)
                err = (g - x if criterion == "image" else r).pow(2).flatten(1).mean(1)
                return r, err

            z = ex
            r, err = evaluate(z)
            step = torch.ones(z.shape[0], device=self.device)
            for _ in range(refine_iters):
                z_new = z + step.view(-1, 1, 1, 1) * r
                r_new, err_new = evaluate(z_new)
                ok = err_new <= err
                keep = ok.view(-1, 1, 1, 1)
                z, r, err = torch.where(keep, z_new, z), torch.where(keep, r_new, r), torch.where(ok, err_new, err)
                step = torch.where(ok, step, step / 2)
            return z.cpu()
        finally:
            self.unet.train(was_training)
