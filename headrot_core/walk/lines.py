"""The lines (the shipped walk): the paper's centroid regression, one straight line per turning side.

Faces are binned by yaw; each bin's latent centroid is one point; a linear regression of centroid on yaw (degrees)
gives a direction in latent units per degree (``headrot_core.build.fitting``). Two lines (negative yaw: nose to the
image's right; positive: to its left) share the frontal bin, because one line does not fit large rotations. A
trajectory set holds one such pair per subset of similar faces (light class x gender), with a global fallback.

Three post-processing steps, recorded in the set's settings (``meta["engine"]``, ``headrot_core.settings``) and the
meta's calibration and applied by ``select`` (the stored lines stay the paper's
raw regression, so ``plain()`` gives the method as published):

* ``smoothing_sigma``: a Gaussian low-pass of each direction over the latent's two spatial axes. A centroid
  difference is the face's pose change (spatially smooth) plus estimation noise (white: a few hundred faces a bin
  over 12,288 dimensions); the noise is most of the raw direction's norm and damages the face without turning it.
* ``shared_channels``: the direction's mean over the latent's three channels, used for all three. Measured on the
  shipped model: the channel-specific part is more than half of the smoothed direction's norm, turns the head no
  further (same yaw reached) and decodes as colour blobs.
* ``calibration``: the measured yaw response of moves along the lines (``headrot_core.build.calibration``), inverted
  so that a requested change of yaw asks for the move that produced that change on average for faces starting near
  the source's own yaw (one curve per source yaw: turning back towards frontal goes much further than turning away).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from scipy.ndimage import gaussian_filter

from . import DEFAULT_WALK, FILE, Route, Walk, read
from ..settings import EngineSettings

LIGHTS = ("left", "center", "right")
GENDERS = ("female", "male")


@dataclass(frozen=True)
class LineFit:
    """centroid(yaw) ~ intercept + yaw * direction over the bins used; r2 is variance-weighted over dimensions."""

    direction: np.ndarray  # (D,) latent units per degree
    intercept: np.ndarray  # (D,)
    bins: tuple[float, ...]
    counts: tuple[int, ...]
    r2: float


def smooth_direction(direction: np.ndarray, sigma: float, shared_channels: bool = False,
                     channels: int = 3) -> np.ndarray:
    """Gaussian low-pass of a flattened (channels, S, S) latent direction over its spatial axes; with
    ``shared_channels`` every channel gets the channels' mean."""
    side = int(round((direction.size / channels) ** 0.5))
    grid = direction.reshape(channels, side, side).astype(np.float32)
    if sigma:
        grid = gaussian_filter(grid, sigma=(0, sigma, sigma), mode="reflect")
    if shared_channels:
        grid = np.repeat(grid.mean(0, keepdims=True), channels, axis=0)
    return grid.reshape(-1)


def _rows(curves) -> np.ndarray:
    return np.atleast_2d(np.asarray(curves, float))


def _as_tuples(curves) -> tuple:
    rows = _rows(curves)
    return tuple(float(v) for v in rows[0]) if rows.shape[0] == 1 else tuple(tuple(float(v) for v in r) for r in rows)


