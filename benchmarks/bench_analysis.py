"""CPU timings of face analysis: align + yaw + light for one photo, and yaw + light for one aligned crop.

    python benchmarks/bench_analysis.py [--repeats 20] [--sides 512 1024 2048] [--photos 20]

A test photo is one of ../shared/data/photos scaled so that the face box is 40 % of the long side, pasted on a
random background of the given long side (4:3). Prints markdown tables: the first photo (a face turned by 38
degrees: a weak detection, the slow path) at each side (median of the repeats, after one warm-up), then the
median and 90th percentile over the first N photos at 1024 px (median of 3 runs each).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from headrot_core.analysis import analyze_crop  # noqa: E402
from headrot_core.build.data import default_data_root  # noqa: E402
from headrot_core.face import align_face  # noqa: E402
from headrot_core.measure.face_eval import random_background  # noqa: E402
from timing import timed  # noqa: E402


def test_photo(side: int, index: int = 0) -> Image.Image:
    photo = Image.open(sorted((default_data_root() / "photos").glob("*.jpg"))[index]).convert("RGB")
    w, h = side, side * 3 // 4
    scale = 0.4 * side / 128  # face box (128 px in the photo) about 40 % of the long side
    face = photo.resize((round(178 * scale), round(218 * scale)), Image.LANCZOS)
    canvas = Image.fromarray(random_background(np.random.default_rng(0), w, h))
    canvas.paste(face, ((w - face.width) // 2, max(0, (h - face.height) // 2)))
    return canvas


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--sides", type=int, nargs="+", default=[512, 1024, 2048])
    p.add_argument("--photos", type=int, default=20)
    args = p.parse_args()
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores\n")
    print("| input | align (ms) | yaw + light (ms) | align + yaw + light (ms) |")
    print("| --- | --- | --- | --- |")
    for side in args.sides:
        img = test_photo(side)
        crop = align_face(img, size=128).crop
        t_align = timed(lambda: align_face(img, size=128), args.repeats)
        t_an = timed(lambda: analyze_crop(crop), args.repeats)
        t_all = timed(lambda: analyze_crop(align_face(img, size=128).crop), args.repeats)
        print(f"| {img.width}x{img.height} photo | {t_align * 1e3:.1f} | {t_an * 1e3:.1f} | {t_all * 1e3:.1f} |")
    for size in (64, 128):
        crop = align_face(test_photo(512), size=size).crop
        t_an = timed(lambda: analyze_crop(crop), args.repeats)
        print(f"| {size} px aligned crop | - | {t_an * 1e3:.1f} | - |")
    totals = []
    for i in range(args.photos):
        img = test_photo(1024, i)
        totals.append(timed(lambda: analyze_crop(align_face(img, size=128).crop), 3))
    print(f"\n| {args.photos} photos at 1024x768 | median (ms) | 90th percentile (ms) | max (ms) |")
    print("| --- | --- | --- | --- |")
    print(f"| align + yaw + light | {np.median(totals) * 1e3:.1f} | {np.percentile(totals, 90) * 1e3:.1f} | "
          f"{max(totals) * 1e3:.1f} |")


if __name__ == "__main__":
    main()
