"""HeadRot: the Gradio app. Upload a face photo; see it turned from -30 to +30 degrees of yaw.

Everything runs on ``headrot_core`` (the core never imports this file). Environment:

- ``HEADROT_MODEL``: a model folder (with ``trajectories/`` inside) or a Hub id; default: the embedded ``assets/``.
- ``HEADROT_STEPS``: DDIM steps for inversion and generation (default: the setting the trajectories were
  calibrated for, from their ``trajectories.json``, else the core's 20). Tests use a few.
- ``HEADROT_DEVICE``: ``cpu`` / ``cuda``; default: the GPU when present.
- ``HEADROT_FEEDBACK``: ``0`` turns the per-face feedback off (about 0.7 s faster per photo on two cores, frames
  further from their yaw; docs/EVALUATION.md); default: on when the yaw network is installed.
- ``HEADROT_EXAMPLES``: the examples folder (default ``assets/examples``, written by scripts/make_examples.py).
- ``HEADROT_JOB_TIMEOUT``: seconds one model job may take before its request is answered with a message and the
  model thread replaced (default 120: one rotation takes about 3 s on two CPU cores).

What a request may and may not do (files it names, memory, disk, time) is in docs/SECURITY.md: a file is read only
if it is a regular file in Gradio's upload folder or the examples folder, every message is free of server paths,
and this instance's files live in one folder of the temp directory, removed at exit (SIGTERM included) or, after a
kill, at the next start.

The page shows the whole photo turning by default (frames pasted back into the uploaded photo by
``headrot_core.compose``), or the face crop; an MP4 beside the GIF; the method's plot for this face, redrawn as the
slider moves; the arrow keys turn the head by 5 degrees. Two named endpoints: ``/rotate`` (the crop's 13 frames and
a GIF) and ``/rotate_photo`` (the 13 frames pasted back into the photo, and an MP4).

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
import atexit
import ctypes
import ctypes.util
import dataclasses
import functools
import hashlib
import json
import logging
import queue
import re
import shutil
import signal
import stat
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from contextvars import copy_context
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from gradio.exceptions import InvalidPathError
from gradio.utils import get_upload_folder
from PIL import Image

from headrot_core.animation import save_animation, save_video, upscale
from headrot_core.compose import inner_crop, paste_frames, shrink
from headrot_core.explain import method_plot, method_sentence
from headrot_core.imaging import ImageError, load_image
from headrot_core.loading import ModelNotFoundError
from headrot_core.rotation import DEFAULT_YAWS, TURNED_AWAY, FacePrep, HeadRotator, RotationResult

log = logging.getLogger("headrot.app")
ROOT = Path(__file__).resolve().parent
EXAMPLES_DIR = Path(os.environ.get("HEADROT_EXAMPLES") or ROOT / "assets" / "examples")  # tests: another
PHOTO_PREFIX = "public_"  # the examples that are photographs of real people (scripts/public_photos.py)
#: PNG text chunk written by scripts/make_examples.py: the file is already a crop in the model's convention (a face
#: sampled from the model), so face detection is skipped for it: for the examples' own bytes only (is_marked_aligned).
ALIGNED_KEY, ALIGNED_VALUE = "headrot", "aligned-crop"
YAWS = [float(y) for y in DEFAULT_YAWS]  # the strip: -30 ... +30 every 5 degrees, 13 frames
PREVIEW_PX = 512   # the big frame; frames (the photo's crop, up to RENDER_PX) are resampled with Lanczos for a projector
STAGE_PX = 768     # the whole photo on the page (big view, strip, MP4, GIF): 13 pastes + the strip's PNGs 0.2 s
API_PX = 1024      # /rotate_photo's frames and MP4: a 1024 px portrait at its own resolution
PANEL_PX = 256     # aligned crop and reconstruction
STRIP_PX = 256     # each strip frame (the gallery opens them large)
ANIMATION_PX = 384
ANIMATION_FPS = 8.0
EXACT_KEPT = 12  # the slider's exact frames a visitor's session keeps (``Session.keep_exact``)
LIGHT_CHOICES = ["auto", "left", "center", "right"]
WHOLE, CROP = "whole photo", "face crop"  # the page's two views of the frames
JOB_TIMEOUT_S = float(os.environ.get("HEADROT_JOB_TIMEOUT") or 120)
QUEUE_SIZE = 64     # requests waiting at most; one more gets Gradio's "queue full" (docs/SECURITY.md)
OUTPUT_TTL_S = 300  # display files and uploads are deleted this long after they were written
OUTPUT_CAP_MB = 200  # display files beyond this, oldest first, are deleted too: about 70 rotations (docs/SECURITY.md)


# ------------------------------------------------------------------------------------------------ the engine


class ModelThread:
    """One daemon thread that runs submitted jobs in order. A daemon, so a job stuck past its time bound cannot keep
    the process from exiting (ThreadPoolExecutor joins its threads at exit)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="headrot-model", daemon=True).start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        self._jobs.put((future, fn, args))
        return future

    def retire(self) -> ModelThread:
        """A new thread that takes over the jobs not started yet; this one ends after its current job, if ever."""
        fresh = ModelThread()
        while True:
            try:
                fresh._jobs.put(self._jobs.get_nowait())
            except queue.Empty:
                break
        self._jobs.put(None)
        return fresh

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn, args = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as e:  # noqa: BLE001  handed to the caller
                    future.set_exception(e)


class JobTimeout(RuntimeError):
    pass


