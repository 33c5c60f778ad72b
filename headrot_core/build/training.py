"""Training the DDIM face model: epsilon-prediction MSE, EMA weights, warmup + cosine LR, resumable checkpoints.

The whole training set is decoded once into a uint8 tensor on the training device (42k images at 64 px are
0.5 GB), so batches cost an index and a flip instead of a data loader.
"""
from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import UNet2DModel
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from tqdm.auto import tqdm

from .data import default_data_root, load_annotations, load_images, training_split
from ..diffusion import FaceDiffusion, pick_device
from ..imaging import save_grid


@dataclass
class TrainConfig:
    data: str
    out: str
    size: int = 64
    preset: str = "default"
    batch_size: int = 128
    lr: float = 2e-4
    warmup_steps: int = 500
    lr_schedule: str = "cosine"  # or "constant" (after warmup): for runs whose length is set by a time budget
    max_steps: int = 100_000
    minutes: float | None = None
    ema_decay: float = 0.9999
    min_snr_gamma: float = 5.0
    sample_every: int = 2000
    checkpoint_every: int = 1000
    sample_steps: int = 20
    seed: int = 0
    device: str | None = None
    extra: dict = field(default_factory=dict)


TRAINING_RECORD = "training.json"


def hardware_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads"


def read_training_record(model_dir: str | Path) -> dict:
    """The exported model's provenance (runs, steps, images seen); empty for models exported without one."""
    path = Path(model_dir) / TRAINING_RECORD
    return json.loads(path.read_text()) if path.exists() else {}


def write_training_record(model_dir: Path, runs: list[dict]) -> Path:
    """Totals over every run that trained these weights, so a continued model's card counts all of them."""
    record = {"steps": sum(r["steps"] for r in runs), "images_seen": sum(r["images_seen"] for r in runs),
              "runs": runs}
    path = Path(model_dir) / TRAINING_RECORD
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


@dataclass
class TrainResult:
    step: int
    images_seen: int
    last_loss: float
    seconds: float
    model_dir: Path


def load_training_images(data: str, size: int) -> torch.Tensor:
    """uint8 (N, 3, size, size): every image of ``data`` except held-out identities (when annotations exist)."""
    images = load_images(data, size)
    ann_path = default_data_root() / "annotations.csv"
    train, _ = training_split(images, load_annotations(ann_path) if ann_path.exists() else None)
    return torch.from_numpy(train.images).permute(0, 3, 1, 2).contiguous()


