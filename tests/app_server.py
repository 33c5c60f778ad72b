"""The app launched as users start it (``python app.py --port P``), shared by the app's tests and benchmarks, and
raw HTTP calls to it (``upload``, ``call_rotate``) as a client without gradio_client makes them.

One server per (model, steps) for the whole pytest process, stopped at exit. Tests point it at the tiny model
(``HEADROT_MODEL``) with a few DDIM steps (``HEADROT_STEPS``) so a rotation takes about a second.
"""
from __future__ import annotations

import atexit
import functools
import io
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_servers: dict[tuple, tuple[subprocess.Popen, str, Path]] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def app_url(model: str | Path | None, steps: int | None = 3, timeout: float = 180.0,
            examples: str | Path | None = None) -> str:
    """URL of a running app on ``model`` (a folder; None: the embedded default), starting it on first use;
    ``examples``: a folder for HEADROT_EXAMPLES (default: the app's own assets/examples)."""
    key = (str(model) if model else None, steps, str(examples) if examples else None)
    if key in _servers and _servers[key][0].poll() is None:
        return _servers[key][1]
    proc, url, log = launch(model, steps, timeout, examples)
    _servers[key] = (proc, url, log)
    atexit.register(stop, proc)
    return url


def launch(model: str | Path | None, steps: int | None = 3, timeout: float = 180.0,
           examples: str | Path | None = None) -> tuple[subprocess.Popen, str, Path]:
    """A new ``python app.py --port P`` (its process, URL and log file), returned once it answers; the caller
    stops it."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    env.pop("HEADROT_MODEL", None)
    env.pop("HEADROT_STEPS", None)
    env.pop("HEADROT_EXAMPLES", None)
    if examples:
        env["HEADROT_EXAMPLES"] = str(examples)
    if model:
        env["HEADROT_MODEL"] = str(model)
    if steps:
        env["HEADROT_STEPS"] = str(steps)
    log = Path(tempfile.mkdtemp(prefix="headrot-app-log-")) / "app.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT, env=env,
                                stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}:\n{_log_tail(log)}")
        try:
            with urllib.request.urlopen(url + "gradio_api/info", timeout=5) as r:
                if r.status == 200:
                    return proc, url, log
        except OSError:
            pass
        if time.time() > deadline:
            stop(proc)
            raise RuntimeError(f"app.py did not answer within {timeout:.0f} s:\n{_log_tail(log)}")
        time.sleep(0.5)


def log_of(url: str) -> str:
    for proc, u, log in _servers.values():
        if u == url:
            return _log_tail(log)
    return ""


def pid_of(url: str) -> int:
    for proc, u, _ in _servers.values():
        if u == url:
            return proc.pid
    raise KeyError(url)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


_examples: dict[int, Path] = {}


@functools.cache
def _upload_folder() -> Path:
    """This process's folder in Gradio's upload folder, removed at exit."""
    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder()) / f"headrot-tests-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def uploaded(path: str | Path) -> str:
    """``path`` placed in Gradio's upload folder the way an upload puts it (a hard link, else a copy): with the
    examples folder, the only place the app reads a request's file from."""
    dest = _upload_folder() / uuid.uuid4().hex[:12] / Path(path).name
    dest.parent.mkdir()
    try:
        os.link(path, dest)
    except OSError:
        shutil.copyfile(path, dest)
    return str(dest)


def press_slider(page) -> tuple[dict, float]:
    """Mouse pressed on the middle of the yaw slider (a Playwright page): its box and the row to drag along."""
    rng = page.locator("#yaw input[type=range]")
    rng.scroll_into_view_if_needed()
    box = rng.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    return box, y


def examples_dir(model) -> Path:
    """Faces sampled from ``model`` (a FaceDiffusion) by scripts/make_examples.py, once per process, in a temp
    folder: the launched app's HEADROT_EXAMPLES and the tests' example inputs. The shipped public-domain photographs
    go in beside them, so that a tiny model's app also has a real photo to turn as a whole."""
    if id(model) not in _examples:
        import importlib.util

        spec = importlib.util.spec_from_file_location("make_examples", ROOT / "scripts" / "make_examples.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        out = Path(tempfile.mkdtemp(prefix="headrot-examples-"))
        mod.make_examples(model, n=2, candidates=3, steps=2, out=out, size=96)
        for shipped in (ROOT / "assets" / "examples").glob("public*"):
            shutil.copy(shipped, out / shipped.name)
        _examples[id(model)] = out
    return _examples[id(model)]


def bomb_jpeg(side: int = 7999) -> bytes:
    """A tiny JPEG whose header says ``side`` x ``side``: libjpeg fills the missing data in."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (128, 100, 90)).save(buf, "JPEG", quality=50)
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", side, side)
    return bytes(data)


def post_json(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def upload(url: str, path: Path) -> str:
    """POST /gradio_api/upload, as the page does: the file's path in the server's upload folder."""
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() + (
        f"\r\n--{boundary}--\r\n").encode()
    req = urllib.request.Request(url + "gradio_api/upload", body,
                                 {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())[0]


def call_rotate(url: str, payload: dict) -> tuple[str, object, str, float]:
    """POST /gradio_api/call/rotate, then its event stream: (last event, its data or error message, the whole text,
    seconds)."""
    t0 = time.perf_counter()
    event_id = post_json(url + "gradio_api/call/rotate", {"data": [payload]})["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/rotate/{event_id}", timeout=300) as r:
        text = r.read().decode()
    seconds = time.perf_counter() - t0
    event, data = [(e, json.loads(d)) for e, d in re.findall(r"event: (\w+)\ndata: (.*)", text) if e != "heartbeat"][-1]
    return event, data["error"] if event == "error" else data, text, seconds
