"""Frames back into the photo: the whole photo turning, at the photo's own resolution.

A frame is an aligned crop (any size) whose corners in the photo are ``crop_quad`` (clockwise from the top-left, as
``AlignedFace.crop_quad``), or that crop with the photo around it as the landmark renderer draws it
(``RotationResult.drawn``: the photo there moved with the crop's edge near it and unmoved at its own edge, so the
paste fades into the photo where nothing is displaced). Pasting it back inverts the alignment (the similarity
fitted to the quad) inside the quad's bounding box only, so a 1024 px photo costs what its face costs, and leaves
every pixel outside the quad as the photo had it.

The seam (measured in ``benchmarks/bench_compose.py``, docs/APP_STAGE.md): the model changes the hair and the
background near the crop's border too, so a frame's colour there is not the photo's. The frame first gets a smooth
colour correction: the low-frequency difference between the photo and the frame on the frame's border ring,
carried inwards as a harmonic membrane (the correction term of a Poisson blend, solved on the frame's square grid),
so its low frequencies meet the photo's exactly at the border. What is left (fine detail that differs) is hidden by
a feathered mask that fades the frame out over its outer band. OpenCV's seamlessClone (a full Poisson blend) left
no smaller seam on turned frames, took 27x longer and shifted the colours of the face at its own yaw further.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image
from scipy.fft import dstn, idstn
from scipy.ndimage import map_coordinates

from .animation import fit_size
from .face import apply, compose, invert, similarity_fit, warp

FEATHER = 0.12       # fraction of the crop's side over which a frame fades into the photo
COLOUR_SIGMA = 0.05  # the border ring's colour is blurred at this fraction of the side: low frequencies only
COLOUR_GRID = 64     # px: the correction is that smooth, so it is solved at this size and resized (0.7 s at 733 px)


def quad_similarity(crop_quad, side: float) -> np.ndarray:
    """2x3 similarity taking a ``side`` x ``side`` frame (continuous coordinates) onto the quad in the photo."""
    corners = np.array([[0.0, 0.0], [side, 0.0], [side, side], [0.0, side]])
    return similarity_fit(corners, np.asarray(crop_quad, np.float64))


def frame_placement(crop_quad, frame_px: int, crop_px: int | None,
                    feather: float = FEATHER) -> tuple[np.ndarray, float]:
    """Where a ``frame_px`` frame goes in the photo and the share of its side it fades over: a frame larger than the
    crop (``crop_px``) is the crop with the photo around it (``render.Crop``), so its quad is the crop's grown about
    its centre, and it fades over the width a crop's band has, at its own edge."""
    q = np.asarray(crop_quad, np.float64)
    if not crop_px or frame_px <= crop_px:
        return q, feather
    centre = q.mean(0)
    return centre + (q - centre) * (frame_px / crop_px), feather * crop_px / frame_px


def inner_crop(frame: Image.Image, crop_px: int) -> Image.Image:
    """The crop (``crop_px`` square) at the centre of a frame drawn over its context; a crop-sized frame itself."""
    m = (frame.width - crop_px) // 2
    return frame if m <= 0 else frame.crop((m, m, m + crop_px, m + crop_px))


