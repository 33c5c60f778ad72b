"""HeadRot: the Gradio app. Upload a face photo; see it turned from -30 to +30 degrees of yaw.

Everything runs on ``headrot_core`` (the core never imports this file). Environment:

- ``HEADROT_MODEL``: a model folder (with ``trajectories/`` inside) or a Hub id; default: the embedded ``assets/``.
- ``HEADROT_STEPS``: DDIM steps for inversion and generation (default: the setting the trajectories were
  calibrated for, from their ``trajectories.json``, else the core's 20). Tests use a few.
- ``HEADROT_DEVICE``: ``cpu`` / ``cuda``; default: the GPU when present.
- ``HEADROT_FEEDBACK``: ``0`` turns the per-face feedback off (about 0.7 s faster per photo on two cores, frames
  further from their yaw; docs/EVALUATION.md); default: on when the yaw network is installed.
- ``HEADROT_EXAMPLES``: the examples folder (default ``assets/examples``, written by scripts/make_examples.py).

``python app.py [--host H] [--port P]``. On a ZeroGPU Space the model calls run under ``spaces.GPU`` when the
``spaces`` package is installed; it is never required.
"""
from __future__ import annotations

import os

import headrot_core  # noqa: F401  first: it sets OpenMP's spin count before torch loads

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline on stage: no calls home

try:  # ZeroGPU (Hugging Face Spaces): imported before torch, as it asks; model calls borrow a GPU, elsewhere a no-op.
    import spaces  # type: ignore[import-not-found]

    gpu = spaces.GPU(duration=60)
    ZERO_GPU = True
except Exception:  # not installed (the usual case), or not on a Space
    ZERO_GPU = False

    def gpu(fn):
        return fn

import argparse
import dataclasses
import logging
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from headrot_core.animation import save_animation, upscale
from headrot_core.diffusion import tensor_to_images
from headrot_core.imaging import ImageError
from headrot_core.loading import ModelNotFoundError
from headrot_core.rotation import DEFAULT_YAWS, FacePrep, HeadRotator, RotationResult

log = logging.getLogger("headrot.app")
ROOT = Path(__file__).resolve().parent
EXAMPLES_DIR = Path(os.environ.get("HEADROT_EXAMPLES") or ROOT / "assets" / "examples")  # tests: another
#: PNG text chunk written by scripts/make_examples.py: the file is already a crop in the model's convention
#: (a face sampled from the model), so face detection is skipped for it.
ALIGNED_KEY, ALIGNED_VALUE = "headrot", "aligned-crop"
YAWS = [float(y) for y in DEFAULT_YAWS]  # the strip: -30 ... +30 every 5 degrees, 13 frames
PREVIEW_PX = 512   # the big frame; model frames (64 px) are upscaled with Lanczos for a laptop or a projector
PANEL_PX = 256     # aligned crop and reconstruction
STRIP_PX = 256     # each strip frame (the gallery opens them large)
ANIMATION_PX = 384
ANIMATION_FPS = 8.0
LIGHT_CHOICES = ["auto", "left", "center", "right"]


# ------------------------------------------------------------------------------------------------ the engine


