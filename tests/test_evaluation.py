import numpy as np
import pytest
from PIL import Image

from conftest import real_crop, shared_data_or_skip
from headrot_core.build.fitting import LabelledFaces
from headrot_core.measure.evaluation import TARGETS, psnr, run_variant, ssim, write_report


def test_psnr_and_ssim_basics():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    noisy = np.clip(a + rng.normal(0, 10, a.shape), 0, 255).astype(np.uint8)
    assert psnr(a, a) > 90 and ssim(a, a) == pytest.approx(1.0)
    assert 25 < psnr(a, noisy) < 30  # sigma 10 noise (clipped) is about 28 dB
    very_noisy = np.clip(a + rng.normal(0, 60, a.shape), 0, 255).astype(np.uint8)
    assert 1.0 > ssim(a, noisy) > ssim(a, very_noisy) > ssim(a, 255 - a)


def test_run_variant_measures_every_frame(tiny_rotator_dir):
    from headrot_core.rotation import HeadRotator

    rot = HeadRotator.from_pretrained(tiny_rotator_dir, device="cpu", steps=2)
    crop = np.asarray(real_crop())
    faces = LabelledFaces(["a", "b"], np.stack([crop, crop[:, ::-1]]), np.array([0.0, 0.0], np.float32),
                          np.array(["center", "left"]), np.zeros(2, np.float32), np.array(["male", "female"]),
                          np.array([0, 20]))
    z = rot.model.noise(2, seed=0)
    res = run_variant("v", rot, z, faces, np.array([0.0, 5.0]), np.zeros((2, 128), np.float32),
                      True, True, targets=(-30.0, 0.0, 30.0))
    assert res.measured.shape == (2, 3) and res.frames == 6
    assert set(res.pose_abs_err) == {-30.0, 0.0, 30.0}
    assert 0.0 <= res.identity_near <= 1.0 and np.isfinite(res.mean_abs_err)
    assert res.identity_far == res.identity_far  # not NaN: +-30 are beyond 15 deg of both sources
    from headrot_core.yaw_net import yaw_net_available

    if yaw_net_available():  # shipped in assets/yaw_net: the frames are measured by it too
        assert res.measured_net.shape == (2, 3) and np.isfinite(res.measured_net).all()


def test_sampled_rotation_figure_shows_the_evaluated_engine(tiny_rotator_dir, tmp_path):
    from headrot_core.animation import upscale
    from headrot_core.diffusion import tensor_to_images
    from headrot_core.measure.evaluation import sampled_rotation_figure
    from headrot_core.rotation import HeadRotator

    rot = HeadRotator.from_pretrained(tiny_rotator_dir, device="cpu", steps=2)
    fig = Image.open(sampled_rotation_figure(rot, tmp_path / "fig.png", n=1, seed=3, targets=(-30.0, 30.0), size=32))
    assert fig.size == (4 * 32 + 5 * 2, 32 + 2 * 2), "one row: sample, reconstruction, two frames"
    sample = upscale(tensor_to_images(rot.model.sample(1, seed=3, steps=rot.settings.steps)), 32)[0]
    assert np.array_equal(np.asarray(fig.crop((2, 2, 34, 34))), np.asarray(sample)), "a sample of rot's own model"


def test_report_has_every_section(tmp_path):
    from headrot_core.measure.evaluation import Evaluation, VariantResult

    by_net = np.array(TARGETS)[None, :] / 2  # the network sees half the turn the landmarks see
    v = VariantResult("two lines, light x gender", {t: 1.0 for t in TARGETS}, 1.0, 0.95, 0.9, 0.7, 7, 1.0,
                      np.tile(np.array(TARGETS), (1, 1)), by_net)
    assert v.net_mean_abs_err == pytest.approx(np.mean(np.abs(TARGETS)) / 2)
    assert v.estimator_gap == pytest.approx(np.mean(np.abs(TARGETS)) / 2)
    ev = Evaluation(1, 20, 6, 29.0, 0.9, {"inversion": (29.0, 0.9, 0.5)}, [v],
                    [{"subset": "light=any,gender=any", "faces": 10, "neg_bins": 5, "neg_r2": 0.9, "pos_bins": 5,
                      "pos_r2": 0.9}], np.array([25.0]), {"landmarks vs network": 3.25})
    text = write_report(ev, tmp_path / "E.md").read_text()
    for heading in ("## Reconstruction", "## Pose and identity by variant", "## Yaw reached per target",
                    "## Fitted trajectories", "## Pose error by the source's own yaw",
                    "## The same frames measured by an independent estimator"):
        assert heading in text
    assert "landmarks vs network 3.2°" in text or "landmarks vs network 3.3°" in text
    assert "| two lines, light x gender | 1.0 | 8.6 | 1.00 | 8.6 |" in text
    assert "| 20–30° | 1 | 0.0 |" in text  # the one face (|yaw| 25) reached every target exactly
    assert "| inversion | 29.00 | 0.900 |" in text


