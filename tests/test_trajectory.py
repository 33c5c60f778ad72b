import numpy as np
import pytest

from headrot_core.trajectory import TrajectorySet, centroids, fit_trajectory, fit_trajectory_set, subset_name

D = 48


def _synthetic(n=3000, seed=0, noise=0.5):
    """Latents that truly follow two different lines, one per side of yaw 0, plus per-face noise."""
    rng = np.random.default_rng(seed)
    d_neg, d_pos, base = rng.normal(size=(3, D))
    yaw = rng.uniform(-40, 40, n)
    z = base + np.where(yaw[:, None] < 0, yaw[:, None] * d_neg, yaw[:, None] * d_pos) / 40
    z += rng.normal(scale=noise, size=z.shape)
    return z.astype(np.float32), yaw, d_neg / 40, d_pos / 40


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_two_lines_recover_each_side():
    z, yaw, d_neg, d_pos = _synthetic()
    tr = fit_trajectory("all", z, yaw)
    assert _cos(tr.negative.direction, d_neg) > 0.98 and _cos(tr.positive.direction, d_pos) > 0.98
    assert np.allclose(np.linalg.norm(tr.negative.direction), np.linalg.norm(d_neg), rtol=0.1)
    assert tr.negative.r2 > 0.8 and tr.positive.r2 > 0.8
    assert max(tr.negative.bins) == 0 and min(tr.positive.bins) == 0, "both lines share the frontal bin"


def test_one_line_fits_worse_than_two_on_bent_data():
    z, yaw, *_ = _synthetic()
    one, two = fit_trajectory("all", z, yaw, two_lines=False), fit_trajectory("all", z, yaw)
    assert one.negative is one.positive
    assert one.negative.r2 < min(two.negative.r2, two.positive.r2)


def test_offset_is_zero_at_source_additive_and_switches_lines_at_zero():
    z, yaw, *_ = _synthetic()
    tr = fit_trajectory("all", z, yaw)
    assert np.allclose(tr.offset(12.0, 12.0), 0)
    for s, a, b in [(-20, 5, 30), (10, -15, -30), (25, 0, -10)]:
        assert np.allclose(tr.offset(s, a) + tr.offset(a, b), tr.offset(s, b), atol=1e-5)
    assert np.allclose(tr.offset(0, 10), 10 * tr.positive.direction)
    assert np.allclose(tr.offset(0, -10), -10 * tr.negative.direction)
    assert np.allclose(tr.offset(-10, 10), 10 * tr.negative.direction + 10 * tr.positive.direction, atol=1e-6)


def test_centroids_drop_sparse_bins():
    yaw = np.array([0.0] * 10 + [30.0] * 3)
    b, c, n = centroids(np.ones((13, 4)), yaw, min_count=8)
    assert list(b) == [0.0] and list(n) == [10]
    with pytest.raises(ValueError, match="two populated yaw bins"):
        fit_trajectory("x", np.ones((13, 4)), yaw)


def test_subsets_fallback_and_save_load_roundtrip(tmp_path):
    z, yaw, *_ = _synthetic(4000)
    rng = np.random.default_rng(1)
    lights = rng.choice(["left", "center", "right"], len(yaw), p=[0.1, 0.8, 0.1])
    genders = rng.choice(["female", "male"], len(yaw))
    lights[(lights == "left") & (yaw > 0)] = "center"  # leave 'left' without a positive side: must fall back
    ts = fit_trajectory_set(z, yaw, lights, genders, meta={"note": "synthetic"})
    assert subset_name("center", "male") in ts.trajectories
    assert subset_name("left", None) not in ts.trajectories
    assert ts.select("left", "male").subset == subset_name(None, "male")
    assert ts.select(None, None).subset == subset_name(None, None)
    loaded = TrajectorySet.load(ts.save(tmp_path / "tr"))
    assert loaded.meta["note"] == "synthetic" and loaded.meta["two_lines"] is True
    a, b = ts.select("center", "female"), loaded.select("center", "female")
    assert a.subset == b.subset and a.negative.bins == b.negative.bins
    assert np.allclose(a.negative.direction, b.negative.direction, atol=1e-3)


def test_load_missing_folder_is_specific(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m headrot_core fit"):
        TrajectorySet.load(tmp_path)
