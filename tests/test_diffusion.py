import json

import pytest
import torch

from headrot_core.diffusion import FaceDiffusion, images_to_tensor, native_bf16, tensor_to_images
from headrot_core.loading import ModelNotFoundError, resolve_model_dir


def test_generation_is_deterministic(tiny_model):
    z = tiny_model.noise(3, seed=7)
    a, b = tiny_model.generate(z, steps=5), tiny_model.generate(z.clone(), steps=5)
    assert a.shape == z.shape and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.allclose(a[0], a[1]), "different latents must give different images"


def test_noise_is_seeded(tiny_model):
    assert torch.equal(tiny_model.noise(2, seed=3), tiny_model.noise(2, seed=3))
    assert not torch.equal(tiny_model.noise(2, seed=3), tiny_model.noise(2, seed=4))


@pytest.mark.parametrize("caps, native", [({"avx512_bf16": False, "amx_bf16": False}, False),
                                          ({"avx512_bf16": True}, True), ({"amx_bf16": True}, True)])
def test_the_unet_runs_in_bf16_only_where_the_cpu_has_it(tiny_model, monkeypatch, caps, native):
    """Emulated bf16 made every UNet call about 7x slower on an AVX2 CPU: there the model runs in fp32."""
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: caps)
    native = native and torch.backends.mkldnn.is_available()
    cpu = torch.device("cpu")
    assert native_bf16(cpu) is native
    seen = []
    hook = tiny_model.unet.register_forward_pre_hook(lambda m, a: seen.append(torch.is_autocast_enabled("cpu")))
    try:
        x = torch.zeros(1, 3, tiny_model.size, tiny_model.size)
        for bf16 in (True, False):
            model = FaceDiffusion(tiny_model.unet, tiny_model.scheduler, cpu, bf16=bf16)
            assert model.uses_bf16 is (bf16 and native)
            with torch.no_grad():
                model._eps(x, 499)
    finally:
        hook.remove()
    assert seen == [native, False]


def test_inversion_shapes_dtype_determinism(tiny_model):
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    z1, z2 = tiny_model.invert(x, steps=5), tiny_model.invert(x, steps=5)
    assert z1.shape == x.shape and z1.dtype == torch.float32
    assert torch.equal(z1, z2)
    assert torch.isfinite(z1).all() and not torch.allclose(z1, x, atol=1e-2)