class Engine:
    """The HeadRotator, loaded once (lazily, thread-safe); a failed load is retried on the next request, so adding
    the model files later recovers without a restart."""

    def __init__(self, model: str | None = None, steps: int | None = None, device: str | None = None,
                 feedback: bool | None = None):
        self.model = model if model is not None else (os.environ.get("HEADROT_MODEL") or None)
        self.steps = steps if steps is not None else int(os.environ.get("HEADROT_STEPS") or 0) or None
        self.device = device if device is not None else (os.environ.get("HEADROT_DEVICE") or None)
        if feedback is None and os.environ.get("HEADROT_FEEDBACK"):
            feedback = os.environ["HEADROT_FEEDBACK"] not in ("0", "false", "no", "off")
        self.feedback = feedback  # None: the core's default
        self._rot: HeadRotator | None = None
        self._lock = threading.Lock()
        self.error: str | None = None
        self._thread = None if ZERO_GPU else ThreadPoolExecutor(1, thread_name_prefix="headrot-model")

    def run(self, fn, *args):
        """``fn(rotator, *args)`` on the engine's one model thread, in the caller's context (Gradio's progress).

        torch's OpenMP keeps a thread team per calling thread. Called from Gradio's worker threads, the teams
        outnumbered the two cores, libgomp then throttles its spin-waiting, and rotate() took 3.9 s instead of
        2.7 s (measured here). Under ZeroGPU the call runs in place: its GPU worker is another process."""
        if self._thread is None:
            return fn(self.get(), *args)
        return self._thread.submit(copy_context().run, lambda: fn(self.get(), *args)).result()

    def get(self) -> HeadRotator:
        if self._rot is None:
            with self._lock:
                if self._rot is None:
                    kwargs: dict[str, Any] = {"model": self.model, "device": self.device, "feedback": self.feedback}
                    if self.steps:
                        kwargs["steps"] = self.steps
                    try:
                        # without HEADROT_STEPS the core runs the trajectories' calibrated setting (their json)
                        self._rot, self.error = HeadRotator.from_pretrained(**kwargs), None
                    except (ModelNotFoundError, FileNotFoundError, OSError, ValueError) as e:
                        where = self.model or "the embedded default (assets/model, assets/trajectories)"
                        self.error = (f"The model could not be loaded from {where}: {e}. Set HEADROT_MODEL to a "
                                      "model folder that has trajectories/ inside, or restore assets/.")
                        raise ModelUnavailable(self.error) from e
        return self._rot

    def describe(self) -> str:
        rot = self._rot
        if rot is None:
            return "model not loaded yet"
        return (f"{self.model or 'embedded default'} · {rot.model.size} px · {rot.steps} DDIM steps · "
                f"{rot.embedding} · {rot.model.device.type}")


class ModelUnavailable(RuntimeError):
    pass


ENGINE = Engine()


# ------------------------------------------------------------------------------------------------ helpers


@dataclasses.dataclass
class Session:
    """One visitor's current face: the rotation (with its cached latent) and exact frames made by the slider."""

    result: RotationResult
    exact: dict[float, Image.Image] = dataclasses.field(default_factory=dict)


def fmt_yaw(yaw: float) -> str:
    return f"{yaw:+.0f}°" if float(yaw).is_integer() else f"{yaw:+.1f}°"


def is_marked_aligned(path: Any) -> bool:
    """True for a PNG written by scripts/make_examples.py (a model sample: already an aligned crop)."""
    if not isinstance(path, (str, Path)):
        return False
    try:
        with Image.open(path) as im:
            return im.info.get(ALIGNED_KEY) == ALIGNED_VALUE
    except Exception:
        return False


def user_message(e: BaseException) -> str:
    """What went wrong, in words for the person at the screen."""
    from headrot_core.face import NoFaceError

    if isinstance(e, ModelUnavailable):
        return str(e)
    if isinstance(e, NoFaceError):
        return (f"No face found: {e}. Try a photo where the face is larger, upright and roughly frontal — or, if "
                "this already is a tight aligned face crop, tick 'already an aligned face crop'.")
    if isinstance(e, ImageError):
        return f"This file cannot be used: {e}."
    if isinstance(e, MemoryError):
        return "The image is too large to process; try a smaller one."
    return f"Something went wrong ({type(e).__name__}: {e}). The app is still running; try another photo."


def strip_items(result: RotationResult) -> list[tuple[Image.Image, str]]:
    return [(shown(f, STRIP_PX), fmt_yaw(y)) for f, y in zip(result.frames, result.yaws)]


def nearest_index(yaws: list[float], yaw: float) -> int:
    return min(range(len(yaws)), key=lambda i: (abs(yaws[i] - yaw), yaws[i]))


def info_markdown(result: RotationResult) -> str:
    faces = ("aligned crop (no detection)" if result.faces is None else
             f"{result.faces}" + (" — the largest is rotated" if result.faces > 1 else ""))
    light = result.light_detected + (f" (using **{result.light}**)" if result.light != result.light_detected else "")
    return (f"**Estimated yaw:** {result.source_yaw:+.1f}°  \n"
            f"**Light:** {light}, score {result.light_score:+.2f}  \n"
            f"**Faces:** {faces}  \n"
            f"<small>trajectory: {result.subset} · {result.embedding} · {result.steps} steps · "
            + ("" if result.redone is None else f"{result.redone} frames redone by the feedback · ")
            + f"{result.timings.get('total_s', 0):.1f} s</small>")


def status_ok(text: str) -> str:
    return f"<div class='hr-ok'>{text}</div>"


def status_error(text: str) -> str:
    return f"<div class='hr-error'>⚠️ {text}</div>"


