"""End to end in headless Chromium (Debian's /usr/bin/chromium driven by Playwright): upload a photo, wait for the
strip, drag the yaw slider, screenshot; a non-image upload shows an error and the app keeps answering.

Skips when Chromium or Playwright is missing; .ci/run installs both. By default the app runs on the tiny test model.
``HEADROT_SCREENSHOTS=docs`` writes the screenshots to docs/app_*.png (for the documentation, run it with
``HEADROT_TEST_MODEL=default`` so the app uses the shipped model: see docs/APP.md).
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from conftest import DATA
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


def _shot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"app_{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("HEADROT_SCREENSHOTS") == "docs":
        shutil.copy(path, ROOT / "docs" / path.name)
    return path


def _wait_strip(page, timeout_ms: int = 120_000) -> float:
    t0 = time.perf_counter()
    page.wait_for_function(STRIP_LOADED, timeout=timeout_ms)
    return time.perf_counter() - t0


def _drag_slider(page, fraction: float) -> None:
    box, y = press_slider(page)
    page.mouse.move(box["x"] + box["width"] * fraction, y, steps=6)


def test_upload_strip_slider_screenshot(browser, url, tmp_path):
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("#photo input[type=file]", state="attached", timeout=60_000)
        t0 = time.perf_counter()
        page.set_input_files("#photo input[type=file]", str(_upload_image(tmp_path)))
        _wait_strip(page)
        strip_s = time.perf_counter() - t0
        page.wait_for_function(DONE, timeout=30_000)
        captions = page.locator("#strip .caption-label").all_inner_texts()
        assert captions[0] == "-30°" and captions[-1] == "+30°" and len(captions) == 13
        page.wait_for_function(IMG_LOADED, arg="#crop", timeout=30_000)
        page.wait_for_function(IMG_LOADED, arg="#preview", timeout=30_000)

        _drag_slider(page, 0.8)  # about +18 degrees
        t1 = time.perf_counter()
        page.wait_for_function("document.querySelector('#preview').innerText.includes('nearest strip frame')",
                               timeout=60_000)
        nearest_s = time.perf_counter() - t1
        page.mouse.up()
        t2 = time.perf_counter()
        yaw = int(float(page.input_value("#yaw input[type=number]")))
        assert 10 < yaw < 30
        page.wait_for_function("(y) => document.querySelector('#preview').innerText.includes("
                               "'Yaw +' + y + '° (exact)')", arg=yaw, timeout=120_000)
        exact_s = time.perf_counter() - t2
        page.wait_for_function(IMG_LOADED, arg="#preview", timeout=30_000)
        page.wait_for_function(IMG_LOADED, arg="#animation", timeout=120_000)
        page.wait_for_function(IMG_LOADED, arg="#reconstruction", timeout=60_000)  # chained after the animation
        page.wait_for_timeout(300)
        shot = _shot(page, tmp_path, "strip")
        assert shot.stat().st_size > 50_000
        print(f"\nbrowser: upload -> strip {strip_s:.2f} s, slider -> nearest frame {nearest_s:.2f} s, "
              f"release -> exact frame {exact_s:.2f} s (yaw {yaw:+d})")
    except Exception:
        print("failure screenshot:", _shot(page, tmp_path, "failure"), "\nstatus:", page.inner_text("#status"),
              "\npreview:", page.inner_text("#preview")[:200], "\napp log:\n", log_of(url))
        raise
    finally:
        page.close()


def test_non_image_upload_shows_an_error_and_the_app_keeps_answering(browser, url, tmp_path):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    try:
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("#photo input[type=file]", state="attached", timeout=60_000)
        fake = tmp_path / "holiday.png"
        fake.write_text("this is a text file with an image's name")
        page.set_input_files("#photo input[type=file]", str(fake))
        page.wait_for_function("document.querySelector('#status').innerText.includes('not a readable image')",
                               timeout=60_000)
        assert page.locator("#status .hr-error").count() == 1
        _shot(page, tmp_path, "error")
        # the same page still works: a real photo now gives the strip
        page.set_input_files("#photo input[type=file]", str(_upload_image(tmp_path)))
        _wait_strip(page)
        page.wait_for_function(DONE, timeout=30_000)
    except Exception:
        print(log_of(url))
        raise
    finally:
        page.close()


def test_example_click_rotates_a_sampled_face(browser, url, tmp_path):
    """An example (a face sampled from the model, marked as an aligned crop) goes through without detection."""
    if os.environ.get("HEADROT_TEST_MODEL") == "default" and not list((ROOT / "assets" / "examples").glob("*.png")):
        pytest.skip("no assets/examples/ yet")
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("#examples img", timeout=60_000)
        page.locator("#examples img").first.click()
        _wait_strip(page)
        page.wait_for_function(DONE, timeout=30_000)
        assert "aligned crop (no detection)" in page.inner_text("#info")
        for after_the_strip in ("#animation", "#reconstruction"):
            page.wait_for_function(IMG_LOADED, arg=after_the_strip, timeout=60_000)
        page.wait_for_timeout(300)
        _shot(page, tmp_path, "example")
    except Exception:
        print(log_of(url))
        raise
    finally:
        page.close()
