"""The viewer's measurements: the two-sample realism test, image statistics, the independent face count."""
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from conftest import real_crop
from headrot_core.measure.realism import (FEATURE_PX, count_faces, image_statistics, realism_features,
                                          resampled_scores, same_resolution, two_sample_test)

ROOT = Path(__file__).resolve().parents[1]


def test_two_sample_test_is_at_chance_for_one_distribution_and_perfect_for_two():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(120, 10)), rng.normal(size=(90, 10))
    same = two_sample_test(a, np.arange(120) // 4, b, np.arange(90) // 3)
    assert abs(same.accuracy - 0.5) < 0.12 and (same.generated, same.real) == (120, 90)
    assert 0.0 < same.spread < 0.1, "the shuffles of the folds differ, a little"
    assert two_sample_test(a, np.arange(120) // 4, b, np.arange(90) // 3, repeats=1).spread == 0.0
    shifted = two_sample_test(a + 1.5, np.arange(120) // 4, b, np.arange(90) // 3)
    assert shifted.accuracy > 0.95


def test_folds_never_split_a_group():
    """Features that only identify a group (one random vector per group) carry no label information across groups:
    with grouped folds the classifier cannot memorise them (chance), though it could with rows split at random."""
    rng = np.random.default_rng(1)
    groups = np.arange(200) // 5
    codes = rng.normal(size=(40, 30))
    x = codes[groups] + 0.01 * rng.normal(size=(200, 30))
    gen, real = x[groups % 2 == 0], x[groups % 2 == 1]
    test = two_sample_test(gen, groups[groups % 2 == 0], real, groups[groups % 2 == 1])
    assert abs(test.accuracy - 0.5) < 0.2


def test_resampled_faces_keep_their_copies_together_and_fewer_faces_spread_the_score_more():
    """Features that only identify a group: a resample that split a drawn-twice group's copies between training and
    testing would let the classifier recognise them (accuracy far above chance); kept together, chance."""
    rng = np.random.default_rng(2)
    groups = np.arange(200) // 5
    x = rng.normal(size=(40, 30))[groups] + 0.01 * rng.normal(size=(200, 30))
    gen, real = groups % 2 == 0, groups % 2 == 1
    scores = resampled_scores(x[gen], groups[gen], x[real], groups[real], draws=6)
    assert scores.shape == (6,) and abs(scores.mean() - 0.5) < 0.2
    a, b = rng.normal(size=(400, 10)), rng.normal(size=(400, 10))
    many = resampled_scores(a, np.arange(400) // 4, b, np.arange(400) // 4, draws=8)
    few = resampled_scores(a[:40], np.arange(40) // 4, b[:40], np.arange(40) // 4, draws=8)
    assert few.std() > many.std() > 0.0


def test_statistics_see_blur_and_colour_blotches():
    crop = real_crop()
    base = image_statistics(crop)
    assert base.shape == (17,) and np.isfinite(base).all()
    blurred = image_statistics(crop.filter(ImageFilter.GaussianBlur(2)))
    assert blurred[6] < base[6] - 1 and blurred[8] < base[8]  # sharpness (Laplacian), gradient energy
    arr = np.asarray(crop).astype(int)
    arr[40:70, 40:70, 2] = np.clip(arr[40:70, 40:70, 2] + 90, 0, 255)  # a blue blotch on the face
    blotched = image_statistics(Image.fromarray(arr.astype(np.uint8)))
    assert blotched[11] > base[11] and blotched[16] > base[16]


def test_same_resolution_brings_every_image_to_the_feature_size():
    crop = real_crop()
    small = same_resolution([crop, np.asarray(crop)], 64)
    assert [im.size for im in small] == [(FEATURE_PX, FEATURE_PX)] * 2
    assert np.abs(np.asarray(small[0], float) - np.asarray(crop, float)).mean() > 1  # detail lost at 64 px
    assert realism_features(small).shape == (2, 145)


def test_the_independent_detector_counts_faces():
    crop = real_crop()
    blank = Image.new("RGB", (128, 128), (128, 128, 128))
    twice = Image.new("RGB", (256, 128))
    twice.paste(crop, (0, 0))
    twice.paste(crop, (128, 0))
    assert count_faces([crop, blank, twice]).tolist() == [1, 0, 2]


def _sdedit_probe():
    import importlib.util

    spec = importlib.util.spec_from_file_location("sdedit_probe", ROOT / "scripts" / "sdedit_probe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sdedit_probe_redraws_frames_more_the_deeper_it_noises_and_keeps_their_detail(tiny_model):
    """scripts/sdedit_probe.py (issue 22's GPU plan): a frame noised further is changed more by the model's
    decoding; the change added to the sharp frame is blurred, so a decoding that changes nothing changes nothing."""
    probe = _sdedit_probe()
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    edits = probe.sdedit(tiny_model, frames, [100, 600], steps=10, seed=0)
    assert set(edits) == {100, 600} and all(e.shape == frames.shape and e.dtype == np.uint8 for e in edits.values())
    change = {t: np.abs(e.astype(float) - frames).mean() for t, e in edits.items()}
    assert 0 < change[100] < change[600]
    big = rng.integers(0, 200, (3, 128, 128, 3), dtype=np.uint8)
    assert np.array_equal(probe.edited(big, frames, frames), big)
    dim = frames // 2
    assert np.array_equal(probe.edited(big, dim, dim + 10), big + 10)