def test_fixed_point_inversion_inverts_generation(tiny_model):
    """Inversion is the exact inverse of generation once each step's implicit equation is solved: in fp32 the
    fixed-point iterations recover the very latent that generated the image (a random model's steps are far from
    invertible in one plain step, which makes this a sharp check of the algebra and the timestep bookkeeping)."""
    from diffusers import DDIMScheduler

    # A random model's clean-image predictions are far outside [-1, 1], so clipping would make most steps
    # non-invertible; without it this isolates the inversion's algebra.
    unclipped = DDIMScheduler.from_config(tiny_model.scheduler.config, clip_sample=False)
    model = FaceDiffusion(tiny_model.unet, unclipped, tiny_model.device, bf16=False)
    z = model.noise(2, seed=1)
    x = model.generate(z, steps=10)
    errs = [(model.invert(x, 10, fixed_point_iters=k) - z).abs().mean() for k in (0, 4, 10)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 1e-3
    assert (model.generate(model.invert(x, 10, 10), 10) - x).abs().mean() < 1e-3


def test_save_load_roundtrip_fp16(tiny_model, tiny_model_dir):
    weights = tiny_model_dir / "unet" / "diffusion_pytorch_model.safetensors"
    from safetensors.torch import load_file

    assert all(t.dtype == torch.float16 for t in load_file(weights).values())
    assert json.loads((tiny_model_dir / "model_index.json").read_text())["unet"] == ["diffusers", "UNet2DModel"]
    loaded = FaceDiffusion.from_pretrained(tiny_model_dir, device="cpu")
    for name, p in tiny_model.unet.state_dict().items():
        assert torch.equal(loaded.unet.state_dict()[name], p.half().float()), name
    x, t = tiny_model.noise(1, seed=0), torch.tensor([500])
    with torch.no_grad():
        assert torch.allclose(loaded.unet(x, t).sample, tiny_model.unet(x, t).sample, atol=1e-2)
    assert loaded.scheduler.config.timestep_spacing == "trailing"


def test_missing_and_invalid_model_paths(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model_dir(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="missing unet/config.json"):
        FaceDiffusion.from_pretrained(tmp_path / "empty")


def test_hub_id_offline_gives_specific_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelNotFoundError, match="cannot download 'someone/ddim-faces'"):
        resolve_model_dir("someone/ddim-faces")


def test_env_var_picks_model(monkeypatch, tiny_model_dir):
    monkeypatch.setenv("HEADROT_MODEL", str(tiny_model_dir))
    assert resolve_model_dir(None) == tiny_model_dir


def test_tensor_image_roundtrip():
    import numpy as np

    arr = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    t = images_to_tensor(arr, 16)
    assert t.shape == (2, 3, 16, 16) and t.min() >= -1 and t.max() <= 1
    back = np.stack([np.asarray(im) for im in tensor_to_images(t)])
    assert np.array_equal(back, arr)


def test_generate_clips_only_when_asked(tiny_model):
    z = tiny_model.noise(2, seed=3) * 3
    plain, clipped = tiny_model.generate(z, 3), tiny_model.generate(z, 3, clip=True)
    assert not torch.allclose(plain, clipped)
    assert torch.equal(tiny_model.generate(z, 3), plain)  # deterministic (eta = 0)


def test_warm_started_inversion_saves_a_call_a_step(tiny_model):
    """Warm start reuses the previous step's last noise prediction as the first guess: 1 + steps * iterations UNet
    calls instead of steps * (1 + iterations), and a different (not a broken) latent; without fixed-point
    iterations there is nothing to warm-start, so it is the plain inversion."""
    x = tiny_model.generate(tiny_model.noise(2, seed=5), 4)
    calls = []
    handle = tiny_model.unet.register_forward_hook(lambda *_: calls.append(1))
    try:
        for warm in (False, True):
            calls.clear()
            z = tiny_model.invert(x, 4, 2, warm_start=warm)
            assert len(calls) == tiny_model.inversion_calls(4, 2, warm) == (9 if warm else 12)
            assert torch.isfinite(z).all() and z.std() > 0.5
    finally:
        handle.remove()
    assert not torch.equal(tiny_model.invert(x, 4, 2, warm_start=True), tiny_model.invert(x, 4, 2))
    assert torch.equal(tiny_model.invert(x, 4, 0, warm_start=True), tiny_model.invert(x, 4, 0))
    assert tiny_model.inversion_calls(4, 0, True) == 4


def test_latent_at_an_intermediate_timestep(tiny_model):
    """``start_t`` stops the inversion at x_t and starts the generation there: the same algebra on the lower half
    of the schedule (fixed-point iterations recover the very x_t that generated the image), and only those steps
    run, in both directions."""
    from diffusers import DDIMScheduler

    unclipped = DDIMScheduler.from_config(tiny_model.scheduler.config, clip_sample=False)
    model = FaceDiffusion(tiny_model.unet, unclipped, tiny_model.device, bf16=False)
    timesteps = model._timesteps(10)
    start = timesteps[5]  # half-way down the 10-step schedule
    assert model._timesteps(10, start) == timesteps[5:] and model.steps_from(10, start) == 5
    assert model.steps_from(10, start + 1) == 5 and model.steps_from(10) == 10
    zt = model.noise(2, seed=2)
    calls = []
    handle = model.unet.register_forward_hook(lambda *_: calls.append(1))
    try:
        x = model.generate(zt, 10, start_t=start)
        assert len(calls) == 5
        calls.clear()
        back = model.invert(x, 10, fixed_point_iters=10, start_t=start)
        assert len(calls) == model.inversion_calls(10, 10, start_t=start) == 5 * 11
    finally:
        handle.remove()
    assert (back - zt).abs().mean() < 1e-3
    assert not torch.allclose(model.generate(zt, 10), x, atol=1e-2), "from x_T the same tensor means another image"
    assert not torch.allclose(model.invert(x, 10, 10), back, atol=1e-2)
