"""CPU (or GPU) timings of the model core: invert one face, generate 13 frames, rotate one aligned face.

    python benchmarks/bench_core.py [--model DIR] [--steps 10 12 20] [--repeats 3] [--rotate]
                                    [--residual-steps 4 6]

Prints a markdown table (median of the repeats, after one warm-up). Uses the embedded default model unless told.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from headrot_core.diffusion import FaceDiffusion  # noqa: E402
from timing import timed  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--steps", type=int, nargs="+", default=[10, 12, 20])
    p.add_argument("--fixed-point-iters", type=int, default=2, help="the engine's inversion setting")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rotate", action="store_true", help="also time HeadRotator.rotate (needs trajectories)")
    p.add_argument("--residual-steps", type=int, nargs="*", default=[],
                   help="rotate() also at these step counts of the residual's change (default: the calibrated one)")
    args = p.parse_args()
    model = FaceDiffusion.from_pretrained(args.model, args.device)
    n_params = sum(q.numel() for q in model.unet.parameters()) / 1e6
    print(f"device: {model.device} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads); model {n_params:.1f} M parameters, "
          f"{model.size} px, bf16 autocast {model.bf16}\n")
    x = model.generate(model.noise(1, seed=0), 10)
    z15 = model.noise(15, seed=1)  # 13 frames + G(z) + Gc(z), all at one step count here
    fp = args.fixed_point_iters
    print(f"| DDIM steps | invert 1 face (s) | invert, {fp} fixed-point iterations (s) | the same, warm start (s) "
          "| generate 13 + 2 frames (s) |")
    print("| --- | --- | --- | --- | --- |")
    for s in args.steps:
        inv = timed(lambda: model.invert(x, s), args.repeats)
        inv_fp = timed(lambda: model.invert(x, s, fp), args.repeats)
        inv_warm = timed(lambda: model.invert(x, s, fp, warm_start=True), args.repeats)
        gen = timed(lambda: model.generate(z15, s), args.repeats)
        print(f"| {s} | {inv:.3f} | {inv_fp:.3f} | {inv_warm:.3f} | {gen:.3f} |")
    if args.rotate:
        from headrot_core import HeadRotator
        from headrot_core.diffusion import tensor_to_images

        face = tensor_to_images(x)[0].resize((128, 128))
        print(f"\n| DDIM steps | residual steps | rotate(): 1 aligned face -> 13 frames (s) | analysis | embedding | "
              "generation | reconstruction |\n| --- | --- | --- | --- | --- | --- | --- |")
        for s in args.steps:
            for k in args.residual_steps or [None]:
                rot = HeadRotator.from_pretrained(args.model, device=args.device, steps=s, fixed_point_iters=fp,
                                                  residual_steps=k)
                runs = []
                total = timed(lambda: runs.append(rot.rotate(face, aligned=True).timings), args.repeats)
                part = {key: sorted(r[key] for r in runs[1:])[len(runs[1:]) // 2] for key in runs[0]}
                print(f"| {s} | {rot.residual_steps} | {total:.3f} | {part['analysis_s']:.3f} | "
                      f"{part['embedding_s']:.3f} | {part['generation_s']:.3f} | {part['reconstruction_s']:.3f} |")


if __name__ == "__main__":
    main()
