"""An appearance-based yaw estimator (a small CNN on the 64 px crop), independent of the landmark estimator.

Why a second estimator: the evaluation reads the pose of generated frames with the landmark estimator of
``analysis``, and a damaged frame can fool it (a ghosted face, the photo's features and the moved ones overlaid,
reads as turned). This network shares nothing with it: it sees pixels, not dlib's landmarks, and learns HopeNet's
yaw directly from the annotated crops of training identities (mirror images with the sign flipped; colour,
contrast, side-light and blur jitter so that light is not read as pose). Where the two agree, the pose is probably real;
where they disagree, neither number is. Like the landmark estimator it is made exactly mirror-antisymmetric:
``yaw(x) = (f(x) - f(mirror x)) / 2``.

``python -m headrot_core train-yaw-net`` trains it into ``assets/yaw_net`` (``headrot_core.build.yaw_net``; resumable;
its 24 epochs took about 30 minutes on two cores).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from .loading import ASSETS

DEFAULT_YAW_NET = ASSETS / "yaw_net"
WEIGHTS, CONFIG = "yaw_net.safetensors", "yaw_net.json"
SIZE = 64


class YawNet(nn.Module):
    """Four stride-2 stages of two 3x3 convolutions (BatchNorm, ReLU), global average pooling, one linear output."""

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 256)):
        super().__init__()
        layers, cin = [], 3
        for i, w in enumerate(widths):
            layers += [nn.Conv2d(cin, w, 3, stride=1 if i == 0 else 2, padding=1, bias=False), nn.BatchNorm2d(w),
                       nn.ReLU(inplace=True), nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w),
                       nn.ReLU(inplace=True)]
            cin = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(cin, 1))
        self.widths = tuple(widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 64, 64) in [-1, 1] -> (N,) yaw in units of 30 degrees (one-sided)."""
        return self.head(self.features(x).mean((2, 3)))[:, 0]

    @torch.no_grad()
    def yaw(self, x: torch.Tensor) -> torch.Tensor:
        """Mirror-antisymmetric yaw in degrees of (N, 3, H, W) images in [-1, 1] (resized to 64 px)."""
        if x.shape[-1] != SIZE:
            x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", antialias=True, align_corners=False)
        out = self(torch.cat([x, x.flip(-1)]))
        n = x.shape[0]
        return (out[:n] - out[n:]) * 15.0  # (f(x) - f(mirror x)) / 2, in degrees

    def save(self, folder: str | Path, meta: dict) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().to(torch.float16).contiguous() for k, v in self.state_dict().items()
                   if v.is_floating_point()}, folder / WEIGHTS)
        (folder / CONFIG).write_text(json.dumps({"widths": list(self.widths), **meta}, indent=1) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path = DEFAULT_YAW_NET, device: str | torch.device = "cpu") -> "YawNet":
        folder = Path(folder)
        if not (folder / WEIGHTS).is_file():
            raise FileNotFoundError(f"no yaw network at {folder} (train it: python -m headrot_core train-yaw-net)")
        cfg = json.loads((folder / CONFIG).read_text())
        net = cls(tuple(cfg["widths"]))
        state = {k: v.float() for k, v in load_file(folder / WEIGHTS).items()}
        net.load_state_dict(state, strict=False)  # BatchNorm's integer step counters are not stored
        return net.to(device).eval()


@lru_cache(maxsize=2)
def load_yaw_net(folder: str | None = None) -> YawNet:
    return YawNet.load(folder or DEFAULT_YAW_NET)


def yaw_net_available(folder: str | Path | None = None) -> bool:
    return (Path(folder or DEFAULT_YAW_NET) / WEIGHTS).is_file()
