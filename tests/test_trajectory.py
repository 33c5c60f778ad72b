import numpy as np
import pytest
import torch

from headrot_core.build.fitting import centroids, fit_trajectory, fit_trajectory_set
from headrot_core.settings import EngineSettings
from headrot_core.walk.lines import Calibration, TrajectorySet, smooth_direction, subset_name

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


def _offset(tr, source: float, target: float) -> np.ndarray:
    """The latent change the route makes to take a face from the ``source`` yaw to the ``target``."""
    return tr.latents(torch.zeros(1, tr.positive.direction.size), source, tr.moves(source, [target]))[0].numpy()


def test_offset_is_zero_at_source_additive_and_switches_lines_at_zero():
    z, yaw, *_ = _synthetic()
    tr = fit_trajectory("all", z, yaw)
    assert np.allclose(_offset(tr, 12.0, 12.0), 0)
    for s, a, b in [(-20, 5, 30), (10, -15, -30), (25, 0, -10)]:
        assert np.allclose(_offset(tr, s, a) + _offset(tr, a, b), _offset(tr, s, b), atol=1e-5)
    assert np.allclose(_offset(tr, 0, 10), 10 * tr.positive.direction)
    assert np.allclose(_offset(tr, 0, -10), -10 * tr.negative.direction)
    assert np.allclose(_offset(tr, -10, 10), 10 * tr.negative.direction + 10 * tr.positive.direction, atol=1e-6)


def test_joint_gain_places_the_face_on_the_lines_and_moves_the_crossing():
    z, yaw, *_ = _synthetic()
    tr = fit_trajectory("all", z, yaw)
    ts = TrajectorySet({"light=any,gender=any": tr}, {"engine": EngineSettings(joint_gain=3.0).to_dict()})
    g = ts.select(None, None)
    assert g.joint_gain == 3.0 and tr.joint_gain == 1.0
    # a face at yaw 10 sits 30 nominal degrees out: a move of -25 stays on its own side's line
    assert np.allclose(g.offset_of_move(10.0, -25.0), -25 * g.positive.direction)
    assert np.allclose(tr.offset_of_move(10.0, -25.0), -10 * tr.positive.direction - 15 * tr.negative.direction)
    assert np.allclose(g.offset_of_move(10.0, -40.0), -30 * g.positive.direction - 10 * g.negative.direction)
    assert np.allclose(g.offset_of_move(-10.0, 12.0), 12 * g.negative.direction)
    assert np.allclose(g.offset_of_move(10.0, 0.0), 0)
    assert ts.plain().select(None, None).joint_gain == 1.0, "the paper's lines: the face at its own yaw"


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
    ts = fit_trajectory_set(z, yaw, lights, genders, meta={"note": "synthetic"}).plain()
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


def test_the_walk_registry_reads_the_walk_the_settings_name(tmp_path):
    """``walk.load`` reads a folder with the module its settings' ``walk`` names: the lines are one such walk."""
    from headrot_core import walk

    z, yaw, *_ = _synthetic(1000)
    ts = fit_trajectory_set(z, yaw, np.array(["center"] * len(yaw)), np.array(["male"] * len(yaw)))
    loaded = walk.load(ts.save(tmp_path / "lines"))
    assert isinstance(loaded, walk.Walk) and loaded.settings == ts.settings and loaded.settings.walk == "lines"
    assert isinstance(loaded.select("center", "male"), walk.Route)
    ts.with_settings(walk="splines").save(tmp_path / "splines")
    with pytest.raises(ValueError, match="walk must be one of.*'splines'"):
        walk.load(tmp_path / "splines")
    with pytest.raises(FileNotFoundError, match="python -m headrot_core fit"):
        walk.load(tmp_path / "nothing")


def test_smoothing_removes_white_noise_and_keeps_a_smooth_pattern():
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    pattern = np.stack([np.cos(np.pi * xx) * (c + 1) for c in range(3)]).reshape(-1)  # smooth, like a pose change
    noisy = pattern + rng.normal(scale=2.0, size=pattern.size)
    smoothed = smooth_direction(noisy, sigma=2.0)
    assert np.linalg.norm(smoothed - pattern) < 0.25 * np.linalg.norm(noisy - pattern)
    assert np.allclose(smooth_direction(pattern, 2.0), pattern, atol=0.05 * np.abs(pattern).max())
    shared = smooth_direction(noisy, 0.0, shared_channels=True).reshape(3, -1)
    assert np.allclose(shared[0], shared[2]) and np.allclose(shared[1], noisy.reshape(3, -1).mean(0), atol=1e-5)


