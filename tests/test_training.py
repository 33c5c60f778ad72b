import json

import torch

from headrot_core.diffusion import FaceDiffusion
from headrot_core.training import TrainConfig, Trainer, load_training_images, train


def _cfg(folder, out, **kw):
    base = dict(data=str(folder), out=str(out), size=32, preset="tiny", batch_size=4, max_steps=4, warmup_steps=1,
                checkpoint_every=2, sample_every=1000, sample_steps=3, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def test_training_runs_checkpoints_and_resumes(image_folder, tmp_path):
    out = tmp_path / "run"
    first = train(_cfg(image_folder, out))
    assert first.step == 4 and first.images_seen == 16
    assert (out / "checkpoint.pt").exists() and (out / "samples").is_dir()
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert all("loss" in x for x in lines)
    model = FaceDiffusion.from_pretrained(first.model_dir, device="cpu")
    assert model.size == 32

    resumed = Trainer(_cfg(image_folder, out, max_steps=7))
    assert resumed.load_checkpoint() and resumed.step == 4 and resumed.images_seen == 16
    second = train(_cfg(image_folder, out, max_steps=7))
    assert second.step == 7 and second.images_seen == 28


def test_resume_restores_weights_exactly(image_folder, tmp_path):
    out = tmp_path / "run"
    train(_cfg(image_folder, out))
    a, b = Trainer(_cfg(image_folder, out)), Trainer(_cfg(image_folder, out))
    a.load_checkpoint(), b.load_checkpoint()
    for pa, pb in zip(a.unet.parameters(), b.unet.parameters()):
        assert torch.equal(pa, pb)
    data = load_training_images(str(image_folder), 32)
    assert a.train_step(data) == b.train_step(data), "same checkpoint + same RNG state -> same next step"


def test_training_reduces_loss_on_fixed_data(image_folder, tmp_path):
    trainer = Trainer(_cfg(image_folder, tmp_path / "r", batch_size=8, lr=3e-3, max_steps=60, min_snr_gamma=0))
    data = load_training_images(str(image_folder), 32)
    losses = [trainer.train_step(data) for _ in range(60)]
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10


def test_min_snr_weight_caps_clean_timesteps(image_folder, tmp_path):
    trainer = Trainer(_cfg(image_folder, tmp_path / "w"))
    w = trainer._min_snr_weight(torch.tensor([0, 500, 999]))
    assert w[0] < 0.01 and w[2] == 1.0 and torch.all(w > 0)
