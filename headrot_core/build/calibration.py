"""``calibrate``: measure how far moves along the fitted lines actually turn a face, and store the inverse.

The centroid regression says how the *mean* latent changes per degree; a single face moved by that amount turns
less (on the shipped model, about a quarter of the way with the raw directions, and the response is not linear).
So: embed training-identity faces, move each along its subset's (smoothed) line by nominal changes of yaw on both
sides, decode as the engine does, and measure the yaw reached with the same estimator that measures the source.
The mean change per nominal move, made monotone with scikit-learn's isotonic regression, is the ``Calibration``
that ``Trajectory.move`` inverts; it is measured per source yaw (faces of all yaws, each curve a Gaussian-weighted
mean over the faces near its yaw), because a face turning back towards frontal turns much further than one turning
away. Held-out identities are never used: the evaluation runs on them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.isotonic import IsotonicRegression
from tqdm.auto import tqdm

from ..diffusion import images_to_tensor
from ..render import Crop
from .fitting import LabelledFaces
from ..rotation import HeadRotator
from ..walk.lines import Calibration

# x_t at t = 499 (shipped): 120 turns a frontal face 30-34 degrees; a face at 30 degrees needs about 180 to turn
# 60 degrees to the other side, through the joint of the lines (at EngineSettings.joint_gain x its yaw: 3, because
# 120 nominal degrees turn a frontal face about 30, and the calibrated moves back to frontal were 2.2-3.8 times the
# source's yaw; docs/EVALUATION.md)
NOMINAL = (10.0, 20.0, 30.0, 45.0, 60.0, 75.0, 90.0, 120.0, 150.0, 180.0, 210.0)


@dataclass(frozen=True)
class Response:
    """Raw measurements: ``change[i, j, s]`` = yaw reached minus source yaw for face i, nominal move j, side s
    (0: towards negative yaw, 1: towards positive)."""

    nominal: tuple[float, ...]
    source_yaw: np.ndarray
    change: np.ndarray

    def calibration(self, sources: tuple[float, ...] = (), bandwidth: float = 7.0) -> Calibration:
        """Mean |change| per nominal move and side, isotonic (non-decreasing from 0); with ``sources``, one curve
        per source yaw, each face weighted by a Gaussian (``bandwidth`` degrees) of its distance to that yaw."""
        x = np.concatenate([[0.0], self.nominal])
        rows = {0: [], 1: []}
        for centre in sources or (None,):
            w = np.ones(len(self.source_yaw)) if centre is None else \
                np.exp(-0.5 * ((self.source_yaw - centre) / bandwidth) ** 2)
            for side, sign in ((0, -1.0), (1, 1.0)):
                values = sign * self.change[:, :, side]
                weights = np.where(np.isfinite(values), w[:, None], 0.0)
                mean = np.nansum(values * weights, axis=0) / np.maximum(weights.sum(0), 1e-12)
                fit = IsotonicRegression(increasing=True, y_min=0.0).fit(x, np.concatenate([[0.0], mean]))
                rows[side].append(tuple(round(float(v), 3) for v in fit.predict(x)[1:]))
        return Calibration(tuple(self.nominal), tuple(rows[0]), tuple(rows[1]), tuple(float(s) for s in sources))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, nominal=np.asarray(self.nominal), source_yaw=self.source_yaw, change=self.change)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Response":
        with np.load(path) as f:
            return cls(tuple(float(v) for v in f["nominal"]), f["source_yaw"], f["change"])


def measure_response(rot: HeadRotator, faces: LabelledFaces, nominal=NOMINAL) -> Response:
    """Moves every face by each nominal change on both sides with ``rot``'s trajectories, decoding and embedding
    setting; the trajectories should carry no calibration (it is what is being measured)."""
    from ..analysis import frame_yaws
    from ..diffusion import tensor_to_images

    source_yaw = frame_yaws([Image.fromarray(im) for im in faces.images])
    change = np.full((len(faces.ids), len(nominal), 2), np.nan)
    for i in tqdm(range(len(faces.ids)), desc="calibrating", unit="face"):
        x = images_to_tensor(faces.images[i:i + 1], rot.model.size)
        z = rot.latent.embed(x)
        targets = [source_yaw[i] + s * n for s in (-1.0, 1.0) for n in nominal]
        gender = (faces.gender[i] or None) if rot.settings.match_gender else None  # the lines the engine selects
        route, yaw = rot.lines(faces.light[i], gender), float(source_yaw[i])
        crop = Crop(images_to_tensor(faces.images[i:i + 1], faces.images.shape[1]))
        frames, _ = rot.decode_moved(route.latents(z, yaw, route.moves(yaw, targets)), z, x, crop=crop)
        reached = frame_yaws(tensor_to_images(frames)) - source_yaw[i]
        change[i] = reached.reshape(2, len(nominal)).T
    return Response(tuple(float(n) for n in nominal), source_yaw, change)