class Engine:
    """The HeadRotator, loaded once (lazily, thread-safe); a failed load is retried on the next request, so adding
    the model files later recovers without a restart."""

    def __init__(self, model: str | None = None, steps: int | None = None, device: str | None = None,
                 feedback: bool | None = None, timeout: float = JOB_TIMEOUT_S):
        self.model = model if model is not None else (os.environ.get("HEADROT_MODEL") or None)
        self.steps = steps if steps is not None else int(os.environ.get("HEADROT_STEPS") or 0) or None
        self.device = device if device is not None else (os.environ.get("HEADROT_DEVICE") or None)
        if feedback is None and os.environ.get("HEADROT_FEEDBACK"):
            feedback = os.environ["HEADROT_FEEDBACK"] not in ("0", "false", "no", "off")
        self.feedback = feedback  # None: the core's default
        self._rot: HeadRotator | None = None
        self._lock = threading.Lock()
        self.error: str | None = None
        self.timeout = timeout
        self._swap = threading.Lock()
        self._thread = None if ZERO_GPU else ModelThread()

    def run(self, fn, *args):
        """``fn(rotator, *args)`` on the engine's one model thread, in the caller's context (Gradio's progress).

        torch's OpenMP keeps a thread team per calling thread. Called from Gradio's worker threads, the teams
        outnumbered the two cores, libgomp then throttles its spin-waiting, and rotate() took 3.9 s instead of
        2.7 s (measured here). Under ZeroGPU the call runs in place: its GPU worker is another process.

        A job not done within ``timeout`` seconds raises ``JobTimeout``, so its request is answered and its queue
        slot freed; if it had started, the thread is replaced, so the jobs behind it run."""
        thread = self._thread
        if thread is None:
            return fn(self.get(), *args)
        future = thread.submit(copy_context().run, lambda: fn(self.get(), *args))
        try:
            return future.result(timeout=self.timeout)
        except TimeoutError:
            if not future.cancel():
                with self._swap:
                    if self._thread is thread:
                        log.error("a model job ran over %g s: the model thread is replaced", self.timeout)
                        self._thread = thread.retire()
            raise JobTimeout(f"the work took longer than {self.timeout:g} s and was stopped waiting for; try "
                             "again, or a smaller photo") from None

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
        name = Path(self.model).name if self.model and Path(self.model).exists() else self.model  # no server path
        return (f"{name or 'embedded default'} · {rot.model.size} px · {rot.settings.steps} DDIM steps · "
                f"{rot.latent.method} · {rot.model.device.type}")


class ModelUnavailable(RuntimeError):
    pass


ENGINE = Engine()


# ------------------------------------------------------------------------------------------------ helpers


@dataclasses.dataclass(frozen=True)
class Stage:
    """The uploaded photo at display size, the face's corners in it (where frames are pasted back) and the crop's
    side in the frames' pixels (a larger frame brings the photo around the crop with it)."""

    photo: Image.Image
    quad: np.ndarray
    crop_px: int | None = None

    @classmethod
    def of(cls, photo: Image.Image, crop_quad, max_side: int, crop: Image.Image | None = None) -> Stage | None:
        """None for an aligned crop (no quad: there is no photo around the face)."""
        if crop_quad is None:
            return None
        return cls(*shrink(photo, crop_quad, max_side), None if crop is None else crop.width)

    def paste(self, frames: list[Image.Image]) -> list[Image.Image]:
        return paste_frames(self.photo, self.quad, frames, crop_px=self.crop_px)

    def crops(self, frames: list[Image.Image]) -> list[Image.Image]:
        return frames if self.crop_px is None else [inner_crop(f, self.crop_px) for f in frames]


@dataclasses.dataclass
class Session:
    """One visitor's current face: the rotation (with its cached latent and its frames: 52 MB for a large photo's 13
    frames at 640 px), the photo it came from (at display size; frames are pasted into it when shown, not kept) and
    exact frames made by the slider (as drawn, ``RotationResult.drawn``: the crop view takes their centre)."""

    result: RotationResult
    stage: Stage | None = None
    exact: dict[float, Image.Image] = dataclasses.field(default_factory=dict)

    def keep_exact(self, yaw: float, frame: Image.Image) -> None:
        """Caches the slider's exact frame, dropping the oldest beyond ``EXACT_KEPT``: a 640 px frame over its
        context is 2.8 MB, and every integer yaw the slider stops at would otherwise stay for the session's hour."""
        self.exact[yaw] = frame
        while len(self.exact) > EXACT_KEPT:
            del self.exact[next(iter(self.exact))]


def fmt_yaw(yaw: float) -> str:
    return f"{yaw:+.0f}°" if float(yaw).is_integer() else f"{yaw:+.1f}°"


class FileRefused(ImageError):
    """A request named a file the app does not read: anything but a regular file in Gradio's upload folder or the
    examples folder. One message for every case, so it tells nothing about the server's files."""

    def __init__(self) -> None:
        super().__init__("only a photo uploaded to this page in the last few minutes, or one of its examples, can "
                         "be read; upload it again")


def allowed_roots() -> list[Path]:
    """The folders a request's file may be in: Gradio's upload folder (uploads, webcam, clipboard) and the examples."""
    return [Path(get_upload_folder()).resolve(), EXAMPLES_DIR.resolve()]


