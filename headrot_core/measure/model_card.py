"""``model-card``: measures the shipped DDIM model and writes docs/MODEL.md with its sample grid.

Quality is measured, never assumed: the share of random samples in which an independent face detector (dlib's
HOG, default threshold, on a 4x upsampled sample) finds a face; reconstruction PSNR/SSIM of generate(invert(x))
on held-out-identity crops; and CPU time over step counts.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..build.data import default_data_root, is_holdout, load_annotations, load_images
from ..diffusion import DEFAULT_STEPS, FaceDiffusion, images_to_tensor, tensor_to_images
from .evaluation import psnr, ssim
from ..imaging import save_grid
from ..loading import DEFAULT_MODEL_DIR
from ..build.training import read_training_record


def face_rate(model: FaceDiffusion, n: int = 256, steps: int = DEFAULT_STEPS, seed: int = 1234,
              batch: int = 64) -> tuple[float, list[Image.Image]]:
    """Share of ``n`` samples where dlib's HOG detector finds a face (upsampled 4x), and the samples."""
    import dlib

    detector = dlib.get_frontal_face_detector()
    samples: list[Image.Image] = []
    for start in range(0, n, batch):
        z = model.noise(min(batch, n - start), seed + start)
        samples += tensor_to_images(model.generate(z, steps, clip=True))
    found = [len(detector(np.asarray(s.convert("L").resize((4 * s.width, 4 * s.height), Image.BICUBIC)), 0)) > 0
             for s in samples]
    return float(np.mean(found)), samples


def heldout_crops(n: int, size: int, seed: int = 0) -> np.ndarray:
    """``n`` crops of held-out identities (identity % 20 == 0), at ``size`` px, in a seeded random order."""
    root = default_data_root()
    ann = load_annotations(root / "annotations.csv")
    images = load_images(root / "celeba128", size)
    held = np.array([bool((a := ann.get(k)) and is_holdout(a.identity)) for k in images.ids])
    idx = np.flatnonzero(held)
    idx = np.random.default_rng(seed).permutation(idx)[:n]
    return images.images[np.sort(idx)]


@dataclass
class ReconRow:
    steps: int
    fixed_point_iters: int
    faces: int
    psnr: float
    ssim: float


def reconstruction(model: FaceDiffusion, crops: np.ndarray, steps: int, fixed_point_iters: int = 0,
                   batch: int = 32) -> ReconRow:
    ps, ss = [], []
    for start in range(0, len(crops), batch):
        x = images_to_tensor(crops[start:start + batch], model.size)
        rec = tensor_to_images(model.generate(model.invert(x, steps, fixed_point_iters), steps))
        ps += [psnr(np.asarray(r), c) for r, c in zip(rec, crops[start:start + batch])]
        ss += [ssim(np.asarray(r), c) for r, c in zip(rec, crops[start:start + batch])]
    return ReconRow(steps, fixed_point_iters, len(crops), float(np.mean(ps)), float(np.mean(ss)))


def cpu_times(model: FaceDiffusion, steps: int) -> tuple[float, float]:
    """(seconds to invert one face, seconds to generate 13 frames), best of two after a warm-up."""
    x, z = model.generate(model.noise(1), 2), model.noise(13, 1)

    def best(fn):
        fn()
        out = []
        for _ in range(2):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
        return min(out)

    return best(lambda: model.invert(x, steps)), best(lambda: model.generate(z, steps))


def training_rows(model_dir: Path, run_dir: Path | None) -> list[str]:
    """Provenance rows: every run in the model's training record, else the last line of the run's log."""
    runs = read_training_record(model_dir).get("runs", [])
    if not runs:
        log = []
        if run_dir and (run_dir / "log.jsonl").exists():
            log = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines() if x.strip()]
        last = log[-1] if log else {}
        return [f"| steps / images seen | {last.get('step', 'n/a')} / {last.get('images_seen', 'n/a')} |",
                "| hardware and optimiser | not recorded with these weights (see the notes below) |"]
    rows = [f"| steps / images seen | {sum(r['steps'] for r in runs):,} / {sum(r['images_seen'] for r in runs):,} "
            f"over {len(runs)} run(s) |"]
    for i, r in enumerate(runs, 1):
        c = r.get("config", {})
        rows.append(f"| run {i} | {r['steps']:,} steps, {r['images_seen']:,} images on {r.get('hardware', 'n/a')}; "
                    f"AdamW lr {c.get('lr')}, {c.get('warmup_steps')} warmup steps, {c.get('lr_schedule')} schedule "
                    f"over {c.get('max_steps')} steps, batch {c.get('batch_size')}, EMA {c.get('ema_decay')}, "
                    f"min-SNR {c.get('min_snr_gamma')} |")
    return rows


