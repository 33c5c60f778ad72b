"""The embedding network: a tiny random DDIM model and a tiny embedder, so each test takes about a second."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from headrot_core.build.embedding import EmbedTrainConfig, EmbedTrainer, psnr, train_embedder
from headrot_core.diffusion import FaceDiffusion
from headrot_core.embedding import Embedder

STEPS = 3


@pytest.fixture(scope="module")
def ddim():
    return FaceDiffusion.new(size=32, preset="tiny", device="cpu", seed=0)


@pytest.fixture(scope="module")
def images(ddim):
    return ddim.generate(ddim.noise(4, seed=1), STEPS).clamp(-1, 1)


@pytest.fixture(autouse=True)
def _no_shared_data(monkeypatch, tmp_path):
    """Validation never scans ../shared here: it uses generated faces only."""
    monkeypatch.setenv("HEADROT_DATA", str(tmp_path / "no-data"))


def _cfg(out, **kw) -> EmbedTrainConfig:
    base = dict(out=str(out), steps=STEPS, preset="tiny", batch_size=8, lr=5e-3, warmup_steps=1, buffer_size=16,
                gen_batch=8, val_n=2, val_every=10_000, log_every=1, checkpoint_every=10_000, device="cpu")
    return EmbedTrainConfig(**{**base, **kw})


def test_embed_shapes_dtypes_determinism(images):
    emb = Embedder.new(32, "tiny", "cpu", steps=STEPS)
    z = emb.embed(images)
    assert z.shape == images.shape and z.dtype == torch.float32 and z.device.type == "cpu"
    assert torch.equal(z, emb.embed(images))
    # a single (3, H, W) image is a batch of one; oneDNN picks its conv kernel by batch size on some CPUs (AVX2)
    assert torch.allclose(emb.embed(images[0]), z[:1], atol=1e-5)
    assert torch.allclose(emb.embed(images, batch_size=3), z, atol=1e-5)


def test_save_load_round_trip(images, tmp_path):
    from safetensors import safe_open

    emb = Embedder.new(32, "tiny", "cpu", steps=STEPS, seed=3)
    folder = emb.save_pretrained(tmp_path / "embedder")
    info = json.loads((folder / "headrot_embedder.json").read_text())
    assert info["_class_name"] == "HeadRotEmbedder" and info["ddim_steps"] == STEPS
    with safe_open(str(folder / "unet" / "diffusion_pytorch_model.safetensors"), "pt") as f:
        assert all(f.get_tensor(k).dtype == torch.float16 for k in f.keys())
    loaded = Embedder.from_pretrained(folder, "cpu")
    assert loaded.steps == STEPS and loaded.size == 32
    z0, z1 = emb.embed(images), loaded.embed(images)
    assert (z0 - z1).abs().max() < 0.05 * z0.abs().max() + 1e-3
    assert Embedder.from_pretrained(tmp_path, "cpu").steps == STEPS  # a run folder holding embedder/
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError):
        Embedder.from_pretrained(tmp_path / "empty")


def test_training_decreases_loss_on_fixed_batch(ddim, tmp_path):
    trainer = EmbedTrainer(_cfg(tmp_path), model=ddim)
    trainer.make_synthetic(16)
    x, z = trainer.synth.x[:8].clone(), trainer.synth.z[:8].clone()

    def fixed_loss() -> float:
        with torch.no_grad():
            return float(F.mse_loss(trainer.emb.forward(x), z))

    before = fixed_loss()
    losses = [float(trainer.train_step()) for _ in range(20)]
    after = fixed_loss()
    assert after < 0.8 * before, (before, after, losses[::10])
    assert trainer.step == 20 and trainer.images_seen == 160


def test_resume_continues_step_counter(ddim, tmp_path):
    kw = dict(buffer_size=8, gen_fraction=0.0, final_refine=(0, 1))
    r1 = train_embedder(_cfg(tmp_path, max_steps=3, **kw), model=ddim)
    assert r1.step == 3 and (tmp_path / "checkpoint.pt").exists()
    assert (tmp_path / "embedder" / "headrot_embedder.json").exists()
    r2 = train_embedder(_cfg(tmp_path, max_steps=5, baseline=False, **kw), model=ddim)
    assert r2.step == 5 and r2.images_seen == 5 * 8
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    starts = [r["step"] for r in log if r.get("event") == "start"]
    assert starts == [0, 3]
    assert "inversion_psnr_gen_fp0" in log[0]
    assert {"psnr_gen", "latent_mse_gen", "psnr_gen_refine1"} <= set(log[-1])
    assert any("img_per_s" in r for r in log)


def test_real_phase_uses_inverted_crops(ddim, image_folder, tmp_path):
    trainer = EmbedTrainer(_cfg(tmp_path, real_data=str(image_folder), real_after_minutes=0.0,
                                fixed_point_iters=1), model=ddim)
    trainer._start_real_loading()
    trainer.make_synthetic(8)
    trainer.make_real(8)
    assert trainer.real_phase() and trainer.real.n == 8
    # targets are inversions: generating them gives back the crops better than random latents do
    x, z = trainer.real.x[:8], trainer.real.z[:8]
    rec, rnd = ddim.generate(z, STEPS), ddim.generate(torch.randn_like(z), STEPS)
    assert psnr(rec, x) > psnr(rnd, x)
    loss = trainer.train_step()
    assert torch.isfinite(loss)


@pytest.mark.parametrize("criterion", ["latent", "image"])
def test_refinement_does_not_increase_its_error(ddim, images, criterion):
    """z <- z + a (E(x) - E(G(z))), safeguarded: the latent-consistency error |E(G(z)) - E(x)|^2 (or the image
    error |G(z) - x|^2) of every image never grows, even with an untrained embedder."""
    emb = Embedder.new(32, "tiny", "cpu", steps=STEPS, seed=5)
    ex = emb.embed(images)

    def errors(z):
        g = ddim.generate(z, STEPS).clamp(-1, 1)
        d = emb.embed(g) - ex if criterion == "latent" else g - images
        return d.pow(2).flatten(1).mean(1)

    e0, e1, e2 = (errors(emb.embed(images, refine_iters=k, model=ddim, steps=STEPS, criterion=criterion))
                  for k in (0, 1, 2))
    assert torch.all(e1 <= e0 * 1.001 + 1e-6) and torch.all(e2 <= e1 * 1.001 + 1e-6), (e0, e1, e2)
    with pytest.raises(ValueError):
        emb.embed(images, refine_iters=1)
