import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import DATA, real_crop, shared_data_or_skip
from headrot_core import HeadRotator
from headrot_core.diffusion import images_to_tensor, tensor_to_images
from headrot_core.imaging import ImageError


@pytest.fixture(scope="module")
def rot(tiny_rotator_dir):
    rotator = HeadRotator.from_pretrained(tiny_rotator_dir, device="cpu", steps=4, feedback=False)
    rotator.model.bf16 = False  # a random model amplifies bf16 rounding; fp32 keeps the comparisons sharp
    return rotator


def test_rotate_aligned_crop_contract(rot):
    crop = real_crop()
    r = rot.rotate(crop, yaws=range(-30, 31, 10), aligned=True, reconstruct=True)
    assert r.yaws == [-30.0, -20.0, -10.0, 0.0, 10.0, 20.0, 30.0]
    assert len(r.frames) == 7 and all(f.size == (32, 32) and f.mode == "RGB" for f in r.frames)
    assert r.source.size == (32, 32) and r.reconstruction.size == (32, 32)
    assert -60 < r.source_yaw < 60 and r.light in ("left", "center", "right")
    assert r.faces is None and r.crop_quad is None
    assert r.embedding == "inversion" and r.steps == 4
    assert r.strip().width > 7 * 32


def test_frame_at_source_yaw_gives_back_the_source(rot, tiny_rotator_dir):
    """Offsets are zero at the source's own yaw. Residual decoding, x + Gc(z + d) - Gc(z), then returns the source
    crop itself; clipped decoding returns Gc(z). A frame 20 degrees away differs in both."""
    crop = real_crop()
    yaw = rot.prepare(crop, aligned=True).source_yaw
    clipped_rot = HeadRotator.from_pretrained(tiny_rotator_dir, device="cpu", steps=4, decode="clipped",
                                              feedback=False)
    clipped_rot.model.bf16 = False
    for r_ in (rot, clipped_rot):
        r = r_.rotate(crop, yaws=[yaw, yaw + 20], aligned=True, reconstruct=True)
        assert r.decode == r_.settings.decode
        assert np.array_equal(np.asarray(r.reconstruction), tensor_to_images(
            r_.model.generate(r.latent, r_.settings.steps))[0]), "the reconstruction decodes without clipping"
        steps = r_.settings.steps
        expected = (np.asarray(r.source, float) if r.decode == "residual" else
                    np.asarray(tensor_to_images(r_.model.generate(r.latent, steps, clip=True))[0], float))
        same, moved = (np.abs(np.asarray(f, float) - expected).mean() for f in r.frames)
        assert same < 0.5 < moved, (r.decode, same, moved)
    with pytest.raises(ValueError, match="decode must be"):
        HeadRotator(rot.model, rot.trajectories, settings=replace(rot.settings, decode="blurred"))


def test_residual_change_decodes_at_its_own_step_count(rot):
    """residual_steps < steps: the reconstruction keeps all steps, the clipped change Gc(z + d) - Gc(z) uses fewer
    and is added to the source crop; the slider's frames_at reuses Gc(z)."""
    crop = real_crop()
    yaw = rot.prepare(crop, aligned=True).source_yaw
    fast = HeadRotator(rot.model, rot.trajectories, settings=replace(rot.settings, fixed_point_iters=1,
                                                                     residual_steps=2))
    r = fast.rotate(crop, yaws=[yaw, yaw + 20], aligned=True, reconstruct=True)
    assert r.residual_steps == 2 and r.summary()["residual_steps"] == 2
    route = fast.lines(r.light, r.gender)
    moved = route.latents(r.latent, yaw, route.moves(yaw, [yaw + 20]))
    change = rot.model.generate(moved, 2, clip=True) - rot.model.generate(r.latent, 2, clip=True)
    expected = tensor_to_images(images_to_tensor([r.source], 32) + change)[0]
    assert np.abs(np.asarray(r.frames[1], float) - np.asarray(expected, float)).mean() < 0.5
    assert np.abs(np.asarray(r.frames[0], float) - np.asarray(r.source, float)).mean() < 0.5
    assert np.array_equal(np.asarray(r.reconstruction), np.asarray(fast.reconstruct(r.latent)))
    full = HeadRotator(rot.model, rot.trajectories, settings=replace(rot.settings, fixed_point_iters=1)).rotate(
        crop, yaws=[yaw + 20], aligned=True)
    assert np.abs(np.asarray(full.frames[0], float) - np.asarray(r.frames[1], float)).mean() > 0.5
    again = fast.frames_at(r, [yaw + 20])[0]
    assert np.abs(np.asarray(again, float) - np.asarray(r.frames[1], float)).mean() < 0.5


