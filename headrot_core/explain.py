"""The method, shown while it runs: the paper's picture for one face, redrawn as the yaw slider moves.

The trajectory set stores each subset's two fitted lines (direction and intercept per side, the bins and their face
counts), not the per-bin centroids, so the picture shows what exists: each line's points at the yaw bins it was
fitted on (its fitted centroids), the two lines, and the photo's latent walked along them. It is drawn in the plane
spanned by the two directions, not in a PCA of the points: the engine's moves lie exactly in that plane, so the
photo's path is drawn undistorted (its length and its bend at the joint are the engine's own). The first axis is
the mean of the two unit directions (yaw grows left to right on both sides), the second is orthogonal to it.
Drawn with PIL at a fixed size: a redraw takes milliseconds (benchmarks/bench_compose.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .feedback import longest_moves
from .rotation import YAW_RANGE
from .walk.lines import Trajectory

if TYPE_CHECKING:
    from .feedback import FaceResponse
    from .rotation import RotationResult

PLOT_SIZE = (480, 360)
NEGATIVE_COLOUR, POSITIVE_COLOUR = (52, 101, 164), (204, 102, 0)
PATH_COLOUR, FACE_COLOUR, INK = (235, 150, 155), (200, 30, 45), (40, 40, 40)
LABEL_EVERY = 20.0  # degrees: bins labelled (all are drawn)


@dataclass(frozen=True)
class MethodPlane:
    """An orthonormal 2-D frame in latent space: ``origin`` (D,) and ``axes`` (2, D)."""

    origin: np.ndarray
    axes: np.ndarray

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, D) latent points -> (N, 2) plane coordinates."""
        return np.einsum("nd,kd->nk", np.atleast_2d(points) - self.origin, self.axes)


def _unit(v: np.ndarray) -> np.ndarray:
    """``v`` / its norm. Here and in ``project``, einsum and not BLAS: on a busy CPU each BLAS call of a redraw waited
    about 1 ms for its threads (a 12,288-d norm: 1.1 ms against 4 us)."""
    return v / np.sqrt(np.einsum("i,i", v, v))


def method_plane(traj: Trajectory) -> MethodPlane:
    """The plane of the two directions, with its origin at the lines' joint (the mean of their yaw-0 points)."""
    neg = _unit(traj.negative.direction.astype(np.float64))
    pos = _unit(traj.positive.direction.astype(np.float64))
    first = _unit(neg + pos)
    second = pos - np.einsum("i,i", pos, first) * first
    if np.einsum("i,i", second, second) < 1e-12:  # one shared line: any orthogonal axis
        second = np.roll(first, 1) - np.einsum("i,i", np.roll(first, 1), first) * first
    second = _unit(second)
    origin = (traj.negative.intercept.astype(np.float64) + traj.positive.intercept) / 2
    return MethodPlane(origin, np.stack([first, second]))


def bin_points(traj: Trajectory, plane: MethodPlane) -> list[tuple[float, np.ndarray]]:
    """(bin yaw, plane point) for each side's fitted bins: the line's value there, i.e. its fitted centroid."""
    out = []
    for line in (traj.negative,) if traj.positive is traj.negative else (traj.negative, traj.positive):
        yaws = np.array(line.bins)
        pts = plane.project(line.intercept[None, :] + yaws[:, None] * line.direction[None, :])
        out += [(float(y), p) for y, p in zip(yaws, pts)]
    return out


def planned_moves(traj: Trajectory, source_yaw: float, yaws: Sequence[float],
                  response: "FaceResponse | None" = None) -> np.ndarray:
    """The nominal moves the engine makes for ``yaws``: calibrated, or planned from the face's own measured
    response on these lines when there is one (as ``HeadRotator.turn`` does)."""
    moves = traj.moves(source_yaw, yaws)
    if response is not None and response.subset == traj.subset:
        wanted = np.asarray(yaws, float) - source_yaw
        moves = response.plan(wanted, moves, longest_moves(traj, source_yaw, YAW_RANGE))
    return moves


def face_path(traj: Trajectory, plane: MethodPlane, source_yaw: float, moves: Sequence[float],
              latent: np.ndarray | None = None) -> np.ndarray:
    """(N, 2): the face's latent (flattened, or (1, C, H, W); a CPU tensor is fine) after each nominal move.
    Without ``latent`` the face is the lines' own point where the engine places it (``joint_gain`` x its yaw from
    the joint)."""
    if latent is None:
        latent = plane.origin + traj.offset_of_move(0.0, traj.joint_gain * source_yaw)
    start = np.asarray(latent, np.float64).reshape(-1)
    return plane.project(np.stack([start + traj.offset_of_move(source_yaw, float(m)) for m in moves]))