class _UnetProgress:
    """Drives a Gradio progress bar from the UNet's forward calls (inversion + generation), through a public torch
    forward hook: a real bar on a CPU where one rotation takes seconds."""

    def __init__(self, rot: HeadRotator, progress, start: float, end: float, desc: str):
        self.total = rot.embedding_calls + rot.decode_calls
        self.rot, self.progress, self.start, self.end, self.desc, self.count = rot, progress, start, end, desc, 0
        self.last, self.every = 0.0, 0.5  # seconds between updates: each one costs the browser a re-render

    def _hook(self, *_):
        self.count += 1
        now = time.perf_counter()
        if now - self.last < self.every:
            return
        self.last = now
        try:
            self.progress(self.start + (self.end - self.start) * min(self.count / self.total, 1.0), desc=self.desc)
        except Exception:
            pass

    def __enter__(self):
        self.handle = self.rot.model.unet.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc):
        self.handle.remove()
        return False


@gpu
def _rotate_prepared(prep: FacePrep, light: str, progress=None, feedback: bool = True) -> RotationResult:
    """The 13 frames, without the reconstruction (no frame needs it: ``_reconstruct`` fetches it after the strip);
    ``feedback=False``: the calibrated frames, shown at once, and ``_refine`` after them."""
    def work(rot: HeadRotator) -> RotationResult:
        if progress is None:
            return rot.rotate_prepared(prep, YAWS, light=light, reconstruct=False, feedback=feedback)
        with _UnetProgress(rot, progress, 0.15, 0.95, "inverting the face, then decoding 13 views"):
            return rot.rotate_prepared(prep, YAWS, light=light, reconstruct=False, feedback=feedback)

    result = ENGINE.run(work)
    log.info("rotated: %s", result.timings)
    return result


@gpu
def _refine_at_once(result: RotationResult) -> RotationResult:
    return ENGINE.run(lambda rot: rot.refine(result))


_DONE = object()  # a step-wise generator's end


def _step_by_step(make_steps):
    """Runs the step-wise generator ``make_steps(rotator)`` one item per model-thread job and returns its last item:
    a slider released meanwhile is decoded after at most one DDIM step (measured in docs/APP.md)."""
    steps = ENGINE.run(make_steps)
    last = None
    while (item := ENGINE.run(lambda rot: next(steps, _DONE))) is not _DONE:
        last = item
    return last


def _refine(result: RotationResult) -> RotationResult:
    """The feedback's frames, one DDIM step per model-thread job. Under ZeroGPU: one call."""
    if ZERO_GPU:
        return _refine_at_once(result)
    return _step_by_step(lambda rot: rot.refine_steps(result))


@gpu
def _reconstruct_at_once(result: RotationResult) -> Image.Image:
    return ENGINE.run(lambda rot: rot.reconstruct(result.latent))


def _reconstruct(result: RotationResult) -> Image.Image:
    """G(z) one DDIM step per model-thread job, so a slider released meanwhile is decoded after at most one step
    instead of after the whole reconstruction (measured in docs/APP.md). Under ZeroGPU: one call."""
    if ZERO_GPU:
        return _reconstruct_at_once(result)
    x = _step_by_step(lambda rot: rot.model.denoise(result.latent, rot.steps, start_t=rot.latent_t))
    return tensor_to_images(x.cpu())[0]


@gpu
def _frames_at(result: RotationResult, yaws: list[float], light: str | None = None) -> list[Image.Image]:
    return ENGINE.run(lambda rot: rot.frames_at(result, yaws, light=light))


def _prepare(image: Any, aligned: bool) -> FacePrep:
    if image is None:
        raise ImageError("no image was given")
    return ENGINE.run(lambda rot: rot.prepare(image, aligned=bool(aligned) or is_marked_aligned(image)))


_OUT_DIR = Path(tempfile.mkdtemp(prefix="headrot-app-"))
_last_prune = [0.0]


def _out_path(suffix: str) -> Path:
    """A new file in the app's temp folder (Gradio copies it into its own cache); files older than 30 minutes go."""
    now = time.time()
    if now - _last_prune[0] > 60:
        _last_prune[0] = now
        for old in _OUT_DIR.iterdir():
            try:
                if now - old.stat().st_mtime > 1800:
                    old.unlink()
            except OSError:
                pass
    return _OUT_DIR / f"{uuid.uuid4().hex[:16]}{suffix}"


