"""The engine's settings: one frozen object, the one home of every engine default.

The defaults are the shipped engine's (``assets/trajectories``): the lines were fitted and calibrated for exactly
this setting, so the CLI, the app and ``scripts/build_assets.sh`` take theirs from here. A trajectory set stores its
setting in one place, ``meta["engine"]``; reading it is strict, because a setting silently taken from elsewhere (or
a default silently filling a gap) changes the frames without a word.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

# The settings a walk applies itself, from its own: where and as its lines were fitted is the only place they mean
# anything, so an engine cannot walk them otherwise.
WALK_FIELDS = ("latent_t", "walk", "joint_gain", "smoothing_sigma", "shared_channels")


@dataclass(frozen=True)
class EngineSettings:
    """How the engine embeds, walks and decodes; the calibration holds for this setting only."""

    steps: int = 12                 # DDIM steps of the inversion and the reconstruction
    fixed_point_iters: int = 2      # fixed-point iterations per inversion step
    warm_start: bool = True         # each inversion step starts from the previous step's prediction
    latent_t: int | None = 499      # the DDIM timestep the lines were fitted at and are walked at (None: x_T)
    walk: str = "lines"             # the edit space: the module that reads the lines (``headrot_core.walk.NAMES``)
    residual_steps: int = 4         # DDIM steps of the moved latents' decode (at most ``steps``): from t = 499, 2
    # UNet calls instead of 6 at 12; the landmark renderer only reads the model's turn off them, and 13 yaws of 40
    # held-out faces were drawn within 0.6 degrees of the turns a 12-step decode of every yaw gives, nearer their
    # targets (0.44 against 0.70 degrees; 3 steps: 1.1 and 0.95; docs/MODEL.md)
    probe_every: float = 15.0       # degrees between the yaws whose moves a renderer that draws turns decodes (and
    # both ends): the yaws between are drawn at the turns the face's response gives there, as the slider's are. 13
    # yaws every 5 degrees decode 5 moves and the base (10: 7; 20: 4, no nearer the 12-step turns; docs/MODEL.md)
    decode: str = "landmarks"       # the renderer (``headrot_core.render.NAMES``)
    match_gender: bool = False      # gender="auto" picks light x gender lines (else light only)
    joint_gain: float = 3.0         # nominal degrees along the lines per degree of the source's yaw
    smoothing_sigma: float = 2.0    # Gaussian smoothing of the directions (latent px; 0: none)
    shared_channels: bool = False   # one spatial pattern for the latent's three channels
    feedback_tolerance: float = 3.0  # degrees: a frame whose yaw change (drawn or read) is within this is kept

    @property
    def network_embeds(self) -> bool:
        """Whether the embedding network can embed for these lines: it maps a face to x_T only."""
        return self.latent_t is None

    def for_walk(self, walk: "EngineSettings") -> "EngineSettings":
        """These settings with the walk's own (``WALK_FIELDS``) taken from ``walk``, the walk's settings."""
        return replace(self, **{n: getattr(walk, n) for n in WALK_FIELDS})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "EngineSettings":
        """Every setting, and nothing else: an unknown or a missing key is an error naming it."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"unknown engine setting(s): {', '.join(unknown)}")
        missing = [n for n in names if n not in d]
        if missing:
            raise ValueError(f"missing engine setting(s): {', '.join(missing)}")
        return cls(**d)

    @classmethod
    def from_meta(cls, meta: dict) -> "EngineSettings":
        """The setting of a trajectory set's meta, from ``meta["engine"]``; a setting also given at the meta's top
        level or in its calibration is two values for one setting, an error naming it."""
        if "engine" not in meta:
            raise ValueError("the trajectories' meta has no 'engine' settings")
        elsewhere = [f"{n} (in {where})" for where, d in (("meta", meta), ("meta['calibration']",
                                                                           meta.get("calibration") or {}))
                     for n in (f.name for f in fields(cls)) if n in d]
        if elsewhere:
            raise ValueError(f"two values for one engine setting: {', '.join(elsewhere)} besides meta['engine']")
        return cls.from_dict(meta["engine"])
