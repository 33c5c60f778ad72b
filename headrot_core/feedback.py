"""Per-face feedback: the moves that land *this* face at each requested yaw, from its own measured response.

The calibration is one curve per source yaw, averaged over many faces; a single face turns further or less than
that average, and in jumps of its own, which is most of the engine's pose error (docs/EVALUATION.md). So the engine
decodes the calibrated frames, measures the yaw change of each, and makes again the frames that missed by more than
a tolerance, at the moves this face's own response says reach their target; each target keeps whichever of its two
frames came nearer (a face's response is not always monotonic). A renderer that draws a frame from a turn alone (the
landmark renderer) draws a move whose turn the response already covers at that turn (``changes_at``), with no
decode: only targets beyond the turns the calibrated frames reached are decoded again, to see the model go there.
Such a renderer is asked only for the turn of each decoding until the frames are chosen, and then draws each kept
frame once (a 640 px frame is its main cost).

What is measured depends on the renderer. The landmark renderer (shipped) reads the model's turn off each decoding
and draws the frame at exactly that turn, so the feedback steers by the turn drawn. Other renderers' frames are read
by the appearance network (``yaw_net``). Steering warped frames by that reading carried the network's own errors on
warped faces (about 5 degrees, in heavy tails) into the turns drawn, and a 2D warp turned too far smears: on 100
held-out faces, steering by the turn drawn took the far frames' realism from 0.66 to 0.63 (near-frontal photos 0.84
to 0.76) and the landmark pose error from 4.9 to 3.2 degrees; the network, now never read by the loop, reads 5.1
degrees against 4.7 when it steered (docs/EVALUATION.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression


def probes(yaws, every: float) -> np.ndarray:
    """Which of ``yaws`` are decoded to measure the face's turn when the renderer draws turns itself (a mask): both
    ends, and between them each yaw at least ``every`` from the last one kept; the others lie between two of them,
    so the response measured there covers them."""
    yaws = np.asarray(yaws, float)
    keep = np.zeros(len(yaws), bool)
    kept = -np.inf
    for i in np.argsort(yaws, kind="stable"):
        if yaws[i] - kept >= every:
            keep[i], kept = True, yaws[i]
    if len(yaws):
        keep[np.argmax(yaws)] = True
    return keep


def longest_moves(route, source_yaw: float, ends: tuple[float, float]) -> tuple[float, float]:
    """The longest move on each side (negative, positive; magnitudes) that ``FaceResponse.plan`` may reach for past
    what a face was seen to do: the calibrated moves of the yaw range's ends ``ends``, which the lines were fitted
    and calibrated over."""
    m = route.moves(source_yaw, ends)
    return max(0.0, -float(m.min())), max(0.0, float(m.max()))


@dataclass(frozen=True)
class FaceResponse:
    """What one face did along one subset's lines: each decoded nominal move (signed) and the yaw change its frame
    shows (signed degrees, frame minus source: the turn drawn, or the network's reading)."""

    subset: str
    moves: np.ndarray
    changes: np.ndarray

    def add(self, moves: np.ndarray, changes: np.ndarray) -> "FaceResponse":
        return FaceResponse(self.subset, np.concatenate([self.moves, moves]),
                            np.concatenate([self.changes, changes]))

    def _side(self, sign: float) -> tuple[np.ndarray, np.ndarray] | None:
        """This face's response on one side as (moves, changes), both made positive: isotonic (non-decreasing from 0
        at move 0), at its distinct levels, each at the smallest move that reached it; None when no move was decoded
        on that side or no turn seen."""
        side = np.sign(self.moves) == sign
        if not side.any():
            return None
        x = np.concatenate([[0.0], sign * self.moves[side]])
        y = np.concatenate([[0.0], sign * self.changes[side]])
        order = np.argsort(x, kind="stable")
        x, fit = x[order], IsotonicRegression(y_min=0.0).fit_transform(x[order], y[order])
        levels, first = np.unique(fit, return_index=True)
        return (x[first], levels) if len(levels) > 1 else None

    def plan(self, wanted: np.ndarray, default: np.ndarray,
             longest: tuple[float, float] | None = None) -> np.ndarray:
        """The move for each wanted change of yaw: the inverse of this face's response on that side (isotonic:
        non-decreasing from 0 at move 0, piecewise linear through the decoded moves), else ``default`` (the
        calibrated move: no move decoded on that side, or no turn seen). Past the largest turn seen: the smallest
        move that reached it, or ``default`` when larger, so that targets the face cannot reach keep distinct frames
        instead of repeating one; with ``longest`` (the longest move allowed on the negative and the positive side,
        as magnitudes: the calibrated moves of the range's ends), that move scaled by how much further the target
        lies, up to ``longest``: a face asked for one yaw short of the range's end was otherwise left where its one
        calibrated frame fell short (100 single-target rotations of held-out faces: mean miss 3.8 -> 3.1 degrees,
        docs/EVALUATION.md)."""
        out = np.asarray(default, float).copy()
        wanted = np.asarray(wanted, float)
        out[wanted == 0] = 0.0
        for sign, cap in zip((-1.0, 1.0), longest or (0.0, 0.0)):
            ask = np.sign(wanted) == sign
            fit = self._side(sign) if ask.any() else None
            if fit is not None:
                moves, levels = fit
                inverse = np.interp(sign * wanted[ask], levels, moves)
                further = np.minimum(moves[-1] * sign * wanted[ask] / levels[-1], cap)
                beyond = sign * wanted[ask] > levels[-1]
                out[ask] = sign * np.where(beyond, np.maximum.reduce([inverse, sign * out[ask], further]), inverse)
        return out

    def changes_at(self, moves: np.ndarray) -> np.ndarray | None:
        """The yaw change this face's response gives each move, interpolated between decoded moves; None when a
        move lies beyond the largest decoded on its side (what the model does there has not been seen). A renderer
        that draws a turn itself can then draw these frames without decoding them."""
        moves = np.asarray(moves, float)
        out = np.zeros(len(moves))
        for sign in (-1.0, 1.0):
            ask = np.sign(moves) == sign
            if not ask.any():
                continue
            fit = self._side(sign)
            if fit is None or np.any(sign * moves[ask] > fit[0][-1]):
                return None
            out[ask] = sign * np.interp(sign * moves[ask], *fit)
        return out
