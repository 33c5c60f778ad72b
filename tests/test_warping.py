"""The warp renderer: the photo's pixels carried along the flow between the model's decodings."""
import numpy as np
import pytest
import torch

from conftest import real_crop
from headrot_core import HeadRotator
from headrot_core.diffusion import images_to_tensor, tensor_to_images
from headrot_core.render.warp import FLOW_PX, WarpSettings, regularised_flow, warp_frames


def _textured(size: int, seed: int = 0) -> torch.Tensor:
    """A smooth random colour texture (1, 3, size, size) in [-1, 1]: something optical flow can follow."""
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32))
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)


def test_an_unmoved_decoding_gives_back_the_photo_at_its_resolution():
    crop, base = _textured(256, 1), _textured(64, 2)
    out = warp_frames(crop, base, base)
    assert out.shape == (1, 3, 256, 256)
    assert (out - crop).abs().mean() < 0.01


def test_the_photo_moves_as_the_decoding_moves():
    """A decoding shifted 3 px to the right at 64 px shifts a 128 px photo about 6 px to the right."""
    base = _textured(72, 3)[..., 4:68, 4:68]
    moved = _textured(72, 3)[..., 4:68, 1:65]  # content moves right by 3 px
    flow, hidden = regularised_flow(*(((t[0].permute(1, 2, 0).numpy() + 1) / 2) for t in (
        torch.nn.functional.interpolate(moved, size=FLOW_PX, mode="bicubic"),
        torch.nn.functional.interpolate(base, size=FLOW_PX, mode="bicubic"))), WarpSettings())
    inner = flow[20:-20, 20:-20]
    assert np.median(inner[..., 0]) == pytest.approx(-6.0, abs=1.0) and abs(np.median(inner[..., 1])) < 0.5
    crop = _textured(144, 4)[..., 8:136, 8:136]
    expected = _textured(144, 4)[..., 8:136, 2:130]
    out = warp_frames(crop, moved, base, WarpSettings(occlusion=False, shading_sigma=1e3))
    assert (out - expected)[..., 20:-20, 20:-20].abs().mean() < 0.05 < (crop - expected)[..., 20:-20, 20:-20].abs().mean()


@pytest.fixture(scope="module")
def warp_rot(tiny_rotator_dir):
    rot = HeadRotator.from_pretrained(tiny_rotator_dir, device="cpu", steps=4, decode="warp", feedback=False)
    rot.model.bf16 = False
    return rot


def test_engine_warps_the_photo_at_its_own_resolution(warp_rot):
    crop = real_crop()  # 128 px
    r = warp_rot.rotate(crop, yaws=[-20, 0, 20], aligned=True)
    assert r.decode == "warp" and r.crop.size == (128, 128) and r.source.size == (32, 32)
    assert all(f.size == (128, 128) for f in r.frames)
    own = warp_rot.rotate(crop, yaws=[r.source_yaw], aligned=True).frames[0]
    assert np.abs(np.asarray(own, float) - np.asarray(crop, float)).mean() < 2.0, "the source's own yaw: the photo"
    assert warp_rot.frames_at(r, [7.0])[0].size == (128, 128)


def test_warp_feedback_reads_frames_at_model_size(tiny_rotator_dir):
    rot = HeadRotator.from_pretrained(tiny_rotator_dir, device="cpu", steps=4, decode="warp", feedback=True)
    rot.model.bf16 = False
    crop = real_crop()
    first = rot.rotate_prepared(rot.prepare(crop, aligned=True), [-20.0, 20.0], feedback=False)
    refined = rot.refine(first)
    assert refined.redone is not None and all(f.size == (128, 128) for f in refined.frames)


def test_large_photos_are_drawn_at_up_to_render_px(warp_rot):
    from conftest import DATA, shared_data_or_skip

    from headrot_core.rotation import RENDER_PX

    shared_data_or_skip()
    photo = sorted((DATA / "hq1024").glob("*.jpg"))[0]  # its crop is about 800 px
    prep = warp_rot.prepare(str(photo))
    assert prep.crop.size == (RENDER_PX, RENDER_PX) and prep.source.size == (32, 32)
    assert warp_rot.prepare(str(photo), render_px=256).crop.size == (256, 256)
    assert warp_rot.rotate(str(photo), [0.0, 20.0], render_px=256).frames[1].size == (256, 256)
    small = warp_rot.prepare(str(DATA / "photos" / "000004.jpg"))  # a 178x218 photo: its face is ~128 px
    assert small.crop.size[0] <= 160


def test_the_models_shading_changes_brightness_not_colour():
    """A moved decoding that only turns bluer changes a luma-only frame by a grey shift, and an RGB one by blue."""
    crop, base = _textured(128, 5), _textured(64, 6)
    bluer = base.clone()
    bluer[:, 2] = (bluer[:, 2] + 0.4).clamp(-1, 1)
    grey = warp_frames(crop, bluer, base) - crop
    rgb = warp_frames(crop, bluer, base, WarpSettings(luma_only=False)) - crop
    assert rgb[:, 2].mean() > 0.1 and rgb[:, 0].abs().mean() < 0.05
    assert (grey[:, 0] - grey[:, 2]).abs().mean() < 0.005 and grey[:, 2].mean() < rgb[:, 2].mean() / 3
