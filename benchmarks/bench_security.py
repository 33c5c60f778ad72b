"""Issue 25's numbers (docs/SECURITY.md): launches ``python app.py``, attacks it over raw HTTP, prints a table.

- refusals: payloads naming server files (with and without Gradio's ``meta``), seconds each, one message, no path;
- memory: the app's resident memory idle, its peak (VmHWM, reset before each request) and after the
  7999x7999-header JPEG (a 631-byte file);
- users at once through the queue (default 8): served, errors;
- disk: the instance folder (uploads, display files, Gradio's cache) after every 50 of N /rotate requests, each a
  new upload as from a browser;
- after SIGTERM: is the instance folder gone?

    python benchmarks/bench_security.py [--model DIR] [--steps N] [--requests 200] [--users 8] [--image PHOTO]
"""
from __future__ import annotations

import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from app_server import bomb_jpeg, call_rotate, launch, stop, upload  # noqa: E402
from bench_app import app_parser, default_image  # noqa: E402

META = {"_type": "gradio.FileData"}


def proc_status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak(pid: int) -> None:
    """VmHWM back to the current RSS (Linux >= 4.0), so the next peak is the next request's."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def folder_mb(folder: Path) -> tuple[float, int]:
    total, count = 0, 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
                count += 1
            except OSError:
                pass
    return total / 2**20, count


def refusals(url: str, cache: Path, tmp: Path, image: Path) -> list[tuple[str, str, float]]:
    """(payload kind, answer, seconds) for each server file a client may name."""
    outside = tmp / "server-image.jpg"
    outside.write_bytes(image.read_bytes())
    link = cache / "link.jpg"
    link.symlink_to(outside)
    pipe = tmp / "pipe"
    os.mkfifo(pipe)
    held = os.open(pipe, os.O_RDWR | os.O_NONBLOCK)
    paths = {"server image": outside, "symlink out of the cache": link, "/etc/passwd": "/etc/passwd",
             "/proc/self/environ": "/proc/self/environ", "pipe (held open)": pipe, "/dev/zero": "/dev/zero"}
    out = []
    try:
        for kind, path in paths.items():
            for meta in (False, True):
                payload = {"path": str(path), **({"meta": META} if meta else {})}
                event, data, text, seconds = call_rotate(url, payload)
                leaked = any(s in text for s in (str(tmp), str(cache), "/etc/", "/proc/", "/dev/"))
                out.append((f"{kind}{' + meta' if meta else ''}", f"{event}: {data}" + (" LEAKS A PATH" if leaked
                                                                                      else ""), seconds))
    finally:
        os.close(held)
    return out


def main() -> None:
    ap = app_parser(__doc__, requests=200)
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--bombs", type=int, default=3)
    a = ap.parse_args()
    image = a.image or default_image()
    tmp = Path(tempfile.mkdtemp(prefix="headrot-bench-"))
    rows: list[tuple[str, str]] = []

    proc, url, _ = launch(a.model, a.steps, timeout=600)
    try:
        pid = proc.pid
        (folder,) = Path(tempfile.gettempdir()).glob(f"headrot-app-{pid}-*")
        first = upload(url, image)
        assert call_rotate(url, {"path": first, "meta": META})[0] == "complete"  # warm-up

        answers = refusals(url, Path(first).parent, tmp, image)
        messages = {answer for _, answer, _ in answers}
        seconds = [s for _, _, s in answers]
        rows.append((f"{len(answers)} payloads naming server files", f"{len(messages)} distinct answer(s): "
                     f"{' / '.join(sorted(messages))}; {statistics.median(seconds) * 1000:.0f} ms median, "
                     f"{max(seconds) * 1000:.0f} ms max"))
        event, _, _, s = call_rotate(url, {"path": upload(url, image), "meta": META})
        rows.append(("the next good request", f"{event} in {s:.2f} s"))

        time.sleep(2)
        idle = proc_status_mb(pid, "VmRSS")
        (tmp / "bomb.jpg").write_bytes(bomb_jpeg(7999))
        for i in range(a.bombs):
            reset_peak(pid)
            event, data, _, s = call_rotate(url, {"path": upload(url, tmp / "bomb.jpg"), "meta": META})
            peak = proc_status_mb(pid, "VmHWM")
            time.sleep(2)
            after = proc_status_mb(pid, "VmRSS")
            rows.append((f"7999x7999-header JPEG ({(tmp / 'bomb.jpg').stat().st_size} B), request {i + 1}",
                         f"idle {idle:.0f} MB, peak {peak:.0f} MB ({peak - idle:+.0f}), after {after:.0f} MB "
                         f"({after - idle:+.0f}); {s:.2f} s; {event}: {str(data)[:60]}…"))

        results: list[str | None] = [None] * a.users
        lat = [0.0] * a.users

        def user(i: int) -> None:
            t = time.perf_counter()
            try:
                event, data, _, _ = call_rotate(url, {"path": upload(url, image), "meta": META})
                results[i] = event if event == "error" else f"{event} {len(data[0])} frames"
            except Exception as e:  # noqa: BLE001
                results[i] = repr(e)
            lat[i] = time.perf_counter() - t

        t = time.perf_counter()
        threads = [threading.Thread(target=user, args=(i,)) for i in range(a.users)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        served = sum(r == "complete 13 frames" for r in results)
        rows.append((f"{a.users} users at once (queue)", f"{served}/{a.users} served, {a.users - served} errors; "
                     f"wall {time.perf_counter() - t:.1f} s, slowest {max(lat):.1f} s"))

        sizes = [f"0: {folder_mb(folder)[0]:.0f} MB"]
        t = time.perf_counter()
        for i in range(1, a.requests + 1):
            event, _, _, _ = call_rotate(url, {"path": upload(url, image), "meta": META})
            assert event == "complete", event
            if i % 50 == 0 or i == a.requests:
                mb, files = folder_mb(folder)
                sizes.append(f"{i}: {mb:.0f} MB ({files} files, {time.perf_counter() - t:.0f} s)")
        rows.append((f"instance folder over {a.requests} /rotate requests", " → ".join(sizes)))

        proc.send_signal(signal.SIGTERM)
        t = time.perf_counter()
        proc.wait(60)
        rows.append(("SIGTERM", f"exited in {time.perf_counter() - t:.1f} s (code {proc.returncode}); instance "
                     f"folder {'LEFT BEHIND' if folder.exists() else 'removed'}"))
    finally:
        stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)

    load = os.getloadavg()
    print(f"\nHeadRot security benchmark · model {a.model or 'embedded default'} · input {image.name} · "
          f"{os.cpu_count()} CPUs · load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}\n")
    print("| measurement | result |\n| --- | --- |")
    for k, v in rows:
        print(f"| {k} | {v} |")
    for kind, answer, s in answers:
        print(f"|   {kind} | {answer} ({s * 1000:.0f} ms) |")


if __name__ == "__main__":
    main()
