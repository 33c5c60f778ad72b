"""Would a better model's content make the far frames look real? The warped far frames re-drawn by a model (SDEdit).

The realism test tells the far frames of near-frontal photos from real turned faces (issue 22): what they lack is
what a 2D warp of the photo cannot draw (the nose's side, the far cheek behind it). Here each far frame of the 100
held-out faces at its true turn (target - HopeNet yaw, +-20 and +-30, the shipped landmark renderer) is brought to
the model's resolution, noised to t and decoded by DDIM (SDEdit), and the decoding's change, blurred (sigma 4 of
128 px), is added to the 128 px frame: layout and detail stay the photo's, the low frequencies become the model's.
With the shipped CPU-trained model the same edit scored worse than the frames (docs/EVALUATION.md, thirty-first
session); the question is whether a better model, such as one trained on a lent GPU (``STAGE=model bash
scripts/gpu_build.sh``, whose exported model comes back in its tar), does better. Here, on the CPU (about 3 minutes
for the edits, 8 for the score):

    python scripts/sdedit_probe.py edit --model runs/ddim64/model --out runs/sdedit.npz
    python scripts/sdedit_probe.py score runs/sdedit.npz
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FAR_TARGETS = (-30.0, -20.0, 20.0, 30.0)
FACES = 100
BLUR = 4.0  # sigma (px of 128) of the decoding's change that is added to the frame
SEEDS = 8  # shuffles of the realism test's grouped folds


def far_frames() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames N x 128 x 128 x 3 uint8, source face of each, identities of the faces): the held-out faces of
    ``evaluate`` turned by the shipped renderer to each far target from their HopeNet yaw, with no model."""
    from headrot_core.build.fitting import labelled_faces
    from headrot_core.diffusion import images_to_tensor
    from headrot_core.render import Crop
    from headrot_core.render.landmarks import drawn_frames

    faces = labelled_faces(holdout=True, max_faces=FACES, seed=1)
    frames, groups = [], []
    for k, (img, yaw) in enumerate(zip(faces.images, faces.yaw)):
        drawn = drawn_frames(Crop(images_to_tensor(img[None], 128)), np.array(FAR_TARGETS) - float(yaw))
        frames += [((f.permute(1, 2, 0).numpy() + 1) * 127.5 + 0.5).clip(0, 255).astype(np.uint8)
                   for f in drawn.frames]
        groups += [k] * len(FAR_TARGETS)
    return np.array(frames), np.array(groups), faces.identity


def resized(frames: np.ndarray, px: int) -> np.ndarray:
    from PIL import Image

    return np.array([np.asarray(Image.fromarray(f).resize((px, px), Image.LANCZOS)) for f in frames])


def _sized(x: torch.Tensor, px: int) -> torch.Tensor:
    """(N, 3, h, w) in [-1, 1] at ``px`` (bicubic, antialiased): the probe's frames are 64 px, a model may not be."""
    if x.shape[-1] == px:
        return x
    return torch.nn.functional.interpolate(x, size=px, mode="bicubic", antialias=True).clamp(-1, 1)


def sdedit(model, frames: np.ndarray, ts: list[int], steps: int, seed: int) -> dict[int, np.ndarray]:
    """``frames`` (N x px x px x 3 uint8) noised to the last timestep at or below each of ``ts`` (one seeded noise
    for all) and decoded by ``model`` (a ``FaceDiffusion``), at the frames' size."""
    x0 = _sized(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1, model.size)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    model.scheduler.set_timesteps(steps)
    out = {}
    for t in ts:
        start = int(max(s for s in model.scheduler.timesteps if s <= t))
        xt = model.scheduler.add_noise(x0, noise, torch.tensor([start]))
        dec = _sized(torch.cat([model.generate(xt[i:i + 200], steps, clip=True, start_t=start)
                                for i in range(0, len(xt), 200)]), frames.shape[1])
        out[t] = ((dec.permute(0, 2, 3, 1).numpy() + 1) * 127.5 + 0.5).clip(0, 255).astype(np.uint8)
        print(f"t {t}: decoded from {start}, {model.steps_from(steps, start)} steps", flush=True)
    return out


def edit(model_path: str, out: Path, ts: list[int], steps: int, device: str | None, seed: int) -> None:
    from headrot_core.diffusion import FaceDiffusion

    frames = resized(far_frames()[0], 64)
    edits = sdedit(FaceDiffusion.from_pretrained(model_path, device=device), frames, ts, steps, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, frames=frames, model=str(model_path), steps=steps, seed=seed,
                        **{f"t{t}": e for t, e in edits.items()})
    print(f"wrote {out}")


def edited(frames128: np.ndarray, small: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """The 128 px frames plus the blurred change the decoding made to their small versions."""
    import cv2

    change = decoded.astype(np.float32) - small.astype(np.float32)
    up = [cv2.GaussianBlur(cv2.resize(c, (128, 128), interpolation=cv2.INTER_CUBIC), (0, 0), BLUR) for c in change]
    return np.clip(frames128.astype(np.float32) + np.array(up) + 0.5, 0, 255).astype(np.uint8)


def score(edits_path: Path) -> None:
    from tqdm.auto import tqdm

    from headrot_core.measure.evaluation import real_turned_faces
    from headrot_core.measure.realism import count_faces, realism_features, same_resolution, two_sample_test

    frames, groups, identities = far_frames()
    real, real_ids = real_turned_faces(set(identities.tolist()))
    real_feats = realism_features(same_resolution(real, 128))
    with np.load(edits_path) as z:
        small = z["frames"]
        if not np.array_equal(small, resized(frames, 64)):
            raise SystemExit("the edits were made from other frames than these (another renderer or data?)")
        variants = {"the far frames": frames, **{f"SDEdit, {k}": edited(frames, small, z[k])
                                                 for k in z.files if k.startswith("t")}}
        print(f"model {z['model']}, {int(z['steps'])} DDIM steps, seed {int(z['seed'])}; {len(real)} real crops\n")
    print("| far frames (true turns) | realism | one face |\n| --- | --- | --- |")
    for name, imgs in tqdm(variants.items(), desc="scoring", unit="variant"):
        pil = same_resolution(imgs, 128)
        feats = realism_features(pil)
        test = two_sample_test(feats, groups, real_feats, real_ids, repeats=SEEDS)
        print(f"| {name} | {test.accuracy:.3f} ± {test.spread:.3f} | {np.mean(count_faces(pil) == 1):.1%} |",
              flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("edit")
    e.add_argument("--model", required=True, help="exported model folder or Hub id")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--t", type=int, nargs="+", default=[200, 350])
    e.add_argument("--steps", type=int, default=50)
    e.add_argument("--device", default=None)
    e.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("score")
    s.add_argument("edits", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "edit":
        edit(args.model, args.out, args.t, args.steps, args.device, args.seed)
    else:
        score(args.edits)


if __name__ == "__main__":
    main()
