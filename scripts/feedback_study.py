"""Can the engine pick, per face, the move that lands nearest each target? A study on held-out faces.

    python scripts/feedback_study.py [--faces 40] [--cache runs/feedback_probes.npz]

For each face (the evaluation's held-out set, its cached latents), the face's own line is probed at nominal moves
of 10, 20, ... 180 degrees to both sides (residual decoding, as the engine decodes), and every probe is measured by
both yaw estimators: the landmark one (``analysis``) and the appearance network (``yaw_net``). Then per-face
selection is simulated: for each target (-30 ... +30), the probe whose measured change (made monotone in the move
by isotonic regression) lands nearest, on the target's side, chosen by one estimator and scored by both. The
calibrated engine's own frames are scored alongside. Prints a markdown table. The probes are cached (``--cache``),
so re-scoring with another network costs seconds.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.isotonic import IsotonicRegression
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from headrot_core.analysis import analyze_batch, frame_yaws  # noqa: E402
from headrot_core.build.fitting import embed_faces, labelled_faces  # noqa: E402
from headrot_core.diffusion import images_to_tensor, tensor_to_images  # noqa: E402
from headrot_core.measure.evaluation import TARGETS, network_yaws  # noqa: E402
from headrot_core.rotation import HeadRotator  # noqa: E402

GRID = np.arange(10.0, 181.0, 10.0)


def probe(n_faces: int, seed: int = 0) -> dict:
    """Probe frames (uint8) and their landmark yaws, plus the calibrated engine's frames at the targets."""
    rot = HeadRotator.from_pretrained()
    test = labelled_faces(holdout=True, max_faces=100, seed=1)  # the evaluation's faces and latent cache
    z = embed_faces(rot.model, test, "inversion", rot.settings)
    src_yaw = np.array([a.yaw for a in analyze_batch(test.images)])
    idx = np.random.default_rng(seed).permutation(len(test.ids))[:n_faces]
    out = {k: [] for k in ("frames", "lyaw", "cal_frames", "cal_lyaw", "src64")}
    for i in tqdm(idx, desc="probing", unit="face"):
        zi, x = z[i:i + 1], images_to_tensor(test.images[i:i + 1], rot.model.size)
        line = rot.lines(test.light[i], None)
        raw, s = replace(line, calibration=None), float(src_yaw[i])
        probes = raw.moves(s, [s + sign * n for sign in (-1, 1) for n in GRID])
        moved = torch.cat([raw.latents(zi, s, probes), line.latents(zi, s, line.moves(s, TARGETS))])
        frames = tensor_to_images(rot.decode_moved(moved, zi, x)[0])
        arr, yaws = np.stack([np.asarray(f) for f in frames]), frame_yaws(frames)
        k = 2 * len(GRID)
        for key, val in (("frames", arr[:k]), ("lyaw", yaws[:k]), ("cal_frames", arr[k:]), ("cal_lyaw", yaws[k:]),
                         ("src64", np.asarray(tensor_to_images(x)[0]))):
            out[key].append(val)
    return {**{k: np.stack(v) for k, v in out.items()}, "src_yaw": src_yaw[idx], "hopenet": test.yaw[idx]}


def select(moves: np.ndarray, change: np.ndarray, delta: float) -> int:
    side = np.flatnonzero(moves <= 0 if delta < 0 else moves >= 0)
    return int(side[np.argmin(np.abs(change[side] - delta) + 1e-6 * np.abs(moves[side]))])


def study(d: dict, step: float) -> dict[str, tuple[float, float, float]]:
    """{chosen by: (mean abs error by landmarks, by network, median Spearman by landmarks)}"""
    targets = np.array(TARGETS)
    keep = np.isin(GRID, GRID[np.round(GRID) % step == 0])
    moves = np.concatenate([-GRID[keep][::-1], [0.0], GRID[keep]])
    out = {}
    for by in ("network", "landmarks"):
        err_l, err_n, rho = [], [], []
        for i in range(len(d["src_yaw"])):
            g = len(GRID)
            lm = np.concatenate([d["lyaw"][i, :g][keep][::-1], [d["src_yaw"][i]], d["lyaw"][i, g:][keep]])
            frames = np.concatenate([d["frames"][i, :g][keep][::-1], d["src64"][i][None], d["frames"][i, g:][keep]])
            nm = network_yaws(frames)
            ref = nm if by == "network" else lm
            centre = len(moves) // 2
            change = IsotonicRegression().fit(moves, ref - ref[centre]).predict(moves)
            change -= change[centre]
            pick = [select(moves, change, t - d["src_yaw"][i]) for t in targets]
            err_l.append(np.abs(lm[pick] - targets))
            err_n.append(np.abs(nm[pick] - targets))
            rho.append(spearmanr(targets, lm[pick]).statistic)
        out[f"probes every {step:g}°, chosen by the {by}"] = (np.mean(err_l), np.mean(err_n), np.nanmedian(rho))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=40)
    ap.add_argument("--cache", default="runs/feedback_probes.npz")
    args = ap.parse_args(argv)
    cache = Path(args.cache)
    if cache.is_file():
        with np.load(cache) as f:
            d = dict(f)
    else:
        d = probe(args.faces)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **d)
    targets = np.array(TARGETS)
    n_src = network_yaws(d["src64"])
    cal_n = np.stack([network_yaws(f) for f in d["cal_frames"]])
    probes_n = np.stack([network_yaws(f) for f in d["frames"]])
    print(f"{len(d['src_yaw'])} held-out faces. Source photos: landmarks vs HopeNet "
          f"{np.abs(d['src_yaw'] - d['hopenet']).mean():.2f}°, network vs HopeNet "
          f"{np.abs(n_src - d['hopenet']).mean():.2f}°, "
          f"landmarks vs network {np.abs(d['src_yaw'] - n_src).mean():.2f}°; probe frames: landmarks vs network "
          f"{np.abs(d['lyaw'] - probes_n).mean():.2f}°")
    turn_l, turn_n = np.abs(d["lyaw"] - d["src_yaw"][:, None]), np.abs(probes_n - n_src[:, None])
    print(f"Probe turn (|yaw change|): landmarks {turn_l.mean():.1f}°, network {turn_n.mean():.1f}°; the landmarks "
          f"read more than 5° further for {np.mean(turn_l - turn_n > 5):.0%} of the probes, the network for "
          f"{np.mean(turn_n - turn_l > 5):.0%}\n")
    print("| frames | mean abs error, landmarks | mean abs error, network | median Spearman, landmarks |")
    print("| --- | --- | --- | --- |")
    rho = np.nanmedian([spearmanr(targets, c).statistic for c in d["cal_lyaw"]])
    print(f"| the calibrated engine (shipped) | {np.abs(d['cal_lyaw'] - targets).mean():.2f} | "
          f"{np.abs(cal_n - targets).mean():.2f} | {rho:.2f} |")
    for step in (10, 20, 30, 60):
        for name, (el, en, r) in study(d, step).items():
            print(f"| {name} | {el:.2f} | {en:.2f} | {r:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
