"""Held-out denoising loss of DDIM models by timestep band: where a checkpoint got better or worse at predicting
the noise. Sample quality hangs on the noisiest bands (they set each sample's layout and colour), so a lower overall
loss can still give worse samples.
    .venv/bin/python scripts/heldout_loss.py assets/model ~/.cache/headrot/runs/ddim64-cont/model
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from headrot_core.diffusion import FaceDiffusion, autocast, images_to_tensor  # noqa: E402
from headrot_core.measure.model_card import heldout_crops  # noqa: E402

BANDS = [(0, 100), (100, 300), (300, 500), (500, 700), (700, 900), (900, 1000)]


@torch.no_grad()
def band_losses(model: FaceDiffusion, x0: torch.Tensor, repeats: int, seed: int = 0) -> list[float]:
    """Mean epsilon MSE per band, with the same timesteps and noise for every model (seeded)."""
    out = []
    for lo, hi in BANDS:
        gen = torch.Generator().manual_seed(seed + lo)
        losses = []
        for _ in range(repeats):
            for start in range(0, len(x0), 64):
                x = x0[start:start + 64]
                t = torch.randint(lo, hi, (len(x),), generator=gen)
                noise = torch.randn(x.shape, generator=gen)
                with autocast(model.device, model.bf16):
                    pred = model.unet(model.scheduler.add_noise(x, noise, t), t).sample.float()
                losses.append(float(((pred - noise) ** 2).mean()))
        out.append(float(np.mean(losses)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--faces", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    crops = heldout_crops(args.faces, 64)
    print(f"held-out denoising loss (epsilon MSE), {len(crops)} held-out crops x {args.repeats} draws a band\n")
    print("| model | " + " | ".join(f"t {lo}–{hi - 1}" for lo, hi in BANDS) + " |")
    print("| --- |" + " --- |" * len(BANDS))
    for name in args.models:
        model = FaceDiffusion.from_pretrained(name, "cpu")
        x0 = images_to_tensor(crops, model.size).cpu()
        print(f"| {name} | " + " | ".join(f"{v:.4f}" for v in band_losses(model, x0, args.repeats)) + " |")


if __name__ == "__main__":
    main()
