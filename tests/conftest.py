"""Shared fixtures: tiny random models and generated images, so the suite runs in minutes on two CPU cores."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads: see headrot_core/__init__.py

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image

torch.set_num_threads(min(2, os.cpu_count() or 1))
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

from headrot_core.settings import EngineSettings  # noqa: E402

# The tiny engine: x_T, raw lines, one fixed-point iteration; tests/data/tiny_frames/ was made with exactly this
TINY_SETTINGS = EngineSettings(steps=20, fixed_point_iters=1, warm_start=False, latent_t=None, walk="lines",
                               residual_steps=20, decode="residual", match_gender=True, joint_gain=1.0,
                               smoothing_sigma=0.0, shared_channels=False, feedback_tolerance=3.0)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Caches go to a per-session temp folder, never to the user's ~/.cache."""
    monkeypatch.setenv("HEADROT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def tiny_model():
    from headrot_core.diffusion import FaceDiffusion

    return FaceDiffusion.new(size=32, preset="tiny", device="cpu", seed=0)


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_model, tmp_path_factory):
    return tiny_model.save_pretrained(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    """Eight smooth random 40 px 'faces' (blobs), enough for the training loop."""
    folder = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:40] / 40.0
    for i in range(8):
        cx, cy = rng.uniform(0.3, 0.7, 2)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.05)
        arr = (blob[..., None] * rng.uniform(80, 255, 3) + 20).clip(0, 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"{i:03d}.png")
    return folder


def shared_data_or_skip() -> Path:
    if not (DATA / "celeba128").is_dir():
        pytest.skip("../shared/data is absent (as on a user's machine)")
    return DATA


@pytest.fixture(scope="session")
def tiny_rotator_dir(tiny_model, tmp_path_factory) -> Path:
    """A tiny model folder with trajectories fitted on synthetic latents of its size: everything
    ``HeadRotator.from_pretrained(folder)`` needs, in well under a second."""
    return tiny_rotator_folder(tiny_model, tmp_path_factory.mktemp("rot"))


def tiny_rotator_folder(tiny_model, parent: Path) -> Path:
    """The tiny model and its synthetic lines, walked with ``TINY_SETTINGS``."""
    from headrot_core.build.fitting import fit_trajectory_set

    folder = tiny_model.save_pretrained(parent / "model")
    rng = np.random.default_rng(0)
    d = 3 * tiny_model.size * tiny_model.size
    yaw = rng.uniform(-40, 40, 1500)
    direction = rng.normal(size=d) / 40
    latents = rng.normal(size=(1500, d)) + yaw[:, None] * direction
    lights = rng.choice(["left", "center", "right"], 1500)
    genders = rng.choice(["female", "male"], 1500)
    fit_trajectory_set(latents, yaw, lights, genders, meta={"synthetic": True},
                       settings=TINY_SETTINGS).save(folder / "trajectories")
    return folder


def real_crop(image_id: str = "000004", size: int = 128) -> Image.Image:
    """One aligned 128 px crop from the shared shards (skips when the data is absent)."""
    import io
    import tarfile

    data = shared_data_or_skip()
    with tarfile.open(data / "celeba128" / "shard-00.tar") as tar:
        for member in tar:
            if member.name.startswith(image_id) or image_id == "first":
                img = Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB")
                return img.resize((size, size), Image.LANCZOS) if size != 128 else img
    pytest.skip(f"{image_id} not in shard-00")
