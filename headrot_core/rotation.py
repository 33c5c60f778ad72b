"""The rotation engine: photo -> aligned face -> analysis -> latent -> walk -> render -> frames, in one batch.

``HeadRotator`` composes three parts, all chosen by one ``EngineSettings``: the latent (``headrot_core.latent``:
embed, decode, reconstruct), the walk (``headrot_core.walk``: the fitted edit space, the shipped lines), and the
renderer (``headrot_core.render``). Each requested yaw is an absolute angle in degrees: the walk moves the source
latent by the calibrated move for (target - source yaw), so the frames are continuous and the source yaw itself
gives back the source.

The latent is the paper's x_T, or x_t at an intermediate DDIM timestep when the trajectories were fitted there
(``latent_t`` in their settings): inversion stops at t and decoding runs only the steps below it. Half-way down the
schedule the clipped decoding of an unmoved latent is the photo again (about 37 dB here, against 15-18 dB from
x_T), so a move changes one coherent face instead of overlaying a second one on the photo (docs/EVALUATION.md).

Decoding (``decode``). ``clipped``: the paper's G(z + d), with each step's predicted clean image clipped to [-1, 1]
(unclipped, moved latents of this model decode to colour speckle). ``residual`` (default): the source crop x plus the
change the move makes under clipped decoding, x + [Gc(z + d) - Gc(z)]: the clipping damage common to Gc(z + d) and
Gc(z) cancels, so the frames keep the photo's detail, and the frame at the source's own yaw is the photo itself. The
change needs fewer DDIM steps than the reconstruction (``residual_steps``, measured in docs/EVALUATION.md), and all
moved latents (and Gc(z)) decode in one batch. The reconstruction G(z) (unclipped, the exact inverse of the
inversion) is not part of any frame: it only shows how well the model captured the face, so a caller in a hurry
(the app, before showing the strip) asks for it afterwards with ``HeadRotator.reconstruct``.

``warp`` (``headrot_core.render.warp``): the photo's own crop, at up to ``RENDER_PX``, carried along the optical flow
from Gc(z + d) back to Gc(z), with the model's shading change added at low frequency and as brightness only: no
feature is added twice, and the frames come out at the photo's resolution.

Feedback (``feedback``, on when the yaw network is installed): the calibrated frames are measured (the turn the
landmark renderer drew each at; other renderers' frames are read by the appearance network) and those that missed
their yaw by more than a tolerance are made again at the moves this face's own response says reach it
(``headrot_core.feedback``): drawn at the turn the response gives, with no decode, when the renderer draws turns and
the calibrated frames saw the model turn the face that far; decoded otherwise. The response is kept, so the
slider's frames use it for free.

A renderer that draws turns needs a decoding only to measure the model's turn, so of many yaws only one every
``probe_every`` degrees (and both ends) is decoded and fed back; the yaws between are drawn at the turns the face's
response gives there, as the slider draws them (13 yaws: 5 moves and the base decoded, in 2 UNet calls, instead of 13
and the base in 6: rotate() of a 1024 px photo at 256 px 4.3 -> 2.8 s on an AVX2 CPU, docs/MODEL.md).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from PIL import Image

from .animation import save_animation, strip
from .compose import inner_crop
from .diffusion import FaceDiffusion, images_to_tensor, tensor_to_images
from .feedback import FaceResponse, longest_moves, probes
from .imaging import load_image
from .latent import Latent, last
from .loading import ASSETS, DEFAULT_MODEL_DIR, resolve_model_dir
from .render import NAMES as DECODES
from .render import Crop, renderer
from .settings import EngineSettings
from .walk import Route, Walk
from .walk import load as load_walk
from .walk.lines import LIGHTS

DEFAULT_YAWS = tuple(range(-30, 31, 5))
YAW_RANGE = (float(DEFAULT_YAWS[0]), float(DEFAULT_YAWS[-1]))  # the yaws the lines are calibrated over
DEFAULT_EMBEDDER = ASSETS / "embedder"
RENDER_PX = 640  # the frames of the renderers that draw the photo (landmarks, warp): its crop at its own resolution,
# up to this. The app shows a 1024 px portrait's crop at about 610 px (whole photo) or 512 (crop view); there 256 px
# frames kept 16 / 36 % of the face's fine detail, 512 px ones 55 / 100 %, 640 px ones 81 % in the whole photo, for
# 0.25 s more a rotation than 512 (768: 83 %, about 0.35 s more again; 12 portraits; benchmarks/bench_sharpness.py,
# docs/APP.md)
TURNED_AWAY = 20.0  # degrees of the photo's own yaw from which frames turned towards and past frontal often show
# what the photo hides: 9 of the 16 hq1024 portraits turned 20 degrees or more showed a halo or a smear at the far
# cheek or under the chin at -10..+10 (dlib puts the far jaw line out in the hair or background there), 1 of the 4
# looked at between 17 and 20 degrees (docs/EVALUATION.md)
CONTEXT = 0.25  # of the crop's side: the photo around the crop handed to the renderer on every side (the landmark
# renderer's top edge moves by about 0.1 of the side in a 30-degree turn, 0.2 in a 40-degree one)


@dataclass
class FacePrep:
    """What the analysis stage hands to the latent stage."""

    source: Image.Image  # aligned crop at model resolution
    source_yaw: float
    light: str  # detected light class
    light_score: float
    gender: str | None  # detected, None when no classifier is installed
    faces: int | None  # faces found in the photo (None for an already-aligned input)
    crop_quad: list[list[float]] | None
    crop: Image.Image | None = None  # the aligned crop at the photo's resolution (128..render_px): what is drawn
    context: Image.Image | None = None  # the same with CONTEXT of the photo around it (None: an aligned input)


@dataclass
class Turn:
    """One face's frames at the requested yaws, and how they were reached."""

    frames: torch.Tensor  # (N, 3, H, W), [-1, 1] up to the residual's overshoot
    base: torch.Tensor | None  # Gc(z) when residual
    subset: str
    response: FaceResponse | None  # the yaw change of every decoded move (None without feedback)
    redone: int  # frames decoded again after the feedback
    turns: np.ndarray | None = None  # the yaw change each frame was drawn at (None: the renderer does not set it)


