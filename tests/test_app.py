"""The Gradio app: its callbacks in-process, then the launched app driven by gradio_client.

Everything runs on the tiny 32 px model with a few DDIM steps (HEADROT_MODEL / HEADROT_STEPS for the launched app),
so a rotation takes about a second on two CPU cores.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import DATA, shared_data_or_skip

gr = pytest.importorskip("gradio")
import app  # noqa: E402

from app_server import app_url, examples_dir, uploaded  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def photo() -> Path:
    shared_data_or_skip()
    return DATA / "photos" / "000004.jpg"


@pytest.fixture(scope="module")
def examples(tiny_model) -> list[Path]:
    """Faces sampled from the (tiny) model by scripts/make_examples.py, marked as aligned crops: the in-process
    app's examples folder, as HEADROT_EXAMPLES makes them the launched app's."""
    folder = examples_dir(tiny_model)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(app, "EXAMPLES_DIR", folder)
        yield sorted(folder.glob("example_*.png"))


@pytest.fixture(scope="module")
def engine(tiny_rotator_dir):
    eng = app.Engine(model=str(tiny_rotator_dir), steps=3, device="cpu")
    eng.get().model.bf16 = False  # fp32: a random tiny model in bf16 is slow on a loaded 2-core CPU
    app.build_demo(eng)  # installs it as the app's engine
    return eng


def run(image, aligned=False, light="auto", yaw=0.0, view=app.WHOLE):
    """The main event on ``image`` as the page sends it: a copy in Gradio's upload folder."""
    return list(app.run_ui(image and uploaded(image), aligned, light, yaw, view))


def long_side(path) -> int:
    return max(Image.open(path).size)


# ------------------------------------------------------------------------------------------------ callbacks


def test_make_examples_writes_marked_model_samples(examples):
    assert [p.name for p in examples] == ["example_01.png", "example_02.png"]
    meta = json.loads((examples[0].parent / "examples.json").read_text())
    assert "no dataset image" in meta["what"] and len(meta["examples"]) == 2
    for p in examples:
        assert app.is_marked_aligned(p) and app.is_marked_aligned(uploaded(p)) and Image.open(p).size == (96, 96)
    assert not app.is_marked_aligned(ROOT / "README.md") and not app.is_marked_aligned(None)


def test_shipped_examples_are_marked_samples_and_credited_photographs(monkeypatch):
    folder = ROOT / "assets" / "examples"
    monkeypatch.setattr(app, "EXAMPLES_DIR", folder)  # not the tiny model's (``examples``)
    paths = app.example_paths()
    if not paths:
        pytest.skip("assets/examples/ not generated yet (python scripts/make_examples.py)")
    samples = json.loads((folder / "examples.json").read_text())["examples"]
    public = json.loads((folder / "public.json").read_text())["portraits"]
    names = [Path(p).name for p in paths]
    assert names[:len(public)] == [row["file"] for row in public]  # the real photographs first
    assert sorted(names) == sorted(row["file"] for row in samples + public)
    crops = [p for p in paths if Path(p).name.startswith("example_")]
    assert crops and all(app.is_marked_aligned(p) for p in crops)
    assert not any(app.is_marked_aligned(p) for p in paths if p not in crops)  # photos: detected, not marked
    credits = app.example_credits()
    assert all(row["who"] in credits and "public domain" in row["credit"] for row in public)
    monkeypatch.setattr(app, "EXAMPLES_DIR", folder / "nowhere")
    assert app.example_credits() == "" and app.example_paths() == []