def quad_box(crop_quad, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The quad's bounding box (x0, y0, x1, y1) in whole pixels, clipped to a photo of ``size`` (may be empty)."""
    q = np.asarray(crop_quad, np.float64)
    w, h = size
    x0, y0 = np.clip(np.floor(q.min(0)).astype(int), 0, [w, h])
    x1, y1 = np.clip(np.ceil(q.max(0)).astype(int), 0, [w, h])
    return int(x0), int(y0), int(x1), int(y1)


def harmonic_fill(values: np.ndarray) -> np.ndarray:
    """The membrane (discrete harmonic function) that takes ``values``' border rows and columns (an HxW or HxWxC
    grid) and is smoothest inside, per channel: solved exactly with a sine transform (no iterations)."""
    out = values.astype(np.float64).copy()
    h, w = out.shape[:2]
    if h < 3 or w < 3:
        return out.astype(np.float32)
    rhs = np.zeros((h - 2, w - 2) + out.shape[2:])
    rhs[0] += out[0, 1:-1]
    rhs[-1] += out[-1, 1:-1]
    rhs[:, 0] += out[1:-1, 0]
    rhs[:, -1] += out[1:-1, -1]
    ky = 2 * np.cos(np.pi * np.arange(1, h - 1) / (h - 1))
    kx = 2 * np.cos(np.pi * np.arange(1, w - 1) / (w - 1))
    eig = 4 - ky[:, None] - kx[None, :]
    eig = eig.reshape(eig.shape + (1,) * (out.ndim - 2))
    out[1:-1, 1:-1] = idstn(dstn(rhs, type=1, axes=(0, 1)) / eig, type=1, axes=(0, 1))
    return out.astype(np.float32)


def colour_correction(frame: np.ndarray, target: np.ndarray, sigma: float) -> np.ndarray:
    """What to add to ``frame`` (HxWx3 float) so that its colour, blurred at ``sigma`` px, equals ``target``'s (the
    photo resampled into the frame's grid) on the border, fading inwards harmonically."""
    diff = cv2.GaussianBlur(target - frame, (0, 0), max(sigma, 0.5), borderType=cv2.BORDER_REFLECT)
    return harmonic_fill(diff)


def feather_mask(frame_coords: np.ndarray, side: float, feather: float) -> np.ndarray:
    """Blend weight at frame coordinates (..., 2): 1 inside, 0 outside the frame, a smoothstep over the outer
    ``feather`` fraction of the side (no hard edge, no kink)."""
    inset = np.min(np.stack([frame_coords[..., 0], side - frame_coords[..., 0],
                             frame_coords[..., 1], side - frame_coords[..., 1]]), axis=0)
    r = np.clip(inset / max(feather * side, 1e-6), 0.0, 1.0) if feather > 0 else (inset > 0).astype(np.float64)
    return (r * r * (3 - 2 * r)).astype(np.float32)


def _pixel_centres(box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    ys, xs = np.mgrid[y0:y1, x0:x1]
    return np.stack([xs + 0.5, ys + 0.5], -1).astype(np.float64)


def paste_frames(photo: Image.Image, crop_quad, frames: list[Image.Image], feather: float = FEATHER,
                 match_colour: bool = True, crop_px: int | None = None) -> list[Image.Image]:
    """Each frame blended into ``photo`` at the quad, at the photo's resolution: one photo-sized image per frame.

    The frame is colour-matched to the photo on its border ring (``match_colour``), warped into the quad's bounding
    box in one bicubic resample (area-shrunk first when it is much larger) and faded in over its outer ``feather``
    fraction; pixels outside the quad are the photo's, exactly. Frames larger than ``crop_px`` (the crop's side)
    are the crop with the photo around it, drawn so that their outer part is the photo unmoved: they go into the
    quad grown to match, faded in over the same width as a crop's band, at their own edge (``frame_placement``),
    with no colour match."""
    if frames and crop_px and frames[0].width > crop_px:
        # its border is the photo's own pixels (unmoved, or for a mirror-turned frame mirrored): no colour to match,
        # and where it runs off the photo's edge (reflected there) a match against it tinted the face by up to 1/255
        crop_quad, feather = frame_placement(crop_quad, frames[0].width, crop_px, feather)
        match_colour = False
    photo = photo if photo.mode == "RGB" else photo.convert("RGB")
    arr = np.asarray(photo)
    box = quad_box(crop_quad, photo.size)
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return [photo.copy() for _ in frames]
    side = max(8, round(math.sqrt(abs(np.linalg.det(quad_similarity(crop_quad, 1.0)[:, :2])))))
    to_photo = quad_similarity(crop_quad, side)
    mask = feather_mask(apply(invert(to_photo), _pixel_centres(box)), side, feather)
    roi = np.ascontiguousarray(arr[y0:y1, x0:x1])
    roi_to_frame = compose(invert(to_photo), np.array([[1.0, 0, x0], [0, 1.0, y0]]))
    grid = (COLOUR_GRID, COLOUR_GRID)
    # beyond the photo's edge the target is its reflection, as in the frame's own crop (``AlignedFace.recrop``)
    target = warp(arr, quad_similarity(crop_quad, COLOUR_GRID), grid, cv2.BORDER_REFLECT_101).astype(np.float32) \
        if match_colour else None
    out = []
    for frame in frames:
        f = np.asarray(frame if frame.mode == "RGB" else frame.convert("RGB"))
        if target is not None:
            f = matched(f, target)
        # one bicubic resample, frame to photo: a resize to the quad's side and then a bilinear warp into the photo
        # kept 0.47 of the face's finest detail from 512 px frames, this 0.62 (6 portraits; Lanczos: the same, 2.5
        # times the time; benchmarks/bench_sharpness.py)
        to_frame = compose(np.array([[f.shape[1] / side, 0.0, 0.0], [0.0, f.shape[0] / side, 0.0]]), roi_to_frame)
        full = arr.copy()
        full[y0:y1, x0:x1] = cv2.blendLinear(warp(f, to_frame, (x1 - x0, y1 - y0), interpolation=cv2.INTER_CUBIC),
                                             roi, mask, 1 - mask)
        out.append(Image.fromarray(full))
    return out


def matched(frame: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``frame`` (uint8) plus the colour correction towards ``target`` (the photo in a ``COLOUR_GRID`` grid), solved
    in that grid and resized to the frame."""
    h, w = frame.shape[:2]
    small = cv2.resize(frame, target.shape[1::-1], interpolation=cv2.INTER_AREA) if (h, w) != target.shape[:2] \
        else frame
    correction = colour_correction(small.astype(np.float32), target, COLOUR_SIGMA * target.shape[0])
    if (h, w) != target.shape[:2]:
        correction = cv2.resize(correction, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(frame + correction + 0.5, 0, 255).astype(np.uint8)


def shrink(photo: Image.Image, crop_quad, max_side: int) -> tuple[Image.Image, np.ndarray]:
    """The photo with its long side at most ``max_side`` px (Lanczos) and the quad in its coordinates: pasting into
    this costs a fraction of the full size, and 13 such frames make a light GIF or strip."""
    w, h = photo.size
    size = fit_size(photo.size, max_side) if max(w, h) > max_side else photo.size
    quad = np.asarray(crop_quad, np.float64) * [size[0] / w, size[1] / h]
    return (photo if size == photo.size else photo.resize(size, Image.LANCZOS)), quad


def seam_jump(pasted: Image.Image, photo: Image.Image, crop_quad, feather: float = FEATHER,
              levels: int = 5) -> float:
    """How much the seam adds to the image's gradient: the mean colour gradient across the seam (normal to the
    quad's sides, 1 photo px either side, along ``levels`` lines spanning the feathered band) in ``pasted``, over
    the same in ``photo``. 1: the seam adds no edge; a hard, colour-mismatched paste gives several times that."""
    side = 1.0
    to_photo = quad_similarity(crop_quad, side)
    scale = math.sqrt(abs(np.linalg.det(to_photo[:, :2])))
    n_along = max(8, int(scale))
    band = max(feather, 2.0 / scale)
    pts, normals = [], []
    t = (np.arange(n_along) + 0.5) / n_along
    for d in np.linspace(0.0, band, levels):
        span = d + t * (side - 2 * d)
        for fixed, along_x, normal in ((d, True, (0, -1)), (side - d, True, (0, 1)),
                                       (d, False, (-1, 0)), (side - d, False, (1, 0))):
            xy = np.stack([span, np.full_like(span, fixed)], -1) if along_x else \
                np.stack([np.full_like(span, fixed), span], -1)
            pts.append(xy)
            normals.append(np.tile(normal, (len(span), 1)))
    p = apply(to_photo, np.concatenate(pts))
    n = np.concatenate(normals) @ to_photo[:, :2].T / scale  # unit normals in the photo
    w, h = photo.size
    keep = (p[:, 0] > 1.5) & (p[:, 0] < w - 1.5) & (p[:, 1] > 1.5) & (p[:, 1] < h - 1.5)
    p, n = p[keep], n[keep]

    def across(img: Image.Image) -> float:
        a = np.asarray(img.convert("RGB"), np.float32)
        diff = 0.0
        for c in range(3):
            ahead = map_coordinates(a[..., c], [(p + n)[:, 1] - 0.5, (p + n)[:, 0] - 0.5], order=1)
            back = map_coordinates(a[..., c], [(p - n)[:, 1] - 0.5, (p - n)[:, 0] - 0.5], order=1)
            diff += np.abs(ahead - back).mean() / 2
        return diff / 3

    return across(pasted) / max(across(photo), 1e-6)
