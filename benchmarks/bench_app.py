"""The app as users meet it: launches ``python app.py`` and measures, printing a markdown table:

- upload -> strip shown, in headless Chromium (13 strip images loaded), and the /rotate API round trip;
- slider move -> frame shown (nearest strip frame while dragging) and release -> exact frame shown;
- resident memory of the app process over 50 /rotate requests;
- 4 users at once through Gradio's queue (all served? wall time, slowest user).

    python benchmarks/bench_app.py [--model DIR] [--steps N] [--requests 50] [--image PHOTO]

Default: the embedded model at the core's step count, and ../shared/data/photos/000004.jpg (else an example).
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
sys.path.insert(0, str(ROOT / "tests"))

from app_server import app_url, log_of, pid_of, press_slider  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def default_image() -> Path:
    photo = ROOT.parent / "shared" / "data" / "photos" / "000004.jpg"
    if photo.is_file():
        return photo
    examples = sorted((ROOT / "assets" / "examples").glob("*.png"))
    if examples:
        return examples[0]
    raise SystemExit("no input image: pass --image")


def browser_times(url: str, image: Path, repeats: int) -> dict[str, list[float]] | None:
    chromium = "/usr/bin/chromium"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not Path(chromium).is_file():
        return None
    sys.path.insert(0, str(ROOT / "tests"))
    from test_browser import CHROMIUM_ARGS, IMG_LOADED, STRIP_LOADED

    out: dict[str, list[float]] = {"strip": [], "nearest": [], "exact": []}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for i in range(repeats + 1):  # the first round warms the app and the browser up
            page = b.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector("#photo input[type=file]", state="attached", timeout=60_000)
            t0 = time.perf_counter()
            page.set_input_files("#photo input[type=file]", str(image))
            page.wait_for_function(STRIP_LOADED, timeout=300_000)
            strip = time.perf_counter() - t0
            page.wait_for_function(IMG_LOADED, arg="#preview", timeout=60_000)
            box, y = press_slider(page)
            frac = (0.62, 0.70, 0.78, 0.87, 0.40, 0.30)[i % 6]  # ~+7, +12, +17, +22, -6, -12 degrees
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
                                   "'Yaw ' + (y >= 0 ? '+' : '') + y + '° (exact)')", arg=yaw,
                                   timeout=120_000)
            page.wait_for_function(IMG_LOADED, arg="#preview", timeout=60_000)
            exact = time.perf_counter() - t2
            if i:
                out["strip"].append(strip)
                out["nearest"].append(nearest)
                out["exact"].append(exact)
            page.close()
        b.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="model folder (default: the embedded assets/model)")
    ap.add_argument("--steps", type=int, default=None, help="DDIM steps (default: the core's)")
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--browser-repeats", type=int, default=3)
    ap.add_argument("--image", type=Path, default=None)
    a = ap.parse_args()
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
        rows += [(f"upload → strip shown (Chromium, median of {len(br['strip'])})",
                  f"{med['strip']:.2f} s (all: {', '.join(f'{x:.2f}' for x in br['strip'])})"),
                 ("slider move → nearest strip frame shown", f"{med['nearest']:.2f} s"),
                 ("slider release → exact frame shown", f"{med['exact']:.2f} s (all: "
                  f"{', '.join(f'{x:.2f}' for x in br['exact'])})")]
    else:
        rows.append(("browser rows", "skipped (no /usr/bin/chromium or playwright)"))

    client = Client(url, verbose=False)
    client.predict(handle_file(str(image)), api_name="/rotate")  # warm-up
    rss = [rss_mb(pid)]
    times = []
    for i in range(1, a.requests + 1):
        t = time.perf_counter()
        frames, _ = client.predict(handle_file(str(image)), api_name="/rotate")
        times.append(time.perf_counter() - t)
        assert len(frames) == 13
        if i % 10 == 0 or i == a.requests:
            rss.append(rss_mb(pid))
    rows.append((f"/rotate API round trip (gradio_client, 13 frames + GIF, median of {a.requests})",
                 f"{statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f})"))
    rows.append((f"app RSS after warm-up, then every 10 of {a.requests} requests",
                 " → ".join(f"{m:.0f}" for m in rss) + f" MB (request 10 → {a.requests}: {rss[-1] - rss[1]:+.0f} MB)"))

    results, errors, lat = [None] * 4, [], [0.0] * 4

    def user(i):
        try:
            c = Client(url, verbose=False)
            t = time.perf_counter()
            results[i] = c.predict(handle_file(str(image)), api_name="/rotate")
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
    rows.append(("4 users at once (queue)", f"{ok}/4 served, {len(errors)} errors; wall {wall:.1f} s, "
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
