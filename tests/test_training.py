import json

import numpy as np
import torch

from headrot_core.build.training import TrainConfig, Trainer, load_training_images, read_training_record, train
from headrot_core.diffusion import FaceDiffusion
from headrot_core.measure.model_card import training_rows


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


def test_exported_model_records_every_run_behind_its_weights(image_folder, tmp_path):
    first = train(_cfg(image_folder, tmp_path / "a"))
    rec = read_training_record(first.model_dir)
    assert (rec["steps"], rec["images_seen"], len(rec["runs"])) == (4, 16, 1)
    assert rec["runs"][0]["config"]["batch_size"] == 4 and "CPU" in rec["runs"][0]["hardware"]

    train(_cfg(image_folder, tmp_path / "b", max_steps=3), init_from=str(first.model_dir))
    resumed = train(_cfg(image_folder, tmp_path / "b", max_steps=5), init_from=str(first.model_dir))
    rec = read_training_record(resumed.model_dir)
    assert [r["steps"] for r in rec["runs"]] == [4, 5], "a continuation counts its source's run, once, after resume"
    assert (rec["steps"], rec["images_seen"]) == (9, 36)
    rows = training_rows(resumed.model_dir, None)
    assert rows[0] == "| steps / images seen | 9 / 36 over 2 run(s) |" and len(rows) == 3


def test_pack_stops_before_its_byte_budget_and_keeps_the_images_in_order(tmp_path):
    """The GPU build's training pack is cut to what is left of a device call's 64 MiB (scripts/gpu_prepare.sh):
    it must stay under the budget it is given and hold a prefix of the images, each decodable."""
    import tarfile

    from headrot_core.build.data import ImageSet, load_images, write_pack

    rng = np.random.default_rng(0)
    images = ImageSet([f"{i:03d}" for i in range(40)], rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8))
    whole = write_pack(images, tmp_path / "all.tar.gz", quality=62)
    budget = whole.stat().st_size // 2
    cut = write_pack(images, tmp_path / "cut.tar.gz", quality=62, max_bytes=budget)
    with tarfile.open(cut) as tar:
        names = tar.getnames()
    assert cut.stat().st_size <= budget
    assert 10 < len(names) < 40 and names == [f"{i:03d}.webp" for i in range(len(names))]
    back = load_images(cut, 32, use_cache=False)
    assert back.ids == images.ids[:len(names)] and back.images.shape == (len(names), 32, 32, 3)