@lru_cache(maxsize=4)
def _font(px: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=px)


def method_plot(traj: Trajectory, source_yaw: float, current_yaw: float, latent: np.ndarray | None = None,
                yaws: Sequence[float] = tuple(range(-30, 31, 5)), response: "FaceResponse | None" = None,
                size: tuple[int, int] = PLOT_SIZE) -> Image.Image:
    """The paper's picture for one face: the subset's yaw-bin points (labelled every ``LABEL_EVERY`` degrees), its
    two lines, the face's path through ``yaws`` (pale red) and a marker at ``current_yaw``. ``latent``: the face's
    latent (``RotationResult.latent`` on the CPU), or None for an average face at ``source_yaw``; ``response``: its
    measured response (``RotationResult.response``), so that the marker sits where the engine's frame comes from."""
    plane = method_plane(traj)
    bins = bin_points(traj, plane)
    moves = planned_moves(traj, source_yaw, [*yaws, current_yaw], response)
    joint = -traj.joint_gain * source_yaw  # where the path bends onto the other line
    bends = [joint] if moves.min() < joint < moves.max() else []
    path = face_path(traj, plane, source_yaw, sorted({0.0, *moves.tolist(), *bends}), latent)
    start, here = face_path(traj, plane, source_yaw, [0.0, moves[-1]], latent)

    w, h = size
    top, margin = 34, 22
    pts = np.concatenate([np.array([p for _, p in bins]), path, [[0.0, 0.0]]])
    lo, hi = pts.min(0), pts.max(0)
    span = np.maximum(hi - lo, 1e-6)
    scale = min((w - 2 * margin) / span[0], (h - top - 2 * margin) / span[1])  # one scale: true angles
    centre = (lo + hi) / 2

    def xy(p: np.ndarray) -> tuple[float, float]:
        return (w / 2 + (p[0] - centre[0]) * scale, top + (h - top) / 2 - (p[1] - centre[1]) * scale)

    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    small, label = _font(11), _font(13)
    reach = float(np.abs(pts).max()) * 1.05  # each line drawn as far as the plot reaches, from the joint
    for line, colour, sign in ((traj.negative, NEGATIVE_COLOUR, -1.0), (traj.positive, POSITIVE_COLOUR, 1.0)):
        unit = plane.project(plane.origin + line.direction)[0]
        zero = plane.project(line.intercept)[0]
        draw.line([xy(zero), xy(zero + sign * unit / np.hypot(*unit) * reach)], fill=colour, width=2)
    labelled = set()
    for yaw, p in bins:
        colour = NEGATIVE_COLOUR if yaw < 0 else POSITIVE_COLOUR if yaw > 0 else INK
        x, y = xy(p)
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
        if yaw % LABEL_EVERY == 0 and yaw not in labelled:  # outside the V; 0 below the joint
            text = f"{yaw:+.0f}°" if yaw else "0°"
            tw = draw.textlength(text, font=small)
            at = (x - tw - 6, y - 6) if yaw < 0 else (x + 6, y - 6) if yaw > 0 else (x - tw / 2, y + 5)
            draw.text(at, text, fill=colour, font=small)
            labelled.add(yaw)
    draw.line([xy(p) for p in path], fill=PATH_COLOUR, width=2)
    x, y = xy(start)
    draw.ellipse([x - 5, y - 5, x + 5, y + 5], outline=FACE_COLOUR, width=2)
    x, y = xy(here)
    draw.ellipse([x - 7, y - 7, x + 7, y + 7], fill=FACE_COLOUR)
    text = f"{current_yaw:+.0f}°"
    tw = draw.textlength(text, font=label)
    draw.text((min(x + 9, w - tw - 2), max(y - 22, top)), text, fill=FACE_COLOUR, font=label)
    draw.text((8, 6), f"{traj.subset}: yaw bins (dots) and the two fitted lines", fill=INK, font=label)
    draw.text((8, 20), "this photo's latent: ring at its own yaw, red at the slider's", fill=FACE_COLOUR, font=small)
    return img


def method_sentence(result: "RotationResult", traj: Trajectory) -> str:
    """Which subset's lines turned this face, and why (the detected light and its score, or the user's choice)."""
    from .face import face_model

    threshold = float(face_model()["light_threshold"])
    score = f"light score {result.light_score:+.2f}"
    if result.light != result.light_detected:
        why = f"the light was set to {result.light} by hand (detected: {result.light_detected}, {score})"
    elif result.light_detected == "center":
        why = f"its {score} is within ±{threshold:.2f}, so the light counts as frontal"
    else:
        why = f"its {score} is beyond ±{threshold:.2f}: light from the image's {result.light_detected}"
    return f"Lines of the {traj.subset} subset ({traj.n_faces:,} training faces), because {why}."
