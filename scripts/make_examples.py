"""Writes the app's examples: faces SAMPLED from the shipped model (never dataset images) into assets/examples/.

Samples ``--candidates`` faces with seeded DDIM and keeps the ``--n`` that look most like real faces: among the
samples in which dlib's HOG detector (4x upsampled, as in docs/MODEL.md's face rate) finds a face, those that the
realism measure (``headrot_core.measure.realism``: a linear classifier on face descriptors and image statistics) tells
apart from ``--real`` real CelebA crops least, each scored by a classifier that never saw it (5 folds). Without the
shared data the detector's score ranks them. Each is saved as a Lanczos-upscaled PNG carrying the text chunk
``headrot=aligned-crop``: the app then treats it as a crop in the model's convention and skips face detection (a
tight 64 px crop is too tight for the detector). The best ``--photos`` also become photo examples
(``photo_NN.png``, unmarked): the face in a soft surround made from its own border, which the app detects, aligns
and turns as a whole photo. ``examples.json`` records seed, index, scores and the estimated yaw/light of each.

    python scripts/make_examples.py [--model DIR] [--n 6] [--photos 2] [--candidates 64] [--real 400] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ALIGNED_KEY, ALIGNED_VALUE = "headrot", "aligned-crop"  # the marker app.py looks for
DESCRIPTION = "A face sampled from the HeadRot DDIM model (not a photo of a real person)."


def detector_score(img: Image.Image) -> float:
    """dlib HOG's best face score on the 4x upsampled sample (-inf when it finds none)."""
    import dlib

    det = dlib.get_frontal_face_detector()
    gray = np.asarray(img.convert("L").resize((4 * img.width, 4 * img.height), Image.BICUBIC))
    _, scores, _ = det.run(gray, 0, -0.5)
    return float(max(scores)) if len(scores) else float("-inf")


def real_crops(count: int, size: int) -> np.ndarray | None:
    """``count`` real aligned crops at ``size`` px from the shared data (its first shard), or None without it."""
    from headrot_core.build.data import default_data_root, load_images

    shard = default_data_root() / "celeba128" / "shard-00.tar"
    return load_images(shard, size, limit=count).images if count and shard.is_file() else None