def test_paired_difference_is_exact_and_its_interval_shrinks_with_shared_noise():
    from headrot_core.measure.evaluation import paired_difference

    rng = np.random.default_rng(0)
    face = rng.normal(10, 4, 100)  # what each face contributes to both variants
    ones = np.ones(100)
    d, lo, hi = paired_difference(face, ones, face - 0.5 + rng.normal(0, 0.1, 100), ones)
    assert lo < d < hi < 0 and hi - lo < 0.1 and d == pytest.approx(-0.5, abs=0.05)
    same = paired_difference(face, ones, face, ones)
    assert same == (0.0, 0.0, 0.0)
    d, lo, hi = paired_difference(np.array([1.0, 0.0]), np.array([2.0, 2.0]), np.array([2.0, 1.0]),
                                  np.array([2.0, 2.0]))  # ratios of sums: 1/4 -> 3/4
    assert d == pytest.approx(0.5)


def test_report_pairs_each_variant_with_the_first_and_measurements_round_trip(tmp_path):
    from headrot_core.measure.evaluation import Evaluation, VariantResult, save_measurements

    tg = np.array(TARGETS)
    rng = np.random.default_rng(1)
    source = rng.uniform(-30, 30, 40)
    noise = rng.normal(0, 3, (40, len(tg)))
    kept = np.ones((40, len(tg)), bool)

    def variant(name, err, kept):
        m = tg + err
        return VariantResult(name, {t: float(np.mean(np.abs(m[:, j] - t))) for j, t in enumerate(tg)},
                             float(np.mean(np.abs(m - tg))), 1.0, 1.0, float(kept.mean()), m.size, 1.0, m, m, kept)

    worse_id = kept.copy()
    worse_id[np.abs(tg[None, :] - source[:, None]) > 15] = False
    ev = Evaluation(40, 12, 12, 37.0, 0.97, {"inversion": (37.0, 0.97, 0.5)},
                    [variant("shipped", noise, kept), variant("same", noise, kept),
                     variant("worse", noise + np.sign(noise) * 2, worse_id)], [], source, {})
    text = write_report(ev, tmp_path / "E.md").read_text()
    assert "## Each variant against the first, paired on the same faces" in text
    assert "| same | +0.00° [+0.00, +0.00] | +0.00° [+0.00, +0.00] | +0.00 pp [+0.00, +0.00] |" in text
    assert "| worse | +2.00° [+2.00, +2.00] | +2.00° [+2.00, +2.00] | -100.00 pp [-100.00, -100.00] |" in text
    with np.load(save_measurements(ev, tmp_path / "m.npz")) as z:
        assert list(z["names"]) == ["shipped", "same", "worse"] and z["measured"].shape == (3, 40, len(tg))
        assert np.array_equal(z["kept"][2], worse_id) and np.array_equal(z["source_yaw"], source)

