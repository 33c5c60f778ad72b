"""How few decodings, and how few DDIM steps each, a renderer that reads only the model's turn off them needs.

    python scripts/decode_steps.py [--faces 40] [--configs 12:0 6:10 4:10 6:15 4:15 4:20 3:10]

Each config is ``residual_steps:probe_every`` (probe_every 0: every yaw decoded); the first is the reference. For
each of the evaluation's held-out faces (cached latents): the calibrated moves to -30 ... +30 every 10 degrees,
decoded at each config's step count, and the turn the renderer reads off each decoding; then the whole ``turn`` to
the 13 yaws every 5 degrees, with its feedback, and the turns the frames were drawn at. Prints a markdown table: how
far the readings and the turns drawn lie from the reference's, how near the turns drawn come to the turns wanted
(from the source's landmark yaw), and the time of ``turn`` per face (128 px crops).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from headrot_core import HeadRotator  # noqa: E402
from headrot_core.analysis import analyze_batch  # noqa: E402
from headrot_core.build.fitting import embed_faces, labelled_faces  # noqa: E402
from headrot_core.diffusion import images_to_tensor  # noqa: E402
from headrot_core.feedback import probes  # noqa: E402
from headrot_core.latent import last  # noqa: E402
from headrot_core.measure.evaluation import TARGETS  # noqa: E402
from headrot_core.render import Crop  # noqa: E402
from headrot_core.rotation import DEFAULT_YAWS  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--faces", type=int, default=40)
    p.add_argument("--configs", nargs="+", default=["12:0", "6:10", "4:10", "6:15", "4:15", "4:20", "3:10"],
                   help="residual_steps:probe_every; the first: the reference")
    args = p.parse_args()
    configs = [(int(k), float(e)) for k, e in (c.split(":") for c in args.configs)]
    yaws = [float(y) for y in DEFAULT_YAWS]
    test = labelled_faces(holdout=True, max_faces=100, seed=1).take(np.arange(args.faces))
    shipped = HeadRotator.from_pretrained(feedback=True)
    rots = {c: HeadRotator(shipped.model, shipped.trajectories, None, replace(shipped.settings, residual_steps=c[0],
                                                                               probe_every=c[1]),
                           "inversion", feedback=True) for c in configs}
    latents = embed_faces(shipped.model, test, "inversion", shipped.settings)
    source_yaw = np.array([a.yaw for a in analyze_batch(test.images)])
    wanted = np.array(yaws)[None, :] - source_yaw[:, None]
    read = {c: np.zeros((args.faces, len(TARGETS))) for c in configs}
    drawn = {c: np.zeros_like(wanted) for c in configs}
    seconds = dict.fromkeys(configs, 0.0)
    for i in tqdm(range(args.faces), unit="face"):
        z, x = latents[i:i + 1], images_to_tensor(test.images[i:i + 1], shipped.model.size)
        crop = Crop(images_to_tensor(test.images[i:i + 1], test.images.shape[1]))
        for c, rot in rots.items():
            route = rot.lines(test.light[i], None)
            moved = route.latents(z, float(source_yaw[i]), route.moves(float(source_yaw[i]), TARGETS))
            decoded = last(rot.latent.decode_steps(torch.cat([moved, z]), rot.render_steps))
            read[c][i] = rot.renderer.read_turns(decoded[:-1], decoded[-1:])
            t0 = time.perf_counter()
            drawn[c][i] = rot.turn(z, x, float(source_yaw[i]), yaws, test.light[i], None, crop=crop).turns
            seconds[c] += time.perf_counter() - t0
    ref = configs[0]
    far = np.abs(np.array(yaws)) >= 20
    print(f"\n{args.faces} held-out faces, yaws {yaws[0]:+.0f} … {yaws[-1]:+.0f} every 5°; reference: {ref[0]} steps, "
          f"probes every {ref[1]:g}° (0: all)\n")
    print("| residual steps | UNet calls | probes every | moves decoded of 13 | calibrated moves to −30 … +30 every 10°: "
          "turn read, vs reference (mean abs) | turn drawn, vs reference (mean abs; share > 1°, > 2°) | turn drawn − "
          "wanted, mean abs (far yaws) | `turn()` per face |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
    for c, rot in rots.items():
        off, miss = np.abs(drawn[c] - drawn[ref]), np.abs(drawn[c] - wanted)
        print(f"| {c[0]} | {rot.decode_calls} | {c[1]:g}° | {int(probes(yaws, c[1]).sum())} | "
              f"{np.abs(read[c] - read[ref]).mean():.2f}° | {off.mean():.2f}° ({(off > 1).mean():.0%}, "
              f"{(off > 2).mean():.0%}) | {miss.mean():.2f}° ({miss[:, far].mean():.2f}°) | "
              f"{seconds[c] / args.faces:.2f} s |")


if __name__ == "__main__":
    main()
