"""Training the embedding network E of ``headrot_core.embedding`` (DDIM(E(x)) ~ x).

Training pairs cost nothing to label: z ~ N(0, I) and x = DDIM(z) with the frozen face model; the loss is the
latent MSE |E(x) - z|^2. A rolling buffer of pairs on the device is refreshed in large no-grad batches, adaptively
so that about ``gen_fraction`` of the wall time goes to making new pairs. An optional second phase mixes in real
training-identity crops whose targets are DDIM inversions (with fixed-point iterations), made the same way.
Every ``val_every`` steps the image-space reconstruction PSNR of DDIM(E(x)) is logged on fixed validation sets:
real held-out-identity crops when they are reachable, and generated faces always.
"""
from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import UNet2DModel
from diffusers.training_utils import EMAModel
from tqdm.auto import tqdm

from ..diffusion import DEFAULT_STEPS, FaceDiffusion, pick_device
from ..embedding import Embedder
from .training import ResumableTrainer


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean per-image PSNR in dB of images in [-1, 1] (peak-to-peak 2)."""
    mse = (a.float().clamp(-1, 1) - b.float().clamp(-1, 1)).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return float((10 * torch.log10(4.0 / mse)).mean())


@dataclass
class EmbedTrainConfig:
    out: str = "runs/embedder"
    model: str | None = None            # the frozen DDIM face model (None: the embedded default)
    steps: int = DEFAULT_STEPS          # DDIM steps of the pairs (and of inference)
    preset: str = "default"
    batch_size: int = 128
    lr: float = 5e-4
    warmup_steps: int = 200
    max_steps: int = 1_000_000
    minutes: float | None = None        # wall budget of this run (startup included)
    ema_decay: float = 0.999
    buffer_size: int | None = None      # synthetic pairs kept on the device (default 32 x batch, >= 2 chunks)
    gen_batch: int | None = None        # pairs generated per chunk (default max(batch, 64), <= 512)
    gen_fraction: float = 0.5           # share of the wall time spent making new pairs / inversions
    real_data: str | None = None        # folder / tar / pack of real crops for the refinement phase
    real_after_minutes: float | None = None  # cumulative training minutes before the real phase (default 60% of minutes)
    real_mix: float = 0.5               # share of real pairs in a batch during the real phase
    real_buffer_size: int | None = None  # inverted real crops kept (default = buffer_size)
    fixed_point_iters: int = 2          # for the inversion targets of real crops
    val_data: str | None = None         # held-out crops for validation (default: shared held-out identities if present)
    val_n: int = 64
    val_every: int = 500
    final_refine: tuple[int, ...] = (0, 1, 3)  # refinement iterations measured at the end of a run
    baseline: bool = True               # log DDIM inversion's PSNR on the validation sets at the start
    log_every: int = 50
    checkpoint_every: int = 1000
    seed: int = 0
    device: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class EmbedTrainResult:
    step: int
    images_seen: int
    last_loss: float
    seconds: float
    model_dir: Path
    val: dict


class PairBuffer:
    """A ring of (image, latent) pairs on the device that grows to ``capacity`` and then replaces its oldest."""

    def __init__(self, capacity: int, size: int, device: torch.device):
        self.x = torch.empty(capacity, 3, size, size, device=device)
        self.z = torch.empty(capacity, 3, size, size, device=device)
        self.capacity, self.n, self.pos = capacity, 0, 0

    def add(self, x: torch.Tensor, z: torch.Tensor) -> None:
        k = min(x.shape[0], self.capacity)
        x, z = x[:k], z[:k]
        idx = (torch.arange(k, device=self.x.device) + self.pos) % self.capacity
        self.x[idx] = x.to(self.x.device, torch.float32)
        self.z[idx] = z.to(self.z.device, torch.float32)
        self.pos = (self.pos + k) % self.capacity
        self.n = min(self.n + k, self.capacity)

    def sample(self, b: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, self.n, (b,), device=self.x.device, generator=gen)
        return self.x[idx], self.z[idx]


def _scan_holdout_crops(n: int, size: int) -> torch.Tensor | None:
    """The first ``n`` crops of held-out identities in the shared data (None when it is not reachable)."""
    from .data import _decode, default_data_root, is_holdout, iter_image_bytes, load_annotations

    root = default_data_root()
    if not (root / "annotations.csv").is_file() or not (root / "celeba128").exists():
        return None
    ann = load_annotations(root / "annotations.csv")
    out = []
    for image_id, data in iter_image_bytes(root / "celeba128"):
        a = ann.get(image_id)
        if a is not None and is_holdout(a.identity):
            out.append(_decode(data, size))
            if len(out) >= n:
                break
    if not out:
        return None
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def load_validation_crops(source: str | None, n: int, size: int) -> tuple[torch.Tensor | None, str]:
    """Real validation crops in [-1, 1]: ``source`` if given (folder/tar, assumed held-out), else the shared
    held-out identities; (None, reason) when neither is available."""
    if source:
        from .data import load_images

        imgs = load_images(source, size, limit=n).images[:n]
        return torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1.0, str(source)
    try:
        crops = _scan_holdout_crops(n, size)
    except (OSError, ValueError, KeyError):
        crops = None
    return crops, ("shared held-out identities" if crops is not None else "none")


class EmbedTrainer(ResumableTrainer):
    """Owns the embedder, EMA, optimizer and pair buffers; ``run`` trains until max_steps or the time budget."""

    export_name = "embedder"

    def __init__(self, cfg: EmbedTrainConfig, model: FaceDiffusion | None = None):
        self.cfg = cfg
        self._setup_out_and_device(cfg.out, cfg.device)
        self.model = model if model is not None else FaceDiffusion.from_pretrained(cfg.model, self.device)
        self.model.unet.to(self.device).eval().requires_grad_(False)
        self.model.device = self.device
        self.size = self.model.size
        self.emb = Embedder.new(self.size, cfg.preset, self.device, cfg.steps, seed=cfg.seed)
        self.emb.info.update({"trained_with_model": str(cfg.model) if cfg.model else "default"})
        self.unet = self.emb.unet.train()
        self.ema = EMAModel(self.unet.parameters(), decay=cfg.ema_decay, use_ema_warmup=True, power=3 / 4,
                            model_cls=UNet2DModel, model_config=self.unet.config)
        self.ema.to(self.device)
        self.opt = torch.optim.AdamW(self.unet.parameters(), lr=cfg.lr, weight_decay=0.0)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: min(1.0, (s + 1) / max(cfg.warmup_steps, 1)))
        self.step = 0
        self.images_seen = 0
        self.train_seconds = 0.0  # cumulative over resumed runs: decides the phase
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.gen_batch = cfg.gen_batch or min(max(cfg.batch_size, 64), 512)
        cap = cfg.buffer_size or max(32 * cfg.batch_size, 2 * self.gen_batch)
        self.synth = PairBuffer(cap, self.size, self.device)
        self.real = PairBuffer(cfg.real_buffer_size or cap, self.size, self.device) if cfg.real_data else None
        self.real_images: torch.Tensor | None = None  # uint8 (N, 3, H, W) on the CPU, decoded in the background
        self.real_pos = 0
        self._real_thread: threading.Thread | None = None
        self.gen_seconds = 0.0
        self.val_sets: dict[str, torch.Tensor] = {}
        self.val_latents: torch.Tensor | None = None

    # ------------------------------------------------------------------ checkpoints
    def extra_state(self) -> dict:
        return {"train_seconds": self.train_seconds, "real_pos": self.real_pos}

    def load_extra_state(self, state: dict) -> None:
        self.train_seconds = state.get("train_seconds", 0.0)
        self.real_pos = state.get("real_pos", 0)

    def ema_embedder(self) -> Embedder:
        unet = UNet2DModel.from_config(self.unet.config).to(self.device)
        self.ema.copy_to(unet.parameters())
        return Embedder(unet.eval(), self.device, self.cfg.steps, dict(self.emb.info))

    def export(self, path: Path) -> Path:
        return self.ema_embedder().save_pretrained(path, fp16=True, step=self.step, images_seen=self.images_seen)

    # ------------------------------------------------------------------ pairs
    def _timed(self, fn):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t0 = time.time()
        out = fn()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.gen_seconds += time.time() - t0
        return out

    def make_synthetic(self, n: int | None = None) -> None:
        n = n or self.gen_batch

        def work():
            z = torch.randn(n, 3, self.size, self.size, device=self.device, generator=self.gen)
            x = self.model.generate(z, self.cfg.steps, to_cpu=False).clamp_(-1, 1)
            self.synth.add(x, z)
        self._timed(work)

    def _start_real_loading(self) -> None:
        if not self.cfg.real_data or self._real_thread is not None:
            return

        def load():
            from .training import load_training_images  # drops held-out identities when annotations exist

            try:
                imgs = load_training_images(self.cfg.real_data, self.size)
                if not imgs.shape[0]:
                    raise ValueError(f"{self.cfg.real_data} holds no training-identity images "
                                     "(held-out identities are never trained on)")
                perm = torch.randperm(imgs.shape[0], generator=torch.Generator().manual_seed(self.cfg.seed + 1))
                self.real_images = imgs[perm]
            except BaseException as e:  # re-raised in the training thread by make_real
                self._real_error = e
        self._real_error: BaseException | None = None
        self._real_thread = threading.Thread(target=load, daemon=True)
        self._real_thread.start()

    def make_real(self, n: int | None = None) -> None:
        """Inverts the next ``n`` real crops into the real buffer (waits for the decoding if it is not done)."""
        if self.real_images is None:
            self._start_real_loading()
            self._real_thread.join()
            if self._real_error is not None:
                raise RuntimeError(f"could not load --real-data {self.cfg.real_data}") from self._real_error
        n = min(n or self.gen_batch, self.real_images.shape[0])
        idx = (torch.arange(n) + self.real_pos) % self.real_images.shape[0]
        self.real_pos = int((self.real_pos + n) % self.real_images.shape[0])

        def work():
            x = self.real_images[idx].to(self.device).float().div_(127.5).sub_(1.0)
            z = self.model.invert(x, self.cfg.steps, self.cfg.fixed_point_iters).to(self.device)
            self.real.add(x, z)
        self._timed(work)

    def real_phase(self) -> bool:
        if self.real is None:
            return False
        after = self.cfg.real_after_minutes
        if after is None:
            after = 0.6 * self.cfg.minutes if self.cfg.minutes else 0.0
        return self.train_seconds >= after * 60

    # ------------------------------------------------------------------ steps
    def train_step(self) -> float:
        b = self.cfg.batch_size
        if self.real_phase() and self.real.n:
            br = max(1, min(b - 1, round(b * self.cfg.real_mix))) if b > 1 else 1
            xr, zr = self.real.sample(br, self.gen)
            if b - br > 0:
                xs, zs = self.synth.sample(b - br, self.gen)
                x, z = torch.cat([xs, xr]), torch.cat([zs, zr])
            else:
                x, z = xr, zr
        else:
            x, z = self.synth.sample(b, self.gen)
        return self.descend(F.mse_loss(self.emb.forward(x), z), b)

    def prepare_validation(self) -> str:
        crops, source = load_validation_crops(self.cfg.val_data, self.cfg.val_n, self.size)
        if crops is not None:
            self.val_sets["real"] = crops
        self.val_latents = self.model.noise(self.cfg.val_n, seed=987_654)
        self.val_sets["gen"] = self.model.generate(self.val_latents, self.cfg.steps).clamp(-1, 1)
        return source

    @torch.no_grad()
    def validate(self, refine_iters: tuple[int, ...] = (0,)) -> dict:
        """PSNR (dB) of DDIM(E(x)) against x on each validation set, and the latent MSE on generated faces."""
        emb = self.ema_embedder()
        out: dict = {}
        for name, x in self.val_sets.items():
            for k in refine_iters:
                z = emb.embed(x, refine_iters=k, model=self.model, steps=self.cfg.steps, batch_size=self.gen_batch)
                rec = self.model.generate(z, self.cfg.steps)
                suffix = f"_refine{k}" if k else ""
                out[f"psnr_{name}{suffix}"] = round(psnr(rec, x), 3)
                if name == "gen":
                    out[f"latent_mse_gen{suffix}"] = round(float(F.mse_loss(z, self.val_latents)), 5)
        return out

    @torch.no_grad()
    def inversion_baseline(self) -> dict:
        """What the embedder competes with: DDIM inversion (0 and ``fixed_point_iters`` iterations)."""
        out = {}
        for name, x in self.val_sets.items():
            for k in sorted({0, self.cfg.fixed_point_iters}):
                rec = self.model.generate(self.model.invert(x, self.cfg.steps, k), self.cfg.steps)
                out[f"inversion_psnr_{name}_fp{k}"] = round(psnr(rec, x), 3)
        return out

    # ------------------------------------------------------------------ loop
    def run(self) -> EmbedTrainResult:
        cfg = self.cfg
        start = time.time()
        deadline = start + cfg.minutes * 60 if cfg.minutes else math.inf
        log = open(self.out / "log.jsonl", "a")

        def write(rec: dict) -> None:
            log.write(json.dumps(rec) + "\n")
            log.flush()

        self._start_real_loading()
        source = self.prepare_validation()
        write({"event": "start", "step": self.step, "device": str(self.device), "val_real": source,
               "params": sum(p.numel() for p in self.unet.parameters()), "config": asdict(cfg),
               **(self.inversion_baseline() if cfg.baseline and not self.step else {})})
        # fill the buffer enough to start; it keeps growing to capacity as new chunks come in
        while self.synth.n < min(self.synth.capacity, 2 * self.gen_batch, max(2 * cfg.batch_size, self.gen_batch)):
            self.make_synthetic()
        loss_t = torch.zeros((), device=self.device)
        loss = float("nan")
        val: dict = {}
        bar = tqdm(total=cfg.max_steps, initial=self.step, desc="embedder", unit="step")
        seg_start, seg_step, last_tick = time.time(), self.step, time.time()
        gen_start = self.gen_seconds
        while self.step < cfg.max_steps and time.time() < deadline:
            # keep about gen_fraction of the wall time making fresh pairs (new inversions in the real phase)
            elapsed = time.time() - seg_start
            if self.gen_seconds - gen_start < cfg.gen_fraction * elapsed:
                # real crops once they are decoded (in the background); until then, synthetic pairs
                if self.real_phase() and (self.real_images is not None or not self._real_thread.is_alive()):
                    self.make_real()
                else:
                    self.make_synthetic()
            loss_t = self.train_step()
            now = time.time()
            self.train_seconds += now - last_tick
            last_tick = now
            bar.update(1)
            if self.step % cfg.log_every == 0:
                loss = float(loss_t)
                rate = (self.step - seg_step) * cfg.batch_size / max(now - seg_start, 1e-9)
                bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{rate:.0f}", phase="real" if self.real_phase() else "syn")
                write({"step": self.step, "loss": loss, "lr": self.sched.get_last_lr()[0],
                       "images_seen": self.images_seen, "img_per_s": round(rate, 1),
                       "phase": "real" if self.real_phase() else "synthetic", "synthetic_pairs": self.synth.n,
                       "real_pairs": self.real.n if self.real else 0,
                       "gen_share": round((self.gen_seconds - gen_start) / max(now - seg_start, 1e-9), 3)})
            if self.step % cfg.val_every == 0:
                val = self.validate()
                write({"step": self.step, "event": "val", **val})
                tqdm.write(f"step {self.step}: " + ", ".join(f"{k} {v}" for k, v in val.items()))
                last_tick = time.time()  # validation time does not count towards the phase clock
            if self.step % cfg.checkpoint_every == 0:
                self.save_checkpoint()
                last_tick = time.time()
        bar.close()
        self.save_checkpoint()
        loss = float(loss_t)
        val = self.validate(refine_iters=tuple(cfg.final_refine))
        write({"step": self.step, "event": "final", "loss": loss, **val})
        tqdm.write(f"final step {self.step}: " + ", ".join(f"{k} {v}" for k, v in val.items()))
        log.close()
        return EmbedTrainResult(self.step, self.images_seen, loss, time.time() - start, self.out / "embedder", val)


def train_embedder(cfg: EmbedTrainConfig, model: FaceDiffusion | None = None) -> EmbedTrainResult:
    """Resumes from ``out/checkpoint.pt`` when present."""
    trainer = EmbedTrainer(cfg, model)
    resumed = trainer.load_checkpoint()
    tqdm.write(f"training the embedder ({sum(p.numel() for p in trainer.unet.parameters()) / 1e6:.2f} M params) on "
               f"{trainer.device}, {cfg.steps} DDIM steps, {'resuming at step ' + str(trainer.step) if resumed else 'from scratch'}")
    return trainer.run()