@dataclass(frozen=True)
class Calibration:
    """Measured mean yaw change (degrees, magnitude) of nominal moves along each side's line, from
    ``headrot_core.calibration``; ``nominal_change`` inverts it. Beyond the largest measured change the largest
    measured move is used: the engine never extrapolates into moves it has not seen.

    The response depends on where the face starts: a face turning back towards frontal turns several times further
    per unit of move than one turning away from it (docs/EVALUATION.md). So a calibration may hold one curve per
    source yaw in ``sources`` (row k of ``negative`` / ``positive`` measured on faces whose own yaw is near
    ``sources[k]``); the nominal move is interpolated between rows, and the outer rows hold beyond them. Without
    ``sources`` one curve serves every source yaw."""

    nominal: tuple[float, ...]    # nominal move sizes in degrees (> 0, increasing)
    negative: tuple               # measured |yaw change| of moves towards negative yaw (non-decreasing), or rows
    positive: tuple               # and towards positive yaw
    sources: tuple[float, ...] = ()  # source yaw of each row (increasing); () for a single curve

    def __post_init__(self):
        if list(self.sources) != sorted(set(self.sources)):
            raise ValueError(f"calibration sources must increase, got {self.sources}")
        rows = len(self.sources) or 1
        for side in ("negative", "positive"):
            shape = _rows(getattr(self, side)).shape
            if shape != (rows, len(self.nominal)):
                raise ValueError(f"{side} calibration curves must be {rows} x {len(self.nominal)}, got {shape}")
            object.__setattr__(self, side, _as_tuples(getattr(self, side)))  # one form, so equal ones compare equal

    def nominal_change(self, delta: float, source_yaw: float = 0.0) -> float:
        rows = _rows(self.negative if delta < 0 else self.positive)
        nominal = np.concatenate([[0.0], self.nominal])
        moves = []
        for measured in rows:
            xs = np.concatenate([[0.0], measured + 1e-6 * np.arange(1, len(measured) + 1)])  # strictly increasing
            moves.append(np.interp(abs(delta), xs, nominal))
        move = np.interp(source_yaw, self.sources, moves) if self.sources else moves[0]
        return float(np.sign(delta) * move)

    def to_dict(self) -> dict:
        d = {"nominal": list(self.nominal)}
        for side in ("negative", "positive"):
            rows = _rows(getattr(self, side))
            d[side] = rows.tolist() if self.sources else rows[0].tolist()
        return {**d, "sources": list(self.sources)} if self.sources else d

    @classmethod
    def from_dict(cls, d: dict) -> "Calibration":
        return cls(tuple(d["nominal"]), _as_tuples(d["negative"]), _as_tuples(d["positive"]),
                   tuple(float(s) for s in d.get("sources", ())))


@dataclass(frozen=True)
class Trajectory(Route):
    """Two lines meeting at yaw 0, fitted on the faces of yaw <= 0 (``negative``) and >= 0 (``positive``); a
    single-line trajectory (the ablation) uses the same fit for both. A move is walked in nominal degrees from
    ``joint_gain`` x the source's yaw. With a ``calibration``, a requested change of yaw is first mapped to the
    nominal change that produced it when measured."""

    subset: str
    negative: LineFit
    positive: LineFit
    n_faces: int
    calibration: Calibration | None = None
    # nominal degrees along the lines per degree of the source's yaw: where the face sits on them, so where a move
    # crosses the joint. The calibrated moves are several times the yaw they turn, so at 1 a face turning back
    # towards frontal would walk the other side's (nearly orthogonal) line for most of the way.
    joint_gain: float = 1.0

    def move(self, source_yaw: float, target_yaw: float) -> float:
        """The nominal move (signed degrees along the lines) that the calibration says turns an average face from
        ``source_yaw`` to ``target_yaw``; without a calibration, the change itself."""
        if self.calibration is None:
            return target_yaw - source_yaw
        return self.calibration.nominal_change(target_yaw - source_yaw, source_yaw)

    def moves(self, source_yaw: float, target_yaws) -> np.ndarray:
        """``move`` for each target: the calibrated frames' moves, which ``turn`` and ``refine`` must agree on."""
        return np.array([self.move(source_yaw, float(y)) for y in target_yaws])

    def latents(self, z: torch.Tensor, source_yaw: float, moves) -> torch.Tensor:
        """``z`` moved by each nominal move along the lines: one latent per move."""
        offsets = np.stack([self.offset_of_move(source_yaw, float(m)) for m in moves])
        return z + torch.from_numpy(offsets.reshape(len(moves), *z.shape[1:])).to(z.device, z.dtype)

    def offset_of_move(self, source_yaw: float, move: float) -> np.ndarray:
        """Latent displacement of a nominal ``move`` from ``source_yaw`` along the piecewise line (uncalibrated: the
        lines' own degrees): continuous, zero for no move, switching lines at their joint, which the face starts
        ``joint_gain * source_yaw`` nominal degrees from."""
        start = self.joint_gain * source_yaw
        lo, hi = sorted((start, start + move))
        sign = 1.0 if move >= 0 else -1.0
        neg_span = max(0.0, min(hi, 0.0) - lo) if lo < 0 else 0.0
        pos_span = max(0.0, hi - max(lo, 0.0)) if hi > 0 else 0.0
        return sign * (neg_span * self.negative.direction + pos_span * self.positive.direction)


def subset_name(light: str | None, gender: str | None) -> str:
    return f"light={light or 'any'},gender={gender or 'any'}"