def test_photo_yields_the_panel_then_the_strip_then_the_reconstruction(engine):
    first, last = run(str(photo()), yaw=12)
    status, crop, recon, info, strip, preview, session = first
    assert "Face found" in status and Path(crop).is_file() and recon is None and "Estimated yaw" in info
    assert Image.open(crop).size == (app.PANEL_PX, app.PANEL_PX)
    status, crop, recon, info, strip, preview, session = last
    assert "Done" in status and "hr-error" not in status and recon is None  # the strip does not wait for G(z)
    assert [c for _, c in strip["value"]] == ["-30°", "-25°", "-20°", "-15°", "-10°", "-5°", "+0°", "+5°", "+10°",
                                              "+15°", "+20°", "+25°", "+30°"]
    # the whole photo (178x218) by default, pasted back: the strip and the big view keep its aspect ratio
    assert "whole photo" in strip["label"] and session.stage.photo.size == (178, 218)
    assert all(Image.open(p).size == (209, app.STRIP_PX) for p, _ in strip["value"])
    assert "nearest strip frame +10°" in preview["label"] and "whole photo" in preview["label"]
    assert Image.open(preview["value"]).size == (418, app.PREVIEW_PX)
    assert session.result.faces == 1 and session.result.latent.shape == (1, 3, 32, 32)
    assert "Light:" in info and "Faces:** 1" in info
    recon = app.reconstruction_for(session)  # chained after the strip and the animation
    assert Image.open(recon).size == (app.PANEL_PX, app.PANEL_PX)
    expected = app.ENGINE.get().reconstruct(session.result.latent)
    assert np.array_equal(np.asarray(session.result.reconstruction), np.asarray(expected))
    assert app.reconstruction_for(None) is None


def test_feedback_replaces_the_calibrated_strip_after_it(engine):
    """The strip is shown with the calibrated frames; ``refine_for`` (chained after it) puts the feedback's in."""
    session = run(str(photo()), yaw=12)[-1][6]
    calibrated = session.result
    assert calibrated.redone is None and calibrated.response is None
    session.exact[7.0] = calibrated.frames[0]
    info, strip, preview, same = app.refine_for(session, 12)
    assert same is session and isinstance(session.result.redone, int) and session.result.response is not None
    assert "decoded again by the feedback" in info and len(strip["value"]) == 13 and session.exact == {}
    expected = app.ENGINE.get().refine(calibrated)
    assert [f.tobytes() for f in session.result.frames] == [f.tobytes() for f in expected.frames]
    assert app.refine_for(session, 12)[0] == gr.update()  # done once
    assert app.refine_for(None, 12)[3] is None


def test_marked_example_skips_detection(engine, examples):
    *_, last = run(str(examples[0]))
    assert "Done" in last[0] and last[6].result.faces is None and "aligned crop" in last[3]
    assert last[6].stage is None and "face crop" in last[4]["label"]  # no photo around it: the crop is shown


def test_slider_shows_nearest_then_exact_frame(engine, examples):
    session = run(str(examples[0]))[-1][6]
    moving, plot = app.slide(12, session)
    assert "nearest strip frame +10°" in moving["label"] and Image.open(plot).size == (480, 360)
    released, plot_released = app.release(12, session)
    assert released["label"].startswith("Yaw +12° (exact)") and 12.0 in session.exact
    assert Image.open(plot_released).tobytes() == Image.open(plot).tobytes()  # the marker at +12 both times
    exact = np.asarray(session.exact[12.0], float)
    again = np.asarray(app.ENGINE.get().frames_at(session.result, [12])[0], float)
    assert np.abs(exact - again).mean() < 0.5  # deterministic
    assert app.release(15, session)[0]["label"].startswith("Yaw +15° (exact)") and 15.0 not in session.exact
    assert app.slide(3, None) == (app.preview_update(None, 3), None)
    assert app.release(3, None) == (gr.update(), gr.update())


def test_a_session_keeps_only_the_latest_exact_frames():
    """Each yaw the slider stops at leaves a frame; beyond ``EXACT_KEPT`` the oldest go (2.8 MB each at 640 px)."""
    session = app.Session(result=None)
    for k in range(app.EXACT_KEPT + 3):
        session.keep_exact(float(k), Image.new("RGB", (8, 8), (k, 0, 0)))
    assert list(session.exact) == [float(k) for k in range(3, app.EXACT_KEPT + 3)]
    assert session.exact[3.0].getpixel((0, 0)) == (3, 0, 0)


