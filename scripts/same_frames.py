"""Frames of the engine on fixed inputs, saved or compared: a refactor must not change what the engine draws.

    python scripts/same_frames.py save REF.npz [--faces 20]     # before the change
    python scripts/same_frames.py compare REF.npz               # after it: max and mean |difference| per renderer

The shipped assets on held-out faces (the evaluation's first ``--faces``), each renderer with its feedback, and the
slider's ``frames_at`` at an off-grid yaw. Prints a table; exits 1 when any frame differs by more than 1/255 on average.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from headrot_core.rotation import DECODES, HeadRotator  # noqa: E402

YAWS = (-30.0, -20.0, -10.0, 0.0, 10.0, 20.0, 30.0)


def frames(n_faces: int) -> dict[str, np.ndarray]:
    from PIL import Image

    from headrot_core.build.fitting import labelled_faces

    faces = labelled_faces(holdout=True, max_faces=100, seed=1)
    out = {}
    for decode in DECODES:
        rot = HeadRotator.from_pretrained(decode=decode)
        rows = []
        for img in faces.images[:n_faces]:
            r = rot.rotate(Image.fromarray(img), yaws=YAWS, aligned=True)
            rows.append(np.stack([np.asarray(f) for f in [*r.frames, *rot.frames_at(r, [7.0])]]))
        out[decode] = np.stack(rows)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["save", "compare"])
    p.add_argument("ref", type=Path)
    p.add_argument("--faces", type=int, default=20)
    args = p.parse_args()
    if args.action == "save":
        np.savez_compressed(args.ref, **frames(args.faces))
        print(f"saved {args.ref}")
        return 0
    with np.load(args.ref) as ref:
        now = frames(ref[DECODES[0]].shape[0])
        print("| renderer | frames | max abs difference | mean abs difference (/255) |\n| --- | --- | --- | --- |")
        worst = 0.0
        for decode in ref.files:  # the renderers the reference was saved with
            d = np.abs(now[decode].astype(int) - ref[decode].astype(int))
            per_frame = d.reshape(d.shape[0] * d.shape[1], -1).mean(1)
            worst = max(worst, float(per_frame.max()))
            print(f"| {decode} | {per_frame.size} | {d.max()} | {d.mean():.4f} |")
    return 0 if worst <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
