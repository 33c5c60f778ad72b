"""The contact sheet of docs/EVALUATION.md's top: the app's examples (two public-domain photographs of real people,
then faces sampled from the shipped model; never dataset images, which may not enter the repository) turned by the
shipped engine, at the size the app shows them.

Each row: the crop the engine draws from, then its frames at ``--yaws``; aligned examples are taken as crops, the
photo examples are found and aligned as an upload is. Prints each row's yaw, light and the yaw each frame was drawn at.
``--photos-only``: the photographs alone; ``--gif``: instead of the sheet, the rows' frames at ``--gif-yaws`` side by
side as a ping-pong animation.

    python scripts/examples_sheet.py [--out docs/examples_sheet.jpg] [--px 192] [--yaws -30 -20 -10 0 10 20 30]
    python scripts/examples_sheet.py --photos-only --gif docs/turns.gif   # the README's animation
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import app  # noqa: E402  the examples as the page lists them
from headrot_core.animation import save_animation, upscale  # noqa: E402
from headrot_core.imaging import make_grid  # noqa: E402
from headrot_core.measure.evaluation import contact_sheet  # noqa: E402
from headrot_core.rotation import HeadRotator  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "examples_sheet.jpg")
    ap.add_argument("--px", type=int, default=192, help="tile size (the app's strip shows frames at about this)")
    ap.add_argument("--yaws", type=float, nargs="+", default=[-30, -20, -10, 0, 10, 20, 30])
    ap.add_argument("--photos-only", action="store_true", help="only the photographs of real people")
    ap.add_argument("--gif", type=Path, help="instead of the sheet, the rows' frames side by side as a ping-pong GIF")
    ap.add_argument("--gif-yaws", type=float, nargs="+", default=[float(y) for y in range(-30, 31, 5)])
    args = ap.parse_args(argv)

    rot = HeadRotator.from_pretrained()
    sources, rows = [], []
    paths = [p for p in map(Path, app.example_paths()) if not args.photos_only or p.name.startswith(app.PHOTO_PREFIX)]
    for path in paths:
        prep = rot.prepare(path, aligned=app.is_marked_aligned(path), render_px=args.px)
        result = rot.rotate_prepared(prep, args.gif_yaws if args.gif else args.yaws)
        sources.append(prep.crop or prep.source)
        rows.append(result.frames)
        drawn = prep.source_yaw + result.turns if result.turns is not None else result.yaws
        print(f"{path.name}: yaw {prep.source_yaw:+.1f}, light {prep.light}; frames drawn at "
              + " ".join(f"{y:+.1f}" for y in drawn))
    if args.gif:
        side_by_side = [make_grid(upscale([row[k] for row in rows], args.px), nrow=len(rows), pad=0)
                        for k in range(len(args.gif_yaws))]
        print(save_animation(side_by_side, args.gif, fps=8.0, size=None))
    else:
        print(contact_sheet(sources, rows, args.out, args.px))


if __name__ == "__main__":
    main()
