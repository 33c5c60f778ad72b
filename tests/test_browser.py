"""End to end in headless Chromium (Debian's /usr/bin/chromium driven by Playwright): upload a large photo, wait for
the strip pasted back into it, drag the yaw slider, turn it with the arrow keys, play the MP4; a non-image upload
shows an error and the app keeps answering; an example goes through without detection.

Skips when Chromium or Playwright is missing; .ci/run installs both. By default the app runs on the tiny test model.
``HEADROT_SCREENSHOTS=docs`` writes the screenshots of model-sampled faces to docs/app_*.jpg (for the documentation,
run it with ``HEADROT_TEST_MODEL=default`` so the app uses the shipped model and its examples: see docs/APP.md).
Screenshots of an uploaded dataset photo stay in the test's temp folder: no dataset image goes into the repository.
"""
from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from conftest import DATA
from headrot_core.imaging import save_figure
from app_server import app_url, examples_dir, log_of, press_slider

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("HEADROT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
STRIP_LOADED = """() => { const im = [...document.querySelectorAll('#strip img')];
  return im.length === 13 && im.every(i => i.complete && i.naturalWidth > 0); }"""
DONE = "document.querySelector('#status .hr-ok') && document.querySelector('#status').innerText.includes('Done')"
IMG_LOADED = """(sel) => { const i = document.querySelector(sel + ' img');
  return !!i && i.complete && i.naturalWidth > 0; }"""
WHOLE_PHOTO_STRIP = f"() => ({STRIP_LOADED})() && document.querySelector('#strip').innerText.includes('whole photo')"
VIDEO_READY = "() => { const v = document.querySelector('#video video'); return !!v && v.readyState >= 2; }"
PREVIEW_SRC = "() => document.querySelector('#preview img')?.src || ''"
EXACT_AT = """(y) => document.querySelector('#preview').innerText.includes(
  'Yaw ' + (y > 0 ? '+' : y < 0 ? '-' : '+') + Math.abs(y) + '° (exact)')"""


def _large_photo() -> Path:
    """A 1024 px portrait (CelebA-HQ) from the shared data, or a clean skip."""
    photos = sorted((DATA / "hq1024").glob("*.jpg"))
    if not photos:
        pytest.skip("no large photo: ../shared/data/hq1024/ is absent")
    return photos[0]


def _upload_image(tmp_path: Path) -> Path:
    """A real photo (detection path) when the shared data is there, else a face sampled from the model."""
    if (DATA / "photos" / "000004.jpg").is_file():
        return DATA / "photos" / "000004.jpg"
    examples = sorted((ROOT / "assets" / "examples").glob("*.png"))
    if examples:
        return examples[0]
    pytest.skip("no photo to upload: neither ../shared/data/photos nor assets/examples/")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"Chromium not installed ({CHROMIUM}); .ci/run installs Debian's chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (requirements-test.txt)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def url(request):
    choice = os.environ.get("HEADROT_TEST_MODEL", "tiny")
    if choice == "default":  # the embedded model, at its own step count: for the docs' screenshots
        return app_url(None, steps=None, timeout=300)
    return app_url(request.getfixturevalue("tiny_rotator_dir"), steps=3,
                   examples=examples_dir(request.getfixturevalue("tiny_model")))


@contextmanager
def _page(browser, url: str, tmp_path: Path, height: int = 1000):
    """A new page, closed after the block; when the block fails: its screenshot, status, preview and the app's log."""
    page = browser.new_page(viewport={"width": 1440, "height": height})
    try:
        yield page
    except Exception:
        print("failure screenshot:", _shot(page, tmp_path, "failure"), "\nstatus:", page.inner_text("#status"),
              "\npreview:", page.inner_text("#preview")[:200], "\napp log:\n", log_of(url))
        raise
    finally:
        page.close()


def _shot(page, tmp_path: Path, name: str, docs: bool = False, full_page: bool = True) -> Path:
    """A screenshot in ``tmp_path``; saved to docs/ as a JPEG under HEADROT_SCREENSHOTS=docs when ``docs`` (only
    pages that show no dataset image)."""
    path = tmp_path / f"app_{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    if docs and os.environ.get("HEADROT_SCREENSHOTS") == "docs":
        save_figure(Image.open(path).convert("RGB"), (ROOT / "docs" / path.name).with_suffix(".jpg"))
    return path


def _press_until(page, key: str, yaw: int) -> None:
    """Arrow ``key`` until the slider reads ``yaw`` (5 degrees a press), each press waiting for its exact frame."""
    for _ in range(13):
        now = int(float(page.input_value("#yaw input[type=number]")))
        if now == yaw:
            return
        before = page.evaluate(PREVIEW_SRC)
        page.keyboard.press(key)
        target = (now // 5) * 5 + 5 if key == "ArrowRight" else -((-now) // 5) * 5 - 5  # as ARROW_KEYS_JS
        page.wait_for_function(EXACT_AT, arg=target, timeout=60_000)
        page.wait_for_function(f"() => ({PREVIEW_SRC})() !== {before!r}", timeout=60_000)
        page.wait_for_function(IMG_LOADED, arg="#preview", timeout=30_000)
        assert int(float(page.input_value("#yaw input[type=number]"))) == target
    raise AssertionError(f"the slider never reached {yaw}")


def _wait_strip(page, timeout_ms: int = 120_000) -> float:
    t0 = time.perf_counter()
    page.wait_for_function(STRIP_LOADED, timeout=timeout_ms)
    return time.perf_counter() - t0


def _drag_slider(page, fraction: float) -> None:
    box, y = press_slider(page)
    page.mouse.move(box["x"] + box["width"] * fraction, y, steps=6)


def test_large_photo_turns_whole_with_the_slider_the_arrow_keys_and_an_mp4(browser, url, tmp_path):
    """Issue 24's acceptance: a 1024 px photo uploaded; the strip pasted back into it; the slider (nearest frame
    while dragging, exact on release); the arrow keys change the big view; the MP4 loads in the video element."""
    with _page(browser, url, tmp_path) as page:
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("#photo input[type=file]", state="attached", timeout=60_000)
        t0 = time.perf_counter()
        page.set_input_files("#photo input[type=file]", str(_large_photo()))
        page.wait_for_function(WHOLE_PHOTO_STRIP, timeout=120_000)
        strip_s = time.perf_counter() - t0
        page.wait_for_function(DONE, timeout=30_000)
        captions = page.locator("#strip .caption-label").all_inner_texts()
        assert captions[0] == "-30°" and captions[-1] == "+30°" and len(captions) == 13
        assert page.evaluate("document.querySelector('#strip img').naturalWidth") == 256  # 1024 px photo, 256 px
        page.wait_for_function(IMG_LOADED, arg="#preview", timeout=30_000)
        assert "whole photo" in page.inner_text("#preview")
        page.wait_for_function(IMG_LOADED, arg="#method", timeout=30_000)

        _drag_slider(page, 0.8)  # about +18 degrees
        t1 = time.perf_counter()
        page.wait_for_function("document.querySelector('#preview').innerText.includes('nearest strip frame')",
                               timeout=60_000)
        nearest_s = time.perf_counter() - t1
        page.mouse.up()
        t2 = time.perf_counter()
        yaw = int(float(page.input_value("#yaw input[type=number]")))
        assert 10 < yaw < 30
        page.wait_for_function(EXACT_AT, arg=yaw, timeout=120_000)
        exact_s = time.perf_counter() - t2

        page.locator("h1").first.click()  # focus off the slider: the keys work anywhere but in a text field
        method = page.evaluate("document.querySelector('#method img').src")
        _press_until(page, "ArrowRight", 30)
        _press_until(page, "ArrowLeft", yaw // 5 * 5)
        assert page.evaluate("document.querySelector('#method img').src") != method  # the plot follows

        page.wait_for_function(VIDEO_READY, timeout=120_000)
        width = page.evaluate("document.querySelector('#video video').videoWidth")
        assert width >= 512
        page.wait_for_function(IMG_LOADED, arg="#animation", timeout=60_000)
        page.wait_for_timeout(300)
        assert _shot(page, tmp_path, "large_photo").stat().st_size > 50_000  # a dataset photo: never to docs
        print(f"\nbrowser: upload -> pasted-back strip {strip_s:.2f} s, slider -> nearest frame {nearest_s:.2f} s, "
              f"release -> exact frame {exact_s:.2f} s (yaw {yaw:+d}), MP4 {width} px wide")


def test_non_image_upload_shows_an_error_and_the_app_keeps_answering(browser, url, tmp_path):
    with _page(browser, url, tmp_path, height=900) as page:
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("#photo input[type=file]", state="attached", timeout=60_000)
        fake = tmp_path / "holiday.png"
        fake.write_text("this is a text file with an image's name")
        page.set_input_files("#photo input[type=file]", str(fake))
        page.wait_for_function("document.querySelector('#status').innerText.includes('not a readable image')",
                               timeout=60_000)
        assert page.locator("#status .hr-error").count() == 1
        _shot(page, tmp_path, "error", docs=True)
        # the same page still works: a real photo now gives the strip
        page.set_input_files("#photo input[type=file]", str(_upload_image(tmp_path)))
        _wait_strip(page)
        page.wait_for_function(DONE, timeout=30_000)


def test_example_click_rotates_a_sampled_face(browser, url, tmp_path):
    """An example (a face sampled from the model, marked as an aligned crop) goes through without detection."""
    if os.environ.get("HEADROT_TEST_MODEL") == "default" and not list((ROOT / "assets" / "examples").glob("*.png")):
        pytest.skip("no assets/examples/ yet")
    with _page(browser, url, tmp_path) as page:
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("#examples img", timeout=60_000)
        page.locator("#examples img[src*='example_']").first.click()  # the photographs come first
        _wait_strip(page)
        page.wait_for_function(DONE, timeout=30_000)
        assert "aligned crop (no detection)" in page.inner_text("#info")
        for after_the_strip in ("#animation", "#reconstruction"):
            page.wait_for_function(IMG_LOADED, arg=after_the_strip, timeout=60_000)
        page.wait_for_timeout(300)
        _shot(page, tmp_path, "example", docs=True)


def test_whole_photo_turned_to_both_ends_for_the_docs(browser, url, tmp_path):
    """A photo example (a public-domain photograph, scripts/public_photos.py, or else a face sampled from the model
    in a soft surround, scripts/make_examples.py) goes through detection and turns as a whole photo; screenshots at
    -30 and +30 degrees (docs/app_photo_*.jpg)."""
    with _page(browser, url, tmp_path) as page:
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("#examples img", timeout=60_000)
        photos = page.locator("#examples img[src*='public_']")
        if photos.count() == 0:
            photos = page.locator("#examples img[src*='photo_']")
        if photos.count() == 0:
            pytest.skip("no photo example in the app's examples (no assets/examples/public_*; "
                        "a tiny model samples no faces)")
        photos.first.click()
        page.wait_for_function(WHOLE_PHOTO_STRIP, timeout=120_000)
        page.wait_for_function(DONE, timeout=30_000)
        page.wait_for_function(VIDEO_READY, timeout=120_000)
        page.locator("h1").first.click()
        for key, yaw, name in (("ArrowLeft", -30, "photo_minus30"), ("ArrowRight", 30, "photo_plus30")):
            _press_until(page, key, yaw)
            page.wait_for_function(IMG_LOADED, arg="#method", timeout=30_000)
            page.evaluate("document.querySelector('#preview').scrollIntoView({block: 'start'})")
            page.wait_for_timeout(400)
            _shot(page, tmp_path, name, docs=True, full_page=False)
