"""The warp renderer: the photo's own pixels carried along the motion the model's decodings show.

A residual frame x + Gc(z + d) - Gc(z) adds the change as pixels, so a feature that moves shows twice (the photo's
and the moved copy). Here the model only says *where* things go: dense optical flow from the moved decoding
Gc(z + d) back to the unmoved one Gc(z), regularised (confidence-weighted smoothing, so the flow of a damaged far
decoding cannot tear the face), then the photo's crop is warped along it at its own resolution. What the warp cannot
carry comes from the model at low frequency only: the shading change (blurred Gc(z + d) minus the blurred warped
Gc(z)), and, where the two flows disagree (a region that was hidden), the moved decoding itself, blended softly;
both as brightness only, because the colour of a damaged far decoding is where its blotches are (on 40 held-out
faces the realism test's accuracy fell from 0.69 to 0.65 with it, docs/EVALUATION.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from . import Crop, Renderer

FLOW_PX = 128  # the decodings (64 px) are upsampled to this for the flow: DIS needs a few pixels per feature


@dataclass(frozen=True)
class WarpSettings:
    """Regularisation and blending, in pixels of ``FLOW_PX`` (scaled to the output)."""

    smooth_sigma: float = 5.0     # confidence-weighted Gaussian smoothing of the flow
    confidence_sigma: float = 0.08  # photometric error (grey, 0..1) at which a flow vector's weight falls to 1/e
    shading_sigma: float = 6.0    # the model's shading change is added below this scale
    occlusion_px: float = 1.5     # forward-backward mismatch beyond which a pixel counts as newly visible
    occlusion_blur: float = 3.0
    horizontal_only: bool = False  # a yaw turn moves features sideways: drop the flow's vertical part
    occlusion: bool = True
    luma_only: bool = True  # the model's shading and fill change brightness only: its colour is the photo's


def _grey(x: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] -> uint8 grey, as DIS wants."""
    return np.clip(cv2.cvtColor(x.astype(np.float32), cv2.COLOR_RGB2GRAY) * 255 + 0.5, 0, 255).astype(np.uint8)


def _luma(x: np.ndarray) -> np.ndarray:
    return x @ np.array([0.299, 0.587, 0.114], np.float32)


def _to_hwc(t: torch.Tensor, size: int) -> np.ndarray:
    """(3, h, w) in [-1, 1] -> (size, size, 3) float32 in [0, 1], bicubic."""
    arr = ((t.detach().float().cpu().clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()
    if arr.shape[0] != size:
        arr = cv2.resize(arr, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(arr, 0, 1)


def _remap(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``img`` sampled at p + flow(p) (bilinear, edges replicated)."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _dis():
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setUseSpatialPropagation(True)
    return dis


def regularised_flow(moved: np.ndarray, base: np.ndarray, s: WarpSettings) -> tuple[np.ndarray, np.ndarray]:
    """(flow, newly visible mask): flow(p) points from ``moved``'s pixel p to where it sits in ``base``; the mask is
    where the backward and forward flows disagree (soft, 0..1). Both images (H, W, 3) in [0, 1] at FLOW_PX."""
    gm, gb = _grey(moved), _grey(base)
    dis = _dis()
    back = dis.calc(gm, gb, None)
    fwd = dis.calc(gb, gm, None)
    err = np.abs(_remap(gb.astype(np.float32), back) - gm.astype(np.float32)) / 255.0
    weight = np.exp(-(err / s.confidence_sigma) ** 2).astype(np.float32) + 1e-4
    blur = lambda a: cv2.GaussianBlur(a, (0, 0), s.smooth_sigma)  # noqa: E731
    norm = blur(weight)
    flow = np.stack([blur(back[..., c] * weight) / norm for c in range(2)], -1)
    if s.horizontal_only:
        flow[..., 1] = 0
    mismatch = np.linalg.norm(flow + _remap(fwd, flow), axis=-1)
    hidden = np.clip(mismatch / s.occlusion_px - 1.0, 0.0, 1.0).astype(np.float32)
    return flow, cv2.GaussianBlur(hidden, (0, 0), s.occlusion_blur)


def warp_frames(crop: torch.Tensor, moved: torch.Tensor, base: torch.Tensor,
                settings: WarpSettings = WarpSettings()) -> torch.Tensor:
    """Frames at the photo's resolution: ``crop`` (1, 3, R, R) the photo's aligned crop, ``moved`` (N, 3, h, w) the
    moved decodings and ``base`` (1, 3, h, w) the unmoved one, all in [-1, 1]. Returns (N, 3, R, R) in [-1, 1]."""
    photo = _to_hwc(crop[0], crop.shape[-1])
    r = photo.shape[0]
    scale = r / FLOW_PX
    b = _to_hwc(base[0], FLOW_PX)
    out = []
    for m_t in moved:
        m = _to_hwc(m_t, FLOW_PX)
        flow, hidden = regularised_flow(m, b, settings)
        shading = (cv2.GaussianBlur(m, (0, 0), settings.shading_sigma)
                   - cv2.GaussianBlur(_remap(b, flow), (0, 0), settings.shading_sigma))
        if settings.luma_only:
            shading = _luma(shading)[..., None].repeat(3, -1)
        up = lambda a: cv2.resize(a, (r, r), interpolation=cv2.INTER_LINEAR)  # noqa: E731
        frame = _remap(photo.astype(np.float32), up(flow) * scale) + up(shading)
        if settings.occlusion and hidden.max() > 0:
            a = up(hidden)[..., None]
            fill = cv2.resize(m, (r, r), interpolation=cv2.INTER_CUBIC)
            if settings.luma_only:
                fill = frame + (_luma(fill) - _luma(frame))[..., None]
            frame = (1 - a) * frame + a * fill
        out.append(np.clip(frame, 0, 1))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2) * 2 - 1


class Warp(Renderer):
    def render(self, moved: torch.Tensor, base: torch.Tensor | None, source: torch.Tensor,
               crop: Crop | None) -> torch.Tensor:
        return warp_frames(source if crop is None else crop.inner, moved, base)


RENDERER = Warp("warp", needs_base=True, wants_crop=True)
