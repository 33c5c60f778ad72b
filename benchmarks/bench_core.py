"""CPU (or GPU) timings of the model core: invert one face, generate 13 frames, rotate one aligned face.

    python benchmarks/bench_core.py [--model DIR] [--steps 10 12 20] [--repeats 3] [--rotate [--faces 6]]
                                    [--residual-steps 4 6] [--decode residual warp] [--render-px 256 640] [--photos]

Prints a markdown table (median of the repeats, after one warm-up). Uses the embedded default model unless told.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from headrot_core.diffusion import FaceDiffusion  # noqa: E402
from headrot_core.rotation import RENDER_PX  # noqa: E402
from timing import seconds, timed  # noqa: E402


def rotation_faces(model: FaceDiffusion, n: int) -> tuple[list, str]:
    """The feedback's cost depends on the face (how many frames it decodes again), and real photos miss more often
    than the model's own samples: held-out CelebA crops (the evaluation's) when the shared data is there."""
    from PIL import Image

    from headrot_core.build.data import default_data_root
    from headrot_core.diffusion import tensor_to_images

    if (default_data_root() / "celeba128").is_dir():
        from headrot_core.build.fitting import labelled_faces

        test = labelled_faces(holdout=True, max_faces=100, seed=1)
        step = max(1, len(test.ids) // n)
        return [Image.fromarray(im) for im in test.images[::step][:n]], "held-out CelebA crops (the evaluation's)"
    samples = tensor_to_images(model.generate(model.noise(n, seed=2), 10))
    return [f.resize((128, 128)) for f in samples], "faces sampled from the model (no shared data here)"


def hq_photos(n: int) -> list:
    """Whole 1024 px portraits (the shared data's hq1024/): rotate() detects and aligns them, and the warp renderer's
    frames come out at 256 px."""
    from headrot_core.build.data import default_data_root

    folder = default_data_root() / "hq1024"
    if not folder.is_dir():
        raise SystemExit(f"--photos needs {folder}")
    return [str(p) for p in sorted(folder.glob("*.jpg"))[:n]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--steps", type=int, nargs="+", default=[10, 12, 20])
    p.add_argument("--fixed-point-iters", type=int, default=2, help="the engine's inversion setting")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rotate", action="store_true", help="also time HeadRotator.rotate (needs trajectories)")
    p.add_argument("--faces", type=int, default=6, help="faces rotated by --rotate")
    p.add_argument("--residual-steps", type=int, nargs="*", default=[],
                   help="rotate() also at these step counts of the residual's change (default: the calibrated one)")
    p.add_argument("--decode", nargs="+", default=[None], help="renderers timed by --rotate (default: the calibrated)")
    p.add_argument("--render-px", type=int, nargs="+", default=[RENDER_PX],
                   help="--rotate with the frames drawn at up to these sizes (default: the engine's)")
    p.add_argument("--photos", action="store_true",
                   help="--rotate whole 1024 px photos (detection and alignment included) instead of aligned crops")
    args = p.parse_args()
    model = FaceDiffusion.from_pretrained(args.model, args.device)
    n_params = sum(q.numel() for q in model.unet.parameters()) / 1e6
    print(f"device: {model.device} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads); model {n_params:.1f} M parameters, "
          f"{model.size} px, bf16 autocast {model.uses_bf16}\n")
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
        from headrot_core.yaw_net import yaw_net_available

        if args.photos:
            faces, kind = hq_photos(args.faces), "1024 px photos (hq1024/)"
        else:
            faces, kind = rotation_faces(model, args.faces)
        aligned = not args.photos
        print(f"\n{len(faces)} {kind}, each rotated {args.repeats} times after one warm-up; median over all, the "
              "slowest face's median, and frames decoded again by the feedback per face\n")
        print("| renderer | frame px | DDIM steps | residual steps | feedback | rotate(): 1 face -> 13 frames (s) | "
              "slowest face | analysis | embedding | generation | reconstruct() after | frames decoded again |\n"
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for s, k, decode, px in ((s, k, d, px) for s in args.steps for k in args.residual_steps or [None]
                                 for d in args.decode for px in args.render_px):
            for feedback in ((True, False) if yaw_net_available() else (False,)):
                rot = HeadRotator.from_pretrained(args.model, device=args.device, steps=s, fixed_point_iters=fp,
                                                  residual_steps=k, feedback=feedback, decode=decode)
                rot.rotate(faces[0], aligned=aligned, render_px=px)  # warm-up
                results = [[rot.rotate(face, aligned=aligned, render_px=px) for _ in range(args.repeats)]
                           for face in faces]
                runs = [{**r.timings, "reconstruction_s": seconds(rot.reconstruct, r.latent)}
                        for face in results for r in face]
                part = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
                slowest = max(statistics.median(r.timings["total_s"] for r in face) for face in results)
                redone = f"{statistics.mean(face[0].redone for face in results):.1f}" if feedback else "–"
                cfg = rot.settings
                print(f"| {cfg.decode} | {results[0][0].frames[0].width} | {s} | {cfg.residual_steps} | "
                      f"{'on' if feedback else 'off'} | {part['total_s']:.3f} | "
                      f"{slowest:.3f} | {part['analysis_s']:.3f} | {part['embedding_s']:.3f} | "
                      f"{part['generation_s']:.3f} | {part['reconstruction_s']:.3f} | {redone} |")


if __name__ == "__main__":
    main()