def test_realism_section_contact_sheets_and_frames_collected(tiny_rotator_dir, tmp_path):
    """run_variant keeps the far frames, the frame nearest the source's yaw and the sheet's rows; measure_realism
    scores them against real crops; the report puts the contact sheets and the viewer's table first."""
    from headrot_core.measure.evaluation import Evaluation, SHEET_FACES, measure_realism, photo_realism
    from headrot_core.rotation import HeadRotator

    rot = HeadRotator.from_pretrained(tiny_rotator_dir, device="cpu", steps=2, decode="warp", feedback=False)
    crop = np.asarray(real_crop())
    n = 6
    faces = LabelledFaces([str(i) for i in range(n)], np.stack([crop if i % 2 else crop[:, ::-1] for i in range(n)]),
                          np.zeros(n, np.float32), np.array(["center"] * n), np.zeros(n, np.float32),
                          np.array(["male"] * n), np.arange(n))
    res = run_variant("renderer: warp, test", rot, rot.model.noise(n, seed=0), faces, np.array([0.0, 3, 8, 45, 0, 1]),
                      np.zeros((n, 128), np.float32), True, False)
    assert res.frame_px == 128 and len(res.far_frames) == 4 * n and [g for g, _ in res.far_frames[:4]] == [0] * 4
    assert len(res.near_frames) == n - 1  # the face at 45 deg has no target within 10 deg
    assert len(res.sheet) == min(n, SHEET_FACES) and len(res.sheet[0]) == len(TARGETS)
    real = np.stack([crop, crop[:, ::-1]] * 4)
    source_yaw = np.array([0.0, 3, 8, 45, 0, 30])
    real_feats = measure_realism([res], real, np.arange(8), np.abs(source_yaw) <= 15)
    assert sorted(real_feats) == [128] and len(real_feats[128]) == 8
    assert 0.0 <= res.realism_far_spread < 0.2 and 0.0 <= res.realism_far_faces_sd < 0.5
    assert 0.0 <= res.realism_far <= 1.0 and 0.0 <= res.realism_near <= 1.0 and 0.0 <= res.one_face_far <= 1.0
    assert 0.0 <= res.realism_far_frontal <= 1.0 and 0.0 <= res.one_face_far_frontal <= 1.0
    floor = photo_realism(faces.images, real_feats[128], np.arange(8), 128)
    floor_frontal = photo_realism(faces.images[np.abs(source_yaw) <= 15], real_feats[128], np.arange(8), 128)
    assert 0.0 <= floor <= 1.0 and 0.0 <= floor_frontal <= 1.0
    ev = Evaluation(n, 2, 2, 29.0, 0.9, {"inversion": (29.0, 0.9, 0.5)}, [res], [], source_yaw, {}, 499, 8,
                    {128: floor}, [Image.fromarray(c) for c in faces.images], {128: floor_frontal})
    text = write_report(ev, tmp_path / "E.md").read_text()
    assert text.index("![contact sheet](contact_sheet_warp.png)") < text.index("## What a viewer sees")
    assert "| renderer: warp, test | 128 |" in text and "from 8 real crops" in text
    assert f"themselves against the same real crops: {floor:.2f} at 128 px." in text
    assert "the 4 photos within 15° of frontal" in text
    assert f"the floor, these photos themselves against the same real crops: {floor_frontal:.2f} at 128 px:" in text
    assert f"| renderer: warp, test | {res.realism_far_frontal:.2f} |" in text
    sheet = Image.open(tmp_path / "contact_sheet_warp.png")
    assert sheet.size == (8 * 128 + 9 * 2, n * 128 + (n + 1) * 2)


def test_real_turned_faces_are_the_test_photos_population():
    """The realism test's real side: annotated crops only (the test photos are annotated ones), turned by 15-45
    degrees by HopeNet, never of an excluded identity."""
    from headrot_core.build.data import load_annotations
    from headrot_core.measure.evaluation import REAL_YAW, real_turned_faces

    data = shared_data_or_skip()
    ann = load_annotations(data / "annotations.csv")
    some = sorted({a.identity for a in ann.values() if a.yaw is not None and 20 <= abs(a.yaw) <= 40})[:50]
    real, ids = real_turned_faces(set(some), data)
    assert real.shape[1:] == (128, 128, 3) and len(real) == len(ids) > 500
    assert not set(ids.tolist()) & set(some)
    by_identity = {}
    for a in ann.values():
        if a.yaw is not None and REAL_YAW[0] <= abs(a.yaw) <= REAL_YAW[1] and a.identity not in some:
            by_identity[a.identity] = by_identity.get(a.identity, 0) + 1
    assert len(real) == sum(by_identity.values())