def realism_scores(samples: list[Image.Image], real: np.ndarray, folds: int = 5) -> np.ndarray:
    """How real each sample looks: the probability that a classifier trained to tell samples from ``real`` crops
    (the realism measure's features and classifier) gives it of being real, from the fold that held it out."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from headrot_core.measure.realism import realism_features, same_resolution

    px = samples[0].width
    x = np.vstack([realism_features(same_resolution(samples, px)), realism_features(same_resolution(real, px))])
    y = np.r_[np.ones(len(samples), int), np.zeros(len(real), int)]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, class_weight="balanced", max_iter=5000))
    proba = cross_val_predict(clf, x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=0),
                              method="predict_proba")
    return proba[: len(samples), 0]


def in_surround(crop: Image.Image, size: int = 256, blur: float = 24.0) -> Image.Image:
    """A photo around a sampled crop: the crop at ``size`` px in the middle of a frame of the CelebA photo's
    proportions and more, filled with its own border mirrored and blurred (a soft background), the crop's outer
    band faded into it."""
    import cv2

    face = np.asarray(crop.convert("RGB").resize((size, size), Image.LANCZOS)).astype(np.float32)
    pad = [size * 3 // 8, size * 5 // 8, size // 2, size // 2]  # top, bottom, left, right
    sharp = cv2.copyMakeBorder(face, *pad, cv2.BORDER_REFLECT_101)
    soft = cv2.GaussianBlur(sharp, (0, 0), blur)
    inset = np.zeros(sharp.shape[:2], np.float32)
    inset[pad[0]:pad[0] + size, pad[2]:pad[2] + size] = 1
    band = size / 6
    mask = np.clip(cv2.distanceTransform((inset > 0).astype(np.uint8), cv2.DIST_L2, 5) / band, 0, 1)[..., None]
    return Image.fromarray(np.clip(sharp * mask + soft * (1 - mask) + 0.5, 0, 255).astype(np.uint8))


def save_marked(img: Image.Image, path: Path, size: int) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_text(ALIGNED_KEY, ALIGNED_VALUE)
    info.add_text("Description", DESCRIPTION)
    big = img if img.size == (size, size) else img.resize((size, size), Image.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    big.save(path, pnginfo=info)
    return path


def make_examples(model=None, n: int = 6, candidates: int = 32, seed: int = 0, steps: int | None = None,
                  out: str | Path = ROOT / "assets" / "examples", size: int = 256, device: str | None = None,
                  batch: int = 16, require_faces: bool = False, real: int = 0, photos: int = 0,
                  min_detector: float = 1.0) -> list[dict]:
    """Samples, ranks and writes the examples; returns their manifest rows. ``model``: a FaceDiffusion, a folder
    or Hub id, or None for the embedded default. ``require_faces``: refuse (ValueError, nothing written) unless
    the detector finds a face in at least ``n`` samples, so noise from an untrained model never ships. ``real``:
    real crops to rank by realism against (0, or no shared data: by the detector's score), among the samples the
    detector scores at least ``min_detector`` (then the rest). ``photos``: photo examples to write from the best
    samples in which face detection finds exactly one face."""
    from headrot_core.analysis import analyze_crop
    from headrot_core.diffusion import DEFAULT_STEPS, FaceDiffusion, tensor_to_images
    from headrot_core.face import NoFaceError, align_face

    if not isinstance(model, FaceDiffusion):
        model = FaceDiffusion.from_pretrained(model, device)
    steps = steps or DEFAULT_STEPS
    samples: list[Image.Image] = []
    for start in range(0, candidates, batch):
        k = min(batch, candidates - start)
        samples += tensor_to_images(model.sample(k, seed + start, steps))
    detected = [detector_score(s) for s in samples]
    reals = real_crops(real, model.size)
    realism = realism_scores(samples, reals) if reals is not None else np.full(len(samples), np.nan)
    # clear faces first (the detector), then the most real-looking (without a realism score: the detector's best)
    order = sorted(range(len(samples)), key=lambda i: (detected[i] == float("-inf"), detected[i] < min_detector,
                                                       -(realism[i] if reals is not None else detected[i])))
    scored = [(detected[i], i) for i in order]
    faces = sum(score > float("-inf") for score in detected)
    if require_faces and faces < n:
        raise ValueError(f"the detector finds a face in only {faces} of {candidates} samples (need {n}): is the "
                         "model trained? Sample more (--candidates) or pass --allow-non-faces.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("example_*.png"), *out.glob("photo_*.png")]:
        old.unlink()
    rows = []
    for rank, (score, i) in enumerate(scored[:n], 1):
        img = samples[i]
        try:
            a = analyze_crop(img.resize((128, 128), Image.LANCZOS))
            yaw, light = round(float(a.yaw), 1), a.light
        except Exception:  # noqa: BLE001 - a sample the landmark fit cannot read is still an example
            yaw, light = None, None
        name = f"example_{rank:02d}.png"
        save_marked(img, out / name, size)
        rows.append({"file": name, "seed": seed + (i // batch) * batch, "index_in_batch": i % batch,
                     "detector_score": None if score == float("-inf") else round(score, 3),
                     "realism": None if reals is None else round(float(realism[i]), 3), "yaw": yaw, "light": light})
    made: list[dict] = []
    for row, (_, i) in zip(rows, scored):
        if len(made) >= photos:
            break
        photo = in_surround(samples[i], size)
        try:
            if align_face(photo).faces != 1:
                continue
        except NoFaceError:
            continue
        name = f"photo_{len(made) + 1:02d}.png"
        info = PngImagePlugin.PngInfo()
        info.add_text("Description", DESCRIPTION)
        photo.save(out / name, pnginfo=info)
        made.append({**row, "file": name, "from": row["file"]})
    rows += made
    (out / "examples.json").write_text(json.dumps({
        "what": "faces sampled from the model by seeded DDIM (model.sample(k, seed): noise, then clipped generation); "
                "photo_*: one of them in a surround made from its own border (scripts/make_examples.py); "
                "no dataset image",
        "ranking": f"realism (P(real) out of fold against real crops) among detector scores >= {min_detector}"
        if reals is not None else "detector score", "real_crops": 0 if reals is None else len(reals),
        "steps": steps, "model_size": model.size, "candidates": candidates, "examples": rows}, indent=1) + "\n")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="model folder or Hub id (default: the embedded assets/model)")
    p.add_argument("--n", type=int, default=6)
    p.add_argument("--candidates", type=int, default=64, help="faces sampled before keeping the best --n")
    p.add_argument("--real", type=int, default=400,
                   help="real crops from ../shared/data to rank the samples' realism against (0: by the detector)")
    p.add_argument("--photos", type=int, default=2, help="photo examples: the best faces in a soft surround")
    p.add_argument("--min-detector", type=float, default=1.0,
                   help="samples the detector scores below this come after the others, whatever their realism")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--size", type=int, default=256, help="saved size (Lanczos upscale of the model's samples)")
    p.add_argument("--out", default=str(ROOT / "assets" / "examples"))
    p.add_argument("--device", default=None)
    p.add_argument("--allow-non-faces", action="store_true",
                   help="write the best samples even when the detector finds no face in them")
    a = p.parse_args(argv)
    try:
        rows = make_examples(a.model, a.n, a.candidates, a.seed, a.steps, a.out, a.size, a.device,
                             require_faces=not a.allow_non_faces, real=a.real, photos=a.photos,
                             min_detector=a.min_detector)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for r in rows:
        print(r)
    print(f"wrote {len(rows)} examples to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