def checked_file(path: Any) -> str:
    """``path`` resolved, if it is a regular file in ``allowed_roots()``; else ``FileRefused``. Nothing is opened:
    the real path's place and ``lstat``, so a symlink out of the cache, a pipe, a device or /proc never reaches a
    reader (a pipe stalled the model thread)."""
    try:
        real = Path(os.path.realpath(path))
        inside = any(real.is_relative_to(root) for root in allowed_roots())
        regular = inside and stat.S_ISREG(os.lstat(real).st_mode)
    except (OSError, ValueError, TypeError):
        regular = False
    if not regular:
        log.warning("refused a request's file: %r", path)
        raise FileRefused()
    return str(real)


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@functools.lru_cache(maxsize=4)
def _example_digests(folder: str) -> frozenset[tuple[int, str]]:
    """(size, sha256) of each PNG in ``folder`` that carries the aligned-crop marker."""
    marked = []
    for p in sorted(Path(folder).glob("*.png")):
        with Image.open(p) as im:
            if im.info.get(ALIGNED_KEY) == ALIGNED_VALUE:
                marked.append((p.stat().st_size, _sha256(p)))
    return frozenset(marked)


def is_marked_aligned(path: Any) -> bool:
    """True for one of the app's own examples (model samples written by scripts/make_examples.py, already aligned
    crops): a file with the same bytes as a marked PNG of the examples folder. Compared by content, as the page and
    API clients hand over copies; the marker itself in any other file counts for nothing, as anyone can write it."""
    if not isinstance(path, (str, Path)):
        return False
    try:
        size = os.stat(path).st_size
        digests = _example_digests(str(EXAMPLES_DIR.resolve()))
        return any(s == size for s, _ in digests) and (size, _sha256(path)) in digests
    except OSError:
        return False


_ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/])/[^\s'\"`,;:()]+")


def without_paths(text: str) -> str:
    """``text`` with every absolute path replaced by "…": messages reach visitors, and server paths must not."""
    return _ABSOLUTE_PATH.sub("…", text)


def user_message(e: BaseException) -> str:
    """What went wrong, in words for the person at the screen, without any server path (the log has the details)."""
    from headrot_core.face import NoFaceError

    if isinstance(e, (ModelUnavailable, JobTimeout)):
        text = str(e)
    elif isinstance(e, NoFaceError):
        text = (f"No face found: {e}. Try a photo where the face is larger, upright and roughly frontal — or, if "
                "this already is a tight aligned face crop, tick 'already an aligned face crop'.")
    elif isinstance(e, ImageError):
        text = f"This file cannot be used: {e}."
    elif isinstance(e, MemoryError):
        text = "The image is too large to process; try a smaller one."
    else:
        text = f"Something went wrong ({type(e).__name__}). The app is still running; try another photo."
    return without_paths(text)


def faces_note(faces: int | None) -> str:
    """How many faces a photo had, for the /rotate API's notice."""
    if faces is None:
        return "One of the app's examples: an aligned crop, no face detection."
    if faces > 1:
        return f"{faces} faces found: the largest one is rotated."
    return "1 face found."


def strip_items(frames: list[Image.Image], yaws: list[float]) -> list[tuple[str, str]]:
    return [(shown(f, STRIP_PX), fmt_yaw(y)) for f, y in zip(frames, yaws)]


def is_whole(session: Session, view: str | None) -> bool:
    """The whole photo is shown unless the visitor chose the crop or there is no photo (an aligned crop input)."""
    return view != CROP and session.stage is not None


def in_view(session: Session, frames: list[Image.Image], view: str | None) -> list[Image.Image]:
    """``frames`` (as drawn) as the page shows them: pasted back into the photo, or the crop."""
    if session.stage is None:
        return frames
    return session.stage.paste(frames) if is_whole(session, view) else session.stage.crops(frames)


def strip_update(session: Session, view: str | None):
    r = session.result
    shown_as = WHOLE if is_whole(session, view) else CROP
    return gr.update(value=strip_items(in_view(session, r.drawn, view), r.yaws),
                     label=f"Rotation strip, {shown_as}: −30° … +30°")


def nearest_index(yaws: list[float], yaw: float) -> int:
    return min(range(len(yaws)), key=lambda i: (abs(yaws[i] - yaw), yaws[i]))


def info_markdown(result: RotationResult) -> str:
    faces = ("aligned crop (no detection)" if result.faces is None else
             f"{result.faces}" + (" — the largest is rotated" if result.faces > 1 else ""))
    light = result.light_detected + (f" (using **{result.light}**)" if result.light != result.light_detected else "")
    caveat = (f"<small>Turned {abs(result.source_yaw):.0f}° away: frames near and past frontal may show smears "
              f"at the far cheek or under the chin, where the photo hides the face. Faces within "
              f"±{TURNED_AWAY:.0f}° turn best.</small>  \n" if result.turned_away else "")
    return (f"**Estimated yaw:** {result.source_yaw:+.1f}°  \n" + caveat +
            f"**Light:** {light}, score {result.light_score:+.2f}  \n"
            f"**Faces:** {faces}  \n"
            f"<small>trajectory: {result.subset} · {result.embedding} · {result.steps} steps · "
            + ("" if result.redone is None else f"{result.redone} frames decoded again by the feedback · ")
            + f"{result.timings.get('total_s', 0):.1f} s</small>")


def status_ok(text: str) -> str:
    return f"<div class='hr-ok'>{text}</div>"


def status_error(text: str) -> str:
    return f"<div class='hr-error'>⚠️ {text}</div>"


class _Progress:
    """The engine's progress callback onto a Gradio progress bar, between ``start`` and ``end`` of it, at most every
    half second: each update costs the browser a re-render."""

    def __init__(self, progress, start: float, end: float, desc: str):
        self.progress, self.start, self.end, self.desc = progress, start, end, desc
        self.last, self.every = 0.0, 0.5

    def __call__(self, fraction: float) -> None:
        now = time.perf_counter()
        if now - self.last < self.every:
            return
        self.last = now
        try:
            self.progress(self.start + (self.end - self.start) * fraction, desc=self.desc)
        except Exception:
            pass


@gpu
def _rotate_prepared(prep: FacePrep, light: str, progress=None, feedback: bool = True) -> RotationResult:
    """The 13 frames, without the reconstruction (no frame needs it: ``_reconstruct`` fetches it after the strip);
    ``feedback=False``: the calibrated frames, shown at once, and ``_refine`` after them."""
    def work(rot: HeadRotator) -> RotationResult:
        report = None if progress is None else _Progress(progress, 0.15, 0.95,
                                                         "inverting the face, then decoding 13 views")
        return rot.rotate_prepared(prep, YAWS, light=light, reconstruct=False, feedback=feedback, progress=report)

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
    return _step_by_step(lambda rot: rot.reconstruct_steps(result.latent))


@gpu
def _frames_at(result: RotationResult, yaws: list[float], light: str | None = None) -> list[Image.Image]:
    """The frames as drawn (``RotationResult.drawn``): the page pastes them or takes their centre."""
    return ENGINE.run(lambda rot: rot.frames_at(result, yaws, light=light, framed=True))


def _libc_malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _libc_malloc_trim()


def release_freed_memory() -> None:
    """Hands the heap memory freed by face detection back to the system (glibc's ``malloc_trim``). Its passes on a
    large photo free a few hundred MB in pieces that glibc keeps for reuse: after three 7999 px JPEGs the process
    stayed +56, +72 and +103 MB above its level without this, +8, +24 and +24 MB with it (docs/SECURITY.md)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _prepare(image: Any, aligned: bool) -> tuple[FacePrep, Image.Image]:
    """The face of a request's photo, and the photo as the core read it (``crop_quad``'s frame); the file is checked
    (``checked_file``) before anything opens it."""
    if image is None:
        raise ImageError("no image was given")
    path = checked_file(image)

    def work(rot: HeadRotator) -> tuple[FacePrep, Image.Image]:
        photo = load_image(path)
        return rot.prepare(photo, aligned=bool(aligned) or is_marked_aligned(path)), photo

    try:
        return ENGINE.run(work)
    finally:
        release_freed_memory()


INSTANCE_PREFIX = "headrot-app-"
#: This process's folder in the temp directory: display files in ``out/``; with ``python app.py`` also Gradio's
#: upload folder (unless GRADIO_TEMP_DIR is set), so display files are not copied again. Removed at exit.
INSTANCE_DIR = Path(tempfile.mkdtemp(prefix=f"{INSTANCE_PREFIX}{os.getpid()}-"))
_OUT_DIR = INSTANCE_DIR / "out"
_OUT_DIR.mkdir()
atexit.register(shutil.rmtree, INSTANCE_DIR, ignore_errors=True)
_last_prune = [0.0]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


def remove_stale_instances(tmp: Path | None = None) -> list[Path]:
    """Removes the folders of app instances that died without cleaning up (kill -9, power loss): names carry the
    pid, and a folder whose process is gone is removed. Returns them."""
    stale = []
    for folder in Path(tmp or tempfile.gettempdir()).glob(f"{INSTANCE_PREFIX}*"):
        m = re.fullmatch(rf"{INSTANCE_PREFIX}(\d+)-\w+", folder.name)
        if m and folder.is_dir() and not folder.is_symlink() and not pid_alive(int(m[1])):
            shutil.rmtree(folder, ignore_errors=True)
            stale.append(folder)
    return stale


def prune(folder: Path, now: float, ttl: float = OUTPUT_TTL_S, cap_bytes: int = OUTPUT_CAP_MB * 2**20) -> None:
    """Deletes the files of ``folder`` older than ``ttl`` seconds, then the oldest until the rest fit in
    ``cap_bytes``: the disk a busy app uses is bounded whatever its rate of requests."""
    files = []
    for path in folder.iterdir():
        try:
            st = path.stat()
        except OSError:
            continue
        files.append((st.st_mtime, st.st_size, path))
    kept = 0
    for mtime, size, path in sorted(files, key=lambda f: f[0], reverse=True):
        kept += size
        if now - mtime > ttl or kept > cap_bytes:
            path.unlink(missing_ok=True)


def _out_path(suffix: str) -> Path:
    """A new file in the app's display folder, which is pruned every 10 s (``prune``). Gradio deletes what it
    delivered after ``OUTPUT_TTL_S`` too (``delete_cache``), and the uploads."""
    now = time.time()
    if now - _last_prune[0] > 10:
        _last_prune[0] = now
        prune(_OUT_DIR, now)
    return _OUT_DIR / f"{uuid.uuid4().hex[:16]}{suffix}"


def shown(img: Image.Image | None, px: int | None) -> str | None:
    """A display PNG, its long side Lanczos-scaled to ``px`` (None: as it is), written with light compression (3x
    faster than Gradio's own PNG)."""
    if img is None:
        return None
    path = _out_path(".png")
    (upscale([img], px)[0] if px else img).save(path, compress_level=1)
    return str(path)


def make_animation(frames: list[Image.Image], size: int = ANIMATION_PX, fps: float = ANIMATION_FPS) -> str:
    """Ping-pong GIF (-30 ... +30 ... -30) for the page and the API."""
    return str(save_animation(frames, _out_path(".gif"), fps=fps, size=size))


def make_video(frames: list[Image.Image], fps: float = ANIMATION_FPS) -> str:
    """Ping-pong H.264 MP4, at least 512 px on its short side, for the page's video element and the API."""
    return str(save_video(frames, _out_path(".mp4"), fps=fps))


# ------------------------------------------------------------------------------------------------ callbacks

# outputs of the UI's main event, in order
UI_OUTPUTS = ("status", "crop", "reconstruction", "info", "strip", "preview", "session")


def preview_update(session: Session | None, yaw: float, view: str | None = WHOLE):
    """The big view at the slider's yaw: an exact frame when cached, else the nearest strip frame; in the photo
    (at its display size, at least ``PREVIEW_PX``) or the crop (``PREVIEW_PX``)."""
    if session is None:
        return gr.update(value=None, label="Frame at the slider's yaw")
    yaw = float(yaw)
    r = session.result
    i = nearest_index(r.yaws, yaw)
    if yaw in session.exact or r.yaws[i] == yaw:
        frame, label = session.exact.get(yaw, r.drawn[i]), f"Yaw {fmt_yaw(yaw)} (exact)"
    else:
        frame = r.drawn[i]
        label = f"Yaw {fmt_yaw(yaw)}: nearest strip frame {fmt_yaw(r.yaws[i])}, exact frame on release"
    big = in_view(session, [frame], view)[0]
    return gr.update(value=shown(big, max(PREVIEW_PX, *big.size)),
                     label=f"{label} · {WHOLE if is_whole(session, view) else CROP}")


def lines_of(result: RotationResult):
    """The trajectory (the two lines) that turned this face."""
    return ENGINE.get().lines(result.light, result.gender)


def method_image(session: Session | None, yaw: float) -> str | None:
    """The method's picture for this face at the slider's yaw (3 ms a redraw: it follows the slider's input)."""
    if session is None:
        return None
    r = session.result
    latent = None if r.latent is None else r.latent.cpu().numpy()
    return shown(method_plot(lines_of(r), r.source_yaw, float(yaw), latent, r.yaws, r.response), None)


def method_for(session: Session | None, yaw: float):
    """The method's picture and the sentence saying which lines turned this face and why."""
    if session is None:
        return None, ""
    return method_image(session, yaw), method_sentence(session.result, lines_of(session.result))


def run_ui(image, aligned: bool, light: str, yaw: float, view: str = WHOLE, progress=gr.Progress()):
    """Main event: photo -> detected panel (shown as soon as it is known) -> strip and frame, in the photo or the
    crop (``view``). Bad input yields a message in the status line; nothing is raised, so the UI stays usable."""
    empty = (None, None, "", gr.update(value=[]), gr.update(value=None), None)
    if image is None:
        yield (status_ok("Upload a face photo, take one with the webcam, paste one, or pick an example below."),
               *empty)
        return
    try:
        progress(0.02, desc="finding and aligning the face")
        prep, photo = _prepare(image, aligned)
        stage = Stage.of(photo, prep.crop_quad, STAGE_PX, prep.crop)
        del photo  # up to 2048 px: only the display-size copy is kept
        many = prep.faces is not None and prep.faces > 1
        note = f"Found {prep.faces} faces: rotating the largest. " if many else ""
        yield (status_ok(note + "Face found — rotating…"), shown(prep.source, PANEL_PX), None,
               f"**Estimated yaw:** {prep.source_yaw:+.1f}°  \n**Light:** {prep.light}, score "
               f"{prep.light_score:+.2f}", gr.update(), gr.update(), None)
        # under ZeroGPU the call runs in a GPU worker process: no progress object crosses over
        # the calibrated strip first (the feedback's second decode costs up to a second or two here): refine_for
        result = _rotate_prepared(prep, light or "auto", None if ZERO_GPU else progress, feedback=False)
        result.latent = result.latent.cpu() if result.latent is not None else None
        session = Session(result, stage)
        progress(0.97, desc="showing the strip")
        if many:
            gr.Info(f"{prep.faces} faces in the photo: the largest one is rotated.")
        done = status_ok(note + f"Done in {result.timings.get('total_s', 0):.1f} s. Move the slider to turn the "
                         "head; the animation follows.")
        yield (done, gr.update(), None, info_markdown(result), strip_update(session, view),
               preview_update(session, yaw, view), session)
    except Exception as e:  # every failure becomes a message; the app keeps serving
        if not isinstance(e, (ImageError, ModelUnavailable, ValueError)):
            log.exception("rotation failed")
        msg = user_message(e)
        gr.Warning(msg)
        yield (status_error(msg), *empty)


def relight(light: str, session: Session | None, yaw: float, view: str = WHOLE, progress=gr.Progress()):
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
        subset = ENGINE.get().lines(use, r.gender).subset
    except Exception as e:
        log.exception("relight failed")
        gr.Warning(user_message(e))
        return gr.update(), gr.update(), gr.update(), session
    crops = frames if session.stage is None else session.stage.crops(frames)
    new = Session(dataclasses.replace(r, frames=crops, framed=None if crops is frames else frames, light=use,
                                      subset=subset), session.stage)
    return info_markdown(new.result), strip_update(new, view), preview_update(new, yaw, view), new


def slide(yaw: float, session: Session | None, view: str = WHOLE):
    """While dragging (or an arrow key): the nearest strip frame and the method's picture (no model call)."""
    return preview_update(session, yaw, view), method_image(session, yaw)


def release(yaw: float, session: Session | None, view: str = WHOLE):
    """Slider released: the exact frame at that yaw from the cached latent and the face's measured response (no
    re-embedding; no decode at all for a turn the model was seen to make)."""
    if session is None:
        return gr.update(), gr.update()
    yaw = float(yaw)
    r = session.result
    if yaw not in session.exact and yaw not in r.yaws:
        try:
            session.keep_exact(yaw, _frames_at(r, [yaw])[0])  # as drawn
        except Exception as e:
            log.exception("exact frame failed")
            gr.Warning(user_message(e))
    return preview_update(session, yaw, view), method_image(session, yaw)


def show_view(view: str, session: Session | None, yaw: float):
    """The view toggle: the strip and the big view in the photo or the crop (the animations follow)."""
    if session is None:
        return gr.update(), gr.update()
    return strip_update(session, view), preview_update(session, yaw, view)


def refine_for(session: Session | None, yaw: float, view: str = WHOLE):
    """After the calibrated strip: the frames that missed their yaw, made again (the feedback). Its
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
    return info_markdown(refined), strip_update(session, view), preview_update(session, yaw, view), session


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


def animation_for(session: Session | None, view: str = WHOLE):
    """The MP4 and the GIF of what the page shows (the photo or the crop)."""
    if session is None:
        return None, None
    frames = in_view(session, session.result.drawn, view)
    return make_video(frames), make_animation(frames)


def _api_rotation(image) -> tuple[RotationResult, Image.Image]:
    """One API request's rotation (feedback included) and its photo; a notice says how many faces were found (a
    warning when several: the largest is rotated); errors come back as a message (gradio_client raises it)."""
    try:
        prep, photo = _prepare(image, False)
        result = _rotate_prepared(prep, "auto")
    except Exception as e:
        if not isinstance(e, (ImageError, ModelUnavailable, ValueError)):
            log.exception("rotation failed")
        raise gr.Error(user_message(e), duration=None, print_exception=False) from e
    (gr.Warning if (prep.faces or 0) > 1 else gr.Info)(faces_note(prep.faces))
    return result, photo


def rotate_api(image):
    """Named API ``/rotate``: one image in; the crop's 13 frames (-30 ... +30 degrees, a gallery) and the ping-pong
    GIF out. One of the app's examples (a sampled face) is taken as an aligned crop; any other image goes through
    face detection."""
    result, _ = _api_rotation(image)
    return strip_items(result.frames, result.yaws), make_animation(result.frames)


def rotate_photo_api(image):
    """Named API ``/rotate_photo``: one image in; the 13 frames pasted back into the photo (its long side at most
    ``API_PX``; PNG, so the pixels away from the face are the photo's) and the ping-pong MP4 out. An aligned crop
    (one of the examples) has no photo around it: its frames come at ``PREVIEW_PX``."""
    result, photo = _api_rotation(image)
    stage = Stage.of(photo, result.crop_quad, API_PX, result.crop)
    frames = stage.paste(result.drawn) if stage else upscale(result.frames, PREVIEW_PX)
    return [(shown(f, None), fmt_yaw(y)) for f, y in zip(frames, result.yaws)], make_video(frames)


# ------------------------------------------------------------------------------------------------ the UI


def photo_input(**kwargs) -> gr.Image:
    """A ``gr.Image`` that hands the uploaded file to the core untouched: ``headrot_core.imaging`` reads it (EXIF,
    16-bit, RGBA, size limits) and says in words what is wrong with a bad file, instead of Gradio failing first.
    Only a path that ``checked_file`` accepts is handed on: Gradio checks a payload's path only when it carries
    ``meta``. A data: URL is the client's own bytes, which Gradio writes into its upload folder.
    (An instance override, not a subclass: a Component subclass makes Gradio write a .pyi stub next to app.py.)"""
    comp = gr.Image(type="filepath", image_mode=None, **kwargs)
    base = comp.preprocess

    def preprocess(payload):
        if payload is None:
            return None
        try:
            return checked_file(base(payload) if (payload.url or "").startswith("data:") else payload.path)
        except FileRefused as e:
            raise gr.Error(user_message(e), print_exception=False) from None

    comp.preprocess = preprocess
    return comp


CSS = """
.hr-error { color: #b42318; background: #fef3f2; border: 1px solid #fda29b; border-radius: 8px; padding: 8px 12px;
            font-weight: 600; }
.hr-ok { padding: 8px 2px; }
#preview img, #crop img, #reconstruction img, #animation img, #method img { image-rendering: auto; object-fit: contain; }
/* the strip: one row of 13 square frames that share the page's width, on a laptop or a projector */
#strip .grid-wrap { height: auto !important; max-height: none !important; min-height: 0 !important; padding-top: 26px;
                    overflow: visible !important; }
