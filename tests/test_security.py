"""Issue 25: what a hostile client can try, against the callbacks in-process and the launched app over raw HTTP.

A request may name a file by path (``{"path": ...}``, with or without Gradio's ``meta``): only a regular file in
Gradio's upload folder or the app's examples folder is read, and everything else gets one message that says nothing
about the server's files, at once. The rest: decoding within a pixel budget, thin strips, the aligned-crop marker,
a time bound on model jobs, and the instance folder removed at exit and after a kill. docs/SECURITY.md has the
measured numbers (benchmarks/bench_security.py).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

gr = pytest.importorskip("gradio")
import app  # noqa: E402
from app_server import (app_url, bomb_jpeg, call_rotate, examples_dir, launch, post_json, stop,  # noqa: E402
                        upload, uploaded)
from test_app import engine, examples  # noqa: E402,F401  fixtures
from headrot_core.imaging import DECODE_SIDE, ImageError, load_image  # noqa: E402

REFUSED = app.user_message(app.FileRefused())
META = {"_type": "gradio.FileData"}


def marked_noise(path: Path) -> Path:
    """Random noise carrying the aligned-crop marker of scripts/make_examples.py."""
    info = PngImagePlugin.PngInfo()
    info.add_text(app.ALIGNED_KEY, app.ALIGNED_VALUE)
    noise = np.random.default_rng(0).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, pnginfo=info)
    return path


@pytest.fixture
def held_pipe(tmp_path):
    """A named pipe with its write end held open (a reader that opened it would wait for data forever)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    yield fifo
    os.close(fd)


def hostile_paths(tmp_path: Path, pipe: Path, cache: Path, example: Path) -> dict[str, str]:
    """Paths a client may name: server files outside the upload folder, and tricks placed inside it."""
    outside = tmp_path / "server-image.png"
    outside.write_bytes(example.read_bytes())  # an image that would rotate fine if it were read
    link = cache / f"link-{uuid.uuid4().hex[:8]}.png"
    link.symlink_to(outside)
    inner_pipe = cache / f"pipe-{uuid.uuid4().hex[:8]}"
    os.mkfifo(inner_pipe)
    return {"server image": str(outside), "symlink out of the cache": str(link), "/etc/passwd": "/etc/passwd",
            "/proc/self/environ": "/proc/self/environ", "pipe": str(pipe), "pipe in the cache": str(inner_pipe),
            "/dev/zero": "/dev/zero", "the cache folder": str(cache), "missing": str(cache / "no-such.png")}


# ------------------------------------------------------------------------------------------------ in-process


def test_checked_file_takes_regular_files_in_the_upload_folder_and_the_examples(examples, tmp_path, held_pipe):
    good = uploaded(examples[0])
    assert app.checked_file(good) == str(Path(good).resolve())
    assert app.checked_file(examples[0]) == str(examples[0].resolve())
    for kind, path in hostile_paths(tmp_path, held_pipe, Path(uploaded(examples[0])).parent, examples[0]).items():
        with pytest.raises(app.FileRefused):
            app.checked_file(path)
    for odd in (None, 3, "", "\0"):
        with pytest.raises(app.FileRefused):
            app.checked_file(odd)


def test_ui_and_rotate_refuse_server_files_with_one_message(engine, examples, tmp_path, held_pipe):
    from gradio.data_classes import FileData

    paths = hostile_paths(tmp_path, held_pipe, Path(uploaded(examples[0])).parent, examples[0])
    comp = app.photo_input(render=False)
    for kind, path in paths.items():
        t0 = time.perf_counter()
        outs = list(app.run_ui(path, False, "auto", 0.0))
        assert time.perf_counter() - t0 < 1.0, kind
        assert len(outs) == 1 and outs[0][0] == app.status_error(REFUSED) and outs[0][6] is None, kind
        with pytest.raises(gr.Error) as err:
            app.rotate_api(path)
        assert err.value.message == REFUSED, kind
        with pytest.raises(gr.Error) as err:
            comp.preprocess(FileData(path=path))
        assert err.value.message == REFUSED, kind
    assert "Done" in list(app.run_ui(uploaded(examples[0]), False, "auto", 0.0))[-1][0]  # and the app goes on


def test_messages_never_show_server_paths():
    assert app.without_paths("file not found: /srv/x/face.jpg") == "file not found: …"
    assert app.without_paths("from /a/b: [Errno 2] '/a/b/c.json'.") == "from …: [Errno 2] '…'."
    keep = "1/32 of the long side, left/center/right, http://example.org/x, assets/model"
    assert app.without_paths(keep) == keep
    internal = RuntimeError("Filter windows must be small enough, see /usr/lib/python3/dlib.py")
    assert app.user_message(internal) == ("Something went wrong (RuntimeError). The app is still running; try "
                                          "another photo.")


