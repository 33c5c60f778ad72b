"""The method plot: the plane of the two lines, the face's undistorted path, a marker that follows the slider."""
from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

from headrot_core.explain import (FACE_COLOUR, bin_points, face_path, method_plane, method_plot, method_sentence,
                                  planned_moves)
from headrot_core.feedback import FaceResponse
from headrot_core.walk.lines import TrajectorySet


@pytest.fixture(scope="module")
def traj():
    """The shipped lines (assets/trajectories): smoothed, calibrated, joint at 3 x the source's yaw."""
    return TrajectorySet.load().select("center", None)


@pytest.fixture(scope="module")
def latent(traj):
    rng = np.random.default_rng(0)
    return method_plane(traj).origin + rng.normal(size=traj.negative.direction.size)


def test_the_plane_holds_both_directions(traj):
    plane = method_plane(traj)
    assert np.allclose(plane.axes @ plane.axes.T, np.eye(2), atol=1e-9)
    for d in (traj.negative.direction, traj.positive.direction):
        assert np.hypot(*plane.project(plane.origin + d)[0]) == pytest.approx(np.linalg.norm(d), rel=1e-5)


def test_bins_are_the_fitted_lines_values_and_yaw_grows_to_the_right(traj):
    plane = method_plane(traj)
    bins = bin_points(traj, plane)
    assert len(bins) == len(traj.negative.bins) + len(traj.positive.bins)
    xs = {y: p[0] for y, p in bins}
    assert xs[min(xs)] < xs[-20.0] < xs[20.0] < xs[max(xs)]


def test_the_path_is_the_engines_moves_undistorted(traj, latent):
    plane = method_plane(traj)
    source_yaw, moves = 8.0, planned_moves(traj, 8.0, [-30.0, 30.0])
    path = face_path(traj, plane, source_yaw, [0.0, *moves], latent)
    for m, p in zip(moves, path[1:]):
        step = traj.offset_of_move(source_yaw, float(m))
        assert np.hypot(*(p - path[0])) == pytest.approx(np.linalg.norm(step), rel=1e-5)
    assert np.allclose(face_path(traj, plane, 0.0, [0.0])[0], 0.0, atol=1e-6), \
        "without a latent, a frontal face starts at the lines' joint"


def test_the_faces_own_response_plans_the_moves_on_its_own_lines(traj):
    yaws = [-10.0, 20.0]
    mine = FaceResponse(traj.subset, np.array([-40.0, 40.0]), np.array([-20.0, 20.0]))
    other = FaceResponse("light=left,gender=any", mine.moves, mine.changes)
    assert np.allclose(planned_moves(traj, 0.0, yaws, mine), [-20.0, 40.0])
    assert np.allclose(planned_moves(traj, 0.0, yaws, other), traj.moves(0.0, yaws))


def red_centre(img) -> np.ndarray:
    a = np.asarray(img).astype(int)
    ys, xs = np.nonzero(np.abs(a - FACE_COLOUR).sum(-1) < 10)
    ys, xs = ys[ys > 40], xs[ys > 40]  # below the caption
    return np.array([xs.mean(), ys.mean()])


def test_the_marker_follows_the_slider(traj, latent):
    left = method_plot(traj, 5.0, -30.0, latent, size=(400, 300))
    right = method_plot(traj, 5.0, 30.0, latent, size=(400, 300))
    assert left.size == (400, 300)
    assert red_centre(left)[0] + 100 < red_centre(right)[0]


def test_a_redraw_is_fast(traj, latent):
    method_plot(traj, 5.0, 0.0, latent)
    times = []
    for yaw in range(-30, 31, 10):
        t0 = time.perf_counter()
        method_plot(traj, 5.0, float(yaw), latent)
        times.append(time.perf_counter() - t0)
    assert np.median(times) < 0.2, "the slider redraws it (50 ms on an idle CPU, benchmarks/bench_compose.py)"


def test_the_sentence_says_which_lines_and_why(traj):
    detected = SimpleNamespace(light="center", light_detected="center", light_score=-0.02)
    text = method_sentence(detected, traj)
    assert "light=center,gender=any" in text and "-0.02" in text and "±0.10" in text and "2,503" in text
    side = method_sentence(SimpleNamespace(light="left", light_detected="left", light_score=-0.31), traj)
    assert "image's left" in side and "-0.31" in side
    chosen = method_sentence(SimpleNamespace(light="right", light_detected="center", light_score=0.01), traj)
    assert "by hand" in chosen and "detected: center" in chosen
