"""The app as users meet it: launches ``python app.py`` and measures, printing a markdown table:

- upload -> strip shown, in headless Chromium (13 strip images of the whole photo loaded), and -> MP4 playable;
- slider move -> frame shown (nearest strip frame while dragging) and release -> exact frame shown, with the
  page's looping MP4 playing and paused (the browser shares the app's CPU here, a visitor's does not);
- arrow key -> the next 5-degree frame shown;
- the /rotate_photo API round trip (13 frames pasted back + MP4) and the app's resident memory over 50 of them;
- 4 users at once through Gradio's queue (all served? wall time, slowest user).

    python benchmarks/bench_app.py [--model DIR] [--steps N] [--requests 50] [--image PHOTO] [--api rotate]

Default: the embedded model at the core's step count, and the first 1024 px portrait of ../shared/data/hq1024/
(else ../shared/data/photos/000004.jpg, else an example).
The browser rows need Debian's /usr/bin/chromium and playwright; they are skipped without them.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the tests' helpers import headrot_core; run from anywhere

from app_server import app_url, log_of, pid_of, press_slider  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def default_image() -> Path:
    large = sorted((ROOT.parent / "shared" / "data" / "hq1024").glob("*.jpg"))
    if large:
        return large[0]
    photo = ROOT.parent / "shared" / "data" / "photos" / "000004.jpg"
    if photo.is_file():
        return photo
    examples = sorted((ROOT / "assets" / "examples").glob("*.png"))
    if examples:
        return examples[0]
    raise SystemExit("no input image: pass --image")


def drag_and_release(page, frac: float) -> tuple[int, float, float]:
    """Drags the yaw slider from its middle to ``frac`` of its width (off the strip's 5-degree grid) and releases:
    (yaw, seconds to the nearest strip frame shown, seconds from the release to the exact frame shown)."""
    from test_browser import IMG_LOADED

    box, y = press_slider(page)
    t1 = time.perf_counter()
    page.mouse.move(box["x"] + box["width"] * frac, y, steps=3)
    yaw = int(float(page.input_value("#yaw input[type=number]")))
    if yaw % 5 == 0:  # a strip yaw needs no decode: nudge it off the strip to time a real one
        page.mouse.move(box["x"] + box["width"] * frac + box["width"] / 60, y)
        yaw = int(float(page.input_value("#yaw input[type=number]")))
    page.wait_for_function("document.querySelector('#preview').innerText.includes('nearest strip frame')",
                           timeout=60_000)
    page.wait_for_function(IMG_LOADED, arg="#preview", timeout=60_000)
    nearest = time.perf_counter() - t1
    t2 = time.perf_counter()
    page.mouse.up()
    page.wait_for_function("(y) => document.querySelector('#preview').innerText.includes("
                           "'Yaw ' + (y >= 0 ? '+' : '') + y + '° (exact)')", arg=yaw, timeout=120_000)
    page.wait_for_function(IMG_LOADED, arg="#preview", timeout=60_000)
    return yaw, nearest, time.perf_counter() - t2


def browser_times(url: str, image: Path, repeats: int) -> dict[str, list[float]] | None:
    chromium = "/usr/bin/chromium"
    if repeats < 1:  # --browser-repeats 0: the API rows only
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not Path(chromium).is_file():
        return None
    sys.path.insert(0, str(ROOT / "tests"))
    from test_browser import CHROMIUM_ARGS, EXACT_AT, IMG_LOADED, PREVIEW_SRC, VIDEO_READY, WHOLE_PHOTO_STRIP

    out: dict[str, list[float]] = {"strip": [], "video": [], "nearest": [], "exact": [], "key": [], "paused": []}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for i in range(repeats + 1):  # the first round warms the app and the browser up
            page = b.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector("#photo input[type=file]", state="attached", timeout=60_000)
            t0 = time.perf_counter()
            page.set_input_files("#photo input[type=file]", str(image))
            page.wait_for_function(WHOLE_PHOTO_STRIP, timeout=300_000)
            strip = time.perf_counter() - t0
            page.wait_for_function(VIDEO_READY, timeout=300_000)
            video = time.perf_counter() - t0
            page.wait_for_function(IMG_LOADED, arg="#preview", timeout=60_000)
            frac = (0.62, 0.70, 0.78, 0.87, 0.40, 0.30)[i % 6]  # ~+7, +12, +17, +22, -6, -12 degrees
            yaw, nearest, exact = drag_and_release(page, frac)
            page.locator("h1").first.click()
            before = page.evaluate(PREVIEW_SRC)
            t3 = time.perf_counter()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(EXACT_AT, arg=yaw // 5 * 5 + 5, timeout=60_000)
            page.wait_for_function(f"() => ({PREVIEW_SRC})() !== {before!r}", timeout=60_000)
            page.wait_for_function(IMG_LOADED, arg="#preview", timeout=60_000)
            key = time.perf_counter() - t3
            # the page's MP4 loops in this same 2-core machine's browser; a visitor's browser runs elsewhere
            page.evaluate("document.querySelectorAll('video').forEach(v => v.pause())")
            _, _, paused = drag_and_release(page, (0.35, 0.45, 0.55, 0.66, 0.74, 0.82)[i % 6])
            if i:
                for name, value in zip(out, (strip, video, nearest, exact, key, paused)):
                    out[name].append(value)
            page.close()
        b.close()
    return out


def app_parser(doc: str, requests: int) -> argparse.ArgumentParser:
    """The options of a benchmark of the running app: its model and step count, the photo, how many requests."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--model", default=None, help="model folder (default: the embedded assets/model)")
    ap.add_argument("--steps", type=int, default=None, help="DDIM steps (default: the trajectories' setting)")
    ap.add_argument("--image", type=Path, default=None, help="the photo (default: the first shared hq1024 photo)")
    ap.add_argument("--requests", type=int, default=requests)
    return ap