class ResumableTrainer:
    """Checkpoint plumbing shared by the model and embedder trainers: weights, EMA, optimizer, LR schedule, counters
    and RNG state in ``OUT/checkpoint.pt`` (written atomically), plus the EMA export into ``OUT/<export_name>``.
    Subclasses set the attributes below and may add keys through ``extra_state`` / ``load_extra_state``."""

    export_name = "model"
    out: Path
    cfg: object
    device: torch.device
    unet: UNet2DModel
    ema: EMAModel
    opt: torch.optim.Optimizer
    sched: object
    gen: torch.Generator
    step: int
    images_seen: int

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def _setup_out_and_device(self, out: str | Path, device: str | None) -> None:
        """The output folder, and the device (TF32 and cuDNN autotuning on a GPU: fixed shapes, fp32 weights)."""
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.device = pick_device(device)
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True

    def descend(self, loss: torch.Tensor, batch: int) -> torch.Tensor:
        """One optimiser step on ``loss`` (gradients clipped to norm 1, then the LR schedule and the EMA), counted."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.unet.parameters(), 1.0)
        self.opt.step()
        self.sched.step()
        self.ema.step(self.unet.parameters())
        self.step += 1
        self.images_seen += batch
        return loss.detach()

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def export(self, path: Path) -> Path:
        raise NotImplementedError

    def save_checkpoint(self) -> None:
        state = {"unet": self.unet.state_dict(), "ema": self.ema.state_dict(), "opt": self.opt.state_dict(),
                 "sched": self.sched.state_dict(), "step": self.step, "images_seen": self.images_seen,
                 "gen": self.gen.get_state(), "config": asdict(self.cfg), **self.extra_state()}
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(self.checkpoint_path)
        self.export(self.out / self.export_name)

    def load_checkpoint(self) -> bool:
        if not self.checkpoint_path.exists():
            return False
        state = torch.load(self.checkpoint_path, map_location=self.device, weights_only=False)
        self.unet.load_state_dict(state["unet"])
        self.ema.load_state_dict(state["ema"])
        self.ema.to(self.device)
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        self.step, self.images_seen = state["step"], state["images_seen"]
        self.gen.set_state(state["gen"].cpu())
        self.load_extra_state(state)
        return True


class Trainer(ResumableTrainer):
    """Owns model, EMA, optimizer and LR schedule; ``run`` trains until max_steps or the time budget."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self._setup_out_and_device(cfg.out, cfg.device)
        self.model = FaceDiffusion.new(cfg.size, cfg.preset, self.device, seed=cfg.seed)
        self.unet: UNet2DModel = self.model.unet.to(self.device).train()
        cuda = self.device.type == "cuda"
        # on a GPU a 10 M-parameter UNet is launch-bound: fused / foreach updates cut hundreds of small kernels
        self.ema = EMAModel(self.unet.parameters(), decay=cfg.ema_decay, use_ema_warmup=True, power=2 / 3,
                            foreach=cuda, model_cls=UNet2DModel, model_config=self.unet.config)
        self.ema.to(self.device)
        self.opt = torch.optim.AdamW(self.unet.parameters(), lr=cfg.lr, weight_decay=0.0, fused=cuda or None)
        schedule = {"cosine": "cosine", "constant": "constant_with_warmup"}[cfg.lr_schedule]
        self.sched = get_scheduler(schedule, self.opt, num_warmup_steps=cfg.warmup_steps,
                                   num_training_steps=cfg.max_steps)
        self.step = 0
        self.images_seen = 0
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.history: list[dict] = []  # the runs that trained the weights this run started from (init_from)
        self.alphas = self.model.scheduler.alphas_cumprod.to(self.device)

    def init_from(self, model_dir: str | Path) -> None:
        """Starts from exported weights (e.g. when the full checkpoint was lost): model and EMA both."""
        src = FaceDiffusion.from_pretrained(model_dir, self.device)
        self.unet.load_state_dict(src.unet.state_dict())
        self.ema = EMAModel(self.unet.parameters(), decay=self.cfg.ema_decay, use_ema_warmup=False,
                            model_cls=UNet2DModel, model_config=self.unet.config)
        self.ema.to(self.device)
        self.history = read_training_record(model_dir).get("runs", [])

    def extra_state(self) -> dict:
        return {"history": self.history}

    def load_extra_state(self, state: dict) -> None:
        self.history = state.get("history", [])

    def ema_model(self) -> FaceDiffusion:
        unet = UNet2DModel.from_config(self.unet.config).to(self.device)
        self.ema.copy_to(unet.parameters())
        return FaceDiffusion(unet.eval(), self.model.scheduler, self.device)

    def export(self, path: Path) -> Path:
        out = self.ema_model().save_pretrained(path, fp16=True)
        this_run = {"steps": self.step, "images_seen": self.images_seen,
                    "config": {k: v for k, v in asdict(self.cfg).items() if k not in ("out", "extra")},
                    "hardware": hardware_name(self.device)}  # where it last resumed
        write_training_record(out, self.history + [this_run])
        return out

    def save_samples(self) -> Path:
        model = self.ema_model()
        path = self.out / "samples" / f"step{self.step:07d}.png"
        save_grid(model.sample(64, seed=1234, steps=self.cfg.sample_steps), path, nrow=8)
        return path

    def train_step(self, data: torch.Tensor) -> torch.Tensor:
        """One optimizer step; returns the loss on the device (reading it every step would stall a GPU)."""
        b = self.cfg.batch_size
        idx = torch.randint(0, data.shape[0], (b,), device=self.device, generator=self.gen)
        x0 = data[idx].float().div_(127.5).sub_(1.0)
        flip = torch.rand(b, device=self.device, generator=self.gen) < 0.5
        x0 = torch.where(flip[:, None, None, None], x0.flip(3), x0)
        t = torch.randint(0, len(self.alphas), (b,), device=self.device, generator=self.gen)
        noise = torch.randn(x0.shape, device=self.device, generator=self.gen)
        a = self.alphas[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            pred = self.unet(xt, t).sample
        loss = (F.mse_loss(pred.float(), noise, reduction="none").mean((1, 2, 3)) * self._min_snr_weight(t)).mean()
        return self.descend(loss, b)

    def _min_snr_weight(self, t: torch.Tensor) -> torch.Tensor:
        """Min-SNR-gamma weighting (Hang et al. 2023): stops the nearly-clean timesteps from dominating, which
        converges several times faster; gamma = 0 turns it off."""
        if not self.cfg.min_snr_gamma:
            return torch.ones_like(t, dtype=torch.float32)
        a = self.alphas[t]
        snr = a / (1 - a)
        return snr.clamp(max=self.cfg.min_snr_gamma) / snr

    def run(self, data: torch.Tensor) -> TrainResult:
        cfg = self.cfg
        data = data.to(self.device)
        start = time.time()
        deadline = start + cfg.minutes * 60 if cfg.minutes else math.inf
        loss_t = torch.full((), float("nan"))
        log = open(self.out / "log.jsonl", "a")
        bar = tqdm(total=cfg.max_steps, initial=self.step, desc="training", unit="step")
        while self.step < cfg.max_steps and time.time() < deadline:
            loss_t = self.train_step(data)
            bar.update(1)
            if self.step % 50 == 0:
                loss = float(loss_t)
                rate = (self.step - bar.initial) * cfg.batch_size / max(time.time() - start, 1e-9)
                bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{rate:.0f}")
                log.write(json.dumps({"step": self.step, "loss": loss, "lr": self.sched.get_last_lr()[0],
                                      "images_seen": self.images_seen, "img_per_s": rate}) + "\n")
                log.flush()
            if self.step % cfg.checkpoint_every == 0:
                self.save_checkpoint()
            if self.step % cfg.sample_every == 0:
                self.save_samples()
        bar.close()
        log.close()
        self.save_checkpoint()
        self.save_samples()
        return TrainResult(self.step, self.images_seen, float(loss_t), time.time() - start, self.out / "model")


def train(cfg: TrainConfig, init_from: str | None = None) -> TrainResult:
    """Resumes from ``out/checkpoint.pt`` when present; else optionally starts from exported weights."""
    data = load_training_images(cfg.data, cfg.size)
    trainer = Trainer(cfg)
    if not trainer.load_checkpoint() and init_from:
        trainer.init_from(init_from)
    tqdm.write(f"training on {data.shape[0]} images, device {trainer.device}, from step {trainer.step}")
    return trainer.run(data)