def shown(img: Image.Image | None, px: int) -> str | None:
    """A display PNG: Lanczos-upscaled, written with light compression (3x faster than Gradio's own PNG)."""
    if img is None:
        return None
    path = _out_path(".png")
    upscale([img], px)[0].save(path, compress_level=1)
    return str(path)


def make_animation(frames: list[Image.Image], size: int = ANIMATION_PX, fps: float = ANIMATION_FPS) -> str:
    """Ping-pong GIF (-30 ... +30 ... -30) for the page and the API."""
    return str(save_animation(frames, _out_path(".gif"), fps=fps, size=size))


# ------------------------------------------------------------------------------------------------ callbacks

# outputs of the UI's main event, in order
UI_OUTPUTS = ("status", "crop", "reconstruction", "info", "strip", "preview", "session")


def preview_update(session: Session | None, yaw: float):
    """The frame shown for the slider's yaw: an exact one when cached, else the nearest strip frame."""
    if session is None:
        return gr.update(value=None, label="Frame at the slider's yaw")
    yaw = float(yaw)
    if yaw in session.exact:
        return gr.update(value=shown(session.exact[yaw], PREVIEW_PX), label=f"Yaw {fmt_yaw(yaw)} (exact)")
    r = session.result
    i = nearest_index(r.yaws, yaw)
    exact = r.yaws[i] == yaw
    label = (f"Yaw {fmt_yaw(yaw)} (exact)" if exact else
             f"Yaw {fmt_yaw(yaw)}: nearest strip frame {fmt_yaw(r.yaws[i])}, exact frame on release")
    return gr.update(value=shown(r.frames[i], PREVIEW_PX), label=label)


def run_ui(image, aligned: bool, light: str, yaw: float, progress=gr.Progress()):
    """Main event: photo -> detected panel (shown as soon as it is known) -> strip and frame. Bad input yields a
    message in the status line; nothing is raised, so the UI stays usable."""
    empty = (None, None, "", [], gr.update(value=None), None)
    if image is None:
        yield (status_ok("Upload a face photo, take one with the webcam, paste one, or pick an example below."),
               *empty)
        return
    try:
        progress(0.02, desc="finding and aligning the face")
        prep = _prepare(image, aligned)
        many = prep.faces is not None and prep.faces > 1
        note = f"Found {prep.faces} faces: rotating the largest. " if many else ""
        yield (status_ok(note + "Face found — rotating…"), shown(prep.source, PANEL_PX), None,
               f"**Estimated yaw:** {prep.source_yaw:+.1f}°  \n**Light:** {prep.light}, score "
               f"{prep.light_score:+.2f}", gr.update(), gr.update(), None)
        # under ZeroGPU the call runs in a GPU worker process: no progress object crosses over
        # the calibrated strip first (the feedback's second decode costs up to a second or two here): refine_for
        result = _rotate_prepared(prep, light or "auto", None if ZERO_GPU else progress, feedback=False)
        result.latent = result.latent.cpu() if result.latent is not None else None
        session = Session(result)
        progress(0.97, desc="showing the strip")
        if many:
            gr.Info(f"{prep.faces} faces in the photo: the largest one is rotated.")
        done = status_ok(note + f"Done in {result.timings.get('total_s', 0):.1f} s. Move the slider to turn the "
                         "head; the animation follows.")
        yield (done, gr.update(), None, info_markdown(result), strip_items(result), preview_update(session, yaw),
               session)
    except Exception as e:  # every failure becomes a message; the app keeps serving
        if not isinstance(e, (ImageError, ModelUnavailable, ValueError)):
            log.exception("rotation failed")
        msg = user_message(e)
        gr.Warning(msg)
        yield (status_error(msg), *empty)


def relight(light: str, session: Session | None, yaw: float, progress=gr.Progress()):
    """The light override: same face and latent, the other light's trajectory (one batched decode)."""
    if session is None:
        return gr.update(), gr.update(), gr.update(), session
    r = session.result
    use = r.light_detected if light in (None, "auto") else light
    if use == r.light:
        return gr.update(), gr.update(), gr.update(), session
    try:
        progress(0.1, desc=f"decoding 13 views on the '{use}' light trajectory")
        frames = _frames_at(r, r.yaws, light=use)
        subset = ENGINE.get().trajectories.select(use, r.gender).subset
    except Exception as e:
        log.exception("relight failed")
        gr.Warning(user_message(e))
        return gr.update(), gr.update(), gr.update(), session
    new = Session(dataclasses.replace(r, frames=frames, light=use, subset=subset))
    return info_markdown(new.result), strip_items(new.result), preview_update(new, yaw), new