def test_reconstruction_can_wait(rot):
    """No frame depends on G(z): without it (the default) the frames are the same, and ``reconstruct`` gives it
    later."""
    prep = rot.prepare(real_crop(), aligned=True)
    quick = rot.rotate_prepared(prep, yaws=[-10, 10])
    full = rot.rotate_prepared(prep, yaws=[-10, 10], reconstruct=True)
    assert rot.rotate(real_crop(), yaws=[-10, 10], aligned=True).reconstruction is None
    assert quick.reconstruction is None and full.reconstruction is not None
    for a, b in zip(quick.frames, full.frames):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert np.array_equal(np.asarray(rot.reconstruct(quick.latent)), np.asarray(full.reconstruction))
    steps = list(rot.reconstruct_steps(quick.latent))  # the app runs one DDIM step per model job
    assert steps[:-1] == [None] * rot.model.steps_from(rot.settings.steps, rot.settings.latent_t)
    assert np.array_equal(np.asarray(steps[-1]), np.asarray(full.reconstruction))


def test_progress_is_reported_after_every_unet_call_and_reaches_one(rot):
    """``rotate_prepared(progress=...)``: the fraction of the embedding's and the decode's UNet calls done."""
    prep = rot.prepare(real_crop(), aligned=True)
    seen: list[float] = []
    r = rot.rotate_prepared(prep, yaws=[-10, 10], reconstruct=False, feedback=False, progress=seen.append)
    assert len(seen) == rot.latent.embedding_calls + rot.decode_calls
    assert seen == sorted(seen) and seen[-1] == 1.0 and 0 < seen[0] < 1
    plain = rot.rotate_prepared(prep, yaws=[-10, 10], reconstruct=False, feedback=False)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(r.frames, plain.frames))
    assert rot.lines(r.light, r.gender).subset == r.subset


def test_latents_follow_the_selected_trajectory(rot):
    z = torch.zeros(1, 3, 32, 32)
    tr = rot.lines("center", "female")
    batch = tr.latents(z, 0.0, tr.moves(0.0, [-10.0, 0.0, 10.0]))
    assert tr.subset == "light=center,gender=female"
    assert torch.allclose(batch[2].flatten(), torch.from_numpy(10 * tr.positive.direction).float(), atol=1e-5)
    assert torch.equal(batch[1], z[0])


def test_light_override_and_bad_arguments(rot):
    crop = real_crop()
    r = rot.rotate(crop, yaws=[0], light="left", gender="male", aligned=True)
    assert r.light == "left" and r.subset == "light=left,gender=male"
    with pytest.raises(ValueError, match="light must be"):
        rot.rotate(crop, light="top", aligned=True)
    with pytest.raises(ImageError):
        rot.rotate(b"not an image")


def test_rotate_photo_aligns_and_save_writes_outputs(rot, tmp_path):
    shared_data_or_skip()
    r = rot.rotate(DATA / "photos" / "000004.jpg", yaws=[-30, 0, 30], reconstruct=True)
    assert r.faces == 1 and np.asarray(r.crop_quad).shape == (4, 2)
    folder = r.save(tmp_path / "out")
    names = {p.name for p in folder.iterdir()}
    assert {"strip.png", "animation.gif", "result.json", "source.png", "reconstruction.png"} <= names
    assert {"frame_-30.png", "frame_+00.png", "frame_+30.png"} <= names
    meta = json.loads((folder / "result.json").read_text())
    assert meta["yaws"] == [-30.0, 0.0, 30.0] and meta["faces"] == 1


def test_missing_trajectories_give_a_specific_error(tiny_model_dir):
    with pytest.raises(FileNotFoundError, match="fit"):
        HeadRotator.from_pretrained(tiny_model_dir, device="cpu")