@dataclass
class TrajectorySet(Walk):
    """Trajectories keyed by ``subset_name``; ``select`` falls back from the exact subset to broader ones and
    applies the settings' ``smoothing_sigma``, ``shared_channels`` and ``joint_gain`` and the meta's
    ``calibration``. ``settings`` is parsed (strictly) from ``meta["engine"]``."""

    trajectories: dict[str, Trajectory]
    meta: dict
    settings: EngineSettings = field(init=False)
    _processed_cache: dict[str, Trajectory] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        self.settings = EngineSettings.from_meta(self.meta)

    @property
    def calibration(self) -> Calibration | None:
        cal = self.meta.get("calibration")
        return Calibration.from_dict(cal) if cal else None

    def select(self, light: str | None, gender: str | None) -> Trajectory:
        for key in (subset_name(light, gender), subset_name(light, None), subset_name(None, gender),
                    subset_name(None, None)):
            if key in self.trajectories:
                return self._processed(key)
        raise KeyError("no trajectory fitted (not even the global one)")

    def _processed(self, key: str) -> Trajectory:
        cache, s = self._processed_cache, self.settings
        if key not in cache:
            tr, sigma, shared = self.trajectories[key], float(s.smoothing_sigma), bool(s.shared_channels)
            if sigma or shared:
                def smooth(line: LineFit) -> LineFit:
                    return replace(line, direction=smooth_direction(line.direction, sigma, shared))

                neg = smooth(tr.negative)
                tr = replace(tr, negative=neg, positive=neg if tr.positive is tr.negative else smooth(tr.positive))
            cache[key] = replace(tr, calibration=self.calibration, joint_gain=float(s.joint_gain))
        return cache[key]

    def with_meta(self, **changes) -> "TrajectorySet":
        """The same lines with meta keys changed (None removes one): e.g. ``with_meta(calibration=None)``."""
        meta = {**self.meta, **changes}
        return TrajectorySet(self.trajectories, {k: v for k, v in meta.items() if v is not None})

    def with_settings(self, **changes) -> "TrajectorySet":
        """The same lines with engine settings changed: e.g. ``with_settings(joint_gain=1.0)``."""
        return self.with_meta(engine=replace(self.settings, **changes).to_dict())

    def plain(self) -> "TrajectorySet":
        """The paper's method: raw regression lines, no smoothing, no calibration, the face at its own yaw on them."""
        plain = self.with_settings(smoothing_sigma=0.0, shared_channels=False, joint_gain=1.0)
        return plain.with_meta(calibration=None)

    def save(self, folder: str | Path) -> Path:
        """Directions and intercepts in fp16 safetensors; bins, counts and R^2 in trajectories.json."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors, info = {}, {}
        for key, tr in self.trajectories.items():
            info[key] = {"n_faces": tr.n_faces, "shared": tr.negative is tr.positive}
            for side in ("negative", "positive"):
                line: LineFit = getattr(tr, side)
                tensors[f"{key}/{side}/direction"] = torch.from_numpy(line.direction).half()
                tensors[f"{key}/{side}/intercept"] = torch.from_numpy(line.intercept).half()
                info[key][side] = {"bins": line.bins, "counts": line.counts, "r2": line.r2}
        save_file(tensors, folder / "trajectories.safetensors")
        (folder / FILE).write_text(json.dumps({"meta": self.meta, "subsets": info}, indent=1))
        return folder

    @classmethod
    def load(cls, folder: str | Path | None = None) -> "TrajectorySet":
        folder = Path(folder) if folder else DEFAULT_WALK
        doc = read(folder)
        tensors = load_file(folder / "trajectories.safetensors")
        out = {}
        for key, info in doc["subsets"].items():
            lines = {}
            for side in ("negative", "positive"):
                d = info[side]
                lines[side] = LineFit(tensors[f"{key}/{side}/direction"].float().numpy(),
                                      tensors[f"{key}/{side}/intercept"].float().numpy(),
                                      tuple(d["bins"]), tuple(d["counts"]), float(d["r2"]))
            if info.get("shared"):
                lines["positive"] = lines["negative"]
            out[key] = Trajectory(key, lines["negative"], lines["positive"], int(info["n_faces"]))
        return cls(out, doc["meta"])


load = TrajectorySet.load  # the registry's reader (``headrot_core.walk.load``)


def describe(ts: TrajectorySet) -> list[dict]:
    """One row per subset for reports: faces, bins and R^2 of each side."""
    return [{"subset": k, "faces": t.n_faces, "neg_bins": len(t.negative.bins), "neg_r2": round(t.negative.r2, 3),
             "pos_bins": len(t.positive.bins), "pos_r2": round(t.positive.r2, 3)}
            for k, t in ts.trajectories.items()]

