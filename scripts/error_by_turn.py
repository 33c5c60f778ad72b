"""Where the pose error is: one variant's frames by how far each had to turn (|target - source yaw|), read by both
estimators, from the readings `python -m headrot_core evaluate --measurements FILE.npz` saves.

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("measurements")
    ap.add_argument("--variant", type=int, default=0, help="row of the evaluation's variant table (0: the engine)")
    args = ap.parse_args()
    with np.load(args.measurements) as z:
        tg, src = z["targets"], z["source_yaw"]
        lm, net, name = z["measured"][args.variant], z["measured_net"][args.variant], str(z["names"][args.variant])
    print(f"{name}: {lm.size} frames\n")
    print("| \\|target − source yaw\\| | frames | mean abs error, landmarks | mean abs error, network "
          "| mean signed error, landmarks |")
    print("| --- | --- | --- | --- | --- |")
    for label, rows in turn_bins(tg, src):
        if rows.any():
            err = lm[rows] - np.broadcast_to(tg, lm.shape)[rows]
            err_net = net[rows] - np.broadcast_to(tg, net.shape)[rows]
            print(f"| {label} | {int(rows.sum())} | {np.abs(err).mean():.1f}° | {np.abs(err_net).mean():.1f}° "
                  f"| {err.mean():+.1f}° |")


if __name__ == "__main__":
    main()