def test_frames_at_reuses_the_cached_latent(rot):
    """The app's slider: frames from a result's latent equal the frames of a full rotate at the same yaws."""
    crop = real_crop()
    r = rot.rotate(crop, yaws=[-20, 10], aligned=True)
    assert r.latent is not None and r.latent.shape == (1, 3, 32, 32)
    again = rot.frames_at(r, [10, -20])
    for a, b in zip(again, r.frames[::-1]):
        assert np.abs(np.asarray(a, float) - np.asarray(b, float)).mean() < 0.5
    other = rot.frames_at(r, [10], light="left" if r.light != "left" else "right")
    assert len(other) == 1 and other[0].size == (32, 32)
    prep = rot.prepare(crop, aligned=True)
    staged = rot.rotate_prepared(prep, yaws=[10])
    assert np.abs(np.asarray(staged.frames[0], float) - np.asarray(r.frames[1], float)).mean() < 0.5
    with pytest.raises(ValueError, match="light must be"):
        rot.frames_at(r, [0], light="top")


def test_warm_start_is_the_calibrated_setting(tiny_rotator_dir, rot):
    """The embedding runs with the setting the calibration was measured with (the set's ``settings``)."""
    from headrot_core.walk.lines import TrajectorySet

    assert rot.settings.warm_start is False
    assert rot.latent.embedding_calls == 4 * (1 + rot.settings.fixed_point_iters)
    ts = TrajectorySet.load(tiny_rotator_dir / "trajectories")
    folder = tiny_rotator_dir.parent / "warm_rotator"
    if not folder.exists():
        import shutil

        shutil.copytree(tiny_rotator_dir, folder)
        ts.with_settings(warm_start=True, fixed_point_iters=2).save(folder / "trajectories")
    warm = HeadRotator.from_pretrained(folder, device="cpu", steps=4)
    assert warm.settings.warm_start is True and warm.settings.fixed_point_iters == 2
    assert warm.latent.embedding_calls == 1 + 4 * 2


def test_lines_fitted_at_an_intermediate_timestep_are_walked_there(tiny_rotator_dir, rot):
    """Trajectories whose settings say ``latent_t`` make the engine embed to x_t at that timestep and decode from
    there (only the steps below it): the frame at the source's yaw is still the photo, the reconstruction is
    G(x_t) from t, and the embedding network (which embeds to x_T) is refused for them."""
    import shutil

    from headrot_core.walk.lines import TrajectorySet

    start = rot.model._timesteps(4)[2]
    folder = tiny_rotator_dir.parent / "rotator_at_t"
    if not folder.exists():
        shutil.copytree(tiny_rotator_dir, folder)
        TrajectorySet.load(folder / "trajectories").with_settings(latent_t=start).save(folder / "trajectories")
    mid = HeadRotator.from_pretrained(folder, device="cpu", steps=4, feedback=False)
    mid.model.bf16 = False
    assert mid.settings.latent_t == start and rot.settings.latent_t is None
    assert mid.latent.embedding_calls == 2 * (1 + mid.settings.fixed_point_iters) and mid.decode_calls == 2
    crop = real_crop()
    yaw = mid.prepare(crop, aligned=True).source_yaw
    r = mid.rotate(crop, yaws=[yaw, yaw + 20], aligned=True, reconstruct=True)
    assert r.latent_t == start and r.summary()["latent_t"] == start
    x = images_to_tensor([r.source], mid.model.size)
    assert torch.equal(r.latent, mid.model.invert(x, 4, mid.settings.fixed_point_iters, start_t=start))
    assert np.array_equal(np.asarray(r.reconstruction),
                          np.asarray(tensor_to_images(mid.model.generate(r.latent, 4, start_t=start))[0]))
    same, moved = (np.abs(np.asarray(f, float) - np.asarray(r.source, float)).mean() for f in r.frames)
    assert same < 0.5 < moved
    assert mid.frames_at(r, [yaw + 20])[0].tobytes() == r.frames[1].tobytes()
    with pytest.raises(ValueError, match="embeds to x_T"):
        HeadRotator(mid.model, mid.trajectories, embedder=object(), embedding="network")