def test_a_jpeg_header_of_7999_px_is_decoded_at_a_quarter_size(tmp_path):
    assert load_image(bomb_jpeg(7999)).size == (2000, 2000) and DECODE_SIDE == 2048
    assert load_image(bomb_jpeg(3000)).size == (1500, 1500)
    assert load_image(bomb_jpeg(2048)).size == (2048, 2048)  # within the budget: full size
    Image.new("RGB", (3000, 600)).save(tmp_path / "wide.png")  # decoded whole, then reduced
    assert load_image(tmp_path / "wide.png").size == (1500, 300)


def test_other_formats_over_the_budget_are_refused_before_decoding(tmp_path):
    Image.new("1", (5000, 5000)).save(tmp_path / "big.png")  # 3 KB on disk, 75 MB as RGB
    t0 = time.perf_counter()
    with pytest.raises(ImageError, match="4096x4096 for other formats"):
        load_image(tmp_path / "big.png")
    assert time.perf_counter() - t0 < 0.2


def test_thin_strips_and_tiny_images_get_a_clear_message(engine):
    for size in [(8000, 40), (40, 4000), (2100, 100)]:
        outs = list(app.run_ui(uploaded(_save(Image.new("RGB", size, "gray"))), False, "auto", 0.0))
        assert "more than 20 times as long as it is wide" in outs[0][0], size
    outs = list(app.run_ui(uploaded(_save(Image.new("RGB", (15, 300), "gray"))), False, "auto", 0.0))
    assert "at least 16 px on each side" in outs[0][0]
    assert load_image(Image.new("RGB", (16, 16))).size == (16, 16)  # the limit the message states


def _save(img: Image.Image) -> Path:
    path = Path(tempfile.mkdtemp()) / "image.png"
    img.save(path)
    return path


def test_the_aligned_crop_marker_counts_for_the_examples_only(engine, examples, tmp_path, capsys):
    noise = uploaded(marked_noise(tmp_path / "noise.png"))
    assert not app.is_marked_aligned(noise)
    outs = list(app.run_ui(noise, False, "auto", 0.0))
    assert "No face found" in outs[-1][0]
    assert app.is_marked_aligned(uploaded(examples[0]))  # a copy of an example (the page and clients send copies)
    app.rotate_api(uploaded(examples[0]))
    assert "One of the app's examples" in capsys.readouterr().out  # gr.Info outside a request: printed


def test_rotate_says_how_many_faces(engine, tmp_path, capsys):
    from conftest import DATA, shared_data_or_skip

    shared_data_or_skip()
    app.rotate_api(uploaded(DATA / "photos" / "000004.jpg"))
    assert "1 face found." in capsys.readouterr().out
    a = Image.open(DATA / "photos" / "000989.jpg").convert("RGB")
    pair = Image.new("RGB", (a.width * 2 + 20, a.height), "gray")
    pair.paste(a, (0, 0))
    pair.paste(a.transpose(Image.FLIP_LEFT_RIGHT), (a.width + 20, 0))
    pair.save(tmp_path / "pair.jpg", quality=95)
    with pytest.warns(UserWarning, match="2 faces found: the largest one is rotated"):
        app.rotate_api(uploaded(tmp_path / "pair.jpg"))


def test_a_stuck_job_frees_its_request_and_the_next_runs(engine):
    release = threading.Event()
    eng = app.Engine(model=engine.model, steps=3, device="cpu", timeout=0.5)
    eng._rot = engine.get()
    t0 = time.perf_counter()
    with pytest.raises(app.JobTimeout) as err:
        eng.run(lambda rot: release.wait())  # a read that never returns
    assert time.perf_counter() - t0 < 1.5 and "took longer than 0.5 s" in app.user_message(err.value)
    t0 = time.perf_counter()
    name = eng.run(lambda rot: threading.current_thread().name)  # a new model thread serves it
    assert name.startswith("headrot-model") and time.perf_counter() - t0 < 0.5
    release.set()


def test_display_files_are_pruned_by_age_and_total_size(tmp_path):
    now = time.time()
    for i, (age, kb) in enumerate([(10, 100), (20, 100), (30, 100), (400, 1)]):
        path = tmp_path / f"f{i}.png"
        path.write_bytes(b"x" * kb * 1024)
        os.utime(path, (now - age, now - age))
    app.prune(tmp_path, now, ttl=300, cap_bytes=250 * 1024)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f0.png", "f1.png"]  # f3: too old; f2: over the cap


