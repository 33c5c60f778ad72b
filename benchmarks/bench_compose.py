"""The app's stage pieces on this CPU: pasting frames back into a 1024 px photo, the seam, the MP4, the method plot.

    python benchmarks/bench_compose.py [--photos 6] [--repeats 3] [--sheet out.png]

Rotates whole 1024 px portraits (the shared data's hq1024/) with the embedded default model (calibrated frames, no
feedback: what the app shows first), then prints markdown tables: per seam method, the seam jump (``seam_jump``:
gradient across the seam over the photo's own; 1 = no added edge) at the source's own yaw and at +-30 degrees, the
mean difference from the photo outside the quad and inside it at the source's yaw, and the paste time; for the
+-30 frames drawn from the photo and for those drawn from its mirror image (``mirror_turned``: their crop, background
and hair included, is mirrored, the photo around it is not), the frame's difference from the photo where the paste
fades one into the other (``band_mismatch``), for the crop alone and for the frame as drawn over the photo around
the crop (``RotationResult.drawn``, what the app pastes), and the seam jump; then the timings (median of the repeats after a
warm-up). ``--sheet`` writes a contact sheet of the pasted frames to look at
(dataset photos: keep it out of the repository).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from headrot_core.animation import save_animation, save_video, upscale  # noqa: E402
from headrot_core.compose import (FEATHER, feather_mask, frame_placement, inner_crop, paste_frames,  # noqa: E402
                                  quad_similarity, seam_jump, shrink)
from headrot_core.diffusion import images_to_tensor  # noqa: E402
from headrot_core.explain import method_plot  # noqa: E402
from headrot_core.face import apply, invert, warp  # noqa: E402
from headrot_core.imaging import make_grid  # noqa: E402
from timing import timed  # noqa: E402

YAWS = tuple(float(y) for y in range(-30, 31, 5))


def inside_quad(quad, size: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(size[::-1], np.uint8)
    cv2.fillConvexPoly(mask, np.round(np.asarray(quad) - 0.5).astype(np.int32), 1)
    return mask.astype(bool)


def poisson_clone(photo: Image.Image, quad, frames: list[Image.Image]) -> list[Image.Image]:
    """The gradient-domain alternative: OpenCV's seamlessClone of the frame, warped into the photo, over the quad."""
    arr = np.asarray(photo)
    w, h = photo.size
    mask = inside_quad(quad, photo.size).astype(np.uint8) * 255
    mask[:2], mask[-2:], mask[:, :2], mask[:, -2:] = 0, 0, 0, 0  # seamlessClone needs a margin
    mask = cv2.erode(mask, np.ones((5, 5), np.uint8))
    x, y, bw, bh = cv2.boundingRect(mask)
    centre = (x + bw // 2, y + bh // 2)
    out = []
    for f in frames:
        side = f.width
        warped = warp(np.asarray(f), invert(quad_similarity(quad, side)), (w, h))
        out.append(Image.fromarray(cv2.seamlessClone(warped, arr, mask, centre, cv2.NORMAL_CLONE)))
    return out


def crops(frames: list[Image.Image], crop_px: int | None) -> list[Image.Image]:
    return frames if crop_px is None else [inner_crop(f, crop_px) for f in frames]


# each takes (photo, crop quad, the frames as drawn, the crop's side in them); the first four paste the crop alone
METHODS = {
    "hard paste (no feather, no colour match)":
        lambda p, q, fr, c: paste_frames(p, q, crops(fr, c), feather=0, match_colour=False),
    "feather only": lambda p, q, fr, c: paste_frames(p, q, crops(fr, c), match_colour=False),
    "colour match + feather, the crop only (until now)": lambda p, q, fr, c: paste_frames(p, q, crops(fr, c)),
    "OpenCV seamlessClone (Poisson)": lambda p, q, fr, c: poisson_clone(p, q, crops(fr, c)),
    "drawn over the photo around the crop, faded in at its edge (chosen)":
        lambda p, q, fr, c: paste_frames(p, q, fr, crop_px=c),
}
DRAWN = "drawn over the photo around the crop, faded in at its edge (chosen)"


def band_mismatch(frame: Image.Image, photo: Image.Image, quad, crop_px: int | None = None) -> float:
    """Mean colour difference (/255) between a frame and the photo under it over the band where the paste fades one
    into the other (``frame_placement``: the crop's outer ``FEATHER``, or as wide at the edge of a frame drawn over
    the photo around the crop): what the fade mixes. The seam jump sees an edge, not this: two different images
    faded into each other leave a ghost (a second hairline, a mirrored background) and no edge."""
    side = frame.width
    quad, feather = frame_placement(quad, side, crop_px)
    to_photo = quad_similarity(quad, side)
    under = warp(np.asarray(photo), to_photo, (side, side)).astype(np.float64)
    centres = np.stack(np.mgrid[0:side, 0:side][::-1], -1) + 0.5
    at = apply(to_photo, centres.reshape(-1, 2)).reshape(side, side, 2)
    seen = (at[..., 0] >= 0) & (at[..., 0] < photo.width) & (at[..., 1] >= 0) & (at[..., 1] < photo.height)
    band = (feather_mask(centres, side, feather) < 1) & seen  # only where the photo is: the paste shows nothing else
    return float(np.abs(np.asarray(frame.convert("RGB"), np.float64) - under).mean(-1)[band].mean())


def far_mirrored(result) -> list[bool]:
    """Whether the landmark renderer drew the -30 and +30 frames from the photo's mirror image (False for a renderer
    that does not set its turns)."""
    from headrot_core.render import Crop
    from headrot_core.render.landmarks import LandmarkSettings, Photo, mirror_turned

    if result.turns is None or result.crop is None:
        return [False, False]
    yaw = Photo.of(Crop(images_to_tensor([result.crop], result.crop.width))).yaw  # the yaw the renderer turned from
    return [mirror_turned(yaw, float(result.turns[k]), LandmarkSettings()) for k in (0, -1)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=int, default=6)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--photos-from", type=int, default=0, help="skip this many of hq1024/'s photos (sorted)")
    p.add_argument("--sheet", default=None, help="write a contact sheet (-30, own yaw, +30 per photo) here")
    args = p.parse_args()

    from headrot_core.build.data import default_data_root
    from headrot_core.rotation import HeadRotator

    folder = default_data_root() / "hq1024"
    if not folder.is_dir():
        raise SystemExit(f"needs the shared data's {folder}")
    rot = HeadRotator.from_pretrained(device="cpu", feedback=False)
    cases, mismatch = [], {}
    for path in sorted(folder.glob("*.jpg"))[args.photos_from:args.photos_from + args.photos]:
        photo = Image.open(path).convert("RGB")
        prep = rot.prepare(photo)
        result = rot.rotate_prepared(prep, YAWS, reconstruct=False, feedback=False)
        mirrored = far_mirrored(result)
        cases.append((photo, np.asarray(result.crop_quad), result, mirrored))
        crop_px = None if result.crop is None else result.crop.width
        for k, m in zip((0, -1), mirrored):
            mismatch.setdefault(("crop", m), []).append(band_mismatch(result.frames[k], photo, result.crop_quad))
            mismatch.setdefault(("drawn", m), []).append(band_mismatch(result.drawn[k], photo, result.crop_quad,
                                                                       crop_px))
        print(f"{path.name}: yaw {result.source_yaw:+.1f}, light {result.light} ({result.light_score:+.2f}), "
              f"face side {np.linalg.norm(np.subtract(*result.crop_quad[:2])):.0f} px, "
              f"-30/+30 from the mirror image: {mirrored}", flush=True)

    print(f"\n{len(cases)} photos of {folder.name}/ (1024 px), {platform.processor() or platform.machine()}\n")
    print("| seam method | seam jump, own yaw | seam jump, +-30 deg | outside quad, own yaw (/255) "
          "| inside quad, own yaw (/255) | 13 frames, 1024 px photo (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    sheets, split = [], {}
    for name, paste in METHODS.items():
        own, far, outside, inside, times = [], [], [], [], []
        for photo, quad, result, mirrored in cases:
            crop_px = None if result.crop is None else result.crop.width
            # at its own yaw: the crop (with the photo around it, as drawn)
            own_frame = result.context or result.crop or result.source
            pasted = paste(photo, quad, [own_frame, result.drawn[0], result.drawn[-1]], crop_px)
            seam = frame_placement(quad, result.drawn[0].width, crop_px) if name == DRAWN else (quad, FEATHER)
            own.append(seam_jump(pasted[0], photo, *seam))
            jumps = [seam_jump(x, photo, *seam) for x in pasted[1:]]
            far += jumps
            for jump, m in zip(jumps, mirrored):
                split.setdefault((name, m), []).append(jump)
            diff = np.abs(np.asarray(pasted[0], float) - np.asarray(photo, float)).mean(-1)
            face = inside_quad(quad, photo.size)
            outside.append(diff[~face].mean())
            inside.append(diff[face].mean())
            times.append(timed(lambda: paste(photo, quad, result.drawn, crop_px), 1))
            if name.endswith("(chosen)"):
                sheets += [shrink(x, quad, 256)[0] for x in (pasted[1], pasted[0], pasted[2])]
        print(f"| {name} | {np.mean(own):.3f} | {np.mean(far):.3f} | {np.mean(outside):.4f} | {np.mean(inside):.2f} "
              f"| {statistics.median(times):.3f} |", flush=True)
    if args.sheet:
        make_grid(sheets, nrow=3).save(args.sheet)
    print("\n| +-30 deg frames | drawn from the photo | drawn from its mirror image |\n| --- | --- | --- |")
    print("| frames (n) | " + " | ".join(str(len(mismatch.get(("crop", m), []))) for m in (False, True)) + " |")
    for kind, label in (("crop", "the crop only (until now)"), ("drawn", "drawn over the photo around the crop")):
        print(f"| frame vs photo over the fade band, {label}, mean (/255) | "
              + " | ".join(f"{np.mean(mismatch[kind, m]):.1f}" if (kind, m) in mismatch else "–"
                           for m in (False, True)) + " |")
    print("\n| seam method | seam jump +-30, frames from the photo (n) | from its mirror image (n) |\n| --- | --- | --- |")
    for name in METHODS:
        cells = [f"{np.mean(split[name, m]):.3f} ({len(split[name, m])})" if (name, m) in split else "– (0)"
                 for m in (False, True)]
        print(f"| {name} | {cells[0]} | {cells[1]} |")

    photo, quad, result, _ = cases[0]
    frames = result.frames
    pasted = paste_frames(photo, quad, result.drawn, crop_px=None if result.crop is None else result.crop.width)
    small, small_quad = shrink(photo, quad, 512)
    tmp = Path(tempfile.mkdtemp())
    rows = [
        ("paste 13 model frames (64 px) into the 1024 px photo", lambda: paste_frames(photo, quad, frames)),
        ("paste 13 frames of 256 px into the 1024 px photo",
         lambda: paste_frames(photo, quad, upscale(frames, 256))),
        ("shrink the photo to 512 px + paste 13 frames there",
         lambda: paste_frames(*shrink(photo, quad, 512), frames)),
        ("MP4 of the 13 pasted 1024 px frames (24 frames ping-pong, H.264)",
         lambda: save_video(pasted, tmp / "full.mp4")),
        ("MP4 of the 13 pasted 512 px frames", lambda: save_video(paste_frames(small, small_quad, frames),
                                                                  tmp / "small.mp4")),
        ("MP4 of the 13 model frames (upscaled to 512 px)", lambda: save_video(frames, tmp / "crop.mp4")),
        ("GIF of the 13 pasted frames at 384 px", lambda: save_animation(pasted, tmp / "a.gif", size=384)),
        ("method plot redraw (480x360)",
         lambda: method_plot(rot.trajectories.select(result.light, result.gender), result.source_yaw, 12.0,
                             result.latent.numpy())),
    ]
    print("\n| step | median (s) |\n| --- | --- |")
    for label, fn in rows:
        print(f"| {label} | {timed(fn, args.repeats):.4f} |", flush=True)
    sizes = {p.name: p.stat().st_size // 1024 for p in tmp.iterdir()}
    print(f"\nfile sizes (KiB): {sizes}")


if __name__ == "__main__":
    main()