def write_model_card(model: FaceDiffusion, model_dir: Path, run_dir: Path | None, out: Path, n: int = 256,
                     steps_list=(10, 20, 50), training_notes: str = "", sample_steps=(12, 20, 50)) -> Path:
    """The face rate is measured at several step counts on the same seeds (12: the engine's): fewer DDIM steps give
    blurrier samples, so the rate depends on the sampler as much as on the weights. The grid shows the most steps."""
    out.parent.mkdir(parents=True, exist_ok=True)
    rates = {s: face_rate(model, n, s) for s in sorted(sample_steps)}
    grid_steps = max(rates)
    # MODEL.md -> model_samples.png; a card for another model (MODEL_H100.md) keeps its own grid
    grid = save_grid(rates[grid_steps][1][:64], out.parent / f"{out.stem.lower()}_samples.png", nrow=8)
    crops = heldout_crops(n, model.size)
    rows = [reconstruction(model, crops, DEFAULT_STEPS, k) for k in (0, 1, 2)]
    rows += [reconstruction(model, crops[:64], s, 2) for s in steps_list if s != DEFAULT_STEPS]
    times = {s: cpu_times(model, s) for s in steps_list}
    n_params = sum(p.numel() for p in model.unet.parameters())
    cfg = model.unet.config
    shipped = model_dir.resolve() == DEFAULT_MODEL_DIR.resolve()
    lines = [
        "# The embedded default model" if shipped else f"# A candidate model, not the embedded default: {model_dir.name}",
        "",
        f"A DDIM face generator at 64x64 trained by this project (`{'assets/model/' if shipped else model_dir}`, "
        "diffusers layout, fp16 safetensors).", "",
        "## What produced it", "",
        "| item | value |", "| --- | --- |",
        "| data | `../shared/data/celeba128`: aligned CelebA crops resized to 64 px (Lanczos), horizontal flips; "
        "identities with `identity % 20 == 0` held out (never trained on) |",
        f"| architecture | diffusers `UNet2DModel`, widths {list(cfg.block_out_channels)}, {cfg.layers_per_block} "
        f"residual block(s) a level, attention in {[b for b in cfg.down_block_types if 'Attn' in b]} "
        f"(8x8), {n_params / 1e6:.2f} M parameters |",
        "| objective | epsilon prediction, linear betas 1e-4..0.02 over 1000 steps, min-SNR loss weighting |",
        "| sampler | `DDIMScheduler`, eta 0, trailing timestep spacing (x_T at t = 999) |",
        *training_rows(model_dir, run_dir),
        f"| file size | {sum(f.stat().st_size for f in model_dir.rglob('*') if f.is_file()) / 2**20:.1f} MiB |",
        "", training_notes, "",
        "## Measured quality", "",
        f"Samples: share of {n} random samples (same seeds at every step count) in which an independent detector "
        "(dlib HOG, default threshold, 4x bicubic upsampling) finds a face:", "",
        "| DDIM steps | face rate |", "| --- | --- |",
        *[f"| {s} | {r:.1%} |" for s, (r, _) in rates.items()], "",
        f"The first 64 samples at {grid_steps} steps:", "",
        f"![samples]({grid.name})", "",
        "Reconstruction generate(invert(x)) at 64 px on held-out identities:", "",
        "| DDIM steps | fixed-point iterations | faces | PSNR (dB) | SSIM |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r.steps} | {r.fixed_point_iters} | {r.faces} | {r.psnr:.2f} | {r.ssim:.3f} |" for r in rows]
    arithmetic = "bf16 autocast" if model.uses_bf16 else "fp32"
    lines += ["", f"CPU time ({torch.get_num_threads()} threads, {arithmetic}):", "",
              "| DDIM steps | invert 1 face (s) | generate 13 frames (s) |", "| --- | --- | --- |"]
    lines += [f"| {s} | {a:.3f} | {b:.3f} |" for s, (a, b) in times.items()]
    out.write_text("\n".join(lines) + "\n")
    return out