def slide(yaw: float, session: Session | None):
    """While dragging: the nearest strip frame (no model call, instant)."""
    return preview_update(session, yaw)


def release(yaw: float, session: Session | None):
    """Slider released: the exact frame at that yaw from the cached latent (one decode, no re-embedding)."""
    if session is None:
        return gr.update()
    yaw = float(yaw)
    r = session.result
    if yaw not in session.exact and yaw not in r.yaws:
        try:
            session.exact[yaw] = _frames_at(r, [yaw])[0]
        except Exception as e:
            log.exception("exact frame failed")
            gr.Warning(user_message(e))
            return preview_update(session, yaw)
    return preview_update(session, yaw)


def refine_for(session: Session | None, yaw: float):
    """After the calibrated strip: the frames the yaw network read off their yaw, decoded again (the feedback). Its
    own concurrency group and one DDIM step per model job, so the slider's events do not wait for it."""
    if session is None or session.result.redone is not None:
        return gr.update(), gr.update(), gr.update(), session
    try:
        refined = _refine(session.result)
    except Exception as e:
        log.exception("feedback failed")
        gr.Warning(user_message(e))
        return gr.update(), gr.update(), gr.update(), session
    if refined is session.result:  # feedback off
        return gr.update(), gr.update(), gr.update(), session
    session.result, session.exact = refined, {}  # in place: a release that ran meanwhile sees the new frames
    return info_markdown(refined), strip_items(refined), preview_update(session, yaw), session


def reconstruction_for(session: Session | None):
    """The detected panel's reconstruction, after the strip and the animation: no frame needs G(z). Its own
    concurrency group, so the slider's events (group "model") start at once and interleave with its steps."""
    if session is None:
        return None
    r = session.result
    if r.reconstruction is None:
        try:
            r.reconstruction = _reconstruct(r)
        except Exception as e:
            log.exception("reconstruction failed")
            gr.Warning(user_message(e))
            return None
    return shown(r.reconstruction, PANEL_PX)


def animation_for(session: Session | None):
    if session is None:
        return None
    return make_animation(session.result.frames)


def rotate_api(image):
    """Named API ``/rotate``: one image in; the 13 frames (-30 ... +30 degrees, a gallery) and the ping-pong GIF
    out. A PNG marked by scripts/make_examples.py (a sampled face) is taken as an aligned crop; any other image goes
    through face detection. Errors come back as a message (gradio_client raises it)."""
    try:
        prep = _prepare(image, False)
        result = _rotate_prepared(prep, "auto")
    except Exception as e:
        if not isinstance(e, (ImageError, ModelUnavailable, ValueError)):
            log.exception("rotation failed")
        raise gr.Error(user_message(e), duration=None, print_exception=False) from e
    return strip_items(result), make_animation(result.frames)


# ------------------------------------------------------------------------------------------------ the UI


def photo_input(**kwargs) -> gr.Image:
    """A ``gr.Image`` that hands the uploaded file to the core untouched: ``headrot_core.imaging`` reads it (EXIF,
    16-bit, RGBA, size limits) and says in words what is wrong with a bad file, instead of Gradio failing first.
    (An instance override, not a subclass: a Component subclass makes Gradio write a .pyi stub next to app.py.)"""
    comp = gr.Image(type="filepath", image_mode=None, **kwargs)
    base = comp.preprocess

    def preprocess(payload):
        if payload is None:
            return None
        if getattr(payload, "path", None) and not (payload.url or "").startswith("data:"):
            return str(payload.path)
        return base(payload)

    comp.preprocess = preprocess
    return comp


CSS = """
.hr-error { color: #b42318; background: #fef3f2; border: 1px solid #fda29b; border-radius: 8px; padding: 8px 12px;
            font-weight: 600; }
.hr-ok { padding: 8px 2px; }
#preview img, #crop img, #reconstruction img, #animation img { image-rendering: auto; object-fit: contain; }
/* the strip: one row of 13 square frames that share the page's width, on a laptop or a projector */
#strip .grid-wrap { height: auto !important; max-height: none !important; min-height: 0 !important; padding-top: 26px;
                    overflow: visible !important; }
#strip .grid-container { grid-template-columns: repeat(13, minmax(0, 1fr)) !important; grid-auto-rows: auto !important;
                         gap: 6px !important; }
#strip .thumbnail-item { aspect-ratio: 1 / 1; height: auto !important; min-width: 0 !important; width: 100%; }
#strip .thumbnail-item img { width: 100%; height: 100%; object-fit: contain; image-rendering: auto; }
"""