def test_method_plot_follows_the_slider_and_says_which_lines(engine, examples):
    """The method's picture is redrawn at the slider's yaw (the marker moves), and the sentence names the subset."""
    session = run(str(examples[0]))[-1][6]
    left, sentence = app.method_for(session, -30)
    right = app.slide(30, session)[1]
    assert Image.open(left).tobytes() != Image.open(right).tobytes()
    assert sentence.startswith("Lines of the light=") and "training faces" in sentence
    assert app.method_for(None, 0) == (None, "")


def test_view_toggle_shows_the_photo_or_the_crop(engine):
    """The whole photo by default; the crop on request, for the strip, the big view and the animations."""
    session = run(str(photo()))[-1][6]
    strip, preview = app.show_view(app.CROP, session, 0)
    assert "face crop" in strip["label"] and Image.open(preview["value"]).size == (app.PREVIEW_PX, app.PREVIEW_PX)
    assert all(Image.open(p).size == (app.STRIP_PX, app.STRIP_PX) for p, _ in strip["value"])
    strip, preview = app.show_view(app.WHOLE, session, 0)
    assert "whole photo" in strip["label"] and Image.open(preview["value"]).size == (418, app.PREVIEW_PX)
    video, gif = app.animation_for(session, app.WHOLE)
    assert Image.open(gif).size == (314, app.ANIMATION_PX) and check_video(video) == (512, 626)
    assert Image.open(app.animation_for(session, app.CROP)[1]).size == (app.ANIMATION_PX, app.ANIMATION_PX)
    assert app.show_view(app.CROP, None, 0) == (gr.update(), gr.update())


def test_pasted_frame_at_the_own_yaw_keeps_the_photo_outside_the_face(engine):
    """Issue 24's acceptance: the frame at the source's own yaw, pasted back into a large photo, differs from the
    upload by < 1/255 on average outside the face box; the seam adds no edge (compose.seam_jump, printed)."""
    import cv2

    from headrot_core.compose import seam_jump

    shared_data_or_skip()
    big = sorted((DATA / "hq1024").glob("*.jpg"))[:1] or [photo()]
    prep, loaded = app._prepare(uploaded(big[0]), False)
    result = app._rotate_prepared(prep, "auto", feedback=False)
    stage = app.Stage.of(loaded, result.crop_quad, app.API_PX)
    own, turned = stage.paste(app._frames_at(result, [result.source_yaw, 30.0]))
    upload = np.asarray(Image.open(big[0]).convert("RGB"), float)
    assert stage.photo.size == upload.shape[1::-1]  # a 1024 px portrait at its own resolution
    outside = np.ones(upload.shape[:2], np.uint8)
    cv2.fillConvexPoly(outside, np.round(stage.quad).astype(np.int32), 0)
    diff = np.abs(np.asarray(own, float) - upload).mean(-1)[outside.astype(bool)].mean()
    jumps = [seam_jump(f, stage.photo, stage.quad) for f in (own, turned)]
    print(f"\n{big[0].name}: outside the face {diff:.4f}/255; seam jump own yaw {jumps[0]:.3f}, +30° {jumps[1]:.3f}")
    assert diff < 1.0 and max(jumps) < 1.5


def test_light_override_redraws_from_the_cached_latent(engine, examples):
    session = run(str(examples[0]))[-1][6]
    other = "right" if session.result.light != "right" else "left"
    info, strip, preview, new = app.relight(other, session, 0)
    assert new.result.light == other and f"using **{other}**" in info and len(strip["value"]) == 13
    assert new.result.subset.startswith(f"light={other}")
    back = app.relight("auto", new, 0)[3]
    assert back.result.light == session.result.light_detected
    unchanged = app.relight("auto", back, 0)
    assert unchanged[3] is back  # nothing to redo