@dataclass
class RotationResult:
    frames: list[Image.Image]
    yaws: list[float]
    source: Image.Image
    reconstruction: Image.Image | None  # G(z); None unless asked for (``reconstruct=True``)
    source_yaw: float
    light: str  # the light class used for the trajectory (detected unless overridden)
    light_detected: str
    light_score: float
    gender: str | None
    subset: str  # which fitted trajectory was used
    faces: int | None
    crop_quad: list[list[float]] | None
    embedding: str
    steps: int
    timings: dict[str, float] = field(default_factory=dict)
    latent: torch.Tensor | None = None  # the source's x_T (1, 3, H, W): ``HeadRotator.frames_at`` reuses it
    base: torch.Tensor | None = None    # Gc(z) at residual_steps when residual: what ``frames_at`` builds on
    decode: str = "residual"
    residual_steps: int | None = None
    latent_t: int | None = None  # the DDIM timestep the latent lives at (None: x_T)
    response: FaceResponse | None = None  # the face's measured response: ``frames_at`` plans its moves with it
    redone: int | None = None  # frames decoded again after the feedback (None: no feedback)
    crop: Image.Image | None = None  # the aligned crop at the photo's resolution (what the renderer draws)
    context: Image.Image | None = None  # the crop with the photo around it (``FacePrep.context``)
    turns: np.ndarray | None = None  # the yaw change each frame was drawn at, when the renderer sets it
    framed: list[Image.Image] | None = None  # each frame drawn over the context, the photo around the crop moved
    # with the crop's edge (``render.Crop``), when the renderer draws there: what a paste back into the photo takes

    @property
    def turned_away(self) -> bool:
        """Whether the photo faces far enough away (``TURNED_AWAY``) that the frames near and past frontal
        may show smears where it hides the face: a caveat for whoever shows the strip."""
        return abs(self.source_yaw) >= TURNED_AWAY

    @property
    def drawn(self) -> list[Image.Image]:
        """The frames as the renderer drew them: ``framed`` where there is one, else ``frames``."""
        return self.framed or self.frames

    def strip(self, size: int | None = None) -> Image.Image:
        return strip(self.frames, size)

    def summary(self) -> dict:
        keys = ("yaws", "source_yaw", "light", "light_detected", "light_score", "gender", "subset", "faces",
                "crop_quad", "embedding", "steps", "latent_t", "decode", "residual_steps", "redone", "timings")
        return {k: getattr(self, k) for k in keys}

    def save(self, folder: str | Path, animation: str = "animation.gif") -> Path:
        """frame_<yaw>.png per frame, source/reconstruction PNGs, strip.png, the animation and result.json."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for yaw, frame in zip(self.yaws, self.frames):
            frame.save(folder / f"frame_{yaw:+03.0f}.png")
        self.source.save(folder / "source.png")
        if self.reconstruction is not None:
            self.reconstruction.save(folder / "reconstruction.png")
        self.strip().save(folder / "strip.png")
        save_animation(self.frames, folder / animation)
        (folder / "result.json").write_text(json.dumps(self.summary(), indent=1) + "\n")
        return folder


def _check_choices(light: str, gender: str) -> None:
    if light not in ("auto", *LIGHTS):
        raise ValueError(f"light must be 'auto' or one of {LIGHTS}, got {light!r}")
    if gender not in ("auto", "any", "female", "male"):
        raise ValueError(f"gender must be 'auto', 'any', 'female' or 'male', got {gender!r}")


class HeadRotator:
    """Loads the model, its trajectories and (optionally) the embedding network once; ``rotate`` is per photo."""

    def __init__(self, model: FaceDiffusion, trajectories: Walk, embedder=None, settings: EngineSettings | None = None,
                 embedding: str = "auto", feedback: bool = False):
        """``settings`` default to the trajectories' own. What the walk applies itself (its timestep, its lines'
        post-processing: ``settings.WALK_FIELDS``) is always the trajectories': the lines exist only where and as
        they were fitted. ``embedding``: 'auto' uses ``embedder`` when there is one and the lines live at x_T."""
        s = (settings or trajectories.settings).for_walk(trajectories.settings)
        s = replace(s, residual_steps=min(s.residual_steps, s.steps))  # DDIM steps of the change Gc(z + d) - Gc(z)
        if embedding not in ("auto", "inversion", "network"):
            raise ValueError("embedding must be 'auto', 'inversion' or 'network'")
        if embedding == "network" and embedder is None:
            raise ValueError("embedding='network' needs a trained embedder (assets/embedder)")
        network = embedding == "network" or (embedding == "auto" and embedder is not None and s.network_embeds)
        self.settings: EngineSettings = s
        self.model, self.trajectories, self.feedback = model, trajectories, feedback
        self.latent = Latent(model, s, embedder if network else None)  # raises when the lines are not at x_T
        self.renderer = renderer(s.decode)  # raises for an unknown name
        self.render_steps = s.residual_steps if self.renderer.needs_base else s.steps  # of the renderer's decode

    @classmethod
    def from_pretrained(cls, model: str | Path | None = None, trajectories: str | Path | None = None,
                        device: str | None = None, embedding: str = "auto", steps: int | None = None,
                        fixed_point_iters: int | None = None, decode: str | None = None,
                        residual_steps: int | None = None, warm_start: bool | None = None,
                        feedback: bool | None = None) -> "HeadRotator":
        """The embedded default, or a model folder / Hub id whose fitted trajectories are in ``trajectories``
        (default: ``<model>/trajectories`` for a folder, ``assets/trajectories`` for the default).

        Each setting left None (or 0) is the trajectories' (their ``settings``, which the calibration was measured
        with). ``feedback`` defaults to on when the yaw network is installed."""
        folder = resolve_model_dir(model)
        diffusion = FaceDiffusion.from_pretrained(folder, device)
        is_default = folder.resolve() == DEFAULT_MODEL_DIR.resolve()
        if trajectories is None and not is_default:
            trajectories = folder / "trajectories"  # a latent direction belongs to one model: never borrow
        walk = load_walk(trajectories)
        given = dict(steps=steps or None, fixed_point_iters=fixed_point_iters, decode=decode,
                     residual_steps=residual_steps or None, warm_start=warm_start)
        settings = replace(walk.settings, **{k: v for k, v in given.items() if v is not None})
        embedder = None
        if (embedding != "inversion" and is_default and walk.settings.network_embeds
                and (DEFAULT_EMBEDDER / "headrot_embedder.json").is_file()):
            from .embedding import Embedder

            embedder = Embedder.from_pretrained(DEFAULT_EMBEDDER, diffusion.device)
        if feedback is None:
            from .yaw_net import yaw_net_available

            feedback = yaw_net_available()
        return cls(diffusion, walk, embedder, settings, embedding, feedback)

    @cached_property
    def _gender(self):
        from .identity import GENDER_FILE, GenderClassifier

        return GenderClassifier.load(GENDER_FILE) if GENDER_FILE.is_file() else None

    @cached_property
    def _yaw_net(self):
        from .yaw_net import load_yaw_net

        return load_yaw_net()

    def _read_yaws(self, images: torch.Tensor) -> np.ndarray:
        """The network's yaw of images in [-1, 1] (on the CPU: about 0.1 s for a 13-frame strip and the photo)."""
        return self._yaw_net.yaw(images.detach().float().cpu().clamp(-1, 1)).numpy()

    def prepare(self, image, aligned: bool = False, render_px: int = RENDER_PX) -> FacePrep:
        """Photo -> aligned crop + yaw, light and gender; raises ``ImageError`` / ``NoFaceError`` on bad input.
        ``render_px``: the largest crop the renderer draws (frames cost about its square)."""
        from .analysis import analyze_crop

        img = load_image(image)
        faces = quad = context = hires = None
        if aligned:
            crop = img
            if self.renderer.wants_crop:
                hires = img if max(img.size) <= render_px else img.resize((render_px, render_px), Image.LANCZOS)
        else:
            from .face import align_face

            face = align_face(img, size=128)
            crop, faces, quad = face.crop, face.faces, np.asarray(face.crop_quad).round(2).tolist()
            if self.renderer.wants_crop:
                side = int(np.clip(face.side, 128, render_px))
                margin = round(CONTEXT * side)
                context = face.recrop(img, side, margin)
                hires = context.crop((margin, margin, margin + side, margin + side))
        analysis = analyze_crop(crop.resize((128, 128), Image.LANCZOS) if crop.size != (128, 128) else crop)
        source = crop.resize((self.model.size, self.model.size), Image.LANCZOS)
        gender = None
        if self.settings.match_gender and self._gender is not None:
            from .identity import face_descriptors

            gender = str(self._gender.predict(face_descriptors([crop]))[0])
        return FacePrep(source, float(analysis.yaw), analysis.light, float(analysis.light_score), gender, faces, quad,
                        hires, context)

    @property
    def decode_calls(self) -> int:
        """UNet calls (of one batch) to decode the frames."""
        return self.latent.decode_calls(self.render_steps)

    def turn(self, z: torch.Tensor, source: torch.Tensor, source_yaw: float, yaws: list[float], light: str | None,
             gender: str | None, base: torch.Tensor | None = None, response: FaceResponse | None = None,
             feedback: bool = True, crop: Crop | None = None) -> Turn:
        """Frames of the face (latent ``z`` of the crop ``source``) at each yaw. With feedback and a ``response``
        of the same lines, the moves are planned from it (one decode; none when the renderer draws turns itself and
        the response has seen the model make them); with feedback and none, the calibrated
        frames are measured and those that missed are made again (a second decode, unless the renderer draws turns
        the calibrated frames already covered);
        ``feedback=False``: the calibrated frames only (``refine`` adds the feedback later). ``crop``: the photo's crop
        at its own resolution (1, 3, R, R), what the warp renderer moves (default: ``source``). A renderer that draws
        turns decodes only the ``probes`` among ``yaws`` and draws the others from their response (``_between``)."""
        route = self.trajectories.select(light, gender)
        wanted = np.asarray(yaws, float) - source_yaw
        moves = route.moves(source_yaw, yaws)
        known = response is not None and response.subset == route.subset
        if self.feedback and known:
            moves = response.plan(wanted, moves, longest_moves(route, source_yaw, YAW_RANGE))
            reached = response.changes_at(moves) if self.renderer.draws_turns else None
            if reached is not None:  # turns the model was measured to make: drawn without a decode
                drawn = self.renderer.draw(reached, source, crop)
                return Turn(drawn.frames, base, route.subset, response, 0, drawn.turns)
        probe = self._probes(yaws)
        if not known and not probe.all():
            probed = self.turn(z, source, source_yaw, [y for y, p in zip(yaws, probe) if p], light, gender, base,
                               feedback=feedback, crop=crop)
            return last(self._between(probed, route, z, source, source_yaw, wanted, moves, probe, crop))
        fed = self.feedback and feedback and not known
        draw = not (fed and self.renderer.draws_turns)  # the feedback draws each kept frame once, after its choice
        frames, base, turns = last(self._render_steps(route.latents(z, source_yaw, moves), z, source, base, crop,
                                                      draw))
        if not fed:
            return Turn(frames, base, route.subset, response if known else None, 0, turns)
        return last(self._feed_back(z, source, route, source_yaw, wanted, moves, frames, base, crop, turns))

    def _feed_back(self, z: torch.Tensor, source: torch.Tensor, route: Route, source_yaw: float,
                   wanted: np.ndarray, moves: np.ndarray, frames: torch.Tensor | None, base: torch.Tensor | None,
                   crop: Crop | None = None, turns: np.ndarray | None = None) -> Iterator[Turn | None]:
        """Measures the calibrated ``frames`` (the ``turns`` they were drawn at, else the yaw network's reading) and
        makes again, at this face's planned moves, those that missed: drawn at the turn the response gives when the
        renderer draws turns and the calibrated frames saw the model turn that far, else decoded; yields None after
        each DDIM step of the decode and after the drawing, then the ``Turn``. A renderer that draws turns draws
        only the frames kept, once each (``frames`` None: none drawn yet, ``turns`` read off the decodings)."""
        drawn_turns = turns is not None
        if not drawn_turns:
            reads = self._read_yaws(torch.cat([source.to(frames.device), _at_size(frames, self.model.size)]))
            reference, turns = reads[0], reads[1:] - reads[0]
        response = FaceResponse(route.subset, moves, turns)
        hit = np.abs(response.changes - wanted) <= self.settings.feedback_tolerance
        better = np.where(hit, moves, response.plan(wanted, moves, longest_moves(route, source_yaw, YAW_RANGE)))
        made = {} if frames is None else dict(zip(moves.tolist(), frames))  # frames at hand, by move
        read = dict(zip(moves.tolist(), response.changes.tolist()))  # the turn of each move: measured or, for a
        # renderer that draws turns, the response's for a planned move within it (not a measurement of it)
        draws = drawn_turns and self.renderer.draws_turns
        if draws:
            for m in sorted({m for m in better.tolist() if m not in read}):
                reach = response.changes_at(np.array([m]))
                if reach is not None:
                    read[m] = float(reach[0])
        fresh = sorted({m for m in better.tolist() if m not in read})
        if fresh:
            for out in self._render_steps(route.latents(z, source_yaw, fresh), z, source, base, crop, not draws):
                if out is None:
                    yield None
            again, _, turns = out
            if not drawn_turns:
                turns = self._read_yaws(_at_size(again, self.model.size)) - reference
            response = response.add(np.array(fresh), turns)
            read.update(zip(fresh, turns.tolist()))
            if again is not None:
                made.update(zip(fresh, again))
        # a face's response is not always monotonic: of its two frames, each target keeps the one nearer
        keep = [b if abs(read[b] - w) <= abs(read[m] - w) else m for m, b, w in zip(moves.tolist(), better.tolist(),
                                                                                    wanted.tolist())]
        todo = sorted({m for m in keep if m not in made})
        if todo:
            drawn = self.renderer.draw(np.array([read[m] for m in todo]), source, crop)
            made.update(zip(todo, drawn.frames))
            read.update(zip(todo, drawn.turns.tolist()))
            yield None
        yield Turn(torch.stack([made[m] for m in keep]), base, route.subset, response, len(fresh),
                   np.array([read[m] for m in keep]) if drawn_turns else None)

    def _probes(self, yaws) -> np.ndarray:
        """The yaws decoded to measure the face's turn (a mask): the ``probes`` when the renderer draws turns
        itself, else all (their frames are the decodings)."""
        return probes(yaws, self.settings.probe_every) if self.renderer.draws_turns else np.ones(len(yaws), bool)

    def _between(self, probed: Turn, route: Route, z: torch.Tensor, source: torch.Tensor, source_yaw: float,
                 wanted: np.ndarray, moves: np.ndarray, probe: np.ndarray, crop: Crop | None = None
                 ) -> Iterator[Turn | None]:
        """All the frames, from the ``probed`` ones (those of the ``probe`` mask, decoded): the others drawn at the
        turns the face's response gives at their moves, planned from it when fed back, else the calibrated moves
        read on the probes' decodings; decoded where a move lies beyond what the probes saw (None after each DDIM
        step), then the ``Turn``."""
        rest = ~probe
        if probed.response is not None:
            response = probed.response
            m = response.plan(wanted[rest], moves[rest], longest_moves(route, source_yaw, YAW_RANGE))
        else:
            response, m = FaceResponse(route.subset, moves[probe], probed.turns), moves[rest]
        reached = response.changes_at(m)
        if reached is None:
            for out in self._render_steps(route.latents(z, source_yaw, m), z, source, probed.base, crop):
                if out is None:
                    yield None
            frames, _, turns = out
        else:
            drawn = self.renderer.draw(reached, source, crop)
            frames, turns = drawn.frames, drawn.turns
        every = probed.frames.new_empty((len(probe), *probed.frames.shape[1:]))
        every[torch.from_numpy(probe)], every[torch.from_numpy(rest)] = probed.frames, frames.to(every.dtype)
        drawn_at = np.empty(len(probe))
        drawn_at[probe], drawn_at[rest] = probed.turns, turns
        yield Turn(every, probed.base, probed.subset, probed.response, probed.redone, drawn_at)

    def rotate(self, image, yaws: Iterable[float] = DEFAULT_YAWS, light: str = "auto", gender: str = "auto",
               aligned: bool = False, render_px: int = RENDER_PX, reconstruct: bool = False) -> RotationResult:
        """Frames of the face at each absolute yaw (degrees; negative: nose to the image's right), drawn at up to
        ``render_px`` by a renderer that draws the photo. ``reconstruct``: also G(z), what the model kept of the
        face, which no frame needs (a sixth of a 256 px rotation's time on a CPU; ``reconstruct`` does it later)."""
        _check_choices(light, gender)  # before the costly alignment
        t0 = time.perf_counter()
        prep = self.prepare(image, aligned, render_px)
        t1 = time.perf_counter()
        result = self.rotate_prepared(prep, yaws, light, gender, reconstruct)
        result.timings = {"analysis_s": round(t1 - t0, 3), **result.timings,
                          "total_s": round(time.perf_counter() - t0, 3)}
        return result

    def rotate_prepared(self, prep: FacePrep, yaws: Iterable[float] = DEFAULT_YAWS, light: str = "auto",
                        gender: str = "auto", reconstruct: bool = False, feedback: bool = True,
                        progress: Callable[[float], None] | None = None) -> RotationResult:
        """``rotate`` after ``prepare``: embedding, trajectory offsets and one batched decode (lets a caller report
        progress between the stages). ``reconstruct``: also G(z) in ``reconstruction`` (else None; no frame needs it);
        ``feedback=False`` returns the calibrated frames, for a caller that shows them before ``refine``;
        ``progress(fraction)`` is called after each UNet call of the embedding and the decode (a real progress bar
        on a CPU, where this takes seconds)."""
        _check_choices(light, gender)
        yaws = [float(y) for y in yaws]
        t1 = time.perf_counter()
        x = images_to_tensor([prep.source], self.model.size)
        with self.latent.reporting(progress, self.latent.embedding_calls + self.decode_calls):
            z = self.latent.embed(x)
            t2 = time.perf_counter()
            use_light = prep.light if light == "auto" else light
            use_gender = prep.gender if gender == "auto" else (None if gender == "any" else gender)
            crop = _crop_of(prep.crop, prep.context)
            turn = self.turn(z, x, prep.source_yaw, yaws, use_light, use_gender, feedback=feedback, crop=crop)
        t3 = time.perf_counter()
        recon = self.reconstruct(z) if reconstruct else None
        t4 = time.perf_counter()
        s = self.settings
        frames, framed = crops_of(turn.frames, crop)
        return RotationResult(frames, yaws, prep.source, recon, prep.source_yaw, use_light,
                              prep.light, prep.light_score, use_gender, turn.subset, prep.faces, prep.crop_quad,
                              self.latent.method, s.steps,
                              {"embedding_s": round(t2 - t1, 3), "generation_s": round(t3 - t2, 3),
                               "reconstruction_s": round(t4 - t3, 3), "total_s": round(t4 - t1, 3)},
                              latent=z, base=turn.base, decode=s.decode, residual_steps=s.residual_steps,
                              latent_t=s.latent_t, response=turn.response,
                              redone=turn.redone if self.feedback and feedback else None, crop=prep.crop,
                              context=prep.context, turns=turn.turns, framed=framed)

    def refine(self, result: RotationResult) -> RotationResult:
        """The feedback pass for a result made with ``feedback=False`` (the app shows those frames first): the same
        frames as ``rotate_prepared`` with feedback would give, up to the frames' uint8 rounding."""
        return last(self.refine_steps(result))

    def refine_steps(self, result: RotationResult) -> Iterator[RotationResult | None]:
        """``refine`` one DDIM step at a time: yields None after each step, then the refined result (the app runs
        each step as its own model job, so a slider released meanwhile waits one step, not the whole decode)."""
        if not self.feedback or result.redone is not None or result.latent is None:
            yield result
            return
        route = self.trajectories.select(result.light, result.gender)
        moves = route.moves(result.source_yaw, result.yaws)
        wanted = np.asarray(result.yaws) - result.source_yaw
        x, base, crop = self._source_and_base(result)
        frames = images_to_tensor(result.drawn, self.model.size if crop is None else result.drawn[0].width)
        probe = self._probes(result.yaws)
        turns = None if result.turns is None else result.turns[probe]
        steps = self._feed_back(result.latent, x, route, result.source_yaw, wanted[probe], moves[probe],
                                frames[torch.from_numpy(probe)], base, crop, turns)
        for turn in steps:
            if turn is None:
                yield None
        if not probe.all():
            for turn in self._between(turn, route, result.latent, x, result.source_yaw, wanted, moves, probe, crop):
                if turn is None:
                    yield None
        frames, framed = crops_of(turn.frames, crop)
        yield replace(result, frames=frames, framed=framed, response=turn.response, redone=turn.redone,
                      turns=turn.turns)

    def reconstruct(self, z: torch.Tensor) -> Image.Image:
        """G(z) without clipping: the exact inverse of the inversion, i.e. what the model kept of the face."""
        return last(self.reconstruct_steps(z))

    def reconstruct_steps(self, z: torch.Tensor) -> Iterator[Image.Image | None]:
        """``reconstruct`` one DDIM step at a time: None after each step, then G(z) (the app runs each step as its
        own model job, so a slider released meanwhile waits one step)."""
        for x in self.latent.reconstruct_steps(z):
            yield None if x is None else tensor_to_images(x)[0]

    def lines(self, light: str | None, gender: str | None) -> Route:
        """The route walked for a light class and gender (the subset ``select`` falls back to): the method plot's."""
        return self.trajectories.select(light, gender)

    def decode_moved(self, moved: torch.Tensor, z: torch.Tensor, source: torch.Tensor,
                     base: torch.Tensor | None = None,
                     crop: Crop | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(frames, base) for moved latents of the latent ``z`` of ``source`` (1, 3, H, W in [-1, 1]). Residual:
        ``base`` is Gc(z) at ``residual_steps``, decoded in the moved latents' batch unless given (the slider
        reuses it). Clipped: Gc(z + d) at ``steps``, no base. Warp: ``crop`` (default ``source``) carried along the
        flow from Gc(z + d) to Gc(z), at the crop's resolution."""
        return last(self._render_steps(moved, z, source, base, crop))[:2]

    def _render_steps(self, moved: torch.Tensor, z: torch.Tensor, source: torch.Tensor, base: torch.Tensor | None,
                      crop: Crop | None = None, draw: bool = True
                      ) -> Iterator[tuple[torch.Tensor | None, torch.Tensor | None, np.ndarray | None] | None]:
        """``decode_moved`` yielding None after each DDIM step and each part of the rendering, then (frames, base,
        the turns they were drawn at or None); ``draw=False`` (a renderer that draws turns): (None, base, the turns
        it would draw), no frame drawn."""
        with_base = self.renderer.needs_base and base is None
        for x in self.latent.decode_steps(torch.cat([moved, z]) if with_base else moved, self.render_steps):
            if x is None:
                yield None
        if with_base:
            x, base = x[:-1], x[-1:]
        if not draw:
            yield None, base, self.renderer.read_turns(x, base)
            return
        for drawn in self.renderer.render_steps(x, base, source, crop):
            if drawn is None:
                yield None
        yield drawn.frames, base, drawn.turns

    def _source_and_base(self, result: RotationResult
                         ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """An earlier result's crop as a tensor, its Gc(z) when decoded the way this engine decodes, and the crop at
        the photo's resolution when this engine warps it."""
        same = (result.decode, result.residual_steps) == (self.settings.decode, self.settings.residual_steps)
        crop = _crop_of(result.crop, result.context) if self.renderer.wants_crop else None
        return images_to_tensor([result.source], self.model.size), result.base if same else None, crop

    def frames_at(self, result: RotationResult, yaws: Iterable[float], light: str | None = None,
                  framed: bool = False) -> list[Image.Image]:
        """More frames of an earlier result's face from its cached latent: no detection, no embedding, one batched
        decode of ``len(yaws)`` latents (the app's slider and light override), planned from the face's measured
        response on the same lines (another light's lines get their own feedback pass); no decode at all for a
        renderer that draws turns, within the turns that response has seen. ``light`` overrides the result's;
        ``framed``: the frames as drawn (``RotationResult.drawn``), for a paste back into the photo."""
        if result.latent is None:
            raise ValueError("this result has no cached latent (made by an older version?): call rotate again")
        if light is not None and light not in LIGHTS:
            raise ValueError(f"light must be one of {LIGHTS}, got {light!r}")
        x, base, crop = self._source_and_base(result)
        turn = self.turn(result.latent, x, result.source_yaw, [float(y) for y in yaws], light or result.light,
                         result.gender, base, result.response, crop=crop)
        frames, drawn = crops_of(turn.frames, crop)
        return (drawn or frames) if framed else frames


def crops_of(frames: torch.Tensor, crop: Crop | None) -> tuple[list[Image.Image], list[Image.Image] | None]:
    """A renderer's frames as crops, and as drawn when it drew them over the crop's context (else None)."""
    images = tensor_to_images(frames)
    if crop is None or frames.shape[-1] == crop.size:
        return images, None
    return [inner_crop(im, crop.size) for im in images], images


def _crop_of(crop: Image.Image | None, context: Image.Image | None) -> Crop | None:
    """The renderer's crop: ``context`` (the crop with the photo around it) when there is one."""
    if crop is None:
        return None
    if context is None:
        return Crop(images_to_tensor([crop], crop.width))
    return Crop(images_to_tensor([context], context.width), (context.width - crop.width) // 2)


def _at_size(x: torch.Tensor, size: int) -> torch.Tensor:
    """Frames at the model's resolution for the yaw network (the warp renderer's come at the photo's)."""
    if x.shape[-1] == size:
        return x
    return torch.nn.functional.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True)

