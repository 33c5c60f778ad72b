"""The evaluation's pose figure: yaw reached against yaw asked, and the error by how far each face had to turn, from
the readings `python -m headrot_core evaluate --measurements FILE.npz` saves.

    pip install matplotlib   # only this figure needs it
    python scripts/plot_pose.py runs/all/measured-full.npz --out docs/pose_error.png [--variants 0 2 1]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from error_by_turn import turn_bins  # noqa: E402

TARGET_ERROR = 6.0  # issue 5's acceptance: mean abs pose error, degrees


def short(name: str) -> str:
    """The variant's name up to its first comma: legends stay one line."""
    return name.split(",")[0].replace("shipped without", "without")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("measurements")
    ap.add_argument("--out", default="docs/pose_error.png")
    ap.add_argument("--variants", type=int, nargs="+", default=[0],
                    help="rows of the evaluation's variant table (0: the engine)")
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with np.load(args.measurements) as z:
        tg, src, names = z["targets"], z["source_yaw"], [str(n) for n in z["names"]]
        lm, net = z["measured"], z["measured_net"]
    bins = turn_bins(tg, src)
    centres = np.arange(len(bins))
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.4))
    ax.plot(tg, tg, color="0.6", lw=1, ls=":", label="asked")
    for k, v in enumerate(args.variants):
        colour = f"C{k}"
        q1, q3 = np.percentile(lm[v], [25, 75], axis=0)
        ax.fill_between(tg, q1, q3, color=colour, alpha=0.15, lw=0)
        ax.plot(tg, lm[v].mean(0), "o-", color=colour, label=f"{short(names[v])}: landmarks")
        if v == 0 and not np.isnan(net[v]).all():
            ax.plot(tg, net[v].mean(0), "s--", color=colour, alpha=0.7, label=f"{short(names[v])}: network")
        err = [np.abs(lm[v] - tg)[rows].mean() for _, rows in bins]
        width = 0.8 / len(args.variants)
        bx.bar(centres + (k - (len(args.variants) - 1) / 2) * width, err, width, color=colour,
               label=f"{short(names[v])} ({np.abs(lm[v] - tg).mean():.1f}° overall)")
    ax.set(xlabel="yaw asked (°)", ylabel="yaw reached (°): mean, quartile band", xticks=tg,
           title=f"{lm.shape[1]} held-out faces")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    bx.axhline(TARGET_ERROR, color="k", lw=1, ls="--", label=f"target: {TARGET_ERROR:g}° overall")
    bx.set(xticks=centres, xticklabels=[label for label, _ in bins], xlabel="|yaw asked − source's yaw|",
           ylabel="mean abs error, landmarks (°)", title="error by the turn asked")
    bx.legend(fontsize=8)
    bx.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
