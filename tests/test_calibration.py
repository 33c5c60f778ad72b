import numpy as np
import pytest

from headrot_core.build.calibration import Response, measure_response
from headrot_core.build.fitting import LabelledFaces


def test_response_becomes_a_monotone_calibration():
    nominal = (10.0, 20.0, 40.0)
    # two faces; side 0 moves towards negative yaw (negative changes), side 1 towards positive
    change = np.array([[[-1.0, 2.0], [-3.0, 1.0], [-9.0, 8.0]],
                       [[-1.0, 2.0], [-1.0, 5.0], [-11.0, 12.0]]])
    cal = Response(nominal, np.zeros(2), change).calibration()
    assert cal.nominal == nominal
    assert cal.negative == pytest.approx((1.0, 2.0, 10.0))
    assert cal.positive == pytest.approx((2.0, 3.0, 10.0))
    wobbly = Response(nominal, np.zeros(1), np.array([[[-4.0, 4.0], [-2.0, 2.0], [-6.0, 6.0]]])).calibration()
    assert list(wobbly.negative) == sorted(wobbly.negative), "isotonic: never decreasing"
    assert cal.nominal_change(-2.0) == pytest.approx(-20.0, abs=1e-3)


def test_response_per_source_yaw_weights_the_faces_near_each_source():
    nominal = (10.0, 20.0)
    # a face at -30 turning back to frontal (positive side) turns far, one at +30 turning further away barely
    change = np.array([[[-1.0, 8.0], [-2.0, 16.0]],
                       [[-6.0, 1.0], [-12.0, 2.0]]])
    cal = Response(nominal, np.array([-30.0, 30.0]), change).calibration(sources=(-30.0, 30.0), bandwidth=5.0)
    assert cal.sources == (-30.0, 30.0)
    assert cal.positive[0] == pytest.approx((8.0, 16.0), abs=1e-3) and cal.positive[1] == pytest.approx((1.0, 2.0),
                                                                                                          abs=1e-3)
    assert cal.nominal_change(8.0, source_yaw=-30.0) == pytest.approx(10.0, abs=1e-3)
    assert cal.nominal_change(2.0, source_yaw=30.0) == pytest.approx(20.0, abs=1e-3)
    assert cal.nominal_change(-6.0, source_yaw=30.0) == pytest.approx(-10.0, abs=1e-3)
    single = Response(nominal, np.array([-30.0, 30.0]), change).calibration()
    assert single.sources == () and single.positive == pytest.approx((4.5, 9.0))


def test_measure_response_moves_and_measures_every_face(tiny_rotator_dir):
    from headrot_core.rotation import HeadRotator

    rot = HeadRotator.from_pretrained(tiny_rotator_dir, device="cpu", steps=2)
    rng = np.random.default_rng(0)
    images = rng.integers(60, 200, (2, 128, 128, 3), dtype=np.uint8)
    faces = LabelledFaces(["a", "b"], images, np.zeros(2, np.float32), np.array(["center", "left"]),
                          np.zeros(2, np.float32), np.array(["male", ""]), np.array([1, 2]))
    resp = measure_response(rot, faces, nominal=(10.0, 30.0))
    assert resp.change.shape == (2, 2, 2) and np.isfinite(resp.change).all()
    assert resp.source_yaw.shape == (2,)
    cal = resp.calibration()
    assert len(cal.negative) == len(cal.positive) == 2 and min(cal.negative + cal.positive) >= 0


def test_calibrate_refits_from_saved_measurements(tiny_rotator_dir, tmp_path):
    import shutil

    from headrot_core.cli import main
    from headrot_core.walk.lines import TrajectorySet

    traj = shutil.copytree(tiny_rotator_dir / "trajectories", tmp_path / "traj")
    change = np.array([[[-1.0, 8.0], [-2.0, 16.0]],
                       [[-6.0, 1.0], [-12.0, 2.0]]])
    saved = Response((10.0, 20.0), np.array([-30.0, 30.0]), change).save(tmp_path / "response.npz")
    assert Response.load(saved).change == pytest.approx(change)
    assert main(["calibrate", "--trajectories", str(traj), "--from-response", str(saved), "--source-yaws=-30,30",
                 "--bandwidth", "5", "--joint-gain", "2.5", "--model", str(tiny_rotator_dir), "--device", "cpu"]) == 0
    assert TrajectorySet.load(traj).select(None, None).joint_gain == 2.5, "the engine walks the lines it was measured on"
    cal = TrajectorySet.load(traj).calibration
    assert cal.sources == (-30.0, 30.0) and cal.positive[0] == pytest.approx((8.0, 16.0), abs=1e-3)
    recorded = TrajectorySet.load(traj).meta["calibration"]
    assert recorded["faces"] == 2 and recorded["max_source_yaw"] == 30.0, "the file's faces, not the CLI default"