def check_video(path, frames: int = 24) -> tuple[int, int]:
    """An H.264 yuv420p MP4 of ``frames`` frames, at least 512 px on its short side; its size."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    count = sum(1 for _ in reader)
    assert meta["codec"].startswith("h264") and "yuv420p" in meta["pix_fmt"] and count == frames
    assert min(meta["size"]) >= 512
    return tuple(meta["size"])


def test_animation_is_a_looping_pingpong_mp4_and_gif(engine, examples):
    session = run(str(examples[0]))[-1][6]
    video, path = app.animation_for(session)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 24 and gif.info.get("loop") == 0
        assert gif.size == (app.ANIMATION_PX, app.ANIMATION_PX)
    assert check_video(video) == (512, 512)
    assert app.animation_for(None) == (None, None)


def _variants(src: Path, tmp: Path) -> dict[str, Path]:
    rgb = Image.open(src).convert("RGB")
    out = {}
    rgb.convert("L").save(out.setdefault("grayscale", tmp / "gray.png"))
    rgba = rgb.convert("RGBA")
    rgba.putalpha(200)
    rgba.save(out.setdefault("rgba", tmp / "rgba.png"))
    arr16 = (np.asarray(rgb.convert("L"), np.uint16) * 257)
    Image.fromarray(arr16).save(out.setdefault("16-bit", tmp / "gray16.png"))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90 degrees clockwise
    rgb.rotate(90, expand=True).save(out.setdefault("exif-rotated", tmp / "exif.jpg"), exif=exif, quality=95)
    return out


def test_unusual_image_modes_are_rotated(engine, tmp_path):
    for kind, path in _variants(photo(), tmp_path).items():
        *_, last = run(str(path))
        assert "Done" in last[0], (kind, last[0])
        assert last[6].result.faces == 1, kind


def test_bad_inputs_get_a_message_and_the_app_goes_on(engine, tmp_path):
    cases = {}
    (tmp_path / "notes.png").write_text("this is text, not a picture")
    cases["not an image"] = (tmp_path / "notes.png", "not a readable image")
    Image.new("1", (9000, 9000)).save(tmp_path / "huge.png")
    cases["huge"] = (tmp_path / "huge.png", "limit is 8000x8000")
    with open(tmp_path / "big.jpg", "wb") as f:  # sparse: 51 MB on paper, nothing on disk
        f.truncate(51 * 2**20)
    cases["over 50 MB"] = (tmp_path / "big.jpg", "the limit is 50 MB")
    Image.new("RGB", (10, 10), "white").save(tmp_path / "tiny.png")
    cases["tiny"] = (tmp_path / "tiny.png", "only 10x10")
    yy, xx = np.mgrid[0:160, 0:200]
    Image.fromarray(((xx + yy) % 256).astype(np.uint8)).save(tmp_path / "gradient.png")
    cases["no face"] = (tmp_path / "gradient.png", "No face found")
    for kind, (path, words) in cases.items():
        outs = run(str(path))
        assert len(outs) == 1 and "hr-error" in outs[0][0] and words in outs[0][0], (kind, outs[0][0])
        assert outs[0][6] is None and outs[0][4]["value"] == []
        with pytest.raises(gr.Error, match=words.split()[0]):
            app.rotate_api(uploaded(path))
    assert "Upload a face photo" in run(None)[0][0]


def test_several_faces_rotate_the_largest(engine, tmp_path):
    from PIL import ImageOps

    shared_data_or_skip()
    a = Image.open(DATA / "photos" / "000989.jpg").convert("RGB")
    b = ImageOps.mirror(a).resize((a.width * 4 // 5, a.height * 4 // 5))
    pair = Image.new("RGB", (a.width + b.width + 20, a.height), "gray")
    pair.paste(a, (0, 0))
    pair.paste(b, (a.width + 20, 0))
    pair.save(tmp_path / "pair.jpg", quality=95)
    *_, last = run(str(tmp_path / "pair.jpg"))
    assert "Found 2 faces: rotating the largest" in last[0] and last[6].result.faces == 2
    assert "the largest is rotated" in last[3]


def test_missing_model_is_a_message_and_recovers(tiny_rotator_dir, tmp_path):
    import shutil

    saved, folder = app.ENGINE, tmp_path / "model"
    try:
        app.build_demo(app.Engine(model=str(folder), steps=3, device="cpu"))
        for _ in range(2):  # still serving, same message
            out = run(str(ROOT / "README.md"))
            assert "could not be loaded" in out[0][0] and "HEADROT_MODEL" in out[0][0]
            assert str(tmp_path) not in out[0][0]  # no server path
        with pytest.raises(gr.Error, match="could not be loaded"):
            app.rotate_api(uploaded(ROOT / "README.md"))
        app.build_demo()  # the page still builds; each page load shows the model's state in a banner
        banner = app.model_banner()
        assert banner["visible"] and "could not be loaded" in banner["value"] and str(tmp_path) not in banner["value"]
        shutil.copytree(tiny_rotator_dir, folder)  # the model restored: the next page load has no banner
        assert app.model_banner() == gr.update(value="", visible=False) and app.ENGINE.error is None
    finally:
        app.build_demo(saved)


def test_photo_input_hands_the_raw_file_to_the_core(tmp_path):
    from gradio.data_classes import FileData

    (tmp_path / "x.png").write_bytes(b"garbage")
    path = uploaded(tmp_path / "x.png")
    comp = app.photo_input(render=False)
    assert comp.preprocess(FileData(path=path, orig_name="x.png")) == str(Path(path).resolve())
    assert comp.preprocess(None) is None and comp.type == "filepath" and comp.image_mode is None
    assert not (ROOT / "app.pyi").exists()


def test_a_photo_turned_far_away_gets_a_caveat(engine):
    """From ``TURNED_AWAY`` degrees of the photo's own yaw, the info panel (and the CLI) says that the frames near and
    past frontal may show smears; a photo nearer frontal gets no such line."""
    from dataclasses import replace

    from headrot_core.rotation import TURNED_AWAY

    *_, session = run(str(photo()), yaw=0)[-1]
    for yaw, warned in ((TURNED_AWAY - 0.5, False), (-TURNED_AWAY, True), (36.0, True)):
        info = app.info_markdown(replace(session.result, source_yaw=yaw))
        assert ("may show smears" in info) == warned and f"{yaw:+.1f}°" in info
    assert "Turned 36° away" in app.info_markdown(replace(session.result, source_yaw=36.0))


def test_nearest_index_and_formatting():
    ys = [float(y) for y in range(-30, 31, 5)]
    assert ys[app.nearest_index(ys, 12)] == 10 and ys[app.nearest_index(ys, 13)] == 15
    assert ys[app.nearest_index(ys, -30)] == -30 and app.fmt_yaw(0) == "+0°" and app.fmt_yaw(-7.5) == "-7.5°"


# ------------------------------------------------------------------------------------------------ launched app


@pytest.fixture(scope="module")
def url(tiny_rotator_dir, tiny_model):
    return app_url(tiny_rotator_dir, steps=3, examples=examples_dir(tiny_model))


@pytest.fixture(scope="module")
def client(url):
    from gradio_client import Client

    return Client(url, verbose=False)


def _check_rotation(out):
    frames, animation = out
    assert len(frames) == 13
    assert [f["caption"] for f in frames][::6] == ["-30°", "+0°", "+30°"]
    assert all(Image.open(f["image"]).size == (app.STRIP_PX, app.STRIP_PX) for f in frames)
    with Image.open(animation) as gif:
        assert gif.format == "GIF"
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    # the ping-pong's 24 steps at 8 fps; a face at the limit of its turn repeats a frame, which GIF merges
    assert 24 * 120 <= sum(durations) <= 24 * 130 and 2 <= len(durations) <= 24


def test_api_lists_rotate_with_one_image(client):
    api = client.view_api(return_format="dict", print_info=False)
    rotate = api["named_endpoints"]["/rotate"]
    assert [p["component"] for p in rotate["parameters"]] == ["Image"]
    assert [r["component"] for r in rotate["returns"]] == ["Gallery", "Image"]
    photo_api = api["named_endpoints"]["/rotate_photo"]
    assert [p["component"] for p in photo_api["parameters"]] == ["Image"]
    assert [r["component"] for r in photo_api["returns"]] == ["Gallery", "Video"]
    assert sorted(api["named_endpoints"]) == ["/rotate", "/rotate_photo"]


def test_api_rotate_photo_pastes_the_frames_back_and_makes_an_mp4(client, examples):
    """A photo in: 13 frames of the photo's own size (PNG) and an MP4; an example (an aligned crop): the crop's."""
    from gradio_client import handle_file

    frames, video = client.predict(handle_file(str(photo())), api_name="/rotate_photo")
    assert [f["caption"] for f in frames][::6] == ["-30°", "+0°", "+30°"]
    assert all(Image.open(f["image"]).size == (178, 218) for f in frames)
    assert check_video(video["video"] if isinstance(video, dict) else video) == (512, 626)
    frames, _ = client.predict(handle_file(str(examples[0])), api_name="/rotate_photo")
    assert len(frames) == 13 and Image.open(frames[0]["image"]).size == (app.PREVIEW_PX, app.PREVIEW_PX)


def test_api_example_in_13_frames_and_animation_out(client, examples):
    from gradio_client import handle_file

    _check_rotation(client.predict(handle_file(str(examples[0])), api_name="/rotate"))


def test_api_non_image_is_an_error_and_the_app_keeps_answering(client, examples, tmp_path):
    from gradio_client import handle_file

    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(Exception, match="not a readable image"):
        client.predict(handle_file(str(tmp_path / "notes.txt")), api_name="/rotate")
    _check_rotation(client.predict(handle_file(str(examples[1])), api_name="/rotate"))


def test_eight_users_at_once_through_the_queue(url, examples):
    from gradio_client import Client, handle_file

    results, errors = [None] * 8, []

    def user(i):
        try:
            c = Client(url, verbose=False)
            results[i] = c.predict(handle_file(str(examples[i % 2])), api_name="/rotate")
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    for r in results:
        _check_rotation(r)


def test_engine_embeds_like_the_trajectories(tiny_rotator_dir, tmp_path):
    """Without HEADROT_STEPS the app inverts with the trajectories' own step count; HEADROT_STEPS wins."""
    import shutil

    folder = shutil.copytree(tiny_rotator_dir, tmp_path / "model")
    doc = json.loads((folder / "trajectories" / "trajectories.json").read_text())
    doc["meta"]["engine"].update(steps=2, fixed_point_iters=0)
    (folder / "trajectories" / "trajectories.json").write_text(json.dumps(doc))
    rot = app.Engine(model=str(folder), device="cpu").get()
    assert (rot.settings.steps, rot.settings.fixed_point_iters) == (2, 0)
    assert app.Engine(model=str(folder), steps=5, device="cpu").get().settings.steps == 5