#strip .grid-container { grid-template-columns: repeat(13, minmax(0, 1fr)) !important; grid-auto-rows: auto !important;
                         gap: 6px !important; }
#strip .thumbnail-item { aspect-ratio: 1 / 1; height: auto !important; min-width: 0 !important; width: 100%; }
#strip .thumbnail-item img { width: 100%; height: 100%; object-fit: contain; image-rendering: auto; }
"""

#: The arrow keys turn the head by 5 degrees (to the next multiple of 5), for a presenter: the slider's range input
#: gets the value and then the events a drag and a release send (``input``, then ``pointerup``), so the page runs the
#: same callbacks as for the mouse. Keys typed into a text or number field are left alone.
ARROW_KEYS_JS = """
() => {
  document.addEventListener('keydown', (e) => {
    if ((e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') || e.altKey || e.ctrlKey || e.metaKey) return;
    const t = e.target;
    if (t && (t.isContentEditable || t.tagName === 'TEXTAREA' ||
              (t.tagName === 'INPUT' && !['range', 'radio', 'checkbox', 'button'].includes(t.type)))) return;
    const range = document.querySelector('#yaw input[type=range]');
    if (!range || range.disabled) return;
    e.preventDefault();
    const v = Number(range.value);
    const next = e.key === 'ArrowRight' ? Math.floor(v / 5) * 5 + 5 : Math.ceil(v / 5) * 5 - 5;
    const value = Math.max(Number(range.min), Math.min(Number(range.max), next));
    if (value === v) return;
    range.value = String(value);
    range.dispatchEvent(new Event('input', {bubbles: true}));
    range.dispatchEvent(new PointerEvent('pointerup', {bubbles: true}));
  }, true);
}
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
4. **Generation.** The moved latents of the yaws every 15° (5 of the 13) are decoded in one DDIM batch, and the
   landmarks of each decoded face say how far the model turned it; the yaws between take the turn those measurements
   give there. The photo's own pixels are then warped so that its landmarks make that turn. Where the
   turn reveals a side of the face the photo hides, the photo's mirror image fills it in, and the face's lightness
   changes as real faces' does over the same turn (the nose's and cheeks' shading). So every frame is the
   photo's one face at its own resolution, and the frame at the photo's own yaw is the photo.
5. **Feedback.** The frames whose turn missed their yaw by more than 3° are made again at the moves this face's
   own measured turns say reach it: drawn at the turn those measurements give where the model was seen to turn the
   face that far, decoded again beyond (a face at the limit of its turn repeats its furthest frame). The strip shows the
   first frames at once and the corrected ones replace them a moment later. The slider shows the nearest strip frame
   at once and, when released, the exact yaw: drawn at the turn this face's measured response gives, with no decode,
   wherever the model was seen to turn it that far (else decoded at the move planned the same way); the light
   override picks another line.
6. **Back into the photo.** Each frame is pasted back where the face was: the alignment inverted, the frame's colour
   matched to the photo along its border, the seam feathered; every pixel away from the face is the photo's.

The plot beside the big view is the paper's picture for this face: the lines of the light subset used, their points
at the yaw bins they were fitted on, and this photo's latent walked along them (the red dot follows the slider).

The model is small and trained by this project on CelebA crops at 64×64 (see `docs/`), so its own faces are soft:
it decides the motion, and the frames keep the photo's detail. A 2D warp cannot show what the photo never saw, so the
far side of large turns is stretched (docs/EVALUATION.md). Code: `headrot_core` (library and CLI) and `app.py` (this app).
"""


def refuse_outside_files(demo: gr.Blocks) -> None:
    """Gradio refuses a file payload with ``meta`` outside its upload folder before the component sees it, with an
    error naming the path (hidden from clients only while ``show_error`` is off): answer it with the app's one
    message instead, so every refused file reads the same."""
    base = demo.preprocess_data

    async def preprocess_data(*args, **kwargs):
        try:
            return await base(*args, **kwargs)
        except InvalidPathError:
            raise gr.Error(user_message(FileRefused()), print_exception=False) from None

    demo.preprocess_data = preprocess_data


def model_banner():
    """The model's state for a page being opened: a failed load is retried first, so a restored model clears the
    banner without a restart."""
    if ENGINE.error:
        try:
            ENGINE.run(lambda rot: None)
        except Exception:  # noqa: BLE001  ModelUnavailable: ENGINE.error says why
            pass
    return gr.update(value=status_error(without_paths(ENGINE.error)) if ENGINE.error else "",
                     visible=bool(ENGINE.error))


def example_paths() -> list[str]:
    """The examples folder's pictures, the photographs of real people first (scripts/public_photos.py): they show
    what the engine does to a photo; the model's own samples are 64 px faces."""
    if not EXAMPLES_DIR.is_dir():
        return []
    files = [p for p in EXAMPLES_DIR.iterdir() if p.suffix.lower() in (".png", ".jpg")]
    return [str(p) for p in sorted(files, key=lambda p: (not p.name.startswith(PHOTO_PREFIX), p.name))]


def example_credits() -> str:
    """Who is in the examples' real photographs, and whose photographs they are (``public.json``); "" without."""
    try:
        rows = json.loads((EXAMPLES_DIR / "public.json").read_text())["portraits"]
    except (OSError, ValueError, KeyError):
        return ""
    return "Photographs: " + "; ".join(f"{r['who']} ({r['credit']})" for r in rows) + ". The other examples are " \
        "faces sampled from the shipped model."


def build_demo(engine: Engine | None = None) -> gr.Blocks:
    global ENGINE
    if engine is not None:
        ENGINE = engine
    gr.set_static_paths([EXAMPLES_DIR])  # served in place: never copied into the cache, never aged out of it
    with gr.Blocks(title="HeadRot — head rotation with a diffusion model", delete_cache=(60, OUTPUT_TTL_S)) as demo:
        gr.Markdown("# HeadRot\nTurn the head in a face photo from **−30° to +30°** by walking straight lines in the "
                    "latent space of a denoising diffusion model. Runs offline on the CPU.")
        banner = gr.Markdown(visible=False, elem_id="model-error")
        demo.load(model_banner, None, banner, queue=False, api_visibility="private", show_progress="hidden")
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
                    gr.Examples([[p] for p in paths], inputs=[photo], label="Examples", examples_per_page=12,
                                elem_id="examples")
                    if credits := example_credits():
                        gr.Markdown(f"<small>{credits}</small>", elem_id="example-credits")
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
                yaw = gr.Slider(-30, 30, value=0, step=1, label="Yaw (degrees; negative: nose to the image's right; "
                                "the ← → keys turn by 5°)", elem_id="yaw")
                view = gr.Radio([WHOLE, CROP], value=WHOLE, label="Show", elem_id="view")
            with gr.Column(scale=4):
                gr.Markdown("### The method, for this face")
                method = gr.Image(label="The method for this face", show_label=False, format="png",
                                  interactive=False, elem_id="method", buttons=["download", "fullscreen"])
                sentence = gr.Markdown("", elem_id="sentence")
        with gr.Row(equal_height=False):
            video = gr.Video(label="Animation (MP4, ping-pong)", interactive=False, autoplay=True, loop=True,
                             height=ANIMATION_PX + 40, elem_id="video", buttons=["download"])
            animation = gr.Image(label="Animation (GIF, ping-pong)", type="filepath", interactive=False,
                                 height=ANIMATION_PX + 40, elem_id="animation", buttons=["download", "fullscreen"])
        strip = gr.Gallery(label="Rotation strip: −30° … +30°", columns=13, rows=1, format="png",
                           object_fit="contain", elem_id="strip", allow_preview=True, interactive=False)
        with gr.Accordion("How it works", open=False):
            gr.Markdown(HOW_IT_WORKS)
        gr.Markdown(f"<small>Model: {ENGINE.describe() if ENGINE._rot else 'loads on the first photo'}. "
                    "API with gradio_client: `/rotate` (image → the crop's 13 frames + GIF), `/rotate_photo` "
                    "(image → 13 frames pasted back into the photo + MP4).</small>")

        private: dict[str, Any] = {"api_visibility": "private"}
        encode: dict[str, Any] = {"concurrency_id": "encode", "concurrency_limit": 2, "show_progress": "minimal",
                                  **private}
        explain: dict[str, Any] = {"queue": False, "show_progress": "hidden", **private}
        ui_outputs = [status, crop, recon, info, strip, preview, session]
        main = gr.on([photo.change, aligned.input], run_ui, [photo, aligned, light, yaw, view], ui_outputs,
                     concurrency_id="model", concurrency_limit=1, show_progress_on=[status], **private)
        main.then(method_for, [session, yaw], [method, sentence], **explain).then(
            refine_for, [session, yaw, view], [info, strip, preview, session], concurrency_id="refine",
            concurrency_limit=1, show_progress="hidden", **private).then(
            method_for, [session, yaw], [method, sentence], **explain).then(
            animation_for, [session, view], [video, animation], **encode).then(
            reconstruction_for, [session], [recon], concurrency_id="reconstruct", concurrency_limit=1,
            show_progress="hidden", **private)
        lit = light.input(relight, [light, session, yaw, view], [info, strip, preview, session],
                          concurrency_id="model", concurrency_limit=1, show_progress_on=[strip, preview], **private)
        lit.then(method_for, [session, yaw], [method, sentence], **explain).then(
            animation_for, [session, view], [video, animation], **encode)
        view.input(show_view, [view, session, yaw], [strip, preview], **explain).then(
            animation_for, [session, view], [video, animation], **encode)
        yaw.input(slide, [yaw, session, view], [preview, method], trigger_mode="always_last", **explain)
        yaw.release(release, [yaw, session, view], [preview, method], concurrency_id="model", concurrency_limit=1,
                    show_progress="minimal", trigger_mode="always_last", **private)

        # the named API: one image in; the crop's strip and GIF, or the photo's frames and MP4 out
        api_button = gr.Button("rotate", visible=False)
        api_button.click(rotate_api, [photo], [strip, animation], api_name="rotate", concurrency_id="model",
                         concurrency_limit=1)
        api_button.click(rotate_photo_api, [photo], [strip, video], api_name="rotate_photo", concurrency_id="model",
                         concurrency_limit=1)
    refuse_outside_files(demo)
    return demo


def serve(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = 7860, share: bool = False, **kwargs):
    """Queue and launch with the app's CSS and arrow keys; up to ``QUEUE_SIZE`` waiting requests, served one model call at a time."""
    return demo.queue(max_size=QUEUE_SIZE).launch(server_name=host, server_port=port, share=share, max_file_size="60mb",
                                          css=CSS, js=ARROW_KEYS_JS, footer_links=["api", "gradio"], **kwargs)


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
    for folder in remove_stale_instances():
        log.info("removed the folder of a dead instance: %s", folder)
    os.environ.setdefault("GRADIO_TEMP_DIR", str(INSTANCE_DIR))  # uploads and display files in one folder
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # as Ctrl-C: Gradio closes, atexit cleans up
    try:  # load now so the first photo is fast; a missing model is shown in the UI and the app still serves
        ENGINE.run(warm_up)  # loads on the model thread, where every model call will run
        log.info("model: %s", ENGINE.describe())
    except ModelUnavailable as e:
        log.error("%s", e)
    serve(build_demo(), args.host, args.port, share=args.share)


if __name__ == "__main__":
    main()
