"""The DDIM face model: deterministic generation from latents x_T and the matching inversion (image -> x_T).

A diffusers ``UNet2DModel`` (epsilon prediction) with a ``DDIMScheduler`` (eta = 0). Inversion runs the same DDIM
update backwards on the same timesteps, so generate(invert(x)) ~ x; fixed-point iterations per step tighten it by
evaluating the noise at the point being solved for instead of the previous one.
Both can stop half-way (``start_t``): the latent is then x_t at that timestep, the rest of the schedule.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from diffusers import DDIMScheduler, UNet2DModel
from PIL import Image

from .loading import resolve_model_dir

DEFAULT_STEPS = 20


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` does bf16 arithmetic in hardware: a CPU with AVX-512 BF16 or AMX, a GPU from Ampere on.
    Elsewhere bf16 is emulated: on an AVX2 CPU one UNet call on 13 faces took 5.9 s under bf16 autocast against
    0.81 s in fp32 (docs/MODEL.md), and a Turing GPU (a T4) has no bf16 units."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    caps = torch.cpu.get_capabilities()
    return bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))


def autocast(device: torch.device, bf16: bool = True):
    """bf16 autocast where ``device`` runs it natively (``native_bf16``), else fp32; the weights stay fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 and native_bf16(device) else nullcontext()


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """CUDA when present (the app runs on a GPU if there is one), else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def unet_config(size: int = 64, preset: str = "default") -> dict:
    """UNet2DModel settings. ``default``: 10.7 M parameters, widths 32/64/128/256, one residual block a level,
    attention at 8x8: small enough to learn faces on a CPU and to run 13 frames x 20 steps in ~3 s there
    (docs/MODEL.md); ``tiny``: a few thousand parameters, for tests."""
    if preset == "tiny":
        return dict(sample_size=size, in_channels=3, out_channels=3, block_out_channels=(8, 16), layers_per_block=1,
                    down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
                    norm_num_groups=4, attention_head_dim=8)
    if preset == "default":
        return dict(sample_size=size, in_channels=3, out_channels=3, block_out_channels=(32, 64, 128, 256),
                    layers_per_block=1, attention_head_dim=32,
                    down_block_types=("DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                    up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"))
    raise ValueError(f"unknown model preset {preset!r} (expected 'default' or 'tiny')")


def make_scheduler() -> DDIMScheduler:
    """Linear betas as in the DDIM paper's CelebA model; trailing spacing so x_T sits at t = 999 (pure noise).

    clip_sample (the config default, used when sampling from noise) keeps each step's predicted clean image in
    [-1, 1]: at t = 999 that prediction divides the noise error by sqrt(alpha_bar) = 0.006, and unclipped it blew
    samples of an early model up to |x| = 44 (pure speckle) where clipped ones were already faces. Clipping is not
    invertible, so embedded faces are generated without it (``FaceDiffusion.generate(clip=False)``): on that same
    model, 20-step inversion with 2 fixed-point iterations reconstructed at 34.5 dB unclipped and 11.7 dB clipped."""
    return DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                         clip_sample=True, clip_sample_range=1.0, set_alpha_to_one=True, timestep_spacing="trailing",
                         prediction_type="epsilon")


def images_to_tensor(images: list[Image.Image] | np.ndarray, size: int) -> torch.Tensor:
    """PIL images or a uint8 (N, H, W, 3) array -> float tensor (N, 3, size, size) in [-1, 1]."""
    if isinstance(images, np.ndarray):
        arr = images if images.ndim == 4 else images[None]
        if arr.shape[1:3] != (size, size):
            arr = np.stack([np.asarray(Image.fromarray(a).resize((size, size), Image.LANCZOS)) for a in arr])
    else:
        arr = np.stack([np.asarray(im.convert("RGB").resize((size, size), Image.LANCZOS)) for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def tensor_to_images(x: torch.Tensor) -> list[Image.Image]:
    """The batch as uint8 images; scaled in place after the one copy that the clamp makes (frames at 512 px with
    their context are tens of millions of values)."""
    arr = x.detach().float().clamp(-1, 1).add_(1).mul_(127.5).round_().to(torch.uint8)
    return [Image.fromarray(a) for a in arr.permute(0, 2, 3, 1).contiguous().cpu().numpy()]


@dataclass
class FaceDiffusion:
    """A UNet and its DDIM scheduler on one device; all entry points are batched and deterministic."""

    unet: UNet2DModel
    scheduler: DDIMScheduler
    device: torch.device
    bf16: bool = True  # bf16 autocast where the device runs it natively (``native_bf16``); False: always fp32

    @property
    def size(self) -> int:
        return int(self.unet.config.sample_size)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path | None = None, device: str | torch.device | None = None
                        ) -> "FaceDiffusion":
        """Loads a diffusers DDIM/DDPM pipeline folder (``unet/`` + ``scheduler/``): the embedded default when
        ``name_or_path`` is None, else a local folder or a Hub repo id."""
        folder = resolve_model_dir(name_or_path)
        dev = pick_device(device)
        unet = UNet2DModel.from_pretrained(folder, subfolder="unet", torch_dtype=torch.float32,
                                           low_cpu_mem_usage=False).to(dev).eval()
        if dev.type == "cpu":
            unet = unet.to(memory_format=torch.channels_last)  # 13-14 frames a step: 315 -> 259 ms here (bf16)
        scheduler = DDIMScheduler.from_pretrained(folder, subfolder="scheduler")
        return cls(unet, scheduler, dev)

    @classmethod
    def new(cls, size: int = 64, preset: str = "default", device: str | torch.device | None = None,
            seed: int = 0) -> "FaceDiffusion":
        torch.manual_seed(seed)
        return cls(UNet2DModel(**unet_config(size, preset)), make_scheduler(), pick_device(device))

    def save_pretrained(self, path: str | Path, fp16: bool = True) -> Path:
        """Writes the diffusers layout (``model_index.json``, ``unet/``, ``scheduler/``); fp16 halves the size."""
        path = Path(path)
        unet = UNet2DModel.from_config(self.unet.config)
        unet.load_state_dict(self.unet.state_dict())
        unet.to(torch.float16 if fp16 else torch.float32).save_pretrained(path / "unet", safe_serialization=True)
        self.scheduler.save_pretrained(path / "scheduler")
        (path / "model_index.json").write_text(
            '{\n  "_class_name": "DDIMPipeline",\n  "_diffusers_version": "0.42.1",\n'
            '  "scheduler": ["diffusers", "DDIMScheduler"],\n  "unet": ["diffusers", "UNet2DModel"]\n}\n')
        return path

    @property
    def uses_bf16(self) -> bool:
        """Whether the UNet runs under bf16 autocast: about 1.8x faster where bf16 is native (AVX-512 BF16)."""
        return self.bf16 and native_bf16(self.device)

    def _eps(self, x: torch.Tensor, t: int) -> torch.Tensor:
        with autocast(self.device, self.bf16):
            x = x.contiguous(memory_format=torch.channels_last) if self.device.type == "cpu" else x
            return self.unet(x, torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)).sample.float()

    def _timesteps(self, steps: int, start_t: int | None = None) -> list[int]:
        """The generation's timesteps (decreasing), only those at or below ``start_t`` when given."""
        self.scheduler.set_timesteps(steps)
        return [int(t) for t in self.scheduler.timesteps if start_t is None or t <= start_t]

    def steps_from(self, steps: int, start_t: int | None = None) -> int:
        """DDIM steps (UNet calls a batch) that ``generate`` runs from a latent at ``start_t``."""
        return len(self._timesteps(steps, start_t))

    def _alpha(self, t: int) -> torch.Tensor:
        return self.scheduler.alphas_cumprod[t] if t >= 0 else self.scheduler.final_alpha_cumprod

    @torch.no_grad()
    def generate(self, latents: torch.Tensor, steps: int = DEFAULT_STEPS, clip: bool = False,
                 to_cpu: bool = True, start_t: int | None = None) -> torch.Tensor:
        """x_T (N, 3, H, W) -> images (about [-1, 1]), eta = 0, on the model's device; returns a CPU tensor.

        ``clip=False`` (for embedded faces) is the exact inverse of ``invert``; ``clip=True`` (for fresh noise and
        moved latents) keeps each step's predicted clean image in [-1, 1], which rescues samples of an imperfect
        model. ``to_cpu=False`` leaves the result on the device (training loops that feed it back). ``start_t``:
        the latents are x_t at that timestep (``invert(..., start_t=)``), not x_T: only the steps below it run."""
        for x in self.denoise(latents, steps, clip, start_t):
            pass
        return x.cpu() if to_cpu else x

    @torch.no_grad()
    def denoise(self, latents: torch.Tensor, steps: int = DEFAULT_STEPS, clip: bool = False,
                start_t: int | None = None) -> Iterator[torch.Tensor]:
        """``generate`` one DDIM step at a time, yielding x after each (on the device): a caller can run other
        model work between steps (the app's slider does not wait for a whole reconstruction)."""
        x = latents.to(self.device, torch.float32)
        scheduler = DDIMScheduler.from_config(self.scheduler.config, clip_sample=bool(clip))
        scheduler.set_timesteps(steps)
        for t in self._timesteps(steps, start_t):  # the same timesteps ``invert`` walks back
            x = scheduler.step(self._eps(x, t), t, x, eta=0.0).prev_sample
            yield x

    @torch.no_grad()
    def invert(self, images: torch.Tensor, steps: int = DEFAULT_STEPS, fixed_point_iters: int = 0,
               warm_start: bool = False, start_t: int | None = None) -> torch.Tensor:
        """Images in [-1, 1] -> x_T such that ``generate(x_T, steps)`` reproduces them; with ``start_t``, x_t at
        the last of the generation's timesteps at or below it (``generate(x_t, steps, start_t=start_t)``).

        Walks the generation's timesteps backwards with the same DDIM update solved for the noisier point. The
        plain step uses the noise predicted at the less noisy point; each fixed-point iteration re-predicts it at
        the current estimate of the noisier point, which is what generation will see. ``warm_start`` starts each
        step's iterations from the previous step's last prediction instead of a fresh one: one UNet call fewer
        per step (12 steps, 2 iterations: 25 calls instead of 36, 30.25 instead of 30.62 dB on 16 held-out faces;
        docs/MODEL.md).
        """
        x = images.to(self.device, torch.float32)
        stride = self.scheduler.config.num_train_timesteps // steps  # what scheduler.step() steps back by
        eps = None
        for t in reversed(self._timesteps(steps, start_t)):
            a_prev, a_t = self._alpha(t - stride).to(x.device), self._alpha(t).to(x.device)
            x0_coef, eps_coef = (a_t / a_prev).sqrt(), (1 - a_t).sqrt() - (a_t * (1 - a_prev) / a_prev).sqrt()
            if eps is None or not (warm_start and fixed_point_iters):
                eps = self._eps(x, t)
            x_next = x0_coef * x + eps_coef * eps
            for _ in range(fixed_point_iters):
                eps = self._eps(x_next, t)
                x_next = x0_coef * x + eps_coef * eps
            x = x_next
        return x.cpu()

    def inversion_calls(self, steps: int, fixed_point_iters: int, warm_start: bool = False,
                        start_t: int | None = None) -> int:
        """UNet calls of one ``invert`` (the app's progress bar counts them)."""
        n = self.steps_from(steps, start_t)
        if warm_start and fixed_point_iters:
            return 1 + n * fixed_point_iters
        return n * (1 + fixed_point_iters)

    def sample(self, n: int, seed: int = 0, steps: int = DEFAULT_STEPS) -> torch.Tensor:
        return self.generate(self.noise(n, seed), steps, clip=True)

    def noise(self, n: int, seed: int = 0) -> torch.Tensor:
        """Seeded x_T on the CPU, so the same seed gives the same faces on any device."""
        g = torch.Generator().manual_seed(seed)
        return torch.randn(n, 3, self.size, self.size, generator=g)