def test_model_calls_run_on_one_thread_in_the_callers_context(engine):
    """Every model call from any Gradio worker lands on the engine's one thread (one OpenMP team: see Engine.run),
    and sees the caller's context variables (Gradio's progress tracking lives in them)."""
    import contextvars

    var = contextvars.ContextVar("request", default=None)

    def call(tag: str, out: list) -> None:
        var.set(tag)
        out.append(engine.run(lambda rot: (threading.current_thread().name, var.get(), rot is engine.get())))

    out: list = []
    workers = [threading.Thread(target=call, args=(f"user{i}", out)) for i in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len({name for name, _, _ in out}) == 1 and out[0][0].startswith("headrot-model")
    assert sorted(tag for _, tag, _ in out) == ["user0", "user1", "user2"] and all(same for _, _, same in out)


def test_reconstruction_lets_other_model_work_in_between_its_steps(engine, examples):
    """The panel's reconstruction runs one DDIM step per model-thread job: a slider's decode submitted while it
    runs is served after one step, not after all of them; the result is still exactly G(z)."""
    session = run(str(examples[0]))[-1][6]
    rot, order = engine.get(), []

    def on_step(*_):
        order.append("step")
        if len(order) == 1:  # on the model thread, during the first step: a slider's decode arrives
            engine._thread.submit(lambda: order.append("slider"))

    handle = rot.model.unet.register_forward_hook(on_step)
    try:
        recon = app._reconstruct(session.result)
    finally:
        handle.remove()
    assert order[:3] == ["step", "slider", "step"] and order.count("step") == rot.settings.steps
    assert np.array_equal(np.asarray(recon), np.asarray(rot.reconstruct(session.result.latent)))


def test_warm_up_loads_the_face_models_and_rotates_an_example(engine):
    """``python app.py`` warms up before serving, so the first visitor is not the slow one."""
    from headrot_core import face

    face._predictor.cache_clear()
    calls = []
    handle = engine.get().model.unet.register_forward_hook(lambda *_: calls.append(1))
    try:
        app.warm_up(engine.get())
    finally:
        handle.remove()
    assert face._predictor.cache_info().currsize == 1 and face._detector.cache_info().currsize == 1
    assert len(calls) > 0 if app.example_paths() else len(calls) == 0


def test_feedback_follows_headrot_feedback(tiny_rotator_dir, monkeypatch):
    monkeypatch.setenv("HEADROT_FEEDBACK", "0")
    assert app.Engine(model=str(tiny_rotator_dir), steps=3, device="cpu").get().feedback is False
    monkeypatch.delenv("HEADROT_FEEDBACK")
    eng = app.Engine(model=str(tiny_rotator_dir), steps=3, device="cpu")
    assert eng.feedback is None and eng.get().feedback is True  # the core's default: the yaw network is installed


ZERO_GPU_SCRIPT = r"""
import functools, json, sys, threading, types

inside, calls = threading.local(), []


def GPU(duration=None):  # the stand-in for spaces.GPU: records the call and marks the thread as on the GPU
    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            calls.append(fn.__name__)
            inside.on = True
            try:
                return fn(*args, **kwargs)
            finally:
                inside.on = False
        return run
    return wrap


spaces = types.ModuleType("spaces")
spaces.GPU = GPU
sys.modules["spaces"] = spaces
import app
from app_server import uploaded

engine = app.Engine(model=sys.argv[1], steps=3, device="cpu")
app.build_demo(engine)
unet = []
engine.get().model.unet.register_forward_hook(lambda *_: unet.append(getattr(inside, "on", False)))
session = list(app.run_ui(uploaded(sys.argv[2]), False, "auto", 12))[-1][6]
app.refine_for(session, 12)
app.release(12, session)
app.relight("left" if session.result.light != "left" else "right", session, 12)
app.reconstruction_for(session)
app.rotate_photo_api(uploaded(sys.argv[2]))
print(json.dumps({"zero_gpu": app.ZERO_GPU, "model_thread": engine._thread is not None, "calls": calls,
                  "unet_calls": len(unet), "outside_gpu": unet.count(False)}))
"""


def test_zero_gpu_model_calls_go_through_spaces_gpu(tiny_rotator_dir, examples):
    """On a ZeroGPU Space (a stand-in ``spaces`` module, imported before app): every UNet call of the page's events
    and of the API runs inside a ``spaces.GPU`` function, in place (no model thread: the GPU worker is another
    process)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
           "HEADROT_EXAMPLES": str(examples[0].parent)}
    out = subprocess.run([sys.executable, "-c", ZERO_GPU_SCRIPT, str(tiny_rotator_dir), str(examples[0])],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["zero_gpu"] and not seen["model_thread"]
    assert {"_rotate_prepared", "_refine_at_once", "_frames_at", "_reconstruct_at_once"} <= set(seen["calls"])
    assert seen["unet_calls"] > 0 and seen["outside_gpu"] == 0
