"""Per-face feedback: the moves that land *this* face at each requested yaw, from its own measured response.

The calibration is one curve per source yaw, averaged over many faces; a single face turns further or less than
that average, and in jumps of its own, which is most of the engine's pose error (docs/EVALUATION.md). So the engine
decodes the calibrated frames, reads the yaw of each with the appearance network (``yaw_net``: pixels, never the
landmarks that measure the source and the evaluation), and re-decodes the frames that missed by more than a
tolerance, at the moves this face's own response says reach their target; each target keeps whichever of its
two frames the network read nearer (a face's response is not always monotonic). The landmark estimator, which the
loop never reads, judges the result in ``evaluate``: with the lines walked at t = 499 the frames are coherent faces,
and much of what the network corrects, the landmarks see too (docs/EVALUATION.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression


@dataclass(frozen=True)
class FaceResponse:
    """What one face did along one subset's lines: each decoded nominal move (signed) and the yaw change the
    network read on its frame (signed degrees, frame minus source)."""

    subset: str
    moves: np.ndarray
    changes: np.ndarray

    def add(self, moves: np.ndarray, changes: np.ndarray) -> "FaceResponse":
        return FaceResponse(self.subset, np.concatenate([self.moves, moves]),
                            np.concatenate([self.changes, changes]))

    def plan(self, wanted: np.ndarray, default: np.ndarray) -> np.ndarray:
        """The move for each wanted change of yaw: the inverse of this face's response on that side (isotonic:
        non-decreasing from 0 at move 0, piecewise linear through the decoded moves), else ``default`` (the
        calibrated move: no move decoded on that side, or no turn seen). Past the largest turn seen the response is
        not extrapolated: the smallest move that reached it, or ``default`` when larger, so that targets the face
        cannot reach keep distinct frames instead of repeating one."""
        out = np.asarray(default, float).copy()
        wanted = np.asarray(wanted, float)
        out[wanted == 0] = 0.0
        for sign in (-1.0, 1.0):
            ask = np.sign(wanted) == sign
            side = np.sign(self.moves) == sign
            if not ask.any() or not side.any():
                continue
            x = np.concatenate([[0.0], sign * self.moves[side]])
            y = np.concatenate([[0.0], sign * self.changes[side]])
            order = np.argsort(x, kind="stable")
            x, fit = x[order], IsotonicRegression(y_min=0.0).fit_transform(x[order], y[order])
            levels, first = np.unique(fit, return_index=True)
            if len(levels) > 1:
                inverse = np.interp(sign * wanted[ask], levels, x[first])
                beyond = sign * wanted[ask] > levels[-1]
                out[ask] = sign * np.where(beyond, np.maximum(inverse, sign * out[ask]), inverse)
        return out
