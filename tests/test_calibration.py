import numpy as np
import pytest

from headrot_core.calibration import Response, measure_response
from headrot_core.fitting import LabelledFaces


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