def main() -> None:
    ap = app_parser(__doc__, requests=50)
    ap.add_argument("--browser-repeats", type=int, default=3)
    ap.add_argument("--api", default="rotate_photo", choices=["rotate_photo", "rotate"],
                    help="the endpoint of the memory and users-at-once rows")
    a = ap.parse_args()
    api = f"/{a.api}"
    image = a.image or default_image()

    from gradio_client import Client, handle_file

    t0 = time.perf_counter()
    url = app_url(a.model, steps=a.steps, timeout=600)
    start_s = time.perf_counter() - t0
    pid = pid_of(url)
    rows: list[tuple[str, str]] = [("app start (model loaded, serving)", f"{start_s:.1f} s")]

    br = browser_times(url, image, a.browser_repeats)
    if br:
        med = {k: statistics.median(v) for k, v in br.items()}
        def all_of(k: str) -> str:
            return f"{med[k]:.2f} s (all: {', '.join(f'{x:.2f}' for x in br[k])})"

        rows += [(f"upload → strip of the whole photo shown (Chromium, median of {len(br['strip'])})", all_of("strip")),
                 ("upload → MP4 playable (readyState ≥ 2)", all_of("video")),
                 ("slider move → nearest strip frame shown", f"{med['nearest']:.2f} s"),
                 ("slider release → exact frame shown", all_of("exact")),
                 ("the same, the page's MP4 paused (it plays in a browser on this machine)", all_of("paused")),
                 ("arrow key → next 5° frame shown", all_of("key"))]
    else:
        rows.append(("browser rows", "skipped (no /usr/bin/chromium or playwright)"))

    client = Client(url, verbose=False)
    client.predict(handle_file(str(image)), api_name=api)  # warm-up
    rss = [rss_mb(pid)]
    times = []
    for i in range(1, a.requests + 1):
        t = time.perf_counter()
        frames, _ = client.predict(handle_file(str(image)), api_name=api)
        times.append(time.perf_counter() - t)
        assert len(frames) == 13
        if i % 10 == 0 or i == a.requests:
            rss.append(rss_mb(pid))
    rows.append((f"{api} API round trip (gradio_client, 13 frames + {'MP4' if a.api == 'rotate_photo' else 'GIF'}, "
                 f"median of {a.requests})",
                 f"{statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f})"))
    rows.append((f"app RSS after warm-up, then every 10 of {a.requests} requests",
                 " → ".join(f"{m:.0f}" for m in rss) + f" MB (request 10 → {a.requests}: {rss[-1] - rss[1]:+.0f} MB)"))

    results, errors, lat = [None] * 4, [], [0.0] * 4

    def user(i):
        try:
            c = Client(url, verbose=False)
            t = time.perf_counter()
            results[i] = c.predict(handle_file(str(image)), api_name=api)
            lat[i] = time.perf_counter() - t
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    t = time.perf_counter()
    threads = [threading.Thread(target=user, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    ok = sum(r is not None and len(r[0]) == 13 for r in results)
    rows.append((f"4 users at once (queue, {api})", f"{ok}/4 served, {len(errors)} errors; wall {wall:.1f} s, "
                 f"per user {', '.join(f'{x:.1f}' for x in sorted(lat))} s"))

    load = os.getloadavg()
    described = [ln.split("model: ", 1)[1] for ln in log_of(url).splitlines() if "headrot.app INFO model: " in ln]
    print(f"\nHeadRot app benchmark · model {described[0] if described else a.model or 'embedded default'} · "
          f"input {image.name} · {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs · "
          f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}\n")
    print("| measurement | result |\n| --- | --- |")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
