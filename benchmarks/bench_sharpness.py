"""How much of the photo's fine detail the frames keep where the app shows them, and what drawing them larger costs.

    python benchmarks/bench_sharpness.py [--photos 6] [--render-px 256 512] [--sheet out.png]

Rotates whole 1024 px portraits (the shared data's hq1024/) with the embedded default model at each frame size cap
(``HeadRotator.prepare(render_px=)``), pastes the frames back as the app does (``compose.paste_frames``) and, in the
face's centre (eyes, nose, mouth: the middle 40 % of the crop), compares the frames' fine detail with the photo's
shown at the same size: the energy of the grey image minus its Gaussian blur (sigma 1 px), frame over photo
(1 = as sharp as the photo). At the photo's own yaw (the frame nearest it) that is all resampling; at +-30 degrees
the warp's stretch adds to it. The views: the page's whole photo (``app.STAGE_PX``), ``/rotate_photo``
(``app.API_PX``) and the page's face-crop view (the crop at ``app.PREVIEW_PX``). Then the time of
``rotate_prepared`` (feedback included), median over the photos. ``--sheet`` writes the face centres at the photo's
own yaw and at -30 for each cap beside the photo's (dataset photos: keep it out of the repository).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import app  # noqa: E402
from headrot_core.build.data import default_data_root  # noqa: E402
from headrot_core.compose import paste_frames, shrink  # noqa: E402
from headrot_core.face import align_face  # noqa: E402
from headrot_core.imaging import make_grid  # noqa: E402
from headrot_core.rotation import HeadRotator  # noqa: E402

CENTRE = 0.4  # share of the crop's side, about its centre, that is measured: the eyes, nose and mouth


def detail(img: Image.Image) -> float:
    """Mean squared difference between the grey image and its Gaussian blur (sigma 1 px): its finest detail."""
    g = cv2.cvtColor(np.asarray(img.convert("RGB")), cv2.COLOR_RGB2GRAY).astype(np.float64)
    return float(np.mean((g - cv2.GaussianBlur(g, (0, 0), 1.0)) ** 2))


def centre_box(quad) -> tuple[int, int, int, int]:
    q = np.asarray(quad, np.float64)
    c, half = q.mean(0), CENTRE / 2 * np.linalg.norm(q[1] - q[0])
    return int(c[0] - half), int(c[1] - half), int(c[0] + half), int(c[1] + half)


def views(photo: Image.Image, result, crop_view: Image.Image) -> dict[str, tuple[list[Image.Image], Image.Image]]:
    """Per view: the face centres of the frames and of the photo, shown as the app shows them."""
    out = {}
    for name, side in (("whole photo (page)", app.STAGE_PX), ("/rotate_photo", app.API_PX)):
        small, quad = shrink(photo, result.crop_quad, side)
        box = centre_box(quad)
        pasted = paste_frames(small, quad, result.drawn, crop_px=result.crop.width)
        out[name] = ([p.crop(box) for p in pasted], small.crop(box))
    px = app.PREVIEW_PX
    box = centre_box([[0, 0], [px, 0], [px, px], [0, px]])
    out["face crop (page)"] = ([f.resize((px, px), Image.LANCZOS).crop(box) for f in result.frames],
                               crop_view.crop(box))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--photos", type=int, default=6)
    p.add_argument("--render-px", type=int, nargs="+", default=[256, 512])
    p.add_argument("--sheet", type=Path, default=None)
    args = p.parse_args()
    folder = default_data_root() / "hq1024"
    if not folder.is_dir():
        raise SystemExit(f"needs {folder}")
    photos = [Image.open(f).convert("RGB") for f in sorted(folder.glob("*.jpg"))[:args.photos]]
    rot = HeadRotator.from_pretrained()
    crop_views = [align_face(photo, 128).recrop(photo, app.PREVIEW_PX, 0) for photo in photos]  # the crop view's photo
    rot.rotate(photos[0], yaws=[0.0])  # warm-up
    rows, sheet = [], []
    for px in args.render_px:
        kept: dict[tuple[str, str], list[float]] = {}
        seconds, sizes = [], []
        for k, photo in enumerate(photos):
            prep = rot.prepare(photo, render_px=px)
            t0 = time.perf_counter()
            result = rot.rotate_prepared(prep)
            seconds.append(time.perf_counter() - t0)
            sizes.append(result.frames[0].width)
            own = int(np.argmin(np.abs(np.array(result.yaws) - result.source_yaw)))
            far = [i for i, y in enumerate(result.yaws) if abs(y) == 30]
            for name, (frames, ref) in views(photo, result, crop_views[k]).items():
                d = detail(ref)
                kept.setdefault((name, "own"), []).append(detail(frames[own]) / d)
                kept.setdefault((name, "far"), []).extend(detail(frames[i]) / d for i in far)
                if name == "whole photo (page)" and k < 3:
                    if px == args.render_px[0]:
                        sheet.append((k, 0, ref))
                    sheet.append((k, 1 + 2 * args.render_px.index(px), frames[own]))
                    sheet.append((k, 2 + 2 * args.render_px.index(px), frames[far[0]]))
        for name in ("whole photo (page)", "/rotate_photo", "face crop (page)"):
            rows.append(f"| {px} ({min(sizes)}-{max(sizes)}) | {name} | {np.mean(kept[(name, 'own')]):.2f} | "
                        f"{np.mean(kept[(name, 'far')]):.2f} | {statistics.median(seconds):.2f} s |")
    print(f"{len(photos)} hq1024/ portraits; fine detail in the face's centre, frame over photo shown at the same size"
          " (1 = as sharp)\n")
    print("| frame size cap (frames drawn, px) | view | at the photo's own yaw | at +-30 | rotate_prepared, median |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    if args.sheet:
        cols = 1 + 2 * len(args.render_px)
        tile = 256
        grid = {(r, c): im.resize((tile, tile), Image.LANCZOS) for r, c, im in sheet}
        n = 1 + max(r for r, _ in grid)
        make_grid([grid[(r, c)] for r in range(n) for c in range(cols)], cols).save(args.sheet)
        print(f"\nsheet: {args.sheet} (columns: photo, then per cap its own yaw and -30)")


if __name__ == "__main__":
    main()
