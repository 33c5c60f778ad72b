"""Measurements behind docs/ANALYSIS.md: alignment under random similarity transforms, yaw and light accuracy.

``python -m headrot_core.measure.face_eval [--trials N] [--out results.json]`` prints the results as JSON.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from .. import face
from ..build.data import default_data_root


def random_background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Smooth random colour blobs plus fine noise: a cluttered but face-free background."""
    import cv2

    coarse = rng.integers(0, 256, (max(2, h // 64), max(2, w // 64), 3), dtype=np.uint8)
    bg = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    bg += rng.integers(-20, 21, (h, w, 3), dtype=np.int16)
    return np.clip(bg, 0, 255).astype(np.uint8)


def transformed_photo(photo: np.ndarray, rng: np.random.Generator, scale_range=(0.5, 3.0), max_rot=25.0,
                      with_angle: bool = False):
    """Pastes ``photo`` (178x218 aligned) with a random similarity onto a larger random background.
    Returns (image, true crop quad 4x2, scale[, angle in degrees])."""
    h, w = photo.shape[:2]
    s = math.exp(rng.uniform(math.log(scale_range[0]), math.log(scale_range[1])))
    a = math.radians(rng.uniform(-max_rot, max_rot))
    diag = math.hypot(w, h) * s
    cw, ch = int(diag * rng.uniform(1.1, 2.0)) + 8, int(diag * rng.uniform(1.1, 2.0)) + 8
    lin = s * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    center = np.array([w / 2, h / 2])
    pos = np.array([rng.uniform(diag / 2, cw - diag / 2), rng.uniform(diag / 2, ch - diag / 2)])
    m = np.hstack([lin, (pos - lin @ center)[:, None]])  # photo -> canvas, continuous
    inv = face.invert(m)
    canvas = random_background(rng, cw, ch)
    warped = face.warp(photo, inv, (cw, ch))
    mask = face.warp(np.pad(np.full((h, w), 255, np.uint8), 1), face.compose(
        np.array([[1, 0, 1], [0, 1, 1]], np.float64), inv), (cw, ch))[..., None] / 255.0
    img = (canvas * (1 - mask) + warped * mask + 0.5).astype(np.uint8)
    if with_angle:
        return img, face.apply(m, face.BOX_CORNERS), s, math.degrees(a)
    return img, face.apply(m, face.BOX_CORNERS), s


@dataclass
class AlignmentResult:
    trials: int
    found: int
    found_rate: float
    correct_rate: float          # found and corner error < 10 % of the box side
    median_corner_error: float   # fraction of the box side, over found trials
    p90_corner_error: float
    median_ms: float
    by_condition: dict


def eval_alignment(trials: int = 300, seed: int = 0, photos: list | None = None) -> AlignmentResult:
    from PIL import Image

    rng = np.random.default_rng(seed)
    files = photos if photos is not None else sorted((default_data_root() / "photos").glob("*.jpg"))
    errs, times, found, cond = [], [], 0, []
    for t in range(trials):
        photo = np.asarray(Image.open(files[rng.integers(len(files))]).convert("RGB"))
        img, quad, s, angle = transformed_photo(photo, rng, with_angle=True)
        t0 = time.perf_counter()
        try:
            m, count, _, _ = face.locate_face(img)
        except face.NoFaceError:
            cond.append((s, angle, np.inf))
            continue
        finally:
            times.append(time.perf_counter() - t0)
        found += 1
        pred = face.apply(m, face.BOX_CORNERS)
        errs.append(float(np.linalg.norm(pred - quad, axis=1).mean() / (128 * s)))
        cond.append((s, angle, errs[-1]))
    errs = np.array(errs) if errs else np.array([np.inf])
    c = np.array(cond)
    by = {}
    for name, sel in (("scale 0.5-1", c[:, 0] < 1), ("scale 1-2", (c[:, 0] >= 1) & (c[:, 0] < 2)),
                      ("scale 2-3", c[:, 0] >= 2), ("|rotation| < 12.5", np.abs(c[:, 1]) < 12.5),
                      ("|rotation| >= 12.5", np.abs(c[:, 1]) >= 12.5)):
        e = c[sel, 2]
        fin = e[np.isfinite(e)]
        by[name] = {"trials": int(sel.sum()), "found_rate": float(np.isfinite(e).mean()),
                    "median_corner_error": float(np.median(fin)) if len(fin) else None}
    return AlignmentResult(trials, found, found / trials, float((errs < 0.10).sum() / trials),
                           float(np.median(errs)), float(np.percentile(errs, 90)), float(np.median(times) * 1e3),
                           by)


def eval_false_positives(n: int = 100, seed: int = 1000) -> dict:
    """How many face-free random backgrounds (300-2000 px) still yield a 'face', and the time to say none."""
    found, times = 0, []
    for k in range(n):
        rng = np.random.default_rng(seed + k)
        side = int(rng.integers(300, 2000))
        img = random_background(rng, side, int(side * rng.uniform(0.5, 1.0)))
        t0 = time.perf_counter()
        try:
            face.locate_face(img)
            found += 1
        except face.NoFaceError:
            pass
        times.append(time.perf_counter() - t0)
    return {"backgrounds": n, "false_faces": found, "median_ms": float(np.median(times) * 1e3)}


def eval_untransformed() -> dict:
    """Corner error on the 600 aligned photos as they are (where the true quad is the box itself)."""
    from PIL import Image

    errs, miss = [], 0
    for f in sorted((default_data_root() / "photos").glob("*.jpg")):
        try:
            m, *_ = face.locate_face(Image.open(f))
        except face.NoFaceError:
            miss += 1
            continue
        errs.append(np.linalg.norm(face.apply(m, face.BOX_CORNERS) - face.BOX_CORNERS, axis=1).mean() / 128)
    return {"photos": len(errs) + miss, "missed": miss, "median_corner_error": float(np.median(errs)),
            "p90_corner_error": float(np.percentile(errs, 90))}


def eval_yaw(sizes=(64, 128), limit: int | None = None) -> dict:
    """MAE on held-out identities (|yaw| <= 40), and mirror consistency, at each size."""
    import cv2

    from ..analysis import analyze_crop, crop_measurements
    from ..build.data import is_holdout, load_annotations, load_images

    ann = load_annotations()
    images = load_images(default_data_root() / "celeba128", 128)
    idx = [i for i, k in enumerate(images.ids) if ann[k].yaw is not None and is_holdout(ann[k].identity)]
    idx = idx[:limit] if limit else idx
    coef, icpt = face.face_model()["yaw_coef"], face.face_model()["yaw_intercept"]
    out = {}
    for size in sizes:
        err, raw_cons, sym_cons = [], [], []
        for i in idx:
            img = images.images[i]
            if size != 128:
                img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            true = ann[images.ids[i]].yaw
            r = analyze_crop(img)
            rm = analyze_crop(np.ascontiguousarray(img[:, ::-1]))
            sym_cons.append(abs(r.yaw + rm.yaw))
            f, fm, _, _ = crop_measurements(img)
            raw_cons.append(abs((f @ coef + icpt) + (fm @ coef + icpt)))
            if abs(true) <= 40:
                err.append(abs(r.yaw - true))
        err = np.array(err)
        out[str(size)] = {"n": len(err), "mae": float(err.mean()), "median_ae": float(np.median(err)),
                          "mirror_consistency": float(np.mean(sym_cons)),
                          "mirror_consistency_one_sided": float(np.mean(raw_cons))}
    return out


def eval_yaw_net() -> dict:
    """The appearance network against HopeNet on the held-out crops of ``eval_yaw`` (|yaw| <= 40, 64 px), by
    |yaw|; its agreement with the landmark estimator; seconds for 13 frames."""
    import time

    from ..analysis import analyze_crop
    from ..build.data import annotated_split
    from ..diffusion import images_to_tensor
    from ..yaw_net import load_yaw_net

    _, held = annotated_split(default_data_root() / "celeba128", size=128)
    keep = np.abs(held.yaw) <= 40
    images, true = held.images[keep], held.yaw[keep]
    net = load_yaw_net()
    by_net = np.concatenate([net.yaw(images_to_tensor(images[i:i + 64], 64)).numpy()
                             for i in range(0, len(images), 64)])
    by_landmarks = np.array([analyze_crop(im).yaw for im in images])
    err = np.abs(by_net - true)
    bins = {f"{lo}-{hi}": float(err[(np.abs(true) >= lo) & (np.abs(true) < hi)].mean())
            for lo, hi in ((0, 10), (10, 20), (20, 30), (30, 41))}
    x = images_to_tensor(images[:13], 64)
    net.yaw(x)  # warm-up
    t0 = time.perf_counter()
    net.yaw(x)
    return {"n": int(len(err)), "mae": float(err.mean()), "median_ae": float(np.median(err)), "mae_by_abs_yaw": bins,
            "landmarks_mae": float(np.abs(by_landmarks - true).mean()),
            "network_vs_landmarks": float(np.abs(by_net - by_landmarks).mean()),
            "seconds_13_frames": round(time.perf_counter() - t0, 4)}


def eval_light(n: int = 1000, seed: int = 0) -> dict:
    """Mirror flip rate and ramp monotonicity on held-out crops."""
    from ..analysis import analyze_crop
    from ..build.data import is_holdout, load_annotations, load_images

    ann = load_annotations()
    images = load_images(default_data_root() / "celeba128", 128)
    idx = [i for i, k in enumerate(images.ids) if k in ann and is_holdout(ann[k].identity)]
    rng = np.random.default_rng(seed)
    idx = rng.choice(idx, size=min(n, len(idx)), replace=False)
    flip = {"left": "right", "right": "left", "center": "center"}
    ok, mono, total = 0, 0, 0
    x = (np.arange(128) + 0.5) / 128 - 0.5
    gains = np.linspace(-0.8, 0.8, 9)
    for k, i in enumerate(idx):
        img = images.images[i]
        a, b = analyze_crop(img), analyze_crop(np.ascontiguousarray(img[:, ::-1]))
        ok += b.light == flip[a.light]
        if k < 200:  # the ramp test is 9 analyses an image: a subset
            scores = [analyze_crop(np.clip(img * (1 + g * x)[None, :, None], 0, 255).astype(np.uint8)).light_score
                      for g in gains]
            mono += bool(np.all(np.diff(scores) > 0))
            total += 1
    return {"n": len(idx), "mirror_flip_rate": ok / len(idx), "ramp_n": total, "ramp_monotonic_rate": mono / total}


#: Yaw bins of the mean-face figure (degrees, the dataset's sign): nose to the image's left / frontal / right.
POSE_BINS = (("nose to image left (yaw >= 10)", 10.0, 180.0), ("frontal (|yaw| <= 5)", -5.0, 5.0),
             ("nose to image right (yaw <= -10)", -180.0, -10.0))


def mean_face_figure(path, labels=None, size: int = 128) -> dict:
    """3x3 grid of mean crops: rows light left/center/right, columns the POSE_BINS; returns the counts."""
    from PIL import Image, ImageDraw

    from ..build.data import load_images
    from ..build.labels import load_labels

    labels = labels or load_labels()
    images = load_images(default_data_root() / "celeba128", size)
    pos = {k: i for i, k in enumerate(images.ids)}
    order = np.array([pos[k] for k in labels.ids])
    pad, head, side = 4, 18, 150
    grid = Image.new("RGB", (side + 3 * (size + pad) + pad, head + 3 * (size + pad) + pad + 14), "white")
    draw = ImageDraw.Draw(grid)
    counts = {}
    for c, (name, _, _) in enumerate(POSE_BINS):
        draw.text((side + pad + c * (size + pad), 3), name.split(" (")[0], fill="black")
    for r, light in enumerate(("left", "center", "right")):
        y = head + pad + r * (size + pad)
        draw.text((4, y + size // 2 - 12), f"light from {light}" if light != "center" else "light center",
                  fill="black")
        for c, (name, lo, hi) in enumerate(POSE_BINS):
            sel = (labels.light == light) & (labels.yaw >= lo) & (labels.yaw <= hi)
            counts[f"{light}/{name}"] = int(sel.sum())
            x = side + pad + c * (size + pad)
            if sel.any():
                mean = np.zeros((size, size, 3), np.float64)
                for chunk in np.array_split(order[sel], max(1, sel.sum() // 2000)):
                    mean += images.images[np.sort(chunk)].astype(np.float64).sum(0)
                grid.paste(Image.fromarray((mean / sel.sum() + 0.5).astype(np.uint8)), (x, y))
            draw.text((x + 3, y + size - 12), f"n={int(sel.sum())}", fill="white")
    draw.text((4, grid.height - 14), "mean of aligned CelebA crops per estimated light x yaw class", fill="black")
    grid.save(path)
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m headrot_core.measure.face_eval")
    p.add_argument("--trials", type=int, default=300)
    p.add_argument("--what", default="align,plain,false,yaw,light")
    p.add_argument("--out", default=None)
    p.add_argument("--figure", default=None, help="write the mean-face figure (needs the labels) to this PNG")
    args = p.parse_args(argv)
    what = args.what.split(",")
    checks = [("alignment", "align" in what, lambda: asdict(eval_alignment(args.trials))),
              ("false_positives", "false" in what, eval_false_positives),
              ("untransformed", "plain" in what, eval_untransformed),
              ("yaw", "yaw" in what, eval_yaw),
              ("yaw_net", "yaw_net" in what, eval_yaw_net),
              ("light", "light" in what, eval_light),
              ("mean_faces", bool(args.figure), lambda: mean_face_figure(args.figure))]
    res = {}
    for key, wanted, run in checks:
        if wanted:
            res[key] = run()
            print(json.dumps(res[key]), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