def test_stale_folders_of_dead_instances_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folders = {name: tmp_path / name for name in
               (f"headrot-app-{dead.pid}-abc_1", f"headrot-app-{os.getpid()}-abc", "headrot-app-log-xyz")}
    for folder in folders.values():
        (folder / "out").mkdir(parents=True)
    assert app.remove_stale_instances(tmp_path) == [folders[f"headrot-app-{dead.pid}-abc_1"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(list(folders)[1:])


# ------------------------------------------------------------------------------------------------ launched app


@pytest.fixture(scope="module")
def url(tiny_rotator_dir, tiny_model):
    return app_url(tiny_rotator_dir, steps=3, examples=examples_dir(tiny_model))


def test_http_payloads_naming_server_files_are_refused_at_once(url, examples, tmp_path, held_pipe):
    good = upload(url, examples[0])
    cache = Path(good).parent
    paths = hostile_paths(tmp_path, held_pipe, cache, examples[0])
    secrets = [str(tmp_path), str(cache.parent), "/etc/passwd", "/proc/", "/dev/zero", "root:"]
    for kind, path in paths.items():
        for payload in ({"path": path}, {"path": path, "meta": META}):
            event, data, text, seconds = call_rotate(url, payload)
            assert event == "error" and data == REFUSED and seconds < 1.0, (kind, payload, event, text, seconds)
            assert not any(s in text for s in secrets), (kind, text)
    event, data, _, _ = call_rotate(url, {"path": good, "meta": META})  # the next good request is served
    assert event == "complete" and len(data[0]) == 13 and data[1]["path"].endswith(".gif")


def test_http_marked_noise_goes_through_face_detection(url, tmp_path):
    event, data, text, _ = call_rotate(url, {"path": upload(url, marked_noise(tmp_path / "noise.png")), "meta": META})
    assert event == "error" and "No face found" in data and str(tmp_path) not in text


def queue_messages(url: str, payload: dict) -> list[dict]:
    """/rotate through Gradio's queue, as the page and gradio_client call it: every message, notices included."""
    with urllib.request.urlopen(url + "config", timeout=30) as r:
        fn_index = next(d["id"] for d in json.loads(r.read())["dependencies"] if d.get("api_name") == "rotate")
    session = uuid.uuid4().hex
    post_json(url + "gradio_api/queue/join", {"data": [payload], "fn_index": fn_index, "session_hash": session,
                                              "event_data": None, "trigger_id": None})
    messages = []
    with urllib.request.urlopen(f"{url}gradio_api/queue/data?session_hash={session}", timeout=60) as r:
        for line in r:
            if line.startswith(b"data: "):
                messages.append(json.loads(line[6:]))
                if messages[-1].get("msg") == "process_completed":
                    break
    return messages


def test_http_rotate_notice_says_how_many_faces(url, examples):
    messages = queue_messages(url, {"path": upload(url, examples[0]), "meta": META})
    assert messages[-1]["success"]
    assert [m["log"] for m in messages if m.get("msg") == "log"] == [app.faces_note(None)]


def test_http_a_huge_jpeg_header_is_served(url, tmp_path):
    (tmp_path / "bomb.jpg").write_bytes(bomb_jpeg(7999))
    event, data, _, _ = call_rotate(url, {"path": upload(url, tmp_path / "bomb.jpg"), "meta": META})
    assert event == "error" and "no face found in the 2000x2000 image" in data, data  # decoded at 1/4


def test_sigterm_and_kill_leave_no_folder_behind(tiny_rotator_dir, tiny_model, examples):
    """kill -9: the folder stays until the next start removes it; SIGTERM: the app removes its own."""
    def folder_of(proc: subprocess.Popen) -> Path:
        found = list(Path(tempfile.gettempdir()).glob(f"headrot-app-{proc.pid}-*"))
        assert len(found) == 1, found
        return found[0]

    first, url, _ = launch(tiny_rotator_dir, 3, examples=examples_dir(tiny_model))
    try:
        assert call_rotate(url, {"path": upload(url, examples[0]), "meta": META})[0] == "complete"
        killed = folder_of(first)
        assert any(killed.rglob("*.gif"))  # outputs and uploads live in it
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert killed.is_dir()
    second, url, _ = launch(tiny_rotator_dir, 3, examples=examples_dir(tiny_model))
    try:
        assert not killed.exists()
        kept = folder_of(second)
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) is not None
        assert not kept.exists()
    finally:
        stop(second)


def test_the_model_line_on_the_page_names_no_server_path(tiny_rotator_dir):
    eng = app.Engine(model=str(tiny_rotator_dir), steps=3, device="cpu")
    eng.get()
    text = eng.describe()
    assert tiny_rotator_dir.name in text and str(tiny_rotator_dir.parent) not in text