HOW_IT_WORKS = """
HeadRot reproduces **A. Asperti, G. Colasuonno, A. Guerra, *Head Rotation in Denoising Diffusion Models*
(arXiv:2308.06057, 2023; published as *Illumination and Shadows in Head Rotation: Experiments with Denoising Diffusion
Models*, Electronics 13(15):3091, 2024)**. No network is trained for rotation:

1. **Face.** The face is detected (dlib), aligned to the CelebA crop the model was trained on, and measured: yaw in
   degrees (negative: the nose points to the image's right) and the side the light comes from (left/center/right).
2. **Embedding.** The crop is mapped to the model's latent space by DDIM inversion: half-way, to the noisy image
   *x_t* at t = 499 of a deterministic DDIM model (the paper uses the starting noise *x_T*; half-way, this small
   model decodes moved latents to coherent faces); decoding it gives the *reconstruction*.
3. **Trajectory.** In that latent space the faces of a given yaw cluster together. For faces sharing the detected
   light, the centroids of those clusters were regressed on yaw (light × gender subsets measured worse): two lines,
   one for turning left and one for turning right. Their directions are denoised (spatially smoothed), and how far
   a face actually turns along them was measured, so the latent moves by the amount that reached *target − source*
   degrees on average.
4. **Generation.** The 13 moved latents are decoded in one DDIM batch: each frame is the photo plus the change the
   move makes to the decoded face (so the frame at the photo's own yaw is the photo).
5. **Feedback.** A small yaw network reads each frame; the frames that missed their yaw by more than 3° are decoded
   again, at the moves this face's own measured turns say reach it (a face at the limit of its turn repeats its
   furthest frame). The strip shows the first frames at once and the corrected ones replace them a moment later.
   The slider shows the nearest strip frame at once and decodes the exact yaw, planned the same way, when released;
   the light override picks another line.

The model is small and trained by this project on CelebA crops at 64×64 (see `docs/`), so faces are soft; frames are
upscaled with Lanczos for display. Code: `headrot_core` (library and CLI) and `app.py` (this app).
"""


def example_paths() -> list[str]:
    if not EXAMPLES_DIR.is_dir():
        return []
    return [str(p) for p in sorted(EXAMPLES_DIR.glob("*.png"))]