def test_calibration_inverts_the_measured_response():
    cal = Calibration(nominal=(10.0, 20.0, 40.0), negative=(2.0, 5.0, 10.0), positive=(5.0, 10.0, 20.0))
    assert cal.nominal_change(0.0) == 0.0
    assert cal.nominal_change(10.0) == pytest.approx(20.0, abs=1e-3)   # positive side turns half as far
    assert cal.nominal_change(-10.0) == pytest.approx(-40.0, abs=1e-3)  # negative side a quarter
    assert cal.nominal_change(-3.5) == pytest.approx(-15.0, abs=1e-3)   # linear between measured points
    assert cal.nominal_change(35.0) == pytest.approx(40.0)              # never beyond the largest measured move
    flat = Calibration((10.0, 20.0), (4.0, 4.0), (4.0, 4.0))            # ties (isotonic plateaus) stay invertible
    assert 0 < flat.nominal_change(4.0) <= 20.0


def test_calibration_per_source_yaw_interpolates_between_rows_and_round_trips():
    cal = Calibration(nominal=(10.0, 20.0), negative=((2.0, 4.0), (8.0, 16.0)), positive=((8.0, 16.0), (2.0, 4.0)),
                      sources=(-20.0, 20.0))
    assert cal.nominal_change(4.0, source_yaw=-20.0) == pytest.approx(5.0, abs=1e-3)   # back towards frontal: far
    assert cal.nominal_change(4.0, source_yaw=20.0) == pytest.approx(20.0, abs=1e-3)   # further away: little
    assert cal.nominal_change(4.0, source_yaw=0.0) == pytest.approx(12.5, abs=1e-3)    # half-way between the rows
    assert cal.nominal_change(4.0, source_yaw=40.0) == pytest.approx(20.0, abs=1e-3)   # the outer row holds beyond
    assert cal.nominal_change(-8.0, source_yaw=20.0) == pytest.approx(-10.0, abs=1e-3)
    assert Calibration.from_dict(cal.to_dict()) == cal
    assert "sources" not in Calibration((10.0,), (1.0,), (1.0,)).to_dict()
    with pytest.raises(ValueError, match="2 x 2"):
        Calibration((10.0, 20.0), ((1.0, 2.0),), ((1.0, 2.0),), sources=(-20.0, 20.0))
    with pytest.raises(ValueError, match="increase"):
        Calibration((10.0,), ((1.0,), (2.0,)), ((1.0,), (2.0,)), sources=(20.0, -20.0))


def test_select_applies_smoothing_and_calibration_and_plain_undoes_them(tmp_path):
    z, yaw, *_ = _synthetic()
    d = 3 * 8 * 8
    z = np.concatenate([z, np.zeros((len(z), d - D), np.float32)], axis=1)  # a (3, 8, 8) latent
    ts = fit_trajectory_set(z, yaw, np.array(["center"] * len(yaw)), np.array(["male"] * len(yaw))).plain()
    cal = {"nominal": [10.0, 40.0], "negative": [5.0, 20.0], "positive": [5.0, 20.0], "faces": 7}
    tuned = ts.with_settings(smoothing_sigma=1.0, shared_channels=True).with_meta(calibration=cal)
    raw, t = ts.select("center", "male"), tuned.select("center", "male")
    assert not np.allclose(raw.positive.direction, t.positive.direction)
    assert np.allclose(t.positive.direction, smooth_direction(raw.positive.direction, 1.0, True))
    assert np.allclose(_offset(t, 0.0, 5.0), 10.0 * t.positive.direction, atol=1e-4)  # 5 measured <- 10 nominal
    assert np.allclose(tuned.plain().select("center", "male").positive.direction, raw.positive.direction)
    loaded = TrajectorySet.load(tuned.save(tmp_path / "tuned"))
    assert loaded.meta["calibration"]["faces"] == 7 and loaded.calibration == tuned.calibration
    assert loaded.settings == tuned.settings
    assert np.allclose(loaded.select("center", "male").positive.direction, t.positive.direction, atol=1e-3)
