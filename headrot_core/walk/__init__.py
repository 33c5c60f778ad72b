"""Walks: the edit space, how a face's latent moves so that the face turns to each target yaw.

A walk is an asset fitted for one model and read once at start-up. Its folder holds ``trajectories.json`` whose
``meta["engine"]`` are the walk's settings (``headrot_core.settings``): they name the walk's module and say where
in the model it lives (``latent_t``). For a face, the walk selects a ``Route`` by the face's light and gender. The
route gives the move for each target yaw from the source's own yaw. A move is one signed number, so the feedback
can plan its own moves in the same units. The route also gives the latents of moves. Adding a walk means one module
of this package with ``load(folder) -> Walk``, plus its name in ``NAMES``.
"""
from __future__ import annotations

import json
from importlib import import_module
from pathlib import Path

import numpy as np
import torch

from ..loading import ASSETS
from ..settings import EngineSettings

DEFAULT_WALK = ASSETS / "trajectories"
FILE = "trajectories.json"
NAMES = ("lines",)  # the registry: one module of this package each


class Route:
    """One subset's way to turn a face: the moves for target yaws and the latents of moves."""

    subset: str  # the subset the walk selected (the feedback's response is kept per subset)

    def moves(self, source_yaw: float, target_yaws) -> np.ndarray:
        """The move for each target yaw (degrees) of a face at ``source_yaw``. Zero at the source's own yaw."""
        raise NotImplementedError

    def latents(self, z: torch.Tensor, source_yaw: float, moves) -> torch.Tensor:
        """``z`` (1, C, H, W) moved by each move: one latent per move (N, C, H, W)."""
        raise NotImplementedError


class Walk:
    """The fitted edit space; ``settings`` are the ones it was fitted and calibrated with."""

    settings: EngineSettings

    def select(self, light: str | None, gender: str | None) -> Route:
        """The route for a face of this light class and gender (a broader subset where that one was not fitted)."""
        raise NotImplementedError


def read(folder: Path) -> dict:
    """A walk folder's ``trajectories.json``."""
    if not (folder / FILE).is_file():
        raise FileNotFoundError(f"no fitted trajectories in {folder} (run `python -m headrot_core fit`)")
    return json.loads((folder / FILE).read_text())


def load(folder: str | Path | None = None) -> Walk:
    """The walk fitted in ``folder`` (default: the shipped one), read by the module its settings name."""
    folder = Path(folder) if folder else DEFAULT_WALK
    name = EngineSettings.from_meta(read(folder)["meta"]).walk
    if name not in NAMES:
        raise ValueError(f"walk must be one of {NAMES}, got {name!r}")
    return import_module(f"{__name__}.{name}").load(folder)