def build_demo(engine: Engine | None = None) -> gr.Blocks:
    global ENGINE
    if engine is not None:
        ENGINE = engine
    with gr.Blocks(title="HeadRot — head rotation with a diffusion model", delete_cache=(900, 1800)) as demo:
        gr.Markdown("# HeadRot\nTurn the head in a face photo from **−30° to +30°** by walking straight lines in the "
                    "latent space of a denoising diffusion model. Runs offline on the CPU.")
        if ENGINE.error:
            gr.Markdown(status_error(ENGINE.error))
        status = gr.Markdown(status_ok("Upload a face photo, take one with the webcam, paste one, or pick an "
                                       "example below."), elem_id="status")
        session = gr.State(None, time_to_live=3600)
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                photo = photo_input(label="Photo", height=380,
                                   sources=["upload", "webcam", "clipboard"], elem_id="photo")
                aligned = gr.Checkbox(False, label="already an aligned face crop (skip face detection)",
                                      elem_id="aligned")
                paths = example_paths()
                if paths:
                    gr.Examples([[p] for p in paths], inputs=[photo], label="Examples: faces sampled from the "
                                "shipped model", examples_per_page=12, elem_id="examples")
                else:
                    gr.Markdown("<small>No examples yet: run `python scripts/make_examples.py`.</small>")
            with gr.Column(scale=5):
                gr.Markdown("### Detected")
                with gr.Row():
                    crop = gr.Image(label="Aligned crop", format="png", interactive=False, height=PANEL_PX,
                                    elem_id="crop", buttons=["download"])
                    recon = gr.Image(label="Reconstruction (decoded latent)", format="png", interactive=False,
                                     height=PANEL_PX, elem_id="reconstruction", buttons=["download"])
                info = gr.Markdown("", elem_id="info")
                light = gr.Radio(LIGHT_CHOICES, value="auto", label="Light trajectory (override)",
                                 elem_id="light")
        with gr.Row(equal_height=False):
            with gr.Column(scale=6):
                preview = gr.Image(label="Frame at the slider's yaw", format="png", interactive=False,
                                   height=PREVIEW_PX, elem_id="preview", buttons=["download", "fullscreen"])
                yaw = gr.Slider(-30, 30, value=0, step=1, label="Yaw (degrees; negative: nose to the image's right)",
                                elem_id="yaw")
            with gr.Column(scale=4):
                animation = gr.Image(label="Animation (ping-pong GIF)", type="filepath", interactive=False,
                                     height=ANIMATION_PX + 40, elem_id="animation",
                                     buttons=["download", "fullscreen"])
        strip = gr.Gallery(label="Rotation strip: −30° … +30°", columns=13, rows=1, format="png",
                           object_fit="contain", elem_id="strip", allow_preview=True, interactive=False)
        with gr.Accordion("How it works", open=False):
            gr.Markdown(HOW_IT_WORKS)
        gr.Markdown(f"<small>Model: {ENGINE.describe() if ENGINE._rot else 'loads on the first photo'}. "
                    "API: `/rotate` (image → 13 frames + GIF) with gradio_client.</small>")

        ui_outputs = [status, crop, recon, info, strip, preview, session]
        main = gr.on([photo.change, aligned.input], run_ui, [photo, aligned, light, yaw], ui_outputs,
                     concurrency_id="model", concurrency_limit=1, api_visibility="private",
                     show_progress_on=[status])
        main.then(refine_for, [session, yaw], [info, strip, preview, session], concurrency_id="refine",
                  concurrency_limit=1, api_visibility="private", show_progress="hidden").then(
            animation_for, [session], [animation], concurrency_id="encode", concurrency_limit=2,
            api_visibility="private", show_progress="minimal").then(
            reconstruction_for, [session], [recon], concurrency_id="reconstruct", concurrency_limit=1,
            api_visibility="private", show_progress="hidden")
        lit = light.input(relight, [light, session, yaw], [info, strip, preview, session], concurrency_id="model",
                          concurrency_limit=1, api_visibility="private", show_progress_on=[strip, preview])
        lit.then(animation_for, [session], [animation], concurrency_id="encode", concurrency_limit=2,
                 api_visibility="private", show_progress="minimal")
        yaw.input(slide, [yaw, session], [preview], queue=False, show_progress="hidden", trigger_mode="always_last",
                  api_visibility="private")
        yaw.release(release, [yaw, session], [preview], concurrency_id="model", concurrency_limit=1,
                    show_progress="minimal", trigger_mode="always_last", api_visibility="private")

        # the named API: one image in, the strip (gallery) and the animation out
        api_button = gr.Button("rotate", visible=False)
        api_button.click(rotate_api, [photo], [strip, animation], api_name="rotate", concurrency_id="model",
                         concurrency_limit=1)
    return demo


def serve(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = 7860, share: bool = False, **kwargs):
    """Queue and launch with the app's CSS; up to 64 waiting requests, served one model call at a time."""
    return demo.queue(max_size=64).launch(server_name=host, server_port=port, share=share, max_file_size="60mb",
                                          css=CSS, footer_links=["api", "gradio"], **kwargs)


def warm_up(rot: HeadRotator) -> None:
    """Start-up: the face models load and one example is rotated, so the first visitor (on stage: the first photo
    of the talk) does not pay for them: the browser test's first upload took 4.6–6.7 s without it, 3.7–4.1 s with
    it (docs/APP.md)."""
    from headrot_core.face import load_models

    load_models()
    for path in example_paths()[:1]:
        rot.rotate(path, yaws=YAWS, aligned=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="HeadRot app: rotate the head in a face photo (-30..+30 degrees)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="interface to listen on (0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="a public gradio.live link (needs the network)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:  # load now so the first photo is fast; a missing model is shown in the UI and the app still serves
        ENGINE.run(warm_up)  # loads on the model thread, where every model call will run
        log.info("model: %s", ENGINE.describe())
    except ModelUnavailable as e:
        log.error("%s", e)
    serve(build_demo(), args.host, args.port, share=args.share)


if __name__ == "__main__":
    main()
