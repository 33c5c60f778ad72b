"""Writes the app's examples: faces SAMPLED from the shipped model (never dataset images) into assets/examples/.

Samples ``--candidates`` faces with seeded DDIM, keeps the ``--n`` that dlib's HOG detector (4x upsampled, as in
docs/MODEL.md's face rate) scores highest, and saves each as a Lanczos-upscaled PNG carrying the text chunk
``headrot=aligned-crop``: the app then treats it as a crop in the model's convention and skips face detection (a
tight 64 px crop is too tight for the detector). ``examples.json`` records seed, index, detector score and the
estimated yaw/light of each.

    python scripts/make_examples.py [--model DIR] [--n 6] [--candidates 32] [--seed 0] [--steps 20]
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


def detector_score(img: Image.Image) -> float:
    """dlib HOG's best face score on the 4x upsampled sample (-inf when it finds none)."""
    import dlib

    det = dlib.get_frontal_face_detector()
    gray = np.asarray(img.convert("L").resize((4 * img.width, 4 * img.height), Image.BICUBIC))
    _, scores, _ = det.run(gray, 0, -0.5)
    return float(max(scores)) if len(scores) else float("-inf")


def save_marked(img: Image.Image, path: Path, size: int) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_text(ALIGNED_KEY, ALIGNED_VALUE)
    info.add_text("Description", "A face sampled from the HeadRot DDIM model (not a photo of a real person).")
    big = img if img.size == (size, size) else img.resize((size, size), Image.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    big.save(path, pnginfo=info)
    return path


def make_examples(model=None, n: int = 6, candidates: int = 32, seed: int = 0, steps: int | None = None,
                  out: str | Path = ROOT / "assets" / "examples", size: int = 256, device: str | None = None,
                  batch: int = 16, require_faces: bool = False) -> list[dict]:
    """Samples, ranks and writes the examples; returns their manifest rows. ``model``: a FaceDiffusion, a folder
    or Hub id, or None for the embedded default. ``require_faces``: refuse (ValueError, nothing written) unless
    the detector finds a face in at least ``n`` samples, so noise from an untrained model never ships."""
    from headrot_core.analysis import analyze_crop
    from headrot_core.diffusion import DEFAULT_STEPS, FaceDiffusion, tensor_to_images

    if not isinstance(model, FaceDiffusion):
        model = FaceDiffusion.from_pretrained(model, device)
    steps = steps or DEFAULT_STEPS
    samples: list[Image.Image] = []
    for start in range(0, candidates, batch):
        k = min(batch, candidates - start)
        samples += tensor_to_images(model.sample(k, seed + start, steps))
    scored = sorted(((detector_score(s), i) for i, s in enumerate(samples)), key=lambda t: -t[0])
    faces = sum(score > float("-inf") for score, _ in scored)
    if require_faces and faces < n:
        raise ValueError(f"the detector finds a face in only {faces} of {candidates} samples (need {n}): is the "
                         "model trained? Sample more (--candidates) or pass --allow-non-faces.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("example_*.png"):
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
                     "yaw": yaw, "light": light})
    (out / "examples.json").write_text(json.dumps({
        "what": "faces sampled from the model by seeded DDIM (model.sample(k, seed): noise, then clipped generation); no dataset image",
        "steps": steps, "model_size": model.size, "candidates": candidates, "examples": rows}, indent=1) + "\n")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="model folder or Hub id (default: the embedded assets/model)")
    p.add_argument("--n", type=int, default=6)
    p.add_argument("--candidates", type=int, default=32, help="faces sampled before keeping the best --n")
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
                             require_faces=not a.allow_non_faces)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for r in rows:
        print(r)
    print(f"wrote {len(rows)} examples to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
