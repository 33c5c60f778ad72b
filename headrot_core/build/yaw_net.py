"""Training the appearance yaw network of ``headrot_core.yaw_net`` on HopeNet-annotated crops of training identities
(mirror images with the sign flipped; colour, contrast, side-light and blur jitter so that light is not read as pose).
``python -m headrot_core train-yaw-net`` runs it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..diffusion import images_to_tensor
from ..yaw_net import SIZE, YawNet


def augment(x: torch.Tensor, yaw: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random mirror (yaw negated), small similarity jitter, colour, contrast, side-light ramp and blur: what
    changes between a photo and a generated frame, or between lights, but not the pose."""
    n = x.shape[0]
    u = lambda *s: torch.rand(*s, generator=g)  # noqa: E731
    flip = u(n) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    yaw = torch.where(flip, -yaw, yaw)
    angle = (u(n) - 0.5) * math.radians(10)
    scale = 1 + (u(n) - 0.5) * 0.12
    shift = (u(n, 2) - 0.5) * 0.1
    theta = torch.stack([torch.stack([scale * angle.cos(), -scale * angle.sin(), shift[:, 0]], 1),
                         torch.stack([scale * angle.sin(), scale * angle.cos(), shift[:, 1]], 1)], 1)
    x = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), padding_mode="border",
                      align_corners=False)
    gain = 1 + (u(n, 3, 1, 1) - 0.5) * 0.3
    mean = x.mean((1, 2, 3), keepdim=True)
    contrast = 1 + (u(n, 1, 1, 1) - 0.5) * 0.6
    ramp = torch.linspace(-1, 1, x.shape[-1]).view(1, 1, 1, -1) * (u(n, 1, 1, 1) - 0.5) * 0.6
    x = ((x - mean) * contrast + mean + (u(n, 1, 1, 1) - 0.5) * 0.3) * gain + ramp
    blur = u(n) < 0.3
    if blur.any():
        soft = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        x = torch.where(blur[:, None, None, None], soft, x)
    return x.clamp(-1, 1), yaw


@dataclass(frozen=True)
class YawNetReport:
    train_faces: int
    val_faces: int
    epochs: int
    val_mae: float  # degrees, against HopeNet, held-out identities
    val_median: float


def evaluate_yaw_net(net: YawNet, images: np.ndarray, yaws: np.ndarray, batch: int = 256) -> np.ndarray:
    """Absolute errors (degrees) of the network on uint8 (N, 64, 64, 3) crops."""
    net.eval()
    pred = torch.cat([net.yaw(images_to_tensor(images[i:i + batch], SIZE)) for i in range(0, len(images), batch)])
    return np.abs(pred.numpy() - yaws)


def balance_weights(yaws: np.ndarray, power: float, width: float = 5.0) -> np.ndarray:
    """Sampling weights ``count(bin of |yaw|) ** -power``: the annotated crops are mostly frontal (1,574 within 5
    degrees, 127 between 30 and 35), and the engine aims its far frames with this network."""
    bins = (np.abs(yaws) // width).astype(int)
    return np.bincount(bins)[bins].astype(np.float64) ** -power


def epoch_order(n: int, weights: torch.Tensor | None, g: torch.Generator) -> torch.Tensor:
    """One epoch's crop indices: a permutation, or ``n`` draws with replacement by ``weights``."""
    if weights is None:
        return torch.randperm(n, generator=g)
    return torch.multinomial(weights, n, replacement=True, generator=g)


def train_yaw_net(train_images: np.ndarray, train_yaws: np.ndarray, val_images: np.ndarray, val_yaws: np.ndarray,
                  out: str | Path, work: str | Path, epochs: int = 24, batch: int = 64, lr: float = 2e-3,
                  seed: int = 0, widths: tuple[int, ...] = (32, 64, 128, 256), balance: float = 0.0) -> YawNetReport:
    """Trains on uint8 64 px crops (yaw in degrees), resuming from ``work/checkpoint.pt``; writes ``out``.
    ``balance`` > 0 draws each epoch's crops (with replacement) by ``balance_weights``."""
    torch.manual_seed(seed)
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    net = YawNet(widths)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(train_images) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps_per_epoch, pct_start=0.15)
    start = 0
    ckpt = work / "checkpoint.pt"
    if ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start = state["epoch"]
    x_all, y_all = images_to_tensor(train_images, SIZE), torch.from_numpy(train_yaws.astype(np.float32)) / 30.0
    weights = torch.from_numpy(balance_weights(train_yaws, balance)) if balance > 0 else None
    for epoch in range(start, epochs):
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        order = epoch_order(len(x_all), weights, g)
        net.train()
        bar = tqdm(range(steps_per_epoch), desc=f"yaw net epoch {epoch + 1}/{epochs}", unit="batch", leave=False)
        for b in bar:
            idx = order[b * batch:(b + 1) * batch]
            x, y = augment(x_all[idx], y_all[idx], g)
            loss = F.smooth_l1_loss(net(x), y, beta=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.set_postfix(loss=f"{loss.item():.4f}")
        err = evaluate_yaw_net(net, val_images, val_yaws)
        tqdm.write(f"epoch {epoch + 1}: held-out MAE {err.mean():.2f} deg (median {np.median(err):.2f})")
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "epoch": epoch + 1}, ckpt)
    err = evaluate_yaw_net(net, val_images, val_yaws)
    report = YawNetReport(len(train_images), len(val_images), epochs, round(float(err.mean()), 3),
                          round(float(np.median(err)), 3))
    command = f"python -m headrot_core train-yaw-net --epochs {epochs}" + (f" --balance {balance}" if balance else "")
    net.eval().save(out, {"report": report.__dict__, "epochs": epochs, "seed": seed, "batch": batch, "lr": lr,
                          "balance": balance, "command": command,
                          "data": "HopeNet-annotated crops of training identities (identity % 20 != 0), 64 px, "
                                  "with mirror images; validated on held-out identities"})
    return report
