"""How few DDIM steps the moved latents' decode needs when a renderer reads only the model's turn off it.

    python scripts/decode_steps.py [--faces 60] [--steps 12 6 4]

For each of the evaluation's held-out faces (cached latents): the calibrated moves to -30 ... +30 every 10 degrees,
decoded at each step count of ``--steps`` (the first is the reference), and the turn the renderer reads off each
decoding; then the whole ``turn`` with its feedback, and the turns the frames were drawn at. Prints a markdown table:
how far the readings and the turns drawn lie from the reference's, how near the turns drawn come to the turns wanted
(from the source's landmark yaw), and the time of ``turn`` per face (128 px crops).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from headrot_core import HeadRotator  # noqa: E402
from headrot_core.analysis import analyze_batch  # noqa: E402
from headrot_core.build.fitting import embed_faces, labelled_faces  # noqa: E402
from headrot_core.diffusion import images_to_tensor  # noqa: E402
from headrot_core.latent import last  # noqa: E402
from headrot_core.measure.evaluation import TARGETS  # noqa: E402
from headrot_core.render import Crop  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--faces", type=int, default=60)
    p.add_argument("--steps", type=int, nargs="+", default=[12, 6, 4], help="residual steps; the first: reference")
    args = p.parse_args()
    test = labelled_faces(holdout=True, max_faces=100, seed=1).take(np.arange(args.faces))
    rots = {k: HeadRotator.from_pretrained(residual_steps=k, feedback=True) for k in args.steps}
    first = rots[args.steps[0]]
    latents = embed_faces(first.model, test, "inversion", first.settings)
    source_yaw = np.array([a.yaw for a in analyze_batch(test.images)])
    wanted = np.array(TARGETS)[None, :] - source_yaw[:, None]
    read = {k: np.zeros_like(wanted) for k in args.steps}
    drawn = {k: np.zeros_like(wanted) for k in args.steps}
    seconds = dict.fromkeys(args.steps, 0.0)
    for i in tqdm(range(args.faces), unit="face"):
        z, x = latents[i:i + 1], images_to_tensor(test.images[i:i + 1], first.model.size)
        crop = Crop(images_to_tensor(test.images[i:i + 1], test.images.shape[1]))
        for k, rot in rots.items():
            route = rot.lines(test.light[i], None)
            moved = route.latents(z, float(source_yaw[i]), route.moves(float(source_yaw[i]), TARGETS))
            decoded = last(rot.latent.decode_steps(torch.cat([moved, z]), rot.render_steps))
            read[k][i] = rot.renderer.read_turns(decoded[:-1], decoded[-1:])
            t0 = time.perf_counter()
            drawn[k][i] = rot.turn(z, x, float(source_yaw[i]), list(TARGETS), test.light[i], None, crop=crop).turns
            seconds[k] += time.perf_counter() - t0
    ref = args.steps[0]
    far = np.abs(np.array(TARGETS)) >= 20
    print(f"\n{args.faces} held-out faces, targets {', '.join(f'{t:+.0f}' for t in TARGETS)}; "
          f"reference: {ref} steps\n")
    print("| residual steps | UNet calls | calibrated moves: turn read, vs reference (mean abs) | turn drawn after the "
          "feedback, vs reference (mean abs; share > 1°) | turn drawn − wanted, mean abs (far targets) | "
          "turn() per face |\n| --- | --- | --- | --- | --- | --- |")
    for k, rot in rots.items():
        off = np.abs(drawn[k] - drawn[ref])
        miss = np.abs(drawn[k] - wanted)
        print(f"| {k} | {rot.decode_calls} | {np.abs(read[k] - read[ref]).mean():.2f}° | {off.mean():.2f}° "
              f"({(off > 1).mean():.0%}) | {miss.mean():.2f}° ({miss[:, far].mean():.2f}°) | "
              f"{seconds[k] / args.faces:.2f} s |")


if __name__ == "__main__":
    main()
