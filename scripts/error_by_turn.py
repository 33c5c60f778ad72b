"""Where the pose error is: one variant's frames by how far each had to turn (|target - source yaw|), and whether
the turn goes back towards frontal or away from it, read by both estimators, from the readings
`python -m headrot_core evaluate --measurements FILE.npz` saves.

    python scripts/error_by_turn.py runs/all/measured-full.npz [--variant 0]
"""
from __future__ import annotations

import argparse

import numpy as np

EDGES = (0, 10, 20, 30, 45, 180)


def turn_bins(targets: np.ndarray, source_yaw: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(label, mask over the (faces, targets) frames) for each bin of |target - source yaw| in ``EDGES``."""
    turn = np.abs(targets[None, :] - source_yaw[:, None])
    return [(f"≥ {lo}°" if hi == EDGES[-1] else f"{lo}–{hi}°", (turn >= lo) & (turn < hi))
            for lo, hi in zip(EDGES[:-1], EDGES[1:])]


def towards_frontal(targets: np.ndarray, source_yaw: np.ndarray) -> np.ndarray:
    """Mask over the (faces, targets) frames whose turn starts back towards yaw 0 (it may go on past it)."""
    step = np.sign(targets[None, :] - source_yaw[:, None])
    return (step != 0) & (step == -np.sign(source_yaw)[:, None])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("measurements")
    ap.add_argument("--variant", type=int, default=0, help="row of the evaluation's variant table (0: the engine)")
    args = ap.parse_args()
    with np.load(args.measurements) as z:
        tg, src = z["targets"], z["source_yaw"]
        lm, net, name = z["measured"][args.variant], z["measured_net"][args.variant], str(z["names"][args.variant])
    print(f"{name}: {lm.size} frames\n")
    back = towards_frontal(tg, src)
    print("| \\|target − source yaw\\| | turn | frames | mean abs error, landmarks | mean abs error, network "
          "| mean signed error, landmarks |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, rows in turn_bins(tg, src):
        for way, mask in (("all", rows), ("back towards frontal", rows & back), ("away from it", rows & ~back)):
            if mask.any():
                err = lm[mask] - np.broadcast_to(tg, lm.shape)[mask]
                err_net = net[mask] - np.broadcast_to(tg, net.shape)[mask]
                print(f"| {label} | {way} | {int(mask.sum())} | {np.abs(err).mean():.1f}° "
                      f"| {np.abs(err_net).mean():.1f}° | {err.mean():+.1f}° |")


if __name__ == "__main__":
    main()
